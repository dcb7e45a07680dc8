"""No round trip the contract does not need: a command on a record that lives in the service the
route calls carries the key's region, and that service refuses a record outside it — one RPC,
and the same 404 (or 422 on a body field) as a record that does not exist."""
import re
import time

import pytest
import requests

from tests.conftest import wait_for
from tests.e2e.world import STREET, XINGHUA, need, ok, seed

pytestmark = pytest.mark.e2e

BEICHEN = "tianjin/beichen/guoyuanxincun"
RPC_COUNT = re.compile(r'^wushe_rpc_seconds_count\{([^}]*)\} ([0-9.e+]+)$', re.M)


def rpcs(platform):
    """RPCs served so far, by service and method (every service's own entrypoint count)."""
    out = {}
    for labels, value in RPC_COUNT.findall(platform.metrics()):
        fields = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        key = (fields["service"], fields["method"])
        out[key] = out.get(key, 0) + float(value)
    return out


def served(platform, send):
    """The answer to `send()` and the RPCs it took (a service counts an RPC just after it
    answers: read until one is counted, then once more a moment later)."""
    before = rpcs(platform)
    while True:  # what came before has been counted
        time.sleep(0.3)
        before, earlier = rpcs(platform), before
        if before == earlier:
            break
    answer = send()

    def took():
        after = rpcs(platform)
        return {key: n - before.get(key, 0) for key, n in after.items() if n != before.get(key, 0)}
    wait_for(took, timeout=5)
    time.sleep(0.3)
    return answer, took()


class Key:
    def __init__(self, platform, role, region):
        secret = ok(platform.post("/keys", {"role": role, "region": region}), 201)["key"]
        self.base, self.session = platform.base, requests.Session()
        self.session.headers["Authorization"] = f"Bearer {secret}"

    def send(self, method, path, body=None):
        return self.session.request(method, f"{self.base}/api/v1{path}", json=body, timeout=20)


@pytest.fixture
def taida(platform):
    """A call in Xinghua (Taida street) with a claim on it, a Taida key and a Beichen key."""
    seed(platform, couriers=3)
    ok(platform.post("/regions", {"path": "tianjin/beichen", "name": "北辰区", "level": "district"}), 201)
    ok(platform.post("/regions", {"path": BEICHEN, "name": "果园新村街道", "level": "street"}), 201)
    ok(platform.post("/teams", {"id": "team-xh", "name": "助困陪诊", "community": XINGHUA}), 201)
    body = need(volunteers=3, rice=0, worker=False, organisation=False)
    body["id"] = "need-own"
    ok(platform.post("/needs", body), 202)
    platform.wait_need("need-own", lambda n: n["linkage"]["volunteers"].get("call_id"))
    ok(platform.post("/calls/call-own/claims", {"volunteer_id": "vol-1"}), 201)
    return Key(platform, "station", STREET), Key(platform, "station", BEICHEN)


COMMANDS = [  # (method, path, body, the volunteers service's method) on a call: `{}` is the call's id
    ("POST", "/calls/{}/claims", {"volunteer_id": "vol-0"}, "claim"),
    ("DELETE", "/calls/{}/claims/vol-1", None, "withdraw"),
    ("POST", "/calls/{}/checkin", {"volunteer_id": "vol-1"}, "check_in"),
    ("POST", "/calls/{}/checkout", {"volunteer_id": "vol-1"}, "check_out"),
    ("POST", "/calls/{}/completions", {"volunteer_id": "vol-1", "hours": 1}, "complete"),
    ("POST", "/calls/{}/reopen", {"expires_at": "2099-01-01T00:00:00Z"}, "reopen"),
    ("POST", "/calls/{}/offer", {"team_id": "team-xh"}, "offer"),
]


@pytest.mark.parametrize("method, path, body, command", COMMANDS, ids=[c[3] for c in COMMANDS])
def test_a_call_of_another_region_answers_as_a_missing_one_in_one_rpc(platform, taida, method, path, body, command):
    _, beichen = taida
    missing, took = served(platform, lambda: beichen.send(method, path.format("call-none"), body))
    assert missing.status_code == 404 and took == {("volunteers", command): 1}, took  # the command alone
    elsewhere, took = served(platform, lambda: beichen.send(method, path.format("call-own"), body))
    assert elsewhere.status_code == 404 and took == {("volunteers", command): 1}, took
    assert elsewhere.json()["detail"] == "no call call-own" and missing.json()["detail"] == "no call call-none"
    assert {k: v for k, v in elsewhere.json().items() if k not in ("detail", "instance")} == {
        k: v for k, v in missing.json().items() if k not in ("detail", "instance")}
    assert platform.get("/calls/call-own").json()["claimed"] == ["vol-1"]  # nothing changed


def test_a_claim_in_the_keys_region_takes_one_rpc(platform, taida):
    own, _ = taida
    answer, took = served(platform, lambda: own.send("POST", "/calls/call-own/claims", {"volunteer_id": "vol-2"}))
    assert answer.status_code == 201 and took == {("volunteers", "claim"): 1}, took
    team, took = served(platform, lambda: own.send("POST", "/calls/call-own/offer", {"team_id": "team-none"}))
    assert team.status_code == 422 and team.json()["errors"] == {"team_id": ["no team team-none"]}
    assert took == {("volunteers", "offer"): 1}, took

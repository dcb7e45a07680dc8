"""The store server killed -9 under a running platform: while it is away the gateway answers 503
with Retry-After — from its own records and from a service's, never a 500 and never a hang —
and once it is back the same request, sent again with its Idempotency-Key, is accepted once."""
import base64
import secrets
import time

import pytest
import requests

from tests.conftest import ADMIN_KEY, wait_for
from tests.netports import free_port
from tests.processes import Topology
from wushe.runtime.config import nameko_config
from wushe.ops.local import StoreServer

pytestmark = pytest.mark.e2e
NEED = {"id": "need-store-away-1", "community": "tianjin/binhai/taida/xinghua", "category": "errands",
        "urgency": "high", "description": "独居老人需要代购药品", "requirements": {}}


@pytest.fixture
def platform_on_own_store(rabbit_config, tmp_path):
    server = StoreServer(tmp_path / "store", port=free_port(), log_path=tmp_path / "store.log").start()
    config = nameko_config(env={}, AMQP_URI=rabbit_config["AMQP_URI"], WEB_SERVER_ADDRESS=f"127.0.0.1:{free_port()}",
                           WUSHE={"MONGO_URI": server.uri, "DB_PREFIX": "t_", "ADMIN_KEY": ADMIN_KEY,
                                  "PII_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
                                  "RPC_TIMEOUT": 10.0, "OUTBOX_RELAY_SECONDS": 0.2, "OUTBOX_GRACE_SECONDS": 0.5})
    topology = Topology(config, tmp_path / "logs", services=("community", "gateway"))
    try:
        topology.start(timeout=90)
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        yield server, topology, session, f"{topology.base}/api/v1"
    finally:
        topology.stop(kill=True)
        server.stop()


def test_while_the_store_is_away_the_gateway_answers_503_and_a_retry_after_it_is_taken_once(platform_on_own_store):
    server, topology, session, base = platform_on_own_store
    for path, name, level in [("tianjin", "天津市", "city"), ("tianjin/binhai", "滨海新区", "district"),
                              ("tianjin/binhai/taida", "泰达街道", "street"),
                              ("tianjin/binhai/taida/xinghua", "星华社区", "community")]:
        region = session.post(f"{base}/regions", json={"path": path, "name": name, "level": level}, timeout=20)
        assert region.status_code == 201, region.text

    server.kill()
    away = {}
    for name, request in {
        # the gateway's own record first (the Idempotency-Key), then the community service's write
        "idempotent": lambda: session.post(f"{base}/needs", json=NEED, headers={"Idempotency-Key": "k-1"}, timeout=30),
        "via a service": lambda: session.post(f"{base}/needs", json={**NEED, "id": "need-store-away-2"}, timeout=30),
        "read model": lambda: session.get(f"{base}/needs/{NEED['id']}", timeout=30),
    }.items():
        began = time.monotonic()
        answer = request()
        away[name] = (answer.status_code, answer.headers.get("Retry-After"),
                      answer.headers.get("Content-Type"), round(time.monotonic() - began, 1))
        assert answer.status_code == 503, (name, answer.text)
        assert answer.json()["detail"] == "the data store is unreachable; try again shortly"
    assert all(retry == "5" and kind.startswith("application/problem+json") and seconds < 15
               for _, retry, kind, seconds in away.values()), away

    server.restart()
    accepted = wait_for(lambda: (lambda a: a if a.status_code == 202 else None)(
        session.post(f"{base}/needs", json=NEED, headers={"Idempotency-Key": "k-1"}, timeout=30)), timeout=60, interval=1)
    assert accepted.json()["id"] == NEED["id"]
    again = session.post(f"{base}/needs", json=NEED, headers={"Idempotency-Key": "k-1"}, timeout=30)
    assert (again.status_code, again.json()) == (202, accepted.json())  # the recorded answer, nothing new
    view = wait_for(lambda: (lambda a: a.json() if a.status_code == 200 else None)(
        session.get(f"{base}/needs/{NEED['id']}", timeout=30)), timeout=30, interval=0.5)
    assert view["id"] == NEED["id"]

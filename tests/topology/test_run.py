"""`wushe run` (what `make run` starts) as a station would use it: up as a process per party on the
local store, a need with a resident registered, Ctrl-C, started again (with the edge in front of
the gateway) — everything is still there, the resident readable, the demo not loaded a second
time, and nothing left running in between."""
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
import requests

from tests.e2e.world import ok
from tests.netports import free_port

pytestmark = pytest.mark.e2e
RESIDENT = {"name": "欧阳娜娜", "phone": "13800005678", "address": "天津市滨海新区泰达街道星华社区3号楼2门"}


class Run:
    def __init__(self, env, out, *args):
        self.out = out
        self.process = subprocess.Popen([sys.executable, "-m", "wushe.ops.cli", "run", *args], env=env,
                                        stdout=open(out, "ab"), stderr=subprocess.STDOUT, start_new_session=True)

    def wait_banner(self, timeout=120):
        deadline = time.monotonic() + timeout
        while "Wushe is running" not in self.text():
            assert self.process.poll() is None and time.monotonic() < deadline, self.text()[-3000:]
            time.sleep(0.3)
        self.children = psutil.Process(self.process.pid).children(recursive=True)
        return self

    def text(self):
        with open(self.out, encoding="utf-8") as f:
            return f.read()

    def interrupt(self):
        """Ctrl-C: the terminal sends SIGINT to the foreground process group."""
        os.killpg(os.getpgid(self.process.pid), signal.SIGINT)
        assert self.process.wait(60) == 0, self.text()[-3000:]


def settled(view):
    return view["status"] == "linked" and all(part["state"] != "pending" for part in view["linkage"].values())


def test_make_run_keeps_every_record_across_a_restart_and_leaves_nothing_running(rabbit_config, tmp_path):
    port = free_port()
    env = dict(os.environ, AMQP_URI=rabbit_config["AMQP_URI"], WUSHE_VAR=str(tmp_path / "var"),
               WUSHE_STORE_PORT=str(free_port()), WUSHE_HTTP_PORT=str(port), WUSHE_HTTP_HOST="127.0.0.1")
    env.pop("MONGO_URI", None), env.pop("WUSHE_ADMIN_KEY", None), env.pop("WUSHE_PII_KEY", None)
    base = f"http://127.0.0.1:{port}/api/v1"
    # its own process group, as a terminal gives `make run`, so that a Ctrl-C reaches it alone
    first = Run(env, tmp_path / "first.out")
    try:
        first.wait_banner()
        key = first.text().split("admin key", 1)[1].split()[0]
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {key}"
        assert len(first.children) == 7  # five services, the gateway, the store server
        need_id = ok(session.post(f"{base}/needs", json={
            "id": "need-ouyang-1", "community": "tianjin/binhai/taida/xinghua", "category": "errands",
            "urgency": "high", "description": "独居老人需要代购药品", "resident": RESIDENT,
            "requirements": {"volunteers": {"count": 1, "skills": ["errands"]}}}, timeout=30), 202)["id"]
        deadline = time.monotonic() + 60
        while session.get(f"{base}/needs/{need_id}", timeout=10).json()["linkage"]["volunteers"]["state"] != "open":
            assert time.monotonic() < deadline
            time.sleep(0.3)
        ok(session.post(f"{base}/calls/call-ouyang-1/claims", json={"volunteer_id": "vol-courier-1"}, timeout=30), 201)
        deadline = time.monotonic() + 60
        # linked, and every part decided: the organisation part may still be pending when the need
        # is linked (no organisation is needed for it), and its answer would come after this read
        while not settled(before := session.get(f"{base}/needs/{need_id}", timeout=10).json()):
            assert time.monotonic() < deadline, before
            time.sleep(0.3)
        listed = ok(session.get(f"{base}/needs?limit=100", timeout=10), 200)["items"]
    finally:
        first.interrupt() if first.process.poll() is None else None
    assert not [p.pid for p in first.children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert "the data is kept in" in first.text()

    # the second time with the edge in front of the gateway: integrators come through it
    edge_port = free_port()
    second = Run(dict(env, WUSHE_EDGE_METRICS_BIND=f"127.0.0.1:{free_port()}"), tmp_path / "second.out",
                 "--edge", str(edge_port))
    base = f"http://127.0.0.1:{edge_port}/api/v1"
    try:
        second.wait_banner()
        assert f"edge       http://127.0.0.1:{edge_port} (HAProxy)" in second.text()
        assert any(p.name() == "haproxy" for p in second.children)
        assert second.text().split("admin key", 1)[1].split()[0] == key  # kept with the data
        assert "loaded at the first start" in second.text()
        after = ok(session.get(f"{base}/needs/{need_id}", timeout=10), 200)
        assert after["status"] == "linked" and after["linkage"] == before["linkage"]
        assert after["resident"] == {**RESIDENT, "id": after["resident"]["id"], "masked": False}
        # no demo on top: the same needs, none added (their views may have moved on since they were
        # listed: a part's late event joins a need's timeline after it is linked)
        assert [n["id"] for n in ok(session.get(f"{base}/needs?limit=100", timeout=10), 200)["items"]] == \
            [n["id"] for n in listed]
    finally:
        second.interrupt()
    assert not [p.pid for p in second.children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]

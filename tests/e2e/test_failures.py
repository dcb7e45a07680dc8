"""What an integrator sees when a service is down or the broker goes away."""
import shutil
import subprocess

import pytest
import requests

from tests.conftest import ADMIN_KEY, wait_for
from wushe.ops.cli import service_classes

pytestmark = pytest.mark.e2e


@pytest.fixture
def gateway_without_workers(config, runner_factory):
    config["WUSHE"]["RPC_TIMEOUT"] = 1.0
    runner = runner_factory(config, *service_classes(["community", "gateway"]))
    runner.start()
    base = f"http://{config['WEB_SERVER_ADDRESS']}/api/v1"
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
    return base, session


def test_a_service_that_is_not_running_answers_503_with_retry_after(gateway_without_workers):
    base, session = gateway_without_workers
    answer = session.get(f"{base}/workers/worker-1", timeout=10)
    assert answer.status_code == 503 and answer.headers["Retry-After"]
    assert answer.headers["Content-Type"].startswith("application/problem+json")


def test_a_service_that_stopped_answering_gives_504_within_the_deadline(gateway_without_workers, config,
                                                                          container_factory):
    base, session = gateway_without_workers
    workers = container_factory(service_classes(["workers"])[0], config)
    workers.start()
    assert session.get(f"{base}/workers/worker-1", timeout=10).status_code == 404  # answering
    workers.kill()  # its queue stays; requests wait there for a consumer that does not come
    answer = session.get(f"{base}/workers/worker-1", timeout=10)
    assert answer.status_code == 504
    assert answer.elapsed.total_seconds() < 5
    assert "did not answer" in answer.json()["detail"]
    wait_for(lambda: session.get(f"{base}/needs", timeout=10).status_code == 200)  # the gateway itself is fine


def broker(action):
    subprocess.run(["rabbitmqctl", "-q", action], check=True, capture_output=True, timeout=60)


@pytest.mark.skipif(not shutil.which("rabbitmqctl"), reason="needs the local broker's rabbitmqctl")
def test_the_platform_survives_a_broker_restart_and_says_not_ready_meanwhile(platform):
    from tests.e2e.world import need, ok, seed
    seed(platform)
    before = ok(platform.post("/needs", need(volunteers=0, rice=0)), 202)["id"]
    platform.wait_need(before, lambda n: n["status"] == "linked")
    broker("stop_app")
    try:
        ready = requests.get(platform.base + "/readyz", timeout=10)
        assert ready.status_code == 503 and ready.json()["checks"]["broker"] is False
        # reads from the read model go on while the broker is away
        assert platform.need(before)["status"] == "linked"
    finally:
        broker("start_app")
    wait_for(lambda: requests.get(platform.base + "/readyz", timeout=10).status_code == 200, timeout=60)
    # consumers and RPC replies are back: a new need goes all the way through
    after = wait_for(lambda: (lambda r: r.status_code == 202 and r.json()["id"])(
        platform.post("/needs", need(volunteers=0, rice=0))), timeout=60)
    platform.wait_need(after, lambda n: n["status"] == "linked", timeout=30)
    wait_for(lambda: requests.get("http://127.0.0.1:15672/api/overview", auth=("guest", "guest"), timeout=5).ok,
             timeout=60)  # so that the vhost can be deleted at teardown


@pytest.mark.skipif(not shutil.which("rabbitmqctl"), reason="needs the local broker's rabbitmqctl")
def test_the_station_client_reconnects_after_a_broker_restart(platform, config):
    import eventlet
    from tests.e2e.world import XINGHUA, seed
    from wushe.contract.station import StationClient
    seed(platform)
    received = []
    with StationClient(config["AMQP_URI"], "hotline-restart") as station:
        station.follow(["need_registered"], received.append)
        follower = eventlet.spawn(station.run)
        eventlet.sleep(0.5)
        broker("stop_app")
        try:
            eventlet.sleep(1)
        finally:
            broker("start_app")
        wait_for(lambda: requests.get(platform.base + "/readyz", timeout=10).status_code == 200, timeout=60)
        # the report is published over a fresh connection; the follower consumes over another
        station.report_need({"id": "need-after-restart", "community": XINGHUA, "category": "errands",
                             "urgency": "high", "description": "代购", "requirements": {"worker": False}})
        wait_for(lambda: [e for e in received if e.need_id == "need-after-restart"], timeout=60)
        station.stop()
        follower.wait()
    wait_for(lambda: requests.get("http://127.0.0.1:15672/api/overview", auth=("guest", "guest"), timeout=5).ok,
             timeout=60)  # so that the vhost can be deleted at teardown

"""Fixtures shared by the service and end-to-end tests. Every test gets its own RabbitMQ vhost
(nameko's `rabbit_config`) and its own database prefix; `MONGO_URI` runs the same suite on a
real MongoDB."""
import os
import socket
import uuid

import eventlet
import pytest
import requests

from tests import fakes
from tests.tap import EventTap
from wushe.config import nameko_config
from wushe.store import client_for, is_embedded

ADMIN_KEY = "test-admin-key"
PII_KEY = "d3VzaGUtdGVzdHMtcGVyc29uYWwtZGF0YS1rZXktMzI="  # base64 of 32 bytes, for tests only
MONGO_URI = os.environ.get("MONGO_URI", "mongomock://")


def pytest_configure(config):
    if is_embedded(MONGO_URI):
        # the embedded store never yields between operations, which would hide read-then-write
        # races; in tests every operation yields first, as a networked database does
        fakes.interleave_mongomock()


@pytest.fixture
def db_prefix():
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    yield prefix
    client = client_for(MONGO_URI)
    for name in client.list_database_names():
        if name.startswith(prefix):
            client.drop_database(name)


@pytest.fixture
def config(rabbit_config, db_prefix):
    return nameko_config(env={}, AMQP_URI=rabbit_config["AMQP_URI"], WEB_SERVER_ADDRESS=f"127.0.0.1:{free_port()}",
                         WUSHE={"MONGO_URI": MONGO_URI, "DB_PREFIX": db_prefix, "ADMIN_KEY": ADMIN_KEY,
                                "PII_KEY": PII_KEY, "RPC_TIMEOUT": 10.0, "OUTBOX_RELAY_SECONDS": 0.2,
                                "OUTBOX_GRACE_SECONDS": 0.5, "RETRY_DELAYS_MS": [50, 200], "MAX_ATTEMPTS": 3})


@pytest.fixture
def tap(config):
    """Every event published on any Wushe exchange during the test."""
    with EventTap(config["AMQP_URI"]) as events:
        yield events


@pytest.fixture
def platform(config, runner_factory, tap):
    """All five services and the gateway, running against the test's vhost."""
    from wushe.cli import service_classes
    runner = runner_factory(config, *service_classes())
    runner.start()
    base = f"http://{config['WEB_SERVER_ADDRESS']}"
    wait_for(lambda: requests.get(f"{base}/healthz", timeout=1).ok, timeout=10)
    return Api(base, tap)


class Api:
    """A requests session on the gateway with the admin key, plus helpers for the tests."""

    def __init__(self, base, tap):
        self.base = base
        self.tap = tap
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {ADMIN_KEY}"

    def get(self, path, **kw):
        return self.session.get(self.base + "/api/v1" + path, timeout=20, **kw)

    def post(self, path, body=None, **kw):
        return self.session.post(self.base + "/api/v1" + path, json=body, timeout=20, **kw)

    def delete(self, path, **kw):
        return self.session.delete(self.base + "/api/v1" + path, timeout=20, **kw)

    def need(self, need_id):
        return self.get(f"/needs/{need_id}").json()

    def wait_need(self, need_id, predicate, timeout=10):
        return wait_for(lambda: (lambda n: n if predicate(n) else None)(self.need(need_id)), timeout)


def wait_for(probe, timeout=10, interval=0.05):
    """Poll `probe` until it returns something truthy; fail with its last answer."""
    deadline = eventlet.hubs.get_hub().clock() + timeout
    last = None
    while eventlet.hubs.get_hub().clock() < deadline:
        try:
            last = probe()
        except requests.RequestException as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        eventlet.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s; last answer: {last!r}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def log_lines():
    """Every log line any service writes during the test, formatted as it is shipped."""
    import io
    import logging

    from wushe import logs
    logs.configure()  # first, so that configuring later does not drop the handler added here
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.json_lines())
    logging.root.addHandler(handler)
    yield stream
    logging.root.removeHandler(handler)

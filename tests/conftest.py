"""Fixtures shared by the service and end-to-end tests. Every test gets its own RabbitMQ vhost
(nameko's `rabbit_config`) and its own database prefix; `MONGO_URI` runs the same suite on a
real MongoDB.

`WUSHE_TEST_TOPOLOGY=processes` runs the `platform` as `wushe run` does — a process per service
and the gateway — on a shared store server: MONGO_URI's, or a local one started for the session
(README, "Tests"). The default, `containers`, runs them all in the test's own process."""
import os
import uuid

import eventlet
import pytest
import requests

from tests import fakes
from tests.tap import EventTap
from wushe.runtime.config import nameko_config
from wushe.runtime.store import client_for, is_embedded

ADMIN_KEY = "test-admin-key"
PII_KEY = "d3VzaGUtdGVzdHMtcGVyc29uYWwtZGF0YS1rZXktMzI="  # base64 of 32 bytes, for tests only
RACES_IN_FLIGHT = 1000  # a gateway of the suite sheds nothing its races send at once
MONGO_URI = os.environ.get("MONGO_URI", "mongomock://")
TOPOLOGY = os.environ.get("WUSHE_TEST_TOPOLOGY", "containers")
_local_store = []


def pytest_configure(config):
    global MONGO_URI
    config.addinivalue_line("markers", "in_process: needs the platform inside the test's process (skipped on "
                                       "WUSHE_TEST_TOPOLOGY=processes), the reason given")
    if TOPOLOGY not in ("containers", "processes"):
        raise pytest.UsageError(f"WUSHE_TEST_TOPOLOGY={TOPOLOGY!r}: choose containers or processes")
    if TOPOLOGY == "processes" and is_embedded(MONGO_URI):
        # processes share their services' data only through a store server of their own
        MONGO_URI = start_local_store()
    if is_embedded(MONGO_URI):
        # the embedded store never yields between operations, which would hide read-then-write
        # races; in tests every operation yields first, as a networked database does
        fakes.interleave_mongomock()


def start_local_store():
    """A local store server for this session, its data in a temporary folder (removed after)."""
    import tempfile

    from tests.netports import free_port as port
    from wushe.ops.local import StoreServer
    folder = tempfile.mkdtemp(prefix="wushe-store-")
    server = StoreServer(f"{folder}/data", port=port(), log_path=f"{folder}/store.log").start()
    _local_store.append((server, folder))
    return server.uri


def pytest_unconfigure(config):
    import shutil
    for server, folder in _local_store:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    if TOPOLOGY != "processes":
        return
    for item in items:
        marker = item.get_closest_marker("in_process")
        if marker:
            item.add_marker(pytest.mark.skip(reason=f"in-process only: {marker.args[0] if marker.args else ''}"))


def pytest_sessionfinish(session, exitstatus):
    # `make test PYTEST_ARGS="-k …"` runs several pytest processes over different files; one whose
    # files hold no test the filter keeps has nothing to do, which is not a failure. Without a
    # filter, finding no test still fails the run.
    option = session.config.option
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and (option.keyword or option.markexpr):
        session.exitstatus = pytest.ExitCode.OK


@pytest.fixture(scope="session")
def shared_store_uri():
    """A store that separate processes share: MONGO_URI's, or a local store server (started once)."""
    if not is_embedded(MONGO_URI):
        return MONGO_URI
    if not _local_store:
        start_local_store()
    return _local_store[0][0].uri


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
                                "OUTBOX_GRACE_SECONDS": 0.5, "RETRY_DELAYS_MS": [50, 200], "MAX_ATTEMPTS": 3,
                                # the suite's races (up to 100 requests at once) are about
                                # invariants, not shedding: tests/e2e/test_overload.py sheds
                                "MAX_IN_FLIGHT": RACES_IN_FLIGHT})


@pytest.fixture
def tap(config):
    """Every event published on any Wushe exchange during the test."""
    with EventTap(config["AMQP_URI"]) as events:
        yield events


@pytest.fixture
def platform(request, config, tap, tmp_path):
    """All five services and the gateway, running against the test's vhost: containers in this
    process, or (WUSHE_TEST_TOPOLOGY=processes) a process each. Every event the test saw must
    validate against its channel's payload in the AsyncAPI document (checked last)."""
    base = f"http://{config['WEB_SERVER_ADDRESS']}"
    request.addfinalizer(lambda: _on_contract(tap, config))
    if TOPOLOGY == "processes":
        from tests.processes import Topology
        # the call check and the gauges' recount every second, not 30: a test cannot call the
        # timers inside another process
        topology = Topology(config, tmp_path / "process-logs", metrics=True,
                            extra_env={"WUSHE_MEASURE_SECONDS": "1", "WUSHE_CALL_EXPIRY_CHECK_SECONDS": "1"})
        request.addfinalizer(lambda: topology.stop(kill=True))  # the test's world is thrown away
        topology.start()
        api = Api(base, tap)
        api.topology = topology
        return api
    from wushe.ops.cli import service_classes
    runner = request.getfixturevalue("runner_factory")(config, *service_classes())
    runner.start()
    wait_for(lambda: requests.get(f"{base}/healthz", timeout=1).ok, timeout=10)
    return Api(base, tap)


def _on_contract(tap, config):
    from tests.asyncapi_check import Payloads
    from wushe.contract.asyncapi import document
    problems = tap.off_contract(Payloads(document(config["AMQP_URI"])))
    assert not problems, f"{len(problems)} events off their AsyncAPI channel's payload:\n" + "\n".join(problems[:20])


class Api:
    """A requests session on the gateway with the admin key, plus helpers for the tests."""

    topology = None  # the processes, on WUSHE_TEST_TOPOLOGY=processes

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

    def metrics(self):
        """What Prometheus scrapes: the gateway's /metrics, and on the process topology every
        service process's own metrics port too."""
        texts = [requests.get(f"{self.base}/metrics", timeout=10).text]
        for url in self.topology.metrics_urls() if self.topology else ():
            texts.append(requests.get(url, timeout=10).text)
        return "".join(texts)

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


from tests.netports import free_port  # noqa: E402 — re-exported: tests import it from here


class _ProcessLogs:
    """log_lines on the process topology: what the processes wrote, read when asked."""

    def __init__(self, request):
        self.request = request

    def getvalue(self):
        topology = self.request.getfixturevalue("platform").topology
        return "\n".join(line for line in topology.logs().splitlines() if line.startswith("{")) + "\n"


@pytest.fixture
def log_lines(request):
    """Every log line any service writes during the test, formatted as it is shipped."""
    if TOPOLOGY == "processes":
        yield _ProcessLogs(request)
        return
    import io
    import logging

    from wushe.runtime import logs
    logs.configure()  # first, so that configuring later does not drop the handler added here
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.json_lines())
    logging.root.addHandler(handler)
    yield stream
    logging.root.removeHandler(handler)

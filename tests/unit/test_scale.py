"""`wushe run --scale`: which processes it plans, and why the embedded store refuses instances."""
import os
import signal

import pytest

from wushe.ops import scale
from wushe.ops.cli import SERVICES


def test_every_service_runs_once_unless_named():
    counts = scale.parse("volunteers=2,gateway=3", list(SERVICES))
    assert counts == {"community": 1, "orgs": 1, "workers": 1, "volunteers": 2, "charity": 1, "gateway": 3}


@pytest.mark.parametrize("spec", ["nobody=2", "volunteers=0", "volunteers=two", "volunteers=99"])
def test_a_wrong_spec_is_refused_naming_it(spec):
    with pytest.raises(SystemExit) as refused:
        scale.parse(spec, list(SERVICES))
    assert spec.split("=")[0] in str(refused.value) or spec in str(refused.value)


def test_instances_need_a_shared_store():
    counts = scale.parse("volunteers=2", list(SERVICES))
    with pytest.raises(SystemExit, match="volunteers cannot run as several instances on the embedded store"):
        scale.refuse_on_embedded(counts, {})
    scale.refuse_on_embedded(counts, {"MONGO_URI": "mongodb://mongo:27017/?replicaSet=rs0"})
    scale.refuse_on_embedded(scale.parse("", list(SERVICES)), {})  # one process per service: fine


def test_gateways_take_the_following_ports_and_come_last():
    env = {"WUSHE_HTTP_PORT": "8000", "WUSHE_METRICS_PORT": "9100", "MONGO_URI": "mongodb://m/"}
    planned = scale.plan(scale.parse("gateway=2,volunteers=2", list(SERVICES)), env)
    labels = [label for label, _, _ in planned]
    assert labels[-2:] == ["gateway#1", "gateway#2"] and "volunteers#2" in labels and len(labels) == 8
    assert scale.gateway_ports(planned) == [8000, 8001]
    metrics_ports = [e["WUSHE_METRICS_PORT"] for _, _, e in planned]
    assert len(set(metrics_ports)) == len(planned)  # no two processes on one metrics port
    assert all(argv[-2:] == ["--services", label.split("#")[0]] for label, argv, _ in planned)
    assert all(e["WUSHE_DEMO"] == "0" for _, _, e in planned)


@pytest.fixture
def signal_handlers():
    """supervise() takes SIGINT and SIGTERM over: given back to pytest after the test."""
    kept = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in kept.items():
        signal.signal(sig, handler)


def test_a_stop_while_starting_ends_quietly(signal_handlers, capsys):
    # Ctrl-C while the demo loads: the processes stop under the loader, whose request then fails
    def ready():
        os.kill(os.getpid(), signal.SIGINT)
        raise ConnectionError("Remote end closed connection without response")

    scale.supervise([], on_ready=ready)
    assert "stopped while starting" in capsys.readouterr().err


def test_a_failure_while_starting_without_a_stop_is_raised(signal_handlers):
    def ready():
        raise ConnectionError("the gateway went away")

    with pytest.raises(ConnectionError):
        scale.supervise([], on_ready=ready)

"""The local deployment's pieces that need no broker: where the data lives, the kept keys, and
the supervisor that restarts a process that died."""
import base64
import os
import stat
import sys

import pytest

from wushe.ops import local, scale
from wushe.ops.cli import store_mode


def test_keys_are_made_once_kept_0600_and_given_back_unchanged(tmp_path):
    made = local.keys(tmp_path)
    assert stat.S_IMODE(os.stat(tmp_path / "keys.json").st_mode) == 0o600
    assert len(base64.b64decode(made["pii_key"])) == 32 and len(made["admin_key"]) >= 32
    assert local.keys(tmp_path) == made  # a restart reads what the first start sealed with


def test_the_processes_get_the_local_store_and_the_kept_keys_unless_set(tmp_path):
    deployment = local.Deployment({"WUSHE_VAR": str(tmp_path), "WUSHE_STORE_PORT": "27555"})
    env = deployment.environment({"WUSHE_ADMIN_KEY": "dev"})
    assert env["MONGO_URI"] == "mongodb://127.0.0.1:27555/?journal=true&retryWrites=false"
    assert env["WUSHE_ADMIN_KEY"] == "dev" and env["WUSHE_PII_KEY"] == local.keys(tmp_path)["pii_key"]
    assert str(tmp_path) in deployment.describe() and "rm -rf" in deployment.describe()


@pytest.mark.parametrize("env, mode", [({}, "local"), ({"WUSHE_STORE": "memory"}, "memory"),
                                       ({"MONGO_URI": "mongodb://db:27017/"}, "mongodb"),
                                       ({"MONGO_URI": "mongomock://"}, "memory")])
def test_the_store_is_chosen_from_the_environment(env, mode):
    assert store_mode(env) == mode


def test_an_unknown_store_is_refused_naming_the_choices():
    with pytest.raises(SystemExit, match="choose local"):
        store_mode({"WUSHE_STORE": "sqlite"})


def sleeper(label, seconds=60):
    return (label, [sys.executable, "-c", f"import time; time.sleep({seconds})"], dict(os.environ))


def test_a_process_that_dies_is_started_again_and_stop_leaves_nothing_running(tmp_path):
    supervisor = scale.Supervisor([sleeper("community"), sleeper("gateway")], log_dir=tmp_path, backoff=0,
                                  say=lambda *a, **k: None).start()
    first = supervisor.pid("community")
    supervisor.kill("community")
    supervisor.tend()
    assert supervisor.pid("community") != first and supervisor.running["community"].poll() is None
    assert supervisor.restarts == 1
    supervisor.stop(timeout=5)
    assert all(p.poll() is not None for p in supervisor.running.values())


def test_a_crash_loop_stops_the_lot(tmp_path):
    supervisor = scale.Supervisor([sleeper("orgs", 0)], log_dir=tmp_path, backoff=0, crash_loop=3,
                                  say=lambda *a, **k: None).start()
    with pytest.raises(SystemExit, match="orgs died 3 times within a minute"):
        for _ in range(10):
            supervisor.running["orgs"].wait()
            supervisor.tend()
    supervisor.stop(kill=True)

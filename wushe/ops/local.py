"""The local deployment on one box: the store as a server process of its own, with its data, the
keys and the logs under one folder (`var/` unless WUSHE_VAR says otherwise).

The store server is SecantusDB's `secantusd-py` — MongoDB's wire protocol over WiredTiger, one
node — installed by `make` into a virtualenv of its own (`.venv-store/`: it needs a newer
pymongo than nameko's eventlet allows, and it is GPL-2.0, so it only ever runs as its own
process; nothing here imports it). Wushe talks to it through pymongo exactly as to MongoDB,
which is what production uses (`MONGO_URI`).

Acknowledged means on disk: the URI asks for journaled writes (`journal=true`). Without it a
kill -9 of the server loses the writes of the last moments before it, as a mongod's does with
j:false; measured, see the README ("The local store").
"""
import base64
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pymongo
from pymongo.errors import PyMongoError

from wushe.ops.scale import die_with_parent, stop_process

ROOT = Path(__file__).resolve().parents[2]  # the checkout: wushe/ops/local.py
DEFAULT_PORT = 27027  # not 27017, where a developer's own mongod may be listening
# journaled writes (see above); retryable writes need a replica set's failover to mean anything,
# and on this server they cost a quarter of every write's time
URI_OPTIONS = "journal=true&retryWrites=false"


def var_dir(env=os.environ):
    return Path(env.get("WUSHE_VAR") or ROOT / "var")


def server_program(env=os.environ):
    """The server's command: WUSHE_STORE_SERVER, the one `make` installed, or one on the PATH."""
    candidates = [env.get("WUSHE_STORE_SERVER"), str(ROOT / ".venv-store" / "bin" / "secantusd-py"),
                  shutil.which("secantusd-py")]
    for candidate in filter(None, candidates):
        if os.access(candidate, os.X_OK):
            return candidate
    raise SystemExit("wushe: the local store server is not installed: run `make store` (it installs "
                     "SecantusDB into .venv-store/), set WUSHE_STORE_SERVER, or set MONGO_URI to a MongoDB")


class StoreServer:
    """One store server process: start, wait until it answers, stop, or kill -9 (for chaos)."""

    def __init__(self, data_dir, port=DEFAULT_PORT, log_path=None, program=None):
        self.data_dir = Path(data_dir)
        self.port = port
        self.log_path = Path(log_path) if log_path else self.data_dir.parent / "log" / "store.log"
        self.program = program or server_program()
        self.process = None

    @property
    def uri(self):
        return f"mongodb://127.0.0.1:{self.port}/?{URI_OPTIONS}"

    def start(self, timeout=30):
        if self.answers():
            raise SystemExit(f"wushe: something already answers on 127.0.0.1:{self.port}; stop it, or set "
                             "WUSHE_STORE_PORT to another port")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log, warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Using fork", DeprecationWarning)  # fork then exec: safe
            # its own session: a Ctrl-C in the terminal reaches the supervisor, which stops the
            # services first and the store last, so that nothing writes to a store that is gone
            self.process = subprocess.Popen(
                [self.program, "--host", "127.0.0.1", "--port", str(self.port),
                 "--storage-path", str(self.data_dir), "--log-level", "WARNING"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                preexec_fn=die_with_parent)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise SystemExit(f"wushe: the store server exited ({self.process.returncode}); see {self.log_path}")
            if self.answers():
                return
            time.sleep(0.2)
        raise SystemExit(f"wushe: the store server did not answer within {timeout} s; see {self.log_path}")

    def answers(self):
        client = pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=300, connectTimeoutMS=300)
        try:
            client.admin.command("ping")
            return True
        except PyMongoError:
            return False
        finally:
            client.close()

    def running(self):
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout=20):
        """SIGTERM (the server closes WiredTiger cleanly), then SIGKILL if it hangs."""
        if self.running():
            stop_process(self.process, signal.SIGTERM, timeout)

    def kill(self):
        """kill -9: no shutdown at all; WiredTiger recovers from its journal at the next start."""
        if self.running():
            self.process.kill()
            self.process.wait()

    def restart(self, timeout=30):
        self.start(timeout)


def keys(folder):
    """The admin key and the residents' key of a local deployment, made once and kept with the
    data (`keys.json`, mode 0600): data sealed with a key that dies with the process would be
    unreadable after a restart. Never printed or logged here."""
    path = Path(folder) / "keys.json"
    if path.exists():
        return json.loads(path.read_text())
    path.parent.mkdir(parents=True, exist_ok=True)
    made = {"admin_key": secrets.token_urlsafe(24),
            "pii_key": base64.b64encode(secrets.token_bytes(32)).decode()}
    # created with its mode, never readable by others even for a moment
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(made, out)
    return made


class Deployment:
    """What `make run` uses when MONGO_URI is unset: the folder, the store server, the keys."""

    def __init__(self, env=os.environ):
        self.folder = var_dir(env)
        self.server = StoreServer(self.folder / "store", int(env.get("WUSHE_STORE_PORT", DEFAULT_PORT)),
                                  self.folder / "log" / "store.log")

    def environment(self, env):
        """The processes' environment: the local store and the kept keys, unless set already."""
        kept = keys(self.folder)
        return dict(env, MONGO_URI=self.server.uri,
                    WUSHE_ADMIN_KEY=env.get("WUSHE_ADMIN_KEY") or kept["admin_key"],
                    WUSHE_PII_KEY=env.get("WUSHE_PII_KEY") or kept["pii_key"])

    @property
    def demo_marker(self):
        return self.folder / "demo.loaded"

    def describe(self):
        return (f"{self.folder}/ (SecantusDB on 127.0.0.1:{self.server.port}, durable; "
                f"wipe: stop, then rm -rf {self.folder})")


if __name__ == "__main__":  # `python -m wushe.ops.local`: where a local deployment keeps its data
    print(Deployment().describe(), file=sys.stdout)

"""The edge on this machine: HAProxy (Debian's `haproxy`, its own program) in front of the
gateway processes started here, with deploy/edge/haproxy.cfg and a second file, written here,
that names those gateways. It holds each gateway to the requests it serves well at once and
refuses the rest with the gateway's own 503 — in C, where a gateway refusing them itself still
parses each one in Python (README, "Overload sheds")."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from wushe.ops.scale import die_with_parent, stop_process

ROOT = Path(__file__).resolve().parents[2]  # the checkout: wushe/ops/edge.py
CONFIG = ROOT / "deploy" / "edge" / "haproxy.cfg"
METRICS_BIND = "127.0.0.1:8405"  # deploy/edge/haproxy.cfg's WUSHE_EDGE_METRICS_BIND


def program(env=os.environ):
    """HAProxy's command: WUSHE_HAPROXY, or `haproxy` on the PATH (None when neither is there)."""
    candidate = env.get("WUSHE_HAPROXY") or shutil.which("haproxy")
    return candidate if candidate and os.access(candidate, os.X_OK) else None


def required_program(env=os.environ):
    """HAProxy's command, or the exit that says how to get it."""
    return program(env) or sys.exit("wushe: the edge needs HAProxy: `apt-get install haproxy` (Debian, or "
                                    "./deploy/ensure-edge.sh), or set WUSHE_HAPROXY")


def gateways_config(ports, host="127.0.0.1"):
    """The `backend gateways` section for gateway processes listening on `ports`: a request goes
    to the one with the fewest in hand; a gateway that stops answering /readyz is left out."""
    servers = "".join(f"    server gateway-{n} {host}:{port}\n" for n, port in enumerate(ports, 1))
    return ("backend gateways\n"
            "    balance leastconn\n"
            "    option httpchk GET /readyz\n"
            f"{servers}")


class Edge:
    """One HAProxy process in front of `ports`, listening on `port` (127.0.0.1 unless `host`);
    `settings` are the WUSHE_EDGE_* of deploy/edge/haproxy.cfg. Its output goes to `log_path`,
    or to this process's own."""

    def __init__(self, ports, port, host="127.0.0.1", metrics_bind=None, log_path=None, settings=None):
        self.ports, self.port, self.host = list(ports), port, host
        self.metrics_bind = metrics_bind or os.environ.get("WUSHE_EDGE_METRICS_BIND") or METRICS_BIND
        self.log_path = Path(log_path) if log_path else None
        self.settings = dict(settings or {})
        self.process = None
        self.folder = None

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    @property
    def metrics_url(self):
        host, _, port = self.metrics_bind.rpartition(":")
        return f"http://{host if host not in ('', '0.0.0.0') else '127.0.0.1'}:{port}/metrics"

    def command(self, backend_file):
        haproxy = required_program()
        # -db: stay in the foreground, so that it stops with the process that started it
        return [haproxy, "-db", "-f", str(CONFIG), "-f", str(backend_file)]

    def environment(self):
        return dict(os.environ, WUSHE_EDGE_BIND=f"{self.host}:{self.port}",
                    WUSHE_EDGE_METRICS_BIND=self.metrics_bind, **self.settings)

    def start(self, timeout=10):
        self.folder = Path(tempfile.mkdtemp(prefix="wushe-edge-"))
        backend_file = self.folder / "gateways.cfg"
        backend_file.write_text(gateways_config(self.ports))
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log_path, "ab") if self.log_path else None
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "Using fork", DeprecationWarning)  # fork then exec: safe
                # its own session (a Ctrl-C reaches the supervisor, which stops it first); it dies
                # with whoever started it
                self.process = subprocess.Popen(self.command(backend_file), env=self.environment(), stdout=out,
                                                stderr=subprocess.STDOUT if out else None, stdin=subprocess.DEVNULL,
                                                start_new_session=True, preexec_fn=die_with_parent)
        finally:
            if out:
                out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"wushe: the edge exited at start ({self.process.returncode}); "
                                   f"see {self.log_path or 'its output'}")
            try:
                socket.create_connection((self.host, self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"wushe: the edge did not listen on {self.host}:{self.port} within {timeout} s")

    def running(self):
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout=10):
        """A soft stop (SIGUSR1): stop listening, let the requests in hand finish."""
        if self.running():
            stop_process(self.process, signal.SIGUSR1, timeout)
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

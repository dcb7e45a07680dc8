"""The processes under test: one per service (so that CPU is seen per service), in a vhost of
their own that is created for the run and deleted after it, on the loopback broker."""
import base64
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import requests

from tests.bench import world
from wushe.ops import scale
from wushe.runtime.store import client_for, is_embedded

MANAGEMENT = "http://127.0.0.1:15672/api"
AUTH = ("guest", "guest")
SERVICES = ("community", "orgs", "workers", "volunteers", "charity", "gateway")


class Vhost:
    def __init__(self, name):
        self.name = name

    def __enter__(self):
        requests.put(f"{MANAGEMENT}/vhosts/{self.name}", auth=AUTH, timeout=10).raise_for_status()
        requests.put(f"{MANAGEMENT}/permissions/{self.name}/guest", auth=AUTH, timeout=10,
                     json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
        return self

    def __exit__(self, *exc):
        requests.delete(f"{MANAGEMENT}/vhosts/{self.name}", auth=AUTH, timeout=30)

    def uri(self, base="pyamqp://guest:guest@127.0.0.1:5672"):
        return f"{base}/{self.name}"

    def backlog(self):
        """Messages waiting or unacknowledged in the vhost's queues (the management API's view
        lags by a few seconds)."""
        answer = requests.get(f"{MANAGEMENT}/queues/{self.name}", auth=AUTH, timeout=10,
                              params={"columns": "name,messages"})
        return sum(q.get("messages") or 0 for q in answer.json())

    def message_stats(self):
        """The vhost's message counters so far (RabbitMQ's management API): messages published
        into it and delivered from its queues (`deliver_get`: consumed with or without acks, and
        fetched), and redelivered."""
        answer = requests.get(f"{MANAGEMENT}/vhosts/{self.name}", auth=AUTH, timeout=10)
        answer.raise_for_status()
        stats = answer.json().get("message_stats") or {}  # {} while nothing has moved
        delivered = stats.get("deliver_get")
        if delivered is None:
            delivered = sum(stats.get(k, 0) for k in ("deliver", "deliver_no_ack", "get", "get_no_ack"))
        return {"published": stats.get("publish", 0), "delivered": delivered,
                "redelivered": stats.get("redeliver", 0)}

    def settled_message_stats(self, apart=6.0, timeout=45.0):
        """The counters once they have caught up: the management API folds them in every
        collection interval (5 s by default), so read until the queues are empty and two reads
        `apart` seconds apart agree. (counters, settled?)"""
        deadline = time.monotonic() + timeout
        last = self.message_stats()
        while time.monotonic() < deadline:
            time.sleep(apart)
            now = self.message_stats()
            if now == last and self.backlog() == 0:
                return now, True
            last = now
        return last, False

    def idle(self, timeout=60):
        deadline = time.monotonic() + timeout
        quiet = 0
        while time.monotonic() < deadline:
            quiet = quiet + 1 if self.backlog() == 0 else 0
            if quiet >= 2:
                return True
            time.sleep(1)
        return False


class Processes:
    """Start one flow's services, one OS process per instance; CPU seconds per process."""

    def __init__(self, flow_name, amqp_uri, port, logdir, scale=None, extra_env=None, label=None, watch=None):
        self.flow_name = flow_name
        self.label = label or flow_name  # names the logs: wushe-local for ours on the local store
        self.amqp_uri = amqp_uri
        self.port = port
        self.logdir = Path(logdir)
        self.scale = scale or {}
        self.extra_env = extra_env or {}
        self.watch = watch or {}  # label → pid of another process whose CPU counts (the store server)
        self.mongo_uri = self.extra_env.get("MONGO_URI", os.environ.get("MONGO_URI", ""))
        self.procs = {}  # label (service or service#n) → Popen
        # databases of their own on a real MongoDB (MONGO_URI), dropped when the run stops
        self.db_prefix = f"bench_{int(time.time())}_"

    def start(self, admin_key):
        """The processes `wushe run --scale` would start (wushe.ops.scale.plan), the floor's own
        module in place of `wushe.ops.cli` for the floor."""
        env = dict(os.environ, AMQP_URI=self.amqp_uri, WUSHE_HTTP_PORT=str(self.port), WUSHE_ADMIN_KEY=admin_key,
                   WUSHE_DB_PREFIX=self.db_prefix, WUSHE_METRICS_PORT="0", **world.ENV, **self.extra_env)
        # one residents' key for every process of the run (on a shared store a process refuses to
        # start without one: each would otherwise seal with a key of its own)
        env.setdefault("WUSHE_PII_KEY", base64.b64encode(secrets.token_bytes(32)).decode())
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.gateway_ports = []
        for label, argv, own in scale.plan(scale.parse(",".join(f"{k}={n}" for k, n in self.scale.items()),
                                                       list(SERVICES)), env):
            service = label.split("#")[0]
            if self.flow_name == "floor":
                argv = [sys.executable, "-m", "tests.bench.floor", service]
                own["FLOOR_HTTP_PORT"] = own["WUSHE_HTTP_PORT"]
            if service == "gateway":
                self.gateway_ports.append(int(own["WUSHE_HTTP_PORT"]))
            log = open(self.logdir / f"{self.label}-{label.replace('#', '-')}.log", "w")
            self.procs[label] = subprocess.Popen(argv, env=own, stdout=log, stderr=subprocess.STDOUT,
                                                 start_new_session=True)
        self._wait_started()

    def ports(self):
        """The gateways' ports: one per gateway instance."""
        return self.gateway_ports

    def _wait_started(self, seconds=120):
        """Every process has written its start line (`wushe: running orgs`, `floor: running orgs`:
        after its queues are declared; on a store server that takes seconds) and every gateway
        answers /healthz: a need sent earlier would find nobody to hear it."""
        deadline = time.monotonic() + seconds
        pending = set(self.procs)
        while pending or not all(map(_healthy, self.gateway_ports)):
            dead = [label for label, p in self.procs.items() if p.poll() is not None]
            if dead:
                raise RuntimeError(f"bench: {self.label} {', '.join(dead)} exited at start; see {self.logdir}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"bench: {self.label} {', '.join(sorted(pending)) or 'gateway'} not started "
                                   f"within {seconds} s; see {self.logdir}")
            pending = {label for label in pending if not self._started(label)}
            time.sleep(0.3)

    def _started(self, label):
        service = label.split("#")[0]
        try:
            text = (self.logdir / f"{self.label}-{label.replace('#', '-')}.log").read_text(errors="replace")
        except FileNotFoundError:
            return False
        return f": running {service}" in text

    def cpu(self):
        """CPU seconds (user + system) so far, per process, and the broker's."""
        out = {}
        for label, proc in self.procs.items():
            try:
                t = psutil.Process(proc.pid).cpu_times()
                out[label] = t.user + t.system
            except psutil.NoSuchProcess:
                out[label] = 0.0
        for label, pid in self.watch.items():
            try:
                t = psutil.Process(pid).cpu_times()
                out[label] = t.user + t.system
            except psutil.NoSuchProcess:
                out[label] = 0.0
        out["rabbitmq"] = broker_cpu()
        mine = psutil.Process().cpu_times()  # the load generator shares the box: its share is shown too
        out["bench-client"] = mine.user + mine.system
        return out

    def pids(self):
        return {label: p.pid for label, p in self.procs.items()}

    def stop(self):
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        uri = self.mongo_uri
        if self.flow_name == "wushe" and not is_embedded(uri):
            client = client_for(uri)
            for name in client.list_database_names():
                if name.startswith(self.db_prefix):
                    client.drop_database(name)


def _healthy(port):
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok
    except requests.RequestException:
        return False


def broker_cpu():
    total = 0.0
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            if proc.info["name"] == "beam.smp" or "rabbit" in " ".join(proc.info["cmdline"] or [])[:200]:
                t = proc.cpu_times()
                total += t.user + t.system
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


def seed(port, admin_key):
    """The world through our gateway, as an integrator would load it; returns a bench API key."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {admin_key}"
    base = f"http://127.0.0.1:{port}/api/v1"
    for i, (path, body) in enumerate(world.seed_requests()):
        headers = {"Idempotency-Key": f"bench-seed-{i}"} if path == "/donations" else {}
        answer = session.post(base + path, json=body, headers=headers, timeout=30)
        if answer.status_code not in (200, 201, 202, 409):
            raise RuntimeError(f"bench: seeding POST {path} answered {answer.status_code}: {answer.text[:300]}")
    answer = session.post(base + "/keys", json={"role": "integrator", "name": "bench", "rate_per_minute": 1_000_000},
                          timeout=30)
    answer.raise_for_status()
    return answer.json()["key"]

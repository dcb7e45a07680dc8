"""The platform as the processes `wushe run` starts — one per service instance, on a shared store
server — for the e2e tier on the process topology, the two-instance races, the process-mode
chaos run and the bench.

A test's nameko config becomes each process's environment (its vhost, database prefix, keys,
short retries), so the same test runs on containers in one process or on processes.
"""
import os
import time

import requests

from tests.netports import free_port
from wushe.ops import scale
from wushe.ops.cli import SERVICES


def environment(config, base=os.environ):
    """The environment variables that make `nameko_config(env)` give back this config."""
    wushe = config["WUSHE"]
    host, _, port = config["WEB_SERVER_ADDRESS"].rpartition(":")
    env = {key: value for key, value in base.items() if not key.startswith("WUSHE_")}
    env.update({
        "AMQP_URI": config["AMQP_URI"],
        "MONGO_URI": wushe["MONGO_URI"],
        "WUSHE_DB_PREFIX": wushe["DB_PREFIX"],
        "WUSHE_ADMIN_KEY": wushe["ADMIN_KEY"],
        "WUSHE_PII_KEY": wushe["PII_KEY"],
        "WUSHE_HTTP_HOST": host,
        "WUSHE_HTTP_PORT": port,
        "WUSHE_DEMO": "0",
        "LOG_LEVEL": config.get("LOG_LEVEL", "INFO"),
        # the suite's processes reach only this box (127.0.0.1, and localhost from /etc/hosts),
        # so eventlet's green resolver would resolve nothing; importing it (dnspython) is a third
        # of a process's start, and the process tiers start six processes a test
        "EVENTLET_NO_GREENDNS": "yes",
    })
    for key in ("RPC_TIMEOUT", "RATE_LIMIT_PER_MINUTE", "OUTBOX_RELAY_SECONDS", "OUTBOX_GRACE_SECONDS",
                "CALL_EXPIRY_CHECK_SECONDS", "MAX_ATTEMPTS", "QUEUE_TYPE", "METRICS_PORT", "MAX_IN_FLIGHT",
                "MAX_WRITES_IN_FLIGHT"):
        if key in wushe:
            env[f"WUSHE_{key}"] = str(wushe[key])
    if "RETRY_DELAYS_MS" in wushe:
        env["WUSHE_RETRY_DELAYS_MS"] = ",".join(map(str, wushe["RETRY_DELAYS_MS"]))
    return env


class Topology:
    """`wushe run --scale …`'s processes for one config: started, watched, killed, stopped."""

    def __init__(self, config, log_dir, scale_spec="", services=tuple(SERVICES), metrics=False, extra_env=None):
        env = {**environment(config), **(extra_env or {})}
        counts = scale.parse(scale_spec, list(services))
        scale.refuse_on_embedded(counts, env)
        self.planned = scale.plan(counts, env)
        self.metrics_ports = {}
        if metrics:  # a free port each (the plan's consecutive ports may be taken on a busy box)
            for label, _, own in self.planned:
                if not label.startswith("gateway"):
                    own["WUSHE_METRICS_PORT"] = str(self.metrics_ports.setdefault(label, free_port()))
        self.log_dir = str(log_dir)
        self.supervisor = scale.Supervisor(self.planned, log_dir=self.log_dir, say=lambda *a, **k: None)
        self.ports = scale.gateway_ports(self.planned)
        self.base = f"http://127.0.0.1:{self.ports[0]}" if self.ports else None

    def metrics_urls(self):
        return [f"http://127.0.0.1:{port}/metrics" for port in self.metrics_ports.values()]

    @property
    def labels(self):
        return [label for label, _, _ in self.planned]

    def start(self, timeout=60):
        self.supervisor.start()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=60):
        """Every gateway answers /readyz (broker and store reachable) and every service has
        declared its queues (a need registered earlier would have nobody to hear it)."""
        deadline = time.monotonic() + timeout
        for port in self.ports:
            while not _ready(f"http://127.0.0.1:{port}/readyz"):
                self._check_alive()
                if time.monotonic() > deadline:
                    raise AssertionError(f"the gateway on {port} was not ready within {timeout} s; "
                                         f"logs in {self.log_dir}")
                time.sleep(0.2)
        while not all(self.started(label) for label in self.labels):
            self._check_alive()
            if time.monotonic() > deadline:
                raise AssertionError(f"not every process started within {timeout} s; logs in {self.log_dir}")
            time.sleep(0.2)

    def started(self, label):
        """The process has written its start line (after every container started)."""
        return f"wushe: running {label.split('#')[0]}" in self.log(label)

    def log(self, label):
        try:
            with open(os.path.join(self.log_dir, f"{label.replace('#', '-')}.log"), encoding="utf-8") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def logs(self):
        """Every process's output so far, one after the other."""
        return "".join(self.log(label) for label in self.labels)

    def _check_alive(self):
        dead = [label for label, p in self.supervisor.running.items() if p.poll() is not None]
        if dead:
            raise AssertionError(f"{', '.join(dead)} exited at start: {self.log(dead[0])[-3000:]}")

    def kill(self, label):
        self.supervisor.kill(label)

    def tend(self):
        self.supervisor.tend()

    def stop(self, kill=False):
        self.supervisor.stop(kill=kill)


def _ready(url):
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False

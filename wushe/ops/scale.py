"""`wushe run --scale SERVICE=N,…`: every service in its own process, N of the named ones.

Instances of one service are competing consumers of its queues (nameko's SERVICE_POOL
handlers) and share its database, so they must share a store server: the local one `wushe run`
starts, or MONGO_URI's MongoDB. The embedded store lives inside one process, and two instances
of a service would each keep half its data.

On one host, extra gateway instances listen on the following ports (8000, 8001, …) and extra
instances' metrics ports likewise; put a load balancer in front of the gateways. In compose it
is `docker compose up --scale volunteers=2`; in Kubernetes, the Deployments' replicas (and HPAs).
"""
import os
import signal
import subprocess
import sys
import time
import warnings

from wushe.runtime.store import is_embedded


def parse(spec, services):
    """{"volunteers": 2, …} from "volunteers=2,gateway=2"; every service at least once."""
    counts = dict.fromkeys(services, 1)
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, number = item.partition("=")
        if name not in counts:
            raise SystemExit(f"wushe: no service {name!r} to scale; choose from {', '.join(services)}")
        if not number.isdigit() or not 1 <= int(number) <= 32:
            raise SystemExit(f"wushe: --scale {item!r}: give SERVICE=N with N from 1 to 32")
        counts[name] = int(number)
    return counts


def refuse_on_embedded(counts, env):
    scaled = sorted(name for name, n in counts.items() if n > 1)
    if scaled and is_embedded(env.get("MONGO_URI", "")):
        raise SystemExit(
            f"wushe: {', '.join(scaled)} cannot run as several instances on the embedded store: it lives "
            "inside one process, so each instance would hold its own half of the data. Leave WUSHE_STORE unset "
            "(the local store server) or set MONGO_URI to a MongoDB replica set.")


def plan(counts, env):
    """(label, argv, env) per process; the gateway's instances last, each on its own port."""
    http = int(env.get("WUSHE_HTTP_PORT", "8000"))
    metrics = int(env.get("WUSHE_METRICS_PORT", "0"))
    order = sorted(counts, key=lambda name: name == "gateway")
    out, k = [], 0
    for name in order:
        for i in range(counts[name]):
            own = dict(env, WUSHE_DEMO="0", WUSHE_SUPERVISED="1")  # the supervisor loads the demo, prints the banner
            if metrics:
                own["WUSHE_METRICS_PORT"] = str(metrics + k)
            if name == "gateway":
                own["WUSHE_HTTP_PORT"] = str(http + i)
            label = name if counts[name] == 1 else f"{name}#{i + 1}"
            out.append((label, [sys.executable, "-m", "wushe.ops.cli", "run", "--services", name], own))
            k += 1
    return out


def die_with_parent():
    """In the child, before exec: the kernel sends SIGTERM when the supervisor dies, however it
    dies (kill -9 included), so that no service is left running on its own. Linux only; elsewhere
    a supervisor killed with -9 leaves its children to be stopped by hand."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def stop_process(process, sig=signal.SIGTERM, timeout=20):
    """Send `sig` and wait for the process to end; SIGKILL if it has not within `timeout`."""
    process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Supervisor:
    """The planned processes: started, restarted when one dies, stopped gateways first.

    Each runs in a session of its own, so a Ctrl-C reaches the supervisor alone, which stops the
    gateways (no new requests), then the services; and each dies with the supervisor.
    A process that dies is started again after `backoff` seconds; one that dies `crash_loop`
    times within a minute stops the lot (a supervisor above — systemd, an operator — decides).
    """

    def __init__(self, planned, log_dir=None, backoff=1.0, crash_loop=5, say=print):
        self.planned = {label: (argv, env) for label, argv, env in planned}
        self.log_dir = log_dir
        self.backoff = backoff
        self.crash_loop = crash_loop
        self.say = say
        self.running = {}
        self.deaths = {}   # label -> monotonic times of its unexpected exits
        self.restarts = 0
        self.stopping = False

    def start(self):
        for label in self.planned:
            self.start_one(label)
        return self

    def start_one(self, label):
        argv, env = self.planned[label]
        out = None
        if self.log_dir:
            os.makedirs(self.log_dir, exist_ok=True)
            out = open(os.path.join(self.log_dir, f"{label.replace('#', '-')}.log"), "ab")
        with warnings.catch_warnings():
            # eventlet warns of any fork; this one is followed at once by exec, of which it has no fear
            warnings.filterwarnings("ignore", "Using fork", DeprecationWarning)
            self.running[label] = subprocess.Popen(argv, env=env, stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                                                   start_new_session=True, preexec_fn=die_with_parent)
        if out:
            out.close()
        return self.running[label]

    def pid(self, label):
        return self.running[label].pid

    def kill(self, label, sig=signal.SIGKILL):
        """Signal one process (chaos); `tend` starts it again."""
        process = self.running[label]
        if process.poll() is None:
            process.send_signal(sig)
            process.wait()

    def tend(self):
        """Start again whatever has died; SystemExit on a crash loop."""
        now = time.monotonic()
        for label, process in list(self.running.items()):
            if self.stopping or process.poll() is None:
                continue
            recent = [t for t in self.deaths.get(label, []) if now - t < 60] + [now]
            self.deaths[label] = recent
            if len(recent) >= self.crash_loop:
                raise SystemExit(f"wushe: {label} died {len(recent)} times within a minute; stopping the rest")
            self.say(f"wushe: {label} exited ({process.returncode}); starting it again", flush=True)
            time.sleep(self.backoff)
            self.start_one(label)
            self.restarts += 1

    def stop(self, timeout=20, kill=False):
        """SIGTERM to the gateways, then to the services; SIGKILL to any still running after
        `timeout` — or to all at once with `kill` (a test's teardown: its world is thrown away)."""
        self.stopping = True
        if kill:
            for process in self.running.values():
                if process.poll() is None:
                    process.kill()
            for process in self.running.values():
                process.wait()
            return
        order = sorted(self.running, key=lambda label: not label.startswith("gateway"))
        for wave in ([l for l in order if l.startswith("gateway")], [l for l in order if not l.startswith("gateway")]):
            for label in wave:
                if self.running[label].poll() is None:
                    self.running[label].send_signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout
            for label in wave:
                try:
                    self.running[label].wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self.running[label].kill()
                    self.running[label].wait()


def supervise(processes, on_ready=None, tend_also=None, before_stop=None):
    """Start them, keep them running until SIGINT or SIGTERM, then stop them all.

    `tend_also()` runs in the same loop (the local store server's own watch); `before_stop()`
    runs before they are stopped (the edge in front of the gateways)."""
    supervisor = Supervisor(processes)
    signals = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda number, _: signals.append(number))
    supervisor.start()
    try:
        if on_ready:
            try:
                on_ready()
            except Exception:
                if not signals:
                    raise
                # stopped while starting (Ctrl-C while the demo loads): the processes it was
                # talking to went away under it, as asked; nothing to report but the stop
                print("wushe: stopped while starting", file=sys.stderr, flush=True)
                return
        print(f"wushe: running {len(supervisor.running)} processes: {', '.join(supervisor.running)}", flush=True)
        while not signals:
            supervisor.tend()
            if tend_also:
                tend_also()
            time.sleep(0.5)
    finally:
        if before_stop:
            before_stop()
        supervisor.stop()


def gateway_ports(planned):
    """The ports the planned gateways listen on."""
    return [int(env["WUSHE_HTTP_PORT"]) for label, _, env in planned if label.split("#")[0] == "gateway"]


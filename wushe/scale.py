"""`wushe run --scale SERVICE=N,…`: every service in its own process, N of the named ones.

Instances of one service are competing consumers of its queues (nameko's SERVICE_POOL
handlers) and share its database, so they must share a real MongoDB: the embedded store lives
inside one process, and two instances of a service would each keep half its data. One process
per service is fine on the embedded store (each service owns its database).

On one host, extra gateway instances listen on the following ports (8000, 8001, …) and extra
instances' metrics ports likewise; put a load balancer in front of the gateways. In compose it
is `docker compose up --scale volunteers=2`; in Kubernetes, the Deployments' replicas (and HPAs).
"""
import signal
import subprocess
import sys
import time

from wushe.store import is_embedded


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
            "inside one process, so each instance would hold its own half of the data. Set MONGO_URI to a "
            "MongoDB replica set (deploy/docker-compose.yml has one).")


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
            out.append((label, [sys.executable, "-m", "wushe.cli", "run", "--services", name], own))
            k += 1
    return out


def supervise(processes, on_ready=None):
    """Start them; stop them all on a signal; exit non-zero as soon as one dies (a supervisor
    restarts the lot, as with the single-process `wushe run`)."""
    running = {label: subprocess.Popen(argv, env=env) for label, argv, env in processes}
    stopping = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.append(True))
    if on_ready:
        on_ready()
    print(f"wushe: running {len(running)} processes: {', '.join(running)}", flush=True)
    died = None
    while not stopping and died is None:
        died = next((label for label, p in running.items() if p.poll() is not None), None)
        time.sleep(0.5)
    for p in running.values():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in running.values():
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
    if died:
        raise SystemExit(f"wushe: {died} exited; stopping the rest so that all are restarted")


def gateway_ports(planned):
    """The ports the planned gateways listen on."""
    return [int(env["WUSHE_HTTP_PORT"]) for label, _, env in planned if label.split("#")[0] == "gateway"]


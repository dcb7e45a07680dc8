"""One bench run: for each flow (the floor, then ours), start its processes, offer rising loads
until it saturates, then measure gateway reads; print both and their ratios."""
import math
import os
import platform as host
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from tests.bench import report
from tests.bench.load import Flow, Load, Reads
from tests.bench.platform import Processes, Vhost, seed
from wushe.store import is_embedded

PORTS = {"floor": 8710, "wushe": 8720}  # gateway instance n listens on port + n


@dataclass
class Options:
    rates: list = field(default_factory=lambda: [5, 10, 15, 20, 25, 30, 40, 50, 60, 80, 100, 125])
    step_seconds: float = 12.0
    drain_seconds: float = 15.0
    reads_seconds: float = 10.0
    read_rate: float = 1000.0
    read_clients: int = 16
    station_share: float = 0.5
    flows: tuple = ("floor", "wushe")
    scale: dict = field(default_factory=dict)      # service → instances, for both flows
    profile: str = ""                              # our services to record with py-spy ("all", or names)
    profile_rate: float = 10.0
    scale_out: str = ""                            # a service: run each flow with 1, then 2 instances
    out: str = "bench-results"


def run_flow(name, options, progress):
    """One flow from start to stop; its figures."""
    vhost = Vhost(f"wushe-bench-{name}")
    admin_key = secrets.token_urlsafe(24)
    port = PORTS[name]
    with vhost:
        procs = Processes(name, vhost.uri(), port, Path(options.out) / "logs", scale=options.scale)
        try:
            progress(f"{name}: starting {len(procs.scale) and procs.scale or 'one process per service'}")
            procs.start(admin_key)
            token = seed(port, admin_key) if name == "wushe" else ""
            vhost.idle(30)
            flow = Flow(name, procs.ports(), prefix="floor_" if name == "floor" else "", token=token)
            load = Load(flow,
                        vhost.uri(), station_share=options.station_share)
            load.start()
            idle = _idle(procs, 2.0 if options.step_seconds < 10 else 5.0)
            progress(f"{name}: idle, the processes use {sum(idle.values()):.2f} cores")
            steps, linked_ids, profiled = [], [], None
            for rate in options.rates:
                spy = _profile(options, procs, name, rate)
                cpu0 = procs.cpu()
                begun = time.monotonic()
                step = load.step(rate, options.step_seconds,
                                 progress=lambda i, n: progress(f"{name}: {rate:g}/s  {i}/{n} sent", end="\r"))
                _drain(load, step, options.drain_seconds)
                elapsed = time.monotonic() - begun
                cpu1 = procs.cpu()
                figures = _figures(load, step, cpu0, cpu1, elapsed, idle)
                steps.append(figures)
                linked_ids += [n for n in step.sent if n in load.linked]
                if spy:
                    profiled = _finish_profile(spy, figures)
                progress(f"{name}: {rate:g}/s → {figures['throughput_per_s']:.1f} linked/s, "
                         f"p99 {report.fmt(figures['latency_ms']['p99'])} ms"
                         + ("  (saturated)" if figures["saturated"] else ""))
                vhost.idle(60)
                if figures["saturated"]:
                    break
            load.close()
            spy = (_spy(options, procs, [label for label in procs.pids() if label.startswith("gateway")],
                        options.reads_seconds, "reads")
                   if name == "wushe" and options.profile and options.reads_seconds > 0 else None)
            reads = _reads(flow, options, linked_ids, load.with_resident, progress, procs)
            if spy:
                reads["profile"] = _finish_profile(spy, {"offered_per_s": None})
            return {"steps": steps, "reads": reads, "profile": profiled, "pids": procs.pids(), "idle_cores": idle,
                    "claim_errors": load.claim_errors[:5], "escalated": len(load.escalated),
                    **_summary(steps)}
        finally:
            procs.stop()


def _drain(load, step, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not all(n in load.linked for n in step.sent):
        time.sleep(0.1)


def _idle(procs, seconds):
    """Cores each process uses with no load (timers, the outbox relay, heartbeats)."""
    cpu0 = procs.cpu()
    time.sleep(seconds)
    cpu1 = procs.cpu()
    return {label: round((cpu1[label] - cpu0.get(label, 0.0)) / seconds, 4) for label in cpu1}


def _figures(load, step, cpu0, cpu1, elapsed, idle):
    done = {n: load.linked[n] - due for n, due in step.sent.items() if n in load.linked}
    sent = len(step.sent)
    first_due = min(step.sent.values())
    last = max((load.linked[n] for n in done), default=first_due)
    span = max(last - first_due, step.seconds)
    throughput = len(done) / span if done else 0.0
    # a need not linked counts as infinitely late: a p99 over only the finished ones would flatter
    samples = list(done.values()) + [math.inf] * (sent - len(done))
    cpu = {label: round(cpu1[label] - cpu0.get(label, 0.0), 3) for label in cpu1}
    per_need = {label: round(1000 * used / len(done), 2) for label, used in cpu.items()} if done else {}
    # what one more need costs: the step's CPU less what the processes burn idle in as long
    marginal = {label: round(1000 * max(0.0, used - idle.get(label, 0.0) * elapsed) / len(done), 2)
                for label, used in cpu.items()} if done else {}
    return {"offered_per_s": step.rate, "seconds": step.seconds, "sent": sent, "linked": len(done),
            "throughput_per_s": round(throughput, 2), "latency_ms": report.latencies_ms(samples),
            "errors": len(step.errors), "first_errors": step.errors[:3],
            "cpu_seconds": cpu, "cpu_cores_total": round(sum(cpu.values()) / elapsed, 2),
            "cpu_ms_per_need": per_need, "cpu_ms_per_need_marginal": marginal,
            # kept up: every need linked, at the rate offered, none waiting a second or more
            "saturated": len(done) < sent or throughput < 0.9 * step.rate or percentile_ms(samples, 99) >= 1000}


def percentile_ms(samples, q):
    value = report.percentile(samples, q)
    return math.inf if value is None or math.isinf(value) else value * 1000


def _summary(steps):
    unsaturated = [s for s in steps if not s["saturated"]]
    at = unsaturated[-1] if unsaturated else (steps[-1] if steps else None)
    return {"saturation_per_s": max((s["throughput_per_s"] for s in steps), default=0.0),
            "saturated": any(s["saturated"] for s in steps),
            "cpu_ms_per_need": at["cpu_ms_per_need"] if at else {},
            "cpu_ms_per_need_marginal": at["cpu_ms_per_need_marginal"] if at else {},
            "cpu_ms_per_need_at": at["offered_per_s"] if at else None}


def _reads(flow, options, need_ids, with_resident, progress, procs):
    """GET /needs/{id} over the linked needs: as fast as the clients go, then paced (open loop);
    and, closed loop, over the needs without a resident only: a need with one costs an RPC to
    the community service for the (masked) resident."""
    if not need_ids or options.reads_seconds <= 0:
        return None
    name = flow.name
    ok = lambda rs: [lat for lat, status in rs if status == 200]  # noqa: E731

    def closed(ids, label):
        progress(f"{name}: GET /needs/{{id}} ({label}), {options.read_clients} clients for {options.reads_seconds:g} s")
        cpu0 = procs.cpu()
        results, elapsed = Reads(flow, ids).closed(options.read_clients, options.reads_seconds)
        cpu1 = procs.cpu()
        busy = {label: round((cpu1[label] - cpu0.get(label, 0.0)) / elapsed, 2) for label in cpu1
                if cpu1[label] - cpu0.get(label, 0.0) > 0.01 * elapsed}
        return {"clients": options.read_clients, "requests": len(results), "needs": label,
                "per_s": round(len(ok(results)) / elapsed, 1), "errors": len(results) - len(ok(results)),
                "latency_ms": report.latencies_ms(ok(results)), "cpu_cores": busy}
    out = {"closed": closed(need_ids, "all")}
    plain = [n for n in need_ids if n not in with_resident]
    if plain and len(plain) < len(need_ids):
        out["closed_without_resident"] = closed(plain, "without a resident")
    progress(f"{name}: GET /needs/{{id}} paced at {options.read_rate:g}/s for {options.reads_seconds:g} s")
    paced, elapsed = Reads(flow, need_ids).paced(options.read_rate, options.reads_seconds)
    out["paced"] = {"offered_per_s": options.read_rate, "requests": len(paced), "needs": "all",
                    "per_s": round(len(ok(paced)) / elapsed, 1), "errors": len(paced) - len(ok(paced)),
                    "latency_ms": report.latencies_ms([lat for lat, _ in paced])}
    return out


def _profile(options, procs, name, rate):
    """py-spy on our services (all, or those named) during the first step at or above the
    profiled rate; collapsed stacks, which speedscope.app or flamegraph.pl draw."""
    if name != "wushe" or not options.profile:
        return None
    target = next((r for r in options.rates if r >= options.profile_rate), options.rates[-1])
    if rate != target:
        return None
    wanted = [label for label in procs.pids() if options.profile == "all"
              or label.split("#")[0] in options.profile.split(",")]
    return _spy(options, procs, wanted, options.step_seconds, "linkage")


def _spy(options, procs, labels, seconds, tag):
    py_spy = Path(sys.executable).with_name("py-spy")
    spies = {}
    for label in labels:
        out = Path(options.out) / f"profile-{tag}-{label.replace('#', '-')}.txt"
        command = [str(py_spy), "record", "--nonblocking", "--format", "raw", "-r", "67", "-o", str(out),
                   "-d", str(max(1, int(seconds))), "-p", str(procs.pids()[label])]
        spies[label] = (subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out)
    return spies


def _finish_profile(spies, figures):
    found = {}
    for label, (proc, out) in spies.items():
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        if out.exists():
            found[label] = {"stacks": str(out), "families": report.families(out), "top": report.hot_spots(out)}
    return {"offered_per_s": figures["offered_per_s"], "services": found}


def refused(name, scale):
    """Why this flow cannot run with these instances here (None when it can)."""
    scaled = sorted(service for service, n in scale.items() if n > 1)
    if not scaled:
        return None
    if name == "wushe" and is_embedded(os.environ.get("MONGO_URI", "")):
        return (f"{', '.join(scaled)} ×2 needs a shared MongoDB (MONGO_URI): the embedded store lives inside "
                "one process, so two instances would each hold half the data")
    if name == "floor" and set(scaled) & {"community", "volunteers"}:
        return "the floor's community and volunteers keep their state in memory: one instance each"
    return None


def run(options, progress=None):
    tty = sys.stdout.isatty()

    def say(text, end="\n"):
        if end == "\r" and not tty:
            return  # a log file gets the step's outcome, not every second of it
        print(f"\r  {text:<78}" if tty else f"  {text}", end=end, flush=True)
    progress = progress or say
    Path(options.out).mkdir(parents=True, exist_ok=True)
    result = {"machine": {"cores": os.cpu_count(), "python": host.python_version(), "platform": host.platform(),
                          "broker": "RabbitMQ on loopback", "store": os.environ.get("MONGO_URI") or "embedded (mongomock)"},
              "options": {k: v for k, v in vars(options).items()}, "flows": {}}
    started = time.monotonic()
    if options.scale_out:
        result["scale_out"] = scale_out(options, progress)
    else:
        for name in options.flows:
            why = refused(name, options.scale)
            if why:
                raise SystemExit(f"bench: {name} with --scale {options.scale}: {why}")
            result["flows"][name] = run_flow(name, options, progress)
    result["seconds"] = round(time.monotonic() - started, 1)
    result["ratios"] = ratios(result["flows"])
    return result


def scale_out(options, progress):
    """Each flow with one, then two instances of `options.scale_out`: saturation and reads."""
    service, out = options.scale_out, {}
    for name in options.flows:
        why = refused(name, {service: 2})
        if why:
            progress(f"{name}: {service} ×2 not run: {why}")
            out[name] = {"service": service, "skipped": why}
            continue
        runs = {n: run_flow(name, replace(options, scale={service: n}), progress) for n in (1, 2)}
        out[name] = {"service": service, "instances": {str(n): {
            "saturation_per_s": r["saturation_per_s"], "saturated": r["saturated"],
            "reads_per_s": r["reads"]["closed"]["per_s"] if r.get("reads") else None,
            "cpu_ms_per_need": r["cpu_ms_per_need"], "steps": r["steps"]} for n, r in runs.items()}}
        one, two = runs[1], runs[2]
        out[name]["ratio"] = {"saturation": _ratio(two["saturation_per_s"], one["saturation_per_s"]),
                              "reads": _ratio(*(r["reads"]["closed"]["per_s"] if r.get("reads") else None
                                                for r in (two, one)))}
    return out


def ratios(flows):
    ours, floor = flows.get("wushe"), flows.get("floor")
    if not ours or not floor:
        return {}
    out = {"saturation": _ratio(ours["saturation_per_s"], floor["saturation_per_s"])}
    if ours.get("reads") and floor.get("reads"):
        out["reads_per_s"] = _ratio(ours["reads"]["closed"]["per_s"], floor["reads"]["closed"]["per_s"])
    common = [s["offered_per_s"] for s in ours["steps"] if any(f["offered_per_s"] == s["offered_per_s"]
                                                                 for f in floor["steps"])]
    out["p99_at"] = {}
    for rate in common:
        a = next(s for s in ours["steps"] if s["offered_per_s"] == rate)["latency_ms"]["p99"]
        b = next(s for s in floor["steps"] if s["offered_per_s"] == rate)["latency_ms"]["p99"]
        out["p99_at"][str(rate)] = _ratio(a, b)
    return out


def _ratio(a, b):
    return round(a / b, 2) if a is not None and b else None

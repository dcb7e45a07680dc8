"""One flow from start to stop: its processes (in a vhost of their own, on free ports, and for
ours on the local store a store server of their own), rising loads until it saturates, then
gateway reads; the figures of each step. Flows compared in a run are measured in turns
(`interleaved`), each up the whole time."""
import math
import os
import secrets
import statistics
import time
from collections import Counter
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

from tests.bench import features, report, spy
from tests.bench import store as local_store
from tests.bench.load import Flow, Load, Reads
from tests.bench.platform import Processes, Vhost, seed
from tests.netports import free_port
from wushe.ops.edge import Edge


def label_of(name, local):
    return f"{name}-local" if local else name


def run_flow(name, options, progress, local=False):
    """`name` is floor or wushe; `local` runs ours on a local store server of its own
    (MONGO_URI=its URI) instead of each service's embedded store."""
    return interleaved([phases(name, options, progress, local)])[0]


def interleaved(flows):
    """Run flows (`phases` of each, all started) a measurement of each in turn: the first load
    step of each, then the second…, then each read phase of each — so that two flows compared in
    one run are measured seconds apart, not minutes, on a box whose speed drifts. A flow that
    saturated waits for the others' steps before its reads. Their results, in order."""
    results, waiting = [None] * len(flows), {}
    try:
        for i, flow in enumerate(flows):  # started one after the other: each up before any is measured
            waiting[i] = _advance(flow, results, i)
        while any(kind is not None for kind in waiting.values()):
            kind = "step" if "step" in waiting.values() else "reads"
            for i in sorted(i for i, k in waiting.items() if k == kind):
                waiting[i] = _advance(flows[i], results, i)
        return results
    finally:
        for flow in flows:  # one failed: the others' processes stop too (their `finally`)
            flow.close()


def _advance(flow, results, i):
    """Run a flow up to the next measurement it is about to make: its kind ("step", "reads"), or
    None when it is done (its result in `results[i]`)."""
    try:
        return next(flow)
    except StopIteration as done:
        results[i] = done.value
        return None


def phases(name, options, progress, local=False):
    """One flow as a generator that yields before each measurement (`interleaved`) and returns
    its figures."""
    label = label_of(name, local)
    label += "".join(f"-{service}{n}" for service, n in sorted(options.scale.items()) if n > 1)  # its own logs
    logs = Path(options.out) / "logs"
    with (local_store.LocalStore(logs / f"{label}-store.log") if local else nullcontext()) as store:
        return (yield from _run(name, label, options, progress, store, logs))


def _run(name, label, options, progress, store, logs):
    vhost = Vhost(f"wushe-bench-{label}-{secrets.token_hex(3)}")  # its own: other runs may share the broker
    admin_key = secrets.token_urlsafe(24)
    port = free_port(max(options.scale.values(), default=1))
    with vhost:
        procs = Processes(name, vhost.uri(), port, logs, scale=options.scale, label=label,
                          extra_env={"MONGO_URI": store.uri} if store else features.env(options, name, store),
                          watch={"store": store.pid} if store else None)
        try:
            progress(f"{label}: starting {len(procs.scale) and procs.scale or 'one process per service'}"
                     + (f" on a local store server (port {store.server.port})" if store else ""))
            procs.start(admin_key)
            token = seed(port, admin_key) if name == "wushe" else ""
            vhost.idle(30)
            flow = Flow(label, procs.ports(), prefix="floor_" if name == "floor" else "", token=token)
            # a request shed at capacity is sent again for as long as the step's drain waits for its need
            load = Load(flow, vhost.uri(), station_share=options.station_share, retry_seconds=options.drain_seconds)
            load.start()
            ops0 = store.counters() if store else None
            idle = _idle(procs, 2.0 if options.step_seconds < 10 else 5.0)
            idle_ops = ({k: v / idle["seconds"] for k, v in local_store.delta(ops0, store.counters()).items()}
                        if store else None)
            idle = idle["cores"]
            progress(f"{label}: idle, the processes use {sum(idle.values()):.2f} cores")
            messages0 = vhost.settled_message_stats(options.settle_seconds)
            steps, linked_ids, profiled, timed, messages = [], [], None, None, None

            def measure(rate, again=False):
                nonlocal profiled, timed
                profiling = None if again else spy.linkage(options, procs, name, rate)
                timing = None if again else features.start(options, procs, name, rate, store)
                cpu0, ops0 = procs.cpu(), store.counters() if store else None
                begun = time.monotonic()
                step = load.step(rate, options.seconds_at(rate),
                                 progress=lambda i, n: progress(f"{label}: {rate:g}/s  {i}/{n} sent", end="\r"))
                _drain(load, step, options.drain_seconds)
                elapsed = time.monotonic() - begun
                cpu1, ops1 = procs.cpu(), store.counters() if store else None
                figures = _figures(load, step, cpu0, cpu1, elapsed, idle)
                if store:
                    figures["store"] = local_store.step_figures(
                        local_store.delta(ops0, ops1), figures["linked"], figures["cpu_seconds"], elapsed,
                        os.cpu_count(), idle_ops)
                linked_ids.extend(n for n in step.sent if n in load.linked)
                if profiling:
                    profiled = spy.finish(profiling, figures)
                if timing:
                    timed = {"offered_per_s": rate, "ms_per_need": features.finish(timing, procs, figures["linked"])}
                rise_saturated = figures["saturated"] and not again  # a repeat is no step of the rise
                progress(f"{label}: {rate:g}/s{' again' if again else ''} → {figures['throughput_per_s']:.1f} linked/s, "
                         f"p99 {report.fmt(figures['latency_ms']['p99'])} ms"
                         + (f", store {figures['store']['per_need']['total']:.0f} ops and "
                            f"{report.fmt(figures['store']['cpu_ms_per_need'])} CPU ms a need" if store else "")
                         + ("  (saturated)" if rise_saturated else "")
                         + (": late, but linked as offered; the next load too"
                            if rise_saturated and not figures["behind_offer"] else ""))
                vhost.idle(60)
                return figures

            for rate in options.rates:
                yield "step"
                figures = measure(rate)
                steps.append(figures)
                if messages is None:
                    # over the first, lowest load only, which every flow keeps up with: past
                    # saturation needs still unlinked would count their messages to the linked ones
                    messages = _messages(messages0, vhost.settled_message_stats(options.settle_seconds),
                                         figures["linked"], rate)
                if figures["behind_offer"]:
                    break
            # the load it linked the most at, offered again (in turns with the other flows): one
            # step at saturation moves by a fifth between runs minutes apart, and the most of
            # several steps near it is the luckiest of them
            again = []
            ceiling = _ceiling(steps)
            if ceiling is not None:
                for _ in range(options.saturation_repeats):
                    yield "step"
                    again.append(measure(ceiling["offered_per_s"], again=True))
            progress(f"{label}: the broker's counters: {report.fmt(messages['per_need']['published'])} messages "
                     f"published and {report.fmt(messages['per_need']['delivered'])} delivered per linked need")
            load.close()
            reads = yield from _reads(flow, options, linked_ids, load.with_resident, progress, procs, store)
            out = {"steps": steps, "reads": reads, "profile": profiled, "features": timed, "pids": procs.pids(),
                   "idle_cores": idle, "messages": messages, "claim_errors": load.claim_errors[:5],
                   "escalated": len(load.escalated), "scale": dict(options.scale), "saturation_again": again,
                   **_summary(steps, again)}
            if store:
                out["store"] = {**store.describe(), "idle_ops_per_s": {k: round(v, 1) for k, v in idle_ops.items()},
                                "at": _store_at(steps)}
            return out
        finally:
            procs.stop()


def _drain(load, step, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not all(n in load.linked for n in step.sent):
        time.sleep(0.1)


def _messages(before, after, linked, rate):
    """The vhost's messages over the first linkage step (at `rate`), per linked need:
    everything the broker counted there — the services' events, RPCs and their replies, retries,
    and the bench's own station reports and its listeners' deliveries (the floor's run has the
    same)."""
    (start, settled0), (end, settled1) = before, after
    moved = {k: end[k] - start[k] for k in end}
    return {**moved, "linked": linked, "offered_per_s": rate, "settled": settled0 and settled1,
            "per_need": {k: round(v / linked, 2) if linked else None for k, v in moved.items()}}


def _idle(procs, seconds):
    """Cores each process uses with no load (timers, the outbox relay, heartbeats)."""
    cpu0 = procs.cpu()
    begun = time.monotonic()
    time.sleep(seconds)
    cpu1 = procs.cpu()
    elapsed = time.monotonic() - begun
    return {"seconds": elapsed,
            "cores": {label: round((cpu1[label] - cpu0.get(label, 0.0)) / elapsed, 4) for label in cpu1}}


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
    saturated, behind = kept_up(sent, len(done), throughput, step.rate, percentile_ms(samples, 99))
    return {"offered_per_s": step.rate, "seconds": step.seconds, "sent": sent, "linked": len(done),
            "throughput_per_s": round(throughput, 2), "latency_ms": report.latencies_ms(samples),
            "errors": len(step.errors), "first_errors": step.errors[:3],
            # registrations and claims a gateway at capacity answered 503, sent again after Retry-After
            "shed": len(step.shed),
            "cpu_seconds": cpu, "cpu_cores_total": round(sum(cpu.values()) / elapsed, 2),
            "cpu_ms_per_need": per_need, "cpu_ms_per_need_marginal": marginal,
            "saturated": saturated, "behind_offer": behind}


def kept_up(sent, linked, linked_per_s, offered_per_s, p99_ms):
    """(saturated, behind the offer) for a step. Kept up: every need linked, at the rate offered
    (90 %), none waiting a second or more. Behind the offer: a need left unlinked or less than
    that rate linked — what it linked is the flow's ceiling, and the rise ends there. A step
    saturated by its p99 alone linked the offer, a floor under the ceiling, so the next load is
    offered as well; the saturation is the most any step linked."""
    behind = linked < sent or linked_per_s < 0.9 * offered_per_s
    return behind or p99_ms >= 1000, behind


def percentile_ms(samples, q):
    value = report.percentile(samples, q)
    return math.inf if value is None or math.isinf(value) else value * 1000


def _at(steps):
    """The step the per-need figures are quoted at: the highest load kept up with."""
    unsaturated = [s for s in steps if not s["saturated"]]
    return unsaturated[-1] if unsaturated else (steps[-1] if steps else None)


def _ceiling(steps):
    """The step a flow linked the most at, if the flow saturated (one that kept up with every load
    offered has shown no ceiling to measure again)."""
    if not any(s["saturated"] for s in steps):
        return None
    return max(steps, key=lambda s: s["throughput_per_s"])


def _summary(steps, again=()):
    """The saturation is the median of what the flow linked at its ceiling: the most any step of
    the rise linked, and that step's load offered again (`again`)."""
    at = _at(steps)
    most = max((s["throughput_per_s"] for s in steps), default=0.0)
    return {"saturation_per_s": statistics.median([most, *(s["throughput_per_s"] for s in again)]),
            "saturation_rise_per_s": most,
            "saturated": any(s["saturated"] for s in steps),
            "cpu_ms_per_need": at["cpu_ms_per_need"] if at else {},
            "cpu_ms_per_need_marginal": at["cpu_ms_per_need_marginal"] if at else {},
            "cpu_ms_per_need_at": at["offered_per_s"] if at else None}


def _store_at(steps):
    """The store's figures at the step the CPU per need is quoted at, and its busiest step."""
    at = _at(steps)
    if not at:
        return {}
    busiest = max(steps, key=lambda s: s["store"]["cores"] or 0)
    return {"offered_per_s": at["offered_per_s"], **{k: v for k, v in at["store"].items() if k != "ops"},
            "cpu_ms_per_need_marginal": at["cpu_ms_per_need_marginal"].get("store"),
            "peak_cores": busiest["store"]["cores"], "peak_ops_per_s": busiest["store"]["ops_per_s"],
            "peak_at": busiest["offered_per_s"]}


def _reads(flow, options, need_ids, with_resident, progress, procs, store=None):
    """GET /needs/{id} over the linked needs: as fast as the clients go, then paced (open loop);
    and, closed loop, over the needs without a resident only (a need with one answers with its
    resident, masked). Yields before each phase (`interleaved`)."""
    if not need_ids or options.reads_seconds <= 0:
        return None
    yield "reads"
    name = flow.name
    ok = lambda rs: [lat for lat, status in rs if status == 200]  # noqa: E731

    def closed(ids, label, via=flow, rounds=1):
        """16 clients as fast as they go, in `rounds` of equal length; between two, the other
        flows read theirs (`interleaved`), so that each round's rate has its counterpart
        seconds away (the ratio is taken round by round: `run.ratios`)."""
        progress(f"{name}: GET /needs/{{id}} ({label}), {options.read_clients} clients for {options.reads_seconds:g} s"
                 + (f" in {rounds} rounds" if rounds > 1 else ""))
        results, elapsed, cpu, ops, per_round = [], 0.0, Counter(), Counter(), []
        for i in range(rounds):
            if i:
                yield "reads"
            cpu0, ops0 = procs.cpu(), store.counters() if store else None
            got, took = Reads(via, ids).closed(options.read_clients, options.reads_seconds / rounds)
            cpu.update({process: used - cpu0.get(process, 0.0) for process, used in procs.cpu().items()})
            if store:
                ops.update(local_store.delta(ops0, store.counters()))
            results += got
            elapsed += took
            per_round.append(round(len(ok(got)) / took, 1))
        out = {"clients": options.read_clients, "requests": len(results), "needs": label,
               "per_s": round(len(ok(results)) / elapsed, 1), "errors": len(results) - len(ok(results)),
               "latency_ms": report.latencies_ms(ok(results)), "cpu_cores": _busy({}, cpu, elapsed)}
        if rounds > 1:
            out["rounds_per_s"] = per_round
        if store:  # operations per answered read (per_need here means per read)
            out["store_ops_per_read"] = local_store.ops_figures(dict(ops), len(ok(results))).get("per_need")
        return out
    # recorded from here, when this flow's turn has come (`interleaved`), over the closed loop
    rounds = max(1, options.read_rounds)
    profiling = spy.reads(options, procs, name, rounds)
    out = {"closed": (yield from closed(need_ids, "all", rounds=rounds))}
    if profiling:
        out["profile"] = spy.finish(profiling, {"offered_per_s": None})
    plain = [n for n in need_ids if n not in with_resident]
    if plain and len(plain) < len(need_ids):
        yield "reads"
        out["closed_without_resident"] = yield from closed(plain, "without a resident", rounds=rounds)

    def past_capacity(closed, where="", via=flow):
        # the flow's own closed-loop rate times `overload`, from more senders than a gateway
        # serves at once, so that it must shed; goodput against that closed loop, and per core
        # the gateways had (the load generator and the edge take cores from them on this box)
        over = paced(options.overload * closed["per_s"], options.overload_senders,
                     f" ({options.overload:g}× its closed loop){where}", via)
        over["goodput_ratio"] = _ratio(over["per_s"], closed["per_s"])
        over["goodput_per_gateway_core_ratio"] = _ratio(_per_gateway_core(over), _per_gateway_core(closed))
        return over

    def paced(rate, senders, label, via=flow):
        progress(f"{name}: GET /needs/{{id}} paced at {rate:,.0f}/s{label} for {options.reads_seconds:g} s")
        cpu0 = procs.cpu()
        results, elapsed = Reads(via, need_ids).paced(rate, options.reads_seconds, senders=senders)
        busy = _busy(cpu0, procs.cpu(), elapsed)
        # answered (200), shed at once (503, Retry-After), or unanswered: not sent within 5 s of
        # its due time, or no answer at all; "within_1s" counts the answered and the shed that
        # came within 1 s of their due time
        by = lambda wanted: [lat for lat, status in results if status in wanted]  # noqa: E731
        shed, unanswered = len(by({503})), len(by({0}))
        return {"offered_per_s": round(rate, 1), "senders": senders, "requests": len(results), "needs": "all",
                "per_s": round(len(ok(results)) / elapsed, 1), "shed": shed, "unanswered": unanswered,
                "errors": len(results) - len(ok(results)) - shed - unanswered,
                "within_1s": sum(1 for lat in by({200, 503}) if lat <= 1.0),
                "latency_ms": report.latencies_ms([lat for lat, _ in results]), "cpu_cores": busy}
    yield "reads"
    out["paced"] = paced(options.read_rate, 64, "")
    if options.overload and out["closed"]["per_s"]:  # nothing answered: no capacity to go past
        yield "reads"
        out["overload"] = past_capacity(out["closed"])
    if options.edge:
        yield "reads"
        out["edge"] = _behind_the_edge(flow, options, need_ids, progress, procs, closed, paced, past_capacity)
    return out


def _finished(phase):
    """The figures of a phase in one round, which has nothing to wait for: run to its end."""
    try:
        next(phase)
    except StopIteration as done:
        return done.value
    raise RuntimeError("a phase of one round yielded: it would wait for a turn nothing gives it")


def _per_gateway_core(reads):
    cores = sum(v for k, v in reads["cpu_cores"].items() if k.split("#")[0] == "gateway")
    return reads["per_s"] / cores if cores else None


def _ratio(a, b):
    return round(a / b, 2) if a is not None and b else None


def _busy(cpu0, cpu1, elapsed):
    """Cores each process used over `elapsed` (those that used more than 1 % of one)."""
    return {label: round((cpu1[label] - cpu0.get(label, 0.0)) / elapsed, 2) for label in cpu1
            if cpu1[label] - cpu0.get(label, 0.0) > 0.01 * elapsed}


def _behind_the_edge(flow, options, need_ids, progress, procs, closed, paced, past_capacity):
    """The same reads through the edge (HAProxy, deploy/edge/) in front of the flow's gateways:
    closed loop, paced, and past the closed loop measured through it."""
    with Edge(flow.ports, free_port(), metrics_bind=f"127.0.0.1:{free_port()}",
              log_path=Path(options.out) / "logs" / f"{flow.name}-edge.log") as edge:
        progress(f"{flow.name}: behind the edge (HAProxy on port {edge.port}, in front of {len(flow.ports)} gateway(s))")
        via = replace(flow, ports=[edge.port])
        procs.watch["edge"] = edge.process.pid  # its CPU among the cores busy
        try:
            out = {"closed": _finished(closed(need_ids, "all, behind the edge", via)),
                   "paced": paced(options.read_rate, 64, " behind the edge", via)}
            if options.overload and out["closed"]["per_s"]:
                out["overload"] = past_capacity(out["closed"], " behind the edge", via)
        finally:
            procs.watch.pop("edge", None)
    return out

"""One bench run: the floor and ours on each store asked for — the embedded store inside each
service's process, and the local store server that they share — each offered rising loads until
it saturates, then gateway reads; the floor and ours on the embedded store in turns, a step or a
read phase of each (flow.interleaved), ours on the local store after them; then on the local
store ours again with two instances of its busiest service. The figures, and their ratios: ours
to the floor, local to embedded, 2 to 1."""
import os
import platform as host
import statistics
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from tests.bench import store as local_store
from tests.bench.flow import interleaved, label_of, phases, run_flow
from tests.bench.platform import SERVICES
from wushe.runtime.store import is_embedded

STORES = ("embedded", "local")


@dataclass
class Options:
    rates: list = field(default_factory=lambda: [5, 10, 15, 20, 25, 30, 40, 50, 60, 80, 100, 125])
    step_seconds: float = 12.0
    # the load the p99 target is quoted at runs this long: at 10/s a 12 s step's p99 is the
    # second slowest of 120 needs, which one broker pause decides; 60 s rests it on 600
    p99_rate: float = 10.0
    p99_seconds: float = 60.0
    drain_seconds: float = 15.0
    reads_seconds: float = 10.0
    # the closed-loop reads in this many rounds, in turns with the other flows: the box's speed
    # moved the floor's own rate from 2,594 to 1,541 req/s between two phases 10 s apart
    read_rounds: int = 5
    # the load a flow linked the most at, offered again this many times (its saturation: the
    # median of those and the rise's most)
    saturation_repeats: int = 2
    read_rate: float = 1000.0
    read_clients: int = 16
    overload: float = 3.0                          # then paced at this × the flow's own closed loop (0: not)
    overload_senders: int = 256                    # more than a gateway admits at once (WUSHE_MAX_IN_FLIGHT)
    edge: bool = True                              # the reads again through the edge (HAProxy) in front of the gateways
    settle_seconds: float = 6.0                    # the broker's counters read until two this far apart agree
    station_share: float = 0.5
    flows: tuple = ("floor", "wushe")
    stores: tuple = STORES                         # ours on the embedded store, the local store server, or both
    scale: dict = field(default_factory=dict)      # service → instances, for every flow
    profile: str = ""                              # our services to record with py-spy ("all", or names)
    profile_rate: float = 10.0
    scale_out: str = ""                            # a service: run each flow with 1, then 2 instances
    local_scale_out: bool = True                   # ours on the local store again with 2 of its busiest
    out: str = "bench-results"

    def profiled_rate(self):
        """The load a profile records: the first offered at or above `profile_rate`."""
        return next((r for r in self.rates if r >= self.profile_rate), self.rates[-1])

    def seconds_at(self, rate):
        """How long a load is offered: the one the p99 target is quoted at, longer."""
        return max(self.step_seconds, self.p99_seconds) if rate == self.p99_rate else self.step_seconds


def runs(options):
    """(flow, on the local store?) in the order they run; the floor has no store."""
    for name in options.flows:
        if name == "floor":
            yield name, False
        else:
            yield from ((name, store == "local") for store in options.stores)


def refused(name, scale, local=False):
    """Why this flow cannot run with these instances here (None when it can)."""
    scaled = sorted(service for service, n in scale.items() if n > 1)
    if not scaled:
        return None
    if name == "wushe" and not local and is_embedded(os.environ.get("MONGO_URI", "")):
        return (f"{', '.join(scaled)} ×2 needs a shared store (the local store server, or MONGO_URI): the "
                "embedded store lives inside one process, so two instances would each hold half the data")
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
                          "broker": "RabbitMQ on loopback",
                          "store": os.environ.get("MONGO_URI") or "embedded (mongomock)"},
              "options": {k: v for k, v in vars(options).items()}, "flows": {}}
    if "local" in options.stores and "wushe" in options.flows:
        result["machine"]["local_store"] = local_store.SERVER
    started = time.monotonic()
    if options.scale_out:
        result["scale_out"] = scale_out(options, progress)
    else:
        chosen = list(runs(options))
        for name, local in chosen:
            why = refused(name, options.scale, local)
            if why:
                raise SystemExit(f"bench: {label_of(name, local)} with --scale {options.scale}: {why}")
        # the floor and ours on the embedded store, whose ratios the targets are, measured in turns
        # (flow.interleaved); ours on the local store server after them, on its own
        together = [(name, local) for name, local in chosen if not local]
        for (name, local), figures in zip(together, interleaved([phases(name, options, progress, local)
                                                                 for name, local in together])):
            result["flows"][label_of(name, local)] = figures
        for name, local in chosen:
            if local:
                result["flows"][label_of(name, local)] = run_flow(name, options, progress, local=local)
        local = result["flows"].get("wushe-local")
        if local and options.local_scale_out and not options.scale:
            result["scale_out"] = {"wushe-local": local_twice(options, progress, local)}
    result["seconds"] = round(time.monotonic() - started, 1)
    result["ratios"] = ratios(result["flows"])
    result["ratios_local"] = ratios(result["flows"], ours="wushe-local")
    result["topologies"] = topologies(result)
    result["messages"] = {ours: messages_against_floor(result["flows"], ours) for ours in ("wushe", "wushe-local")
                          if ours in result["flows"] and "floor" in result["flows"]}
    return result


def messages_against_floor(flows, ours):
    """Broker messages per linked need, ours against the floor's (target: within one more)."""
    a, b = flows[ours]["messages"]["per_need"], flows["floor"]["messages"]["per_need"]
    return {kind: {"ours": a[kind], "floor": b[kind],
                   "difference": round(a[kind] - b[kind], 2) if a[kind] is not None and b[kind] is not None else None}
            for kind in ("published", "delivered")}


def local_twice(options, progress, one):
    """Ours on the local store with two instances of its busiest service (by CPU per need in the
    run with one of each), beside that run."""
    service = local_store.busiest(one["cpu_ms_per_need_marginal"] or one["cpu_ms_per_need"], SERVICES)
    progress(f"wushe-local: the busiest service is {service}; again with two of it")
    two = run_flow("wushe", replace(options, scale={service: 2}), progress, local=True)
    return compare_instances(service, {1: one, 2: two}, "busiest by CPU ms per need with one instance each")


def scale_out(options, progress):
    """Each flow with one, then two instances of `options.scale_out`: saturation and reads."""
    service, out = options.scale_out, {}
    for name, local in runs(options):
        label = label_of(name, local)
        why = refused(name, {service: 2}, local)
        if why:
            progress(f"{label}: {service} ×2 not run: {why}")
            out[label] = {"service": service, "skipped": why}
            continue
        out[label] = compare_instances(service, {n: run_flow(name, replace(options, scale={service: n}), progress,
                                                             local=local) for n in (1, 2)}, "--scale-out")
    return out


def compare_instances(service, by_n, chosen):
    def reads(r, mode="closed"):
        return r["reads"][mode]["per_s"] if r.get("reads") and r["reads"].get(mode) else None
    out = {"service": service, "chosen": chosen, "instances": {str(n): {
        "saturation_per_s": r["saturation_per_s"], "saturated": r["saturated"],
        "reads_per_s": reads(r), "reads_without_resident_per_s": reads(r, "closed_without_resident"),
        "p99_ms": {f"{s['offered_per_s']:g}": s["latency_ms"]["p99"] for s in r["steps"]},
        "cpu_ms_per_need": r["cpu_ms_per_need"], "cpu_ms_per_need_at": r["cpu_ms_per_need_at"],
        "store": r.get("store"), "steps": r["steps"]} for n, r in by_n.items()}}
    one, two = by_n[1], by_n[2]
    out["ratio"] = {"saturation": _ratio(two["saturation_per_s"], one["saturation_per_s"]),
                    "reads": _ratio(reads(two), reads(one)),
                    "reads_without_resident": _ratio(reads(two, "closed_without_resident"),
                                                     reads(one, "closed_without_resident"))}
    return out


def ratios(flows, ours="wushe", digits=2):
    """Ours against the floor: saturation, reads, p99 and CPU a need at each load; to `digits`
    decimals (the JSON's), or unrounded with None (what the targets' verdicts are taken on)."""
    ours, floor = flows.get(ours), flows.get("floor")
    if not ours or not floor:
        return {}
    out = {"saturation": _ratio(ours["saturation_per_s"], floor["saturation_per_s"], digits)}
    if ours.get("reads") and floor.get("reads"):
        out["reads_per_s"] = _reads_ratio(ours["reads"]["closed"], floor["reads"]["closed"], digits)
        # the floor's needs are the same ones: its answer does not depend on a resident
        plain = ours["reads"].get("closed_without_resident")
        floor_plain = floor["reads"].get("closed_without_resident") or floor["reads"]["closed"]
        if plain:
            out["reads_without_resident_per_s"] = _reads_ratio(plain, floor_plain, digits)
    out["p99_at"] = _p99_ratios(ours, floor, digits)
    out["cpu_per_need_at"] = _cpu_ratios(ours, floor, digits)
    return out


def _reads_ratio(a, b, digits=2):
    """a's closed-loop reads over b's: the median of the ratios round by round when both were
    read in the same rounds, in turns (each round's two rates seconds apart); else the ratio of
    the two phases' rates."""
    ours, theirs = a.get("rounds_per_s") or [], b.get("rounds_per_s") or []
    if len(ours) < 2 or len(ours) != len(theirs) or not all(theirs):
        return _ratio(a["per_s"], b["per_s"], digits)
    return _ratio(statistics.median(x / y for x, y in zip(ours, theirs)), 1, digits)


def _cpu_ratios(a, b, digits=2):
    """CPU a linked need (every process, the broker and the load generator included), a's over
    b's, at each offered load both kept up with: a figure of what a need costs that does not hang
    on where on a rate grid either flow stopped, nor on how fast the box is that day."""
    out = {}
    for s in a["steps"]:
        other = next((f for f in b["steps"] if f["offered_per_s"] == s["offered_per_s"]), None)
        if other and not s["saturated"] and not other["saturated"]:
            out[f"{s['offered_per_s']:g}"] = _ratio(sum(s["cpu_ms_per_need"].values()),
                                                    sum(other["cpu_ms_per_need"].values()), digits)
    return out


def topologies(result):
    """Ours on the local store beside ours on the embedded store: each figure and local ÷ embedded."""
    embedded, local = result["flows"].get("wushe"), result["flows"].get("wushe-local")
    if not embedded or not local:
        return {}

    def brief(flow):
        reads = flow.get("reads") or {}
        cpu = flow["cpu_ms_per_need_marginal"] or flow["cpu_ms_per_need"]
        return {"saturation_per_s": flow["saturation_per_s"],
                "p99_ms": {f"{s['offered_per_s']:g}": s["latency_ms"]["p99"] for s in flow["steps"]},
                "cpu_ms_per_need_at": flow["cpu_ms_per_need_at"],
                "services_cpu_ms_per_need": round(sum(v for k, v in cpu.items() if k.split("#")[0] in SERVICES), 1),
                "rabbitmq_cpu_ms_per_need": cpu.get("rabbitmq"), "store_cpu_ms_per_need": cpu.get("store"),
                **{f"reads_{mode}_per_s": (reads.get(mode) or {}).get("per_s")
                   for mode in ("closed", "closed_without_resident", "paced")}}
    a, b = brief(embedded), brief(local)
    keys = ("saturation_per_s", "services_cpu_ms_per_need", "rabbitmq_cpu_ms_per_need",
            "reads_closed_per_s", "reads_closed_without_resident_per_s", "reads_paced_per_s")
    over = {key: _ratio(b[key], a[key]) for key in keys}
    over["p99_at"] = _p99_ratios(local, embedded)
    return {"embedded": a, "local": b, "local_over_embedded": over,
            "store": result["machine"].get("local_store")}


def _p99_ratios(a, b, digits=2):
    out = {}
    for s in a["steps"]:
        other = next((f for f in b["steps"] if f["offered_per_s"] == s["offered_per_s"]), None)
        if other:
            out[f"{s['offered_per_s']:g}"] = _ratio(s["latency_ms"]["p99"], other["latency_ms"]["p99"], digits)
    return out


def _ratio(a, b, digits=2):
    if a is None or not b:
        return None
    return a / b if digits is None else round(a / b, digits)

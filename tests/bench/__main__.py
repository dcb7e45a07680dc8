"""`python -m tests.bench` (make bench): the linkage under paced load, ours beside the floor.

    make bench                                  # the floor, ours on both stores, rising loads until saturation
    make bench BENCH_ARGS="--store local"       # ours on the local store server only (and the floor)
    make bench BENCH_ARGS="--quick"             # a tiny run: one low load, a short read phase
    make bench BENCH_ARGS="--scale gateway=2"   # N instances of a service (both flows)
    make bench BENCH_ARGS="--scale-out gateway" # each flow with 1, then 2 gateways, compared
    make bench BENCH_ARGS="--profile community" # py-spy flame graph of one of our services
"""
import argparse
import signal
import sys
import warnings
from pathlib import Path

# the load generator runs on plain threads; eventlet comes in only with nameko's imports
warnings.filterwarnings("ignore", message="\nEventlet is deprecated")
from tests.bench import features, report  # noqa: E402
from tests.bench.run import STORES, Options, ratios, run  # noqa: E402

TARGETS = {  # what ours is held to, as ratios to the floor in the same run (on the embedded store)
    "saturation_ratio": 0.7,      # saturation ≥ 0.7 × the floor's
    "p99_ratio_at": (Options.p99_rate, 1.5),  # p99 at 10 needs/s ≤ 1.5 × the floor's
    "reads_ratio": 0.8,           # closed-loop reads ≥ 0.8 × the floor's, with and without a resident
    "messages_over_floor": 1.0,   # messages published per need within one of the floor's
    "goodput_ratio": 0.9,         # past capacity: goodput ≥ 0.9 × its own closed loop, all within 1 s
}


VERDICT = {True: "met", False: "MISSED", None: "not measured"}


def parse(argv):
    defaults = Options()
    p = argparse.ArgumentParser(prog="make bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rates", type=lambda s: [float(r) for r in s.split(",")], default=defaults.rates,
                   help="offered loads in needs/s, rising (default %(default)s)")
    p.add_argument("--step-seconds", type=float, default=defaults.step_seconds)
    p.add_argument("--p99-seconds", type=float, default=defaults.p99_seconds,
                   help=f"the load the p99 target is quoted at ({defaults.p99_rate:g}/s) runs this long "
                        "(default %(default)s)")
    p.add_argument("--drain-seconds", type=float, default=defaults.drain_seconds)
    p.add_argument("--reads-seconds", type=float, default=defaults.reads_seconds)
    p.add_argument("--read-rounds", type=int, default=defaults.read_rounds,
                   help="the closed-loop reads in this many rounds, in turns with the other flows; their ratio "
                        "is the median of the rounds' (default %(default)s)")
    p.add_argument("--saturation-repeats", type=int, default=defaults.saturation_repeats,
                   help="the load a flow linked the most at, offered again this many times, in turns; its "
                        "saturation is the median (default %(default)s)")
    p.add_argument("--read-rate", type=float, default=defaults.read_rate)
    p.add_argument("--read-clients", type=int, default=defaults.read_clients)
    p.add_argument("--overload", type=float, default=defaults.overload,
                   help="then reads paced at this × the flow's own closed-loop rate (0: none; default %(default)s)")
    p.add_argument("--no-edge", action="store_true",
                   help="skip the reads again through the edge (HAProxy, deploy/edge/) in front of each flow's gateways")
    p.add_argument("--station-share", type=float, default=defaults.station_share,
                   help="the share of needs reported by station hotlines (the rest: POST /needs)")
    p.add_argument("--flows", default="floor,wushe", help="floor, wushe or both")
    p.add_argument("--store", default="both", choices=("embedded", "local", "both"),
                   help="ours on the embedded store in each process (or MONGO_URI's), on a local store server "
                        "of the run's own, or both (default %(default)s)")
    p.add_argument("--scale", default="", help="SERVICE=N[,SERVICE=N]: instances of a service, in every flow")
    p.add_argument("--scale-out", default="", metavar="SERVICE",
                   help="run each flow with one, then two instances of SERVICE, and compare (scale-out.json); "
                        "without it, ours on the local store runs again with two of its busiest service")
    p.add_argument("--no-local-scale-out", action="store_true",
                   help="skip that second run of ours on the local store")
    p.add_argument("--profile", default="", help="record our services with py-spy: all, or SERVICE[,SERVICE]; "
                        "or `features`: what each of ours' features costs a need, on each process's CPU clock")
    p.add_argument("--profile-rate", type=float, default=defaults.profile_rate,
                   help="profile during the first load at or above this (default %(default)s needs/s)")
    p.add_argument("--out", default="bench-results", help="where the JSON, the plot and the logs go")
    p.add_argument("--quick", action="store_true", help="a tiny run (what the test suite runs)")
    args = p.parse_args(argv)
    options = Options(rates=args.rates, step_seconds=args.step_seconds, p99_seconds=args.p99_seconds,
                      drain_seconds=args.drain_seconds,
                      reads_seconds=args.reads_seconds, read_rounds=args.read_rounds,
                      saturation_repeats=args.saturation_repeats,
                      read_rate=args.read_rate, read_clients=args.read_clients,
                      overload=args.overload, edge=not args.no_edge,
                      station_share=args.station_share, flows=tuple(f for f in args.flows.split(",") if f),
                      stores=STORES if args.store == "both" else (args.store,),
                      local_scale_out=not args.no_local_scale_out,
                      scale={k: int(v) for k, v in (item.split("=") for item in args.scale.split(",") if item)},
                      profile=args.profile, profile_rate=args.profile_rate, scale_out=args.scale_out,
                      out=args.out)
    if args.quick:
        options.rates, options.step_seconds, options.drain_seconds = [5.0], 3.0, 15.0
        options.reads_seconds, options.read_rate, options.read_clients = 1.0, 50.0, 2
        options.read_rounds = 2  # in turns, as a full run reads
        options.overload = 0
        # the counters are printed, not measured: two reads 2 s apart, where the management API
        # folds its figures in every 5 s, may miss the last of them
        options.settle_seconds = 2.0
        options.local_scale_out = False  # the local store once, with one of each: a run, not a measure
    return options


def verdicts(result):
    """The targets, for ours on each store measured (the local store's named so), each taken on
    the figures themselves: the JSON's ratios are rounded to two decimals, where 0.6996 would
    print and pass as 0.70."""
    out = {}
    for key, suffix in (("wushe", ""), ("wushe-local", " (local store)")):
        ours = result["flows"].get(key)
        if ours:
            checks = _verdicts(ours, result["flows"].get("floor"), ratios(result["flows"], ours=key, digits=None),
                               (result.get("messages") or {}).get(key))
            out.update({name + suffix: verdict for name, verdict in checks.items()})
    return out


def _verdicts(ours, floor, ratios, messages):
    out = {}
    x = report.fmt
    if ratios.get("saturation") is not None:
        name = f"saturation ≥ {TARGETS['saturation_ratio']} × floor"
        if floor["saturated"]:
            out[name] = (ratios["saturation"] >= TARGETS["saturation_ratio"], f"{ratios['saturation']:.4g}×")
        else:  # a ratio of two unsaturated throughputs is the ratio of the offered loads: 1
            out[name] = (None, "the floor did not saturate; offer more")
    rate, most = TARGETS["p99_ratio_at"]
    if floor:
        ratio = ratios.get("p99_at", {}).get(f"{rate:g}")
        out[f"p99 at {rate:g}/s ≤ {most} × floor"] = (
            None if ratio is None else ratio <= most,
            f"{ratio:.4g}×" if ratio is not None else f"not measured at {rate:g}/s by both")
    for key, label in (("reads_per_s", "all needs"), ("reads_without_resident_per_s", "needs without a resident")):
        if ratios.get(key) is not None:
            out[f"reads ≥ {TARGETS['reads_ratio']} × floor, {label}"] = (ratios[key] >= TARGETS["reads_ratio"],
                                                                         f"{ratios[key]:.4g}×")
    reads = ours.get("reads") or {}
    for where, steps in (("", reads), (", behind the edge", reads.get("edge") or {})):
        paced = steps.get("paced")
        if paced:
            late = paced["requests"] - paced["within_1s"]
            out[f"paced {paced['offered_per_s']:g}/s{where}: every request answered or shed within 1 s"] = (
                late == 0, f"{paced['requests'] - late:,} of {paced['requests']:,} within 1 s ({paced['shed']:,} shed, "
                           f"{paced['unanswered']:,} unanswered), p99 {x(paced['latency_ms']['p99'])} ms")
        over = steps.get("overload")
        if over:
            late = over["requests"] - over["within_1s"]
            goodput = over["per_s"] / steps["closed"]["per_s"]  # run only past a closed loop that answered
            out[f"{over['offered_per_s']:,.0f}/s, past capacity{where}: all within 1 s, "
                f"goodput ≥ {TARGETS['goodput_ratio']}×"] = (
                late == 0 and goodput >= TARGETS["goodput_ratio"],
                f"{over['requests'] - late:,} of {over['requests']:,} within 1 s ({over['shed']:,} shed, "
                f"{over['unanswered']:,} unanswered), goodput {goodput:.4g}×, "
                f"{x(over.get('goodput_per_gateway_core_ratio'))}× per gateway core")
    if messages and messages["published"]["difference"] is not None:
        published = messages["published"]
        out[f"messages published per need within {TARGETS['messages_over_floor']:g} of floor's"] = (
            published["difference"] <= TARGETS["messages_over_floor"],
            f"{published['ours']:g} against {published['floor']:g}, {published['difference']:+.2f}")
    return {name: {"met": met, "figure": figure} for name, (met, figure) in out.items()}


def main(argv=None):
    options = parse(argv if argv is not None else sys.argv[1:])
    ours = f" (ours on the {' and the '.join(options.stores)} store)" if "wushe" in options.flows else ""
    print(f"bench: {', '.join(options.flows)}{ours}; loads {', '.join(f'{r:g}' for r in options.rates)} needs/s, "
          f"{options.step_seconds:g} s each ({options.p99_rate:g}/s for {options.seconds_at(options.p99_rate):g} s); "
          f"results in {options.out}/", flush=True)
    result = run(options)
    result["targets"] = verdicts(result)
    print()
    for flow, data in result["flows"].items():
        report.print_steps(flow, data)
        report.print_cpu(flow, data)
        if data.get("features"):
            features.print_table(flow, data["features"]["ms_per_need"], data["features"]["offered_per_s"])
        report.print_store(flow, data)
        report.print_messages(flow, data)
        report.print_reads(flow, data.get("reads"))
        report.print_reads(f"{flow}, behind the edge", (data.get("reads") or {}).get("edge"))
    report.print_scale_out(result.get("scale_out", {}))
    report.print_topologies(result.get("topologies"))
    x = lambda v: "—" if v is None else f"{v:.2f}"  # noqa: E731 — ratios want two decimals
    for key, label in (("ratios", "ours / floor"), ("ratios_local", "ours on the local store / floor")):
        r = result[key]
        if r:
            print(f"\n  {label}: saturation {x(r['saturation'])}×"
                  + (f", reads {x(r.get('reads_per_s'))}×" if r.get("reads_per_s") else "")
                  + (f" ({x(r['reads_without_resident_per_s'])}× without a resident)"
                     if r.get("reads_without_resident_per_s") else "")
                  + "".join(f", p99 at {k}/s {x(v)}×" for k, v in r["p99_at"].items())
                  + ("\n    CPU a linked need at the loads both kept up with: "
                     + ", ".join(f"{x(v)}× at {k}/s" for k, v in r["cpu_per_need_at"].items())
                     if r.get("cpu_per_need_at") else ""))
    if result.get("messages"):
        print()
        report.print_messages_against_floor(result["messages"])
    for name, verdict in result["targets"].items():
        print(f"  target {name}: {VERDICT[verdict['met']]} ({verdict['figure']})")
    out = Path(options.out)
    if options.scale_out:
        report.write_json(out / "scale-out.json", result)
        print(f"\n  wrote {out / 'scale-out.json'} in {result['seconds']:.0f} s")
        return 0
    report.write_json(out / "bench.json", result)
    report.plot(out / "latency.png", result)
    print(f"\n  wrote {out / 'bench.json'} and {out / 'latency.png'} in {result['seconds']:.0f} s")
    return 0


def _stopped(signum, frame):
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    # stopped (kill, a CI timeout): unwind as Ctrl-C does, so that every flow stops the processes
    # it started, in sessions of their own, and deletes its vhost; Python's default just exits
    signal.signal(signal.SIGTERM, _stopped)
    sys.exit(main())

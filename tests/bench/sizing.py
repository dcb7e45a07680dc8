"""The sizing model, from a bench result: how many cores and broker nodes a city needs.

    python -m tests.bench.sizing bench-results/bench.json --streets 252 --per-street-day 40 --surge 10
    python -m tests.bench.sizing bench-results/bench.json --flow wushe-local   # ours on the local store

With `--flow wushe-local` (ours measured on the local store server) the store server's own CPU
is a row too, and a last table says, for a street, a district and a city, whether one local
store server carries them — it is one Python process, so at most one core — or where MongoDB
takes over.

Inputs: the CPU milliseconds one need costs each service and the broker (`make bench`, at the
highest load the platform kept up with), and the load: streets × needs per street per day ×
the surge factor, arriving in the busy hours with a peak-hour factor. Output: the peak rate,
then per service the cores it needs at the target utilisation (a process uses one core, so
that is also the instances to run), and the broker's cores.
"""
import argparse
import json
import math
import sys

SERVICES = ("community", "orgs", "workers", "volunteers", "charity", "gateway")


def peak_per_s(streets, per_street_day, surge, busy_hours, peak_factor):
    """Needs per second in the peak hour."""
    return streets * per_street_day * surge / (busy_hours * 3600) * peak_factor


def read_cost_ms(reads):
    """CPU ms per GET /needs/{id} per process, from the bench's closed-loop reads (the mix)."""
    if not reads or not reads["closed"].get("cpu_cores"):
        return {}
    per_s = reads["closed"]["per_s"]
    return {label: 1000 * cores / per_s for label, cores in reads["closed"]["cpu_cores"].items()}


# a street (one station), a district, a city: streets each (Tianjin: 252 streets and townships in 16
# districts; Binhai New Area, the largest district, has 21)
SCALES = (("a street", 1), ("a district", 21), ("a city", 252))


def store_cores(cpu_ms, read_ms, rate, reads_per_s):
    """Cores the local store server burns at `rate` needs/s and `reads_per_s` reads."""
    return (rate * cpu_ms.get("store", 0.0) + reads_per_s * (read_ms or {}).get("store", 0.0)) / 1000


def plan(cpu_ms, rate, utilisation, broker_core_msgs, read_ms=None, reads_per_s=0.0):
    """Cores per service and for the broker at `rate` needs/s and `reads_per_s` reads, each
    core loaded to `utilisation`."""
    read_ms = read_ms or {}
    rows = {}
    for service in SERVICES:
        cores = (rate * cpu_ms.get(service, 0.0) + reads_per_s * read_ms.get(service, 0.0)) / 1000 / utilisation
        rows[service] = {"cpu_ms_per_need": cpu_ms.get(service, 0.0), "cores": round(cores, 2),
                         "instances": max(1, math.ceil(cores))}
    broker = (rate * cpu_ms.get("rabbitmq", 0.0) + reads_per_s * read_ms.get("rabbitmq", 0.0)) / 1000 / utilisation
    rows["rabbitmq"] = {"cpu_ms_per_need": cpu_ms.get("rabbitmq", 0.0), "cores": round(broker, 2),
                        # three nodes for quorum queues; more when one node's cores are not enough
                        "nodes": max(3, math.ceil(broker / broker_core_msgs))}
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tests.bench.sizing", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("result", help="a bench.json written by make bench")
    p.add_argument("--streets", type=int, default=252, help="streets (one station each); Tianjin: 252")
    p.add_argument("--per-street-day", type=float, default=40, help="needs a street registers on a normal day")
    p.add_argument("--surge", type=float, default=10, help="a surge's multiple of the normal day (lockdown: 10)")
    p.add_argument("--busy-hours", type=float, default=10, help="hours of the day the needs arrive in")
    p.add_argument("--peak-factor", type=float, default=2.5, help="the busiest hour over the busy hours' mean")
    p.add_argument("--reads-per-need", type=float, default=20,
                   help="GET /needs/{id} per need over its life (station systems, integrators)")
    p.add_argument("--utilisation", type=float, default=0.6, help="the CPU share to plan each core for")
    p.add_argument("--broker-node-cores", type=float, default=4, help="cores of one broker node")
    p.add_argument("--flow", default="wushe", help="wushe (the embedded store in each process) or wushe-local "
                                                   "(the local store server the processes share)")
    args = p.parse_args(argv)
    result = json.load(open(args.result))
    if args.flow not in result["flows"]:
        raise SystemExit(f"sizing: {args.result} has no flow {args.flow!r} (it has {', '.join(result['flows'])})")
    ours = result["flows"][args.flow]
    local = "store" in (ours.get("cpu_ms_per_need_marginal") or ours["cpu_ms_per_need"])
    cpu_ms = ours.get("cpu_ms_per_need_marginal") or ours["cpu_ms_per_need"]
    rate = peak_per_s(args.streets, args.per_street_day, args.surge, args.busy_hours, args.peak_factor)
    read_ms = read_cost_ms(ours.get("reads"))
    reads_per_s = rate * args.reads_per_need
    rows = plan(cpu_ms, rate, args.utilisation, args.broker_node_cores, read_ms, reads_per_s)
    print(f"{args.streets} streets × {args.per_street_day:g} needs a day × {args.surge:g} surge, in "
          f"{args.busy_hours:g} busy hours, peak hour ×{args.peak_factor:g}: {rate:.1f} needs/s at the peak, "
          f"and {reads_per_s:.0f} reads/s ({args.reads_per_need:g} a need)")
    if read_ms:
        print("a read costs " + ", ".join(f"{k} {v:.2f}" for k, v in read_ms.items() if v >= 0.05) + " CPU ms")
    print(f"CPU per need measured at {ours['cpu_ms_per_need_at']:g} needs/s on {result['machine']['cores']} cores, "
          f"store: {result['machine'].get('local_store') if local else result['machine']['store']}; "
          f"each core planned at {args.utilisation:.0%}\n")
    print(f"  {'process':<11} {'CPU ms/need':>11} {'cores':>7} {'instances':>10}   (cores: needs and reads)")
    for service in SERVICES:
        row = rows[service]
        print(f"  {service:<11} {row['cpu_ms_per_need']:>11.1f} {row['cores']:>7.2f} {row['instances']:>10}")
    app = sum(rows[s]["cores"] for s in SERVICES)
    broker = rows["rabbitmq"]
    print(f"  {'services':<11} {sum(cpu_ms.get(s, 0) for s in SERVICES):>11.1f} {app:>7.2f}")
    print(f"  {'rabbitmq':<11} {broker['cpu_ms_per_need']:>11.1f} {broker['cores']:>7.2f}   "
          f"{broker['nodes']} nodes of {args.broker_node_cores:g} cores")
    if local:
        store = store_cores(cpu_ms, read_ms, rate, reads_per_s) / args.utilisation
        print(f"  {'store':<11} {cpu_ms['store']:>11.1f} {store:>7.2f}   one process: "
              + ("enough" if store <= 1 else "beyond one core: MongoDB"))
    box = ours["saturation_per_s"]
    print(f"\none {result['machine']['cores']}-core box kept up with {box:.1f} needs/s "
          f"({box * 3600:,.0f} an hour) with every process on it, reads aside")
    if local:
        print_scales(args, cpu_ms, read_ms)
    return 0


def print_scales(args, cpu_ms, read_ms):
    """A street, a district, a city at this surge: the local store server's share of one core."""
    print(f"\nthe local store server at each scale ({args.per_street_day:g} needs a street a day × {args.surge:g} "
          f"surge, {args.reads_per_need:g} reads a need; one process, planned at {args.utilisation:.0%}):")
    for name, streets in SCALES:
        rate = peak_per_s(streets, args.per_street_day, args.surge, args.busy_hours, args.peak_factor)
        share = store_cores(cpu_ms, read_ms, rate, rate * args.reads_per_need) / args.utilisation
        verdict = "the local store" if share <= 1 else f"MongoDB ({share:.1f}× what one store process can give)"
        print(f"  {name:<11} {streets:>4} streets  {rate:>6.2f} needs/s at the peak  store {share:>6.0%} of a core  "
              f"→ {verdict}")


if __name__ == "__main__":
    sys.exit(main())

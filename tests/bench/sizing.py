"""The sizing model, from a bench result: how many cores and broker nodes a city needs.

    python -m tests.bench.sizing bench-results/bench.json --streets 252 --per-street-day 40 --surge 10

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
    args = p.parse_args(argv)
    result = json.load(open(args.result))
    ours = result["flows"]["wushe"]
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
          f"store: {result['machine']['store']}; each core planned at {args.utilisation:.0%}\n")
    print(f"  {'process':<11} {'CPU ms/need':>11} {'cores':>7} {'instances':>10}   (cores: needs and reads)")
    for service in SERVICES:
        row = rows[service]
        print(f"  {service:<11} {row['cpu_ms_per_need']:>11.1f} {row['cores']:>7.2f} {row['instances']:>10}")
    app = sum(rows[s]["cores"] for s in SERVICES)
    broker = rows["rabbitmq"]
    print(f"  {'services':<11} {sum(cpu_ms.get(s, 0) for s in SERVICES):>11.1f} {app:>7.2f}")
    print(f"  {'rabbitmq':<11} {broker['cpu_ms_per_need']:>11.1f} {broker['cores']:>7.2f}   "
          f"{broker['nodes']} nodes of {args.broker_node_cores:g} cores")
    box = ours["saturation_per_s"]
    print(f"\none {result['machine']['cores']}-core box kept up with {box:.1f} needs/s "
          f"({box * 3600:,.0f} an hour) with every process on it, reads aside")
    return 0


if __name__ == "__main__":
    sys.exit(main())

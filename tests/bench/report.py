"""Figures from raw samples, the printed table, the JSON result and the plot."""
import json
import math


def percentile(values, q):
    """The q-th percentile (nearest rank); None for no values; inf stays inf."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(seconds):
    if seconds is None:
        return None
    return None if math.isinf(seconds) else round(seconds * 1000, 1)


def latencies_ms(samples):
    return {f"p{q}": ms(percentile(samples, q)) for q in (50, 90, 99)}


def fmt(value, unit=""):
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.1f}{unit}"
    return f"{value}{unit}"


def print_steps(flow, data):
    print(f"\n  {flow}: registration → need_linked")
    print(f"  {'offered/s':>10} {'linked/s':>9} {'linked':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}  cpu cores")
    again = data.get("saturation_again") or []
    for n, s in enumerate(data["steps"] + again):
        lat = s["latency_ms"]
        print(f"  {s['offered_per_s']:>10.0f} {s['throughput_per_s']:>9.1f} {s['linked']:>4}/{s['sent']:<4}"
              f"{fmt(lat['p50']):>8} {fmt(lat['p90']):>8} {fmt(lat['p99']):>8}  {s['cpu_cores_total']:.2f}"
              + (f"  shed {s['shed']} (sent again)" if s.get("shed") else "")
              + ("  again" if n >= len(data["steps"]) else "  saturated" if s["saturated"] else ""))
    if again:
        repeated = ", ".join(f"{s['throughput_per_s']:.1f}" for s in again)
        print(f"  {flow}: saturation {data['saturation_per_s']:.1f} needs/s, the median of the rise's most "
              f"({data['saturation_rise_per_s']:.1f}) and its load offered again ({repeated})")


def print_cpu(flow, data):
    if not data["cpu_ms_per_need"]:
        return
    print(f"  {flow}: CPU ms per need at {data['cpu_ms_per_need_at']:g}/s (all / less idle):")
    print("    " + "  ".join(f"{label} {value:.1f}/{data['cpu_ms_per_need_marginal'].get(label, 0):.1f}"
                           for label, value in data["cpu_ms_per_need"].items()))
    idle = data.get("idle_cores") or {}
    print(f"  {flow}: idle: {sum(idle.values()):.2f} cores ("
          + ", ".join(f"{k} {v:.3f}" for k, v in idle.items() if v >= 0.001) + ")")


def print_store(flow, data):
    """The local store server's own figures: operations per linked need by kind, its CPU."""
    store = data.get("store")
    if not store:
        return
    print(f"  {flow}: store server ({store['server']} {store.get('version') or ''}):")
    print(f"  {'offered/s':>10} {'ops/need':>9}  " + " ".join(f"{k:>7}" for k in STORE_KINDS)
          + f"  {'ms/need':>8} {'cores':>6} {'box':>5}")
    for s in data["steps"]:
        st = s["store"]
        per = st.get("per_need", {})
        print(f"  {s['offered_per_s']:>10.0f} {fmt(per.get('total')):>9}  "
              + " ".join(f"{fmt(per.get(k)):>7}" for k in STORE_KINDS)
              + f"  {fmt(st['cpu_ms_per_need']):>8} {st['cores']:>6.2f} {st['share_of_box']:>5.0%}")
    idle = store.get("idle_ops_per_s") or {}
    print(f"  {flow}: the store idle: {sum(idle.values()):.1f} ops/s ("
          + ", ".join(f"{k} {v:g}" for k, v in idle.items() if v) + ")")


def print_messages(flow, data):
    """The broker's own counters for the flow's vhost over the linkage steps."""
    m = data.get("messages")
    if not m:
        return
    print(f"  {flow}: broker messages per linked need (RabbitMQ's vhost counters over the {m['offered_per_s']:g}/s "
          "step; the bench's "
          f"station reports and listeners included, as in every flow): published {fmt(m['per_need']['published'])}, "
          f"delivered {fmt(m['per_need']['delivered'])} ({m['published']:,} and {m['delivered']:,} for "
          f"{m['linked']:,} needs" + ("" if m["settled"] else "; the counters had not settled") + ")")


def print_messages_against_floor(messages):
    for ours, kinds in messages.items():
        for kind, m in kinds.items():
            if m["difference"] is None:
                continue
            target = " (target: within one)" if kind == "published" else ""
            print(f"  {kind} per need: {'ours' if ours == 'wushe' else ours} {m['ours']:.1f}, floor {m['floor']:.1f}, "
                  f"{m['difference']:+.1f}{target}")


STORE_KINDS = ("insert", "query", "update", "delete", "getmore", "command")


def print_reads(flow, reads):
    for mode in ("closed", "closed_without_resident", "paced", "overload"):
        r = (reads or {}).get(mode)
        if not r:
            continue
        label = {"closed": "closed loop", "closed_without_resident": "closed, no resident",
                 "paced": f"paced at {r.get('offered_per_s', 0):,.0f}/s",
                 "overload": f"paced at {r.get('offered_per_s', 0):,.0f}/s"}[mode]
        ops = r.get("store_ops_per_read")
        print(f"  {flow}: GET /needs/{{id}} {label:<20} {r['per_s']:>8,.0f} req/s  "
              f"p50 {fmt(r['latency_ms']['p50'])} ms  p99 {fmt(r['latency_ms']['p99'])} ms  errors {r['errors']}"
              + (f"\n      of {r['requests']:,}: answered {r['requests'] - r['shed'] - r['unanswered'] - r['errors']:,}, "
                 f"shed (503) {r['shed']:,}, unanswered {r['unanswered']:,}; within 1 s {r['within_1s']:,}"
                 + (f"; goodput {fmt(r['goodput_ratio'])}× the closed loop "
                    f"({fmt(r.get('goodput_per_gateway_core_ratio'))}× per gateway core), from {r['senders']} senders"
                    if mode == "overload" else "")
                 if mode in ("paced", "overload") and "shed" in r else "")
              + (f"\n      in {len(r['rounds_per_s'])} rounds: " + ", ".join(f"{v:,.0f}" for v in r["rounds_per_s"])
                 + " req/s" if r.get("rounds_per_s") else "")
              + ("\n      cores busy: " + ", ".join(f"{k} {v:.2f}" for k, v in r["cpu_cores"].items())
                 if r.get("cpu_cores") else "")
              + (f"\n      store ops a read: {ops['total']:g} ("
                 + ", ".join(f"{k} {v:g}" for k, v in ops.items() if v and k != "total") + ")" if ops else ""))


def print_scale_out(scale_out):
    """One → two instances of a service, per flow: saturation, p99 at each load, reads."""
    for flow, data in scale_out.items():
        if "skipped" in data:
            print(f"\n  {flow}: {data['service']} not scaled: {data['skipped']}")
            continue
        one, two, ratio = data["instances"]["1"], data["instances"]["2"], data["ratio"]
        print(f"\n  {flow}: {data['service']} ×1 → ×2 ({data['chosen']}): saturation "
              f"{one['saturation_per_s']:.1f} → {two['saturation_per_s']:.1f} needs/s ({fmt(ratio['saturation'])}×), "
              f"reads {fmt(one['reads_per_s'])} → {fmt(two['reads_per_s'])} req/s ({fmt(ratio['reads'])}×)")
        for rate in sorted(set(one["p99_ms"]) | set(two["p99_ms"]), key=float):
            print(f"      p99 at {rate:>4}/s: {fmt(one['p99_ms'].get(rate)):>9} → {fmt(two['p99_ms'].get(rate)):>9} ms")


def print_topologies(topologies):
    """Ours on the embedded store beside ours on the local store server, and local ÷ embedded."""
    if not topologies:
        return
    a, b, over = topologies["embedded"], topologies["local"], topologies["local_over_embedded"]
    x = lambda v: "—" if v is None else f"{v:.2f}×"  # noqa: E731
    print(f"\n  ours, embedded store vs local store server ({topologies['store']}):")
    print(f"  {'':<34} {'embedded':>10} {'local':>10} {'local/emb':>10}")
    rows = [("saturation (needs/s)", "saturation_per_s"), ("services' CPU ms a need", "services_cpu_ms_per_need"),
            ("RabbitMQ's CPU ms a need", "rabbitmq_cpu_ms_per_need"), ("store server's CPU ms a need", None),
            ("reads, closed loop (req/s)", "reads_closed_per_s"),
            ("reads, no resident (req/s)", "reads_closed_without_resident_per_s"),
            ("reads, paced (answered/s)", "reads_paced_per_s")]
    for label, key in rows:
        if key is None:
            print(f"  {label:<34} {'in-process':>10} {fmt(b['store_cpu_ms_per_need']):>10}")
            continue
        print(f"  {label:<34} {fmt(a[key]):>10} {fmt(b[key]):>10} {x(over[key]):>10}")
    for rate in sorted(set(a["p99_ms"]) | set(b["p99_ms"]), key=float):
        print(f"  {'p99 at ' + rate + '/s (ms)':<34} {fmt(a['p99_ms'].get(rate)):>10} "
              f"{fmt(b['p99_ms'].get(rate)):>10} {x(over['p99_at'].get(rate)):>10}")
    print(f"  (CPU per need at {a['cpu_ms_per_need_at']:g} and {b['cpu_ms_per_need_at']:g} needs/s, idle burn out)")


def write_json(path, result):
    with open(path, "w") as out:
        json.dump(result, out, ensure_ascii=False, indent=2)


def plot(path, result):
    """p50 and p99 linkage latency against offered load, ours (on each store) and the floor's, log
    scale; and the p99 of ours on the local store with two of its busiest service."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    colours = {"wushe": "#c0392b", "floor": "#7f8c8d", "wushe-local": "#2471a3"}
    for flow, data in (result.get("scale_out") or {}).items():
        if "instances" in data and flow in result["flows"]:
            steps = [s for s in data["instances"]["2"]["steps"] if s["latency_ms"]["p99"] is not None]
            ax.plot([s["offered_per_s"] for s in steps], [s["latency_ms"]["p99"] for s in steps], "-.", marker="s",
                    color=colours.get(flow), alpha=0.6, label=f"{flow} p99, {data['service']} ×2")
    for flow, data in result["flows"].items():
        steps = [s for s in data["steps"] if s["latency_ms"]["p50"] is not None]
        if not steps:
            continue
        x = [s["offered_per_s"] for s in steps]
        for q, style in (("p50", "--"), ("p99", "-")):
            y = [s["latency_ms"][q] if s["latency_ms"][q] is not None else float("nan") for s in steps]
            ax.plot(x, y, style, marker="o", color=colours.get(flow, None), label=f"{flow} {q}")
        ax.axvline(data["saturation_per_s"], color=colours.get(flow, None), linewidth=0.8, linestyle=":",
                   label=f"{flow} saturation {data['saturation_per_s']:.0f}/s")
    ax.set_yscale("log")
    ax.set_xlabel("offered load (needs/s, open loop)")
    ax.set_ylabel("registration → linked (ms)")
    ax.axhline(100, color="#2c3e50", linewidth=0.6, linestyle="-.", label="p99 target 100 ms")
    ax.set_title(f"Registration → linked vs offered load ({result['machine']['cores']} cores, one box)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


FAMILIES = [  # (family, what a frame's file path contains), first match wins
    ("store", ("mongomock/", "wushe/runtime/mongomock_speedups.py", "/copy.py", "bson/", "pymongo/")),
    ("validation", ("marshmallow/",)),
    ("logging", ("structlog/", "logging/")),
    ("messaging", ("amqp/", "kombu/", "vine/", "nameko/amqp/", "eventlet/greenio/", "/socket.py", "/ssl.py")),
    ("http", ("werkzeug/", "eventlet/wsgi.py", "http/", "email/")),
    ("our code", ("wushe/", "services/", "gateway/", "(service.py", "(readmodel.py", "(web.py",
                  "(access.py", "(domain.py", "(store.py", "(pledging.py", "(residents.py")),
    ("metrics", ("prometheus_client/",)),
    ("json", ("json/",)),
    ("framework", ("nameko/", "eventlet/", "greenlet", "contextlib.py", "threading.py")),
]


def family(frame):
    for name, needles in FAMILIES:
        if any(n in frame for n in needles):
            return name
    return "other"


def busy_samples(path):
    """(frames, count) for each stack of py-spy's collapsed output in which the process was
    running, not waiting in eventlet's hub for I/O."""
    for line in open(path, encoding="utf-8", errors="replace"):
        stack, _, count = line.rstrip().rpartition(" ")
        frames = stack.split(";")
        if count.isdigit() and not _idle(frames):
            yield frames, int(count)


def families(path):
    """Where a process's CPU went, by family of the innermost frame (its self time)."""
    counts, total = {}, 0
    for frames, count in busy_samples(path):
        total += count
        name = family(frames[-1])
        counts[name] = counts.get(name, 0) + count
    return {name: round(n / total, 3) for name, n in sorted(counts.items(), key=lambda kv: -kv[1])} if total else {}


def _idle(frames):
    if frames == [""]:  # a thread py-spy found no Python frame in: not running our code
        return True
    return any("wait (eventlet/hubs" in f or "hubs/epolls.py" in f and "do_poll" in f for f in frames[-2:])


def hot_spots(path, top=15):
    """From py-spy's collapsed stacks: the functions most often on the stack (inclusive share
    of the samples), eventlet's idle hub left out — where a service's CPU goes."""
    inclusive, total = {}, 0
    for frames, count in busy_samples(path):
        total += count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
    ranked = sorted(inclusive.items(), key=lambda kv: -kv[1])
    return [{"frame": frame, "share": round(n / total, 3)} for frame, n in ranked[:top]] if total else []

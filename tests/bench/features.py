"""`--profile features`: what each of ours' features costs a linked need, on each process's own
CPU clock, over the first step at or above the profiled rate (tests/bench/timing/sitecustomize.py
times them inside our services; the embedded store only)."""
import json
import os
import signal
import time
from pathlib import Path

from wushe.runtime.store import is_embedded

TIMING = Path(__file__).with_name("timing")
NAME = "features"


def wanted(options, name, store):
    """Ours, on the embedded store (each process's own: no store server, and MONGO_URI unset)."""
    return (options.profile == NAME and name == "wushe" and store is None
            and is_embedded(os.environ.get("MONGO_URI", "")))


def _folder(options):
    return Path(options.out).resolve() / "features"


def env(options, name, store):
    """What our processes need to be timed (None: not this flow)."""
    if not wanted(options, name, store):
        return None
    _folder(options).mkdir(parents=True, exist_ok=True)
    path = os.pathsep.join(p for p in (str(TIMING), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "WUSHE_BENCH_FEATURES": str(_folder(options))}


def totals(procs, out):
    """Each process's totals now: {label: {"cpu_seconds", "features": {feature: seconds}}}."""
    pids = procs.pids()
    for label, pid in list(pids.items()):
        (out / f"{pid}.json").unlink(missing_ok=True)
        try:
            os.kill(pid, signal.SIGUSR1)
        except ProcessLookupError:  # gone (the step reports it): no figures of its own
            del pids[label]
    found, deadline = {}, time.monotonic() + 5
    while len(found) < len(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
        for label, pid in pids.items():
            path = out / f"{pid}.json"
            if label not in found and path.exists():
                try:
                    found[label] = json.loads(path.read_text())
                except ValueError:  # still being written
                    continue
    return found


def start(options, procs, name, rate, store):
    if not wanted(options, name, store) or rate != options.profiled_rate():
        return None
    return _folder(options), totals(procs, _folder(options))


def finish(started, procs, linked):
    """ms a linked need, by process: the process's CPU and each feature's own."""
    out, before = started
    after = totals(procs, out)
    result = {}
    if not linked:
        return result
    for label, now in after.items():
        then = before.get(label, {"cpu_seconds": 0.0, "features": {}})
        features = {feature: round(1000 * (spent - then["features"].get(feature, 0.0)) / linked, 3)
                    for feature, spent in now["features"].items()}
        result[label] = {"process": round(1000 * (now["cpu_seconds"] - then["cpu_seconds"]) / linked, 3),
                         "features": features}
    return result


def print_table(flow, timed, rate):
    if not timed:
        return
    labels = list(timed)
    features = sorted({f for t in timed.values() for f in t["features"]})
    print(f"  {flow}: CPU ms a linked need at {rate:g}/s, each feature's own (--profile features):")
    print("    " + f"{'':32}" + "".join(f"{label:>12}" for label in labels) + f"{'all':>10}")
    for row in ["the process", *features]:
        values = [timed[label]["process"] if row == "the process" else timed[label]["features"].get(row, 0.0)
                  for label in labels]
        print("    " + f"{row:32}" + "".join(f"{v:12.2f}" for v in values) + f"{sum(values):10.2f}")

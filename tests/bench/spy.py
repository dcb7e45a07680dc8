"""py-spy on our services during a bench: collapsed stacks (speedscope.app or flamegraph.pl draw
them) and each process's time by family (report.families)."""
import subprocess
import sys
from pathlib import Path

from tests.bench import features, report


def linkage(options, procs, name, rate):
    """Our services (all, or those named) during the first step at or above the profiled rate."""
    if name != "wushe" or options.profile in ("", features.NAME):
        return None
    if rate != options.profiled_rate():
        return None
    wanted = [label for label in procs.pids() if options.profile == "all"
              or label.split("#")[0] in options.profile.split(",")]
    return record(options, procs, wanted, options.seconds_at(rate), f"linkage-{procs.label}")


def reads(options, procs, name, rounds=1):
    """The gateways during the closed-loop reads of all needs. In rounds, the other flows read
    theirs between two: the recording spans twice the phase (py-spy leaves idle time out)."""
    if name != "wushe" or options.profile in ("", features.NAME) or options.reads_seconds <= 0:
        return None
    gateways = [label for label in procs.pids() if label.startswith("gateway")]
    seconds = options.reads_seconds * (2 if rounds > 1 else 1)
    return record(options, procs, gateways, seconds, f"reads-{procs.label}")


def record(options, procs, labels, seconds, tag):
    py_spy = Path(sys.executable).with_name("py-spy")
    spies = {}
    for label in labels:
        out = Path(options.out) / f"profile-{tag}-{label.replace('#', '-')}.txt"
        command = [str(py_spy), "record", "--nonblocking", "--format", "raw", "-r", "67", "-o", str(out),
                   "-d", str(max(1, int(seconds))), "-p", str(procs.pids()[label])]
        spies[label] = (subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out)
    return spies


def finish(spies, figures):
    found = {}
    for label, (proc, out) in spies.items():
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        if out.exists():
            found[label] = {"stacks": str(out), "families": report.families(out), "top": report.hot_spots(out)}
    return {"offered_per_s": figures["offered_per_s"], "services": found}

"""`make bench` in its tiny configuration: it runs the floor and ours on both stores (the embedded
store in each process, a local store server the processes share) and writes its JSON and plot.
Only that it runs is checked here; what it measures is a benchmark's business, never a test's."""
import json
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import requests

from tests.bench.platform import AUTH, MANAGEMENT

ROOT = Path(__file__).resolve().parents[2]


def test_make_bench_quick_writes_its_result(tmp_path):
    out = tmp_path / "bench"
    done = subprocess.run(["make", "-s", "bench", f"BENCH_ARGS=--quick --out {out}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads((out / "bench.json").read_text())
    assert set(result["flows"]) == {"floor", "wushe", "wushe-local"}
    for flow in result["flows"].values():
        step = flow["steps"][0]
        assert step["sent"] > 0 and step["linked"] == step["sent"], step
        assert set(step["latency_ms"]) == {"p50", "p90", "p99"}
        assert flow["cpu_ms_per_need"]["gateway"] > 0
        assert flow["reads"]["closed"]["requests"] > 0
        assert flow["reads"]["edge"]["closed"]["requests"] > 0  # and through the edge in front
        assert flow["messages"]["published"] > 0 and flow["messages"]["per_need"]["delivered"] > 0  # the broker's
    assert "saturation" in result["ratios"] and "saturation" in result["ratios_local"]
    shared = result["ratios"]["cpu_per_need_at"]  # the quick step's one load, which both flows keep up with
    assert shared and all(ratio > 0 for ratio in shared.values()), shared
    store = result["flows"]["wushe-local"]["store"]
    assert store["at"]["per_need"]["total"] > 0 and store["at"]["cpu_ms_per_need"] > 0  # the server's own counters
    assert set(result["topologies"]) >= {"embedded", "local", "local_over_embedded"}
    assert (out / "latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(result["messages"]) == {"wushe", "wushe-local"}
    assert "published per need: ours" in done.stdout
    assert "ours / floor" in done.stdout and "embedded store vs local store server" in done.stdout


def test_profile_features_times_each_feature_inside_our_processes(tmp_path):
    """`--profile features`: each of our processes reports its CPU a need and, within it, each
    feature's own share, from inside the running services (tests/bench/timing/)."""
    out = tmp_path / "bench"
    done = subprocess.run([sys.executable, "-m", "tests.bench", "--quick", "--flows", "wushe", "--store", "embedded",
                           "--profile", "features", "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    timed = json.loads((out / "bench.json").read_text())["flows"]["wushe"]["features"]
    by_process = timed["ms_per_need"]
    assert set(by_process) == {"community", "orgs", "workers", "volunteers", "charity", "gateway"}
    for label, figures in by_process.items():
        own = figures["features"]
        # every service checks the events it receives, keeps its changes in the store and logs them
        assert own["events checked on arrival"] > 0 and own["the store"] > 0 and own["log lines"] > 0, (label, own)
        assert 0 < sum(own.values()) < figures["process"], (label, figures)
    assert by_process["gateway"]["features"]["the read model's projection"] > 0
    assert by_process["community"]["features"]["events checked when stamped"] > 0
    assert "each feature's own" in done.stdout


def test_a_bench_stopped_with_sigterm_leaves_no_process_and_no_vhost(tmp_path):
    """Stopped part-way (a kill, a CI timeout), the bench still stops the services it started — each
    in a session of its own, which a signal to the bench's group does not reach — and deletes its
    vhosts."""
    bench = subprocess.Popen([sys.executable, "-m", "tests.bench", "--quick", "--flows", "floor,wushe", "--store",
                              "embedded", "--out", str(tmp_path / "bench")], cwd=ROOT, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    started, ours = [], set()
    try:
        for line in bench.stdout:  # until ours is up, the floor's services with it
            if "wushe: idle" in line:
                break
        started = psutil.Process(bench.pid).children(recursive=True)
        ours = {v for v in _vhosts() if v.startswith("wushe-bench-")}
        assert len(started) >= 12 and len(ours) >= 2, (started, ours)
        bench.send_signal(signal.SIGTERM)
        code = bench.wait(timeout=60)
    finally:
        if bench.poll() is None:
            bench.kill()
        left = [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        vhosts = ours & _vhosts()
        for process in left:  # not for the next test to meet
            process.kill()
        for vhost in vhosts:
            requests.delete(f"{MANAGEMENT}/vhosts/{vhost}", auth=AUTH, timeout=30)
    assert (code, left, vhosts) == (128 + signal.SIGTERM, [], set())


def _vhosts():
    return {v["name"] for v in requests.get(f"{MANAGEMENT}/vhosts", auth=AUTH, timeout=10).json()}

"""A real Prometheus (Debian's package, `make prometheus`) scrapes the running platform every
second, as an operator's would: five needs registered in a district new to the platform must read
as exactly five through `increase()`, which sees a counter's first step only when the series was
scraped at zero before it (README, "Metrics")."""
import math
import shutil
import sys
import subprocess
import time
import uuid
from urllib.parse import urlsplit

import pytest
import requests
import yaml

from tests.conftest import wait_for
from tests.e2e.world import need, ok
from tests.netports import free_port

pytestmark = pytest.mark.e2e
PROMETHEUS = shutil.which("prometheus")
NEEDS = 5


class Prometheus:
    """`prometheus` on a free port, with a temporary config and data folder."""

    def __init__(self, folder, targets):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {"global": {"scrape_interval": "1s", "scrape_timeout": "900ms", "evaluation_interval": "1s"},
                  "scrape_configs": [{"job_name": "wushe", "metrics_path": "/metrics",
                                      "static_configs": [{"targets": targets}]}]}
        (folder / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
        self.log = open(folder / "prometheus.log", "wb")
        self.process = subprocess.Popen(
            [PROMETHEUS, f"--config.file={folder / 'prometheus.yml'}", f"--storage.tsdb.path={folder / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--web.enable-lifecycle"],
            stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self):
        def ready():
            assert self.process.poll() is None, f"prometheus exited: {self.process.returncode}"
            return requests.get(f"{self.url}/-/ready", timeout=1).status_code == 200
        wait_for(ready, timeout=30, interval=0.2)

    def query(self, expr, at=None):
        params = {"query": expr}
        if at is not None:
            params["time"] = at
        answer = requests.get(f"{self.url}/api/v1/query", params=params, timeout=10).json()
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@pytest.fixture
def prometheus(platform, tmp_path):
    """Scraping what the platform serves: the gateway's /metrics (in one process, the only
    endpoint), and on the process topology every service process's metrics port."""
    if not PROMETHEUS:
        pytest.skip("prometheus is not installed: `make prometheus` (deploy/ensure-prometheus.sh) installs it")
    urls = [f"{platform.base}/metrics"] + (platform.topology.metrics_urls() if platform.topology else [])
    server = Prometheus(tmp_path, [urlsplit(u).netloc for u in urls])
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def test_increase_counts_every_need_of_a_new_district_exactly(platform, prometheus):
    started = time.monotonic()
    district = f"tianjin/p{uuid.uuid4().hex[:8]}"
    street, community = f"{district}/jie", f"{district}/jie/she"
    for path, level in (("tianjin", "city"), (district, "district"), (street, "street"), (community, "community")):
        ok(platform.post("/regions", {"path": path, "name": path, "level": level}), 201)
    selector = f'wushe_needs_total{{event="registered",district="{district}"}}'

    # every target up, and the district's series scraped at zero before its first need
    wait_for(lambda: (lambda up: up and all(float(s["value"][1]) == 1 for s in up))(prometheus.query("up")),
             timeout=30, interval=0.2)
    zeros = wait_for(lambda: prometheus.query(selector), timeout=30, interval=0.2)
    assert len(zeros) == 11 * 4 and {float(s["value"][1]) for s in zeros} == {0.0}  # category × urgency

    for _ in range(NEEDS):
        ok(platform.post("/needs", need(community=community, category="errands", urgency="high",
                                        volunteers=0, rice=0, worker=False, organisation=False)), 202)
    counted = f"sum({selector})"
    wait_for(lambda: (lambda r: r and float(r[0]["value"][1]) == NEEDS)(prometheus.query(counted)),
             timeout=30, interval=0.2)

    # the raw samples of the one series that moved: scraped at 0 first, then at 5
    series = f'wushe_needs_total{{event="registered",district="{district}",category="errands",urgency="high"}}'
    [raw] = prometheus.query(f"{series}[10m]")
    values = [(float(t), float(v)) for t, v in raw["values"]]
    assert values[0][1] == 0 and values[-1][1] == NEEDS and len(values) >= 2
    first, last = values[0][0], values[-1][0]
    # increase() at the last sample over a range reaching back past the first: no extrapolation at
    # either end (it stops at the end's sample, and at the start a counter scraped at 0 is taken to
    # have started there), so the answer is exact, with no rounding
    window = math.ceil(last - first) + 2
    [answer] = prometheus.query(f"sum(increase({selector}[{window}s]))", at=f"{last:.3f}")
    assert float(answer["value"][1]) == NEEDS
    # and so does a dashboard's hour evaluated there: before this change it read 0 (the series
    # first appeared at 5)
    [hour] = prometheus.query(f"sum(increase({selector}[1h]))", at=f"{last:.3f}")
    assert float(hour["value"][1]) == NEEDS
    print(f"prometheus e2e: {time.monotonic() - started:.1f} s, {len(values)} samples of the series, "
          f"window {window} s", file=sys.stderr)

"""Overload that sheds (README, "Overload sheds"): a gateway process serves at most WUSHE_MAX_IN_FLIGHT
requests at once; one more is answered at once with a 503 problem and Retry-After, never queued,
while probes and scrapes are still answered. Containers only: a route is slowed in this process."""
import time

import eventlet
import pytest
import requests

from gateway import docs

pytestmark = pytest.mark.e2e
LIMIT = 3


def shed_so_far(base):
    text = requests.get(base + "/metrics", timeout=10).text
    return float(next(line.split()[1] for line in text.splitlines() if line.startswith("wushe_http_shed_total ")))


@pytest.fixture
def slow_platform(request, config, monkeypatch):
    config["WUSHE"]["MAX_IN_FLIGHT"] = LIMIT
    page = docs.page

    def slow(*args):  # a docs page that takes a second: requests pile up in the gateway
        eventlet.sleep(1)
        return page(*args)
    monkeypatch.setattr(docs, "page", slow)
    return request.getfixturevalue("platform")


@pytest.mark.in_process("it slows the gateway's code in this process")
def test_past_its_limit_a_gateway_sheds_at_once_and_still_answers_probes(slow_platform):
    base = slow_platform.base

    def get(path):
        started = time.monotonic()
        answer = requests.get(base + path, timeout=10)
        return path, answer, time.monotonic() - started

    shed_before = shed_so_far(base)  # the process's counter: other tests' gateways count in it too
    pool = eventlet.GreenPool()
    slow = [pool.spawn(get, "/api/v1/docs") for _ in range(LIMIT)]
    eventlet.sleep(0.3)  # the first three are in flight now
    extra = [pool.spawn(get, path) for path in ["/api/v1/docs"] * 4 + ["/api/v1/openapi.json", "/healthz", "/metrics"]]
    answers = [g.wait() for g in extra] + [g.wait() for g in slow]

    shed = [(path, a, t) for path, a, t in answers if a.status_code == 503]
    assert [path for path, _, _ in shed] == ["/api/v1/docs"] * 4 + ["/api/v1/openapi.json"]
    for _, answer, took in shed:
        assert answer.headers["Content-Type"].startswith("application/problem+json")
        assert answer.headers["Retry-After"] == "1" and answer.json()["status"] == 503
        assert took < 0.5  # at once, not after the requests ahead of it
    served = {path: a.status_code for path, a, _ in answers if a.status_code != 503}
    assert served == {"/healthz": 200, "/metrics": 200, "/api/v1/docs": 200}
    assert sum(a.status_code == 200 for path, a, _ in answers if path == "/api/v1/docs") == LIMIT
    assert shed_so_far(base) - shed_before == 5
    # and once they are answered, the gateway takes requests again
    assert requests.get(base + "/api/v1/openapi.json", timeout=10).status_code == 200

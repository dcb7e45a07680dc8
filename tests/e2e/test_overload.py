"""Overload that sheds (README, "Overload sheds"): a gateway process serves at most WUSHE_MAX_IN_FLIGHT
requests at once when a read comes in (WUSHE_MAX_WRITES_IN_FLIGHT when a write does); one more is
answered at once with a 503 problem and Retry-After, never queued,
while probes and scrapes are still answered. The edge (HAProxy, deploy/edge/) in front holds a
gateway to its share and refuses the rest with the same 503. Containers only: a route is slowed
in this process."""
import subprocess
import sys
import time
from contextlib import contextmanager

import eventlet
import pytest
import requests

from gateway import docs
from tests.conftest import wait_for
from tests.netports import free_port

pytestmark = pytest.mark.e2e
LIMIT = 3


def shed_so_far(base):
    text = requests.get(base + "/metrics", timeout=10).text
    return float(next(line.split()[1] for line in text.splitlines() if line.startswith("wushe_http_shed_total ")))


@pytest.fixture
def slow_platform(request, config, monkeypatch):
    config["WUSHE"]["MAX_IN_FLIGHT"] = LIMIT
    config["WUSHE"]["MAX_WRITES_IN_FLIGHT"] = LIMIT + 1  # writes: one more
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


@pytest.mark.in_process("it slows the gateway's code in this process")
def test_a_write_is_admitted_past_the_reads_bound_up_to_its_own(slow_platform, monkeypatch):
    """A write waits on its service for most of its time in flight, so it has its own, larger
    bound (WUSHE_MAX_WRITES_IN_FLIGHT): with the reads' bound taken, a read is shed and a write
    is still served, until the writes' bound is taken too."""
    from gateway.service import GatewayService
    base = slow_platform.base
    call = GatewayService.call

    def slow_call(self, *args, **kwargs):  # a service that takes a second to answer
        eventlet.sleep(1)
        return call(self, *args, **kwargs)
    monkeypatch.setattr(GatewayService, "call", slow_call)

    def timed(send):
        started = time.monotonic()
        answer = send()
        return answer, time.monotonic() - started

    def region(path):
        return lambda: slow_platform.post("/regions", {"path": path, "name": path, "level": "city"})

    pool = eventlet.GreenPool()
    reads = [pool.spawn(timed, lambda: requests.get(base + "/api/v1/docs", timeout=10)) for _ in range(LIMIT)]
    eventlet.sleep(0.3)  # the reads' bound is taken
    read = pool.spawn(timed, lambda: requests.get(base + "/api/v1/docs", timeout=10))
    write = pool.spawn(timed, region("shenzhen"))
    eventlet.sleep(0.3)  # and now the writes' too
    second_write = pool.spawn(timed, region("wuhan"))

    (read_answer, read_took), (second_answer, second_took) = read.wait(), second_write.wait()
    assert read_answer.status_code == 503 and read_took < 0.5
    assert second_answer.status_code == 503 and second_took < 0.5
    assert second_answer.headers["Content-Type"].startswith("application/problem+json")
    assert write.wait()[0].status_code == 201, write.wait()[0].text
    assert [answer.status_code for answer, _ in (g.wait() for g in reads)] == [200] * LIMIT


def edge_refused_so_far(edge):
    """HAProxy's own count of the 5xx its integrators' frontend answered (its Prometheus exporter)."""
    text = requests.get(edge.metrics_url, timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("haproxy_frontend_http_responses_total{") and 'proxy="integrators"' in line
               and 'code="5xx"' in line)


def edge_in_front_of(platform, **settings):
    """The edge (deploy/edge/haproxy.cfg) in front of the platform's gateway, with these
    WUSHE_EDGE_* settings."""
    return edge_before([int(platform.base.rsplit(":", 1)[1])], **settings)


def edge_before(ports, **settings):
    """The edge in front of the gateways on these ports."""
    from wushe.ops.edge import Edge
    return Edge(ports, free_port(), metrics_bind=f"127.0.0.1:{free_port()}", settings=settings)


@pytest.fixture
def edge_in_front(slow_platform):
    """The edge giving the slowed gateway two requests at once (below its own limit of three)
    and queueing two more."""
    with edge_in_front_of(slow_platform, WUSHE_EDGE_PER_GATEWAY="2", WUSHE_EDGE_QUEUE="2",
                          WUSHE_EDGE_WAIT="10s") as edge:
        yield slow_platform, edge


@pytest.mark.in_process("it slows the gateway's code in this process")
def test_the_edge_holds_a_gateway_to_its_share_and_refuses_the_rest_at_once(edge_in_front):
    platform, edge = edge_in_front

    def get(path):
        started = time.monotonic()
        answer = requests.get(edge.url + path, timeout=20)
        return path, answer, time.monotonic() - started

    shed_before, refused_before = shed_so_far(platform.base), edge_refused_so_far(edge)
    pool = eventlet.GreenPool()
    first = [pool.spawn(get, "/api/v1/docs") for _ in range(2)]     # at the gateway
    eventlet.sleep(0.3)
    queued = [pool.spawn(get, "/api/v1/docs") for _ in range(2)]    # waiting at the edge
    eventlet.sleep(0.3)
    extra = [pool.spawn(get, "/api/v1/docs") for _ in range(3)]     # beyond the queue
    answers = {"first": [g.wait() for g in first], "queued": [g.wait() for g in queued],
               "extra": [g.wait() for g in extra]}

    for _, answer, took in answers["extra"]:  # the gateway's own 503, from the edge, at once
        assert answer.status_code == 503, answer.text
        assert answer.headers["Content-Type"].startswith("application/problem+json")
        assert answer.headers["Retry-After"] == "1"
        assert answer.json() == {"type": "https://wushe.dev/problems/503", "title": "Service unavailable",
                                 "status": 503, "detail": "the gateway is at capacity; try again shortly"}
        assert took < 0.5
    # the queued waited for the first two, and were served: nothing reached the gateway beyond
    # its share, so it shed nothing itself
    assert [a.status_code for _, a, _ in answers["first"] + answers["queued"]] == [200] * 4
    assert all(took > 1.5 for _, _, took in answers["queued"])
    assert shed_so_far(platform.base) == shed_before
    assert edge_refused_so_far(edge) - refused_before == 3
    assert requests.get(edge.url + "/healthz", timeout=10).status_code == 200


@pytest.mark.in_process("it slows the gateway's code in this process")
def test_a_request_that_waits_at_the_edge_its_longest_gets_the_gateways_503(slow_platform):
    with edge_in_front_of(slow_platform, WUSHE_EDGE_PER_GATEWAY="1", WUSHE_EDGE_WAIT="300ms") as edge:
        pool = eventlet.GreenPool()
        busy = pool.spawn(requests.get, edge.url + "/api/v1/docs", timeout=20)
        eventlet.sleep(0.3)
        started = time.monotonic()
        waited = requests.get(edge.url + "/api/v1/docs", timeout=20)
        took = time.monotonic() - started
        assert busy.wait().status_code == 200
    assert waited.status_code == 503 and 0.25 < took < 0.9
    assert waited.headers["Content-Type"].startswith("application/problem+json")
    assert waited.headers["Retry-After"] == "1" and waited.json()["status"] == 503


# a stand-in for a second gateway process, answering every request (its /readyz too) with 200
STAND_IN = """
import http.server, sys
class Answer(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"{}")
    def log_message(self, *args): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Answer).serve_forever()
"""


@contextmanager
def stand_in_gateway():
    """(its port, its process): a stand-in gateway process, killed on the way out."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", STAND_IN, str(port)])
    try:
        yield port, process
    finally:
        process.kill()


def test_a_request_the_edge_cannot_hand_to_a_gateway_that_died_goes_to_another(platform):
    """A gateway process that dies refuses connections: the edge gives the request to another
    gateway (nothing of it was sent), takes the dead one out at its first refusal, and no client
    sees it — not even in the seconds before its health check would have noticed."""
    with stand_in_gateway() as (port, second), edge_before([int(platform.base.rsplit(":", 1)[1]), port]) as edge:
        wait_for(lambda: edge_servers_up(edge) == 2)
        second.kill()  # kill -9: its port refuses connections; the edge's next check is seconds away
        second.wait()
        answers = [platform.session.get(edge.url + "/api/v1/needs", timeout=10) for _ in range(20)]
        assert edge_servers_up(edge) == 1
    assert [a.status_code for a in answers] == [200] * 20, [a.text[:200] for a in answers if a.status_code != 200]


def edge_servers_up(edge):
    text = requests.get(edge.metrics_url, timeout=5).text
    return sum(1 for line in text.splitlines()
               if line.startswith('haproxy_server_status{proxy="gateways"') and 'state="UP"' in line
               and line.endswith(" 1"))


def test_with_no_gateway_up_the_edge_says_so_in_its_503():
    """The last gateway gone, the edge answers at once that none is up — not that one is at
    capacity — as the same kind of problem, with when to try again."""
    with stand_in_gateway() as (port, only), edge_before([port]) as edge:
        wait_for(lambda: edge_servers_up(edge) == 1)
        assert requests.get(edge.url + "/api/v1/needs", timeout=10).status_code == 200
        only.kill()
        only.wait()
        answers = [requests.get(edge.url + path, timeout=10) for path in ("/api/v1/needs", "/api/v1/needs", "/readyz")]
    # the first request after the death finds the refusal and takes the gateway out; from then
    # on the edge answers itself
    for answer in answers[1:]:
        assert answer.status_code == 503, answer.text
        assert answer.headers["Content-Type"].startswith("application/problem+json")
        assert answer.headers["Retry-After"] == "2"
        assert answer.json() == {"type": "https://wushe.dev/problems/503", "title": "Service unavailable",
                                 "status": 503, "detail": "no gateway is up; try again shortly"}
    assert answers[0].status_code == 503

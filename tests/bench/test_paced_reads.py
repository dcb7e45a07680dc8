"""The bench's paced reads (open loop, over libcurl): every request due is accounted for once —
answered with its status, or given up on unsent — and its latency runs from its due time, so a
slow server shows as late answers, not as fewer requests. The server is a process of its own:
the suite runs monkey-patched by eventlet, and libcurl waits outside eventlet's hub."""
import json
import math
import subprocess
import sys
import urllib.request

import pytest

from tests.bench.load import Flow, Reads

SERVER = r'''
import json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
delay, seen = float(sys.argv[1]), []

class Need(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a gateway

    def do_GET(self):
        if self.path == "/seen":
            body = json.dumps(seen).encode()
        else:
            time.sleep(delay)
            seen.append([self.path, self.headers.get("Authorization")])
            body = b'{"id": "x"}'
        self.send_response(503 if self.path.endswith("/busy") else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

httpd = ThreadingHTTPServer(("127.0.0.1", 0), Need)
print(httpd.server_address[1], flush=True)
httpd.serve_forever()
'''


@pytest.fixture
def serve(tmp_path):
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    started = []

    def start(delay=0.0):
        process = subprocess.Popen([sys.executable, str(script), str(delay)], stdout=subprocess.PIPE, text=True)
        started.append(process)
        port = int(process.stdout.readline())
        return port, lambda: json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/seen", timeout=5).read())
    yield start
    for process in started:
        process.kill()
        process.wait()


def test_every_request_due_is_answered_with_its_status(serve):
    port, seen = serve()
    results, elapsed = Reads(Flow("t", [port], token="k"), ["need-a", "busy"]).paced(200, 1.0, senders=8)
    requests = seen()
    assert len(results) == 200 == len(requests)
    assert {status for _, status in results} == {200, 503}
    assert sum(1 for _, status in results if status == 503) == sum(1 for p, _ in requests if p.endswith("/busy"))
    assert all(auth == "Bearer k" and path.startswith("/api/v1/needs/") for path, auth in requests)
    assert all(0 <= latency < 1.0 for latency, _ in results)
    assert 0.9 < elapsed < 3.0  # paced over the second asked for, not sent at once


def test_a_slow_server_makes_late_answers_and_unsent_requests_not_fewer_due(serve):
    # 2 connections to a server taking 50 ms a request: 40/s served of the 100/s due
    port, seen = serve(delay=0.05)
    results, _ = Reads(Flow("t", [port]), ["need-a"]).paced(100, 1.0, senders=2, give_up=0.5)
    assert len(results) == 100
    unsent = [latency for latency, status in results if status == 0]
    answered = sorted(latency for latency, status in results if status == 200)
    assert unsent and all(math.isinf(latency) for latency in unsent)
    assert len(answered) + len(unsent) == 100 and len(answered) == len(seen())
    assert answered[-1] > 0.4  # the last answered waited for a connection: late from its due time

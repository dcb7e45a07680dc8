"""The bench's clients send a request a gateway shed (503 with Retry-After) again for as long as
the step's drain waits for its need, as an integrator would, instead of giving up after five
tries: a burst of sheds then shows as needs linked late, not as needs never linked."""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.bench.load import Http


class Shedding(BaseHTTPRequestHandler):
    """Answers 503 with `Retry-After` to the first `sheds` requests, then 201."""
    sheds = 0
    seen = 0

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).seen += 1
        shed = type(self).seen <= type(self).sheds
        body = b'{"status": 503}' if shed else b'{"id": "need-1"}'
        self.send_response(503 if shed else 201)
        if shed:
            self.send_header("Retry-After", "0.02")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def gateway():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Shedding)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield Shedding, Http([server.server_address[1]], token="")
    server.shutdown()
    server.server_close()


def send(gateway, sheds, for_seconds):
    """One registration through a gateway that sheds its first `sheds` answers: (status, the
    sheds counted, the requests the gateway saw)."""
    handler, http = gateway
    handler.sheds, handler.seen = sheds, 0
    shed = []
    status, _ = http.request_retrying_shed("POST", "/api/v1/needs", {"id": "need-1"}, shed=shed,
                                           for_seconds=for_seconds)
    return status, len(shed), handler.seen


def test_a_request_shed_more_than_five_times_is_sent_again_until_answered(gateway):
    status, shed, seen = send(gateway, sheds=8, for_seconds=5)
    assert status == 201
    assert shed == 8 and seen == 9


def test_a_request_still_shed_when_its_time_is_up_is_answered_503(gateway):
    status, shed, seen = send(gateway, sheds=10_000, for_seconds=0.3)
    assert status == 503
    assert 3 <= shed < seen  # sent again while there was time, then the last answer kept

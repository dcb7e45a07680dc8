"""The gateway's web server writes its line per request (WUSHE_ACCESS_LOG) only when asked to;
off, it does not even format it."""
import logging
from types import SimpleNamespace

import eventlet
import pytest
import requests

from gateway.web import GatewayWebServer


@pytest.mark.parametrize("access", [False, True])
def test_the_web_server_writes_a_line_per_request_only_with_the_access_log(caplog, access):
    caplog.set_level(logging.INFO, logger="nameko.web.server")
    web = GatewayWebServer()
    web.container = SimpleNamespace(config={"ACCESS_LOG": access})
    sock = eventlet.listen(("127.0.0.1", 0))
    server = web.get_wsgi_server(sock, lambda environ, start_response: (start_response("200 OK", []), [b"ok"])[1])

    def serve_one():
        connection, address = sock.accept()
        server.process_request([address, connection, "idle"])  # as eventlet's own loop hands it over
    serving = eventlet.spawn(serve_one)
    answer = requests.get(f"http://127.0.0.1:{sock.getsockname()[1]}/healthz", timeout=10,
                          headers={"Connection": "close"})
    serving.wait()
    sock.close()
    assert answer.status_code == 200 and answer.text == "ok"
    lines = [r.getMessage() for r in caplog.records if r.name == "nameko.web.server"]
    assert len(lines) == (1 if access else 0)
    if access:
        assert '"GET /healthz HTTP/1.1" 200' in lines[0]

"""The inventory: every route the gateway serves is in the OpenAPI document, every documented
route is served, and /api/v1 is the only version."""
import re

import pytest
from nameko.web.handlers import HttpRequestHandler
from werkzeug.routing import Map

from gateway.service import GatewayService
from tests.conftest import ADMIN_KEY
from tests.e2e.world import ok

pytestmark = pytest.mark.e2e
# served without a key and on purpose not in the document (API.md: operations), and the root that
# leads a browser to the docs page (any other path is a 404 problem from the web server's app,
# gateway.web.GatewayWsgiApp: there is no catch-all route)
UNDOCUMENTED = {"/healthz", "/readyz", "/metrics", "/"}


def served_url_map():
    """The werkzeug URL map the gateway's web server builds from its http entrypoints."""
    rules = [getattr(GatewayService, name).nameko_entrypoints for name in dir(GatewayService)
             if hasattr(getattr(GatewayService, name), "nameko_entrypoints")]
    handlers = [e for entrypoints in rules for e in entrypoints if isinstance(e, HttpRequestHandler)]
    return Map([h.get_url_rule() for h in handlers])


def test_every_served_route_is_documented_and_every_documented_route_served(platform):
    document = ok(platform.get("/openapi.json"), 200)
    documented = {(method.upper(), path) for path, operations in document["paths"].items() for method in operations}
    served = {(method, re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule))
              for rule in served_url_map().iter_rules() if rule.rule not in UNDOCUMENTED
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert served == documented
    assert all(path.startswith("/api/v1/") for _, path in documented)
    assert len(documented) >= 50
    # and the server really answers each of them (not with the catch-all's "no route")
    for method, path in sorted(documented):
        response = platform.session.request(method, platform.base + re.sub(r"{\w+}", "x", path), timeout=20)
        assert response.status_code < 500, (method, path, response.text)
        if response.status_code == 404:
            assert "no route" not in response.json()["detail"], (method, path)


@pytest.mark.parametrize("path", ["/api/v2/needs", "/api/needs", "/api/v0/needs", "/needs", "/api/v1", "/api/v1/",
                                  "/api/V1/needs", "/api/v1/needs/x/y/z", "/api/v1.1/needs"])
def test_only_v1_is_served_other_versions_are_404_problems(platform, path):
    response = platform.session.get(platform.base + path, headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                                    timeout=5)
    assert response.status_code == 404 and response.headers["Content-Type"].startswith("application/problem+json")
    assert response.json()["status"] == 404 and "no route" in response.json()["detail"]

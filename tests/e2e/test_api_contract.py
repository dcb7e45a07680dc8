"""The gateway's contract (API.md): errors, idempotency, pagination, statistics, inventory."""
import pytest
import requests

from gateway.service import GatewayService
from gateway.web import ROUTES
from tests.e2e.world import STREET, XINGHUA, need, ok, seed

pytestmark = pytest.mark.e2e
PROBLEM = "application/problem+json"
APP = "https://app.example.org"  # a browser page's origin, allowed below (WUSHE_CORS_ORIGINS)


@pytest.fixture
def config(config):
    """The platform of these tests answers CORS for two origins."""
    config["WUSHE"]["CORS_ORIGINS"] = [APP, "http://localhost:3000"]
    return config


def test_errors_are_problem_json_with_the_fields(platform):
    seed(platform)
    bad = platform.session.post(platform.base + "/api/v1/needs", data="{not json",
                                headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.headers["Content-Type"].startswith(PROBLEM)
    assert bad.json()["title"] == "Malformed JSON"

    invalid = platform.post("/needs", {"community": "tianjin/x", "category": "shopping", "urgency": "high",
                                       "description": "x", "requirements": {"volunteers": {"count": 0}},
                                       "surprise": 1})
    assert invalid.status_code == 422 and invalid.headers["Content-Type"].startswith(PROBLEM)
    errors = invalid.json()["errors"]
    assert set(errors) == {"community", "category", "requirements", "surprise"}
    assert "count" in errors["requirements"]["volunteers"]

    unknown_community = platform.post("/needs", need(community=f"{STREET}/nowhere"))
    assert unknown_community.status_code == 422 and "community" in unknown_community.json()["errors"]

    assert platform.get("/needs/need-nope").status_code == 404
    assert platform.get("/calls/call-nope").json()["status"] == 404
    missing = platform.get("/no/such/route")
    assert missing.status_code == 404 and missing.headers["Content-Type"].startswith(PROBLEM)
    unauthorised = requests.get(platform.base + "/api/v1/needs", timeout=5)
    assert unauthorised.status_code == 401 and unauthorised.json()["status"] == 401
    wrong_key = requests.get(platform.base + "/api/v1/needs", headers={"Authorization": "Bearer nope"}, timeout=5)
    assert wrong_key.status_code == 401
    for response in (bad, invalid, missing, unauthorised):
        assert "Traceback" not in response.text and "Error(" not in response.text


def test_chinese_text_round_trips(platform):
    region = ok(platform.post("/regions", {"path": "tianjin", "name": "天津市", "level": "city"}), 201)
    assert region["name"] == "天津市"
    assert ok(platform.get("/regions"), 200)["items"][0]["name"] == "天津市"
    assert platform.post("/regions", {"path": "tianjin/hexi/x", "name": "无上级", "level": "street"}).status_code == 422


def test_idempotency_key_answers_the_same_and_creates_nothing_new(platform):
    seed(platform)
    body = need(volunteers=0, rice=0)
    first = platform.post("/needs", body, headers={"Idempotency-Key": "hotline-2024-0001"})
    again = platform.post("/needs", body, headers={"Idempotency-Key": "hotline-2024-0001"})
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    other = platform.post("/needs", {**body, "urgency": "low"}, headers={"Idempotency-Key": "hotline-2024-0001"})
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["errors"]
    platform.wait_need(first.json()["id"], lambda n: n["status"] == "linked")
    assert len(ok(platform.get("/needs"), 200)["items"]) == 1


def test_lists_are_paginated_and_filtered_by_region(platform):
    seed(platform)
    ids = [ok(platform.post("/needs", need(volunteers=0, rice=0, worker=False, urgency="low")), 202)["id"]
           for _ in range(5)]
    for need_id in ids:
        platform.wait_need(need_id, lambda n: n["status"] == "linked")
    seen, cursor = [], None
    while True:
        page = ok(platform.get("/needs", params={"limit": 2, "cursor": cursor, "community": STREET}), 200)
        assert len(page["items"]) <= 2
        seen += [n["id"] for n in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(ids)
    assert ok(platform.get("/needs", params={"community": "tianjin/hexi"}), 200)["items"] == []
    assert ok(platform.get("/needs", params={"status": "escalated"}), 200)["items"] == []
    assert platform.get("/needs", params={"limit": 201}).status_code == 422
    assert platform.get("/needs", params={"status": "lost"}).status_code == 422


def test_statistics_count_what_stations_report(platform):
    seed(platform)
    need_id = ok(platform.post("/needs", need(volunteers=1, rice=5)), 202)["id"]
    call_id = platform.wait_need(need_id, lambda n: n["linkage"]["volunteers"].get("call_id"))[
        "linkage"]["volunteers"]["call_id"]
    ok(platform.post(f"/calls/{call_id}/claims", {"volunteer_id": "vol-0"}), 201)
    platform.wait_need(need_id, lambda n: n["status"] == "linked")
    ok(platform.post(f"/calls/{call_id}/completions", {"volunteer_id": "vol-0", "hours": 2}), 201)
    ok(platform.post(f"/needs/{need_id}/resolve", {"note": "送达"}), 200)
    platform.wait_need(need_id, lambda n: n["status"] == "resolved")
    stats = ok(platform.get("/stats", params={"region": XINGHUA}), 200)
    assert stats["needs"] == {"registered": 1, "by_status": {"resolved": 1}, "by_category": {"errands": 1}}
    assert stats["person_times_served"] == 2  # the resolved need and the volunteer's service
    assert stats["volunteer_hours"] == 2
    assert stats["resources_value_cents"] == 5 * 600
    assert stats["organisations"] == {"active": 0, "incubating": 0}
    assert ok(platform.get("/stats", params={"region": "tianjin/hexi"}), 200)["needs"]["registered"] == 0


def test_pledges_are_delivered_once(platform):
    lot_id = seed(platform)
    need_id = ok(platform.post("/needs", need(volunteers=0, rice=5)), 202)["id"]
    view = platform.wait_need(need_id, lambda n: n["status"] == "linked")
    pledge_id = view["linkage"]["resources"]["pledges"][0]["pledge_id"]
    assert ok(platform.post(f"/pledges/{pledge_id}/delivery"), 200)["state"] == "delivered"
    assert platform.post(f"/pledges/{pledge_id}/delivery").status_code == 409
    lot = next(l for l in ok(platform.get("/lots"), 200)["items"] if l["id"] == lot_id)
    assert (lot["reserved"], lot["delivered"], lot["available"]) == (0, 5, 95)
    platform.wait_need(need_id, lambda n: n["linkage"]["resources"]["state"] == "delivered")


def test_operations_endpoints(platform):
    assert requests.get(platform.base + "/healthz", timeout=5).json() == {"status": "ok"}
    ready = requests.get(platform.base + "/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json()["checks"] == {"broker": True, "store": True}
    seed(platform)
    station = ok(platform.get("/stations/station-taida"), 200)
    assert (station["workers"], station["certified"]) == (2, 1)
    traced = platform.get("/needs/need-nope", headers={"X-Correlation-Id": "hotline-ticket-42"})
    assert traced.headers["X-Correlation-Id"] == "hotline-ticket-42"
    assert platform.get("/needs").headers["X-Correlation-Id"]  # one is made up when none is given
    metrics = platform.metrics()
    assert 'wushe_http_request_seconds_count{method="POST",route="/api/v1/regions",status="201"}' in metrics
    assert "wushe_rpc_seconds_bucket" in metrics


def test_every_served_route_is_documented_and_every_documented_route_served(platform):
    document = ok(platform.get("/openapi.json"), 200)
    assert document["openapi"].startswith("3.")
    documented = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
    served = set()
    for name in dir(GatewayService):
        for entrypoint in getattr(getattr(GatewayService, name), "nameko_entrypoints", ()):
            if getattr(entrypoint, "url", "").startswith("/api/v1"):
                import re
                served.add((entrypoint.method, re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", entrypoint.url)))
    assert documented == served == {(r.method, r.openapi_path) for r in ROUTES}
    assert document["paths"]["/api/v1/needs"]["post"]["requestBody"]


def preflight(platform, path, origin, method="POST", headers="authorization, content-type"):
    return requests.options(platform.base + "/api/v1" + path, timeout=10,
                            headers={"Origin": origin, "Access-Control-Request-Method": method,
                                     "Access-Control-Request-Headers": headers})


def test_a_preflight_from_an_allowed_origin_is_answered_with_the_paths_methods(platform):
    answer = preflight(platform, "/needs", APP)
    assert answer.status_code == 204 and answer.content == b"" and "Content-Type" not in answer.headers
    assert answer.headers["Access-Control-Allow-Origin"] == APP
    assert answer.headers["Access-Control-Allow-Methods"] == answer.headers["Allow"] == "GET, HEAD, POST"
    assert {h.strip() for h in answer.headers["Access-Control-Allow-Headers"].split(",")} == {
        "Authorization", "Content-Type", "Idempotency-Key", "X-Correlation-Id"}
    assert "Origin" in answer.headers["Vary"]
    assert preflight(platform, "/keys/key-1", APP, "DELETE").headers["Access-Control-Allow-Methods"] == "DELETE"
    # a path no route has: no methods to allow
    missing = preflight(platform, "/nothing/here", APP)
    assert missing.status_code == 404 and missing.headers["Content-Type"].startswith(PROBLEM)


def test_answers_to_an_allowed_origin_say_so_and_expose_what_a_page_reads(platform):
    seed(platform)
    answer = platform.get("/needs", headers={"Origin": APP})
    assert answer.status_code == 200 and answer.headers["Access-Control-Allow-Origin"] == APP
    exposed = {h.strip() for h in answer.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"X-Correlation-Id", "Retry-After", "Location"} <= exposed and "Origin" in answer.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in answer.headers  # keys are bearer tokens, not cookies
    # problems too: a page must read why it was refused
    refused = requests.get(platform.base + "/api/v1/needs", headers={"Origin": "http://localhost:3000"}, timeout=5)
    assert refused.status_code == 401 and refused.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"


def test_an_origin_not_allowed_gets_no_cors_headers_and_its_preflight_a_405(platform):
    for origin in ("https://evil.example", APP + ".evil.example", APP.replace("https", "http"), "null"):
        answer = preflight(platform, "/needs", origin)
        assert answer.status_code == 405 and answer.headers["Content-Type"].startswith(PROBLEM)
        assert answer.headers["Allow"] == "GET, HEAD, POST"
        assert not any(h.lower().startswith("access-control-") for h in answer.headers)
        plain = platform.get("/needs", headers={"Origin": origin})
        assert plain.status_code == 200 and "Access-Control-Allow-Origin" not in plain.headers
        assert "Origin" in plain.headers["Vary"]  # the answer still depends on the Origin sent
    # an OPTIONS that is no preflight (no Access-Control-Request-Method), even from an allowed origin
    assert requests.options(platform.base + "/api/v1/needs", headers={"Origin": APP}, timeout=5).status_code == 405

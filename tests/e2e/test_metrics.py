"""The metrics catalog on /metrics after a need's whole flow: technical and business series,
with bounded labels only (no need id, no personal data)."""
import pytest
from nameko.testing.services import entrypoint_hook
from prometheus_client.parser import text_string_to_metric_families

from services.orgs.service import OrgsService
from services.volunteers.service import VolunteersService
from services.workers.service import WorkersService
from tests.conftest import wait_for
from tests.e2e.world import need, ok, seed

pytestmark = pytest.mark.e2e
DISTRICT = "tianjin/binhai"


def samples(platform):
    text = platform.metrics()
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(found, name, **labels):
    return sum(s.value for s in found if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def test_a_needs_flow_shows_in_the_metrics_catalog(platform, config, container_factory):
    seed(platform)
    need_id = ok(platform.post("/needs", need(volunteers=1, rice=5)), 202)["id"]
    call_id = platform.wait_need(need_id, lambda n: n["linkage"]["volunteers"].get("call_id"))[
        "linkage"]["volunteers"]["call_id"]
    ok(platform.post(f"/calls/{call_id}/claims", {"volunteer_id": "vol-0"}), 201)
    ok(platform.post(f"/calls/{call_id}/completions", {"volunteer_id": "vol-0", "hours": 2}), 201)
    platform.wait_need(need_id, lambda n: "need_linked" in [e["type"] for e in n["timeline"]])
    waiting = ok(platform.post("/needs", need(volunteers=2, rice=0, worker=False)), 202)["id"]  # a call left open
    platform.wait_need(waiting, lambda n: n["linkage"]["volunteers"]["state"] == "open")
    for service, timer in ((OrgsService, "measure"), (WorkersService, "measure"), (VolunteersService, "settle_calls")):
        container = container_factory(service, config)
        container.start()
        with entrypoint_hook(container, timer) as run:
            run()

    def measured(found):  # the flow's series, and the gauges the timers recount (in each process, their own)
        gauges = {s.name for s in found}
        return found if value(found, "wushe_need_linkage_seconds_count") and {
            "wushe_cases", "wushe_organisations", "wushe_calls_open", "wushe_stations_noncompliant"} <= gauges else None
    found = wait_for(lambda: measured(samples(platform)))
    assert value(found, "wushe_needs_total", event="registered", category="errands", urgency="high",
                 district=DISTRICT) >= 1
    assert value(found, "wushe_needs_total", event="linked", district=DISTRICT) >= 1
    assert value(found, "wushe_need_linkage_seconds_count", category="errands", urgency="high") >= 1
    assert value(found, "wushe_volunteer_hours_total", district=DISTRICT) >= 2
    assert value(found, "wushe_resources_value_cents_total", event="pledged", district=DISTRICT) >= 5 * 600
    assert value(found, "wushe_events_dispatched_total", service="community", type="need_registered") >= 1
    assert value(found, "wushe_events_handled_total", service="charity", type="need_registered", outcome="ok") >= 1
    assert value(found, "wushe_http_request_seconds_count", method="POST", route="/api/v1/needs", status="202") >= 1
    assert any(s.name == "wushe_cases" and s.labels["stage"] == "identified" for s in found)
    assert any(s.name == "wushe_organisations" and s.labels["stage"] == "active" for s in found)
    assert any(s.name == "wushe_stations_noncompliant" and s.labels["district"] == DISTRICT for s in found)
    assert value(found, "wushe_calls_open", district=DISTRICT) >= 1
    assert value(found, "wushe_oldest_open_call_age_seconds", district=DISTRICT) > 0
    assert any(s.name == "wushe_broker_connected" and s.value == 1 for s in found)
    # bounded labels: never a need, call or case id, never a free text
    labels = {v for s in found if s.name.startswith("wushe_") for v in s.labels.values()}
    assert not [v for v in labels if v.startswith(("need-", "call-", "case-", "vol-", "res-"))]

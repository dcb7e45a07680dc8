"""The metrics' plumbing without a broker: counters of known label sets created at zero (never
reset), and one endpoint per process."""
import requests
from prometheus_client import REGISTRY

from services.charity import metrics as charity
from services.community import metrics as community
from services.volunteers import metrics as volunteers
from tests.netports import free_port
from wushe.runtime import metrics


def value(name, **labels):
    return REGISTRY.get_sample_value(name, labels)


def test_event_counters_are_created_at_zero_and_an_existing_value_is_kept():
    service = "unit-zero"
    metrics.EVENTS_HANDLED.labels(service, "need_registered", "ok").inc(3)
    metrics.zero_events(service, published=["call_opened"], subscribed=["need_registered"], outbox=True)
    assert value("wushe_events_dispatched_total", service=service, type="call_opened") == 0
    assert value("wushe_events_handled_total", service=service, type="need_registered", outcome="ok") == 3
    for outcome in ("duplicate", "error"):
        assert value("wushe_events_handled_total", service=service, type="need_registered", outcome=outcome) == 0
    for reason in ("failed", "rejected", "invalid", "undecodable"):
        assert value("wushe_events_dead_lettered_total", service=service, type="need_registered", reason=reason) == 0
    assert value("wushe_events_redelivered_total", service=service, type="need_registered") == 0
    assert value("wushe_events_retried_total", service=service, type="need_registered") == 0
    assert value("wushe_outbox_publish_failures_total", service=service) == 0
    assert value("wushe_events_dispatched_created", service=service, type="call_opened") is None  # no _created series


def test_a_district_gets_every_needs_series_at_zero_and_a_city_none():
    district = "unitcity/zero"
    community.NEEDS.labels("linked", "errands", "high", district).inc()
    community.zero_region("unitcity")  # a city: no district of its own
    assert value("wushe_needs_total", event="registered", category="errands", urgency="high", district="unitcity") is None
    community.zero_region(f"{district}/street/place")  # a community registered: its district
    found = [s for f in REGISTRY.collect() if f.name == "wushe_needs" for s in f.samples
             if s.labels["district"] == district]
    assert len(found) == 7 * 11 * 4 == 308
    assert {s.value for s in found} == {0.0, 1.0}
    assert value("wushe_needs_total", event="linked", category="errands", urgency="high", district=district) == 1


def test_volunteer_hours_and_resource_value_series_at_zero():
    volunteers.zero_district("unitcity/hours")
    assert value("wushe_volunteer_hours_total", district="unitcity/hours") == 0
    charity.zero_community("unitcity/value/street/place")
    for event in ("pledged", "delivered", "released"):
        assert value("wushe_resources_value_cents_total", event=event, district="unitcity/value") == 0


def test_the_gateway_is_the_one_endpoint_of_its_process(monkeypatch):
    monkeypatch.setattr(metrics, "_server", None)
    monkeypatch.setattr(metrics, "_gateway_serves", False)
    port = free_port()
    metrics.serve(port)  # a service container started first opened WUSHE_METRICS_PORT
    assert requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).ok
    metrics.served_by_gateway()  # then the gateway's: it closes that port
    try:
        requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
        raise AssertionError("the metrics port still answers beside the gateway's /metrics")
    except requests.ConnectionError:
        pass
    metrics.serve(free_port())  # and a container starting after the gateway's opens none
    assert metrics._server is None

"""The Prometheus metrics every service and the gateway export (README, "Metrics").

One registry per process. The gateway serves it at /metrics; a service running as its own
process serves it on WUSHE_METRICS_PORT. Labels are bounded: never a need id or personal data.
"""
import os
import threading

from prometheus_client import Counter, Gauge, Histogram, start_http_server

LATENCY_BUCKETS = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10)

EVENTS_DISPATCHED = Counter(
    "wushe_events_dispatched_total", "Events published (confirmed by the broker)", ["service", "type"])
EVENTS_HANDLED = Counter(
    "wushe_events_handled_total", "Events handled, by outcome (ok, duplicate, error)",
    ["service", "type", "outcome"])
EVENTS_REDELIVERED = Counter(
    "wushe_events_redelivered_total", "Messages the broker delivered again (after a crash or requeue)",
    ["service", "type"])
EVENTS_RETRIED = Counter(
    "wushe_events_retried_total", "Failed handlings scheduled for a retry with back-off", ["service", "type"])
EVENTS_DEAD_LETTERED = Counter(
    "wushe_events_dead_lettered_total",
    "Messages parked in a dead-letter queue, by reason (failed, invalid, undecodable)",
    ["service", "type", "reason"])
HANDLER_SECONDS = Histogram(
    "wushe_event_handler_seconds", "Time spent handling one event", ["service", "type"],
    buckets=LATENCY_BUCKETS)
RPC_SECONDS = Histogram(
    "wushe_rpc_seconds", "Time to serve one RPC, by outcome (ok, rejected, error)",
    ["service", "method", "outcome"], buckets=LATENCY_BUCKETS)
HTTP_SECONDS = Histogram(
    "wushe_http_request_seconds", "Time to answer one HTTP request", ["method", "route", "status"],
    buckets=LATENCY_BUCKETS)
OUTBOX_PUBLISH_FAILURES = Counter(
    "wushe_outbox_publish_failures_total", "Outbox publishes that failed and stay pending", ["service"])
OUTBOX_BACKLOG = Gauge(
    "wushe_outbox_backlog", "Events saved with their state and not yet confirmed by the broker", ["service"])
BROKER_CONNECTED = Gauge(
    "wushe_broker_connected", "1 when the service's last publish reached the broker, 0 when it failed", ["service"])

# the social effect, by district (a city has a few dozen: a bounded label; never a need id)
NEEDS = Counter(
    "wushe_needs_total", "Needs by lifecycle event (registered, linked, escalated, cancelled, resolved)",
    ["event", "category", "urgency", "district"])
NEED_LINKAGE_SECONDS = Histogram(
    "wushe_need_linkage_seconds", "Time from a need's registration to its first linkage",
    ["category", "urgency"],
    buckets=(.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 7 * 86400))
CALLS_OPEN = Gauge("wushe_calls_open", "Calls for volunteers open now", ["district"])
OLDEST_OPEN_CALL_SECONDS = Gauge(
    "wushe_oldest_open_call_age_seconds", "Age of the oldest call still open", ["district"])
VOLUNTEER_HOURS = Counter("wushe_volunteer_hours_total", "Volunteer hours credited to time banks", ["district"])
RESOURCES_VALUE_CENTS = Counter(
    "wushe_resources_value_cents_total", "Value of charitable resources pledged and delivered (fen)",
    ["event", "district"])
ORGANISATIONS = Gauge("wushe_organisations", "Community organisations by stage", ["stage"])
CASES = Gauge("wushe_cases", "Social workers' cases by stage", ["stage"])
STATIONS_NONCOMPLIANT = Gauge(
    "wushe_stations_noncompliant", "Social work stations not meeting the staffing rules", ["district"])

# how often services recount the gauges above from their stores (read at import: timers are static)
MEASURE_SECONDS = float(os.environ.get("WUSHE_MEASURE_SECONDS", "30"))


def set_counts(gauge, counts, labels):
    """Set a gauge per label from `counts`, and 0 for labels counted before but absent now."""
    for label in set(labels) | set(counts):
        gauge.labels(label).set(counts.get(label, 0))


_server_lock = threading.Lock()
_server_port = None


def serve(port):
    """Start the process's metrics endpoint once (0 = don't)."""
    global _server_port
    with _server_lock:
        if port and _server_port is None:
            start_http_server(port)
            _server_port = port

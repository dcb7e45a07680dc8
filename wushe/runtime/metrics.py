"""The Prometheus metrics every service and the gateway export (README, "Metrics"): events,
RPCs, HTTP, the outbox and the broker. Each service's own figures (needs, calls, cases…) are in
its own `metrics.py`.

One registry per process, served at one endpoint: the gateway's /metrics when the gateway runs in
the process (WUSHE_METRICS_PORT is then not opened: two endpoints on one registry would double
every sum), else WUSHE_METRICS_PORT. Labels are bounded: never a need id or personal data.

Counters of known label sets exist at zero from the start (`zero_events`, each service's own
`zero_*`), so that Prometheus's increase() sees a series' first step.
"""
import threading

import structlog
from nameko.extensions import DependencyProvider
from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics, start_http_server

log = structlog.get_logger("wushe.runtime.metrics")

# no `<counter>_created` series beside each counter: nothing reads them, and with the series
# created at zero (below) they would double what Prometheus stores
disable_created_metrics()

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
HTTP_SHED = Counter(
    "wushe_http_shed_total",
    "Requests a gateway answered 503 at once, at capacity (WUSHE_MAX_IN_FLIGHT, WUSHE_MAX_WRITES_IN_FLIGHT)")
OUTBOX_PUBLISH_FAILURES = Counter(
    "wushe_outbox_publish_failures_total", "Outbox publishes that failed and stay pending", ["service"])
OUTBOX_BACKLOG = Gauge(
    "wushe_outbox_backlog", "Events saved with their state and not yet confirmed by the broker", ["service"])
BROKER_CONNECTED = Gauge(
    "wushe_broker_connected",
    "1 while the service's own watch connection to the broker is open and heartbeating, 0 when it is not",
    ["service"])

HANDLED_OUTCOMES = ("ok", "duplicate", "error")
DEAD_LETTER_REASONS = ("failed", "rejected", "invalid", "undecodable")


def zero_events(service, published=(), subscribed=(), outbox=False):
    """The service's event counters at zero for the event types it publishes and subscribes to
    (`.labels()` creates a missing child at 0 and leaves an existing one as it is)."""
    for event_type in published:
        EVENTS_DISPATCHED.labels(service, event_type)
    for event_type in subscribed:
        for outcome in HANDLED_OUTCOMES:
            EVENTS_HANDLED.labels(service, event_type, outcome)
        EVENTS_REDELIVERED.labels(service, event_type)
        EVENTS_RETRIED.labels(service, event_type)
        for reason in DEAD_LETTER_REASONS:
            EVENTS_DEAD_LETTERED.labels(service, event_type[:40], reason)
    if outbox:
        OUTBOX_PUBLISH_FAILURES.labels(service)

_children = {}


def child(metric, *labels):
    """`metric.labels(*labels)`, remembered: prometheus_client checks the labels and takes a lock
    on each call, and every delivery records three or four series. For the series written on
    every delivery, request and publish (their label sets are bounded; none is ever removed)."""
    key = (metric, labels)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*labels)
    return found


def set_counts(gauge, counts, labels):
    """Set a gauge per label from `counts`, and 0 for labels counted before but absent now."""
    for label in set(labels) | set(counts):
        gauge.labels(label).set(counts.get(label, 0))


class KnownSeries(DependencyProvider):
    """`KnownSeries(zero)`: at the container's start (after every setup, so with its store
    ready) `zero(store)` creates the service's own counters of known label sets at zero."""

    def __init__(self, zero):
        self.zero = zero

    def start(self):
        from wushe.runtime.store import Store
        store = next(d.store for d in self.container.dependencies if isinstance(d, Store))
        try:
            self.zero(store)
        except Exception as exc:  # noqa: BLE001 — a figure is never worth a service that does not start
            log.warning("metrics.zero_failed", service=self.container.service_name, error=str(exc))


_server_lock = threading.Lock()
_server = None          # the WUSHE_METRICS_PORT endpoint, once started
_gateway_serves = False


def serve(port):
    """Start the process's metrics endpoint once (0 = don't); not when the gateway serves it."""
    global _server
    with _server_lock:
        if port and _server is None and not _gateway_serves:
            _server = start_http_server(port)[0]


def served_by_gateway():
    """The gateway runs in this process: its /metrics is the one endpoint. A WUSHE_METRICS_PORT
    endpoint a service container of the same process opened first is closed."""
    global _server, _gateway_serves
    with _server_lock:
        _gateway_serves = True
        if _server is not None:
            port = _server.server_address[1]
            _server.shutdown()
            _server.server_close()
            _server = None
            log.info("metrics.port_closed", port=port, detail="the gateway's /metrics serves this process's registry")

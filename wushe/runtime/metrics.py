"""The Prometheus metrics every service and the gateway export (README, "Metrics"): events,
RPCs, HTTP, the outbox and the broker. Each service's own figures (needs, calls, cases…) are in
its own `metrics.py`.

One registry per process. The gateway serves it at /metrics; a service running as its own
process serves it on WUSHE_METRICS_PORT. Labels are bounded: never a need id or personal data.
"""
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

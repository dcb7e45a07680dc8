"""The Telemetry dependency: binds log context, times every worker, records its outcome.

Every entrypoint of every service runs through it, so a failed handler is always logged with
its traceback and counted — never silently dropped.
"""
import re
import time
import uuid

import structlog
from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc

from wushe.runtime import metrics
from wushe.runtime.config import settings
from wushe.runtime.errors import WusheError, from_refusal
from wushe.contract.events import Event
from wushe.runtime.outbox import Outbox
from wushe.runtime.subscribe import DUPLICATE, EventConsumer
from wushe.contract.events.catalog import CATALOG, INTERNAL
from wushe.runtime import logs
from wushe.runtime.logs import configure

log = structlog.get_logger("wushe")
CORRELATION = re.compile(r"[\x21-\x7e]{1,100}")


def correlation_of(headers):
    """The caller's X-Correlation-Id, or a new one when it sent none or one that is not visible
    ASCII (it goes back in a header and into every log line)."""
    given = headers.get("X-Correlation-Id", "")[:100]
    return given if CORRELATION.fullmatch(given) else str(uuid.uuid4())


class Telemetry(DependencyProvider):
    """`Telemetry(serves_metrics=True)`: the gateway's, whose /metrics is then the process's one
    metrics endpoint (WUSHE_METRICS_PORT is not opened beside it)."""

    def __init__(self, serves_metrics=False):
        self.serves_metrics = serves_metrics

    def setup(self):
        configure(self.container.config.get("LOG_LEVEL", "INFO"))
        self._zero_event_counters()  # before the endpoint opens: its first scrape sees them at 0
        if self.serves_metrics:
            metrics.served_by_gateway()
        else:
            metrics.serve(settings(self.container)["METRICS_PORT"])
        self.started = {}

    def _zero_event_counters(self):
        """The event counters at zero for what this service publishes (the catalog's events of
        its source, when it has an outbox) and subscribes to (its `on_event` entrypoints)."""
        service = self.container.service_name
        outbox = any(isinstance(d, Outbox) for d in self.container.dependencies)
        published = sorted(t for s, t in [*CATALOG, *INTERNAL] if s == service) if outbox else []
        subscribed = sorted({t for e in self.container.entrypoints if isinstance(e, EventConsumer)
                             for t in e.event_types})
        metrics.zero_events(service, published, subscribed, outbox=outbox)

    def worker_setup(self, worker_ctx):
        event = worker_ctx.args[0] if worker_ctx.args and isinstance(worker_ctx.args[0], Event) else None
        if event is not None:
            context = {"need_id": event.need_id, "correlation_id": event.correlation_id,
                       "event_id": event.id, "event_type": event.type}
        else:
            # HTTP: the integrator's X-Correlation-Id, if any; RPC: the caller's, which travels in
            # nameko's context headers
            request = worker_ctx.args[0] if worker_ctx.args and hasattr(worker_ctx.args[0], "headers") else None
            context = {"correlation_id": worker_ctx.data.setdefault(
                "correlation_id", correlation_of(request.headers if request is not None else {}))}
        logs.clear()
        logs.bind(**context, service=self.container.service_name, entrypoint=worker_ctx.entrypoint.method_name)
        self.started[worker_ctx] = time.perf_counter()

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        elapsed = time.perf_counter() - self.started.pop(worker_ctx, time.perf_counter())
        entrypoint = worker_ctx.entrypoint
        service = self.container.service_name
        # a refusal (a rule said no, a lost race) is an answer, not a failure to log as one
        expected = exc_info is not None and (isinstance(exc_info[1], WusheError)
                                             or from_refusal(exc_info[1]) is not None)
        if exc_info is not None and not expected:
            log.error("worker.failed", error=type(exc_info[1]).__name__, exc_info=exc_info)
        if isinstance(entrypoint, Rpc):
            outcome = "ok" if exc_info is None else ("rejected" if expected else "error")
            metrics.child(metrics.RPC_SECONDS, service, entrypoint.method_name, outcome).observe(elapsed)
        elif worker_ctx.args and isinstance(worker_ctx.args[0], Event):
            event_type = worker_ctx.args[0].type
            metrics.child(metrics.HANDLER_SECONDS, service, event_type).observe(elapsed)
            outcome = "error" if exc_info is not None else ("duplicate" if result == DUPLICATE else "ok")
            metrics.child(metrics.EVENTS_HANDLED, service, event_type, outcome).inc()
            # one line per event handled (need_id, correlation_id, event_type come from the context)
            log.info("event.handled", outcome=outcome, duration_ms=round(elapsed * 1000, 2))
        logs.clear()

    def get_dependency(self, worker_ctx):
        return log

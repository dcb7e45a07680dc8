"""`on_event`: the entrypoint every Wushe handler uses instead of nameko's `event_handler`.

It binds a durable queue to one or more `<source>.events` exchanges (`<source>.internal` for an
internal event, `wushe.runtime.topology.event_exchange`), decodes and validates each
body itself (against the event catalog) and hands the handler an `Event`. Nothing is dropped:
- the handler succeeds → ack;
- the handler raises → republished to a retry tier with back-off (attempt count in the
  `wushe-attempt` header), then acked; after `WUSHE_MAX_ATTEMPTS` it is parked in
  `<service>.dead` with the error; a handler that refuses the event (raises a WusheError, e.g.
  an unknown community) is parked at once, since the same event would be refused again;
- the body cannot be decoded or is not a catalog event → parked at once (retrying cannot help);
  a handler declared with `answers_invalid=True` is first given what can be read of it
  (`events.Unread`, with the errors) to answer its sender, then it is parked as invalid.
Message headers never become the worker's context (see `handle_raw`).
A republish that cannot be confirmed leaves the message unacked, so the broker redelivers it.
Handlers return `DUPLICATE` when an event had already been applied (counted, for operators).

Queue names follow nameko's convention, `evt-<source>-<type>--<service>.<method>`.
"""
from functools import partial

import structlog
from kombu import Queue, binding
from nameko.amqp.publish import Publisher
from nameko.exceptions import ContainerBeingKilled
from nameko.messaging import Consumer

from wushe.contract import events

from wushe.runtime import metrics, topology
from wushe.contract.clock import now_iso
from wushe.runtime.config import settings
from wushe.contract.decisions import Refused
from wushe.runtime.errors import WusheError
from wushe.runtime.rpc import ResilientQueueConsumer

log = structlog.get_logger("wushe.runtime.subscribe")
DUPLICATE = "duplicate"


class RawQueueConsumer(ResilientQueueConsumer):
    """nameko's queue consumer (acks on a dropped connection survived, see wushe.runtime.rpc), but
    handing providers the undecoded message: kombu would otherwise fail on a body it cannot
    decode before any handler could park it.

    nameko's own consumer spawns a managed thread per message, which then spawns the worker: two
    green threads a delivery. Here kombu's callback (in this consumer's thread) goes straight to
    `EventConsumer.handle_raw`, which decodes and validates inline (CPU only) and spawns the one
    worker; only what could wait — parking, which publishes, or a worker pool with no free slot —
    gets a thread of its own, so this thread never waits."""

    def get_consumers(self, consumer_cls, channel):
        for provider in self._providers:
            consumer = consumer_cls(queues=[provider.queue], on_message=provider.handle_raw)
            consumer.qos(prefetch_count=self.prefetch_count)
            self._consumers[provider] = consumer
        return self._consumers.values()


def _worker_free(container):
    """True when spawning a worker now cannot wait: the container's pool (nameko 2.14.1's
    `_worker_pool`) has a free slot and no thread already queued for one (eventlet's semaphore
    serves those first; its balance counts them)."""
    pool = container._worker_pool
    free = pool.free()
    return free > 0 and pool.sem.balance == free


class EventConsumer(Consumer):
    queue_consumer = RawQueueConsumer()

    def __init__(self, source, event_types, queue_name=None, answers_invalid=False, **kwargs):
        self.sources = [source] if isinstance(source, str) else list(source)
        self.event_types = [event_types] if isinstance(event_types, str) else list(event_types)
        self.queue_name = queue_name
        self.answers_invalid = answers_invalid
        super().__init__(queue=None, **kwargs)

    def setup(self):
        cfg = settings(self.container)
        self.service = self.container.service_name
        self.max_attempts = cfg["MAX_ATTEMPTS"]
        self.delays = cfg["RETRY_DELAYS_MS"]
        queue_type = cfg["QUEUE_TYPE"]
        name = self.queue_name or "evt-{}-{}--{}.{}".format(
            "+".join(self.sources), "+".join(self.event_types), self.service, self.method_name)
        config = self.container.config
        bindings = [binding(topology.event_exchange(source, event_type, config), routing_key=event_type)
                    for source in self.sources for event_type in self.event_types]
        bindings.append(binding(topology.REQUEUE, arguments=topology.requeue_binding_arguments(name)))
        self.queue = Queue(name, bindings=bindings, durable=True,
                           queue_arguments=topology.queue_arguments(queue_type))
        self.dead = topology.dead_queue(self.service, queue_type)
        self.retries = {delay: topology.retry_queue(delay, queue_type) for delay in self.delays}
        self.publisher = Publisher(self.container.config["AMQP_URI"], use_confirms=True)
        super().setup()

    def handle_raw(self, message):
        """kombu's callback for each delivery, in the queue consumer's thread: it must not wait.
        Decoding and validating are CPU only and run here; the handler runs in the one worker
        thread spawned for the delivery; a body that cannot be handled is parked (a confirmed
        publish, then the ack) in a thread of its own."""
        event_type = (message.delivery_info or {}).get("routing_key", "?")
        if message.delivery_info.get("redelivered"):
            metrics.EVENTS_REDELIVERED.labels(self.service, event_type).inc()
            # the counter dies with the process; the line outlives it (the process-mode chaos
            # run counts redeliveries across kill -9s from these)
            log.info("event.redelivered", service=self.service, queue=self.queue.name, event_type=event_type,
                     message_id=message.properties.get("message_id"))
        try:
            body = message.decode()
        except Exception as exc:  # noqa: BLE001 — whatever the codec raised, the body is unusable
            return self._park_apart(message, "undecodable", f"{type(exc).__name__}: {exc}", event_type)
        try:
            event = events.load(body)
        except events.InvalidEvent as exc:
            event = events.unread(body, exc.errors) if self.answers_invalid else None
            if event is None:
                return self._park_apart(message, "invalid", str(exc.errors)[:2000], event_type)
        except Exception as exc:  # noqa: BLE001 — a body the checks did not foresee: raised here, it
            # would end this consumer's thread (and the service) and come back on every restart
            error = f"{type(exc).__name__}: {exc}"
            log.error("event.check_failed", error=error[:300], event_type=event_type)
            return self._park_apart(message, "invalid", error[:2000], event_type)
        # An event's correlation id is its envelope's. nameko's context headers (nameko.user_id,
        # nameko.auth, nameko.call_id_stack…) are whatever the publisher, station software
        # included, chose to send, and nameko would hand them to the worker and on to every call
        # it makes: none is taken. (Wushe's own publishers send none.)
        ignored = sorted(str(k)[:60] for k in (message.headers or {}) if str(k).startswith("nameko."))
        if ignored:
            log.warning("event.context_headers_ignored", headers=ignored[:10], event_type=event.type,
                        event_id=event.id)
        if _worker_free(self.container):
            self._spawn_worker(message, event)
        else:
            # every worker busy: spawning would wait for a slot, and this thread must not
            self.container.spawn_managed_thread(partial(self._spawn_worker, message, event),
                                                identifier=f"{type(self).__name__}.awaiting_worker")

    def _spawn_worker(self, message, event):
        try:
            self.container.spawn_worker(self, (event,), {}, context_data={},
                                        handle_result=partial(self.handle_result, message))
        except ContainerBeingKilled:
            self.queue_consumer.requeue_message(message)

    def _park_apart(self, message, reason, error, event_type):
        """Park a body no handler can take, in a thread of its own: the publish waits for the
        broker's confirm (and retries), which the consumer's thread must not."""
        self.container.spawn_managed_thread(partial(self._park, message, reason, error, event_type),
                                            identifier=f"{type(self).__name__}.park")

    def handle_result(self, message, worker_ctx, result=None, exc_info=None):
        event = worker_ctx.args[0]
        unread = isinstance(event, events.Unread)
        # an unread body's type is whatever was sent: metrics name it by the routing key it came by
        event_type = (message.delivery_info or {}).get("routing_key", "?") if unread else event.type
        if unread and (exc_info is None or isinstance(exc_info[1], (WusheError, Refused))):
            # answered (or refused) by its handler; still not an event anyone can apply: parked
            # with its errors, as any invalid body
            self._park(message, "invalid", str(event.errors)[:2000], event_type)
            return result, exc_info
        if exc_info is None:
            self.queue_consumer.ack_message(message)
            return result, exc_info
        attempt = int((message.headers or {}).get(topology.ATTEMPT, 0)) + 1
        error = f"{type(exc_info[1]).__name__}: {exc_info[1]}"[:2000]
        if isinstance(exc_info[1], (WusheError, Refused)):
            # the handler refused the event (unknown community, conflicting content): the same
            # event will be refused again, so an operator must look — park it now
            self._park(message, "rejected", error, event_type, attempt)
        elif attempt >= self.max_attempts:
            self._park(message, "failed", error, event_type, attempt)
        else:
            delay = self.delays[min(attempt - 1, len(self.delays) - 1)]
            self._republish(message, topology.RETRY, str(delay), [self.retries[delay]], {
                topology.ATTEMPT: attempt, topology.ERROR: error})
            metrics.EVENTS_RETRIED.labels(self.service, event_type).inc()
            log.warning("event.retry_scheduled", attempt=attempt, delay_ms=delay, error=error)
        return result, exc_info

    def _park(self, message, reason, error, event_type, attempt=0):
        self._republish(message, topology.DEAD, self.service, [self.dead], {
            topology.REASON: reason, topology.ERROR: error, topology.ATTEMPT: attempt,
            topology.PARKED_AT: now_iso(), topology.SERVICE: self.service})
        metrics.EVENTS_DEAD_LETTERED.labels(self.service, event_type[:40], reason).inc()
        log.error("event.parked", reason=reason, error=error, queue=self.queue.name,
                  message_id=message.properties.get("message_id"))

    def _republish(self, message, exchange, routing_key, declare, headers):
        """Publish a copy (confirmed) and only then ack the original; if the copy cannot be
        published the original goes back to the queue instead."""
        try:
            self.publisher.publish(
                message.body, exchange=exchange, routing_key=routing_key, declare=declare,
                headers={**(message.headers or {}), topology.ORIGIN: self.queue.name, **headers},
                content_type=message.content_type, content_encoding=message.content_encoding,
                message_id=message.properties.get("message_id"), serializer=None, retry=True,
                retry_policy={"max_retries": 3})
        except Exception as exc:  # noqa: BLE001
            log.warning("event.republish_failed", error=str(exc), queue=self.queue.name)
            self.queue_consumer.requeue_message(message)
            return
        self.queue_consumer.ack_message(message)


def on_event(source, event_types, **kwargs):
    """Decorate a service method as the handler of `source`'s `event_types` events (with
    `answers_invalid=True`, also of what can be read of an invalid one: see the module's doc)."""
    return EventConsumer.decorator(source, event_types, **kwargs)

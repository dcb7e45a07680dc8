"""`on_event`: the entrypoint every Wushe handler uses instead of nameko's `event_handler`.

It binds a durable queue to one or more `<source>.events` exchanges, loads each body through
the event catalog and hands the handler an `Event`. Queue names follow nameko's convention,
`evt-<source>-<type>--<service>.<method>`, so station software can see who listens to what.
"""
from functools import partial

import structlog
from kombu import Queue, binding
from nameko.exceptions import ContainerBeingKilled
from nameko.messaging import Consumer
from nameko.standalone.events import get_event_exchange

from wushe import events, metrics

log = structlog.get_logger("wushe.subscribe")


class EventConsumer(Consumer):

    def __init__(self, source, event_types, queue_name=None, **kwargs):
        self.sources = [source] if isinstance(source, str) else list(source)
        self.event_types = [event_types] if isinstance(event_types, str) else list(event_types)
        self.queue_name = queue_name
        super().__init__(queue=None, **kwargs)

    def setup(self):
        service = self.container.service_name
        bindings = [binding(get_event_exchange(source, self.container.config), routing_key=event_type)
                    for source in self.sources for event_type in self.event_types]
        name = self.queue_name or "evt-{}-{}--{}.{}".format(
            "+".join(self.sources), "+".join(self.event_types), service, self.method_name)
        self.queue = Queue(name, bindings=bindings, durable=True)
        super().setup()

    def handle_message(self, body, message):
        try:
            event = events.load(body)
        except events.InvalidEvent as exc:
            # Never silently: logged with the errors and counted.
            log.error("event.invalid", service=self.container.service_name, queue=self.queue.name,
                      errors=exc.errors, message_id=message.properties.get("message_id"))
            metrics.EVENTS_HANDLED.labels(self.container.service_name, str(body.get("type") if isinstance(body, dict) else "?")[:40], "invalid").inc()
            self.queue_consumer.ack_message(message)
            return
        context_data = self.unpack_message_headers(message)
        try:
            self.container.spawn_worker(self, (event,), {}, context_data=context_data,
                                        handle_result=partial(self.handle_result, message))
        except ContainerBeingKilled:
            self.queue_consumer.requeue_message(message)


def on_event(source, event_types, **kwargs):
    """Decorate a service method as the handler of `source`'s `event_types` events."""
    return EventConsumer.decorator(source, event_types, **kwargs)

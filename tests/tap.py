"""EventTap: a consumer of every event on every Wushe exchange, as station software would bind."""

import eventlet
import kombu

from wushe.contract.events import InvalidEvent, load
from wushe.contract.events.catalog import SOURCES, STATION


class EventTap:
    def __init__(self, amqp_uri):
        self.amqp_uri = amqp_uri
        self.events = []
        self.raw = []
        self.channels = []  # each event's channel in the AsyncAPI document: `<source>.<routing key>`
        self._stop = False

    def __enter__(self):
        self._consume()
        self._greenlet = eventlet.spawn(self._drain)
        return self

    def _consume(self):
        self.connection = kombu.Connection(self.amqp_uri)
        channel = self.connection.channel()
        bindings = [kombu.binding(kombu.Exchange(f"{s}.events", "topic", durable=True), routing_key="#")
                    for s in SOURCES]
        self.queue = kombu.Queue("test-tap", bindings=bindings, exclusive=True, auto_delete=True)
        self.queue(channel).declare()
        self.consumer = kombu.Consumer(channel, [self.queue], callbacks=[self._on_message], accept=["json"])
        self.consumer.consume()

    def _on_message(self, body, message):
        self.raw.append(message.body if isinstance(message.body, str) else message.body.decode())
        self.events.append(body)
        info = message.delivery_info or {}
        self.channels.append(f"{info.get('exchange', '?').removesuffix('.events')}.{info.get('routing_key', '?')}")
        message.ack()

    def _drain(self):
        while not self._stop:
            try:
                self.connection.drain_events(timeout=0.1)
            except TimeoutError:  # socket.timeout is TimeoutError
                pass
            except self.connection.recoverable_connection_errors:
                # the broker went away (the broker-restart tests): the broker may close the
                # connection (ConnectionForced) or just reset it; either way bind again once it is back
                self._reconnect()

    def _reconnect(self):
        self.connection.collect()
        while not self._stop:
            try:
                self._consume()
                return
            except self.connection.recoverable_connection_errors:
                self.connection.collect()
                eventlet.sleep(0.2)

    def __exit__(self, *exc):
        self._stop = True
        self._greenlet.wait()
        self.connection.release()

    def of_type(self, event_type, need_id=None):
        return [e for e in self.events
                if e["type"] == event_type and (need_id is None or e.get("subject") == need_id)]

    def dump(self):
        return "\n".join(self.raw)


    def off_contract(self, payloads):
        """Every captured event that does not validate against its channel's payload
        (`tests.asyncapi_check.Payloads`), as "channel id: error" lines. Station reports the
        catalog refuses are left out: tests send those on purpose, and the platform parks them."""
        problems = []
        for channel, body in zip(self.channels, self.events):
            if channel.startswith(STATION + "."):
                try:
                    load(body)
                except InvalidEvent:
                    continue
            problems += [f"{channel} {body.get('id') if isinstance(body, dict) else '?'}: {error}"
                         for error in payloads.errors(channel, body)]
        return problems

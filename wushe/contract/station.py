"""The station client: how station software (a 社工站 system, a hotline) talks to Wushe over
AMQP without nameko — report needs, and follow the events it cares about.

    from wushe.contract.station import StationClient
    with StationClient("amqp://guest:guest@mq:5672/", "hotline-236") as station:
        station.report_need({"community": "guangzhou/…", "category": "elderly_care", …})
        station.follow(["need_linked", "need_escalated", "need_report_refused"], on_event)
        station.run()          # until stopped; reconnects when the broker goes away

The station names itself in every report's envelope: `source` is `station/<station id>`
(`station/hotline-236`), and the need records it (`reported_by`, in its view and timeline).
Reports are validated against the catalog before they leave (a bad one raises, nothing is
sent) and published persistent with publisher confirms, retrying while the broker is away.
A report the platform does not register (an unknown community, say) is answered with
`need_report_refused` (the report's id, the reasons by field); following it, a station
receives only the answers to its own reports.
Events come through one durable queue named after the station, so nothing is missed while the
station software is down; each is validated on arrival (an invalid one is logged and dropped,
the handler never sees it), and acknowledged only after the handler returns.
"""
import logging
import socket
import time
import uuid

import kombu

from wushe.contract.events import InvalidEvent, load, new_event
from wushe.contract.events.catalog import CATALOG, STATION, STATION_SOURCE, whole

log = logging.getLogger("wushe.contract.station")
SOURCE_OF = {event_type: source for source, event_type in CATALOG}
RETRY = {"max_retries": None, "interval_start": 0.5, "interval_step": 1, "interval_max": 10}


class StationClient:
    def __init__(self, amqp_uri, station_id, *, heartbeat=30):
        self.station_id = station_id
        self.source = f"{STATION}/{station_id}"  # what its reports' envelopes say, and answers name
        if not whole(STATION_SOURCE).match(self.source):
            raise ValueError("a station id is 1-64 letters, digits, _ . : or -")
        # one connection to publish, one to consume: each may then be used from its own thread
        self.publishing = kombu.Connection(amqp_uri, heartbeat=heartbeat, transport_options={"confirm_publish": True})
        self.connection = kombu.Connection(amqp_uri, heartbeat=heartbeat)
        self.queue = None
        self.handler = None
        self._stopped = False

    # reporting ----------------------------------------------------------------------------
    def report_need(self, need, report_id=None):
        """Publish `need_reported` (the fields of POST /needs); the envelope sent. Its id is
        `report_id` when given, so that a report sent again is registered once."""
        envelope = new_event(self.source, "need_reported", need, event_id=report_id or str(uuid.uuid4()),
                             subject=need.get("id"))
        exchange = kombu.Exchange("station.events", "topic", durable=True)
        producer = self.publishing.Producer(serializer="json")
        publish = self.publishing.ensure(producer, producer.publish, **RETRY)
        publish(envelope, exchange=exchange, routing_key="need_reported", declare=[exchange],
                delivery_mode=2, message_id=envelope["id"], content_encoding="utf-8")
        return envelope

    # following ------------------------------------------------------------------------------
    def follow(self, event_types, handler, queue_name=None):
        """Receive these event types through the station's durable queue; `handler(event)` gets
        a validated `wushe.contract.events.Event`."""
        unknown = [t for t in event_types if t not in SOURCE_OF]
        if unknown:
            raise ValueError(f"not in the event catalog: {', '.join(unknown)}")
        bindings = [kombu.binding(kombu.Exchange(f"{SOURCE_OF[t]}.events", "topic", durable=True), routing_key=t)
                    for t in event_types]
        self.queue = kombu.Queue(queue_name or f"station.{self.station_id}", bindings=bindings, durable=True)
        self.handler = handler
        # declared now, not when run() starts: events published from here on wait in the queue
        self.connection.ensure_connection(**RETRY)
        self.queue(self.connection.default_channel).declare()

    def run(self, timeout=None):
        """Deliver events to the handler until `stop()` (or, with `timeout`, until the queue has
        been quiet that long); reconnects when the broker goes away."""
        while not self._stopped:
            try:
                self.connection.ensure_connection(**RETRY)
                with self.connection.Consumer([self.queue], callbacks=[self._deliver], accept=["json"]) as consumer:
                    consumer.qos(prefetch_count=20)
                    quiet_since = time.monotonic()
                    while not self._stopped:
                        try:
                            self.connection.drain_events(timeout=1)
                            quiet_since = time.monotonic()
                        except socket.timeout:
                            if timeout and time.monotonic() - quiet_since >= timeout:
                                return
            except self.connection.recoverable_connection_errors + self.connection.recoverable_channel_errors:
                log.warning("station.reconnecting", exc_info=True)
                self.connection.collect()  # a fresh connection on the next turn

    def stop(self):
        self._stopped = True

    def _deliver(self, body, message):
        try:
            event = load(body)
        except InvalidEvent as exc:
            log.error("station.invalid_event: %s", exc)  # the body is never logged (it may hold ids only, but be safe)
            message.ack()
            return
        if event.type == "need_report_refused" and event.data["reported_by"] != self.source:
            message.ack()  # an answer to another station's report
            return
        self.handler(event)
        message.ack()

    def close(self):
        self.publishing.release()
        self.connection.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

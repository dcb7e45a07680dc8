"""Dead letters, for operators: list, inspect and replay what each service parked.

Browsing takes messages without acknowledging them and gives them all back when done, so a
look changes nothing. Replaying sends a message back to the queue it came from (through
`wushe.requeue`) with its attempt count reset, and removes it from the dead-letter queue.
"""
import hashlib
import json
from dataclasses import dataclass

import kombu
from amqp.exceptions import NotFound as QueueNotFound

from wushe.runtime import topology

SERVICES = ("community", "orgs", "workers", "volunteers", "charity", "gateway")


@dataclass
class Parked:
    id: str
    service: str
    queue: str
    reason: str
    error: str
    attempts: int
    parked_at: str
    routing_key: str
    body: str

    def as_dict(self):
        return dict(self.__dict__)


def _id(message):
    """The message id, else the envelope's own id, else a hash of the body (it may not parse)."""
    if message.properties.get("message_id"):
        return message.properties["message_id"]
    raw = message.body if isinstance(message.body, bytes) else str(message.body).encode()
    try:
        envelope_id = json.loads(raw).get("id")
        if isinstance(envelope_id, str) and envelope_id:
            return envelope_id
    except (ValueError, AttributeError):
        pass
    return hashlib.sha1(raw).hexdigest()[:16]


def _parked(service, message):
    headers = message.headers or {}
    body = message.body
    return Parked(id=_id(message), service=service, queue=str(headers.get(topology.ORIGIN, "")),
                  reason=str(headers.get(topology.REASON, "")), error=str(headers.get(topology.ERROR, "")),
                  attempts=int(headers.get(topology.ATTEMPT, 0) or 0),
                  parked_at=str(headers.get(topology.PARKED_AT, "")),
                  routing_key=message.delivery_info.get("routing_key", ""),
                  body=body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body))


def counts(amqp_uri, services=SERVICES):
    """{service: parked message count} for the services that have a dead-letter queue."""
    found = {}
    with kombu.Connection(amqp_uri, connect_timeout=5) as connection:
        for service in services:
            channel = connection.channel()
            try:
                _, count, _ = channel.queue_declare(f"{service}.dead", passive=True)
                found[service] = count
            except QueueNotFound:
                pass
            finally:
                try:
                    channel.close()
                except Exception:  # noqa: BLE001 — a channel the broker closed on a missing queue
                    pass
    return found


def _take(channel, service, limit):
    messages = []
    while len(messages) < limit:
        message = channel.basic_get(queue=f"{service}.dead", no_ack=False)
        if message is None:
            break
        messages.append(message)
    return messages


def browse(amqp_uri, service, limit=100):
    """The first `limit` parked messages of a service, left in place."""
    with kombu.Connection(amqp_uri, connect_timeout=5) as connection:
        channel = connection.channel()
        try:
            messages = _take(channel, service, limit)
        except QueueNotFound:
            return []
        parked = [_parked(service, kombu.Message(channel=channel, body=m.body, delivery_tag=m.delivery_tag,
                                                 headers=m.headers, properties=m.properties,
                                                 delivery_info=m.delivery_info))
                  for m in messages]
        for m in messages:
            channel.basic_reject(m.delivery_tag, requeue=True)
        return parked


def replay(amqp_uri, service, ids=None, limit=10_000):
    """Send parked messages (all, or those with `ids`) back to their queues; the number sent."""
    wanted = set(ids) if ids else None
    sent = 0
    with kombu.Connection(amqp_uri, connect_timeout=5) as connection:
        channel = connection.channel()
        producer = kombu.Producer(connection.channel())
        try:
            messages = _take(channel, service, limit)
        except QueueNotFound:
            return 0
        for m in messages:
            parked = _parked(service, kombu.Message(channel=channel, body=m.body, delivery_tag=m.delivery_tag,
                                                    headers=m.headers, properties=m.properties,
                                                    delivery_info=m.delivery_info))
            if (wanted is not None and parked.id not in wanted) or not parked.queue:
                channel.basic_reject(m.delivery_tag, requeue=True)
                continue
            headers = {k: v for k, v in (m.headers or {}).items()
                       if k not in (topology.ATTEMPT, topology.REASON, topology.ERROR, topology.PARKED_AT)}
            producer.publish(m.body, exchange=topology.REQUEUE, routing_key="", headers=headers,
                             content_type=m.properties.get("content_type"),
                             content_encoding=m.properties.get("content_encoding"),
                             message_id=m.properties.get("message_id"), delivery_mode=2,
                             declare=[topology.REQUEUE], serializer=None)
            channel.basic_ack(m.delivery_tag)
            sent += 1
    return sent

"""The broker topology beyond nameko's own: the exchanges events go out on, retry tiers, the
requeue exchange, dead letters.

    a catalog event ──▶ <source>.events (topic, key = type): Wushe's services and station software
    an internal one ──▶ <source>.internal (topic, key = type): Wushe's services only

    handler fails ──▶ wushe.retry (direct, key = delay ms) ──▶ wushe.retry.<ms> (TTL <ms>)
        ──(expires, dead-lettered)──▶ wushe.requeue (headers: wushe-queue = origin) ──▶ origin queue
    attempts exhausted, or the body is undecodable / not in the catalog
        ──▶ wushe.dead (direct, key = service) ──▶ <service>.dead   (operators: wushe dlq …)

Each delay has its own queue, so a long back-off never holds a short one behind it.
"""
from kombu import Exchange, Queue
from nameko.constants import PERSISTENT
from nameko.standalone.events import get_event_exchange

from wushe.contract.events.catalog import INTERNAL

RETRY = Exchange("wushe.retry", "direct", durable=True)
REQUEUE = Exchange("wushe.requeue", "headers", durable=True)
DEAD = Exchange("wushe.dead", "direct", durable=True)

# message headers Wushe sets on retried and parked messages
ATTEMPT, ORIGIN, ERROR, REASON, PARKED_AT, SERVICE = (
    "wushe-attempt", "wushe-queue", "wushe-error", "wushe-reason", "wushe-parked-at", "wushe-service")


def event_exchange(source, event_type, config):
    """The exchange `source` publishes `event_type` on: nameko's `<source>.events`, or for an
    internal event (`catalog.INTERNAL`) `<source>.internal`, which station software never binds."""
    if (source, event_type) in INTERNAL:
        return Exchange(f"{source}.internal", "topic", durable=True, delivery_mode=PERSISTENT)
    return get_event_exchange(source, config)


def queue_arguments(queue_type):
    """`WUSHE_QUEUE_TYPE=quorum` declares Wushe's queues as quorum queues (replicated on a
    cluster; works on one node too). Changing it for existing queues means deleting them first:
    RabbitMQ refuses to redeclare a queue with other arguments."""
    return {"x-queue-type": queue_type} if queue_type == "quorum" else {}


def retry_queue(delay_ms, queue_type="classic"):
    return Queue(f"wushe.retry.{delay_ms}", RETRY, routing_key=str(delay_ms), durable=True,
                 queue_arguments={**queue_arguments(queue_type), "x-message-ttl": delay_ms,
                                  "x-dead-letter-exchange": REQUEUE.name})


def dead_queue(service, queue_type="classic"):
    return Queue(f"{service}.dead", DEAD, routing_key=service, durable=True,
                 queue_arguments=queue_arguments(queue_type))


def requeue_binding_arguments(queue_name):
    return {"x-match": "all", ORIGIN: queue_name}

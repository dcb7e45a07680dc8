"""The broker topology beyond nameko's own: retry tiers, the requeue exchange, dead letters.

    handler fails ──▶ wushe.retry (direct, key = delay ms) ──▶ wushe.retry.<ms> (TTL <ms>)
        ──(expires, dead-lettered)──▶ wushe.requeue (headers: wushe-queue = origin) ──▶ origin queue
    attempts exhausted, or the body is undecodable / not in the catalog
        ──▶ wushe.dead (direct, key = service) ──▶ <service>.dead   (operators: wushe dlq …)

Each delay has its own queue, so a long back-off never holds a short one behind it.
"""
from kombu import Exchange, Queue

RETRY = Exchange("wushe.retry", "direct", durable=True)
REQUEUE = Exchange("wushe.requeue", "headers", durable=True)
DEAD = Exchange("wushe.dead", "direct", durable=True)

# message headers Wushe sets on retried and parked messages
ATTEMPT, ORIGIN, ERROR, REASON, PARKED_AT, SERVICE = (
    "wushe-attempt", "wushe-queue", "wushe-error", "wushe-reason", "wushe-parked-at", "wushe-service")


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

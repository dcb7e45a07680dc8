"""One green thread per delivery: the worker. kombu's callback decodes and validates in the
consumer's thread; only parking (a confirmed publish) and a delivery that finds every worker
busy get a thread of their own, so that thread never waits."""
import collections

import eventlet
import kombu
import pytest

from tests.conftest import wait_for
from tests.service.test_delivery import opened, publish
from wushe.ops import dlq
from wushe.runtime.subscribe import on_event
from wushe.runtime.telemetry import Telemetry

QUEUE = "evt-volunteers-call_opened--held.on_call_opened"
handled = collections.Counter()


class Held:
    """Handles call_opened."""
    name = "held"
    log = Telemetry()

    @on_event("volunteers", "call_opened")
    def on_call_opened(self, event):
        handled[event.data["call_id"]] += 1


def counting(container):
    """Count the container's spawns after start: workers, and managed threads by identifier."""
    spawned = collections.Counter()
    spawn_worker, spawn_managed = container.spawn_worker, container.spawn_managed_thread

    def worker(*args, **kwargs):
        spawned["worker"] += 1
        return spawn_worker(*args, **kwargs)

    def managed(fn, identifier=None):
        spawned[identifier] += 1
        return spawn_managed(fn, identifier=identifier)

    container.spawn_worker, container.spawn_managed_thread = worker, managed
    return spawned


@pytest.fixture
def held(container_factory, config):
    handled.clear()

    def make(max_workers=10):
        config["max_workers"] = max_workers
        container = container_factory(Held, config)
        container.start()
        return container, counting(container)
    return make


def poison(config):
    with kombu.Connection(config["AMQP_URI"]) as connection:
        producer = connection.Producer()
        producer.publish(b"\xff\xfe not json", routing_key=QUEUE, content_type="application/json",
                         content_encoding="binary", message_id="poison-bytes")
        producer.publish({"hello": "world"}, routing_key=QUEUE, serializer="json", message_id="poison-shape")


def queue_is_empty(rabbit_manager, rabbit_config):
    queue = rabbit_manager.get_queue(rabbit_config["vhost"], QUEUE)
    return queue.get("messages") == 0 and queue.get("messages_unacknowledged") == 0


def test_a_delivery_runs_in_one_green_thread_and_bad_bodies_are_parked_and_acked_once(
        held, config, rabbit_manager, rabbit_config):
    container, spawned = held()
    for n in range(5):
        publish(config, opened(f"one-{n}"))
    poison(config)
    wait_for(lambda: sum(handled.values()) == 5, timeout=5)
    parked = wait_for(lambda: len(dlq.browse(config["AMQP_URI"], "held")) == 2
                      and dlq.browse(config["AMQP_URI"], "held"), timeout=5)
    wait_for(lambda: queue_is_empty(rabbit_manager, rabbit_config), timeout=10)  # all acked

    # a handled event: its worker, and no other thread; a bad body: one thread, to park it
    assert spawned == {"worker": 5, "EventConsumer.park": 2}
    assert sorted((p.id, p.reason) for p in parked) == [("poison-bytes", "undecodable"),
                                                        ("poison-shape", "invalid")]
    eventlet.sleep(0.5)  # acked, not redelivered: parked once each, handled once each
    assert len(dlq.browse(config["AMQP_URI"], "held")) == 2
    assert handled == {f"one-{n}": 1 for n in range(5)}


def test_with_every_worker_busy_the_consumer_still_parks_and_the_event_waits_for_a_worker(
        held, config, rabbit_manager, rabbit_config):
    container, spawned = held(max_workers=2)
    gate = eventlet.Event()
    for _ in range(2):  # both workers busy (on an RPC, another handler…), waiting on I/O
        container._worker_pool.spawn(gate.wait)
    publish(config, opened("next"))  # no free worker: it waits in a thread of its own
    wait_for(lambda: spawned["EventConsumer.awaiting_worker"] == 1, timeout=5)
    poison(config)  # and the consumer, not waiting with it, parks what arrives meanwhile
    wait_for(lambda: len(dlq.browse(config["AMQP_URI"], "held")) == 2, timeout=5)
    assert handled == {} and spawned["worker"] == 1  # spawning, waiting for a slot

    gate.send()
    wait_for(lambda: handled == {"next": 1}, timeout=5)
    wait_for(lambda: queue_is_empty(rabbit_manager, rabbit_config), timeout=10)
    assert spawned["worker"] == 1

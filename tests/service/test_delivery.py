"""The delivery path every handler shares: retries with back-off, dead letters, replay."""
import collections

import kombu
import pytest
from nameko.standalone.events import event_dispatcher

from tests.conftest import wait_for
from wushe.ops import dlq
from wushe.runtime import topology
from wushe.contract.events import new_event
from wushe.runtime.subscribe import on_event
from wushe.runtime.telemetry import Telemetry

calls = collections.Counter()
FAIL_TIMES = {}


class Flaky:
    """Handles call_opened; fails as many times as FAIL_TIMES says for the call id."""
    name = "flaky"
    log = Telemetry()

    @on_event("volunteers", "call_opened")
    def on_call_opened(self, event):
        call_id = event.data["call_id"]
        calls[call_id] += 1
        if calls[call_id] <= FAIL_TIMES.get(call_id, 0):
            raise RuntimeError(f"store unavailable ({calls[call_id]})")


@pytest.fixture
def flaky(container_factory, config):
    calls.clear()
    FAIL_TIMES.clear()
    config["WUSHE"].update(MAX_ATTEMPTS=3, RETRY_DELAYS_MS=[100, 300])
    container = container_factory(Flaky, config)
    container.start()
    return container


def opened(call_id):
    return new_event("volunteers", "call_opened", {
        "need_id": f"need-{call_id}", "community": "tianjin/binhai/taida/xinghua", "call_id": call_id,
        "slots": 1, "skills": [], "hours": 1.0, "expires_at": "2026-11-24T08:00:00.000000Z"})


def publish(config, envelope):
    event_dispatcher(config)("volunteers", envelope["type"], envelope)


def test_a_failing_handler_is_retried_with_back_off_until_it_succeeds(flaky, config):
    FAIL_TIMES["c1"] = 2
    publish(config, opened("c1"))
    wait_for(lambda: calls["c1"] == 3, timeout=5)
    assert dlq.browse(config["AMQP_URI"], "flaky") == []


def test_after_the_last_attempt_the_message_is_parked_with_its_error_and_can_be_replayed(flaky, config):
    FAIL_TIMES["c2"] = 3
    envelope = opened("c2")
    publish(config, envelope)
    parked = wait_for(lambda: dlq.browse(config["AMQP_URI"], "flaky"), timeout=5)
    assert [(p.id, p.reason, p.attempts) for p in parked] == [(envelope["id"], "failed", 3)]
    assert "store unavailable (3)" in parked[0].error
    assert parked[0].queue == "evt-volunteers-call_opened--flaky.on_call_opened"
    handled = calls["c2"]
    assert handled == 3

    assert dlq.replay(config["AMQP_URI"], "flaky", [envelope["id"]]) == 1
    wait_for(lambda: calls["c2"] == handled + 1, timeout=5)  # the store is back: handled once more
    assert all(p.id != envelope["id"] for p in dlq.browse(config["AMQP_URI"], "flaky"))


def test_bad_bodies_are_parked_at_once_and_never_hold_up_good_ones(flaky, config):
    queue = "evt-volunteers-call_opened--flaky.on_call_opened"
    with kombu.Connection(config["AMQP_URI"]) as connection:
        producer = connection.Producer()
        producer.publish(b"\xff\xfe not json", routing_key=queue, content_type="application/json",
                         content_encoding="binary", message_id="poison-bytes")
        producer.publish({"hello": "world"}, routing_key=queue, serializer="json", message_id="poison-shape")
    publish(config, opened("c3"))
    wait_for(lambda: calls["c3"] == 1, timeout=5)
    parked = {p.id: p for p in wait_for(lambda: len(dlq.browse(config["AMQP_URI"], "flaky")) == 2
                                        and dlq.browse(config["AMQP_URI"], "flaky"), timeout=5)}
    assert parked["poison-bytes"].reason == "undecodable" and parked["poison-bytes"].attempts == 0
    assert parked["poison-shape"].reason == "invalid"
    assert dlq.counts(config["AMQP_URI"], ["flaky", "nobody"]) == {"flaky": 2}


def test_a_body_that_breaks_the_check_itself_is_parked_and_the_consumer_goes_on(flaky, config, monkeypatch):
    """No body the catalog's checks did not foresee may end the consumer (it would come back on
    every restart): one that makes the check raise is parked as invalid, with what it raised."""
    from wushe.contract import events
    load = events.load

    def breaks_on_c4(body):
        if body.get("data", {}).get("call_id") == "c4":
            raise TypeError("unhashable type: 'list'")
        return load(body)

    monkeypatch.setattr(events, "load", breaks_on_c4)
    broken = opened("c4")
    publish(config, broken)
    publish(config, opened("c5"))
    wait_for(lambda: calls["c5"] == 1, timeout=5)
    parked = wait_for(lambda: dlq.browse(config["AMQP_URI"], "flaky"), timeout=5)
    assert [(p.id, p.reason) for p in parked] == [(broken["id"], "invalid")]
    assert "TypeError: unhashable type" in parked[0].error and calls["c4"] == 0


def test_retry_tiers_are_queues_with_their_own_delay(flaky, config, rabbit_config, rabbit_manager):
    FAIL_TIMES["c4"] = 1
    publish(config, opened("c4"))
    wait_for(lambda: calls["c4"] == 2, timeout=5)
    queue = rabbit_manager.get_queue(rabbit_config["vhost"], topology.retry_queue(100).name)
    assert queue["arguments"] == {"x-message-ttl": 100, "x-dead-letter-exchange": "wushe.requeue"}


def test_queues_can_be_quorum_queues_even_on_one_node(container_factory, config, rabbit_config, rabbit_manager):
    calls.clear()
    FAIL_TIMES.clear()
    FAIL_TIMES["q1"] = 1
    config["WUSHE"].update(QUEUE_TYPE="quorum", MAX_ATTEMPTS=3, RETRY_DELAYS_MS=[100])
    container = container_factory(Flaky, config)
    container.start()
    publish(config, opened("q1"))
    wait_for(lambda: calls["q1"] == 2, timeout=10)  # failed once, retried through a quorum tier
    vhost = rabbit_config["vhost"]
    for name in ("evt-volunteers-call_opened--flaky.on_call_opened", "wushe.retry.100"):
        assert rabbit_manager.get_queue(vhost, name)["arguments"]["x-queue-type"] == "quorum"

"""The community service alone: registration, folding outcomes, idempotence, bad input."""
import pytest
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook, entrypoint_waiter

from services.community.service import CommunityService
from tests.conftest import wait_for
from wushe.ops import dlq
from wushe.runtime.errors import Conflict, InvalidInput
from wushe.contract.events import new_event
from wushe.runtime.store import database

XINGHUA = "tianjin/binhai/taida/xinghua"


def start(container_factory, config):
    container = container_factory(CommunityService, config)
    container.start()
    with entrypoint_hook(container, "add_region") as add_region:
        for path, level in (("tianjin", "city"), ("tianjin/binhai", "district"),
                            ("tianjin/binhai/taida", "street"), (XINGHUA, "community")):
            add_region({"path": path, "name": path, "level": level})
    return container


def register(config, **requirements):
    with ServiceRpcProxy("community", config) as community:
        return community.register_need({
            "community": XINGHUA, "category": "errands", "urgency": "high", "description": "代购",
            "requirements": {"organisation": False, "volunteers": {"count": 1}, **requirements}})["id"]


def outcome(event_type, need_id, **data):
    source = {"worker": "workers", "call": "volunteers"}[event_type.split("_")[0]]
    return new_event(source, event_type, {"need_id": need_id, "community": XINGHUA, **data})


def test_outcomes_fold_into_linked_and_a_redelivery_changes_nothing(container_factory, config, publish, tap):
    container = start(container_factory, config)
    need_id = register(config)
    needs = database(config["WUSHE"], "community").needs
    assigned = outcome("worker_assigned", need_id, worker_id="w1", case_id="c1", station_id="s1")
    with entrypoint_waiter(container, "on_outcome"):
        publish(assigned)
    version = needs.find_one({"_id": need_id})["version"]
    with entrypoint_waiter(container, "on_outcome"):
        publish(assigned)  # redelivered: same id
    assert needs.find_one({"_id": need_id})["version"] == version
    with entrypoint_waiter(container, "on_outcome"):
        publish(outcome("call_filled", need_id, call_id="call-1", volunteer_ids=["v1"]))
    need = needs.find_one({"_id": need_id})
    assert need["status"] == "linked" and need["linkage"]["volunteers"]["claimed"] == ["v1"]
    assert len(wait_for(lambda: tap.of_type("need_linked", need_id))) == 1


def test_a_failed_part_escalates_and_its_later_success_links(container_factory, config, publish, tap):
    container = start(container_factory, config)
    need_id = register(config)
    with entrypoint_waiter(container, "on_outcome"):
        publish(outcome("worker_unavailable", need_id, reason="no_worker_with_room", escalated_to="tianjin/binhai"))
    with entrypoint_waiter(container, "on_outcome"):
        publish(outcome("call_expired", need_id, call_id="call-1", volunteer_ids=[]))
    escalations = wait_for(lambda: len(tap.of_type("need_escalated", need_id)) == 2 and tap.of_type("need_escalated"))
    assert [e["data"]["missing"] for e in escalations] == [["worker"], ["volunteers", "worker"]]


def test_bad_input_is_refused_with_the_fields(container_factory, config):
    start(container_factory, config)
    with ServiceRpcProxy("community", config) as community:
        with pytest.raises(InvalidInput) as refused:
            community.register_need({"community": "tianjin/binhai/taida/nowhere", "category": "errands",
                                     "urgency": "high", "description": "x"})
        assert "community" in refused.value.errors
        need_id = community.register_need({"id": "need-x", "community": XINGHUA, "category": "errands",
                                           "urgency": "high", "description": "x"})["id"]
        # the same id again: the same answer, or a conflict when the content differs
        assert community.register_need({"id": "need-x", "community": XINGHUA, "category": "errands",
                                        "urgency": "high", "description": "x"})["id"] == need_id
        with pytest.raises(Conflict):
            community.register_need({"id": "need-x", "community": XINGHUA, "category": "errands",
                                     "urgency": "low", "description": "x"})


def test_an_event_that_does_not_match_the_catalog_is_parked_at_once(container_factory, config, publish):
    start(container_factory, config)
    bad = outcome("worker_assigned", "need-x", worker_id="w1", case_id="c1", station_id="s1")
    bad["data"].pop("worker_id")
    publish(bad)
    parked = wait_for(lambda: dlq.browse(config["AMQP_URI"], "community"))
    assert [(p.id, p.reason, p.attempts) for p in parked] == [(bad["id"], "invalid", 0)]
    assert "worker_id" in parked[0].error and parked[0].queue == "evt-parties--community.on_outcome"
    assert database(config["WUSHE"], "community").needs.count_documents({}) == 0
    assert len(dlq.browse(config["AMQP_URI"], "community")) == 1  # looking changes nothing


FORGED = {"nameko.user_id": "forged-user-42", "nameko.authorization": "Bearer forged-token-xyz",
          "nameko.auth": "forged-auth-9", "nameko.correlation_id": "forged-correlation-77",
          "nameko.call_id_stack": ["forged.call.stack"], "nameko.language": "forged-lang"}


def report(config, data, headers=None, event_id=None):
    """A need_reported as station software publishes it: plain kombu, headers of its choosing."""
    import uuid

    import kombu
    envelope = {"id": event_id or str(uuid.uuid4()), "type": "need_reported", "version": 1, "source": "station",
                "time": "2026-11-23T08:00:00.000000Z", "subject": None, "correlation_id": "hotline-365-0042",
                "data": data}
    with kombu.Connection(config["AMQP_URI"]) as connection:
        exchange = kombu.Exchange("station.events", "topic", durable=True)
        connection.Producer(serializer="json").publish(envelope, exchange=exchange, routing_key="need_reported",
                                                       declare=[exchange], headers=headers or {}, retry=True)
    return envelope


def test_nameko_context_headers_from_station_software_are_not_trusted(container_factory, config, tap):
    import io
    import logging
    container = start(container_factory, config)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.root.handlers[0].formatter if logging.root.handlers else None)
    logging.root.addHandler(handler)
    contexts = []
    try:
        with entrypoint_waiter(container, "on_need_reported",
                               callback=lambda worker_ctx, result, exc_info: contexts.append(
                                   (worker_ctx.data, worker_ctx.call_id_stack, exc_info)) or True):
            report(config, {"id": "need-hl-42", "community": XINGHUA, "category": "errands", "urgency": "high",
                            "description": "代购米面"}, headers=FORGED)
        registered = wait_for(lambda: tap.of_type("need_registered", "need-hl-42"))
    finally:
        logging.root.removeHandler(handler)
    (data, call_stack, exc_info), = contexts
    assert exc_info is None and data == {}
    assert call_stack == [call_stack[-1]] and call_stack[-1].startswith("community.on_need_reported.")
    assert registered[0]["correlation_id"] == "need-hl-42"  # its own, not the forged one
    assert database(config["WUSHE"], "community").needs.find_one({"_id": "need-hl-42"})["status"]
    logs = stream.getvalue()
    assert "need.registered" in logs and "hotline-365-0042" in logs  # the envelope's correlation id
    for name, value in FORGED.items():
        for text in (value if isinstance(value, list) else [value]):
            assert text not in logs and text not in repr(data) and text not in repr(registered)
    assert "nameko.user_id" in logs  # operators see that headers were ignored, not what they said


@pytest.mark.parametrize("data,field", [
    ({"community": XINGHUA, "category": "errands", "urgency": "high", "description": "x",
      "requirements": {"volunteers": {"count": 1, "skils": ["errands"]}}},   # an unknown nested field
     "requirements.volunteers.skils"),
    ({"community": XINGHUA, "category": "errands", "urgency": "whenever", "description": "x"}, "urgency"),
    ({"community": XINGHUA, "category": "errands", "urgency": "high", "description": "x", "user_id": "admin"},
     "user_id"),
    ({"community": XINGHUA, "category": "errands", "urgency": "high"}, "description"),
])
def test_an_invalid_report_from_station_software_is_answered_parked_and_registers_nothing(
        container_factory, config, tap, data, field):
    start(container_factory, config)
    envelope = report(config, data)
    parked = wait_for(lambda: dlq.browse(config["AMQP_URI"], "community"))
    assert [(p.id, p.reason) for p in parked] == [(envelope["id"], "invalid")]
    assert database(config["WUSHE"], "community").needs.count_documents({}) == 0
    (answer,) = wait_for(lambda: tap.of_type("need_report_refused"))
    assert answer["data"]["report_id"] == envelope["id"] and answer["data"]["reported_by"] == "station"
    assert list(answer["data"]["errors"]) == [field]

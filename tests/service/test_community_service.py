"""The community service alone: registration, folding outcomes, idempotence, bad input."""
import pytest
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook, entrypoint_waiter

from services.community.service import CommunityService
from tests.conftest import wait_for
from wushe import dlq
from wushe.errors import Conflict, InvalidInput
from wushe.events import new_event
from wushe.store import database

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

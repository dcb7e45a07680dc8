"""The outbox: an event saved with its state but never published (a crash in between) is
published by the relay, and a redelivery of it changes nothing downstream."""
from services.volunteers.service import VolunteersService
from tests.conftest import wait_for
from wushe.contract.events import new_event
from wushe.runtime.store import database


def test_the_relay_publishes_what_a_crash_left_in_an_outbox(container_factory, config, tap):
    calls = database(config["WUSHE"], "volunteers").calls
    stranded = new_event("volunteers", "call_opened", {
        "need_id": "need-1", "community": "tianjin/binhai/taida/xinghua", "call_id": "call-1", "slots": 2,
        "skills": [], "hours": 1.0, "expires_at": "2026-11-24T08:00:00.000000Z"})
    stranded["time"] = "2026-11-23T08:00:00.000000Z"  # saved long ago, never published
    calls.insert_one({"_id": "call-1", "need_id": "need-1", "state": "open", "claimed": [], "outbox": [stranded]})

    container = container_factory(VolunteersService, config)
    container.start()

    published = wait_for(lambda: tap.of_type("call_opened"))
    assert [e["id"] for e in published] == [stranded["id"]]
    wait_for(lambda: calls.find_one({"_id": "call-1"})["outbox"] == [])

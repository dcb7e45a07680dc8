"""The outbox: an event saved with its state but never published (a crash in between) is
published by the relay, and a redelivery of it changes nothing downstream."""
import eventlet

from services.volunteers.service import VolunteersService
from tests.conftest import wait_for
from wushe.contract.events import new_event
from wushe.runtime.outbox import LEASE
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


def test_an_outbox_held_by_a_flusher_is_left_to_it_until_its_lease_runs_out(container_factory, config, tap):
    """One flusher per document: the relay leaves an outbox whose lease is held, and takes it
    over once the lease has run out (its holder crashed between taking it and letting go)."""
    calls = database(config["WUSHE"], "volunteers").calls
    stranded = new_event("volunteers", "call_opened", {
        "need_id": "need-2", "community": "tianjin/binhai/taida/xinghua", "call_id": "call-2", "slots": 1,
        "skills": [], "hours": 1.0, "expires_at": "2026-11-24T08:00:00.000000Z"})
    stranded["time"] = "2026-11-23T08:00:00.000000Z"
    calls.insert_one({"_id": "call-2", "need_id": "need-2", "state": "open", "claimed": [], "outbox": [stranded],
                      LEASE: "2999-01-01T00:00:00.000000Z"})  # held by a live flusher

    container = container_factory(VolunteersService, config)
    container.start()
    eventlet.sleep(4 * config["WUSHE"]["OUTBOX_RELAY_SECONDS"] + config["WUSHE"]["OUTBOX_GRACE_SECONDS"])
    assert tap.of_type("call_opened") == [] and calls.find_one({"_id": "call-2"})["outbox"] == [stranded]

    calls.update_one({"_id": "call-2"}, {"$set": {LEASE: "2026-11-23T08:00:10.000000Z"}})  # its holder died
    assert [e["id"] for e in wait_for(lambda: tap.of_type("call_opened"))] == [stranded["id"]]
    wait_for(lambda: (lambda doc: doc["outbox"] == [] and LEASE not in doc)(calls.find_one({"_id": "call-2"})))

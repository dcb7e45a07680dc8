"""Orgs and volunteers alone: a redelivered or republished event changes nothing the second time."""
from nameko.testing.services import entrypoint_hook, entrypoint_waiter

from services.orgs.service import OrgsService
from services.volunteers.service import VolunteersService
from tests.conftest import wait_for
from tests.service.conftest import need_registered
from wushe.runtime.store import database

HUAYUAN = "tianjin/binhai/taida/huayuan"


def test_orgs_decide_once_per_need_and_incubate_once(container_factory, config, publish, tap):
    container = container_factory(OrgsService, config)
    container.start()
    events = [need_registered(f"need-r{i}", community=HUAYUAN, category="home_repair", worker=False)
              for i in range(3)]
    for event in events + events:  # each delivered twice
        with entrypoint_waiter(container, "on_need_registered"):
            publish(event)
    started = wait_for(lambda: tap.of_type("org_incubation_started"))
    assert len(started) == 1 and sorted(started[0]["data"]["need_ids"]) == ["need-r0", "need-r1", "need-r2"]
    assert len(tap.of_type("org_unmatched")) == 3
    orgs = database(config["WUSHE"], "orgs")
    assert orgs.organisations.count_documents({"stage": "incubating"}) == 1
    assert orgs.needs.count_documents({"outcome": "incubating"}) == 3


def test_volunteers_open_one_call_per_need_and_claims_stay_exact(container_factory, config, publish, tap):
    container = container_factory(VolunteersService, config)
    container.start()
    with entrypoint_hook(container, "add_volunteer") as add:
        for i in range(4):
            add({"id": f"v{i}", "name": f"快递员{i}", "community": HUAYUAN, "skills": ["errands"]})
    event = need_registered("need-v1", community=HUAYUAN, worker=False,
                            volunteers={"count": 2, "skills": ["errands"], "hours": 1.0})
    for _ in range(3):
        with entrypoint_waiter(container, "on_need_registered"):
            publish(event)
    assert len(wait_for(lambda: tap.of_type("call_opened"))) == 1
    assert database(config["WUSHE"], "volunteers").calls.count_documents({"need_id": "need-v1"}) == 1
    with entrypoint_hook(container, "claim") as claim:
        for volunteer in ("v0", "v1"):
            claim("call-v1", {"volunteer_id": volunteer})
    with entrypoint_hook(container, "get_call") as get_call:
        call = get_call("call-v1")
    assert call["state"] == "filled" and call["claimed"] == ["v0", "v1"]
    assert len(wait_for(lambda: tap.of_type("call_filled"))) == 1


def test_the_call_check_expires_late_calls_and_fills_full_ones_left_open(container_factory, config, tap):
    calls = database(config["WUSHE"], "volunteers").calls
    base = {"community": HUAYUAN, "street": "tianjin/binhai/taida", "skills": [], "hours": 1.0, "slots": 2,
            "state": "open", "completions": [], "outbox": []}
    calls.insert_many([
        {**base, "_id": "call-late", "need_id": "need-late", "claimed": ["v0"], "expires_at": "2020-01-01T00:00:00.000000Z"},
        {**base, "_id": "call-full", "need_id": "need-full", "claimed": ["v0", "v1"], "expires_at": "2099-01-01T00:00:00.000000Z"},
        {**base, "_id": "call-fine", "need_id": "need-fine", "claimed": [], "expires_at": "2099-01-01T00:00:00.000000Z"}])
    container = container_factory(VolunteersService, config)
    container.start()
    with entrypoint_hook(container, "settle_calls") as settle:
        settle()
        settle()  # a second pass changes nothing
    assert {c["_id"]: c["state"] for c in calls.find()} == {"call-late": "expired", "call-full": "filled",
                                                            "call-fine": "open"}
    wait_for(lambda: tap.of_type("call_expired") and tap.of_type("call_filled"))
    assert [e["subject"] for e in tap.of_type("call_expired")] == ["need-late"]
    assert [e["subject"] for e in tap.of_type("call_filled")] == ["need-full"]


def test_a_transfer_a_crash_left_half_done_is_finished_once(container_factory, config):
    from services.volunteers import timebank
    db = database(config["WUSHE"], "volunteers")
    txn = timebank.transaction("txn-1", "transfer", "v-a", "v-b", 2, "2026-11-23T08:00:00.000000Z")
    # v-a was debited (the guarded first step) and the process died: not recorded, v-b not paid
    db.volunteers.insert_many([
        {"_id": "v-a", "community": HUAYUAN, "hours_balance": 1.0, "txns": ["txn-1"], "pending": [txn], "outbox": []},
        {"_id": "v-b", "community": HUAYUAN, "hours_balance": 0.0, "txns": [], "pending": [], "outbox": []}])
    container = container_factory(VolunteersService, config)
    container.start()
    with entrypoint_hook(container, "settle_ledger") as settle:
        settle()
        settle()
    assert db.ledger.count_documents({"_id": "txn-1"}) == 1
    assert db.volunteers.find_one({"_id": "v-b"})["hours_balance"] == 2
    assert db.volunteers.find_one({"_id": "v-a"})["pending"] == []


def test_the_booking_check_frees_windows_no_claim_holds(container_factory, config):
    """A crash between booking a window and claiming, a cancelled call or a service long over
    leaves a booking behind; the periodic check frees it, and keeps those a claim holds."""
    db = database(config["WUSHE"], "volunteers")
    base = {"community": HUAYUAN, "street": "tianjin/binhai/taida", "skills": [], "hours": 1.0, "slots": 2,
            "completions": [], "outbox": [], "waiting": [], "expires_at": "2099-01-01T00:00:00.000000Z"}
    db.calls.insert_many([
        {**base, "_id": "call-held", "need_id": "need-held", "state": "open", "claimed": ["v0"]},
        {**base, "_id": "call-left", "need_id": "need-left", "state": "open", "claimed": []},
        {**base, "_id": "call-gone", "need_id": "need-gone", "state": "cancelled", "claimed": ["v0"]},
        {**base, "_id": "call-past", "need_id": "need-past", "state": "filled", "claimed": ["v0"]},
        {**base, "_id": "call-just", "need_id": "need-just", "state": "open", "claimed": []}])
    old, just = "2026-01-01T00:00:00.000000Z", "2099-01-01T00:00:00.000000Z"  # `just`: booked a moment ago

    def booking(call_id, at, ends_at="2099-01-02T00:00:00.000000Z"):
        return {"call_id": call_id, "starts_at": "2099-01-01T00:00:00.000000Z", "ends_at": ends_at, "at": at}
    db.volunteers.insert_one({"_id": "v0", "name": "快递员", "community": HUAYUAN, "skills": [], "bookings": [
        booking("call-held", old), booking("call-left", old), booking("call-gone", old),
        booking("call-past", old, ends_at="2026-01-01T02:00:00.000000Z"), booking("call-just", just)]})
    container = container_factory(VolunteersService, config)
    container.start()
    with entrypoint_hook(container, "settle_bookings") as settle:
        settle()
    kept = [b["call_id"] for b in db.volunteers.find_one({"_id": "v0"})["bookings"]]
    assert kept == ["call-held", "call-just"]

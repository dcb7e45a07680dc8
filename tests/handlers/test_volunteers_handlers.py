"""services.volunteers' use cases without a broker: a call opened once per need, claims that
book a service window and take a slot (or give the window back when refused), withdrawals that
promote the first volunteer waiting, hours credited once, the time bank's movements — and claims
and completions sent at once, which still leave exactly `slots` claims and one credit."""
import eventlet
import pytest

from services.volunteers import calls, domain, handlers
from services.volunteers.store import VolunteersStore
from tests.unit.helpers import COMMUNITY, DISTRICT, NEED_ID, STREET, T0
from wushe.contract.clock import later
from services.volunteers.domain import Rules
from wushe.contract.decisions import Refused
from wushe.contract.events import load, new_event
from wushe.runtime.subscribe import DUPLICATE

CALL_ID = domain.call_id_for(NEED_ID)
MORNING = ("2026-11-24T09:00:00.000000Z", "2026-11-24T11:00:00.000000Z")
NOON = ("2026-11-24T10:30:00.000000Z", "2026-11-24T12:00:00.000000Z")  # overlaps the morning


class Clock:
    """The use cases' clock, moved on by the test."""

    def __init__(self, at):
        self.at = at

    def __call__(self):
        return self.at

    def advance(self, **delta):
        self.at = later(self.at, **delta)



def need_registered(need_id=NEED_ID, count=2, window=MORNING):
    wanted = {"count": count, "skills": ["escort"], "hours": 2.0}
    if window:
        wanted.update(starts_at=window[0], ends_at=window[1])
    return load(new_event("community", "need_registered", {
        "need_id": need_id, "community": COMMUNITY, "street": STREET, "district": DISTRICT,
        "category": "medical_escort", "urgency": "normal", "registered_at": T0,
        "requirements": {"worker": False, "organisation": False, "volunteers": wanted, "resources": None}}))


@pytest.fixture
def clock():
    return Clock(T0)


@pytest.fixture
def volunteers(db, outbox, log, clock):
    store = VolunteersStore(db)
    store.ensure_indexes()
    c = handlers.Volunteers(store, outbox, log, Rules(), now=clock)
    for i in range(30):
        handlers.add_volunteer(c, {"id": f"vol-{i}", "name": f"志愿者{i}", "community": COMMUNITY,
                                   "skills": ["escort"]})
    return c


def concurrently(c, requests):
    """Run the requests at once on green threads, the store yielding before each call: what each
    answered, or the refusal it got."""

    def run(request):
        try:
            return request()
        except Refused as refused:
            return refused
    return list(eventlet.GreenPool(len(requests)).imap(run, requests))


def bookings(c, volunteer_id):
    return [b["call_id"] for b in c.store.bookings_of(volunteer_id)]


# the call's own life --------------------------------------------------------------------------
def test_a_need_asking_for_volunteers_opens_one_call_and_a_redelivery_opens_none(volunteers, outbox):
    event = need_registered()
    assert calls.open_call(volunteers, event) is None
    assert calls.open_call(volunteers, event) == DUPLICATE
    assert outbox.types() == ["call_opened"] and outbox.published[0]["subject"] == NEED_ID
    opened = calls.call(volunteers, CALL_ID)
    assert (opened["state"], opened["slots"], opened["expires_at"]) == ("open", 2, "2026-11-25T08:00:00.000000Z")


def test_a_cancelled_need_closes_its_call_lets_its_windows_go_and_a_late_registration_opens_none(volunteers, outbox):
    calls.open_call(volunteers, need_registered())
    calls.claim(volunteers, CALL_ID, "vol-0")
    calls.cancel_call(volunteers, load(new_event("community", "need_cancelled", {
        "need_id": NEED_ID, "community": COMMUNITY, "reason": "家属已处理"})))
    assert calls.call(volunteers, CALL_ID)["state"] == "cancelled" and bookings(volunteers, "vol-0") == []
    other = need_registered("need-late")
    calls.cancel_call(volunteers, load(new_event("community", "need_cancelled", {
        "need_id": "need-late", "community": COMMUNITY, "reason": "家属已处理"})))
    assert calls.open_call(volunteers, other) is None
    assert volunteers.store.call_id_of_need("need-late") is None
    assert outbox.types() == ["call_opened", "call_claimed", "call_cancelled"]


def test_the_call_check_expires_a_call_past_its_deadline(volunteers, outbox, clock):
    calls.open_call(volunteers, need_registered(window=None))
    calls.settle_calls(volunteers)
    assert calls.call(volunteers, CALL_ID)["state"] == "open"
    clock.advance(days=3)
    calls.settle_calls(volunteers)
    calls.settle_calls(volunteers)  # a second pass changes nothing
    assert calls.call(volunteers, CALL_ID)["state"] == "expired"
    assert outbox.types() == ["call_opened", "call_expired"]


# claims and the waiting list --------------------------------------------------------------------
def test_a_claim_books_the_window_and_takes_a_slot(volunteers, outbox):
    calls.open_call(volunteers, need_registered())
    answer = calls.claim(volunteers, CALL_ID, "vol-0")
    assert answer == {"call_id": CALL_ID, "volunteer_id": "vol-0", "slots": 2, "call_version": 1,
                      "status": "claimed", "position": 1}
    assert bookings(volunteers, "vol-0") == [CALL_ID]
    assert calls.call(volunteers, CALL_ID)["claimed"] == ["vol-0"]
    assert outbox.types() == ["call_opened", "call_claimed"]
    assert volunteers.store.call(CALL_ID).get("outbox", []) == []  # published and pulled


def test_a_refused_claim_gives_the_booking_back(volunteers, outbox):
    calls.open_call(volunteers, need_registered(count=1))
    calls.claim(volunteers, CALL_ID, "vol-0")
    with pytest.raises(Refused, match="the call is full") as full:
        calls.claim(volunteers, CALL_ID, "vol-1")  # booked, then refused by the call
    assert full.value.kind == Refused.CONFLICT
    assert bookings(volunteers, "vol-1") == [] and bookings(volunteers, "vol-0") == [CALL_ID]
    assert outbox.types() == ["call_opened", "call_claimed", "call_filled"]


def test_a_claim_on_a_window_that_overlaps_one_the_volunteer_holds_is_refused_naming_it(volunteers):
    calls.open_call(volunteers, need_registered())
    calls.open_call(volunteers, need_registered("need-noon", window=NOON))
    calls.claim(volunteers, CALL_ID, "vol-0")
    with pytest.raises(Refused, match=f"already holds call {CALL_ID}"):
        calls.claim(volunteers, "call-noon", "vol-0")
    assert bookings(volunteers, "vol-0") == [CALL_ID]
    assert calls.call(volunteers, "call-noon")["claimed"] == []


def test_a_claim_by_a_volunteer_lacking_a_skill_or_unknown_is_invalid_naming_the_field(volunteers):
    calls.open_call(volunteers, need_registered())
    handlers.add_volunteer(volunteers, {"id": "vol-cook", "name": "厨师", "community": COMMUNITY, "skills": ["cooking"]})
    for volunteer_id in ("vol-cook", "vol-nobody"):
        with pytest.raises(Refused) as refused:
            calls.claim(volunteers, CALL_ID, volunteer_id)
        assert refused.value.kind == Refused.INVALID and list(refused.value.fields) == ["volunteer_id"]
    with pytest.raises(Refused) as missing:
        calls.claim(volunteers, "call-nowhere", "vol-0")
    assert missing.value.kind == Refused.MISSING


def test_a_withdrawal_promotes_the_first_volunteer_waiting(volunteers, outbox):
    calls.open_call(volunteers, need_registered())
    for volunteer_id in ("vol-0", "vol-1", "vol-2", "vol-3"):
        calls.claim(volunteers, CALL_ID, volunteer_id, wait=True)
    answer, call = calls.withdraw(volunteers, CALL_ID, "vol-0")
    assert answer == {"call_id": CALL_ID, "volunteer_id": "vol-0", "status": "withdrawn", "from": "claims",
                      "promoted": "vol-2"}
    assert (call["claimed"], call["waiting"], call["state"]) == (["vol-1", "vol-2"], ["vol-3"], "filled")
    assert bookings(volunteers, "vol-0") == [] and bookings(volunteers, "vol-2") == [CALL_ID]
    assert outbox.types()[-2:] == ["claim_withdrawn", "waitlist_promoted"]
    with pytest.raises(Refused) as again:
        calls.withdraw(volunteers, CALL_ID, "vol-0")
    assert again.value.kind == Refused.MISSING


def test_the_booking_check_frees_a_window_a_crash_left_without_its_claim(volunteers, clock):
    calls.open_call(volunteers, need_registered())
    calls.claim(volunteers, CALL_ID, "vol-0")
    volunteers.store.book("vol-1", domain.booking(calls.call(volunteers, CALL_ID)), clock())  # then died
    calls.settle_bookings(volunteers)
    assert bookings(volunteers, "vol-1") == [CALL_ID]  # its claim may be on its way
    clock.advance(minutes=2)
    calls.settle_bookings(volunteers)
    assert bookings(volunteers, "vol-1") == [] and bookings(volunteers, "vol-0") == [CALL_ID]


# attendance, completion and the time bank ---------------------------------------------------------
def test_check_out_credits_the_attended_hours_once(volunteers, outbox, clock):
    calls.open_call(volunteers, need_registered())
    calls.claim(volunteers, CALL_ID, "vol-0")
    clock.at = MORNING[0]
    calls.check_in(volunteers, CALL_ID, "vol-0")
    clock.advance(hours=2, minutes=5)
    first = calls.check_out(volunteers, CALL_ID, "vol-0")
    assert (first["hours"], first["hours_balance"]) == (2.0, 2.0)
    clock.advance(hours=1)
    assert calls.check_out(volunteers, CALL_ID, "vol-0") == first  # a retry
    assert outbox.types().count("hours_credited") == 1
    assert handlers.ledger(volunteers, "vol-0")["items"][0]["call_id"] == CALL_ID


def test_completion_credits_the_hours_once(volunteers, outbox):
    calls.open_call(volunteers, need_registered(window=None))
    calls.claim(volunteers, CALL_ID, "vol-0")
    assert calls.complete(volunteers, CALL_ID, "vol-0", 1.5) == {
        "call_id": CALL_ID, "volunteer_id": "vol-0", "hours": 1.5, "hours_balance": 1.5}
    with pytest.raises(Refused, match="already credited") as again:
        calls.complete(volunteers, CALL_ID, "vol-0", 1.5)
    assert again.value.kind == Refused.CONFLICT
    with pytest.raises(Refused, match="holding a claim"):
        calls.complete(volunteers, CALL_ID, "vol-1", 1.5)
    assert handlers.volunteer(volunteers, "vol-0")["hours_balance"] == 1.5
    assert calls.call(volunteers, CALL_ID)["completions"] == [{"volunteer_id": "vol-0", "hours": 1.5}]
    assert outbox.types().count("hours_credited") == 1 and volunteers.store.volunteer("vol-0")["pending"] == []
    assert calls.stats(volunteers, COMMUNITY)["volunteer_hours"] == 1.5


def test_a_transfer_pays_the_other_volunteer_once_and_never_overdraws(volunteers, outbox):
    calls.open_call(volunteers, need_registered(window=None))
    calls.claim(volunteers, CALL_ID, "vol-0")
    calls.complete(volunteers, CALL_ID, "vol-0", 3)
    moved = handlers.transfer(volunteers, "vol-0", {"id": "txn-1", "to_volunteer_id": "vol-1", "hours": 2})
    assert moved == {"txn_id": "txn-1", "kind": "transfer", "hours": 2.0, "hours_balance": 1.0}
    with pytest.raises(Refused, match="txn-1 was already made"):
        handlers.transfer(volunteers, "vol-0", {"id": "txn-1", "to_volunteer_id": "vol-1", "hours": 0.5})
    with pytest.raises(Refused, match=r"balance \(1 h\) does not cover 2 h"):
        handlers.redeem(volunteers, "vol-0", {"hours": 2, "service": "理发", "beneficiary": "family"})
    with pytest.raises(Refused) as oneself:
        handlers.transfer(volunteers, "vol-0", {"to_volunteer_id": "vol-0", "hours": 1})
    assert oneself.value.kind == Refused.INVALID and list(oneself.value.fields) == ["to_volunteer_id"]
    assert [handlers.volunteer(volunteers, v)["hours_balance"] for v in ("vol-0", "vol-1")] == [1.0, 2.0]
    transferred = [e for e in outbox.published if e["type"] == "hours_transferred"]
    assert len(transferred) == 1 and transferred[0]["subject"] == "vol-0"


# at once ------------------------------------------------------------------------------------------
def test_thirty_volunteers_claiming_three_slots_at_once_leave_exactly_three_claims(volunteers, outbox):
    """Half of them ask to wait: three claim, ten wait (the rule's limit), the rest are refused —
    and only the volunteers holding a claim or a place in line keep the window booked."""
    calls.open_call(volunteers, need_registered(count=3))
    answers = concurrently(volunteers, [
        (lambda i=i: calls.claim(volunteers, CALL_ID, f"vol-{i}", wait=i % 2 == 0)) for i in range(30)])
    done = [a for a in answers if not isinstance(a, Refused)]
    call = calls.call(volunteers, CALL_ID)
    assert len(call["claimed"]) == 3 and call["state"] == "filled"
    assert len(call["waiting"]) == 10 and all(int(v.split("-")[1]) % 2 == 0 for v in call["waiting"])
    assert sorted(a["volunteer_id"] for a in done) == sorted(call["claimed"] + call["waiting"])
    assert all(a.kind == Refused.CONFLICT for a in answers if isinstance(a, Refused))
    # each change one version step, in the order answered
    assert sorted(a["call_version"] for a in done) == list(range(1, 14)) and call["version"] == 13
    holders = {f"vol-{i}" for i in range(30) if bookings(volunteers, f"vol-{i}")}
    assert holders == set(call["claimed"] + call["waiting"])
    assert outbox.types().count("call_claimed") == 3 and outbox.types().count("call_filled") == 1


def test_a_completion_sent_twice_at_once_credits_the_hours_once(volunteers, outbox):
    calls.open_call(volunteers, need_registered(window=None))
    calls.claim(volunteers, CALL_ID, "vol-0")
    answers = concurrently(volunteers, [lambda: calls.complete(volunteers, CALL_ID, "vol-0", 2.5)] * 2)
    assert sorted(type(a).__name__ for a in answers) == ["Refused", "dict"]
    assert handlers.volunteer(volunteers, "vol-0")["hours_balance"] == 2.5
    assert [e["hours"] for e in handlers.ledger(volunteers, "vol-0")["items"]] == [2.5]
    assert calls.call(volunteers, CALL_ID)["completions"] == [{"volunteer_id": "vol-0", "hours": 2.5}]
    assert outbox.types().count("hours_credited") == 1

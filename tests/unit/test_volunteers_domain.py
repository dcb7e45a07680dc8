"""services.volunteers.domain and .attendance: calls (抢单), claims, the waiting list, team-first
offers, service windows, check-in/out and no-shows."""
import pytest

from services.volunteers import attendance, domain
from tests.unit.helpers import COMMUNITY, NEED_ID, STREET, T0, T1, T2, T3
from wushe.contract.decisions import Refused
from wushe.contract.events import load, stamped

RULES = {"critical": 2, "high": 12, "normal": 48, "low": 168}
MORNING = ("2026-11-24T09:00:00.000000Z", "2026-11-24T11:00:00.000000Z")


def need(urgency="normal", skills=("escort", "first_aid", "escort"), count=2, **wanted):
    return {"need_id": NEED_ID, "community": COMMUNITY, "street": STREET, "category": "medical_escort",
            "urgency": urgency, "registered_at": T0,
            "requirements": {"volunteers": {"count": count, "skills": list(skills), "hours": 3.0, **wanted}}}


def call(state="open", claimed=(), slots=2, skills=("escort",), waiting=(), version=3, **more):
    return {"_id": "call-1", "need_id": NEED_ID, "community": COMMUNITY, "state": state, "claimed": list(claimed),
            "waiting": list(waiting), "slots": slots, "skills": list(skills), "version": version,
            "expires_at": "2026-11-25T08:00:00.000000Z", "attendance": [], **more}


def vol(volunteer_id, teams=()):
    return {"_id": volunteer_id, "skills": ["escort"], "teams": list(teams)}


def announced(draft):
    """A rule's event as the store stamps and a consumer loads it (its data checked against the catalog)."""
    return load(stamped(domain.SOURCE, draft, T0))


def types(change):
    return [announced(e).type for e in change.events]


def data(change, index=0):
    return announced(change.events[index]).data


def opened(*args):
    """new_call's call and its call_opened event, as stamped."""
    made = domain.new_call(*args)
    assert len(made.events) == 1
    return made.fields, stamped(domain.SOURCE, made.events[0], T0)


@pytest.mark.parametrize("urgency, expires_at", [
    ("critical", "2026-11-23T10:00:00.000000Z"),
    ("high", "2026-11-23T20:00:00.000000Z"),
    ("normal", "2026-11-25T08:00:00.000000Z"),
    ("low", "2026-11-30T08:00:00.000000Z"),
])
def test_call_expires_by_urgency_after_registration(urgency, expires_at):
    call_, event = opened("call-1", need(urgency), RULES, T2, 2)  # opened later than registered
    assert call_["expires_at"] == expires_at
    assert load(event).data["expires_at"] == expires_at


def test_new_call_is_open_with_slots_and_distinct_skills():
    call_, event = opened("call-1", need(count=3), RULES, T2, 2)
    assert (call_["state"], call_["slots"], call_["claimed"], call_["waiting"]) == ("open", 3, [], [])
    assert call_["skills"] == ["escort", "first_aid"]
    loaded = load(event)
    assert (loaded.type, loaded.subject) == ("call_opened", NEED_ID)
    assert (loaded.data["call_id"], loaded.data["slots"], loaded.data["hours"]) == ("call-1", 3, 3.0)
    assert "starts_at" not in call_ and "team_id" not in call_


def test_a_call_offered_to_a_team_keeps_it_for_the_rule_but_at_most_half_its_time_left():
    call_, event = opened("call-1", need("normal", team_id="team-zhukun"), RULES, T0, 2)
    assert (call_["team_id"], call_["team_until"]) == ("team-zhukun", "2026-11-23T10:00:00.000000Z")
    assert load(event).data["team_until"] == call_["team_until"]
    critical, _ = opened("call-1", need("critical", team_id="team-zhukun"), RULES, T0, 2)
    assert critical["team_until"] == "2026-11-23T09:00:00.000000Z"  # half of its two hours


def test_a_call_keeps_the_needs_service_window():
    call_, event = opened("call-1", need(starts_at=MORNING[0], ends_at=MORNING[1]), RULES, T0, 2)
    assert (call_["starts_at"], call_["ends_at"]) == MORNING
    assert domain.booking(call_) == {"call_id": "call-1", "starts_at": MORNING[0], "ends_at": MORNING[1]}
    assert domain.booking(call()) is None


@pytest.mark.parametrize("skills, volunteer_skills, missing", [
    (["escort"], ["escort", "tailoring"], []),
    (["escort", "first_aid"], ["escort"], ["first_aid"]),
    (["first_aid", "escort"], [], ["escort", "first_aid"]),
    ([], [], []),
])
def test_missing_skills(skills, volunteer_skills, missing):
    assert domain.missing_skills(call(skills=skills), {"skills": volunteer_skills}) == missing


# claims and the waiting list ---------------------------------------------------------------------
def test_a_claim_takes_a_slot_and_announces_the_claimed_list_with_the_next_version():
    change = domain.claim(call(claimed=["vol-wang"], slots=3), vol("vol-zhao"), T1)
    assert change.fields == {"claimed": ["vol-wang", "vol-zhao"]}
    assert change.answer == {"status": "claimed", "position": 2}
    assert types(change) == ["call_claimed"]
    assert (data(change)["claimed"], data(change)["call_version"]) == (["vol-wang", "vol-zhao"], 4)


def test_the_claim_that_takes_the_last_slot_fills_the_call_in_the_same_change():
    change = domain.claim(call(claimed=["vol-wang"]), vol("vol-zhao"), T1)
    assert (change.fields["state"], change.fields["filled_at"]) == ("filled", T1)
    assert types(change) == ["call_claimed", "call_filled"]
    assert data(change, 1)["volunteer_ids"] == ["vol-wang", "vol-zhao"]


@pytest.mark.parametrize("the_call, volunteer, now, reason", [
    (call(state="expired"), vol("vol-wang"), T1, "the call is expired"),
    (call(state="cancelled", claimed=["vol-wang"]), vol("vol-wang"), T1, "the call is cancelled"),
    (call(claimed=["vol-wang"]), vol("vol-wang"), T1, "this volunteer has already claimed the call"),
    (call(claimed=["a", "b"], waiting=["vol-sun"], state="filled"), vol("vol-sun"), T1,
     "this volunteer is already on the call's waiting list"),
    (call(starts_at=T1, ends_at=T3), vol("vol-wang"), T2, "the service has already started"),
    (call(team_id="team-zhenqing", team_until=T2), vol("vol-wang", ["team-other"]), T1,
     f"the call is offered to team team-zhenqing until {T2}"),
])
def test_refused_claims_say_why(the_call, volunteer, now, reason):
    assert domain.claim_refused(the_call, volunteer, now) == reason
    with pytest.raises(Refused, match="."):
        domain.claim(the_call, volunteer, now, wait=True)


def test_team_members_claim_during_the_team_window_and_everyone_after_it():
    offered = call(team_id="team-zhenqing", team_until=T2)
    assert domain.claim_refused(offered, vol("vol-wang", ["team-zhenqing"]), T1) is None
    assert domain.claim_refused(offered, vol("vol-sun"), T2) is None


def test_a_full_call_refuses_a_claim_unless_the_volunteer_asks_to_wait():
    full = call(state="filled", claimed=["vol-wang", "vol-zhao"], waiting=["vol-li"])
    with pytest.raises(Refused, match="waiting list"):
        domain.claim(full, vol("vol-sun"), T1)
    change = domain.claim(full, vol("vol-sun"), T1, wait=True)
    assert change.fields == {"waiting": ["vol-li", "vol-sun"]}
    assert change.answer == {"status": "waiting", "position": 2}
    assert types(change) == ["waitlist_joined"] and data(change)["position"] == 2


def test_the_waiting_list_has_a_limit():
    full = call(state="filled", claimed=["a", "b"], waiting=["c", "d"])
    with pytest.raises(Refused, match=r"waiting list \(2\)"):
        domain.claim(full, vol("vol-sun"), T1, wait=True, waiting_max=2)


def test_a_withdrawal_from_a_filled_call_promotes_the_first_volunteer_waiting():
    full = call(state="filled", claimed=["vol-wang", "vol-zhao"], waiting=["vol-sun", "vol-li"])
    change = domain.withdraw(full, "vol-wang", T1)
    assert change.fields == {"claimed": ["vol-zhao", "vol-sun"], "waiting": ["vol-li"]}
    assert change.answer == {"status": "withdrawn", "from": "claims", "promoted": "vol-sun"}
    assert types(change) == ["claim_withdrawn", "waitlist_promoted"]
    assert data(change)["state"] == "filled" and data(change, 1)["claimed"] == ["vol-zhao", "vol-sun"]


def test_a_withdrawal_with_nobody_waiting_opens_the_call_again():
    change = domain.withdraw(call(state="filled", claimed=["vol-wang", "vol-zhao"]), "vol-zhao", T1)
    assert change.fields == {"claimed": ["vol-wang"], "state": "open"}
    assert data(change)["state"] == "open" and change.answer["promoted"] is None


def test_leaving_the_waiting_list_keeps_the_others_in_order():
    change = domain.withdraw(call(state="filled", claimed=["a", "b"], waiting=["c", "d", "e"]), "d", T1)
    assert change.fields == {"waiting": ["c", "e"]}
    assert types(change) == ["waitlist_left"] and change.answer["from"] == "waiting_list"


@pytest.mark.parametrize("the_call, volunteer, kind", [
    (call(claimed=["vol-wang"]), "vol-sun", Refused.MISSING),
    (call(claimed=["vol-wang"], starts_at=T1, ends_at=T3), "vol-wang", Refused.CONFLICT),  # started
    (call(claimed=["vol-wang"], attendance=[{"volunteer_id": "vol-wang", "checked_in_at": T0}]), "vol-wang",
     Refused.CONFLICT),
    (call(state="cancelled", claimed=["vol-wang"]), "vol-wang", Refused.CONFLICT),
])
def test_withdrawals_that_are_refused(the_call, volunteer, kind):
    with pytest.raises(Refused) as refused:
        domain.withdraw(the_call, volunteer, T2)
    assert refused.value.kind == kind


def test_an_expired_call_lets_a_claim_go_but_promotes_nobody():
    change = domain.withdraw(call(state="expired", claimed=["vol-wang"], waiting=["vol-sun"]), "vol-wang", T1)
    assert change.fields == {"claimed": []} and change.answer["promoted"] is None


def test_random_claims_and_withdrawals_never_exceed_the_slots_and_keep_the_waiting_list_in_arrival_order():
    import random
    rng = random.Random(7)
    state = call(slots=3, version=0)
    arrivals = []  # (volunteer, version) of each join of the waiting list
    for _ in range(2000):
        volunteer = f"vol-{rng.randrange(12)}"
        try:
            if rng.random() < 0.6:
                change = domain.claim(state, vol(volunteer), T1, wait=True, waiting_max=50)
            else:
                change = domain.withdraw(state, volunteer, T1)
        except Refused:
            continue
        if change.answer.get("status") == "waiting":
            arrivals.append(volunteer)
        state = {**state, **change.fields, "version": state["version"] + 1}
        assert len(state["claimed"]) <= 3 and len(set(state["claimed"] + state["waiting"])) == \
            len(state["claimed"]) + len(state["waiting"])
        assert state["waiting"] == [] or len(state["claimed"]) == 3
        last_join = {v: i for i, v in enumerate(arrivals)}
        assert state["waiting"] == sorted(state["waiting"], key=last_join.get)


def test_an_offer_to_a_team_needs_an_open_call():
    change = domain.offer(call(), "team-zhukun", T0, 2)
    assert change.fields == {"team_id": "team-zhukun", "team_until": "2026-11-23T10:00:00.000000Z"}
    with pytest.raises(Refused):
        domain.offer(call(state="filled"), "team-zhukun", T0, 2)


# service windows ---------------------------------------------------------------------------------
@pytest.mark.parametrize("other, clash", [
    (("2026-11-24T08:00:00.000000Z", "2026-11-24T09:00:00.000000Z"), False),  # ends as ours starts
    (("2026-11-24T10:59:00.000000Z", "2026-11-24T12:00:00.000000Z"), True),
    (("2026-11-24T09:30:00.000000Z", "2026-11-24T10:00:00.000000Z"), True),   # inside ours
    (("2026-11-24T08:00:00.000000Z", "2026-11-24T12:00:00.000000Z"), True),   # around ours
    (("2026-11-24T11:00:00.000000Z", "2026-11-24T12:00:00.000000Z"), False),
])
def test_overlapping_windows(other, clash):
    wanted = {"call_id": "call-1", "starts_at": MORNING[0], "ends_at": MORNING[1]}
    held = [{"call_id": "call-2", "starts_at": other[0], "ends_at": other[1]},
            {"call_id": "call-1", "starts_at": MORNING[0], "ends_at": MORNING[1]}]  # this call itself
    assert bool(domain.overlapping(held, wanted)) is clash


# the call's own life ---------------------------------------------------------------------------------
def test_settle_expires_an_open_call_past_its_deadline_and_fills_a_full_one():
    late = "2026-11-26T00:00:00.000000Z"
    expired = domain.settle(call(claimed=["vol-wang"]), late)
    assert expired.fields["state"] == "expired" and types(expired) == ["call_expired"]
    assert domain.settle(call(claimed=["vol-wang"]), T1) is None
    assert domain.settle(call(claimed=["a", "b"]), T1).fields["state"] == "filled"
    assert domain.settle(call(state="filled", claimed=["a", "b"]), late) is None


def test_reopen_and_cancel():
    assert domain.reopen(call(state="expired"), T3, T2).fields == {"state": "open", "expires_at": T3,
                                                                   "reopened_at": T2}
    with pytest.raises(Refused):
        domain.reopen(call(), T3, T2)
    cancelled = domain.cancel(call(state="filled", claimed=["a", "b"], waiting=["c"]), T1, "need_cancelled")
    assert cancelled.answer == {"released": ["a", "b", "c"]} and types(cancelled) == ["call_cancelled"]
    assert domain.cancel(call(state="cancelled"), T1, "need_cancelled") is None


# attendance -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("out, hours", [
    ("2026-11-23T08:01:00.000000Z", 0.25),   # at least a quarter hour
    ("2026-11-23T09:20:00.000000Z", 1.25),
    ("2026-11-23T09:23:00.000000Z", 1.5),    # to the nearest quarter
    ("2026-11-25T08:00:00.000000Z", 12.0),   # capped: a forgotten check-out
])
def test_attended_hours(out, hours):
    assert attendance.attended_hours(T0, out, 12.0) == hours


def test_check_in_then_out_records_the_hours_once():
    claimed = call(claimed=["vol-wang"])
    checked_in = attendance.check_in(claimed, "vol-wang", T0)
    assert types(checked_in) == ["volunteer_checked_in"]
    present = {**claimed, **checked_in.fields}
    with pytest.raises(Refused, match="already checked in"):
        attendance.check_in(present, "vol-wang", T1)
    out = attendance.check_out(present, "vol-wang", "2026-11-23T10:00:00.000000Z", 12.0)
    assert out.answer["hours"] == 2.0 and data(out)["hours"] == 2.0
    assert attendance.check_out({**present, **out.fields}, "vol-wang", T3, 12.0) is None  # a retry


@pytest.mark.parametrize("the_call, volunteer", [
    (call(claimed=["vol-wang"]), "vol-sun"),
    (call(state="cancelled", claimed=["vol-wang"]), "vol-wang"),
])
def test_check_in_needs_a_claim_on_a_call_that_goes_ahead(the_call, volunteer):
    with pytest.raises(Refused):
        attendance.check_in(the_call, volunteer, T0)


def test_check_out_needs_a_check_in():
    with pytest.raises(Refused):
        attendance.check_out(call(claimed=["vol-wang"]), "vol-wang", T1, 12.0)


def test_claimants_not_checked_in_once_the_service_is_under_way_are_no_shows():
    started = call(state="filled", claimed=["vol-wang", "vol-zhao"], starts_at=T0, ends_at=T3,
                   attendance=[{"volunteer_id": "vol-zhao", "checked_in_at": T0}])
    assert attendance.no_shows(started, T1, 30) is None  # within the grace period
    change = attendance.no_shows(started, "2026-11-23T08:30:00.000000Z", 30)
    assert change.fields == {"no_shows": ["vol-wang"], "attendance_checked": True}
    assert types(change) == ["volunteer_no_show"] and data(change)["volunteer_id"] == "vol-wang"
    assert attendance.no_shows({**started, **change.fields}, T3, 30) is None  # once
    assert attendance.no_shows(call(claimed=["vol-wang"]), T3, 30) is None      # no window, no check


# what service.py used to decide itself -------------------------------------------------------------
def test_a_claim_needs_the_calls_skills_and_a_window_clear_of_the_volunteers_other_claims():
    with pytest.raises(Refused) as lacking:
        domain.skilled(call(skills=["escort", "first_aid"]), vol("vol-wang"))
    assert lacking.value.kind == Refused.INVALID and lacking.value.fields == {
        "volunteer_id": ["missing skills: first_aid"]}
    domain.skilled(call(), vol("vol-wang"))
    wanted = {"call_id": "call-1", "starts_at": MORNING[0], "ends_at": MORNING[1]}
    with pytest.raises(Refused, match="already holds call call-2"):
        domain.clash([{"call_id": "call-2", "starts_at": MORNING[0], "ends_at": MORNING[1]}], wanted)
    domain.clash([wanted], wanted)  # this call's own booking: a retry


def test_only_a_claimant_of_a_call_that_goes_ahead_completes_it():
    domain.completable(call(claimed=["vol-wang"]), "vol-wang")
    for the_call, volunteer in ((call(claimed=["vol-wang"]), "vol-sun"),
                                (call(state="cancelled", claimed=["vol-wang"]), "vol-wang")):
        with pytest.raises(Refused, match="holding a claim"):
            domain.completable(the_call, volunteer)


def test_a_call_reopens_only_with_a_deadline_ahead():
    with pytest.raises(Refused) as past:
        domain.reopen(call(state="expired"), T1, T2)
    assert past.value.kind == Refused.INVALID and list(past.value.fields) == ["expires_at"]


@pytest.mark.parametrize("the_call, ends_at, unheld", [
    (call(claimed=["vol-wang"]), "2026-11-24T11:00:00.000000Z", False),
    (call(claimed=[], waiting=["vol-wang"]), "2026-11-24T11:00:00.000000Z", False),
    (call(claimed=["vol-sun"]), "2026-11-24T11:00:00.000000Z", True),       # a claim refused, or a crash
    (call(state="cancelled", claimed=["vol-wang"]), "2026-11-24T11:00:00.000000Z", True),
    (None, "2026-11-24T11:00:00.000000Z", True),
    (call(claimed=["vol-wang"]), "2026-11-22T07:00:00.000000Z", True),      # a service long over
])
def test_a_booking_is_let_go_when_nothing_holds_it(the_call, ends_at, unheld):
    booking = {"call_id": "call-1", "starts_at": "2026-11-22T06:00:00.000000Z", "ends_at": ends_at, "at": T0}
    assert domain.booking_unheld(booking, the_call, "vol-wang", T1) is unheld
    assert domain.booking_settled_before(T1) == "2026-11-23T08:04:00.000000Z"


def test_figures():
    calls = [call(state="filled", claimed=["a", "b"], waiting=["c", "d"], completions=[{"volunteer_id": "a"}]),
             call(state="expired", waiting=["e"], no_shows=["f"]), call()]
    assert domain.statistics(calls, [1.25, 2.0]) == {
        "volunteer_services_completed": 1, "volunteer_hours": 3.25,
        "waiting_list": {"calls": 1, "volunteers": 2}, "volunteer_no_shows": 1}
    opened = [{"street": STREET, "opened_at": T0}, {"street": STREET, "opened_at": T2}, {"street": STREET}]
    assert domain.open_calls_by_district(opened, T3) == {"tianjin/binhai": (2, 900.0)}
    assert domain.near(COMMUNITY) == STREET and domain.near(STREET) == STREET

"""wushe.contract.linkage: the fold of the parties' events into a need's linkage, and the need's status."""
import pytest

from tests.unit.helpers import (EVERYTHING, RESOURCES, T0, T1, T2, T3, VOLUNTEERS, event, pledge,
                                requirements)
from wushe.contract import linkage


def fold(*events, reqs=EVERYTHING):
    parts = linkage.initial(reqs)
    for e in events:
        parts = linkage.apply(parts, e)
    return parts


def states(parts):
    return {name: part["state"] for name, part in parts.items()}


@pytest.mark.parametrize("reqs, expected", [
    (EVERYTHING, {"organisation": "pending", "worker": "pending", "volunteers": "pending", "resources": "pending"}),
    (requirements(), {"organisation": "pending", "worker": "pending",
                      "volunteers": "not_required", "resources": "not_required"}),
    (requirements(worker=False, organisation=False, resources=RESOURCES),
     {"organisation": "not_required", "worker": "not_required", "volunteers": "not_required", "resources": "pending"}),
    ({}, {"organisation": "pending", "worker": "pending", "volunteers": "not_required", "resources": "not_required"}),
])
def test_initial_marks_required_parts_pending(reqs, expected):
    assert states(linkage.initial(reqs)) == expected


def test_initial_volunteers_part_carries_slots_and_no_claims():
    part = linkage.initial(EVERYTHING)["volunteers"]
    assert (part["slots"], part["claimed"]) == (2, [])


@pytest.mark.parametrize("event_type, reqs", [
    ("org_matched", requirements(organisation=False)),
    ("org_incubation_started", requirements(organisation=False)),
    ("worker_assigned", requirements(worker=False)),
    ("worker_unavailable", requirements(worker=False)),
    ("call_opened", requirements()),
    ("call_claimed", requirements()),
    ("call_filled", requirements()),
    ("call_expired", requirements()),
    ("resource_pledged", requirements()),
    ("resource_shortfall", requirements()),
    ("pledge_delivered", requirements()),
])
def test_part_not_required_ignores_events(event_type, reqs):
    before = linkage.initial(reqs)
    assert linkage.apply(before, event(event_type)) == before


@pytest.mark.parametrize("event_type, extra, part, state, fields", [
    ("org_matched", {}, "organisation", "matched", {"organisation_id": "org-linli"}),
    ("org_unmatched", {}, "organisation", "none", {}),
    ("org_unmatched", {"organisation_id": "org-incub", "demand": 4}, "organisation", "incubating",
     {"organisation_id": "org-incub"}),
    ("org_incubation_started", {}, "organisation", "incubating", {"organisation_id": "org-incub"}),
    ("worker_assigned", {}, "worker", "assigned", {"worker_id": "worker-li", "case_id": "case-0a1b"}),
    ("worker_unavailable", {}, "worker", "unavailable", {"reason": "no_worker_with_room"}),
    ("call_opened", {}, "volunteers", "open", {"call_id": "call-1", "slots": 2}),
    ("call_filled", {}, "volunteers", "filled", {"call_id": "call-1"}),
    ("call_expired", {}, "volunteers", "expired", {"call_id": "call-1"}),
    ("call_cancelled", {}, "volunteers", "cancelled", {"call_id": "call-1"}),
    ("resource_pledged", {}, "resources", "pledged", {"pledges": [pledge("pledge-a")], "shortfall": []}),
    ("resource_shortfall", {}, "resources", "shortfall",
     {"shortfall": [{"item": "rice", "quantity": 5.0, "unit": "kg"}]}),
    ("pledge_released", {}, "resources", "released", {}),
])
def test_event_sets_the_part_state_of_the_contract(event_type, extra, part, state, fields):
    after = linkage.apply(linkage.initial(EVERYTHING), event(event_type, **extra))
    assert after[part]["state"] == state
    assert {k: after[part][k] for k in fields} == fields


@pytest.mark.parametrize("event_type, part, field", [
    ("case_closed", "worker", ("case_state", "closed")),
    ("call_claimed", "volunteers", ("claimed", ["vol-wang"])),
])
def test_bookkeeping_events_keep_the_part_state(event_type, part, field):
    opened = {"worker": "worker_assigned", "volunteers": "call_opened"}[part]
    before = fold(event(opened, at=T1))
    after = linkage.apply(before, event(event_type, at=T2))
    assert after[part]["state"] == before[part]["state"]
    assert after[part][field[0]] == field[1]


def test_apply_does_not_mutate_its_input():
    before = linkage.initial(EVERYTHING)
    snapshot = {k: dict(v) for k, v in before.items()}
    linkage.apply(before, event("call_claimed"))
    assert before == snapshot


@pytest.mark.parametrize("newer, older, part, state", [
    ("call_filled", "call_opened", "volunteers", "filled"),
    ("call_expired", "call_opened", "volunteers", "expired"),
    ("worker_assigned", "worker_unavailable", "worker", "assigned"),
    ("org_incubation_started", "org_unmatched", "organisation", "incubating"),
    ("resource_pledged", "resource_shortfall", "resources", "pledged"),
])
def test_older_event_never_overwrites_a_newer_state(newer, older, part, state):
    out_of_order = fold(event(newer, at=T2), event(older, at=T1))
    in_order = fold(event(older, at=T1), event(newer, at=T2))
    assert out_of_order[part]["state"] == in_order[part]["state"] == state
    assert out_of_order[part]["at"] == T2


def test_older_event_does_not_overwrite_newer_fields():
    parts = fold(event("resource_pledged", at=T2), event("resource_shortfall", at=T1))
    assert parts["resources"]["shortfall"] == []


def test_newer_event_does_replace_an_older_state():
    parts = fold(event("call_opened", at=T1), event("call_expired", at=T2))
    assert parts["volunteers"]["state"] == "expired"


def test_claimed_volunteers_follow_the_latest_call_version_whatever_the_arrival_order():
    # the call's history: wang claims (v1), zhao claims and fills it (v2), wang withdraws and
    # sun, first on the waiting list, takes the slot (v3)
    history = [
        event("call_claimed", at=T0, volunteer_id="vol-wang", claimed=["vol-wang"], call_version=1),
        event("call_claimed", at=T1, volunteer_id="vol-zhao", claimed=["vol-wang", "vol-zhao"], call_version=2),
        event("call_filled", at=T1, volunteer_ids=["vol-wang", "vol-zhao"], claimed=["vol-wang", "vol-zhao"],
              call_version=2),
        event("claim_withdrawn", at=T2, volunteer_id="vol-wang", state="filled", claimed=["vol-zhao", "vol-sun"],
              call_version=3),
        event("waitlist_promoted", at=T2, volunteer_id="vol-sun", claimed=["vol-zhao", "vol-sun"], call_version=3),
    ]
    for order in (history, history[::-1], [history[3], history[0], history[4], history[2], history[1]]):
        part = fold(event("call_opened", at=T0), *order)["volunteers"]
        assert (part["state"], part["claimed"]) == ("filled", ["vol-zhao", "vol-sun"]), order


def test_a_withdrawal_from_a_filled_call_opens_it_again_and_the_need_is_no_longer_linked():
    parts = fold(event("worker_assigned"), event("resource_pledged"), event("call_opened", at=T0),
                 event("call_filled", at=T1, claimed=["vol-wang", "vol-zhao"], call_version=2))
    assert linkage.status("linking", parts) == "linked"
    parts = linkage.apply(parts, event("claim_withdrawn", at=T2, volunteer_id="vol-wang", state="open",
                                       claimed=["vol-zhao"], call_version=3))
    assert (parts["volunteers"]["state"], parts["volunteers"]["claimed"]) == ("open", ["vol-zhao"])
    assert linkage.status("linked", parts) == "linking"
    assert "claimed_version" not in linkage.public(parts)["volunteers"]


def test_claimed_volunteers_are_a_set_union_for_events_without_a_call_version():
    parts = fold(event("call_opened", at=T0), event("call_claimed", at=T1), event("call_claimed", at=T1))
    assert parts["volunteers"]["claimed"] == ["vol-wang"]
    parts = linkage.apply(parts, event("call_claimed", at=T2, volunteer_id="vol-zhao"))
    parts = linkage.apply(parts, event("call_filled", at=T3, volunteer_ids=["vol-zhao", "vol-sun"]))
    assert parts["volunteers"]["claimed"] == ["vol-sun", "vol-wang", "vol-zhao"]


def test_a_late_claim_still_joins_the_claimed_set_after_filled():
    parts = fold(event("call_filled", at=T3, volunteer_ids=["vol-zhao"]),
                 event("call_claimed", at=T1, volunteer_id="vol-wang"))
    assert parts["volunteers"]["state"] == "filled"
    assert parts["volunteers"]["claimed"] == ["vol-wang", "vol-zhao"]


@pytest.mark.parametrize("event_type", [
    "org_matched", "org_unmatched", "org_incubation_started", "worker_assigned", "worker_unavailable",
    "case_closed", "call_opened", "call_claimed", "call_filled", "call_expired", "call_cancelled",
    "resource_pledged", "resource_shortfall", "pledge_delivered", "pledge_released",
])
def test_reapplying_the_same_event_changes_nothing(event_type):
    e = event(event_type, at=T2)
    once = linkage.apply(fold(event("call_opened", at=T1), event("resource_pledged", at=T1)), e)
    assert linkage.apply(once, e) == once


# --- status -----------------------------------------------------------------------------------
ALL_SUCCEED = ("worker_assigned", "call_filled", "resource_pledged")


@pytest.mark.parametrize("org_event", [None, "org_unmatched", "org_incubation_started", "org_matched"])
def test_organisation_never_blocks_linked(org_event):
    events = [event(t) for t in ALL_SUCCEED] + ([event(org_event)] if org_event else [])
    parts = fold(*events)
    assert linkage.status("linking", parts) == "linked"


@pytest.mark.parametrize("failure, replaces, part", [
    ("worker_unavailable", "worker_assigned", "worker"),
    ("call_expired", "call_filled", "volunteers"),
    ("resource_shortfall", "resource_pledged", "resources"),
])
def test_any_failed_required_part_escalates(failure, replaces, part):
    others = [event(t, at=T1) for t in ALL_SUCCEED if t != replaces]
    parts = fold(*others, event(failure, at=T1))
    assert linkage.status("linking", parts) == "escalated"
    assert linkage.missing(parts) == [part]


def test_missing_lists_every_failed_part_sorted():
    parts = fold(event("resource_shortfall"), event("worker_unavailable"), event("call_expired"))
    assert linkage.missing(parts) == ["resources", "volunteers", "worker"]


@pytest.mark.parametrize("failure, success", [
    ("worker_unavailable", "worker_assigned"),
    ("resource_shortfall", "resource_pledged"),
    ("call_expired", "call_filled"),
])
def test_escalated_need_links_when_the_failed_part_later_succeeds(failure, success):
    others = [event(t, at=T1) for t in ALL_SUCCEED if t != success]
    escalated = fold(*others, event(failure, at=T1))
    assert linkage.status("linking", escalated) == "escalated"
    recovered = linkage.apply(escalated, event(success, at=T2))
    assert linkage.status("escalated", recovered) == "linked"


@pytest.mark.parametrize("terminal", ["resolved", "evaluated", "cancelled"])
@pytest.mark.parametrize("events", [(), ("worker_unavailable",), ALL_SUCCEED])
def test_terminal_statuses_are_kept(terminal, events):
    assert linkage.status(terminal, fold(*[event(t) for t in events])) == terminal


@pytest.mark.parametrize("reqs", [requirements(worker=False), requirements(worker=False, organisation=False)])
def test_need_with_nothing_required_but_organisation_links_at_once(reqs):
    assert linkage.status("registered", linkage.initial(reqs)) == "linked"


@pytest.mark.parametrize("events, expected", [
    ((), "registered"),
    (("org_matched",), "linking"),
    (("worker_assigned", "call_opened"), "linking"),
    (("worker_assigned", "call_filled"), "linking"),  # resources still pending
    (ALL_SUCCEED, "linked"),
])
def test_status_progress(events, expected):
    assert linkage.status("registered", fold(*[event(t) for t in events])) == expected


def test_delivering_every_pledge_makes_resources_delivered_and_still_linked():
    pledges = [pledge("pledge-a"), pledge("pledge-b", lot_id="lot-rice-2")]
    parts = fold(event("worker_assigned", at=T1), event("call_filled", at=T1),
                 event("resource_pledged", at=T1, pledges=pledges),
                 event("pledge_delivered", at=T2, pledge=pledges[0]))
    assert parts["resources"]["state"] == "pledged"  # one of two delivered
    parts = linkage.apply(parts, event("pledge_delivered", at=T3, pledge=pledges[1]))
    assert parts["resources"]["state"] == "delivered"
    assert parts["resources"]["delivered"] == ["pledge-a", "pledge-b"]
    assert linkage.status("linked", parts) == "linked"


def test_delivering_a_shortfalls_partial_pledges_does_not_link():
    parts = fold(event("worker_assigned", at=T1), event("call_filled", at=T1),
                 event("resource_shortfall", at=T1))
    assert linkage.status("linking", parts) == "escalated"
    parts = linkage.apply(parts, event("pledge_delivered", at=T2))
    assert linkage.status("escalated", parts) == "escalated"


def test_delivery_before_the_pledge_event_keeps_the_pledges():
    pledges = [pledge("pledge-a"), pledge("pledge-b", lot_id="lot-rice-2")]
    parts = fold(event("pledge_delivered", at=T2, pledge=pledges[0]),
                 event("resource_pledged", at=T1, pledges=pledges))
    assert parts["resources"]["state"] == "pledged"  # pledge-b is not delivered yet
    assert [p["pledge_id"] for p in parts["resources"]["pledges"]] == ["pledge-a", "pledge-b"]


def test_public_drops_bookkeeping_only():
    parts = fold(event("worker_assigned", at=T1), event("call_opened", at=T1))
    shown = linkage.public(parts)
    assert all("at" not in part for part in shown.values())
    assert shown["worker"] == {"state": "assigned", "worker_id": "worker-li", "case_id": "case-0a1b"}
    assert shown["volunteers"]["slots"] == VOLUNTEERS["count"]
    assert parts["worker"]["at"] == T1  # the input keeps its bookkeeping

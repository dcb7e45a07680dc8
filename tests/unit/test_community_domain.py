"""services.community.domain: registering a need, folding outcomes into it, manual transitions."""
import json

import pytest

from services.community import domain
from tests.unit.helpers import (COMMUNITY, DISTRICT, EVERYTHING, NEED_ID, STREET, T0, T1, T2, T3, event,
                                requirements)
from wushe.contract.decisions import Refused
from wushe.contract.events import load, stamped

RESIDENT = {"name": "张桂兰", "phone": "13812345678", "address": "兴华里3号楼2门501"}


def payload(reqs=EVERYTHING, **over):
    return {"community": COMMUNITY, "category": "medical_escort", "urgency": "high",
            "description": "独居老人周三需陪诊去泰达医院", "resident": RESIDENT, "requirements": reqs, **over}


def registered(reqs=EVERYTHING):
    return domain.new_need(NEED_ID, payload(reqs), T0, "gateway").fields


def stamp(change, at=T0):
    """The change's events as the handler announces them (envelopes)."""
    return [stamped("community", e, at) for e in change.events]


def fold_all(need, *events):
    """Fold events one by one as the handler does (recording each one's id); the need after
    them and every event emitted."""
    emitted = []
    for e in events:
        change = domain.fold(need, e)
        need = {**need, **change.fields, "applied": need["applied"] + [e.id]}
        emitted += stamp(change, e.time)
    return need, emitted


def test_need_registered_carries_no_resident_data_and_derives_street_and_district():
    made = domain.new_need(NEED_ID, payload(), T0, "gateway")
    need, events = made.fields, stamp(made)
    assert [e["type"] for e in events] == ["need_registered"]
    data = events[0]["data"]
    assert (data["street"], data["district"]) == (STREET, DISTRICT)
    assert (need["street"], need["district"]) == (STREET, DISTRICT)
    text = json.dumps(events, ensure_ascii=False)
    assert not any(value in text for value in RESIDENT.values())
    assert "resident" not in data and "resident" not in need
    assert events[0]["subject"] == NEED_ID
    assert load(events[0]).data["registered_at"] == T0  # valid against the catalog


def test_new_need_starts_registered_with_pending_parts():
    need = registered()
    assert need["status"] == "registered" and need["linked_at"] is None
    assert need["linkage"]["worker"]["state"] == "pending"


def test_need_asking_nothing_but_an_organisation_is_linked_at_registration():
    made = domain.new_need(NEED_ID, payload(requirements(worker=False)), T0, "station")
    need, events = made.fields, stamp(made)
    assert need["status"] == "linked" and need["linked_at"] == T0
    assert [e["type"] for e in events] == ["need_registered", "need_linked"]
    assert events[1]["data"]["linked_at"] == T0
    assert events[0]["data"]["channel"] == "station"


@pytest.mark.parametrize("change, same", [
    ({}, True),
    ({"resident": None}, True),
    ({"description": "需要买米面油"}, False),
    ({"urgency": "low"}, False),
    ({"category": "errands"}, False),
    ({"community": "tianjin/binhai/taida/huaying"}, False),
    ({"requirements": {"worker": False, "organisation": True, "volunteers": None, "resources": None}}, False),
])
def test_same_request(change, same):
    if same:
        domain.same_request(registered(), payload(**change))
    else:
        with pytest.raises(Refused, match="exists with other content"):
            domain.same_request(registered(), payload(**change))


def test_fold_emits_need_linked_once_when_first_linked():
    need, emitted = fold_all(registered(), event("worker_assigned", at=T1), event("call_filled", at=T1))
    assert need["status"] == "linking" and emitted == []
    need, emitted = fold_all(need, event("resource_pledged", at=T2))
    assert need["status"] == "linked" and need["linked_at"] == T2
    assert [(e["type"], e["data"]["linked_at"]) for e in emitted] == [("need_linked", T2)]
    need, emitted = fold_all(need, event("resource_pledged", at=T2), event("org_matched", at=T3),
                             event("call_claimed", at=T3))
    assert need["status"] == "linked" and need["linked_at"] == T2 and emitted == []


def test_fold_emits_need_escalated_again_only_when_missing_parts_change():
    need, emitted = fold_all(registered(), event("worker_unavailable", at=T1))
    assert need["status"] == "escalated" and need["missing"] == ["worker"]
    assert [(e["type"], e["data"]["missing"], e["data"]["escalated_to"]) for e in emitted] == [
        ("need_escalated", ["worker"], DISTRICT)]
    need, emitted = fold_all(need, event("call_opened", at=T1), event("worker_unavailable", at=T1),
                             event("resource_pledged", at=T1))
    assert emitted == []
    need, emitted = fold_all(need, event("call_expired", at=T2))
    assert [(e["type"], e["data"]["missing"]) for e in emitted] == [("need_escalated", ["volunteers", "worker"])]
    assert need["missing"] == ["volunteers", "worker"]
    need, emitted = fold_all(need, event("call_expired", at=T2))
    assert emitted == []


def test_escalated_need_that_recovers_announces_need_linked():
    need, _ = fold_all(registered(), event("call_filled", at=T1), event("resource_pledged", at=T1),
                       event("worker_unavailable", at=T1))
    need, emitted = fold_all(need, event("worker_assigned", at=T2))
    assert need["status"] == "linked" and need["missing"] == [] and need["linked_at"] == T2
    assert [e["type"] for e in emitted] == ["need_linked"]


def test_fold_keeps_a_cancelled_need_cancelled():
    need = {**registered(), "status": "cancelled"}
    change = domain.fold(need, event("call_cancelled", at=T2))
    assert change.fields.get("status", "cancelled") == "cancelled" and change.events == ()


def test_an_event_folded_already_changes_nothing():
    folded = event("worker_assigned", at=T1)
    need, _ = fold_all(registered(), folded)
    assert domain.fold(need, folded) is None
    other = event("worker_assigned", at=T1)
    assert domain.fold(need, other).appended == {"applied": other.id}  # recorded in the same write


STATUSES = ("registered", "linking", "linked", "escalated", "resolved", "evaluated", "cancelled")
ALLOWED = {
    "cancelled": {"registered", "linking", "linked", "escalated"},
    "resolved": {"linked", "escalated"},
    "evaluated": {"resolved"},
}
DATA = {"cancelled": {"reason": "居民已自行解决"}, "resolved": {"note": "陪诊完成"},
        "evaluated": {"score": 5, "outcome": "satisfied"}}
EVENT = {"cancelled": "need_cancelled", "resolved": "need_resolved", "evaluated": "need_evaluated"}


PAIRS = [(current, to) for to in sorted(ALLOWED) for current in STATUSES]


@pytest.mark.parametrize("current, to", [(c, t) for c, t in PAIRS if c in ALLOWED[t]])
def test_transition_allowed(current, to):
    change = domain.transition({**registered(), "status": current}, to, T3, **DATA[to])
    emitted, = stamp(change)
    assert change.fields["status"] == to and change.answer == {"id": NEED_ID, "status": to}
    assert (emitted["type"], emitted["data"]["need_id"]) == (EVENT[to], NEED_ID)


@pytest.mark.parametrize("current, to", [(c, t) for c, t in PAIRS if c not in ALLOWED[t]])
def test_transition_refused(current, to):
    with pytest.raises(Refused, match=f"can be {to} only from"):
        domain.transition({**registered(), "status": current}, to, T3, **DATA[to])


def test_transition_events_carry_their_details():
    need = {**registered(), "status": "resolved"}
    change = domain.transition(need, "evaluated", T3, score=4, outcome="improved")
    emitted, = stamp(change)
    assert change.fields["evaluation"] == {"score": 4, "outcome": "improved"}
    assert (emitted["data"]["score"], emitted["data"]["outcome"]) == (4, "improved")
    cancelled, = stamp(domain.transition({**need, "status": "linking"}, "cancelled", T3, reason="重复登记"))
    assert cancelled["data"]["reason"] == "重复登记"

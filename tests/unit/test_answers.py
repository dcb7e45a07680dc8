"""Answers match the schemas the OpenAPI document declares for them (found by the fuzz test)."""
import dataclasses

from gateway.readmodel import blank, project, public
from gateway.schemas import NeedView
from tests.unit.helpers import COMMUNITY, DISTRICT, EVERYTHING, NEED_ID, STREET, T0, T1, event
from wushe.contract.events import load, new_event


def _event(source, event_type, data):
    return dataclasses.replace(load(new_event(source, event_type, {"need_id": NEED_ID, "community": COMMUNITY,
                                                                   **data})), time=T1)


def test_a_need_view_through_its_whole_life_matches_its_documented_schema():
    registered = _event("community", "need_registered", {
        "street": STREET, "district": DISTRICT, "category": "errands", "urgency": "high",
        "registered_at": T0, "requirements": EVERYTHING})
    stage = _event("workers", "case_stage_changed", {"case_id": "case-0a1b", "worker_id": "worker-li",
                                                    "from_stage": "identified", "to_stage": "assessed"})
    view = blank(NEED_ID)
    for e in [registered, event("org_matched"), event("worker_assigned"), stage, event("call_opened"),
              event("call_claimed"), event("call_filled"), event("resource_pledged"), event("pledge_delivered"),
              _event("community", "need_resolved", {"resolved_at": T1}), event("case_closed")]:
        view = project(view, e)
        assert NeedView().validate(public(view)) == {}, e.type
    shown = public(view)["linkage"]
    assert shown["worker"]["case_stage"] == "assessed" and shown["worker"]["case_state"] == "closed"
    assert shown["resources"]["delivered"] == ["pledge-a"]


def test_a_view_keeps_its_residents_forms_until_an_erasure_whichever_comes_first():
    registered = _event("community", "need_registered", {
        "street": STREET, "district": DISTRICT, "category": "errands", "urgency": "high",
        "registered_at": T0, "requirements": EVERYTHING, "has_resident": True})
    erased = _event("community", "resident_erased", {"resident_id": "res-1"})
    kept = {"id": "res-1", "sealed": {"name": "pii1:k:x"}, "masked": {"name": "欧***"}}
    view = project(blank(NEED_ID), registered, kept)
    assert view["resident"] == kept and "resident" not in public(view)  # shown only with its caller's scope
    assert project(view, erased)["resident"] is None
    # the erasure projected first: the registration's forms are not kept
    assert project(project(blank(NEED_ID), erased), registered, kept)["resident"] is None


def test_a_view_is_linked_or_escalated_only_once_the_community_says_so():
    """The parts folded here can be ahead of the community, whose word a resolve waits for."""
    registered = _event("community", "need_registered", {
        "street": STREET, "district": DISTRICT, "category": "errands", "urgency": "high",
        "registered_at": T0, "requirements": EVERYTHING})
    view = blank(NEED_ID)
    for e in [registered, event("org_matched"), event("worker_assigned"), event("call_opened"),
              event("call_claimed"), event("call_filled"), event("resource_pledged")]:
        view = project(view, e)
    assert view["status"] == "linking" and view["linked_at"] is None  # every part done; not yet the community's word
    linked = _event("community", "need_linked", {"linked_at": T1})
    view = project(view, linked)
    assert view["status"] == "linked" and view["linked_at"]
    # the community's word first, the last part after it (events from two parties race)
    early = project(project(project(blank(NEED_ID), registered), linked), event("org_matched"))
    assert early["status"] == "linking"
    short = project(project(blank(NEED_ID), registered), event("worker_unavailable"))
    assert short["status"] == "linking"
    escalated = _event("community", "need_escalated", {"missing": ["worker"], "escalated_to": DISTRICT})
    assert project(short, escalated)["status"] == "escalated"

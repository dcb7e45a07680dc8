"""Answers match the schemas the OpenAPI document declares for them (found by the fuzz test)."""
import dataclasses

import json

from gateway.readmodel import PAGE, RESIDENT_AT, blank, page_with, project, public, rendered
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


def test_a_views_page_with_a_resident_is_the_answer_rendered_whole():
    """GET /needs/{id} answers with the page the projection rendered — the resident masked, as
    most callers see it — or, to a caller who may see the resident, with the resident opened in
    place of the masked one: the same JSON, key for key and in the same order, as rendering it
    whole."""
    registered = _event("community", "need_registered", {
        "street": STREET, "district": DISTRICT, "category": "errands", "urgency": "high",
        "registered_at": T0, "requirements": EVERYTHING, "has_resident": True})
    view = project(project(blank(NEED_ID), registered), event("org_matched"))
    plain = rendered(view)
    assert plain[RESIDENT_AT] is None and plain[PAGE] == json.dumps(public(view), ensure_ascii=False)
    kept = {"id": "res-1", "sealed": {"name": "pii1:k:x"}, "masked": {"name": "欧***", "phone": "138****0000"}}
    masked = {"id": "res-1", "name": "欧***", "phone": "138****0000", "masked": True}
    opened = {"id": "res-1", "name": "欧阳娜娜", "phone": "13800000000", "masked": False}
    with_resident = rendered({**view, "resident": kept})
    page, at = with_resident[PAGE], with_resident[RESIDENT_AT]
    assert page == json.dumps(public(view, masked), ensure_ascii=False)
    for resident in (None, masked, opened):
        assert page_with(page, at, resident) == json.dumps(public(view, resident), ensure_ascii=False)
        assert page_with(plain[PAGE], None, resident) == json.dumps(public(view, resident), ensure_ascii=False)
        assert NeedView().validate(json.loads(page_with(page, at, resident))) == {}


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


def test_a_residents_forms_are_kept_whichever_reaches_the_view_first_until_an_erasure():
    """`resident_sealed` may reach the gateway before or after the need's `need_registered`
    (two queues); either way the view ends the same. An erasure wins over both."""
    import mongomock

    from gateway.readmodel import GatewayStore
    registered = _event("community", "need_registered", {
        "street": STREET, "district": DISTRICT, "category": "errands", "urgency": "high",
        "registered_at": T0, "requirements": EVERYTHING, "has_resident": True, "channel": "gateway"})
    erased = _event("community", "resident_erased", {"resident_id": "res-1"})
    kept = {"id": "res-1", "sealed": {"name": "pii1:k:x"}, "masked": {"name": "欧***"}}
    expected = {**project(blank(NEED_ID), registered), "resident": kept}
    expected.update(rendered(expected))  # the resident masked in it, as most callers see it
    del expected["version"]

    def store():
        return GatewayStore(mongomock.MongoClient().db)

    sealed_first, registered_first = store(), store()
    assert sealed_first.keep_resident(NEED_ID, kept)
    sealed_first.apply(NEED_ID, registered)
    registered_first.apply(NEED_ID, registered)
    assert registered_first.keep_resident(NEED_ID, kept)
    assert not registered_first.keep_resident(NEED_ID, kept)  # redelivered: nothing written
    for views in (sealed_first, registered_first):
        view = views.needs.find_one({"_id": NEED_ID})
        assert {k: v for k, v in view.items() if k != "version"} == expected
        assert "resident" not in public(view)  # shown only with its caller's scope
    # an erasure drops them; forms that come after it (or after the gateway's own forgetting)
    # are not kept
    registered_first.apply(NEED_ID, erased)
    after = registered_first.needs.find_one({"_id": NEED_ID})
    assert after["resident"] is None
    assert after[RESIDENT_AT] is None and "resident" not in json.loads(after[PAGE])  # not even masked
    for erasure in ("event", "gateway"):
        late = store()
        late.apply(NEED_ID, registered)
        late.apply(NEED_ID, erased) if erasure == "event" else late.forget_resident(NEED_ID, T1)
        assert not late.keep_resident(NEED_ID, kept)
        assert late.needs.find_one({"_id": NEED_ID})["resident"] is None

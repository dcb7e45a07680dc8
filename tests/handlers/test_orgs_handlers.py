"""services.orgs.handlers without a broker: a need matched to an active organisation's project
slot, the third unmatched need of a category starting one incubation, milestones in order and a
graduation handing the waiting needs over, and slots taken at once never beyond a capacity."""
import dataclasses

import eventlet
import pytest

from services.orgs import handlers
from services.orgs.store import OrgsStore
from tests.unit.helpers import COMMUNITY, STREET
from services.orgs.domain import Rules
from wushe.contract.decisions import Refused
from wushe.contract.events import load, new_event
from wushe.runtime.subscribe import DUPLICATE

HUAYING = "tianjin/binhai/taida/huaying"
MILESTONES = [
    {"milestone": "founding_members", "members": ["王秀英", "李建国", "张桂兰"]},
    {"milestone": "charter", "title": "便民维修队章程"},
    {"milestone": "training", "topic": "入户维修安全", "hours": 2.0},
    {"milestone": "training", "topic": "小微项目策划", "hours": 1.5},
    {"milestone": "first_project", "title": "楼道灯更换"},
]



@pytest.fixture
def orgs(db, outbox, log):
    store = OrgsStore(db)
    store.ensure_indexes()
    return handlers.Organisations(store, outbox, log, dataclasses.replace(Rules(), default_project_capacity=2))


def registered(need_id, category="home_repair", community=COMMUNITY, organisation=True, day=23):
    """A loaded `need_registered`, as the orgs service receives it."""
    return load(new_event("community", "need_registered", {
        "need_id": need_id, "community": community, "street": community.rsplit("/", 1)[0],
        "district": STREET.rsplit("/", 1)[0], "category": category, "urgency": "normal",
        "registered_at": f"2026-11-{day:02d}T08:00:00.000000Z",
        "requirements": {"worker": False, "organisation": organisation, "volunteers": None, "resources": None}}))


def cancelled(need_id, community=COMMUNITY):
    return load(new_event("community", "need_cancelled", {"need_id": need_id, "community": community,
                                                          "reason": "家属已处理"}))


def published(outbox, event_type):
    return [e for e in outbox.published if e["type"] == event_type]


def test_a_need_is_matched_to_a_slot_of_an_active_organisations_project(orgs, outbox):
    org = handlers.add_organisation(orgs, {"id": "org-weixiu", "name": "便民维修队", "community": COMMUNITY,
                                           "categories": ["home_repair"], "stage": "active"})
    [project] = org["projects"]
    assert (project["capacity"], project["room"], org["capacity"]) == (2, 2, 2)
    assert handlers.need_registered(orgs, registered("need-r1", organisation=False)) is None
    assert orgs.store.decided("need-r1") is None  # no organisation asked for: nothing decided

    assert handlers.need_registered(orgs, registered("need-r2")) is None
    [matched] = outbox.published
    assert (matched["type"], matched["subject"], matched["source"]) == ("org_matched", "need-r2", "orgs")
    assert (matched["data"]["organisation_id"], matched["data"]["project_id"]) == ("org-weixiu", project["id"])
    assert handlers.get_organisation(orgs, "org-weixiu")["projects"][0]["need_ids"] == ["need-r2"]
    decided = orgs.store.decided("need-r2")
    assert (decided["outcome"], decided["project_id"], decided["outbox"]) == ("matched", project["id"], [])

    # a redelivery takes no second slot and announces nothing new
    assert handlers.need_registered(orgs, registered("need-r2")) == DUPLICATE
    assert len(outbox.published) == 1
    assert handlers.get_organisation(orgs, "org-weixiu")["capacity"] == 1

    # a cancelled need gives its slot back, once
    assert handlers.need_cancelled(orgs, cancelled("need-r2")) is None
    assert handlers.need_cancelled(orgs, cancelled("need-r2")) == DUPLICATE
    assert handlers.get_organisation(orgs, "org-weixiu")["projects"][0]["need_ids"] == []
    # cancelled before it was decided: never decided
    assert handlers.need_cancelled(orgs, cancelled("need-r3")) is None
    assert handlers.need_registered(orgs, registered("need-r3")) == DUPLICATE
    assert [e["type"] for e in outbox.published] == ["org_matched"]


def test_the_third_unmatched_need_of_a_category_starts_one_incubation(orgs, outbox, log):
    handlers.need_registered(orgs, registered("need-u0", community=HUAYING))  # another community
    handlers.need_registered(orgs, registered("need-u1", category="errands"))  # another category
    for i in range(3):
        assert handlers.need_registered(orgs, registered(f"need-d{i}", day=20 + i)) is None
    demand = [e["data"]["demand"] for e in published(outbox, "org_unmatched")]
    assert demand == [1, 1, 1, 2, 3]
    [started] = published(outbox, "org_incubation_started")
    org_id = started["data"]["organisation_id"]
    assert started["subject"] == org_id and started["data"]["need_ids"] == ["need-d0", "need-d1", "need-d2"]
    assert started["data"]["mentor_street"] == STREET
    assert [orgs.store.decided(f"need-d{i}")["outcome"] for i in range(3)] == ["incubating"] * 3
    assert ("info", "org.incubation_started") in [(level, event) for level, event, _ in log.lines]

    # a redelivery of the third starts nothing twice; a fourth need waits on the incubation
    assert handlers.need_registered(orgs, registered("need-d2", day=22)) == DUPLICATE
    assert handlers.need_registered(orgs, registered("need-d3", day=23)) is None
    assert published(outbox, "org_unmatched")[-1]["data"] == {
        "need_id": "need-d3", "community": COMMUNITY, "category": "home_repair", "demand": 0,
        "organisation_id": org_id}
    assert len(published(outbox, "org_incubation_started")) == 1
    org = handlers.get_organisation(orgs, org_id)
    assert (org["stage"], org["capacity"], org["incubation"]["next_milestone"]) == ("incubating", 0, "founding_members")


def test_milestones_in_order_and_graduation_hands_the_waiting_needs_over(orgs, outbox):
    for i in range(4):  # the third starts the incubation, the fourth joins it
        handlers.need_registered(orgs, registered(f"need-w{i}", day=20 + i))
    org_id = published(outbox, "org_incubation_started")[0]["data"]["organisation_id"]
    with pytest.raises(Refused, match="next milestone of organisation .* is founding_members, not charter") as early:
        handlers.record_milestone(orgs, org_id, MILESTONES[1])
    assert early.value.kind == Refused.CONFLICT
    with pytest.raises(Refused) as missing:
        handlers.record_milestone(orgs, "org-nobody", MILESTONES[0])
    assert missing.value.kind == Refused.MISSING

    for body in MILESTONES[:-1]:
        org = handlers.record_milestone(orgs, org_id, body)
        assert org["stage"] == "incubating" and org["projects"] == []
    with pytest.raises(Refused, match="already reached the charter milestone"):
        handlers.record_milestone(orgs, org_id, MILESTONES[1])
    org = handlers.record_milestone(orgs, org_id, MILESTONES[-1])

    assert org["stage"] == "active" and org["incubation"]["graduated_at"]
    [standing] = org["projects"]
    assert standing["need_ids"] == ["need-w0", "need-w1"] and org["capacity"] == 0  # the oldest first
    assert "incubation_key" not in orgs.store.organisation(org_id)  # released
    assert orgs.store.decided("need-w2")["outcome"] == "incubating"  # beyond capacity: still waiting
    after = [e["type"] for e in outbox.published][-7:]
    assert after == ["org_milestone_reached"] * 4 + ["org_graduated", "org_matched", "org_matched"]
    assert all(e["subject"] == org_id for e in published(outbox, "org_milestone_reached"))
    assert not any(name in str(outbox.published) for name in MILESTONES[0]["members"])

    # a new micro-project takes the needs still waiting; closing it keeps their match
    org = handlers.open_project(orgs, org_id, {"title": "适老化改造", "capacity": 5})
    assert org["projects"][1]["need_ids"] == ["need-w2", "need-w3"] and org["capacity"] == 3
    assert {e["subject"] for e in published(outbox, "org_matched")} == {f"need-w{i}" for i in range(4)}
    org = handlers.close_project(orgs, org_id, org["projects"][1]["id"])
    assert org["capacity"] == 0 and org["projects"][1]["need_ids"] == ["need-w2", "need-w3"]
    with pytest.raises(Refused, match="already closed"):
        handlers.close_project(orgs, org_id, org["projects"][1]["id"])

    # the key released, the same community may incubate for the category again
    for i in range(3):
        handlers.need_registered(orgs, registered(f"need-n{i}", day=24 + i))
    assert len(published(outbox, "org_incubation_started")) == 2


def test_more_needs_than_a_projects_capacity_at_once_take_exactly_its_capacity(orgs, outbox):
    """Ten needs decided by concurrent workers on an organisation whose one project takes
    three: each slot is taken by a conditional update, so exactly three are matched; the other
    seven are unmatched, and their demand starts one incubation (the unique key)."""
    handlers.add_organisation(orgs, {"id": "org-paotui", "name": "跑腿采买队", "community": COMMUNITY,
                                     "categories": ["errands"], "stage": "active", "capacity": 3})
    lost = []
    take_slot = orgs.store.take_slot

    def counted(*args):
        taken = take_slot(*args)
        if taken is None:
            lost.append(args[-1])
        return taken
    orgs.store.take_slot = counted

    needs = [registered(f"need-c{i}", category="errands") for i in range(10)]
    list(eventlet.GreenPool(10).imap(lambda e: handlers.need_registered(orgs, e), needs))

    [project] = handlers.get_organisation(orgs, "org-paotui")["projects"]
    assert len(project["need_ids"]) == len(set(project["need_ids"])) == 3
    assert lost  # the workers did race for the slots
    matched = published(outbox, "org_matched")
    assert sorted(e["subject"] for e in matched) == sorted(project["need_ids"])
    assert len(published(outbox, "org_unmatched")) == 7
    assert len(published(outbox, "org_incubation_started")) == 1
    assert orgs.store.needs.count_documents({"outcome": "matched", "project_id": project["id"]}) == 3


def test_training_sessions_recorded_at_once_are_each_logged(orgs, outbox):
    """Concurrent milestone calls: each is written only on the incubation it was decided on,
    and decided again on the state after when another won."""
    handlers.add_organisation(orgs, {"id": "org-wenyi", "name": "文艺指导队", "community": COMMUNITY,
                                     "categories": ["education"], "stage": "incubating"})
    for body in MILESTONES[:2]:
        handlers.record_milestone(orgs, "org-wenyi", body)
    sessions = [{"milestone": "training", "topic": f"排练{i}", "hours": 1.0} for i in range(2)]
    list(eventlet.GreenPool(2).imap(lambda body: handlers.record_milestone(orgs, "org-wenyi", body), sessions))
    org = handlers.get_organisation(orgs, "org-wenyi")
    assert org["incubation"]["training_sessions"] == 2 and org["incubation"]["next_milestone"] == "first_project"
    assert [m["milestone"] for m in org["incubation"]["milestones"]] == ["founding_members", "charter", "training"]
    assert len(published(outbox, "org_milestone_reached")) == 3

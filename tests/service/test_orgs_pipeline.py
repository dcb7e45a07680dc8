"""Orgs alone: incubation as a pipeline of milestones, graduation handing over the waiting needs,
and micro-projects (小微项目) whose room is an active organisation's capacity."""
import io
import json
import logging

import eventlet
import pytest
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook, entrypoint_waiter

from services.orgs import domain
from services.orgs.service import OrgsService
from tests.conftest import wait_for
from tests.service.conftest import need_registered
from wushe.runtime.errors import Conflict, InvalidInput, NotFound
from services.orgs.domain import Rules
from wushe.contract.events import load
from wushe.runtime.store import database

HUAYUAN = "tianjin/binhai/taida/huayuan"
XINGHUA = "tianjin/binhai/taida/xinghua"
MEMBERS = ["王秀英", "李建国", "张桂兰"]
MILESTONES = [
    {"milestone": "founding_members", "members": MEMBERS},
    {"milestone": "charter", "title": "便民维修队章程"},
    {"milestone": "training", "topic": "入户维修安全", "hours": 2.0},
    {"milestone": "training", "topic": "小微项目策划", "hours": 1.5},
    {"milestone": "first_project", "title": "楼道灯更换"},
]


@pytest.fixture
def orgs(container_factory, config):
    container = container_factory(OrgsService, config)
    container.start()
    return container


def rpc(container, method, *args):
    """Through the broker, as the gateway calls: a rule's refusal arrives as the error the RPC
    edge turns it into (an entrypoint_hook would hand back the bare `Refused`)."""
    with ServiceRpcProxy("orgs", container.config) as orgs:
        return getattr(orgs, method)(*args)


def deliver(container, publish, event):
    with entrypoint_waiter(container, "on_need_registered"):
        publish(event)


def repair_need(need_id, community=HUAYUAN):
    return need_registered(need_id, community=community, category="home_repair", worker=False)


def test_incubation_to_graduation_hands_the_waiting_needs_over(orgs, config, publish, tap):
    config["WUSHE"]["RULES"]["default_project_capacity"] = 3  # the standing project takes 3 of the 5
    store = database(config["WUSHE"], "orgs")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logging.root.addHandler(handler)
    try:
        for i in range(5):  # the third starts the incubation, the fourth and fifth join it
            deliver(orgs, publish, repair_need(f"need-p{i}"))
        org_id = wait_for(lambda: tap.of_type("org_incubation_started"))[0]["data"]["organisation_id"]
        assert store.needs.count_documents({"outcome": "incubating", "organisation_id": org_id}) == 5

        for body in MILESTONES[:-1]:
            org = rpc(orgs, "record_milestone", org_id, body)
            assert org["stage"] == "incubating" and org["projects"] == [] and org["capacity"] == 0
        assert org["incubation"]["member_count"] == 3 and org["incubation"]["training_sessions"] == 2
        assert [m["milestone"] for m in org["incubation"]["milestones"]] == ["founding_members", "charter", "training"]
        assert org["incubation"]["next_milestone"] == "first_project"

        org = rpc(orgs, "record_milestone", org_id, MILESTONES[-1])
    finally:
        logging.root.removeHandler(handler)
    assert org["stage"] == "active" and org["incubation"]["graduated_at"]
    [standing] = org["projects"]
    assert (standing["title"], standing["capacity"], standing["state"]) == ("日常服务", 3, "open")
    assert standing["need_ids"] == ["need-p0", "need-p1", "need-p2"] and org["capacity"] == 0  # the oldest first
    assert "incubation_key" not in store.organisations.find_one({"_id": org_id})

    reached = wait_for(lambda: (lambda e: e if len(e) == 4 else None)(tap.of_type("org_milestone_reached")))
    assert [e["data"]["milestone"] for e in reached] == ["founding_members", "charter", "training", "first_project"]
    assert all(e["subject"] == org_id for e in reached)
    [graduated] = wait_for(lambda: tap.of_type("org_graduated"))
    assert graduated["data"] == {"organisation_id": org_id, "community": HUAYUAN, "categories": ["home_repair"]}
    matched = wait_for(lambda: (lambda e: e if len(e) == 3 else None)(tap.of_type("org_matched")))
    assert sorted(e["subject"] for e in matched) == ["need-p0", "need-p1", "need-p2"]
    assert {(e["data"]["organisation_id"], e["data"]["project_id"]) for e in matched} == {(org_id, standing["id"])}
    assert store.needs.count_documents({"outcome": "incubating", "organisation_id": org_id}) == 2  # beyond capacity

    # members' names stay in the organisation's record: not in any event, log line or answer
    assert store.organisations.find_one({"_id": org_id})["members"] == MEMBERS
    assert len(tap.raw) >= 10
    for name in MEMBERS:
        assert all(name not in raw and json.dumps(name)[1:-1] not in raw for raw in tap.raw)
        assert name not in stream.getvalue() and json.dumps(name)[1:-1] not in stream.getvalue()
        assert name not in json.dumps(org, ensure_ascii=False)

    # a new micro-project takes the next waiting need; a closed one takes no more
    org = rpc(orgs, "open_project", org_id, {"title": "适老化改造", "capacity": 1})
    new = org["projects"][1]
    assert new["need_ids"] == ["need-p3"] and new["room"] == 0 and org["capacity"] == 0
    wait_for(lambda: tap.of_type("org_matched", "need-p3"))
    assert store.needs.find_one({"_id": "need-p4"})["outcome"] == "incubating"
    org = rpc(orgs, "open_project", org_id, {"title": "家电义修", "capacity": 5})
    assert org["projects"][2]["need_ids"] == ["need-p4"] and org["capacity"] == 4
    org = rpc(orgs, "close_project", org_id, org["projects"][2]["id"])
    assert org["projects"][2]["state"] == "closed" and org["projects"][2]["need_ids"] == ["need-p4"]
    assert org["capacity"] == 0
    assert store.needs.count_documents({"outcome": "matched", "organisation_id": org_id}) == 5
    assert len(wait_for(lambda: (lambda e: e if len(e) == 5 else None)(tap.of_type("org_matched")))) == 5

    # graduated and full: a new need of its category is not matched, and counts as demand again
    deliver(orgs, publish, repair_need("need-p5"))
    [unmatched] = wait_for(lambda: tap.of_type("org_unmatched", "need-p5"))
    assert unmatched["data"]["organisation_id"] is None and unmatched["data"]["demand"] == 1
    eventlet.sleep(0.3)
    assert len(tap.of_type("org_matched")) == 5  # nothing handed twice


def test_milestones_are_refused_out_of_order_repeated_or_when_not_incubating(orgs):
    org = rpc(orgs, "add_organisation", {"id": "org-wenyi", "name": "文艺指导队", "community": HUAYUAN,
                                         "categories": ["education"], "stage": "incubating"})
    assert org["projects"] == [] and org["incubation"]["next_milestone"] == "founding_members"
    with pytest.raises(Conflict, match="next milestone of organisation org-wenyi is founding_members, not charter"):
        rpc(orgs, "record_milestone", "org-wenyi", MILESTONES[1])
    rpc(orgs, "record_milestone", "org-wenyi", MILESTONES[0])
    with pytest.raises(Conflict, match="already reached the founding_members milestone"):
        rpc(orgs, "record_milestone", "org-wenyi", MILESTONES[0])
    with pytest.raises(Conflict, match="not first_project"):
        rpc(orgs, "record_milestone", "org-wenyi", MILESTONES[-1])
    with pytest.raises(InvalidInput) as bad:
        rpc(orgs, "record_milestone", "org-wenyi", {"milestone": "founding_members", "members": ["王秀英", " "]})
    assert set(bad.value.errors) == {"members"}
    with pytest.raises(InvalidInput) as bad:
        rpc(orgs, "record_milestone", "org-wenyi", {"milestone": "training", "topic": "排练", "hours": 0})
    assert set(bad.value.errors) == {"hours"}
    with pytest.raises(NotFound):
        rpc(orgs, "record_milestone", "org-nobody", MILESTONES[1])

    active = rpc(orgs, "add_organisation", {"id": "org-bianmin", "name": "便民维修队", "community": HUAYUAN,
                                            "categories": ["home_repair"]})
    assert active["capacity"] == Rules().default_project_capacity and active["incubation"] is None
    with pytest.raises(Conflict, match="org-bianmin is active, not incubating"):
        rpc(orgs, "record_milestone", "org-bianmin", MILESTONES[0])
    with pytest.raises(Conflict, match="only an active organisation"):
        rpc(orgs, "open_project", "org-wenyi", {"title": "合唱", "capacity": 5})
    with pytest.raises(InvalidInput):
        rpc(orgs, "open_project", "org-bianmin", {"title": "合唱", "capacity": 0})
    with pytest.raises(InvalidInput):
        rpc(orgs, "add_organisation", {"name": "x", "community": HUAYUAN, "categories": ["errands"],
                                       "stage": "incubating", "capacity": 5})
    project_id = active["projects"][0]["id"]
    rpc(orgs, "close_project", "org-bianmin", project_id)
    with pytest.raises(Conflict, match="already closed"):
        rpc(orgs, "close_project", "org-bianmin", project_id)
    with pytest.raises(NotFound):
        rpc(orgs, "close_project", "org-bianmin", "project-nothing")


def test_a_full_organisation_is_not_matched(orgs, config, publish, tap):
    rpc(orgs, "add_organisation", {"id": "org-zhukun", "name": "助困陪诊服务队", "community": XINGHUA,
                                   "categories": ["medical_escort"], "capacity": 2})
    events = [need_registered(f"need-f{i}", community=XINGHUA, category="medical_escort", worker=False)
              for i in range(6)]
    for event in events:  # all at once: the slots are taken by conditional updates
        publish(event)
    wait_for(lambda: len(tap.of_type("org_matched")) + len(tap.of_type("org_unmatched")) == 6)
    matched = tap.of_type("org_matched")
    assert len(matched) == 2 and {e["data"]["organisation_id"] for e in matched} == {"org-zhukun"}
    # the four unmatched ones are demand, and the third of them starts an incubation: one still
    # being decided by then waits on that organisation instead (how many, the timing says)
    started = wait_for(lambda: tap.of_type("org_incubation_started"))
    unmatched = tap.of_type("org_unmatched")
    waiting_on = [e["data"]["organisation_id"] for e in unmatched if e["data"]["organisation_id"] is not None]
    assert len(unmatched) == 4 and len(unmatched) - len(waiting_on) >= 3
    assert set(waiting_on) <= {started[0]["data"]["organisation_id"]}
    org = rpc(orgs, "get_organisation", "org-zhukun")
    assert sorted(org["projects"][0]["need_ids"]) == sorted(e["subject"] for e in matched)
    assert org["capacity"] == 0

    # a redelivery of a matched need takes no second slot and announces nothing new
    for event in events[:3]:
        deliver(orgs, publish, event)
    eventlet.sleep(0.3)
    assert len(tap.of_type("org_matched")) == 2
    assert rpc(orgs, "get_organisation", "org-zhukun")["projects"][0]["need_ids"] == org["projects"][0]["need_ids"]
    store = database(config["WUSHE"], "orgs")
    assert store.needs.count_documents({"outcome": "matched"}) == 2
    # the third of the unmatched ones started the one incubation
    assert len(tap.of_type("org_incubation_started")) == 1

    # an organisation whose only project is closed is not matched either
    rpc(orgs, "add_organisation", {"id": "org-guanai", "name": "关爱小组", "community": XINGHUA,
                                   "categories": ["child_care"]})
    project_id = rpc(orgs, "get_organisation", "org-guanai")["projects"][0]["id"]
    rpc(orgs, "close_project", "org-guanai", project_id)
    deliver(orgs, publish, need_registered("need-c1", community=XINGHUA, category="child_care", worker=False))
    assert wait_for(lambda: tap.of_type("org_unmatched", "need-c1"))


def test_a_need_held_by_a_project_is_decided_matched_on_redelivery(orgs, config, publish, tap):
    """A crash between taking a slot and recording the decision: the redelivery finds the slot."""
    org = rpc(orgs, "add_organisation", {"id": "org-linli", "name": "邻里串门互助会", "community": XINGHUA,
                                         "categories": ["elderly_care"], "capacity": 2})
    project_id = org["projects"][0]["id"]
    store = database(config["WUSHE"], "orgs")
    store.organisations.update_one({"_id": "org-linli"}, {"$push": {"projects.0.need_ids": "need-crash"}})
    deliver(orgs, publish, need_registered("need-crash", community=XINGHUA, category="elderly_care", worker=False))
    [matched] = wait_for(lambda: tap.of_type("org_matched", "need-crash"))
    assert matched["data"]["project_id"] == project_id
    assert rpc(orgs, "get_organisation", "org-linli")["projects"][0]["need_ids"] == ["need-crash"]


def test_a_need_delivered_many_times_at_once_takes_one_slot(orgs, config, tap):
    rpc(orgs, "add_organisation", {"id": "org-paotui", "name": "跑腿采买队", "community": XINGHUA,
                                   "categories": ["errands"], "capacity": 3})
    rpc(orgs, "open_project", "org-paotui", {"title": "买菜代购", "capacity": 3})
    event = load(need_registered("need-many", community=XINGHUA, worker=False))

    def handle(_):
        with entrypoint_hook(orgs, "on_need_registered") as on_need_registered:
            return on_need_registered(event)
    # six handlers at once, interleaved (their results cannot be told apart: entrypoint_waiter
    # hands each hook the first result of the method)
    list(eventlet.GreenPool(6).imap(handle, range(6)))
    org = rpc(orgs, "get_organisation", "org-paotui")
    assert [p["need_ids"] for p in org["projects"]] == [["need-many"], []]
    wait_for(lambda: tap.of_type("org_matched", "need-many"))
    eventlet.sleep(0.3)
    assert len({e["id"] for e in tap.of_type("org_matched", "need-many")}) == 1  # republished at most
    decided = database(config["WUSHE"], "orgs").needs.find_one({"_id": "need-many"})
    assert (decided["outcome"], decided["project_id"]) == ("matched", org["projects"][0]["id"])


def test_concurrent_hand_overs_hand_each_waiting_need_once(orgs, config, publish, tap):
    config["WUSHE"]["RULES"]["default_project_capacity"] = 1
    rpc(orgs, "add_organisation", {"id": "org-xinli", "name": "心理疏导小组", "community": HUAYUAN,
                                   "categories": ["psychological_support"], "stage": "incubating"})
    for i in range(4):  # attached to the registered incubating organisation
        deliver(orgs, publish, need_registered(f"need-w{i}", community=HUAYUAN,
                                               category="psychological_support", worker=False))
    assert len(wait_for(lambda: (lambda e: e if len(e) == 4 else None)(tap.of_type("org_unmatched")))) == 4
    for body in MILESTONES:
        org = rpc(orgs, "record_milestone", "org-xinli", body)
    assert [p["need_ids"] for p in org["projects"]] == [["need-w0"]]

    def open_one(i):
        with entrypoint_hook(orgs, "open_project") as open_project:
            return open_project("org-xinli", {"title": f"减压小组{i}", "capacity": 1})
    list(eventlet.GreenPool(3).imap(open_one, range(3)))  # three hand-overs at once
    org = rpc(orgs, "get_organisation", "org-xinli")
    held = [n for p in org["projects"] for n in p["need_ids"]]
    assert sorted(held) == ["need-w0", "need-w1", "need-w2", "need-w3"]  # each once, every project full
    assert org["capacity"] == 0
    wait_for(lambda: len({e["subject"] for e in tap.of_type("org_matched")}) == 4)
    eventlet.sleep(0.3)
    assert len({e["id"] for e in tap.of_type("org_matched")}) == 4  # one announcement per need
    store = database(config["WUSHE"], "orgs")
    for need in store.needs.find():
        project = next(p for p in org["projects"] if need["_id"] in p["need_ids"])
        assert (need["outcome"], need["project_id"]) == ("matched", project["id"])


def test_needs_left_waiting_by_a_crash_are_handed_over(orgs, config, publish, tap):
    store = database(config["WUSHE"], "orgs")
    for i in range(3):
        deliver(orgs, publish, repair_need(f"need-k{i}"))
    org_id = wait_for(lambda: tap.of_type("org_incubation_started"))[0]["data"]["organisation_id"]
    # a crash between starting the incubation and attaching its needs left one recorded as unmatched
    store.needs.update_one({"_id": "need-k1"}, {"$set": {"outcome": "unmatched"}, "$unset": {"organisation_id": ""}})
    for body in MILESTONES:
        org = rpc(orgs, "record_milestone", org_id, body)
    assert org["projects"][0]["need_ids"] == ["need-k0", "need-k1", "need-k2"]

    # a crash between a graduation and its hand-over: the periodic check hands the needs over
    rpc(orgs, "add_organisation", {"id": "org-wenyi", "name": "文艺指导队", "community": HUAYUAN,
                                   "categories": ["education"], "stage": "incubating"})
    for i in range(2):
        deliver(orgs, publish, need_registered(f"need-e{i}", community=HUAYUAN, category="education", worker=False))
    store.organisations.update_one({"_id": "org-wenyi"}, {"$set": {"stage": "active", "projects": [
        domain.new_project("project-daily", "日常服务", 5, "2026-11-23T09:00:00.000000Z")]}})
    for _ in range(2):
        with entrypoint_hook(orgs, "hand_over_waiting") as check:
            check()
    assert rpc(orgs, "get_organisation", "org-wenyi")["projects"][0]["need_ids"] == ["need-e0", "need-e1"]
    wait_for(lambda: len({e["subject"] for e in tap.of_type("org_matched")}) == 5)
    eventlet.sleep(0.3)
    assert len({e["id"] for e in tap.of_type("org_matched")}) == 5
    assert store.needs.count_documents({"outcome": "matched"}) == 5

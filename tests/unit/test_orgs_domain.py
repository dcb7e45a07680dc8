"""services.orgs.domain: matching a need to an organisation, and incubating one."""
import re

import pytest

from services.orgs import domain
from tests.unit.helpers import COMMUNITY, NEED_ID, STREET, T0, T1, T2, T3
from wushe.contract.decisions import Refused
from wushe.contract.events import load, stamped


def project(project_id="project-1", capacity=20, need_ids=(), state="open"):
    return {**domain.new_project(project_id, "日常服务", capacity, T0), "need_ids": list(need_ids), "state": state}


def org(org_id, categories, stage="active", created_at=T1, projects=None):
    if projects is None:
        projects = [project()] if stage == "active" else []
    return {"_id": org_id, "community": COMMUNITY, "categories": categories, "stage": stage,
            "created_at": created_at, "projects": projects}


LINLI = org("org-linli", ["errands", "elderly_care"], created_at=T2)        # 邻里串门
WEIXIU = org("org-weixiu", ["home_repair"], created_at=T0)                 # 便民维修
OLDER = org("org-laoyou", ["errands"], created_at=T1)
GROWING = org("org-peiyu", ["errands"], stage="incubating", created_at=T0)
FULL = org("org-man", ["errands"], created_at=T0, projects=[project(capacity=2, need_ids=["need-a", "need-b"])])
CLOSED = org("org-guan", ["errands"], created_at=T0, projects=[project(state="closed")])


@pytest.mark.parametrize("organisations, category, expected", [
    ([LINLI, WEIXIU], "errands", "org-linli"),
    ([LINLI, WEIXIU], "home_repair", "org-weixiu"),
    ([LINLI, OLDER], "errands", "org-laoyou"),              # oldest first
    ([OLDER, LINLI], "errands", "org-laoyou"),
    ([GROWING, LINLI], "errands", "org-linli"),             # incubating ones are not matched
    ([GROWING], "errands", None),
    ([LINLI, WEIXIU], "psychological_support", None),
    ([], "errands", None),
    ([FULL, LINLI], "errands", "org-linli"),                # a full organisation is not matched
    ([CLOSED, LINLI], "errands", "org-linli"),              # nor one whose projects are all closed
    ([FULL, CLOSED], "errands", None),
])
def test_best_match(organisations, category, expected):
    found = domain.best_match(organisations, category)
    assert (found and found["_id"]) == expected


@pytest.mark.parametrize("demand, threshold, expected", [(1, 3, False), (2, 3, False), (3, 3, True),
                                                         (4, 3, True), (1, 1, True)])
def test_should_incubate_at_the_threshold(demand, threshold, expected):
    assert domain.should_incubate(demand, threshold) is expected


def test_new_incubation():
    need = {"need_id": NEED_ID, "community": COMMUNITY, "street": STREET, "category": "home_repair"}
    triggers = ["need-01", "need-02", NEED_ID]
    made = domain.new_incubation("org-new", need, triggers, T3)
    organisation, [event] = made.fields, made.events
    assert organisation["stage"] == "incubating"
    assert organisation["categories"] == ["home_repair"] and organisation["community"] == COMMUNITY
    assert organisation["incubation"]["need_ids"] == triggers
    assert organisation["incubation"]["mentor_street"] == STREET
    assert "便民维修" in organisation["name"]
    loaded = load(stamped("orgs", event, T3))
    assert (loaded.source, loaded.type, loaded.subject, loaded.time) == ("orgs", "org_incubation_started", "org-new", T3)
    assert loaded.data == {"organisation_id": "org-new", "community": COMMUNITY, "category": "home_repair",
                           "need_ids": triggers, "mentor_street": STREET}


def test_incubation_key_is_one_per_community_and_category():
    keys = {domain.incubation_key(c, k) for c in (COMMUNITY, "tianjin/binhai/taida/huaying")
            for k in ("errands", "home_repair")}
    assert len(keys) == 4


# --- micro-projects (小微项目) ------------------------------------------------------------------
def test_a_project_has_room_until_its_capacity_while_open():
    assert domain.room(project(capacity=3, need_ids=["need-a"])) == 2
    assert domain.room(project(capacity=2, need_ids=["need-a", "need-b"])) == 0
    assert domain.room(project(capacity=3, state="closed")) == 0


def test_which_projects_have_room_the_oldest_first():
    organisation = org("org-x", ["errands"], projects=[
        project("project-full", capacity=1, need_ids=["need-a"]),
        project("project-closed", state="closed"),
        project("project-b", capacity=2, need_ids=["need-b"]),
        project("project-c", capacity=5)])
    assert [(i, p["id"]) for i, p in domain.projects_with_room(organisation)] == [(2, "project-b"), (3, "project-c")]
    assert domain.capacity_left(organisation) == 1 + 5
    assert domain.project_index(organisation, "project-c") == 3
    assert domain.project_index(organisation, "project-zzz") is None
    assert domain.capacity_left(org("org-y", ["errands"], stage="incubating")) == 0


def test_candidates_are_active_serving_with_room_oldest_first():
    assert [o["_id"] for o in domain.candidates([LINLI, OLDER, FULL, GROWING, WEIXIU], "errands")] == \
        ["org-laoyou", "org-linli"]


def test_holding_finds_the_project_that_already_has_a_need():
    held = domain.holding([LINLI, FULL], "need-b")
    assert held[0]["_id"] == "org-man" and held[1] == 0
    assert domain.holding([LINLI, FULL], "need-zzz") is None


def test_matched_names_the_project():
    need = {"need_id": NEED_ID, "community": COMMUNITY, "category": "errands"}
    loaded = load(stamped("orgs", domain.matched(need, LINLI, "project-1"), T1))
    assert loaded.data["project_id"] == "project-1" and loaded.data["organisation_id"] == "org-linli"
    assert loaded.subject == NEED_ID  # an event about a need is the need's, not the organisation's


# --- incubation milestones ----------------------------------------------------------------------
MEMBERS = {"milestone": "founding_members", "members": ["王阿姨", "李师傅", "张大爷"]}
CHARTER = {"milestone": "charter", "title": "便民维修队章程"}
TRAINING = {"milestone": "training", "topic": "入户安全", "hours": 2.0}
FIRST_PROJECT = {"milestone": "first_project", "title": "楼道灯更换"}


def incubating():
    need = {"need_id": NEED_ID, "community": COMMUNITY, "street": STREET, "category": "home_repair"}
    return domain.new_incubation("org-new", need, [NEED_ID], T0).fields


def apply(organisation, change):
    """What store.advance does to the document (its fields set, its values appended), for the
    pure tests."""
    organisation = {**organisation, "incubation": dict(organisation["incubation"]),
                    "projects": list(organisation["projects"])}
    for path, value in change.fields.items():
        if path.startswith("incubation."):
            organisation["incubation"][path.split(".", 1)[1]] = value
        else:
            organisation[path] = value
    for path, value in change.appended.items():
        if path == "projects":
            organisation["projects"].append(value)
        else:
            name = path.split(".", 1)[1]
            organisation["incubation"][name] = list(organisation["incubation"].get(name) or []) + [value]
    return organisation


def record(organisation, body, sessions=domain.TRAINING_SESSIONS):
    domain.check_milestone(organisation, body["milestone"])  # raises nothing
    change = domain.milestone_step(organisation, body, T2, "project-std", training_sessions=sessions,
                                   project_capacity=domain.DEFAULT_PROJECT_CAPACITY)
    return apply(organisation, change), change


def test_milestones_in_order_to_graduation():
    organisation = incubating()
    assert domain.next_milestone(organisation) == "founding_members"
    organisation, change = record(organisation, MEMBERS)
    assert change.answer == {"reached": "founding_members", "graduates": False}
    assert organisation["members"] == MEMBERS["members"]
    organisation, change = record(organisation, CHARTER)
    assert domain.next_milestone(organisation) == "training"
    for _ in range(domain.TRAINING_SESSIONS - 1):
        organisation, change = record(organisation, TRAINING)
        assert change.answer["reached"] is None and change.events == ()  # a session logged, no milestone yet
    organisation, change = record(organisation, TRAINING)
    assert change.answer["reached"] == "training"
    assert len(domain.sessions(organisation)) == domain.TRAINING_SESSIONS
    organisation, change = record(organisation, FIRST_PROJECT)
    assert change.answer["graduates"] and organisation["stage"] == "active"
    # the incubation key is released with this change by the store (tests/handlers/test_orgs_handlers.py)
    assert change.fields["stage"] == "active" and change.fields["incubation.graduated_at"] == T2
    assert organisation["projects"] == [domain.new_project("project-std", "日常服务", domain.DEFAULT_PROJECT_CAPACITY, T2)]
    assert [e.type for e in change.events] == ["org_milestone_reached", "org_graduated"]
    graduated = load(stamped("orgs", change.events[1], T2))
    assert graduated.subject == "org-new" and graduated.data == {
        "organisation_id": "org-new", "community": COMMUNITY, "categories": ["home_repair"]}
    assert domain.reached(organisation) == list(domain.MILESTONES)
    assert domain.next_milestone(organisation) is None


def test_training_is_reached_at_the_configured_number_of_sessions():
    organisation, _ = record(record(incubating(), MEMBERS)[0], CHARTER)
    for _ in range(3):
        organisation, change = record(organisation, TRAINING, sessions=4)
        assert change.answer["reached"] is None
    assert (len(domain.reached(organisation)), len(domain.sessions(organisation))) == (2, 3)
    organisation, change = record(organisation, TRAINING, sessions=4)
    assert change.answer["reached"] == "training"
    assert change.appended == {"incubation.sessions": {"topic": "入户安全", "hours": 2.0, "at": T2},
                               "incubation.milestones": {"milestone": "training", "reached_at": T2}}
    summary = domain.incubation_summary(organisation, training_sessions=4)
    assert summary["training_sessions"] == 4 and summary["training_hours"] == 8.0


@pytest.mark.parametrize("done, asked, why", [
    ([], "charter", "the next milestone of organisation org-new is founding_members, not charter"),
    ([], "first_project", "is founding_members, not first_project"),
    ([MEMBERS], "training", "is charter, not training"),
    ([MEMBERS], "founding_members", "already reached the founding_members milestone"),
    ([MEMBERS, CHARTER], "charter", "already reached the charter milestone"),
])
def test_milestones_out_of_order_or_repeated_are_refused(done, asked, why):
    organisation = incubating()
    for body in done:
        organisation, _ = record(organisation, body)
    with pytest.raises(Refused, match=re.escape(why)) as refused:
        domain.check_milestone(organisation, asked)
    assert refused.value.kind == Refused.CONFLICT
    with pytest.raises(Refused, match=re.escape(why)):  # the step itself refuses the same
        domain.milestone_step(organisation, {"milestone": asked}, T2, "project-std")


def test_an_active_organisation_records_no_milestone():
    with pytest.raises(Refused) as refused:
        domain.check_milestone(LINLI, "founding_members")
    assert refused.value.reason == "organisation org-linli is active, not incubating"
    assert refused.value.kind == Refused.CONFLICT


def test_milestone_events_never_carry_members_names():
    organisation = incubating()
    _, change = record(organisation, MEMBERS)
    event = load(stamped("orgs", change.events[0], T2))
    assert event.type == "org_milestone_reached" and event.subject == "org-new"
    assert event.data == {"organisation_id": "org-new", "community": COMMUNITY, "milestone": "founding_members"}
    assert not any(name in str(change.events) for name in MEMBERS["members"])


def test_the_incubation_summary_counts_members_but_never_names_them():
    organisation, _ = record(incubating(), MEMBERS)
    summary = domain.incubation_summary(organisation)
    assert summary["member_count"] == 3 and summary["next_milestone"] == "charter"
    assert not any(name in str(summary) for name in MEMBERS["members"])
    assert domain.incubation_summary(LINLI) is None


# --- the decision on a need (moved from the service) ----------------------------------------------
NEED = {"need_id": NEED_ID, "community": COMMUNITY, "street": STREET, "category": "errands", "registered_at": T0}


def test_a_need_holding_a_slot_is_decided_matched_to_that_project():
    held = (LINLI, 0, LINLI["projects"][0])
    change = domain.decision(NEED, held, incubating_one=GROWING, unmatched_before=5)
    assert change.fields == {"_id": NEED_ID, "community": COMMUNITY, "category": "errands", "registered_at": T0,
                             "outcome": "matched", "organisation_id": "org-linli", "project_id": "project-1"}
    [event] = change.events
    assert (event.type, event.data["organisation_id"], event.data["project_id"]) == \
        ("org_matched", "org-linli", "project-1")


def test_without_a_slot_a_need_waits_on_the_organisation_incubating_for_its_category():
    change = domain.decision(NEED, None, incubating_one=GROWING, unmatched_before=5)
    assert (change.fields["outcome"], change.fields["organisation_id"]) == ("incubating", "org-peiyu")
    [event] = change.events
    assert event.type == "org_unmatched" and event.data == {
        "need_id": NEED_ID, "community": COMMUNITY, "category": "errands", "demand": 0,
        "organisation_id": "org-peiyu"}


def test_otherwise_a_need_is_unmatched_and_counts_as_demand_after_those_before_it():
    change = domain.decision(NEED, None, None, unmatched_before=2)
    assert change.fields["outcome"] == "unmatched" and "organisation_id" not in change.fields
    assert change.events[0].data["demand"] == 3 and change.events[0].data["organisation_id"] is None
    assert domain.incubating([LINLI, GROWING]) is GROWING and domain.incubating([LINLI]) is None


def test_where_a_need_goes_in_one_organisation():
    assert domain.slot_for(FULL, "need-b") == ("held", 0, FULL["projects"][0])  # its own slot, even when full
    assert domain.slot_for(FULL, "need-c") is None
    assert domain.slot_for(GROWING, NEED_ID) is None and domain.slot_for(None, NEED_ID) is None
    two = org("org-x", ["errands"], projects=[project("project-a", capacity=1, need_ids=["need-a"]),
                                               project("project-b", capacity=2)])
    assert domain.slot_for(two, NEED_ID) == ("free", 1, two["projects"][1])


def test_a_waiting_need_handed_over_is_matched_and_a_matched_one_holds_a_slot():
    waiting = {"_id": NEED_ID, "community": COMMUNITY, "category": "errands", "outcome": "incubating",
               "organisation_id": "org-linli"}
    change = domain.handed_over(waiting, LINLI, LINLI["projects"][0])
    assert change.fields == {"outcome": "matched", "organisation_id": "org-linli", "project_id": "project-1"}
    assert [e.type for e in change.events] == ["org_matched"]
    assert domain.holds_slot({**waiting, **change.fields})
    assert not domain.holds_slot(waiting) and not domain.holds_slot({"outcome": "unmatched"})


def test_incubation_demand_counts_within_the_window():
    assert domain.demand_since("2026-11-23T08:00:00.000000Z", 90) == "2026-08-25T08:00:00.000000Z"


# --- organisations and their micro-projects -----------------------------------------------------
def test_an_organisation_registered_active_runs_a_standing_project_and_an_incubating_one_milestones():
    body = {"name": "便民维修队", "community": COMMUNITY, "categories": ["home_repair"]}
    active = domain.new_organisation("org-a", {**body, "stage": "active"}, T0, "project-a", 5)
    assert active["incubation"] is None
    assert active["projects"] == [domain.new_project("project-a", domain.STANDING_PROJECT_TITLE, 5, T0)]
    growing = domain.new_organisation("org-b", {**body, "stage": "incubating"}, T0, "project-b", 5)
    assert growing["projects"] == [] and growing["incubation"]["mentor_street"] == STREET
    shown = domain.view(active, training_sessions=3)
    assert (shown["id"], shown["capacity"], shown["projects"][0]["room"], shown["incubation"]) == ("org-a", 5, 5, None)
    assert domain.view(growing, training_sessions=3)["incubation"]["training_sessions_needed"] == 3


def test_only_an_active_organisation_opens_a_project_and_only_its_own_is_closed():
    opened = domain.project_to_open(LINLI, "project-2", {"title": "买菜代购", "capacity": 3}, T2)
    assert opened == domain.new_project("project-2", "买菜代购", 3, T2)
    with pytest.raises(Refused, match="org-peiyu is incubating: only an active organisation"):
        domain.project_to_open(GROWING, "project-2", {"title": "买菜代购", "capacity": 3}, T2)
    assert domain.project_to_close(LINLI, "project-1") == 0
    with pytest.raises(Refused, match="no project project-zzz in organisation org-linli") as missing:
        domain.project_to_close(LINLI, "project-zzz")
    assert missing.value.kind == Refused.MISSING


def test_an_orgs_event_is_about_its_need_or_else_its_organisation():
    assert stamped("orgs", domain.matched(NEED, LINLI, "project-1"), T0)["subject"] == NEED_ID
    incubation = domain.new_incubation("org-new", NEED, [NEED_ID], T0).events[0]
    assert stamped("orgs", incubation, T0)["subject"] == "org-new"

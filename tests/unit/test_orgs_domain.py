"""services.orgs.domain: matching a need to an organisation, and incubating one."""
import pytest

from services.orgs import domain
from tests.unit.helpers import COMMUNITY, NEED_ID, STREET, T0, T1, T2, T3
from wushe.events import load


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
    organisation, event = domain.new_incubation("org-new", need, triggers, T3)
    assert organisation["stage"] == "incubating"
    assert organisation["categories"] == ["home_repair"] and organisation["community"] == COMMUNITY
    assert organisation["incubation"]["need_ids"] == triggers
    assert organisation["incubation"]["mentor_street"] == STREET
    assert "便民维修" in organisation["name"]
    loaded = load(event)
    assert (loaded.source, loaded.type, loaded.subject) == ("orgs", "org_incubation_started", "org-new")
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
    loaded = load(domain.matched(need, LINLI, "project-1"))
    assert loaded.data["project_id"] == "project-1" and loaded.data["organisation_id"] == "org-linli"


# --- incubation milestones ----------------------------------------------------------------------
MEMBERS = {"milestone": "founding_members", "members": ["王阿姨", "李师傅", "张大爷"]}
CHARTER = {"milestone": "charter", "title": "便民维修队章程"}
TRAINING = {"milestone": "training", "topic": "入户安全", "hours": 2.0}
FIRST_PROJECT = {"milestone": "first_project", "title": "楼道灯更换"}


def incubating():
    need = {"need_id": NEED_ID, "community": COMMUNITY, "street": STREET, "category": "home_repair"}
    organisation, _ = domain.new_incubation("org-new", need, [NEED_ID], T0)
    return organisation


def apply(organisation, step):
    """What store.advance does to the document, for the pure tests."""
    organisation = {**organisation, "incubation": dict(organisation["incubation"]),
                    "projects": list(organisation["projects"])}
    for path, value in step["set"].items():
        if path.startswith("incubation."):
            organisation["incubation"][path.split(".", 1)[1]] = value
        else:
            organisation[path] = value
    for path, value in step["push"].items():
        if path == "projects":
            organisation["projects"].append(value)
        else:
            name = path.split(".", 1)[1]
            organisation["incubation"][name] = list(organisation["incubation"].get(name) or []) + [value]
    for path in step["unset"]:
        organisation.pop(path, None)
    return organisation


def record(organisation, body, sessions=domain.TRAINING_SESSIONS):
    assert domain.refusal(organisation, body["milestone"]) is None
    step = domain.milestone_step(organisation, body, T2, "project-std", training_sessions=sessions,
                                 project_capacity=domain.DEFAULT_PROJECT_CAPACITY)
    return apply(organisation, step), step


def test_milestones_in_order_to_graduation():
    organisation = incubating()
    assert domain.next_milestone(organisation) == "founding_members"
    organisation, step = record(organisation, MEMBERS)
    assert step["reached"] == "founding_members" and not step["graduates"]
    assert organisation["members"] == MEMBERS["members"]
    organisation, step = record(organisation, CHARTER)
    assert domain.next_milestone(organisation) == "training"
    for _ in range(domain.TRAINING_SESSIONS - 1):
        organisation, step = record(organisation, TRAINING)
        assert step["reached"] is None and step["events"] == []  # a session logged, no milestone yet
    organisation, step = record(organisation, TRAINING)
    assert step["reached"] == "training"
    assert len(domain.sessions(organisation)) == domain.TRAINING_SESSIONS
    organisation, step = record(organisation, FIRST_PROJECT)
    assert step["graduates"] and organisation["stage"] == "active"
    assert "incubation_key" not in organisation and step["unset"] == ["incubation_key"]
    assert organisation["projects"] == [domain.new_project("project-std", "日常服务", domain.DEFAULT_PROJECT_CAPACITY, T2)]
    assert [e["type"] for e in step["events"]] == ["org_milestone_reached", "org_graduated"]
    graduated = load(step["events"][1])
    assert graduated.subject == "org-new" and graduated.data == {
        "organisation_id": "org-new", "community": COMMUNITY, "categories": ["home_repair"]}
    assert domain.reached(organisation) == list(domain.MILESTONES)
    assert domain.next_milestone(organisation) is None


def test_training_is_reached_at_the_configured_number_of_sessions():
    organisation, _ = record(record(incubating(), MEMBERS)[0], CHARTER)
    for _ in range(3):
        organisation, step = record(organisation, TRAINING, sessions=4)
        assert step["reached"] is None
    organisation, step = record(organisation, TRAINING, sessions=4)
    assert step["reached"] == "training" and step["expect"] == {"milestones": 2, "sessions": 3}
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
    assert why in domain.refusal(organisation, asked)


def test_an_active_organisation_records_no_milestone():
    assert domain.refusal(LINLI, "founding_members") == "organisation org-linli is active, not incubating"


def test_milestone_events_never_carry_members_names():
    organisation = incubating()
    _, step = record(organisation, MEMBERS)
    event = load(step["events"][0])
    assert event.type == "org_milestone_reached" and event.subject == "org-new"
    assert event.data == {"organisation_id": "org-new", "community": COMMUNITY, "milestone": "founding_members"}
    assert not any(name in str(step["events"]) for name in MEMBERS["members"])


def test_the_incubation_summary_counts_members_but_never_names_them():
    organisation, _ = record(incubating(), MEMBERS)
    summary = domain.incubation_summary(organisation)
    assert summary["member_count"] == 3 and summary["next_milestone"] == "charter"
    assert not any(name in str(summary) for name in MEMBERS["members"])
    assert domain.incubation_summary(LINLI) is None

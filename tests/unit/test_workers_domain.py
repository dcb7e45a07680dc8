"""services.workers.domain: which social worker takes a need's case."""
import pytest

from services.workers import domain


def worker(worker_id, certification="assistant", specialties=(), caseload=0, max_caseload=12, active=True):
    return {"_id": worker_id, "certification": certification, "specialties": list(specialties),
            "caseload": caseload, "max_caseload": max_caseload, "active": active}


def ids(workers, category="elderly_care", urgency="normal"):
    return [w["_id"] for w in domain.rank(workers, category, urgency)]


def test_only_active_workers_with_room_are_candidates():
    workers = [worker("w-full", caseload=12), worker("w-over", caseload=13), worker("w-away", active=False),
               worker("w-room", caseload=11)]
    assert ids(workers) == ["w-room"]


def test_nobody_with_room_gives_no_candidates():
    assert ids([worker("w-full", caseload=3, max_caseload=3)], urgency="critical") == []


@pytest.mark.parametrize("urgency", ["critical", "high"])
def test_urgent_need_goes_to_certified_workers_first(urgency):
    workers = [worker("w-new", certification="none", specialties=["elderly_care"], caseload=0),
               worker("w-zhong", certification="intermediate", caseload=9),
               worker("w-gao", certification="senior", caseload=5)]
    ranked = ids(workers, urgency=urgency)
    assert ranked[:2] == ["w-gao", "w-zhong"]


@pytest.mark.parametrize("urgency", ["critical", "high"])
def test_urgent_need_falls_back_to_uncertified_when_no_certified_has_room(urgency):
    workers = [worker("w-new", certification="none", caseload=2),
               worker("w-gao", certification="senior", caseload=12),
               worker("w-zhong", certification="intermediate", active=False)]
    assert ids(workers, urgency=urgency) == ["w-new"]


@pytest.mark.parametrize("urgency", ["normal", "low"])
def test_ordinary_need_ranks_uncertified_specialists_first(urgency):
    workers = [worker("w-gao", certification="senior", caseload=0),
               worker("w-new", certification="none", specialties=["elderly_care"], caseload=6)]
    assert ids(workers, urgency=urgency) == ["w-new", "w-gao"]


def test_specialty_match_comes_before_caseload_then_smallest_caseload():
    workers = [worker("w-a", specialties=["child_care"], caseload=0),
               worker("w-b", specialties=["elderly_care"], caseload=8),
               worker("w-c", specialties=["elderly_care", "disability"], caseload=3),
               worker("w-d", caseload=1)]
    assert ids(workers, category="elderly_care") == ["w-c", "w-b", "w-a", "w-d"]


def test_ties_are_broken_deterministically_by_id():
    workers = [worker("w-2", caseload=4), worker("w-1", caseload=4)]
    assert ids(workers) == ids(list(reversed(workers)))


def test_case_id_for_is_deterministic_and_per_need():
    first = domain.case_id_for("need-0a1b2c3d")
    assert first == domain.case_id_for("need-0a1b2c3d") == "case-0a1b2c3d"
    assert domain.case_id_for("need-ffff0000") != first
    assert domain.case_id_for("hotline-365-88").startswith("case-")


# --- staffing, supervision, stages, the district queue ------------------------------------------
from datetime import datetime, timedelta, timezone  # noqa: E402

from wushe.contract.clock import iso  # noqa: E402
from services.workers.domain import Rules  # noqa: E402

NOW = datetime(2026, 11, 23, tzinfo=timezone.utc)
RULES = Rules()


def staff(worker_id, certification, days_ago=10, supervisor=None, active=True, street="tianjin/binhai/taida",
          station="s1"):
    return {"_id": worker_id, "certification": certification, "joined_at": iso(NOW - timedelta(days=days_ago)),
            "supervisor_id": supervisor, "active": active, "street": street, "station_id": station}


def test_a_station_of_two_with_a_certified_supervisor_is_compliant():
    report = domain.staffing([staff("gao", "senior"), staff("xin", "none", supervisor="gao")], NOW, RULES)
    assert report["compliant"] and report["reasons"] == [] and (report["workers"], report["certified"]) == (2, 1)
    assert report["unsupervised"] == [] and report["supervision_reasons"] == []


@pytest.mark.parametrize("workers, reason", [
    ([staff("gao", "senior")], "at least two"),
    ([staff("a", "none", supervisor="x"), staff("b", "none", supervisor="x")], "at least one certified"),
    ([staff("gao", "senior"), staff("old", "none", days_ago=731, supervisor="gao")], "past the two-year deadline"),
])
def test_each_staffing_rule_makes_a_station_non_compliant(workers, reason):
    report = domain.staffing(workers, NOW, RULES)
    assert not report["compliant"] and any(reason in r for r in report["reasons"])


@pytest.mark.parametrize("uncertain", [staff("xin", "none"), staff("zhu", "assistant")])
def test_a_supervision_gap_is_reported_beside_the_staffing_rule_not_in_it(uncertain):
    """Two resident workers, one certified, the other within two years: the seeds' staffing rule
    holds, whether or not the second has a supervisor yet."""
    report = domain.staffing([staff("gao", "senior"), uncertain], NOW, RULES)
    assert report["compliant"] and report["reasons"] == []
    assert report["unsupervised"] == [uncertain["_id"]]
    assert "no supervisor" in report["supervision_reasons"][0]


def test_deadlines_are_reported_within_ninety_days_and_past():
    workers = [staff("gao", "senior"), staff("soon", "none", days_ago=700, supervisor="gao"),
               staff("late", "none", days_ago=740, supervisor="gao"), staff("new", "none", days_ago=10, supervisor="gao")]
    deadlines = {d["worker_id"]: d for d in domain.staffing(workers, NOW, RULES)["certification_deadlines"]}
    assert set(deadlines) == {"soon", "late"}
    assert deadlines["soon"]["days_left"] == 30 and not deadlines["soon"]["overdue"]
    assert deadlines["late"]["overdue"]


def test_workers_who_left_do_not_count():
    report = domain.staffing([staff("gao", "senior"), staff("gone", "senior", active=False)], NOW, RULES)
    assert report["workers"] == 1 and not report["compliant"]


@pytest.mark.parametrize("supervisor, problem", [
    (None, "no such worker"),
    (staff("peer", "assistant"), "higher"),
    (staff("gone", "senior", active=False), "left"),
    (staff("far", "senior", street="tianjin/hexi/youyi", station="s9"), "district"),
])
def test_a_supervisor_must_be_active_higher_and_near(supervisor, problem):
    assert problem in domain.supervision_problem(staff("zhu", "assistant"), supervisor)


def test_a_supervisor_of_the_same_district_other_station_will_do():
    other = staff("centre", "senior", street="tianjin/binhai/xinhe", station="s2")
    assert domain.supervision_problem(staff("zhu", "assistant"), other) is None


def test_caps_follow_the_level_unless_given():
    assert domain.cap_for("none", RULES.caseload_caps) == 8
    assert domain.cap_for("senior", RULES.caseload_caps) == 15
    assert domain.cap_for("senior", RULES.caseload_caps, given=4) == 4


@pytest.mark.parametrize("current, to, by_system, refused", [
    ("identified", "assessed", False, False),
    ("identified", "in_service", False, True),
    ("in_service", "evaluated", False, False),
    ("in_service", "closed", False, True),
    ("in_service", "closed", True, False),   # the need was resolved or cancelled
    ("evaluated", "closed", False, False),
    ("evaluated", "in_service", False, False),
    ("closed", "in_service", False, False),  # reopened
    ("closed", "assessed", False, True),
    ("planned", "planned", False, True),
])
def test_case_stage_moves(current, to, by_system, refused):
    assert (domain.stage_refused(current, to, by_system) is not None) is refused


def test_the_district_queue_takes_the_most_urgent_then_the_oldest():
    waiting = [{"_id": "n1", "urgency": "normal", "registered_at": "2026-11-01T00:00:00.000000Z"},
               {"_id": "n2", "urgency": "critical", "registered_at": "2026-11-20T00:00:00.000000Z"},
               {"_id": "n3", "urgency": "normal", "registered_at": "2026-10-01T00:00:00.000000Z"},
               {"_id": "n4", "urgency": "high", "registered_at": "2026-11-21T00:00:00.000000Z"}]
    assert [n["_id"] for n in domain.queue_order(waiting)] == ["n2", "n4", "n3", "n1"]


def test_certification_only_goes_up_and_a_default_cap_follows_the_level():
    worker = {**staff("xin", "none"), "max_caseload": 8}
    assert domain.certification_refused(worker, "assistant") is None
    assert "only goes up" in domain.certification_refused({**worker, "certification": "senior"}, "assistant")
    assert "left" in domain.certification_refused({**worker, "active": False}, "senior")
    assert domain.cap_after_certification(worker, "intermediate", RULES.caseload_caps) == 12
    assert domain.cap_after_certification({**worker, "max_caseload": 5}, "intermediate", RULES.caseload_caps) == 5


# --- the documents and decisions the rules make ---------------------------------------------------
from wushe.contract.decisions import Refused  # noqa: E402

STATION = {"_id": "station-taida", "street": "tianjin/binhai/taida"}
WAITING = {"need_id": "need-0a1b", "community": "tianjin/binhai/taida/xinghua", "street": "tianjin/binhai/taida",
           "district": "tianjin/binhai", "category": "errands", "urgency": "high",
           "registered_at": "2026-11-23T08:00:00.000000Z"}
AT = "2026-11-23T09:00:00.000000Z"


def case(stage="identified", worker_id="w-liu"):
    return {"_id": "case-0a1b", "need_id": "need-0a1b", "community": WAITING["community"], "street": WAITING["street"],
            "station_id": "station-taida", "worker_id": worker_id, "stage": stage}


def test_a_new_worker_takes_the_station_street_and_the_level_cap():
    body = {"id": "w-xin", "name": "新", "station_id": "station-taida", "certification": "none", "specialties": [],
            "joined_at": NOW - timedelta(days=3)}
    worker_ = domain.new_worker(body, STATION, "w-xin", AT, RULES.caseload_caps)
    assert (worker_["_id"], worker_["street"], worker_["max_caseload"], worker_["caseload"], worker_["cases"]) == (
        "w-xin", STATION["street"], 8, 0, [])
    assert worker_["joined_at"] == iso(NOW - timedelta(days=3)) and worker_["created_at"] == AT
    assert "id" not in worker_ and worker_["active"] and worker_["supervisor_id"] is None


def test_a_new_worker_is_refused_at_an_unknown_station_or_under_a_supervisor_who_cannot():
    body = {"name": "朱", "station_id": "station-x", "certification": "assistant", "specialties": []}
    with pytest.raises(Refused) as unknown:
        domain.new_worker(body, None, "w-zhu", AT, RULES.caseload_caps)
    assert unknown.value.kind == Refused.INVALID and list(unknown.value.fields) == ["station_id"]
    with pytest.raises(Refused) as peer:
        domain.new_worker({**body, "supervisor_id": "w-peer"}, STATION, "w-zhu", AT, RULES.caseload_caps,
                          staff("w-peer", "assistant", station="station-taida"))
    assert peer.value.kind == Refused.INVALID and "higher" in peer.value.fields["supervisor_id"][0]


def test_certification_and_leaving_are_changes_or_refusals():
    worker_ = {**staff("xin", "none"), "max_caseload": 8}
    assert domain.certified(worker_, "intermediate", None, AT, RULES.caseload_caps).fields == {
        "certification": "intermediate", "certified_at": AT, "max_caseload": 12}
    with pytest.raises(Refused, match="only goes up"):
        domain.certified({**worker_, "certification": "senior"}, "assistant", None, AT, RULES.caseload_caps)
    assert domain.left(worker_, AT, "调岗").fields == {"active": False, "left_at": AT, "leave_reason": "调岗"}
    with pytest.raises(Refused, match="already left") as gone:
        domain.left({**worker_, "active": False}, AT, "")
    assert gone.value.kind == Refused.CONFLICT


def test_a_need_is_decided_assigned_or_waiting_with_the_reason():
    assigned = domain.decided(WAITING, {"_id": "w-liu", "station_id": "station-taida"}, STATION)
    assert assigned.fields == {"_id": "need-0a1b", "outcome": "assigned", "worker_id": "w-liu",
                               **{k: v for k, v in WAITING.items() if k != "need_id"}}
    (event,) = assigned.events
    assert (event.type, event.data["case_id"], event.data["station_id"]) == ("worker_assigned", "case-0a1b",
                                                                            "station-taida")
    full, nowhere = domain.decided(WAITING, None, STATION), domain.decided(WAITING, None, None)
    assert full.fields["outcome"] == nowhere.fields["outcome"] == "unavailable" and "worker_id" not in full.fields
    assert [(d.events[0].data["reason"], d.events[0].data["station_id"], d.events[0].data["escalated_to"])
            for d in (full, nowhere)] == [("no_worker_with_room", "station-taida", "tianjin/binhai"),
                                          ("no_station", None, "tianjin/binhai")]


def test_a_leaving_worker_case_is_handed_over_or_queued():
    colleague = {"_id": "w-zhao", "station_id": "station-taida"}
    handed = domain.handed_over(case(), colleague, "w-liu")
    assert handed.fields == {"worker_id": "w-zhao", "station_id": "station-taida"}
    assert handed.events[0].data["reassigned_from"] == "w-liu"
    queued = domain.queued(case(), STATION)
    assert queued.fields == {"outcome": "unavailable"}
    assert (queued.events[0].data["reason"], queued.events[0].data["escalated_to"]) == ("worker_left", "tianjin/binhai")
    from_queue = domain.assigned_from_queue(WAITING, colleague)
    assert from_queue.fields == {"outcome": "assigned", "worker_id": "w-zhao"} and from_queue.events[0].data["from_queue"]


def test_a_stage_move_is_announced_and_a_close_says_why():
    moved = domain.stage_moved(case("identified"), "assessed", AT)
    assert moved.fields == {"stage": "assessed", "state": "open", "assessed_at": AT}
    assert [(e.type, e.data["from_stage"], e.data["to_stage"]) for e in moved.events] == [
        ("case_stage_changed", "identified", "assessed")]
    closed = domain.stage_moved(case("evaluated"), "closed", AT)
    assert closed.fields["state"] == "closed" and closed.events[1].data["reason"] == "case_closed"
    by_system = domain.stage_moved(case("planned", worker_id=None), "closed", AT, closed_for="need_resolved")
    assert [e.type for e in by_system.events] == ["case_stage_changed", "case_closed"]
    closed_data = by_system.events[1].data
    assert (closed_data["reason"], closed_data["worker_id"]) == ("need_resolved", "")  # orphaned: no worker
    with pytest.raises(Refused, match="can move only to assessed") as illegal:
        domain.stage_moved(case("identified"), "in_service", AT)
    assert illegal.value.kind == Refused.CONFLICT


def test_an_activity_answers_without_its_note_and_stations_are_counted_by_district():
    activity = domain.new_activity(case(), {"kind": "group", "participants": 8, "note": "小组活动"}, "act-1", AT)
    assert activity.fields["note"] == "小组活动" and activity.fields["at"] == AT
    assert activity.answer == {k if k != "_id" else "id": v for k, v in activity.fields.items() if k != "note"}
    reports = [("tianjin/binhai/taida", {"compliant": False}), ("tianjin/binhai/xinhe", {"compliant": True}),
               ("tianjin/hexi/youyi", {"compliant": False})]
    assert domain.noncompliant_by_district(reports) == {"tianjin/binhai": 1, "tianjin/hexi": 1}

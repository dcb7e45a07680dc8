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

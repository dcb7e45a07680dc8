"""Social workers as stations run them: staffing, supervision, case stages, visits, leaving."""
from datetime import datetime, timedelta, timezone

import pytest

from tests.e2e.world import STREET, XINGHUA, need, ok, seed

pytestmark = pytest.mark.e2e


def joined(days_ago):
    return (datetime.now(timezone.utc) - timedelta(days=days_ago)).isoformat()


def test_the_staffing_report_says_what_makes_a_station_non_compliant(platform):
    seed(platform, workers=())
    worker = {"station_id": "station-taida", "specialties": []}
    ok(platform.post("/workers", {**worker, "id": "w-late", "name": "李", "certification": "none",
                                  "joined_at": joined(740)}), 201)
    station = ok(platform.get("/stations/station-taida"), 200)
    assert station["compliant"] is False and station["workers"] == 1 and station["certified"] == 0
    assert any("at least two" in r for r in station["reasons"])
    assert any("certified" in r for r in station["reasons"])
    assert station["certification_deadlines"][0]["worker_id"] == "w-late"
    assert station["certification_deadlines"][0]["overdue"] is True

    ok(platform.post("/workers", {**worker, "id": "w-senior", "name": "高", "certification": "senior"}), 201)
    refused = platform.post("/workers", {**worker, "id": "w-x", "name": "X", "certification": "assistant",
                                         "supervisor_id": "w-late"})
    assert refused.status_code == 422 and "higher" in refused.json()["errors"]["supervisor_id"][0]
    ok(platform.post("/workers", {**worker, "id": "w-new", "name": "新", "certification": "none",
                                  "joined_at": joined(700), "supervisor_id": "w-senior"}), 201)
    station = ok(platform.get("/stations/station-taida"), 200)
    deadlines = {d["worker_id"]: d for d in station["certification_deadlines"]}
    assert deadlines["w-new"]["overdue"] is False and 0 < deadlines["w-new"]["days_left"] <= 90
    assert station["unsupervised"] == ["w-late"] and "no supervisor" in station["supervision_reasons"][0]
    assert not station["compliant"]  # w-late: overdue
    assert not any("supervisor" in r for r in station["reasons"])  # a gap beside the rule, not in it
    assert ok(platform.get("/stats", params={"region": STREET}), 200)["stations_compliant"] == 0
    assert ok(platform.get("/workers/w-new"), 200)["max_caseload"] == 8  # the uncertified level's cap

    # w-late passes the assistant exam and gets a supervisor's eye: the station is compliant
    certified = ok(platform.post("/workers/w-late/certification", {"certification": "assistant"}), 200)
    assert certified["certification"] == "assistant" and certified["max_caseload"] == 10
    assert platform.post("/workers/w-late/certification", {"certification": "assistant"}).status_code == 409
    ok(platform.post("/workers/w-late/certification", {"certification": "senior"}), 200)  # no supervisor needed
    station = ok(platform.get("/stations/station-taida"), 200)
    assert station["compliant"], station["reasons"]
    assert [d["worker_id"] for d in station["certification_deadlines"]] == ["w-new"]


def test_a_case_moves_through_its_stages_and_refuses_illegal_moves(platform):
    seed(platform)
    need_id = ok(platform.post("/needs", need(volunteers=0, rice=0)), 202)["id"]
    case_id = platform.wait_need(need_id, lambda n: n["status"] == "linked")["linkage"]["worker"]["case_id"]
    assert ok(platform.get(f"/cases/{case_id}"), 200)["stage"] == "identified"
    illegal = platform.post(f"/cases/{case_id}/stage", {"stage": "in_service"})
    assert illegal.status_code == 409 and "assessed" in illegal.json()["detail"]
    for stage in ("assessed", "planned", "in_service"):
        assert ok(platform.post(f"/cases/{case_id}/stage", {"stage": stage}), 200)["stage"] == stage
    ok(platform.post(f"/cases/{case_id}/visits", {"kind": "household_visit", "note": "入户走访"}), 201)
    ok(platform.post(f"/cases/{case_id}/visits", {"kind": "group", "participants": 8}), 201)
    assert platform.post(f"/cases/{case_id}/visits", {"kind": "party"}).status_code == 422
    assert platform.post(f"/cases/{case_id}/stage", {"stage": "closed"}).status_code == 409  # evaluate first
    ok(platform.post(f"/cases/{case_id}/stage", {"stage": "evaluated"}), 200)
    closed = ok(platform.post(f"/cases/{case_id}/stage", {"stage": "closed"}), 200)
    assert closed["state"] == "closed" and closed["activities"] == 2
    worker_id = closed["worker_id"]
    assert ok(platform.get(f"/workers/{worker_id}"), 200)["caseload"] == 0
    reopened = ok(platform.post(f"/cases/{case_id}/stage", {"stage": "in_service"}), 200)
    assert reopened["state"] == "open" and ok(platform.get(f"/workers/{worker_id}"), 200)["caseload"] == 1
    view = platform.wait_need(need_id, lambda n: n["linkage"]["worker"].get("case_stage") == "in_service"
                              and [t["type"] for t in n["timeline"]].count("case_stage_changed") == 6)
    stats = ok(platform.get("/stats", params={"region": XINGHUA}), 200)
    assert stats["visits"] == 1 and stats["activities"] == {"case": 0, "group": 1, "community": 0}
    assert stats["cases"] == {"open": 1, "by_stage": {"in_service": 1}}
    assert "case_closed" in [t["type"] for t in view["timeline"]]


def test_a_leaving_worker_hands_cases_to_colleagues_then_to_the_district_queue(platform):
    seed(platform, workers=(("w-liu", "intermediate", 12), ("w-zhao", "senior", 12)))
    need_id = ok(platform.post("/needs", need(volunteers=0, rice=0, urgency="normal")), 202)["id"]
    first = platform.wait_need(need_id, lambda n: n["status"] == "linked")["linkage"]["worker"]["worker_id"]
    other = "w-zhao" if first == "w-liu" else "w-liu"

    left = ok(platform.post(f"/workers/{first}/leave", {"reason": "调岗"}), 200)
    assert [r["to"] for r in left["reassigned"]] == [other] and left["queued"] == []
    platform.wait_need(need_id, lambda n: n["linkage"]["worker"]["worker_id"] == other)
    assert platform.post(f"/workers/{first}/leave", {}).status_code == 409

    left = ok(platform.post(f"/workers/{other}/leave", {}), 200)
    assert left["reassigned"] == [] and len(left["queued"]) == 1
    view = platform.wait_need(need_id, lambda n: n["status"] == "escalated")
    assert view["linkage"]["worker"]["state"] == "unavailable"

    ok(platform.post("/workers", {"id": "w-new", "name": "新社工", "station_id": "station-taida",
                                  "certification": "senior"}), 201)  # room again: the queue drains
    view = platform.wait_need(need_id, lambda n: n["status"] == "linked")
    assert view["linkage"]["worker"]["worker_id"] == "w-new"
    assert ok(platform.get(f"/cases/{view['linkage']['worker']['case_id']}"), 200)["worker_id"] == "w-new"

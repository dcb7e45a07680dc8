"""Volunteers through the API: the waiting list and withdrawals under real concurrency, service
windows (no double booking), teams first, check-in/check-out and no-shows."""
import random
from datetime import datetime, timedelta, timezone

import eventlet
import pytest
from nameko.testing.services import entrypoint_hook

from services.volunteers import domain
from services.volunteers.service import VolunteersService
from tests.e2e.world import XINGHUA, need, ok, seed
from wushe.runtime.store import database

pytestmark = pytest.mark.e2e


def at(hours):
    return (datetime.now(timezone.utc) + timedelta(hours=hours)).isoformat()


def open_call(platform, **wanted):
    body = need(volunteers=wanted.pop("count", 1), rice=0, worker=False, organisation=False)
    body["requirements"]["volunteers"].update(wanted)
    need_id = ok(platform.post("/needs", body), 202)["id"]
    view = platform.wait_need(need_id, lambda n: n["linkage"]["volunteers"].get("call_id"))
    return need_id, view["linkage"]["volunteers"]["call_id"]


def settle_calls(container_factory, config):
    checker = container_factory(VolunteersService, config)
    checker.start()
    with entrypoint_hook(checker, "settle_calls") as settle:
        settle()


def test_fifty_volunteers_claiming_withdrawing_and_reclaiming_at_random_leave_exactly_three_claims(platform):
    seed(platform, couriers=50)
    need_id, call_id = open_call(platform, count=3)
    done = []  # (call version, operation, volunteer) of every request that changed the call

    def volunteer(number):
        rng, me = random.Random(number), f"vol-{number}"
        for _ in range(4):
            eventlet.sleep(rng.random() * 0.05)
            if rng.random() < 0.65:
                answer = platform.post(f"/calls/{call_id}/claims", {"volunteer_id": me, "wait": True})
                if answer.status_code == 201:
                    done.append((answer.json()["call_version"], "claim", me))
                else:
                    assert answer.status_code == 409, answer.text
            else:
                answer = platform.delete(f"/calls/{call_id}/claims/{me}")
                if answer.status_code == 200:
                    done.append((answer.json()["call"]["version"], "withdraw", me))
                else:
                    assert answer.status_code in (404, 409), answer.text

    pool = eventlet.GreenPool(50)
    for number in range(50):
        pool.spawn(volunteer, number)
    pool.waitall()

    call = ok(platform.get(f"/calls/{call_id}"), 200)
    assert len(call["claimed"]) == 3 and len(set(call["claimed"])) == 3
    assert not set(call["claimed"]) & set(call["waiting"])
    # every change was one version step: replaying them in version order through the rules gives
    # the same claims and the same waiting list (so the list is in arrival order, promotions first)
    assert sorted(v for v, _, _ in done) == list(range(1, len(done) + 1))
    replay = {"_id": call_id, "need_id": need_id, "community": XINGHUA, "state": "open", "slots": 3,
              "claimed": [], "waiting": [], "skills": [], "version": 0, "attendance": []}
    for _, operation, me in sorted(done):
        change = domain.claim(replay, {"_id": me}, "", wait=True, waiting_max=50) if operation == "claim" \
            else domain.withdraw(replay, me, "")
        replay = {**replay, **change.fields, "version": replay["version"] + 1}
    assert (call["claimed"], call["waiting"]) == (replay["claimed"], replay["waiting"])
    assert len(call["waiting"]) <= 10  # the rule's limit
    # the need's view keeps the claims of the latest version, whatever order the events came in
    view = platform.wait_need(need_id, lambda n: n["linkage"]["volunteers"]["claimed"] == call["claimed"]
                              and n["status"] != "linking")  # and the community's word
    assert view["linkage"]["volunteers"]["state"] == "filled" and view["status"] == "linked"
    stats = ok(platform.get("/stats?region=tianjin"), 200)
    assert stats["waiting_list"] == {"calls": 1 if call["waiting"] else 0, "volunteers": len(call["waiting"])}


def test_a_withdrawal_opens_a_linked_need_again_and_the_first_volunteer_waiting_fills_it(platform):
    seed(platform, couriers=4)
    need_id, call_id = open_call(platform, count=2)
    for me in ("vol-0", "vol-1"):
        ok(platform.post(f"/calls/{call_id}/claims", {"volunteer_id": me}), 201)
    full = platform.post(f"/calls/{call_id}/claims", {"volunteer_id": "vol-2"})
    assert full.status_code == 409 and "wait" in full.json()["detail"]
    assert ok(platform.post(f"/calls/{call_id}/claims", {"volunteer_id": "vol-2", "wait": True}), 201)[
        "status"] == "waiting"
    platform.wait_need(need_id, lambda n: n["status"] == "linked")

    answer = ok(platform.delete(f"/calls/{call_id}/claims/vol-0"), 200)
    assert (answer["promoted"], answer["call"]["claimed"], answer["call"]["waiting"]) == \
        ("vol-2", ["vol-1", "vol-2"], [])
    view = platform.wait_need(need_id, lambda n: n["linkage"]["volunteers"]["claimed"] == ["vol-1", "vol-2"]
                              and {"claim_withdrawn", "waitlist_promoted", "waitlist_joined"}
                              <= {e["type"] for e in n["timeline"]} and n["status"] != "linking")
    assert view["status"] == "linked"

    ok(platform.delete(f"/calls/{call_id}/claims/vol-1"), 200)  # nobody waiting: open again
    view = platform.wait_need(need_id, lambda n: n["status"] == "linking")
    assert view["linkage"]["volunteers"]["state"] == "open"
    assert platform.delete(f"/calls/{call_id}/claims/vol-1").status_code == 404
    ok(platform.post(f"/calls/{call_id}/claims", {"volunteer_id": "vol-3"}), 201)
    platform.wait_need(need_id, lambda n: n["status"] == "linked")


def test_a_volunteer_cannot_hold_two_claims_whose_windows_overlap(platform):
    seed(platform, couriers=1)
    morning = [open_call(platform, starts_at=at(20 + i * 0.5), ends_at=at(22 + i * 0.5))[1] for i in range(4)]
    evening = open_call(platform, starts_at=at(30), ends_at=at(32))[1]
    # the same volunteer claims four overlapping calls at once: exactly one succeeds
    answers = list(eventlet.GreenPool(4).imap(
        lambda call_id: platform.post(f"/calls/{call_id}/claims", {"volunteer_id": "vol-0"}), morning))
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409]
    held = morning[[a.status_code for a in answers].index(201)]
    assert all(held in a.json()["detail"] for a in answers if a.status_code == 409)
    ok(platform.post(f"/calls/{evening}/claims", {"volunteer_id": "vol-0"}), 201)  # no overlap
    assert sorted(b["call_id"] for b in ok(platform.get("/volunteers/vol-0"), 200)["bookings"]) == sorted([held, evening])
    # withdrawing frees the window
    ok(platform.delete(f"/calls/{held}/claims/vol-0"), 200)
    other = next(c for c in morning if c != held)
    ok(platform.post(f"/calls/{other}/claims", {"volunteer_id": "vol-0"}), 201)


def test_check_in_and_out_credit_the_attended_time_once(platform):
    seed(platform, couriers=2)
    _, call_id = open_call(platform, count=2)
    ok(platform.post(f"/calls/{call_id}/claims", {"volunteer_id": "vol-0"}), 201)
    assert platform.post(f"/calls/{call_id}/checkin", {"volunteer_id": "vol-1"}).status_code == 409  # no claim
    assert platform.post(f"/calls/{call_id}/checkout", {"volunteer_id": "vol-0"}).status_code == 409  # not in
    ok(platform.post(f"/calls/{call_id}/checkin", {"volunteer_id": "vol-0"}), 201)
    assert platform.post(f"/calls/{call_id}/checkin", {"volunteer_id": "vol-0"}).status_code == 409
    assert platform.delete(f"/calls/{call_id}/claims/vol-0").status_code == 409  # checked in: check out instead
    out = ok(platform.post(f"/calls/{call_id}/checkout", {"volunteer_id": "vol-0"}), 200)
    assert (out["hours"], out["hours_balance"]) == (0.25, 0.25)  # at least a quarter hour
    again = ok(platform.post(f"/calls/{call_id}/checkout", {"volunteer_id": "vol-0"}), 200)
    assert (again["hours"], again["hours_balance"], again["checked_out_at"]) == (0.25, 0.25, out["checked_out_at"])
    assert platform.post(f"/calls/{call_id}/completions", {"volunteer_id": "vol-0", "hours": 3}).status_code == 409
    ledger = ok(platform.get("/volunteers/vol-0/ledger"), 200)
    assert [(e["kind"], e["hours"], e["call_id"]) for e in ledger["items"]] == [("credit", 0.25, call_id)]
    call = ok(platform.get(f"/calls/{call_id}"), 200)
    assert call["attendance"][0]["hours"] == 0.25


def test_claimants_who_do_not_come_are_recorded_as_no_shows(platform, config, container_factory):
    seed(platform, couriers=2)
    _, call_id = open_call(platform, count=2, starts_at=at(3), ends_at=at(5))
    for me in ("vol-0", "vol-1"):
        ok(platform.post(f"/calls/{call_id}/claims", {"volunteer_id": me}), 201)
    ok(platform.post(f"/calls/{call_id}/checkin", {"volunteer_id": "vol-1"}), 201)
    # the service began an hour ago (set back in the store) and the periodic check runs
    started = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    database(config["WUSHE"], "volunteers").calls.update_one({"_id": call_id}, {"$set": {"starts_at": started}})
    assert platform.delete(f"/calls/{call_id}/claims/vol-0").status_code == 409  # too late to withdraw
    settle_calls(container_factory, config)
    settle_calls(container_factory, config)  # a second run records nothing twice
    assert ok(platform.get(f"/calls/{call_id}"), 200)["no_shows"] == ["vol-0"]
    assert ok(platform.get("/stats?region=tianjin"), 200)["volunteer_no_shows"] == 1


def test_a_call_offered_to_a_team_is_theirs_first(platform):
    seed(platform, couriers=3)
    ok(platform.post("/teams", {"id": "team-zhukun", "name": "助困陪诊", "community": XINGHUA,
                                "skills": ["errands"]}), 201)
    for me in ("vol-0", "vol-1"):
        team = ok(platform.post("/teams/team-zhukun/members", {"volunteer_id": me}), 200)
    assert team["members"] == ["vol-0", "vol-1"]
    assert platform.post("/teams/team-zhukun/members", {"volunteer_id": "nobody"}).status_code == 422
    assert platform.get("/teams/team-nobody").status_code == 404

    _, call_id = open_call(platform, count=2, team_id="team-zhukun")
    assert [c["id"] for c in ok(platform.get("/calls?team=team-zhukun"), 200)["items"]] == [call_id]
    refused = platform.post(f"/calls/{call_id}/claims", {"volunteer_id": "vol-2"})
    assert refused.status_code == 409 and "team-zhukun" in refused.json()["detail"]
    ok(platform.post(f"/calls/{call_id}/claims", {"volunteer_id": "vol-0"}), 201)
    assert ok(platform.get("/volunteers/vol-0"), 200)["teams"] == ["team-zhukun"]

    # a coordinator offers an existing call to the team for an hour
    _, later_call = open_call(platform, count=1)
    offered = ok(platform.post(f"/calls/{later_call}/offer", {"team_id": "team-zhukun", "hours": 1}), 200)
    assert offered["team_id"] == "team-zhukun"
    assert platform.post(f"/calls/{later_call}/claims", {"volunteer_id": "vol-2"}).status_code == 409
    assert platform.post(f"/calls/{later_call}/offer", {"team_id": "team-nobody"}).status_code == 422

"""A need through all five parties and back, with every service running on real RabbitMQ."""
import eventlet
import pytest

from tests.conftest import wait_for
from tests.e2e.world import HUAYUAN, XINGHUA, need, ok, seed

pytestmark = pytest.mark.e2e


def test_a_need_goes_registered_linking_linked_once_two_volunteers_claim(platform):
    lot_id = seed(platform)
    accepted = ok(platform.post("/needs", need()), 202)
    assert accepted["status"] == "registered"
    need_id = accepted["id"]

    view = platform.wait_need(need_id, lambda n: n["linkage"]["volunteers"]["state"] == "open"
                              and n["linkage"]["worker"]["state"] == "assigned"
                              and n["linkage"]["resources"]["state"] == "pledged")
    assert view["status"] == "linking"  # the call is open, not filled
    call_id = view["linkage"]["volunteers"]["call_id"]
    for volunteer in ("vol-0", "vol-1"):
        ok(platform.post(f"/calls/{call_id}/claims", {"volunteer_id": volunteer}), 201)

    # the view derives `linked` as soon as the call fills; community's need_linked follows
    view = platform.wait_need(need_id, lambda n: n["status"] == "linked"
                              and n["timeline"][-1]["type"] == "need_linked")
    linkage = view["linkage"]
    assert linkage["worker"]["worker_id"] in ("worker-liu", "worker-zhao")
    assert linkage["worker"]["case_id"]
    assert linkage["volunteers"] == {"state": "filled", "call_id": call_id, "slots": 2,
                                     "claimed": ["vol-0", "vol-1"], "expires_at": linkage["volunteers"]["expires_at"]}
    assert [(p["lot_id"], p["item"], p["quantity"], p["unit"]) for p in linkage["resources"]["pledges"]] == \
        [(lot_id, "rice", 5.0, "kg")]
    assert linkage["organisation"]["state"] == "none"  # no organisation serves errands here
    assert view["linked_at"] >= view["registered_at"]
    types = [entry["type"] for entry in view["timeline"]]
    assert types[0] == "need_registered" and types[-1] == "need_linked"
    assert {"worker_assigned", "call_opened", "call_filled", "resource_pledged", "org_unmatched"} <= set(types)
    assert types.count("call_claimed") == 2


def test_a_high_need_goes_to_the_certified_worker(platform):
    seed(platform)
    need_id = ok(platform.post("/needs", need(urgency="critical", volunteers=0, rice=0)), 202)["id"]
    view = platform.wait_need(need_id, lambda n: n["status"] == "linked")
    assert view["linkage"]["worker"]["worker_id"] == "worker-liu"  # intermediate-certified


def test_thirty_concurrent_claims_on_three_slots_give_exactly_three(platform):
    seed(platform, couriers=30)
    need_id = ok(platform.post("/needs", need(volunteers=3, rice=0)), 202)["id"]
    call_id = platform.wait_need(need_id, lambda n: n["linkage"]["volunteers"].get("call_id"))[
        "linkage"]["volunteers"]["call_id"]

    pool = eventlet.GreenPool(30)
    statuses = list(pool.imap(lambda i: platform.post(f"/calls/{call_id}/claims", {"volunteer_id": f"vol-{i}"}).status_code,
                              range(30)))
    assert sorted(statuses).count(201) == 3
    assert sorted(statuses).count(409) == 27
    call = ok(platform.get(f"/calls/{call_id}"), 200)
    assert call["state"] == "filled" and len(call["claimed"]) == 3
    platform.wait_need(need_id, lambda n: n["status"] == "linked")


def test_thirty_concurrent_needs_share_a_hundred_kilos_exactly(platform):
    lot_id = seed(platform, rice_kg=100)
    pool = eventlet.GreenPool(30)
    ids = list(pool.imap(lambda i: ok(platform.post("/needs", need(volunteers=0, worker=False, rice=5,
                                                                     organisation=False)), 202)["id"],
                         range(30)))
    # settled: the part folded, and the community's word on the need (linked or escalated) projected
    views = [platform.wait_need(i, lambda n: n["linkage"]["resources"]["state"] in ("pledged", "shortfall")
                                and n["status"] not in ("registered", "linking")) for i in ids]
    states = [v["linkage"]["resources"]["state"] for v in views]
    assert states.count("pledged") == 20
    assert states.count("shortfall") == 10
    assert all(v["linkage"]["resources"]["shortfall"] == [{"item": "rice", "quantity": 5.0, "unit": "kg"}]
               for v in views if v["linkage"]["resources"]["state"] == "shortfall")
    assert {v["status"] for v in views} == {"linked", "escalated"}
    lot = next(l for l in ok(platform.get("/lots?item=rice"), 200)["items"] if l["id"] == lot_id)
    assert (lot["quantity"], lot["reserved"], lot["delivered"], lot["available"]) == (100, 100, 0, 0)


def test_cancelling_a_linked_need_closes_the_case_cancels_the_call_releases_the_pledge(platform):
    lot_id = seed(platform)
    need_id = ok(platform.post("/needs", need(volunteers=1)), 202)["id"]
    view = platform.wait_need(need_id, lambda n: n["linkage"]["volunteers"].get("call_id"))
    call_id = view["linkage"]["volunteers"]["call_id"]
    ok(platform.post(f"/calls/{call_id}/claims", {"volunteer_id": "vol-0"}), 201)
    view = platform.wait_need(need_id, lambda n: n["status"] == "linked")
    worker_id = view["linkage"]["worker"]["worker_id"]
    assert ok(platform.get(f"/workers/{worker_id}"), 200)["caseload"] == 1

    assert ok(platform.post(f"/needs/{need_id}/cancel", {"reason": "居民已由家属照顾"}), 200)["status"] == "cancelled"

    view = platform.wait_need(need_id, lambda n: n["linkage"]["volunteers"]["state"] == "cancelled"
                              and n["linkage"]["resources"]["state"] == "released")
    assert view["status"] == "cancelled"
    assert ok(platform.get(f"/calls/{call_id}"), 200)["state"] == "cancelled"
    wait_for(lambda: ok(platform.get(f"/workers/{worker_id}"), 200)["caseload"] == 0)
    assert platform.tap.of_type("case_closed", need_id)
    lot = next(l for l in ok(platform.get("/lots?item=rice"), 200)["items"] if l["id"] == lot_id)
    assert (lot["reserved"], lot["available"]) == (0, 100)
    # and a cancelled need cannot be cancelled or resolved again
    assert platform.post(f"/needs/{need_id}/cancel", {"reason": "again"}).status_code == 409
    assert platform.post(f"/needs/{need_id}/resolve", {"note": "done"}).status_code == 409


def test_the_third_unmatched_home_repair_need_starts_an_incubation(platform):
    seed(platform)
    ok(platform.post("/organisations", {"name": "文艺指导队", "community": HUAYUAN, "categories": ["education"]}), 201)
    ids = []
    for _ in range(3):
        ids.append(ok(platform.post("/needs", need(community=HUAYUAN, category="home_repair", volunteers=0,
                                                   rice=0, worker=False)), 202)["id"])
        platform.wait_need(ids[-1], lambda n: n["linkage"]["organisation"]["state"] != "pending")
    incubating = wait_for(lambda: ok(platform.get(f"/organisations?community={HUAYUAN}&stage=incubating"), 200)["items"])
    assert len(incubating) == 1
    org = incubating[0]
    assert org["categories"] == ["home_repair"] and org["stage"] == "incubating"
    assert sorted(org["incubation"]["need_ids"]) == sorted(ids)
    for need_id in ids:
        view = platform.wait_need(need_id, lambda n: n["linkage"]["organisation"]["state"] == "incubating")
        assert view["linkage"]["organisation"]["organisation_id"] == org["id"]
    # a fourth need joins the incubation instead of starting another
    fourth = ok(platform.post("/needs", need(community=HUAYUAN, category="home_repair", volunteers=0, rice=0,
                                             worker=False)), 202)["id"]
    view = platform.wait_need(fourth, lambda n: n["linkage"]["organisation"]["state"] == "incubating")
    assert view["linkage"]["organisation"]["organisation_id"] == org["id"]
    assert len(ok(platform.get(f"/organisations?community={HUAYUAN}&stage=incubating"), 200)["items"]) == 1


def test_an_active_organisation_of_the_community_is_matched(platform):
    seed(platform)
    org = ok(platform.post("/organisations", {"name": "便民维修队", "community": XINGHUA,
                                              "categories": ["home_repair"]}), 201)
    need_id = ok(platform.post("/needs", need(category="home_repair", volunteers=0, rice=0)), 202)["id"]
    view = platform.wait_need(need_id, lambda n: n["linkage"]["organisation"]["state"] == "matched")
    assert view["linkage"]["organisation"]["organisation_id"] == org["id"]


def test_no_worker_with_room_escalates_to_the_district_queue_which_drains(platform):
    seed(platform, workers=(("worker-solo", "assistant", 1),))
    first = ok(platform.post("/needs", need(volunteers=0, rice=0)), 202)["id"]
    platform.wait_need(first, lambda n: n["status"] == "linked")
    second = ok(platform.post("/needs", need(volunteers=0, rice=0)), 202)["id"]
    view = platform.wait_need(second, lambda n: n["status"] == "escalated")
    assert view["linkage"]["worker"]["state"] == "unavailable"
    escalated = wait_for(lambda: platform.tap.of_type("need_escalated", second))
    assert escalated and escalated[0]["data"]["missing"] == ["worker"]
    assert escalated[0]["data"]["escalated_to"] == "tianjin/binhai"
    # the escalated need waits on the district queue; resolving the first frees the worker, and
    # the queue hands them the waiting need, which then links
    ok(platform.post(f"/needs/{first}/resolve", {"note": "已完成"}), 200)
    ok(platform.post(f"/needs/{first}/evaluate", {"score": 5, "outcome": "satisfied"}), 200)
    view = platform.wait_need(second, lambda n: n["status"] == "linked")
    assert view["linkage"]["worker"]["worker_id"] == "worker-solo"
    assert ok(platform.get("/workers/worker-solo"), 200)["caseload"] == 1
    assert platform.post(f"/needs/{second}/evaluate", {"score": 4, "outcome": "ok"}).status_code == 409


def test_without_a_fault_every_event_is_published_exactly_once(platform):
    """At-least-once allows repeats after a fault; a quiet flow has none — one flusher per
    document's outbox at a time, however many handlers and the relay flush it."""
    seed(platform, couriers=4)
    ids = [ok(platform.post("/needs", need(volunteers=2, rice=1)), 202)["id"] for _ in range(4)]
    for need_id in ids:
        call_id = platform.wait_need(need_id, lambda n: n["linkage"]["volunteers"].get("call_id"))[
            "linkage"]["volunteers"]["call_id"]
        pool = eventlet.GreenPool(2)  # both slots at once: two handlers change the call together
        list(pool.imap(lambda v: ok(platform.post(f"/calls/{call_id}/claims", {"volunteer_id": v}), 201),
                       ("vol-0", "vol-1")))
    for need_id in ids:
        platform.wait_need(need_id, lambda n: n["status"] == "linked" and n["timeline"][-1]["type"] == "need_linked")
    eventlet.sleep(2)  # well past the relay's grace (0.5 s here): a republish would have happened

    published = {}
    for event in platform.tap.events:
        published[event["id"]] = published.get(event["id"], 0) + 1
    repeated = {event_id: n for event_id, n in published.items() if n > 1}
    assert len(published) >= 4 * 8 and not repeated, repeated

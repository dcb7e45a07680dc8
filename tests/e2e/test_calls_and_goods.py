"""Calls that expire and are reopened; goods past their best-before date."""
from datetime import date, datetime, timedelta, timezone

import pytest

from tests.e2e.world import STREET, need, ok, seed
from wushe.runtime.store import database

pytestmark = pytest.mark.e2e


def test_an_expired_call_escalates_the_need_and_reopening_it_lets_the_need_link(platform, config, container_factory):
    seed(platform)
    need_id = ok(platform.post("/needs", need(volunteers=1, rice=0, worker=False)), 202)["id"]
    call_id = platform.wait_need(need_id, lambda n: n["linkage"]["volunteers"].get("call_id"))[
        "linkage"]["volunteers"]["call_id"]
    # its deadline passes (set back in the store) and the periodic check runs
    database(config["WUSHE"], "volunteers").calls.update_one(
        {"_id": call_id}, {"$set": {"expires_at": "2020-01-01T00:00:00.000000Z"}})
    from nameko.testing.services import entrypoint_hook
    from services.volunteers.service import VolunteersService
    checker = container_factory(VolunteersService, config)
    checker.start()
    with entrypoint_hook(checker, "settle_calls") as settle:
        settle()
    view = platform.wait_need(need_id, lambda n: n["status"] == "escalated")
    assert view["linkage"]["volunteers"]["state"] == "expired"
    assert platform.post(f"/calls/{call_id}/claims", {"volunteer_id": "vol-0"}).status_code == 409

    later = (datetime.now(timezone.utc) + timedelta(hours=6)).isoformat()
    assert platform.post(f"/calls/{call_id}/reopen", {"expires_at": "2020-01-01T00:00:00Z"}).status_code == 422
    reopened = ok(platform.post(f"/calls/{call_id}/reopen", {"expires_at": later}), 200)
    assert reopened["state"] == "open" and reopened["expires_at"] > view["registered_at"]
    assert platform.post(f"/calls/{call_id}/reopen", {"expires_at": later}).status_code == 409
    ok(platform.post(f"/calls/{call_id}/claims", {"volunteer_id": "vol-0"}), 201)
    assert platform.wait_need(need_id, lambda n: n["status"] == "linked")["linkage"]["volunteers"]["state"] == "filled"


def test_goods_past_their_best_before_date_are_not_pledged(platform):
    seed(platform)
    yesterday, next_month = date.today() - timedelta(days=1), date.today() + timedelta(days=30)
    lots = ok(platform.post("/donations", {"donor_id": "donor-grain", "region": STREET, "lines": [
        {"item": "milk", "quantity": 10, "unit": "box", "best_before": yesterday.isoformat()},
        {"item": "milk", "quantity": 10, "unit": "box", "best_before": next_month.isoformat()}]}), 201)["lots"]
    stale, fresh = lots[0]["id"], lots[1]["id"]
    body = need(volunteers=0, rice=0, worker=False)
    body["requirements"]["resources"] = [{"item": "milk", "quantity": 4, "unit": "box"}]
    need_id = ok(platform.post("/needs", body), 202)["id"]
    view = platform.wait_need(need_id, lambda n: n["linkage"]["resources"]["state"] == "pledged")
    assert [p["lot_id"] for p in view["linkage"]["resources"]["pledges"]] == [fresh]
    assert next(l for l in ok(platform.get("/lots?item=milk"), 200)["items"] if l["id"] == stale)["reserved"] == 0


def lot_of(platform, lot_id):
    return next(l for l in ok(platform.get("/lots?item=rice"), 200)["items"] if l["id"] == lot_id)


def test_a_pledge_is_delivered_in_parts_and_the_lot_follows(platform):
    lot_id = seed(platform)
    need_id = ok(platform.post("/needs", need(volunteers=0, rice=5, worker=False)), 202)["id"]
    pledge_id = platform.wait_need(need_id, lambda n: n["status"] == "linked")[
        "linkage"]["resources"]["pledges"][0]["pledge_id"]
    first = ok(platform.post(f"/pledges/{pledge_id}/delivery", {"quantity": 2}), 200)
    assert (first["state"], first["delivered"], first["remaining"]) == ("reserved", 2, 3)
    lot = lot_of(platform, lot_id)
    assert (lot["reserved"], lot["delivered"], lot["available"]) == (3, 2, 95)
    too_much = platform.post(f"/pledges/{pledge_id}/delivery", {"quantity": 4})
    assert too_much.status_code == 422 and "quantity" in too_much.json()["errors"]
    assert platform.need(need_id)["linkage"]["resources"]["state"] == "pledged"  # not all delivered yet
    rest = ok(platform.post(f"/pledges/{pledge_id}/delivery"), 200)  # no quantity: all that is left
    assert (rest["state"], rest["remaining"]) == ("delivered", 0)
    assert platform.post(f"/pledges/{pledge_id}/delivery").status_code == 409
    platform.wait_need(need_id, lambda n: n["linkage"]["resources"]["state"] == "delivered")
    assert len(platform.tap.of_type("pledge_delivered", need_id)) == 2
    lot = lot_of(platform, lot_id)
    assert (lot["reserved"], lot["delivered"], lot["available"]) == (0, 5, 95)


def test_cancelling_after_a_partial_delivery_gives_back_only_what_is_left(platform):
    lot_id = seed(platform)
    need_id = ok(platform.post("/needs", need(volunteers=0, rice=5, worker=False)), 202)["id"]
    pledge_id = platform.wait_need(need_id, lambda n: n["status"] == "linked")[
        "linkage"]["resources"]["pledges"][0]["pledge_id"]
    ok(platform.post(f"/pledges/{pledge_id}/delivery", {"quantity": 1.5}), 200)
    ok(platform.post(f"/needs/{need_id}/cancel", {"reason": "家属已送来"}), 200)
    platform.wait_need(need_id, lambda n: n["linkage"]["resources"]["state"] == "released")
    lot = lot_of(platform, lot_id)
    assert (lot["reserved"], lot["delivered"], lot["available"]) == (0, 1.5, 98.5)

"""Calls that expire and are reopened; goods past their best-before date."""
from datetime import date, datetime, timedelta, timezone

import pytest

from tests.e2e.world import STREET, need, ok, seed
from wushe.store import database

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

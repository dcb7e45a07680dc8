"""The time bank (时间银行): a double-entry ledger whose balances never go below zero."""
import eventlet
import pytest

from tests.e2e.world import need, ok, seed
from wushe.runtime.store import database

pytestmark = pytest.mark.e2e


def earn(platform, volunteer, hours):
    need_id = ok(platform.post("/needs", need(volunteers=1, rice=0, worker=False)), 202)["id"]
    call_id = platform.wait_need(need_id, lambda n: n["linkage"]["volunteers"].get("call_id"))[
        "linkage"]["volunteers"]["call_id"]
    ok(platform.post(f"/calls/{call_id}/claims", {"volunteer_id": volunteer}), 201)
    ok(platform.post(f"/calls/{call_id}/completions", {"volunteer_id": volunteer, "hours": hours}), 201)
    return call_id


def ledger_sums(config):
    """(every transaction's legs sum to zero, each volunteer's balance equals its legs)"""
    db = database(config["WUSHE"], "volunteers")
    transactions = list(db.ledger.find())
    balanced = all(abs(sum(leg["hours"] for leg in t["legs"])) < 1e-9 for t in transactions)
    legs = {}
    for t in transactions:
        for leg in t["legs"]:
            legs[leg["account"]] = legs.get(leg["account"], 0) + leg["hours"]
    agree = all(abs(v["hours_balance"] - legs.get(v["_id"], 0)) < 1e-9 for v in db.volunteers.find())
    return balanced, agree


def test_credits_redemptions_and_transfers_are_balanced_entries(platform, config):
    seed(platform)
    call_id = earn(platform, "vol-0", 4)
    redeemed = ok(platform.post("/volunteers/vol-0/redemptions",
                                {"hours": 1.5, "service": "陪诊", "beneficiary": "family"}), 201)
    assert redeemed["hours_balance"] == 2.5
    ok(platform.post("/volunteers/vol-0/transfers", {"to_volunteer_id": "vol-1", "hours": 1}), 201)
    assert ok(platform.get("/volunteers/vol-1"), 200)["hours_balance"] == 1

    entries = ok(platform.get("/volunteers/vol-0/ledger"), 200)
    assert entries["hours_balance"] == 1.5
    assert [(e["kind"], e["hours"]) for e in entries["items"]] == [("transfer", -1), ("redemption", -1.5),
                                                                    ("credit", 4)]
    assert entries["items"][2]["call_id"] == call_id and entries["items"][2]["counterparty"] == "timebank:issued"
    assert entries["items"][0]["counterparty"] == "vol-1"
    assert ok(platform.get("/volunteers/vol-1/ledger"), 200)["items"][0]["counterparty"] == "vol-0"

    short = platform.post("/volunteers/vol-0/redemptions", {"hours": 2, "service": "理发"})
    assert short.status_code == 409 and "does not cover" in short.json()["detail"]
    assert platform.post("/volunteers/vol-0/transfers", {"to_volunteer_id": "vol-0", "hours": 1}).status_code == 422
    assert platform.post("/volunteers/vol-0/transfers", {"to_volunteer_id": "nobody", "hours": 1}).status_code == 422
    assert ledger_sums(config) == (True, True)
    assert ok(platform.get("/stats", params={"region": "tianjin"}), 200)["volunteer_hours"] == 4


def test_a_hundred_concurrent_redemptions_never_take_a_balance_below_zero(platform, config):
    seed(platform)
    earn(platform, "vol-0", 10)
    pool = eventlet.GreenPool(100)
    statuses = list(pool.imap(lambda i: platform.post("/volunteers/vol-0/redemptions",
                                                      {"hours": 1, "service": f"代购{i}"}).status_code, range(100)))
    assert statuses.count(201) == 10 and statuses.count(409) == 90
    assert ok(platform.get("/volunteers/vol-0"), 200)["hours_balance"] == 0
    assert ledger_sums(config) == (True, True)


def test_a_retried_redemption_with_its_idempotency_key_is_made_once(platform, config):
    seed(platform)
    earn(platform, "vol-0", 3)
    body = {"hours": 1, "service": "助浴"}
    first = platform.post("/volunteers/vol-0/redemptions", body, headers={"Idempotency-Key": "kiosk-7"})
    again = platform.post("/volunteers/vol-0/redemptions", body, headers={"Idempotency-Key": "kiosk-7"})
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert ok(platform.get("/volunteers/vol-0"), 200)["hours_balance"] == 2

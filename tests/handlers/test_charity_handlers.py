"""services.charity.handlers without a broker: donations made into lots (money in whole fen), needs
pledged from the nearest, oldest lots, shortfalls kept as appeals and topped up by later
donations, pledges given back once, and concurrent workers never reserving beyond a lot."""
import itertools
from datetime import date

import eventlet
import pytest

from services.charity import handlers, schemas
from services.charity.store import CharityStore
from tests.unit.helpers import COMMUNITY, DISTRICT, STREET
from wushe.contract.clock import later
from wushe.contract.decisions import Refused
from wushe.runtime.cas import Contention
from wushe.runtime.errors import loaded
from wushe.contract.events import load, new_event
from wushe.runtime.subscribe import DUPLICATE

T0 = "2026-11-23T08:00:00.000000Z"


class Clock:
    """The handlers' clock: a millisecond later at every reading, so that lots made one after
    the other are older and newer, and no lease runs out in a test."""

    def __init__(self):
        self.ticks = itertools.count()

    def __call__(self):
        return later(T0, milliseconds=next(self.ticks))




@pytest.fixture
def charity(db, outbox, log):
    store = CharityStore(db)
    store.ensure_indexes()
    c = handlers.Charity(store, outbox, log, now=Clock())
    handlers.add_donor(c, loaded(schemas.DonorIn, {"id": "donor-grain", "name": "滨海粮油", "kind": "enterprise",
                                                   "region": DISTRICT}))
    handlers.add_donor(c, loaded(schemas.DonorIn, {"id": "fund-xinghua", "name": "星华社区基金",
                                                   "kind": "community_fund", "region": COMMUNITY}))
    return c


def donate(c, region, *lines, donation_id=None):
    body = {"donor_id": "donor-grain", "region": region, "lines": list(lines)}
    return handlers.donate(c, loaded(schemas.DonationIn, {**body, "id": donation_id} if donation_id else body))


def rice(kg, **more):
    return {"item": "rice", "quantity": kg, "unit": "kg", **more}


def registered(need_id, *lines, urgency="high"):
    return load(new_event("community", "need_registered", {
        "need_id": need_id, "community": COMMUNITY, "street": STREET, "district": DISTRICT, "category": "errands",
        "urgency": urgency, "registered_at": T0,
        "requirements": {"worker": False, "organisation": False, "volunteers": None, "resources": list(lines)}}))


def cancelled(need_id):
    return load(new_event("community", "need_cancelled", {"need_id": need_id, "community": COMMUNITY,
                                                          "reason": "家属已处理"}))


def published(outbox, event_type, need_id=None):
    return [e for e in outbox.published if e["type"] == event_type and (need_id is None or e["subject"] == need_id)]


def received(c, outbox):
    """Handle every donation_received published so far, as the charity's own subscriber would."""
    for envelope in published(outbox, "donation_received"):
        handlers.donation_received(c, load(envelope))


def test_a_donation_makes_its_lots_once_with_money_in_whole_fen_on_the_ledger(charity, outbox):
    donation, lots = donate(charity, STREET, rice(50, value_cents=30000), {"funds_cents": 20000},
                            donation_id="donation-1")
    grain, money = lots
    assert (grain["item"], grain["available"], grain["unit_value_cents"]) == ("rice", 50.0, 600.0)
    assert (money["item"], money["unit"], money["available"]) == ("funds", "cents", 20000.0)
    [entry] = charity.store.fund_ledger.find()
    assert (entry["kind"], entry["legs"]) == ("donation", [{"account": "donor:donor-grain", "cents": -20000},
                                                           {"account": "fund:donor-grain", "cents": 20000}])
    [announced] = published(outbox, "donation_received")
    assert (announced["subject"], announced["correlation_id"]) == ("donation-1", "donation-1")

    again = donate(charity, STREET, rice(50, value_cents=30000), {"funds_cents": 20000}, donation_id="donation-1")
    assert [lot["_id"] for lot in again[1]] == [grain["_id"], money["_id"]]
    assert charity.store.lots.count_documents({}) == 2 and charity.store.fund_ledger.count_documents({}) == 1
    assert len(published(outbox, "donation_received")) == 1
    with pytest.raises(Refused, match="exists with other content") as other:
        donate(charity, STREET, rice(51), donation_id="donation-1")
    assert other.value.kind == Refused.CONFLICT
    with pytest.raises(Refused) as unknown:
        handlers.donate(charity, {"donor_id": "donor-nobody", "region": STREET, "lines": [rice(1)]})
    assert unknown.value.kind == Refused.INVALID and list(unknown.value.fields) == ["donor_id"]


def test_a_contribution_is_a_lot_of_the_fund_and_only_a_community_fund_takes_one(charity, outbox):
    answer = handlers.contribute(charity, "fund-xinghua", loaded(schemas.ContributionIn, {
        "id": "contribution-1", "contributor_kind": "lottery_outlet", "funds_cents": 50000}))
    assert (answer["id"], answer["fund_id"], answer["balance_cents"]) == ("contribution-1", "fund-xinghua", 50000)
    contributed = published(outbox, "fund_contributed")
    assert [(e["subject"], e["correlation_id"]) for e in contributed] == [("fund-xinghua", "contribution-1")]
    ledger = handlers.fund_ledger(charity, "fund-xinghua")
    assert [e["kind"] for e in ledger["items"]] == ["contribution"] and ledger["balance_cents"] == 50000
    with pytest.raises(Refused) as not_a_fund:
        handlers.fund_ledger(charity, "donor-grain")
    assert not_a_fund.value.kind == Refused.INVALID and list(not_a_fund.value.fields) == ["fund_id"]
    with pytest.raises(Refused) as missing:
        handlers.fund_ledger(charity, "fund-nowhere")
    assert missing.value.kind == Refused.MISSING


def test_a_need_is_pledged_from_the_nearest_oldest_lots_and_a_shortfall_is_an_open_appeal(charity, outbox):
    city = donate(charity, "tianjin", rice(100))[1][0]["_id"]
    district = donate(charity, DISTRICT, rice(20))[1][0]["_id"]
    street_old = donate(charity, STREET, rice(10))[1][0]["_id"]
    street_new = donate(charity, COMMUNITY, rice(10))[1][0]["_id"]
    stale = donate(charity, COMMUNITY, rice(50, best_before=date(2026, 11, 22)))[1][0]["_id"]  # past it

    need = registered("need-rice", rice(150), {"item": "masks", "quantity": 500, "unit": "pcs"})
    assert handlers.need_registered(charity, need) is None
    [shortfall] = published(outbox, "resource_shortfall")
    assert [(p["lot_id"], p["quantity"]) for p in shortfall["data"]["pledges"]] == [
        (street_old, 10), (street_new, 10), (district, 20), (city, 100)]
    assert shortfall["data"]["shortfall"] == [{"item": "rice", "quantity": 10, "unit": "kg"},
                                              {"item": "masks", "quantity": 500, "unit": "pcs"}]
    assert handlers.lot(charity, stale)["reserved"] == 0
    [appeal] = handlers.appeals(charity, STREET)["items"]
    assert (appeal["need_id"], appeal["missing"], appeal["pledged"]) == (
        "need-rice", [{"item": "rice", "quantity": 10, "unit": "kg"},
                      {"item": "masks", "quantity": 500, "unit": "pcs"}], 4)

    assert handlers.need_registered(charity, need) == DUPLICATE  # a redelivery reserves nothing twice
    assert sum(handlers.lot(charity, lot_id)["reserved"] for lot_id in (city, district, street_old, street_new)) == 140
    assert len(published(outbox, "resource_shortfall")) == 1


def test_a_cancelled_need_gives_its_pledges_and_money_back_once(charity, outbox):
    handlers.contribute(charity, "fund-xinghua", loaded(schemas.ContributionIn, {
        "contributor_kind": "resident", "funds_cents": 50000}))
    grain = donate(charity, STREET, rice(10))[1][0]["_id"]
    handlers.need_registered(charity, registered("need-a", rice(8), {"funds_cents": 30000}))
    [pledged] = published(outbox, "resource_pledged")
    assert [p["item"] for p in pledged["data"]["pledges"]] == ["rice", "funds"]
    assert handlers.fund_ledger(charity, "fund-xinghua")["balance_cents"] == 20000

    for _ in range(2):
        handlers.need_cancelled(charity, cancelled("need-a"))
    [released] = published(outbox, "pledge_released")
    assert len(released["data"]["pledges"]) == 2
    assert handlers.lot(charity, grain)["available"] == 10 and handlers.lot(charity, grain)["reserved"] == 0
    ledger = handlers.fund_ledger(charity, "fund-xinghua")
    assert ledger["balance_cents"] == 50000
    assert sorted(e["kind"] for e in ledger["items"]) == ["contribution", "pledge", "release"]
    with pytest.raises(Refused, match="released, not reserved"):
        handlers.deliver_pledge(charity, pledged["data"]["pledges"][0]["pledge_id"])


def test_a_money_pledge_is_delivered_in_whole_fen_and_never_beyond_what_is_left(charity, outbox):
    handlers.contribute(charity, "fund-xinghua", loaded(schemas.ContributionIn, {
        "contributor_kind": "resident", "funds_cents": 50000}))
    handlers.need_registered(charity, registered("need-m", {"funds_cents": 30000}))
    [line] = published(outbox, "resource_pledged")[0]["data"]["pledges"]
    for asked, message in ((0.5, "whole fen"), (30001, "more than is left")):
        with pytest.raises(Refused, match=message) as refused:
            handlers.deliver_pledge(charity, line["pledge_id"], asked)
        assert refused.value.kind == Refused.INVALID and list(refused.value.fields) == ["quantity"]
    part = handlers.deliver_pledge(charity, line["pledge_id"], 10000)
    assert (part["state"], part["delivered"], part["remaining"]) == ("reserved", 10000, 20000)
    rest = handlers.deliver_pledge(charity, line["pledge_id"])
    assert (rest["state"], rest["delivered"], rest["remaining"]) == ("delivered", 30000, 0)
    assert [e["data"]["quantity"] for e in published(outbox, "pledge_delivered")] == [10000, 20000]
    paid = [e for e in handlers.fund_ledger(charity, "fund-xinghua")["items"] if e["kind"] == "delivery"]
    assert sorted(e["legs"][1]["cents"] for e in paid) == [10000, 20000]
    assert handlers.pledge(charity, line["pledge_id"])["state"] == "delivered"


def test_later_donations_top_the_appeal_up_and_close_it(charity, outbox):
    flour = {"item": "flour", "quantity": 10, "unit": "kg"}
    handlers.need_registered(charity, registered("need-f", flour))
    assert published(outbox, "resource_shortfall")[0]["data"]["shortfall"] == [
        {"item": "flour", "quantity": 10, "unit": "kg"}]

    donate(charity, STREET, {**flour, "quantity": 4})
    received(charity, outbox)
    assert published(outbox, "resource_shortfall")[1]["data"]["shortfall"] == [
        {"item": "flour", "quantity": 6, "unit": "kg"}]
    outbox.published.clear()
    donate(charity, STREET, {**flour, "quantity": 25})
    received(charity, outbox)
    [pledged] = published(outbox, "resource_pledged")
    assert sorted(p["quantity"] for p in pledged["data"]["pledges"]) == [4, 6]
    assert handlers.appeals(charity)["items"] == []
    allocation = charity.store.allocation("need-f")
    assert allocation["state"] == "pledged" and "pending" not in allocation


@pytest.mark.parametrize("kg", [10, 7])
def test_needs_pledged_at_once_never_reserve_beyond_a_lot(charity, outbox, kg):
    """Thirty needs against one 100 kg lot, pledged by concurrent workers that all read the lot
    before any writes: the lot gives exactly what it has, its counters are its pledges, and
    every need is pledged or short by what it did not get."""
    lot_id = donate(charity, COMMUNITY, rice(100))[1][0]["_id"]
    needs = [f"need-{i:02d}" for i in range(30)]
    pool = eventlet.GreenPool(30)
    list(pool.imap(lambda need_id: handlers.need_registered(charity, registered(need_id, rice(kg))), needs))

    lot = charity.store.lot(lot_id)
    assert lot["reserved"] == 100 and lot["available"] == 0
    assert sum(p["quantity"] for p in lot["pledges"]) == lot["reserved"]
    assert len({p["pledge_id"] for p in lot["pledges"]}) == len(lot["pledges"])
    for need_id in needs:
        allocation = charity.store.allocation(need_id)
        on_lot = sorted(p["pledge_id"] for p in lot["pledges"] if p["need_id"] == need_id)
        assert sorted(p["pledge_id"] for p in allocation["pledges"]) == on_lot
        pledged = sum(p["quantity"] for p in allocation["pledges"])
        assert pledged + sum(m["quantity"] for m in allocation["shortfall"]) == kg
        assert allocation["state"] == ("pledged" if pledged == kg else "shortfall")
    assert len(published(outbox, "resource_pledged")) == 100 // kg


def test_donations_handled_at_once_never_pledge_an_appeal_beyond_its_shortfall(charity, outbox):
    """Six donation_received handled by concurrent workers for one appeal missing 10 kg: one
    worker holds the appeal at a time, the others ask it to look again; exactly 10 kg is pledged."""
    flour = {"item": "flour", "quantity": 3, "unit": "kg"}
    handlers.need_registered(charity, registered("need-t", {**flour, "quantity": 10}))
    for _ in range(6):  # 18 kg for 10 kg missing
        donate(charity, STREET, flour)
    pool = eventlet.GreenPool(6)
    list(pool.imap(lambda e: handlers.donation_received(charity, load(e)), published(outbox, "donation_received")))

    allocation = charity.store.allocation("need-t")
    assert allocation["state"] == "pledged" and allocation["shortfall"] == [] and "pending" not in allocation
    assert sum(p["quantity"] for p in allocation["pledges"]) == 10
    lots = list(charity.store.lots.find({"item": "flour"}))
    assert sum(lot["reserved"] for lot in lots) == 10 and all(0 <= lot["reserved"] <= 3 for lot in lots)
    assert {p["pledge_id"] for lot in lots for p in lot["pledges"]} == {p["pledge_id"] for p in allocation["pledges"]}
    assert len(published(outbox, "resource_pledged", "need-t")) == 1


def test_a_round_that_fails_part_way_lets_the_appeal_go_at_once(charity, outbox, monkeypatch):
    """A top-up round that fails after it reserved part of the shortfall (here a lot changing too
    fast) gives the appeal up at once: the next pass takes it over, adopts what the failed round
    reserved and tops it up, instead of finding it held until the round's lease runs out (a
    minute in which no lot reaches the appeal)."""
    flour = {"item": "flour", "quantity": 10, "unit": "kg"}
    handlers.need_registered(charity, registered("need-f", flour))
    donate(charity, STREET, {**flour, "quantity": 4})
    donate(charity, STREET, {**flour, "quantity": 25})
    reserve, reserved = charity.store.reserve, []

    def second_lot_too_fast(*args, **kwargs):
        if reserved:
            raise Contention("lot is changing too fast; try again")
        reserved.append(args[0])
        return reserve(*args, **kwargs)

    monkeypatch.setattr(charity.store, "reserve", second_lot_too_fast)
    received(charity, outbox)
    assert charity.store.lot(reserved[0])["reserved"] == 4  # the first lot's part, reserved by the failed round
    assert charity.store.allocation("need-f")["state"] == "shortfall"
    monkeypatch.setattr(charity.store, "reserve", reserve)
    handlers.settle(charity)  # the periodic pass, well within the lease

    allocation = charity.store.allocation("need-f")
    assert allocation["state"] == "pledged" and "pending" not in allocation
    assert sum(p["quantity"] for p in allocation["pledges"]) == 10
    lots = list(charity.store.lots.find({"item": "flour"}))
    assert sum(lot["reserved"] for lot in lots) == 10
    assert {p["pledge_id"] for lot in lots for p in lot["pledges"]} == {p["pledge_id"] for p in allocation["pledges"]}

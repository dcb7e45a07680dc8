"""services.charity.domain and .donations: community funds' draw order, donations and their lots,
the fund ledger, appeals and receipts."""
import pytest

from services.charity import domain, donations
from tests.unit.helpers import COMMUNITY, NEED_ID, STREET, T0, T1, T2, T3
from wushe.contract.events import load, stamped

HUAYUAN = "tianjin/binhai/taida/huayuan"


def funds_lot(lot_id, region, created_at, fund_region=None, available=10000.0, item="funds"):
    lot = {"_id": lot_id, "item": item, "unit": "cents" if item == "funds" else "kg", "region": region,
           "created_at": created_at, "available": available}
    if fund_region:
        lot["fund_region"] = fund_region
    return lot


def test_money_comes_from_the_community_fund_then_the_street_fund_then_others_nearest_and_oldest():
    lots = [
        funds_lot("enterprise-city-old", "tianjin", T0),
        funds_lot("enterprise-street-new", STREET, T3),
        funds_lot("foundation-district", "tianjin/binhai", T1),
        funds_lot("enterprise-street-old", f"{STREET}/xinghua", T1),
        funds_lot("street-fund", STREET, T3, fund_region=STREET),
        funds_lot("community-fund-new", COMMUNITY, T2, fund_region=COMMUNITY),
        funds_lot("community-fund-old", COMMUNITY, T3, fund_region=COMMUNITY),
        funds_lot("other-community-fund", HUAYUAN, T0, fund_region=HUAYUAN),
        funds_lot("other-street-fund", "tianjin/binhai/xinhe", T0, fund_region="tianjin/binhai/xinhe"),
        funds_lot("empty-community-fund", COMMUNITY, T0, fund_region=COMMUNITY, available=0),
    ]
    ranked = [lot["_id"] for lot in domain.rank(lots, COMMUNITY)]
    assert ranked == ["community-fund-new", "community-fund-old", "street-fund", "enterprise-street-old",
                      "enterprise-street-new", "foundation-district", "enterprise-city-old"]


def test_goods_keep_the_nearest_then_oldest_order_whoever_gave_them():
    lots = [funds_lot("rice-city", "tianjin", T0, item="rice"),
            funds_lot("rice-street", STREET, T2, item="rice"),
            # a fund's goods are goods: the fund order is for money only
            funds_lot("rice-of-a-fund", "tianjin/binhai", T0, fund_region=HUAYUAN, item="rice")]
    assert [l["_id"] for l in domain.rank(lots, COMMUNITY)] == ["rice-street", "rice-of-a-fund", "rice-city"]


@pytest.mark.parametrize("fund_region, tier", [(COMMUNITY, 0), (STREET, 1), (HUAYUAN, None), ("tianjin/binhai", None)])
def test_a_community_fund_serves_only_its_own_community_or_street(fund_region, tier):
    assert domain.draw_tier(funds_lot("f", fund_region, T0, fund_region=fund_region), COMMUNITY) == tier


FUND = {"_id": "fund-xinghua", "kind": "community_fund", "region": COMMUNITY}
ENTERPRISE = {"_id": "donor-grain", "kind": "enterprise", "region": "tianjin/binhai"}


def contribution(donor_id=None, cents=50000, contribution_id="contribution-1"):
    return donations.donation(contribution_id, FUND, COMMUNITY, [{"funds_cents": cents}], T0,
                              contribution={"contributor_kind": "lottery_outlet", "donor_id": donor_id,
                                            "funds_cents": cents})


def test_a_donation_record_stands_for_its_lots_with_deterministic_ids():
    gift = donations.donation("donation-1", ENTERPRISE, STREET, [
        {"item": "rice", "quantity": 50, "unit": "kg", "value_cents": 30000}, {"funds_cents": 20000}], T0)
    lots = donations.lots_of(gift)
    assert [l["_id"] for l in lots] == gift["lot_ids"] == [donations.lot_id("donation-1", i) for i in (0, 1)]
    assert [l["_id"] for l in donations.lots_of(gift)] == gift["lot_ids"]  # made again, the same
    rice, money = lots
    assert (rice["item"], rice["available"], rice["unit_value_cents"], rice["ledger"]) == ("rice", 50.0, 600.0, [])
    assert (money["item"], money["unit"], money["available"]) == ("funds", "cents", 20000.0)
    assert "fund_region" not in money  # an enterprise's money is not a community fund's
    assert gift["giver"] == "donor-grain"
    [entry] = money["ledger"]
    assert entry["kind"] == "donation" and entry["legs"] == [
        {"account": "donor:donor-grain", "cents": -20000}, {"account": "fund:donor-grain", "cents": 20000}]


def test_a_contribution_is_a_lot_of_the_fund_and_names_the_payer_by_kind_or_donor():
    anonymous = contribution()
    [lot] = donations.lots_of(anonymous)
    assert (lot["donor_id"], lot["fund_region"], lot["quantity"]) == ("fund-xinghua", COMMUNITY, 50000.0)
    assert lot["ledger"][0]["legs"][0] == {"account": "contributors:lottery_outlet", "cents": -50000}
    assert anonymous["giver"] is None
    named = contribution(donor_id="donor-grain")
    assert named["giver"] == "donor-grain"
    assert donations.lots_of(named)[0]["ledger"][0]["legs"][0]["account"] == "donor:donor-grain"


def test_a_repeated_contribution_is_the_same_only_with_the_same_content():
    assert donations.same_donation(contribution(), {**contribution(), "created_at": T3})
    assert not donations.same_donation(contribution(), contribution(cents=50001))
    assert not donations.same_donation(contribution(), contribution(donor_id="donor-grain"))


def balance(entries, account):
    return sum(leg["cents"] for e in entries for leg in e["legs"] if leg["account"] == account)


def test_every_movement_of_money_balances_and_has_a_deterministic_id():
    [lot] = donations.lots_of(contribution())
    pledge = {"pledge_id": "pledge-a", "need_id": NEED_ID, "quantity": 30000.0, "delivered": 0.0}
    entries = [lot["ledger"][0], domain.pledged_entry(lot, pledge, T1),
               domain.delivered_entry(lot, pledge, 10000.0, T2),
               domain.released_entry(lot, {**pledge, "delivered": 10000.0}, T3)]
    for entry in entries:
        assert sum(leg["cents"] for leg in entry["legs"]) == 0
        assert entry["fund_id"] == "fund-xinghua"
    assert [e["kind"] for e in entries] == ["contribution", "pledge", "delivery", "release"]
    assert balance(entries, "fund:fund-xinghua") == 50000 - 30000 + 20000
    assert balance(entries, f"need:{NEED_ID}") == 0
    assert balance(entries, "disbursed") == 10000
    assert domain.pledged_entry(lot, pledge, T3)["_id"] == entries[1]["_id"]  # a retry records nothing new
    second = domain.delivered_entry(lot, {**pledge, "delivered": 10000.0}, 5000.0, T3)
    assert second["_id"] != entries[2]["_id"]  # a second partial delivery is a new entry


def test_fund_contributed_carries_no_personal_data():
    event = load(stamped("charity", donations.contributed(FUND, "contribution-1", {
        "contributor_kind": "resident", "funds_cents": 5000, "donor_id": "donor-zhang"}), T0))
    assert (event.type, event.subject, event.correlation_id) == ("fund_contributed", "fund-xinghua", "contribution-1")
    assert event.data == {"fund_id": "fund-xinghua", "region": COMMUNITY, "contribution_id": "contribution-1",
                          "contributor_kind": "resident", "funds_cents": 5000}


def test_appeals_go_most_urgent_first_then_oldest():
    appeals = {domain.priority(urgency, at, need_id): need_id for need_id, urgency, at in [
        ("low-old", "low", T0), ("high-new", "high", T3), ("critical", "critical", T2),
        ("high-old", "high", T1), ("normal", "normal", T0)]}
    # the store sorts appeals by this key
    assert [appeals[key] for key in sorted(appeals)] == ["critical", "high-old", "high-new", "normal", "low-old"]


def test_a_receipt_shows_each_pledge_by_need_id_with_values_and_state():
    gift = donations.donation("donation-1", ENTERPRISE, STREET, [
        {"item": "flour", "quantity": 50, "unit": "kg", "value_cents": 12000}], T0)
    [lot] = donations.lots_of(gift)
    lot["pledges"] = [
        {"pledge_id": "p1", "need_id": "need-a", "community": COMMUNITY, "quantity": 10.0, "state": "delivered",
         "delivered": 10.0},
        {"pledge_id": "p2", "need_id": "need-b", "community": COMMUNITY, "quantity": 5.0, "state": "reserved",
         "delivered": 2.0},
        {"pledge_id": "p3", "need_id": "need-c", "community": COMMUNITY, "quantity": 5.0, "state": "released",
         "delivered": 1.0}]
    lot["available"] = 34.0
    receipt = donations.receipt(gift, [lot])
    [line] = receipt["lines"]
    assert (line["item"], line["quantity"], line["unit"], line["value_cents"]) == ("flour", 50.0, "kg", 12000)
    assert [(p["need_id"], p["quantity"], p["value_cents"], p["state"], p["delivered_quantity"],
             p["delivered_value_cents"]) for p in line["pledges"]] == [
        ("need-a", 10.0, 2400, "delivered", 10.0, 2400), ("need-b", 5.0, 1200, "reserved", 2.0, 480),
        ("need-c", 5.0, 1200, "released", 1.0, 240)]
    assert (receipt["value_cents"], receipt["pledged_value_cents"], receipt["delivered_value_cents"]) == \
        (12000, 2400 + 1200 + 240, 2400 + 480 + 240)
    assert "community" not in line["pledges"][0]  # need ids only

"""services.charity.domain: which lots pledge to a need, and the pledge's outcome."""
import pytest

from services.charity import domain
from tests.unit.helpers import COMMUNITY, NEED_ID, T0, T1, T2, pledge
from wushe.contract.events import load, stamped


@pytest.mark.parametrize("lot_region, expected", [
    (COMMUNITY, 0),
    ("tianjin/binhai/taida", 0),
    ("tianjin/binhai/taida/huaying", 0),
    ("tianjin/binhai", 1),
    ("tianjin/binhai/xinhe/xinhe-north", 1),
    ("tianjin", 2),
    ("tianjin/beichen/guoyuanxincun/chaoyangli", 2),
    ("tianjin/binhai2/taida/xinghua", 2),        # a district whose name merely starts the same
    ("beijing/chaoyang/guanzhuang/guanzhuang-1", None),
    ("tianjin2", None),
])
def test_tier(lot_region, expected):
    assert domain.tier(lot_region, COMMUNITY) == expected


def lot(lot_id, region, created_at, available=10.0):
    return {"_id": lot_id, "region": region, "created_at": created_at, "available": available}


def test_rank_nearest_first_then_oldest_and_skips_empty_or_far_lots():
    lots = [
        lot("city-old", "tianjin/hexi/youyi/a", T0),
        lot("district-new", "tianjin/binhai/xinhe/b", T2),
        lot("street-new", "tianjin/binhai/taida/huaying", T2),
        lot("district-old", "tianjin/binhai", T0),
        lot("street-old", COMMUNITY, T1),
        lot("street-empty", COMMUNITY, T0, available=0),
        lot("beijing", "beijing/chaoyang", T0),
    ]
    ranked = [l["_id"] for l in domain.rank(lots, COMMUNITY)]
    assert ranked == ["street-old", "street-new", "district-old", "district-new", "city-old"]


@pytest.mark.parametrize("line, key", [
    ({"item": "rice", "quantity": 5, "unit": "kg"}, ("rice", "kg", 5.0)),
    ({"item": "口罩", "quantity": 200.0, "unit": "只"}, ("口罩", "只", 200.0)),
    ({"funds_cents": 1357000}, ("funds", "cents", 1357000.0)),
])
def test_line_key(line, key):
    assert domain.line_key(line) == key


def test_pledge_id_is_deterministic_and_distinct_per_need_line_and_lot():
    base = domain.pledge_id(NEED_ID, 0, "lot-rice-1")
    assert base == domain.pledge_id(NEED_ID, 0, "lot-rice-1") and base.startswith("pledge-")
    others = {domain.pledge_id("need-other", 0, "lot-rice-1"), domain.pledge_id(NEED_ID, 1, "lot-rice-1"),
              domain.pledge_id(NEED_ID, 0, "lot-rice-2")}
    assert base not in others and len(others) == 3


@pytest.mark.parametrize("line, value", [
    ({"funds_cents": 50000}, 1.0),
    ({"item": "flour", "quantity": 50, "unit": "kg", "value_cents": 12000}, 240.0),
    ({"item": "oil", "quantity": 4, "unit": "bottle"}, 0.0),
    ({"item": "oil", "quantity": 4, "unit": "bottle", "value_cents": None}, 0.0),
])
def test_unit_value(line, value):
    assert domain.unit_value(line) == pytest.approx(value)


def test_pledge_line_values_goods_at_the_lot_unit_value():
    the_lot = {"_id": "lot-flour", "item": "flour", "unit": "kg", "unit_value_cents": 240.0}
    line = domain.pledge_line(the_lot, {"pledge_id": "pledge-x", "quantity": 5.0})
    assert line == {"pledge_id": "pledge-x", "lot_id": "lot-flour", "item": "flour", "quantity": 5.0,
                    "unit": "kg", "value_cents": 1200}


NEED = {"need_id": NEED_ID, "community": COMMUNITY}
MISSING = [{"item": "rice", "quantity": 3.0, "unit": "kg"}]


@pytest.mark.parametrize("shortfall, event_type", [([], "resource_pledged"), (MISSING, "resource_shortfall")])
def test_outcome(shortfall, event_type):
    loaded = load(stamped(domain.SOURCE, domain.outcome(NEED, [pledge("pledge-a")], shortfall), T1))
    assert (loaded.source, loaded.type, loaded.subject) == ("charity", event_type, NEED_ID)
    assert [p["pledge_id"] for p in loaded.data["pledges"]] == ["pledge-a"]
    assert loaded.data.get("shortfall", []) == shortfall


def test_goods_past_their_best_before_date_are_not_usable():
    from services.charity import domain as charity
    lots = [{"_id": "a", "best_before": "2026-11-22"}, {"_id": "b", "best_before": "2026-11-23"},
            {"_id": "c", "best_before": None}, {"_id": "d"}]
    assert [l["_id"] for l in charity.usable(lots, "2026-11-23T10:00:00.000000Z")] == ["b", "c", "d"]


@pytest.mark.parametrize("item, available, wanted, taken", [
    ("rice", 10.0, 4.0, 4.0),
    ("rice", 2.5, 4.0, 2.5),          # up to what the lot has
    ("funds", 1000.7, 2000.0, 1000.0),  # money in whole fen
    ("funds", 0.6, 5.0, 0),           # less than one fen: nothing
    ("rice", 0.0, 4.0, 0),
])
def test_a_pledge_takes_up_to_what_the_lot_has_and_money_in_whole_fen(item, available, wanted, taken):
    the_lot = {"_id": "lot-1", "item": item, "available": available, "pledges": []}
    assert domain.take(the_lot, {"pledge_id": "pledge-x"}, wanted) == taken


def test_a_pledge_already_on_the_lot_takes_nothing_more():
    the_lot = {"_id": "lot-1", "item": "rice", "available": 10.0, "pledges": [{"pledge_id": "pledge-x"}]}
    assert domain.take(the_lot, {"pledge_id": "pledge-x"}, 4.0) == 0
    assert domain.take(None, {"pledge_id": "pledge-x"}, 4.0) == 0


def test_a_delivery_is_refused_beyond_what_is_left_in_part_fen_or_once_not_reserved():
    from wushe.contract.decisions import Refused
    money = {"_id": "lot-m", "item": "funds", "unit": "cents", "donor_id": "fund-x", "unit_value_cents": 1.0}
    reserved = {"pledge_id": "pledge-m", "need_id": NEED_ID, "community": COMMUNITY, "quantity": 300.0,
                "delivered": 100.0, "state": "reserved"}
    assert domain.to_deliver(money, reserved) == 200.0  # nothing asked: all that is left
    for asked in (200.5, 201):
        with pytest.raises(Refused) as refused:
            domain.to_deliver(money, reserved, asked)
        assert refused.value.kind == Refused.INVALID and list(refused.value.fields) == ["quantity"]
    with pytest.raises(Refused, match="delivered, not reserved"):
        domain.to_deliver(money, {**reserved, "state": "delivered"})
    change = domain.delivery(money, reserved, 200.0, T2)
    assert change.fields == {"delivered": 300.0, "state": "delivered"}
    assert [e.type for e in change.events] == ["pledge_delivered"] and change.answer["remaining"] == 0
    assert change.appended["ledger"]["kind"] == "delivery"

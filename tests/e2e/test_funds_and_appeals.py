"""Community funds (社区基金), their ledger, appeals filled by later donations, donors' receipts."""
import eventlet
import pytest

from services.charity import domain
from tests.conftest import wait_for
from tests.e2e.world import HUAYUAN, STREET, XINGHUA, need, ok, seed
from wushe.runtime.store import database

pytestmark = pytest.mark.e2e


def funds_need(cents, urgency="high", community=XINGHUA):
    body = need(community=community, urgency=urgency, volunteers=0, rice=0, worker=False, organisation=False)
    body["requirements"]["resources"] = [{"funds_cents": cents}]
    return body


def goods_need(item, quantity, unit="kg", urgency="high", community=XINGHUA):
    body = need(community=community, urgency=urgency, volunteers=0, rice=0, worker=False, organisation=False)
    body["requirements"]["resources"] = [{"item": item, "quantity": quantity, "unit": unit}]
    return body


def add_fund(platform, fund_id, region, name):
    return ok(platform.post("/donors", {"id": fund_id, "name": name, "kind": "community_fund", "region": region}), 201)


def contribute(platform, fund_id, cents, kind="resident", **extra):
    return ok(platform.post(f"/funds/{fund_id}/contributions",
                            {"contributor_kind": kind, "funds_cents": cents, **extra}), 201)


def settled(platform, need_id):
    return platform.wait_need(need_id, lambda n: n["linkage"]["resources"]["state"] in ("pledged", "shortfall"))


def ledger(platform, fund_id):
    return ok(platform.get(f"/funds/{fund_id}/ledger", params={"limit": 200}), 200)


def all_entries(config):
    return list(database(config["WUSHE"], "charity").fund_ledger.find())


def test_money_is_drawn_from_the_community_fund_then_the_street_fund_then_other_donors(platform, config):
    seed(platform)
    add_fund(platform, "fund-xinghua", XINGHUA, "星华社区基金")
    add_fund(platform, "fund-taida", STREET, "泰达街道社区基金")
    add_fund(platform, "fund-huayuan", HUAYUAN, "华苑社区基金")
    enterprise = ok(platform.post("/donations", {"donor_id": "donor-grain", "region": STREET,
                                                 "lines": [{"funds_cents": 100000}]}), 201)["lots"][0]["id"]
    community = contribute(platform, "fund-xinghua", 30000, "lottery_outlet")
    street = contribute(platform, "fund-taida", 50000, "enterprise", donor_id="donor-grain")
    contribute(platform, "fund-huayuan", 90000)  # another community's fund: never drawn for Xinghua
    assert (community["balance_cents"], street["balance_cents"]) == (30000, 50000)

    need_id = ok(platform.post("/needs", funds_need(100000)), 202)["id"]
    view = platform.wait_need(need_id, lambda n: n["status"] == "linked")
    assert [(p["lot_id"], p["quantity"], p["value_cents"]) for p in view["linkage"]["resources"]["pledges"]] == [
        (community["lot_id"], 30000, 30000), (street["lot_id"], 50000, 50000), (enterprise, 20000, 20000)]

    xinghua = ledger(platform, "fund-xinghua")
    assert xinghua["balance_cents"] == 0
    assert [e["kind"] for e in xinghua["items"]] == ["pledge", "contribution"]  # newest first
    assert xinghua["items"][0]["legs"] == [{"account": "fund:fund-xinghua", "cents": -30000},
                                           {"account": f"need:{need_id}", "cents": 30000}]
    assert xinghua["items"][1]["legs"][0] == {"account": "contributors:lottery_outlet", "cents": -30000}
    assert ledger(platform, "fund-huayuan")["balance_cents"] == 90000

    # paying out part of the street fund's pledge: reservation → disbursed
    street_pledge = view["linkage"]["resources"]["pledges"][1]["pledge_id"]
    ok(platform.post(f"/pledges/{street_pledge}/delivery", {"quantity": 20000}), 200)
    assert platform.post(f"/pledges/{street_pledge}/delivery", {"quantity": 0.5}).status_code == 422  # whole fen
    taida = ledger(platform, "fund-taida")
    assert [e["kind"] for e in taida["items"]] == ["delivery", "pledge", "contribution"]
    assert taida["items"][0]["legs"] == [{"account": f"need:{need_id}", "cents": -20000},
                                         {"account": "disbursed", "cents": 20000}]
    # cancelling gives back what was not paid out
    ok(platform.post(f"/needs/{need_id}/cancel", {"reason": "已由民政救助解决"}), 200)
    platform.wait_need(need_id, lambda n: n["linkage"]["resources"]["state"] == "released")
    taida = ledger(platform, "fund-taida")
    assert taida["items"][0]["kind"] == "release" and taida["balance_cents"] == 30000
    assert ledger(platform, "fund-xinghua")["balance_cents"] == 30000

    entries = all_entries(config)
    assert all(sum(leg["cents"] for leg in e["legs"]) == 0 for e in entries)
    for fund_id in ("fund-xinghua", "fund-taida", "fund-huayuan"):
        assert ledger(platform, fund_id)["balance_cents"] == sum(
            leg["cents"] for e in entries for leg in e["legs"] if leg["account"] == f"fund:{fund_id}")


def test_a_contribution_is_recorded_once_and_only_to_a_community_fund(platform):
    seed(platform)
    add_fund(platform, "fund-xinghua", XINGHUA, "星华社区基金")
    body = {"id": "contribution-lottery-2024-11", "contributor_kind": "lottery_outlet", "funds_cents": 12000}
    first = ok(platform.post("/funds/fund-xinghua/contributions", body), 201)
    again = ok(platform.post("/funds/fund-xinghua/contributions", body), 201)
    assert first == again and first["balance_cents"] == 12000
    assert platform.post("/funds/fund-xinghua/contributions", {**body, "funds_cents": 13000}).status_code == 409
    keyed = {"contributor_kind": "resident", "funds_cents": 500}
    headers = {"Idempotency-Key": "resident-box-0042"}
    one = ok(platform.post("/funds/fund-xinghua/contributions", keyed, headers=headers), 201)
    assert ok(platform.post("/funds/fund-xinghua/contributions", keyed, headers=headers), 201) == one
    funds = ledger(platform, "fund-xinghua")
    assert funds["balance_cents"] == 12500 and [e["kind"] for e in funds["items"]] == ["contribution"] * 2

    assert platform.post("/funds/fund-nope/contributions", keyed).status_code == 404
    assert platform.get("/funds/fund-nope/ledger").status_code == 404
    not_a_fund = platform.post("/funds/donor-grain/contributions", keyed)
    assert not_a_fund.status_code == 422 and "fund_id" in not_a_fund.json()["errors"]
    bad = platform.post("/funds/fund-xinghua/contributions", {"contributor_kind": "张三", "funds_cents": 0})
    assert bad.status_code == 422 and set(bad.json()["errors"]) == {"contributor_kind", "funds_cents"}
    unknown_donor = platform.post("/funds/fund-xinghua/contributions", {**keyed, "donor_id": "donor-nope"})
    assert unknown_donor.status_code == 422 and "donor_id" in unknown_donor.json()["errors"]
    district_fund = platform.post("/donors", {"name": "滨海新区基金", "kind": "community_fund", "region": "tianjin/binhai"})
    assert district_fund.status_code == 422 and "region" in district_fund.json()["errors"]


def test_a_donation_fills_open_appeals_most_urgent_first_then_oldest(platform):
    seed(platform)
    ids = {}
    for name, urgency in (("low", "low"), ("high-old", "high"), ("critical", "critical"), ("high-new", "high")):
        ids[name] = ok(platform.post("/needs", goods_need("flour", 10, urgency=urgency)), 202)["id"]
        platform.wait_need(ids[name], lambda n: n["status"] == "escalated")  # one after another: oldest first
    appeals = ok(platform.get("/appeals", params={"region": STREET}), 200)
    assert [a["need_id"] for a in appeals["items"]] == [ids[n] for n in ("critical", "high-old", "high-new", "low")]
    assert appeals["items"][0]["missing"] == [{"item": "flour", "quantity": 10, "unit": "kg"}]
    assert appeals["items"][0]["urgency"] == "critical" and appeals["items"][0]["community"] == XINGHUA
    assert ok(platform.get("/appeals", params={"region": "tianjin/hexi"}), 200)["items"] == []
    first_page = ok(platform.get("/appeals", params={"region": STREET, "limit": 3}), 200)
    rest = ok(platform.get("/appeals", params={"region": STREET, "limit": 3, "cursor": first_page["next_cursor"]}), 200)
    assert [a["need_id"] for a in first_page["items"] + rest["items"]] == [a["need_id"] for a in appeals["items"]]
    assert rest["next_cursor"] is None

    lot_id = ok(platform.post("/donations", {"donor_id": "donor-grain", "region": STREET, "lines": [
        {"item": "flour", "quantity": 25, "unit": "kg", "value_cents": 12500}]}), 201)["lots"][0]["id"]
    for name in ("critical", "high-old"):
        view = platform.wait_need(ids[name], lambda n: n["status"] == "linked")
        assert [(p["lot_id"], p["quantity"]) for p in view["linkage"]["resources"]["pledges"]] == [(lot_id, 10)]
        assert view["linkage"]["resources"]["shortfall"] == []
    partial = platform.wait_need(ids["high-new"], lambda n: n["linkage"]["resources"]["pledges"]
                                 and n["status"] not in ("registered", "linking"))  # and the community's word
    assert partial["status"] == "escalated"
    assert partial["linkage"]["resources"]["shortfall"] == [{"item": "flour", "quantity": 5, "unit": "kg"}]
    assert [p["quantity"] for p in partial["linkage"]["resources"]["pledges"]] == [5]
    assert platform.need(ids["low"])["linkage"]["resources"]["pledges"] == []
    assert [(a["need_id"], a["missing"][0]["quantity"]) for a in ok(platform.get("/appeals"), 200)["items"]] == \
        [(ids["high-new"], 5), (ids["low"], 10)]

    # the community service re-linked the two escalated needs: need_linked, after need_escalated
    for name in ("critical", "high-old"):
        platform.wait_need(ids[name], lambda n: n["timeline"][-1]["type"] == "need_linked")

    # a top-up of the partial appeal, then a cancelled need's appeal closes
    ok(platform.post("/donations", {"donor_id": "donor-grain", "region": STREET, "lines": [
        {"item": "flour", "quantity": 5, "unit": "kg"}]}), 201)
    view = platform.wait_need(ids["high-new"], lambda n: n["status"] == "linked")
    assert sorted(p["quantity"] for p in view["linkage"]["resources"]["pledges"]) == [5, 5]
    ok(platform.post(f"/needs/{ids['low']}/cancel", {"reason": "已搬离"}), 200)
    wait_for(lambda: ok(platform.get("/appeals"), 200)["items"] == [] or None)
    lot = next(l for l in ok(platform.get("/lots?item=flour"), 200)["items"] if l["id"] == lot_id)
    assert (lot["reserved"], lot["available"]) == (25, 0)


def test_a_fund_contribution_fills_an_appeal_for_money(platform):
    seed(platform)
    add_fund(platform, "fund-xinghua", XINGHUA, "星华社区基金")
    need_id = ok(platform.post("/needs", funds_need(80000, urgency="critical")), 202)["id"]
    platform.wait_need(need_id, lambda n: n["status"] == "escalated")
    contribute(platform, "fund-xinghua", 50000, "lottery_outlet")
    view = platform.wait_need(need_id, lambda n: n["linkage"]["resources"]["pledges"])
    assert view["linkage"]["resources"]["shortfall"] == [{"item": "funds", "quantity": 30000, "unit": "cents"}]
    contribute(platform, "fund-xinghua", 40000, "resident")
    view = platform.wait_need(need_id, lambda n: n["status"] == "linked")
    assert sorted(p["quantity"] for p in view["linkage"]["resources"]["pledges"]) == [30000, 50000]
    assert ledger(platform, "fund-xinghua")["balance_cents"] == 10000


def test_receipts_show_where_each_donation_went_and_the_figures_follow(platform):
    seed(platform)
    add_fund(platform, "fund-xinghua", XINGHUA, "星华社区基金")
    ok(platform.post("/donors", {"id": "donor-oil", "name": "滨海油脂厂", "kind": "enterprise", "region": STREET}), 201)
    gift = ok(platform.post("/donations", {"id": "donation-oil-1", "donor_id": "donor-oil", "region": STREET, "lines": [
        {"item": "oil", "quantity": 20, "unit": "L", "value_cents": 40000}]}), 201)
    contribution = contribute(platform, "fund-xinghua", 6000, "enterprise", donor_id="donor-oil")
    oil_need = ok(platform.post("/needs", goods_need("oil", 5, unit="L")), 202)["id"]
    money_need = ok(platform.post("/needs", funds_need(10000)), 202)["id"]  # 6000 from the fund, short 4000
    pledge_id = platform.wait_need(oil_need, lambda n: n["status"] == "linked")["linkage"]["resources"]["pledges"][0]["pledge_id"]
    platform.wait_need(money_need, lambda n: n["status"] == "escalated")
    ok(platform.post(f"/pledges/{pledge_id}/delivery", {"quantity": 2}), 200)

    receipts = ok(platform.get("/donors/donor-oil/receipts"), 200)
    by_id = {r["donation_id"]: r for r in receipts["items"]}
    assert set(by_id) == {"donation-oil-1", contribution["id"]}
    [oil] = by_id["donation-oil-1"]["lines"]
    assert (oil["lot_id"], oil["item"], oil["quantity"], oil["unit"], oil["value_cents"]) == \
        (gift["lots"][0]["id"], "oil", 20, "L", 40000)
    assert oil["pledges"] == [{"need_id": oil_need, "pledge_id": pledge_id, "quantity": 5, "value_cents": 10000,
                               "state": "reserved", "delivered_quantity": 2, "delivered_value_cents": 4000}]
    money = by_id[contribution["id"]]
    assert money["kind"] == "contribution" and money["fund_id"] == "fund-xinghua"
    assert [(p["need_id"], p["value_cents"], p["state"]) for p in money["lines"][0]["pledges"]] == \
        [(money_need, 6000, "reserved")]
    assert ok(platform.get("/donors/fund-xinghua/receipts"), 200)["items"] == []  # money paid in is not the fund's gift
    assert platform.get("/donors/donor-nope/receipts").status_code == 404
    page = ok(platform.get("/donors/donor-oil/receipts", params={"limit": 1}), 200)
    assert len(page["items"]) == 1 and page["next_cursor"]

    stats = ok(platform.get("/stats", params={"region": XINGHUA}), 200)
    assert stats["resources_value_cents"] == 10000 + 6000
    assert stats["resources_delivered_value_cents"] == 4000
    assert stats["appeals_open"] == 1
    assert ok(platform.get("/stats", params={"region": HUAYUAN}), 200)["appeals_open"] == 0


def test_concurrent_donations_and_needs_keep_every_lot_whole_and_every_ledger_balanced(platform, config):
    """20 needs and 5 donations or contributions at once: no lot is over-pledged, no need gets
    more than it asked for, no appeal is left open while a lot that could serve it sits available,
    and the money balances to the fen."""
    seed(platform, rice_kg=30)
    add_fund(platform, "fund-xinghua", XINGHUA, "星华社区基金")
    add_fund(platform, "fund-taida", STREET, "泰达街道社区基金")
    urgencies = ("critical", "high", "normal", "low")
    bodies = []
    for i in range(20):
        community = XINGHUA if i % 2 else HUAYUAN
        bodies.append(goods_need("rice", 5 + i % 3, urgency=urgencies[i % 4], community=community) if i % 3
                      else funds_need(20000 + 1000 * i, urgency=urgencies[i % 4], community=community))
    gifts = [("/donations", {"donor_id": "donor-grain", "region": STREET, "lines": [
                 {"item": "rice", "quantity": 40, "unit": "kg"}, {"funds_cents": 60000}]}),
             ("/donations", {"donor_id": "donor-grain", "region": "tianjin/binhai", "lines": [
                 {"item": "rice", "quantity": 15, "unit": "kg"}]}),
             ("/funds/fund-xinghua/contributions", {"contributor_kind": "lottery_outlet", "funds_cents": 70000}),
             ("/funds/fund-taida/contributions", {"contributor_kind": "enterprise", "funds_cents": 45000,
                                                  "donor_id": "donor-grain"}),
             ("/funds/fund-xinghua/contributions", {"contributor_kind": "resident", "funds_cents": 33300})]
    requests_ = [("/needs", b, 202) for b in bodies] + [(path, b, 201) for path, b in gifts]
    pool = eventlet.GreenPool(len(requests_))
    answers = list(pool.imap(lambda r: ok(platform.post(r[0], r[1]), r[2]), requests_))
    need_ids = [a["id"] for a in answers[:20]]
    wanted = {need_id: (body["requirements"]["resources"][0]) for need_id, body in zip(need_ids, bodies)}
    charity = database(config["WUSHE"], "charity")

    waiting = {}  # what the last look was still waiting for, for the failure to say

    def quiet():
        """Every need settled and shown as the store holds it; no appeal could take a lot that sits available."""
        views = {need_id: platform.need(need_id) for need_id in need_ids}
        unsettled = {n: (v["status"], v["linkage"]["resources"]["state"]) for n, v in views.items()
                     if v["linkage"]["resources"]["state"] not in ("pledged", "shortfall")
                     or v["status"] in ("registered", "linking")}  # the community's word too
        waiting.clear()
        if unsettled:
            waiting["unsettled"] = unsettled
            return None
        lots = list(charity.lots.find())
        held = {}
        for lot in lots:
            for p in lot["pledges"]:
                if p["state"] != "released":
                    held.setdefault(p["need_id"], set()).add(p["pledge_id"])
        shown = {need_id: {p["pledge_id"] for p in v["linkage"]["resources"]["pledges"]}
                 for need_id, v in views.items()}
        unlike = {need_id: (sorted(ids), sorted(held.get(need_id, set())))
                  for need_id, ids in shown.items() if ids != held.get(need_id, set())}
        if unlike:
            waiting["shown unlike the lots (shown, held)"] = unlike
            return None
        servable = [(l["_id"], need_id) for l in lots if l["available"] > 0 for need_id, v in views.items()
                    if domain.draw_tier(l, v["community"]) is not None and any(
                        (m["item"], m["unit"]) == (l["item"], l["unit"]) for m in v["linkage"]["resources"]["shortfall"])]
        if servable or any(l.get("ledger") for l in lots):
            waiting.update(servable=servable, ledger_pending=[l["_id"] for l in lots if l.get("ledger")])
            return None
        return views, lots

    try:
        views, lots = wait_for(quiet, timeout=30)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; still waiting for {waiting}") from None
    for lot in lots:
        reserved = sum(p["quantity"] - p["delivered"] for p in lot["pledges"] if p["state"] == "reserved")
        assert 0 <= lot["reserved"] + lot["delivered"] <= lot["quantity"] + 1e-9, lot["_id"]
        assert lot["reserved"] == pytest.approx(reserved) and lot["available"] >= -1e-9
        assert lot["available"] == pytest.approx(lot["quantity"] - lot["reserved"] - lot["delivered"])
    for need_id, view in views.items():
        line = wanted[need_id]
        asked = line.get("funds_cents") or line["quantity"]
        part = view["linkage"]["resources"]
        pledged = sum(p["quantity"] for p in part["pledges"])
        missing = sum(m["quantity"] for m in part["shortfall"])
        assert pledged + missing == pytest.approx(asked), (need_id, part)
        assert view["status"] == ("linked" if part["state"] == "pledged" else "escalated")
    entries = all_entries(config)
    assert entries and sum(leg["cents"] for e in entries for leg in e["legs"]) == 0
    assert all(sum(leg["cents"] for leg in e["legs"]) == 0 for e in entries)
    assert len({e["_id"] for e in entries}) == len(entries)
    for fund_id in ("fund-xinghua", "fund-taida", "donor-grain"):
        in_lots = sum(l["available"] for l in lots if l["donor_id"] == fund_id and l["item"] == "funds")
        assert in_lots == sum(leg["cents"] for e in entries for leg in e["legs"] if leg["account"] == f"fund:{fund_id}")
    pledged_money = sum(p["quantity"] for l in lots if l["item"] == "funds" for p in l["pledges"])
    assert pledged_money == sum(leg["cents"] for e in entries for leg in e["legs"]
                                if e["kind"] == "pledge" and leg["account"].startswith("need:"))
    appeals = ok(platform.get("/appeals", params={"limit": 200}), 200)["items"]
    assert sorted(a["need_id"] for a in appeals) == sorted(n for n, v in views.items()
                                                           if v["linkage"]["resources"]["state"] == "shortfall")

"""Pledging charitable resources to needs. Pure; no I/O.

Lots of the same street come first, then the district's, then the city's; oldest first within
each; a lot is never reserved beyond what is available (the store enforces it atomically).
Money (item `funds`) is drawn from the need's community fund first, then its street's fund,
then other donors' funds lots by the same nearest-then-oldest order.
"""
import hashlib

from wushe.events import new_event
from wushe.regions import truncate, within
from wushe.vocabulary import CENTS, FUNDS, URGENCIES

SOURCE = "charity"
TIERS = ("street", "district", "city")


def line_key(line):
    """(item, unit, quantity) of a requested or donated line; money is item `funds` in cents."""
    if "funds_cents" in line:
        return FUNDS, CENTS, float(line["funds_cents"])
    return line["item"], line["unit"], float(line["quantity"])


def tier(lot_region, community):
    """0 same street, 1 same district, 2 same city; None when the lot is elsewhere."""
    for rank, level in enumerate(TIERS):
        if within(lot_region, truncate(community, level)):
            return rank
    return None


def usable(lots, at):
    """Lots that may still be pledged at `at`: goods past their best-before date may not."""
    today = at[:10]
    return [lot for lot in lots if not lot.get("best_before") or lot["best_before"] >= today]


def draw_tier(lot, community):
    """Where a lot stands in a need's draw order (smaller first); None when it may not serve it.

    Goods: the tier (street, district, city). Money: the need's community fund (0), its street's
    fund (1), then other donors' funds lots by tier (2, 3, 4). A community fund serves only its
    own community or street: another community's fund is never drawn.
    """
    fund = lot.get("fund_region")
    if lot.get("item") == FUNDS and fund:
        if fund == community:
            return 0
        if fund == truncate(community, "street"):
            return 1
        return None
    near = tier(lot["region"], community)
    if near is None:
        return None
    return near + 2 if lot.get("item") == FUNDS else near


def rank(lots, community):
    near = [(draw_tier(lot, community), lot) for lot in lots if lot["available"] > 0]
    near = [(t, lot) for t, lot in near if t is not None]
    return [lot for _, lot in sorted(near, key=lambda p: (p[0], p[1]["created_at"], p[1]["_id"]))]


def pledge_id(need_id, line_index, lot_id, round_id=None):
    """Deterministic, so that a redelivered need reserves nothing twice; a top-up of an appeal
    names its round, so that a lot may serve the same line again in a later round."""
    key = f"{need_id}|{line_index}|{lot_id}" + (f"|{round_id}" if round_id else "")
    return f"pledge-{hashlib.sha1(key.encode()).hexdigest()[:16]}"


def pledge_line(lot, pledge):
    return {"pledge_id": pledge["pledge_id"], "lot_id": lot["_id"], "item": lot["item"],
            "quantity": pledge["quantity"], "unit": lot["unit"],
            "value_cents": round(pledge["quantity"] * (lot.get("unit_value_cents") or 0))}


def unit_value(line):
    """Value per unit: money is worth itself; goods their declared value, if any."""
    item, _, quantity = line_key(line)
    if item == FUNDS:
        return 1.0
    return (line.get("value_cents") or 0) / quantity


def outcome(need, pledges, shortfall):
    base = {"need_id": need["need_id"], "community": need["community"], "pledges": pledges}
    if shortfall:
        return new_event(SOURCE, "resource_shortfall", {**base, "shortfall": shortfall})
    return new_event(SOURCE, "resource_pledged", base)


def released(need_id, community, pledges):
    return new_event(SOURCE, "pledge_released", {"need_id": need_id, "community": community, "pledges": pledges})


def remaining(pledge):
    """What is left to deliver of a pledge."""
    return round(pledge["quantity"] - pledge.get("delivered", 0.0), 6)


def delivered(pledge, line, quantity, left):
    return new_event(SOURCE, "pledge_delivered", {"need_id": pledge["need_id"], "community": pledge["community"],
                                                  "pledge": line, "quantity": quantity, "remaining": round(left, 6)})


# --- donations, community funds and their ledger ---------------------------------------------
COMMUNITY_FUND = "community_fund"
FUND_LEVELS = ("street", "community")  # a community fund pools money of a community or a street


def lot_id(donation_id, index):
    """Deterministic, so that a donation's lots can be (re)made from its record after a crash."""
    return "lot-" + hashlib.sha1(f"{donation_id}|{index}".encode()).hexdigest()[:16]


def normal_line(line):
    """A donated line as stored: dates as ISO text."""
    line = dict(line)
    if line.get("best_before") is not None and not isinstance(line["best_before"], str):
        line["best_before"] = line["best_before"].isoformat()
    return line


def donation(donation_id, donor, region, lines, at, contribution=None):
    """A donation's record, the commit point of a donation: its lots are made from it.

    `giver` is the donor whose receipt it is: the donor, or, for a contribution to a community
    fund, the contributing donor when one is named (the lots belong to the fund)."""
    doc = {"_id": donation_id, "kind": "contribution" if contribution else "donation",
           "donor_id": donor["_id"], "donor_kind": donor["kind"], "region": region,
           "lines": [normal_line(l) for l in lines], "created_at": at,
           "giver": (contribution or {}).get("donor_id") if contribution else donor["_id"]}
    if donor["kind"] == COMMUNITY_FUND:
        doc["fund_region"] = donor["region"]
    if contribution:
        doc["contribution"] = contribution
    doc["lot_ids"] = [lot_id(donation_id, i) for i in range(len(lines))]
    return doc


def same_donation(existing, new):
    """A repeated request (same id) must carry the same content."""
    keys = ("kind", "donor_id", "region", "lines", "contribution")
    return all(existing.get(k) == new.get(k) for k in keys)


def lots_of(donation):
    """The lots a donation's record stands for, each with its pending ledger entry (money only)."""
    lots = []
    for index, line in enumerate(donation["lines"]):
        item, unit, quantity = line_key(line)
        lot = {"_id": donation["lot_ids"][index], "donation_id": donation["_id"], "donor_id": donation["donor_id"],
               "donor_kind": donation.get("donor_kind"), "item": item, "unit": unit, "region": donation["region"],
               "quantity": quantity, "reserved": 0.0, "delivered": 0.0, "available": quantity,
               "unit_value_cents": unit_value(line), "created_at": donation["created_at"], "pledges": [],
               "best_before": line.get("best_before"), "ledger": [], "outbox": []}
        if item == FUNDS and donation.get("fund_region"):
            lot["fund_region"] = donation["fund_region"]
        if item == FUNDS:
            lot["ledger"].append(money_in(lot, donation))
        lots.append(lot)
    return lots


def fund_account(fund_id):
    return f"fund:{fund_id}"


def entry(entry_id, kind, lot, at, payer, payee, cents, **refs):
    """One immutable double-entry record: two legs that sum to zero, in whole fen."""
    cents = int(round(cents))
    return {"_id": entry_id, "kind": kind, "fund_id": lot["donor_id"], "lot_id": lot["_id"], "at": at,
            "seq": f"{at}|{entry_id}", "legs": [{"account": payer, "cents": -cents},
                                                {"account": payee, "cents": cents}], **refs}


def money_in(lot, donation):
    """Money coming in: a contribution (contributor → fund) or a donation (donor → its funds)."""
    contribution = donation.get("contribution")
    if contribution:
        payer = f"donor:{contribution['donor_id']}" if contribution.get("donor_id") \
            else f"contributors:{contribution['contributor_kind']}"
        kind = "contribution"
    else:
        payer, kind = f"donor:{donation['donor_id']}", "donation"
    return entry(f"ledger-{lot['_id']}-in", kind, lot, donation["created_at"], payer,
                 fund_account(lot["donor_id"]), lot["quantity"], donation_id=donation["_id"])


def pledged_entry(lot, pledge, at):
    """Money reserved for a need: fund → `need:<id>`."""
    return entry(f"ledger-{pledge['pledge_id']}-pledge", "pledge", lot, at, fund_account(lot["donor_id"]),
                 f"need:{pledge['need_id']}", pledge["quantity"], need_id=pledge["need_id"],
                 pledge_id=pledge["pledge_id"])


def released_entry(lot, pledge, at):
    """What is still reserved goes back: `need:<id>` → fund."""
    return entry(f"ledger-{pledge['pledge_id']}-release", "release", lot, at, f"need:{pledge['need_id']}",
                 fund_account(lot["donor_id"]), remaining(pledge), need_id=pledge["need_id"],
                 pledge_id=pledge["pledge_id"])


def delivered_entry(lot, pledge, quantity, at):
    """Money paid out: `need:<id>` → `disbursed`. One per delivery, named by what was delivered
    before it, so that a retried delivery records nothing twice."""
    before = int(round(pledge.get("delivered", 0.0)))
    return entry(f"ledger-{pledge['pledge_id']}-delivery-{before}", "delivery", lot, at,
                 f"need:{pledge['need_id']}", "disbursed", quantity, need_id=pledge["need_id"],
                 pledge_id=pledge["pledge_id"])


def contributed(fund, contribution_id, contribution):
    return new_event(SOURCE, "fund_contributed", {
        "fund_id": fund["_id"], "region": fund["region"], "contribution_id": contribution_id,
        "contributor_kind": contribution["contributor_kind"], "funds_cents": contribution["funds_cents"]},
        subject=fund["_id"], correlation_id=contribution_id)


def received(donation):
    lines = [line_key(l) for l in donation["lines"]]
    return new_event(SOURCE, "donation_received", {
        "donation_id": donation["_id"], "donor_id": donation["donor_id"], "region": donation["region"],
        "lots": [{"lot_id": lid, "item": item, "quantity": quantity, "unit": unit}
                 for lid, (item, unit, quantity) in zip(donation["lot_ids"], lines)]},
        subject=donation["_id"], correlation_id=donation["_id"])


# --- appeals: needs left short, filled later by new lots --------------------------------------
def priority(urgency, registered_at, need_id):
    """The sort key of an open appeal: most urgent first (critical, high, normal, low), then oldest."""
    rank_ = URGENCIES.index(urgency) if urgency in URGENCIES else len(URGENCIES)
    return f"{rank_}|{registered_at or ''}|{need_id}"


def appeal(allocation):
    """An open appeal as the API shows it (need id and region only, no resident data)."""
    return {"need_id": allocation["_id"], "community": allocation["community"],
            "urgency": allocation.get("urgency"), "created_at": allocation.get("registered_at")
            or allocation.get("created_at"), "opened_at": allocation.get("created_at"),
            "missing": [{k: m[k] for k in ("item", "quantity", "unit")} for m in allocation.get("shortfall", [])],
            "pledged": len(allocation.get("pledges", []))}


# --- receipts ----------------------------------------------------------------------------------
def receipt(donation, lots):
    """Where a donation went, line by line: each pledge's need id, quantity, value and state."""
    by_id = {lot["_id"]: lot for lot in lots}
    lines = []
    for lid in donation["lot_ids"]:
        lot = by_id.get(lid)
        if lot is None:  # not made yet (a crash in between; made by the next attempt)
            continue
        value = lot.get("unit_value_cents") or 0
        pledges = [{"need_id": p["need_id"], "pledge_id": p["pledge_id"], "quantity": p["quantity"],
                    "value_cents": round(p["quantity"] * value), "state": p["state"],
                    "delivered_quantity": p.get("delivered", 0.0),
                    "delivered_value_cents": round(p.get("delivered", 0.0) * value)} for p in lot["pledges"]]
        lines.append({"lot_id": lid, "item": lot["item"], "quantity": lot["quantity"], "unit": lot["unit"],
                      "value_cents": round(lot["quantity"] * value), "available": lot["available"],
                      "pledges": pledges})
    out = {"donation_id": donation["_id"], "kind": donation.get("kind", "donation"), "region": donation["region"],
           "created_at": donation["created_at"], "lines": lines,
           "value_cents": sum(l["value_cents"] for l in lines),
           # a released pledge still counts for what was delivered of it before the release
           "pledged_value_cents": sum(p["delivered_value_cents"] if p["state"] == "released" else p["value_cents"]
                                      for l in lines for p in l["pledges"]),
           "delivered_value_cents": sum(p["delivered_value_cents"] for l in lines for p in l["pledges"])}
    if donation.get("contribution"):
        out["fund_id"] = donation["donor_id"]
    return out

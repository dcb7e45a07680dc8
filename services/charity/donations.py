"""Gifts: donors and community funds (社区基金), donations and contributions recorded once, the
lots they stand for (each with its money's ledger entry), and the receipts that show donors where
their gifts went. Pure; no I/O, like `domain`."""
import hashlib

from services.charity.domain import entry, fund_account, line_key, unit_value
from wushe.contract.decisions import Event, Refused
from wushe.contract.vocabulary import FUNDS

COMMUNITY_FUND = "community_fund"
FUND_LEVELS = ("street", "community")  # a community fund pools money of a community or a street


def new_donor(body, donor_id, at):
    """A donor's record (or a community fund's: a donor of kind `community_fund`)."""
    return {"_id": donor_id, **{k: v for k, v in body.items() if k != "id"}, "created_at": at}


def donor_named(donor, donor_id):
    """A donation or contribution names a registered donor."""
    if not donor:
        raise Refused.invalid("unknown donor", {"donor_id": [f"no donor {donor_id}"]})
    return donor


def fund_of(donor, fund_id):
    """Money is contributed to, and a ledger kept for, a community fund only."""
    if not donor:
        raise Refused.missing(f"no fund {fund_id}")
    if donor["kind"] != COMMUNITY_FUND:
        raise Refused.invalid("not a community fund", {"fund_id": [f"{fund_id} is a donor of kind {donor['kind']}"]})
    return donor


def contribution_of(body):
    """What a contribution records of its payer (by kind, or a registered donor) and its money."""
    return {"contributor_kind": body["contributor_kind"], "donor_id": body["donor_id"],
            "funds_cents": body["funds_cents"]}


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


def repeated(existing, new):
    """The donation a repeated request stands for: the one recorded first, if the content is the same."""
    if not same_donation(existing, new):
        raise Refused(f"donation {new['_id']} exists with other content")
    return existing


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


def contributed(fund, contribution_id, contribution):
    # about the fund, in the flow of the contribution
    return Event("fund_contributed", {
        "fund_id": fund["_id"], "region": fund["region"], "contribution_id": contribution_id,
        "contributor_kind": contribution["contributor_kind"], "funds_cents": contribution["funds_cents"]},
        subject=fund["_id"], correlation_id=contribution_id)


def received(donation):
    lines = [line_key(l) for l in donation["lines"]]
    return Event("donation_received", {
        "donation_id": donation["_id"], "donor_id": donation["donor_id"], "region": donation["region"],
        "lots": [{"lot_id": lid, "item": item, "quantity": quantity, "unit": unit}
                 for lid, (item, unit, quantity) in zip(donation["lot_ids"], lines)]}, subject=donation["_id"])


def ledger_item(entry_):
    """A ledger entry as the API shows it."""
    return {**{k: v for k, v in entry_.items() if k not in ("_id", "seq")}, "id": entry_["_id"]}


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

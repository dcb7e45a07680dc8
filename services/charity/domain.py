"""Pledging charitable resources to needs. Pure; no I/O.

Lots of the same street come first, then the district's, then the city's; oldest first within
each; a lot is never reserved beyond what is available (the store enforces it atomically).
"""
import hashlib

from wushe.events import new_event
from wushe.regions import truncate, within
from wushe.vocabulary import CENTS, FUNDS

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


def rank(lots, community):
    near = [(tier(lot["region"], community), lot) for lot in lots if lot["available"] > 0]
    near = [(t, lot) for t, lot in near if t is not None]
    return [lot for _, lot in sorted(near, key=lambda p: (p[0], p[1]["created_at"], p[1]["_id"]))]


def pledge_id(need_id, line_index, lot_id):
    """Deterministic, so that a redelivered need reserves nothing twice."""
    digest = hashlib.sha1(f"{need_id}|{line_index}|{lot_id}".encode()).hexdigest()[:16]
    return f"pledge-{digest}"


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

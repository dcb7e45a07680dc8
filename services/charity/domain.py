"""The charity's rules: which lots pledge to a need and how much each gives, deliveries, a need's
allocation and its appeal, and the ledger entries of pledged money (donors, donations and funds
are `donations`). Pure; no I/O: ids and times come in, documents, `Change`s, event drafts and
refusals come out (wushe.contract.decisions).

Lots of the same street come first, then the district's, then the city's; oldest first within
each; a lot is never reserved beyond what is available (the store enforces it atomically).
Money (item `funds`) is drawn from the need's community fund first, then its street's fund,
then other donors' funds lots by the same nearest-then-oldest order.
"""
import hashlib
import math

from wushe.contract.clock import later
from wushe.contract.decisions import Change, Event, Refused
from wushe.contract.regions import truncate, within
from wushe.contract.vocabulary import CENTS, FUNDS, URGENCIES

SOURCE = "charity"
TIERS = ("street", "district", "city")
EPSILON = 1e-9


# --- which lots serve a need, and how much each gives --------------------------------------------
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


def wanted(lines):
    """A need's resource lines as what each line wants: its index, item, quantity and unit."""
    out = []
    for index, line in enumerate(lines):
        item, unit, quantity = line_key(line)
        out.append({"line": index, "item": item, "quantity": quantity, "unit": unit})
    return out


def new_pledge(need_id, community, line, lot_id, round_id=None):
    """A pledge of a need's line on a lot, before its quantity is known; a top-up's names its round."""
    pledge = {"pledge_id": pledge_id(need_id, line, lot_id, round_id), "need_id": need_id, "community": community,
              "line": line}
    if round_id:
        pledge["round"] = round_id
    return pledge


def take(lot, pledge, wanted_quantity):
    """How much of `wanted_quantity` a pledge may take from the lot as read: up to what is
    available, money in whole fen; 0 when nothing (the lot is gone or empty, or the pledge is on
    it already: an earlier attempt of the same round; a lot read without its pledges is
    checked for it by the store's conditional write)."""
    if not lot or lot["available"] <= EPSILON:
        return 0
    if any(p["pledge_id"] == pledge["pledge_id"] for p in lot.get("pledges", [])):
        return 0
    quantity = min(wanted_quantity, lot["available"])
    if lot["item"] == FUNDS:  # money in whole fen
        quantity = float(math.floor(quantity + 1e-6))
        if quantity < 1:
            return 0
    return quantity


def pledge_of(lot, pledge_id_):
    return next(p for p in lot["pledges"] if p["pledge_id"] == pledge_id_)


def pledge_view(lot, pledge):
    """A pledge with the need (and its community) it serves."""
    return {**pledge_line(lot, pledge), "need_id": pledge["need_id"], "community": pledge["community"],
            "state": pledge["state"], "delivered": pledge.get("delivered", 0.0)}


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


# --- outcomes and deliveries ------------------------------------------------------------------
def outcome(need, pledges, shortfall):
    base = {"need_id": need["need_id"], "community": need["community"], "pledges": pledges}
    if shortfall:
        return Event("resource_shortfall", {**base, "shortfall": shortfall})
    return Event("resource_pledged", base)


def released(need_id, community, pledges):
    return Event("pledge_released", {"need_id": need_id, "community": community, "pledges": pledges})


def remaining(pledge):
    """What is left to deliver of a pledge."""
    return round(pledge["quantity"] - pledge.get("delivered", 0.0), 6)


def delivered(pledge, line, quantity, left):
    return Event("pledge_delivered", {"need_id": pledge["need_id"], "community": pledge["community"],
                                      "pledge": line, "quantity": quantity, "remaining": round(left, 6)})


def to_deliver(lot, pledge, asked=None):
    """The quantity a delivery hands over: what was asked, or (nothing asked) all that is left of
    a reserved pledge; never more than is left, money in whole fen."""
    if pledge["state"] != "reserved":
        raise Refused(f"the pledge is {pledge['state']}, not reserved")
    left = remaining(pledge)
    quantity = asked or left
    if quantity > left + 1e-9:
        raise Refused.invalid("more than is left to deliver",
                              {"quantity": [f"{left:g} {lot['unit']} of this pledge are left to deliver"]})
    if lot["item"] == FUNDS and abs(quantity - round(quantity)) > 1e-9:
        raise Refused.invalid("money is delivered in whole fen", {"quantity": ["a whole number of cents"]})
    return quantity


def delivery(lot, pledge, quantity, at):
    """Delivering `quantity` of a pledge: the pledge's new `delivered` and `state` (the fields),
    its `pledge_delivered`, money's ledger entry (appended to the lot's pending `ledger`) and the
    answer: the pledge line with its state, what was delivered and what is left."""
    line = pledge_line(lot, pledge)
    done = pledge.get("delivered", 0.0) + quantity
    state = "delivered" if done >= pledge["quantity"] - 1e-9 else "reserved"
    ledger = delivered_entry(lot, pledge, quantity, at)
    return Change({"delivered": done, "state": state},
                  (delivered(pledge, line, quantity, remaining(pledge) - quantity),),
                  answer={**line, "state": state, "delivered": done,
                          "remaining": remaining({**pledge, "delivered": done})},
                  appended={"ledger": ledger} if ledger else {})


# --- a need's allocation: its pledges and what it misses (an open appeal) ---------------
def new_allocation(need, at):
    """The allocation of a need that asks for resources, as it starts: being pledged."""
    need_id = need["need_id"]
    return Change({"_id": need_id, "community": need["community"], "state": "pledging", "created_at": at,
                   "urgency": need["urgency"], "registered_at": need["registered_at"], "version": 0,
                   "priority": priority(need["urgency"], need["registered_at"], need_id)})


def pledged(need, pledges, shortfall):
    """The end of a need's first pledging: `pledged`, or `shortfall` (an open appeal) when lines
    are missing, with its `resource_pledged` or `resource_shortfall`."""
    return Change({"state": "shortfall" if shortfall else "pledged", "pledges": pledges, "shortfall": shortfall},
                  (outcome(need, pledges, shortfall),))


def topped_up(allocation, new_pledges, shortfall):
    """The end of a top-up round: nothing when it pledged nothing; else the appeal's pledges and
    what it still misses (closed when nothing), announced as a new outcome."""
    if not new_pledges:
        return Change()
    pledges = allocation.get("pledges", []) + new_pledges
    need = {"need_id": allocation["_id"], "community": allocation["community"]}
    return Change({"pledges": pledges, "shortfall": shortfall, "state": "shortfall" if shortfall else "pledged"},
                  (outcome(need, pledges, shortfall),))


def holder_silent(pending, at, lease_seconds):
    """Whether a top-up round's holder has been silent longer than its lease (it crashed), or let
    the round go (it failed part-way)."""
    return pending.get("let_go", False) or pending["at"] < later(at, seconds=-lease_seconds)


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


# --- the fund ledger: money pledged, given back and paid out --------------------------------
def fund_account(fund_id):
    return f"fund:{fund_id}"


def entry(entry_id, kind, lot, at, payer, payee, cents, **refs):
    """One immutable double-entry record: two legs that sum to zero, in whole fen."""
    cents = int(round(cents))
    return {"_id": entry_id, "kind": kind, "fund_id": lot["donor_id"], "lot_id": lot["_id"], "at": at,
            "seq": f"{at}|{entry_id}", "legs": [{"account": payer, "cents": -cents},
                                                {"account": payee, "cents": cents}], **refs}


def pledged_entry(lot, pledge, at):
    """Money reserved for a need: fund → `need:<id>` (None for goods: only money has a ledger)."""
    if lot["item"] != FUNDS:
        return None
    return entry(f"ledger-{pledge['pledge_id']}-pledge", "pledge", lot, at, fund_account(lot["donor_id"]),
                 f"need:{pledge['need_id']}", pledge["quantity"], need_id=pledge["need_id"],
                 pledge_id=pledge["pledge_id"])


def released_entry(lot, pledge, at):
    """What is still reserved goes back: `need:<id>` → fund (None for goods)."""
    if lot["item"] != FUNDS:
        return None
    return entry(f"ledger-{pledge['pledge_id']}-release", "release", lot, at, f"need:{pledge['need_id']}",
                 fund_account(lot["donor_id"]), remaining(pledge), need_id=pledge["need_id"],
                 pledge_id=pledge["pledge_id"])


def delivered_entry(lot, pledge, quantity, at):
    """Money paid out: `need:<id>` → `disbursed`. One per delivery, named by what was delivered
    before it, so that a retried delivery records nothing twice. None for goods."""
    if lot["item"] != FUNDS:
        return None
    before = int(round(pledge.get("delivered", 0.0)))
    return entry(f"ledger-{pledge['pledge_id']}-delivery-{before}", "delivery", lot, at,
                 f"need:{pledge['need_id']}", "disbursed", quantity, need_id=pledge["need_id"],
                 pledge_id=pledge["pledge_id"])

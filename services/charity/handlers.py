"""The charity's use cases: donors, donations and contributions to community funds, deliveries,
receipts, and what the charity does when a need is registered or cancelled (pledging and appeals:
`pledging`). Each loads what it needs from the store, lets the rules decide (`domain`,
`donations`), writes the decision (conditional writes: `store`), announces its events (the
outbox) and answers. Plain functions of a `Charity` — the store, the outbox, the log and the
clock — so they run the same in a nameko worker (`service.py`) and in a test on the embedded
store (`tests/handlers/`)."""
from dataclasses import dataclass
from typing import Any, Callable

from services.charity import domain, donations, metrics, pledging
from services.charity.pledging import count_value
from services.charity.store import CharityStore
from wushe.contract.clock import later, new_id, now_iso
from wushe.contract.decisions import Refused, existing, visible
from wushe.runtime.subscribe import DUPLICATE

LEDGER_GRACE_SECONDS = 5  # ledger entries pending longer than this were left by a crash


@dataclass
class Charity:
    store: CharityStore
    outbox: Any                  # wushe.runtime.outbox.Outbox: flush(collection, document)
    log: Any
    lease_seconds: float = 60.0  # a top-up round whose holder is silent this long is taken over
    now: Callable[[], str] = now_iso
    new_id: Callable[[str], str] = new_id


# donors and community funds ---------------------------------------------------------------------
def add_donor(c, body):
    donor = donations.new_donor(body, body.get("id") or c.new_id("donor"), c.now())
    if not c.store.add_donor(donor):
        raise Refused(f"donor {donor['_id']} exists")
    return donor


def donor(c, donor_id, within=""):
    """The donor; `within` (here and below): the asking key's region, outside which a record is
    refused as one that is not there."""
    return existing(c.store.donor(donor_id), "donor", donor_id, within=within, at="region")


def fund(c, fund_id, within=""):
    return donations.fund_of(visible(c.store.donor(fund_id), within, "region"), fund_id)


def fund_ledger(c, fund_id, limit=50, cursor=None, within=""):
    fund(c, fund_id, within)
    entries, next_cursor = c.store.ledger_page(fund_id, limit, cursor)
    return {"fund_id": fund_id, "balance_cents": c.store.fund_balance(fund_id),
            "items": [donations.ledger_item(e) for e in entries], "next_cursor": next_cursor}


# donations --------------------------------------------------------------------------------------
def donate(c, body):
    """A donation: its record, then its lots (money in whole fen), made once; (donation, lots)."""
    giver = donations.donor_named(c.store.donor(body["donor_id"]), body["donor_id"])
    donation = donations.donation(body.get("id") or c.new_id("donation"), giver, body["region"], body["lines"],
                                  c.now())
    return _record(c, donation, [donations.received(donation)])


def contribute(c, fund_id, body, within=""):
    """Money paid into a community fund: a funds lot of the fund, pledged like any lot."""
    the_fund = fund(c, fund_id, within)
    if body["donor_id"]:
        donations.donor_named(visible(c.store.donor(body["donor_id"]), within, "region"), body["donor_id"])
    contribution_id = body.get("id") or c.new_id("contribution")
    contribution = donations.contribution_of(body)
    donation = donations.donation(contribution_id, the_fund, the_fund["region"],
                                  [{"funds_cents": body["funds_cents"]}], c.now(), contribution=contribution)
    donation, lots = _record(c, donation, [donations.contributed(the_fund, contribution_id, contribution),
                                           donations.received(donation)])
    c.log.info("fund.contributed", fund_id=fund_id, funds_cents=body["funds_cents"])
    return {**contribution, "id": donation["_id"], "fund_id": fund_id, "lot_id": lots[0]["_id"],
            "created_at": donation["created_at"], "balance_cents": c.store.fund_balance(fund_id)}


def _record(c, donation, events):
    """Store a donation's record with its events (the commit point), then its lots. The same
    id again with the same content answers the same; with other content it is refused."""
    if not c.store.add_donation(donation, events, c.now()):
        donation = donations.repeated(c.store.donation(donation["_id"]), donation)
    lots = _make_lots(c, donation)
    c.outbox.flush(c.store.donations, c.store.donation(donation["_id"]))
    return donation, lots


def _make_lots(c, donation):
    """The donation's lots, made if missing, with their ledger entries posted."""
    c.store.add_lots(donations.lots_of(donation))
    made = c.store.lots_named(donation["lot_ids"])
    for lot_ in made:
        c.store.post_ledger(lot_)
    order = {lid: i for i, lid in enumerate(donation["lot_ids"])}
    return sorted(made, key=lambda lot_: order[lot_["_id"]])


def donation_received(c, event):
    """New lots: make sure they exist (a crash may have come between the donation's record and
    its lots), post their ledger entries, then pledge them to open appeals."""
    donation = c.store.donation(event.data["donation_id"])
    if donation:
        _make_lots(c, donation)
    pledging.fill_appeals(c)


def receipts(c, donor_id, limit=50, cursor=None, within=""):
    """Where a donor's donations (and contributions to funds) went, pledge by pledge."""
    donor(c, donor_id, within)
    given, next_cursor = c.store.donations_of(donor_id, limit, cursor)
    lots = c.store.lots_named([lid for d in given for lid in d["lot_ids"]], slim=True)
    return {"donor_id": donor_id, "items": [donations.receipt(d, lots) for d in given], "next_cursor": next_cursor}


# lots, pledges and deliveries -------------------------------------------------------------------
def lots(c, item=None, region=None, limit=50, cursor=None):
    """Lots (of an item, in a region), by id; (lots, next cursor)."""
    return c.store.lots_page(item, region, limit, cursor)


def lot(c, lot_id):
    return existing(c.store.lot(lot_id), "lot", lot_id)


def _pledge(c, pledge_id, within=""):
    """(the lot a pledge is on, the pledge); outside `within` (its need's community) as one that
    is not there."""
    found = existing(c.store.lot_holding(pledge_id), "pledge", pledge_id)
    return found, existing(domain.pledge_of(found, pledge_id), "pledge", pledge_id, within=within)


def pledge(c, pledge_id):
    """A pledge with the need (and its community) it serves."""
    return domain.pledge_view(*_pledge(c, pledge_id))


def deliver_pledge(c, pledge_id, quantity=None, within=""):
    """Deliver a pledge in whole (no quantity: all that is left) or in part."""
    lot_, pledge_ = _pledge(c, pledge_id, within)
    quantity = domain.to_deliver(lot_, pledge_, quantity)
    at = c.now()
    change = domain.delivery(lot_, pledge_, quantity, at)
    updated = c.store.deliver(lot_, pledge_, quantity, change, at)
    if not updated:
        raise Refused("the pledge changed meanwhile (another delivery or a release); read it again")
    c.store.post_ledger(updated)
    c.outbox.flush(c.store.lots, updated)
    count_value("delivered", pledge_["community"], quantity * (lot_.get("unit_value_cents") or 0))
    return change.answer


def stats(c, region):
    return {"resources_value_cents": c.store.value_pledged(region),
            "resources_delivered_value_cents": c.store.value_delivered(region),
            "appeals_open": c.store.appeals_open(region)}


# needs: pledging, appeals, giving back ------------------------------------------------------------
def need_registered(c, event):
    """Pledge a need's resource lines from the nearest, oldest lots; a shortfall is an open
    appeal. DUPLICATE when the need was pledged already (a redelivery)."""
    need = event.data
    lines = need["requirements"].get("resources")
    if not lines:
        return None
    need_id = need["need_id"]
    metrics.zero_community(need["community"])
    c.store.open_allocation(domain.new_allocation(need, c.now()).fields)
    allocation = c.store.allocation(need_id)
    if allocation["state"] != "pledging":  # a redelivery, or cancelled before it got here
        c.outbox.flush(c.store.allocations, allocation)
        return DUPLICATE if allocation["state"] in ("pledged", "shortfall") else None
    pledges, shortfall = pledging.reserve(c, need, lines)
    change = domain.pledged(need, pledges, shortfall)
    done = c.store.finish_allocation(need_id, change, c.now())
    if not done:  # cancelled while pledging: give back what was just reserved
        pledging.release(c, need_id, need["community"])
        return None
    c.outbox.flush(c.store.allocations, done)
    count_value("pledged", need["community"], sum(p["value_cents"] for p in pledges))
    c.log.info("resources." + change.events[0].type, pledges=len(pledges), shortfall=len(shortfall))
    if shortfall:  # lots that arrived while this need was being pledged were offered to open
        pledging.fill_appeals(c)  # appeals only; this one opened after, so look again
    return None


def need_cancelled(c, event):
    """Close the need's allocation for good and give its pledges back, once; what came back may
    cover another need's shortfall."""
    c.store.close_allocation(event.need_id, event.data["community"])
    if pledging.release(c, event.need_id, event.data["community"]):
        pledging.fill_appeals(c)


def appeals(c, region=None, limit=50, cursor=None):
    """Open appeals (needs whose resources are short), most urgent first, then oldest."""
    docs, next_cursor = c.store.appeals_page(region, limit, cursor)
    return {"items": [domain.appeal(d) for d in docs], "next_cursor": next_cursor}


def settle(c):
    """Repair what a crash left: ledger entries not posted, appeals not filled while matching
    lots sit available (a top-up round whose holder went silent is taken over)."""
    for lot_ in c.store.unposted(later(c.now(), seconds=-LEDGER_GRACE_SECONDS)):
        c.store.post_ledger(lot_)
    pledging.fill_appeals(c)

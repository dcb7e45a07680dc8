"""Pledging lots to needs: a need's first pledging, giving pledges back, and topping up open
appeals from lots that arrive later. The rules are in `domain`; these are the sequences of
conditional store updates that apply them, for the use cases in `handlers` (each takes its
`Charity` context, `c`)."""
from services.charity import domain
from services.charity.domain import EPSILON
from services.charity import metrics
from wushe.runtime import cas
from wushe.runtime.cas import Contention
from wushe.contract.regions import truncate

ROUNDS = 20  # top-up rounds of one appeal in a row, each asked for by lots that arrived meanwhile
BUSY = "busy"


def count_value(event, community, cents):
    """The operations dashboard's value of resources pledged or delivered, by district."""
    if cents:
        metrics.RESOURCES_VALUE_CENTS.labels(event, truncate(community, "district")).inc(cents)


def reserve(c, need, lines):
    """A need's first pledging: reserve each line from the nearest, oldest lots; (pledge lines,
    missing lines). What an earlier, interrupted delivery of the same event reserved counts."""
    need_id = need["need_id"]
    held = [(lot, p) for lot, p in c.store.pledged_to(need_id) if not p.get("round")]
    return _draw(c, need_id, need["community"], domain.wanted(lines), held)


def _draw(c, need_id, community, wants, held, round_id=None):
    """Reserve what each wanted line misses, after what `held` already pledges to it, from the
    lots that may serve it, nearest and oldest first: the one way a line is filled, at a need's
    first pledging and at an appeal's top-up (whose pledges name its round, so that a lot may
    serve the same line again). (pledge lines, the lines still short)."""
    pledges, shortfall = [], []
    for want in wants:
        line = want["line"]
        mine = [(lot, p) for lot, p in held if p["line"] == line]
        pledges += [domain.pledge_line(lot, p) for lot, p in mine]
        remaining = want["quantity"] - sum(p["quantity"] for _, p in mine)
        for lot in _lots_for(c, want, community):
            if remaining <= EPSILON:
                break
            # a lot already holding this pledge (same need, line and round) gives nothing more
            reserved = _reserve_from(c, lot, domain.new_pledge(need_id, community, line, lot["_id"], round_id),
                                     remaining)
            if reserved:
                pledges.append(domain.pledge_line(*reserved))
                remaining -= reserved[1]["quantity"]
        if remaining > EPSILON:
            shortfall.append({**want, "quantity": round(remaining, 6)})
    return pledges, shortfall


def _lots_for(c, want, community):
    """The lots that may serve a line of a need in `community`, in draw order."""
    lots = c.store.candidates(want["item"], want["unit"], truncate(community, "city"))
    return domain.rank(domain.usable(lots, c.now()), community)


def _reserve_from(c, lot, pledge, wanted):
    """Take up to `wanted` from one lot (as read to draw from: without its pledges): (lot after,
    pledge) or None when it gives nothing. When a concurrent pledge got there first, or the lot
    holds this pledge already (an earlier attempt), the lot is read again and what it can give
    decided again."""
    read = lot

    def attempt():
        nonlocal read
        current, read = (read if read is not None else c.store.lot_to_draw(lot["_id"], pledge["pledge_id"])), None
        quantity = domain.take(current, pledge, wanted)
        if not quantity:
            return None
        taken = {**pledge, "quantity": quantity}
        updated = c.store.reserve(current["_id"], pledge, quantity, domain.pledged_entry(current, taken, c.now()))
        if updated is None:
            return cas.AGAIN
        c.store.post_ledger(updated)
        return updated, taken

    return cas.until_written(attempt, what=f"lot {lot['_id']}")


def release(c, need_id, community):
    """Give every reserved pledge of the need back to its lot, then announce, once, all that
    were released — also those a crashed earlier attempt released without announcing.
    True when anything came back now."""
    returned = False
    for lot, pledge in c.store.pledged_to(need_id):
        if pledge["state"] == "reserved":
            updated = c.store.release(lot, pledge, domain.released_entry(lot, pledge, c.now()))
            if updated:
                returned = True
                c.store.post_ledger(updated)
    released = [domain.pledge_line(lot, p) for lot, p in c.store.pledged_to(need_id) if p["state"] == "released"]
    if released:
        announced = c.store.mark_released(need_id, domain.released(need_id, community, released), c.now())
        if announced is not None:
            c.outbox.flush(c.store.allocations, announced)
            count_value("released", community, sum(p["value_cents"] for p in released))
    return returned


# --- appeals ----------------------------------------------------------------------------------
def fill_appeals(c):
    """Pledge available lots to open appeals, most urgent first, then oldest. One round at a
    time holds an appeal; a pass that finds one held asks its holder to look again and stops
    there: the holder's pass carries on behind it, reading appeals and lots afresh at each
    step, so it sees the lots that made the other pass start, and urgency order is kept."""
    after = ""
    while True:
        allocation = c.store.next_appeal(c.store.available_keys(), after)
        if allocation is None or _fill(c, allocation["_id"]) == BUSY:
            return
        after = allocation["priority"]


def _fill(c, need_id):
    """Top the appeal up, round after round while its holder is asked to look again (lots
    arrived meanwhile); None, or BUSY when another worker holds it."""

    def attempt():
        held = _hold(c, need_id)
        if held in (None, BUSY):
            return held
        try:
            before = _top_up(c, held)
        except Exception as exc:
            # given up at once, not held until its lease runs out: the next pass takes the round
            # over and adopts what it reserved
            c.store.let_go(need_id, held["pending"]["token"])
            if not isinstance(exc, Contention):
                raise
            # a lot changing too fast: the next pass, or the periodic check (`settle`), carries on
            c.log.warning("appeal.round_failed", need_id=need_id, error=str(exc)[:200])
            return None
        return cas.AGAIN if before and before.get("pending", {}).get("recheck") else None

    try:
        return cas.until_written(attempt, attempts=ROUNDS, what=f"appeal {need_id}")
    except Contention:
        # asked to look again ROUNDS times in a row: the periodic check (`settle`) carries on
        c.log.warning("appeal.rounds_exhausted", need_id=need_id, rounds=ROUNDS)
        return None


def _hold(c, need_id):
    """The appeal held for one round by this worker; None when there is nothing to do, BUSY
    when another worker holds it (and has been asked to look again)."""

    def attempt():
        allocation = c.store.appeal(need_id)
        if not allocation or allocation["state"] != "shortfall":
            return None
        pending = allocation.get("pending")
        if not pending:
            if not any(_lots_for(c, missing, allocation["community"]) for missing in allocation.get("shortfall", [])):
                return None
            held = c.store.hold(allocation, c.new_id("fill"), c.new_id("round"), c.now())
        elif domain.holder_silent(pending, c.now(), c.lease_seconds):
            held = c.store.take_over(allocation, c.new_id("fill"), c.new_id("round"), c.now())
        else:
            held = BUSY if c.store.ask_recheck(allocation) else None
        return held or cas.AGAIN

    return cas.until_written(attempt, what=f"appeal {need_id}")


def _top_up(c, allocation):
    """One round: reserve what the appeal misses from available lots, then, only while this
    worker still holds the appeal, record the pledges and announce the need's new state.
    The reservations of this round (from an interrupted attempt) and of rounds whose holder
    went silent are adopted."""
    need_id, community = allocation["_id"], allocation["community"]
    token, round_id = allocation["pending"]["token"], allocation["pending"]["round"]
    rounds = {round_id, *allocation["pending"].get("adopt", [])}
    held = [(lot, p) for lot, p in c.store.pledged_to(need_id)
            if p.get("round") in rounds and p["state"] == "reserved"]
    wants = [{**missing, "line": missing.get("line", index)}
             for index, missing in enumerate(allocation.get("shortfall", []))]
    new_pledges, shortfall = _draw(c, need_id, community, wants, held, round_id)
    change = domain.topped_up(allocation, new_pledges, shortfall)
    before = c.store.finish_top_up(need_id, token, change, c.now())
    if before is None:  # no longer ours: cancelled (give back), or taken over (the new holder adopts)
        if c.store.allocation_state(need_id) == "cancelled":
            release(c, need_id, community)
        return None
    if change.events:
        c.outbox.flush(c.store.allocations, c.store.allocation(need_id))
        count_value("pledged", community, sum(p["value_cents"] for p in new_pledges))
        c.log.info("appeal." + change.events[0].type, need_id=need_id, pledges=len(new_pledges),
                   shortfall=len(shortfall))
    return before

"""The calls' use cases: a call opened and cancelled with its need, claims (抢单), the waiting list
and withdrawals, team-first offers, attendance and completion, and the timers that settle
deadlines, no-shows and bookings. Plain functions of a `handlers.Volunteers`, like the rest.

Every change to a call is one compare-and-set on its version (`store.change_call`), its events
in its outbox in the same write; a claim on a windowed call first books the window on the
volunteer, by one update that matches only while no booking of theirs overlaps it."""
from services.volunteers import attendance, domain, metrics
from wushe.contract.regions import truncate
from services.volunteers.domain import SOURCE
from services.volunteers.handlers import credit, volunteer
from wushe.contract.clock import iso
from wushe.contract.decisions import Refused, existing
from wushe.contract.events import stamped
from wushe.runtime.subscribe import DUPLICATE


def call(c, call_id, within=""):
    """The call; `within` (here and below): the asking key's region, outside which a call (or a
    team, a volunteer) is refused as one that is not there."""
    return existing(c.store.call(call_id), "call", call_id, within=within)


def calls(c, state=None, community=None, team=None, limit=50, cursor=None):
    """A page of calls (and the next page's cursor): in a state, offered to a team, near a
    community (its street's calls; a larger region: everything under it)."""
    return c.store.calls_page(state, team, domain.near(community) if community else None, limit, cursor)


# the call's own life --------------------------------------------------------------------------
def open_call(c, event):
    """A need asking for volunteers opens its call, once: the call's id derives from the need's,
    so a redelivered `need_registered` only publishes whatever the first left pending."""
    need = event.data
    if not need["requirements"].get("volunteers") or c.store.need_cancelled(need["need_id"]):
        return None
    at = c.now()
    made = domain.new_call(domain.call_id_for(need["need_id"]), need, c.rules.call_expiry_hours, at,
                           c.rules.team_first_hours)
    events = [stamped(SOURCE, e, at) for e in made.events]
    if not c.store.open_call(made.fields, events):
        c.outbox.flush(c.store.calls, c.store.call_for_need(need["need_id"]))
        return DUPLICATE
    c.outbox.flush(c.store.calls, {"_id": made.fields["_id"], "outbox": events})
    metrics.zero_district(truncate(need["community"], "district"))
    if c.store.need_cancelled(need["need_id"]):  # cancelled meanwhile
        _cancel(c, made.fields["_id"])
    return None


def cancel_call(c, event):
    """The need was cancelled: its call closes (a tombstone keeps a late `need_registered` from
    opening one)."""
    c.store.mark_need_cancelled(event.need_id, event.time)
    call_id = c.store.call_id_of_need(event.need_id)
    if call_id:
        _cancel(c, call_id)


def _cancel(c, call_id):
    at = c.now()
    _, change = _change_call(c, call_id, lambda current: current and domain.cancel(current, at, "need_cancelled"), at)
    for volunteer_id in (change.answer["released"] if change else []):
        c.store.unbook(volunteer_id, call_id)


def offer(c, call_id, team_id, hours=None, within=""):
    """Offer an open call to a team first (e.g. 助困陪诊 for an escort to hospital). The call is
    looked for before the team, as the gateway did: a call not there is 404 whatever the team."""
    found = call(c, call_id, within)
    existing(c.store.team(team_id), "team", team_id, "team_id", within)
    hours = hours or c.rules.team_first_hours
    at = c.now()
    return _change_call(c, call_id, _of(call_id, lambda current: domain.offer(current, team_id, at, hours)), at,
                        read=found)[0]


def reopen(c, call_id, expires_at, within=""):
    """A station opens an expired call again, with a new deadline (the need links if it fills)."""
    at, expires_at = c.now(), iso(expires_at)
    return _change_call(c, call_id, _of(call_id, lambda current: domain.reopen(current, expires_at, at), within),
                        at)[0]


# claims and the waiting list --------------------------------------------------------------------
def claim(c, call_id, volunteer_id, wait=False, within=""):
    """Take a slot (抢单), or join the waiting list of a full call with `wait`. A windowed call's
    window is booked on the volunteer first; a refused claim gives it back."""
    found = call(c, call_id, within)
    # the claimant too: a claim books the volunteer's window and later credits their hours
    claimant = volunteer(c, volunteer_id, field="volunteer_id", within=within)
    domain.skilled(found, claimant)
    at = c.now()
    booked = _book(c, claimant, found, at)
    try:
        updated, change = _change_call(c, call_id, _of(call_id, lambda current: domain.claim(
            current, claimant, at, wait=wait, waiting_max=c.rules.waiting_list_max)), at, read=found)
    except Exception:
        if booked:  # the window this request booked is free again
            c.store.unbook(volunteer_id, call_id)
        raise
    c.log.info("call." + change.answer["status"], need_id=found["need_id"], call_id=call_id, volunteer_id=volunteer_id)
    return {"call_id": call_id, "volunteer_id": volunteer_id, "slots": found["slots"],
            "call_version": updated["version"], **change.answer}


def withdraw(c, call_id, volunteer_id, within=""):
    """Give a claim back before the service starts; the first volunteer waiting takes it.
    (answer, the call after it)."""
    at = c.now()
    updated, change = _change_call(c, call_id, _of(call_id, lambda current: domain.withdraw(current, volunteer_id, at),
                                                   within), at)
    c.store.unbook(volunteer_id, call_id)
    c.log.info("call.withdrawn", need_id=updated["need_id"], call_id=call_id, volunteer_id=volunteer_id,
               promoted=change.answer["promoted"])
    return {"call_id": call_id, "volunteer_id": volunteer_id, **change.answer}, updated


def _book(c, claimant, found, at):
    """Book the call's service window for the volunteer (refused when it overlaps one of their
    claims). True when this request made the booking."""
    wanted = domain.booking(found)
    if not wanted:
        return False
    if c.store.book(claimant["_id"], wanted, at):
        return True
    domain.clash(c.store.bookings_of(claimant["_id"]), wanted)
    return False  # booked for this call already (a retry); the claim decides


# attendance and completion -------------------------------------------------------------------------
def check_in(c, call_id, volunteer_id, within=""):
    at = c.now()
    _, change = _change_call(c, call_id, _of(call_id, lambda current: attendance.check_in(current, volunteer_id, at),
                                             within), at)
    return {"call_id": call_id, "volunteer_id": volunteer_id, **change.answer}


def check_out(c, call_id, volunteer_id, within=""):
    """Check out: the attended time, to the quarter hour, is credited to the time bank once."""
    at = c.now()
    updated, _ = _change_call(c, call_id, _of(call_id, lambda current: attendance.check_out(
        current, volunteer_id, at, c.rules.attendance_cap_hours), within), at)
    record = domain.attendance_of(updated, volunteer_id)
    credited = credit(c, updated, volunteer_id, record["hours"])
    balance = (credited or volunteer(c, volunteer_id))["hours_balance"]
    return {"call_id": call_id, "volunteer_id": volunteer_id, "hours": record["hours"],
            "checked_in_at": record["checked_in_at"], "checked_out_at": record["checked_out_at"],
            "hours_balance": balance}


def complete(c, call_id, volunteer_id, hours, within=""):
    """A coordinator records a service done (when nobody checked in and out on the call)."""
    found = call(c, call_id, within)
    volunteer(c, volunteer_id, field="volunteer_id", within=within)
    domain.completable(found, volunteer_id)
    credited = credit(c, found, volunteer_id, hours)
    if not credited:
        raise Refused("this volunteer's hours for this call are already credited")
    return {"call_id": call_id, "volunteer_id": volunteer_id, "hours": hours,
            "hours_balance": credited["hours_balance"]}


# timers and figures -------------------------------------------------------------------------------
def settle_calls(c):
    """Deadlines and no-shows: calls open at their deadline expire; claimants not checked in
    once a service is under way are recorded as no-shows."""
    now = c.now()
    for call_id in c.store.open_call_ids(limit=5000):
        _change_call(c, call_id, lambda current: current and domain.settle(current, now), now)
    _measure_open_calls(c, now)
    grace = c.rules.no_show_grace_minutes
    for call_id in c.store.calls_due_roll_call(attendance.roll_call_before(now, grace), limit=5000):
        _change_call(c, call_id, lambda current: current and attendance.no_shows(current, now, grace), now)


def settle_bookings(c):
    """Free the windows no claim holds any more: a claim refused after its booking, a crash
    between the two, a call cancelled, a service long over."""
    now = c.now()
    settled = domain.booking_settled_before(now)
    for holder in c.store.with_bookings_before(settled, limit=1000):
        for booking in holder["bookings"]:
            if booking["at"] > settled:
                continue  # a claim may be on its way
            if domain.booking_unheld(booking, c.store.claims_on(booking["call_id"]), holder["_id"], now):
                c.store.unbook(holder["_id"], booking["call_id"])


def stats(c, region):
    return domain.statistics(c.store.calls_in(region), c.store.credited_hours_in(region))


def _measure_open_calls(c, now):
    """Open calls and the age of the oldest, by district, for the operations dashboard."""
    figures = domain.open_calls_by_district(c.store.open_calls_opened(), now)
    for district in set(figures) | c.districts_measured:
        count, oldest_seconds = figures.get(district, (0, 0))
        metrics.CALLS_OPEN.labels(district).set(count)
        metrics.OLDEST_OPEN_CALL_SECONDS.labels(district).set(oldest_seconds)
        metrics.zero_district(district)
    c.districts_measured.update(figures)


# ----------------------------------------------------------------------------------------------
def _of(call_id, rule, within=""):
    """`rule` as a compare-and-set's decision on a call that must be there (and in `within`)."""
    def decide(current):
        return rule(existing(current, "call", call_id, within=within))
    return decide


def _change_call(c, call_id, decide, at, read=None):
    """Apply `decide(call)` (a rule's Change, or None for nothing to do) by compare-and-set
    (`read`: the call as just read, to start from); announce what changed."""
    updated, change = c.store.change_call(call_id, decide, at, read=read)
    if change is not None:
        c.outbox.flush(c.store.calls, updated)
        if "state" in change.fields:
            c.log.info("call." + change.fields["state"], need_id=updated["need_id"], call_id=call_id)
    return updated, change

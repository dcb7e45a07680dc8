"""The volunteers' use cases: volunteers and teams, and the time bank (时间银行); the calls' own are
in `calls`. Each loads what it needs from the store, lets the rules decide (`domain`,
`timebank`), writes the decision (one conditional write: `store`), announces its events (the
outbox) and answers. Plain functions of a `Volunteers` — the store, the outbox, the log, the
rules in force and the clock — so they run the same in a nameko worker (`service.py`) and in a
test on the embedded store (`tests/handlers/`)."""
from dataclasses import dataclass, field
from typing import Any, Callable

from services.volunteers import domain, metrics, timebank
from services.volunteers.domain import SOURCE
from services.volunteers.store import VolunteersStore
from wushe.contract.clock import new_id, now_iso
from wushe.contract.decisions import Refused, existing
from wushe.contract.events import stamped
from wushe.contract.regions import truncate


@dataclass
class Volunteers:
    store: VolunteersStore
    outbox: Any                  # wushe.runtime.outbox.Outbox: flush(collection, document)
    log: Any
    rules: domain.Rules
    now: Callable[[], str] = now_iso
    new_id: Callable[[str], str] = new_id
    # the districts whose open calls were measured: one whose calls all closed reads 0
    districts_measured: set = field(default_factory=set)


# volunteers and teams ---------------------------------------------------------------------------
def add_volunteer(c, body):
    """Register a volunteer under the body's id or a new one; refused when the id is taken."""
    volunteer_id = body.get("id") or c.new_id("vol")
    record = domain.new_volunteer(volunteer_id, {k: v for k, v in body.items() if k != "id"}, c.now())
    if not c.store.add_volunteer(record):
        raise Refused(f"volunteer {volunteer_id} exists")
    return record


def volunteer(c, volunteer_id, field=None, within=""):
    """The volunteer; `within` (here and below): the asking key's region, outside which a record
    is refused as one that is not there."""
    return existing(c.store.volunteer(volunteer_id), "volunteer", volunteer_id, field, within)


def add_team(c, body):
    team_id = body.get("id") or c.new_id("team")
    if not c.store.add_team(domain.new_team(team_id, {k: v for k, v in body.items() if k != "id"}, c.now())):
        raise Refused(f"team {team_id} exists")
    return team(c, team_id)


def team(c, team_id, field=None, within=""):
    """The team with its members' ids."""
    found = existing(c.store.team(team_id), "team", team_id, field, within)
    return {**found, "members": c.store.team_members(team_id)}


def join_team(c, team_id, volunteer_id, within=""):
    team(c, team_id, within=within)
    volunteer(c, volunteer_id, field="volunteer_id", within=within)
    c.store.join_team(volunteer_id, team_id)
    return team(c, team_id)


# the time bank (时间银行) ------------------------------------------------------------------------
# Each movement starts with one guarded update of the volunteer it starts from (which leaves the
# transaction pending on them); record → pay → clear finish it, each step idempotent, and
# settle_ledger finishes whatever a crash left pending.
def credit(c, call, volunteer_id, hours):
    """Credit a service's hours to the volunteer's time bank, once per call and volunteer: the
    volunteer after it, or None when already credited."""
    at = c.now()
    made = timebank.credit(call, volunteer_id, hours, at)
    txn = made.fields
    updated = c.store.credit(volunteer_id, call["_id"], txn, stamped(SOURCE, made.events[0], at))
    if not updated:
        return None
    _finish(c, volunteer_id, txn)
    metrics.VOLUNTEER_HOURS.labels(truncate(call["community"], "district")).inc(txn["hours"])
    c.store.record_completion(call["_id"], volunteer_id, hours)
    c.outbox.flush(c.store.volunteers, updated)
    return updated


def redeem(c, volunteer_id, body, within=""):
    """Spend hours on a service for oneself or an elder of the family."""
    owner = volunteer(c, volunteer_id, within=within)
    at = c.now()
    made = timebank.redemption(body.get("id") or c.new_id("txn"), owner, body["hours"], body["service"],
                               body["beneficiary"], at)
    return _spend(c, owner, made, at)


def transfer(c, volunteer_id, body, within=""):
    """Give hours to another volunteer."""
    owner = volunteer(c, volunteer_id, within=within)
    volunteer(c, body["to_volunteer_id"], field="to_volunteer_id", within=within)
    at = c.now()
    made = timebank.transfer(body.get("id") or c.new_id("txn"), owner, body["to_volunteer_id"], body["hours"], at)
    return _spend(c, owner, made, at)


def ledger(c, volunteer_id, limit=50, within=""):
    """The volunteer's balance and their transactions, newest first."""
    owner = volunteer(c, volunteer_id, within=within)
    entries = timebank.entries_for(volunteer_id, c.store.transactions(volunteer_id, limit))
    return {"volunteer_id": volunteer_id, "hours_balance": owner["hours_balance"], "items": entries,
            "next_cursor": None}


def settle_ledger(c):
    """Finish the time-bank movements a crash left pending (recorded, paid, cleared)."""
    for owner in c.store.with_pending_movements(limit=500):
        for txn in owner["pending"]:
            _finish(c, owner["_id"], txn)


def _spend(c, owner, made, at):
    """Debit the owner (only while the balance covers it, once per transaction), then finish."""
    txn = made.fields
    announced = stamped(SOURCE, made.events[0], at)  # about the volunteer it starts from (its subject)
    updated = c.store.debit(owner["_id"], txn, announced)
    if not updated:
        raise timebank.not_debited(owner, txn, c.store.has_made(owner["_id"], txn["_id"]))
    _finish(c, owner["_id"], txn)
    c.outbox.flush(c.store.volunteers, updated)
    return {**made.answer, "hours_balance": updated["hours_balance"]}


def _finish(c, owner_id, txn):
    """Record the transaction, pay a volunteer payee, clear the marker — each idempotent."""
    c.store.record(txn)
    payee = timebank.payee_paid_apart(owner_id, txn)
    if payee:
        c.store.pay(payee, txn)
    c.store.clear(owner_id, txn["_id"])

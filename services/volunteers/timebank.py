"""The time bank (时间银行) as a double-entry ledger. Pure; no I/O.

Every credit, redemption and transfer is one immutable transaction document carrying its own
balancing legs, so the ledger sums to zero at every instant:

    credit      timebank:issued  −h   →  volunteer      +h   (a service done, once per call)
    redemption  volunteer        −h   →  timebank:redeemed +h (a service for oneself or an elder)
    transfer    volunteer A      −h   →  volunteer B    +h

Only volunteers' balances are kept on documents (the system accounts' balances are the sums
of their legs); a volunteer's balance never goes below zero.

A movement is decided here as a `Change` whose fields are the transaction (a new ledger
document) and whose event announces it (a draft, stamped by the use case); ids and times come in.
"""
from services.volunteers.domain import event
from wushe.contract.decisions import Change, Event, Refused

ISSUED = "timebank:issued"
REDEEMED = "timebank:redeemed"
KINDS = ("credit", "redemption", "transfer")


def credit_id(call_id, volunteer_id):
    """Deterministic: a call credits a volunteer once, whatever is retried or redelivered."""
    return f"credit:{call_id}:{volunteer_id}"


def credit(call, volunteer_id, hours, at):
    """A service's hours credited to the volunteer: once per call and volunteer (the id says so)."""
    txn = transaction(credit_id(call["_id"], volunteer_id), "credit", ISSUED, volunteer_id, hours, at,
                      call_id=call["_id"], community=call["community"])
    return Change(txn, (event(call, "hours_credited", volunteer_id=volunteer_id, hours=hours),), _answer(txn))


def redemption(txn_id, volunteer, hours, service, beneficiary, at):
    """Hours spent on a service for the volunteer or a family member (an elder)."""
    txn = transaction(txn_id, "redemption", volunteer["_id"], REDEEMED, hours, at, service=service,
                      beneficiary=beneficiary)
    return Change(txn, (Event("hours_redeemed", {**_moved(volunteer, txn), "beneficiary": beneficiary},
                              subject=volunteer["_id"]),),
                  _answer(txn))


def transfer(txn_id, volunteer, to_volunteer_id, hours, at):
    """Hours given to another volunteer; never to oneself."""
    refused = transfer_refused(volunteer["_id"], to_volunteer_id)
    if refused:
        raise Refused.invalid(refused, {"to_volunteer_id": [refused]})
    txn = transaction(txn_id, "transfer", volunteer["_id"], to_volunteer_id, hours, at)
    return Change(txn, (Event("hours_transferred", {**_moved(volunteer, txn), "to_volunteer_id": to_volunteer_id},
                              subject=volunteer["_id"]),),
                  _answer(txn))


def not_debited(volunteer, txn, made_already):
    """Why a debit wrote nothing: the transaction was made before (a retry with its id), or the
    balance (as read before the debit) does not cover it."""
    if made_already:
        return Refused(f"transaction {txn['_id']} was already made")
    return Refused(f"the balance ({volunteer['hours_balance']:g} h) does not cover {txn['hours']:g} h")


def payee_paid_apart(owner_id, txn):
    """The volunteer a movement started from `owner_id` still pays (a transfer's payee), or None:
    a credit's payee is its owner, paid in the first write, and a system account keeps no balance."""
    payee = txn["legs"][1]["account"]
    return None if payee == owner_id or payee.startswith("timebank:") else payee


def _moved(volunteer, txn):
    return {"volunteer_id": volunteer["_id"], "community": volunteer["community"], "txn_id": txn["_id"],
            "hours": txn["hours"]}


def _answer(txn):
    return {"txn_id": txn["_id"], "kind": txn["kind"], "hours": txn["hours"]}


def transaction(txn_id, kind, payer, payee, hours, at, **details):
    hours = round(float(hours), 2)
    return {"_id": txn_id, "kind": kind, "at": at, "hours": hours, "accounts": [payer, payee],
            "legs": [{"account": payer, "hours": -hours}, {"account": payee, "hours": hours}], **details}


def entries_for(account, transactions):
    """An account's view of its transactions, newest first: signed hours and the counterparty."""
    rows = []
    for txn in transactions:
        mine = next(leg for leg in txn["legs"] if leg["account"] == account)
        other = next(leg for leg in txn["legs"] if leg is not mine)
        details = {k: v for k, v in txn.items() if k not in ("_id", "legs", "accounts", "kind", "at", "hours")}
        rows.append({"txn_id": txn["_id"], "kind": txn["kind"], "hours": mine["hours"],
                     "counterparty": other["account"], "at": txn["at"], **details})
    return sorted(rows, key=lambda r: (r["at"], r["txn_id"]), reverse=True)


def balance_of(account, transactions):
    return round(sum(leg["hours"] for txn in transactions for leg in txn["legs"] if leg["account"] == account), 2)


def transfer_refused(payer_id, payee_id):
    return "a volunteer cannot transfer hours to themselves" if payer_id == payee_id else None

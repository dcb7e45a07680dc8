"""The time bank (时间银行) as a double-entry ledger. Pure; no I/O.

Every credit, redemption and transfer is one immutable transaction document carrying its own
balancing legs, so the ledger sums to zero at every instant:

    credit      timebank:issued  −h   →  volunteer      +h   (a service done, once per call)
    redemption  volunteer        −h   →  timebank:redeemed +h (a service for oneself or an elder)
    transfer    volunteer A      −h   →  volunteer B    +h

Only volunteers' balances are kept on documents (the system accounts' balances are the sums
of their legs); a volunteer's balance never goes below zero.
"""
ISSUED = "timebank:issued"
REDEEMED = "timebank:redeemed"
KINDS = ("credit", "redemption", "transfer")


def credit_id(call_id, volunteer_id):
    """Deterministic: a call credits a volunteer once, whatever is retried or redelivered."""
    return f"credit:{call_id}:{volunteer_id}"


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

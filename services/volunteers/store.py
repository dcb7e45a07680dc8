"""The volunteers service's collections: volunteers (with their time bank), calls, cancellations."""
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from wushe.outbox import entries
from wushe.store import after


class VolunteersStore:
    def __init__(self, db):
        self.volunteers = db.volunteers
        self.calls = db.calls
        self.cancelled = db.cancelled_needs  # tombstones: a late need_registered opens no call
        self.ledger = db.ledger              # the time bank's transactions, each with balancing legs

    def ensure_indexes(self):
        self.calls.create_index("need_id", unique=True)  # one call per need
        self.calls.create_index([("state", ASCENDING), ("expires_at", ASCENDING)])
        self.calls.create_index([("street", ASCENDING), ("state", ASCENDING)])
        self.volunteers.create_index("community")
        self.ledger.create_index([("accounts", ASCENDING), ("at", ASCENDING)])
        self.ledger.create_index([("kind", ASCENDING), ("community", ASCENDING)])

    def outboxes(self):
        return [self.calls, self.volunteers]

    def claim(self, call, volunteer_id, event):
        """Add a claim only while the call is open, not full, and not yet claimed by this
        volunteer — one conditional update, so exactly `slots` claims ever succeed."""
        return after(self.calls,
                     {"_id": call["_id"], "state": "open", "claimed": {"$ne": volunteer_id},
                      f"claimed.{call['slots'] - 1}": {"$exists": False}},
                     {"$push": {"claimed": volunteer_id, "outbox": event}})

    def move(self, call, from_states, to, event, **fields):
        """Change a call's state if it is still in one of `from_states`, with its event."""
        return after(self.calls, {"_id": call["_id"], "state": {"$in": list(from_states)}},
                     {"$set": {"state": to, **fields}, **entries(event)})

    # the time bank ----------------------------------------------------------------------------
    # Each movement starts with one guarded update of the volunteer it starts from, which also
    # leaves the transaction as a `pending` marker; record → pay → clear finish it, each step
    # idempotent, and settle_ledger finishes whatever a crash left pending.
    def credit(self, volunteer_id, call_id, txn, event):
        """Credit the hours once per call and volunteer: the call id is recorded in the same update."""
        return after(self.volunteers, {"_id": volunteer_id, "credited_calls": {"$ne": call_id}},
                     {"$inc": {"hours_balance": txn["hours"]},
                      "$push": {"credited_calls": call_id, "txns": txn["_id"], "pending": txn, "outbox": event}})

    def debit(self, volunteer_id, txn, event):
        """Take the hours only while the balance covers them (never below zero), once per transaction."""
        return after(self.volunteers, {"_id": volunteer_id, "hours_balance": {"$gte": txn["hours"]},
                                       "txns": {"$ne": txn["_id"]}},
                     {"$inc": {"hours_balance": -txn["hours"]},
                      "$push": {"txns": txn["_id"], "pending": txn, "outbox": event}})

    def record(self, txn):
        try:
            self.ledger.insert_one(txn)
        except DuplicateKeyError:
            pass  # recorded before a crash

    def pay(self, volunteer_id, txn):
        self.volunteers.update_one({"_id": volunteer_id, "txns": {"$ne": txn["_id"]}},
                                   {"$inc": {"hours_balance": txn["hours"]}, "$push": {"txns": txn["_id"]}})

    def clear(self, volunteer_id, txn_id):
        self.volunteers.update_one({"_id": volunteer_id}, {"$pull": {"pending": {"_id": txn_id}}})

    def transactions(self, account, limit=None):
        cursor = self.ledger.find({"accounts": account}).sort("at", -1)
        return list(cursor.limit(limit) if limit else cursor)

"""The volunteers service's collections: volunteers (with their time bank and bookings), teams,
calls, cancellations and the time-bank ledger."""
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from services.volunteers.domain import SOURCE
from wushe import cas
from wushe.store import after


class VolunteersStore:
    def __init__(self, db):
        self.volunteers = db.volunteers
        self.teams = db.teams
        self.calls = db.calls
        self.cancelled = db.cancelled_needs  # tombstones: a late need_registered opens no call
        self.ledger = db.ledger              # the time bank's transactions, each with balancing legs

    def ensure_indexes(self):
        self.calls.create_index("need_id", unique=True)  # one call per need
        self.calls.create_index([("state", ASCENDING), ("expires_at", ASCENDING)])
        self.calls.create_index([("street", ASCENDING), ("state", ASCENDING)])
        self.calls.create_index([("state", ASCENDING), ("starts_at", ASCENDING)])
        self.calls.create_index("team_id", sparse=True)
        self.calls.create_index("community")  # a region's calls (/stats)
        self.volunteers.create_index("community")
        self.volunteers.create_index("teams")
        self.volunteers.create_index("bookings.call_id")
        # sparse: only volunteers holding bookings, or time-bank movements a crash left pending
        self.volunteers.create_index("bookings.at", sparse=True)
        self.volunteers.create_index("pending._id", sparse=True)
        self.ledger.create_index([("accounts", ASCENDING), ("at", ASCENDING)])
        self.ledger.create_index([("kind", ASCENDING), ("community", ASCENDING)])

    def outboxes(self):
        return [self.calls, self.volunteers]

    def change_call(self, call_id, decide, at, read=None):
        """Apply `decide(call)` (a rule's Change, or None) by compare-and-set on the call's
        version, its events in its outbox in the same write: (call after, change). Concurrent
        claims and withdrawals serialise here, so exactly `slots` claims hold at any time."""
        return cas.change(self.calls, call_id, decide, source=SOURCE, at=at, read=read, attempts=200,
                          what=f"call {call_id}")

    def with_pending_movements(self, limit):
        """Volunteers with a time-bank movement a crash left half done."""
        return self.volunteers.find({"pending._id": {"$exists": True}}, {"pending": 1}).limit(limit)

    # bookings: a volunteer's claimed service windows never overlap ------------------------------
    def with_bookings_before(self, at, limit):
        """Volunteers holding a booking made before `at` (a newer one's claim may be on its way)."""
        return self.volunteers.find({"bookings.at": {"$lt": at}}, {"bookings": 1}).limit(limit)

    def book(self, volunteer_id, booking, at):
        """Book the window unless another booking overlaps it — one conditional update of the
        volunteer. True when booked now, False when this call was already booked."""
        updated = after(self.volunteers, {
            "_id": volunteer_id, "bookings.call_id": {"$ne": booking["call_id"]},
            "bookings": {"$not": {"$elemMatch": {"starts_at": {"$lt": booking["ends_at"]},
                                                 "ends_at": {"$gt": booking["starts_at"]}}}}},
            {"$push": {"bookings": {**booking, "at": at}}})
        return updated is not None

    def unbook(self, volunteer_id, call_id):
        self.volunteers.update_one({"_id": volunteer_id}, {"$pull": {"bookings": {"call_id": call_id}}})

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

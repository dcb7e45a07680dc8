"""The volunteers service's collections: volunteers (with their time bank), calls, cancellations."""
from pymongo import ASCENDING

from wushe.outbox import entries
from wushe.store import after


class VolunteersStore:
    def __init__(self, db):
        self.volunteers = db.volunteers
        self.calls = db.calls
        self.cancelled = db.cancelled_needs  # tombstones: a late need_registered opens no call

    def ensure_indexes(self):
        self.calls.create_index("need_id", unique=True)  # one call per need
        self.calls.create_index([("state", ASCENDING), ("expires_at", ASCENDING)])
        self.calls.create_index([("street", ASCENDING), ("state", ASCENDING)])
        self.volunteers.create_index("community")

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

    def credit(self, volunteer_id, call_id, hours, event):
        """Credit the hours once per call and volunteer: the call id is recorded in the same update."""
        return after(self.volunteers, {"_id": volunteer_id, "credited_calls": {"$ne": call_id}},
                     {"$inc": {"hours_balance": hours}, "$push": {"credited_calls": call_id, "outbox": event}})

"""The volunteers service's collections: volunteers (with their time bank and bookings), teams,
calls, cancellations and the time-bank ledger."""
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from services.volunteers.domain import LIVE, SOURCE
from wushe.runtime import cas, outbox
from wushe.contract.regions import under_filter
from wushe.runtime.store import after, insert_new, page

WITHOUT_OUTBOX = outbox.WITHOUT


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

    # volunteers and teams ---------------------------------------------------------------------
    def add_volunteer(self, volunteer):
        """Insert a volunteer; False when the id is taken."""
        return insert_new(self.volunteers, volunteer)

    def volunteer(self, volunteer_id):
        return self.volunteers.find_one({"_id": volunteer_id}, WITHOUT_OUTBOX)

    def add_team(self, team):
        """Insert a team; False when the id is taken."""
        return insert_new(self.teams, team)

    def team(self, team_id):
        return self.teams.find_one({"_id": team_id})

    def team_members(self, team_id):
        """The ids of the team's volunteers, in order."""
        return [v["_id"] for v in self.volunteers.find({"teams": team_id}, {"_id": 1}).sort("_id", 1)]

    def join_team(self, volunteer_id, team_id):
        self.volunteers.update_one({"_id": volunteer_id}, {"$addToSet": {"teams": team_id}})

    # calls ----------------------------------------------------------------------------------------
    def open_call(self, call, events):
        """Insert the call with its events in its outbox; False when its need has one already
        (the unique need_id, or its id derived from the need's)."""
        return insert_new(self.calls, {**call, "outbox": list(events)})

    def call(self, call_id):
        return self.calls.find_one({"_id": call_id}, WITHOUT_OUTBOX)

    def call_id_of_need(self, need_id):
        found = self.calls.find_one({"need_id": need_id}, {"_id": 1})
        return found and found["_id"]

    def call_for_need(self, need_id):
        """The need's call with its outbox (what a redelivery still has to publish)."""
        return self.calls.find_one({"need_id": need_id})

    def calls_page(self, state=None, team_id=None, region=None, limit=50, cursor=None):
        """A page of calls in a state, offered to a team, in a region, by id."""
        query = {}
        if state:
            query["state"] = state
        if team_id:
            query["team_id"] = team_id
        if region:
            query["street"] = under_filter(region)
        return page(self.calls, query, limit, cursor)

    def change_call(self, call_id, decide, at, read=None):
        """Apply `decide(call)` (a rule's Change, or None) by compare-and-set on the call's
        version, its events in its outbox in the same write: (call after, change). Concurrent
        claims and withdrawals serialise here, so exactly `slots` claims hold at any time."""
        return cas.change(self.calls, call_id, decide, source=SOURCE, at=at, read=read, attempts=200,
                          what=f"call {call_id}")

    def open_call_ids(self, limit):
        """The calls still open (for their deadline)."""
        return [c["_id"] for c in self.calls.find({"state": "open"}, {"_id": 1}).limit(limit)]

    def open_calls_opened(self):
        """Each open call's street and opening time."""
        return list(self.calls.find({"state": "open"}, {"street": 1, "opened_at": 1}))

    def calls_due_roll_call(self, started_before, limit):
        """Live calls whose service started before `started_before`, their attendance not yet
        checked (for no-shows)."""
        return [c["_id"] for c in self.calls.find({"state": {"$in": list(LIVE)}, "starts_at": {"$lt": started_before},
                                                   "attendance_checked": {"$ne": True}}, {"_id": 1}).limit(limit)]

    def claims_on(self, call_id):
        """The call's claims, waiting list and state; None when there is no such call."""
        return self.calls.find_one({"_id": call_id}, {"claimed": 1, "waiting": 1, "state": 1})

    def record_completion(self, call_id, volunteer_id, hours):
        """The call keeps the services done for it (the statistics' 人次 and hours), each once."""
        self.calls.update_one({"_id": call_id}, {"$addToSet": {"completions": {
            "volunteer_id": volunteer_id, "hours": hours}}})

    def calls_in(self, region):
        """A region's calls, with what its figures count."""
        return list(self.calls.find({"community": under_filter(region)},
                                    {"completions": 1, "waiting": 1, "state": 1, "no_shows": 1}))

    # cancelled needs: a late need_registered opens no call ---------------------------------------
    def mark_need_cancelled(self, need_id, at):
        insert_new(self.cancelled, {"_id": need_id, "at": at})

    def need_cancelled(self, need_id):
        return self.cancelled.find_one({"_id": need_id}) is not None

    # bookings: a volunteer's claimed service windows never overlap ------------------------------
    def with_bookings_before(self, at, limit):
        """Volunteers holding a booking made before `at` (a newer one's claim may be on its way)."""
        return self.volunteers.find({"bookings.at": {"$lt": at}}, {"bookings": 1}).limit(limit)

    def bookings_of(self, volunteer_id):
        return (self.volunteers.find_one({"_id": volunteer_id}, {"bookings": 1}) or {}).get("bookings", [])

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
    def with_pending_movements(self, limit):
        """Volunteers with a time-bank movement a crash left half done."""
        return self.volunteers.find({"pending._id": {"$exists": True}}, {"pending": 1}).limit(limit)

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

    def has_made(self, volunteer_id, txn_id):
        """Whether the volunteer's time bank holds this transaction already."""
        return self.volunteers.find_one({"_id": volunteer_id, "txns": txn_id}, {"_id": 1}) is not None

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

    def credited_hours_in(self, region):
        """The hours of every credit for a service on a call in the region."""
        return [txn["hours"] for txn in self.ledger.find({"kind": "credit", "community": under_filter(region)},
                                                         {"hours": 1})]

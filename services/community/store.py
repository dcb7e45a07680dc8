"""The community's collections: regions, needs, and residents (the only place personal data
lives, and there only sealed: wushe/contract/residents.py)."""
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from services.community.domain import SOURCE
from wushe.contract.residents import FIELDS
from wushe.runtime import cas, outbox
from wushe.runtime.outbox import entries
from wushe.runtime.store import after, insert_new


class CommunityStore:
    def __init__(self, db):
        self.db = db
        self.regions = db.regions
        self.needs = db.needs
        self.residents = db.residents
        self.refused_reports = db.refused_reports  # answers to stations' refused reports (outbox only)

    def ensure_indexes(self):
        self.regions.create_index([("parent", ASCENDING)])
        self.needs.create_index([("community", ASCENDING), ("registered_at", DESCENDING)])
        self.needs.create_index([("status", ASCENDING)])
        self.needs.create_index([("resident_id", ASCENDING)])

    def outboxes(self):
        return [self.needs, self.refused_reports, self.residents]

    # regions --------------------------------------------------------------------------------
    def add_region(self, region):
        try:
            self.regions.insert_one(region)
            return True
        except DuplicateKeyError:
            return False

    def region(self, path):
        return self.regions.find_one({"_id": path})

    def regions_under(self, parent):
        """The regions directly under `parent` (the cities for None), by path."""
        return list(self.regions.find({"parent": parent}).sort("_id", 1))

    # needs ----------------------------------------------------------------------------------
    def add_need(self, need, events):
        """Insert the need with its events in its outbox; False when the id is taken."""
        try:
            self.needs.insert_one({**need, "outbox": list(events)})
            return True
        except DuplicateKeyError:
            return False

    def need(self, need_id):
        return self.needs.find_one({"_id": need_id}, {**outbox.WITHOUT, "applied": 0})

    def change_need(self, need_id, decide, at):
        """Apply `decide(need)` (a rule's Change, or None) by compare-and-set on the need's
        version, its events in its outbox in the same write: (need after, change)."""
        return cas.change(self.needs, need_id, decide, source=SOURCE, at=at, what=f"need {need_id}")

    def add_refusal(self, answer_id, at, event):
        """Keep a refused report's answer with its event in the outbox, once per `answer_id`
        (a redelivered report refused for the same reasons answers nothing new): the document,
        or None when it was kept already."""
        doc = {"_id": answer_id, "report_id": event["data"]["report_id"], "at": at, "outbox": [event]}
        return doc if insert_new(self.refused_reports, doc) else None

    # residents --------------------------------------------------------------------------------
    def add_resident(self, record):
        """Store a sealed resident record once: a retried registration, or one after an erasure
        (the erased record stays as a tombstone), writes nothing."""
        return insert_new(self.residents, record)

    def resident(self, resident_id):
        return self.residents.find_one({"_id": resident_id}, outbox.WITHOUT)

    def erase_resident(self, resident_id, at):
        """Remove the sealed fields (and a `resident_sealed` not published yet) and mark the record
        erased; the record after (None when there is none). The record stays, without personal
        data, so that ids still resolve."""
        erased = after(self.residents, {"_id": resident_id, "erased_at": None},
                       {"$unset": {field: "" for field in FIELDS}, "$set": {"erased_at": at, "outbox": []}})
        return erased or self.resident(resident_id)

    def mark_resident_erased(self, need_id, resident_id, at, event):
        """Record the erasure on the need with its event in the outbox, once; None when it was
        recorded already."""
        return after(self.needs, {"_id": need_id, "resident_id": resident_id, "resident_erased_at": None},
                     {"$set": {"resident_erased_at": at}, **entries(event)})

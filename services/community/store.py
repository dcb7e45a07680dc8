"""The community's collections: regions, needs, and residents (the only place personal data lives)."""
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from wushe.outbox import entries
from wushe.store import after


class CommunityStore:
    def __init__(self, db):
        self.db = db
        self.regions = db.regions
        self.needs = db.needs
        self.residents = db.residents

    def ensure_indexes(self):
        self.regions.create_index([("parent", ASCENDING)])
        self.needs.create_index([("community", ASCENDING), ("registered_at", DESCENDING)])
        self.needs.create_index([("status", ASCENDING)])

    def outboxes(self):
        return [self.needs]

    # regions --------------------------------------------------------------------------------
    def add_region(self, region):
        try:
            self.regions.insert_one(region)
            return True
        except DuplicateKeyError:
            return False

    def region(self, path):
        return self.regions.find_one({"_id": path})

    # needs ----------------------------------------------------------------------------------
    def add_need(self, need, events, resident=None):
        """Insert the need with its events in its outbox; False when the id is taken."""
        if resident:
            # idempotent: a retried registration rewrites the same record
            self.residents.replace_one({"_id": need["_id"]}, {"_id": need["_id"], **resident}, upsert=True)
            need = {**need, "resident_id": need["_id"]}
        try:
            self.needs.insert_one({**need, "outbox": list(events)})
            return True
        except DuplicateKeyError:
            return False

    def need(self, need_id):
        return self.needs.find_one({"_id": need_id}, {"outbox": 0, "applied": 0})

    def need_for_update(self, need_id):
        return self.needs.find_one({"_id": need_id}, {"outbox": 0})

    def compare_and_set(self, need, changes, events, applied=None):
        """Apply `changes` only if nobody changed the need since it was read (its version)."""
        update = {"$set": changes, "$inc": {"version": 1}, **entries(*events)}
        if applied:
            update["$push"]["applied"] = applied
        return after(self.needs, {"_id": need["_id"], "version": need["version"]}, update)

"""The charity service's collections: donors, donations, lots (each holding its own pledges),
allocations (one per need asking for resources; one in `shortfall` is an open appeal) and the
fund ledger (immutable double-entry records of every movement of money)."""
from pymongo import ASCENDING, DESCENDING, ReturnDocument

from services.charity.domain import SOURCE
from wushe.contract.events import stamped
from wushe.runtime import outbox
from wushe.runtime.outbox import entries
from wushe.contract.regions import under_filter, within
from wushe.runtime.store import after, insert_new, page

SLIM = {**outbox.WITHOUT, "ledger": 0}  # a lot as read to be shown: without its pending events and entries
# a lot as read to draw from: nor its pledges, which are as many as the needs it has served, and
# which a draw neither reads nor needs copied out of the store
TO_DRAW = {**SLIM, "pledges": 0}


def _entries(change, at):
    return entries(*(stamped(SOURCE, e, at) for e in change.events)) if change.events else {}


class CharityStore:
    def __init__(self, db):
        self.donors = db.donors
        self.donations = db.donations
        self.lots = db.lots
        self.allocations = db.allocations
        self.fund_ledger = db.fund_ledger

    def ensure_indexes(self):
        self.lots.create_index([("item", ASCENDING), ("unit", ASCENDING), ("available", ASCENDING)])
        self.lots.create_index("pledges.pledge_id")
        self.lots.create_index("pledges.need_id")
        self.lots.create_index("donor_id")
        self.lots.create_index("region")              # a region's lots (GET /lots?region=)
        self.lots.create_index("available")           # what has stock left, for the appeals' check
        self.lots.create_index("pledges.community")   # value linked in a region (/stats)
        # money movements not yet posted to the fund ledger: only lots holding some are indexed
        self.lots.create_index("ledger.at", sparse=True)
        self.allocations.create_index("community")
        self.allocations.create_index([("state", ASCENDING), ("priority", ASCENDING)])
        self.donations.create_index("giver")
        self.fund_ledger.create_index([("fund_id", ASCENDING), ("seq", DESCENDING)])

    def outboxes(self):
        return [self.allocations, self.lots, self.donations]

    # --- donors and donations -----------------------------------------------------------------
    def add_donor(self, donor):
        """Insert a donor's record; False when its id is taken."""
        return insert_new(self.donors, donor)

    def donor(self, donor_id):
        return self.donors.find_one({"_id": donor_id})

    def add_donation(self, donation, events, at):
        """Record a donation with its events in its outbox (the commit point of a donation);
        False when its id is taken."""
        return insert_new(self.donations, {**donation, "outbox": [stamped(SOURCE, e, at) for e in events]})

    def donation(self, donation_id):
        return self.donations.find_one({"_id": donation_id})

    def donations_of(self, giver, limit, cursor=None):
        """A donor's donations and contributions, by id (keyset)."""
        return page(self.donations, {"giver": giver}, limit, cursor)

    # --- lots and their pledges -----------------------------------------------------------------
    def lot(self, lot_id):
        return self.lots.find_one({"_id": lot_id})

    def lots_named(self, lot_ids, slim=False):
        """The lots with these ids (to be shown: `slim`)."""
        return list(self.lots.find({"_id": {"$in": lot_ids}}, SLIM if slim else None))

    def lots_page(self, item, region, limit, cursor=None):
        query = {}
        if item:
            query["item"] = item
        if region:
            query["region"] = under_filter(region)
        return page(self.lots, query, limit, cursor)

    def lot_holding(self, pledge_id):
        """The lot a pledge is on (without its pending events and entries); None when none is."""
        return self.lots.find_one({"pledges.pledge_id": pledge_id}, SLIM)

    def candidates(self, item, unit, city):
        """The lots of an item with some available in the city, to draw from (`TO_DRAW`)."""
        return list(self.lots.find({"item": item, "unit": unit, "available": {"$gt": 0},
                                    "region": under_filter(city)}, TO_DRAW))

    def lot_to_draw(self, lot_id, pledge_id):
        """A lot read again to draw a pledge from (`TO_DRAW`); None when it is gone or holds
        the pledge already."""
        return self.lots.find_one({"_id": lot_id, "pledges.pledge_id": {"$ne": pledge_id}}, TO_DRAW)

    def reserve(self, lot_id, pledge, quantity, ledger=None):
        """Reserve `quantity` of a lot for a pledge only if that much is still available and
        the pledge is not there yet — one conditional update, never beyond the lot's quantity.
        Money's ledger entry goes in the same update (pending, posted to the ledger after). The
        lot after, without its pledges."""
        push = {"pledges": {**pledge, "quantity": quantity, "state": "reserved", "delivered": 0.0}}
        if ledger:
            push["ledger"] = ledger
        return after(self.lots,
                     {"_id": lot_id, "available": {"$gte": quantity}, "pledges.pledge_id": {"$ne": pledge["pledge_id"]}},
                     {"$inc": {"available": -quantity, "reserved": quantity}, "$push": push},
                     projection={"pledges": 0})

    def pledged_to(self, need_id):
        """(lot, pledge) pairs of a need."""
        return [(lot, p) for lot in self.lots.find({"pledges.need_id": need_id})
                for p in lot["pledges"] if p["need_id"] == need_id]

    # A pledge is addressed by its index, not with the positional `$`: pledges are only ever
    # appended, so the index is stable, and the filter re-checks that the element there is
    # still this pledge, still reserved, with the delivered quantity it was read with. (mongomock
    # applies `pledges.$` to the wrong element when the same update also pushes to the outbox.)
    def _guard(self, lot, pledge):
        index = next(i for i, p in enumerate(lot["pledges"]) if p["pledge_id"] == pledge["pledge_id"])
        return index, {"_id": lot["_id"], f"pledges.{index}.pledge_id": pledge["pledge_id"],
                       f"pledges.{index}.state": "reserved",
                       f"pledges.{index}.delivered": pledge.get("delivered", 0.0)}

    def release(self, lot, pledge, ledger=None):
        """Give what is still reserved of a pledge back to its lot, once."""
        index, guard = self._guard(lot, pledge)
        left = pledge["quantity"] - pledge.get("delivered", 0.0)
        update = {"$set": {f"pledges.{index}.state": "released"}, "$inc": {"reserved": -left, "available": left}}
        if ledger:
            update["$push"] = {"ledger": ledger}
        return after(self.lots, guard, update)

    def deliver(self, lot, pledge, quantity, change, at):
        """Deliver `quantity` of a pledge (the pledge's fields as `domain.delivery` decided, its
        event and money's ledger entry), once: only while the pledge is as it was read."""
        index, guard = self._guard(lot, pledge)
        update = {"$set": {f"pledges.{index}.{name}": value for name, value in change.fields.items()},
                  "$inc": {"reserved": -quantity, "delivered": quantity}, **_entries(change, at)}
        if change.appended.get("ledger"):
            update.setdefault("$push", {})["ledger"] = change.appended["ledger"]
        return after(self.lots, guard, update)

    # --- allocations (one per need asking for resources) -------------------------------------
    def open_allocation(self, allocation):
        """Insert a need's allocation as it starts; False when it is there already (a redelivery,
        or the need was cancelled first)."""
        return insert_new(self.allocations, {**allocation, "outbox": []})

    def allocation(self, need_id):
        return self.allocations.find_one({"_id": need_id})

    def allocation_state(self, need_id):
        found = self.allocations.find_one({"_id": need_id}, {"state": 1})
        return found and found["state"]

    def close_allocation(self, need_id, community):
        """The need was cancelled: its allocation (made now if the need was not seen yet) is, for good."""
        self.allocations.update_one({"_id": need_id}, {"$set": {"state": "cancelled", "community": community},
                                                       "$setOnInsert": {"outbox": []}}, upsert=True)

    def finish_allocation(self, need_id, change, at):
        """Record a need's first pledging (`domain.pledged`), only while it is being pledged (not
        cancelled meanwhile); the allocation after, None when it was not."""
        return after(self.allocations, {"_id": need_id, "state": "pledging"},
                     {"$set": change.fields, "$inc": {"version": 1}, **_entries(change, at)})

    def mark_released(self, need_id, event, at):
        """Record, once, that the need's pledges were given back, with the event announcing them;
        the allocation after, None when it was recorded already."""
        return after(self.allocations, {"_id": need_id, "released": {"$ne": True}},
                     {"$set": {"released": True}, "$push": {"outbox": stamped(SOURCE, event, at)}})

    # --- donations and the fund ledger ------------------------------------------------------
    def add_lots(self, lots):
        """Insert a donation's lots; those already there (a retry) are left as they are."""
        return [lot for lot in lots if insert_new(self.lots, lot)]

    def post_ledger(self, lot):
        """Record a lot's pending ledger entries (each once: its id is its key), then clear them."""
        pending = (lot or {}).get("ledger") or []
        for entry in pending:
            insert_new(self.fund_ledger, entry)
        if pending:
            self.lots.update_one({"_id": lot["_id"]}, {"$pull": {"ledger": {"_id": {"$in": [e["_id"] for e in pending]}}}})
        return len(pending)

    def unposted(self, before, limit=500):
        return self.lots.find({"ledger.at": {"$lt": before}}).limit(limit)

    def ledger_page(self, fund_id, limit, cursor=None):
        """A fund's entries, newest first (keyset on `seq`, the entry's time and id)."""
        query = {"fund_id": fund_id}
        if cursor:
            query["seq"] = {"$lt": cursor}
        docs = list(self.fund_ledger.find(query).sort("seq", DESCENDING).limit(limit + 1))
        more = len(docs) > limit
        docs = docs[:limit]
        return docs, (docs[-1]["seq"] if more and docs else None)

    def fund_balance(self, fund_id):
        """Money of a fund not pledged: what its funds lots have available."""
        return int(round(sum(lot["available"] for lot in self.lots.find(
            {"donor_id": fund_id, "item": "funds"}, {"available": 1}))))

    # --- appeals (allocations in shortfall) -----------------------------------------------------
    def available_keys(self):
        """(item, unit) of every lot with something available."""
        return {(lot["item"], lot["unit"]) for lot in self.lots.find({"available": {"$gt": 0}}, {"item": 1, "unit": 1})}

    def next_appeal(self, keys, after=""):
        """The first open appeal after `after` (in priority order: most urgent, then oldest)
        missing any of `keys`; None when there is none."""
        if not keys:
            return None
        wanted = [{"shortfall": {"$elemMatch": {"item": item, "unit": unit}}} for item, unit in keys]
        found = list(self.allocations.find({"state": "shortfall", "priority": {"$gt": after}, "$or": wanted},
                                           outbox.WITHOUT).sort("priority", 1).limit(1))
        return found[0] if found else None

    @staticmethod
    def _at_version(allocation):
        version = allocation.get("version")
        return {"_id": allocation["_id"], "version": version if version is not None else {"$exists": False}}

    def hold(self, allocation, token, round_id, at):
        """Take an open appeal for one top-up round, if nobody holds it and it has not changed."""
        return after(self.allocations, {**self._at_version(allocation), "state": "shortfall",
                                        "pending": {"$exists": False}},
                     {"$set": {"pending": {"token": token, "round": round_id, "at": at}}, "$inc": {"version": 1}})

    def take_over(self, allocation, token, round_id, at):
        """Take over a round whose holder went silent (crashed): a new holder and round, which
        adopts what the silent rounds reserved."""
        pending = allocation["pending"]
        adopt = pending.get("adopt", []) + [pending["round"]]
        return after(self.allocations, {**self._at_version(allocation), "state": "shortfall",
                                        "pending.token": pending["token"]},
                     {"$set": {"pending": {"token": token, "round": round_id, "at": at, "adopt": adopt}},
                      "$inc": {"version": 1}})

    def let_go(self, need_id, token):
        """Give up a round part-way (it failed): its holder counts as silent from now on, so the next
        pass takes it over, adopting what it reserved, without waiting for its lease."""
        return self.allocations.update_one({"_id": need_id, "pending.token": token},
                                           {"$set": {"pending.let_go": True}}).matched_count == 1

    def ask_recheck(self, allocation):
        """Tell the holder of a round that new lots arrived meanwhile: it goes round once more."""
        return self.allocations.update_one(
            {"_id": allocation["_id"], "state": "shortfall", "pending.token": allocation["pending"]["token"]},
            {"$set": {"pending.recheck": True}}).matched_count == 1

    def appeal(self, need_id):
        """A need's allocation as a top-up round reads it (without its outbox)."""
        return self.allocations.find_one({"_id": need_id}, outbox.WITHOUT)

    def appeals_page(self, region, limit, cursor=None):
        """Open appeals (in `region`), most urgent first, then oldest (keyset on `priority`)."""
        query = {"state": "shortfall"}
        if region:
            query["community"] = under_filter(region)
        return page(self.allocations, query, limit, cursor, sort_key="priority")

    def finish_top_up(self, need_id, token, change, at):
        """End the holder's round: its pledges and shortfall (and event: `domain.topped_up`), only
        while it still holds the appeal and the need was not cancelled. The document as it was
        before (None if not)."""
        update = {"$unset": {"pending": ""}, "$inc": {"version": 1}, **_entries(change, at)}
        if change.fields:
            update["$set"] = change.fields
        return self.allocations.find_one_and_update(
            {"_id": need_id, "state": "shortfall", "pending.token": token}, update,
            return_document=ReturnDocument.BEFORE)

    def appeals_open(self, region):
        return self.allocations.count_documents({"state": "shortfall", "community": under_filter(region)})

    def value_delivered(self, region):
        total = 0
        for lot in self.lots.find({"pledges.community": under_filter(region)}, {"pledges": 1, "unit_value_cents": 1}):
            value = lot.get("unit_value_cents") or 0
            total += sum(round(p.get("delivered", 0.0) * value) for p in lot["pledges"]
                         if within(p["community"], region))
        return total

    def value_pledged(self, region):
        total = 0
        for allocation in self.allocations.find({"community": under_filter(region)}, {"pledges": 1, "released": 1}):
            if not allocation.get("released"):
                total += sum(p.get("value_cents", 0) for p in allocation.get("pledges", []))
        return total

"""The charity service's collections: donors, donations, lots (each holding its own pledges),
and allocations (one per need asking for resources)."""
from pymongo import ASCENDING

from wushe.outbox import entries
from wushe.regions import under_filter
from wushe.store import after


class CharityStore:
    def __init__(self, db):
        self.donors = db.donors
        self.donations = db.donations
        self.lots = db.lots
        self.allocations = db.allocations

    def ensure_indexes(self):
        self.lots.create_index([("item", ASCENDING), ("unit", ASCENDING), ("available", ASCENDING)])
        self.lots.create_index("pledges.pledge_id")
        self.lots.create_index("pledges.need_id")
        self.allocations.create_index("community")

    def outboxes(self):
        return [self.allocations, self.lots]

    def candidates(self, item, unit, city):
        return list(self.lots.find({"item": item, "unit": unit, "available": {"$gt": 0},
                                    "region": under_filter(city)}))

    def reserve(self, lot_id, pledge, quantity):
        """Reserve `quantity` of a lot for a pledge only if that much is still available and
        the pledge is not there yet — one conditional update, never beyond the lot's quantity."""
        return after(self.lots,
                     {"_id": lot_id, "available": {"$gte": quantity}, "pledges.pledge_id": {"$ne": pledge["pledge_id"]}},
                     {"$inc": {"available": -quantity, "reserved": quantity},
                      "$push": {"pledges": {**pledge, "quantity": quantity, "state": "reserved", "delivered": 0.0}}})

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

    def release(self, lot, pledge):
        """Give what is still reserved of a pledge back to its lot, once."""
        index, guard = self._guard(lot, pledge)
        left = pledge["quantity"] - pledge.get("delivered", 0.0)
        return after(self.lots, guard, {"$set": {f"pledges.{index}.state": "released"},
                                        "$inc": {"reserved": -left, "available": left}})

    def deliver(self, lot, pledge, quantity, event):
        """Deliver `quantity` of a pledge (all of what is left, or part of it), with its event, once."""
        index, guard = self._guard(lot, pledge)
        done = pledge.get("delivered", 0.0) + quantity
        complete = done >= pledge["quantity"] - 1e-9
        return after(self.lots, guard, {
            "$set": {f"pledges.{index}.delivered": done, f"pledges.{index}.state": "delivered" if complete else "reserved"},
            "$inc": {"reserved": -quantity, "delivered": quantity}, **entries(event)})

    def finish_allocation(self, need_id, state, pledges, shortfall, event):
        return after(self.allocations, {"_id": need_id, "state": "pledging"},
                     {"$set": {"state": state, "pledges": pledges, "shortfall": shortfall}, **entries(event)})

    def value_pledged(self, region):
        total = 0
        for allocation in self.allocations.find({"community": under_filter(region)}, {"pledges": 1, "released": 1}):
            if not allocation.get("released"):
                total += sum(p.get("value_cents", 0) for p in allocation.get("pledges", []))
        return total

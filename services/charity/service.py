"""The charity service (慈善资源): donors, donations as lots, pledges against needs, delivery."""

from services.charity import domain, schemas
from services.charity.store import CharityStore
from wushe.clock import new_id, now_iso
from wushe.errors import Conflict, InvalidInput, NotFound, loaded
from wushe.outbox import Outbox
from wushe.rpc import rpc
from wushe.regions import truncate, under_filter
from wushe.store import Store, found, insert_new, page
from wushe.subscribe import DUPLICATE, on_event
from wushe.telemetry import Telemetry

EPSILON = 1e-9


class CharityService:
    name = "charity"

    store = Store(CharityStore)
    outbox = Outbox(lambda store: store.outboxes())
    log = Telemetry()

    @rpc
    def add_donor(self, payload):
        body = loaded(schemas.DonorIn(), payload)
        donor = {"_id": body.pop("id", None) or new_id("donor"), **body, "created_at": now_iso()}
        if not insert_new(self.store.donors, donor):
            raise Conflict(f"donor {donor['_id']} exists")
        return schemas.DonorOut().dump({**donor, "id": donor["_id"]})

    @rpc
    def donate(self, payload):
        body = loaded(schemas.DonationIn(), payload)
        if not self.store.donors.find_one({"_id": body["donor_id"]}):
            raise InvalidInput("unknown donor", {"donor_id": [f"no donor {body['donor_id']}"]})
        donation_id, at = new_id("donation"), now_iso()
        lots = []
        for line in body["lines"]:
            item, unit, quantity = domain.line_key(line)
            lots.append({"_id": new_id("lot"), "donation_id": donation_id, "donor_id": body["donor_id"],
                         "item": item, "unit": unit, "region": body["region"], "quantity": quantity,
                         "reserved": 0.0, "delivered": 0.0, "available": quantity,
                         "unit_value_cents": domain.unit_value(line), "created_at": at, "pledges": [],
                         "best_before": line["best_before"].isoformat() if line.get("best_before") else None})
        self.store.lots.insert_many(lots)
        self.store.donations.insert_one({"_id": donation_id, "donor_id": body["donor_id"],
                                         "region": body["region"], "lot_ids": [l["_id"] for l in lots],
                                         "created_at": at})
        return {"id": donation_id, "lots": [self._lot_out(l) for l in lots]}

    @rpc
    def list_lots(self, item=None, region=None, limit=50, cursor=None):
        query = {}
        if item:
            query["item"] = item
        if region:
            query["region"] = under_filter(region)
        docs, next_cursor = page(self.store.lots, query, limit, cursor)
        return {"items": [self._lot_out(d) for d in docs], "next_cursor": next_cursor}

    @rpc
    def get_lot(self, lot_id):
        return self._lot_out(found(self.store.lots, lot_id, "lot"))

    @rpc
    def deliver_pledge(self, pledge_id, payload=None):
        """Deliver a pledge in whole (no quantity: all that is left) or in part."""
        body = loaded(schemas.DeliveryIn(), payload or {})
        lot = self.store.lots.find_one({"pledges.pledge_id": pledge_id})
        if not lot:
            raise NotFound(f"no pledge {pledge_id}")
        pledge = next(p for p in lot["pledges"] if p["pledge_id"] == pledge_id)
        if pledge["state"] != "reserved":
            raise Conflict(f"the pledge is {pledge['state']}, not reserved")
        left = domain.remaining(pledge)
        quantity = body.get("quantity") or left
        if quantity > left + 1e-9:
            raise InvalidInput("more than is left to deliver",
                               {"quantity": [f"{left:g} {lot['unit']} of this pledge are left to deliver"]})
        line = domain.pledge_line(lot, pledge)
        updated = self.store.deliver(lot, pledge, quantity, domain.delivered(pledge, line, quantity, left - quantity))
        if not updated:
            raise Conflict("the pledge changed meanwhile (another delivery or a release); read it again")
        self.outbox.flush(self.store.lots, updated)
        done = next(p for p in updated["pledges"] if p["pledge_id"] == pledge_id)
        return {**line, "state": done["state"], "delivered": done["delivered"], "remaining": domain.remaining(done)}

    @rpc
    def stats(self, region):
        return {"resources_value_cents": self.store.value_pledged(region)}

    @on_event("community", "need_registered")
    def on_need_registered(self, event):
        need = event.data
        lines = need["requirements"].get("resources")
        if not lines:
            return
        need_id = need["need_id"]
        insert_new(self.store.allocations, {"_id": need_id, "community": need["community"],
                                                   "state": "pledging", "created_at": now_iso(), "outbox": []})
        allocation = self.store.allocations.find_one({"_id": need_id})
        if allocation["state"] != "pledging":  # a redelivery, or cancelled before it got here
            self.outbox.flush(self.store.allocations, allocation)
            return DUPLICATE if allocation["state"] in ("pledged", "shortfall") else None
        pledges, shortfall = self._reserve(need, lines)
        outcome = domain.outcome(need, pledges, shortfall)
        done = self.store.finish_allocation(need_id, "shortfall" if shortfall else "pledged",
                                            pledges, shortfall, outcome)
        if done:
            self.outbox.flush(self.store.allocations, done)
            self.log.info("resources." + outcome["type"], pledges=len(pledges), shortfall=len(shortfall))
        else:  # cancelled while pledging: give back what was just reserved
            self._release(need_id, need["community"])

    @on_event("community", "need_cancelled")
    def on_need_cancelled(self, event):
        self.store.allocations.update_one(
            {"_id": event.need_id}, {"$set": {"state": "cancelled", "community": event.data["community"]},
                                     "$setOnInsert": {"outbox": []}}, upsert=True)
        self._release(event.need_id, event.data["community"])

    # ----------------------------------------------------------------------------------------
    def _reserve(self, need, lines):
        """Reserve each line from the nearest, oldest lots; (pledge lines, missing lines)."""
        need_id, community = need["need_id"], need["community"]
        held = self.store.pledged_to(need_id)  # from an earlier, interrupted delivery of this event
        pledges, shortfall = [], []
        for index, line in enumerate(lines):
            item, unit, wanted = domain.line_key(line)
            mine = [(lot, p) for lot, p in held if p["line"] == index]
            pledges += [domain.pledge_line(lot, p) for lot, p in mine]
            remaining = wanted - sum(p["quantity"] for _, p in mine)
            taken_lots = {lot["_id"] for lot, _ in mine}
            lots = self.store.candidates(item, unit, truncate(community, "city"))
            for lot in domain.rank(domain.usable(lots, now_iso()), community):
                if remaining <= EPSILON:
                    break
                if lot["_id"] in taken_lots:
                    continue
                pledge = {"pledge_id": domain.pledge_id(need_id, index, lot["_id"]), "need_id": need_id,
                          "community": community, "line": index}
                reserved = self._reserve_from(lot, pledge, remaining)
                if reserved:
                    pledges.append(domain.pledge_line(reserved[0], reserved[1]))
                    remaining -= reserved[1]["quantity"]
            if remaining > EPSILON:
                shortfall.append({"item": item, "quantity": round(remaining, 6), "unit": unit})
        return pledges, shortfall

    def _reserve_from(self, lot, pledge, wanted):
        """Take up to `wanted` from one lot, re-reading it when a concurrent pledge got there first."""
        while lot and lot["available"] > EPSILON:
            take = min(wanted, lot["available"])
            updated = self.store.reserve(lot["_id"], pledge, take)
            if updated:
                return updated, {**pledge, "quantity": take}
            lot = self.store.lots.find_one({"_id": lot["_id"]})
        return None

    def _release(self, need_id, community):
        """Give every reserved pledge of the need back to its lot, then announce, once, all that
        were released — also those a crashed earlier attempt released without announcing."""
        for lot, pledge in self.store.pledged_to(need_id):
            if pledge["state"] == "reserved":
                self.store.release(lot, pledge)
        released = [domain.pledge_line(lot, p) for lot, p in self.store.pledged_to(need_id)
                    if p["state"] == "released"]
        if released:
            event = domain.released(need_id, community, released)
            announced = self.store.allocations.find_one_and_update(
                {"_id": need_id, "released": {"$ne": True}}, {"$set": {"released": True}, "$push": {"outbox": event}})
            if announced is not None:
                self.outbox.flush(self.store.allocations, {"_id": need_id, "outbox": [event]})

    @staticmethod
    def _lot_out(lot):
        return schemas.LotOut().dump({**lot, "id": lot["_id"]})

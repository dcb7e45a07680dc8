"""The charity service (慈善资源): donors, donations as lots, pledges against needs, delivery;
community funds (社区基金) and their ledger; appeals (needs left short) filled by later lots."""
import os
from datetime import timedelta

from nameko.timer import timer

from services.charity import domain, schemas
from services.charity.pledging import Pledging, count_value
from services.charity.store import CharityStore
from wushe.clock import iso, new_id, now, now_iso
from wushe.errors import Conflict, InvalidInput, NotFound, loaded
from wushe.fields import instance
from wushe.outbox import Outbox
from wushe.rpc import rpc
from wushe.regions import under_filter
from wushe.store import Store, create, found, insert_new, page
from wushe.subscribe import DUPLICATE, on_event
from wushe.telemetry import Telemetry
from wushe.vocabulary import FUNDS

# how often the service fills open appeals from lots that sit available and posts ledger entries a
# crash left pending (read at import: nameko timers are static)
APPEAL_CHECK_SECONDS = float(os.environ.get("WUSHE_APPEAL_CHECK_SECONDS", "30"))
# a top-up round whose holder is silent this long is taken over (its holder crashed)
TOP_UP_LEASE_SECONDS = float(os.environ.get("WUSHE_TOP_UP_LEASE_SECONDS", "60"))
LEDGER_GRACE_SECONDS = 5


class CharityService:
    name = "charity"

    store = Store(CharityStore)
    outbox = Outbox(lambda store: store.outboxes())
    log = Telemetry()

    @rpc
    def add_donor(self, payload):
        body = loaded(schemas.DonorIn, payload)
        donor = create(self.store.donors, body, "donor", "donor")
        return instance(schemas.DonorOut).dump({**donor, "id": donor["_id"]})

    @rpc
    def get_donor(self, donor_id):
        donor = found(self.store.donors, donor_id, "donor")
        return instance(schemas.DonorOut).dump({**donor, "id": donor["_id"]})

    @rpc
    def get_pledge(self, pledge_id):
        """A pledge with the need (and its community) it serves."""
        lot = self.store.lots.find_one({"pledges.pledge_id": pledge_id}, {"outbox": 0, "ledger": 0})
        if not lot:
            raise NotFound(f"no pledge {pledge_id}")
        pledge = next(p for p in lot["pledges"] if p["pledge_id"] == pledge_id)
        return {**domain.pledge_line(lot, pledge), "need_id": pledge["need_id"], "community": pledge["community"],
                "state": pledge["state"], "delivered": pledge.get("delivered", 0.0)}

    @rpc
    def donate(self, payload):
        body = loaded(schemas.DonationIn, payload)
        donor = self.store.donors.find_one({"_id": body["donor_id"]})
        if not donor:
            raise InvalidInput("unknown donor", {"donor_id": [f"no donor {body['donor_id']}"]})
        donation = domain.donation(body.get("id") or new_id("donation"), donor, body["region"], body["lines"],
                                   now_iso())
        donation, lots = self._record(donation, [domain.received(donation)])
        return {"id": donation["_id"], "lots": [self._lot_out(l) for l in lots]}

    @rpc
    def contribute(self, fund_id, payload):
        """Money paid into a community fund: a funds lot of the fund, pledged like any lot."""
        body = loaded(schemas.ContributionIn, payload)
        fund = self._fund(fund_id)
        if body["donor_id"] and not self.store.donors.find_one({"_id": body["donor_id"]}):
            raise InvalidInput("unknown donor", {"donor_id": [f"no donor {body['donor_id']}"]})
        contribution_id = body.get("id") or new_id("contribution")
        contribution = {"contributor_kind": body["contributor_kind"], "donor_id": body["donor_id"],
                        "funds_cents": body["funds_cents"]}
        donation = domain.donation(contribution_id, fund, fund["region"], [{"funds_cents": body["funds_cents"]}],
                                   now_iso(), contribution=contribution)
        donation, lots = self._record(donation, [domain.contributed(fund, contribution_id, contribution),
                                                 domain.received(donation)])
        self.log.info("fund.contributed", fund_id=fund_id, funds_cents=body["funds_cents"])
        return instance(schemas.ContributionOut).dump({
            **contribution, "id": donation["_id"], "fund_id": fund_id, "lot_id": lots[0]["_id"],
            "created_at": donation["created_at"], "balance_cents": self.store.fund_balance(fund_id)})

    @rpc
    def fund_ledger(self, fund_id, limit=50, cursor=None):
        self._fund(fund_id)
        entries, next_cursor = self.store.ledger_page(fund_id, limit, cursor)
        return {"fund_id": fund_id, "balance_cents": self.store.fund_balance(fund_id),
                "items": [{**{k: v for k, v in e.items() if k not in ("_id", "seq")}, "id": e["_id"]} for e in entries],
                "next_cursor": next_cursor}

    @rpc
    def list_appeals(self, region=None, limit=50, cursor=None):
        """Open appeals (needs whose resources are short), most urgent first, then oldest."""
        query = {"state": "shortfall"}
        if region:
            query["community"] = under_filter(region)
        docs, next_cursor = page(self.store.allocations, query, limit, cursor, sort_key="priority")
        return {"items": [domain.appeal(d) for d in docs], "next_cursor": next_cursor}

    @rpc
    def receipts(self, donor_id, limit=50, cursor=None):
        """Where a donor's donations (and contributions to funds) went, pledge by pledge."""
        found(self.store.donors, donor_id, "donor")
        donations, next_cursor = page(self.store.donations, {"giver": donor_id}, limit, cursor)
        lot_ids = [lid for d in donations for lid in d["lot_ids"]]
        lots = list(self.store.lots.find({"_id": {"$in": lot_ids}}, {"outbox": 0, "ledger": 0}))
        return {"donor_id": donor_id, "items": [domain.receipt(d, lots) for d in donations],
                "next_cursor": next_cursor}

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
        body = loaded(schemas.DeliveryIn, payload or {})
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
        money = lot["item"] == FUNDS
        if money and abs(quantity - round(quantity)) > 1e-9:
            raise InvalidInput("money is delivered in whole fen", {"quantity": ["a whole number of cents"]})
        line = domain.pledge_line(lot, pledge)
        ledger = domain.delivered_entry(lot, pledge, quantity, now_iso()) if money else None
        updated = self.store.deliver(lot, pledge, quantity, domain.delivered(pledge, line, quantity, left - quantity),
                                     ledger)
        if not updated:
            raise Conflict("the pledge changed meanwhile (another delivery or a release); read it again")
        self.store.post_ledger(updated)
        self.outbox.flush(self.store.lots, updated)
        count_value("delivered", pledge["community"], quantity * (lot.get("unit_value_cents") or 0))
        done = next(p for p in updated["pledges"] if p["pledge_id"] == pledge_id)
        return {**line, "state": done["state"], "delivered": done["delivered"], "remaining": domain.remaining(done)}

    @rpc
    def stats(self, region):
        return {"resources_value_cents": self.store.value_pledged(region),
                "resources_delivered_value_cents": self.store.value_delivered(region),
                "appeals_open": self.store.appeals_open(region)}

    @on_event("community", "need_registered")
    def on_need_registered(self, event):
        need = event.data
        lines = need["requirements"].get("resources")
        if not lines:
            return
        need_id = need["need_id"]
        insert_new(self.store.allocations, {
            "_id": need_id, "community": need["community"], "state": "pledging", "created_at": now_iso(),
            "urgency": need["urgency"], "registered_at": need["registered_at"], "version": 0,
            "priority": domain.priority(need["urgency"], need["registered_at"], need_id), "outbox": []})
        allocation = self.store.allocations.find_one({"_id": need_id})
        if allocation["state"] != "pledging":  # a redelivery, or cancelled before it got here
            self.outbox.flush(self.store.allocations, allocation)
            return DUPLICATE if allocation["state"] in ("pledged", "shortfall") else None
        pledges, shortfall = self._pledging.reserve(need, lines)
        outcome = domain.outcome(need, pledges, shortfall)
        done = self.store.finish_allocation(need_id, "shortfall" if shortfall else "pledged",
                                            pledges, shortfall, outcome)
        if done:
            self.outbox.flush(self.store.allocations, done)
            count_value("pledged", need["community"], sum(p["value_cents"] for p in pledges))
            self.log.info("resources." + outcome["type"], pledges=len(pledges), shortfall=len(shortfall))
            if shortfall:  # lots that arrived while this need was being pledged were offered to open
                self._pledging.fill_appeals()  # appeals only; this one opened after, so look again
        else:  # cancelled while pledging: give back what was just reserved
            self._pledging.release(need_id, need["community"])

    @on_event("community", "need_cancelled")
    def on_need_cancelled(self, event):
        self.store.allocations.update_one(
            {"_id": event.need_id}, {"$set": {"state": "cancelled", "community": event.data["community"]},
                                     "$setOnInsert": {"outbox": []}}, upsert=True)
        if self._pledging.release(event.need_id, event.data["community"]):
            self._pledging.fill_appeals()  # what came back may cover another need's shortfall

    @on_event("charity", "donation_received")
    def on_donation_received(self, event):
        """New lots: make sure they exist (a crash may have come between the donation's record and
        its lots), post their ledger entries, then pledge them to open appeals."""
        donation = self.store.donations.find_one({"_id": event.data["donation_id"]})
        if donation:
            self._make_lots(donation)
        self._pledging.fill_appeals()

    @timer(interval=APPEAL_CHECK_SECONDS)
    def settle(self):
        """Repair what a crash left: ledger entries not posted, appeals not filled while matching
        lots sit available (a top-up round whose holder went silent is taken over)."""
        cutoff = iso(now() - timedelta(seconds=LEDGER_GRACE_SECONDS))
        for lot in self.store.unposted(cutoff):
            self.store.post_ledger(lot)
        self._pledging.fill_appeals()

    # ----------------------------------------------------------------------------------------
    def _fund(self, fund_id):
        fund = found(self.store.donors, fund_id, "fund")
        if fund["kind"] != domain.COMMUNITY_FUND:
            raise InvalidInput("not a community fund", {"fund_id": [f"{fund_id} is a donor of kind {fund['kind']}"]})
        return fund

    def _record(self, donation, events):
        """Store a donation's record with its events (the commit point), then its lots. The same
        id again with the same content answers the same; with other content it is a conflict."""
        if not insert_new(self.store.donations, {**donation, "outbox": events}):
            existing = self.store.donations.find_one({"_id": donation["_id"]})
            if not domain.same_donation(existing, donation):
                raise Conflict(f"donation {donation['_id']} exists with other content")
            donation = existing
        lots = self._make_lots(donation)
        self.outbox.flush(self.store.donations, self.store.donations.find_one({"_id": donation["_id"]}))
        return donation, lots

    def _make_lots(self, donation):
        """The donation's lots, made if missing, with their ledger entries posted."""
        self.store.add_lots(domain.lots_of(donation))
        lots = list(self.store.lots.find({"_id": {"$in": donation["lot_ids"]}}))
        for lot in lots:
            self.store.post_ledger(lot)
        order = {lid: i for i, lid in enumerate(donation["lot_ids"])}
        return sorted(lots, key=lambda lot: order[lot["_id"]])

    @property
    def _pledging(self):
        return Pledging(self.store, self.outbox, self.log, TOP_UP_LEASE_SECONDS)

    @staticmethod
    def _lot_out(lot):
        return instance(schemas.LotOut).dump({**lot, "id": lot["_id"]})

"""The charity service (慈善资源): donors, donations as lots, pledges against needs, delivery;
community funds (社区基金) and their ledger; appeals (needs left short) filled by later lots."""
import math
import os
from datetime import timedelta

from nameko.timer import timer

from services.charity import domain, schemas
from services.charity.store import CharityStore
from wushe.clock import iso, new_id, now, now_iso
from wushe.errors import Conflict, InvalidInput, NotFound, loaded
from wushe.outbox import Outbox
from wushe.rpc import rpc
from wushe.regions import truncate, under_filter
from wushe.store import Store, found, insert_new, page
from wushe.subscribe import DUPLICATE, on_event
from wushe.telemetry import Telemetry
from wushe.vocabulary import FUNDS

EPSILON = 1e-9
# how often the service fills open appeals from lots that sit available and posts ledger entries a
# crash left pending (read at import: nameko timers are static)
APPEAL_CHECK_SECONDS = float(os.environ.get("WUSHE_APPEAL_CHECK_SECONDS", "30"))
# a top-up round whose holder is silent this long is taken over (its holder crashed)
TOP_UP_LEASE_SECONDS = float(os.environ.get("WUSHE_TOP_UP_LEASE_SECONDS", "60"))
LEDGER_GRACE_SECONDS = 5
CAS_ATTEMPTS = 50
ROUNDS = 20
BUSY = "busy"


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
        body = loaded(schemas.ContributionIn(), payload)
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
        return schemas.ContributionOut().dump({
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
        pledges, shortfall = self._reserve(need, lines)
        outcome = domain.outcome(need, pledges, shortfall)
        done = self.store.finish_allocation(need_id, "shortfall" if shortfall else "pledged",
                                            pledges, shortfall, outcome)
        if done:
            self.outbox.flush(self.store.allocations, done)
            self.log.info("resources." + outcome["type"], pledges=len(pledges), shortfall=len(shortfall))
            if shortfall:  # lots that arrived while this need was being pledged were offered to open
                self._fill_appeals()  # appeals only; this one opened after, so look again
        else:  # cancelled while pledging: give back what was just reserved
            self._release(need_id, need["community"])

    @on_event("community", "need_cancelled")
    def on_need_cancelled(self, event):
        self.store.allocations.update_one(
            {"_id": event.need_id}, {"$set": {"state": "cancelled", "community": event.data["community"]},
                                     "$setOnInsert": {"outbox": []}}, upsert=True)
        if self._release(event.need_id, event.data["community"]):
            self._fill_appeals()  # what came back may cover another need's shortfall

    @on_event("charity", "donation_received")
    def on_donation_received(self, event):
        """New lots: make sure they exist (a crash may have come between the donation's record and
        its lots), post their ledger entries, then pledge them to open appeals."""
        donation = self.store.donations.find_one({"_id": event.data["donation_id"]})
        if donation:
            self._make_lots(donation)
        self._fill_appeals()

    @timer(interval=APPEAL_CHECK_SECONDS)
    def settle(self):
        """Repair what a crash left: ledger entries not posted, appeals not filled while matching
        lots sit available (a top-up round whose holder went silent is taken over)."""
        cutoff = iso(now() - timedelta(seconds=LEDGER_GRACE_SECONDS))
        for lot in self.store.unposted(cutoff):
            self.store.post_ledger(lot)
        self._fill_appeals()

    # ----------------------------------------------------------------------------------------
    def _reserve(self, need, lines):
        """Reserve each line from the nearest, oldest lots; (pledge lines, missing lines)."""
        need_id, community = need["need_id"], need["community"]
        held = self.store.pledged_to(need_id)  # from an earlier, interrupted delivery of this event
        pledges, shortfall = [], []
        for index, line in enumerate(lines):
            item, unit, wanted = domain.line_key(line)
            mine = [(lot, p) for lot, p in held if p["line"] == index and not p.get("round")]
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
                shortfall.append({"line": index, "item": item, "quantity": round(remaining, 6), "unit": unit})
        return pledges, shortfall

    def _reserve_from(self, lot, pledge, wanted):
        """Take up to `wanted` from one lot, re-reading it when a concurrent pledge got there first."""
        while lot and lot["available"] > EPSILON:
            if any(p["pledge_id"] == pledge["pledge_id"] for p in lot.get("pledges", [])):
                return None  # already there (an earlier attempt of the same round)
            take = min(wanted, lot["available"])
            if lot["item"] == FUNDS:  # money in whole fen
                take = float(math.floor(take + 1e-6))
                if take < 1:
                    return None
            ledger = domain.pledged_entry(lot, {**pledge, "quantity": take}, now_iso()) if lot["item"] == FUNDS else None
            updated = self.store.reserve(lot["_id"], pledge, take, ledger)
            if updated:
                self.store.post_ledger(updated)
                return updated, {**pledge, "quantity": take}
            lot = self.store.lots.find_one({"_id": lot["_id"]})
        return None

    def _release(self, need_id, community):
        """Give every reserved pledge of the need back to its lot, then announce, once, all that
        were released — also those a crashed earlier attempt released without announcing.
        True when anything came back now."""
        returned = False
        for lot, pledge in self.store.pledged_to(need_id):
            if pledge["state"] == "reserved":
                ledger = domain.released_entry(lot, pledge, now_iso()) if lot["item"] == FUNDS else None
                updated = self.store.release(lot, pledge, ledger)
                if updated:
                    returned = True
                    self.store.post_ledger(updated)
        released = [domain.pledge_line(lot, p) for lot, p in self.store.pledged_to(need_id)
                    if p["state"] == "released"]
        if released:
            event = domain.released(need_id, community, released)
            announced = self.store.allocations.find_one_and_update(
                {"_id": need_id, "released": {"$ne": True}}, {"$set": {"released": True}, "$push": {"outbox": event}})
            if announced is not None:
                self.outbox.flush(self.store.allocations, {"_id": need_id, "outbox": [event]})
        return returned

    # --- donations and funds ------------------------------------------------------------------
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

    # --- appeals ----------------------------------------------------------------------------------
    def _fill_appeals(self):
        """Pledge available lots to open appeals, most urgent first, then oldest. One round at a
        time holds an appeal; a pass that finds one held asks its holder to look again and stops
        there: the holder's pass carries on behind it, reading appeals and lots afresh at each
        step, so it sees the lots that made the other pass start, and urgency order is kept."""
        after = ""
        while True:
            allocation = self.store.next_appeal(self.store.available_keys(), after)
            if allocation is None or self._fill(allocation["_id"]) == BUSY:
                return
            after = allocation["priority"]

    def _fill(self, need_id):
        for _ in range(ROUNDS):
            held = self._hold(need_id)
            if held in (None, BUSY):
                return held
            before = self._top_up(held)
            if not (before and before.get("pending", {}).get("recheck")):
                return None
        return None

    def _hold(self, need_id):
        """The appeal held for one round by this worker; None when there is nothing to do, BUSY
        when another worker holds it (and has been asked to look again)."""
        for _ in range(CAS_ATTEMPTS):
            allocation = self.store.allocations.find_one({"_id": need_id}, {"outbox": 0})
            if not allocation or allocation["state"] != "shortfall":
                return None
            pending = allocation.get("pending")
            if not pending:
                if not self._candidates(allocation):
                    return None
                held = self.store.hold(allocation, new_id("fill"), new_id("round"), now_iso())
            elif pending["at"] < iso(now() - timedelta(seconds=TOP_UP_LEASE_SECONDS)):
                held = self.store.take_over(allocation, new_id("fill"), new_id("round"), now_iso())
            else:
                if self.store.ask_recheck(allocation):
                    return BUSY
                continue
            if held:
                return held
        raise RuntimeError(f"appeal {need_id}: gave up after {CAS_ATTEMPTS} concurrent updates")

    def _candidates(self, allocation):
        """Lots that may serve the appeal's missing lines, by line index, in draw order."""
        community, found_ = allocation["community"], {}
        for index, missing in enumerate(allocation.get("shortfall", [])):
            lots = self.store.candidates(missing["item"], missing["unit"], truncate(community, "city"))
            ranked = domain.rank(domain.usable(lots, now_iso()), community)
            if ranked:
                found_[missing.get("line", index)] = ranked
        return found_

    def _top_up(self, allocation):
        """One round: reserve what the appeal misses from available lots, then, only while this
        worker still holds the appeal, record the pledges and announce the need's new state.
        The reservations of this round (from an interrupted attempt) and of rounds whose holder
        went silent are adopted."""
        need_id, community = allocation["_id"], allocation["community"]
        token, round_id = allocation["pending"]["token"], allocation["pending"]["round"]
        rounds = {round_id, *allocation["pending"].get("adopt", [])}
        held = [(lot, p) for lot, p in self.store.pledged_to(need_id)
                if p.get("round") in rounds and p["state"] == "reserved"]
        candidates = self._candidates(allocation)
        new_pledges, shortfall = [], []
        for index, missing in enumerate(allocation.get("shortfall", [])):
            line = missing.get("line", index)
            mine = [(lot, p) for lot, p in held if p["line"] == line]
            new_pledges += [domain.pledge_line(lot, p) for lot, p in mine]
            remaining = missing["quantity"] - sum(p["quantity"] for _, p in mine)
            for lot in candidates.get(line, []):
                if remaining <= EPSILON:
                    break
                pledge = {"pledge_id": domain.pledge_id(need_id, line, lot["_id"], round_id), "need_id": need_id,
                          "community": community, "line": line, "round": round_id}
                reserved = self._reserve_from(lot, pledge, remaining)
                if reserved:
                    new_pledges.append(domain.pledge_line(*reserved))
                    remaining -= reserved[1]["quantity"]
            if remaining > EPSILON:
                shortfall.append({**missing, "line": line, "quantity": round(remaining, 6)})
        changes, event = None, None
        if new_pledges:
            pledges = allocation.get("pledges", []) + new_pledges
            event = domain.outcome({"need_id": need_id, "community": community}, pledges, shortfall)
            changes = {"pledges": pledges, "shortfall": shortfall, "state": "shortfall" if shortfall else "pledged"}
        before = self.store.finish_top_up(need_id, token, changes, event)
        if before is None:  # no longer ours: cancelled (give back), or taken over (the new holder adopts)
            current = self.store.allocations.find_one({"_id": need_id}, {"state": 1})
            if current and current["state"] == "cancelled":
                self._release(need_id, community)
            return None
        if event:
            self.outbox.flush(self.store.allocations, self.store.allocations.find_one({"_id": need_id}))
            self.log.info("appeal." + event["type"], need_id=need_id, pledges=len(new_pledges),
                          shortfall=len(shortfall))
        return before

    @staticmethod
    def _lot_out(lot):
        return schemas.LotOut().dump({**lot, "id": lot["_id"]})

"""Pledging lots to needs: a need's first pledging, giving pledges back, and topping up open
appeals from lots that arrive later. The rules are in `domain`; this is the sequence of
conditional store updates that applies them, shared by the service's entrypoints."""
import math
from datetime import timedelta

from services.charity import domain
from wushe import metrics
from wushe.clock import iso, new_id, now, now_iso
from wushe.regions import truncate
from wushe.vocabulary import FUNDS

EPSILON = 1e-9
CAS_ATTEMPTS = 50
ROUNDS = 20
BUSY = "busy"


def count_value(event, community, cents):
    """The operations dashboard's value of resources pledged or delivered, by district."""
    if cents:
        metrics.RESOURCES_VALUE_CENTS.labels(event, truncate(community, "district")).inc(cents)


class Pledging:
    """Bound to one worker's store, outbox and log (`Pledging(self.store, self.outbox, self.log)`)."""

    def __init__(self, store, outbox, log, lease_seconds):
        self.store, self.outbox, self.log, self.lease_seconds = store, outbox, log, lease_seconds

    def reserve(self, need, lines):
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

    def release(self, need_id, community):
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
                count_value("released", community, sum(p["value_cents"] for p in released))
        return returned

    # --- appeals ----------------------------------------------------------------------------------
    def fill_appeals(self):
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
            elif pending["at"] < iso(now() - timedelta(seconds=self.lease_seconds)):
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
                self.release(need_id, community)
            return None
        if event:
            self.outbox.flush(self.store.allocations, self.store.allocations.find_one({"_id": need_id}))
            count_value("pledged", community, sum(p["value_cents"] for p in new_pledges))
            self.log.info("appeal." + event["type"], need_id=need_id, pledges=len(new_pledges),
                          shortfall=len(shortfall))
        return before


"""The volunteers service (志愿者): volunteers, calls and claims (抢单), the time bank (时间银行)."""
import os

from nameko.timer import timer

from services.volunteers import domain, schemas, timebank
from services.volunteers.store import VolunteersStore
from wushe.clock import iso, new_id, now_iso
from wushe.config import RulesConfig
from wushe.errors import Conflict, InvalidInput, NotFound, loaded
from wushe.events import new_event
from wushe.outbox import Outbox
from wushe.rpc import rpc
from wushe.regions import level_of, truncate, under_filter
from wushe.store import Store, found, insert_new, page
from wushe.subscribe import DUPLICATE, on_event
from wushe.telemetry import Telemetry

# how often open calls are checked against their deadline (read at import: nameko timers are static)
EXPIRY_CHECK_SECONDS = float(os.environ.get("WUSHE_CALL_EXPIRY_CHECK_SECONDS", "30"))


class VolunteersService:
    name = "volunteers"

    store = Store(VolunteersStore)
    outbox = Outbox(lambda store: store.outboxes())
    log = Telemetry()
    rules = RulesConfig()

    @rpc
    def add_volunteer(self, payload):
        body = loaded(schemas.VolunteerIn(), payload)
        volunteer = {"_id": body.pop("id", None) or new_id("vol"), **body, "hours_balance": 0.0,
                     "credited_calls": [], "txns": [], "pending": [], "created_at": now_iso()}
        if not insert_new(self.store.volunteers, volunteer):
            raise Conflict(f"volunteer {volunteer['_id']} exists")
        return self._volunteer_out(volunteer)

    @rpc
    def get_volunteer(self, volunteer_id):
        return self._volunteer_out(self._volunteer(volunteer_id))

    @rpc
    def get_call(self, call_id):
        return self._call_out(self._call(call_id))

    @rpc
    def list_calls(self, state=None, community=None, limit=50, cursor=None):
        query = {}
        if state:
            query["state"] = state
        if community:
            # "near" a community: the calls of its street (a larger region: everything under it)
            near = truncate(community, "street") if level_of(community) == "community" else community
            query["street"] = under_filter(near)
        docs, next_cursor = page(self.store.calls, query, limit, cursor)
        return {"items": [self._call_out(d) for d in docs], "next_cursor": next_cursor}

    @rpc
    def claim(self, call_id, payload):
        body = loaded(schemas.ClaimIn(), payload)
        call = self._call(call_id)
        volunteer = self._volunteer(body["volunteer_id"], field="volunteer_id")
        lacking = domain.missing_skills(call, volunteer)
        if lacking:
            raise InvalidInput("the volunteer lacks a required skill",
                               {"volunteer_id": [f"missing skills: {', '.join(lacking)}"]})
        claimed_event = domain.event(call, "call_claimed", volunteer_id=volunteer["_id"], slots=call["slots"])
        updated = self.store.claim(call, volunteer["_id"], claimed_event)
        if not updated:
            raise Conflict(domain.why_refused(self._call(call_id), volunteer["_id"]))
        self.outbox.flush(self.store.calls, updated)
        if domain.is_full(updated):
            self._move(updated, ["open"], "filled", "call_filled", volunteer_ids=updated["claimed"])
        self.log.info("call.claimed", need_id=call["need_id"], call_id=call_id, volunteer_id=volunteer["_id"])
        return {"call_id": call_id, "volunteer_id": volunteer["_id"],
                "position": updated["claimed"].index(volunteer["_id"]) + 1, "slots": call["slots"]}

    @rpc
    def reopen(self, call_id, payload):
        """A station opens an expired call again, with a new deadline (the need links if it fills)."""
        body = loaded(schemas.ReopenIn(), payload)
        expires_at = iso(body["expires_at"])
        if expires_at <= now_iso():
            raise InvalidInput("the new deadline has passed", {"expires_at": ["must be in the future"]})
        call = self._call(call_id)
        if call["state"] != "expired":
            raise Conflict(f"only an expired call can be reopened; this one is {call['state']}")
        # the new deadline goes in the same update as the state, or a crash would leave an open
        # call with a past deadline for the timer to expire again
        updated = self.store.move(call, ["expired"], "open", domain.event(call, "call_reopened", expires_at=expires_at),
                                  expires_at=expires_at, reopened_at=now_iso())
        if not updated:
            raise Conflict("the call changed meanwhile; read it again")
        self.outbox.flush(self.store.calls, updated)
        return self._call_out(updated)

    @rpc
    def complete(self, call_id, payload):
        body = loaded(schemas.CompletionIn(), payload)
        call = self._call(call_id)
        volunteer = self._volunteer(body["volunteer_id"], field="volunteer_id")
        if volunteer["_id"] not in call["claimed"] or call["state"] == "cancelled":
            raise Conflict("only a volunteer holding a claim on a call that is not cancelled can complete it")
        credited = domain.event(call, "hours_credited", volunteer_id=volunteer["_id"], hours=body["hours"])
        txn = timebank.transaction(timebank.credit_id(call_id, volunteer["_id"]), "credit", timebank.ISSUED,
                                   volunteer["_id"], body["hours"], now_iso(), call_id=call_id,
                                   community=call["community"])
        updated = self.store.credit(volunteer["_id"], call_id, txn, credited)
        if not updated:
            raise Conflict("this volunteer's hours for this call are already credited")
        self._finish(volunteer["_id"], txn)
        # the call keeps the services done for it (the statistics' 人次 and hours)
        self.store.calls.update_one({"_id": call_id}, {"$addToSet": {"completions": {
            "volunteer_id": volunteer["_id"], "hours": body["hours"]}}})
        self.outbox.flush(self.store.volunteers, updated)
        return {"call_id": call_id, "volunteer_id": volunteer["_id"], "hours": body["hours"],
                "hours_balance": updated["hours_balance"]}

    # the time bank (时间银行) ---------------------------------------------------------------------
    @rpc
    def redeem(self, volunteer_id, payload):
        body = loaded(schemas.RedemptionIn(), payload)
        volunteer = self._volunteer(volunteer_id)
        txn = timebank.transaction(body.get("id") or new_id("txn"), "redemption", volunteer_id, timebank.REDEEMED,
                                   body["hours"], now_iso(), service=body["service"], beneficiary=body["beneficiary"])
        event = new_event("volunteers", "hours_redeemed", {
            "volunteer_id": volunteer_id, "community": volunteer["community"], "txn_id": txn["_id"],
            "hours": txn["hours"], "beneficiary": body["beneficiary"]}, subject=volunteer_id)
        return self._spend(volunteer, txn, event)

    @rpc
    def transfer(self, volunteer_id, payload):
        body = loaded(schemas.TransferIn(), payload)
        volunteer = self._volunteer(volunteer_id)
        self._volunteer(body["to_volunteer_id"], field="to_volunteer_id")
        refused = timebank.transfer_refused(volunteer_id, body["to_volunteer_id"])
        if refused:
            raise InvalidInput(refused, {"to_volunteer_id": [refused]})
        txn = timebank.transaction(body.get("id") or new_id("txn"), "transfer", volunteer_id,
                                   body["to_volunteer_id"], body["hours"], now_iso())
        event = new_event("volunteers", "hours_transferred", {
            "volunteer_id": volunteer_id, "community": volunteer["community"], "txn_id": txn["_id"],
            "hours": txn["hours"], "to_volunteer_id": body["to_volunteer_id"]}, subject=volunteer_id)
        return self._spend(volunteer, txn, event)

    @rpc
    def ledger(self, volunteer_id, limit=50):
        volunteer = self._volunteer(volunteer_id)
        entries = timebank.entries_for(volunteer_id, self.store.transactions(volunteer_id, limit))
        return {"volunteer_id": volunteer_id, "hours_balance": volunteer["hours_balance"], "items": entries,
                "next_cursor": None}

    @timer(interval=EXPIRY_CHECK_SECONDS)
    def settle_ledger(self):
        """Finish the time-bank movements a crash left pending (recorded, paid, cleared)."""
        for volunteer in self.store.volunteers.find({"pending.0": {"$exists": True}}, {"pending": 1}).limit(500):
            for txn in volunteer["pending"]:
                self._finish(volunteer["_id"], txn)

    @rpc
    def stats(self, region):
        completions = [c for call in self.store.calls.find({"community": under_filter(region)}, {"completions": 1})
                       for c in call.get("completions", [])]
        credited = self.store.ledger.find({"kind": "credit", "community": under_filter(region)}, {"hours": 1})
        return {"volunteer_services_completed": len(completions),
                "volunteer_hours": round(sum(txn["hours"] for txn in credited), 2)}

    @on_event("community", "need_registered")
    def on_need_registered(self, event):
        need = event.data
        if not need["requirements"].get("volunteers"):
            return
        if self.store.cancelled.find_one({"_id": need["need_id"]}):
            return
        call, opened = domain.new_call(domain.call_id_for(need["need_id"]), need, self.rules.call_expiry_hours, now_iso())
        if insert_new(self.store.calls, {**call, "outbox": [opened]}):
            self.outbox.flush(self.store.calls, {"_id": call["_id"], "outbox": [opened]})
        else:  # a redelivery: publish whatever is still pending
            call = self.store.calls.find_one({"need_id": need["need_id"]})
            self.outbox.flush(self.store.calls, call)
            return DUPLICATE
        if self.store.cancelled.find_one({"_id": need["need_id"]}):  # cancelled meanwhile
            self._move(call, ["open", "filled"], "cancelled", "call_cancelled", reason="need_cancelled")

    @on_event("community", "need_cancelled")
    def on_need_cancelled(self, event):
        insert_new(self.store.cancelled, {"_id": event.need_id, "at": event.time})
        call = self.store.calls.find_one({"need_id": event.need_id})
        if call:
            self._move(call, ["open", "filled"], "cancelled", "call_cancelled", reason="need_cancelled")

    @timer(interval=EXPIRY_CHECK_SECONDS)
    def settle_calls(self):
        """Calls still open at their deadline expire (the need is escalated). A call left open
        though full (the process died between the claim that filled it and marking it filled)
        is marked filled."""
        for call in self.store.calls.find({"state": "open"}).limit(5000):
            if domain.is_full(call):
                self._move(call, ["open"], "filled", "call_filled", volunteer_ids=call["claimed"])
            elif call["expires_at"] < now_iso():
                self._move(call, ["open"], "expired", "call_expired", volunteer_ids=call["claimed"])

    # ----------------------------------------------------------------------------------------
    def _spend(self, volunteer, txn, event):
        updated = self.store.debit(volunteer["_id"], txn, event)
        if not updated:
            if txn["_id"] in (self.store.volunteers.find_one({"_id": volunteer["_id"]}, {"txns": 1}) or {}).get("txns", []):
                raise Conflict(f"transaction {txn['_id']} was already made")
            raise Conflict(f"the balance ({volunteer['hours_balance']:g} h) does not cover {txn['hours']:g} h")
        self._finish(volunteer["_id"], txn)
        self.outbox.flush(self.store.volunteers, updated)
        return {"txn_id": txn["_id"], "kind": txn["kind"], "hours": txn["hours"],
                "hours_balance": updated["hours_balance"]}

    def _finish(self, owner_id, txn):
        """Record the transaction, pay a volunteer payee, clear the marker — each idempotent."""
        self.store.record(txn)
        payee = txn["legs"][1]["account"]
        if payee != owner_id and not payee.startswith("timebank:"):
            self.store.pay(payee, txn)
        self.store.clear(owner_id, txn["_id"])

    def _move(self, call, from_states, to, event_type, **data):
        updated = self.store.move(call, from_states, to, domain.event(call, event_type, **data),
                                  **{f"{to}_at": now_iso()})
        if updated:
            self.outbox.flush(self.store.calls, updated)
            self.log.info("call." + to, need_id=call["need_id"], call_id=call["_id"])
        return updated

    def _call(self, call_id):
        return found(self.store.calls, call_id, "call")

    def _volunteer(self, volunteer_id, field=None):
        volunteer = self.store.volunteers.find_one({"_id": volunteer_id})
        if not volunteer:
            if field:
                raise InvalidInput("unknown volunteer", {field: [f"no volunteer {volunteer_id}"]})
            raise NotFound(f"no volunteer {volunteer_id}")
        return volunteer

    @staticmethod
    def _call_out(call):
        return schemas.CallOut().dump({**call, "id": call["_id"]})

    @staticmethod
    def _volunteer_out(volunteer):
        return schemas.VolunteerOut().dump({**volunteer, "id": volunteer["_id"]})

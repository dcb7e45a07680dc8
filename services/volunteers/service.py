"""The volunteers service (志愿者): volunteers, calls and claims (抢单), the time bank (时间银行)."""
import os

from nameko.timer import timer

from services.volunteers import attendance, domain, schemas, timebank
from services.volunteers.store import VolunteersStore
from wushe.clock import iso, later, new_id, now_iso, parse
from wushe.config import RulesConfig
from wushe.errors import Conflict, InvalidInput, loaded
from wushe.events import new_event
from wushe.fields import instance
from wushe.outbox import Outbox
from wushe.rpc import rpc
from wushe import metrics
from wushe.regions import level_of, truncate, under_filter
from wushe.store import Store, create, found, insert_new, page
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
    _districts_measured = set()  # shared by the workers: a district whose calls all closed reads 0

    @rpc
    def add_volunteer(self, payload):
        body = loaded(schemas.VolunteerIn, payload)
        volunteer = create(self.store.volunteers, body, "vol", "volunteer", hours_balance=0.0,
                           credited_calls=[], txns=[], pending=[])
        return self._volunteer_out(volunteer)

    @rpc
    def get_volunteer(self, volunteer_id):
        return self._volunteer_out(self._volunteer(volunteer_id))

    @rpc
    def get_call(self, call_id):
        return self._call_out(self._call(call_id))

    @rpc
    def list_calls(self, state=None, community=None, team=None, limit=50, cursor=None):
        query = {}
        if state:
            query["state"] = state
        if team:
            query["team_id"] = team
        if community:
            # "near" a community: the calls of its street (a larger region: everything under it)
            near = truncate(community, "street") if level_of(community) == "community" else community
            query["street"] = under_filter(near)
        docs, next_cursor = page(self.store.calls, query, limit, cursor)
        return {"items": [self._call_out(d) for d in docs], "next_cursor": next_cursor}

    @rpc
    def claim(self, call_id, payload):
        """Take a slot (抢单), or join the waiting list of a full call with `wait`."""
        body = loaded(schemas.ClaimIn, payload)
        call = self._call(call_id)
        volunteer = self._volunteer(body["volunteer_id"], field="volunteer_id")
        lacking = domain.missing_skills(call, volunteer)
        if lacking:
            raise InvalidInput("the volunteer lacks a required skill",
                               {"volunteer_id": [f"missing skills: {', '.join(lacking)}"]})
        booked = self._book(volunteer, call)
        try:
            updated, change = self._change_call(call_id, lambda c: domain.claim(
                c, volunteer, now_iso(), wait=body["wait"], waiting_max=self.rules.waiting_list_max), read=call)
        except Exception:
            if booked:  # the window this request booked is free again
                self.store.unbook(volunteer["_id"], call_id)
            raise
        self.log.info("call." + change.answer["status"], need_id=call["need_id"], call_id=call_id,
                      volunteer_id=volunteer["_id"])
        return {"call_id": call_id, "volunteer_id": volunteer["_id"], "slots": call["slots"],
                "call_version": updated["version"], **change.answer}

    @rpc
    def withdraw(self, call_id, volunteer_id):
        """Give a claim back before the service starts; the first volunteer waiting takes it."""
        self._call(call_id)
        updated, change = self._change_call(call_id, lambda c: domain.withdraw(c, volunteer_id, now_iso()))
        self.store.unbook(volunteer_id, call_id)
        self.log.info("call.withdrawn", need_id=updated["need_id"], call_id=call_id, volunteer_id=volunteer_id,
                      promoted=change.answer["promoted"])
        return {"call_id": call_id, "volunteer_id": volunteer_id, **change.answer, "call": self._call_out(updated)}

    @rpc
    def offer(self, call_id, payload):
        """Offer an open call to a team first (e.g. 助困陪诊 for an escort to hospital)."""
        body = loaded(schemas.OfferIn, payload)
        found(self.store.teams, body["team_id"], "team", field="team_id")
        hours = body.get("hours") or self.rules.team_first_hours
        updated, _ = self._change_call(call_id, lambda c: domain.offer(c, body["team_id"], now_iso(), hours))
        return self._call_out(updated)

    # attendance ---------------------------------------------------------------------------------
    @rpc
    def check_in(self, call_id, payload):
        body = loaded(schemas.AttendanceIn, payload)
        self._call(call_id)
        _, change = self._change_call(call_id, lambda c: attendance.check_in(c, body["volunteer_id"], now_iso()))
        return {"call_id": call_id, "volunteer_id": body["volunteer_id"], **change.answer}

    @rpc
    def check_out(self, call_id, payload):
        """Check out: the attended time, to the quarter hour, is credited to the time bank once."""
        body = loaded(schemas.AttendanceIn, payload)
        volunteer_id = body["volunteer_id"]
        self._call(call_id)
        updated, _ = self._change_call(call_id, lambda c: attendance.check_out(
            c, volunteer_id, now_iso(), self.rules.attendance_cap_hours))
        record = domain.attendance_of(updated, volunteer_id)
        credited = self._credit(updated, volunteer_id, record["hours"])
        balance = (credited or self._volunteer(volunteer_id))["hours_balance"]
        return {"call_id": call_id, "volunteer_id": volunteer_id, "hours": record["hours"],
                "checked_in_at": record["checked_in_at"], "checked_out_at": record["checked_out_at"],
                "hours_balance": balance}

    @rpc
    def reopen(self, call_id, payload):
        """A station opens an expired call again, with a new deadline (the need links if it fills)."""
        body = loaded(schemas.ReopenIn, payload)
        expires_at = iso(body["expires_at"])
        if expires_at <= now_iso():
            raise InvalidInput("the new deadline has passed", {"expires_at": ["must be in the future"]})
        self._call(call_id)
        updated, _ = self._change_call(call_id, lambda c: domain.reopen(c, expires_at, now_iso()))
        return self._call_out(updated)

    @rpc
    def complete(self, call_id, payload):
        """A coordinator records a service done (when nobody checked in and out on the call)."""
        body = loaded(schemas.CompletionIn, payload)
        call = self._call(call_id)
        volunteer = self._volunteer(body["volunteer_id"], field="volunteer_id")
        if volunteer["_id"] not in call["claimed"] or call["state"] == "cancelled":
            raise Conflict("only a volunteer holding a claim on a call that is not cancelled can complete it")
        updated = self._credit(call, volunteer["_id"], body["hours"])
        if not updated:
            raise Conflict("this volunteer's hours for this call are already credited")
        return {"call_id": call_id, "volunteer_id": volunteer["_id"], "hours": body["hours"],
                "hours_balance": updated["hours_balance"]}

    # teams ----------------------------------------------------------------------------------------
    @rpc
    def add_team(self, payload):
        body = loaded(schemas.TeamIn, payload)
        team = create(self.store.teams, body, "team", "team")
        return self.get_team(team["_id"])

    @rpc
    def get_team(self, team_id):
        team = found(self.store.teams, team_id, "team")
        members = [v["_id"] for v in self.store.volunteers.find({"teams": team_id}, {"_id": 1}).sort("_id", 1)]
        return instance(schemas.TeamOut).dump({**team, "id": team["_id"], "members": members})

    @rpc
    def join_team(self, team_id, payload):
        body = loaded(schemas.MembershipIn, payload)
        found(self.store.teams, team_id, "team")
        self._volunteer(body["volunteer_id"], field="volunteer_id")
        self.store.volunteers.update_one({"_id": body["volunteer_id"]}, {"$addToSet": {"teams": team_id}})
        return self.get_team(team_id)

    # the time bank (时间银行) ---------------------------------------------------------------------
    @rpc
    def redeem(self, volunteer_id, payload):
        body = loaded(schemas.RedemptionIn, payload)
        volunteer = self._volunteer(volunteer_id)
        txn = timebank.transaction(body.get("id") or new_id("txn"), "redemption", volunteer_id, timebank.REDEEMED,
                                   body["hours"], now_iso(), service=body["service"], beneficiary=body["beneficiary"])
        event = new_event("volunteers", "hours_redeemed", {
            "volunteer_id": volunteer_id, "community": volunteer["community"], "txn_id": txn["_id"],
            "hours": txn["hours"], "beneficiary": body["beneficiary"]}, subject=volunteer_id)
        return self._spend(volunteer, txn, event)

    @rpc
    def transfer(self, volunteer_id, payload):
        body = loaded(schemas.TransferIn, payload)
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
        for volunteer in self.store.with_pending_movements(limit=500):
            for txn in volunteer["pending"]:
                self._finish(volunteer["_id"], txn)

    @rpc
    def stats(self, region):
        calls = list(self.store.calls.find({"community": under_filter(region)},
                                           {"completions": 1, "waiting": 1, "state": 1, "no_shows": 1}))
        credited = self.store.ledger.find({"kind": "credit", "community": under_filter(region)}, {"hours": 1})
        waiting = [len(c.get("waiting", [])) for c in calls if c["state"] in domain.LIVE and c.get("waiting")]
        return {"volunteer_services_completed": sum(len(c.get("completions", [])) for c in calls),
                "volunteer_hours": round(sum(txn["hours"] for txn in credited), 2),
                "waiting_list": {"calls": len(waiting), "volunteers": sum(waiting)},
                "volunteer_no_shows": sum(len(c.get("no_shows", [])) for c in calls)}

    @on_event("community", "need_registered")
    def on_need_registered(self, event):
        need = event.data
        if not need["requirements"].get("volunteers"):
            return
        if self.store.cancelled.find_one({"_id": need["need_id"]}):
            return
        call, opened = domain.new_call(domain.call_id_for(need["need_id"]), need, self.rules.call_expiry_hours,
                                       now_iso(), self.rules.team_first_hours)
        if insert_new(self.store.calls, {**call, "outbox": [opened]}):
            self.outbox.flush(self.store.calls, {"_id": call["_id"], "outbox": [opened]})
        else:  # a redelivery: publish whatever is still pending
            call = self.store.calls.find_one({"need_id": need["need_id"]})
            self.outbox.flush(self.store.calls, call)
            return DUPLICATE
        if self.store.cancelled.find_one({"_id": need["need_id"]}):  # cancelled meanwhile
            self._cancel(call["_id"])

    @on_event("community", "need_cancelled")
    def on_need_cancelled(self, event):
        insert_new(self.store.cancelled, {"_id": event.need_id, "at": event.time})
        call = self.store.calls.find_one({"need_id": event.need_id}, {"_id": 1})
        if call:
            self._cancel(call["_id"])

    @timer(interval=EXPIRY_CHECK_SECONDS)
    def settle_calls(self):
        """Deadlines and no-shows: calls open at their deadline expire; claimants not checked in
        once a service is under way are recorded as no-shows."""
        now = now_iso()
        for call in self.store.calls.find({"state": "open"}, {"_id": 1}).limit(5000):
            self._change_call(call["_id"], lambda c: domain.settle(c, now))
        self._measure_open_calls(now)
        grace = later(now, minutes=-self.rules.no_show_grace_minutes)
        for call in self.store.calls.find({"state": {"$in": list(domain.LIVE)}, "starts_at": {"$lt": grace},
                                           "attendance_checked": {"$ne": True}}, {"_id": 1}).limit(5000):
            self._change_call(call["_id"], lambda c: attendance.no_shows(c, now, self.rules.no_show_grace_minutes))

    @timer(interval=EXPIRY_CHECK_SECONDS)
    def settle_bookings(self):
        """Free the windows no claim holds any more: a claim refused after its booking, a crash
        between the two, a call cancelled, a service long over."""
        stale = later(now_iso(), minutes=-1)
        done = later(now_iso(), days=-1)
        for volunteer in self.store.with_bookings_before(stale, limit=1000):
            for booking in volunteer["bookings"]:
                if booking["at"] > stale:
                    continue  # a claim may be on its way
                call = self.store.calls.find_one({"_id": booking["call_id"]}, {"claimed": 1, "waiting": 1, "state": 1})
                holds = call and call["state"] != "cancelled" and \
                    volunteer["_id"] in call["claimed"] + call.get("waiting", [])
                if not holds or booking["ends_at"] < done:
                    self.store.unbook(volunteer["_id"], booking["call_id"])

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

    def _change_call(self, call_id, decide, read=None):
        """Apply `decide(call)` (a domain Change, or None for nothing to do) by compare-and-set
        (`read`: the call as the caller just read it, to start from); announce what changed."""
        updated, change = self.store.change_call(call_id, decide, now_iso(), read=read)
        if change is not None:
            self.outbox.flush(self.store.calls, updated)
            if "state" in change.fields:
                self.log.info("call." + change.fields["state"], need_id=updated["need_id"], call_id=call_id)
        return updated, change

    def _measure_open_calls(self, now):
        """Open calls and the age of the oldest, by district, for the operations dashboard."""
        open_calls = {}
        for call in self.store.calls.find({"state": "open"}, {"street": 1, "opened_at": 1}):
            if call.get("opened_at"):
                open_calls.setdefault(truncate(call["street"], "district"), []).append(call["opened_at"])
        for district in set(open_calls) | self._districts_measured:
            opened = open_calls.get(district, [])
            metrics.CALLS_OPEN.labels(district).set(len(opened))
            metrics.OLDEST_OPEN_CALL_SECONDS.labels(district).set(
                (parse(now) - parse(min(opened))).total_seconds() if opened else 0)
        self._districts_measured |= set(open_calls)

    def _cancel(self, call_id):
        call, change = self._change_call(call_id, lambda c: domain.cancel(c, now_iso(), "need_cancelled"))
        for volunteer_id in (change.answer["released"] if change else []):
            self.store.unbook(volunteer_id, call_id)

    def _book(self, volunteer, call):
        """Book the call's service window for the volunteer (409 when it overlaps one of their
        claims). True when this request made the booking."""
        wanted = domain.booking(call)
        if not wanted:
            return False
        if self.store.book(volunteer["_id"], wanted, now_iso()):
            return True
        clash = domain.overlapping(self._volunteer(volunteer["_id"]).get("bookings", []), wanted)
        if clash:
            raise Conflict(f"the volunteer already holds call {clash[0]['call_id']} from "
                           f"{clash[0]['starts_at']} to {clash[0]['ends_at']}, which overlaps this one")
        return False  # booked for this call already (a retry); the claim decides

    def _credit(self, call, volunteer_id, hours):
        """Credit a service's hours to the volunteer's time bank, once per call and volunteer;
        the volunteer after it, or None when already credited."""
        credited = domain.event(call, "hours_credited", volunteer_id=volunteer_id, hours=hours)
        txn = timebank.transaction(timebank.credit_id(call["_id"], volunteer_id), "credit", timebank.ISSUED,
                                   volunteer_id, hours, now_iso(), call_id=call["_id"], community=call["community"])
        updated = self.store.credit(volunteer_id, call["_id"], txn, credited)
        if not updated:
            return None
        self._finish(volunteer_id, txn)
        metrics.VOLUNTEER_HOURS.labels(truncate(call["community"], "district")).inc(txn["hours"])
        # the call keeps the services done for it (the statistics' 人次 and hours)
        self.store.calls.update_one({"_id": call["_id"]}, {"$addToSet": {"completions": {
            "volunteer_id": volunteer_id, "hours": hours}}})
        self.outbox.flush(self.store.volunteers, updated)
        return updated

    def _call(self, call_id):
        return found(self.store.calls, call_id, "call")

    def _volunteer(self, volunteer_id, field=None):
        return found(self.store.volunteers, volunteer_id, "volunteer", field=field)

    @staticmethod
    def _call_out(call):
        return instance(schemas.CallOut).dump({**call, "id": call["_id"]})

    @staticmethod
    def _volunteer_out(volunteer):
        return instance(schemas.VolunteerOut).dump({**volunteer, "id": volunteer["_id"]})

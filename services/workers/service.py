"""The workers service (社工): stations and their staffing, social workers and supervision,
assignment, cases (个案) through their stages, visits and activities, the district queue."""
from nameko.timer import timer

from services.workers import domain, schemas
from services.workers.store import WorkersStore
from wushe.clock import iso, new_id, now, now_iso
from wushe.config import RulesConfig
from wushe.errors import Conflict, InvalidInput, loaded
from wushe.events import new_event
from wushe.fields import instance
from wushe.outbox import Outbox
from wushe.rpc import rpc
from wushe import metrics
from wushe.regions import truncate, under_filter
from wushe.store import Store, after, found, insert_new
from wushe.subscribe import DUPLICATE, on_event
from wushe.telemetry import Telemetry

SOURCE = "workers"
WAITING_FIELDS = ("community", "street", "district", "category", "urgency", "registered_at")


class WorkersService:
    name = "workers"

    store = Store(WorkersStore)
    outbox = Outbox(lambda store: store.outboxes())
    log = Telemetry()
    rules = RulesConfig()

    # stations and workers ---------------------------------------------------------------------
    @rpc
    def add_station(self, payload):
        body = loaded(schemas.StationIn, payload)
        station = {"_id": body.pop("id", None) or new_id("station"), **body, "created_at": now_iso()}
        if not insert_new(self.store.stations, station):
            raise Conflict(f"a station already serves {station['street']} (or the id is taken)")
        return self._station_out(station)

    @rpc
    def get_station(self, station_id):
        return self._station_out(found(self.store.stations, station_id, "station"))

    @rpc
    def add_worker(self, payload):
        body = loaded(schemas.WorkerIn, payload)
        station = self.store.stations.find_one({"_id": body["station_id"]})
        if not station:
            raise InvalidInput("unknown station", {"station_id": [f"no station {body['station_id']}"]})
        joined = body.pop("joined_at", None)
        worker = {"_id": body.pop("id", None) or new_id("worker"), **body, "street": station["street"],
                  "max_caseload": domain.cap_for(body["certification"], self.rules.caseload_caps,
                                                 body.get("max_caseload")),
                  "supervisor_id": body.get("supervisor_id"), "joined_at": iso(joined) if joined else now_iso(),
                  "caseload": 0, "cases": [], "active": True, "created_at": now_iso()}
        if worker["supervisor_id"]:
            supervisor = self.store.workers.find_one({"_id": worker["supervisor_id"]})
            problem = domain.supervision_problem(worker, supervisor)
            if problem:
                raise InvalidInput("the supervisor cannot supervise this worker", {"supervisor_id": [problem]})
        if not insert_new(self.store.workers, worker):
            raise Conflict(f"worker {worker['_id']} exists")
        self._drain(station["street"])  # room at the station: the district queue may move
        return self._worker_out(self.store.workers.find_one({"_id": worker["_id"]}))

    @rpc
    def get_worker(self, worker_id):
        return self._worker_out(found(self.store.workers, worker_id, "worker"))

    @rpc
    def certify(self, worker_id, payload):
        """A worker passed a certification exam (助理/中级/高级社工师): the level goes up, and with
        it the caseload cap when it was the level's default. Room may let the district queue move."""
        body = loaded(schemas.CertificationIn, payload)
        worker, to = found(self.store.workers, worker_id, "worker"), body["certification"]
        refused = domain.certification_refused(worker, to)
        if refused:
            raise Conflict(refused)
        certified_at = iso(body["certified_at"]) if body.get("certified_at") else now_iso()
        updated = after(self.store.workers, {"_id": worker_id, "certification": worker["certification"], "active": True},
                        {"$set": {"certification": to, "certified_at": certified_at,
                                  "max_caseload": domain.cap_after_certification(worker, to, self.rules.caseload_caps)}})
        if not updated:
            raise Conflict("the worker changed meanwhile; read it again")
        self.log.info("worker.certified", worker_id=worker_id, certification=to)
        self._drain(worker["street"])
        return self._worker_out(updated)

    @rpc
    def leave(self, worker_id, payload):
        """A worker leaves: their open cases go to colleagues by the assignment rule, or, when no
        colleague has room, to the district queue (the need is escalated until one does)."""
        body = loaded(schemas.LeaveIn, payload or {})
        found(self.store.workers, worker_id, "worker")
        leaver = after(self.store.workers, {"_id": worker_id, "active": True},
                       {"$set": {"active": False, "left_at": now_iso(), "leave_reason": body["reason"]}})
        if not leaver:
            raise Conflict(f"worker {worker_id} has already left")
        outcomes = [self._reassign(leaver, entry) for entry in leaver["cases"]]
        self.log.info("worker.left", worker_id=worker_id, cases=len(outcomes))
        return {"worker_id": worker_id, "active": False,
                "reassigned": [o for o in outcomes if o["to"]], "queued": [o["case_id"] for o in outcomes if not o["to"]]}

    # cases ------------------------------------------------------------------------------------
    @rpc
    def get_case(self, case_id):
        return self._case_out(found(self.store.cases, case_id, "case"))

    @rpc
    def change_stage(self, case_id, payload):
        body = loaded(schemas.StageIn, payload)
        case, to = found(self.store.cases, case_id, "case"), body["stage"]
        refused = domain.stage_refused(case["stage"], to)
        if refused:
            raise Conflict(refused)
        reopened = case["stage"] == "closed"
        if reopened:  # back into service: the worker needs room again
            worker = self.store.workers.find_one({"_id": case["worker_id"]})
            if not worker or not self.store.take_case(worker, case["need_id"], case["_id"]):
                raise Conflict("the case's worker has no room for it (or has left)")
        events = [self._event("case_stage_changed", case, from_stage=case["stage"], to_stage=to)]
        if to == "closed":
            events.append(self._event("case_closed", case, reason="case_closed"))
        moved = self.store.move_stage(case, to, events, **{f"{to}_at": now_iso()})
        if not moved:
            if reopened:
                self.store.release_case(case["need_id"], case["worker_id"])
            raise Conflict("the case changed meanwhile; read it again")
        self.outbox.flush(self.store.cases, moved)
        if to == "closed":
            self.store.release_case(case["need_id"], case["worker_id"])
            self._drain(case["street"])
        return self._case_out(moved)

    @rpc
    def record_activity(self, case_id, payload):
        """A household visit (入户走访) or a case, group or community activity, against the case
        and its station."""
        body = loaded(schemas.ActivityIn, payload)
        case = found(self.store.cases, case_id, "case")
        activity = {"_id": new_id("activity"), "case_id": case_id, "need_id": case["need_id"],
                    "station_id": case["station_id"], "street": case["street"], "community": case["community"],
                    "worker_id": case["worker_id"], "kind": body["kind"], "participants": body["participants"],
                    "note": body["note"], "at": iso(body["at"]) if body.get("at") else now_iso()}
        self.store.activities.insert_one(activity)
        return {k if k != "_id" else "id": v for k, v in activity.items() if k != "note"}

    @rpc
    def stats(self, region):
        stations = list(self.store.stations.find({"street": under_filter(region)}))
        compliant = sum(self._staffing(s)["compliant"] for s in stations)
        return {**self.store.figures(region), "stations": len(stations), "stations_compliant": compliant}

    @timer(interval=metrics.MEASURE_SECONDS)
    def measure(self):
        """Cases by stage and stations not meeting the staffing rules (by district), for the
        operations dashboard."""
        metrics.set_counts(metrics.CASES, self.store.cases_by_stage(domain.STAGES), domain.STAGES)
        noncompliant = {}
        for station in self.store.stations.find({}):
            district = truncate(station["street"], "district")
            noncompliant[district] = noncompliant.get(district, 0) + (not self._staffing(station)["compliant"])
        metrics.set_counts(metrics.STATIONS_NONCOMPLIANT, noncompliant, ())

    # events -----------------------------------------------------------------------------------
    @on_event("community", "need_registered")
    def on_need_registered(self, event):
        need = event.data
        if not need["requirements"]["worker"]:
            return
        decided = self.store.needs.find_one({"_id": need["need_id"]})
        if decided:  # a redelivery, or the need was cancelled before it got here
            self.outbox.flush(self.store.needs, decided)
            return DUPLICATE if decided["outcome"] != "cancelled" else None
        station = self.store.stations.find_one({"street": need["street"]})
        holder = self.store.holder_of(need["need_id"])  # a crash after taking the case, before deciding
        worker = holder or (station and self._take(station, need))
        waiting = {k: need[k] for k in WAITING_FIELDS}
        if worker:
            self._open_case(need, worker)
            outcome = self._assigned(need, worker)
            decision = {"_id": need["need_id"], "outcome": "assigned", "worker_id": worker["_id"], **waiting}
        else:
            outcome = self._unavailable(need, station, "no_worker_with_room" if station else "no_station")
            decision = {"_id": need["need_id"], "outcome": "unavailable", **waiting}
        if insert_new(self.store.needs, {**decision, "outbox": [outcome]}):
            self.outbox.flush(self.store.needs, {"_id": need["need_id"], "outbox": [outcome]})
            self.log.info("worker.decided", outcome=decision["outcome"], worker_id=decision.get("worker_id"))
        elif worker and self.store.needs.find_one({"_id": need["need_id"], "outcome": "cancelled"}):
            self._close(need["need_id"], "need_cancelled")  # cancelled while we were assigning

    @on_event("community", "need_cancelled")
    def on_need_cancelled(self, event):
        # a tombstone first, so that a need_registered arriving late assigns nobody; a need
        # waiting on the district queue leaves it
        insert_new(self.store.needs, {"_id": event.need_id, "outcome": "cancelled", "outbox": []})
        self.store.needs.update_one({"_id": event.need_id, "outcome": "unavailable"},
                                    {"$set": {"outcome": "cancelled"}})
        self._close(event.need_id, "need_cancelled")

    @on_event("community", "need_resolved")
    def on_need_resolved(self, event):
        self._close(event.need_id, "need_resolved")

    # --------------------------------------------------------------------------------------------
    def _take(self, station, need, excluding=None):
        workers = [w for w in self.store.station_workers(station["_id"]) if w["_id"] != excluding]
        for worker in domain.rank(workers, need["category"], need["urgency"]):
            taken = self.store.take_case(worker, need["need_id"], domain.case_id_for(need["need_id"]))
            if taken:
                return taken
        return None

    def _open_case(self, need, worker):
        """The need's case, new at stage `identified`, or an orphaned one given to `worker`."""
        case_id = domain.case_id_for(need["need_id"])
        opened = insert_new(self.store.cases, {
            "_id": case_id, "need_id": need["need_id"], "worker_id": worker["_id"],
            "station_id": worker["station_id"], "community": need["community"], "street": need["street"],
            "category": need["category"], "urgency": need["urgency"], "stage": "identified", "state": "open",
            "opened_at": now_iso(), "outbox": []})
        if not opened:
            self.store.cases.update_one({"_id": case_id, "worker_id": None},
                                        {"$set": {"worker_id": worker["_id"], "station_id": worker["station_id"]}})
        return case_id

    def _drain(self, street):
        """Assign the district queue's needs for this street, most urgent and oldest first,
        while a worker of its station has room."""
        station = self.store.stations.find_one({"street": street})
        if not station:
            return
        for waiting in domain.queue_order(self.store.waiting(street)):
            need = {**waiting, "need_id": waiting["_id"]}
            worker = self._take(station, need)
            if not worker:
                return
            self._open_case(need, worker)
            event = self._assigned(need, worker, from_queue=True)
            decided = self.store.decide(need["need_id"], "unavailable", "assigned", event, worker_id=worker["_id"])
            if decided:
                self.outbox.flush(self.store.needs, decided)
                self.log.info("worker.assigned_from_queue", need_id=need["need_id"], worker_id=worker["_id"])
            else:  # cancelled, or drained by someone else meanwhile
                self.store.release_case(need["need_id"], worker["_id"])

    def _reassign(self, leaver, entry):
        case = self.store.cases.find_one({"_id": entry["case_id"]})
        station = self.store.stations.find_one({"_id": leaver["station_id"]})
        need = {**case, "need_id": case["need_id"]}
        colleague = self._take(station, need, excluding=leaver["_id"])
        if colleague:
            event = self._assigned(need, colleague, reassigned_from=leaver["_id"])
            given = self.store.give_case(case, colleague, event, leaver["_id"])
            self.store.release_case(case["need_id"], leaver["_id"])
            if given:
                self.outbox.flush(self.store.cases, given)
                self.store.needs.update_one({"_id": case["need_id"]}, {"$set": {"worker_id": colleague["_id"]}})
            return {"case_id": case["_id"], "need_id": case["need_id"], "to": colleague["_id"]}
        self.store.release_case(case["need_id"], leaver["_id"])
        self.store.cases.update_one({"_id": case["_id"], "worker_id": leaver["_id"]}, {"$set": {"worker_id": None}})
        event = self._unavailable({**need, "district": case["street"].rsplit("/", 1)[0]}, station, "worker_left")
        decided = self.store.decide(case["need_id"], "assigned", "unavailable", event)
        if decided:
            self.outbox.flush(self.store.needs, decided)
        return {"case_id": case["_id"], "need_id": case["need_id"], "to": None}

    def _close(self, need_id, reason):
        """Close the need's case (its events), free the worker's caseload, let the queue move."""
        case = self.store.cases.find_one({"need_id": need_id, "state": "open"})
        if case:
            events = [self._event("case_stage_changed", case, from_stage=case["stage"], to_stage="closed"),
                      self._event("case_closed", case, reason=reason)]
            moved = self.store.move_stage(case, "closed", events, closed_at=now_iso())
            if moved:
                self.outbox.flush(self.store.cases, moved)
        self.store.release_case(need_id)
        if case:
            self._drain(case["street"])

    def _assigned(self, need, worker, **extra):
        return new_event(SOURCE, "worker_assigned", {
            "need_id": need["need_id"], "community": need["community"], "worker_id": worker["_id"],
            "case_id": domain.case_id_for(need["need_id"]), "station_id": worker["station_id"], **extra})

    def _unavailable(self, need, station, reason):
        return new_event(SOURCE, "worker_unavailable", {
            "need_id": need["need_id"], "community": need["community"], "station_id": station and station["_id"],
            "reason": reason, "escalated_to": need["district"]})

    @staticmethod
    def _event(event_type, case, **data):
        # a case orphaned by a worker who left has no worker until the queue gives it one
        return new_event(SOURCE, event_type, {"need_id": case["need_id"], "community": case["community"],
                                              "case_id": case["_id"], "worker_id": case["worker_id"] or "", **data})

    def _staffing(self, station):
        return domain.staffing(self.store.station_workers(station["_id"], active=False), now(), self.rules)

    def _station_out(self, station):
        return instance(schemas.StationOut).dump({**station, **self._staffing(station), "id": station["_id"]})

    def _worker_out(self, worker):
        due = domain.certify_by(worker, self.rules.certification_deadline_days) if worker.get("joined_at") else None
        return instance(schemas.WorkerOut).dump({**worker, "id": worker["_id"], "certify_by": due})

    def _case_out(self, case):
        return instance(schemas.CaseOut).dump({**case, "id": case["_id"],
                                       "activities": self.store.activities.count_documents({"case_id": case["_id"]})})

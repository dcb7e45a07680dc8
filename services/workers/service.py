"""The workers service (社工): stations, social workers, assignment, and cases (个案)."""
from nameko.rpc import rpc

from services.workers import domain, schemas
from services.workers.store import WorkersStore
from wushe.clock import new_id, now_iso
from wushe.config import RulesConfig
from wushe.errors import Conflict, InvalidInput, loaded
from wushe.events import new_event
from wushe.outbox import Outbox
from wushe.store import Store, found, insert_new
from wushe.subscribe import DUPLICATE, on_event
from wushe.telemetry import Telemetry

SOURCE = "workers"


class WorkersService:
    name = "workers"

    store = Store(WorkersStore)
    outbox = Outbox(lambda store: store.outboxes())
    log = Telemetry()
    rules = RulesConfig()

    @rpc
    def add_station(self, payload):
        body = loaded(schemas.StationIn(), payload)
        station = {"_id": body.pop("id", None) or new_id("station"), **body, "created_at": now_iso()}
        if not insert_new(self.store.stations, station):
            raise Conflict(f"a station already serves {station['street']} (or the id is taken)")
        return self._station_out(station, self.store.staffing(station["_id"]))

    @rpc
    def get_station(self, station_id):
        station = found(self.store.stations, station_id, "station")
        return self._station_out(station, self.store.staffing(station_id))

    @rpc
    def add_worker(self, payload):
        body = loaded(schemas.WorkerIn(), payload)
        station = self.store.stations.find_one({"_id": body["station_id"]})
        if not station:
            raise InvalidInput("unknown station", {"station_id": [f"no station {body['station_id']}"]})
        worker = {"_id": body.pop("id", None) or new_id("worker"), **body, "street": station["street"],
                  "max_caseload": body.get("max_caseload") or self.rules.default_max_caseload,
                  "caseload": 0, "cases": [], "active": True, "created_at": now_iso()}
        if not insert_new(self.store.workers, worker):
            raise Conflict(f"worker {worker['_id']} exists")
        return self._worker_out(worker)

    @rpc
    def get_worker(self, worker_id):
        return self._worker_out(found(self.store.workers, worker_id, "worker"))

    @rpc
    def stats(self, region):
        return {"cases_open": self.store.open_cases(region)}

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
        if worker:
            case_id = domain.case_id_for(need["need_id"])
            insert_new(self.store.cases, {
                "_id": case_id, "need_id": need["need_id"], "worker_id": worker["_id"],
                "station_id": worker["station_id"], "community": need["community"],
                "street": need["street"], "category": need["category"],
                "urgency": need["urgency"], "state": "open", "opened_at": now_iso(), "outbox": []})
            outcome = new_event(SOURCE, "worker_assigned", {
                "need_id": need["need_id"], "community": need["community"], "worker_id": worker["_id"],
                "case_id": case_id, "station_id": worker["station_id"]})
            decision = {"_id": need["need_id"], "outcome": "assigned", "worker_id": worker["_id"]}
        else:
            outcome = new_event(SOURCE, "worker_unavailable", {
                "need_id": need["need_id"], "community": need["community"],
                "station_id": station and station["_id"],
                "reason": "no_worker_with_room" if station else "no_station",
                "escalated_to": need["district"]})
            decision = {"_id": need["need_id"], "outcome": "unavailable"}
        if insert_new(self.store.needs, {**decision, "outbox": [outcome]}):
            self.outbox.flush(self.store.needs, {"_id": need["need_id"], "outbox": [outcome]})
            self.log.info("worker.decided", outcome=decision["outcome"], worker_id=decision.get("worker_id"))
        elif worker and self.store.needs.find_one({"_id": need["need_id"], "outcome": "cancelled"}):
            self._close(need["need_id"], "need_cancelled")  # cancelled while we were assigning

    def _take(self, station, need):
        workers = list(self.store.workers.find({"station_id": station["_id"], "active": True}))
        for worker in domain.rank(workers, need["category"], need["urgency"]):
            taken = self.store.take_case(worker, need["need_id"], domain.case_id_for(need["need_id"]))
            if taken:
                return taken
        return None

    @on_event("community", "need_cancelled")
    def on_need_cancelled(self, event):
        # a tombstone first, so that a need_registered arriving late assigns nobody
        insert_new(self.store.needs, {"_id": event.need_id, "outcome": "cancelled", "outbox": []})
        self._close(event.need_id, "need_cancelled")

    @on_event("community", "need_resolved")
    def on_need_resolved(self, event):
        self._close(event.need_id, "need_resolved")

    def _close(self, need_id, reason):
        """Close the case (with its event), then free the worker's caseload. Both idempotent."""
        def closed(case):
            return new_event(SOURCE, "case_closed", {
                "need_id": need_id, "community": case["community"],
                "case_id": case["_id"], "worker_id": case["worker_id"], "reason": reason})
        case = self.store.close_case(need_id, now_iso(), closed)
        if case:
            self.outbox.flush(self.store.cases, case)
        self.store.release_case(need_id)

    @staticmethod
    def _station_out(station, staffing):
        return schemas.StationOut().dump({**station, **staffing, "id": station["_id"]})

    @staticmethod
    def _worker_out(worker):
        return schemas.WorkerOut().dump({**worker, "id": worker["_id"]})

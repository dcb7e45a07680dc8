"""The workers service (社工): stations and their staffing, social workers and supervision,
assignment, cases (个案) through their stages, visits and activities, the district queue —
nameko's wiring of the use cases in `handlers` and `assignment`."""

from services.workers import assignment, domain, handlers, schemas
from services.workers.store import WorkersStore
from wushe.runtime.config import RulesConfig
from wushe.runtime.errors import loaded
from wushe.contract.fields import instance
from wushe.runtime.outbox import Outbox
from wushe.runtime.rpc import rpc
from wushe.runtime.store import Store
from wushe.runtime.subscribe import on_event
from wushe.runtime.broker_watch import BrokerWatch
from wushe.runtime.telemetry import Telemetry
from wushe.runtime.timer import every


class WorkersService:
    """Entrypoints only: each loads its input and hands it to a use case."""
    name = "workers"

    store = Store(WorkersStore)
    outbox = Outbox(lambda store: store.outboxes())
    log = Telemetry()
    broker = BrokerWatch()  # wushe_broker_connected: the connection itself, every second
    rules = RulesConfig(domain.Rules)

    @property
    def workers(self):
        return handlers.Workers(self.store, self.outbox, self.log, self.rules)

    # stations and workers ---------------------------------------------------------------------
    @rpc
    def add_station(self, payload):
        return _station_out(handlers.add_station(self.workers, loaded(schemas.StationIn, payload)))

    @rpc
    def get_station(self, station_id):
        return _station_out(handlers.station(self.workers, station_id))

    @rpc
    def add_worker(self, payload):
        return _worker_out(handlers.add_worker(self.workers, loaded(schemas.WorkerIn, payload)))

    @rpc
    def get_worker(self, worker_id):
        return _worker_out(handlers.worker(self.workers, worker_id))

    @rpc
    def certify(self, worker_id, payload, within=""):
        """`within` here and below: the asking key's region (the gateway's; "" — everywhere)."""
        body = loaded(schemas.CertificationIn, payload)
        return _worker_out(handlers.certify(self.workers, worker_id, body["certification"], body.get("certified_at"),
                                            within))

    @rpc
    def leave(self, worker_id, payload, within=""):
        return handlers.leave(self.workers, worker_id, loaded(schemas.LeaveIn, payload or {})["reason"], within)

    # cases ------------------------------------------------------------------------------------
    @rpc
    def get_case(self, case_id):
        return _case_out(handlers.case(self.workers, case_id))

    @rpc
    def change_stage(self, case_id, payload, within=""):
        return _case_out(handlers.change_stage(self.workers, case_id, loaded(schemas.StageIn, payload)["stage"],
                                               within))

    @rpc
    def record_activity(self, case_id, payload, within=""):
        return handlers.record_activity(self.workers, case_id, loaded(schemas.ActivityIn, payload), within)

    @rpc
    def stats(self, region):
        return handlers.stats(self.workers, region)

    @every("MEASURE_SECONDS")
    def measure(self):
        handlers.measure(self.workers)

    # events -----------------------------------------------------------------------------------
    @on_event("community", "need_registered")
    def on_need_registered(self, event):
        return assignment.assign_need(self.workers, event.data)

    @on_event("community", "need_cancelled")
    def on_need_cancelled(self, event):
        assignment.cancel_need(self.workers, event.need_id)

    @on_event("community", "need_resolved")
    def on_need_resolved(self, event):
        assignment.close(self.workers, event.need_id, "need_resolved")


def _station_out(station):
    return instance(schemas.StationOut).dump({**station, "id": station["_id"]})


def _worker_out(worker):
    return instance(schemas.WorkerOut).dump({**worker, "id": worker["_id"]})


def _case_out(case):
    return instance(schemas.CaseOut).dump({**case, "id": case["_id"]})

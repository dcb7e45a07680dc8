"""The workers service's collections: stations, workers (with their open cases), cases,
activities, and one decision per need (assigned | unavailable = waiting on the district queue |
cancelled). Every query and write is a method named for what it does; a write that keeps an
invariant matches only while the state it was decided on still holds (None when it did not)."""
from pymongo import ASCENDING

from wushe.runtime import outbox
from wushe.runtime.outbox import entries
from wushe.contract.regions import under_filter
from wushe.runtime.store import after, insert_new

NO_OUTBOX = outbox.WITHOUT
# a worker as assignment ranks and takes them: without the cases they hold (an array as long as
# their caseload that assignment never reads; copied out with every read of a worker, it made
# each need cost more the more cases a station's workers held)
WITHOUT_CASES = {"cases": 0}


class WorkersStore:
    def __init__(self, db):
        self.stations = db.stations
        self.workers = db.workers
        self.cases = db.cases
        self.activities = db.activities
        self.needs = db.needs

    def ensure_indexes(self):
        self.stations.create_index("street", unique=True)  # a station serves one street
        self.workers.create_index([("station_id", ASCENDING), ("active", ASCENDING)])
        self.workers.create_index("cases.need_id")
        self.cases.create_index("need_id", unique=True)
        self.activities.create_index([("community", ASCENDING), ("kind", ASCENDING)])
        self.cases.create_index([("community", ASCENDING), ("state", ASCENDING)])
        self.cases.create_index("stage")  # the gauge counts each stage on the index
        self.needs.create_index([("street", ASCENDING), ("outcome", ASCENDING)])

    def outboxes(self):
        return [self.needs, self.cases]

    # stations -----------------------------------------------------------------------------------
    def add_station(self, station):
        """False when the id is taken or a station already serves the street (unique index)."""
        return insert_new(self.stations, station)

    def station(self, station_id):
        return self.stations.find_one({"_id": station_id})

    def station_serving(self, street):
        return self.stations.find_one({"street": street})

    def stations_under(self, region):
        """The stations of the streets in `region`."""
        return list(self.stations.find({"street": under_filter(region)}))

    def all_stations(self):
        return list(self.stations.find({}))

    # workers ------------------------------------------------------------------------------------
    def add_worker(self, worker):
        """False when the id is taken."""
        return insert_new(self.workers, worker)

    def worker(self, worker_id):
        return self.workers.find_one({"_id": worker_id})

    def station_workers(self, station_id, active=True):
        return list(self.workers.find({"station_id": station_id, **({"active": True} if active else {})},
                                      WITHOUT_CASES))

    def certify(self, worker, fields):
        """Record a certification decided on `worker` as read: only while its level is the one
        read and it has not left."""
        return after(self.workers, {"_id": worker["_id"], "certification": worker["certification"], "active": True},
                     {"$set": fields})

    def mark_left(self, worker_id, fields):
        """Record that an active worker left (once): the worker after, with the cases they held."""
        return after(self.workers, {"_id": worker_id, "active": True}, {"$set": fields})

    # caseload -----------------------------------------------------------------------------------
    def take_case(self, worker, need_id, case_id):
        """Add the case to the worker's caseload if it still has room (one atomic update); the
        worker after, without their cases."""
        return after(self.workers,
                     {"_id": worker["_id"], "active": True, "cases.need_id": {"$ne": need_id},
                      "max_caseload": worker["max_caseload"], "caseload": {"$lt": worker["max_caseload"]}},
                     {"$push": {"cases": {"need_id": need_id, "case_id": case_id}}, "$inc": {"caseload": 1}},
                     projection=WITHOUT_CASES)

    def holder_of(self, need_id):
        """The active worker whose caseload holds the need (a take cut short before its decision),
        without their cases."""
        return self.workers.find_one({"cases.need_id": need_id, "active": True}, WITHOUT_CASES)

    def release_case(self, need_id, worker_id=None):
        filter_ = {"cases.need_id": need_id, **({"_id": worker_id} if worker_id else {})}
        return after(self.workers, filter_, {"$pull": {"cases": {"need_id": need_id}}, "$inc": {"caseload": -1}},
                     projection=WITHOUT_CASES)

    # cases --------------------------------------------------------------------------------------
    def case(self, case_id):
        return self.cases.find_one({"_id": case_id}, NO_OUTBOX)

    def open_case_of(self, need_id):
        return self.cases.find_one({"need_id": need_id, "state": "open"}, NO_OUTBOX)

    def open_case(self, case):
        """Open the need's case; when it is there already and orphaned (its worker left and nobody
        had room), it goes to this case's worker. The case as stored."""
        if insert_new(self.cases, {**case, "outbox": []}):
            return case
        adopted = after(self.cases, {"_id": case["_id"], "worker_id": None},
                        {"$set": {"worker_id": case["worker_id"], "station_id": case["station_id"]}},
                        projection=NO_OUTBOX)
        return adopted or self.case(case["_id"])

    def move_stage(self, case, fields, events):
        """Move a case from the stage it was read in, with its events, once."""
        return after(self.cases, {"_id": case["_id"], "stage": case["stage"]}, {"$set": fields, **entries(*events)})

    def give_case(self, case_id, from_worker_id, fields, events):
        """Hand a case to another worker (it must still be with `from_worker_id`)."""
        return after(self.cases, {"_id": case_id, "worker_id": from_worker_id}, {"$set": fields, **entries(*events)})

    def orphan_case(self, case_id, from_worker_id):
        """A case whose worker left with no colleague to take it: nobody's until the queue moves."""
        self.cases.update_one({"_id": case_id, "worker_id": from_worker_id}, {"$set": {"worker_id": None}})

    def cases_by_stage(self, stages):
        """How many cases are at each stage (counted on the index, not read)."""
        return {stage: self.cases.count_documents({"stage": stage}) for stage in stages}

    # activities ---------------------------------------------------------------------------------
    def add_activity(self, activity):
        self.activities.insert_one(activity)

    def activities_of(self, case_id):
        return self.activities.count_documents({"case_id": case_id})

    # the needs' decisions and the district queue --------------------------------------------------
    def decision(self, need_id):
        """The need's decision as stored, with the events it still has to publish."""
        return self.needs.find_one({"_id": need_id})

    def add_decision(self, decision, events):
        """The need's first decision, with its events in its outbox; False when it has one."""
        return insert_new(self.needs, {**decision, "outbox": list(events)})

    def decide(self, need_id, from_outcome, fields, events):
        """Change a need's decision (e.g. unavailable → assigned) with its events, once."""
        return after(self.needs, {"_id": need_id, "outcome": from_outcome}, {"$set": fields, **entries(*events)})

    def set_decided_worker(self, need_id, worker_id):
        self.needs.update_one({"_id": need_id}, {"$set": {"worker_id": worker_id}})

    def cancel(self, need_id):
        """The need was cancelled: a tombstone first, so that a need_registered arriving late
        assigns nobody; a need waiting on the district queue leaves it."""
        insert_new(self.needs, {"_id": need_id, "outcome": "cancelled", "outbox": []})
        self.needs.update_one({"_id": need_id, "outcome": "unavailable"}, {"$set": {"outcome": "cancelled"}})

    def is_cancelled(self, need_id):
        return self.needs.find_one({"_id": need_id, "outcome": "cancelled"}, {"_id": 1}) is not None

    def waiting(self, street):
        return list(self.needs.find({"street": street, "outcome": "unavailable"}, NO_OUTBOX))

    # statistics ---------------------------------------------------------------------------------
    def figures(self, region):
        by_stage = {}
        # by community path: it lies under every region a station reports for (community to city)
        for case in self.cases.find({"community": under_filter(region), "state": "open"}, {"stage": 1}):
            by_stage[case["stage"]] = by_stage.get(case["stage"], 0) + 1
        activities = {}
        for row in self.activities.aggregate([{"$match": {"community": under_filter(region)}},
                                              {"$group": {"_id": "$kind", "n": {"$sum": 1}}}]):
            activities[row["_id"]] = row["n"]
        return {"cases_open": sum(by_stage.values()), "cases": {"open": sum(by_stage.values()), "by_stage": by_stage},
                "visits": activities.pop("household_visit", 0),
                "activities": {k: activities.get(k, 0) for k in ("case", "group", "community")}}

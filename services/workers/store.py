"""The workers service's collections: stations, workers (with their open cases), cases,
activities, and one decision per need (assigned | unavailable = waiting on the district queue |
cancelled)."""
from pymongo import ASCENDING

from wushe.outbox import entries
from wushe.regions import under_filter
from wushe.store import after


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

    # caseload ---------------------------------------------------------------------------------
    def take_case(self, worker, need_id, case_id):
        """Add the case to the worker's caseload if it still has room (one atomic update)."""
        return after(self.workers,
                     {"_id": worker["_id"], "active": True, "cases.need_id": {"$ne": need_id},
                      "max_caseload": worker["max_caseload"], "caseload": {"$lt": worker["max_caseload"]}},
                     {"$push": {"cases": {"need_id": need_id, "case_id": case_id}}, "$inc": {"caseload": 1}})

    def holder_of(self, need_id):
        return self.workers.find_one({"cases.need_id": need_id})

    def release_case(self, need_id, worker_id=None):
        filter_ = {"cases.need_id": need_id, **({"_id": worker_id} if worker_id else {})}
        return after(self.workers, filter_, {"$pull": {"cases": {"need_id": need_id}}, "$inc": {"caseload": -1}})

    def station_workers(self, station_id, active=True):
        return list(self.workers.find({"station_id": station_id, **({"active": True} if active else {})}))

    # cases --------------------------------------------------------------------------------------
    def move_stage(self, case, to, events, **fields):
        """Move a case from the stage it was read in to `to`, with its events, once."""
        state = "closed" if to == "closed" else "open"
        return after(self.cases, {"_id": case["_id"], "stage": case["stage"]},
                     {"$set": {"stage": to, "state": state, **fields}, **entries(*events)})

    def give_case(self, case, worker, event, from_worker_id):
        """Hand a case to another worker (it must still be with `from_worker_id`)."""
        return after(self.cases, {"_id": case["_id"], "worker_id": from_worker_id},
                     {"$set": {"worker_id": worker["_id"], "station_id": worker["station_id"]}, **entries(event)})

    def cases_by_stage(self, stages):
        """How many cases are at each stage (counted on the index, not read)."""
        return {stage: self.cases.count_documents({"stage": stage}) for stage in stages}

    # the district queue ---------------------------------------------------------------------------
    def waiting(self, street):
        return list(self.needs.find({"street": street, "outcome": "unavailable"}))

    def decide(self, need_id, from_outcome, to_outcome, event, **fields):
        """Change a need's decision (e.g. unavailable → assigned) with its event, once."""
        return after(self.needs, {"_id": need_id, "outcome": from_outcome},
                     {"$set": {"outcome": to_outcome, **fields}, **entries(event)})

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

"""The workers service's collections: stations, workers (with their open cases), cases."""
from pymongo import ASCENDING

from wushe.outbox import entries
from wushe.regions import under_filter
from wushe.store import after


class WorkersStore:
    def __init__(self, db):
        self.stations = db.stations
        self.workers = db.workers
        self.cases = db.cases        # one per assigned need
        self.needs = db.needs        # one decision per need: assigned | unavailable | cancelled

    def ensure_indexes(self):
        self.stations.create_index("street", unique=True)  # a station serves one street
        self.workers.create_index([("station_id", ASCENDING), ("active", ASCENDING)])
        self.workers.create_index("cases.need_id")
        self.cases.create_index("need_id", unique=True)

    def outboxes(self):
        return [self.needs, self.cases]

    def take_case(self, worker, need_id, case_id):
        """Add the case to the worker's caseload if it still has room (one atomic update)."""
        return after(self.workers,
                     {"_id": worker["_id"], "active": True, "cases.need_id": {"$ne": need_id},
                      "max_caseload": worker["max_caseload"], "caseload": {"$lt": worker["max_caseload"]}},
                     {"$push": {"cases": {"need_id": need_id, "case_id": case_id}}, "$inc": {"caseload": 1}})

    def holder_of(self, need_id):
        return self.workers.find_one({"cases.need_id": need_id})

    def release_case(self, need_id):
        return after(self.workers, {"cases.need_id": need_id},
                     {"$pull": {"cases": {"need_id": need_id}}, "$inc": {"caseload": -1}})

    def close_case(self, need_id, at, event_for):
        """Close the need's open case with its event; None when there is none open."""
        case = self.cases.find_one({"need_id": need_id, "state": "open"})
        if not case:
            return None
        return after(self.cases, {"_id": case["_id"], "state": "open"},
                     {"$set": {"state": "closed", "closed_at": at}, **entries(event_for(case))})

    def staffing(self, station_id):
        """Head count and certified count of a station's active workers."""
        active = list(self.workers.find({"station_id": station_id, "active": True}, {"certification": 1}))
        return {"workers": len(active), "certified": sum(w["certification"] != "none" for w in active)}

    def open_cases(self, region):
        return self.cases.count_documents({"state": "open", "street": under_filter(region)})

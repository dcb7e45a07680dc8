"""Idempotency-Key for POSTs that create: the same key and body answer the same result and
create nothing new; the same key with another body is refused (422).

A request holds its key while it runs (409 "in progress" to a repeat meanwhile) for at most
`lease_seconds`: a gateway killed mid-request, or a store that went away before the answer was
recorded, leaves the record running, and a repeat after the lease runs the request again (what
it creates has an id derived from the key, so nothing is created twice)."""
import hashlib
import json
from datetime import timedelta

from pymongo.errors import DuplicateKeyError
from werkzeug.wrappers import Response

from gateway.web import HttpProblem
from wushe.contract.clock import iso, now


class Idempotency:
    def __init__(self, collection, lease_seconds=30.0):
        self.records = collection
        self.lease_seconds = lease_seconds

    def run(self, key, route, raw_body, handle):
        if len(key) > 200:
            raise HttpProblem(422, "Invalid input", "Idempotency-Key is too long",
                              {"Idempotency-Key": ["at most 200 characters"]})
        record_id = hashlib.sha256(f"{route}\n{key}".encode()).hexdigest()
        body_hash = hashlib.sha256(raw_body).hexdigest()
        try:
            self.records.insert_one({"_id": record_id, "body_hash": body_hash, "state": "running",
                                     "started_at": iso(now())})
        except DuplicateKeyError:
            if not self._take_over(record_id, body_hash):
                return self._replay(record_id, body_hash)
        try:
            answer = handle()
        except HttpProblem as problem:
            if problem.status >= 500:
                self.records.delete_one({"_id": record_id})  # let a retry run again
            else:
                self._keep(record_id, problem.status, None, problem)
            raise
        except Exception as exc:
            from gateway.web import to_problem
            problem = to_problem(exc)
            if problem is None or problem.status >= 500:
                self.records.delete_one({"_id": record_id})
            else:
                self._keep(record_id, problem.status, None, problem)
            raise
        if isinstance(answer, Response):
            self.records.delete_one({"_id": record_id})
            return answer
        status, body = answer
        self._keep(record_id, status, body)
        return status, body

    def _take_over(self, record_id, body_hash):
        """Run again a request whose lease ran out (its runner died or lost the store): one
        repeat wins the record, any other still sees it in progress."""
        moment = now()
        expired = iso(moment - timedelta(seconds=self.lease_seconds))
        return self.records.find_one_and_update(
            {"_id": record_id, "body_hash": body_hash, "state": "running",
             "$or": [{"started_at": {"$lt": expired}}, {"started_at": {"$exists": False}}]},
            {"$set": {"started_at": iso(moment)}}) is not None

    def _keep(self, record_id, status, body, problem=None):
        saved = {"status": status, "body": json.dumps(body, ensure_ascii=False), "state": "done"}
        if problem is not None:
            # the errors as JSON text, as the answer shows them: their keys may be a list's indexes
            # (numbers) or the names of unknown fields a caller sent ("$x", "a.b"), no store keys
            saved["problem"] = {"title": problem.title, "detail": problem.detail,
                                "errors": json.dumps(problem.errors, ensure_ascii=False)}
        self.records.update_one({"_id": record_id}, {"$set": saved})

    def _replay(self, record_id, body_hash):
        record = self.records.find_one({"_id": record_id})
        if record["body_hash"] != body_hash:
            raise HttpProblem(422, "Idempotency-Key reused",
                              "this Idempotency-Key was used with a different body",
                              {"Idempotency-Key": ["already used with a different body"]})
        if record["state"] != "done":
            raise HttpProblem(409, "Request in progress",
                              "a request with this Idempotency-Key is still being processed",
                              headers={"Retry-After": "1"})
        if "problem" in record:
            p = record["problem"]
            errors = json.loads(p["errors"]) if isinstance(p["errors"], str) else p["errors"]  # or kept before as is
            raise HttpProblem(record["status"], p["title"], p["detail"], errors)
        return record["status"], json.loads(record["body"])

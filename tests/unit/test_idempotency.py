"""An Idempotency-Key whose request never finished (its gateway was SIGKILLed, or the store went
away before the answer was recorded) is not stuck "in progress" for ever: after the lease, a
repeat runs it again — what the process-mode chaos run caught."""
import mongomock
import pytest

from gateway.idempotency import Idempotency
from gateway.web import HttpProblem


@pytest.fixture
def records():
    return mongomock.MongoClient().db.idempotency_keys


def test_a_repeat_within_the_lease_is_in_progress_and_after_it_runs_again(records):
    keys = Idempotency(records, lease_seconds=30)

    def dies():  # as a SIGKILL would: not even the `except Exception` of the record's clean-up runs
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        keys.run("k-1", "key-a POST /api/v1/needs", b'{"a": 1}', dies)
    assert records.find_one()["state"] == "running"

    with pytest.raises(HttpProblem) as busy:
        keys.run("k-1", "key-a POST /api/v1/needs", b'{"a": 1}', lambda: (202, {"id": "need-1"}))
    assert busy.value.status == 409 and busy.value.title == "Request in progress"

    records.update_one({}, {"$set": {"started_at": "2000-01-01T00:00:00.000000Z"}})  # the lease ran out
    with pytest.raises(HttpProblem) as other_body:
        keys.run("k-1", "key-a POST /api/v1/needs", b'{"a": 2}', lambda: (202, {"id": "need-2"}))
    assert other_body.value.status == 422
    assert keys.run("k-1", "key-a POST /api/v1/needs", b'{"a": 1}', lambda: (202, {"id": "need-1"})) == \
        (202, {"id": "need-1"})
    assert keys.run("k-1", "key-a POST /api/v1/needs", b'{"a": 1}', lambda: pytest.fail("ran twice")) == \
        (202, {"id": "need-1"})


def test_a_record_from_before_leases_is_taken_over(records):
    keys = Idempotency(records, lease_seconds=30)
    keys.run("k-2", "r", b"{}", lambda: (201, {"id": "x"}))
    record_id = records.find_one()["_id"]
    records.replace_one({"_id": record_id}, {"_id": record_id, "body_hash": records.find_one()["body_hash"],
                                              "state": "running"})  # no started_at: written before
    assert keys.run("k-2", "r", b"{}", lambda: (201, {"id": "x"})) == (201, {"id": "x"})


@pytest.mark.parametrize("errors", [{"message_ids": {0: ["Not a valid string."]}},  # a list's items: numbers
                                    {"$where": ["Unknown field."], "a.b": ["Unknown field."]}])  # a caller's names
def test_a_refusal_is_kept_and_replayed_whatever_its_errors_are_keyed_by(records, errors):
    keys = Idempotency(records, lease_seconds=30)

    def refused():
        raise HttpProblem(422, "Invalid input", "the request has invalid fields", errors)

    for _ in range(2):  # the first runs and keeps its answer (once a 500: no store key may be a number)
        with pytest.raises(HttpProblem) as answer:
            keys.run("k-1", "key-a POST /api/v1/x", b"{}", refused)
        assert answer.value.status == 422
    # replayed as the first answer read (JSON: a number key becomes text)
    assert answer.value.errors == {k: {str(i): m for i, m in v.items()} if isinstance(v, dict) else v
                                   for k, v in errors.items()}

"""The use cases (`services/<party>/handlers.py`) without a broker: on the embedded store, with
an outbox that keeps what it would publish and a log that keeps its lines. The rules are the
real ones; only the I/O at the edge is replaced, here and nowhere else.

The embedded store yields to the other green threads before every operation (tests/fakes.py),
as a worker waiting on MongoDB does: use cases run "at once" on green threads read the same
document, then race to write it."""
import mongomock
import pytest

from tests import fakes


class Outbox:
    """wushe.runtime.outbox.Outbox's `flush`, publishing into a list: the events in publication order."""

    def __init__(self):
        self.published = []

    def flush(self, collection, doc):
        pending = (doc or {}).get("outbox") or []
        self.published += pending
        if pending:
            collection.update_one({"_id": doc["_id"]}, {"$pull": {"outbox": {"id": {"$in": [e["id"] for e in pending]}}}})
        return len(pending)

    def types(self):
        return [e["type"] for e in self.published]


class Log:
    """A structlog logger's calls, kept as (level, event, fields)."""

    def __init__(self):
        self.lines = []

    def __getattr__(self, level):
        return lambda event, **fields: self.lines.append((level, event, fields))


@pytest.fixture
def db():
    fakes.interleave_mongomock()  # also when the rest of the suite runs on a real MongoDB
    return mongomock.MongoClient().db


@pytest.fixture
def outbox():
    return Outbox()


@pytest.fixture
def log():
    return Log()

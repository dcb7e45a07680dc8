"""Every query the platform sends on its hot paths is planned on an index by a real query planner.

The platform runs a day of Taida street (the demo world, `make demo`'s needs, grabs, a donation,
a social worker leaving) on the local store server, while pymongo's command monitoring records
every query it sends; each timer runs once too. Each kind of query (its filter with the values
replaced by their types) is then planned by the server's own `explain`, and the test fails on a
collection scan. mongomock never plans anything, so a scan there is invisible; here it is not.

How a plan is read, each step the server's own answer:
1. the filter as sent;
2. an anchored region regex (`^tianjin/binhai/taida(/|$)`) as the index range MongoDB derives from
   its prefix (`["tianjin/binhai/taida", "tianjin/binhai/taidb")`: "prefix expression" in
   MongoDB's `$regex` manual): the store server does not plan regexes on indexes at all;
3. for an AND of several fields, each field alone: MongoDB's planner, and the store server's
   executor (it looks the first indexed clause up and filters the rest), use an index for one
   indexed clause of an AND — while the server's `explain` reports such a filter (`{_id, version}`,
   every compare-and-set) as a scan; measured on 20,000 documents, that update takes 0.8 ms, as
   on `{_id}` alone, not the tens of milliseconds a scan would.
"""
import base64
import io
import random
import re
import secrets
import uuid

import pymongo
import pytest
from nameko.testing.services import entrypoint_hook
from nameko.timer import Timer
from pymongo import monitoring

from tests.netports import free_port
from tests.store.plans import Recorder, indexes_used, plan, scans
from wushe.ops.cli import service_classes
from wushe.runtime.config import nameko_config
from wushe.demo.day import TAIDA, Day

pytestmark = pytest.mark.e2e
ADMIN_KEY = "plans-admin-key"

# Queries that read a whole collection by nature, each with why it is not a hot path.
WHOLE = {
    ("charity", "lots", "find", "{}"): "GET /lots without a region: an operator's paged listing of every lot "
                                       "(MongoDB walks the _id index for its order)",
    ("workers", "stations", "find", "{}"): "the staffing gauge checks every station, one per street (Tianjin has 252), "
                                          "every 30 s",
}

# The hot paths the issue names, each recognised in what the day sent (so that the test cannot
# pass by recording nothing): (database, collection, command, a piece of the filter's shape).
HOT = {
    "a need by id": ("community", "needs", "find", "{'_id': 'str'}"),
    "a need's compare-and-set": ("community", "needs", "update", "'version'"),
    "the caseload: a case taken under the cap": ("workers", "workers", "findAndModify", "'caseload'"),
    "a station's workers": ("workers", "workers", "find", "'station_id'"),
    "the district queue": ("workers", "needs", "find", "'outcome'"),
    "lot candidates": ("charity", "lots", "find", "'item'"),
    "open calls": ("volunteers", "calls", "find", "{'state': 'str'"),
    "a claim's compare-and-set": ("volunteers", "calls", "update", "'version'"),
    "the outbox backlog (community)": ("community", "needs", "find", "'outbox.time'"),
    "the outbox backlog (workers)": ("workers", "cases", "find", "'outbox.time'"),
    "the outbox backlog (volunteers)": ("volunteers", "calls", "find", "'outbox.time'"),
    "the outbox backlog (charity)": ("charity", "lots", "find", "'outbox.time'"),
    "the outbox backlog (orgs)": ("orgs", "needs", "find", "'outbox.time'"),
    "a need's view in the read model": ("gateway", "need_views", "find", "{'_id': 'str'}"),
}


@pytest.fixture
def recorded(rabbit_config, shared_store_uri, runner_factory):
    prefix = f"plans{uuid.uuid4().hex[:8]}_"
    recorder = Recorder(prefix)
    monitoring.register(recorder)  # for clients made from now on: the URI below is a new one
    uri = f"{shared_store_uri}{'&' if '?' in shared_store_uri else '?'}appName={prefix}"
    config = nameko_config(env={}, AMQP_URI=rabbit_config["AMQP_URI"], WEB_SERVER_ADDRESS=f"127.0.0.1:{free_port()}",
                           WUSHE={"MONGO_URI": uri, "DB_PREFIX": prefix, "ADMIN_KEY": ADMIN_KEY,
                                  "PII_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
                                  "RPC_TIMEOUT": 20.0, "OUTBOX_RELAY_SECONDS": 0.3, "OUTBOX_GRACE_SECONDS": 0.5})
    runner = runner_factory(config, *service_classes())
    runner.start()
    client = pymongo.MongoClient(shared_store_uri)
    try:
        base = f"http://{config['WEB_SERVER_ADDRESS']}"
        day = Day(base, ADMIN_KEY, out=io.StringIO(), rng=random.Random(11))
        figures = day.run(needs=10, settle_seconds=60)
        for path in (f"/needs?community={TAIDA}", f"/calls?state=open&community={TAIDA}", f"/lots?region={TAIDA}",
                     "/lots", f"/organisations?community={TAIDA}", f"/appeals?region={TAIDA}",
                     "/stations/station-taida", "/workers/worker-liu", "/volunteers/vol-courier-1/ledger"):
            day.get(path)
        day.post("/workers/worker-liu/leave", {})  # her open cases go to a colleague or the district queue
        for container in runner.containers:  # every timer once: the expiry check, the gauges, the hand-overs
            for entrypoint in container.entrypoints:
                if isinstance(entrypoint, Timer):
                    with entrypoint_hook(container, entrypoint.method_name) as tick:
                        tick()
        recorder.on = False
        yield recorder.seen, client, prefix, figures
    finally:
        recorder.on = False
        runner.kill()
        for name in client.list_database_names():
            if name.startswith(prefix):
                client.drop_database(name)
        client.close()


def test_every_hot_query_is_planned_on_an_index(recorded):
    seen, client, prefix, figures = recorded
    assert figures["needs registered"] == 10 and figures["needs linked"] + figures["needs escalated"] == 10

    missing = [name for name, (db, coll, command, piece) in HOT.items()
               if not any(k[:3] == (db, coll, command) and piece in k[3] for k in seen)]
    assert not missing, f"the day never sent these queries: {missing}"

    served, scanned = {}, []
    for (db, coll, command, shape, sort), (filter_, order) in sorted(seen.items()):
        if (db, coll, command, shape) in WHOLE:
            continue
        how = planned(client[prefix + db], coll, filter_, order)
        if how is None:
            scanned.append(f"{db}.{coll} {command} {shape}" + (f" sort {sort}" if order else ""))
        else:
            served[(db, coll, command, shape)] = how
    assert not scanned, "collection scans:\n  " + "\n  ".join(scanned)
    assert len(served) >= 60  # the day sends at least this many kinds of query


def planned(db, collection, filter_, sort=None):
    """The index the server plans these documents on (as sent, a regex as its range, or one clause
    of an AND); None for a collection scan."""
    for attempt in (filter_, as_ranges(filter_)):
        chosen = plan(db, collection, attempt, sort)
        if not scans(chosen):
            return indexes_used(chosen)
        if len(attempt) > 1:
            for field, clause in attempt.items():
                one = plan(db, collection, {field: clause})
                if not field.startswith("$") and not scans(one):
                    return indexes_used(one)
    return None


ANCHORED = re.compile(r"^\^((?:[\w/-]|\\-)+)\(/\|\$\)$")


def as_ranges(filter_):
    """Anchored region regexes as the range of their prefix (what MongoDB scans the index for)."""
    out = {}
    for field, clause in filter_.items():
        match = ANCHORED.match(clause.get("$regex", "")) if isinstance(clause, dict) and len(clause) == 1 else None
        if match:
            prefix = match.group(1).replace("\\", "")
            clause = {"$gte": prefix, "$lt": prefix[:-1] + chr(ord(prefix[-1]) + 1)}
        out[field] = clause
    return out

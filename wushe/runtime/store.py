"""The MongoDB store dependency: one database per service, reached only through pymongo's API.

`MONGO_URI` unset or `mongomock://` gives the embedded in-process store (mongomock): fine for
a demo and for CI, gone when the process stops — it says so loudly at start.
"""
import itertools
import threading

import eventlet
import pymongo
import structlog
from nameko.extensions import DependencyProvider
from pymongo.errors import ConnectionFailure, DuplicateKeyError

from wushe.contract.clock import new_id, now_iso
from wushe.runtime.config import settings
from wushe.runtime.errors import Conflict, InvalidInput, NotFound
from wushe.runtime import outbox

log = structlog.get_logger("wushe.runtime.store")
_clients = {}
_lock = threading.Lock()
EMBEDDED = ("", "mongomock://")


def is_embedded(uri):
    return uri in EMBEDDED or uri.startswith("mongomock://")


def client_for(uri):
    """One client per URI per process (pymongo clients pool their own connections)."""
    with _lock:
        if uri not in _clients:
            if is_embedded(uri):
                import mongomock

                from wushe.runtime import mongomock_speedups as embedded
                embedded.install()
                log.warning("store.embedded_non_durable",
                            detail="MONGO_URI is unset: using the in-process embedded store "
                                   "(mongomock). Data is NOT durable and is lost when the process "
                                   "stops. Set MONGO_URI=mongodb://… for a real MongoDB.")
                _clients[uri] = mongomock.MongoClient()
            else:
                _clients[uri] = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
        return _clients[uri]


def database(container_or_settings, name):
    cfg = container_or_settings if isinstance(container_or_settings, dict) else settings(container_or_settings)
    return client_for(cfg["MONGO_URI"])[cfg["DB_PREFIX"] + name]


class Store(DependencyProvider):
    """Gives the service an instance of its store class (its collections and queries).

    `store_cls(db)` must offer `ensure_indexes()`; it runs once when the container starts.
    """

    def __init__(self, store_cls, name=None):
        self.store_cls = store_cls
        self.name = name

    def setup(self):
        self.db = database(self.container, self.name or self.container.service_name)
        self.store = self.store_cls(self.db)
        self.until_reachable(self.store.ensure_indexes)

    def until_reachable(self, action):
        """`action()`'s result, waiting while the store is away (restarting). At start this is
        waited for, as nameko waits for the broker: exiting would make a supervisor restart the
        process every few seconds, and `wushe run`'s stops the whole platform after five such
        deaths in a minute. The store can go away between two dependencies' starts too, so each
        start-time write goes through here."""
        for attempt in itertools.count(1):
            try:
                return action()
            except ConnectionFailure as exc:
                log.warning("store.unreachable_at_start", service=self.container.service_name, attempt=attempt,
                            error=str(exc)[:300])
                eventlet.sleep(min(attempt, 5))

    def get_dependency(self, worker_ctx):
        return self.store


def insert_new(collection, doc):
    """Insert `doc`; False when its `_id` (or another unique key) is taken — the atomic
    "first one wins" that makes handlers idempotent."""
    try:
        collection.insert_one(doc)
        return True
    except DuplicateKeyError:
        return False


def create(collection, body, prefix, what, **fields):
    """Insert a registry record made from a loaded body — its id the body's, or a new one — with
    `fields` and `created_at`; Conflict when the id is taken (the unique `_id` decides)."""
    record = {"_id": body.pop("id", None) or new_id(prefix), **body, **fields, "created_at": now_iso()}
    if not insert_new(collection, record):
        raise Conflict(f"{what} {record['_id']} exists")
    return record


def found(collection, record_id, what, field=None):
    """The document with this `_id`, or NotFound ("no call call-x") — or, when the id came in a
    request body's `field`, InvalidInput naming that field."""
    doc = collection.find_one({"_id": record_id})
    if doc is None:
        if field:
            raise InvalidInput(f"unknown {what}", {field: [f"no {what} {record_id}"]})
        raise NotFound(f"no {what} {record_id}")
    return doc


# the stores' conditional write: the document after, its outbox holding only this write's events
after = outbox.after


def page(collection, filter_, limit, cursor=None, sort_key="_id"):
    """Keyset pagination: documents after `cursor` (the last `_id` of the previous page)."""
    if cursor:
        filter_ = {"$and": [filter_, {sort_key: {"$gt": cursor}}]}
    docs = list(collection.find(filter_).sort(sort_key, 1).limit(limit + 1))
    more = len(docs) > limit
    docs = docs[:limit]
    return docs, (docs[-1][sort_key] if more and docs else None)

"""The outbox: events are saved in the `outbox` array of the document whose change they
announce, in the same atomic write; then published with publisher confirms and pulled.

A crash after the write and before the publish loses nothing: the relay (a managed thread of
every container) republishes any entry still pending after a grace period. Delivery is
therefore at-least-once; every handler is idempotent on the event id.

Each change's events are published by the writer that made the change, and by nobody else
while they are fresh: the write hands back the document with only its own entries in `outbox`
(`own`), so two writers racing on one document — two claims on one call — never publish each
other's. The relays take a short lease on a document (one conditional write) so that two
instances of a service do not both republish what a crash left. So without a fault every event
goes out exactly once; a repeat takes a writer stalled past the grace period, or a crash between
the publish and the pull.
"""
from datetime import timedelta

from pymongo import ReturnDocument

import eventlet
import structlog
from nameko.extensions import DependencyProvider
from nameko.standalone.events import get_event_exchange

from wushe.runtime import metrics, topology
from wushe.contract.events.catalog import INTERNAL
from wushe.contract.clock import iso, now
from wushe.runtime.config import settings
from wushe.runtime.publish import ConfirmedPublisher

log = structlog.get_logger("wushe.runtime.outbox")


# Documents with events still to publish: a sparse index on the entries' times holds only those
# (an emptied outbox has no `outbox.time`), so the relay's look every second costs what is
# pending, not the size of the collection.
PENDING_INDEX = "outbox_pending"
PENDING = {"outbox.time": {"$exists": True}}


# The lease: the time until which one relay holds a document's outbox; there only while held.
LEASE = "outbox_lease"
# A document as read to be shown or decided on: without its pending events and lease.
WITHOUT = {"outbox": 0, LEASE: 0}


def pending_since_before(cutoff):
    """Documents with an entry older than `cutoff` (an ISO time)."""
    return {"outbox.time": {"$lt": cutoff}}


def entries(*envelopes):
    """The update clause that stores envelopes in a document's outbox."""
    return {"$push": {"outbox": {"$each": list(envelopes)}}}


def own(doc, update):
    """`doc` as written by `update`, with only the entries `update` stored in its outbox: the
    others pending there are their own writers' to publish."""
    if doc is None:
        return None
    pushed = (update.get("$push") or {}).get("outbox")  # {"$each": [...]}, or one entry
    written = pushed.get("$each", [pushed]) if pushed else []
    doc.pop(LEASE, None)
    doc.pop("outbox", None)
    if written:
        doc["outbox"] = list(written)
    return doc


def after(collection, filter_, update, **kwargs):
    """find_one_and_update returning the document after the change (None when nothing matched),
    its outbox holding only the events this update stored (`own`). The stores' conditional
    write (`wushe.runtime.store.after`) and compare-and-set's."""
    return own(collection.find_one_and_update(filter_, update, return_document=ReturnDocument.AFTER, **kwargs), update)


class Outbox(DependencyProvider):
    """`self.outbox.flush(collection, doc)` publishes what `doc` holds in its outbox.

    `collections(store)` names the store's collections that hold outboxes, for the relay.
    """

    def __init__(self, collections):
        self.collections = collections

    def setup(self):
        cfg = settings(self.container)
        service, config = self.container.service_name, self.container.config
        self.exchange = get_event_exchange(service, config)
        # the internal events' exchanges (the gateway's copy of a resident's forms goes there)
        self.internal = {event_type: topology.event_exchange(source, event_type, config)
                         for source, event_type in INTERNAL if source == service}
        self.publisher = ConfirmedPublisher(config["AMQP_URI"], declare=[self.exchange, *self.internal.values()])
        self.relay_seconds = cfg["OUTBOX_RELAY_SECONDS"]
        self.grace_seconds = cfg["OUTBOX_GRACE_SECONDS"]
        self.lease_seconds = cfg["OUTBOX_LEASE_SECONDS"]

    def start(self):
        # after every setup, so after the Store's; the store may have gone away since
        self.provider = _store_dependency(self.container)  # found once: the relay reads it too
        self.provider.until_reachable(self._index_pending)
        self.container.spawn_managed_thread(self._relay_forever, identifier="outbox-relay")

    def _index_pending(self):
        for collection in self.collections(self.provider.store):
            collection.create_index("outbox.time", sparse=True, name=PENDING_INDEX)

    def get_dependency(self, worker_ctx):
        return self

    def publish(self, envelope):
        self.publisher.publish(envelope, self.internal.get(envelope["type"], self.exchange), envelope["type"], envelope["id"])
        metrics.child(metrics.EVENTS_DISPATCHED, self.container.service_name, envelope["type"]).inc()

    def flush(self, collection, doc):
        """Publish the events in `doc`'s outbox — the writer's own, as `own` left them — in
        order, then pull them; the count published. A failure leaves the rest to the relay."""
        pending = (doc or {}).get("outbox")
        if not pending:
            return 0
        sent, _ = self._publish_all(pending)
        if sent:
            collection.update_one({"_id": doc["_id"]}, {"$pull": {"outbox": {"id": {"$in": sent}}}})
        return len(sent)

    def _relay(self, collection, doc_id, cutoff):
        """Publish a document's entries older than `cutoff` under the relays' lease, pull them
        and let go; the count published (none while another relay holds it)."""
        at = now()
        held = collection.find_one_and_update(
            {"_id": doc_id, "outbox.0": {"$exists": True},
             "$or": [{LEASE: {"$exists": False}}, {LEASE: {"$lt": iso(at)}}]},
            {"$set": {LEASE: iso(at + timedelta(seconds=self.lease_seconds))}},
            projection={"outbox": 1}, return_document=ReturnDocument.AFTER)
        if held is None:
            return 0
        # the fresh ones are still their writers' to publish
        sent, _ = self._publish_all([e for e in held["outbox"] if e["time"] < cutoff])
        collection.update_one({"_id": doc_id}, {"$pull": {"outbox": {"id": {"$in": sent}}}, "$unset": {LEASE: ""}})
        return len(sent)

    def _publish_all(self, pending):
        """(the ids published, whether one failed): in order, stopping at the first failure."""
        sent = []
        try:
            for envelope in pending:
                self.publish(envelope)
                sent.append(envelope["id"])
            return sent, False
        except Exception as exc:  # the broker is away: the relay retries
            metrics.OUTBOX_PUBLISH_FAILURES.labels(self.container.service_name).inc()
            log.warning("outbox.publish_failed", error=str(exc), pending=len(pending) - len(sent))
            return sent, True

    def relay_once(self):
        """Publish every entry older than the grace period; the count published."""
        cutoff = iso(now() - timedelta(seconds=max(0.0, self.grace_seconds)))
        published = 0
        backlog = 0
        for collection in self.collections(self.provider.store):
            for doc in collection.find(pending_since_before(cutoff), {"_id": 1}).limit(500):
                published += self._relay(collection, doc["_id"], cutoff)
            backlog += sum(len(d["outbox"]) for d in collection.find(PENDING, {"outbox.id": 1}))
        metrics.OUTBOX_BACKLOG.labels(self.container.service_name).set(backlog)
        return published

    def _relay_forever(self):
        while True:
            eventlet.sleep(self.relay_seconds)
            try:
                count = self.relay_once()
                if count:
                    log.info("outbox.relayed", service=self.container.service_name, count=count)
            except Exception as exc:
                log.warning("outbox.relay_failed", error=str(exc))


def _store_dependency(container):
    from wushe.runtime.store import Store
    for dependency in container.dependencies:
        if isinstance(dependency, Store):
            return dependency
    raise RuntimeError(f"{container.service_name} has an Outbox but no Store")

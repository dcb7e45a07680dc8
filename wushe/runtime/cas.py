"""Compare-and-set, the one way a decision is written: read the document, let the rule decide,
write only if nobody changed the document since it was read; when someone did, read it again and
decide again. Every invariant that spans several writers (slots, stock, caseloads, the linkage)
is kept this way, on one document at a time, never by read-then-write.
"""
import eventlet
from pymongo.errors import DuplicateKeyError

from wushe.contract.decisions import Event
from wushe.contract.events import stamped
from wushe.runtime.outbox import after, own

AGAIN = object()  # an attempt lost the race: read again
ATTEMPTS = 50


class Contention(Exception):
    """Another change won every attempt: the record is changing too fast. An RPC caller gets a
    409 "try again" (wushe.runtime.errors.from_refusal); an event is retried later."""


def until_written(attempt, attempts=ATTEMPTS, what="the record"):
    """Run `attempt()` — read, decide, write conditionally — until it returns anything but
    AGAIN; Contention after `attempts` lost races."""
    for _ in range(attempts):
        outcome = attempt()
        if outcome is not AGAIN:
            return outcome
        eventlet.sleep(0)  # let the change that won finish before reading again
    raise Contention(f"{what} is changing too fast; try again")


def change(collection, doc_id, decide, *, source=None, at=None, attempts=ATTEMPTS, read=None, what=None):
    """Apply `decide(doc)` to one document, guarded by its `version`: (document after, change),
    or (document as read, None) when `decide` returns None (nothing to do). `decide` gets None
    for a document that is not there; a change to it creates it. A refusal (`Refused`) raised by
    `decide` is the caller's. `read`: the document as the caller just read it, to start from.
    The change's events are stamped (`source`, `at`) and stored in the document's outbox in the
    same write.

    The document after is the one `decide` saw with the change applied, its outbox holding the
    change's events (`outbox.own`): the version guard says nobody changed it in between, except
    by writes that leave the version alone (an outbox's pull, a relay's lease, a call's
    completions), which are not in it. Made here rather than sent back by the store: the store
    would find the document a second time and copy it whole, on every write."""

    def attempt():
        nonlocal read
        doc, read = (read if read is not None else collection.find_one({"_id": doc_id}, {"outbox": 0})), None
        decided = decide(doc)
        if decided is None:
            return doc, None
        written = _write(collection, doc_id, doc, decided, source, at)
        return AGAIN if written is None else (written, decided)

    return until_written(attempt, attempts, what or f"{collection.name} {doc_id}")


def _write(collection, doc_id, doc, decided, source, at):
    envelopes = [stamped(source, e, at) if isinstance(e, Event) else e for e in decided.events]
    if doc is None:
        created = {"_id": doc_id, **decided.fields, "version": 1, **({"outbox": envelopes} if envelopes else {}),
                   **{name: [value] for name, value in decided.appended.items()}}
        try:
            collection.insert_one(created)
        except DuplicateKeyError:
            return None  # created meanwhile: decide again on what is there
        return created
    version = doc.get("version")
    guard = {"_id": doc_id, "version": version if version is not None else {"$exists": False}}
    update = {"$set": {**decided.fields, "version": (version or 0) + 1}}
    pushed = {**({"outbox": {"$each": envelopes}} if envelopes else {}), **decided.appended}
    if pushed:
        update["$push"] = pushed
    if any("." in name for name in decided.fields):  # a path into the document: the store says what it became
        return after(collection, guard, update)
    if not collection.update_one(guard, update).matched_count:
        return None
    appended = {name: [*doc.get(name, ()), value] for name, value in decided.appended.items()}
    return own({**doc, **update["$set"], **appended}, update)

"""What a rule decides, in one shape for every service. Pure data: no I/O, no framework.

A domain function takes a document as read, the request or event, and the ids and the time it
needs (passed in, so that it is deterministic), and either returns a `Change` or raises
`Refused`. The use case around it writes the change (compare-and-set: `wushe.runtime.cas`), stamps and
announces its events, and gives the answer; the edges (RPC, events) turn a refusal into what
their callers understand (`wushe.runtime.errors.from_refusal`).
"""
from dataclasses import dataclass, field
from typing import Any

from wushe.contract.regions import holds


@dataclass(frozen=True)
class Event:
    """An event to announce, as a rule decides it: its type, data, subject (what it is about: its
    need, unless given) and correlation id (the flow it belongs to: its subject, unless given).
    The use case stamps it (id, time, source: `wushe.contract.events.stamped`) when it stores the change."""
    type: str
    data: dict
    subject: str | None = None
    correlation_id: str | None = None


@dataclass(frozen=True)
class Change:
    """One decision about one document: the fields to set, the events announcing it, the answer
    for whoever asked, and values to append to its arrays (e.g. the id of the event it folds)."""
    fields: dict = field(default_factory=dict)
    events: tuple = ()
    answer: Any = field(default_factory=dict)
    appended: dict = field(default_factory=dict)


class Refused(Exception):
    """A rule says no: the record's state does not allow it (`conflict`), the record is not
    there (`missing`), or the values break a rule (`invalid`, with the reason by field)."""

    CONFLICT, MISSING, INVALID = "conflict", "missing", "invalid"

    def __init__(self, reason, kind=CONFLICT, fields=None):
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        self.fields = fields

    @classmethod
    def missing(cls, reason):
        return cls(reason, cls.MISSING)

    @classmethod
    def invalid(cls, reason, fields):
        return cls(reason, cls.INVALID, fields)


def visible(record, within="", at="community"):
    """The record, when a key of region `within` ("" — everywhere) may see it; else None."""
    return record if record and holds(within, record.get(at)) else None


def existing(record, what, record_id, field=None, within="", at="community"):
    """The record, or the refusal for one that is not there: missing ("no call call-x") or, when
    its id came in a request body's `field`, invalid naming that field. `within` is the region of
    the key that asks ("" — everywhere): a record whose region path (its `at` field) is outside
    it is refused exactly as one that is not there, so that ids cannot be probed."""
    if visible(record, within, at):
        return record
    if field:
        raise Refused.invalid(f"unknown {what}", {field: [f"no {what} {record_id}"]})
    raise Refused.missing(f"no {what} {record_id}")

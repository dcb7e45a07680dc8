"""The event envelope: CloudEvents-style attributes around one catalog event's data.

    {"id", "type", "version", "source", "time", "subject", "correlation_id", "data"}

`new_event` validates the data before anything is stored or published; `load` validates a
received body and returns an `Event`. Both raise `InvalidEvent` with the field errors.
"""
import uuid
from dataclasses import dataclass, asdict

from marshmallow import Schema, ValidationError, fields, validate

from wushe.contract import plain_load
from wushe.contract.clock import now_iso
from wushe.contract.events.catalog import CATALOG, INTERNAL, SOURCES, STATION, STATION_SOURCE, producer, whole
from wushe.contract.fields import instance

VERSION = 1


class InvalidEvent(ValueError):
    def __init__(self, errors):
        super().__init__(f"invalid event: {errors}")
        self.errors = errors


class Envelope(Schema):
    id = fields.String(required=True, validate=validate.Length(1, 100))
    type = fields.String(required=True)
    version = fields.Integer(required=True, validate=validate.Equal(VERSION))
    # a service's name, or a station's (`station`, `station/<station id>`: catalog.STATION_SOURCE)
    source = fields.String(required=True, validate=validate.Regexp(whole(
        "^(" + "|".join(s for s in SOURCES if s != STATION) + ")$|" + STATION_SOURCE),
        error="a service's name, or station software's: station or station/<station id> "
              "(1-64 letters, digits, _ . : or -)"))
    time = fields.String(required=True)
    subject = fields.String(allow_none=True, load_default=None)
    correlation_id = fields.String(allow_none=True, load_default=None)
    data = fields.Dict(required=True)


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    version: int
    source: str
    time: str
    subject: str | None
    correlation_id: str | None
    data: dict

    @property
    def need_id(self):
        return self.data.get("need_id") or self.subject

    def as_dict(self):
        return asdict(self)


@dataclass(frozen=True)
class Unread(Event):
    """A body that did not load, as far as it can be read, for a handler that answers its sender
    (`on_event(..., answers_invalid=True)`): `errors` says why, by field; `data` is the body's as
    sent (unvalidated: read nothing from it but what `errors` does not name)."""
    errors: dict | None = None


def _schema(source, event_type):
    """The catalog schema's one instance (wushe.contract.fields.instance)."""
    key = (producer(source), event_type)
    schema = CATALOG.get(key) or INTERNAL.get(key)
    if schema is None:
        raise InvalidEvent({"type": [f"{source} publishes no event {event_type!r} in v1"]})
    return instance(schema)


def new_event(source, event_type, data, *, subject=None, correlation_id=None, event_id=None, time=None):
    """An envelope (a plain dict, ready to store in an outbox or publish) for validated data;
    its id and time are new unless given."""
    schema = _schema(source, event_type)
    try:
        loaded = plain_load.load(schema, data)
    except ValidationError as exc:
        raise InvalidEvent(exc.messages) from None
    subject = subject if subject is not None else data.get("need_id")
    return {
        "id": event_id or str(uuid.uuid4()),
        "type": event_type,
        "version": VERSION,
        "source": source,
        "time": time or now_iso(),
        "subject": subject,
        "correlation_id": correlation_id or subject,
        # as loaded: the catalog's fields are JSON's own kinds, read and written alike, so that
        # dumping what they loaded gives it back (a third of the stamp; tests/unit/test_events.py
        # holds every catalog schema to that)
        "data": loaded,
    }


def stamped(source, draft, at, event_id=None):
    """The envelope of an event a rule decided (`wushe.contract.decisions.Event`), stamped with its
    source, a new id (unless given) and the time of the change that announces it."""
    return new_event(source, draft.type, draft.data, subject=draft.subject, correlation_id=draft.correlation_id,
                     event_id=event_id, time=at)


def load(body):
    """A received message body as an `Event`, its data loaded through the catalog schema."""
    if not isinstance(body, dict):
        raise InvalidEvent({"_schema": ["the body is not a JSON object"]})
    try:
        envelope = _plain_envelope(body) or instance(Envelope).load(body, unknown="exclude")
        data = plain_load.load(_schema(envelope["source"], envelope["type"]), envelope["data"])
    except ValidationError as exc:
        raise InvalidEvent(exc.messages) from None
    return Event(**{**envelope, "data": data})


_SOURCE = Envelope._declared_fields["source"].validators[0].regex


def _plain_envelope(body):
    """The envelope as `Envelope` loads it, read directly when every attribute is plainly valid
    (the right JSON type, within its bounds), as every delivery's is; None otherwise, and
    `Envelope` reads it, with its errors. (A fifth of the time a delivery's check took.)"""
    try:
        found = (body["id"], body["type"], body["version"], body["source"], body["time"], body["data"],
                 body.get("subject"), body.get("correlation_id"))
    except KeyError:
        return None
    id_, type_, version, source, time, data, subject, correlation_id = found
    if (type(id_) is str and 0 < len(id_) <= 100 and type(type_) is str
            and type(version) is int and version == VERSION
            and type(source) is str and _SOURCE.match(source) is not None and type(time) is str
            and type(data) is dict and (subject is None or type(subject) is str)
            and (correlation_id is None or type(correlation_id) is str)):
        return {"id": id_, "type": type_, "version": version, "source": source, "time": time,
                "subject": subject, "correlation_id": correlation_id, "data": data}
    return None


def unread(body, errors):
    """What can be read of a body `load` refused, when its envelope has a usable id to answer
    by: an `Unread` with the errors; None otherwise."""
    if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not 0 < len(body["id"]) <= 100:
        return None
    source = body.get("source")
    try:
        source = instance(Envelope).load({"source": source}, partial=True)["source"]
    except ValidationError:
        source = None  # not a source anyone can be answered by
    text = {k: body.get(k) if isinstance(body.get(k), str) else None
            for k in ("type", "time", "subject", "correlation_id")}
    return Unread(id=body["id"], type=text["type"], version=VERSION, source=source, time=text["time"],
                  subject=text["subject"], correlation_id=text["correlation_id"],
                  data=body.get("data") if isinstance(body.get("data"), dict) else {}, errors=errors)

"""wushe.contract.events: writing validated envelopes and reading them back through the catalog."""
import re
import uuid

import pytest

from tests.unit.helpers import COMMUNITY, DISTRICT, NEED_ID, STREET, T0
from wushe.contract.events import Event, InvalidEvent, load, new_event

REGISTERED = {"need_id": NEED_ID, "community": COMMUNITY, "street": STREET, "district": DISTRICT,
              "category": "elderly_care", "urgency": "critical", "registered_at": T0,
              "requirements": {"worker": True, "organisation": True, "volunteers": None,
                               "resources": [{"item": "rice", "quantity": 5.0, "unit": "kg"}]}}
CALL_OPENED = {"need_id": NEED_ID, "community": COMMUNITY, "call_id": "call-1", "slots": 2,
               "skills": ["escort"], "hours": 2.0, "expires_at": "2026-11-23T10:00:00.000000Z"}


def test_new_event_builds_the_envelope():
    envelope = new_event("community", "need_registered", REGISTERED)
    assert uuid.UUID(envelope["id"])
    assert (envelope["type"], envelope["version"], envelope["source"]) == ("need_registered", 1, "community")
    assert envelope["subject"] == envelope["correlation_id"] == NEED_ID
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", envelope["time"])
    assert envelope["data"]["requirements"]["resources"] == REGISTERED["requirements"]["resources"]


def test_new_event_ids_are_unique_and_overridable():
    first, second = (new_event("volunteers", "call_opened", CALL_OPENED) for _ in range(2))
    assert first["id"] != second["id"]
    given = new_event("volunteers", "call_opened", CALL_OPENED, event_id="evt-1", correlation_id="req-9",
                      subject="need-other")
    assert (given["id"], given["correlation_id"], given["subject"]) == ("evt-1", "req-9", "need-other")


@pytest.mark.parametrize("change, field", [
    ({"urgency": "whenever"}, "urgency"),
    ({"category": "gardening"}, "category"),
    ({"community": "Tianjin/Binhai"}, "community"),
    ({"street": COMMUNITY}, "street"),          # a community path where a street is expected
    ({"district": None}, "district"),
    ({"need_id": None}, "need_id"),
    ({"requirements": {"volunteers": {"count": 0}}}, "requirements"),
    ({"requirements": {"resources": [{"item": "rice", "funds_cents": 100}]}}, "requirements"),
])
def test_new_event_rejects_bad_data_with_field_errors(change, field):
    with pytest.raises(InvalidEvent) as raised:
        new_event("community", "need_registered", {**REGISTERED, **change})
    assert field in raised.value.errors


def test_new_event_rejects_missing_fields():
    with pytest.raises(InvalidEvent) as raised:
        new_event("community", "need_registered", {"need_id": NEED_ID, "community": COMMUNITY})
    assert {"street", "district", "category", "urgency", "requirements", "registered_at"} <= set(raised.value.errors)


@pytest.mark.parametrize("source, event_type", [("community", "need_teleported"), ("community", "call_opened"),
                                                ("hotline", "need_reported")])
def test_new_event_rejects_unknown_types(source, event_type):
    with pytest.raises(InvalidEvent) as raised:
        new_event(source, event_type, CALL_OPENED)
    assert "type" in raised.value.errors


def test_new_event_drops_fields_outside_the_catalog():
    envelope = new_event("community", "need_registered", {**REGISTERED, "resident": {"name": "张桂兰"}})
    assert "resident" not in envelope["data"]


def test_load_round_trips_an_envelope():
    envelope = new_event("volunteers", "call_opened", CALL_OPENED, correlation_id="req-9")
    loaded = load(envelope)
    assert isinstance(loaded, Event)
    assert loaded.as_dict() == envelope
    assert loaded.need_id == NEED_ID


def test_event_need_id_falls_back_to_subject():
    envelope = new_event("orgs", "org_incubation_started", {
        "organisation_id": "org-1", "community": COMMUNITY, "category": "errands",
        "need_ids": [NEED_ID], "mentor_street": STREET}, subject=NEED_ID)
    assert load(envelope).need_id == NEED_ID


@pytest.mark.parametrize("body", [None, [], "need_registered", b"{}", 42])
def test_load_rejects_non_objects(body):
    with pytest.raises(InvalidEvent) as raised:
        load(body)
    assert "_schema" in raised.value.errors


@pytest.mark.parametrize("change, field", [
    ({"version": 2}, "version"),
    ({"source": "hotline"}, "source"),
    ({"type": "call_teleported"}, "type"),
    ({"type": "need_registered"}, "type"),  # volunteers never publish it
    ({"id": None}, "id"),
])
def test_load_rejects_bad_envelopes(change, field):
    with pytest.raises(InvalidEvent) as raised:
        load({**new_event("volunteers", "call_opened", CALL_OPENED), **change})
    assert field in raised.value.errors


def test_load_rejects_missing_data_fields():
    envelope = new_event("volunteers", "call_opened", CALL_OPENED)
    del envelope["data"]["slots"]
    with pytest.raises(InvalidEvent) as raised:
        load(envelope)
    assert "slots" in raised.value.errors


def test_tolerant_reader_drops_unknown_fields():
    envelope = new_event("volunteers", "call_opened", CALL_OPENED)
    envelope["data"]["lane"] = "express"
    envelope["traceparent"] = "00-abc-def-01"
    loaded = load(envelope)
    assert "lane" not in loaded.data
    assert loaded.data["slots"] == 2


REPORT = {"community": COMMUNITY, "category": "errands", "urgency": "high", "description": "代购"}


@pytest.mark.parametrize("source,valid", [
    ("station", True), ("station/hotline-236", True), ("station/" + "a" * 64, True),
    ("hotline-236", False), ("station/", False), ("station/" + "a" * 65, False), ("station/热线", False),
    ("station/a/b", False), ("community/x", False), ("station/hotline-236\n", False), ("orgs\n", False)])
def test_station_software_names_itself_station_or_station_slash_its_id(source, valid):
    envelope = new_event("station", "need_reported", REPORT) | {"source": source}
    if valid:
        assert load(envelope).source == source
    else:
        with pytest.raises(InvalidEvent) as invalid:
            load(envelope)
        assert list(invalid.value.errors) == ["source"]


def test_a_station_name_reads_as_the_station_source_of_the_catalog_and_nothing_else():
    with pytest.raises(InvalidEvent, match="publishes no event"):
        load(new_event("station", "need_reported", REPORT) | {"source": "station/hotline-236", "type": "need_linked"})


def test_what_can_be_read_of_an_invalid_body_is_its_id_source_and_errors_only_with_a_usable_id():
    from wushe.contract.events import Unread, unread
    body = new_event("station", "need_reported", REPORT) | {"source": "station/hotline-236"}
    read = unread(body, {"urgency": ["Must be one of: …"]})
    assert isinstance(read, Unread) and (read.id, read.source, read.errors) == (
        body["id"], "station/hotline-236", {"urgency": ["Must be one of: …"]})
    assert unread(body | {"source": "hotline-236"}, {}).source is None  # nobody to name
    assert unread(body | {"id": ""}, {}) is None and unread(body | {"id": 7}, {}) is None and unread([], {}) is None


def test_the_station_client_refuses_a_station_id_it_could_not_send():
    from wushe.contract.station import StationClient
    assert StationClient("amqp://guest:guest@127.0.0.1:5672/", "hotline-236").source == "station/hotline-236"
    with pytest.raises(ValueError, match="station id"):
        StationClient("amqp://guest:guest@127.0.0.1:5672/", "hotline 236")


def test_every_catalog_schema_gives_back_what_it_loads_when_dumped():
    """`new_event` keeps the data as the catalog's schema loaded it, without dumping it again:
    right only while every field, at every level, is one that reads and writes a value alike —
    JSON's own kinds and the catalog's timestamp text — with no renaming, no one-way field, no
    default on the way out and no hook after the load or around the dump."""
    from marshmallow import fields
    from marshmallow.utils import missing

    from wushe.contract.events.catalog import CATALOG, INTERNAL
    from wushe.contract.fields import Timestamp, instance
    alike = (fields.String, fields.Integer, fields.Float, fields.Boolean, fields.List, fields.Nested,
             fields.Dict, Timestamp)
    seen = []

    def check(field, where):
        assert type(field) in alike, where
        assert field.data_key is None and field.attribute is None, where
        assert not field.dump_only and not field.load_only and field.dump_default is missing, where
        if isinstance(field, fields.Nested):
            schema(field.schema, where)
        elif isinstance(field, fields.List):
            check(field.inner, f"{where}[]")
        elif isinstance(field, fields.Dict):
            for part in (field.key_field, field.value_field):
                if part is not None:
                    check(part, f"{where}{{}}")
        seen.append(where)

    def schema(found, where):
        # checks and a reading before the load change nothing: what loaded is what they let by
        assert not any(found._hooks.get(tag) for tag in ("post_load", "pre_dump", "post_dump")), where
        for name, field in found.fields.items():
            check(field, f"{where}.{name}")

    for key, schema_cls in {**CATALOG, **INTERNAL}.items():
        schema(instance(schema_cls), "/".join(key))
    assert len(seen) > 200

    # and on data: a need's registration and a call, with defaults filled in on the way in
    for source, event_type, data in (("community", "need_registered", REGISTERED),
                                     ("volunteers", "call_opened", CALL_OPENED)):
        the_schema = instance(CATALOG[(source, event_type)])
        loaded = the_schema.load(data)
        assert the_schema.dump(loaded) == loaded == new_event(source, event_type, data)["data"]

"""wushe.contract.asyncapi: the AsyncAPI 3 document is the event catalog, whole and self-consistent,
and valid by the AsyncAPI project's own schema and parser."""
import json

import pytest

from tests.asyncapi_check import Payloads, parser_errors, spec_errors
from wushe.contract import asyncapi
from wushe.contract.events import InvalidEvent, new_event
from wushe.contract.events.catalog import CATALOG, STATION


@pytest.fixture(scope="module")
def doc():
    return asyncapi.document()


def resolve(doc, ref):
    node = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def refs(node):
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def test_every_event_the_code_can_dispatch_is_a_channel_with_its_message(doc):
    # dispatch validates against the catalog, so what is not in it cannot be published
    with pytest.raises((InvalidEvent, KeyError)):
        new_event("volunteers", "call_teleported", {})
    assert {(c["bindings"]["amqp"]["exchange"]["name"].removesuffix(".events"), c["address"])
            for c in doc["channels"].values()} == set(CATALOG)
    for (source, event_type), schema in CATALOG.items():
        message = doc["components"]["messages"][event_type]
        shown = message["payload"]["properties"]["source"]
        assert shown.get("const") == source if source != STATION else shown["pattern"].startswith("^station")
        assert resolve(doc, message["payload"]["properties"]["data"]["$ref"])["type"] == "object"


def test_the_platform_sends_its_events_and_receives_need_reported(doc):
    assert doc["operations"]["receive_need_reported"]["action"] == "receive"
    assert doc["operations"]["send_need_linked"]["action"] == "send"
    assert doc["asyncapi"] == "3.0.0"


def test_every_reference_resolves_and_no_schema_has_personal_data_but_the_inbound_report(doc):
    for ref in set(refs(doc)):
        assert resolve(doc, ref) is not None, ref
    outbound = {name: schema for name, schema in doc["components"]["schemas"].items()
                if name not in ("NeedReported", "Resident")}
    text = json.dumps(outbound)
    assert '"phone"' not in text and '"address"' not in text


def test_the_document_passes_the_asyncapi_3_json_schema_and_the_asyncapi_parser(doc):
    assert spec_errors(doc) == []
    assert parser_errors(doc) == []
    # the checks can fail: a binding where the AMQP binding 0.3.0 does not put it
    misplaced = json.loads(json.dumps(doc))
    misplaced["components"]["messages"]["need_linked"]["bindings"]["amqp"]["deliveryMode"] = 2
    assert any("deliveryMode" in e["message"] for e in parser_errors(misplaced))
    misplaced["servers"]["rabbitmq"]["protocol"] = 5
    assert spec_errors(misplaced)


def test_the_server_is_the_configured_broker_and_vhost_never_its_credentials():
    doc = asyncapi.document("amqp://wushe:s3cret@mq.internal:5673/district-7")
    server = doc["servers"]["rabbitmq"]
    assert (server["host"], server["pathname"], server["protocol"]) == ("mq.internal:5673", "/district-7", "amqp")
    assert {c["bindings"]["amqp"]["exchange"]["vhost"] for c in doc["channels"].values()} == {"district-7"}
    assert "s3cret" not in json.dumps(doc)
    default = asyncapi.document("amqps://guest:guest@mq/")["servers"]["rabbitmq"]
    assert (default["host"], default["protocol"], "pathname" in default) == ("mq:5671", "amqps", False)
    assert asyncapi.document("amqp://guest:guest@mq:5672/%2Fwushe")["servers"]["rabbitmq"]["pathname"] == "/%2Fwushe"


REAL = [  # events as the services make them, with the fields that may be null set to null
    ("community", "need_registered", {
        "need_id": "need-1", "community": "tianjin/binhai/taida/xinghua", "street": "tianjin/binhai/taida",
        "district": "tianjin/binhai", "category": "errands", "urgency": "high", "registered_at": "2026-01-01T00:00:00Z",
        "requirements": {"worker": True, "organisation": False, "volunteers": None, "resources": None},
        "channel": "station", "reported_by": "station/hotline-236"}),
    ("workers", "worker_assigned", {"need_id": "need-1", "community": "tianjin/binhai/taida/xinghua",
                                    "worker_id": "w", "case_id": "c", "station_id": "s", "reassigned_from": None}),
    ("community", "need_report_refused", {"report_id": "call-1", "reported_by": "station/hotline-236", "need_id": None,
                                          "errors": {"community": ["not a registered community"]}}),
]


@pytest.mark.parametrize("source,event_type,data", REAL, ids=[r[1] for r in REAL])
def test_events_with_null_fields_validate_against_their_channels_payload(doc, source, event_type, data):
    payloads = Payloads(doc)
    assert payloads.errors(f"{source}.{event_type}", new_event(source, event_type, data)) == []
    assert payloads.errors(f"{source}.{event_type}", new_event(source, event_type, data) | {"source": "elsewhere"})


def test_a_station_names_itself_in_its_reports_source(doc):
    payloads = Payloads(doc)
    report = {"community": "tianjin/binhai/taida/xinghua", "category": "errands", "urgency": "high", "description": "x"}
    for source in ("station", "station/hotline-236"):
        assert payloads.errors("station.need_reported", new_event(source, "need_reported", report)) == []
    for source in ("hotline-236", "station/", "station/" + "x" * 65, "community"):
        assert payloads.errors("station.need_reported", new_event("station", "need_reported", report) | {"source": source})

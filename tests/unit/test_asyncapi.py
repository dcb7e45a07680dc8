"""wushe.contract.asyncapi: the AsyncAPI 3 document is the event catalog, whole and self-consistent."""
import json

import pytest

from wushe.contract import asyncapi
from wushe.contract.events import InvalidEvent, new_event
from wushe.contract.events.catalog import CATALOG


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
        assert message["payload"]["properties"]["source"]["const"] == source
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

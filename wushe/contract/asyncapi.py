"""The AsyncAPI 3 document of the event catalog: the contract station software publishes and
subscribes by. Generated from `wushe.contract.events.catalog`, so it cannot drift from what the
services dispatch (`make asyncapi` writes it; the gateway serves it at /api/v1/asyncapi.json).

Each event type is a channel on its service's topic exchange (`<service>.events`), addressed by
its routing key (the type); messages are the envelope with the type's data schema.
"""
import json

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from wushe.contract.events import VERSION, Envelope
from wushe.contract.fields import schema_name
from wushe.contract.events.catalog import CATALOG

INBOUND = {"station"}  # exchanges the platform consumes from station software, not publishes to


def document(host="127.0.0.1:5672"):
    # apispec turns the marshmallow schemas into JSON Schema (nested ones into components)
    schemas = APISpec("events", "1", "3.0.3", plugins=[MarshmallowPlugin(schema_name_resolver=schema_name)])
    envelope = {k: v for k, v in _converter(schemas).schema2jsonschema(Envelope()).items()}
    channels, operations, messages = {}, {}, {}
    for (source, event_type), schema in sorted(CATALOG.items()):
        name = schema.__name__
        if name not in schemas.components.schemas:
            schemas.components.schema(name, schema=schema)
        channel = f"{source}.{event_type}"
        messages[event_type] = {
            "name": event_type, "title": event_type.replace("_", " "),
            "summary": (schema.__doc__ or "").strip().split("\n")[0] or f"{event_type} from {source}",
            "contentType": "application/json",
            "payload": {**envelope, "properties": {
                **envelope["properties"],
                "type": {"type": "string", "const": event_type},
                "source": {"type": "string", "const": source},
                "version": {"type": "integer", "const": VERSION},
                "data": {"$ref": f"#/components/schemas/{name}"}}},
            "bindings": {"amqp": {"deliveryMode": 2, "contentEncoding": "utf-8", "bindingVersion": "0.3.0"}},
        }
        channels[channel] = {
            "address": event_type,
            "messages": {event_type: {"$ref": f"#/components/messages/{event_type}"}},
            "bindings": {"amqp": {"is": "routingKey", "bindingVersion": "0.3.0", "exchange": {
                "name": f"{source}.events", "type": "topic", "durable": True, "autoDelete": False}}},
        }
        # what the platform does with the channel: station software does the opposite
        action = "receive" if source in INBOUND else "send"
        operations[f"{action}_{event_type}"] = {
            "action": action, "channel": {"$ref": f"#/channels/{channel}"},
            "messages": [{"$ref": f"#/channels/{channel}/messages/{event_type}"}]}
    components = schemas.to_dict().get("components", {}).get("schemas", {})
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Wushe events (五社联动)", "version": f"{VERSION}.0.0",
                 "description": "The events the five parties publish over RabbitMQ, and `need_reported`, "
                                "which station software publishes. No event carries a resident's name, "
                                "phone or address, except the inbound `need_reported`."},
        "defaultContentType": "application/json",
        "servers": {"rabbitmq": {"host": host, "protocol": "amqp", "protocolVersion": "0.9.1"}},
        "channels": channels, "operations": operations,
        "components": {"messages": messages, "schemas": components},
    }


def _converter(spec):
    return next(p for p in spec.plugins if isinstance(p, MarshmallowPlugin)).converter


if __name__ == "__main__":
    print(json.dumps(document(), ensure_ascii=False, indent=2))

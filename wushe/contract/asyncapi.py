"""The AsyncAPI 3 document of the event catalog: the contract station software publishes and
subscribes by. Generated from `wushe.contract.events.catalog`, so it cannot drift from what the
services dispatch (`make asyncapi` writes it; the gateway serves it at /api/v1/asyncapi.json).

Each event type is a channel on its service's topic exchange (`<service>.events`), addressed by
its routing key (the type); messages are the envelope with the type's data schema. Payloads are
plain JSON Schema (AsyncAPI's default schema format): apispec writes them OpenAPI 3.1-style, so a
field that may be null has `null` among its types, not OpenAPI 3.0's `nullable`. Bindings are
where the AMQP binding 0.3.0 puts them: the exchange on the channel, persistence
(`deliveryMode`) on the operation, the encoding on the message.
"""
import json
import os
from urllib.parse import quote, unquote, urlsplit

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from wushe.contract.events import VERSION, Envelope
from wushe.contract.fields import schema_name
from wushe.contract.events.catalog import CATALOG, STATION, STATION_SOURCE

INBOUND = {STATION}  # exchanges the platform consumes from station software, not publishes to
DEFAULT_AMQP_URI = "amqp://guest:guest@127.0.0.1:5672/"


def broker(amqp_uri):
    """(protocol, host:port, vhost) of an AMQP URI, as kombu reads it (an empty path or `/` is
    the default vhost `/`); never its credentials."""
    url = urlsplit(amqp_uri)
    protocol = "amqps" if url.scheme == "amqps" else "amqp"
    port = url.port or (5671 if protocol == "amqps" else 5672)
    path = url.path[1:] if url.path.startswith("/") else url.path
    return protocol, f"{url.hostname or 'localhost'}:{port}", unquote(path) or "/"


def document(amqp_uri=DEFAULT_AMQP_URI):
    """The AsyncAPI document for the broker at `amqp_uri` (its host and vhost are the server's)."""
    protocol, host, vhost = broker(amqp_uri)
    # apispec turns the marshmallow schemas into JSON Schema (nested ones into components)
    schemas = APISpec("events", "1", "3.1.0", plugins=[MarshmallowPlugin(schema_name_resolver=schema_name)])
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
                "source": ({"type": "string", "pattern": STATION_SOURCE,
                            "description": "station or station/<station id>: the station software that reported"}
                           if source == STATION else {"type": "string", "const": source}),
                "version": {"type": "integer", "const": VERSION},
                "data": {"$ref": f"#/components/schemas/{name}"}}},
            "bindings": {"amqp": {"contentEncoding": "utf-8", "bindingVersion": "0.3.0"}},
        }
        channels[channel] = {
            "address": event_type,
            "messages": {event_type: {"$ref": f"#/components/messages/{event_type}"}},
            "bindings": {"amqp": {"is": "routingKey", "bindingVersion": "0.3.0", "exchange": {
                "name": f"{source}.events", "type": "topic", "durable": True, "autoDelete": False,
                "vhost": vhost}}},
        }
        # what the platform does with the channel: station software does the opposite
        action = "receive" if source in INBOUND else "send"
        operations[f"{action}_{event_type}"] = {
            "action": action, "channel": {"$ref": f"#/channels/{channel}"},
            "messages": [{"$ref": f"#/channels/{channel}/messages/{event_type}"}],
            # persistent: every event is published (and expected) with delivery mode 2
            "bindings": {"amqp": {"deliveryMode": 2, "bindingVersion": "0.3.0"}}}
    components = schemas.to_dict().get("components", {}).get("schemas", {})
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Wushe events (五社联动)", "version": f"{VERSION}.0.0",
                 "description": "The events the five parties publish over RabbitMQ, and `need_reported`, "
                                "which station software publishes. No event carries a resident's name, "
                                "phone or address, except the inbound `need_reported`. Station software "
                                "names itself in the envelope's `source` (`station/<station id>`) and hears "
                                "of a report that was not registered on `community.need_report_refused`."},
        "defaultContentType": "application/json",
        "servers": {"rabbitmq": {
            "host": host, "protocol": protocol, "protocolVersion": "0.9.1",
            # the vhost, as the path of an AMQP URI (`/` itself is %2F there)
            **({"pathname": "/" + quote(vhost, safe="")} if vhost != "/" else {}),
            "description": f"RabbitMQ, virtual host {vhost}"}},
        "channels": channels, "operations": operations,
        "components": {"messages": messages, "schemas": components},
    }


def _converter(spec):
    return next(p for p in spec.plugins if isinstance(p, MarshmallowPlugin)).converter


if __name__ == "__main__":
    print(json.dumps(document(os.environ.get("AMQP_URI", DEFAULT_AMQP_URI)), ensure_ascii=False, indent=2))

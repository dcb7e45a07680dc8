"""The OpenAPI 3 document, generated from the declared routes and their marshmallow schemas."""
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from marshmallow import validate

from gateway.access import ROLES
from gateway.schemas import Problem
from gateway.web import MAX_JSON_DEPTH
from wushe.contract import regions
from wushe.contract.fields import ID_PATTERN, RegionPath, schema_name

STANDARD_ERRORS = {
    400: f"Malformed JSON (or nested more than {MAX_JSON_DEPTH} deep)", 401: "Missing or wrong API key",
    403: "This key's role may not do this", 404: "Not found (or not yours)",
    409: "Conflict with the record's state", 413: "Body too large",
    415: "A body not sent as Content-Type: application/json", 422: "Invalid fields",
    429: "This key's rate limit is reached; retry after Retry-After seconds",
    503: "A service, the broker or the store is unreachable, or the gateway is at capacity; retry",
    504: "A service did not answer in time",
}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again",
                               "schema": {"type": "integer", "minimum": 0}}}


def errors_of(route, path_params):
    """The problems a route may answer: the route's own (`errors=`), and those every route of
    its kind may meet on the way (web.route): no key, a role that may not (403: a route not
    every role may call, or one for an admin key of no region), the rate limit, a bad, too
    large, too deep or not-JSON body, unknown or invalid fields, an id that names nothing, an
    Idempotency-Key still in progress, a service down or slow, a gateway at capacity (503,
    any route)."""
    codes = set(route.errors) | {422, 503}
    if not route.public:
        codes |= {401, 429, 504}
        if set(ROLES) - route.roles or route.platform_wide:
            codes.add(403)
    if route.method in ("POST", "PUT", "PATCH"):
        codes |= {400, 413, 415}
    if route.method == "POST" and not route.public and route.idempotent:
        codes.add(409)  # a repeat of an Idempotency-Key whose first request is still running
    if path_params:
        codes.add(404)
    return codes


def path_parameter(name):
    """A path parameter's schema: a record id (`…_id`) has the ids' pattern; the gateway answers
    404 for one that does not match it, before anything is looked up (web.route)."""
    if name.endswith("_id"):
        return {"type": "string", "pattern": ID_PATTERN.regex.pattern}
    return {"type": "string", "minLength": 1}


def validator_properties(self, field, **kwargs):
    """What apispec does not say of a field's validators: a region path's pattern (at its
    level), and an exclusive bound (OpenAPI 3.0: a boolean `exclusiveMinimum` beside `minimum`)."""
    found = {}
    for validator in field.validators:
        if isinstance(validator, RegionPath):
            found["pattern"] = regions.pattern(validator.level)
        elif isinstance(validator, validate.Range):
            if validator.min is not None and not validator.min_inclusive:
                found["exclusiveMinimum"] = True
            if validator.max is not None and not validator.max_inclusive:
                found["exclusiveMaximum"] = True
    return found


class Plugin(MarshmallowPlugin):
    """apispec's marshmallow plugin, adding a schema's `json_schema_rules` (its cross-field rules,
    as far as JSON Schema can say them) as `allOf`."""

    def init_spec(self, spec):
        super().init_spec(spec)
        self.converter.add_attribute_function(validator_properties)

    def schema_helper(self, name, _, schema=None, **kwargs):
        found = super().schema_helper(name, _, schema=schema, **kwargs)
        rules = getattr(resolve_schema_cls(schema), "json_schema_rules", None) if schema is not None else None
        if found is not None and rules:
            found["allOf"] = list(rules)
        return found


def document(routes):
    spec = APISpec(
        title="Wushe gateway (五社联动)", version="1.0.0", openapi_version="3.0.3",
        plugins=[Plugin(schema_name_resolver=schema_name)],
        info={"description": "One resident's need sets five parties moving: community, social "
                             "organisations, social workers, volunteers and charitable resources. "
                             "The events they exchange, which station software publishes and "
                             "subscribes to: [the events page](event-docs) ([AsyncAPI document](asyncapi.json))."},
        # relative to the document (/api/v1/openapi.json), so that behind a proxy's prefix
        # (https://host/wushe/api/v1/openapi.json) a client calls https://host/wushe/api/v1/…
        servers=[{"url": "../..", "description": "the gateway serving this document"}],
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Problem", schema=Problem)
    paths = {}
    for r in routes:
        operation = {"summary": r.summary, "tags": [r.tag], "operationId": r.name,  # the handler's: a generated client's method name
                     "responses": {str(r.status): {"description": "OK"}}}
        if r.response:
            operation["responses"][str(r.status)]["content"] = {"application/json": {"schema": r.response}}
        if r.content:
            operation["responses"][str(r.status)]["content"] = r.content
        if r.request:
            # a body whose fields are all optional may be left out (web.parse_body reads it as {})
            required = any(f.required for f in r.request._declared_fields.values())
            operation["requestBody"] = {"required": required,
                                        "content": {"application/json": {"schema": r.request}}}
        if r.query:
            operation["parameters"] = [{"in": "query", "schema": r.query}]
        params = [p.strip("{}") for p in r.openapi_path.split("/") if p.startswith("{")]
        operation.setdefault("parameters", []).extend(
            {"in": "path", "name": p, "required": True, "schema": path_parameter(p)} for p in params)
        if not r.public:
            operation["security"] = [{"bearer": []}]
        # any request: the web server (eventlet) refuses a request line over 8 KB itself, no body
        operation["responses"]["414"] = {"description": "URI too long: a request line over 8,192 bytes, refused "
                                                        "by the web server before the gateway reads it (no body)"}
        for code in sorted(errors_of(r, params)):
            operation["responses"][str(code)] = {
                "description": STANDARD_ERRORS.get(code, "Error"),
                "content": {"application/problem+json": {"schema": "Problem"}}}
            if code in (409, 429, 503):  # 409: an Idempotency-Key still in progress says when to retry
                operation["responses"][str(code)]["headers"] = RETRY_AFTER
        operation["parameters"].append({"in": "header", "name": "X-Correlation-Id", "required": False,
                                        "description": "quoted in every log line of the request; one is made "
                                                       "up when absent or not visible ASCII",
                                        "schema": {"type": "string"}})
        if r.method == "POST" and not r.public and r.idempotent:
            operation["parameters"].append({"in": "header", "name": "Idempotency-Key", "required": False,
                                            "schema": {"type": "string", "maxLength": 200}})
        paths.setdefault(r.openapi_path, {})[r.method.lower()] = operation
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()

"""The OpenAPI 3 document, generated from the declared routes and their marshmallow schemas."""
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from gateway.schemas import Problem
from wushe.contract.fields import schema_name

STANDARD_ERRORS = {
    400: "Malformed JSON", 401: "Missing or wrong API key", 404: "Not found (or not yours)",
    409: "Conflict with the record's state", 413: "Body too large", 422: "Invalid fields",
    503: "A service, the broker or the store is unreachable; retry", 504: "A service did not answer in time",
}


def errors_of(route, path_params):
    """The problems a route may answer: the route's own (`errors=`), and those every route of
    its kind may meet on the way (web.route): no key, a bad or too large body, unknown or
    invalid fields, an id that names nothing, a service down or slow."""
    codes = set(route.errors) | {422}
    if not route.public:
        codes |= {401, 503, 504}
    if route.method in ("POST", "PUT", "PATCH"):
        codes |= {400, 413}
    if path_params:
        codes.add(404)
    return codes


def document(routes):
    spec = APISpec(
        title="Wushe gateway (五社联动)", version="1.0.0", openapi_version="3.0.3",
        plugins=[MarshmallowPlugin(schema_name_resolver=schema_name)],
        info={"description": "One resident's need sets five parties moving: community, social "
                             "organisations, social workers, volunteers and charitable resources. "
                             "The events they exchange, which station software publishes and "
                             "subscribes to: [the events page](event-docs) ([AsyncAPI document](asyncapi.json))."},
        servers=[{"url": "/"}],
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Problem", schema=Problem)
    paths = {}
    for r in routes:
        operation = {"summary": r.summary, "tags": [r.tag], "operationId": f"{r.method.lower()}_{r.path}",
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
            {"in": "path", "name": p, "required": True, "schema": {"type": "string"}} for p in params)
        if not r.public:
            operation["security"] = [{"bearer": []}]
        for code in sorted(errors_of(r, params)):
            operation["responses"][str(code)] = {
                "description": STANDARD_ERRORS.get(code, "Error"),
                "content": {"application/problem+json": {"schema": "Problem"}}}
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

"""HTTP plumbing of the gateway: one `route` decorator does auth, body parsing, idempotency,
the error table and metrics, and records the route for the OpenAPI document (so that every
route served is documented and every documented route is served)."""
import functools
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field

import kombu.exceptions
import structlog
from nameko.exceptions import RemoteError, UnknownService
from nameko.web.handlers import http
from werkzeug.wrappers import Response

from wushe import metrics
from wushe.errors import WusheError

log = structlog.get_logger("wushe.gateway")
MAX_BODY_BYTES = 1 << 20
PROBLEM = "application/problem+json"


class HttpProblem(Exception):
    def __init__(self, status, title, detail, errors=None, headers=None):
        super().__init__(detail)
        self.status, self.title, self.detail, self.errors, self.headers = status, title, detail, errors, headers


class ServiceTimeout(Exception):
    """An RPC got no answer within its deadline."""


def _remote_problem(exc):
    return HttpProblem(502, "Bad gateway", "a service failed to answer the request")


# The one table from what went wrong to what the integrator sees.
ERRORS = {
    WusheError: lambda e: HttpProblem(e.status, e.title, e.detail, e.errors),
    HttpProblem: lambda e: e,
    ServiceTimeout: lambda e: HttpProblem(504, "Gateway timeout", str(e)),
    UnknownService: lambda e: HttpProblem(503, "Service unavailable",
                                          "a service this request needs is not running; try again shortly",
                                          headers={"Retry-After": "5"}),
    # the broker is away (restarting, unreachable): nothing was sent, try again
    kombu.exceptions.OperationalError: lambda e: HttpProblem(503, "Service unavailable",
                                                             "the message broker is unreachable; try again shortly",
                                                             headers={"Retry-After": "5"}),
    RemoteError: _remote_problem,
}


def to_problem(exc):
    for kind, make in ERRORS.items():
        if isinstance(exc, kind):
            return make(exc)
    return None


def json_response(body, status=200, headers=None):
    if status == 204:  # No Content: no body, so no type either
        response = Response(status=204, headers=headers)
        del response.headers["Content-Type"]
        return response
    return Response(json.dumps(body, ensure_ascii=False), status=status, headers=headers,
                    content_type="application/json; charset=utf-8")


def problem_response(p):
    body = {"type": f"https://wushe.dev/problems/{p.status}", "title": p.title, "status": p.status,
            "detail": p.detail}
    if p.errors:
        body["errors"] = p.errors
    return Response(json.dumps(body, ensure_ascii=False), status=p.status, headers=p.headers,
                    content_type=PROBLEM + "; charset=utf-8")


@dataclass
class Route:
    method: str
    path: str
    summary: str
    tag: str
    request: type | None = None
    response: type | None = None
    status: int = 200
    public: bool = False
    query: type | None = None
    errors: tuple = field(default_factory=tuple)

    @property
    def openapi_path(self):
        import re
        return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", self.path)


ROUTES: list[Route] = []


def route(method, path, summary, tag, *, request=None, response=None, status=200, public=False,
          query=None, errors=(), id_prefix=None):
    """Declare a gateway route. The handler gets (self, request, body, **path_params) and
    returns (status, json body), (204, None), or a werkzeug Response."""
    spec = Route(method, path, summary, tag, request, response, status, public, query, errors)
    ROUTES.append(spec)

    def decorate(fn):
        @functools.wraps(fn)
        def handler(self, request, **params):
            started = time.perf_counter()
            try:
                if not spec.public:
                    self.authorise(request)
                body = parse_body(request) if method in ("POST", "PUT", "PATCH") else None
                key = request.headers.get("Idempotency-Key")
                if key and method == "POST":
                    answer = self.idempotency.run(key, f"{method} {request.path}", request.get_data(),
                                                  lambda: fn(self, request, _with_id(body, id_prefix, key), **params))
                else:
                    answer = fn(self, request, body, **params)
                response = answer if isinstance(answer, Response) else json_response(answer[1], answer[0])
            except Exception as exc:  # noqa: BLE001 — every failure becomes a problem answer
                problem = to_problem(exc)
                if problem is None:
                    log.error("http.failed", route=path, error=type(exc).__name__, exc_info=True)
                    problem = HttpProblem(500, "Internal error",
                                          "the request failed; it has been logged with its correlation id")
                response = problem_response(problem)
            # so that an integrator can quote it: every log line of the request carries it
            response.headers["X-Correlation-Id"] = structlog.contextvars.get_contextvars().get("correlation_id", "")
            metrics.HTTP_SECONDS.labels(method, path, str(response.status_code)).observe(
                time.perf_counter() - started)
            return response
        return http(method, path)(handler)
    return decorate


def _with_id(body, prefix, key):
    """With an Idempotency-Key, a created resource's id derives from the key, so that a retry
    after a lost answer finds the same resource instead of creating a second one."""
    if prefix and isinstance(body, dict) and "id" not in body:
        return {**body, "id": f"{prefix}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"}
    return body


def parse_body(request):
    if request.content_length and request.content_length > MAX_BODY_BYTES:
        raise HttpProblem(413, "Payload too large", f"bodies are limited to {MAX_BODY_BYTES} bytes")
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY_BYTES:
        raise HttpProblem(413, "Payload too large", f"bodies are limited to {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise HttpProblem(400, "Malformed JSON", f"the body is not valid UTF-8 JSON: {exc}") from None
    if not isinstance(body, dict):
        raise HttpProblem(400, "Malformed JSON", "the body must be a JSON object")
    return body


def check_bearer(request, admin_key):
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token or not hmac.compare_digest(token.strip(), admin_key):
        raise HttpProblem(401, "Unauthorized", "a valid `Authorization: Bearer <api key>` is required",
                          headers={"WWW-Authenticate": "Bearer"})


def query_args(request, schema_cls):
    from marshmallow import ValidationError
    try:
        return schema_cls().load(request.args.to_dict())
    except ValidationError as exc:
        raise HttpProblem(422, "Invalid input", "the query has invalid parameters", exc.messages) from None

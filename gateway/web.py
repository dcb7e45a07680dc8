"""HTTP plumbing of the gateway: one `route` decorator does auth, body parsing, idempotency,
the error table and metrics, and records the route for the OpenAPI document (so that every
route served is documented and every documented route is served)."""
import functools
import hashlib
import json
import time
from dataclasses import dataclass, field

import kombu.exceptions
import pymongo.errors
import structlog
from nameko.exceptions import RemoteError, UnknownService
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer, WsgiApp
from werkzeug.exceptions import BadRequest, HTTPException, MethodNotAllowed, NotFound as NoRoute
from werkzeug.wrappers import Request, Response

from gateway import access
from wushe.runtime import logs, metrics
from wushe.runtime.config import settings
from wushe.runtime.errors import WusheError
from wushe.runtime.telemetry import correlation_of
from wushe.contract.fields import ID_PATTERN, instance

log = structlog.get_logger("wushe.gateway")
MAX_BODY_BYTES = 1 << 20
MAX_JSON_DEPTH = 32  # arrays and objects within each other in a body; deeper is a 400
PROBLEM = "application/problem+json"
# CORS (WUSHE_CORS_ORIGINS): what a browser page of an allowed origin may send and read
CORS_REQUEST_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-Correlation-Id"
CORS_EXPOSED_HEADERS = "X-Correlation-Id, Retry-After, Location"
CORS_MAX_AGE = "600"


class HttpProblem(Exception):
    def __init__(self, status, title, detail, errors=None, headers=None):
        super().__init__(detail)
        self.status, self.title, self.detail, self.errors, self.headers = status, title, detail, errors, headers


class ServiceTimeout(Exception):
    """An RPC got no answer within its deadline."""


INTERNAL = ("Internal error", "the request failed; it has been logged with its correlation id")


def _subclasses(kind):
    return {kind.__name__}.union(*(_subclasses(sub) for sub in kind.__subclasses__()))


# pymongo's "the store is away" (the connection dropped, no server to select, a timeout): a
# service's arrives here as a RemoteError naming its type
STORE_AWAY = frozenset(_subclasses(pymongo.errors.ConnectionFailure))


def _store_away(exc=None):
    # the store is restarting or unreachable: whatever the request did not finish, a retry
    # finishes (an Idempotency-Key makes it safe); not a bug of ours, so not a 500
    return HttpProblem(503, "Service unavailable", "the data store is unreachable; try again shortly",
                       headers={"Retry-After": "5"})


def _remote_problem(exc):
    if exc.exc_type in STORE_AWAY:
        log.warning("http.service_store_away", remote_error=exc.exc_type)
        return _store_away()
    # a service's own bug, re-raised here: a 500 like ours, and neither its type nor its message
    # (they may hold anything, a resident's details included) goes to the caller; the service
    # logged the traceback
    log.error("http.service_failed", remote_error=exc.exc_type)
    return HttpProblem(500, *INTERNAL)


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
    pymongo.errors.ConnectionFailure: _store_away,
    RemoteError: _remote_problem,
}


def to_problem(exc):
    for kind, make in ERRORS.items():
        if isinstance(exc, kind):
            return make(exc)
    return None


def no_content(headers=None):
    """A 204: no body, so no Content-Type either (werkzeug would add text/plain)."""
    response = Response(status=204, headers=headers)
    del response.headers["Content-Type"]
    return response


def json_response(body, status=200, headers=None):
    if status == 204:
        return no_content(headers)
    return json_text_response(json.dumps(body, ensure_ascii=False), status, headers)


def json_text_response(text, status=200, headers=None):
    """An answer whose JSON was rendered already (a read model's page)."""
    return Response(text, status=status, headers=headers, content_type="application/json; charset=utf-8")


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
    scope: access.Scope | None = None
    idempotent: bool = True
    name: str = ""
    roles: frozenset = frozenset()
    platform_wide: bool = False
    content: dict | None = None  # the answer's media types and schemas when it is not JSON

    @property
    def openapi_path(self):
        import re
        return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", self.path)


ROUTES: list[Route] = []


def route(method, path, summary, tag, *, roles=frozenset(), request=None, response=None, status=200, public=False,
          query=None, errors=(), id_prefix=None, scope=None, idempotent=True, platform_wide=False, content=None):
    """Declare a gateway route. The handler gets (self, request, body, **path_params) and
    returns (status, json body), (204, None), or a werkzeug Response. A POST replays its answer
    for a repeated Idempotency-Key unless `idempotent` is False (an answer holding a secret is
    never stored). `roles` may call it (403 for the rest; a route that is not `public` names
    them, or it does not start); `platform_wide` routes are for an admin key bound to no region;
    `scope` says where the record it touches lives, so that a key only reaches its own region."""
    if not public and not roles:
        raise RuntimeError(f"route {method} {path}: name the roles that may call it")
    spec = Route(method, path, summary, tag, request, response, status, public, query, errors, scope, idempotent,
                 roles=frozenset(roles), platform_wide=platform_wide, content=content)
    ROUTES.append(spec)
    takes_body = method in ("POST", "PUT", "PATCH")

    def decorate(fn):
        spec.name = fn.__name__

        @functools.wraps(fn)
        def handler(self, request, **params):
            started = time.perf_counter()
            try:
                caller = None
                if not spec.public:
                    caller = self.authorise(request)
                    access.permit(caller, spec)
                unknown_ids(params)
                raw = read_body(request) if takes_body else b""
                if raw.strip():
                    require_json(request)
                body = parse_body(raw) if takes_body else None
                refuse_undeclared(spec, request, body)
                if spec.query:
                    query_args(request, spec.query)  # a malformed query is 422 before anything is looked up
                if scope:
                    access.check_before(scope, caller, self, body, params)
                key = request.headers.get("Idempotency-Key")
                if key and method == "POST" and idempotent:
                    # scoped to the key: another integrator's same Idempotency-Key is another request
                    answer = self.idempotency.run(key, f"{caller.key_id} {method} {request.path}", raw,
                                                  lambda: fn(self, request, _with_id(body, id_prefix, f"{caller.key_id}\n{key}"),
                                                             **params))
                else:
                    answer = fn(self, request, body, **params)
                if scope and not isinstance(answer, Response):
                    access.check_answer(scope, caller, answer[1], params)
                response = answer if isinstance(answer, Response) else json_response(answer[1], answer[0])
            except Exception as exc:  # noqa: BLE001 — every failure becomes a problem answer
                problem = to_problem(exc)
                if problem is None:
                    log.error("http.failed", route=path, error=type(exc).__name__, exc_info=True)
                    problem = HttpProblem(500, *INTERNAL)
                response = problem_response(problem)
            # so that an integrator can quote it: every log line of the request carries it
            response.headers["X-Correlation-Id"] = logs.bound().get("correlation_id", "")
            metrics.child(metrics.HTTP_SECONDS, method, path, str(response.status_code)).observe(
                time.perf_counter() - started)
            return response
        handler.takes_path_params = True  # whatever the path matched: see ProblemHttpHandler.check_signature
        return ProblemHttpHandler.decorator(method, path)(handler)
    return decorate


UNSHED = frozenset({"/healthz", "/readyz", "/metrics"})
READS = frozenset({"GET", "HEAD", "OPTIONS"})
# past its capacity a gateway answers at once, so that a client backs off or tries another
# gateway instead of waiting in a queue that only grows
# (made once: a shed request should cost the gateway as little as it can)
_AT_CAPACITY = problem_response(HttpProblem(503, "Service unavailable", "the gateway is at capacity; try again shortly",
                                            headers={"Retry-After": "1"}))
AT_CAPACITY_STATUS, AT_CAPACITY_HEADERS, AT_CAPACITY_BODY = (
    _AT_CAPACITY.status, tuple(_AT_CAPACITY.headers.to_wsgi_list()), _AT_CAPACITY.get_data())


class GatewayWsgiApp(WsgiApp):
    """nameko's WSGI app (one werkzeug Map of every http entrypoint), answering what the Map
    itself cannot match as problems: a path no route has is a 404, a method the path's routes do
    not take a 405 with their `Allow` (werkzeug's own answers are text/html pages). A CORS
    preflight from an allowed origin is answered here (204, the path's methods); an answer to an
    allowed origin carries Access-Control-Allow-Origin."""

    def __init__(self, server):
        super().__init__(server)
        self.origins = frozenset(settings(server.container)["CORS_ORIGINS"])
        cfg = settings(server.container)
        # a read is admitted while fewer than MAX_IN_FLIGHT are in flight, so that it waits
        # behind few; a write, which waits on its service most of its time, up to the larger bound
        self.reads_bound = cfg["MAX_IN_FLIGHT"]
        self.writes_bound = max(cfg["MAX_WRITES_IN_FLIGHT"], cfg["MAX_IN_FLIGHT"])
        self.in_flight = 0  # green threads of one hub: no lock needed

    def __call__(self, environ, start_response):
        # probes and scrapes are never shed: an orchestrator would restart a gateway that is busy
        bound = self.reads_bound if environ.get("REQUEST_METHOD") in READS else self.writes_bound
        if self.in_flight >= bound and environ.get("PATH_INFO") not in UNSHED:
            metrics.HTTP_SHED.inc()
            start_response(AT_CAPACITY_STATUS, list(AT_CAPACITY_HEADERS))
            return [AT_CAPACITY_BODY]
        self.in_flight += 1
        try:
            return self._answer(environ, start_response)
        finally:
            self.in_flight -= 1

    def _answer(self, environ, start_response):
        request = Request(environ, shallow=True)
        adapter = self.url_map.bind_to_environ(environ)
        origin = environ.get("HTTP_ORIGIN", "")
        allowed_origin = origin if origin in self.origins else None
        try:
            provider, values = adapter.match()
            request.path_values = values
            response = provider.handle_request(request)
        except MethodNotAllowed as exc:
            allow = ", ".join(sorted(set(exc.valid_methods or ())))
            if request.method == "OPTIONS" and allowed_origin and \
                    "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ:
                response = no_content({"Allow": allow, "Access-Control-Allow-Methods": allow,
                                       "Access-Control-Allow-Headers": CORS_REQUEST_HEADERS,
                                       "Access-Control-Max-Age": CORS_MAX_AGE})
            else:
                response = problem_response(HttpProblem(
                    405, "Method not allowed", f"{request.method} is not a method of {request.path}; "
                                               f"it takes {allow}", headers={"Allow": allow}))
        except NoRoute:
            response = problem_response(HttpProblem(404, "Not found", f"no route {request.method} {request.path}"))
        except HTTPException as exc:  # werkzeug's redirect of a path with a trailing slash
            return exc(environ, start_response)
        if "X-Correlation-Id" not in response.headers:  # answered here, by no entrypoint: as one would
            response.headers["X-Correlation-Id"] = correlation_of(request.headers)
        if self.origins:
            response.vary.add("Origin")  # the answer depends on the Origin sent
        if allowed_origin:
            response.headers["Access-Control-Allow-Origin"] = allowed_origin
            response.headers["Access-Control-Expose-Headers"] = CORS_EXPOSED_HEADERS
        return response(environ, start_response)


class GatewayWebServer(WebServer):
    """nameko's web server with the gateway's WSGI app (the one server of every entrypoint of
    ProblemHttpHandler: a shared extension, one per class)."""

    def get_wsgi_app(self):
        return GatewayWsgiApp(self)

    def get_wsgi_server(self, sock, wsgi_app, **kwargs):
        server = super().get_wsgi_server(sock, wsgi_app, **kwargs)
        # eventlet formats its line per request before the logger looks at the level: with the
        # access log off (WUSHE_ACCESS_LOG), not at all
        server.log_output = self.container.config.get("ACCESS_LOG", False)
        return server


class ProblemHttpHandler(HttpRequestHandler):
    """nameko's http entrypoint, except that a failure outside the route's own handling (a
    dependency that failed to set up the worker, a container being killed) is a problem answer
    too: nameko's own answer is `Error: <type>: <message>` in plain text. Its server answers
    unknown paths and methods as problems too (GatewayWsgiApp)."""

    server = GatewayWebServer()

    def check_signature(self, args, kwargs):
        # a route's handler takes the parameters of the path the URL map matched, whatever they
        # are: nothing to check, where nameko's check inspects the method on every request
        if not getattr(getattr(self.container.service_cls, self.method_name), "takes_path_params", False):
            super().check_signature(args, kwargs)

    def response_from_exception(self, exc):
        if isinstance(exc, BadRequest):
            return problem_response(HttpProblem(400, "Bad request", "the request could not be read"))
        problem = to_problem(exc)
        if problem is None:
            log.error("http.failed", route=self.url, error=type(exc).__name__)
            problem = HttpProblem(500, *INTERNAL)
        return problem_response(problem)


def unknown_ids(params):
    """A record id in the path that no id can be (the document's pattern, matched whole) names
    nothing: 404 before anything is looked up."""
    for name, value in params.items():
        if name.endswith("_id") and ID_PATTERN.regex.fullmatch(value) is None:
            raise HttpProblem(404, "Not found", f"no {name.removesuffix('_id')} {value}")


def _with_id(body, prefix, key):
    """With an Idempotency-Key, a created resource's id derives from the key, so that a retry
    after a lost answer finds the same resource instead of creating a second one."""
    if prefix and isinstance(body, dict) and "id" not in body:
        return {**body, "id": f"{prefix}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"}
    return body


def read_body(request):
    """The raw body, never more than MAX_BODY_BYTES of it read. Read from the server's stream
    here: werkzeug reads a chunked body as empty (eventlet does not mark its input terminated),
    and `get_data()` would read a body of any length into memory first."""
    declared = request.content_length
    if declared is not None and declared > MAX_BODY_BYTES:
        raise too_large()
    if declared is None and "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        raw = request.environ["wsgi.input"].read(MAX_BODY_BYTES + 1)
    else:
        raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY_BYTES:
        raise too_large()
    return raw


def too_large():
    return HttpProblem(413, "Payload too large", f"bodies are limited to {MAX_BODY_BYTES} bytes")


JSON_TYPES = ("application/json",)


def require_json(request):
    """A body is JSON and says so: `Content-Type: application/json` or a `+json` type (any
    charset parameter), or 415. An empty body needs no type (a body that may be left out)."""
    mimetype = request.mimetype  # lower case, parameters dropped
    if mimetype not in JSON_TYPES and not (mimetype.startswith("application/") and mimetype.endswith("+json")):
        raise HttpProblem(415, "Unsupported media type",
                          f"a body must be sent as Content-Type: application/json, not {mimetype or 'none'}")


def parse_body(raw):
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_not_json)
    except RecursionError:
        raise too_deep() from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise HttpProblem(400, "Malformed JSON", f"the body is not valid UTF-8 JSON: {exc}") from None
    if depth_of(body) > MAX_JSON_DEPTH:
        raise too_deep()
    if not isinstance(body, dict):
        raise HttpProblem(400, "Malformed JSON", "the body must be a JSON object")
    try:
        # JSON may escape a lone surrogate ("\ud800"): valid JSON, but no text; it would fail
        # later, wherever the value is encoded (a store, a log line, the answer)
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise HttpProblem(400, "Malformed JSON", "the body holds a lone UTF-16 surrogate, which is not text") from None
    return body


def too_deep():
    return HttpProblem(400, "Malformed JSON", f"the body nests arrays and objects more than {MAX_JSON_DEPTH} deep")


def depth_of(value):
    """How deep arrays and objects nest in a parsed JSON value (a scalar: 0), without recursion."""
    deepest, level = 0, [(value, 1)]
    while level:
        item, depth = level.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if depth > MAX_JSON_DEPTH:
            break
        level.extend((child, depth + 1) for child in children)
    return deepest


def _not_json(constant):
    raise ValueError(f"{constant} is not a JSON number")


def refuse_undeclared(spec, request, body):
    """Query parameters of a route that takes none, and body fields of a route that takes no
    body, are refused like any unknown field (422 naming them), not ignored."""
    errors = {}
    if spec.query is None and request.environ.get("QUERY_STRING"):
        errors.update({name: ["Unknown parameter."] for name in request.args})
    if spec.request is None and body:
        errors.update({name: ["Unknown field."] for name in body})
    if errors:
        raise HttpProblem(422, "Invalid input", "the request has unknown fields or parameters", errors)


UNAUTHORISED = HttpProblem(401, "Unauthorized", "a valid `Authorization: Bearer <api key>` is required",
                           headers={"WWW-Authenticate": "Bearer"})


def bearer(request):
    """The bearer token of a request, or 401."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UNAUTHORISED
    return token.strip()


def query_args(request, schema_cls):
    """The query loaded through its schema (422 naming the parameters); loaded once per request,
    though the route decorator and the handler both ask."""
    from marshmallow import ValidationError
    loaded = request.environ.setdefault("wushe.query", {})
    if schema_cls not in loaded:
        try:
            loaded[schema_cls] = instance(schema_cls).load(request.args.to_dict())
        except ValidationError as exc:
            raise HttpProblem(422, "Invalid input", "the query has invalid parameters", exc.messages) from None
    return dict(loaded[schema_cls])

"""The gateway (网关): the HTTP API integrators use (API.md), and the need read model."""
import hmac
import secrets

import eventlet
import kombu
import structlog
from nameko.extensions import DependencyProvider
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.utils import redirect
from werkzeug.wrappers import Response

from gateway import docs, keys, openapi, schemas as gs
from gateway.access import ADMIN, BOOTSTRAP, CALLER, EVERYONE, OFFICIALS, Caller, Scope, caller_of, narrowed
from gateway.idempotency import Idempotency
from gateway.limits import RateLimiter
from gateway.readmodel import PAGE, RESIDENT_AT, GatewayStore, page_with, public
from gateway.routes import NOTHING, forwards
from gateway.web import (ROUTES, UNAUTHORISED, HttpProblem, ProblemHttpHandler, ServiceTimeout, bearer,
                         json_response, json_text_response, query_args, route)
from wushe.contract import asyncapi, residents
from wushe.ops import dlq
from wushe.runtime.config import settings
from wushe.contract.clock import now_iso
from wushe.runtime.errors import InvalidInput, NotFound, loaded
from wushe.contract.events.catalog import SOURCES
from wushe.contract.regions import under_filter, within
from wushe.runtime.personal_data import PersonalDataKeys
from wushe.runtime.store import Store, page
from wushe.runtime.subscribe import DUPLICATE, on_event
from wushe.runtime.rpc import RpcProxy
from wushe.runtime.telemetry import Telemetry

log = structlog.get_logger("wushe.gateway")
# the http entrypoints outside the API (no key, not in the document); on the gateway's one web
# server, whose app answers unknown paths (404) and methods (405) as problems
http_entry = ProblemHttpHandler.decorator
PARTIES = [s for s in SOURCES if s != "station"]
NOT_ABOUT_A_NEED = {"need_report_refused"}


class Settings(DependencyProvider):
    """The gateway's settings; generates a bootstrap admin key when none is configured."""

    def setup(self):
        self.settings = {**settings(self.container), "AMQP_URI": self.container.config["AMQP_URI"]}
        if not self.settings["ADMIN_KEY"]:
            self.settings["ADMIN_KEY"] = secrets.token_urlsafe(24)
            log.warning("gateway.admin_key_generated", admin_key=self.settings["ADMIN_KEY"],
                        detail="WUSHE_ADMIN_KEY is unset; this key is valid until the gateway stops")

    def get_dependency(self, worker_ctx):
        return self.settings


class KeyCache(DependencyProvider):
    """The keys this gateway process read last (`keys.RecentKeys`), kept across its workers."""

    def setup(self):
        self.recent = keys.RecentKeys(settings(self.container)["KEY_CACHE_SECONDS"])

    def get_dependency(self, worker_ctx):
        return self.recent


class RateLimits(DependencyProvider):
    """One token bucket per key, kept for the life of the gateway process."""

    def setup(self):
        self.limiter = RateLimiter(settings(self.container)["RATE_LIMIT_PER_MINUTE"])

    def get_dependency(self, worker_ctx):
        return self.limiter


@forwards
class GatewayService:
    """The routes that only forward a request to its service are a table (`gateway.routes`);
    the ones here do more: keys, the read model, residents, statistics, dead letters."""
    name = "gateway"

    settings = Settings()
    limits = RateLimits()
    recent_keys = KeyCache()
    store = Store(GatewayStore)
    keyring = PersonalDataKeys()  # opens a resident's sealed fields for a caller who may see them
    log = Telemetry(serves_metrics=True)  # its /metrics is the process's one endpoint
    community = RpcProxy("community")
    orgs = RpcProxy("orgs")
    workers = RpcProxy("workers")
    volunteers = RpcProxy("volunteers")
    charity = RpcProxy("charity")

    # plumbing used by gateway.web.route --------------------------------------------------------
    def authorise(self, request):
        """The caller a bearer key stands for (401 for a wrong, unknown or revoked key), within
        its rate limit (429 with Retry-After)."""
        token = bearer(request)
        if hmac.compare_digest(token, self.settings["ADMIN_KEY"]):
            caller = BOOTSTRAP
        else:
            key_id, secret = keys.parse(token) or (None, None)
            doc = self.recent_keys.find(self.store.keys, key_id) if key_id else None
            if not keys.matches(doc, secret):
                raise UNAUTHORISED
            caller = Caller(doc["_id"], doc["role"], doc["region"], doc.get("rate_per_minute"))
            self.recent_keys.touch(self.store.keys, doc, now_iso)
        wait = self.limits.take(caller.key_id, caller.rate_per_minute)
        if wait:
            raise HttpProblem(429, "Too many requests", f"this key's rate limit is reached; retry in {wait} s",
                              headers={"Retry-After": str(wait)})
        request.environ[CALLER] = caller
        return caller

    @property
    def idempotency(self):
        # a request runs a few RPCs at most, each within RPC_TIMEOUT: one still running after
        # three of them has lost its gateway or its store
        return Idempotency(self.store.idempotency, lease_seconds=3 * self.settings["RPC_TIMEOUT"])

    def call(self, service, method, *args, **kwargs):
        """An RPC with a deadline: nothing waits forever on a service that is down."""
        timeout = self.settings["RPC_TIMEOUT"]
        reply = getattr(getattr(self, service), method).call_async(*args, **kwargs)
        with eventlet.Timeout(timeout, ServiceTimeout(f"the {service} service did not answer within {timeout:g} s")):
            return reply.result()

    # read model -------------------------------------------------------------------------------
    @on_event(PARTIES, ["#"], queue_name="evt-all--gateway.project")
    def project(self, event):
        # events about an organisation (milestones, graduation) name no need: no view for them;
        # nor does an answer to a station about its refused report (its need_id is the report's)
        if event.type in NOT_ABOUT_A_NEED:
            return None
        need_ids = event.data["need_ids"] if event.type == "org_incubation_started" else [event.data.get("need_id")]
        applied = [self.store.apply(need_id, event) for need_id in filter(None, need_ids)]
        return DUPLICATE if applied and not any(applied) else None

    @on_event("community", "resident_sealed")
    def keep_resident(self, event):
        # the forms a read of the need shows its resident in, by the caller's scope: no read asks
        # the community (an internal event: station software never sees it)
        return None if self.store.keep_resident(event.need_id, event.data["resident"]) else DUPLICATE

    # operations -------------------------------------------------------------------------------
    @http_entry("GET", "/healthz")
    def healthz(self, request):
        return json_response({"status": "ok"})

    @http_entry("GET", "/readyz")
    def readyz(self, request):
        checks = {"broker": _broker_ok(self.settings["AMQP_URI"]), "store": _store_ok(self.store.needs.database)}
        status = 200 if all(checks.values()) else 503
        return json_response({"status": "ready" if status == 200 else "not_ready", "checks": checks}, status)

    @http_entry("GET", "/metrics")
    def metrics(self, request):
        return Response(generate_latest(), content_type=CONTENT_TYPE_LATEST)

    # the contracts are no secret: open without a key, as the pages that read them
    @route("GET", "/api/v1/openapi.json", "This document", "meta", public=True)
    def openapi(self, request, body):
        return 200, openapi.document(ROUTES)

    @route("GET", "/api/v1/docs", "This document as a page to read and try out (Swagger UI)", "meta", public=True,
           content={"text/html": {"schema": {"type": "string"}}})
    def docs_page(self, request, body):
        return docs.page(request, docs.API, docs.SWAGGER_UI)

    @route("GET", "/api/v1/docs/<name>", "A file of the docs page (Swagger UI's, from its installed package)",
           "meta", public=True, errors=(404,), content=docs.CONTENT)
    def docs_file(self, request, body, name):
        return docs.asset(request, docs.API, docs.SWAGGER_UI, name)

    @http_entry("GET", "/")
    def home(self, request):
        # relative, so that it keeps a proxy's prefix
        return redirect("api/v1/docs")

    # the broker's host and virtual host, never its credentials: what every station is configured with
    @route("GET", "/api/v1/asyncapi.json", "The AsyncAPI 3 document of the events (the contract for station software)",
           "meta", public=True)
    def asyncapi(self, request, body):
        return 200, asyncapi.document(self.settings["AMQP_URI"])

    @route("GET", "/api/v1/event-docs", "The AsyncAPI document as a page to read (the AsyncAPI React component)",
           "meta", public=True, errors=(503,), content={"text/html": {"schema": {"type": "string"}}})
    def event_docs_page(self, request, body):
        return docs.page(request, docs.EVENTS, docs.events_renderer(self.settings))

    @route("GET", "/api/v1/event-docs/<name>", "A file of the events page (the AsyncAPI React component's)",
           "meta", public=True, errors=(404,), content=docs.CONTENT)
    def event_docs_file(self, request, body, name):
        return docs.asset(request, docs.EVENTS, docs.events_renderer(self.settings), name)

    # dead letters (operators) -------------------------------------------------------------------
    @route("GET", "/api/v1/dead-letters", "Parked message counts by service", "operations", roles=ADMIN,
           platform_wide=True, response=gs.DeadLetterCounts)
    def dead_letter_counts(self, request, body):
        counts = dlq.counts(self.settings["AMQP_URI"])
        return 200, {"items": [{"service": s, "parked": n} for s, n in counts.items()], "next_cursor": None}

    @route("GET", "/api/v1/dead-letters/<service>", "A service's parked messages with their errors",
           "operations", roles=ADMIN, platform_wide=True, query=gs.DeadLettersQuery, errors=(404,),
           response=gs.ParkedMessages)
    def dead_letters(self, request, body, service):
        limit = query_args(request, gs.DeadLettersQuery)["limit"]
        parked = dlq.browse(self.settings["AMQP_URI"], _known(service), limit)
        # a parked report from station software may name its resident: operators see it masked,
        # by the service that owns residents' data
        bodies = self.call("community", "masked_reports", [p.body for p in parked]) if parked else []
        return 200, {"items": [{**p.as_dict(), "body": body} for p, body in zip(parked, bodies)],
                     "next_cursor": None}

    @route("POST", "/api/v1/dead-letters/<service>/replay",
           "Send parked messages (all, or `message_ids`) back to their queues", "operations", roles=ADMIN,
           platform_wide=True, request=gs.ReplayIn, errors=(404,), response=gs.Replayed)
    def replay_dead_letters(self, request, body, service):
        ids = loaded(gs.ReplayIn, body)["message_ids"]
        return 200, {"replayed": dlq.replay(self.settings["AMQP_URI"], _known(service), ids)}

    # API keys (admin) ---------------------------------------------------------------------------
    @route("POST", "/api/v1/keys", "Make an API key for a role and a region; the key is shown once, stored hashed",
           "keys", roles=ADMIN, request=gs.KeyIn, response=gs.KeyCreated, status=201, idempotent=False,
           scope=Scope(body="region"))
    def create_key(self, request, body):
        spec, caller = loaded(gs.KeyIn, body), caller_of(request)
        region = spec.get("region", "")
        if not region and caller.region:
            raise InvalidInput("a key bound to a region makes keys within it", {"region": ["required"]})
        if region:
            try:
                level = self.call("community", "get_region", region)["level"]
            except NotFound:
                raise InvalidInput("unknown region", {"region": [f"no region {region}"]}) from None
            refused = keys.region_refused(spec["role"], level)
            if refused:
                raise InvalidInput("the region does not fit the role", {"region": [refused]})
        doc, key = keys.new_key(spec["role"], region, now_iso(), caller.key_id, spec.get("name"),
                                spec.get("rate_per_minute"))
        self.store.keys.add(doc)
        log.info("key.created", key_id=doc["_id"], role=doc["role"], region=doc["region"], by=caller.key_id)
        return 201, {**keys.public(doc), "key": key}

    @route("GET", "/api/v1/keys", "API keys within this key's region (never the keys themselves)", "keys",
           roles=ADMIN, query=gs.PageQuery, response=gs.KeyPage)
    def list_keys(self, request, body):
        args, caller = query_args(request, gs.PageQuery), caller_of(request)
        query = {"region": under_filter(caller.region)} if caller.region else {}
        docs, next_cursor = page(self.store.keys.keys, query, args["limit"], args["cursor"])
        return 200, {"items": [keys.public(d) for d in docs], "next_cursor": next_cursor}

    @route("DELETE", "/api/v1/keys/<key_id>", "Revoke a key: it stops working at once", "keys", roles=ADMIN,
           status=204, errors=(404,))
    def revoke_key(self, request, body, key_id):
        doc = self.store.keys.find(key_id)
        if doc is None or not caller_of(request).sees(doc["region"]) or doc["revoked_at"]:
            raise NotFound(f"no key {key_id}")
        self.store.keys.revoke(key_id, now_iso())
        self.recent_keys.forget(key_id)  # here at once; other gateways within KEY_CACHE_SECONDS
        log.info("key.revoked", key_id=key_id, by=caller_of(request).key_id)
        return 204, None

    # registries -------------------------------------------------------------------------------
    @route("GET", "/api/v1/regions", "Child regions of a region (cities without `parent`)", "registries",
           roles=EVERYONE, query=gs.RegionsQuery, response=gs.RegionPage)
    def list_regions(self, request, body):
        args, caller = query_args(request, gs.RegionsQuery), caller_of(request)
        # a key sees its own region, what lies under it, and the regions above it (to get there)
        items = [r for r in self.call("community", "list_regions", args["parent"])
                 if caller.sees(r["path"]) or within(caller.region, r["path"])]
        return 200, {"items": items, "next_cursor": None}

    # needs ------------------------------------------------------------------------------------
    @route("GET", "/api/v1/needs/<need_id>", "The need's aggregated linkage and timeline", "needs",
           roles=EVERYONE, response=gs.NeedView, errors=(404,),
           scope=Scope(answer="community"))
    def get_need(self, request, body, need_id):
        view = self.store.need_shown(need_id)
        if view is None or view.get("registered_at") is None:
            # just registered, its event not projected yet: ask the owner
            need = self.call("community", "get_need", need_id)
            view = {**need, "timeline": [], "applied": [], "has_resident": bool(need.get("resident_id"))}
        # here, not by the route's check of the answer (an answer rendered already is not looked
        # into), and before the resident is looked up
        caller = caller_of(request)
        if not caller.sees(view.get("community")):
            raise NotFound(f"no need {need_id}")
        if view.get(RESIDENT_AT) is not None and not caller.reveals_personal_data(view["community"]):
            return json_text_response(view[PAGE])  # the page as rendered: its resident masked
        resident = self._resident(request, view)
        if PAGE not in view:  # asked of the owner, or a view kept before views kept their page
            return 200, public(self.store.need(need_id) if "timeline" not in view else view, resident)
        return json_text_response(page_with(view[PAGE], view.get(RESIDENT_AT), resident))

    @route("GET", "/api/v1/needs", "Needs, filtered; a region filter includes everything under it", "needs",
           roles=EVERYONE, query=gs.NeedsQuery, response=gs.NeedPage)
    def list_needs(self, request, body):
        # no resident in a list, masked or not: the read model holds no personal data, and one
        # call to the community service per listed need would make lists slow; GET /needs/{id} has it
        args = narrowed(request, query_args(request, gs.NeedsQuery), "community")
        if args is None:
            return 200, NOTHING
        query = {k: args[k] for k in ("status", "category", "urgency") if k in args}
        query["registered_at"] = {"$ne": None}
        if "community" in args:
            query["community"] = under_filter(args["community"])
        docs, next_cursor = page(self.store.needs, query, args["limit"], args["cursor"])
        return 200, {"items": [public(d) for d in docs], "next_cursor": next_cursor}

    # residents (personal data) ------------------------------------------------------------------
    @route("DELETE", "/api/v1/residents/<resident_id>",
           "Erase a resident's name, phone and address (PIPL); the need and every figure stay. "
           "Erasing again answers the same", "residents", roles=OFFICIALS, status=204, errors=(404,))
    def erase_resident(self, request, body, resident_id):
        caller = caller_of(request)
        resident = self.call("community", "get_resident", resident_id)
        # only who may see the data may erase it; to anyone else the resident does not exist
        if not caller.reveals_personal_data(resident["community"]):
            raise NotFound(f"no resident {resident_id}")
        erased = self.call("community", "erase_resident", resident_id)
        self.store.forget_resident(erased["need_id"], erased["erased_at"])
        log.info("resident.erase", resident_id=resident_id, need_id=erased["need_id"], key_id=caller.key_id)
        return 204, None

    def _resident(self, request, view):
        """The need's resident for this caller: unmasked only to keys of the need's region that
        may see personal data, masked to the rest; None when there is none (or it was erased)."""
        if not view.get("has_resident") or view.get("resident_erased_at"):
            return None
        caller = caller_of(request)
        reveal = caller.reveals_personal_data(view["community"])
        resident = self._resident_kept(view, reveal)
        if resident is None:  # a view made before its resident was stored: asked of the owner
            resident = self.call("community", "resident_of", view["_id"], reveal)
        if resident and reveal:
            # who read whose personal data: ids only, for the data-protection audit
            log.info("resident.revealed", resident_id=resident["id"], need_id=view["_id"], key_id=caller.key_id)
        return resident

    def _resident_kept(self, view, reveal):
        """The resident from the forms the read model keeps; None when it keeps none, or when
        they do not open with this gateway's keys (then the owner, whose keys sealed them, is asked)."""
        kept = self.store.forms(view["_id"])
        if not kept:
            return None
        try:
            return residents.shown_from_forms(kept, self.keyring, reveal)
        except residents.Unreadable as exc:
            log.error("resident.unreadable", resident_id=kept["id"], field=exc.field, key_id=exc.key_id)
            return None

    # statistics -------------------------------------------------------------------------------
    @route("GET", "/api/v1/stats", "The figures a station reports, for a region and everything under it",
           "stats", roles=EVERYONE, query=gs.StatsQuery, response=gs.Stats)
    def stats(self, request, body):
        region = query_args(request, gs.StatsQuery)["region"]
        if not caller_of(request).sees(region):  # figures of a region not the key's: as if it did not exist
            raise NotFound(f"no region {region}")
        replies = {s: getattr(self, s).stats.call_async(region) for s in ("orgs", "workers", "volunteers", "charity")}
        figures = {}
        timeout = self.settings["RPC_TIMEOUT"]
        with eventlet.Timeout(timeout, ServiceTimeout(f"statistics took longer than {timeout:g} s")):
            for reply in replies.values():
                figures.update(reply.result())
        needs = self.store.counts(region)
        # each party reports its own figures; people served count the needs resolved and the
        # volunteer services completed
        served = needs["by_status"].get("resolved", 0) + needs["by_status"].get("evaluated", 0)
        completed = figures.pop("volunteer_services_completed")
        return 200, {"region": region, "needs": needs, "person_times_served": served + completed, **figures}


def _known(service):
    if service not in dlq.SERVICES:
        raise HttpProblem(404, "Not found", f"no service {service}")
    return service


def _broker_ok(uri):
    try:
        with kombu.Connection(uri, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1)
        return True
    except Exception:
        return False


def _store_ok(db):
    try:
        db.command("ping")
        return True
    except Exception:
        return False

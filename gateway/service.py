"""The gateway (网关): the HTTP API integrators use (API.md), and the need read model."""
import hmac
import secrets

import eventlet
import kombu
import structlog
from nameko.extensions import DependencyProvider
from nameko.web.handlers import http
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.wrappers import Response

from gateway import keys, openapi, schemas as gs
from gateway.access import BOOTSTRAP, CALLER, Caller, Scope, caller_of, named, narrowed, record
from gateway.idempotency import Idempotency
from gateway.limits import RateLimiter
from gateway.readmodel import GatewayStore, public
from gateway.web import (ROUTES, UNAUTHORISED, HttpProblem, ServiceTimeout, bearer, json_response,
                         problem_response, query_args, route)
from services.charity import schemas as charity_api
from services.community import residents, schemas as community_api
from services.orgs import schemas as orgs_api
from services.volunteers import schemas as volunteers_api
from services.workers import schemas as workers_api
from wushe import asyncapi, dlq
from wushe.config import settings
from wushe.clock import now_iso
from wushe.errors import InvalidInput, NotFound, loaded
from wushe.events.catalog import SOURCES
from wushe.regions import under_filter, within
from wushe.store import Store, page
from wushe.subscribe import DUPLICATE, on_event
from wushe.rpc import RpcProxy
from wushe.telemetry import Telemetry

log = structlog.get_logger("wushe.gateway")
PARTIES = [s for s in SOURCES if s != "station"]
NOTHING = {"items": [], "next_cursor": None}

# where the records named in route paths live (their owner service is asked; see gateway.access)
CALL = record("call", "call_id", "volunteers", "get_call")
NEED = record("need", "need_id", "community", "get_need")
VOLUNTEER = record("volunteer", "volunteer_id", "volunteers", "get_volunteer")
FUND = record("fund", "fund_id", "charity", "get_donor", "region")
DONOR = record("donor", "donor_id", "charity", "get_donor", "region")
CASE = record("case", "case_id", "workers", "get_case")
ORGANISATION = record("organisation", "org_id", "orgs", "get_organisation")
WORKER = record("worker", "worker_id", "workers", "get_worker", "street")


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


class RateLimits(DependencyProvider):
    """One token bucket per key, kept for the life of the gateway process."""

    def setup(self):
        self.limiter = RateLimiter(settings(self.container)["RATE_LIMIT_PER_MINUTE"])

    def get_dependency(self, worker_ctx):
        return self.limiter


class GatewayService:
    name = "gateway"

    settings = Settings()
    limits = RateLimits()
    store = Store(GatewayStore)
    log = Telemetry()
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
            doc = self.store.keys.find(key_id) if key_id else None
            if not keys.matches(doc, secret):
                raise UNAUTHORISED
            caller = Caller(doc["_id"], doc["role"], doc["region"], doc.get("rate_per_minute"))
            self.store.keys.touch(doc, now_iso())
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
        # events about an organisation (milestones, graduation) name no need: no view for them
        need_ids = event.data["need_ids"] if event.type == "org_incubation_started" else [event.data.get("need_id")]
        applied = [self.store.apply(need_id, event) for need_id in filter(None, need_ids)]
        return DUPLICATE if applied and not any(applied) else None

    # operations -------------------------------------------------------------------------------
    @http("GET", "/healthz")
    def healthz(self, request):
        return json_response({"status": "ok"})

    @http("GET", "/readyz")
    def readyz(self, request):
        checks = {"broker": _broker_ok(self.settings["AMQP_URI"]), "store": _store_ok(self.store.needs.database)}
        status = 200 if all(checks.values()) else 503
        return json_response({"status": "ready" if status == 200 else "not_ready", "checks": checks}, status)

    @http("GET", "/metrics")
    def metrics(self, request):
        return Response(generate_latest(), content_type=CONTENT_TYPE_LATEST)

    @route("GET", "/api/v1/openapi.json", "This document", "meta")
    def openapi(self, request, body):
        return 200, openapi.document(ROUTES)

    @route("GET", "/api/v1/asyncapi.json", "The AsyncAPI 3 document of the events (the contract for station software)",
           "meta")
    def asyncapi(self, request, body):
        return 200, asyncapi.document()

    @http("GET,POST,PUT,PATCH,DELETE", "/<path:anything>")
    def not_found(self, request, anything):
        return problem_response(HttpProblem(404, "Not found", f"no route {request.method} /{anything}"))

    # dead letters (operators) -------------------------------------------------------------------
    @route("GET", "/api/v1/dead-letters", "Parked message counts by service", "operations",
           response=gs.DeadLetterCounts)
    def dead_letter_counts(self, request, body):
        counts = dlq.counts(self.settings["AMQP_URI"])
        return 200, {"items": [{"service": s, "parked": n} for s, n in counts.items()], "next_cursor": None}

    @route("GET", "/api/v1/dead-letters/<service>", "A service's parked messages with their errors",
           "operations", query=gs.DeadLettersQuery, errors=(404,), response=gs.ParkedMessages)
    def dead_letters(self, request, body, service):
        limit = query_args(request, gs.DeadLettersQuery)["limit"]
        # a parked report from station software may name its resident: operators see it masked
        return 200, {"items": [{**p.as_dict(), "body": residents.masked_report(p.body)}
                               for p in dlq.browse(self.settings["AMQP_URI"], _known(service), limit)],
                     "next_cursor": None}

    @route("POST", "/api/v1/dead-letters/<service>/replay",
           "Send parked messages (all, or `message_ids`) back to their queues", "operations",
           request=gs.ReplayIn, errors=(404,), response=gs.Replayed)
    def replay_dead_letters(self, request, body, service):
        ids = loaded(gs.ReplayIn, body)["message_ids"]
        return 200, {"replayed": dlq.replay(self.settings["AMQP_URI"], _known(service), ids)}

    # API keys (admin) ---------------------------------------------------------------------------
    @route("POST", "/api/v1/keys", "Make an API key for a role and a region; the key is shown once, stored hashed",
           "keys", request=gs.KeyIn, response=gs.KeyCreated, status=201, idempotent=False, scope=Scope(body="region"))
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
           query=gs.PageQuery, response=gs.KeyPage)
    def list_keys(self, request, body):
        args, caller = query_args(request, gs.PageQuery), caller_of(request)
        query = {"region": under_filter(caller.region)} if caller.region else {}
        docs, next_cursor = page(self.store.keys.keys, query, args["limit"], args["cursor"])
        return 200, {"items": [keys.public(d) for d in docs], "next_cursor": next_cursor}

    @route("DELETE", "/api/v1/keys/<key_id>", "Revoke a key: it stops working at once", "keys",
           status=204, errors=(404,))
    def revoke_key(self, request, body, key_id):
        doc = self.store.keys.find(key_id)
        if doc is None or not caller_of(request).sees(doc["region"]) or doc["revoked_at"]:
            raise NotFound(f"no key {key_id}")
        self.store.keys.revoke(key_id, now_iso())
        log.info("key.revoked", key_id=key_id, by=caller_of(request).key_id)
        return Response(status=204)

    # registries -------------------------------------------------------------------------------
    @route("POST", "/api/v1/regions", "Register a region (city, district, street or community)", "registries",
           request=community_api.RegionIn, response=community_api.RegionOut, status=201, errors=(409,),
           scope=Scope(body="path"))
    def add_region(self, request, body):
        return 201, self.call("community", "add_region", body)

    @route("GET", "/api/v1/regions", "Child regions of a region (cities without `parent`)", "registries",
           query=gs.RegionsQuery, response=gs.RegionPage)
    def list_regions(self, request, body):
        args, caller = query_args(request, gs.RegionsQuery), caller_of(request)
        # a key sees its own region, what lies under it, and the regions above it (to get there)
        items = [r for r in self.call("community", "list_regions", args["parent"])
                 if caller.sees(r["path"]) or within(caller.region, r["path"])]
        return 200, {"items": items, "next_cursor": None}

    @route("POST", "/api/v1/stations", "Register a social work station (社工站) serving one street", "registries",
           request=workers_api.StationIn, response=workers_api.StationOut, status=201, errors=(409,), id_prefix="station",
           scope=Scope(body="street"))
    def add_station(self, request, body):
        return 201, self.call("workers", "add_station", body)

    @route("GET", "/api/v1/stations/<station_id>", "A station", "registries",
           response=workers_api.StationOut, errors=(404,),
           scope=Scope(answer="street"))
    def get_station(self, request, body, station_id):
        return 200, self.call("workers", "get_station", station_id)

    @route("POST", "/api/v1/workers", "Register a social worker (社工)", "registries",
           request=workers_api.WorkerIn, response=workers_api.WorkerOut, status=201, errors=(409,), id_prefix="worker",
           scope=named("station_id", "station", "workers", "get_station", "street"))
    def add_worker(self, request, body):
        return 201, self.call("workers", "add_worker", body)

    @route("GET", "/api/v1/workers/<worker_id>", "A social worker", "registries",
           response=workers_api.WorkerOut, errors=(404,),
           scope=Scope(answer="street"))
    def get_worker(self, request, body, worker_id):
        return 200, self.call("workers", "get_worker", worker_id)

    @route("POST", "/api/v1/workers/<worker_id>/certification",
           "Record a passed certification (assistant, intermediate, senior); the level only goes up", "workers",
           request=workers_api.CertificationIn, response=workers_api.WorkerOut, errors=(404, 409),
           scope=WORKER)
    def certify(self, request, body, worker_id):
        return 200, self.call("workers", "certify", worker_id, body)

    @route("POST", "/api/v1/workers/<worker_id>/leave",
           "A worker leaves: open cases go to colleagues, or to the district queue", "workers",
           request=workers_api.LeaveIn, errors=(404, 409), response=gs.Departure,
           scope=WORKER)
    def leave(self, request, body, worker_id):
        return 200, self.call("workers", "leave", worker_id, body)

    # cases (个案) --------------------------------------------------------------------------------
    @route("GET", "/api/v1/cases/<case_id>", "A case with its stage", "workers",
           response=workers_api.CaseOut, errors=(404,),
           scope=Scope(answer="community"))
    def get_case(self, request, body, case_id):
        return 200, self.call("workers", "get_case", case_id)

    @route("POST", "/api/v1/cases/<case_id>/stage",
           "Move a case: identified → assessed → planned → in_service → evaluated → closed (reopen: in_service)",
           "workers", request=workers_api.StageIn, response=workers_api.CaseOut, errors=(404, 409),
           scope=CASE)
    def change_stage(self, request, body, case_id):
        return 200, self.call("workers", "change_stage", case_id, body)

    @route("POST", "/api/v1/cases/<case_id>/visits",
           "Record a household visit (入户走访) or a case, group or community activity", "workers",
           request=workers_api.ActivityIn, status=201, errors=(404,), response=gs.Activity,
           scope=CASE)
    def record_activity(self, request, body, case_id):
        return 201, self.call("workers", "record_activity", case_id, body)

    @route("POST", "/api/v1/organisations", "Register a community organisation (社会组织)", "registries",
           request=orgs_api.OrganisationIn, response=orgs_api.OrganisationOut, status=201, errors=(409,), id_prefix="org",
           scope=Scope(body="community"))
    def add_organisation(self, request, body):
        return 201, self.call("orgs", "add_organisation", body)

    @route("GET", "/api/v1/organisations", "Organisations, incubating ones included", "registries",
           query=gs.OrganisationsQuery, response=gs.OrganisationPage)
    def list_organisations(self, request, body):
        args = narrowed(request, query_args(request, gs.OrganisationsQuery), "community")
        return 200, self.call("orgs", "list_organisations", **args) if args else NOTHING

    @route("GET", "/api/v1/organisations/<org_id>",
           "An organisation: its micro-projects and room, or its incubation milestones", "organisations",
           response=orgs_api.OrganisationOut, errors=(404,),
           scope=Scope(answer="community"))
    def get_organisation(self, request, body, org_id):
        return 200, self.call("orgs", "get_organisation", org_id)

    @route("POST", "/api/v1/organisations/<org_id>/milestones",
           "An incubation milestone: founding_members (≥ 3), charter, training (a session), first_project "
           "(graduates the organisation)", "organisations",
           request=orgs_api.MilestoneIn, response=orgs_api.OrganisationOut, errors=(404, 409),
           scope=ORGANISATION)
    def record_milestone(self, request, body, org_id):
        return 200, self.call("orgs", "record_milestone", org_id, body)

    @route("POST", "/api/v1/organisations/<org_id>/projects", "Open a micro-project (小微项目) that takes needs",
           "organisations", request=orgs_api.ProjectIn, response=orgs_api.OrganisationOut, status=201,
           errors=(404, 409),
           scope=ORGANISATION)
    def open_project(self, request, body, org_id):
        return 201, self.call("orgs", "open_project", org_id, body)

    @route("POST", "/api/v1/organisations/<org_id>/projects/<project_id>/close",
           "Close a micro-project: it takes no new needs", "organisations",
           response=orgs_api.OrganisationOut, errors=(404, 409),
           scope=ORGANISATION)
    def close_project(self, request, body, org_id, project_id):
        return 200, self.call("orgs", "close_project", org_id, project_id)

    @route("POST", "/api/v1/volunteers", "Register a volunteer (志愿者)", "registries",
           request=volunteers_api.VolunteerIn, response=volunteers_api.VolunteerOut, status=201, errors=(409,),
           id_prefix="vol",
           scope=Scope(body="community"))
    def add_volunteer(self, request, body):
        return 201, self.call("volunteers", "add_volunteer", body)

    @route("GET", "/api/v1/volunteers/<volunteer_id>", "A volunteer with the time bank balance", "registries",
           response=volunteers_api.VolunteerOut, errors=(404,),
           scope=Scope(answer="community"))
    def get_volunteer(self, request, body, volunteer_id):
        return 200, self.call("volunteers", "get_volunteer", volunteer_id)

    # teams (志愿服务队) -----------------------------------------------------------------------------
    @route("POST", "/api/v1/teams", "Register a volunteer team (e.g. 针情裁缝, 助困陪诊)", "teams",
           request=volunteers_api.TeamIn, response=volunteers_api.TeamOut, status=201, errors=(409,), id_prefix="team",
           scope=Scope(body="community"))
    def add_team(self, request, body):
        return 201, self.call("volunteers", "add_team", body)

    @route("GET", "/api/v1/teams/<team_id>", "A team with its members", "teams",
           response=volunteers_api.TeamOut, errors=(404,),
           scope=Scope(answer="community"))
    def get_team(self, request, body, team_id):
        return 200, self.call("volunteers", "get_team", team_id)

    @route("POST", "/api/v1/teams/<team_id>/members", "A volunteer joins a team", "teams",
           request=volunteers_api.MembershipIn, response=volunteers_api.TeamOut, errors=(404,),
           scope=record("team", "team_id", "volunteers", "get_team") + named("volunteer_id", "volunteer", "volunteers", "get_volunteer"))
    def join_team(self, request, body, team_id):
        return 200, self.call("volunteers", "join_team", team_id, body)

    # the time bank (时间银行) ---------------------------------------------------------------------
    @route("GET", "/api/v1/volunteers/<volunteer_id>/ledger",
           "The volunteer's time-bank entries (credits, redemptions, transfers), newest first", "time bank",
           query=gs.PageQuery, errors=(404,), response=gs.TimeBankLedger,
           scope=VOLUNTEER)
    def ledger(self, request, body, volunteer_id):
        return 200, self.call("volunteers", "ledger", volunteer_id, query_args(request, gs.PageQuery)["limit"])

    @route("POST", "/api/v1/volunteers/<volunteer_id>/redemptions",
           "Spend hours on a service for oneself or a family member; never below zero", "time bank",
           request=volunteers_api.RedemptionIn, status=201, errors=(404, 409), id_prefix="txn", response=gs.Spent,
           scope=VOLUNTEER)
    def redeem(self, request, body, volunteer_id):
        return 201, self.call("volunteers", "redeem", volunteer_id, body)

    @route("POST", "/api/v1/volunteers/<volunteer_id>/transfers", "Give hours to another volunteer", "time bank",
           request=volunteers_api.TransferIn, status=201, errors=(404, 409), id_prefix="txn", response=gs.Spent,
           scope=VOLUNTEER + named("to_volunteer_id", "volunteer", "volunteers", "get_volunteer"))
    def transfer(self, request, body, volunteer_id):
        return 201, self.call("volunteers", "transfer", volunteer_id, body)

    @route("POST", "/api/v1/donors", "Register a donor", "registries",
           request=charity_api.DonorIn, response=charity_api.DonorOut, status=201, errors=(409,), id_prefix="donor",
           scope=Scope(body="region"))
    def add_donor(self, request, body):
        return 201, self.call("charity", "add_donor", body)

    @route("POST", "/api/v1/donations", "Record a donation; each line becomes a lot", "registries",
           request=charity_api.DonationIn, status=201, errors=(409,), id_prefix="donation", response=gs.Donation,
           scope=Scope(body="region") + named("donor_id", "donor", "charity", "get_donor", "region"))
    def donate(self, request, body):
        return 201, self.call("charity", "donate", body)

    @route("GET", "/api/v1/lots", "Lots with quantity, reserved, delivered, available", "registries",
           query=gs.LotsQuery, response=gs.LotPage)
    def list_lots(self, request, body):
        args = narrowed(request, query_args(request, gs.LotsQuery), "region")
        return 200, self.call("charity", "list_lots", **args) if args else NOTHING

    # community funds, appeals and receipts -------------------------------------------------------
    @route("POST", "/api/v1/funds/<fund_id>/contributions",
           "Pay money into a community fund (社区基金); pledged to open appeals at once", "community funds",
           request=charity_api.ContributionIn, response=charity_api.ContributionOut, status=201,
           errors=(404, 409), id_prefix="contribution",
           scope=FUND + named("donor_id", "donor", "charity", "get_donor", "region"))
    def contribute(self, request, body, fund_id):
        return 201, self.call("charity", "contribute", fund_id, body)

    @route("GET", "/api/v1/funds/<fund_id>/ledger",
           "A community fund's ledger entries (contributions, pledges, releases, deliveries), newest first, "
           "with its balance", "community funds", query=gs.FundLedgerQuery, errors=(404,), response=gs.FundLedger,
           scope=FUND)
    def fund_ledger(self, request, body, fund_id):
        return 200, self.call("charity", "fund_ledger", fund_id, **query_args(request, gs.FundLedgerQuery))

    @route("GET", "/api/v1/appeals",
           "Open appeals (needs whose resources are short), most urgent first, then oldest", "community funds",
           query=gs.AppealsQuery, response=gs.AppealPage)
    def list_appeals(self, request, body):
        args = narrowed(request, query_args(request, gs.AppealsQuery), "region")
        return 200, self.call("charity", "list_appeals", **args) if args else NOTHING

    @route("GET", "/api/v1/donors/<donor_id>/receipts",
           "Where a donor's donations went: each line's pledges to needs, reserved, delivered or released",
           "community funds", query=gs.ReceiptsQuery, errors=(404,), response=gs.Receipts,
           scope=DONOR)
    def receipts(self, request, body, donor_id):
        return 200, self.call("charity", "receipts", donor_id, **query_args(request, gs.ReceiptsQuery))

    # needs ------------------------------------------------------------------------------------
    @route("POST", "/api/v1/needs", "Register a resident's need; linkage goes on asynchronously", "needs",
           request=community_api.NeedIn, response=community_api.NeedAccepted, status=202, errors=(409,),
           id_prefix="need",
           scope=Scope(body="community"))
    def register_need(self, request, body):
        return 202, self.call("community", "register_need", body)

    @route("GET", "/api/v1/needs/<need_id>", "The need's aggregated linkage and timeline", "needs",
           response=gs.NeedView, errors=(404,),
           scope=Scope(answer="community"))
    def get_need(self, request, body, need_id):
        view = self.store.needs.find_one({"_id": need_id})
        if view is None or view.get("registered_at") is None:
            # just registered, its event not projected yet: ask the owner
            need = self.call("community", "get_need", need_id)
            view = {**need, "timeline": [], "applied": [], "has_resident": bool(need.get("resident_id"))}
        if not caller_of(request).sees(view.get("community")):  # before the resident is looked up
            raise NotFound(f"no need {need_id}")
        return 200, public(view, self._resident(request, view))

    @route("GET", "/api/v1/needs", "Needs, filtered; a region filter includes everything under it", "needs",
           query=gs.NeedsQuery, response=gs.NeedPage)
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

    @route("POST", "/api/v1/needs/<need_id>/cancel", "Cancel: case closed, call cancelled, pledges released",
           "needs", request=community_api.CancelIn, errors=(404, 409), response=community_api.NeedAccepted,
           scope=NEED)
    def cancel_need(self, request, body, need_id):
        return 200, self.call("community", "cancel_need", need_id, body)

    @route("POST", "/api/v1/needs/<need_id>/resolve", "Resolve a linked or escalated need", "needs",
           request=community_api.ResolveIn, errors=(404, 409), response=community_api.NeedAccepted,
           scope=NEED)
    def resolve_need(self, request, body, need_id):
        return 200, self.call("community", "resolve_need", need_id, body)

    @route("POST", "/api/v1/needs/<need_id>/evaluate", "Evaluate a resolved need (score 1–5)", "needs",
           request=community_api.EvaluateIn, errors=(404, 409), response=community_api.NeedAccepted,
           scope=NEED)
    def evaluate_need(self, request, body, need_id):
        return 200, self.call("community", "evaluate_need", need_id, body)

    # residents (personal data) ------------------------------------------------------------------
    @route("DELETE", "/api/v1/residents/<resident_id>",
           "Erase a resident's name, phone and address (PIPL); the need and every figure stay. "
           "Erasing again answers the same", "residents", status=204, errors=(404,))
    def erase_resident(self, request, body, resident_id):
        caller = caller_of(request)
        resident = self.call("community", "get_resident", resident_id)
        # only who may see the data may erase it; to anyone else the resident does not exist
        if not caller.reveals_personal_data(resident["community"]):
            raise NotFound(f"no resident {resident_id}")
        erased = self.call("community", "erase_resident", resident_id)
        log.info("resident.erase", resident_id=resident_id, need_id=erased["need_id"], key_id=caller.key_id)
        return 204, None

    def _resident(self, request, view):
        """The need's resident for this caller: unmasked only to keys of the need's region that
        may see personal data, masked to the rest; None when there is none (or it was erased)."""
        if not view.get("has_resident") or view.get("resident_erased_at"):
            return None
        caller = caller_of(request)
        reveal = caller.reveals_personal_data(view["community"])
        resident = self.call("community", "resident_of", view["_id"], reveal)
        if resident and reveal:
            # who read whose personal data: ids only, for the data-protection audit
            log.info("resident.revealed", resident_id=resident["id"], need_id=view["_id"], key_id=caller.key_id)
        return resident

    # calls (抢单) -------------------------------------------------------------------------------
    @route("GET", "/api/v1/calls", "Calls for volunteers near a community", "calls", query=gs.CallsQuery,
           response=gs.CallPage)
    def list_calls(self, request, body):
        args = narrowed(request, query_args(request, gs.CallsQuery), "community")
        return 200, self.call("volunteers", "list_calls", **args) if args else NOTHING

    @route("GET", "/api/v1/calls/<call_id>", "A call with its slots and claims", "calls",
           response=volunteers_api.CallOut, errors=(404,),
           scope=Scope(answer="community"))
    def get_call(self, request, body, call_id):
        return 200, self.call("volunteers", "get_call", call_id)

    @route("POST", "/api/v1/calls/<call_id>/claims", "Claim a slot (exactly `slots` claims succeed)", "calls",
           request=volunteers_api.ClaimIn, status=201, errors=(404, 409), response=gs.Claimed,
           scope=CALL)
    def claim(self, request, body, call_id):
        return 201, self.call("volunteers", "claim", call_id, body)

    @route("DELETE", "/api/v1/calls/<call_id>/claims/<volunteer_id>",
           "Withdraw a claim (or a place on the waiting list) before the service starts; the first "
           "volunteer waiting takes the slot", "calls", errors=(404, 409), response=gs.Withdrawn,
           scope=CALL)
    def withdraw(self, request, body, call_id, volunteer_id):
        return 200, self.call("volunteers", "withdraw", call_id, volunteer_id)

    @route("POST", "/api/v1/calls/<call_id>/offer", "Offer an open call to a team first", "calls",
           request=volunteers_api.OfferIn, response=volunteers_api.CallOut, errors=(404, 409),
           scope=CALL + named("team_id", "team", "volunteers", "get_team"))
    def offer_call(self, request, body, call_id):
        return 200, self.call("volunteers", "offer", call_id, body)

    @route("POST", "/api/v1/calls/<call_id>/checkin", "A claimant arrives for the service", "calls",
           request=volunteers_api.AttendanceIn, status=201, errors=(404, 409), response=gs.CheckedIn,
           scope=CALL)
    def check_in(self, request, body, call_id):
        return 201, self.call("volunteers", "check_in", call_id, body)

    @route("POST", "/api/v1/calls/<call_id>/checkout",
           "A claimant leaves: the time attended, to the quarter hour, is credited once", "calls",
           request=volunteers_api.AttendanceIn, errors=(404, 409), response=gs.CheckedOut,
           scope=CALL)
    def check_out(self, request, body, call_id):
        return 200, self.call("volunteers", "check_out", call_id, body)

    @route("POST", "/api/v1/calls/<call_id>/reopen", "Open an expired call again with a new deadline", "calls",
           request=volunteers_api.ReopenIn, response=volunteers_api.CallOut, errors=(404, 409),
           scope=CALL)
    def reopen_call(self, request, body, call_id):
        return 200, self.call("volunteers", "reopen", call_id, body)

    @route("POST", "/api/v1/calls/<call_id>/completions", "Record a service done; credits hours once", "calls",
           request=volunteers_api.CompletionIn, status=201, errors=(404, 409), response=gs.Completion,
           scope=CALL)
    def complete(self, request, body, call_id):
        return 201, self.call("volunteers", "complete", call_id, body)

    # pledges and statistics ---------------------------------------------------------------------
    @route("POST", "/api/v1/pledges/<pledge_id>/delivery",
           "Deliver a pledge in whole (no body) or in part (`quantity`): reserved becomes delivered", "pledges",
           request=charity_api.DeliveryIn, errors=(404, 409), response=gs.Delivery,
           scope=record("pledge", "pledge_id", "charity", "get_pledge"))
    def deliver(self, request, body, pledge_id):
        return 200, self.call("charity", "deliver_pledge", pledge_id, body)

    @route("GET", "/api/v1/stats", "The figures a station reports, for a region and everything under it",
           "stats", query=gs.StatsQuery, response=gs.Stats)
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
        served = needs["by_status"].get("resolved", 0) + needs["by_status"].get("evaluated", 0)
        return 200, {
            "region": region, "needs": needs,
            "person_times_served": served + figures["volunteer_services_completed"],
            "volunteer_hours": figures["volunteer_hours"],
            "resources_value_cents": figures["resources_value_cents"],
            "waiting_list": figures["waiting_list"], "volunteer_no_shows": figures["volunteer_no_shows"],
            "resources_delivered_value_cents": figures["resources_delivered_value_cents"],
            "appeals_open": figures["appeals_open"],
            "organisations": figures["organisations"], "cases_open": figures["cases_open"],
            "cases": figures["cases"], "visits": figures["visits"], "activities": figures["activities"],
            "stations": figures["stations"], "stations_compliant": figures["stations_compliant"],
        }


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

"""The routes that only forward to one service call, as one table: each row is the HTTP shape
(method, path, schemas, statuses), who may call it (roles), where its records live (scope) and
the call. `forwards` turns the rows into the gateway's handlers; the route decorator makes them
routes, the route × role table and the OpenAPI operations alike. The routes that do more than
forward (keys, the read model, residents, statistics, dead letters) are in `gateway.service`.

A forward's call gets the path parameters in path order, then the body when the route takes
one (`request`), then the query: as keyword arguments, narrowed to the caller's region on
`narrow` (a list outside it is empty), or only the fields `query_args` names, in that order;
and, when the called service owns the route's records (scope OWNER), the caller's region as
`within`.
"""
import re
from dataclasses import dataclass

from gateway import schemas as gs
from gateway.access import EVERYONE, OFFICIALS, OWNER, SUPERVISORS, Scope, caller_of, narrowed, named
from gateway.web import query_args, route
from services.charity import schemas as charity
from services.community import schemas as community
from services.orgs import schemas as orgs
from services.volunteers import schemas as volunteers
from services.workers import schemas as workers

NOTHING = {"items": [], "next_cursor": None}

# Records named in a route's path (or, beside one, in its body) that live in the service the
# route calls: that service refuses one outside the key's region itself (OWNER: the forwarder
# passes `within=`), as it refuses one that does not exist — no round trip to ask first.
CALL = TEAM = VOLUNTEER = OWNER              # the volunteers service's
NEED = OWNER                                 # the community service's
CASE = WORKER = OWNER                        # the workers service's
ORGANISATION = OWNER                         # the orgs service's
FUND = DONOR = PLEDGE = OWNER                # the charity service's
# Records named alone in a body: asked of their owner before the call (gateway.access.named).
STATION_NAMED = named("station_id", "station", "workers", "get_station", "street")
DONOR_NAMED = named("donor_id", "donor", "charity", "get_donor", "region")


@dataclass(frozen=True)
class Forward:
    name: str
    method: str
    path: str
    summary: str
    tag: str
    call: str                    # "service.method"
    roles: frozenset
    status: int = 200
    request: type | None = None
    response: type | None = None
    query: type | None = None
    errors: tuple = ()
    id_prefix: str | None = None
    scope: Scope | None = None
    narrow: str | None = None    # the query field that is a region filter
    query_args: tuple = ()       # only these query fields, positionally


def _in(*codes):
    return tuple(codes)


V1 = "/api/v1"
FORWARDS = [
    # registries -------------------------------------------------------------------------------
    Forward("add_region", "POST", f"{V1}/regions", "Register a region (city, district, street or community)",
            "registries", "community.add_region", SUPERVISORS, 201, community.RegionIn, community.RegionOut,
            errors=_in(409), scope=Scope(body="path")),
    Forward("add_station", "POST", f"{V1}/stations", "Register a social work station (社工站) serving one street",
            "registries", "workers.add_station", SUPERVISORS, 201, workers.StationIn, workers.StationOut,
            errors=_in(409), id_prefix="station", scope=Scope(body="street")),
    Forward("get_station", "GET", f"{V1}/stations/<station_id>", "A station", "registries", "workers.get_station",
            EVERYONE, response=workers.StationOut, errors=_in(404), scope=Scope(answer="street")),
    Forward("add_worker", "POST", f"{V1}/workers", "Register a social worker (社工)", "registries",
            "workers.add_worker", OFFICIALS, 201, workers.WorkerIn, workers.WorkerOut, errors=_in(409),
            id_prefix="worker", scope=STATION_NAMED),
    Forward("get_worker", "GET", f"{V1}/workers/<worker_id>", "A social worker", "registries", "workers.get_worker",
            EVERYONE, response=workers.WorkerOut, errors=_in(404), scope=Scope(answer="street")),
    Forward("certify", "POST", f"{V1}/workers/<worker_id>/certification",
            "Record a passed certification (assistant, intermediate, senior); the level only goes up", "workers",
            "workers.certify", OFFICIALS, request=workers.CertificationIn, response=workers.WorkerOut,
            errors=_in(404, 409), scope=WORKER),
    Forward("leave", "POST", f"{V1}/workers/<worker_id>/leave",
            "A worker leaves: open cases go to colleagues, or to the district queue", "workers", "workers.leave",
            OFFICIALS, request=workers.LeaveIn, response=workers.Departure, errors=_in(404, 409), scope=WORKER),
    # cases (个案) ------------------------------------------------------------------------------
    Forward("get_case", "GET", f"{V1}/cases/<case_id>", "A case with its stage", "workers", "workers.get_case",
            EVERYONE, response=workers.CaseOut, errors=_in(404), scope=Scope(answer="community")),
    Forward("change_stage", "POST", f"{V1}/cases/<case_id>/stage",
            "Move a case: identified → assessed → planned → in_service → evaluated → closed (reopen: in_service)",
            "workers", "workers.change_stage", OFFICIALS, request=workers.StageIn, response=workers.CaseOut,
            errors=_in(404, 409), scope=CASE),
    Forward("record_activity", "POST", f"{V1}/cases/<case_id>/visits",
            "Record a household visit (入户走访) or a case, group or community activity", "workers",
            "workers.record_activity", OFFICIALS, 201, workers.ActivityIn, workers.Activity, errors=_in(404),
            scope=CASE),
    # organisations (社会组织) ----------------------------------------------------------------------
    Forward("add_organisation", "POST", f"{V1}/organisations", "Register a community organisation (社会组织)",
            "registries", "orgs.add_organisation", OFFICIALS, 201, orgs.OrganisationIn, orgs.OrganisationOut,
            errors=_in(409), id_prefix="org", scope=Scope(body="community")),
    Forward("list_organisations", "GET", f"{V1}/organisations", "Organisations, incubating ones included",
            "registries", "orgs.list_organisations", EVERYONE, response=orgs.OrganisationPage,
            query=gs.OrganisationsQuery, narrow="community"),
    Forward("get_organisation", "GET", f"{V1}/organisations/<org_id>",
            "An organisation: its micro-projects and room, or its incubation milestones", "organisations",
            "orgs.get_organisation", EVERYONE, response=orgs.OrganisationOut, errors=_in(404),
            scope=Scope(answer="community")),
    Forward("record_milestone", "POST", f"{V1}/organisations/<org_id>/milestones",
            "An incubation milestone: founding_members (≥ 3), charter, training (a session), first_project "
            "(graduates the organisation)", "organisations", "orgs.record_milestone", OFFICIALS,
            request=orgs.MilestoneIn, response=orgs.OrganisationOut, errors=_in(404, 409), scope=ORGANISATION),
    Forward("open_project", "POST", f"{V1}/organisations/<org_id>/projects",
            "Open a micro-project (小微项目) that takes needs", "organisations", "orgs.open_project", OFFICIALS, 201,
            orgs.ProjectIn, orgs.OrganisationOut, errors=_in(404, 409), scope=ORGANISATION),
    Forward("close_project", "POST", f"{V1}/organisations/<org_id>/projects/<project_id>/close",
            "Close a micro-project: it takes no new needs", "organisations", "orgs.close_project", OFFICIALS,
            response=orgs.OrganisationOut, errors=_in(404, 409), scope=ORGANISATION),
    # volunteers (志愿者) and teams ---------------------------------------------------------------
    Forward("add_volunteer", "POST", f"{V1}/volunteers", "Register a volunteer (志愿者)", "registries",
            "volunteers.add_volunteer", EVERYONE, 201, volunteers.VolunteerIn, volunteers.VolunteerOut,
            errors=_in(409), id_prefix="vol", scope=Scope(body="community")),
    Forward("get_volunteer", "GET", f"{V1}/volunteers/<volunteer_id>", "A volunteer with the time bank balance",
            "registries", "volunteers.get_volunteer", EVERYONE, response=volunteers.VolunteerOut, errors=_in(404),
            scope=Scope(answer="community")),
    Forward("add_team", "POST", f"{V1}/teams", "Register a volunteer team (e.g. 针情裁缝, 助困陪诊)", "teams",
            "volunteers.add_team", OFFICIALS, 201, volunteers.TeamIn, volunteers.TeamOut, errors=_in(409),
            id_prefix="team", scope=Scope(body="community")),
    Forward("get_team", "GET", f"{V1}/teams/<team_id>", "A team with its members", "teams", "volunteers.get_team",
            EVERYONE, response=volunteers.TeamOut, errors=_in(404), scope=Scope(answer="community")),
    Forward("join_team", "POST", f"{V1}/teams/<team_id>/members", "A volunteer joins a team", "teams",
            "volunteers.join_team", EVERYONE, request=volunteers.MembershipIn, response=volunteers.TeamOut,
            errors=_in(404), scope=TEAM),
    # the time bank (时间银行) ----------------------------------------------------------------------
    Forward("ledger", "GET", f"{V1}/volunteers/<volunteer_id>/ledger",
            "The volunteer's time-bank entries (credits, redemptions, transfers), newest first", "time bank",
            "volunteers.ledger", EVERYONE, response=volunteers.TimeBankLedger, query=gs.PageQuery, errors=_in(404),
            scope=VOLUNTEER, query_args=("limit",)),
    Forward("redeem", "POST", f"{V1}/volunteers/<volunteer_id>/redemptions",
            "Spend hours on a service for oneself or a family member; never below zero", "time bank",
            "volunteers.redeem", EVERYONE, 201, volunteers.RedemptionIn, volunteers.Spent, errors=_in(404, 409),
            id_prefix="txn", scope=VOLUNTEER),
    Forward("transfer", "POST", f"{V1}/volunteers/<volunteer_id>/transfers", "Give hours to another volunteer",
            "time bank", "volunteers.transfer", EVERYONE, 201, volunteers.TransferIn, volunteers.Spent, errors=_in(404, 409),
            id_prefix="txn", scope=VOLUNTEER),
    # charitable resources (慈善资源) ---------------------------------------------------------------
    Forward("add_donor", "POST", f"{V1}/donors", "Register a donor", "registries", "charity.add_donor", EVERYONE,
            201, charity.DonorIn, charity.DonorOut, errors=_in(409), id_prefix="donor", scope=Scope(body="region")),
    Forward("donate", "POST", f"{V1}/donations", "Record a donation; each line becomes a lot", "registries",
            "charity.donate", EVERYONE, 201, charity.DonationIn, charity.Donation, errors=_in(409), id_prefix="donation",
            scope=Scope(body="region") + DONOR_NAMED),
    Forward("list_lots", "GET", f"{V1}/lots", "Lots with quantity, reserved, delivered, available", "registries",
            "charity.list_lots", EVERYONE, response=charity.LotPage, query=gs.LotsQuery, narrow="region"),
    Forward("contribute", "POST", f"{V1}/funds/<fund_id>/contributions",
            "Pay money into a community fund (社区基金); pledged to open appeals at once", "community funds",
            "charity.contribute", EVERYONE, 201, charity.ContributionIn, charity.ContributionOut,
            errors=_in(404, 409), id_prefix="contribution", scope=FUND),
    Forward("fund_ledger", "GET", f"{V1}/funds/<fund_id>/ledger",
            "A community fund's ledger entries (contributions, pledges, releases, deliveries), newest first, "
            "with its balance", "community funds", "charity.fund_ledger", EVERYONE, response=charity.FundLedger,
            query=gs.FundLedgerQuery, errors=_in(404), scope=FUND),
    Forward("list_appeals", "GET", f"{V1}/appeals",
            "Open appeals (needs whose resources are short), most urgent first, then oldest", "community funds",
            "charity.list_appeals", EVERYONE, response=charity.AppealPage, query=gs.AppealsQuery, narrow="region"),
    Forward("receipts", "GET", f"{V1}/donors/<donor_id>/receipts",
            "Where a donor's donations went: each line's pledges to needs, reserved, delivered or released",
            "community funds", "charity.receipts", EVERYONE, response=charity.Receipts, query=gs.ReceiptsQuery,
            errors=_in(404), scope=DONOR),
    Forward("deliver", "POST", f"{V1}/pledges/<pledge_id>/delivery",
            "Deliver a pledge in whole (no body) or in part (`quantity`): reserved becomes delivered", "pledges",
            "charity.deliver_pledge", OFFICIALS, request=charity.DeliveryIn, response=charity.Delivery,
            errors=_in(404, 409), scope=PLEDGE),
    # needs ------------------------------------------------------------------------------------
    Forward("register_need", "POST", f"{V1}/needs", "Register a resident's need; linkage goes on asynchronously",
            "needs", "community.register_need", EVERYONE, 202, community.NeedIn, community.NeedAccepted,
            errors=_in(409), id_prefix="need", scope=Scope(body="community")),
    Forward("cancel_need", "POST", f"{V1}/needs/<need_id>/cancel",
            "Cancel: case closed, call cancelled, pledges released", "needs", "community.cancel_need", OFFICIALS,
            request=community.CancelIn, response=community.NeedAccepted, errors=_in(404, 409), scope=NEED),
    Forward("resolve_need", "POST", f"{V1}/needs/<need_id>/resolve", "Resolve a linked or escalated need", "needs",
            "community.resolve_need", OFFICIALS, request=community.ResolveIn, response=community.NeedAccepted,
            errors=_in(404, 409), scope=NEED),
    Forward("evaluate_need", "POST", f"{V1}/needs/<need_id>/evaluate", "Evaluate a resolved need (score 1–5)",
            "needs", "community.evaluate_need", OFFICIALS, request=community.EvaluateIn,
            response=community.NeedAccepted, errors=_in(404, 409), scope=NEED),
    # calls (抢单) -------------------------------------------------------------------------------
    Forward("list_calls", "GET", f"{V1}/calls", "Calls for volunteers near a community", "calls",
            "volunteers.list_calls", EVERYONE, response=volunteers.CallPage, query=gs.CallsQuery, narrow="community"),
    Forward("get_call", "GET", f"{V1}/calls/<call_id>", "A call with its slots and claims", "calls",
            "volunteers.get_call", EVERYONE, response=volunteers.CallOut, errors=_in(404),
            scope=Scope(answer="community")),
    Forward("claim", "POST", f"{V1}/calls/<call_id>/claims", "Claim a slot (exactly `slots` claims succeed)",
            "calls", "volunteers.claim", EVERYONE, 201, volunteers.ClaimIn, volunteers.Claimed, errors=_in(404, 409),
            scope=CALL),
    Forward("withdraw", "DELETE", f"{V1}/calls/<call_id>/claims/<volunteer_id>",
            "Withdraw a claim (or a place on the waiting list) before the service starts; the first "
            "volunteer waiting takes the slot", "calls", "volunteers.withdraw", EVERYONE, response=volunteers.Withdrawn,
            errors=_in(404, 409), scope=CALL),
    Forward("offer_call", "POST", f"{V1}/calls/<call_id>/offer", "Offer an open call to a team first", "calls",
            "volunteers.offer", OFFICIALS, request=volunteers.OfferIn, response=volunteers.CallOut,
            errors=_in(404, 409), scope=CALL),
    Forward("check_in", "POST", f"{V1}/calls/<call_id>/checkin", "A claimant arrives for the service", "calls",
            "volunteers.check_in", EVERYONE, 201, volunteers.AttendanceIn, volunteers.CheckedIn, errors=_in(404, 409),
            scope=CALL),
    Forward("check_out", "POST", f"{V1}/calls/<call_id>/checkout",
            "A claimant leaves: the time attended, to the quarter hour, is credited once", "calls",
            "volunteers.check_out", EVERYONE, request=volunteers.AttendanceIn, response=volunteers.CheckedOut,
            errors=_in(404, 409), scope=CALL),
    Forward("reopen_call", "POST", f"{V1}/calls/<call_id>/reopen", "Open an expired call again with a new deadline",
            "calls", "volunteers.reopen", OFFICIALS, request=volunteers.ReopenIn, response=volunteers.CallOut,
            errors=_in(404, 409), scope=CALL),
    Forward("complete", "POST", f"{V1}/calls/<call_id>/completions", "Record a service done; credits hours once",
            "calls", "volunteers.complete", EVERYONE, 201, volunteers.CompletionIn, volunteers.Completion,
            errors=_in(404, 409), scope=CALL),
]


def forwards(cls):
    """Class decorator: a handler on `cls` for every row of FORWARDS (before nameko reads the
    class's entrypoints)."""
    for row in FORWARDS:
        handler = _forwarder(row)
        handler.__name__ = handler.__qualname__ = row.name
        setattr(cls, row.name, route(row.method, row.path, row.summary, row.tag, roles=row.roles,
                                     request=row.request, response=row.response, status=row.status,
                                     query=row.query, errors=row.errors, id_prefix=row.id_prefix,
                                     scope=row.scope)(handler))
    return cls


def _forwarder(row):
    service, method = row.call.split(".")

    order = re.findall(r"<(?:\w+:)?(\w+)>", row.path)  # path parameters, in path order

    def handler(gateway, request, body, **params):
        args = [params[name] for name in order]
        if row.request:
            args.append(body)
        kwargs = {}
        if row.query:
            given = query_args(request, row.query)
            if row.narrow:
                given = narrowed(request, given, row.narrow)
                if given is None:  # a region that is not the caller's: nothing of it is shown
                    return row.status, NOTHING
            if row.query_args:
                args += [given[name] for name in row.query_args]
            else:
                kwargs = given
        if row.scope and row.scope.owner:
            kwargs["within"] = caller_of(request).region
        return row.status, gateway.call(service, method, *args, **kwargs)
    return handler

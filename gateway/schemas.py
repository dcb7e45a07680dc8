"""The gateway's own schemas: query parameters, and the answers it makes itself (need views from
its read model, keys, statistics, dead letters). Request bodies and what a service's call
answers are that service's schemas (services/*/schemas.py), with the service that owns them.

Answers are documented as they are: a schema here lists every field an answer may carry (the
OpenAPI document then says `additionalProperties: false`), except an `Open` one, whose fields
depend on the case."""
from marshmallow import Schema, fields, validate

from services.community.schemas import RegionOut
from wushe.contract.events.catalog import MissingLine, PledgeLine
from wushe.contract.fields import page_of, record_id, region
from wushe.contract.vocabulary import CATEGORIES, ORG_STAGES, URGENCIES

NEED_STATUSES = ("registered", "linking", "linked", "escalated", "resolved", "evaluated", "cancelled")
CALL_STATES = ("open", "filled", "expired", "cancelled")


class PageQuery(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))
    cursor = fields.String(load_default=None, validate=validate.Length(max=200))


class NeedsQuery(PageQuery):
    status = fields.String(validate=validate.OneOf(NEED_STATUSES))
    community = region()
    category = fields.String(validate=validate.OneOf(CATEGORIES))
    urgency = fields.String(validate=validate.OneOf(URGENCIES))


class RegionsQuery(Schema):
    parent = region(load_default=None)


class OrganisationsQuery(PageQuery):
    community = region()
    stage = fields.String(validate=validate.OneOf(ORG_STAGES))


class CallsQuery(PageQuery):
    state = fields.String(validate=validate.OneOf(CALL_STATES))
    community = region()
    team = record_id()  # calls offered to this team


class LotsQuery(PageQuery):
    item = fields.String(validate=validate.Length(1, 64))
    region = region()


class StatsQuery(Schema):
    region = region(required=True)


class Part(Schema):
    state = fields.String()


class OrganisationPart(Part):
    organisation_id = fields.String()
    project_id = fields.String(allow_none=True)


class WorkerPart(Part):
    worker_id = fields.String()
    case_id = fields.String()
    reason = fields.String()
    case_stage = fields.String()  # as the case moves: assessed, planned, in_service…
    case_state = fields.String()  # closed, once it is


class VolunteersPart(Part):
    call_id = fields.String()
    slots = fields.Integer()
    claimed = fields.List(fields.String())
    expires_at = fields.String()


class ResourcesPart(Part):
    pledges = fields.List(fields.Nested(PledgeLine))
    shortfall = fields.List(fields.Nested(MissingLine))
    delivered = fields.List(fields.String())  # the pledges delivered in full


class Linkage(Schema):
    organisation = fields.Nested(OrganisationPart)
    worker = fields.Nested(WorkerPart)
    volunteers = fields.Nested(VolunteersPart)
    resources = fields.Nested(ResourcesPart)


class TimelineEntry(Schema):
    type = fields.String()
    source = fields.String()
    at = fields.String()
    reported_by = fields.String()  # on need_registered, for a need station software reported


class ResidentView(Schema):
    """Personal data: unmasked only for keys of the need's region that may see it."""
    id = fields.String()
    name = fields.String()
    phone = fields.String()
    address = fields.String()
    masked = fields.Boolean()
    unreadable = fields.Boolean()  # sealed under a key this deployment no longer has


class NeedView(Schema):
    id = fields.String()
    status = fields.String(validate=validate.OneOf(NEED_STATUSES))
    community = fields.String()
    category = fields.String()
    urgency = fields.String()
    registered_at = fields.String()
    linked_at = fields.String(allow_none=True)
    # the station software that reported it (`station`, `station/<station id>`); null through the API
    reported_by = fields.String(allow_none=True)
    linkage = fields.Nested(Linkage)
    timeline = fields.List(fields.Nested(TimelineEntry))
    cancelled_at = fields.String()
    resolved_at = fields.String()
    evaluated_at = fields.String()
    resident = fields.Nested(ResidentView)  # on GET /needs/{id} only, when the need has one
    resident_erased_at = fields.String()


class Problem(Schema):
    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    errors = fields.Dict()


class Stats(Schema):
    region = fields.String()
    needs = fields.Dict()
    person_times_served = fields.Integer()
    volunteer_hours = fields.Float()
    resources_value_cents = fields.Integer()
    waiting_list = fields.Dict()  # {calls, volunteers} waiting for a full call's slots
    volunteer_no_shows = fields.Integer()
    resources_delivered_value_cents = fields.Integer()
    appeals_open = fields.Integer()
    organisations = fields.Dict()
    cases_open = fields.Integer()
    cases = fields.Dict()
    visits = fields.Integer()
    activities = fields.Dict()
    stations = fields.Integer()
    stations_compliant = fields.Integer()


class ReplayIn(Schema):
    message_ids = fields.List(fields.String(validate=validate.Length(1, 200)), load_default=None,
                              validate=validate.Length(1, 10_000))


class DeadLettersQuery(Schema):
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 1000))


class FundLedgerQuery(PageQuery):
    pass


class AppealsQuery(PageQuery):
    region = region()


class ReceiptsQuery(PageQuery):
    pass


# --- answers ----------------------------------------------------------------------------------
RegionPage = page_of(RegionOut, "RegionPage")
NeedPage = page_of(NeedView, "NeedPage")


class DeadLetterCount(Schema):
    service = fields.String()
    parked = fields.Integer()


class ParkedMessage(Schema):
    id = fields.String()
    service = fields.String()
    queue = fields.String()
    reason = fields.String()
    error = fields.String()
    attempts = fields.Integer()
    parked_at = fields.String()
    routing_key = fields.String()
    body = fields.String()


DeadLetterCounts = page_of(DeadLetterCount, "DeadLetterCounts")
ParkedMessages = page_of(ParkedMessage, "ParkedMessages")


class Replayed(Schema):
    replayed = fields.Integer()


# API keys -----------------------------------------------------------------------------------------
class KeyIn(Schema):
    role = fields.String(required=True, validate=validate.OneOf(("admin", "city", "district", "station", "integrator")))
    region = region()  # absent: everywhere (only an admin key bound to no region may make such a key)
    name = fields.String(validate=validate.Length(1, 100))  # who holds it, e.g. "泰达街道社工站系统"
    rate_per_minute = fields.Integer(validate=validate.Range(1, 1_000_000))  # absent: the default


class KeyOut(Schema):
    id = fields.String()
    role = fields.String()
    region = fields.String()
    name = fields.String(allow_none=True)
    rate_per_minute = fields.Integer(allow_none=True)
    created_at = fields.String()
    created_by = fields.String()
    revoked_at = fields.String(allow_none=True)
    last_used_at = fields.String(allow_none=True)  # to the minute


class KeyCreated(KeyOut):
    key = fields.String()  # shown once; only its hash is kept


KeyPage = page_of(KeyOut, "KeyPage")

"""The gateway's own schemas: query parameters and the shapes it answers with. Request bodies
are the services' schemas (services/*/schemas.py), which validate them where the data lives."""
from marshmallow import Schema, fields, validate

from wushe.events.catalog import MissingLine, PledgeLine
from wushe.fields import record_id, region
from wushe.vocabulary import CATEGORIES, ORG_STAGES, URGENCIES

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


class VolunteersPart(Part):
    call_id = fields.String()
    slots = fields.Integer()
    claimed = fields.List(fields.String())
    expires_at = fields.String()


class ResourcesPart(Part):
    pledges = fields.List(fields.Nested(PledgeLine))
    shortfall = fields.List(fields.Nested(MissingLine))


class Linkage(Schema):
    organisation = fields.Nested(OrganisationPart)
    worker = fields.Nested(WorkerPart)
    volunteers = fields.Nested(VolunteersPart)
    resources = fields.Nested(ResourcesPart)


class TimelineEntry(Schema):
    type = fields.String()
    source = fields.String()
    at = fields.String()


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
    linkage = fields.Nested(Linkage)
    timeline = fields.List(fields.Nested(TimelineEntry))
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

"""The gateway's own schemas: query parameters and the shapes it answers with. Request bodies
are the services' schemas (services/*/schemas.py), which validate them where the data lives.

Answers are documented as they are: a schema here lists every field an answer may carry (the
OpenAPI document then says `additionalProperties: false`), except an `Open` one, whose fields
depend on the case."""
from marshmallow import INCLUDE, Schema, fields, validate

from services.charity.schemas import LotOut
from services.community.schemas import RegionOut
from services.orgs.schemas import OrganisationOut
from services.volunteers.schemas import CallOut
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
class Open(Schema):
    """An answer with these fields and, depending on the case, others."""

    class Meta:
        unknown = INCLUDE


def page_of(item, name):
    """`{"items": [item], "next_cursor": ...}`, every list's shape (API.md)."""
    return type(name, (Schema,), {"items": fields.List(fields.Nested(item)),
                                  "next_cursor": fields.String(allow_none=True)})


RegionPage = page_of(RegionOut, "RegionPage")
OrganisationPage = page_of(OrganisationOut, "OrganisationPage")
CallPage = page_of(CallOut, "CallPage")
NeedPage = page_of(NeedView, "NeedPage")
LotPage = page_of(LotOut, "LotPage")


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


class Reassignment(Schema):
    case_id = fields.String()
    need_id = fields.String()
    to = fields.String(allow_none=True)


class Departure(Schema):
    """A worker who left, and where their open cases went."""
    worker_id = fields.String()
    active = fields.Boolean()
    reassigned = fields.List(fields.Nested(Reassignment))
    queued = fields.List(fields.String())


class Activity(Schema):
    id = fields.String()
    case_id = fields.String()
    need_id = fields.String()
    station_id = fields.String()
    street = fields.String()
    community = fields.String()
    worker_id = fields.String(allow_none=True)  # a case orphaned by a worker who left
    kind = fields.String()
    participants = fields.Integer()
    at = fields.String()


class TimeBankEntry(Open):
    """Its other fields depend on the kind: call_id, service, beneficiary…"""
    txn_id = fields.String()
    kind = fields.String()
    hours = fields.Float()
    counterparty = fields.String()
    at = fields.String()


class TimeBankLedger(Schema):
    volunteer_id = fields.String()
    hours_balance = fields.Float()
    items = fields.List(fields.Nested(TimeBankEntry))
    next_cursor = fields.String(allow_none=True)


class Spent(Schema):
    """A redemption or a transfer of hours."""
    txn_id = fields.String()
    kind = fields.String()
    hours = fields.Float()
    hours_balance = fields.Float()


class Claimed(Schema):
    call_id = fields.String()
    volunteer_id = fields.String()
    slots = fields.Integer()
    call_version = fields.Integer()
    status = fields.String(validate=validate.OneOf(("claimed", "waiting")))
    position = fields.Integer()  # in the claims, or on the waiting list


class Withdrawn(Schema):
    call_id = fields.String()
    volunteer_id = fields.String()
    status = fields.String()
    # "from" is a Python keyword: declared under another attribute name
    from_ = fields.String(data_key="from", validate=validate.OneOf(("claims", "waiting_list")))
    promoted = fields.String(allow_none=True)  # who took the slot from the waiting list
    call = fields.Nested(CallOut)


class CheckedIn(Schema):
    call_id = fields.String()
    volunteer_id = fields.String()
    checked_in_at = fields.String()


class CheckedOut(Schema):
    call_id = fields.String()
    volunteer_id = fields.String()
    hours = fields.Float()
    checked_in_at = fields.String()
    checked_out_at = fields.String()
    hours_balance = fields.Float()


class Completion(Schema):
    call_id = fields.String()
    volunteer_id = fields.String()
    hours = fields.Float()
    hours_balance = fields.Float()


class Donation(Schema):
    id = fields.String()
    lots = fields.List(fields.Nested(LotOut))


class Delivery(Schema):
    pledge_id = fields.String()
    lot_id = fields.String()
    item = fields.String()
    quantity = fields.Float()
    unit = fields.String()
    value_cents = fields.Integer()
    state = fields.String()
    delivered = fields.Float()
    remaining = fields.Float()


class Leg(Schema):
    account = fields.String()
    cents = fields.Integer()


class FundLedgerEntry(Open):
    """Its other fields depend on the kind: donation_id, need_id, pledge_id…"""
    id = fields.String()
    kind = fields.String()
    fund_id = fields.String()
    lot_id = fields.String()
    at = fields.String()
    legs = fields.List(fields.Nested(Leg))


class FundLedger(Schema):
    fund_id = fields.String()
    balance_cents = fields.Integer()
    items = fields.List(fields.Nested(FundLedgerEntry))
    next_cursor = fields.String(allow_none=True)


class Appeal(Schema):
    need_id = fields.String()
    community = fields.String()
    urgency = fields.String(allow_none=True)
    created_at = fields.String(allow_none=True)
    opened_at = fields.String(allow_none=True)
    missing = fields.List(fields.Nested(MissingLine))
    pledged = fields.Integer()


AppealPage = page_of(Appeal, "AppealPage")


class ReceiptPledge(Schema):
    need_id = fields.String()
    pledge_id = fields.String()
    quantity = fields.Float()
    value_cents = fields.Integer()
    state = fields.String()
    delivered_quantity = fields.Float()
    delivered_value_cents = fields.Integer()


class ReceiptLine(Schema):
    lot_id = fields.String()
    item = fields.String()
    quantity = fields.Float()
    unit = fields.String()
    value_cents = fields.Integer()
    available = fields.Float()
    pledges = fields.List(fields.Nested(ReceiptPledge))


class Receipt(Schema):
    donation_id = fields.String()
    kind = fields.String()
    region = fields.String()
    created_at = fields.String()
    lines = fields.List(fields.Nested(ReceiptLine))
    value_cents = fields.Integer()
    pledged_value_cents = fields.Integer()
    delivered_value_cents = fields.Integer()
    fund_id = fields.String()  # a contribution to a community fund


class Receipts(Schema):
    donor_id = fields.String()
    items = fields.List(fields.Nested(Receipt))
    next_cursor = fields.String(allow_none=True)


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

"""Every v1 event of the catalog as a marshmallow schema: `CATALOG[(source, type)]`.

Readers are tolerant (unknown fields are dropped, so a producer may add fields within v1);
writers are strict (dispatch validates the data it is about to publish).
No schema here has a field for a resident's name, phone or address, except `need_reported`,
the one inbound event, which the community service keeps to its own store.

`INTERNAL` events pass between Wushe's own services only: published on `<source>.internal`,
never on `<source>.events` where station software binds, and not in the AsyncAPI document.
`resident_sealed` carries a resident's details sealed (and masked) to the gateway's read model.
"""
import re

from marshmallow import EXCLUDE, Schema, fields, validate, validates_schema, ValidationError

from wushe.contract.fields import FullMatch, Timestamp, region, record_id, strict
from wushe.contract.vocabulary import CATEGORIES, RESIDENT_FIELDS, SEALED, URGENCIES


class Tolerant(Schema):
    class Meta:
        unknown = EXCLUDE


# the largest amount and quantity one line may hold: sums of them stay exact and within the
# store's 8-byte integers (a larger number was a 500: the store cannot hold it)
MAX_CENTS = 10 ** 12          # ten thousand million yuan
MAX_QUANTITY = 10 ** 9


class ResourceLine(Tolerant):
    """A requested line: goods `{item, quantity, unit}` or money `{funds_cents}`."""
    item = fields.String(validate=validate.Length(1, 64))
    quantity = fields.Float(validate=validate.Range(min=0, max=MAX_QUANTITY, min_inclusive=False))
    unit = fields.String(validate=validate.Length(1, 16))
    funds_cents = fields.Integer(validate=validate.Range(min=1, max=MAX_CENTS))
    # goods_or_funds, for the OpenAPI document
    json_schema_rules = [{"oneOf": [
        {"required": ["item", "quantity", "unit"], "not": {"required": ["funds_cents"]}},
        {"required": ["funds_cents"],
         "not": {"anyOf": [{"required": ["item"]}, {"required": ["quantity"]}, {"required": ["unit"]}]}}]}]

    @validates_schema
    def goods_or_funds(self, data, **_):
        goods = {"item", "quantity", "unit"} & data.keys()
        if "funds_cents" in data and goods:
            raise ValidationError("give either item/quantity/unit or funds_cents, not both")
        if "funds_cents" not in data and goods != {"item", "quantity", "unit"}:
            raise ValidationError("a goods line needs item, quantity and unit; a money line needs funds_cents")


class VolunteerRequirement(Tolerant):
    count = fields.Integer(required=True, validate=validate.Range(1, 200))
    skills = fields.List(fields.String(validate=validate.Length(1, 64)), load_default=list)
    hours = fields.Float(load_default=1.0, validate=validate.Range(min=0, max=24 * 7))
    # the service window, when the need has one: a volunteer holds no two claims that overlap
    starts_at = Timestamp()
    ends_at = Timestamp()
    team_id = record_id()  # the call is offered to this team (e.g. 助困陪诊) first
    # window, for the OpenAPI document (as far as JSON Schema goes: both or neither)
    json_schema_rules = [{"anyOf": [{"required": ["starts_at", "ends_at"]},
                                    {"not": {"anyOf": [{"required": ["starts_at"]}, {"required": ["ends_at"]}]}}]}]

    @validates_schema
    def window(self, data, **_):
        if ("starts_at" in data) != ("ends_at" in data):
            raise ValidationError("give both starts_at and ends_at, or neither", "ends_at")
        if "starts_at" in data and data["ends_at"] <= data["starts_at"]:
            raise ValidationError("must be after starts_at", "ends_at")


class Requirements(Tolerant):
    worker = fields.Boolean(load_default=True)
    organisation = fields.Boolean(load_default=True)
    volunteers = fields.Nested(VolunteerRequirement, allow_none=True, load_default=None)
    resources = fields.List(fields.Nested(ResourceLine), allow_none=True, load_default=None,
                            validate=validate.Length(max=50))


class PledgeLine(Tolerant):
    pledge_id = fields.String(required=True)
    lot_id = fields.String(required=True)
    item = fields.String(required=True)
    quantity = fields.Float(required=True)
    unit = fields.String(required=True)
    value_cents = fields.Integer(load_default=0)


class MissingLine(Tolerant):
    item = fields.String(required=True)
    quantity = fields.Float(required=True)
    unit = fields.String(required=True)


class NeedEvent(Tolerant):
    need_id = fields.String(required=True)
    community = region("community", required=True)


# --- community -----------------------------------------------------------------------------
class NeedRegistered(NeedEvent):
    street = region("street", required=True)
    district = region("district", required=True)
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    urgency = fields.String(required=True, validate=validate.OneOf(URGENCIES))
    requirements = fields.Nested(Requirements, required=True)
    registered_at = fields.String(required=True)
    channel = fields.String(load_default="gateway")  # gateway | station (need_reported)
    # the station software that reported it (its envelope's `source`: `station` or
    # `station/<station id>`); None for a need registered through the gateway
    reported_by = fields.String(allow_none=True, load_default=None)
    # the community keeps a resident record for the need (asked for by id; never in an event)
    has_resident = fields.Boolean(load_default=False)


class NeedLinked(NeedEvent):
    linked_at = fields.String(required=True)


class NeedEscalated(NeedEvent):
    missing = fields.List(fields.String(), required=True)
    escalated_to = region("district", required=True)  # the district guidance centre


class NeedCancelled(NeedEvent):
    reason = fields.String(required=True, validate=validate.Length(max=500))


class NeedResolved(NeedEvent):
    resolved_at = fields.String(required=True)


class NeedEvaluated(NeedEvent):
    score = fields.Integer(required=True, validate=validate.Range(1, 5))
    outcome = fields.String(required=True, validate=validate.Length(max=64))


class NeedReportRefused(Tolerant):
    """A station's `need_reported` was not registered: the answer to the station that sent it
    (`reported_by`, its envelope's source), naming the report by its envelope id. `errors` is by
    field path (`requirements.volunteers.count`); the messages are the rules' (a region path
    or an id may appear in one), and `Resident`'s never state the value, so nothing of the
    resident's in the report is echoed."""
    report_id = fields.String(required=True, validate=validate.Length(1, 100))
    reported_by = fields.String(allow_none=True, load_default=None)  # None: the envelope's source was unreadable
    need_id = fields.String(allow_none=True, load_default=None)      # the report's own need id, if it gave one
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), required=True)


class ResidentErased(NeedEvent):
    """A resident's personal data was erased on request; the need and its figures stay."""
    resident_id = fields.String(required=True)


# --- orgs ------------------------------------------------------------------------------------
class OrgMatched(NeedEvent):
    organisation_id = fields.String(required=True)
    category = fields.String(required=True)
    project_id = fields.String(allow_none=True, load_default=None)  # the micro-project taking the need


class OrgUnmatched(NeedEvent):
    category = fields.String(required=True)
    demand = fields.Integer(required=True)  # unmatched needs of this category here, in the window
    # set when an incubation for this community and category is already under way
    organisation_id = fields.String(allow_none=True, load_default=None)


class OrgIncubationStarted(Tolerant):
    organisation_id = fields.String(required=True)
    community = region("community", required=True)
    category = fields.String(required=True)
    need_ids = fields.List(fields.String(), required=True)
    mentor_street = region("street", required=True)  # mentored by the street's station


class OrgMilestoneReached(Tolerant):
    """An incubating organisation reached a milestone (founding_members, charter, training,
    first_project). Never carries members' names."""
    organisation_id = fields.String(required=True)
    community = region("community", required=True)
    milestone = fields.String(required=True, validate=validate.OneOf(
        ("founding_members", "charter", "training", "first_project")))


class OrgGraduated(Tolerant):
    organisation_id = fields.String(required=True)
    community = region("community", required=True)
    categories = fields.List(fields.String(), required=True)


# --- workers ---------------------------------------------------------------------------------
class WorkerAssigned(NeedEvent):
    worker_id = fields.String(required=True)
    case_id = fields.String(required=True)
    station_id = fields.String(required=True)
    # set when the case moved from another worker (who left) or came off the district queue
    reassigned_from = fields.String(allow_none=True, load_default=None)
    from_queue = fields.Boolean(load_default=False)


class WorkerUnavailable(NeedEvent):
    station_id = fields.String(allow_none=True, load_default=None)
    reason = fields.String(required=True)  # no_station | no_worker_with_room | worker_left
    escalated_to = region("district", required=True)


CASE_STAGES = ("identified", "assessed", "planned", "in_service", "evaluated", "closed")


class CaseStageChanged(NeedEvent):
    """识别发现 → 组织实施 → 评估跟进: identified → assessed → planned → in_service → evaluated → closed."""
    case_id = fields.String(required=True)
    worker_id = fields.String(required=True)
    from_stage = fields.String(required=True, validate=validate.OneOf(CASE_STAGES))
    to_stage = fields.String(required=True, validate=validate.OneOf(CASE_STAGES))


class CaseClosed(NeedEvent):
    case_id = fields.String(required=True)
    worker_id = fields.String(required=True)
    reason = fields.String(required=True)  # need_cancelled | need_resolved


# --- volunteers ------------------------------------------------------------------------------
class CallEvent(NeedEvent):
    call_id = fields.String(required=True)


class ClaimsChanged(CallEvent):
    """An event that changes who holds the call's slots carries the whole list after the change
    and the call's version, so a reader receiving events out of order keeps the latest list."""
    claimed = fields.List(fields.String())   # absent in events from before versions were kept
    call_version = fields.Integer()


class CallOpened(CallEvent):
    slots = fields.Integer(required=True)
    skills = fields.List(fields.String(), required=True)
    hours = fields.Float(required=True)
    expires_at = fields.String(required=True)
    starts_at = fields.String()
    ends_at = fields.String()
    team_id = fields.String()
    team_until = fields.String()


class CallClaimed(ClaimsChanged):
    volunteer_id = fields.String(required=True)
    slots = fields.Integer(required=True)


class CallFilled(ClaimsChanged):
    volunteer_ids = fields.List(fields.String(), required=True)


class CallExpired(ClaimsChanged):
    volunteer_ids = fields.List(fields.String(), required=True)


class ClaimWithdrawn(ClaimsChanged):
    """A volunteer gave a slot back before the service started; `state` is the call's after it
    (`filled` again when someone from the waiting list took the slot)."""
    volunteer_id = fields.String(required=True)
    state = fields.String(required=True)


class WaitlistPromoted(ClaimsChanged):
    """The first volunteer of the waiting list took a slot that was freed."""
    volunteer_id = fields.String(required=True)


class WaitlistJoined(CallEvent):
    volunteer_id = fields.String(required=True)
    position = fields.Integer(required=True)
    call_version = fields.Integer(required=True)


class WaitlistLeft(CallEvent):
    volunteer_id = fields.String(required=True)
    call_version = fields.Integer(required=True)


class CallOffered(CallEvent):
    """The call is offered to a team first: until `team_until` only its members may claim."""
    team_id = fields.String(required=True)
    team_until = fields.String(required=True)


class VolunteerCheckedIn(CallEvent):
    volunteer_id = fields.String(required=True)


class VolunteerCheckedOut(CallEvent):
    volunteer_id = fields.String(required=True)
    hours = fields.Float(required=True)  # attended, as credited


class VolunteerNoShow(CallEvent):
    """A volunteer holding a claim had not checked in when the service was under way."""
    volunteer_id = fields.String(required=True)


class CallReopened(CallEvent):
    """An expired call opened again by a station, with a new deadline."""
    expires_at = fields.String(required=True)


class CallCancelled(CallEvent):
    reason = fields.String(required=True)


class HoursCredited(CallEvent):
    volunteer_id = fields.String(required=True)
    hours = fields.Float(required=True)


class HoursMoved(Tolerant):
    volunteer_id = fields.String(required=True)
    community = region("community", required=True)
    txn_id = fields.String(required=True)
    hours = fields.Float(required=True)


class HoursRedeemed(HoursMoved):
    """Hours spent on a service for the volunteer or a family member (an elder)."""
    beneficiary = fields.String(required=True, validate=validate.OneOf(("self", "family")))


class HoursTransferred(HoursMoved):
    to_volunteer_id = fields.String(required=True)


# --- charity ---------------------------------------------------------------------------------
class ResourcePledged(NeedEvent):
    pledges = fields.List(fields.Nested(PledgeLine), required=True)


class ResourceShortfall(NeedEvent):
    pledges = fields.List(fields.Nested(PledgeLine), required=True)  # what could be pledged
    shortfall = fields.List(fields.Nested(MissingLine), required=True)


class PledgeDelivered(NeedEvent):
    """One delivery of a pledge, in whole or in part."""
    pledge = fields.Nested(PledgeLine, required=True)
    quantity = fields.Float(load_default=None, allow_none=True)  # delivered now (absent: the whole pledge)
    remaining = fields.Float(load_default=0.0)                   # still to deliver after it


class PledgeReleased(NeedEvent):
    pledges = fields.List(fields.Nested(PledgeLine), required=True)


CONTRIBUTOR_KINDS = ("resident", "lottery_outlet", "enterprise", "foundation")


class FundContributed(Tolerant):
    """Money paid into a community fund (社区基金). The payer is named by kind only."""
    fund_id = fields.String(required=True)
    region = region(required=True)  # the fund's community or street
    contribution_id = fields.String(required=True)
    contributor_kind = fields.String(required=True, validate=validate.OneOf(CONTRIBUTOR_KINDS))
    funds_cents = fields.Integer(required=True, validate=validate.Range(min=1))


class ReceivedLot(Tolerant):
    lot_id = fields.String(required=True)
    item = fields.String(required=True)
    quantity = fields.Float(required=True)
    unit = fields.String(required=True)


class DonationReceived(Tolerant):
    """A donation (or a fund contribution) became lots; open appeals may now be pledged from them."""
    donation_id = fields.String(required=True)
    donor_id = fields.String(required=True)  # the lots' owner: the donor, or the fund contributed to
    region = region(required=True)
    lots = fields.List(fields.Nested(ReceivedLot), required=True)


# --- station software (inbound) ---------------------------------------------------------------
class Resident(Schema):
    """Personal data. Its errors state the rule, never the value (they reach logs and answers)."""
    name = fields.String(validate=validate.Length(1, 64, error="1 to 64 characters"))
    phone = fields.String(validate=FullMatch(r"^\+?[0-9 -]{5,20}$",
                                           error="5 to 20 digits, spaces or -, with an optional leading +"))
    address = fields.String(validate=validate.Length(1, 200, error="1 to 200 characters"))


class NeedReported(Schema):
    """The same fields as POST /needs; strict at every level, since it comes from outside."""
    id = record_id()
    community = region("community", required=True)
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    urgency = fields.String(required=True, validate=validate.OneOf(URGENCIES))
    description = fields.String(required=True, validate=validate.Length(1, 2000))
    resident = fields.Nested(Resident, load_default=None, allow_none=True)
    requirements = fields.Nested(strict(Requirements), load_default=lambda: Requirements().load({}))


CATALOG = {
    ("community", "need_registered"): NeedRegistered,
    ("community", "need_linked"): NeedLinked,
    ("community", "need_escalated"): NeedEscalated,
    ("community", "need_cancelled"): NeedCancelled,
    ("community", "need_resolved"): NeedResolved,
    ("community", "need_evaluated"): NeedEvaluated,
    ("community", "resident_erased"): ResidentErased,
    ("community", "need_report_refused"): NeedReportRefused,
    ("orgs", "org_matched"): OrgMatched,
    ("orgs", "org_unmatched"): OrgUnmatched,
    ("orgs", "org_incubation_started"): OrgIncubationStarted,
    ("orgs", "org_milestone_reached"): OrgMilestoneReached,
    ("orgs", "org_graduated"): OrgGraduated,
    ("workers", "worker_assigned"): WorkerAssigned,
    ("workers", "worker_unavailable"): WorkerUnavailable,
    ("workers", "case_stage_changed"): CaseStageChanged,
    ("workers", "case_closed"): CaseClosed,
    ("volunteers", "call_opened"): CallOpened,
    ("volunteers", "call_claimed"): CallClaimed,
    ("volunteers", "call_filled"): CallFilled,
    ("volunteers", "call_expired"): CallExpired,
    ("volunteers", "call_reopened"): CallReopened,
    ("volunteers", "call_cancelled"): CallCancelled,
    ("volunteers", "call_offered"): CallOffered,
    ("volunteers", "claim_withdrawn"): ClaimWithdrawn,
    ("volunteers", "waitlist_joined"): WaitlistJoined,
    ("volunteers", "waitlist_left"): WaitlistLeft,
    ("volunteers", "waitlist_promoted"): WaitlistPromoted,
    ("volunteers", "volunteer_checked_in"): VolunteerCheckedIn,
    ("volunteers", "volunteer_checked_out"): VolunteerCheckedOut,
    ("volunteers", "volunteer_no_show"): VolunteerNoShow,
    ("volunteers", "hours_credited"): HoursCredited,
    ("volunteers", "hours_redeemed"): HoursRedeemed,
    ("volunteers", "hours_transferred"): HoursTransferred,
    ("charity", "resource_pledged"): ResourcePledged,
    ("charity", "resource_shortfall"): ResourceShortfall,
    ("charity", "pledge_delivered"): PledgeDelivered,
    ("charity", "pledge_released"): PledgeReleased,
    ("station", "need_reported"): NeedReported,
    ("charity", "fund_contributed"): FundContributed,
    ("charity", "donation_received"): DonationReceived,
}


# --- internal -----------------------------------------------------------------------------------
class ResidentForms(Tolerant):
    """What a read model keeps of a resident (`wushe.contract.residents.forms`): the fields still
    sealed, which open only with the residents' keys, and their masked forms; never the plaintext."""
    id = fields.String(required=True)
    sealed = fields.Dict(keys=fields.String(validate=validate.OneOf(RESIDENT_FIELDS)),
                         values=fields.String(validate=validate.Regexp(f"^{SEALED}:")), required=True)
    masked = fields.Dict(keys=fields.String(validate=validate.OneOf(RESIDENT_FIELDS)), values=fields.String(),
                         required=True)


class ResidentSealed(NeedEvent):
    """A registered need's resident, sealed apart by the community: for the gateway's read
    model, so that no read of the need asks the community for them."""
    resident = fields.Nested(ResidentForms, required=True)


INTERNAL = {
    ("community", "resident_sealed"): ResidentSealed,
}
SOURCES = ("community", "orgs", "workers", "volunteers", "charity", "station")
# what station software puts in an envelope's `source` (CloudEvents: it names the producer):
# `station`, or `station/<station id>` so that a district with forty hotlines knows which one
# reported (`station/hotline-236`); the catalog knows it as the source `station`
STATION = "station"
STATION_SOURCE = r"^station(/[A-Za-z0-9_.:-]{1,64})?$"  # as JSON Schema (ECMA-262) reads it


def whole(pattern):
    """A JSON Schema pattern as Python must read it to mean the same: Python's `$` also matches
    before a final newline, ECMA-262's does not."""
    return re.compile(pattern.replace("$", r"\Z"))


def producer(source):
    """The catalog's source for an envelope's: `station/<id>` is `station`."""
    return STATION if source.startswith(STATION + "/") else source

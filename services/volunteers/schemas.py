"""RPC input and output of the volunteers service."""
from marshmallow import Schema, fields, validate

from wushe.contract.fields import Open, page_of, record_id, region

class VolunteerIn(Schema):
    id = record_id()
    name = fields.String(required=True, validate=validate.Length(1, 64))
    community = region("community", required=True)
    skills = fields.List(fields.String(validate=validate.Length(1, 64)), load_default=list,
                         validate=validate.Length(max=30))


class Booking(Schema):
    call_id = fields.String()
    starts_at = fields.String()
    ends_at = fields.String()


class VolunteerOut(Schema):
    id = fields.String()
    name = fields.String()
    community = fields.String()
    skills = fields.List(fields.String())
    hours_balance = fields.Float()
    teams = fields.List(fields.String())
    bookings = fields.List(fields.Nested(Booking))  # the service windows the volunteer has claimed
    created_at = fields.String()


class ReopenIn(Schema):
    expires_at = fields.DateTime(format="iso", required=True)


class ClaimIn(Schema):
    volunteer_id = record_id(required=True)
    wait = fields.Boolean(load_default=False)  # join the waiting list when the call is full


class AttendanceIn(Schema):
    volunteer_id = record_id(required=True)


class OfferIn(Schema):
    team_id = record_id(required=True)
    hours = fields.Float(validate=validate.Range(min=0, max=24 * 7, min_inclusive=False))  # default: the rule


class TeamIn(Schema):
    id = record_id()
    name = fields.String(required=True, validate=validate.Length(1, 64))
    community = region(required=True)  # a community's team, or a street's
    skills = fields.List(fields.String(validate=validate.Length(1, 64)), load_default=list,
                         validate=validate.Length(max=30))


class TeamOut(Schema):
    id = fields.String()
    name = fields.String()
    community = fields.String()
    skills = fields.List(fields.String())
    members = fields.List(fields.String())
    created_at = fields.String()


class MembershipIn(Schema):
    volunteer_id = record_id(required=True)


class Attendance(Schema):
    volunteer_id = fields.String()
    checked_in_at = fields.String()
    checked_out_at = fields.String(allow_none=True)
    hours = fields.Float(allow_none=True)


class CompletionIn(Schema):
    volunteer_id = record_id(required=True)
    hours = fields.Float(required=True, validate=validate.Range(min=0, max=24, min_inclusive=False))


class CallOut(Schema):
    id = fields.String()
    need_id = fields.String()
    community = fields.String()
    category = fields.String()
    urgency = fields.String()
    skills = fields.List(fields.String())
    hours = fields.Float()
    slots = fields.Integer()
    claimed = fields.List(fields.String())
    waiting = fields.List(fields.String())  # the waiting list, first in line first
    state = fields.String()
    opened_at = fields.String()
    expires_at = fields.String()
    starts_at = fields.String()
    ends_at = fields.String()
    team_id = fields.String()
    team_until = fields.String()
    attendance = fields.List(fields.Nested(Attendance))
    no_shows = fields.List(fields.String())
    version = fields.Integer()


HOURS = validate.Range(min=0, max=1000, min_inclusive=False)


class RedemptionIn(Schema):
    """Spend hours on a service for oneself or a family member (an elder)."""
    id = record_id()
    hours = fields.Float(required=True, validate=HOURS)
    service = fields.String(required=True, validate=validate.Length(1, 100))
    beneficiary = fields.String(load_default="self", validate=validate.OneOf(("self", "family")))


class TransferIn(Schema):
    id = record_id()
    to_volunteer_id = record_id(required=True)
    hours = fields.Float(required=True, validate=HOURS)


class LedgerEntry(Schema):
    txn_id = fields.String()
    kind = fields.String()
    hours = fields.Float()
    counterparty = fields.String()
    at = fields.String()
    call_id = fields.String()
    service = fields.String()
    beneficiary = fields.String()


# --- answers (the gateway documents its API with these) ---------------------------------------
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


CallPage = page_of(CallOut, "CallPage")

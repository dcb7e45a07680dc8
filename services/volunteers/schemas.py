"""RPC input and output of the volunteers service."""
from marshmallow import Schema, fields, validate

from wushe.fields import record_id, region

class VolunteerIn(Schema):
    id = record_id()
    name = fields.String(required=True, validate=validate.Length(1, 64))
    community = region("community", required=True)
    skills = fields.List(fields.String(validate=validate.Length(1, 64)), load_default=list,
                         validate=validate.Length(max=30))


class VolunteerOut(Schema):
    id = fields.String()
    name = fields.String()
    community = fields.String()
    skills = fields.List(fields.String())
    hours_balance = fields.Float()
    created_at = fields.String()


class ReopenIn(Schema):
    expires_at = fields.DateTime(format="iso", required=True)


class ClaimIn(Schema):
    volunteer_id = record_id(required=True)


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
    state = fields.String()
    opened_at = fields.String()
    expires_at = fields.String()


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

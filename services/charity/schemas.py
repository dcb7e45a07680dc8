"""RPC input and output of the charity service."""
from marshmallow import Schema, fields, validate, validates_schema, ValidationError

from wushe.contract.events.catalog import CONTRIBUTOR_KINDS, MAX_CENTS, MAX_QUANTITY, MissingLine, ResourceLine
from wushe.contract.fields import Open, page_of, record_id, region
from wushe.contract.regions import is_valid, level_of, pattern
from wushe.contract.vocabulary import DONOR_KINDS


class DonorIn(Schema):
    id = record_id()
    name = fields.String(required=True, validate=validate.Length(1, 100))
    kind = fields.String(required=True, validate=validate.OneOf(DONOR_KINDS))
    region = region(required=True)
    # fund_region, for the OpenAPI document
    json_schema_rules = [{"anyOf": [{"properties": {"kind": {"not": {"enum": ["community_fund"]}}}},
                                    {"properties": {"region": {"anyOf": [{"pattern": pattern("street")},
                                                                         {"pattern": pattern("community")}]}}}]}]

    @validates_schema
    def fund_region(self, data, **_):
        if data.get("kind") == "community_fund" and is_valid(data.get("region", "")) \
                and level_of(data["region"]) not in ("street", "community"):
            raise ValidationError("a community fund (社区基金) pools money of a community or a street", "region")


class DonorOut(Schema):
    id = fields.String()
    name = fields.String()
    kind = fields.String()
    region = fields.String()


class DonationLine(ResourceLine):
    value_cents = fields.Integer(validate=validate.Range(min=0, max=MAX_CENTS))  # declared value of the whole line
    best_before = fields.Date()  # goods past it are never pledged

    class Meta:
        unknown = "raise"


class DonationIn(Schema):
    id = record_id()  # a retry with the same id (or Idempotency-Key) records the donation once
    donor_id = record_id(required=True)
    region = region(required=True)
    lines = fields.List(fields.Nested(DonationLine), required=True, validate=validate.Length(1, 50))

    @validates_schema
    def lines_given(self, data, **_):
        if not data.get("lines"):
            raise ValidationError("at least one line", "lines")


class DeliveryIn(Schema):
    quantity = fields.Float(validate=validate.Range(min=0, max=MAX_QUANTITY, min_inclusive=False))  # absent: all that is left


class LotOut(Schema):
    id = fields.String()
    donor_id = fields.String()
    donation_id = fields.String()
    item = fields.String()
    unit = fields.String()
    region = fields.String()
    quantity = fields.Float()
    reserved = fields.Float()
    delivered = fields.Float()
    available = fields.Float()
    unit_value_cents = fields.Float()
    best_before = fields.String(allow_none=True)
    created_at = fields.String()


class ContributionIn(Schema):
    """Money paid into a community fund. The payer is named by kind only (no personal data);
    `donor_id` links it to a registered donor, whose receipts then show where it went."""
    id = record_id()
    contributor_kind = fields.String(required=True, validate=validate.OneOf(CONTRIBUTOR_KINDS))
    donor_id = record_id(load_default=None, allow_none=True)
    funds_cents = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_CENTS))


class ContributionOut(Schema):
    id = fields.String()
    fund_id = fields.String()
    contributor_kind = fields.String()
    donor_id = fields.String(allow_none=True)
    funds_cents = fields.Integer()
    lot_id = fields.String()
    created_at = fields.String()
    balance_cents = fields.Integer()  # the fund's money not pledged, after this contribution


# --- answers (the gateway documents its API with these) ---------------------------------------
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


LotPage = page_of(LotOut, "LotPage")
AppealPage = page_of(Appeal, "AppealPage")

"""RPC input and output of the charity service."""
from marshmallow import Schema, fields, validate, validates_schema, ValidationError

from wushe.events.catalog import CONTRIBUTOR_KINDS, ResourceLine
from wushe.fields import record_id, region
from wushe.regions import is_valid, level_of
from wushe.vocabulary import DONOR_KINDS


class DonorIn(Schema):
    id = record_id()
    name = fields.String(required=True, validate=validate.Length(1, 100))
    kind = fields.String(required=True, validate=validate.OneOf(DONOR_KINDS))
    region = region(required=True)

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
    value_cents = fields.Integer(validate=validate.Range(min=0))  # declared value of the whole line
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
    quantity = fields.Float(validate=validate.Range(min=0, min_inclusive=False))  # absent: all that is left


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
    funds_cents = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))


class ContributionOut(Schema):
    id = fields.String()
    fund_id = fields.String()
    contributor_kind = fields.String()
    donor_id = fields.String(allow_none=True)
    funds_cents = fields.Integer()
    lot_id = fields.String()
    created_at = fields.String()
    balance_cents = fields.Integer()  # the fund's money not pledged, after this contribution

"""RPC input and output of the charity service."""
from marshmallow import Schema, fields, validate, validates_schema, ValidationError

from wushe.events.catalog import ResourceLine
from wushe.fields import record_id, region
from wushe.vocabulary import DONOR_KINDS

class DonorIn(Schema):
    id = record_id()
    name = fields.String(required=True, validate=validate.Length(1, 100))
    kind = fields.String(required=True, validate=validate.OneOf(DONOR_KINDS))
    region = region(required=True)


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

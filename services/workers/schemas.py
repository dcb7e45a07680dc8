"""RPC input and output of the workers service."""
from marshmallow import Schema, fields, validate

from wushe.fields import record_id, region
from wushe.vocabulary import CATEGORIES, CERTIFICATIONS

class StationIn(Schema):
    id = record_id()
    name = fields.String(required=True, validate=validate.Length(1, 100))
    street = region("street", required=True)


class StationOut(Schema):
    id = fields.String()
    name = fields.String()
    street = fields.String()
    workers = fields.Integer()
    certified = fields.Integer()


class WorkerIn(Schema):
    id = record_id()
    name = fields.String(required=True, validate=validate.Length(1, 64))
    station_id = fields.String(required=True)
    certification = fields.String(required=True, validate=validate.OneOf(CERTIFICATIONS))
    specialties = fields.List(fields.String(validate=validate.OneOf(CATEGORIES)), load_default=list)
    max_caseload = fields.Integer(validate=validate.Range(1, 100))


class WorkerOut(Schema):
    id = fields.String()
    name = fields.String()
    station_id = fields.String()
    street = fields.String()
    certification = fields.String()
    specialties = fields.List(fields.String())
    max_caseload = fields.Integer()
    caseload = fields.Integer()
    active = fields.Boolean()

"""RPC input and output of the orgs service."""
from marshmallow import Schema, fields, validate

from wushe.fields import record_id, region
from wushe.vocabulary import CATEGORIES, ORG_STAGES


class OrganisationIn(Schema):
    id = record_id()
    name = fields.String(required=True, validate=validate.Length(1, 100))
    community = region("community", required=True)
    categories = fields.List(fields.String(validate=validate.OneOf(CATEGORIES)), required=True,
                             validate=validate.Length(1, len(CATEGORIES)))
    stage = fields.String(load_default="active", validate=validate.OneOf(ORG_STAGES))


class OrganisationOut(Schema):
    id = fields.String()
    name = fields.String()
    community = fields.String()
    categories = fields.List(fields.String())
    stage = fields.String()
    created_at = fields.String()
    incubation = fields.Dict(allow_none=True)

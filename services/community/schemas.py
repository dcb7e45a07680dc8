"""RPC input and output of the community service (the gateway documents its API with these)."""
from marshmallow import Schema, fields, validate, validates_schema, ValidationError

from wushe.contract.events.catalog import NeedReported
from wushe.contract.fields import region
from wushe.contract.regions import LEVELS, depth, pattern


class NeedIn(NeedReported):
    """POST /needs: a need as an integrator or a hotline registers it."""


class RegionIn(Schema):
    path = region(required=True)
    name = fields.String(required=True, validate=validate.Length(1, 100))
    level = fields.String(required=True, validate=validate.OneOf(LEVELS))
    # level_matches_path, for the OpenAPI document
    json_schema_rules = [{"oneOf": [{"properties": {"level": {"enum": [level]}, "path": {"pattern": pattern(level)}}}
                                    for level in LEVELS]}]

    @validates_schema
    def level_matches_path(self, data, **_):
        if "path" in data and "level" in data and LEVELS[depth(data["path"]) - 1] != data["level"]:
            raise ValidationError(f"a {data['level']} path has {LEVELS.index(data['level']) + 1} segments", "path")


class RegionOut(Schema):
    id = fields.String()
    path = fields.String()
    name = fields.String()
    level = fields.String()
    parent = fields.String(allow_none=True)


class CancelIn(Schema):
    reason = fields.String(required=True, validate=validate.Length(1, 500))


class ResolveIn(Schema):
    note = fields.String(load_default="", validate=validate.Length(max=2000))


class EvaluateIn(Schema):
    score = fields.Integer(required=True, validate=validate.Range(1, 5))
    outcome = fields.String(required=True, validate=validate.Length(1, 64))


class NeedAccepted(Schema):
    id = fields.String()
    status = fields.String()

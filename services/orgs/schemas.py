"""RPC input and output of the orgs service."""
from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from services.orgs.domain import DEFAULT_PROJECT_CAPACITY, MILESTONES
from wushe.contract.fields import page_of, record_id, region
from wushe.contract.vocabulary import CATEGORIES, ORG_STAGES

PROJECT_CAPACITY = validate.Range(1, 500)


class OrganisationIn(Schema):
    id = record_id()
    name = fields.String(required=True, validate=validate.Length(1, 100))
    community = region("community", required=True)
    categories = fields.List(fields.String(validate=validate.OneOf(CATEGORIES)), required=True,
                             validate=validate.Length(1, len(CATEGORIES)))
    stage = fields.String(load_default="active", validate=validate.OneOf(ORG_STAGES))
    # the room of an active organisation's standing micro-project (日常服务)
    capacity = fields.Integer(validate=PROJECT_CAPACITY,
                              metadata={"description": f"default {DEFAULT_PROJECT_CAPACITY}; "
                                                       "active organisations only"})

    # capacity_only_when_active, for the OpenAPI document
    json_schema_rules = [{"anyOf": [{"properties": {"stage": {"not": {"enum": ["incubating"]}}}},
                                    {"not": {"required": ["capacity"]}}]}]

    @validates_schema
    def capacity_only_when_active(self, data, **_):
        if data.get("stage") == "incubating" and "capacity" in data:
            raise ValidationError("an incubating organisation runs no micro-projects yet", "capacity")


_NAME = validate.Regexp(r"^\s*\S", error="a name must not be blank")
FIELDS_OF = {  # the fields each milestone takes (all required)
    "founding_members": ("members",),
    "charter": ("title",),
    "training": ("topic", "hours"),
    "first_project": ("title",),
}


class MilestoneIn(Schema):
    """One incubation milestone: `founding_members` (members: ≥ 3 names), `charter` (title),
    `training` (topic, hours: one session logged per call), `first_project` (title: the
    micro-project delivered). Members' names stay in the organisation's record."""
    milestone = fields.String(required=True, validate=validate.OneOf(MILESTONES))
    members = fields.List(fields.String(validate=[validate.Length(1, 64), _NAME]),
                          validate=validate.Length(3, 100))
    title = fields.String(validate=validate.Length(1, 100))
    topic = fields.String(validate=validate.Length(1, 200))
    hours = fields.Float(validate=validate.Range(min=0, max=24, min_inclusive=False))
    # fields_of_the_milestone, as the OpenAPI document says it: each milestone its own fields
    json_schema_rules = [{"oneOf": [
        {"properties": {"milestone": {"enum": [milestone]}, **{name: {} for name in wanted}},
         "required": ["milestone", *wanted], "additionalProperties": False}
        for milestone, wanted in FIELDS_OF.items()]}]

    @validates_schema
    def fields_of_the_milestone(self, data, **_):
        wanted = FIELDS_OF.get(data.get("milestone"))
        if wanted is None:
            return  # `milestone` itself is reported
        errors = {name: ["required for this milestone"] for name in wanted if name not in data}
        errors.update({name: [f"not a field of the {data['milestone']} milestone"]
                       for name in ("members", "title", "topic", "hours") if name in data and name not in wanted})
        if errors:
            raise ValidationError(errors)

    @post_load
    def stripped(self, data, **_):
        if "members" in data:
            data["members"] = [name.strip() for name in data["members"]]
        return data


class ProjectIn(Schema):
    title = fields.String(required=True, validate=validate.Length(1, 100))
    capacity = fields.Integer(required=True, validate=PROJECT_CAPACITY)


class ProjectOut(Schema):
    id = fields.String()
    title = fields.String()
    capacity = fields.Integer()
    need_ids = fields.List(fields.String())
    room = fields.Integer()
    state = fields.String()  # open | closed
    opened_at = fields.String()
    closed_at = fields.String(allow_none=True)


class MilestoneOut(Schema):
    milestone = fields.String()
    reached_at = fields.String()


class IncubationOut(Schema):
    """Never members' names: only how many there are."""
    started_at = fields.String(allow_none=True)
    need_ids = fields.List(fields.String())
    mentor_street = fields.String(allow_none=True)
    milestones = fields.List(fields.Nested(MilestoneOut))
    next_milestone = fields.String(allow_none=True)
    member_count = fields.Integer()
    training_sessions = fields.Integer()
    training_sessions_needed = fields.Integer()
    training_hours = fields.Float()
    charter = fields.String(allow_none=True)
    first_project = fields.String(allow_none=True)
    graduated_at = fields.String(allow_none=True)


class OrganisationOut(Schema):
    id = fields.String()
    name = fields.String()
    community = fields.String()
    categories = fields.List(fields.String())
    stage = fields.String()
    created_at = fields.String()
    capacity = fields.Integer()  # the room left in its open micro-projects
    projects = fields.List(fields.Nested(ProjectOut))
    incubation = fields.Nested(IncubationOut, allow_none=True)


# --- answers (the gateway documents its API with these) ---------------------------------------
OrganisationPage = page_of(OrganisationOut, "OrganisationPage")

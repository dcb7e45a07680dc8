"""RPC input and output of the workers service."""
from marshmallow import Schema, fields, validate

from services.workers.domain import ACTIVITY_KINDS, STAGES
from wushe.contract.fields import record_id, region
from wushe.contract.vocabulary import CATEGORIES, CERTIFICATIONS


class StationIn(Schema):
    id = record_id()
    name = fields.String(required=True, validate=validate.Length(1, 100))
    street = region("street", required=True)


class Deadline(Schema):
    worker_id = fields.String()
    certify_by = fields.String()
    days_left = fields.Integer()
    overdue = fields.Boolean()


class StationOut(Schema):
    id = fields.String()
    name = fields.String()
    street = fields.String()
    workers = fields.Integer()
    certified = fields.Integer()
    certification_deadlines = fields.List(fields.Nested(Deadline))
    compliant = fields.Boolean(metadata={"description": "the staffing rule: at least two resident social "
                                                        "workers, one certified, the others certified within two years"})
    reasons = fields.List(fields.String(), metadata={"description": "why the station is not compliant"})
    unsupervised = fields.List(fields.String(), metadata={
        "description": "workers whose level calls for a supervisor of a higher level and who have none: "
                       "a gap reported beside the staffing rule; it does not make a station non-compliant"})
    supervision_reasons = fields.List(fields.String())


class WorkerIn(Schema):
    id = record_id()
    name = fields.String(required=True, validate=validate.Length(1, 64))
    station_id = fields.String(required=True)
    certification = fields.String(required=True, validate=validate.OneOf(CERTIFICATIONS))
    specialties = fields.List(fields.String(validate=validate.OneOf(CATEGORIES)), load_default=list)
    max_caseload = fields.Integer(validate=validate.Range(1, 100))
    supervisor_id = record_id()
    joined_at = fields.DateTime(format="iso")  # when the two-year certification clock started


class WorkerOut(Schema):
    id = fields.String()
    name = fields.String()
    station_id = fields.String()
    street = fields.String()
    certification = fields.String()
    specialties = fields.List(fields.String())
    max_caseload = fields.Integer()
    caseload = fields.Integer()
    supervisor_id = fields.String(allow_none=True)
    joined_at = fields.String()
    certify_by = fields.String(allow_none=True)
    active = fields.Boolean()


class CertificationIn(Schema):
    certification = fields.String(required=True, validate=validate.OneOf(CERTIFICATIONS[1:]))
    certified_at = fields.DateTime(format="iso")


class LeaveIn(Schema):
    reason = fields.String(load_default="", validate=validate.Length(max=200))


class StageIn(Schema):
    stage = fields.String(required=True, validate=validate.OneOf(STAGES))
    note = fields.String(load_default="", validate=validate.Length(max=2000))


class ActivityIn(Schema):
    kind = fields.String(load_default="household_visit", validate=validate.OneOf(ACTIVITY_KINDS))
    at = fields.DateTime(format="iso")
    participants = fields.Integer(load_default=1, validate=validate.Range(1, 10_000))
    note = fields.String(load_default="", validate=validate.Length(max=2000))


class CaseOut(Schema):
    id = fields.String()
    need_id = fields.String()
    worker_id = fields.String(allow_none=True)
    station_id = fields.String()
    community = fields.String()
    category = fields.String()
    urgency = fields.String()
    stage = fields.String()
    state = fields.String()
    opened_at = fields.String()
    activities = fields.Integer()


# --- answers (the gateway documents its API with these) ---------------------------------------
class Reassignment(Schema):
    case_id = fields.String()
    need_id = fields.String()
    to = fields.String(allow_none=True)

class Departure(Schema):
    """A worker who left, and where their open cases went."""
    worker_id = fields.String()
    active = fields.Boolean()
    reassigned = fields.List(fields.Nested(Reassignment))
    queued = fields.List(fields.String())

class Activity(Schema):
    id = fields.String()
    case_id = fields.String()
    need_id = fields.String()
    station_id = fields.String()
    street = fields.String()
    community = fields.String()
    worker_id = fields.String(allow_none=True)  # a case orphaned by a worker who left
    kind = fields.String()
    participants = fields.Integer()
    at = fields.String()

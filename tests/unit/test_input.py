"""Input from outside is strict at every level; event readers stay tolerant."""
import pytest
from marshmallow import RAISE, fields

from gateway.service import GatewayService  # noqa: F401 — declares the routes
from gateway.web import ROUTES
from services.community.schemas import NeedIn
from tests.unit.helpers import COMMUNITY, DISTRICT, NEED_ID, STREET, T0
from wushe.runtime.errors import InvalidInput, loaded
from wushe.contract.events import load, new_event
from wushe.contract.events.catalog import NeedReported

NEED = {"community": COMMUNITY, "category": "errands", "urgency": "high", "description": "代购米面",
        "requirements": {"volunteers": {"count": 1, "skills": ["errands"]},
                         "resources": [{"item": "rice", "quantity": 5, "unit": "kg"}, {"funds_cents": 100}]}}


def _schemas(schema, seen=None):
    """`schema` and every schema nested in it, as instances."""
    seen = seen if seen is not None else []
    if any(type(s) is type(schema) for s in seen):
        return seen
    seen.append(schema)
    for field in schema.fields.values():
        while isinstance(field, fields.List):
            field = field.inner
        if isinstance(field, fields.Nested):
            _schemas(field.schema, seen)
    return seen


@pytest.mark.parametrize("route", [r for r in ROUTES if r.request or r.query],
                         ids=lambda r: f"{r.method} {r.path}")
def test_every_request_and_query_schema_refuses_unknown_fields_at_every_level(route):
    for declared in filter(None, (route.request, route.query)):
        for schema in _schemas(declared()):
            assert schema.unknown == RAISE, f"{type(schema).__name__} (in {declared.__name__}) drops unknown fields"


@pytest.mark.parametrize("schema", [NeedIn, NeedReported])
@pytest.mark.parametrize("where, body", [
    ("top", {**NEED, "surprise": 1}),
    ("requirements", {**NEED, "requirements": {**NEED["requirements"], "wroker": False}}),
    ("volunteers", {**NEED, "requirements": {"volunteers": {"count": 1, "skils": ["errands"]}}}),
    ("resources", {**NEED, "requirements": {"resources": [{"item": "rice", "quantity": 5, "unit": "kg",
                                                           "colour": "white"}]}}),
    ("resident", {**NEED, "resident": {"name": "王秀英", "idcard": "x"}}),
])
def test_a_need_from_outside_refuses_an_unknown_field_naming_it(schema, where, body):
    with pytest.raises(InvalidInput) as refused:
        loaded(schema, body)
    flat = repr(refused.value.errors)
    assert "Unknown field." in flat
    assert next(k for k in ("surprise", "wroker", "skils", "colour", "idcard") if k in repr(body)) in flat
    assert loaded(schema, NEED)["requirements"]["resources"][1] == {"funds_cents": 100}


def test_event_readers_still_drop_unknown_fields_at_every_level():
    data = {"need_id": NEED_ID, "community": COMMUNITY, "street": STREET, "district": DISTRICT,
            "category": "errands", "urgency": "high", "registered_at": T0,
            "requirements": {"worker": True, "organisation": True, "added_in_v1_1": True,
                             "volunteers": {"count": 1, "skills": [], "hours": 1.0, "gender": "any"},
                             "resources": [{"item": "rice", "quantity": 5.0, "unit": "kg", "brand": "x"}]}}
    envelope = new_event("community", "need_registered", {**data, "requirements": NEED["requirements"]})
    envelope["data"] = {**data, "extra": 1}
    event = load(envelope)
    assert "added_in_v1_1" not in event.data["requirements"]
    assert event.data["requirements"]["volunteers"] == {"count": 1, "skills": [], "hours": 1.0}
    assert event.data["requirements"]["resources"] == [{"item": "rice", "quantity": 5.0, "unit": "kg"}]


@pytest.mark.parametrize("exc, status", [(RuntimeError("王秀英 13812345678"), 500),
                                         (TypeError("Payload must be a string"), 500)])
def test_a_failure_around_a_route_is_a_problem_without_its_type_or_message(exc, status):
    from gateway.web import ProblemHttpHandler
    response = ProblemHttpHandler("GET", "/api/v1/needs").response_from_exception(exc)
    text = response.get_data(as_text=True)
    assert response.status_code == status and response.mimetype == "application/problem+json"
    assert type(exc).__name__ not in text and str(exc) not in text and "Error:" not in text

"""services.volunteers.domain: calls for volunteers (抢单) and claims."""
import pytest

from services.volunteers import domain
from tests.unit.helpers import COMMUNITY, NEED_ID, STREET, T0, T2
from wushe.events import load

RULES = {"critical": 2, "high": 12, "normal": 48, "low": 168}


def need(urgency="normal", skills=("escort", "first_aid", "escort"), count=2):
    return {"need_id": NEED_ID, "community": COMMUNITY, "street": STREET, "category": "medical_escort",
            "urgency": urgency, "registered_at": T0,
            "requirements": {"volunteers": {"count": count, "skills": list(skills), "hours": 3.0}}}


def call(state="open", claimed=(), slots=2, skills=("escort",)):
    return {"_id": "call-1", "state": state, "claimed": list(claimed), "slots": slots, "skills": list(skills)}


@pytest.mark.parametrize("urgency, expires_at", [
    ("critical", "2026-11-23T10:00:00.000000Z"),
    ("high", "2026-11-23T20:00:00.000000Z"),
    ("normal", "2026-11-25T08:00:00.000000Z"),
    ("low", "2026-11-30T08:00:00.000000Z"),
])
def test_call_expires_by_urgency_after_registration(urgency, expires_at):
    opened, event = domain.new_call("call-1", need(urgency), RULES, T2)  # opened later than registered
    assert opened["expires_at"] == expires_at
    assert load(event).data["expires_at"] == expires_at


def test_new_call_is_open_with_slots_and_distinct_skills():
    opened, event = domain.new_call("call-1", need(count=3), RULES, T2)
    assert (opened["state"], opened["slots"], opened["claimed"]) == ("open", 3, [])
    assert opened["skills"] == ["escort", "first_aid"]
    loaded = load(event)
    assert (loaded.type, loaded.subject) == ("call_opened", NEED_ID)
    assert (loaded.data["call_id"], loaded.data["slots"], loaded.data["hours"]) == ("call-1", 3, 3.0)


@pytest.mark.parametrize("skills, volunteer_skills, missing", [
    (["escort"], ["escort", "tailoring"], []),
    (["escort", "first_aid"], ["escort"], ["first_aid"]),
    (["first_aid", "escort"], [], ["escort", "first_aid"]),
    ([], [], []),
])
def test_missing_skills(skills, volunteer_skills, missing):
    assert domain.missing_skills(call(skills=skills), {"skills": volunteer_skills}) == missing


@pytest.mark.parametrize("the_call, volunteer, reason", [
    (call(state="expired"), "vol-wang", "the call is expired"),
    (call(state="cancelled", claimed=["vol-wang"]), "vol-wang", "the call is cancelled"),
    (call(state="filled", claimed=["vol-wang", "vol-zhao"]), "vol-sun", "the call is filled"),
    (call(claimed=["vol-wang"]), "vol-wang", "this volunteer has already claimed the call"),
    (call(claimed=["vol-wang", "vol-zhao"]), "vol-sun", "the call is full"),
])
def test_why_refused(the_call, volunteer, reason):
    assert domain.why_refused(the_call, volunteer) == reason


@pytest.mark.parametrize("claimed, slots, full", [((), 1, False), (("vol-wang",), 2, False),
                                                  (("vol-wang",), 1, True), (("vol-wang", "vol-zhao"), 2, True)])
def test_is_full(claimed, slots, full):
    assert domain.is_full(call(claimed=claimed, slots=slots)) is full

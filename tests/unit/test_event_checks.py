"""The cheaper checks of a delivery give marshmallow's answers: the envelope read directly when
plainly valid (`events._plain_envelope`), and each field's validators kept in one `And`
(`wushe.contract.marshmallow_speedups`). Same events for valid bodies, same errors for invalid ones."""
import copy

import pytest
from marshmallow import Schema, ValidationError, fields, validate

from tests.unit.test_events import CALL_OPENED, REGISTERED
from wushe.contract import events, marshmallow_speedups
from wushe.contract.events import InvalidEvent, new_event
from wushe.contract.fields import instance

VALID = [new_event("community", "need_registered", REGISTERED),
         new_event("volunteers", "call_opened", CALL_OPENED),
         {**new_event("volunteers", "call_opened", CALL_OPENED), "subject": None, "correlation_id": None,
          "extra": 1},
         {**new_event("volunteers", "call_opened", CALL_OPENED), "source": "volunteers"}]
CHANGES = [
    {"id": ""}, {"id": "x" * 101}, {"id": "x" * 100}, {"id": 7}, {"id": None}, {"type": 3},
    {"type": "call_teleported"}, {"version": 2}, {"version": True}, {"version": "1"}, {"version": 1.0},
    {"source": "hotline"}, {"source": "volunteers\n"}, {"source": b"volunteers"}, {"time": None},
    {"time": 5}, {"subject": 5}, {"subject": b"x"}, {"correlation_id": []}, {"data": []}, {"data": None},
    {"data": {}}, {"data": {**CALL_OPENED, "slots": "two"}}, {"data": {**CALL_OPENED, "slots": 0}},
    {"data": {**CALL_OPENED, "community": "Tianjin"}}, {"data": {**CALL_OPENED, "skills": ["x" * 65]}},
]
MISSING = ["id", "type", "version", "source", "time", "data", "subject", "correlation_id"]


def bodies():
    base = VALID[1]
    yield from VALID
    for change in CHANGES:
        yield {**base, **change}
    for name in MISSING:
        yield {k: v for k, v in base.items() if k != name}


def outcome(body):
    try:
        return "event", events.load(copy.deepcopy(body))
    except InvalidEvent as exc:
        return "invalid", exc.errors


def marshmallows(body, monkeypatch):
    """The answer with the envelope read by marshmallow and its own Field._validate."""
    with monkeypatch.context() as patch:
        patch.setattr(events, "_plain_envelope", lambda body: None)
        marshmallow_speedups.uninstall()
        try:
            return outcome(body)
        finally:
            marshmallow_speedups.install()


@pytest.mark.parametrize("body", list(bodies()))
def test_a_delivery_is_read_as_marshmallow_reads_it(body, monkeypatch):
    assert outcome(body) == marshmallows(body, monkeypatch)


def test_the_direct_read_takes_only_plainly_valid_envelopes():
    assert all(events._plain_envelope(body) is not None for body in VALID)
    for body in bodies():
        plain = events._plain_envelope(body)
        if plain is not None:
            assert plain == instance(events.Envelope).load(body, unknown="exclude")


def test_a_field_whose_validators_change_runs_the_new_ones():
    class Named(Schema):
        name = fields.String(validate=validate.Length(1, 4))

    schema = Named()
    assert schema.load({"name": "abc"}) == {"name": "abc"}  # the field's And is kept
    with pytest.raises(ValidationError) as raised:
        schema.load({"name": "abcde"})
    assert raised.value.messages == {"name": ["Length must be between 1 and 4."]}

    def never(value):
        raise ValidationError("refused")
    schema.fields["name"].validators.append(never)
    with pytest.raises(ValidationError) as raised:
        schema.load({"name": "abcde"})
    assert raised.value.messages == {"name": ["Length must be between 1 and 4.", "refused"]}

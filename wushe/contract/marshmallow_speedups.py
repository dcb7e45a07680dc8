"""marshmallow's `Field._validate` builds an `And` of a field's validators for every value it
loads, whether the field has validators or not (`Field._validate_all`): about thirty objects an
event, up to a sixth of the time checking a delivery against the catalog takes. Here a field
with no validator has nothing to run, and a field with some keeps its `And`, made again only
when its validators change. It is the `And` marshmallow makes (`_validate_all`), so the same
validators run in the same order and their errors are gathered as before: the same answers
(checked against marshmallow's own in tests/unit/test_event_checks.py)."""
from marshmallow import fields

ORIGINAL = fields.Field._validate
_KEY = "_wushe_validate_all"


def _validate(self, value):
    validators = self.validators
    if not validators:
        return
    key = tuple(validators)
    cached = self.__dict__.get(_KEY)
    if cached is None or cached[0] != key:
        cached = self.__dict__[_KEY] = (key, self._validate_all)  # marshmallow's own And, made once
    cached[1](value)


def install():
    fields.Field._validate = _validate


def uninstall():
    fields.Field._validate = ORIGINAL

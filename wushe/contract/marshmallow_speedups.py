"""marshmallow 4's `Field._validate` builds an `And` of a field's validators for every value it
loads, whether the field has validators or not (`Field._validate_all`): about thirty objects an
event, a quarter of the time validating a delivery against the catalog takes. Here a field with
no validator has nothing to run, and a field with some keeps its `And`, made again only when its
validators change. The same validators run in the same order and their errors are gathered by
the same `And`: the same answers (checked against marshmallow's own in tests/unit/test_events.py)."""
from marshmallow import fields
from marshmallow.validate import And

ORIGINAL = fields.Field._validate
_KEY = "_wushe_validate_all"


def _validate(self, value):
    validators = self.validators
    if not validators:
        return
    key = tuple(validators)
    cached = self.__dict__.get(_KEY)
    if cached is None or cached[0] != key:
        cached = self.__dict__[_KEY] = (key, And(*key))
    cached[1](value)


def install():
    fields.Field._validate = _validate


def uninstall():
    fields.Field._validate = ORIGINAL

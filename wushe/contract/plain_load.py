"""A schema's load, read directly when the data is plainly valid: marshmallow's answer for less.

Every delivery is checked against the catalog, in every service that receives it, and every
event is checked again when stamped: marshmallow's generic load (its error store, a closure
and a call chain a field, the hooks looked up on every call) cost about half of what checking
a `need_registered` took. `load(schema, data)` walks a plan made once from the schema's own
fields instead, and takes the data only when every value is plainly what its field loads it
to: a str for a String, an int (not a bool) for an Integer, a finite int or float for a Float,
True or False for a Boolean, a dict for a Nested, a list for a List; each field's validators
and the schema's `validates_schema` rules run as marshmallow runs them. Fields of other types
are read by their own `deserialize`, as marshmallow reads them.

Anything else — a missing required field, a None where none is allowed, a "3" for an Integer
(which marshmallow would convert), an unknown field a strict schema refuses, a rule that says
no, a schema with load hooks — is not plain, and marshmallow loads it: what it accepts and
how, and its errors, are its own. The plain path only ever gives the answer marshmallow
gives (held to it over generated data, tests/unit/test_plain_load.py).
"""
import math

from marshmallow import EXCLUDE, RAISE, fields, missing
from marshmallow.decorators import POST_LOAD, PRE_LOAD, VALIDATES, VALIDATES_SCHEMA

_KEY = "_wushe_plain_plan"
_NONE = object()  # no plan: marshmallow loads whatever this schema is given


class NotPlain(Exception):
    """The data is not plainly valid: marshmallow reads it."""


def load(schema, data):
    """`schema.load(data)`, read by the schema's plan when `data` is plainly valid."""
    plan = schema.__dict__.get(_KEY) or _planned(schema)
    if plan is not _NONE:
        try:
            return plan(data)
        except Exception:  # noqa: BLE001 — not plain (or a surprise): marshmallow's answer, whatever it is
            pass
    return schema.load(data)


def planned(schema):
    """Whether `schema` has a plan (the tests hold every event and input schema without load hooks to having one)."""
    return (schema.__dict__.get(_KEY) or _planned(schema)) is not _NONE


def _planned(schema):
    plan = schema.__dict__[_KEY] = _plan(schema) or _NONE
    return plan


def _plan(schema):
    """The reader of a plainly valid `data` for `schema`, or None when its load is not plain
    (hooks other than `validates_schema` rules, options that change what a load does)."""
    hooks = schema._hooks
    if hooks[PRE_LOAD] or hooks[POST_LOAD] or hooks[VALIDATES] or schema.many or schema.partial:
        return None
    rules = []
    for attr_name, pass_collection, kwargs in hooks[VALIDATES_SCHEMA]:
        if pass_collection or kwargs.get("pass_original"):
            return None
        rules.append(getattr(schema, attr_name))
    unknown = schema.unknown
    if unknown not in (EXCLUDE, RAISE):
        return None
    steps = []
    for name, field in schema.load_fields.items():
        if field.attribute is not None or "." in name:
            return None
        read = _reader(field)
        if read is None:
            return None
        default = field.load_default
        steps.append((field.data_key if field.data_key is not None else name, name, read,
                      field.required, default, callable(default), field.allow_none))
    known = frozenset(step[0] for step in steps)
    strict = unknown == RAISE

    def plan(data):
        if type(data) is not dict or (strict and not known.issuperset(data)):
            raise NotPlain
        out = {}
        for key, name, read, required, default, call, allow_none in steps:
            value = data.get(key, missing)
            if value is missing:
                if required:
                    raise NotPlain
                if default is not missing:
                    out[name] = default() if call else default
            elif value is None:
                if not allow_none:
                    raise NotPlain
                out[name] = None
            else:
                out[name] = read(value, key, data)
        for rule in rules:
            rule(out, partial=schema.partial, many=False, unknown=unknown)
        return out

    return plan


def _reader(field):
    """`read(value, key, data)` for a value that is neither missing nor None: its loaded form, or
    NotPlain (or the field's own ValidationError); None when the field cannot be planned."""
    if field.pre_load or field.post_load:
        return None
    kind = type(field)
    if kind is fields.String:
        def base(value):
            if type(value) is not str:
                raise NotPlain
            return value
    elif kind is fields.Integer:
        def base(value):
            if type(value) is not int:
                raise NotPlain
            return value
    elif kind is fields.Float and not field.allow_nan:
        def base(value):
            if (type(value) is not float and type(value) is not int) or not math.isfinite(value):
                raise NotPlain
            return float(value)
    elif kind is fields.Boolean:
        def base(value):
            if value is not True and value is not False:
                raise NotPlain
            return value
    elif kind is fields.Nested:
        if field.many or field.only is not None or field.exclude or field.unknown is not None:
            return None
        nested = _plan(field.schema)
        if nested is None:
            return None
        base = nested
    elif kind is fields.List:
        inner = _reader(field.inner)
        if inner is None:
            return None
        allow_none = field.inner.allow_none

        def item(value):
            if value is None:
                if not allow_none:
                    raise NotPlain
                return None
            return inner(value, None, None)

        def base(value):
            if type(value) is not list:
                raise NotPlain
            return [item(each) for each in value]
    else:
        # any other field: its own deserialize (its checks, conversion and validators), as
        # marshmallow's load calls it
        return lambda value, key, data: field.deserialize(value, key, data)
    checks = tuple(field.validators)
    if not checks:
        return lambda value, key, data: base(value)

    def checked(value, key, data):
        loaded = base(value)
        for check in checks:
            if check(loaded) is False:
                raise NotPlain
        return loaded
    return checked

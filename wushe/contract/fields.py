"""Field types every schema shares: region paths and record ids; `strict` for input schemas."""
import copy
from datetime import timezone

from marshmallow import INCLUDE, RAISE, Schema, ValidationError, fields, validate

from wushe.contract import marshmallow_speedups
from wushe.contract.clock import iso
from wushe.contract.regions import LEVELS, is_valid

marshmallow_speedups.install()  # every schema's validation (events, HTTP bodies) goes through fields


class RegionPath(validate.Validator):
    """A region path such as tianjin/binhai/taida/xinghua, at `level` when one is given.
    (marshmallow 4 validators must raise; returning False is not a failure.)"""

    def __init__(self, level=None):
        self.level = level

    def __call__(self, value):
        if not is_valid(value, self.level):
            shape = "/".join(LEVELS[: LEVELS.index(self.level) + 1] if self.level else LEVELS)
            raise ValidationError(f"expected a {self.level or 'region'} path like {shape} "
                                  "(lower-case letters, digits, - and _)")
        return value


def region(level=None, **kw):
    return fields.String(validate=RegionPath(level), **kw)


class FullMatch(validate.Regexp):
    """A Regexp matched against the whole value (`re.fullmatch`): the same strings as the
    pattern in the OpenAPI document accepts, where `$` (ECMA-262) is the end of the text, not
    also the place before a trailing newline as Python's `re.match` reads it."""

    def __call__(self, value):
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


ID_PATTERN = FullMatch(r"^[A-Za-z0-9_.:-]{1,64}$", error="ids are 1–64 letters, digits, _ . : or -")


def record_id(**kw):
    """A client-chosen id (the server chooses one when it is absent)."""
    return fields.String(validate=ID_PATTERN, **kw)


class Timestamp(fields.DateTime):
    """An ISO 8601 time, kept as the fixed-width UTC text every record uses (wushe.contract.clock), so
    that times compare as text in any store. A time without a zone is taken as UTC."""

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return iso(moment)

    def _serialize(self, value, attr, obj, **kwargs):
        return value if value is None or isinstance(value, str) else super()._serialize(value, attr, obj, **kwargs)


_STRICT = {}


def strict(schema_cls):
    """`schema_cls` refusing unknown fields at every level of nesting. Event readers are tolerant
    (a producer may add fields within v1); input from outside (an HTTP body, a station's report)
    is not: a misspelt nested field must be an error naming it, never silently dropped."""
    if schema_cls not in _STRICT:
        overrides = {name: _strict_field(field) for name, field in schema_cls._declared_fields.items()}
        meta = type("Meta", (getattr(schema_cls, "Meta", object),), {"unknown": RAISE})
        _STRICT[schema_cls] = type(schema_cls.__name__, (schema_cls,),
                                   {"Meta": meta, "__doc__": schema_cls.__doc__, "__module__": schema_cls.__module__,
                                    "strict_copy": True,
                                    **{n: f for n, f in overrides.items() if f is not schema_cls._declared_fields[n]}})
    return _STRICT[schema_cls]


def schema_name(schema):
    """The name a schema has in the OpenAPI and AsyncAPI documents: a strict copy is `<Name>In`,
    so that it and the tolerant schema of the events can both be there."""
    cls = schema if isinstance(schema, type) else type(schema)
    return cls.__name__ + ("In" if cls.__dict__.get("strict_copy") else "")


def _strict_field(field):
    if isinstance(field, fields.Nested) and isinstance(field.nested, type):
        field = copy.copy(field)
        field.nested, field._schema = strict(field.nested), None
    elif isinstance(field, fields.List):
        inner = _strict_field(field.inner)
        if inner is not field.inner:
            field = copy.copy(field)
            field.inner = inner
    return field


_INSTANCES = {}


def instance(schema_cls):
    """The one instance of a schema class, made once: building a marshmallow schema copies its
    declared fields (about 0.1 ms, more than a load or dump); instances keep no state between calls."""
    found = _INSTANCES.get(schema_cls)
    if found is None:
        found = _INSTANCES.setdefault(schema_cls, schema_cls())
    return found


# --- answers --------------------------------------------------------------------------------
class Open(Schema):
    """An answer with these fields and, depending on the case, others."""

    class Meta:
        unknown = INCLUDE


def page_of(item, name):
    """`{"items": [item], "next_cursor": ...}`, every list's shape (API.md)."""
    return type(name, (Schema,), {"items": fields.List(fields.Nested(item)),
                                  "next_cursor": fields.String(allow_none=True)})

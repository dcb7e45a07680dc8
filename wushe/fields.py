"""Field types every schema shares: region paths and record ids."""
from datetime import timezone

from marshmallow import ValidationError, fields, validate

from wushe.clock import iso
from wushe.regions import LEVELS, is_valid


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


ID_PATTERN = validate.Regexp(r"^[A-Za-z0-9_.:-]{1,64}$", error="ids are 1–64 letters, digits, _ . : or -")


def record_id(**kw):
    """A client-chosen id (the server chooses one when it is absent)."""
    return fields.String(validate=ID_PATTERN, **kw)


class Timestamp(fields.DateTime):
    """An ISO 8601 time, kept as the fixed-width UTC text every record uses (wushe.clock), so
    that times compare as text in any store. A time without a zone is taken as UTC."""

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return iso(moment)

    def _serialize(self, value, attr, obj, **kwargs):
        return value if value is None or isinstance(value, str) else super()._serialize(value, attr, obj, **kwargs)

"""Times are ISO 8601 UTC strings of fixed width, so they sort and compare as text in any store."""
import uuid
from datetime import datetime, timedelta, timezone


def now():
    return datetime.now(timezone.utc)


FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def iso(moment):
    # isoformat is C; strftime and strptime are several times slower, on every event and request
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def now_iso():
    return iso(now())


def parse(text):
    if len(text) == 27 and text[10] == "T" and text[-1] == "Z":  # our own fixed width, the common case
        return datetime.fromisoformat(text)
    return datetime.strptime(text, FORMAT).replace(tzinfo=timezone.utc)


def later(text, **delta):
    return iso(parse(text) + timedelta(**delta))


def new_id(prefix):
    """Short readable ids: `need-3f9c0a…`; the prefix says what the id names."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"

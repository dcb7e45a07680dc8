"""Times are ISO 8601 UTC strings of fixed width, so they sort and compare as text in any store."""
import uuid
from datetime import datetime, timedelta, timezone


def now():
    return datetime.now(timezone.utc)


def iso(moment):
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_iso():
    return iso(now())


def parse(text):
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def later(text, **delta):
    return iso(parse(text) + timedelta(**delta))


def new_id(prefix):
    """Short readable ids: `need-3f9c0a…`; the prefix says what the id names."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"

"""Region paths: city/district/street/community, e.g. tianjin/beichen/guoyuanxincun/chaoyangli."""
import re

LEVELS = ("city", "district", "street", "community")
SEGMENT = r"[a-z0-9][a-z0-9_-]{0,63}"
_SEGMENT = re.compile(SEGMENT)


def pattern(level=None):
    """The region paths (at `level`, or any) as a regular expression that reads the same in Python
    and ECMA-262 (JSON Schema's `pattern`) — when it is matched whole: `re.fullmatch` here, since
    Python's `$` also matches before a trailing newline."""
    more = f"{{{LEVELS.index(level)}}}" if level else f"{{0,{len(LEVELS) - 1}}}"
    return f"^{SEGMENT}(?:/{SEGMENT}){more}$"


def depth(path):
    return len(path.split("/"))


def level_of(path):
    return LEVELS[depth(path) - 1]


def is_valid(path, level=None):
    parts = path.split("/") if isinstance(path, str) else []
    if not 1 <= len(parts) <= len(LEVELS) or not all(_SEGMENT.fullmatch(p) for p in parts):
        return False
    return level is None or LEVELS[len(parts) - 1] == level


def truncate(path, level):
    """The ancestor of `path` at `level` (the street of a community, …)."""
    return "/".join(path.split("/")[: LEVELS.index(level) + 1])


def parent(path):
    return path.rsplit("/", 1)[0] if "/" in path else None


def within(path, region):
    """True when `path` is `region` or lies under it."""
    return path == region or path.startswith(region + "/")


def holds(region, path):
    """A key bound to `region` ("" — everywhere) may see and change the record at `path` (its
    region path): the path is the region or lies under it. The one rule of the gateway's checks
    (gateway.access.Caller.sees) and of the services' own (`decisions.existing`)."""
    return not region or (bool(path) and within(path, region))


def under_filter(region):
    """A MongoDB filter value matching `region` and every path under it."""
    return {"$regex": "^" + re.escape(region) + "(/|$)"}

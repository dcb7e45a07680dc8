"""The plain path of a schema's load (wushe.contract.plain_load) gives marshmallow's answer: for
every schema of the catalog and of the services' and the gateway's inputs, over data generated
from the schema's own fields — plainly valid, converted (a "3" for an Integer), refused, with
fields missing, None or unknown — whatever the plan takes, marshmallow takes the same way, to
the type of every value."""
import copy
import importlib
import math

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings, strategies as st
from marshmallow import Schema, ValidationError, class_registry, fields, post_load, validate

from services.charity.schemas import DonationIn
from tests.unit.test_events import CALL_OPENED, REGISTERED
from wushe.contract import plain_load
from wushe.contract.events import new_event
from wushe.contract.events.catalog import CATALOG, INTERNAL, SOURCES, NeedRegistered
from wushe.contract.fields import FullMatch, RegionPath, Timestamp, instance, schema_name
from wushe.contract.regions import LEVELS

OURS = ("wushe.", "services.", "gateway.")
for _module in ("gateway.schemas", *(f"services.{party}.schemas" for party in SOURCES if party != "station")):
    importlib.import_module(_module)  # their schemas, in marshmallow's registry
SCHEMAS = {cls for classes in class_registry._registry.values() for cls in classes if cls.__module__.startswith(OURS)}
# what is loaded through the plan: the catalog's events and the inputs (`…In`); the
# answers (`Open`, loaded only by tests) may include unknown fields, which it leaves to marshmallow
LOADED = sorted({*CATALOG.values(), *INTERNAL.values(),
                 *(cls for cls in SCHEMAS if schema_name(cls).endswith("In"))},
                key=lambda cls: (cls.__module__, schema_name(cls)))
NOT_PLAIN = object()

JUNK = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.integers(), st.just(2 ** 70),
                 st.floats(allow_nan=True, allow_infinity=True), st.just(2.0), st.text(max_size=4),
                 st.sampled_from(["1", "2.5", "true", "no", "", "nan", "2026-11-23T10:00:00Z"]),
                 st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
                 st.binary(max_size=3))
SEGMENT = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,5}", fullmatch=True)


def region(level):
    """Region paths at `level` (or any), sometimes a level off."""
    depth = st.integers(1, 4) if level is None else st.sampled_from([LEVELS.index(level) + 1] * 8 + [1, 4])
    return depth.flatmap(lambda n: st.lists(SEGMENT, min_size=n, max_size=n)).map("/".join)


def strings(field):
    found = []
    for check in field.validators:
        if isinstance(check, validate.OneOf):
            found.append(st.sampled_from(list(check.choices)))
        elif isinstance(check, RegionPath):
            found.append(region(check.level))
        elif isinstance(check, FullMatch | validate.Regexp):
            found.append(st.from_regex(check.regex, fullmatch=True))
        elif isinstance(check, validate.Length):
            low, high = check.min or 0, check.max if check.max is not None else 8
            found.append(st.text(min_size=max(0, low - 1), max_size=min(high + 1, 80)))
    return st.one_of(*found) if found else st.text(max_size=8)


def numbers(field, integral):
    ranges = [c for c in field.validators if isinstance(c, validate.Range)]
    low = ranges[0].min if ranges and ranges[0].min is not None else -10
    high = ranges[0].max if ranges and ranges[0].max is not None else 10
    equal = [c.comparable for c in field.validators if isinstance(c, validate.Equal)]
    if equal:
        return st.sampled_from(equal + [equal[0] + 1])
    whole = st.integers(int(low) - 2, int(high) + 2)
    # edges either way: a bool, a float for an Integer, what no float holds, what JSON has not
    edges = st.sampled_from([True, False, 2.0, 2 ** 1100, math.inf, -math.inf, math.nan])
    return st.one_of(whole, edges) if integral else st.one_of(whole, st.floats(low - 1, high + 1), edges)


def value(field, depth=0):
    """A value for `field`: mostly what it takes, sometimes anything."""
    kind = type(field)
    if isinstance(field, fields.Date):
        good = st.dates().map(lambda d: d.isoformat())
    elif isinstance(field, Timestamp | fields.DateTime):
        good = st.datetimes().map(lambda t: t.isoformat() + ("Z" if t.microsecond % 3 == 0 else ""))
    elif kind is fields.String:
        good = strings(field)
    elif kind is fields.Integer:
        good = numbers(field, True)
    elif kind is fields.Float:
        good = numbers(field, False)
    elif kind is fields.Boolean:
        good = st.booleans()
    elif kind is fields.Nested and depth < 4:
        good = data(field.schema, depth + 1)
    elif kind is fields.List and depth < 4:
        least = min([c.min for c in field.validators if isinstance(c, validate.Length) and c.min] or [0])
        good = st.lists(value(field.inner, depth + 1), min_size=least, max_size=max(least, 2))
    elif isinstance(field, fields.Dict):
        good = st.dictionaries(st.text(max_size=6), st.lists(st.text(max_size=6), max_size=2), max_size=2)
    else:
        good = st.text(max_size=8)
    # one in eight anything at the top, one in twenty within (so that a list of nested bodies is
    # sometimes all valid); one_of would weigh each of JUNK's kinds as much as `good`
    odds = 7 if depth == 0 else 19
    return st.integers(0, odds).flatmap(lambda pick: JUNK if pick == 0 else good)


def data(schema, depth=0):
    """A body for `schema`: its fields' values, each optional one left out one time in two (one
    of two rules such as goods-or-funds), a required one sometimes at the top, maybe an unknown one."""
    loaded = {(f.data_key or name): f for name, f in schema.load_fields.items()}
    keys = {key: value(f, depth) for key, f in loaded.items()}
    required = st.just(True) if depth else st.integers(0, 9).map(lambda n: n > 0)
    kept = {key: required if f.required else st.booleans() for key, f in loaded.items()}
    unknown = st.integers(0, 3).flatmap(
        lambda pick: st.dictionaries(st.sampled_from(["extra", "zz"]), JUNK, max_size=1) if pick == 0 else st.just({}))
    return st.tuples(st.fixed_dictionaries(keys), st.fixed_dictionaries(kept), unknown).map(
        lambda parts: {**{k: v for k, v in parts[0].items() if parts[1][k]}, **parts[2]})


# valid bodies of the schemas whose rules generated data rarely meets all at once (the others'
# are found); the data is also drawn around them, a field or two changed to any value
SEEDS = {
    NeedRegistered: REGISTERED,
    DonationIn: {"donor_id": "donor-grain", "region": "tianjin/binhai/taida", "lines": [
        {"item": "rice", "quantity": 50, "unit": "kg", "value_cents": 30000, "best_before": "2027-03-01"},
        {"funds_cents": 200000}]},
}


def around(schema, seed):
    loaded = {(f.data_key or name): f for name, f in schema.load_fields.items()}
    changed = st.dictionaries(st.sampled_from(sorted(loaded)), st.none(), max_size=2).flatmap(
        lambda keys: st.fixed_dictionaries({key: value(loaded[key]) for key in keys}))
    return changed.map(lambda change: {**seed, **change})


def plain(plan, body):
    try:
        return plan(body)
    except Exception:  # noqa: BLE001 — not plain: marshmallow's answer stands alone
        return NOT_PLAIN


def bodies(schema_cls, plan):
    schema = instance(schema_cls)
    seed = SEEDS.get(schema_cls) or find(data(schema), lambda body: plain(plan, body) is not NOT_PLAIN,
                                         settings=settings(max_examples=5000, derandomize=True, database=None,
                                                           phases=[Phase.generate]))
    return st.one_of(data(schema), around(schema, seed))


def same(a, b):
    """Equal, and of the same type throughout (1 is not 1.0, True is not 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def answer(schema, body):
    try:
        return "loaded", schema.load(copy.deepcopy(body))
    except ValidationError as exc:
        return "refused", exc.messages


def test_every_event_and_input_has_a_plan_but_those_with_load_hooks():
    hooked = [cls for cls in LOADED if any(instance(cls)._hooks[h] for h in ("pre_load", "post_load", "validates"))]
    assert len(LOADED) > 60
    assert [schema_name(cls) for cls in LOADED if cls not in hooked and not plain_load.planned(instance(cls))] == []
    assert [schema_name(cls) for cls in hooked if plain_load.planned(instance(cls))] == []


@pytest.mark.parametrize("schema_cls", [cls for cls in LOADED if plain_load.planned(instance(cls))],
                         ids=lambda cls: f"{cls.__module__}.{schema_name(cls)}")
def test_what_the_plan_takes_marshmallow_takes_alike(schema_cls):
    schema = instance(schema_cls)
    plan = schema.__dict__[plain_load._KEY]
    taken = []

    @settings(max_examples=100, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(bodies(schema_cls, plan))
    def check(body):
        kept = copy.deepcopy(body)
        read = plain(plan, body)
        assert same(body, kept), "the plan changed its input"
        expected = answer(schema, body)
        if read is not NOT_PLAIN:
            taken.append(body)
            assert expected[0] == "loaded", (body, expected)
            assert same(read, expected[1]), (body, read, expected[1])
        assert same(_outcome(schema, body), expected)

    check()
    # the generated data reaches the plain path, or the comparison above proved little
    assert taken, f"no generated body of {schema_cls.__qualname__} was plainly valid"


def _outcome(schema, body):
    try:
        return "loaded", plain_load.load(schema, copy.deepcopy(body))
    except ValidationError as exc:
        return "refused", exc.messages


@pytest.mark.parametrize("event", [new_event("community", "need_registered", REGISTERED),
                                   new_event("volunteers", "call_opened", CALL_OPENED)],
                         ids=["need_registered", "call_opened"])
def test_a_catalog_event_is_read_by_its_plan_not_by_marshmallow(event, monkeypatch):
    from wushe.contract.events import _schema
    schema = _schema(event["source"], event["type"])
    expected = schema.load(event["data"])
    monkeypatch.setattr(schema, "load", lambda *a, **k: pytest.fail("marshmallow read a plainly valid event"))
    assert same(plain_load.load(schema, event["data"]), expected)


class _Hooked(Schema):
    name = fields.String(required=True)

    @post_load
    def upper(self, data, **_):
        return {**data, "name": data["name"].upper()}


def test_a_schema_with_load_hooks_is_loaded_by_marshmallow():
    schema = _Hooked()
    assert not plain_load.planned(schema)
    assert plain_load.load(schema, {"name": "li"}) == {"name": "LI"}

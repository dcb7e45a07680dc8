"""The patterns the OpenAPI document states for region paths and record ids accept exactly what
the server accepts (matched whole: JSON Schema's `$` is the end of the text, Python's `$` also
the place before a final newline); the gateway's body rules (JSON only, nesting depth)."""
import json
import re

import pytest
from marshmallow import ValidationError
from werkzeug.test import EnvironBuilder

from gateway import openapi
from gateway.service import GatewayService  # noqa: F401 — declares the routes
from gateway.web import MAX_JSON_DEPTH, ROUTES, HttpProblem, depth_of, parse_body, require_json
from wushe.contract.fields import ID_PATTERN, RegionPath
from wushe.contract.regions import LEVELS, is_valid, pattern

PATHS = ["tianjin", "tianjin/binhai", "tianjin/binhai/taida", "tianjin/binhai/taida/xinghua", "a", "0-x_y",
         "tianjin/binhai/taida/xinghua/more", "Tianjin", "tianjin/", "/tianjin", "tianjin//x", "-x", "tianjin\n",
         "tianjin/binhai\n", "", "x" * 64, "x" * 65, "tian jin", "天津"]
IDS = ["need-0123abcd", "a", "A.b:c_d-e", "x" * 64, "x" * 65, "", "need-1\n", "need 1", "need/1", "需求", "\nneed"]


def ecma(regex, value):
    """JSON Schema's reading: a search, with `$` only at the end (no DOTALL or MULTILINE here)."""
    return re.search(regex.replace("$", r"\Z"), value) is not None


@pytest.mark.parametrize("value", PATHS)
@pytest.mark.parametrize("level", [None, *LEVELS])
def test_the_region_pattern_accepts_what_the_server_accepts(value, level):
    assert ecma(pattern(level), value) == is_valid(value, level)
    try:
        RegionPath(level)(value)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted == is_valid(value, level)


def test_a_trailing_newline_is_no_region_and_no_id():
    assert not is_valid("tianjin\n") and not is_valid("tianjin/binhai\n", "district")
    with pytest.raises(ValidationError):
        ID_PATTERN("need-1\n")


@pytest.mark.parametrize("value", IDS)
def test_the_id_pattern_accepts_what_the_server_accepts(value):
    try:
        ID_PATTERN(value)
        accepted = True
    except ValidationError:
        accepted = False
    assert ecma(ID_PATTERN.regex.pattern, value) == accepted


def document():
    return openapi.document(ROUTES)


def test_every_path_id_has_the_id_pattern_and_every_region_field_its_level():
    doc = document()
    for path, operations in doc["paths"].items():
        for operation in operations.values():
            for parameter in operation["parameters"]:
                if parameter["in"] == "path" and parameter["name"].endswith("_id"):
                    assert parameter["schema"]["pattern"] == ID_PATTERN.regex.pattern, path
    schemas = doc["components"]["schemas"]
    assert schemas["OrganisationIn"]["properties"]["community"]["pattern"] == pattern("community")
    assert schemas["RegionIn"]["properties"]["path"]["pattern"] == pattern()
    assert schemas["DeliveryIn"]["properties"]["quantity"]["exclusiveMinimum"] is True


def test_a_milestone_says_which_fields_it_takes():
    rules = document()["components"]["schemas"]["MilestoneIn"]["allOf"][0]["oneOf"]
    charter = next(rule for rule in rules if rule["properties"]["milestone"]["enum"] == ["charter"])
    assert charter["required"] == ["milestone", "title"] and charter["additionalProperties"] is False


def test_the_statuses_a_route_may_answer_are_documented():
    doc = document()
    needs = doc["paths"]["/api/v1/needs"]["post"]["responses"]
    assert {"400", "401", "413", "414", "415", "422", "429"} <= set(needs)
    assert "403" not in needs  # every role may register a need
    assert "403" in doc["paths"]["/api/v1/regions"]["post"]["responses"]
    assert "403" in doc["paths"]["/api/v1/dead-letters"]["get"]["responses"]  # an admin key of no region
    assert "Retry-After" in needs["429"]["headers"]
    assert "401" not in doc["paths"]["/api/v1/openapi.json"]["get"]["responses"]
    # an Idempotency-Key whose first request still runs: 409 on every POST that takes one
    assert "409" in doc["paths"]["/api/v1/cases/{case_id}/visits"]["post"]["responses"]
    assert "409" not in doc["paths"]["/api/v1/keys"]["post"]["responses"]  # answers holding a secret: no replay


def request(body=b"{}", content_type=None):
    return EnvironBuilder(method="POST", data=body, content_type=content_type).get_request()


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "Application/JSON", "application/merge-patch+json"])
def test_json_bodies_are_taken(content_type):
    require_json(request(content_type=content_type))


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "text/json", "application/jsonx"])
def test_other_bodies_are_415(content_type):
    with pytest.raises(HttpProblem) as refused:
        require_json(request(content_type=content_type))
    assert refused.value.status == 415


def test_nesting_is_limited_and_never_a_recursion_error():
    assert depth_of({"a": [1, {"b": []}]}) == 4 and depth_of(1) == 0
    fine = "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1)
    assert parse_body(f'{{"a": {fine}}}'.encode())
    for depth in (MAX_JSON_DEPTH, 1000, 100_000):
        deep = "[" * depth + "]" * depth
        with pytest.raises(HttpProblem) as refused:
            parse_body(f'{{"a": {deep}}}'.encode())
        assert refused.value.status == 400 and "nests" in refused.value.detail
    with pytest.raises(HttpProblem):
        parse_body(json.dumps({"a": {"b": {}}}).replace("{}", "{" * 50 + "}" * 50).encode())

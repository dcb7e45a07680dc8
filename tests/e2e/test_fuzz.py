"""Schemathesis over the OpenAPI document the gateway serves: generated requests, valid and
invalid, against every operation of a running platform with a little world in it.

Every check schemathesis has runs on every answer (`CHECKS`: all registered, as `st run --checks
all`): no server error, a documented status, content type, headers and schema, invalid data
refused with a 4xx (invalid cases include requests without the key, which must answer 401),
valid data accepted, an auth that is not ignored, a method not documented answered 405 with
`Allow`, and the rest. `positive_data_acceptance` takes 422 besides its defaults (2xx, 401, 403,
404, 409, 429): data of the documented shape may still name a region, a volunteer, a donor or a
team that does not exist (422 on that field, as gateway.access answers for a record out of the
key's region), or a rule across records JSON Schema cannot state (a service window's end after
its start, a claim on a call already full); 404 and 409 are in its defaults for the same reason
(a made-up path id, a record's state). `negative_data_rejection` takes 414 too: a request line
over 8 KiB is refused by the web server itself (schemathesis.toml, which `st run` reads too).

Two passes: hypothesis's generated cases per operation (with path ids made up or naming the
seeded records), then schemathesis's own coverage phase as `st run` runs it (boundary values,
each required header or parameter left out, every method an operation's path does not document
— where `unsupported_method` and `missing_required_header` look; they see no other cases).

More examples: `WUSHE_FUZZ_EXAMPLES=200 .venv/bin/python -m pytest tests/e2e/test_fuzz.py`
(examples per operation and per way of choosing path ids).
"""
import os
import time
import tomllib
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings, strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS as REGISTERED, load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events, from_schema

from tests.conftest import ADMIN_KEY
from tests.e2e.world import XINGHUA, need, ok, seed

pytestmark = pytest.mark.e2e
EXAMPLES = int(os.environ.get("WUSHE_FUZZ_EXAMPLES", "12"))
MINIMUM_CASES = 1000
load_all_checks()
CHECKS = REGISTERED.get_all()  # every check there is (schemathesis 4.32.5: 14)
# positive_data_acceptance takes 422 and negative_data_rejection 414 besides their defaults: the
# checkout's schemathesis.toml says why (`st run` reads it too)
CONFIG = tomllib.loads((Path(__file__).parents[2] / "schemathesis.toml").read_text())
# Nothing is excluded: the run has its own vhost and database, a replay of dead letters sends
# back only what this run parked, and a worker who leaves or a need cancelled by the fuzzer is
# a state the other operations must answer for anyway.
EXCLUDED = set()


def world(api):
    """Records for the path ids: a need with its case, call, claim and pledge, an organisation
    with a micro-project, a team and a community fund."""
    seed(api)
    need_id = ok(api.post("/needs", need(volunteers=2, rice=5, resident={"name": "王大爷", "phone": "13800005678"})),
                 202)["id"]
    view = api.wait_need(need_id, lambda n: n.get("resident") and n["linkage"]["volunteers"].get("call_id")
                         and n["linkage"]["worker"].get("case_id") and n["linkage"]["resources"].get("pledges"))
    call_id = view["linkage"]["volunteers"]["call_id"]
    ok(api.post(f"/calls/{call_id}/claims", {"volunteer_id": "vol-0"}), 201)
    ok(api.post("/organisations", {"id": "org-linli", "name": "邻里互助会", "community": XINGHUA,
                                   "categories": ["errands"]}), 201)
    project_id = ok(api.post("/organisations/org-linli/projects", {"title": "代购小组", "capacity": 5}),
                    201)["projects"][-1]["id"]
    ok(api.post("/teams", {"id": "team-zhukun", "name": "助困陪诊", "community": XINGHUA, "skills": ["errands"]}), 201)
    ok(api.post("/donors", {"id": "fund-xinghua", "name": "星华社区基金", "kind": "community_fund",
                            "region": XINGHUA}), 201)
    ok(api.post("/funds/fund-xinghua/contributions", {"contributor_kind": "resident", "funds_cents": 5000}), 201)
    key_id = ok(api.post("/keys", {"role": "integrator", "region": XINGHUA}), 201)["id"]
    return {"key_id": key_id, "resident_id": view["resident"]["id"], "need_id": need_id, "call_id": call_id, "case_id": view["linkage"]["worker"]["case_id"],
            "pledge_id": view["linkage"]["resources"]["pledges"][0]["pledge_id"], "volunteer_id": "vol-0",
            "worker_id": "worker-liu", "station_id": "station-taida", "donor_id": "donor-grain",
            "fund_id": "fund-xinghua", "org_id": "org-linli", "project_id": project_id, "team_id": "team-zhukun",
            "service": "community", "name": "swagger-ui-bundle.js"}  # the last: a file of the docs page


def strategy(operation, known):
    """Valid and invalid requests, with path ids made up (mostly 404) or naming real records."""
    names = [p.name for p in operation.path_parameters]
    id_choices = [None] + ([{n: known[n] for n in names}] if names else [])
    return st.one_of([operation.as_strategy(generation_mode=mode, path_parameters=ids)
                      for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) for ids in id_choices])


def fuzz(operation, known, base, executed):
    """Run the operation's generated cases (hypothesis: reproducible, no deadline; failures are
    reported as found, not shrunk, to keep the run short)."""
    @settings(max_examples=EXAMPLES * (2 if operation.path_parameters else 1), deadline=None,
              derandomize=True, database=None, suppress_health_check=list(HealthCheck),
              phases=[Phase.explicit, Phase.generate])
    @given(case=strategy(operation, known))
    def run(case):
        response = case.call_and_validate(base_url=base, headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                                          checks=CHECKS, timeout=30)
        executed.setdefault(operation.label, []).append(response.status_code)
    run()


def coverage(base):
    """schemathesis's coverage phase over the served document, every check on (`--checks all`):
    the cases it ran, and its failures by operation."""
    config = SchemathesisConfig.from_dict({
        **CONFIG, "headers": {"Authorization": f"Bearer {ADMIN_KEY}"},
        "phases": {"examples": {"enabled": False}, "fuzzing": {"enabled": False}, "stateful": {"enabled": False}}})
    config.projects.override.checks.update(included_check_names=["all"])
    schema = schemathesis.openapi.from_url(base + "/api/v1/openapi.json", config=config)
    cases, failures = 0, {}
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            cases += len(event.recorder.cases)
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.status == Status.FAILURE:
                        failure = check.failure_info.failure
                        failures.setdefault(event.recorder.label, set()).add(f"{check.name}: {failure.title}: "
                                                                             f"{failure.message}")
        elif isinstance(event, (events.NonFatalError, events.FatalError)):
            failures.setdefault(getattr(event, "label", "engine"), set()).add(repr(getattr(event, "value", event)))
    return cases, failures


def test_generated_requests_get_documented_answers_and_never_a_server_error(platform):
    known = world(platform)
    schema = schemathesis.openapi.from_url(platform.base + "/api/v1/openapi.json",
                                           config=SchemathesisConfig.from_dict(CONFIG),
                                           headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    operations = [result.ok() for result in schema.get_all_operations()]
    # every documented operation (schemathesis leaves out the one the document is loaded from when
    # it sees that it is: so may it)
    documented = {f"{method.upper()} {path}" for path, ops in schema.raw_schema["paths"].items() for method in ops}
    assert documented - {"GET /api/v1/openapi.json"} <= {op.label for op in operations} <= documented
    executed, failures = {}, {}
    started = time.monotonic()
    for operation in operations:
        if operation.label in EXCLUDED:
            continue

        try:
            fuzz(operation, known, platform.base, executed)
        except BaseException as exc:  # noqa: BLE001 — schemathesis raises a group of check failures
            if isinstance(exc, KeyboardInterrupt):
                raise
            failures[operation.label] = str(exc)
    elapsed = time.monotonic() - started
    cases = sum(map(len, executed.values()))
    accepted = sorted(label for label, statuses in executed.items() if any(200 <= s < 300 for s in statuses))
    print(f"fuzz: {cases} cases over {len(executed)} operations in {elapsed:.0f} s; {len(accepted)} with a 2xx")
    started = time.monotonic()
    covered, found = coverage(platform.base)
    print(f"fuzz, coverage phase: {covered} cases in {time.monotonic() - started:.0f} s")
    failures.update({f"{label} (coverage)": "\n".join(sorted(texts)) for label, texts in found.items()})
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
    assert set(executed) == {op.label for op in operations} - EXCLUDED  # every operation ran
    assert cases >= MINIMUM_CASES
    # not only refusals: half the operations at least did their work once, so that their answers
    # were checked too (ids in bodies are made up, so most actions on calls meet 404/409/422)
    assert len(accepted) >= 0.5 * len(executed), sorted(set(executed) - set(accepted))

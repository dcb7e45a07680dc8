"""Residents' personal data end to end: who sees it unmasked, erasure, and a run whose every log
line, event, metric, read-model document and stored answer is searched for the resident it used."""
import json

import eventlet
import pytest
from prometheus_client.parser import text_string_to_metric_families

from wushe.contract.residents import FIELDS
from tests.conftest import wait_for
from tests.e2e.test_station_and_privacy import publish_need_reported
from tests.e2e.world import STREET, XINGHUA, need, ok, seed
from wushe.runtime.store import database

pytestmark = pytest.mark.e2e
RESIDENT = {"name": "欧阳娜娜", "phone": "13912345678", "address": "天津市滨海新区泰达街道星华里3号楼2单元"}
MASKED = {"name": "欧***", "phone": "139****5678", "address": "天津市滨海新区****"}
# what must never be found: the data in every form it was given, and its distinctive parts
SECRETS = [*RESIDENT.values(), "139-1234-5678", "星华里3号楼2单元"]
SERVICES = ("community", "orgs", "workers", "volunteers", "charity", "gateway")

# Callers of other roles and regions, as keys an admin issues (the admin key stays the conftest's).
CALLERS = {
    "test-integrator": ("integrator", XINGHUA),
    "test-station-taida": ("station", STREET),
    "test-station-elsewhere": ("station", "tianjin/binhai/xinchengzhen"),
}


@pytest.fixture
def callers(platform):
    """Headers of a key issued through the gateway for each caller above, made on first use."""
    issued, ids = {}, {}

    def as_(name):
        if name not in issued:
            role, region = CALLERS[name]
            if name == "test-station-elsewhere":  # a street of Binhai the seed does not make
                assert platform.post("/regions", {"path": region, "name": "新城镇", "level": "street"}
                                     ).status_code in (201, 409)
            made = ok(platform.post("/keys", {"role": role, "region": region}), 201)
            issued[name], ids[name] = made["key"], made["id"]
        return {"Authorization": f"Bearer {issued[name]}"}
    as_.key_id = ids.__getitem__
    return as_


def assert_no_resident(what, text):
    for secret in SECRETS:
        assert secret not in text, f"{secret} found in {what}"
        assert json.dumps(secret)[1:-1] not in text, f"{secret} found \\u-escaped in {what}"


def stored(config, service):
    db = database(config["WUSHE"], service)
    return {name: list(db[name].find()) for name in db.list_collection_names()}


def test_no_resident_data_in_any_log_line_event_metric_read_model_or_stored_answer(
        log_lines, platform, config, callers):
    seed(platform)
    keyed = {"Idempotency-Key": "hotline-pii-0001"}
    # through the API: linked, then resolved
    first = ok(platform.post("/needs", {**need(volunteers=1), "resident": RESIDENT}, headers=keyed), 202)["id"]
    ok(platform.post("/needs", {**need(volunteers=1), "resident": RESIDENT}, headers=keyed), 202)  # a retry
    call_id = platform.wait_need(first, lambda n: n["linkage"]["volunteers"].get("call_id"))[
        "linkage"]["volunteers"]["call_id"]
    ok(platform.post(f"/calls/{call_id}/claims", {"volunteer_id": "vol-0"}), 201)
    platform.wait_need(first, lambda n: n["status"] == "linked")
    ok(platform.post(f"/needs/{first}/resolve", {"note": "已送达"}), 200)
    # from station software, the phone written as the hotline took it: linked, then cancelled
    publish_need_reported(config["AMQP_URI"], {**need(volunteers=0, rice=0), "id": "need-hotline-pii",
                                               "resident": {**RESIDENT, "phone": "139-1234-5678"}})
    platform.wait_need("need-hotline-pii", lambda n: n.get("status") == "linked")
    ok(platform.post("/needs/need-hotline-pii/cancel", {"reason": "家属已接走"}), 200)
    # refused requests that carry the resident: their answers do not repeat it
    refused = [platform.post("/needs", {**need(), "category": "nonsense", "resident": RESIDENT},
                             headers={"Idempotency-Key": "hotline-pii-0002"}),
               platform.post("/needs", {**need(), "resident": {**RESIDENT, "phone": "电话13912345678"}}),
               platform.post("/needs", {**need(), "resident": {**RESIDENT, "name": RESIDENT["name"] * 20}})]
    assert [r.status_code for r in refused] == [422, 422, 422]
    assert "phone" in refused[1].json()["errors"]["resident"]
    # a report for a community nobody registered is parked; operators see its resident masked
    publish_need_reported(config["AMQP_URI"], {**need(community=f"{STREET}/nowhere"), "resident": RESIDENT})
    parked = wait_for(lambda: ok(platform.get("/dead-letters/community"), 200)["items"])
    assert json.loads(parked[0]["body"])["data"]["resident"] == MASKED

    # who sees what
    assert platform.need(first)["resident"] == {"id": platform.need(first)["resident"]["id"], **RESIDENT,
                                                "masked": False}
    view = ok(platform.get(f"/needs/{first}", headers=callers("test-integrator")), 200)
    assert {k: view["resident"].get(k) for k in (*FIELDS, "masked")} == {**MASKED, "masked": True}
    # a station of another street sees it masked (or, where keys are scoped to regions, no need at all)
    elsewhere = platform.get(f"/needs/{first}", headers=callers("test-station-elsewhere"))
    assert elsewhere.status_code == 404 or elsewhere.json()["resident"] == view["resident"]
    assert ok(platform.get(f"/needs/{first}", headers=callers("test-station-taida")), 200)["resident"]["masked"] is False
    listed = ok(platform.get(f"/needs?community={XINGHUA}"), 200)["items"]
    assert len(listed) == 2 and not any("resident" in n for n in listed)

    eventlet.sleep(0.5)  # the last events of the run reach the tap and the read model
    metrics = platform.metrics()
    lines = log_lines.getvalue()
    published = [e for e in platform.tap.raw if '"need_reported"' not in e]  # the inbound reports carry it
    # the checks below must have something to check
    assert lines.count("\n") > 20 and '"need.registered"' in lines and '"resident.revealed"' in lines
    assert {e["source"] for e in platform.tap.events} >= {"community", "orgs", "workers", "volunteers", "charity"}
    assert len(published) > 10 and "wushe_needs_total" in metrics
    gateway = stored(config, "gateway")
    assert len(gateway["need_views"]) == 2 and len(gateway["idempotency_keys"]) == 2
    assert len(stored(config, "community")["residents"]) == 2

    assert_no_resident("the log", lines)
    for event in published:
        assert_no_resident("an event", event)
    assert_no_resident("/metrics", metrics)
    for service in SERVICES:  # the community's residents included: they are sealed
        assert_no_resident(f"the {service} store", json.dumps(stored(config, service), ensure_ascii=False, default=str))
    for answer in [*refused, *[ok(platform.get(f"/needs/{n['id']}", headers=callers("test-integrator")), 200)
                               for n in listed]]:
        assert_no_resident("an answer", answer.text if hasattr(answer, "text") else json.dumps(answer, ensure_ascii=False))
    assert_no_resident("the dead letters", json.dumps(parked, ensure_ascii=False))


def test_erasure_removes_the_data_and_keeps_the_need_and_the_figures(log_lines, platform, config, callers):
    seed(platform)
    need_id = ok(platform.post("/needs", {**need(volunteers=0, rice=0), "resident": RESIDENT}), 202)["id"]
    view = platform.wait_need(need_id, lambda n: n["status"] == "linked")
    resident_id = view["resident"]["id"]
    before = ok(platform.get(f"/stats?region={STREET}"), 200)

    # only who may see the data may erase it: an integrator's role may not (403), and to a station
    # of another street the resident does not exist (404)
    assert platform.delete(f"/residents/{resident_id}", headers=callers("test-integrator")).status_code == 403
    assert platform.delete(f"/residents/{resident_id}", headers=callers("test-station-elsewhere")).status_code == 404
    assert platform.delete("/residents/res-nobody").status_code == 404
    erased = platform.delete(f"/residents/{resident_id}")
    assert (erased.status_code, erased.content) == (204, b"")
    # shown at once by the gateway that erased it, before its resident_erased is projected
    assert "resident" not in ok(platform.get(f"/needs/{need_id}"), 200)
    kept = database(config["WUSHE"], "gateway").need_views.find_one({"_id": need_id})
    assert kept["resident"] is None and kept["resident_erased_at"]

    view = platform.wait_need(need_id, lambda n: "resident_erased_at" in n)
    assert "resident" not in view and view["status"] == "linked"
    assert view["timeline"][-1]["type"] == "resident_erased"
    record = database(config["WUSHE"], "community").residents.find_one({"_id": resident_id})
    assert not set(FIELDS) & record.keys() and record["erased_at"]
    assert ok(platform.get(f"/stats?region={STREET}"), 200) == before
    # erasing again answers the same and announces nothing new
    assert platform.delete(f"/residents/{resident_id}", headers=callers("test-station-taida")).status_code == 204
    eventlet.sleep(0.3)
    [event] = platform.tap.of_type("resident_erased")
    assert event["data"] == {"resident_id": resident_id, "need_id": need_id, "community": XINGHUA}
    # the erasure is on record: which key, which resident, nothing more
    erasures = [json.loads(line) for line in log_lines.getvalue().splitlines() if '"resident.erase"' in line]
    assert [(e["resident_id"], e["key_id"]) for e in erasures] == [(resident_id, "bootstrap"),
                                                                     (resident_id, callers.key_id("test-station-taida"))]
    assert_no_resident("the log", log_lines.getvalue())


def _owner_asked(metrics_text, methods=("resident_of",)):
    """How many times the community service was asked for a resident (its RPC metric)."""
    return sum(sample.value for family in text_string_to_metric_families(metrics_text)
               for sample in family.samples
               if sample.name == "wushe_rpc_seconds_count" and sample.labels.get("service") == "community"
               and sample.labels.get("method") in methods)


def test_a_need_is_read_with_its_resident_in_one_lookup(platform, config, callers):
    """The community sends the gateway a resident's forms when it seals them (`resident_sealed`,
    an internal event): whether the need came through the API or from station software, no read
    asks the community for them, whoever reads: unmasked to a key that may see it, masked to one
    that may not. Station software, bound to every event, never sees them."""
    seed(platform)
    asked = _owner_asked(platform.metrics())  # the process's registry: other tests' asks count in it
    by_api = ok(platform.post("/needs", {**need(volunteers=0, rice=0), "resident": RESIDENT}), 202)["id"]
    publish_need_reported(config["AMQP_URI"], {**need(volunteers=0, rice=0), "id": "need-hotline-forms",
                                               "resident": RESIDENT})
    views = database(config["WUSHE"], "gateway").need_views
    for need_id in (by_api, "need-hotline-forms"):
        # waited for in the read model itself: a read through the gateway before the forms arrive
        # asks the owner, by design ("a view made before its resident was stored")
        wait_for(lambda: (views.find_one({"_id": need_id}) or {}).get("status") == "linked")
        kept = wait_for(lambda: (views.find_one({"_id": need_id}) or {}).get("resident"))
        assert kept["masked"] == MASKED and set(kept["sealed"]) == set(FIELDS)
        assert all(value.startswith("pii1:") for value in kept["sealed"].values())
        for _ in range(3):
            assert platform.need(need_id)["resident"] == {"id": kept["id"], **RESIDENT, "masked": False}
            assert ok(platform.get(f"/needs/{need_id}", headers=callers("test-station-taida")), 200)["resident"][
                "masked"] is False
            shown = ok(platform.get(f"/needs/{need_id}", headers=callers("test-integrator")), 200)["resident"]
            assert shown == {"id": kept["id"], **MASKED, "masked": True}
    assert _owner_asked(platform.metrics()) == asked
    assert platform.tap.events and not platform.tap.of_type("resident_sealed")

"""Station software over AMQP, and residents' personal data staying where it belongs."""
import json
import uuid

import kombu
import pytest

from tests.e2e.world import XINGHUA, need, ok, seed
from wushe.contract.clock import now_iso

pytestmark = pytest.mark.e2e
RESIDENT = {"name": "王秀英", "phone": "13812345678", "address": "星华里3号楼2门501"}


def publish_need_reported(amqp_uri, data, event_id=None):
    """What a hotline's software does: plain kombu, no nameko, no Wushe code."""
    envelope = {"id": event_id or str(uuid.uuid4()), "type": "need_reported", "version": 1,
                "source": "station", "time": now_iso(), "subject": None, "correlation_id": "hotline-365-0001",
                "data": data}
    with kombu.Connection(amqp_uri) as connection:
        producer = connection.Producer(serializer="json")
        exchange = kombu.Exchange("station.events", "topic", durable=True)
        producer.publish(envelope, exchange=exchange, routing_key="need_reported", declare=[exchange],
                         delivery_mode=2, retry=True)
    return envelope


def test_a_need_reported_by_station_software_appears_through_the_api(platform, config):
    seed(platform)
    body = need(volunteers=0, rice=0)
    body.update(id="need-hotline-0001", resident=RESIDENT)
    envelope = publish_need_reported(config["AMQP_URI"], body)
    view = platform.wait_need("need-hotline-0001", lambda n: n.get("status") == "linked")
    assert view["community"] == XINGHUA and view["linkage"]["worker"]["state"] == "assigned"
    # redelivered with the same id: nothing new is registered
    publish_need_reported(config["AMQP_URI"], body, event_id=envelope["id"])
    publish_need_reported(config["AMQP_URI"], body)
    items = ok(platform.get(f"/needs?community={XINGHUA}"), 200)["items"]
    assert [n["id"] for n in items] == ["need-hotline-0001"]
    assert len(platform.tap.of_type("need_registered")) == 1


def test_a_need_reported_without_an_id_gets_one_derived_from_the_event(platform, config):
    seed(platform)
    body = need(volunteers=0, rice=0)
    envelope = publish_need_reported(config["AMQP_URI"], body)
    publish_need_reported(config["AMQP_URI"], body, event_id=envelope["id"])  # a redelivery
    from tests.conftest import wait_for
    registered = wait_for(lambda: platform.tap.of_type("need_registered"))
    need_id = registered[0]["data"]["need_id"]
    platform.wait_need(need_id, lambda n: n.get("status") == "linked")
    assert len(platform.tap.of_type("need_registered")) == 1


def test_no_resident_name_phone_or_address_in_any_event_or_log_line(platform, config, log_lines):
    seed(platform)
    need_id = ok(platform.post("/needs", {**need(volunteers=1), "resident": RESIDENT}), 202)["id"]
    call_id = platform.wait_need(need_id, lambda n: n["linkage"]["volunteers"].get("call_id"))[
        "linkage"]["volunteers"]["call_id"]
    ok(platform.post(f"/calls/{call_id}/claims", {"volunteer_id": "vol-0"}), 201)
    platform.wait_need(need_id, lambda n: n["status"] == "linked")
    publish_need_reported(config["AMQP_URI"], {**need(volunteers=0, rice=0), "id": "need-hl-2",
                                               "resident": RESIDENT})
    platform.wait_need("need-hl-2", lambda n: n.get("status") == "linked")
    ok(platform.post(f"/needs/{need_id}/cancel", {"reason": "moved away"}), 200)
    platform.wait_need(need_id, lambda n: n["linkage"]["resources"]["state"] == "released")
    logs = log_lines.getvalue()
    published = [e for e in platform.tap.raw if '"need_reported"' not in e]  # the inbound report may carry them
    assert len(published) > 10 and logs.count("\n") > 10
    for value in RESIDENT.values():
        assert value not in logs
        assert all(value not in event for event in published)
        assert json.dumps(value)[1:-1] not in logs  # nor escaped as \uXXXX
    # the community keeps them, and only there, sealed
    from wushe.contract.residents import Keyring, opened, resident_id_for
    from wushe.runtime.store import database
    stored = database(config["WUSHE"], "community").residents.find_one({"_id": resident_id_for(need_id)})
    assert not any(value in json.dumps(stored, ensure_ascii=False) for value in RESIDENT.values())
    assert opened(stored, Keyring.parse(config["WUSHE"]["PII_KEY"])) == RESIDENT


def test_hours_are_credited_once_per_call_and_volunteer(platform):
    seed(platform)
    need_id = ok(platform.post("/needs", need(volunteers=1, rice=0)), 202)["id"]
    call_id = platform.wait_need(need_id, lambda n: n["linkage"]["volunteers"].get("call_id"))[
        "linkage"]["volunteers"]["call_id"]
    ok(platform.post(f"/calls/{call_id}/claims", {"volunteer_id": "vol-0"}), 201)
    import eventlet
    pool = eventlet.GreenPool(10)
    statuses = list(pool.imap(lambda _: platform.post(f"/calls/{call_id}/completions",
                                                      {"volunteer_id": "vol-0", "hours": 1.5}).status_code, range(10)))
    assert statuses.count(201) == 1 and statuses.count(409) == 9
    assert ok(platform.get("/volunteers/vol-0"), 200)["hours_balance"] == 1.5
    # someone who did not claim cannot complete
    assert platform.post(f"/calls/{call_id}/completions", {"volunteer_id": "vol-1", "hours": 1}).status_code == 409
    assert len(platform.tap.of_type("hours_credited")) == 1


def test_a_report_for_an_unknown_community_is_parked_and_replayed_once_the_region_exists(platform, config):
    seed(platform)
    body = {**need(community="tianjin/binhai/taida/yinhe", volunteers=0, rice=0), "id": "need-hotline-7"}
    envelope = publish_need_reported(config["AMQP_URI"], body)
    from tests.conftest import wait_for
    parked = wait_for(lambda: ok(platform.get("/dead-letters/community"), 200)["items"])
    assert [(p["id"], p["reason"]) for p in parked] == [(envelope["id"], "rejected")]
    assert "community" in parked[0]["error"]
    assert ok(platform.get("/dead-letters"), 200)["items"] == [{"service": "community", "parked": 1}]

    ok(platform.post("/regions", {"path": "tianjin/binhai/taida/yinhe", "name": "银河社区", "level": "community"}), 201)
    assert ok(platform.post("/dead-letters/community/replay", {"message_ids": [envelope["id"]]}), 200) == {"replayed": 1}
    platform.wait_need("need-hotline-7", lambda n: n.get("status") == "linked")
    assert ok(platform.get("/dead-letters/community"), 200)["items"] == []
    assert platform.get("/dead-letters/nobody").status_code == 404

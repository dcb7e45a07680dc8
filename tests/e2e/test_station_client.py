"""The station client (wushe.contract.station) against real RabbitMQ, alongside the platform: a hotline
reports needs and follows their linkage through its own durable queue."""
import eventlet
import pytest

from tests.conftest import wait_for
from tests.e2e.world import XINGHUA, seed
from wushe.contract.events import InvalidEvent
from wushe.contract.station import StationClient

pytestmark = pytest.mark.e2e


def report(need_id):
    return {"id": need_id, "community": XINGHUA, "category": "elderly_care", "urgency": "high",
            "description": "独居老人来电，需要上门探访", "resident": {"name": "王大爷", "phone": "13800005678"},
            "requirements": {"worker": True, "organisation": False}}


def test_a_hotline_reports_needs_and_follows_them_to_linked(platform, config):
    seed(platform)
    received = []
    with StationClient(config["AMQP_URI"], "hotline-236") as station:
        station.follow(["need_registered", "need_linked"], received.append)
        follower = eventlet.spawn(station.run)
        sent = station.report_need(report("need-hotline-1"), report_id="call-0001")
        station.report_need(report("need-hotline-1"), report_id="call-0001")  # sent twice: registered once
        platform.wait_need("need-hotline-1", lambda n: n["status"] == "linked")
        wait_for(lambda: {e.type for e in received if e.need_id == "need-hotline-1"} >= {"need_registered", "need_linked"})
        station.stop()
        follower.wait()
    assert (sent["type"], sent["id"], sent["source"]) == ("need_reported", "call-0001", "station/hotline-236")
    view = platform.need("need-hotline-1")
    assert view["reported_by"] == "station/hotline-236"
    assert [e.get("reported_by") for e in view["timeline"] if e["type"] == "need_registered"] == ["station/hotline-236"]
    mine = [e for e in received if e.need_id == "need-hotline-1"]
    assert [e.type for e in mine].count("need_registered") == 1
    assert all("王大爷" not in str(e.data) for e in mine)  # events carry no resident data


def test_a_bad_report_is_refused_before_it_leaves_and_unknown_event_types_are_named(platform, config):
    with StationClient(config["AMQP_URI"], "hotline-236") as station:
        with pytest.raises(InvalidEvent):
            station.report_need({**report("need-x"), "urgency": "whenever"})
        with pytest.raises(ValueError, match="need_teleported"):
            station.follow(["need_teleported"], print)


def test_events_wait_in_the_stations_queue_while_it_is_away(platform, config):
    seed(platform)
    with StationClient(config["AMQP_URI"], "station-taida-app") as station:
        station.follow(["need_registered"], lambda e: None)
        # following declares the durable queue; then the app goes away
    with StationClient(config["AMQP_URI"], "hotline-236") as hotline:
        hotline.report_need(report("need-while-away"))
    received = []
    with StationClient(config["AMQP_URI"], "station-taida-app") as station:
        station.follow(["need_registered"], received.append)
        wait_for(lambda: station.run(timeout=0.5) or [e for e in received if e.need_id == "need-while-away"])


def test_a_refused_report_is_answered_on_the_reporting_stations_durable_queue(platform, config):
    seed(platform)
    for station_id in ("hotline-236", "hotline-12345"):
        with StationClient(config["AMQP_URI"], station_id) as station:
            station.follow(["need_report_refused"], lambda e: None)
            # following declares the durable queue; then the station software goes away
    with StationClient(config["AMQP_URI"], "hotline-236") as hotline:
        sent = hotline.report_need({**report("need-nowhere"), "community": "tianjin/binhai/taida/yinhe"},
                                   report_id="call-0404")
    wait_for(lambda: platform.tap.of_type("need_report_refused"))
    answers = {}
    for station_id in ("hotline-236", "hotline-12345"):
        with StationClient(config["AMQP_URI"], station_id) as station:
            answers[station_id] = []
            station.follow(["need_report_refused"], answers[station_id].append)
            station.run(timeout=1)
    (refusal,) = answers["hotline-236"]
    assert answers["hotline-12345"] == []  # another station's answer is not handed to it
    assert refusal.data["report_id"] == sent["id"] and refusal.data["need_id"] == "need-nowhere"
    assert list(refusal.data["errors"]) == ["community"]
    assert "王大爷" not in str(refusal) and "13800005678" not in str(refusal)
    assert platform.get("/needs/need-nowhere").status_code == 404
    # the report is parked as before: replayed once its community exists, it links; the answer
    # it had was about the report, never a step of the need
    assert platform.post("/regions", {"path": "tianjin/binhai/taida/yinhe", "name": "银河社区",
                                      "level": "community"}).status_code == 201
    assert platform.post("/dead-letters/community/replay", {"message_ids": [sent["id"]]}).json() == {"replayed": 1}
    view = platform.wait_need("need-nowhere", lambda n: n.get("status") == "linked")
    assert "need_report_refused" not in [e["type"] for e in view["timeline"]]
    assert view["reported_by"] == "station/hotline-236"


def test_the_served_asyncapi_document_names_the_platforms_broker_and_vhost(platform, config):
    from wushe.contract import asyncapi
    served = platform.get("/asyncapi.json").json()
    assert served == asyncapi.document(config["AMQP_URI"])
    vhost = asyncapi.broker(config["AMQP_URI"])[2]
    assert vhost != "/" and served["servers"]["rabbitmq"]["description"].endswith(vhost)
    assert {c["bindings"]["amqp"]["exchange"]["vhost"] for c in served["channels"].values()} == {vhost}

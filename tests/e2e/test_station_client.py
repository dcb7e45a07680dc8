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
    assert sent["type"] == "need_reported" and sent["id"] == "call-0001"
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

"""services.community.handlers without a broker: a need registered, its resident sealed apart,
outcomes folded into need_linked once, redeliveries and races changing nothing twice."""
import eventlet
import pytest

from services.community import handlers
from wushe.contract import residents
from services.community.store import CommunityStore
from tests.unit.helpers import COMMUNITY, EVERYTHING, event
from wushe.contract.decisions import Refused
from wushe.runtime.subscribe import DUPLICATE

RESIDENT = {"name": "张桂兰", "phone": "13812345678", "address": "兴华里3号楼2门501"}
NEED = {"id": "need-0a1b2c3d4e5f6789", "community": COMMUNITY, "category": "medical_escort", "urgency": "high",
        "description": "独居老人周三需陪诊去泰达医院", "resident": RESIDENT, "requirements": EVERYTHING}


@pytest.fixture
def community(db, outbox, log):
    store = CommunityStore(db)
    store.ensure_indexes()
    c = handlers.Community(store, outbox, log, residents.Keyring.parse(residents.generate_key()))
    for path, name, level in [("tianjin", "天津市", "city"), ("tianjin/binhai", "滨海新区", "district"),
                              ("tianjin/binhai/taida", "泰达街道", "street"), (COMMUNITY, "星华社区", "community")]:
        handlers.add_region(c, {"path": path, "name": name, "level": level})
    return c


def test_a_need_is_stored_announced_and_its_resident_sealed_apart(community, outbox):
    answer, created = handlers.register_need(community, dict(NEED), "gateway")
    assert (answer, created) == ({"id": NEED["id"], "status": "registered"}, True)
    # the resident's forms go to the gateway's read model after the need's announcement
    assert outbox.types() == ["need_registered", "resident_sealed"]
    stored = community.store.needs.find_one({"_id": NEED["id"]})
    assert stored["outbox"] == [] and stored["resident_id"] and "resident" not in stored
    record = community.store.resident(stored["resident_id"])
    assert RESIDENT["phone"] not in str(record)  # sealed
    assert community.store.residents.find_one({"_id": record["_id"]})["outbox"] == []  # published
    sealed = outbox.published[1]["data"]
    assert sealed["need_id"] == NEED["id"] and sealed["resident"]["sealed"]["phone"] == record["phone"]
    assert sealed["resident"]["masked"] == {"name": "张**", "phone": "138****5678", "address": "****"}
    assert not [v for v in RESIDENT.values() if v in str(outbox.published)]
    assert handlers.resident_of(community, NEED["id"], reveal=True)["phone"] == RESIDENT["phone"]


def test_the_same_registration_again_answers_the_same_and_other_content_is_refused(community, outbox):
    handlers.register_need(community, dict(NEED), "gateway")
    assert handlers.register_need(community, dict(NEED), "gateway") == (
        {"id": NEED["id"], "status": "registered"}, False)
    with pytest.raises(Refused, match="exists with other content") as refused:
        handlers.register_need(community, {**NEED, "urgency": "low"}, "gateway")
    assert refused.value.kind == Refused.CONFLICT
    assert outbox.types() == ["need_registered", "resident_sealed"]  # announced once


def test_a_need_outside_a_registered_community_is_refused_naming_the_field(community, outbox):
    with pytest.raises(Refused) as refused:
        handlers.register_need(community, {**NEED, "community": "tianjin/binhai/taida/nowhere"}, "gateway")
    assert refused.value.kind == Refused.INVALID and list(refused.value.fields) == ["community"]
    assert outbox.published == [] and community.store.needs.count_documents({}) == 0


def test_outcomes_fold_into_need_linked_once_and_a_redelivery_changes_nothing(community, outbox):
    handlers.register_need(community, dict(NEED), "gateway")
    outcomes = [event(t, need_id=NEED["id"]) for t in ("org_matched", "worker_assigned", "call_filled",
                                                       "resource_pledged")]
    assert [handlers.fold_outcome(community, e) for e in outcomes] == [None] * 4
    assert handlers.fold_outcome(community, outcomes[-1]) == DUPLICATE
    assert outbox.types() == ["need_registered", "resident_sealed", "need_linked"]
    assert handlers.need(community, NEED["id"])["status"] == "linked"


def test_outcomes_folded_at_once_all_count_and_link_the_need_once(community, outbox):
    """Twelve outcomes of one need folded by concurrent workers: each is recorded by the
    compare-and-set on the need's version, none is lost, need_linked is announced once."""
    handlers.register_need(community, dict(NEED), "gateway")
    outcomes = [event(t, need_id=NEED["id"]) for t in ("org_matched", "worker_assigned", "call_filled",
                                                       "resource_pledged") * 3]
    pool = eventlet.GreenPool(12)
    list(pool.imap(lambda e: handlers.fold_outcome(community, e), outcomes))
    stored = community.store.needs.find_one({"_id": NEED["id"]})
    assert sorted(stored["applied"]) == sorted(e.id for e in outcomes) and stored["version"] == 12
    assert outbox.types().count("need_linked") == 1


def test_a_need_is_cancelled_once_and_an_unknown_one_is_missing(community, outbox):
    handlers.register_need(community, dict(NEED), "gateway")
    assert handlers.transition(community, NEED["id"], "cancelled", reason="家属已处理") == {
        "id": NEED["id"], "status": "cancelled"}
    with pytest.raises(Refused, match="can be cancelled only from") as again:
        handlers.transition(community, NEED["id"], "cancelled", reason="家属已处理")
    assert again.value.kind == Refused.CONFLICT
    with pytest.raises(Refused) as missing:
        handlers.transition(community, "need-nobody", "cancelled", reason="x")
    assert missing.value.kind == Refused.MISSING
    assert outbox.types() == ["need_registered", "resident_sealed", "need_cancelled"]


def test_erasing_a_resident_announces_it_once(community, outbox):
    handlers.register_need(community, dict(NEED), "gateway")
    resident_id = handlers.need(community, NEED["id"])["resident_id"]
    first = handlers.erase_resident(community, resident_id)
    assert handlers.erase_resident(community, resident_id) == first
    assert outbox.types() == ["need_registered", "resident_sealed", "resident_erased"]
    assert handlers.resident_of(community, NEED["id"]) is None


def station_report(data, source="station/hotline-236", report_id="call-0042"):
    from wushe.contract.events import load, new_event
    return load(new_event(source, "need_reported", data, event_id=report_id))


def test_a_station_report_records_who_reported_it(community, outbox):
    assert handlers.report_need(community, station_report(dict(NEED))) is None
    assert community.store.need(NEED["id"])["reported_by"] == "station/hotline-236"
    (registered,) = [e for e in outbox.published if e["type"] == "need_registered"]
    assert registered["data"]["reported_by"] == "station/hotline-236" and registered["data"]["channel"] == "station"
    handlers.register_need(community, {**NEED, "id": "need-by-api"}, "gateway")
    assert community.store.need("need-by-api")["reported_by"] is None


def test_a_refused_report_is_answered_once_by_field_without_the_residents_details(community, outbox):
    report = station_report({**NEED, "community": "tianjin/binhai/taida/nowhere"})
    for _ in range(2):  # redelivered: refused again, answered once
        with pytest.raises(Refused) as refused:
            handlers.report_need(community, report)
        assert list(refused.value.fields) == ["community"]
    (answer,) = outbox.published
    assert (answer["type"], answer["source"]) == ("need_report_refused", "community")
    assert answer["data"] == {"report_id": "call-0042", "reported_by": "station/hotline-236", "need_id": NEED["id"],
                              "errors": {"community": ["tianjin/binhai/taida/nowhere is not a registered community"]}}
    assert community.store.needs.count_documents({}) == 0


def test_an_invalid_report_is_answered_with_its_errors_by_field_path(community, outbox):
    from wushe.contract.events import InvalidEvent, load, unread
    body = {"id": "call-0043", "type": "need_reported", "version": 1, "source": "station/hotline-236",
            "time": "2026-11-23T08:00:00Z", "data": {**NEED, "resident": {**RESIDENT, "phone": "call me"},
                                                     "requirements": {"volunteers": {"count": 0}}}}
    with pytest.raises(InvalidEvent) as invalid:
        load(body)
    with pytest.raises(Refused):
        handlers.report_need(community, unread(body, invalid.value.errors))
    (answer,) = outbox.published
    assert answer["data"]["report_id"] == "call-0043" and answer["data"]["need_id"] == NEED["id"]
    assert sorted(answer["data"]["errors"]) == ["requirements.volunteers.count", "resident.phone"]
    assert not any(value in str(answer) for value in (*RESIDENT.values(), "call me"))

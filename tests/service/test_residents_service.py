"""The community service's resident records: sealed at rest, shown masked or not, erased."""
import json
from types import SimpleNamespace

import eventlet
import pytest
from nameko.standalone.rpc import ServiceRpcProxy

from wushe.contract import residents
from wushe.contract.residents import resident_id_for
from services.community.service import CommunityService, PersonalDataKeys
from tests.conftest import wait_for
from tests.service.test_community_service import XINGHUA, start
from wushe.runtime.config import nameko_config
from wushe.runtime.errors import Conflict, NotFound
from wushe.runtime.store import database

RESIDENT = {"name": "欧阳娜娜", "phone": "13912345678", "address": "天津市滨海新区泰达街道星华里3号楼2单元"}


def need(need_id="need-r1", **over):
    return {"id": need_id, "community": XINGHUA, "category": "errands", "urgency": "high",
            "description": "代购米面", "resident": RESIDENT, **over}


def raw(config, collection):
    return list(database(config["WUSHE"], "community")[collection].find())


def test_the_store_holds_only_ciphertext_and_a_retry_writes_no_second_record(container_factory, config):
    start(container_factory, config)
    with ServiceRpcProxy("community", config) as community:
        community.register_need(need())
        community.register_need(need())  # a retry
        [record] = raw(config, "residents")
        assert record["_id"] == resident_id_for("need-r1") and record["need_id"] == "need-r1"
        stored = json.dumps(raw(config, "residents") + raw(config, "needs"), ensure_ascii=False, default=str)
        for value in [*RESIDENT.values(), "星华里3号楼"]:
            assert value not in stored
        assert community.get_need("need-r1")["resident_id"] == record["_id"]
        assert community.resident_of("need-r1", True) == {"id": record["_id"], **RESIDENT, "masked": False}
        assert community.resident_of("need-r1", False) == {
            "id": record["_id"], "name": "欧***", "phone": "139****5678", "address": "天津市滨海新区****",
            "masked": True}


def test_a_refused_registration_leaves_no_resident_behind(container_factory, config):
    start(container_factory, config)
    with ServiceRpcProxy("community", config) as community:
        community.register_need(need(resident=None))
        with pytest.raises(Conflict):
            community.register_need(need(urgency="low"))  # same id, other content, with a resident
        assert raw(config, "residents") == []
        assert community.resident_of("need-r1", True) is None
        # fields not given are absent
        community.register_need(need("need-r2", resident={"phone": "13912345678"}))
        assert community.resident_of("need-r2", False) == {
            "id": resident_id_for("need-r2"), "phone": "139****5678", "masked": True}


def test_erasure_removes_the_data_keeps_the_need_and_announces_it_once(container_factory, config, tap):
    start(container_factory, config)
    with ServiceRpcProxy("community", config) as community:
        community.register_need(need())
        resident_id = resident_id_for("need-r1")
        assert community.get_resident(resident_id) == {
            "id": resident_id, "need_id": "need-r1", "community": XINGHUA, "erased_at": None}
        erased = community.erase_resident(resident_id)
        assert community.erase_resident(resident_id) == erased  # erasing again: the same answer
        assert community.resident_of("need-r1", True) is None
        [record] = raw(config, "residents")
        assert not {"name", "phone", "address"} & record.keys() and record["erased_at"] == erased["erased_at"]
        assert community.get_need("need-r1")["resident_erased_at"] == erased["erased_at"]
        assert community.get_need("need-r1")["status"] != "cancelled"
        # a retried registration does not write the data again
        community.register_need(need())
        assert not {"name", "phone", "address"} & raw(config, "residents")[0].keys()
        with pytest.raises(NotFound):
            community.erase_resident("res-nobody")
    [event] = wait_for(lambda: tap.of_type("resident_erased"))
    assert event["data"] == {"resident_id": resident_id, "need_id": "need-r1", "community": XINGHUA}
    assert event["subject"] == "need-r1"
    eventlet.sleep(0.3)
    assert len(tap.of_type("resident_erased")) == 1
    registered = tap.of_type("need_registered")
    assert registered[0]["data"]["has_resident"] is True


def test_without_a_key_the_service_refuses_to_start_on_a_durable_store(config):
    keys = PersonalDataKeys()
    keys.container = SimpleNamespace(config={"WUSHE": {
        **config["WUSHE"], "PII_KEY": "", "MONGO_URI": "mongodb://127.0.0.1:1/"}})
    with pytest.raises(RuntimeError, match="WUSHE_PII_KEY is unset"):
        keys.setup()


def test_without_a_key_on_the_embedded_store_one_is_generated(container_factory, config):
    embedded = nameko_config(env={}, AMQP_URI=config["AMQP_URI"], WUSHE={**config["WUSHE"], "PII_KEY": ""})
    container = container_factory(CommunityService, embedded)
    container.start()
    with ServiceRpcProxy("community", embedded) as community:
        community.add_region({"path": "tianjin", "name": "天津市", "level": "city"})
        for path, level in (("tianjin/binhai", "district"), ("tianjin/binhai/taida", "street"), (XINGHUA, "community")):
            community.add_region({"path": path, "name": path, "level": level})
        community.register_need(need())
        assert community.resident_of("need-r1", True)["name"] == RESIDENT["name"]


def test_a_record_sealed_under_a_key_no_longer_configured_is_shown_as_unreadable(container_factory, config):
    container = start(container_factory, config)
    with ServiceRpcProxy("community", config) as community:
        community.register_need(need())
    container.stop()
    rekeyed = nameko_config(env={}, AMQP_URI=config["AMQP_URI"],
                            WUSHE={**config["WUSHE"], "PII_KEY": residents.generate_key()})
    container_factory(CommunityService, rekeyed).start()
    with ServiceRpcProxy("community", rekeyed) as community:
        assert community.resident_of("need-r1", True) == {
            "id": resident_id_for("need-r1"), "masked": True, "unreadable": True}

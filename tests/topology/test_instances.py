"""Two instances of volunteers, charity and workers, and two gateways — separate processes on one
shared store server — raced by many clients at once. The invariants hold where the data lives,
not inside one process: exactly N claims for N slots, no lot beyond its quantity, no caseload
over its cap, and an event delivered twice (to either instance) changes nothing."""
import collections
import random

import eventlet
import kombu
import pytest

from tests.conftest import ADMIN_KEY, PII_KEY, RACES_IN_FLIGHT, Api, wait_for
from tests.chaos.checks import unsettled_needs
from tests.e2e.world import need, ok, seed
from tests.netports import free_port
from tests.processes import Topology
from tests.tap import EventTap
from wushe.runtime.config import nameko_config
from wushe.runtime.store import database

pytestmark = pytest.mark.e2e

NEEDS, SLOTS, RICE_KG, NEED_KG, COURIERS, CAP = 16, 3, 100, 10, 40, 4
OUTCOMES = ("worker_assigned", "worker_unavailable", "call_opened", "resource_pledged", "resource_shortfall")


@pytest.fixture
def scaled(rabbit_config, shared_store_uri, db_prefix, tmp_path):
    config = nameko_config(env={}, AMQP_URI=rabbit_config["AMQP_URI"], WEB_SERVER_ADDRESS=f"127.0.0.1:{free_port()}",
                           WUSHE={"MONGO_URI": shared_store_uri, "DB_PREFIX": db_prefix, "ADMIN_KEY": ADMIN_KEY,
                                  "PII_KEY": PII_KEY, "RPC_TIMEOUT": 20.0, "OUTBOX_RELAY_SECONDS": 0.2,
                                  "OUTBOX_GRACE_SECONDS": 1.0, "RETRY_DELAYS_MS": [100, 500], "MAX_ATTEMPTS": 5,
                                  "MAX_IN_FLIGHT": RACES_IN_FLIGHT})
    topology = Topology(config, tmp_path / "logs", "volunteers=2,charity=2,workers=2,gateway=2")
    with EventTap(config["AMQP_URI"]) as tap:
        topology.start(timeout=90)
        try:
            gateways = [Api(f"http://127.0.0.1:{port}", tap) for port in topology.ports]
            yield topology, gateways, tap, {name: database(config["WUSHE"], name)
                                            for name in ("community", "volunteers", "charity", "workers")}
        finally:
            topology.stop(kill=True)


def test_two_instances_of_each_racing_many_clients_keep_every_invariant(scaled):
    topology, gateways, tap, db = scaled
    assert len(topology.ports) == 2 and {"volunteers#1", "volunteers#2", "charity#2", "workers#2"} <= set(topology.labels)
    lot_id = seed(gateways[0], rice_kg=RICE_KG, couriers=COURIERS,
                  workers=(("worker-liu", "intermediate", CAP), ("worker-zhao", "none", CAP)))
    pool = eventlet.GreenPool(32)

    # 16 needs at once through both gateways: 160 kg asked of 100 kg, 16 cases for 8 places
    accepted = list(pool.imap(lambda i: gateways[i % 2].post("/needs", need(volunteers=SLOTS, rice=NEED_KG)),
                              range(NEEDS)))
    need_ids = [ok(answer, 202)["id"] for answer in accepted]
    calls = {}
    for need_id in need_ids:
        view = gateways[0].wait_need(need_id, lambda n: n["linkage"]["volunteers"].get("call_id")
                                     and n["linkage"]["worker"]["state"] != "pending"
                                     and n["linkage"]["resources"]["state"] != "pending", timeout=60)
        calls[view["linkage"]["volunteers"]["call_id"]] = need_id

    # 40 couriers each grab 5 calls at random, half through each gateway, all at once
    rng = random.Random(13)
    attempts = [(call_id, f"vol-{v}") for v in range(COURIERS) for call_id in rng.sample(sorted(calls), 5)]
    rng.shuffle(attempts)
    answers = list(pool.imap(lambda a: (a, gateways[rng.randrange(2)].post(f"/calls/{a[0]}/claims",
                                                                          {"volunteer_id": a[1]}).status_code),
                             attempts))
    assert {status for _, status in answers} <= {201, 409}, collections.Counter(s for _, s in answers)
    won = collections.defaultdict(set)
    for (call_id, volunteer), status in answers:
        if status == 201:
            won[call_id].add(volunteer)
    tried = collections.Counter(call_id for call_id, _ in attempts)

    # every need_registered delivered a second time, to whichever instance takes it
    registered = [e for e in tap.of_type("need_registered") if e["subject"] in need_ids]
    assert len({e["id"] for e in registered}) == NEEDS
    with kombu.Connection(tap.amqp_uri) as connection:
        producer = connection.Producer(serializer="json")
        for envelope in registered:
            producer.publish(envelope, exchange=kombu.Exchange("community.events", "topic", durable=True),
                             routing_key="need_registered", message_id=envelope["id"], retry=True)

    wait_for(lambda: not unsettled_needs(db), timeout=90, interval=0.5)
    eventlet.sleep(3)  # the republished copies are handled too (each instance's log says duplicate)

    # exactly N claims for N slots, and the ones answered 201 are the ones the store holds
    for call in db["volunteers"].calls.find({"_id": {"$in": list(calls)}}):
        assert len(call["claimed"]) == len(set(call["claimed"])) == min(SLOTS, tried[call["_id"]]), call["_id"]
        assert set(call["claimed"]) == won[call["_id"]], call["_id"]

    # never beyond the lot: its counters equal its pledges, and what was pledged fits
    lot = db["charity"].lots.find_one({"_id": lot_id})
    reserved = sum(p["quantity"] - p.get("delivered", 0) for p in lot["pledges"] if p["state"] == "reserved")
    assert lot["reserved"] == reserved <= RICE_KG and lot["available"] == RICE_KG - reserved
    assert len({p["pledge_id"] for p in lot["pledges"]}) == len(lot["pledges"]) == RICE_KG // NEED_KG

    # no caseload over its cap, each equal to the worker's open cases, one case per need
    for worker in db["workers"].workers.find():
        open_cases = db["workers"].cases.count_documents({"worker_id": worker["_id"], "state": "open"})
        assert worker["caseload"] == len(worker["cases"]) == open_cases == CAP, worker["_id"]
    per_need = collections.Counter(c["need_id"] for c in db["workers"].cases.find())
    assert len(per_need) == 2 * CAP and set(per_need.values()) == {1}

    # each party announced one outcome per need, however often and wherever the need arrived
    for event_type in OUTCOMES:
        ids_per_need = collections.defaultdict(set)
        for event in tap.of_type(event_type):
            ids_per_need[event["subject"]].add(event["id"])
        assert all(len(ids) == 1 for ids in ids_per_need.values()), event_type
    assert len(tap.of_type("call_opened")) >= NEEDS

    # both instances of each really competed for the work, and saw the copies as duplicates
    for service in ("volunteers", "charity", "workers"):
        for label in (f"{service}#1", f"{service}#2"):
            assert '"event": "event.handled"' in topology.log(label), f"{label} handled nothing"
    duplicates = sum(topology.log(label).count('"outcome": "duplicate"') for label in topology.labels)
    assert duplicates >= NEEDS * 3  # orgs, workers, volunteers, charity each saw every copy


def test_a_key_revoked_on_one_gateway_stops_working_on_the_other_within_a_second(scaled):
    """Each gateway trusts a key as it last read it for at most WUSHE_KEY_CACHE_SECONDS (1 s)."""
    _, gateways, _, _ = scaled
    seed(gateways[0])
    made = ok(gateways[0].post("/keys", {"role": "integrator", "name": "街道小程序"}), 201)
    as_key = {"Authorization": f"Bearer {made['key']}"}
    assert gateways[1].get("/regions", headers=as_key).status_code == 200  # read, and trusted, there
    assert gateways[0].delete(f"/keys/{made['id']}").status_code == 204
    revoked = eventlet.hubs.get_hub().clock()
    assert gateways[0].get("/regions", headers=as_key).status_code == 401  # here at once
    wait_for(lambda: gateways[1].get("/regions", headers=as_key).status_code == 401, timeout=5, interval=0.02)
    assert eventlet.hubs.get_hub().clock() - revoked < 1.5  # 1 s of trust, and the requests' own time

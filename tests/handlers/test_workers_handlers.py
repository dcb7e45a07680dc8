"""services.workers' use cases without a broker: assignment by the rules with one case per need,
the district queue draining when room appears, a leaving worker's cases handed over, case
stages, and many needs assigned at once never pushing a worker over its cap."""
import itertools
import random

import eventlet
import pytest

from services.workers import assignment, handlers
from services.workers.store import WorkersStore
from services.workers.domain import Rules
from wushe.contract.decisions import Refused
from wushe.runtime.subscribe import DUPLICATE

STREET = "tianjin/binhai/taida"
COMMUNITY = STREET + "/xinghua"
STATION = "station-taida"


def need(need_id, urgency="normal", category="errands", community=COMMUNITY, minute=0, worker=True):
    street = community.rsplit("/", 1)[0]
    return {"need_id": need_id, "community": community, "street": street, "district": street.rsplit("/", 1)[0],
            "category": category, "urgency": urgency, "registered_at": f"2026-11-23T08:{minute:02d}:00.000000Z",
            "requirements": {"worker": worker, "organisation": True, "volunteers": None, "resources": None}}


def staff(worker_id, certification="senior", max_caseload=None, specialties=()):
    return {"id": worker_id, "name": worker_id, "station_id": STATION, "certification": certification,
            "specialties": list(specialties), **({"max_caseload": max_caseload} if max_caseload else {})}


class YieldingStore(WorkersStore):
    """The real store, giving way to other green threads before and after its reads and writes,
    a seeded random number of times, as a store across the network does: concurrent use cases
    interleave in many orders, each run the same."""
    rng = random.Random(0)

    def _give_way(self):
        for _ in range(self.rng.randint(0, 3)):
            eventlet.sleep(0)

    def _yielding(name):
        def method(self, *args, **kwargs):
            self._give_way()
            done = getattr(WorkersStore, name)(self, *args, **kwargs)
            self._give_way()
            return done
        return method

    for _name in ("station_workers", "holder_of", "take_case", "release_case", "open_case", "open_case_of",
                  "move_stage", "decision", "add_decision", "decide", "waiting"):
        locals()[_name] = _yielding(_name)
    del _name, _yielding


def context(db, outbox, log, store_cls=WorkersStore):
    store = store_cls(db)
    store.ensure_indexes()
    clock = (f"2026-11-23T09:00:00.{n:06d}Z" for n in itertools.count())
    return handlers.Workers(store, outbox, log, Rules(), now=lambda: next(clock))


@pytest.fixture
def workers(db, outbox, log):
    c = context(db, outbox, log)
    handlers.add_station(c, {"id": STATION, "name": "泰达街道社工站", "street": STREET})
    return c


def published(outbox, event_type, need_id=None):
    return [e for e in outbox.published if e["type"] == event_type and need_id in (None, e["subject"])]


def caseload(c, worker_id):
    return handlers.worker(c, worker_id)["caseload"]


def assert_caseloads_hold(store):
    """Every worker's caseload is its open cases, never over its cap; a need is held once."""
    held = []
    for w in store.workers.find():
        open_cases = store.cases.count_documents({"worker_id": w["_id"], "state": "open"})
        assert w["caseload"] == len(w["cases"]) == open_cases <= w["max_caseload"], w["_id"]
        held += [entry["need_id"] for entry in w["cases"]]
    assert len(held) == len(set(held))


def test_assignment_follows_the_rules_and_a_redelivery_makes_no_second_case(workers, outbox):
    handlers.add_worker(workers, staff("w-new", "none", 5, specialties=["errands"]))
    handlers.add_worker(workers, staff("w-cert", "intermediate", 1))
    assert assignment.assign_need(workers, need("need-a", "critical")) is None
    assert assignment.assign_need(workers, need("need-a", "critical")) == DUPLICATE  # redelivered
    assignment.assign_need(workers, need("need-b", "critical"))  # the certified worker is full now
    assignment.assign_need(workers, need("need-c", community="tianjin/hexi/youyi/x"))  # no station there
    assignment.assign_need(workers, need("need-d", worker=False))  # asks no worker: nothing decided

    assert [e["data"]["worker_id"] for e in published(outbox, "worker_assigned")] == ["w-cert", "w-new"]
    assigned = published(outbox, "worker_assigned", "need-a")[0]["data"]
    assert assigned == {"need_id": "need-a", "community": COMMUNITY, "worker_id": "w-cert",
                        "case_id": "case-a", "station_id": STATION, "reassigned_from": None, "from_queue": False}
    unavailable = published(outbox, "worker_unavailable")[0]["data"]
    assert (unavailable["need_id"], unavailable["reason"], unavailable["station_id"],
            unavailable["escalated_to"]) == ("need-c", "no_station", None, "tianjin/hexi")
    case = handlers.case(workers, "case-a")
    assert (case["worker_id"], case["stage"], case["state"], case["activities"]) == ("w-cert", "identified", "open", 0)
    assert workers.store.cases.count_documents({}) == 2 and workers.store.needs.count_documents({}) == 3
    assert (caseload(workers, "w-cert"), caseload(workers, "w-new")) == (1, 1)
    assert_caseloads_hold(workers.store)


def test_a_need_nobody_has_room_for_waits_on_the_district_queue_until_a_worker_has_room(workers, outbox):
    handlers.add_worker(workers, staff("w-solo", "assistant", 1))
    assignment.assign_need(workers, need("need-first"))
    assignment.assign_need(workers, need("need-old", "normal", minute=1))
    assignment.assign_need(workers, need("need-urgent", "critical", minute=2))
    assert [e["data"]["reason"] for e in published(outbox, "worker_unavailable")] == ["no_worker_with_room"] * 2

    assignment.close(workers, "need-first", "need_resolved")  # room again: the most urgent goes first
    from_queue = published(outbox, "worker_assigned", "need-urgent")[0]["data"]
    assert from_queue["from_queue"] is True and from_queue["worker_id"] == "w-solo"
    assert published(outbox, "case_closed", "need-first")[0]["data"]["reason"] == "need_resolved"
    assert not published(outbox, "worker_assigned", "need-old")

    shown = handlers.certify(workers, "w-solo", "senior")  # a cap set by hand stays: still no room
    assert (shown["certification"], shown["max_caseload"]) == ("senior", 1)
    assert not published(outbox, "worker_assigned", "need-old")
    joined = handlers.add_worker(workers, staff("w-new", "none"))  # a new worker: the queue moves
    assert joined["caseload"] == 1 and joined["certify_by"]
    assert published(outbox, "worker_assigned", "need-old")[0]["data"]["worker_id"] == "w-new"
    assert workers.store.waiting(STREET) == []
    assert_caseloads_hold(workers.store)


def test_a_cancelled_need_leaves_the_queue_and_a_cancellation_first_means_no_case(workers, outbox):
    handlers.add_worker(workers, staff("w-solo", max_caseload=1))
    assignment.cancel_need(workers, "need-early")
    assert assignment.assign_need(workers, need("need-early")) is None
    assignment.assign_need(workers, need("need-a"))
    assignment.assign_need(workers, need("need-waiting"))
    assignment.cancel_need(workers, "need-waiting")  # leaves the queue
    assignment.cancel_need(workers, "need-a")
    assignment.cancel_need(workers, "need-a")  # redelivered: closes nothing twice
    assert [e["subject"] for e in published(outbox, "worker_assigned")] == ["need-a"]
    assert [e["data"]["reason"] for e in published(outbox, "case_closed")] == ["need_cancelled"]
    assert caseload(workers, "w-solo") == 0 and workers.store.waiting(STREET) == []
    assert handlers.case(workers, "case-a")["state"] == "closed"


def test_a_leaving_worker_hands_cases_to_a_colleague_then_to_the_district_queue(workers, outbox):
    handlers.add_worker(workers, staff("w-liu", "intermediate"))
    assignment.assign_need(workers, need("need-a"))
    first = published(outbox, "worker_assigned")[0]["data"]["worker_id"]
    handlers.add_worker(workers, staff("w-zhao"))

    left = handlers.leave(workers, first, "调岗")
    assert left == {"worker_id": first, "active": False, "queued": [],
                    "reassigned": [{"case_id": "case-a", "need_id": "need-a", "to": "w-zhao"}]}
    handed = published(outbox, "worker_assigned")[-1]["data"]
    assert (handed["worker_id"], handed["reassigned_from"]) == ("w-zhao", first)
    assert workers.store.decision("need-a")["worker_id"] == "w-zhao"
    with pytest.raises(Refused, match="already left") as again:
        handlers.leave(workers, first, "")
    assert again.value.kind == Refused.CONFLICT
    with pytest.raises(Refused) as missing:
        handlers.leave(workers, "w-nobody", "")
    assert missing.value.kind == Refused.MISSING

    left = handlers.leave(workers, "w-zhao", "")  # nobody left with room: the queue
    assert left["reassigned"] == [] and left["queued"] == ["case-a"]
    queued = published(outbox, "worker_unavailable")[-1]["data"]
    assert (queued["reason"], queued["escalated_to"]) == ("worker_left", "tianjin/binhai")
    assert handlers.case(workers, "case-a")["worker_id"] is None

    handlers.add_worker(workers, staff("w-new", "none"))  # room again: the orphaned case is adopted
    assert handlers.case(workers, "case-a")["worker_id"] == "w-new"
    assert published(outbox, "worker_assigned")[-1]["data"]["from_queue"] is True
    assert workers.store.cases.count_documents({}) == 1
    assert_caseloads_hold(workers.store)


def test_a_case_moves_through_its_stages_closes_and_reopens_with_room(workers, outbox):
    handlers.add_worker(workers, staff("w-solo", max_caseload=1))
    assignment.assign_need(workers, need("need-a"))
    with pytest.raises(Refused, match="assessed") as illegal:
        handlers.change_stage(workers, "case-a", "in_service")
    assert illegal.value.kind == Refused.CONFLICT
    for stage in ("assessed", "planned", "in_service", "evaluated"):
        assert handlers.change_stage(workers, "case-a", stage)["stage"] == stage
    activity = handlers.record_activity(workers, "case-a", {"kind": "household_visit", "participants": 1,
                                                            "note": "入户走访"})
    assert activity["kind"] == "household_visit" and "note" not in activity and activity["worker_id"] == "w-solo"
    assignment.assign_need(workers, need("need-b"))  # waits: the worker is full
    closed = handlers.change_stage(workers, "case-a", "closed")
    assert (closed["state"], closed["activities"]) == ("closed", 1)
    assert published(outbox, "case_closed")[0]["data"]["reason"] == "case_closed"
    assert published(outbox, "worker_assigned", "need-b")  # the closed case's room went to the queue
    with pytest.raises(Refused, match="no room"):
        handlers.change_stage(workers, "case-a", "in_service")
    assert [e["data"]["to_stage"] for e in published(outbox, "case_stage_changed", "need-a")] == [
        "assessed", "planned", "in_service", "evaluated", "closed"]
    with pytest.raises(Refused) as missing:
        handlers.change_stage(workers, "case-nobody", "assessed")
    assert missing.value.kind == Refused.MISSING
    assert_caseloads_hold(workers.store)


def test_workers_and_stations_are_refused_by_the_rules(workers):
    with pytest.raises(Refused, match="already serves"):
        handlers.add_station(workers, {"name": "又一个", "street": STREET})
    with pytest.raises(Refused) as unknown:
        handlers.add_worker(workers, {**staff("w-x"), "station_id": "station-nowhere"})
    assert unknown.value.kind == Refused.INVALID and list(unknown.value.fields) == ["station_id"]
    handlers.add_worker(workers, staff("w-zhu", "assistant"))
    with pytest.raises(Refused) as peer:
        handlers.add_worker(workers, {**staff("w-y", "assistant"), "supervisor_id": "w-zhu"})
    assert peer.value.kind == Refused.INVALID and "higher" in peer.value.fields["supervisor_id"][0]
    with pytest.raises(Refused, match="exists"):
        handlers.add_worker(workers, staff("w-zhu", "assistant"))
    with pytest.raises(Refused, match="only goes up"):
        handlers.certify(workers, "w-zhu", "assistant")
    assert handlers.certify(workers, "w-zhu", "intermediate")["max_caseload"] == 12  # the level's cap follows
    station = handlers.station(workers, STATION)
    assert station["workers"] == 1 and not station["compliant"]


@pytest.mark.parametrize("seed", range(8))
def test_needs_assigned_at_once_never_push_a_worker_over_its_cap_nor_make_two_cases(db, outbox, log, seed):
    """Twenty needs, each delivered three times, assigned by concurrent green threads that give
    way around every read and write, to a station whose caseloads hold seven: each take is one
    conditional update and a lost one ranks again; a delivery that took a worker after another
    opened the need's case gives its take back. Every worker ends at its cap, each need has at
    most one case, one decision and one announcement, and the other needs wait on the queue."""
    YieldingStore.rng = random.Random(seed)
    c = context(db, outbox, log, YieldingStore)
    handlers.add_station(c, {"id": STATION, "name": "泰达街道社工站", "street": STREET})
    for worker_id, certification, cap in (("w-a", "none", 2), ("w-b", "senior", 2), ("w-c", "intermediate", 3)):
        handlers.add_worker(c, staff(worker_id, certification, cap))
    needs = [need(f"need-{i:02d}", ("critical", "normal")[i % 2], minute=i) for i in range(20)]
    deliveries = needs * 3
    random.Random(seed).shuffle(deliveries)
    list(eventlet.GreenPool(60).imap(lambda n: assignment.assign_need(c, n), deliveries))

    assert_caseloads_hold(c.store)
    assert [caseload(c, w) for w in ("w-a", "w-b", "w-c")] == [2, 2, 3]
    decisions = {d["_id"]: d for d in c.store.needs.find()}
    assigned = [n for n, d in decisions.items() if d["outcome"] == "assigned"]
    assert len(decisions) == 20 and len(assigned) == 7
    assert sorted(c.store.cases.distinct("need_id")) == sorted(assigned)
    assert all(c.store.cases.find_one({"need_id": n})["worker_id"] == decisions[n]["worker_id"] for n in assigned)
    # one announcement per need (a redelivery may publish a pending one again: the same id)
    announced = {e["id"]: e["subject"] for e in published(outbox, "worker_assigned")}
    assert sorted(announced.values()) == sorted(assigned)

    # room appears in several ways at once: the queue drains into it, each need once
    before = len(outbox.published)
    joins = [lambda i=i: handlers.add_worker(c, staff(f"w-new{i}", "none", 2)) for i in range(3)]
    closes = [lambda n=n: assignment.close(c, n, "need_resolved") for n in assigned[:4]]
    list(eventlet.GreenPool(10).imap(lambda run: run(), joins + closes))
    assert_caseloads_hold(c.store)
    from_queue = list({e["id"]: e["subject"] for e in outbox.published[before:]
                       if e["type"] == "worker_assigned"}.values())
    assert len(from_queue) == len(set(from_queue)) == 4 + 3 * 2
    assert not set(from_queue) & set(assigned)
    assert len(c.store.waiting(STREET)) == 13 - 10
    assert c.store.cases.count_documents({"state": "open"}) == 7 + 6

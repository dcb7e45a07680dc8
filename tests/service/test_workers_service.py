"""The workers service alone: assignment from need_registered, idempotent under redelivery."""
from nameko.testing.services import entrypoint_hook, entrypoint_waiter

from services.workers.service import WorkersService
from tests.conftest import wait_for
from tests.service.conftest import need_cancelled, need_registered


def start(container_factory, config, workers):
    container = container_factory(WorkersService, config)
    container.start()
    with entrypoint_hook(container, "add_station") as add_station:
        add_station({"id": "station-taida", "name": "泰达街道社工站", "street": "tianjin/binhai/taida"})
    with entrypoint_hook(container, "add_worker") as add_worker:
        for worker in workers:
            add_worker({"station_id": "station-taida", **worker})
    return container


def _announced(tap, source, count):
    """The tap hears every source, the events a test publishes too: `count` of `source`'s own, or None."""
    found = [e for e in tap.events if e["source"] == source]
    return found if len(found) >= count else None


def caseload(container, worker_id):
    with entrypoint_hook(container, "get_worker") as get_worker:
        return get_worker(worker_id)["caseload"]


def test_a_redelivered_need_gets_one_case_and_one_announcement(container_factory, config, publish, tap):
    container = start(container_factory, config, [{"id": "w1", "name": "刘", "certification": "senior"}])
    event = need_registered()
    for _ in range(3):  # the same event id three times, as a redelivery would
        with entrypoint_waiter(container, "on_need_registered"):
            publish(event)
    assert caseload(container, "w1") == 1
    assigned = wait_for(lambda: tap.of_type("worker_assigned"))
    assert len(assigned) == 1 and assigned[0]["data"]["case_id"] == "case-t1"
    assert assigned[0]["correlation_id"] == "need-t1"


def test_critical_needs_go_to_a_certified_worker_and_a_full_station_escalates(container_factory, config, publish, tap):
    container = start(container_factory, config, [
        {"id": "w-new", "name": "赵", "certification": "none", "specialties": ["errands"], "max_caseload": 5},
        {"id": "w-cert", "name": "刘", "certification": "intermediate", "max_caseload": 1}])
    with entrypoint_waiter(container, "on_need_registered"):
        publish(need_registered("need-a", urgency="critical"))
    with entrypoint_waiter(container, "on_need_registered"):
        publish(need_registered("need-b", urgency="critical"))  # the certified one is full now
    with entrypoint_waiter(container, "on_need_registered"):
        publish(need_registered("need-c", community="tianjin/hexi/youyi/x"))  # no station there
    by_need = {e["subject"]: e for e in wait_for(lambda: _announced(tap, "workers", 3))}
    assert by_need["need-a"]["data"]["worker_id"] == "w-cert"
    assert by_need["need-b"]["data"]["worker_id"] == "w-new"
    assert by_need["need-c"]["type"] == "worker_unavailable"
    assert by_need["need-c"]["data"]["reason"] == "no_station"
    assert by_need["need-c"]["data"]["escalated_to"] == "tianjin/hexi"


def test_a_cancellation_that_arrives_first_means_no_case(container_factory, config, publish, tap):
    container = start(container_factory, config, [{"id": "w1", "name": "刘", "certification": "senior"}])
    with entrypoint_waiter(container, "on_need_cancelled"):
        publish(need_cancelled())
    with entrypoint_waiter(container, "on_need_registered"):
        publish(need_registered())
    assert caseload(container, "w1") == 0
    assert tap.of_type("worker_assigned") == []


def test_cancelling_closes_the_case_once_and_frees_the_caseload(container_factory, config, publish, tap):
    container = start(container_factory, config, [{"id": "w1", "name": "刘", "certification": "senior"}])
    with entrypoint_waiter(container, "on_need_registered"):
        publish(need_registered())
    cancelled = need_cancelled()
    for _ in range(2):
        with entrypoint_waiter(container, "on_need_cancelled"):
            publish(cancelled)
    assert caseload(container, "w1") == 0
    closed = wait_for(lambda: tap.of_type("case_closed"))
    assert len(closed) == 1 and closed[0]["data"]["reason"] == "need_cancelled"

"""The charity service alone: pledging is idempotent, never beyond a lot, released on cancel."""
from nameko.testing.services import entrypoint_hook, entrypoint_waiter

from services.charity.service import CharityService
from tests.conftest import wait_for
from tests.service.conftest import need_cancelled, need_registered

RICE = [{"item": "rice", "quantity": 30, "unit": "kg"}]


def start(container_factory, config):
    container = container_factory(CharityService, config)
    container.start()
    with entrypoint_hook(container, "add_donor") as add_donor:
        add_donor({"id": "d1", "name": "滨海粮油", "kind": "enterprise", "region": "tianjin/binhai"})
    lots = {}
    with entrypoint_hook(container, "donate") as donate:
        for region, kg in (("tianjin", 100), ("tianjin/binhai", 20), ("tianjin/binhai/taida", 20)):
            lots[region] = donate({"donor_id": "d1", "region": region, "lines": [
                {"item": "rice", "quantity": kg, "unit": "kg"}]})["lots"][0]["id"]
    return container, lots


def lot(container, lot_id):
    with entrypoint_hook(container, "get_lot") as get_lot:
        return get_lot(lot_id)


def test_nearest_lots_first_and_a_redelivery_reserves_nothing_twice(container_factory, config, publish, tap):
    container, lots = start(container_factory, config)
    event = need_registered(resources=RICE, worker=False)
    for _ in range(3):
        with entrypoint_waiter(container, "on_need_registered"):
            publish(event)
    street, district, city = (lot(container, lots[r]) for r in ("tianjin/binhai/taida", "tianjin/binhai", "tianjin"))
    assert (street["reserved"], district["reserved"], city["reserved"]) == (20, 10, 0)
    pledged = wait_for(lambda: tap.of_type("resource_pledged"))
    assert len(pledged) == 1
    assert [(p["lot_id"], p["quantity"]) for p in pledged[0]["data"]["pledges"]] == \
        [(lots["tianjin/binhai/taida"], 20), (lots["tianjin/binhai"], 10)]


def test_cancelling_releases_every_pledge_once(container_factory, config, publish, tap):
    container, lots = start(container_factory, config)
    with entrypoint_waiter(container, "on_need_registered"):
        publish(need_registered(resources=RICE, worker=False))
    for _ in range(2):
        with entrypoint_waiter(container, "on_need_cancelled"):
            publish(need_cancelled())
    for lot_id in lots.values():
        current = lot(container, lot_id)
        assert current["reserved"] == 0 and current["available"] == current["quantity"]
    released = wait_for(lambda: tap.of_type("pledge_released"))
    assert len(released) == 1 and len(released[0]["data"]["pledges"]) == 2


def test_a_shortfall_names_the_missing_lines(container_factory, config, publish, tap):
    container, _ = start(container_factory, config)
    with entrypoint_waiter(container, "on_need_registered"):
        publish(need_registered(worker=False, resources=[{"item": "rice", "quantity": 150, "unit": "kg"},
                                                         {"item": "masks", "quantity": 500, "unit": "pcs"},
                                                         {"funds_cents": 50000}]))
    shortfall = wait_for(lambda: tap.of_type("resource_shortfall"))[0]["data"]
    assert sum(p["quantity"] for p in shortfall["pledges"]) == 140
    assert shortfall["shortfall"] == [{"item": "rice", "quantity": 10, "unit": "kg"},
                                      {"item": "masks", "quantity": 500, "unit": "pcs"},
                                      {"item": "funds", "quantity": 50000, "unit": "cents"}]


def test_delivering_one_pledge_of_a_lot_touches_that_pledge_only(container_factory, config, publish, tap):
    container, lots = start(container_factory, config)
    for need_id in ("need-a", "need-b", "need-c"):
        with entrypoint_waiter(container, "on_need_registered"):
            publish(need_registered(need_id, worker=False, resources=[{"item": "rice", "quantity": 5, "unit": "kg"}]))
    pledged = wait_for(lambda: len(tap.of_type("resource_pledged")) == 3 and tap.of_type("resource_pledged"))
    middle = next(e for e in pledged if e["subject"] == "need-b")["data"]["pledges"][0]
    with entrypoint_hook(container, "deliver_pledge") as deliver:
        assert deliver(middle["pledge_id"])["state"] == "delivered"
    street = lot(container, lots["tianjin/binhai/taida"])
    assert (street["reserved"], street["delivered"]) == (10, 5)
    with entrypoint_waiter(container, "on_need_cancelled"):
        publish(need_cancelled("need-a"))
    street = lot(container, lots["tianjin/binhai/taida"])
    assert (street["reserved"], street["delivered"], street["available"]) == (5, 5, 10)

"""The charity service alone: appeals are filled even when a crash came in between."""
from nameko.testing.services import entrypoint_hook, entrypoint_waiter

from services.charity import domain, donations
from services.charity.service import CharityService
from services.charity.store import CharityStore
from tests.conftest import wait_for
from tests.service.conftest import need_registered
from wushe.contract.events import stamped
from wushe.runtime.store import database

STREET = "tianjin/binhai/taida"
FLOUR = [{"item": "flour", "quantity": 10, "unit": "kg"}]
DONOR = {"_id": "d1", "kind": "enterprise", "region": "tianjin/binhai"}


def start(container_factory, config, publish, need_id="need-t1"):
    """The service with one open appeal: a need for 10 kg flour, and no flour anywhere."""
    container = container_factory(CharityService, config)
    container.start()
    with entrypoint_hook(container, "add_donor") as add_donor:
        add_donor({"id": "d1", "name": "滨海粮油", "kind": "enterprise", "region": "tianjin/binhai"})
    with entrypoint_waiter(container, "on_need_registered"):
        publish(need_registered(need_id, resources=FLOUR, worker=False))
    return container, CharityStore(database(config["WUSHE"], "charity"))


AT = "2026-11-23T09:00:00.000000Z"


def flour_donation(donation_id, kg):
    return donations.donation(donation_id, DONOR, STREET, [{"item": "flour", "quantity": kg, "unit": "kg"}], AT)


def test_lots_whose_event_was_lost_are_pledged_by_the_periodic_check(container_factory, config, publish, tap):
    container, store = start(container_factory, config, publish)
    assert store.allocations.find_one({"_id": "need-t1"})["state"] == "shortfall"
    # lots stored, then a crash: no donation_received ever goes out
    store.add_lots(donations.lots_of(flour_donation("donation-lost", 25)))
    with entrypoint_hook(container, "settle") as settle:
        settle()
    pledged = wait_for(lambda: tap.of_type("resource_pledged", "need-t1"))
    assert [p["quantity"] for p in pledged[0]["data"]["pledges"]] == [10]
    assert store.allocations.find_one({"_id": "need-t1"})["state"] == "pledged"
    lot = store.lots.find_one({"_id": donations.lot_id("donation-lost", 0)})
    assert (lot["reserved"], lot["available"]) == (10, 15)


def test_a_donation_recorded_before_a_crash_makes_its_lots_and_fills_the_appeal(container_factory, config, publish, tap):
    container, store = start(container_factory, config, publish)
    # the donation's record (with its event) was stored, then a crash before its lots were made
    record = flour_donation("donation-crashed", 4)
    store.donations.insert_one({**record, "outbox": [stamped("charity", donations.received(record), AT)]})
    shortfall = wait_for(lambda: tap.of_type("resource_shortfall", "need-t1")[1:])  # the first is the original
    assert shortfall[0]["data"]["shortfall"] == [{"item": "flour", "quantity": 6, "unit": "kg"}]
    lot = store.lots.find_one({"_id": donations.lot_id("donation-crashed", 0)})
    assert (lot["quantity"], lot["reserved"]) == (4, 4)


def test_a_silent_holder_round_is_taken_over_and_its_reservations_adopted(container_factory, config, publish, tap):
    container, store = start(container_factory, config, publish)
    [lot] = store.add_lots(donations.lots_of(flour_donation("donation-a", 30)))
    # a worker held the appeal, reserved 4 kg of its round, and died before recording them
    allocation = store.allocations.find_one({"_id": "need-t1"})
    held = store.hold(allocation, "fill-dead", "round-1", AT)
    pledge = {"pledge_id": domain.pledge_id("need-t1", 0, lot["_id"], "round-1"), "need_id": "need-t1",
              "community": held["community"], "line": 0, "round": "round-1"}
    assert store.reserve(lot["_id"], pledge, 4.0)
    with entrypoint_hook(container, "settle") as settle:
        settle()
    pledged = wait_for(lambda: tap.of_type("resource_pledged", "need-t1"))
    assert sorted(p["quantity"] for p in pledged[0]["data"]["pledges"]) == [4, 6]
    lot = store.lots.find_one({"_id": lot["_id"]})
    assert (lot["reserved"], lot["available"], len(lot["pledges"])) == (10, 20, 2)
    assert "pending" not in store.allocations.find_one({"_id": "need-t1"})


def test_a_cancelled_need_closes_its_appeal_and_takes_nothing(container_factory, config, publish, tap):
    from tests.service.conftest import need_cancelled
    container, store = start(container_factory, config, publish)
    with entrypoint_waiter(container, "on_need_cancelled"):
        publish(need_cancelled("need-t1"))
    with entrypoint_hook(container, "list_appeals") as list_appeals:
        assert list_appeals()["items"] == []
    store.add_lots(donations.lots_of(flour_donation("donation-late", 25)))
    with entrypoint_hook(container, "settle") as settle:
        settle()
    assert store.lots.find_one({"_id": donations.lot_id("donation-late", 0)})["reserved"] == 0


def test_donations_at_once_never_pledge_an_appeal_beyond_its_shortfall(container_factory, config, publish, tap):
    container, store = start(container_factory, config, publish)
    records = [flour_donation(f"donation-{i}", 3) for i in range(6)]  # 18 kg for 10 kg missing
    for record in records:
        store.add_lots(donations.lots_of(record))
    handled = []
    with entrypoint_waiter(container, "on_donation_received", timeout=20,
                           callback=lambda *_: handled.append(1) or len(handled) == len(records)):
        for record in records:  # all six handlers run at once
            publish(stamped("charity", donations.received(record), AT))
    allocation = store.allocations.find_one({"_id": "need-t1"})
    assert allocation["state"] == "pledged" and allocation["shortfall"] == []
    assert sum(p["quantity"] for p in allocation["pledges"]) == 10
    lots = list(store.lots.find({"item": "flour"}))
    assert sum(lot["reserved"] for lot in lots) == 10
    assert all(0 <= lot["reserved"] <= lot["quantity"] for lot in lots)
    assert {p["pledge_id"] for lot in lots for p in lot["pledges"]} == {p["pledge_id"] for p in allocation["pledges"]}
    assert len(wait_for(lambda: tap.of_type("resource_pledged", "need-t1"))) == 1

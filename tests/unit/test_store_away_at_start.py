"""A store that goes away while a service starts is waited for, not died of: the Store's own
indexes and the outbox's, which is made a moment later when the Outbox starts, go through the
same wait. (A process that died here was restarted into the same outage, and five such deaths
in a minute stop `wushe run`'s whole platform.)"""
from types import SimpleNamespace

import pytest
from pymongo.errors import AutoReconnect, ServerSelectionTimeoutError

from wushe.runtime import store as store_module
from wushe.runtime.outbox import PENDING_INDEX, Outbox
from wushe.runtime.store import Store


class AwayFor:
    """A collection whose first `times` index builds fail as pymongo's do while the server is away."""

    def __init__(self, times, error):
        self.left, self.error, self.built = times, error, []

    def create_index(self, key, **options):
        if self.left:
            self.left -= 1
            raise self.error("127.0.0.1:27017: [Errno 111] Connection refused")
        self.built.append((key, options["name"]))


class Container:
    service_name = "volunteers"

    def __init__(self):
        self.dependencies, self.threads = [], []

    def spawn_managed_thread(self, run, identifier):
        self.threads.append(identifier)


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setattr(store_module.eventlet, "sleep", lambda seconds: None)


def started(store):
    container = Container()
    dependency = Store(type(store))
    dependency.container, dependency.store = container, store
    container.dependencies.append(dependency)
    return container, dependency


def test_the_outbox_index_is_waited_for_when_the_store_goes_away_after_the_stores_setup():
    calls = AwayFor(3, ServerSelectionTimeoutError)
    container, _ = started(SimpleNamespace(calls=calls))
    outbox = Outbox(lambda s: [s.calls])
    outbox.container = container
    outbox.start()
    assert calls.built == [("outbox.time", PENDING_INDEX)] and calls.left == 0
    assert container.threads == ["outbox-relay"]


def test_until_reachable_gives_back_the_actions_result_and_lets_other_errors_through():
    _, dependency = started(object())
    away = AwayFor(2, AutoReconnect)
    assert dependency.until_reachable(lambda: away.create_index("k", name="n") or "built") == "built"
    assert away.built == [("k", "n")]

    def refused():
        raise ValueError("not a connection failure")

    with pytest.raises(ValueError):
        dependency.until_reachable(refused)

"""What one gateway process remembers of API keys: a revocation elsewhere takes effect within
the cache's time, one here at once; a key's use is recorded once a minute."""
from gateway import keys


class Keys:
    """A KeyStore's reads and writes, counted."""

    def __init__(self):
        self.docs, self.reads, self.touches = {}, 0, []

    def find(self, key_id):
        self.reads += 1
        doc = self.docs.get(key_id)
        return dict(doc) if doc else None

    def touch(self, doc, at):
        self.touches.append((doc["_id"], at))


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def setup():
    store, clock = Keys(), Clock()
    doc, token = keys.new_key("station", "tianjin/binhai/taida", "2026-12-04T08:00:00.000000Z", "bootstrap")
    store.docs[doc["_id"]] = doc
    return store, clock, doc, keys.parse(token)[1], keys.RecentKeys(1.0, clock)


def test_a_key_read_once_a_second_at_most_and_a_revocation_elsewhere_seen_within_it():
    store, clock, doc, secret, recent = setup()
    for _ in range(100):
        assert keys.matches(recent.find(store, doc["_id"]), secret)
    assert store.reads == 1
    store.docs[doc["_id"]]["revoked_at"] = "2026-12-04T08:01:00.000000Z"  # another gateway revoked it
    clock.now += 0.99
    assert keys.matches(recent.find(store, doc["_id"]), secret)  # still within the second
    clock.now += 0.01
    assert not keys.matches(recent.find(store, doc["_id"]), secret)
    assert store.reads == 2


def test_a_key_revoked_here_stops_at_once_and_unknown_ids_do_not_grow_the_cache_without_bound():
    store, clock, doc, secret, recent = setup()
    recent.find(store, doc["_id"])
    store.docs[doc["_id"]]["revoked_at"] = "2026-12-04T08:01:00.000000Z"
    recent.forget(doc["_id"])
    assert not keys.matches(recent.find(store, doc["_id"]), secret)
    small = keys.RecentKeys(1.0, clock, entries=10)
    for n in range(25):
        assert small.find(store, f"key-made-up-{n}") is None
    assert len(small.read) <= 10


def test_a_zero_cache_reads_every_time():
    store, clock, doc, secret, _ = setup()
    recent = keys.RecentKeys(0.0, clock)
    for _ in range(3):
        recent.find(store, doc["_id"])
    assert store.reads == 3


def test_a_keys_use_is_recorded_once_a_minute_and_its_time_asked_only_then():
    store, clock, doc, _, recent = setup()
    asked = []

    def now_iso():
        asked.append(clock.now)
        return f"t{clock.now:g}"
    for _ in range(50):
        recent.touch(store, doc, now_iso)
    clock.now += keys.TOUCH_EVERY_SECONDS
    recent.touch(store, doc, now_iso)
    assert store.touches == [(doc["_id"], "t100"), (doc["_id"], "t160")] and len(asked) == 2

"""The embedded store's direct updates (wushe.runtime.mongomock_updates) against
mongomock's own: the same counts, the same errors, the same documents and the same index answers
after thousands of random updates, most of them simple enough to be applied directly."""
import random

import mongomock
import pytest
from mongomock import collection as mc

from wushe.runtime import mongomock_indexes
from wushe.runtime import mongomock_speedups as embedded
from wushe.runtime import mongomock_updates as updates

# values a field may hold or be given: of every kind mongomock tells apart, and some that Python
# confuses (True == 1 == 1.0)
VALUES = ["x", "y", 0, 1, 2, 1.0, 2.5, True, False, None, [], ["x"], [1, "y"], {"a": 1}, {"id": "e1"},
          [{"id": "e1"}, {"id": "e2", "n": 1}], [{"id": "e1"}, {"id": 3}], [{"n": 1}, "loose"]]
FIELDS = ["state", "version", "tags", "outbox", "n", "extra"]


def a_document(rng, i):
    return {"_id": f"doc-{i}", **{f: rng.choice(VALUES) for f in rng.sample(FIELDS, rng.randrange(len(FIELDS)))}}


def an_update(rng):
    """Mostly what the direct path takes ($set, $inc, $push, an outbox-style $pull of top-level
    fields), some of what it hands back (dotted paths, other operators and modifiers, a field
    named twice, _id), and values mongomock refuses or fails on."""
    update = {}
    for _ in range(rng.choice([1, 1, 2, 3])):
        op = rng.choice(["$set", "$set", "$set", "$inc", "$push", "$push", "$pull", "$pull"]
                        if rng.random() < 0.9 else ["$unset", "$addToSet"])
        field = rng.choice(FIELDS + ["n.count", "tags.0", "_id", "$bad", ""] if rng.random() < 0.1 else FIELDS)
        if op == "$inc":
            value = rng.choice([1, -1, 0, 2.5, 0.0, "x", True])
        elif op == "$push":
            value = rng.choice([rng.choice(VALUES), {"$each": [rng.choice(VALUES) for _ in range(rng.randrange(3))]},
                                {"$each": ["z"], "$slice": -2}, {"$each": "not a list"}])
        elif op == "$pull":
            value = rng.choice([{"id": {"$in": rng.sample(["e1", "e2", "e3"], rng.randrange(0, 3))}},
                                {"id": {"$in": [1]}}, {"n": 1}, "x", {"id": "e1"}, {"$in": ["x"]}])
        else:
            value = rng.choice(VALUES + [{"$bad": 1}])
        update.setdefault(op, {})[field] = value
    return update


def a_filter(rng):
    doc_id = f"doc-{rng.randrange(30)}"
    return rng.choice([{"_id": doc_id}, {"_id": doc_id, "version": rng.choice([0, 1, 2])},
                       {"_id": doc_id, "state": rng.choice(["x", "y"])},
                       {"_id": doc_id, "tags": {"$ne": "x"}}, {"_id": doc_id, "outbox.id": "e1"}])


def replay(seed, unique=False):
    """What 1,500 random updates answer, and the documents after; with `unique`, each document
    has a `key` of its own under a unique index, and one update in ten sets it to one of a few."""
    rng = random.Random(seed)
    coll = mongomock.MongoClient().db[f"docs{seed}"]
    coll.create_index("state")
    coll.create_index("tags")
    coll.create_index("outbox.id")
    if unique:
        coll.create_index("key", unique=True)
    coll.insert_many([{**a_document(rng, i), **({"key": i} if unique else {})} for i in range(30)])
    seen = []
    for _ in range(1500):
        spec, update = a_filter(rng), an_update(rng)
        if unique and rng.random() < 0.1:
            update.setdefault("$set", {})["key"] = rng.randrange(40)
        try:
            if rng.random() < 0.2:
                found = coll.find_one_and_update(spec, update, return_document=True)
                seen.append(("found", found))
            else:
                result = coll.update_one(spec, update)
                seen.append((result.matched_count, result.modified_count))
        except Exception as exc:  # noqa: BLE001 — the same refusal, of the same kind, is the point
            seen.append((type(exc).__name__, str(exc)))
        probe = rng.choice([{"state": "x"}, {"tags": "x"}, {"outbox.id": "e1"}, {"tags": "y"}])
        seen.append(sorted(d["_id"] for d in coll.find(probe)))
    return seen, list(coll.find())


def counting_direct(monkeypatch):
    """How many updates the direct path applies from now on: {"n": …}."""
    embedded.install()
    direct = {"n": 0}
    applied = updates._direct

    def counted(*args):
        done = applied(*args)
        direct["n"] += done is not None
        return done

    monkeypatch.setattr(updates, "_direct", counted)
    return direct


@pytest.mark.parametrize("seed", range(4))
def test_direct_updates_answer_as_mongomocks_own(seed, monkeypatch):
    direct = counting_direct(monkeypatch)
    ours = replay(seed)
    assert direct["n"] > 400, direct  # the direct path took a good share, not just the fallbacks
    assert any(isinstance(s, tuple) and s[0] in ("WriteError", "TypeError", "InvalidDocument", "AttributeError")
               for s in ours[0])  # refusals were met, by both
    monkeypatch.setattr(mc.Collection, "_update", mongomock_indexes._update)  # mongomock's, with the indexes kept
    assert replay(seed) == ours


def test_a_change_to_a_unique_key_is_mongomocks_to_check(monkeypatch):
    """A unique index but `_id`'s: an update that changes a field it keys goes to mongomock,
    which checks the key; one that leaves the key be (an outbox's pull, a state) is direct."""
    embedded.install()
    coll = mongomock.MongoClient().db.calls
    coll.create_index("need_id", unique=True)
    coll.insert_many([{"_id": "call-1", "need_id": "need-1"}, {"_id": "call-2", "need_id": "need-2"}])
    answers = []
    applied = updates._direct
    monkeypatch.setattr(updates, "_direct", lambda *args: answers.append(applied(*args)) or answers[-1])
    with pytest.raises(mongomock.DuplicateKeyError):
        coll.update_one({"_id": "call-2"}, {"$set": {"need_id": "need-1"}})
    coll.update_one({"_id": "call-2"}, {"$set": {"state": "open"}})
    assert answers[0] is None and answers[1] is not None
    assert coll.find_one({"_id": "call-2"}) == {"_id": "call-2", "need_id": "need-2", "state": "open"}


@pytest.mark.parametrize("seed", range(2))
def test_updates_beside_a_unique_key_answer_as_mongomocks_own(seed, monkeypatch):
    """The replay, on a collection with a unique key that some updates change (into duplicates,
    often) and most leave be."""
    direct = counting_direct(monkeypatch)
    ours = replay(seed, unique=True)
    assert direct["n"] > 300, direct
    assert any(isinstance(s, tuple) and s[0] == "DuplicateKeyError" for s in ours[0])
    monkeypatch.setattr(mc.Collection, "_update", mongomock_indexes._update)
    assert replay(seed, unique=True) == ours

"""The embedded store's `_id` lookup answers exactly as mongomock's scan does."""
import copy
import random

import mongomock
import pytest
from mongomock import collection as mc

from wushe.runtime import mongomock_indexes
from wushe.runtime import mongomock_speedups as embedded


@pytest.fixture
def both():
    """Two collections with the same documents: one read by scanning, one by `_id` lookup."""
    docs = [{"_id": f"need-{i}", "n": i, "state": random.Random(i).choice(["open", "filled"]),
             "tags": ["a", "b"][: i % 3]} for i in range(200)]
    docs.append({"_id": 7, "n": 7})  # a non-string id is scanned as before
    scanned, indexed = (mongomock.MongoClient().db[name] for name in ("scanned", "indexed"))
    scanned.insert_many([dict(d) for d in docs])
    indexed.insert_many([dict(d) for d in docs])
    return scanned, indexed


FILTERS = [{"_id": "need-5"}, {"_id": "need-404"}, {"_id": "need-5", "n": 5}, {"_id": "need-5", "n": 6},
           {"_id": "need-9", "state": {"$in": ["open", "filled"]}}, {"_id": {"$in": ["need-1", "need-2"]}},
           {"_id": 7}, {"n": {"$lt": 3}}, {"_id": "need-3", "tags": "a"}, {"_id": "need-4", "$or": [{"n": 4}, {"n": 5}]}]


@pytest.mark.parametrize("query", FILTERS, ids=str)
def test_lookup_finds_what_the_scan_finds(both, query):
    scanned, indexed = both
    expected = list(scanned.find(query))
    embedded.install()
    try:
        assert list(indexed.find(query)) == expected
        assert indexed.count_documents(query) == len(expected)
    finally:
        mc.Collection._iter_documents = embedded._scan


PROJECTIONS = [None, {}, {"n": 1}, {"n": 1, "_id": 0}, {"n": 0}, {"n": 0, "tags": 0}, {"_id": 0}, {"_id": 1},
               {"nothing": 1}, {"tags": True}, {"n": 1, "tags": 0}, {"tags": {"$slice": 1}}]


@pytest.mark.parametrize("projection", PROJECTIONS, ids=str)
@pytest.mark.parametrize("query", FILTERS, ids=str)
def test_find_one_by_id_answers_as_mongomocks_own(both, query, projection):
    """The direct answer (a string `_id`, a plain projection) and mongomock's cursor agree on
    every filter and projection, including those the direct answer leaves to the cursor."""
    _, indexed = both
    embedded.install()
    try:
        expected = embedded._find_one_generic(indexed, query, projection)
    except ValueError:  # mongomock refuses to mix including and leaving out fields: so must we
        with pytest.raises(ValueError):
            embedded._find_one(indexed, query, projection)
        return
    found = embedded._find_one(indexed, query, projection)
    assert found == expected
    # as find_one_and_update asks it: projection and sort by name
    assert embedded._find_one(indexed, query, projection=projection, sort=None) == expected
    if found is not None:
        found["n"] = "changed"  # a copy: the stored document stays as it was
        assert embedded._find_one_generic(indexed, query, projection) == expected


def test_writes_by_id_touch_only_their_document(both):
    scanned, indexed = both

    def write(coll):
        coll.update_one({"_id": "need-8", "state": {"$exists": True}}, {"$inc": {"n": 100}})
        coll.find_one_and_update({"_id": "need-9"}, {"$set": {"state": "closed"}})
        coll.update_one({"_id": "need-missing"}, {"$set": {"n": 1}}, upsert=True)
        coll.delete_one({"_id": "need-10"})
    write(scanned)
    embedded.install()
    try:
        write(indexed)
        assert list(indexed.find({}, sort=[("_id", 1)])) == list(scanned.find({}, sort=[("_id", 1)]))
        assert indexed.find_one({"_id": "need-8"})["n"] == 108
    finally:
        mc.Collection._iter_documents = embedded._scan


def test_documents_are_copied_in_and_out_as_mongomock_copies_them():
    import datetime
    coll = mongomock.MongoClient().db.copies
    embedded.install()
    try:
        given = {"_id": "need-1", "nested": {"list": [1, {"deep": "x"}]}, "tags": ["a"],
                 "at": datetime.datetime(2026, 1, 1, 8, 0, 0, 123456, tzinfo=datetime.timezone.utc)}
        coll.insert_one(given)
        given["nested"]["list"][1]["deep"] = "changed by the caller"
        read = coll.find_one({"_id": "need-1"})
        assert read["nested"] == {"list": [1, {"deep": "x"}]}
        assert read["at"] == datetime.datetime(2026, 1, 1, 8, 0, 0, 123000)  # MongoDB's precision, naive UTC
        read["tags"].append("b")
        assert coll.find_one({"_id": "need-1"})["tags"] == ["a"]
    finally:
        mc.Collection._iter_documents = embedded._scan


UPDATES = [  # (update, how likely) — appends, changes in place, no-ops, refusals by the unique key
    lambda rng: {"$push": {"pledges": {"id": f"p-{rng.randrange(99)}", "state": "reserved"}}, "$inc": {"left": -1}},
    lambda rng: {"$push": {"pledges": {"$each": [{"id": "e1"}, {"id": "e2"}]}, "outbox": {"id": "evt"}}},
    lambda rng: {"$set": {"code": f"c{rng.randrange(12)}"}},                      # sometimes a duplicate
    lambda rng: {"$push": {"pledges": {"id": "rolled back"}}, "$set": {"code": "c3"}},  # appended, then refused
    lambda rng: {"$set": {"left": 5}},                                             # often changes nothing
    lambda rng: {"$pull": {"outbox": {"id": "evt"}}},
    lambda rng: {"$set": {"pledges.0.state": "released"}, "$inc": {"n.count": 1}},
    lambda rng: {"$unset": {"code": ""}},
    lambda rng: {"$push": {"pledges": {"$each": [{"id": "kept"}], "$slice": -3}}},
]


def test_updates_change_count_and_roll_back_as_mongomocks_own(monkeypatch):
    """The update's snapshot (whole only of the fields it changes) against mongomock's whole copy:
    the same counts of changed documents, the same refusals, the same documents after, also
    after a refused update was put back."""
    embedded.install()

    def run():
        rng = random.Random(7)
        coll = mongomock.MongoClient().db.lots
        coll.create_index("code", unique=True, sparse=True)
        coll.insert_many([{"_id": f"lot-{i}", "code": f"c{i}", "left": 5, "outbox": [], "n": {"count": 0},
                           "pledges": [{"id": f"p{i}-{j}", "state": "reserved"} for j in range(3)]}
                          for i in range(10)])
        seen = []
        for _ in range(400):
            target = {"_id": f"lot-{rng.randrange(10)}"}
            try:
                result = coll.update_one(target, rng.choice(UPDATES)(rng))
                seen.append((result.matched_count, result.modified_count))
            except mongomock.DuplicateKeyError:
                seen.append("refused")
            seen.append(coll.find_one(target))
        return seen, list(coll.find())

    ours = run()
    assert ours[0].count("refused") > 10 and (1, 0) in ours[0] and (1, 1) in ours[0]
    monkeypatch.setattr(mc.Collection, "_update", mongomock_indexes._update_generic)
    monkeypatch.setattr(mc, "copy", copy)  # mongomock's own: the whole document, by the copy protocol
    assert run() == ours

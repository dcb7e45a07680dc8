"""The embedded store's kept indexes (wushe.runtime.mongomock_indexes) answer exactly as
mongomock's scan does — the same documents in the same order — through every kind of write."""
import random

import mongomock
import pytest
from mongomock import collection as mc

from wushe.runtime import mongomock_indexes
from wushe.runtime import mongomock_speedups as embedded

NEEDS = [f"need-{i}" for i in range(60)]


@pytest.fixture
def calls():
    embedded.install()
    coll = mongomock.MongoClient().db.calls
    coll.create_index("need_id", unique=True, sparse=True)
    coll.create_index("cases.need_id")
    coll.create_index([("state", 1), ("n", 1)])
    coll.create_index("tags")
    coll.create_index("due", sparse=True)
    yield coll
    mc.Collection._iter_documents = embedded._scan


def filters(rng):
    need = rng.choice(NEEDS)
    return [{"need_id": need}, {"need_id": need, "state": "open"}, {"cases.need_id": need},
            {"cases.need_id": need, "n": {"$gte": 3}}, {"state": rng.choice(["open", "filled"])},
            {"tags": rng.choice(["a", "b", "c"])}, {"state": "open", "tags": "a"}, {"need_id": "nobody's"},
            # conditions only a holder of the field meets: answered from every document the index holds
            {"due": {"$exists": True}}, {"due": {"$lt": rng.choice(DUES[2:])}}, {"due": {"$gte": 2}},
            {"need_id": {"$gt": need}, "state": "open"}, {"cases.need_id": {"$gte": need, "$lte": "need-5"}},
            # a guard that an array does not hold a value yet (wushe.runtime.mongomock_indexes.applies)
            {"_id": f"call-{rng.randrange(60)}", "cases.need_id": {"$ne": need}},
            {"state": "open", "tags": {"$ne": rng.choice("abc")}, "cases.0.need_id": {"$ne": need}}]


# a sparse field: strings (times, as the outboxes' entries have), numbers, null, or no field
DUES = [None, 3, "2026-12-01T08:00:00Z", "2026-12-01T09:30:00Z", "2026-12-02T07:15:00Z"]


def a_document(rng, i):
    return {"_id": f"call-{i}", "need_id": f"need-{i}", "state": rng.choice(["open", "filled"]),
            "n": rng.randrange(6), "tags": rng.sample(["a", "b", "c"], rng.randrange(3)),
            "cases": [{"need_id": rng.choice(NEEDS)} for _ in range(rng.randrange(3))],
            **({"due": rng.choice(DUES)} if rng.random() < 0.5 else {})}


def write(coll, rng, i):
    """One write of each kind mongomock has: inserts, in-place updates ($set, $push, $pull,
    $unset), replacement, upsert, update_many, find_one_and_*, delete, a unique-key rollback;
    appends of one value and of several, an append that drops values ($slice), a change to an
    element of an array by its position, $addToSet."""
    target = {"_id": f"call-{rng.randrange(i + 1)}"}
    kind = rng.randrange(14)
    if kind == 0:
        coll.insert_one({**a_document(rng, i), "need_id": f"need-new-{i}"})
    elif kind == 1:
        coll.update_one(target, {"$set": {"state": rng.choice(["open", "filled"]), "n": rng.randrange(6)}})
    elif kind == 2:
        coll.update_one(target, {"$push": {"cases": {"need_id": rng.choice(NEEDS)}, "tags": rng.choice("abc")},
                                 "$set": {"due": rng.choice(DUES)}})
    elif kind == 3:
        coll.update_many({"state": "open", "n": {"$lt": 2}},
                         {"$pull": {"tags": "a"}, "$unset": {"need_id": "", "due": ""}})
    elif kind == 4:
        coll.replace_one(target, {**a_document(rng, i), "_id": target["_id"], "need_id": f"need-replaced-{i}"})
    elif kind == 5:
        coll.update_one({"_id": f"call-upserted-{i}"}, {"$set": {"need_id": f"need-up-{i}", "tags": ["c"]}},
                        upsert=True)
    elif kind == 6:
        coll.find_one_and_update({"cases.need_id": rng.choice(NEEDS)}, {"$set": {"cases": []}})
    elif kind == 7:
        coll.find_one_and_delete({"tags": rng.choice("abc")})
    elif kind == 8:
        coll.delete_many({"need_id": rng.choice(NEEDS)})
    elif kind == 10:
        coll.update_one(target, {"$push": {"cases": {"$each": [{"need_id": rng.choice(NEEDS)} for _ in range(2)]}},
                                 "$pull": {"tags": rng.choice("abc")}})
    elif kind == 11:
        coll.update_one(target, {"$push": {"cases": {"$each": [{"need_id": rng.choice(NEEDS)}], "$slice": -2}}})
    elif kind == 12:
        coll.update_one({**target, "cases.0": {"$exists": True}}, {"$set": {"cases.0.need_id": rng.choice(NEEDS)}})
    elif kind == 13:
        coll.update_one(target, {"$addToSet": {"tags": rng.choice("abc")}, "$inc": {"n": 1}})
    else:
        taken = coll.find_one({"need_id": {"$exists": True}}, {"need_id": 1})
        if taken:  # a duplicate of the unique need_id: refused, and the document rolled back
            with pytest.raises(mongomock.DuplicateKeyError):
                coll.update_one({"_id": {"$ne": taken["_id"]}, "need_id": {"$exists": True}},
                                {"$set": {"need_id": taken["need_id"], "state": "moved"}})


@pytest.mark.parametrize("seed", range(6))
def test_every_indexed_query_answers_as_the_scan_through_every_write(calls, seed):
    rng = random.Random(seed)
    calls.insert_many([a_document(rng, i) for i in range(40)])
    compared = 0
    for i in range(40, 200):
        write(calls, rng, i)
        for query in filters(rng):
            scanned = list(embedded._scan(calls, query))
            assert list(calls.find(query)) == scanned, (i, query)
            assert calls.find_one(query) == (scanned[0] if scanned else None)
            compared += 1
    assert compared == 160 * 15


def test_an_indexed_field_is_answered_from_its_index_and_others_by_scan(calls):
    calls.insert_many([{"_id": "call-1", "need_id": "need-1", "state": "open"},
                       {"_id": "call-2", "need_id": "need-2", "state": "open"}])
    assert mongomock_indexes.candidates(calls, {"need_id": "need-2"}) == [
        {"_id": "call-2", "need_id": "need-2", "state": "open"}]
    assert mongomock_indexes.candidates(calls, {"n": 3}) is None          # not indexed
    assert mongomock_indexes.candidates(calls, {"need_id": {"$in": ["need-1"]}}) is None  # not one string
    # a condition a document without the field meets: not from the index
    assert mongomock_indexes.candidates(calls, {"need_id": {"$exists": False}}) is None
    assert mongomock_indexes.candidates(calls, {"need_id": {"$lt": "need-3", "$ne": "need-1"}}) is None
    assert mongomock_indexes.candidates(calls, {"need_id": {"$lt": "need-2"}}) == [
        {"_id": "call-1", "need_id": "need-1", "state": "open"}]
    calls.drop()
    assert list(calls.find({"need_id": "need-2"})) == []


def a_nested_value(rng, depth=0):
    """A string, a number, null, or (not too deep) an array or a sub-document of such values."""
    kind = rng.randrange(6 if depth < 3 else 3)
    if kind == 0:
        return rng.choice("xyz")
    if kind == 1:
        return rng.choice([1, 2.5])
    if kind == 2:
        return None
    if kind == 3:
        return [a_nested_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {key: a_nested_value(rng, depth + 1) for key in rng.sample("abc", rng.randrange(1, 3))}


@pytest.mark.parametrize("seed", range(4))
def test_a_guard_that_an_array_lacks_a_value_answers_as_mongomocks_own(seed):
    """`applies` without an index to look in (a walk of the path's values) against mongomock's
    matcher, through arrays of arrays, sub-documents and values of every kind."""
    from mongomock.filtering import filter_applies
    rng = random.Random(seed)
    looked_up = 0
    for _ in range(3000):
        document = {"_id": "doc", **{key: a_nested_value(rng) for key in rng.sample("abc", rng.randrange(1, 4))}}
        path = ".".join(rng.choice("abc") for _ in range(rng.randrange(1, 4)))
        filter_ = {path: {"$ne": rng.choice("xyz")}, **({"d": {"$exists": False}} if rng.random() < 0.3 else {})}
        assert mongomock_indexes.applies(filter_, document) == filter_applies(filter_, document), (filter_, document)
        looked_up += mongomock_indexes._absent(filter_[path]["$ne"], document, path, None)
    assert looked_up > 1000  # most were answered by the walk, not handed to mongomock


# values a top-level field may hold against an equality to a string or an integer: the same
# type, and every type Python's `==` would confuse with it (True == 1 == 1.0) or MongoDB matches
# through (an array holding the value)
HELD = ["x", "y", 1, 2, 0, True, False, 1.0, 2.5, None, ["x", "z"], [1, 3], [[1]], {"a": "x"}, "1"]


@pytest.mark.parametrize("seed", range(3))
def test_an_equality_on_a_field_of_the_same_type_answers_as_mongomocks_own(seed):
    """`applies` compares a string or an integer with a top-level field holding that very type
    itself; every other pairing (a bool against 1, a float, an array holding the value, a dotted
    path, a missing field) is mongomock's. Both must agree, whatever else the filter says."""
    from mongomock.filtering import filter_applies
    rng = random.Random(seed)
    direct = 0
    for _ in range(4000):
        document = {"_id": "doc", **{key: rng.choice(HELD) for key in rng.sample("abc", rng.randrange(0, 4))}}
        filter_ = {key: rng.choice(["x", "y", 1, 2, 0]) for key in rng.sample("abcd", rng.randrange(1, 4))}
        if rng.random() < 0.3:
            filter_["a.a"] = "x"
        if rng.random() < 0.3:
            filter_["b"] = {"$ne": rng.choice("xy")}
        assert mongomock_indexes.applies(filter_, document) == filter_applies(filter_, document), (filter_, document)
        direct += any(type(document.get(k)) is type(v) and type(v) in (str, int) for k, v in filter_.items())
    assert direct > 400  # many were answered by the comparison, not handed to mongomock


def test_a_new_documents_keys_are_refused_as_mongomock_refuses_them():
    """The key check of an insert (`_key_check`) against mongomock's own, over sub-documents,
    arrays (mongomock does not look inside them; bson's encoding does) and Mapping types other
    than dict."""
    from collections import OrderedDict

    from bson.errors import InvalidDocument
    from mongomock.collection import _recursive_key_check_null_character as mongomocks

    def outcome(check, document):
        try:
            check(document)
            return None
        except InvalidDocument as exc:
            return str(exc)

    documents = [{"a": 1}, {"a\0b": 1}, {"a": {"b\0": 1}}, {"a": [{"b\0": 1}]}, {"a": OrderedDict([("c\0", 1)])},
                 {"a": {"b": {"c": {"d\0e": None}}}}, {"$set": 1}, {"a": "\0"}, {"a": {"b": [1, {"c": 2}]}}]
    for document in documents:
        assert outcome(embedded._key_check, document) == outcome(mongomocks, document), document
    assert sum(outcome(embedded._key_check, d) is not None for d in documents) == 4


def test_a_read_by_id_still_expires_what_a_ttl_index_says_has_expired():
    """Reads of one document skip mongomock's lock, not its expiry: a collection with a TTL index
    still drops a document that expired since it was stored before it is read."""
    import time
    from datetime import datetime, timedelta, timezone
    embedded.install()
    coll = mongomock.MongoClient().db.sessions
    coll.create_index("at", expireAfterSeconds=60)
    now = datetime.now(timezone.utc)
    coll.insert_many([{"_id": "soon", "at": now - timedelta(seconds=59.7)}, {"_id": "later", "at": now}])
    assert coll.find_one({"_id": "soon"}) is not None
    time.sleep(0.5)
    assert coll.find_one({"_id": "soon"}) is None
    assert coll.find_one({"_id": "later"})["_id"] == "later"

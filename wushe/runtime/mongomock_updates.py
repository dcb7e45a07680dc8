"""The embedded store's updates of the simplest kinds, applied directly (installed by
wushe.runtime.mongomock_speedups)."""
from mongomock import collection as _collection
from mongomock import helpers as _helpers

from wushe.runtime import mongomock_indexes

# Most of ours are one document by `_id` (a compare-and-set, an outbox pull…) of the
# simplest kinds: `$set`, `$inc` and `$push` of top-level fields, and the outbox's `$pull` of the
# entries whose id is among those published. mongomock walks every update through its general
# machinery (the positional operator, nested paths, pipelines), snapshots the document to tell
# whether it changed and compares it whole after. `_direct` applies these kinds itself, with
# mongomock's rules for each, where no unique index but `_id`'s keys a field it changes. It hands anything
# else to mongomock untouched: other operators and paths, a `$push` onto a non-array or a value
# BSON cannot hold (mongomock raises them, having changed what it had changed by then), a pull
# from an array holding anything but documents whose field is absent or a string, a change to a
# field a unique index keys (mongomock checks the key). (An `$inc` of
# a string fails as mongomock's does: by the same addition.) tests/unit/test_embedded_updates.py
# replays thousands of random updates through both.
_SIMPLE = ("$set", "$inc", "$push", "$pull")
_NUMBERS = (int, float)


def update(self, spec, document, upsert=False, manipulate=False, multi=False, check_keys=False, **kwargs):
    done = None
    if not (upsert or multi or any(kwargs.values())):
        done = _direct(self, spec, document)
    if done is None:
        return mongomock_indexes._update(self, spec, document, upsert, manipulate, multi, check_keys, **kwargs)
    return done


def _plan(document):
    """field -> (operator, value) for an update of top-level fields by `$set`, `$inc`, `$push`
    (of one value, or of `$each` values) and `$pull` (`_pulled`), each field named once; None for
    any other update."""
    if type(document) is not dict or not document:
        return None
    plan = {}
    for op, changes in document.items():
        if op not in _SIMPLE or type(changes) is not dict or not changes:
            return None
        for name, value in changes.items():
            if (type(name) is not str or not name or name == "_id" or name in plan or "." in name
                    or name.startswith("$") or "\0" in name):
                return None
            if op == "$inc" and type(value) not in _NUMBERS:
                return None
            if op == "$push" and (type(value) is dict and "$each" in value and type(value["$each"]) is not list
                                  or mongomock_indexes.appended_by(value) is None):
                return None  # $slice, $sort, $position…: mongomock's
            if op == "$pull" and _pulled(value) is None:
                return None
            plan[name] = (op, value)
    return plan


def _direct(self, spec, document):
    """mongomock's `_update` result for a simple update of one document by `_id` (`_plan`),
    applied here; None when it is not one (then mongomock's, unchanged)."""
    if type(spec) is not dict or type(spec.get("_id")) is not str:
        return None
    plan = _plan(document)
    store = self._store
    if plan is None or any(_guards(index, plan) for index in store.indexes.values()):
        return None
    # the values as mongomock applies them: its copy of the update, datetimes at MongoDB's precision
    copied = _helpers.patch_datetime_awareness_in_document(document)
    plan = {name: (op, copied[op][name]) for name, (op, _) in plan.items()}
    spec = _helpers.patch_datetime_awareness_in_document(spec)
    try:
        existing = store[spec["_id"]]
    except KeyError:
        existing = None
    result = {"connectionId": self.database.client._id, "err": None, "n": 0, "nModified": 0, "ok": 1,
              "upserted": None, "updatedExisting": False}
    if existing is None or not mongomock_indexes.applies(spec, existing, store):
        return result
    for name, (op, value) in plan.items():  # what mongomock would refuse half-way: its own to do
        held = existing.get(name, _ABSENT)
        if op == "$push" and held is not _ABSENT and type(held) is not list:
            return None
        if op == "$pull" and type(held) is list and not _pullable(held, _pulled(value)[0]):
            return None
        if op == "$set":
            try:
                _collection.BSON.encode({name: value})
            except Exception:  # noqa: BLE001 — mongomock raises it, as it raises it
                return None
    # what each field's index entries do (`touched`'s answer, read off the plan)
    changed = {name: mongomock_indexes.appended_by(value) if op == "$push" else None
               for name, (op, value) in plan.items()}
    modified = []

    def apply():
        for name, (op, value) in plan.items():
            held = existing.get(name, _ABSENT)
            if op == "$set":
                existing[name] = value
                modified.append(held is _ABSENT or held != value)
            elif op == "$inc":
                existing[name] = (0 if held is _ABSENT else held) + value
                modified.append(held is _ABSENT or held != existing[name])
            elif op == "$push":
                values = changed[name]
                existing.setdefault(name, []).extend(values)
                modified.append(held is _ABSENT or bool(values))
            elif type(held) is list:  # a pull from a field that is no array changes nothing
                key, among = _pulled(value)
                kept = [item for item in held if item.get(key) not in among]
                modified.append(len(kept) != len(held))
                held[:] = kept

    mongomock_indexes.reindexed(store, existing, changed, apply)
    result.update(n=1, nModified=int(any(modified)), updatedExisting=True)
    return result


_ABSENT = object()


def _guards(index, plan):
    """Whether a unique index but `_id`'s may refuse the update: it keys a field the update
    changes, or holds only the documents a filter picks (which a change elsewhere may alter).
    An update that leaves every field of the index as it was cannot make a duplicate of it:
    the document was unique when written (mongomock checked), and stays as unique."""
    if not index.get("unique") or index.get("key") == [("_id", 1)]:
        return False
    return "partialFilterExpression" in index or any(field.split(".", 1)[0] in plan for field, _ in index["key"])


def _pulled(condition):
    """(field, the strings) of a pull's condition `{field: {"$in": [strings]}}`; None otherwise."""
    if type(condition) is not dict or len(condition) != 1:
        return None
    (key, test), = condition.items()
    if type(key) is not str or key[:1] == "$" or "." in key or type(test) is not dict or len(test) != 1:
        return None
    among = test.get("$in")
    if type(among) is not list or any(type(v) is not str for v in among):
        return None
    return key, frozenset(among)


def _pullable(items, key):
    """Every element a document whose `key` is absent or a string: its match is then plain."""
    for item in items:
        if type(item) is not dict or (key in item and type(item[key]) is not str):
            return False
    return True

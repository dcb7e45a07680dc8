"""The embedded store's declared indexes, kept: a filter that names an indexed field with one
string finds its documents through the index, not by a scan, as MongoDB's would.

mongomock records `create_index` but answers every query by testing every document: a call
found by its need, a case by its need, a worker by a case's need each cost a scan that grows
with everything the service has stored (2.3 ms over 2,000 calls, against 0.01 ms by `_id`), so a
service's cost per need rose through a `make bench` run. Here each collection keeps, for the
first field of each index it declared, which documents hold which string values (through
arrays and sub-documents, as a multikey index does), built at the first query on the field and
kept up to date by every write: insert, delete, drop, and updates, which mongomock applies to
the stored document in place. An index only names candidates: the whole filter is still tested
against each, and they come in the store's own order, so the answers are mongomock's own
(tests/unit/test_embedded_indexes.py compares them). Other filters scan as before.

A filter that can only match documents holding the field — `{"$exists": true}` or a range of
non-null bounds on it — takes every document the index holds (any value) as its candidates, as
MongoDB answers it from a sparse index: the relays' look for pending events
(`{"outbox.time": {"$lt": …}}`, every second in every service) then costs what is pending, not
a scan of everything the service ever stored.
"""
from collections.abc import Mapping
from contextvars import ContextVar

from mongomock import collection as _collection
from mongomock import store as _store
from mongomock.filtering import filter_applies


class _Indexes:
    """One collection's: field → string value → ids, and each id's place in the store's order."""

    def __init__(self):
        self.by_field = {}
        self.place = {}
        self.next_place = 0

    def placed(self, doc_id):
        if doc_id not in self.place:
            self.place[doc_id] = self.next_place
            self.next_place += 1

    def add(self, doc_id, document, fields=None):
        for field in self.by_field if fields is None else fields:
            index = self.by_field[field]
            for value in _values(document, field):
                index.setdefault(value, set()).add(doc_id)

    def remove(self, doc_id, document, fields=None):
        for field in self.by_field if fields is None else fields:
            index = self.by_field[field]
            for value in _values(document, field):
                ids = index.get(value)
                if ids is not None:
                    ids.discard(doc_id)
                    if not ids:
                        del index[value]


def _indexes(store):
    found = store.__dict__.get("_wushe_indexes")
    if found is None:
        found = store.__dict__["_wushe_indexes"] = _Indexes()
        for doc_id in store._documents:  # documents stored before the first write seen here
            found.placed(doc_id)
    return found


# the key under which a document holding the field with a value that is not a string is indexed
# (a string filter never looks it up; a presence filter takes it with every other key)
_NOT_A_STRING = object()


def _values(document, field):
    """Every string a filter `{field: value}` could match in `document`, and `_NOT_A_STRING` if
    it holds the field with any other value (a superset: the filter is tested again on each
    candidate)."""
    out, stack, parts = set(), [(document, 0)], field.split(".")
    while stack:
        value, depth = stack.pop()
        if isinstance(value, list):
            stack.extend((item, depth) for item in value)
        elif depth == len(parts):
            out.add(value if isinstance(value, str) else _NOT_A_STRING)
        elif isinstance(value, Mapping) and parts[depth] in value:
            stack.append((value[parts[depth]], depth + 1))
    return out


def _declared(store):
    """The first field of each index the collection declared (not `_id`, nor a path through an
    array position, which this index does not follow)."""
    fields = {index["key"][0][0] for index in store.indexes.values() if index.get("key")}
    return {f for f in fields if f != "_id" and _through_fields(f)}


def _through_fields(path):
    """A path of field names, not through an array's positions."""
    return not any(part.isdigit() for part in path.split("."))


def applies(filter, document, store=None):
    """mongomock's `filter_applies`, with two kinds of condition answered directly: an equality
    to a string or an integer, on a top-level field holding a value of that type (a version, a
    state), by comparing them; and `{"$ne": <string>}` on a path through fields by looking the
    string up (`_absent`): when the document does not hold it, the
    condition holds and the rest of the filter decides; when it may, mongomock tests the whole
    filter. mongomock tests such a condition element by element through its generic matcher, so
    a guard that a lot does not hold a pledge yet, or an organisation a need, cost more than the
    write it guarded once the array held some hundreds. `store`: the document's collection's."""
    rest = None
    for field, condition in filter.items():
        kind = type(condition)
        if kind is str or kind is int:
            # `{field: "x"}` or `{field: 3}` on a top-level field holding a value of the very
            # same type: equal, it matches; not, it cannot (it is no array to hold the value).
            # Anything else (an array, a float, a dotted path) is mongomock's to decide.
            held = document.get(field) if "." not in field else None
            if type(held) is kind and not field.startswith("$"):
                if held != condition:
                    return False
                if rest is None:
                    rest = dict(filter)
                del rest[field]
        elif (kind is dict and len(condition) == 1 and type(condition.get("$ne")) is str
                and not field.startswith("$") and _through_fields(field)):
            if not _absent(condition["$ne"], document, field, store):
                return filter_applies(filter, document)
            if rest is None:
                rest = dict(filter)
            del rest[field]
    if rest is None:
        return filter_applies(filter, document)
    return not rest or filter_applies(rest, document)


def _absent(value, document, field, store):
    """True when `document` holds no `value` at `field`: by the field's index when its collection
    declared one (an index names every document holding a value, and maybe more), otherwise by
    walking the field's values (`_values`, a superset too)."""
    if store is not None and "_id" in document and field in _declared(store):
        with store._rwlock.reader():
            return document["_id"] not in _index(store, field).get(value, ())
    return value not in _values(document, field)


def _index(store, field):
    """A declared field's index (string value → ids), built at its first use, then kept by every
    write. The caller holds the store's lock."""
    indexes = _indexes(store)
    index = indexes.by_field.get(field)
    if index is None:
        index = {}
        for doc_id, document in store._documents.items():
            for value in _values(document, field):
                index.setdefault(value, set()).add(doc_id)
        indexes.by_field[field] = index
    return index


# conditions a document without the field never meets (MongoDB's sparse-index semantics)
_RANGE = frozenset({"$lt", "$lte", "$gt", "$gte"})


def _needs_the_field(condition):
    return (type(condition) is dict and bool(condition)
            and all((op == "$exists" and condition[op] is True) or (op in _RANGE and condition[op] is not None)
                    for op in condition))


def candidates(collection, filter):
    """The documents an indexed field of `filter` names, in the store's order; None when no
    field of it is indexed with one string or with a condition only a holder of it meets."""
    store = collection._store
    declared = _declared(store)
    field = next((f for f, v in filter.items() if isinstance(v, str) and f in declared), None)
    holders = field is None
    if holders:
        field = next((f for f, v in filter.items() if f in declared and _needs_the_field(v)), None)
    if field is None:
        return None
    with store._rwlock.reader():
        index = _index(store, field)
        named = set().union(*index.values()) if holders else index.get(filter[field], ())
        ids = sorted((i for i in named if i in store._documents), key=_indexes(store).place.__getitem__)
        found = [store._documents[i] for i in ids]
    return [document for document in found if applies(filter, document, store)]


# the writes --------------------------------------------------------------------------------------
_set = _store.CollectionStore.__setitem__
_delete = _store.CollectionStore.__delitem__
_drop = _store.CollectionStore.drop
_apply_update = _collection.Collection._apply_update_document
_apply_pipeline = _collection.Collection._apply_update_pipeline


def _setitem(self, key, document):
    indexes = _indexes(self)
    before = self._documents.get(key)
    _set(self, key, document)
    indexes.placed(key)
    if indexes.by_field:
        if before is not None:
            indexes.remove(key, before)
        indexes.add(key, document)


def _delitem(self, key):
    indexes = _indexes(self)
    before = self._documents.get(key)
    _delete(self, key)
    indexes.place.pop(key, None)
    if before is not None and indexes.by_field:
        indexes.remove(key, before)


def _dropped(self):
    _drop(self)
    self.__dict__.pop("_wushe_indexes", None)


def touched(update):
    """The top-level fields an update document changes: name → the values it only appends to
    that field (`$push` of a value, or of `$each` values, to the field itself), or None when it
    changes the field otherwise; None for a replacement or an update it cannot read."""
    if type(update) is not dict or not update:
        return None
    fields = {}
    for op, changes in update.items():
        if not op.startswith("$") or type(changes) is not dict:
            return None
        for path, value in changes.items():
            names = (path, value) if op == "$rename" else (path,)
            for name in names:
                if type(name) is not str:
                    return None
                top = name.split(".", 1)[0]
                appended = appended_by(value) if op == "$push" and name == top else None
                fields[top] = None if appended is None or top in fields and fields[top] is None \
                    else [*fields.get(top, ()), *appended]
    return fields


def appended_by(value):
    """The values a `$push` of `value` appends (None when its modifiers may drop or move some)."""
    if type(value) is dict and any(type(k) is str and k.startswith("$") for k in value):
        return list(value["$each"]) if set(value) == {"$each"} else None
    return [value]


# the update under way in this thread (green or not): (its collection's store, what it
# `touched`), read by the index bookkeeping below and by the snapshot mongomock takes first
# (wushe.runtime.mongomock_speedups). A context variable: each greenlet has its own context,
# and a get costs a fraction of eventlet's green thread-local.
_update_generic = _collection.Collection._update
_updating = ContextVar("wushe_update_under_way", default=None)


def _update(self, spec, document, *args, **kwargs):
    token = _updating.set((self._store, touched(document)))
    try:
        return _update_generic(self, spec, document, *args, **kwargs)
    finally:
        _updating.reset(token)


def update_under_way():
    """(store, what it changes: `touched`) of the update under way in this thread; None when none is."""
    return _updating.get()


def _in_place(apply):
    def applied(self, existing_document, *args, **kwargs):
        now = update_under_way()
        changed = now[1] if now is not None and now[0] is self._store else None
        return reindexed(self._store, existing_document, changed,
                         lambda: apply(self, existing_document, *args, **kwargs))
    return applied


def reindexed(store, document, changed, apply):
    """`apply()`, which changes a stored document in place, with the document's index entries
    moved along: those of the fields it changes (`changed`, as `touched` says; None: any). A
    field it only appends to keeps its entries and gains those of the appended values: the
    entries of a caseload or a lot's pledges are not all taken out and put back for each one
    added."""
    indexes = _indexes(store)
    doc_id = document.get("_id")
    if not indexes.by_field or doc_id is None:
        return apply()
    if changed is None:
        rewritten, appended = list(indexes.by_field), {}
    else:
        mine = [(f, f.split(".", 1)[0]) for f in indexes.by_field if f.split(".", 1)[0] in changed]
        rewritten = [f for f, top in mine if changed[top] is None]
        appended = {f: {top: changed[top]} for f, top in mine if changed[top] is not None}
    indexes.remove(doc_id, document, rewritten)
    try:
        return apply()
    finally:
        indexes.add(doc_id, document, rewritten)
        for field, values in appended.items():  # entries are candidates: one too many is harmless
            indexes.add(doc_id, values, (field,))


def install():
    _store.CollectionStore.__setitem__ = _setitem
    _store.CollectionStore.__delitem__ = _delitem
    _store.CollectionStore.drop = _dropped
    _collection.Collection._update = _update
    _collection.Collection._apply_update_document = _in_place(_apply_update)
    _collection.Collection._apply_update_pipeline = _in_place(_apply_pipeline)

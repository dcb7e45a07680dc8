"""The embedded store (mongomock) made to find a document by `_id` the way MongoDB does.

mongomock answers every query by scanning the whole collection and testing each document
against the filter, so a service's cost per event grows with everything it has ever stored:
at a few thousand needs, that scan was most of each service's CPU under `make bench`. MongoDB
finds a document by `_id` through its `_id` index. This gives mongomock the same for filters
that name one string `_id` (most of ours: needs, calls, cases, idempotency records), with the
same answers: the document is the only one such a filter can match, and the whole filter is
still tested against it. A filter that names a declared index's field finds its documents
through that index (wushe.runtime.mongomock_indexes); other filters scan as before. And it
copies JSON-shaped documents without the generic copy protocol (below). A `find_one` by a
string `_id` (and any other conditions: a compare-and-set's version, the first read of a
find_one_and_update), with no projection or a plain one (top-level fields, all included or all
left out), is answered from the document directly, without mongomock's cursor (`_find_one`). An
update of the simplest kinds to one document by `_id` is applied directly
(wushe.runtime.mongomock_updates). Only the embedded store is touched.
"""
import copy
import functools
from collections.abc import Mapping

from mongomock import collection as _collection
from mongomock import helpers as _helpers
from mongomock import store as _mstore
from packaging import version as _version

from wushe.runtime import mongomock_indexes, mongomock_updates

_scan = _collection.Collection._iter_documents


def _iter_documents(self, filter):
    if not isinstance(filter, Mapping):
        return _scan(self, filter)
    key = filter.get("_id")
    if not isinstance(key, str):
        # a declared index's field, if the filter names one (wushe.runtime.mongomock_indexes)
        found = mongomock_indexes.candidates(self, filter)
        return _scan(self, filter) if found is None else iter(found)
    try:  # one look (and one take of mongomock's lock), not `in` and then `[]`
        found = [self._store[key]]
    except KeyError:
        return iter(())
    return (document for document in found if mongomock_indexes.applies(filter, document, self._store))


_find_one_generic = None  # mongomock's, as install() found it


def _plain(projection):
    """(include, fields, keep_id) for no projection or one of top-level fields all included or
    all left out (`_id` either way); None for anything else (mongomock's own answer)."""
    if projection is None:
        return False, (), True
    if type(projection) is not dict or any(type(v) not in (int, bool) or v not in (0, 1) or "." in k
                                           or k.startswith("$") for k, v in projection.items()):
        return None  # an operator ($slice, …), a dotted path
    fields = {k: v for k, v in projection.items() if k != "_id"}
    kinds = set(fields.values())
    if len(kinds) > 1:
        return None  # mixed: mongomock refuses it
    keep_id = projection.get("_id", 1) == 1
    return kinds == {1} or (not fields and keep_id and bool(projection)), fields, keep_id


def _find_one(self, filter=None, *args, **kwargs):
    projection = kwargs.get("projection", args[0] if args else None)
    direct = (type(filter) is dict and type(filter.get("_id")) is str and not self.codec_options.tz_aware
              and (not args or (len(args) == 1 and "projection" not in kwargs))
              and set(kwargs) <= {"projection", "sort"} and kwargs.get("sort") is None)
    plain = _plain(projection) if direct else None
    if plain is None:
        return _find_one_generic(self, filter, *args, **kwargs)
    try:
        document = self._store[filter["_id"]]
    except KeyError:
        return None
    if len(filter) > 1 and not mongomock_indexes.applies(filter, document, self._store):
        return None  # the one document the filter could match does not (a compare-and-set's version…)
    include, fields, keep_id = plain
    if include:
        found = {"_id": document["_id"]} if keep_id else {}
        found.update((k, _deepcopy(v)) for k, v in document.items() if k in fields)
        return found
    return {k: _deepcopy(v) for k, v in document.items() if k not in fields and (keep_id or k != "_id")}


def install():
    """Idempotent; called when the first embedded client is made."""
    global _find_one_generic
    if _find_one_generic is None:  # once: what wraps it since (the tests' interleaving) stays
        _find_one_generic = _collection.Collection.find_one
        _collection.Collection.find_one = _find_one
    mongomock_indexes.install()
    _collection.Collection._iter_documents = _iter_documents
    _collection.Collection._update = mongomock_updates.update
    _collection.version = _Versions()
    _collection._recursive_key_check_null_character = _key_check
    _mstore.CollectionStore.__getitem__ = _getitem
    _mstore.CollectionStore.__contains__ = _contains
    _collection._copy_field = _copy_field
    _collection.copy = _Copying
    _helpers.patch_datetime_awareness_in_document = _datetimes_to_milliseconds


# Copies. mongomock copies every document it stores or returns (as MongoDB does by sending it
# over the wire) with copy.deepcopy and copy.copy, which weigh each string and number through
# the generic copy protocol. Documents here are JSON-shaped: fresh dicts and lists with the
# immutable values shared copy the same, several times faster. Anything else goes to `copy`.
_IMMUTABLE = frozenset((str, int, float, bool, type(None), bytes))


def _walk(value, other):
    """A new copy of the dicts and lists of `value`, its immutable scalars shared and anything
    else given to `other`."""
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) in _IMMUTABLE else _walk(v, other) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _IMMUTABLE else _walk(v, other) for v in value]
    if kind in _IMMUTABLE:
        return value
    return other(value)


def _deepcopy(value, memo=None):
    return _walk(value, copy.deepcopy)


# Snapshots. mongomock's update copies each document it changes whole before changing it in
# place, to tell whether it changed and to put it back when a unique index refuses the change:
# a pull from a lot's outbox copied all its pledges. Here the copy is whole only of the fields
# the update changes (those it only appends to: the list, its elements shared, as an append
# leaves them be); the others are the document's own, unchanged by the update, so the
# snapshot compares and restores the same.
def _snapshot_or_copy(value, memo=None):
    """mongomock's `copy.deepcopy`: of a stored document while it updates it, the snapshot."""
    now = mongomock_indexes.update_under_way()
    if now is not None and now[1] is not None and type(value) is dict:
        store, changed = now
        if store._documents.get(value.get("_id")) is value:
            return {k: v if k not in changed else list(v) if changed[k] is not None and type(v) is list
                    else _deepcopy(v) for k, v in value.items()}
    return _deepcopy(value)


def _copy_field(obj, container):
    if container is dict:  # what pymongo returns unless told otherwise
        return _deepcopy(obj)
    if isinstance(obj, list):
        return [_copy_field(item, container) for item in obj]
    if isinstance(obj, dict):
        new = container()
        for key, value in obj.items():
            new[key] = _copy_field(value, container)
        return new
    return copy.copy(obj)


_patch_datetimes = _helpers.patch_datetime_awareness_in_document


def _datetimes_to_milliseconds(value):
    """mongomock's walk that brings datetimes to MongoDB's precision, with the plain dicts,
    lists and scalars of JSON-shaped documents walked directly (everything else: its own)."""
    return _walk(value, _patch_datetimes)


class _Copying:
    """What mongomock.collection sees as its `copy` module."""
    deepcopy = staticmethod(_snapshot_or_copy)
    copy = staticmethod(copy.copy)


# Per-write overheads. mongomock parses the same version strings on every insert and every field
# an update sets (to compare pymongo's version with them); reads one document under its
# reader-writer lock (five lock operations, green ones under eventlet) where one dict lookup is
# atomic already; and walks a new document's keys through the generic Mapping test. Each is a
# visible share of a write that otherwise costs some tens of microseconds.
class _Versions:
    """What mongomock.collection sees as `packaging.version`: `parse` remembered."""
    parse = staticmethod(functools.lru_cache(maxsize=64)(_version.parse))

    def __getattr__(self, name):
        return getattr(_version, name)


_store_getitem = _mstore.CollectionStore.__getitem__
_store_contains = _mstore.CollectionStore.__contains__


def _getitem(self, key):
    if self._ttl_indexes:  # expiry first, as mongomock does
        return _store_getitem(self, key)
    return self._documents[key]


def _contains(self, key):
    if self._ttl_indexes:
        return _store_contains(self, key)
    return key in self._documents


def _key_check(data):
    """mongomock's `_recursive_key_check_null_character`: the same keys refused with the same
    error, plain dicts recognised by their type before the generic Mapping test."""
    for key, value in data.items():
        if "\0" in key:
            raise _collection.InvalidDocument(f"Field names cannot contain the null character (found: {key})")
        kind = type(value)
        if kind is dict or (kind not in _IMMUTABLE and isinstance(value, Mapping)):
            _key_check(value)

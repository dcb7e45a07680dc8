"""The embedded store (mongomock) made to find a document by `_id` the way MongoDB does.

mongomock answers every query by scanning the whole collection and testing each document
against the filter, so a service's cost per event grows with everything it has ever stored:
at a few thousand needs, that scan was most of each service's CPU under `make bench`. MongoDB
finds a document by `_id` through its `_id` index. This gives mongomock the same for filters
that name one string `_id` (most of ours: needs, calls, cases, idempotency records), with the
same answers: the document is the only one such a filter can match, and the whole filter is
still tested against it. A filter that names a declared index's field finds its documents
through that index (wushe.runtime.mongomock_indexes); other filters scan as before. And it
copies JSON-shaped documents without the generic copy protocol (below). Only the embedded
store is touched.
"""
import copy
from collections.abc import Mapping

from mongomock import collection as _collection
from mongomock import helpers as _helpers
from mongomock.filtering import filter_applies

from wushe.runtime import mongomock_indexes

_scan = _collection.Collection._iter_documents


def _iter_documents(self, filter):
    if not isinstance(filter, Mapping):
        return _scan(self, filter)
    key = filter.get("_id")
    if not isinstance(key, str):
        # a declared index's field, if the filter names one (wushe.runtime.mongomock_indexes)
        found = mongomock_indexes.candidates(self, filter)
        return _scan(self, filter) if found is None else iter(found)
    store = self._store
    found = [store[key]] if key in store else []
    return (document for document in found if filter_applies(filter, document))


def install():
    """Idempotent; called when the first embedded client is made."""
    mongomock_indexes.install()
    _collection.Collection._iter_documents = _iter_documents
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
    deepcopy = staticmethod(_deepcopy)
    copy = staticmethod(copy.copy)

"""The embedded store (mongomock) made to find a document by `_id` the way MongoDB does.

mongomock answers every query by scanning the whole collection and testing each document
against the filter, so a service's cost per event grows with everything it has ever stored:
at a few thousand needs, that scan was most of each service's CPU under `make bench`. MongoDB
finds a document by `_id` through its `_id` index. This gives mongomock the same for filters
that name one string `_id` (most of ours: needs, calls, cases, idempotency records), with the
same answers: the document is the only one such a filter can match, and the whole filter is
still tested against it. Other filters scan as before. Only the embedded store is touched.
"""
from collections.abc import Mapping

from mongomock import collection as _collection
from mongomock.filtering import filter_applies

_scan = _collection.Collection._iter_documents


def _iter_documents(self, filter):
    key = filter.get("_id") if isinstance(filter, Mapping) else None
    if not isinstance(key, str):
        return _scan(self, filter)
    store = self._store
    found = [store[key]] if key in store else []
    return (document for document in found if filter_applies(filter, document))


def install():
    """Idempotent; called when the first embedded client is made."""
    _collection.Collection._iter_documents = _iter_documents

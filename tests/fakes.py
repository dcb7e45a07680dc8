"""The one place where tests change a real component's behaviour."""
import functools

import eventlet

_OPERATIONS = ("find_one", "find", "find_one_and_update", "update_one", "update_many", "insert_one",
               "insert_many", "replace_one", "delete_one", "count_documents", "aggregate")


def interleave_mongomock():
    """Make every mongomock collection operation yield to other greenlets first, so that
    concurrent handlers interleave between a read and a write as they do on a real MongoDB."""
    from mongomock.collection import Collection

    from wushe.runtime import mongomock_speedups
    if getattr(Collection, "_wushe_interleaved", False):
        return
    mongomock_speedups.install()  # first, so that what yields is the embedded store as it runs
    for name in _OPERATIONS:
        original = getattr(Collection, name)

        def yielding(self, *args, __original=original, **kwargs):
            eventlet.sleep(0)
            return __original(self, *args, **kwargs)
        setattr(Collection, name, functools.wraps(original)(yielding))
    Collection._wushe_interleaved = True

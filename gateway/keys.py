"""API keys: made once, shown once, stored hashed; revoked at once; last use recorded. Pure
except `KeyStore`, which keeps them in the gateway's database, and `RecentKeys`, what one
gateway process read of them last.

A key reads `wsk_<key id>.<secret>`: the id finds the record, the secret is compared with the
stored SHA-256 of it (a 256-bit random secret needs no slow hash: there is nothing to guess).
"""
import hashlib
import hmac
import secrets
import time

from wushe.contract.clock import later

PREFIX = "wsk_"
TOUCH_EVERY_SECONDS = 60  # last use is recorded at most once a minute per key (one write, not one per request)
LEVEL_OF_ROLE = {"city": "city", "district": "district", "station": "street"}  # admin, integrator: any


def digest(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key(role, region, at, created_by, name=None, rate_per_minute=None):
    """(the record to store, the key to show once)."""
    key_id, secret = "key-" + secrets.token_hex(8), secrets.token_urlsafe(32)
    doc = {"_id": key_id, "hash": digest(secret), "role": role, "region": region or "", "name": name,
           "rate_per_minute": rate_per_minute, "created_at": at, "created_by": created_by,
           "revoked_at": None, "last_used_at": None}
    return doc, f"{PREFIX}{key_id}.{secret}"


def parse(token):
    """(key id, secret) of a well-formed key, else None."""
    if not token.startswith(PREFIX):
        return None
    key_id, dot, secret = token[len(PREFIX):].rpartition(".")
    return (key_id, secret) if dot and key_id and secret else None


def matches(doc, secret):
    return doc is not None and doc.get("revoked_at") is None and hmac.compare_digest(doc["hash"], digest(secret))


def region_refused(role, level):
    """Why a key of `role` may not be bound to a region of `level`; None when it may."""
    wanted = LEVEL_OF_ROLE.get(role)
    if wanted and level != wanted:
        return f"a {role} key is bound to a {wanted}"
    return None


def public(doc):
    """A key as listed: never its hash."""
    return {"id": doc["_id"], **{k: doc.get(k) for k in (
        "role", "region", "name", "rate_per_minute", "created_at", "created_by", "revoked_at", "last_used_at")}}


class KeyStore:
    def __init__(self, collection):
        self.keys = collection

    def add(self, doc):
        self.keys.insert_one(doc)

    def find(self, key_id):
        return self.keys.find_one({"_id": key_id})

    def revoke(self, key_id, at):
        return self.keys.find_one_and_update({"_id": key_id, "revoked_at": None}, {"$set": {"revoked_at": at}})

    def touch(self, doc, at):
        """Record a use of the key `doc` (as just read), unless one was recorded within the last
        minute: most requests write nothing; the filter keeps concurrent requests to one write."""
        recent = later(at, seconds=-TOUCH_EVERY_SECONDS)
        if doc.get("last_used_at") and doc["last_used_at"] >= recent:
            return
        self.keys.update_one({"_id": doc["_id"], "$or": [{"last_used_at": None}, {"last_used_at": {"$lt": recent}}]},
                             {"$set": {"last_used_at": at}})


class RecentKeys:
    """The keys one gateway process read last, trusted for `seconds` (WUSHE_KEY_CACHE_SECONDS, at
    most 1): a request within that reads no key from the store, so a key revoked on another
    gateway stops working here within it; one revoked here stops at once (`forget`). A key's use
    is recorded once a minute per process at most, as `KeyStore.touch` records it."""

    def __init__(self, seconds, clock=time.monotonic, entries=10_000):
        self.seconds, self.clock, self.entries = seconds, clock, entries
        self.read = {}     # key id → (document or None, when read)
        self.touched = {}  # key id → when this process last recorded its use

    def find(self, keys, key_id):
        now = self.clock()
        known = self.read.get(key_id)
        if known is not None and now - known[1] < self.seconds:
            return known[0]
        doc = keys.find(key_id)
        if len(self.read) >= self.entries:  # made-up key ids must not grow it without bound
            self.read.clear()
        self.read[key_id] = (doc, now)
        return doc

    def forget(self, key_id):
        self.read.pop(key_id, None)

    def touch(self, keys, doc, now_iso):
        now = self.clock()
        if now - self.touched.get(doc["_id"], -TOUCH_EVERY_SECONDS) < TOUCH_EVERY_SECONDS:
            return
        if len(self.touched) >= self.entries:
            self.touched.clear()
        self.touched[doc["_id"]] = now
        keys.touch(doc, now_iso())

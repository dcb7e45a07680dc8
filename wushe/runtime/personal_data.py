"""The keyring residents' personal data is sealed with (WUSHE_PII_KEY), for the processes that
seal it (the community service) and open it for a caller who may see it (the gateway)."""
import functools

import structlog
from nameko.extensions import DependencyProvider

from wushe.contract import residents
from wushe.runtime.config import settings
from wushe.runtime.store import is_embedded

log = structlog.get_logger("wushe.personal_data")


@functools.cache
def _generated():
    # one per process: the services of one process (the embedded store's topology) share it
    log.warning("pii_key_generated",
                detail="WUSHE_PII_KEY is unset: residents' personal data is encrypted with a key made for "
                       "this process and cannot be read after a restart")
    return residents.generate_key()


class PersonalDataKeys(DependencyProvider):
    """The keyring from WUSHE_PII_KEY. Unset on the embedded store, a key is generated for the
    process (that store is gone at a restart anyway); unset on a durable store, the service does
    not start: data sealed under a key that dies with the process would be unreadable after a
    restart."""

    def setup(self):
        cfg = settings(self.container)
        keys = cfg["PII_KEY"]
        if not keys:
            if not is_embedded(cfg["MONGO_URI"]):
                raise RuntimeError("WUSHE_PII_KEY is unset: set it to keep residents' personal data "
                                   "readable across restarts (README, \"Personal data\")")
            keys = _generated()
        self.keyring = residents.Keyring.parse(keys)

    def get_dependency(self, worker_ctx):
        return self.keyring

"""Configuration from the environment (12-factor), turned into one nameko config dict.

Dependency providers read `container.config["WUSHE"]`, so tests can hand a container its own
settings without touching the process environment.
"""
import functools
import os
from dataclasses import fields, replace

from nameko.extensions import DependencyProvider

DEFAULT_AMQP_URI = "pyamqp://guest:guest@127.0.0.1:5672/"


def rules_from_env(cls, env=os.environ):
    """A service's `Rules` (a dataclass of its domain) with what the environment sets: each field
    is `WUSHE_<FIELD>`, a dict field's entries `WUSHE_<FIELD>_<KEY>` (or the field's
    `metadata["env"]` in place of `WUSHE_<FIELD>`), cast to the type of its default."""
    base, changed = cls(), {}
    for f in fields(cls):
        name = f.metadata.get("env", f"WUSHE_{f.name.upper()}")
        default = getattr(base, f.name)
        if isinstance(default, dict):
            entries = {key: type(value)(env[f"{name}_{key.upper()}"]) for key, value in default.items()
                       if env.get(f"{name}_{key.upper()}")}
            if entries:
                changed[f.name] = {**default, **entries}
        elif env.get(name):
            changed[f.name] = type(default)(env[name])
    return replace(base, **changed)


def nameko_config(env=os.environ, **overrides):
    """The nameko config for a container or runner, from the environment plus overrides."""
    port = int(env.get("WUSHE_HTTP_PORT", "8000"))
    workers = int(env.get("WUSHE_MAX_WORKERS", "10"))
    wushe = {
        "MONGO_URI": env.get("MONGO_URI", "mongomock://"),
        # every service's database is <prefix><service>; tests give each run its own prefix
        "DB_PREFIX": env.get("WUSHE_DB_PREFIX", "wushe_"),
        "ADMIN_KEY": env.get("WUSHE_ADMIN_KEY", ""),
        # the keys residents' personal data is encrypted with (README, "Personal data"): base64 of
        # 32 bytes, newest first, comma-separated while older ones are still needed to read
        "PII_KEY": env.get("WUSHE_PII_KEY", ""),
        "RPC_TIMEOUT": float(env.get("WUSHE_RPC_TIMEOUT", "10")),
        # requests a minute one API key may make to one gateway process (a key may set its own)
        "RATE_LIMIT_PER_MINUTE": int(env.get("WUSHE_RATE_LIMIT_PER_MINUTE", "6000")),
        "METRICS_PORT": int(env.get("WUSHE_METRICS_PORT", "0")),
        # the events page's renderer (npm's @asyncapi/react-component); empty: deploy/events-page/'s
        "EVENTS_PAGE_DIR": env.get("WUSHE_EVENTS_PAGE_DIR", ""),
        "OUTBOX_RELAY_SECONDS": float(env.get("WUSHE_OUTBOX_RELAY_SECONDS", "1")),
        "OUTBOX_GRACE_SECONDS": float(env.get("WUSHE_OUTBOX_GRACE_SECONDS", "2")),
        # one relay per document's outbox at a time: a relay silent this long (crashed) is taken over
        "OUTBOX_LEASE_SECONDS": float(env.get("WUSHE_OUTBOX_LEASE_SECONDS", "10")),
        # how often the timers look: calls' deadlines, bookings and pending time-bank movements
        # (volunteers); the gauges recounted from the stores (orgs, workers, volunteers); needs
        # left waiting on a graduated organisation (orgs); appeals to fill from available lots
        # and unposted fund movements (charity)
        "CALL_EXPIRY_CHECK_SECONDS": float(env.get("WUSHE_CALL_EXPIRY_CHECK_SECONDS", "30")),
        "MEASURE_SECONDS": float(env.get("WUSHE_MEASURE_SECONDS", "30")),
        "HANDOVER_CHECK_SECONDS": float(env.get("WUSHE_HANDOVER_CHECK_SECONDS", "30")),
        "APPEAL_CHECK_SECONDS": float(env.get("WUSHE_APPEAL_CHECK_SECONDS", "30")),
        # a top-up round whose holder is silent this long is taken over (its holder crashed)
        "TOP_UP_LEASE_SECONDS": float(env.get("WUSHE_TOP_UP_LEASE_SECONDS", "60")),
        # a failing handler is tried this many times in all, then parked in <service>.dead
        "MAX_ATTEMPTS": int(env.get("WUSHE_MAX_ATTEMPTS", "5")),
        # back-off before the 1st, 2nd, … retry (the last repeats)
        "RETRY_DELAYS_MS": [int(ms) for ms in env.get("WUSHE_RETRY_DELAYS_MS", "1000,5000,30000,120000").split(",")],
        "QUEUE_TYPE": env.get("WUSHE_QUEUE_TYPE", "classic"),
        # requests one gateway process serves at once (waiting for a worker included) when a read
        # comes in; past it the read is shed at once with 503 and Retry-After, not queued behind
        # the others (README, "Overload sheds"). Twice its workers: past that, a read admitted
        # waits behind the others for longer than a client waits (at 128, 1.7 s at three times
        # capacity; at 20, 15 ms)
        "MAX_IN_FLIGHT": int(env.get("WUSHE_MAX_IN_FLIGHT") or 2 * workers),
        # the same when a write comes in: a write spends most of its time in flight waiting on its
        # service's answer, so past the platform's ceiling a bound of 20 shed writes on the
        # services' queues while the box idled; six times the workers kept it busy (README). Never
        # below MAX_IN_FLIGHT: the gateway takes the larger
        "MAX_WRITES_IN_FLIGHT": int(env.get("WUSHE_MAX_WRITES_IN_FLIGHT") or 6 * workers),
        # how long a gateway trusts an API key as it last read it: a key revoked on another
        # gateway stops working there within this (at most 1 s; 0: read on every request)
        "KEY_CACHE_SECONDS": min(float(env.get("WUSHE_KEY_CACHE_SECONDS", "1")), 1.0),
        # the browser origins (scheme://host[:port]) the gateway answers CORS for, comma-separated;
        # none (the default): no CORS headers at all, and a preflight is a 405 like any OPTIONS
        "CORS_ORIGINS": [origin.strip().rstrip("/") for origin in env.get("WUSHE_CORS_ORIGINS", "").split(",")
                         if origin.strip()],
        # rules set for this container by name (`{"default_project_capacity": 3}`), over its
        # service's defaults and what the environment sets (`rules_from_env`)
        "RULES": {},
    }
    wushe.update(overrides.pop("WUSHE", {}))
    config = {
        "AMQP_URI": env.get("AMQP_URI", DEFAULT_AMQP_URI),
        "WEB_SERVER_ADDRESS": f"{env.get('WUSHE_HTTP_HOST', '0.0.0.0')}:{port}",
        "serializer": "json",
        # nameko's container, running each worker without its debug bookkeeping
        "SERVICE_CONTAINER_CLS": "wushe.runtime.container.WusheContainer",
        "max_workers": workers,
        "LOG_LEVEL": env.get("LOG_LEVEL", "INFO"),
        # a line per HTTP request (the web server's own, in text): off unless asked for, as it
        # costs a busy gateway a twentieth of its reads; wushe_http_request_seconds counts them
        "ACCESS_LOG": env.get("WUSHE_ACCESS_LOG", "") not in ("", "0", "false", "no"),
        "WUSHE": wushe,
    }
    config.update(overrides)
    return config


@functools.cache
def _defaults():
    """Made once: building them reads every rule, and workers ask for their settings all the time."""
    return nameko_config(env={})["WUSHE"]


def settings(container):
    """The WUSHE section of a container's config, with defaults for anything missing."""
    return {**_defaults(), **container.config.get("WUSHE", {})}


class RulesConfig(DependencyProvider):
    """Gives a service the rules in force (`self.rules.incubation_threshold`, …): its domain's
    `Rules`, as the process environment sets them, with the container's `RULES` over them — read
    for each worker, so that a changed config applies at once."""

    def __init__(self, rules_class):
        self.rules_class = rules_class

    def setup(self):
        self.from_env = rules_from_env(self.rules_class)
        self.names = {f.name for f in fields(self.rules_class)}

    def get_dependency(self, worker_ctx):
        given = settings(self.container)["RULES"]
        return replace(self.from_env, **{k: v for k, v in given.items() if k in self.names}) if given else self.from_env


class SettingsConfig(DependencyProvider):
    """Gives a service its WUSHE settings (`self.settings["TOP_UP_LEASE_SECONDS"]`, …)."""

    def get_dependency(self, worker_ctx):
        return settings(self.container)

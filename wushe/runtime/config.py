"""Configuration from the environment (12-factor), turned into one nameko config dict.

Dependency providers read `container.config["WUSHE"]`, so tests can hand a container its own
settings without touching the process environment.
"""
import functools
import os
from dataclasses import dataclass, field, asdict

from nameko.extensions import DependencyProvider

DEFAULT_AMQP_URI = "pyamqp://guest:guest@127.0.0.1:5672/"


@dataclass(frozen=True)
class Rules:
    """The default linkage rules (README, "Rules"); each can be overridden from the environment."""
    # orgs: the Nth unmatched need of one category in one community within the window starts an incubation
    incubation_threshold: int = 3
    incubation_window_days: int = 90
    # orgs: training sessions before the training milestone; the standing micro-project's size
    training_sessions: int = 2
    default_project_capacity: int = 20
    # workers: the caseload cap by certification level, unless a worker is given max_caseload
    caseload_caps: dict = field(default_factory=lambda: {
        "none": 8, "assistant": 10, "intermediate": 12, "senior": 15})
    # an uncertified worker must certify within this many days of joining; warned this many before
    certification_deadline_days: int = 730
    certification_warning_days: int = 90
    # volunteers: hours a call stays open before it expires unfilled, by urgency
    call_expiry_hours: dict = field(default_factory=lambda: {
        "critical": 2, "high": 12, "normal": 48, "low": 168})
    # volunteers: a call offered to a team stays the team's for this long (at most half its time open)
    team_first_hours: float = 2.0
    # volunteers: how many may wait for a full call's slots
    waiting_list_max: int = 10
    # volunteers: a claimant not checked in this long after the start is recorded as a no-show
    no_show_grace_minutes: int = 30
    # volunteers: attendance credited for one service is capped (a forgotten check-out)
    attendance_cap_hours: float = 12.0

    @classmethod
    def from_env(cls, env=os.environ):
        base = cls()
        caps = dict(base.caseload_caps)
        for level in caps:
            value = env.get(f"WUSHE_CASELOAD_CAP_{level.upper()}")
            if value:
                caps[level] = int(value)
        expiry = dict(base.call_expiry_hours)
        for urgency in expiry:
            value = env.get(f"WUSHE_CALL_EXPIRY_HOURS_{urgency.upper()}")
            if value:
                expiry[urgency] = float(value)
        return cls(
            incubation_threshold=int(env.get("WUSHE_INCUBATION_THRESHOLD", base.incubation_threshold)),
            incubation_window_days=int(env.get("WUSHE_INCUBATION_WINDOW_DAYS", base.incubation_window_days)),
            training_sessions=int(env.get("WUSHE_TRAINING_SESSIONS", base.training_sessions)),
            default_project_capacity=int(env.get("WUSHE_DEFAULT_PROJECT_CAPACITY", base.default_project_capacity)),
            caseload_caps=caps,
            certification_deadline_days=int(env.get("WUSHE_CERTIFICATION_DEADLINE_DAYS",
                                                    base.certification_deadline_days)),
            certification_warning_days=int(env.get("WUSHE_CERTIFICATION_WARNING_DAYS",
                                                   base.certification_warning_days)),
            call_expiry_hours=expiry,
            team_first_hours=float(env.get("WUSHE_TEAM_FIRST_HOURS", base.team_first_hours)),
            waiting_list_max=int(env.get("WUSHE_WAITING_LIST_MAX", base.waiting_list_max)),
            no_show_grace_minutes=int(env.get("WUSHE_NO_SHOW_GRACE_MINUTES", base.no_show_grace_minutes)),
            attendance_cap_hours=float(env.get("WUSHE_ATTENDANCE_CAP_HOURS", base.attendance_cap_hours)),
        )


def nameko_config(env=os.environ, **overrides):
    """The nameko config for a container or runner, from the environment plus overrides."""
    port = int(env.get("WUSHE_HTTP_PORT", "8000"))
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
        "OUTBOX_RELAY_SECONDS": float(env.get("WUSHE_OUTBOX_RELAY_SECONDS", "1")),
        "OUTBOX_GRACE_SECONDS": float(env.get("WUSHE_OUTBOX_GRACE_SECONDS", "2")),
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
        "RULES": asdict(Rules.from_env(env)),
    }
    wushe.update(overrides.pop("WUSHE", {}))
    config = {
        "AMQP_URI": env.get("AMQP_URI", DEFAULT_AMQP_URI),
        "WEB_SERVER_ADDRESS": f"{env.get('WUSHE_HTTP_HOST', '0.0.0.0')}:{port}",
        "serializer": "json",
        "max_workers": int(env.get("WUSHE_MAX_WORKERS", "10")),
        "LOG_LEVEL": env.get("LOG_LEVEL", "INFO"),
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


def rules(container):
    return Rules(**settings(container)["RULES"])


class RulesConfig(DependencyProvider):
    """Gives a service the linkage rules in force (`self.rules.incubation_threshold`, …), read
    from the container's config for each worker, so that a changed config applies at once."""

    def get_dependency(self, worker_ctx):
        return rules(self.container)


class SettingsConfig(DependencyProvider):
    """Gives a service its WUSHE settings (`self.settings["TOP_UP_LEASE_SECONDS"]`, …)."""

    def get_dependency(self, worker_ctx):
        return settings(self.container)

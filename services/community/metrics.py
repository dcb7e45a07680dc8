"""The community service's own figures on /metrics (README, "Metrics"). Labels are bounded: never a need
id or personal data."""
from prometheus_client import Counter, Histogram

# the social effect, by district (a city has a few dozen: a bounded label; never a need id)
NEEDS = Counter(
    "wushe_needs_total", "Needs by lifecycle event (registered, linked, escalated, cancelled, resolved)",
    ["event", "category", "urgency", "district"])
NEED_LINKAGE_SECONDS = Histogram(
    "wushe_need_linkage_seconds", "Time from a need's registration to its first linkage",
    ["category", "urgency"],
    buckets=(.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 7 * 86400))

"""The community service's own figures on /metrics (README, "Metrics"). Labels are bounded: never a need
id or personal data."""
from prometheus_client import Counter, Histogram

from wushe.contract.regions import depth, truncate
from wushe.contract.vocabulary import CATEGORIES, URGENCIES

# every lifecycle event a need's status can take (handlers: registered, the linkage's, the manual ones)
NEED_EVENTS = ("registered", "linking", "linked", "escalated", "cancelled", "resolved", "evaluated")

# the social effect, by district (a city has a few dozen: a bounded label; never a need id)
NEEDS = Counter(
    "wushe_needs_total", "Needs by lifecycle event (registered, linked, escalated, cancelled, resolved)",
    ["event", "category", "urgency", "district"])
NEED_LINKAGE_SECONDS = Histogram(
    "wushe_need_linkage_seconds", "Time from a need's registration to its first linkage",
    ["category", "urgency"],
    buckets=(.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 7 * 86400))


def zero_district(district):
    """wushe_needs_total at zero for one district: every event × category × urgency (308 series)."""
    for event in NEED_EVENTS:
        for category in CATEGORIES:
            for urgency in URGENCIES:
                NEEDS.labels(event, category, urgency, district)


def zero_region(path):
    """A region registered: its district's series at zero (a city has none of its own)."""
    if depth(path) >= 2:
        zero_district(truncate(path, "district"))


def zero_known(store):
    """At start: every registered district's series at zero (cities, then their districts, by
    the regions' parent index)."""
    for city in store.regions_under(None):
        for district in store.regions_under(city["_id"]):
            zero_district(district["_id"])

"""The charity service's own figures on /metrics (README, "Metrics"). Labels are bounded: never a need
id or personal data."""
from prometheus_client import Counter

from wushe.contract.regions import truncate

RESOURCE_EVENTS = ("pledged", "delivered", "released")

RESOURCES_VALUE_CENTS = Counter(
    "wushe_resources_value_cents_total", "Value of charitable resources pledged and delivered (fen)",
    ["event", "district"])


def zero_community(community):
    """wushe_resources_value_cents_total at zero for a need's district (three series), as its
    need arrives: before its pledges are delivered or released (README, "Metrics", on the first
    pledge of a district new to the process)."""
    district = truncate(community, "district")
    for event in RESOURCE_EVENTS:
        RESOURCES_VALUE_CENTS.labels(event, district)

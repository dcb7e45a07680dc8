"""The charity service's own figures on /metrics (README, "Metrics"). Labels are bounded: never a need
id or personal data."""
from prometheus_client import Counter

RESOURCES_VALUE_CENTS = Counter(
    "wushe_resources_value_cents_total", "Value of charitable resources pledged and delivered (fen)",
    ["event", "district"])

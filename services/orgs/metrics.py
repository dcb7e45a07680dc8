"""The orgs service's own figures on /metrics (README, "Metrics"). Labels are bounded: never a need
id or personal data."""
from prometheus_client import Gauge

ORGANISATIONS = Gauge("wushe_organisations", "Community organisations by stage", ["stage"])

"""The workers service's own figures on /metrics (README, "Metrics"). Labels are bounded: never a need
id or personal data."""
from prometheus_client import Gauge

CASES = Gauge("wushe_cases", "Social workers' cases by stage", ["stage"])
STATIONS_NONCOMPLIANT = Gauge(
    "wushe_stations_noncompliant", "Social work stations not meeting the staffing rules", ["district"])

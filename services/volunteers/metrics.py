"""The volunteers service's own figures on /metrics (README, "Metrics"). Labels are bounded: never a need
id or personal data."""
from prometheus_client import Counter, Gauge

CALLS_OPEN = Gauge("wushe_calls_open", "Calls for volunteers open now", ["district"])
OLDEST_OPEN_CALL_SECONDS = Gauge(
    "wushe_oldest_open_call_age_seconds", "Age of the oldest call still open", ["district"])
VOLUNTEER_HOURS = Counter("wushe_volunteer_hours_total", "Volunteer hours credited to time banks", ["district"])


def zero_district(district):
    """wushe_volunteer_hours_total at zero for a district (one series): when a call opens there
    and whenever its open calls are measured, so before any hours of its calls are credited."""
    VOLUNTEER_HOURS.labels(district)

"""Which social worker takes a need's case. Pure; no I/O.

Candidates are the active workers of the station serving the need's street with room in their
caseload. For a `critical` or `high` need, certified workers with room come first (only they
are considered when any has room); then a specialty match; then the smallest caseload.
"""
URGENT = ("critical", "high")


def has_room(worker):
    return worker["active"] and worker["caseload"] < worker["max_caseload"]


def rank(workers, category, urgency):
    """Candidates in the order they should be tried."""
    candidates = [w for w in workers if has_room(w)]
    if urgency in URGENT:
        certified = [w for w in candidates if w["certification"] != "none"]
        candidates = certified or candidates
    return sorted(candidates, key=lambda w: (category not in w["specialties"], w["caseload"], w["_id"]))


def case_id_for(need_id):
    """One case per need: its id derives from the need's, so a redelivery finds it again."""
    return "case-" + need_id.removeprefix("need-")

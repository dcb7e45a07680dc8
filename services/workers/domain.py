"""Social workers' rules: who takes a case, a station's staffing, supervision, case stages,
and the district queue. Pure; no I/O.

Assignment: candidates are the active workers of the station serving the need's street with
room in their caseload. For a `critical` or `high` need, certified workers with room come first
(only they are considered when any has room); then a specialty match; then the smallest caseload.
"""
from datetime import timedelta

from wushe.clock import iso, parse

URGENT = ("critical", "high")
URGENCY_ORDER = {"critical": 0, "high": 1, "normal": 2, "low": 3}
LEVELS = ("none", "assistant", "intermediate", "senior")  # 助理 < 中级 < 高级社工师
STAGES = ("identified", "assessed", "planned", "in_service", "evaluated", "closed")
# 识别发现 → 组织实施 → 评估跟进; a reopened case goes back into service
NEXT_STAGES = {"identified": {"assessed"}, "assessed": {"planned"}, "planned": {"in_service"},
               "in_service": {"evaluated"}, "evaluated": {"closed", "in_service"}, "closed": {"in_service"}}
ACTIVITY_KINDS = ("household_visit", "case", "group", "community")  # 入户走访, 个案, 小组, 社区活动


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


def cap_for(certification, caps, given=None):
    """The caseload cap: the one given, or the level's."""
    return given or caps[certification]


def certification_refused(worker, to):
    """Why a worker cannot be recorded at certification level `to` (None when they can)."""
    if not worker["active"]:
        return "the worker has left"
    if LEVELS.index(to) <= LEVELS.index(worker["certification"]):
        return f"certification only goes up; this worker is already {worker['certification']}"
    return None


def cap_after_certification(worker, to, caps):
    """A cap that was the old level's default follows the new level; one set by hand stays."""
    return caps[to] if worker["max_caseload"] == caps[worker["certification"]] else worker["max_caseload"]


def certify_by(worker, deadline_days):
    """When an uncertified worker must be certified (None for a certified one)."""
    if worker["certification"] != "none":
        return None
    return iso(parse(worker["joined_at"]) + timedelta(days=deadline_days))


def supervision_problem(worker, supervisor):
    """Why `supervisor` cannot supervise `worker` (None when it can): a supervisor is active, of a
    higher level, and of the same station or the same district's guidance centre."""
    if supervisor is None:
        return "no such worker"
    if not supervisor["active"]:
        return "the supervisor has left"
    if LEVELS.index(supervisor["certification"]) <= LEVELS.index(worker["certification"]):
        return "a supervisor must be of a higher certification level"
    same_station = supervisor["station_id"] == worker["station_id"]
    same_district = supervisor["street"].rsplit("/", 1)[0] == worker["street"].rsplit("/", 1)[0]
    if not (same_station or same_district):
        return "a supervisor works at the same station or the district's guidance centre"
    return None


def needs_supervisor(worker):
    return worker["certification"] in ("none", "assistant")


def staffing(workers, now, rules):
    """A station's staffing report: head count, certified count, uncertified workers near or past
    their two-year deadline, workers without a supervisor; `compliant` and the reasons when not."""
    active = [w for w in workers if w["active"]]
    certified = [w for w in active if w["certification"] != "none"]
    reasons, deadlines, unsupervised = [], [], []
    if len(active) < 2:
        reasons.append(f"a station needs at least two resident social workers; it has {len(active)}")
    if not certified:
        reasons.append("a station needs at least one certified social worker; it has none")
    for w in active:
        due = certify_by(w, rules.certification_deadline_days)
        if due:
            days_left = (parse(due) - now).days
            if days_left <= rules.certification_warning_days:
                deadlines.append({"worker_id": w["_id"], "certify_by": due, "days_left": days_left,
                                  "overdue": days_left < 0})
            if days_left < 0:
                reasons.append(f"{w['_id']} is uncertified past the two-year deadline ({due[:10]})")
        if needs_supervisor(w) and not w.get("supervisor_id"):
            unsupervised.append(w["_id"])
            reasons.append(f"{w['_id']} ({w['certification']}) has no supervisor of a higher level")
    return {"workers": len(active), "certified": len(certified), "certification_deadlines": deadlines,
            "unsupervised": unsupervised, "compliant": not reasons, "reasons": reasons}


def stage_refused(current, to, by_system=False):
    """Why a case cannot move from `current` to `to` (None when it can). The system closes a
    case from any stage when its need is resolved or cancelled."""
    if to == current:
        return f"the case is already {current}"
    if by_system and to == "closed":
        return None
    if to not in NEXT_STAGES[current]:
        allowed = " or ".join(sorted(NEXT_STAGES[current]))
        return f"a case that is {current} can move only to {allowed}"
    return None


def queue_order(waiting):
    """The district queue: the most urgent first, then the oldest."""
    return sorted(waiting, key=lambda n: (URGENCY_ORDER[n["urgency"]], n["registered_at"], n["_id"]))

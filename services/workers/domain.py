"""Social workers' rules: who takes a case, a station's staffing, supervision, case stages,
and the district queue. Pure; no I/O: ids and times come in, documents, `Change`s and refusals
come out (wushe.contract.decisions).

Assignment: candidates are the active workers of the station serving the need's street with
room in their caseload. For a `critical` or `high` need, certified workers with room come first
(only they are considered when any has room); then a specialty match; then the smallest caseload.
"""
from dataclasses import dataclass, field
from datetime import timedelta

from wushe.contract.clock import iso, parse
from wushe.contract.decisions import Change, Event, Refused
from wushe.contract.regions import truncate

SOURCE = "workers"
URGENT = ("critical", "high")
URGENCY_ORDER = {"critical": 0, "high": 1, "normal": 2, "low": 3}
LEVELS = ("none", "assistant", "intermediate", "senior")  # 助理 < 中级 < 高级社工师
STAGES = ("identified", "assessed", "planned", "in_service", "evaluated", "closed")
# 识别发现 → 组织实施 → 评估跟进; a reopened case goes back into service
NEXT_STAGES = {"identified": {"assessed"}, "assessed": {"planned"}, "planned": {"in_service"},
               "in_service": {"evaluated"}, "evaluated": {"closed", "in_service"}, "closed": {"in_service"}}
ACTIVITY_KINDS = ("household_visit", "case", "group", "community")  # 入户走访, 个案, 小组, 社区活动
# what the need's decision keeps of it, so that the district queue can assign it later


@dataclass(frozen=True)
class Rules:
    """The workers' rules in force (README, "Rules"): each is `WUSHE_<NAME>` in the environment,
    a cap `WUSHE_CASELOAD_CAP_<LEVEL>` (wushe.runtime.config.rules_from_env)."""
    # the caseload cap by certification level, unless a worker is given max_caseload
    caseload_caps: dict = field(default_factory=lambda: {"none": 8, "assistant": 10, "intermediate": 12, "senior": 15},
                                metadata={"env": "WUSHE_CASELOAD_CAP"})
    # an uncertified worker must certify within this many days of joining; warned this many before
    certification_deadline_days: int = 730
    certification_warning_days: int = 90


WAITING_FIELDS = ("community", "street", "district", "category", "urgency", "registered_at")


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
    their two-year deadline; `compliant` by the staffing rule (at least two resident social
    workers, at least one certified, the others certified within two years) and the `reasons`
    when not. Workers without the supervisor of a higher level their level calls for are reported
    beside it (`unsupervised`, `supervision_reasons`): a gap to close, not the staffing rule."""
    active = [w for w in workers if w["active"]]
    certified = [w for w in active if w["certification"] != "none"]
    reasons, deadlines, unsupervised, supervision = [], [], [], []
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
            supervision.append(f"{w['_id']} ({w['certification']}) has no supervisor of a higher level")
    return {"workers": len(active), "certified": len(certified), "certification_deadlines": deadlines,
            "compliant": not reasons, "reasons": reasons,
            "unsupervised": unsupervised, "supervision_reasons": supervision}


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


# stations and workers ----------------------------------------------------------------------------
def new_station(body, station_id, at):
    """The station document for a registration (a station serves one street: the store's unique
    index on `street` refuses a second)."""
    return {"_id": station_id, **{k: v for k, v in body.items() if k != "id"}, "created_at": at}


def new_worker(body, station, worker_id, at, caps, supervisor=None):
    """The worker document for a registration at a registered station; `supervisor` is the worker
    named by `supervisor_id` as read (None when there is none)."""
    if station is None:
        raise Refused.invalid("unknown station", {"station_id": [f"no station {body['station_id']}"]})
    joined = body.get("joined_at")
    worker = {"_id": worker_id, **{k: v for k, v in body.items() if k not in ("id", "joined_at")},
              "street": station["street"],
              "max_caseload": cap_for(body["certification"], caps, body.get("max_caseload")),
              "supervisor_id": body.get("supervisor_id"), "joined_at": iso(joined) if joined else at,
              "caseload": 0, "cases": [], "active": True, "created_at": at}
    if worker["supervisor_id"]:
        problem = supervision_problem(worker, supervisor)
        if problem:
            raise Refused.invalid("the supervisor cannot supervise this worker", {"supervisor_id": [problem]})
    return worker


def certified(worker, to, certified_at, at, caps):
    """A passed certification exam: the level goes up, and with it a default cap."""
    refused = certification_refused(worker, to)
    if refused:
        raise Refused(refused)
    return Change({"certification": to, "certified_at": iso(certified_at) if certified_at else at,
                   "max_caseload": cap_after_certification(worker, to, caps)})


def left(worker, at, reason):
    """A worker leaves (once): inactive from now on; their cases are handed over apart."""
    if not worker["active"]:
        raise Refused(f"worker {worker['_id']} has already left")
    return Change({"active": False, "left_at": at, "leave_reason": reason})


# assignment and the district queue ---------------------------------------------------------------
def decided(need, worker, station):
    """The need's decision, one document per need: `assigned` to `worker`, or `unavailable` —
    waiting on the district queue, the need escalated — when nobody (or no station) has room."""
    waiting = {k: need[k] for k in WAITING_FIELDS}
    if worker:
        return Change({"_id": need["need_id"], "outcome": "assigned", "worker_id": worker["_id"], **waiting},
                      (_assigned(need, worker),))
    reason = "no_worker_with_room" if station else "no_station"
    return Change({"_id": need["need_id"], "outcome": "unavailable", **waiting},
                  (_unavailable(need, station, reason),))


def assigned_from_queue(need, worker):
    """A need waiting on the district queue goes to a worker who has room now."""
    return Change({"outcome": "assigned", "worker_id": worker["_id"]}, (_assigned(need, worker, from_queue=True),))


def handed_over(case, colleague, leaver_id):
    """A leaving worker's case goes to a colleague of the station."""
    return Change({"worker_id": colleague["_id"], "station_id": colleague["station_id"]},
                  (_assigned(case, colleague, reassigned_from=leaver_id),))


def queued(case, station):
    """A leaving worker's case that no colleague has room for: the need waits on the district
    queue (escalated) until a worker of the station has room."""
    need = {**case, "district": truncate(case["street"], "district")}
    return Change({"outcome": "unavailable"}, (_unavailable(need, station, "worker_left"),))


def _assigned(need, worker, **extra):
    return Event("worker_assigned", {
        "need_id": need["need_id"], "community": need["community"], "worker_id": worker["_id"],
        "case_id": case_id_for(need["need_id"]), "station_id": worker["station_id"], **extra})


def _unavailable(need, station, reason):
    return Event("worker_unavailable", {
        "need_id": need["need_id"], "community": need["community"], "station_id": station and station["_id"],
        "reason": reason, "escalated_to": need["district"]})


# cases -------------------------------------------------------------------------------------------
def new_case(need, worker, at):
    """The need's case, new at stage `identified`, with the worker who took it."""
    return {"_id": case_id_for(need["need_id"]), "need_id": need["need_id"], "worker_id": worker["_id"],
            "station_id": worker["station_id"], "community": need["community"], "street": need["street"],
            "category": need["category"], "urgency": need["urgency"], "stage": "identified", "state": "open",
            "opened_at": at}


def stage_moved(case, to, at, closed_for=None):
    """A case moves to stage `to`, announced by `case_stage_changed` (and `case_closed` when it
    closes). `closed_for`: the system closes it from any stage because its need was resolved or
    cancelled (the reason); a worker closes it only once evaluated."""
    refused = stage_refused(case["stage"], to, by_system=closed_for is not None)
    if refused:
        raise Refused(refused)
    events = [_case_event("case_stage_changed", case, from_stage=case["stage"], to_stage=to)]
    if to == "closed":
        events.append(_case_event("case_closed", case, reason=closed_for or "case_closed"))
    return Change({"stage": to, "state": "closed" if to == "closed" else "open", f"{to}_at": at}, tuple(events))


def _case_event(event_type, case, **data):
    # a case orphaned by a worker who left has no worker until the queue gives it one
    return Event(event_type, {"need_id": case["need_id"], "community": case["community"],
                              "case_id": case["_id"], "worker_id": case["worker_id"] or "", **data})


def new_activity(case, body, activity_id, at):
    """A household visit (入户走访) or a case, group or community activity, against the case and
    its station; the answer leaves the note out."""
    activity = {"_id": activity_id, "case_id": case["_id"], "need_id": case["need_id"],
                "station_id": case["station_id"], "street": case["street"], "community": case["community"],
                "worker_id": case["worker_id"], "kind": body["kind"], "participants": body["participants"],
                "note": body["note"], "at": iso(body["at"]) if body.get("at") else at}
    return Change(activity, answer={k if k != "_id" else "id": v for k, v in activity.items() if k != "note"})


# statistics --------------------------------------------------------------------------------------
def noncompliant_by_district(reports):
    """Stations not meeting the staffing rules, by district: `reports` are (street, staffing)."""
    counts = {}
    for street, report in reports:
        district = truncate(street, "district")
        counts[district] = counts.get(district, 0) + (not report["compliant"])
    return counts

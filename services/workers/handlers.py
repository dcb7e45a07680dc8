"""The workers' use cases: stations and their staffing, social workers (registration,
certification, leaving), cases through their stages and activities; assigning needs and the
district queue are in `assignment`. Each loads what it needs from the store, lets the rules
decide (`domain`), writes the decision (one conditional write: `store`, compare-and-set through
`wushe.runtime.cas`), announces its events (the outbox) and answers. Plain functions of a `Workers` — the
store, the outbox, the log, the rules in force and the clock — so they run the same in a nameko
worker (`service.py`) and in a test on the embedded store (`tests/handlers/`)."""
from dataclasses import dataclass
from typing import Any, Callable

from services.workers import assignment, domain, metrics
from services.workers.domain import SOURCE
from services.workers.store import WorkersStore
from wushe.runtime import cas
from wushe.runtime.metrics import set_counts
from wushe.contract.clock import new_id, now_iso, parse
from wushe.contract.decisions import Refused, existing
from wushe.contract.events import stamped


@dataclass
class Workers:
    store: WorkersStore
    outbox: Any                  # wushe.runtime.outbox.Outbox: flush(collection, document)
    log: Any
    rules: domain.Rules                 # caseload caps, the certification deadline
    now: Callable[[], str] = now_iso
    new_id: Callable[[str], str] = new_id


# stations -------------------------------------------------------------------------------------
def add_station(c, body):
    """Register a station: one per street."""
    station = domain.new_station(body, body.get("id") or c.new_id("station"), c.now())
    if not c.store.add_station(station):
        raise Refused(f"a station already serves {station['street']} (or the id is taken)")
    return _staffed(c, station)


def station(c, station_id):
    """A station with its staffing report."""
    return _staffed(c, existing(c.store.station(station_id), "station", station_id))


def stats(c, region):
    """The region's cases, visits and activities, and its stations meeting the staffing rules."""
    stations = c.store.stations_under(region)
    compliant = sum(_staffing(c, s)["compliant"] for s in stations)
    return {**c.store.figures(region), "stations": len(stations), "stations_compliant": compliant}


def measure(c):
    """Cases by stage and stations not meeting the staffing rules (by district), for the
    operations dashboard."""
    set_counts(metrics.CASES, c.store.cases_by_stage(domain.STAGES), domain.STAGES)
    reports = [(s["street"], _staffing(c, s)) for s in c.store.all_stations()]
    set_counts(metrics.STATIONS_NONCOMPLIANT, domain.noncompliant_by_district(reports), ())


def _staffing(c, station_):
    return domain.staffing(c.store.station_workers(station_["_id"], active=False), parse(c.now()), c.rules)


def _staffed(c, station_):
    return {**station_, **_staffing(c, station_)}


# workers ----------------------------------------------------------------------------------------
def add_worker(c, body):
    """Register a worker at a station, under a supervisor who may supervise them. Room at the
    station: the district queue may move."""
    supervisor = c.store.worker(body["supervisor_id"]) if body.get("supervisor_id") else None
    worker_ = domain.new_worker(body, c.store.station(body["station_id"]), body.get("id") or c.new_id("worker"),
                                c.now(), c.rules.caseload_caps, supervisor)
    if not c.store.add_worker(worker_):
        raise Refused(f"worker {worker_['_id']} exists")
    assignment.drain(c, worker_["street"])
    return _shown(c, c.store.worker(worker_["_id"]))


def worker(c, worker_id):
    return _shown(c, existing(c.store.worker(worker_id), "worker", worker_id))


def certify(c, worker_id, to, certified_at=None, within=""):
    """A worker passed a certification exam (助理/中级/高级社工师): the level goes up, and with it
    the caseload cap when it was the level's default. Room may let the district queue move.
    `within` (here and below): the asking key's region, outside which a record is refused as
    one that is not there."""
    at = c.now()

    def attempt():
        found = existing(c.store.worker(worker_id), "worker", worker_id, within=within, at="street")
        change = domain.certified(found, to, certified_at, at, c.rules.caseload_caps)
        return c.store.certify(found, change.fields) or cas.AGAIN

    certified = cas.until_written(attempt, what=f"worker {worker_id}")
    c.log.info("worker.certified", worker_id=worker_id, certification=to)
    assignment.drain(c, certified["street"])
    return _shown(c, certified)


def leave(c, worker_id, reason, within=""):
    """A worker leaves: their open cases go to colleagues by the assignment rule, or, when no
    colleague has room, to the district queue (the need is escalated until one does)."""
    at = c.now()

    def attempt():
        found = existing(c.store.worker(worker_id), "worker", worker_id, within=within, at="street")
        return c.store.mark_left(worker_id, domain.left(found, at, reason).fields) or cas.AGAIN

    leaver = cas.until_written(attempt, what=f"worker {worker_id}")
    outcomes = [o for o in (assignment.hand_over(c, leaver, entry) for entry in leaver["cases"]) if o]
    c.log.info("worker.left", worker_id=worker_id, cases=len(outcomes))
    return {"worker_id": worker_id, "active": False,
            "reassigned": [o for o in outcomes if o["to"]], "queued": [o["case_id"] for o in outcomes if not o["to"]]}


def _shown(c, worker_):
    due = domain.certify_by(worker_, c.rules.certification_deadline_days) if worker_.get("joined_at") else None
    return {**worker_, "certify_by": due}


# cases ------------------------------------------------------------------------------------------
def case(c, case_id):
    found = c.store.case(case_id)
    if not found:
        raise Refused.missing(f"no case {case_id}")
    return _counted(c, found)


def change_stage(c, case_id, to, within=""):
    """Move a case through 识别发现 → 组织实施 → 评估跟进. A closed case frees its worker's
    caseload (the district queue may move); a reopened one needs room with its worker again."""
    at = c.now()

    def attempt():
        found = existing(c.store.case(case_id), "case", case_id, within=within)
        change = domain.stage_moved(found, to, at)
        reopened = found["stage"] == "closed"
        if reopened:  # back into service: the worker needs room again
            holder = c.store.worker(found["worker_id"]) if found["worker_id"] else None
            if not holder or not c.store.take_case(holder, found["need_id"], case_id):
                raise Refused("the case's worker has no room for it (or has left)")
        moved = c.store.move_stage(found, change.fields, [stamped(SOURCE, e, at) for e in change.events])
        if moved is None and reopened:  # moved meanwhile: give the room back, decide again
            c.store.release_case(found["need_id"], found["worker_id"])
        return moved or cas.AGAIN

    moved = cas.until_written(attempt, what=f"case {case_id}")
    c.outbox.flush(c.store.cases, moved)
    if to == "closed":
        c.store.release_case(moved["need_id"], moved["worker_id"])
        assignment.drain(c, moved["street"])
    return _counted(c, moved)


def record_activity(c, case_id, body, within=""):
    """A household visit (入户走访) or a case, group or community activity, against the case
    and its station."""
    found = existing(c.store.case(case_id), "case", case_id, within=within)
    activity = domain.new_activity(found, body, c.new_id("activity"), c.now())
    c.store.add_activity(activity.fields)
    return activity.answer


def _counted(c, case_):
    return {**case_, "activities": c.store.activities_of(case_["_id"])}

"""Assigning needs to social workers, and the district queue (use cases of a `handlers.Workers`).

A need's case goes to the best ranked worker with room of the station serving its street
(`domain.rank`); a need nobody has room for waits on the district queue, escalated, until a
worker of the station has room — one joins or is certified, a case closes, a need is resolved or
cancelled — and then goes most urgent and oldest first. A worker who leaves hands each case to a
colleague with room, or to the queue.

One case per need, caseloads never over the cap: the case is pushed onto the worker by one
update that matches only below `max_caseload` and while the worker does not hold the need yet
(`store.take_case`); a take that lost to another writer reads the station again and ranks anew
(`wushe.runtime.cas.until_written`). The case document (unique per need) says who holds it.
"""
from services.workers import domain
from services.workers.domain import SOURCE
from wushe.runtime import cas
from wushe.contract.events import stamped
from wushe.runtime.subscribe import DUPLICATE


def assign_need(c, need):
    """need_registered: the need's case to a worker of its station, or the need to the district
    queue. One decision per need, so a redelivery decides nothing twice (DUPLICATE)."""
    if not need["requirements"]["worker"]:
        return None
    decided = c.store.decision(need["need_id"])
    if decided:  # a redelivery, or the need was cancelled before it got here
        c.outbox.flush(c.store.needs, decided)
        return DUPLICATE if decided["outcome"] != "cancelled" else None
    station = c.store.station_serving(need["street"])
    worker = station and _assign(c, need, station)
    decision = domain.decided(need, worker, station)
    events = _stamped(decision, c.now())
    if c.store.add_decision(decision.fields, events):
        c.outbox.flush(c.store.needs, {"_id": need["need_id"], "outbox": events})
        c.log.info("worker.decided", outcome=decision.fields["outcome"], worker_id=decision.fields.get("worker_id"))
    elif worker:  # decided meanwhile (cancelled, or another delivery found no room): as the queue would
        _from_queue(c, need, worker)
    return None


def cancel_need(c, need_id):
    """need_cancelled: the need assigns nobody from now on, leaves the district queue, and its
    case closes."""
    c.store.cancel(need_id)
    close(c, need_id, "need_cancelled")


def close(c, need_id, reason):
    """Close the need's open case (its events), free the worker's caseload, let the queue move."""
    at = c.now()

    def attempt():
        case = c.store.open_case_of(need_id)
        if case is None:
            return None
        change = domain.stage_moved(case, "closed", at, closed_for=reason)
        return c.store.move_stage(case, change.fields, _stamped(change, at)) or cas.AGAIN

    closed = cas.until_written(attempt, what=f"the case of need {need_id}")
    if closed:
        c.outbox.flush(c.store.cases, closed)
    c.store.release_case(need_id)  # also a take whose case was never opened
    if closed:
        drain(c, closed["street"])


def drain(c, street):
    """Assign the district queue's needs for this street, most urgent and oldest first, while a
    worker of its station has room."""
    station = c.store.station_serving(street)
    if not station:
        return
    for waiting in domain.queue_order(c.store.waiting(street)):
        need = {**waiting, "need_id": waiting["_id"]}
        worker = _assign(c, need, station)
        if not worker:
            return
        _from_queue(c, need, worker)


def hand_over(c, leaver, entry):
    """One of a leaving worker's cases: to a colleague with room, or to the district queue.
    {case_id, need_id, to} (`to` None: queued); None for an entry with no case of theirs (a take
    cut short before its case was opened), which is only given back."""
    need_id = entry["need_id"]
    case = c.store.case(entry["case_id"])
    if case is None or case["worker_id"] != leaver["_id"]:
        c.store.release_case(need_id, leaver["_id"])
        return None
    station = c.store.station(leaver["station_id"])
    at = c.now()
    colleague = _take(c, station, case)
    if colleague:
        change = domain.handed_over(case, colleague, leaver["_id"])
        given = c.store.give_case(case["_id"], leaver["_id"], change.fields, _stamped(change, at))
        c.store.release_case(need_id, leaver["_id"])
        if not given:  # the case moved meanwhile: not the leaver's to hand over
            c.store.release_case(need_id, colleague["_id"])
            return None
        c.outbox.flush(c.store.cases, given)
        c.store.set_decided_worker(need_id, colleague["_id"])
        return {"case_id": case["_id"], "need_id": need_id, "to": colleague["_id"]}
    c.store.release_case(need_id, leaver["_id"])
    c.store.orphan_case(case["_id"], leaver["_id"])
    change = domain.queued(case, station)
    decided = c.store.decide(need_id, "assigned", change.fields, _stamped(change, at))
    if decided:
        c.outbox.flush(c.store.needs, decided)
    return {"case_id": case["_id"], "need_id": need_id, "to": None}


# ------------------------------------------------------------------------------------------------
def _assign(c, need, station):
    """Take the need onto a worker's caseload and open its case: the worker who holds it, or
    None when nobody at the station has room."""
    worker = _take(c, station, need)
    if worker is None:
        return None
    case = c.store.open_case(domain.new_case(need, worker, c.now()))
    if case["worker_id"] != worker["_id"]:
        # another delivery of this need opened its case first, with another worker: the case
        # says who holds it, and this take is given back
        c.store.release_case(need["need_id"], worker["_id"])
        worker = c.store.worker(case["worker_id"])
    return worker


def _from_queue(c, need, worker):
    """A need waiting on the district queue goes to `worker`, who holds its case now, once. When
    it was cancelled meanwhile its case closes; when another assigned it, this take is given back
    (unless it was this very worker: the case says who holds it)."""
    need_id = need["need_id"]
    change = domain.assigned_from_queue(need, worker)
    decided = c.store.decide(need_id, "unavailable", change.fields, _stamped(change, c.now()))
    if decided:
        c.outbox.flush(c.store.needs, decided)
        c.log.info("worker.assigned_from_queue", need_id=need_id, worker_id=worker["_id"])
    elif c.store.is_cancelled(need_id):
        close(c, need_id, "need_cancelled")  # cancelled while we were assigning
    elif c.store.decision(need_id).get("worker_id") != worker["_id"]:
        c.store.release_case(need_id, worker["_id"])


def _take(c, station, need):
    """The worker whose caseload now holds the need: one who held it already (a take cut short
    before its decision), else the best ranked with room; None when nobody has room."""
    need_id = need["need_id"]
    case_id = domain.case_id_for(need_id)

    def attempt():
        holder = c.store.holder_of(need_id)
        if holder:
            return holder
        ranked = domain.rank(c.store.station_workers(station["_id"]), need["category"], need["urgency"])
        if not ranked:
            return None
        return c.store.take_case(ranked[0], need_id, case_id) or cas.AGAIN

    return cas.until_written(attempt, what=f"the caseloads of station {station['_id']}")


def _stamped(change, at):
    return [stamped(SOURCE, e, at) for e in change.events]

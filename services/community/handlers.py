"""The community's use cases. Each loads what it needs from the store, lets the rules decide
(`domain`), writes the decision (one conditional write: `store`), announces its events (the
outbox) and answers. Plain functions of a `Community` — the store, the outbox, the log, the
residents' keyring and the clock — so they run the same in a nameko worker (`service.py`) and in
a test on the embedded store (`tests/handlers/`)."""
import hashlib
from dataclasses import dataclass
from typing import Any, Callable

from services.community import domain, metrics
from wushe.contract import residents
from services.community.domain import SOURCE
from services.community.store import CommunityStore
from wushe.contract.clock import new_id, now_iso, parse
from wushe.contract.decisions import Refused, existing
from wushe.contract.events import Unread, new_event, stamped
from wushe.contract.fields import ID_PATTERN
from wushe.contract.regions import parent
from wushe.runtime.subscribe import DUPLICATE


@dataclass
class Community:
    store: CommunityStore
    outbox: Any                  # wushe.runtime.outbox.Outbox: flush(collection, document)
    log: Any
    keyring: residents.Keyring
    now: Callable[[], str] = now_iso
    new_id: Callable[[str], str] = new_id


# regions ------------------------------------------------------------------------------------
def add_region(c, region):
    """Register a region under its registered parent; registering it again changes nothing."""
    up = parent(region["path"])
    doc = domain.new_region(region, parent_registered=not up or c.store.region(up) is not None)
    if not c.store.add_region(doc):
        domain.same_region(c.store.region(doc["_id"]), doc)
    metrics.zero_region(doc["_id"])  # its district's needs counted from zero, before its first need
    return c.store.region(doc["_id"])


def region(c, path):
    return existing(c.store.region(path), "region", path)


# needs ----------------------------------------------------------------------------------------
def register_need(c, payload, channel, need_id=None, reported_by=None):
    """Register a need (and seal its resident's details apart); (answer, created). The same id
    with the same content answers what it made the first time. `reported_by`: the station
    software's source, for a need it reported."""
    domain.community_of(c.store.region(payload["community"]), payload["community"])
    need_id = need_id or payload.get("id") or c.new_id("need")
    at = c.now()
    resident = payload.get("resident") or None
    resident_id = residents.resident_id_for(need_id) if resident else None
    made = domain.new_need(need_id, payload, at, channel, resident_id, reported_by)
    events = [stamped(SOURCE, e, at) for e in made.events]
    # the need first: a resident record is never stored for a request that is refused
    if not c.store.add_need(made.fields, events):
        existing = c.store.need(need_id)
        domain.same_request(existing, payload)
        if resident_id and existing.get("resident_id") == resident_id:
            # a retry of a registration cut short before its resident was stored (once stored,
            # or erased since, this writes nothing)
            c.outbox.flush(c.store.residents, _add_resident(c, resident_id, existing, resident))
        return {"id": need_id, "status": existing["status"]}, False
    sealed = _add_resident(c, resident_id, made.fields, resident) if resident_id else None
    c.outbox.flush(c.store.needs, {"_id": need_id, "outbox": events})
    c.outbox.flush(c.store.residents, sealed)  # after need_registered, as a station would expect
    need = made.fields
    metrics.NEEDS.labels("registered", need["category"], need["urgency"], need["district"]).inc()
    c.log.info("need.registered", need_id=need_id, category=need["category"], urgency=need["urgency"],
               channel=channel)
    return made.answer, True


def report_need(c, event):
    """A station's `need_reported`: registered like a gateway request, who reported it recorded
    (the envelope's source). Without an id of its own, the need's id derives from the event's,
    so that a redelivered report registers nothing new. A report that is not registered (an
    invalid body, `events.Unread`, or a refusal) is answered with `need_report_refused`, then
    refused as before (parked: an operator may replay it once, say, its community exists)."""
    if isinstance(event, Unread):
        _answer_refusal(c, event, event.errors)
        raise Refused.invalid("the report is not a valid need_reported", event.errors)
    need_id = event.data.get("id") or "need-" + hashlib.sha1(event.id.encode()).hexdigest()[:16]
    try:
        created = register_need(c, event.data, "station", need_id=need_id, reported_by=event.source)[1]
    except Refused as refused:
        c.log.error("need_reported.rejected", detail=refused.reason, errors=refused.fields)
        _answer_refusal(c, event, refused.fields or {"_schema": [refused.reason]})
        raise
    return None if created else DUPLICATE


def _answer_refusal(c, event, errors):
    # the report's own need id only when it is a well-formed one (an invalid body's is unread)
    given = event.data.get("id")
    need_id = given if isinstance(given, str) and not domain.field_errors(errors).get("id") \
        and ID_PATTERN.regex.match(given) else None
    draft = domain.report_refused(event.id, event.source, need_id, errors)
    at = c.now()
    answer = stamped(SOURCE, draft, at)
    digest = hashlib.sha1(repr(sorted(answer["data"]["errors"].items())).encode()).hexdigest()[:12]
    kept = c.store.add_refusal(f"{event.id}:{digest}", at, answer)
    if kept:
        c.outbox.flush(c.store.refused_reports, kept)
        c.log.info("need_reported.answered", report_id=event.id, reported_by=event.source,
                   fields=sorted(answer["data"]["errors"])[:10])


def need(c, need_id, within=""):
    return existing(c.store.need(need_id), "need", need_id, within=within)


def fold_outcome(c, event):
    """Fold a party's outcome into the linkage of each need it is about; DUPLICATE when every
    one had folded it already."""
    need_ids = event.data["need_ids"] if event.type == "org_incubation_started" else [event.need_id]
    folded = [_fold(c, need_id, event) for need_id in need_ids]
    return DUPLICATE if folded and all(f == DUPLICATE for f in folded) else None


def _fold(c, need_id, event):
    need, change = c.store.change_need(need_id, lambda n: n and domain.fold(n, event), c.now())
    if need is None:
        c.log.warning("outcome.unknown_need", need_id=need_id)
        return None
    if change is None:
        return DUPLICATE  # a redelivery: already folded
    c.outbox.flush(c.store.needs, need)
    if change.answer["status"]:
        metrics.NEEDS.labels(change.answer["status"], need["category"], need["urgency"], need["district"]).inc()
        if change.answer["first_linked"]:
            metrics.NEED_LINKAGE_SECONDS.labels(need["category"], need["urgency"]).observe(
                (parse(need["linked_at"]) - parse(need["registered_at"])).total_seconds())
        c.log.info("need.status", need_id=need_id, status=change.answer["status"])
    return None


def transition(c, need_id, to, within="", **data):
    """Cancel, resolve or evaluate a need; refused from a status it may not leave, and as one
    that is not there outside `within` (the asking key's region)."""
    at = c.now()

    def decide(need_):
        return domain.transition(existing(need_, "need", need_id, within=within), to, at, **data)

    need_, change = c.store.change_need(need_id, decide, at)
    c.outbox.flush(c.store.needs, need_)
    metrics.NEEDS.labels(to, need_["category"], need_["urgency"], need_["district"]).inc()
    c.log.info("need.status", need_id=need_id, status=to)
    return change.answer


# residents (personal data) ---------------------------------------------------------------------
def _add_resident(c, resident_id, need_, resident):
    """Store the resident's sealed record once, with `resident_sealed` in its outbox (the same
    write): the forms the gateway's read model keeps, so that no read asks for them. The record
    as stored, to flush; None when it was there already."""
    record = residents.sealed_record(resident_id, need_["_id"], need_["community"], resident, c.keyring,
                                     need_["registered_at"])
    sealed = new_event(SOURCE, "resident_sealed", {"need_id": need_["_id"], "community": need_["community"],
                                                   "resident": residents.forms(record, c.keyring)})
    doc = {**record, "outbox": [sealed]}
    return doc if c.store.add_resident(doc) else None


def resident_of(c, need_id, reveal=False):
    """The need's resident (masked unless `reveal`); None when it has none or it was erased."""
    found = need(c, need_id)
    record = c.store.resident(found["resident_id"]) if found.get("resident_id") else None
    if record is None or record.get("erased_at"):
        return None
    try:
        return residents.shown(record, c.keyring, reveal)
    except residents.Unreadable as exc:
        c.log.error("resident.unreadable", resident_id=record["_id"], field=exc.field, key_id=exc.key_id)
        return {"id": record["_id"], "masked": True, "unreadable": True}


def resident_forms(c, need_id):
    """The need's resident as a read model keeps it (`residents.forms`); None when it has none, it
    was erased, or it does not open. Gateways of before `resident_sealed` ask it at projection:
    kept while one may still run (a rolling update), unused by today's."""
    found = need(c, need_id)
    record = c.store.resident(found["resident_id"]) if found.get("resident_id") else None
    if record is None or record.get("erased_at"):
        return None
    try:
        return residents.forms(record, c.keyring)
    except residents.Unreadable as exc:
        c.log.error("resident.unreadable", resident_id=record["_id"], field=exc.field, key_id=exc.key_id)
        return None


def resident(c, resident_id):
    """A resident record's facts without its personal data: its need, community, erasure."""
    record = existing(c.store.resident(resident_id), "resident", resident_id)
    return {"id": record["_id"], **{k: record.get(k) for k in ("need_id", "community", "erased_at")}}


def erase_resident(c, resident_id):
    """Erase a resident's personal data (PIPL's right to deletion); the need, its linkage and
    every figure stay. Erasing again answers the same and announces nothing new."""
    at = c.now()
    record = existing(c.store.erase_resident(resident_id, at), "resident", resident_id)
    erased = c.store.mark_resident_erased(record["need_id"], resident_id, record["erased_at"],
                                          stamped(SOURCE, domain.resident_erased(record), at))
    if erased:
        c.outbox.flush(c.store.needs, erased)
        c.log.info("resident.erased", resident_id=resident_id, need_id=record["need_id"])
    return {"id": resident_id, "need_id": record["need_id"], "erased_at": record["erased_at"]}


def masked_reports(bodies):
    """Parked messages' bodies as operators browse them: a station's `need_reported` with its
    resident masked (`residents.masked_report`); anything else as it is."""
    return [residents.masked_report(body) for body in bodies]

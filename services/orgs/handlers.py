"""The orgs' use cases. Each loads what it needs from the store, lets the rules decide
(`domain`), writes the decision (one conditional write: `store`), announces its events (the
outbox) and answers. Plain functions of an `Organisations` — the store, the outbox, the log, the
rules in force and the clock — so they run the same in a nameko worker (`service.py`) and in a
test on the embedded store (`tests/handlers/`)."""
from dataclasses import dataclass
from typing import Any, Callable

from services.orgs import domain, metrics
from services.orgs.store import OrgsStore
from wushe.runtime import cas
from wushe.contract.clock import new_id, now_iso
from wushe.contract.decisions import Refused, existing
from wushe.contract.vocabulary import ORG_STAGES
from wushe.runtime.metrics import set_counts
from wushe.runtime.subscribe import DUPLICATE


@dataclass
class Organisations:
    store: OrgsStore
    outbox: Any                  # wushe.runtime.outbox.Outbox: flush(collection, document)
    log: Any
    rules: domain.Rules
    now: Callable[[], str] = now_iso
    new_id: Callable[[str], str] = new_id


# organisations --------------------------------------------------------------------------------
def add_organisation(o, body):
    """Register an organisation as it is (active, or still incubating); its id must be new."""
    body = dict(body)
    capacity = body.pop("capacity", o.rules.default_project_capacity)
    org_id = body.pop("id", None) or o.new_id("org")
    organisation = domain.new_organisation(org_id, body, o.now(), o.new_id("project"), capacity)
    if not o.store.add_organisation(organisation):
        raise Refused(f"organisation {org_id} exists")
    return view(o, organisation)


def organisation(o, org_id, within=""):
    """The organisation; `within` (here and below): the asking key's region, outside which it is
    refused as one that is not there."""
    return existing(o.store.organisation(org_id), "organisation", org_id, within=within)


def get_organisation(o, org_id):
    return view(o, organisation(o, org_id))


def list_organisations(o, community=None, stage=None, limit=50, cursor=None):
    docs, next_cursor = o.store.organisations_page(community, stage, limit, cursor)
    return {"items": [view(o, d) for d in docs], "next_cursor": next_cursor}


def stats(o, region):
    return {"organisations": o.store.counts(region)}


def view(o, found):
    """An organisation as the API shows it (services.orgs.schemas.OrganisationOut dumps it)."""
    return domain.view(found, o.rules.training_sessions)


# incubation milestones ----------------------------------------------------------------------
def record_milestone(o, org_id, body, within=""):
    """founding_members → charter → training (sessions) → first_project, in that order; the
    last graduates the organisation, which then takes the needs waiting on it."""
    at, project_id = o.now(), o.new_id("project")

    def attempt():
        found = organisation(o, org_id, within)
        change = domain.milestone_step(found, body, at, project_id, training_sessions=o.rules.training_sessions,
                                       project_capacity=o.rules.default_project_capacity)
        updated = o.store.advance(found, change, at)
        # changed meanwhile (a concurrent call): look again, refuse or decide again
        return (updated, change) if updated else cas.AGAIN

    updated, change = cas.until_written(attempt, what=f"organisation {org_id}")
    o.outbox.flush(o.store.organisations, updated)
    if change.answer["reached"]:
        o.log.info("org.milestone_reached", organisation_id=org_id, milestone=change.answer["reached"])
    else:
        o.log.info("org.training_session_logged", organisation_id=org_id, sessions=len(domain.sessions(updated)))
    if change.answer["graduates"]:
        o.log.info("org.graduated", organisation_id=org_id, categories=updated["categories"])
        hand_over(o, updated)
    return get_organisation(o, org_id)


# micro-projects (小微项目) --------------------------------------------------------------------
def open_project(o, org_id, body, within=""):
    """A new micro-project of an active organisation; it takes the needs waiting on it at once."""
    project = domain.project_to_open(organisation(o, org_id, within), o.new_id("project"), body, o.now())
    updated = o.store.open_project(org_id, project)
    if not updated:
        raise Refused(f"organisation {org_id} is no longer active")
    o.log.info("org.project_opened", organisation_id=org_id, project_id=project["id"], capacity=project["capacity"])
    hand_over(o, updated)
    return get_organisation(o, org_id)


def close_project(o, org_id, project_id, within=""):
    """A closed project takes no new needs; the needs it took keep their match."""
    index = domain.project_to_close(organisation(o, org_id, within), project_id)
    if not o.store.close_project(org_id, index, project_id, o.now()):
        raise Refused(f"project {project_id} is already closed")
    o.log.info("org.project_closed", organisation_id=org_id, project_id=project_id)
    return get_organisation(o, org_id)


def hand_over_waiting(o):
    """Needs still attached to an organisation that has graduated are handed over (a crash
    between a graduation and its hand-over leaves them waiting)."""
    for graduated in o.store.graduated_with_waiting():
        if domain.capacity_left(graduated):
            hand_over(o, graduated)


# needs ----------------------------------------------------------------------------------------
def need_registered(o, event):
    """Decide once on a need asking for an organisation: matched to a slot of an active
    organisation's micro-project; else waiting on the organisation incubating for its category;
    else unmatched, counting as demand (which may start an incubation). DUPLICATE when it was
    decided already (a redelivery, or a concurrent one)."""
    need = event.data
    if not need["requirements"]["organisation"]:
        return None
    decided = o.store.decided(need["need_id"])
    if decided:  # a redelivery: publish whatever is pending, finish what was begun
        o.outbox.flush(o.store.needs, decided)
        _follow_up(o, need, decided)
        return DUPLICATE
    organisations = o.store.serving(need["community"], need["category"])
    held = _take_slot(o, need["need_id"], domain.candidates(organisations, need["category"]), already=organisations)
    incubating = domain.incubating(organisations)
    before = 0 if held or incubating else len(o.store.unmatched_since(
        need["community"], need["category"], _since(o, need)))
    record = o.store.decide(domain.decision(need, held, incubating, unmatched_before=before), o.now())
    if record is None:  # decided concurrently by a redelivery
        if held:
            _release_unless_decided(o, need["need_id"], held)
        return DUPLICATE
    o.outbox.flush(o.store.needs, record)
    _follow_up(o, need, record)
    return None


def _follow_up(o, need, decided):
    if decided["outcome"] == "unmatched":
        _maybe_incubate(o, need)
    elif decided["outcome"] == "incubating":
        # it may have graduated since it was read: then it takes the need now
        _hand_over_if_graduated(o, decided["organisation_id"])


def need_cancelled(o, event):
    """A cancelled need gives its micro-project slot back, is never handed over, and no
    longer counts as demand. If it has not been decided yet, the tombstone means it never is."""
    need_id = event.data["need_id"]
    if o.store.tombstone(need_id, event.data["community"]):
        return None  # cancelled before it was decided
    before = o.store.cancel(need_id)
    if not before:
        return DUPLICATE
    if domain.holds_slot(before):
        found = o.store.organisation(before["organisation_id"])
        index = domain.project_index(found, before["project_id"]) if found else None
        if index is not None:
            o.store.release_slot(found["_id"], index, before["project_id"], need_id)
    return None


# slots and hand-over --------------------------------------------------------------------------
def _take_slot(o, need_id, organisations, already=()):
    """Take a slot for a need in the first organisation with room: (organisation, index,
    project), or None when every one is full. A slot the need already holds (a redelivery
    after a crash, or a concurrent one) is returned instead of taking another."""
    held = domain.holding(list(already) or organisations, need_id)
    if held:
        return held
    for candidate in organisations:
        taken = _take_slot_in(o, candidate, need_id)
        if taken:
            return taken
    return None


def _take_slot_in(o, candidate, need_id):
    """A slot of one organisation (as read first, then as it is after each lost race)."""
    read = candidate

    def attempt():
        nonlocal read
        found, read = read or o.store.organisation(candidate["_id"]), None
        slot = domain.slot_for(found, need_id)
        if slot is None:
            return None
        how, index, project = slot
        if how == "held":
            return found, index, project
        taken = o.store.take_slot(found["_id"], index, project, need_id)
        # filled meanwhile, or taken by a concurrent redelivery of the same need: look again
        return (taken, index, taken["projects"][index]) if taken else cas.AGAIN

    return cas.until_written(attempt, what=f"organisation {candidate['_id']}")


def _release_unless_decided(o, need_id, held):
    """A concurrent redelivery decided first; give back our slot unless it is the one decided."""
    org, index, project = held
    decided = o.store.decided(need_id) or {}
    if (decided.get("organisation_id"), decided.get("project_id")) != (org["_id"], project["id"]):
        o.store.release_slot(org["_id"], index, project["id"], need_id)


def _hand_over_if_graduated(o, org_id):
    found = o.store.organisation(org_id)
    if found and found["stage"] == "active":
        hand_over(o, found)


def hand_over(o, org):
    """The needs waiting on an organisation (oldest first) take its free slots; each becomes
    matched with its `org_matched` by a conditional update, so a retried or concurrent
    hand-over announces it once. Needs beyond its capacity stay attached until a project opens."""
    handed = 0
    for waiting in o.store.waiting(org):
        slot = _take_slot(o, waiting["_id"], [org])
        if not slot:
            break  # full: the rest keep waiting
        org, _, project = slot
        updated = o.store.hand_over(waiting, domain.handed_over(waiting, org, project), o.now())
        if updated:
            o.outbox.flush(o.store.needs, updated)
            handed += 1
    if handed:
        o.log.info("org.needs_handed_over", organisation_id=org["_id"], count=handed)
    return handed


# incubation -----------------------------------------------------------------------------------
def _since(o, need):
    return domain.demand_since(need["registered_at"], o.rules.incubation_window_days)


def _maybe_incubate(o, need):
    # counted after this need's own write, so concurrent needs always see each other;
    # the unique incubation key lets only one of them start it
    demand = o.store.unmatched_since(need["community"], need["category"], _since(o, need))
    if not domain.should_incubate(len(demand), o.rules.incubation_threshold):
        return
    need_ids, at = [d["_id"] for d in demand], o.now()
    started = o.store.start_incubation(domain.new_incubation(o.new_id("org"), need, need_ids, at), at)
    if started:
        o.store.attach(need_ids, started["_id"])
        o.outbox.flush(o.store.organisations, started)
        o.log.info("org.incubation_started", organisation_id=started["_id"],
                   category=need["category"], demand=len(demand))


def measure(o):
    """Organisations by stage, for the operations dashboard."""
    set_counts(metrics.ORGANISATIONS, o.store.by_stage(ORG_STAGES), ORG_STAGES)

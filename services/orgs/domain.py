"""Matching a need to a community organisation, incubating one, its milestones and its
micro-projects (小微项目). Pure; no I/O: ids and times come in, documents, `Change`s and refusals
come out (wushe.contract.decisions)."""
from dataclasses import dataclass

from wushe.contract.clock import later
from wushe.contract.decisions import Change, Event, Refused
from wushe.contract.vocabulary import CATEGORY_LABELS

SOURCE = "orgs"

TRAINING_SESSIONS = 2            # training sessions logged before the training milestone is reached
DEFAULT_PROJECT_CAPACITY = 20    # needs the standing micro-project of an active organisation takes


@dataclass(frozen=True)
class Rules:
    """The organisations' rules in force (README, "Rules"): each is `WUSHE_<NAME>` in the
    environment (wushe.runtime.config.rules_from_env)."""
    # the Nth unmatched need of one category in one community within the window starts an incubation
    incubation_threshold: int = 3
    incubation_window_days: int = 90
    training_sessions: int = TRAINING_SESSIONS
    default_project_capacity: int = DEFAULT_PROJECT_CAPACITY

# 孵化培育: founding members → charter → training → first micro-project delivered → active
MILESTONES = ("founding_members", "charter", "training", "first_project")
STANDING_PROJECT_TITLE = "日常服务"


# --- organisations ------------------------------------------------------------------------------
def new_organisation(org_id, body, created_at, project_id, project_capacity=DEFAULT_PROJECT_CAPACITY):
    """The document of an organisation registered as it is (`body`: a loaded request without
    id or capacity): an active one runs a standing micro-project of `project_capacity`; one
    registered while still incubating works through the milestones, mentored by its street."""
    organisation = {"_id": org_id, **body, "created_at": created_at, "incubation": None, "projects": []}
    if organisation["stage"] == "active":
        organisation["projects"] = [new_project(project_id, STANDING_PROJECT_TITLE, project_capacity, created_at)]
    else:
        organisation["incubation"] = new_incubation_record(created_at, [], organisation["community"].rsplit("/", 1)[0])
    return organisation


def view(organisation, training_sessions=TRAINING_SESSIONS):
    """An organisation as the API shows it: each project's room, the capacity left, and its
    incubation summarised (never members' names)."""
    return {**organisation, "id": organisation["_id"],
            "projects": [{**p, "room": room(p)} for p in organisation.get("projects") or []],
            "capacity": capacity_left(organisation),
            "incubation": incubation_summary(organisation, training_sessions)}


# --- micro-projects and matching ---------------------------------------------------------------
def new_project(project_id, title, capacity, opened_at):
    """A micro-project, open and empty. An organisation's projects are append-only, so a
    project's index in the array never changes."""
    return {"id": project_id, "title": title, "capacity": capacity, "need_ids": [], "state": "open",
            "opened_at": opened_at, "closed_at": None}


def project_to_open(organisation, project_id, body, opened_at):
    """A new micro-project (`body`: title, capacity); only an active organisation runs one."""
    if organisation["stage"] != "active":
        raise Refused(f"organisation {organisation['_id']} is {organisation['stage']}: "
                      "only an active organisation runs micro-projects")
    return new_project(project_id, body["title"], body["capacity"], opened_at)


def project_to_close(organisation, project_id):
    """The index of the project to close; a closed project takes no new needs, the needs it took
    keep their match."""
    index = project_index(organisation, project_id)
    if index is None:
        raise Refused.missing(f"no project {project_id} in organisation {organisation['_id']}")
    return index


def room(project):
    """How many more needs a project takes: none once closed."""
    if project["state"] != "open":
        return 0
    return max(0, project["capacity"] - len(project["need_ids"]))


def projects_with_room(organisation):
    """(index, project) of the open projects with room, the oldest first."""
    return [(i, p) for i, p in enumerate(organisation.get("projects") or []) if room(p) > 0]


def capacity_left(organisation):
    """An organisation's capacity: the room in its open micro-projects."""
    return sum(room(p) for p in organisation.get("projects") or [])


def project_index(organisation, project_id):
    """The index of a project in its organisation's array, or None."""
    return next((i for i, p in enumerate(organisation.get("projects") or []) if p["id"] == project_id), None)


def holding(organisations, need_id):
    """(organisation, index, project) of the project that already holds a need, or None."""
    for organisation in organisations:
        for i, project in enumerate(organisation.get("projects") or []):
            if need_id in project["need_ids"]:
                return organisation, i, project
    return None


def slot_for(organisation, need_id):
    """Where a need goes in an organisation, as last read: ("held", index, project) when one of
    its projects holds it already, ("free", index, project) for the oldest open project with
    room, None when the organisation takes no need (not there, not active, or full)."""
    if not organisation:
        return None
    held = holding([organisation], need_id)
    if held:
        return ("held",) + held[1:]
    if organisation["stage"] != "active":
        return None
    with_room = projects_with_room(organisation)
    return ("free",) + with_room[0] if with_room else None


def candidates(organisations, category):
    """The organisations a need may be matched to: active, serving the category, with room;
    the oldest first (most experienced). A full organisation is not matched."""
    serving = [o for o in organisations
               if o["stage"] == "active" and category in o["categories"] and capacity_left(o) > 0]
    return sorted(serving, key=lambda o: (o["created_at"], o["_id"]))


def best_match(organisations, category):
    """The organisation to match first, or None."""
    found = candidates(organisations, category)
    return found[0] if found else None


def incubating(organisations):
    """The organisation incubating for a need's community and category, if one is (at most one
    is: the incubation key is unique)."""
    return next((o for o in organisations if o["stage"] == "incubating"), None)


def matched(need, organisation, project_id=None):
    return Event("org_matched", {
        "need_id": need["need_id"], "community": need["community"],
        "organisation_id": organisation["_id"], "category": need["category"], "project_id": project_id})


def unmatched(need, demand, incubating_id=None):
    return Event("org_unmatched", {
        "need_id": need["need_id"], "community": need["community"], "category": need["category"],
        "demand": demand, "organisation_id": incubating_id})


def decision(need, held=None, incubating_one=None, unmatched_before=0):
    """The orgs' one decision on a registered need (its record's fields, and its event):
    matched to the project slot it `held` (organisation, index, project); else waiting on the
    organisation `incubating_one` for its category, to be handed over at graduation; else
    unmatched, counting as demand after the `unmatched_before` needs of its category in its
    community within the window."""
    record = {"_id": need["need_id"], "community": need["community"], "category": need["category"],
              "registered_at": need["registered_at"]}
    if held:
        organisation, _, project = held
        return Change({**record, "outcome": "matched", "organisation_id": organisation["_id"],
                       "project_id": project["id"]}, (matched(need, organisation, project["id"]),))
    if incubating_one:
        return Change({**record, "outcome": "incubating", "organisation_id": incubating_one["_id"]},
                      (unmatched(need, 0, incubating_one["_id"]),))
    return Change({**record, "outcome": "unmatched"}, (unmatched(need, unmatched_before + 1),))


def handed_over(waiting, organisation, project):
    """A need waiting on an organisation, now matched to one of its projects' slots."""
    need = {"need_id": waiting["_id"], "community": waiting["community"], "category": waiting["category"]}
    return Change({"outcome": "matched", "organisation_id": organisation["_id"], "project_id": project["id"]},
                  (matched(need, organisation, project["id"]),))


def holds_slot(decided):
    """Whether a need, as decided, holds a micro-project's slot (to give back when cancelled)."""
    return decided.get("outcome") == "matched" and bool(decided.get("project_id"))


# --- incubation -------------------------------------------------------------------------------
def demand_since(registered_at, window_days):
    """Needs registered since this time count as demand with a need registered at `registered_at`."""
    return later(registered_at, days=-window_days)


def should_incubate(demand, threshold):
    """The threshold-th unmatched need of one category in one community starts an incubation."""
    return demand >= threshold


def incubation_key(community, category):
    """At most one incubation per community and category is under way (a unique key)."""
    return f"{community}|{category}"


def new_incubation_record(started_at, need_ids, mentor_street):
    return {"started_at": started_at, "need_ids": need_ids, "mentor_street": mentor_street,
            "milestones": [], "sessions": []}


def new_incubation(org_id, need, need_ids, started_at):
    """A new organisation in stage `incubating`, mentored by the street's station (the change's
    fields), and its `org_incubation_started`."""
    label = CATEGORY_LABELS[need["category"]]
    organisation = {
        "_id": org_id,
        "name": f"{label}互助队（培育中）",
        "community": need["community"],
        "categories": [need["category"]],
        "stage": "incubating",
        "created_at": started_at,
        "incubation_key": incubation_key(need["community"], need["category"]),
        "incubation": new_incubation_record(started_at, need_ids, need["street"]),
        "projects": [],
    }
    # about the organisation (it names several needs)
    event = Event("org_incubation_started", {
        "organisation_id": org_id, "community": need["community"], "category": need["category"],
        "need_ids": need_ids, "mentor_street": need["street"]}, subject=org_id)
    return Change(organisation, (event,))


def reached(organisation):
    """The milestones an organisation has reached, in order."""
    return [m["milestone"] for m in ((organisation.get("incubation") or {}).get("milestones") or [])]


def sessions(organisation):
    return (organisation.get("incubation") or {}).get("sessions") or []


def next_milestone(organisation):
    """The milestone an incubating organisation works towards next (None once all are reached)."""
    done = len(reached(organisation))
    return MILESTONES[done] if done < len(MILESTONES) else None


def check_milestone(organisation, milestone):
    """Refused when `milestone` cannot be recorded for the organisation now: it is not
    incubating, or the milestone is repeated or out of order."""
    org_id = organisation["_id"]
    if organisation["stage"] != "incubating":
        raise Refused(f"organisation {org_id} is {organisation['stage']}, not incubating")
    if not organisation.get("incubation"):
        raise Refused(f"organisation {org_id} has no incubation record")
    if milestone in reached(organisation):
        raise Refused(f"organisation {org_id} has already reached the {milestone} milestone")
    expected = next_milestone(organisation)
    if milestone != expected:
        raise Refused(f"the next milestone of organisation {org_id} is {expected}, not {milestone}")


def milestone_step(organisation, body, at, project_id, training_sessions=TRAINING_SESSIONS,
                   project_capacity=DEFAULT_PROJECT_CAPACITY):
    """What recording `body` (a loaded milestone request) changes, or Refused
    (`check_milestone`). The change's `fields` are set (dotted paths), its `appended` values
    pushed, and its answer says {"reached": milestone | None, "graduates": bool}.

    A training call logs one session; the training milestone is reached with the
    `training_sessions`-th. Reaching first_project graduates the organisation: stage active, a
    standing open micro-project, `org_graduated` (the store releases its incubation key).
    Members' names go into the document only — never into an event.
    """
    milestone = body["milestone"]
    check_milestone(organisation, milestone)
    fields, appended, events = {}, {}, []
    if milestone == "founding_members":
        fields["members"] = list(body["members"])
    elif milestone == "charter":
        fields["incubation.charter"] = {"title": body["title"], "adopted_at": at}
    elif milestone == "training":
        appended["incubation.sessions"] = {"topic": body["topic"], "hours": body["hours"], "at": at}
    elif milestone == "first_project":
        fields["incubation.first_project"] = {"title": body["title"], "delivered_at": at}
    is_reached = milestone != "training" or len(sessions(organisation)) + 1 >= training_sessions
    if is_reached:
        appended["incubation.milestones"] = {"milestone": milestone, "reached_at": at}
        events.append(_org_event(organisation, "org_milestone_reached", milestone=milestone))
    graduates = milestone == "first_project"
    if graduates:
        fields.update({"stage": "active", "incubation.graduated_at": at})
        appended["projects"] = new_project(project_id, STANDING_PROJECT_TITLE, project_capacity, at)
        events.append(_org_event(organisation, "org_graduated", categories=list(organisation["categories"])))
    return Change(fields, tuple(events), answer={"reached": milestone if is_reached else None,
                                                 "graduates": graduates}, appended=appended)


def _org_event(organisation, event_type, **data):
    """An event about the organisation itself (a milestone, a graduation): it is the subject."""
    return Event(event_type, {"organisation_id": organisation["_id"], "community": organisation["community"],
                              **data}, subject=organisation["_id"])


def incubation_summary(organisation, training_sessions=TRAINING_SESSIONS):
    """The incubation as the API shows it: milestones and counts, never members' names."""
    incubation = organisation.get("incubation")
    if not incubation:
        return None
    logged = incubation.get("sessions") or []
    return {
        "started_at": incubation.get("started_at"),
        "need_ids": incubation.get("need_ids") or [],
        "mentor_street": incubation.get("mentor_street"),
        "milestones": incubation.get("milestones") or [],
        "next_milestone": next_milestone(organisation) if organisation["stage"] == "incubating" else None,
        "member_count": len(organisation.get("members") or []),
        "training_sessions": len(logged),
        "training_sessions_needed": training_sessions,
        "training_hours": sum(s["hours"] for s in logged),
        "charter": (incubation.get("charter") or {}).get("title"),
        "first_project": (incubation.get("first_project") or {}).get("title"),
        "graduated_at": incubation.get("graduated_at"),
    }

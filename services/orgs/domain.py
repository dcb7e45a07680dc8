"""Matching a need to a community organisation, incubating one, its milestones and its
micro-projects (小微项目). Pure; no I/O."""
from wushe.events import new_event
from wushe.vocabulary import CATEGORY_LABELS

SOURCE = "orgs"

# rule settings (to move into wushe.config.Rules)
TRAINING_SESSIONS = 2            # training sessions logged before the training milestone is reached
DEFAULT_PROJECT_CAPACITY = 20    # needs the standing micro-project of an active organisation takes

# 孵化培育: founding members → charter → training → first micro-project delivered → active
MILESTONES = ("founding_members", "charter", "training", "first_project")
STANDING_PROJECT_TITLE = "日常服务"


# --- micro-projects and matching ---------------------------------------------------------------
def new_project(project_id, title, capacity, opened_at):
    """A micro-project, open and empty. An organisation's projects are append-only, so a
    project's index in the array never changes."""
    return {"id": project_id, "title": title, "capacity": capacity, "need_ids": [], "state": "open",
            "opened_at": opened_at, "closed_at": None}


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


def matched(need, organisation, project_id=None):
    return new_event(SOURCE, "org_matched", {
        "need_id": need["need_id"], "community": need["community"],
        "organisation_id": organisation["_id"], "category": need["category"], "project_id": project_id})


def unmatched(need, demand, incubating_id=None):
    return new_event(SOURCE, "org_unmatched", {
        "need_id": need["need_id"], "community": need["community"], "category": need["category"],
        "demand": demand, "organisation_id": incubating_id})


# --- incubation -------------------------------------------------------------------------------
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
    """A new organisation in stage `incubating`, mentored by the street's station, and its event."""
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
    event = new_event(SOURCE, "org_incubation_started", {
        "organisation_id": org_id, "community": need["community"], "category": need["category"],
        "need_ids": need_ids, "mentor_street": need["street"]}, subject=org_id)
    return organisation, event


def reached(organisation):
    """The milestones an organisation has reached, in order."""
    return [m["milestone"] for m in ((organisation.get("incubation") or {}).get("milestones") or [])]


def sessions(organisation):
    return (organisation.get("incubation") or {}).get("sessions") or []


def next_milestone(organisation):
    """The milestone an incubating organisation works towards next (None once all are reached)."""
    done = len(reached(organisation))
    return MILESTONES[done] if done < len(MILESTONES) else None


def refusal(organisation, milestone):
    """Why `milestone` cannot be recorded for the organisation now (None when it can)."""
    org_id = organisation["_id"]
    if organisation["stage"] != "incubating":
        return f"organisation {org_id} is {organisation['stage']}, not incubating"
    if not organisation.get("incubation"):
        return f"organisation {org_id} has no incubation record"
    if milestone in reached(organisation):
        return f"organisation {org_id} has already reached the {milestone} milestone"
    expected = next_milestone(organisation)
    if milestone != expected:
        return f"the next milestone of organisation {org_id} is {expected}, not {milestone}"
    return None


def milestone_step(organisation, body, at, project_id, training_sessions=TRAINING_SESSIONS,
                   project_capacity=DEFAULT_PROJECT_CAPACITY):
    """What recording `body` (a loaded milestone request) changes, for an organisation of which
    `refusal` found nothing to refuse:

        {"expect": {"milestones": n, "sessions": m},   # the state the change was computed on
         "set": {...}, "push": {...}, "unset": [...],  # the document's changes
         "events": [...], "reached": milestone | None, "graduates": bool}

    A training call logs one session; the training milestone is reached with the
    `training_sessions`-th. Reaching first_project graduates the organisation: stage active,
    its incubation key released, a standing open micro-project, `org_graduated`.
    Members' names go into the document only — never into an event.
    """
    milestone = body["milestone"]
    logged = sessions(organisation)
    step = {"expect": {"milestones": len(reached(organisation)), "sessions": len(logged)},
            "set": {}, "push": {}, "unset": [], "events": [], "reached": None, "graduates": False}
    if milestone == "founding_members":
        step["set"]["members"] = list(body["members"])
    elif milestone == "charter":
        step["set"]["incubation.charter"] = {"title": body["title"], "adopted_at": at}
    elif milestone == "training":
        step["push"]["incubation.sessions"] = {"topic": body["topic"], "hours": body["hours"], "at": at}
    elif milestone == "first_project":
        step["set"]["incubation.first_project"] = {"title": body["title"], "delivered_at": at}
    if milestone != "training" or len(logged) + 1 >= training_sessions:
        step["reached"] = milestone
        step["push"]["incubation.milestones"] = {"milestone": milestone, "reached_at": at}
        step["events"].append(_org_event(organisation, "org_milestone_reached", milestone=milestone))
    if milestone == "first_project":
        step["graduates"] = True
        step["set"].update({"stage": "active", "incubation.graduated_at": at})
        step["unset"].append("incubation_key")
        step["push"]["projects"] = new_project(project_id, STANDING_PROJECT_TITLE, project_capacity, at)
        step["events"].append(_org_event(organisation, "org_graduated",
                                         categories=list(organisation["categories"])))
    return step


def _org_event(organisation, event_type, **data):
    return new_event(SOURCE, event_type, {"organisation_id": organisation["_id"],
                                          "community": organisation["community"], **data},
                     subject=organisation["_id"])


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

"""The need's linkage, as API.md defines it: four parts, their states, and the need's status.

This is contract, not one service's private rule: the community service folds the parties'
events with it to decide `need_linked` / `need_escalated`, and the gateway's read model folds
the same events with it, so both always agree. Pure functions, no I/O.

Events reach a consumer in any order (one queue per event type). A part therefore takes an
event's state only if the event is not older than the part's last change; the claimed
volunteers are the list carried by the event with the highest call version (claims can be
withdrawn, so a union would keep volunteers who left). Re-applying an event changes nothing.
"""

from wushe.contract.events.catalog import CATALOG

PARTS = ("organisation", "worker", "volunteers", "resources")
SUCCESS = {"worker": {"assigned"}, "volunteers": {"filled"}, "resources": {"pledged", "delivered"}}
FAILURE = {"worker": {"unavailable"}, "volunteers": {"expired", "cancelled"},
           "resources": {"shortfall", "released"}}
TERMINAL = ("resolved", "evaluated", "cancelled")
ALLOWED_FROM = {  # the statuses a need may leave for each manual transition
    "cancelled": ("registered", "linking", "linked", "escalated"),
    "resolved": ("linked", "escalated"),
    "evaluated": ("resolved",),
}


def initial(requirements):
    """The linkage of a freshly registered need."""
    def part(required):
        return {"state": "pending" if required else "not_required", "at": None}
    linkage = {
        "organisation": part(requirements.get("organisation", True)),
        "worker": part(requirements.get("worker", True)),
        "volunteers": part(bool(requirements.get("volunteers"))),
        "resources": part(bool(requirements.get("resources"))),
    }
    if requirements.get("volunteers"):
        linkage["volunteers"].update(slots=requirements["volunteers"]["count"], claimed=[])
    return linkage


def _org_unmatched(d):
    if d.get("organisation_id"):
        return "organisation", "incubating", {"organisation_id": d["organisation_id"]}
    return "organisation", "none", {}


# What each event the linkage folds does to its part: (part, state or None to keep it, fields).
# Its keys are the one list of events that move a linkage (the community service subscribes to
# exactly these: `folded_by_source`).
STATES = {
    "org_matched": lambda d: ("organisation", "matched",
                              {"organisation_id": d["organisation_id"], "project_id": d.get("project_id")}),
    "org_unmatched": _org_unmatched,
    "org_incubation_started": lambda d: ("organisation", "incubating", {"organisation_id": d["organisation_id"]}),
    "worker_assigned": lambda d: ("worker", "assigned", {"worker_id": d["worker_id"], "case_id": d["case_id"]}),
    "worker_unavailable": lambda d: ("worker", "unavailable", {"reason": d["reason"]}),
    "case_closed": lambda d: ("worker", None, {"case_state": "closed"}),
    "case_stage_changed": lambda d: ("worker", None, {"case_stage": d["to_stage"]}),
    "call_opened": lambda d: ("volunteers", "open",
                              {"call_id": d["call_id"], "slots": d["slots"], "expires_at": d["expires_at"]}),
    "call_claimed": lambda d: ("volunteers", None, {"call_id": d["call_id"]}),
    "call_filled": lambda d: ("volunteers", "filled", {"call_id": d["call_id"]}),
    "call_expired": lambda d: ("volunteers", "expired", {"call_id": d["call_id"]}),
    "call_reopened": lambda d: ("volunteers", "open", {"call_id": d["call_id"], "expires_at": d["expires_at"]}),
    "call_cancelled": lambda d: ("volunteers", "cancelled", {"call_id": d["call_id"]}),
    # the call's state after a withdrawal: open again, or filled from the waiting list
    "claim_withdrawn": lambda d: ("volunteers", d["state"], {"call_id": d["call_id"]}),
    "waitlist_promoted": lambda d: ("volunteers", None, {"call_id": d["call_id"]}),
    "resource_pledged": lambda d: ("resources", "pledged", {"pledges": d["pledges"], "shortfall": []}),
    "resource_shortfall": lambda d: ("resources", "shortfall", {"pledges": d["pledges"], "shortfall": d["shortfall"]}),
    "pledge_released": lambda d: ("resources", "released", {}),
    # a pledge counts as delivered once nothing of it remains
    "pledge_delivered": lambda d: ("resources", None, {
        "delivered": [d["pledge"]["pledge_id"]] if d.get("remaining", 0) <= 1e-9 else []}),
}


def folded_by_source():
    """{source: [event types]}: the parties' events that move a linkage, by who publishes them."""
    out = {}
    for source, event_type in sorted(CATALOG):
        if event_type in STATES:
            out.setdefault(source, []).append(event_type)
    return out


def _state_of(event):
    """(part, state, fields) for an event about one need, or None."""
    found = STATES.get(event.type)
    return found(event.data) if found else None


def apply(linkage, event):
    """The linkage after `event` (a new dict; `linkage` is not changed)."""
    found = _state_of(event)
    if not found:
        return linkage
    name, state, fields = found
    part = dict(linkage[name])
    if part["state"] == "not_required":
        return linkage
    if event.type in CLAIMS_CHANGED:
        part.update(_claimed_after(part, event.data))
    if event.type == "pledge_delivered":
        part["delivered"] = sorted(set(part.get("delivered", [])) | set(fields.pop("delivered")))
    newer = part.get("at") is None or event.time >= part["at"]
    if state is not None and newer:
        part["state"] = state
        part["at"] = event.time
    if newer or state is None:
        part.update(fields)
    if name == "resources" and part["state"] == "pledged" and _all_delivered(part):
        part["state"] = "delivered"  # derived, so delivery events in any order agree
    return {**linkage, name: part}


CLAIMS_CHANGED = ("call_claimed", "call_filled", "call_expired", "claim_withdrawn", "waitlist_promoted")


def _claimed_after(part, data):
    """The claimed list after a claims-changing event: the list of the latest call version; for
    events from before versions were carried, the union of what was seen."""
    if data.get("claimed") is not None and data.get("call_version") is not None:
        if data["call_version"] >= part.get("claimed_version", -1):
            return {"claimed": list(data["claimed"]), "claimed_version": data["call_version"]}
        return {}
    ids = [data["volunteer_id"]] if "volunteer_id" in data else data.get("volunteer_ids", [])
    return {"claimed": sorted(set(part.get("claimed", [])) | set(ids))}


def _all_delivered(part):
    """Every pledge of a fully pledged part has been delivered (a shortfall never qualifies)."""
    pledged = {p["pledge_id"] for p in part.get("pledges", [])}
    return bool(pledged) and pledged <= set(part.get("delivered", []))


def missing(linkage):
    """Required parts that failed (the reasons a need is escalated)."""
    return sorted(name for name, failed in FAILURE.items() if linkage[name]["state"] in failed)


def status(current, linkage):
    """The need's status given its linkage; manual and terminal statuses are kept."""
    if current in TERMINAL:
        return current
    if missing(linkage):
        return "escalated"
    required = [name for name in SUCCESS if linkage[name]["state"] != "not_required"]
    if all(linkage[name]["state"] in SUCCESS[name] for name in required):
        return "linked"
    if any(linkage[name]["state"] not in ("pending", "not_required") for name in PARTS):
        return "linking"
    return "registered"


def public(linkage):
    """The linkage as API.md shows it (bookkeeping fields removed)."""
    return {name: {k: v for k, v in part.items() if k not in BOOKKEEPING} for name, part in linkage.items()}


BOOKKEEPING = ("at", "claimed_version")

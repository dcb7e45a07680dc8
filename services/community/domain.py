"""The community's rules for a need: registration and its lifecycle. Pure; no I/O."""
from wushe import linkage
from wushe.events import new_event
from wushe.regions import truncate

SOURCE = "community"


def new_need(need_id, payload, registered_at, channel, resident_id=None):
    """The need document and its `need_registered` event. The resident's details are not in
    either: the need names its resident record (`resident_id`), the event only says there is one."""
    community = payload["community"]
    requirements = payload["requirements"]
    need = {
        "_id": need_id,
        "community": community,
        "street": truncate(community, "street"),
        "district": truncate(community, "district"),
        "category": payload["category"],
        "urgency": payload["urgency"],
        "description": payload["description"],
        "requirements": requirements,
        "channel": channel,
        "resident_id": resident_id,
        "status": "registered",
        "linkage": linkage.initial(requirements),
        "registered_at": registered_at,
        "linked_at": None,
        "missing": [],
        "version": 0,
        "applied": [],
    }
    event = new_event(SOURCE, "need_registered", {
        "need_id": need_id, "community": community, "street": need["street"],
        "district": need["district"], "category": need["category"], "urgency": need["urgency"],
        "requirements": requirements, "registered_at": registered_at, "channel": channel,
        "has_resident": resident_id is not None,
    })
    need["status"] = linkage.status("registered", need["linkage"])
    if need["status"] == "linked":  # nothing was asked of the parties but an organisation
        need["linked_at"] = registered_at
    events = [event] + _arrivals(need, "registered", registered_at)
    return need, events


def same_request(existing, payload):
    """A retried registration (same id, same content) answers with the need it created."""
    return all(existing.get(k) == payload.get(k)
               for k in ("community", "category", "urgency", "description", "requirements"))


def fold(need, event):
    """The changes an outcome event makes to a need: ($set fields, events to emit)."""
    parts = linkage.apply(need["linkage"], event)
    changes = {"linkage": parts}
    status = linkage.status(need["status"], parts)
    events = []
    if status != need["status"] or (status == "escalated" and linkage.missing(parts) != need["missing"]):
        changes["status"] = status
        candidate = {**need, **changes}
        events = _arrivals(candidate, need["status"], event.time)
        if status == "linked" and need["status"] != "linked":
            changes["linked_at"] = event.time
        changes["missing"] = linkage.missing(parts)
    return changes, events


def _arrivals(need, previous, at):
    """Events announcing that `need` reached `linked` or (newly) `escalated`."""
    base = {"need_id": need["_id"], "community": need["community"]}
    if need["status"] == "linked" and previous != "linked":
        return [new_event(SOURCE, "need_linked", {**base, "linked_at": at})]
    if need["status"] == "escalated":
        missing = linkage.missing(need["linkage"])
        if previous != "escalated" or missing != need.get("missing"):
            return [new_event(SOURCE, "need_escalated", {
                **base, "missing": missing, "escalated_to": need["district"]})]
    return []


def resident_erased(record):
    """The event announcing that a resident record's personal data is gone: ids and region only."""
    return new_event(SOURCE, "resident_erased", {
        "resident_id": record["_id"], "need_id": record["need_id"], "community": record["community"]})


class TransitionRefused(Exception):
    pass


def transition(need, to, at, **data):
    """A manual transition (cancel, resolve, evaluate): ($set fields, event) or TransitionRefused."""
    if need["status"] not in linkage.ALLOWED_FROM[to]:
        allowed = " or ".join(linkage.ALLOWED_FROM[to])
        raise TransitionRefused(f"a need can be {to} only from {allowed}; this one is {need['status']}")
    base = {"need_id": need["_id"], "community": need["community"]}
    if to == "cancelled":
        changes = {"status": to, "cancelled_at": at, "cancel_reason": data["reason"]}
        event = new_event(SOURCE, "need_cancelled", {**base, "reason": data["reason"]})
    elif to == "resolved":
        changes = {"status": to, "resolved_at": at, "resolution_note": data.get("note", "")}
        event = new_event(SOURCE, "need_resolved", {**base, "resolved_at": at})
    else:
        changes = {"status": to, "evaluated_at": at, "evaluation": {"score": data["score"], "outcome": data["outcome"]}}
        event = new_event(SOURCE, "need_evaluated", {**base, "score": data["score"], "outcome": data["outcome"]})
    return changes, event

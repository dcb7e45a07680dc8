"""The community's rules: regions, a need's registration, its linkage and its lifecycle. Pure;
no I/O: ids and times come in, `Change`s and refusals come out (wushe.contract.decisions)."""
from wushe.contract import linkage
from wushe.contract.decisions import Change, Event, Refused
from wushe.contract.regions import parent, truncate

SOURCE = "community"


# regions ------------------------------------------------------------------------------------
def new_region(region, parent_registered):
    """The region document for a registration; its parent must be registered first."""
    up = parent(region["path"])
    if up and not parent_registered:
        raise Refused.invalid("the parent region is not registered", {"path": [f"register {up} first"]})
    return {"_id": region["path"], "path": region["path"], "name": region["name"], "level": region["level"],
            "parent": up}


def same_region(existing, region):
    """Registering a region again is fine with the same name, a conflict with another."""
    if existing["name"] != region["name"]:
        raise Refused(f"region {region['_id']} exists with another name")


def community_of(region, path):
    """A need is registered in a community: a registered region of that level."""
    if not region or region["level"] != "community":
        raise Refused.invalid("the community is not registered",
                              {"community": [f"{path} is not a registered community"]})


# needs ----------------------------------------------------------------------------------------


def new_need(need_id, payload, registered_at, channel, resident_id=None, reported_by=None):
    """The need document (the change's fields) and its `need_registered` event. The resident's
    details are in neither: the need names its resident record (`resident_id`), the event only
    says there is one."""
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
        "reported_by": reported_by,  # the station software's source (`station/<id>`); None through the gateway
        "resident_id": resident_id,
        "status": "registered",
        "linkage": linkage.initial(requirements),
        "registered_at": registered_at,
        "linked_at": None,
        "missing": [],
        "version": 0,
        "applied": [],
    }
    event = Event("need_registered", {
        "need_id": need_id, "community": community, "street": need["street"],
        "district": need["district"], "category": need["category"], "urgency": need["urgency"],
        "requirements": requirements, "registered_at": registered_at, "channel": channel,
        "reported_by": reported_by, "has_resident": resident_id is not None,
    })
    need["status"] = linkage.status("registered", need["linkage"])
    if need["status"] == "linked":  # nothing was asked of the parties but an organisation
        need["linked_at"] = registered_at
    events = [event] + _arrivals(need, "registered", registered_at)
    return Change(need, tuple(events), answer={"id": need_id, "status": "registered"})


MAX_FIELD_ERRORS = 50  # a report can be wrong in many places; the answer stays bounded


def report_refused(report_id, reported_by, need_id, errors):
    """The answer to a station whose `need_reported` was not registered: its report's id and the
    reasons by field path (`requirements.volunteers.count`). The messages are the rules' (a
    resident's rules never state the value sent), so nothing of the resident's is echoed."""
    flat = field_errors(errors)
    return Event("need_report_refused", {
        "report_id": report_id, "reported_by": reported_by,
        "need_id": need_id, "errors": dict(sorted(flat.items())[:MAX_FIELD_ERRORS])},
        subject=need_id, correlation_id=need_id or report_id)


def field_errors(errors, path=""):
    """marshmallow's nested errors ({"requirements": {"volunteers": {"count": [..]}}}, list
    items by index) as {field path: [messages]}; names and messages bounded in length."""
    if isinstance(errors, dict):
        flat = {}
        for key, value in errors.items():
            flat.update(field_errors(value, f"{path}.{key}" if path else str(key)))
        return flat
    messages = errors if isinstance(errors, list) else [errors]
    if messages and all(isinstance(m, (dict, list)) for m in messages):
        flat = {}
        for m in messages:
            flat.update(field_errors(m, path))
        return flat
    return {(path or "_schema")[:120]: [str(m)[:300] for m in messages][:10]}


def same_request(existing, payload):
    """A retried registration (same id, same content) answers with the need it created; the same
    id with other content is refused."""
    if not all(existing.get(k) == payload.get(k)
               for k in ("community", "category", "urgency", "description", "requirements")):
        raise Refused(f"need {existing['_id']} exists with other content")


def fold(need, event):
    """What a party's outcome changes on the need: its linkage, and the status it leads to
    (`need_linked`, `need_escalated`); the event's id is recorded in the same write, so that a
    redelivery folds nothing twice. None when the need has folded this event already."""
    if event.id in need["applied"]:
        return None
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
    # for the handler's figures: the status reached, and whether this is the need's first linkage
    answer = {"status": changes.get("status"),
              "first_linked": changes.get("status") == "linked" and not need.get("linked_at")}
    return Change(changes, tuple(events), appended={"applied": event.id}, answer=answer)


def _arrivals(need, previous, at):
    """Events announcing that `need` reached `linked` or (newly) `escalated`."""
    base = {"need_id": need["_id"], "community": need["community"]}
    if need["status"] == "linked" and previous != "linked":
        return [Event("need_linked", {**base, "linked_at": at})]
    if need["status"] == "escalated":
        missing = linkage.missing(need["linkage"])
        if previous != "escalated" or missing != need.get("missing"):
            return [Event("need_escalated", {
                **base, "missing": missing, "escalated_to": need["district"]})]
    return []


def resident_erased(record):
    """The event announcing that a resident record's personal data is gone: ids and region only."""
    return Event("resident_erased", {
        "resident_id": record["_id"], "need_id": record["need_id"], "community": record["community"]})


def transition(need, to, at, **data):
    """A manual transition (cancel, resolve, evaluate), refused from a status it may not leave."""
    if need["status"] not in linkage.ALLOWED_FROM[to]:
        allowed = " or ".join(linkage.ALLOWED_FROM[to])
        raise Refused(f"a need can be {to} only from {allowed}; this one is {need['status']}")
    base = {"need_id": need["_id"], "community": need["community"]}
    if to == "cancelled":
        changes = {"status": to, "cancelled_at": at, "cancel_reason": data["reason"]}
        event = Event("need_cancelled", {**base, "reason": data["reason"]})
    elif to == "resolved":
        changes = {"status": to, "resolved_at": at, "resolution_note": data.get("note", "")}
        event = Event("need_resolved", {**base, "resolved_at": at})
    else:
        changes = {"status": to, "evaluated_at": at, "evaluation": {"score": data["score"], "outcome": data["outcome"]}}
        event = Event("need_evaluated", {**base, "score": data["score"], "outcome": data["outcome"]})
    return Change(changes, (event,), answer={"id": need["_id"], "status": to})

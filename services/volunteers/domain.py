"""Calls for volunteers (抢单), claims and the time bank (时间银行). Pure; no I/O."""
from wushe.clock import later
from wushe.events import new_event

SOURCE = "volunteers"


def call_id_for(need_id):
    """One call per need: its id derives from the need's (need-wang-1 → call-wang-1)."""
    return "call-" + need_id.removeprefix("need-")


def new_call(call_id, need, expiry_hours, opened_at):
    """The call a need's volunteer requirement opens, and its `call_opened` event."""
    wanted = need["requirements"]["volunteers"]
    call = {
        "_id": call_id, "need_id": need["need_id"], "community": need["community"],
        "street": need["street"], "category": need["category"], "urgency": need["urgency"],
        "skills": sorted(set(wanted["skills"])), "hours": wanted["hours"], "slots": wanted["count"],
        "claimed": [], "completions": [], "state": "open", "opened_at": opened_at,
        "expires_at": later(need["registered_at"], hours=expiry_hours[need["urgency"]]),
    }
    return call, event(call, "call_opened", slots=call["slots"], skills=call["skills"],
                       hours=call["hours"], expires_at=call["expires_at"])


def event(call, event_type, **data):
    return new_event(SOURCE, event_type, {"need_id": call["need_id"], "community": call["community"],
                                          "call_id": call["_id"], **data})


def missing_skills(call, volunteer):
    return sorted(set(call["skills"]) - set(volunteer["skills"]))


def why_refused(call, volunteer_id):
    """Why a claim that found no room was refused (for a clear 409)."""
    if call["state"] != "open":
        return f"the call is {call['state']}"
    if volunteer_id in call["claimed"]:
        return "this volunteer has already claimed the call"
    return "the call is full"


def is_full(call):
    return len(call["claimed"]) >= call["slots"]

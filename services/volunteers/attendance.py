"""Check-in and check-out on a call, the hours they credit, and no-shows. Pure; no I/O: times
come in, events go out as drafts (`domain.event`)."""
from services.volunteers.domain import attendance_of, event
from wushe.contract.clock import later, parse
from wushe.contract.decisions import Change, Refused

QUARTER = 0.25


def check_in(call, volunteer_id, now):
    if volunteer_id not in call["claimed"]:
        raise Refused("only a volunteer holding a claim on the call can check in")
    if call["state"] == "cancelled":
        raise Refused("the call is cancelled")
    present = attendance_of(call, volunteer_id)
    if present:
        raise Refused(f"already checked in at {present['checked_in_at']}")
    record = {"volunteer_id": volunteer_id, "checked_in_at": now, "checked_out_at": None, "hours": None}
    return Change({"attendance": call.get("attendance", []) + [record]},
                  [event(call, "volunteer_checked_in", volunteer_id=volunteer_id)], {"checked_in_at": now})


def check_out(call, volunteer_id, now, cap_hours):
    """Close the volunteer's attendance with the hours it earns; None when already checked out
    (the caller answers with what was recorded, so a retried check-out is harmless)."""
    present = attendance_of(call, volunteer_id)
    if not present:
        raise Refused("the volunteer has not checked in on this call")
    if present["checked_out_at"]:
        return None
    hours = attended_hours(present["checked_in_at"], now, cap_hours)
    done = {**present, "checked_out_at": now, "hours": hours}
    rows = [done if a["volunteer_id"] == volunteer_id else a for a in call["attendance"]]
    return Change({"attendance": rows}, [event(call, "volunteer_checked_out", volunteer_id=volunteer_id, hours=hours)],
                  {"hours": hours, "checked_in_at": present["checked_in_at"], "checked_out_at": now})


def attended_hours(checked_in_at, checked_out_at, cap_hours):
    """The time between check-in and check-out to the nearest quarter hour: at least a quarter
    (the volunteer came), at most the cap (a forgotten check-out does not earn a week)."""
    elapsed = (parse(checked_out_at) - parse(checked_in_at)).total_seconds() / 3600
    quarters = round(elapsed / QUARTER) * QUARTER
    return min(max(quarters, QUARTER), cap_hours)


def roll_call_before(now, grace_minutes):
    """Calls whose service started before this are due their roll call (`no_shows`)."""
    return later(now, minutes=-grace_minutes)


def no_shows(call, now, grace_minutes):
    """Once a windowed service is `grace_minutes` under way, the claimants who have not checked
    in are recorded as no-shows (once per call); None when it is not yet time, or done."""
    if not call.get("starts_at") or call.get("attendance_checked") or call["state"] not in ("open", "filled"):
        return None
    if now < later(call["starts_at"], minutes=grace_minutes):
        return None
    present = {a["volunteer_id"] for a in call.get("attendance", [])}
    absent = [v for v in call["claimed"] if v not in present]
    return Change({"no_shows": absent, "attendance_checked": True},
                  [event(call, "volunteer_no_show", volunteer_id=v) for v in absent], {"no_shows": absent})

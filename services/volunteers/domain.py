"""Calls for volunteers (抢单): claims, the waiting list, withdrawals, team-first offers, service
windows and completion; the volunteers' and teams' records and the region's figures. Pure; no I/O.

A change to a call is decided here from the call as read (`Change`: the fields to set and the
events to announce, as drafts the store stamps); the store writes it only if the call's version
is still the one read, so concurrent claims and withdrawals serialise on the call document and
exactly `slots` claims hold at any time. Ids and times come in; nothing here reads a clock.
"""
from dataclasses import dataclass, field

from wushe.contract.clock import iso, later, parse
from wushe.contract.decisions import Change, Event, Refused
from wushe.contract.regions import level_of, truncate

SOURCE = "volunteers"
LIVE = ("open", "filled")  # states in which volunteers claim, wait and withdraw
# a booking this recent may still have its claim on the way; one whose service ended this long
# ago is let go whatever holds it
BOOKING_SETTLE_MINUTES = 1
BOOKING_KEPT_DAYS = 1


@dataclass(frozen=True)
class Rules:
    """The volunteers' rules in force (README, "Rules"): each is `WUSHE_<NAME>` in the
    environment, an expiry `WUSHE_CALL_EXPIRY_HOURS_<URGENCY>` (wushe.runtime.config.rules_from_env)."""
    # hours a call stays open before it expires unfilled, by urgency
    call_expiry_hours: dict = field(default_factory=lambda: {"critical": 2.0, "high": 12.0, "normal": 48.0, "low": 168.0})
    # a call offered to a team stays the team's for this long (at most half its time open)
    team_first_hours: float = 2.0
    # how many may wait for a full call's slots
    waiting_list_max: int = 10
    # a claimant not checked in this long after the start is recorded as a no-show
    no_show_grace_minutes: int = 30
    # attendance credited for one service is capped (a forgotten check-out)
    attendance_cap_hours: float = 12.0


# volunteers and teams ----------------------------------------------------------------------------
def new_volunteer(volunteer_id, body, at):
    """A volunteer's record: an empty time bank (the ids of the calls credited and of the
    transactions made, and the movements under way) and no booking."""
    return {"_id": volunteer_id, **body, "hours_balance": 0.0, "credited_calls": [], "txns": [], "pending": [],
            "created_at": at}


def new_team(team_id, body, at):
    return {"_id": team_id, **body, "created_at": at}


# calls ---------------------------------------------------------------------------------------------
def call_id_for(need_id):
    """One call per need: its id derives from the need's (need-wang-1 → call-wang-1)."""
    return "call-" + need_id.removeprefix("need-")


def new_call(call_id, need, expiry_hours, opened_at, team_first_hours):
    """The call a need's volunteer requirement opens (the change's fields) and its `call_opened`
    event."""
    wanted = need["requirements"]["volunteers"]
    call = {
        "_id": call_id, "need_id": need["need_id"], "community": need["community"],
        "street": need["street"], "category": need["category"], "urgency": need["urgency"],
        "skills": sorted(set(wanted["skills"])), "hours": wanted["hours"], "slots": wanted["count"],
        "claimed": [], "waiting": [], "attendance": [], "completions": [], "state": "open",
        "opened_at": opened_at, "version": 0,
        "expires_at": later(need["registered_at"], hours=expiry_hours[need["urgency"]]),
    }
    for key in ("starts_at", "ends_at"):
        if wanted.get(key):
            call[key] = wanted[key]
    if wanted.get("team_id"):
        call.update(team_id=wanted["team_id"], team_until=team_window(opened_at, call["expires_at"], team_first_hours))
    opened = {k: call[k] for k in ("slots", "skills", "hours", "expires_at", "starts_at", "ends_at",
                                   "team_id", "team_until") if k in call}
    return Change(call, (event(call, "call_opened", **opened),), {"id": call_id})


def team_window(now, expires_at, hours):
    """Until when a team has the call to itself: `hours`, but never more than half the time the
    call has left, so that others can still fill it before it expires."""
    halfway = parse(now) + (parse(expires_at) - parse(now)) / 2
    return min(later(now, hours=hours), iso(halfway))


def event(call, event_type, **data):
    """A call's event, as a draft: the store stamps it when it writes the change."""
    return Event(event_type, {"need_id": call["need_id"], "community": call["community"], "call_id": call["_id"],
                              **data})


def version_of(call):
    return call.get("version", 0)


def missing_skills(call, volunteer):
    return sorted(set(call["skills"]) - set(volunteer["skills"]))


def is_full(call):
    return len(call["claimed"]) >= call["slots"]


def near(community):
    """The region whose calls are "near" a community: its street's (a larger region: itself)."""
    return truncate(community, "street") if level_of(community) == "community" else community


# claims and the waiting list --------------------------------------------------------------------
def skilled(call, volunteer):
    """A volunteer lacking a skill the call asks for may not claim it (nor wait for it)."""
    lacking = missing_skills(call, volunteer)
    if lacking:
        raise Refused.invalid("the volunteer lacks a required skill",
                              {"volunteer_id": [f"missing skills: {', '.join(lacking)}"]})


def claim(call, volunteer, now, *, wait=False, waiting_max=10):
    """Take a slot; when the call is full and `wait`, join the end of its waiting list."""
    volunteer_id = volunteer["_id"]
    refused = claim_refused(call, volunteer, now)
    if refused:
        raise Refused(refused)
    version = version_of(call) + 1
    claimed, waiting = call["claimed"], call.get("waiting", [])
    if call["state"] == "open" and len(claimed) < call["slots"]:
        claimed = claimed + [volunteer_id]
        changes = {"claimed": claimed}
        events = [event(call, "call_claimed", volunteer_id=volunteer_id, slots=call["slots"],
                        claimed=claimed, call_version=version)]
        if len(claimed) >= call["slots"]:  # the last slot: filled in the same write
            changes.update(state="filled", filled_at=now)
            events.append(event(call, "call_filled", volunteer_ids=claimed, claimed=claimed, call_version=version))
        return Change(changes, events, {"status": "claimed", "position": len(claimed)})
    if not wait:
        raise Refused("the call is full (claim with \"wait\": true to join its waiting list)")
    if len(waiting) >= waiting_max:
        raise Refused(f"the call is full and so is its waiting list ({waiting_max})")
    waiting = waiting + [volunteer_id]
    return Change({"waiting": waiting},
                  [event(call, "waitlist_joined", volunteer_id=volunteer_id, position=len(waiting),
                         call_version=version)],
                  {"status": "waiting", "position": len(waiting)})


def claim_refused(call, volunteer, now):
    """Why this volunteer may not claim (or wait for) this call now; None when they may."""
    volunteer_id = volunteer["_id"]
    if call["state"] not in LIVE:
        return f"the call is {call['state']}"
    if volunteer_id in call["claimed"]:
        return "this volunteer has already claimed the call"
    if volunteer_id in call.get("waiting", []):
        return "this volunteer is already on the call's waiting list"
    if call.get("starts_at") and now >= call["starts_at"]:
        return "the service has already started"
    if call.get("team_id") and now < call["team_until"] and call["team_id"] not in volunteer.get("teams", []):
        return f"the call is offered to team {call['team_id']} until {call['team_until']}"
    return None


def withdraw(call, volunteer_id, now):
    """Give a slot (or a place on the waiting list) back before the service starts; the first
    volunteer waiting takes the freed slot in the same change."""
    version = version_of(call) + 1
    waiting = call.get("waiting", [])
    if volunteer_id not in call["claimed"]:
        if volunteer_id not in waiting:
            raise Refused.missing(f"volunteer {volunteer_id} holds no claim on call {call['_id']}")
        waiting = [v for v in waiting if v != volunteer_id]
        return Change({"waiting": waiting},
                      [event(call, "waitlist_left", volunteer_id=volunteer_id, call_version=version)],
                      {"status": "withdrawn", "from": "waiting_list", "promoted": None})
    if call["state"] not in LIVE + ("expired",):
        raise Refused(f"the call is {call['state']}")
    if attendance_of(call, volunteer_id):
        raise Refused("the volunteer has checked in; check out instead")
    if call.get("starts_at") and now >= call["starts_at"]:
        raise Refused("the service has started; a claim can be withdrawn only before it starts")
    claimed = [v for v in call["claimed"] if v != volunteer_id]
    changes = {"claimed": claimed}
    promoted = None
    if waiting and call["state"] in LIVE:
        promoted, waiting = waiting[0], waiting[1:]
        claimed = claimed + [promoted]
        changes.update(claimed=claimed, waiting=waiting)
    state = call["state"]
    if state == "filled" and len(claimed) < call["slots"]:
        state = changes["state"] = "open"
    events = [event(call, "claim_withdrawn", volunteer_id=volunteer_id, state=state, claimed=claimed,
                    call_version=version)]
    if promoted:
        events.append(event(call, "waitlist_promoted", volunteer_id=promoted, claimed=claimed, call_version=version))
    return Change(changes, events, {"status": "withdrawn", "from": "claims", "promoted": promoted})


def offer(call, team_id, now, hours):
    """Offer an open call to a team first, for `hours` (at most half its time left)."""
    if call["state"] != "open":
        raise Refused(f"only an open call can be offered to a team; this one is {call['state']}")
    until = team_window(now, call["expires_at"], hours)
    return Change({"team_id": team_id, "team_until": until},
                  [event(call, "call_offered", team_id=team_id, team_until=until)],
                  {"team_id": team_id, "team_until": until})


# service windows: no volunteer is booked twice at once ------------------------------------------
def booking(call):
    """The time a claim on this call books, or None when the call gives no service window."""
    if not call.get("starts_at"):
        return None
    return {"call_id": call["_id"], "starts_at": call["starts_at"], "ends_at": call["ends_at"]}


def overlapping(bookings, wanted):
    """The bookings (of other calls) whose window overlaps `wanted`'s."""
    return [b for b in bookings if b["call_id"] != wanted["call_id"]
            and b["starts_at"] < wanted["ends_at"] and b["ends_at"] > wanted["starts_at"]]


def clash(bookings, wanted):
    """A window that overlaps another call the volunteer holds is refused, naming that call."""
    taken = overlapping(bookings, wanted)
    if taken:
        raise Refused(f"the volunteer already holds call {taken[0]['call_id']} from "
                      f"{taken[0]['starts_at']} to {taken[0]['ends_at']}, which overlaps this one")


def booking_settled_before(now):
    """Bookings made before this have had time for their claim to be written."""
    return later(now, minutes=-BOOKING_SETTLE_MINUTES)


def booking_unheld(booking, call, volunteer_id, now):
    """Whether a settled booking is let go: no claim or place in line of the volunteer holds it
    (a claim refused after its booking, a crash between the two, a call cancelled), or its
    service is long over. `call`: its call's claims, waiting list and state (None: gone)."""
    held = call is not None and call["state"] != "cancelled" and \
        volunteer_id in call["claimed"] + call.get("waiting", [])
    return not held or booking["ends_at"] < later(now, days=-BOOKING_KEPT_DAYS)


def attendance_of(call, volunteer_id):
    return next((a for a in call.get("attendance", []) if a["volunteer_id"] == volunteer_id), None)


# the call's own life: filled, expired, reopened, cancelled --------------------------------------
def settle(call, now):
    """A call still open at its deadline expires (the need is escalated); one left open though
    full (written before claims filled a call in the same write) is marked filled. None: as is."""
    if call["state"] != "open":
        return None
    version = version_of(call) + 1
    if is_full(call):
        return Change({"state": "filled", "filled_at": now}, [event(
            call, "call_filled", volunteer_ids=call["claimed"], claimed=call["claimed"], call_version=version)])
    if call["expires_at"] < now:
        return Change({"state": "expired", "expired_at": now}, [event(
            call, "call_expired", volunteer_ids=call["claimed"], claimed=call["claimed"], call_version=version)])
    return None


def reopen(call, expires_at, now):
    """A station opens an expired call again; the new deadline goes in the same write as the
    state, or a crash would leave an open call with a past deadline for the timer to expire."""
    if expires_at <= now:
        raise Refused.invalid("the new deadline has passed", {"expires_at": ["must be in the future"]})
    if call["state"] != "expired":
        raise Refused(f"only an expired call can be reopened; this one is {call['state']}")
    return Change({"state": "open", "expires_at": expires_at, "reopened_at": now},
                  [event(call, "call_reopened", expires_at=expires_at)])


def cancel(call, now, reason):
    """The need was cancelled: the call closes and every claim and place in line is let go."""
    if call["state"] not in LIVE + ("expired",):
        return None
    return Change({"state": "cancelled", "cancelled_at": now},
                  [event(call, "call_cancelled", reason=reason)],
                  {"released": call["claimed"] + call.get("waiting", [])})


def completable(call, volunteer_id):
    """A coordinator records a service done only for a volunteer holding a claim on a call that
    goes ahead."""
    if volunteer_id not in call["claimed"] or call["state"] == "cancelled":
        raise Refused("only a volunteer holding a claim on a call that is not cancelled can complete it")


# figures ------------------------------------------------------------------------------------------
def statistics(calls, credited_hours):
    """A region's volunteer figures from its calls (completions, waiting lists, no-shows) and the
    hours its credits gave."""
    waiting = [len(c.get("waiting", [])) for c in calls if c["state"] in LIVE and c.get("waiting")]
    return {"volunteer_services_completed": sum(len(c.get("completions", [])) for c in calls),
            "volunteer_hours": round(sum(credited_hours), 2),
            "waiting_list": {"calls": len(waiting), "volunteers": sum(waiting)},
            "volunteer_no_shows": sum(len(c.get("no_shows", [])) for c in calls)}


def open_calls_by_district(calls, now):
    """Open calls (their street and opening time) counted by district, with the age in seconds
    of each district's oldest, for the operations dashboard."""
    opened = {}
    for call in calls:
        if call.get("opened_at"):
            opened.setdefault(truncate(call["street"], "district"), []).append(call["opened_at"])
    return {district: (len(times), (parse(now) - parse(min(times))).total_seconds())
            for district, times in opened.items()}

"""Realistic inputs shared by the unit tests: region paths, times and loaded events."""
import dataclasses

from wushe.contract.events import load, new_event

COMMUNITY = "tianjin/binhai/taida/xinghua"
STREET = "tianjin/binhai/taida"
DISTRICT = "tianjin/binhai"
NEED_ID = "need-0a1b2c3d4e5f6789"

T0 = "2026-11-23T08:00:00.000000Z"
T1 = "2026-11-23T08:05:00.000000Z"
T2 = "2026-11-23T08:10:00.000000Z"
T3 = "2026-11-23T08:15:00.000000Z"

SOURCES = {
    "org_matched": "orgs", "org_unmatched": "orgs", "org_incubation_started": "orgs",
    "worker_assigned": "workers", "worker_unavailable": "workers", "case_closed": "workers",
    "call_opened": "volunteers", "call_claimed": "volunteers", "call_filled": "volunteers",
    "call_expired": "volunteers", "call_cancelled": "volunteers", "claim_withdrawn": "volunteers",
    "waitlist_promoted": "volunteers",
    "resource_pledged": "charity", "resource_shortfall": "charity",
    "pledge_delivered": "charity", "pledge_released": "charity",
}


def pledge(pledge_id, item="rice", quantity=5.0, unit="kg", lot_id="lot-rice-1"):
    return {"pledge_id": pledge_id, "lot_id": lot_id, "item": item, "quantity": quantity,
            "unit": unit, "value_cents": 0}


DATA = {  # the data of each outcome event about NEED_ID, as the parties publish it
    "org_matched": {"organisation_id": "org-linli", "category": "errands"},
    "org_unmatched": {"category": "errands", "demand": 1},
    "org_incubation_started": {"organisation_id": "org-incub", "category": "errands",
                               "need_ids": [NEED_ID], "mentor_street": STREET},
    "worker_assigned": {"worker_id": "worker-li", "case_id": "case-0a1b", "station_id": "station-taida"},
    "worker_unavailable": {"reason": "no_worker_with_room", "escalated_to": DISTRICT},
    "case_closed": {"case_id": "case-0a1b", "worker_id": "worker-li", "reason": "need_resolved"},
    "call_opened": {"call_id": "call-1", "slots": 2, "skills": ["escort"], "hours": 2.0,
                    "expires_at": "2026-11-23T20:00:00.000000Z"},
    "call_claimed": {"call_id": "call-1", "volunteer_id": "vol-wang", "slots": 2},
    "call_filled": {"call_id": "call-1", "volunteer_ids": ["vol-wang", "vol-zhao"]},
    "call_expired": {"call_id": "call-1", "volunteer_ids": ["vol-wang"]},
    "call_cancelled": {"call_id": "call-1", "reason": "need_cancelled"},
    "claim_withdrawn": {"call_id": "call-1", "volunteer_id": "vol-wang", "state": "open", "claimed": [],
                        "call_version": 2},
    "waitlist_promoted": {"call_id": "call-1", "volunteer_id": "vol-sun", "claimed": ["vol-zhao", "vol-sun"],
                          "call_version": 4},
    "resource_pledged": {"pledges": [pledge("pledge-a")]},
    "resource_shortfall": {"pledges": [pledge("pledge-a")],
                           "shortfall": [{"item": "rice", "quantity": 5.0, "unit": "kg"}]},
    "pledge_delivered": {"pledge": pledge("pledge-a")},
    "pledge_released": {"pledges": [pledge("pledge-a")]},
}


def event(event_type, at=T1, **data):
    """A loaded `Event` about NEED_ID, as a consumer receives it, at time `at`."""
    body = {"need_id": NEED_ID, "community": COMMUNITY, **DATA[event_type], **data}
    if event_type == "org_incubation_started":
        body.pop("need_id")
    loaded = load(new_event(SOURCES[event_type], event_type, body, subject=NEED_ID))
    return dataclasses.replace(loaded, time=at)


def requirements(worker=True, organisation=True, volunteers=None, resources=None):
    return {"worker": worker, "organisation": organisation, "volunteers": volunteers, "resources": resources}


VOLUNTEERS = {"count": 2, "skills": ["escort"], "hours": 2.0}
RESOURCES = [{"item": "rice", "quantity": 5.0, "unit": "kg"}]
EVERYTHING = requirements(volunteers=VOLUNTEERS, resources=RESOURCES)

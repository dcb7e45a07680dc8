"""Matching a need to a community organisation, and when to incubate one. Pure; no I/O."""
from wushe.events import new_event
from wushe.vocabulary import CATEGORY_LABELS

SOURCE = "orgs"


def best_match(organisations, category):
    """The organisation to match: active, serving the category; the oldest first (most experienced)."""
    serving = [o for o in organisations if o["stage"] == "active" and category in o["categories"]]
    return min(serving, key=lambda o: (o["created_at"], o["_id"]), default=None)


def matched(need, organisation):
    return new_event(SOURCE, "org_matched", {
        "need_id": need["need_id"], "community": need["community"],
        "organisation_id": organisation["_id"], "category": need["category"]})


def unmatched(need, demand, incubating_id=None):
    return new_event(SOURCE, "org_unmatched", {
        "need_id": need["need_id"], "community": need["community"], "category": need["category"],
        "demand": demand, "organisation_id": incubating_id})


def should_incubate(demand, threshold):
    """The threshold-th unmatched need of one category in one community starts an incubation."""
    return demand >= threshold


def incubation_key(community, category):
    """At most one incubation per community and category is under way (a unique key)."""
    return f"{community}|{category}"


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
        "incubation": {"started_at": started_at, "need_ids": need_ids, "mentor_street": need["street"],
                       "milestones": []},
    }
    event = new_event(SOURCE, "org_incubation_started", {
        "organisation_id": org_id, "community": need["community"], "category": need["category"],
        "need_ids": need_ids, "mentor_street": need["street"]}, subject=org_id)
    return organisation, event

"""The gateway's read model: one document per need, projected from every party's events, so
that reads are fast and do not depend on every service being up. The linkage is folded with
`wushe.contract.linkage`, the same rules the community service uses. Of a need's resident it
keeps only what a caller of each scope may see, as the community sent them (`resident_sealed`):
the masked forms, and the fields still sealed (`wushe.contract.residents.forms`), opened only
for a caller who may see them — never the plaintext. An erasure drops them.

Each view also keeps its answer to `GET /needs/{id}` as JSON text (`page`), rendered once per
change instead of on every read: the answer to a caller who sees the resident masked (every caller
but those who may see the need's personal data), so that such a read is one lookup of a few fields
and hands the string back as it is. A caller who may see the resident unmasked gets the page with
the resident opened in place of the masked one (`page_resident_at` says where it starts)."""
import json

from pymongo import ASCENDING

from gateway.keys import KeyStore
from wushe.contract import linkage, residents
from wushe.runtime import cas
from wushe.contract.decisions import Change
from wushe.contract.regions import under_filter

LIFECYCLE = {"need_cancelled": "cancelled", "need_resolved": "resolved", "need_evaluated": "evaluated"}
DECIDED = {"need_linked": "linked", "need_escalated": "escalated"}  # the community's word on a linkage
TERMINAL_RANK = {"resolved": 1, "evaluated": 2, "cancelled": 3}


def blank(need_id):
    """A view for a need whose registration has not reached the gateway yet (events race)."""
    parts = {name: {"state": "pending", "at": None} for name in linkage.PARTS}
    parts["volunteers"].update(claimed=[])
    return {"_id": need_id, "status": "registered", "linkage": parts, "timeline": [], "applied": [],
            "version": 0, "linked_at": None, "registered_at": None}


def project(view, event):
    """The view after `event` (pure; `view` is not changed)."""
    view = {**view, "applied": view["applied"] + [event.id]}
    data = event.data
    if event.type == "need_registered":
        required = linkage.initial(data["requirements"])
        # parts some party already reported on keep what they said
        parts = {name: required[name] if required[name]["state"] == "not_required"
                 else {**required[name], **view["linkage"][name]} for name in linkage.PARTS}
        view.update({k: data[k] for k in ("community", "street", "district", "category", "urgency",
                                           "requirements", "registered_at", "has_resident")}, linkage=parts,
                    reported_by=data.get("reported_by"))
    elif event.type == "resident_erased":
        view.update(resident_erased_at=view.get("resident_erased_at") or event.time, resident=None)
    elif event.type in LIFECYCLE:
        to = LIFECYCLE[event.type]
        if TERMINAL_RANK.get(view["status"], 0) < TERMINAL_RANK[to]:
            view["status"] = to
        view[f"{to}_at"] = event.time
    elif event.type in DECIDED:
        view["decided"] = DECIDED[event.type]
        if event.type == "need_linked":
            view["linked_at"] = view.get("linked_at") or data["linked_at"]
    else:
        view["linkage"] = linkage.apply(view["linkage"], event)
    folded = linkage.status(view["status"], view["linkage"])
    # linked and escalated are the community's to say: the parts folded here can be ahead of it,
    # and a command that wants a linked need (resolve) would be refused in between; shown when
    # both the parts and the community say so
    if folded in DECIDED.values() and view.get("decided") != folded:
        folded = "linking"
    view["status"] = folded
    if view["status"] == "linked" and not view.get("linked_at"):
        view["linked_at"] = event.time
    entry = {"type": event.type, "source": event.source, "at": event.time}
    if event.type == "need_registered" and data.get("reported_by"):
        entry["reported_by"] = data["reported_by"]  # which station software reported it
    view["timeline"] = sorted(view["timeline"] + [entry], key=lambda e: e["at"])
    return view


def public(view, resident=None):
    """A view as API.md shows it."""
    shown = {"id": view["_id"], **{k: view.get(k) for k in (
        "status", "community", "category", "urgency", "registered_at", "linked_at", "reported_by")},
        "linkage": linkage.public(view["linkage"]), "timeline": view["timeline"]}
    for terminal in ("cancelled_at", "resolved_at", "evaluated_at", "resident_erased_at"):
        if view.get(terminal):
            shown[terminal] = view[terminal]
    if resident is not None:
        shown["resident"] = resident
    return shown


PAGE, RESIDENT_AT = "page", "page_resident_at"
# what a read needs of a view: its page, and what decides who sees it and in which form (the
# resident's forms themselves only for a caller who may see them unmasked: `GatewayStore.forms`)
SHOWN = {PAGE: 1, RESIDENT_AT: 1, "community": 1, "registered_at": 1, "has_resident": 1, "resident_erased_at": 1}


def rendered(view):
    """The view's page and where its resident starts in it: `public(view, masked resident)` as
    JSON text (as the gateway's answers are written), the resident masked when the view keeps
    its forms (None: the page has no resident)."""
    page = json.dumps(public(view), ensure_ascii=False)
    kept = view.get("resident")
    if not kept:
        return {PAGE: page, RESIDENT_AT: None}
    return {PAGE: page_with(page, None, residents.shown_from_forms(kept, None, reveal=False)),
            RESIDENT_AT: len(page) - 1}


def page_with(page, resident_at=None, resident=None):
    """A page with the resident a caller may see in place of the one it has (at `resident_at`;
    None: it has none): `public(view, resident)` as JSON text."""
    if resident_at is not None:
        page = page[:resident_at] + "}"
    if resident is None:
        return page
    return f'{page[:-1]}, "resident": {json.dumps(resident, ensure_ascii=False)}}}'


def _fields(view):
    return {k: v for k, v in view.items() if k not in ("_id", "version")}


def _changes(before, after):
    """The write that turns a view into the next: only the fields that changed, and the event's
    id and a timeline entry that comes last appended rather than rewritten (a view grows by one
    of each per event; rewriting them cost the store a copy of the whole view each time)."""
    appended = {"applied": after["applied"][-1]}
    if after["timeline"][:-1] == before["timeline"]:
        appended["timeline"] = after["timeline"][-1]
    return Change({k: v for k, v in _fields(after).items()
                   if k not in appended and (k not in before or before[k] != v)}, appended=appended)


class GatewayStore:
    def __init__(self, db):
        self.needs = db.need_views
        self.idempotency = db.idempotency_keys
        self.keys = KeyStore(db.api_keys)

    def ensure_indexes(self):
        self.needs.create_index([("community", ASCENDING)])
        self.needs.create_index([("status", ASCENDING)])

    def outboxes(self):
        return []

    def apply(self, need_id, event):
        """Project `event` into a need's view (compare-and-set on the view's version; the first
        event of a need creates it): the view after, or None for a redelivery."""
        def decide(view):
            if view and event.id in view["applied"]:
                return None
            projected = project(view or blank(need_id), event)
            projected.update(rendered(projected))
            return Change(_fields(projected)) if view is None else _changes(view, projected)

        view, change = cas.change(self.needs, need_id, decide, what=f"need view {need_id}")
        return view if change else None

    def need_shown(self, need_id):
        """What a read of the need needs (`SHOWN`), or None."""
        return self.needs.find_one({"_id": need_id}, SHOWN)

    def forms(self, need_id):
        """The forms of the need's resident the view keeps (`resident_sealed`), or None."""
        return (self.needs.find_one({"_id": need_id}, {"resident": 1}) or {}).get("resident")

    def need(self, need_id):
        return self.needs.find_one({"_id": need_id})

    def keep_resident(self, need_id, forms):
        """A resident's forms (`resident_sealed`), kept unless the resident was erased; before or
        after the need's own events (the projection keeps them). False when nothing changed."""
        def decide(view):
            if view and (view.get("resident_erased_at") or view.get("resident") == forms):
                return None
            kept = {**(view or blank(need_id)), "resident": forms}
            return Change({"resident": forms, **rendered(kept)} if view else {**_fields(kept), **rendered(kept)})

        return cas.change(self.needs, need_id, decide, what=f"need view {need_id}")[1] is not None

    def forget_resident(self, need_id, erased_at):
        """An erasure shown at once by this read model, before its `resident_erased` arrives."""
        def decide(view):
            if view is None or (view.get("resident") is None and view.get("resident_erased_at")):
                return None
            forgotten = {"resident": None, "resident_erased_at": view.get("resident_erased_at") or erased_at}
            return Change({**forgotten, **rendered({**view, **forgotten})})

        cas.change(self.needs, need_id, decide, what=f"need view {need_id}")

    def counts(self, region):
        match = {"community": under_filter(region)}
        by_status = {row["_id"]: row["n"] for row in self.needs.aggregate(
            [{"$match": match}, {"$group": {"_id": "$status", "n": {"$sum": 1}}}])}
        by_category = {row["_id"]: row["n"] for row in self.needs.aggregate(
            [{"$match": match}, {"$group": {"_id": "$category", "n": {"$sum": 1}}}])}
        return {"registered": sum(by_status.values()), "by_status": by_status, "by_category": by_category}

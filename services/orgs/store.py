"""The orgs service's collections: organisations (with their incubation and micro-projects), and
the needs it has decided on (its demand).

Every change of an organisation is one conditional update that re-checks the state it was
computed on. Projects are an append-only array, so a project is addressed by its index
(`projects.3.need_ids`) with the filter re-checking its id at that index — never the positional
`$` (which mongomock applies to the wrong element when another array is pushed in the same update).

The events a rule decides (drafts) are stamped here, as they go into an outbox in the same write
as the change they announce.
"""
from pymongo import ASCENDING

from services.orgs import domain
from services.orgs.domain import SOURCE
from wushe.runtime import cas
from wushe.contract.events import stamped
from wushe.runtime.outbox import entries
from wushe.contract.regions import under_filter
from wushe.runtime.store import after, insert_new, page


class OrgsStore:
    def __init__(self, db):
        self.organisations = db.organisations
        self.needs = db.needs  # one decision per need: matched | unmatched | incubating | cancelled

    def ensure_indexes(self):
        self.organisations.create_index([("community", ASCENDING), ("stage", ASCENDING)])
        # at most one incubation under way per community and category
        self.organisations.create_index("incubation_key", unique=True, sparse=True)
        self.organisations.create_index("stage")  # the gauge counts each stage on the index
        self.needs.create_index([("community", ASCENDING), ("category", ASCENDING),
                                 ("outcome", ASCENDING), ("registered_at", ASCENDING)])
        # the needs waiting on an incubating organisation, handed over when it graduates
        self.needs.create_index([("outcome", ASCENDING), ("organisation_id", ASCENDING),
                                 ("registered_at", ASCENDING)])

    def outboxes(self):
        return [self.needs, self.organisations]

    # organisations -------------------------------------------------------------------------------
    def add_organisation(self, organisation):
        """Insert an organisation; False when its id is taken."""
        return insert_new(self.organisations, organisation)

    def organisation(self, org_id):
        return self.organisations.find_one({"_id": org_id})

    def organisations_page(self, community=None, stage=None, limit=50, cursor=None):
        """Organisations in or under a region, at a stage, by id: (page, next cursor)."""
        query = {}
        if community:
            query["community"] = under_filter(community)
        if stage:
            query["stage"] = stage
        return page(self.organisations, query, limit, cursor)

    def serving(self, community, category):
        return list(self.organisations.find({"community": community, "categories": category}))

    # needs ---------------------------------------------------------------------------------------
    def decided(self, need_id):
        """The decision recorded on a need (with whatever of its outbox is pending), or None."""
        return self.needs.find_one({"_id": need_id})

    def decide(self, change, at):
        """Record the one decision on a need, its event in the record's outbox: the record, or
        None when a concurrent redelivery decided first (the need's id is unique)."""
        record = {**change.fields, "outbox": [stamped(SOURCE, e, at) for e in change.events]}
        return record if insert_new(self.needs, record) else None

    def unmatched_since(self, community, category, since):
        return list(self.needs.find({"community": community, "category": category,
                                     "outcome": "unmatched", "registered_at": {"$gte": since}},
                                    {"_id": 1}).sort("registered_at", 1))

    def tombstone(self, need_id, community):
        """Record a need cancelled before it was decided, so that it never is; False when it
        has a record already."""
        return insert_new(self.needs, {"_id": need_id, "community": community, "outcome": "cancelled", "outbox": []})

    def cancel(self, need_id):
        """Mark a decided need cancelled, once: its record as it was before, or None when it was
        cancelled already."""
        return self.needs.find_one_and_update({"_id": need_id, "outcome": {"$ne": "cancelled"}},
                                              {"$set": {"outcome": "cancelled"}})

    # micro-projects ------------------------------------------------------------------------------
    def take_slot(self, org_id, index, project, need_id):
        """Put a need into project `index` only while the organisation is active, the project is
        open and not full, and the need is in none of the organisation's projects — one
        conditional update, so a project never takes more than its capacity and a need never
        takes two slots of one organisation. The organisation after the change, or None."""
        return after(self.organisations, {
            "_id": org_id, "stage": "active",
            f"projects.{index}.id": project["id"],
            f"projects.{index}.state": "open",
            f"projects.{index}.need_ids.{project['capacity'] - 1}": {"$exists": False},
            "projects.need_ids": {"$ne": need_id}}, {"$push": {f"projects.{index}.need_ids": need_id}})

    def release_slot(self, org_id, index, project_id, need_id):
        """Take a need back out of a project (cancelled, or a concurrent redelivery decided
        otherwise); False when it holds no slot there. A compare-and-set of that project's list,
        not `$pull`: mongomock matches a `$pull` on an index-addressed nested array but changes
        nothing."""
        path = f"projects.{index}.need_ids"

        def attempt():
            org = self.organisations.find_one({"_id": org_id, f"projects.{index}.id": project_id})
            current = org["projects"][index]["need_ids"] if org else []
            if need_id not in current:
                return False
            kept = [n for n in current if n != need_id]
            if self.organisations.update_one({"_id": org_id, f"projects.{index}.id": project_id, path: current},
                                             {"$set": {path: kept}}).modified_count:
                return True
            return cas.AGAIN

        return cas.until_written(attempt, what=f"project {project_id}")

    def open_project(self, org_id, project):
        return after(self.organisations, {"_id": org_id, "stage": "active"}, {"$push": {"projects": project}})

    def close_project(self, org_id, index, project_id, closed_at):
        return after(self.organisations,
                     {"_id": org_id, f"projects.{index}.id": project_id, f"projects.{index}.state": "open"},
                     {"$set": {f"projects.{index}.state": "closed", f"projects.{index}.closed_at": closed_at}})

    # incubation ----------------------------------------------------------------------------------
    def start_incubation(self, change, at):
        """Insert an incubating organisation with its event in its outbox: the document, or None
        when an incubation of its community and category is under way (the unique key)."""
        organisation = {**change.fields, "outbox": [stamped(SOURCE, e, at) for e in change.events]}
        return organisation if insert_new(self.organisations, organisation) else None

    def attach(self, need_ids, org_id):
        """The needs that started an incubation wait on its organisation."""
        self.needs.update_many({"_id": {"$in": need_ids}},
                               {"$set": {"outcome": "incubating", "organisation_id": org_id}})

    def advance(self, organisation, change, at):
        """Apply a milestone's change (services.orgs.domain.milestone_step) only while the
        organisation is still incubating with exactly the milestones and training sessions it
        was read with; its events go into the outbox in the same update. A graduation releases
        the incubation key, so that the community may incubate for the category again. The
        organisation after, or None when it changed meanwhile."""
        filter_ = {"_id": organisation["_id"], "stage": "incubating"}
        for array, count in (("milestones", len(domain.reached(organisation))),
                             ("sessions", len(domain.sessions(organisation)))):
            filter_[f"incubation.{array}.{count}"] = {"$exists": False}
            if count:
                filter_[f"incubation.{array}.{count - 1}"] = {"$exists": True}
        update = {"$push": dict(change.appended)}
        if change.events:
            update["$push"]["outbox"] = {"$each": [stamped(SOURCE, e, at) for e in change.events]}
        if change.fields:
            update["$set"] = dict(change.fields)
        if change.fields.get("stage") == "active":
            update["$unset"] = {"incubation_key": ""}
        if not update["$push"]:
            del update["$push"]
        return after(self.organisations, filter_, update)

    def waiting(self, organisation):
        """The needs waiting on an organisation, the oldest first: those attached to it while it
        was incubating, and those that started its incubation (in case a crash left one of them
        recorded as unmatched)."""
        started_by = (organisation.get("incubation") or {}).get("need_ids") or []
        return list(self.needs.find({"$or": [
            {"outcome": "incubating", "organisation_id": organisation["_id"]},
            {"_id": {"$in": started_by}, "outcome": "unmatched"}]}).sort([("registered_at", 1), ("_id", 1)]))

    def hand_over(self, waiting, change, at):
        """Record a waiting need as matched (`domain.handed_over`), with its event, only while it
        is still as it was read (so a retried or concurrent hand-over announces it once)."""
        return after(self.needs,
                     {"_id": waiting["_id"], "outcome": waiting["outcome"],
                      "organisation_id": waiting.get("organisation_id")},
                     {"$set": dict(change.fields), **entries(*(stamped(SOURCE, e, at) for e in change.events))})

    def graduated_with_waiting(self):
        """The active organisations some need is still attached to (outcome incubating)."""
        waited_on = self.needs.distinct("organisation_id", {"outcome": "incubating"})
        return list(self.organisations.find({"_id": {"$in": waited_on}, "stage": "active"}))

    # figures -------------------------------------------------------------------------------------
    def by_stage(self, stages):
        """How many organisations are at each stage (counted on the index, not read)."""
        return {stage: self.organisations.count_documents({"stage": stage}) for stage in stages}

    def counts(self, region):
        found = self.organisations.find({"community": under_filter(region)}, {"stage": 1})
        counts = {"active": 0, "incubating": 0}
        for org in found:
            counts[org["stage"]] = counts.get(org["stage"], 0) + 1
        return counts

"""The orgs service's collections: organisations (with their incubation and micro-projects), and
the needs it has decided on (its demand).

Every change of an organisation is one conditional update that re-checks the state it was
computed on. Projects are an append-only array, so a project is addressed by its index
(`projects.3.need_ids`) with the filter re-checking its id at that index — never the positional
`$` (which mongomock applies to the wrong element when another array is pushed in the same update).
"""
from pymongo import ASCENDING

from wushe.outbox import entries
from wushe.regions import under_filter
from wushe.store import after


class OrgsStore:
    def __init__(self, db):
        self.organisations = db.organisations
        self.needs = db.needs  # one decision per need: matched | unmatched | incubating

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

    def serving(self, community, category):
        return list(self.organisations.find({"community": community, "categories": category}))

    def unmatched_since(self, community, category, since):
        return list(self.needs.find({"community": community, "category": category,
                                     "outcome": "unmatched", "registered_at": {"$gte": since}},
                                    {"_id": 1}).sort("registered_at", 1))

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

    def release_slot(self, org_id, index, project_id, need_id, attempts=20):
        """Take a need back out of a project (cancelled, or a concurrent redelivery decided
        otherwise). A compare-and-set of that project's list, not `$pull`: mongomock matches a
        `$pull` on an index-addressed nested array but changes nothing."""
        path = f"projects.{index}.need_ids"
        for _ in range(attempts):
            org = self.organisations.find_one({"_id": org_id, f"projects.{index}.id": project_id})
            current = org["projects"][index]["need_ids"] if org else []
            if need_id not in current:
                return False
            kept = [n for n in current if n != need_id]
            if self.organisations.update_one({"_id": org_id, f"projects.{index}.id": project_id, path: current},
                                             {"$set": {path: kept}}).modified_count:
                return True
        raise RuntimeError(f"project {project_id}: gave up releasing a slot after {attempts} concurrent changes")

    def open_project(self, org_id, project):
        return after(self.organisations, {"_id": org_id, "stage": "active"}, {"$push": {"projects": project}})

    def close_project(self, org_id, index, project_id, closed_at):
        return after(self.organisations,
                     {"_id": org_id, f"projects.{index}.id": project_id, f"projects.{index}.state": "open"},
                     {"$set": {f"projects.{index}.state": "closed", f"projects.{index}.closed_at": closed_at}})

    # incubation ----------------------------------------------------------------------------------
    def advance(self, org_id, step):
        """Apply a milestone step (services.orgs.domain.milestone_step) only while the
        organisation is still incubating with exactly the milestones and training sessions the
        step was computed on; its events go into the outbox in the same update."""
        filter_ = {"_id": org_id, "stage": "incubating"}
        for array, count in (("milestones", step["expect"]["milestones"]),
                             ("sessions", step["expect"]["sessions"])):
            filter_[f"incubation.{array}.{count}"] = {"$exists": False}
            if count:
                filter_[f"incubation.{array}.{count - 1}"] = {"$exists": True}
        update = {"$push": dict(step["push"])}
        if step["events"]:
            update["$push"]["outbox"] = {"$each": list(step["events"])}
        if step["set"]:
            update["$set"] = dict(step["set"])
        if step["unset"]:
            update["$unset"] = {name: "" for name in step["unset"]}
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

    def hand_over(self, need, org_id, project_id, event):
        """Record a waiting need as matched, with its event, only while it is still as it was
        read (so a retried or concurrent hand-over announces it once)."""
        return after(self.needs,
                     {"_id": need["_id"], "outcome": need["outcome"],
                      "organisation_id": need.get("organisation_id")},
                     {"$set": {"outcome": "matched", "organisation_id": org_id, "project_id": project_id},
                      **entries(event)})

    def waiting_on(self):
        """Ids of the organisations some need is attached to (outcome incubating)."""
        return self.needs.distinct("organisation_id", {"outcome": "incubating"})

    def by_stage(self, stages):
        """How many organisations are at each stage (counted on the index, not read)."""
        return {stage: self.organisations.count_documents({"stage": stage}) for stage in stages}

    def counts(self, region):
        found = self.organisations.find({"community": under_filter(region)}, {"stage": 1})
        counts = {"active": 0, "incubating": 0}
        for org in found:
            counts[org["stage"]] = counts.get(org["stage"], 0) + 1
        return counts

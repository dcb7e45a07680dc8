"""The orgs service's collections: organisations, and the needs it has decided on (its demand)."""
from pymongo import ASCENDING

from wushe.regions import under_filter


class OrgsStore:
    def __init__(self, db):
        self.organisations = db.organisations
        self.needs = db.needs  # one decision per need: matched | unmatched | incubating

    def ensure_indexes(self):
        self.organisations.create_index([("community", ASCENDING), ("stage", ASCENDING)])
        # at most one incubation under way per community and category
        self.organisations.create_index("incubation_key", unique=True, sparse=True)
        self.needs.create_index([("community", ASCENDING), ("category", ASCENDING),
                                 ("outcome", ASCENDING), ("registered_at", ASCENDING)])

    def outboxes(self):
        return [self.needs, self.organisations]

    def serving(self, community, category):
        return list(self.organisations.find({"community": community, "categories": category}))

    def unmatched_since(self, community, category, since):
        return list(self.needs.find({"community": community, "category": category,
                                     "outcome": "unmatched", "registered_at": {"$gte": since}},
                                    {"_id": 1}).sort("registered_at", 1))

    def counts(self, region):
        found = self.organisations.find({"community": under_filter(region)}, {"stage": 1})
        counts = {"active": 0, "incubating": 0}
        for org in found:
            counts[org["stage"]] = counts.get(org["stage"], 0) + 1
        return counts

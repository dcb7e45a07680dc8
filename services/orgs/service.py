"""The orgs service (社会组织): community organisations, matching, and incubation (孵化培育)."""
from nameko.rpc import rpc

from services.orgs import domain, schemas
from services.orgs.store import OrgsStore
from wushe.clock import later, new_id, now_iso
from wushe.config import RulesConfig
from wushe.errors import Conflict, loaded
from wushe.outbox import Outbox
from wushe.regions import under_filter
from wushe.store import Store, found, insert_new, page
from wushe.subscribe import DUPLICATE, on_event
from wushe.telemetry import Telemetry


class OrgsService:
    name = "orgs"

    store = Store(OrgsStore)
    outbox = Outbox(lambda store: store.outboxes())
    log = Telemetry()
    rules = RulesConfig()

    @rpc
    def add_organisation(self, payload):
        body = loaded(schemas.OrganisationIn(), payload)
        org = {"_id": body.pop("id", None) or new_id("org"), **body, "created_at": now_iso(), "incubation": None}
        if not insert_new(self.store.organisations, org):
            raise Conflict(f"organisation {org['_id']} exists")
        return self._out(org)

    @rpc
    def get_organisation(self, org_id):
        return self._out(found(self.store.organisations, org_id, "organisation"))

    @rpc
    def list_organisations(self, community=None, stage=None, limit=50, cursor=None):
        query = {}
        if community:
            query["community"] = under_filter(community)
        if stage:
            query["stage"] = stage
        docs, next_cursor = page(self.store.organisations, query, limit, cursor)
        return {"items": [self._out(d) for d in docs], "next_cursor": next_cursor}

    @rpc
    def stats(self, region):
        return {"organisations": self.store.counts(region)}

    @on_event("community", "need_registered")
    def on_need_registered(self, event):
        need = event.data
        if not need["requirements"]["organisation"]:
            return
        decided = self.store.needs.find_one({"_id": need["need_id"]})
        if decided:  # a redelivery: publish whatever is pending, finish what was begun
            self.outbox.flush(self.store.needs, decided)
            if decided["outcome"] == "unmatched":
                self._maybe_incubate(need)
            return DUPLICATE
        record = {"_id": need["need_id"], "community": need["community"], "category": need["category"],
                  "registered_at": need["registered_at"]}
        organisations = self.store.serving(need["community"], need["category"])
        match = domain.best_match(organisations, need["category"])
        incubating = next((o for o in organisations if o["stage"] == "incubating"), None)
        if match:
            self._decide({**record, "outcome": "matched", "organisation_id": match["_id"]},
                         domain.matched(need, match))
        elif incubating:
            self._decide({**record, "outcome": "incubating", "organisation_id": incubating["_id"]},
                         domain.unmatched(need, 0, incubating["_id"]))
        else:
            demand = len(self.store.unmatched_since(need["community"], need["category"], self._since(need)))
            if self._decide({**record, "outcome": "unmatched"}, domain.unmatched(need, demand + 1)):
                self._maybe_incubate(need)

    def _since(self, need):
        return later(need["registered_at"], days=-self.rules.incubation_window_days)

    def _maybe_incubate(self, need):
        # counted after this need's own write, so concurrent needs always see each other;
        # the unique incubation key lets only one of them start it
        demand = self.store.unmatched_since(need["community"], need["category"], self._since(need))
        if not domain.should_incubate(len(demand), self.rules.incubation_threshold):
            return
        need_ids = [d["_id"] for d in demand]
        org, event = domain.new_incubation(new_id("org"), need, need_ids, now_iso())
        if insert_new(self.store.organisations, {**org, "outbox": [event]}):
            self.store.needs.update_many({"_id": {"$in": need_ids}},
                                         {"$set": {"outcome": "incubating", "organisation_id": org["_id"]}})
            self.outbox.flush(self.store.organisations, {"_id": org["_id"], "outbox": [event]})
            self.log.info("org.incubation_started", organisation_id=org["_id"],
                          category=need["category"], demand=len(demand))

    def _decide(self, record, event):
        if not insert_new(self.store.needs, {**record, "outbox": [event]}):
            return False  # decided concurrently by a redelivery
        self.outbox.flush(self.store.needs, {"_id": record["_id"], "outbox": [event]})
        return True

    @staticmethod
    def _out(org):
        return schemas.OrganisationOut().dump({**org, "id": org["_id"]})

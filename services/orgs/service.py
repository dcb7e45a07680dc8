"""The orgs service (社会组织): community organisations, matching, and incubation (孵化培育)."""
import os

from nameko.timer import timer

from services.orgs import domain, schemas
from services.orgs.store import OrgsStore
from wushe import metrics
from wushe.clock import later, new_id, now_iso
from wushe.config import RulesConfig
from wushe.errors import Conflict, NotFound, loaded
from wushe.fields import instance
from wushe.outbox import Outbox
from wushe.rpc import rpc
from wushe.regions import under_filter
from wushe.store import Store, found, insert_new, page
from wushe.subscribe import DUPLICATE, on_event
from wushe.telemetry import Telemetry
from wushe.vocabulary import ORG_STAGES

# how often needs still attached to a graduated organisation are handed over (a crash between a
# graduation and its hand-over leaves them waiting); read at import: nameko timers are static
HANDOVER_CHECK_SECONDS = float(os.environ.get("WUSHE_HANDOVER_CHECK_SECONDS", "30"))
ATTEMPTS = 20  # conditional updates retried against concurrent changes


class OrgsService:
    name = "orgs"

    store = Store(OrgsStore)
    outbox = Outbox(lambda store: store.outboxes())
    log = Telemetry()
    rules = RulesConfig()

    # organisations ----------------------------------------------------------------------------
    @rpc
    def add_organisation(self, payload):
        body = loaded(schemas.OrganisationIn, payload)
        created_at = now_iso()
        capacity = body.pop("capacity", self.rules.default_project_capacity)
        org = {"_id": body.pop("id", None) or new_id("org"), **body, "created_at": created_at,
               "incubation": None, "projects": []}
        if org["stage"] == "active":
            org["projects"] = [domain.new_project(new_id("project"), domain.STANDING_PROJECT_TITLE,
                                                  capacity, created_at)]
        else:  # registered while still incubating: it works through the milestones
            org["incubation"] = domain.new_incubation_record(created_at, [], org["community"].rsplit("/", 1)[0])
        if not insert_new(self.store.organisations, org):
            raise Conflict(f"organisation {org['_id']} exists")
        return self._out(org)

    @rpc
    def get_organisation(self, org_id):
        return self._out(self._organisation(org_id))

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

    # incubation milestones ----------------------------------------------------------------------
    @rpc
    def record_milestone(self, org_id, payload):
        """founding_members → charter → training (sessions) → first_project, in that order; the
        last graduates the organisation, which then takes the needs waiting on it."""
        body = loaded(schemas.MilestoneIn, payload)
        for _ in range(ATTEMPTS):
            org = self._organisation(org_id)
            refused = domain.refusal(org, body["milestone"])
            if refused:
                raise Conflict(refused)
            step = domain.milestone_step(org, body, now_iso(), new_id("project"),
                                         training_sessions=self.rules.training_sessions,
                                         project_capacity=self.rules.default_project_capacity)
            updated = self.store.advance(org_id, step)
            if updated:
                break
            # changed meanwhile (a concurrent call): look again, refuse or recompute
        else:
            raise Conflict(f"organisation {org_id} is being changed concurrently; try again")
        self.outbox.flush(self.store.organisations, updated)
        if step["reached"]:
            self.log.info("org.milestone_reached", organisation_id=org_id, milestone=step["reached"])
        else:
            self.log.info("org.training_session_logged", organisation_id=org_id,
                          sessions=len(domain.sessions(updated)))
        if step["graduates"]:
            self.log.info("org.graduated", organisation_id=org_id, categories=updated["categories"])
            self._hand_over(updated)
        return self._out(self._organisation(org_id))

    # micro-projects (小微项目) --------------------------------------------------------------------
    @rpc
    def open_project(self, org_id, payload):
        body = loaded(schemas.ProjectIn, payload)
        org = self._organisation(org_id)
        if org["stage"] != "active":
            raise Conflict(f"organisation {org_id} is {org['stage']}: only an active organisation runs micro-projects")
        project = domain.new_project(new_id("project"), body["title"], body["capacity"], now_iso())
        updated = self.store.open_project(org_id, project)
        if not updated:
            raise Conflict(f"organisation {org_id} is no longer active")
        self.log.info("org.project_opened", organisation_id=org_id, project_id=project["id"],
                      capacity=project["capacity"])
        self._hand_over(updated)
        return self._out(self._organisation(org_id))

    @rpc
    def close_project(self, org_id, project_id):
        """A closed project takes no new needs; the needs it took keep their match."""
        org = self._organisation(org_id)
        index = domain.project_index(org, project_id)
        if index is None:
            raise NotFound(f"no project {project_id} in organisation {org_id}")
        if not self.store.close_project(org_id, index, project_id, now_iso()):
            raise Conflict(f"project {project_id} is already closed")
        self.log.info("org.project_closed", organisation_id=org_id, project_id=project_id)
        return self._out(self._organisation(org_id))

    @timer(interval=metrics.MEASURE_SECONDS)
    def measure(self):
        """Organisations by stage, for the operations dashboard."""
        metrics.set_counts(metrics.ORGANISATIONS, self.store.by_stage(ORG_STAGES), ORG_STAGES)

    @timer(interval=HANDOVER_CHECK_SECONDS)
    def hand_over_waiting(self):
        """Needs still attached to an organisation that has graduated are handed over."""
        graduated = list(self.store.organisations.find({"_id": {"$in": self.store.waiting_on()}, "stage": "active"}))
        for org in graduated:
            if domain.capacity_left(org):
                self._hand_over(org)

    # needs --------------------------------------------------------------------------------------
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
            elif decided["outcome"] == "incubating":
                self._hand_over_if_graduated(decided["organisation_id"])
            return DUPLICATE
        record = {"_id": need["need_id"], "community": need["community"], "category": need["category"],
                  "registered_at": need["registered_at"]}
        organisations = self.store.serving(need["community"], need["category"])
        slot = self._take_slot(need["need_id"], domain.candidates(organisations, need["category"]),
                               already=organisations)
        incubating = next((o for o in organisations if o["stage"] == "incubating"), None)
        if slot:
            org, index, project = slot
            matched = {**record, "outcome": "matched", "organisation_id": org["_id"], "project_id": project["id"]}
            if not self._decide(matched, domain.matched(need, org, project["id"])):
                self._release_unless_decided(need["need_id"], org["_id"], index, project["id"])
                return DUPLICATE
        elif incubating:
            if not self._decide({**record, "outcome": "incubating", "organisation_id": incubating["_id"]},
                                domain.unmatched(need, 0, incubating["_id"])):
                return DUPLICATE
            # it may have graduated since it was read: then it takes the need now
            self._hand_over_if_graduated(incubating["_id"])
        else:
            demand = len(self.store.unmatched_since(need["community"], need["category"], self._since(need)))
            if not self._decide({**record, "outcome": "unmatched"}, domain.unmatched(need, demand + 1)):
                return DUPLICATE
            self._maybe_incubate(need)

    @on_event("community", "need_cancelled")
    def on_need_cancelled(self, event):
        """A cancelled need gives its micro-project slot back, is never handed over, and no
        longer counts as demand. If it has not been decided yet, the tombstone means it never is."""
        need_id = event.data["need_id"]
        if insert_new(self.store.needs, {"_id": need_id, "community": event.data["community"],
                                         "outcome": "cancelled", "outbox": []}):
            return None  # cancelled before it was decided: a tombstone
        before = self.store.needs.find_one_and_update({"_id": need_id, "outcome": {"$ne": "cancelled"}},
                                                      {"$set": {"outcome": "cancelled"}})
        if not before:
            return DUPLICATE
        if before.get("outcome") == "matched" and before.get("project_id"):
            org = self.store.organisations.find_one({"_id": before["organisation_id"]})
            index = domain.project_index(org, before["project_id"]) if org else None
            if index is not None:
                self.store.release_slot(org["_id"], index, before["project_id"], need_id)

    # ----------------------------------------------------------------------------------------
    def _take_slot(self, need_id, organisations, already=()):
        """Take a slot for a need in the first organisation with room: (organisation, index,
        project), or None when every one is full. A slot the need already holds (a redelivery
        after a crash, or a concurrent one) is returned instead of taking another."""
        held = domain.holding(list(already) or organisations, need_id)
        if held:
            return held
        for org in organisations:
            for _ in range(ATTEMPTS):
                for index, project in domain.projects_with_room(org):
                    taken = self.store.take_slot(org["_id"], index, project, need_id)
                    if taken:
                        return taken, index, taken["projects"][index]
                # filled meanwhile, or taken by a concurrent redelivery of the same need: look again
                org = self.store.organisations.find_one({"_id": org["_id"]})
                held = domain.holding([org], need_id) if org else None
                if held:
                    return held
                if not org or org["stage"] != "active" or not domain.capacity_left(org):
                    break
        return None

    def _release_unless_decided(self, need_id, org_id, index, project_id):
        """A concurrent redelivery decided first; give back our slot unless it is the one decided."""
        decided = self.store.needs.find_one({"_id": need_id}) or {}
        if (decided.get("organisation_id"), decided.get("project_id")) != (org_id, project_id):
            self.store.release_slot(org_id, index, project_id, need_id)

    def _hand_over_if_graduated(self, org_id):
        org = self.store.organisations.find_one({"_id": org_id})
        if org and org["stage"] == "active":
            self._hand_over(org)

    def _hand_over(self, org):
        """The needs waiting on an organisation (oldest first) take its free slots; each becomes
        matched with its `org_matched` by a conditional update, so a retried or concurrent
        hand-over announces it once. Needs beyond its capacity stay attached until a project opens."""
        handed = 0
        for waiting in self.store.waiting(org):
            slot = self._take_slot(waiting["_id"], [org])
            if not slot:
                break  # full: the rest keep waiting
            org, _, project = slot
            need = {"need_id": waiting["_id"], "community": waiting["community"], "category": waiting["category"]}
            updated = self.store.hand_over(waiting, org["_id"], project["id"],
                                           domain.matched(need, org, project["id"]))
            if updated:
                self.outbox.flush(self.store.needs, updated)
                handed += 1
        if handed:
            self.log.info("org.needs_handed_over", organisation_id=org["_id"], count=handed)
        return handed

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

    def _organisation(self, org_id):
        return found(self.store.organisations, org_id, "organisation")

    def _out(self, org):
        projects = [{**p, "room": domain.room(p)} for p in org.get("projects") or []]
        return instance(schemas.OrganisationOut).dump({
            **org, "id": org["_id"], "projects": projects, "capacity": domain.capacity_left(org),
            "incubation": domain.incubation_summary(org, self.rules.training_sessions)})

"""The community service (社区): regions and residents' needs, and the need's lifecycle."""
import hashlib


from services.community import domain, schemas
from services.community.store import CommunityStore
from wushe import metrics
from wushe.clock import new_id, now_iso
from wushe.errors import Conflict, InvalidInput, NotFound, loaded
from wushe.outbox import Outbox
from wushe.rpc import rpc
from wushe.store import Store, found
from wushe.subscribe import DUPLICATE, on_event
from wushe.telemetry import Telemetry

OUTCOMES = {
    "orgs": ["org_matched", "org_unmatched", "org_incubation_started"],
    "workers": ["worker_assigned", "worker_unavailable", "case_closed", "case_stage_changed"],
    "volunteers": ["call_opened", "call_claimed", "call_filled", "call_expired", "call_reopened", "call_cancelled",
                   "claim_withdrawn", "waitlist_promoted"],
    "charity": ["resource_pledged", "resource_shortfall", "pledge_released", "pledge_delivered"],
}
CAS_ATTEMPTS = 50


class CommunityService:
    name = "community"

    store = Store(CommunityStore)
    outbox = Outbox(lambda store: store.outboxes())
    log = Telemetry()

    # regions --------------------------------------------------------------------------------
    @rpc
    def add_region(self, payload):
        region = loaded(schemas.RegionIn(), payload)
        path = region["path"]
        parent = path.rsplit("/", 1)[0] if "/" in path else None
        if parent and not self.store.region(parent):
            raise InvalidInput("the parent region is not registered", {"path": [f"register {parent} first"]})
        doc = {"_id": path, "path": path, "name": region["name"], "level": region["level"], "parent": parent}
        if not self.store.add_region(doc):
            existing = self.store.region(path)
            if existing["name"] != doc["name"]:
                raise Conflict(f"region {path} exists with another name")
        return self._region_out(self.store.region(path))

    @rpc
    def list_regions(self, parent=None):
        return [self._region_out(r) for r in self.store.regions.find({"parent": parent}).sort("_id", 1)]

    @rpc
    def get_region(self, path):
        return self._region_out(found(self.store.regions, path, "region"))

    # needs ----------------------------------------------------------------------------------
    @rpc
    def register_need(self, payload, channel="gateway"):
        need = loaded(schemas.NeedIn(), payload)
        return self._register(need, channel)[0]

    @on_event("station", "need_reported")
    def on_need_reported(self, event):
        # The body was validated against the catalog on arrival; the region is checked here.
        try:
            # without an id of its own, the need's id derives from the event's, so that a
            # redelivered report registers nothing new
            need_id = event.data.get("id") or "need-" + hashlib.sha1(event.id.encode()).hexdigest()[:16]
            created = self._register(event.data, "station", need_id=need_id)[1]
        except (InvalidInput, Conflict) as exc:
            self.log.error("need_reported.rejected", detail=exc.detail, errors=exc.errors)
            raise
        return None if created else DUPLICATE

    @rpc
    def get_need(self, need_id):
        need = self.store.need(need_id)
        if not need:
            raise NotFound(f"no need {need_id}")
        return need

    @rpc
    def cancel_need(self, need_id, payload):
        body = loaded(schemas.CancelIn(), payload)
        return self._transition(need_id, "cancelled", reason=body["reason"])

    @rpc
    def resolve_need(self, need_id, payload):
        body = loaded(schemas.ResolveIn(), payload)
        return self._transition(need_id, "resolved", note=body["note"])

    @rpc
    def evaluate_need(self, need_id, payload):
        body = loaded(schemas.EvaluateIn(), payload)
        return self._transition(need_id, "evaluated", score=body["score"], outcome=body["outcome"])

    @on_event(list(OUTCOMES), sorted({t for types in OUTCOMES.values() for t in types}),
              queue_name="evt-parties--community.on_outcome")
    def on_outcome(self, event):
        """Fold a party's outcome into the need's linkage; announce linked / escalated."""
        need_ids = event.data["need_ids"] if event.type == "org_incubation_started" else [event.need_id]
        folded = [self._fold(need_id, event) for need_id in need_ids]
        return DUPLICATE if folded and all(f == DUPLICATE for f in folded) else None

    # ----------------------------------------------------------------------------------------
    def _register(self, payload, channel, need_id=None):
        region = self.store.region(payload["community"])
        if not region or region["level"] != "community":
            raise InvalidInput("the community is not registered",
                               {"community": [f"{payload['community']} is not a registered community"]})
        need_id = need_id or payload.get("id") or new_id("need")
        need, events = domain.new_need(need_id, payload, now_iso(), channel)
        if not self.store.add_need(need, events, resident=payload.get("resident")):
            existing = self.store.need(need_id)
            if not domain.same_request(existing, payload):
                raise Conflict(f"need {need_id} exists with other content")
            return {"id": need_id, "status": existing["status"]}, False
        self.outbox.flush(self.store.needs, {"_id": need_id, "outbox": events})
        metrics.NEEDS.labels("registered", need["category"], need["urgency"]).inc()
        self.log.info("need.registered", need_id=need_id, category=need["category"],
                      urgency=need["urgency"], channel=channel)
        return {"id": need_id, "status": "registered"}, True

    def _fold(self, need_id, event):
        for _ in range(CAS_ATTEMPTS):
            need = self.store.need_for_update(need_id)
            if need is None:
                self.log.warning("outcome.unknown_need", need_id=need_id)
                return
            if event.id in need["applied"]:
                return DUPLICATE  # a redelivery: already folded
            changes, events = domain.fold(need, event)
            updated = self.store.compare_and_set(need, changes, events, applied=event.id)
            if updated:
                self.outbox.flush(self.store.needs, updated)
                if "status" in changes:
                    metrics.NEEDS.labels(changes["status"], need["category"], need["urgency"]).inc()
                    self.log.info("need.status", need_id=need_id, status=changes["status"])
                return
        raise RuntimeError(f"need {need_id}: gave up after {CAS_ATTEMPTS} concurrent updates")

    def _transition(self, need_id, to, **data):
        for _ in range(CAS_ATTEMPTS):
            need = self.store.need_for_update(need_id)
            if not need:
                raise NotFound(f"no need {need_id}")
            try:
                changes, event = domain.transition(need, to, now_iso(), **data)
            except domain.TransitionRefused as exc:
                raise Conflict(str(exc)) from None
            updated = self.store.compare_and_set(need, changes, [event])
            if updated:
                self.outbox.flush(self.store.needs, updated)
                metrics.NEEDS.labels(to, need["category"], need["urgency"]).inc()
                self.log.info("need.status", need_id=need_id, status=to)
                return {"id": need_id, "status": to}
        raise RuntimeError(f"need {need_id}: gave up after {CAS_ATTEMPTS} concurrent updates")

    @staticmethod
    def _region_out(region):
        return schemas.RegionOut().dump({**region, "id": region["_id"]})

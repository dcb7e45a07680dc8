"""The community service (社区): regions and residents' needs, and the need's lifecycle."""
import hashlib

import structlog
from nameko.extensions import DependencyProvider

from services.community import domain, residents, schemas
from services.community.store import CommunityStore
from wushe import metrics
from wushe.clock import new_id, now_iso, parse
from wushe.config import settings
from wushe.errors import Conflict, InvalidInput, NotFound, loaded
from wushe.fields import instance
from wushe.outbox import Outbox
from wushe.rpc import rpc
from wushe.store import Store, found, is_embedded
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
log = structlog.get_logger("wushe.community")


class PersonalDataKeys(DependencyProvider):
    """The keyring residents' personal data is sealed with, from WUSHE_PII_KEY. Unset on the
    embedded store, a key is generated (that store is gone at a restart anyway); unset on a
    durable store, the service does not start: data sealed under a key that dies with the
    process would be unreadable after a restart."""

    def setup(self):
        cfg = settings(self.container)
        keys = cfg["PII_KEY"]
        if not keys:
            if not is_embedded(cfg["MONGO_URI"]):
                raise RuntimeError("WUSHE_PII_KEY is unset: set it to keep residents' personal data "
                                   "readable across restarts (README, \"Personal data\")")
            keys = residents.generate_key()
            log.warning("community.pii_key_generated",
                        detail="WUSHE_PII_KEY is unset: residents' personal data is encrypted with a key "
                               "made for this process and cannot be read after a restart")
        self.keyring = residents.Keyring.parse(keys)

    def get_dependency(self, worker_ctx):
        return self.keyring


class CommunityService:
    name = "community"

    store = Store(CommunityStore)
    outbox = Outbox(lambda store: store.outboxes())
    keyring = PersonalDataKeys()
    log = Telemetry()

    # regions --------------------------------------------------------------------------------
    @rpc
    def add_region(self, payload):
        region = loaded(schemas.RegionIn, payload)
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
        need = loaded(schemas.NeedIn, payload)
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
        body = loaded(schemas.CancelIn, payload)
        return self._transition(need_id, "cancelled", reason=body["reason"])

    @rpc
    def resolve_need(self, need_id, payload):
        body = loaded(schemas.ResolveIn, payload)
        return self._transition(need_id, "resolved", note=body["note"])

    @rpc
    def evaluate_need(self, need_id, payload):
        body = loaded(schemas.EvaluateIn, payload)
        return self._transition(need_id, "evaluated", score=body["score"], outcome=body["outcome"])

    # residents (personal data) -----------------------------------------------------------------
    @rpc
    def resident_of(self, need_id, reveal=False):
        """The need's resident: `id`, `name`, `phone`, `address` (those given; masked unless
        `reveal`) and `masked`; None when the need has none or it was erased."""
        need = self.store.need(need_id)
        if not need:
            raise NotFound(f"no need {need_id}")
        record = self.store.resident(need["resident_id"]) if need.get("resident_id") else None
        if record is None or record.get("erased_at"):
            return None
        try:
            return residents.shown(record, self.keyring, reveal)
        except residents.Unreadable as exc:
            self.log.error("resident.unreadable", resident_id=record["_id"], field=exc.field, key_id=exc.key_id)
            return {"id": record["_id"], "masked": True, "unreadable": True}

    @rpc
    def get_resident(self, resident_id):
        """A resident record's facts without its personal data: its need, community, erasure."""
        record = found(self.store.residents, resident_id, "resident")
        return {"id": record["_id"], **{k: record.get(k) for k in ("need_id", "community", "erased_at")}}

    @rpc
    def erase_resident(self, resident_id):
        """Erase a resident's personal data (PIPL's right to deletion); the need, its linkage and
        every figure stay. Erasing again answers the same and announces nothing new."""
        record = self.store.erase_resident(resident_id, now_iso())
        if record is None:
            raise NotFound(f"no resident {resident_id}")
        need = self.store.mark_resident_erased(record["need_id"], resident_id, record["erased_at"],
                                               domain.resident_erased(record))
        if need:
            self.outbox.flush(self.store.needs, need)
            self.log.info("resident.erased", resident_id=resident_id, need_id=record["need_id"])
        return {"id": resident_id, "need_id": record["need_id"], "erased_at": record["erased_at"]}

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
        at = now_iso()
        resident = payload.get("resident") or None
        resident_id = residents.resident_id_for(need_id) if resident else None
        need, events = domain.new_need(need_id, payload, at, channel, resident_id)
        # the need first: a resident record is never stored for a request that is refused
        if not self.store.add_need(need, events):
            existing = self.store.need(need_id)
            if not domain.same_request(existing, payload):
                raise Conflict(f"need {need_id} exists with other content")
            if resident_id and existing.get("resident_id") == resident_id:
                # a retry of a registration cut short before its resident was stored (once
                # stored, or erased since, this writes nothing)
                self._add_resident(resident_id, existing, resident)
            return {"id": need_id, "status": existing["status"]}, False
        if resident_id:
            self._add_resident(resident_id, need, resident)
        self.outbox.flush(self.store.needs, {"_id": need_id, "outbox": events})
        metrics.NEEDS.labels("registered", need["category"], need["urgency"], need["district"]).inc()
        self.log.info("need.registered", need_id=need_id, category=need["category"],
                      urgency=need["urgency"], channel=channel)
        return {"id": need_id, "status": "registered"}, True

    def _add_resident(self, resident_id, need, resident):
        self.store.add_resident(residents.sealed_record(
            resident_id, need["_id"], need["community"], resident, self.keyring, need["registered_at"]))

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
                    metrics.NEEDS.labels(changes["status"], need["category"], need["urgency"], need["district"]).inc()
                    if changes["status"] == "linked" and not need.get("linked_at"):  # the first linkage only
                        metrics.NEED_LINKAGE_SECONDS.labels(need["category"], need["urgency"]).observe(
                            (parse(changes["linked_at"]) - parse(need["registered_at"])).total_seconds())
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
                metrics.NEEDS.labels(to, need["category"], need["urgency"], need["district"]).inc()
                self.log.info("need.status", need_id=need_id, status=to)
                return {"id": need_id, "status": to}
        raise RuntimeError(f"need {need_id}: gave up after {CAS_ATTEMPTS} concurrent updates")

    @staticmethod
    def _region_out(region):
        return instance(schemas.RegionOut).dump({**region, "id": region["_id"]})

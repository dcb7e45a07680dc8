"""The community service (社区): regions and residents' needs, and the need's lifecycle — nameko's
wiring of the use cases in `handlers`."""
import structlog

from services.community import handlers, metrics, schemas
from services.community.store import CommunityStore
from wushe.runtime.errors import loaded
from wushe.runtime.metrics import KnownSeries
from wushe.contract.fields import instance
from wushe.contract.linkage import folded_by_source
from wushe.runtime.outbox import Outbox
from wushe.runtime.rpc import rpc
from wushe.runtime.personal_data import PersonalDataKeys
from wushe.runtime.store import Store
from wushe.runtime.subscribe import on_event
from wushe.runtime.broker_watch import BrokerWatch
from wushe.runtime.telemetry import Telemetry

FOLDED = folded_by_source()  # the parties' events that move a linkage
log = structlog.get_logger("wushe.community")


class CommunityService:
    """Entrypoints only: each loads its input and hands it to a use case (`handlers`)."""
    name = "community"

    store = Store(CommunityStore)
    outbox = Outbox(lambda store: store.outboxes())
    keyring = PersonalDataKeys()
    log = Telemetry()
    broker = BrokerWatch()  # wushe_broker_connected: the connection itself, every second
    figures = KnownSeries(metrics.zero_known)  # wushe_needs_total at zero for the districts registered

    @property
    def community(self):
        return handlers.Community(self.store, self.outbox, self.log, self.keyring)

    # regions --------------------------------------------------------------------------------
    @rpc
    def add_region(self, payload):
        return _region_out(handlers.add_region(self.community, loaded(schemas.RegionIn, payload)))

    @rpc
    def list_regions(self, parent=None):
        return [_region_out(r) for r in self.store.regions_under(parent)]

    @rpc
    def get_region(self, path):
        return _region_out(handlers.region(self.community, path))

    # needs ----------------------------------------------------------------------------------
    @rpc
    def register_need(self, payload, channel="gateway"):
        return handlers.register_need(self.community, loaded(schemas.NeedIn, payload), channel)[0]

    @on_event("station", "need_reported", answers_invalid=True)
    def on_need_reported(self, event):
        # the body was validated against the catalog on arrival (one that was not comes as
        # events.Unread, to be answered); the region is checked here
        return handlers.report_need(self.community, event)

    @rpc
    def get_need(self, need_id):
        return handlers.need(self.community, need_id)

    @rpc
    def cancel_need(self, need_id, payload, within=""):
        """`within` here and below: the asking key's region (the gateway's; "" — everywhere)."""
        body = loaded(schemas.CancelIn, payload)
        return handlers.transition(self.community, need_id, "cancelled", within, reason=body["reason"])

    @rpc
    def resolve_need(self, need_id, payload, within=""):
        body = loaded(schemas.ResolveIn, payload)
        return handlers.transition(self.community, need_id, "resolved", within, note=body["note"])

    @rpc
    def evaluate_need(self, need_id, payload, within=""):
        body = loaded(schemas.EvaluateIn, payload)
        return handlers.transition(self.community, need_id, "evaluated", within, score=body["score"],
                                   outcome=body["outcome"])

    @on_event(list(FOLDED), sorted({t for types in FOLDED.values() for t in types}),
              queue_name="evt-parties--community.on_outcome")
    def on_outcome(self, event):
        """Fold a party's outcome into the need's linkage; announce linked / escalated."""
        return handlers.fold_outcome(self.community, event)

    # residents (personal data) -----------------------------------------------------------------
    @rpc
    def resident_of(self, need_id, reveal=False):
        """The need's resident: `id`, `name`, `phone`, `address` (those given; masked unless
        `reveal`) and `masked`; None when the need has none or it was erased."""
        return handlers.resident_of(self.community, need_id, reveal)

    @rpc
    def resident_forms(self, need_id):
        """The need's resident as a read model keeps it: sealed, and masked. For gateways of
        before `resident_sealed` (a rolling update); today's never ask."""
        return handlers.resident_forms(self.community, need_id)

    @rpc
    def get_resident(self, resident_id):
        return handlers.resident(self.community, resident_id)

    @rpc
    def erase_resident(self, resident_id):
        return handlers.erase_resident(self.community, resident_id)

    @rpc
    def masked_reports(self, bodies):
        """Dead letters' bodies with any resident masked, for the gateway's operators' view."""
        return handlers.masked_reports(bodies)


def _region_out(region):
    return instance(schemas.RegionOut).dump({**region, "id": region["_id"]})

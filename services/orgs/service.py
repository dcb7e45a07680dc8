"""The orgs service (社会组织): community organisations, matching, and incubation (孵化培育) —
nameko's wiring of the use cases in `handlers`."""
from services.orgs import domain, handlers, schemas
from services.orgs.store import OrgsStore
from wushe.runtime.config import RulesConfig
from wushe.runtime.errors import loaded
from wushe.contract.fields import instance
from wushe.runtime.outbox import Outbox
from wushe.runtime.rpc import rpc
from wushe.runtime.store import Store
from wushe.runtime.subscribe import on_event
from wushe.runtime.broker_watch import BrokerWatch
from wushe.runtime.telemetry import Telemetry
from wushe.runtime.timer import every


class OrgsService:
    """Entrypoints only: each loads its input and hands it to a use case (`handlers`)."""
    name = "orgs"

    store = Store(OrgsStore)
    outbox = Outbox(lambda store: store.outboxes())
    log = Telemetry()
    broker = BrokerWatch()  # wushe_broker_connected: the connection itself, every second
    rules = RulesConfig(domain.Rules)

    @property
    def organisations(self):
        return handlers.Organisations(self.store, self.outbox, self.log, self.rules)

    # organisations ----------------------------------------------------------------------------
    @rpc
    def add_organisation(self, payload):
        return _out(handlers.add_organisation(self.organisations, loaded(schemas.OrganisationIn, payload)))

    @rpc
    def get_organisation(self, org_id):
        return _out(handlers.get_organisation(self.organisations, org_id))

    @rpc
    def list_organisations(self, community=None, stage=None, limit=50, cursor=None):
        found = handlers.list_organisations(self.organisations, community, stage, limit, cursor)
        return {"items": [_out(org) for org in found["items"]], "next_cursor": found["next_cursor"]}

    @rpc
    def stats(self, region):
        return handlers.stats(self.organisations, region)

    # incubation milestones ----------------------------------------------------------------------
    @rpc
    def record_milestone(self, org_id, payload, within=""):
        """founding_members → charter → training (sessions) → first_project, in that order; the
        last graduates the organisation, which then takes the needs waiting on it. `within` here
        and below: the asking key's region (the gateway's; "" — everywhere)."""
        return _out(handlers.record_milestone(self.organisations, org_id, loaded(schemas.MilestoneIn, payload),
                                              within))

    # micro-projects (小微项目) --------------------------------------------------------------------
    @rpc
    def open_project(self, org_id, payload, within=""):
        return _out(handlers.open_project(self.organisations, org_id, loaded(schemas.ProjectIn, payload), within))

    @rpc
    def close_project(self, org_id, project_id, within=""):
        """A closed project takes no new needs; the needs it took keep their match."""
        return _out(handlers.close_project(self.organisations, org_id, project_id, within))

    @every("MEASURE_SECONDS")
    def measure(self):
        handlers.measure(self.organisations)

    @every("HANDOVER_CHECK_SECONDS")
    def hand_over_waiting(self):
        """Needs still attached to an organisation that has graduated are handed over."""
        handlers.hand_over_waiting(self.organisations)

    # needs --------------------------------------------------------------------------------------
    @on_event("community", "need_registered")
    def on_need_registered(self, event):
        return handlers.need_registered(self.organisations, event)

    @on_event("community", "need_cancelled")
    def on_need_cancelled(self, event):
        """A cancelled need gives its micro-project slot back, is never handed over, and no
        longer counts as demand."""
        return handlers.need_cancelled(self.organisations, event)


def _out(organisation):
    """An organisation's view (`handlers.view`) through the output schema."""
    return instance(schemas.OrganisationOut).dump(organisation)

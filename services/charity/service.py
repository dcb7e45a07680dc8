"""The charity service (慈善资源): donors, donations as lots, pledges against needs, delivery;
community funds (社区基金) and their ledger; appeals (needs left short) filled by later lots —
nameko's wiring of the use cases in `handlers`."""
from services.charity import handlers, schemas
from services.charity.store import CharityStore
from wushe.runtime.config import SettingsConfig
from wushe.runtime.errors import loaded
from wushe.contract.fields import instance
from wushe.runtime.outbox import Outbox
from wushe.runtime.rpc import rpc
from wushe.runtime.store import Store
from wushe.runtime.subscribe import on_event
from wushe.runtime.broker_watch import BrokerWatch
from wushe.runtime.telemetry import Telemetry
from wushe.runtime.timer import every


class CharityService:
    """Entrypoints only: each loads its input and hands it to a use case (`handlers`)."""
    name = "charity"

    store = Store(CharityStore)
    outbox = Outbox(lambda store: store.outboxes())
    log = Telemetry()
    broker = BrokerWatch()  # wushe_broker_connected: the connection itself, every second
    settings = SettingsConfig()

    @property
    def charity(self):
        return handlers.Charity(self.store, self.outbox, self.log, self.settings["TOP_UP_LEASE_SECONDS"])

    # donors and community funds -----------------------------------------------------------------
    @rpc
    def add_donor(self, payload):
        return _donor_out(handlers.add_donor(self.charity, loaded(schemas.DonorIn, payload)))

    @rpc
    def get_donor(self, donor_id):
        return _donor_out(handlers.donor(self.charity, donor_id))

    @rpc
    def contribute(self, fund_id, payload, within=""):
        """Money paid into a community fund: a funds lot of the fund, pledged like any lot.
        `within` here and below: the asking key's region (the gateway's; "" — everywhere)."""
        return instance(schemas.ContributionOut).dump(
            handlers.contribute(self.charity, fund_id, loaded(schemas.ContributionIn, payload), within))

    @rpc
    def fund_ledger(self, fund_id, limit=50, cursor=None, within=""):
        return handlers.fund_ledger(self.charity, fund_id, limit, cursor, within)

    # donations, lots, pledges -----------------------------------------------------------------
    @rpc
    def donate(self, payload):
        donation, lots = handlers.donate(self.charity, loaded(schemas.DonationIn, payload))
        return {"id": donation["_id"], "lots": [_lot_out(lot) for lot in lots]}

    @rpc
    def receipts(self, donor_id, limit=50, cursor=None, within=""):
        """Where a donor's donations (and contributions to funds) went, pledge by pledge."""
        return handlers.receipts(self.charity, donor_id, limit, cursor, within)

    @rpc
    def list_lots(self, item=None, region=None, limit=50, cursor=None):
        lots, next_cursor = handlers.lots(self.charity, item, region, limit, cursor)
        return {"items": [_lot_out(lot) for lot in lots], "next_cursor": next_cursor}

    @rpc
    def get_lot(self, lot_id):
        return _lot_out(handlers.lot(self.charity, lot_id))

    @rpc
    def get_pledge(self, pledge_id):
        """A pledge with the need (and its community) it serves."""
        return handlers.pledge(self.charity, pledge_id)

    @rpc
    def deliver_pledge(self, pledge_id, payload=None, within=""):
        """Deliver a pledge in whole (no quantity: all that is left) or in part."""
        body = loaded(schemas.DeliveryIn, payload or {})
        return handlers.deliver_pledge(self.charity, pledge_id, body.get("quantity"), within)

    @rpc
    def stats(self, region):
        return handlers.stats(self.charity, region)

    # needs and appeals ------------------------------------------------------------------------
    @rpc
    def list_appeals(self, region=None, limit=50, cursor=None):
        """Open appeals (needs whose resources are short), most urgent first, then oldest."""
        return handlers.appeals(self.charity, region, limit, cursor)

    @on_event("community", "need_registered")
    def on_need_registered(self, event):
        return handlers.need_registered(self.charity, event)

    @on_event("community", "need_cancelled")
    def on_need_cancelled(self, event):
        return handlers.need_cancelled(self.charity, event)

    @on_event("charity", "donation_received")
    def on_donation_received(self, event):
        return handlers.donation_received(self.charity, event)

    @every("APPEAL_CHECK_SECONDS")
    def settle(self):
        """Repair what a crash left: ledger entries not posted, appeals not filled while matching
        lots sit available (a top-up round whose holder went silent is taken over)."""
        handlers.settle(self.charity)


def _donor_out(donor):
    return instance(schemas.DonorOut).dump({**donor, "id": donor["_id"]})


def _lot_out(lot):
    return instance(schemas.LotOut).dump({**lot, "id": lot["_id"]})

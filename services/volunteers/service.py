"""The volunteers service (志愿者): volunteers, calls and claims (抢单), the time bank (时间银行) —
nameko's wiring of the use cases in `handlers` (volunteers, teams, the time bank) and `calls`."""
from services.volunteers import calls, domain, handlers, schemas
from services.volunteers.store import VolunteersStore
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



class VolunteersService:
    """Entrypoints only: each loads its input and hands it to a use case."""
    name = "volunteers"

    store = Store(VolunteersStore)
    outbox = Outbox(lambda store: store.outboxes())
    log = Telemetry()
    broker = BrokerWatch()  # wushe_broker_connected: the connection itself, every second
    rules = RulesConfig(domain.Rules)
    _districts_measured = set()  # shared by the workers: a district whose calls all closed reads 0

    @property
    def volunteers(self):
        return handlers.Volunteers(self.store, self.outbox, self.log, self.rules,
                                   districts_measured=self._districts_measured)

    # volunteers and teams -------------------------------------------------------------------------
    @rpc
    def add_volunteer(self, payload):
        return _volunteer_out(handlers.add_volunteer(self.volunteers, loaded(schemas.VolunteerIn, payload)))

    @rpc
    def get_volunteer(self, volunteer_id):
        return _volunteer_out(handlers.volunteer(self.volunteers, volunteer_id))

    @rpc
    def add_team(self, payload):
        return _team_out(handlers.add_team(self.volunteers, loaded(schemas.TeamIn, payload)))

    @rpc
    def get_team(self, team_id):
        return _team_out(handlers.team(self.volunteers, team_id))

    @rpc
    def join_team(self, team_id, payload, within=""):
        body = loaded(schemas.MembershipIn, payload)
        return _team_out(handlers.join_team(self.volunteers, team_id, body["volunteer_id"], within))

    # calls ----------------------------------------------------------------------------------------
    @rpc
    def get_call(self, call_id):
        return _call_out(calls.call(self.volunteers, call_id))

    @rpc
    def list_calls(self, state=None, community=None, team=None, limit=50, cursor=None):
        docs, next_cursor = calls.calls(self.volunteers, state, community, team, limit, cursor)
        return {"items": [_call_out(d) for d in docs], "next_cursor": next_cursor}

    @on_event("community", "need_registered")
    def on_need_registered(self, event):
        return calls.open_call(self.volunteers, event)

    @on_event("community", "need_cancelled")
    def on_need_cancelled(self, event):
        return calls.cancel_call(self.volunteers, event)

    @rpc
    def claim(self, call_id, payload, within=""):
        """Take a slot (抢单), or join the waiting list of a full call with `wait`. `within` here
        and below: the region of the key that asks (the gateway's; "" — everywhere), outside
        which a record answers as one that does not exist."""
        body = loaded(schemas.ClaimIn, payload)
        return calls.claim(self.volunteers, call_id, body["volunteer_id"], wait=body["wait"], within=within)

    @rpc
    def withdraw(self, call_id, volunteer_id, within=""):
        """Give a claim back before the service starts; the first volunteer waiting takes it."""
        answer, call = calls.withdraw(self.volunteers, call_id, volunteer_id, within)
        return {**answer, "call": _call_out(call)}

    @rpc
    def offer(self, call_id, payload, within=""):
        """Offer an open call to a team first (e.g. 助困陪诊 for an escort to hospital)."""
        body = loaded(schemas.OfferIn, payload)
        return _call_out(calls.offer(self.volunteers, call_id, body["team_id"], body.get("hours"), within))

    @rpc
    def reopen(self, call_id, payload, within=""):
        """A station opens an expired call again, with a new deadline (the need links if it fills)."""
        body = loaded(schemas.ReopenIn, payload)
        return _call_out(calls.reopen(self.volunteers, call_id, body["expires_at"], within))

    # attendance -----------------------------------------------------------------------------------
    @rpc
    def check_in(self, call_id, payload, within=""):
        body = loaded(schemas.AttendanceIn, payload)
        return calls.check_in(self.volunteers, call_id, body["volunteer_id"], within)

    @rpc
    def check_out(self, call_id, payload, within=""):
        """Check out: the attended time, to the quarter hour, is credited to the time bank once."""
        body = loaded(schemas.AttendanceIn, payload)
        return calls.check_out(self.volunteers, call_id, body["volunteer_id"], within)

    @rpc
    def complete(self, call_id, payload, within=""):
        """A coordinator records a service done (when nobody checked in and out on the call)."""
        body = loaded(schemas.CompletionIn, payload)
        return calls.complete(self.volunteers, call_id, body["volunteer_id"], body["hours"], within)

    @every("CALL_EXPIRY_CHECK_SECONDS")
    def settle_calls(self):
        """Deadlines and no-shows: calls open at their deadline expire; claimants not checked in
        once a service is under way are recorded as no-shows."""
        calls.settle_calls(self.volunteers)

    @every("CALL_EXPIRY_CHECK_SECONDS")
    def settle_bookings(self):
        """Free the windows no claim holds any more."""
        calls.settle_bookings(self.volunteers)

    @rpc
    def stats(self, region):
        return calls.stats(self.volunteers, region)

    # the time bank (时间银行) ---------------------------------------------------------------------
    @rpc
    def redeem(self, volunteer_id, payload, within=""):
        return handlers.redeem(self.volunteers, volunteer_id, loaded(schemas.RedemptionIn, payload), within)

    @rpc
    def transfer(self, volunteer_id, payload, within=""):
        return handlers.transfer(self.volunteers, volunteer_id, loaded(schemas.TransferIn, payload), within)

    @rpc
    def ledger(self, volunteer_id, limit=50, within=""):
        return handlers.ledger(self.volunteers, volunteer_id, limit, within)

    @every("CALL_EXPIRY_CHECK_SECONDS")
    def settle_ledger(self):
        """Finish the time-bank movements a crash left pending (recorded, paid, cleared)."""
        handlers.settle_ledger(self.volunteers)


def _call_out(call):
    return instance(schemas.CallOut).dump({**call, "id": call["_id"]})


def _volunteer_out(volunteer):
    return instance(schemas.VolunteerOut).dump({**volunteer, "id": volunteer["_id"]})


def _team_out(team):
    return instance(schemas.TeamOut).dump({**team, "id": team["_id"]})

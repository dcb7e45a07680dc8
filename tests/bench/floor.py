"""The floor: the framework's own cost of the linkage, measured beside ours in the same run.

The same six services, passing the same events per need over the same broker, with stock
nameko (`event_handler`, `EventDispatcher`, `rpc`, `http`) and handlers that do nothing but pass
the flow on: no validation, no store, no outbox, no logging. Per need with every part required:
`need_registered`; `org_matched`, `worker_assigned`, `call_opened`, `resource_pledged`; one
`call_claimed` per slot and `call_filled`; `need_linked` — each also delivered to the gateway, as
ours projects every event. Names carry the `floor_` prefix so that the floor's exchanges and
queues never meet the platform's.

Run one service: `python -m tests.bench.floor community` (AMQP_URI, FLOOR_HTTP_PORT).
"""
import warnings

warnings.filterwarnings("ignore", message="\nEventlet is deprecated")
import eventlet  # noqa: E402

eventlet.monkey_patch()

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402
from datetime import datetime, timezone  # noqa: E402

from nameko.events import EventDispatcher, event_handler  # noqa: E402
from nameko.rpc import RpcProxy, rpc  # noqa: E402
from nameko.web.handlers import http  # noqa: E402

PREFIX = "floor_"
OUTCOMES = {"org_matched": "orgs", "worker_assigned": "workers", "call_opened": "volunteers",
            "call_claimed": "volunteers", "call_filled": "volunteers", "resource_pledged": "charity"}
PART_OF = {"worker_assigned": "worker", "call_filled": "volunteers", "resource_pledged": "resources"}


def envelope(source, event_type, data):
    """The same envelope shape as ours, so that messages weigh the same."""
    return {"id": str(uuid.uuid4()), "type": event_type, "version": 1, "source": source,
            "time": datetime.now(timezone.utc).isoformat(), "subject": data.get("need_id"),
            "correlation_id": data.get("need_id"), "data": data}


def required_parts(requirements):
    parts = set()
    if requirements.get("worker", True):
        parts.add("worker")
    if requirements.get("volunteers"):
        parts.add("volunteers")
    if requirements.get("resources"):
        parts.add("resources")
    return parts


class FloorCommunity:
    name = PREFIX + "community"
    dispatch = EventDispatcher()
    waiting = {}  # need id → parts not yet in (one process per service in the floor)

    def _register(self, need):
        need_id = need.get("id") or f"need-{uuid.uuid4().hex[:12]}"
        self.waiting[need_id] = required_parts(need.get("requirements", {}))
        self.dispatch("need_registered", envelope("community", "need_registered", {**need, "need_id": need_id}))
        return {"id": need_id, "status": "registered"}

    @rpc
    def register_need(self, need):
        return self._register(need)

    @event_handler(PREFIX + "station", "need_reported")
    def on_need_reported(self, body):
        self._register(body["data"])

    def _outcome(self, body):
        part = PART_OF.get(body["type"])
        need_id = body["data"]["need_id"]
        left = self.waiting.get(need_id)
        if part and left is not None:
            left.discard(part)
            if not left:
                del self.waiting[need_id]
                self.dispatch("need_linked", envelope("community", "need_linked", {"need_id": need_id}))


for _type, _source in OUTCOMES.items():  # one queue per outcome, as nameko binds them
    setattr(FloorCommunity, f"on_{_type}",
            event_handler(PREFIX + _source, _type)(lambda self, body: self._outcome(body)))


class FloorOrgs:
    name = PREFIX + "orgs"
    dispatch = EventDispatcher()

    @event_handler(PREFIX + "community", "need_registered")
    def on_need_registered(self, body):
        self.dispatch("org_matched", envelope("orgs", "org_matched", {"need_id": body["data"]["need_id"],
                                                                     "organisation_id": "org-floor"}))


class FloorWorkers:
    name = PREFIX + "workers"
    dispatch = EventDispatcher()

    @event_handler(PREFIX + "community", "need_registered")
    def on_need_registered(self, body):
        need = body["data"]
        if need.get("requirements", {}).get("worker", True):
            self.dispatch("worker_assigned", envelope("workers", "worker_assigned", {
                "need_id": need["need_id"], "worker_id": "worker-floor", "case_id": "case-" + need["need_id"]}))


class FloorVolunteers:
    name = PREFIX + "volunteers"
    dispatch = EventDispatcher()
    calls = {}  # call id → [slots, claimed]

    @event_handler(PREFIX + "community", "need_registered")
    def on_need_registered(self, body):
        need = body["data"]
        wanted = need.get("requirements", {}).get("volunteers")
        if wanted:
            call_id = "call-" + need["need_id"]
            self.calls[call_id] = [wanted["count"], []]
            self.dispatch("call_opened", envelope("volunteers", "call_opened", {
                "need_id": need["need_id"], "call_id": call_id, "slots": wanted["count"],
                "community": need["community"]}))

    @rpc
    def claim(self, call_id, volunteer_id):
        slots, claimed = self.calls[call_id]
        claimed.append(volunteer_id)
        need_id = call_id[len("call-"):]
        self.dispatch("call_claimed", envelope("volunteers", "call_claimed", {
            "need_id": need_id, "call_id": call_id, "volunteer_id": volunteer_id, "claimed": claimed}))
        if len(claimed) == slots:
            self.dispatch("call_filled", envelope("volunteers", "call_filled", {
                "need_id": need_id, "call_id": call_id, "claimed": claimed}))
        return {"status": "claimed", "position": len(claimed)}


class FloorCharity:
    name = PREFIX + "charity"
    dispatch = EventDispatcher()

    @event_handler(PREFIX + "community", "need_registered")
    def on_need_registered(self, body):
        need = body["data"]
        lines = need.get("requirements", {}).get("resources")
        if lines:
            self.dispatch("resource_pledged", envelope("charity", "resource_pledged", {
                "need_id": need["need_id"], "pledges": [{"item": line["item"], "quantity": line["quantity"]}
                                                        for line in lines]}))


def _json(status, body):
    return status, {"Content-Type": "application/json"}, json.dumps(body)


class FloorGateway:
    name = PREFIX + "gateway"
    community = RpcProxy(PREFIX + "community")
    volunteers = RpcProxy(PREFIX + "volunteers")

    @http("POST", "/api/v1/needs")
    def register_need(self, request):
        return _json(201, self.community.register_need(json.loads(request.get_data())))

    @http("POST", "/api/v1/calls/<call_id>/claims")
    def claim(self, request, call_id):
        return _json(201, self.volunteers.claim(call_id, json.loads(request.get_data())["volunteer_id"]))

    @http("GET", "/api/v1/needs/<need_id>")
    def get_need(self, request, need_id):
        return _json(200, {"id": need_id, "status": "linked"})

    @http("GET", "/healthz")
    def healthz(self, request):
        return _json(200, {"status": "ok"})

    @http("GET", "/readyz")  # what the edge in front checks: the floor has nothing to be ready for
    def readyz(self, request):
        return _json(200, {"status": "ok"})


_GATEWAY_SEES = dict(OUTCOMES, need_registered="community", need_linked="community")
for _type, _source in _GATEWAY_SEES.items():  # the gateway projects every event: here, it does nothing
    setattr(FloorGateway, f"on_{_type}", event_handler(PREFIX + _source, _type)(lambda self, body: None))

SERVICES = {"community": FloorCommunity, "orgs": FloorOrgs, "workers": FloorWorkers,
            "volunteers": FloorVolunteers, "charity": FloorCharity, "gateway": FloorGateway}


def main(argv=None):
    from nameko.runners import ServiceRunner
    names = (argv or sys.argv[1:]) or list(SERVICES)
    config = {"AMQP_URI": os.environ.get("AMQP_URI", "pyamqp://guest:guest@127.0.0.1:5672/"),
              "WEB_SERVER_ADDRESS": f"127.0.0.1:{os.environ.get('FLOOR_HTTP_PORT', '8101')}",
              "serializer": "json", "max_workers": int(os.environ.get("WUSHE_MAX_WORKERS", "10"))}
    runner = ServiceRunner(config)
    for name in names:
        runner.add_service(SERVICES[name])
    runner.start()
    print(f"floor: running {', '.join(names)}", flush=True)
    try:
        runner.wait()
    except KeyboardInterrupt:
        runner.stop()


if __name__ == "__main__":
    main()

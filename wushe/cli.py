"""`wushe run`: the five services and the gateway in one process, on the embedded store by
default, with the demo data loaded. (With a real MONGO_URI, each service can equally run as
its own process: `nameko run services.community.service` …)"""
import warnings

# eventlet is in maintenance mode; we know (README, "Stack"), no need to say it at every start
warnings.filterwarnings("ignore", message="\nEventlet is deprecated")
import eventlet  # noqa: E402

eventlet.monkey_patch()  # noqa: E402 — before anything opens a socket

import argparse  # noqa: E402
import importlib  # noqa: E402
import os  # noqa: E402
import secrets  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import requests  # noqa: E402
from nameko.runners import ServiceRunner  # noqa: E402

from wushe import demo, logs  # noqa: E402
from wushe.config import nameko_config  # noqa: E402
from wushe.store import is_embedded  # noqa: E402

SERVICES = {
    "community": "services.community.service:CommunityService",
    "orgs": "services.orgs.service:OrgsService",
    "workers": "services.workers.service:WorkersService",
    "volunteers": "services.volunteers.service:VolunteersService",
    "charity": "services.charity.service:CharityService",
    "gateway": "gateway.service:GatewayService",
}


def service_classes(names=tuple(SERVICES)):
    classes = []
    for name in names:
        module, _, attr = SERVICES[name].partition(":")
        classes.append(getattr(importlib.import_module(module), attr))
    return classes


def run(args):
    env = dict(os.environ)
    env.setdefault("WUSHE_ADMIN_KEY", secrets.token_urlsafe(24))
    config = nameko_config(env)
    logs.configure(config["LOG_LEVEL"])
    chosen = args.services or list(SERVICES)
    unknown = set(chosen) - set(SERVICES)
    if unknown:
        raise SystemExit(f"wushe: no service {', '.join(sorted(unknown))}; choose from {', '.join(SERVICES)}")
    if args.scale:
        return run_scaled(args.scale, chosen, env)
    runner = ServiceRunner(config)
    for cls in service_classes(chosen):
        runner.add_service(cls)
    runner.start()

    if "gateway" in chosen and not env.get("WUSHE_SUPERVISED"):
        port = int(env.get("WUSHE_HTTP_PORT", "8000"))
        base_url = f"http://127.0.0.1:{port}"
        _wait_healthy(base_url)
        loaded = None
        if env.get("WUSHE_DEMO", "1") != "0" and len(chosen) == len(SERVICES):
            loaded = demo.load(base_url, env["WUSHE_ADMIN_KEY"])
        _banner(base_url, env, loaded)
    else:
        print(f"wushe: running {', '.join(chosen)}", flush=True)

    stop = eventlet.event.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.ready() or stop.send("signal"))
    # a service whose container dies must not go on missing inside a live process: exit, so that
    # a supervisor (systemd, Kubernetes, docker restart policies) starts it again
    eventlet.spawn(runner.wait).link(lambda _: stop.ready() or stop.send("a service died"))
    reason = stop.wait()
    if reason != "signal":
        print(f"wushe: {reason}; exiting so that it is restarted", file=sys.stderr, flush=True)
        runner.kill()
        raise SystemExit(1)
    runner.stop()


def run_scaled(spec, chosen, env):
    """One process per service instance (`--scale volunteers=2`); see wushe.scale."""
    from wushe import scale
    counts = scale.parse(spec, chosen)
    scale.refuse_on_embedded(counts, env)
    planned = scale.plan(counts, env)

    def ready():
        gateways = scale.gateway_ports(planned)
        for port in gateways:
            _wait_healthy(f"http://127.0.0.1:{port}")
        if gateways:
            base_url = f"http://127.0.0.1:{gateways[0]}"
            everything = env.get("WUSHE_DEMO", "1") != "0" and len(chosen) == len(SERVICES)
            _banner(base_url, env, demo.load(base_url, env["WUSHE_ADMIN_KEY"]) if everything else None)
            if len(gateways) > 1:
                print(f"  gateways   ports {', '.join(map(str, gateways))} (put a load balancer in front)", flush=True)
    scale.supervise(planned, on_ready=ready)


def _wait_healthy(base_url, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base_url}/healthz", timeout=1).ok:
                return
        except requests.RequestException:
            pass
        eventlet.sleep(0.2)
    raise SystemExit(f"wushe: the gateway did not answer at {base_url} within {seconds} s")


def _banner(base_url, env, loaded):
    store = env.get("MONGO_URI") or "mongomock://"
    lines = [
        "",
        "  五社联动 Wushe is running",
        f"  gateway    {base_url}/api/v1   (OpenAPI: {base_url}/api/v1/openapi.json)",
        f"  admin key  {env['WUSHE_ADMIN_KEY']}",
        f"  store      {'embedded, NON-DURABLE (data is lost when this stops)' if is_embedded(store) else store}",
        f"  metrics    {base_url}/metrics",
        f"  demo       {loaded if loaded else 'not loaded (WUSHE_DEMO=0)'}",
        "  try        curl -H 'Authorization: Bearer <admin key>' " + base_url + "/api/v1/needs/need-demo-errand",
        "  stop       Ctrl-C",
        "",
    ]
    print("\n".join(lines), flush=True)


def dlq_command(args):
    """`wushe dlq [list | show SERVICE [ID] | replay SERVICE [ID …]]` — for the operator on call."""
    import json

    from wushe import dlq
    uri = nameko_config(os.environ)["AMQP_URI"]
    if args.action == "list":
        found = dlq.counts(uri)
        if not found:
            print("no dead-letter queues yet")
        for service, count in found.items():
            print(f"{service:<12} {count:>6} parked")
        for service, count in found.items():
            for parked in dlq.browse(uri, service, limit=20) if count else []:
                print(f"  {service}  {parked.id}  {parked.reason:<11} attempts={parked.attempts}  "
                      f"{parked.parked_at}  {parked.queue}\n      {parked.error[:160]}")
    elif args.action == "show":
        shown = [p.as_dict() for p in dlq.browse(uri, args.service, limit=args.limit)
                 if not args.ids or p.id in args.ids]
        print(json.dumps(shown, ensure_ascii=False, indent=2))
    elif args.action == "replay":
        print(f"replayed {dlq.replay(uri, args.service, args.ids or None)} message(s) from {args.service}.dead")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="wushe")
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="run the services and the gateway (all of them by default) in one process")
    run_parser.add_argument("--services", type=lambda text: [s.strip() for s in text.split(",") if s.strip()],
                            default=[], help=f"a comma-separated subset of {', '.join(SERVICES)}; run several "
                                             "processes with a real MONGO_URI to scale a service out")
    run_parser.add_argument("--scale", default="", metavar="SERVICE=N[,…]",
                            help="one process per service, N of those named (instances need a shared MONGO_URI)")
    dlq_parser = sub.add_parser("dlq", help="list, show or replay dead-lettered messages")
    dlq_parser.add_argument("action", choices=["list", "show", "replay"])
    dlq_parser.add_argument("service", nargs="?", choices=list(SERVICES))
    dlq_parser.add_argument("ids", nargs="*", help="message ids (default: all)")
    dlq_parser.add_argument("--limit", type=int, default=100)
    for name, helptext in (("demo", "drive a day of Taida street through a running platform, then print its figures"),
                           ("seed", "load the demo data into a running platform")):
        day_parser = sub.add_parser(name, help=helptext)
        day_parser.add_argument("--url", default=os.environ.get("WUSHE_URL", "http://127.0.0.1:8000"))
        day_parser.add_argument("--key", default=os.environ.get("WUSHE_ADMIN_KEY"),
                                help="an admin key (default: WUSHE_ADMIN_KEY, as `make run` printed it)")
        if name == "demo":
            day_parser.add_argument("--needs", type=int, default=40)
    args = parser.parse_args(argv)
    if args.command in ("demo", "seed") and not args.key:
        parser.error("give --key or WUSHE_ADMIN_KEY (the admin key `make run` printed)")
    if args.command == "run":
        run(args)
    elif args.command == "seed":
        print(demo.load(args.url, args.key))
    elif args.command == "demo":
        from wushe.day import Day
        Day(args.url, args.key).run(needs=args.needs)
    elif args.command == "dlq":
        if args.action != "list" and not args.service:
            parser.error("dlq show/replay needs a service")
        return dlq_command(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

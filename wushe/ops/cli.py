"""`wushe run`: the five services and the gateway, a process each, on the local store server
(or MONGO_URI's MongoDB), with the demo data loaded once; `--services a,b` runs those in this one
process (a container's command); WUSHE_STORE=memory runs everything in one process on the
embedded, non-durable store. Also `wushe dlq`, `wushe demo`, `wushe seed`."""
import warnings

# eventlet is in maintenance mode; we know (README, "Stack"), no need to say it at every start
warnings.filterwarnings("ignore", message="\nEventlet is deprecated")
import eventlet  # noqa: E402

eventlet.monkey_patch()  # noqa: E402 — before anything opens a socket

import argparse  # noqa: E402
import gc  # noqa: E402
import importlib  # noqa: E402
import os  # noqa: E402
import secrets  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from nameko.runners import ServiceRunner  # noqa: E402

from wushe.runtime import logs
from wushe.runtime.config import DEFAULT_AMQP_URI, nameko_config  # noqa: E402
from wushe.runtime.store import is_embedded  # noqa: E402

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


def store_mode(env):
    """Where the data lives: MONGO_URI's MongoDB; else the local store server under var/
    (`local`, the default); or, with WUSHE_STORE=memory, the embedded store inside one process."""
    if env.get("MONGO_URI"):
        return "memory" if is_embedded(env["MONGO_URI"]) else "mongodb"
    choice = env.get("WUSHE_STORE", "local")
    if choice not in ("local", "memory"):
        raise SystemExit(f"wushe: WUSHE_STORE={choice!r}: choose local (the default) or memory")
    return choice


def run(args):
    env = dict(os.environ)
    chosen = args.services or list(SERVICES)
    unknown = set(chosen) - set(SERVICES)
    if unknown:
        raise SystemExit(f"wushe: no service {', '.join(sorted(unknown))}; choose from {', '.join(SERVICES)}")
    mode = store_mode(env)
    if args.edge:
        if args.services or mode == "memory":
            raise SystemExit("wushe: --edge fronts the gateway processes of the process topology: drop --services "
                             "and WUSHE_STORE=memory")
        from wushe.ops import edge
        edge.required_program()
    if args.scale or (not args.services and mode != "memory"):
        return run_processes(args.scale, chosen, env, mode, edge_port=args.edge)
    return run_in_process(chosen, env, mode)


def run_in_process(chosen, env, mode):
    """These services in this one process (what each of the topology's processes runs, what a
    container runs, and the whole platform on the embedded store)."""
    env.setdefault("WUSHE_ADMIN_KEY", secrets.token_urlsafe(24))
    if "gateway" in chosen and env.get("WUSHE_METRICS_PORT", "0") not in ("", "0"):
        # one endpoint per process: the gateway's /metrics serves the registry every container
        # of this process writes to; a second port would double every sum (README, "Metrics")
        print(f"wushe: WUSHE_METRICS_PORT={env['WUSHE_METRICS_PORT']} unused: the gateway's /metrics "
              "serves this process's metrics", file=sys.stderr, flush=True)
        env["WUSHE_METRICS_PORT"] = "0"
    config = nameko_config(env)
    logs.configure(config["LOG_LEVEL"], access=config["ACCESS_LOG"])
    runner = ServiceRunner(config)
    for cls in service_classes(chosen):
        runner.add_service(cls)
    runner.start()
    # what starting made (modules, classes, schemas, the catalog…) lives as long as the process:
    # kept out of the cyclic collector's sight, so that its full passes look only at what the
    # services have made since (under make bench each such pass had cost each service 35–50 ms,
    # all of it a pause of every green thread; 8 ms once frozen)
    gc.freeze()

    if "gateway" in chosen and not env.get("WUSHE_SUPERVISED"):
        port = int(env.get("WUSHE_HTTP_PORT", "8000"))
        base_url = f"http://127.0.0.1:{port}"
        _wait_healthy(base_url)
        loaded = None
        if env.get("WUSHE_DEMO", "1") != "0" and len(chosen) == len(SERVICES):
            from wushe import demo
            loaded = demo.load(base_url, env["WUSHE_ADMIN_KEY"])
        _banner(base_url, env, loaded, mode, f"one process ({', '.join(chosen)})")
    else:
        print(f"wushe: running {', '.join(chosen)}", flush=True)

    stop = eventlet.event.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.ready() or stop.send("signal"))
    # a service whose container dies must not go on missing inside a live process: exit, so that
    # a supervisor (ours, systemd, Kubernetes, docker restart policies) starts it again
    eventlet.spawn(runner.wait).link(lambda _: stop.ready() or stop.send("a service died"))
    reason = stop.wait()
    if reason != "signal":
        print(f"wushe: {reason}; exiting so that it is restarted", file=sys.stderr, flush=True)
        runner.kill()
        raise SystemExit(1)
    runner.stop()


def run_processes(spec, chosen, env, mode, edge_port=None):
    """The real topology: a process per service instance (`--scale volunteers=2`, see
    wushe.ops.scale) on a shared store — the local store server, started here and stopped last,
    unless MONGO_URI names a MongoDB; with `edge_port`, HAProxy in front of the gateways there
    (wushe.ops.edge), started once they answer and stopped first."""
    from wushe.ops import edge as edges
    from wushe.ops import local, scale
    counts = scale.parse(spec, chosen)
    deployment = local.Deployment(env) if mode == "local" else None
    if deployment:
        env = deployment.environment(env)
    scale.refuse_on_embedded(counts, env)
    if deployment:
        deployment.server.start()
    env.setdefault("WUSHE_ADMIN_KEY", secrets.token_urlsafe(24))
    planned = scale.plan(counts, env)
    gateways = scale.gateway_ports(planned)
    edge = edges.Edge(gateways, edge_port, log_path=deployment.folder / "log" / "edge.log" if deployment else None) \
        if edge_port else None

    def ready():
        for port in gateways:
            _wait_healthy(f"http://127.0.0.1:{port}", seconds=60)
        if not gateways:
            return
        base_url = f"http://127.0.0.1:{gateways[0]}"
        if edge:
            edge.start()
            base_url = edge.url
        loaded = None
        if env.get("WUSHE_DEMO", "1") != "0" and len(chosen) == len(SERVICES):
            if deployment and deployment.demo_marker.exists():
                loaded = f"loaded at the first start ({deployment.demo_marker}); everything since is kept"
            else:
                from wushe import demo
                loaded = demo.load(base_url, env["WUSHE_ADMIN_KEY"])
                if deployment:
                    deployment.demo_marker.write_text(f"{loaded}\n")
        labels = [label for label, _, _ in planned]
        _banner(base_url, env, loaded, mode, f"{len(labels)}, one per service instance ({', '.join(labels)})",
                deployment)
        if edge:
            print(f"  edge       {edge.url} (HAProxy) in front of the gateways on ports "
                  f"{', '.join(map(str, gateways))}; its metrics: {edge.metrics_url}", flush=True)
        elif len(gateways) > 1:
            print(f"  gateways   ports {', '.join(map(str, gateways))} (put a load balancer in front: --edge)",
                  flush=True)

    def tend():
        if deployment and not deployment.server.running():
            print("wushe: the store server exited; starting it again", file=sys.stderr, flush=True)
            deployment.server.restart()
        if edge and edge.process and not edge.running():
            print("wushe: the edge exited; starting it again", file=sys.stderr, flush=True)
            edge.stop()
            edge.start()

    try:
        scale.supervise(planned, on_ready=ready, tend_also=tend, before_stop=edge.stop if edge else None)
    finally:
        if deployment:
            deployment.server.stop()
            print(f"wushe: stopped; the data is kept in {deployment.folder}/", flush=True)


def _wait_healthy(base_url, seconds=30):
    # imported here: a service's own process never asks (requests is a tenth of its start)
    import requests
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base_url}/healthz", timeout=1).ok:
                return
        except requests.RequestException:
            pass
        eventlet.sleep(0.2)
    raise SystemExit(f"wushe: the gateway did not answer at {base_url} within {seconds} s")


def _banner(base_url, env, loaded, mode, processes, deployment=None):
    store = {"memory": "embedded, NON-DURABLE (in this process; data is lost when it stops)",
             "mongodb": "MongoDB (MONGO_URI)"}.get(mode) or f"local, durable: {deployment.describe()}"
    lines = [
        "",
        "  五社联动 Wushe is running",
        f"  gateway    {base_url}/api/v1   (OpenAPI: {base_url}/api/v1/openapi.json)",
        f"  docs       {base_url}/api/v1/docs   (open in a browser; no key needed)",
        f"  events     {base_url}/api/v1/event-docs   (AsyncAPI: {base_url}/api/v1/asyncapi.json)",
        f"  admin key  {env['WUSHE_ADMIN_KEY']}",
        f"  processes  {processes}",
        f"  store      {store}",
        f"  broker     {env.get('AMQP_URI', DEFAULT_AMQP_URI).rpartition('@')[2]}",
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

    from wushe.ops import dlq
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
    run_parser = sub.add_parser("run", help="run the services and the gateway: a process each on the local store (WUSHE_STORE=memory: one process)")
    run_parser.add_argument("--services", type=lambda text: [s.strip() for s in text.split(",") if s.strip()],
                            default=[], help=f"run these ({', '.join(SERVICES)}) in this one process")
    run_parser.add_argument("--scale", default="", metavar="SERVICE=N[,…]",
                            help="one process per service, N of those named (instances need a shared MONGO_URI)")
    run_parser.add_argument("--edge", type=int, nargs="?", const=8080, default=None, metavar="PORT",
                            help="HAProxy in front of the gateways, on PORT (8080): it refuses what they cannot "
                                 "take at once, cheaply, and spreads requests over several (deploy/edge/)")
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
        from wushe import demo
        print(demo.load(args.url, args.key))
    elif args.command == "demo":
        from wushe.demo.day import Day
        Day(args.url, args.key).run(needs=args.needs)
    elif args.command == "dlq":
        if args.action != "list" and not args.service:
            parser.error("dlq show/replay needs a service")
        return dlq_command(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

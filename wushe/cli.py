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
    runner = ServiceRunner(config)
    for cls in service_classes(chosen):
        runner.add_service(cls)
    runner.start()

    if "gateway" in chosen:
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
        signal.signal(sig, lambda *_: stop.ready() or stop.send(True))
    stop.wait()
    runner.stop()


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


def main(argv=None):
    parser = argparse.ArgumentParser(prog="wushe")
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="run the services and the gateway (all of them by default) in one process")
    run_parser.add_argument("--services", type=lambda text: [s.strip() for s in text.split(",") if s.strip()],
                            default=[], help=f"a comma-separated subset of {', '.join(SERVICES)}; run several "
                                             "processes with a real MONGO_URI to scale a service out")
    args = parser.parse_args(argv)
    if args.command == "run":
        run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The chaos run in container mode (`make chaos CHAOS_ARGS="--mode containers"`): the whole
platform under load while its parts are killed, the broker is stopped, events are published
twice and poison is injected; then, once quiet, every invariant is checked and the figures
printed as a table.

All services run as containers in this one process on the embedded store, and are killed
abruptly with nameko's `container.kill()` (mid-handler: unacknowledged messages go back to the
broker). The store lives in the process, so it outlives every container, as a database
outlives a pod. The process mode (`make chaos`'s default, tests/chaos/process_mode.py) SIGKILLs
whole processes on a shared store server and kills that too; it reuses this module's vhost,
quiet and report helpers.
"""
import random
import secrets
import time
import uuid
from dataclasses import dataclass, field

import eventlet
import requests
import structlog
from eventlet.event import Event

from tests.chaos import checks, drive, faults
from tests.netports import free_port
from wushe.ops.cli import service_classes
from wushe.runtime.config import nameko_config
from wushe.contract.events.catalog import SOURCES
from wushe.runtime.store import client_for

log = structlog.get_logger("chaos")
MANAGEMENT = "http://127.0.0.1:15672"
POISON_QUEUES = ["evt-community-need_registered--workers.on_need_registered",
                 "evt-parties--community.on_outcome", "evt-all--gateway.project",
                 "evt-community-need_cancelled--charity.on_need_cancelled"]


@dataclass
class Options:
    needs: int = 2000
    concurrency: int = 16
    kill_every: float = 3.0       # seconds between container kills (randomised ±50%)
    broker_down: float = 12.0     # seconds the broker is stopped, once
    broker_after: float = 20.0    # seconds into the load
    broker_at: float = 0.3        # … or once this share of the needs is driven, if that is sooner
    republish: float = 0.05       # share of the sampled events published a second time
    poison: int = 20
    seed: int = 7
    quiet_timeout: float = 600.0
    amqp_host: str = "guest:guest@127.0.0.1:5672"
    say: callable = field(default=print)


def set_vhost(create, name):
    """Create (or delete) a vhost of the run's own, with the guest user's permissions."""
    url = f"{MANAGEMENT}/api/vhosts/{name}"
    if create:
        requests.put(url, auth=("guest", "guest"), timeout=10).raise_for_status()
        requests.put(f"{MANAGEMENT}/api/permissions/{name}/guest", auth=("guest", "guest"), timeout=10,
                     json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
    else:
        requests.delete(url, auth=("guest", "guest"), timeout=10)


def run(options=None):
    """Returns (ok, rows, figures)."""
    o = options or Options()
    rng = random.Random(o.seed)
    vhost = f"wushe-chaos-{uuid.uuid4().hex[:8]}"
    set_vhost(True, vhost)
    amqp_uri = f"pyamqp://{o.amqp_host}/{vhost}"
    key = secrets.token_urlsafe(16)
    prefix = f"chaos{uuid.uuid4().hex[:6]}_"
    port = free_port()
    config = nameko_config(env={}, AMQP_URI=amqp_uri, WEB_SERVER_ADDRESS=f"127.0.0.1:{port}", WUSHE={
        "MONGO_URI": "mongomock://", "DB_PREFIX": prefix, "ADMIN_KEY": key, "RPC_TIMEOUT": 5.0,
        "OUTBOX_RELAY_SECONDS": 0.5, "OUTBOX_GRACE_SECONDS": 1.0, "RETRY_DELAYS_MS": [200, 1000, 3000],
        "MAX_ATTEMPTS": 5})
    cluster = faults.Cluster(service_classes(), config)
    stop, figures, started = Event(), {}, time.monotonic()
    try:
        cluster.start()
        client = drive.Client(f"http://127.0.0.1:{port}", key)
        drive.set_up(client)
        db = checks.stores(config["WUSHE"])
        tap = faults.Tap(amqp_uri, [s for s in SOURCES if s != "station"], rng)
        background = [eventlet.spawn(tap.run, stop), eventlet.spawn(faults.killer, cluster, o.kill_every, rng, stop)]
        broker_now = Event()
        outage = eventlet.spawn(faults.broker_outage, o.broker_down, o.broker_after, stop, broker_now)
        poison = faults.inject_poison(amqp_uri, POISON_QUEUES, o.poison)

        driver = drive.Driver(client, o.seed)
        pool = eventlet.GreenPool(o.concurrency)
        for done, _ in enumerate(pool.imap(driver.need, range(o.needs)), 1):
            if done % max(1, o.needs // 10) == 0:
                o.say(f"  {done}/{o.needs} needs driven, {cluster.kills} kills, {time.monotonic() - started:.0f} s")
            if done == max(1, int(o.needs * o.broker_at)) and not broker_now.ready():
                broker_now.send(True)
            if done == o.needs // 2:
                tap.republish(o.republish)
        tap.republish(o.republish)
        stop.send(True)
        figures["broker_restarts"] = outage.wait()
        for thread in background:
            thread.kill()
        for name in cluster.classes:  # whatever the killer left down comes back up
            if name not in cluster.containers:
                cluster.start(name)
        figures.update(kills=cluster.kills, crashes=len(cluster.crashes), republished=tap.republished,
                       http_retries=client.retries,
                       load_seconds=round(time.monotonic() - started, 1))
        o.say("  load done; waiting for quiet …")
        wait_quiet(db, o.quiet_timeout, vhost, o.say)
        figures["quiet_after_seconds"] = round(time.monotonic() - started - figures["load_seconds"], 1)
        rows = checks.run_checks(db, driver, amqp_uri, MANAGEMENT, vhost, poison)
        rows.insert(0, ("containers that died on their own", len(cluster.crashes), 0, not cluster.crashes))
        for crash in cluster.crashes[:5]:
            o.say(f"  crashed: {crash}")
        if not all(r[3] for r in rows):
            for line in checks.evidence(db):
                o.say(line)
        return all(r[3] for r in rows), rows, figures
    finally:
        if not stop.ready():
            stop.send(True)
        cluster.stop()
        set_vhost(False, vhost)
        client = client_for("mongomock://")
        for name in client.list_database_names():
            if name.startswith(prefix):
                client.drop_database(name)


def wait_quiet(db, timeout, vhost, say):
    deadline, last = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        unsettled, outbox = checks.unsettled_needs(db), checks.pending_outbox(db)
        if not unsettled and outbox == 0:
            eventlet.sleep(6)  # the management API's figures lag by up to 5 s
            waiting = checks.queued(MANAGEMENT, vhost)[0]
            if not waiting:
                return
            say(f"  still queued: {waiting}")
        elif time.monotonic() - last > 15:
            last = time.monotonic()
            say(f"  waiting: {len(unsettled)} needs unsettled (e.g. {unsettled[:3]}), {outbox} outbox entries")
        eventlet.sleep(1)


def report(ok, rows, figures, say=print):
    width = max(len(r[0]) for r in rows)
    say(f"\n  {'check':<{width}}  {'value':>8}  {'expected':>8}")
    for check, value, expected, passed in rows:
        say(f"  {check:<{width}}  {value!s:>8}  {expected!s:>8}  {'ok' if passed else 'VIOLATED'}")
    say("\n  " + ", ".join(f"{k}={v}" for k, v in figures.items()))
    say(f"\n  chaos run: {'PASSED' if ok else 'FAILED'}")


def short_run(run_, options, capsys):
    """A short form in the suite: run, print the table past pytest's capture, fail on any
    violated check (the table is the message). The figures, for the caller's own asserts."""
    lines = []
    options.say = lines.append
    ok, rows, figures = run_(options)
    report(ok, rows, figures, say=lines.append)
    with capsys.disabled():
        print("\n".join(lines))
    violated = [row for row in rows if not row[3]]
    assert not violated, "\n".join(lines)
    return figures

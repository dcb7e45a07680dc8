"""The chaos run in process mode (`make chaos`, `--mode processes`): the platform as `wushe run`
starts it — a process per service and one for the gateway (tests.processes.Topology) — on a
store server of the run's own (SecantusDB on a free port, its data in a temporary folder,
removed after), under load, while

- every few seconds (randomised) one process is SIGKILLed and started again — every kind in
  turn, in a random order each round: the five services and the gateway;
- the store server is killed -9 once, mid-load, and started again on the same data;
- the broker is stopped once (`--broker-down 0` skips it);
- a sample of events is published a second time, and poison is injected.

Once quiet, every check of the container mode must hold, read from the shared store with
pymongo, and also: every write the platform acknowledged is still there (needs answered 202,
claims and donations answered 201), no process died on its own, and every kind was killed.
Redeliveries and duplicates are counted from the processes' log lines: their counters die
with them.
"""
import base64
import random
import secrets
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass

import eventlet
from eventlet.event import Event

from tests.chaos import checks, drive, faults
from tests.chaos.run import MANAGEMENT, POISON_QUEUES, Options as ContainerOptions, set_vhost, wait_quiet
from tests.netports import free_port
from tests.processes import Topology
from wushe.runtime.config import nameko_config
from wushe.contract.events.catalog import SOURCES
from wushe.ops.local import StoreServer


@dataclass
class Options(ContainerOptions):
    kill_every: float = 3.0         # seconds between process kills (randomised ±50%)
    store_at: float = 0.4           # the share of the needs driven when the store server is killed -9
    store_down: float = 5.0         # seconds it stays down before it is started again
    donate_every: int = 10          # a donation (Idempotency-Key, answered 201) with every Nth need
    max_load_seconds: float = 3600  # no need is started after this; those left are a violation
    keep: bool = False              # keep the store's data and the processes' logs (the folder is printed)


def config_for(amqp_uri, store_uri, port, admin_key):
    return nameko_config(env={}, AMQP_URI=amqp_uri, WEB_SERVER_ADDRESS=f"127.0.0.1:{port}", WUSHE={
        "MONGO_URI": store_uri, "DB_PREFIX": "chaos_", "ADMIN_KEY": admin_key,
        "PII_KEY": base64.b64encode(secrets.token_bytes(32)).decode(), "RPC_TIMEOUT": 5.0,
        "OUTBOX_RELAY_SECONDS": 0.5, "OUTBOX_GRACE_SECONDS": 1.0, "RETRY_DELAYS_MS": [200, 1000, 3000],
        "MAX_ATTEMPTS": 5})


def run(options=None):
    """Returns (ok, rows, figures)."""
    o = options or Options()
    rng = random.Random(o.seed)
    vhost = f"wushe-chaos-{uuid.uuid4().hex[:8]}"
    folder = tempfile.mkdtemp(prefix="wushe-chaos-")
    server = StoreServer(f"{folder}/store", port=free_port(), log_path=f"{folder}/store.log")
    key = secrets.token_urlsafe(16)
    set_vhost(True, vhost)
    amqp_uri = f"pyamqp://{o.amqp_host}/{vhost}"
    config = config_for(amqp_uri, server.uri, free_port(), key)
    stop, quiet, store_now, figures, topology = Event(), Event(), Event(), {}, None
    ok = False
    try:
        server.start()
        topology = Topology(config, f"{folder}/logs")
        processes = faults.Processes(topology)
        topology.start(timeout=120)
        started = time.monotonic()
        client = drive.Client(topology.base, key)
        drive.set_up(client)
        db = checks.stores(config["WUSHE"])
        tap = faults.Tap(amqp_uri, [s for s in SOURCES if s != "station"], rng)
        background = [eventlet.spawn(tap.run, stop), eventlet.spawn(processes.watch, quiet)]
        killer = eventlet.spawn(processes.killer, o.kill_every, rng, stop)
        outage = eventlet.spawn(faults.broker_outage, o.broker_down, o.broker_after, stop)
        store = eventlet.spawn(faults.store_outage, server, o.store_down, store_now, stop)
        poison = faults.inject_poison(amqp_uri, POISON_QUEUES, o.poison)

        driver = drive.Driver(client, o.seed, donate_every=o.donate_every, deadline=started + o.max_load_seconds)
        pool = eventlet.GreenPool(o.concurrency)
        for done, _ in enumerate(pool.imap(driver.need, range(o.needs)), 1):
            if done % max(1, o.needs // 10) == 0:
                o.say(f"  {done}/{o.needs} needs driven, {sum(processes.kills.values())} kills, "
                      f"{time.monotonic() - started:.0f} s")
            if done == max(1, int(o.needs * o.store_at)):
                store_now.send(True)
            if done == o.needs // 2:
                tap.republish(o.republish)
        tap.republish(o.republish)
        stop.send(True)
        if not store_now.ready():
            store_now.send(True)  # (only when store_at is past the end: then it does not happen)
        figures["broker_restarts"] = outage.wait()
        figures["store_kills"] = store.wait()
        killer.wait()
        processes.restore()
        figures.update(kills=sum(processes.kills.values()),
                       kills_by_kind="/".join(f"{k}:{n}" for k, n in sorted(processes.kills.items())),
                       republished=tap.republished, http_retries=client.retries,
                       http_in_progress=client.in_progress,
                       http_answers="/".join(f"{s or 'refused'}:{n}" for s, n in sorted(client.statuses.items())),
                       load_seconds=round(time.monotonic() - started, 1))
        o.say("  load done; waiting for quiet …")
        wait_quiet(db, o.quiet_timeout, vhost, o.say)
        figures["quiet_after_seconds"] = round(time.monotonic() - started - figures["load_seconds"], 1)
        quiet.send(True)
        for thread in background:
            thread.kill()
        processes.tend()  # a last look: anything that died since

        rows = checks.run_checks(db, driver, amqp_uri, MANAGEMENT, vhost, poison,
                                 counted=checks.counted_in_logs(topology.logs()))
        never = sorted(k for k, n in processes.kills.items() if not n)
        rows[:0] = [("processes that died on their own", len(processes.crashes), 0, not processes.crashes),
                    (f"kinds of process never killed ({', '.join(never) or 'none'})", len(never), 0, not never),
                    (f"needs driven (load capped at {o.max_load_seconds:g} s)", o.needs - driver.skipped, o.needs,
                     driver.skipped == 0)]
        acked, lost = checks.acknowledged(db, driver)
        rows[4:4] = acked
        for crash in processes.crashes[:5]:
            o.say(f"  died on its own: {crash}")
        for item in lost:
            o.say(f"  acknowledged, not found: {item}")
        ok = all(r[3] for r in rows)
        if not ok:
            for line in checks.evidence(db):
                o.say(line)
        return ok, rows, figures
    finally:
        if not stop.ready():
            stop.send(True)
        if not store_now.ready():
            store_now.send(True)
        if not quiet.ready():
            quiet.send(True)
        if topology is not None:
            topology.stop(kill=True)
        server.stop()
        set_vhost(False, vhost)
        if o.keep or not ok:
            o.say(f"  the store's data and the processes' logs are kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)

"""The faults of a chaos run: killed containers (container mode) or SIGKILLed processes and a
kill -9 of the store server (process mode), a stopped broker, republished events, poison."""
import collections
import subprocess
import uuid

import eventlet
import kombu
import structlog
from eventlet.event import Event
from nameko.containers import ServiceContainer

log = structlog.get_logger("chaos")


class Cluster:
    """Every service's container in this process, killed and restarted at will. The embedded
    store lives in the process, so it outlives any container — as a database outlives a pod."""

    def __init__(self, classes, config):
        self.classes = {cls.name: cls for cls in classes}
        self.config = config
        self.containers = {}
        self.kills = 0
        self.crashes = []  # containers that died on their own (a violation: nameko kills a
                           # container whose thread dies with an error)

    def start(self, name=None):
        """Start containers, trying again until each starts: during the broker outage a start
        fails, and a supervisor (or Kubernetes) would keep restarting it."""
        for each in [name] if name else self.classes:
            while True:
                container = ServiceContainer(self.classes[each], self.config)
                try:
                    container.start()
                    break
                except Exception as exc:  # noqa: BLE001 — the broker is away: try again shortly
                    log.warning("chaos.restart_failed", service=each, error=str(exc))
                    container.kill()
                    eventlet.sleep(1)
            self.containers[each] = container
            eventlet.spawn(self._watch, each, container)

    def _watch(self, name, container):
        try:
            container.wait()
        except Exception as exc:  # noqa: BLE001 — died on its own: note it, and restart it
            self.crashes.append(f"{name}: {type(exc).__name__}: {exc}")
            log.error("chaos.container_died", service=name, error=str(exc))
            if self.containers.get(name) is container:
                self.containers.pop(name)
                self.start(name)

    def kill(self, name):
        """Abruptly: running workers die mid-handler, unacked messages go back to the broker."""
        self.containers.pop(name).kill()
        self.kills += 1

    def stop(self):
        for container in self.containers.values():
            container.kill()
        self.containers.clear()


def killer(cluster, every, rng, stop):
    while not stop.ready():
        eventlet.sleep(every * rng.uniform(0.5, 1.5))
        name = rng.choice(sorted(cluster.containers))
        log.info("chaos.kill", service=name)
        cluster.kill(name)
        eventlet.sleep(rng.uniform(0.3, 1.5))
        cluster.start(name)


class Processes:
    """The platform's processes (a tests.processes.Topology: what `wushe run` starts), SIGKILLed
    and started again by the run; any that exits otherwise died on its own (a violation), is
    noted with the end of its log, and is started again, as a supervisor would."""

    def __init__(self, topology):
        self.topology = topology
        self.supervisor = topology.supervisor
        self.kills = collections.Counter({kind(label): 0 for label in topology.labels})
        self.crashes = []
        self.ours = set()  # being killed and started again by the run: not a crash

    def kill(self, label):
        self.ours.add(label)
        log.info("chaos.kill", process=label, pid=self.supervisor.pid(label))
        self.supervisor.kill(label)  # SIGKILL, and reaped
        self.kills[kind(label)] += 1

    def start(self, label):
        self.supervisor.start_one(label)
        self.ours.discard(label)

    def killer(self, every, rng, stop):
        """Every `every` seconds (±50%) SIGKILL one process, all kinds in turn in a random order
        each round (so that every kind, the gateway too, is hit as often), and start it again
        after a moment."""
        order = []
        while not stop.ready():
            eventlet.sleep(every * rng.uniform(0.5, 1.5))
            if stop.ready():
                break
            order = order or rng.sample(self.topology.labels, len(self.topology.labels))
            label = order.pop()
            self.kill(label)
            eventlet.sleep(rng.uniform(0.2, 1.0))
            self.start(label)

    def watch(self, stop, every=0.5):
        while not stop.ready():
            self.tend()
            eventlet.sleep(every)

    def tend(self):
        for label, process in list(self.supervisor.running.items()):
            if label not in self.ours and process.poll() is not None:
                last = [line[:300] for line in self.topology.log(label).splitlines() if line.strip()][-3:]
                self.crashes.append(f"{label} exited with {process.returncode}: " + " | ".join(last))
                log.error("chaos.process_died", process=label, returncode=process.returncode)
                self.supervisor.start_one(label)

    def restore(self):
        """Whatever is down comes back up (the run's end)."""
        for label, process in list(self.supervisor.running.items()):
            if process.poll() is not None:
                self.start(label)


def kind(label):
    return label.split("#")[0]


def store_outage(server, down, now, stop):
    """kill -9 the store server when `now` fires (mid-load), leave it down `down` seconds, start
    it again on the same data; WiredTiger recovers from its journal. 1 if it happened."""
    now.wait()
    if stop.ready():
        return 0
    log.info("chaos.store_killed", seconds=down)
    server.kill()
    eventlet.sleep(down)
    server.restart()
    log.info("chaos.store_up")
    return 1


def broker_outage(seconds, after, stop, early=None):
    """Stop the local broker's app for `seconds`, once, `after` seconds into the run or when
    `early` fires, whichever comes first (never with `seconds` 0): a load driven faster than
    `after` still meets the outage."""
    if seconds <= 0:
        return 0
    with eventlet.Timeout(after, False):
        (early or Event()).wait()
    if stop.ready():
        return 0
    log.info("chaos.broker_down", seconds=seconds)
    subprocess.run(["rabbitmqctl", "-q", "stop_app"], check=True, timeout=120)
    try:
        eventlet.sleep(seconds)
    finally:
        subprocess.run(["rabbitmqctl", "-q", "start_app"], check=True, timeout=120)
    log.info("chaos.broker_up")
    return 1


class Tap:
    """Keeps a sample of published events so that some can be published again, same ids."""

    def __init__(self, amqp_uri, sources, rng, keep=2000):
        self.amqp_uri, self.sources, self.rng, self.keep = amqp_uri, sources, rng, keep
        self.sample = []
        self.republished = 0

    def run(self, stop):
        while not stop.ready():
            try:
                with kombu.Connection(self.amqp_uri, heartbeat=0) as connection:
                    bindings = [kombu.binding(kombu.Exchange(f"{s}.events", "topic", durable=True), routing_key="#")
                                for s in self.sources]
                    queue = kombu.Queue(f"chaos-tap-{uuid.uuid4().hex[:6]}", bindings=bindings, exclusive=True)
                    with connection.Consumer([queue], callbacks=[self._keep], accept=["json"]):
                        while not stop.ready():
                            try:
                                connection.drain_events(timeout=0.5)
                            except TimeoutError:
                                pass
            except Exception:  # noqa: BLE001 — the broker was restarted: connect again
                eventlet.sleep(1)

    def _keep(self, body, message):
        message.ack()
        if len(self.sample) < self.keep:
            self.sample.append(body)
        elif self.rng.random() < 0.1:
            self.sample[self.rng.randrange(self.keep)] = body

    def republish(self, fraction):
        chosen = [e for e in self.sample if self.rng.random() < fraction]
        with kombu.Connection(self.amqp_uri) as connection:
            # the broker may be in its outage now (it starts at a share of the needs driven): wait
            # for it, as a station's publisher reconnects, rather than fail the run
            connection.ensure_connection(max_retries=120, interval_start=0.5, interval_step=0.5, interval_max=1)
            producer = connection.Producer(serializer="json")
            for envelope in chosen:
                producer.publish(envelope, exchange=kombu.Exchange(f"{envelope['source']}.events", "topic",
                                                                   durable=True),
                                 routing_key=envelope["type"], message_id=envelope["id"], retry=True)
        self.republished += len(chosen)
        return len(chosen)


def inject_poison(amqp_uri, queues, count):
    """Poison published straight into consumers' queues: half undecodable, half not in the
    catalog. Each must end up, exactly once, in the dead-letter queue of its service."""
    ids = []
    with kombu.Connection(amqp_uri) as connection:
        producer = connection.Producer()
        for i in range(count):
            queue = queues[i % len(queues)]
            message_id = f"poison-{i}"
            if i % 2:
                producer.publish(b"\xff\x00 not json", routing_key=queue, content_type="application/json",
                                 content_encoding="binary", message_id=message_id, retry=True)
            else:
                producer.publish({"id": message_id, "type": "need_registered", "version": 1,
                                  "source": "community", "time": "2026-01-01T00:00:00.000000Z", "data": {}},
                                 routing_key=queue, serializer="json", message_id=message_id, retry=True)
            ids.append(message_id)
    return ids

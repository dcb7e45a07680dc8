"""The faults of a chaos run: killed containers, a stopped broker, republished events, poison."""
import subprocess
import uuid

import eventlet
import kombu
import structlog
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


def broker_outage(seconds, after, stop):
    """Stop the local broker's app for `seconds`, once, `after` seconds into the run."""
    eventlet.sleep(after)
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

"""wushe_broker_connected follows the service's connection to the broker: a TCP relay stands
between the watch and RabbitMQ, and cutting it is the broker going away (the shared broker itself
is never stopped by a test)."""
import time
from urllib.parse import urlsplit, urlunsplit

import eventlet
import pytest
from eventlet.green import socket

from tests.conftest import wait_for
from tests.netports import free_port
from wushe.runtime import metrics
from wushe.runtime.broker_watch import BrokerWatch


class Relay:
    """Forwards 127.0.0.1:port to the broker until cut; refuses connections while cut."""

    def __init__(self, target):
        self.target = target
        self.port = free_port()
        self.pairs = []
        self.listener = None
        self.serving = None

    def open(self):
        self.listener = eventlet.listen(("127.0.0.1", self.port))
        self.serving = eventlet.spawn(self._accept, self.listener)
        return self

    def cut(self):
        self.serving.kill()
        self.listener.close()
        for pair in self.pairs:  # the pipes see the end and close both sides
            for sock in pair:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self.pairs = []

    def _accept(self, listener):
        while True:
            client, _ = listener.accept()
            upstream = socket.create_connection(self.target)
            self.pairs.append((client, upstream))
            eventlet.spawn(self._pipe, client, upstream)
            eventlet.spawn(self._pipe, upstream, client)

    @staticmethod
    def _pipe(source, sink):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except (OSError, EOFError):
            pass
        for sock in (source, sink):
            try:
                sock.close()
            except OSError:
                pass


class Watched:
    name = "broker_watch_test"
    broker = BrokerWatch()


def connected():
    return metrics.BROKER_CONNECTED.labels(Watched.name)._value.get()


def test_the_gauge_follows_the_connection_not_the_last_publish(config, container_factory):
    uri = urlsplit(config["AMQP_URI"])
    relay = Relay((uri.hostname or "127.0.0.1", uri.port or 5672)).open()
    netloc = uri.netloc.rsplit("@", 1)
    through = netloc[0] + "@" if len(netloc) == 2 else ""
    container = container_factory(Watched, {**config, "AMQP_URI": urlunsplit(
        uri._replace(netloc=f"{through}127.0.0.1:{relay.port}"))})
    container.start()
    wait_for(lambda: connected() == 1, timeout=10)

    relay.cut()  # the broker goes away
    went = time.monotonic()
    wait_for(lambda: connected() == 0, timeout=10)
    assert time.monotonic() - went < 5
    eventlet.sleep(3)
    assert connected() == 0  # and stays 0 while it is away: nothing to reconnect to

    relay.open()  # back
    wait_for(lambda: connected() == 1, timeout=10)

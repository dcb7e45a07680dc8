"""`wushe_broker_connected`: whether the service is connected to the broker now, not whether its
last publish went through (a service that publishes nothing for a while would keep a stale 1).

A managed thread of every service keeps a connection of its own to the broker, with AMQP
heartbeats, and looks at it every second: it reads what the broker sent (heartbeats; a closed
socket fails at once), checks that heartbeats keep coming (`heartbeat_check`: none for two
intervals is a broker gone without closing the socket) and sets the gauge to 1 while the
connection is open, 0 when it is not. It reconnects on the next look, so the gauge is back to 1
within a second or two of the broker's return. One idle connection per service instance.
"""
import socket

import eventlet
import structlog
from kombu import Connection
from nameko.extensions import DependencyProvider

from wushe.runtime import metrics

log = structlog.get_logger("wushe.runtime.broker")

HEARTBEAT_SECONDS = 4    # a broker that sends nothing for two of them is taken as gone
LOOK_SECONDS = 1.0       # between looks (spent reading the connection)
CONNECT_TIMEOUT = 2


class BrokerWatch(DependencyProvider):

    def setup(self):
        self.uri = self.container.config["AMQP_URI"]
        self.gauge = metrics.BROKER_CONNECTED.labels(self.container.service_name)
        self.connection = None
        self.up = None
        self.stopping = False

    def start(self):
        self.container.spawn_managed_thread(self._watch_forever, identifier="broker-watch")

    def stop(self):
        self.stopping = True
        self._close(graceful=True)

    def kill(self):
        self.stopping = True
        self._close(graceful=False)

    def look(self, wait=LOOK_SECONDS):
        """One look at the connection (connecting it first when it is not), the gauge set as
        soon as it is known, then `wait` seconds spent reading the connection: True when open."""
        connection = self.connection
        try:
            if connection is None:
                connection = self.connection = Connection(
                    self.uri, heartbeat=HEARTBEAT_SECONDS, connect_timeout=CONNECT_TIMEOUT)
                connection.connect()
            connection.heartbeat_check()  # raises when the broker's heartbeats stopped coming
            up = bool(connection.connected)
            self._set(up)
            try:
                connection.drain_events(timeout=wait)  # heartbeats; a closed socket fails at once
            except socket.timeout:
                pass  # nothing but time passed: the usual case
            return up
        except Exception as exc:  # noqa: BLE001 — refused, reset, closed, heartbeats missed: not connected
            self._close(graceful=False)
            if self.stopping:
                return False  # the container's own stop closed it: nothing to report
            if self.up is not False:
                log.warning("broker.disconnected", service=self.container.service_name,
                            error=f"{type(exc).__name__}: {exc}"[:300])
            self._set(False)
            return False

    def _set(self, up):
        if up and self.up is False:
            log.info("broker.reconnected", service=self.container.service_name)
        self.up = up
        self.gauge.set(1 if up else 0)

    def _watch_forever(self):
        while True:
            if not self.look():
                eventlet.sleep(LOOK_SECONDS)  # a refused connection answers at once

    def _close(self, graceful):
        connection, self.connection = self.connection, None
        if connection is None:
            return
        try:
            connection.release() if graceful else connection.collect()
        except Exception:  # noqa: BLE001 — it is being thrown away
            pass

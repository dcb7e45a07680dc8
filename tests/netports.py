"""A free TCP port on the loopback, for a test's gateway, store server or metrics.

Chosen below the kernel's ephemeral range (32768–60999 on Linux), which the broker, store and
HTTP clients of every process take their outgoing ports from: a port from there could be taken
by an outgoing connection between our choosing it and a process binding it. And free with the
few ports after it, since extra gateway instances listen on the next ports (wushe.ops.scale)."""
import collections
import random
import socket

LOW, HIGH = 20000, 32000
# the ports handed out last: a test picks several before it binds any (a topology's gateway and
# metrics ports), and a port still free must not be handed out twice meanwhile; the recent ones
# only, so that a whole session never runs out
_given = collections.deque(maxlen=256)


def _free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port(run=4):
    """A port free with the `run - 1` ports after it."""
    for _ in range(1000):
        port = random.randrange(LOW, HIGH - run)
        wanted = range(port, port + run)
        if not any(p in given for given in _given for p in wanted) and all(_free(p) for p in wanted):
            _given.append(wanted)
            return port
    raise RuntimeError(f"no {run} consecutive free ports between {LOW} and {HIGH}")

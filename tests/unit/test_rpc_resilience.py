"""An ack on a connection that just dropped must not kill a container (nameko lets a socket
error through, and the thread's death takes the container with it). A call's arguments are
checked against the method's signature as nameko checks them."""
import pytest
from nameko.exceptions import IncorrectSignature
from nameko.rpc import Rpc

from wushe.runtime.rpc import ResilientQueueConsumer, ResilientRpc, RpcProxy


class DroppedMessage:
    class channel:
        connection = object()  # still looks alive: the reset comes on the write

    def ack(self):
        raise ConnectionResetError(104, "Connection reset by peer")

    def requeue(self):
        raise ConnectionResetError(104, "Connection reset by peer")


@pytest.mark.parametrize("method", ["ack_message", "requeue_message"])
def test_an_ack_on_a_reset_connection_is_survived(method):
    getattr(ResilientQueueConsumer(), method)(DroppedMessage())  # nameko's own would raise


def test_the_gateways_proxies_use_the_resilient_reply_listener():
    from nameko.rpc import QueueConsumer

    with pytest.raises(ConnectionResetError):
        QueueConsumer().ack_message(DroppedMessage())  # what the chaos run caught
    listener = RpcProxy("community").rpc_reply_listener
    assert isinstance(listener.queue_consumer, ResilientQueueConsumer)


class Called:
    def record_milestone(self, org_id, payload, within=""):
        pass

    def stats(self, region):
        pass

    def anything(self, *args, **kwargs):
        pass


class Bound:
    service_cls = Called


CALLS = [((), {}), (("org-1",), {}), (("org-1", {}), {}), (("org-1", {}, "tianjin"), {}),
         (("org-1", {}), {"within": "tianjin"}), (("org-1",), {"payload": {}}), ((), {"org_id": "o", "payload": {}}),
         (("org-1", {}, "tianjin", "extra"), {}), (("org-1", {}), {"nope": 1}), (("org-1", {}), {"org_id": "again"}),
         (("x",), {"region": "y"}), ((1, 2, 3, 4, 5), {"a": 1})]


@pytest.mark.parametrize("method", ["record_milestone", "stats", "anything"])
@pytest.mark.parametrize("args,kwargs", CALLS)
def test_a_calls_arguments_are_refused_as_nameko_refuses_them(method, args, kwargs):
    def bound(entrypoint_cls):
        entrypoint = entrypoint_cls()
        entrypoint.container, entrypoint.method_name = Bound, method
        return entrypoint

    def answer(entrypoint):
        try:
            entrypoint.check_signature(args, kwargs)
        except IncorrectSignature:
            return "refused"
        return "accepted"

    ours = bound(ResilientRpc)
    assert answer(ours) == answer(bound(Rpc))
    assert answer(ours) == answer(bound(Rpc))  # again, from the signature it read the first time

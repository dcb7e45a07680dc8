"""An ack on a connection that just dropped must not kill a container (nameko lets a socket
error through, and the thread's death takes the container with it)."""
import pytest

from wushe.runtime.rpc import ResilientQueueConsumer, RpcProxy


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

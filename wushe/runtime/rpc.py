"""`rpc`: nameko's RPC entrypoint, except that a reply that cannot be sent (the broker dropped
mid-request) is logged instead of killing the service's container, which nameko does with any
worker thread that dies with an error. The request was not acknowledged, so the broker delivers
it again when it is back; the caller has meanwhile had its deadline (504) and may retry.

`RpcProxy`: nameko's, except that acknowledging a reply on a connection that just dropped does
not kill the caller's container either (the chaos run caught the gateway dying so): the reply
still reaches the waiting caller; the broker forgets the reply queue with the connection.

Both consume through `ResilientQueueConsumer` (the event entrypoint too), which also notices a
stop within a tenth of a second, where kombu's default waits up to a second."""
import inspect
import socket

import structlog
from amqp.exceptions import ConnectionError as AmqpConnectionError
from kombu.exceptions import OperationalError
from nameko.messaging import QueueConsumer
from nameko.exceptions import IncorrectSignature
from nameko.rpc import ReplyListener, Rpc, RpcConsumer
from nameko.rpc import RpcProxy as NamekoRpcProxy

from wushe.runtime.errors import from_refusal

log = structlog.get_logger("wushe.runtime.rpc")
CONNECTION_LOST = (OperationalError, AmqpConnectionError, ConnectionError, socket.error)


class ResilientQueueConsumer(QueueConsumer):
    """nameko's queue consumer, treating an ack or requeue on a connection that just dropped as
    what it is: the broker keeps the message unacknowledged (or drops an exclusive queue with
    its connection). nameko's would raise, and kill the whole container.

    It looks at whether it was told to stop between waits for a message of `STOP_NOTICE_SECONDS`;
    kombu's default, a second, was what every stop (a restart, a deploy) waited for nothing."""

    STOP_NOTICE_SECONDS = 0.1

    def consume(self, *args, **kwargs):
        kwargs.setdefault("safety_interval", self.STOP_NOTICE_SECONDS)
        return super().consume(*args, **kwargs)

    def ack_message(self, message):
        try:
            super().ack_message(message)
        except CONNECTION_LOST as exc:
            log.warning("amqp.ack_lost", error=str(exc))

    def requeue_message(self, message):
        try:
            super().requeue_message(message)
        except CONNECTION_LOST as exc:
            log.warning("amqp.requeue_lost", error=str(exc))


class ResilientRpcConsumer(RpcConsumer):
    queue_consumer = ResilientQueueConsumer()


class ResilientRpc(Rpc):
    rpc_consumer = ResilientRpcConsumer()

    def check_signature(self, args, kwargs):
        # nameko's check reads the method's signature afresh on every call (inspect.getcallargs,
        # three times the cost of binding to one read once); the same arguments are refused
        signature = self.__dict__.get("_signature")
        if signature is None:
            signature = self._signature = inspect.signature(getattr(self.container.service_cls, self.method_name))
        try:
            signature.bind(None, *args, **kwargs)
        except TypeError as exc:
            raise IncorrectSignature(str(exc)) from None

    def handle_result(self, message, worker_ctx, result, exc_info):
        answer = from_refusal(exc_info[1]) if exc_info else None
        if answer is not None:  # a rule's refusal, or a lost race: the error the caller understands
            exc_info = (type(answer), answer, exc_info[2])
        try:
            return super().handle_result(message, worker_ctx, result, exc_info)
        except CONNECTION_LOST as exc:
            log.warning("rpc.reply_lost", method=self.method_name, error=str(exc))
            return result, exc_info


rpc = ResilientRpc.decorator


class ResilientReplyListener(ReplyListener):
    queue_consumer = ResilientQueueConsumer()


class RpcProxy(NamekoRpcProxy):
    rpc_reply_listener = ResilientReplyListener()

"""`rpc`: nameko's RPC entrypoint, except that a reply that cannot be sent (the broker dropped
mid-request) is logged instead of killing the service's container, which nameko does with any
worker thread that dies with an error. The request was not acknowledged, so the broker delivers
it again when it is back; the caller has meanwhile had its deadline (504) and may retry."""
import socket

import structlog
from amqp.exceptions import ConnectionError as AmqpConnectionError
from kombu.exceptions import OperationalError
from nameko.rpc import Rpc

log = structlog.get_logger("wushe.rpc")
CONNECTION_LOST = (OperationalError, AmqpConnectionError, ConnectionError, socket.error)


class ResilientRpc(Rpc):
    def handle_result(self, message, worker_ctx, result, exc_info):
        try:
            return super().handle_result(message, worker_ctx, result, exc_info)
        except CONNECTION_LOST as exc:
            log.warning("rpc.reply_lost", method=self.method_name, error=str(exc))
            return result, exc_info


rpc = ResilientRpc.decorator

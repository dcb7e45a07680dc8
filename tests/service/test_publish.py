"""The outbox's publisher on the real broker (each test its own vhost): what arrives is what
nameko's `Publisher` sends, the exchange is declared on a connection's first publish, and a
publish the first attempt cannot make goes through nameko's `Publisher` and its retries."""
import pytest
from kombu import Connection, Exchange, Queue
from kombu.messaging import Producer

from tests.conftest import wait_for
from wushe.runtime.publish import ConfirmedPublisher

EVENT = {"id": "evt-1", "type": "org_matched", "data": {"need_id": "need-1"}}


@pytest.fixture
def exchange():
    return Exchange("orgs.events", type="topic", durable=True)


@pytest.fixture
def arrived(config, exchange):
    """What reaches a queue bound to the exchange (declared here first, so it exists before any
    publish; the publisher declares it again all the same, as on a broker that never saw it)."""
    with Connection(config["AMQP_URI"]) as connection:
        queue = Queue("test-publish", exchange=exchange, routing_key="#", durable=False)(connection.default_channel)
        queue.declare()
        messages = []

        def take():
            message = queue.get(no_ack=True)
            if message is not None:
                messages.append(message)
            return messages
        yield take


def test_a_publish_arrives_as_nameko_would_send_it_with_the_exchange_declared_first(config, exchange, arrived):
    publisher = ConfirmedPublisher(config["AMQP_URI"], [exchange])
    publisher.fallback = None  # the first attempt alone: nameko's path would fail the test

    publisher.publish(EVENT, exchange, "org_matched", "evt-1")
    publisher.publish({**EVENT, "id": "evt-2"}, exchange, "org_matched", "evt-2")

    first, second = wait_for(lambda: arrived() if len(arrived()) >= 2 else None)
    assert first.decode() == EVENT and second.decode()["id"] == "evt-2"
    assert first.properties["message_id"] == "evt-1" and first.properties["delivery_mode"] == 2
    assert first.content_type == "application/json" and first.content_encoding == "utf-8"
    assert first.delivery_info["routing_key"] == "org_matched"


def test_on_a_broker_that_never_saw_the_exchange_the_first_publish_declares_it(config):
    fresh = Exchange("charity.events", type="topic", durable=True)
    publisher = ConfirmedPublisher(config["AMQP_URI"], [fresh])
    publisher.fallback = None

    publisher.publish(EVENT, fresh, "org_matched", "evt-1")  # a missing exchange would close the channel

    with Connection(config["AMQP_URI"]) as connection:
        fresh(connection.default_channel).declare(passive=True)  # raises NOT_FOUND when absent


def test_what_the_first_attempt_cannot_publish_goes_through_nameko_publisher(config, exchange, arrived, monkeypatch):
    publisher = ConfirmedPublisher(config["AMQP_URI"], [exchange])
    real, attempts = Producer.publish, []

    def first_fails(self, body, *args, retry=False, **kwargs):
        attempts.append(retry)
        if len(attempts) == 1:
            raise ConnectionResetError("the broker went away")
        return real(self, body, *args, retry=retry, **kwargs)

    monkeypatch.setattr(Producer, "publish", first_fails)
    publisher.publish(EVENT, exchange, "org_matched", "evt-1")

    assert attempts == [False, True]  # the first attempt without kombu's retries, then nameko's with them
    (message,) = wait_for(arrived)
    assert message.properties["message_id"] == "evt-1"


def test_when_nameko_publisher_fails_too_the_caller_is_told(config, exchange, monkeypatch):
    publisher = ConfirmedPublisher(config["AMQP_URI"], [exchange])

    def always_fails(self, *args, **kwargs):
        raise ConnectionResetError("the broker is away")

    monkeypatch.setattr(Producer, "publish", always_fails)
    with pytest.raises(ConnectionResetError):
        publisher.publish(EVENT, exchange, "org_matched", "evt-1")

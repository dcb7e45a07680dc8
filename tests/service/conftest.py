"""Service tests: one service's container on real RabbitMQ, driven by the events it consumes."""
import pytest
from nameko.standalone.events import event_dispatcher

from wushe.contract.events import new_event


@pytest.fixture
def publish(config):
    """Publish a Wushe envelope on its source's exchange, as that service's outbox would."""
    dispatch = event_dispatcher(config)

    def publish(envelope):
        dispatch(envelope["source"], envelope["type"], envelope)
        return envelope
    return publish


def need_registered(need_id="need-t1", community="tianjin/binhai/taida/xinghua", category="errands",
                    urgency="high", **requirements):
    street = community.rsplit("/", 1)[0]
    return new_event("community", "need_registered", {
        "need_id": need_id, "community": community, "street": street, "district": street.rsplit("/", 1)[0],
        "category": category, "urgency": urgency, "registered_at": "2026-11-23T08:00:00.000000Z",
        "requirements": {"worker": True, "organisation": True, "volunteers": None, "resources": None,
                         **requirements}})


def need_cancelled(need_id="need-t1", community="tianjin/binhai/taida/xinghua"):
    return new_event("community", "need_cancelled", {"need_id": need_id, "community": community,
                                                     "reason": "resident moved"})

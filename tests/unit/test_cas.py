"""wushe.runtime.cas: a decision is written only on the document it was made from; a lost race is
decided again on a fresh read; a document not there is created by its first change."""
import mongomock
import pytest

from tests.unit.helpers import NEED_ID
from wushe.runtime import cas
from wushe.contract.decisions import Change, Event, Refused

AT = "2026-11-23T08:00:00.000000Z"


@pytest.fixture
def calls():
    return mongomock.MongoClient().db.calls


def claim(volunteer):
    """A rule: one more claim while a slot is free."""
    def decide(call):
        if len(call["claimed"]) >= call["slots"]:
            raise Refused("the call is full")
        return Change({"claimed": call["claimed"] + [volunteer]},
                      (Event("call_claimed", {"need_id": NEED_ID, "community": "tianjin/binhai/taida/xinghua",
                                              "call_id": "call-1", "volunteer_id": volunteer,
                                              "slots": call["slots"]}),))
    return decide


def test_a_change_is_written_with_its_events_and_the_next_version(calls):
    calls.insert_one({"_id": "call-1", "slots": 2, "claimed": [], "version": 0})
    after, change = cas.change(calls, "call-1", claim("vol-1"), source="volunteers", at=AT)
    assert after["claimed"] == ["vol-1"] and after["version"] == 1
    assert [(e["type"], e["source"], e["time"]) for e in after["outbox"]] == [("call_claimed", "volunteers", AT)]
    assert change.fields == {"claimed": ["vol-1"]}


def test_a_race_lost_is_decided_again_on_what_won(calls):
    calls.insert_one({"_id": "call-1", "slots": 1, "claimed": [], "version": 0})
    rival = {"done": False}

    def decide(call):
        if not rival["done"]:  # another worker claims the last slot between our read and our write
            rival["done"] = True
            calls.update_one({"_id": "call-1"}, {"$set": {"claimed": ["vol-2"], "version": 1}})
        return claim("vol-1")(call)

    with pytest.raises(Refused, match="the call is full"):
        cas.change(calls, "call-1", decide, source="volunteers", at=AT)
    assert calls.find_one()["claimed"] == ["vol-2"]


def test_nothing_to_do_writes_nothing_and_a_missing_document_is_created_by_its_first_change(calls):
    calls.insert_one({"_id": "call-1", "slots": 1, "claimed": [], "version": 0})
    doc, change = cas.change(calls, "call-1", lambda call: None, source="volunteers", at=AT)
    assert change is None and doc["version"] == 0
    made, _ = cas.change(calls, "call-2", lambda call: Change({"slots": 3, "claimed": []}, appended={"seen": "e-1"}),
                         source="volunteers", at=AT)
    assert calls.find_one({"_id": "call-2"}) == {**made, "_id": "call-2", "slots": 3, "claimed": [], "version": 1,
                                                  "seen": ["e-1"]}


def test_a_record_that_keeps_changing_gives_contention(calls):
    calls.insert_one({"_id": "call-1", "slots": 9, "claimed": [], "version": 0})

    def always_overtaken(call):
        calls.update_one({"_id": "call-1"}, {"$inc": {"version": 1}})
        return claim("vol-1")(call)

    with pytest.raises(cas.Contention, match="changing too fast"):
        cas.change(calls, "call-1", always_overtaken, source="volunteers", at=AT, attempts=5)
    assert calls.find_one()["claimed"] == [] and calls.find_one()["version"] == 5


def test_the_document_after_is_what_the_store_holds_with_only_the_changes_own_events(calls):
    """Made from the document read and the change (not sent back by the store): the same
    document, appended values and version included, its outbox holding only this change's
    events (another writer's pending ones are theirs to publish); a change naming a path into
    the document is written and read back by the store."""
    pending = {"id": "theirs", "type": "call_opened", "time": AT}
    calls.insert_one({"_id": "call-1", "slots": 3, "claimed": [], "version": 4, "seen": ["e-0"], "outbox": [pending]})
    for n, volunteer in enumerate(["vol-1", "vol-2"], start=1):
        def decide(call, volunteer=volunteer, n=n):
            claimed = claim(volunteer)(call)
            return Change(claimed.fields, claimed.events, appended={"seen": f"e-{n}"})
        after, change = cas.change(calls, "call-1", decide, source="volunteers", at=AT)
        stored = calls.find_one({"_id": "call-1"})
        assert [e["data"]["volunteer_id"] for e in after["outbox"]] == [volunteer]
        assert after == {**stored, "outbox": stored["outbox"][-1:]}
    assert stored["version"] == 6 and stored["seen"] == ["e-0", "e-1", "e-2"] and stored["claimed"] == ["vol-1", "vol-2"]
    assert [e["id"] for e in stored["outbox"]][0] == "theirs"
    nested, _ = cas.change(calls, "call-1", lambda call: Change({"team.lead": "vol-1"}), source="volunteers", at=AT)
    assert nested == {k: v for k, v in calls.find_one({"_id": "call-1"}).items() if k != "outbox"}
    assert nested["team"] == {"lead": "vol-1"} and nested["version"] == 7

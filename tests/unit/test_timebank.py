"""services.volunteers.timebank: the time bank's double entries."""
import pytest

from services.volunteers import timebank
from wushe.contract.decisions import Refused

AT1, AT2 = "2026-11-23T08:00:00.000000Z", "2026-11-23T09:00:00.000000Z"


def test_every_transaction_balances():
    for kind, payer, payee in (("credit", timebank.ISSUED, "v1"), ("redemption", "v1", timebank.REDEEMED),
                               ("transfer", "v1", "v2")):
        txn = timebank.transaction("t", kind, payer, payee, 1.234, AT1)
        assert sum(leg["hours"] for leg in txn["legs"]) == 0 and txn["hours"] == 1.23
        assert txn["accounts"] == [payer, payee]


def test_an_account_sees_signed_entries_and_its_balance():
    txns = [timebank.transaction("c1", "credit", timebank.ISSUED, "v1", 4, AT1, call_id="call-1"),
            timebank.transaction("t1", "transfer", "v1", "v2", 1.5, AT2)]
    entries = timebank.entries_for("v1", txns)
    assert [(e["txn_id"], e["hours"], e["counterparty"]) for e in entries] == [("t1", -1.5, "v2"),
                                                                               ("c1", 4, timebank.ISSUED)]
    assert entries[1]["call_id"] == "call-1"
    assert (timebank.balance_of("v1", txns), timebank.balance_of("v2", txns),
            timebank.balance_of(timebank.ISSUED, txns)) == (2.5, 1.5, -4)


def test_credit_ids_are_per_call_and_volunteer():
    assert timebank.credit_id("call-1", "v1") == timebank.credit_id("call-1", "v1") != timebank.credit_id("call-1", "v2")


def test_no_transfer_to_oneself():
    assert timebank.transfer_refused("v1", "v1") and timebank.transfer_refused("v1", "v2") is None


CALL = {"_id": "call-1", "need_id": "need-1", "community": "tianjin/binhai/taida/xinghua"}
VOLUNTEER = {"_id": "v1", "community": "tianjin/binhai/taida/xinghua", "hours_balance": 1.5}


def test_a_credit_is_one_transaction_per_call_and_volunteer_announced_as_a_draft():
    made = timebank.credit(CALL, "v1", 2.5, AT1)
    assert made.fields["_id"] == timebank.credit_id("call-1", "v1")
    assert made.fields["accounts"] == [timebank.ISSUED, "v1"]
    assert [(e.type, e.data["hours"], e.data["need_id"]) for e in made.events] == [("hours_credited", 2.5, "need-1")]


def test_redemptions_and_transfers_announce_the_movement_and_answer_it():
    redeemed = timebank.redemption("t1", VOLUNTEER, 1, "理发", "family", AT1)
    assert redeemed.fields["legs"][1]["account"] == timebank.REDEEMED and redeemed.fields["service"] == "理发"
    assert (redeemed.events[0].type, redeemed.events[0].data["beneficiary"]) == ("hours_redeemed", "family")
    assert redeemed.answer == {"txn_id": "t1", "kind": "redemption", "hours": 1.0}
    moved = timebank.transfer("t2", VOLUNTEER, "v2", 1, AT1)
    assert (moved.events[0].type, moved.events[0].data["to_volunteer_id"]) == ("hours_transferred", "v2")
    with pytest.raises(Refused) as oneself:
        timebank.transfer("t3", VOLUNTEER, "v1", 1, AT1)
    assert oneself.value.kind == Refused.INVALID and list(oneself.value.fields) == ["to_volunteer_id"]


def test_a_debit_that_wrote_nothing_says_why_and_only_a_transfer_pays_apart():
    txn = timebank.transaction("t1", "transfer", "v1", "v2", 2, AT1)
    assert str(timebank.not_debited(VOLUNTEER, txn, made_already=True)) == "transaction t1 was already made"
    assert str(timebank.not_debited(VOLUNTEER, txn, made_already=False)) == \
        "the balance (1.5 h) does not cover 2 h"
    assert timebank.payee_paid_apart("v1", txn) == "v2"
    assert timebank.payee_paid_apart("v1", timebank.credit(CALL, "v1", 1, AT1).fields) is None
    assert timebank.payee_paid_apart("v1", timebank.redemption("t2", VOLUNTEER, 1, "理发", "self", AT1).fields) is None

"""services.volunteers.timebank: the time bank's double entries."""
from services.volunteers import timebank

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

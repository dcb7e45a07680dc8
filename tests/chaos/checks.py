"""What must hold once a chaos run is quiet, read straight from each service's store.

The redeliveries and duplicates come from the Prometheus registry of this process in container
mode; in process mode each process has its own, lost when it is killed, so they are counted from
the processes' JSON log lines instead (`counted_in_logs`)."""
import json

import requests
from prometheus_client import REGISTRY

from wushe.ops import dlq

from wushe.runtime import outbox
from wushe.contract.linkage import PARTS
from wushe.runtime.store import database
from wushe.runtime.subscribe import DUPLICATE

UNSETTLED = {"pending", "open"}


def stores(settings):
    return {name: database(settings, name) for name in ("community", "orgs", "workers", "volunteers",
                                                        "charity", "gateway")}


def unsettled(need):
    """Not yet in a terminal linkage state. A cancelled need is settled once nothing is left
    open or reserved for it (parties that never acted on it leave their part `pending`)."""
    parts = {p: need["linkage"][p]["state"] for p in PARTS}
    if need["status"] == "cancelled":
        return parts["volunteers"] in ("open", "filled") or parts["resources"] == "pledged"
    return need["status"] in ("registered", "linking") or any(s in UNSETTLED for s in parts.values())


def unsettled_needs(db):
    return [n["_id"] for n in db["community"].needs.find({}, {"status": 1, "linkage": 1}) if unsettled(n)]


def cancelled_leftovers(db):
    """Cancelled needs that still hold an open case, an open or filled call, or reserved stock."""
    cancelled = [n["_id"] for n in db["community"].needs.find({"status": "cancelled"}, {"_id": 1})]
    cases = db["workers"].cases.count_documents({"need_id": {"$in": cancelled}, "state": "open"})
    calls = db["volunteers"].calls.count_documents({"need_id": {"$in": cancelled}, "state": {"$in": ["open", "filled"]}})
    reserved = sum(1 for lot in db["charity"].lots.find({"pledges.need_id": {"$in": cancelled}})
                   for p in lot["pledges"] if p["need_id"] in cancelled and p["state"] == "reserved")
    return cases + calls + reserved


def pending_outbox(db):
    return sum(len(doc.get("outbox") or []) for name, database_ in db.items()
               for collection in database_.list_collection_names()
               for doc in database_[collection].find(outbox.PENDING, {"outbox": 1}))


def queued(management, vhost):
    """(messages waiting in live queues, messages in dead-letter queues) per the management API."""
    queues = requests.get(f"{management}/api/queues/{requests.utils.quote(vhost, safe='')}",
                          auth=("guest", "guest"), timeout=10).json()
    # a reply queue nobody consumes belongs to a gateway container the run killed: replies
    # addressed to a caller that no longer exists, not traffic waiting to be handled
    live = {q["name"]: q.get("messages", 0) for q in queues
            if not q["name"].endswith(".dead") and not q["name"].startswith("chaos-tap")
            and not (q["name"].startswith("rpc.reply-") and not q.get("consumers"))}
    return {k: v for k, v in live.items() if v}, sum(q.get("messages", 0) for q in queues
                                                      if q["name"].endswith(".dead"))


def counter(name, **labels):
    total = 0
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def counted_in_logs(text):
    """(redeliveries, duplicates) in the processes' log lines: `event.redelivered` (the broker's
    redelivered flag), and `event.handled` with outcome `duplicate` — the same events as the
    counters wushe_events_redelivered_total and wushe_events_handled_total{outcome="duplicate"}."""
    redelivered = duplicates = 0
    for line in text.splitlines():
        if not line.startswith("{") or '"event.' not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut short by a kill -9
        if record.get("event") == "event.redelivered":
            redelivered += 1
        elif record.get("event") == "event.handled" and record.get("outcome") == DUPLICATE:
            duplicates += 1
    return redelivered, duplicates


def acknowledged(db, driver):
    """Every write the platform acknowledged is still there, kill -9 of the store or not:
    [(check, value, expected, ok)] for the needs answered 202, the claims and the donations
    answered 201. The driver never withdraws a claim, and a cancelled need's call keeps its
    claimed list (only its state changes), so every claim answered 201 must still be held."""
    needs = {n["_id"]: n for n in db["community"].needs.find({"_id": {"$in": sorted(driver.accepted)}},
                                                             {"status": 1, "linkage": 1})}
    lost_needs = [i for i in driver.accepted if i not in needs or unsettled(needs[i])]
    calls = {c["_id"]: c for c in db["volunteers"].calls.find(
        {"_id": {"$in": sorted({call for call, _ in driver.claims})}}, {"claimed": 1, "waiting": 1})}
    lost_claims = [(call, volunteer) for (call, volunteer), status in driver.claims.items()
                   if call not in calls or volunteer not in calls[call]["claimed"]
                   + (calls[call].get("waiting", []) if status == "waiting" else [])]
    donations = {d["_id"]: d for d in db["charity"].donations.find({"_id": {"$in": sorted(driver.donations)}})}
    lots = {lot["_id"]: lot for lot in db["charity"].lots.find(
        {"_id": {"$in": sorted(lot for made in driver.donations.values() for lot in made)}}, {"quantity": 1})}
    lost_donations = [d for d, made in driver.donations.items() if d not in donations or any(
        lot not in lots or abs(lots[lot]["quantity"] - quantity) > 1e-9 for lot, quantity in made.items())]
    return [
        (f"needs answered 202 missing or unsettled (of {len(driver.accepted)})", len(lost_needs), 0, not lost_needs),
        (f"claims answered 201 not held by their call (of {len(driver.claims)})", len(lost_claims), 0,
         not lost_claims),
        (f"donations answered 201 missing or without their lots (of {len(driver.donations)})", len(lost_donations),
         0, not lost_donations),
    ], lost_needs[:5] + lost_claims[:5] + lost_donations[:5]


def run_checks(db, driver, amqp_uri, management, vhost, poison_ids, counted=None):
    """[(check, value, expected, ok)]. `counted`: (redeliveries, duplicates) when they are not
    this process's counters (process mode)."""
    rows = []

    def row(check, value, expected, ok):
        rows.append((check, value, expected, bool(ok)))

    needs = list(db["community"].needs.find({}, {"status": 1, "linkage": 1}))
    row("needs registered (community = driver)", len(needs), len(driver.registered),
        len(needs) == len(driver.registered))
    row("needs not in a terminal linkage state", len(unsettled_needs(db)), 0, not unsettled_needs(db))

    leftovers = cancelled_leftovers(db)
    row("cancelled needs still holding a case, a call or stock", leftovers, 0, leftovers == 0)

    views = {v["_id"]: v for v in db["gateway"].need_views.find({}, {"status": 1, "linkage": 1})}
    disagree = [n["_id"] for n in needs if n["_id"] not in views or views[n["_id"]]["status"] != n["status"]
                or any(views[n["_id"]]["linkage"][p]["state"] != n["linkage"][p]["state"] for p in PARTS)]
    row("read model disagreeing with community", len(disagree), 0, not disagree)

    over = [c["_id"] for c in db["volunteers"].calls.find() if len(c["claimed"]) > c["slots"]
            or len(set(c["claimed"])) != len(c["claimed"])]
    row("calls with more claims than slots", len(over), 0, not over)

    bad_lots = []
    for lot in db["charity"].lots.find():
        reserved = sum(p["quantity"] - p.get("delivered", 0) for p in lot["pledges"] if p["state"] == "reserved")
        delivered = sum(p.get("delivered", 0) for p in lot["pledges"])
        if (lot["reserved"] + lot["delivered"] > lot["quantity"] + 1e-9 or abs(lot["reserved"] - reserved) > 1e-9
                or abs(lot["delivered"] - delivered) > 1e-9
                or abs(lot["available"] - (lot["quantity"] - reserved - delivered)) > 1e-9
                or len({p["pledge_id"] for p in lot["pledges"]}) != len(lot["pledges"])):
            bad_lots.append(lot["_id"])
    row("lots over quantity or mis-accounted", len(bad_lots), 0, not bad_lots)

    doubled, wrong = [], []
    expected_hours = {}
    for (call_id, volunteer), hours in driver.credited.items():
        expected_hours[volunteer] = expected_hours.get(volunteer, 0) + hours
    for v in db["volunteers"].volunteers.find():
        if len(set(v["credited_calls"])) != len(v["credited_calls"]):
            doubled.append(v["_id"])
        if abs(v["hours_balance"] - expected_hours.get(v["_id"], 0)) > 1e-9:
            wrong.append(v["_id"])
    row("volunteers credited twice for a call", len(doubled), 0, not doubled)
    row("time bank balances differing from confirmed completions", len(wrong), 0, not wrong)

    caseload = [w["_id"] for w in db["workers"].workers.find()
                if w["caseload"] != len(w["cases"]) or w["caseload"] > w["max_caseload"]
                or w["caseload"] != db["workers"].cases.count_documents({"worker_id": w["_id"], "state": "open"})]
    row("workers whose caseload disagrees with their open cases", len(caseload), 0, not caseload)

    incubations = {}
    for org in db["orgs"].organisations.find({"stage": "incubating"}):
        key = (org["community"], tuple(org["categories"]))
        incubations[key] = incubations.get(key, 0) + 1
    row("communities with two incubations of one category", sum(n > 1 for n in incubations.values()), 0,
        all(n == 1 for n in incubations.values()))

    row("outbox entries pending", pending_outbox(db), 0, pending_outbox(db) == 0)
    waiting, dead = queued(management, vhost)
    row("messages waiting in live queues", sum(waiting.values()), 0, not waiting)
    parked = {p.id for service in dlq.SERVICES for p in dlq.browse(amqp_uri, service, limit=10_000)}
    row("parked messages (= poison injected)", len(parked), len(poison_ids), parked == set(poison_ids))
    if counted is None:
        counted = counter("wushe_events_redelivered_total"), counter("wushe_events_handled_total", outcome="duplicate")
    redelivered, duplicates = counted
    row("redeliveries seen (> 0: the faults happened)", int(redelivered), "> 0", redelivered > 0)
    row("duplicates absorbed (> 0)", int(duplicates), "> 0", duplicates > 0)
    return rows


def evidence(db, most=5):
    """The records behind violations, for the one who has to find the bug."""
    import json
    lines = []
    for need_id in unsettled_needs(db)[:most] + [n["_id"] for n in db["community"].needs.find(
            {"status": "cancelled"}, {"_id": 1})][:0]:
        need = db["community"].needs.find_one({"_id": need_id}, {"outbox": 0})
        lines.append(f"  unsettled {need_id}: status={need['status']} " + json.dumps(
            {p: need["linkage"][p]["state"] for p in PARTS}))
        call = db["volunteers"].calls.find_one({"need_id": need_id}, {"outbox": 0})
        if call:
            lines.append(f"    call {call['_id']}: state={call['state']} claimed={call['claimed']} slots={call['slots']}")
        lines.append(f"    applied events: {len(need['applied'])}")
    cancelled = [n["_id"] for n in db["community"].needs.find({"status": "cancelled"}, {"_id": 1})]
    for case in db["workers"].cases.find({"need_id": {"$in": cancelled}, "state": "open"}).limit(most):
        lines.append(f"  cancelled {case['need_id']} still has open case {case['_id']}")
    for call in db["volunteers"].calls.find({"need_id": {"$in": cancelled}, "state": {"$in": ["open", "filled"]}}).limit(most):
        lines.append(f"  cancelled {call['need_id']} still has call {call['_id']} {call['state']}")
    for lot in db["charity"].lots.find():
        reserved = sum(p["quantity"] - p.get("delivered", 0) for p in lot["pledges"] if p["state"] == "reserved")
        if abs(lot["reserved"] - reserved) > 1e-9 or abs(lot["available"] - (lot["quantity"] - lot["reserved"] - lot["delivered"])) > 1e-9:
            lines.append(f"  lot {lot['_id']}: quantity={lot['quantity']} reserved={lot['reserved']} (pledges say {reserved}) "
                         f"delivered={lot['delivered']} available={lot['available']}")
            for p in lot["pledges"]:
                if p["need_id"] in cancelled or p["state"] != "reserved":
                    lines.append(f"    pledge {p['pledge_id']} need={p['need_id']} {p['state']} {p['quantity']}")
    return lines

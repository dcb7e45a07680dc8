"""Logs: one JSON line per event handled, carrying the need and correlation ids, so one need
can be followed across services (the README's jq recipe)."""
import json

import pytest

from tests.e2e.world import need, ok, seed

pytestmark = pytest.mark.e2e


def test_one_line_per_event_handled_follows_a_need_across_services(platform, log_lines):
    seed(platform)
    need_id = ok(platform.post("/needs", need(volunteers=1, rice=5)), 202)["id"]
    call_id = platform.wait_need(need_id, lambda n: n["linkage"]["volunteers"].get("call_id"))[
        "linkage"]["volunteers"]["call_id"]
    ok(platform.post(f"/calls/{call_id}/claims", {"volunteer_id": "vol-0"}), 201)
    platform.wait_need(need_id, lambda n: "need_linked" in [e["type"] for e in n["timeline"]])

    lines = [json.loads(line) for line in log_lines.getvalue().splitlines() if line.startswith("{")]
    handled = [l for l in lines if l.get("event") == "event.handled" and l.get("need_id") == need_id]
    # the recipe: jq 'select(.need_id == "need-…" and .event == "event.handled")'
    assert {l["service"] for l in handled} >= {"community", "orgs", "workers", "volunteers", "charity", "gateway"}
    for line in handled:
        assert line["correlation_id"] == need_id and line["event_type"] and line["event_id"]
        assert line["outcome"] in ("ok", "duplicate") and line["duration_ms"] >= 0
    # exactly one line per (service, event) applied; a copy delivered again (the outbox relay
    # republishes what it has not seen confirmed in time) has its own line, as a duplicate
    keys = [(l["service"], l["entrypoint"], l["event_id"]) for l in handled if l["outcome"] == "ok"]
    assert len(keys) == len(set(keys))
    registered = [l for l in handled if l["event_type"] == "need_registered"]
    assert {l["service"] for l in registered} >= {"orgs", "workers", "volunteers", "charity", "gateway"}

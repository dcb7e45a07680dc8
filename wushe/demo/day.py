"""`make demo`: a day of Taida street (泰达街道) driven through the gateway of a running platform.

Residents' needs arrive across the day's usual categories — errands for elders living alone,
food for families short of it, hospital escorts, home repairs, children after school —
couriers and neighbours grab the calls (抢单) and log their hours, a grain company's donation
arrives at midday, and at the end the figures a station reports are printed, like those the
seed articles quote (needs linked, median time to link, hours, value linked).
"""
import random
import statistics
import sys
import time
import uuid

import requests

from wushe import demo
from wushe.contract.clock import parse

TAIDA = demo.TAIDA
COMMUNITIES = [f"{TAIDA}/xinghua", f"{TAIDA}/huayuan"]
# (category, share of the day, what it asks for)
MIX = [
    ("errands", 30, {"volunteers": {"count": 1, "skills": ["errands"], "hours": 1.0}}),
    ("elderly_care", 20, {"volunteers": {"count": 1, "skills": ["errands"], "hours": 2.0}}),
    ("hardship_relief", 20, {"resources": [{"item": "rice", "quantity": 5, "unit": "kg"},
                                           {"item": "oil", "quantity": 2, "unit": "L"}]}),
    ("medical_escort", 10, {"volunteers": {"count": 1, "skills": ["escort"], "hours": 3.0}}),
    ("child_care", 10, {"volunteers": {"count": 2, "skills": ["errands"], "hours": 2.0}}),
    ("home_repair", 10, {"resources": [{"funds_cents": 20000}]}),
]
URGENCY = [("critical", 5), ("high", 30), ("normal", 55), ("low", 10)]
NEIGHBOURS = [("快递小哥", ["errands", "delivery"]), ("外卖骑手", ["errands"]), ("退休教师", ["errands", "escort"]),
              ("楼长", ["errands", "escort"])]


class Day:
    def __init__(self, base_url, admin_key, out=sys.stdout, rng=None):
        self.base, self.out, self.rng = base_url.rstrip("/") + "/api/v1", out, rng or random.Random(7)
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {admin_key}"
        self.key = admin_key
        self.run_id = uuid.uuid4().hex[:6]

    def post(self, path, body, expect=(200, 201, 202)):
        answer = self.session.post(self.base + path, json=body, timeout=30)
        if answer.status_code not in expect:
            raise RuntimeError(f"POST {path}: {answer.status_code} {answer.text[:300]}")
        return answer.json() if answer.content else None

    def get(self, path):
        answer = self.session.get(self.base + path, timeout=30)
        answer.raise_for_status()
        return answer.json()

    def progress(self, label, done, total):
        filled = int(30 * done / max(total, 1))
        self.out.write(f"\r  {label:<22} [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}")
        if done >= total:
            self.out.write("\n")
        self.out.flush()

    # the day -----------------------------------------------------------------------------------
    def run(self, needs=40, settle_seconds=60):
        self.out.write(f"泰达街道的一天 — {needs} needs through {self.base}\n")
        demo.load(self.base.removesuffix("/api/v1"), self.key)
        volunteers = self.neighbours(12)
        ids = []
        for i in range(needs):
            if i == needs // 2:  # midday: a grain company's donation arrives, and open appeals fill
                self.post("/donations", {"donor_id": "donor-grain", "region": "tianjin/binhai", "lines": [
                    {"item": "rice", "quantity": 300, "unit": "kg", "value_cents": 180000},
                    {"item": "oil", "quantity": 100, "unit": "L", "value_cents": 130000}]})
            ids.append(self.need(i))
            self.progress("needs registered", i + 1, needs)
            self.grab(volunteers)
        deadline = time.monotonic() + settle_seconds
        settled = []
        while time.monotonic() < deadline:
            self.grab(volunteers)
            views = [self.get(f"/needs/{need_id}") for need_id in ids]
            settled = [v for v in views if v["status"] in ("linked", "escalated", "resolved")]
            self.progress("needs linked/escalated", len(settled), needs)
            if len(settled) == needs:
                break
            time.sleep(0.5)
        else:
            self.out.write("\n")
        return self.summary(ids)

    def neighbours(self, count):
        made = []
        for i in range(count):
            kind, skills = NEIGHBOURS[i % len(NEIGHBOURS)]
            volunteer_id = f"vol-day-{self.run_id}-{i}"
            self.post("/volunteers", {"id": volunteer_id, "name": f"{kind}{i}", "community": COMMUNITIES[i % 2],
                                      "skills": skills})
            made.append((volunteer_id, set(skills)))
        return made

    def need(self, i):
        category, _, requirements = self.rng.choices(MIX, weights=[w for _, w, _ in MIX])[0]
        urgency = self.rng.choices([u for u, _ in URGENCY], weights=[w for _, w in URGENCY])[0]
        body = {"id": f"need-day-{self.run_id}-{i}", "community": self.rng.choice(COMMUNITIES), "category": category,
                "urgency": urgency, "description": f"{category} · 第{i + 1}件",
                "requirements": {"worker": category in ("elderly_care", "child_care", "hardship_relief"),
                                 "organisation": True, **requirements}}
        return self.post("/needs", body)["id"]

    def grab(self, volunteers):
        """Neighbours grab the open calls they have the skills for, and log their hours."""
        for call in self.get(f"/calls?state=open&community={TAIDA}&limit=200")["items"]:
            able = [v for v, skills in volunteers if set(call["skills"]) <= skills and v not in call["claimed"]]
            for volunteer_id in self.rng.sample(able, min(len(able), call["slots"] - len(call["claimed"]))):
                answer = self.session.post(f"{self.base}/calls/{call['id']}/claims", json={"volunteer_id": volunteer_id},
                                           timeout=30)
                if answer.status_code == 201:
                    self.session.post(f"{self.base}/calls/{call['id']}/completions",
                                      json={"volunteer_id": volunteer_id, "hours": call["hours"]}, timeout=30)

    def summary(self, ids):
        views = [self.get(f"/needs/{need_id}") for need_id in ids]
        linked = [v for v in views if v.get("linked_at")]
        waits = [(parse(v["linked_at"]) - parse(v["registered_at"])).total_seconds() for v in linked]
        stats = self.get(f"/stats?region={TAIDA}")
        figures = {
            "needs registered": len(views),
            "needs linked": len(linked),
            "needs escalated": sum(v["status"] == "escalated" for v in views),
            "median time to link (s)": round(statistics.median(waits), 2) if waits else None,
            "volunteer hours (street)": stats["volunteer_hours"],
            "person-times served (street)": stats["person_times_served"],
            "value linked (元, street)": round(stats["resources_value_cents"] / 100, 2),
            "appeals open": stats.get("appeals_open", 0),
        }
        width = max(map(len, figures))
        self.out.write("\n  " + "-" * (width + 14) + "\n")
        for name, value in figures.items():
            self.out.write(f"  {name:<{width}}  {value!s:>10}\n")
        self.out.write("  " + "-" * (width + 14) + "\n")
        return figures

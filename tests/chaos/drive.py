"""The load of a chaos run, through the gateway as integrators and volunteers would send it:
every request retried through faults (the same Idempotency-Key), claims fired concurrently.

The driver keeps what the platform acknowledged — the needs answered 202, the claims and the
donations answered 201 — so that, once quiet, a check can ask whether each is still there
(`checks.acknowledged`): the store server may have been killed -9 in between."""
import random
import time

import eventlet
import requests

STREET = "tianjin/binhai/taida"
COMMUNITIES = [f"{STREET}/{c}" for c in ("xinghua", "huayuan", "yinhe", "binshui")]
CATEGORIES = ["elderly_care", "errands", "hardship_relief", "medical_escort", "home_repair"]
HOURS = 1.5


class Client:
    def __init__(self, base, key):
        self.base = base
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=64)
        self.session.mount("http://", adapter)
        self.session.headers["Authorization"] = f"Bearer {key}"
        self.retries = 0
        self.statuses = {}  # status → how many answers; 0 for a connection error
        self.in_progress = 0  # 409 "Request in progress" answers, asked again

    def call(self, method, path, body=None, key=None, done=(200, 201, 202, 404, 409, 422), patience=900):
        """Retry on connection errors, 5xx, 429 and "still in progress" until an answer in `done`."""
        headers = {"Idempotency-Key": key} if key else {}
        for _ in range(patience):
            try:
                answer = self.session.request(method, self.base + "/api/v1" + path, json=body,
                                              headers=headers, timeout=20)
                self.statuses[answer.status_code] = self.statuses.get(answer.status_code, 0) + 1
                if in_progress(answer):
                    self.in_progress += 1
                elif answer.status_code in done:
                    return answer
            except requests.RequestException:
                self.statuses[0] = self.statuses.get(0, 0) + 1
            self.retries += 1
            eventlet.sleep(0.3)
        raise RuntimeError(f"{method} {path}: no usable answer after {patience} tries")


def in_progress(answer):
    """The 409 of a request whose Idempotency-Key is still being handled: not an answer, ask again
    (a 409 "exists" is one: what the request would create is there)."""
    if answer.status_code != 409 or "Retry-After" not in answer.headers:
        return False
    try:
        return answer.json().get("title") == "Request in progress"
    except ValueError:
        return False


def set_up(client, workers=20, volunteers=60, rice_kg=3000):
    for path, name, level in [("tianjin", "天津市", "city"), ("tianjin/binhai", "滨海新区", "district"),
                              (STREET, "泰达街道", "street")] + [(c, c.rsplit("/", 1)[1], "community")
                                                             for c in COMMUNITIES]:
        client.call("POST", "/regions", {"path": path, "name": name, "level": level})
    client.call("POST", "/stations", {"id": "station-taida", "name": "泰达街道社会工作服务站", "street": STREET})
    for i in range(workers):
        client.call("POST", "/workers", {"id": f"worker-{i}", "name": f"社工{i}", "station_id": "station-taida",
                                         "certification": "intermediate" if i % 2 else "none",
                                         "specialties": [CATEGORIES[i % len(CATEGORIES)]]})
    for i in range(volunteers):
        client.call("POST", "/volunteers", {"id": f"vol-{i}", "name": f"快递员{i}",
                                            "community": COMMUNITIES[i % len(COMMUNITIES)], "skills": ["errands"]})
    client.call("POST", "/organisations", {"id": "org-repair", "name": "便民维修队", "community": COMMUNITIES[0],
                                           "categories": ["home_repair"]})
    client.call("POST", "/donors", {"id": "donor-grain", "name": "滨海粮油", "kind": "enterprise", "region": STREET})
    client.call("POST", "/donations", {"donor_id": "donor-grain", "region": STREET, "lines": [
        {"item": "rice", "quantity": rice_kg, "unit": "kg", "value_cents": rice_kg * 600},
        {"item": "oil", "quantity": rice_kg // 10, "unit": "L"}]}, key="chaos-donation")


class Driver:
    def __init__(self, client, seed, volunteers=60, donate_every=0, deadline=None):
        self.client = client
        self.seed = seed
        self.volunteers = volunteers
        self.donate_every = donate_every  # a donation of flour with every Nth need (0: none)
        self.deadline = deadline          # time.monotonic() after which no new need is started
        self.credited = {}        # (call id, volunteer id) → hours, as the gateway confirmed
        self.registered = []
        self.accepted = set()     # need ids answered 202
        self.claims = {}          # (call id, volunteer id) → "claimed" | "waiting", answered 201
        self.donations = {}       # donation id → {lot id: quantity}, answered 201
        self.skipped = 0          # needs not started: the deadline had passed

    def need(self, i):
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.skipped += 1
            return
        rng = random.Random(self.seed * 1_000_003 + i)
        if self.donate_every and i % self.donate_every == 0:
            self._donate(i)
        need_id, call_id = f"need-chaos-{i}", f"call-chaos-{i}"
        requirements = {"worker": rng.random() < 0.3, "organisation": rng.random() < 0.5}
        if rng.random() < 0.5:
            requirements["volunteers"] = {"count": rng.randint(1, 3), "skills": ["errands"], "hours": HOURS}
        if rng.random() < 0.5:
            requirements["resources"] = [{"item": "rice", "quantity": rng.randint(1, 10), "unit": "kg"}]
            if rng.random() < 0.2:
                requirements["resources"].append({"item": "oil", "quantity": rng.randint(1, 5), "unit": "L"})
        body = {"id": need_id, "community": rng.choice(COMMUNITIES), "category": rng.choice(CATEGORIES),
                "urgency": rng.choice(["critical", "high", "normal", "low"]), "description": "混沌测试",
                "requirements": requirements}
        answer = self.client.call("POST", "/needs", body, key=f"chaos-{need_id}", done=(202, 409))
        if answer.status_code == 202:
            self.accepted.add(answer.json()["id"])
        self.registered.append(need_id)
        cancel = rng.random()
        if cancel < 0.05:  # cancelled at once, racing the parties
            self.client.call("POST", f"/needs/{need_id}/cancel", {"reason": "家属已处理"})
            return
        if "volunteers" in requirements:
            self._fill(call_id, requirements["volunteers"]["count"], rng)
            if rng.random() < 0.4:
                self._complete(call_id)
        if "resources" in requirements and rng.random() < 0.3:
            self._deliver(need_id)
        if cancel > 0.9:  # cancelled once linked or escalated
            self.client.call("POST", f"/needs/{need_id}/cancel", {"reason": "居民搬离"})

    def _fill(self, call_id, slots, rng):
        self.client.call("GET", f"/calls/{call_id}", done=(200,), patience=600)  # opened by now
        pool = eventlet.GreenPool(slots + 3)
        claimers = rng.sample(range(self.volunteers), slots + 3)
        list(pool.imap(lambda v: self._claim(call_id, f"vol-{v}"), claimers))
        for v in rng.sample(range(self.volunteers), self.volunteers):  # until it fills
            call = self.client.call("GET", f"/calls/{call_id}", done=(200,)).json()
            if call["state"] != "open":
                return
            self._claim(call_id, f"vol-{v}")

    def _claim(self, call_id, volunteer):
        answer = self.client.call("POST", f"/calls/{call_id}/claims", {"volunteer_id": volunteer})
        if answer.status_code == 201:
            self.claims[(call_id, volunteer)] = answer.json()["status"]
        return answer

    def _donate(self, i):
        quantity = 5 + i % 20
        answer = self.client.call("POST", "/donations", {"donor_id": "donor-grain", "region": STREET, "lines": [
            {"item": "flour", "quantity": quantity, "unit": "kg"}]}, key=f"chaos-donation-{i}")
        if answer.status_code == 201:
            body = answer.json()
            self.donations[body["id"]] = {lot["id"]: lot["quantity"] for lot in body["lots"]}

    def _complete(self, call_id):
        call = self.client.call("GET", f"/calls/{call_id}", done=(200,)).json()
        for volunteer in call["claimed"]:
            answer = self.client.call("POST", f"/calls/{call_id}/completions",
                                      {"volunteer_id": volunteer, "hours": HOURS})
            if answer.status_code == 201 or "already credited" in answer.text:
                self.credited[(call_id, volunteer)] = HOURS

    def _deliver(self, need_id):
        for _ in range(600):
            view = self.client.call("GET", f"/needs/{need_id}", done=(200, 404)).json()
            resources = (view.get("linkage") or {}).get("resources", {})
            if resources.get("state") not in (None, "pending"):
                for pledge in resources.get("pledges", []):
                    self.client.call("POST", f"/pledges/{pledge['pledge_id']}/delivery")
                return
            eventlet.sleep(0.1)

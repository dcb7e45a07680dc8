"""API keys, the route × role table and region scopes, through the HTTP API.

The matrix: every route the gateway serves × every role × a key whose region holds the record
("in") and one whose region does not ("out"). Every cell is asserted: a role not in the table
gets 403; an allowed key of the record's region gets the route's own success status; an allowed
key of another region gets exactly what a missing record gets (404, or 422 for a region or
record named in the body), and lists and figures hold nothing of the other region.
"""
import itertools

import pytest
import requests

from gateway.access import ROLES
import gateway.service  # noqa: F401 — declares the routes
from gateway.web import ROUTES
from tests.conftest import wait_for
from tests.e2e.world import STREET, XINGHUA, need, ok, seed
from wushe.runtime.store import database

pytestmark = pytest.mark.e2e

BEICHEN = "tianjin/beichen/guoyuanxincun"
IN = {"admin": "tianjin", "city": "tianjin", "district": "tianjin/binhai", "station": STREET, "integrator": STREET}
OUT = {"admin": "beijing", "city": "beijing", "district": "tianjin/beichen", "station": BEICHEN,
       "integrator": f"{BEICHEN}/chaoyangli"}


class Key:
    """A requests session with one API key."""

    def __init__(self, base, key):
        self.base, self.session = base, requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"

    def send(self, method, path, body=None, **kw):
        return self.session.request(method, self.base + "/api/v1" + path, json=body, timeout=20, **kw)


def make_key(platform, role, region, **more):
    return ok(platform.post("/keys", {"role": role, "region": region, **more}), 201)


@pytest.fixture
def world(platform, config):
    """Taida (the records every cell targets) and, elsewhere, Beichen and Beijing (the keys of
    other regions)."""
    seed(platform, couriers=3, workers=(("worker-liu", "senior", 100), ("worker-zhao", "none", 12)))
    for path, name, level in [("beijing", "北京市", "city"), ("tianjin/beichen", "北辰区", "district"),
                              (BEICHEN, "果园新村街道", "street"), (f"{BEICHEN}/chaoyangli", "朝阳里社区", "community")]:
        ok(platform.post("/regions", {"path": path, "name": name, "level": level}), 201)
    ok(platform.post("/donors", {"id": "donor-taida", "name": "泰达爱心超市", "kind": "enterprise", "region": STREET}), 201)
    ok(platform.post("/donations", {"donor_id": "donor-taida", "region": STREET, "lines": [
        {"item": "rice", "quantity": 1000, "unit": "kg", "value_cents": 600000}]}), 201)
    ok(platform.post("/donors", {"id": "fund-xinghua", "name": "星华社区基金", "kind": "community_fund",
                                 "region": XINGHUA}), 201)
    ok(platform.post("/organisations", {"id": "org-taida", "name": "星华邻里互助会", "community": XINGHUA,
                                        "categories": ["errands"]}), 201)
    ok(platform.post("/teams", {"id": "team-taida", "name": "助困陪诊", "community": XINGHUA}), 201)
    short = need(volunteers=0, rice=0, worker=False, organisation=False)
    short["requirements"]["resources"] = [{"item": "flour", "quantity": 5, "unit": "kg"}]  # none given: an appeal
    ok(platform.post("/needs", short), 202)
    big = need(volunteers=200, rice=0, worker=True, organisation=False)
    big["id"] = "need-big"
    ok(platform.post("/needs", big), 202)
    platform.wait_need("need-big", lambda n: n["linkage"]["volunteers"].get("call_id")
                       and n["linkage"]["worker"]["state"] == "assigned")
    keys = {(role, side): Key(platform.base, make_key(platform, role, region)["key"])
            for role in ROLES for side, region in (("in", IN[role]), ("out", OUT[role]))}
    return World(platform, config, keys)


class World:
    def __init__(self, platform, config, keys):
        self.platform, self.config, self.keys, self.counter = platform, config, keys, itertools.count()

    def fresh(self, prefix):
        return f"{prefix}-m{next(self.counter)}"

    def volunteer(self):
        volunteer_id = self.fresh("vol")
        ok(self.platform.post("/volunteers", {"id": volunteer_id, "name": "志愿者", "community": XINGHUA,
                                              "skills": ["errands"]}), 201)
        return volunteer_id

    def claimed(self):
        volunteer_id = self.volunteer()
        ok(self.platform.post("/calls/call-big/claims", {"volunteer_id": volunteer_id}), 201)
        return volunteer_id

    def with_hours(self):
        volunteer_id = self.claimed()
        ok(self.platform.post("/calls/call-big/completions", {"volunteer_id": volunteer_id, "hours": 2}), 201)
        return volunteer_id

    def need(self, wait=None, **parts):
        body = need(**{"volunteers": 0, "rice": 0, "worker": False, "organisation": False, **parts})
        body["id"] = need_id = self.fresh("need")
        ok(self.platform.post("/needs", body), 202)
        if wait:
            self.platform.wait_need(need_id, wait)
        return need_id

    def worker(self, certification="none"):
        worker_id = self.fresh("worker")
        ok(self.platform.post("/workers", {"id": worker_id, "name": "社工", "station_id": "station-taida",
                                           "certification": certification, "specialties": ["errands"]}), 201)
        return worker_id

    def case(self):
        need_id = self.need(worker=True, wait=lambda n: n["linkage"]["worker"]["state"] == "assigned")
        return self.platform.need(need_id)["linkage"]["worker"]["case_id"]

    def call(self, expired=False):
        need_id = self.need(volunteers=1, wait=lambda n: n["linkage"]["volunteers"].get("call_id"))
        call_id = self.platform.need(need_id)["linkage"]["volunteers"]["call_id"]
        if expired:  # the deadline passed, as the periodic check found it
            database(self.config["WUSHE"], "volunteers").calls.update_one(
                {"_id": call_id}, {"$set": {"state": "expired"}, "$inc": {"version": 1}})
        return call_id

    def pledge(self):
        need_id = self.need(rice=2, wait=lambda n: n["linkage"]["resources"]["state"] == "pledged")
        return self.platform.need(need_id)["linkage"]["resources"]["pledges"][0]["pledge_id"]

    def project(self):
        org = ok(self.platform.post("/organisations/org-taida/projects", {"title": "邻里串门", "capacity": 5}), 201)
        return org["projects"][-1]["id"]

    def resident(self):
        need_id = self.need(resident={"name": "王大爷", "phone": "13800005678"})
        return wait_for(lambda: self.platform.need(need_id).get("resident", {}).get("id"))

    def street(self):
        path = f"tianjin/binhai/{self.fresh('street')}"
        ok(self.platform.post("/regions", {"path": path, "name": "新街道", "level": "street"}), 201)
        return path

    def key(self):
        return make_key(self.platform, "integrator", XINGHUA)["id"]


LATER = "2099-01-01T00:00:00Z"

# route name → (path params, body, query) for a fresh call, and what a key of another region gets:
# "404" (a record in the path), "422" (a region or record in the body), "empty" (a list),
# "any" (nothing regional: the same as in its own region)
CASES = {
    "dead_letter_counts": (lambda w: ({}, None, ""), "any"),
    "dead_letters": (lambda w: ({"service": "community"}, None, ""), "any"),
    "replay_dead_letters": (lambda w: ({"service": "community"}, {"message_ids": ["none"]}, ""), "any"),
    "create_key": (lambda w: ({}, {"role": "integrator", "region": XINGHUA}, ""), "422"),
    "list_keys": (lambda w: ({}, None, ""), "own"),
    "revoke_key": (lambda w: ({"key_id": w.key()}, None, ""), "404"),
    "add_region": (lambda w: ({}, {"path": f"{STREET}/{w.fresh('c')}", "name": "新社区", "level": "community"}, ""),
                   "422"),
    "list_regions": (lambda w: ({}, None, f"parent={STREET}"), "empty"),
    "add_station": (lambda w: ({}, {"id": w.fresh("station"), "name": "站", "street": w.street()}, ""), "422"),
    "get_station": (lambda w: ({"station_id": "station-taida"}, None, ""), "404"),
    "add_worker": (lambda w: ({}, {"id": w.fresh("worker"), "name": "社工", "station_id": "station-taida",
                                   "certification": "none"}, ""), "422"),
    "get_worker": (lambda w: ({"worker_id": "worker-liu"}, None, ""), "404"),
    "certify": (lambda w: ({"worker_id": w.worker()}, {"certification": "assistant"}, ""), "404"),
    "leave": (lambda w: ({"worker_id": w.worker()}, {"reason": "调岗"}, ""), "404"),
    "get_case": (lambda w: ({"case_id": "case-big"}, None, ""), "404"),
    "change_stage": (lambda w: ({"case_id": w.case()}, {"stage": "assessed"}, ""), "404"),
    "record_activity": (lambda w: ({"case_id": "case-big"}, {"kind": "household_visit"}, ""), "404"),
    "add_organisation": (lambda w: ({}, {"name": "新组织", "community": XINGHUA, "categories": ["errands"]}, ""),
                         "422"),
    "list_organisations": (lambda w: ({}, None, f"community={XINGHUA}"), "empty"),
    "get_organisation": (lambda w: ({"org_id": "org-taida"}, None, ""), "404"),
    "record_milestone": (lambda w: ({"org_id": ok(w.platform.post("/organisations", {
        "name": "孵化中", "community": XINGHUA, "categories": ["errands"], "stage": "incubating"}), 201)["id"]},
        {"milestone": "founding_members", "members": ["张阿姨", "李大爷", "王师傅"]}, ""), "404"),
    "open_project": (lambda w: ({"org_id": "org-taida"}, {"title": "便民维修", "capacity": 3}, ""), "404"),
    "close_project": (lambda w: ({"org_id": "org-taida", "project_id": w.project()}, None, ""), "404"),
    "add_volunteer": (lambda w: ({}, {"name": "志愿者", "community": XINGHUA}, ""), "422"),
    "get_volunteer": (lambda w: ({"volunteer_id": "vol-0"}, None, ""), "404"),
    "add_team": (lambda w: ({}, {"name": "针情裁缝", "community": XINGHUA}, ""), "422"),
    "get_team": (lambda w: ({"team_id": "team-taida"}, None, ""), "404"),
    "join_team": (lambda w: ({"team_id": "team-taida"}, {"volunteer_id": w.volunteer()}, ""), "404"),
    "ledger": (lambda w: ({"volunteer_id": "vol-0"}, None, ""), "404"),
    "redeem": (lambda w: ({"volunteer_id": w.with_hours()}, {"hours": 1, "service": "理发"}, ""), "404"),
    "transfer": (lambda w: ({"volunteer_id": w.with_hours()}, {"to_volunteer_id": "vol-0", "hours": 1}, ""), "404"),
    "add_donor": (lambda w: ({}, {"name": "爱心企业", "kind": "enterprise", "region": STREET}, ""), "422"),
    "donate": (lambda w: ({}, {"donor_id": "donor-taida", "region": STREET,
                               "lines": [{"item": "oil", "quantity": 5, "unit": "L"}]}, ""), "422"),
    "list_lots": (lambda w: ({}, None, f"region={STREET}"), "empty"),
    "contribute": (lambda w: ({"fund_id": "fund-xinghua"}, {"contributor_kind": "resident", "funds_cents": 1000}, ""),
                   "404"),
    "fund_ledger": (lambda w: ({"fund_id": "fund-xinghua"}, None, ""), "404"),
    "list_appeals": (lambda w: ({}, None, f"region={STREET}"), "empty"),
    "receipts": (lambda w: ({"donor_id": "donor-taida"}, None, ""), "404"),
    "register_need": (lambda w: ({}, need(volunteers=0, rice=0), ""), "422"),
    "get_need": (lambda w: ({"need_id": "need-big"}, None, ""), "404"),
    "list_needs": (lambda w: ({}, None, f"community={XINGHUA}"), "empty"),
    "cancel_need": (lambda w: ({"need_id": w.need()}, {"reason": "居民已搬离"}, ""), "404"),
    "resolve_need": (lambda w: ({"need_id": w.need(wait=lambda n: n["status"] == "linked")}, {"note": "已办结"}, ""),
                     "404"),
    "evaluate_need": (lambda w: ({"need_id": resolved(w)}, {"score": 5, "outcome": "满意"}, ""), "404"),
    "list_calls": (lambda w: ({}, None, f"community={XINGHUA}"), "empty"),
    "get_call": (lambda w: ({"call_id": "call-big"}, None, ""), "404"),
    "claim": (lambda w: ({"call_id": "call-big"}, {"volunteer_id": w.volunteer()}, ""), "404"),
    "withdraw": (lambda w: ({"call_id": "call-big", "volunteer_id": w.claimed()}, None, ""), "404"),
    "check_in": (lambda w: ({"call_id": "call-big"}, {"volunteer_id": w.claimed()}, ""), "404"),
    "check_out": (lambda w: ({"call_id": "call-big"}, {"volunteer_id": checked_in(w)}, ""), "404"),
    "complete": (lambda w: ({"call_id": "call-big"}, {"volunteer_id": w.claimed(), "hours": 1.5}, ""), "404"),
    "reopen_call": (lambda w: ({"call_id": w.call(expired=True)}, {"expires_at": LATER}, ""), "404"),
    "offer_call": (lambda w: ({"call_id": w.call()}, {"team_id": "team-taida", "hours": 1}, ""), "404"),
    "deliver": (lambda w: ({"pledge_id": w.pledge()}, None, ""), "404"),
    "stats": (lambda w: ({}, None, f"region={STREET}"), "404"),
    "erase_resident": (lambda w: ({"resident_id": w.resident()}, None, ""), "404"),
}


def resolved(w):
    need_id = w.need(wait=lambda n: n["status"] == "linked")
    ok(w.platform.post(f"/needs/{need_id}/resolve", {"note": "已办结"}), 200)
    return need_id


def checked_in(w):
    volunteer_id = w.claimed()
    ok(w.platform.post("/calls/call-big/checkin", {"volunteer_id": volunteer_id}), 201)
    return volunteer_id


def served():
    return [r for r in ROUTES if not r.public]


def test_every_route_names_its_roles_and_is_in_the_matrix():
    unknown = {r.name: sorted(set(r.roles) - set(ROLES)) for r in served() if not r.roles or set(r.roles) - set(ROLES)}
    assert not unknown, unknown
    names = {r.name for r in served()}
    assert names == set(CASES), names ^ set(CASES)


def request_of(spec, params, body, query):
    path = spec.path.removeprefix("/api/v1")
    for name, value in params.items():
        path = path.replace(f"<{name}>", value)
    return spec.method, path + (f"?{query}" if query else ""), body


def test_route_role_region_matrix(world):
    cells = 0
    for spec in served():
        make, outside = CASES[spec.name]
        refused = request_of(spec, *make(world))  # a Taida target for the calls that change nothing
        for role in ROLES:
            allowed = role in spec.roles and not spec.platform_wide
            # a key of another region: the request targets Taida's records
            answer = world.keys[role, "out"].send(*refused)
            where = f"{spec.name} as {role} of {OUT[role]}: {answer.status_code} {answer.text[:200]}"
            if not allowed:
                assert answer.status_code == 403, where
            elif outside == "404":
                assert answer.status_code == 404, where
            elif outside == "422":
                assert answer.status_code == 422, where
            elif outside == "empty":
                assert answer.status_code == 200 and answer.json()["items"] == [], where
            elif outside == "own":
                assert answer.status_code == 200, where
                assert all(k["region"].startswith(OUT[role]) for k in answer.json()["items"]), where
            else:
                assert answer.status_code == spec.status, where
            # a key of the record's region: a fresh target for each call that may change it
            answer = world.keys[role, "in"].send(*(request_of(spec, *make(world)) if allowed else refused))
            where = f"{spec.name} as {role} of {IN[role]}: {answer.status_code} {answer.text[:200]}"
            assert answer.status_code == (spec.status if allowed else 403), where
            if allowed and outside == "empty":
                assert answer.json()["items"], where  # its own region's records are there
            cells += 2
    assert cells == 2 * len(ROLES) * len(served())


def test_a_key_is_shown_once_stored_hashed_and_stops_working_at_once_when_revoked(platform, config):
    seed(platform)
    made = make_key(platform, "station", STREET, name="泰达街道社工站系统")
    assert made["key"].startswith("wsk_") and made["role"] == "station" and made["region"] == STREET
    stored = database(config["WUSHE"], "gateway").api_keys.find_one({"_id": made["id"]})
    assert made["key"] not in str(stored) and made["key"].rpartition(".")[2] not in str(stored)
    assert all("key" not in k for k in ok(platform.get("/keys"), 200)["items"])

    station = Key(platform.base, made["key"])
    assert station.send("GET", f"/stats?region={STREET}").status_code == 200
    listed = next(k for k in ok(platform.get("/keys"), 200)["items"] if k["id"] == made["id"])
    assert listed["last_used_at"] is not None
    wrong = Key(platform.base, made["key"][:-2] + "xx")
    assert wrong.send("GET", f"/stats?region={STREET}").status_code == 401

    assert platform.session.delete(f"{platform.base}/api/v1/keys/{made['id']}").status_code == 204
    answer = station.send("GET", f"/stats?region={STREET}")
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == "Bearer"
    assert platform.session.delete(f"{platform.base}/api/v1/keys/{made['id']}").status_code == 404


@pytest.mark.parametrize("body, field", [
    ({"role": "station", "region": "tianjin/binhai"}, "region"),        # a station is bound to a street
    ({"role": "district", "region": STREET}, "region"),
    ({"role": "integrator", "region": "tianjin/nowhere"}, "region"),    # not a registered region
    ({"role": "king", "region": STREET}, "role"),
])
def test_a_key_fits_its_role_and_a_registered_region(platform, body, field):
    seed(platform)
    answer = platform.post("/keys", body)
    assert answer.status_code == 422 and field in answer.json()["errors"], answer.text


def test_a_key_bound_to_a_region_makes_keys_only_within_it(platform):
    seed(platform)
    district = Key(platform.base, make_key(platform, "admin", "tianjin/binhai")["key"])
    assert district.send("POST", "/keys", {"role": "station", "region": STREET}).status_code == 201
    assert district.send("POST", "/keys", {"role": "integrator"}).status_code == 422  # everywhere: no
    ok(platform.post("/regions", {"path": "beijing", "name": "北京市", "level": "city"}), 201)
    assert district.send("POST", "/keys", {"role": "city", "region": "beijing"}).status_code == 422


def test_each_key_has_its_own_rate_limit(platform):
    seed(platform)
    slow = Key(platform.base, make_key(platform, "integrator", XINGHUA, rate_per_minute=60)["key"])
    answers = [slow.send("GET", f"/calls?community={XINGHUA}") for _ in range(12)]
    codes = [a.status_code for a in answers]
    assert codes[:10] == [200] * 10 and codes[-1] == 429, codes  # ten seconds' worth of burst
    limited = answers[-1]
    assert int(limited.headers["Retry-After"]) >= 1 and limited.json()["status"] == 429
    assert platform.get(f"/calls?community={XINGHUA}").status_code == 200  # other keys go on


def test_an_idempotency_key_is_scoped_to_the_api_key(platform):
    seed(platform)
    other = Key(platform.base, make_key(platform, "integrator", XINGHUA)["key"])
    body = need(volunteers=0, rice=0)
    mine = ok(platform.post("/needs", body, headers={"Idempotency-Key": "report-1"}), 202)
    theirs = other.send("POST", "/needs", body, headers={"Idempotency-Key": "report-1"})
    assert theirs.status_code == 202 and theirs.json()["id"] != mine["id"]

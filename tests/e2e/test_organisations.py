"""Community organisations as the seeds describe them: incubation to graduation, micro-projects."""
import pytest

from tests.conftest import wait_for
from tests.e2e.world import HUAYUAN, XINGHUA, need, ok, seed

pytestmark = pytest.mark.e2e


def repair(community):
    return need(community=community, category="home_repair", volunteers=0, rice=0, worker=False)


def test_an_incubated_organisation_graduates_and_takes_the_needs_waiting_on_it(platform):
    seed(platform)
    ids = [ok(platform.post("/needs", repair(HUAYUAN)), 202)["id"] for _ in range(3)]
    org = wait_for(lambda: ok(platform.get("/organisations", params={"community": HUAYUAN, "stage": "incubating"}),
                              200)["items"])[0]
    ids.append(ok(platform.post("/needs", repair(HUAYUAN)), 202)["id"])  # arrives while it incubates
    for need_id in ids:
        platform.wait_need(need_id, lambda n: n["linkage"]["organisation"]["state"] == "incubating")

    path = f"/organisations/{org['id']}/milestones"
    assert platform.post(path, {"milestone": "charter", "title": "章程"}).status_code == 409  # out of order
    assert platform.post(path, {"milestone": "founding_members", "members": ["张", "王"]}).status_code == 422
    ok(platform.post(path, {"milestone": "founding_members", "members": ["张师傅", "王阿姨", "李大爷"]}), 200)
    ok(platform.post(path, {"milestone": "charter", "title": "华苑便民维修队章程"}), 200)
    for topic in ("安全用电", "水管维修"):
        ok(platform.post(path, {"milestone": "training", "topic": topic, "hours": 2}), 200)
    graduated = ok(platform.post(path, {"milestone": "first_project", "title": "楼道灯维修"}), 200)
    assert graduated["stage"] == "active" and graduated["incubation"]["graduated_at"]
    assert graduated["incubation"]["member_count"] == 3 and "张师傅" not in str(graduated)

    for need_id in ids:
        view = platform.wait_need(need_id, lambda n: n["linkage"]["organisation"]["state"] == "matched")
        assert view["linkage"]["organisation"]["organisation_id"] == org["id"]
        assert view["linkage"]["organisation"]["project_id"]
    assert platform.tap.of_type("org_graduated") and len(platform.tap.of_type("org_milestone_reached")) == 4
    assert all("张师傅" not in raw for raw in platform.tap.raw)
    # graduated: it is matched to new needs of its category
    fifth = ok(platform.post("/needs", repair(HUAYUAN)), 202)["id"]
    view = platform.wait_need(fifth, lambda n: n["linkage"]["organisation"]["state"] == "matched")
    assert view["linkage"]["organisation"]["organisation_id"] == org["id"]
    stats = ok(platform.get("/stats", params={"region": HUAYUAN}), 200)
    assert stats["organisations"] == {"active": 1, "incubating": 0}


def test_a_full_organisation_is_not_matched_until_it_has_room(platform):
    seed(platform)
    org = ok(platform.post("/organisations", {"name": "便民维修队", "community": XINGHUA,
                                              "categories": ["home_repair"], "capacity": 1}), 201)
    first = ok(platform.post("/needs", repair(XINGHUA)), 202)["id"]
    platform.wait_need(first, lambda n: n["linkage"]["organisation"]["state"] == "matched")
    second = ok(platform.post("/needs", repair(XINGHUA)), 202)["id"]
    view = platform.wait_need(second, lambda n: n["linkage"]["organisation"]["state"] != "pending")
    assert view["linkage"]["organisation"]["state"] == "none"  # full: not matched
    assert ok(platform.get(f"/organisations/{org['id']}"), 200)["capacity"] == 0

    # the first need is cancelled: its slot comes back and a new need takes it
    ok(platform.post(f"/needs/{first}/cancel", {"reason": "已自行修好"}), 200)
    wait_for(lambda: ok(platform.get(f"/organisations/{org['id']}"), 200)["capacity"] == 1)
    third = ok(platform.post("/needs", repair(XINGHUA)), 202)["id"]
    platform.wait_need(third, lambda n: n["linkage"]["organisation"]["state"] == "matched")

    # a new micro-project adds room; a closed one takes no more
    opened = ok(platform.post(f"/organisations/{org['id']}/projects", {"title": "冬季水管防冻", "capacity": 2}), 201)
    project_id = opened["projects"][-1]["id"]
    assert opened["capacity"] == 2
    closed = ok(platform.post(f"/organisations/{org['id']}/projects/{project_id}/close"), 200)
    assert closed["capacity"] == 0
    assert platform.post(f"/organisations/{org['id']}/projects/{project_id}/close").status_code == 409
    fourth = ok(platform.post("/needs", repair(XINGHUA)), 202)["id"]
    assert platform.wait_need(fourth, lambda n: n["linkage"]["organisation"]["state"] != "pending")[
        "linkage"]["organisation"]["state"] == "none"

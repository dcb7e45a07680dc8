"""services.orgs.domain: matching a need to an organisation, and incubating one."""
import pytest

from services.orgs import domain
from tests.unit.helpers import COMMUNITY, NEED_ID, STREET, T0, T1, T2, T3
from wushe.events import load


def org(org_id, categories, stage="active", created_at=T1):
    return {"_id": org_id, "community": COMMUNITY, "categories": categories, "stage": stage,
            "created_at": created_at}


LINLI = org("org-linli", ["errands", "elderly_care"], created_at=T2)        # 邻里串门
WEIXIU = org("org-weixiu", ["home_repair"], created_at=T0)                 # 便民维修
OLDER = org("org-laoyou", ["errands"], created_at=T1)
GROWING = org("org-peiyu", ["errands"], stage="incubating", created_at=T0)


@pytest.mark.parametrize("organisations, category, expected", [
    ([LINLI, WEIXIU], "errands", "org-linli"),
    ([LINLI, WEIXIU], "home_repair", "org-weixiu"),
    ([LINLI, OLDER], "errands", "org-laoyou"),              # oldest first
    ([OLDER, LINLI], "errands", "org-laoyou"),
    ([GROWING, LINLI], "errands", "org-linli"),             # incubating ones are not matched
    ([GROWING], "errands", None),
    ([LINLI, WEIXIU], "psychological_support", None),
    ([], "errands", None),
])
def test_best_match(organisations, category, expected):
    found = domain.best_match(organisations, category)
    assert (found and found["_id"]) == expected


@pytest.mark.parametrize("demand, threshold, expected", [(1, 3, False), (2, 3, False), (3, 3, True),
                                                         (4, 3, True), (1, 1, True)])
def test_should_incubate_at_the_threshold(demand, threshold, expected):
    assert domain.should_incubate(demand, threshold) is expected


def test_new_incubation():
    need = {"need_id": NEED_ID, "community": COMMUNITY, "street": STREET, "category": "home_repair"}
    triggers = ["need-01", "need-02", NEED_ID]
    organisation, event = domain.new_incubation("org-new", need, triggers, T3)
    assert organisation["stage"] == "incubating"
    assert organisation["categories"] == ["home_repair"] and organisation["community"] == COMMUNITY
    assert organisation["incubation"]["need_ids"] == triggers
    assert organisation["incubation"]["mentor_street"] == STREET
    assert "便民维修" in organisation["name"]
    loaded = load(event)
    assert (loaded.source, loaded.type, loaded.subject) == ("orgs", "org_incubation_started", "org-new")
    assert loaded.data == {"organisation_id": "org-new", "community": COMMUNITY, "category": "home_repair",
                           "need_ids": triggers, "mentor_street": STREET}


def test_incubation_key_is_one_per_community_and_category():
    keys = {domain.incubation_key(c, k) for c in (COMMUNITY, "tianjin/binhai/taida/huaying")
            for k in ("errands", "home_repair")}
    assert len(keys) == 4

"""The owner checks the region: a service given the asking key's region (`within`, the
gateway's) refuses a record outside it exactly as a record that is not there, so that the
gateway needs no round trip to ask where the record lives (and ids cannot be probed)."""
import pytest
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook, entrypoint_waiter

from services.volunteers.service import VolunteersService
from tests.conftest import wait_for
from tests.service.conftest import need_registered
from wushe.runtime.errors import InvalidInput, NotFound

STREET = "tianjin/binhai/taida"
HUAYUAN = f"{STREET}/huayuan"
# another street, one whose path merely starts with the same letters, another district
ELSEWHERE = ("tianjin/binhai/xinbei", "tianjin/binhai/taid", "tianjin/beichen")


@pytest.fixture
def refusal(config):
    """What a caller of the service's RPC (the gateway) gets back: the error and its text."""
    with ServiceRpcProxy("volunteers", config) as volunteers:
        def refusal(container, method, *args, **kwargs):
            with pytest.raises((NotFound, InvalidInput)) as refused:
                getattr(volunteers, method)(*args, **kwargs)
            return type(refused.value), refused.value.detail if refused.value.errors is None else refused.value.errors
        yield refusal


@pytest.fixture
def volunteers(container_factory, config, publish, tap):
    container = container_factory(VolunteersService, config)
    container.start()
    with entrypoint_hook(container, "add_volunteer") as add:
        for i in range(3):
            add({"id": f"v{i}", "name": f"快递员{i}", "community": HUAYUAN, "skills": ["errands"]})
    with entrypoint_hook(container, "add_team") as add:
        add({"id": "team-hy", "name": "助困陪诊", "community": HUAYUAN})
    with entrypoint_waiter(container, "on_need_registered"):
        publish(need_registered("need-o1", community=HUAYUAN, worker=False,
                                volunteers={"count": 2, "skills": ["errands"], "hours": 1.0}))
    wait_for(lambda: tap.of_type("call_opened"))
    return container


def test_a_call_outside_the_region_is_refused_as_one_that_is_not_there(volunteers, refusal):
    commands = [("claim", {"volunteer_id": "v0"}), ("check_in", {"volunteer_id": "v0"}),
                ("check_out", {"volunteer_id": "v0"}), ("complete", {"volunteer_id": "v0", "hours": 1}),
                ("reopen", {"expires_at": "2099-01-01T00:00:00Z"}), ("offer", {"team_id": "team-hy"})]
    for region in ELSEWHERE:
        for method, body in commands:
            missing = refusal(volunteers, method, "call-none", body, within=region)
            assert missing == (NotFound, "no call call-none")
            assert refusal(volunteers, method, "call-o1", body, within=region) == (NotFound, "no call call-o1")
        assert refusal(volunteers, "withdraw", "call-o1", "v0", within=region) == (NotFound, "no call call-o1")
        for method, args in [("redeem", ({"hours": 1, "service": "理发"},)), ("ledger", ())]:
            assert refusal(volunteers, method, "v1", *args, within=region) == (NotFound, "no volunteer v1")
        assert refusal(volunteers, "join_team", "team-hy", {"volunteer_id": "v1"}, within=region) == (
            NotFound, "no team team-hy")
    with entrypoint_hook(volunteers, "get_call") as get_call:
        assert get_call("call-o1")["claimed"] == []  # nothing was changed


def test_a_record_in_the_region_or_under_it_is_the_callers(volunteers):
    for volunteer_id, region in (("v0", HUAYUAN), ("v1", STREET), ("v2", "")):  # "" — everywhere
        with entrypoint_hook(volunteers, "claim") as claim:
            claim("call-o1", {"volunteer_id": volunteer_id, "wait": True}, within=region)
    with entrypoint_hook(volunteers, "get_call") as get_call:
        call = get_call("call-o1")
    assert call["claimed"] == ["v0", "v1"] and call["waiting"] == ["v2"]


def test_a_record_named_in_the_body_outside_the_region_is_refused_on_its_field(volunteers, refusal):
    xinghua = f"{STREET}/xinghua"
    with entrypoint_hook(volunteers, "add_team") as add:
        add({"id": "team-xh", "name": "针情裁缝", "community": xinghua})
    with entrypoint_hook(volunteers, "add_volunteer") as add:
        add({"id": "v-xh", "name": "志愿者", "community": xinghua, "skills": ["errands"]})
    # the path's record first (404, as the gateway checked it before), then the body's (422 on its field)
    assert refusal(volunteers, "offer", "call-none", {"team_id": "team-xh"}, within=HUAYUAN) == (
        NotFound, "no call call-none")
    for method, record, body, field in [("offer", "call-o1", {"team_id": "team-xh"}, "team_id"),
                                        ("claim", "call-o1", {"volunteer_id": "v-xh"}, "volunteer_id"),
                                        ("complete", "call-o1", {"volunteer_id": "v-xh", "hours": 1}, "volunteer_id"),
                                        ("join_team", "team-hy", {"volunteer_id": "v-xh"}, "volunteer_id"),
                                        ("transfer", "v0", {"to_volunteer_id": "v-xh", "hours": 1}, "to_volunteer_id")]:
        assert refusal(volunteers, method, record, body, within=HUAYUAN) == (
            InvalidInput, {field: [f"no {field.removeprefix('to_').removesuffix('_id')} {body[field]}"]})
    with entrypoint_hook(volunteers, "get_call") as get_call:
        assert get_call("call-o1")["claimed"] == []  # the volunteer outside was neither claimed for nor credited

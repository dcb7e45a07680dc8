"""The routes whose records the called service checks (scope OWNER): the forwarder passes the
key's region as `within`, so that service's method must take it; and the rule it applies is the
gateway's own (`Caller.sees`)."""
import inspect

import pytest

from gateway.access import Caller
from gateway.routes import FORWARDS
from wushe.contract.decisions import Refused, existing, visible
from wushe.ops.cli import service_classes

SERVICES = {cls.name: cls for cls in service_classes()}
OWNED = [row for row in FORWARDS if row.scope and row.scope.owner]


def test_the_call_routes_are_checked_by_their_owner():
    assert {row.name for row in OWNED} >= {"claim", "withdraw", "offer_call", "check_in", "check_out",
                                           "reopen_call", "complete"}


@pytest.mark.parametrize("row", OWNED, ids=[row.name for row in OWNED])
def test_the_called_method_takes_the_keys_region(row):
    service, method = row.call.split(".")
    parameters = inspect.signature(getattr(SERVICES[service], method)).parameters
    assert "within" in parameters and parameters["within"].default == ""


@pytest.mark.parametrize("region, path", [
    ("", "tianjin/binhai/taida/xinghua"), ("", None), ("tianjin", "tianjin/binhai"), ("tianjin", "tianjin"),
    ("tianjin/binhai/taida", "tianjin/binhai/taida/xinghua"), ("tianjin/binhai/taid", "tianjin/binhai/taida/xinghua"),
    ("tianjin/binhai/taida/xinghua", "tianjin/binhai/taida"), ("tianjin/beichen", "tianjin/binhai/taida"),
    ("tianjin", None), ("tianjin", ""),
])
def test_the_owner_sees_what_the_key_sees(region, path):
    record = {"_id": "call-1", "community": path}
    sees = Caller("key-1", "station", region).sees(path)
    assert (visible(record, region) is record) == sees
    if sees:
        assert existing(record, "call", "call-1", within=region) is record
    else:
        with pytest.raises(Refused) as refused:
            existing(record, "call", "call-1", within=region)
        assert (refused.value.kind, refused.value.reason) == (Refused.MISSING, "no call call-1")
        with pytest.raises(Refused) as missing:
            existing(None, "call", "call-1")
        assert (missing.value.kind, missing.value.reason) == (refused.value.kind, refused.value.reason)

"""wushe.contract.regions: city/district/street/community paths."""
import re

import pytest

from wushe.contract import regions

XINGHUA = "tianjin/binhai/taida/xinghua"


@pytest.mark.parametrize("path, level, valid", [
    ("tianjin", None, True),
    (XINGHUA, None, True),
    ("tianjin/beichen/guoyuanxincun/chaoyangli", "community", True),
    ("tianjin/binhai/taida", "street", True),
    ("tianjin/binhai/taida", "community", False),
    ("wulanchabu/jining", "district", True),
    ("dalian/xigang/xianglujiao_2/hongyun-1", None, True),
    (XINGHUA + "/building-3", None, False),       # five levels
    ("", None, False),
    ("tianjin//taida", None, False),
    ("tianjin/binhai/", None, False),
    ("/tianjin", None, False),
    ("Tianjin/Binhai", None, False),
    ("天津/滨海", None, False),
    ("tianjin/-binhai", None, False),
    ("tianjin/bin hai", None, False),
    (None, None, False),
    (["tianjin"], None, False),
])
def test_is_valid(path, level, valid):
    assert regions.is_valid(path, level) is valid


@pytest.mark.parametrize("level, ancestor", [("city", "tianjin"), ("district", "tianjin/binhai"),
                                             ("street", "tianjin/binhai/taida"), ("community", XINGHUA)])
def test_truncate(level, ancestor):
    assert regions.truncate(XINGHUA, level) == ancestor


@pytest.mark.parametrize("path, region, inside", [
    (XINGHUA, XINGHUA, True),
    (XINGHUA, "tianjin/binhai/taida", True),
    (XINGHUA, "tianjin", True),
    ("tianjin/binhai", XINGHUA, False),
    ("tianjin/binhai2", "tianjin/binhai", False),
    ("tianjin/binhai2/taida/xinghua", "tianjin/binhai", False),
    ("tianjin/beichen/guoyuanxincun", "tianjin/binhai", False),
    ("tianjinshi", "tianjin", False),
])
def test_within(path, region, inside):
    assert regions.within(path, region) is inside


@pytest.mark.parametrize("path, level", [("tianjin", "city"), ("tianjin/binhai", "district"),
                                         ("tianjin/binhai/taida", "street"), (XINGHUA, "community")])
def test_level_of(path, level):
    assert regions.level_of(path) == level


@pytest.mark.parametrize("path, parent", [(XINGHUA, "tianjin/binhai/taida"), ("tianjin/binhai", "tianjin"),
                                          ("tianjin", None)])
def test_parent(path, parent):
    assert regions.parent(path) == parent


@pytest.mark.parametrize("path, matches", [("tianjin/binhai", True), (XINGHUA, True), ("tianjin/binhai2", False),
                                           ("tianjin", False), ("tianjin/binhai2/taida", False)])
def test_under_filter_matches_like_within(path, matches):
    pattern = regions.under_filter("tianjin/binhai")["$regex"]
    assert bool(re.search(pattern, path)) is matches is regions.within(path, "tianjin/binhai")

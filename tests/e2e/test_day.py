"""`make demo`'s day, small: needs across categories, neighbours grabbing calls, a donation at
midday, and the closing figures, through the gateway like the command does."""
import io
import random

import pytest

from tests.conftest import ADMIN_KEY
from wushe.demo.day import Day

pytestmark = pytest.mark.e2e


def test_a_small_day_links_its_needs_and_prints_the_figures(platform):
    out = io.StringIO()
    figures = Day(platform.base, ADMIN_KEY, out=out, rng=random.Random(3)).run(needs=8, settle_seconds=20)
    assert figures["needs registered"] == 8
    assert figures["needs linked"] + figures["needs escalated"] == 8
    assert figures["needs linked"] >= 6 and figures["median time to link (s)"] is not None
    assert figures["volunteer hours (street)"] > 0 and figures["value linked (元, street)"] > 0
    text = out.getvalue()
    assert "8/8" in text and "needs linked" in text and "median time to link" in text

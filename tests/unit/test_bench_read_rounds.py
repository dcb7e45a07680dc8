"""The closed-loop reads' ratio, ours over the floor's, taken round by round: each round of one
flow seconds from its counterpart of the other, on a box whose speed moves between phases."""
import pytest

from tests.bench.run import ratios


def flow(per_s, rounds=None, saturation=50.0):
    closed = {"per_s": per_s, **({"rounds_per_s": rounds} if rounds else {})}
    return {"saturation_per_s": saturation, "steps": [], "reads": {"closed": closed}}


def test_the_ratio_is_the_median_of_the_rounds_ratios():
    # the box slowed by two fifths after the second round; round by round ours read 0.88–0.90×
    # the floor's, whatever the phases' own rates (1,600 against 2,000 here) say
    floor = flow(2_000.0, [2_594.0, 2_560.0, 1_541.0, 1_560.0, 1_550.0])
    ours = flow(1_600.0, [2_300.0, 2_250.0, 1_380.0, 1_390.0, 1_370.0])
    assert ratios({"wushe": ours, "floor": floor}, digits=None)["reads_per_s"] == pytest.approx(2_300 / 2_594)


def test_without_rounds_in_both_the_phases_rates_are_compared():
    floor = flow(2_000.0, [2_100.0, 1_900.0])
    ours = flow(1_700.0)
    assert ratios({"wushe": ours, "floor": floor}, digits=None)["reads_per_s"] == pytest.approx(0.85)

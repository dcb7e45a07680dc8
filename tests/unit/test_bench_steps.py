"""Where the bench stops raising the load: at the first step a flow could not keep up with in
throughput, not at one it was only late in (what it linked there is the rate offered, a floor
under its ceiling)."""
from tests.bench.flow import _ceiling, _summary, kept_up


def step(offered, linked_per_s, sent, linked, p99_ms):
    saturated, behind = kept_up(sent, linked, linked_per_s, offered, p99_ms)
    return {"offered_per_s": offered, "throughput_per_s": linked_per_s, "sent": sent, "linked": linked,
            "saturated": saturated, "behind_offer": behind, "latency_ms": {"p99": p99_ms},
            "cpu_ms_per_need": {"gateway": 1.0}, "cpu_ms_per_need_marginal": {"gateway": 1.0}}


def test_a_step_only_late_offers_the_next_load():
    assert kept_up(600, 600, 49.5, 50, 1418.0) == (True, False)


def test_a_step_short_of_the_offer_or_with_a_need_unlinked_ends_the_rise():
    assert kept_up(960, 960, 74.3, 80, 2076.0) == (True, False)  # 93 % of the offer: as kept up as 10/s is
    assert kept_up(960, 960, 70.0, 80, 2076.0) == (True, True)  # 88 % of the offer
    assert kept_up(720, 695, 59.0, 60, 1500.0) == (True, True)  # 25 needs never linked
    assert kept_up(480, 480, 40.0, 40, 250.0) == (False, False)  # kept up: not saturated at all


def test_the_saturation_is_the_most_any_step_linked_and_the_cpu_is_quoted_where_it_kept_up():
    steps = [step(40, 39.9, 480, 480, 251.0), step(50, 49.5, 600, 600, 1418.0), step(60, 52.1, 720, 720, 2900.0)]
    summary = _summary(steps)
    assert summary["saturation_per_s"] == 52.1
    assert summary["saturated"] and summary["cpu_ms_per_need_at"] == 40


def test_the_saturation_is_the_median_of_the_rises_most_and_that_load_offered_again():
    steps = [step(40, 39.9, 480, 480, 251.0), step(50, 49.5, 600, 600, 1418.0), step(60, 52.1, 720, 720, 2900.0)]
    assert _ceiling(steps)["offered_per_s"] == 60
    again = [step(60, 44.6, 720, 720, 4100.0), step(60, 50.3, 720, 720, 3300.0)]
    summary = _summary(steps, again)
    assert summary["saturation_per_s"] == 50.3 and summary["saturation_rise_per_s"] == 52.1
    # one lucky repeat moves it no more than one unlucky one does
    assert _summary(steps, [step(60, 71.0, 720, 720, 900.0), step(60, 50.3, 720, 720, 3300.0)])[
        "saturation_per_s"] == 52.1


def test_a_flow_that_kept_up_with_every_load_has_no_ceiling_to_offer_again():
    steps = [step(5, 5.0, 60, 60, 40.0), step(10, 10.0, 120, 120, 45.0)]
    assert _ceiling(steps) is None
    assert _summary(steps)["saturation_per_s"] == 10.0

"""The sizing model turns a bench result into cores; on the local store it also says which scale
one store server carries and where MongoDB takes over."""
import json

import pytest

from tests.bench import sizing


def result(store_ms):
    cpu = {"community": 20.0, "orgs": 5.0, "workers": 8.0, "volunteers": 12.0, "charity": 3.0, "gateway": 25.0,
           "rabbitmq": 16.0, **({"store": store_ms} if store_ms else {})}
    flow = {"cpu_ms_per_need": cpu, "cpu_ms_per_need_marginal": cpu, "cpu_ms_per_need_at": 6, "saturation_per_s": 6.0,
            "reads": {"closed": {"per_s": 400.0, "cpu_cores": {"gateway": 0.6, **({"store": 0.4} if store_ms else {})}}}}
    return {"machine": {"cores": 2, "store": "embedded (mongomock)", "local_store": "a store server"},
            "flows": {"wushe-local" if store_ms else "wushe": flow}}


def test_the_peak_rate_is_streets_times_needs_times_surge_over_the_busy_hours_at_the_peak_factor():
    assert sizing.peak_per_s(252, 40, 10, 10, 2.5) == 252 * 40 * 10 / 36_000 * 2.5  # 7.0 a second


def test_one_store_server_carries_a_street_and_a_district_and_a_city_goes_to_mongodb(tmp_path, capsys):
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(result(store_ms=120.0)))
    assert sizing.main([str(path), "--flow", "wushe-local"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[1]: line for line in out.splitlines() if line.startswith("  a ")}
    assert lines["street"].endswith("→ the local store") and lines["district"].endswith("→ the local store")
    assert "→ MongoDB" in lines["city"]
    # 7 needs/s × 120 ms + 140 reads/s × 1 ms (0.4 cores over 400 reads/s), over 60 %
    assert "store             120.0    1.63   one process: beyond one core: MongoDB" in out


def test_a_flow_the_result_does_not_hold_is_refused(tmp_path):
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(result(store_ms=None)))
    with pytest.raises(SystemExit, match="has no flow 'wushe-local'"):
        sizing.main([str(path), "--flow", "wushe-local"])

"""Smoke test of benchmarks/ieee33_day.py: the quick mode (20 EVs per station, oracle included) writes both reports."""

from __future__ import annotations

import json
from pathlib import Path

from benchmark_script import load_benchmark


def test_quick_benchmark_writes_json_and_markdown(tmp_path: Path) -> None:
    bench = load_benchmark("ieee33_day")
    rc = bench.main(["--quick", "--out", str(tmp_path)])
    assert rc == 0

    doc = json.loads((tmp_path / "ieee33_day.json").read_text(encoding="utf-8"))
    assert {"machine", "config", "records", "summary", "checks", "interpretation"} <= set(doc)
    assert {"platform", "python", "highspy", "pyomo", "cpu_count", "date"} <= set(doc["machine"])
    assert doc["config"]["fleet"] == [20]
    assert doc["checks"] == []

    (rec,) = doc["records"]
    assert rec["evs_per_station"] == 20 and rec["n_ev"] == 20 * rec["n_stations"] and rec["complete"]
    for key in ("make_day_s", "construct_s"):
        assert rec["setup"][key] > 0, key
    assert rec["setup"]["fleet"]["build_s"] > 0 and rec["setup"]["fleet"]["n_cols"] > 0
    assert rec["day_ahead"]["build_s"] > 0 and rec["day_ahead"]["solve_s"] > 0
    assert rec["day_ahead"]["model_size"]["cols"] > 0 and rec["day_ahead"]["ev_aggregates"] > 0
    for name in ("cooperative", "centralized", "noncooperative", "oracle"):  # 20 <= --oracle-max-evs
        s = rec["schemes"][name]
        assert s["status"] == "ok" and s["wall_s"] > 0 and s["total_cost"] > 0, name
    assert rec["schemes"]["oracle"]["rows"] > 0 and rec["schemes"]["oracle"]["highs_s"] > 0

    bis = rec["bisection"]
    assert bis["iterations"] == bis["trace_iterations"] == len(bis["steps"]) >= 1
    assert bis["iterations"] <= bis["iteration_bound"] and bis["converged"]
    for step in bis["steps"]:
        assert step["wall_s"] > 0 and step["ev_s"] > 0 and step["ta_s"] > 0 and step["rest_s"] >= 0
        assert step["ev_highs_s"] <= step["ev_s"] and step["ta_s"] + step["ev_s"] <= step["wall_s"] + 1e-9
    fin = rec["cooperative_final"]
    assert fin["c0_s"] > 0 and fin["nb_p1_s"] > 0 and fin["nb_p1_built"] and fin["coalition_path"]

    per = rec["persistence"]
    assert per["fleet_models_same_every_response"] and per["fleet_models_seen"] == per["fleet_chunks"]
    assert per["coalition_builds"] == 1 and per["coalition_same_object"]
    assert set(per["standalone_builds"].values()) == {1} and per["standalone_same_object"]
    assert rec["day_total_s"] >= rec["day_total_excl_oracle_s"] > 0 and rec["ms_per_ev"] > 0
    assert doc["summary"]["growth"] is None  # one fleet size: nothing to compare

    md = (tmp_path / "ieee33_day.md").read_text(encoding="utf-8")
    for heading in ("## Cooperative bisection", "## Schemes", "## Persistence", "## The day and its growth",
                    "## Checks", "## Interpretation"):
        assert heading in md

"""Smoke test of benchmarks/campus_dro.py: the quick mode (S = 2, IPM only, no MILP) writes both reports."""

from __future__ import annotations

import json
from pathlib import Path

from benchmark_script import load_benchmark


def test_quick_benchmark_writes_json_and_markdown(tmp_path: Path) -> None:
    bench = load_benchmark("campus_dro")
    rc = bench.main(["--quick", "--out", str(tmp_path), "--lp-methods", "ipm", "--milp-scenarios", "none"])
    assert rc == 0

    doc = json.loads((tmp_path / "campus_dro.json").read_text(encoding="utf-8"))
    assert {"machine", "config", "records", "summary", "checks", "interpretation"} <= set(doc)
    assert {"platform", "python", "highspy", "pyomo", "cpu_count", "date"} <= set(doc["machine"])
    assert doc["config"]["scenarios"] == [2]
    assert doc["config"]["milp_scenarios"] == []
    assert doc["checks"] == []

    (rec,) = doc["records"]
    assert rec["kind"] == "auto" and rec["S"] == 2 and rec["lp_method"] == "ipm" and rec["error"] is None
    for key in ("build_s", "handover_s", "solve_s", "extract_s", "overhead_share", "n_rows", "n_cols",
                "n_nonzeros", "n_binaries_declared", "n_integer_active", "path", "objective",
                "simplex_iterations", "ipm_iterations"):
        assert rec[key] is not None, key
    assert rec["solve_s"] > 0 and rec["n_rows"] > 0 and rec["n_binaries_declared"] > 0
    overhead = rec["build_s"] + rec["handover_s"] + rec["extract_s"]
    assert abs(rec["overhead_share"] - overhead / rec["solve_s"]) < 1e-9
    assert rec["path"].startswith(("lp-certified", "lp+fix", "lp+milp"))
    (med,) = doc["summary"]
    assert med["median_solve_s"] == rec["solve_s"]

    md = (tmp_path / "campus_dro.md").read_text(encoding="utf-8")
    for heading in ("## Auto path", "## All-binary MILP", "## Consistency", "## Interpretation"):
        assert heading in md
    assert "| 2 | ipm | 0 |" in md

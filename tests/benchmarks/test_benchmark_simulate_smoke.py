"""Smoke test of benchmarks/simulate.py: the quick mode writes both reports and its checks pass."""

from __future__ import annotations

import json
from pathlib import Path

from benchmark_script import load_benchmark


def test_quick_benchmark(tmp_path: Path) -> None:
    rc = load_benchmark("simulate").main(["--quick", "--out", str(tmp_path), "--mc-days", "50"])
    assert rc == 0
    doc = json.loads((tmp_path / "simulate.json").read_text(encoding="utf-8"))
    assert doc["checks"] == []
    (rec,) = doc["records"]
    assert rec["scenario"] == "ieee33" and rec["mode"] == "cooperative" and rec["days_per_minute"] > 0
    assert rec["day_solve_s"] > 0 and rec["day_data_s"] > 0
    b = doc["batch"]
    assert b["identical_kpis"] is True and b["replications"] == 2
    assert b["loop_s"] > 0 and b["dask_2_s"] > 0 and b["speedup_1_to_2"] > 0
    assert "Dask batch" in (tmp_path / "simulate.md").read_text(encoding="utf-8")

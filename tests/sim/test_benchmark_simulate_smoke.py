"""Smoke test of benchmarks/simulate.py: the quick mode writes both reports and its checks pass."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "simulate.py"


def _load() -> ModuleType:
    name = "benchmarks_simulate"
    spec = importlib.util.spec_from_file_location(name, SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_quick_benchmark(tmp_path: Path) -> None:
    rc = _load().main(["--quick", "--out", str(tmp_path), "--mc-days", "50"])
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

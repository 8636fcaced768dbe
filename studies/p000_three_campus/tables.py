"""The tables of the paper-000 study, shared by :mod:`.run` (which writes them) and :mod:`.report` (which reads
them): the columns of the case tables, :class:`StudyResult` and :func:`load_study` (a finished study read back)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

CASE_COLUMNS = [
    "case", "objective", "expected_cost", "cvar", "max_scenario_cost", "scenario_cost_std",
    "mean_deviation_cost", "grid_purchase_kwh", "grid_sale_kwh", "p2p_kwh", "ess_throughput_kwh",
    "dr_shifted_kwh", "renewable_utilisation", "build_seconds", "solve_seconds", "formulation",
]
#: Every file of a finished study except the figures and report.md.
STUDY_FILES: tuple[str, ...] = ("cases.csv", "sensitivity_epsilon.csv", "stress.csv", "scenario_costs.csv",
                                "solves.csv", "timeseries.parquet", "deviations.parquet", "study.json")


@dataclass
class StudyResult:
    cases: pd.DataFrame
    sensitivity: pd.DataFrame
    stress: pd.DataFrame
    scenario_costs: pd.DataFrame
    solves: pd.DataFrame
    timeseries: pd.DataFrame
    deviations: pd.DataFrame
    meta: dict[str, Any]


def load_study(out_dir: str | Path) -> StudyResult:
    """Read a finished study's files back (to redraw figures or the report without solving)."""
    d = Path(out_dir)
    missing = [f for f in STUDY_FILES if not (d / f).exists()]
    if missing:
        raise FileNotFoundError(f"{d}: not a finished campus study (missing {', '.join(missing)})")
    return StudyResult(
        cases=pd.read_csv(d / "cases.csv"),
        sensitivity=pd.read_csv(d / "sensitivity_epsilon.csv"),
        stress=pd.read_csv(d / "stress.csv"),
        scenario_costs=pd.read_csv(d / "scenario_costs.csv"),
        solves=pd.read_csv(d / "solves.csv"),
        timeseries=pd.read_parquet(d / "timeseries.parquet"),
        deviations=pd.read_parquet(d / "deviations.parquet"),
        meta=json.loads((d / "study.json").read_text(encoding="utf-8")),
    )

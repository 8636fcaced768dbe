"""The rural-IES study of paper 002 end to end (studies/p002_rural/run.py, studies/p002_rural/report.py,
run_sim.py study rural).

The module runs the ``--quick`` study once without figures, then draws the figures and report.md with
``--report-only`` while every solver entry point is disabled; the tests read the files back.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import run_sim
from agents.decision.uncertainty import METHODS, TwoStageDRO, ambiguity_radii, historical_errors
from agents.rural_campus import sample_errors
from scenarios.loader import load_rural_ies
from studies.p002_rural import run as rural_study
from studies.p002_rural.report import FINDINGS, HOLDS
from studies.p002_rural.run import (
    CONVERGENCE_COLUMNS,
    METHOD_COLUMNS,
    SAMPLE_COST_COLUMNS,
    SENSITIVITY_COLUMNS,
    SENSITIVITY_FILES,
    TIMESERIES_COLUMNS,
    StudyGrids,
)

REL = 1e-6


@pytest.fixture(scope="module")
def solved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rural")
    rc = run_sim.main(["study", "rural", "--quick", "--out", str(out), "--quiet", "--no-figures"])
    assert rc == 0
    return out


@pytest.fixture(scope="module")
def rendered(solved: Path) -> Path:
    """``--report-only`` on the solved folder, with every way to solve disabled."""
    assert not (solved / "report.md").exists(), "--no-figures must not write the report"

    def no_solving(*args: object, **kwargs: object) -> None:
        raise AssertionError("--report-only must not build or solve a model")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(TwoStageDRO, "__init__", no_solving)
        mp.setattr(TwoStageDRO, "solve", no_solving)
        mp.setattr(rural_study, "build_rural_day", no_solving)
        mp.setattr(rural_study, "run_rural_study", no_solving)
        t0 = time.perf_counter()
        rc = run_sim.main(["study", "rural", "--report-only", "--out", str(solved)])
        assert rc == 0
        assert time.perf_counter() - t0 < 30.0
    return solved


def _csv(out: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(out / name)


def test_every_output_file_has_its_columns(solved: Path) -> None:
    m = _csv(solved, "methods.csv")
    assert list(m.columns) == list(METHOD_COLUMNS)
    assert list(m["method"]) == list(METHODS)
    grids = StudyGrids.quick()
    sizes = {"M": len(grids.M), "K": len(grids.K), "alpha": len(grids.alpha), "lambda": len(grids.lam),
             "degree": len(grids.degree), "gap": len(grids.gap)}
    for part, name in SENSITIVITY_FILES.items():
        df = _csv(solved, name)
        assert list(df.columns) == list(SENSITIVITY_COLUMNS[part]), name
        assert len(df) == sizes[part], name
        assert (df["objective_method"] == "cdro").all()
        np.testing.assert_allclose(df["objective"], df["worst_cost"], rtol=1e-9)  # CDRO objective = W of its plan
        key = ["theta_1", "theta_inf", "historical_cost", "worst_cost", "iterations", "solve_seconds"]
        assert df[key].notna().all().all(), name
    assert list(_csv(solved, "convergence.csv").columns) == list(CONVERGENCE_COLUMNS)
    assert list(_csv(solved, "sample_costs.csv").columns) == list(SAMPLE_COST_COLUMNS)
    ts = pd.read_parquet(solved / "timeseries.parquet")
    assert list(ts.columns) == list(TIMESERIES_COLUMNS)
    meta = json.loads((solved / "study.json").read_text(encoding="utf-8"))
    assert meta["quick"] is True and meta["defaults"]["M"] == 200 and meta["defaults"]["K"] == 50
    assert set(meta["timings"]["parts_s"]) == {"methods", "lambda", "gap", "alpha", "M", "K", "degree"}
    assert meta["timings"]["total_s"] > 0 and meta["environment"]["python"]
    assert not list(solved.rglob("*.tmp*")), "a temporary file was left behind"


def test_methods_table_orders_H_and_W_as_expected(solved: Path) -> None:
    m = _csv(solved, "methods.csv").set_index("method")
    h, w = m["historical_cost"], m["worst_cost"]

    def le(a: float, b: float) -> bool:
        return a <= b + REL * max(abs(a), abs(b))

    assert le(h["so"], h["cdro"]) and le(h["cdro"], h["dro"])
    assert le(w["dro"], w["cdro"]) and le(w["cdro"], w["so"])
    assert h.idxmin() == "so" and h.idxmax() == "ro"  # RO is the conservative one
    # the DRO/CDRO objective is the C&CG upper bound = W of the returned plan
    assert m.loc["dro", "objective"] == pytest.approx(w["dro"], rel=1e-9)
    assert m.loc["cdro", "hist_bound"] == pytest.approx(h["so"] + 0.2 * (h["dro"] - h["so"]), rel=1e-9)
    assert 1 <= m.loc["cdro", "iterations"] <= 10 and m.loc["cdro", "gap"] <= 1e-4


def test_lambda_sweep_trades_H_for_W(solved: Path) -> None:
    d = _csv(solved, "sensitivity_lambda.csv").sort_values("lam")
    m = _csv(solved, "methods.csv").set_index("method")
    h, w = d["historical_cost"].to_numpy(), d["worst_cost"].to_numpy()
    assert np.all(np.diff(h) >= -REL * h.max())
    # each W is a C&CG upper bound within eps * |W| of the optimum of its λ
    assert np.all(np.diff(w) <= 1e-4 * w.max())
    assert w[0] > w[-1] and h[-1] > h[0]
    assert h[0] == pytest.approx(m.loc["so", "historical_cost"], rel=REL)  # λ = 0: SO's historical cost
    assert w[-1] == pytest.approx(m.loc["dro", "worst_cost"], rel=1e-4)  # λ = 1: DRO


def test_M_sweep_shrinks_the_ambiguity_set(solved: Path) -> None:
    d = _csv(solved, "sensitivity_M.csv").sort_values("M")
    assert list(d["M"]) == [50, 200]
    assert np.all(np.diff(d["theta_inf"]) < 0) and np.all(np.diff(d["theta_1"]) < 0)
    for r in d.itertuples():
        assert (r.theta_1, r.theta_inf) == pytest.approx(ambiguity_radii(int(r.M), int(r.K), r.alpha_1, r.alpha_inf))
    # the default point is the methods-table CDRO
    m = _csv(solved, "methods.csv").set_index("method")
    assert d.loc[d["M"] == 200, "objective"].iloc[0] == pytest.approx(m.loc["cdro", "objective"], rel=1e-12)


def test_sample_costs_and_timeseries_agree_with_the_methods_table(solved: Path) -> None:
    m = _csv(solved, "methods.csv").set_index("method")
    sc = _csv(solved, "sample_costs.csv")
    ts = pd.read_parquet(solved / "timeseries.parquet")
    for method, g in sc.groupby("method"):
        assert g["p0"].sum() == pytest.approx(1.0)
        assert float(g["p0"] @ g["total_cost"]) == pytest.approx(m.loc[method, "historical_cost"], rel=1e-9)
        assert float(g["p_worst"] @ g["total_cost"]) == pytest.approx(m.loc[method, "worst_cost"], rel=1e-9)
        x = ts[(ts["method"] == method) & (ts["variable"] == "da_trade_kw")].pivot_table(
            index="sample", columns="period", values="value", observed=True)
        assert x.shape[1] == 24 and np.allclose(x.to_numpy(), x.to_numpy()[0])  # one DA plan for every sample
    cost = ts[ts["entity"] == "cost"]
    assert set(cost["variable"].astype(str)) == {"p0", "p_worst", "recourse_cost", "total_cost"}
    assert (cost["period"] == 0).all()


def test_samples_use_common_random_numbers() -> None:
    """The documented CRN: M days are prefixes of one draw; the degree scales the same samples exactly."""
    s = 7
    long = historical_errors(np.random.default_rng(s), 500, 3, 24)
    short = historical_errors(np.random.default_rng(s), 50, 3, 24)
    np.testing.assert_array_equal(long[:50], short)
    sc = load_rural_ies("rural_ies")
    base = sample_errors(sc, np.random.default_rng(s))
    u = sc.uncertainty
    big = sample_errors(rural_study.scenario_point(sc, sigma=1.25 * u.sigma, error_bound=1.25 * u.error_bound),
                        np.random.default_rng(s))
    np.testing.assert_array_equal(big.p0, base.p0)
    np.testing.assert_allclose(big.u_pv, 1.25 * base.u_pv, atol=1e-12)
    np.testing.assert_allclose(big.u_heat, 1.25 * base.u_heat, atol=1e-12)


def test_report_only_redraws_without_solving(rendered: Path) -> None:
    report = (rendered / "report.md").read_text(encoding="utf-8")
    figs = sorted(p.name for p in (rendered / "figures").glob("*.png"))
    assert len(figs) == 10, figs
    for name in figs:
        assert f"figures/{name}" in report, name
    assert "## Methods at the defaults" in report and "## Sensitivity grids" in report


def test_report_names_every_finding(rendered: Path) -> None:
    report = (rendered / "report.md").read_text(encoding="utf-8")
    table = report.split("## Findings of paper 002")[1]
    for f in FINDINGS:
        assert f"| {f.key} |" in table, f.key
        assert f"**{f.key} — " in table, f"{f.key} has no reason"
        assert f.trend.replace("|", "\\|") in table, f.key
    why = table.split("### Why")[1]
    assert why.count("- **") == len(FINDINGS)
    # the orderings that hold by construction must be reported as holding
    for key in ("E1", "E2", "F17a"):
        assert f"**{key} — {HOLDS}**" in why, key


def test_report_only_on_an_empty_folder_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = run_sim.main(["study", "rural", "--report-only", "--out", str(tmp_path)])
    assert rc == 2
    assert "not a finished rural study" in capsys.readouterr().err


def test_bad_grids_are_rejected() -> None:
    sc = load_rural_ies("rural_ies")
    with pytest.raises(ValueError, match="K = 50"):
        rural_study.study_tasks(sc, StudyGrids(M=(20, 200)))
    with pytest.raises(ValueError, match="M = 200"):
        rural_study.study_tasks(sc, StudyGrids(K=(10, 300)))


@pytest.mark.slow
def test_full_study_meets_the_budget(tmp_path: Path) -> None:
    """The full grids (paper size) in under 10 minutes on this machine, with the paper's main trends."""
    t0 = time.perf_counter()
    rc = run_sim.main(["study", "rural", "--out", str(tmp_path), "--quiet"])
    wall = time.perf_counter() - t0
    assert rc == 0
    assert wall < 600.0, f"full rural study took {wall:.0f} s"
    m = _csv(tmp_path, "sensitivity_M.csv").sort_values("M")
    assert list(m["M"]) == [50, 100, 200, 500, 1000, 10000]
    gap = m["objective"] - m["so_historical_cost"]
    assert gap.iloc[-1] < gap.iloc[0]  # CDRO approaches SO as M grows
    k = _csv(tmp_path, "sensitivity_K.csv").sort_values("K")
    assert k["objective"].iloc[-1] > k["objective"].iloc[0]
    lam = _csv(tmp_path, "sensitivity_lambda.csv").sort_values("lam")
    assert len(lam) == 11 and np.all(np.diff(lam["historical_cost"]) >= -REL * lam["historical_cost"].max())
    a = _csv(tmp_path, "sensitivity_alpha.csv")
    assert len(a) == 9
    same = a[np.isclose(a["alpha_inf"], 0.9)].set_index("alpha_1")["objective"]
    assert math.isclose(same[0.9], same[0.99], rel_tol=1e-4)
    assert (tmp_path / "report.md").exists()

"""Summaries, figures and reports of ``run_sim.py compare`` / ``sweep`` (sim/analysis/compare.py, stats.py, sweep.py),
on synthetic and hand-made KPI frames.

``make_kpis`` builds a ``kpis.csv`` in the schema of :mod:`sim.engine.run` (identifiers, KPI columns, per-cluster
columns; gains only for the cooperative mode).  Every day has a common level shared by all modes (common random
numbers: the weather of the day) plus a mode effect plus (optionally) mode-specific noise.  ``hand`` builds a tiny
frame whose means, intervals and day counts are computed by hand below.  No solver is used.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure

from sim.analysis.compare import (
    PAIR_COLUMNS,
    compare_table,
    fig_pairs,
    fig_total_cost,
    interval_of,
    mean_ci,
    nonnegative,
    pair_table,
    paired_days,
    point_axis,
    point_differences,
    point_fields,
    summary_lines,
    sweep_table,
    write_compare,
    write_sweep,
)
from sim.analysis.stats import ordered_pairs
from sim.analysis.sweep import fig_sweep_heatmap, fig_sweep_line, ordered_points, sweep_grid
from sim.engine.system import KPI
from sim.systems import SYSTEMS

MODES = ("cooperative", "centralized", "noncooperative", "oracle")
CLUSTERS = ("C1", "C2", "C3")
EFFECT = {"cooperative": 150.0, "centralized": 400.0, "noncooperative": 450.0, "oracle": 0.0}
T975 = {2: 12.706204736174694, 3: 4.302652729749462, 4: 3.1824463052837078, 5: 2.7764451051977934,
        10: 2.262157162798205}  # Student-t quantiles t_{0.975, n-1}


def make_kpis(
    modes: tuple[str, ...] = MODES,
    days: int = 7,
    effect: dict[str, float] | None = None,
    noise: float = 20.0,
    seeds: tuple[int, ...] = (0,),
    point: str = "base",
    rng_seed: int = 1,
    day_spread: float = 1500.0,
) -> pd.DataFrame:
    """A KPI table like ``sim.engine.run.execute`` writes (one row per run and day)."""
    eff = EFFECT if effect is None else effect
    rng = np.random.default_rng(rng_seed)
    rows = []
    for seed in seeds:
        level = 10_000.0 + rng.normal(0.0, day_spread, days)  # the day's weather, shared by every mode
        curt = np.abs(rng.normal(300.0, 150.0, days))
        for mode in modes:
            for d in range(days):
                cost = level[d] + eff[mode] + rng.normal(0.0, noise)
                row: dict[str, object] = {
                    "run": f"{mode}-s{seed}", "mode": mode, "seed": seed, "point": point, "day": d + 1,
                    "day_of_year": 172 + d, "total_cost": cost, "grid_cost": 0.8 * cost, "curtailment_penalty": 5.0,
                    "curtailment_kwh": curt[d] * (1.5 if mode == "noncooperative" else 1.0),
                    "curtailment_rate": curt[d] / 20_000.0, "renewable_available_kwh": 20_000.0,
                    "grid_kwh": cost / 0.11, "peak_valley_kw": 2000.0 + 10 * d, "vmin_pu": 0.94 - 0.001 * d,
                    "vmax_pu": 1.02, "vmin_ac_pu": 0.938 - 0.001 * d, "da_curtailment_kwh": 10.0,
                }
                for j, c in enumerate(CLUSTERS):
                    row[f"final_cost_{c}"] = cost / 3 + 10 * j
                    if mode == "cooperative":
                        row[f"gain_{c}"] = 20.0 + 5 * j + rng.normal(0.0, 2.0)
                        row[f"payment_{c}"] = 3.0 - 3 * j
                        row[f"weight_{c}"] = 1 / 3
                    row[f"ess_start_kwh_{c}"] = 500.0
                    row[f"ess_end_kwh_{c}"] = 500.0
                rows.append(row)
    return pd.DataFrame(rows)


def write_kpis(tmp: Path, kpis: pd.DataFrame, manifest: dict[str, object] | None = None) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    kpis.to_csv(tmp / "kpis.csv", index=False)
    if manifest is not None:
        (tmp / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return tmp




def hand(costs: dict[str, list[float]], seeds: tuple[int, ...] = (0,), point: str = "base",
         curtailment: dict[str, list[float]] | None = None) -> pd.DataFrame:
    """One row per (mode, seed, day): ``costs[mode]`` lists the days of every seed one after the other."""
    rows = []
    for mode, values in costs.items():
        n = len(values) // len(seeds)
        for s, seed in enumerate(seeds):
            for d in range(n):
                v = values[s * n + d]
                rows.append({"run": f"{mode}-s{seed}", "mode": mode, "seed": seed, "point": point, "day": d + 1,
                             "total_cost": v, "curtailment_kwh": (curtailment or {}).get(mode, [0.0] * len(values))[
                                 s * n + d]})
    return pd.DataFrame(rows)


def pair(p: pd.DataFrame, a: str, b: str, metric: str = "total_cost") -> pd.Series:
    return p[(p["a"] == a) & (p["b"] == b) & (p["metric"] == metric)].iloc[0]


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    assert len(data) > 10_000, f"{path}: only {len(data)} bytes"


def assert_links_resolve(out: Path) -> list[str]:
    text = (out / "report.md").read_text(encoding="utf-8")
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    for link in links:
        assert (out / link).is_file(), link
    return links


def assert_ticks_apart(fig: Figure) -> int:
    """Draw ``fig`` and check that no two visible x tick labels of an axes overlap; returns how many were checked."""
    FigureCanvasAgg(fig).draw()
    checked = 0
    for ax in fig.axes:
        boxes = [t.get_window_extent() for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
        for b1, b2 in itertools.combinations(boxes, 2):
            assert not b1.overlaps(b2), (ax.get_title(), b1, b2)
        checked += len(boxes)
    return checked


# ---------------------------------------------------------------------------------------------- intervals
def test_mean_ci_matches_hand_computation() -> None:
    # mean 3, s = sqrt(2.5), se = sqrt(0.5)
    m, lo, hi, n = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    half = T975[5] * math.sqrt(0.5)
    assert (m, n) == (3.0, 5)
    assert (lo, hi) == pytest.approx((3.0 - half, 3.0 + half), rel=1e-12)
    _, lo2, hi2, _ = mean_ci(np.array([10.0, 12.0]))  # s = |a − b| / sqrt 2, se = |a − b| / 2
    assert (lo2, hi2) == pytest.approx((11.0 - T975[2], 11.0 + T975[2]), rel=1e-12)
    m, lo, hi, n = mean_ci([2.0, float("nan"), 4.0, float("inf")])  # non-finite values left out
    assert (m, n) == (3.0, 2)
    with pytest.raises(ValueError, match="level"):
        mean_ci([1.0, 2.0], level=1.0)


def test_interval_of_a_nonnegative_quantity_never_reaches_below_zero() -> None:
    # few days: [100, 200, 600] has mean 300, s² = 70 000, half = t · sqrt(70 000 / 3) = 657.2 > 300: the range
    x = [100.0, 200.0, 600.0]
    half = T975[3] * math.sqrt(70_000.0 / 3.0)
    signed = interval_of(x, nonnegative=False)
    assert (signed.mean, signed.lo, signed.hi, signed.method) == pytest.approx((300.0, 300.0 - half, 300.0 + half,
                                                                                "t"))
    iv = interval_of(x, nonnegative=True)
    assert (iv.mean, iv.lo, iv.hi, iv.n, iv.method, iv.mark) == (300.0, 100.0, 600.0, 3, "range", "†")
    # ten days, one of them large: mean 10, s = sqrt(1000), se = 10, lower end 10 − 22.6 < 0: clipped at 0
    y = [0.0] * 9 + [100.0]
    iv = interval_of(y, nonnegative=True)
    assert (iv.lo, iv.method, iv.mark) == (0.0, "t, clipped at 0", "*")
    assert iv.hi == pytest.approx(10.0 + T975[10] * 10.0, rel=1e-12)
    assert interval_of(y).lo == pytest.approx(10.0 - T975[10] * 10.0, rel=1e-12)  # signed: the plain t-interval
    # an interval that stays above 0 is the t-interval; one day has none
    z = interval_of([10.0, 11.0, 12.0], nonnegative=True)
    assert z.method == "t" and z.lo == pytest.approx(11.0 - T975[3] / math.sqrt(3.0), rel=1e-12)
    one = interval_of([5.0], nonnegative=True)
    assert one.n == 1 and one.method == "none (n < 2)" and math.isnan(one.lo) and math.isnan(one.hi)


def test_which_quantities_cannot_be_negative(caplog: pytest.LogCaptureFixture) -> None:
    assert KPI("c", "USD", True, "a cost").is_nonnegative  # lower is better: inferred non-negative
    assert not KPI("c", "USD", True, "net of sales", nonnegative=False).is_nonnegative
    assert not KPI("v", "p.u.", False, "a voltage").is_nonnegative
    assert nonnegative("total_cost", [7800.0, 9000.0], SYSTEMS["ieee33"])
    assert nonnegative("curtailment_kwh", [0.0, 12.0])
    assert not nonnegative("total_cost", [1.0, 2.0], SYSTEMS["lowcarbon_ies"])  # carbon allowances sold: signed
    assert not nonnegative("gain_C1", [1.0, 2.0])  # not a KPI: signed
    with caplog.at_level(logging.WARNING):
        assert not nonnegative("total_cost", [5.0, -3.0], SYSTEMS["ieee33"])  # the data contradict the declaration
    assert "declared non-negative" in caplog.text


def test_compare_table_reports_no_negative_cost() -> None:
    """The issue's case: few days with a large spread must not give a cost interval below 0."""
    kpis = hand({"cooperative": [100.0, 200.0, 600.0], "centralized": [150.0, 260.0, 640.0]})
    t = compare_table(kpis).set_index(["mode", "metric"])
    r = t.loc[("cooperative", "total_cost")]
    assert (r["mean"], r["ci_low"], r["ci_high"], r["ci_method"], r["n_days"]) == (300.0, 100.0, 600.0, "range", 3)
    assert (t["ci_low"].dropna() >= 0).all()
    text = summary_lines(kpis)
    assert "300.00 [100.00, 600.00]†" in text


def test_duplicate_days_are_rejected() -> None:
    kpis = hand({"cooperative": [1.0, 2.0]})
    with pytest.raises(ValueError, match="share"):
        compare_table(pd.concat([kpis, kpis.iloc[:1]]))


# ---------------------------------------------------------------------------------------------- pairs
def test_pair_order_key_contrast_first() -> None:
    modes = ["oracle", "noncooperative", "centralized", "cooperative"]
    assert ordered_pairs(modes, SYSTEMS["ieee33"]) == [
        ("cooperative", "centralized"), ("cooperative", "noncooperative"), ("cooperative", "oracle"),
        ("centralized", "noncooperative"), ("centralized", "oracle"), ("noncooperative", "oracle")]
    assert ordered_pairs(modes, SYSTEMS["three_campus"])[:2] == [("cooperative", "noncooperative"),
                                                                   ("cooperative", "centralized")]
    assert ordered_pairs(modes)[0] == ("cooperative", "centralized")  # no manifest: the registry's first key contrast
    assert ordered_pairs(["centralized", "oracle"]) == [("centralized", "oracle")]
    assert ordered_pairs(["oracle"]) == []


def test_pair_table_closed_form() -> None:
    # cooperative − centralized per day: −10, −20, −30 → mean −20, s = 10, half = t₀.₉₇₅,₂ · 10 / √3
    # cooperative − noncooperative: −100, 0, +50 → one each, and a tie
    kpis = hand({"cooperative": [100.0, 200.0, 300.0], "centralized": [110.0, 220.0, 330.0],
                 "noncooperative": [200.0, 200.0, 250.0]})
    p = pair_table(kpis, ["total_cost"])
    assert list(p.columns) == list(PAIR_COLUMNS)
    assert list(zip(p["a"], p["b"], strict=True)) == [("cooperative", "centralized"), ("cooperative", "noncooperative"),
                                                      ("centralized", "noncooperative")]
    assert list(p["order"]) == [1, 2, 3]
    r = pair(p, "cooperative", "centralized")
    half = T975[3] * 10.0 / math.sqrt(3.0)
    assert (r["n_days"], r["mean"]) == (3, pytest.approx(-20.0))
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((-20.0 - half, -20.0 + half), rel=1e-12)
    assert r["mean_pct"] == pytest.approx(-100.0 * (10 / 110 + 20 / 220 + 30 / 330) / 3)  # per day, then averaged
    assert (r["days_a_lower"], r["days_b_lower"], r["days_tie"]) == (3, 0, 0)
    assert not r["conclusive"]  # −20 ± 24.8 includes 0
    assert "cooperative vs centralized: not conclusive" in r["verdict"] and "cheaper on 3" in r["verdict"]
    r = pair(p, "cooperative", "noncooperative")
    assert (r["days_a_lower"], r["days_b_lower"], r["days_tie"]) == (1, 1, 1)
    assert r["mean"] == pytest.approx(-50.0 / 3.0)


def test_pairs_match_seed_and_day_and_state_unmatched() -> None:
    # two seeds × two days = four observations; cooperative is cheaper by exactly 5 on each
    kpis = hand({"cooperative": [10.0, 20.0, 30.0, 40.0], "centralized": [15.0, 25.0, 35.0, 45.0]}, seeds=(0, 1))
    r = pair(pair_table(kpis), "cooperative", "centralized")
    assert (r["n_days"], r["mean"], r["ci_low"], r["ci_high"]) == (4, -5.0, -5.0, -5.0)
    assert r["conclusive"] and "**cooperative is cheaper than centralized: conclusive**" in r["verdict"]
    shuffled = pair_table(kpis.sample(frac=1.0, random_state=3))
    pd.testing.assert_frame_equal(pair_table(kpis), shuffled)
    # seed 1 day 2 failed for centralized: three pairs remain, one day only in cooperative
    cut = kpis[~((kpis["mode"] == "centralized") & (kpis["seed"] == 1) & (kpis["day"] == 2))]
    r = pair(pair_table(cut), "cooperative", "centralized")
    assert (r["n_days"], r["a_only"], r["b_only"]) == (3, 1, 0)
    assert "1 only in cooperative" in r["note"]
    one = pair(pair_table(hand({"cooperative": [1.0], "centralized": [2.0]})), "cooperative", "centralized")
    assert one["n_days"] == 1 and math.isnan(one["ci_low"]) and "n < 2: no interval" in one["note"]
    assert "not conclusive (n < 2: no interval)" in one["verdict"]
    ties = pair(pair_table(hand({"cooperative": [3.0, 4.0], "centralized": [3.0, 4.0]})), "cooperative", "centralized")
    assert ties["days_tie"] == 2 and "equal on every day" in ties["verdict"]


def test_paired_days_ignore_row_order_and_the_daily_spread() -> None:
    kpis = make_kpis(noise=0.0, day_spread=3000.0)
    joined, unmatched = paired_days(kpis, "noncooperative", "oracle")
    assert unmatched == 0 and len(joined) == 7
    assert joined["diff"].to_numpy() == pytest.approx(np.full(7, EFFECT["noncooperative"]))
    assert kpis.loc[kpis["mode"] == "oracle", "total_cost"].std() > 1000  # unpaired, hopelessly wide


def test_summary_lines_print_the_first_pair() -> None:
    text = summary_lines(make_kpis(days=5))
    lines = text.splitlines()
    for mode in MODES:
        assert any(line.startswith(mode) for line in lines)
    assert "(reference)" in text
    assert lines[-1].startswith("cooperative − centralized: cooperative is cheaper than centralized: conclusive")
    assert "cooperative cheaper on 5, centralized cheaper on 0, equal on 0 of 5 days" in lines[-1]


# ---------------------------------------------------------------------------------------------- figures
def _errorbars(fig: Figure) -> int:
    return sum(isinstance(c, ErrorbarContainer) for ax in fig.axes for c in ax.containers)


def test_few_days_are_points_many_days_are_intervals() -> None:
    few = make_kpis(days=4)
    fig = fig_total_cost(compare_table(few), few)
    ax = fig.axes[0]
    assert _errorbars(fig) == 0
    joins = [ln for ln in ax.lines if len(ln.get_xdata()) == len(MODES)]  # one grey line per day across the modes
    assert len(joins) == 4
    assert sum(len(c.get_offsets()) for c in ax.collections) == 4 * len(MODES)  # every day of every mode a marker
    p = pair_table(few)
    assert _errorbars(fig_pairs(p, few)) == 0
    many = make_kpis(days=10)
    assert _errorbars(fig_total_cost(compare_table(many), many)) == len(MODES)
    assert _errorbars(fig_pairs(pair_table(many), many)) == 6  # every pair of four modes
    assert assert_ticks_apart(fig) == len(MODES)


# ---------------------------------------------------------------------------------------------- files
def test_write_compare_files(tmp_path: Path) -> None:
    kpis = make_kpis(days=3, seeds=(0, 1))
    kpis = kpis[~((kpis["mode"] == "centralized") & (kpis["seed"] == 1) & (kpis["day"] == 3))]
    manifest = {"scenario": "ieee33", "scenario_sha256": "ab" * 32,  # no "system": loading ieee33 costs 10 s
                "command": "run_sim.py compare --days 3", "settings": {"replay": "oracle", "n_mc": 200}}
    write_kpis(tmp_path, kpis, manifest)
    pd.DataFrame([{"run": "centralized-s1", "mode": "centralized", "seed": 1, "point": "base", "day": 3,
                   "message": "day 3 of centralized-s1 infeasible at 14:15"}]).to_csv(tmp_path / "failures.csv",
                                                                                     index=False)
    files = write_compare(tmp_path)
    expected = {"comparison", "pairs", "report", "total_cost", "cost_per_day", "pairs_total_cost",
                "cooperative_vs_centralized", "cluster_gains", "curtailment_grid", "voltages"}
    assert set(files) == expected
    for path in files.values():
        assert path.is_file()
        if path.suffix == ".png":
            assert_png(path)
    pd.testing.assert_frame_equal(pd.read_csv(files["comparison"]), compare_table(kpis),
                                  check_dtype=False, atol=1e-6)
    pairs = pd.read_csv(files["pairs"])
    assert pairs.iloc[0]["contrast"] == "cooperative − centralized" and pairs.iloc[0]["metric"] == "total_cost"
    assert set(pairs["metric"]) >= {"total_cost", "curtailment_kwh", "grid_kwh"}
    r = pair(pairs, "cooperative", "centralized")
    assert (r["n_days"], r["a_only"]) == (5, 1)  # two seeds × three days, one failed
    report = files["report"].read_text(encoding="utf-8")
    verdict = report.split("## Verdict")[1]
    assert verdict.index("cooperative − centralized") < verdict.index("cooperative − noncooperative")
    assert "## Failed runs (1)" in report and "infeasible at 14:15" in report
    assert "cooperative − centralized: 1 (seed, day) only in cooperative" in report
    assert "seeds 0, 1" in report and "n_mc = 200" in report and "individually rational" in report
    assert len(assert_links_resolve(tmp_path)) == 7
    assert not list(tmp_path.rglob("*.tmp"))


def test_write_compare_one_mode_one_day(tmp_path: Path) -> None:
    files = write_compare(write_kpis(tmp_path, make_kpis(modes=("oracle",), days=1)))
    report = files["report"].read_text(encoding="utf-8")
    assert "Only one mode ran" in report and "(n < 2)" in report
    assert pd.read_csv(files["pairs"]).empty
    assert "pairs_total_cost" not in files and "cluster_gains" not in files


def test_missing_kpis_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"kpis\.csv"):
        write_compare(tmp_path)


# ---------------------------------------------------------------------------------------------- sweeps
def lean(point: str, shift: float, days: int = 3, modes: tuple[str, ...] = ("cooperative",)) -> pd.DataFrame:
    """Total cost 100·(day) + shift per mode effect, curtailment = day: only two metrics, so few figures."""
    return hand({m: [100.0 * d + shift + EFFECT[m] for d in range(1, days + 1)] for m in modes}, point=point,
                curtailment={m: [float(d) for d in range(1, days + 1)] for m in modes})


def test_point_fields_and_axis() -> None:
    f = point_fields(["market.kappa=0.9,ev.share=b", "market.kappa=0,ev.share=a", "market.kappa=0.9,ev.share=a",
                      "market.kappa=0,ev.share=b"])
    assert list(f.columns) == ["market.kappa", "ev.share"] and f["market.kappa"].dtype == float
    assert ordered_points(f) == ["market.kappa=0,ev.share=b", "market.kappa=0,ev.share=a",
                                 "market.kappa=0.9,ev.share=b", "market.kappa=0.9,ev.share=a"]  # numeric, then given
    manifest = {"runs": [{"point": "a", "overrides": [["market.kappa", 0.9]]},
                         {"point": "b", "overrides": [["market.kappa", "0.1"]]}]}
    assert point_axis(["a", "b"], manifest) == (["b", "a"], [0.1, 0.9], "market.kappa")
    assert point_axis(["market.kappa=10", "market.kappa=9"]) == (["market.kappa=9", "market.kappa=10"], [9.0, 10.0],
                                                                 "market.kappa")  # numeric, not text order
    assert point_axis(["base", "market.kappa=0.5"])[1:] == (None, "sweep point")
    assert point_axis(["a.x=1", "b.y=2"])[1] is None


def test_sweep_heatmap_cells(tmp_path: Path) -> None:
    # total cost mean over days 1..3 = 200 + 50·kappa_index + 7·(scale is high)
    kappas, scales = (0.9, 0.0, 0.5), ("low", "high")
    frames = [lean(f"market.kappa={k},network.load_scale={s}", 50.0 * sorted(kappas).index(k) + 7.0 * (s == "high"),
                   modes=("cooperative", "oracle")) for k in kappas for s in scales]
    kpis = pd.concat(frames, ignore_index=True)
    fields = point_fields(list(kpis["point"]))
    table = sweep_table(kpis, points=ordered_points(fields))
    grid = sweep_grid(table, "total_cost", "cooperative", fields)
    assert list(grid.columns) == [0.0, 0.5, 0.9] and list(grid.index) == ["low", "high"]
    expected = 200.0 + 150.0 + np.array([[0.0, 50.0, 100.0], [7.0, 57.0, 107.0]])
    np.testing.assert_allclose(grid.to_numpy(float), expected)
    fig = fig_sweep_heatmap(table, "total_cost", fields)
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 2  # one heatmap per mode
    np.testing.assert_allclose(np.asarray(images[0].get_array()), expected)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "350.00" in texts and "457.00" in texts  # every cell annotated
    files = write_sweep(write_kpis(tmp_path, kpis))
    report = files["report"].read_text(encoding="utf-8")
    assert "Sweep over market.kappa × network.load_scale" in report
    assert "| market.kappa | network.load_scale | days |" in report
    assert set(files) == {"sweep", "report", "sweep_total_cost", "sweep_curtailment_kwh"}
    sweep = pd.read_csv(files["sweep"], dtype={"point": str})
    assert list(dict.fromkeys(sweep["point"]))[:2] == ["market.kappa=0.0,network.load_scale=low",
                                                       "market.kappa=0.0,network.load_scale=high"]


def test_sweep_one_field_line(tmp_path: Path) -> None:
    labels = {"market.kappa=0.9": 300.0, "market.kappa=0": 0.0, "market.kappa=0.5": 150.0}
    kpis = pd.concat([lean(p, s, days=4) for p, s in labels.items()], ignore_index=True)
    pts, x, xlabel = point_axis(list(kpis["point"]))
    diff = point_differences(kpis, "cooperative", "total_cost", pts)
    assert list(diff["point"]) == ["market.kappa=0.5", "market.kappa=0.9"]
    assert list(diff["mean"]) == pytest.approx([150.0, 300.0]) and (diff["n_days"] == 4).all()
    table = sweep_table(kpis, points=pts)
    fig = fig_sweep_line(table, kpis, "total_cost", pts, x, xlabel)
    mean_line = next(ln for ln in fig.axes[0].lines if ln.get_label() == "Cooperative")
    assert list(mean_line.get_xdata()) == [0.0, 0.5, 0.9]  # sorted numerically: a line, not a zig-zag
    assert list(mean_line.get_ydata()) == pytest.approx([400.0, 550.0, 700.0])
    assert len(fig.axes[0].lines) == 1 + 4  # four days (< 10) as thin lines
    files = write_sweep(write_kpis(tmp_path, kpis))
    report = files["report"].read_text(encoding="utf-8")
    assert "market.kappa=0.9 − market.kappa=0" in report and "higher (conclusive)" in report
    assert len(assert_links_resolve(tmp_path)) == 2


def test_sweep_ticks_do_not_overlap() -> None:
    names = [f"network.load_scale=scenario_{c}_with_a_long_name" for c in "abcdefghijkl"]
    kpis = pd.concat([lean(p, 10.0 * i) for i, p in enumerate(names)], ignore_index=True)
    pts, x, xlabel = point_axis(list(kpis["point"]))
    assert x is None and xlabel == "network.load_scale"
    fig = fig_sweep_line(sweep_table(kpis, points=pts), kpis, "total_cost", pts, x, xlabel)
    assert assert_ticks_apart(fig) >= 12


def test_a_behaviour_sweep_reports_each_agents_true_cost_change(tmp_path: Path) -> None:
    """Points that vary a behaviour (``behaviours.C1=...``) move money between agents: the effects table adds each
    agent's final cost, paired by day (here C1's lie takes 30 USD/day from C2 while the system cost stays)."""
    points = {"behaviours.C1=truthful": 0.0, "behaviours.C1=misreport:-0.1": 30.0}
    frames = []
    for p, lie in points.items():
        f = lean(p, 0.0)
        f["final_cost_C1"] = 500.0 + 10.0 * f["day"] - lie
        f["final_cost_C2"] = 300.0 + 5.0 * f["day"] + lie
        frames.append(f)
    kpis = pd.concat(frames, ignore_index=True)
    manifest = {"runs": [{"point": p, "overrides": [["behaviours.C1", p.split("=", 1)[1]]]} for p in points]}
    report = write_sweep(write_kpis(tmp_path, kpis, manifest))["report"].read_text(encoding="utf-8")
    rows = [ln for ln in report.splitlines() if ln.startswith("| cooperative | final cost of")]
    assert len(rows) == 2
    assert "C1" in rows[0] and "-30.00" in rows[0] and "lower (conclusive)" in rows[0]
    assert "C2" in rows[1] and "+30.00" in rows[1] and "higher (conclusive)" in rows[1]
    assert "| cooperative | total cost (USD/day) | behaviours.C1=misreport:-0.1 − behaviours.C1=truthful | 3 | +0.00" \
        in report

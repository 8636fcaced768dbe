"""Summaries, figures and reports of ``run_sim.py compare`` / ``sweep`` (sim/analysis/compare.py), on synthetic
KPI frames.

``make_kpis`` builds a ``kpis.csv`` in the schema of :mod:`sim.engine.run` (identifiers, KPI columns, per-cluster
columns; gains only for the cooperative mode).  Every day has a common level shared by all modes (common random
numbers: the weather of the day) plus a mode effect plus (optionally) mode-specific noise, so paired differences
are much sharper than the spread of the daily costs.  No solver is used.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.analysis.compare import (
    PAIRED_COLUMNS,
    compare_table,
    key_verdict,
    mean_ci,
    metrics_of,
    paired_days,
    paired_differences,
    point_axis,
    point_differences,
    summary_lines,
    sweep_table,
    write_compare,
    write_sweep,
)

MODES = ("cooperative", "centralized", "noncooperative", "oracle")
CLUSTERS = ("C1", "C2", "C3")
EFFECT = {"cooperative": 150.0, "centralized": 400.0, "noncooperative": 450.0, "oracle": 0.0}


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


def key(diffs: pd.DataFrame) -> pd.Series:
    return diffs[diffs["kind"] == "key_contrast"].iloc[0]


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


# ---------------------------------------------------------------------------------------------- mean_ci
def test_mean_ci_matches_hand_computation() -> None:
    # mean 3, s = sqrt(2.5), se = sqrt(0.5); t_{0.975, 4} = 2.7764451051977987
    m, lo, hi, n = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    half = 2.7764451051977987 * math.sqrt(0.5)
    assert (m, n) == (3.0, 5)
    assert lo == pytest.approx(3.0 - half, rel=1e-12)
    assert hi == pytest.approx(3.0 + half, rel=1e-12)
    # 90 %: t_{0.95, 4} = 2.1318467863266495
    _, lo90, hi90, _ = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0], level=0.90)
    assert (3.0 - lo90, hi90 - 3.0) == pytest.approx((2.1318467863266495 * math.sqrt(0.5),) * 2, rel=1e-12)
    # two values: t_{0.975, 1} = 12.706204736174698, s = |a − b| / sqrt 2, se = |a − b| / 2
    _, lo2, hi2, _ = mean_ci(np.array([10.0, 12.0]))
    assert (lo2, hi2) == pytest.approx((11.0 - 12.706204736174698, 11.0 + 12.706204736174698), rel=1e-12)


def test_mean_ci_edge_cases() -> None:
    m, lo, hi, n = mean_ci([7.5])
    assert (m, n) == (7.5, 1) and math.isnan(lo) and math.isnan(hi)
    m, lo, hi, n = mean_ci([])
    assert n == 0 and all(math.isnan(v) for v in (m, lo, hi))
    m, lo, hi, n = mean_ci([2.0, float("nan"), 4.0, float("inf")])  # non-finite values left out
    assert (m, n) == (3.0, 2)
    assert mean_ci(pd.Series([4.0, 4.0, 4.0]))[:3] == (4.0, 4.0, 4.0)
    with pytest.raises(ValueError, match="level"):
        mean_ci([1.0, 2.0], level=1.0)


# ---------------------------------------------------------------------------------------------- tables
def test_compare_table_rows_and_values() -> None:
    kpis = make_kpis()
    t = compare_table(kpis)
    assert list(t.columns[:6]) == ["mode", "metric", "mean", "ci_low", "ci_high", "n_days"]
    assert list(dict.fromkeys(t["mode"])) == list(MODES)
    gains = t[t["metric"].str.startswith("gain_")]
    assert set(gains["mode"]) == {"cooperative"} and len(gains) == 3  # gains only where there was a bargaining
    assert set(t.loc[t["mode"] == "oracle", "metric"]) == set(metrics_of(kpis)) - {f"gain_{c}" for c in CLUSTERS}
    r = t[(t["mode"] == "centralized") & (t["metric"] == "total_cost")].iloc[0]
    m, lo, hi, n = mean_ci(kpis.loc[kpis["mode"] == "centralized", "total_cost"])
    assert (r["mean"], r["ci_low"], r["ci_high"], r["n_days"]) == pytest.approx((m, lo, hi, n))
    for metric in ("total_cost", "grid_cost", "curtailment_kwh", "curtailment_rate", "grid_kwh", "peak_valley_kw",
                   "vmin_pu", "vmax_pu", "final_cost_C1"):
        assert metric in set(t["metric"])


def test_duplicate_days_are_rejected() -> None:
    kpis = make_kpis(days=2)
    with pytest.raises(ValueError, match="share"):
        compare_table(pd.concat([kpis, kpis.iloc[:1]]))


# ---------------------------------------------------------------------------------------------- pairing
def test_paired_differences_match_days_not_rows() -> None:
    """Constant mode effect on days with a large spread: the paired interval is tight, whatever the row order."""
    kpis = make_kpis(noise=0.0, day_spread=3000.0)
    diffs = paired_differences(kpis)
    shuffled = paired_differences(kpis.sample(frac=1.0, random_state=3).reset_index(drop=True))
    pd.testing.assert_frame_equal(diffs, shuffled)
    assert list(diffs.columns) == list(PAIRED_COLUMNS)
    pod = diffs[diffs["kind"] == "price_of_decentralisation"].set_index("mode")
    assert list(pod.index) == ["cooperative", "centralized", "noncooperative"]
    for mode in pod.index:
        assert pod.loc[mode, "mean_usd"] == pytest.approx(EFFECT[mode])
        assert pod.loc[mode, "ci_high_usd"] - pod.loc[mode, "ci_low_usd"] < 1e-6  # exact pairs: no spread
        assert pod.loc[mode, "days_mode_cheaper"] == 0
    k = key(diffs)
    assert k["mean_usd"] == pytest.approx(EFFECT["cooperative"] - EFFECT["noncooperative"])
    # unpaired, the same data would be hopelessly wide: the daily costs spread by thousands
    assert kpis.loc[kpis["mode"] == "cooperative", "total_cost"].std() > 1000


def test_paired_percentages_are_per_day() -> None:
    kpis = make_kpis(modes=("noncooperative", "oracle"), days=3, noise=0.0)
    pairs, unmatched = paired_days(kpis, "noncooperative", "oracle")
    assert unmatched == 0 and len(pairs) == 3
    expected = (100 * pairs["diff"] / pairs["reference"].abs()).mean()
    row = paired_differences(kpis).iloc[0]
    assert row["mean_pct"] == pytest.approx(expected)


def test_unmatched_days_are_left_out_with_a_note() -> None:
    kpis = make_kpis(days=5)
    kpis = kpis[~((kpis["mode"] == "noncooperative") & (kpis["day"] == 5))]
    k = key(paired_differences(kpis))
    assert k["n_days"] == 4 and k["unmatched_rows"] == 1
    assert "without a counterpart" in k["note"]


def test_conclusive_when_cooperative_always_cheaper(tmp_path: Path) -> None:
    kpis = make_kpis(days=7, noise=20.0)
    diffs = paired_differences(kpis)
    k = key(diffs)
    assert k["ci_high_usd"] < 0 and bool(k["conclusive"])
    assert k["days_mode_cheaper"] == 7 and k["frac_mode_cheaper"] == 1.0
    text = key_verdict(diffs)
    assert "Cooperative is cheaper than noncooperative: conclusive" in text
    assert "cheaper on 7 of 7 days" in text and "the interval excludes 0, so the data are conclusive" in text
    files = write_compare(write_kpis(tmp_path, kpis))
    report = files["report"].read_text(encoding="utf-8")
    assert "the interval excludes 0, so the data are conclusive" in report
    assert "not conclusive" not in report.split("## Setup")[0]


def test_not_conclusive_when_noise_dominates(tmp_path: Path) -> None:
    kpis = make_kpis(days=7, noise=0.0)
    noise = np.array([300.0, -250.0, 100.0, -200.0, 50.0, -20.0, 10.0])  # mean −1.43, s ≈ 190
    coop = kpis["mode"] == "cooperative"
    nonc = kpis.loc[kpis["mode"] == "noncooperative", "total_cost"].to_numpy()
    kpis.loc[coop, "total_cost"] = nonc + noise
    k = key(paired_differences(kpis))
    assert k["ci_low_usd"] < 0 < k["ci_high_usd"] and not bool(k["conclusive"])
    assert k["mean_usd"] == pytest.approx(noise.mean())
    assert k["days_mode_cheaper"] == 3
    files = write_compare(write_kpis(tmp_path, kpis))
    report = files["report"].read_text(encoding="utf-8")
    assert "the interval includes 0, so the data are not conclusive" in report
    assert "Cooperative vs noncooperative: not conclusive" in report


def test_cooperative_dearer_is_conclusive_the_other_way() -> None:
    kpis = make_kpis(effect={"cooperative": 600.0, "centralized": 0.0, "noncooperative": 100.0, "oracle": 0.0})
    text = key_verdict(paired_differences(kpis))
    assert "Cooperative is dearer than noncooperative: conclusive" in text
    assert "cheaper on 0 of 7 days" in text


# ---------------------------------------------------------------------------------------------- missing modes, n = 1
def test_missing_modes_skip_their_contrasts(tmp_path: Path) -> None:
    kpis = make_kpis(modes=("cooperative", "centralized"), days=4)
    diffs = paired_differences(kpis)
    # no full-information mode ran: no price-of-decentralisation rows, only the key contrast (skipped)
    assert list(diffs["kind"]) == ["key_contrast"]
    assert (diffs["n_days"] == 0).all() and diffs["mean_usd"].isna().all()
    assert key(diffs)["note"] == "skipped: no rows for mode noncooperative"
    assert "not compared" in key_verdict(diffs)
    files = write_compare(write_kpis(tmp_path, kpis))
    assert "price_of_decentralisation" not in files and "cooperative_vs_noncooperative" not in files
    assert {"total_cost", "cost_per_day", "cluster_gains", "curtailment_grid", "voltages"} <= set(files)
    report = files["report"].read_text(encoding="utf-8")
    assert "not run: noncooperative, oracle" in report
    assert_links_resolve(tmp_path)
    lines = summary_lines(kpis)
    assert "not compared" in lines and "cooperative" in lines


def test_only_the_base_mode(tmp_path: Path) -> None:
    kpis = make_kpis(modes=("oracle",), days=3)
    diffs = paired_differences(kpis)
    assert list(diffs["kind"]) == ["key_contrast"]
    files = write_compare(write_kpis(tmp_path, kpis))
    assert "cluster_gains" not in files and files["report"].is_file()


def test_one_day_gives_no_interval(tmp_path: Path) -> None:
    kpis = make_kpis(days=1)
    t = compare_table(kpis)
    assert (t["n_days"] == 1).all() and t["ci_low"].isna().all() and t["ci_high"].isna().all()
    k = key(paired_differences(kpis))
    assert k["n_days"] == 1 and not bool(k["conclusive"]) and "one day" in k["note"]
    files = write_compare(write_kpis(tmp_path, kpis))
    report = files["report"].read_text(encoding="utf-8")
    assert "not conclusive" in report and "n/a" in report
    for name in ("total_cost", "price_of_decentralisation", "cooperative_vs_noncooperative"):
        assert_png(files[name])
    assert "± n/a" in summary_lines(kpis)


# ---------------------------------------------------------------------------------------------- files
def test_write_compare_files(tmp_path: Path) -> None:
    kpis = make_kpis(days=5, seeds=(0, 1))
    manifest = {"scenario": "ieee33", "scenario_sha256": "ab" * 32, "command": "run_sim.py compare --days 5",
                "settings": {"replay": "oracle", "n_mc": 200, "n_scenarios": 6}}
    files = write_compare(write_kpis(tmp_path, kpis, manifest))
    expected = {"comparison", "decentralisation", "report", "total_cost", "cost_per_day", "price_of_decentralisation",
                "cluster_gains", "curtailment_grid", "voltages", "cooperative_vs_noncooperative"}
    assert set(files) == expected
    for name, path in files.items():
        assert path.is_file(), name
        if path.suffix == ".png":
            assert path.parent == tmp_path / "figures"
            assert_png(path)
    comp = pd.read_csv(files["comparison"])
    pd.testing.assert_frame_equal(comp, compare_table(kpis), check_dtype=False, atol=1e-6)
    dec = pd.read_csv(files["decentralisation"])
    assert list(dec.columns) == list(PAIRED_COLUMNS)
    assert key(dec)["n_days"] == 10  # two seeds × five days, paired on (seed, day)
    links = assert_links_resolve(tmp_path)
    assert len(links) == 7
    report = files["report"].read_text(encoding="utf-8")
    assert "scenario `ieee33`" in report and "seeds 0, 1" in report and "n_mc = 200" in report
    assert "individually rational" in report and "Price of decentralisation" in report
    assert not list(tmp_path.rglob("*.tmp"))  # atomic writes leave nothing behind


def test_summary_lines() -> None:
    text = summary_lines(make_kpis(days=5))
    lines = text.splitlines()
    for mode in MODES:
        assert any(line.startswith(mode) for line in lines)
    assert "(reference)" in text and "conclusive" in text and "±" in text


def test_point_axis() -> None:
    pts, x, label = point_axis(["market.kappa=0.9", "market.kappa=0", "market.kappa=0.5"])
    assert pts == ["market.kappa=0", "market.kappa=0.5", "market.kappa=0.9"] and x == [0.0, 0.5, 0.9]
    assert label == "market.kappa"
    manifest = {"runs": [{"point": "a", "overrides": [["market.kappa", 0.9]]},
                         {"point": "b", "overrides": [["market.kappa", "0.1"]]}]}
    assert point_axis(["a", "b"], manifest) == (["b", "a"], [0.1, 0.9], "market.kappa")
    assert point_axis(["base", "market.kappa=0.5"]) == (["base", "market.kappa=0.5"], None, "sweep point")
    assert point_axis(["a.x=1", "b.y=2"])[1] is None


def test_write_sweep(tmp_path: Path) -> None:
    points = {"market.kappa=0.9": 300.0, "market.kappa=0": 0.0, "market.kappa=0.5": 150.0}
    frames = []
    for p, shift in points.items():
        eff = {m: v + shift for m, v in EFFECT.items()}
        frames.append(make_kpis(modes=("cooperative", "oracle"), days=4, effect=eff, point=p, noise=5.0))
    kpis = pd.concat(frames, ignore_index=True)
    manifest = {"scenario": "ieee33", "runs": [{"point": p, "overrides": [["market.kappa", float(p.split("=")[1])]]}
                                                for p in points]}
    files = write_sweep(write_kpis(tmp_path, kpis, manifest))
    sweep = pd.read_csv(files["sweep"], dtype={"point": str})
    pd.testing.assert_frame_equal(sweep, sweep_table(kpis, points=list(sweep["point"].drop_duplicates())),
                                  check_dtype=False, atol=1e-6)
    assert list(dict.fromkeys(sweep["point"])) == ["market.kappa=0", "market.kappa=0.5", "market.kappa=0.9"]
    coop = sweep[(sweep["mode"] == "cooperative") & (sweep["metric"] == "total_cost")]
    assert coop["mean"].is_monotonic_increasing and (coop["n_days"] == 4).all()
    diff = point_differences(kpis, "cooperative", "total_cost", list(dict.fromkeys(sweep["point"])))
    assert list(diff["point"]) == ["market.kappa=0.5", "market.kappa=0.9"]
    assert list(diff["mean"]) == pytest.approx([150.0, 300.0]) and (diff["n_days"] == 4).all()
    figs = {k: v for k, v in files.items() if k.startswith("sweep_")}
    assert set(figs) == {f"sweep_{m}" for m in metrics_of(kpis)}
    for path in figs.values():
        assert_png(path)
    report = files["report"].read_text(encoding="utf-8")
    assert "Sweep over market.kappa" in report
    text = summary_lines(kpis)
    assert text.index("point market.kappa=0.9\n") < text.index("point market.kappa=0\n")  # order of appearance
    assert text.count("(reference)") == 3
    assert "market.kappa=0.9 − market.kappa=0" in report and "higher (conclusive)" in report
    assert len(assert_links_resolve(tmp_path)) == len(figs)
    assert not list(tmp_path.rglob("*.tmp"))


def test_write_sweep_one_day_one_point(tmp_path: Path) -> None:
    files = write_sweep(write_kpis(tmp_path, make_kpis(modes=("cooperative",), days=1)))
    assert files["report"].is_file() and files["sweep_total_cost"].is_file()
    assert "n/a" in files["report"].read_text(encoding="utf-8")


def test_missing_kpis_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"kpis\.csv"):
        write_compare(tmp_path)

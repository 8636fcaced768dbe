"""Tests of studies.p000_three_campus.plots on small synthetic tables (2 RT scenarios, balance identity exact)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from studies.p000_three_campus import plots

PARKS = {"PV": "pv", "WT": "wind", "CHP": "chp"}
LINES = ("PV-WT", "WT-CHP", "PV-CHP")
S = 2
UNITS = {"soc_kwh": "kWh"}


def _stage_rows(rng: np.random.Generator, case: str, stage: str, s: int, n: int) -> list[pd.DataFrame]:
    """All park and line variables of one (stage, scenario), consistent with the balance identity."""
    t = np.arange(n) * 24.0 / n
    data: dict[tuple[str, str], np.ndarray] = {}
    flows: dict[str, np.ndarray] = {}
    for line in LINES:
        f = rng.uniform(-30, 30, n)
        data[(line, "p2p_forward_kw")] = np.clip(f, 0, None)
        data[(line, "p2p_reverse_kw")] = np.clip(-f, 0, None)
        flows[line] = f
    for park, gen in PARKS.items():
        net_in = np.zeros(n)
        for line, f in flows.items():
            a, b = line.split("-")
            net_in += f * (park == b) - f * (park == a)
        v: dict[str, np.ndarray] = {}
        if gen == "pv":
            v["pv_available_kw"] = np.clip(200 * np.sin(np.pi * (t - 6) / 12), 0, None) + rng.uniform(0, 5, n)
            v["pv_kw"] = 0.95 * v["pv_available_kw"]
        elif gen == "wind":
            v["wind_available_kw"] = rng.uniform(20, 120, n)
            v["wind_kw"] = 0.9 * v["wind_available_kw"]
        else:
            v["chp_kw"] = rng.uniform(50, 100, n)
        ess = rng.uniform(-40, 40, n)
        v["ess_charge_kw"] = np.clip(ess, 0, None)
        v["ess_discharge_kw"] = np.clip(-ess, 0, None)
        v["soc_kwh"] = 200 + np.cumsum(ess) * 24.0 / n
        v["load_base_kw"] = rng.uniform(80, 160, n)
        v["dr_in_kw"] = np.where(t >= 12, rng.uniform(0, 10, n), 0.0)
        v["dr_out_kw"] = np.where(t < 12, rng.uniform(0, 10, n), 0.0)
        v["load_kw"] = v["load_base_kw"] + v["dr_in_kw"] - v["dr_out_kw"]
        v["p2p_net_in_kw"] = net_in
        supply = v.get("pv_kw", 0) + v.get("wind_kw", 0) + v.get("chp_kw", 0) + v["ess_discharge_kw"] + net_in
        resid = v["load_kw"] + v["ess_charge_kw"] - supply
        v["grid_buy_kw"] = np.clip(resid, 0, None)
        v["grid_sell_kw"] = np.clip(-resid, 0, None)
        data.update({(park, k): x for k, x in v.items()})
    return [
        pd.DataFrame({"case": case, "stage": stage, "scenario": s, "period": np.arange(1, n + 1), "park": park,
                      "variable": var, "value": vals, "unit": UNITS.get(var, "kW")})
        for (park, var), vals in data.items()
    ]


@pytest.fixture(scope="module")
def ts() -> pd.DataFrame:
    rng = np.random.default_rng(42)
    frames: list[pd.DataFrame] = []
    for case in ("proposed", "no_dr"):
        frames += _stage_rows(rng, case, "da", 0, 24)
        for s in range(1, S + 1):
            frames += _stage_rows(rng, case, "rt", s, 96)
    out = pd.concat(frames, ignore_index=True)
    for c in ("case", "stage", "park", "variable", "unit"):
        out[c] = out[c].astype("category")
    return out


KPI_COLS = ("objective", "expected_cost", "cvar", "max_scenario_cost", "scenario_cost_std", "mean_deviation_cost",
            "grid_purchase_kwh", "grid_sale_kwh", "p2p_kwh", "ess_throughput_kwh", "dr_shifted_kwh",
            "renewable_utilisation", "build_seconds", "solve_seconds")


def _kpis(rng: np.random.Generator, names: list[str]) -> pd.DataFrame:
    df = pd.DataFrame({"case": names})
    for c in KPI_COLS:
        df[c] = rng.uniform(0.5, 0.99, len(names)) if c == "renewable_utilisation" else rng.uniform(100, 1000,
                                                                                                      len(names))
    df["formulation"] = "lp-certified"
    return df


@pytest.fixture(scope="module")
def cases() -> pd.DataFrame:
    # no_ess listed first: the plot must still use the paper's order
    return _kpis(np.random.default_rng(1), ["no_ess", "proposed", "no_p2p", "no_dr"])


@pytest.fixture(scope="module")
def sens() -> pd.DataFrame:
    eps = [0.2, 0.05, 0.1, 0.15]
    df = _kpis(np.random.default_rng(2), [f"eps_{e}" for e in eps])
    df["epsilon"] = eps
    return df


@pytest.fixture(scope="module")
def stress() -> pd.DataFrame:
    rows = [("base", 1.0)] + [(t, f) for t in ("p2p_capacity", "ess_capacity") for f in (0.75, 0.5, 0.25)]
    df = _kpis(np.random.default_rng(3), [f"{t}_{f}" for t, f in rows])
    df["test"] = [t for t, _ in rows]
    df["factor"] = [f for _, f in rows]
    return df


@pytest.fixture(scope="module")
def scen() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    frames = []
    for case in plots.PAPER_CASES:
        op = rng.uniform(900, 1100, S)
        dv = rng.uniform(0, 50, S)
        cost = op + dv
        w = np.zeros(S)
        w[np.argmax(cost)] = 1.0  # CVaR at beta = 0.5 with two scenarios: the worst one
        frames.append(pd.DataFrame({"case": case, "scenario": np.arange(1, S + 1), "cost": cost,
                                    "operation_cost": op, "deviation_cost": dv, "worst_case_weight": w}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def dev() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    rows = []
    for s in range(1, S + 1):
        for comp, obj in (("net", "PV"), ("chp", "CHP"), ("p2p", "PV-WT")):
            d = rng.normal(0, 5, 24)
            rows.append(pd.DataFrame({"case": "proposed", "scenario": s, "hour": np.arange(1, 25), "component": comp,
                                      "object": obj, "deviation_kwh": d, "abs_deviation_kwh": np.abs(d)}))
    return pd.concat(rows, ignore_index=True)


# --------------------------------------------------------------------------- helpers
def _values(ts: pd.DataFrame, case: str, stage: str, s: int, park: str, var: str) -> np.ndarray:
    m = ((ts["case"] == case) & (ts["stage"] == stage) & (ts["scenario"] == s) & (ts["park"] == park)
         & (ts["variable"] == var))
    return ts.loc[m].sort_values("period")["value"].to_numpy(float)


def _bars(ax: Axes, label: str) -> BarContainer:
    found = [c for c in ax.containers if isinstance(c, BarContainer) and c.get_label() == label]
    assert len(found) == 1, [c.get_label() for c in ax.containers]
    return found[0]


def _heights(bc: BarContainer) -> np.ndarray:
    return np.array([p.get_height() for p in bc.patches])


def _line(ax: Axes, label: str) -> Line2D:
    found = [ln for ln in ax.get_lines() if ln.get_label() == label]
    assert len(found) == 1, [ln.get_label() for ln in ax.get_lines()]
    return found[0]


def _net_hourly(ts: pd.DataFrame, stage: str, s: int, park: str) -> np.ndarray:
    net = (_values(ts, "proposed", stage, s, park, "grid_buy_kw") - _values(ts, "proposed", stage, s, park,
                                                                             "grid_sell_kw")
           + _values(ts, "proposed", stage, s, park, "p2p_net_in_kw"))
    return net if stage == "da" else net.reshape(24, 4).sum(axis=1) * 0.25


# --------------------------------------------------------------------------- tests
def test_synthetic_identity(ts: pd.DataFrame) -> None:
    for park in PARKS:
        g = {v: _values(ts, "proposed", "rt", 1, park, v) for v in ("grid_buy_kw", "grid_sell_kw", "load_kw")}
        assert g["load_kw"].size == 96 and np.all(g["grid_buy_kw"] * g["grid_sell_kw"] == 0)


def test_power_balance_grid(ts: pd.DataFrame) -> None:
    fig = plots.power_balance_grid(ts, "proposed", scenario=2)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 6
    # row 0 = PV, column 1 = RT scenario 2: PV bars are the PV output, quarter-hour wide, at (period-1)/4
    ax = fig.axes[1]
    pv = _bars(ax, "PV")
    np.testing.assert_allclose(_heights(pv), _values(ts, "proposed", "rt", 2, "PV", "pv_kw"))
    np.testing.assert_allclose([p.get_x() for p in pv.patches], np.arange(96) / 4)
    np.testing.assert_allclose([p.get_width() for p in pv.patches], 0.25)
    # supply stack above zero equals demand stack below zero (the identity holds in the input)
    up = np.zeros(96)
    down = np.zeros(96)
    for c in ax.containers:
        assert isinstance(c, BarContainer)
        h = _heights(c)
        up += np.clip(h, 0, None)
        down += np.clip(-h, 0, None)
    np.testing.assert_allclose(up, down, atol=1e-9)
    assert fig.legends, "figure-level legend expected"


@pytest.mark.parametrize("stage", ["da", "rt"])
def test_power_balance_stack(ts: pd.DataFrame, stage: str) -> None:
    fig = plots.power_balance_stack(ts, "proposed", "WT", stage, scenario=1)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    n = 24 if stage == "da" else 96
    s = 0 if stage == "da" else 1
    load = _bars(ax, "Load (after DR)")
    np.testing.assert_allclose(_heights(load), -_values(ts, "proposed", stage, s, "WT", "load_kw"))
    assert len(load.patches) == n
    assert "(kW)" in ax.get_ylabel()


def test_net_external_energy_bars_mean(ts: pd.DataFrame) -> None:
    fig = plots.net_external_energy_bars(ts, "proposed")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3
    for ax, park in zip(fig.axes, ("PV", "WT", "CHP"), strict=True):
        np.testing.assert_allclose(_heights(_bars(ax, "DA")), _net_hourly(ts, "da", 0, park))
        rt = np.vstack([_net_hourly(ts, "rt", s, park) for s in range(1, S + 1)])
        bc = _bars(ax, "RT scenario mean (min–max)")
        np.testing.assert_allclose(_heights(bc), rt.mean(axis=0))
        # whiskers span min..max over scenarios
        eb = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
        assert len(eb) == 1
        segs = eb[0].lines[2][0].get_segments()
        np.testing.assert_allclose([min(sg[:, 1]) for sg in segs], rt.min(axis=0))
        np.testing.assert_allclose([max(sg[:, 1]) for sg in segs], rt.max(axis=0))
        assert "kWh" in ax.get_ylabel()


def test_net_external_energy_bars_one_scenario(ts: pd.DataFrame) -> None:
    fig = plots.net_external_energy_bars(ts, "proposed", scenario=2)
    ax = fig.axes[2]
    np.testing.assert_allclose(_heights(_bars(ax, "RT scenario 2")), _net_hourly(ts, "rt", 2, "CHP"))
    assert not [c for c in ax.containers if isinstance(c, ErrorbarContainer)]


def test_net_external_energy_bars_identical_scenarios(ts: pd.DataFrame) -> None:
    # three identical RT scenarios: mean − min may round to −1e-13; the whisker must not fail
    base = ts[(ts["case"] == "proposed") & ((ts["stage"] == "da") | (ts["scenario"] == 1))]
    rt1 = base[base["stage"] == "rt"]
    same = pd.concat([base, rt1.assign(scenario=2), rt1.assign(scenario=3)], ignore_index=True)
    fig = plots.net_external_energy_bars(same, "proposed")
    np.testing.assert_allclose(_heights(_bars(fig.axes[0], "RT scenario mean (min–max)")),
                               _net_hourly(ts, "rt", 1, "PV"))


def test_dr_shift(ts: pd.DataFrame) -> None:
    fig = plots.dr_shift(ts, "proposed")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3
    ax = fig.axes[1]  # WT
    da = _line(ax, "DA load after DR").get_ydata()
    np.testing.assert_allclose(np.asarray(da)[:-1], _values(ts, "proposed", "da", 0, "WT", "load_kw"))
    rt = np.mean([_values(ts, "proposed", "rt", s, "WT", "load_kw") for s in range(1, S + 1)], axis=0)
    np.testing.assert_allclose(np.asarray(_line(ax, "RT mean load after DR").get_ydata())[:-1], rt)
    fig1 = plots.dr_shift(ts, "proposed", scenario=1)
    assert len(fig1.axes) == 3


def test_p2p_flows(ts: pd.DataFrame) -> None:
    fig = plots.p2p_flows(ts, "proposed")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3
    ax = fig.axes[0]
    assert ax.get_title(loc="left").startswith("PV-WT")
    signed = (_values(ts, "proposed", "da", 0, "PV-WT", "p2p_forward_kw")
              - _values(ts, "proposed", "da", 0, "PV-WT", "p2p_reverse_kw"))
    np.testing.assert_allclose(np.asarray(_line(ax, "DA").get_ydata())[:-1], signed)


def test_scenario_cost_distribution(scen: pd.DataFrame) -> None:
    fig = plots.scenario_cost_distribution(scen, currency="EUR")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert "EUR" in ax.get_ylabel()
    assert [t.get_text() for t in ax.get_xticklabels()] == list(plots.PAPER_CASES)
    cvar_lines = [c for c in ax.collections if c.get_label() == "CVaR"]
    assert len(cvar_lines) == 1
    y = cvar_lines[0].get_segments()[0][0, 1]  # type: ignore[attr-defined]
    first = scen[scen["case"] == "proposed"]
    assert y == pytest.approx(float((first["worst_case_weight"] * first["cost"]).sum()))


def test_sensitivity_trends(sens: pd.DataFrame) -> None:
    fig = plots.sensitivity_trends(sens)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 4
    ru = fig.axes[2].get_lines()[0]
    order = sens.sort_values("epsilon")
    np.testing.assert_allclose(np.asarray(ru.get_xdata(), float), order["epsilon"])
    np.testing.assert_allclose(np.asarray(ru.get_ydata(), float), 100 * order["renewable_utilisation"])
    assert "CNY" in fig.axes[0].get_ylabel()


def test_stress_trends(stress: pd.DataFrame) -> None:
    fig = plots.stress_trends(stress)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 4
    p2p = fig.axes[0].get_lines()[0]
    np.testing.assert_allclose(np.asarray(p2p.get_xdata(), float), np.array([1.0, 0.75, 0.5, 0.25]))
    base = stress[stress["test"] == "base"]["p2p_kwh"].iloc[0]
    assert p2p.get_ydata()[0] == pytest.approx(base)  # type: ignore[index]
    lo, hi = fig.axes[0].get_xlim()
    assert lo > hi  # capacity decreases to the right


def test_case_comparison_bars(cases: pd.DataFrame) -> None:
    fig = plots.case_comparison_bars(cases)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 5
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(plots.PAPER_CASES)
    want = cases.set_index("case").loc[list(plots.PAPER_CASES), "objective"].to_numpy()
    np.testing.assert_allclose(_heights(ax.containers[0]), want)  # type: ignore[arg-type]
    util = cases.set_index("case").loc[list(plots.PAPER_CASES), "renewable_utilisation"].to_numpy()
    np.testing.assert_allclose(_heights(fig.axes[4].containers[0]), 100 * util)  # type: ignore[arg-type]


def test_unknown_case_raises(ts: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="no time series for case 'nope'"):
        plots.power_balance_grid(ts, "nope")
    with pytest.raises(ValueError, match="no park"):
        plots.power_balance_stack(ts, "proposed", "XX", "da")


def test_save_figure(tmp_path: Path, ts: pd.DataFrame, dev: pd.DataFrame) -> None:
    assert not dev.empty  # the deviations table is part of the study output; no figure consumes it yet
    fig = plots.net_external_energy_bars(ts, "proposed")
    target = tmp_path / "nested" / "dir" / "net.png"
    out = plots.save_figure(fig, target)
    assert out == target
    data = target.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    assert os.listdir(target.parent) == ["net.png"]
    # overwriting works and still leaves no temp file
    plots.save_figure(fig, str(target))
    assert os.listdir(target.parent) == ["net.png"]


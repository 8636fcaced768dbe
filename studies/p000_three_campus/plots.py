"""Figures of the paper-000 study (three-campus IES, day-ahead + real-time scheduling).

Every function takes the study's result tables (pandas DataFrames) and returns a
:class:`matplotlib.figure.Figure`; nothing here touches model objects or global pyplot state
(figures are built with :class:`~matplotlib.figure.Figure` directly, which renders with the
non-interactive Agg canvas).  :func:`save_figure` writes a PNG atomically.

Input tables (columns may be of ``category`` dtype):

``ts``
    long time series ``case, stage ('da'|'rt'), scenario (0 for DA, 1..S for RT), period
    (1..24 DA, 1..96 RT), park (park or P2P line name), variable, value, unit``.
``cases`` / ``sens`` / ``stress``
    one row per case with the KPI columns (``objective``, ``grid_purchase_kwh``, ...);
    ``sens`` adds ``epsilon``, ``stress`` adds ``test`` and ``factor``.
``scen``
    ``case, scenario, cost, operation_cost, deviation_cost, worst_case_weight``.

Time axes: power plots use the hour of day of the start of each period,
``(period - 1) * dt`` with ``dt = 1 h`` (DA) or ``0.25 h`` (RT), and draw each value over its
period ``[t, t + dt)``.  Hourly bar charts use the hour index ``1..24`` (hour ``h`` covers
``[h - 1, h)``), the same index as the deviations table.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from sim.engine.io import save_figure as save_figure  # re-exported: the figures are saved with it
from studies.common.plots import hour_axis, step, step_band

logger = logging.getLogger(__name__)

__all__ = [
    "PAPER_CASES",
    "case_comparison_bars",
    "dr_shift",
    "net_external_energy_bars",
    "p2p_flows",
    "power_balance_grid",
    "power_balance_stack",
    "scenario_cost_distribution",
    "sensitivity_trends",
    "stress_trends",
]

PAPER_CASES: tuple[str, ...] = ("proposed", "no_p2p", "no_dr", "no_ess")
"""The four cases of the paper's comparison, in the paper's order."""

_PARK_ORDER: tuple[str, ...] = ("PV", "WT", "CHP")
_LINE_ORDER: tuple[str, ...] = ("PV-WT", "WT-CHP", "PV-CHP")
_DT_H: dict[str, float] = {"da": 1.0, "rt": 0.25}
_STAGE_LABEL: dict[str, str] = {"da": "Day-ahead", "rt": "Real-time"}
_DPI = 120

# power-balance components: (key, label, colour); supply is drawn above zero, demand below.
_SUPPLY: tuple[tuple[str, str, str], ...] = (
    ("pv_kw", "PV", "#f2c200"),
    ("wind_kw", "Wind", "#4a90d9"),
    ("chp_kw", "CHP", "#a0522d"),
    ("ess_discharge_kw", "ESS discharge", "#2ca02c"),
    ("grid_buy_kw", "Grid purchase", "#6f6f6f"),
    ("p2p_import_kw", "P2P import", "#9467bd"),
)
_DEMAND: tuple[tuple[str, str, str], ...] = (
    ("load_kw", "Load (after DR)", "#d62728"),
    ("ess_charge_kw", "ESS charge", "#98df8a"),
    ("grid_sell_kw", "Grid sale", "#c7c7c7"),
    ("p2p_export_kw", "P2P export", "#c5b0d5"),
)
_BALANCE_VARS: tuple[str, ...] = (
    "pv_kw", "wind_kw", "chp_kw", "ess_discharge_kw", "grid_buy_kw", "p2p_net_in_kw",
    "load_kw", "ess_charge_kw", "grid_sell_kw",
)
_PARK_MARKERS: tuple[str, ...] = ("load_base_kw", "load_kw", "grid_buy_kw", "p2p_net_in_kw")
_DA_COLOUR = "#1f77b4"
_RT_COLOUR = "#ff7f0e"


# --------------------------------------------------------------------------- helpers
def _ordered(names: Iterable[str], preferred: Sequence[str]) -> list[str]:
    """``names`` with the preferred ones first (in that order), the rest sorted."""
    names = set(names)
    return [n for n in preferred if n in names] + sorted(names - set(preferred))


def _select(ts: pd.DataFrame, case: str, stage: str | None = None, scenario: int | None = None,
            variables: Iterable[str] | None = None) -> pd.DataFrame:
    """Rows of ``ts`` for one case (and optionally stage/scenario/variables), string-typed keys."""
    mask = (ts["case"] == case).to_numpy(bool)  # works for object and category dtypes alike
    if not mask.any():
        raise ValueError(f"no time series for case {case!r}; cases are {sorted(ts['case'].astype(str).unique())}")
    if stage is not None:
        if stage not in _DT_H:
            raise ValueError(f"stage must be 'da' or 'rt', got {stage!r}")
        mask &= (ts["stage"] == stage).to_numpy(bool)
    if scenario is not None:
        mask &= (ts["scenario"] == scenario).to_numpy(bool)
    if variables is not None:
        mask &= ts["variable"].isin(list(variables)).to_numpy(bool)
    sub = ts.loc[mask, ["stage", "scenario", "period", "park", "variable", "value"]]
    if sub.empty:
        raise ValueError(f"no time series for case {case!r}, stage {stage!r}, scenario {scenario!r}")
    return sub.astype({"stage": str, "park": str, "variable": str, "scenario": int, "period": int, "value": float})


def _parks(sub: pd.DataFrame) -> list[str]:
    return _ordered(sub.loc[sub["variable"].isin(_PARK_MARKERS), "park"].unique(), _PARK_ORDER)


def _lines(sub: pd.DataFrame) -> list[str]:
    return _ordered(sub.loc[sub["variable"] == "p2p_forward_kw", "park"].unique(), _LINE_ORDER)


def _wide(sub: pd.DataFrame, park: str, variables: Sequence[str]) -> pd.DataFrame:
    """One park's values as a (scenario, period) x variable table; absent variables are 0."""
    rows = sub[(sub["park"] == park) & sub["variable"].isin(list(variables))]
    wide = rows.pivot_table(index=["scenario", "period"], columns="variable", values="value", aggfunc="sum")
    return wide.reindex(columns=list(variables), fill_value=0.0).fillna(0.0).sort_index()


def _one_scenario(wide: pd.DataFrame, scenario: int) -> pd.DataFrame:
    """The period-indexed rows of one scenario of a :func:`_wide` table."""
    return wide[wide.index.get_level_values("scenario") == scenario].droplevel("scenario")


def _stage_dt(stage: str, periods: np.ndarray) -> float:
    dt = _DT_H[stage]
    if periods.size and (periods.min() < 1 or periods.max() > round(24 / dt)):
        raise ValueError(f"stage {stage!r}: periods must lie in 1..{round(24 / dt)}, "
                         f"got {periods.min()}..{periods.max()}")
    return dt


def _hourly(values: np.ndarray, periods: np.ndarray, dt: float) -> np.ndarray:
    """Energy per hour index 1..24 (kWh) of power values (kW) over periods of ``dt`` hours."""
    hour = ((periods - 1) * dt).astype(int)
    return np.bincount(hour, weights=values * dt, minlength=24)[:24]


def _kpi_table(df: pd.DataFrame, name: str, required: Iterable[str]) -> pd.DataFrame:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{name} table lacks columns {missing}; it has {list(df.columns)}")
    if df.empty:
        raise ValueError(f"{name} table is empty")
    out = df.copy()
    for c in ("case", "test"):
        if c in out.columns:
            out[c] = out[c].astype(str)
    return out


# --------------------------------------------------------------------------- power balance
def _balance_components(wide: pd.DataFrame) -> dict[str, np.ndarray]:
    comp = {k: wide[k].to_numpy(float) for k in _BALANCE_VARS if k != "p2p_net_in_kw"}
    net_in = wide["p2p_net_in_kw"].to_numpy(float)
    comp["p2p_import_kw"] = np.clip(net_in, 0.0, None)
    comp["p2p_export_kw"] = np.clip(-net_in, 0.0, None)
    return comp


def _draw_balance(ax: Axes, sub: pd.DataFrame, park: str, stage: str, scenario: int, where: str) -> set[str]:
    """Stacked supply (> 0) / demand (< 0) bars of one park; returns the drawn component keys."""
    rows = sub[(sub["stage"] == stage) & (sub["scenario"] == scenario)]
    if rows.empty:
        raise ValueError(f"{where}: no {stage!r} data for scenario {scenario}")
    wide = _one_scenario(_wide(rows, park, _BALANCE_VARS), scenario)
    periods = wide.index.to_numpy(int)
    dt = _stage_dt(stage, periods)
    t0 = (periods - 1) * dt
    comp = _balance_components(wide)

    supply = sum((comp[k] for k, _, _ in _SUPPLY), start=np.zeros(len(t0)))
    demand = sum((comp[k] for k, _, _ in _DEMAND), start=np.zeros(len(t0)))
    resid = float(np.max(np.abs(supply - demand))) if len(t0) else 0.0
    if resid > 1e-6 * max(1.0, float(np.max(np.abs(supply), initial=0.0))):
        logger.warning("%s, park %s, %s scenario %d: power balance residual up to %.3g kW", where, park, stage,
                       scenario, resid)

    drawn: set[str] = set()
    for group, sign in ((_SUPPLY, 1.0), (_DEMAND, -1.0)):
        bottom = np.zeros(len(t0))
        for key, label, colour in group:
            y = comp[key]
            if not np.any(np.abs(y) > 1e-9):
                continue
            ax.bar(t0, sign * y, width=dt, bottom=bottom, align="edge", color=colour, label=label, linewidth=0)
            bottom = bottom + sign * y
            drawn.add(key)
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.use_sticky_edges = False  # bar bottoms are sticky: without this the stacks touch the frame
    ax.margins(y=0.05)
    hour_axis(ax)
    return drawn


def _balance_legend_handles(drawn: set[str]) -> tuple[list[Patch], list[str]]:
    handles, labels = [], []
    for key, label, colour in (*_SUPPLY, *_DEMAND):
        if key in drawn:
            handles.append(Patch(facecolor=colour))
            labels.append(label)
    return handles, labels


def power_balance_stack(ts: pd.DataFrame, case: str, park: str, stage: str, scenario: int = 1) -> Figure:
    """Power balance of one park: supply stacked above zero, demand (load, ESS charge, grid sale,
    P2P export) stacked below zero, in kW vs hour of day.  ``scenario`` is ignored for DA."""
    s = 0 if stage == "da" else scenario
    sub = _select(ts, case, stage, s, _BALANCE_VARS)
    if park not in _parks(sub):
        raise ValueError(f"case {case!r}: no park {park!r}; parks are {_parks(sub)}")
    fig = Figure(figsize=(10, 4.5), layout="constrained")
    ax = fig.add_subplot()
    drawn = _draw_balance(ax, sub, park, stage, s, f"case {case}")
    ax.set_xlabel("Hour of day (h)")
    ax.set_ylabel("Power (kW)\n← demand | supply →")
    what = "day-ahead (1 h)" if stage == "da" else f"real-time scenario {s} (15 min)"
    ax.set_title(f"Power balance of park {park} — case {case}, {what}")
    handles, labels = _balance_legend_handles(drawn)
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    return fig


def power_balance_grid(ts: pd.DataFrame, case: str, scenario: int = 1) -> Figure:
    """3 x 2 grid of :func:`power_balance_stack` panels: rows = parks, columns = DA and RT (one scenario)."""
    sub = _select(ts, case, None, None, _BALANCE_VARS)
    sub = sub[(sub["stage"] == "da") | (sub["scenario"] == scenario)]
    parks = _parks(sub)
    fig = Figure(figsize=(13, 3.0 * len(parks) + 1.2), layout="constrained")
    axes = fig.subplots(len(parks), 2, sharex=True, sharey="row", squeeze=False)
    drawn: set[str] = set()
    for i, park in enumerate(parks):
        for j, (stage, s) in enumerate((("da", 0), ("rt", scenario))):
            ax = axes[i, j]
            drawn |= _draw_balance(ax, sub, park, stage, s, f"case {case}")
            if j == 0:
                ax.set_ylabel(f"Park {park}\nPower (kW)")
            if i == 0:
                ax.set_title("Day-ahead (hourly)" if stage == "da" else f"Real-time, scenario {s} (15 min)")
            if i == len(parks) - 1:
                ax.set_xlabel("Hour of day (h)")
    handles, labels = _balance_legend_handles(drawn)
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 5), frameon=False)
    fig.suptitle(f"Power balance (supply > 0, demand < 0) — case {case}")
    return fig


# --------------------------------------------------------------------------- external energy
def net_external_energy_bars(ts: pd.DataFrame, case: str, scenario: int | None = None) -> Figure:
    """Hourly net external energy (grid purchase − grid sale + P2P import, kWh) of each park:
    DA bars next to RT bars (one scenario, or the scenario mean with a min–max whisker)."""
    variables = ("grid_buy_kw", "grid_sell_kw", "p2p_net_in_kw")
    sub = _select(ts, case, None, None, variables)
    parks = _parks(sub)
    hours = np.arange(1, 25)
    width = 0.4
    fig = Figure(figsize=(11, 2.6 * len(parks) + 1.0), layout="constrained")
    axes = fig.subplots(len(parks), 1, sharex=True, squeeze=False)[:, 0]
    rt_label = f"RT scenario {scenario}" if scenario is not None else "RT scenario mean (min–max)"
    for ax, park in zip(axes, parks, strict=True):
        series: dict[str, np.ndarray] = {}
        for stage in ("da", "rt"):
            rows = sub[sub["stage"] == stage]
            if stage == "rt" and scenario is not None:
                rows = rows[rows["scenario"] == scenario]
            if rows.empty:
                raise ValueError(f"case {case!r}: no {stage!r} data" + (f" for scenario {scenario}" if stage == "rt"
                                                                        and scenario is not None else ""))
            wide = _wide(rows, park, variables)
            net = (wide["grid_buy_kw"] - wide["grid_sell_kw"] + wide["p2p_net_in_kw"]).rename("net")
            per_s = []
            for _s, grp in net.groupby(level="scenario"):
                periods = grp.index.get_level_values("period").to_numpy(int)
                per_s.append(_hourly(grp.to_numpy(float), periods, _stage_dt(stage, periods)))
            series[stage] = np.vstack(per_s)
        da = series["da"][0]
        rt = series["rt"]
        rt_mean = rt.mean(axis=0)
        ax.bar(hours - width / 2, da, width=width, color=_DA_COLOUR, label="DA")
        if rt.shape[0] > 1:
            # clip: with equal scenario values, mean − min can be −1e-13, which errorbar rejects
            yerr = np.clip(np.vstack([rt_mean - rt.min(axis=0), rt.max(axis=0) - rt_mean]), 0.0, None)
            ax.bar(hours + width / 2, rt_mean, width=width, color=_RT_COLOUR, label=rt_label, yerr=yerr,
                   error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "black"})
        else:
            ax.bar(hours + width / 2, rt_mean, width=width, color=_RT_COLOUR, label=rt_label)
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_ylabel(f"Park {park}\nEnergy (kWh)")
        ax.grid(True, axis="y", alpha=0.3)
    axes[-1].set_xticks(hours)
    axes[-1].set_xlim(0.4, 24.6)
    axes[-1].set_xlabel("Hour index (hour h covers [h−1, h))")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, frameon=False)
    fig.suptitle(f"Net external energy (grid purchase − sale + P2P import) — case {case}")
    return fig


# --------------------------------------------------------------------------- demand response
def _rt_stats(rows: pd.DataFrame, park: str, var: str, scenario: int | None) -> tuple[np.ndarray, ...]:
    """(t0, mean, min, max) of one RT variable over scenarios (or one scenario)."""
    if scenario is not None:
        rows = rows[rows["scenario"] == scenario]
    wide = _wide(rows, park, [var])[var].unstack("period")
    periods = wide.columns.to_numpy(int)
    t0 = (periods - 1) * _stage_dt("rt", periods)
    vals = wide.to_numpy(float)
    return t0, vals.mean(axis=0), vals.min(axis=0), vals.max(axis=0)


def dr_shift(ts: pd.DataFrame, case: str, scenario: int | None = None) -> Figure:
    """Per park: baseline load vs load after demand response, DA (hourly) and RT (one scenario,
    or the scenario mean with the min–max band of the load after DR)."""
    variables = ("load_base_kw", "load_kw")
    sub = _select(ts, case, None, None, variables)
    parks = _ordered(sub.loc[sub["variable"] == "load_base_kw", "park"].unique(), _PARK_ORDER)
    if not parks:
        raise ValueError(f"case {case!r}: no load_base_kw in the time series")
    fig = Figure(figsize=(11, 2.6 * len(parks) + 1.0), layout="constrained")
    axes = fig.subplots(len(parks), 1, sharex=True, squeeze=False)[:, 0]
    da = sub[sub["stage"] == "da"]
    rt = sub[sub["stage"] == "rt"]
    rt_what = f"RT scen. {scenario}" if scenario is not None else "RT mean"
    for ax, park in zip(axes, parks, strict=True):
        if not da.empty:
            w = _one_scenario(_wide(da, park, variables), 0)
            periods = w.index.to_numpy(int)
            t0 = (periods - 1) * _stage_dt("da", periods)
            step(ax, t0, w["load_base_kw"].to_numpy(float), 1.0, color=_DA_COLOUR, linestyle="--", linewidth=1.2,
                  label="DA baseline load")
            step(ax, t0, w["load_kw"].to_numpy(float), 1.0, color=_DA_COLOUR, linewidth=1.8,
                  label="DA load after DR")
        if not rt.empty:
            t0, base, _, _ = _rt_stats(rt, park, "load_base_kw", scenario)
            step(ax, t0, base, 0.25, color=_RT_COLOUR, linestyle="--", linewidth=1.0, label=f"{rt_what} baseline load")
            t0, mean, lo, hi = _rt_stats(rt, park, "load_kw", scenario)
            if scenario is None:
                step_band(ax, t0, lo, hi, 0.25, color=_RT_COLOUR, alpha=0.2, label="RT load after DR, min–max")
            step(ax, t0, mean, 0.25, color=_RT_COLOUR, linewidth=1.4, label=f"{rt_what} load after DR")
        ax.set_ylabel(f"Park {park}\nLoad (kW)")
        hour_axis(ax)
    axes[-1].set_xlabel("Hour of day (h)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=3, frameon=False)
    fig.suptitle(f"Demand response: baseline vs shifted load — case {case}")
    return fig


# --------------------------------------------------------------------------- P2P
def p2p_flows(ts: pd.DataFrame, case: str) -> Figure:
    """Per P2P line "A-B": signed flow forward − reverse (kW, > 0 = A → B), DA hourly and the RT
    scenario mean with the min–max band over scenarios."""
    variables = ("p2p_forward_kw", "p2p_reverse_kw")
    sub = _select(ts, case, None, None, variables)
    lines = _lines(sub)
    if not lines:
        raise ValueError(f"case {case!r}: no P2P line variables in the time series")
    fig = Figure(figsize=(11, 2.4 * len(lines) + 1.0), layout="constrained")
    axes = fig.subplots(len(lines), 1, sharex=True, squeeze=False)[:, 0]
    for ax, line in zip(axes, lines, strict=True):
        for stage, dt in _DT_H.items():
            rows = sub[sub["stage"] == stage]
            if rows.empty:
                continue
            w = _wide(rows, line, variables)
            flow = (w["p2p_forward_kw"] - w["p2p_reverse_kw"]).unstack("period")
            periods = flow.columns.to_numpy(int)
            t0 = (periods - 1) * _stage_dt(stage, periods)
            vals = flow.to_numpy(float)
            if stage == "da":
                step(ax, t0, vals[0], dt, color=_DA_COLOUR, linewidth=1.8, label="DA")
            else:
                step_band(ax, t0, vals.min(axis=0), vals.max(axis=0), dt, color=_RT_COLOUR, alpha=0.2,
                           label="RT min–max over scenarios")
                step(ax, t0, vals.mean(axis=0), dt, color=_RT_COLOUR, linewidth=1.2, label="RT scenario mean")
        ax.axhline(0.0, color="black", linewidth=0.8)
        a, _, b = line.partition("-")
        ax.set_ylabel(f"Line {line}\nPower (kW)")
        ax.set_title(f"{line}: positive = {a} → {b}" if b else line, fontsize="medium", loc="left")
        hour_axis(ax)
    axes[-1].set_xlabel("Hour of day (h)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=3, frameon=False)
    fig.suptitle(f"P2P line flows — case {case}")
    return fig


# --------------------------------------------------------------------------- scenario costs
def scenario_cost_distribution(scen: pd.DataFrame, currency: str = "CNY") -> Figure:
    """Per case: box plot and points of the RT scenario costs, the expected (mean) cost and the
    CVaR = Σ worst_case_weight · cost."""
    df = _kpi_table(scen, "scenario-cost", ("case", "scenario", "cost", "worst_case_weight"))
    # paper cases first in the paper's order, then the others in order of first appearance
    seen = list(dict.fromkeys(df["case"]))
    cases = [c for c in PAPER_CASES if c in seen] + [c for c in seen if c not in PAPER_CASES]
    fig = Figure(figsize=(max(6.0, 1.3 * len(cases) + 2.5), 4.8), layout="constrained")
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)
    data = []
    for i, case in enumerate(cases, start=1):
        g = df[df["case"] == case]
        cost = g["cost"].to_numpy(float)
        w = g["worst_case_weight"].to_numpy(float)
        if abs(w.sum() - 1.0) > 1e-6:
            logger.warning("case %s: worst-case weights sum to %.6g, not 1", case, w.sum())
        data.append(cost)
        jitter = rng.uniform(-0.12, 0.12, cost.size) if cost.size > 1 else np.zeros(cost.size)
        ax.scatter(i + jitter, cost, s=14, color="#555555", alpha=0.7, zorder=3,
                   label="scenario cost" if i == 1 else None)
        ax.scatter([i], [cost.mean()], marker="D", s=50, color=_DA_COLOUR, zorder=4,
                   label="expected cost" if i == 1 else None)
        ax.hlines(float(w @ cost), i - 0.3, i + 0.3, color="#d62728", linewidth=2.2, zorder=4,
                  label="CVaR" if i == 1 else "_nolegend_")
    ax.boxplot(data, positions=range(1, len(cases) + 1), widths=0.5, showfliers=False,
               medianprops={"color": "#888888"}, boxprops={"color": "#888888"},
               whiskerprops={"color": "#888888"}, capprops={"color": "#888888"})
    ax.set_xticks(range(1, len(cases) + 1), cases, rotation=30 if len(cases) > 5 else 0, ha="right"
                  if len(cases) > 5 else "center")
    ax.set_xlabel("Case")
    ax.set_ylabel(f"RT scenario cost ({currency})")
    ax.set_title("Scenario cost distribution")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    return fig


# --------------------------------------------------------------------------- trends
def _trend_panel(ax: Axes, x: np.ndarray, y: np.ndarray, title: str, ylabel: str, colour: str) -> None:
    ax.plot(x, y, marker="o", color=colour)
    ax.set_title(title, fontsize="medium")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)


def sensitivity_trends(sens: pd.DataFrame, currency: str = "CNY") -> Figure:
    """Four panels vs the uncertainty bound ε: objective, grid purchase, renewable utilisation (%)
    and scenario-cost standard deviation."""
    cols = ("epsilon", "objective", "grid_purchase_kwh", "renewable_utilisation", "scenario_cost_std")
    df = _kpi_table(sens, "sensitivity", cols)
    if df["epsilon"].duplicated().any():
        logger.warning("sensitivity table: several rows per epsilon; plotting their mean")
    g = df.groupby("epsilon")[list(cols[1:])].mean().sort_index()
    x = g.index.to_numpy(float)
    fig = Figure(figsize=(10, 7), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True)
    panels = (
        ("objective", "Objective", f"Objective ({currency})", 1.0),
        ("grid_purchase_kwh", "Grid purchase", "Energy (kWh)", 1.0),
        ("renewable_utilisation", "Renewable utilisation", "Utilisation (%)", 100.0),
        ("scenario_cost_std", "Scenario cost std", f"Std ({currency})", 1.0),
    )
    for ax, (col, title, ylabel, scale), colour in zip(axes.flat, panels, ("C0", "C1", "C2", "C3"), strict=True):
        _trend_panel(ax, x, g[col].to_numpy(float) * scale, title, ylabel, colour)
        ax.set_xticks(x)
    for ax in axes[-1]:
        ax.set_xlabel("Uncertainty bound ε")
    fig.suptitle("Sensitivity to the forecast-error bound ε")
    return fig


_STRESS_PANELS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "p2p_capacity": (("p2p_kwh", "P2P energy traded", "Energy (kWh)"),
                     ("grid_purchase_kwh", "Grid purchase", "Energy (kWh)")),
    "ess_capacity": (("ess_throughput_kwh", "ESS throughput", "Energy (kWh)"),
                     ("objective", "Objective", "Objective ({currency})")),
}


def stress_trends(stress: pd.DataFrame, currency: str = "CNY") -> Figure:
    """Capacity stress tests vs the capacity factor (1.0 → 0.25): P2P energy and grid purchase for
    ``p2p_capacity``; ESS throughput and objective for ``ess_capacity``.

    A base row (factor 1.0) whose ``test`` is neither test name is used as the 1.0 point of both.
    """
    df = _kpi_table(stress, "stress", ("test", "factor", "p2p_kwh", "grid_purchase_kwh", "ess_throughput_kwh",
                                       "objective"))
    base = df[~df["test"].isin(list(_STRESS_PANELS)) & np.isclose(df["factor"].astype(float), 1.0)]
    fig = Figure(figsize=(10, 7), layout="constrained")
    axes = fig.subplots(2, 2)
    for row, (test, panels) in enumerate(_STRESS_PANELS.items()):
        rows = df[df["test"] == test]
        if not np.isclose(rows["factor"].astype(float), 1.0).any() and not base.empty:
            rows = pd.concat([rows, base.iloc[:1]])
        if rows.empty:
            logger.warning("stress table: no rows for test %s", test)
        g = rows.groupby("factor")[[p[0] for p in panels]].mean().sort_index(ascending=False)
        x = g.index.to_numpy(float)
        for col, (var, title, ylabel) in enumerate(panels):
            ax = axes[row, col]
            _trend_panel(ax, x, g[var].to_numpy(float), f"{test}: {title}", ylabel.format(currency=currency),
                         f"C{2 * row + col}")
            ax.set_xlim(1.08, 0.17)  # capacity decreasing to the right
            ax.set_xticks([1.0, 0.75, 0.5, 0.25])
            ax.set_xlabel(f"{'P2P line' if test == 'p2p_capacity' else 'ESS'} capacity factor (× base)")
    fig.suptitle("Capacity stress tests")
    return fig


# --------------------------------------------------------------------------- case comparison
_COMPARISON: tuple[tuple[str, str, str, float], ...] = (
    ("objective", "Objective", "{currency}", 1.0),
    ("grid_purchase_kwh", "Grid purchase", "kWh", 1.0),
    ("scenario_cost_std", "Scenario cost std", "{currency}", 1.0),
    ("mean_deviation_cost", "Mean deviation cost", "{currency}", 1.0),
    ("renewable_utilisation", "Renewable utilisation", "%", 100.0),
)


def case_comparison_bars(cases: pd.DataFrame, currency: str = "CNY") -> Figure:
    """The paper's four cases side by side: objective, grid purchase, scenario-cost std, mean
    deviation cost and renewable utilisation (one panel each)."""
    df = _kpi_table(cases, "cases", ("case", *(c[0] for c in _COMPARISON)))
    present = [c for c in PAPER_CASES if c in set(df["case"])]
    if not present:
        raise ValueError(f"cases table has none of the paper cases {list(PAPER_CASES)}; it has {sorted(df['case'])}")
    if len(present) < len(PAPER_CASES):
        logger.warning("cases table lacks %s", [c for c in PAPER_CASES if c not in present])
    df = df.drop_duplicates("case", keep="last").set_index("case").loc[present]
    fig = Figure(figsize=(3.2 * len(_COMPARISON), 4.2), layout="constrained")
    axes = fig.subplots(1, len(_COMPARISON))
    colours = [f"C{i}" for i in range(len(present))]
    x = np.arange(len(present))
    for ax, (col, title, unit, scale) in zip(axes, _COMPARISON, strict=True):
        y = df[col].to_numpy(float) * scale
        bars = ax.bar(x, y, color=colours, width=0.65)
        ax.bar_label(bars, fmt="%.1f" if scale != 1.0 else "%.4g", fontsize="x-small", padding=2)
        ax.set_xticks(x, present, rotation=30, ha="right")
        ax.set_title(title, fontsize="medium")
        ax.set_ylabel(f"{title} ({unit.format(currency=currency)})")
        ax.margins(y=0.12)
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle("Case comparison")
    return fig


# --------------------------------------------------------------------------- output

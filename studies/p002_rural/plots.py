"""Figures of the rural-IES study (paper 002, SPEC §6.4): dispatch of each method's plan, the λ trade-off,
the sensitivity grids and the C&CG convergence.

Every figure function takes the study's tables (pandas DataFrames, as written by ``studies/p002_rural/run.py``)
and returns a :class:`matplotlib.figure.Figure`; nothing here does I/O (:func:`sim.engine.io.save_figure`
writes them).  The data helpers (:func:`expected_series`, :func:`sample_weights`) are shared with
``studies/p002_rural/report.py`` so the report's numbers and the figures come from the same code.

Tables:

``ts``       long: ``method, sample, period (1..24; 0 = whole day), entity, variable, value, unit``; the
             weights ``p0`` of the samples are entity ``cost``, variable ``p0``, period 0.
``methods``  one row per method: ``method, historical_cost, worst_cost, ...``.
``sens``     one row per grid point: the varied parameter, ``objective`` (CDRO), ``historical_cost``,
             ``worst_cost``, ``so_historical_cost``, ``so_worst_cost``, ``dro_objective``, ``theta_1``,
             ``theta_inf``, ``iterations``, ``dro_iterations``, ...
``conv``     ``part, point, method, iteration, lb, ub``.

Time axes: period ``t`` covers the hour ``[t − 1, t)``; values are drawn over their hour.  "Expected"
means weighted by the historical weights ``p0`` over the reference samples (002 §4.1 analyses the plan
"with the expected value of the reference samples").
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from studies.common.plots import hour_axis, step, step_band

logger = logging.getLogger(__name__)

__all__ = [
    "METHODS",
    "METHOD_COLOUR",
    "METHOD_LABEL",
    "alpha_heatmap",
    "convergence",
    "da_trading_biogas",
    "degree_comparison",
    "expected_series",
    "gap_sweep",
    "lambda_tradeoff",
    "sample_weights",
    "storage_states",
    "sweep_trends",
    "transferable_load",
]

METHODS: tuple[str, ...] = ("so", "ro", "dro", "cdro", "cvar")
METHOD_LABEL: dict[str, str] = {"so": "SO", "ro": "RO", "dro": "DRO", "cdro": "CDRO", "cvar": "CVaR"}
METHOD_COLOUR: dict[str, str] = {"so": "#1f77b4", "ro": "#7f7f7f", "dro": "#d62728", "cdro": "#2ca02c",
                                 "cvar": "#9467bd"}
_N = 24


# --------------------------------------------------------------------------------------- data helpers
def _methods_in(ts: pd.DataFrame) -> list[str]:
    present = set(ts["method"].astype(str).unique())
    return [m for m in METHODS if m in present] + sorted(present - set(METHODS))


def sample_weights(ts: pd.DataFrame, method: str) -> pd.Series:
    """``p0`` per sample of ``method`` (entity ``cost``, variable ``p0``), indexed by sample."""
    rows = ts[(ts["method"] == method) & (ts["entity"] == "cost") & (ts["variable"] == "p0")]
    if rows.empty:
        raise ValueError(f"no sample weights p0 for method {method!r} in the time series")
    w = rows.set_index(rows["sample"].astype(int))["value"].astype(float).sort_index()
    return w / w.sum()


def _wide(ts: pd.DataFrame, method: str, entity: str, variable: str) -> pd.DataFrame:
    """sample × period table of one series of one method."""
    rows = ts[(ts["method"] == method) & (ts["entity"] == entity) & (ts["variable"] == variable)
              & (ts["period"] >= 1)]
    if rows.empty:
        raise ValueError(f"no series {entity}.{variable} for method {method!r} in the time series")
    wide = rows.pivot_table(index="sample", columns="period", values="value", aggfunc="first", observed=True)
    return wide.sort_index().sort_index(axis=1)


def expected_series(ts: pd.DataFrame, method: str, entity: str, variable: str) -> np.ndarray:
    """p0-weighted mean over the samples of one series (one value per period)."""
    wide = _wide(ts, method, entity, variable)
    w = sample_weights(ts, method).reindex(wide.index).fillna(0.0).to_numpy(float)
    return np.asarray(w @ wide.to_numpy(float), dtype=float)


def _band(ts: pd.DataFrame, method: str, entity: str, variable: str) -> tuple[np.ndarray, np.ndarray]:
    wide = _wide(ts, method, entity, variable).to_numpy(float)
    return wide.min(axis=0), wide.max(axis=0)


def _t0() -> np.ndarray:
    return np.arange(_N, dtype=float)


def _need(df: pd.DataFrame, name: str, cols: Sequence[str]) -> pd.DataFrame:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {missing}")
    if df.empty:
        raise ValueError(f"{name} is empty")
    return df


# --------------------------------------------------------------------------------------- dispatch
def da_trading_biogas(ts: pd.DataFrame, da_price: Sequence[float], p_max_kw: float, currency: str = "CNY") -> Figure:
    """(a) Day-ahead trading power P^tr of every method with the DA price; (b) expected biogas generator
    output of every method (band: min–max over the samples of CDRO) against P^g,max (002 Fig. 5)."""
    methods = _methods_in(ts)
    fig = Figure(figsize=(10, 7.5), layout="constrained")
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    t0 = _t0()
    for m in methods:
        x = expected_series(ts, m, "da_trading", "da_trade_kw")
        step(ax1, t0, x, 1.0, color=METHOD_COLOUR.get(m), label=METHOD_LABEL.get(m, m), linewidth=1.8)
    twin = ax1.twinx()
    step(twin, t0, np.asarray(da_price, dtype=float), 1.0, color="black", linestyle=":", linewidth=1.2,
          label="DA price")
    twin.set_ylabel(f"DA price ({currency}/kWh)")
    twin.set_ylim(0, max(da_price) * 1.6)
    ax1.set_ylabel("DA trading power P^tr (kW)")
    ax1.set_title("(a) Day-ahead trading power by method")
    h1, l1 = ax1.get_legend_handles_labels()
    h2, l2 = twin.get_legend_handles_labels()
    ax1.legend(h1 + h2, l1 + l2, ncol=6, fontsize=8, loc="upper center")
    ax1.set_ylim(bottom=0)
    hour_axis(ax1)
    if "cdro" in methods:
        lo, hi = _band(ts, "cdro", "biogas_generator", "bg_power_kw")
        step_band(ax2, t0, lo, hi, 1.0, color=METHOD_COLOUR["cdro"], alpha=0.15, label="CDRO min–max over samples")
    for m in methods:
        y = expected_series(ts, m, "biogas_generator", "bg_power_kw")
        step(ax2, t0, y, 1.0, color=METHOD_COLOUR.get(m), label=METHOD_LABEL.get(m, m), linewidth=1.5)
    ax2.axhline(p_max_kw, color="black", linestyle="--", linewidth=1.0, label="P^g,max")
    ax2.set_ylabel("biogas generator power (kW)")
    ax2.set_xlabel("hour of day (h)")
    ax2.set_title("(b) Biogas generator output (expected over the reference samples, weights p0)")
    ax2.legend(ncol=4, fontsize=8, loc="lower left")
    ax2.set_ylim(0, p_max_kw * 1.15)
    hour_axis(ax2)
    fig.suptitle("Day-ahead trading power and biogas generator output (cf. 002 Fig. 5)")
    return fig


def transferable_load(ts: pd.DataFrame, base_kw: float, periods: Sequence[int], da_price: Sequence[float],
                      currency: str = "CNY") -> Figure:
    """Transferable load in its window before (the base ``base_kw``) and after the shift (base + up − down,
    expected over the samples) for every method, with the DA price (002 Fig. 6)."""
    methods = _methods_in(ts)
    win = [int(p) for p in periods]
    show = list(range(max(1, win[0] - 1), min(_N, win[-1] + 1) + 1))
    fig = Figure(figsize=(10, 5), layout="constrained")
    ax = fig.subplots()
    n = len(methods) + 1
    width = 0.8 / n
    x = np.arange(len(show), dtype=float)
    before = np.array([base_kw if p in win else 0.0 for p in show])
    ax.bar(x - 0.4 + width / 2, before, width=width, color="#bbbbbb", label="before (base load)")
    for i, m in enumerate(methods, start=1):
        up = expected_series(ts, m, "transferable_load", "dr_up_kw")
        dn = expected_series(ts, m, "transferable_load", "dr_down_kw")
        after = np.array([(base_kw if p in win else 0.0) + up[p - 1] - dn[p - 1] for p in show])
        ax.bar(x - 0.4 + width * (i + 0.5), after, width=width, color=METHOD_COLOUR.get(m),
               label=f"after: {METHOD_LABEL.get(m, m)}")
    ax.set_xticks(x, [f"{p - 1:02d}–{p:02d}" for p in show])
    ax.set_xlabel("hour of day (h)")
    ax.set_ylabel("transferable load (kW)")
    twin = ax.twinx()
    price = np.asarray(da_price, dtype=float)
    twin.plot(x, [price[p - 1] for p in show], color="black", marker="o", linestyle=":", label="DA price")
    twin.set_ylabel(f"DA price ({currency}/kWh)")
    twin.set_ylim(0, price.max() * 1.3)
    lo, hi = show.index(win[0]) - 0.5, show.index(win[-1]) + 0.5
    ax.axvspan(lo, hi, color="#ffe9a8", alpha=0.35, zorder=0, label="transfer window")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = twin.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, ncol=3, fontsize=8, loc="upper left")
    ax.set_ylim(0, max(base_kw * 2.6, ax.get_ylim()[1]))
    ax.grid(True, axis="y", alpha=0.3)
    ax.set_title(f"Transferable load before / after the transfer (window {win[0] - 1}–{win[-1]} h), "
                 "expected over the samples (cf. 002 Fig. 6)")
    return fig


def storage_states(ts: pd.DataFrame, power_capacity_kwh: float, heat_capacity_kwh: float,
                   method: str = "cdro") -> Figure:
    """Power and heat storage: net charging power of ``method`` (expected, bars) and the state of charge
    of every method (expected; band: min–max over the samples of ``method``) (002 Fig. 7)."""
    methods = _methods_in(ts)
    if method not in methods:
        method = methods[0]
    fig = Figure(figsize=(12, 7), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True)
    t0 = _t0()
    spec = (("power_storage", "ess_charge_kw", "ess_discharge_kw", "soc_kwh", "kW", "kWh", power_capacity_kwh,
             "Power storage"),
            ("heat_storage", "hs_charge_kw", "hs_discharge_kw", "hs_soc_kwh", "kW_th", "kWh_th", heat_capacity_kwh,
             "Heat storage"))
    for col, (ent, ch, dis, soc, pu, eu, cap, title) in enumerate(spec):
        ax = axes[0][col]
        net = expected_series(ts, method, ent, ch) - expected_series(ts, method, ent, dis)
        ax.bar(t0, np.clip(net, 0, None), width=1.0, align="edge", color="#2ca02c", label="charge")
        ax.bar(t0, np.clip(net, None, 0), width=1.0, align="edge", color="#d62728", label="discharge")
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_ylabel(f"net charging power ({pu})")
        ax.set_title(f"{title}: charge (+) / discharge (−) of {METHOD_LABEL.get(method, method)}")
        ax.legend(fontsize=8, loc="lower left")
        hour_axis(ax)
        ax = axes[1][col]
        lo, hi = _band(ts, method, ent, soc)
        step_band(ax, t0, lo, hi, 1.0, color=METHOD_COLOUR.get(method, "#2ca02c"), alpha=0.15,
                   label=f"{METHOD_LABEL.get(method, method)} min–max over samples")
        for m in methods:
            step(ax, t0, expected_series(ts, m, ent, soc), 1.0, color=METHOD_COLOUR.get(m),
                  label=METHOD_LABEL.get(m, m), linewidth=1.4)
        ax.axhline(cap, color="black", linestyle="--", linewidth=0.8, label="capacity")
        ax.set_ylim(0, cap * 1.08)
        ax.set_ylabel(f"stored energy at the end of the hour ({eu})")
        ax.set_xlabel("hour of day (h)")
        ax.set_title(f"{title}: state of charge (expected)")
        ax.legend(fontsize=7, ncol=3, loc="lower left")
        hour_axis(ax)
    fig.suptitle("Charge–discharge state of power and heat storage (cf. 002 Fig. 7)")
    return fig


# --------------------------------------------------------------------------------------- λ trade-off
def lambda_tradeoff(lam: pd.DataFrame, methods: pd.DataFrame | None = None, currency: str = "CNY") -> Figure:
    """CDRO's historical cost H vs worst-distribution cost W for every λ (labelled), with SO and DRO of the
    methods table (002 Fig. 8); right: H and W against λ."""
    _need(lam, "sensitivity_lambda", ("lam", "historical_cost", "worst_cost"))
    d = lam.sort_values("lam")
    fig = Figure(figsize=(12, 5), layout="constrained")
    ax, ax2 = fig.subplots(1, 2)
    ax.plot(d["historical_cost"], d["worst_cost"], color=METHOD_COLOUR["cdro"], marker="o", label="CDRO (λ)")
    for _, r in d.iterrows():
        ax.annotate(f"λ={float(r['lam']):.1f}", (float(r["historical_cost"]), float(r["worst_cost"])),
                    textcoords="offset points", xytext=(6, 4), fontsize=8)
    if methods is not None and not methods.empty:
        for m, marker in (("so", "s"), ("dro", "D"), ("cvar", "^")):
            row = methods[methods["method"] == m]
            if len(row):
                ax.scatter(float(row["historical_cost"].iloc[0]), float(row["worst_cost"].iloc[0]), marker=marker,
                           s=60, color=METHOD_COLOUR[m], zorder=3, label=METHOD_LABEL[m])
    ax.set_xlabel(f"historical-distribution cost H ({currency})")
    ax.set_ylabel(f"worst-distribution cost W ({currency})")
    ax.set_title("Trade-off: H vs W of CDRO, points labelled by λ")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax2.plot(d["lam"], d["historical_cost"], marker="o", color="#1f77b4", label="H (historical)")
    ax2.set_xlabel("equilibrium coefficient λ (1)")
    ax2.set_ylabel(f"H ({currency})", color="#1f77b4")
    tw = ax2.twinx()
    tw.plot(d["lam"], d["worst_cost"], marker="s", color="#d62728", label="W (worst distribution)")
    tw.set_ylabel(f"W ({currency})", color="#d62728")
    h1, l1 = ax2.get_legend_handles_labels()
    h2, l2 = tw.get_legend_handles_labels()
    ax2.legend(h1 + h2, l1 + l2, fontsize=8, loc="center right")
    ax2.grid(True, alpha=0.3)
    ax2.set_title("H and W of CDRO against λ")
    fig.suptitle("Influence of the equilibrium coefficient λ (cf. 002 Fig. 8)")
    return fig


# --------------------------------------------------------------------------------------- sensitivity
def _cost_panel(ax: Axes, x: np.ndarray, d: pd.DataFrame, currency: str) -> None:
    ax.plot(x, d["objective"], marker="o", color=METHOD_COLOUR["cdro"], label="CDRO objective (W of CDRO)")
    ax.plot(x, d["historical_cost"], marker="o", linestyle="--", color=METHOD_COLOUR["cdro"], label="H of CDRO")
    ax.plot(x, d["dro_objective"], marker="D", color=METHOD_COLOUR["dro"], label="DRO objective (W of DRO)")
    ax.plot(x, d["so_historical_cost"], marker="s", color=METHOD_COLOUR["so"], label="SO objective (H of SO)")
    ax.plot(x, d["so_worst_cost"], marker="s", linestyle=":", color=METHOD_COLOUR["so"], label="W of SO")
    ax.set_ylabel(f"cost ({currency})")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)


def sweep_trends(sens: pd.DataFrame, param: str, xlabel: str, title: str, logx: bool = False,
                 currency: str = "CNY") -> Figure:
    """Costs (CDRO objective and H; DRO objective; SO's H and W) against one parameter, and the radii θ1, θ∞
    with the C&CG iterations."""
    _need(sens, title, (param, "objective", "historical_cost", "dro_objective", "so_historical_cost",
                        "so_worst_cost", "theta_1", "theta_inf", "iterations", "dro_iterations"))
    d = sens.sort_values(param)
    x = d[param].to_numpy(float)
    fig = Figure(figsize=(12, 4.8), layout="constrained")
    ax, ax2 = fig.subplots(1, 2)
    _cost_panel(ax, x, d, currency)
    ax.set_xlabel(xlabel)
    ax.set_title("Costs")
    ax2.plot(x, d["theta_inf"], marker="o", color="#ff7f0e", label="θ∞")
    ax2.plot(x, d["theta_1"], marker="s", color="#8c564b", label="θ1")
    ax2.set_yscale("log")
    ax2.set_ylabel("radius of Ψ (1)")
    ax2.set_xlabel(xlabel)
    tw = ax2.twinx()
    tw.plot(x, d["iterations"], marker="x", linestyle=":", color=METHOD_COLOUR["cdro"], label="C&CG iterations CDRO")
    tw.plot(x, d["dro_iterations"], marker="+", linestyle=":", color=METHOD_COLOUR["dro"],
            label="C&CG iterations DRO")
    tw.set_ylabel("C&CG iterations (1)")
    tw.set_ylim(0, max(float(d["iterations"].max()), float(d["dro_iterations"].max())) + 1)
    tw.yaxis.set_major_locator(MaxNLocator(integer=True))
    h1, l1 = ax2.get_legend_handles_labels()
    h2, l2 = tw.get_legend_handles_labels()
    ax2.legend(h1 + h2, l1 + l2, fontsize=8)
    ax2.grid(True, alpha=0.3)
    ax2.set_title("Ambiguity radii and iterations")
    if logx:
        ax.set_xscale("log")
        ax2.set_xscale("log")
    fig.suptitle(title)
    return fig


def alpha_heatmap(alpha: pd.DataFrame, currency: str = "CNY") -> Figure:
    """CDRO objective over the (α∞, α1) grid, annotated with θ∞, θ1 (002 Table 6)."""
    _need(alpha, "sensitivity_alpha", ("alpha_inf", "alpha_1", "objective", "theta_1", "theta_inf"))
    grid = alpha.pivot_table(index="alpha_inf", columns="alpha_1", values="objective", aggfunc="first")
    th1 = alpha.pivot_table(index="alpha_inf", columns="alpha_1", values="theta_1", aggfunc="first")
    thi = alpha.pivot_table(index="alpha_inf", columns="alpha_1", values="theta_inf", aggfunc="first")
    fig = Figure(figsize=(7.5, 6), layout="constrained")
    ax = fig.subplots()
    vals = grid.to_numpy(float)
    im = ax.imshow(vals, origin="lower", cmap="viridis", aspect="auto")
    fig.colorbar(im, ax=ax, label=f"CDRO objective ({currency})")
    ax.set_xticks(range(grid.shape[1]), [f"{c:g}" for c in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [f"{r:g}" for r in grid.index])
    ax.set_xlabel("α1 (confidence of the 1-norm bound)")
    ax.set_ylabel("α∞ (confidence of the ∞-norm bound)")
    finite = vals[np.isfinite(vals)]
    mid = float(np.mean(finite)) if finite.size else 0.0
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            v = vals[i, j]
            if not np.isfinite(v):
                continue
            ax.text(j, i, f"{v:,.2f}\nθ∞={thi.iloc[i, j]:.4f}\nθ1={th1.iloc[i, j]:.3f}", ha="center", va="center",
                    fontsize=8, color="white" if v < mid else "black")
    ax.set_title("CDRO objective over the confidence levels (cf. 002 Table 6)")
    return fig


def degree_comparison(deg: pd.DataFrame) -> Figure:
    """W reduction and H increase of CDRO and DRO relative to SO at each uncertainty degree (002 Table 3)."""
    _need(deg, "sensitivity_degree", ("degree", "historical_cost", "worst_cost", "so_historical_cost",
                                      "so_worst_cost", "dro_objective", "dro_historical_cost"))
    d = deg.sort_values("degree")
    x = np.arange(len(d), dtype=float)
    so_h, so_w = d["so_historical_cost"].to_numpy(float), d["so_worst_cost"].to_numpy(float)
    series = {
        "CDRO": ((so_w - d["worst_cost"].to_numpy(float)) / so_w, (d["historical_cost"].to_numpy(float) - so_h) / so_h),
        "DRO": ((so_w - d["dro_objective"].to_numpy(float)) / so_w,
                (d["dro_historical_cost"].to_numpy(float) - so_h) / so_h),
    }
    fig = Figure(figsize=(12, 4.8), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    for i, (name, (wg, hl)) in enumerate(series.items()):
        colour = METHOD_COLOUR[name.lower()]
        ax1.bar(x + (i - 0.5) * 0.38, 100 * wg, width=0.38, color=colour, label=name)
        ax2.bar(x + (i - 0.5) * 0.38, 100 * hl, width=0.38, color=colour, label=name)
    labels = [f"×{v:g}" for v in d["degree"]]
    for ax, title, ylabel in ((ax1, "Robustness gained: W reduction vs SO", "(W_SO − W) / W_SO (%)"),
                              (ax2, "Economy sacrificed: H increase vs SO", "(H − H_SO) / H_SO (%)")):
        ax.set_xticks(x, labels)
        ax.set_xlabel("uncertainty degree (error scale, ×)")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Methods under different uncertainty degrees (cf. 002 Table 3)")
    return fig


def gap_sweep(gap: pd.DataFrame, currency: str = "CNY") -> Figure:
    """Objective and C&CG iterations of CDRO and DRO against the convergence gap ε (002 Table 8)."""
    _need(gap, "sensitivity_gap", ("eps", "objective", "iterations", "dro_objective", "dro_iterations"))
    d = gap.sort_values("eps", ascending=False)
    labels = [f"{v:g}" for v in d["eps"]]
    x = np.arange(len(d), dtype=float)
    fig = Figure(figsize=(12, 4.8), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    for col, name, marker in (("objective", "cdro", "o"), ("dro_objective", "dro", "D")):
        y = d[col].to_numpy(float)
        ax1.plot(x, y - y[-1], marker=marker, color=METHOD_COLOUR[name],
                 label=f"{METHOD_LABEL[name]} (at ε = {d['eps'].iloc[-1]:g}: {y[-1]:,.2f} {currency})")
    ax1.axhline(0.0, color="black", linewidth=0.8)
    ax1.ticklabel_format(axis="y", useOffset=False)
    ax1.set_ylabel(f"objective − objective at the strictest ε ({currency})")
    ax1.set_xticks(x, labels)
    ax1.set_xlabel("convergence gap ε (1), stricter to the right")
    ax1.set_title("Objective (C&CG upper bound)")
    ax1.grid(True, alpha=0.3)
    ax1.legend(fontsize=8)
    ax2.bar(x - 0.19, d["iterations"], width=0.38, color=METHOD_COLOUR["cdro"], label="CDRO")
    ax2.bar(x + 0.19, d["dro_iterations"], width=0.38, color=METHOD_COLOUR["dro"], label="DRO")
    ax2.set_xticks(x, labels)
    ax2.set_xlabel("convergence gap ε (1), stricter to the right")
    ax2.set_ylabel("C&CG iterations (1)")
    ax2.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax2.set_title("Iterations")
    ax2.grid(True, axis="y", alpha=0.3)
    ax2.legend(fontsize=8)
    fig.suptitle("Optimisation results with different convergence gaps (cf. 002 Table 8)")
    return fig


def convergence(conv: pd.DataFrame, part: str = "methods", point: str = "default", currency: str = "CNY") -> Figure:
    """Lower and upper bound per C&CG iteration of DRO and CDRO at one point (002 Fig. 2 loop)."""
    _need(conv, "convergence", ("part", "point", "method", "iteration", "lb", "ub"))
    sub = conv[(conv["part"] == part) & (conv["point"] == point)]
    methods = [m for m in ("dro", "cdro") if m in set(sub["method"])]
    if not methods:
        raise ValueError(f"convergence: no C&CG history for part {part!r}, point {point!r}")
    fig = Figure(figsize=(6 * len(methods), 4.5), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(methods)))
    for ax, m in zip(axes, methods, strict=True):
        d = sub[sub["method"] == m].sort_values("iteration")
        it = d["iteration"].to_numpy(int)
        ax.plot(it, d["lb"], marker="o", color="#1f77b4", label="lower bound (master)")
        ax.plot(it, d["ub"], marker="s", color="#d62728", label="upper bound (best W so far)")
        ax.set_xticks(it)
        ax.ticklabel_format(axis="y", useOffset=False)
        ax.set_xlabel("C&CG iteration (1)")
        ax.set_ylabel(f"objective bound ({currency})")
        gap = float(d["ub"].iloc[-1] - d["lb"].max())
        ax.set_title(f"{METHOD_LABEL[m]}: {len(d)} iterations, final gap {gap:.3g} {currency}")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("C&CG convergence at the defaults")
    return fig

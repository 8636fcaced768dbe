"""Summaries, figures and ``report.md`` of ``run_sim.py compare`` (issues 4 and 14).

Works only from the files :func:`sim.engine.run.execute` writes (``kpis.csv``, optionally ``manifest.json``
and ``failures.csv``), so a finished run can be re-rendered without solving.

Statistics (:mod:`sim.analysis.stats`).  One observation is one simulated ``(seed, day)`` of one mode.  Every
pair of modes is compared *paired*: all modes of one seed see the same weather, loads and EV fleets on the
same day (common random numbers), so the difference ``A − B`` is taken day by day on the days both modes
finished, and its Student-t interval is far narrower than the spread of the daily costs.  The pairs are
ordered with the system's key contrast first (cooperative − centralized on ieee33, 004's headline).  A
mean over days of one mode has a t-interval too, but one of a quantity that cannot be negative is never
reported below 0 (:func:`sim.analysis.stats.interval_of`: the days' range with fewer than ten days, else
clipped at 0, and marked).  Figures with fewer than ten days per mode show every day as a point, the same
day joined across modes, instead of an interval.

API
---
- :func:`compare_table` — tidy ``mode, metric, mean, ci_low, ci_high, ci_method, n_days, min, max``;
- :func:`pair_table` — every pair of modes, per headline metric, as paired daily differences (``pairs.csv``);
- :func:`summary_lines` — a compact text table for the terminal, ending with the first pair's verdict;
- :func:`write_compare` — ``comparison.csv``, ``pairs.csv``, ``figures/*.png`` and ``report.md``;
- :func:`write_sweep` (from :mod:`sim.analysis.sweep`) — the same for a sweep.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sim.analysis.common import (
    CURRENCY,
    FEW_DAYS,
    KPI_FILE,
    LEVEL,
    PAIR_KEYS,
    checked,
    clusters_of,
    day_labels,
    failures_md,
    fmt,
    fmt_interval,
    info,
    md,
    metrics_of,
    pct_level,
    read_failures,
    read_kpis,
    read_manifest,
    save_all,
    setup_lines,
    system_of,
)
from sim.analysis.stats import (
    MARK_TEXT,
    MARKS,
    PAIR_COLUMNS,
    TIE_RTOL,
    Interval,
    interval_of,
    mean_ci,
    nonnegative,
    pair_table,
    paired_days,
    statistics_paragraph,
    summary_rows,
)
from sim.analysis.style import (
    CLUSTER_COLOUR,
    mode_colour,
    mode_label,
    mode_order,
    reference_mode,
    registered_modes,
    tick_labels,
)
from sim.analysis.sweep import point_axis, point_differences, point_fields, sweep_table, write_sweep
from sim.engine.io import write_csv, write_text
from sim.engine.system import System

log = logging.getLogger(__name__)

__all__ = [
    "FEW_DAYS",
    "LEVEL",
    "PAIR_COLUMNS",
    "Interval",
    "compare_table",
    "interval_of",
    "mean_ci",
    "metrics_of",
    "nonnegative",
    "pair_table",
    "paired_days",
    "point_axis",
    "point_differences",
    "point_fields",
    "read_kpis",
    "summary_lines",
    "sweep_table",
    "write_compare",
    "write_sweep",
]


# ---------------------------------------------------------------------------------------------- tables
def compare_table(kpis: pd.DataFrame, level: float = LEVEL, system: System | None = None) -> pd.DataFrame:
    """One row per (mode, metric): ``mode, metric, mean, ci_low, ci_high, ci_method, n_days, min, max``.

    Modes in registry order (cooperative, centralized, noncooperative, oracle; others after them); metrics as
    :func:`metrics_of`.  The interval is :func:`sim.analysis.stats.interval_of`'s (``ci_method`` says which:
    ``t``, ``t, clipped at 0``, ``range`` or none).  A metric with no finite value for a mode (e.g. ``gain_<C>``
    outside the cooperative mode) has no row.  Rows of several sweep points are pooled (see :func:`sweep_table`).
    """
    df = checked(kpis)
    if df["point"].nunique() > 1:
        log.warning("compare_table: %d sweep points pooled; use sweep_table for per-point summaries",
                    df["point"].nunique())
    rows = summary_rows(df, "mode", mode_order(df["mode"]), metrics_of(df), level=level, system=system)
    return pd.DataFrame(rows, columns=["mode", "metric", "mean", "ci_low", "ci_high", "ci_method", "n_days", "min",
                                       "max"])


def _cell(r: Any, digits: int, scale: float) -> str:
    """'mean [lo, hi]' with the interval's mark (or 'mean (n < 2)')."""
    mark = MARKS.get(str(r["ci_method"]), "")
    ci = fmt_interval(r["ci_low"] * scale, r["ci_high"] * scale, digits)
    return f"{fmt(r['mean'] * scale, digits)} {ci if ci != 'n/a' else '(n < 2)'}{mark}"


def _first(pairs: pd.DataFrame, metric: str = "total_cost") -> pd.Series | None:
    sub = pairs[pairs["metric"] == metric]
    return None if sub.empty else sub.sort_values("order").iloc[0]


def summary_lines(kpis: pd.DataFrame, level: float = LEVEL, currency: str = CURRENCY,
                  system: System | None = None) -> str:
    """A compact text table for the terminal: per mode the mean total cost and curtailment with their reported
    intervals and the paired gap to the full-information mode in %; then the first pair's verdict (the key
    contrast, e.g. cooperative − centralized).  With several sweep points, one block per point."""
    df = checked(kpis)
    points = list(dict.fromkeys(df["point"]))
    header = (f"{'mode':<16}{'days':>5}  {'total cost (' + currency + '/day)':>32}  {'curtailment (kWh/day)':>28}  "
              f"{'gap to oracle (%)':>26}")
    lines = [f"mean [{pct_level(level)} interval] over days; * clipped at 0, † range of the days (see report.md)"]
    for point in points:
        if len(points) > 1:
            lines.append(f"\npoint {point}")
        lines += [header, "-" * len(header)]
        lines += _summary_block(df[df["point"] == point], level, currency, system)
    return "\n".join(lines)


def _summary_block(df: pd.DataFrame, level: float, currency: str, system: System | None) -> list[str]:
    table = compare_table(df, level, system)
    base = reference_mode(df["mode"])
    pairs = pair_table(df, ["total_cost"], level, system, currency=currency)
    lines = []
    for mode in mode_order(df["mode"]):
        t = table[table["mode"] == mode].set_index("metric")
        cost = _cell(t.loc["total_cost"], 2, 1.0) if "total_cost" in t.index else "n/a"
        curt = _cell(t.loc["curtailment_kwh"], 1, 1.0) if "curtailment_kwh" in t.index else "n/a"
        n = int(t["n_days"].get("total_cost", 0))
        g = "(reference)" if mode == base else "n/a"
        if base is not None and mode != base:
            r = pairs[((pairs["a"] == mode) & (pairs["b"] == base)) | ((pairs["a"] == base) & (pairs["b"] == mode))]
            if not r.empty and int(r.iloc[0]["n_days"]) > 0:
                rr = r.iloc[0]
                sign = 1.0 if rr["a"] == mode else -1.0  # % of the base's cost only when the base is B
                if sign > 0:
                    lo, hi = float(rr["ci_low_pct"]), float(rr["ci_high_pct"])
                    ci = fmt_interval(lo, hi, 2, True)
                    g = f"{fmt(float(rr['mean_pct']), 2, True)} {ci if ci != 'n/a' else '(n < 2)'}"
        lines.append(f"{mode:<16}{n:>5}  {cost:>32}  {curt:>28}  {g:>26}")
    first = _first(pairs)
    if first is not None:
        lines.append(f"{first['contrast']}: {_strip_md(str(first['verdict']))}")
    return lines


def _strip_md(text: str) -> str:
    return text.replace("**", "")


# ---------------------------------------------------------------------------------------------- figures
def _label(mode: str) -> str:
    return mode_label(mode)


def _colour(mode: str, i: int) -> str:
    return mode_colour(mode, i)


def _bargaining_mode(modes: Iterable[str]) -> str | None:
    """The mode among ``modes`` that settles by bargaining (its per-cluster gains are reported), if any."""
    known = registered_modes()
    return next((m for m in mode_order(modes) if m in known and known[m].bargaining), None)


def _n_max(kpis: pd.DataFrame, metric: str) -> int:
    """The largest number of finite values of ``metric`` any mode has (the observations per mode)."""
    if metric not in kpis.columns:
        return 0
    return int(kpis.groupby("mode")[metric].apply(lambda s: int(np.isfinite(s.to_numpy(float)).sum())).max())


def _spread(k: int, width: float = 0.16) -> np.ndarray:
    """Evenly spaced horizontal offsets of ``k`` points around 0 (no random jitter)."""
    return np.linspace(-width / 2, width / 2, k) if k > 1 else np.zeros(k)


def _days_and_means(ax: Axes, table: pd.DataFrame, kpis: pd.DataFrame, metric: str, modes: Sequence[str],
                    offset: float = 0.0, marker: str = "o") -> bool:
    """Per mode at x = its index + ``offset``.  With fewer than :data:`FEW_DAYS` days per mode: every day as a
    marker, the same (seed, point, day) joined across modes by a thin grey line, the mean as a short black bar;
    otherwise: the mean with its reported interval (whiskers) and the days as faint dots.  Returns whether the
    days were drawn as points (the few-days form)."""
    _, _, digits, scale = info(metric)
    few = _n_max(kpis, metric) < FEW_DAYS
    wide = kpis.pivot_table(index=list(PAIR_KEYS), columns="mode", values=metric, aggfunc="first") \
        if metric in kpis.columns else pd.DataFrame()
    cols = [m for m in modes if m in wide.columns]
    xs = {m: modes.index(m) + offset for m in cols}
    if few and len(cols) > 1:
        for _, r in wide[cols].iterrows():
            y = r.to_numpy(float) * scale
            ax.plot([xs[m] for m in cols], y, color="#9a9a9a", linewidth=0.6, alpha=0.7, zorder=1)
    for i, mode in enumerate(modes):
        sel = table[(table["mode"] == mode) & (table["metric"] == metric)]
        if sel.empty or mode not in wide.columns:
            continue
        rr = sel.iloc[0]
        m, lo, hi = float(rr["mean"]) * scale, float(rr["ci_low"]) * scale, float(rr["ci_high"]) * scale
        y = wide[mode].to_numpy(float) * scale
        y = y[np.isfinite(y)]
        colour = _colour(mode, i)
        x0 = i + offset
        if few:
            ax.scatter(np.full(y.size, x0), y, s=22, color=colour, marker=marker, edgecolors="white",
                       linewidths=0.5, zorder=3)
            ax.plot([x0 - 0.14, x0 + 0.14], [m, m], color="black", linewidth=1.6, zorder=4)
        else:
            ax.scatter(x0 + _spread(y.size), y, s=8, color=colour, alpha=0.3, linewidths=0, zorder=2)
            if math.isfinite(lo) and math.isfinite(hi):
                ax.errorbar([x0], [m], yerr=[[max(m - lo, 0.0)], [max(hi - m, 0.0)]], fmt=marker, color=colour,
                            capsize=5, elinewidth=1.6, markersize=6, zorder=3)
            else:
                ax.plot([x0], [m], marker=marker, color=colour, markersize=6, linestyle="none", zorder=3)
        mark = MARKS.get(str(rr["ci_method"]), "") if not few else ""
        ax.annotate(fmt(m, digits) + mark, (x0 + 0.16, m), textcoords="offset points", xytext=(3, 0), va="center",
                    fontsize="x-small")
    return few


def _mode_axis(ax: Axes, modes: Sequence[str]) -> None:
    tick_labels(ax, range(len(modes)), [_label(m) for m in modes], width_chars=12.0 * max(len(modes), 1))
    ax.set_xlim(-0.6, len(modes) - 0.2)
    ax.grid(True, axis="y", alpha=0.3)


def _caption(few: bool, n: int, level: float) -> str:
    if n < 2:
        return "one day per mode: no interval"
    if few:
        return f"{n} days per mode (< {FEW_DAYS}): every day a point, the same day joined across modes, bar: mean"
    return f"marker: mean over {n} days, whiskers: {pct_level(level)} interval, dots: days"


def fig_total_cost(table: pd.DataFrame, kpis: pd.DataFrame, level: float = LEVEL, currency: str = CURRENCY) -> Figure:
    """Figure 1: the daily total cost per mode — every day (few days) or the mean with its interval."""
    modes = mode_order(table["mode"])
    if "total_cost" not in set(table["metric"]):
        raise ValueError("no total_cost in the comparison table")
    fig = Figure(figsize=(max(5.5, 1.5 * len(modes) + 2.5), 4.2), layout="constrained")
    ax = fig.add_subplot()
    few = _days_and_means(ax, table, kpis, "total_cost", modes)
    _mode_axis(ax, modes)
    ax.set_ylabel(f"Total cost ({currency}/day)")
    ax.set_title(f"Daily total cost per mode — {_caption(few, _n_max(kpis, 'total_cost'), level)}",
                 fontsize="medium")
    return fig


def fig_cost_per_day(kpis: pd.DataFrame, currency: str = CURRENCY) -> Figure:
    """Figure 2: total cost of every day, one line per mode (and seed)."""
    df = checked(kpis)
    modes = mode_order(df["mode"])
    fig = Figure(figsize=(8.5, 4.2), layout="constrained")
    ax = fig.add_subplot()
    styles = ("-", "--", ":", "-.")
    seeds = sorted(df["seed"].unique())
    for i, mode in enumerate(modes):
        for j, seed in enumerate(seeds):
            g = df[(df["mode"] == mode) & (df["seed"] == seed)].sort_values("day")
            if g.empty:
                continue
            label = _label(mode) + (f", seed {seed}" if len(seeds) > 1 else "")
            ax.plot(g["day"].to_numpy(int), g["total_cost"].to_numpy(float), marker="o", markersize=3.5,
                    linestyle=styles[j % len(styles)], color=_colour(mode, i), label=label)
    days = sorted(int(d) for d in df["day"].unique())
    tick_labels(ax, days, [str(d) for d in days], width_chars=90.0)
    ax.set_xlabel("Day")
    ax.set_ylabel(f"Total cost ({currency}/day)")
    ax.set_title("Total cost per day (same weather, loads and fleets for every mode on a day)", fontsize="medium")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def fig_pairs(pairs: pd.DataFrame, kpis: pd.DataFrame, metric: str = "total_cost", level: float = LEVEL,
              currency: str = CURRENCY) -> Figure:
    """Figure 3: every pair's daily difference ``A − B`` (first pair on top).  Each day a point, coloured by the
    mode that is lower on it (grey: equal); with fewer than :data:`FEW_DAYS` days a bar marks the mean, otherwise
    the mean with its t-interval is drawn over the faint days.  The right margin counts the days."""
    rows = pairs[(pairs["metric"] == metric) & (pairs["n_days"] > 0)].sort_values("order")
    if rows.empty:
        raise ValueError(f"no pair of modes shares a day for {metric}")
    label, unit, _, scale = info(metric, currency)
    k = len(rows)
    fig = Figure(figsize=(8.5, 1.0 + 0.62 * k), layout="constrained")
    ax = fig.add_subplot()
    n_max = int(rows["n_days"].max())
    few = n_max < FEW_DAYS
    for j, (_, r) in enumerate(rows.iterrows()):
        y0 = k - 1 - j
        a, b = str(r["a"]), str(r["b"])
        joined, _ = paired_days(kpis, a, b, metric)
        d = joined["diff"].to_numpy(float) * scale
        big = np.maximum(joined["a"].abs().to_numpy(float), joined["b"].abs().to_numpy(float))
        band = TIE_RTOL * np.maximum(1.0, big) * scale
        colours = np.where(d < -band, mode_colour(a), np.where(d > band, mode_colour(b), "#9a9a9a"))
        ys = y0 + (_spread(d.size, 0.3) if not few else np.zeros(d.size))
        ax.scatter(d, ys, s=20 if few else 8, c=list(colours), alpha=0.9 if few else 0.35, linewidths=0.4,
                   edgecolors="white", zorder=3 if few else 2)
        m, lo, hi = float(r["mean"]) * scale, float(r["ci_low"]) * scale, float(r["ci_high"]) * scale
        if few or not (math.isfinite(lo) and math.isfinite(hi)):
            ax.plot([m, m], [y0 - 0.25, y0 + 0.25], color="black", linewidth=1.6, zorder=4)
        else:
            ax.errorbar([m], [y0], xerr=[[m - lo], [hi - m]], fmt="D", color="black", capsize=4, markersize=5,
                        zorder=4)
        ax.annotate(f"{_label(a)} lower {int(r['days_a_lower'])} · {_label(b)} lower {int(r['days_b_lower'])} · "
                    f"equal {int(r['days_tie'])}", (1.01, y0), xycoords=("axes fraction", "data"), va="center",
                    fontsize="x-small")
    ax.axvline(0.0, color="black", linewidth=0.8)
    tick_labels(ax, [k - 1 - j for j in range(k)], [f"{_label(str(r['a']))} − {_label(str(r['b']))}"
                                                   for _, r in rows.iterrows()], axis="y")
    ax.set_ylim(-0.6, k - 0.4)
    ax.set_xlabel(f"Daily difference A − B of the {label} ({unit}); < 0: A lower")
    ax.grid(True, axis="x", alpha=0.3)
    what = (f"{n_max} days (< {FEW_DAYS}): every day a point, bar: mean" if few else
            f"diamond: mean with its {pct_level(level)} t-interval, dots: days")
    ax.set_title(f"Paired differences of the modes, same (seed, day) — {what}", fontsize="medium")
    return fig


def fig_first_pair(pairs: pd.DataFrame, kpis: pd.DataFrame, level: float = LEVEL, currency: str = CURRENCY) -> Figure:
    """Figure 4: the first pair's (the key contrast's) total-cost difference on every day, with its mean and,
    with at least :data:`FEW_DAYS` days, its interval."""
    r = _first(pairs)
    if r is None or int(r["n_days"]) == 0:
        raise ValueError("no pair of modes shares a day")
    a, b = str(r["a"]), str(r["b"])
    joined, _ = paired_days(kpis, a, b)
    labels = day_labels(joined.index)  # type: ignore[arg-type]
    d = joined["diff"].to_numpy(float)
    x = np.arange(d.size)
    fig = Figure(figsize=(max(6.5, 0.35 * d.size + 4.0), 4.0), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(x, d, color=np.where(d < 0, mode_colour(a), mode_colour(b)), width=0.7)
    m, lo, hi = float(r["mean"]), float(r["ci_low"]), float(r["ci_high"])
    ax.axhline(m, color="black", linewidth=1.4, label=f"mean {fmt(m, 2, True)}")
    if d.size >= FEW_DAYS and math.isfinite(lo) and math.isfinite(hi):
        ax.axhspan(lo, hi, color="black", alpha=0.12, label=f"{pct_level(level)} CI {fmt_interval(lo, hi, 2, True)}")
    ax.axhline(0.0, color="black", linewidth=0.6, linestyle=":")
    tick_labels(ax, list(x), labels, width_chars=7.0 * 12)
    ax.set_xlabel("Day")
    ax.set_ylabel(f"{_label(a)} − {_label(b)} ({currency}/day)")
    verdict = "conclusive" if bool(r["conclusive"]) else "not conclusive"
    ax.set_title(f"{_label(a)} − {_label(b)} per day (< 0: {a} cheaper) — {a} cheaper on {int(r['days_a_lower'])} "
                 f"of {int(r['n_days'])} days, {verdict}", fontsize="medium")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="best", frameon=False)
    return fig


def fig_cluster_gains(kpis: pd.DataFrame, mode: str | None = None, currency: str = CURRENCY) -> Figure:
    """Figure 5: each cluster's gain from the bargaining of ``mode`` (standalone − final cost), per day."""
    df = checked(kpis)
    mode = mode or _bargaining_mode(df["mode"])
    sub = df[df["mode"] == mode].sort_values(list(PAIR_KEYS))
    clusters = [c for c in clusters_of(df) if f"gain_{c}" in sub.columns and sub[f"gain_{c}"].notna().any()]
    if sub.empty or not clusters:
        raise ValueError(f"no per-cluster gains of mode {mode!r}")
    labels = day_labels(sub[list(PAIR_KEYS)])
    x = np.arange(len(sub))
    width = 0.8 / len(clusters)
    fig = Figure(figsize=(max(6.5, 0.4 * len(sub) * len(clusters) + 3.0), 4.2), layout="constrained")
    ax = fig.add_subplot()
    for j, c in enumerate(clusters):
        ax.bar(x - 0.4 + (j + 0.5) * width, sub[f"gain_{c}"].to_numpy(float), width=width,
               color=CLUSTER_COLOUR[j % len(CLUSTER_COLOUR)], label=c)
    ax.axhline(0.0, color="black", linewidth=0.8)
    tick_labels(ax, list(x), labels, width_chars=max(60.0, 3.0 * len(sub) * len(clusters)))
    ax.set_xlabel("Day")
    ax.set_ylabel(f"Gain ({currency}/day)")
    ax.set_title(f"Per-cluster gain of the {mode} mode's bargaining (standalone − final cost)", fontsize="medium")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def fig_curtailment_grid(table: pd.DataFrame, kpis: pd.DataFrame, level: float = LEVEL) -> Figure:
    """Figure 6: curtailment and grid purchase per mode, each day (few days) or mean with interval."""
    panels = [m for m in ("curtailment_kwh", "grid_kwh") if m in set(table["metric"])]
    if not panels:
        raise ValueError("no curtailment_kwh or grid_kwh in the comparison table")
    modes = mode_order(table["mode"])
    fig = Figure(figsize=(max(8.0, 2.6 * len(modes) + 3.0), 4.0), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    few = True
    for ax, metric in zip(axes, panels, strict=True):
        label, unit, _, _ = info(metric)
        few = _days_and_means(ax, table, kpis, metric, modes)
        _mode_axis(ax, modes)
        ax.set_ylabel(f"{label[0].upper()}{label[1:]} ({unit})")
        ax.set_title(label[0].upper() + label[1:], fontsize="medium")
        vals = kpis[metric].to_numpy(float) if metric in kpis.columns else np.array([])
        vals = vals[np.isfinite(vals)]
        if vals.size and float(vals.min()) >= 0.0:
            top = float(vals.max())
            ax.set_ylim(0.0, top * 1.1 if top > 0 else 1.0)
            if top == 0:
                ax.text(0.5, 0.5, f"no {label} on any day in any mode", transform=ax.transAxes, ha="center",
                        va="center", color="#555555")
    fig.suptitle(f"Curtailment and grid purchase — {_caption(few, _n_max(kpis, panels[0]), level)}",
                 fontsize="medium")
    return fig


def fig_voltages(table: pd.DataFrame, kpis: pd.DataFrame, level: float = LEVEL,
                 limits: tuple[float, float] | None = None) -> Figure:
    """Figure 7: the daily voltage extremes per mode (V min LinDistFlow and AC, V max)."""
    have = set(table["metric"])
    if not have & {"vmin_pu", "vmax_pu", "vmin_ac_pu"}:
        raise ValueError("no voltage metrics in the comparison table")
    modes = mode_order(table["mode"])
    fig = Figure(figsize=(max(8.0, 2.6 * len(modes) + 3.0), 4.0), layout="constrained")
    ax_lo, ax_hi = fig.subplots(1, 2)
    few = True
    if "vmin_pu" in have:
        few = _days_and_means(ax_lo, table, kpis, "vmin_pu", modes, offset=-0.15, marker="o")
    if "vmin_ac_pu" in have:
        few = _days_and_means(ax_lo, table, kpis, "vmin_ac_pu", modes, offset=0.15, marker="s")
    if "vmax_pu" in have:
        few = _days_and_means(ax_hi, table, kpis, "vmax_pu", modes)
    for ax, title, lim in ((ax_lo, "Daily minimum voltage (○ LinDistFlow, □ AC)", 0),
                           (ax_hi, "Daily maximum voltage (LinDistFlow)", 1)):
        _mode_axis(ax, modes)
        ax.set_ylabel("Voltage (p.u.)")
        ax.set_title(title, fontsize="medium")
        if limits is not None:
            ax.axhline(limits[lim], color="#d62728", linestyle="--", linewidth=1.0,
                       label=f"limit {limits[lim]:g} p.u.")
            ax.legend(loc="best", fontsize="x-small", frameon=False)
    metric = next(m for m in ("vmin_pu", "vmin_ac_pu", "vmax_pu") if m in have)
    fig.suptitle(f"Voltage extremes — {_caption(few, _n_max(kpis, metric), level)}", fontsize="medium")
    return fig


# ---------------------------------------------------------------------------------------------- compare report
def _voltage_limits(manifest: dict[str, Any]) -> tuple[float, float] | None:
    """The scenario's voltage band (:meth:`System.reference_lines`), if the manifest's scenario can be loaded."""
    name = manifest.get("scenario")
    system = system_of(manifest)
    if not name or system is None:
        return None
    try:
        return system.reference_lines(system.load(str(name))).get("voltage")
    except Exception as exc:  # the limits only decorate a figure
        log.info("voltage limits of %s not available: %s", name, exc)
        return None


@dataclass
class _Ctx:
    kpis: pd.DataFrame
    table: pd.DataFrame
    pairs: pd.DataFrame
    level: float
    currency: str


def _comparison_md(c: _Ctx, modes: list[str]) -> tuple[str, set[str]]:
    """The per-mode table and the interval methods used in it (for the footnotes)."""
    rows, used = [], set()
    for metric in metrics_of(c.kpis):
        label, unit, digits, scale = info(metric, c.currency)
        row: dict[str, Any] = {"metric": label, "unit": unit}
        any_value = False
        for mode in modes:
            r = c.table[(c.table["mode"] == mode) & (c.table["metric"] == metric)]
            if r.empty:
                row[mode] = "—"
                continue
            any_value = True
            used.add(str(r.iloc[0]["ci_method"]))
            row[mode] = _cell(r.iloc[0], digits, scale)
        if any_value:
            rows.append(row)
    return md(rows), used


def _pairs_md(c: _Ctx, metric: str = "total_cost") -> str:
    rows = []
    lvl = pct_level(c.level)
    _, unit, digits, scale = info(metric, c.currency)
    for _, r in c.pairs[c.pairs["metric"] == metric].sort_values("order").iterrows():
        n = int(r["n_days"])
        rows.append({
            "pair (A − B)": str(r["contrast"]), "days": n,
            f"mean ({unit})": fmt(float(r["mean"]) * scale, digits, True),
            f"{lvl} CI": fmt_interval(float(r["ci_low"]) * scale, float(r["ci_high"]) * scale, digits, True)
            if n >= 2 else "n < 2: no interval",
            "mean (% of B)": fmt(r["mean_pct"], 2, True),
            "A lower / B lower / equal": f"{int(r['days_a_lower'])} / {int(r['days_b_lower'])} / {int(r['days_tie'])}",
            "interval excludes 0": ("yes" if bool(r["conclusive"]) else "no") if n >= 2 else "n/a",
            "unmatched (A only / B only)": f"{int(r['a_only'])} / {int(r['b_only'])}",
        })
    return md(rows)


def _other_metrics_md(c: _Ctx) -> str:
    rows = []
    lvl = pct_level(c.level)
    for _, r in c.pairs[c.pairs["metric"] != "total_cost"].sort_values(["order"], kind="stable").iterrows():
        metric = str(r["metric"])
        label, unit, digits, scale = info(metric, c.currency)
        n = int(r["n_days"])
        lo, hi = float(r["ci_low"]) * scale, float(r["ci_high"]) * scale
        rows.append({
            "pair (A − B)": str(r["contrast"]), "metric": f"{label} ({unit})", "days": n,
            f"mean [{lvl} CI]": f"{fmt(float(r['mean']) * scale, digits, True)} {fmt_interval(lo, hi, digits, True)}",
            "A lower / B lower / equal": f"{int(r['days_a_lower'])} / {int(r['days_b_lower'])} / {int(r['days_tie'])}",
            "interval excludes 0": ("yes" if bool(r["conclusive"]) else "no") if n >= 2 else "n/a",
        })
    return md(rows) if rows else ""


def _oracle_checks(c: _Ctx, base: str) -> list[str]:
    """Every mode against the full-information ``base``: it should never cost less on a day."""
    out = []
    for mode in [m for m in mode_order(c.kpis["mode"]) if m != base]:
        joined, _ = paired_days(c.kpis, mode, base)
        if joined.empty:
            continue
        tol = TIE_RTOL * np.maximum(1.0, np.abs(joined["b"].to_numpy(float)))
        below = joined.index[joined["diff"].to_numpy(float) < -tol]
        if len(below):
            days = ", ".join(day_labels(pd.MultiIndex.from_tuples(list(below), names=list(PAIR_KEYS))))
            out.append(f"- **{mode} costs less than the {base} on {len(below)} of {len(joined)} days** ({days}): the "
                       f"{base} has every mode's information and flexibility, so this points at a MIP gap or a "
                       "difference in the models' constraints")
        else:
            out.append(f"- {mode} costs at least as much as the {base} on all {len(joined)} days (as it should: the "
                       f"{base} is the full-information optimum)")
    return out


def _cluster_md(c: _Ctx) -> tuple[str, list[str]]:
    """Per-cluster outcome of the bargaining mode, and the individual-rationality checks."""
    df = c.kpis
    key_mode = _bargaining_mode(df["mode"])
    first = _first(c.pairs)
    other = None
    if first is not None and key_mode in (first["a"], first["b"]):
        other = str(first["b"]) if first["a"] == key_mode else str(first["a"])
    coop = df[df["mode"] == key_mode]
    clusters = [k for k in clusters_of(df) if f"gain_{k}" in coop.columns and coop[f"gain_{k}"].notna().any()]
    if coop.empty or not clusters:
        return "", []
    lvl = pct_level(c.level)
    rows, checks = [], []
    for k in clusters:
        g = coop[f"gain_{k}"].to_numpy(float)
        m, lo, hi, n = mean_ci(g, c.level)
        row: dict[str, Any] = {"cluster": k, f"gain ({c.currency}/day)": fmt(m), f"gain {lvl} CI": fmt_interval(lo, hi),
                               "smallest daily gain": fmt(np.nanmin(g))}
        fc = f"final_cost_{k}"
        if fc in df.columns:
            fm, flo, fhi, _ = mean_ci(coop[fc].to_numpy(float), c.level)
            row[f"final cost ({c.currency}/day)"] = f"{fmt(fm)} {fmt_interval(flo, fhi)}"
            if other is not None and key_mode is not None:
                joined, _ = paired_days(df, key_mode, other, fc)
                dm, dlo, dhi, dn = mean_ci(joined["diff"].to_numpy(float), c.level)
                row[f"final cost − {other} ({c.currency}/day)"] = (
                    f"{fmt(dm, 2, True)} {fmt_interval(dlo, dhi, 2, True)}" if dn else "n/a")
        rows.append(row)
        neg = int(np.sum(g < -1e-6))
        checks.append(f"- {k}: gain ≥ 0 (individually rational) on {n - neg} of {n} days"
                      + ("" if neg == 0 else f" — **negative on {neg} day(s)**, smallest {fmt(np.nanmin(g))}"))
    return md(rows), checks


def _daily_md(c: _Ctx, modes: list[str]) -> str:
    wide = c.kpis.pivot_table(index=list(PAIR_KEYS), columns="mode", values="total_cost", aggfunc="first")
    wide = wide.reindex(columns=modes)
    labels = day_labels(wide.index)  # type: ignore[arg-type]
    rows = []
    for label, (_, r) in zip(labels, wide.iterrows(), strict=True):
        rows.append({"day": label, **{m: fmt(r[m]) for m in modes}})
    return md(rows)


def _operation_lines(c: _Ctx, modes: list[str], limits: tuple[float, float] | None) -> list[str]:
    """Curtailment and voltage facts, computed from the daily rows."""
    df = c.kpis
    lines: list[str] = []
    if "curtailment_kwh" in df.columns:
        curt = df["curtailment_kwh"].astype(float)
        if bool((curt.abs() < 1e-6).all()):
            lines.append("- no renewable energy was curtailed on any day in any mode")
        else:
            parts = [f"{m} {fmt(curt[df['mode'] == m].mean(), 1)} kWh/day "
                     f"({int((curt[df['mode'] == m] > 1e-6).sum())} of {int((df['mode'] == m).sum())} days with some)"
                     for m in modes]
            lines.append("- curtailment: " + ", ".join(parts))
    vcol = "vmin_ac_pu" if "vmin_ac_pu" in df.columns else "vmin_pu" if "vmin_pu" in df.columns else None
    if limits is not None and vcol is not None:
        v_lo, v_hi = limits
        what = "AC" if vcol == "vmin_ac_pu" else "LinDistFlow"
        for m in modes:
            sub = df[df["mode"] == m]
            v = sub[vcol].astype(float)
            below = int((v < v_lo - 1e-9).sum())
            text = (f"- {m}: lowest voltage ({what}) below the limit {v_lo:g} p.u. on {below} of {len(v)} days "
                    f"(worst {fmt(v.min(), 4)} p.u.)")
            if "vmax_pu" in sub.columns:
                above = int((sub["vmax_pu"].astype(float) > v_hi + 1e-9).sum())
                text += f"; highest above {v_hi:g} p.u. on {above} days"
            if "voltage_violation_pu_h" in sub.columns:
                viol = float(sub["voltage_violation_pu_h"].astype(float).mean())
                text += f"; LinDistFlow voltage violation {fmt(viol, 4)} p.u.·h/day"
            lines.append(text)
    elif vcol is not None:
        lines.append("- voltage limits not known (the scenario could not be loaded): see the figure")
    return lines


def _fig_md(figs: dict[str, Path], name: str, title: str) -> str:
    return f"![{title}](figures/{figs[name].name})\n" if name in figs else ""


def _write_compare_report(out: Path, c: _Ctx, manifest: dict[str, Any], figs: dict[str, Path],
                          base: str | None, failures: pd.DataFrame,
                          limits: tuple[float, float] | None = None) -> Path:
    modes = mode_order(c.kpis["mode"])
    n_days = int(c.kpis.groupby("mode").size().max())
    system = system_of(manifest)
    expected = [m for m in (system.modes if system is not None else registered_modes()) if m not in modes]
    lvl = pct_level(c.level)
    lines: list[str] = []
    add = lines.append
    scen = manifest.get("scenario", "the scenario")
    add(f"# Mode comparison on `{scen}` — {n_days} day{'s' if n_days != 1 else ''} per mode\n")
    add(f"Every number below is computed from `{KPI_FILE}` in this folder (one row per mode, seed and day). "
        + statistics_paragraph(c.level) + "\n")
    add("## Verdict\n")
    cost = c.pairs[c.pairs["metric"] == "total_cost"].sort_values("order")
    if cost.empty:
        add("Only one mode ran: there is no pair of modes to compare.\n")
    else:
        first = cost.iloc[0]
        add(f"Total cost, {first['contrast']} (the key contrast): " + str(first["verdict"]) + ".\n")
        if len(cost) > 1:
            add("The other pairs (total cost):\n")
            add("\n".join(f"- {r['contrast']}: {r['verdict']}" for _, r in cost.iloc[1:].iterrows()) + "\n")
    fail = failures_md(failures)
    if fail:
        add(fail)
    unmatched = c.pairs[(c.pairs["metric"] == "total_cost") & ((c.pairs["a_only"] > 0) | (c.pairs["b_only"] > 0))]
    if not unmatched.empty:
        add("Unmatched days, left out of the pair they belong to: "
            + "; ".join(f"{r['contrast']}: {int(r['a_only'])} (seed, day) only in {r['a']}, {int(r['b_only'])} only "
                        f"in {r['b']}" for _, r in unmatched.iterrows()) + ".\n")
    add("## Setup\n")
    add("\n".join(setup_lines(c.kpis, manifest)))
    add(f"- modes: {', '.join(modes)}" + (f" (not run: {', '.join(expected)})" if expected else ""))
    if c.kpis["point"].nunique() > 1:
        add(f"- **{c.kpis['point'].nunique()} sweep points pooled** — use the sweep report for per-point results")
    add("")
    if not cost.empty:
        add("## Paired comparisons of the modes (A − B per day)\n")
        add(f"Every pair of the modes run, the key contrast first; A − B < 0 means A is cheaper. `% of B` is the "
            "daily difference in % of B's cost that day, averaged. Days count as equal within a relative "
            f"{TIE_RTOL:g}. All pairs and headline metrics in `pairs.csv`.\n")
        add(_pairs_md(c) + "\n")
        add(_fig_md(figs, "pairs_total_cost", "Paired differences of the total cost"))
        first_name = f"{cost.iloc[0]['a']}_vs_{cost.iloc[0]['b']}"
        add(_fig_md(figs, first_name, f"{cost.iloc[0]['contrast']} per day"))
        other = _other_metrics_md(c)
        if other:
            add(f"Other headline metrics (mean [{lvl} CI] of A − B per day):\n")
            add(other + "\n")
        checks = _oracle_checks(c, base) if base is not None else []
        if checks:
            add(f"Checks against the {base} (the full-information lower bound):\n")
            add("\n".join(checks) + "\n")
    add(f"## Each mode (mean [{lvl} interval] over days)\n")
    add("`total cost` is the system cost (grid + curtailment penalty + storage + EV degradation + PV use + DR); "
        "gains and final costs are per cluster after the settlement (gains only where a bargaining took place). "
        "These intervals contain the day-to-day spread every mode shares: compare modes with the paired "
        "differences above. All figures in `comparison.csv` (tidy, with min and max over days).\n")
    table_md, used = _comparison_md(c, modes)
    add(table_md + "\n")
    notes = [MARK_TEXT[m] for m in MARK_TEXT if m in used]
    if notes:
        add("\n".join(f"- {t}" for t in notes) + "\n")
    add(_fig_md(figs, "total_cost", "Total cost per mode"))
    add(_fig_md(figs, "cost_per_day", "Total cost per day"))
    cl_table, cl_checks = _cluster_md(c)
    if cl_table:
        add(f"## Clusters in the {_bargaining_mode(c.kpis['mode'])} mode (mean [{lvl} CI] over days)\n")
        add("Gain = standalone cost − final cost (the bargaining's share of the coalition surplus).\n")
        add(cl_table + "\n")
        add("\n".join(cl_checks) + "\n")
        add(_fig_md(figs, "cluster_gains", "Per-cluster gains"))
    add("## Operation\n")
    add("\n".join(_operation_lines(c, modes, limits)) + "\n")
    add(_fig_md(figs, "curtailment_grid", "Curtailment and grid purchase"))
    add(_fig_md(figs, "voltages", "Voltage extremes"))
    add(f"## Total cost per day ({c.currency})\n")
    add(_daily_md(c, modes) + "\n")
    return write_text("\n".join(lines) + "\n", out / "report.md")


def write_compare(out: str | Path, *, base: str | None = None, level: float = LEVEL,
                  currency: str = CURRENCY) -> dict[str, Path]:
    """From ``out/kpis.csv`` (and ``failures.csv``, ``manifest.json`` if present): ``comparison.csv``
    (:func:`compare_table`), ``pairs.csv`` (:func:`pair_table`), ``figures/*.png`` and ``report.md``.

    ``base``: the full-information mode the report checks the others against (default: the one present).
    Returns name -> path of every file written (``comparison``, ``pairs``, ``report`` and one entry per figure:
    ``total_cost``, ``cost_per_day``, ``pairs_total_cost``, ``<A>_vs_<B>`` of the first pair, ``cluster_gains``,
    ``curtailment_grid``, ``voltages``); figures whose data are missing are skipped.
    """
    out = Path(out)
    kp = read_kpis(out)
    manifest = read_manifest(out)
    system = system_of(manifest)
    table = compare_table(kp, level, system)
    base = base or reference_mode(kp["mode"])
    pairs = pair_table(kp, None, level, system, currency=currency)
    files: dict[str, Path] = {
        "comparison": write_csv(table, out / "comparison.csv"),
        "pairs": write_csv(pairs, out / "pairs.csv"),
    }
    limits = _voltage_limits(manifest)
    makers: dict[str, Callable[[], Figure]] = {
        "total_cost": lambda: fig_total_cost(table, kp, level, currency),
        "cost_per_day": lambda: fig_cost_per_day(kp, currency),
        "pairs_total_cost": lambda: fig_pairs(pairs, kp, "total_cost", level, currency),
    }
    first = _first(pairs)
    if first is not None and int(first["n_days"]) > 0:
        makers[f"{first['a']}_vs_{first['b']}"] = lambda: fig_first_pair(pairs, kp, level, currency)
    makers |= {
        "cluster_gains": lambda: fig_cluster_gains(kp, _bargaining_mode(kp["mode"]), currency),
        "curtailment_grid": lambda: fig_curtailment_grid(table, kp, level),
        "voltages": lambda: fig_voltages(table, kp, level, limits),
    }
    figs = save_all(makers, out / "figures")
    files.update(figs)
    ctx = _Ctx(kp, table, pairs, level, currency)
    files["report"] = _write_compare_report(out, ctx, manifest, figs, base, read_failures(out), limits)
    return files

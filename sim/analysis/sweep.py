"""Summaries, figures and ``report.md`` of ``run_sim.py sweep`` (issues 4 and 14).

A sweep point sets one or more scenario fields (``point`` = ``"path=value,path=value"`` in ``kpis.csv``; the
manifest's ``runs[].overrides`` hold the same as ``[path, value]`` pairs and are preferred).  The figure
follows the number of fields swept:

- one field (or points that are not field settings): the metric's mean over days against the field's values
  (sorted numerically when every value is a number, in the order given otherwise), one line per mode, with
  the interval as a band (ten days or more) or every day as a thin line (fewer), and a second panel with
  the paired difference to the first point (same seeds and days);
- two fields: a heatmap per mode, the first field across, the second down, each cell annotated with its mean;
- more: small multiples, one panel per value of the second field, the first field across, one line per mode
  and combination of the remaining fields; every point's numbers are in the report's table.

Tick labels are rotated or thinned so they never overlap (:func:`sim.analysis.style.tick_labels`).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import re
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sim.analysis.common import (
    CLUSTER_PREFIXES,
    CURRENCY,
    FEW_DAYS,
    KPI_FILE,
    LEVEL,
    checked,
    clusters_of,
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
from sim.analysis.stats import MARK_TEXT, MARKS, mean_ci, statistics_paragraph, summary_rows
from sim.analysis.style import mode_colour, mode_label, mode_order, tick_labels
from sim.engine.io import write_csv, write_text
from sim.engine.system import System

log = logging.getLogger(__name__)

_SETTING = re.compile(r"^\s*([^=,\s][^=,]*?)\s*=\s*([^,]*?)\s*$")
#: the linestyles and markers that tell the combinations of a third (and further) swept field apart
_STYLES = ("-", "--", ":", "-.")
_MARKERS = ("o", "s", "^", "D", "v", "P")


# ---------------------------------------------------------------------------------------------- points
def _as_value(v: Any) -> Any:
    """A finite number as float, anything else as its string."""
    with contextlib.suppress(TypeError, ValueError):
        f = float(v)
        if math.isfinite(f) and not isinstance(v, bool):
            return f
    return str(v)


def point_fields(points: Sequence[str], manifest: dict[str, Any] | None = None) -> pd.DataFrame:
    """The fields each sweep point sets: index the points (in the order given, once each), one column per dotted
    path (in order of first appearance), values as floats when every value of the field is a number, else strings;
    NaN where a point does not set the field.  From the manifest's ``runs[].overrides`` when present, else parsed
    from labels ``path=value,path=value``; a point that is neither (e.g. ``base``) sets no field."""
    pts = list(dict.fromkeys(map(str, points)))
    settings: dict[str, list[tuple[str, Any]]] = {}
    runs = (manifest or {}).get("runs")
    if isinstance(runs, list):
        for r in runs:
            if not isinstance(r, dict) or str(r.get("point")) not in pts or str(r.get("point")) in settings:
                continue
            ov = r.get("overrides") or []
            pairs = [(str(o[0]), o[1]) for o in ov if isinstance(o, list | tuple) and len(o) == 2]
            if pairs and len(pairs) == len(ov):
                settings[str(r["point"])] = pairs
    for p in pts:
        if p in settings:
            continue
        parts = [_SETTING.match(s) for s in p.split(",")]
        if parts and all(parts):
            settings[p] = [(m.group(1), m.group(2)) for m in parts if m]
    columns = list(dict.fromkeys(path for p in pts for path, _ in settings.get(p, [])))
    raw = pd.DataFrame([{path: v for path, v in settings.get(p, [])} for p in pts], index=pd.Index(pts, name="point"),
                       columns=columns, dtype=object)
    for col in columns:
        vals = [_as_value(v) for v in raw[col] if not (isinstance(v, float) and math.isnan(v)) and v is not None]
        numeric = bool(vals) and all(isinstance(v, float) for v in vals)
        raw[col] = [(_as_value(v) if numeric else str(v)) if v is not None and not (isinstance(v, float)
                    and math.isnan(v)) else np.nan for v in raw[col]]
        if numeric:
            raw[col] = raw[col].astype(float)
    return raw


def _levels(col: pd.Series) -> list[Any]:
    """The values of a field: sorted numerically when numeric, in order of first appearance otherwise."""
    vals = list(dict.fromkeys(v for v in col if not (isinstance(v, float) and math.isnan(v))))
    return sorted(vals) if all(isinstance(v, float) for v in vals) else vals


def _is_grid(fields: pd.DataFrame) -> bool:
    """Every point sets every field (the sweep is a product of the fields' values)."""
    return fields.shape[1] > 0 and not fields.isna().any().any()


def ordered_points(fields: pd.DataFrame) -> list[str]:
    """The points sorted by their fields (each field's :func:`_levels` order, the first field slowest)."""
    if not _is_grid(fields):
        return list(fields.index)
    rank = {c: {v: i for i, v in enumerate(_levels(fields[c]))} for c in fields.columns}
    return sorted(fields.index, key=lambda p: tuple(rank[c][fields.at[p, c]] for c in fields.columns))


def _value_label(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def point_axis(points: Sequence[str],
               manifest: dict[str, Any] | None = None) -> tuple[list[str], list[float] | None, str]:
    """``(ordered points, numeric x or None, x label)`` of a sweep over one field.

    Numeric when every point sets exactly one and the same field to a number; the points are then sorted by value.
    One categorical field keeps the order given and labels the axis with the field; otherwise ``sweep point``."""
    fields = point_fields(points, manifest)
    if fields.shape[1] == 1 and _is_grid(fields):
        col = str(fields.columns[0])
        order = ordered_points(fields)
        if fields[col].dtype == float:
            return order, [float(v) for v in fields.loc[order, col].to_numpy(float)], col
        return order, None, col
    return list(fields.index), None, "sweep point"


# ---------------------------------------------------------------------------------------------- tables
def sweep_table(kpis: pd.DataFrame, level: float = LEVEL, points: Sequence[str] | None = None,
                system: System | None = None) -> pd.DataFrame:
    """One row per (point, mode, metric): ``point, mode, metric, mean, ci_low, ci_high, ci_method, n_days, min,
    max`` (intervals as :func:`sim.analysis.stats.interval_of`).  Points in the order given (default: their first
    appearance in ``kpis``), modes in registry order."""
    df = checked(kpis)
    order = list(points) if points is not None else list(dict.fromkeys(df["point"]))
    rows: list[dict[str, Any]] = []
    metrics = metrics_of(df)
    for point in order:
        sub = df[df["point"] == point]
        rows += summary_rows(sub, "mode", mode_order(sub["mode"]), metrics, {"point": point}, level, system)
    return pd.DataFrame(rows, columns=["point", "mode", "metric", "mean", "ci_low", "ci_high", "ci_method", "n_days",
                                       "min", "max"])


def point_differences(kpis: pd.DataFrame, mode: str, metric: str, points: Sequence[str],
                      level: float = LEVEL) -> pd.DataFrame:
    """``metric`` of ``mode`` at each point after the first minus the first point, paired on (seed, day).

    Columns ``point, mean, ci_low, ci_high, n_days`` (raw units); points without a common day are left out.
    """
    df = checked(kpis)
    sub = df[df["mode"] == mode]
    rows: list[dict[str, Any]] = []
    if metric not in sub.columns or len(points) < 2:
        return pd.DataFrame(rows, columns=["point", "mean", "ci_low", "ci_high", "n_days"])
    ref = sub[sub["point"] == points[0]].set_index(["seed", "day"])[metric].astype(float)
    for p in points[1:]:
        b = sub[sub["point"] == p].set_index(["seed", "day"])[metric].astype(float)
        j = pd.concat({"p": b, "ref": ref}, axis=1, join="inner").dropna()
        m, lo, hi, n = mean_ci((j["p"] - j["ref"]).to_numpy(float), level)
        if n:
            rows.append({"point": p, "mean": m, "ci_low": lo, "ci_high": hi, "n_days": n})
    return pd.DataFrame(rows, columns=["point", "mean", "ci_low", "ci_high", "n_days"])


def sweep_grid(table: pd.DataFrame, metric: str, mode: str, fields: pd.DataFrame) -> pd.DataFrame:
    """The mean of ``metric`` under ``mode`` on the grid of the first two swept fields: rows the second field's
    values, columns the first's (each in :func:`_levels` order); NaN where no point ran.  With more than two
    fields the cell holds the mean over the points that share the two values."""
    if fields.shape[1] < 2:
        raise ValueError("a grid needs two swept fields")
    fx, fy = str(fields.columns[0]), str(fields.columns[1])
    sub = table[(table["metric"] == metric) & (table["mode"] == mode)].set_index("point")["mean"]
    frame = fields.loc[[p for p in fields.index if p in sub.index], [fx, fy]].copy()
    frame["mean"] = [float(sub[p]) for p in frame.index]
    grid = frame.groupby([fy, fx], sort=False)["mean"].mean().unstack(fx)
    return grid.reindex(index=_levels(fields[fy]), columns=_levels(fields[fx]))


# ---------------------------------------------------------------------------------------------- figures
def _days_wide(kpis: pd.DataFrame, mode: str, metric: str, points: Sequence[str]) -> pd.DataFrame:
    """``metric`` of ``mode``: one row per (seed, day), one column per point (in ``points`` order)."""
    sub = kpis[(kpis["mode"] == mode) & kpis["point"].isin(points)]
    wide = sub.pivot_table(index=["seed", "day"], columns="point", values=metric, aggfunc="first")
    return wide.reindex(columns=list(points))


def _line_panel(ax: Axes, xs: np.ndarray, m: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                days: pd.DataFrame | None, colour: str, label: str, few: bool, style: str = "-",
                marker: str = "o") -> None:
    """One mode's mean line; the interval as a band (``few`` False) or the days as thin lines (``few`` True)."""
    if few and days is not None:
        for _, r in days.iterrows():
            ax.plot(xs, r.to_numpy(float), color=colour, linewidth=0.6, alpha=0.35, linestyle=style, zorder=1)
    elif np.isfinite(lo).any():
        ax.fill_between(xs, lo, hi, color=colour, alpha=0.18, linewidth=0, zorder=1)
    ax.plot(xs, m, color=colour, marker=marker, markersize=4.5, linestyle=style, label=label, zorder=3)


def _series(table: pd.DataFrame, metric: str, mode: str, points: Sequence[str],
            scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = table[(table["metric"] == metric) & (table["mode"] == mode)].set_index("point").reindex(list(points))
    return (t["mean"].to_numpy(float) * scale, t["ci_low"].to_numpy(float) * scale,
            t["ci_high"].to_numpy(float) * scale)


def _few(table: pd.DataFrame, metric: str) -> tuple[bool, int]:
    n = int(table.loc[table["metric"] == metric, "n_days"].max())
    return n < FEW_DAYS, n


def fig_sweep_line(table: pd.DataFrame, kpis: pd.DataFrame, metric: str, points: Sequence[str],
                   x: Sequence[float] | None, xlabel: str, level: float = LEVEL,
                   currency: str = CURRENCY) -> Figure:
    """A sweep over one field: per mode the mean over days against the field's values, with the interval as a band
    (or every day as a thin line with fewer than ten days); with more than one point a second panel shows the
    paired difference to the first point (same seeds and days) with its t-interval as a band."""
    sub = table[table["metric"] == metric]
    if sub.empty:
        raise ValueError(f"no {metric} in the sweep table")
    label, unit, _, scale = info(metric, currency)
    title = label[0].upper() + label[1:]
    xs = np.asarray(x if x is not None else range(len(points)), dtype=float)
    modes = mode_order(sub["mode"])
    paired = len(points) > 1
    few, n = _few(table, metric)
    fig = Figure(figsize=(11.5 if paired else 6.5, 4.2), layout="constrained")
    axes = fig.subplots(1, 2 if paired else 1, squeeze=False)[0]
    for i, mode in enumerate(modes):
        m, lo, hi = _series(table, metric, mode, points, scale)
        days = _days_wide(kpis, mode, metric, points) * scale
        _line_panel(axes[0], xs, m, lo, hi, days, mode_colour(mode, i), mode_label(mode), few)
        if paired:
            d = point_differences(kpis, mode, metric, points, level).set_index("point").reindex(list(points[1:]))
            dm = np.concatenate([[0.0], d["mean"].to_numpy(float)]) * scale
            dlo = np.concatenate([[0.0], d["ci_low"].to_numpy(float)]) * scale
            dhi = np.concatenate([[0.0], d["ci_high"].to_numpy(float)]) * scale
            ddays = days.sub(days[points[0]], axis=0)
            _line_panel(axes[1], xs, dm, dlo, dhi, ddays, mode_colour(mode, i), mode_label(mode), few)
    fields = point_fields(points)
    if x is not None:
        labels = [f"{v:g}" for v in xs]
    elif xlabel in fields.columns and _is_grid(fields):  # one categorical field: its values (the path is the label)
        labels = [_value_label(v) for v in fields[xlabel]]
    else:
        labels = [str(p) for p in points]
    for ax in axes:
        tick_labels(ax, list(xs), labels, width_chars=70.0 if not paired else 45.0)
        ax.set_xlabel(xlabel)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", frameon=False)
    axes[0].set_ylabel(f"{title} ({unit})")
    axes[0].set_title(f"{title} vs {xlabel}", fontsize="medium")
    if paired:
        axes[1].axhline(0.0, color="black", linewidth=0.8)
        axes[1].set_ylabel(f"Difference to {labels[0]} ({unit})")
        axes[1].set_title("Paired difference to the first point (same seeds and days)", fontsize="medium")
    what = ("one day per point: no interval" if n < 2 else
            f"{n} days (< {FEW_DAYS}): thin lines are the days" if few else
            f"band: {pct_level(level)} interval over {n} days")
    fig.suptitle(f"{title} vs {xlabel} — {what}", fontsize="medium")
    return fig


def fig_sweep_heatmap(table: pd.DataFrame, metric: str, fields: pd.DataFrame, currency: str = CURRENCY) -> Figure:
    """A sweep over two fields: one heatmap per mode of the mean over days, the first field across and the second
    down, every cell annotated with its value; one colour scale shared by the modes."""
    sub = table[table["metric"] == metric]
    if sub.empty:
        raise ValueError(f"no {metric} in the sweep table")
    label, unit, digits, scale = info(metric, currency)
    modes = mode_order(sub["mode"])
    grids = {m: sweep_grid(table, metric, m, fields) * scale for m in modes}
    vals = np.concatenate([g.to_numpy(float).ravel() for g in grids.values()])
    vals = vals[np.isfinite(vals)]
    vmin, vmax = (float(vals.min()), float(vals.max())) if vals.size else (0.0, 1.0)
    fx, fy = str(fields.columns[0]), str(fields.columns[1])
    ncol = grids[modes[0]].shape[1]
    fig = Figure(figsize=(min(16.0, max(5.0, 0.9 * ncol + 2.5) * len(modes)), 1.2 + 0.55 * grids[modes[0]].shape[0]
                          + 1.2), layout="constrained")
    axes = fig.subplots(1, len(modes), squeeze=False)[0]
    image = None
    for ax, mode in zip(axes, modes, strict=True):
        g = grids[mode]
        arr = g.to_numpy(float)
        image = ax.imshow(arr, cmap="viridis", vmin=vmin, vmax=vmax if vmax > vmin else vmin + 1.0, aspect="auto",
                          origin="lower")
        mid = (vmin + vmax) / 2.0
        for (r, c), v in np.ndenumerate(arr):
            ax.text(c, r, fmt(v, digits) if math.isfinite(v) else "n/a", ha="center", va="center", fontsize="x-small",
                    color="white" if math.isfinite(v) and v < mid else "black")
        tick_labels(ax, list(range(arr.shape[1])), [_value_label(v) for v in g.columns],
                    width_chars=9.0 * max(arr.shape[1], 3))
        tick_labels(ax, list(range(arr.shape[0])), [_value_label(v) for v in g.index], axis="y")
        ax.set_xlabel(fx)
        ax.set_ylabel(fy)
        ax.set_title(mode_label(mode), fontsize="medium")
    if image is not None:
        fig.colorbar(image, ax=list(axes), shrink=0.9, label=f"{label} ({unit})")
    fig.suptitle(f"{label[0].upper()}{label[1:]}: mean over days on the grid of {fx} × {fy}", fontsize="medium")
    return fig


def fig_sweep_multiples(table: pd.DataFrame, kpis: pd.DataFrame, metric: str, fields: pd.DataFrame,
                        level: float = LEVEL, currency: str = CURRENCY) -> Figure:
    """A sweep over three or more fields: one panel per value of the second field; in each, the first field across
    and one line per mode and combination of the remaining fields (told apart by linestyle and marker)."""
    sub = table[table["metric"] == metric]
    if sub.empty:
        raise ValueError(f"no {metric} in the sweep table")
    label, unit, _, scale = info(metric, currency)
    fx, fy, rest = str(fields.columns[0]), str(fields.columns[1]), [str(c) for c in fields.columns[2:]]
    xv, yv = _levels(fields[fx]), _levels(fields[fy])
    combos = list(itertools.product(*[_levels(fields[c]) for c in rest]))
    numeric = all(isinstance(v, float) for v in xv)
    xs = np.asarray(xv if numeric else range(len(xv)), dtype=float)
    few, n = _few(table, metric)
    modes = mode_order(sub["mode"])
    ncols = min(4, len(yv))
    nrows = -(-len(yv) // ncols)
    fig = Figure(figsize=(3.6 * ncols + 2.5, 3.0 * nrows + 0.8), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True).ravel()
    for ax, y in zip(axes, yv, strict=False):
        for i, mode in enumerate(modes):
            for j, combo in enumerate(combos):
                sel = (fields[fy] == y) & np.logical_and.reduce([fields[c] == v for c, v in zip(rest, combo,
                                                                                                strict=True)])
                pts = [next((p for p in fields.index[sel] if fields.at[p, fx] == v), "") for v in xv]
                m, lo, hi = _series(table, metric, mode, pts, scale)
                days = _days_wide(kpis, mode, metric, [p for p in pts if p]).reindex(columns=pts) * scale
                tag = ", ".join(f"{c}={_value_label(v)}" for c, v in zip(rest, combo, strict=True))
                _line_panel(ax, xs, m, lo, hi, days, mode_colour(mode, i), f"{mode_label(mode)}, {tag}", few,
                            _STYLES[j % len(_STYLES)], _MARKERS[j % len(_MARKERS)])
        ax.set_title(f"{fy} = {_value_label(y)}", fontsize="medium")
        tick_labels(ax, list(xs), [_value_label(v) for v in xv], width_chars=30.0)
        ax.set_xlabel(fx)
        ax.grid(True, alpha=0.3)
    for ax in axes[len(yv):]:
        ax.set_visible(False)
    axes[0].set_ylabel(f"{label} ({unit})")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", frameon=False, fontsize="x-small")
    what = (f"{n} days (< {FEW_DAYS}): thin lines are the days" if few and n >= 2 else
            "one day per point" if n < 2 else f"band: {pct_level(level)} interval over {n} days")
    fig.suptitle(f"{label[0].upper()}{label[1:]} over {len(fields.columns)} swept fields — {what}", fontsize="medium")
    return fig


# ---------------------------------------------------------------------------------------------- report
def _sweep_effects(kpis: pd.DataFrame, points: Sequence[str], level: float, currency: str,
                   per_agent: bool = False) -> list[dict[str, Any]]:
    """Per mode and metric (total cost, curtailment; with ``per_agent`` also each agent's true final cost, which is
    what a behaviour point moves): each point − the first point, paired by (seed, day)."""
    rows: list[dict[str, Any]] = []
    metrics = ["total_cost", "curtailment_kwh"]
    if per_agent:
        metrics += [f"final_cost_{c}" for c in clusters_of(kpis)]
    for mode in mode_order(kpis["mode"]):
        for metric in metrics:
            if metric not in kpis.columns:
                continue
            label, unit, digits, scale = info(metric, currency)
            for _, r in point_differences(kpis, mode, metric, points, level).iterrows():
                m, lo, hi, n = (float(r["mean"]) * scale, float(r["ci_low"]) * scale, float(r["ci_high"]) * scale,
                                int(r["n_days"]))
                if n < 2:
                    verdict = "n < 2: no interval"
                elif math.isfinite(lo) and (lo > 0 or hi < 0):
                    verdict = ("higher" if lo > 0 else "lower") + " (conclusive)"
                else:
                    verdict = "no conclusive change"
                rows.append({"mode": mode, "metric": f"{label} ({unit})", "point − first point":
                             f"{r['point']} − {points[0]}", "days": n, "mean": fmt(m, digits, True),
                             f"{pct_level(level)} CI": fmt_interval(lo, hi, digits, True), "verdict": verdict})
    return rows


def _point_rows(table: pd.DataFrame, fields: pd.DataFrame, points: Sequence[str], mode: str, metrics: Sequence[str],
                currency: str) -> tuple[list[dict[str, Any]], set[str]]:
    rows, used = [], set()
    for p in points:
        t = table[(table["point"] == p) & (table["mode"] == mode)].set_index("metric")
        if t.empty:
            continue
        row: dict[str, Any] = ({c: _value_label(fields.at[p, c]) for c in fields.columns} if _is_grid(fields)
                               else {"point": p})
        row["days"] = int(t["n_days"].max())
        for metric in metrics:
            label, unit, digits, scale = info(metric, currency)
            if metric in t.index:
                r = t.loc[metric]
                used.add(str(r["ci_method"]))
                ci = fmt_interval(r["ci_low"] * scale, r["ci_high"] * scale, digits)
                row[f"{label} ({unit})"] = (f"{fmt(r['mean'] * scale, digits)} {ci if ci != 'n/a' else '(n < 2)'}"
                                            f"{MARKS.get(str(r['ci_method']), '')}")
        rows.append(row)
    return rows, used


def write_sweep(out: str | Path, *, level: float = LEVEL, currency: str = CURRENCY) -> dict[str, Path]:
    """From ``out/kpis.csv`` (and ``manifest.json``, ``failures.csv`` if present): ``sweep.csv``
    (:func:`sweep_table`), ``figures/sweep_<metric>.png`` (one per metric: a line over one field, heatmaps over two,
    small multiples over more) and ``report.md``.  Returns name -> path of every file written."""
    out = Path(out)
    kpis = read_kpis(out)
    manifest = read_manifest(out)
    system = system_of(manifest)
    fields = point_fields(list(kpis["point"]), manifest)
    grid = _is_grid(fields)
    points = ordered_points(fields)
    table = sweep_table(kpis, level, points, system)
    files: dict[str, Path] = {"sweep": write_csv(table, out / "sweep.csv")}
    pts, x, xlabel = point_axis(points, manifest)
    makers: dict[str, Callable[[], Figure]] = {}
    for metric in metrics_of(kpis):
        if grid and fields.shape[1] == 2:
            makers[f"sweep_{metric}"] = partial(fig_sweep_heatmap, table, metric, fields, currency)
        elif grid and fields.shape[1] > 2:
            makers[f"sweep_{metric}"] = partial(fig_sweep_multiples, table, kpis, metric, fields, level, currency)
        else:
            makers[f"sweep_{metric}"] = partial(fig_sweep_line, table, kpis, metric, pts, x, xlabel, level, currency)
    figs = save_all(makers, out / "figures")
    files.update(figs)

    lvl = pct_level(level)
    lines: list[str] = []
    add = lines.append
    over = f"over {' × '.join(map(str, fields.columns))} " if grid else ""
    add(f"# Sweep {over}on `{manifest.get('scenario', 'the scenario')}` — {len(points)} point"
        f"{'s' if len(points) != 1 else ''}\n")
    add(f"Computed from `{KPI_FILE}` in this folder (one row per point, mode, seed and day). "
        + statistics_paragraph(level).replace("two modes are compared", "two modes or two points are compared")
        + " Every point sees the same weather, loads and fleets on the same (seed, day), so points are compared "
        "through daily differences too.\n")
    fail = failures_md(read_failures(out))
    if fail:
        add(fail)
    add("## Setup\n")
    add("\n".join(setup_lines(kpis, manifest)))
    if grid:
        for c in fields.columns:
            add(f"- {c}: {', '.join(_value_label(v) for v in _levels(fields[c]))}")
    else:
        add(f"- points: {', '.join(points)}")
    add(f"- modes: {', '.join(mode_order(kpis['mode']))}\n")
    shown = [m for m in metrics_of(kpis) if not m.startswith(CLUSTER_PREFIXES)]
    used_all: set[str] = set()
    for mode in mode_order(kpis["mode"]):
        add(f"## {mode} (mean [{lvl} interval] over days)\n")
        rows, used = _point_rows(table, fields, points, mode, shown, currency)
        used_all |= used
        add(md(rows) + "\n")
    notes = [MARK_TEXT[m] for m in MARK_TEXT if m in used_all]
    if notes:
        add("\n".join(f"- {t}" for t in notes) + "\n")
    if len(points) > 1:
        add(f"## Effect of the swept fields (each point − {points[0]}, paired by seed and day)\n")
        behaviour = any(str(c).startswith("behaviours.") for c in fields.columns)
        eff = _sweep_effects(kpis, points, level, currency, per_agent=behaviour)
        add(md(eff) + "\n" if eff else "No point shares a day with the first point.\n")
    add("## Figures\n")
    for name, path in figs.items():
        add(f"![{name}](figures/{path.name})\n")
    add("All numbers in `sweep.csv` (tidy: point, mode, metric, mean, ci_low, ci_high, ci_method, n_days, min, max).\n")
    files["report"] = write_text("\n".join(lines) + "\n", out / "report.md")
    return files


__all__ = ["fig_sweep_heatmap", "fig_sweep_line", "fig_sweep_multiples", "ordered_points",
           "point_axis", "point_differences", "point_fields", "sweep_grid", "sweep_table", "write_sweep"]

"""Summaries, figures and ``report.md`` of ``run_sim.py compare`` and ``run_sim.py sweep`` (issue 4).

Works only from the files :func:`sim.engine.run.execute` writes (``kpis.csv``, optionally
``manifest.json``), so a finished run can be re-rendered without solving.

Statistics.  One observation is one simulated day of one run.  Every mean comes with a two-sided
Student-t interval over days (:func:`mean_ci`, ``n − 1`` degrees of freedom); with a single day there
is no interval (NaN, shown as n/a).  All modes of one seed see the same weather, loads and EV fleets
on the same day (common random numbers, :mod:`sim.engine.run`), so modes are compared *paired*: the
difference of two modes is taken day by day (matched on ``seed, point, day``), and the interval is
the interval of those daily differences — much narrower than comparing two independent means.  The
percentage of a difference is taken per day (``100 · (a − b) / |b|``) and then averaged.  The days
are treated as independent draws; the storage energy carried from one day to the next links
consecutive days weakly, and with few days the t-interval leans on roughly normal daily differences.

API
---
- :func:`mean_ci` — mean and Student-t interval of a sample;
- :func:`compare_table` — tidy ``mode, metric, mean, ci_low, ci_high, n_days, min, max``;
- :func:`paired_differences` — each mode against ``base`` (the price of decentralisation) and the key
  contrast cooperative − noncooperative, day by day;
- :func:`sweep_table` — ``point, mode, metric, mean, ci_low, ci_high, n_days, min, max``;
- :func:`key_verdict` — the sentence of the report about cooperative vs noncooperative;
- :func:`summary_lines` — a compact text table for the terminal;
- :func:`write_compare` / :func:`write_sweep` — CSV tables, ``figures/*.png`` and ``report.md``
  (every file written atomically).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy import stats

from sim.analysis.style import (
    CLUSTER_COLOUR,
    declared_key_contrast,
    key_contrast,
    mode_colour,
    mode_label,
    mode_order,
    reference_mode,
    registered_modes,
)
from sim.engine.io import markdown_table, save_figure, write_csv, write_text
from sim.engine.system import System
from sim.systems import SYSTEMS

log = logging.getLogger(__name__)

__all__ = [
    "LEVEL",
    "compare_table",
    "key_verdict",
    "mean_ci",
    "metrics_of",
    "paired_days",
    "paired_differences",
    "point_axis",
    "point_differences",
    "read_kpis",
    "summary_lines",
    "sweep_table",
    "write_compare",
    "write_sweep",
]

LEVEL = 0.95
CURRENCY = "USD"
CLUSTER_PREFIXES: tuple[str, ...] = ("gain_", "final_cost_")
#: Columns that identify "the same day" across modes (common random numbers).
PAIR_KEYS: tuple[str, ...] = ("seed", "point", "day")
#: metric -> (label, unit, decimals, display scale)
METRIC_INFO: dict[str, tuple[str, str, int, float]] = {
    "total_cost": ("total cost", f"{CURRENCY}/day", 2, 1.0),
    "grid_cost": ("grid purchase cost", f"{CURRENCY}/day", 2, 1.0),
    "curtailment_kwh": ("curtailment", "kWh/day", 1, 1.0),
    "curtailment_rate": ("curtailment rate", "%", 2, 100.0),
    "grid_kwh": ("grid purchase", "kWh/day", 0, 1.0),
    "peak_valley_kw": ("peak–valley difference", "kW", 0, 1.0),
    "vmin_pu": ("V min (LinDistFlow)", "p.u.", 4, 1.0),
    "vmax_pu": ("V max (LinDistFlow)", "p.u.", 4, 1.0),
    "vmin_ac_pu": ("V min (AC power flow)", "p.u.", 4, 1.0),
}
KPI_FILE = "kpis.csv"


# ---------------------------------------------------------------------------------------------- statistics
def mean_ci(values: Iterable[float] | np.ndarray | pd.Series, level: float = LEVEL) -> tuple[float, float, float, int]:
    """``(mean, lo, hi, n)`` of the finite ``values`` with the two-sided Student-t interval at ``level``.

    ``lo, hi = mean ∓ t_{(1+level)/2, n−1} · s / √n`` (``s`` the sample standard deviation).  Non-finite
    values are left out and not counted; ``n = 1`` gives NaN bounds, ``n = 0`` NaN everywhere.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    x = np.asarray(list(values) if not isinstance(values, np.ndarray | pd.Series) else values, dtype=float).ravel()
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    m = float(x.mean())
    if n == 1:
        return m, math.nan, math.nan, 1
    half = float(stats.t.ppf(0.5 + level / 2.0, n - 1)) * float(x.std(ddof=1)) / math.sqrt(n)
    return m, m - half, m + half, n


def _excludes_zero(lo: float, hi: float) -> bool:
    return bool(math.isfinite(lo) and math.isfinite(hi) and (lo > 0.0 or hi < 0.0))


# ---------------------------------------------------------------------------------------------- input
def read_kpis(out: str | Path) -> pd.DataFrame:
    """``out/kpis.csv`` with string ``run, mode, point``; raises naming the file when it is missing or empty."""
    path = Path(out) / KPI_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no KPI table (run the simulation first)")
    df = pd.read_csv(path, dtype={"run": str, "mode": str, "point": str})
    if df.empty:
        raise ValueError(f"{path}: no KPI rows")
    return _checked(df, str(path))


def _checked(kpis: pd.DataFrame, where: str = "kpis") -> pd.DataFrame:
    """A copy with ``mode`` as str and ``seed``/``point`` filled in; each (mode, seed, point, day) once."""
    missing = [c for c in ("mode", "day", "total_cost") if c not in kpis.columns]
    if missing:
        raise ValueError(f"{where}: missing column(s) {', '.join(missing)}; it has {', '.join(map(str, kpis.columns))}")
    df = kpis.copy()
    df["mode"] = df["mode"].astype(str)
    if "seed" not in df.columns:
        df["seed"] = 0
    if "point" not in df.columns:
        df["point"] = "base"
    df["point"] = df["point"].astype(str)
    dup = df.duplicated(["mode", *PAIR_KEYS], keep=False)
    if dup.any():
        first = df.loc[dup, ["mode", *PAIR_KEYS]].iloc[0].to_dict()
        raise ValueError(f"{where}: {int(dup.sum())} rows share (mode, seed, point, day), e.g. {first}")
    return df


def _clusters(kpis: pd.DataFrame) -> list[str]:
    """Cluster names of the per-cluster columns, in column order."""
    names: list[str] = []
    for c in kpis.columns:
        for p in CLUSTER_PREFIXES:
            if str(c).startswith(p) and str(c)[len(p):] not in names:
                names.append(str(c)[len(p):])
    return names


def headline_metrics() -> list[str]:
    """Every registered system's headline KPIs (:meth:`System.headline_kpis`), in registry order, once each."""
    out: list[str] = []
    for system in SYSTEMS.values():
        out += [m for m in system.headline_kpis() if m not in out]
    return out


def metrics_of(kpis: pd.DataFrame) -> list[str]:
    """The summarised metrics present: the systems' headline KPIs, then ``gain_<C>`` and ``final_cost_<C>``."""
    cols = set(map(str, kpis.columns))
    out = [m for m in headline_metrics() if m in cols]
    for p in CLUSTER_PREFIXES:
        out += [f"{p}{c}" for c in _clusters(kpis) if f"{p}{c}" in cols]
    return out


def _info(metric: str, currency: str = CURRENCY) -> tuple[str, str, int, float]:
    if metric in METRIC_INFO:
        label, unit, digits, scale = METRIC_INFO[metric]
        return label, unit.replace(CURRENCY, currency), digits, scale
    for p, what in (("gain_", "gain of"), ("final_cost_", "final cost of")):
        if metric.startswith(p):
            return f"{what} {metric[len(p):]}", f"{currency}/day", 2, 1.0
    for system in SYSTEMS.values():  # the KPI's declaration: its unit (per day for energies and costs)
        kpi = system.kpi(metric)
        if kpi is not None:
            return metric.replace("_", " "), kpi.unit, 3, 1.0
    return metric, "", 3, 1.0


# ---------------------------------------------------------------------------------------------- tables
SUMMARY_COLUMNS: tuple[str, ...] = ("mean", "ci_low", "ci_high", "n_days", "min", "max")


def _summary_rows(kpis: pd.DataFrame, keys: dict[str, Any], level: float) -> list[dict[str, Any]]:
    rows = []
    for metric in metrics_of(kpis):
        x = pd.to_numeric(kpis[metric], errors="coerce").to_numpy(float)
        m, lo, hi, n = mean_ci(x, level)
        if n == 0:
            continue
        fin = x[np.isfinite(x)]
        rows.append({**keys, "metric": metric, "mean": m, "ci_low": lo, "ci_high": hi, "n_days": n,
                     "min": float(fin.min()), "max": float(fin.max())})
    return rows


def compare_table(kpis: pd.DataFrame, level: float = LEVEL) -> pd.DataFrame:
    """One row per (mode, metric): ``mode, metric, mean, ci_low, ci_high, n_days, min, max``.

    Modes in the order cooperative, centralized, noncooperative, oracle (others after them); metrics
    as :func:`metrics_of`.  A metric with no finite value for a mode (e.g. ``gain_<C>`` outside the
    cooperative mode) has no row.  Rows of several sweep points are pooled (see :func:`sweep_table`).
    """
    df = _checked(kpis)
    if df["point"].nunique() > 1:
        log.warning("compare_table: %d sweep points pooled; use sweep_table for per-point summaries",
                    df["point"].nunique())
    rows: list[dict[str, Any]] = []
    for mode in mode_order(df["mode"]):
        rows += _summary_rows(df[df["mode"] == mode], {"mode": mode}, level)
    return pd.DataFrame(rows, columns=["mode", "metric", *SUMMARY_COLUMNS])


def sweep_table(kpis: pd.DataFrame, level: float = LEVEL, points: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per (point, mode, metric): ``point, mode, metric, mean, ci_low, ci_high, n_days, min, max``.

    Points in the order given (default: their first appearance in ``kpis``), modes as :func:`compare_table`.
    """
    df = _checked(kpis)
    order = list(points) if points is not None else list(dict.fromkeys(df["point"]))
    rows: list[dict[str, Any]] = []
    for point in order:
        sub = df[df["point"] == point]
        for mode in mode_order(sub["mode"]):
            rows += _summary_rows(sub[sub["mode"] == mode], {"point": point, "mode": mode}, level)
    return pd.DataFrame(rows, columns=["point", "mode", "metric", *SUMMARY_COLUMNS])


PAIRED_COLUMNS: tuple[str, ...] = (
    "kind", "contrast", "mode", "reference", "n_days", "mean_usd", "ci_low_usd", "ci_high_usd", "mean_pct",
    "ci_low_pct", "ci_high_pct", "days_mode_cheaper", "frac_mode_cheaper", "conclusive", "unmatched_rows", "note",
)


def paired_days(kpis: pd.DataFrame, mode: str, reference: str, metric: str = "total_cost") -> tuple[pd.DataFrame, int]:
    """``(frame, unmatched)``: ``metric`` of ``mode`` and ``reference`` on the days both have (matched on
    seed, point, day), indexed by those keys and sorted, columns ``mode, reference, diff``; ``unmatched`` counts
    the rows of either mode without a counterpart (or with a missing value)."""
    df = _checked(kpis)
    keys = list(PAIR_KEYS)
    a = df.loc[df["mode"] == mode, [*keys, metric]].set_index(keys)[metric].astype(float)
    b = df.loc[df["mode"] == reference, [*keys, metric]].set_index(keys)[metric].astype(float)
    joined = pd.concat({"mode": a, "reference": b}, axis=1, join="inner").dropna().sort_index()
    joined["diff"] = joined["mode"] - joined["reference"]
    return joined, len(a) + len(b) - 2 * len(joined)


def _contrast(kpis: pd.DataFrame, mode: str, reference: str, kind: str, level: float) -> dict[str, Any]:
    row: dict[str, Any] = {"kind": kind, "contrast": f"{mode} - {reference}", "mode": mode, "reference": reference}
    present = set(kpis["mode"])
    lacking = [m for m in (mode, reference) if m not in present]
    if lacking:
        note = f"skipped: no rows for mode {', '.join(lacking)}"
        return _empty_contrast(row, note)
    pairs, unmatched = paired_days(kpis, mode, reference)
    if pairs.empty:
        return _empty_contrast(row, "skipped: no day simulated in both modes", unmatched)
    d = pairs["diff"].to_numpy(float)
    ref = pairs["reference"].to_numpy(float)
    pct = np.where(np.abs(ref) > 1e-9, 100.0 * d / np.where(np.abs(ref) > 1e-9, np.abs(ref), 1.0), np.nan)
    m, lo, hi, n = mean_ci(d, level)
    mp, lop, hip, _ = mean_ci(pct, level)
    tol = 1e-6 * np.maximum(1.0, np.abs(ref))
    cheaper = int(np.sum(d < -tol))
    notes = []
    if n == 1:
        notes.append("one day: no interval")
    if unmatched:
        notes.append(f"{unmatched} row(s) without a counterpart day left out")
    return row | {"n_days": n, "mean_usd": m, "ci_low_usd": lo, "ci_high_usd": hi, "mean_pct": mp,
                  "ci_low_pct": lop, "ci_high_pct": hip, "days_mode_cheaper": cheaper, "frac_mode_cheaper": cheaper / n,
                  "conclusive": _excludes_zero(lo, hi), "unmatched_rows": unmatched, "note": "; ".join(notes)}


def _empty_contrast(row: dict[str, Any], note: str, unmatched: int = 0) -> dict[str, Any]:
    log.info("contrast %s %s", row["contrast"], note)
    nan = math.nan
    return row | {"n_days": 0, "mean_usd": nan, "ci_low_usd": nan, "ci_high_usd": nan, "mean_pct": nan,
                  "ci_low_pct": nan, "ci_high_pct": nan, "days_mode_cheaper": 0, "frac_mode_cheaper": nan,
                  "conclusive": False, "unmatched_rows": unmatched, "note": note}


def paired_differences(kpis: pd.DataFrame, base: str | None = None, level: float = LEVEL) -> pd.DataFrame:
    """Paired day-by-day differences of the total cost (common random numbers).

    Rows of kind ``price_of_decentralisation``: every mode other than ``base`` minus ``base``; then one
    row of kind ``key_contrast``: cooperative − noncooperative.  Columns :data:`PAIRED_COLUMNS`:
    mean and interval of the daily difference in USD/day (``*_usd``) and in % of the reference's cost of
    that day (``*_pct``); ``days_mode_cheaper`` / ``frac_mode_cheaper`` count the days on which ``mode`` costs
    less than ``reference``; ``conclusive`` says whether the interval excludes 0.  A contrast whose
    mode is missing (or that has no common day) keeps its row with NaN values and a ``note``.
    """
    df = _checked(kpis)
    base = base or reference_mode(df["mode"])
    rows: list[dict[str, Any]] = []
    if base is not None:
        for mode in [m for m in mode_order(df["mode"]) if m != base]:
            rows.append(_contrast(df, mode, base, "price_of_decentralisation", level))
    key = key_contrast(df["mode"]) or declared_key_contrast()
    if key is not None:
        rows.append(_contrast(df, key[0], key[1], "key_contrast", level))
    return pd.DataFrame(rows, columns=list(PAIRED_COLUMNS))


# ---------------------------------------------------------------------------------------------- formatting
def _fmt(x: Any, digits: int = 2, signed: bool = False) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "n/a"
    if not math.isfinite(v):
        return "n/a"
    if abs(v) < 0.5 * 10.0 ** (-digits):
        v = 0.0  # no '-0.00'
    return f"{v:+,.{digits}f}" if signed else f"{v:,.{digits}f}"


def _interval(lo: Any, hi: Any, digits: int = 2, signed: bool = False) -> str:
    if not (math.isfinite(float(lo)) and math.isfinite(float(hi))):
        return "n/a"
    return f"[{_fmt(lo, digits, signed)}, {_fmt(hi, digits, signed)}]"


def _pm(mean: float, lo: float, hi: float, digits: int = 2, signed: bool = False) -> str:
    """'mean ± half-width' (half-width n/a without an interval)."""
    half = (hi - lo) / 2.0 if math.isfinite(lo) and math.isfinite(hi) else math.nan
    return f"{_fmt(mean, digits, signed)} ± {_fmt(half, digits)}"


def _pct_level(level: float) -> str:
    return f"{100 * level:g} %"


def _md(rows: list[dict[str, Any]] | pd.DataFrame) -> str:
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    esc = lambda v: str(v).replace("|", "\\|")
    return markdown_table(df.rename(columns=esc).map(esc))


def _label(mode: str) -> str:
    return mode_label(mode)


def _colour(mode: str, i: int) -> str:
    return mode_colour(mode, i)


def _bargaining_mode(modes: Iterable[str]) -> str | None:
    """The mode among ``modes`` that settles by bargaining (its per-cluster gains are reported), if any."""
    known = registered_modes()
    return next((m for m in mode_order(modes) if m in known and known[m].bargaining), None)


def _key_row(diffs: pd.DataFrame) -> pd.Series | None:
    sub = diffs[diffs["kind"] == "key_contrast"]
    return None if sub.empty else sub.iloc[0]


def key_verdict(diffs: pd.DataFrame, level: float = LEVEL, currency: str = CURRENCY) -> str:
    """The report's sentence on the key contrast (e.g. cooperative vs noncooperative), from its row in ``diffs``."""
    r = _key_row(diffs)
    lvl = _pct_level(level)
    pair = (str(r["mode"]), str(r["reference"])) if r is not None else declared_key_contrast()
    a, b = pair if pair is not None else ("mode", "reference")
    if r is None or int(r["n_days"]) == 0:
        note = str(r["note"]) if r is not None and str(r["note"]) not in ("", "nan") else "no key contrast computed"
        return f"**{a.capitalize()} vs {b}: not compared** — {note}."
    n, k = int(r["n_days"]), int(r["days_mode_cheaper"])
    m, lo, hi = float(r["mean_usd"]), float(r["ci_low_usd"]), float(r["ci_high_usd"])
    facts = (f"mean difference ({a} − {b}) {_fmt(m, 2, True)} {currency}/day "
             f"({_fmt(float(r['mean_pct']), 2, True)} %), {lvl} CI {_interval(lo, hi, 2, True)} {currency}/day, "
             f"{a} cheaper on {k} of {n} day{'s' if n != 1 else ''}")
    if n < 2:
        return (f"**{a.capitalize()} {'cheaper' if m < 0 else 'not cheaper'} than {b} on the one day "
                f"simulated: not conclusive** — {facts}; one day gives no interval, so the data are not conclusive.")
    if bool(r["conclusive"]):
        head = (f"{a.capitalize()} is cheaper than {b}: conclusive" if hi < 0 else
                f"{a.capitalize()} is dearer than {b}: conclusive")
        return f"**{head}** — {facts} — the interval excludes 0, so the data are conclusive."
    lean = "cheaper" if m < 0 else "dearer" if m > 0 else "as costly"
    return (f"**{a.capitalize()} vs {b}: not conclusive** (on average {a} is {lean}) — {facts} — "
            f"the interval includes 0, so the data are not conclusive.")


def summary_lines(kpis: pd.DataFrame, level: float = LEVEL, currency: str = CURRENCY) -> str:
    """A compact text table for the terminal: per mode the mean total cost ± the interval's half-width,
    the curtailment and the paired gap to the oracle; then the key verdict in one line.  With several sweep
    points, one block per point (in order of appearance)."""
    df = _checked(kpis)
    points = list(dict.fromkeys(df["point"]))
    header = (f"{'mode':<16}{'days':>5}  {'total cost (' + currency + '/day)':>26}  {'curtailment (kWh/day)':>24}  "
              f"{'gap to oracle (%)':>20}")
    lines = [f"mean ± half-width of the {_pct_level(level)} interval over days"]
    for point in points:
        if len(points) > 1:
            lines.append(f"\npoint {point}")
        lines += [header, "-" * len(header)]
        lines += _summary_block(df[df["point"] == point], level, currency)
    return "\n".join(lines)


def _summary_block(df: pd.DataFrame, level: float, currency: str) -> list[str]:
    table = compare_table(df, level)
    base = reference_mode(df["mode"])
    diffs = paired_differences(df, base, level)
    gap = diffs[diffs["kind"] == "price_of_decentralisation"].set_index("mode")
    lines = []
    for mode in mode_order(df["mode"]):
        t = table[table["mode"] == mode].set_index("metric")

        def cell(metric: str, digits: int, t: pd.DataFrame = t) -> str:
            if metric not in t.index:
                return "n/a"
            r = t.loc[metric]
            return _pm(float(r["mean"]), float(r["ci_low"]), float(r["ci_high"]), digits)

        n = int(t["n_days"].get("total_cost", 0))
        gn = int(gap["n_days"].get(mode, 0))
        if mode == base:
            g = "(reference)"
        elif gn > 0:
            g = _pm(float(gap["mean_pct"][mode]), float(gap["ci_low_pct"][mode]), float(gap["ci_high_pct"][mode]),
                    2, True)
        else:
            g = "n/a"
        lines.append(f"{mode:<16}{n:>5}  {cell('total_cost', 2):>26}  {cell('curtailment_kwh', 1):>24}  {g:>20}")
    key = _key_row(diffs)
    if key is not None and int(key["n_days"]) > 0:
        lines.append(f"{key['mode']} − {key['reference']}: {_fmt(float(key['mean_usd']), 2, True)} {currency}/day, "
                     f"CI {_interval(key['ci_low_usd'], key['ci_high_usd'], 2, True)}, cheaper on "
                     f"{int(key['days_mode_cheaper'])} of {int(key['n_days'])} days — "
                     f"{'conclusive' if bool(key['conclusive']) else 'not conclusive'}")
    elif df["mode"].nunique() > 1:  # a single-mode run has nothing to contrast
        pair = (key["mode"], key["reference"]) if key is not None else declared_key_contrast() or ("mode", "reference")
        lines.append(f"{pair[0]} − {pair[1]}: not compared ({key['note'] if key is not None else 'n/a'})")
    return lines


# ---------------------------------------------------------------------------------------------- figures
def _day_labels(keys: pd.MultiIndex | pd.DataFrame) -> list[str]:
    """'d1', 'd2' … for one seed and one point; 's0 d1' … otherwise."""
    frame = keys.to_frame(index=False) if isinstance(keys, pd.MultiIndex) else keys.reset_index(drop=True)
    many_seeds = frame["seed"].nunique() > 1
    many_points = frame["point"].nunique() > 1
    out = []
    for _, r in frame.iterrows():
        parts = ([str(r["point"])] if many_points else []) + ([f"s{r['seed']}"] if many_seeds else [])
        out.append(" ".join([*parts, f"d{int(r['day'])}"]))
    return out


def _dot_ci(ax: Axes, table: pd.DataFrame, kpis: pd.DataFrame, metric: str, modes: Sequence[str],
            offset: float = 0.0, marker: str = "o", label_suffix: str = "", show_days: bool = True) -> None:
    """Per mode: the mean (marker) with its interval (whiskers) and the daily values (faint dots)."""
    _, _, digits, scale = _info(metric)
    rng = np.random.default_rng(0)
    for i, mode in enumerate(modes):
        r = table[(table["mode"] == mode) & (table["metric"] == metric)]
        if r.empty:
            continue
        m, lo, hi = (float(r.iloc[0][c]) * scale for c in ("mean", "ci_low", "ci_high"))
        colour = _colour(mode, i)
        if show_days and metric in kpis.columns:
            y = kpis.loc[kpis["mode"] == mode, metric].to_numpy(float) * scale
            y = y[np.isfinite(y)]
            ax.scatter(i + offset + rng.uniform(-0.08, 0.08, y.size), y, s=12, color=colour, alpha=0.35,
                       linewidths=0, zorder=2)
        if math.isfinite(lo) and math.isfinite(hi):
            ax.errorbar([i + offset], [m], yerr=[[max(m - lo, 0.0)], [max(hi - m, 0.0)]], fmt=marker, color=colour,
                        capsize=5, elinewidth=1.6, markersize=7, zorder=3)
        else:
            ax.plot([i + offset], [m], marker=marker, color=colour, markersize=7, linestyle="none", zorder=3)
        ax.annotate(_fmt(m, digits) + label_suffix, (i + offset, m), textcoords="offset points", xytext=(9, 0),
                    va="center", fontsize="x-small")


def _mode_axis(ax: Axes, modes: Sequence[str]) -> None:
    ax.set_xticks(range(len(modes)), [_label(m) for m in modes], rotation=15, ha="right")
    ax.set_xlim(-0.6, len(modes) - 0.4)
    ax.grid(True, axis="y", alpha=0.3)


def _ci_caption(table: pd.DataFrame, level: float) -> str:
    n = int(table["n_days"].max()) if len(table) else 0
    if n < 2:
        return "one day per mode: no interval"
    return f"marker: mean over days, whiskers: {_pct_level(level)} t-interval, dots: days"


def fig_total_cost(table: pd.DataFrame, kpis: pd.DataFrame, level: float = LEVEL, currency: str = CURRENCY) -> Figure:
    """Figure 1: mean daily total cost per mode with its interval (and the days)."""
    modes = mode_order(table["mode"])
    if "total_cost" not in set(table["metric"]):
        raise ValueError("no total_cost in the comparison table")
    fig = Figure(figsize=(max(6.0, 1.6 * len(modes) + 2.5), 4.5), layout="constrained")
    ax = fig.add_subplot()
    _dot_ci(ax, table, kpis, "total_cost", modes)
    _mode_axis(ax, modes)
    ax.set_ylabel(f"Total cost ({currency}/day)")
    ax.set_title(f"Daily total cost per mode — {_ci_caption(table, level)}", fontsize="medium")
    fig.text(0.01, -0.02, "Intervals of each mode's mean over days; the day-to-day spread is shared by all modes, "
             "so compare modes with the paired differences (price of decentralisation).", fontsize="x-small",
             color="#555555", va="top")
    return fig


def fig_cost_per_day(kpis: pd.DataFrame, currency: str = CURRENCY) -> Figure:
    """Figure 2: total cost of every day, one line per mode (and seed)."""
    df = _checked(kpis)
    modes = mode_order(df["mode"])
    fig = Figure(figsize=(9, 4.5), layout="constrained")
    ax = fig.add_subplot()
    styles = ("-", "--", ":", "-.")
    seeds = sorted(df["seed"].unique())
    for i, mode in enumerate(modes):
        for j, seed in enumerate(seeds):
            g = df[(df["mode"] == mode) & (df["seed"] == seed)].sort_values("day")
            if g.empty:
                continue
            label = _label(mode) + (f", seed {seed}" if len(seeds) > 1 else "")
            ax.plot(g["day"].to_numpy(int), g["total_cost"].to_numpy(float), marker="o", markersize=4,
                    linestyle=styles[j % len(styles)], color=_colour(mode, i), label=label)
    days = sorted(df["day"].unique())
    ax.set_xticks(days if len(days) <= 31 else days[:: max(1, len(days) // 15)])
    ax.set_xlabel("Day")
    ax.set_ylabel(f"Total cost ({currency}/day)")
    ax.set_title("Total cost per day (same weather, loads and fleets for every mode on a day)", fontsize="medium")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    return fig


def fig_price_of_decentralisation(diffs: pd.DataFrame, kpis: pd.DataFrame, base: str | None = None,
                                  level: float = LEVEL, currency: str = CURRENCY) -> Figure:
    """Figure 3: each mode − ``base`` per day, mean and interval, in USD/day and in % of the base."""
    rows = diffs[(diffs["kind"] == "price_of_decentralisation") & (diffs["n_days"] > 0)]
    if rows.empty:
        raise ValueError(f"no mode could be compared with {base!r}")
    base = base or str(rows["reference"].iloc[0])
    modes = list(rows["mode"])
    fig = Figure(figsize=(max(8.0, 2.6 * len(modes) + 3.0), 4.3), layout="constrained")
    axes = fig.subplots(1, 2)
    rng = np.random.default_rng(0)
    for ax, unit, suffix in ((axes[0], f"{currency}/day", "usd"), (axes[1], "% of the oracle's cost", "pct")):
        for i, mode in enumerate(modes):
            r = rows[rows["mode"] == mode].iloc[0]
            colour = _colour(mode, i)
            pairs, _ = paired_days(kpis, mode, base)
            y = pairs["diff"].to_numpy(float)
            if suffix == "pct":
                ref = np.abs(pairs["reference"].to_numpy(float))
                y = np.where(ref > 1e-9, 100.0 * y / np.where(ref > 1e-9, ref, 1.0), np.nan)
            ax.scatter(i + rng.uniform(-0.08, 0.08, y.size), y, s=12, color=colour, alpha=0.35, linewidths=0)
            m, lo, hi = float(r[f"mean_{suffix}"]), float(r[f"ci_low_{suffix}"]), float(r[f"ci_high_{suffix}"])
            if math.isfinite(lo) and math.isfinite(hi):
                ax.errorbar([i], [m], yerr=[[max(m - lo, 0.0)], [max(hi - m, 0.0)]], fmt="o", color=colour, capsize=5,
                            elinewidth=1.6, markersize=7)
            else:
                ax.plot([i], [m], "o", color=colour, markersize=7)
            ax.annotate(_fmt(m, 2, True), (i, m), textcoords="offset points", xytext=(9, 0), va="center",
                        fontsize="x-small")
        ax.axhline(0.0, color="black", linewidth=0.8)
        _mode_axis(ax, modes)
        ax.set_ylabel(f"Mode − {base} ({unit})")
    fig.suptitle(f"Price of decentralisation: paired daily difference to the {base} — "
                 f"{_ci_caption(rows, level)}", fontsize="medium")
    return fig


def fig_cluster_gains(kpis: pd.DataFrame, mode: str | None = None, currency: str = CURRENCY) -> Figure:
    """Figure 4: each cluster's gain from the bargaining of ``mode`` (standalone − final cost), per day."""
    df = _checked(kpis)
    mode = mode or _bargaining_mode(df["mode"])
    sub = df[df["mode"] == mode].sort_values(list(PAIR_KEYS))
    clusters = [c for c in _clusters(df) if f"gain_{c}" in sub.columns and sub[f"gain_{c}"].notna().any()]
    if sub.empty or not clusters:
        raise ValueError(f"no per-cluster gains of mode {mode!r}")
    labels = _day_labels(sub[list(PAIR_KEYS)])
    x = np.arange(len(sub))
    width = 0.8 / len(clusters)
    fig = Figure(figsize=(max(7.0, 0.45 * len(sub) * len(clusters) + 3.0), 4.5), layout="constrained")
    ax = fig.add_subplot()
    for j, c in enumerate(clusters):
        ax.bar(x - 0.4 + (j + 0.5) * width, sub[f"gain_{c}"].to_numpy(float), width=width,
               color=CLUSTER_COLOUR[j % len(CLUSTER_COLOUR)], label=c)
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xticks(x, labels, rotation=0 if len(x) <= 15 else 90)
    ax.set_xlabel("Day")
    ax.set_ylabel(f"Gain ({currency}/day)")
    ax.set_title(f"Per-cluster gain of the {mode} mode's bargaining (standalone − final cost)", fontsize="medium")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    return fig


def fig_curtailment_grid(table: pd.DataFrame, kpis: pd.DataFrame, level: float = LEVEL) -> Figure:
    """Figure 5: curtailment and grid purchase per mode, mean with interval."""
    panels = [m for m in ("curtailment_kwh", "grid_kwh") if m in set(table["metric"])]
    if not panels:
        raise ValueError("no curtailment_kwh or grid_kwh in the comparison table")
    modes = mode_order(table["mode"])
    fig = Figure(figsize=(max(8.0, 2.6 * len(modes) + 3.0), 4.3), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, metric in zip(axes, panels, strict=True):
        label, unit, _, _ = _info(metric)
        _dot_ci(ax, table, kpis, metric, modes)
        _mode_axis(ax, modes)
        ax.set_ylabel(f"{label[0].upper()}{label[1:]} ({unit})")
        ax.set_title(label[0].upper() + label[1:], fontsize="medium")
        vals = table.loc[table["metric"] == metric, ["min", "max", "ci_low", "ci_high"]].to_numpy(float)
        if vals.size and float(np.nanmin(vals[:, :2])) >= 0.0:
            top = float(np.nanmax(vals))
            ax.set_ylim(min(0.0, float(np.nanmin(vals)) * 1.08), top * 1.08 if top > 0 else 1.0)
            if top == 0:
                ax.text(0.5, 0.5, f"no {label} on any day in any mode", transform=ax.transAxes, ha="center",
                        va="center", color="#555555")
    fig.suptitle(f"Curtailment and grid purchase — {_ci_caption(table, level)}", fontsize="medium")
    return fig


def fig_voltages(table: pd.DataFrame, kpis: pd.DataFrame, level: float = LEVEL,
                 limits: tuple[float, float] | None = None) -> Figure:
    """Figure 6: the daily voltage extremes per mode (V min LinDistFlow and AC, V max), mean with interval."""
    have = set(table["metric"])
    if not have & {"vmin_pu", "vmax_pu", "vmin_ac_pu"}:
        raise ValueError("no voltage metrics in the comparison table")
    modes = mode_order(table["mode"])
    fig = Figure(figsize=(max(8.0, 2.6 * len(modes) + 3.0), 4.3), layout="constrained")
    ax_lo, ax_hi = fig.subplots(1, 2)
    if "vmin_pu" in have:
        _dot_ci(ax_lo, table, kpis, "vmin_pu", modes, offset=-0.12, marker="o")
    if "vmin_ac_pu" in have:
        _dot_ci(ax_lo, table, kpis, "vmin_ac_pu", modes, offset=0.12, marker="s")
    if "vmax_pu" in have:
        _dot_ci(ax_hi, table, kpis, "vmax_pu", modes)
    for ax, title, lim in ((ax_lo, "Daily minimum voltage (○ LinDistFlow, □ AC)", 0),
                           (ax_hi, "Daily maximum voltage (LinDistFlow)", 1)):
        _mode_axis(ax, modes)
        ax.set_ylabel("Voltage (p.u.)")
        ax.set_title(title, fontsize="medium")
        if limits is not None:
            ax.axhline(limits[lim], color="#d62728", linestyle="--", linewidth=1.0,
                       label=f"limit {limits[lim]:g} p.u.")
            ax.legend(loc="best", fontsize="x-small", frameon=False)
    fig.suptitle(f"Voltage extremes — {_ci_caption(table, level)}", fontsize="medium")
    return fig


def fig_key_contrast(diffs: pd.DataFrame, kpis: pd.DataFrame, level: float = LEVEL,
                     currency: str = CURRENCY) -> Figure:
    """Figure 7: cooperative − noncooperative total cost on every day, with the mean and its interval."""
    r = _key_row(diffs)
    if r is None or int(r["n_days"]) == 0:
        raise ValueError("no key contrast (cooperative or noncooperative missing)")
    key = key_contrast(kpis["mode"])
    if key is None:
        raise ValueError("no key contrast: its two modes are not both in kpis")
    key_mode, key_ref = key
    pairs, _ = paired_days(kpis, key_mode, key_ref)
    labels = _day_labels(pairs.index)  # type: ignore[arg-type]
    d = pairs["diff"].to_numpy(float)
    x = np.arange(d.size)
    fig = Figure(figsize=(max(7.0, 0.5 * d.size + 4.0), 4.3), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(x, d, color=np.where(d < 0, mode_colour(key_mode), mode_colour(key_ref)), width=0.7)
    m, lo, hi = float(r["mean_usd"]), float(r["ci_low_usd"]), float(r["ci_high_usd"])
    ax.axhline(m, color="black", linewidth=1.4, label=f"mean {_fmt(m, 2, True)}")
    if math.isfinite(lo) and math.isfinite(hi):
        ax.axhspan(lo, hi, color="black", alpha=0.12, label=f"{_pct_level(level)} CI {_interval(lo, hi, 2, True)}")
    ax.axhline(0.0, color="black", linewidth=0.6, linestyle=":")
    ax.set_xticks(x, labels, rotation=0 if len(x) <= 15 else 90)
    ax.set_xlabel("Day")
    ax.set_ylabel(f"{key_mode.capitalize()} − {key_ref} ({currency}/day)")
    verdict = ("conclusive" if bool(r["conclusive"]) else "not conclusive")
    ax.set_title(f"{key_mode.capitalize()} − {key_ref} per day (< 0: {key_mode} cheaper) — cheaper on "
                 f"{int(r['days_mode_cheaper'])} of {int(r['n_days'])} days, {verdict}", fontsize="medium")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="best", fontsize="small", frameon=False)
    return fig


def _save_all(makers: dict[str, Callable[[], Figure]], folder: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for name, make in makers.items():
        try:
            fig = make()
        except (ValueError, KeyError, IndexError) as exc:
            log.info("figure %s skipped: %s", name, exc)
            continue
        out[name] = save_figure(fig, folder / f"{name}.png")
    return out


# ---------------------------------------------------------------------------------------------- manifest
def _manifest(out: Path) -> dict[str, Any]:
    p = out / "manifest.json"
    if not p.is_file():
        return {}
    try:
        m = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        log.warning("%s unreadable (%s); the report omits the setup", p, exc)
        return {}
    return m if isinstance(m, dict) else {}


def _system_of(manifest: dict[str, Any]) -> System | None:
    """The registered system the manifest names (``system``), if any."""
    kind = manifest.get("system")
    return SYSTEMS.get(str(kind)) if kind else None


def _voltage_limits(manifest: dict[str, Any]) -> tuple[float, float] | None:
    """The scenario's voltage band (:meth:`System.reference_lines`), if the manifest's scenario can be loaded."""
    name = manifest.get("scenario")
    system = _system_of(manifest)
    if not name or system is None:
        return None
    try:
        return system.reference_lines(system.load(str(name))).get("voltage")
    except Exception as exc:  # the limits only decorate a figure
        log.info("voltage limits of %s not available: %s", name, exc)
        return None


def _setup_lines(kpis: pd.DataFrame, manifest: dict[str, Any]) -> list[str]:
    lines = []
    settings = manifest.get("settings") if isinstance(manifest.get("settings"), dict) else {}
    assert isinstance(settings, dict)
    scen = manifest.get("scenario", settings.get("scenario"))
    sha = str(manifest.get("scenario_sha256", ""))[:12]
    lines.append(f"- scenario `{scen}`" + (f" (files sha256 {sha}…)" if sha else "") if scen else
                 "- scenario n/a (no manifest.json)")
    seeds = sorted(kpis["seed"].unique())
    days = sorted(kpis["day"].unique())
    doy = ""
    if "day_of_year" in kpis.columns:
        d = kpis["day_of_year"].dropna().astype(int)
        doy = f", days of year {d.min()}–{d.max()}" if len(d) else ""
    lines.append(f"- seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}; days {min(days)}–{max(days)} "
                 f"({len(days)} day{'s' if len(days) != 1 else ''}{doy})")
    if settings:
        keys = ("replay", "start_day_of_year", "n_mc", "n_scenarios", "evs_per_station", "time_limit_s", "station")
        lines.append("- settings: " + ", ".join(f"{k} = {settings[k]}" for k in keys if k in settings))
    if manifest.get("command"):
        lines.append(f"- command: `{manifest['command']}`")
    env = manifest.get("environment")
    if isinstance(env, dict):
        lines.append(f"- computed with Python {env.get('python', 'n/a')}, HiGHS {env.get('highs', 'n/a')} "
                     f"({env.get('date', 'n/a')})")
    return lines


# ---------------------------------------------------------------------------------------------- compare
@dataclass
class _Ctx:
    kpis: pd.DataFrame
    table: pd.DataFrame
    diffs: pd.DataFrame
    level: float
    currency: str


def _comparison_md(c: _Ctx, modes: list[str]) -> str:
    rows = []
    for metric in metrics_of(c.kpis):
        label, unit, digits, scale = _info(metric, c.currency)
        row: dict[str, Any] = {"metric": label, "unit": unit}
        any_value = False
        for mode in modes:
            r = c.table[(c.table["mode"] == mode) & (c.table["metric"] == metric)]
            if r.empty:
                row[mode] = "—"
                continue
            any_value = True
            rr = r.iloc[0]
            ci = _interval(rr["ci_low"] * scale, rr["ci_high"] * scale, digits)
            row[mode] = f"{_fmt(rr['mean'] * scale, digits)} {ci}"
        if any_value:
            rows.append(row)
    return _md(rows)


def _decentralisation_md(c: _Ctx) -> str:
    rows = []
    for _, r in c.diffs.iterrows():
        n = int(r["n_days"])
        rows.append({
            "contrast": str(r["contrast"]).replace(" - ", " − "), "days": n,
            f"mean ({c.currency}/day)": _fmt(r["mean_usd"], 2, True),
            f"{_pct_level(c.level)} CI ({c.currency}/day)": _interval(r["ci_low_usd"], r["ci_high_usd"], 2, True),
            "mean (%)": _fmt(r["mean_pct"], 2, True),
            f"{_pct_level(c.level)} CI (%)": _interval(r["ci_low_pct"], r["ci_high_pct"], 2, True),
            "days cheaper than the reference": f"{int(r['days_mode_cheaper'])} of {n}" if n else "n/a",
            "interval excludes 0": ("yes" if bool(r["conclusive"]) else "no") if n > 1 else "n/a",
            "note": "" if str(r["note"]) == "nan" else str(r["note"]),
        })
    return _md(rows)


def _oracle_checks(c: _Ctx, base: str) -> list[str]:
    out = []
    for _, r in c.diffs[c.diffs["kind"] == "price_of_decentralisation"].iterrows():
        mode = str(r["mode"])
        if int(r["n_days"]) == 0:
            continue
        pairs, _ = paired_days(c.kpis, mode, base)
        tol = 1e-6 * np.maximum(1.0, np.abs(pairs["reference"].to_numpy(float)))
        below = pairs.index[pairs["diff"].to_numpy(float) < -tol]
        if len(below):
            days = ", ".join(_day_labels(pd.MultiIndex.from_tuples(list(below), names=list(PAIR_KEYS))))
            out.append(f"- **{mode} costs less than the {base} on {len(below)} of {len(pairs)} days** ({days}): the "
                       f"{base} has every mode's information and flexibility, so this points at a MIP gap or a "
                       "difference in the models' constraints")
        else:
            out.append(f"- {mode} costs at least as much as the {base} on all {len(pairs)} days (as it should: the "
                       f"{base} is the full-information optimum)")
    return out


def _cluster_md(c: _Ctx) -> tuple[str, list[str]]:
    """Per-cluster outcome of the cooperative mode, and the individual-rationality checks."""
    df = c.kpis
    key_mode = _bargaining_mode(df["mode"])
    key = key_contrast(df["mode"])
    coop = df[df["mode"] == key_mode]
    clusters = [k for k in _clusters(df) if f"gain_{k}" in coop.columns and coop[f"gain_{k}"].notna().any()]
    if coop.empty or not clusters:
        return "", []
    lvl = _pct_level(c.level)
    rows, checks = [], []
    for k in clusters:
        g = coop[f"gain_{k}"].to_numpy(float)
        m, lo, hi, n = mean_ci(g, c.level)
        row: dict[str, Any] = {"cluster": k, f"gain ({c.currency}/day)": _fmt(m), f"gain {lvl} CI": _interval(lo, hi),
                               "smallest daily gain": _fmt(np.nanmin(g))}
        fc = f"final_cost_{k}"
        if fc in df.columns:
            fm, flo, fhi, _ = mean_ci(coop[fc].to_numpy(float), c.level)
            row[f"final cost ({c.currency}/day)"] = f"{_fmt(fm)} {_interval(flo, fhi)}"
            if key is not None and key[0] == key_mode:
                pairs, _ = paired_days(df, key_mode, key[1], fc)
                dm, dlo, dhi, dn = mean_ci(pairs["diff"].to_numpy(float), c.level)
                row[f"final cost − {key[1]} ({c.currency}/day)"] = (
                    f"{_fmt(dm, 2, True)} {_interval(dlo, dhi, 2, True)}" if dn else "n/a")
        rows.append(row)
        neg = int(np.sum(g < -1e-6))
        checks.append(f"- {k}: gain ≥ 0 (individually rational) on {n - neg} of {n} days"
                      + ("" if neg == 0 else f" — **negative on {neg} day(s)**, smallest {_fmt(np.nanmin(g))}"))
    return _md(rows), checks


def _daily_md(c: _Ctx, modes: list[str]) -> str:
    wide = c.kpis.pivot_table(index=list(PAIR_KEYS), columns="mode", values="total_cost", aggfunc="first")
    wide = wide.reindex(columns=modes)
    labels = _day_labels(wide.index)  # type: ignore[arg-type]
    rows = []
    for label, (_, r) in zip(labels, wide.iterrows(), strict=True):
        rows.append({"day": label, **{m: _fmt(r[m]) for m in modes}})
    return _md(rows)


def write_compare(out: str | Path, *, base: str | None = None, level: float = LEVEL,
                  currency: str = CURRENCY) -> dict[str, Path]:
    """From ``out/kpis.csv``: ``comparison.csv``, ``decentralisation.csv``, ``figures/*.png`` and ``report.md``.

    Returns name -> path of every file written (``comparison``, ``decentralisation``, ``report`` and one entry
    per figure).  Figures whose data are missing (a mode not run, no bargaining) are skipped; with one day per
    mode the intervals are n/a.
    """
    out = Path(out)
    kpis = read_kpis(out)
    manifest = _manifest(out)
    table = compare_table(kpis, level)
    base = base or reference_mode(kpis["mode"])
    diffs = paired_differences(kpis, base, level)
    files: dict[str, Path] = {
        "comparison": write_csv(table, out / "comparison.csv"),
        "decentralisation": write_csv(diffs, out / "decentralisation.csv"),
    }
    kp = _checked(kpis)
    limits = _voltage_limits(manifest)
    makers: dict[str, Callable[[], Figure]] = {
        "total_cost": lambda: fig_total_cost(table, kp, level, currency),
        "cost_per_day": lambda: fig_cost_per_day(kp, currency),
        "price_of_decentralisation": lambda: fig_price_of_decentralisation(diffs, kp, base, level, currency),
        "cluster_gains": lambda: fig_cluster_gains(kp, _bargaining_mode(kp["mode"]), currency),
        "curtailment_grid": lambda: fig_curtailment_grid(table, kp, level),
        "voltages": lambda: fig_voltages(table, kp, level, limits),
        "cooperative_vs_noncooperative": lambda: fig_key_contrast(diffs, kp, level, currency),
    }
    figs = _save_all(makers, out / "figures")
    files.update(figs)
    files["report"] = _write_compare_report(out, _Ctx(kp, table, diffs, level, currency), manifest, figs, base,
                                              limits)
    return files


def _fig_md(figs: dict[str, Path], name: str, title: str) -> str:
    return f"![{title}](figures/{figs[name].name})\n" if name in figs else ""


def _operation_lines(c: _Ctx, modes: list[str], limits: tuple[float, float] | None) -> list[str]:
    """Curtailment and voltage facts, computed from the daily rows."""
    df = c.kpis
    lines: list[str] = []
    if "curtailment_kwh" in df.columns:
        curt = df["curtailment_kwh"].astype(float)
        if bool((curt.abs() < 1e-6).all()):
            lines.append("- no renewable energy was curtailed on any day in any mode")
        else:
            parts = [f"{m} {_fmt(curt[df['mode'] == m].mean(), 1)} kWh/day "
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
                    f"(worst {_fmt(v.min(), 4)} p.u.)")
            if "vmax_pu" in sub.columns:
                above = int((sub["vmax_pu"].astype(float) > v_hi + 1e-9).sum())
                text += f"; highest above {v_hi:g} p.u. on {above} days"
            if "voltage_violation_pu_h" in sub.columns:
                viol = float(sub["voltage_violation_pu_h"].astype(float).mean())
                text += f"; LinDistFlow voltage violation {_fmt(viol, 4)} p.u.·h/day"
            lines.append(text)
    elif vcol is not None:
        lines.append("- voltage limits not known (the scenario could not be loaded): see the figure")
    return lines


def _write_compare_report(out: Path, c: _Ctx, manifest: dict[str, Any], figs: dict[str, Path], base: str | None,
                          limits: tuple[float, float] | None = None) -> Path:
    modes = mode_order(c.kpis["mode"])
    n_days = int(c.kpis.groupby("mode").size().max())
    system = _system_of(manifest)
    expected = [m for m in (system.modes if system is not None else registered_modes()) if m not in modes]
    lvl = _pct_level(c.level)
    lines: list[str] = []
    add = lines.append
    scen = manifest.get("scenario", "the scenario")
    add(f"# Mode comparison on `{scen}` — {n_days} day{'s' if n_days != 1 else ''} per mode\n")
    add(f"Every number below is computed from `{KPI_FILE}` in this folder (one row per mode and day). Intervals "
        f"are two-sided {lvl} Student-t intervals over days (n − 1 degrees of freedom; n/a with one day). All "
        "modes see the same weather, loads and EV fleets on the same day (common random numbers), so two modes "
        "are compared through their daily differences (paired).\n")
    add("## Verdict\n")
    add(key_verdict(c.diffs, c.level, c.currency) + "\n")
    add("The days are treated as independent draws; the storage energy carried from one day to the next links "
        "consecutive days weakly, and with few days the t-interval relies on roughly normal daily differences.\n")
    add("## Setup\n")
    add("\n".join(_setup_lines(c.kpis, manifest)))
    add(f"- modes: {', '.join(modes)}" + (f" (not run: {', '.join(expected)})" if expected else ""))
    if c.kpis["point"].nunique() > 1:
        add(f"- **{c.kpis['point'].nunique()} sweep points pooled** — use the sweep report for per-point results")
    add("")
    add(f"## Comparison (mean [{lvl} CI] over days)\n")
    add("`total cost` is the system cost (grid + curtailment penalty + storage + EV degradation + PV use + DR); "
        "gains and final costs are per cluster after the settlement (gains only where a bargaining took place). "
        "All figures in `comparison.csv` (tidy, with min and max over days).\n")
    add(_comparison_md(c, modes) + "\n")
    add(_fig_md(figs, "total_cost", "Total cost per mode"))
    add(_fig_md(figs, "cost_per_day", "Total cost per day"))
    if base is None:
        add("## Price of decentralisation\n")
        add("No full-information mode was run, so there is no lower bound to measure the modes against.\n")
    else:
        add(f"## Price of decentralisation (each mode − {base}, paired by day)\n")
        add(f"In {c.currency}/day and in % of the {base}'s cost of the same day; `days cheaper` counts the days on "
            "which the mode costs less than the reference. The last row is the key contrast. Also in "
            "`decentralisation.csv`.\n")
    add(_decentralisation_md(c) + "\n")
    checks = _oracle_checks(c, base) if base is not None else []
    if checks:
        add("Checks:\n")
        add("\n".join(checks) + "\n")
    add(_fig_md(figs, "price_of_decentralisation", "Price of decentralisation"))
    add(_fig_md(figs, "cooperative_vs_noncooperative", "Cooperative − noncooperative per day"))
    cl_table, cl_checks = _cluster_md(c)
    if cl_table:
        bargain, key = _bargaining_mode(c.kpis["mode"]), key_contrast(c.kpis["mode"])
        add(f"## Clusters in the {bargain} mode (mean [{lvl} CI] over days)\n")
        add("Gain = standalone cost − final cost (the bargaining's share of the coalition surplus)"
            + (f"; the last column compares the cluster's final cost with the {key[1]} mode on the same days.\n"
               if key is not None else ".\n"))
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


# ---------------------------------------------------------------------------------------------- sweep
_POINT_RE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*=\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


def point_axis(points: Sequence[str],
               manifest: dict[str, Any] | None = None) -> tuple[list[str], list[float] | None, str]:
    """``(ordered points, numeric x or None, x label)`` of a sweep.

    Numeric when every point sets exactly one and the same dotted path to a number — read from the
    manifest's run overrides, else parsed from labels like ``market.kappa=0.5``; the points are then sorted
    by value.  Otherwise the points keep their order and the axis is categorical.
    """
    pts = list(dict.fromkeys(points))
    values: dict[str, tuple[str, float]] = {}
    runs = (manifest or {}).get("runs")
    if isinstance(runs, list):
        for r in runs:
            if not isinstance(r, dict) or str(r.get("point")) not in pts:
                continue
            ov = r.get("overrides") or []
            if len(ov) == 1 and isinstance(ov[0], list | tuple) and len(ov[0]) == 2:
                with contextlib.suppress(TypeError, ValueError):
                    values[str(r["point"])] = (str(ov[0][0]), float(ov[0][1]))
    for p in pts:
        if p not in values and (m := _POINT_RE.match(p)):
            values[p] = (m.group(1), float(m.group(2)))
    paths = {values[p][0] for p in pts if p in values}
    if pts and all(p in values for p in pts) and len(paths) == 1:
        order = sorted(pts, key=lambda p: values[p][1])
        return order, [values[p][1] for p in order], paths.pop()
    return pts, None, "sweep point"


def point_differences(kpis: pd.DataFrame, mode: str, metric: str, points: Sequence[str],
                      level: float = LEVEL) -> pd.DataFrame:
    """``metric`` of ``mode`` at each point after the first minus the first point, paired on (seed, day).

    Columns ``point, mean, ci_low, ci_high, n_days`` (raw units); points without a common day are left out.
    """
    df = _checked(kpis)
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


def _errorbar_series(ax: Axes, gx: np.ndarray, m: np.ndarray, lo: np.ndarray, hi: np.ndarray, colour: str,
                     label: str) -> None:
    order = np.argsort(gx)
    gx, m, lo, hi = gx[order], m[order], lo[order], hi[order]
    err = np.vstack([np.where(np.isfinite(lo), np.clip(m - lo, 0, None), 0.0),
                     np.where(np.isfinite(hi), np.clip(hi - m, 0, None), 0.0)])
    ax.errorbar(gx, m, yerr=err, marker="o", capsize=4, color=colour, label=label)


def fig_sweep_metric(table: pd.DataFrame, metric: str, points: Sequence[str], x: Sequence[float] | None,
                     xlabel: str, level: float = LEVEL, currency: str = CURRENCY,
                     kpis: pd.DataFrame | None = None) -> Figure:
    """One metric vs the sweep point: per mode the mean over days with its interval; with ``kpis`` and more
    than one point a second panel shows the paired difference to the first point (same seeds and days),
    whose interval is the one that says whether the parameter changed the metric."""
    sub = table[table["metric"] == metric]
    if sub.empty:
        raise ValueError(f"no {metric} in the sweep table")
    label, unit, _, scale = _info(metric, currency)
    title = label[0].upper() + label[1:]
    xs = np.asarray(x if x is not None else range(len(points)), dtype=float)
    pos = dict(zip(points, xs, strict=True))
    modes = mode_order(sub["mode"])
    paired = kpis is not None and len(points) > 1
    fig = Figure(figsize=(14 if paired else 8, 4.5), layout="constrained")
    axes = fig.subplots(1, 2 if paired else 1, squeeze=False)[0]
    width = (float(np.ptp(xs)) if xs.size > 1 else 1.0) * 0.012
    for i, mode in enumerate(modes):
        shift = (i - (len(modes) - 1) / 2) * width
        g = sub[(sub["mode"] == mode) & sub["point"].isin(pos)]
        _errorbar_series(axes[0], np.array([pos[p] for p in g["point"]]) + shift, g["mean"].to_numpy(float) * scale,
                         g["ci_low"].to_numpy(float) * scale, g["ci_high"].to_numpy(float) * scale,
                         _colour(mode, i), _label(mode))
        if paired:
            assert kpis is not None
            d = point_differences(kpis, mode, metric, points, level)
            d = pd.concat([pd.DataFrame([{"point": points[0], "mean": 0.0, "ci_low": 0.0, "ci_high": 0.0}]), d])
            _errorbar_series(axes[1], np.array([pos[p] for p in d["point"]]) + shift,
                             d["mean"].to_numpy(float) * scale, d["ci_low"].to_numpy(float) * scale,
                             d["ci_high"].to_numpy(float) * scale, _colour(mode, i), _label(mode))
    n = int(sub["n_days"].max())
    what = f"mean over days, whiskers: {_pct_level(level)} t-interval" if n > 1 else "one day per point: no interval"
    for ax in axes:
        if x is None:
            tilt = len(points) > 4
            ax.set_xticks(xs, list(points), rotation=15 if tilt else 0, ha="right" if tilt else "center")
        else:
            ax.set_xticks(xs)
        ax.set_xlabel(xlabel)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize="small", frameon=False)
    axes[0].set_ylabel(f"{title} ({unit})")
    axes[0].set_title(f"{title} vs {xlabel}", fontsize="medium")
    if paired:
        axes[1].axhline(0.0, color="black", linewidth=0.8)
        axes[1].set_ylabel(f"Difference to {points[0]} ({unit})")
        axes[1].set_title("Paired difference to the first point (same days)", fontsize="medium")
    fig.suptitle(f"{title} vs {xlabel} — {what}", fontsize="medium")
    return fig


def _sweep_effects(kpis: pd.DataFrame, points: Sequence[str], level: float, currency: str) -> list[dict[str, Any]]:
    """Per mode and metric (total cost, curtailment): each point − the first point, paired by (seed, day)."""
    rows: list[dict[str, Any]] = []
    for mode in mode_order(kpis["mode"]):
        for metric in ("total_cost", "curtailment_kwh"):
            label, unit, digits, scale = _info(metric, currency)
            for _, r in point_differences(kpis, mode, metric, points, level).iterrows():
                m, lo, hi, n = (float(r["mean"]) * scale, float(r["ci_low"]) * scale, float(r["ci_high"]) * scale,
                                int(r["n_days"]))
                if n < 2:
                    verdict = "n/a (one day)"
                elif _excludes_zero(lo, hi):
                    verdict = ("higher" if lo > 0 else "lower") + " (conclusive)"
                else:
                    verdict = "no conclusive change"
                rows.append({"mode": mode, "metric": f"{label} ({unit})", "point − first point":
                             f"{r['point']} − {points[0]}", "days": n, "mean": _fmt(m, digits, True),
                             f"{_pct_level(level)} CI": _interval(lo, hi, digits, True), "verdict": verdict})
    return rows


def write_sweep(out: str | Path, *, level: float = LEVEL, currency: str = CURRENCY) -> dict[str, Path]:
    """From ``out/kpis.csv``: ``sweep.csv`` (:func:`sweep_table`), ``figures/sweep_<metric>.png`` (one per metric,
    mean with interval vs the point) and ``report.md``.  Returns name -> path of every file written."""
    out = Path(out)
    kpis = _checked(read_kpis(out))
    manifest = _manifest(out)
    points, x, xlabel = point_axis(list(kpis["point"]), manifest)
    table = sweep_table(kpis, level, points)
    files: dict[str, Path] = {"sweep": write_csv(table, out / "sweep.csv")}
    makers: dict[str, Callable[[], Figure]] = {}
    for metric in metrics_of(kpis):
        makers[f"sweep_{metric}"] = (lambda metric=metric: fig_sweep_metric(table, metric, points, x, xlabel, level,
                                                                             currency, kpis))  # type: ignore[misc]
    figs = _save_all(makers, out / "figures")
    files.update(figs)

    lvl = _pct_level(level)
    lines: list[str] = []
    add = lines.append
    over = f"over {xlabel} " if x is not None else ""
    add(f"# Sweep {over}on `{manifest.get('scenario', 'the scenario')}` — {len(points)} point"
        f"{'s' if len(points) != 1 else ''}\n")
    add(f"Computed from `{KPI_FILE}` in this folder (one row per point, mode and day). Intervals are two-sided {lvl} "
        "Student-t intervals over days (n/a with one day). Every point sees the same weather, loads and fleets on "
        "the same day (same seeds), so points are compared through daily differences (paired by seed and day).\n")
    add("## Setup\n")
    add("\n".join(_setup_lines(kpis, manifest)))
    add(f"- points: {', '.join(points)}" + (f" ({xlabel} = {', '.join(f'{v:g}' for v in x)})" if x else ""))
    add(f"- modes: {', '.join(mode_order(kpis['mode']))}\n")
    shown = [m for m in metrics_of(kpis) if not m.startswith(CLUSTER_PREFIXES)]
    for mode in mode_order(kpis["mode"]):
        add(f"## {mode} (mean [{lvl} CI] over days)\n")
        rows = []
        for p in points:
            t = table[(table["point"] == p) & (table["mode"] == mode)].set_index("metric")
            if t.empty:
                continue
            row: dict[str, Any] = {"point": p, "days": int(t["n_days"].max())}
            for metric in shown:
                label, unit, digits, scale = _info(metric, currency)
                if metric in t.index:
                    r = t.loc[metric]
                    row[f"{label} ({unit})"] = (f"{_fmt(r['mean'] * scale, digits)} "
                                                f"{_interval(r['ci_low'] * scale, r['ci_high'] * scale, digits)}")
            rows.append(row)
        add(_md(rows) + "\n")
    if len(points) > 1:
        add(f"## Effect of the swept parameter (each point − {points[0]}, paired by seed and day)\n")
        eff = _sweep_effects(kpis, points, level, currency)
        add(_md(eff) + "\n" if eff else "No point shares a day with the first point.\n")
    add("## Figures\n")
    for name, path in figs.items():
        add(f"![{name}](figures/{path.name})\n")
    add("All numbers in `sweep.csv` (tidy: point, mode, metric, mean, ci_low, ci_high, n_days, min, max).\n")
    files["report"] = write_text("\n".join(lines) + "\n", out / "report.md")
    return files

"""The statistics of ``compare`` and ``sweep``: means with intervals over days, and paired differences of modes.

One observation is one simulated ``(seed, point, day)``: several seeds (``--seeds``) simply add observations.

- :func:`mean_ci` — mean and two-sided Student-t interval, ``mean ∓ t_{(1+level)/2, n−1} · s / √n``.
- :func:`interval_of` — the interval a table reports.  For a quantity that can be negative it is the t-interval.
  For a quantity that cannot (:func:`nonnegative`: a cost made of purchases and penalties, an energy, a
  violation) it never reaches below 0: when the t-interval's lower end is below 0 the normal approximation is
  visibly wrong for these days (too few or too skewed), so with fewer than :data:`FEW_DAYS` days the range of
  the days ``[min, max]`` is reported instead (method ``range``), and with more the t-interval is clipped at 0
  (method ``t, clipped at 0``).  With ``n < 2`` there is no interval.
- :func:`pair_table` — every unordered pair of the modes present, the system's key contrast first (e.g.
  cooperative − centralized), then the others in registry order, each oriented as ``A − B`` with ``A`` the
  earlier mode.  Per pair and metric the daily differences ``A − B`` on the ``(seed, point, day)`` both modes
  have (common random numbers, so the day-to-day spread that both modes share cancels): their number, mean,
  t-interval, the mean percentage ``100 · (A − B) / |B|`` per day, how many days ``A`` is lower, ``B`` is lower,
  or both are equal within ``tol · max(1, |A|, |B|)``, the days only one mode has, and a verdict sentence.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sim.analysis.common import (
    CURRENCY,
    FEW_DAYS,
    LEVEL,
    PAIR_KEYS,
    checked,
    fmt,
    fmt_interval,
    headline_metrics,
    info,
    is_cost,
    kpi_of,
    pct_level,
)
from sim.analysis.style import key_contrast, mode_order
from sim.engine.system import System

log = logging.getLogger(__name__)

#: Relative tolerance under which two modes' values of a day count as equal (a tie).
TIE_RTOL = 1e-6
T_METHOD, CLIPPED, RANGE, NONE = "t", "t, clipped at 0", "range", "none (n < 2)"
#: How each method is marked next to an interval in reports, and what the mark says.
MARKS: dict[str, str] = {CLIPPED: "*", RANGE: "†"}
MARK_TEXT: dict[str, str] = {
    CLIPPED: "* t-interval clipped at 0: the quantity cannot be negative",
    RANGE: f"† the t-interval would reach below 0, which is meaningless for a quantity that cannot be negative with "
           f"fewer than {FEW_DAYS} days: the range of the days [min, max] is shown instead",
}


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


@dataclass(frozen=True)
class Interval:
    """A mean over days with the interval reported for it and how that interval was made (:func:`interval_of`)."""

    mean: float
    lo: float
    hi: float
    n: int
    method: str

    @property
    def mark(self) -> str:
        return MARKS.get(self.method, "")


def interval_of(values: Iterable[float] | np.ndarray | pd.Series, level: float = LEVEL,
                nonnegative: bool = False) -> Interval:
    """The mean of the finite ``values`` and its reported interval (rule in the module docstring)."""
    x = np.asarray(list(values) if not isinstance(values, np.ndarray | pd.Series) else values, dtype=float).ravel()
    x = x[np.isfinite(x)]
    m, lo, hi, n = mean_ci(x, level)
    if n < 2:
        return Interval(m, math.nan, math.nan, n, NONE)
    if not nonnegative or lo >= 0.0:
        return Interval(m, lo, hi, n, T_METHOD)
    if n < FEW_DAYS:
        return Interval(m, float(x.min()), float(x.max()), n, RANGE)
    return Interval(m, 0.0, hi, n, CLIPPED)


def nonnegative(metric: str, values: Iterable[float] | np.ndarray | pd.Series, system: System | None = None) -> bool:
    """Whether ``metric`` cannot be negative: its KPI declaration says so (:attr:`KPI.is_nonnegative`) and no
    value in ``values`` contradicts it (a negative value beyond rounding makes it a signed quantity, with a warning).
    Per-cluster gains and final costs are signed."""
    kpi = kpi_of(metric, system)
    if kpi is None or not kpi.is_nonnegative:
        return False
    x = np.asarray(list(values) if not isinstance(values, np.ndarray | pd.Series) else values, dtype=float).ravel()
    x = x[np.isfinite(x)]
    if x.size and float(x.min()) < -1e-9 * max(1.0, float(np.abs(x).max())):
        log.warning("%s is declared non-negative but has a value %g; its intervals are not clipped", metric,
                    float(x.min()))
        return False
    return True


# ---------------------------------------------------------------------------------------------- pairs
PAIR_COLUMNS: tuple[str, ...] = (
    "order", "a", "b", "contrast", "metric", "unit", "n_days", "mean", "ci_low", "ci_high", "mean_pct", "ci_low_pct",
    "ci_high_pct", "days_a_lower", "days_b_lower", "days_tie", "a_only", "b_only", "conclusive", "verdict", "note",
)


def ordered_pairs(modes: Iterable[str], system: System | None = None) -> list[tuple[str, str]]:
    """Every unordered pair of ``modes`` as ``(A, B)``: the key contrast first (``system``'s when it declares one
    whose modes are present, else the registry's, :func:`sim.analysis.style.key_contrast`), then the others in
    registry order of ``A`` then ``B``, each with ``A`` before ``B`` in that order."""
    names = mode_order(modes)
    key = system.key_contrast if system is not None else None
    if key is None or not set(key) <= set(names):
        key = key_contrast(names)
    pairs = list(itertools.combinations(names, 2))
    if key is None:
        return pairs
    return [key, *[p for p in pairs if set(p) != set(key)]]


def paired_days(kpis: pd.DataFrame, a: str, b: str, metric: str = "total_cost") -> tuple[pd.DataFrame, int]:
    """``(frame, unmatched)``: ``metric`` of modes ``a`` and ``b`` on the days both have (matched on seed, point,
    day), indexed by those keys and sorted, columns ``a, b, diff`` (``a − b``); ``unmatched`` counts the rows of
    either mode without a counterpart (or with a missing value)."""
    joined, a_only, b_only = _join(checked(kpis), a, b, metric)
    return joined, len(a_only) + len(b_only)


def _join(df: pd.DataFrame, a: str, b: str, metric: str) -> tuple[pd.DataFrame, pd.Index, pd.Index]:
    keys = list(PAIR_KEYS)
    if metric not in df.columns:
        raise KeyError(f"no column {metric!r} in the KPI table")
    sa = df.loc[df["mode"] == a, [*keys, metric]].set_index(keys)[metric].astype(float).dropna()
    sb = df.loc[df["mode"] == b, [*keys, metric]].set_index(keys)[metric].astype(float).dropna()
    joined = pd.concat({"a": sa, "b": sb}, axis=1, join="inner").sort_index()
    joined["diff"] = joined["a"] - joined["b"]
    return joined, sa.index.difference(joined.index), sb.index.difference(joined.index)


def _pair_row(df: pd.DataFrame, order: int, a: str, b: str, metric: str, level: float, tol: float,
              currency: str) -> dict[str, Any]:
    label, unit, digits, scale = info(metric, currency)
    row: dict[str, Any] = {"order": order, "a": a, "b": b, "contrast": f"{a} − {b}", "metric": metric, "unit": unit}
    joined, a_only, b_only = _join(df, a, b, metric)
    d = joined["diff"].to_numpy(float)
    va, vb = joined["a"].to_numpy(float), joined["b"].to_numpy(float)
    ref = np.abs(vb)
    pct = np.where(ref > 1e-9, 100.0 * d / np.where(ref > 1e-9, ref, 1.0), np.nan)
    m, lo, hi, n = mean_ci(d, level)
    mp, lop, hip, _ = mean_ci(pct, level)
    band = tol * np.maximum(1.0, np.maximum(np.abs(va), ref))
    tie = np.abs(d) <= band
    notes = []
    if n < 2:
        notes.append("n < 2: no interval")
    if len(a_only) or len(b_only):
        notes.append(f"unmatched (seed, day): {len(a_only)} only in {a}, {len(b_only)} only in {b} — left out")
    row |= {"n_days": n, "mean": m, "ci_low": lo, "ci_high": hi, "mean_pct": mp, "ci_low_pct": lop, "ci_high_pct": hip,
            "days_a_lower": int(np.sum((d < 0) & ~tie)), "days_b_lower": int(np.sum((d > 0) & ~tie)),
            "days_tie": int(np.sum(tie)), "a_only": len(a_only), "b_only": len(b_only),
            "conclusive": bool(n >= 2 and math.isfinite(lo) and (lo > 0.0 or hi < 0.0)), "note": "; ".join(notes)}
    row["verdict"] = pair_verdict(row, level, label, unit, digits, scale)
    return row


def pair_verdict(row: dict[str, Any] | pd.Series, level: float = LEVEL, label: str = "total cost", unit: str = "",
                 digits: int = 2, scale: float = 1.0) -> str:
    """One sentence on a pair: which mode is lower (cheaper for a cost), whether the interval excludes 0, the days.

    Conclusive when the ``level`` interval of the daily differences excludes 0; with ``n < 2`` never."""
    a, b, n = str(row["a"]), str(row["b"]), int(row["n_days"])
    cost = is_cost(str(row["metric"]))
    lower, higher = ("cheaper", "dearer") if cost else ("lower", "higher")
    what = "" if cost else f"{label}: "
    if n == 0:
        return f"{what}{a} vs {b}: not compared — no (seed, day) finished in both modes"
    ka, kb, kt = int(row["days_a_lower"]), int(row["days_b_lower"]), int(row["days_tie"])
    m, lo, hi = float(row["mean"]) * scale, float(row["ci_low"]) * scale, float(row["ci_high"]) * scale
    days = f"{a} {lower} on {ka}, {b} {lower} on {kb}, equal on {kt} of {n} day{'s' if n != 1 else ''}"
    pct = f" ({fmt(float(row['mean_pct']), 2, True)} %)" if math.isfinite(float(row["mean_pct"])) else ""
    facts = f"mean {a} − {b} {fmt(m, digits, True)} {unit}{pct}"
    if kt == n:
        return f"{what}{a} and {b} are equal on every day ({n}, within a relative {TIE_RTOL:g}) — {days}"
    if n < 2:
        lean = lower if m < 0 else higher
        return f"{what}{a} {lean} than {b} on the one day: not conclusive (n < 2: no interval) — {facts}; {days}"
    ci = f"{pct_level(level)} CI {fmt_interval(lo, hi, digits, True)}"
    if bool(row["conclusive"]):
        head = f"{a} is {lower if hi < 0 else higher} than {b}: conclusive"
        return f"{what}**{head}** — {facts}, {ci} excludes 0; {days}"
    lean = lower if m < 0 else higher if m > 0 else "equal"
    return f"{what}**{a} vs {b}: not conclusive** (on average {a} is {lean}) — {facts}, {ci} includes 0; {days}"


def pair_table(kpis: pd.DataFrame, metrics: Sequence[str] | None = None, level: float = LEVEL,
               system: System | None = None, tol: float = TIE_RTOL, currency: str = CURRENCY) -> pd.DataFrame:
    """Paired daily differences of every pair of the modes present (:func:`ordered_pairs`), per metric.

    ``metrics``: default the headline KPIs present (at least ``total_cost``).  Columns :data:`PAIR_COLUMNS`
    (``order`` numbers the pairs from 1; raw units, ``unit`` the display unit); sorted by pair, then metric."""
    if not 0.0 <= tol < 1.0:
        raise ValueError(f"tie tolerance must lie in [0, 1), got {tol!r}")
    df = checked(kpis)
    if metrics is None:
        metrics = [m for m in headline_metrics() if m in df.columns]
    rows = [_pair_row(df, i, a, b, metric, level, tol, currency)
            for i, (a, b) in enumerate(ordered_pairs(df["mode"], system), start=1) for metric in metrics]
    return pd.DataFrame(rows, columns=list(PAIR_COLUMNS))


# ---------------------------------------------------------------------------------------------- summaries
SUMMARY_COLUMNS: tuple[str, ...] = ("mean", "ci_low", "ci_high", "ci_method", "n_days", "min", "max")


def summary_rows(kpis: pd.DataFrame, group: str, order: Sequence[Any], metrics: Sequence[str],
                 keys: dict[str, Any] | None = None, level: float = LEVEL,
                 system: System | None = None) -> list[dict[str, Any]]:
    """One row per (value of ``group`` in ``order``, metric): mean, reported interval (:func:`interval_of`), days,
    min, max.  Whether a metric is non-negative is decided once over all of ``kpis`` (:func:`nonnegative`)."""
    rows: list[dict[str, Any]] = []
    signs = {m: nonnegative(m, pd.to_numeric(kpis[m], errors="coerce"), system) for m in metrics}
    for value in order:
        sub = kpis[kpis[group] == value]
        for metric in metrics:
            x = pd.to_numeric(sub[metric], errors="coerce").to_numpy(float)
            x = x[np.isfinite(x)]
            if x.size == 0:
                continue
            iv = interval_of(x, level, signs[metric])
            rows.append({**(keys or {}), group: value, "metric": metric, "mean": iv.mean, "ci_low": iv.lo,
                         "ci_high": iv.hi, "ci_method": iv.method, "n_days": iv.n, "min": float(x.min()),
                         "max": float(x.max())})
    return rows


def statistics_paragraph(level: float) -> str:
    """The report's statement of how means, intervals and comparisons are made (shared with the sweep report)."""
    lvl = pct_level(level)
    return (f"One observation is one simulated (seed, day). Intervals are two-sided {lvl} Student-t intervals over "
            f"the days (n − 1 degrees of freedom; none with n < 2). All modes see the same weather, loads and EV "
            "fleets on the same (seed, day) (common random numbers), so two modes are compared through their "
            "daily differences A − B on the days both finished (paired). A mean of a quantity that cannot be "
            "negative (a cost of purchases and penalties, an energy, a violation) is never given an interval "
            f"below 0: when the t-interval reaches below 0, the normal approximation is visibly wrong for these "
            f"days, so with fewer than {FEW_DAYS} days the range of the days [min, max] is reported instead "
            f"(marked †), and with {FEW_DAYS} or more the t-interval is clipped at 0 (marked *). Differences "
            "can be negative and are never clipped. The days are treated as independent draws; the storage "
            "energy carried from one day to the next links consecutive days weakly.")

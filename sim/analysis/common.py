"""What ``compare`` and ``sweep`` share: reading ``kpis.csv`` / ``failures.csv`` / ``manifest.json``, the metrics
summarised with their labels and units, number formatting, and writing figures.

Works only from the files :func:`sim.engine.run.execute` writes, so a finished run can be re-rendered without
solving.  One observation is one simulated day of one run: a ``(seed, point, day)`` (:data:`PAIR_KEYS`).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib as mpl
import pandas as pd
from matplotlib.figure import Figure

from sim.analysis.style import PAPER_RC
from sim.engine.io import markdown_table, save_figure
from sim.engine.system import KPI, System
from sim.systems import SYSTEMS

log = logging.getLogger(__name__)

LEVEL = 0.95
CURRENCY = "USD"
#: Below this many observations per mode a figure shows every day as a point instead of a mean with an interval,
#: and an interval of a non-negative quantity that reaches below 0 is replaced by the days' range.
FEW_DAYS = 10
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
FAILURES_FILE = "failures.csv"


# ---------------------------------------------------------------------------------------------- input
def read_kpis(out: str | Path) -> pd.DataFrame:
    """``out/kpis.csv`` with string ``run, mode, point``; raises naming the file when it is missing or empty."""
    path = Path(out) / KPI_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no KPI table (run the simulation first)")
    df = pd.read_csv(path, dtype={"run": str, "mode": str, "point": str})
    if df.empty:
        raise ValueError(f"{path}: no KPI rows")
    return checked(df, str(path))


def checked(kpis: pd.DataFrame, where: str = "kpis") -> pd.DataFrame:
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
        raise ValueError(f"{where}: {int(dup.sum())} rows share (mode, seed, point, day), e.g. {first}; each mode "
                         "may hold one row per seed, sweep point and day")
    return df


def read_failures(out: str | Path) -> pd.DataFrame:
    """``out/failures.csv`` (the runs or days that failed: ``run, mode, seed, point, day, message``), empty if none."""
    path = Path(out) / FAILURES_FILE
    if not path.is_file():
        return pd.DataFrame(columns=["run", "mode", "seed", "point", "day", "message"])
    try:
        return pd.read_csv(path, dtype={"run": str, "mode": str, "point": str, "message": str})
    except (OSError, ValueError) as exc:  # an empty or broken file: say so, do not hide the report
        log.warning("%s unreadable (%s)", path, exc)
        return pd.DataFrame([{"run": "n/a", "message": f"{FAILURES_FILE} unreadable: {exc}"}])


def read_manifest(out: Path) -> dict[str, Any]:
    p = out / "manifest.json"
    if not p.is_file():
        return {}
    try:
        m = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        log.warning("%s unreadable (%s); the report omits the setup", p, exc)
        return {}
    return m if isinstance(m, dict) else {}


def system_of(manifest: dict[str, Any]) -> System | None:
    """The registered system the manifest names (``system``), if any."""
    kind = manifest.get("system")
    return SYSTEMS.get(str(kind)) if kind else None


# ---------------------------------------------------------------------------------------------- metrics
def clusters_of(kpis: pd.DataFrame) -> list[str]:
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
        out += [f"{p}{c}" for c in clusters_of(kpis) if f"{p}{c}" in cols]
    return out


def kpi_of(metric: str, system: System | None = None) -> KPI | None:
    """The declaration of ``metric``: ``system``'s own, else the first registered system's that declares it."""
    if system is not None and (k := system.kpi(metric)) is not None:
        return k
    return next((k for s in SYSTEMS.values() if (k := s.kpi(metric)) is not None), None)


def info(metric: str, currency: str = CURRENCY) -> tuple[str, str, int, float]:
    """``(label, unit, decimals, display scale)`` of a metric."""
    if metric in METRIC_INFO:
        label, unit, digits, scale = METRIC_INFO[metric]
        return label, unit.replace(CURRENCY, currency), digits, scale
    for p, what in (("gain_", "gain of"), ("final_cost_", "final cost of")):
        if metric.startswith(p):
            return f"{what} {metric[len(p):]}", f"{currency}/day", 2, 1.0
    kpi = kpi_of(metric)
    if kpi is not None:  # the KPI's declaration: its unit (per day for energies and costs)
        return metric.replace("_", " "), kpi.unit, 3, 1.0
    return metric, "", 3, 1.0


def is_cost(metric: str) -> bool:
    """A cost (compared as cheaper / dearer) rather than another quantity (lower / higher)."""
    return metric.endswith("_cost") or metric.startswith("final_cost_")


# ---------------------------------------------------------------------------------------------- formatting
def fmt(x: Any, digits: int = 2, signed: bool = False) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "n/a"
    if not math.isfinite(v):
        return "n/a"
    if abs(v) < 0.5 * 10.0 ** (-digits):
        v = 0.0  # no '-0.00'
    return f"{v:+,.{digits}f}" if signed else f"{v:,.{digits}f}"


def fmt_interval(lo: Any, hi: Any, digits: int = 2, signed: bool = False) -> str:
    if not (math.isfinite(float(lo)) and math.isfinite(float(hi))):
        return "n/a"
    return f"[{fmt(lo, digits, signed)}, {fmt(hi, digits, signed)}]"


def pct_level(level: float) -> str:
    return f"{100 * level:g} %"


def md(rows: list[dict[str, Any]] | pd.DataFrame) -> str:
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    esc = lambda v: str(v).replace("|", "\\|")
    return markdown_table(df.rename(columns=esc).map(esc))


def day_labels(keys: pd.MultiIndex | pd.DataFrame) -> list[str]:
    """'d1', 'd2' … for one seed and one point; 's0 d1' … otherwise."""
    frame = keys.to_frame(index=False) if isinstance(keys, pd.MultiIndex) else keys.reset_index(drop=True)
    many_seeds = frame["seed"].nunique() > 1
    many_points = frame["point"].nunique() > 1
    out = []
    for _, r in frame.iterrows():
        parts = ([str(r["point"])] if many_points else []) + ([f"s{r['seed']}"] if many_seeds else [])
        out.append(" ".join([*parts, f"d{int(r['day'])}"]))
    return out


def setup_lines(kpis: pd.DataFrame, manifest: dict[str, Any]) -> list[str]:
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


def failures_md(failures: pd.DataFrame) -> str:
    """The report's section on failed runs (empty string when none failed)."""
    if failures.empty:
        return ""
    cols = [c for c in ("run", "mode", "seed", "point", "day", "message") if c in failures.columns]
    rows = failures[cols].fillna("").astype(str)
    if "message" in rows:
        rows["message"] = rows["message"].str.replace("\n", " ", regex=False).str.slice(0, 300)
    return (f"## Failed runs ({len(failures)})\n\nThese runs or days did not finish (from `{FAILURES_FILE}`); every "
            "number below uses only the days that finished, and a pair of modes is compared only on the (seed, day) "
            "both finished.\n\n" + md(rows) + "\n")


def save_all(makers: dict[str, Callable[[], Figure]], folder: Path) -> dict[str, Path]:
    """Draw (in the paper style of :data:`sim.analysis.style.PAPER_RC`) and save every figure whose data exist."""
    out: dict[str, Path] = {}
    for name, make in makers.items():
        with mpl.rc_context(PAPER_RC):  # type: ignore[arg-type]
            try:
                fig = make()
            except (ValueError, KeyError, IndexError) as exc:
                log.info("figure %s skipped: %s", name, exc)
                continue
            out[name] = save_figure(fig, folder / f"{name}.png")
    return out

"""Benchmark of issue 15 ("a simulated year in minutes"): the code before the issue against this checkout.

One invocation builds the base commit (default ``fe99a09``, ``--base REV``) in a temporary git worktree
(``git worktree add --detach``; removed afterwards, also on failure or Ctrl-C) and runs, for each run below,
first the *before* tree and then the *after* tree (this checkout), back to back, each as a subprocess
``python run_sim.py simulate ... --seed 0 --quiet --out DIR`` with the same interpreter (``sys.executable``),
``cwd`` = the tree and ``PYTHONPATH`` = the tree (so the tree's packages are imported, also in Dask workers):

* ``ieee33_oracle``: ieee33, cooperative, ``--replay oracle``, 365 days, ``--workers 1`` (``--oracle-workers``);
* ``ieee33_mpc``: ieee33, cooperative, ``--replay mpc``, 30 days;
* ``three_campus``, ``rural_ies``, ``lowcarbon_ies``: the system's default mode, oracle replay, 10 days each.

``--quick`` reduces them to 12, 2 and 2 days; ``--days-oracle/--days-mpc/--days-other`` set them.

What is measured per run and side (before / after):

* **seconds per day by stage**, from the run's ``timings.csv`` (the columns differ by system; the mapping
  below is recorded per run as ``stage_sources``): data = ``data_s``; setup (the day's data written into
  agents and persistent models) = ``setup_s - data_s`` or ``refresh_s``; day-ahead = ``da_s``; intraday =
  ``rt_s`` (or ``solve_s - da_s``); solve = ``model_s`` or ``solve_s`` where day-ahead and intraday are not
  split; check = ``check_s`` (network check, KPIs, records); of which mpc loop = ``mpc_s``, of which market =
  ``market_s``/``bisection_s``, of which AC check = ``ac_s``/``ac_check_s``/``acflow_s`` (when recorded);
  total = ``total_s``; wall = the time between two days' commits (the mtimes of ``kpis/day=NNN/*.csv``, the
  day's last file) and write = wall - total (``write_s`` if recorded).  Medians over the days, day 1 excluded
  (it builds) when there is more than one day.
* **re-solves per day**: the median of the ``mpc_solves`` column of ``kpis.csv`` (days >= 2), "not recorded"
  where the column is missing.
* **start-up**: launch until day 1 starts = (day 1's commit time - launch) - day 1's ``total_s`` - its write
  (estimated by the median write of the later days); and, as a cross-check, the process wall minus the sum
  of the days' ``total_s`` (start-up + every write + the summaries at the end).  ``run_sim.py --help`` is
  timed separately (median of ``--help-repeats`` launches).  The start-up that is judged is the median over
  ``--startup-repeats`` one-day ieee33 launches (:func:`startup_launches`; day 1's own ``write_s``), since one
  launch varies by several tenths of a second on a shared machine.  Both trees' modules are compiled to bytecode first
  (:func:`precompile`, as ``make run`` does), so neither start-up includes compiling sources.
* **memory**: the resident set of the child's process tree (psutil, else ``/proc``), sampled every
  ``--sample-s`` seconds; its peak, the largest single process's peak (also its kernel high-water mark
  ``VmHWM``), and the tree's RSS when each day commits.  Flat = the last day's RSS within 10 % of day 10's
  (of day ``last // 2`` for runs shorter than 20 days).
* **kpis unchanged**: ``kpis.csv`` after against before, day by day: per shared column the largest relative
  difference ``|a - b| / max(|a|, |b|)`` (differences below 1e-9 absolute count as none); columns moving by
  more than 1e-6 are listed.

Written (atomically): ``DIR/year.json`` and ``DIR/year.md`` (a before/after/ratio table per run, where ratio =
before / after, so > 1 means the after code is faster or smaller; the acceptance targets of issue 15 with
pass / fail).  Progress lines go to stderr.  Exit status 1 when a target fails or a run failed.

Usage (from the repository root)::

    PYTHONPATH=. python benchmarks/year.py                     # the full benchmark (~1 h on 2 cores)
    PYTHONPATH=. python benchmarks/year.py --quick             # 12 oracle days, 2 mpc days, 2 days per system
    PYTHONPATH=. python benchmarks/year.py --quick --systems ieee33_oracle --only after
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import pandas as pd

from sim.engine.io import jsonable, machine_info, markdown_table, write_json, write_text
from studies.common.cli import non_negative_int, positive_int

JSON_NAME = "year.json"
MD_NAME = "year.md"
SCHEMA_VERSION = 1
DEFAULT_BASE = "fe99a09"
SIDES = ("before", "after")
ROOT = Path(__file__).resolve().parents[1]

#: Acceptance targets of issue 15 (seconds, MB, ratios).
ORACLE_DAY_MAX_S = 0.5
MPC_DAY_MAX_S = 2.0
AC_DAY_MAX_S = 0.1
STARTUP_MAX_S = 2.0
HELP_MAX_S = 1.0
YEAR_MAX_S = 240.0
PEAK_MAX_MB = 600.0
FLAT_TOL = 0.10
FLAT_REF_DAY = 10
OTHER_MIN_SPEEDUP = 3.0
KPI_REL_TOL = 1e-6
KPI_ABS_FLOOR = 1e-9
MIN_MEDIAN_DAYS = 10
YEAR_DAYS = 365
OTHER_SYSTEMS = ("three_campus", "rural_ies", "lowcarbon_ies")

Record = dict[str, Any]


@dataclass(frozen=True)
class RunConfig:
    """One benchmark run: ``run_sim.py simulate`` of ``scenario`` (``mode`` or the system's default) for ``days``."""

    key: str
    scenario: str
    replay: str
    days: int
    mode: str | None = None
    workers: int | None = None

    def argv(self, out: Path, seed: int) -> list[str]:
        args = ["run_sim.py", "simulate", "--scenario", self.scenario, "--replay", self.replay,
                "--days", str(self.days), "--seed", str(seed), "--quiet", "--out", str(out)]
        if self.mode:
            args += ["--mode", self.mode]
        if self.workers:
            args += ["--workers", str(self.workers)]
        return args


RUN_KEYS = ("ieee33_oracle", "ieee33_mpc", *OTHER_SYSTEMS)


# ---------------------------------------------------------------------------------------------- CLI
def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {text!r}") from exc
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {text!r}")
    return v


def parse_systems(text: str) -> list[str]:
    """``--systems``: comma-separated run keys (``ieee33`` = both ieee33 runs), in the benchmark's order."""
    wanted: set[str] = set()
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        if item == "ieee33":
            wanted |= {"ieee33_oracle", "ieee33_mpc"}
        elif item in RUN_KEYS:
            wanted.add(item)
        else:
            raise argparse.ArgumentTypeError(f"--systems: unknown run {item!r}; allowed: ieee33, {', '.join(RUN_KEYS)}")
    if not wanted:
        raise argparse.ArgumentTypeError(f"--systems: empty; allowed: ieee33, {', '.join(RUN_KEYS)}")
    return [k for k in RUN_KEYS if k in wanted]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="year.py", description=(__doc__ or "").splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"),
                   help=f"folder of {JSON_NAME} and {MD_NAME} (default: %(default)s)")
    p.add_argument("--base", default=DEFAULT_BASE, metavar="REV",
                   help="the code before the issue, checked out in a temporary worktree (default: %(default)s)")
    p.add_argument("--base-tree", type=Path, default=None, metavar="DIR",
                   help="use this existing checkout as the 'before' code instead of a worktree of --base")
    p.add_argument("--quick", action="store_true", help="12 oracle days, 2 mpc days, 2 days per other system")
    p.add_argument("--days-oracle", type=positive_int, default=None, help="days of the ieee33 oracle run (default 365)")
    p.add_argument("--days-mpc", type=positive_int, default=None, help="days of the ieee33 mpc run (default 30)")
    p.add_argument("--days-other", type=positive_int, default=None,
                   help="days of three_campus, rural_ies, lowcarbon_ies (default 10)")
    p.add_argument("--oracle-workers", type=non_negative_int, default=1,
                   help="--workers of the oracle run (Dask worker processes; 0 = a plain loop; default 1)")
    p.add_argument("--systems", type=parse_systems, default=list(RUN_KEYS),
                   help=f"comma-separated runs (default: all): ieee33 (both), {', '.join(RUN_KEYS)}")
    p.add_argument("--only", choices=SIDES, default=None, help="run one side only (no ratios, no kpis comparison)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of every run (default 0)")
    p.add_argument("--help-repeats", type=positive_int, default=3, help="launches of run_sim.py --help (default 3)")
    p.add_argument("--startup-repeats", type=non_negative_int, default=5,
                   help="one-day ieee33 launches whose median start-up is judged (default 5; 0: the runs' own)")
    p.add_argument("--before-days-max", type=positive_int, default=None,
                   help="run the 'before' side of every run for at most this many days (its medians and the kpis "
                        "comparison then cover those days; the after side runs the full length). Default: no cap")
    p.add_argument("--sample-s", type=_seconds, default=0.5, help="memory sampling interval (default 0.5 s)")
    p.add_argument("--work", type=Path, default=None,
                   help="keep the runs' output folders here (default: a temporary folder, removed)")
    return p


def run_configs(args: argparse.Namespace) -> list[RunConfig]:
    """The runs of ``args`` (``--quick`` and the ``--days-*`` options), in the benchmark's order."""
    d_or = args.days_oracle or (12 if args.quick else YEAR_DAYS)
    d_mpc = args.days_mpc or (2 if args.quick else 30)
    d_other = args.days_other or (2 if args.quick else 10)
    every = {
        "ieee33_oracle": RunConfig("ieee33_oracle", "ieee33", "oracle", d_or, "cooperative",
                                   args.oracle_workers or None),
        "ieee33_mpc": RunConfig("ieee33_mpc", "ieee33", "mpc", d_mpc, "cooperative"),
        **{s: RunConfig(s, s, "oracle", d_other) for s in OTHER_SYSTEMS},
    }
    return [every[k] for k in args.systems]


def _say(msg: str) -> None:
    print(f"[year] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------- parsing / summary
def _median(values: Sequence[float]) -> float | None:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return statistics.median(vals) if vals else None


def _first(columns: Sequence[str], *names: str) -> str | None:
    return next((n for n in names if n in columns), None)


def day_walls(commit_times: Sequence[float]) -> list[float | None]:
    """Wall seconds of each day = the time between its commit and the previous day's (day 1: ``None``)."""
    return [None] + [b - a for a, b in itertools.pairwise(commit_times)]


def stage_frame(timings: pd.DataFrame,
                walls: Sequence[float | None] | None = None) -> tuple[pd.DataFrame, dict[str, str]]:
    """Seconds per day by stage (one row per day, indexed by ``day``) and where each stage came from.

    Stages, from the columns of ``timings`` that exist: ``data``, ``setup``, ``day_ahead``, ``intraday``,
    ``solve`` (only where day-ahead and intraday are not split), ``check``, ``of_which_mpc``,
    ``of_which_market``, ``of_which_ac_check``, ``total``, ``other`` (``total`` minus the sum of the
    disjoint stages data, setup, day-ahead, intraday / solve, check), and with ``walls`` (one per day,
    :func:`day_walls`) ``wall`` and ``write`` (= wall - total; a ``write_s`` column wins).
    """
    cols = list(timings.columns)
    out = pd.DataFrame(index=pd.Index(timings["day"].astype(int), name="day")) if "day" in cols \
        else pd.DataFrame(index=pd.RangeIndex(1, len(timings) + 1, name="day"))
    src: dict[str, str] = {}

    def col(name: str) -> Any:
        return timings[name].to_numpy(dtype=float)

    if "data_s" in cols:
        out["data"], src["data"] = col("data_s"), "data_s"
    if "setup_s" in cols:
        out["setup"] = col("setup_s") - (col("data_s") if "data_s" in cols else 0.0)
        src["setup"] = "setup_s - data_s" if "data_s" in cols else "setup_s"
    elif "refresh_s" in cols:
        out["setup"], src["setup"] = col("refresh_s"), "refresh_s"
    if "da_s" in cols:
        out["day_ahead"], src["day_ahead"] = col("da_s"), "da_s"
    if "rt_s" in cols:
        out["intraday"], src["intraday"] = col("rt_s"), "rt_s"
    elif "da_s" in cols and "solve_s" in cols:
        out["intraday"], src["intraday"] = col("solve_s") - col("da_s"), "solve_s - da_s"
    if "day_ahead" not in out and "intraday" not in out:
        name = _first(cols, "model_s", "solve_s")
        if name:
            out["solve"], src["solve"] = col(name), f"{name} (day-ahead and intraday not split)"
    if "check_s" in cols:
        out["check"], src["check"] = col("check_s"), "check_s"
    for stage, names in (("of_which_mpc", ("mpc_s",)), ("of_which_market", ("market_s", "bisection_s")),
                         ("of_which_ac_check", ("ac_s", "ac_check_s", "acflow_s"))):
        name = _first(cols, *names)
        if name:
            out[stage], src[stage] = col(name), name
    disjoint = [s for s in ("data", "setup", "day_ahead", "intraday", "solve", "check") if s in out]
    if "total_s" in cols:
        out["total"], src["total"] = col("total_s"), "total_s"
        out["other"] = out["total"] - out[disjoint].sum(axis=1) if disjoint else out["total"]
        src["other"] = "total_s - (" + " + ".join(disjoint) + ")"
    if walls is not None:
        w = [float("nan") if v is None else float(v) for v in walls]
        if len(w) != len(out):
            raise ValueError(f"stage_frame: {len(w)} day walls for {len(out)} timing rows")
        out["wall"] = w
        src["wall"] = "time between two days' commits (kpis/day=NNN mtimes)"
        if "write_s" in cols:
            out["write"], src["write"] = col("write_s"), "write_s"
        elif "total" in out:
            out["write"], src["write"] = out["wall"] - out["total"], "wall - total_s"
    return out, src


def stage_medians(frame: pd.DataFrame) -> tuple[dict[str, float | None], int]:
    """Median of every stage over the days, day 1 excluded when there is more than one day; the day count used."""
    days = frame.drop(index=frame.index.min()) if len(frame) > 1 else frame
    return {c: _median(days[c].tolist()) for c in frame.columns}, len(days)


def startup_seconds(launch: float, first_commit: float, day1_total: float, write_estimate: float | None) -> float:
    """Launch until day 1 starts: (day 1's commit - launch) - day 1's ``total_s`` - its write (estimate, 0 if none)."""
    return first_commit - launch - day1_total - (write_estimate or 0.0)


def resolves_per_day(kpis: pd.DataFrame) -> Record:
    """``mpc_solves`` of ``kpis.csv``: median over the days (day 1 excluded when there are more), day 1, the sum."""
    if "mpc_solves" not in kpis.columns or kpis.empty:
        return {"recorded": False, "median": None, "day1": None, "total": None,
                "note": "not recorded (no mpc_solves column in kpis.csv)"}
    v = kpis["mpc_solves"].astype(float).tolist()
    return {"recorded": True, "median": _median(v[1:] if len(v) > 1 else v), "day1": v[0], "total": float(sum(v)),
            "note": "kpis.csv mpc_solves"}


def flatness(rss_by_day: Mapping[int, float], ref_day: int = FLAT_REF_DAY, tol: float = FLAT_TOL) -> Record:
    """Whether memory stays flat: RSS when the last day commits within ``tol`` of the RSS at ``ref_day``.

    The reference is day ``ref_day`` (10) when the run has at least ``2 * ref_day`` days, else day
    ``last // 2`` (at least 1); a day without a sample takes the next sampled day's value.
    ``ratio`` = last / reference; flat when ``|ratio - 1| <= tol``."""
    if not rss_by_day:
        return {"ref_day": None, "last_day": None, "ratio": None, "flat": None, "note": "no samples"}
    days = sorted(rss_by_day)
    last = days[-1]
    ref = ref_day if last >= 2 * ref_day else max(1, last // 2)
    ref_eff = next(d for d in days if d >= ref)
    r_ref, r_last = float(rss_by_day[ref_eff]), float(rss_by_day[last])
    ratio = r_last / r_ref if r_ref > 0 else None
    return {"ref_day": ref_eff, "last_day": last, "rss_ref_mb": r_ref, "rss_last_mb": r_last, "ratio": ratio,
            "flat": None if ratio is None else abs(ratio - 1.0) <= tol,
            "note": "" if ref_eff == ref_day else f"run shorter than {2 * ref_day} days: day {ref_eff} as reference"}


def kpi_diff(before: pd.DataFrame, after: pd.DataFrame, tol: float = KPI_REL_TOL,
             floor: float = KPI_ABS_FLOOR) -> Record:
    """``kpis.csv`` after against before, row by row on (run, day): the largest relative difference per column.

    Relative difference = ``|a - b| / max(|a|, |b|)``; ``|a - b| <= floor`` counts as 0 and two NaNs as equal,
    one NaN against a number as 1.  Non-numeric shared columns must be equal.  ``moved`` lists the columns
    above ``tol``; ``total_cost_max_rel`` is the figure of the acceptance target."""
    key = [c for c in ("run", "day") if c in before.columns and c in after.columns]
    b = before.set_index(key) if key else before.reset_index(drop=True)
    a = after.set_index(key) if key else after.reset_index(drop=True)
    rows = b.index.intersection(a.index)
    b, a = b.loc[rows], a.loc[rows]
    shared = [c for c in b.columns if c in a.columns]
    rel: dict[str, float] = {}
    differ: list[str] = []
    for c in shared:
        if pd.api.types.is_numeric_dtype(b[c]) and pd.api.types.is_numeric_dtype(a[c]):
            x, y = b[c].to_numpy(dtype=float), a[c].to_numpy(dtype=float)
            worst = 0.0
            for xi, yi in zip(x, y, strict=True):
                if math.isnan(xi) and math.isnan(yi):
                    continue
                if math.isnan(xi) or math.isnan(yi):
                    worst = max(worst, 1.0)
                    continue
                d = abs(xi - yi)
                if d > floor:
                    worst = max(worst, d / max(abs(xi), abs(yi)))
            rel[c] = worst
        elif not b[c].astype(str).equals(a[c].astype(str)):
            differ.append(c)
    moved = sorted((c for c, v in rel.items() if v > tol), key=lambda c: -rel[c])
    return {"rows_before": len(before), "rows_after": len(after), "rows_compared": len(rows),
            "total_cost_max_rel": rel.get("total_cost"), "max_rel": rel, "moved": moved,
            "moved_rel": {c: rel[c] for c in moved}, "non_numeric_differ": differ,
            "only_before": [c for c in before.columns if c not in after.columns],
            "only_after": [c for c in after.columns if c not in before.columns]}


def _read_parts(out: Path, kind: str) -> pd.DataFrame:
    """``out/<kind>.csv``, or the per-day parts ``out/<kind>/day=NNN/*.csv`` of the committed days."""
    if (out / f"{kind}.csv").exists():
        return pd.read_csv(out / f"{kind}.csv")
    frames = []
    for d in commit_times(out):
        parts = sorted((out / kind / f"day={d:03d}").glob("*.csv"))
        frames += [pd.read_csv(p) for p in parts]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def commit_times(out: Path) -> dict[int, float]:
    """Day -> the mtime of its KPI part ``kpis/day=NNN/*.csv`` (written last: the day's commit), consecutive days."""
    times: dict[int, float] = {}
    d = 1
    while True:
        parts = [p for p in (out / "kpis" / f"day={d:03d}").glob("*.csv") if not p.name.startswith(".")]
        if not parts:
            return times
        times[d] = max(p.stat().st_mtime for p in parts)
        d += 1


def summarise_side(out: Path, launch: float, wall_s: float, memory: Record | None) -> Record:
    """Everything measured of one run on one side, from its output folder ``out`` (launched at the epoch
    ``launch``, ``wall_s`` seconds of process wall) and its memory samples (:class:`Sampler`)."""
    tim = _read_parts(out, "timings")
    kpis = _read_parts(out, "kpis")
    rec: Record = {"wall_s": wall_s, "days_done": len(kpis)}
    if tim.empty:
        rec.update(stages_median=None, stage_sources={}, note="no timings")
        return rec
    ct = commit_times(out)
    walls = day_walls([ct[d] for d in sorted(ct)]) if len(ct) == len(tim) else None
    frame, src = stage_frame(tim, walls)
    med, n = stage_medians(frame)
    rec.update(stages_median=med, stage_sources=src, days_in_median=n,
               stages_by_day=frame.reset_index().to_dict("list"))
    day1_total = float(frame["total"].iloc[0]) if "total" in frame else 0.0
    if ct:
        write1 = med.get("write") if len(frame) > 1 else None
        rec["startup_s"] = startup_seconds(launch, ct[min(ct)], day1_total, write1)
    if "total" in frame:
        rec["outside_days_s"] = wall_s - float(frame["total"].sum())
    rec["resolves"] = resolves_per_day(kpis)
    if "wall" in med and med["wall"] is not None:
        rec["projected_year_s"] = wall_s + (YEAR_DAYS - len(frame)) * med["wall"] if len(frame) < YEAR_DAYS else wall_s
    if memory is not None:
        mem = dict(memory)
        mem["flat"] = flatness(mem.get("rss_by_day_mb", {}))
        rec["memory"] = mem
    return rec


# ---------------------------------------------------------------------------------------- acceptance
def _verdict(value: float | None, limit: float, le: bool = True) -> str:
    if value is None:
        return "n/a"
    return "pass" if (value <= limit if le else value >= limit) else "fail"


def _after(runs: Mapping[str, Record], key: str) -> Record | None:
    r = runs.get(key)
    side = (r or {}).get("after")
    return side if side and side.get("stages_median") else None


def _days_note(side: Record) -> str:
    n = side.get("days_in_median", 0)
    return f"median over {n} day(s), fewer than the {MIN_MEDIAN_DAYS} the issue asks" if n < MIN_MEDIAN_DAYS else \
        f"median over {n} days"


def acceptance(runs: Mapping[str, Record], help_s: Mapping[str, float | None],
               startup: Mapping[str, Record] | None = None) -> list[Record]:
    """The acceptance targets of issue 15, each ``{target, value, limit, status, note}``, from the run
    summaries (``runs[key][side]`` as :func:`summarise_side`, ``runs[key]['kpis']`` as :func:`kpi_diff`)
    and the ``--help`` times; status ``pass``, ``fail`` or ``n/a`` (not measured)."""
    out: list[Record] = []

    def add(target: str, value: float | None, limit: float, note: str, le: bool = True,
            status: str | None = None, limit_text: str | None = None) -> None:
        out.append({"target": target, "value": value, "limit": limit, "status": status or _verdict(value, limit, le),
                    "limit_text": limit_text or f"{'≤' if le else '≥'} {limit:g}", "note": note})

    orc, mpc = _after(runs, "ieee33_oracle"), _after(runs, "ieee33_mpc")
    add("ieee33 cooperative oracle day (s, median wall)", orc["stages_median"].get("wall") if orc else None,
        ORACLE_DAY_MAX_S, _days_note(orc) if orc else "oracle run not measured")
    add("ieee33 cooperative mpc day (s, median wall)", mpc["stages_median"].get("wall") if mpc else None,
        MPC_DAY_MAX_S, _days_note(mpc) if mpc else "mpc run not measured")
    ac_src = orc or mpc
    if ac_src is None:
        add("AC check per day (s)", None, AC_DAY_MAX_S, "no ieee33 run measured")
    elif ac_src["stages_median"].get("of_which_ac_check") is not None:
        add("AC check per day (s)", ac_src["stages_median"]["of_which_ac_check"], AC_DAY_MAX_S,
            f"timings column {ac_src['stage_sources']['of_which_ac_check']}")
    else:
        check = ac_src["stages_median"].get("check")
        ok = check is not None and check <= AC_DAY_MAX_S
        add("AC check per day (s)", check, AC_DAY_MAX_S,
            "no AC column in timings.csv: the whole check stage (LinDistFlow, AC, KPIs, records) as an upper bound"
            + ("" if ok else "; it exceeds the limit, so the AC part alone is not judged"),
            status="pass" if ok else "n/a")
    loops = [s for s in (mpc, orc) if s is not None and s.get("startup_s") is not None]
    launched = (startup or {}).get("after") or {}
    if launched.get("median") is not None:
        add("process start-up, launch to day 1 (s)", launched["median"], STARTUP_MAX_S,
            f"{launched['note']}: {', '.join(_fmt(v, '.2f') for v in launched['launches'])} s")
    elif loops:
        # prefer a plain-loop run: the Dask run's start-up includes the local cluster's
        plain = [s for k, s in (("ieee33_mpc", mpc), ("ieee33_oracle", orc)) if s is not None
                 and s.get("startup_s") is not None and not (runs[k].get("config", {}).get("workers"))]
        su = (plain or loops)[0]
        which = next(k for k in ("ieee33_mpc", "ieee33_oracle") if runs.get(k, {}).get("after") is su)
        add("process start-up, launch to day 1 (s)", su["startup_s"], STARTUP_MAX_S, f"{which} run")
    else:
        add("process start-up, launch to day 1 (s)", None, STARTUP_MAX_S, "no ieee33 run measured")
    add("run_sim.py --help (s)", help_s.get("after"), HELP_MAX_S, "median of the launches")
    if orc is not None:
        days = orc.get("days_done", 0)
        add(f"{YEAR_DAYS}-day cooperative oracle run (s wall)", orc.get("projected_year_s"), YEAR_MAX_S,
            "measured" if days >= YEAR_DAYS
            else f"projected from {days} days: wall + ({YEAR_DAYS} - {days}) x median day")
        mem = orc.get("memory") or {}
        add("peak memory of the oracle run (MB, process tree)", mem.get("peak_tree_mb"), PEAK_MAX_MB,
            f"largest single process {_fmt(mem.get('peak_process_mb'), '.0f')} MB")
        fl = mem.get("flat") or {}
        ratio = fl.get("ratio")
        add("memory flat: RSS last day / reference day", ratio, FLAT_TOL,
            f"day {fl.get('last_day')} vs day {fl.get('ref_day')}" + (f"; {fl['note']}" if fl.get("note") else ""),
            status=None if ratio is None else ("pass" if fl.get("flat") else "fail"),
            limit_text=f"abs(ratio - 1) ≤ {FLAT_TOL:g}")
    else:
        for t, lim in ((f"{YEAR_DAYS}-day cooperative oracle run (s wall)", YEAR_MAX_S),
                       ("peak memory of the oracle run (MB, process tree)", PEAK_MAX_MB),
                       ("memory flat: RSS last day / reference day", FLAT_TOL)):
            add(t, None, lim, "oracle run not measured", limit_text="–")
    for s in OTHER_SYSTEMS:
        r = runs.get(s) or {}
        sp = (r.get("ratios") or {}).get("wall")
        add(f"{s} day speed-up (before / after median wall)", sp, OTHER_MIN_SPEEDUP,
            _days_note(r["after"]) if r.get("after", {}).get("stages_median") else "not measured", le=False)
    for key, r in runs.items():
        kd = r.get("kpis")
        if not kd:
            add(f"{key} kpis.csv unchanged (total cost, max rel. diff)", None, KPI_REL_TOL, "not compared")
            continue
        moved = ", ".join(f"{c} {v:.1e}" for c, v in kd["moved_rel"].items())
        extra = []
        if kd["non_numeric_differ"]:
            extra.append("text columns differ: " + ", ".join(kd["non_numeric_differ"]))
        if kd["only_before"] or kd["only_after"]:
            extra.append(f"columns only before: {kd['only_before'] or '-'}, only after: {kd['only_after'] or '-'}")
        if kd["rows_before"] != kd["rows_after"]:
            extra.append(f"rows before {kd['rows_before']}, after {kd['rows_after']}")
        add(f"{key} kpis.csv unchanged (total cost, max rel. diff)", kd["total_cost_max_rel"], KPI_REL_TOL,
            "; ".join([f"{kd['rows_compared']} days; columns moving > {KPI_REL_TOL:g}: {moved or 'none'}", *extra]))
    return out


def ratios(before: Record, after: Record) -> Record:
    """before / after of every median stage, the start-up, the process wall and the peak memory (> 1: after better)."""
    out: Record = {}
    bm, am = before.get("stages_median") or {}, after.get("stages_median") or {}
    for k in am:
        b, a = bm.get(k), am.get(k)
        out[k] = b / a if b is not None and a is not None and a > 0 and b >= 0 else None
    for k in ("startup_s", "wall_s"):
        b, a = before.get(k), after.get(k)
        out[k] = b / a if b is not None and a is not None and a > 0 else None
    bp, ap = (before.get("memory") or {}).get("peak_tree_mb"), (after.get("memory") or {}).get("peak_tree_mb")
    out["peak_tree_mb"] = bp / ap if bp and ap else None
    return out


# -------------------------------------------------------------------------------------- running
def _proc_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (psutil if installed, else ``/proc``)."""
    try:
        import psutil

        try:
            p = psutil.Process(pid)
            return [pid, *(c.pid for c in p.children(recursive=True))]
        except psutil.Error:
            return []
    except ImportError:
        pass
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        q = todo.pop()
        tree.append(q)
        todo += children.get(q, [])
    return tree


def _status_kb(pid: int, field: str) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _rss_mb(pid: int) -> float | None:
    try:
        import psutil

        try:
            return float(psutil.Process(pid).memory_info().rss) / 2**20
        except psutil.Error:
            return None
    except ImportError:
        kb = _status_kb(pid, "VmRSS")
        return None if kb is None else kb / 1024


class Sampler(threading.Thread):
    """Samples the RSS of a process tree every ``interval`` seconds; records the tree's RSS when a day commits
    (a new ``kpis/day=NNN/*.csv`` under ``out``) and prints a progress line every ``every`` days."""

    def __init__(self, pid: int, out: Path, days: int, interval: float, label: str) -> None:
        super().__init__(daemon=True)
        self.pid, self.out, self.days, self.interval, self.label = pid, out, days, interval, label
        self.every = max(1, days // 10)
        self._stop_event = threading.Event()
        self.peak_tree_mb = 0.0
        self.peak_process_mb = 0.0
        self.hwm_mb: dict[int, float] = {}
        self.rss_by_day: dict[int, float] = {}
        self.samples = 0
        self.done = 0

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    def sample(self) -> None:
        rss = [(p, _rss_mb(p)) for p in _proc_tree(self.pid)]
        vals = [(p, v) for p, v in rss if v is not None]
        if not vals:
            return
        self.samples += 1
        tree = sum(v for _, v in vals)
        self.peak_tree_mb = max(self.peak_tree_mb, tree)
        self.peak_process_mb = max(self.peak_process_mb, max(v for _, v in vals))
        for p, _ in vals:
            hwm = _status_kb(p, "VmHWM")
            if hwm is not None:
                self.hwm_mb[p] = max(self.hwm_mb.get(p, 0.0), hwm / 1024)
        while any(not q.name.startswith(".") for q in (self.out / "kpis" / f"day={self.done + 1:03d}").glob("*.csv")):
            self.done += 1
            self.rss_by_day[self.done] = tree
            if self.done % self.every == 0 or self.done == self.days:
                _say(f"{self.label}: day {self.done}/{self.days}, RSS {tree:.0f} MB")

    def result(self) -> Record:
        return {"peak_tree_mb": self.peak_tree_mb or None, "peak_process_mb": self.peak_process_mb or None,
                "hwm_max_process_mb": max(self.hwm_mb.values()) if self.hwm_mb else None,
                "rss_by_day_mb": dict(self.rss_by_day), "samples": self.samples, "interval_s": self.interval}


def _stop_child(proc: subprocess.Popen[bytes]) -> None:
    """End ``proc`` (started by us) if it still runs: a few seconds to finish a Ctrl-C it received too, then
    SIGINT (it writes what it finished), SIGTERM, SIGKILL; then SIGTERM to any of its descendants left (Dask)."""
    if proc.poll() is not None:
        return
    descendants = _proc_tree(proc.pid)[1:]
    for sig, wait in ((None, 5.0), (signal.SIGINT, 20.0), (signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        if proc.poll() is not None:
            break
        if sig is not None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=wait)
    for pid in descendants:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)


#: The packages of a tree whose bytecode is compiled before it is measured (as ``make run`` / ``make test`` do).
SOURCE_DIRS = ("agents", "market", "sim", "scenarios", "studies", "run_sim.py")


def precompile(tree: Path) -> None:
    """Write the bytecode of ``tree``'s modules (``python -m compileall``), so neither side's start-up includes
    compiling its sources (a machine with ``PYTHONDONTWRITEBYTECODE`` set would compile them at every launch)."""
    targets = [str(tree / d) for d in SOURCE_DIRS if (tree / d).exists()]
    res = subprocess.run([sys.executable, "-m", "compileall", "-q", *targets], capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"year.py: compiling the modules of {tree} failed: {res.stdout.strip()} {res.stderr.strip()}")


def _env(tree: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(tree))


def run_side(tree: Path, cfg: RunConfig, out: Path, seed: int, label: str, sample_s: float) -> Record:
    """``run_sim.py simulate`` of ``cfg`` in ``tree`` into ``out``, sampled; its :func:`summarise_side` record."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    argv = [sys.executable, *cfg.argv(out, seed)]
    _say(f"{label}: {' '.join(argv[1:])}")
    log = out.parent / f"{out.name}.stderr"
    launch, t0 = time.time(), time.perf_counter()
    with log.open("wb") as err:
        proc = subprocess.Popen(argv, cwd=tree, env=_env(tree), stdout=subprocess.DEVNULL, stderr=err)
        sampler = Sampler(proc.pid, out, cfg.days, sample_s, label)
        sampler.sample()
        sampler.start()
        try:
            rc = proc.wait()
        finally:
            _stop_child(proc)
            sampler.stop()
    wall = time.perf_counter() - t0
    rec = summarise_side(out, launch, wall, sampler.result())
    rec["returncode"] = rc
    rec["ok"] = rc == 0 and rec["days_done"] == cfg.days
    if not rec["ok"]:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
        rec["error"] = f"exit status {rc}, {rec['days_done']}/{cfg.days} days: " + " | ".join(tail)
        _say(f"{label}: FAILED ({rec['error']})")
    else:
        med = rec.get("stages_median") or {}
        _say(f"{label}: {cfg.days} days in {wall:.1f} s (median day {_fmt(med.get('wall'))} s, start-up "
             f"{_fmt(rec.get('startup_s'))} s, peak {_fmt(sampler.peak_tree_mb, '.0f')} MB)")
    manifest = out / "manifest.json"
    if manifest.exists():
        rec["code_version"] = json.loads(manifest.read_text(encoding="utf-8")).get("code_version")
    return rec


def startup_launches(tree: Path, work: Path, repeats: int, label: str) -> Record:
    """Start-up of ``repeats`` launches of a one-day ieee33 cooperative oracle run in ``tree`` (plain loop): each is
    :func:`startup_seconds` with day 1's own ``total_s`` and ``write_s``; their median is the figure judged (one
    launch varies by several tenths of a second on a shared machine)."""
    values: list[float] = []
    for i in range(repeats):
        out = work / f"startup-{label}-{i}"
        if out.exists():
            shutil.rmtree(out)
        argv = [sys.executable, "run_sim.py", "simulate", "--scenario", "ieee33", "--days", "1", "--mode",
                "cooperative", "--replay", "oracle", "--workers", "1", "--quiet", "--out", str(out)]
        launch = time.time()
        res = subprocess.run(argv, cwd=tree, env=_env(tree), capture_output=True, check=False)
        ct = commit_times(out)
        tim = _read_parts(out, "timings")
        if res.returncode != 0 or not ct or tim.empty:
            return {"launches": values, "median": None, "note": f"launch {i + 1} failed (exit {res.returncode})"}
        write1 = float(tim["write_s"].iloc[0]) if "write_s" in tim.columns else None
        values.append(startup_seconds(launch, ct[min(ct)], float(tim["total_s"].iloc[0]), write1))
    return {"launches": values, "median": _median(values), "note": f"median of {repeats} one-day launches"}


def help_seconds(tree: Path, repeats: int) -> float | None:
    """Median wall seconds of ``python run_sim.py --help`` launched in ``tree``."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = subprocess.run([sys.executable, "run_sim.py", "--help"], cwd=tree, env=_env(tree),
                             capture_output=True, check=False)
        if res.returncode != 0:
            return None
        times.append(time.perf_counter() - t0)
    return _median(times)


@contextlib.contextmanager
def base_worktree(rev: str) -> Iterator[Path]:
    """A temporary ``git worktree add --detach`` of ``rev``; removed on exit (also on an exception or Ctrl-C)."""
    tmp = Path(tempfile.mkdtemp(prefix="year-base-"))
    tree = tmp / "base"
    res = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), rev],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SystemExit(f"year.py: --base {rev}: git worktree add failed in {ROOT}: {res.stderr.strip()} "
                         "(give a commit of this repository, e.g. fe99a09, or --base-tree DIR)")
    try:
        yield tree
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], capture_output=True,
                       check=False)
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt (so the worktree and the children are cleaned up as on Ctrl-C)."""
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


# ------------------------------------------------------------------------------------- reporting
def _fmt(v: Any, spec: str = ".3f") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int | float):
        text = format(v, spec)
        return text[1:] if text.startswith("-") and float(text) == 0 else text  # no "-0.000"
    return str(v)


STAGE_LABELS = {
    "wall": "day, wall (commit to commit)", "total": "day, total_s (inside the day)", "data": "data",
    "setup": "setup (data into agents/models)", "day_ahead": "day-ahead", "intraday": "intraday",
    "solve": "solve (day-ahead + intraday)", "of_which_market": "  of which market",
    "of_which_mpc": "  of which mpc loop", "check": "check (network, KPIs)", "of_which_ac_check": "  of which AC check",
    "write": "write (wall - total)", "other": "other (total - stages)",
}


def run_table(run: Record) -> pd.DataFrame:
    """One run's before / after / ratio rows: the median stages, start-up, wall, re-solves, memory."""
    sides = {s: run.get(s) or {} for s in SIDES}
    rat = run.get("ratios") or {}
    med = {s: sides[s].get("stages_median") or {} for s in SIDES}
    keys = [k for k in STAGE_LABELS if any(k in med[s] for s in SIDES)]
    rows = [{"metric": f"{STAGE_LABELS[k]} (s)", "before": med["before"].get(k), "after": med["after"].get(k),
             "before/after": rat.get(k)} for k in keys]

    def row(label: str, get: Any, ratio: float | None = None, spec: str = ".3f") -> None:
        rows.append({"metric": label, "before": get(sides["before"]), "after": get(sides["after"]),
                     "before/after": ratio, "_spec": spec})

    row("days in the median", lambda s: s.get("days_in_median"), spec="d")
    row("re-solves per day (mpc_solves)", lambda s: (s.get("resolves") or {}).get("median"), spec=".0f")
    row("start-up: launch to day 1 (s)", lambda s: s.get("startup_s"), rat.get("startup_s"))
    row("process wall - sum of total_s (s)", lambda s: s.get("outside_days_s"))
    row("process wall (s)", lambda s: s.get("wall_s"), rat.get("wall_s"), ".1f")
    row("peak RSS, process tree (MB)", lambda s: (s.get("memory") or {}).get("peak_tree_mb"), rat.get("peak_tree_mb"),
        ".0f")
    row("peak RSS, largest process (MB)", lambda s: (s.get("memory") or {}).get("peak_process_mb"), spec=".0f")
    row("RSS last day / reference day", lambda s: ((s.get("memory") or {}).get("flat") or {}).get("ratio"))
    table = pd.DataFrame([{k: (_fmt(v, str(r.get("_spec", ".3f"))) if k in ("before", "after") else
                               _fmt(v, ".2f") if k == "before/after" else v)
                           for k, v in r.items() if k != "_spec"} for r in rows])
    return table


def render_markdown(doc: Record) -> str:
    cfg, machine = doc["config"], doc["machine"]
    out = [
        "# Benchmark: a simulated year (issue 15)", "",
        f"Generated {machine.get('date', '')} on {machine.get('platform', '')} ({machine.get('cpu_count', '?')} "
        f"CPUs, load average at start {machine.get('load_average_at_start')}). Before = `{cfg['base']}`, "
        "after = this checkout "
        f"(`{doc.get('after_code_version') or '?'}`); seed {cfg['seed']}; each run before then after, back to back, "
        f"same Python. Total {doc['total_wall_s']:.0f} s.", "",
        "Per-day figures are medians over the days, day 1 excluded (it builds). wall = time between two days' "
        "commits; write = wall - total_s; start-up = launch until day 1 starts. before/after > 1: the after "
        "code is faster (smaller). The stage columns each system records differ: see *sources* below each table.",
        "",
        "## Acceptance targets", "",
        markdown_table(pd.DataFrame([{"target": a["target"], "value": _fmt(a["value"], ".3g"),
                                      "limit": a["limit_text"],
                                      "status": a["status"], "note": a["note"]} for a in doc["acceptance"]])),
        "",
        f"`run_sim.py --help`: before {_fmt(doc['help_s'].get('before'))} s, "
        f"after {_fmt(doc['help_s'].get('after'))} s. Start-up (launch to day 1, median of one-day ieee33 "
        f"launches): before {_fmt(((doc.get('startup') or {}).get('before') or {}).get('median'))} s, "
        f"after {_fmt(((doc.get('startup') or {}).get('after') or {}).get('median'))} s.",
        "",
    ]
    for key, run in doc["runs"].items():
        c = run["config"]
        out += [f"## {key}: {c['scenario']} {c['mode'] or '(default mode)'}, {c['replay']} replay, {c['days']} days"
                f"{', --workers ' + str(c['workers']) if c.get('workers') else ''}", ""]
        out += [markdown_table(run_table(run)), ""]
        for s in SIDES:
            side = run.get(s)
            if side is None:
                continue
            if side.get("error"):
                out.append(f"- **{s} failed**: {side['error']}")
            srcs = "; ".join(f"{STAGE_LABELS.get(k, k).strip()} = {v}"
                             for k, v in side.get("stage_sources", {}).items())
            out.append(f"- {s} sources: {srcs or '–'}; code {side.get('code_version') or '?'}; re-solves: "
                       f"{(side.get('resolves') or {}).get('note', '–')}")
        kd = run.get("kpis")
        if kd:
            out.append(f"- kpis.csv: {kd['rows_compared']} days compared; total cost max rel. diff "
                       f"{_fmt(kd['total_cost_max_rel'], '.2e')}; columns moving > {KPI_REL_TOL:g}: "
                       + (", ".join(f"{k} ({v:.2e})" for k, v in kd["moved_rel"].items()) or "none"))
        out.append("")
    return "\n".join(out)


# ------------------------------------------------------------------------------------------ main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(None if argv is None else [str(a) for a in argv])
    configs = run_configs(args)
    sides = [args.only] if args.only else list(SIDES)
    t_start = time.perf_counter()
    machine = machine_info()
    _say(f"runs {', '.join(f'{c.key} ({c.days} d)' for c in configs)}; sides {', '.join(sides)}; base "
         f"{args.base_tree or args.base}")
    runs: dict[str, Record] = {c.key: {"config": {"scenario": c.scenario, "replay": c.replay, "days": c.days,
                                                  "mode": c.mode, "workers": c.workers}} for c in configs}
    help_s: dict[str, float | None] = {}
    startup: dict[str, Record] = {}
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(_sigterm_as_interrupt())
            work = (Path(args.work) if args.work
                    else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="year-"))))
            trees: dict[str, Path] = {"after": ROOT}
            if "before" in sides:
                trees["before"] = (args.base_tree.resolve() if args.base_tree
                                   else stack.enter_context(base_worktree(args.base)))
            for s in sides:
                precompile(trees[s])
                help_s[s] = help_seconds(trees[s], args.help_repeats)
                _say(f"{s}: run_sim.py --help {_fmt(help_s[s])} s")
                if args.startup_repeats and any(c.scenario == "ieee33" for c in configs):
                    startup[s] = startup_launches(trees[s], work, args.startup_repeats, s)
                    _say(f"{s}: start-up {_fmt(startup[s].get('median'))} s ({startup[s]['note']})")
            for c in configs:
                for s in sides:
                    cs = c
                    if s == "before" and args.before_days_max and c.days > args.before_days_max:
                        cs = dataclasses.replace(c, days=args.before_days_max)
                        runs[c.key]["config"]["days_before"] = cs.days
                    runs[c.key][s] = run_side(trees[s], cs, work / f"{c.key}-{s}", args.seed, f"{s} {c.key}",
                                              args.sample_s)
                if len(sides) == 2:
                    b, a = runs[c.key]["before"], runs[c.key]["after"]
                    runs[c.key]["ratios"] = ratios(b, a)
                    kb = _read_parts(work / f"{c.key}-before", "kpis")
                    ka = _read_parts(work / f"{c.key}-after", "kpis")
                    if not kb.empty and not ka.empty:
                        runs[c.key]["kpis"] = kpi_diff(kb, ka)
    except KeyboardInterrupt:
        _say("interrupted: nothing written; the base worktree is removed, "
             + (f"the run folders are kept in {args.work}" if args.work else "the temporary run folders too"))
        return 130
    acc = acceptance(runs, help_s, startup)
    failed = [c.key + " " + s for c in configs for s in sides if not runs[c.key][s].get("ok")]
    doc: Record = {
        "benchmark": "year", "schema_version": SCHEMA_VERSION, "machine": machine,
        "config": {"base": f"tree {args.base_tree.name}" if args.base_tree else args.base,
                   "quick": bool(args.quick), "seed": args.seed, "sides": sides,
                   "runs": {k: r["config"] for k, r in runs.items()}, "sample_s": args.sample_s,
                   "oracle_workers": args.oracle_workers},
        "after_code_version": next((r["after"].get("code_version") for r in runs.values() if r.get("after")), None),
        "help_s": help_s, "startup": startup, "runs": runs, "acceptance": acc, "failed_runs": failed,
        "total_wall_s": time.perf_counter() - t_start,
    }
    doc = jsonable(doc)
    json_path = write_json(doc, args.out / JSON_NAME)
    md_path = write_text(render_markdown(doc), args.out / MD_NAME)
    for a in acc:
        _say(f"{a['status']:>4}  {a['target']}: {_fmt(a['value'], '.3g')} ({a['limit_text']}) {a['note']}")
    _say(f"wrote {json_path} and {md_path} ({doc['total_wall_s']:.0f} s)")
    return 1 if failed or any(a["status"] == "fail" for a in acc) else 0


if __name__ == "__main__":
    sys.exit(main())

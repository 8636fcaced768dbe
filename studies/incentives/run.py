"""``run_sim.py study incentives``: is the cooperative settlement (NB-2 with contribution weights) manipulable, stable
and in the core on realistic days?  (Issue 16, deliverable 6; SPEC §5.5 and §8.)

:func:`run_incentives_study` simulates the runs of :mod:`studies.incentives.plan` with the simulator's engine
(:func:`sim.engine.run.execute`, one run per folder ``runs/<point>/`` with its own ``manifest.json``, ``kpis.csv``
and per-agent records), on a pool of worker processes (:func:`studies.common.pool.run_tasks`; the runs are
independent, so they are the tasks), then computes the tables (:mod:`studies.incentives.tables`) and writes, all
atomically:

- ``deviations.csv`` — the unilateral-deviation table; a deviation the system refuses (at load or when the run
  starts) is a row with ``available`` False and the system's message ("not available on <system>: ...");
- ``audit.csv`` — the core and Shapley audit of the truthful baseline, per day and player;
- ``learning.csv`` — each learner's EXP3 probabilities, chosen ``m`` and paired gain per day, with and without
  ``market.verify_standalone``;
- ``leave.csv`` — who stays out of the coalition on which day, and the system cost of it;
- ``days.csv`` — the paired raw data: per run, day and player its true costs and gains and the day's system cost;
- ``runs.csv`` — every run: role, player, what it varies, status, message, days, wall seconds, solver calls;
- ``study.json`` — the settings, the grid, the leave setting, the players, timings and solves per day, provenance;
- ``figures/*.png`` and ``report.md`` (:mod:`studies.incentives.report`, from the files above only).

Solver calls are counted in each worker by wrapping :meth:`agents.milp.HighsModel.solve` while its run executes
(:func:`counting_solves`).  The coalition-rejection warnings of NB-2 (``market.nash``) are silenced while the runs
execute: the study counts those days itself (``days_all_standalone``).
"""

from __future__ import annotations

import functools
import gc
import logging
import math
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from scenarios.schema import ScenarioError
from sim.engine.failure import RunsFailed
from sim.engine.io import environment_info, make_dirs, write_csv, write_json
from sim.engine.records import AGENT_COLUMNS
from sim.engine.run import code_version, execute, load_scenario
from sim.engine.spec import RunSpec, SimSettings
from sim.engine.system import System
from studies.common.io import progress_printer
from studies.common.pool import run_tasks
from studies.incentives import IncentivesError
from studies.incentives import plan as pl
from studies.incentives import tables as tb

log = logging.getLogger(__name__)

RUN_COLUMNS: tuple[str, ...] = ("point", "role", "player", "family", "parameter", "value", "verify_standalone",
                                "variant", "overrides", "status", "message", "days", "wall_s", "solves")


@dataclass(frozen=True)
class Target:
    """The scenario the study runs on: as named on the command line, its system kind, the bargaining players
    (:meth:`sim.engine.system.System.bargaining_agents`) and the currency of its costs."""

    scenario: str
    kind: str
    players: tuple[str, ...]
    currency: str


def load_target(name: str) -> Target:
    """The study's :class:`Target` for the bundled scenario or folder ``name``.

    Raises :class:`~scenarios.schema.ScenarioError` when the scenario cannot be loaded or its system has no
    bargaining players (then there is no deviation to study)."""
    from sim.systems import system_for

    system = system_for(name)
    sc = load_scenario(system, name)
    players = tuple(system.bargaining_agents(sc))
    if len(players) < 2:
        raise ScenarioError(
            f"{name}: the {system.kind} system names {len(players)} bargaining player(s) "
            f"({', '.join(players) or 'none'}; System.bargaining_agents), so its cooperative mode has no bargaining "
            "to deviate from; the incentives study needs at least 2 players")
    return Target(name, system.kind, players, system.currency(sc))


# ---------------------------------------------------------------------------------------------- one run (a task)
@contextmanager
def counting_solves() -> Iterator[list[int]]:
    """Count the calls of :meth:`agents.milp.HighsModel.solve` in this process while the block runs
    (``box[0]``); every HiGHS solve of every system goes through it."""
    from agents.milp import HighsModel

    original = HighsModel.solve
    box = [0]

    @functools.wraps(original)
    def solve(self: Any, *args: Any, **kwargs: Any) -> Any:
        box[0] += 1
        return original(self, *args, **kwargs)

    HighsModel.solve = solve  # type: ignore[method-assign]
    try:
        yield box
    finally:
        HighsModel.solve = original  # type: ignore[method-assign]


@contextmanager
def _quiet_rejections() -> Iterator[None]:
    nash = logging.getLogger("market.nash")
    level = nash.level
    nash.setLevel(logging.ERROR)
    try:
        yield
    finally:
        nash.setLevel(level)


@dataclass(frozen=True)
class Task:
    """One run to execute into ``folder`` (absolute) on the scenario ``scenario``."""

    folder: str
    scenario: str
    spec: RunSpec
    command: str


def settings_for(scenario: str) -> SimSettings:
    """The study's simulation settings: the scenario, the oracle replay (the cooperative mode's audit and
    bargaining behaviours act on the realised day), the engine's defaults otherwise."""
    return SimSettings(scenario=scenario, replay="oracle")


def _setup(scenario: str) -> System:
    """A worker's state: the scenario's system (imported once per process); Pyomo's many small objects make the
    default first GC threshold re-scan them again and again (as ``run_sim.py`` does, a larger one)."""
    from sim.systems import system_for

    gc.set_threshold(100_000, 50, 100)
    return system_for(scenario)


def run_task(system: System, task: Task) -> dict[str, Any]:
    """Execute ``task``'s run into its folder; ``{point, status, message, days, wall_s, solves}``.

    ``status``: ``ok``; ``unavailable`` when the system refuses the run when it starts (a ``ValueError`` such as a
    behaviour it does not implement; the folder is removed); ``failed`` when a day failed (the committed days are
    kept and used)."""
    folder = Path(task.folder)
    if folder.exists():
        shutil.rmtree(folder)
    t0 = time.perf_counter()
    status, message, days = "ok", "", 0
    with counting_solves() as n, _quiet_rejections():
        try:
            kpis = execute(folder, system, [task.spec], settings_for(task.scenario), workers=1, command=task.command)
            days = len(kpis)
        except RunsFailed as exc:
            status = "failed"
            message = " ".join(f.paragraph() for f in exc.failures)
            days = len(exc.kpis) if isinstance(exc.kpis, pd.DataFrame) else 0
        except ValueError as exc:
            status, message = "unavailable", f"not available on {system.kind}: {exc}"
            shutil.rmtree(folder, ignore_errors=True)
    return {"point": task.spec.point, "status": status, "message": message, "days": days,
            "wall_s": time.perf_counter() - t0, "solves": n[0]}


# ---------------------------------------------------------------------------------------------- the study
@dataclass
class IncentivesResult:
    out: Path
    runs: pd.DataFrame
    deviations: pd.DataFrame
    audit: pd.DataFrame
    learning: pd.DataFrame
    leave: pd.DataFrame
    days: pd.DataFrame
    meta: dict[str, Any]

    @property
    def deviation_summary(self) -> pd.DataFrame:
        """The deviation table as printed: player, deviation, days, own and system cost change, profitable days."""
        cols = ["player", "deviation", "n_days", "own_cost_change", "own_cost_change_ci_low", "own_cost_change_ci_high",
                "system_cost_change", "profitable_days"]
        return self.deviations[cols]

    @property
    def unavailable(self) -> pd.DataFrame:
        return self.runs.loc[self.runs["status"] != "ok", ["point", "status", "message"]]


def _run_row(r: pl.PlannedRun) -> dict[str, Any]:
    d = r.deviation
    return {"point": r.point, "role": r.role, "player": r.player, "family": d.family if d else "",
            "parameter": d.parameter if d else "", "value": d.value if d and d.parameter else math.nan,
            "verify_standalone": r.verify, "variant": r.variant,
            "overrides": "; ".join(f"{p}={v}" for p, v in r.spec.overrides)}


def _execute(planned: Sequence[pl.PlannedRun], target: Target, out: Path, workers: int, command: str,
             say: Callable[[str], None]) -> list[dict[str, Any]]:
    """Run ``planned`` (those the scenario loader refuses are recorded without running); their ``runs.csv`` rows."""
    from sim.systems import system_for

    system = system_for(target.scenario)
    rows: dict[str, dict[str, Any]] = {}
    tasks: list[Task] = []
    for r in planned:
        row = _run_row(r)
        try:
            load_scenario(system, target.scenario, r.spec.overrides)
        except ValueError as exc:  # refused at load (ScenarioError, BehaviourError): recorded, not run
            rows[r.point] = row | {"status": "unavailable", "message": f"not available on {system.kind}: {exc}",
                                   "days": 0, "wall_s": 0.0, "solves": 0}
            say(f"{r.point}: not available on {system.kind}")
            continue
        rows[r.point] = row
        tasks.append(Task(str((out / "runs" / r.point).resolve()), target.scenario, r.spec, command))
    done = [0]

    def on_done(task: Task, res: dict[str, Any]) -> None:
        done[0] += 1
        spd = res["solves"] / res["days"] if res["days"] else math.nan
        say(f"[{done[0]}/{len(tasks)}] {task.spec.point}: {res['status']}, {res['days']} day(s) in "
            f"{res['wall_s']:.1f} s, {spd:.1f} solves/day" + (f" — {res['message'][:160]}" if res["message"] else ""))

    results = run_tasks(run_task, tasks, setup=functools.partial(_setup, target.scenario), workers=workers,
                        on_done=on_done)
    for res in results:
        rows[res["point"]] |= res
    return [rows[r.point] for r in planned]


def _read_run(out: Path, spec: RunSpec, players: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A finished run's KPI rows (``point, day, total_cost``) and its players' and the coordinator's records."""
    folder = out / "runs" / spec.point
    kpis = pd.read_csv(folder / "kpis.csv")
    kpis = kpis.assign(point=spec.point)[["point", "day", "total_cost"]]
    parts = []
    for d in kpis["day"]:
        p = folder / "agents" / f"day={int(d):03d}" / f"{spec.name}.parquet"
        if p.exists():
            parts.append(pd.read_parquet(p, columns=list(AGENT_COLUMNS)))
    if not parts:
        raise ValueError(f"{folder}: the run wrote no per-agent records; the incentives study needs them")
    rec = pd.concat(parts, ignore_index=True)
    rec = rec[rec["agent_id"].isin([*players, "market"])].assign(point=spec.point)
    return kpis, rec[["point", "day", "agent_id", "behaviour", "variable", "value"]]


def _collect(out: Path, planned: Sequence[pl.PlannedRun], rows: Sequence[dict[str, Any]],
             players: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    ks, rs = [], []
    for r, row in zip(planned, rows, strict=True):
        if row["status"] == "unavailable" or row["days"] == 0:
            continue
        k, rec = _read_run(out, r.spec, players)
        ks.append(k)
        rs.append(rec)
    return pd.concat(ks, ignore_index=True), pd.concat(rs, ignore_index=True)


def run_incentives_study(out: str | Path, *, scenario: Target | str = "ieee33", days: int = 14, seed: int = 0,
                         quick: bool = False, learners: Sequence[str] | None = None,
                         deviators: Sequence[str] | None = None, workers: int = 1,
                         figures: bool = True, quiet: bool = False, command: str = "") -> IncentivesResult:
    """Run the study into ``out`` and write every file of the module docstring; returns the tables."""
    t_all = time.perf_counter()
    say = progress_printer(quiet)
    target = scenario if isinstance(scenario, Target) else load_target(scenario)
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise IncentivesError(f"days must be a whole number >= 1, got {days!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise IncentivesError(f"seed must be a whole number >= 0, got {seed!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise IncentivesError(f"workers must be a whole number >= 1, got {workers!r}")
    players = target.players
    chosen = list(learners) if learners else ([players[0]] if quick else list(players))
    out = make_dirs(Path(out))
    try:
        first = pl.first_runs(players, chosen, seed, days, quick, deviators)
    except ValueError as exc:
        raise IncentivesError(str(exc)) from None
    say(f"{target.kind} ({target.scenario}): players {', '.join(players)}; {len(first)} runs of {days} day(s), "
        f"seed {seed}, {workers} worker(s)")
    t1 = time.perf_counter()
    rows = _execute(first, target, out, workers, command, say)
    base_row = rows[0]
    if base_row["status"] != "ok" or base_row["days"] < 1:
        raise IncentivesError(f"the truthful baseline did not run ({base_row['status']}): {base_row['message']}")
    kpis, rec = _collect(out, first, rows, players)
    days_df = tb.day_frame(rec, kpis, players)
    runs_df = pd.DataFrame(rows)
    dev_runs = runs_df[runs_df["role"] == "deviation"]
    deviations = tb.deviation_table(days_df, dev_runs, players, pl.BASELINE, target.currency)
    gains = tb.truthful_mean_gains(days_df, pl.BASELINE, players)
    lie = tb.most_profitable_lie(deviations)
    first_s = time.perf_counter() - t1
    leave_planned = pl.leave_runs(players, lie[0] if lie else None, lie[1] if lie else math.nan, gains, seed, days)
    say("leave dynamics: " + (f"{lie[0]} lies with m = {lie[1]:g}, " if lie else "no lie pays, ")
        + f"the others leave below {pl.LEAVE_FRACTION:g} × their truthful mean gain")
    t2 = time.perf_counter()
    leave_rows = _execute(leave_planned, target, out, min(workers, len(leave_planned)), command, say)
    leave_s = time.perf_counter() - t2
    k2, r2 = _collect(out, leave_planned, leave_rows, players)
    kpis = pd.concat([kpis, k2], ignore_index=True)
    rec = pd.concat([rec, r2], ignore_index=True)
    days_df = tb.day_frame(rec, kpis, players)
    runs_df = pd.DataFrame([*rows, *leave_rows], columns=list(RUN_COLUMNS))
    market = rec[rec["agent_id"] == "market"]
    audit = tb.audit_table(days_df, market, pl.BASELINE, players, target.currency)
    learning = tb.learning_table(days_df, runs_df[runs_df["role"] == "learning"], pl.BASELINE, pl.LEARN_GRID,
                                 target.currency)
    leave = tb.leave_table(days_df, runs_df[runs_df["role"] == "leave"], pl.BASELINE, target.currency)
    meta = _meta(target, days, seed, quick, chosen, list(deviators or players), workers, runs_df, lie, gains,
                 first_s, leave_s, time.perf_counter() - t_all, command)
    write_csv(deviations, out / "deviations.csv")
    write_csv(audit, out / "audit.csv")
    write_csv(learning, out / "learning.csv")
    write_csv(leave, out / "leave.csv")
    write_csv(days_df, out / "days.csv")
    write_csv(runs_df, out / "runs.csv")
    write_json(meta, out / "study.json")
    say(f"tables written to {out}")
    if figures:
        from studies.incentives.report import render

        figs, report = render(out)
        say(f"{len(figs)} figures and {report.name} written")
    say(f"study finished in {time.perf_counter() - t_all:.1f} s")
    return IncentivesResult(out, runs_df, deviations, audit, learning, leave, days_df, meta)


def _meta(target: Target, days: int, seed: int, quick: bool, learners: Sequence[str], deviators: Sequence[str],
          workers: int,
          runs: pd.DataFrame, lie: tuple[str, float, float] | None, gains: dict[str, float], first_s: float,
          leave_s: float, total_s: float, command: str) -> dict[str, Any]:
    ok = runs[runs["status"] != "unavailable"]
    sim_days = int(ok["days"].sum())
    base = runs.iloc[0]
    return {
        "study": "incentives", "scenario": target.scenario, "system": target.kind, "currency": target.currency,
        "players": list(target.players), "deviators": list(deviators), "days": days, "seed": seed, "quick": quick,
        "mode": pl.MODE,
        "replay": settings_for(target.scenario).replay, "workers": workers, "command": command,
        "grid": [{"family": d.family, "parameter": d.parameter, "value": d.value if d.parameter else None}
                 for d in pl.deviation_grid(quick)],
        "learning": {"learners": list(learners), "grid": list(pl.LEARN_GRID), "eta": pl.LEARN_ETA,
                     "gamma": pl.LEARN_GAMMA, "behaviour": pl.learn_spec()},
        "leave": {"liar": lie[0] if lie else None, "liar_m": lie[1] if lie else None,
                  "liar_mean_cost_change": lie[2] if lie else None, "window_days": pl.LEAVE_WINDOW,
                  "threshold_fraction": pl.LEAVE_FRACTION, "cooloff_days": pl.LEAVE_COOLOFF,
                  "truthful_mean_gain": gains,
                  "thresholds": {p: pl.leave_threshold(g) for p, g in gains.items() if not lie or p != lie[0]}},
        "tolerance": {"profit_abs": tb.PROFIT_ABS, "profit_rel": tb.PROFIT_REL, "level": tb.LEVEL},
        "timings": {"total_s": total_s, "first_phase_s": first_s, "leave_phase_s": leave_s,
                    "runs": len(ok), "simulated_days": sim_days,
                    "solves": int(ok["solves"].sum()),
                    "solves_per_day": float(ok["solves"].sum()) / sim_days if sim_days else None,
                    "baseline_solves_per_day": float(base["solves"]) / float(base["days"]) if base["days"] else None,
                    "run_wall_s": float(ok["wall_s"].sum())},
        "code_version": code_version(),
        "environment": environment_info(),
    }

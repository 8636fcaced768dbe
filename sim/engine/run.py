"""Running the simulation: a run day by day into files, many runs as a loop or as Dask tasks, ``--resume``.

A *run* (:class:`sim.engine.spec.RunSpec`) is one mode of one system over ``days`` consecutive days
from a seed (and a sweep point with its overrides).  :func:`run_days` loads the scenario through the
system, builds a :class:`sim.engine.model.SimulationModel` (the system builds its agents once) and
steps it; each finished day is written at once.  :func:`execute` runs many runs (a plain loop, or
tasks on a Dask cluster) and writes the summaries.

Randomness: day ``d`` of seed ``s`` uses ``SeedSequence(s).spawn(n)[d]`` (any ``n``;
:func:`sim.engine.system.day_seed`), so every mode sees the same weather, loads and fleets on the
same day (common random numbers) and a day does not depend on how many days run.

Files (all written atomically, a day at a time; a killed run loses at most the day in progress):

- ``timeseries/day=NNN/<run>.parquet`` — the system's long-format time series plus ``day``, ``mode``, ``run``;
- ``agents/day=NNN/<run>.parquet`` — per-agent records (:mod:`sim.engine.records`), when the system gives them;
- ``state/day=NNN/<run>.json`` — the state the day leaves (storage energy, EVs' SOC) — read by ``--resume``;
- ``kpis/day=NNN/<run>.csv`` — the day's KPI row, written last: a day counts as done when it exists;
- ``kpis.csv`` — every KPI row (run, mode, day order): the identifiers and the system's own KPI columns
  (:attr:`sim.engine.system.System.kpis`); only values fixed by scenario and seed (no timings), so the same
  seed gives a byte-identical file whatever the number of workers;
- ``timings.csv`` — wall-clock seconds per run and day; ``manifest.json`` — system, scenario hash, seed,
  command, package versions, timings.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from sim.engine.io import environment_info, write_csv, write_json, write_parquet
from sim.engine.model import SimulationModel
from sim.engine.records import ID_COLUMNS, kpi_row
from sim.engine.scenario import apply_override, scenario_hash
from sim.engine.spec import RunSpec, SimSettings
from sim.engine.system import DayOutcome, System

log = logging.getLogger(__name__)


def load_scenario(system: System, name_or_path: str, overrides: Sequence[tuple[str, Any]] = ()) -> Any:
    """The scenario of ``system`` at ``name_or_path`` with ``overrides`` (dotted paths) applied."""
    sc = system.load(name_or_path)
    for path, value in overrides:
        sc = apply_override(sc, path, value)
    return sc


# ------------------------------------------------------------------------------ a run, day by day


def _part(out: Path, kind: str, d: int, run: RunSpec, ext: str) -> Path:
    return out / kind / f"day={d + 1:03d}" / f"{run.name}.{ext}"


def completed_days(out: Path, run: RunSpec) -> int:
    """Number of leading days of ``run`` whose KPI part exists (the commit marker of a day)."""
    d = 0
    while d < run.days and _part(out, "kpis", d, run, "csv").exists():
        d += 1
    return d


def run_days(out: str | Path, system: System, run: RunSpec, settings: SimSettings, resume: bool = False,
             progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Simulate ``run`` of ``system`` day by day into ``out``; with ``resume`` continue after the last complete day.

    The days are stepped by :class:`sim.engine.model.SimulationModel` (15-min Mesa steps).  Returns the
    timing rows.  Each day writes its time series, its agent records, then its end state, then its KPI
    row (the commit marker), each atomically.
    """
    out = Path(out)
    sc = system.prepare(load_scenario(system, settings.scenario, run.overrides), settings)
    start = completed_days(out, run) if resume else 0
    state = None
    if start:
        state = json.loads(_part(out, "state", start - 1, run, "json").read_text("utf-8"))
    timings: list[dict[str, Any]] = []

    def write(d: int, o: DayOutcome) -> None:
        write_parquet(o.timeseries, _part(out, "timeseries", d, run, "parquet"))
        if not o.agents.empty:
            write_parquet(o.agents, _part(out, "agents", d, run, "parquet"))
        write_json(o.state, _part(out, "state", d, run, "json"))
        write_csv(pd.DataFrame([kpi_row(system, o.kpis)]), _part(out, "kpis", d, run, "csv"))
        timings.append({"run": run.name, "mode": run.mode, "seed": run.seed, "point": run.point, "day": d + 1}
                       | o.seconds)
        if progress:
            progress(f"{run.name} day {d + 1}/{run.days}: total cost {o.kpis['total_cost']:.2f} "
                     f"({o.seconds['total_s']:.1f} s)")

    SimulationModel(system, sc, run, settings, first_day=start, state=state, on_day=write).run_to_end()
    return timings


# ------------------------------------------------------------------------------ many runs


def collect_kpis(out: Path, runs: Sequence[RunSpec], system: System | None = None) -> pd.DataFrame:
    """Every committed KPI row of ``runs`` in (run order, day) order."""
    rows = []
    for run in runs:
        for d in range(run.days):
            p = _part(out, "kpis", d, run, "csv")
            if p.exists():
                rows.append(pd.read_csv(p))
    if not rows:
        cols = list(ID_COLUMNS) + ([k.name for k in system.kpis] if system is not None else [])
        return pd.DataFrame(columns=cols)
    return pd.concat(rows, ignore_index=True)


def execute(
    out: str | Path,
    system: System,
    runs: Sequence[RunSpec],
    settings: SimSettings,
    *,
    resume: bool = False,
    workers: int | None = None,
    scheduler: str | None = None,
    command: str = "",
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Run every ``run`` (a plain loop, or Dask tasks with ``workers``/``scheduler``); write the summaries.

    Runs are independent (each carries its own state across its days), so they are the tasks.
    The results do not depend on how they are scheduled.  Returns ``kpis.csv`` as a frame.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for r in runs:
        system.mode(r.mode)  # a clear error naming the system's modes
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise ValueError(f"run names must be unique, got {names}")
    t0 = time.perf_counter()
    timings: list[dict[str, Any]] = []
    if workers or scheduler:
        from dask.distributed import Client, LocalCluster

        cluster = None
        if scheduler:
            client = Client(scheduler)
        else:
            cluster = LocalCluster(n_workers=int(workers or 1), threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = Client(cluster)
        try:
            futures = [client.submit(run_days, str(out), system, r, settings, resume, None, key=f"run-{r.name}",
                                     pure=False)
                       for r in runs]
            for fut in futures:
                part = fut.result()
                timings.extend(part)
                if progress and part:
                    progress(f"{part[0]['run']}: {len(part)} day(s) done")
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    else:
        for r in runs:
            timings.extend(run_days(out, system, r, settings, resume, progress))
    kpis = collect_kpis(out, runs, system)
    write_csv(kpis, out / "kpis.csv")
    tim = pd.DataFrame(timings)
    old = out / "timings.csv"
    if resume and old.exists() and not tim.empty:
        tim = pd.concat([pd.read_csv(old), tim], ignore_index=True)
    if not tim.empty:
        write_csv(tim, old)
    manifest = {
        "command": command,
        "scenario": settings.scenario,
        "system": system.kind,
        "scenario_sha256": scenario_hash(settings.scenario),
        "settings": settings.__dict__,
        "runs": [{"name": r.name, "mode": r.mode, "seed": r.seed, "days": r.days, "point": r.point,
                  "overrides": [list(o) for o in r.overrides]} for r in runs],
        "workers": workers, "scheduler": scheduler, "resume": resume,
        "timings": {"wall_s": time.perf_counter() - t0, "days_simulated": len(timings)},
        "environment": environment_info(),
    }
    write_json(manifest, out / "manifest.json")
    return kpis

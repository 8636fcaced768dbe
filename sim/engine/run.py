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
- ``timings/day=NNN/<run>.csv`` — the day's wall-clock seconds by stage;
- ``kpis/day=NNN/<run>.csv`` — the day's KPI row, written last: a day counts as done when it exists;
- ``kpis.csv`` — every KPI row (run, mode, day order): the identifiers and the system's own KPI columns
  (:attr:`sim.engine.system.System.kpis`); only values fixed by scenario and seed (no timings), so the same
  seed gives a byte-identical file whatever the number of workers;
- ``timings.csv`` — wall-clock seconds per run and day (every committed day, also of an earlier, killed
  or interrupted invocation);
- ``failures.csv`` — one row per failed run (run, mode, seed, point, day, clock time, agent, status, the
  message), only when some run failed;
- ``manifest.json`` — written when the command starts and again when it ends (``status``: running,
  complete, failed, interrupted): system, scenario hash, per run the mode, seed, sweep point, overrides and
  the scenario hash after them, the settings (replay, ...), the code version, the command, package
  versions, timings.  ``--resume`` compares it with the new command and refuses to mix different inputs.

Every file is written with mode 0644 and every folder 0755 (:mod:`sim.engine.io`).
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from scenarios.loader import scenario_path
from sim.engine.failure import ResumeRefused, RunFailure, RunInterrupted, RunsFailed
from sim.engine.io import (
    environment_info,
    jsonable,
    make_dirs,
    package_version,
    write_csv,
    write_json,
    write_parquet,
)
from sim.engine.model import SimulationModel
from sim.engine.records import ID_COLUMNS, kpi_row
from sim.engine.scenario import scenario_hash
from sim.engine.spec import RunSpec, SimSettings
from sim.engine.system import DayOutcome, System

log = logging.getLogger(__name__)


#: Most scenarios :func:`load_scenario` keeps per process (a sweep's points; the oldest is dropped first).
SCENARIO_CACHE_SIZE = 64
_loaded: dict[tuple[str, str, str, str], tuple[System, Any]] = {}


def load_scenario(system: System, name_or_path: str, overrides: Sequence[tuple[str, Any]] = ()) -> Any:
    """The scenario of ``system`` at ``name_or_path`` with the ``--set`` edits ``overrides`` applied.

    The edits are ``(path, value)`` pairs with the scenario file's own paths (:mod:`scenarios.edits`);
    the system's loader applies them to the parsed file before validating it (:meth:`System.load`).
    A system whose ``load`` takes no ``edits`` cannot honour them and is refused, never ignored.

    Loaded once per process: the result is kept under (system kind, the scenario file's absolute path, the hash of the
    scenario folder's files :func:`~sim.engine.scenario.scenario_hash`, the edits as written) and returned
    again while the files hash the same and ``system`` is the same object, so a command (its check up
    front and every run, ``--resume``, each Dask worker) reads the files once, and a changed file is read
    again.  The scenarios are frozen dataclasses; callers must not change them.  At most
    :data:`SCENARIO_CACHE_SIZE` are kept."""
    edits = tuple((str(p), v) for p, v in overrides)
    try:
        key = (system.kind, str(scenario_path(name_or_path).resolve()), scenario_hash(name_or_path), repr(edits))
    except Exception:  # a path the loader rejects: let it say why, uncached
        return _load_scenario(system, name_or_path, edits)
    hit = _loaded.get(key)
    if hit is not None and hit[0] is system:
        return hit[1]
    scenario = _load_scenario(system, name_or_path, edits)
    _loaded[key] = (system, scenario)
    while len(_loaded) > SCENARIO_CACHE_SIZE:
        del _loaded[next(iter(_loaded))]
    return scenario


def _load_scenario(system: System, name_or_path: str, edits: tuple[tuple[str, Any], ...]) -> Any:
    if not edits:
        return system.load(name_or_path)
    if "edits" not in inspect.signature(system.load).parameters:
        raise ValueError(f"--set: the {system.kind} system's load() takes no edits, so "
                         f"{', '.join(p for p, _ in edits)} cannot be set")
    return system.load(name_or_path, edits=edits)


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
    timing rows of the days simulated here.  Each day writes its time series, its agent records, its end
    state, its timing row, then its KPI row (the commit marker), each atomically.  A day that fails raises
    :class:`sim.engine.failure.RunFailure` (the days before it stay written).
    """
    out = Path(out)
    start = completed_days(out, run) if resume else 0
    if start >= run.days:
        return []
    sc = system.prepare(load_scenario(system, settings.scenario, run.overrides), settings)
    state = None
    if start:
        state = json.loads(_part(out, "state", start - 1, run, "json").read_text("utf-8"))
    timings: list[dict[str, Any]] = []

    def write(d: int, o: DayOutcome) -> None:
        t0 = time.perf_counter()
        write_parquet(_labels_as_categories(o.timeseries), _part(out, "timeseries", d, run, "parquet"))
        if not o.agents.empty:
            write_parquet(o.agents, _part(out, "agents", d, run, "parquet"))
        write_json(o.state, _part(out, "state", d, run, "json"))
        row = ({"run": run.name, "mode": run.mode, "seed": run.seed, "point": run.point, "day": d + 1} | o.seconds
               | {"write_s": time.perf_counter() - t0})  # time series, records and state (the rows after are small)
        write_csv(pd.DataFrame([row]), _part(out, "timings", d, run, "csv"))
        write_csv(pd.DataFrame([kpi_row(system, o.kpis)]), _part(out, "kpis", d, run, "csv"))
        timings.append(row)
        if progress:
            progress(f"{run.name} day {d + 1}/{run.days}: total cost {o.kpis['total_cost']:.2f} "
                     f"({o.seconds['total_s']:.1f} s)")

    SimulationModel(system, sc, run, settings, first_day=start, state=state, on_day=write).run_to_end()
    return timings


def _labels_as_categories(ts: pd.DataFrame) -> pd.DataFrame:
    """The day's long time series with its text columns (run, mode, ...: a few distinct labels over tens of
    thousands of rows) as categories: Parquet then stores each label once (dictionary encoding), which makes
    the day's write several times faster; the values read back are the same labels."""
    text = [c for c in ts.columns if ts[c].dtype == object]
    return ts.astype({c: "category" for c in text}) if text else ts


# ------------------------------------------------------------------------------ many runs


def _collect(out: Path, runs: Sequence[RunSpec], kind: str) -> list[pd.DataFrame]:
    rows = []
    for run in runs:
        for d in range(run.days):
            if not _part(out, "kpis", d, run, "csv").exists():
                break  # a day counts only once it is committed
            p = _part(out, kind, d, run, "csv")
            if p.exists():
                rows.append(pd.read_csv(p))
    return rows


def collect_kpis(out: Path, runs: Sequence[RunSpec], system: System | None = None) -> pd.DataFrame:
    """Every committed KPI row of ``runs`` in (run order, day) order."""
    rows = _collect(out, runs, "kpis")
    if not rows:
        cols = list(ID_COLUMNS) + ([k.name for k in system.kpis] if system is not None else [])
        return pd.DataFrame(columns=cols)
    return pd.concat(rows, ignore_index=True)


def collect_timings(out: Path, runs: Sequence[RunSpec]) -> pd.DataFrame:
    """The timing row of every committed day of ``runs`` (written per day, so a killed or interrupted run
    keeps the timings of the days it finished), in (run order, day) order."""
    rows = _collect(out, runs, "timings")
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


@functools.cache
def code_version() -> str:
    """The code that computes the results: ``git describe --always --dirty`` of the checkout this package
    runs from when it is a git work tree, else the installed ``coopgrid`` version."""
    root = Path(__file__).resolve().parents[2]
    if (root / ".git").exists():
        try:
            res = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"], cwd=root, capture_output=True,
                                 text=True, timeout=10, check=False)
            if res.returncode == 0 and res.stdout.strip():
                return "git " + res.stdout.strip()
        except (OSError, subprocess.SubprocessError):  # pragma: no cover - git missing
            pass
    return f"coopgrid {package_version('coopgrid') or 'unknown'}"


def _run_identity(run: RunSpec, settings: SimSettings) -> dict[str, Any]:
    """What a run's results depend on besides the code and the settings: mode, seed, sweep point, the
    overrides and the hash of the scenario after them (:func:`sim.engine.scenario.scenario_hash`)."""
    return {"name": run.name, "mode": run.mode, "seed": run.seed, "days": run.days, "point": run.point,
            "overrides": [[str(p), str(v)] for p, v in run.overrides],
            "scenario_sha256": scenario_hash(settings.scenario, [(str(p), v) for p, v in run.overrides])}


def _identity(system: System, runs: Sequence[RunSpec], settings: SimSettings) -> dict[str, Any]:
    return {"system": system.kind, "scenario": settings.scenario, "scenario_sha256": scenario_hash(settings.scenario),
            "settings": jsonable(dict(settings.__dict__)), "code_version": code_version(),
            "runs": [_run_identity(r, settings) for r in runs]}


#: Settings that do not change a run's results (the scenario's name: its hash is compared instead).
_UNCOMPARED_SETTINGS = ("scenario",)


def resume_differences(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(field, old, new)`` for every input in which the manifest ``new`` differs from ``old``, the
    folder's: system, scenario hash (after the overrides, per run), seed, mode, replay and the other
    settings, sweep point and overrides, code version, and the set of runs (a run may have more days now)."""
    diffs: list[tuple[str, Any, Any]] = []
    for key in ("system", "code_version"):
        if old.get(key) != new.get(key):
            diffs.append((key, old.get(key), new.get(key)))
    o_set, n_set = old.get("settings") or {}, new.get("settings") or {}
    for key in sorted(set(o_set) | set(n_set)):
        if key not in _UNCOMPARED_SETTINGS and o_set.get(key) != n_set.get(key):
            diffs.append((f"settings.{key}", o_set.get(key), n_set.get(key)))
    o_runs = {r["name"]: r for r in old.get("runs") or []}
    n_runs = {r["name"]: r for r in new.get("runs") or []}
    if list(o_runs) != list(n_runs):
        for key in ("seed", "mode", "point"):  # say which input made the runs differ
            a = sorted({str(r.get(key)) for r in o_runs.values()})
            b = sorted({str(r.get(key)) for r in n_runs.values()})
            if a != b:
                diffs.append((key, ", ".join(a) or "none", ", ".join(b)))
        diffs.append(("runs", ", ".join(o_runs) or "none", ", ".join(n_runs)))
    for name in n_runs.keys() & o_runs.keys():
        for key in ("scenario_sha256", "mode", "seed", "point", "overrides"):
            a, b = o_runs[name].get(key), n_runs[name].get(key)
            if a != b:
                what = "scenario hash after overrides" if key == "scenario_sha256" else key
                diffs.append((f"run {name}: {what}", a, b))
    if not any(d[0].endswith("scenario hash after overrides") for d in diffs) and \
            old.get("scenario_sha256") != new.get("scenario_sha256"):
        diffs.append(("scenario_sha256", old.get("scenario_sha256"), new.get("scenario_sha256")))
    return diffs


def check_resume(out: Path, new: dict[str, Any]) -> None:
    """Refuse (:class:`sim.engine.failure.ResumeRefused`) to ``--resume`` into ``out`` when its
    ``manifest.json`` records different inputs (:func:`resume_differences`), or when it has day files but no
    manifest to check them against."""
    path = out / "manifest.json"
    fresh = f"start fresh with a new --out, or delete {out}"
    if not path.exists():
        if (out / "kpis").exists() and any((out / "kpis").rglob("*.csv")):
            raise ResumeRefused(f"--resume into {out} refused: it holds simulated days but no manifest.json, so "
                                f"what they were computed from cannot be checked; {fresh}")
        return
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ResumeRefused(f"--resume into {out} refused: {path} cannot be read ({exc}); {fresh}") from exc
    diffs = resume_differences(old, new)
    if diffs:
        what = "; ".join(f"{f}: was {_short(a)}, now {_short(b)}" for f, a, b in diffs)
        raise ResumeRefused(f"--resume into {out} refused: the folder holds results of different inputs ({what}); "
                            f"{fresh}")


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _in_progress(out: Path, runs: Sequence[RunSpec]) -> tuple[str, int]:
    """The first run (in order) with days left and its first unfinished day (1-based)."""
    for r in runs:
        done = completed_days(out, r)
        if done < r.days:
            return r.name, done + 1
    return (runs[-1].name, runs[-1].days) if runs else ("", 0)


def _write_outputs(out: Path, system: System, runs: Sequence[RunSpec], failures: Sequence[RunFailure],
                   manifest: dict[str, Any], status: str, t0: float) -> pd.DataFrame:
    """``kpis.csv``, ``timings.csv``, ``failures.csv`` (removed when nothing failed) and the manifest's
    final state, from the committed days; returns the KPI frame."""
    kpis = collect_kpis(out, runs, system)
    write_csv(kpis, out / "kpis.csv")
    tim = collect_timings(out, runs)
    if not tim.empty:
        write_csv(tim, out / "timings.csv")
    if failures:
        write_csv(pd.DataFrame([f.record() for f in failures], columns=list(FAILURE_COLUMNS)), out / "failures.csv")
    else:
        (out / "failures.csv").unlink(missing_ok=True)
    manifest.update(status=status, failures=len(failures),
                    timings={"wall_s": time.perf_counter() - t0, "days_committed": len(kpis)})
    write_json(manifest, out / "manifest.json")
    return kpis


#: Columns of ``failures.csv`` (one row per failed run: the day and quarter-hour it failed at, the message).
FAILURE_COLUMNS = ("run", "mode", "seed", "point", "day", "time", "agent", "status", "message")


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
    """Run every ``run`` (a plain loop, or Dask tasks with ``workers`` > 1 or ``scheduler``); write the summaries.

    Runs are independent (each carries its own state across its days), so they are the tasks.
    The results do not depend on how they are scheduled.  Returns ``kpis.csv`` as a frame.

    ``manifest.json`` is written first (status ``running``) and again at the end: the inputs (system,
    scenario hash, and per run mode, seed, sweep point, overrides and the scenario hash after them),
    the settings, the code version, the command and the environment.  With ``resume`` the folder's
    manifest must record the same inputs, or :class:`sim.engine.failure.ResumeRefused` (a ``ValueError``)
    says what differs, before anything is written.

    Every run's scenario is loaded and :meth:`System.check_run` asked first, so a run the system cannot honour
    stops the command before anything runs.  A run whose day fails is recorded in ``failures.csv`` and the other
    runs go on; after everything
    is written :class:`sim.engine.failure.RunsFailed` is raised.  On Ctrl-C the finished days are
    written (``kpis.csv``, ``timings.csv``) and :class:`sim.engine.failure.RunInterrupted` is raised.
    """
    out = Path(out)
    checked: dict[tuple[tuple[str, Any], ...], Any] = {}
    for r in runs:
        system.mode(r.mode)  # a clear error naming the system's modes
        if r.overrides not in checked:
            checked[r.overrides] = system.prepare(load_scenario(system, settings.scenario, r.overrides), settings)
        system.check_run(checked[r.overrides], r.mode, settings)  # e.g. a behaviour with nothing to act on
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise ValueError(f"run names must be unique, got {names}")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: is a file, not a folder")
    identity = _identity(system, runs, settings)
    if resume:
        check_resume(out, identity)
    make_dirs(out)
    t0 = time.perf_counter()
    manifest = {**identity, "command": command, "workers": workers, "scheduler": scheduler, "resume": resume,
                "status": "running", "environment": environment_info()}
    write_json(manifest, out / "manifest.json")
    failures: list[RunFailure] = []
    try:
        if scheduler or (workers or 0) > 1:  # one local worker runs the runs in turn: this process does that
            failures = _run_on_dask(out, system, runs, settings, resume, workers, scheduler, progress)
        else:
            for r in runs:
                try:
                    run_days(out, system, r, settings, resume, progress)
                except RunFailure as exc:
                    log.info("%s", exc.paragraph())
                    failures.append(exc)
    except KeyboardInterrupt as exc:
        _write_outputs(out, system, runs, failures, manifest, "interrupted", t0)
        run, day = _in_progress(out, runs)
        raise RunInterrupted(run, day) from exc
    kpis = _write_outputs(out, system, runs, failures, manifest, "failed" if failures else "complete", t0)
    if failures:
        raise RunsFailed(failures, kpis)
    return kpis


def _run_on_dask(out: Path, system: System, runs: Sequence[RunSpec], settings: SimSettings, resume: bool,
                 workers: int | None, scheduler: str | None,
                 progress: Callable[[str], None] | None) -> list[RunFailure]:
    """The runs as tasks on a Dask cluster (a local one with ``workers`` processes, or ``scheduler``'s);
    returns the runs' failures."""
    # importing distributed applies its own logging config (INFO); keep the levels the caller chose
    levels = {name: logging.getLogger(name).level for name in ("distributed", "dask")}
    from dask.distributed import Client, LocalCluster

    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    failures: list[RunFailure] = []
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
            try:
                part = fut.result()
            except RunFailure as exc:
                log.info("%s", exc.paragraph())
                failures.append(exc)
                continue
            if progress and part:
                progress(f"{part[0]['run']}: {len(part)} day(s) done")
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return failures

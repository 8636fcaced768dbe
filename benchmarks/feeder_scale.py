"""Scale benchmark of paper 004's distribution system on a real feeder (issue 17): SimBench MV grid vs IEEE-33.

Two measurements, each in fresh subprocesses of this script (so start-up and peak memory are the run's own):

1. **One simulated day per cell** (grid, EV multiplier, mode): the bundled ``simbench_mv_rural`` (SimBench
   1-MV-rural--0-sw: 95 buses, 8 clusters, 92 transformer areas, 11 EV stations) with 1x, 4x and 16x its 20 EVs
   per station (220, 880, 3520 EVs), and ``ieee33`` with 20 EVs per station for reference; modes cooperative,
   centralized, noncooperative and oracle.  Each cell runs in its own child process exactly as ``run_sim.py
   simulate --days 1`` does: ``sim.engine.run.execute(out, system_for(scenario), [RunSpec(mode, seed, 1)],
   SimSettings(scenario=..., evs_per_station=20 * multiplier))``.  Recorded per cell:

   * the agents (clusters, transformer areas, EV stations, EVs, renewable sites) of the loaded scenario after
     ``with_evs_per_station`` (:meth:`System.prepare`);
   * times: the child's start-up (interpreter and imports), the scenario load (the SimBench grid and its year of
     profiles, ~5 s), the ``execute`` wall (builds the agents and models, the day, writes the outputs) and the
     day's stages from ``timings.csv`` (``data_s``, ``setup_s``, ``solve_s`` of which ``da_s`` and ``market_s``,
     ``check_s`` of which ``ac_s``, ``total_s`` = the day);
   * the HiGHS solves: :meth:`agents.milp.HighsModel.solve` is wrapped in the child (outermost calls only, so a
     cold re-try is one solve) and counted per model label (``SolveStats.name``) with the largest ``n_rows`` /
     ``n_cols`` / ``n_nonzeros`` / ``n_binaries_declared`` seen; the pooled EV fleet (:class:`agents.ev.EVFleet`,
     its own ``highspy`` chunks, not a ``HighsModel``) is counted apart by wrapping ``EVFleet.respond``:
     responses, chunk LP runs, per-EV exact MILPs and its LP size;
   * peak memory: ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` of the child at its end;
   * ``total_cost`` from ``kpis.csv``.

   The oracle (one Pyomo EV block per vehicle) is skipped above ``--oracle-max-evs`` EVs per station and recorded
   as skipped; a cell still running after ``--cell-timeout`` seconds is killed (its process group) and recorded
   as timed out.

2. **A 30-day cooperative run on the MV grid with 2 workers**: ``execute`` of ``simbench_mv_rural``, cooperative,
   seeds 0 and 1, ``--days`` days each, ``workers=2`` (a local Dask cluster: the two runs in parallel on two
   cores), in one child process: wall time, simulated days per minute (both runs' days / wall), per-day
   ``total_s`` median and max (both seeds), and whether the per-day time is flat: the median ``total_s`` of the
   last 10 days (days 21-30 of 30) within 25 % of days 2-11's (judged only when there are >= 21 days).  Peak
   memory: the child (the Dask client, scheduler and nannies) by its ``ru_maxrss``; the largest Dask worker by the
   child's ``RUSAGE_CHILDREN`` ``ru_maxrss`` after the cluster closed (the workers are its waited-for children);
   and the sum over the child's process tree sampled from ``/proc`` every ``--sample-s`` seconds.

**Growth**: per mode, the day (``total_s``) at 4x and 16x divided by the day at 1x, against the EV ratio (4, 16);
"linear or better" means time ratio <= EV ratio; exponent = log(time ratio) / log(EV ratio).

**Acceptance** (issue 17): one cooperative MV day <= 30 s on 2 cores, judged on the ``execute`` wall of the MV 1x
cooperative cell (scenario load, build, the day and its outputs: what ``run_sim.py simulate --days 1`` costs
without the interpreter's start-up); the cooperative day grows at most linearly from 1x to 16x EVs.

``checks`` lists every failed sanity check or target as a sentence (a cell that failed or did not finish one day,
a cooperative cell that timed out, a non-finite total cost, a cell without a single HiGHS solve seen (the
instrumentation broke), growth above linear for cooperative, the acceptance targets, a long run that failed or
whose per-day time is not flat); the exit status is 1 when it is not empty.

Usage (from the repository root)::

    PYTHONPATH=. python benchmarks/feeder_scale.py --out benchmarks/results    # full: ~20-30 min on 2 cores
    PYTHONPATH=. python benchmarks/feeder_scale.py --quick --out /tmp/fs       # MV + IEEE-33 1x cooperative, 2 days
    PYTHONPATH=. python benchmarks/feeder_scale.py --multipliers 4 --modes cooperative --skip-long --no-reference

Outputs ``DIR/feeder_scale.json`` and ``DIR/feeder_scale.md`` (written atomically).  Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from sim.engine.io import int_list, jsonable, machine_info, markdown_table, write_json, write_text

ROOT = Path(__file__).resolve().parents[1]
JSON_NAME = "feeder_scale.json"
MD_NAME = "feeder_scale.md"
SCHEMA_VERSION = 1
MV = "simbench_mv_rural"
REF = "ieee33"
GRID_LABEL = {MV: "MV (SimBench 1-MV-rural)", REF: "IEEE-33"}
BASE_EVS_PER_STATION = 20
MODES = ("cooperative", "centralized", "noncooperative", "oracle")
DEFAULT_MULTIPLIERS = (1, 4, 16)
LONG_SEEDS = (0, 1)
LONG_WORKERS = 2
#: Issue 17's targets: one cooperative MV day within this many seconds; per-day time flat within this fraction.
COOP_DAY_TARGET_S = 30.0
FLAT_TOL = 0.25
#: Days 2..11 against the last 10 days (21..30 of 30) for flatness.
FLAT_EARLY = (2, 11)
FLAT_WINDOW = 10
TIMING_COLUMNS = ("data_s", "setup_s", "solve_s", "da_s", "market_s", "mpc_s", "check_s", "ac_s", "total_s", "write_s")

Record = dict[str, Any]


# ---------------------------------------------------------------------------------------- CLI
def _pos_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from exc
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return v


def _nonneg_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from exc
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return v


def _pos_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from exc
    if not math.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return v


def _modes(text: str) -> list[str]:
    names = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in names if m not in MODES]
    if not names or bad:
        raise argparse.ArgumentTypeError(f"modes must be a comma-separated list of {', '.join(MODES)}; got {text!r}")
    return list(dict.fromkeys(names))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="feeder_scale.py", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"),
                   help=f"output folder for {JSON_NAME} and {MD_NAME} (default: %(default)s)")
    p.add_argument("--multipliers", type=int_list, default=None, metavar="M[,M...]",
                   help="EV multipliers of the MV grid, x20 EVs per station (default: 1,4,16; growth needs 1)")
    p.add_argument("--modes", type=_modes, default=None, help=f"comma-separated (default: {','.join(MODES)})")
    p.add_argument("--no-reference", action="store_true", help="skip the IEEE-33 reference cells")
    p.add_argument("--seed", type=_nonneg_int, default=0, help="seed of the one-day cells (default: %(default)s)")
    p.add_argument("--oracle-max-evs", type=_nonneg_int, default=BASE_EVS_PER_STATION, metavar="K",
                   help="run the oracle only up to K EVs per station (default: %(default)s, i.e. 1x; 0 = never)")
    p.add_argument("--cell-timeout", type=_pos_float, default=900.0, metavar="S",
                   help="kill a one-day cell after S seconds and record it as timed out (default: %(default)s)")
    p.add_argument("--days", type=_pos_int, default=30, help="days of each run of the long run (default: 30)")
    p.add_argument("--long-timeout", type=_pos_float, default=3600.0, metavar="S",
                   help="kill the long run after S seconds (default: %(default)s)")
    p.add_argument("--skip-long", action="store_true", help="skip the multi-day cooperative run")
    p.add_argument("--sample-s", type=_pos_float, default=0.5, help="memory sampling interval of the long run, s")
    p.add_argument("--quick", action="store_true",
                   help="MV 1x and IEEE-33 1x cooperative only, and the long run with 2 days")
    return p


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _brief(text: str, limit: int = 400) -> str:
    """``text`` on one line, at most ``limit`` characters."""
    one = " ".join(line.strip() for line in text.splitlines() if line.strip())
    return one if len(one) <= limit else one[: limit - 1] + "…"


# ------------------------------------------------------------------------- child: counting solves
def _family(name: str) -> str:
    """A model label with the cluster's name replaced by ``*`` (``cluster F3 standalone`` -> ``cluster *
    standalone``) and a leading scenario name dropped (``ieee33 DA TOU design`` -> ``DA TOU design``)."""
    name = re.sub(r"^cluster \S+", "cluster *", name)
    return re.sub(r"^\S+ (DA TOU design)", r"\1", name)


class SolveCounter:
    """Counts HiGHS work in this process while installed (the idea of ``studies/incentives/run.py::counting_solves``).

    ``models[label]``: calls of :meth:`agents.milp.HighsModel.solve` (outermost only: its cold re-try calls itself)
    with the largest size seen and the summed HiGHS time.  ``fleet``: the calls of
    :meth:`agents.ev.EVFleet.respond` (the pooled EV fleet solves its own ``highspy`` LP chunks, one run each per
    response, plus per-EV exact MILPs where the LP is not certified).
    """

    def __init__(self) -> None:
        self.models: dict[str, Record] = {}
        self.fleet: Record = {"responses": 0, "chunk_runs": 0, "ev_milps": 0, "highs_s": 0.0, "respond_s": 0.0,
                              "max_rows": 0, "max_cols": 0, "max_chunks": 0, "fleets": 0}
        self._depth = threading.local()
        self._fleet_ids: set[int] = set()
        self._undo: list[Callable[[], None]] = []

    def _on_solve(self, st: Any) -> None:
        m = self.models.setdefault(str(st.name), {"solves": 0, "highs_s": 0.0, "mip_nodes": 0, "is_mip": False,
                                                  "max_rows": 0, "max_cols": 0, "max_nonzeros": 0,
                                                  "max_binaries": 0})
        m["solves"] += 1
        m["highs_s"] += float(st.solve_s)
        m["mip_nodes"] += int(st.mip_nodes)
        m["is_mip"] = bool(m["is_mip"] or st.is_mip)
        for key, val in (("max_rows", st.n_rows), ("max_cols", st.n_cols), ("max_nonzeros", st.n_nonzeros),
                         ("max_binaries", st.n_binaries_declared)):
            m[key] = max(int(m[key]), int(val))

    def _on_respond(self, fleet: Any, res: Any, seconds: float) -> None:
        f = self.fleet
        f["responses"] += 1
        f["chunk_runs"] += len(fleet.chunks)
        f["ev_milps"] += int(res.n_milp)
        f["highs_s"] += float(res.solve_s)
        f["respond_s"] += seconds
        f["max_rows"] = max(int(f["max_rows"]), int(fleet.n_rows))
        f["max_cols"] = max(int(f["max_cols"]), int(fleet.n_cols))
        f["max_chunks"] = max(int(f["max_chunks"]), len(fleet.chunks))
        self._fleet_ids.add(id(fleet))
        f["fleets"] = len(self._fleet_ids)

    @contextlib.contextmanager
    def installed(self) -> Iterator[SolveCounter]:
        from agents.ev import EVFleet
        from agents.milp import HighsModel

        solve_orig = HighsModel.solve
        respond_orig = EVFleet.respond
        counter = self

        @functools.wraps(solve_orig)
        def solve(hm: Any, *args: Any, **kwargs: Any) -> Any:
            depth = getattr(counter._depth, "n", 0)
            counter._depth.n = depth + 1
            try:
                st = solve_orig(hm, *args, **kwargs)
            finally:
                counter._depth.n = depth
            if depth == 0:
                counter._on_solve(st)
            return st

        @functools.wraps(respond_orig)
        def respond(fleet: Any, *args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            res = respond_orig(fleet, *args, **kwargs)
            counter._on_respond(fleet, res, time.perf_counter() - t0)
            return res

        HighsModel.solve = solve  # type: ignore[method-assign,assignment]
        EVFleet.respond = respond  # type: ignore[method-assign,assignment]
        try:
            yield self
        finally:
            HighsModel.solve = solve_orig  # type: ignore[method-assign]
            EVFleet.respond = respond_orig  # type: ignore[method-assign]

    def summary(self) -> Record:
        """Totals, per label, per family and the largest model (by rows x cols)."""
        families: dict[str, Record] = {}
        for name, m in self.models.items():
            f = families.setdefault(_family(name), {"solves": 0, "models": 0, "max_rows": 0, "max_cols": 0,
                                                    "max_binaries": 0})
            f["solves"] += m["solves"]
            f["models"] += 1
            for k in ("max_rows", "max_cols", "max_binaries"):
                f[k] = max(f[k], m[k])
        largest = max(self.models.items(), key=lambda kv: kv[1]["max_rows"] * kv[1]["max_cols"], default=None)
        return {
            "model_solves": int(sum(m["solves"] for m in self.models.values())),
            "model_highs_s": float(sum(m["highs_s"] for m in self.models.values())),
            "by_model": self.models, "by_family": families,
            "largest_model": None if largest is None else {"name": largest[0], **largest[1]},
            "fleet": dict(self.fleet),
            "highs_runs_total": int(sum(m["solves"] for m in self.models.values()) + self.fleet["chunk_runs"]
                                    + self.fleet["ev_milps"]),
        }


# -------------------------------------------------------------------------------- child: runs
def _maxrss_mb(who: int) -> float:
    """``ru_maxrss`` in MB (the kernel reports KB on Linux, bytes on macOS)."""
    v = float(resource.getrusage(who).ru_maxrss)
    return v / 2**20 if sys.platform == "darwin" else v / 1024


def _agents(scenario: Any) -> Record:
    return {"clusters": len(scenario.clusters), "transformer_areas": len(scenario.transformer_areas),
            "ev_stations": len(scenario.ev_stations), "evs": int(sum(st.n_evs for st in scenario.ev_stations)),
            "evs_per_station": sorted({int(st.n_evs) for st in scenario.ev_stations}),
            "renewable_sites": len(scenario.renewables), "buses": len(scenario.feeder.buses)}


def _timings(tim: pd.DataFrame) -> Record:
    return {c: float(tim[c].sum()) for c in TIMING_COLUMNS if c in tim}


def child_cell(spec: Record) -> Record:
    """One simulated day of ``spec`` (scenario, mode, seed, evs_per_station) through the engine; its record."""
    rec: Record = {"startup_s": time.time() - float(spec["launched"])}  # interpreter + this module's imports
    t0 = time.perf_counter()
    from sim.engine.run import execute, load_scenario
    from sim.engine.spec import RunSpec, SimSettings
    from sim.systems import system_for

    rec["imports_s"] = time.perf_counter() - t0  # the engine and the systems
    system = system_for(spec["scenario"])
    settings = SimSettings(scenario=spec["scenario"], evs_per_station=int(spec["evs_per_station"]))
    t0 = time.perf_counter()
    base = load_scenario(system, spec["scenario"])  # cached: execute below reuses it
    rec["load_s"] = time.perf_counter() - t0
    rec["agents"] = _agents(system.prepare(base, settings))
    counter = SolveCounter()
    with tempfile.TemporaryDirectory(prefix="feeder-scale-") as tmp, counter.installed():
        t0 = time.perf_counter()
        kpis = execute(tmp, system, [RunSpec(spec["mode"], int(spec["seed"]), 1)], settings)
        rec["execute_s"] = time.perf_counter() - t0
        tim = pd.read_csv(Path(tmp) / "timings.csv")
        manifest = json.loads((Path(tmp) / "manifest.json").read_text(encoding="utf-8"))
    rec["days"] = len(tim)
    rec["timings"] = _timings(tim)
    # building the run's agents and persistent models, the manifest and the summaries: execute outside the day
    rec["outside_day_s"] = rec["execute_s"] - rec["timings"].get("total_s", 0.0) - rec["timings"].get("write_s", 0.0)
    rec["total_cost"] = float(kpis["total_cost"].sum())
    for col in ("bisection_iterations", "max_ldf_ac_error_pu", "voltage_violation_pu_h", "day_of_year"):
        if col in kpis:
            rec[col] = float(kpis[col].iloc[0])
    rec["solves"] = counter.summary()
    rec["code_version"] = manifest.get("code_version")
    rec["peak_rss_mb"] = _maxrss_mb(resource.RUSAGE_SELF)
    return rec


def child_long(spec: Record) -> Record:
    """``spec['days']`` cooperative days of seeds ``spec['seeds']`` on ``spec['workers']`` Dask workers."""
    rec: Record = {"startup_s": time.time() - float(spec["launched"])}
    from sim.engine.run import execute, load_scenario
    from sim.engine.spec import RunSpec, SimSettings
    from sim.systems import system_for

    system = system_for(spec["scenario"])
    settings = SimSettings(scenario=spec["scenario"])
    t0 = time.perf_counter()
    rec["agents"] = _agents(system.prepare(load_scenario(system, spec["scenario"]), settings))
    rec["load_s"] = time.perf_counter() - t0
    runs = [RunSpec("cooperative", int(s), int(spec["days"])) for s in spec["seeds"]]
    with tempfile.TemporaryDirectory(prefix="feeder-scale-long-") as tmp:
        t0 = time.perf_counter()
        kpis = execute(tmp, system, runs, settings, workers=int(spec["workers"]))
        rec["execute_s"] = time.perf_counter() - t0
        tim = pd.read_csv(Path(tmp) / "timings.csv")
    rec["peak_rss_driver_mb"] = _maxrss_mb(resource.RUSAGE_SELF)
    rec["peak_rss_largest_worker_mb"] = _maxrss_mb(resource.RUSAGE_CHILDREN)
    cols = [c for c in ("run", "day", "total_s", "solve_s", "market_s", "write_s") if c in tim]
    rec["per_day"] = tim[cols].to_dict("records")
    rec["kpis"] = {"days": len(kpis), "mean_total_cost": float(kpis["total_cost"].mean()),
                   "finite_costs": bool(kpis["total_cost"].map(math.isfinite).all())}
    return rec


def child_main(argv: Sequence[str]) -> int:
    """``--child KIND SPEC.json RESULT.json``: run one cell or the long run, write its record (or its error)."""
    kind, spec_path, result_path = argv
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    try:
        rec = child_cell(spec) if kind == "cell" else child_long(spec)
        rec["status"] = "ok"
        code = 0
    except Exception as exc:  # recorded, never raised: the parent reports it as a failed cell
        rec = {"status": "failed", "error": _brief(f"{type(exc).__name__}: {exc}")}
        code = 2
    write_json(jsonable(rec), result_path)
    return code


# -------------------------------------------------------------------------------- parent: running
def _proc_tree(pid: int) -> list[int]:
    """``pid`` and its descendants, from ``/proc`` (empty elsewhere)."""
    children: dict[int, list[int]] = {}
    with contextlib.suppress(OSError):
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        q = todo.pop()
        tree.append(q)
        todo += children.get(q, [])
    return tree


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return float(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


class TreeSampler(threading.Thread):
    """The summed RSS of a process tree (``/proc``), sampled every ``interval`` seconds: its peak and the
    largest number of processes seen."""

    def __init__(self, pid: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_tree_mb = 0.0
        self.max_processes = 0
        self.samples = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            vals = [v for v in (_rss_mb(p) for p in _proc_tree(self.pid)) if v is not None]
            if vals:
                self.samples += 1
                self.peak_tree_mb = max(self.peak_tree_mb, sum(vals))
                self.max_processes = max(self.max_processes, len(vals))

    def stop(self) -> Record:
        self._stop_event.set()
        self.join()
        return {"peak_tree_mb": self.peak_tree_mb or None, "max_processes": self.max_processes,
                "samples": self.samples, "interval_s": self.interval}


def _pgrp(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[2])
    except (OSError, ValueError, IndexError):
        return None


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """End the child we started (it leads its own session) and what it started, if it still runs: SIGTERM to its
    group, then SIGKILL; then SIGKILL to any descendant left in its group (e.g. a Dask worker), by pid."""
    if proc.poll() is not None:
        return
    descendants = _proc_tree(proc.pid)[1:]
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        if proc.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)  # the group leader is not reaped yet, so its group id is still ours
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=wait)
    for pid in descendants:
        if _pgrp(pid) == proc.pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def run_child(kind: str, spec: Record, timeout: float, work: Path, label: str,
              sample_s: float | None = None, timeout_option: str = "--cell-timeout") -> Record:
    """Run ``spec`` in a fresh ``python feeder_scale.py --child`` process; its record with ``status`` ok /
    failed / timeout / crashed and the process wall ``process_s`` (and the tree's sampled memory)."""
    work.mkdir(parents=True, exist_ok=True)
    spec = {**spec, "launched": time.time()}
    spec_path, result_path, log_path = work / f"{label}.spec.json", work / f"{label}.json", work / f"{label}.log"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", kind, str(spec_path), str(result_path)]
    t0 = time.perf_counter()
    sampler: TreeSampler | None = None
    timed_out = False
    with log_path.open("wb") as log:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        if sample_s:
            sampler = TreeSampler(proc.pid, sample_s)
            sampler.start()
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            rc = None
        finally:
            _kill_group(proc)  # also on Ctrl-C of the benchmark
    wall = time.perf_counter() - t0
    memory = sampler.stop() if sampler else None
    if timed_out:
        rec: Record = {"status": "timeout", "error": f"killed after {timeout:.0f} s ({timeout_option})"}
    elif result_path.exists():
        rec = json.loads(result_path.read_text(encoding="utf-8"))
    else:
        tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
        rec = {"status": "crashed", "error": _brief(f"exit status {rc}: " + " | ".join(tail))}
    if rec["status"] == "failed":
        tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
        rec["log_tail"] = _brief(" | ".join(tail))
    rec["process_s"] = wall
    rec["returncode"] = rc
    if memory is not None:
        rec["tree_memory"] = memory
    return rec


# ------------------------------------------------------------------------------------- the plan
def plan_cells(args: argparse.Namespace) -> list[Record]:
    """The one-day cells in running order: IEEE-33 1x, then the MV grid by multiplier; cooperative first."""
    if args.quick:
        return [{"grid": REF, "multiplier": 1, "mode": "cooperative"},
                {"grid": MV, "multiplier": 1, "mode": "cooperative"}]
    mults = args.multipliers or list(DEFAULT_MULTIPLIERS)
    modes = args.modes or list(MODES)
    cells = [] if args.no_reference else [{"grid": REF, "multiplier": 1, "mode": m} for m in modes]
    cells += [{"grid": MV, "multiplier": k, "mode": m} for k in mults for m in modes]
    return cells


def run_cell(cell: Record, args: argparse.Namespace, work: Path) -> Record:
    k = BASE_EVS_PER_STATION * int(cell["multiplier"])
    rec: Record = {**cell, "scenario": cell["grid"], "evs_per_station": k, "seed": args.seed}
    label = f"{cell['grid']}-x{cell['multiplier']}-{cell['mode']}"
    if cell["mode"] == "oracle" and k > args.oracle_max_evs:
        rec.update(status="skipped", reason=f"{k} EVs per station > --oracle-max-evs {args.oracle_max_evs} (the "
                   "oracle builds one Pyomo EV block per vehicle)")
        _say(f"{label}: skipped ({rec['reason']})")
        return rec
    _say(f"{label}: running ({k} EVs per station, timeout {args.cell_timeout:.0f} s)")
    res = run_child("cell", {"scenario": cell["grid"], "mode": cell["mode"], "seed": args.seed,
                             "evs_per_station": k}, args.cell_timeout, work, label)
    rec.update(res)
    if rec["status"] == "ok":
        t = rec["timings"]
        _say(f"{label}: day {t.get('total_s', math.nan):.2f} s (execute {rec['execute_s']:.1f} s, load "
             f"{rec['load_s']:.1f} s, process {rec['process_s']:.1f} s), {rec['agents']['evs']} EVs, "
             f"{rec['solves']['model_solves']} model solves + {rec['solves']['fleet']['responses']} fleet "
             f"responses, peak {rec['peak_rss_mb']:.0f} MB")
    else:
        _say(f"{label}: {rec['status'].upper()} ({rec.get('error')})")
    return rec


def _day_s(rec: Record | None) -> float | None:
    if not rec or rec.get("status") != "ok":
        return None
    v = rec.get("timings", {}).get("total_s")
    return float(v) if v is not None else None


def _find(cells: Sequence[Record], grid: str, mult: int, mode: str) -> Record | None:
    return next((c for c in cells if c["grid"] == grid and c["multiplier"] == mult and c["mode"] == mode), None)


def growth(cells: Sequence[Record]) -> list[Record]:
    """Per mode and MV multiplier > 1: the day's ``total_s`` against the 1x day's, and the EV ratio."""
    rows = []
    modes = list(dict.fromkeys(c["mode"] for c in cells if c["grid"] == MV))
    mults = sorted({int(c["multiplier"]) for c in cells if c["grid"] == MV and c["multiplier"] != 1})
    for mode in modes:
        base = _find(cells, MV, 1, mode)
        for k in mults:
            c = _find(cells, MV, k, mode)
            if c is None:
                continue
            b, v = _day_s(base), _day_s(c)
            evs_b = ((base or {}).get("agents") or {}).get("evs")
            evs_c = (c.get("agents") or {}).get("evs")
            ev_ratio = evs_c / evs_b if evs_b and evs_c else float(k)
            ratio = v / b if b and v is not None else None
            rows.append({
                "mode": mode, "multiplier": k, "evs_1x": evs_b, "evs": evs_c, "ev_ratio": ev_ratio,
                "day_1x_s": b, "day_s": v, "time_ratio": ratio,
                "exponent": math.log(ratio) / math.log(ev_ratio) if ratio and ratio > 0 and ev_ratio > 1 else None,
                "linear_or_better": None if ratio is None else bool(ratio <= ev_ratio),
                "note": None if ratio is not None else
                f"not measured: 1x {'not in this run' if base is None else base.get('status')}, "
                f"{k}x {c.get('status')}",
            })
    return rows


def long_summary(rec: Record, days: int) -> Record:
    """Days per minute, per-day ``total_s`` median / max and flatness of the long run's record."""
    out: Record = {"status": rec["status"]}
    per = pd.DataFrame(rec.get("per_day") or [])
    if rec["status"] != "ok" or per.empty:
        return out
    n_days = len(per)
    busy = (per["total_s"] + per.get("write_s", 0.0)).groupby(per["run"]).sum()
    out.update(simulated_days=n_days, days_per_minute=60.0 * n_days / rec["execute_s"] if rec["execute_s"] else None,
               # execute minus the longest run's days: Dask start-up, each worker's scenario load and build, summaries
               outside_days_s=float(rec["execute_s"] - busy.max()),
               day_total_median_s=float(per["total_s"].median()), day_total_max_s=float(per["total_s"].max()),
               day_total_mean_s=float(per["total_s"].mean()),
               complete=bool(n_days == days * len(LONG_SEEDS)))
    if days >= FLAT_EARLY[1] + FLAT_WINDOW:
        late = (days - FLAT_WINDOW + 1, days)
        e = float(per.loc[per["day"].between(*FLAT_EARLY), "total_s"].median())
        la = float(per.loc[per["day"].between(*late), "total_s"].median())
        out["flat"] = {"early_days": list(FLAT_EARLY), "late_days": list(late), "early_median_s": e,
                       "late_median_s": la, "late_over_early": la / e if e > 0 else None,
                       "flat": bool(e > 0 and abs(la / e - 1.0) <= FLAT_TOL)}
    else:
        out["flat"] = {"flat": None, "note": f"not judged: {days} days < {FLAT_EARLY[1] + FLAT_WINDOW} "
                       "(days 2-11 against the last 10)"}
    return out


def acceptance(cells: Sequence[Record], grow: Sequence[Record], machine: Record) -> list[Record]:
    """Issue 17's two targets with pass / fail / not measured."""
    out = []
    c = _find(cells, MV, 1, "cooperative")
    cores = machine.get("cpu_affinity") or machine.get("cpu_count")
    if c is not None and c.get("status") == "ok":
        wall = float(c["execute_s"])
        out.append({
            "target": f"one cooperative MV day <= {COOP_DAY_TARGET_S:.0f} s on 2 cores",
            "value": wall, "status": "pass" if wall <= COOP_DAY_TARGET_S else "fail",
            "note": f"execute wall {wall:.1f} s (scenario load {c['load_s']:.1f} s, the day's total_s "
                    f"{c['timings'].get('total_s', math.nan):.2f} s) on {cores} usable cores; "
                    f"{c['agents']['clusters']} clusters, {c['agents']['transformer_areas']} TAs, "
                    f"{c['agents']['evs']} EVs; {c['solves']['model_solves']} HighsModel solves, "
                    f"{c['solves']['fleet']['responses']} EV-fleet responses ({c['solves']['fleet']['chunk_runs']} "
                    f"chunk LP runs, {c['solves']['fleet']['ev_milps']} EV MILPs)"})
    else:
        out.append({"target": f"one cooperative MV day <= {COOP_DAY_TARGET_S:.0f} s on 2 cores", "value": None,
                    "status": "not measured", "note": "MV 1x cooperative cell " +
                    ("not in this run" if c is None else f"{c.get('status')}: {c.get('error')}")})
    g = next((r for r in grow if r["mode"] == "cooperative" and r["multiplier"] == max(
        (rr["multiplier"] for rr in grow if rr["mode"] == "cooperative"), default=0)), None)
    if g is not None and g["time_ratio"] is not None:
        out.append({"target": f"cooperative day grows at most linearly from 1x to {g['multiplier']}x EVs",
                    "value": g["time_ratio"], "status": "pass" if g["linear_or_better"] else "fail",
                    "note": f"time ratio {g['time_ratio']:.2f} for EV ratio {g['ev_ratio']:.0f} "
                            f"({g['day_1x_s']:.2f} s -> {g['day_s']:.2f} s)"})
    else:
        out.append({"target": "cooperative day grows at most linearly from 1x to 16x EVs", "value": None,
                    "status": "not measured", "note": g["note"] if g else "no MV multiplier > 1 in this run"})
    return out


def sanity_checks(cells: Sequence[Record], grow: Sequence[Record], acc: Sequence[Record],
                  long: Record | None) -> list[str]:
    checks = []
    for c in cells:
        name = f"{GRID_LABEL[c['grid']]} {c['multiplier']}x {c['mode']}"
        st = c.get("status")
        if st in ("failed", "crashed"):
            checks.append(f"{name}: {st} ({c.get('error')})")
        elif st == "timeout" and c["mode"] == "cooperative":
            checks.append(f"{name}: timed out ({c.get('error')})")
        elif st == "ok":
            if c.get("days") != 1:
                checks.append(f"{name}: timings.csv has {c.get('days')} days, expected 1")
            if not math.isfinite(float(c.get("total_cost", math.nan))):
                checks.append(f"{name}: total cost {c.get('total_cost')} is not finite")
            if not c["solves"]["model_solves"]:
                checks.append(f"{name}: no HighsModel.solve seen (the counting wrapper is not on the solve path)")
    for g in grow:
        if g["mode"] == "cooperative" and g["linear_or_better"] is False:
            checks.append(f"cooperative MV day grows faster than the EVs from 1x to {g['multiplier']}x: time ratio "
                          f"{g['time_ratio']:.2f} > EV ratio {g['ev_ratio']:.0f}")
    checks += [f"target failed: {a['target']} ({a['note']})" for a in acc if a["status"] == "fail"]
    if long is not None:
        s = long["summary"]
        if long["status"] != "ok":
            checks.append(f"long run: {long['status']} ({long.get('error')})")
        else:
            if not s.get("complete"):
                checks.append(f"long run: {s.get('simulated_days')} days done, expected {long['days'] * 2}")
            if not long["kpis"]["finite_costs"]:
                checks.append("long run: a day's total cost is not finite")
            flat = s.get("flat") or {}
            if flat.get("flat") is False:
                checks.append(f"long run: per-day time not flat (median of days {flat['late_days']} "
                              f"{flat['late_median_s']:.2f} s vs days {flat['early_days']} "
                              f"{flat['early_median_s']:.2f} s, beyond {100 * FLAT_TOL:.0f} %)")
    return checks


def git_commit() -> str | None:
    """``git rev-parse HEAD`` of the checkout (read-only), or None."""
    try:
        res = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10,
                             check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if res.returncode != 0 or not res.stdout.strip():
        return None
    return res.stdout.strip()


# ------------------------------------------------------------------------------------ markdown
def _fmt(v: Any, spec: str = ".2f") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return format(v, spec)
    return str(v).replace("|", "\\|")


def _table(rows: list[Record]) -> str:
    return markdown_table(pd.DataFrame(rows)) if rows else "_(none)_"


def _cell_row(c: Record) -> Record:
    ok = c.get("status") == "ok"
    t = c.get("timings", {}) if ok else {}
    s = c.get("solves", {}) if ok else {}
    big = s.get("largest_model") or {}
    fl = s.get("fleet") or {}
    return {
        "grid": GRID_LABEL[c["grid"]], "EVs x": c["multiplier"], "mode": c["mode"], "status": c.get("status"),
        "EVs": _fmt((c.get("agents") or {}).get("evs")),
        "day s": _fmt(t.get("total_s")), "DA s": _fmt(t.get("da_s")), "market s": _fmt(t.get("market_s")),
        "solve s": _fmt(t.get("solve_s")), "AC s": _fmt(t.get("ac_s")),
        "execute s": _fmt(c.get("execute_s") if ok else None),
        "build s": _fmt(c.get("outside_day_s") if ok else None), "load s": _fmt(c.get("load_s") if ok else None),
        "process s": _fmt(c.get("process_s"), ".1f"),
        "solves": _fmt(s.get("model_solves")),
        "fleet resp. (chunk runs, EV MILPs)": f"{fl['responses']} ({fl['chunk_runs']}, {fl['ev_milps']})" if ok
        else "–",
        "largest model rows x cols": f"{big['max_rows']:,} x {big['max_cols']:,}" if big else "–",
        "binaries": _fmt(big.get("max_binaries")) if big else "–",
        "largest": big.get("name", "–") if big else "–",
        "fleet LP rows x cols": f"{fl['max_rows']:,} x {fl['max_cols']:,}" if ok and fl.get("responses") else "–",
        "peak MB": _fmt(c.get("peak_rss_mb") if ok else None, ".0f"),
        "total cost": _fmt(c.get("total_cost") if ok else None, ".1f"),
        "note": _fmt(c.get("reason") or c.get("error"))[:160] if not ok else "",
    }


def render_markdown(doc: Record) -> str:
    mach, cfg = doc["machine"], doc["config"]
    cells = doc["cells"]
    out = [
        "# Benchmark: paper 004 on a real feeder — scale with EVs (issue 17)",
        "",
        f"Generated {mach['date']} on {mach['platform']} ({mach['cpu_count']} CPUs, {mach['cpu_affinity']} usable, "
        f"load average at start {mach['load_average_at_start']}); Python {mach['python']}, HiGHS {mach['highspy']} "
        f"(highspy {mach.get('highspy_package')}), Pyomo {mach['pyomo']}; git commit {doc['git_commit']} "
        f"(the runs' code version: {doc.get('code_version')}).",
        "",
        f"Configuration: seed {cfg['seed']}, MV multipliers {cfg['multipliers']} x {BASE_EVS_PER_STATION} EVs per "
        f"station, modes {', '.join(cfg['modes'])}, oracle up to {cfg['oracle_max_evs']} EVs per station, cell "
        f"timeout {cfg['cell_timeout']:.0f} s{', quick mode' if cfg['quick'] else ''}. Each cell is one simulated "
        "day in its own process, through `sim.engine.run.execute` as `run_sim.py simulate --days 1`. Times in "
        "seconds (wall clock).",
        "",
        "Columns: day = `total_s` of timings.csv (of which DA = the TOU design, market = the rolling-price "
        "bisection, solve = DA + the mode's intraday scheme, AC = the AC power-flow check); execute = the engine "
        "call (agents and models built, the day, outputs written), build = execute - day - its write (building the "
        "run's agents and persistent models, once per run; manifest and summaries), load = reading the scenario "
        "(SimBench: the grid and its 2016 profiles), process = the child process from launch to exit; solves = "
        "calls of `HighsModel.solve` (every cluster, coalition, DA and oracle MILP/LP); the pooled EV fleet solves "
        "its own HiGHS LP chunks once per response, plus exact per-EV MILPs where its LP is not certified; peak = "
        "`ru_maxrss` of the child.",
        "",
        "## Agents",
        "",
        _table([{"grid": GRID_LABEL[c["grid"]], "EVs x": c["multiplier"], **{
            k: _fmt(v) if not isinstance(v, list) else ", ".join(map(str, v)) for k, v in c["agents"].items()}}
            for c in _unique_agents(cells)]),
        "",
        "## One day per grid, EV multiplier and mode",
        "",
        _table([_cell_row(c) for c in cells]),
        "",
        "### Solves by model family",
        "",
        _table([{"grid": GRID_LABEL[c["grid"]], "EVs x": c["multiplier"], "mode": c["mode"],
                 "solves by family (count; largest rows x cols, binaries)": "; ".join(
                     f"{name} {f['solves']} ({f['max_rows']:,} x {f['max_cols']:,}, {f['max_binaries']:,})"
                     for name, f in c["solves"]["by_family"].items())}
                for c in cells if c.get("status") == "ok"]),
        "",
        "## Growth with the EV count (MV grid)",
        "",
        "Time ratio = the day (`total_s`) at the multiplier / at 1x; linear or better = time ratio <= EV ratio; "
        "exponent = log(time ratio) / log(EV ratio).",
        "",
        _table([{"mode": g["mode"], "EVs x": g["multiplier"], "EVs": _fmt(g["evs"]), "EV ratio": _fmt(g["ev_ratio"],
                 ".0f"), "day 1x s": _fmt(g["day_1x_s"]), "day s": _fmt(g["day_s"]),
                 "time ratio": _fmt(g["time_ratio"]), "exponent": _fmt(g["exponent"]),
                 "linear or better": _fmt(g["linear_or_better"]), "note": _fmt(g["note"])}
                for g in doc["growth"]]),
        "",
        "## Long run: cooperative on the MV grid, 2 workers",
        "",
    ]
    lr = doc.get("long_run")
    if lr is None:
        out += ["_(skipped: --skip-long)_", ""]
    elif lr["status"] != "ok":
        out += [f"{lr['status'].upper()}: {lr.get('error')}", ""]
    else:
        s, mem, fl = lr["summary"], lr.get("tree_memory") or {}, lr["summary"].get("flat") or {}
        out += [
            f"`{MV}`, seeds {', '.join(map(str, LONG_SEEDS))}, {lr['days']} days each, `workers={LONG_WORKERS}` "
            f"(a local Dask cluster). {s['simulated_days']} simulated days in {lr['execute_s']:.1f} s of `execute` "
            f"(process {lr['process_s']:.1f} s): **{s['days_per_minute']:.1f} simulated days per minute**; of the "
            f"`execute` wall, {s['outside_days_s']:.1f} s lie outside the longer run's days (Dask start-up, each "
            "worker's scenario load and agent/model build, the summaries).",
            "",
            _table([{
                "day total_s median": _fmt(s["day_total_median_s"]), "max": _fmt(s["day_total_max_s"]),
                "mean": _fmt(s["day_total_mean_s"]),
                "days 2-11 median": _fmt(fl.get("early_median_s")),
                f"last {FLAT_WINDOW} days median": _fmt(fl.get("late_median_s")),
                "late / early": _fmt(fl.get("late_over_early")), "flat (within 25 %)": _fmt(fl.get("flat")),
                "driver peak MB": _fmt(lr["peak_rss_driver_mb"], ".0f"),
                "largest worker peak MB": _fmt(lr["peak_rss_largest_worker_mb"], ".0f"),
                "process tree peak MB (sampled)": _fmt(mem.get("peak_tree_mb"), ".0f"),
                "processes": _fmt(mem.get("max_processes")),
            }]),
            "",
            "Memory: driver = `ru_maxrss` of the child process that runs `execute` (Dask client, scheduler and "
            "nannies); largest worker = its `RUSAGE_CHILDREN` `ru_maxrss` after the cluster closed (the peak of the "
            f"largest waited-for child, i.e. a Dask worker); tree = the summed RSS of the child and its descendants "
            f"sampled from /proc every {mem.get('interval_s')} s."
            + (f" Flatness: {fl['note']}." if fl.get("note") else ""),
            "",
        ]
    out += ["## Acceptance (issue 17)", "",
            _table([{"target": a["target"], "value": _fmt(a["value"]), "status": a["status"], "note": a["note"]}
                    for a in doc["acceptance"]]), "", "## Checks", ""]
    out += [f"- {c}" for c in doc["checks"]] if doc["checks"] else ["All sanity checks passed."]
    out += ["", f"Benchmark wall time {doc['total_wall_s']:.0f} s.", ""]
    return "\n".join(out)


def _unique_agents(cells: Sequence[Record]) -> list[Record]:
    seen, out = set(), []
    for c in cells:
        key = (c["grid"], c["multiplier"])
        if c.get("agents") and key not in seen:
            seen.add(key)
            out.append(c)
    return out


# ------------------------------------------------------------------------------------------ main
def main(argv: Sequence[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else [str(a) for a in argv])
    if raw[:1] == ["--child"]:
        return child_main(raw[1:])
    args = build_parser().parse_args(raw)
    cells_plan = plan_cells(args)
    days = 2 if args.quick else args.days
    t_start = time.perf_counter()
    machine = machine_info()
    config: Record = {
        "seed": args.seed, "multipliers": [1] if args.quick else (args.multipliers or list(DEFAULT_MULTIPLIERS)),
        "modes": ["cooperative"] if args.quick else (args.modes or list(MODES)),
        "reference": not args.no_reference, "oracle_max_evs": args.oracle_max_evs,
        "cell_timeout": args.cell_timeout, "long_days": None if args.skip_long else days,
        "long_seeds": list(LONG_SEEDS), "long_workers": LONG_WORKERS, "long_timeout": args.long_timeout,
        "quick": bool(args.quick), "argv": raw,
    }
    _say(f"feeder_scale: {len(cells_plan)} cells"
         + ("" if args.skip_long else f", then {days} cooperative MV days x {len(LONG_SEEDS)} seeds on "
            f"{LONG_WORKERS} workers") + f" -> {args.out}")
    cells: list[Record] = []
    long: Record | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="feeder-scale-work-") as tmp:
            work = Path(tmp)
            for cell in cells_plan:
                cells.append(run_cell(cell, args, work))
            if not args.skip_long:
                _say(f"long run: {days} days x seeds {list(LONG_SEEDS)}, {LONG_WORKERS} workers "
                     f"(timeout {args.long_timeout:.0f} s)")
                long = run_child("long", {"scenario": MV, "days": days, "seeds": list(LONG_SEEDS),
                                          "workers": LONG_WORKERS}, args.long_timeout, work, "long",
                                 sample_s=args.sample_s, timeout_option="--long-timeout")
                long["days"] = days
                long["summary"] = long_summary(long, days)
                s = long["summary"]
                if long["status"] == "ok":
                    _say(f"long run: {s['simulated_days']} days in {long['execute_s']:.1f} s "
                         f"({s['days_per_minute']:.1f} days/min), day median {s['day_total_median_s']:.2f} s, "
                         f"max {s['day_total_max_s']:.2f} s")
                else:
                    _say(f"long run: {long['status'].upper()} ({long.get('error')})")
    except KeyboardInterrupt:
        _say("interrupted: nothing written (the running child and its processes were ended)")
        return 130
    grow = growth(cells)
    acc = acceptance(cells, grow, machine)
    checks = sanity_checks(cells, grow, acc, long)
    doc: Record = {
        "benchmark": "feeder_scale", "schema_version": SCHEMA_VERSION, "machine": machine,
        "git_commit": git_commit(),
        "code_version": next((c.get("code_version") for c in cells if c.get("code_version")), None),
        "config": config, "cells": cells, "growth": grow, "long_run": long, "acceptance": acc, "checks": checks,
        "total_wall_s": time.perf_counter() - t_start,
    }
    doc = jsonable(doc)
    json_path = write_json(doc, args.out / JSON_NAME)
    md_path = write_text(render_markdown(doc), args.out / MD_NAME)
    for a in acc:
        _say(f"{a['status']:>12}  {a['target']}: {a['note']}")
    for c in checks:
        _say(f"check FAILED: {c}")
    _say(f"wrote {json_path} and {md_path} ({doc['total_wall_s']:.0f} s)")
    return 1 if checks else 0


if __name__ == "__main__":
    sys.exit(main())

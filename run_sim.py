"""coopgrid command line.

    python run_sim.py                      # the embedded default: ieee33, 2 days, cooperative, seed 0
    python run_sim.py simulate --scenario ieee33 --days N --mode M --seed S --out DIR
                               [--replay oracle|mpc] [--workers K | --scheduler ADDRESS] [--resume]
    python run_sim.py compare --scenario ieee33 --days N --modes cooperative,centralized,noncooperative,oracle
                               --seed S --out DIR
    python run_sim.py sweep --scenario ieee33 --set market.kappa=0,0.5,0.9 [--set ...] --days N --out DIR
    python run_sim.py study campus --out DIR [--scenarios S --epsilon E --beta B --seed N]
    python run_sim.py study ieee33 --out DIR [--seed N --evs-per-station K]
    python run_sim.py study rural --out DIR [--seed N --quick --workers W]
    python run_sim.py study lowcarbon --out DIR [--seed N --quick --workers W]
    python run_sim.py app [--host 127.0.0.1 --port 8765 --runs DIR]   # the dashboard (SolaraViz)
"""

from __future__ import annotations

import argparse
import gc
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

from studies import STUDIES
from studies.common.cli import add_study_parsers, run_study
from studies.common.cli import day_of_year as _day_of_year
from studies.common.cli import non_negative_int as _non_negative_int
from studies.common.cli import positive_int as _positive_int


def _modes_help() -> str:
    """The modes of every bundled system, for --help: from :mod:`sim.mode_names` (milliseconds to import; a
    test keeps it equal to the registry :data:`sim.systems.SYSTEMS`, which loads every system)."""
    from sim.mode_names import modes_help

    return modes_help()


#: ``python run_sim.py`` with no arguments (issue 4: ieee33, 2 days, cooperative, seed 0, into results/).
DEFAULT_ARGV = ["simulate", "--scenario", "ieee33", "--days", "2", "--mode", "cooperative", "--seed", "0",
                "--out", "results"]


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (``run_sim.py simulate: error: ...``), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _finite_positive(text: str) -> float:
    """``argparse`` type: a finite number > 0 (seconds)."""
    try:
        v = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}") from exc
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"must be finite, got {text!r}")
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0 seconds, got {text!r}")
    return v


#: Most seeds one command accepts (``--seeds``).
MAX_SEEDS = 10000


def _seeds(text: str) -> list[int]:
    """``argparse`` type of ``--seeds``: ``0-9`` (a range, both ends included), ``0,3,7`` or both
    (``0-4,9``); whole numbers >= 0, in the order given, repeats dropped, at most :data:`MAX_SEEDS`."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        lo, dash, hi = part.partition("-")
        try:
            a = int(lo)
            b = int(hi) if dash else a
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"expected seeds like 0-9 or 0,3,7 (whole numbers >= 0), got {text!r}") \
                from exc
        if a < 0 or b < a:
            raise argparse.ArgumentTypeError(f"expected seeds like 0-9 or 0,3,7 (whole numbers >= 0, ranges "
                                             f"low-high), got {part!r}")
        if b - a + 1 + len(out) > MAX_SEEDS:
            raise argparse.ArgumentTypeError(f"at most {MAX_SEEDS} seeds, got {text!r}")
        out += [s for s in range(a, b + 1) if s not in out]
    return out


def _out_dir(text: str) -> Path:
    """``argparse`` type of ``--out``: a folder (existing or not), not an existing file."""
    p = Path(text)
    if p.exists() and not p.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is an existing file; give a folder (it is created if missing)")
    return p


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="run_sim.py",
        description="coopgrid: multi-agent scheduling of integrated energy systems and distribution networks",
        epilog="Without arguments: " + " ".join(DEFAULT_ARGV) + " (the embedded default simulation).",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log every solve")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sim = sub.add_parser(
        "simulate", help="multi-day Monte Carlo simulation of one coordination mode",
        description="Simulate N days of the scenario in one mode: each day a weather and load draw from the seed "
        "(fitted to real TMY3 data), the day-ahead TOU design, the intraday scheme with the realised day, the "
        "network check; storage energy carries from day to day.  Writes kpis.csv, timings.csv, manifest.json "
        "and timeseries/day=NNN/*.parquet, a day at a time.",
    )
    _sim_common(sim)
    sim.add_argument("--mode", default=None, help="coordination mode (default: the system's default, cooperative "
                     "on the bundled systems); " + _modes_help())
    _fixed_sets(sim)
    cmp = sub.add_parser(
        "compare", help="several modes on identical random days: costs with 95 %% intervals, paired "
        "differences of every pair of modes, figures",
        description="Run each mode over the same days (common random numbers) and write kpis.csv, "
        "comparison.csv, pairs.csv (paired per-day differences, the key contrast first), figures/ and report.md.",
    )
    _sim_common(cmp)
    cmp.add_argument("--modes", default=None, help="comma-separated subset of the system's modes (default: all); "
                     + _modes_help())
    _fixed_sets(cmp)
    sw = sub.add_parser(
        "sweep", help="agent-behaviour study: vary scenario fields (the scenario file's paths) and simulate each point",
        description="Each --set PATH=V1,V2,... varies one field of the scenario file (e.g. market.kappa=0,0.5,0.9); "
        "several --set give their product.  PATH is the file's own: TOML keys joined by dots, an entry of an array "
        "of tables by its name (clusters.C1.ess.capacity_kwh), else by its bus (ev.stations.13.evs), an array "
        "element by its 1-based position; a key the file leaves out may be set.  Each value is read as TOML "
        "(0.8, true, \"hard\", [1, 2]; a bare word is a string) and the point is checked by the scenario's "
        "loader like the file itself.  One KPI row per point and day in kpis.csv; sweep.csv, figures/ and "
        "report.md summarise them.",
    )
    _sim_common(sw)
    sw.add_argument("--mode", default=None, help="coordination mode (default: the system's default); " + _modes_help())
    sw.add_argument("--set", dest="sets", action="append", required=True, metavar="PATH=V1,V2,...",
                    help="scenario file path and its values (TOML), e.g. market.kappa=0,0.5,0.9 or "
                    "network.load_scale=0.8,1 (ieee33); commas inside [...] or {...} do not split")
    app = sub.add_parser(
        "app", help="the dashboard: watch a run step by step, open finished runs (SolaraViz in the browser)",
        description="Serve the dashboard: choose scenario, mode, replay, seed and behaviours, then Step (one "
        "quarter-hour) or Play the engine's real model; /runs browses the finished output folders below --runs from "
        "their files alone.  Listens on 127.0.0.1 unless --host says otherwise.")
    app.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; another address "
                     "lets anyone who reaches it start solver runs here: a warning says so)")
    app.add_argument("--port", type=_non_negative_int, default=8765, help="TCP port (default 8765)")
    app.add_argument("--runs", type=Path, default=Path("results"),
                     help="folder whose finished runs /runs may open (nothing outside it is read; default results)")
    study = sub.add_parser("study", help="reproduce a paper's study on a bundled scenario")
    ssub = study.add_subparsers(dest="study", metavar="STUDY", required=True)
    add_study_parsers(ssub, STUDIES)
    return p


def _fixed_sets(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", dest="fixed", action="append", default=[], metavar="PATH=VALUE",
                   help="edit one field of the scenario file for every run (repeatable), e.g. "
                   "behaviours.C1=misreport:-0.1 or market.verify_standalone=true; several values of a field are "
                   "compared with the sweep command")


def _sim_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scenario", default="ieee33", help="bundled scenario name or folder (default ieee33)")
    p.add_argument("--days", type=_positive_int, default=2, help="number of days (default 2)")
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=_non_negative_int, default=0, help="seed of every random draw (default 0)")
    seeds.add_argument("--seeds", type=_seeds, default=None, metavar="LIST",
                       help="run every seed of LIST (0-9, or 0,3,7) into one kpis.csv; the run names carry the seed")
    p.add_argument("--out", type=_out_dir, default=Path("results"), help="output folder (default results)")
    p.add_argument("--replay", choices=("oracle", "mpc"), default="oracle",
                   help="intraday replay (SPEC 6.6): oracle = one intraday optimisation with the realised day "
                        "(as in the papers); mpc = re-optimise the rest of the day at every quarter-hour with "
                        "what is realised so far and the forecast after, execute the first quarter-hour "
                        "(the oracle mode stays full-information in both)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--workers", type=_positive_int, default=None,
                   help="run the runs as tasks on a local Dask cluster with K worker processes (K = 1: one "
                        "after the other in this process, which is what one worker would do, without a cluster)")
    g.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="attach to an existing Dask scheduler (tcp://host:port); workers must share --out")
    p.add_argument("--resume", action="store_true",
                   help="continue after the last complete day in --out (refused if --out holds results of other "
                   "inputs: scenario, overrides, seed, mode, settings or code version)")
    p.add_argument("--start-day", type=_day_of_year, default=None,
                   help="day of year of the first day (default 172); a real feeder's profile days follow it only "
                        "with profiles.days = 'consecutive'")
    p.add_argument("--mc-days", type=_positive_int, default=200,
                   help="Monte Carlo days reduced to the DA forecast scenarios (default 200)")
    p.add_argument("--evs-per-station", type=_non_negative_int, default=None, help="vehicles per EV station")
    p.add_argument("--time-limit", type=_finite_positive, default=600.0, help="seconds per solve (default 600)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        argv = DEFAULT_ARGV
    args = build_parser().parse_args(argv)
    # Pyomo models are hundreds of thousands of small objects that live for the whole run: with the default first
    # threshold (700 allocations) the cyclic collector re-scans them again and again while they are built (~0.5 s
    # of a 3-day ieee33 run); a larger one collects the same garbage, less often.
    gc.set_threshold(100_000, 50, 100)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pyomo").setLevel(logging.ERROR)
    for name in ("distributed", "dask"):  # Dask logs every worker start and stop at INFO
        logging.getLogger(name).setLevel(logging.INFO if args.verbose else logging.WARNING)
    if args.command in ("simulate", "compare", "sweep"):
        return _simulate(args, argv)
    if args.command == "app":
        from app.serve import serve

        try:
            return serve(args.host, args.port, args.runs)
        except ValueError as exc:
            if args.verbose:
                raise
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if args.command != "study":
        build_parser().print_help()
        return 2
    return run_study(next(spec for spec in STUDIES if spec.name == args.study), args)


def _parse_sets(sets: list[str]) -> list[tuple[str, list[str]]]:
    """``PATH=V1,V2,...`` as ``(PATH, [V1, V2, ...])``; the values stay text (the loader reads them as TOML).

    A behaviour's text has commas of its own (``behaviours.C1=leave:w=3,g=1,misreport:-0.1``): under
    ``behaviours.`` a new value starts only where a piece begins with a behaviour id."""
    from scenarios.edits import split_values

    out = []
    for item in sets:
        path, eq, values = item.partition("=")
        vals = split_values(values)
        if path.strip().startswith("behaviours."):
            vals = _join_behaviour_values(vals)
        if not eq or not path.strip() or not vals:
            raise ValueError(f"--set {item!r}: expected PATH=V1,V2,... (e.g. market.kappa=0,0.5,0.9)")
        out.append((path.strip(), vals))
    return out


def _join_behaviour_values(pieces: list[str]) -> list[str]:
    from agents.behaviours import BEHAVIOURS

    out: list[str] = []
    for piece in pieces:
        starts = piece.startswith("{") or piece.partition(":")[0].strip() in BEHAVIOURS
        if starts or not out:
            out.append(piece)
        else:
            out[-1] += "," + piece
    return out


def _fixed_edits(items: list[str]) -> tuple[tuple[str, str], ...]:
    """``--set PATH=VALUE`` of simulate/compare as edits (one value each; the whole text after ``=``)."""
    out = []
    for item in items:
        path, eq, value = item.partition("=")
        if not eq or not path.strip() or not value.strip():
            raise ValueError(f"--set {item!r}: expected PATH=VALUE (e.g. behaviours.C1=misreport:-0.1)")
        out.append((path.strip(), value.strip()))
    return tuple(out)


def _simulate(args: argparse.Namespace, argv: list[str]) -> int:
    import itertools

    from scenarios.schema import ScenarioError
    from sim.engine.failure import RunFailure, RunInterrupted, RunsFailed
    from sim.engine.run import execute, load_scenario
    from sim.engine.spec import RunSpec, SimSettings
    from sim.systems import system_for

    try:
        system = system_for(args.scenario)
        start = args.start_day if args.start_day is not None else SimSettings.start_day_of_year
        settings = SimSettings(scenario=args.scenario, replay=args.replay, start_day_of_year=start,
                               n_mc=args.mc_days, evs_per_station=args.evs_per_station, time_limit_s=args.time_limit)
        seeds = args.seeds if args.seeds is not None else [args.seed]
        fixed = _fixed_edits(getattr(args, "fixed", []))
        point = ",".join(f"{p}={v}" for p, v in fixed) or "base"
        if fixed:
            load_scenario(system, args.scenario, fixed)  # a clear error before any run starts
        if args.command == "compare":
            modes = (list(system.modes) if args.modes is None
                     else [m.strip() for m in args.modes.split(",") if m.strip()])
            bad = [m for m in modes if m not in system.modes]
            if bad or not modes:
                raise ValueError(f"--modes: unknown {bad}; {system.kind} has {', '.join(system.modes)}")
            runs = [RunSpec(m, seed, args.days, point=point, overrides=fixed) for m in modes for seed in seeds]
        else:
            mode = args.mode or system.default_mode
            system.mode(mode)  # a clear error naming the system's modes
            if args.command == "simulate":
                runs = [RunSpec(mode, seed, args.days, point=point, overrides=fixed) for seed in seeds]
            else:
                sets = _parse_sets(args.sets)
                runs = []
                for combo in itertools.product(*[[(p, v) for v in vals] for p, vals in sets]):
                    load_scenario(system, args.scenario, combo)  # validate every point before running any
                    point = ",".join(f"{p}={v}" for p, v in combo)
                    runs += [RunSpec(mode, seed, args.days, point=point, overrides=tuple(combo)) for seed in seeds]
        scenario = system.prepare(load_scenario(system, args.scenario, fixed), settings)
        year = getattr(scenario, "year", None)
        if args.start_day is not None and year is not None and year.day_selection == "random":
            raise ValueError(f"--start-day {args.start_day}: scenario {args.scenario} draws each day of its profile "
                             "year from the day seed (profiles.days = 'random'); set profiles.days = 'consecutive' "
                             "(--set profiles.days=consecutive) to run consecutive days from a start day")
    except (ScenarioError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    total = sum(r.days for r in runs)
    bar = None
    say = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="day", desc=args.command, file=sys.stderr)

        def say(msg: str) -> None:
            assert bar is not None
            bar.set_postfix_str(msg[-60:])
            bar.update(1)

    t0 = time.perf_counter()
    failed: list[RunFailure] = []
    try:
        kpis = execute(args.out, system, runs, settings, resume=args.resume, workers=args.workers,
                       scheduler=args.scheduler, command="run_sim.py " + " ".join(argv), progress=say)
    except RunsFailed as exc:  # the finished runs' outputs are written
        kpis, failed = exc.kpis, exc.failures
    except RunInterrupted as exc:  # the finished days are written
        print(f"\n{exc.message()}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("\ninterrupted before the first day was simulated; nothing to resume", file=sys.stderr)
        return 130
    except (ScenarioError, ValueError) as exc:  # --resume refused, an input the engine rejects
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if bar is not None:
            bar.close()
    _report(args, system, scenario, kpis, time.perf_counter() - t0)
    if failed:
        for f in failed:
            if args.verbose and f.trace:
                print(f.trace, file=sys.stderr)
            print(f"error: {f.paragraph()}", file=sys.stderr)
        rest = "; the other runs' results are written" if len(failed) < len(runs) else ""
        print(f"{len(failed)} of {len(runs)} runs failed (listed in {args.out}/failures.csv){rest}", file=sys.stderr)
        return 1
    return 0


def _report(args: argparse.Namespace, system: Any, scenario: Any, kpis: Any, seconds: float) -> None:
    """The comparison or sweep report of what finished, and the summary on stdout."""
    from sim.analysis.compare import summary_lines, write_compare, write_sweep

    if kpis.empty:
        print(f"no day finished; see {args.out}/failures.csv")
        return
    currency = system.currency(scenario)
    if args.command == "compare":
        write_compare(args.out, currency=currency)
    elif args.command == "sweep":
        write_sweep(args.out, currency=currency)
    print(summary_lines(kpis, currency=currency, system=system))
    print(f"\n{len(kpis)} run-days in {seconds:.1f} s; results in {args.out}/ (kpis.csv, "
          "timings.csv, manifest.json, timeseries/)")


if __name__ == "__main__":
    sys.exit(main())

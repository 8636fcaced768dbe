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
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from agents.milp import SolverOptions
from scenarios.loader import load_three_campus
from scenarios.schema import ScenarioError


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from exc
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {v}")
    return v


def _fraction(lo: float, hi: float, what: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{what}: expected a number in [{lo}, {hi}), got {text!r}") from exc
        if not lo <= v < hi:
            raise argparse.ArgumentTypeError(f"{what}: expected a number in [{lo}, {hi}), got {v}")
        return v

    return parse


MODES = ("cooperative", "centralized", "noncooperative", "oracle")
#: ``python run_sim.py`` with no arguments (issue 4: ieee33, 2 days, cooperative, seed 0, into results/).
DEFAULT_ARGV = ["simulate", "--scenario", "ieee33", "--days", "2", "--mode", "cooperative", "--seed", "0",
                "--out", "results"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
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
    sim.add_argument("--mode", choices=MODES, default="cooperative", help="coordination mode (default cooperative)")
    cmp = sub.add_parser(
        "compare", help="several modes on identical random days: costs with 95 %% intervals, price of "
        "decentralisation, figures",
        description="Run each mode over the same days (common random numbers) and write kpis.csv, "
        "comparison.csv, decentralisation.csv, figures/ and report.md.",
    )
    _sim_common(cmp)
    cmp.add_argument("--modes", default=",".join(MODES), help=f"comma-separated subset of {','.join(MODES)}")
    sw = sub.add_parser(
        "sweep", help="agent-behaviour study: vary scenario fields (dotted paths) and simulate each point",
        description="Each --set PATH=V1,V2,... varies one scenario field (e.g. market.kappa=0,0.5,0.9); several "
        "--set give their product.  One KPI row per point and day in kpis.csv; sweep.csv, figures/ and "
        "report.md summarise them.",
    )
    _sim_common(sw)
    sw.add_argument("--mode", choices=MODES, default="cooperative", help="coordination mode (default cooperative)")
    sw.add_argument("--set", dest="sets", action="append", required=True, metavar="PATH=V1,V2,...",
                    help="scenario field by dotted path and its values, e.g. market.kappa=0,0.5,0.9")
    study = sub.add_parser("study", help="reproduce a paper's study on a bundled scenario")
    ssub = study.add_subparsers(dest="study", metavar="STUDY", required=True)
    c = ssub.add_parser(
        "campus",
        help="paper 000: three-campus DA/RT CVaR schedule, 4 cases, epsilon sensitivity, stress tests",
        description="Solve the proposed / no_p2p / no_dr / no_ess cases, the epsilon sensitivity (0.05-0.20) "
        "and the P2P / storage capacity stress tests (75/50/25 %%) on one persistent model, and write "
        "cases.csv, sensitivity_epsilon.csv, stress.csv, timeseries.parquet, figures/ and report.md.",
    )
    c.add_argument("--out", type=Path, default=Path("results/campus"), help="output folder (default results/campus)")
    c.add_argument("--scenario", default="three_campus", help="bundled scenario name or folder (default three_campus)")
    c.add_argument("--scenarios", type=_positive_int, default=None, help="number of RT scenarios S (default: file, 12)")
    c.add_argument("--epsilon", type=_fraction(0.0, 1.0, "--epsilon"), default=None,
                   help="forecast error bound (default: file, 0.10)")
    c.add_argument("--beta", type=_fraction(0.0, 1.0, "--beta"), default=None, help="CVaR level (default: file, 0.80)")
    c.add_argument("--seed", type=int, default=None, help="seed of the RT scenario draw (default: file)")
    c.add_argument("--formulation", choices=("auto", "milp"), default="auto",
                   help="auto: LP with complementarity certificate, binaries only where needed; "
                   "milp: the paper's all-binary model")
    c.add_argument("--lp-method", choices=("ipm", "simplex", "choose"), default="ipm",
                   help="HiGHS LP algorithm (default ipm, with crossover)")
    c.add_argument("--time-limit", type=float, default=600.0, help="seconds per solve (default 600)")
    c.add_argument("--workers", type=_positive_int, default=min(2, os.cpu_count() or 1),
                   help="processes sharing the case list, each with its own persistent model "
                   "(default: min(2, cores)); results do not depend on it")
    c.add_argument("--no-figures", action="store_true", help="skip figures and report.md")
    c.add_argument("--report-only", action="store_true",
                   help="do not solve: redraw figures and report.md from the files already in --out")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    d = ssub.add_parser(
        "ieee33",
        help="paper 004: IEEE-33 feeder, DA TOU design, rolling prices, Nash bargaining; 4 schemes",
        description="Design the DA TOU prices, then run the cooperative (rolling prices + Nash bargaining), "
        "centralized, noncooperative and oracle schemes on the same day, check every dispatch with LinDistFlow "
        "and an AC power flow, and write schemes.csv, bargaining.csv, prices.csv, day_ahead.csv, "
        "timeseries.parquet, study.json, figures/ and report.md.",
    )
    d.add_argument("--out", type=Path, default=Path("results/ieee33"), help="output folder (default results/ieee33)")
    d.add_argument("--scenario", default="ieee33", help="bundled scenario name or folder (default ieee33)")
    d.add_argument("--seed", type=_non_negative_int, default=None,
                   help="seed of the day's random draws: renewables, fleets (default: file)")
    d.add_argument("--evs-per-station", type=_non_negative_int, default=None,
                   help="vehicles per EV station (default: file, 20)")
    d.add_argument("--schemes", default=",".join(("cooperative", "centralized", "noncooperative", "oracle")),
                   help="comma-separated subset of cooperative,centralized,noncooperative,oracle")
    d.add_argument("--time-limit", type=float, default=600.0, help="seconds per solve (default 600)")
    d.add_argument("--no-figures", action="store_true", help="skip figures and report.md")
    d.add_argument("--report-only", action="store_true",
                   help="do not solve: redraw figures and report.md from the files already in --out")
    d.add_argument("--quiet", action="store_true", help="no progress messages")
    r = ssub.add_parser(
        "rural",
        help="paper 002: rural biogas IES, SO/RO/DRO/CDRO/CVaR, sensitivity to M, K, alpha, lambda, degree, gap",
        description="Solve the five methods at the defaults (M 200, K 50, alpha 0.99/0.95, lambda 0.2) and the "
        "sensitivity grids of 002 (M, K, (alpha_inf, alpha_1), lambda, uncertainty degree, C&CG gap) with common "
        "random numbers, and write methods.csv, sensitivity_*.csv, convergence.csv, sample_costs.csv, "
        "timeseries.parquet, study.json, figures/ and report.md.",
    )
    r.add_argument("--out", type=Path, default=Path("results/rural"), help="output folder (default results/rural)")
    r.add_argument("--scenario", default="rural_ies", help="bundled scenario name or folder (default rural_ies)")
    r.add_argument("--seed", type=_non_negative_int, default=None,
                   help="seed of the historical error days and k-means, the same for every point (default: file)")
    r.add_argument("--quick", action="store_true",
                   help="small grids: M 50/200, K 10/20, lambda 0/0.5/1, 2 alpha points, 2 degrees, 2 gaps")
    r.add_argument("--workers", type=_positive_int, default=min(2, os.cpu_count() or 1),
                   help="processes sharing the tasks, each with its own models (default: min(2, cores)); "
                   "results do not depend on it")
    r.add_argument("--time-limit", type=float, default=600.0, help="seconds per solve (default 600)")
    r.add_argument("--no-figures", action="store_true", help="skip figures and report.md")
    r.add_argument("--report-only", action="store_true",
                   help="do not solve: redraw figures and report.md from the files already in --out")
    r.add_argument("--quiet", action="store_true", help="no progress messages")
    lc = ssub.add_parser(
        "lowcarbon",
        help="paper 003: H2/NH3 low-carbon campus with CCUS and stepped carbon trading; six configurations, "
             "data-driven / box / polyhedral two-stage RO",
        description="Fit the Dirichlet-process GMM of the wind days, build the data-driven union of ellipsoids and "
        "the box and polyhedral sets, solve the six configurations of 003 by C&CG (S1 deterministic, scored at its "
        "worst case), S5 over every set, replay each plan on independent days, and write costs.csv, co2.csv, "
        "uncertainty_sets.csv, convergence.csv, replay.csv, mixture.csv, timeseries.parquet, study.json, figures/ "
        "and report.md.",
    )
    lc.add_argument("--out", type=Path, default=Path("results/lowcarbon"),
                    help="output folder (default results/lowcarbon)")
    lc.add_argument("--scenario", default="lowcarbon_ies",
                    help="bundled scenario name or folder (default lowcarbon_ies)")
    lc.add_argument("--seed", type=_non_negative_int, default=None,
                    help="seed of the wind samples, the mixture fit and the replay days (default: file)")
    lc.add_argument("--quick", action="store_true",
                    help="400 samples, 3 ellipsoids, 10 replay days, C&CG gap 5e-3 (the version the tests run)")
    lc.add_argument("--workers", type=_positive_int, default=min(2, os.cpu_count() or 1),
                    help="processes sharing the robust solves (default: min(2, cores)); results do not depend on it")
    lc.add_argument("--compare", default="box,polyhedral",
                    help="comma-separated subset of box,polyhedral (or 'none'): also bound S5's robust cost over "
                         "these sets (003 Table 3; a proven lower bound, default both)")
    lc.add_argument("--time-limit", type=float, default=600.0, help="seconds per solve (default 600)")
    lc.add_argument("--no-figures", action="store_true", help="skip figures and report.md")
    lc.add_argument("--report-only", action="store_true",
                    help="do not solve: redraw figures and report.md from the files already in --out")
    lc.add_argument("--quiet", action="store_true", help="no progress messages")
    return p


def _sim_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scenario", default="ieee33", help="bundled scenario name or folder (default ieee33)")
    p.add_argument("--days", type=_positive_int, default=2, help="number of days (default 2)")
    p.add_argument("--seed", type=_non_negative_int, default=0, help="seed of every random draw (default 0)")
    p.add_argument("--out", type=Path, default=Path("results"), help="output folder (default results)")
    p.add_argument("--replay", choices=("oracle", "mpc"), default="oracle",
                   help="intraday replay (SPEC 6.6): oracle = one intraday optimisation with the realised day "
                        "(as in the papers); mpc = re-optimise the rest of the day at every quarter-hour with "
                        "what is realised so far and the forecast after, execute the first quarter-hour "
                        "(the oracle mode stays full-information in both)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--workers", type=_positive_int, default=None,
                   help="run the runs as tasks on a local Dask cluster with K worker processes")
    g.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="attach to an existing Dask scheduler (tcp://host:port); workers must share --out")
    p.add_argument("--resume", action="store_true", help="continue after the last complete day in --out")
    p.add_argument("--start-day", type=int, default=172, help="day of year of the first day (default 172)")
    p.add_argument("--mc-days", type=_positive_int, default=200,
                   help="Monte Carlo days reduced to the DA forecast scenarios (default 200)")
    p.add_argument("--evs-per-station", type=_non_negative_int, default=None, help="vehicles per EV station")
    p.add_argument("--time-limit", type=float, default=600.0, help="seconds per solve (default 600)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _non_negative_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from exc
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {v}")
    return v


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        argv = DEFAULT_ARGV
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pyomo").setLevel(logging.ERROR)
    for name in ("distributed", "dask"):  # Dask logs every worker start and stop at INFO
        logging.getLogger(name).setLevel(logging.INFO if args.verbose else logging.WARNING)
    if args.command in ("simulate", "compare", "sweep"):
        return _simulate(args, argv)
    if args.command != "study":
        build_parser().print_help()
        return 2
    if args.study == "campus":
        from sim.campus_study import report_study, run_campus_study

        if args.report_only:
            try:
                path = report_study(args.out)
            except FileNotFoundError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            print(f"wrote {path}")
            return 0

        try:
            scenario = load_three_campus(args.scenario)
        except ScenarioError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        options = SolverOptions(lp_method=args.lp_method, time_limit_s=args.time_limit)
        t0 = time.perf_counter()
        res = run_campus_study(
            scenario, args.out, n_scenarios=args.scenarios, epsilon=args.epsilon, beta=args.beta, seed=args.seed,
            formulation=args.formulation, options=options, workers=args.workers, progress=not args.quiet,
            figures=not args.no_figures,
        )
        wall = time.perf_counter() - t0
        cols = ["case", "objective", "cvar", "expected_cost", "grid_purchase_kwh", "p2p_kwh",
                "renewable_utilisation", "solve_seconds", "formulation"]
        with_pd = res.cases[cols].copy()
        with_pd["renewable_utilisation"] = (100 * with_pd["renewable_utilisation"]).round(2)
        print(with_pd.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
        print(f"\n{len(res.cases) + len(res.sensitivity) + len(res.stress)} cases in {wall:.1f} s; "
              f"results in {args.out}/ (report.md, cases.csv, timeseries.parquet, figures/)")
        return 0
    if args.study == "ieee33":
        return _ieee33(args)
    if args.study == "rural":
        return _rural(args)
    if args.study == "lowcarbon":
        return _lowcarbon(args)
    return 2


def _lowcarbon(args: argparse.Namespace) -> int:
    if args.report_only:
        from sim.lowcarbon_report import render

        try:
            figs, path = render(args.out)
        except (FileNotFoundError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"wrote {path} and {len(figs)} figures")
        return 0
    from scenarios.lowcarbon_loader import load_lowcarbon_ies
    from sim.lowcarbon_study import TABLE1, run_lowcarbon_study

    try:
        scenario = load_lowcarbon_ies(args.scenario)
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    try:
        res = run_lowcarbon_study(args.out, scenario=scenario, seed=args.seed, quick=args.quick,
                                  workers=args.workers, options=SolverOptions(time_limit_s=args.time_limit),
                                  figures=not args.no_figures, quiet=args.quiet,
                                  compare=tuple(s for s in args.compare.split(",") if s and s != "none"))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cols = ["config", "uset", *TABLE1, "iterations", "solve_s"]
    print(res.costs[cols].to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"\nstudy in {time.perf_counter() - t0:.1f} s; results in {args.out}/ (report.md, costs.csv, co2.csv, "
          "uncertainty_sets.csv, timeseries.parquet, figures/)")
    return 0


def _rural(args: argparse.Namespace) -> int:
    if args.report_only:
        from sim.rural_report import render

        try:
            figs, path = render(args.out)
        except (FileNotFoundError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"wrote {path} and {len(figs)} figures")
        return 0
    from scenarios.loader import load_rural_ies
    from sim.rural_study import run_rural_study

    try:
        scenario = load_rural_ies(args.scenario)
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    try:
        res = run_rural_study(args.out, scenario=scenario, seed=args.seed, quick=args.quick, workers=args.workers,
                              options=SolverOptions(time_limit_s=args.time_limit), figures=not args.no_figures,
                              quiet=args.quiet)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cols = ["method", "objective", "first_stage_cost", "historical_cost", "worst_cost", "worst_sample_cost",
            "iterations", "solve_seconds"]
    print(res.methods[cols].to_string(index=False, float_format=lambda v: f"{v:.6g}"))
    print(f"\nstudy in {time.perf_counter() - t0:.1f} s; results in {args.out}/ (report.md, methods.csv, "
          "sensitivity_*.csv, timeseries.parquet, figures/)")
    return 0


def _ieee33(args: argparse.Namespace) -> int:
    from sim.ieee33_schemes import SCHEMES

    if args.report_only:
        from sim.ieee33_report import render

        try:
            figs, path = render(args.out)
        except (FileNotFoundError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"wrote {path} and {len(figs)} figures")
        return 0
    schemes = [s.strip() for s in args.schemes.split(",") if s.strip()]
    bad = [s for s in schemes if s not in SCHEMES]
    if bad or not schemes:
        print(f"error: --schemes: unknown {bad}; choose from {', '.join(SCHEMES)}", file=sys.stderr)
        return 2
    from scenarios.ieee33_loader import load_ieee33_scenario
    from sim.ieee33_study import run_ieee33_study

    try:
        scenario = load_ieee33_scenario(args.scenario)
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    res = run_ieee33_study(args.out, scenario=scenario, seed=args.seed, evs_per_station=args.evs_per_station,
                           schemes=schemes, options=SolverOptions(time_limit_s=args.time_limit),
                           figures=not args.no_figures, quiet=args.quiet)
    cols = ["scheme", "total_cost", "grid_cost", "curtailment_penalty", "storage_cost", "ev_cost",
            "interaction_cost", "curtailment_rate", "vmin_pu", "gap_to_oracle_pct", "solve_seconds"]
    print(res.schemes[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if not res.bargaining.empty:
        print()
        print(res.bargaining.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"\nstudy in {time.perf_counter() - t0:.1f} s; results in {args.out}/ (report.md, schemes.csv, "
          "bargaining.csv, prices.csv, timeseries.parquet, figures/)")
    return 0


def _parse_sets(sets: list[str]) -> list[tuple[str, list[str]]]:
    out = []
    for item in sets:
        path, eq, values = item.partition("=")
        vals = [v.strip() for v in values.split(",") if v.strip()]
        if not eq or not path.strip() or not vals:
            raise ValueError(f"--set {item!r}: expected PATH=V1,V2,... (e.g. market.kappa=0,0.5,0.9)")
        out.append((path.strip(), vals))
    return out


def _simulate(args: argparse.Namespace, argv: list[str]) -> int:
    import itertools

    from scenarios.schema import ScenarioError
    from sim.simulate import RunSpec, SimSettings, execute, load_scenario

    try:
        settings = SimSettings(scenario=args.scenario, replay=args.replay, start_day_of_year=args.start_day,
                               n_mc=args.mc_days, evs_per_station=args.evs_per_station, time_limit_s=args.time_limit)
        if args.command == "simulate":
            runs = [RunSpec(args.mode, args.seed, args.days)]
        elif args.command == "compare":
            modes = [m.strip() for m in args.modes.split(",") if m.strip()]
            bad = [m for m in modes if m not in MODES]
            if bad or not modes:
                raise ValueError(f"--modes: unknown {bad}; choose from {', '.join(MODES)}")
            runs = [RunSpec(m, args.seed, args.days) for m in modes]
        else:
            sets = _parse_sets(args.sets)
            runs = []
            for combo in itertools.product(*[[(p, v) for v in vals] for p, vals in sets]):
                load_scenario(args.scenario, combo)  # validate every point before running any
                point = ",".join(f"{p}={v}" for p, v in combo)
                runs.append(RunSpec(args.mode, args.seed, args.days, point=point, overrides=tuple(combo)))
        load_scenario(args.scenario)
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
    try:
        kpis = execute(args.out, runs, settings, resume=args.resume, workers=args.workers, scheduler=args.scheduler,
                       command="run_sim.py " + " ".join(argv), progress=say)
    finally:
        if bar is not None:
            bar.close()
    from sim.compare import summary_lines, write_compare, write_sweep

    currency = str(getattr(load_scenario(args.scenario), "currency", "USD"))
    if args.command == "compare":
        write_compare(args.out, currency=currency)
    elif args.command == "sweep":
        write_sweep(args.out, currency=currency)
    print(summary_lines(kpis, currency=currency))
    print(f"\n{len(kpis)} run-days in {time.perf_counter() - t0:.1f} s; results in {args.out}/ (kpis.csv, "
          "timings.csv, manifest.json, timeseries/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

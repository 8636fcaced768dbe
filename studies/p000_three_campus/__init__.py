"""Paper 000: three campuses (PV, wind, CHP parks) with P2P lines, day-ahead and real-time CVaR scheduling.

``run_sim.py study campus`` (:data:`STUDY`): :mod:`.run` solves the cases and writes the tables
(:mod:`.tables`), :mod:`.report` draws the figures (:mod:`.plots`) and writes ``report.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from studies.common.cli import StudySpec, Table, add_time_limit, default_workers, fraction, positive_int


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scenarios", type=positive_int, default=None, help="number of RT scenarios S (default: file, 12)")
    p.add_argument("--epsilon", type=fraction(0.0, 1.0, "--epsilon"), default=None,
                   help="forecast error bound (default: file, 0.10)")
    p.add_argument("--beta", type=fraction(0.0, 1.0, "--beta"), default=None, help="CVaR level (default: file, 0.80)")
    p.add_argument("--seed", type=int, default=None, help="seed of the RT scenario draw (default: file)")
    p.add_argument("--formulation", choices=("auto", "milp"), default="auto",
                   help="auto: LP with complementarity certificate, binaries only where needed; "
                   "milp: the paper's all-binary model")
    p.add_argument("--lp-method", choices=("ipm", "simplex", "choose"), default="ipm",
                   help="HiGHS LP algorithm (default ipm, with crossover)")
    add_time_limit(p)
    p.add_argument("--workers", type=positive_int, default=default_workers(),
                   help="processes sharing the case list, each with its own persistent model "
                   "(default: min(2, cores)); results do not depend on it")


def _options(args: argparse.Namespace) -> dict[str, Any]:
    from agents.milp import SolverOptions

    return dict(n_scenarios=args.scenarios, epsilon=args.epsilon, beta=args.beta, seed=args.seed,
                formulation=args.formulation, options=SolverOptions(lp_method=args.lp_method,
                                                                    time_limit_s=args.time_limit),
                workers=args.workers, progress=not args.quiet, figures=not args.no_figures)


def _footer(res: Any, wall: float, out: Path) -> str:
    return (f"{len(res.cases) + len(res.sensitivity) + len(res.stress)} cases in {wall:.1f} s; "
            f"results in {out}/ (report.md, cases.csv, timeseries.parquet, figures/)")


STUDY = StudySpec(
    name="campus",
    help="paper 000: three-campus DA/RT CVaR schedule, 4 cases, epsilon sensitivity, stress tests",
    description="Solve the proposed / no_p2p / no_dr / no_ess cases, the epsilon sensitivity (0.05-0.20) "
    "and the P2P / storage capacity stress tests (75/50/25 %%) on one persistent model, and write "
    "cases.csv, sensitivity_epsilon.csv, stress.csv, timeseries.parquet, figures/ and report.md.",
    scenario="three_campus",
    load_scenario="scenarios.loader:load_three_campus",
    run="studies.p000_three_campus.run:run_campus_study",
    render="studies.p000_three_campus.report:render",
    add_arguments=_arguments,
    options=_options,
    tables=(Table("cases", ("case", "objective", "cvar", "expected_cost", "grid_purchase_kwh", "p2p_kwh",
                            "renewable_utilisation", "solve_seconds", "formulation"),
                  fmt=".2f", percent=("renewable_utilisation",)),),
    footer=_footer,
    quiet_help="no progress bar",
    rendered="wrote {path}",
    render_errors=(FileNotFoundError,),
)

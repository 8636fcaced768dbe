"""Paper 002: a rural biogas-power-heat IES under constrained distributionally robust optimisation.

``run_sim.py study rural`` (:data:`STUDY`): :mod:`.run` solves the methods and the sensitivity grids and writes
the tables (:mod:`.tables`), :mod:`.report` reads them back, draws the figures (:mod:`.plots`) and writes
``report.md``.
"""

from __future__ import annotations

import argparse
from typing import Any

from studies.common.cli import StudySpec, Table, add_time_limit, default_workers, non_negative_int, positive_int


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=non_negative_int, default=None,
                   help="seed of the historical error days and k-means, the same for every point (default: file)")
    p.add_argument("--quick", action="store_true",
                   help="small grids: M 50/200, K 10/20, lambda 0/0.5/1, 2 alpha points, 2 degrees, 2 gaps")
    p.add_argument("--workers", type=positive_int, default=default_workers(),
                   help="processes sharing the tasks, each with its own models (default: min(2, cores)); "
                   "results do not depend on it")
    add_time_limit(p)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    from agents.milp import SolverOptions

    return dict(seed=args.seed, quick=args.quick, workers=args.workers,
                options=SolverOptions(time_limit_s=args.time_limit), figures=not args.no_figures, quiet=args.quiet)


STUDY = StudySpec(
    name="rural",
    help="paper 002: rural biogas IES, SO/RO/DRO/CDRO/CVaR, sensitivity to M, K, alpha, lambda, degree, gap",
    description="Solve the five methods at the defaults (M 200, K 50, alpha 0.99/0.95, lambda 0.2) and the "
    "sensitivity grids of 002 (M, K, (alpha_inf, alpha_1), lambda, uncertainty degree, C&CG gap) with common "
    "random numbers, and write methods.csv, sensitivity_*.csv, convergence.csv, sample_costs.csv, "
    "timeseries.parquet, study.json, figures/ and report.md.",
    scenario="rural_ies",
    load_scenario="scenarios.loader:load_rural_ies",
    run="studies.p002_rural.run:run_rural_study",
    render="studies.p002_rural.report:render",
    add_arguments=_arguments,
    options=_options,
    tables=(Table("methods", ("method", "objective", "first_stage_cost", "historical_cost", "worst_cost",
                              "worst_sample_cost", "iterations", "solve_seconds"), fmt=".6g"),),
    files="report.md, methods.csv, sensitivity_*.csv, timeseries.parquet, figures/",
    run_errors=(ValueError,),
)

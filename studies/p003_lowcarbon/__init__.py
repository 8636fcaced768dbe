"""Paper 003: a low-carbon campus with H2/NH3 blending, P2G, CCUS, EVs, DR and stepped carbon trading under
data-driven two-stage robust optimisation.

``run_sim.py study lowcarbon`` (:data:`STUDY`): :mod:`.run` builds the wind sets, solves the configurations and
writes the tables, :mod:`.report` reads them back, draws the figures (:mod:`.plots`) and writes ``report.md``.
"""

from __future__ import annotations

import argparse
from typing import Any

from studies.common.cli import StudySpec, Table, add_time_limit, default_workers, non_negative_int, positive_int


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=non_negative_int, default=None,
                   help="seed of the wind samples, the mixture fit and the replay days (default: file)")
    p.add_argument("--quick", action="store_true",
                   help="400 samples, 3 ellipsoids, 10 replay days, C&CG gap 5e-3 (the version the tests run)")
    p.add_argument("--workers", type=positive_int, default=default_workers(),
                   help="processes sharing the robust solves (default: min(2, cores)); results do not depend on it")
    p.add_argument("--compare", default="box,polyhedral",
                   help="comma-separated subset of box,polyhedral (or 'none'): also bound S5's robust cost over "
                        "these sets (003 Table 3; a proven lower bound, default both)")
    add_time_limit(p)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    from agents.milp import SolverOptions

    return dict(seed=args.seed, quick=args.quick, workers=args.workers,
                options=SolverOptions(time_limit_s=args.time_limit), figures=not args.no_figures, quiet=args.quiet,
                compare=tuple(s for s in args.compare.split(",") if s and s != "none"))


STUDY = StudySpec(
    name="lowcarbon",
    help="paper 003: H2/NH3 low-carbon campus with CCUS and stepped carbon trading; six configurations, "
         "data-driven / box / polyhedral two-stage RO",
    description="Fit the Dirichlet-process GMM of the wind days, build the data-driven union of ellipsoids and "
    "the box and polyhedral sets, solve the six configurations of 003 by C&CG (S1 deterministic, scored at its "
    "worst case), S5 over every set, replay each plan on independent days, and write costs.csv, co2.csv, "
    "uncertainty_sets.csv, convergence.csv, replay.csv, mixture.csv, timeseries.parquet, study.json, figures/ "
    "and report.md.",
    scenario="lowcarbon_ies",
    load_scenario="scenarios.lowcarbon_loader:load_lowcarbon_ies",
    run="studies.p003_lowcarbon.run:run_lowcarbon_study",
    render="studies.p003_lowcarbon.report:render",
    add_arguments=_arguments,
    options=_options,
    # the columns of 003 Table 1 (studies.p003_lowcarbon.run.TABLE1), the C&CG iterations and the solve seconds
    tables=(Table("costs", ("config", "uset", "total", "carbon_trading", "sequestration", "coal", "startstop",
                            "curtailment", "gas", "dr_ev", "iterations", "solve_s"), fmt=".2f"),),
    files="report.md, costs.csv, co2.csv, uncertainty_sets.csv, timeseries.parquet, figures/",
    run_errors=(ValueError,),
)

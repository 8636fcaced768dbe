"""Paper 004: the IEEE-33 feeder with clusters, DA TOU design, rolling prices and Nash bargaining; four schemes.

``run_sim.py study ieee33`` (:data:`STUDY`): :mod:`.run` runs the day and writes the tables, :mod:`.report`
reads them back, draws the figures (:mod:`.plots`) and writes ``report.md``.
"""

from __future__ import annotations

import argparse
from typing import Any

from sim.mode_names import MODE_NAMES
from studies.common.cli import StudySpec, Table, add_time_limit, non_negative_int

#: The schemes (the IEEE-33 system's modes, ``sim.systems.ieee33.modes.SCHEMES``), by name only: importing the
#: system costs ~1.5 s, too much for ``run_sim.py --help``.
SCHEMES: tuple[str, ...] = MODE_NAMES["ieee33"]


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=non_negative_int, default=None,
                   help="seed of the day's random draws: renewables, fleets (default: file)")
    p.add_argument("--evs-per-station", type=non_negative_int, default=None,
                   help="vehicles per EV station (default: file, 20)")
    p.add_argument("--schemes", default=",".join(SCHEMES),
                   help=f"comma-separated subset of {','.join(SCHEMES)}")
    add_time_limit(p)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    from agents.milp import SolverOptions

    schemes = [s.strip() for s in args.schemes.split(",") if s.strip()]
    bad = [s for s in schemes if s not in SCHEMES]
    if bad or not schemes:
        raise ValueError(f"--schemes: unknown {bad}; choose from {', '.join(SCHEMES)}")
    return dict(seed=args.seed, evs_per_station=args.evs_per_station, schemes=schemes,
                options=SolverOptions(time_limit_s=args.time_limit), figures=not args.no_figures, quiet=args.quiet)


STUDY = StudySpec(
    name="ieee33",
    help="paper 004: IEEE-33 feeder, DA TOU design, rolling prices, Nash bargaining; 4 schemes",
    description="Design the DA TOU prices, then run the cooperative (rolling prices + Nash bargaining), "
    "centralized, noncooperative and oracle schemes on the same day, check every dispatch with LinDistFlow "
    "and an AC power flow, and write schemes.csv, bargaining.csv, prices.csv, day_ahead.csv, "
    "timeseries.parquet, study.json, figures/ and report.md.",
    scenario="ieee33",
    load_scenario="scenarios.ieee33_loader:load_ieee33_scenario",
    run="studies.p004_ieee33.run:run_ieee33_study",
    render="studies.p004_ieee33.report:render",
    add_arguments=_arguments,
    options=_options,
    tables=(Table("schemes", ("scheme", "total_cost", "grid_cost", "curtailment_penalty", "storage_cost", "ev_cost",
                              "interaction_cost", "curtailment_rate", "vmin_pu", "gap_to_oracle_pct",
                              "solve_seconds"), fmt=".4g"),
            Table("bargaining", fmt=".4g", optional=True)),
    files="report.md, schemes.csv, bargaining.csv, prices.csv, timeseries.parquet, figures/",
)

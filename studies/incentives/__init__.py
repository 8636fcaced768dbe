"""The behaviour study of issue 16: manipulability, core and stability of the cooperative settlement (SPEC §5.5, §8).

``run_sim.py study incentives`` (:data:`STUDY`): :mod:`.plan` says which runs, :mod:`.run` runs them and writes
the tables (:mod:`.tables`), :mod:`.report` reads them back, draws the figures (:mod:`.plots`) and writes
``report.md``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from studies.common.cli import StudySpec, Table, default_workers, non_negative_int, positive_int


class IncentivesError(ValueError):
    """The study cannot run as asked (an option out of range, a learner that is no player, a baseline that did not
    run); the message says what and what is allowed."""


#: Days of a full study and of ``--quick``.
FULL_DAYS = 14
QUICK_DAYS = 3


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--days", type=positive_int, default=None,
                   help=f"simulated days, the same for every run (default {FULL_DAYS}; {QUICK_DAYS} with --quick)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of every random draw (default 0)")
    p.add_argument("--quick", action="store_true",
                   help=f"CI size: {QUICK_DAYS} days, one deviation per family, one learner")
    p.add_argument("--learners", default=None, metavar="NAME,...",
                   help="players that learn m by EXP3, one at a time (default: every player; the first with --quick)")
    p.add_argument("--deviators", default=None, metavar="NAME,...",
                   help="players whose unilateral deviations are run (default: every player)")
    p.add_argument("--workers", type=positive_int, default=default_workers(),
                   help="worker processes (default min(2, cores)); 1 runs everything in this process")


def _names(option: str, text: str | None) -> list[str] | None:
    """A comma-separated list of player names (None when the option is absent)."""
    if text is None:
        return None
    names = [x.strip() for x in text.split(",") if x.strip()]
    if not names:
        raise ValueError(f"{option}: expected one or more player names separated by commas, got {text!r}")
    return names


def _options(args: argparse.Namespace) -> dict[str, Any]:
    learners = _names("--learners", args.learners)
    deviators = _names("--deviators", args.deviators)
    days = args.days if args.days is not None else (QUICK_DAYS if args.quick else FULL_DAYS)
    return dict(days=days, seed=args.seed, quick=args.quick, learners=learners, deviators=deviators,
                workers=args.workers,
                figures=not args.no_figures, quiet=args.quiet, command=" ".join(["run_sim.py", *sys.argv[1:]]))


def _footer(result: Any, wall: float, out: Any) -> str:
    t = result.meta["timings"]
    spd = t["solves_per_day"]
    return (f"study in {wall:.1f} s ({t['runs']} runs, {t['simulated_days']} simulated days, "
            f"{spd:.1f} solves per day); results in {out}/ (report.md, deviations.csv, audit.csv, learning.csv, "
            "leave.csv, days.csv, runs.csv, figures/)")


STUDY = StudySpec(
    name="incentives",
    help="agent behaviours: is NB-2 manipulable, in the core, stable? deviations, audit, learning, leaving",
    description="On common random days of the cooperative mode (oracle replay): the truthful baseline with the core "
    "and Shapley audit; every player's unilateral deviations (misreport m, withhold f, rule, misreport under "
    "market.verify_standalone) with paired 95 % intervals of its own and the system's cost change; each learner "
    "choosing m by EXP3, with and without verify_standalone; the leave dynamics when the most profitable liar lies. "
    "Writes deviations.csv, audit.csv, learning.csv, leave.csv, days.csv, runs.csv, study.json, figures/ and "
    "report.md; every run's own files under runs/.",
    scenario="ieee33",
    load_scenario="studies.incentives.run:load_target",
    run="studies.incentives.run:run_incentives_study",
    render="studies.incentives.report:render",
    add_arguments=_arguments,
    options=_options,
    tables=(Table("deviation_summary", fmt=".2f"), Table("unavailable", optional=True)),
    footer=_footer,
    run_errors=(IncentivesError,),
)

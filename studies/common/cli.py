"""The ``run_sim.py study <name>`` subcommands: one :class:`StudySpec` per study, one handler for all.

A study declares its subcommand (name, help, description, default scenario), the functions it runs (by
``"module:function"``, imported only when the subcommand runs), its own options and how they become keyword
arguments of its run function, and the tables printed at the end.  :func:`add_study_parsers` builds the
subparsers, :func:`run_study` runs one:

- ``--report-only``: ``render(out)`` -> ``(figures, report path)``; a missing or malformed file (``render_errors``)
  is exit code 2;
- otherwise ``options(args)`` (a ``ValueError`` is exit code 2), ``load_scenario(--scenario)`` (a
  :class:`~scenarios.schema.ScenarioError` is exit code 2), ``run(out=--out, scenario=..., **options)`` (an error
  of ``run_errors`` is exit code 2), then the :class:`Table` s and the footer on stdout.

Every study has ``--out`` (default ``results/<name>``) and ``--scenario`` first, its own options next, and
``--no-figures``, ``--report-only``, ``--quiet`` last.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas is imported by the studies that run, not by --help
    import pandas as pd


# ---------------------------------------------------------------------------------------------- option types
def whole_number(lo: int, hi: int | None = None, what: str = "a whole number") -> Callable[[str], int]:
    """``argparse`` type: a whole number ``>= lo`` (and ``<= hi`` when given); ``what`` names it in the message."""
    allowed = f"{what} >= {lo}" if hi is None else f"{what} in {lo}..{hi}"

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"expected {allowed}, got {text!r}") from exc
        if v < lo or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"expected {allowed}, got {v}")
        return v

    return parse


#: ``argparse`` types: a whole number >= 1, >= 0, and a day of the year (1..365).
positive_int = whole_number(1)
non_negative_int = whole_number(0)
day_of_year = whole_number(1, 365, "a day of the year")


def fraction(lo: float, hi: float, what: str) -> Callable[[str], float]:
    """``argparse`` type: a number in ``[lo, hi)``; ``what`` names the option in the message."""

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{what}: expected a number in [{lo}, {hi}), got {text!r}") from exc
        if not lo <= v < hi:
            raise argparse.ArgumentTypeError(f"{what}: expected a number in [{lo}, {hi}), got {v}")
        return v

    return parse


def default_workers() -> int:
    """min(2, cores): the default number of worker processes of a study."""
    return min(2, os.cpu_count() or 1)


def add_time_limit(p: argparse.ArgumentParser) -> None:
    """``--time-limit`` (seconds per solve, default 600)."""
    p.add_argument("--time-limit", type=float, default=600.0, help="seconds per solve (default 600)")


# ---------------------------------------------------------------------------------------------- declarations
@dataclass(frozen=True)
class Table:
    """A table printed after a study: the result's attribute ``attr`` (a DataFrame), its ``columns`` (None: all),
    numbers in the format ``fmt``; ``percent`` columns are shown × 100 (2 decimals); an ``optional`` table is not
    printed when it has no rows."""

    attr: str
    columns: tuple[str, ...] | None = None
    fmt: str = ".2f"
    percent: tuple[str, ...] = ()
    optional: bool = False

    def text(self, result: Any) -> str | None:
        df: pd.DataFrame = getattr(result, self.attr)
        if self.optional and df.empty:
            return None
        if self.columns is not None:
            df = df[list(self.columns)].copy()
        for c in self.percent:
            df[c] = (100 * df[c]).round(2)
        fmt = self.fmt
        return df.to_string(index=False, float_format=lambda v: format(v, fmt))


@dataclass(frozen=True)
class StudySpec:
    """The declaration of one ``run_sim.py study`` subcommand (see the module docstring)."""

    name: str
    help: str
    description: str
    scenario: str
    """The default of ``--scenario``."""
    load_scenario: str
    """``"module:function"``: the scenario loader, called with ``--scenario``."""
    run: str
    """``"module:function"``: the study, called as ``run(out=..., scenario=..., **options(args))``."""
    render: str
    """``"module:function"``: ``render(out) -> (figures, report path)`` of ``--report-only``."""
    add_arguments: Callable[[argparse.ArgumentParser], None]
    """Adds the study's own options (between ``--scenario`` and ``--no-figures``)."""
    options: Callable[[argparse.Namespace], dict[str, Any]]
    """The keyword arguments of ``run`` from the parsed options; a ``ValueError`` is a usage error (exit 2)."""
    tables: tuple[Table, ...]
    """Printed after the study, separated by blank lines."""
    files: str = ""
    """The files named in the last line printed."""
    footer: Callable[[Any, float, Path], str] | None = None
    """The last line printed, from (result, seconds, --out); default 'study in S s; results in OUT/ (files)'."""
    quiet_help: str = "no progress messages"
    rendered: str = "wrote {path} and {n_figures} figures"
    """Printed after ``--report-only``."""
    render_errors: tuple[type[Exception], ...] = (FileNotFoundError, ValueError)
    run_errors: tuple[type[Exception], ...] = ()
    """Errors of ``run`` reported as usage errors (exit 2) instead of a traceback."""


def _resolve(ref: str) -> Callable[..., Any]:
    module, _, name = ref.partition(":")
    fn: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return fn


# ---------------------------------------------------------------------------------------------- parser, handler
def add_study_parsers(sub: Any, specs: Sequence[StudySpec]) -> None:
    """One subparser per study on ``sub`` (the result of ``add_subparsers``), in the order of ``specs``."""
    for spec in specs:
        p = sub.add_parser(spec.name, help=spec.help, description=spec.description)
        p.add_argument("--out", type=Path, default=Path(f"results/{spec.name}"),
                       help=f"output folder (default results/{spec.name})")
        p.add_argument("--scenario", default=spec.scenario,
                       help=f"bundled scenario name or folder (default {spec.scenario})")
        spec.add_arguments(p)
        p.add_argument("--no-figures", action="store_true", help="skip figures and report.md")
        p.add_argument("--report-only", action="store_true",
                       help="do not solve: redraw figures and report.md from the files already in --out")
        p.add_argument("--quiet", action="store_true", help=spec.quiet_help)


def _error(exc: BaseException) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return 2


def run_study(spec: StudySpec, args: argparse.Namespace) -> int:
    """Run the study (or only redraw its report) as the parsed ``args`` say; the exit code."""
    from scenarios.schema import ScenarioError

    if args.report_only:
        try:
            figs, path = _resolve(spec.render)(args.out)
        except spec.render_errors as exc:
            return _error(exc)
        print(spec.rendered.format(path=path, n_figures=len(figs)))
        return 0
    try:
        kwargs = spec.options(args)
    except ValueError as exc:
        return _error(exc)
    try:
        scenario = _resolve(spec.load_scenario)(args.scenario)
    except ScenarioError as exc:
        return _error(exc)
    t0 = time.perf_counter()
    try:
        result = _resolve(spec.run)(out=args.out, scenario=scenario, **kwargs)
    except spec.run_errors as exc:
        return _error(exc)
    wall = time.perf_counter() - t0
    print("\n\n".join(text for table in spec.tables if (text := table.text(result)) is not None))
    footer = (spec.footer(result, wall, args.out) if spec.footer is not None
              else f"study in {wall:.1f} s; results in {args.out}/ ({spec.files})")
    print(f"\n{footer}")
    return 0

"""A failed run as its user reads it: one paragraph saying where and why (DESIGN principle 8).

:class:`RunFailure` is what the engine raises when a day of a run cannot be completed; it carries the
context the solver does not know: the system, the run (mode, seed, sweep point), the day (1-based),
the quarter-hour the simulation had reached (1..96, shown as the clock time it starts at: quarter-hour
``k`` starts ``15 (k - 1)`` minutes after midnight), and for a failed solve (:class:`SolveFailure`) the
agent or coordinator whose model failed, its status, the constraint families that cannot be met with
the periods they fail in (as clock times) and the scenario fields that feed them (declared by the
system, :attr:`sim.engine.system.System.scenario_fields`).  When no family can be named the paragraph
says what is known instead (the status, crossing bounds, a badly scaled coefficient or bound).

:class:`RunsFailed` is raised by :func:`sim.engine.run.execute` after it has written the outputs of
everything that finished (and ``failures.csv``); :class:`RunInterrupted` after a Ctrl-C, once the
finished days are written.  All three survive pickling (Dask workers send them back).
"""

from __future__ import annotations

import textwrap
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agents.milp import SolveError

#: Minutes in a quarter-hour step of the simulation.
STEP_MIN = 15


def clock(minutes: float) -> str:
    """``HH:MM`` of ``minutes`` after midnight (``24:00`` for the end of the day)."""
    m = round(minutes)
    return f"{m // 60:02d}:{m % 60:02d}"


def quarter_hour_clock(k: int) -> str:
    """The clock time at which quarter-hour ``k`` (1..96) starts: ``15 (k - 1)`` minutes after midnight."""
    return clock(STEP_MIN * (k - 1))


def periods_text(periods: Sequence[int], step_h: float | None, limit: int = 6) -> str:
    """Periods ``t`` (1-based, ``step_h`` hours each; period ``t`` covers ``[(t-1) step_h, t step_h)``) as
    clock-time intervals with consecutive periods merged, e.g. ``09:00-12:00, 17:00-22:00``; at most
    ``limit`` intervals, then how many more.  Empty when there are no periods or no step."""
    if not periods or not step_h:
        return ""
    ps = sorted(set(periods))
    runs: list[tuple[int, int]] = []
    for t in ps:
        if runs and t == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], t)
        else:
            runs.append((t, t))
    minutes = step_h * 60.0
    parts = [f"{clock((a - 1) * minutes)}-{clock(b * minutes)}" for a, b in runs[:limit]]
    if len(runs) > limit:
        parts.append(f"and {len(runs) - limit} more intervals")
    return ", ".join(parts)


@dataclass(frozen=True)
class FailedFamily:
    """A constraint family that cannot be met: its name, when (clock-time intervals, may be empty) and
    the scenario fields that feed it (may be empty)."""

    family: str
    when: str = ""
    fields: tuple[str, ...] = ()

    def text(self) -> str:
        out = self.family + (f" in {self.when}" if self.when else "")
        if self.fields:
            out += f" (scenario fields: {', '.join(self.fields)})"
        return out


@dataclass(frozen=True)
class FailureContext:
    """Where a run failed: system kind, run name, mode, seed, sweep point, day (1-based) and quarter-hour."""

    system: str
    run: str
    mode: str
    seed: int
    point: str
    day: int
    quarter_hour: int


class RunFailure(RuntimeError):
    """A day of a run that could not be completed; :meth:`paragraph` is the message for the user.

    ``what`` says what went wrong (one sentence), ``trace`` is the formatted traceback of the cause
    (printed only with ``-v``)."""

    def __init__(self, ctx: FailureContext, what: str, trace: str = "") -> None:
        self.ctx = ctx
        self.what = what
        self.trace = trace
        super().__init__(self.paragraph())

    def __reduce__(self) -> Any:
        return (type(self)._rebuild, (self.__dict__.copy(),))

    @classmethod
    def _rebuild(cls, state: dict[str, Any]) -> RunFailure:
        obj = cls.__new__(cls)
        obj.__dict__.update(state)
        RuntimeError.__init__(obj, obj.paragraph())
        return obj

    @property
    def clock(self) -> str:
        return quarter_hour_clock(self.ctx.quarter_hour)

    def where(self) -> str:
        c = self.ctx
        point = "" if c.point == "base" else f", sweep point {c.point}"
        return (f"{c.system} run {c.run} (mode {c.mode}, seed {c.seed}{point}) failed on day {c.day} at "
                f"{self.clock} (quarter-hour {c.quarter_hour} of 96)")

    def paragraph(self, width: int = 110) -> str:
        """One paragraph (no blank line, no traceback): where the run failed and why."""
        text = f"{self.where()}: {self.what} Rerun with -v for the traceback."
        return textwrap.fill(text, width=width, break_long_words=False, break_on_hyphens=False)

    def record(self) -> dict[str, Any]:
        """The row of ``failures.csv``: run, mode, seed, point, day, time, agent, status, message."""
        c = self.ctx
        return {"run": c.run, "mode": c.mode, "seed": c.seed, "point": c.point, "day": c.day, "time": self.clock,
                "agent": getattr(self, "agent", ""), "status": getattr(self, "status", "error"),
                "message": " ".join(self.paragraph().split())}


class SolveFailure(RunFailure):
    """A solve that failed on a day: the agent, the status, the families with periods and fields, notes."""

    def __init__(self, ctx: FailureContext, agent: str, status: str, families: Sequence[FailedFamily],
                 notes: Sequence[str], trace: str = "") -> None:
        self.agent = agent
        self.status = status
        self.families = tuple(families)
        self.notes = tuple(notes)
        super().__init__(ctx, self._what(), trace)

    def _what(self) -> str:
        verdict = {"infeasible": "its model is infeasible", "unbounded_or_infeasible": "its model is infeasible "
                   "(or unbounded)", "time_limit": "its solve reached the time limit"}.get(
                       self.status, f"its solve ended with status '{self.status}'")
        text = f"{self.agent or 'a model'}: {verdict}."
        if self.families:
            text += " Constraint families that cannot be met: " + "; ".join(f.text() for f in self.families) + "."
        if self.notes:
            text += " Known: " + "; ".join(self.notes) + "."
        return text


class RunsFailed(RuntimeError):
    """Some runs failed; the outputs of everything that finished are written (``failures.csv`` lists the
    failures).  ``kpis`` is the KPI frame of the finished days."""

    def __init__(self, failures: Sequence[RunFailure], kpis: Any) -> None:
        self.failures = list(failures)
        self.kpis = kpis
        super().__init__("\n".join(f.paragraph() for f in self.failures))

    def __reduce__(self) -> Any:
        return (type(self), (self.failures, self.kpis))


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during day ``day`` (1-based) of run ``run``; the finished days are written."""

    def __init__(self, run: str, day: int) -> None:
        super().__init__(run, day)
        self.run = run
        self.day = day

    def message(self) -> str:
        return f"interrupted during day {self.day}; continue with --resume"


def innermost_solve_error(exc: BaseException) -> SolveError | None:
    """The innermost :class:`agents.milp.SolveError` in ``exc``'s cause chain (the one raised by the model
    itself, which knows its families; wrappers add context but may drop them), or None."""
    found: SolveError | None = None
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, SolveError):
            found = cur
        cur = cur.__cause__ or cur.__context__
    return found


def failure_from(exc: Exception, ctx: FailureContext, system: Any) -> RunFailure:
    """The :class:`RunFailure` (a :class:`SolveFailure` for a failed solve) of ``exc`` raised on ``ctx``'s day.

    The families of the innermost solver error are listed with their periods as clock times and the
    scenario fields ``system.fields_for(family)`` names; without families, its notes and the fields of the
    families they implicate; a failure without any of these falls back to the error's first line."""
    trace = "".join(traceback.format_exception(exc))
    if isinstance(exc, RunFailure):
        return exc
    err = innermost_solve_error(exc)
    if err is None:
        first = (str(exc).strip().splitlines() or [""])[0]
        return RunFailure(ctx, f"{type(exc).__name__}: {first}".rstrip(": ") + ".", trace)
    fields_for = getattr(system, "fields_for", lambda fam: ())
    families = [FailedFamily(f.family, periods_text(f.periods, f.step_h), tuple(fields_for(f.family)))
                for f in err.families]
    if not families and err.diagnosis:  # a wrapper's own elastic diagnosis (no periods)
        families = [FailedFamily(fam, "", tuple(fields_for(fam))) for fam, _, _ in err.diagnosis]
    notes = list(err.notes)
    for fam in getattr(err, "suspects", []):
        fields = tuple(fields_for(fam))
        notes.append(f"implicated: {fam}" + (f" (scenario fields: {', '.join(fields)})" if fields else ""))
    outer = exc if isinstance(exc, SolveError) else None
    if not families and not notes:
        notes = [(str(outer or err).strip().splitlines() or [err.status])[0]]
    agent = err.model or (str(err).split(":", 1)[0] if ":" in str(err) else "")
    return SolveFailure(ctx, agent, err.status, families, notes, trace)


class ResumeRefused(ValueError):
    """``--resume`` into a folder whose results were computed from different inputs (the message says
    which field differs, the old and the new value, and how to start fresh)."""

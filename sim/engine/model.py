"""The simulator as a Mesa model: one step = 15 minutes (SPEC §6.6).

:class:`SimulationModel` runs one :class:`sim.engine.run.RunSpec` of one :class:`sim.engine.system.System`
day by day.  When it is created, the system builds the run's agents and their persistent solver
models once (:meth:`System.build`) and registers the agents with Mesa (``model.agents_by_type``).
A day is a generator (:data:`sim.engine.system.DaySteps`) that the model advances one quarter-hour
per ``step()``:

- at the day's first step the information of the day is drawn and the day-ahead stage runs;
- ``oracle`` replay: the one intraday optimisation over the 96 quarter-hours with the realised day
  (as in the papers) also runs at the first step, and every step then executes one quarter-hour of it;
- ``mpc`` replay: every step re-optimises the rest of the day with what has been realised so far and
  the forecast after, and executes its first quarter-hour (:mod:`sim.engine.mpc`).

After the 96th step the day is complete: its records, KPIs and end state are handed to ``on_day``
(the writer of :func:`sim.engine.run.run_days`) and the state (storage energy, home EVs' SOC) carries
into the next day.

Recording: :class:`DayRecorder` is the per-day equivalent of Mesa's ``DataCollector`` — it holds the
long-format rows of the day until they are written and is then emptied, so memory stays bounded
however many days run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mesa
import pandas as pd

from sim.engine.failure import FailureContext, failure_from
from sim.engine.spec import RunSpec, SimSettings
from sim.engine.system import STEPS_PER_DAY, DayOutcome, DaySteps, LiveDay, System


class DayRecorder:
    """Rows of the quarter-hours executed so far in the current day (streams per day)."""

    def __init__(self) -> None:
        self._parts: list[pd.DataFrame] = []

    def record(self, rows: pd.DataFrame) -> None:
        self._parts.append(rows)

    def frame(self) -> pd.DataFrame:
        return pd.concat(self._parts, ignore_index=True) if self._parts else pd.DataFrame()

    def clear(self) -> None:
        self._parts = []

    def __len__(self) -> int:
        return sum(len(p) for p in self._parts)


class SimulationModel(mesa.Model):  # type: ignore[misc]
    """One run (mode, seed, sweep point) of the multi-day simulation; ``step()`` advances 15 minutes.

    ``system`` builds the agents (once, here); ``scenario`` is the loaded scenario (with the run's
    overrides applied); ``first_day`` the 0-based day to start from (``--resume``) with ``state`` the
    state the previous day left (as :meth:`System.save_state` wrote it).  ``on_day(d, outcome)`` is
    called when day ``d`` (0-based) is complete.
    """

    def __init__(self, system: System, scenario: Any, run: RunSpec, settings: SimSettings, *, first_day: int = 0,
                 state: Any = None, on_day: Callable[[int, DayOutcome], None] | None = None) -> None:
        super().__init__(rng=run.seed)
        self.system = system
        self.spec = scenario  # not "scenario": mesa.Model owns that name
        self.run_spec = run
        self.settings = settings
        self.mode = system.mode(run.mode)
        self.day = first_day
        self.step_in_day = 0
        self.on_day = on_day
        self.recorder = DayRecorder()
        #: the day in progress as a system can show it early (read by :meth:`preview`)
        self.live_day = LiveDay()
        self._day: DaySteps | None = None
        system.build(self)
        if state is not None:
            system.restore_state(self, state)

    @property
    def finished(self) -> bool:
        return self.day >= self.run_spec.days

    def step(self) -> None:
        """Execute one quarter-hour (starting the day first if it is the day's first step).

        An error of the day (a failed solve, a failed check) is raised as a
        :class:`sim.engine.failure.RunFailure` naming the system, the run, the day and the quarter-hour
        (DESIGN principle 8); the day's generator is dropped, so the model is not stepped further."""
        if self.finished:
            raise RuntimeError(f"run {self.run_spec.name}: all {self.run_spec.days} days are simulated")
        try:
            self._step()
        except Exception as exc:
            run = self.run_spec
            ctx = FailureContext(self.system.kind, run.name, run.mode, run.seed, run.point, self.day + 1,
                                 min(self.step_in_day + 1, STEPS_PER_DAY))
            self._day = None
            raise failure_from(exc, ctx, self.system) from exc

    def _step(self) -> None:
        if self._day is None:
            self.live_day.source = None
            self._day = self.system.day(self, self.day)
        k = next(self._day)
        if k != self.step_in_day + 1:
            raise RuntimeError(f"run {self.run_spec.name} day {self.day + 1}: the day executed quarter-hour {k} "
                               f"at step {self.step_in_day + 1}")
        self.step_in_day = k
        if k == STEPS_PER_DAY:
            self._close_day()

    def _close_day(self) -> None:
        assert self._day is not None
        try:
            next(self._day)
        except StopIteration as stop:
            outcome = stop.value
        else:
            raise RuntimeError(f"run {self.run_spec.name} day {self.day + 1}: more than {STEPS_PER_DAY} quarter-hours")
        if not isinstance(outcome, DayOutcome):
            raise RuntimeError(f"run {self.run_spec.name} day {self.day + 1}: the day ended without its outcome")
        self.recorder.record(outcome.timeseries)
        done = DayOutcome(outcome.kpis, self.recorder.frame(), outcome.state, outcome.seconds, outcome.agents)
        if self.on_day is not None:
            self.on_day(self.day, done)
        self.recorder.clear()
        self._day = None
        self.step_in_day = 0
        self.day += 1

    def preview(self) -> pd.DataFrame:
        """The current day's time series up to the executed quarter-hour (:meth:`System.preview`); empty between
        days."""
        if self._day is None or self.step_in_day == 0:
            return pd.DataFrame()
        return self.system.preview(self)

    def run_to_end(self) -> None:
        while not self.finished:
            self.step()

"""The engine's run as the dashboard steps it: :class:`DashboardModel`, a :class:`sim.engine.model.SimulationModel`
built from the page's choices (scenario, mode, replay, seed, behaviours) by keyword, as Mesa's SolaraViz builds a
model again on Reset.

It runs the real model: the page's Step is the engine's ``step()`` (one quarter-hour), Play repeats it.  What a
view needs is kept as the engine hands it over, never solved again: the current day's time series so far
(:meth:`SimulationModel.preview`, the system's live preview), and for every closed day its KPI row, its per-agent
records and its time series (the ``on_day`` outcome, the same tables ``simulate`` writes to files).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

import scenarios
from app import views
from sim.engine.model import SimulationModel
from sim.engine.run import load_scenario
from sim.engine.spec import REPLAYS, RunSpec, SimSettings
from sim.engine.system import STEPS_PER_DAY, DayOutcome
from sim.systems import SYSTEMS, system_for

#: Days a dashboard run lasts unless the page asks for another number.
DEFAULT_DAYS = 7


def behaviour_edits(text: str) -> tuple[tuple[str, str], ...]:
    """``"C1=misreport:-0.1; C2=leave:w=3,g=1"`` -> ``(("behaviours.C1", "misreport:-0.1"), ("behaviours.C2",
    "leave:w=3,g=1"))``: the page's behaviours field as scenario edits (the same as ``--set behaviours.C1=...``),
    agents separated by ``;`` (a behaviour's parameters have commas of their own); empty: the scenario's own."""
    out = []
    for item in (p.strip() for p in text.split(";")):
        if not item:
            continue
        agent, eq, spec = item.partition("=")
        if not eq or not agent.strip() or not spec.strip():
            raise ValueError(f"behaviours {item!r}: expected AGENT=BEHAVIOUR[:PARAMS], e.g. C1=misreport:-0.1")
        out.append((f"behaviours.{agent.strip()}", spec.strip()))
    return tuple(out)


@dataclass
class ClosedDays:
    """The closed days of a dashboard run, as the engine handed them over (the tables ``simulate`` writes)."""

    kpis: list[dict[str, Any]] = field(default_factory=list)
    agents: dict[int, pd.DataFrame] = field(default_factory=dict)
    timeseries: dict[int, pd.DataFrame] = field(default_factory=dict)
    #: the behaviours' chosen parameters of every closed day (:func:`app.views.behaviour_params`)
    params: pd.DataFrame = field(default_factory=lambda: views.behaviour_params(pd.DataFrame()))

    def add(self, d: int, outcome: DayOutcome) -> None:
        self.kpis.append(dict(outcome.kpis))
        self.agents[d + 1] = outcome.agents
        self.timeseries[d + 1] = outcome.timeseries
        day = views.behaviour_params(outcome.agents)
        if not day.empty:
            self.params = pd.concat([self.params, day], ignore_index=True) if not self.params.empty else day

    def kpi_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.kpis)


class DashboardModel(SimulationModel):
    """One run of the engine, built from keyword choices (module docstring).

    ``scenario``-like names are ``scenario_name`` here because :class:`mesa.Model` owns ``scenario``.
    ``mode`` empty: the system's default mode.  ``behaviours``: :func:`behaviour_edits`.  ``seed`` and ``days``
    as in ``run_sim.py simulate``.  A bad choice raises ``ValueError`` with the allowed values.
    """

    def __init__(self, scenario_name: str = "ieee33", mode: str = "", replay: str = "oracle", seed: int = 0,
                 behaviours: str = "", days: int = DEFAULT_DAYS) -> None:
        system = system_for(scenario_name)
        mode = mode or system.default_mode
        if mode not in system.modes:
            raise ValueError(f"mode {mode!r} is not a mode of the {system.kind} system ({scenario_name}); "
                             f"choose from {', '.join(system.modes)}")
        if replay not in REPLAYS:
            raise ValueError(f"replay {replay!r}: choose from {', '.join(REPLAYS)}")
        try:
            seed = int(seed)
        except (TypeError, ValueError):
            raise ValueError(f"seed {seed!r}: an integer >= 0 (the run's random days and fleet)") from None
        edits = behaviour_edits(behaviours)
        settings = SimSettings(scenario=scenario_name, replay=replay)
        run = RunSpec(mode, seed, int(days), overrides=edits)
        sc = system.prepare(load_scenario(system, scenario_name, edits), settings)
        system.check_run(sc, mode, settings)
        self.closed = ClosedDays()
        t0 = time.perf_counter()
        super().__init__(system, sc, run, settings, on_day=self.closed.add)
        #: seconds to build the agents and their persistent models
        self.build_seconds = time.perf_counter() - t0
        #: seconds of the engine's steps so far (``SimulationModel.step`` only: no view)
        self.engine_seconds = 0.0
        self.steps_done = 0
        self.scenario_name = scenario_name

    def step(self) -> None:
        """One quarter-hour of the engine (the day's solves run in its first quarter-hour); stops at the run's end."""
        t0 = time.perf_counter()
        super().step()
        self.engine_seconds += time.perf_counter() - t0
        self.steps_done += 1
        if self.finished:
            self.running = False

    @property
    def clock(self) -> str:
        """``"day 1 · quarter-hour 4/96 · 01:00"``: the day in progress (or the last, at the run's end) and its
        executed quarter-hour with the time at its end."""
        day, k = (self.day + 1, self.step_in_day) if not self.finished else (self.day, STEPS_PER_DAY)
        minutes = 15 * k
        return f"day {day} · quarter-hour {k}/{STEPS_PER_DAY} · {minutes // 60:02d}:{minutes % 60:02d}"

    def day_frame(self) -> tuple[int, pd.DataFrame]:
        """The day to show and its time series: the day in progress so far when the system previews it, else the
        last closed day (0 and an empty frame before any)."""
        live = self.preview()
        if not live.empty:
            return self.day + 1, live
        if self.closed.timeseries:
            last = max(self.closed.timeseries)
            return last, self.closed.timeseries[last]
        return 0, pd.DataFrame()


@functools.cache
def scenario_choices() -> list[str]:
    """The bundled scenarios the page offers: every folder of the scenarios package with a ``scenario.toml`` whose
    kind is a registered system."""
    from sim.engine.scenario import scenario_kind

    names = sorted(p.parent.name for p in Path(scenarios.__file__).parent.glob("*/scenario.toml"))
    return [n for n in names if scenario_kind(n) in SYSTEMS]

"""The seam every simulated system plugs into: :class:`System`, :class:`Mode` and :class:`KPI`.

A *system* is one kind of scenario (``ieee33``, ``three_campus``, ``rural_ies``, ``lowcarbon_ies``, or
one you add).  It knows everything the engine does not:

- its scenario schema (:meth:`System.load` reads a scenario file or folder of its kind);
- how to build its agents and their persistent solver models, once per run (:meth:`System.build`,
  called by :class:`sim.engine.model.SimulationModel`, which registers the agents with Mesa);
- how to draw a day's information from the day seed and run the day in the run's mode, one
  quarter-hour per step (:meth:`System.day`, a :data:`DaySteps` generator);
- what a day leaves to the next (:meth:`System.save_state` / :meth:`System.restore_state`, the state
  files that ``--resume`` reads);
- its coordination modes (:attr:`System.modes`: name -> :class:`Mode` subclass; the names are
  written once, there) and its KPIs (:attr:`System.kpis`: the columns of ``kpis.csv`` besides the
  identifiers, each with unit, direction and description).

The engine, the command line, ``compare`` and ``sweep`` read names, modes, metrics and units from
the registry (:data:`sim.systems.SYSTEMS`); adding a system is a package under ``sim/systems/``
plus one registry line, and nothing here changes.

Randomness: a system draws day ``d`` of run seed ``s`` from :func:`day_seed` (the same for every
mode, so modes see identical days: common random numbers), and a run-level stream (e.g. an EV
fleet drawn once per run) from its own spawn key under the run seed.
"""

from __future__ import annotations

import fnmatch
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

#: Quarter-hours in a simulated day (one Mesa step each).
STEPS_PER_DAY = 96


@dataclass(frozen=True)
class KPI:
    """One column of ``kpis.csv``: its name, unit, whether lower is better (None: neither), what it is.

    ``nonnegative`` says whether the quantity can never be below zero (``compare`` then never reports an
    interval below 0).  Left as None it is inferred from the direction: a quantity to minimise (a cost made
    of purchases and penalties, a curtailed or shed energy, a violation) is taken as non-negative; declare
    ``nonnegative=False`` for one that can turn negative (a cost net of sales, a transfer)."""

    name: str
    unit: str
    lower_is_better: bool | None
    description: str
    nonnegative: bool | None = None

    @property
    def is_nonnegative(self) -> bool:
        """The declared ``nonnegative``, else True exactly when lower is better (see the class docstring)."""
        return self.nonnegative if self.nonnegative is not None else self.lower_is_better is True


@dataclass
class DayOutcome:
    """What a finished day hands to the writer.

    ``kpis``: the KPI row (the identifiers plus the system's :attr:`System.kpis` columns; extra
    per-agent columns such as ``final_cost_C1`` are allowed after them); ``timeseries``: the long
    format of the day; ``state``: what the day leaves to the next (JSON-able, read by ``--resume``);
    ``seconds``: wall-clock seconds by stage (never in ``kpis.csv``); ``agents``: the per-agent
    records (:mod:`sim.engine.records`), may be empty.
    """

    kpis: dict[str, Any]
    timeseries: pd.DataFrame
    state: Any
    seconds: dict[str, float]
    agents: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass
class LiveDay:
    """The day in progress as a live view may show it before the day closes (:meth:`System.preview`'s source).

    A system that knows its executed day early (e.g. solved before its first quarter-hour) sets ``source``: a
    function returning the day's time series (the file's long format), or None while it is not known yet.  It is
    only called by a view, so a run nobody watches computes nothing early.  The engine clears it at each day's
    start."""

    source: Callable[[], pd.DataFrame | None] | None = None

    def show(self, frame: pd.DataFrame) -> None:
        """The day's time series is known: ``frame``."""
        self.source = lambda: frame

    @property
    def frame(self) -> pd.DataFrame | None:
        return self.source() if self.source is not None else None


#: A day as a generator: yields ``k`` after quarter-hour ``k`` (1..96) is executed, returns the outcome.
DaySteps = Generator[int, None, DayOutcome]


def drain(steps: DaySteps) -> DayOutcome:
    """Run a :data:`DaySteps` generator to its end; return the day's outcome."""
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            out = stop.value
            if not isinstance(out, DayOutcome):
                raise RuntimeError("a day generator ended without its outcome") from None
            return out


def _split_component_path(name: str) -> list[str]:
    """``cl[C1].ess.def_soc`` -> ``["cl[C1]", "ess", "def_soc"]`` (dots inside an index are kept)."""
    parts, depth, cur = [], 0, ""
    for ch in name:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "." and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return [*parts, cur]


def day_seed(seed: int, d: int) -> np.random.SeedSequence:
    """The seed sequence of day ``d`` (0-based) of a run with seed ``seed``: ``SeedSequence(seed).spawn(d+1)[d]``.

    It does not depend on how many days run, nor on the mode (common random numbers)."""
    return np.random.SeedSequence(seed).spawn(d + 1)[d]


class Mode:
    """A coordination mode: who decides and what they know.

    Subclasses set the class attributes; a system's modes share a system-specific base class that
    declares the hooks its day calls (e.g. the IEEE-33 schemes' ``solve``).  Nothing outside a mode
    class decides by a mode's name: code asks the mode object.
    """

    #: the name on the command line and in ``kpis.csv`` (written once: here)
    name: ClassVar[str] = ""
    #: label in tables and figures
    label: ClassVar[str] = ""
    #: colour in figures
    colour: ClassVar[str] = "#7f7f7f"
    #: one line for ``--help`` and the README
    description: ClassVar[str] = ""
    #: the mode knows the realised day (a lower bound on the others' costs: ``compare``'s reference)
    full_information: ClassVar[bool] = False
    #: the mode settles cooperation by bargaining (its per-agent gains are reported)
    bargaining: ClassVar[bool] = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class System(ABC):
    """One kind of simulated system (see the module docstring)."""

    #: the scenario file's ``kind`` (and the bundled scenario of the same name)
    kind: ClassVar[str] = ""
    #: one line for ``--help``
    description: ClassVar[str] = ""
    #: name -> mode class, in the order the CLI and ``compare`` list them
    modes: ClassVar[Mapping[str, type[Mode]]] = {}
    #: the columns of ``kpis.csv`` besides :data:`sim.engine.records.ID_COLUMNS`
    kpis: ClassVar[tuple[KPI, ...]] = ()
    #: the mode ``simulate`` runs when none is given
    default_mode: ClassVar[str] = ""
    #: the pair ``compare`` reports first as (mode, reference), e.g. cooperation against standing alone
    key_contrast: ClassVar[tuple[str, str] | None] = None
    #: the KPIs ``compare`` and ``sweep`` summarise (default: all of :attr:`kpis`)
    headline: ClassVar[tuple[str, ...]] = ()
    #: constraint family pattern -> the scenario (TOML) fields that feed it, named in a failed solve's
    #: message (DESIGN principle 8).  A pattern is a dotted component path whose parts are ``fnmatch``
    #: patterns, matched against any consecutive parts of the family's name with the indices removed
    #: (``ess*.def_soc`` matches ``ess_C1.def_soc`` and ``cl[C2].ess_C2.def_soc``).
    scenario_fields: ClassVar[Mapping[str, tuple[str, ...]]] = {}

    # --------------------------------------------------------------------------- declarations
    def mode(self, name: str) -> Mode:
        """The mode object of ``name``; a clear error listing the system's modes otherwise."""
        cls = self.modes.get(name)
        if cls is None:
            raise ValueError(f"{self.kind}: unknown mode {name!r}; choose from {', '.join(self.modes)}")
        return cls()

    def reference_mode(self) -> str | None:
        """The full-information mode (``compare``'s reference), if the system has one."""
        return next((n for n, m in self.modes.items() if m.full_information), None)

    def kpi(self, name: str) -> KPI | None:
        return next((k for k in self.kpis if k.name == name), None)

    def headline_kpis(self) -> tuple[str, ...]:
        """The KPI names ``compare`` and ``sweep`` summarise."""
        return self.headline or tuple(k.name for k in self.kpis)

    def fields_for(self, family: str) -> tuple[str, ...]:
        """The scenario fields that feed constraint ``family`` (every matching :attr:`scenario_fields`
        pattern's fields, in declaration order, without repeats); empty when no pattern matches."""
        parts = [re.sub(r"\[[^\]]*\]", "", p) for p in _split_component_path(family.removeprefix("bounds of "))]
        out: list[str] = []
        for pattern, fields in self.scenario_fields.items():
            pat = pattern.split(".")
            if any(all(fnmatch.fnmatchcase(parts[i + k], q) for k, q in enumerate(pat))
                   for i in range(len(parts) - len(pat) + 1)):
                out += [f for f in fields if f not in out]
        return tuple(out)

    def reference_lines(self, scenario: Any) -> dict[str, tuple[float, float]]:
        """Limits to draw in comparison figures, e.g. ``{"voltage": (v_min, v_max)}`` (default: none)."""
        return {}

    def bargaining_agents(self, scenario: Any) -> tuple[str, ...]:
        """The agents that bargain in the cooperative mode (SPEC §8's players: clusters, campuses), in order; the
        behaviour study deviates them one at a time.  Empty (the default): the system has no bargaining."""
        return ()

    def currency(self, scenario: Any) -> str:
        """Currency of the system's costs (the scenario's ``currency`` field, USD if it has none)."""
        return str(getattr(scenario, "currency", "USD"))

    # --------------------------------------------------------------------------- behaviour
    # ``model`` below is the run's :class:`sim.engine.model.SimulationModel` (which imports this module).
    @abstractmethod
    def load(self, name_or_path: str | Path, edits: Sequence[tuple[str, Any]] = ()) -> Any:
        """The scenario of this kind at ``name_or_path`` (a bundled name or a folder / TOML file).

        ``edits`` are ``--set`` edits, ``(path, value)`` pairs with the scenario file's own paths
        (:mod:`scenarios.edits`): the loader applies them to the parsed file *before* validating it, so
        an edited value gets the file's checks.  A system whose ``load`` takes no ``edits`` refuses ``--set``.
        Raises :class:`scenarios.schema.ScenarioError` naming the file, the field and the allowed range."""

    def prepare(self, scenario: Any, settings: Any) -> Any:
        """The scenario as the run uses it after the command's settings (default: unchanged).

        A setting the system cannot honour is refused here, never ignored."""
        if getattr(settings, "evs_per_station", None) is not None:
            raise ValueError(f"--evs-per-station: the {self.kind} system has no EV stations")
        return scenario

    def check_run(self, scenario: Any, mode: str, settings: Any) -> None:  # noqa: B027 (nothing to check by default)
        """Refuse, before any run starts, what a run of ``mode`` on ``scenario`` (its overrides applied) cannot
        honour, e.g. a behaviour with nothing to act on (SPEC §8); a ``ValueError`` naming the field and why.
        :meth:`build` must refuse the same (a run started without the engine)."""

    @abstractmethod
    def build(self, model: Any) -> None:
        """Build the run's agents and persistent models once and register the agents with ``model``."""

    @abstractmethod
    def day(self, model: Any, d: int) -> DaySteps:
        """Day ``d`` (0-based) of the run, stepped by quarter-hours, from the state the agents hold."""

    def preview(self, model: Any) -> pd.DataFrame:
        """The current day's time series so far, for a live view (the dashboard): the rows of the day's time-series
        file (the same long format) with ``period <= model.step_in_day``, from what the day put in
        ``model.live_day`` (:class:`LiveDay`); empty where the system cannot tell before the day closes (then a view
        shows the day when it has closed).  Must not change the run: the same seed gives the same files with or
        without previews."""
        live = getattr(model, "live_day", None)
        frame = live.frame if live is not None else None
        if frame is None:
            return pd.DataFrame()
        return frame[frame["period"] <= model.step_in_day]

    def save_state(self, model: Any) -> dict[str, Any]:
        """What the finished day leaves to the next (JSON-able); ``--resume`` restores it."""
        return {}

    def restore_state(self, model: Any, state: Mapping[str, Any]) -> None:  # noqa: B027 (no state: nothing to do)
        """Put the agents back into the state :meth:`save_state` wrote (``--resume``)."""

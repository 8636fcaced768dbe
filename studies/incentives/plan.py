"""What the incentives study simulates: the deviation grid, the learners, the leave setting, and the runs they make.

Every run is one :class:`sim.engine.spec.RunSpec` of the ``cooperative`` mode (oracle replay) from the same seed,
so all runs see the same days (common random numbers) and differ only in their scenario edits (``overrides``):

* ``truthful`` — every player truthful, ``market.audit = true`` (the paired reference of everything else, and the
  core and Shapley audit; the audit only adds coalition solves, it changes no result);
* one run per player and unilateral deviation of :func:`deviation_grid` (``behaviours.<player> = <spec>``; the
  ``misreport+verify`` family adds ``market.verify_standalone = true``, the counter-measure of SPEC §8);
* one run per learner and per ``verify_standalone`` in {false, true}: the learner chooses ``m`` of ``misreport`` by
  EXP3 over :data:`LEARN_GRID` each day (``learn`` over ``misreport``);
* after those, the leave dynamics (:func:`leave_runs`): the most profitable liar lies, the others leave when their
  mean true gain over the last :data:`LEAVE_WINDOW` days falls below :data:`LEAVE_FRACTION` of their truthful mean
  gain, and a control run in which the liar is truthful and the others follow the same leave rule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sim.engine.spec import RunSpec

MODE = "cooperative"
BASELINE = "truthful"
#: The arms of the learner: values of misreport's m (m = 0 is the truth).
LEARN_GRID: tuple[float, ...] = (-0.3, -0.1, 0.0, 0.1)
#: EXP3 rate and exploration share of the learner.  With rewards normalised to [0, 1] by the day's surplus, an arm
#: pulled with probability 1/4 moves its log-weight by up to eta * 4 = 0.8 a day, so two weeks suffice to see where
#: the weights go; gamma keeps every arm drawn with probability >= gamma / 4 = 2.5 %.
LEARN_ETA = 0.2
LEARN_GAMMA = 0.1
#: The leave rule of the others: window (days), threshold as a share of their truthful mean gain, cool-off (days).
LEAVE_WINDOW = 3
LEAVE_FRACTION = 0.5
LEAVE_COOLOFF = 2


@dataclass(frozen=True)
class Deviation:
    """One unilateral deviation of the grid: its family (``misreport``, ``withhold``, ``rule``,
    ``misreport+verify``), the behaviour parameter it sets (``m``, ``f``; none for ``rule``) and its value."""

    family: str
    parameter: str = ""
    value: float = math.nan

    @property
    def behaviour(self) -> str:
        """The ``[behaviours]`` value of the deviating player (``misreport:m=-0.1``, ``rule``)."""
        bid = "misreport" if self.family == "misreport+verify" else self.family
        return bid if not self.parameter else f"{bid}:{self.parameter}={self.value:g}"

    @property
    def verify(self) -> bool:
        """Whether the run sets ``market.verify_standalone = true``."""
        return self.family == "misreport+verify"

    @property
    def label(self) -> str:
        """``misreport m=-0.1``, ``rule``, ``misreport+verify m=-0.3``."""
        return self.family if not self.parameter else f"{self.family} {self.parameter}={self.value:g}"

    def point(self, player: str) -> str:
        """The run's point name (also its folder): ``<player>-<family>-<parameter><value>``."""
        tail = f"-{self.parameter}{self.value:g}" if self.parameter else ""
        return f"{player}-{self.family.replace('+', '_')}{tail}"


def deviation_grid(quick: bool = False) -> tuple[Deviation, ...]:
    """The unilateral deviations (issue 16): misreport ``m`` in {-0.3, -0.1, 0.1} (``m = 0`` is the baseline),
    withhold ``f`` in {0.25, 0.5, 1}, rule, and misreport under ``verify_standalone`` at the same ``m``.
    ``quick``: misreport -0.1, withhold 1, rule, misreport+verify -0.1."""
    ms = (-0.1,) if quick else (-0.3, -0.1, 0.1)
    fs = (1.0,) if quick else (0.25, 0.5, 1.0)
    return (*(Deviation("misreport", "m", m) for m in ms), *(Deviation("withhold", "f", f) for f in fs),
            Deviation("rule"), *(Deviation("misreport+verify", "m", m) for m in ms))


@dataclass(frozen=True)
class PlannedRun:
    """A run of the study: its role (``baseline``, ``deviation``, ``learning``, ``leave``), the player it is about
    (empty for the baseline), what it varies, and its :class:`RunSpec`."""

    role: str
    player: str
    spec: RunSpec
    deviation: Deviation | None = None
    verify: bool = False
    variant: str = ""

    @property
    def point(self) -> str:
        return self.spec.point


def learn_spec(grid: Sequence[float] = LEARN_GRID, eta: float = LEARN_ETA, gamma: float = LEARN_GAMMA) -> str:
    """The ``[behaviours]`` text of the learner: ``learn`` over ``misreport`` with ``grid``, ``eta``, ``gamma``."""
    arms = ", ".join(f"{g:g}" for g in grid)
    return f"learn:over=misreport,grid=[{arms}],eta={eta:g},gamma={gamma:g}"


def first_runs(players: Sequence[str], learners: Sequence[str], seed: int, days: int, quick: bool = False,
               deviators: Sequence[str] | None = None) -> list[PlannedRun]:
    """The baseline, every (deviator, deviation) of :func:`deviation_grid` (``deviators``: default every player)
    and every (learner, verify) run; the baseline and the learners first (the longest runs start first)."""
    deviators = list(players) if deviators is None else list(deviators)
    for option, names in (("--learners", learners), ("--deviators", deviators)):
        unknown = [p for p in names if p not in players]
        if unknown:
            raise ValueError(f"{option}: {', '.join(unknown)} is not a bargaining player here; the players are "
                             f"{', '.join(players)}")

    def spec(point: str, overrides: tuple[tuple[str, Any], ...]) -> RunSpec:
        return RunSpec(MODE, seed, days, point=point, overrides=overrides)

    runs = [PlannedRun("baseline", "", spec(BASELINE, (("market.audit", True),)))]
    for p in learners:
        for verify in (False, True):
            extra: tuple[tuple[str, Any], ...] = (("market.verify_standalone", True),) if verify else ()
            runs.append(PlannedRun("learning", p, spec(f"{p}-learn{'-verify' if verify else ''}",
                                                       ((f"behaviours.{p}", learn_spec()), *extra)), verify=verify))
    for p in deviators:
        for dev in deviation_grid(quick):
            extra = (("market.verify_standalone", True),) if dev.verify else ()
            runs.append(PlannedRun("deviation", p, spec(dev.point(p), ((f"behaviours.{p}", dev.behaviour), *extra)),
                                   deviation=dev, verify=dev.verify))
    return runs


def leave_threshold(truthful_mean_gain: float) -> float:
    """The leave threshold ``g`` of a player (currency/day): :data:`LEAVE_FRACTION` of its truthful mean gain."""
    return LEAVE_FRACTION * float(truthful_mean_gain)


def leave_runs(players: Sequence[str], liar: str | None, liar_m: float, truthful_gain: Mapping[str, float],
               seed: int, days: int) -> list[PlannedRun]:
    """The leave dynamics: variant ``lie+leave`` (``liar`` misreports ``liar_m``, the others use ``leave`` with
    ``w`` = :data:`LEAVE_WINDOW`, ``g`` = :func:`leave_threshold` of their truthful mean gain, ``c`` =
    :data:`LEAVE_COOLOFF`) and variant ``leave`` (the same leave rule, the liar truthful).  Without a liar (no lie
    was profitable) only the ``leave`` variant runs, every player following the rule."""
    out = []
    for variant in (("lie+leave", "leave") if liar is not None else ("leave",)):
        overrides: list[tuple[str, Any]] = []
        for p in players:
            if p == liar:
                if variant == "lie+leave":
                    overrides.append((f"behaviours.{p}", f"misreport:m={liar_m:g}"))
                continue
            g = leave_threshold(truthful_gain[p])
            overrides.append((f"behaviours.{p}", f"leave:w={LEAVE_WINDOW},g={g:.6g},c={LEAVE_COOLOFF}"))
        point = "lie_leave" if variant == "lie+leave" else "leave"
        out.append(PlannedRun("leave", liar or "", RunSpec(MODE, seed, days, point=point, overrides=tuple(overrides)),
                              variant=variant))
    return out

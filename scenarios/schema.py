"""Typed, frozen scenario dataclasses.  Nothing past the loader sees raw dicts (DESIGN principle 4).

Device parameter dataclasses live beside their builders in :mod:`agents.devices`; this module
adds what a whole scenario needs on top of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from agents.campus import CampusParams
from agents.devices import LineParams


class ScenarioError(ValueError):
    """A scenario file is malformed.  The message names the file, the field and what is allowed."""


@dataclass(frozen=True)
class UncertaintySpec:
    """Bounded-error scenarios and the CVaR envelope (SPEC §4.2, §4.7, §6.3)."""

    epsilon: float = 0.10
    beta: float = 0.80
    n_scenarios: int = 12
    ar1_phi: float = 0.7
    sigma_fraction: float = 0.5


@dataclass(frozen=True)
class PenaltySpec:
    """DA-RT deviation penalties lambda^x in currency/kWh (SPEC C-11)."""

    net: float = 0.30
    buy: float = 0.10
    sell: float = 0.10
    ch: float = 0.05
    dis: float = 0.05
    dr: float = 0.05
    chp: float = 0.05
    p2p: float = 0.05

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ObjectiveSpec:
    """Objective options.

    ``da_cost_weight`` (omega^DA, SPEC §4.6) adds the DA plan's own cost; the paper uses 0.
    ``expected_cost_weight`` adds ``w * mean_s C_s`` to the CVaR objective.  The pure CVaR objective
    gives the scenarios outside the tail zero weight, so their dispatch is arbitrary (and the LP is
    highly degenerate); a small weight makes every scenario's dispatch cost-minimising while moving
    the CVaR by at most ``w * (max_s C_s - min_s C_s)``.  Set it to 0 for the paper's pure objective.
    ``p2p_flow_cost_per_kwh`` is a tie-break on line flows (objective only, not in C_s): in a lossless
    mesh a flow around the triangle changes nothing, so without it the P2P energy is arbitrary.
    """

    da_cost_weight: float = 0.0
    expected_cost_weight: float = 1e-3
    p2p_flow_cost_per_kwh: float = 1e-4


@dataclass(frozen=True)
class ThreeCampusScenario:
    """The scenario of paper 000: three parks, P2P lines, DA forecasts, RT scenarios, CVaR."""

    name: str
    description: str
    seed: int
    parks: tuple[CampusParams, ...]
    lines: tuple[LineParams, ...]
    uncertainty: UncertaintySpec
    penalties: PenaltySpec
    objective: ObjectiveSpec
    buy_price: np.ndarray  # 24 hourly values [currency/kWh]
    sell_price: np.ndarray  # 24 hourly values
    forecast: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # park -> quantity -> 24
    currency: str = "CNY"
    source: Path | None = None

    @property
    def park_names(self) -> list[str]:
        return [p.name for p in self.parks]

    def park(self, name: str) -> CampusParams:
        for p in self.parks:
            if p.name == name:
                return p
        raise KeyError(f"scenario {self.name}: no park named {name!r}; parks are {self.park_names}")

"""The contract every energy agent fulfils (DESIGN principle 1).

An agent owns its devices and contributes a Pyomo block to whichever problem is being solved: its
own local problem, the joint problem of a centralized coordinator, or a coalition problem.  The
block exposes its exchange with the outside through *port* variables; coupling constraints are
added by the coordinator, never inside the agent.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import mesa
import pyomo.core as pyo

from agents.behaviours import Behaviour, make
from agents.devices.core import Complementarity, Horizon


@dataclass
class BlockHandle:
    """What an agent's builder returns: the block, its outputs and its complementarity binaries.

    ``outputs`` maps an output name (e.g. ``pv_kw``) to ``(indexed Var or Param, unit)``.
    ``complementarity`` lists the device pairs (charge/discharge, buy/sell, ...) whose
    simultaneous use a relaxed solve must be checked for.
    """

    block: pyo.Block
    outputs: dict[str, tuple[Any, str]] = field(default_factory=dict)
    complementarity: list[Complementarity] = field(default_factory=list)


class EnergyAgent(mesa.Agent):  # type: ignore[misc]
    """Base class of all agents: a Mesa agent that can build its own Pyomo block.

    ``behaviour`` (:mod:`agents.behaviours`, truthful unless the scenario says otherwise) decides what the agent
    reports, offers, believes and whether it joins; ``behaviour_kind`` is the kind SPEC §8's table names it by."""

    name: str
    behaviour_kind: ClassVar[str] = ""

    def __init__(self, model: mesa.Model, name: str) -> None:
        super().__init__(model)
        self.name = name
        self.behaviour: Behaviour = make()

    @abstractmethod
    def build_block(self, block: pyo.Block, horizon: Horizon, data: Any, exclusive: bool = True) -> BlockHandle:
        """Add this agent's variables, constraints and cost to ``block`` (builders only build).

        ``exclusive=False`` leaves out the rows that tie complementarity binaries to their
        powers (the LP relaxation); the solver strategy adds them where it needs them.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

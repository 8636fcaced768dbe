"""The modes of the rural campus (paper 002 in the simulator).

There is one campus, so ``cooperative``, ``centralized`` and ``noncooperative`` coincide: the day-ahead
trading power is decided by the scenario's uncertainty method over the reference samples.
``oracle`` decides it knowing the realised day.  The names and colours are the engine's standard modes
(:mod:`sim.engine.modes`).
"""

from __future__ import annotations

from collections.abc import Mapping

from sim.engine.modes import single_agent_modes
from sim.engine.system import Mode


class RuralMode(Mode):
    """A mode of the single rural campus (the three non-oracle modes coincide)."""


#: name -> mode class.
MODES: Mapping[str, type[Mode]] = single_agent_modes(
    RuralMode, "the day-ahead trading by the scenario's uncertainty method",
    "the trading power chosen knowing the realised day: a lower bound")

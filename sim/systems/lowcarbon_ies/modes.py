"""The modes of the low-carbon campus (paper 003 in the simulator), one class each.

There is one campus, so ``cooperative``, ``centralized`` and ``noncooperative`` coincide: the thermal
commitment and the declared carbon sale tier are decided day-ahead by the scenario's method
(``[simulation] method``: on the day's forecast, or robust over the run's data-driven wind set), then the
realised wind day is dispatched.  ``oracle`` decides them knowing the realised wind day (the MILP on it):
a lower bound of the others.  The names and colours are the engine's standard modes (:mod:`sim.engine.modes`).
"""

from __future__ import annotations

from collections.abc import Mapping

from sim.engine.modes import single_agent_modes
from sim.engine.system import Mode


class LowCarbonMode(Mode):
    """A mode of the single low-carbon campus (the three non-oracle modes coincide)."""


#: name -> mode class.
MODES: Mapping[str, type[Mode]] = single_agent_modes(
    LowCarbonMode, "the commitment by the scenario's day-ahead method (deterministic or robust)",
    "the commitment chosen knowing the realised wind day: a lower bound")

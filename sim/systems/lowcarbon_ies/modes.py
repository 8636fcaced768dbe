"""The modes of the low-carbon campus (paper 003 in the simulator), one class each.

There is one campus, so ``cooperative``, ``centralized`` and ``noncooperative`` coincide: the thermal
commitment and the declared carbon sale tier are decided day-ahead by the scenario's method
(``[simulation] method``: on the day's forecast, or robust over the run's data-driven wind set), then the
realised wind day is dispatched.  ``oracle`` decides them knowing the realised wind day (the MILP on it):
a lower bound of the others.  :data:`MODES` is the one place the names are written.
"""

from __future__ import annotations

from collections.abc import Mapping

from sim.engine.system import Mode


class LowCarbonMode(Mode):
    """A mode of the single low-carbon campus (the three non-oracle modes coincide)."""


class Cooperative(LowCarbonMode):
    name = "cooperative"
    label = "Cooperative"
    colour = "#1f77b4"
    description = "one campus: the commitment by the scenario's day-ahead method (same as centralized)"


class Centralized(LowCarbonMode):
    name = "centralized"
    label = "Centralized"
    colour = "#ff7f0e"
    description = "one campus: the commitment by the scenario's day-ahead method (deterministic or robust)"


class Noncooperative(LowCarbonMode):
    name = "noncooperative"
    label = "Non-cooperative"
    colour = "#2ca02c"
    description = "one campus: the commitment by the scenario's day-ahead method (same as centralized)"


class Oracle(LowCarbonMode):
    name = "oracle"
    label = "Oracle"
    colour = "#7f7f7f"
    description = "the commitment chosen knowing the realised wind day: a lower bound"
    full_information = True


#: name -> mode class (the one place the names are written).
MODES: Mapping[str, type[LowCarbonMode]] = {m.name: m for m in (Cooperative, Centralized, Noncooperative, Oracle)}

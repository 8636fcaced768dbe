"""The modes of the rural campus (paper 002 in the simulator), one class each.

There is one campus, so ``cooperative``, ``centralized`` and ``noncooperative`` coincide: the day-ahead
trading power is decided by the scenario's uncertainty method over the reference samples.
``oracle`` decides it knowing the realised day.  :data:`MODES` is the one place the names are written.
"""

from __future__ import annotations

from collections.abc import Mapping

from sim.engine.system import Mode


class RuralMode(Mode):
    """A mode of the single rural campus (the three non-oracle modes coincide)."""


class Cooperative(RuralMode):
    name = "cooperative"
    label = "Cooperative"
    colour = "#1f77b4"
    description = "one campus: the day-ahead trading by the scenario's uncertainty method (same as centralized)"


class Centralized(RuralMode):
    name = "centralized"
    label = "Centralized"
    colour = "#ff7f0e"
    description = "one campus: the day-ahead trading by the scenario's uncertainty method"


class Noncooperative(RuralMode):
    name = "noncooperative"
    label = "Non-cooperative"
    colour = "#2ca02c"
    description = "one campus: the day-ahead trading by the scenario's uncertainty method (same as centralized)"


class Oracle(RuralMode):
    name = "oracle"
    label = "Oracle"
    colour = "#7f7f7f"
    description = "the trading power chosen knowing the realised day: a lower bound"
    full_information = True


#: name -> mode class (the one place the names are written).
MODES: Mapping[str, type[RuralMode]] = {m.name: m for m in (Cooperative, Centralized, Noncooperative, Oracle)}

"""``rule`` (SPEC §8): the agent follows its type's fixed rule instead of optimising.

* EV: charges at full power from arrival until its departure energy (or full) is reached; no V2G.
* Transformer area: ignores the intraday prices and draws its day-ahead base load.
* Cluster (its storage): charges on local surplus (renewables above the load), discharges on deficit, within its
  power and energy limits and keeping the energy it needs at the end of the day.

Which rule applies is decided by the agent's type; the systems implement them (a system that has no rule for a
type refuses the behaviour when the run starts).
"""

from __future__ import annotations

from typing import ClassVar

from agents.behaviours.base import CLUSTER, EV, TRANSFORMER_AREA, Behaviour


class Rule(Behaviour):
    id: ClassVar[str] = "rule"
    summary: ClassVar[str] = ("no optimisation: EVs charge at full power from arrival, TAs draw their DA base load, "
                              "storage charges on surplus and discharges on deficit")
    kinds: ClassVar[frozenset[str]] = frozenset({EV, TRANSFORMER_AREA, CLUSTER})

    @property
    def rule_based(self) -> bool:
        return True

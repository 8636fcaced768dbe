"""``withhold`` (SPEC §8): the agent offers only part of its flexibility to the coalition problem.

With ``f ∈ [0, 1]`` it offers ``1 − f`` of its storage power and usable storage energy and of its exchange capacity
to the coalition problem; standing alone it keeps all of it (its ``C^0_n`` is unchanged).  The withheld part of
the storage stays idle in the coalition's plan.  Check: ``f = 1`` equals the coalition without its flexibility
(the others' coalition plus the agent alone with an idle storage).
"""

from __future__ import annotations

from typing import ClassVar

from agents.behaviours.base import CAMPUS, CLUSTER, Behaviour, Parameter


class Withhold(Behaviour):
    id: ClassVar[str] = "withhold"
    summary: ClassVar[str] = "offers only 1 - f of its storage and exchange capacity to the coalition"
    kinds: ClassVar[frozenset[str]] = frozenset({CLUSTER, CAMPUS})
    parameters: ClassVar[tuple[Parameter, ...]] = (
        Parameter("f", lo=0.0, hi=1.0, doc="share of the flexibility withheld from the coalition"),
    )

    def offered_share(self) -> float:
        """``1 − f``."""
        return 1.0 - float(self.values["f"])

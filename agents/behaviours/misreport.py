"""``misreport`` (SPEC §8): the agent reports a scaled disagreement point to the bargaining.

The reported standalone cost is ``Ĉ^0_n = C^0_n + m |C^0_n|`` with ``m ∈ [-0.5, 0.5]``; NB-2 then runs on the
reports.  With only agent ``n`` misreporting (B-1), ``Ŝ = S + m |C^0_n|`` and its true final cost is
``C^fin_n = Ĉ^0_n − w_n Ŝ = C^0_n − w_n S + (1 − w_n) m |C^0_n|``: claiming a better outside option (``m < 0``)
lowers its true cost, as long as ``Ŝ ≥ 0`` (else the coalition is rejected and everyone gets ``C^0``).
``market.verify_standalone = true`` (the coordinator computes every ``C^0_n`` itself) removes the lever.
"""

from __future__ import annotations

from typing import ClassVar

from agents.behaviours.base import CAMPUS, CLUSTER, Behaviour, Parameter


class Misreport(Behaviour):
    id: ClassVar[str] = "misreport"
    summary: ClassVar[str] = "reports C0 + m |C0| as its standalone cost"
    kinds: ClassVar[frozenset[str]] = frozenset({CLUSTER, CAMPUS})
    parameters: ClassVar[tuple[Parameter, ...]] = (
        Parameter("m", lo=-0.5, hi=0.5, doc="relative misreport of the standalone cost"),
    )

    def report_standalone_cost(self, true_cost: float) -> float:
        """``Ĉ^0_n = C^0_n + m |C^0_n|``."""
        return float(true_cost) + float(self.values["m"]) * abs(float(true_cost))

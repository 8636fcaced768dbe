"""``risk`` (SPEC §8): the agent's own risk parameters replace its decision method's.

Campus (CVaR-DRO of paper 000): ``beta`` (the CVaR confidence level) and ``weight`` (the CVaR term's weight);
rural campus (CDRO of paper 002): ``lam`` (λ, the weight of the worst-case term).  A parameter applies only where
the agent's decision method has it; naming one it lacks is refused when the run starts.  ``beta → 0`` (or weight
0, λ = 0) is the risk-neutral agent.
"""

from __future__ import annotations

from typing import ClassVar

from agents.behaviours.base import CAMPUS, RURAL_CAMPUS, Behaviour, BehaviourError, Parameter


class Risk(Behaviour):
    id: ClassVar[str] = "risk"
    summary: ClassVar[str] = "its own risk parameters (CVaR beta and weight; CDRO lambda)"
    kinds: ClassVar[frozenset[str]] = frozenset({CAMPUS, RURAL_CAMPUS})
    parameters: ClassVar[tuple[Parameter, ...]] = (
        Parameter("beta", lo=0.0, hi=0.999, optional=True, doc="CVaR confidence level"),
        Parameter("weight", lo=0.0, hi=1e6, optional=True, doc="weight of the CVaR term"),
        Parameter("lam", lo=0.0, hi=1.0, optional=True, doc="CDRO lambda"),
    )

    def _validate(self) -> None:
        if not self.values:
            raise BehaviourError("behaviour risk: set at least one of beta, weight, lam")

    def risk_parameters(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.values.items()}

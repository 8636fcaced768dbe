"""Settlement of a bargaining outcome: payments and the checks they must pass (SPEC §5.5).

- Budget balance: ``|Σ_n Π_n| ≤ budget_tol`` (NB-2 gives 0 up to rounding).
- Individual rationality (A21 repaired): ``C^fin_n ≤ C^0_n + ir_tol`` for every participant.
- Pareto efficiency follows: ``Σ_n C^fin_n = Σ_n C^*_n + Σ_n Π_n`` equals the NB-P1 optimum.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from market.interfaces import Allocation
from market.nash import implied_exchange_price

logger = logging.getLogger(__name__)

#: Columns of :func:`settlement_table`, in order.
SETTLEMENT_COLUMNS: tuple[str, ...] = (
    "cluster",
    "standalone_cost",
    "coalition_cost",
    "payment",
    "receipt",
    "final_cost",
    "gain",
    "ir_margin",
    "energy_out_kwh",
    "energy_in_kwh",
    "implied_price",
)


class SettlementError(ValueError):
    """A settlement check failed (budget balance or individual rationality)."""


@dataclass(frozen=True)
class SettlementReport:
    """What :func:`settle` found.

    - ``budget_residual``: ``Σ_n Π_n`` (USD); balanced when ``|·| ≤ budget_tol``.
    - ``ir_violations``: participant → ``C^fin_n − C^0_n`` for those above ``ir_tol``.
    - ``total_final_cost`` / ``total_coalition_cost``: ``Σ C^fin`` and ``Σ C^*`` (equal when balanced).
    - ``table``: :func:`settlement_table` of the allocation.
    """

    budget_residual: float
    budget_tol: float
    ir_violations: dict[str, float]
    ir_tol: float
    total_final_cost: float
    total_coalition_cost: float
    coalition_formed: bool
    table: pd.DataFrame = field(repr=False, compare=False)

    @property
    def budget_balanced(self) -> bool:
        """``|Σ Π| ≤ budget_tol``."""
        return abs(self.budget_residual) <= self.budget_tol

    @property
    def individually_rational(self) -> bool:
        """No participant ends worse than standing alone (beyond ``ir_tol``)."""
        return not self.ir_violations

    @property
    def ok(self) -> bool:
        """Both checks pass."""
        return self.budget_balanced and self.individually_rational

    def problems(self) -> list[str]:
        """Human-readable descriptions of the failed checks (empty when :attr:`ok`)."""
        out: list[str] = []
        if not self.budget_balanced:
            out.append(
                f"payments are not budget balanced: Σ payments = {self.budget_residual:.6g} USD "
                f"(allowed |Σ| <= {self.budget_tol:g})"
            )
        for name, excess in self.ir_violations.items():
            out.append(
                f"participant {name!r} ends worse than standing alone: final cost exceeds its standalone cost by "
                f"{excess:.6g} USD (allowed <= {self.ir_tol:g})"
            )
        return out


def settlement_table(allocation: Allocation) -> pd.DataFrame:
    """One row per participant (:data:`SETTLEMENT_COLUMNS`).

    ``payment > 0``: the participant pays; ``receipt = −payment``; ``ir_margin = C^0 − C^fin`` (≥ 0
    under IR, equal to ``gain``); ``implied_price = Π / (E^in − E^out)`` USD/kWh, NaN without net exchange.
    """
    a = allocation
    return pd.DataFrame(
        {
            "cluster": list(a.participants),
            "standalone_cost": a.standalone_cost,
            "coalition_cost": a.coalition_cost,
            "payment": a.payment,
            "receipt": -a.payment,
            "final_cost": a.final_cost,
            "gain": a.gain,
            "ir_margin": a.standalone_cost - a.final_cost,
            "energy_out_kwh": a.energy_out_kwh,
            "energy_in_kwh": a.energy_in_kwh,
            "implied_price": implied_exchange_price(a.payment, a.energy_out_kwh, a.energy_in_kwh),
        },
        columns=list(SETTLEMENT_COLUMNS),
    )


def settle(
    allocation: Allocation,
    *,
    budget_tol: float = 1e-6,
    ir_tol: float = 1e-6,
    strict: bool = True,
) -> SettlementReport:
    """Check budget balance and individual rationality of ``allocation`` and tabulate the payments.

    ``strict=True`` raises :class:`SettlementError` listing every failed check (naming the
    participants); ``strict=False`` logs them as warnings and returns the report.
    Tolerances are absolute, in USD.
    """
    for name, tol in (("budget_tol", budget_tol), ("ir_tol", ir_tol)):
        if not (math.isfinite(tol) and tol >= 0):
            raise ValueError(f"{name} must be a finite tolerance >= 0 USD, got {tol}")
    a = allocation
    residual = math.fsum(a.payment.tolist())
    excess = a.final_cost - a.standalone_cost
    violations = {a.participants[i]: float(excess[i]) for i in np.flatnonzero(excess > ir_tol)}
    report = SettlementReport(
        budget_residual=residual,
        budget_tol=float(budget_tol),
        ir_violations=violations,
        ir_tol=float(ir_tol),
        total_final_cost=math.fsum(a.final_cost.tolist()),
        total_coalition_cost=math.fsum(a.coalition_cost.tolist()),
        coalition_formed=a.coalition_formed,
        table=settlement_table(a),
    )
    problems = report.problems()
    if problems:
        if strict:
            raise SettlementError("settlement failed: " + "; ".join(problems))
        for p in problems:
            logger.warning("settlement: %s", p)
    else:
        logger.info(
            "settlement ok: %d participants, surplus %.6g USD shared, Σ payments = %.3g USD",
            a.n,
            a.surplus,
            residual,
        )
    return report

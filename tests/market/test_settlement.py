"""market.settlement: budget balance and individual-rationality checks (SPEC §5.5)."""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pytest

from market.interfaces import Allocation
from market.settlement import SETTLEMENT_COLUMNS, SettlementError, settle, settlement_table


def _allocation(**overrides: Any) -> Allocation:
    args: dict[str, Any] = {
        "participants": ("C1", "C2", "C3"),
        "standalone_cost": [100.0, 50.0, 30.0],
        "coalition_cost": [70.0, 60.0, 20.0],
        "weight": [0.5, 0.3, 0.2],
        "payment": [15.0, -19.0, 4.0],  # S = 30 shared 15 / 9 / 6
        "energy_out_kwh": [40.0, 0.0, 10.0],
        "energy_in_kwh": [0.0, 50.0, 0.0],
        "surplus": 30.0,
        "kappa": 0.5,
    } | overrides
    return Allocation(**args)


def test_settle_ok_and_table() -> None:
    report = settle(_allocation())
    assert report.ok and report.budget_balanced and report.individually_rational
    assert report.budget_residual == 0.0 and report.problems() == []
    assert report.total_final_cost == pytest.approx(report.total_coalition_cost)
    table = report.table
    assert tuple(table.columns) == SETTLEMENT_COLUMNS
    np.testing.assert_allclose(table["gain"], [15.0, 9.0, 6.0])
    np.testing.assert_allclose(table["ir_margin"], table["gain"])
    np.testing.assert_allclose(table["receipt"], [-15.0, 19.0, -4.0])
    # C2 imports 50 kWh net and receives 19: a negative implied price; C1 exports 40 kWh and pays 15
    np.testing.assert_allclose(table["implied_price"], [15.0 / -40.0, -19.0 / 50.0, 4.0 / -10.0])


def test_budget_imbalance_raises_with_the_residual() -> None:
    alloc = _allocation(payment=[15.0, -19.0, 4.00001])
    with pytest.raises(
        SettlementError, match=r"not budget balanced: Σ payments = 1e-05 USD \(allowed \|Σ\| <= 1e-06\)"
    ):
        settle(alloc)
    assert settle(alloc, budget_tol=1e-4).ok


def test_ir_violation_names_the_participant() -> None:
    alloc = _allocation(payment=[15.0, -5.0, -10.0])  # C2 ends at 55 > 50
    with pytest.raises(SettlementError, match=r"participant 'C2' ends worse than standing alone.* by 5 USD"):
        settle(alloc)


def test_non_strict_settlement_reports_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    alloc = _allocation(payment=[15.0, -5.0, -9.0])
    with caplog.at_level(logging.WARNING, logger="market.settlement"):
        report = settle(alloc, strict=False)
    assert not report.ok and not report.budget_balanced
    assert report.ir_violations == {"C2": pytest.approx(5.0)}
    assert len(report.problems()) == 2 and "'C2'" in caplog.text


@pytest.mark.parametrize("tol", [-1.0, math.nan])
def test_settle_rejects_bad_tolerances(tol: float) -> None:
    with pytest.raises(ValueError, match="budget_tol must be a finite tolerance >= 0"):
        settle(_allocation(), budget_tol=tol)


def test_settlement_table_direct() -> None:
    table = settlement_table(_allocation(energy_out_kwh=[0.0, 0.0, 0.0], energy_in_kwh=[0.0, 0.0, 0.0]))
    assert table["implied_price"].isna().all()

"""HighsModel's structural deltas (agents/milp.py): fix/unfix, add_constraints, set_active and Param changes of
added rows reach the live HiGHS instance without a recompile, and give the optimum a freshly compiled model
gives (closed-form LP of 4 periods)."""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo
import pytest

from agents.milp import HighsModel

PRICE = [1.0, 3.0, 2.0, 4.0]


def store_model() -> pyo.ConcreteModel:
    """Buy ``b[t] <= 10`` at PRICE to meet ``demand[t] = 5`` through a store: ``e[t] = e[t-1] + b[t] - d[t]``,
    ``0 <= e <= cap``, ``e[0] = 0``.  With cap = 20 the optimum buys every period's need in the cheapest earlier
    period: b = [10, 0, 10, 0] (period 3 at 2.0 covers 3 and 4), cost 10 + 20 = 30."""
    m = pyo.ConcreteModel()
    m.T = pyo.Set(initialize=[1, 2, 3, 4], ordered=True)
    m.price = pyo.Param(m.T, initialize=dict(zip([1, 2, 3, 4], PRICE, strict=True)), mutable=True)
    m.demand = pyo.Param(m.T, initialize=5.0, mutable=True)
    m.cap = pyo.Param(initialize=20.0, mutable=True)
    m.b = pyo.Var(m.T, bounds=(0, 10))
    m.e = pyo.Var(m.T, bounds=(0, None))
    m.bal = pyo.Constraint(m.T, rule=lambda mm, t: mm.e[t] == (mm.e[t - 1] if t > 1 else 0) + mm.b[t] - mm.demand[t])
    m.cap_row = pyo.Constraint(m.T, rule=lambda mm, t: mm.e[t] <= mm.cap)
    m.obj = pyo.Objective(expr=sum(m.price[t] * m.b[t] for t in m.T))
    return m


def fresh_objective(m: pyo.ConcreteModel) -> float:
    """The optimum of ``m`` as it is now in Pyomo, from a new compile (the reference for every delta)."""
    return HighsModel(m, "fresh").solve().objective


def test_fix_and_unfix_reach_highs_as_bounds(compiles: list[str]) -> None:
    m = store_model()
    hm = HighsModel(m, "store")
    assert hm.solve().objective == pytest.approx(30.0)
    n0 = len(compiles)
    hm.fix([m.b[1]], [5.0])  # period 1 buys only its own need: period 2 buys at 3.0, period 3 for 3 and 4
    assert m.b[1].fixed and m.b[1].value == 5.0
    st = hm.solve()
    assert st.objective == pytest.approx(5.0 + 3.0 * 5 + 2.0 * 10)
    assert hm.values(m.b)[0] == 5.0
    assert st.objective == pytest.approx(fresh_objective(m))
    hm.unfix([m.b[1]])
    assert not m.b[1].fixed
    assert hm.solve().objective == pytest.approx(30.0)
    assert len(compiles) == n0 + 1  # only fresh_objective's own compile, none of the live model


def test_added_cut_and_its_param_are_live_rows(compiles: list[str]) -> None:
    m = store_model()
    hm = HighsModel(m, "store")
    hm.track_params()
    hm.solve()
    n0 = len(compiles)
    m.limit = pyo.Param(initialize=7.0, mutable=True)
    m.cut = pyo.Constraint(expr=m.b[1] <= m.limit)  # a cut with a Param on its right-hand side
    rows = hm.add_constraints([m.cut])
    assert rows.tolist() == [hm.n_rows - 1]
    # b1 = 7 covers period 1 and 2 kW of period 2; the other 3 kW of period 2 at 3.0: 7 + 3*3 + 2*10 = 36
    assert hm.solve().objective == pytest.approx(36.0)
    m.limit.set_value(10.0)
    hm.update_params()
    assert hm.solve().objective == pytest.approx(30.0)
    m.limit.set_value(5.0)
    m.price[2].set_value(10.0)  # period 1 buys only its own need, period 2 at 10.0: 5 + 50 + 20
    hm.update_params()
    assert hm.solve().objective == pytest.approx(75.0)
    assert fresh_objective(m) == pytest.approx(75.0)
    assert len(compiles) == n0 + 1  # only fresh_objective's own compile


def test_deactivated_rows_stay_free_and_come_back(compiles: list[str]) -> None:
    m = store_model()
    hm = HighsModel(m, "store")
    hm.track_params()
    hm.solve()
    n_rows = hm.n_rows
    tight = [m.cap_row[t] for t in m.T]
    m.cap.set_value(0.0)  # nothing can be stored: every period buys its own 5 -> 5 * sum(PRICE)
    hm.update_params()
    assert hm.solve().objective == pytest.approx(5 * sum(PRICE))
    hm.set_active(tight, False)
    assert not any(c.active for c in tight)
    assert hm.n_rows == n_rows  # the rows stay, free
    assert hm.solve().objective == pytest.approx(30.0)
    m.cap.set_value(4.0)  # a Param of an inactive row changes: it reaches HiGHS when the row is active again
    hm.update_params()
    assert hm.solve().objective == pytest.approx(30.0)
    hm.set_active(tight, True)
    st = hm.solve()
    assert st.objective == pytest.approx(fresh_objective(m))
    assert st.objective > 30.0
    assert len(compiles) == 2  # the model's own first compile and fresh_objective's


def test_set_active_adds_a_row_created_on_demand() -> None:
    m = store_model()
    hm = HighsModel(m, "store")
    hm.solve()
    m.extra = pyo.Constraint(pyo.Any)
    m.extra[1] = m.e[1] <= 0  # created later, never compiled
    hm.set_active([m.extra[1]], True)
    assert hm.n_rows == 9
    # period 1 cannot carry: b1 = 5, period 2 buys at 3.0, period 3 for 3 and 4: 5 + 15 + 20 = 40
    assert hm.solve().objective == pytest.approx(40.0)
    hm.set_active([m.extra[1]], False)
    assert hm.solve().objective == pytest.approx(30.0)


def test_delta_misuse_is_refused_with_the_name() -> None:
    m = store_model()
    other = store_model()
    hm = HighsModel(m, "store")
    with pytest.raises(ValueError, match=r"store: cannot fix b\[1\]: it is not a column"):
        hm.fix([other.b[1]], [1.0])
    with pytest.raises(ValueError, match="cap_row\\[1\\] is a row of the model already"):
        hm.add_constraints([m.cap_row[1]])
    with pytest.raises(ValueError, match="finite value"):
        hm.fix([m.b[1]], [float("nan")])
    assert not m.b[1].fixed
    m.c2 = pyo.Constraint(expr=other.b[1] <= 1)
    with pytest.raises(ValueError, match="not a column of the model"):
        hm.add_constraints([m.c2])
    assert np.isfinite(hm.solve().objective)


def test_removed_rows_leave_the_live_model_equal_to_a_fresh_compile() -> None:
    m = store_model()
    hm = HighsModel(m, "store")
    hm.track_params()
    hm.solve()
    m.cut = pyo.Constraint(expr=m.b[1] <= 5)
    hm.add_constraints([m.cut])
    assert hm.solve().objective == pytest.approx(40.0)
    m.cut.deactivate()
    hm.remove_constraints([m.cut, m.cap_row[2]])  # an added row and a compiled one in the middle
    m.cap_row[2].deactivate()
    fresh = HighsModel(m, "fresh")
    assert hm.n_rows == fresh.n_rows == 7
    assert [c.name for c in hm.compiled.rows] == [c.name for c in fresh.compiled.rows]
    assert (hm.compiled.A != fresh.compiled.A).nnz == 0
    m.cap.set_value(0.0)  # a Param of rows after the deleted one: pushed to their new positions
    hm.update_params()
    # nothing stored after periods 1, 3, 4; period 2 could carry (its cap row is gone) but 3.0 > 2.0: each period
    # buys its own 5 kWh
    assert hm.solve().objective == pytest.approx(HighsModel(m, "fresh").solve().objective)
    assert hm.solve().objective == pytest.approx(5 * sum(PRICE))
    with pytest.raises(ValueError, match="cut is not a row"):
        hm.remove_constraints([m.cut])


def test_param_changes_after_a_full_update_are_pushed() -> None:
    m = store_model()
    hm = HighsModel(m, "store")
    hm.track_params()
    hm.solve()
    hm.update()  # a whole recompile (the fallback)
    m.cap.set_value(0.0)
    hm.update_params()
    assert hm.solve().objective == pytest.approx(5 * sum(PRICE))

"""HighsModel (agents/milp.py): infeasibility diagnosis, LP relaxation vs integer columns,
SolveStats, column fixing and persistent updates, on models of 1-4 periods."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyomo.environ as pyo
import pytest

from agents.devices.core import Bus, Horizon, close_bus
from agents.devices.grid import GridParams, build_grid
from agents.devices.storage import BatteryParams, build_battery
from agents.devices.thermal import CHPParams, build_chp
from agents.milp import HighsModel, SolveError, SolverOptions, SolveStats, constraint_family

TOL = 1e-6
H4 = Horizon(4, 0.5)
BUY = [0.1, 0.1, 0.5, 0.45]


def battery_model() -> pyo.ConcreteModel:
    """Battery (100 kWh, 20 kW, eta 0.9) + grid + demand 50 kW on Horizon(4, 0.5).

    Optimum (see test_devices): charge [20, 20, 0, 0], discharge [0, 0, 20, 12.4], cost 22.96.
    """
    m = pyo.ConcreteModel()
    bus = Bus(H4)
    m.ess = pyo.Block()
    build_battery(m.ess, BatteryParams(100, 20, 20, eta_charge=0.9, eta_discharge=0.9), H4, bus)
    m.demand = pyo.Param(H4.periods, initialize=50.0, mutable=True)
    for t in H4.periods:
        bus.inject(t, -m.demand[t])
    m.grid = pyo.Block()
    build_grid(m.grid, GridParams(1000), H4, bus, BUY, [0.0] * 4)
    close_bus(m, bus)
    m.obj = pyo.Objective(expr=m.cost)
    return m


def cost_with(ch: Sequence[float], dis: Sequence[float]) -> float:
    return H4.dt_h * sum(p * (50 + c - d) for p, c, d in zip(BUY, ch, dis, strict=True))


def chp_island(demand: Sequence[float]) -> pyo.ConcreteModel:
    """A CHP (10..100 kW, fast ramps) alone on a bus with a fixed demand: no grid to fall back on."""
    h = Horizon(len(demand), 1.0)
    m = pyo.ConcreteModel()
    bus = Bus(h)
    m.chp = pyo.Block()
    build_chp(m.chp, CHPParams(10, 100, 1000, 1000, 50, 0.2), h, bus)
    m.demand = pyo.Param(h.periods, initialize=dict(zip(h.periods, demand, strict=True)), mutable=True)
    for t in h.periods:
        bus.inject(t, -m.demand[t])
    close_bus(m, bus)
    m.obj = pyo.Objective(expr=m.cost)
    return m


def grid_only(demand: float, buy: float, sell: float) -> pyo.ConcreteModel:
    """One period, grid 100 kW.  With sell > buy the LP relaxation buys and sells at once."""
    h = Horizon(1, 1.0)
    m = pyo.ConcreteModel()
    bus = Bus(h)
    m.demand = pyo.Param(initialize=demand, mutable=True)
    bus.inject(1, -m.demand)
    m.grid = pyo.Block()
    build_grid(m.grid, GridParams(100), h, bus, [buy], [sell])
    close_bus(m, bus)
    m.obj = pyo.Objective(expr=m.cost)
    return m


# ------------------------------------------------------------------------------------ infeasibility


def test_infeasible_balance_names_model_case_and_family() -> None:
    # the CHP can give at most 100 kW; period 2 needs 150 -> only def_balance[2] can absorb the gap (50)
    m = chp_island([50, 150, 60])
    hm = HighsModel(m, "campus-CHP", relax_integrality=False)
    hm.set_case("peak-day")
    with pytest.raises(SolveError) as ei:
        hm.solve()
    err = ei.value
    msg = str(err)
    assert "campus-CHP" in msg
    assert "case peak-day" in msg
    assert "infeasible" in msg
    assert "def_balance" in msg
    assert "def_balance[2]" in msg
    assert err.status in ("infeasible", "unbounded_or_infeasible")
    assert [fam for fam, _, _ in err.diagnosis] == ["def_balance"]
    _, viol, examples = err.diagnosis[0]
    assert viol == pytest.approx(50.0, abs=1e-6)
    assert examples == ["def_balance[2] short by 50"]
    assert hm.last is not None and hm.last.status == err.status


def test_infeasible_without_raise_returns_stats() -> None:
    m = chp_island([50, 150])
    hm = HighsModel(m, "island")
    stats = hm.solve(raise_on_failure=False)
    assert stats.status in ("infeasible", "unbounded_or_infeasible")
    assert math.isnan(stats.objective)
    assert stats.mip_gap == math.inf


def test_infeasible_after_update_names_end_soc_family() -> None:
    # E_max 90 -> 40 below E_0 = 50: ESS-4 (soc_T = E_0) cannot hold; the battery can discharge below
    # 40 in period 1, so every other row can be met and the elastic copy blames res_end_soc by 10 kWh.
    m = battery_model()
    hm = HighsModel(m, "PV", relax_integrality=False)
    assert hm.solve().status == "optimal"
    m.ess.e_max_kwh = 40
    hm.update()
    hm.set_case("rt scenario 3")
    with pytest.raises(SolveError) as ei:
        hm.solve()
    msg = str(ei.value)
    assert msg.startswith("PV (case rt scenario 3): the model is infeasible")
    assert "ess.res_end_soc" in msg
    fams = {fam: viol for fam, viol, _ in ei.value.diagnosis}
    assert set(fams) == {"ess.res_end_soc"}
    assert fams["ess.res_end_soc"] == pytest.approx(10.0, abs=1e-6)
    # and feasible again once the bound is restored
    m.ess.e_max_kwh = 90
    hm.update()
    assert hm.solve().objective == pytest.approx(22.96, abs=TOL)


def test_crossed_variable_bounds_are_diagnosed() -> None:
    # E_min 95 > E_max 90: the soc columns have lb > ub; diagnose() reports them by variable name
    m = battery_model()
    m.ess.e_min_kwh = 95
    hm = HighsModel(m, "PV", relax_integrality=False)
    with pytest.raises(SolveError) as ei:
        hm.solve()
    assert "bounds of ess.soc_kwh" in str(ei.value)
    assert "ess.soc_kwh[1]: lb 95 > ub 90" in str(ei.value)


def test_constraint_family_strips_index() -> None:
    m = battery_model()
    assert constraint_family(m.ess.def_soc[3]) == "ess.def_soc"
    assert constraint_family(m.ess.res_end_soc) == "ess.res_end_soc"
    assert constraint_family(m.def_balance[1]) == "def_balance"


# ------------------------------------------------------------------------------------ relaxation


def test_lp_relaxation_below_milp_and_toggling() -> None:
    # demand 30, buy 0.1 < sell 0.5 (an invalid tariff on purpose), grid 100 kW.
    # LP: w = 0.65 allows buy 65 and sell 35 at once: 0.1*65 - 0.5*35 = -11.
    # MILP: w in {0, 1}: buy 30 only: 3.
    m = grid_only(30, 0.1, 0.5)
    hm = HighsModel(m, "grid")  # relaxed by default
    lp = hm.solve()
    assert lp.status == "optimal" and not lp.is_mip
    assert lp.objective == pytest.approx(-11.0, abs=TOL)
    assert lp.n_integer_active == 0 and lp.n_binaries_declared == 1
    assert hm.value(m.grid.mode[1]) == pytest.approx(0.65, abs=TOL)

    cols = hm.columns_of(m.grid.mode)
    assert cols.shape == (1,) and cols[0] >= 0
    hm.set_integer(cols)
    mip = hm.solve()
    assert mip.is_mip and mip.n_integer_active == 1
    assert mip.objective == pytest.approx(3.0, abs=TOL)
    assert lp.objective < mip.objective - 1
    assert hm.values(m.grid.p_buy_kw)[0] == pytest.approx(30.0, abs=TOL)
    assert hm.values(m.grid.p_sell_kw)[0] == pytest.approx(0.0, abs=TOL)

    hm.relax_all()
    again = hm.solve()
    assert not again.is_mip and again.objective == pytest.approx(-11.0, abs=TOL)
    hm.set_all_declared_integer()
    assert hm.solve().objective == pytest.approx(3.0, abs=TOL)
    hm.set_integer(cols, integer=False)
    assert hm.solve().objective == pytest.approx(-11.0, abs=TOL)
    hm.set_integer(np.array([], dtype=int))  # no-op
    assert hm.n_integer_active == 0

    fresh = HighsModel(m, "grid", relax_integrality=False)
    assert fresh.n_integer_active == fresh.n_binaries_declared == 1
    assert fresh.solve().objective == pytest.approx(3.0, abs=TOL)


# ------------------------------------------------------------------------------------ SolveStats


def test_solve_stats_fields() -> None:
    m = battery_model()
    hm = HighsModel(m, "PV", relax_integrality=False, build_s=0.25)
    hm.set_case("da")
    s = hm.solve(path="milp")
    assert isinstance(s, SolveStats)
    assert s.status == "optimal"
    assert s.name == "PV (case da)"
    # columns: battery 4x(ch, dis, soc, mode) + grid 4x(buy, sell, mode) = 28
    # rows: def_soc 4 + res_charge_mode 4 + res_discharge_mode 4 + res_end_soc 1 + res_buy 4 + res_sell 4
    #       + def_balance 4 = 25
    assert (s.n_cols, s.n_rows) == (28, 25)
    assert (hm.n_cols, hm.n_rows) == (28, 25)
    assert s.n_binaries_declared == 8 and s.n_integer_active == 8 and s.is_mip
    assert s.n_nonzeros == hm.n_nonzeros > 0
    assert s.objective == pytest.approx(22.96, abs=TOL)
    assert s.dual_bound <= s.objective + 1e-6
    assert 0 <= s.mip_gap <= 1e-4
    assert s.build_s == 0.25
    for x in (s.handover_s, s.solve_s, s.extract_s):
        assert x >= 0
    assert s.overhead_s == pytest.approx(s.build_s + s.handover_s + s.extract_s)
    assert s.path == "milp" and s.lp_method == "simplex"
    d = s.as_dict()
    assert d["overhead_s"] == pytest.approx(s.overhead_s)
    assert d["n_rows"] == 25 and d["status"] == "optimal"
    assert hm.last is s
    # the second solve reports neither build nor hand-over time
    s2 = hm.solve()
    assert s2.build_s == 0.0 and s2.handover_s == 0.0
    assert s2.objective == pytest.approx(s.objective, abs=TOL)


def test_lp_stats_have_zero_gap_and_equal_bound() -> None:
    m = battery_model()
    hm = HighsModel(m, "PV")
    s = hm.solve(lp_method="ipm")
    assert s.status == "optimal" and not s.is_mip and s.n_integer_active == 0
    assert s.lp_method == "ipm"
    assert s.mip_gap == 0.0
    assert s.dual_bound == s.objective
    assert s.mip_nodes == 0
    # the LP relaxation of this model is exact: no simultaneous charge/discharge pays
    assert s.objective == pytest.approx(22.96, abs=1e-5)


def test_solver_options_validation() -> None:
    with pytest.raises(ValueError, match="time_limit_s"):
        SolverOptions(time_limit_s=0)
    with pytest.raises(ValueError, match="mip_rel_gap"):
        SolverOptions(mip_rel_gap=1.0)
    with pytest.raises(ValueError, match="lp_method"):
        SolverOptions(lp_method="barrier")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------ columns


def test_fix_unfix_columns_round_trip() -> None:
    m = battery_model()
    hm = HighsModel(m, "PV", relax_integrality=False)
    obj0 = hm.solve().objective
    ch0 = hm.values(m.ess.p_charge_kw)
    cols = hm.columns_of(m.ess.p_charge_kw)
    assert len(set(cols.tolist())) == 4 and np.all(cols >= 0)

    # charge fixed to [10, 10, 0, 0]: 9 kWh stored, returned as 16.2 kW in period 3 -> 25.7
    hm.fix_columns(cols, np.array([10.0, 10.0, 0.0, 0.0]))
    obj = hm.solve().objective
    np.testing.assert_allclose(hm.values(m.ess.p_charge_kw), [10, 10, 0, 0], atol=TOL)
    assert obj == pytest.approx(cost_with([10, 10, 0, 0], [0, 0, 16.2, 0]), abs=TOL)
    # charge fixed to 0: nothing can be discharged either (E_T = E_0) -> 28.75
    hm.fix_columns(cols, np.zeros(4))
    assert hm.solve().objective == pytest.approx(cost_with([0] * 4, [0] * 4), abs=TOL)

    hm.unfix_columns(cols)
    obj_back = hm.solve().objective
    assert obj_back == pytest.approx(obj0, abs=TOL)
    np.testing.assert_allclose(hm.values(m.ess.p_charge_kw), ch0, atol=TOL)
    # empty arrays are no-ops
    hm.fix_columns(np.array([], dtype=int), np.array([]))
    hm.unfix_columns(np.array([], dtype=int))
    assert hm.solve().objective == pytest.approx(obj0, abs=TOL)


def test_pyomo_fixed_variable_stays_a_column_and_update_unfixes() -> None:
    # mode[1] fixed to 0 (no charging in period 1): charge 20 in period 2 only -> 25.7
    m = battery_model()
    m.ess.mode[1].fix(0)
    hm = HighsModel(m, "PV", relax_integrality=False)
    assert hm.n_cols == 28
    obj = hm.solve().objective
    assert obj == pytest.approx(cost_with([0, 20, 0, 0], [0, 0, 16.2, 0]), abs=TOL)
    assert hm.values(m.ess.p_charge_kw)[0] == pytest.approx(0.0, abs=TOL)
    assert m.ess.mode[1].fixed and m.ess.mode[1].value == 0  # compile restored the Pyomo fix
    m.ess.mode[1].unfix()
    hm.update()
    assert hm.n_cols == 28
    assert hm.solve().objective == pytest.approx(22.96, abs=TOL)


def test_values_of_variable_outside_model_is_nan() -> None:
    m = battery_model()
    other = pyo.ConcreteModel()
    other.x = pyo.Var([1, 2])
    hm = HighsModel(m, "PV")
    hm.solve()
    assert np.all(np.isnan(hm.values(other.x)))
    assert math.isnan(hm.value(other.x[1]))
    np.testing.assert_array_equal(hm.columns_of(other.x), [-1, -1])
    # index order is honoured
    soc = hm.values(m.ess.soc_kwh)
    np.testing.assert_allclose(hm.values(m.ess.soc_kwh, [4, 1]), soc[[3, 0]])
    assert hm.value(m.ess.soc_kwh[4]) == pytest.approx(50.0, abs=TOL)


def test_update_with_new_constraint_re_passes_model() -> None:
    # a structural change (new row) passes the model again.
    # ch[1] <= 10: charge [10, 20] stores 13.5 kWh -> 24.3 kW back: 20 in period 3, 4.3 in period 4.
    m = battery_model()
    hm = HighsModel(m, "PV", relax_integrality=False)
    hm.solve()
    m.cap = pyo.Constraint(expr=m.ess.p_charge_kw[1] <= 10)
    hm.update()
    s = hm.solve()
    assert s.n_rows == 26 and s.n_cols == 28
    np.testing.assert_allclose(hm.values(m.ess.p_charge_kw), [10, 20, 0, 0], atol=TOL)
    np.testing.assert_allclose(hm.values(m.ess.p_discharge_kw), [0, 0, 20, 4.3], atol=TOL)
    assert s.objective == pytest.approx(cost_with([10, 20, 0, 0], [0, 0, 20, 4.3]), abs=TOL)
    m.cap.deactivate()
    hm.update()
    assert hm.n_rows == 25
    assert hm.solve().objective == pytest.approx(22.96, abs=TOL)


@pytest.mark.parametrize("change", ["row", "column"])
def test_structural_update_keeps_integrality(change: str) -> None:
    # MILP optimum 3, LP relaxation -11 (see test_lp_relaxation_below_milp_and_toggling); an unrelated
    # new row (and variable) must not change the optimum.
    m = grid_only(30, 0.1, 0.5)
    hm = HighsModel(m, "grid", relax_integrality=False)
    assert hm.solve().objective == pytest.approx(3.0, abs=TOL)
    if change == "column":
        m.extra = pyo.Var(bounds=(0, 1))
        m.extra_row = pyo.Constraint(expr=m.extra <= 1)
    else:
        m.extra_row = pyo.Constraint(expr=m.grid.p_buy_kw[1] <= 100)
    hm.update()
    s = hm.solve()
    assert s.is_mip and s.n_integer_active == 1
    assert s.objective == pytest.approx(3.0, abs=TOL)


# ------------------------------------------------------------------------------ values that cannot reach HiGHS


def test_snap_to_bounds_makes_round_off_exact_and_refuses_the_rest() -> None:
    from agents.milp import snap_to_bounds

    assert snap_to_bounds(900.0 + 1e-9, 100.0, 900.0) == 900.0  # a SOC a hair beyond its maximum
    assert snap_to_bounds(-1e-9, 0.0, 250.0) == 0.0
    assert snap_to_bounds(1e-9, 0.0, None) == 0.0  # within the tolerance inside: on the bound
    assert snap_to_bounds(1e-5, 0.0, 1.0) == 1e-5  # a real value: untouched
    assert snap_to_bounds(0.9999999999, 0.0, 1.0, integer=True) == 1.0
    assert snap_to_bounds(2.5e-7 + 900.0, None, 900.0) == 900.0  # beyond by round-off (< 1e-6 relative): clipped
    with pytest.raises(ValueError, match=r"soc\[3\]: the value nan cannot be fixed.*\[100, 900\]"):
        snap_to_bounds(math.nan, 100.0, 900.0, name="soc[3]")
    with pytest.raises(ValueError, match=r"x: the value 901\.0 lies 1 beyond its bound 900"):
        snap_to_bounds(901.0, 100.0, 900.0, name="x")


def test_a_nan_or_infinite_param_is_named_before_it_reaches_highs() -> None:
    m = pyo.ConcreteModel()
    m.need = pyo.Param(initialize=1.0, mutable=True, within=pyo.Any)
    m.price = pyo.Param(initialize=2.0, mutable=True, within=pyo.Any)
    m.x = pyo.Var(bounds=(0, 10))
    m.c = pyo.Constraint(expr=m.x >= m.need)
    m.obj = pyo.Objective(expr=m.price * m.x)
    hm = HighsModel(m, "toy")
    hm.track_params()
    assert hm.solve().objective == pytest.approx(2.0)
    m.need.set_value(math.nan)
    with pytest.raises(SolveError, match=r"toy: Param need = nan is not a number the solver can take") as err:
        hm.update_params()  # the fast path
    assert err.value.status == "bad_data"
    with pytest.raises(SolveError, match=r"Param need = nan"):
        hm.update()  # the full recompile
    m.need.set_value(1.0)
    m.price.set_value(math.inf)  # an infinite cost
    with pytest.raises(SolveError, match=r"Param price = inf"):
        hm.update_params()
    with pytest.raises(SolveError, match=r"Param price = inf"):
        hm.update()
    m.price.set_value(3.0)
    hm.update()
    assert hm.solve().objective == pytest.approx(3.0)

"""Core device builders of agents/devices/ (SPEC §3.1-3.6a), tested build / solve / solution /
conservation / mutability / bad input on horizons of 1-4 periods.

Every expected optimum is worked out by hand in the comment beside it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pyomo.environ as pyo
import pytest

from agents.devices.core import Bus, Horizon, close_bus, param_values, set_profile
from agents.devices.demand import ShiftableLoadParams, build_shiftable_load
from agents.devices.grid import GridParams, LineParams, build_grid, build_p2p_lines, p2p_net_inflow
from agents.devices.renewables import RenewableParams, build_renewable
from agents.devices.storage import BatteryParams, build_battery
from agents.devices.thermal import CHPParams, build_chp
from agents.milp import HighsModel

TOL = 1e-6


# ------------------------------------------------------------------------------------ helpers


def n_data(block: pyo.Block, ctype: type) -> int:
    """Number of scalar components of ``ctype`` on ``block`` and its sub-blocks."""
    return sum(1 for _ in block.component_data_objects(ctype, descend_into=True))


def comp_names(block: pyo.Block, ctype: type) -> set[str]:
    return {c.local_name for c in block.component_objects(ctype, descend_into=False)}


def add_demand(m: pyo.Block, bus: Bus, values: Sequence[float]) -> None:
    """A fixed (mutable-Param) demand on the bus: injection ``-demand[t]``."""
    T = bus.horizon.periods
    m.demand = pyo.Param(T, initialize=dict(zip(T, map(float, values), strict=True)), mutable=True,
                         doc="fixed demand [kW]")
    for t in T:
        bus.inject(t, -m.demand[t])


def add_grid(
    m: pyo.Block, bus: Bus, buy: Sequence[float], sell: Sequence[float], p_max_kw: float = 1000.0
) -> None:
    m.grid = pyo.Block()
    build_grid(m.grid, GridParams(p_max_kw), bus.horizon, bus, buy, sell)


def finish(m: pyo.Block, bus: Bus) -> None:
    close_bus(m, bus)
    m.obj = pyo.Objective(expr=m.cost)


def solve(m: pyo.Block, name: str = "test") -> tuple[HighsModel, float]:
    hm = HighsModel(m, name, relax_integrality=False)
    stats = hm.solve()
    assert stats.status == "optimal"
    assert stats.is_mip
    return hm, stats.objective


def demand(m: pyo.Block) -> np.ndarray:
    return param_values(m.demand)


def grid_net(hm: HighsModel, m: pyo.Block) -> np.ndarray:
    return hm.values(m.grid.p_buy_kw) - hm.values(m.grid.p_sell_kw)


def no_structure_change(caplog: pytest.LogCaptureFixture) -> bool:
    """After ``update(); solve()``: the update kept the live HiGHS model (the persistent path).

    The solve's own debug line must be among the records, so that an empty capture cannot pass.
    """
    msgs = [r.getMessage() for r in caplog.records if r.name == "agents.milp"]
    assert any("optimal obj=" in s for s in msgs), "debug log of agents.milp not captured"
    return not any("structure changed" in s for s in msgs)


# ------------------------------------------------------------------------------------ horizon / bus


def test_horizon_periods_and_bus_slots() -> None:
    h = Horizon(3, 0.5)
    assert h.periods == [1, 2, 3]
    bus = Bus(h)
    assert sorted(bus.injection) == [1, 2, 3]
    assert all(v == [] for v in bus.injection.values())
    assert bus.cost == []


@pytest.mark.parametrize(
    ("n", "dt", "match"),
    [(0, 1.0, r"Horizon\.n must be >= 1, got 0"), (-2, 1.0, r"Horizon\.n"), (4, 0.0, r"Horizon\.dt_h must be > 0"),
     (4, -0.25, r"Horizon\.dt_h"), (4, float("nan"), r"Horizon\.dt_h")],
)
def test_horizon_rejects_bad_values(n: int, dt: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Horizon(n, dt)


def test_close_bus_with_exchange_adds_exchange_to_balance() -> None:
    # demand 30, exchange inflow 30 -> the grid buys nothing; cost 0.
    h = Horizon(2, 1.0)
    m = pyo.ConcreteModel()
    bus = Bus(h)
    add_demand(m, bus, [30, 30])
    add_grid(m, bus, [0.5, 0.5], [0.1, 0.1])
    m.x = pyo.Var(h.periods, bounds=(0, 30))
    close_bus(m, bus, exchange=m.x)
    m.obj = pyo.Objective(expr=m.cost)
    assert len(m.def_balance) == 2
    hm, obj = solve(m)
    assert obj == pytest.approx(0.0, abs=TOL)
    np.testing.assert_allclose(hm.values(m.x), [30, 30], atol=TOL)


# ------------------------------------------------------------------------------------ 3.1 battery

ESS = BatteryParams(capacity_kwh=100, p_charge_max_kw=20, p_discharge_max_kw=20, soc_min_frac=0.1,
                    soc_max_frac=0.9, soc_initial_frac=0.5, eta_charge=0.9, eta_discharge=0.9)
ESS_H = Horizon(4, 0.5)
ESS_BUY = [0.1, 0.1, 0.5, 0.45]
ESS_DEMAND = 50.0


def battery_model(params: BatteryParams = ESS, buy: Sequence[float] = ESS_BUY) -> pyo.ConcreteModel:
    """Battery + grid (sell price 0) + fixed demand 50 kW on Horizon(4, 0.5)."""
    m = pyo.ConcreteModel()
    bus = Bus(ESS_H)
    m.ess = pyo.Block()
    m.handle = build_battery(m.ess, params, ESS_H, bus)
    add_demand(m, bus, [ESS_DEMAND] * ESS_H.n)
    add_grid(m, bus, buy, [0.0] * ESS_H.n)
    finish(m, bus)
    return m


def battery_objective(ch: Sequence[float], dis: Sequence[float], buy: Sequence[float] = ESS_BUY) -> float:
    """Hand formula: dt * sum buy_t * (demand + ch_t - dis_t) (the grid always buys here)."""
    return ESS_H.dt_h * sum(p * (ESS_DEMAND + c - d) for p, c, d in zip(buy, ch, dis, strict=True))


def test_battery_build_counts() -> None:
    h = Horizon(4, 1.0)
    m = pyo.ConcreteModel()
    bus = Bus(h)
    m.ess = pyo.Block()
    handle = build_battery(m.ess, ESS, h, bus)
    b = m.ess
    assert (len(b.p_charge_kw), len(b.p_discharge_kw), len(b.soc_kwh), len(b.mode)) == (4, 4, 4, 4)
    assert n_data(b, pyo.Var) == 16
    assert (len(b.def_soc), len(b.res_charge_mode), len(b.res_discharge_mode), len(b.res_end_soc)) == (4, 4, 4, 1)
    assert n_data(b, pyo.Constraint) == 13
    assert comp_names(b, pyo.Constraint) == {"def_soc", "res_charge_mode", "res_discharge_mode", "res_end_soc"}
    assert all(b.mode[t].is_binary() for t in h.periods)
    assert all(len(bus.injection[t]) == 1 for t in h.periods)
    assert bus.cost == []  # cost_per_kwh = 0 appends no cost term
    assert set(handle.outputs) == {"ess_charge_kw", "ess_discharge_kw", "soc_kwh"}
    assert handle.outputs["soc_kwh"][1] == "kWh"
    assert set(handle.binaries) == {"ess_mode"}
    # SOC bounds follow the mutable energy params (ESS-2)
    assert b.soc_kwh[1].bounds == (pytest.approx(10.0), pytest.approx(90.0))
    assert pyo.value(b.e_initial_kwh) == pytest.approx(50.0)


def test_battery_cost_term_appended_when_priced() -> None:
    h = Horizon(2, 0.5)
    bus = Bus(h)
    m = pyo.ConcreteModel()
    m.ess = pyo.Block()
    build_battery(m.ess, BatteryParams(100, 20, 20, cost_per_kwh=0.05), h, bus)
    assert len(bus.cost) == 1
    m.ess.p_charge_kw[1].value = 10
    m.ess.p_charge_kw[2].value = 0
    m.ess.p_discharge_kw[1].value = 0
    m.ess.p_discharge_kw[2].value = 4
    assert pyo.value(bus.cost[0]) == pytest.approx(0.05 * 0.5 * 14)


def test_battery_arbitrage_solution_and_conservation() -> None:
    m = battery_model()
    hm, obj = solve(m)
    ch, dis = hm.values(m.ess.p_charge_kw), hm.values(m.ess.p_discharge_kw)
    soc, mode = hm.values(m.ess.soc_kwh), hm.values(m.ess.mode)
    # Charge at the power limit in both cheap periods: soc 50 -> 59 -> 68 (0.9*20*0.5 = 9 per period).
    # Discharge fully in the dearest period (20 kW: -20/0.9*0.5 = -11.11 kWh), the rest (12.4 kW) in
    # period 4 so that the end-SOC equals 50 (ESS-4).  Recharging in period 4 does not pay: 0.45/0.81 > 0.5.
    np.testing.assert_allclose(ch, [20, 20, 0, 0], atol=TOL)
    np.testing.assert_allclose(dis, [0, 0, 20, 12.4], atol=TOL)
    np.testing.assert_allclose(soc, [59, 68, 68 - 20 / 0.9 * 0.5, 50], atol=TOL)
    assert obj == pytest.approx(battery_objective([20, 20, 0, 0], [0, 0, 20, 12.4]), abs=TOL)
    assert obj == pytest.approx(22.96, abs=TOL)
    # ESS-1 with eta and dt, from the extracted values
    prev = np.concatenate([[50.0], soc[:-1]])
    np.testing.assert_allclose(soc, prev + (0.9 * ch - dis / 0.9) * 0.5, atol=TOL)
    # ESS-2..4
    assert np.all(soc >= 10 - TOL) and np.all(soc <= 90 + TOL)
    assert soc[-1] == pytest.approx(50.0, abs=TOL)
    assert np.all(np.minimum(ch, dis) <= TOL)
    np.testing.assert_allclose(mode, [1, 1, 0, 0], atol=TOL)
    # power balance: dis - ch + buy - sell - demand = 0
    residual = dis - ch + grid_net(hm, m) - demand(m)
    assert np.max(np.abs(residual)) < TOL


def test_battery_self_discharge_follows_ess1() -> None:
    # sigma = 0.1/h, dt = 0.5 -> keep 0.95 per period.  With flat prices the battery only needs to
    # replace its self-discharge losses at minimum cost; ESS-1 must hold exactly in the solution.
    p = BatteryParams(100, 20, 20, eta_charge=0.9, eta_discharge=0.9, self_discharge_per_h=0.1)
    m = battery_model(p, buy=[0.2] * 4)
    hm, obj = solve(m)
    ch, dis, soc = (hm.values(v) for v in (m.ess.p_charge_kw, m.ess.p_discharge_kw, m.ess.soc_kwh))
    prev = np.concatenate([[50.0], soc[:-1]])
    np.testing.assert_allclose(soc, 0.95 * prev + (0.9 * ch - dis / 0.9) * 0.5, atol=TOL)
    assert soc[-1] == pytest.approx(50.0, abs=TOL)
    # summing ESS-1 over the day with E_T = E_0: net energy put into the cells = self-discharge loss
    loss = np.sum(0.05 * prev)
    assert np.sum(0.9 * ch * 0.5) - np.sum(dis / 0.9 * 0.5) == pytest.approx(loss, abs=1e-5)
    assert obj > 0.5 * 0.2 * 50 * 4  # losses cost money


def test_battery_mutable_params_persistent_update(caplog: pytest.LogCaptureFixture) -> None:
    m = battery_model()
    hm, obj0 = solve(m)
    assert obj0 == pytest.approx(22.96, abs=TOL)

    # (a) a coefficient change (charge limit 20 -> 10 multiplies mode[t]): pushed with changeCoeff.
    # ch = [10, 10] stores 9 kWh; 16.2 kW out in period 3 (9 kWh * 0.9 / 0.5).
    caplog.set_level(logging.DEBUG, logger="agents.milp")
    m.ess.p_charge_max_kw = 10
    hm.update()
    obj = hm.solve().objective
    assert no_structure_change(caplog)
    np.testing.assert_allclose(hm.values(m.ess.p_charge_kw), [10, 10, 0, 0], atol=TOL)
    np.testing.assert_allclose(hm.values(m.ess.p_discharge_kw), [0, 0, 16.2, 0], atol=TOL)
    assert obj == pytest.approx(battery_objective([10, 10, 0, 0], [0, 0, 16.2, 0]), abs=TOL)
    assert obj == pytest.approx(25.7, abs=TOL)
    assert obj == pytest.approx(HighsModel(m, "fresh", relax_integrality=False).solve().objective, abs=TOL)

    # (b) charge limit 0: the battery can never charge, so with E_T = E_0 it cannot discharge either.
    m.ess.p_charge_max_kw = 0
    hm.update()
    obj = hm.solve().objective
    assert obj == pytest.approx(battery_objective([0] * 4, [0] * 4), abs=TOL)
    assert obj == pytest.approx(28.75, abs=TOL)
    np.testing.assert_allclose(hm.values(m.ess.p_discharge_kw), 0, atol=TOL)
    assert obj == pytest.approx(HighsModel(m, "fresh", relax_integrality=False).solve().objective, abs=TOL)

    # (c) back to 20 and a price change (objective coefficients): period 4 is now the dearest.
    caplog.clear()
    m.ess.p_charge_max_kw = 20
    hm.update()
    obj_back = hm.solve().objective
    assert obj_back == pytest.approx(obj0, abs=TOL)
    caplog.clear()
    new_buy = [0.1, 0.1, 0.5, 0.6]
    set_profile(m.grid.buy_price, new_buy)
    hm.update()
    obj = hm.solve().objective
    assert no_structure_change(caplog)
    np.testing.assert_allclose(hm.values(m.ess.p_discharge_kw), [0, 0, 12.4, 20], atol=TOL)
    assert obj == pytest.approx(battery_objective([20, 20, 0, 0], [0, 0, 12.4, 20], new_buy), abs=TOL)
    assert obj == pytest.approx(25.4, abs=TOL)
    assert obj == pytest.approx(HighsModel(m, "fresh", relax_integrality=False).solve().objective, abs=TOL)


def test_battery_energy_bound_change_updates_column_bounds(caplog: pytest.LogCaptureFixture) -> None:
    m = battery_model()
    hm, _ = solve(m)
    caplog.set_level(logging.DEBUG, logger="agents.milp")
    # E_max 90 -> 59: only 9 kWh can be stored (20 kW for one cheap period, any split); 16.2 kW back.
    m.ess.e_max_kwh = 59
    hm.update()
    obj = hm.solve().objective
    assert no_structure_change(caplog)
    soc = hm.values(m.ess.soc_kwh)
    assert np.max(soc) == pytest.approx(59, abs=TOL)
    assert np.sum(hm.values(m.ess.p_charge_kw)) == pytest.approx(20, abs=TOL)
    np.testing.assert_allclose(hm.values(m.ess.p_discharge_kw), [0, 0, 16.2, 0], atol=TOL)
    assert obj == pytest.approx(25.7, abs=TOL)
    assert obj == pytest.approx(HighsModel(m, "fresh", relax_integrality=False).solve().objective, abs=TOL)


# ------------------------------------------------------------------------------------ 3.2 CHP

CHP_H = Horizon(3, 0.5)


def chp_model(p_initial: float, buy: float, p_max: float = 100.0) -> pyo.ConcreteModel:
    """CHP (cost 0.2, ramps 40 kW/h = 20 kW per half-hour period) + grid + demand 100 kW."""
    m = pyo.ConcreteModel()
    bus = Bus(CHP_H)
    m.chp = pyo.Block()
    m.handle = build_chp(m.chp, CHPParams(p_min_kw=10, p_max_kw=p_max, ramp_up_kw_per_h=40, ramp_down_kw_per_h=40,
                                           p_initial_kw=p_initial, cost_per_kwh=0.2), CHP_H, bus)
    add_demand(m, bus, [100] * CHP_H.n)
    add_grid(m, bus, [buy] * CHP_H.n, [0.0] * CHP_H.n)
    finish(m, bus)
    return m


def test_chp_build_counts() -> None:
    h = Horizon(4, 1.0)
    m = pyo.ConcreteModel()
    bus = Bus(h)
    m.chp = pyo.Block()
    handle = build_chp(m.chp, CHPParams(10, 100, 40, 40, 20, 0.2), h, bus)
    assert n_data(m.chp, pyo.Var) == 4
    assert (len(m.chp.res_ramp_up), len(m.chp.res_ramp_down)) == (4, 4)
    assert n_data(m.chp, pyo.Constraint) == 8
    assert comp_names(m.chp, pyo.Constraint) == {"res_ramp_up", "res_ramp_down"}
    assert m.chp.p_kw[2].bounds == (10, 100)
    assert len(bus.cost) == 1
    assert all(len(bus.injection[t]) == 1 for t in h.periods)
    assert set(handle.outputs) == {"chp_kw"}
    assert handle.binaries == {}


@pytest.mark.parametrize(
    ("p_initial", "buy", "expected_p", "expected_obj"),
    [
        # grid dearer than the CHP: ramp up 20 per period from 20 -> 40, 60, 80;
        # cost 0.5 * (0.2 * 180 + 0.5 * (60 + 40 + 20)) = 48
        (20.0, 0.5, [40, 60, 80], 48.0),
        # grid cheaper: ramp down 20 per period from 80 -> 60, 40, 20 (p_min 10 not reached);
        # cost 0.5 * (0.2 * 120 + 0.1 * (40 + 60 + 80)) = 21
        (80.0, 0.1, [60, 40, 20], 21.0),
    ],
)
def test_chp_ramp_limit_binds(p_initial: float, buy: float, expected_p: list[float], expected_obj: float) -> None:
    m = chp_model(p_initial, buy)
    hm, obj = solve(m)
    p = hm.values(m.chp.p_kw)
    np.testing.assert_allclose(p, expected_p, atol=TOL)
    assert obj == pytest.approx(expected_obj, abs=TOL)
    steps = np.diff(np.concatenate([[p_initial], p]))
    assert np.all(np.abs(steps) <= 40 * 0.5 + TOL)  # CHP-2 with dt
    assert np.all((p >= 10 - TOL) & (p <= 100 + TOL))  # CHP-1
    residual = p + grid_net(hm, m) - demand(m)
    assert np.max(np.abs(residual)) < TOL


def test_chp_mutable_initial_output_and_limit(caplog: pytest.LogCaptureFixture) -> None:
    m = chp_model(20.0, 0.5)
    hm, _ = solve(m)
    caplog.set_level(logging.DEBUG, logger="agents.milp")
    # P_0 = 100 (a row-bound change of the first ramp rows): full output throughout, no purchase.
    m.chp.p_initial_kw = 100
    hm.update()
    obj = hm.solve().objective
    np.testing.assert_allclose(hm.values(m.chp.p_kw), [100, 100, 100], atol=TOL)
    assert obj == pytest.approx(0.5 * 0.2 * 300, abs=TOL)
    # P_0 = 20 again and P_max = 50 (a column-bound change): 40, 50, 50;
    # cost 0.5 * (0.2 * 140 + 0.5 * 160) = 54
    m.chp.p_initial_kw = 20
    m.chp.p_max_kw = 50
    hm.update()
    obj = hm.solve().objective
    assert no_structure_change(caplog)
    np.testing.assert_allclose(hm.values(m.chp.p_kw), [40, 50, 50], atol=TOL)
    assert obj == pytest.approx(54.0, abs=TOL)
    assert obj == pytest.approx(HighsModel(m, "fresh", relax_integrality=False).solve().objective, abs=TOL)


# ------------------------------------------------------------------------------------ 3.3 renewables

RES_H = Horizon(3, 1.0)
RES_AVAIL = [45.0, 80.0, 70.0]


def renewable_model(sell: float, curtail_cost: float, kind: str = "pv", h: Horizon = RES_H) -> pyo.ConcreteModel:
    """PV/wind + grid limited to 10 kW + demand 50 kW."""
    m = pyo.ConcreteModel()
    bus = Bus(h)
    m.res = pyo.Block()
    m.handle = build_renewable(m.res, RenewableParams(kind, 100, curtail_cost), h, bus, RES_AVAIL)
    add_demand(m, bus, [50] * h.n)
    add_grid(m, bus, [0.5] * h.n, [sell] * h.n, p_max_kw=10)
    finish(m, bus)
    return m


def test_renewable_build_counts() -> None:
    h = Horizon(4, 1.0)
    m = pyo.ConcreteModel()
    bus = Bus(h)
    m.pv = pyo.Block()
    handle = build_renewable(m.pv, RenewableParams("pv", 100), h, bus, [0, 10, 20, 30])
    assert n_data(m.pv, pyo.Var) == 4
    assert n_data(m.pv, pyo.Constraint) == 0  # RES-1 is a pair of variable bounds
    assert len(m.pv.available_kw) == 4
    assert [m.pv.p_kw[t].bounds for t in h.periods] == [(0, 0), (0, 10), (0, 20), (0, 30)]
    assert bus.cost == []
    assert set(handle.outputs) == {"pv_kw", "pv_available_kw"}
    m.wt = pyo.Block()
    handle = build_renewable(m.wt, RenewableParams("wind", 100, 0.05), h, bus, [1, 2, 3, 4])
    assert set(handle.outputs) == {"wind_kw", "wind_available_kw"}
    assert len(bus.cost) == 1
    assert all(len(bus.injection[t]) == 2 for t in h.periods)


@pytest.mark.parametrize(
    ("sell", "curtail_cost", "expected_p", "expected_obj"),
    [
        # positive sale price: export up to the 10 kW limit, curtail only what the grid cannot take
        # p = [45, 60, 60]; cost 0.5*5 - 0.1*(10 + 10) + 0.05*(0 + 20 + 10) = 2.0
        (0.1, 0.05, [45, 60, 60], 2.0),
        # exporting costs 0.1/kWh, curtailing 0.05/kWh: curtail all surplus
        # p = [45, 50, 50]; cost 0.5*5 + 0.05*(30 + 20) = 5.0
        (-0.1, 0.05, [45, 50, 50], 5.0),
        # exporting costs 0.1/kWh, curtailing 0.2/kWh: export to the limit, curtail the rest
        # cost 2.5 + 0.1*20 + 0.2*(20 + 10) = 10.5
        (-0.1, 0.2, [45, 60, 60], 10.5),
    ],
)
def test_renewable_curtailment_vs_sale(
    sell: float, curtail_cost: float, expected_p: list[float], expected_obj: float
) -> None:
    m = renewable_model(sell, curtail_cost)
    hm, obj = solve(m)
    p = hm.values(m.res.p_kw)
    np.testing.assert_allclose(p, expected_p, atol=TOL)
    assert obj == pytest.approx(expected_obj, abs=TOL)
    assert np.all((p >= -TOL) & (p <= np.array(RES_AVAIL) + TOL))  # RES-1
    residual = p + grid_net(hm, m) - demand(m)
    assert np.max(np.abs(residual)) < TOL


def test_renewable_costs_scale_with_dt() -> None:
    # same powers on half-hour periods: every cost term (purchase, sale, curtailment) halves
    m = renewable_model(-0.1, 0.2, h=Horizon(3, 0.5))
    hm, obj = solve(m)
    np.testing.assert_allclose(hm.values(m.res.p_kw), [45, 60, 60], atol=TOL)
    assert obj == pytest.approx(0.5 * 10.5, abs=TOL)


def test_wind_kind_behaves_like_pv() -> None:
    m = renewable_model(0.1, 0.05, kind="wind")
    hm, obj = solve(m)
    np.testing.assert_allclose(hm.values(m.handle.outputs["wind_kw"][0]), [45, 60, 60], atol=TOL)
    assert obj == pytest.approx(2.0, abs=TOL)


def test_renewable_mutable_availability_updates_bounds_and_offset(caplog: pytest.LogCaptureFixture) -> None:
    m = renewable_model(0.1, 0.05)
    hm, _ = solve(m)
    caplog.set_level(logging.DEBUG, logger="agents.milp")
    # The availability is both a column bound and (through the curtailment cost) the objective constant.
    # avail [60, 40, 70]: p = [60, 40, 60]; buy [0, 10, 0]; sell [10, 0, 10]; curtail [0, 0, 10]
    # cost 0.5*10 - 0.1*20 + 0.05*10 = 3.5
    set_profile(m.res.available_kw, [60, 40, 70])
    hm.update()
    obj = hm.solve().objective
    assert no_structure_change(caplog)
    np.testing.assert_allclose(hm.values(m.res.p_kw), [60, 40, 60], atol=TOL)
    assert obj == pytest.approx(3.5, abs=TOL)
    assert obj == pytest.approx(HighsModel(m, "fresh", relax_integrality=False).solve().objective, abs=TOL)


# ------------------------------------------------------------------------------------ 3.4 grid

GRID_H = Horizon(3, 1.0)


def grid_model(net_demand: Sequence[float], buy: Sequence[float], sell: Sequence[float],
               p_max_kw: float = 100.0) -> pyo.ConcreteModel:
    m = pyo.ConcreteModel()
    bus = Bus(GRID_H)
    add_demand(m, bus, net_demand)
    add_grid(m, bus, buy, sell, p_max_kw)
    finish(m, bus)
    return m


def test_grid_build_counts() -> None:
    h = Horizon(4, 1.0)
    m = pyo.ConcreteModel()
    bus = Bus(h)
    m.g = pyo.Block()
    handle = build_grid(m.g, GridParams(50), h, bus, [0.5] * 4, [0.1] * 4)
    assert (len(m.g.p_buy_kw), len(m.g.p_sell_kw), len(m.g.mode)) == (4, 4, 4)
    assert n_data(m.g, pyo.Var) == 12
    assert (len(m.g.res_buy), len(m.g.res_sell)) == (4, 4)
    assert n_data(m.g, pyo.Constraint) == 8
    assert list(param_values(m.g.buy_price)) == [0.5] * 4
    assert len(bus.cost) == 1
    assert set(handle.outputs) == {"grid_buy_kw", "grid_sell_kw"}
    assert set(handle.binaries) == {"grid_mode"}


@pytest.mark.parametrize("relax", [False, True], ids=["milp", "lp-relaxation"])
def test_grid_never_buys_and_sells_at_once(relax: bool) -> None:
    # net demand [30, -20, 0]; buy 0.5 > sell 0.1: buy [30, 0, 0], sell [0, 20, 0]; cost 15 - 2 = 13.
    # SPEC §3.4: with buy > sell even the LP relaxation never does both.
    m = grid_model([30, -20, 0], [0.5] * 3, [0.1] * 3)
    hm = HighsModel(m, "grid", relax_integrality=relax)
    stats = hm.solve()
    assert stats.status == "optimal"
    assert stats.is_mip is (not relax)
    buy, sell = hm.values(m.grid.p_buy_kw), hm.values(m.grid.p_sell_kw)
    np.testing.assert_allclose(buy, [30, 0, 0], atol=TOL)
    np.testing.assert_allclose(sell, [0, 20, 0], atol=TOL)
    assert np.all(np.minimum(buy, sell) <= TOL)
    assert stats.objective == pytest.approx(13.0, abs=TOL)
    assert np.max(np.abs(buy - sell - demand(m))) < TOL
    if not relax:
        assert hm.values(m.grid.mode)[0] == pytest.approx(1.0)
        assert hm.values(m.grid.mode)[1] == pytest.approx(0.0)


def test_grid_mutable_prices_and_demand() -> None:
    m = grid_model([30, -20, 0], [0.5] * 3, [0.1] * 3)
    hm, _ = solve(m)
    # buy price 0.3 in period 1: 9 - 2 = 7
    set_profile(m.grid.buy_price, [0.3, 0.5, 0.5])
    hm.update()
    assert hm.solve().objective == pytest.approx(7.0, abs=TOL)
    # demand in period 3 = 10 and sell price 0.2 in period 2: 9 - 4 + 5 = 10
    m.demand[3] = 10
    m.grid.sell_price[2] = 0.2
    hm.update()
    obj = hm.solve().objective
    assert obj == pytest.approx(10.0, abs=TOL)
    np.testing.assert_allclose(hm.values(m.grid.p_buy_kw), [30, 0, 10], atol=TOL)
    assert obj == pytest.approx(HighsModel(m, "fresh", relax_integrality=False).solve().objective, abs=TOL)


# ------------------------------------------------------------------------------------ 3.5 P2P lines

P2P_H = Horizon(2, 1.0)


def p2p_model(lines: list[LineParams]) -> pyo.ConcreteModel:
    """Park A: surplus 50 kW; park B: deficit [40, 70] kW; each with a grid (buy 0.5, sell 0.1)."""
    m = pyo.ConcreteModel()
    m.net = pyo.Block()
    m.handle = build_p2p_lines(m.net, lines, P2P_H)
    for park, net_demand in (("A", [-50, -50]), ("B", [40, 70])):
        blk = pyo.Block()
        m.add_component(park, blk)
        bus = Bus(P2P_H)
        add_demand(blk, bus, net_demand)
        add_grid(blk, bus, [0.5] * 2, [0.1] * 2)
        close_bus(blk, bus, exchange={t: p2p_net_inflow(m.net, lines, park, t) for t in P2P_H.periods})
    m.obj = pyo.Objective(expr=m.A.cost + m.B.cost)
    return m


def test_p2p_build_counts() -> None:
    h = Horizon(3, 0.5)
    lines = [LineParams("L1", "A", "B", 100, 50), LineParams("L2", "B", "C", 30, 30)]
    m = pyo.ConcreteModel()
    m.net = pyo.Block()
    handle = build_p2p_lines(m.net, lines, h)
    assert list(m.net.LINES) == ["L1", "L2"]
    assert (len(m.net.p_forward_kw), len(m.net.p_reverse_kw), len(m.net.direction)) == (6, 6, 6)
    assert n_data(m.net, pyo.Var) == 18
    assert (len(m.net.res_forward), len(m.net.res_reverse)) == (6, 6)
    assert n_data(m.net, pyo.Constraint) == 12
    assert pyo.value(m.net.cap_reverse_kw["L1"]) == 50
    assert set(handle.binaries) == {"p2p_direction"}
    assert set(handle.outputs) == {"p2p_forward_kw", "p2p_reverse_kw"}
    # a park on no line has no P2P inflow
    assert p2p_net_inflow(m.net, lines, "D", 1) == 0.0


@pytest.mark.parametrize(("eta", "sent", "expected_obj"), [
    # eta 1: send [40, 50] (B's deficit, then A's whole surplus); A sells [10, 0], B buys [0, 20]
    # cost -0.1*10 + 0.5*20 = 9
    (1.0, [40.0, 50.0], 9.0),
    # eta 0.9: send 40/0.9 = 44.44 so that B receives 40, then 50 (B receives 45, buys 25)
    # cost -0.1*(50 - 400/9) + 0.5*25
    (0.9, [400 / 9, 50.0], -0.1 * (50 - 400 / 9) + 12.5),
])
@pytest.mark.parametrize("orientation", ["A->B", "B->A"])
def test_p2p_transfer_from_surplus_to_deficit(eta: float, sent: list[float], expected_obj: float,
                                              orientation: str) -> None:
    a, b = ("A", "B") if orientation == "A->B" else ("B", "A")
    lines = [LineParams("L", a, b, cap_forward_kw=100, cap_reverse_kw=100, efficiency=eta)]
    m = p2p_model(lines)
    hm, obj = solve(m)
    fw, rv = hm.values(m.net.p_forward_kw), hm.values(m.net.p_reverse_kw)
    flow_ab, flow_ba = (fw, rv) if orientation == "A->B" else (rv, fw)
    np.testing.assert_allclose(flow_ab, sent, atol=TOL)
    np.testing.assert_allclose(flow_ba, 0, atol=TOL)
    assert obj == pytest.approx(expected_obj, abs=TOL)
    # P2P-2 from the extracted values: the receiver gets eta times what is sent
    inflow_a = eta * flow_ba - flow_ab
    inflow_b = eta * flow_ab - flow_ba
    np.testing.assert_allclose(inflow_b, eta * np.array(sent), atol=TOL)
    np.testing.assert_allclose(inflow_a + inflow_b, -(1 - eta) * np.array(sent), atol=TOL)
    if eta == 1.0:
        np.testing.assert_allclose(inflow_a + inflow_b, 0, atol=TOL)
    # the p2p_net_inflow expressions agree with the hand formula
    for v in (m.net.p_forward_kw, m.net.p_reverse_kw):
        for k, x in zip(v.keys(), hm.values(v), strict=True):
            v[k].value = float(x)
    for i, t in enumerate(P2P_H.periods):
        assert pyo.value(p2p_net_inflow(m.net, lines, "A", t)) == pytest.approx(inflow_a[i], abs=TOL)
        assert pyo.value(p2p_net_inflow(m.net, lines, "B", t)) == pytest.approx(inflow_b[i], abs=TOL)
    # each park balances: inflow + buy - sell - net demand = 0
    for park, inflow in (("A", inflow_a), ("B", inflow_b)):
        blk = getattr(m, park)
        residual = inflow + grid_net(hm, blk) - demand(blk)
        assert np.max(np.abs(residual)) < TOL


def test_p2p_mutable_capacity(caplog: pytest.LogCaptureFixture) -> None:
    lines = [LineParams("L", "A", "B", cap_forward_kw=100, cap_reverse_kw=100)]
    m = p2p_model(lines)
    hm, obj = solve(m)
    assert obj == pytest.approx(9.0, abs=TOL)
    caplog.set_level(logging.DEBUG, logger="agents.milp")
    # forward capacity 30: send 30 both periods; A sells [20, 20], B buys [10, 40]; cost 25 - 4 = 21
    m.net.cap_forward_kw["L"] = 30
    hm.update()
    obj = hm.solve().objective
    assert no_structure_change(caplog)
    np.testing.assert_allclose(hm.values(m.net.p_forward_kw), [30, 30], atol=TOL)
    assert obj == pytest.approx(21.0, abs=TOL)
    assert obj == pytest.approx(HighsModel(m, "fresh", relax_integrality=False).solve().objective, abs=TOL)


def test_p2p_net_inflows_cancel_on_a_mesh() -> None:
    # three parks, full mesh, arbitrary flows: sum_i inflow_i = -sum_p (1 - eta_p) * (fw + rv)
    h = Horizon(2, 1.0)
    lines = [LineParams("AB", "A", "B", 10, 10, 1.0), LineParams("BC", "B", "C", 10, 10, 0.95),
             LineParams("AC", "A", "C", 10, 10, 0.8)]
    m = pyo.ConcreteModel()
    m.net = pyo.Block()
    build_p2p_lines(m.net, lines, h)
    rng = np.random.default_rng(1)
    for v in (m.net.p_forward_kw, m.net.p_reverse_kw):
        for k in v:
            v[k].value = float(rng.uniform(0, 10))
    for t in h.periods:
        total = sum(pyo.value(p2p_net_inflow(m.net, lines, park, t)) for park in "ABC")
        loss = sum((1 - ln.efficiency) * (m.net.p_forward_kw[ln.name, t].value + m.net.p_reverse_kw[ln.name, t].value)
                   for ln in lines)
        assert total == pytest.approx(-loss, abs=1e-9)
        assert loss > 0
    lossless = [LineParams(ln.name, ln.a, ln.b, 10, 10, 1.0) for ln in lines]
    for t in h.periods:
        assert sum(pyo.value(p2p_net_inflow(m.net, lossless, park, t)) for park in "ABC") == pytest.approx(0, abs=1e-9)


# ------------------------------------------------------------------------------------ 3.6a DR

DR_H = Horizon(3, 0.5)
DR_BUY = [0.2, 0.5, 0.3]


def dr_model(baseline: Sequence[float] = (100, 100, 100), gamma: float = 0.2) -> pyo.ConcreteModel:
    """Shiftable load (DR cost 0.02) + grid (buy [0.2, 0.5, 0.3], sell 0) on Horizon(3, 0.5)."""
    m = pyo.ConcreteModel()
    bus = Bus(DR_H)
    m.dr = pyo.Block()
    m.handle = build_shiftable_load(m.dr, ShiftableLoadParams(gamma, cost_per_kwh=0.02), DR_H, bus, baseline)
    add_grid(m, bus, DR_BUY, [0.0] * 3)
    finish(m, bus)
    return m


def test_shiftable_load_build_counts() -> None:
    h = Horizon(4, 1.0)
    m = pyo.ConcreteModel()
    bus = Bus(h)
    m.dr = pyo.Block()
    handle = build_shiftable_load(m.dr, ShiftableLoadParams(0.2), h, bus, [10, 20, 30, 40])
    assert n_data(m.dr, pyo.Var) == 8
    assert (len(m.dr.res_shift_in), len(m.dr.res_shift_out), len(m.dr.def_shift_balance),
            len(m.dr.res_envelope)) == (4, 4, 1, 4)
    assert n_data(m.dr, pyo.Constraint) == 13
    assert m.dr.res_envelope[1].has_lb() and m.dr.res_envelope[1].has_ub()
    # DR0-2 limits are gamma * L_t: binding exactly at 0.2 * [10, 20, 30, 40]
    for t, lim in zip(h.periods, [2.0, 4.0, 6.0, 8.0], strict=True):
        m.dr.p_in_kw[t].value = lim
        m.dr.p_out_kw[t].value = lim
        assert m.dr.res_shift_in[t].uslack() == pytest.approx(0.0)
        assert m.dr.res_shift_out[t].uslack() == pytest.approx(0.0)
        m.dr.p_out_kw[t].value = lim + 1
        assert m.dr.res_shift_out[t].uslack() == pytest.approx(-1.0)
    assert bus.cost == []
    assert set(handle.outputs) == {"load_base_kw", "dr_in_kw", "dr_out_kw"}
    assert list(param_values(m.dr.load_base_kw)) == [10, 20, 30, 40]


def test_shiftable_load_moves_gamma_load_to_cheap_period() -> None:
    m = dr_model()
    hm, obj = solve(m)
    p_in, p_out = hm.values(m.dr.p_in_kw), hm.values(m.dr.p_out_kw)
    # gamma*L = 20 kW leaves the dearest period (0.5) for the cheapest (0.2): gain 0.3 - 2*0.02 per kW.
    # The shift-in room of period 1 is then used up, so period 3 stays.
    np.testing.assert_allclose(p_in, [20, 0, 0], atol=TOL)
    np.testing.assert_allclose(p_out, [0, 20, 0], atol=TOL)
    l_dr = 100 + p_in - p_out  # DR0-1
    np.testing.assert_allclose(l_dr, [120, 80, 100], atol=TOL)
    # cost 0.5 * (0.2*120 + 0.5*80 + 0.3*100 + 0.02*40) = 47.4
    assert obj == pytest.approx(47.4, abs=TOL)
    assert np.sum(p_in - p_out) * DR_H.dt_h == pytest.approx(0.0, abs=TOL)  # DR0-3
    assert np.all(p_in <= 0.2 * 100 + TOL) and np.all(p_out <= 0.2 * 100 + TOL)  # DR0-2
    assert np.all((l_dr >= 80 - TOL) & (l_dr <= 120 + TOL))  # DR0-4
    residual = grid_net(hm, m) - l_dr
    assert np.max(np.abs(residual)) < TOL


def test_shiftable_load_mutable_gamma_and_baseline(caplog: pytest.LogCaptureFixture) -> None:
    m = dr_model()
    hm, _ = solve(m)
    caplog.set_level(logging.DEBUG, logger="agents.milp")
    # gamma = 0 removes DR: cost 0.5 * (20 + 50 + 30) = 50
    m.dr.gamma = 0
    hm.update()
    obj = hm.solve().objective
    assert obj == pytest.approx(50.0, abs=TOL)
    np.testing.assert_allclose(hm.values(m.dr.p_in_kw), 0, atol=TOL)
    # gamma = 0.2, baseline [100, 50, 100]: out2 <= 10 goes to period 1 (gain 0.26/kW), the remaining
    # 10 kW of shift-in room of period 1 is filled from period 3 (gain 0.06/kW).
    # cost 0.5 * (0.2*120 + 0.5*40 + 0.3*90 + 0.02*40) = 35.9
    m.dr.gamma = 0.2
    set_profile(m.dr.load_base_kw, [100, 50, 100])
    hm.update()
    obj = hm.solve().objective
    assert no_structure_change(caplog)
    np.testing.assert_allclose(hm.values(m.dr.p_in_kw), [20, 0, 0], atol=TOL)
    np.testing.assert_allclose(hm.values(m.dr.p_out_kw), [0, 10, 10], atol=TOL)
    assert obj == pytest.approx(35.9, abs=TOL)
    assert obj == pytest.approx(HighsModel(m, "fresh", relax_integrality=False).solve().objective, abs=TOL)
    l_dr = param_values(m.dr.load_base_kw) + hm.values(m.dr.p_in_kw) - hm.values(m.dr.p_out_kw)
    assert np.max(np.abs(grid_net(hm, m) - l_dr)) < TOL


# ------------------------------------------------------------------------------------ bad input


def _fresh(h: Horizon) -> tuple[pyo.ConcreteModel, Bus]:
    m = pyo.ConcreteModel()
    m.b = pyo.Block()
    return m, Bus(h)


def test_renewable_profile_of_wrong_length_names_quantity() -> None:
    h = Horizon(4, 1.0)
    m, bus = _fresh(h)
    with pytest.raises(ValueError, match=r"pv available_kw: expected 4 values, got shape \(3,\)"):
        build_renewable(m.b, RenewableParams("pv", 100), h, bus, [1, 2, 3])
    m, bus = _fresh(h)
    with pytest.raises(ValueError, match=r"wind available_kw: contains non-finite"):
        build_renewable(m.b, RenewableParams("wind", 100), h, bus, [1, 2, float("nan"), 3])


def test_renewable_rejects_unknown_kind() -> None:
    h = Horizon(2, 1.0)
    m, bus = _fresh(h)
    with pytest.raises(ValueError, match=r"RenewableParams\.kind must be 'pv' or 'wind', got 'solar'"):
        build_renewable(m.b, RenewableParams("solar", 100), h, bus, [1, 2])


@pytest.mark.parametrize(("buy", "sell", "what"), [
    ([0.5] * 5, [0.1] * 4, "grid buy_price"),
    ([0.5] * 4, [0.1] * 3, "grid sell_price"),
    ([0.5] * 4, [0.1, 0.1, float("inf"), 0.1], "grid sell_price"),
])
def test_grid_prices_of_wrong_length_name_quantity(buy: list[float], sell: list[float], what: str) -> None:
    h = Horizon(4, 1.0)
    m, bus = _fresh(h)
    with pytest.raises(ValueError, match=what):
        build_grid(m.b, GridParams(10), h, bus, buy, sell)


def test_shiftable_baseline_of_wrong_length_names_quantity() -> None:
    h = Horizon(3, 0.5)
    m, bus = _fresh(h)
    with pytest.raises(ValueError, match=r"load baseline_kw: expected 3 values"):
        build_shiftable_load(m.b, ShiftableLoadParams(0.2), h, bus, [1, 2, 3, 4])
    m, bus = _fresh(h)
    with pytest.raises(ValueError, match=r"load baseline_kw: expected 3 values, got shape \(1, 3\)"):
        build_shiftable_load(m.b, ShiftableLoadParams(0.2), h, bus, [[1, 2, 3]])  # type: ignore[list-item]


def test_set_profile_wrong_length_names_param() -> None:
    h = Horizon(4, 1.0)
    m, bus = _fresh(h)
    build_renewable(m.b, RenewableParams("pv", 100), h, bus, [1, 2, 3, 4])
    with pytest.raises(ValueError, match=r"b\.available_kw: expected 4 values, got shape \(5,\)"):
        set_profile(m.b.available_kw, [1, 2, 3, 4, 5])
    # right number of values in the wrong shape: rejected, not stored as lists under two keys
    with pytest.raises(ValueError, match=r"b\.available_kw: expected 4 values, got shape \(2, 2\)"):
        set_profile(m.b.available_kw, np.ones((2, 2)))
    np.testing.assert_allclose(param_values(m.b.available_kw), [1, 2, 3, 4])  # unchanged
    set_profile(m.b.available_kw, np.array([4.0, 3, 2, 1]))
    np.testing.assert_allclose(param_values(m.b.available_kw), [4, 3, 2, 1])
    assert m.b.p_kw[1].bounds == (0, 4)

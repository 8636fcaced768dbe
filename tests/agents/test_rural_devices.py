"""Device builders of paper 002's rural IES (agents/devices/ biogas, heat, storage, grid, demand; SPEC §3.8,
§3.6b), tested build /
solve / solution / conservation / mutability / bad input on horizons of 1-6 periods, plus one 24-hour
rural system on the hourly and the quarter-hour grid.

Every model here is a pure LP (no binary column anywhere), checked in :func:`solve_lp`.  Every
expected optimum is worked out by hand in the comment beside it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pyomo.environ as pyo
import pytest

from agents.devices.biogas import (
    BiogasGeneratorParams,
    BiogasStorageParams,
    build_biogas_generator,
    build_biogas_storage,
)
from agents.devices.core import (
    DA_HORIZON,
    RT_HORIZON,
    Bus,
    HeatBus,
    Horizon,
    close_bus,
    close_rural_buses,
    hold_hourly,
    param_values,
    set_profile,
)
from agents.devices.demand import TransferableLoadParams, build_fixed_load, build_transferable_load
from agents.devices.grid import (
    DayAheadTradeParams,
    GridParams,
    IntradayTradeParams,
    build_da_trading,
    build_grid,
    build_intraday_trading,
    set_intraday_prices,
)
from agents.devices.heat import (
    ElectricBoilerParams,
    HeatPumpParams,
    build_electric_boiler,
    build_heat_pump,
    build_waste_heat_recovery,
)
from agents.devices.renewables import RenewableParams, build_renewable
from agents.devices.storage import (
    BatteryParams,
    HeatStorageParams,
    build_battery,
    build_heat_storage,
    build_power_storage,
    check_battery_params,
    simultaneous_periods,
)
from agents.milp import HighsModel
from agents.rural_campus import RURAL_DEFAULTS

TOL = 1e-6


# ------------------------------------------------------------------------------------ helpers


def n_data(block: pyo.Block, ctype: type) -> int:
    return sum(1 for _ in block.component_data_objects(ctype, descend_into=True))


def comp_names(block: pyo.Block, ctype: type) -> set[str]:
    return {c.local_name for c in block.component_objects(ctype, descend_into=False)}


def solve_lp(m: pyo.Block, name: str = "rural") -> tuple[HighsModel, float]:
    """Solve; the model must be a pure LP: no binary/integer column declared at all."""
    hm = HighsModel(m, name, relax_integrality=False)
    stats = hm.solve()
    assert stats.status == "optimal"
    assert hm.n_binaries_declared == 0
    assert not stats.is_mip
    return hm, stats.objective


def new_model(h: Horizon) -> tuple[pyo.ConcreteModel, Bus, HeatBus]:
    return pyo.ConcreteModel(), Bus(h), HeatBus(h)


def add_load(m: pyo.Block, name: str, h: Horizon, bus: Bus | HeatBus, values: Sequence[float] | np.ndarray) -> None:
    m.add_component(name, pyo.Block())
    build_fixed_load(m.component(name), h, bus, values)


def add_trade(m: pyo.Block, h: Horizon, bus: Bus, buy: Sequence[float], sell: Sequence[float] | None = None,
              buy_max: float = 1000.0, sell_max: float = 1000.0) -> None:
    m.grid = pyo.Block()
    build_intraday_trading(m.grid, IntradayTradeParams(buy_max, sell_max), h, bus, buy,
                           [0.0] * h.n if sell is None else sell)


def finish(m: pyo.Block, bus: Bus, heat: HeatBus) -> None:
    close_rural_buses(m, bus, heat)
    m.obj = pyo.Objective(expr=m.cost)


def vals(hm: HighsModel, comp: Any) -> np.ndarray:
    """Solution of a Var, or the values of a Param."""
    return hm.values(comp) if isinstance(comp, pyo.Var) else param_values(comp)


def grid_net(hm: HighsModel, m: pyo.Block) -> np.ndarray:
    return hm.values(m.grid.p_buy_kw) - hm.values(m.grid.p_sell_kw)


def no_structure_change(caplog: pytest.LogCaptureFixture) -> bool:
    msgs = [r.getMessage() for r in caplog.records if r.name == "agents.milp"]
    assert any("optimal obj=" in s for s in msgs), "debug log of agents.milp not captured"
    return not any("structure changed" in s for s in msgs)


GEN = BiogasGeneratorParams(p_min_kw=30, p_max_kw=150, lhv_kwh_per_m3=6.0, eta_power=0.35, eta_heat=0.45,
                            gas_cost_per_m3=0.2)
K_P, K_H = 0.35 * 6.0, 0.45 * 6.0  # kWh_e and kWh_th per m3: 2.1 and 2.7


# ------------------------------------------------------------------------------------ heat bus, closing


def test_heat_bus_slots_and_closing_both_balances() -> None:
    h = Horizon(3, 0.5)
    heat = HeatBus(h)
    assert sorted(heat.injection) == [1, 2, 3] and heat.cost == []
    # electric: trade (buy 0.4) covers 10 kW; heat: a heat pump (COP 2) covers 6 kW_th from the same bus.
    # cost = 0.5 * 0.4 * (10 + 3) * 3 = 7.8; both bus cost lists end in one `cost`
    m, bus, heat = new_model(h)
    add_load(m, "pd", h, bus, [10] * 3)
    add_load(m, "hd", h, heat, [6] * 3)
    add_trade(m, h, bus, [0.4] * 3)
    m.hp = pyo.Block()
    build_heat_pump(m.hp, HeatPumpParams(50, 2.0), h, bus, heat)
    # a heat-side cost term, 0.5 per kWh_th: 0.5 * 0.5 h * 18 kW_th
    heat.cost.append(0.5 * h.dt_h * pyo.quicksum(m.hp.heat_kw[t] for t in h.periods))
    finish(m, bus, heat)
    assert len(m.def_balance) == 3 and len(m.def_heat_balance) == 3
    hm, obj = solve_lp(m)
    assert obj == pytest.approx(7.8 + 0.5 * 0.5 * 18, abs=TOL)
    np.testing.assert_allclose(hm.values(m.hp.p_kw), 3, atol=TOL)


def test_electric_only_block_gets_no_heat_rows() -> None:
    h = Horizon(2, 1.0)
    m, bus, heat = new_model(h)
    add_load(m, "pd", h, bus, [10, 20])
    add_trade(m, h, bus, [0.5, 0.5])
    finish(m, bus, heat)
    assert len(m.def_heat_balance) == 0 and len(m.def_balance) == 2
    assert solve_lp(m)[1] == pytest.approx(15.0, abs=TOL)


def test_close_rural_buses_rejects_mixed_horizons() -> None:
    m = pyo.ConcreteModel()
    with pytest.raises(ValueError, match=r"close_rural_buses: electric bus on Horizon\(n=2"):
        close_rural_buses(m, Bus(Horizon(2, 1.0)), HeatBus(Horizon(8, 0.25)))


def test_fixed_load_names_its_carrier() -> None:
    h = Horizon(2, 1.0)
    m, bus, heat = new_model(h)
    m.p = pyo.Block()
    m.q = pyo.Block()
    assert set(build_fixed_load(m.p, h, bus, [1, 2]).outputs) == {"power_load_kw"}
    handle = build_fixed_load(m.q, h, heat, [3, 4])
    assert handle.outputs["heat_load_kw"][1] == "kW_th"
    assert len(bus.injection[1]) == 1 and len(heat.injection[1]) == 1
    m.r = pyo.Block()
    with pytest.raises(ValueError, match=r"heat load_kw: expected 2 values, got shape \(3,\)"):
        build_fixed_load(m.r, h, heat, [1, 2, 3])


# ------------------------------------------------------------------------------------ BG-1 / BG-2


def test_biogas_generator_build_counts() -> None:
    h = Horizon(4, 1.0)
    m, bus, heat = new_model(h)
    m.bg = pyo.Block()
    handle = build_biogas_generator(m.bg, GEN, h, bus)
    assert n_data(m.bg, pyo.Var) == 12
    assert comp_names(m.bg, pyo.Constraint) == {"def_power", "def_heat"}
    assert n_data(m.bg, pyo.Constraint) == 8
    assert m.bg.p_kw[1].bounds == (30, 150)
    assert set(handle.outputs) == {"biogas_m3_per_h", "bg_power_kw", "bg_heat_kw"}
    assert handle.outputs["biogas_m3_per_h"][1] == "m3/h"
    assert len(bus.cost) == 1 and all(len(bus.injection[t]) == 1 for t in h.periods)
    assert all(len(heat.injection[t]) == 0 for t in h.periods)  # H^g reaches the heat bus only via BG-2
    m.whr = pyo.Block()
    build_waste_heat_recovery(m.whr, h, heat, m.bg.heat_kw)
    assert len(m.whr.res_recovery) == 4 and all(len(heat.injection[t]) == 1 for t in h.periods)
    m.bg2 = pyo.Block()
    build_biogas_generator(m.bg2, replace(GEN, gas_cost_per_m3=0.0), h, bus)
    assert len(bus.cost) == 1  # no gas cost -> no cost term


def biogas_chp_model(heat_demand_2: float) -> pyo.ConcreteModel:
    """Generator + waste heat recovery on Horizon(3, 0.5); power demand [200, 100, 100], buy [1, 0.05, 1],
    heat demand [30, x, 30] served only by recovered heat."""
    h = Horizon(3, 0.5)
    m, bus, heat = new_model(h)
    m.bg = pyo.Block()
    build_biogas_generator(m.bg, GEN, h, bus)
    m.whr = pyo.Block()
    build_waste_heat_recovery(m.whr, h, heat, m.bg.heat_kw)
    add_load(m, "pd", h, bus, [200, 100, 100])
    add_load(m, "hd", h, heat, [30, heat_demand_2, 30])
    add_trade(m, h, bus, [1.0, 0.05, 1.0])
    finish(m, bus, heat)
    return m


@pytest.mark.parametrize(("heat_2", "p_2"), [
    # heat-led: the generator (0.2/2.1 = 0.095 per kWh_e) is dearer than buying (0.05) in period 2, but the
    # 60 kW_th of heat need G = 60/2.7 m3/h, hence P = 2.1 * 60/2.7 = 46.67 kW
    (60.0, 60.0 * K_P / K_H),
    # 30 kW_th needs only P = 23.3 kW: P^g,min = 30 binds, and 30 * 2.7/2.1 = 38.6 kW_th >= 30 is vented in part
    (30.0, 30.0),
])
def test_biogas_generator_and_waste_heat_solution(heat_2: float, p_2: float) -> None:
    m = biogas_chp_model(heat_2)
    hm, obj = solve_lp(m)
    gas, p, hg = (hm.values(v) for v in (m.bg.gas_m3_per_h, m.bg.p_kw, m.bg.heat_kw))
    hw = hm.values(m.whr.heat_kw)
    # period 1: P^g,max = 150 binds (buy 1.0 > 0.095), 50 kW bought; period 3: covers the 100 kW demand
    np.testing.assert_allclose(p, [150, p_2, 100], atol=TOL)
    np.testing.assert_allclose(gas, np.array([150, p_2, 100]) / K_P, atol=TOL)
    # BG-1 ratios exactly: P = eta_p H G, H^g = eta_h H G
    np.testing.assert_allclose(p, 0.35 * 6.0 * gas, atol=TOL)
    np.testing.assert_allclose(hg, 0.45 * 6.0 * gas, atol=TOL)
    # BG-2: recovered = heat demand <= generator heat
    np.testing.assert_allclose(hw, [30, heat_2, 30], atol=TOL)
    assert np.all(hw <= hg + TOL)
    # cost = dt * (c^G sum G + sum buy * (demand - P))
    expected = 0.5 * (0.2 * np.sum(gas) + 1.0 * 50 + 0.05 * (100 - p_2))
    assert obj == pytest.approx(expected, abs=TOL)
    # conservation: electric P + buy - demand = 0; heat H^w - demand = 0
    assert np.max(np.abs(p + grid_net(hm, m) - vals(hm, m.pd.load_kw))) < TOL
    assert np.max(np.abs(hw - vals(hm, m.hd.load_kw))) < TOL


def test_waste_heat_recovery_needs_the_generator_heat_on_every_period() -> None:
    h = Horizon(3, 1.0)
    m, _, heat = new_model(h)
    m.x = pyo.Var([1, 2])
    m.whr = pyo.Block()
    with pytest.raises(ValueError, match=r"generator_heat_kw has no entry for periods \[3\]"):
        build_waste_heat_recovery(m.whr, h, heat, m.x)


# ------------------------------------------------------------------------------------ EB-1 / HP-1


@pytest.mark.parametrize("dt", [1.0, 0.25])
def test_heat_pump_serves_heat_first_then_boiler(dt: float) -> None:
    # heat demand [450, 200]; HP 100 kW, COP 3.5 (0.5/3.5 per kWh_th) beats EB 150 kW, eta 0.95 (0.5/0.95).
    # Period 1: HP at its limit (350 kW_th), EB the remaining 100 kW_th -> 105.26 kW; period 2: HP alone 57.14 kW.
    h = Horizon(2, dt)
    m, bus, heat = new_model(h)
    m.hp = pyo.Block()
    hp = build_heat_pump(m.hp, HeatPumpParams(p_max_kw=100, cop=3.5), h, bus, heat)
    m.eb = pyo.Block()
    eb = build_electric_boiler(m.eb, ElectricBoilerParams(p_max_kw=150, efficiency=0.95), h, bus, heat)
    add_load(m, "hd", h, heat, [450, 200])
    add_trade(m, h, bus, [0.5, 0.5])
    finish(m, bus, heat)
    assert set(hp.outputs) == {"hp_power_kw", "hp_heat_kw"} and set(eb.outputs) == {"eb_power_kw", "eb_heat_kw"}
    assert comp_names(m.hp, pyo.Constraint) == {"def_heat"} and m.eb.p_kw[1].bounds == (0, 150)
    hm, obj = solve_lp(m)
    p_hp, q_hp = hm.values(m.hp.p_kw), hm.values(m.hp.heat_kw)
    p_eb, q_eb = hm.values(m.eb.p_kw), hm.values(m.eb.heat_kw)
    np.testing.assert_allclose(p_hp, [100, 200 / 3.5], atol=TOL)
    np.testing.assert_allclose(p_eb, [100 / 0.95, 0], atol=TOL)
    np.testing.assert_allclose(q_hp, 3.5 * p_hp, atol=TOL)  # HP-1
    np.testing.assert_allclose(q_eb, 0.95 * p_eb, atol=TOL)  # EB-1
    assert obj == pytest.approx(dt * 0.5 * (100 + 100 / 0.95 + 200 / 3.5), abs=TOL)
    assert np.max(np.abs(q_hp + q_eb - [450, 200])) < TOL  # BAL2-H
    assert np.max(np.abs(grid_net(hm, m) - p_hp - p_eb)) < TOL  # BAL2-E


def test_boiler_takes_over_when_heat_pump_limit_is_cut(caplog: pytest.LogCaptureFixture) -> None:
    h = Horizon(2, 1.0)
    m, bus, heat = new_model(h)
    m.hp = pyo.Block()
    build_heat_pump(m.hp, HeatPumpParams(100, 3.5), h, bus, heat)
    m.eb = pyo.Block()
    build_electric_boiler(m.eb, ElectricBoilerParams(150, 0.95), h, bus, heat)
    add_load(m, "hd", h, heat, [95, 95])
    add_trade(m, h, bus, [0.5, 0.5])
    finish(m, bus, heat)
    hm, obj = solve_lp(m)
    assert obj == pytest.approx(2 * 0.5 * 95 / 3.5, abs=TOL)
    caplog.set_level(logging.DEBUG, logger="agents.milp")
    # HP limit 0 (a column-bound change): the boiler serves 95 kW_th with 100 kW
    m.hp.p_max_kw = 0
    hm.update()
    obj = hm.solve().objective
    assert no_structure_change(caplog)
    np.testing.assert_allclose(hm.values(m.eb.p_kw), [100, 100], atol=TOL)
    assert obj == pytest.approx(2 * 0.5 * 100, abs=TOL)


# ------------------------------------------------------------------------------------ HS-1 heat storage

HS = HeatStorageParams(capacity_kwh=300, h_charge_max_kw=100, h_discharge_max_kw=100, loss_per_h=0.01)


def heat_storage_model(h: Horizon, heat_demand: Sequence[float], buy: Sequence[float],
                       params: HeatStorageParams = HS) -> pyo.ConcreteModel:
    """Heat storage + a lossless electric boiler (eta 1, 200 kW) buying at ``buy``; S_0 = 150 kWh_th."""
    m, bus, heat = new_model(h)
    m.hs = pyo.Block()
    m.handle = build_heat_storage(m.hs, params, h, heat)
    m.eb = pyo.Block()
    build_electric_boiler(m.eb, ElectricBoilerParams(200, 1.0), h, bus, heat)
    add_load(m, "hd", h, heat, heat_demand)
    add_trade(m, h, bus, buy)
    finish(m, bus, heat)
    return m


def test_heat_storage_build_counts() -> None:
    h = Horizon(4, 1.0)
    m, _, heat = new_model(h)
    m.hs = pyo.Block()
    handle = build_heat_storage(m.hs, HS, h, heat)
    assert n_data(m.hs, pyo.Var) == 12
    assert comp_names(m.hs, pyo.Constraint) == {"def_soc", "res_end_soc"}
    assert n_data(m.hs, pyo.Constraint) == 5
    assert m.hs.soc_kwh[1].bounds == (0, 300)
    assert pyo.value(m.hs.e_initial_kwh) == pytest.approx(150)
    assert set(handle.outputs) == {"hs_charge_kw", "hs_discharge_kw", "hs_soc_kwh"}
    assert not any(not v.is_continuous() for v in m.component_data_objects(pyo.Var))


def test_heat_storage_shifts_cheap_heat_and_decays() -> None:
    # prices [0.1, 1.0, 0.2], heat demand [0, 100, 0], rho = 0.01/h, S_0 = 150:
    # charge 100 in period 1 (stored heat costs 0.1/0.99^2 at the end, less than 0.2), discharge 100 in period 2,
    # top up in period 3 so that S_3 = S_0:
    #   S_1 = 0.99*150 + 100 = 248.5;  S_2 = 0.99*248.5 - 100 = 146.015;  S_3 = 0.99*146.015 + c_3 = 150
    h = Horizon(3, 1.0)
    m = heat_storage_model(h, [0, 100, 0], [0.1, 1.0, 0.2])
    hm, obj = solve_lp(m)
    ch, dis, soc = (hm.values(v) for v in (m.hs.h_charge_kw, m.hs.h_discharge_kw, m.hs.soc_kwh))
    c3 = 150 - 0.99 * 146.015
    np.testing.assert_allclose(ch, [100, 0, c3], atol=TOL)
    np.testing.assert_allclose(dis, [0, 100, 0], atol=TOL)
    np.testing.assert_allclose(soc, [248.5, 146.015, 150], atol=TOL)
    assert obj == pytest.approx(0.1 * 100 + 0.2 * c3, abs=TOL)
    prev = np.concatenate([[150.0], soc[:-1]])
    np.testing.assert_allclose(soc, 0.99 * prev + ch - dis, atol=TOL)  # HS-1
    assert simultaneous_periods(ch, dis) == []
    # BAL2-H: boiler heat + discharge = demand + charge
    assert np.max(np.abs(hm.values(m.eb.heat_kw) + dis - ch - [0, 100, 0])) < TOL


def test_heat_storage_loss_compounds_per_hour_on_any_grid() -> None:
    # An idle storage (no demand) must only replace its loss before the end (S_T = S_0).  Quarter-hours,
    # cheap last period: S_k = 150 * 0.99^(k/4) for k = 1..3, recharged in period 4 by 150 * (1 - 0.99) = 1.5 kWh
    # -> 6 kW for 0.25 h.  The hourly grid loses the same 1.5 kWh in its single period (DA and RT agree).
    hq = Horizon(4, 0.25)
    m = heat_storage_model(hq, [0] * 4, [1.0, 1.0, 1.0, 0.1])
    hm, obj = solve_lp(m)
    soc = hm.values(m.hs.soc_kwh)
    np.testing.assert_allclose(soc, [150 * 0.99 ** (k / 4) for k in (1, 2, 3)] + [150], atol=TOL)
    np.testing.assert_allclose(hm.values(m.hs.h_charge_kw), [0, 0, 0, 6], atol=TOL)
    quarter_energy = np.sum(hm.values(m.hs.h_charge_kw)) * 0.25
    assert obj == pytest.approx(0.1 * 6 * 0.25, abs=TOL)

    mh = heat_storage_model(Horizon(1, 1.0), [0], [0.1])
    hm_h, _ = solve_lp(mh)
    hourly_energy = hm_h.values(mh.hs.h_charge_kw)[0] * 1.0
    assert hourly_energy == pytest.approx(1.5, abs=TOL)
    assert quarter_energy == pytest.approx(hourly_energy, abs=TOL)
    # the linear rule (1 - rho dt) would lose 150 * (1 - 0.9975^4) = 1.4944 kWh instead
    assert abs(quarter_energy - 150 * (1 - 0.9975**4)) > 1e-3


def test_heat_storage_mutable_capacity(caplog: pytest.LogCaptureFixture) -> None:
    m = heat_storage_model(Horizon(3, 1.0), [0, 100, 0], [0.1, 1.0, 0.2])
    hm, _ = solve_lp(m)
    caplog.set_level(logging.DEBUG, logger="agents.milp")
    # S^max 300 -> 200: S_1 = 148.5 + c_1 <= 200 -> c_1 = 51.5; S_2 = 0.99*200 - 100 = 98;
    # c_3 = 150 - 0.99*98 = 52.98; cost 0.1*51.5 + 0.2*52.98 = 15.746
    m.hs.e_max_kwh = 200
    hm.update()
    obj = hm.solve().objective
    assert no_structure_change(caplog)
    np.testing.assert_allclose(hm.values(m.hs.h_charge_kw), [51.5, 0, 150 - 0.99 * 98], atol=TOL)
    np.testing.assert_allclose(hm.values(m.hs.soc_kwh), [200, 98, 150], atol=TOL)
    assert obj == pytest.approx(0.1 * 51.5 + 0.2 * (150 - 0.99 * 98), abs=TOL)


# ------------------------------------------------------------------------------------ BGS-1 biogas storage

BGS = BiogasStorageParams(capacity_m3=80, s_initial_m3=40, s_min_m3=10)
BGS_SELL = [0.1, 0.2, 1.0, 0.5]


def biogas_storage_model(production: Sequence[float] = (60, 60, 60, 60)) -> pyo.ConcreteModel:
    """Generator (30..300 kW, 2.1 kWh_e/m3, c^G 0.2) fed only by the holder (10..80 m3, S_0 = 40), selling
    everything at [0.1, 0.2, 1.0, 0.5] (buy = sell + 0.1) on Horizon(4, 1.0)."""
    h = Horizon(4, 1.0)
    m, bus, heat = new_model(h)
    m.bg = pyo.Block()
    build_biogas_generator(m.bg, replace(GEN, p_max_kw=300), h, bus)
    m.bgs = pyo.Block()
    m.handle = build_biogas_storage(m.bgs, BGS, h, production, [m.bg.gas_m3_per_h])
    add_trade(m, h, bus, [s + 0.1 for s in BGS_SELL], BGS_SELL)
    finish(m, bus, heat)
    return m


def test_biogas_storage_build_counts() -> None:
    h = Horizon(4, 0.5)
    m, bus, _ = new_model(h)
    m.bg = pyo.Block()
    build_biogas_generator(m.bg, GEN, h, bus)
    m.bgs = pyo.Block()
    handle = build_biogas_storage(m.bgs, BGS, h, [60] * 4, [m.bg.gas_m3_per_h])
    assert n_data(m.bgs, pyo.Var) == 4
    assert comp_names(m.bgs, pyo.Constraint) == {"def_storage", "res_end_storage"}
    assert n_data(m.bgs, pyo.Constraint) == 5
    assert m.bgs.stored_m3[2].bounds == (10, 80)
    assert set(handle.outputs) == {"biogas_stored_m3", "biogas_production_m3_per_h"}
    assert list(param_values(m.bgs.production_m3_per_h)) == [60] * 4


def test_biogas_storage_feeds_generator_that_follows_price() -> None:
    # Total gas burnt = production 240 m3 (S_T = S_0).  The generator wants gas late (prices 1.0, 0.5):
    #   S_1 = 100 - G_1 <= 80 -> G_1 >= 20;  S_2 = 80 + 60 - G_2 <= 80 -> G_2 >= 60 (with G_1 = 20);
    #   G_3 <= S_2 + 60 - 10 = 130 (holder empties to S^min); G_4 = 240 - 210 = 30 refills to S_0 = 40.
    # P = 2.1 G = [42, 126, 273, 63]; obj = 0.2*240 - (4.2 + 25.2 + 273 + 31.5) = -285.9
    m = biogas_storage_model()
    hm, obj = solve_lp(m)
    gas, s, p = hm.values(m.bg.gas_m3_per_h), hm.values(m.bgs.stored_m3), hm.values(m.bg.p_kw)
    np.testing.assert_allclose(gas, [20, 60, 130, 30], atol=TOL)
    np.testing.assert_allclose(s, [80, 80, 10, 40], atol=TOL)  # both bounds bind, S_T = S_0
    np.testing.assert_allclose(p, [42, 126, 273, 63], atol=TOL)
    assert obj == pytest.approx(-285.9, abs=TOL)
    prev = np.concatenate([[40.0], s[:-1]])
    np.testing.assert_allclose(s, prev + (60 - gas) * 1.0, atol=TOL)  # BGS-1
    assert np.all((s >= 10 - TOL) & (s <= 80 + TOL))
    assert np.max(np.abs(p + grid_net(hm, m))) < TOL  # BAL2-E (no demand)


def test_biogas_storage_volume_uses_dt() -> None:
    # Half-hour periods, production 60 m3/h, holder 10..60 m3 from S_0 = 40, sell [0.1, 1.0]:
    # sum G dt = 60 m3 -> G_1 + G_2 = 120; the dear period wants gas, but S_1 = 40 + (60 - G_1)*0.5 <= 60
    # -> G_1 >= 20.  G = [20, 100], S = [60, 40]; obj = 0.2*120*0.5 - 0.5*2.1*(0.1*20 + 1.0*100) = -95.1
    h = Horizon(2, 0.5)
    m, bus, heat = new_model(h)
    m.bg = pyo.Block()
    build_biogas_generator(m.bg, replace(GEN, p_max_kw=300), h, bus)
    m.bgs = pyo.Block()
    build_biogas_storage(m.bgs, BiogasStorageParams(60, 40, 10), h, [60, 60], [m.bg.gas_m3_per_h])
    add_trade(m, h, bus, [0.2, 1.1], [0.1, 1.0])
    finish(m, bus, heat)
    hm, obj = solve_lp(m)
    np.testing.assert_allclose(hm.values(m.bg.gas_m3_per_h), [20, 100], atol=TOL)
    np.testing.assert_allclose(hm.values(m.bgs.stored_m3), [60, 40], atol=TOL)
    assert obj == pytest.approx(-95.1, abs=TOL)


def test_biogas_production_profile_is_mutable(caplog: pytest.LogCaptureFixture) -> None:
    m = biogas_storage_model()
    hm, _ = solve_lp(m)
    caplog.set_level(logging.DEBUG, logger="agents.milp")
    # production [30, 30, 90, 90] (still 240): G_1 = G_2 = G^min = 30/2.1, G_3 = G^max = 300/2.1, G_4 the rest;
    # S = [55.71, 71.43, 18.57, 40]; P = [30, 30, 300, 144]; obj = 48 - (3 + 6 + 300 + 72) = -333
    set_profile(m.bgs.production_m3_per_h, [30, 30, 90, 90])
    hm.update()
    obj = hm.solve().objective
    assert no_structure_change(caplog)
    np.testing.assert_allclose(hm.values(m.bg.p_kw), [30, 30, 300, 144], atol=TOL)
    s = hm.values(m.bgs.stored_m3)
    s1 = 40 + 30 - 30 / 2.1
    s2 = s1 + 30 - 30 / 2.1
    np.testing.assert_allclose(s, [s1, s2, s2 + 90 - 300 / 2.1, 40], atol=TOL)
    assert s2 + 90 - 300 / 2.1 > 10  # S^min does not bind here: G^max does
    assert obj == pytest.approx(-333.0, abs=TOL)


def test_biogas_storage_bad_input() -> None:
    h = Horizon(4, 1.0)
    m, bus, _ = new_model(h)
    m.bg = pyo.Block()
    build_biogas_generator(m.bg, GEN, h, bus)
    m.a = pyo.Block()
    with pytest.raises(ValueError, match="needs at least one consumer"):
        build_biogas_storage(m.a, BGS, h, [60] * 4, [])
    m.b = pyo.Block()
    with pytest.raises(ValueError, match=r"biogas production_m3_per_h: expected 4 values, got shape \(3,\)"):
        build_biogas_storage(m.b, BGS, h, [60] * 3, [m.bg.gas_m3_per_h])
    m.y = pyo.Var([1, 2])
    m.c = pyo.Block()
    with pytest.raises(ValueError, match=r"consumer 1 has no entry for periods \[3, 4\]"):
        build_biogas_storage(m.c, BGS, h, [60] * 4, [m.bg.gas_m3_per_h, m.y])


# ------------------------------------------------------------------------------------ power storage (ESS, LP)

ESS = BatteryParams(capacity_kwh=100, p_charge_max_kw=20, p_discharge_max_kw=20, soc_min_frac=0.1,
                    soc_max_frac=0.9, soc_initial_frac=0.5, eta_charge=0.9, eta_discharge=0.9)
ESS_H = Horizon(4, 0.5)
ESS_BUY = [0.1, 0.1, 0.5, 0.45]


def test_power_storage_has_no_binary_left() -> None:
    h = Horizon(4, 1.0)
    m, bus, _ = new_model(h)
    m.ess = pyo.Block()
    handle = build_power_storage(m.ess, ESS, h, bus)
    assert comp_names(m.ess, pyo.Var) == {"p_charge_kw", "p_discharge_kw", "soc_kwh"}
    assert comp_names(m.ess, pyo.Constraint) == {"def_soc", "res_end_soc"}
    assert m.ess.component("EXCLUSIVE_ESS") is None
    assert handle.binaries == {} and handle.complementarity == []
    assert set(handle.outputs) == {"ess_charge_kw", "ess_discharge_kw", "soc_kwh"}
    # whereas build_battery(exclusive=False) keeps an (unused) binary column per period
    m2, bus2, _ = new_model(h)
    m2.ess = pyo.Block()
    build_battery(m2.ess, ESS, h, bus2, exclusive=False)
    assert sum(1 for v in m2.component_data_objects(pyo.Var) if v.is_binary()) == 4


def test_power_storage_lp_arbitrage_equals_the_battery_milp() -> None:
    # Same case as the battery test of test_devices.py: charge [20, 20], discharge [0, 0, 20, 12.4], cost 22.96;
    # the LP without binary reaches the MILP optimum and never charges and discharges at once.
    m, bus, heat = new_model(ESS_H)
    m.ess = pyo.Block()
    build_power_storage(m.ess, ESS, ESS_H, bus)
    add_load(m, "pd", ESS_H, bus, [50] * 4)
    add_trade(m, ESS_H, bus, ESS_BUY)
    finish(m, bus, heat)
    hm, obj = solve_lp(m)
    ch, dis, soc = (hm.values(v) for v in (m.ess.p_charge_kw, m.ess.p_discharge_kw, m.ess.soc_kwh))
    np.testing.assert_allclose(ch, [20, 20, 0, 0], atol=TOL)
    np.testing.assert_allclose(dis, [0, 0, 20, 12.4], atol=TOL)
    assert obj == pytest.approx(22.96, abs=TOL)
    prev = np.concatenate([[50.0], soc[:-1]])
    np.testing.assert_allclose(soc, prev + (0.9 * ch - dis / 0.9) * 0.5, atol=TOL)  # ESS-1
    assert soc[-1] == pytest.approx(50, abs=TOL)  # ESS-4
    assert simultaneous_periods(ch, dis) == []
    assert np.max(np.abs(dis - ch + grid_net(hm, m) - 50)) < TOL
    # the MILP with the binary (agents.devices.storage.build_battery) agrees
    mb = pyo.ConcreteModel()
    busb = Bus(ESS_H)
    mb.ess = pyo.Block()
    build_battery(mb.ess, ESS, ESS_H, busb)
    mb.d = pyo.Block()
    build_fixed_load(mb.d, ESS_H, busb, [50] * 4)
    mb.g = pyo.Block()
    build_grid(mb.g, GridParams(1000), ESS_H, busb, ESS_BUY, [0.0] * 4)
    close_bus(mb, busb)
    mb.obj = pyo.Objective(expr=mb.cost)
    milp = HighsModel(mb, "milp", relax_integrality=False).solve()
    assert milp.is_mip and milp.objective == pytest.approx(obj, abs=TOL)


def test_simultaneous_periods_flags_overlap() -> None:
    assert simultaneous_periods(np.array([0, 5, 1e-9, 2]), np.array([3, 1, 4, 0])) == [2]
    assert simultaneous_periods(np.zeros(3), np.ones(3)) == []


# ------------------------------------------------------------------------------------ DR2 transferable load

TL = TransferableLoadParams(window_start_h=2.0, window_end_h=5.0, load_kw=60, cost_up_per_kwh=0.05,
                            cost_down_per_kwh=0.05)
TL_BUY = [0.1, 0.1, 0.3, 1.0, 0.5, 0.1]


def transferable_model(h: Horizon, params: TransferableLoadParams = TL) -> pyo.ConcreteModel:
    """Base demand 100 kW + transferable shift, buying at TL_BUY."""
    m, bus, heat = new_model(h)
    m.dr = pyo.Block()
    m.handle = build_transferable_load(m.dr, params, h, bus)
    add_load(m, "pd", h, bus, [100] * h.n)
    add_trade(m, h, bus, TL_BUY)
    finish(m, bus, heat)
    return m


def test_transferable_load_window_and_build() -> None:
    assert TL.window_periods(Horizon(6, 1.0)) == [3, 4, 5]
    assert TL.window_periods(Horizon(12, 0.5)) == [5, 6, 7, 8, 9, 10]
    d = RURAL_DEFAULTS.transferable_load
    assert d.window_periods(DA_HORIZON) == [14, 15, 16, 17]  # 13:00-17:00 (SPEC §3.6b)
    assert d.window_periods(RT_HORIZON) == list(range(53, 69))
    h = Horizon(6, 1.0)
    m, bus, _ = new_model(h)
    m.dr = pyo.Block()
    handle = build_transferable_load(m.dr, TL, h, bus)
    assert set(handle.outputs) == {"dr_up_kw", "dr_down_kw"}
    assert list(m.dr.WINDOW) == [3, 4, 5]
    assert [m.dr.up_kw[t].bounds for t in h.periods] == [(0, 0), (0, 0), (0, 60), (0, 60), (0, 60), (0, 0)]
    assert n_data(m.dr, pyo.Constraint) == 1 and len(bus.cost) == 1


@pytest.mark.parametrize(("h", "window"), [(Horizon(6, 1.0), (2.0, 5.0)), (Horizon(6, 0.5), (1.0, 2.5))])
def test_transferable_load_moves_energy_inside_window_only(h: Horizon, window: tuple[float, float]) -> None:
    # Outside the window periods 1, 2, 6 are cheapest (0.1) but out of reach.  Inside: 60 kW leave period 4
    # (1.0) for period 3 (0.3): gain 0.7 - 2*0.05 per kW.  Period 3's up room is then used up.
    # cost = dt * (100 * 2.1 + 0.3*60 - 1.0*60 + 0.05*120) = dt * 174
    m = transferable_model(h, replace(TL, window_start_h=window[0], window_end_h=window[1]))
    hm, obj = solve_lp(m)
    up, dn = hm.values(m.dr.up_kw), hm.values(m.dr.dn_kw)
    np.testing.assert_allclose(up, [0, 0, 60, 0, 0, 0], atol=TOL)
    np.testing.assert_allclose(dn, [0, 0, 0, 60, 0, 0], atol=TOL)
    assert obj == pytest.approx(h.dt_h * 174, abs=TOL)
    assert np.sum(up) * h.dt_h == pytest.approx(np.sum(dn) * h.dt_h, abs=TOL)  # DR2-2
    outside = np.array([0, 1, 5])
    assert np.all(np.abs(up[outside]) < TOL) and np.all(np.abs(dn[outside]) < TOL)  # DR2-1
    # BAL2-E: buy = P^d + D^up - D^dn
    assert np.max(np.abs(grid_net(hm, m) - (100 + up - dn))) < TOL


def test_transferable_load_limits_are_mutable(caplog: pytest.LogCaptureFixture) -> None:
    m = transferable_model(Horizon(6, 1.0))
    hm, _ = solve_lp(m)
    caplog.set_level(logging.DEBUG, logger="agents.milp")
    # up limit 30: 30 kW into period 3 and 30 kW into period 5 (0.5: gain 0.4), all 60 out of period 4;
    # cost = 210 + 0.3*30 + 0.5*30 - 60 + 0.05*120 = 180
    set_profile(m.dr.up_max_kw, [30, 30, 30])
    hm.update()
    obj = hm.solve().objective
    assert no_structure_change(caplog)
    np.testing.assert_allclose(hm.values(m.dr.up_kw), [0, 0, 30, 0, 30, 0], atol=TOL)
    np.testing.assert_allclose(hm.values(m.dr.dn_kw), [0, 0, 0, 60, 0, 0], atol=TOL)
    assert obj == pytest.approx(180.0, abs=TOL)
    # up_max_kw given in the params does the same
    m2 = transferable_model(Horizon(6, 1.0), replace(TL, up_max_kw=30))
    assert solve_lp(m2)[1] == pytest.approx(180.0, abs=TOL)


@pytest.mark.parametrize(("start", "end", "h"), [(13.0, 17.0, Horizon(4, 1.0)), (0.3, 1.0, Horizon(4, 0.5))])
def test_transferable_window_must_fit_the_grid(start: float, end: float, h: Horizon) -> None:
    m, bus, _ = new_model(h)
    m.dr = pyo.Block()
    with pytest.raises(ValueError, match=r"window \[.*\) h does not fit Horizon\(n=4, dt_h=.*multiples of dt_h"):
        build_transferable_load(m.dr, replace(TL, window_start_h=start, window_end_h=end), h, bus)


# ------------------------------------------------------------------------------------ grid trading


def test_intraday_trading_without_binary_and_mutable_prices(caplog: pytest.LogCaptureFixture) -> None:
    # demand [30, 30, 0], PV [0, 50, 0]: buy 30 in period 1; period 2 has a 20 kW surplus but may sell only 15,
    # the rest is curtailed.  cost = 0.5*30 - 0.1*15 = 13.5
    h = Horizon(3, 1.0)
    m, bus, heat = new_model(h)
    m.pv = pyo.Block()
    build_renewable(m.pv, RenewableParams("pv", 100), h, bus, [0, 50, 0])
    add_load(m, "pd", h, bus, [30, 30, 0])
    add_trade(m, h, bus, [0.5] * 3, [0.1] * 3, buy_max=100, sell_max=15)
    finish(m, bus, heat)
    assert comp_names(m.grid, pyo.Var) == {"p_buy_kw", "p_sell_kw"}
    hm, obj = solve_lp(m)
    buy, sell = hm.values(m.grid.p_buy_kw), hm.values(m.grid.p_sell_kw)
    np.testing.assert_allclose(buy, [30, 0, 0], atol=TOL)
    np.testing.assert_allclose(sell, [0, 15, 0], atol=TOL)
    np.testing.assert_allclose(hm.values(m.pv.p_kw), [0, 45, 0], atol=TOL)
    assert obj == pytest.approx(13.5, abs=TOL)
    assert simultaneous_periods(buy, sell) == []
    # sale at 0.7 (= buy) in period 2: 15 - 10.5 = 4.5
    caplog.set_level(logging.DEBUG, logger="agents.milp")
    set_intraday_prices(m.grid, [0.5, 0.7, 0.5], [0.1, 0.7, 0.1])
    hm.update()
    obj = hm.solve().objective
    assert no_structure_change(caplog)
    assert obj == pytest.approx(4.5, abs=TOL)
    residual = hm.values(m.pv.p_kw) + grid_net(hm, m) - [30, 30, 0]
    assert np.max(np.abs(residual)) < TOL


def test_intraday_prices_must_not_invite_arbitrage() -> None:
    h = Horizon(3, 1.0)
    m, bus, _ = new_model(h)
    m.g = pyo.Block()
    with pytest.raises(ValueError, match=r"buy_price must be >= sell_price .* buy 0.2 < sell 0.3 in period 2"):
        build_intraday_trading(m.g, IntradayTradeParams(10, 10), h, bus, [0.5, 0.2, 0.5], [0.1, 0.3, 0.1])
    m.g2 = pyo.Block()
    build_intraday_trading(m.g2, IntradayTradeParams(10, 10), h, bus, [0.5] * 3, [0.1] * 3)
    with pytest.raises(ValueError, match=r"in period 3"):
        set_intraday_prices(m.g2, [0.5] * 3, [0.1, 0.1, 0.9])
    with pytest.raises(ValueError, match=r"intraday sell_price: expected 3 values"):
        set_intraday_prices(m.g2, [0.9] * 3, [0.1] * 2)
    with pytest.raises(ValueError, match=r"intraday buy_price: contains non-finite"):
        set_intraday_prices(m.g2, [0.9, float("nan"), 0.9], [0.1] * 3)
    np.testing.assert_allclose(param_values(m.g2.sell_price), [0.1] * 3)  # nothing written


def test_da_trading_is_shared_by_recourse_copies() -> None:
    # Two equally likely samples with demand 50 and 70 in both periods; intraday buy 0.8 / sell 0.2; DA prices
    # [0.45, 0.55], 0 <= P^tr <= 60.  Between 50 and 70 the marginal cost is p - 0.5*0.2 - 0.5*0.8 = p - 0.5:
    # period 1 (0.45) goes up to the bound 60, period 2 (0.55) down to 50.
    # obj = 0.45*60 + 0.5*(-0.2*10 + 0.8*10) + 0.55*50 + 0.5*(0 + 0.8*20) = 30 + 35.5
    h = Horizon(2, 1.0)
    m = pyo.ConcreteModel()
    buses = [Bus(h), Bus(h)]
    m.da = pyo.Block()
    handle = build_da_trading(m.da, DayAheadTradeParams(0, 60), h, [0.45, 0.55], buses)
    assert set(handle.outputs) == {"da_trade_kw"}
    for k, (bus, d) in enumerate(zip(buses, (50, 70), strict=True)):
        blk = pyo.Block()
        m.add_component(f"s{k}", blk)
        add_load(blk, "pd", h, bus, [d, d])
        add_trade(blk, h, bus, [0.8] * 2, [0.2] * 2)
        close_bus(blk, bus)
    m.obj = pyo.Objective(expr=m.da.cost + 0.5 * (m.s0.cost + m.s1.cost))
    hm, obj = solve_lp(m)
    x = hm.values(m.da.p_tr_kw)
    np.testing.assert_allclose(x, [60, 50], atol=TOL)
    assert obj == pytest.approx(65.5, abs=TOL)
    for k, d in enumerate((50, 70)):
        blk = m.component(f"s{k}")
        assert np.max(np.abs(x + grid_net(hm, blk) - d)) < TOL
    m2 = pyo.ConcreteModel()
    m2.da = pyo.Block()
    with pytest.raises(ValueError, match=r"DA trading on Horizon\(n=2.* but bus 0 is on Horizon\(n=8"):
        build_da_trading(m2.da, DayAheadTradeParams(0, 60), h, [0.5, 0.5], [Bus(Horizon(8, 0.25))])


# ------------------------------------------------------------------------------------ parameter validation


@pytest.mark.parametrize(("make", "match"), [
    (lambda: replace(GEN, p_min_kw=200), r"BiogasGeneratorParams\.p_min_kw must be in \[0, p_max_kw = 150\], got 200"),
    (lambda: replace(GEN, eta_power=0.0), r"BiogasGeneratorParams\.eta_power must be in \(0, 1\], got 0\.0"),
    (lambda: replace(GEN, eta_power=0.6, eta_heat=0.5),
     r"BiogasGeneratorParams\.eta_heat must be in \[0, 1 - eta_power = 0\.4\]"),
    (lambda: replace(GEN, lhv_kwh_per_m3=-1.0), r"BiogasGeneratorParams\.lhv_kwh_per_m3 must be finite and > 0"),
    (lambda: replace(GEN, gas_cost_per_m3=float("nan")),
     r"BiogasGeneratorParams\.gas_cost_per_m3 must be finite and >= 0, got nan"),
    (lambda: ElectricBoilerParams(150, 1.2), r"ElectricBoilerParams\.efficiency must be in \(0, 1\], got 1\.2"),
    (lambda: ElectricBoilerParams(-1, 0.9), r"ElectricBoilerParams\.p_max_kw must be finite and >= 0, got -1"),
    (lambda: HeatPumpParams(100, 0.0), r"HeatPumpParams\.cop must be in \(0, 10\], got 0\.0"),
    (lambda: HeatPumpParams(100, True), r"HeatPumpParams\.cop must be in \(0, 10\], got True"),
    (lambda: BiogasStorageParams(600, 700), r"BiogasStorageParams\.s_initial_m3 must be in \[s_min_m3, capacity_m3\] "
                                            r"= \[0\.0, 600\], got 700"),
    (lambda: BiogasStorageParams(0, 0), r"BiogasStorageParams\.capacity_m3 must be finite and > 0"),
    (lambda: BiogasStorageParams(600, 300, 600), r"BiogasStorageParams\.s_min_m3 must be in \[0, capacity_m3 = 600\)"),
    (lambda: replace(HS, loss_per_h=1.0), r"HeatStorageParams\.loss_per_h must be in \[0, 1\), got 1\.0"),
    (lambda: replace(HS, soc_max_frac=0.9, soc_initial_frac=0.95),
     r"HeatStorageParams\.soc_initial_frac must be in \[soc_min_frac, soc_max_frac\] = \[0\.0, 0\.9\]"),
    (lambda: replace(HS, eta_discharge=0), r"HeatStorageParams\.eta_discharge must be in \(0, 1\]"),
    (lambda: replace(TL, window_end_h=2.0), r"TransferableLoadParams\.window_end_h must be > window_start_h = 2\.0"),
    (lambda: replace(TL, up_max_kw=-5.0), r"TransferableLoadParams\.up_max_kw must be finite and >= 0, or None"),
    (lambda: replace(TL, load_kw=float("inf")), r"TransferableLoadParams\.load_kw must be finite and >= 0"),
    (lambda: IntradayTradeParams(-1, 10), r"IntradayTradeParams\.p_buy_max_kw must be finite and >= 0"),
    (lambda: DayAheadTradeParams(100, 50), r"DayAheadTradeParams\.p_max_kw must be finite and >= p_min_kw = 100"),
    (lambda: check_battery_params(replace(ESS, eta_charge=0.0)), r"BatteryParams\.eta_charge must be in \(0, 1\]"),
    (lambda: check_battery_params(replace(ESS, soc_initial_frac=0.95)),
     r"BatteryParams\.soc_initial_frac must be in \[soc_min_frac, soc_max_frac\] = \[0\.1, 0\.9\]"),
])
def test_parameter_validation_names_field_and_range(make: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()


def test_power_storage_builder_validates_battery_params() -> None:
    h = Horizon(2, 1.0)
    m, bus, _ = new_model(h)
    m.ess = pyo.Block()
    with pytest.raises(ValueError, match=r"BatteryParams\.capacity_kwh must be finite and > 0, got 0"):
        build_power_storage(m.ess, replace(ESS, capacity_kwh=0), h, bus)


# ------------------------------------------------------------------------------------ defaults


def test_rural_defaults_match_spec_table() -> None:
    d = RURAL_DEFAULTS
    p = d.da_price()
    assert p.shape == (24,)
    assert set(np.flatnonzero(p == 0.35) + 1) == {1, 2, 3, 4, 5, 6, 7, 24}
    assert set(np.flatnonzero(p == 1.00) + 1) == {8, 9, 10, 19, 20, 21, 22}
    assert set(np.flatnonzero(p == 0.55) + 1) == {14}
    assert set(np.flatnonzero(p == 0.65) + 1) == {11, 12, 13, 15, 16, 17, 18, 23}
    buy, sell = d.intraday_prices(RT_HORIZON)
    np.testing.assert_allclose(buy, 1.2 * np.repeat(p, 4))
    np.testing.assert_allclose(sell, 0.5 * np.repeat(p, 4))
    assert (d.biogas_generator.p_min_kw, d.biogas_generator.p_max_kw, d.biogas_generator.lhv_kwh_per_m3) == (30, 150, 6)
    assert (d.biogas_generator.eta_power, d.biogas_generator.eta_heat, d.biogas_generator.gas_cost_per_m3) == \
        (0.35, 0.45, 0.20)
    assert (d.biogas_storage.capacity_m3, d.biogas_storage.s_initial_m3) == (600, 300)
    np.testing.assert_allclose(d.biogas_production(RT_HORIZON), 60)
    assert (d.electric_boiler.p_max_kw, d.electric_boiler.efficiency) == (150, 0.95)
    assert (d.heat_pump.p_max_kw, d.heat_pump.cop) == (100, 3.5)
    ps = d.power_storage
    assert (ps.capacity_kwh, ps.p_charge_max_kw, ps.eta_charge, ps.soc_min_frac, ps.soc_max_frac,
            ps.soc_initial_frac) == (400, 100, 0.95, 0.1, 0.9, 0.5)
    check_battery_params(ps)
    hs = d.heat_storage
    assert (hs.capacity_kwh, hs.h_charge_max_kw, hs.h_discharge_max_kw, hs.loss_per_h) == (300, 100, 100, 0.01)
    assert (d.da_trading.p_min_kw, d.da_trading.p_max_kw) == (0, 500)
    assert (d.transferable_load.load_kw, d.transferable_load.cost_up_per_kwh) == (60, 0.05)
    assert (d.pv_capacity_kw, d.power_load_peak_kw, d.heat_load_peak_kw) == (300, 400, 300)


def test_hold_hourly() -> None:
    np.testing.assert_allclose(hold_hourly([1, 2], Horizon(4, 0.5)), [1, 1, 2, 2])
    np.testing.assert_allclose(hold_hourly([1, 2, 3], Horizon(5, 1.0)), [1, 2, 3, 1, 2])
    with pytest.raises(ValueError, match=r"dt_h must divide one hour, got 0\.4"):
        hold_hourly([1, 2], Horizon(4, 0.4))


# ------------------------------------------------------------------------------------ 24 h rural system

PV_SHAPE = np.array([0] * 6 + [0.05, 0.2, 0.4, 0.6, 0.75, 0.85, 0.9, 0.85, 0.7, 0.5, 0.3, 0.1] + [0] * 6)
LOAD_SHAPE = np.array([0.55, 0.5, 0.48, 0.47, 0.5, 0.6, 0.75, 0.85, 0.8, 0.75, 0.72, 0.7,
                       0.7, 0.72, 0.75, 0.8, 0.88, 0.95, 1.0, 0.98, 0.9, 0.8, 0.7, 0.6])
HEAT_SHAPE = np.array([0.9, 0.95, 1.0, 1.0, 0.95, 0.9, 0.85, 0.75, 0.6, 0.5, 0.45, 0.4,
                       0.4, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.9, 0.9, 0.9])


def rural_system(h: Horizon) -> pyo.ConcreteModel:
    """A 24 h rural IES from the defaults of SPEC §3.8 only: DA + intraday trade, PV, fixed power and heat load,
    transferable load, biogas generator + waste heat + holder, electric boiler, heat pump, power and heat
    storage.  Objective: C^DA + Q."""
    d = RURAL_DEFAULTS
    m, bus, heat = new_model(h)
    m.da = pyo.Block()
    build_da_trading(m.da, d.da_trading, h, d.da_price(h), [bus])
    m.grid = pyo.Block()
    build_intraday_trading(m.grid, d.intraday_trading, h, bus, *d.intraday_prices(h))
    m.pv = pyo.Block()
    build_renewable(m.pv, RenewableParams("pv", d.pv_capacity_kw), h, bus, hold_hourly(d.pv_capacity_kw * PV_SHAPE, h))
    add_load(m, "pd", h, bus, hold_hourly(d.power_load_peak_kw * LOAD_SHAPE, h))
    add_load(m, "hd", h, heat, hold_hourly(d.heat_load_peak_kw * HEAT_SHAPE, h))
    m.dr = pyo.Block()
    build_transferable_load(m.dr, d.transferable_load, h, bus)
    m.bg = pyo.Block()
    build_biogas_generator(m.bg, d.biogas_generator, h, bus)
    m.whr = pyo.Block()
    build_waste_heat_recovery(m.whr, h, heat, m.bg.heat_kw)
    m.bgs = pyo.Block()
    build_biogas_storage(m.bgs, d.biogas_storage, h, d.biogas_production(h), [m.bg.gas_m3_per_h])
    m.eb = pyo.Block()
    build_electric_boiler(m.eb, d.electric_boiler, h, bus, heat)
    m.hp = pyo.Block()
    build_heat_pump(m.hp, d.heat_pump, h, bus, heat)
    m.ess = pyo.Block()
    build_power_storage(m.ess, d.power_storage, h, bus)
    m.hs = pyo.Block()
    build_heat_storage(m.hs, d.heat_storage, h, heat)
    close_rural_buses(m, bus, heat)
    m.obj = pyo.Objective(expr=m.da.cost + m.cost)
    return m


@pytest.mark.parametrize("h", [DA_HORIZON, RT_HORIZON], ids=["24x1h", "96x15min"])
def test_rural_system_day_is_a_balanced_lp(h: Horizon) -> None:
    m = rural_system(h)
    assert not any(not v.is_continuous() for v in m.component_data_objects(pyo.Var, descend_into=True))
    hm, obj = solve_lp(m)
    assert hm.n_integer_active == 0
    v = {name: hm.values(comp) for name, comp in (
        ("tr", m.da.p_tr_kw), ("buy", m.grid.p_buy_kw), ("sell", m.grid.p_sell_kw), ("pv", m.pv.p_kw),
        ("pg", m.bg.p_kw), ("gas", m.bg.gas_m3_per_h), ("hg", m.bg.heat_kw), ("hw", m.whr.heat_kw),
        ("dis", m.ess.p_discharge_kw), ("ch", m.ess.p_charge_kw), ("up", m.dr.up_kw), ("dn", m.dr.dn_kw),
        ("pb", m.eb.p_kw), ("hb", m.eb.heat_kw), ("php", m.hp.p_kw), ("hhp", m.hp.heat_kw),
        ("hdis", m.hs.h_discharge_kw), ("hch", m.hs.h_charge_kw), ("soc", m.ess.soc_kwh), ("hsoc", m.hs.soc_kwh),
        ("sg", m.bgs.stored_m3))}
    pd, hd = param_values(m.pd.load_kw), param_values(m.hd.load_kw)
    # BAL2-E and BAL2-H in every period, from the extracted values
    supply = v["tr"] + v["buy"] - v["sell"] + v["pv"] + v["pg"] + v["dis"]
    use = pd + v["up"] - v["dn"] + v["ch"] + v["pb"] + v["php"]
    assert np.max(np.abs(supply - use)) < TOL
    assert np.max(np.abs(v["hw"] + v["hb"] + v["hhp"] + v["hdis"] - hd - v["hch"])) < TOL
    # device equations
    np.testing.assert_allclose(v["pg"], 2.1 * v["gas"], atol=TOL)
    np.testing.assert_allclose(v["hg"], 2.7 * v["gas"], atol=TOL)
    assert np.all(v["hw"] <= v["hg"] + TOL)
    np.testing.assert_allclose(v["hhp"], 3.5 * v["php"], atol=TOL)
    np.testing.assert_allclose(v["hb"], 0.95 * v["pb"], atol=TOL)
    assert np.all((v["pg"] >= 30 - TOL) & (v["pg"] <= 150 + TOL))
    assert np.all((v["tr"] >= -TOL) & (v["tr"] <= 500 + TOL))
    # storages: terminal conditions and the biogas balance over the day
    dt = h.dt_h
    assert v["soc"][-1] == pytest.approx(200, abs=TOL)
    assert v["hsoc"][-1] == pytest.approx(150, abs=TOL)
    assert v["sg"][-1] == pytest.approx(300, abs=TOL)
    assert np.sum(v["gas"]) * dt == pytest.approx(60 * 24, abs=1e-5)
    assert np.all((v["sg"] >= -TOL) & (v["sg"] <= 600 + TOL))
    # the three storage recursions with dt (ESS-1, HS-1 with (1 - rho)^dt, BGS-1)
    def prev(x: np.ndarray, x0: float) -> np.ndarray:
        return np.concatenate([[x0], x[:-1]])

    np.testing.assert_allclose(v["soc"], prev(v["soc"], 200) + (0.95 * v["ch"] - v["dis"] / 0.95) * dt, atol=TOL)
    np.testing.assert_allclose(v["hsoc"], 0.99**dt * prev(v["hsoc"], 150) + (v["hch"] - v["hdis"]) * dt, atol=TOL)
    np.testing.assert_allclose(v["sg"], prev(v["sg"], 300) + (60 - v["gas"]) * dt, atol=TOL)
    # DR2: energy conserved inside 13-17 h, nothing outside
    window = np.array(RURAL_DEFAULTS.transferable_load.window_periods(h)) - 1
    outside = np.setdiff1d(np.arange(h.n), window)
    assert np.sum(v["up"]) == pytest.approx(np.sum(v["dn"]), abs=TOL)
    assert np.max(np.abs(v["up"][outside]) + np.abs(v["dn"][outside])) < TOL
    # no simultaneous charge/discharge or buy/sell in the LP optimum
    assert simultaneous_periods(v["ch"], v["dis"]) == []
    assert simultaneous_periods(v["hch"], v["hdis"]) == []
    assert simultaneous_periods(v["buy"], v["sell"]) == []
    # objective = C^DA + Q, recomputed from the values (SPEC §3.8 intraday cost)
    p = RURAL_DEFAULTS.da_price(h)
    c_buy, c_sell = RURAL_DEFAULTS.intraday_prices(h)
    recomputed = dt * np.sum(p * v["tr"] + c_buy * v["buy"] - c_sell * v["sell"] + 0.2 * v["gas"]
                             + 0.05 * (v["up"] + v["dn"]))
    assert obj == pytest.approx(recomputed, abs=1e-5)

"""Device builders of paper 003's low-carbon campus (agents/devices/ gas, thermal, hydrogen, carbon, storage,
renewables, heat, demand; the EV fleet of agents/ev.py; SPEC §3.6d, §3.7, §3.9–§3.15),
tested build / solve / solution / conservation / mutability / bad input on horizons of 1-6 periods, one small
coupled system (GT + GB + TP + P2G + P2A + CCUS + storages + trading) checked for CO2 mass balance and every
carrier's balance, and one 24-hour default day with the commitment fixed (the recourse LP).

Every expected optimum is worked out by hand in the comment beside it.  Test-only sources and demands are
plain variables / constants injected on a bus (:func:`source`, :func:`demand`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyomo.environ as pyo
import pytest

from agents.devices.carbon import (
    CarbonLedger,
    CarbonTradingParams,
    CCUSParams,
    build_carbon_trading,
    build_ccus,
    stepped_carbon_cost,
)
from agents.devices.core import (
    DA_HORIZON,
    AmmoniaBus,
    Bus,
    GasBus,
    HeatBus,
    Horizon,
    HydrogenBus,
    InjectionBus,
    LowCarbonHandle,
    close_lowcarbon_buses,
)
from agents.devices.demand import (
    DemandResponseParams,
    RecourseSlackParams,
    build_demand_response,
    build_fixed_load,
    build_recourse_slacks,
)
from agents.devices.gas import (
    LHV_CH4_MWH_PER_M3,
    LHV_H2_MWH_PER_M3,
    GasBoilerParams,
    GasPurchaseParams,
    GasTurbineParams,
    build_gas_boiler,
    build_gas_purchase,
    build_gas_turbine,
)
from agents.devices.heat import ElectricHeaterParams, build_electric_heater
from agents.devices.hydrogen import P2AParams, P2GParams, build_p2a, build_p2g
from agents.devices.renewables import WindFarmParams, build_wind_farm, set_wind_availability
from agents.devices.storage import (
    AmmoniaStorageParams,
    HydrogenStorageParams,
    build_ammonia_storage,
    build_heat_storage,
    build_hydrogen_storage,
    build_power_storage,
    default_electric_storage,
    default_heat_storage,
)
from agents.devices.thermal import ThermalUnitParams, build_thermal_unit, default_thermal_units
from agents.ev import EVFleetParams, EVParams, build_ev_fleet, default_ev_fleet
from agents.milp import HighsModel, SolveError, SolverOptions

TOL = 1e-6
GAS_PER_MWH = 2.5e-4 / LHV_CH4_MWH_PER_M3  # 万元 per MWh of CH4 at the default price: ~0.0251
R_LHV = LHV_H2_MWH_PER_M3 / LHV_CH4_MWH_PER_M3  # L_H2 / L_CH4 = 0.3009
NH3_PER_COAL = 18.6 / 29.3  # L_NH3 / L_m


# ------------------------------------------------------------------------------------ helpers


@dataclass
class Sys:
    """A 003 block under construction: the model, its five buses and its ledger."""

    h: Horizon
    m: pyo.ConcreteModel
    bus: Bus
    heat: HeatBus
    gas: GasBus
    h2: HydrogenBus
    nh3: AmmoniaBus
    led: CarbonLedger

    def block(self, name: str) -> pyo.Block:
        self.m.add_component(name, pyo.Block())
        return self.m.component(name)


def new(h: Horizon) -> Sys:
    return Sys(h, pyo.ConcreteModel(), Bus(h), HeatBus(h), GasBus(h), HydrogenBus(h), AmmoniaBus(h), CarbonLedger(h))


def source(s: Sys, name: str, bus: InjectionBus, price: float | Sequence[float], cap: float | None = None,
           sign: float = 1.0) -> pyo.Block:
    """A test supply ``0 <= x_t <= cap`` injected with ``sign`` on ``bus`` at ``price`` per unit and period-hour."""
    blk = s.block(name)
    p = np.broadcast_to(np.asarray(price, dtype=float), (s.h.n,))
    blk.x = pyo.Var(s.h.periods, bounds=(0, cap))
    for t in s.h.periods:
        bus.inject(t, sign * blk.x[t])
    bus.cost.append(pyo.quicksum(float(p[t - 1]) * s.h.dt_h * blk.x[t] for t in s.h.periods))
    return blk


def demand(bus: InjectionBus, h: Horizon, values: float | Sequence[float]) -> None:
    """A fixed demand on any bus (a constant injection ``-value``)."""
    v = np.broadcast_to(np.asarray(values, dtype=float), (h.n,))
    for t in h.periods:
        bus.inject(t, -float(v[t - 1]))


def slacks(s: Sys, shed: float = 50.0) -> pyo.Block:
    blk = s.block("slack")
    build_recourse_slacks(blk, RecourseSlackParams(shed, shed, shed), s.h, s.bus, s.heat)
    return blk


def finish(s: Sys, nh3: bool = True, extra: Any = 0.0) -> None:
    close_lowcarbon_buses(s.m, s.bus, s.heat, s.gas, s.h2, s.nh3 if nh3 else None)
    s.m.obj = pyo.Objective(expr=s.m.cost + extra)


def solve(m: pyo.Block, lp: bool = True) -> tuple[HighsModel, float]:
    """Solve exactly (binaries integer).  ``lp``: the model must have no binary column at all."""
    hm = HighsModel(m, "lowcarbon", SolverOptions(mip_rel_gap=1e-9), relax_integrality=False)
    stats = hm.solve()
    assert stats.status == "optimal"
    if lp:
        assert hm.n_binaries_declared == 0 and not stats.is_mip
    load(hm, m)
    return hm, stats.objective


def load(hm: HighsModel, m: pyo.Block) -> None:
    """Write the solution into the Pyomo variables (so rows and Expressions can be evaluated)."""
    for var in m.component_objects(pyo.Var, descend_into=True):
        for k, x in zip(var.keys(), hm.values(var), strict=True):
            if not var[k].fixed:
                var[k].set_value(float(x), skip_validation=True)


def val(hm: HighsModel, var: Any) -> np.ndarray:
    return hm.values(var)


def ev(expr: Any) -> float:
    return float(pyo.value(expr))


def max_residual(m: pyo.Block, name: str) -> float:
    """Largest violation of the (equality) rows of ``name`` at the loaded solution."""
    con = m.component(name)
    worst = 0.0
    for c in con.values():
        body = pyo.value(c.body)
        lo = pyo.value(c.lower) if c.has_lb() else -np.inf
        hi = pyo.value(c.upper) if c.has_ub() else np.inf
        worst = max(worst, lo - body, body - hi)
    return worst


def n_data(block: pyo.Block, ctype: type) -> int:
    return sum(1 for _ in block.component_data_objects(ctype, descend_into=True))


def comp_names(block: pyo.Block, ctype: type) -> set[str]:
    return {c.local_name for c in block.component_objects(ctype, descend_into=False)}


def blend_ratio(q: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Volumetric H2 share (GT-3)."""
    vh, vq = h / LHV_H2_MWH_PER_M3, q / LHV_CH4_MWH_PER_M3
    return np.where(vh + vq > 0, vh / np.maximum(vh + vq, 1e-12), 0.0)


# ------------------------------------------------------------------------------------ buses, closing


def test_bus_types_are_distinct_and_closing_skips_empty_rows() -> None:
    h = Horizon(2, 0.5)
    s = new(h)
    for b in (s.gas, s.h2, s.nh3):
        assert isinstance(b, InjectionBus) and not isinstance(b, Bus | HeatBus)
    assert not isinstance(s.gas, HydrogenBus) and not isinstance(s.h2, GasBus)
    # heat load [9, 18] from a gas boiler (no H2 source, so H = 0): Q = [10, 20];
    # gas cost = c^gas Q dt / L = 2.5e-4 * 30 * 0.5 / 9.97e-3 = 0.37613
    demand(s.heat, h, [9, 18])
    build_gas_boiler(s.block("gb"), GasBoilerParams(), h, s.heat, s.gas, s.h2, s.led)
    handle = build_gas_purchase(s.block("buy"), GasPurchaseParams(), h, s.gas)
    finish(s)
    assert len(s.m.def_balance) == 0  # nothing electric
    assert len(s.m.def_heat_balance) == 2 and len(s.m.def_gas_balance) == 2 and len(s.m.def_h2_balance) == 2
    assert len(s.m.def_nh3_balance) == 0
    hm, obj = solve(s.m)
    assert obj == pytest.approx(2.5e-4 * 30 * 0.5 / 9.97e-3, rel=1e-9)
    np.testing.assert_allclose(val(hm, s.m.buy.q_gas_mw), [10, 20], atol=TOL)
    assert ev(handle.costs["cost_gas"]) == pytest.approx(obj, rel=1e-9)
    # without an NH3 bus there is no NH3 balance component at all
    s2 = new(h)
    close_lowcarbon_buses(s2.m, s2.bus, s2.heat, s2.gas, s2.h2)
    assert s2.m.component("def_nh3_balance") is None and ev(s2.m.cost) == 0


def test_close_rejects_mixed_horizons_and_gas_limit_is_a_bound() -> None:
    m = pyo.ConcreteModel()
    h = Horizon(2, 1.0)
    with pytest.raises(ValueError, match=r"close_lowcarbon_buses: electric bus on Horizon\(n=2.*def_h2_balance"):
        close_lowcarbon_buses(m, Bus(h), HeatBus(h), GasBus(h), HydrogenBus(Horizon(8, 0.25)))
    s = new(h)
    build_gas_purchase(s.block("buy"), GasPurchaseParams(q_max_mw=5.0), h, s.gas)
    assert s.m.buy.q_gas_mw[1].bounds == (0, 5)


# ------------------------------------------------------------------------------------ GT / GB


def test_gas_turbine_build_counts() -> None:
    h = Horizon(3, 1.0)
    s = new(h)
    handle = build_gas_turbine(s.block("gt"), GasTurbineParams(), h, s.bus, s.heat, s.gas, s.h2, s.led)
    assert isinstance(handle, LowCarbonHandle) and handle.binaries == {} and handle.costs == {}
    assert n_data(s.m.gt, pyo.Var) == 12
    # no initial output: period 1 has no ramp row
    assert comp_names(s.m.gt, pyo.Constraint) == {"def_power", "def_heat", "res_blend", "res_ramp_up",
                                                  "res_ramp_down"}
    assert n_data(s.m.gt, pyo.Constraint) == 3 + 3 + 3 + 2 + 2
    assert s.m.gt.p_mw[1].bounds == (20, 150)
    for bus in (s.bus, s.heat, s.gas, s.h2):
        assert all(len(bus.injection[t]) == 1 for t in h.periods)
    assert all(len(s.led.emitted[t]) == 1 and len(s.led.allowance_e[t]) == 1 and len(s.led.allowance_h[t]) == 1
               for t in h.periods)
    s2 = new(h)
    build_gas_turbine(s2.block("gt"), GasTurbineParams(p_initial_mw=50, heat_ramp_up_mw_per_h=40,
                                                       heat_ramp_down_mw_per_h=40),
                      h, s2.bus, s2.heat, s2.gas, s2.h2, s2.led)
    assert len(s2.m.gt.res_ramp_up) == 3 and len(s2.m.gt.res_heat_ramp_up) == 3
    assert ev(s2.m.gt.r_initial_mw) == pytest.approx(50 * 0.45 / 0.35)


@pytest.mark.parametrize("device", ["gt", "gb"])
def test_blend_bound_is_tight_when_h2_is_cheap_and_kmax_zero_gives_no_h2(
    device: str, caplog: pytest.LogCaptureFixture
) -> None:
    h = Horizon(2, 1.0)
    s = new(h)
    source(s, "h2src", s.h2, 0.0)  # free H2
    build_gas_purchase(s.block("buy"), GasPurchaseParams(), h, s.gas)
    if device == "gt":
        # P = 70 MW el -> fuel Q + H = 200 MW, heat R = 90 MW (served by a heat load of 90)
        demand(s.bus, h, 70)
        demand(s.heat, h, 90)
        blk = s.block("dev")
        build_gas_turbine(blk, GasTurbineParams(), h, s.bus, s.heat, s.gas, s.h2, s.led)
        fuel = 200.0
    else:
        demand(s.heat, h, 90)  # R = 90 MW -> fuel 100 MW
        blk = s.block("dev")
        build_gas_boiler(blk, GasBoilerParams(), h, s.heat, s.gas, s.h2, s.led)
        fuel = 100.0
    finish(s)
    hm, obj = solve(s.m)
    # cheapest: as much free H2 as the bound allows: (1-K) H / L_H2 = K Q / L_CH4, Q + H = fuel
    # -> H = 0.25 (L_H2/L_CH4) Q, Q = fuel / (1 + 0.25 L_H2/L_CH4)
    q = fuel / (1 + 0.25 * R_LHV)
    np.testing.assert_allclose(val(hm, blk.q_ch4_mw), q, atol=1e-6)
    np.testing.assert_allclose(val(hm, blk.h_h2_mw), fuel - q, atol=1e-6)
    np.testing.assert_allclose(blend_ratio(val(hm, blk.q_ch4_mw), val(hm, blk.h_h2_mw)), 0.2, atol=1e-9)
    assert obj == pytest.approx(2 * q * GAS_PER_MWH, rel=1e-9)
    np.testing.assert_allclose([ev(blk.m_co2_t[t]) for t in h.periods], 0.198 * q, rtol=1e-9)  # only CH4 emits
    # K^max = 0 (scenario without blending): the same model, H = 0
    caplog.set_level(logging.DEBUG, logger="agents.milp")
    blk.k_h2_max = 0.0
    hm.update()
    assert hm.solve().objective == pytest.approx(2 * fuel * GAS_PER_MWH, rel=1e-9)
    np.testing.assert_allclose(val(hm, blk.h_h2_mw), 0, atol=TOL)
    assert not any("structure changed" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("kmax", [0.0, 0.1, 0.2])
def test_fixed_blend_ratio_is_met_exactly_even_when_h2_is_dear(kmax: float) -> None:
    h = Horizon(1, 1.0)
    s = new(h)
    source(s, "h2src", s.h2, 10.0)  # dear H2: without the equality the boiler would burn CH4 only
    build_gas_purchase(s.block("buy"), GasPurchaseParams(), h, s.gas)
    demand(s.heat, h, 90)
    build_gas_boiler(s.block("gb"), GasBoilerParams(k_h2_max=kmax, blend_fixed=True), h, s.heat, s.gas, s.h2, s.led)
    finish(s)
    hm, _ = solve(s.m)
    assert blend_ratio(val(hm, s.m.gb.q_ch4_mw), val(hm, s.m.gb.h_h2_mw))[0] == pytest.approx(kmax, abs=1e-9)


def test_gas_turbine_ramps_hit_with_dt() -> None:
    # dt = 0.5 h, ramp 60 MW/h -> 30 MW per period.  Up: P_0 = 20, load 150 -> P = [50, 80], shed [100, 70]
    h = Horizon(2, 0.5)
    s = new(h)
    build_gas_purchase(s.block("buy"), GasPurchaseParams(), h, s.gas)
    build_gas_turbine(s.block("gt"), GasTurbineParams(p_initial_mw=20), h, s.bus, s.heat, s.gas, s.h2, s.led)
    demand(s.bus, h, 150)
    sl = slacks(s)
    finish(s)
    hm, obj = solve(s.m)
    np.testing.assert_allclose(val(hm, s.m.gt.p_mw), [50, 80], atol=TOL)
    np.testing.assert_allclose(val(hm, sl.p_shed_mw), [100, 70], atol=TOL)
    np.testing.assert_allclose(val(hm, sl.r_dump_mw), np.array([50, 80]) * 0.45 / 0.35, atol=TOL)
    assert obj == pytest.approx(0.5 * (50 * 170 + GAS_PER_MWH * 130 / 0.35), rel=1e-9)
    # down: P_0 = 150, load 20 -> P = [120, 90], spill [100, 70]
    s = new(h)
    build_gas_purchase(s.block("buy"), GasPurchaseParams(), h, s.gas)
    build_gas_turbine(s.block("gt"), GasTurbineParams(p_initial_mw=150), h, s.bus, s.heat, s.gas, s.h2, s.led)
    demand(s.bus, h, 20)
    sl = slacks(s)
    finish(s)
    hm, _ = solve(s.m)
    np.testing.assert_allclose(val(hm, s.m.gt.p_mw), [120, 90], atol=TOL)
    np.testing.assert_allclose(val(hm, sl.p_spill_mw), [100, 70], atol=TOL)


def test_gas_boiler_ramps_hit() -> None:
    # ramp 75 MW/h: up from 0 to a heat load of 150: R = [75, 150], heat shed [75, 0]
    h = Horizon(2, 1.0)
    s = new(h)
    build_gas_purchase(s.block("buy"), GasPurchaseParams(), h, s.gas)
    build_gas_boiler(s.block("gb"), GasBoilerParams(r_initial_mw=0), h, s.heat, s.gas, s.h2, s.led)
    demand(s.heat, h, 150)
    sl = slacks(s)
    finish(s)
    hm, obj = solve(s.m)
    np.testing.assert_allclose(val(hm, s.m.gb.r_mw), [75, 150], atol=TOL)
    np.testing.assert_allclose(val(hm, sl.r_shed_mw), [75, 0], atol=TOL)
    assert obj == pytest.approx(50 * 75 + GAS_PER_MWH * 225 / 0.9, rel=1e-9)
    # down from 150 to a load of 0: R = [75, 0], dumped for free
    s = new(h)
    build_gas_purchase(s.block("buy"), GasPurchaseParams(), h, s.gas)
    build_gas_boiler(s.block("gb"), GasBoilerParams(r_initial_mw=150), h, s.heat, s.gas, s.h2, s.led)
    sl = slacks(s)
    finish(s)
    hm, _ = solve(s.m)
    np.testing.assert_allclose(val(hm, s.m.gb.r_mw), [75, 0], atol=TOL)
    np.testing.assert_allclose(val(hm, sl.r_dump_mw), [75, 0], atol=TOL)


# ------------------------------------------------------------------------------------ TP


def test_thermal_unit_build_counts_and_binaries() -> None:
    h = Horizon(3, 1.0)
    s = new(h)
    handle = build_thermal_unit(s.block("tp"), ThermalUnitParams(), h, s.bus, s.nh3, s.led)
    assert set(handle.binaries) == {"tp_on", "tp_startup", "tp_shutdown"}
    assert set(handle.costs) == {"cost_coal", "cost_startstop", "cost_om"}
    # u, su, sd, P, 4 segments, M^m, M^m,NH3, m^NH3 per period
    assert n_data(s.m.tp, pyo.Var) == 3 * (3 + 1 + 4 + 3)
    assert sum(1 for v in s.m.tp.component_data_objects(pyo.Var) if v.is_binary()) == 9
    assert comp_names(s.m.tp, pyo.Constraint) == {
        "def_power", "res_segment", "def_coal", "res_ramp_up", "res_ramp_down", "res_startup", "res_shutdown",
        "def_coal_net", "res_nh3_share"}
    assert n_data(s.m.tp, pyo.Constraint) == 3 * 8 + 3 * 4
    assert len(s.bus.cost) == 3 and all(len(s.nh3.injection[t]) == 1 for t in h.periods)
    # without an NH3 bus the unit cannot co-fire
    s2 = new(h)
    build_thermal_unit(s2.block("tp"), ThermalUnitParams(), h, s2.bus, None, s2.led)
    assert s2.m.tp.m_nh3_t[1].bounds == (0, 0)


def test_coal_curve_is_exact_at_breakpoints_and_secant_between() -> None:
    p = ThermalUnitParams()
    np.testing.assert_allclose(p.breakpoints_mw, [60, 120, 180, 240, 300])
    # the unit alone serves the load: P = load; segments fill in order because coal has a price
    load = [60, 120, 180, 240, 300, 270]
    h = Horizon(6, 1.0)
    s = new(h)
    build_thermal_unit(s.block("tp"), p, h, s.bus, None, s.led)
    demand(s.bus, h, load)
    finish(s)
    hm, obj = solve(s.m, lp=False)
    np.testing.assert_allclose(val(hm, s.m.tp.u_on), 1, atol=TOL)
    coal = val(hm, s.m.tp.m_coal_t)
    np.testing.assert_allclose(coal[:5], p.coal_t_per_h(np.array(load[:5])), rtol=1e-9)  # a P^2 + b P + c
    # 270 MW lies mid-segment [240, 300]: the secant value, above the convex quadratic
    secant = (p.coal_t_per_h(240.0) + p.coal_t_per_h(300.0)) / 2
    assert coal[5] == pytest.approx(secant, rel=1e-9) and coal[5] > p.coal_t_per_h(270.0)
    assert float(p.coal_t_per_h(300.0)) == pytest.approx(1e-4 * 9e4 + 0.28 * 300 + 12)  # 105 t/h
    np.testing.assert_allclose([ev(s.m.tp.m_co2_t[t]) for t in h.periods], 2.66 * coal, rtol=1e-9)
    assert obj == pytest.approx(0.09 * coal.sum(), rel=1e-9)


def test_startup_shutdown_with_ramp_relaxation_and_costs() -> None:
    # off before t=1; load [0, 120, 120, 0]: on in 2..3, start-up at 2 (0 -> 120 exceeds the 90 MW/h ramp:
    # allowed by TP-2's start-up relaxation), shut-down at 4
    h = Horizon(4, 1.0)
    s = new(h)
    handle = build_thermal_unit(s.block("tp"), ThermalUnitParams(on_initial=False), h, s.bus, None, s.led)
    demand(s.bus, h, [0, 120, 120, 0])
    finish(s)
    hm, obj = solve(s.m, lp=False)
    np.testing.assert_allclose(val(hm, s.m.tp.u_on), [0, 1, 1, 0], atol=TOL)
    np.testing.assert_allclose(val(hm, s.m.tp.su_startup), [0, 1, 0, 0], atol=TOL)
    np.testing.assert_allclose(val(hm, s.m.tp.sd_shutdown), [0, 0, 0, 1], atol=TOL)
    assert ev(handle.costs["cost_startstop"]) == pytest.approx(1.0 + 0.5)
    coal = 2 * float(ThermalUnitParams().coal_t_per_h(120.0))  # 2 * (1.44 + 33.6 + 12) = 94.08 t (a breakpoint)
    assert coal == pytest.approx(94.08)
    assert ev(handle.costs["cost_coal"]) == pytest.approx(0.09 * coal, rel=1e-9)
    assert obj == pytest.approx(1.5 + 0.09 * coal, rel=1e-9)


def fix_on(tp: pyo.Block) -> None:
    """Fix a unit's first stage: on in every period, no start-up or shut-down."""
    for t in tp.T:
        tp.u_on[t].fix(1)
        tp.su_startup[t].fix(0)
        tp.sd_shutdown[t].fix(0)


@pytest.mark.parametrize("dt", [1.0, 0.5])
def test_thermal_ramps_hit(dt: float) -> None:
    # commitment fixed on (the first stage is given).  up: P_0 = 60, load 300, 90 MW/h:
    # P = [60 + 90 dt, 60 + 180 dt] ([150, 240] hourly)
    h = Horizon(2, dt)
    s = new(h)
    build_thermal_unit(s.block("tp"), ThermalUnitParams(), h, s.bus, None, s.led)
    demand(s.bus, h, 300)
    sl = slacks(s)
    finish(s)
    fix_on(s.m.tp)
    hm, _ = solve(s.m, lp=False)
    up = np.array([60 + 90 * dt, 60 + 180 * dt])
    np.testing.assert_allclose(val(hm, s.m.tp.p_mw), up, atol=TOL)
    np.testing.assert_allclose(val(hm, sl.p_shed_mw), 300 - up, atol=TOL)
    # down with the commitment fixed on (first stage given): P_0 = 300, load 60 -> P = [300 - 90 dt, 300 - 180 dt]
    s = new(h)
    build_thermal_unit(s.block("tp"), ThermalUnitParams(p_initial_mw=300), h, s.bus, None, s.led)
    demand(s.bus, h, 60)
    sl = slacks(s)
    finish(s)
    fix_on(s.m.tp)
    hm, _ = solve(s.m, lp=False)
    down = np.array([300 - 90 * dt, 300 - 180 * dt])
    np.testing.assert_allclose(val(hm, s.m.tp.p_mw), down, atol=TOL)
    np.testing.assert_allclose(val(hm, sl.p_spill_mw), down - 60, atol=TOL)


@pytest.mark.parametrize("su_limit, expect_on", [(None, [0, 1]), (60.0, [1, 1])])
def test_startup_limit_stops_cycling_to_reset_the_ramp(su_limit: float | None, expect_on: list[int]) -> None:
    # on at 60 MW, load 300 on 0.5 h: staying on gives [105, 150] (shed 345 MW-periods); with SPEC TP-2
    # (SU = P^max) shutting down and restarting at 300 sheds only 300, so the unit cycles.  SU = P^min stops it.
    h = Horizon(2, 0.5)
    s = new(h)
    build_thermal_unit(s.block("tp"), ThermalUnitParams(startup_limit_mw=su_limit), h, s.bus, None, s.led)
    demand(s.bus, h, 300)
    slacks(s)
    finish(s)
    hm, _ = solve(s.m, lp=False)
    np.testing.assert_allclose(val(hm, s.m.tp.u_on), expect_on, atol=TOL)
    np.testing.assert_allclose(val(hm, s.m.tp.p_mw), [0, 300] if su_limit is None else [105, 150], atol=TOL)


def test_nh3_cofiring_limit_tp5_tp6(caplog: pytest.LogCaptureFixture) -> None:
    # 300 MW: M^m = 105 t.  Free NH3 replaces coal up to K^max = 0.25 of the *remaining* coal heat:
    # M^net = M / (1 + K) = 84 t, m^NH3 L_NH3 / L_m = 21 t -> m^NH3 = 21 / (18.6/29.3) = 33.081 t
    h = Horizon(1, 1.0)
    s = new(h)
    source(s, "nh3src", s.nh3, 0.0)
    build_thermal_unit(s.block("tp"), ThermalUnitParams(p_initial_mw=300), h, s.bus, s.nh3, s.led)
    demand(s.bus, h, 300)
    finish(s)
    hm, obj = solve(s.m, lp=False)
    assert val(hm, s.m.tp.m_coal_t)[0] == pytest.approx(105, rel=1e-9)
    assert val(hm, s.m.tp.m_coal_net_t)[0] == pytest.approx(84, rel=1e-9)
    m_nh3 = val(hm, s.m.tp.m_nh3_t)[0]
    assert m_nh3 == pytest.approx(21 / NH3_PER_COAL, rel=1e-9)
    share = m_nh3 * 18.6 / (m_nh3 * 18.6 + 84 * 29.3)  # NH3's heat share: K / (1 + K) = 0.2
    assert share == pytest.approx(0.2, rel=1e-9)
    assert ev(s.m.tp.m_co2_t[1]) == pytest.approx(2.66 * 84, rel=1e-9)
    assert obj == pytest.approx(0.09 * 84, rel=1e-9)
    caplog.set_level(logging.DEBUG, logger="agents.milp")
    s.m.tp.k_nh3_max = 0.0
    hm.update()
    assert hm.solve().objective == pytest.approx(0.09 * 105, rel=1e-9)
    assert val(hm, s.m.tp.m_nh3_t)[0] == pytest.approx(0, abs=TOL)
    assert not any("structure changed" in r.getMessage() for r in caplog.records)


# ------------------------------------------------------------------------------------ P2G, P2A, EH


@pytest.mark.parametrize("dt", [1.0, 0.5])
def test_p2g_chain_and_co2_demand(dt: float) -> None:
    # gas demand 21 MW, dear purchase, free electricity: Q^P2G = 21 -> H^CH4 = 28 -> P = 40 (H^P2H = 28)
    h = Horizon(2, dt)
    s = new(h)
    source(s, "el", s.bus, 0.0)
    build_gas_purchase(s.block("buy"), GasPurchaseParams(price_per_m3=1.0), h, s.gas)
    handle = build_p2g(s.block("p2g"), P2GParams(), h, s.bus, s.h2, s.gas, s.led)
    demand(s.gas, h, 21)
    finish(s)
    hm, obj = solve(s.m)
    assert obj == pytest.approx(0, abs=TOL)
    np.testing.assert_allclose(val(hm, s.m.p2g.p_mw), 40, atol=TOL)
    np.testing.assert_allclose(val(hm, s.m.p2g.h_p2h_mw), 28, atol=TOL)
    np.testing.assert_allclose(val(hm, s.m.p2g.h_ch4_mw), 28, atol=TOL)
    co2 = [ev(handle.co2["demand_t"][t]) for t in h.periods]
    np.testing.assert_allclose(co2, 1.977e-3 * 21 * dt / 9.97e-3, rtol=1e-9)  # P2G-4, t per period
    assert s.led.co2_demand[1] == [s.m.p2g.m_co2_demand_t[1]]


def test_p2g_ramp_and_methanation_limit() -> None:
    # from P_0 = 0 at 30 MW/h: P_1 = 30 -> CH4 = 30 * 0.7 * 0.75 = 15.75, bought 5.25; P_2 = 40
    h = Horizon(2, 1.0)
    s = new(h)
    source(s, "el", s.bus, 0.0)
    build_gas_purchase(s.block("buy"), GasPurchaseParams(), h, s.gas)
    build_p2g(s.block("p2g"), P2GParams(p_initial_mw=0.0), h, s.bus, s.h2, s.gas, s.led)
    demand(s.gas, h, 21)
    finish(s)
    hm, obj = solve(s.m)
    np.testing.assert_allclose(val(hm, s.m.p2g.p_mw), [30, 40], atol=TOL)
    np.testing.assert_allclose(val(hm, s.m.buy.q_gas_mw), [5.25, 0], atol=TOL)
    assert obj == pytest.approx(5.25 * GAS_PER_MWH, rel=1e-9)
    # methanation limited to 14 MW CH4: 7 MW bought every period
    s = new(h)
    source(s, "el", s.bus, 0.0)
    build_gas_purchase(s.block("buy"), GasPurchaseParams(), h, s.gas)
    build_p2g(s.block("p2g"), P2GParams(methanation_max_mw=14.0), h, s.bus, s.h2, s.gas, s.led)
    demand(s.gas, h, 21)
    finish(s)
    hm, _ = solve(s.m)
    np.testing.assert_allclose(val(hm, s.m.buy.q_gas_mw), 7, atol=TOL)


@pytest.mark.parametrize("dt", [1.0, 0.5])
def test_p2a_heat_and_h2_draw(dt: float) -> None:
    # 5 t NH3 per period: P = 5 * 0.6 / dt; H2 feed = 33.3 * 0.1776 * 5 / dt; heat = 0.5 * 0.75 * 5 / dt
    h = Horizon(2, dt)
    s = new(h)
    el = source(s, "el", s.bus, 1.0)
    hy = source(s, "hy", s.h2, 0.1)
    build_p2a(s.block("p2a"), P2AParams(), h, s.bus, s.heat, s.h2, s.nh3)
    demand(s.nh3, h, 5)
    demand(s.heat, h, 0.5 * 0.75 * 5 / dt)  # the reaction heat is used exactly
    finish(s)
    hm, obj = solve(s.m)
    np.testing.assert_allclose(val(hm, s.m.p2a.m_nh3_t), 5, atol=TOL)
    np.testing.assert_allclose(val(hm, el.x), 3 / dt, atol=TOL)
    np.testing.assert_allclose(val(hm, hy.x), 33.3 * 0.1776 * 5 / dt, atol=1e-9)
    np.testing.assert_allclose(val(hm, s.m.p2a.r_mw), 1.875 / dt, atol=TOL)
    np.testing.assert_allclose([ev(s.m.p2a.m_h2_t[t]) for t in h.periods], 0.1776 * 5, rtol=1e-9)
    assert obj == pytest.approx(2 * (3 + 0.1 * 33.3 * 0.1776 * 5), rel=1e-9)  # energies per period


def test_p2a_ramp_hit() -> None:
    # NH3 sells at 1 万元/t, inputs free: P climbs 0 -> 15 -> 30 (ramp 15 MW/h, max 30);
    # NH3 = (15 + 30) / 0.6 = 75 t, heat dumped
    h = Horizon(2, 1.0)
    s = new(h)
    source(s, "el", s.bus, 0.0)
    source(s, "hy", s.h2, 0.0)
    sale = source(s, "sale", s.nh3, -1.0, sign=-1.0)
    build_p2a(s.block("p2a"), P2AParams(p_initial_mw=0.0), h, s.bus, s.heat, s.h2, s.nh3)
    slacks(s)
    finish(s)
    hm, obj = solve(s.m)
    np.testing.assert_allclose(val(hm, s.m.p2a.p_mw), [15, 30], atol=TOL)
    np.testing.assert_allclose(val(hm, sale.x), [25, 50], atol=TOL)
    assert obj == pytest.approx(-75, rel=1e-9)


def test_electric_heater() -> None:
    h = Horizon(1, 1.0)
    s = new(h)
    source(s, "el", s.bus, 2.0)
    build_electric_heater(s.block("eh"), ElectricHeaterParams(), h, s.bus, s.heat)
    demand(s.heat, h, 49)
    finish(s)
    hm, obj = solve(s.m)
    assert val(hm, s.m.eh.p_mw)[0] == pytest.approx(50, abs=TOL) and obj == pytest.approx(100, rel=1e-9)
    assert s.m.eh.p_mw[1].bounds == (0, 50)


# ------------------------------------------------------------------------------------ storages


def test_ammonia_storage_shifts_cheap_nh3_and_returns_to_start() -> None:
    # NH3 cheap only in period 1; demand [0, 20, 20]: buy 40 t at t=1, tank 100 -> 140 -> 120 -> 100
    h = Horizon(3, 1.0)
    s = new(h)
    src = source(s, "nh3src", s.nh3, [0.0, 10.0, 10.0])
    build_ammonia_storage(s.block("tank"), AmmoniaStorageParams(), h, s.nh3)
    demand(s.nh3, h, [0, 20, 20])
    finish(s)
    hm, obj = solve(s.m)
    assert obj == pytest.approx(0, abs=TOL)
    np.testing.assert_allclose(val(hm, src.x), [40, 0, 0], atol=TOL)
    np.testing.assert_allclose(val(hm, s.m.tank.s_t), [140, 120, 100], atol=TOL)
    assert len(s.m.def_nh3_balance) == 3 and max_residual(s.m, "def_nh3_balance") < TOL
    # a flow limit of 15 t/h: charge 15 at t=1 (tank 115), the rest bought when needed
    s = new(h)
    src = source(s, "nh3src", s.nh3, [0.0, 10.0, 10.0])
    build_ammonia_storage(s.block("tank"), AmmoniaStorageParams(flow_max_t_per_h=15.0), h, s.nh3)
    demand(s.nh3, h, [0, 20, 20])
    finish(s)
    hm, obj = solve(s.m)
    assert obj == pytest.approx(10 * 25, rel=1e-9)
    np.testing.assert_allclose(val(hm, src.x)[0], 15, atol=TOL)


def test_hydrogen_storage_round_trip() -> None:
    # H2 free at t=1, 1 万元/MWh at t=2, demand 10 MW both: charge 10/0.9025 at t=1 and discharge 10 at t=2
    h = Horizon(2, 1.0)
    s = new(h)
    src = source(s, "hy", s.h2, [0.0, 1.0])
    build_hydrogen_storage(s.block("h2s"), HydrogenStorageParams(), h, s.h2)
    demand(s.h2, h, 10)
    finish(s)
    hm, obj = solve(s.m)
    assert obj == pytest.approx(0, abs=TOL)
    assert val(hm, s.m.h2s.h_charge_mw)[0] == pytest.approx(10 / 0.95**2, rel=1e-9)
    np.testing.assert_allclose(val(hm, s.m.h2s.h_discharge_mw), [0, 10], atol=TOL)
    np.testing.assert_allclose(val(hm, s.m.h2s.soc_mwh), [50 + 10 / 0.95, 50], atol=TOL)
    np.testing.assert_allclose(val(hm, src.x), [10 + 10 / 0.95**2, 0], atol=TOL)
    assert s.m.h2s.h_charge_mw[1].bounds == (0, 30) and s.m.h2s.soc_mwh[1].bounds == (5, 95)


def test_default_electric_and_heat_storage_build_as_lp() -> None:
    h = Horizon(2, 1.0)
    s = new(h)
    build_power_storage(s.block("ess"), default_electric_storage(), h, s.bus)
    build_heat_storage(s.block("hs"), default_heat_storage(), h, s.heat)
    assert s.m.ess.p_charge_kw[1].bounds == (0, 50) and s.m.ess.soc_kwh[1].bounds == (20, 180)
    assert s.m.hs.soc_kwh[1].bounds == (0, 150)
    assert not any(v.is_binary() for v in s.m.component_data_objects(pyo.Var))


# ------------------------------------------------------------------------------------ CCUS


def test_ccus_build_and_solvent_constant() -> None:
    p = CCUSParams()
    assert p.k_sol_m3_per_t == pytest.approx(61.08 / (44 * 0.4 * 0.3 * 1.01))
    assert p.k_sol_m3_per_t == pytest.approx(11.45, abs=0.01)
    h = Horizon(3, 0.5)
    s = new(h)
    s.led.emit(1, 10.0)
    handle = build_ccus(s.block("cc"), p, h, s.bus, s.led)
    assert set(handle.costs) == {"cost_sequestration"}
    assert comp_names(s.m.cc, pyo.Constraint) == {"def_ccus_power", "def_absorbed", "res_capture", "def_regen",
                                                  "def_rich", "res_total_volume", "res_end_rich"}
    assert n_data(s.m.cc, pyo.Constraint) == 6 * 3 + 1
    assert s.m.cc.v_rich_m3[1].bounds == (300, 2700)
    assert s.m.cc.m_sto_t[1].bounds == (0, 50)  # 100 t/h on 0.5 h periods
    assert s.led.released is not None and s.led.released[1] is s.m.cc.m_out_t[1]


@pytest.mark.parametrize("dt", [1.0, 0.5])
def test_ccus_shifts_regeneration_to_cheap_hours_within_the_rich_tank(dt: float) -> None:
    # 100 t CO2 per period; released CO2 costs 0.5 万元/t (conventional trading, no allowance); electricity
    # 1 万元/MWh at t=1, free at t=2; regeneration 0.269 MWh/t, sequestration 0.01 万元/t (limit 200 t/h).
    # Capturing pays even at t=1 (0.279 < 0.5), so 90 t (mu_CO2) are absorbed each period and all 180 t are
    # regenerated and sequestered, as late as possible.  Hourly: the rich tank binds, V^F,max = 0.7 * 3000 =
    # 2100 m3, so 1500 + k (90 - r_1) <= 2100 -> r_1 = 90 - 600/k = 37.6 t, r_2 = 142.4 t.  On 0.5 h, period 2
    # regenerates at most P^CCUS,max dt / mu = 50 * 0.5 / 0.269 = 92.9 t (P = mu M / dt), so r_1 = 87.1 t.
    h = Horizon(2, dt)
    s = new(h)
    for t in h.periods:
        s.led.emit(t, 100.0)
    source(s, "el", s.bus, [1.0, 0.0])
    p = CCUSParams(p_fixed_mw=0.0, m_sto_max_t_per_h=200.0, v_rich_max_frac=0.7, v_lean_min_frac=0.3)
    build_ccus(s.block("cc"), p, h, s.bus, s.led)
    trade = build_carbon_trading(s.block("ct"), CarbonTradingParams(price_per_t=0.5, conventional=True), h, s.led,
                                 s.bus)
    finish(s)
    hm, obj = solve(s.m)
    k = p.k_sol_m3_per_t
    absorbed, regen = val(hm, s.m.cc.m_absorbed_t), val(hm, s.m.cc.m_regen_t)
    np.testing.assert_allclose(absorbed, 90, atol=1e-6)
    np.testing.assert_allclose(val(hm, s.m.cc.m_out_t), 10, atol=1e-6)
    r1 = max(90 - 600 / k, 180 - min(200 * dt, 50 * dt / 0.269))
    np.testing.assert_allclose(regen, [r1, 180 - r1], atol=1e-6)
    np.testing.assert_allclose(val(hm, s.m.cc.m_sto_t), regen, atol=1e-6)  # no methanation here
    vf1 = 1500 + k * (90 - r1)
    np.testing.assert_allclose(val(hm, s.m.cc.v_rich_m3), [vf1, 1500], atol=1e-6)
    np.testing.assert_allclose(val(hm, s.m.cc.v_lean_m3), [3000 - vf1, 1500], atol=1e-6)
    np.testing.assert_allclose(val(hm, s.m.cc.p_ccus_mw), 0.269 * regen / dt, atol=1e-9)
    if dt == 1.0:
        assert vf1 == pytest.approx(2100)
    assert ev(trade.co2["e_act_t"]) == pytest.approx(20, abs=1e-6)
    assert obj == pytest.approx(0.5 * 20 + 0.01 * 180 + 0.269 * r1, rel=1e-9)


def small_system(h: Horizon, wind: Sequence[float], pload: Sequence[float], hload: Sequence[float],
                 trading: CarbonTradingParams | None = None) -> tuple[Sys, dict[str, LowCarbonHandle]]:
    """GT + GB + one TP + P2G + P2A + NH3/H2/electric/heat storage + EH + wind + slacks + CCUS + trading."""
    s = new(h)
    hd: dict[str, LowCarbonHandle] = {}
    build_fixed_load(s.block("pl"), h, s.bus, pload)
    build_fixed_load(s.block("hl"), h, s.heat, hload)
    hd["wind"] = build_wind_farm(s.block("wt"), WindFarmParams(capacity_mw=300), h, s.bus, wind)
    hd["buy"] = build_gas_purchase(s.block("buy"), GasPurchaseParams(), h, s.gas)
    hd["gt"] = build_gas_turbine(s.block("gt"), GasTurbineParams(), h, s.bus, s.heat, s.gas, s.h2, s.led)
    hd["gb"] = build_gas_boiler(s.block("gb"), GasBoilerParams(), h, s.heat, s.gas, s.h2, s.led)
    hd["tp"] = build_thermal_unit(s.block("tp"), ThermalUnitParams(), h, s.bus, s.nh3, s.led)
    hd["p2g"] = build_p2g(s.block("p2g"), P2GParams(), h, s.bus, s.h2, s.gas, s.led)
    hd["p2a"] = build_p2a(s.block("p2a"), P2AParams(), h, s.bus, s.heat, s.h2, s.nh3)
    hd["nh3s"] = build_ammonia_storage(s.block("nh3s"), AmmoniaStorageParams(), h, s.nh3)
    hd["h2s"] = build_hydrogen_storage(s.block("h2s"), HydrogenStorageParams(), h, s.h2)
    build_power_storage(s.block("ess"), default_electric_storage(), h, s.bus)
    build_heat_storage(s.block("hs"), default_heat_storage(), h, s.heat)
    hd["eh"] = build_electric_heater(s.block("eh"), ElectricHeaterParams(), h, s.bus, s.heat)
    hd["slack"] = build_recourse_slacks(s.block("slack"), RecourseSlackParams(), h, s.bus, s.heat)
    hd["cc"] = build_ccus(s.block("cc"), CCUSParams(), h, s.bus, s.led)
    hd["ct"] = build_carbon_trading(s.block("ct"), trading or CarbonTradingParams(), h, s.led, s.bus)
    finish(s)
    return s, hd


def test_small_system_co2_mass_balance_and_all_carriers_balanced() -> None:
    h = Horizon(6, 1.0)
    s, hd = small_system(h, wind=[250, 280, 150, 60, 20, 200], pload=[320, 300, 340, 380, 400, 330],
                         hload=[160, 150, 140, 170, 180, 160])
    hm, obj = solve(s.m, lp=False)
    m = s.m
    # every carrier balanced, every balance row present
    for name in ("def_balance", "def_heat_balance", "def_gas_balance", "def_h2_balance", "def_nh3_balance"):
        assert len(m.component(name)) == h.n
        assert max_residual(m, name) < TOL, name
    # CO2: daily emitted = released + methanated + sequestered (solvent tanks return to start)
    emitted = np.array([ev(m.cc.m_all_t[t]) for t in h.periods])
    gt_tp_gb = np.array([ev(m.gt.m_co2_t[t] + m.gb.m_co2_t[t] + m.tp.m_co2_t[t]) for t in h.periods])
    np.testing.assert_allclose(emitted, gt_tp_gb, rtol=1e-12)
    released, absorbed = val(hm, m.cc.m_out_t), val(hm, m.cc.m_absorbed_t)
    methanated = np.array([ev(m.p2g.m_co2_demand_t[t]) for t in h.periods])
    sequestered = val(hm, m.cc.m_sto_t)
    assert emitted.sum() == pytest.approx(released.sum() + methanated.sum() + sequestered.sum(), rel=1e-9)
    assert sequestered.sum() > 1.0 and absorbed.sum() > 1.0  # the case uses the CCUS
    assert np.all(absorbed <= 0.9 * emitted + TOL) and np.all(absorbed >= -TOL)
    np.testing.assert_allclose(val(hm, m.cc.m_regen_t), methanated + sequestered, atol=TOL)
    # tanks: bounds, V^P + V^F constant, both recursions (CC-3 lean from CC-4), both ends (CC-5)
    k = CCUSParams().k_sol_m3_per_t
    vf, vp = val(hm, m.cc.v_rich_m3), val(hm, m.cc.v_lean_m3)
    assert np.all((vf >= 300 - TOL) & (vf <= 2700 + TOL)) and np.all((vp >= 300 - TOL) & (vp <= 2700 + TOL))
    np.testing.assert_allclose(vf + vp, 3000, atol=TOL)
    regen = val(hm, m.cc.m_regen_t)
    np.testing.assert_allclose(vp, np.concatenate([[1500], vp[:-1]]) + k * (regen - absorbed), atol=1e-6)
    assert vf[-1] == pytest.approx(1500, abs=TOL) and vp[-1] == pytest.approx(1500, abs=TOL)
    np.testing.assert_allclose(val(hm, m.cc.p_ccus_mw), 0.269 * regen, atol=1e-9)
    # storages back to their start
    assert val(hm, m.nh3s.s_t)[-1] == pytest.approx(100, abs=TOL)
    assert val(hm, m.h2s.soc_mwh)[-1] == pytest.approx(50, abs=TOL)
    # trading: E^act = sum m^out, E^tr = E^act - E^free, cost = CT-3 of E^tr
    e_free = 0.728 * h.dt_h * (val(hm, m.gt.p_mw) + val(hm, m.tp.p_mw)).sum() + \
        0.367 * h.dt_h * (val(hm, m.gt.r_mw) + val(hm, m.gb.r_mw)).sum()
    assert ev(m.ct.e_free_t) == pytest.approx(e_free, rel=1e-9)
    assert ev(m.ct.e_act_t) == pytest.approx(released.sum(), rel=1e-9)
    assert ev(hd["ct"].costs["cost_trade"]) == pytest.approx(
        stepped_carbon_cost(ev(m.ct.e_tr_t), 0.025, 200, 0.25), abs=1e-7)
    # the named costs add up to the objective; TP binaries are integral
    named = sum(ev(c) for handle in hd.values() for c in handle.costs.values())
    assert named == pytest.approx(obj, rel=1e-9)
    for var in hd["tp"].binaries.values():
        np.testing.assert_allclose(val(hm, var), np.round(val(hm, var)), atol=1e-9)


def test_ledger_order_is_enforced() -> None:
    h = Horizon(2, 1.0)
    s = new(h)
    build_ccus(s.block("cc"), CCUSParams(), h, s.bus, s.led)
    with pytest.raises(ValueError, match=r"CarbonLedger\.emitted was already read by CCUS: build the emitters"):
        build_gas_boiler(s.block("gb"), GasBoilerParams(), h, s.heat, s.gas, s.h2, s.led)
    with pytest.raises(ValueError, match=r"CarbonLedger\.co2_demand was already read by CCUS"):
        build_p2g(s.block("p2g"), P2GParams(), h, s.bus, s.h2, s.gas, s.led)
    s = new(h)
    build_carbon_trading(s.block("ct"), CarbonTradingParams(), h, s.led, s.bus)
    with pytest.raises(ValueError, match=r"CarbonLedger\.released was already read by carbon trading"):
        build_ccus(s.block("cc"), CCUSParams(), h, s.bus, s.led)
    with pytest.raises(ValueError, match=r"CarbonLedger\.allowance was already read by carbon trading"):
        s.led.allocate(1, electric_mwh=1.0)


# ------------------------------------------------------------------------------------ carbon trading


D = 200.0
E_POINTS = [-50.0, 0.0, D / 2, D, 1.5 * D, 2 * D, 2.5 * D, 3 * D, 3.5 * D, 4 * D, 4 * D + 100, 4 * D + 1e-3,
            D - 1e-3, D + 1e-3, 2 * D + 1e-3, 3 * D - 1e-3]


def test_stepped_carbon_cost_formula() -> None:
    c, s = 0.025, 0.25
    assert stepped_carbon_cost(-50, c, D, s) == pytest.approx(-c * 50)  # surplus sold at c
    assert stepped_carbon_cost(D, c, D, s) == pytest.approx(c * D)
    assert stepped_carbon_cost(2 * D, c, D, s) == pytest.approx(c * D * (2 + s))
    assert stepped_carbon_cost(3 * D, c, D, s) == pytest.approx(c * D * (3 + 3 * s))
    assert stepped_carbon_cost(4 * D, c, D, s) == pytest.approx(c * D * (4 + 6 * s))
    assert stepped_carbon_cost(4 * D + 100, c, D, s) == pytest.approx(c * D * (4 + 6 * s) + c * (1 + 4 * s) * 100)
    # continuous and convex: the increments grow tier by tier
    xs = np.linspace(-100, 5 * D, 601)
    ys = np.array([stepped_carbon_cost(x, c, D, s) for x in xs])
    slopes = np.diff(ys) / np.diff(xs)
    assert np.all(np.diff(slopes) >= -1e-12)
    assert slopes.min() == pytest.approx(c) and slopes.max() == pytest.approx(c * (1 + 4 * s))


def trading_model(E: float, params: CarbonTradingParams, split: bool = True) -> tuple[Sys, LowCarbonHandle]:
    """A ledger whose E^tr is ``E``: fixed emissions on two periods and a fixed free allocation."""
    h = Horizon(2, 1.0)
    s = new(h)
    s.m.em = pyo.Var(h.periods)
    emit = 100.0 + max(E, 0.0)  # emitted over the day
    alloc_mwh = (emit - E) / params.delta_e_t_per_mwh  # E^free = emit - E
    for t in h.periods:
        s.m.em[t].fix(emit / 2 if split else (emit if t == 1 else 0.0))
        s.led.emit(t, s.m.em[t])
    s.led.allocate(1, electric_mwh=alloc_mwh)
    handle = build_carbon_trading(s.block("ct"), params, h, s.led, s.bus)
    finish(s, extra=0.0 * s.m.em[1])
    return s, handle


@pytest.mark.parametrize("E", E_POINTS)
def test_stepped_trading_lp_equals_ct3(E: float) -> None:
    s, handle = trading_model(E, CarbonTradingParams())
    hm, obj = solve(s.m)
    assert ev(s.m.ct.e_tr_t) == pytest.approx(E, abs=1e-9)
    assert obj == pytest.approx(stepped_carbon_cost(E, 0.025, D, 0.25), abs=1e-9)
    assert ev(handle.costs["cost_trade"]) == pytest.approx(obj, abs=1e-9)
    tiers = val(hm, s.m.ct.e_tier_t)
    if E > D:  # above the first tier the tiers fill in order (tier 1 and the sale share price c below d)
        full = int(min(E // D, 4))
        np.testing.assert_allclose(tiers[1:full], D, atol=1e-7)
        assert np.all(tiers[full + 1:] <= 1e-7) or full == 4


@pytest.mark.parametrize("E", E_POINTS)
def test_conventional_trading_is_linear(E: float) -> None:
    s, handle = trading_model(E, CarbonTradingParams(conventional=True), split=False)
    assert s.m.ct.component("e_tier_t") is None
    _, obj = solve(s.m)
    assert obj == pytest.approx(0.025 * E, abs=1e-9)
    assert ev(handle.costs["cost_trade"]) == pytest.approx(0.025 * E, abs=1e-9)


REWARD_POINTS = [-4 * D - 300, -4 * D - 1e-3, -4 * D, -3.5 * D, -3 * D, -2 * D - 1e-3, -2 * D, -1.5 * D, -D - 1e-3,
                 -D, -D / 2, 0.0, D, 2.5 * D, 4 * D + 100]


def test_reward_stepped_cost_formula() -> None:
    c, s = 0.025, 0.25
    # sales: the first d at c, the next at c(1+s), ...; the mirror of CT-3, so F(-E) = -F(E)
    assert stepped_carbon_cost(-D, c, D, s, reward=True) == pytest.approx(-c * D)
    assert stepped_carbon_cost(-2 * D, c, D, s, reward=True) == pytest.approx(-c * D * (2 + s))
    assert stepped_carbon_cost(-3 * D, c, D, s, reward=True) == pytest.approx(-c * D * (3 + 3 * s))
    assert stepped_carbon_cost(-4 * D - 100, c, D, s, reward=True) == pytest.approx(
        -c * D * (4 + 6 * s) - c * (1 + 4 * s) * 100)
    assert stepped_carbon_cost(2.5 * D, c, D, s, reward=True) == stepped_carbon_cost(2.5 * D, c, D, s)
    xs = np.linspace(-5 * D, 0, 501)
    ys = np.array([stepped_carbon_cost(x, c, D, s, reward=True) for x in xs])
    slopes = np.diff(ys) / np.diff(xs)
    assert np.all(np.diff(slopes) <= 1e-12)  # concave on the sale side: deeper reduction earns more per tonne
    assert slopes.max() == pytest.approx(c * (1 + 4 * s)) and slopes.min() == pytest.approx(c)


@pytest.mark.parametrize("E", REWARD_POINTS)
def test_reward_trading_milp_equals_formula(E: float) -> None:
    s, handle = trading_model(E, CarbonTradingParams(reward=True))
    hm, obj = solve(s.m, lp=False)
    assert ev(s.m.ct.e_tr_t) == pytest.approx(E, abs=1e-9)
    assert obj == pytest.approx(stepped_carbon_cost(E, 0.025, D, 0.25, reward=True), abs=1e-8)
    assert ev(handle.costs["cost_trade"]) == pytest.approx(obj, abs=1e-8)
    tier = val(hm, s.m.ct.tier)
    assert tier.sum() == pytest.approx(1.0) and set(np.round(tier)) <= {0.0, 1.0}
    if E < 0 and abs(E / D - round(E / D)) > 1e-3:  # strictly inside a sale tier: that tier's line is chosen
        assert int(np.argmax(tier)) == min(int(-E // D), 4)
    # every tier's line is an upper bound of F that touches it on its tier (so min over tiers = F)
    c, sig = 0.025, 0.25
    for k in range(5):
        line = c * (1 + k * sig) * (E + k * D) - stepped_carbon_cost(k * D, c, D, sig)
        surcharge = stepped_carbon_cost(E, c, D, sig) - c * E
        assert line + surcharge >= stepped_carbon_cost(E, c, D, sig, reward=True) - 1e-9
    assert handle.binaries["ct_tier"] is s.m.ct.tier


def test_reward_trading_bound_from_variable_bounds() -> None:
    s, _ = trading_model(-2.5 * D, CarbonTradingParams(reward=True, volume_bound_t=None))
    big_m = pyo.value(s.m.ct.volume_bound_t)
    assert 2.5 * D <= big_m < 1e4  # the fixed emissions and allocation bound E^tr
    _, obj = solve(s.m, lp=False)
    assert obj == pytest.approx(stepped_carbon_cost(-2.5 * D, 0.025, D, 0.25, reward=True), abs=1e-8)


def test_reward_trading_params_are_checked() -> None:
    with pytest.raises(ValueError, match="exclude each other"):
        CarbonTradingParams(reward=True, conventional=True)
    with pytest.raises(ValueError, match="volume_bound_t"):
        CarbonTradingParams(reward=True, volume_bound_t=-1.0)
    # a traded volume outside the declared bound M is infeasible, not silently capped
    s, _ = trading_model(-3 * D, CarbonTradingParams(reward=True, volume_bound_t=D))
    hm = HighsModel(s.m, "lowcarbon", SolverOptions(), relax_integrality=False)
    with pytest.raises(SolveError, match="infeasible"):
        hm.solve()


def test_trading_prices_are_mutable() -> None:
    s, _ = trading_model(2.5 * D, CarbonTradingParams())
    hm, _ = solve(s.m)
    s.m.ct.growth = 0.5
    s.m.ct.price_per_t = 0.05
    hm.update()
    assert hm.solve().objective == pytest.approx(stepped_carbon_cost(2.5 * D, 0.05, D, 0.5), rel=1e-9)


# ------------------------------------------------------------------------------------ wind, DR, EV


def test_wind_availability_is_a_fixed_column_and_can_be_refixed(caplog: pytest.LogCaptureFixture) -> None:
    # load 30; availability [50, 20]: wind [30, 20], curtailed 20 at t=1 (0.05 each), shed 10 at t=2 (50 each)
    h = Horizon(2, 1.0)
    s = new(h)
    handle = build_wind_farm(s.block("wt"), WindFarmParams(capacity_mw=100), h, s.bus, [50, 20])
    demand(s.bus, h, 30)
    sl = slacks(s)
    finish(s)
    wt = s.m.wt
    assert all(wt.p_avail_mw[t].fixed for t in h.periods) and wt.p_avail_mw[1].bounds == (0, 100)
    assert wt.p_wind_mw[1].bounds == (0, None)  # RES-1 is the row res_wind_avail, not a bound
    assert len(wt.res_wind_avail) == 2
    hm, obj = solve(s.m)
    np.testing.assert_allclose(val(hm, wt.p_wind_mw), [30, 20], atol=TOL)
    assert ev(handle.costs["cost_curtailment"]) == pytest.approx(0.05 * 20)
    assert obj == pytest.approx(0.05 * 20 + 50 * 10, rel=1e-9)
    caplog.set_level(logging.DEBUG, logger="agents.milp")
    set_wind_availability(wt, [10, 40])  # now: wind [10, 30], shed 20 at t=1, curtailed 10 at t=2
    hm.update()
    assert hm.solve().objective == pytest.approx(0.05 * 10 + 50 * 20, rel=1e-9)
    np.testing.assert_allclose(val(hm, sl.p_shed_mw), [20, 0], atol=TOL)
    assert not any("structure changed" in r.getMessage() for r in caplog.records)
    with pytest.raises(ValueError, match=r"wind available_mw must be in \[0, capacity_mw = 100\], got 120"):
        set_wind_availability(wt, [10, 120])
    with pytest.raises(ValueError, match=r"wind available_mw: expected 2 values"):
        set_wind_availability(wt, [10, 20, 30])


def test_demand_response_transfer_substitution_curtailment() -> None:
    # electricity [1, 3, 2], heat 2 万元/MWh; loads 20 MW el and 10 MW heat.
    # transfer (c^tr 0.1 per end): 5 MW from t=2 to t=1 (gain 2 - 0.2);
    # substitution (phi 0.9, c^sub 0.1): t=1 +4 (saves 7.2 heat for 4 el + 0.4), t=2, t=3 -4 (12 or 8 el for 7.2 + 0.4);
    # curtailment (c^cut 2.5) only where electricity costs 3: 2 MW at t=2.
    h = Horizon(3, 1.0)
    s = new(h)
    el = source(s, "el", s.bus, [1.0, 3.0, 2.0])
    ht = source(s, "ht", s.heat, 2.0)
    demand(s.bus, h, 20)
    demand(s.heat, h, 10)
    p = DemandResponseParams(p_tran_max_mw=5, r_tran_max_mw=3, p_sub_max_mw=4, p_cut_max_mw=2, r_cut_max_mw=1,
                             phi=0.9, cost_tran_per_mwh=0.1, cost_sub_per_mwh=0.1, cost_cut_per_mwh=2.5)
    handle = build_demand_response(s.block("dr"), p, h, s.bus, s.heat)
    finish(s)
    hm, obj = solve(s.m)
    dr = s.m.dr
    np.testing.assert_allclose(val(hm, dr.p_tran_mw), [5, -5, 0], atol=TOL)
    assert val(hm, dr.p_tran_mw).sum() == pytest.approx(0, abs=TOL)
    np.testing.assert_allclose(val(hm, dr.r_tran_mw), 0, atol=TOL)
    np.testing.assert_allclose(val(hm, dr.p_sub_mw), [4, -4, -4], atol=TOL)
    np.testing.assert_allclose(val(hm, dr.r_sub_mw), -0.9 * val(hm, dr.p_sub_mw), atol=TOL)  # R^sub = -phi P^sub
    np.testing.assert_allclose(val(hm, dr.p_cut_mw), [0, 2, 0], atol=TOL)
    np.testing.assert_allclose(val(hm, dr.r_cut_mw), 0, atol=TOL)
    # BAL3-E / BAL3-H: demand + P^tran + P^sub - P^cut
    np.testing.assert_allclose(val(hm, el.x), [29, 9, 16], atol=TOL)
    np.testing.assert_allclose(val(hm, ht.x), [6.4, 13.6, 13.6], atol=TOL)
    assert ev(handle.costs["cost_dr"]) == pytest.approx(0.1 * 10 + 0.1 * 12 + 2.5 * 2, rel=1e-9)
    assert obj == pytest.approx(88 + 67.2 + 7.2, rel=1e-9)


def test_demand_response_heat_transfer_sums_to_zero_with_dt() -> None:
    # heat [1, 3] at dt = 0.5: 3 MW moved from t=2 to t=1 (limit 3)
    h = Horizon(2, 0.5)
    s = new(h)
    source(s, "ht", s.heat, [1.0, 3.0])
    source(s, "el", s.bus, 1.0)
    demand(s.heat, h, 10)
    p = DemandResponseParams(p_sub_max_mw=0, p_cut_max_mw=0, r_cut_max_mw=0, r_tran_max_mw=3)
    build_demand_response(s.block("dr"), p, h, s.bus, s.heat)
    finish(s)
    hm, obj = solve(s.m)
    np.testing.assert_allclose(val(hm, s.m.dr.r_tran_mw), [3, -3], atol=TOL)
    assert obj == pytest.approx(0.5 * (13 * 1 + 7 * 3) + 0.5 * 0.01 * 6, rel=1e-9)


def test_default_ev_fleet_shape() -> None:
    f = default_ev_fleet()
    assert len(f.groups) == 30 and len({g.name for g in f.groups}) == 30
    kinds = [g.kind for g in f.groups]
    assert kinds.count("work") == 12 and kinds.count("home") == 18
    assert sum(g.capacity_kwh for g in f.groups) == pytest.approx(300)  # MWh
    assert sum(g.p_charge_max_kw for g in f.groups) == pytest.approx(75)  # MW
    work = [g for g in f.groups if g.kind == "work"]
    assert min(g.arrival_period for g in work) == 8 and max(g.departure_period for g in work) == 21  # 07-20 h
    assert default_ev_fleet() == f  # deterministic
    q = default_ev_fleet(Horizon(96, 0.25))
    assert q.groups[0].arrival_period == 29 and q.groups[0].departure_period == 69  # 07:00, 17:00


def test_ev_fleet_windows_costs_and_no_binary() -> None:
    # one work group plugged 2..3 (arrives 0.5, must leave with 0.8 of 10 MWh: 3 MWh stored = 3/0.95 drawn),
    # one home group plugged 1 and 4 (cyclic, 2 MWh trip).  Electricity [3, 1, 2, 1].
    h = Horizon(4, 1.0)
    groups = (
        EVParams("w", arrival_period=2, departure_period=4, capacity_kwh=10, p_charge_max_kw=5,
                 p_discharge_max_kw=5, soc_arrival=0.5, soc_required=0.8, c_ev=0.01),
        EVParams("hm", kind="home", arrival_period=4, departure_period=2, capacity_kwh=10, p_charge_max_kw=5,
                 p_discharge_max_kw=5, trip_kwh=2.0, soc_required=0.5, c_ev=0.01),
    )
    s = new(h)
    el = source(s, "el", s.bus, [3.0, 1.0, 2.0, 1.0])
    handle = build_ev_fleet(s.block("ev"), EVFleetParams(groups, discharge_compensation_per_mwh=0.02), h, s.bus)
    finish(s)
    assert handle.binaries == {} and set(handle.costs) == {"cost_ev"}
    hm, obj = solve(s.m)  # an LP: the EV mode binaries are relaxed
    w, hg = s.m.ev.group["w"], s.m.ev.group["hm"]
    ch_w, ch_h = val(hm, w.p_charge_kw), val(hm, hg.p_charge_kw)
    np.testing.assert_allclose(ch_w, [0, 3 / 0.95, 0, 0], atol=TOL)  # cheapest plugged period
    np.testing.assert_allclose(ch_h, [0, 0, 0, 2 / 0.95], atol=TOL)  # home: plugged at t=1 and t=4 only
    np.testing.assert_allclose(val(hm, s.m.ev.p_discharge_mw), 0, atol=TOL)
    np.testing.assert_allclose(val(hm, el.x), ch_w + ch_h, atol=TOL)
    cost = 0.01 * (3 + 2) / 0.95
    assert ev(handle.costs["cost_ev"]) == pytest.approx(cost, rel=1e-9)
    assert obj == pytest.approx(cost + 5 / 0.95, rel=1e-9)
    # V2G: discharging into a dear period pays 0.02 + 0.01 per MWh on top of the charging cost
    assert s.m.ev.group["w"].p_charge_kw[1].bounds == (0, 0) and s.m.ev.group["hm"].p_charge_kw[2].bounds == (0, 0)


def test_ev_fleet_v2g_pays_the_discharge_compensation() -> None:
    # a work group plugged 1..2 arrives at SOC 0.9 and must leave with 0.8 (10 MWh): it can give
    # 0.1 * 10 * 0.95 = 0.95 MWh at t=1 instead of electricity at 10 万元/MWh, paying c^EV + c^EV,dis = 0.03
    h = Horizon(2, 1.0)
    g = EVParams("w", arrival_period=1, departure_period=3, capacity_kwh=10, p_charge_max_kw=5, p_discharge_max_kw=5,
                 soc_arrival=0.9, soc_required=0.8, c_ev=0.01)
    s = new(h)
    source(s, "el", s.bus, 10.0)
    demand(s.bus, h, [2, 0])
    handle = build_ev_fleet(s.block("ev"), EVFleetParams((g,), discharge_compensation_per_mwh=0.02), h, s.bus)
    finish(s)
    hm, obj = solve(s.m)
    np.testing.assert_allclose(val(hm, s.m.ev.p_discharge_mw), [0.95, 0], atol=TOL)
    assert ev(handle.costs["cost_ev"]) == pytest.approx(0.03 * 0.95, rel=1e-9)
    assert obj == pytest.approx(10 * (2 - 0.95) + 0.03 * 0.95, rel=1e-9)


def test_ev_fleet_rejects_minimum_power_and_duplicates() -> None:
    g = EVParams("a", arrival_period=1, departure_period=3, p_charge_min_kw=1.0)
    with pytest.raises(ValueError, match=r"EVFleetParams\.groups must be groups with p_charge_min_kw"):
        EVFleetParams((g,))
    g2 = EVParams("a", arrival_period=1, departure_period=3)
    with pytest.raises(ValueError, match=r"EVFleetParams\.groups must be EVParams with distinct names, got \['a'\]"):
        EVFleetParams((g2, g2))
    with pytest.raises(ValueError, match=r"EVFleetParams\.groups must be a non-empty tuple"):
        EVFleetParams(())


# ------------------------------------------------------------------------------------ a default 24-h day


def test_default_day_with_fixed_commitment_is_a_balanced_lp() -> None:
    """The 24-h system with every default, TP commitment fixed on (the recourse of SPEC §6.5): an LP."""
    h = DA_HORIZON
    hours = np.arange(24)
    s = new(h)
    hd: dict[str, LowCarbonHandle] = {}
    build_fixed_load(s.block("pl"), h, s.bus, 500 + 150 * np.sin((hours - 8) / 24 * 2 * np.pi))
    build_fixed_load(s.block("hl"), h, s.heat, 250 + 80 * np.cos((hours - 3) / 24 * 2 * np.pi))
    hd["wt"] = build_wind_farm(s.block("wt"), WindFarmParams(), h, s.bus,
                               300 + 200 * np.cos((hours - 2) / 24 * 2 * np.pi))
    hd["buy"] = build_gas_purchase(s.block("buy"), GasPurchaseParams(), h, s.gas)
    hd["gt"] = build_gas_turbine(s.block("gt"), GasTurbineParams(), h, s.bus, s.heat, s.gas, s.h2, s.led)
    hd["gb"] = build_gas_boiler(s.block("gb"), GasBoilerParams(), h, s.heat, s.gas, s.h2, s.led)
    for i, unit in enumerate(default_thermal_units()):
        hd[f"tp{i}"] = build_thermal_unit(s.block(f"tp{i}"), unit, h, s.bus, s.nh3, s.led)
    hd["p2g"] = build_p2g(s.block("p2g"), P2GParams(), h, s.bus, s.h2, s.gas, s.led)
    hd["p2a"] = build_p2a(s.block("p2a"), P2AParams(), h, s.bus, s.heat, s.h2, s.nh3)
    build_ammonia_storage(s.block("nh3s"), AmmoniaStorageParams(), h, s.nh3)
    build_hydrogen_storage(s.block("h2s"), HydrogenStorageParams(), h, s.h2)
    build_power_storage(s.block("ess"), default_electric_storage(), h, s.bus)
    build_heat_storage(s.block("hs"), default_heat_storage(), h, s.heat)
    build_electric_heater(s.block("eh"), ElectricHeaterParams(), h, s.bus, s.heat)
    hd["dr"] = build_demand_response(s.block("dr"), DemandResponseParams(), h, s.bus, s.heat)
    fleet = default_ev_fleet(h)
    hd["ev"] = build_ev_fleet(s.block("ev"), fleet, h, s.bus)
    hd["slack"] = build_recourse_slacks(s.block("slack"), RecourseSlackParams(), h, s.bus, s.heat)
    hd["cc"] = build_ccus(s.block("cc"), CCUSParams(), h, s.bus, s.led)
    hd["ct"] = build_carbon_trading(s.block("ct"), CarbonTradingParams(), h, s.led, s.bus)
    finish(s)
    binaries = [v for hdl in hd.values() for var in hdl.binaries.values() for v in var.values()]
    n_bin = sum(1 for v in s.m.component_data_objects(pyo.Var) if v.is_binary())
    assert n_bin == len(binaries) == 2 * 3 * 24  # only the TP first stage
    for i in range(2):
        fix_on(s.m.component(f"tp{i}"))
    hm, obj = solve(s.m, lp=False)
    for name in ("def_balance", "def_heat_balance", "def_gas_balance", "def_h2_balance", "def_nh3_balance"):
        assert max_residual(s.m, name) < TOL, name
    named = {k: ev(c) for hdl in hd.values() for k, c in hdl.costs.items() if k != "cost_coal"}
    coal = sum(ev(hd[f"tp{i}"].costs["cost_coal"]) for i in range(2))
    assert coal + sum(named.values()) == pytest.approx(obj, rel=1e-9)
    assert ev(s.m.slack.cost_slack) == pytest.approx(0, abs=1e-6)  # the default day needs no slack
    # EV windows: no power while away; departure SOC reached
    for g in fleet.groups:
        blk = s.m.ev.group[g.name]
        away = sorted(set(h.periods) - set(g.plugged_periods(h)))
        assert np.max(np.abs(val(hm, blk.p_charge_kw)[np.array(away) - 1]), initial=0) < TOL
        assert np.max(np.abs(val(hm, blk.p_discharge_kw)[np.array(away) - 1]), initial=0) < TOL
        assert val(hm, blk.soc_frac)[list(blk.SOC).index(g.departure_soc_period(h))] >= 0.8 - 1e-7
    # blend bounds hold everywhere (violated by nothing)
    for dev in ("gt", "gb"):
        blk = s.m.component(dev)
        assert np.all(blend_ratio(val(hm, blk.q_ch4_mw), val(hm, blk.h_h2_mw)) <= 0.2 + 1e-9)


# ------------------------------------------------------------------------------------ defaults, bad input


def test_defaults_match_the_spec_table() -> None:
    tp = ThermalUnitParams()
    assert (tp.p_min_mw, tp.p_max_mw, tp.ramp_up_mw_per_h, tp.coal_a_t_per_mw2h, tp.coal_b_t_per_mwh,
            tp.coal_c_t_per_h, tp.coal_price_per_t, tp.startup_cost, tp.shutdown_cost, tp.k_nh3_max) == \
        (60, 300, 90, 1e-4, 0.28, 12, 0.09, 1.0, 0.5, 0.25)
    assert [u.name for u in default_thermal_units()] == ["TP1", "TP2"]
    gt, gb = GasTurbineParams(), GasBoilerParams()
    assert (gt.p_min_mw, gt.p_max_mw, gt.eta_power, gt.eta_heat, gt.k_h2_max) == (20, 150, 0.35, 0.45, 0.2)
    assert (gb.r_max_mw, gb.eta_heat, gb.e_gas_t_per_mwh) == (150, 0.9, 0.198)
    assert (P2GParams().p_max_mw, P2GParams().eta_p2h, P2GParams().eta_ch4) == (60, 0.7, 0.75)
    assert (P2AParams().p_max_mw, P2AParams().w_nh3_mwh_per_t, P2AParams().mu_h2n) == (30, 0.6, 0.1776)
    cc = CCUSParams()
    assert (cc.mu_ccus_mwh_per_t, cc.p_fixed_mw, cc.mu_co2, cc.v_total_m3, cc.m_sto_max_t_per_h,
            cc.sequestration_cost_per_t) == (0.269, 2.0, 0.9, 3000, 100, 0.01)
    ct = CarbonTradingParams()
    assert (ct.price_per_t, ct.interval_t, ct.growth, ct.delta_e_t_per_mwh, ct.delta_h_t_per_mwh) == \
        (0.025, 200, 0.25, 0.728, 0.367)
    assert (WindFarmParams().capacity_mw, WindFarmParams().curtailment_cost_per_mwh) == (600, 0.05)
    assert GasPurchaseParams().price_per_m3 == 2.5e-4 and ElectricHeaterParams().efficiency == 0.98
    assert (AmmoniaStorageParams().capacity_t, HydrogenStorageParams().capacity_mwh) == (200, 100)
    es, hs = default_electric_storage(), default_heat_storage()
    assert (es.capacity_kwh, es.p_charge_max_kw, hs.capacity_kwh, hs.h_charge_max_kw) == (200, 50, 150, 50)
    # every Params field says where its default comes from
    for cls in (ThermalUnitParams, GasTurbineParams, GasBoilerParams, P2GParams, P2AParams, CCUSParams,
                CarbonTradingParams, WindFarmParams, GasPurchaseParams, ElectricHeaterParams, AmmoniaStorageParams,
                HydrogenStorageParams, DemandResponseParams, RecourseSlackParams):
        for f in dataclasses.fields(cls):
            if f.name == "name":
                continue
            src = f.metadata.get("source", "")
            assert src.startswith(("[default]", "[paper]", "[proposed]", "SPEC")), (cls.__name__, f.name)
            assert "unit" in f.metadata, (cls.__name__, f.name)


@pytest.mark.parametrize("make, match", [
    (lambda: GasTurbineParams(p_min_mw=200), r"GasTurbineParams\.p_min_mw must be in \[0, p_max_mw = 150\.0\]"),
    (lambda: GasTurbineParams(eta_heat=0.7), r"GasTurbineParams\.eta_heat must be in \(0, 1 - eta_power = 0\.65\]"),
    (lambda: GasTurbineParams(k_h2_max=1.2), r"GasTurbineParams\.k_h2_max must be in \[0, 1\], got 1\.2"),
    (lambda: GasTurbineParams(p_initial_mw=10), r"GasTurbineParams\.p_initial_mw must be in \[p_min_mw, p_max_mw\]"),
    (lambda: GasTurbineParams(r_max_mw=-1), r"GasTurbineParams\.r_max_mw must be finite and >= r_min_mw = 0\.0"),
    (lambda: GasBoilerParams(eta_heat=0), r"GasBoilerParams\.eta_heat must be in \(0, 1\], got 0"),
    (lambda: GasBoilerParams(ramp_up_mw_per_h=float("nan")), r"GasBoilerParams\.ramp_up_mw_per_h must be finite"),
    (lambda: ThermalUnitParams(n_segments=0), r"ThermalUnitParams\.n_segments must be an integer >= 1, got 0"),
    (lambda: ThermalUnitParams(coal_a_t_per_mw2h=-1e-4), r"ThermalUnitParams\.coal_a_t_per_mw2h must be finite "
                                                         r"and >= 0"),
    (lambda: ThermalUnitParams(on_initial=False, p_initial_mw=100),
     r"ThermalUnitParams\.p_initial_mw must be in \[0\.0, 0\.0\] \(the unit is off before period 1\)"),
    (lambda: ThermalUnitParams(p_initial_mw=30), r"ThermalUnitParams\.p_initial_mw must be in \[60\.0, 300\.0\]"),
    (lambda: ThermalUnitParams(startup_limit_mw=30), r"ThermalUnitParams\.startup_limit_mw must be in "
                                                     r"\[p_min_mw, p_max_mw\] = \[60\.0, 300\.0\], or None"),
    (lambda: ThermalUnitParams(lhv_coal_mj_per_kg=0), r"ThermalUnitParams\.lhv_coal_mj_per_kg must be finite and > 0"),
    (lambda: P2GParams(eta_p2h=1.5), r"P2GParams\.eta_p2h must be in \(0, 1\]"),
    (lambda: P2GParams(methanation_max_mw=-2), r"P2GParams\.methanation_max_mw must be finite and >= 0, or None"),
    (lambda: P2AParams(w_nh3_mwh_per_t=0), r"P2AParams\.w_nh3_mwh_per_t must be finite and > 0"),
    (lambda: P2AParams(eta_reaction=2), r"P2AParams\.eta_reaction must be in \[0, 1\]"),
    (lambda: AmmoniaStorageParams(soc_initial_frac=1.5),
     r"AmmoniaStorageParams\.soc_initial_frac must be in \[soc_min_frac, soc_max_frac\] = \[0\.0, 1\.0\]"),
    (lambda: HydrogenStorageParams(capacity_mwh=0), r"HydrogenStorageParams\.capacity_mwh must be finite and > 0"),
    (lambda: CCUSParams(v_rich_max_frac=0.05), r"CCUSParams\.v_rich_max_frac must be in \(v_rich_min_frac = 0\.1, 1\]"),
    (lambda: CCUSParams(v_rich_initial_frac=0.95),
     r"CCUSParams\.v_rich_initial_frac must be in \[0\.1, 0\.9\] \(both tanks within their bounds at t=0\)"),
    (lambda: CCUSParams(mu_co2=1.1), r"CCUSParams\.mu_co2 must be in \[0, 1\]"),
    (lambda: CCUSParams(p_min_mw=60), r"CCUSParams\.p_min_mw must be in \[0, p_max_mw = 50\.0\]"),
    (lambda: CarbonTradingParams(interval_t=0), r"CarbonTradingParams\.interval_t must be finite and > 0"),
    (lambda: CarbonTradingParams(growth=-0.1), r"CarbonTradingParams\.growth must be finite and >= 0"),
    (lambda: WindFarmParams(capacity_mw=0), r"WindFarmParams\.capacity_mw must be finite and > 0"),
    (lambda: DemandResponseParams(phi=0), r"DemandResponseParams\.phi must be finite and > 0"),
    (lambda: DemandResponseParams(p_tran_max_mw=-1), r"DemandResponseParams\.p_tran_max_mw must be finite and >= 0"),
    (lambda: RecourseSlackParams(shed_cost_per_mwh=-1), r"RecourseSlackParams\.shed_cost_per_mwh must be finite"),
    (lambda: GasPurchaseParams(q_max_mw=float("inf")), r"GasPurchaseParams\.q_max_mw must be finite and >= 0, "
                                                       r"or None"),
    (lambda: ElectricHeaterParams(efficiency=1.01), r"ElectricHeaterParams\.efficiency must be in \(0, 1\]"),
])
def test_parameter_validation_names_field_and_range(make: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()


def test_wind_profile_is_checked_at_build() -> None:
    h = Horizon(2, 1.0)
    s = new(h)
    with pytest.raises(ValueError, match=r"wind available_mw must be in \[0, capacity_mw = 600\], got -5 in period 2"):
        build_wind_farm(s.block("wt"), WindFarmParams(), h, s.bus, [10, -5])


def test_replace_keeps_validation() -> None:
    with pytest.raises(ValueError, match=r"ThermalUnitParams\.p_min_mw must be in \[0, p_max_mw = 50\]"):
        replace(ThermalUnitParams(), p_max_mw=50)

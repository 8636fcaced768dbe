r"""Natural gas and H2-blended gas units of paper 003 (SPEC §3.9, §3.15): gas purchase, gas turbine
and gas boiler.  Builders only build.

* **Gas purchase** (:func:`build_gas_purchase`, SPEC §3.15 F^buy): ``0 <= Q^G_t <= Qbar^G`` (MW LHV)
  injected on the gas bus; ``cost_gas = c^gas sum Q^G_t dt / L_CH4``.
* **Gas turbine** (:func:`build_gas_turbine`, GT-1…GT-3, 003 eqs. 1–2), always on: electric and heat
  output within their limits and ramp limits (GT-1); both proportional to the fuel input
  ``Q_t + H_t`` (CH4 + H2, MW LHV) by ``eta^P`` and ``eta^R`` (GT-2); the volumetric H2 share at most
  ``K^max`` (GT-3, linearised: ``(1-K) H/L_H2 <= K Q/L_CH4``, or ``=`` with ``blend_fixed``); CO2
  ``e_gas Q dt`` of the CH4 share only, and the electric and heat energy that earns free allocation,
  booked on the :class:`~agents.devices.carbon.CarbonLedger`.
* **Gas boiler** (:func:`build_gas_boiler`, 003 eqs. 3–4): heat within limits and ramps (eq. 3),
  ``R = eta^R (Q + H)`` (eq. 4), the same blending row (GT-3 form), CO2 and heat allocation on the
  ledger.

Neither unit has an own cost: the gas is paid by the purchase.  :data:`LHV_H2_MWH_PER_M3` and
:data:`LHV_CH4_MWH_PER_M3` are the volumetric heating values of SPEC §3.15.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyomo.core as pyo

from agents.devices.carbon import CarbonLedger
from agents.devices.core import (
    _MINE,
    Bus,
    GasBus,
    HeatBus,
    Horizon,
    HydrogenBus,
    LowCarbonHandle,
    _bad,
    _check_efficiency,
    _check_initial,
    _check_nonneg,
    _check_optional_nonneg,
    _check_positive,
    _check_range,
    _check_unit_interval,
    _finite,
    _p,
    _periods,
    _ramp_rows,
)

# ---------------------------------------------------------------------------- heating values


#: Volumetric LHV of H2 and CH4 [MWh/m³] `[default] SPEC §3.15`.
LHV_H2_MWH_PER_M3 = 3.0e-3
LHV_CH4_MWH_PER_M3 = 9.97e-3


# ---------------------------------------------------------------------------- gas purchase (F^buy)


@dataclass(frozen=True)
class GasPurchaseParams:
    """Gas purchase from the upstream network (SPEC §3.15 F^buy)."""

    price_per_m3: float = _p(2.5e-4, "万元/m3", "gas price c^gas")
    q_max_mw: float | None = _p(None, "MW", "purchase limit (None: unlimited)", _MINE)
    lhv_ch4_mwh_per_m3: float = _p(LHV_CH4_MWH_PER_M3, "MWh/m3", "CH4 LHV L_CH4")

    def __post_init__(self) -> None:
        _check_nonneg(self, "price_per_m3")
        _check_optional_nonneg(self, "q_max_mw")
        _check_positive(self, "lhv_ch4_mwh_per_m3")


def build_gas_purchase(block: pyo.Block, params: GasPurchaseParams, horizon: Horizon, gas: GasBus) -> LowCarbonHandle:
    r"""Gas bought from the upstream network (SPEC §3.15).

    .. math::

        0 \le Q^G_t \le \bar Q^G,\qquad F^{buy} = \sum_t c^{gas} Q^G_t \Delta t / L_{CH_4}

    Injection ``+Q^G_t`` on the gas bus; ``cost_gas`` (mutable price ``price_per_m3``).
    """
    T = _periods(block, horizon)
    dt = horizon.dt_h
    b = block
    b.price_per_m3 = pyo.Param(initialize=params.price_per_m3, mutable=True, doc="gas price c^gas [万元/m3]")
    if params.q_max_mw is None:
        b.q_gas_mw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="gas purchased Q^G_t [MW LHV]")
    else:
        b.q_max_mw = pyo.Param(initialize=params.q_max_mw, mutable=True, doc="purchase limit [MW LHV]")
        b.q_gas_mw = pyo.Var(b.T, bounds=(0, b.q_max_mw), doc="gas purchased Q^G_t [MW LHV]")
    k = dt / params.lhv_ch4_mwh_per_m3
    b.cost_gas = pyo.Expression(expr=b.price_per_m3 * k * pyo.quicksum(b.q_gas_mw[t] for t in T),
                                doc="gas purchase cost F^buy [万元]")
    for t in T:
        gas.inject(t, b.q_gas_mw[t])
    gas.cost.append(b.cost_gas)
    return LowCarbonHandle(block=b, outputs={"gas_purchase_mw": (b.q_gas_mw, "MW")}, costs={"cost_gas": b.cost_gas})


# ---------------------------------------------------------------------------- GT / GB (§3.9)


def _blend_row(b: pyo.Block, k_max: float, fixed: bool, lhv_h2: float, lhv_ch4: float, label: str) -> None:
    r"""``(1-K^max) H_t / L_H2 <= K^max Q_t / L_CH4`` (``==`` if ``fixed``), scaled by ``L_H2``."""
    b.k_h2_max = pyo.Param(initialize=k_max, mutable=True, doc=f"maximum volumetric H2 blending ratio [1] ({label})")
    ratio = lhv_h2 / lhv_ch4

    def rule(m: pyo.Block, t: int) -> Any:
        lhs = (1 - m.k_h2_max) * m.h_h2_mw[t]
        rhs = m.k_h2_max * ratio * m.q_ch4_mw[t]
        return lhs == rhs if fixed else lhs <= rhs

    b.res_blend = pyo.Constraint(b.T, rule=rule, doc=f"H2 blending ratio {'=' if fixed else '<='} K ({label}, "
                                 "linearised, both sides times L_H2)")


@dataclass(frozen=True)
class GasTurbineParams:
    """H2-blended gas turbine (SPEC §3.9, GT-1…GT-3)."""

    p_min_mw: float = _p(20.0, "MW", "minimum electric output P^CHP,min")
    p_max_mw: float = _p(150.0, "MW", "maximum electric output P^CHP,max")
    eta_power: float = _p(0.35, "1", "electric efficiency eta^P_CHP")
    eta_heat: float = _p(0.45, "1", "heat efficiency eta^R_CHP")
    ramp_up_mw_per_h: float = _p(60.0, "MW/h", "electric ramp-up limit", _MINE)
    ramp_down_mw_per_h: float = _p(60.0, "MW/h", "electric ramp-down limit", _MINE)
    r_min_mw: float = _p(0.0, "MW", "minimum heat output (GT-1)", _MINE)
    r_max_mw: float | None = _p(None, "MW", "maximum heat output (None: only through GT-2)", _MINE)
    heat_ramp_up_mw_per_h: float | None = _p(None, "MW/h", "heat ramp-up (None: implied by GT-2)", _MINE)
    heat_ramp_down_mw_per_h: float | None = _p(None, "MW/h", "heat ramp-down (None: implied by GT-2)", _MINE)
    p_initial_mw: float | None = _p(None, "MW", "output before period 1 (None: no ramp row in period 1)", _MINE)
    k_h2_max: float = _p(0.20, "1", "maximum volumetric H2 blending ratio K^max")
    blend_fixed: bool = _p(False, "", "True: blending ratio = K (equality) instead of <= K", "[proposed]")
    e_gas_t_per_mwh: float = _p(0.198, "t/MWh", "CO2 per MWh of CH4 (LHV)")
    lhv_h2_mwh_per_m3: float = _p(LHV_H2_MWH_PER_M3, "MWh/m3", "H2 LHV L_H2")
    lhv_ch4_mwh_per_m3: float = _p(LHV_CH4_MWH_PER_M3, "MWh/m3", "CH4 LHV L_CH4")

    def __post_init__(self) -> None:
        _check_range(self, "p_min_mw", "p_max_mw")
        _check_efficiency(self, "eta_power", "eta_heat")
        if self.eta_power + self.eta_heat > 1:
            raise _bad("GasTurbineParams", "eta_heat", f"in (0, 1 - eta_power = {1 - self.eta_power:g}]", self.eta_heat)
        _check_nonneg(self, "ramp_up_mw_per_h", "ramp_down_mw_per_h", "r_min_mw", "e_gas_t_per_mwh")
        _check_optional_nonneg(self, "heat_ramp_up_mw_per_h", "heat_ramp_down_mw_per_h")
        if self.r_max_mw is not None and not (_finite(self.r_max_mw) and self.r_max_mw >= self.r_min_mw):
            raise _bad("GasTurbineParams", "r_max_mw", f"finite and >= r_min_mw = {self.r_min_mw}, or None",
                       self.r_max_mw)
        _check_initial(self, "p_initial_mw", "p_min_mw", "p_max_mw")
        _check_unit_interval(self, "k_h2_max")
        _check_positive(self, "lhv_h2_mwh_per_m3", "lhv_ch4_mwh_per_m3")


def build_gas_turbine(
    block: pyo.Block, params: GasTurbineParams, horizon: Horizon, bus: Bus, heat: HeatBus, gas: GasBus,
    h2: HydrogenBus, ledger: CarbonLedger,
) -> LowCarbonHandle:
    r"""H2-blended gas turbine, always on (SPEC §3.9, 003 eqs. 1–2).

    .. math::

        P^{PH}_t = P^{CHP}_t + R^{CHP}_t,\ P^{min} \le P^{CHP}_t \le P^{max},\ R^{min} \le R^{CHP}_t \le R^{max}
        -\Delta P^{dn}\Delta t \le P^{CHP}_t - P^{CHP}_{t-1} \le \Delta P^{up}\Delta t\ \
            (\text{and the same for } R \text{ if heat ramps are given})                 \text{(GT-1)}
        P^{CHP}_t = (Q_t + H_t)\eta^P,\qquad R^{CHP}_t = (Q_t + H_t)\eta^R              \text{(GT-2)}
        (1-K^{max})\,H_t/L_{H_2} \le K^{max} Q_t/L_{CH_4}\quad(= \text{ if blend\_fixed})  \text{(GT-3, linearised)}
        M^{CO_2}_{CHP,t} = e_{gas} Q_t \Delta t                                            \text{([reconstructed])}

    ``Q_t`` (``q_ch4_mw``) is drawn from the gas bus, ``H_t`` (``h_h2_mw``) from the H2 bus; ``P`` and
    ``R`` are injected on the electric and heat buses.  ``K^max`` is the mutable Param ``k_h2_max``
    (0 forces ``H = 0``: scenario without blending).  Limits are column bounds (mutable Params);
    the heat ramp defaults to none because GT-2 fixes ``R = (eta^R/eta^P) P``.  Ledger: emission
    ``m_co2_t`` and free-allocation energy ``P dt`` (δ_e) and ``R dt`` (δ_h) of CT-1.  No own cost:
    the gas is paid by :func:`build_gas_purchase`.
    """
    T = _periods(block, horizon)
    dt = horizon.dt_h
    b = block
    b.p_min_mw = pyo.Param(initialize=params.p_min_mw, mutable=True, doc="minimum electric output [MW]")
    b.p_max_mw = pyo.Param(initialize=params.p_max_mw, mutable=True, doc="maximum electric output [MW]")
    b.r_min_mw = pyo.Param(initialize=params.r_min_mw, mutable=True, doc="minimum heat output [MW]")
    b.p_mw = pyo.Var(b.T, bounds=(b.p_min_mw, b.p_max_mw), doc="electric output P^CHP_t [MW] (GT-1)")
    if params.r_max_mw is None:
        b.r_mw = pyo.Var(b.T, bounds=(b.r_min_mw, None), doc="heat output R^CHP_t [MW] (GT-1)")
    else:
        b.r_max_mw = pyo.Param(initialize=params.r_max_mw, mutable=True, doc="maximum heat output [MW]")
        b.r_mw = pyo.Var(b.T, bounds=(b.r_min_mw, b.r_max_mw), doc="heat output R^CHP_t [MW] (GT-1)")
    b.q_ch4_mw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="CH4 input Q^CHP_CH4,t [MW LHV] (GT-2)")
    b.h_h2_mw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="H2 input H^CHP_H2,t [MW LHV] (GT-2)")
    eta_p, eta_r = params.eta_power, params.eta_heat
    b.def_power = pyo.Constraint(b.T, rule=lambda m, t: m.p_mw[t] == eta_p * (m.q_ch4_mw[t] + m.h_h2_mw[t]),
                                 doc="electric output = eta^P (Q + H) (GT-2)")
    b.def_heat = pyo.Constraint(b.T, rule=lambda m, t: m.r_mw[t] == eta_r * (m.q_ch4_mw[t] + m.h_h2_mw[t]),
                                doc="heat output = eta^R (Q + H) (GT-2)")
    _blend_row(b, params.k_h2_max, params.blend_fixed, params.lhv_h2_mwh_per_m3, params.lhv_ch4_mwh_per_m3, "GT-3")
    _ramp_rows(b, b.p_mw, horizon, params.ramp_up_mw_per_h, params.ramp_down_mw_per_h, params.p_initial_mw,
               "p_initial_mw", "", "GT-1")
    if params.heat_ramp_up_mw_per_h is not None or params.heat_ramp_down_mw_per_h is not None:
        r0 = None if params.p_initial_mw is None else params.p_initial_mw * eta_r / eta_p
        _ramp_rows(b, b.r_mw, horizon, params.heat_ramp_up_mw_per_h, params.heat_ramp_down_mw_per_h, r0,
                   "r_initial_mw", "heat_", "GT-1 heat")
    b.p_total_mw = pyo.Expression(b.T, rule=lambda m, t: m.p_mw[t] + m.r_mw[t],
                                  doc="total output P^PH_t = P + R [MW] (GT-1)")
    e = params.e_gas_t_per_mwh
    b.m_co2_t = pyo.Expression(b.T, rule=lambda m, t: e * dt * m.q_ch4_mw[t],
                               doc="CO2 emitted M^CO2_CHP,t [t per period] (only the CH4 share)")
    for t in T:
        bus.inject(t, b.p_mw[t])
        heat.inject(t, b.r_mw[t])
        gas.inject(t, -b.q_ch4_mw[t])
        h2.inject(t, -b.h_h2_mw[t])
        ledger.emit(t, b.m_co2_t[t])
        ledger.allocate(t, electric_mwh=dt * b.p_mw[t], heat_mwh=dt * b.r_mw[t])
    return LowCarbonHandle(
        block=b,
        outputs={"gt_power_mw": (b.p_mw, "MW"), "gt_heat_mw": (b.r_mw, "MW"), "gt_ch4_mw": (b.q_ch4_mw, "MW"),
                 "gt_h2_mw": (b.h_h2_mw, "MW")},
        co2={"emitted_t": b.m_co2_t},
    )


@dataclass(frozen=True)
class GasBoilerParams:
    """H2-blended gas boiler (SPEC §3.9, 003 eqs. 3–4)."""

    r_min_mw: float = _p(0.0, "MW", "minimum heat output R^min_GB")
    r_max_mw: float = _p(150.0, "MW", "maximum heat output R^max_GB")
    eta_heat: float = _p(0.90, "1", "heat efficiency eta^R_GB")
    ramp_up_mw_per_h: float = _p(75.0, "MW/h", "heat ramp-up limit", _MINE)
    ramp_down_mw_per_h: float = _p(75.0, "MW/h", "heat ramp-down limit", _MINE)
    r_initial_mw: float | None = _p(None, "MW", "output before period 1 (None: no ramp row in period 1)", _MINE)
    k_h2_max: float = _p(0.20, "1", "maximum H2 blending ratio K^max (molar = volumetric)")
    blend_fixed: bool = _p(False, "", "True: blending ratio = K (equality)", "[proposed]")
    e_gas_t_per_mwh: float = _p(0.198, "t/MWh", "CO2 per MWh of CH4 (LHV)")
    lhv_h2_mwh_per_m3: float = _p(LHV_H2_MWH_PER_M3, "MWh/m3", "H2 LHV L_H2")
    lhv_ch4_mwh_per_m3: float = _p(LHV_CH4_MWH_PER_M3, "MWh/m3", "CH4 LHV L_CH4")

    def __post_init__(self) -> None:
        _check_range(self, "r_min_mw", "r_max_mw")
        _check_efficiency(self, "eta_heat")
        _check_nonneg(self, "ramp_up_mw_per_h", "ramp_down_mw_per_h", "e_gas_t_per_mwh")
        _check_initial(self, "r_initial_mw", "r_min_mw", "r_max_mw")
        _check_unit_interval(self, "k_h2_max")
        _check_positive(self, "lhv_h2_mwh_per_m3", "lhv_ch4_mwh_per_m3")


def build_gas_boiler(
    block: pyo.Block, params: GasBoilerParams, horizon: Horizon, heat: HeatBus, gas: GasBus, h2: HydrogenBus,
    ledger: CarbonLedger,
) -> LowCarbonHandle:
    r"""H2-blended gas boiler (SPEC §3.9, 003 eqs. 3–4).

    .. math::

        R^{min}_{GB} \le R^{GB}_t \le R^{max}_{GB},\quad
        -\Delta R^{dn}\Delta t \le R^{GB}_t - R^{GB}_{t-1} \le \Delta R^{up}\Delta t     \text{(eq. 3, as GT-1)}
        R^{GB}_t = (Q_t + H_t)\eta^R_{GB}                                                  \text{(eq. 4)}
        (1-K^{max})\,H_t/L_{H_2} \le K^{max} Q_t/L_{CH_4}          \text{(GT-3 form; molar = volumetric)}
        M^{CO_2}_{GB,t} = e_{gas} Q_t \Delta t                                             \text{([reconstructed])}

    Draws ``Q`` from the gas bus and ``H`` from the H2 bus, injects ``R`` on the heat bus.  Ledger:
    emission ``m_co2_t`` and the heat energy ``R dt`` (δ_h of CT-1).  No own cost.
    """
    T = _periods(block, horizon)
    dt = horizon.dt_h
    b = block
    b.r_min_mw = pyo.Param(initialize=params.r_min_mw, mutable=True, doc="minimum heat output [MW]")
    b.r_max_mw = pyo.Param(initialize=params.r_max_mw, mutable=True, doc="maximum heat output [MW]")
    b.r_mw = pyo.Var(b.T, bounds=(b.r_min_mw, b.r_max_mw), doc="heat output R^GB_t [MW] (eq. 3)")
    b.q_ch4_mw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="CH4 input Q^GB_CH4,t [MW LHV] (eq. 4)")
    b.h_h2_mw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="H2 input H^GB_H2,t [MW LHV] (eq. 4)")
    eta = params.eta_heat
    b.def_heat = pyo.Constraint(b.T, rule=lambda m, t: m.r_mw[t] == eta * (m.q_ch4_mw[t] + m.h_h2_mw[t]),
                                doc="heat output = eta^R (Q + H) (eq. 4)")
    _blend_row(b, params.k_h2_max, params.blend_fixed, params.lhv_h2_mwh_per_m3, params.lhv_ch4_mwh_per_m3,
               "GB, GT-3 form")
    _ramp_rows(b, b.r_mw, horizon, params.ramp_up_mw_per_h, params.ramp_down_mw_per_h, params.r_initial_mw,
               "r_initial_mw", "", "GB eq. 3")
    e = params.e_gas_t_per_mwh
    b.m_co2_t = pyo.Expression(b.T, rule=lambda m, t: e * dt * m.q_ch4_mw[t],
                               doc="CO2 emitted M^CO2_GB,t [t per period] (only the CH4 share)")
    for t in T:
        heat.inject(t, b.r_mw[t])
        gas.inject(t, -b.q_ch4_mw[t])
        h2.inject(t, -b.h_h2_mw[t])
        ledger.emit(t, b.m_co2_t[t])
        ledger.allocate(t, heat_mwh=dt * b.r_mw[t])
    return LowCarbonHandle(
        block=b,
        outputs={"gb_heat_mw": (b.r_mw, "MW"), "gb_ch4_mw": (b.q_ch4_mw, "MW"), "gb_h2_mw": (b.h_h2_mw, "MW")},
        co2={"emitted_t": b.m_co2_t},
    )

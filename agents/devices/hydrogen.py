r"""Power-to-X of paper 003 (SPEC §3.11, §3.12): electrolysis with methanation (P2G) and
power-to-ammonia (P2A).  Builders only build.

* **P2G** (:func:`build_p2g`, P2G-1…P2G-4, 003 eq. 11): the electrolyser makes H2 ``H^P2H = eta_P2H P``
  (P2G-1) onto the H2 bus; the methanation takes its feed from that bus and makes CH4
  ``Q^P2G = eta_CH4 H^CH4`` (P2G-2, optional output limit) onto the gas bus; the electrolyser input
  stays within its limits and ramps (P2G-3); the CO2 the methanation needs,
  ``rho_CO2 Q^P2G dt / L_CH4`` (P2G-4), is asked of the
  :class:`~agents.devices.carbon.CarbonLedger` (CCUS supplies it, CC-7).
* **P2A** (:func:`build_p2a`, P2A-1…P2A-3, 003 eqs. 18–19): electric input within limits and ramps
  (P2A-1); NH3 ``M^NH3 = P dt / w_NH3``, recovered reaction heat ``eta_r R^r M^NH3 / dt`` and the H2
  mass ``mu_H2N M^NH3`` (P2A-2) drawn from the H2 bus as ``LHV_H2 mu_H2N M^NH3 / dt`` (P2A-3); the
  NH3 goes on the NH3 bus (t per period).

The H2 and NH3 storages are in :mod:`agents.devices.storage`; the H2-blended consumers in
:mod:`agents.devices.gas` and :mod:`agents.devices.thermal`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyomo.core as pyo

from agents.devices.carbon import CarbonLedger
from agents.devices.core import (
    _MINE,
    AmmoniaBus,
    Bus,
    GasBus,
    HeatBus,
    Horizon,
    HydrogenBus,
    LowCarbonHandle,
    _check_efficiency,
    _check_initial,
    _check_nonneg,
    _check_optional_nonneg,
    _check_positive,
    _check_range,
    _check_unit_interval,
    _p,
    _periods,
    _ramp_rows,
)
from agents.devices.gas import LHV_CH4_MWH_PER_M3

# ---------------------------------------------------------------------------- P2G (§3.11)


@dataclass(frozen=True)
class P2GParams:
    """Electrolysis + methanation (SPEC §3.11, P2G-1…P2G-4)."""

    p_min_mw: float = _p(0.0, "MW", "minimum electrolyser input P^P2H,min")
    p_max_mw: float = _p(60.0, "MW", "maximum electrolyser input P^P2H,max")
    ramp_up_mw_per_h: float = _p(30.0, "MW/h", "electrolyser ramp-up", _MINE)
    ramp_down_mw_per_h: float = _p(30.0, "MW/h", "electrolyser ramp-down", _MINE)
    p_initial_mw: float | None = _p(None, "MW", "input before period 1 (None: no ramp row in period 1)", _MINE)
    eta_p2h: float = _p(0.70, "1", "electrolysis efficiency eta_P2H (MW H2 LHV per MW el)")
    eta_ch4: float = _p(0.75, "1", "methanation efficiency eta_CH4 (MW CH4 per MW H2)")
    methanation_max_mw: float | None = _p(None, "MW", "methanation CH4 output limit (None: unlimited)", _MINE)
    rho_co2_t_per_m3: float = _p(1.977e-3, "t/m3", "CO2 density rho_CO2")
    lhv_ch4_mwh_per_m3: float = _p(LHV_CH4_MWH_PER_M3, "MWh/m3", "CH4 LHV L_CH4")

    def __post_init__(self) -> None:
        _check_range(self, "p_min_mw", "p_max_mw")
        _check_nonneg(self, "ramp_up_mw_per_h", "ramp_down_mw_per_h", "rho_co2_t_per_m3")
        _check_initial(self, "p_initial_mw", "p_min_mw", "p_max_mw")
        _check_efficiency(self, "eta_p2h", "eta_ch4")
        _check_optional_nonneg(self, "methanation_max_mw")
        _check_positive(self, "lhv_ch4_mwh_per_m3")


def build_p2g(
    block: pyo.Block, params: P2GParams, horizon: Horizon, bus: Bus, h2: HydrogenBus, gas: GasBus,
    ledger: CarbonLedger,
) -> LowCarbonHandle:
    r"""Electrolyser and methanation reactor (SPEC §3.11, 003 eq. 11).

    .. math::

        H^{P2H}_t = \eta_{P2H} P^{P2H}_t                                                  \text{(P2G-1)}
        Q^{P2G}_{CH_4,t} = \eta_{CH_4} H^{CH_4}_t,\quad 0 \le Q^{P2G}_t \le \bar Q^{meth}  \text{(P2G-2)}
        P^{P2H,min} \le P^{P2H}_t \le P^{P2H,max},\
        -\Delta P^{\downarrow}\Delta t \le P^{P2H}_t - P^{P2H}_{t-1} \le \Delta P^{\uparrow}\Delta t  \text{(P2G-3)}
        M^{CO_2,CH_4}_t = \rho_{CO_2} Q^{P2G}_{CH_4,t}\Delta t / L_{CH_4}                  \text{(P2G-4)}

    Injections: ``-P^P2H`` (electric), ``+H^P2H - H^CH4`` (H2: the electrolyser output goes on the H2
    bus and the methanation takes its feed from it, so H2 storage and blending can use it),
    ``+Q^P2G`` (gas).  ``m_co2_demand_t`` goes to ``ledger.co2_demand`` (CCUS supplies it, CC-7).
    """
    T = _periods(block, horizon)
    dt = horizon.dt_h
    b = block
    b.p_min_mw = pyo.Param(initialize=params.p_min_mw, mutable=True, doc="minimum electrolyser input [MW]")
    b.p_max_mw = pyo.Param(initialize=params.p_max_mw, mutable=True, doc="maximum electrolyser input [MW]")
    b.p_mw = pyo.Var(b.T, bounds=(b.p_min_mw, b.p_max_mw), doc="electrolyser input P^P2H_t [MW] (P2G-3)")
    b.h_p2h_mw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="H2 produced H^P2H_t [MW LHV] (P2G-1)")
    b.h_ch4_mw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="H2 fed to methanation H^CH4_t [MW LHV] (P2G-2)")
    if params.methanation_max_mw is None:
        b.q_p2g_mw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="CH4 produced Q^P2G_CH4,t [MW LHV] (P2G-2)")
    else:
        b.q_meth_max_mw = pyo.Param(initialize=params.methanation_max_mw, mutable=True,
                                    doc="methanation output limit [MW LHV]")
        b.q_p2g_mw = pyo.Var(b.T, bounds=(0, b.q_meth_max_mw), doc="CH4 produced Q^P2G_CH4,t [MW LHV] (P2G-2)")
    eta_h, eta_c = params.eta_p2h, params.eta_ch4
    b.def_h2 = pyo.Constraint(b.T, rule=lambda m, t: m.h_p2h_mw[t] == eta_h * m.p_mw[t],
                              doc="H2 output = eta_P2H P (P2G-1)")
    b.def_ch4 = pyo.Constraint(b.T, rule=lambda m, t: m.q_p2g_mw[t] == eta_c * m.h_ch4_mw[t],
                               doc="CH4 output = eta_CH4 H2 feed (P2G-2)")
    _ramp_rows(b, b.p_mw, horizon, params.ramp_up_mw_per_h, params.ramp_down_mw_per_h, params.p_initial_mw,
               "p_initial_mw", "", "P2G-3")
    k = params.rho_co2_t_per_m3 * dt / params.lhv_ch4_mwh_per_m3
    b.m_co2_demand_t = pyo.Expression(b.T, rule=lambda m, t: k * m.q_p2g_mw[t],
                                      doc="CO2 needed by methanation M^CO2,CH4_t [t per period] (P2G-4)")
    for t in T:
        bus.inject(t, -b.p_mw[t])
        h2.inject(t, b.h_p2h_mw[t] - b.h_ch4_mw[t])
        gas.inject(t, b.q_p2g_mw[t])
        ledger.demand_co2(t, b.m_co2_demand_t[t])
    return LowCarbonHandle(
        block=b,
        outputs={"p2g_power_mw": (b.p_mw, "MW"), "p2g_h2_mw": (b.h_p2h_mw, "MW"),
                 "p2g_h2_to_ch4_mw": (b.h_ch4_mw, "MW"), "p2g_ch4_mw": (b.q_p2g_mw, "MW")},
        co2={"demand_t": b.m_co2_demand_t},
    )


# ---------------------------------------------------------------------------- P2A (§3.12)


@dataclass(frozen=True)
class P2AParams:
    """Power-to-ammonia (SPEC §3.12, P2A-1…P2A-3)."""

    p_min_mw: float = _p(0.0, "MW", "minimum electric input P^NH3,min")
    p_max_mw: float = _p(30.0, "MW", "maximum electric input P^NH3,max")
    ramp_up_mw_per_h: float = _p(15.0, "MW/h", "ramp-up limit", _MINE)
    ramp_down_mw_per_h: float = _p(15.0, "MW/h", "ramp-down limit", _MINE)
    p_initial_mw: float | None = _p(None, "MW", "input before period 1 (None: no ramp row in period 1)", _MINE)
    w_nh3_mwh_per_t: float = _p(0.6, "MWh/t", "electricity per tonne of NH3 w_NH3")
    mu_h2n: float = _p(0.1776, "t/t", "H2 mass per NH3 mass mu_H2N")
    reaction_heat_mwh_per_t: float = _p(0.75, "MWh/t", "reaction heat R^r_NH3")
    eta_reaction: float = _p(0.5, "1", "recovered share of the reaction heat eta_r")
    lhv_mass_h2_mwh_per_t: float = _p(33.3, "MWh/t", "H2 LHV per tonne")

    def __post_init__(self) -> None:
        _check_range(self, "p_min_mw", "p_max_mw")
        _check_nonneg(self, "ramp_up_mw_per_h", "ramp_down_mw_per_h", "mu_h2n", "reaction_heat_mwh_per_t")
        _check_initial(self, "p_initial_mw", "p_min_mw", "p_max_mw")
        _check_positive(self, "w_nh3_mwh_per_t", "lhv_mass_h2_mwh_per_t")
        _check_unit_interval(self, "eta_reaction")


def build_p2a(
    block: pyo.Block, params: P2AParams, horizon: Horizon, bus: Bus, heat: HeatBus, h2: HydrogenBus, nh3: AmmoniaBus,
) -> LowCarbonHandle:
    r"""Power-to-ammonia (SPEC §3.12, 003 eqs. 18–19).

    .. math::

        P^{NH_3,min} \le P^{NH_3}_t \le P^{NH_3,max},\
        -\Delta P^{dn}\Delta t \le P^{NH_3}_t - P^{NH_3}_{t-1} \le \Delta P^{up}\Delta t    \text{(P2A-1)}
        M^{NH_3}_t = P^{NH_3}_t\Delta t/w_{NH_3},\ R^{NH_3}_t = \eta_r R^r_{NH_3} M^{NH_3}_t/\Delta t,\
        M^{H_2}_{NH_3,t} = \mu_{H_2N} M^{NH_3}_t                                           \text{(P2A-2)}
        H^{P2A}_t = LHV^{mass}_{H_2} M^{H_2}_{NH_3,t}/\Delta t                             \text{(P2A-3)}

    Injections: ``-P^NH3`` (electric), ``+R^NH3`` (heat), ``-H^P2A`` (H2, MW), ``+M^NH3`` (NH3 bus,
    t per period).  With the SPEC defaults one tonne of NH3 needs 0.6 MWh of electricity but
    5.9 MWh of H2, so P2A is limited by the H2 supply long before ``P^NH3,max``.
    """
    T = _periods(block, horizon)
    dt = horizon.dt_h
    b = block
    b.p_min_mw = pyo.Param(initialize=params.p_min_mw, mutable=True, doc="minimum electric input [MW]")
    b.p_max_mw = pyo.Param(initialize=params.p_max_mw, mutable=True, doc="maximum electric input [MW]")
    b.p_mw = pyo.Var(b.T, bounds=(b.p_min_mw, b.p_max_mw), doc="electric input P^NH3_t [MW] (P2A-1)")
    b.m_nh3_t = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="NH3 produced M^NH3_t [t per period] (P2A-2)")
    b.r_mw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="recovered reaction heat R^NH3_t [MW] (P2A-2)")
    b.h_h2_mw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="H2 feed H^P2A_t [MW LHV] (P2A-3)")
    w, mu = params.w_nh3_mwh_per_t, params.mu_h2n
    k_r = params.eta_reaction * params.reaction_heat_mwh_per_t / dt
    k_h = params.lhv_mass_h2_mwh_per_t * mu / dt
    b.def_nh3 = pyo.Constraint(b.T, rule=lambda m, t: m.m_nh3_t[t] == dt / w * m.p_mw[t],
                               doc="NH3 = P dt / w_NH3 (P2A-2)")
    b.def_heat = pyo.Constraint(b.T, rule=lambda m, t: m.r_mw[t] == k_r * m.m_nh3_t[t],
                                doc="reaction heat = eta_r R^r M^NH3 / dt (P2A-2)")
    b.def_h2 = pyo.Constraint(b.T, rule=lambda m, t: m.h_h2_mw[t] == k_h * m.m_nh3_t[t],
                              doc="H2 feed = LHV_H2 mu_H2N M^NH3 / dt (P2A-2, P2A-3)")
    b.m_h2_t = pyo.Expression(b.T, rule=lambda m, t: mu * m.m_nh3_t[t],
                              doc="H2 mass consumed M^H2_NH3,t [t per period] (P2A-2)")
    _ramp_rows(b, b.p_mw, horizon, params.ramp_up_mw_per_h, params.ramp_down_mw_per_h, params.p_initial_mw,
               "p_initial_mw", "", "P2A-1")
    for t in T:
        bus.inject(t, -b.p_mw[t])
        heat.inject(t, b.r_mw[t])
        h2.inject(t, -b.h_h2_mw[t])
        nh3.inject(t, b.m_nh3_t[t])
    return LowCarbonHandle(
        block=b,
        outputs={"p2a_power_mw": (b.p_mw, "MW"), "p2a_nh3_t": (b.m_nh3_t, "t"), "p2a_heat_mw": (b.r_mw, "MW"),
                 "p2a_h2_mw": (b.h_h2_mw, "MW")},
    )

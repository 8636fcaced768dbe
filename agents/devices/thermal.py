r"""Dispatchable thermal generators (SPEC §3.2, §3.10): paper 000's CHP unit and paper 003's
NH3-co-fired coal units.  Builders only build.

* **CHP** (:func:`build_chp`, CHP-1…CHP-2, electric output only, always on): ``P^min <= P_t <= P^max``
  (CHP-1) and ramp limits from ``P_0`` (CHP-2); injection ``P_t``; cost ``c^CHP sum P_t dt``.
* **Thermal unit** (:func:`build_thermal_unit`, TP-1…TP-7, 003 eqs. 5–6), one block per unit:
  output ``P^min u + sum of segments`` within ``[u P^min, u P^max]`` (TP-1); ramp limits relaxed at
  start-up and shut-down (TP-2); start-up and shut-down indicators (TP-3); coal from a convex
  piecewise-linear fit of the quadratic curve ``a P² + b P + c`` (TP-4, no binaries); coal replaced by
  the heat of the co-fired NH3 drawn from the NH3 bus (TP-5) at most ``K^max_NH3`` of the coal heat
  (TP-6); CO2 ``e_coal`` per tonne of coal burnt (TP-7), booked with the electric energy for free
  allocation on the :class:`~agents.devices.carbon.CarbonLedger`.  Commitment, start-up and shut-down
  are the binaries (the first stage of 003's two-stage RO); costs ``cost_coal``, ``cost_startstop``,
  ``cost_om`` (F^th).  :func:`default_thermal_units` are the two units of SPEC §3.15.

The gas turbine (003's CHP with H2 blending) is in :mod:`agents.devices.gas`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyomo.core as pyo

from agents.devices.carbon import CarbonLedger
from agents.devices.core import (
    _MINE,
    AmmoniaBus,
    Bus,
    DeviceHandle,
    Horizon,
    LowCarbonHandle,
    _bad,
    _check_initial,
    _check_nonneg,
    _check_positive,
    _check_range,
    _finite,
    _p,
    _periods,
)

# ---------------------------------------------------------------------------- 3.2 CHP


@dataclass(frozen=True)
class CHPParams:
    """CHP unit, electric output only (SPEC §3.2)."""

    p_min_kw: float
    p_max_kw: float
    ramp_up_kw_per_h: float
    ramp_down_kw_per_h: float
    p_initial_kw: float
    cost_per_kwh: float


def build_chp(block: pyo.Block, params: CHPParams, horizon: Horizon, bus: Bus) -> DeviceHandle:
    r"""Dispatchable CHP, always on (SPEC §3.2).

    .. math::

        P^{min} \le P_t \le P^{max}                                      \text{(CHP-1)}
        -R^{dn}\Delta t \le P_t - P_{t-1} \le R^{up}\Delta t,\ P_0 = P^{init}   \text{(CHP-2)}

    Injection ``P_t``; cost ``c^CHP * sum P_t dt``.
    """
    T = horizon.periods
    dt = horizon.dt_h
    b = block
    b.T = pyo.Set(initialize=T, ordered=True, doc="periods")
    b.p_min_kw = pyo.Param(initialize=params.p_min_kw, mutable=True, doc="minimum output [kW]")
    b.p_max_kw = pyo.Param(initialize=params.p_max_kw, mutable=True, doc="maximum output [kW]")
    b.p_initial_kw = pyo.Param(initialize=params.p_initial_kw, mutable=True, doc="output before t=1 [kW]")
    b.p_kw = pyo.Var(b.T, bounds=(b.p_min_kw, b.p_max_kw), doc="electric output [kW] (CHP-1)")
    up = params.ramp_up_kw_per_h * dt
    dn = params.ramp_down_kw_per_h * dt

    def prev(m: pyo.Block, t: int) -> Any:
        return m.p_initial_kw if t == T[0] else m.p_kw[t - 1]

    b.res_ramp_up = pyo.Constraint(b.T, rule=lambda m, t: m.p_kw[t] - prev(m, t) <= up, doc="ramp up (CHP-2)")
    b.res_ramp_down = pyo.Constraint(b.T, rule=lambda m, t: prev(m, t) - m.p_kw[t] <= dn, doc="ramp down (CHP-2)")
    for t in T:
        bus.inject(t, b.p_kw[t])
    bus.cost.append(params.cost_per_kwh * dt * pyo.quicksum(b.p_kw[t] for t in T))
    return DeviceHandle(block=b, outputs={"chp_kw": (b.p_kw, "kW")})


# ---------------------------------------------------------------------------- TP (§3.10)


@dataclass(frozen=True)
class ThermalUnitParams:
    """NH3-co-fired coal unit (SPEC §3.10, TP-1…TP-7).  One unit per block."""

    name: str = _p("TP", "", "unit label", "")
    p_min_mw: float = _p(60.0, "MW", "minimum output when on P^min_g")
    p_max_mw: float = _p(300.0, "MW", "maximum output P^max_g")
    ramp_up_mw_per_h: float = _p(90.0, "MW/h", "ramp-up limit Delta P^up_g")
    ramp_down_mw_per_h: float = _p(90.0, "MW/h", "ramp-down limit Delta P^dn_g")
    coal_a_t_per_mw2h: float = _p(1e-4, "t/(MW^2 h)", "coal curve a_g (>= 0: convex)")
    coal_b_t_per_mwh: float = _p(0.28, "t/MWh", "coal curve b_g")
    coal_c_t_per_h: float = _p(12.0, "t/h", "coal curve c_g (no-load)")
    n_segments: int = _p(4, "", "segments of the piecewise-linear coal curve (TP-4)", "SPEC §3.10")
    coal_price_per_t: float = _p(0.09, "万元/t", "coal price c^coal")
    startup_cost: float = _p(1.0, "万元", "start-up cost c^su_g")
    shutdown_cost: float = _p(0.5, "万元", "shut-down cost c^sd_g")
    om_cost_per_mwh: float = _p(0.0, "万元/MWh", "O&M cost c^om_g", _MINE)
    k_nh3_max: float = _p(0.25, "1", "maximum NH3-to-coal heat ratio K^max_NH3 (TP-6)")
    lhv_nh3_mj_per_kg: float = _p(18.6, "MJ/kg", "NH3 LHV L_NH3")
    lhv_coal_mj_per_kg: float = _p(29.3, "MJ/kg", "coal LHV L_m")
    e_coal_t_per_t: float = _p(2.66, "t/t", "CO2 per tonne of coal e_coal")
    startup_limit_mw: float | None = _p(None, "MW", "largest output step at start-up, the TP-2 relaxation term "
                                        "(None: P^max as SPEC TP-2)", "[proposed] SPEC TP-2")
    shutdown_limit_mw: float | None = _p(None, "MW", "largest output step at shut-down, the TP-2 relaxation term "
                                         "(None: P^max as SPEC TP-2)", "[proposed] SPEC TP-2")
    on_initial: bool = _p(True, "", "commitment u_0 before period 1", _MINE)
    p_initial_mw: float | None = _p(None, "MW", "output P_0 before period 1 (None: P^min if on, else 0)", _MINE)

    def __post_init__(self) -> None:
        _check_range(self, "p_min_mw", "p_max_mw")
        _check_nonneg(self, "ramp_up_mw_per_h", "ramp_down_mw_per_h", "coal_a_t_per_mw2h", "coal_b_t_per_mwh",
                      "coal_c_t_per_h", "coal_price_per_t", "startup_cost", "shutdown_cost", "om_cost_per_mwh",
                      "k_nh3_max", "e_coal_t_per_t")
        _check_positive(self, "lhv_nh3_mj_per_kg", "lhv_coal_mj_per_kg")
        n = self.n_segments
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise _bad("ThermalUnitParams", "n_segments", "an integer >= 1", n)
        for name in ("startup_limit_mw", "shutdown_limit_mw"):
            _check_initial(self, name, "p_min_mw", "p_max_mw")
        if not isinstance(self.on_initial, bool | np.bool_):
            raise _bad("ThermalUnitParams", "on_initial", "True or False", self.on_initial)
        p0 = self.p_initial_mw
        if p0 is not None:
            lo, hi = (self.p_min_mw, self.p_max_mw) if self.on_initial else (0.0, 0.0)
            if not (_finite(p0) and lo <= p0 <= hi):
                raise _bad("ThermalUnitParams", "p_initial_mw",
                           f"in [{lo}, {hi}] (the unit is {'on' if self.on_initial else 'off'} before period 1), "
                           "or None", p0)

    @property
    def p0_mw(self) -> float:
        """P_0: ``p_initial_mw``, or P^min if on before period 1, else 0."""
        if self.p_initial_mw is not None:
            return float(self.p_initial_mw)
        return float(self.p_min_mw) if self.on_initial else 0.0

    def coal_t_per_h(self, p_mw: float | np.ndarray) -> float | np.ndarray:
        """The quadratic coal curve of an *on* unit, ``a P^2 + b P + c`` [t/h] (TP-4)."""
        return self.coal_a_t_per_mw2h * np.square(p_mw) + self.coal_b_t_per_mwh * p_mw + self.coal_c_t_per_h

    @property
    def breakpoints_mw(self) -> np.ndarray:
        """``P^min = x_0 < x_1 < ... < x_n = P^max``, equally spaced (TP-4 segments)."""
        return np.linspace(self.p_min_mw, self.p_max_mw, self.n_segments + 1)

    @property
    def segment_slopes(self) -> np.ndarray:
        """Secant slopes ``s_l = (f(x_l) - f(x_{l-1})) / (x_l - x_{l-1}) = a (x_{l-1} + x_l) + b`` [t/MWh]."""
        x = self.breakpoints_mw
        return self.coal_a_t_per_mw2h * (x[:-1] + x[1:]) + self.coal_b_t_per_mwh


def build_thermal_unit(
    block: pyo.Block, params: ThermalUnitParams, horizon: Horizon, bus: Bus, nh3: AmmoniaBus | None,
    ledger: CarbonLedger,
) -> LowCarbonHandle:
    r"""One NH3-co-fired thermal unit ``g`` (SPEC §3.10, 003 eqs. 5–6); build one block per unit.

    .. math::

        P_t = P^{min}u_t + \textstyle\sum_\ell P_{\ell,t},\quad 0 \le P_{\ell,t} \le w_\ell u_t
            \ \Rightarrow\ u_tP^{min} \le P_t \le u_tP^{max}                              \text{(TP-1)}
        P_t - P_{t-1} \le \Delta P^{up}\Delta t\,u_{t-1} + SU(1-u_{t-1}),\
        P_{t-1} - P_t \le \Delta P^{dn}\Delta t\,u_t + SD(1-u_t)                          \text{(TP-2)}
        su_t \ge u_t - u_{t-1},\qquad sd_t \ge u_{t-1} - u_t                              \text{(TP-3)}
        M^m_t = \big((aP_{min}^2+bP_{min}+c)u_t + \textstyle\sum_\ell s_\ell P_{\ell,t}\big)\Delta t
                                                                                          \text{(TP-4, piecewise)}
        M^{m,NH_3}_t = M^m_t - m^{NH_3}_t L_{NH_3}/L_m                                    \text{(TP-5)}
        m^{NH_3}_t L_{NH_3}/L_m \le K^{max}_{NH_3} M^{m,NH_3}_t,\quad m^{NH_3}_t, M^{m,NH_3}_t \ge 0  \text{(TP-6)}
        M^{CO_2}_{th,t} = e_{coal} M^{m,NH_3}_t                                           \text{(TP-7)}

    ``u`` (``u_on``), ``su`` (``su_startup``), ``sd`` (``sd_shutdown``) are binaries (the first
    stage; ``binaries`` ``tp_on``, ``tp_startup``, ``tp_shutdown``).  ``w_\ell = (P^{max}-P^{min})/n``
    and ``s_\ell`` are the secant slopes of the quadratic (:attr:`ThermalUnitParams.segment_slopes`):
    convex, so the segments fill in order without binaries whenever coal has a positive price; the
    curve is then exact at the breakpoints.  TP-1 holds through the segment rows (no separate row).
    ``u_0`` and ``P_0`` are the mutable Params ``u_initial`` and ``p_initial_mw``.  ``SU = SD = P^{max}``
    (SPEC TP-2) unless ``startup_limit_mw`` / ``shutdown_limit_mw`` are set: with ``P^max`` a unit may be
    off for one period and restart at full output, i.e. cycling resets its ramp; ``SU = P^min`` forbids
    that.

    NH3 ``m^{NH3}_t`` (``m_nh3_t``, t per period) is drawn from ``nh3``; ``nh3=None`` fixes it to 0
    (no co-firing).  ``K^max`` is the mutable Param ``k_nh3_max``.  Costs (F^th, SPEC §3.15):
    ``cost_coal = c^coal sum M^{m,NH3}``, ``cost_startstop = sum (c^su su + c^sd sd)``,
    ``cost_om = c^om sum P dt``.  Injection ``P_t``; ledger: ``m_co2_t`` and ``P dt`` (δ_e).
    Capacity and coal-curve data are plain numbers (rebuild to change them); prices, ``k_nh3_max``,
    ramps and the initial state are mutable.
    """
    T = _periods(block, horizon)
    dt = horizon.dt_h
    b = block
    n = int(params.n_segments)
    pmin, pmax = params.p_min_mw, params.p_max_mw
    width = (pmax - pmin) / n
    slopes = params.segment_slopes
    f_min = float(params.coal_t_per_h(pmin))
    b.SEG = pyo.Set(initialize=list(range(1, n + 1)), ordered=True, doc="segments of the coal curve (TP-4)")
    b.u_initial = pyo.Param(initialize=1 if params.on_initial else 0, mutable=True, doc="commitment u_0 [1]")
    b.p_initial_mw = pyo.Param(initialize=params.p0_mw, mutable=True, doc="output P_0 before period 1 [MW]")
    b.ramp_up_mw_per_h = pyo.Param(initialize=params.ramp_up_mw_per_h, mutable=True, doc="ramp-up limit [MW/h]")
    b.ramp_down_mw_per_h = pyo.Param(initialize=params.ramp_down_mw_per_h, mutable=True,
                                     doc="ramp-down limit [MW/h]")
    b.k_nh3_max = pyo.Param(initialize=params.k_nh3_max, mutable=True, doc="maximum NH3-to-coal heat ratio (TP-6)")
    b.coal_price_per_t = pyo.Param(initialize=params.coal_price_per_t, mutable=True, doc="coal price [万元/t]")
    b.startup_cost = pyo.Param(initialize=params.startup_cost, mutable=True, doc="start-up cost [万元]")
    b.shutdown_cost = pyo.Param(initialize=params.shutdown_cost, mutable=True, doc="shut-down cost [万元]")
    b.om_cost_per_mwh = pyo.Param(initialize=params.om_cost_per_mwh, mutable=True, doc="O&M cost [万元/MWh]")
    b.u_on = pyo.Var(b.T, within=pyo.Binary, doc="commitment u_t (TP-1)")
    b.su_startup = pyo.Var(b.T, within=pyo.Binary, doc="start-up su_t (TP-3)")
    b.sd_shutdown = pyo.Var(b.T, within=pyo.Binary, doc="shut-down sd_t (TP-3)")
    b.p_mw = pyo.Var(b.T, bounds=(0, pmax), doc="electric output P^th_t [MW] (TP-1)")
    b.p_seg_mw = pyo.Var(b.T, b.SEG, bounds=(0, width), doc="output above P^min on segment l [MW] (TP-4)")
    b.m_coal_t = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="coal of the unburnt-NH3 curve M^m_t [t] (TP-4)")
    b.m_coal_net_t = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="coal burnt with NH3 co-firing M^m,NH3_t [t] "
                             "(TP-5, TP-6)")
    if nh3 is None:
        b.m_nh3_t = pyo.Var(b.T, bounds=(0, 0), doc="NH3 burnt m^NH3_t [t] (no NH3 bus: 0)")
    else:
        b.m_nh3_t = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="NH3 burnt m^NH3_t [t] (TP-5, TP-6)")
    b.def_power = pyo.Constraint(b.T, rule=lambda m, t: m.p_mw[t] == pmin * m.u_on[t]
                                 + pyo.quicksum(m.p_seg_mw[t, s] for s in m.SEG),
                                 doc="output = P^min u + sum of segments (TP-1, TP-4)")
    b.res_segment = pyo.Constraint(b.T, b.SEG, rule=lambda m, t, s: m.p_seg_mw[t, s] <= width * m.u_on[t],
                                   doc="segment only when on: P_l <= w_l u (TP-1, TP-4)")
    b.def_coal = pyo.Constraint(
        b.T, rule=lambda m, t: m.m_coal_t[t] == dt * (f_min * m.u_on[t] + pyo.quicksum(
            float(slopes[s - 1]) * m.p_seg_mw[t, s] for s in m.SEG)),
        doc="coal = piecewise-linear quadratic curve times dt (TP-4)")

    def u_prev(m: pyo.Block, t: int) -> Any:
        return m.u_initial if t == T[0] else m.u_on[t - 1]

    def p_prev(m: pyo.Block, t: int) -> Any:
        return m.p_initial_mw if t == T[0] else m.p_mw[t - 1]

    su_lim = pmax if params.startup_limit_mw is None else params.startup_limit_mw
    sd_lim = pmax if params.shutdown_limit_mw is None else params.shutdown_limit_mw
    b.res_ramp_up = pyo.Constraint(
        b.T, rule=lambda m, t: m.p_mw[t] - p_prev(m, t)
        <= m.ramp_up_mw_per_h * dt * u_prev(m, t) + su_lim * (1 - u_prev(m, t)),
        doc="ramp-up limit, relaxed at start-up (TP-2)")
    b.res_ramp_down = pyo.Constraint(
        b.T, rule=lambda m, t: p_prev(m, t) - m.p_mw[t]
        <= m.ramp_down_mw_per_h * dt * m.u_on[t] + sd_lim * (1 - m.u_on[t]),
        doc="ramp-down limit, relaxed at shut-down (TP-2)")
    b.res_startup = pyo.Constraint(b.T, rule=lambda m, t: m.su_startup[t] >= m.u_on[t] - u_prev(m, t),
                                   doc="start-up indicator (TP-3)")
    b.res_shutdown = pyo.Constraint(b.T, rule=lambda m, t: m.sd_shutdown[t] >= u_prev(m, t) - m.u_on[t],
                                    doc="shut-down indicator (TP-3)")
    ratio = params.lhv_nh3_mj_per_kg / params.lhv_coal_mj_per_kg
    b.def_coal_net = pyo.Constraint(b.T, rule=lambda m, t: m.m_coal_net_t[t] == m.m_coal_t[t] - ratio * m.m_nh3_t[t],
                                    doc="coal replaced by NH3 heat: M^m,NH3 = M^m - m L_NH3/L_m (TP-5)")
    b.res_nh3_share = pyo.Constraint(b.T, rule=lambda m, t: ratio * m.m_nh3_t[t] <= m.k_nh3_max * m.m_coal_net_t[t],
                                     doc="NH3-to-coal heat ratio <= K^max (TP-6, linearised, divided by L_m)")
    e = params.e_coal_t_per_t
    b.m_co2_t = pyo.Expression(b.T, rule=lambda m, t: e * m.m_coal_net_t[t],
                               doc="CO2 emitted M^CO2_th,t [t per period] (TP-7; NH3 emits none)")
    b.cost_coal = pyo.Expression(expr=b.coal_price_per_t * pyo.quicksum(b.m_coal_net_t[t] for t in T),
                                 doc="coal cost c^coal sum M^m,NH3 [万元] (F^th)")
    b.cost_startstop = pyo.Expression(
        expr=pyo.quicksum(b.startup_cost * b.su_startup[t] + b.shutdown_cost * b.sd_shutdown[t] for t in T),
        doc="start-up and shut-down cost [万元] (F^th)")
    b.cost_om = pyo.Expression(expr=b.om_cost_per_mwh * dt * pyo.quicksum(b.p_mw[t] for t in T),
                               doc="O&M cost c^om sum P dt [万元] (F^th)")
    for t in T:
        bus.inject(t, b.p_mw[t])
        if nh3 is not None:
            nh3.inject(t, -b.m_nh3_t[t])
        ledger.emit(t, b.m_co2_t[t])
        ledger.allocate(t, electric_mwh=dt * b.p_mw[t])
    bus.cost.extend([b.cost_coal, b.cost_startstop, b.cost_om])
    return LowCarbonHandle(
        block=b,
        outputs={"tp_power_mw": (b.p_mw, "MW"), "tp_coal_t": (b.m_coal_net_t, "t"), "tp_nh3_t": (b.m_nh3_t, "t"),
                 "tp_on": (b.u_on, "1")},
        binaries={"tp_on": b.u_on, "tp_startup": b.su_startup, "tp_shutdown": b.sd_shutdown},
        costs={"cost_coal": b.cost_coal, "cost_startstop": b.cost_startstop, "cost_om": b.cost_om},
        co2={"emitted_t": b.m_co2_t},
    )


def default_thermal_units() -> tuple[ThermalUnitParams, ThermalUnitParams]:
    """The two TP units of SPEC §3.15 (60–300 MW, ramp 90 MW/h each) `[default]`."""
    return ThermalUnitParams(name="TP1"), ThermalUnitParams(name="TP2")

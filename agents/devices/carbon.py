r"""CO2 of paper 003 (SPEC §3.13, §3.15): the CO2 ledger, carbon capture (CCUS) and stepped carbon
trading.  Builders only build.

* **CO2 ledger** (:class:`CarbonLedger`): per period, the CO2 emitted by GT, GB and TP
  (``emitted``), the electric and heat energy that earns free allocation (``allowance_e`` /
  ``allowance_h``, MWh), the CO2 the methanation of P2G needs (``co2_demand``, P2G-4) and, once a CCUS
  is built, the net release ``released`` (m^out, CC-2).  **Build order**: emitters and P2G before
  CCUS, CCUS before carbon trading; the ledger locks what has been read and raises ``ValueError`` if a
  later builder tries to append to it.  Without CCUS the methanation CO2 is taken from outside at no
  cost.
* **CCUS** (:func:`build_ccus`, CC-1…CC-7, 003 eqs. 12–16): regeneration power proportional to the
  regenerated CO2 plus a fixed consumption (CC-1); absorbed = emitted − released, at most ``mu_CO2``
  of the emissions (CC-2); rich- and lean-solvent tank balances (CC-3) within their bounds, with the
  total solvent volume conserved (CC-4), the rich tank back at its start level (CC-5), solvent flows
  proportional to the CO2 moved (CC-6); regenerated CO2 = methanated + sequestered, sequestration
  limited (CC-7).  Injection −(P^CCUS + P_F); ``cost_sequestration``.
* **Carbon trading** (:func:`build_carbon_trading`, CT-1…CT-3): free allowance from the ledger's
  energies (CT-1), actual emission = released CO2 and traded volume = actual − free (CT-2), stepped
  price tiers of length ``d`` whose price rises by ``sigma`` per tier (CT-3, an LP because the marginal
  prices rise; :func:`stepped_carbon_cost` is the closed form); ``conventional`` is one price for
  buying and selling, ``reward`` sells surplus allowances in mirrored tiers (a binary per sale tier,
  first-stage).  ``cost_trade``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pyomo.core as pyo

from agents.devices.core import (
    _MINE,
    Bus,
    Horizon,
    InjectionBus,
    LowCarbonHandle,
    _bad,
    _check_efficiency,
    _check_nonneg,
    _check_positive,
    _check_range,
    _check_unit_interval,
    _finite,
    _p,
    _periods,
)

# ---------------------------------------------------------------------------- CO2 ledger


@dataclass
class CarbonLedger:
    """CO2 bookkeeping of one 003 block, per period (t per period; allowances in MWh per period).

    * ``emitted[t]``: M^CO2_{CHP,t}, M^CO2_{GB,t}, M^CO2_{th,t} (GT, GB, TP builders);
    * ``allowance_e[t]`` / ``allowance_h[t]``: electric / heat energy of the fossil units that earns
      free allocation (P^CHP dt, P^th dt / R^CHP dt, R^GB dt; CT-1 multiplies by δ_e, δ_h);
    * ``co2_demand[t]``: M^{CO2,CH4}_t of the methanation (P2G-4);
    * ``released``: m^out_t set by CCUS (CC-2); ``None`` means no CCUS: the release is ``emitted``.

    Append through :meth:`emit`, :meth:`allocate`, :meth:`demand_co2`; a reader (CCUS, carbon
    trading) calls :meth:`lock` first, after which appending to what it read raises ``ValueError``.
    """

    horizon: Horizon
    emitted: dict[int, list[Any]] = field(default_factory=dict)
    allowance_e: dict[int, list[Any]] = field(default_factory=dict)
    allowance_h: dict[int, list[Any]] = field(default_factory=dict)
    co2_demand: dict[int, list[Any]] = field(default_factory=dict)
    released: dict[int, Any] | None = None
    locked_by: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for t in self.horizon.periods:
            for d in (self.emitted, self.allowance_e, self.allowance_h, self.co2_demand):
                d.setdefault(t, [])

    def _check(self, what: str) -> None:
        if what in self.locked_by:
            raise ValueError(
                f"CarbonLedger.{what} was already read by {self.locked_by[what]}: build the emitters (GT, GB, TP) "
                "and P2G before CCUS, and CCUS before carbon trading")

    def lock(self, what: str, by: str) -> None:
        """Mark ``what`` (``emitted``, ``allowance``, ``co2_demand``, ``released``) as read by ``by``."""
        self.locked_by.setdefault(what, by)

    def emit(self, t: int, expr: Any) -> None:
        self._check("emitted")
        self.emitted[t].append(expr)

    def allocate(self, t: int, electric_mwh: Any = None, heat_mwh: Any = None) -> None:
        self._check("allowance")
        if electric_mwh is not None:
            self.allowance_e[t].append(electric_mwh)
        if heat_mwh is not None:
            self.allowance_h[t].append(heat_mwh)

    def demand_co2(self, t: int, expr: Any) -> None:
        self._check("co2_demand")
        self.co2_demand[t].append(expr)

    def set_released(self, released: dict[int, Any], by: str) -> None:
        self._check("released")
        if self.released is not None:
            raise ValueError(f"CarbonLedger.released is already set; {by} cannot set it again (one CCUS per ledger)")
        self.released = released

    def total_emitted(self, t: int) -> Any:
        """M^all_t = sum of ``emitted[t]`` (0 if nothing emits)."""
        return pyo.quicksum(self.emitted[t]) if self.emitted[t] else 0.0

    def release(self, t: int) -> Any:
        """Net release of period ``t``: m^out_t of CCUS, else M^all_t."""
        return self.released[t] if self.released is not None else self.total_emitted(t)


# ---------------------------------------------------------------------------- CCUS (§3.13)


@dataclass(frozen=True)
class CCUSParams:
    """Carbon capture with rich/lean solvent storage (SPEC §3.13, CC-1…CC-7)."""

    mu_ccus_mwh_per_t: float = _p(0.269, "MWh/t", "regeneration energy per tonne of CO2 mu_CCUS")
    p_fixed_mw: float = _p(2.0, "MW", "fixed consumption P_F")
    p_min_mw: float = _p(0.0, "MW", "minimum regeneration power P^CCUS,min", _MINE)
    p_max_mw: float = _p(50.0, "MW", "maximum regeneration power P^CCUS,max", _MINE)
    mu_co2: float = _p(0.9, "1", "maximum capture share mu_CO2")
    v_total_m3: float = _p(3000.0, "m3", "solvent volume of both tanks V^PF,max")
    v_rich_min_frac: float = _p(0.1, "1", "V^F,min / V^PF,max", _MINE)
    v_rich_max_frac: float = _p(0.9, "1", "V^F,max / V^PF,max", _MINE)
    v_lean_min_frac: float = _p(0.1, "1", "V^P,min / V^PF,max", _MINE)
    v_lean_max_frac: float = _p(0.9, "1", "V^P,max / V^PF,max", _MINE)
    v_rich_initial_frac: float = _p(0.5, "1", "V^F_0 / V^PF,max (V^P_0 = V^PF,max - V^F_0)", _MINE)
    m_sto_max_t_per_h: float = _p(100.0, "t/h", "sequestration limit M^sto,max")
    sequestration_cost_per_t: float = _p(0.01, "万元/t", "sequestration cost c^sto")
    molar_mass_mea_g_per_mol: float = _p(61.08, "g/mol", "M_MEA", "[default] SPEC §3.13")
    molar_mass_co2_g_per_mol: float = _p(44.0, "g/mol", "M_CO2", "[default] SPEC §3.13")
    loading_diff_mol_per_mol: float = _p(0.4, "mol/mol", "CO2 loading difference theta_ld", "[default] SPEC §3.13")
    mea_mass_frac: float = _p(0.3, "1", "MEA mass fraction C_R", "[default] SPEC §3.13")
    solvent_density_t_per_m3: float = _p(1.01, "t/m3", "solvent density rho_R", "[default] SPEC §3.13")

    def __post_init__(self) -> None:
        _check_nonneg(self, "mu_ccus_mwh_per_t", "p_fixed_mw", "m_sto_max_t_per_h", "sequestration_cost_per_t")
        _check_range(self, "p_min_mw", "p_max_mw")
        _check_unit_interval(self, "mu_co2")
        _check_positive(self, "v_total_m3", "molar_mass_mea_g_per_mol", "molar_mass_co2_g_per_mol",
                        "loading_diff_mol_per_mol", "solvent_density_t_per_m3")
        _check_efficiency(self, "mea_mass_frac")
        for tank in ("rich", "lean"):
            lo_n, hi_n = f"v_{tank}_min_frac", f"v_{tank}_max_frac"
            lo, hi = getattr(self, lo_n), getattr(self, hi_n)
            if not (_finite(lo) and 0 <= lo < 1):
                raise _bad("CCUSParams", lo_n, "in [0, 1)", lo)
            if not (_finite(hi) and lo < hi <= 1):
                raise _bad("CCUSParams", hi_n, f"in ({lo_n} = {lo}, 1]", hi)
        f0 = self.v_rich_initial_frac
        lo = max(self.v_rich_min_frac, 1 - self.v_lean_max_frac)
        hi = min(self.v_rich_max_frac, 1 - self.v_lean_min_frac)
        if not (_finite(f0) and lo <= f0 <= hi):
            raise _bad("CCUSParams", "v_rich_initial_frac",
                       f"in [{lo:g}, {hi:g}] (both tanks within their bounds at t=0)", f0)

    @property
    def k_sol_m3_per_t(self) -> float:
        """Solvent volume per tonne of CO2, ``M_MEA / (M_CO2 theta_ld C_R rho_R)`` [m³/t] (CC-6; ≈ 11.45)."""
        return self.molar_mass_mea_g_per_mol / (self.molar_mass_co2_g_per_mol * self.loading_diff_mol_per_mol
                                                * self.mea_mass_frac * self.solvent_density_t_per_m3)


def build_ccus(
    block: pyo.Block, params: CCUSParams, horizon: Horizon, bus: Bus, ledger: CarbonLedger
) -> LowCarbonHandle:
    r"""CCUS with rich (F) / lean (P) solvent tanks (SPEC §3.13, 003 eqs. 12–16).

    .. math::

        P^{CCUS,all}_t = P^{CCUS}_t + P_F,\ P^{CCUS}_t = \mu_{CCUS}M^{CO_2}_t/\Delta t,\
            P^{CCUS,min} \le P^{CCUS}_t \le P^{CCUS,max}                                   \text{(CC-1)}
        M^{CO_2,CCUS}_t = M^{all}_t - m^{out}_t,\ 0 \le M^{CO_2,CCUS}_t \le \mu_{CO_2}M^{all}_t    \text{(CC-2)}
        V^F_t = V^F_{t-1} + v^{F,in}_t - v^{F,out}_t\ \ (\text{and } V^P \text{, implied})      \text{(CC-3)}
        V^{F,min} \le V^F_t \le V^{F,max},\ V^{P,min} \le V^P_t \le V^{P,max},\ V^P_t + V^F_t = V^{PF,max}
                                                                                          \text{(CC-4)}
        V^F_T = V^F_0\ \ (V^P_T = V^P_0 \text{ implied})                                   \text{(CC-5)}
        v^{F,in}_t = v^{P,out}_t = k_{sol}M^{CO_2,CCUS}_t,\ v^{F,out}_t = v^{P,in}_t = k_{sol}M^{CO_2}_t  \text{(CC-6)}
        M^{CO_2}_t = M^{CO_2,CH_4}_t + M^{CO_2,sto}_t,\ 0 \le M^{CO_2,sto}_t \le M^{sto,max}\Delta t  \text{(CC-7)}

    ``M^all_t`` is the ledger's ``emitted`` (GT + GB + TP), ``M^{CO2,CH4}_t`` its ``co2_demand``
    (P2G-4): build those devices first.  Sets ``ledger.released`` to ``m_out_t``.  Variables:
    ``m_absorbed_t`` (M^{CO2,CCUS}), ``m_out_t``, ``m_regen_t`` (M^CO2, regenerated), ``m_sto_t``,
    ``p_ccus_mw``, ``v_rich_m3`` (V^F), ``v_lean_m3`` (V^P); the CC-6 flows are Expressions.
    The lean tank's CC-3 and CC-5 rows follow from the rich tank's rows and CC-4 (whose sum
    conserves ``V^P + V^F``); they are not written, so the row set has no dependent equalities.
    Injection ``-(P^CCUS + P_F)``; ``cost_sequestration = c^sto sum M^{CO2,sto}``.
    """
    T = _periods(block, horizon)
    dt = horizon.dt_h
    b = block
    if ledger.horizon != horizon:
        raise ValueError(f"build_ccus: ledger on {ledger.horizon} but the CCUS on {horizon}")
    ledger.lock("emitted", "CCUS")
    ledger.lock("co2_demand", "CCUS")
    k = params.k_sol_m3_per_t
    vt = params.v_total_m3
    b.mu_co2 = pyo.Param(initialize=params.mu_co2, mutable=True, doc="maximum capture share (CC-2)")
    b.p_fixed_mw = pyo.Param(initialize=params.p_fixed_mw, mutable=True, doc="fixed consumption P_F [MW] (CC-1)")
    b.p_min_mw = pyo.Param(initialize=params.p_min_mw, mutable=True, doc="minimum regeneration power [MW]")
    b.p_max_mw = pyo.Param(initialize=params.p_max_mw, mutable=True, doc="maximum regeneration power [MW]")
    b.m_sto_max_t_per_h = pyo.Param(initialize=params.m_sto_max_t_per_h, mutable=True,
                                    doc="sequestration limit [t/h] (CC-7)")
    b.sequestration_cost_per_t = pyo.Param(initialize=params.sequestration_cost_per_t, mutable=True,
                                           doc="sequestration cost c^sto [万元/t]")
    b.v_rich_initial_m3 = pyo.Param(initialize=params.v_rich_initial_frac * vt, mutable=True,
                                    doc="rich-solvent volume V^F_0 [m3]")
    b.m_all_t = pyo.Expression(b.T, rule=lambda m, t: ledger.total_emitted(t),
                               doc="CO2 emitted by GT, GB and TP M^all_t [t per period] (CC-2)")
    b.m_co2_demand_t = pyo.Expression(
        b.T, rule=lambda m, t: pyo.quicksum(ledger.co2_demand[t]) if ledger.co2_demand[t] else 0.0,
        doc="CO2 sent to methanation M^CO2,CH4_t [t per period] (CC-7)")
    b.m_absorbed_t = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="CO2 absorbed M^CO2,CCUS_t [t] (CC-2)")
    b.m_out_t = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="CO2 released to the air m^out_t [t] (CC-2)")
    b.m_regen_t = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="CO2 regenerated M^CO2_t [t] (CC-1, CC-7)")
    b.m_sto_t = pyo.Var(b.T, bounds=lambda m, t: (0, m.m_sto_max_t_per_h * dt),
                        doc="CO2 sequestered M^CO2,sto_t [t] (CC-7)")
    b.p_ccus_mw = pyo.Var(b.T, bounds=(b.p_min_mw, b.p_max_mw), doc="regeneration power P^CCUS_t [MW] (CC-1)")
    b.v_rich_m3 = pyo.Var(b.T, bounds=(params.v_rich_min_frac * vt, params.v_rich_max_frac * vt),
                          doc="rich-solvent volume V^F_t [m3] (CC-4)")
    b.v_lean_m3 = pyo.Var(b.T, bounds=(params.v_lean_min_frac * vt, params.v_lean_max_frac * vt),
                          doc="lean-solvent volume V^P_t [m3] (CC-4)")
    mu = params.mu_ccus_mwh_per_t
    b.def_ccus_power = pyo.Constraint(b.T, rule=lambda m, t: m.p_ccus_mw[t] == mu / dt * m.m_regen_t[t],
                                      doc="regeneration power = mu_CCUS M^CO2 / dt (CC-1)")
    b.def_absorbed = pyo.Constraint(b.T, rule=lambda m, t: m.m_absorbed_t[t] == m.m_all_t[t] - m.m_out_t[t],
                                    doc="absorbed = emitted - released (CC-2)")
    b.res_capture = pyo.Constraint(b.T, rule=lambda m, t: m.m_absorbed_t[t] <= m.mu_co2 * m.m_all_t[t],
                                   doc="absorbed <= mu_CO2 emitted (CC-2)")
    b.def_regen = pyo.Constraint(b.T, rule=lambda m, t: m.m_regen_t[t] == m.m_co2_demand_t[t] + m.m_sto_t[t],
                                 doc="regenerated = methanated + sequestered (CC-7)")
    b.v_rich_in_m3 = pyo.Expression(b.T, rule=lambda m, t: k * m.m_absorbed_t[t], doc="v^F,in_t [m3] (CC-6)")
    b.v_rich_out_m3 = pyo.Expression(b.T, rule=lambda m, t: k * m.m_regen_t[t], doc="v^F,out_t [m3] (CC-6)")
    b.v_lean_in_m3 = pyo.Expression(b.T, rule=lambda m, t: k * m.m_regen_t[t], doc="v^P,in_t [m3] (CC-6)")
    b.v_lean_out_m3 = pyo.Expression(b.T, rule=lambda m, t: k * m.m_absorbed_t[t], doc="v^P,out_t [m3] (CC-6)")
    b.def_rich = pyo.Constraint(
        b.T, rule=lambda m, t: m.v_rich_m3[t] == (m.v_rich_initial_m3 if t == T[0] else m.v_rich_m3[t - 1])
        + m.v_rich_in_m3[t] - m.v_rich_out_m3[t],
        doc="rich-solvent tank balance (CC-3 with CC-6)")
    b.res_total_volume = pyo.Constraint(b.T, rule=lambda m, t: m.v_lean_m3[t] + m.v_rich_m3[t] == vt,
                                        doc="V^P + V^F = V^PF,max (CC-4; gives the lean tank's CC-3)")
    b.res_end_rich = pyo.Constraint(expr=b.v_rich_m3[T[-1]] == b.v_rich_initial_m3,
                                    doc="rich tank ends at its start level (CC-5; the lean tank follows by CC-4)")
    b.p_all_mw = pyo.Expression(b.T, rule=lambda m, t: m.p_ccus_mw[t] + m.p_fixed_mw,
                                doc="total consumption P^CCUS,all_t [MW] (CC-1)")
    b.cost_sequestration = pyo.Expression(
        expr=b.sequestration_cost_per_t * pyo.quicksum(b.m_sto_t[t] for t in T), doc="sequestration cost [万元]")
    for t in T:
        bus.inject(t, -b.p_all_mw[t])
    bus.cost.append(b.cost_sequestration)
    ledger.set_released({t: b.m_out_t[t] for t in T}, "CCUS")
    return LowCarbonHandle(
        block=b,
        outputs={"ccus_power_mw": (b.p_ccus_mw, "MW"), "co2_absorbed_t": (b.m_absorbed_t, "t"),
                 "co2_released_t": (b.m_out_t, "t"), "co2_regenerated_t": (b.m_regen_t, "t"),
                 "co2_sequestered_t": (b.m_sto_t, "t"), "rich_solvent_m3": (b.v_rich_m3, "m3"),
                 "lean_solvent_m3": (b.v_lean_m3, "m3")},
        costs={"cost_sequestration": b.cost_sequestration},
        co2={"emitted_t": b.m_all_t, "absorbed_t": b.m_absorbed_t, "released_t": b.m_out_t,
             "regenerated_t": b.m_regen_t, "sequestered_t": b.m_sto_t, "methanated_t": b.m_co2_demand_t},
    )


# ---------------------------------------------------------------------------- carbon trading (§3.15)


N_TIERS = 5


@dataclass(frozen=True)
class CarbonTradingParams:
    """Stepped carbon trading (SPEC §3.15, CT-1…CT-3); ``conventional=True`` is config 6 of 003 (one price)."""

    price_per_t: float = _p(0.025, "万元/t", "base carbon price c")
    interval_t: float = _p(200.0, "t", "tier length d")
    growth: float = _p(0.25, "1", "price growth per tier sigma")
    delta_e_t_per_mwh: float = _p(0.728, "t/MWh", "free allocation per MWh of electricity delta_e")
    delta_h_t_per_mwh: float = _p(0.367, "t/MWh", "free allocation per MWh of heat delta_h")
    conventional: bool = _p(False, "", "True: single price c for buying and selling, no tiers",
                            "[paper] 003 scenario 6")
    reward: bool = _p(False, "", "True: reward-and-punishment stepped trading: surplus allowances are sold in "
                      "tiers of d at c, c(1+sigma), ... (the mirror of CT-3)",
                      "[proposed] option of SPEC §3.15 (reward-stepped)")
    volume_bound_t: float | None = _p(5.0e4, "t", "bound M on |E^tr| for the reward tiers' rows (None: derived "
                                      "from the variable bounds); a larger |E^tr| makes the model infeasible",
                                      "[proposed]")

    def __post_init__(self) -> None:
        _check_nonneg(self, "price_per_t", "growth", "delta_e_t_per_mwh", "delta_h_t_per_mwh")
        _check_positive(self, "interval_t")
        if self.volume_bound_t is not None:
            _check_positive(self, "volume_bound_t")
        if self.reward and self.conventional:
            raise ValueError("CarbonTradingParams: reward (stepped sale tiers) and conventional (one price) "
                             "exclude each other")


def stepped_carbon_cost(E: float, c: float, d: float, sigma: float, reward: bool = False) -> float:
    r"""CT-3: the stepped trading cost of a traded volume ``E`` [t] (万元 for ``c`` in 万元/t).

    ``E <= d``: ``cE`` (negative for ``E < 0``: surplus sold at ``c``); then the price rises by
    ``c sigma`` per tier of length ``d``, the fifth tier (``E > 4d``) unbounded.  ``reward``: a surplus
    (``E < 0``) is sold in the mirrored tiers, ``F(E) = -F(-E)``: the first ``d`` tonnes at ``c``, the
    next at ``c(1+sigma)``, ... (reward-and-punishment stepped trading, concave for ``E < 0``).
    """
    e = float(E)
    if reward and e < 0:
        return -stepped_carbon_cost(-e, c, d, sigma)
    if e <= d:
        return c * e
    if e <= 2 * d:
        return c * d + c * (1 + sigma) * (e - d)
    if e <= 3 * d:
        return c * d * (2 + sigma) + c * (1 + 2 * sigma) * (e - 2 * d)
    if e <= 4 * d:
        return c * d * (3 + 3 * sigma) + c * (1 + 3 * sigma) * (e - 3 * d)
    return c * d * (4 + 6 * sigma) + c * (1 + 4 * sigma) * (e - 4 * d)


def build_carbon_trading(
    block: pyo.Block, params: CarbonTradingParams, horizon: Horizon, ledger: CarbonLedger, bus: InjectionBus
) -> LowCarbonHandle:
    r"""Carbon trading on the ledger's totals (SPEC §3.15).  Build it after every emitter and the CCUS.

    .. math::

        E^{free} = \textstyle\sum_t\big(\delta_e(P^{CHP}_t+\sum_gP^{th}_{g,t})
                   + \delta_h(R^{CHP}_t+R^{GB}_t)\big)\Delta t                           \text{(CT-1)}
        E^{act} = \textstyle\sum_t m^{out}_t,\qquad E^{tr} = E^{act} - E^{free}            \text{(CT-2)}
        E^{tr} = -e_0 + \textstyle\sum_{k=1}^5 e_k,\ e_0 \ge 0,\ 0 \le e_k \le d\ (k \le 4),\ e_5 \ge 0
        F^{trade} = -c\,e_0 + \textstyle\sum_{k=1}^5 c\,(1+(k-1)\sigma)\,e_k               \text{(CT-3, LP form)}

    The marginal prices rise, so the tiers fill in order without binaries and ``cost_trade`` equals
    :func:`stepped_carbon_cost` at the optimum.  ``conventional=True``: ``F^trade = c E^tr`` (no tier
    variables).

    ``reward=True`` (reward-and-punishment stepped trading, SPEC §3.15 `[proposed option]`): a surplus is
    sold in mirrored tiers, ``F(E) = -F^{CT-3}(-E)`` for ``E < 0``.  That part is concave, so it is the
    minimum of the tier lines ``L_m(E) = A_m + s_m E`` (``s_m = c(1+mσ)``, ``A_m = c(1+mσ)md - F^{CT-3}(md)``,
    ``m = 0..4``), each ``>= F`` everywhere and equal to it on tier ``m``.  The tier is chosen by binaries
    ``tier[m]`` (``sum = 1``) and ``E^tr = sum_m w_m`` with ``|w_m| <= M tier[m]``:

    .. math::

        F^{trade} = \textstyle\sum_m (A_m\,tier_m + s_m w_m) + \sum_{k=1}^5 c(k-1)σ e_k

    (the second sum is CT-3's surcharge over ``cE``, zero for ``E <= d``).  Minimising over the tier gives
    :func:`stepped_carbon_cost` with ``reward=True``.  The binaries are ``handle.binaries["ct_tier"]``: in
    two-stage robust dispatch they are first-stage decisions (the sale tier the park declares day-ahead;
    the recourse stays an LP).  ``M`` = ``volume_bound_t`` or the bound of ``|E^tr|`` implied by the
    variable bounds.  ``m^out_t`` is ``ledger.released`` (CCUS) or ``ledger.emitted``.  ``E^free``,
    ``E^act``, ``E^tr`` are the Expressions ``e_free_t``, ``e_act_t``, ``e_tr_t``; ``c``, ``d``, σ,
    δ_e, δ_h are mutable Params.  ``cost_trade`` is appended to ``bus.cost`` (any bus).
    """
    if ledger.horizon != horizon:
        raise ValueError(f"build_carbon_trading: ledger on {ledger.horizon} but the trading block on {horizon}")
    T = _periods(block, horizon)
    b = block
    for what in ("emitted", "allowance", "released"):
        ledger.lock(what, "carbon trading")
    b.price_per_t = pyo.Param(initialize=params.price_per_t, mutable=True, doc="base carbon price c [万元/t]")
    b.interval_t = pyo.Param(initialize=params.interval_t, mutable=True, doc="tier length d [t]")
    b.growth = pyo.Param(initialize=params.growth, mutable=True, doc="price growth per tier sigma [1]")
    b.delta_e_t_per_mwh = pyo.Param(initialize=params.delta_e_t_per_mwh, mutable=True,
                                    doc="free allocation per MWh electricity [t/MWh]")
    b.delta_h_t_per_mwh = pyo.Param(initialize=params.delta_h_t_per_mwh, mutable=True,
                                    doc="free allocation per MWh heat [t/MWh]")
    e_terms = [x for t in T for x in ledger.allowance_e[t]]
    h_terms = [x for t in T for x in ledger.allowance_h[t]]
    b.e_free_t = pyo.Expression(
        expr=b.delta_e_t_per_mwh * (pyo.quicksum(e_terms) if e_terms else 0.0)
        + b.delta_h_t_per_mwh * (pyo.quicksum(h_terms) if h_terms else 0.0),
        doc="free allowance E^free [t] (CT-1)")
    b.e_act_t = pyo.Expression(expr=pyo.quicksum(ledger.release(t) for t in T), doc="actual emission E^act [t] (CT-2)")
    b.e_tr_t = pyo.Expression(expr=b.e_act_t - b.e_free_t, doc="traded volume E^tr [t] (CT-2)")
    binaries: dict[str, Any] = {}
    if params.conventional:
        b.cost_trade = pyo.Expression(expr=b.price_per_t * b.e_tr_t, doc="carbon trading cost c E^tr [万元]")
    elif params.reward:
        big_m = params.volume_bound_t if params.volume_bound_t is not None else _volume_bound(b.e_tr_t)
        c, d, sig = params.price_per_t, params.interval_t, params.growth
        b.TIERS = pyo.Set(initialize=list(range(1, N_TIERS + 1)), ordered=True, doc="price tiers")
        b.SALE = pyo.Set(initialize=list(range(N_TIERS)), ordered=True, doc="sale tiers m (reward)")
        b.volume_bound_t = pyo.Param(initialize=big_m, doc="M: bound of |E^tr| [t]")
        b.e_sell_t = pyo.Var(within=pyo.NonNegativeReals, doc="allowance sold e_0 [t] (CT-3)")
        b.e_tier_t = pyo.Var(b.TIERS, bounds=lambda m, k: (0, m.interval_t if k < N_TIERS else None),
                             doc="allowance bought in tier k e_k [t] (CT-3)")
        b.tier = pyo.Var(b.SALE, within=pyo.Binary, doc="sale tier m chosen")
        b.w_t = pyo.Var(b.SALE, doc="E^tr carried by the line of sale tier m [t]")
        b.one_tier = pyo.Constraint(expr=pyo.quicksum(b.tier[k] for k in b.SALE) == 1, doc="one sale tier")
        b.def_traded = pyo.Constraint(
            expr=b.e_tr_t == -b.e_sell_t + pyo.quicksum(b.e_tier_t[k] for k in b.TIERS),
            doc="E^tr = -e_0 + sum_k e_k (CT-3, LP form)")
        b.def_lines = pyo.Constraint(expr=b.e_tr_t == pyo.quicksum(b.w_t[k] for k in b.SALE),
                                     doc="E^tr = sum_m w_m")
        b.w_up = pyo.Constraint(b.SALE, rule=lambda m, k: m.w_t[k] <= m.volume_bound_t * m.tier[k],
                                doc="w_m <= M tier_m")
        b.w_lo = pyo.Constraint(b.SALE, rule=lambda m, k: m.w_t[k] >= -m.volume_bound_t * m.tier[k],
                                doc="w_m >= -M tier_m")
        slope = {k: c * (1 + k * sig) for k in range(N_TIERS)}
        icpt = {k: slope[k] * k * d - stepped_carbon_cost(k * d, c, d, sig) for k in range(N_TIERS)}
        b.cost_trade = pyo.Expression(
            expr=pyo.quicksum(icpt[k] * b.tier[k] + slope[k] * b.w_t[k] for k in b.SALE)
            + pyo.quicksum(b.price_per_t * (k - 1) * b.growth * b.e_tier_t[k] for k in b.TIERS),
            doc="reward-and-punishment stepped carbon trading cost [万元]")
        binaries["ct_tier"] = b.tier
    else:
        b.TIERS = pyo.Set(initialize=list(range(1, N_TIERS + 1)), ordered=True, doc="price tiers")
        b.e_sell_t = pyo.Var(within=pyo.NonNegativeReals, doc="allowance sold e_0 [t] (CT-3)")
        b.e_tier_t = pyo.Var(b.TIERS, bounds=lambda m, k: (0, m.interval_t if k < N_TIERS else None),
                             doc="allowance bought in tier k e_k [t] (CT-3)")
        b.def_traded = pyo.Constraint(
            expr=b.e_tr_t == -b.e_sell_t + pyo.quicksum(b.e_tier_t[k] for k in b.TIERS),
            doc="E^tr = -e_0 + sum_k e_k (CT-3, LP form)")
        b.cost_trade = pyo.Expression(
            expr=-b.price_per_t * b.e_sell_t + pyo.quicksum(
                b.price_per_t * (1 + (k - 1) * b.growth) * b.e_tier_t[k] for k in b.TIERS),
            doc="stepped carbon trading cost F^trade [万元] (CT-3)")
    bus.cost.append(b.cost_trade)
    return LowCarbonHandle(block=b, binaries=binaries, costs={"cost_trade": b.cost_trade},
                           co2={"e_free_t": b.e_free_t, "e_act_t": b.e_act_t, "e_tr_t": b.e_tr_t})


def _volume_bound(expr: Any) -> float:
    """``max |expr|`` over the variable bounds (interval arithmetic), rounded up; raises if unbounded."""
    from pyomo.contrib.fbbt.fbbt import compute_bounds_on_expr

    lo, hi = compute_bounds_on_expr(expr)
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"build_carbon_trading: E^tr is unbounded by the variable bounds ({lo}, {hi}); set "
                         "carbon_trading.volume_bound_t (t) for the reward tiers")
    return float(math.ceil(max(abs(lo), abs(hi), 1.0)))

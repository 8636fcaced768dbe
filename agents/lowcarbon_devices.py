"""Device library of paper 003's low-carbon campus (SPEC §3.6d, §3.7, §3.9–§3.15).  Builders only build.

The builders follow :mod:`agents.devices` and :mod:`agents.rural_devices` (imported, not changed):
``build_x(block, params, horizon, ...buses...)`` creates its components on ``block``, appends its
injections to the buses it touches (generation positive, consumption negative), appends its cost
terms to a bus's ``cost`` list, keeps prices, limits and profiles that studies vary in mutable
``Param`` objects (re-solve with :meth:`agents.milp.HighsModel.update`) and returns a
:class:`LowCarbonHandle`.  Every cost term is also a *named* ``Expression`` on the device's block
(``cost_gas``, ``cost_coal``, ``cost_startstop``, ``cost_om``, ``cost_curtailment``, ``cost_dr``,
``cost_ev``, ``cost_sequestration``, ``cost_trade``, ``cost_slack``) listed in
:attr:`LowCarbonHandle.costs`, so the cost table of 003 (Table 1) can be read off by name.

Units (SPEC §2.3)
-----------------
MW / MWh for electricity, heat and the LHV power of CH4 and H2; tonnes for CO2, coal, NH3 and H2 mass
(per *period* when a mass is a flow: ``m_coal_t[t]`` is the coal burnt in period ``t``); m³ for
solvent; cost in 万元 (10⁴ CNY).  Every builder takes any :class:`~agents.devices.Horizon` and uses
its ``dt_h`` (ramp rates are per hour and multiplied by ``dt``).  Reused builders keep their names:
``build_fixed_load``'s ``load_kw``, ``build_battery``'s ``p_charge_kw`` / ``soc_kwh``,
``build_heat_storage``'s ``h_charge_kw`` and ``build_ev``'s fields hold **MW / MWh** here.

Carriers and their balances (:func:`close_lowcarbon_buses`)
-----------------------------------------------------------
* electricity: :class:`~agents.devices.Bus`, ``def_balance`` (BAL3-E);
* heat: :class:`~agents.rural_devices.HeatBus`, ``def_heat_balance`` (BAL3-H);
* CH4: :class:`GasBus` (MW LHV), ``def_gas_balance`` (BAL3-G);
* H2: :class:`HydrogenBus` (MW LHV), ``def_h2_balance`` (BAL3-H2);
* NH3: :class:`AmmoniaBus` (t per period), ``def_nh3_balance``.  The NH3 storage is an ordinary
  device on this bus (it injects its net withdrawal), so the balance row *plus* the storage's
  recursion give exactly SPEC §3.12's ``S_t = S_{t-1} + M^{NH3}_t - sum_g m^{NH3}_{g,t}``, and the
  order in which P2A, TP and the storage are built does not matter.  Without a storage the row
  forces production = consumption in every period.

Every balance is ``sum of injections = 0`` and a period with nothing injected gets no row.  The five
bus classes are distinct types (all :class:`~agents.devices.InjectionBus`), so handing a heat bus to an
electric argument is a type error that mypy reports.

CO2 (:class:`CarbonLedger`)
---------------------------
Emitters (GT, GB, TP) append their CO2 per period to ``ledger.emitted`` and the energy that earns
free allocation to ``ledger.allowance_e`` / ``allowance_h`` (MWh per period; the carbon-trading block
multiplies them by its mutable δ_e, δ_h, CT-1).  P2G appends the CO2 its methanation needs
(P2G-4) to ``ledger.co2_demand``.  CCUS reads ``emitted`` and ``co2_demand`` and sets
``ledger.released`` (m^out, CC-2); carbon trading reads ``released`` (or ``emitted`` when no CCUS was
built).  **Build order**: emitters and P2G before CCUS, CCUS before carbon trading; the ledger
locks what has been read and raises ``ValueError`` if a later builder tries to append to it.
Without CCUS, the methanation CO2 of P2G is taken from outside at no cost (``co2_demand`` is unused).

Binaries
--------
The only binary columns of the 003 model are the thermal units' commitment ``u``, start-up ``su``
and shut-down ``sd`` and, with reward-and-punishment trading, the declared sale tier (first-stage
decisions of the two-stage RO, SPEC §6.5), listed in :attr:`~agents.devices.DeviceHandle.binaries`.
Everything else — storages, EV groups (whose mode binaries :func:`build_ev_fleet` relaxes to [0, 1]),
the buying tiers of CT-3, the piecewise coal curve, |x|
linearisations — is continuous, so with ``u`` fixed the recourse is an LP.  Builders do not write
equality rows that other rows already imply (e.g. CCUS writes the lean-tank balance through CC-4
only, TP-1 is carried by the segment rows), which keeps the LP duals the KKT subproblem of §6.5
needs from drifting along a dependent direction.

Defaults: every ``XParams`` field default is the SPEC §3.15 table value (``[default] SPEC §3.15``),
a paper value (``[paper]``) or a value chosen here (``[default] not in SPEC``), named in the field's
``metadata["source"]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyomo.environ as pyo

from agents.devices import (
    DA_HORIZON,
    BatteryParams,
    Bus,
    DeviceHandle,
    Horizon,
    InjectionBus,
    profile_param,
)
from agents.ev import EVParams, build_ev
from agents.rural_devices import (
    HeatBus,
    HeatStorageParams,
    _bad,
    _check_efficiency,
    _check_fraction_window,
    _check_nonneg,
    _check_positive,
    _finite,
)

#: Volumetric LHV of H2 and CH4 [MWh/m³] `[default] SPEC §3.15`.
LHV_H2_MWH_PER_M3 = 3.0e-3
LHV_CH4_MWH_PER_M3 = 9.97e-3

_SPEC = "[default] SPEC §3.15"
_MINE = "[default] not in SPEC"


def _p(default: Any, unit: str, doc: str, source: str = _SPEC) -> Any:
    """A dataclass field with ``unit``, ``doc`` and ``source`` (``[default] ...`` / ``[paper]``) metadata."""
    return field(default=default, metadata={"unit": unit, "doc": doc, "source": source})


# ---------------------------------------------------------------------------- validation helpers


def _check_optional_nonneg(obj: Any, *names: str) -> None:
    owner = type(obj).__name__
    for name in names:
        v = getattr(obj, name)
        if v is not None and not (_finite(v) and v >= 0):
            raise _bad(owner, name, "finite and >= 0, or None", v)


def _check_range(obj: Any, lo_name: str, hi_name: str) -> None:
    """``0 <= lo <= hi`` with ``hi > 0`` (``lo_name``, ``hi_name`` are field names)."""
    owner = type(obj).__name__
    hi = getattr(obj, hi_name)
    if not (_finite(hi) and hi > 0):
        raise _bad(owner, hi_name, "finite and > 0", hi)
    lo = getattr(obj, lo_name)
    if not (_finite(lo) and 0 <= lo <= hi):
        raise _bad(owner, lo_name, f"in [0, {hi_name} = {hi}]", lo)


def _check_initial(obj: Any, name: str, lo_name: str, hi_name: str) -> None:
    v = getattr(obj, name)
    lo, hi = getattr(obj, lo_name), getattr(obj, hi_name)
    if v is not None and not (_finite(v) and lo <= v <= hi):
        raise _bad(type(obj).__name__, name, f"in [{lo_name}, {hi_name}] = [{lo}, {hi}], or None", v)


def _check_unit_interval(obj: Any, *names: str) -> None:
    owner = type(obj).__name__
    for name in names:
        v = getattr(obj, name)
        if not (_finite(v) and 0 <= v <= 1):
            raise _bad(owner, name, "in [0, 1]", v)


# ---------------------------------------------------------------------------- buses, ledger, handle


@dataclass
class GasBus(InjectionBus):
    """CH4 bus (MW LHV): gas purchase and methanation inject, GT and GB draw (BAL3-G)."""


@dataclass
class HydrogenBus(InjectionBus):
    """H2 bus (MW LHV): electrolysis and H2 storage inject; methanation, GT, GB, P2A draw (BAL3-H2)."""


@dataclass
class AmmoniaBus(InjectionBus):
    """NH3 bus in **t per period** (a mass, not a rate): P2A injects, thermal units draw, the NH3
    storage injects its net withdrawal (SPEC §3.12)."""


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


@dataclass
class LowCarbonHandle(DeviceHandle):
    """:class:`~agents.devices.DeviceHandle` plus the device's named cost Expressions (``name -> Expression``,
    万元) and its CO2 quantities (``name -> indexed Expression/Var or scalar Expression``, t)."""

    costs: dict[str, Any] = field(default_factory=dict)
    co2: dict[str, Any] = field(default_factory=dict)


def _write_balance(block: pyo.Block, name: str, bus: InjectionBus, doc: str) -> None:
    def rule(b: pyo.Block, t: int) -> Any:
        terms = bus.injection[t]
        if not terms:
            return pyo.Constraint.Skip
        return pyo.quicksum(terms) == 0

    block.add_component(name, pyo.Constraint(bus.horizon.periods, rule=rule, doc=doc))


def close_lowcarbon_buses(
    block: pyo.Block, bus: Bus, heat: HeatBus, gas: GasBus, h2: HydrogenBus, nh3: AmmoniaBus | None = None
) -> None:
    """Close the buses of a 003 block.

    ``def_balance[t]``       electric balance (BAL3-E)
    ``def_heat_balance[t]``  heat balance (BAL3-H)
    ``def_gas_balance[t]``   CH4 balance (BAL3-G)
    ``def_h2_balance[t]``    H2 balance (BAL3-H2)
    ``def_nh3_balance[t]``   NH3 balance (SPEC §3.12 with the storage as a device), only if ``nh3`` is given
    ``cost``                 sum of the cost terms of all buses (objective eq. 10 of 003)

    Each row is ``sum of injections = 0``; a period with nothing injected gets no row.  Pass ``nh3``
    whenever a device was built on an :class:`AmmoniaBus` (P2A, TP with co-firing, NH3 storage):
    without it NH3 would be free.
    """
    buses: list[tuple[str, InjectionBus, str]] = [
        ("def_balance", bus, "electric balance (BAL3-E)"),
        ("def_heat_balance", heat, "heat balance (BAL3-H)"),
        ("def_gas_balance", gas, "CH4 balance [MW LHV] (BAL3-G)"),
        ("def_h2_balance", h2, "H2 balance [MW LHV] (BAL3-H2)"),
    ]
    if nh3 is not None:
        buses.append(("def_nh3_balance", nh3, "NH3 balance [t per period] (SPEC §3.12)"))
    for name, b, _ in buses:
        if b.horizon != bus.horizon:
            raise ValueError(f"close_lowcarbon_buses: electric bus on {bus.horizon} but {name} bus on {b.horizon}")
    for name, b, doc in buses:
        _write_balance(block, name, b, doc)
    costs = [c for _, b, _ in buses for c in b.cost]
    block.cost = pyo.Expression(expr=pyo.quicksum(costs) if costs else 0.0, doc="operating cost [万元] (003 eq. 10)")


# ---------------------------------------------------------------------------- shared pieces


def _periods(b: pyo.Block, horizon: Horizon) -> list[int]:
    T = horizon.periods
    b.T = pyo.Set(initialize=T, ordered=True, doc="periods")
    return T


def _ramp_rows(
    b: pyo.Block, var: Any, horizon: Horizon, up: float | None, down: float | None, initial: float | None,
    initial_name: str, prefix: str, label: str,
) -> None:
    """``res_{prefix}ramp_up[t]: x_t - x_{t-1} <= up dt`` and ``res_{prefix}ramp_down[t]: x_{t-1} - x_t <= down dt``.

    The rates are the mutable Params ``{prefix}ramp_up_mw_per_h`` / ``{prefix}ramp_down_mw_per_h`` (per
    hour); ``x_0`` is the mutable Param ``initial_name`` if ``initial`` is given, else period 1 has no
    row.  A ``None`` rate builds no rows.
    """
    T = horizon.periods
    dt = horizon.dt_h
    x0 = None
    if initial is not None:
        b.add_component(initial_name, pyo.Param(initialize=initial, mutable=True,
                                                doc=f"value before period 1 [MW] ({label})"))
        x0 = b.component(initial_name)

    def prev(t: int) -> Any:
        return x0 if t == T[0] else var[t - 1]

    for direction, rate in (("up", up), ("down", down)):
        if rate is None:
            continue
        pname = f"{prefix}ramp_{direction}_mw_per_h"
        b.add_component(pname, pyo.Param(initialize=rate, mutable=True,
                                         doc=f"ramp-{direction} rate [MW/h] ({label})"))
        r = b.component(pname)

        def rule(m: pyo.Block, t: int, r: Any = r, direction: str = direction) -> Any:
            p = prev(t)
            if p is None:
                return pyo.Constraint.Skip
            return (var[t] - p if direction == "up" else p - var[t]) <= r * dt

        b.add_component(f"res_{prefix}ramp_{direction}", pyo.Constraint(
            b.T, rule=rule, doc=f"ramp-{direction} limit ({label})"))


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


# ---------------------------------------------------------------------------- storages (NH3, H2; E and R reused)


@dataclass(frozen=True)
class AmmoniaStorageParams:
    """NH3 tank (SPEC §3.12 `[reconstructed]`), in tonnes."""

    capacity_t: float = _p(200.0, "t", "tank capacity")
    soc_min_frac: float = _p(0.0, "1", "minimum content / capacity", _MINE)
    soc_max_frac: float = _p(1.0, "1", "maximum content / capacity", _MINE)
    soc_initial_frac: float = _p(0.5, "1", "content at t=0 / capacity (= content at the end)", _MINE)
    flow_max_t_per_h: float | None = _p(None, "t/h", "limit on |net withdrawal| (None: unlimited)", _MINE)

    def __post_init__(self) -> None:
        _check_positive(self, "capacity_t")
        _check_fraction_window(self)
        _check_optional_nonneg(self, "flow_max_t_per_h")


def build_ammonia_storage(
    block: pyo.Block, params: AmmoniaStorageParams, horizon: Horizon, nh3: AmmoniaBus
) -> LowCarbonHandle:
    r"""NH3 storage tank (SPEC §3.12).

    .. math::

        S^{NH_3}_t = S^{NH_3}_{t-1} - y_t,\quad S^{min} \le S^{NH_3}_t \le S^{max},\quad S^{NH_3}_T = S^{NH_3}_0

    ``y_t`` (``m_withdraw_t``, t per period, free sign, ``|y_t| <= flow_max dt``) is injected on the NH3
    bus; with the NH3 balance ``M^NH3_t - sum_g m^NH3_g,t + y_t = 0`` this is SPEC's
    ``S_t = S_{t-1} + M^{NH3}_t - sum_g m^{NH3}_{g,t}``.
    """
    T = _periods(block, horizon)
    dt = horizon.dt_h
    b = block
    cap = params.capacity_t
    b.s_min_t = pyo.Param(initialize=params.soc_min_frac * cap, mutable=True, doc="minimum content [t]")
    b.s_max_t = pyo.Param(initialize=params.soc_max_frac * cap, mutable=True, doc="maximum content [t]")
    b.s_initial_t = pyo.Param(initialize=params.soc_initial_frac * cap, mutable=True, doc="content at t=0 [t]")
    if params.flow_max_t_per_h is None:
        b.m_withdraw_t = pyo.Var(b.T, within=pyo.Reals, doc="net withdrawal y_t [t per period]")
    else:
        lim = params.flow_max_t_per_h * dt
        b.m_withdraw_t = pyo.Var(b.T, bounds=(-lim, lim), doc="net withdrawal y_t [t per period]")
    b.s_t = pyo.Var(b.T, bounds=(b.s_min_t, b.s_max_t), doc="NH3 stored at period end S^NH3_t [t]")
    b.def_storage = pyo.Constraint(
        b.T, rule=lambda m, t: m.s_t[t] == (m.s_initial_t if t == T[0] else m.s_t[t - 1]) - m.m_withdraw_t[t],
        doc="tank balance (SPEC §3.12)")
    b.res_end_storage = pyo.Constraint(expr=b.s_t[T[-1]] == b.s_initial_t, doc="end content = start (SPEC §3.12)")
    for t in T:
        nh3.inject(t, b.m_withdraw_t[t])
    return LowCarbonHandle(block=b, outputs={"nh3_stored_t": (b.s_t, "t"), "nh3_withdraw_t": (b.m_withdraw_t, "t")})


@dataclass(frozen=True)
class HydrogenStorageParams:
    """H2 tank (SPEC §3.15 storages), MWh (LHV) and MW."""

    capacity_mwh: float = _p(100.0, "MWh", "capacity")
    h_charge_max_mw: float = _p(30.0, "MW", "charge limit")
    h_discharge_max_mw: float = _p(30.0, "MW", "discharge limit")
    soc_min_frac: float = _p(0.05, "1", "minimum content / capacity", _MINE)
    soc_max_frac: float = _p(0.95, "1", "maximum content / capacity", _MINE)
    soc_initial_frac: float = _p(0.5, "1", "content at t=0 / capacity (= content at the end)", _MINE)
    eta_charge: float = _p(0.95, "1", "charge efficiency", _MINE)
    eta_discharge: float = _p(0.95, "1", "discharge efficiency", _MINE)

    def __post_init__(self) -> None:
        _check_positive(self, "capacity_mwh")
        _check_nonneg(self, "h_charge_max_mw", "h_discharge_max_mw")
        _check_fraction_window(self)
        _check_efficiency(self, "eta_charge", "eta_discharge")


def build_hydrogen_storage(
    block: pyo.Block, params: HydrogenStorageParams, horizon: Horizon, h2: HydrogenBus
) -> LowCarbonHandle:
    r"""H2 storage, an LP without mode binary (SPEC §3.15 storages; ESS-1…ESS-4 form).

    .. math::

        E_t = E_{t-1} + (\eta^{ch} H^{ch}_t - H^{dis}_t/\eta^{dis})\Delta t,\quad E^{min} \le E_t \le E^{max},\quad
        0 \le H^{ch}_t \le \bar H^{ch},\ 0 \le H^{dis}_t \le \bar H^{dis},\quad E_T = E_0

    Injection ``H^dis - H^ch`` on the H2 bus.  Simultaneous charge and discharge only burns H2 (eta < 1);
    check with :func:`agents.rural_devices.simultaneous_periods`.
    """
    T = _periods(block, horizon)
    dt = horizon.dt_h
    b = block
    cap = params.capacity_mwh
    b.e_min_mwh = pyo.Param(initialize=params.soc_min_frac * cap, mutable=True, doc="minimum content [MWh]")
    b.e_max_mwh = pyo.Param(initialize=params.soc_max_frac * cap, mutable=True, doc="maximum content [MWh]")
    b.e_initial_mwh = pyo.Param(initialize=params.soc_initial_frac * cap, mutable=True, doc="content at t=0 [MWh]")
    b.h_charge_max_mw = pyo.Param(initialize=params.h_charge_max_mw, mutable=True, doc="charge limit [MW]")
    b.h_discharge_max_mw = pyo.Param(initialize=params.h_discharge_max_mw, mutable=True, doc="discharge limit [MW]")
    b.h_charge_mw = pyo.Var(b.T, bounds=(0, b.h_charge_max_mw), doc="H2 charged H^H,ch_t [MW LHV]")
    b.h_discharge_mw = pyo.Var(b.T, bounds=(0, b.h_discharge_max_mw), doc="H2 discharged H^H,dis_t [MW LHV]")
    b.soc_mwh = pyo.Var(b.T, bounds=(b.e_min_mwh, b.e_max_mwh), doc="H2 stored at period end [MWh LHV]")
    eta_c, eta_d = params.eta_charge, params.eta_discharge
    b.def_soc = pyo.Constraint(
        b.T, rule=lambda m, t: m.soc_mwh[t] == (m.e_initial_mwh if t == T[0] else m.soc_mwh[t - 1])
        + (eta_c * m.h_charge_mw[t] - m.h_discharge_mw[t] / eta_d) * dt,
        doc="H2 content balance (ESS-1 form)")
    b.res_end_soc = pyo.Constraint(expr=b.soc_mwh[T[-1]] == b.e_initial_mwh, doc="end content = start (ESS-4 form)")
    for t in T:
        h2.inject(t, b.h_discharge_mw[t] - b.h_charge_mw[t])
    return LowCarbonHandle(block=b, outputs={"h2s_charge_mw": (b.h_charge_mw, "MW"),
                                             "h2s_discharge_mw": (b.h_discharge_mw, "MW"),
                                             "h2s_soc_mwh": (b.soc_mwh, "MWh")})


def default_electric_storage() -> BatteryParams:
    """003's electric storage: 200 MWh / 50 MW (SPEC §3.15) `[default]`; SOC 10–90 %, start 50 %, η 0.95
    `[default] not in SPEC`.  The ``*_kwh``/``*_kw`` fields hold **MWh/MW**.  Build it with
    :func:`agents.rural_devices.build_power_storage` (``build_battery(..., exclusive=False, binary=False)``:
    an LP, no mode binary)."""
    return BatteryParams(capacity_kwh=200.0, p_charge_max_kw=50.0, p_discharge_max_kw=50.0, soc_min_frac=0.1,
                         soc_max_frac=0.9, soc_initial_frac=0.5, eta_charge=0.95, eta_discharge=0.95)


def default_heat_storage() -> HeatStorageParams:
    """003's heat storage: 150 MWh / 50 MW (SPEC §3.15) `[default]`; loss 1 %/h, full SOC range, start 50 %
    `[default] not in SPEC`.  Fields in ``kWh``/``kW`` hold **MWh/MW**; build with
    :func:`agents.rural_devices.build_heat_storage`."""
    return HeatStorageParams(capacity_kwh=150.0, h_charge_max_kw=50.0, h_discharge_max_kw=50.0, loss_per_h=0.01)


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


# ---------------------------------------------------------------------------- EH (§3.14)


@dataclass(frozen=True)
class ElectricHeaterParams:
    """Electric heater EH (SPEC §3.14)."""

    p_max_mw: float = _p(50.0, "MW", "electric input limit")
    efficiency: float = _p(0.98, "1", "eta_EB", "[paper] 003")

    def __post_init__(self) -> None:
        _check_nonneg(self, "p_max_mw")
        _check_efficiency(self, "efficiency")


def build_electric_heater(
    block: pyo.Block, params: ElectricHeaterParams, horizon: Horizon, bus: Bus, heat: HeatBus
) -> LowCarbonHandle:
    r"""Electric heater (SPEC §3.14, 003 eq. 17).

    .. math::

        R^{EB}_t = \eta_{EB} P^{EB}_t,\qquad 0 \le P^{EB}_t \le \bar P^{EB}

    Injections ``-P^EB`` (electric), ``+R^EB`` (heat); no own cost.
    """
    T = _periods(block, horizon)
    b = block
    b.p_max_mw = pyo.Param(initialize=params.p_max_mw, mutable=True, doc="electric input limit [MW]")
    b.p_mw = pyo.Var(b.T, bounds=(0, b.p_max_mw), doc="electric input P^EB_t [MW]")
    b.r_mw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="heat output R^EB_t [MW]")
    eta = params.efficiency
    b.def_heat = pyo.Constraint(b.T, rule=lambda m, t: m.r_mw[t] == eta * m.p_mw[t], doc="R = eta_EB P (eq. 17)")
    for t in T:
        bus.inject(t, -b.p_mw[t])
        heat.inject(t, b.r_mw[t])
    return LowCarbonHandle(block=b, outputs={"eh_power_mw": (b.p_mw, "MW"), "eh_heat_mw": (b.r_mw, "MW")})


# ---------------------------------------------------------------------------- wind (§3.3, F^cur)


@dataclass(frozen=True)
class WindFarmParams:
    """Wind farms of 003 (SPEC §3.3, §3.15), one aggregate profile (the uncertain ``u`` of §6.5)."""

    capacity_mw: float = _p(600.0, "MW", "installed capacity (2 farms x 300 MW, aggregated)")
    curtailment_cost_per_mwh: float = _p(0.05, "万元/MWh", "curtailment penalty c^cur")

    def __post_init__(self) -> None:
        _check_positive(self, "capacity_mw")
        _check_nonneg(self, "curtailment_cost_per_mwh")


def _availability(values: Sequence[float] | np.ndarray, horizon: Horizon, capacity: float) -> dict[int, float]:
    prof = profile_param(values, horizon, "wind available_mw")
    bad = [t for t, v in prof.items() if not (0 <= v <= capacity)]
    if bad:
        t = bad[0]
        raise ValueError(f"wind available_mw must be in [0, capacity_mw = {capacity:g}], got {prof[t]:g} in period {t}")
    return prof


def build_wind_farm(
    block: pyo.Block, params: WindFarmParams, horizon: Horizon, bus: Bus, available_mw: Sequence[float] | np.ndarray
) -> LowCarbonHandle:
    r"""Wind with curtailment (SPEC §3.3 RES-1, 003 F^cur).

    .. math::

        0 \le P^{WT}_t,\qquad P^{WT}_t \le P^{WT,av}_t\ \ (\texttt{res\_wind\_avail})           \text{(RES-1)}
        F^{cur} = c^{cur}\textstyle\sum_t (P^{WT,av}_t - P^{WT}_t)\Delta t

    The availability is a **variable** ``p_avail_mw[t]`` (bounds ``[0, capacity]``) *fixed* at
    ``available_mw``, so the robust layer can treat it as the uncertain column ``u`` (unfix it, or
    change it with :func:`set_wind_availability` and :meth:`agents.milp.HighsModel.update`), and
    RES-1 is a row, not a bound.  Injection ``P^WT_t``; ``cost_curtailment``.
    """
    T = _periods(block, horizon)
    dt = horizon.dt_h
    b = block
    prof = _availability(available_mw, horizon, params.capacity_mw)
    b.capacity_mw = pyo.Param(initialize=params.capacity_mw, doc="installed capacity [MW]")
    b.curtailment_cost_per_mwh = pyo.Param(initialize=params.curtailment_cost_per_mwh, mutable=True,
                                           doc="curtailment penalty c^cur [万元/MWh]")
    b.p_avail_mw = pyo.Var(b.T, bounds=(0, params.capacity_mw), initialize=prof,
                           doc="available wind P^WT,av_t [MW] (fixed; the uncertain u)")
    for t in T:
        b.p_avail_mw[t].fix(prof[t])
    b.p_wind_mw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="dispatched wind P^WT_t [MW] (RES-1)")
    b.res_wind_avail = pyo.Constraint(b.T, rule=lambda m, t: m.p_wind_mw[t] <= m.p_avail_mw[t],
                                      doc="dispatch <= availability (RES-1)")
    b.cost_curtailment = pyo.Expression(
        expr=b.curtailment_cost_per_mwh * dt * pyo.quicksum(b.p_avail_mw[t] - b.p_wind_mw[t] for t in T),
        doc="curtailment cost F^cur [万元]")
    for t in T:
        bus.inject(t, b.p_wind_mw[t])
    bus.cost.append(b.cost_curtailment)
    return LowCarbonHandle(block=b, outputs={"wind_mw": (b.p_wind_mw, "MW"), "wind_available_mw": (b.p_avail_mw, "MW")},
                           costs={"cost_curtailment": b.cost_curtailment})


def set_wind_availability(block: pyo.Block, values: Sequence[float] | np.ndarray) -> None:
    """Re-fix ``p_avail_mw`` of a block built by :func:`build_wind_farm` (checked: length, finite,
    ``0 <= v <= capacity``); call :meth:`agents.milp.HighsModel.update` before re-solving."""
    keys = list(block.p_avail_mw.keys())
    prof = _availability(values, Horizon(len(keys), 1.0), float(pyo.value(block.capacity_mw)))
    for i, t in enumerate(keys):
        block.p_avail_mw[t].fix(prof[i + 1])


# ---------------------------------------------------------------------------- DR of 003 (§3.6d)


@dataclass(frozen=True)
class DemandResponseParams:
    """Electric and heat DR of 003 (SPEC §3.6d `[reconstructed]`).  Limits are per period (MW) and
    become mutable Params indexed by period (set hourly profiles with :func:`agents.devices.set_profile`)."""

    p_tran_max_mw: float = _p(20.0, "MW", "transferable electric load limit |P^tran|", _MINE)
    r_tran_max_mw: float = _p(10.0, "MW", "transferable heat load limit |R^tran|", _MINE)
    p_sub_max_mw: float = _p(10.0, "MW", "substitution limit |P^sub|", _MINE)
    p_cut_max_mw: float = _p(10.0, "MW", "curtailable electric load limit", _MINE)
    r_cut_max_mw: float = _p(5.0, "MW", "curtailable heat load limit", _MINE)
    phi: float = _p(0.9, "1", "heat replaced per MW of electricity (R^sub = -phi P^sub)", "[default] SPEC §3.6d")
    cost_tran_per_mwh: float = _p(0.01, "万元/MWh", "compensation c^tr per |shifted| MWh", _MINE)
    cost_sub_per_mwh: float = _p(0.01, "万元/MWh", "compensation c^sub per |substituted| MWh", _MINE)
    cost_cut_per_mwh: float = _p(0.05, "万元/MWh", "compensation c^cut per curtailed MWh", _MINE)

    def __post_init__(self) -> None:
        _check_nonneg(self, "p_tran_max_mw", "r_tran_max_mw", "p_sub_max_mw", "p_cut_max_mw", "r_cut_max_mw",
                      "cost_tran_per_mwh", "cost_sub_per_mwh", "cost_cut_per_mwh")
        _check_positive(self, "phi")


def build_demand_response(
    block: pyo.Block, params: DemandResponseParams, horizon: Horizon, bus: Bus, heat: HeatBus
) -> LowCarbonHandle:
    r"""Transferable, substitutable and curtailable electric and heat load (SPEC §3.6d).

    .. math::

        -\bar P^{tran}_t \le P^{tran}_t \le \bar P^{tran}_t,\ \textstyle\sum_t P^{tran}_t\Delta t = 0
            \quad(\text{same for } R^{tran})
        P^{sub}_t = -R^{sub}_t/\phi,\qquad |P^{sub}_t| \le \bar P^{sub}_t
        0 \le P^{cut}_t \le \bar P^{cut}_t,\qquad 0 \le R^{cut}_t \le \bar R^{cut}_t
        F_{DR} = \textstyle\sum_t\big(c^{tr}(|P^{tran}_t|+|R^{tran}_t|) + c^{sub}|P^{sub}_t|
                 + c^{cut}(P^{cut}_t+R^{cut}_t)\big)\Delta t

    ``|x| = x^+ + x^-`` with ``x = x^+ - x^-`` (rows ``def_*_split``; exact because F_DR is minimised).
    Signs as BAL3-E / BAL3-H (demand side ``+P^tran + P^sub - P^cut``): injections
    ``-P^tran - P^sub + P^cut`` (electric) and ``-R^tran - R^sub + R^cut`` (heat).  ``cost_dr``.
    """
    T = _periods(block, horizon)
    dt = horizon.dt_h
    b = block
    for name, value, doc in (
        ("p_tran_max_mw", params.p_tran_max_mw, "transferable electric limit [MW]"),
        ("r_tran_max_mw", params.r_tran_max_mw, "transferable heat limit [MW]"),
        ("p_sub_max_mw", params.p_sub_max_mw, "substitution limit [MW]"),
        ("p_cut_max_mw", params.p_cut_max_mw, "curtailable electric limit [MW]"),
        ("r_cut_max_mw", params.r_cut_max_mw, "curtailable heat limit [MW]"),
    ):
        b.add_component(name, pyo.Param(b.T, initialize=value, mutable=True, doc=doc))
    b.phi = pyo.Param(initialize=params.phi, mutable=True, doc="substitution ratio phi [MW heat per MW el]")
    for name, value, doc in (("cost_tran_per_mwh", params.cost_tran_per_mwh, "c^tr"),
                             ("cost_sub_per_mwh", params.cost_sub_per_mwh, "c^sub"),
                             ("cost_cut_per_mwh", params.cost_cut_per_mwh, "c^cut")):
        b.add_component(name, pyo.Param(initialize=value, mutable=True, doc=f"compensation {doc} [万元/MWh]"))
    b.p_tran_mw = pyo.Var(b.T, bounds=lambda m, t: (-m.p_tran_max_mw[t], m.p_tran_max_mw[t]),
                          doc="transferred electric load P^tran_t [MW]")
    b.r_tran_mw = pyo.Var(b.T, bounds=lambda m, t: (-m.r_tran_max_mw[t], m.r_tran_max_mw[t]),
                          doc="transferred heat load R^tran_t [MW]")
    b.p_sub_mw = pyo.Var(b.T, bounds=lambda m, t: (-m.p_sub_max_mw[t], m.p_sub_max_mw[t]),
                         doc="electric load replacing heat P^sub_t [MW]")
    b.r_sub_mw = pyo.Var(b.T, within=pyo.Reals, doc="heat load change by substitution R^sub_t [MW]")
    b.p_cut_mw = pyo.Var(b.T, bounds=lambda m, t: (0, m.p_cut_max_mw[t]), doc="curtailed electric load P^cut_t [MW]")
    b.r_cut_mw = pyo.Var(b.T, bounds=lambda m, t: (0, m.r_cut_max_mw[t]), doc="curtailed heat load R^cut_t [MW]")
    for name, what in (("p_tran", "P^tran"), ("r_tran", "R^tran"), ("p_sub", "P^sub")):
        b.add_component(f"{name}_pos_mw", pyo.Var(b.T, within=pyo.NonNegativeReals, doc=f"{what}+ [MW] (|x| split)"))
        b.add_component(f"{name}_neg_mw", pyo.Var(b.T, within=pyo.NonNegativeReals, doc=f"{what}- [MW] (|x| split)"))
        x, pos, neg = b.component(f"{name}_mw"), b.component(f"{name}_pos_mw"), b.component(f"{name}_neg_mw")
        b.add_component(f"def_{name}_split", pyo.Constraint(
            b.T, rule=lambda m, t, x=x, pos=pos, neg=neg: x[t] == pos[t] - neg[t], doc=f"{what} = x+ - x- (|x|)"))
    b.def_tran_sum = pyo.Constraint(expr=dt * pyo.quicksum(b.p_tran_mw[t] for t in T) == 0,
                                    doc="transferred electric energy sums to zero (SPEC §3.6d)")
    b.def_heat_tran_sum = pyo.Constraint(expr=dt * pyo.quicksum(b.r_tran_mw[t] for t in T) == 0,
                                         doc="transferred heat energy sums to zero (SPEC §3.6d)")
    b.def_substitution = pyo.Constraint(b.T, rule=lambda m, t: m.phi * m.p_sub_mw[t] + m.r_sub_mw[t] == 0,
                                        doc="P^sub = -R^sub / phi (SPEC §3.6d)")
    b.cost_dr = pyo.Expression(
        expr=dt * pyo.quicksum(
            b.cost_tran_per_mwh * (b.p_tran_pos_mw[t] + b.p_tran_neg_mw[t] + b.r_tran_pos_mw[t] + b.r_tran_neg_mw[t])
            + b.cost_sub_per_mwh * (b.p_sub_pos_mw[t] + b.p_sub_neg_mw[t])
            + b.cost_cut_per_mwh * (b.p_cut_mw[t] + b.r_cut_mw[t]) for t in T),
        doc="DR compensation F_DR [万元]")
    for t in T:
        bus.inject(t, b.p_cut_mw[t] - b.p_tran_mw[t] - b.p_sub_mw[t])
        heat.inject(t, b.r_cut_mw[t] - b.r_tran_mw[t] - b.r_sub_mw[t])
    bus.cost.append(b.cost_dr)
    return LowCarbonHandle(
        block=b,
        outputs={"dr_tran_mw": (b.p_tran_mw, "MW"), "dr_heat_tran_mw": (b.r_tran_mw, "MW"),
                 "dr_sub_mw": (b.p_sub_mw, "MW"), "dr_heat_sub_mw": (b.r_sub_mw, "MW"),
                 "dr_cut_mw": (b.p_cut_mw, "MW"), "dr_heat_cut_mw": (b.r_cut_mw, "MW")},
        costs={"cost_dr": b.cost_dr},
    )


# ---------------------------------------------------------------------------- EV fleet (§3.7, F^EV)


@dataclass(frozen=True)
class EVFleetParams:
    """003's EV fleet: aggregated vehicle groups (:class:`agents.ev.EVParams`, whose kW/kWh fields hold
    **MW/MWh** here and whose ``c_ev`` is c^EV in 万元/MWh) and the V2G compensation c^{EV,dis}."""

    groups: tuple[EVParams, ...]
    discharge_compensation_per_mwh: float = _p(0.02, "万元/MWh", "V2G compensation c^EV,dis", _MINE)

    def __post_init__(self) -> None:
        if not self.groups:
            raise _bad("EVFleetParams", "groups", "a non-empty tuple of EVParams", self.groups)
        names = [g.name for g in self.groups]
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise _bad("EVFleetParams", "groups", "EVParams with distinct names", dup)
        for g in self.groups:
            if g.p_charge_min_kw or g.p_discharge_min_kw:
                raise _bad("EVFleetParams", "groups", "groups with p_charge_min_kw = p_discharge_min_kw = 0 "
                           f"(003's EV model is an LP); group {g.name!r} has minimum powers",
                           (g.p_charge_min_kw, g.p_discharge_min_kw))
        _check_nonneg(self, "discharge_compensation_per_mwh")


def build_ev_fleet(block: pyo.Block, params: EVFleetParams, horizon: Horizon, bus: Bus) -> LowCarbonHandle:
    r"""003's EV fleet, one :func:`agents.ev.build_ev` block per group (SPEC §3.7, F^EV of §3.15).

    Each group ``m`` is ``build_ev(group[m], p_m, horizon, prices=0, exclusive=False)``: EV-1…EV-5
    (work window or overnight cyclic EV-4'), with ``block.group[m].cost`` =
    :math:`c^{EV}\sum_t(P^c_{m,t}+P^{dis}_{m,t})\Delta t` (EV-6 with π = 0, λ = 0; 003 has no
    electricity price).  Its mode binaries ``x_charge``/``x_discharge`` are then relaxed to [0, 1]:
    without EV-2's complementarity rows (``exclusive=False``, zero minimum power) they appear only in
    EV-1, so the relaxation loses nothing and the fleet is an LP (003's recourse, SPEC §6.5).

    .. math::

        P^{EV,ch}_t = \textstyle\sum_m P^c_{m,t},\qquad P^{EV,dis}_t = \sum_m P^{dis}_{m,t}
        F^{EV} = \textstyle\sum_{m,t}\big(c^{EV,dis}P^{dis}_{m,t} + c^{EV}(P^c_{m,t}+P^{dis}_{m,t})\big)\Delta t

    Injection ``P^{EV,dis}_t - P^{EV,ch}_t``; ``cost_ev``.  The groups' fields in kW/kWh are MW/MWh.
    """
    T = _periods(block, horizon)
    dt = horizon.dt_h
    b = block
    names = [g.name for g in params.groups]
    b.GROUPS = pyo.Set(initialize=names, ordered=True, doc="EV groups")
    b.group = pyo.Block(b.GROUPS, doc="one EV block per group (agents.ev.build_ev)")
    zero = np.zeros(horizon.n)
    for g in params.groups:
        gb = b.group[g.name]
        build_ev(gb, g, horizon, zero, exclusive=False)
        for var in (gb.x_charge, gb.x_discharge):
            for v in var.values():
                v.domain = pyo.UnitInterval
    b.discharge_compensation_per_mwh = pyo.Param(initialize=params.discharge_compensation_per_mwh, mutable=True,
                                                 doc="V2G compensation c^EV,dis [万元/MWh]")
    b.p_charge_mw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="fleet charging P^EV,ch_t [MW]")
    b.p_discharge_mw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="fleet discharging P^EV,dis_t [MW]")
    b.def_charge = pyo.Constraint(
        b.T, rule=lambda m, t: m.p_charge_mw[t] == pyo.quicksum(m.group[g].p_charge_kw[t] for g in names),
        doc="fleet charging = sum of groups")
    b.def_discharge = pyo.Constraint(
        b.T, rule=lambda m, t: m.p_discharge_mw[t] == pyo.quicksum(m.group[g].p_discharge_kw[t] for g in names),
        doc="fleet discharging = sum of groups")
    b.cost_ev = pyo.Expression(
        expr=pyo.quicksum(b.group[g].cost for g in names)
        + b.discharge_compensation_per_mwh * dt * pyo.quicksum(b.p_discharge_mw[t] for t in T),
        doc="EV cost F^EV: scheduling c^EV (P^c + P^dis) dt + V2G compensation [万元]")
    for t in T:
        bus.inject(t, b.p_discharge_mw[t] - b.p_charge_mw[t])
    bus.cost.append(b.cost_ev)
    return LowCarbonHandle(block=b, outputs={"ev_charge_mw": (b.p_charge_mw, "MW"),
                                             "ev_discharge_mw": (b.p_discharge_mw, "MW")},
                           costs={"cost_ev": b.cost_ev})


def default_ev_fleet(horizon: Horizon = DA_HORIZON) -> EVFleetParams:
    """30 aggregated EV groups (003: "30 elements") `[default] not in SPEC`, deterministic.

    Every group: 10 MWh, ±2.5 MW, η 0.95, SOC 0.2–0.95, departure SOC 0.8, c^EV = 0.005 万元/MWh
    (fleet: 300 MWh, 75 MW).  12 ``work`` groups plugged in during the day: arrive 07/08/09 h
    (``i mod 3``), leave 17/18/19/20 h (``i mod 4``), arrival SOC 0.30–0.45.  18 ``home`` groups
    plugged in overnight (cyclic EV-4'): leave 06/07/08 h, return 17–21 h (``i mod 5``), trip
    2.0–4.0 MWh.  Clock hours map to the period starting then on ``horizon``.
    """
    def period(hour: float) -> int:
        return round(hour / horizon.dt_h) + 1

    common: dict[str, Any] = dict(capacity_kwh=10.0, p_charge_max_kw=2.5, p_discharge_max_kw=2.5, eta=0.95,
                                  soc_min=0.2, soc_max=0.95, soc_required=0.8, v2g=True, c_ev=0.005,
                                  station="003")
    groups: list[EVParams] = []
    for i in range(12):
        groups.append(EVParams(name=f"ev_work_{i:02d}", kind="work", arrival_period=period(7 + i % 3),
                               departure_period=period(17 + i % 4), soc_arrival=0.30 + 0.05 * (i % 4), **common))
    for i in range(18):
        groups.append(EVParams(name=f"ev_home_{i:02d}", kind="home", arrival_period=period(17 + i % 5),
                               departure_period=period(6 + i % 3), trip_kwh=2.0 + 0.5 * (i % 5), **common))
    return EVFleetParams(groups=tuple(groups))


# ---------------------------------------------------------------------------- recourse slacks (§6.5)


@dataclass(frozen=True)
class RecourseSlackParams:
    """Slacks that give relatively complete recourse (SPEC §6.5) and the heat dump of BAL3-H fix (e)."""

    shed_cost_per_mwh: float = _p(50.0, "万元/MWh", "electric load shedding penalty M", "[default] SPEC §6.5 M "
                                  "(~10^3 x the largest energy price, c^cur = 0.05)")
    heat_shed_cost_per_mwh: float = _p(50.0, "万元/MWh", "heat load shedding penalty M", "[default] SPEC §6.5 M")
    spill_cost_per_mwh: float = _p(50.0, "万元/MWh", "electric spill (over-generation beyond curtailment) penalty M",
                                   "[default] SPEC §6.5 M")
    heat_dump_cost_per_mwh: float = _p(0.0, "万元/MWh", "heat dump R^dump cost", "[proposed] SPEC §3.14 (e): free")

    def __post_init__(self) -> None:
        _check_nonneg(self, "shed_cost_per_mwh", "heat_shed_cost_per_mwh", "spill_cost_per_mwh",
                      "heat_dump_cost_per_mwh")


def build_recourse_slacks(
    block: pyo.Block, params: RecourseSlackParams, horizon: Horizon, bus: Bus, heat: HeatBus
) -> LowCarbonHandle:
    r"""Penalised slacks of the recourse and the heat dump (SPEC §6.5, §3.14 fix (e)).

    .. math::

        s^{shed}_t, s^{spill}_t, s^{heat}_t, R^{dump}_t \ge 0,\qquad
        \texttt{cost\_slack} = \textstyle\sum_t\big(M^{e}s^{shed}_t + M^{sp}s^{spill}_t + M^{h}s^{heat}_t
            + c^{dump}R^{dump}_t\big)\Delta t

    Injections ``+s^shed - s^spill`` (electric: unserved load, spilled power) and
    ``+s^heat - R^dump`` (heat).  ``R^dump`` is free by default (BAL3-H); note that a free dump also
    lets EH turn surplus wind into dumped heat instead of paying c^cur.
    """
    T = _periods(block, horizon)
    dt = horizon.dt_h
    b = block
    for name, value, doc in (("shed_cost_per_mwh", params.shed_cost_per_mwh, "electric shedding penalty"),
                             ("heat_shed_cost_per_mwh", params.heat_shed_cost_per_mwh, "heat shedding penalty"),
                             ("spill_cost_per_mwh", params.spill_cost_per_mwh, "electric spill penalty"),
                             ("heat_dump_cost_per_mwh", params.heat_dump_cost_per_mwh, "heat dump cost")):
        b.add_component(name, pyo.Param(initialize=value, mutable=True, doc=f"{doc} [万元/MWh]"))
    b.p_shed_mw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="electric load shed [MW] (slack)")
    b.p_spill_mw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="electric power spilled [MW] (slack)")
    b.r_shed_mw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="heat load shed [MW] (slack)")
    b.r_dump_mw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="heat dumped R^dump_t [MW] (BAL3-H fix e)")
    b.cost_slack = pyo.Expression(
        expr=dt * pyo.quicksum(b.shed_cost_per_mwh * b.p_shed_mw[t] + b.spill_cost_per_mwh * b.p_spill_mw[t]
                               + b.heat_shed_cost_per_mwh * b.r_shed_mw[t]
                               + b.heat_dump_cost_per_mwh * b.r_dump_mw[t] for t in T),
        doc="slack penalties and heat-dump cost [万元]")
    for t in T:
        bus.inject(t, b.p_shed_mw[t] - b.p_spill_mw[t])
        heat.inject(t, b.r_shed_mw[t] - b.r_dump_mw[t])
    bus.cost.append(b.cost_slack)
    return LowCarbonHandle(block=b, outputs={"shed_mw": (b.p_shed_mw, "MW"), "spill_mw": (b.p_spill_mw, "MW"),
                                             "heat_shed_mw": (b.r_shed_mw, "MW"), "heat_dump_mw": (b.r_dump_mw, "MW")},
                           costs={"cost_slack": b.cost_slack})


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

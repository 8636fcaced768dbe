"""Device library of paper 002's rural integrated energy system (SPEC §3.8, §3.6b).  Builders only build.

The builders follow :mod:`agents.devices` (imported, not changed): ``build_x(block, params, horizon, ...)``
creates its components on ``block``, appends its electric injection to a :class:`~agents.devices.Bus`
and its heat injection to a :class:`HeatBus` (generation positive, consumption negative), appends its
operating cost to the bus it belongs to, keeps profiles, prices and limits in mutable ``Param`` objects
(re-solve with :meth:`agents.milp.HighsModel.update`) and returns a :class:`~agents.devices.DeviceHandle`.

Carriers and their coupling
---------------------------
* **Electricity** (kW): the existing :class:`~agents.devices.Bus`, balance BAL2-E.
* **Heat** (kW_th): :class:`HeatBus`, a separate class with the same shape as ``Bus`` (injections per
  period and cost terms).  It is deliberately *not* a subclass of ``Bus``: an electric builder handed
  the heat bus (or the reverse) is then a type error that mypy reports.  :func:`close_rural_buses`
  writes both balances (``def_balance`` BAL2-E, ``def_heat_balance`` BAL2-H) and one ``cost``
  expression holding the cost terms of both buses.
* **Biogas** (m³/h): no bus.  The generator owns its gas flow ``G_t`` (``gas_m3_per_h``) and pays
  ``c^G`` per m³; :func:`build_biogas_storage` takes the gas-flow variables of its consumers and
  writes BGS-1 with their sum as the draw.  A generator built without a storage burns gas from an
  unlimited supply.
* **Generator heat**: BG-1's recoverable heat ``H^g_t`` goes on no bus; :func:`build_waste_heat_recovery`
  takes it and puts the recovered ``0 <= H^w_t <= H^g_t`` (BG-2) on the heat bus.  The rest is vented,
  which gives the heat side a free dump.

The whole rural model is a pure LP (no binary columns at all), so that the duality used by C&CG
(SPEC §6.4) is exact: power storage is the ESS block built with ``exclusive=False`` *and* its mode
binary removed (:func:`build_power_storage`); the intraday grid trade has no binary
(:func:`build_intraday_trading`; ``build_grid(exclusive=False)`` would still declare its mode binary
and has one limit for both directions).  After a solve, :func:`simultaneous_periods` finds periods in
which a storage charged and discharged at once (SPEC §3.1 note (ii)).

Heat-storage losses on any grid: ``S_t = (1-rho)^dt S_{t-1} + ...`` with ``rho`` per hour (see
:func:`build_heat_storage`).

Defaults of the missing Table 1 of 002 (SPEC §3.8, all ``[default]``) are in :data:`RURAL_DEFAULTS`.
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
    build_battery,
    close_bus,
    profile_param,
    set_profile,
)

# ---------------------------------------------------------------------------- validation helpers


def _bad(owner: str, name: str, allowed: str, value: Any) -> ValueError:
    return ValueError(f"{owner}.{name} must be {allowed}, got {value!r}")


def _finite(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool) and math.isfinite(v)


def _check_nonneg(obj: Any, *names: str) -> None:
    owner = type(obj).__name__
    for name in names:
        v = getattr(obj, name)
        if not (_finite(v) and v >= 0):
            raise _bad(owner, name, "finite and >= 0", v)


def _check_positive(obj: Any, *names: str) -> None:
    owner = type(obj).__name__
    for name in names:
        v = getattr(obj, name)
        if not (_finite(v) and v > 0):
            raise _bad(owner, name, "finite and > 0", v)


def _check_efficiency(obj: Any, *names: str) -> None:
    owner = type(obj).__name__
    for name in names:
        v = getattr(obj, name)
        if not (_finite(v) and 0 < v <= 1):
            raise _bad(owner, name, "in (0, 1]", v)


def _check_fraction_window(obj: Any) -> None:
    """``soc_min_frac <= soc_initial_frac <= soc_max_frac`` inside [0, 1]."""
    owner = type(obj).__name__
    lo, hi, s0 = obj.soc_min_frac, obj.soc_max_frac, obj.soc_initial_frac
    if not (_finite(lo) and 0 <= lo < 1):
        raise _bad(owner, "soc_min_frac", "in [0, 1)", lo)
    if not (_finite(hi) and lo < hi <= 1):
        raise _bad(owner, "soc_max_frac", f"in (soc_min_frac = {lo}, 1]", hi)
    if not (_finite(s0) and lo <= s0 <= hi):
        raise _bad(owner, "soc_initial_frac", f"in [soc_min_frac, soc_max_frac] = [{lo}, {hi}]", s0)


def check_battery_params(params: BatteryParams) -> None:
    """Validate a :class:`~agents.devices.BatteryParams` used as 002's power storage (it has no checks
    of its own); errors name the field and the allowed range."""
    _check_positive(params, "capacity_kwh")
    _check_nonneg(params, "p_charge_max_kw", "p_discharge_max_kw", "cost_per_kwh")
    _check_efficiency(params, "eta_charge", "eta_discharge")
    _check_fraction_window(params)
    sd = params.self_discharge_per_h
    if not (_finite(sd) and 0 <= sd < 1):
        raise _bad("BatteryParams", "self_discharge_per_h", "in [0, 1)", sd)


# ---------------------------------------------------------------------------- heat bus, balances


@dataclass
class HeatBus(InjectionBus):
    """Heat bus of one rural block: devices append heat injections (kW_th) and cost terms here.

    Same shape as :class:`agents.devices.Bus` (both are :class:`~agents.devices.InjectionBus`), but
    a separate type so electric and heat injections cannot be confused.
    """


def close_heat_bus(block: pyo.Block, heat: HeatBus, exchange: Any | None = None) -> None:
    """Create ``def_heat_balance[t]``: sum of heat injections (+ ``exchange[t]``) = 0 (BAL2-H).

    Periods with nothing on the heat bus get no row.  Only the balance: the heat bus's cost terms are
    collected by :func:`close_rural_buses`.
    """
    T = heat.horizon.periods

    def balance_rule(b: pyo.Block, t: int) -> Any:
        terms = list(heat.injection[t])
        if exchange is not None:
            terms.append(exchange[t])
        if not terms:  # nothing on the heat bus in this period (e.g. an electric-only block)
            return pyo.Constraint.Skip
        return pyo.quicksum(terms) == 0

    block.def_heat_balance = pyo.Constraint(T, rule=balance_rule, doc="heat balance (BAL2-H)")


def close_rural_buses(
    block: pyo.Block, bus: Bus, heat: HeatBus, exchange: Any | None = None, heat_exchange: Any | None = None
) -> None:
    """Close both buses of a rural block.

    ``def_balance[t]``       electric balance (BAL2-E), via :func:`agents.devices.close_bus`
    ``def_heat_balance[t]``  heat balance (BAL2-H)
    ``cost``                 sum of the cost terms of both buses (the intraday cost Q of 002)
    """
    if bus.horizon != heat.horizon:
        raise ValueError(f"close_rural_buses: electric bus on {bus.horizon} but heat bus on {heat.horizon}")
    close_bus(block, Bus(bus.horizon, injection=bus.injection, cost=[*bus.cost, *heat.cost]), exchange)
    close_heat_bus(block, heat, heat_exchange)


def build_fixed_load(
    block: pyo.Block, horizon: Horizon, bus: Bus | HeatBus, load_kw: Sequence[float] | np.ndarray
) -> DeviceHandle:
    r"""A fixed demand on either bus: power load $P^d_t$ (kW) or heat load $H^d_t$ (kW_th) of BAL2-E/H.

    Injection ``-load_kw[t]``, a mutable Param (the uncertain inputs $P^{d,f}_t+u^p_t$,
    $H^{d,f}_t+u^h_t$ of 002 §2.1.1 change per sample).  Output ``power_load_kw`` or ``heat_load_kw``.
    """
    heat = isinstance(bus, HeatBus)
    what = "heat load_kw" if heat else "power load_kw"
    b = block
    b.T = pyo.Set(initialize=horizon.periods, ordered=True, doc="periods")
    b.load_kw = pyo.Param(b.T, initialize=profile_param(load_kw, horizon, what), mutable=True,
                          doc="heat demand [kW_th]" if heat else "power demand [kW]")
    for t in horizon.periods:
        bus.inject(t, -b.load_kw[t])
    name, unit = ("heat_load_kw", "kW_th") if heat else ("power_load_kw", "kW")
    return DeviceHandle(block=b, outputs={name: (b.load_kw, unit)})


# ---------------------------------------------------------------------------- BG-1 biogas generator


@dataclass(frozen=True)
class BiogasGeneratorParams:
    """Biogas generator (SPEC §3.8, BG-1).  Gas flow in m³/h, calorific value in kWh/m³."""

    p_min_kw: float
    p_max_kw: float
    lhv_kwh_per_m3: float
    eta_power: float
    eta_heat: float
    gas_cost_per_m3: float = 0.0

    def __post_init__(self) -> None:
        _check_positive(self, "lhv_kwh_per_m3", "p_max_kw")
        _check_nonneg(self, "gas_cost_per_m3")
        if not (_finite(self.p_min_kw) and 0 <= self.p_min_kw <= self.p_max_kw):
            raise _bad("BiogasGeneratorParams", "p_min_kw", f"in [0, p_max_kw = {self.p_max_kw}]", self.p_min_kw)
        _check_efficiency(self, "eta_power")
        if not (_finite(self.eta_heat) and 0 <= self.eta_heat < 1):
            raise _bad("BiogasGeneratorParams", "eta_heat", "in [0, 1)", self.eta_heat)
        if self.eta_power + self.eta_heat > 1:
            raise _bad("BiogasGeneratorParams", "eta_heat", f"in [0, 1 - eta_power = {1 - self.eta_power:g}]"
                       " (power + heat cannot exceed the fuel energy)", self.eta_heat)


def build_biogas_generator(
    block: pyo.Block, params: BiogasGeneratorParams, horizon: Horizon, bus: Bus
) -> DeviceHandle:
    r"""Biogas generator, always on (SPEC §3.8, 002 §2.1.2).

    .. math::

        P^g_t = \eta_p H G_t,\qquad H^g_t = \eta_h H G_t,\qquad P^{g,min} \le P^g_t \le P^{g,max}
                                                                              \text{(BG-1)}

    ``G_t`` (``gas_m3_per_h``, m³/h) is the gas burnt; ``H^g_t`` (``heat_kw``) is the *recoverable*
    heat, put on the heat bus only through :func:`build_waste_heat_recovery` (BG-2).  Injection
    ``P^g_t`` on the electric bus; cost ``c^G sum G_t dt`` (the gas term of 002's intraday cost Q).
    ``P^{g,min}, P^{g,max}`` are mutable column bounds; there is no on/off binary.
    """
    T = horizon.periods
    dt = horizon.dt_h
    b = block
    b.T = pyo.Set(initialize=T, ordered=True, doc="periods")
    b.p_min_kw = pyo.Param(initialize=params.p_min_kw, mutable=True, doc="minimum electric output [kW]")
    b.p_max_kw = pyo.Param(initialize=params.p_max_kw, mutable=True, doc="maximum electric output [kW]")
    b.gas_m3_per_h = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="biogas burnt G_t [m3/h] (BG-1)")
    b.p_kw = pyo.Var(b.T, bounds=(b.p_min_kw, b.p_max_kw), doc="electric output P^g_t [kW] (BG-1)")
    b.heat_kw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="recoverable heat H^g_t [kW_th] (BG-1)")
    k_p = params.eta_power * params.lhv_kwh_per_m3
    k_h = params.eta_heat * params.lhv_kwh_per_m3
    b.def_power = pyo.Constraint(b.T, rule=lambda m, t: m.p_kw[t] == k_p * m.gas_m3_per_h[t],
                                 doc="electric output = eta_p H G (BG-1)")
    b.def_heat = pyo.Constraint(b.T, rule=lambda m, t: m.heat_kw[t] == k_h * m.gas_m3_per_h[t],
                                doc="recoverable heat = eta_h H G (BG-1)")
    for t in T:
        bus.inject(t, b.p_kw[t])
    if params.gas_cost_per_m3:
        bus.cost.append(params.gas_cost_per_m3 * dt * pyo.quicksum(b.gas_m3_per_h[t] for t in T))
    return DeviceHandle(
        block=b,
        outputs={
            "biogas_m3_per_h": (b.gas_m3_per_h, "m3/h"),
            "bg_power_kw": (b.p_kw, "kW"),
            "bg_heat_kw": (b.heat_kw, "kW_th"),
        },
    )


# ---------------------------------------------------------------------------- BG-2 waste heat


def build_waste_heat_recovery(
    block: pyo.Block, horizon: Horizon, heat: HeatBus, generator_heat_kw: Any
) -> DeviceHandle:
    r"""Waste-heat recovery of the biogas generator (SPEC §3.8, 002 §2.1.3).

    .. math::

        0 \le H^w_t \le H^g_t                                                 \text{(BG-2)}

    ``generator_heat_kw`` is the generator's indexed heat variable (``gen.block.heat_kw``, the
    ``bg_heat_kw`` output of :func:`build_biogas_generator`).  Injection ``H^w_t`` on the heat bus;
    the unrecovered ``H^g_t - H^w_t`` is vented.
    """
    T = horizon.periods
    missing = [t for t in T if t not in generator_heat_kw]
    if missing:
        raise ValueError(f"waste heat recovery: generator_heat_kw has no entry for periods {missing[:5]}")
    b = block
    b.T = pyo.Set(initialize=T, ordered=True, doc="periods")
    b.heat_kw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="recovered heat H^w_t [kW_th] (BG-2)")
    b.res_recovery = pyo.Constraint(b.T, rule=lambda m, t: m.heat_kw[t] <= generator_heat_kw[t],
                                    doc="recovered heat <= generator heat (BG-2)")
    for t in T:
        heat.inject(t, b.heat_kw[t])
    return DeviceHandle(block=b, outputs={"recovered_heat_kw": (b.heat_kw, "kW_th")})


# ---------------------------------------------------------------------------- EB-1, HP-1 power-to-heat


@dataclass(frozen=True)
class ElectricBoilerParams:
    """Electric boiler (SPEC §3.8, EB-1)."""

    p_max_kw: float
    efficiency: float

    def __post_init__(self) -> None:
        _check_nonneg(self, "p_max_kw")
        _check_efficiency(self, "efficiency")


@dataclass(frozen=True)
class HeatPumpParams:
    """Heat pump (SPEC §3.8, HP-1 `[proposed]`)."""

    p_max_kw: float
    cop: float

    def __post_init__(self) -> None:
        _check_nonneg(self, "p_max_kw")
        if not (_finite(self.cop) and 0 < self.cop <= 10):
            raise _bad("HeatPumpParams", "cop", "in (0, 10]", self.cop)


def _power_to_heat(
    b: pyo.Block, horizon: Horizon, bus: Bus, heat: HeatBus, p_max_kw: float, factor: float, label: str
) -> None:
    """``heat_kw = factor * p_kw``, ``0 <= p_kw <= p_max_kw``; injects ``-p_kw`` and ``+heat_kw``."""
    T = horizon.periods
    b.T = pyo.Set(initialize=T, ordered=True, doc="periods")
    b.p_max_kw = pyo.Param(initialize=p_max_kw, mutable=True, doc="electric input limit [kW]")
    b.p_kw = pyo.Var(b.T, bounds=(0, b.p_max_kw), doc=f"electric input [kW] ({label})")
    b.heat_kw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc=f"heat output [kW_th] ({label})")
    b.def_heat = pyo.Constraint(b.T, rule=lambda m, t: m.heat_kw[t] == factor * m.p_kw[t],
                                doc=f"heat output = conversion factor * electric input ({label})")
    for t in T:
        bus.inject(t, -b.p_kw[t])
        heat.inject(t, b.heat_kw[t])


def build_electric_boiler(
    block: pyo.Block, params: ElectricBoilerParams, horizon: Horizon, bus: Bus, heat: HeatBus
) -> DeviceHandle:
    r"""Electric boiler (SPEC §3.8, 002 §2.1.4).

    .. math::

        H^b_t = \eta_b P^b_t,\qquad 0 \le P^b_t \le \bar P^b                   \text{(EB-1)}

    Injections ``-P^b_t`` (electric) and ``+H^b_t`` (heat); no own cost.
    """
    _power_to_heat(block, horizon, bus, heat, params.p_max_kw, params.efficiency, "EB-1")
    return DeviceHandle(block=block, outputs={"eb_power_kw": (block.p_kw, "kW"),
                                              "eb_heat_kw": (block.heat_kw, "kW_th")})


def build_heat_pump(
    block: pyo.Block, params: HeatPumpParams, horizon: Horizon, bus: Bus, heat: HeatBus
) -> DeviceHandle:
    r"""Heat pump (SPEC §3.8; 002 names it without an equation).

    .. math::

        H^{hp}_t = COP\cdot P^{hp}_t,\qquad 0 \le P^{hp}_t \le \bar P^{hp}      \text{(HP-1)}

    Injections ``-P^hp_t`` (electric) and ``+H^hp_t`` (heat); no own cost.
    """
    _power_to_heat(block, horizon, bus, heat, params.p_max_kw, params.cop, "HP-1")
    return DeviceHandle(block=block, outputs={"hp_power_kw": (block.p_kw, "kW"),
                                              "hp_heat_kw": (block.heat_kw, "kW_th")})


# ---------------------------------------------------------------------------- BGS-1 biogas storage


@dataclass(frozen=True)
class BiogasStorageParams:
    """Biogas digester + gas holder (SPEC §3.8, BGS-1 `[proposed]`).  Volumes in m³."""

    capacity_m3: float
    s_initial_m3: float
    s_min_m3: float = 0.0

    def __post_init__(self) -> None:
        _check_positive(self, "capacity_m3")
        if not (_finite(self.s_min_m3) and 0 <= self.s_min_m3 < self.capacity_m3):
            raise _bad("BiogasStorageParams", "s_min_m3", f"in [0, capacity_m3 = {self.capacity_m3})", self.s_min_m3)
        if not (_finite(self.s_initial_m3) and self.s_min_m3 <= self.s_initial_m3 <= self.capacity_m3):
            raise _bad("BiogasStorageParams", "s_initial_m3",
                       f"in [s_min_m3, capacity_m3] = [{self.s_min_m3}, {self.capacity_m3}]", self.s_initial_m3)


def build_biogas_storage(
    block: pyo.Block,
    params: BiogasStorageParams,
    horizon: Horizon,
    production_m3_per_h: Sequence[float] | np.ndarray,
    consumers: Sequence[Any],
) -> DeviceHandle:
    r"""Biogas digester and storage feeding the gas consumers (SPEC §3.8, `[proposed]`).

    .. math::

        S^G_t = S^G_{t-1} + \big(G^{prod}_t - \textstyle\sum_c G_{c,t}\big)\Delta t,\quad S^G_0 = S^{G,init}
        S^{G,min} \le S^G_t \le S^{G,max},\qquad S^G_T = S^G_0                 \text{(BGS-1)}

    ``consumers`` are indexed gas-flow variables in m³/h, normally ``[gen.block.gas_m3_per_h]`` of
    :func:`build_biogas_generator` (its ``biogas_m3_per_h`` output): the storage supplies their whole
    draw.  ``production_m3_per_h`` (the digester output ``G^prod_t``) is the mutable Param
    ``production_m3_per_h``; bounds and ``S^G_0`` are mutable scalars.  There is no gas purchase and
    no flare: the generator's gas range must be able to absorb the production.
    """
    if not consumers:
        raise ValueError("biogas storage: needs at least one consumer gas-flow variable (the generator's G_t)")
    T = horizon.periods
    for i, c in enumerate(consumers):
        missing = [t for t in T if t not in c]
        if missing:
            raise ValueError(f"biogas storage: consumer {i} has no entry for periods {missing[:5]}")
    dt = horizon.dt_h
    b = block
    b.T = pyo.Set(initialize=T, ordered=True, doc="periods")
    b.production_m3_per_h = pyo.Param(
        b.T, initialize=profile_param(production_m3_per_h, horizon, "biogas production_m3_per_h"), mutable=True,
        doc="digester output G^prod_t [m3/h]")
    b.s_min_m3 = pyo.Param(initialize=params.s_min_m3, mutable=True, doc="minimum stored gas [m3]")
    b.s_max_m3 = pyo.Param(initialize=params.capacity_m3, mutable=True, doc="maximum stored gas [m3]")
    b.s_initial_m3 = pyo.Param(initialize=params.s_initial_m3, mutable=True, doc="stored gas at t=0 [m3]")
    b.stored_m3 = pyo.Var(b.T, bounds=(b.s_min_m3, b.s_max_m3), doc="stored gas at period end [m3] (BGS-1)")

    def storage_rule(m: pyo.Block, t: int) -> Any:
        prev = m.s_initial_m3 if t == T[0] else m.stored_m3[t - 1]
        draw = pyo.quicksum(c[t] for c in consumers)
        return m.stored_m3[t] == prev + (m.production_m3_per_h[t] - draw) * dt

    b.def_storage = pyo.Constraint(b.T, rule=storage_rule, doc="gas balance of the holder (BGS-1)")
    b.res_end_storage = pyo.Constraint(expr=b.stored_m3[T[-1]] == b.s_initial_m3, doc="end volume = start (BGS-1)")
    return DeviceHandle(
        block=b,
        outputs={"biogas_stored_m3": (b.stored_m3, "m3"),
                 "biogas_production_m3_per_h": (b.production_m3_per_h, "m3/h")},
    )


# ---------------------------------------------------------------------------- power storage (ESS, no binary)


def build_power_storage(block: pyo.Block, params: BatteryParams, horizon: Horizon, bus: Bus) -> DeviceHandle:
    r"""002's power storage: the ESS block of SPEC §3.1 *without* binary (002 §2.1.6, eq. 19).

    ESS-1, ESS-2, ESS-4 and the power limits of ESS-3 as column bounds
    ``0 <= P^ch_t <= Pbar^ch``, ``0 <= P^dis_t <= Pbar^dis``; see :func:`agents.devices.build_battery`.

    Built by :func:`agents.devices.build_battery` with ``binary=False``: no mode binary, so the block
    has no integer column at all.  The handle has no ``binaries`` and no ``complementarity``; check
    the solution with :func:`simultaneous_periods` and rebuild with the binary where it matters
    (SPEC §3.1 note (ii)).
    """
    check_battery_params(params)
    return build_battery(block, params, horizon, bus, exclusive=False, binary=False)


def simultaneous_periods(charge: np.ndarray, discharge: np.ndarray, tol: float = 1e-6) -> list[int]:
    """Periods (1-based) in which a storage without binary both charged and discharged above ``tol``."""
    both = np.minimum(np.asarray(charge, dtype=float), np.asarray(discharge, dtype=float)) > tol
    return [int(i) + 1 for i in np.flatnonzero(both)]


# ---------------------------------------------------------------------------- HS-1 heat storage


@dataclass(frozen=True)
class HeatStorageParams:
    """Heat storage with a loss rate per hour (SPEC §3.8, HS-1).  kWh_th and kW_th.

    The SOC window and efficiencies are not given by 002: ``[default]`` full range, start half full,
    lossless charge/discharge (SPEC: "add eta^{h,±} if desired").
    """

    capacity_kwh: float
    h_charge_max_kw: float
    h_discharge_max_kw: float
    loss_per_h: float
    soc_min_frac: float = 0.0
    soc_max_frac: float = 1.0
    soc_initial_frac: float = 0.5
    eta_charge: float = 1.0
    eta_discharge: float = 1.0

    def __post_init__(self) -> None:
        _check_positive(self, "capacity_kwh")
        _check_nonneg(self, "h_charge_max_kw", "h_discharge_max_kw")
        if not (_finite(self.loss_per_h) and 0 <= self.loss_per_h < 1):
            raise _bad("HeatStorageParams", "loss_per_h", "in [0, 1)", self.loss_per_h)
        _check_fraction_window(self)
        _check_efficiency(self, "eta_charge", "eta_discharge")


def build_heat_storage(block: pyo.Block, params: HeatStorageParams, horizon: Horizon, heat: HeatBus) -> DeviceHandle:
    r"""Heat storage (SPEC §3.8, 002 §2.1.7, eq. 24 for the terminal condition).

    .. math::

        S^h_t = (1-\rho)^{\Delta t} S^h_{t-1} + (\eta^{h,+} H^{h,+}_t - H^{h,-}_t/\eta^{h,-})\Delta t,
              \quad S^h_0 = S^{h,init}
        0 \le H^{h,\pm}_t \le \bar H^{h,\pm},\quad S^{h,min} \le S^h_t \le S^{h,max},\quad S^h_T = S^h_0
                                                                               \text{(HS-1)}

    **Loss on a grid of step Δt.**  ``rho`` is a rate per hour (002's grid is hourly, where HS-1
    reads ``(1-rho) S_{t-1}``).  The retained share per period is ``(1-rho)^dt`` (compounding), not
    ``1 - rho dt`` (the battery's ESS-1 convention): both equal ``1-rho`` on the hourly grid, and with
    compounding four idle quarter-hours lose exactly what one idle hour loses, so the DA (24 × 1 h)
    and intraday (96 × 0.25 h) models of the same day agree.  (For rho = 0.01/h the two rules differ
    by 4e-6 of the content per quarter-hour.)

    Injection ``H^{h,-}_t - H^{h,+}_t`` on the heat bus; no binary (simultaneous charge and discharge
    is pointless with ``eta = 1``; check with :func:`simultaneous_periods` otherwise).
    """
    T = horizon.periods
    dt = horizon.dt_h
    b = block
    cap = params.capacity_kwh
    b.T = pyo.Set(initialize=T, ordered=True, doc="periods")
    b.e_min_kwh = pyo.Param(initialize=params.soc_min_frac * cap, mutable=True, doc="minimum heat content [kWh_th]")
    b.e_max_kwh = pyo.Param(initialize=params.soc_max_frac * cap, mutable=True, doc="maximum heat content [kWh_th]")
    b.e_initial_kwh = pyo.Param(initialize=params.soc_initial_frac * cap, mutable=True,
                                doc="heat content at t=0 [kWh_th]")
    b.h_charge_max_kw = pyo.Param(initialize=params.h_charge_max_kw, mutable=True, doc="charge limit [kW_th]")
    b.h_discharge_max_kw = pyo.Param(initialize=params.h_discharge_max_kw, mutable=True,
                                     doc="discharge limit [kW_th]")
    b.h_charge_kw = pyo.Var(b.T, bounds=(0, b.h_charge_max_kw), doc="heat charged H^{h,+}_t [kW_th] (HS-1)")
    b.h_discharge_kw = pyo.Var(b.T, bounds=(0, b.h_discharge_max_kw), doc="heat discharged H^{h,-}_t [kW_th] (HS-1)")
    b.soc_kwh = pyo.Var(b.T, bounds=(b.e_min_kwh, b.e_max_kwh), doc="heat content at period end [kWh_th] (HS-1)")
    keep = (1.0 - params.loss_per_h) ** dt
    eta_c, eta_d = params.eta_charge, params.eta_discharge

    def soc_rule(m: pyo.Block, t: int) -> Any:
        prev = m.e_initial_kwh if t == T[0] else m.soc_kwh[t - 1]
        return m.soc_kwh[t] == keep * prev + (eta_c * m.h_charge_kw[t] - m.h_discharge_kw[t] / eta_d) * dt

    b.def_soc = pyo.Constraint(b.T, rule=soc_rule, doc="heat content balance with loss (1-rho)^dt (HS-1)")
    b.res_end_soc = pyo.Constraint(expr=b.soc_kwh[T[-1]] == b.e_initial_kwh, doc="end content = start (HS-1)")
    for t in T:
        heat.inject(t, b.h_discharge_kw[t] - b.h_charge_kw[t])
    return DeviceHandle(
        block=b,
        outputs={"hs_charge_kw": (b.h_charge_kw, "kW_th"), "hs_discharge_kw": (b.h_discharge_kw, "kW_th"),
                 "hs_soc_kwh": (b.soc_kwh, "kWh_th")},
    )


# ---------------------------------------------------------------------------- DR2 transferable load


@dataclass(frozen=True)
class TransferableLoadParams:
    """Transferable power load with a transfer window (SPEC §3.6b, 002 §2.1.5).

    The window is clock time ``[window_start_h, window_end_h)`` from the start of the horizon, so the
    same parameters serve every grid (13-17 h is periods 14..17 hourly, 53..68 on quarter-hours).
    ``load_kw`` is the transferable load itself, the default bound of both shifts
    (``Dbar^dn = load``, ``Dbar^up = Dbar^dn`` `[default]`); ``up_max_kw`` overrides the up bound.
    """

    window_start_h: float
    window_end_h: float
    load_kw: float
    up_max_kw: float | None = None
    cost_up_per_kwh: float = 0.0
    cost_down_per_kwh: float = 0.0

    def __post_init__(self) -> None:
        _check_nonneg(self, "window_start_h", "load_kw", "cost_up_per_kwh", "cost_down_per_kwh")
        if not (_finite(self.window_end_h) and self.window_end_h > self.window_start_h):
            raise _bad("TransferableLoadParams", "window_end_h", f"> window_start_h = {self.window_start_h}",
                       self.window_end_h)
        if self.up_max_kw is not None and not (_finite(self.up_max_kw) and self.up_max_kw >= 0):
            raise _bad("TransferableLoadParams", "up_max_kw", "finite and >= 0, or None (= load_kw)", self.up_max_kw)

    def window_periods(self, horizon: Horizon) -> list[int]:
        """Periods ``t`` of ``horizon`` whose interval ``[(t-1)dt, t dt)`` lies in the window (T_{i,A})."""
        dt, n = horizon.dt_h, horizon.n
        lo, hi = self.window_start_h / dt, self.window_end_h / dt
        if abs(lo - round(lo)) > 1e-9 or abs(hi - round(hi)) > 1e-9 or round(hi) > n:
            raise ValueError(
                f"TransferableLoadParams window [{self.window_start_h}, {self.window_end_h}) h does not fit "
                f"Horizon(n={n}, dt_h={dt}): its edges must be multiples of dt_h within [0, {n * dt:g}] h")
        return list(range(round(lo) + 1, round(hi) + 1))


def build_transferable_load(
    block: pyo.Block, params: TransferableLoadParams, horizon: Horizon, bus: Bus
) -> DeviceHandle:
    r"""Transferable power load with a window (SPEC §3.6b, 002 §2.1.5 / eq. 14).

    .. math::

        0 \le D^{up}_t \le \bar D^{up}_t,\ 0 \le D^{dn}_t \le \bar D^{dn}_t\ (t\in T_A);\qquad
        D^{up}_t = D^{dn}_t = 0\ (t\in T_B)                                   \text{(DR2-1)}
        \textstyle\sum_{t\in T_A} D^{up}_t = \sum_{t\in T_A} D^{dn}_t          \text{(DR2-2)}

    The base of the transferable load is part of the power demand ``P^d_t``; this device adds only
    the shift: injection ``D^dn_t - D^up_t`` (BAL2-E has ``+D^up - D^dn`` on the demand side).
    Cost ``sum (c^up D^up_t + c^dn D^dn_t) dt``.  Outside the window the variables have bounds
    ``(0, 0)`` whatever the data; inside, the bounds are the mutable Params ``up_max_kw[t]``,
    ``dn_max_kw[t]`` indexed by ``WINDOW``.  DR2-2 is written in energy (``× dt`` on both sides).
    """
    window = params.window_periods(horizon)
    T = horizon.periods
    dt = horizon.dt_h
    b = block
    up = params.load_kw if params.up_max_kw is None else params.up_max_kw
    b.T = pyo.Set(initialize=T, ordered=True, doc="periods")
    b.WINDOW = pyo.Set(initialize=window, within=b.T, ordered=True, doc="transferable periods T_A (DR2-1)")
    b.up_max_kw = pyo.Param(b.WINDOW, initialize=up, mutable=True, doc="upward shift limit [kW] (DR2-1)")
    b.dn_max_kw = pyo.Param(b.WINDOW, initialize=params.load_kw, mutable=True,
                            doc="downward shift limit = transferable load [kW] (DR2-1)")
    b.up_kw = pyo.Var(b.T, bounds=lambda m, t: (0, m.up_max_kw[t] if t in m.WINDOW else 0),
                      doc="load shifted into period t [kW] (DR2-1)")
    b.dn_kw = pyo.Var(b.T, bounds=lambda m, t: (0, m.dn_max_kw[t] if t in m.WINDOW else 0),
                      doc="load shifted out of period t [kW] (DR2-1)")
    b.def_transfer_balance = pyo.Constraint(
        expr=pyo.quicksum(b.up_kw[t] - b.dn_kw[t] for t in window) * dt == 0,
        doc="shifted energy conserved over the window (DR2-2)")
    for t in T:
        bus.inject(t, b.dn_kw[t] - b.up_kw[t])
    if params.cost_up_per_kwh or params.cost_down_per_kwh:
        bus.cost.append(dt * pyo.quicksum(params.cost_up_per_kwh * b.up_kw[t] + params.cost_down_per_kwh * b.dn_kw[t]
                                          for t in window))
    return DeviceHandle(block=b, outputs={"dr_up_kw": (b.up_kw, "kW"), "dr_down_kw": (b.dn_kw, "kW")})


# ---------------------------------------------------------------------------- grid trading


@dataclass(frozen=True)
class IntradayTradeParams:
    """Intraday purchase/sale limits (SPEC §3.8 "intraday grid trading")."""

    p_buy_max_kw: float
    p_sell_max_kw: float

    def __post_init__(self) -> None:
        _check_nonneg(self, "p_buy_max_kw", "p_sell_max_kw")


def _check_price_order(buy: np.ndarray, sell: np.ndarray) -> None:
    bad = np.flatnonzero(buy < sell)
    if bad.size:
        t = int(bad[0])
        raise ValueError(
            f"intraday prices: buy_price must be >= sell_price in every period (no binary keeps the LP from "
            f"buying to sell), got buy {buy[t]:g} < sell {sell[t]:g} in period {t + 1}")


def build_intraday_trading(
    block: pyo.Block,
    params: IntradayTradeParams,
    horizon: Horizon,
    bus: Bus,
    buy_price: Sequence[float] | np.ndarray,
    sell_price: Sequence[float] | np.ndarray,
) -> DeviceHandle:
    r"""Intraday purchase and sale without binary (SPEC §3.8; SPEC §3.4 for why none is needed).

    .. math::

        0 \le P^{buy}_t \le \bar P^{buy},\qquad 0 \le P^{sell}_t \le \bar P^{sell}

    Injection ``P^buy_t - P^sell_t``; cost ``sum (c^buy_t P^buy_t - c^sell_t P^sell_t) dt`` (002's Q).
    Prices are mutable Params ``buy_price``/``sell_price``; they must satisfy ``c^buy_t >= c^sell_t``
    (checked here and by :func:`set_intraday_prices`), otherwise the LP would buy to sell.
    """
    T = horizon.periods
    dt = horizon.dt_h
    buy = profile_param(buy_price, horizon, "intraday buy_price")
    sell = profile_param(sell_price, horizon, "intraday sell_price")
    _check_price_order(np.array(list(buy.values())), np.array(list(sell.values())))
    b = block
    b.T = pyo.Set(initialize=T, ordered=True, doc="periods")
    b.p_buy_max_kw = pyo.Param(initialize=params.p_buy_max_kw, mutable=True, doc="purchase limit [kW]")
    b.p_sell_max_kw = pyo.Param(initialize=params.p_sell_max_kw, mutable=True, doc="sale limit [kW]")
    b.buy_price = pyo.Param(b.T, initialize=buy, mutable=True, doc="intraday purchase price [currency/kWh]")
    b.sell_price = pyo.Param(b.T, initialize=sell, mutable=True, doc="intraday sale price [currency/kWh]")
    b.p_buy_kw = pyo.Var(b.T, bounds=(0, b.p_buy_max_kw), doc="intraday purchase [kW]")
    b.p_sell_kw = pyo.Var(b.T, bounds=(0, b.p_sell_max_kw), doc="intraday sale [kW]")
    for t in T:
        bus.inject(t, b.p_buy_kw[t] - b.p_sell_kw[t])
    bus.cost.append(pyo.quicksum(dt * (b.buy_price[t] * b.p_buy_kw[t] - b.sell_price[t] * b.p_sell_kw[t]) for t in T))
    return DeviceHandle(block=b, outputs={"grid_buy_kw": (b.p_buy_kw, "kW"), "grid_sell_kw": (b.p_sell_kw, "kW")})


def set_intraday_prices(
    block: pyo.Block, buy_price: Sequence[float] | np.ndarray, sell_price: Sequence[float] | np.ndarray
) -> None:
    """Write new intraday prices into a block built by :func:`build_intraday_trading`.

    Both profiles are checked (length, finite, buy >= sell) before either is written.
    """
    n = len(block.buy_price)
    arrays = []
    for values, what in ((buy_price, "buy_price"), (sell_price, "sell_price")):
        arr = np.asarray(values, dtype=float)
        if arr.shape != (n,):
            raise ValueError(f"intraday {what}: expected {n} values, got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"intraday {what}: contains non-finite values")
        arrays.append(arr)
    _check_price_order(arrays[0], arrays[1])
    set_profile(block.buy_price, buy_price)
    set_profile(block.sell_price, sell_price)


@dataclass(frozen=True)
class DayAheadTradeParams:
    """Day-ahead trading power bounds (SPEC §3.8, first stage of 002)."""

    p_min_kw: float
    p_max_kw: float

    def __post_init__(self) -> None:
        if not _finite(self.p_min_kw):
            raise _bad("DayAheadTradeParams", "p_min_kw", "finite", self.p_min_kw)
        if not (_finite(self.p_max_kw) and self.p_max_kw >= self.p_min_kw):
            raise _bad("DayAheadTradeParams", "p_max_kw", f"finite and >= p_min_kw = {self.p_min_kw}", self.p_max_kw)


def build_da_trading(
    block: pyo.Block,
    params: DayAheadTradeParams,
    horizon: Horizon,
    price: Sequence[float] | np.ndarray,
    buses: Sequence[Bus],
) -> DeviceHandle:
    r"""Day-ahead trading power, the first-stage decision ``x`` of 002 (SPEC §3.8, §6.4).

    .. math::

        \underline P^{tr} \le P^{tr}_t \le \overline P^{tr},\qquad C^{DA} = \sum_t p_t P^{tr}_t \Delta t

    ``P^tr_t`` (``p_tr_kw``) is injected into *every* bus of ``buses`` (one per reference sample
    ``k``: all recourse copies share the first-stage decision).  ``C^{DA}`` is the block's own
    expression ``block.cost`` and is *not* appended to any bus, so K recourse copies do not count it
    K times: add ``block.cost`` to the objective once (a single-scenario model may simply
    ``bus.cost.append(block.cost)``).  ``price`` is the mutable Param ``price``; the bounds are
    mutable scalars.  The DA plan lives on ``horizon`` (24 × 1 h in 002); recourse buses must be on
    the same grid.
    """
    for i, bus in enumerate(buses):
        if bus.horizon != horizon:
            raise ValueError(f"DA trading on {horizon} but bus {i} is on {bus.horizon}")
    T = horizon.periods
    dt = horizon.dt_h
    b = block
    b.T = pyo.Set(initialize=T, ordered=True, doc="periods")
    b.price = pyo.Param(b.T, initialize=profile_param(price, horizon, "DA price"), mutable=True,
                        doc="day-ahead price p_t [currency/kWh]")
    b.p_min_kw = pyo.Param(initialize=params.p_min_kw, mutable=True, doc="lower trading bound [kW]")
    b.p_max_kw = pyo.Param(initialize=params.p_max_kw, mutable=True, doc="upper trading bound [kW]")
    b.p_tr_kw = pyo.Var(b.T, bounds=(b.p_min_kw, b.p_max_kw), doc="day-ahead trading power P^tr_t [kW]")
    b.cost = pyo.Expression(expr=pyo.quicksum(dt * b.price[t] * b.p_tr_kw[t] for t in T),
                            doc="day-ahead cost C^DA (first stage)")
    for bus in buses:
        for t in T:
            bus.inject(t, b.p_tr_kw[t])
    return DeviceHandle(block=b, outputs={"da_trade_kw": (b.p_tr_kw, "kW")})


# ---------------------------------------------------------------------------- defaults (SPEC §3.8 table)


def hold_hourly(values: Sequence[float] | np.ndarray, horizon: Horizon) -> np.ndarray:
    """Map an hourly profile (period 1 = 00:00-01:00) onto ``horizon`` by piecewise-constant hold
    (SPEC §2.1): ``x_k = x_{h(k)}``.  Needs ``1/dt_h`` integral; the hours wrap after the profile ends."""
    arr = np.asarray(values, dtype=float)
    per_h = 1.0 / horizon.dt_h
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"hold_hourly: expected a 1-D hourly profile, got shape {arr.shape}")
    if abs(per_h - round(per_h)) > 1e-9:
        raise ValueError(f"hold_hourly: Horizon.dt_h must divide one hour, got {horizon.dt_h}")
    hours = (np.arange(horizon.n) // round(per_h)) % arr.size
    return arr[hours]


# valley t=1..7 and 24; peak t=8..10 and 19..22; flat otherwise, 0.55 at t=14  [default] SPEC §3.8 (Fig. 3 missing)
_DA_PRICE_HOURLY = np.array(
    [0.35] * 7 + [1.00] * 3 + [0.65] * 3 + [0.55] + [0.65] * 4 + [1.00] * 4 + [0.65, 0.35]
)


@dataclass(frozen=True)
class RuralDefaults:
    """The defaults table of SPEC §3.8 (002's Table 1 is missing).  Every value is ``[default]``."""

    pv_capacity_kw: float = 300.0  # [default] SPEC §3.8: PV capacity
    power_load_peak_kw: float = 400.0  # [default] SPEC §3.8: power-load peak
    heat_load_peak_kw: float = 300.0  # [default] SPEC §3.8: heat-load peak (kW_th)
    forecast_error_frac: float = 0.30  # [paper] 002 §4: prediction error within ±30 % of the forecast
    biogas_generator: BiogasGeneratorParams = field(default_factory=lambda: BiogasGeneratorParams(
        p_min_kw=30.0, p_max_kw=150.0,  # [default] SPEC §3.8: P^g,min, P^g,max
        lhv_kwh_per_m3=6.0,  # [default] SPEC §3.8: H (biogas LHV)
        eta_power=0.35, eta_heat=0.45,  # [default] SPEC §3.8: eta_p, eta_h
        gas_cost_per_m3=0.20,  # [default] SPEC §3.8: c^G
    ))
    biogas_production_m3_per_h: float = 60.0  # [default] SPEC §3.8: G^prod (constant)
    biogas_storage: BiogasStorageParams = field(default_factory=lambda: BiogasStorageParams(
        capacity_m3=600.0, s_initial_m3=300.0,  # [default] SPEC §3.8: S^G,max, S^G_0
        s_min_m3=0.0,  # [default] not in SPEC: empty holder allowed
    ))
    electric_boiler: ElectricBoilerParams = field(default_factory=lambda: ElectricBoilerParams(
        p_max_kw=150.0, efficiency=0.95))  # [default] SPEC §3.8: EB Pbar^b, eta_b
    heat_pump: HeatPumpParams = field(default_factory=lambda: HeatPumpParams(
        p_max_kw=100.0, cop=3.5))  # [default] SPEC §3.8: HP Pbar^hp, COP
    power_storage: BatteryParams = field(default_factory=lambda: BatteryParams(
        capacity_kwh=400.0, p_charge_max_kw=100.0, p_discharge_max_kw=100.0,  # [default] SPEC §3.8
        soc_min_frac=0.1, soc_max_frac=0.9, soc_initial_frac=0.5,  # [default] SPEC §3.8: SOC 10-90 %, E_0 50 %
        eta_charge=0.95, eta_discharge=0.95,  # [default] SPEC §3.8: eta = 0.95
    ))
    heat_storage: HeatStorageParams = field(default_factory=lambda: HeatStorageParams(
        capacity_kwh=300.0, h_charge_max_kw=100.0, h_discharge_max_kw=100.0,  # [default] SPEC §3.8
        loss_per_h=0.01,  # [default] SPEC §3.8: rho = 0.01/h
        soc_min_frac=0.0, soc_max_frac=1.0, soc_initial_frac=0.5,  # [default] not in SPEC
    ))
    da_trading: DayAheadTradeParams = field(default_factory=lambda: DayAheadTradeParams(
        p_min_kw=0.0, p_max_kw=500.0))  # [default] SPEC §3.8: P^tr bounds 0...500 kW
    intraday_trading: IntradayTradeParams = field(default_factory=lambda: IntradayTradeParams(
        p_buy_max_kw=500.0, p_sell_max_kw=500.0))  # [default] not in SPEC: taken equal to the P^tr bound
    intraday_buy_factor: float = 1.2  # [default] SPEC §3.8: c^buy_t = 1.2 p_t
    intraday_sell_factor: float = 0.5  # [default] SPEC §3.8: c^sell_t = 0.5 p_t
    transferable_load: TransferableLoadParams = field(default_factory=lambda: TransferableLoadParams(
        window_start_h=13.0, window_end_h=17.0,  # [default] SPEC §3.6b/§3.8: periods 14..17 (13:00-17:00)
        load_kw=60.0,  # [default] SPEC §3.8: transferable load 60 kW
        cost_up_per_kwh=0.05, cost_down_per_kwh=0.05,  # [default] SPEC §3.8: c^up = c^dn
    ))

    def da_price(self, horizon: Horizon = DA_HORIZON) -> np.ndarray:
        """Day-ahead price p_t on ``horizon`` (hourly TOU of SPEC §3.8 `[default]`, held on finer grids)."""
        return hold_hourly(_DA_PRICE_HOURLY, horizon)

    def intraday_prices(self, horizon: Horizon = DA_HORIZON) -> tuple[np.ndarray, np.ndarray]:
        """``(c^buy_t, c^sell_t) = (1.2 p_t, 0.5 p_t)`` on ``horizon`` `[default]`."""
        p = self.da_price(horizon)
        return self.intraday_buy_factor * p, self.intraday_sell_factor * p

    def biogas_production(self, horizon: Horizon = DA_HORIZON) -> np.ndarray:
        """Constant digester output ``G^prod_t`` on ``horizon`` `[default]`."""
        return np.full(horizon.n, self.biogas_production_m3_per_h)


#: The SPEC §3.8 defaults (all ``[default]``); derive variants with :func:`dataclasses.replace`.
RURAL_DEFAULTS = RuralDefaults()

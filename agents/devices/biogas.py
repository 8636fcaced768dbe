r"""Biogas of paper 002 (SPEC §3.8): the biogas generator and the digester with its gas holder.
Builders only build.

Biogas (m³/h) has no bus.  The generator owns its gas flow ``G_t`` (``gas_m3_per_h``) and pays
``c^G`` per m³; the storage takes the gas-flow variables of its consumers and writes its balance
with their sum as the draw.  A generator built without a storage burns gas from an unlimited supply.

* **Biogas generator** (:func:`build_biogas_generator`, BG-1), always on: electric output
  ``P^g_t = eta_p H G_t`` between ``P^g,min`` and ``P^g,max`` (mutable column bounds, no on/off binary)
  and recoverable heat ``H^g_t = eta_h H G_t`` (``H`` the biogas LHV); injection ``P^g_t`` on the
  electric bus, cost ``c^G sum G_t dt``.  The recoverable heat goes on no bus: the waste-heat recovery
  (:func:`agents.devices.heat.build_waste_heat_recovery`, BG-2) puts ``0 <= H^w_t <= H^g_t`` on the
  heat bus and the rest is vented.
* **Digester and gas holder** (:func:`build_biogas_storage`, BGS-1 `[proposed]`): stored gas
  ``S^G_t = S^G_{t-1} + (G^prod_t − sum_c G_{c,t}) dt`` within ``[S^G,min, S^G,max]``, end volume =
  start; the digester output ``G^prod_t`` is a mutable Param.  There is no gas purchase and no flare:
  the generator's gas range must be able to absorb the production.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyomo.core as pyo

from agents.devices.core import (
    Bus,
    DeviceHandle,
    Horizon,
    _bad,
    _check_efficiency,
    _check_nonneg,
    _check_positive,
    _finite,
    profile_param,
)

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

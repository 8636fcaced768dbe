r"""Heat supply from electricity and waste heat (SPEC §3.8, §3.14): electric boiler, heat pump,
electric heater and the biogas generator's waste-heat recovery.  Builders only build.

* **Electric boiler** (:func:`build_electric_boiler`, EB-1, 002): heat ``H^b_t = eta_b P^b_t`` with
  ``0 <= P^b_t <= Pbar^b``; injections −P (electric), +H (heat); no own cost.
* **Heat pump** (:func:`build_heat_pump`, HP-1 `[proposed]`, 002): ``H^hp_t = COP P^hp_t`` with
  ``0 <= P^hp_t <= Pbar^hp``; injections −P, +H; no own cost.
* **Electric heater** (:func:`build_electric_heater`, SPEC §3.14, 003 eq. 17):
  ``R^EB_t = eta_EB P^EB_t``, ``0 <= P^EB_t <= Pbar^EB`` in MW; injections −P, +R; no own cost.
* **Waste-heat recovery** (:func:`build_waste_heat_recovery`, BG-2, 002): the recovered heat
  ``0 <= H^w_t <= H^g_t`` of the biogas generator's recoverable heat
  (:func:`agents.devices.biogas.build_biogas_generator`, BG-1) goes on the heat bus; the rest is
  vented, which gives the heat side a free dump.

Heat storage is in :mod:`agents.devices.storage`; the H2-blended gas boiler in
:mod:`agents.devices.gas`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyomo.core as pyo

from agents.devices.core import (
    Bus,
    DeviceHandle,
    HeatBus,
    Horizon,
    LowCarbonHandle,
    _bad,
    _check_efficiency,
    _check_nonneg,
    _finite,
    _p,
    _periods,
)

# ---------------------------------------------------------------------------- EB-1, HP-1 power-to-heat (002)


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


# ---------------------------------------------------------------------------- EH electric heater (003, §3.14)


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


# ---------------------------------------------------------------------------- BG-2 waste heat (002)


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

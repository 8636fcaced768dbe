"""Paper 003's low-carbon campus as one Pyomo model per comparison configuration (SPEC §3.9–§3.15, §6.5).

:func:`build_lowcarbon_model` assembles the device builders of :mod:`agents.lowcarbon_devices` on the
five carriers (electricity, heat, CH4, H2, NH3) and the CO2 ledger, switched by a
:class:`~scenarios.lowcarbon_loader.LowCarbonVariant`:

=============  ===========================================================================================
``p2g_ccus``   electrolyser + methanation (P2G), CCUS with solvent storage, H2 storage
``blending``   H2 blending in the gas turbine and boiler (``k_h2_max`` of the scenario, else 0), NH3
               co-firing in the thermal units (``k_nh3_max``, else 0), P2A and the NH3 storage
``ev_dr``      the EV fleet scheduled (V2G) and the electric/heat DR of SPEC §3.6d; without it the same
               vehicles charge *uncontrolled* (:func:`uncontrolled_ev_load`: full power from plug-in until
               the departure energy is in), a fixed load, so every configuration serves the same EVs
``carbon``     stepped (CT-3) or conventional (one price) carbon trading
=============  ===========================================================================================

Always built: wind farms (availability ``p_avail_mw`` = the uncertain ``u`` of SPEC §6.5, fixed Vars),
gas purchase, GT, GB, the thermal units (commitment ``u``, ``su``, ``sd`` = the first stage ``x``),
electric heater, electric and heat storage, fixed loads, the recourse slacks (load shedding, spill,
heat dump) and carbon trading.  003 has no electricity grid connection (SPEC §3.14).

The objective is 003 eq. 10 (the sum of every device's named cost Expression); :data:`COST_COLUMNS`
groups them into the columns of 003 Table 1 (:meth:`LowCarbonModel.cost_breakdown`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyomo.environ as pyo

from agents.devices import Bus, Horizon, build_battery
from agents.lowcarbon_devices import (
    AmmoniaBus,
    CarbonLedger,
    EVFleetParams,
    GasBus,
    HydrogenBus,
    LowCarbonHandle,
    build_ammonia_storage,
    build_carbon_trading,
    build_ccus,
    build_demand_response,
    build_electric_heater,
    build_ev_fleet,
    build_gas_boiler,
    build_gas_purchase,
    build_gas_turbine,
    build_hydrogen_storage,
    build_p2a,
    build_p2g,
    build_recourse_slacks,
    build_thermal_unit,
    build_wind_farm,
    close_lowcarbon_buses,
    set_wind_availability,
)
from agents.rural_devices import HeatBus, build_fixed_load, build_heat_storage
from scenarios.lowcarbon_loader import LowCarbonScenario, LowCarbonVariant

#: Columns of 003 Table 1 and the named device cost Expressions each one sums (万元).
COST_COLUMNS: dict[str, tuple[str, ...]] = {
    "carbon_trading": ("cost_trade",),
    "sequestration": ("cost_sequestration",),
    "coal": ("cost_coal", "cost_om"),
    "startstop": ("cost_startstop",),
    "curtailment": ("cost_curtailment",),
    "gas": ("cost_gas",),
    "dr_ev": ("cost_dr", "cost_ev"),
    "penalty": ("cost_slack",),
}


@dataclass
class LowCarbonModel:
    """A built configuration: the Pyomo model, its device handles and what the robust layer needs."""

    model: pyo.ConcreteModel
    scenario: LowCarbonScenario
    variant: LowCarbonVariant
    handles: dict[str, LowCarbonHandle]
    first_stage: list[Any]  # the thermal units' u, su, sd Var components
    wind_block: Any  # the wind farm block (its p_avail_mw is u)

    @property
    def wind_availability(self) -> Any:
        """The uncertain column ``u``: the wind availability Var (fixed), indexed by period."""
        return self.wind_block.p_avail_mw

    def set_wind(self, values: Sequence[float] | np.ndarray) -> None:
        set_wind_availability(self.wind_block, values)

    def cost_expressions(self) -> dict[str, list[Any]]:
        """Table-1 column -> the named cost Expressions of every device that belong to it."""
        out: dict[str, list[Any]] = {col: [] for col in COST_COLUMNS}
        known = {name: col for col, names in COST_COLUMNS.items() for name in names}
        for dev, h in self.handles.items():
            for name, expr in h.costs.items():
                if name not in known:
                    raise KeyError(f"device {dev}: cost {name!r} belongs to no Table-1 column")
                out[known[name]].append(expr)
        return out

    def cost_breakdown(self) -> dict[str, float]:
        """Values of the Table-1 columns (and ``total``) at the model's current variable values."""
        vals = {col: float(sum(pyo.value(e) for e in exprs)) for col, exprs in self.cost_expressions().items()}
        vals["total"] = float(sum(vals.values()))
        return vals

    def co2_breakdown(self) -> dict[str, float]:
        """Daily CO2 (t): emitted by GT/GB/TP, absorbed, released (direct), methanated, sequestered, allowances."""
        T = self.scenario.horizon.periods

        def total(h: str, key: str) -> float:
            comp = self.handles[h].co2.get(key) if h in self.handles else None
            if comp is None:
                return 0.0
            if comp.is_indexed():
                return float(sum(pyo.value(comp[t]) for t in T))
            return float(pyo.value(comp))

        emitted = sum(total(h, "emitted_t") for h in self.handles if h in ("gt", "gb") or h.startswith("tp_"))
        out = {"emitted": emitted}
        if "ccus" in self.handles:
            out["absorbed"] = total("ccus", "absorbed_t")
            out["released"] = total("ccus", "released_t")
            out["sequestered"] = total("ccus", "sequestered_t")
        else:
            out["absorbed"] = 0.0
            out["released"] = emitted
            out["sequestered"] = 0.0
        out["methanated"] = total("p2g", "demand_t") if "ccus" in self.handles else 0.0
        out["allowance"] = total("carbon", "e_free_t")
        out["traded"] = total("carbon", "e_tr_t")
        gas_mwh = self.energy("gas", "gas_purchase_mw")
        out["gas_purchased_mwh"] = gas_mwh
        return out

    def series(self, device: str, output: str) -> np.ndarray:
        """Hourly values of ``handles[device].outputs[output]`` at the current variable values."""
        comp, _ = self.handles[device].outputs[output]
        return np.array([pyo.value(comp[t]) for t in self.scenario.horizon.periods], dtype=float)

    def energy(self, device: str, output: str) -> float:
        return float(self.series(device, output).sum() * self.scenario.horizon.dt_h)


def variant_devices(scenario: LowCarbonScenario, variant: LowCarbonVariant) -> dict[str, Any]:
    """The device parameters a variant uses (blending off: zero blend limits)."""
    gt, gb = scenario.gas_turbine, scenario.gas_boiler
    units = scenario.thermal_units
    if not variant.blending:
        gt = dataclasses.replace(gt, k_h2_max=0.0)
        gb = dataclasses.replace(gb, k_h2_max=0.0)
        units = tuple(dataclasses.replace(u, k_nh3_max=0.0) for u in units)
    conventional = variant.carbon == "conventional"
    carbon = dataclasses.replace(scenario.carbon_trading, conventional=conventional,
                                 reward=scenario.carbon_trading.reward and not conventional)
    return {"gas_turbine": gt, "gas_boiler": gb, "thermal_units": units, "carbon_trading": carbon}


def build_lowcarbon_model(
    scenario: LowCarbonScenario, variant: LowCarbonVariant, wind_mw: Sequence[float] | np.ndarray
) -> LowCarbonModel:
    """Build configuration ``variant`` of the campus with wind availability ``wind_mw`` (24 values, MW)."""
    hz = scenario.horizon
    dev = variant_devices(scenario, variant)
    m = pyo.ConcreteModel(name=f"lowcarbon_{variant.name}")
    bus, heat, gas, h2 = Bus(hz), HeatBus(hz), GasBus(hz), HydrogenBus(hz)
    nh3 = AmmoniaBus(hz) if variant.blending else None
    ledger = CarbonLedger(hz)
    handles: dict[str, LowCarbonHandle] = {}

    def block(name: str) -> pyo.Block:
        m.add_component(name, pyo.Block())
        return m.component(name)

    wind_b = block("wind")
    handles["wind"] = build_wind_farm(wind_b, scenario.wind, hz, bus, wind_mw)
    build_fixed_load(block("electric_load"), hz, bus, scenario.electric_load_mw)
    build_fixed_load(block("heat_load"), hz, heat, scenario.heat_load_mw)
    handles["gas"] = build_gas_purchase(block("gas"), scenario.gas_purchase, hz, gas)
    handles["gt"] = build_gas_turbine(block("gt"), dev["gas_turbine"], hz, bus, heat, gas, h2, ledger)
    handles["gb"] = build_gas_boiler(block("gb"), dev["gas_boiler"], hz, heat, gas, h2, ledger)
    first_stage: list[Any] = []
    for unit in dev["thermal_units"]:
        key = f"tp_{unit.name}"
        h = build_thermal_unit(block(key), unit, hz, bus, nh3, ledger)
        handles[key] = h
        first_stage.extend(h.binaries[k] for k in ("tp_on", "tp_startup", "tp_shutdown"))
    handles["eh"] = build_electric_heater(block("eh"), scenario.electric_heater, hz, bus, heat)
    handles["ess"] = _wrap(build_battery(block("ess"), scenario.electric_storage, hz, bus, exclusive=False,
                                         binary=False))
    handles["hs"] = _wrap(build_heat_storage(block("hs"), scenario.heat_storage, hz, heat))
    if variant.p2g_ccus:
        handles["p2g"] = build_p2g(block("p2g"), scenario.p2g, hz, bus, h2, gas, ledger)
        handles["h2s"] = build_hydrogen_storage(block("h2s"), scenario.hydrogen_storage, hz, h2)
    if variant.blending:
        assert nh3 is not None
        handles["p2a"] = build_p2a(block("p2a"), scenario.p2a, hz, bus, heat, h2, nh3)
        handles["nh3s"] = build_ammonia_storage(block("nh3s"), scenario.ammonia_storage, hz, nh3)
    if variant.p2g_ccus:
        handles["ccus"] = build_ccus(block("ccus"), scenario.ccus, hz, bus, ledger)
    if variant.ev_dr:
        handles["ev"] = build_ev_fleet(block("ev"), scenario.ev_fleet, hz, bus)
        handles["dr"] = build_demand_response(block("dr"), scenario.demand_response, hz, bus, heat)
    else:
        build_fixed_load(block("ev_uncontrolled"), hz, bus, uncontrolled_ev_load(scenario.ev_fleet, hz))
    handles["slack"] = build_recourse_slacks(block("slack"), scenario.recourse_slacks, hz, bus, heat)
    handles["carbon"] = build_carbon_trading(block("carbon"), dev["carbon_trading"], hz, ledger, bus)
    if "ct_tier" in handles["carbon"].binaries:  # the declared sale tier of reward trading: first stage
        first_stage.append(handles["carbon"].binaries["ct_tier"])
    close_lowcarbon_buses(m, bus, heat, gas, h2, nh3)
    m.obj = pyo.Objective(expr=m.cost, sense=pyo.minimize, doc="003 eq. 10")
    return LowCarbonModel(m, scenario, variant, handles, first_stage, wind_b)


def uncontrolled_ev_load(fleet: EVFleetParams, horizon: Horizon) -> np.ndarray:
    """Grid-side charging (MW) of the fleet without scheduling: each group charges at full power from its
    first plugged-in period until it has the energy it needs -- a work group from ``soc_arrival`` to
    ``soc_required``, a home group its day's trip (EV-4') -- divided by the charging efficiency; no V2G.

    This is the EV demand of the configurations without EV scheduling (003 S1–S4), so that the EV + DR
    configurations differ only in flexibility, not in the energy served.
    """
    load = np.zeros(horizon.n)
    for g in fleet.groups:
        if g.kind == "work":
            need = max(g.soc_required - g.soc_arrival, 0.0) * g.capacity_kwh
        else:
            need = g.trip_kwh
        grid = need / g.eta
        for t in g.plugged_periods(horizon):
            if grid <= 1e-12:
                break
            p = min(g.p_charge_max_kw, grid / horizon.dt_h)
            load[t - 1] += p
            grid -= p * horizon.dt_h
        if grid > 1e-9:
            raise ValueError(f"EV group {g.name!r}: cannot charge {need:g} MWh uncontrolled in its plug-in window")
    return load


def _wrap(h: Any) -> LowCarbonHandle:
    """A reused builder's DeviceHandle as a LowCarbonHandle (no named costs)."""
    return LowCarbonHandle(block=h.block, outputs=h.outputs, binaries=h.binaries, complementarity=h.complementarity)

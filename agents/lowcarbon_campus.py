"""Paper 003's low-carbon campus as one Pyomo model per comparison configuration (SPEC §3.9–§3.15, §6.5).

:func:`build_lowcarbon_model` assembles the device builders of :mod:`agents.devices` (gas, thermal, hydrogen,
carbon, storage, renewables, heat, demand) and 003's EV fleet (:func:`agents.ev.build_ev_fleet`) on the
five carriers (electricity, heat, CH4, H2, NH3) and the CO2 ledger, switched by a
:class:`LowCarbonConfiguration` (a scenario variant):

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
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyomo.environ as pyo

from agents.devices.carbon import CarbonLedger, CarbonTradingParams, CCUSParams, build_carbon_trading, build_ccus
from agents.devices.core import (
    DA_HORIZON,
    AmmoniaBus,
    Bus,
    GasBus,
    HeatBus,
    Horizon,
    HydrogenBus,
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
    BatteryParams,
    HeatStorageParams,
    HydrogenStorageParams,
    build_ammonia_storage,
    build_battery,
    build_heat_storage,
    build_hydrogen_storage,
)
from agents.devices.thermal import ThermalUnitParams, build_thermal_unit
from agents.ev import EVFleetParams, build_ev_fleet

# ---------------------------------------------------------------------------------------------- parameters

#: Carbon-trading modes of a configuration: stepped (CT-3) or conventional (one price).
CARBON_MODES = ("stepped", "conventional")


@dataclass(frozen=True)
class LowCarbonConfiguration:
    """Which devices and rules one build of the campus uses: a comparison configuration of 003 §4.1
    (SPEC §6.5 "Scenario definitions"); the scenario's ``[[variants]]`` tables
    (:data:`scenarios.lowcarbon_loader.LowCarbonVariant` is an alias of this class).

    ``robust``: wind uncertainty handled by the data-driven two-stage RO (False: the deterministic plan on
    the forecast, scored ex post on the same set); ``p2g_ccus``: P2G and CCUS built; ``blending``: H2
    blending in GT/GB and NH3 co-firing in TP with P2A and the NH3 storage; ``ev_dr``: EV fleet and DR;
    ``carbon``: ``stepped`` (CT-3) or ``conventional`` (one price c).
    """

    name: str
    label: str = ""
    robust: bool = True
    p2g_ccus: bool = True
    blending: bool = True
    ev_dr: bool = True
    carbon: str = "stepped"

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.name):
            raise ValueError(f"variant.name = {self.name!r}: must be letters, digits, '_', '.', '-'")
        if self.carbon not in CARBON_MODES:
            raise ValueError(f"variant {self.name}: carbon = {self.carbon!r}: must be one of {', '.join(CARBON_MODES)}")


@dataclass(frozen=True)
class LowCarbonUncertaintyParams:
    """How the campus's robust day-ahead decision handles wind: wind samples, mixture fit, sets and C&CG
    settings (SPEC §6.5); the scenario's ``[uncertainty]`` table
    (:data:`scenarios.lowcarbon_loader.LowCarbonUncertaintySpec` is an alias of this class)."""

    n_history: int = field(default=365, metadata={"unit": "days", "doc": "'historical' wind days"})
    n_samples: int = field(default=2000, metadata={"unit": "days", "doc": "expanded samples the sets are fitted to"})
    n_components: int = field(default=20, metadata={"unit": "", "doc": "DP-GMM truncation"})
    weight_concentration_prior: float = field(default=1.0, metadata={"unit": "", "doc": "DP concentration"})
    pca_dim: int = field(default=6, metadata={"unit": "", "doc": "principal components the mixture is fitted in "
                                                            "(0: the full 24-h space)"})
    min_weight: float = field(default=0.02, metadata={"unit": "1", "doc": "smallest component weight kept"})
    coverage: float = field(default=0.95, metadata={"unit": "1", "doc": "share of samples inside the union"})
    gamma_b: int = field(default=6, metadata={"unit": "", "doc": "Gamma_B of the vertex approximation"})
    box_q_low: float = field(default=0.005, metadata={"unit": "1", "doc": "box set lower quantile"})
    box_q_high: float = field(default=0.995, metadata={"unit": "1", "doc": "box set upper quantile"})
    gamma_poly: int = field(default=12, metadata={"unit": "", "doc": "polyhedral set budget"})
    epsilon: float = field(default=1e-3, metadata={"unit": "1", "doc": "C&CG relative gap"})
    max_iter: int = field(default=30, metadata={"unit": "", "doc": "C&CG iteration limit"})
    replay_days: int = field(default=100, metadata={"unit": "days", "doc": "out-of-sample days each plan is scored on"})
    upstream_gas_t_per_mwh: float = field(default=0.03, metadata={
        "unit": "t/MWh", "doc": "upstream CO2 of purchased gas, the proxy for 003's 'indirect CO2' (SPEC §3.15)"})

    def __post_init__(self) -> None:
        def bad(name: str, allowed: str) -> ValueError:
            return ValueError(f"uncertainty.{name} = {getattr(self, name)!r}: must be {allowed}")

        for name in ("n_history", "n_samples", "n_components", "gamma_b", "gamma_poly", "max_iter", "replay_days"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise bad(name, "a whole number >= 1")
        if self.n_samples < 50:
            raise bad("n_samples", ">= 50 (the mixture needs data)")
        if isinstance(self.pca_dim, bool) or not isinstance(self.pca_dim, int) or not 0 <= self.pca_dim <= 24:
            raise bad("pca_dim", "a whole number in [0, 24] (0: no PCA)")
        if not self.upstream_gas_t_per_mwh >= 0:
            raise bad("upstream_gas_t_per_mwh", ">= 0")
        if not self.weight_concentration_prior > 0:
            raise bad("weight_concentration_prior", "> 0")
        if not 0 <= self.min_weight < 1:
            raise bad("min_weight", "in [0, 1)")
        if not 0 < self.coverage < 1:
            raise bad("coverage", "in (0, 1)")
        if not 0 <= self.box_q_low < self.box_q_high <= 1:
            raise bad("box_q_high", f"in (box_q_low = {self.box_q_low}, 1] with box_q_low >= 0")
        if not 0 <= self.epsilon < 1:
            raise bad("epsilon", "in [0, 1)")


@dataclass(frozen=True, eq=False)
class LowCarbonCampusParams:
    """The parameters of paper 003's low-carbon campus: device parameters, loads, wind farms, settings and
    the comparison configurations (variants).

    This is all :func:`build_lowcarbon_model` needs, and all the ``lowcarbon_ies`` scenario holds
    (:data:`scenarios.lowcarbon_loader.LowCarbonScenario` is an alias of this class).
    """

    name: str
    description: str
    seed: int
    currency: str
    farm_capacities_mw: tuple[float, ...]
    wind: WindFarmParams
    gas_purchase: GasPurchaseParams
    gas_turbine: GasTurbineParams
    gas_boiler: GasBoilerParams
    thermal_units: tuple[ThermalUnitParams, ...]
    p2g: P2GParams
    p2a: P2AParams
    ammonia_storage: AmmoniaStorageParams
    hydrogen_storage: HydrogenStorageParams
    electric_storage: BatteryParams
    heat_storage: HeatStorageParams
    ccus: CCUSParams
    electric_heater: ElectricHeaterParams
    demand_response: DemandResponseParams
    ev_fleet: EVFleetParams
    recourse_slacks: RecourseSlackParams
    carbon_trading: CarbonTradingParams
    uncertainty: LowCarbonUncertaintyParams
    variants: tuple[LowCarbonConfiguration, ...]
    electric_load_mw: np.ndarray = field(metadata={"unit": "MW", "doc": "conventional electric load P^con_t"})
    heat_load_mw: np.ndarray = field(metadata={"unit": "MW", "doc": "conventional heat load R^con_t"})
    horizon: Horizon = DA_HORIZON
    source: Path | None = None

    def __post_init__(self) -> None:
        for name in ("electric_load_mw", "heat_load_mw"):
            arr = np.array(getattr(self, name), dtype=float)
            if arr.shape != (self.horizon.n,):
                raise ValueError(f"scenario {self.name}: {name} must have {self.horizon.n} values, got {arr.shape}")
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"scenario {self.name}: variant names must be unique, got {names}")
        if not self.variants:
            raise ValueError(f"scenario {self.name}: no variants")
        if abs(sum(self.farm_capacities_mw) - self.wind.capacity_mw) > 1e-9:
            raise ValueError(f"scenario {self.name}: wind.capacity_mw {self.wind.capacity_mw} != sum of the farm "
                             f"capacities {sum(self.farm_capacities_mw)}")

    def variant(self, name: str) -> LowCarbonConfiguration:
        for v in self.variants:
            if v.name == name:
                return v
        known = ", ".join(v.name for v in self.variants)
        raise KeyError(f"scenario {self.name}: no variant {name!r} (variants: {known})")


# ---------------------------------------------------------------------------------------------- model

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
    scenario: LowCarbonCampusParams
    variant: LowCarbonConfiguration
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


def variant_devices(scenario: LowCarbonCampusParams, variant: LowCarbonConfiguration) -> dict[str, Any]:
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
    scenario: LowCarbonCampusParams, variant: LowCarbonConfiguration, wind_mw: Sequence[float] | np.ndarray
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

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

For the multi-day simulator (``sim/systems/lowcarbon_ies``) :class:`LowCarbonCampusAgent` is the campus as a
Mesa agent: it owns two persistent builds of one configuration (the day-ahead decision on a
:class:`~agents.decision.robust.TwoStageRobust` engine and the realised-day dispatch in a
:class:`~agents.milp.HighsModel`) and the state its stores and thermal units carry over midnight
(:class:`CampusState`; the end-of-day windows of :func:`open_end_windows`).  The scenario's ``[simulation]``
table is :class:`LowCarbonSimulationParams`.  Both builds are compiled into HiGHS once; a day's data reaches
them as deltas: the carried state (mutable Params) as the changed row bounds only (the engine's
:meth:`~agents.decision.robust.TwoStageRobust.refresh`, the dispatch's
:meth:`~agents.milp.HighsModel.update_params`), the committed plan and the wind as fixed columns
(:meth:`~agents.milp.HighsModel.fix`: ``lb = ub``), never a recompile.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import mesa
import numpy as np
import pyomo.core as pyo

from agents.behaviours import LOWCARBON_CAMPUS, Behaviour, make
from agents.decision.robust import RobustResult, TwoStageRobust, UnionSet, VertexSet
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
from agents.milp import HighsModel, SolverOptions, SolveStats

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


#: Day-ahead methods of the simulated campus (``[simulation] method``).
SIM_METHODS = ("deterministic", "robust")


@dataclass(frozen=True)
class LowCarbonSimulationParams:
    """How ``run_sim.py simulate`` runs the campus: the scenario's ``[simulation]`` table
    (:data:`scenarios.lowcarbon_loader.LowCarbonSimulationSpec` is an alias of this class).

    ``configuration`` names the variant whose devices and carbon rules are simulated (default the full
    model S5); its ``robust`` flag is the study's and is superseded here by ``method``, the day-ahead
    decision of the thermal commitment and the declared sale tier: ``deterministic`` (the MILP on the day's
    forecast) or ``robust`` (two-stage RO by C&CG over the data-driven set of the run's wind history).
    The default is ``deterministic`` because a robust day is slow: with the study's ``--quick`` fit (400
    samples, 3 ellipsoids) a simulated S5 day with the robust method took 303 s on the 2-core reference
    machine (C&CG: 6 iterations, 301 s; the deterministic MILP day: 5-8 s before issue 15, about 1 s since),
    far above the ~60 s a simulated day may take.
    ``n_samples``, ``n_components`` and ``epsilon`` are the fit and C&CG settings of the robust method
    (the study's ``--quick`` values); the rest comes from ``[uncertainty]``.
    """

    configuration: str = field(default="S5", metadata={"unit": "", "doc": "the variant simulated"})
    method: str = field(default="deterministic", metadata={"unit": "", "doc": "day-ahead method: deterministic "
                                                                              "or robust"})
    n_samples: int = field(default=400, metadata={"unit": "days", "doc": "expanded wind samples of the run's fit"})
    n_components: int = field(default=3, metadata={"unit": "", "doc": "DP-GMM truncation of the run's fit"})
    epsilon: float = field(default=5e-3, metadata={"unit": "1", "doc": "C&CG relative gap of the robust method"})

    def __post_init__(self) -> None:
        if self.method not in SIM_METHODS:
            raise ValueError(f"simulation.method = {self.method!r}: must be one of {', '.join(SIM_METHODS)}")
        for name, lo in (("n_samples", 50), ("n_components", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"simulation.{name} = {v!r}: must be a whole number >= {lo}")
        if not 0 <= self.epsilon < 1:
            raise ValueError(f"simulation.epsilon = {self.epsilon!r}: must be in [0, 1)")


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
    simulation: LowCarbonSimulationParams = field(default_factory=LowCarbonSimulationParams)
    #: the scenario's ``[behaviours]`` table (SPEC §8): key (the campus's name or type) -> behaviour spec
    behaviours: Mapping[str, Any] = field(default_factory=dict)

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
        if self.simulation.configuration not in names:
            raise ValueError(f"simulation.configuration = {self.simulation.configuration!r}: must be one of "
                             f"{', '.join(names)}")

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


# ---------------------------------------------------------------------------------------------- multi-day campus


def output_in_mw(var: str, unit: str) -> tuple[str, str]:
    """The reused kW-named builders (electric and heat storage) hold MW in this campus: the output's name and
    unit as they read here (``*_kw`` -> ``*_mw``, ``*_kwh`` -> ``*_mwh``, kW/kWh -> MW/MWh)."""
    if var.endswith("_kwh"):
        var = var[:-4] + "_mwh"
    elif var.endswith("_kw"):
        var = var[:-3] + "_mw"
    return var, {"kW": "MW", "kWh": "MWh", "kW_th": "MW", "kWh_th": "MWh"}.get(unit, unit)


def wind_dual_bound(scenario: LowCarbonCampusParams) -> float:
    """A valid bound on the multipliers of the wind rows ``p_wind <= p_avail``: one more MW of wind saves at most
    the dearest penalty it displaces (shedding or spill) plus the curtailment cost it avoids (the
    ``dual_bound`` of :class:`~agents.decision.robust.TwoStageRobust`; the study and the simulator use it)."""
    r = scenario.recourse_slacks
    return 1.01 * (max(r.shed_cost_per_mwh, r.heat_shed_cost_per_mwh, r.spill_cost_per_mwh)
                   + scenario.wind.curtailment_cost_per_mwh)


@dataclass(frozen=True)
class CarriedStore:
    """A store of the campus whose content carries over midnight: where the builder put it.

    ``key``: the handle; ``content``: the Var of the content at the end of each period; ``start``: the
    mutable Param of the content at t = 0; ``end``: the builder's "end = start" row, which
    :func:`open_end_windows` replaces; ``keep_above``: the day must end at or above the nominal start
    (an energy store), else at or below it (the rich-solvent tank: its lean mirror ends at or above).
    """

    key: str
    content: str
    start: str
    end: str
    unit: str
    keep_above: bool = True


#: The carried stores of 003's campus (the ``*_kwh`` fields of the electric and heat storage hold MWh).
STORES: tuple[CarriedStore, ...] = (
    CarriedStore("ess", "soc_kwh", "e_initial_kwh", "res_end_soc", "MWh"),
    CarriedStore("hs", "soc_kwh", "e_initial_kwh", "res_end_soc", "MWh"),
    CarriedStore("h2s", "soc_mwh", "e_initial_mwh", "res_end_soc", "MWh"),
    CarriedStore("nh3s", "s_t", "s_initial_t", "res_end_storage", "t"),
    CarriedStore("ccus", "v_rich_m3", "v_rich_initial_m3", "res_end_rich", "m3", keep_above=False),
)


def stores_of(lm: LowCarbonModel) -> tuple[CarriedStore, ...]:
    """The carried stores a configuration builds (P2G-CCUS and blending switch some off)."""
    return tuple(st for st in STORES if st.key in lm.handles)


def _content_bounds(var: Any) -> tuple[float, float]:
    lo, hi = var.bounds
    return float(-np.inf if lo is None else lo), float(np.inf if hi is None else hi)


def open_end_windows(lm: LowCarbonModel) -> None:
    """Multi-day form of the stores' terminal rows (ESS-4, HS-1, the H2 tank, SPEC §3.12, CC-5).

    Each store's "end content = start content" row is deactivated and replaced by the window
    ``carry_end_lo <= S_T <= carry_end_hi`` (mutable Params ``carry_end_lo``/``carry_end_hi`` of the store's
    block, row ``res_end_window``): an energy store ends the day at or above its nominal start (the scenario's
    ``soc_initial_frac`` share) and at most at its maximum, so stored energy can be carried into the next day
    but never borrowed from it; the rich-solvent tank ends at or below its nominal start (the lean tank at or
    above it), so unregenerated CO2 is never pushed into the next day.  The day's start is then the
    ``start`` Param, written by :func:`write_state`.  Call it before compiling the model."""
    last = lm.scenario.horizon.periods[-1]
    for st in stores_of(lm):
        b = lm.handles[st.key].block
        if b.component("res_end_window") is not None:
            raise ValueError(f"{lm.model.name}: store {st.key} already has its end window")
        b.component(st.end).deactivate()
        nominal = float(pyo.value(b.component(st.start)))
        end = b.component(st.content)[last]
        lo, hi = _content_bounds(end)
        window = (nominal, hi) if st.keep_above else (lo, nominal)
        b.carry_end_lo = pyo.Param(initialize=window[0], mutable=True, doc=f"lowest end content [{st.unit}]")
        b.carry_end_hi = pyo.Param(initialize=window[1], mutable=True, doc=f"highest end content [{st.unit}]")
        b.res_end_window = pyo.Constraint(expr=pyo.inequality(b.carry_end_lo, end, b.carry_end_hi),
                                          doc="end content within the multi-day window (carried over midnight)")


@dataclass
class CampusState:
    """What the campus carries over midnight (SPEC §6.6 state): each store's content (``stores``: key ->
    MWh, t or m3 as :data:`STORES` says) and each thermal unit's commitment and output in the last hour
    (``units``: name -> ``(u_0, P_0 [MW])``, the TP-2/TP-3 initial state of the next day).  The EV fleet is
    cyclic within the day (EV-4'), so it carries nothing."""

    stores: dict[str, float]
    units: dict[str, tuple[int, float]]

    @classmethod
    def nominal(cls, lm: LowCarbonModel) -> CampusState:
        """The scenario's start: the stores at their initial share, the units at ``on_initial`` / ``P_0``."""
        stores = {st.key: float(pyo.value(lm.handles[st.key].block.component(st.start))) for st in stores_of(lm)}
        units = {u.name: (1 if u.on_initial else 0, u.p0_mw) for u in lm.scenario.thermal_units}
        return cls(stores, units)

    def to_json(self) -> dict[str, Any]:
        return {"stores": dict(self.stores),
                "units": {k: {"on": int(on), "p_mw": float(p)} for k, (on, p) in self.units.items()}}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> CampusState:
        return cls(stores={str(k): float(v) for k, v in d["stores"].items()},
                   units={str(k): (int(v["on"]), float(v["p_mw"])) for k, v in d["units"].items()})


def write_state(lm: LowCarbonModel, state: CampusState) -> None:
    """Write ``state`` into a build's mutable Params: each store's start content (clipped to its bounds) and
    each unit's ``u_initial`` / ``p_initial_mw``.  Only right-hand sides change (no rebuild)."""
    first = lm.scenario.horizon.periods[0]
    for st in stores_of(lm):
        b = lm.handles[st.key].block
        lo, hi = _content_bounds(b.component(st.content)[first])
        b.component(st.start).set_value(min(max(float(state.stores[st.key]), lo), hi))
    for u in lm.scenario.thermal_units:
        on, p = state.units[u.name]
        b = lm.handles[f"tp_{u.name}"].block
        b.u_initial.set_value(int(on))
        b.p_initial_mw.set_value(min(max(float(p), u.p_min_mw), u.p_max_mw) if on else 0.0)


def read_state(lm: LowCarbonModel) -> CampusState:
    """The state the build's current variable values leave at midnight (the next day's :class:`CampusState`)."""
    last = lm.scenario.horizon.periods[-1]
    stores = {}
    for st in stores_of(lm):
        var = lm.handles[st.key].block.component(st.content)[last]
        lo, hi = _content_bounds(var)
        stores[st.key] = min(max(float(pyo.value(var)), lo), hi)
    units = {}
    for u in lm.scenario.thermal_units:
        b = lm.handles[f"tp_{u.name}"].block
        on = round(float(pyo.value(b.u_on[last])))
        units[u.name] = (on, min(max(float(pyo.value(b.p_mw[last])), u.p_min_mw), u.p_max_mw) if on else 0.0)
    return CampusState(stores, units)


class LowCarbonCampusAgent(mesa.Agent):  # type: ignore[misc]
    """Paper 003's campus as an agent of the multi-day simulator (SPEC §6.5, §6.6), built once per run.

    It owns

    * ``plan``: a build of ``configuration`` and its two-stage robust engine ``engine``
      (:class:`~agents.decision.robust.TwoStageRobust`; first stage ``x`` = the thermal units' commitment,
      start-ups, shut-downs and the declared carbon sale tier, ``u`` = the aggregate wind availability);
    * ``real``: a second build for the realised day in the persistent :class:`~agents.milp.HighsModel`
      ``dispatch``, with ``x`` fixed at the day's plan (:meth:`commit`): the recourse LP (its integers
      relaxed, as the engine relaxes recourse integers), solved once with the realised wind or re-solved
      hour by hour by the simulator's receding-horizon replay;
    * ``state``: what the campus carries over midnight (:class:`CampusState`).

    Both builds have the end windows of :func:`open_end_windows`.  A day: :meth:`start_day` writes
    ``state`` into both builds (right-hand sides only; the engine and the dispatch model are refreshed and
    start cold, so a day depends only on its data and the state), the day-ahead method decides ``x``
    (:meth:`plan_deterministic` or :meth:`plan_robust`), :meth:`commit` fixes it, the dispatch runs, and
    :meth:`end_day` reads the new ``state`` from the dispatched day.
    """

    behaviour_kind: ClassVar[str] = LOWCARBON_CAMPUS

    def __init__(self, model: mesa.Model, name: str, scenario: LowCarbonCampusParams,
                 configuration: LowCarbonConfiguration, options: SolverOptions | None = None) -> None:
        super().__init__(model)
        self.name = name
        #: its behaviour (SPEC §8; ``truthful`` unless the scenario says otherwise): here only ``forecast`` acts
        self.behaviour: Behaviour = make()
        self.params = scenario  # not "scenario": mesa.Agent owns that name
        self.configuration = configuration
        self.options = options or SolverOptions()
        zero = np.zeros(scenario.horizon.n)
        self.plan = build_lowcarbon_model(scenario, configuration, zero)
        self.real = build_lowcarbon_model(scenario, configuration, zero)
        for lm in (self.plan, self.real):
            open_end_windows(lm)
        self.engine = TwoStageRobust(self.plan.model, self.plan.first_stage, self.plan.wind_availability,
                                     f"{name} day-ahead ({configuration.name})", self.options,
                                     dual_bound=wind_dual_bound(scenario), subproblem_gap=1e-4)
        self.dispatch = HighsModel(self.real.model, f"{name} dispatch ({configuration.name})", self.options,
                                   relax_integrality=True)
        self.dispatch.track_params()  # a day's data then reaches HiGHS as deltas (update_params)
        self._wind_vars = list(self.real.wind_availability.values())
        self._first_stage_vars = [v for comp in self.real.first_stage for v in comp.values()]
        self.state = CampusState.nominal(self.plan)
        self.start: CampusState = self.state

    @property
    def stores(self) -> tuple[CarriedStore, ...]:
        return stores_of(self.real)

    def start_day(self) -> float:
        """Write :attr:`state` into both builds and refresh the engine and the dispatch model (cold); seconds.

        Both take the new right-hand sides as deltas: the engine recompiles only the rows the changed Params
        feed (:meth:`~agents.decision.robust.TwoStageRobust.refresh`), the dispatch pushes the rows its
        Param index ties to them (:meth:`~agents.milp.HighsModel.update_params`)."""
        self.start = CampusState(dict(self.state.stores), dict(self.state.units))
        for lm in (self.plan, self.real):
            write_state(lm, self.state)
        s = self.engine.refresh()
        s += self.dispatch.update_params()
        self.dispatch.clear_solver()
        return s

    def plan_deterministic(self, wind_mw: Sequence[float] | np.ndarray) -> RobustResult:
        """``x`` of the MILP on one wind profile (the forecast; the realised day for the oracle)."""
        return self.engine.solve_deterministic(np.asarray(wind_mw, dtype=float))

    def plan_robust(self, uset: VertexSet | UnionSet, eps: float, max_iter: int) -> RobustResult:
        """``x`` of the two-stage RO over ``uset`` by C&CG (``eps`` relative gap)."""
        return self.engine.solve(uset, eps=eps, max_iter=max_iter)

    def commit(self, x_flat: np.ndarray) -> None:
        """Fix the realised-day build's first stage at the plan ``x`` (binaries rounded): Pyomo's fix and
        ``lb = ub`` on those columns of the dispatch model (:meth:`~agents.milp.HighsModel.fix`)."""
        xd = self.engine.x_dict(np.asarray(x_flat, dtype=float))
        vals = [float(val) for comp in self.real.first_stage for val in np.round(xd[comp.name]).tolist()]
        self.dispatch.fix(self._first_stage_vars, vals)

    def set_wind(self, wind_mw: Sequence[float] | np.ndarray) -> None:
        """The wind availability the next dispatch solve sees (MW per hour): the fixed ``u`` Vars re-fixed
        (checked by :func:`~agents.devices.renewables.set_wind_availability`) and their columns' bounds pushed."""
        self.real.set_wind(np.asarray(wind_mw, dtype=float))
        self.dispatch.fix(self._wind_vars)

    def solve_dispatch(self) -> SolveStats:
        """Push the Params that changed into the dispatch model (deltas; wind and fixed periods are pushed
        when they are fixed) and solve it."""
        self.dispatch.update_params()
        return self.dispatch.solve()

    def load_dispatch(self) -> None:
        """Write the dispatch model's last solution into the realised-day build's variables (those not fixed)."""
        x = self.dispatch.x.tolist()
        for v, val in zip(self.dispatch.compiled.columns, x, strict=True):  # every active Var is a column
            if not v.fixed:
                v.set_value(val, skip_validation=True)

    def end_day(self) -> CampusState:
        """The day's end state (from the loaded dispatch) becomes the next day's start."""
        self.state = read_state(self.real)
        return self.state


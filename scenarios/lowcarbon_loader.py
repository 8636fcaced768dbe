"""Scenario of paper 003's low-carbon campus (SPEC §3.6d, §3.9–§3.15, §6.5): schema and loader.

``scenarios/lowcarbon_ies/scenario.toml`` holds one table per device; each table's keys are the fields
of that device's ``Params`` dataclass in :mod:`agents.lowcarbon_devices` (or
:class:`~agents.devices.BatteryParams` / :class:`~agents.rural_devices.HeatStorageParams` for the
electric and heat storage), and a field left out keeps the dataclass default (whose metadata names its
source).  An unknown key, a value of the wrong type or out of range is a :class:`ScenarioError` naming
the file, the field and what is allowed.  The six comparison configurations of 003 §4.1 are the
``[[variants]]`` (:class:`LowCarbonVariant`).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agents.devices import DA_HORIZON, BatteryParams, Horizon
from agents.lowcarbon_devices import (
    AmmoniaStorageParams,
    CarbonTradingParams,
    CCUSParams,
    DemandResponseParams,
    ElectricHeaterParams,
    EVFleetParams,
    GasBoilerParams,
    GasPurchaseParams,
    GasTurbineParams,
    HydrogenStorageParams,
    P2AParams,
    P2GParams,
    RecourseSlackParams,
    ThermalUnitParams,
    WindFarmParams,
    default_ev_fleet,
)
from agents.rural_devices import HeatStorageParams, check_battery_params
from scenarios.loader import _read_profiles, _Reader, read_toml, scenario_path
from scenarios.schema import ScenarioError

CARBON_MODES = ("stepped", "conventional")


@dataclass(frozen=True)
class LowCarbonVariant:
    """One comparison configuration of 003 §4.1 (SPEC §6.5 "Scenario definitions").

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
class LowCarbonUncertaintySpec:
    """Wind samples, mixture fit, sets and C&CG settings (SPEC §6.5)."""

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
class LowCarbonScenario:
    """The low-carbon campus of paper 003: device parameters, loads, wind farms, settings and variants."""

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
    uncertainty: LowCarbonUncertaintySpec
    variants: tuple[LowCarbonVariant, ...]
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

    def variant(self, name: str) -> LowCarbonVariant:
        for v in self.variants:
            if v.name == name:
                return v
        known = ", ".join(v.name for v in self.variants)
        raise KeyError(f"scenario {self.name}: no variant {name!r} (variants: {known})")


# ---------------------------------------------------------------------------------------------- loader


def _coerce(r: _Reader, key: str, value: Any, f: dataclasses.Field[Any]) -> Any:
    """A TOML value for dataclass field ``f``: bools stay bools, numbers become float/int as the default is."""
    default = f.default
    if isinstance(default, bool) or f.type in ("bool", bool):
        if not isinstance(value, bool):
            raise r.err(key, f"must be true or false, got {value!r}")
        return value
    if isinstance(default, str) or f.type in ("str", str):
        if not isinstance(value, str):
            raise r.err(key, f"must be a string, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise r.err(key, f"must be a number, got {value!r}")
    if isinstance(default, int) and not isinstance(default, bool):
        if not float(value).is_integer():
            raise r.err(key, f"= {value}: must be a whole number")
        return int(value)
    return float(value)


def _params[P](r: _Reader, cls: type[P], extra: dict[str, Any] | None = None, skip: tuple[str, ...] = ()) -> P:
    """``cls(**table)`` with the table's keys checked against the dataclass fields; the dataclass's own
    ValueError becomes a ScenarioError naming the field."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = dict(extra or {})
    for key, value in r.table.items():
        if key in skip:
            continue
        if key not in fields:
            allowed = ", ".join(n for n in fields if n not in skip and n not in (extra or {}))
            raise r.err(key, f"is not a field of {cls.__name__} (allowed: {allowed})")
        kwargs[key] = _coerce(r, key, value, fields[key])
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        m = re.match(r"[\w.]+?\.(\w+) (?:= .*?: )?(?:must )?(.*?)(, got [^,]*)?$", msg)
        if m and m.group(1) in kwargs:
            raise r.err(m.group(1), f"= {kwargs[m.group(1)]!r}: {msg}") from exc
        raise ScenarioError(f"{r.file}: table '{r.where or 'top level'}': {msg}") from exc


def _table(r: _Reader, key: str) -> _Reader:
    t = r.sub(key, required=False)
    return t if t is not None else _Reader(r.file, {}, key)


def load_lowcarbon_ies(path: str | Path = "lowcarbon_ies") -> LowCarbonScenario:
    """Load paper 003's low-carbon campus from a folder, a ``.toml`` file or a bundled name (``lowcarbon_ies``)."""
    file = scenario_path(path)
    raw = read_toml(file)
    r = _Reader(file, raw)
    r.text("kind", choices=("lowcarbon_ies",))
    known = {"kind", "name", "description", "seed", "currency", "profiles", "wind", "gas_purchase", "gas_turbine",
             "gas_boiler", "thermal_units", "p2g", "p2a", "ammonia_storage", "hydrogen_storage", "electric_storage",
             "heat_storage", "ccus", "electric_heater", "demand_response", "ev_fleet", "recourse_slacks",
             "carbon_trading", "uncertainty", "variants"}
    for key in raw:
        if key not in known:
            raise r.err(key, f"is not a known table or field (known: {', '.join(sorted(known))})")
    horizon = DA_HORIZON

    wt = _table(r, "wind")
    caps_raw = wt.table.get("farm_capacities_mw", [300.0, 300.0])
    if not isinstance(caps_raw, list) or not caps_raw or not all(
            isinstance(c, int | float) and not isinstance(c, bool) and c > 0 for c in caps_raw):
        raise wt.err("farm_capacities_mw", f"must be a non-empty list of capacities > 0 MW, got {caps_raw!r}")
    caps = tuple(float(c) for c in caps_raw)
    wind = _params(wt, WindFarmParams, extra={"capacity_mw": sum(caps)}, skip=("farm_capacities_mw",))

    units_raw = raw.get("thermal_units", [{"name": "TP1"}, {"name": "TP2"}])
    if not isinstance(units_raw, list) or not units_raw or not all(isinstance(u, dict) for u in units_raw):
        raise r.err("thermal_units", "must be an array of tables ([[thermal_units]]) with at least one unit")
    units = tuple(_params(_Reader(file, u, f"thermal_units[{i}]"), ThermalUnitParams) for i, u in enumerate(units_raw))
    if len({u.name for u in units}) != len(units):
        raise r.err("thermal_units", f"unit names must be unique, got {[u.name for u in units]}")

    et = _table(r, "electric_storage")
    ess = _params(et, BatteryParams, extra={"capacity_kwh": 200.0, "p_charge_max_kw": 50.0,
                                            "p_discharge_max_kw": 50.0})
    try:
        check_battery_params(ess)
    except ValueError as exc:
        raise ScenarioError(f"{file}: table 'electric_storage': {exc}") from exc
    ht = _table(r, "heat_storage")
    hs = _params(ht, HeatStorageParams, extra={"capacity_kwh": 150.0, "h_charge_max_kw": 50.0,
                                               "h_discharge_max_kw": 50.0, "loss_per_h": 0.01})

    evt = _table(r, "ev_fleet")
    base_fleet = default_ev_fleet(horizon)
    ev_fleet = _params(evt, EVFleetParams, extra={"groups": base_fleet.groups}, skip=("groups",))

    ut = _table(r, "uncertainty")
    unc = _params(ut, LowCarbonUncertaintySpec)

    vars_raw = raw.get("variants")
    if not isinstance(vars_raw, list) or not vars_raw or not all(isinstance(v, dict) for v in vars_raw):
        raise r.err("variants", "must be an array of tables ([[variants]]) with at least one configuration")
    variants = tuple(_params(_Reader(file, v, f"variants[{i}]"), LowCarbonVariant) for i, v in enumerate(vars_raw))
    if len({v.name for v in variants}) != len(variants):
        raise r.err("variants", f"names must be unique, got {[v.name for v in variants]}")

    pt = r.sub("profiles")
    assert pt is not None
    prof_file = file.parent / pt.text("loads")
    try:
        prof = _read_profiles(prof_file, horizon.n, ["electric_load_mw", "heat_load_mw"])
    except ScenarioError as exc:
        raise ScenarioError(f"{file}: field 'profiles.loads' = {pt.text('loads')!r}: {exc}") from exc

    try:
        return LowCarbonScenario(
            name=r.text("name"),
            description=r.text("description", default=""),
            seed=int(r.num("seed", lo=0, integer=True)),
            currency=r.text("currency", default="1e4 CNY"),
            farm_capacities_mw=caps,
            wind=wind,
            gas_purchase=_params(_table(r, "gas_purchase"), GasPurchaseParams),
            gas_turbine=_params(_table(r, "gas_turbine"), GasTurbineParams),
            gas_boiler=_params(_table(r, "gas_boiler"), GasBoilerParams),
            thermal_units=units,
            p2g=_params(_table(r, "p2g"), P2GParams),
            p2a=_params(_table(r, "p2a"), P2AParams),
            ammonia_storage=_params(_table(r, "ammonia_storage"), AmmoniaStorageParams),
            hydrogen_storage=_params(_table(r, "hydrogen_storage"), HydrogenStorageParams),
            electric_storage=ess,
            heat_storage=hs,
            ccus=_params(_table(r, "ccus"), CCUSParams),
            electric_heater=_params(_table(r, "electric_heater"), ElectricHeaterParams),
            demand_response=_params(_table(r, "demand_response"), DemandResponseParams),
            ev_fleet=ev_fleet,
            recourse_slacks=_params(_table(r, "recourse_slacks"), RecourseSlackParams),
            carbon_trading=_params(_table(r, "carbon_trading"), CarbonTradingParams),
            uncertainty=unc,
            variants=variants,
            electric_load_mw=prof["electric_load_mw"].to_numpy(dtype=float),
            heat_load_mw=prof["heat_load_mw"].to_numpy(dtype=float),
            horizon=horizon,
            source=file,
        )
    except ValueError as exc:
        raise ScenarioError(f"{file}: {exc}") from exc

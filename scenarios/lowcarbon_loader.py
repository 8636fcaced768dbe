"""Scenario of paper 003's low-carbon campus (SPEC §3.6d, §3.9–§3.15, §6.5): loader and scenario-level names.

``scenarios/lowcarbon_ies/scenario.toml`` holds one table per device; each table's keys are the fields
of that device's ``Params`` dataclass in :mod:`agents.devices` (:class:`~agents.ev.EVFleetParams` for the EV fleet;
:class:`~agents.devices.storage.BatteryParams` / :class:`~agents.devices.storage.HeatStorageParams` for the
electric and heat storage), and a field left out keeps the dataclass default (whose metadata names its
source).  An unknown key, a value of the wrong type or out of range is a :class:`ScenarioError` naming
the file, the field and what is allowed.  The six comparison configurations of 003 §4.1 are the
``[[variants]]`` (:class:`LowCarbonVariant`).  The optional ``[simulation]`` table
(:data:`LowCarbonSimulationSpec`) says how ``run_sim.py simulate`` runs the campus: which configuration
(``configuration``, one of the variants' names, default ``S5``) and which day-ahead method (``method``:
``deterministic`` or ``robust``).

The scenario is exactly the campus agent's parameters, so its dataclasses are those of
:mod:`agents.lowcarbon_campus` under scenario-level aliases: :data:`LowCarbonScenario` =
:class:`~agents.lowcarbon_campus.LowCarbonCampusParams`, :data:`LowCarbonVariant` =
:class:`~agents.lowcarbon_campus.LowCarbonConfiguration`, :data:`LowCarbonUncertaintySpec` =
:class:`~agents.lowcarbon_campus.LowCarbonUncertaintyParams`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agents.behaviours import LOWCARBON_CAMPUS
from agents.devices.carbon import CarbonTradingParams, CCUSParams
from agents.devices.core import DA_HORIZON
from agents.devices.demand import DemandResponseParams, RecourseSlackParams
from agents.devices.gas import GasBoilerParams, GasPurchaseParams, GasTurbineParams
from agents.devices.heat import ElectricHeaterParams
from agents.devices.hydrogen import P2AParams, P2GParams
from agents.devices.renewables import WindFarmParams
from agents.devices.storage import (
    AmmoniaStorageParams,
    BatteryParams,
    HeatStorageParams,
    HydrogenStorageParams,
    check_battery_params,
)
from agents.devices.thermal import ThermalUnitParams
from agents.ev import EVFleetParams, default_ev_fleet
from agents.lowcarbon_campus import (
    SIM_METHODS,
    LowCarbonCampusParams,
    LowCarbonConfiguration,
    LowCarbonSimulationParams,
    LowCarbonUncertaintyParams,
)
from scenarios.behaviours import read_behaviours
from scenarios.edits import Edit, load_edited
from scenarios.loader import MAGNITUDE_LIMITS, _read_profiles, _Reader, magnitude_limit, read_toml, scenario_path
from scenarios.schema import ScenarioError

# The lowcarbon_ies scenario is exactly one campus's parameters: the dataclasses live beside the agent
# that uses them (agents.lowcarbon_campus); the scenario-level names are aliases.
#: Paper 003's campus: devices, loads, wind farms, settings and the comparison configurations.
LowCarbonScenario = LowCarbonCampusParams
#: The name of the system's one campus agent (a ``[behaviours]`` key; its type ``LowCarbonCampusAgent`` is the other).
CAMPUS_AGENT = "campus"
#: One comparison configuration of 003 §4.1 (a ``[[variants]]`` table).
LowCarbonVariant = LowCarbonConfiguration
#: Wind samples, mixture fit, sets and C&CG settings (the ``[uncertainty]`` table).
LowCarbonUncertaintySpec = LowCarbonUncertaintyParams
#: How the multi-day simulator runs the campus (the ``[simulation]`` table).
LowCarbonSimulationSpec = LowCarbonSimulationParams


#: Largest capacity of one wind farm (MW): the plausibility limit of a MW quantity (:data:`MAGNITUDE_LIMITS`).
MAX_FARM_MW = MAGNITUDE_LIMITS["MW"][0]

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
    if not math.isfinite(value):
        raise r.err(key, f"= {value}: must be a finite number")
    limit = magnitude_limit(f.metadata.get("unit", ""))
    if limit is not None and abs(value) > limit[0]:
        raise r.err(key, f"= {value}: must be <= {limit[0]:g} {f.metadata['unit']} in magnitude ({limit[1]})")
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


def _carbon_trading(t: _Reader) -> CarbonTradingParams:
    """The ``[carbon_trading]`` table; ``conventional`` is refused: each configuration sets it
    (``variants.<name>.carbon``), so a value here would change nothing."""
    if "conventional" in t.table:
        raise t.err("conventional", "is set per configuration, as variants.<name>.carbon = \"conventional\" or "
                                    "\"stepped\" (a value here would be replaced by the configuration's)")
    return _params(t, CarbonTradingParams, skip=("conventional",))


def _table(r: _Reader, key: str) -> _Reader:
    t = r.sub(key, required=False)
    return t if t is not None else _Reader(r.file, {}, key)


def load_lowcarbon_ies(path: str | Path = "lowcarbon_ies", edits: Sequence[Edit] = ()) -> LowCarbonScenario:
    """Load paper 003's low-carbon campus from a folder, a ``.toml`` file or a bundled name (``lowcarbon_ies``).

    ``edits`` (``(path, value)`` pairs, :mod:`scenarios.edits`) change the parsed file before it is validated."""
    file = scenario_path(path)
    return load_edited(file, read_toml(file), edits, lambda raw: _load_lowcarbon(file, raw))


def _load_lowcarbon(file: Path, raw: dict[str, Any]) -> LowCarbonScenario:
    r = _Reader(file, raw)
    r.text("kind", choices=("lowcarbon_ies",))
    known = {"kind", "name", "description", "seed", "currency", "profiles", "wind", "gas_purchase", "gas_turbine",
             "gas_boiler", "thermal_units", "p2g", "p2a", "ammonia_storage", "hydrogen_storage", "electric_storage",
             "heat_storage", "ccus", "electric_heater", "demand_response", "ev_fleet", "recourse_slacks",
             "carbon_trading", "uncertainty", "variants", "simulation", "behaviours"}
    for key in raw:
        if key not in known:
            raise r.err(key, f"is not a known table or field (known: {', '.join(sorted(known))})")
    horizon = DA_HORIZON

    wt = _table(r, "wind")
    caps_raw = wt.table.get("farm_capacities_mw", [300.0, 300.0])
    if not isinstance(caps_raw, list) or not caps_raw or not all(
            isinstance(c, int | float) and not isinstance(c, bool) and math.isfinite(c) and 0 < c <= MAX_FARM_MW
            for c in caps_raw):
        raise wt.err("farm_capacities_mw", f"must be a non-empty list of finite capacities in (0, {MAX_FARM_MW:g}] MW "
                                           f"({MAGNITUDE_LIMITS['MW'][1]}), got {caps_raw!r}")
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
    except ValueError as exc:  # "BatteryParams.<field> must ...": name the field when the table holds it
        m = re.match(r"\w+\.(\w+) ", str(exc))
        if m and m.group(1) in et.table:
            raise et.err(m.group(1), f"= {et.table[m.group(1)]!r}: {exc}") from exc
        raise ScenarioError(f"{file}: table 'electric_storage': {exc}") from exc
    ht = _table(r, "heat_storage")
    hs = _params(ht, HeatStorageParams, extra={"capacity_kwh": 150.0, "h_charge_max_kw": 50.0,
                                               "h_discharge_max_kw": 50.0, "loss_per_h": 0.01})

    evt = _table(r, "ev_fleet")
    base_fleet = default_ev_fleet(horizon)
    if "groups" in evt.table:  # skipped by _params below: refuse it rather than ignore it
        raise evt.err("groups", "cannot be set in the file: the fleet is the 30 aggregated groups of "
                                "agents.ev.default_ev_fleet")
    ev_fleet = _params(evt, EVFleetParams, extra={"groups": base_fleet.groups}, skip=("groups",))

    ut = _table(r, "uncertainty")
    unc = _params(ut, LowCarbonUncertaintySpec)

    vars_raw = raw.get("variants")
    if not isinstance(vars_raw, list) or not vars_raw or not all(isinstance(v, dict) for v in vars_raw):
        raise r.err("variants", "must be an array of tables ([[variants]]) with at least one configuration")
    variants = tuple(_params(_Reader(file, v, f"variants[{i}]"), LowCarbonVariant) for i, v in enumerate(vars_raw))
    if len({v.name for v in variants}) != len(variants):
        raise r.err("variants", f"names must be unique, got {[v.name for v in variants]}")

    st = _table(r, "simulation")
    names = tuple(v.name for v in variants)
    st.text("configuration", default="S5", choices=names)
    st.text("method", default=LowCarbonSimulationSpec().method, choices=SIM_METHODS)
    simulation = _params(st, LowCarbonSimulationSpec)

    pt = r.sub("profiles")
    assert pt is not None
    for key in pt.table:
        if key != "loads":
            raise pt.err(key, "is not a known field here; known fields are loads")
    prof_file = file.parent / pt.text("loads")
    try:
        prof = _read_profiles(prof_file, horizon.n, ["electric_load_mw", "heat_load_mw"], unit="MW")
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
            carbon_trading=_carbon_trading(_table(r, "carbon_trading")),
            uncertainty=unc,
            variants=variants,
            electric_load_mw=prof["electric_load_mw"].to_numpy(dtype=float),
            heat_load_mw=prof["heat_load_mw"].to_numpy(dtype=float),
            horizon=horizon,
            source=file,
            simulation=simulation,
            behaviours=read_behaviours(file, raw.get("behaviours"), {CAMPUS_AGENT: LOWCARBON_CAMPUS},
                                       {"LowCarbonCampusAgent": LOWCARBON_CAMPUS}),
        )
    except ScenarioError:  # a table's own error already names the file and the field
        raise
    except ValueError as exc:
        raise ScenarioError(f"{file}: {exc}") from exc

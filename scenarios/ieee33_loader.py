"""Load and validate the IEEE-33 scenario of paper 004 (SPEC §5): ``scenario.toml`` + ``profiles/*.csv``.

:func:`load_ieee33_scenario` turns a scenario folder into a frozen
:class:`~scenarios.schema.IEEE33Scenario` whose agents' parameter classes are already built
(:class:`~agents.cluster.ClusterParams`, :class:`~agents.transformer_area.TransformerAreaParams`,
:class:`~agents.ev.FleetSpec`); :func:`fleet` draws the EV fleets from the scenario seed.

Every problem is a :class:`~scenarios.schema.ScenarioError` that names the file, the field (dotted
path, e.g. ``clusters[1].buses``) and what is allowed.  Bus numbers are the paper's (1..33) and are
checked against the feeder: the clusters must partition its buses exactly, each leading bus lies in
its cluster, and every PV / wind / DR / EV bus lies in some cluster.  Unknown keys are errors too
(a misspelt ``voltage_limit`` would otherwise be silently ignored).

The typed TOML reader ``_Reader`` and the CSV reader ``_read_profiles`` are imported from
:mod:`scenarios.loader` although they are private there: one validation style for every scenario,
no copy to drift.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

import numpy as np
import pandas as pd

from agents.behaviours import CLUSTER, EV, TRANSFORMER_AREA
from agents.cluster import ClusterParams
from agents.devices.core import Horizon
from agents.devices.storage import BatteryParams
from agents.ev import EVParams, FleetSpec, sample_fleet
from agents.transformer_area import TransformerAreaParams
from scenarios.behaviours import read_behaviours
from scenarios.derived_feeder import feeder_clusters, generator_sites, station_buses
from scenarios.edits import Edit, load_edited
from scenarios.feeder import Feeder, load_ieee33
from scenarios.loader import _read_profiles, _Reader, read_toml, scenario_path
from scenarios.network_source import (
    DEFAULT_GENERATOR_CLASSES,
    PANDAPOWER_PREFIX,
    SIMBENCH_PREFIX,
    NetworkData,
    load_network,
    safe_name,
)
from scenarios.schema import (
    DAY_SELECTIONS,
    VOLTAGE_LIMIT_MODES,
    BisectionSpec,
    DayAheadTariffSpec,
    DRAggregate,
    EVStation,
    FeederYear,
    IEEE33Scenario,
    MarketSpec,
    NetworkSpec,
    RenewableKind,
    RenewableSite,
    ScenarioError,
    VoltageLimitMode,
)

#: TOU period types the DA design knows (SPEC §5.3, TOU-1 orders valley <= flat <= peak).
PERIOD_TYPES: tuple[str, ...] = ("valley", "flat", "peak")
#: Intraday steps (minutes) that divide an hour.
INTRADAY_STEPS_MIN: tuple[int, ...] = (5, 10, 15, 20, 30, 60)
FEEDERS = {"ieee33": load_ieee33}

_TOP_KEYS = ("kind", "name", "description", "seed", "currency", "intraday_step_min", "network", "profiles", "forecast",
             "tariff", "demand_response", "storage", "intraday", "clusters", "renewables", "ev", "market",
             "behaviours")
#: Agent types a ``[behaviours]`` key may name (the records' ``agent_type``) and the kind of their agents.
BEHAVIOUR_TYPES = {"ClusterAgent": CLUSTER, "TransformerArea": TRANSFORMER_AREA, "EVAgent": EV}
_NETWORK_KEYS = ("source", "feeder", "v_min_pu", "v_max_pu", "v0_pu", "oltc_ldc_pu_per_mw", "voltage_limits",
                 "voltage_penalty_per_pu_h", "load_scale", "s_max_trunk_mva", "s_max_other_mva", "reverse_flow",
                 "feed_in_price", "generator_classes")
_TARIFF_KEYS = ("reference_price", "price_min_factor", "price_max_factor", "revenue_neutral", "lambda_pv",
                "lambda_wt", "lambda_om", "lambda_tran", "lambda_cut", "lambda_tp", "c_ev")
_STORAGE_KEYS = ("capacity_kwh", "p_charge_max_kw", "p_discharge_max_kw", "soc_min_frac", "soc_max_frac",
                 "soc_initial_frac", "eta_charge", "eta_discharge", "self_discharge_per_h")
_INTRADAY_KEYS = ("c_pvu", "eta_pv", "eta_wt", "p_exchange_max_kw", "p_grid_max_kw")

#: ``[ev.fleet]`` fields: FleetSpec's, with their allowed ranges (lo, hi, lo_open, unit).
_FLEET_RANGES: dict[str, tuple[float | None, float | None, bool, str]] = {
    "home_share": (0, 1, False, ""),
    "home_departure_mean_h": (0, 24, False, "h"),
    "home_departure_sd_h": (0, 12, False, "h"),
    "home_return_mean_h": (0, 24, False, "h"),
    "home_return_sd_h": (0, 12, False, "h"),
    "trip_kwh_low": (0, None, False, "kWh"),
    "trip_kwh_high": (0, None, False, "kWh"),
    "work_arrival_mean_h": (0, 24, False, "h"),
    "work_arrival_sd_h": (0, 12, False, "h"),
    "work_departure_mean_h": (0, 24, False, "h"),
    "work_departure_sd_h": (0, 12, False, "h"),
    "soc_arrival_low": (0, 1, False, ""),
    "soc_arrival_high": (0, 1, False, ""),
    "soc_required": (0, 1, False, ""),
    "capacity_kwh": (0, None, True, "kWh"),
    "p_max_kw": (0, None, False, "kW"),
    "p_min_kw": (0, None, False, "kW"),
    "eta": (0, 1, True, ""),
    "soc_min": (0, 1, False, ""),
    "soc_max": (0, 1, False, ""),
    "lambda_ev": (0, None, False, "USD/kWh"),
}


# ------------------------------------------------------------------------------ small readers


def _fail(file: Path, where: str, msg: str) -> ScenarioError:
    return ScenarioError(f"{file}: field '{where}': {msg}")


def _only(r: _Reader, allowed: Iterable[str]) -> None:
    """Reject keys the scenario does not know (typos would otherwise be ignored)."""
    known = tuple(allowed)
    for key in r.table:
        if key not in known:
            raise r.err(key, f"is not a known field here; known fields are {', '.join(known)}")


def _flag(r: _Reader, key: str, default: bool) -> bool:
    if key not in r.table:
        return default
    val = r.table[key]
    if not isinstance(val, bool):
        raise r.err(key, f"must be true or false, got {val!r}")
    return val


def _sub(r: _Reader, key: str, allowed: Iterable[str] | None = None, required: bool = True) -> _Reader:
    """A sub-table (an empty one when optional and absent), with its keys checked against ``allowed``."""
    s = r.sub(key, required=required)
    if s is None:
        s = _Reader(r.file, {}, r._field(key))
    if allowed is not None:
        _only(s, allowed)
    return s


def _tables(r: _Reader, key: str, required: bool = True) -> list[_Reader]:
    """An array of tables ``[[key]]`` as readers named ``key[i]``."""
    raw = r.table.get(key)
    if raw is None:
        if required:
            raise r.err(key, "is missing (an array of tables is required)")
        return []
    if not isinstance(raw, list) or (required and not raw):
        raise r.err(key, "must be a non-empty array of tables")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise r.err(f"{key}[{i}]", f"must be a table, got {item!r}")
        out.append(_Reader(r.file, item, f"{r._field(key)}[{i}]"))
    return out


def _bus_value(file: Path, where: str, val: Any, feeder: Feeder) -> int:
    if isinstance(val, bool) or not isinstance(val, int):
        raise _fail(file, where, f"bus numbers are integers, got {val!r}")
    if val not in feeder.bus_position:
        raise _fail(file, where, f"bus {val} is not in {feeder.buses[0]}..{feeder.buses[-1]} "
                                 f"(the buses of feeder {feeder.name})")
    return int(val)


def _bus(r: _Reader, key: str, feeder: Feeder) -> int:
    if key not in r.table:
        raise r.err(key, f"is missing (a bus number in {feeder.buses[0]}..{feeder.buses[-1]})")
    return _bus_value(r.file, r._field(key), r.table[key], feeder)


def _buses(r: _Reader, key: str, feeder: Feeder) -> tuple[int, ...]:
    val = r.table.get(key)
    if not isinstance(val, list) or not val:
        raise r.err(key, f"must be a non-empty array of bus numbers, got {val!r}")
    out = tuple(_bus_value(r.file, r._field(key), b, feeder) for b in val)
    dup = sorted({b for b in out if out.count(b) > 1})
    if dup:
        raise _fail(r.file, r._field(key), f"bus(es) {dup} listed more than once")
    return out


def _profiles(csv: Path, columns: list[str], toml: Path, key: str, hi: float | None = None,
              unit: str = "") -> pd.DataFrame:
    """``_read_profiles`` over 24 hours, plus an upper bound; errors also say which TOML field named the file."""
    try:
        df = _read_profiles(csv, 24, columns, unit=unit)
    except ScenarioError as exc:
        raise ScenarioError(f"{exc} (file of field '{key}' in {toml})") from exc
    if hi is not None:
        for c in columns:
            over = np.flatnonzero(df[c].to_numpy() > hi)
            if over.size:
                row = int(over[0]) + 1
                raise ScenarioError(f"{csv}: column '{c}' row {row} = {df[c].iloc[row - 1]}: must be in [0, {hi:g}] "
                                    f"(a normalised shape; capacities and peaks live in {toml.name})")
    return df


# ------------------------------------------------------------------------------ the loader


def load_ieee33_scenario(name_or_path: str | Path = "ieee33", edits: Sequence[Edit] = ()) -> IEEE33Scenario:
    """Load the IEEE-33 scenario (SPEC §5) from a bundled name, a folder or a ``.toml`` path.

    ``edits`` (``(path, value)`` pairs, :mod:`scenarios.edits`) change the parsed file before it is validated."""
    file = scenario_path(name_or_path)
    return load_edited(file, read_toml(file), edits, lambda raw: _load_ieee33(file, raw))


def _load_ieee33(file: Path, raw: dict[str, Any]) -> IEEE33Scenario:
    base = file.parent
    r = _Reader(file, raw)
    r.text("kind", choices=("ieee33",))
    name = r.text("name")
    seed = int(r.num("seed", lo=0, integer=True))
    currency = r.text("currency", default="USD", choices=("USD",))
    step_min = int(r.num("intraday_step_min", default=15, integer=True, lo=1, hi=60, unit="min"))
    if step_min not in INTRADAY_STEPS_MIN:
        raise r.err("intraday_step_min", f"= {step_min}: must divide an hour: one of "
                                         f"{', '.join(map(str, INTRADAY_STEPS_MIN))}")
    intraday = Horizon(24 * 60 // step_min, step_min / 60.0)

    net_raw = r.table.get("network")
    net_keys = [k for k in _NETWORK_KEYS if not (isinstance(net_raw, dict) and (
        (k == "feeder" and "source" in net_raw) or (k == "source" and "feeder" in net_raw)
        or (k == "generator_classes" and str(net_raw.get("source", net_raw.get("feeder", "ieee33"))) in FEEDERS)))]
    network, feeder, nd = _network(_sub(r, "network", net_keys), base)
    has_year = nd is not None and nd.year is not None
    if nd is not None and "renewables" in r.table:
        raise r.err("renewables", f"is derived from the network's static generators ({len(nd.generators)} in "
                                  f"{nd.source}); remove the [[renewables]] tables")
    if not has_year and "forecast" in r.table:
        raise r.err("forecast", "(error_scale) applies to a network with a year of profiles (SimBench) only; the "
                                "weather model's forecast is its most probable scenario")
    _only(r, [k for k in _TOP_KEYS
              if not ((k == "renewables" and nd is not None) or (k == "forecast" and not has_year))])
    if has_year and step_min != 15:
        raise r.err("intraday_step_min", f"= {step_min}: the network's profiles are 15-minute values; use 15")

    # ---- profiles: TOU partition and upstream prices, load shape (renewable shapes after the sites); a network
    # with a year of profiles takes its loads and generation from them (the shapes are not read)
    pr_raw = r.table.get("profiles")
    if has_year and isinstance(pr_raw, dict):
        for key in ("load_shape", "forecast"):
            if key in pr_raw:
                raise _fail(file, f"profiles.{key}", f"is not used: {nd.source if nd else ''} brings its own year of "
                                                      "profiles (remove the field)")
    if not has_year and isinstance(pr_raw, dict) and "days" in pr_raw:
        raise _fail(file, "profiles.days", "applies to a network with a year of profiles (SimBench) only")
    pr = _sub(r, "profiles", ("tou", "days") if has_year else ("load_shape", "forecast", "tou"))
    tou_file = base / pr.text("tou")
    tou = _profiles(tou_file, ["upstream_price"], file, "profiles.tou", unit="USD/kWh")
    partition, upstream = _tou(tou_file, tou)
    if has_year:
        assert nd is not None and nd.year is not None
        total = nd.year.load_p_kw.sum(axis=1).reshape(-1, 24, nd.year.load_p_kw.shape[0] // nd.year.n_days // 24)
        mean_day = total.mean(axis=(0, 2))
        load_shape = mean_day / mean_day.max()
        days = cast(Any, pr.text("days", default="random", choices=DAY_SELECTIONS))
    else:
        days = "random"
        shape_file = base / pr.text("load_shape")
        load_shape = _profiles(shape_file, ["load"], file, "profiles.load_shape",
                               hi=1.0)["load"].to_numpy(dtype=float)
        if load_shape.max() <= 0:
            raise ScenarioError(f"{shape_file}: column 'load' is all zero")
    fc_r = _sub(r, "forecast", ("error_scale",), required=False)
    error_scale = fc_r.num("error_scale", default=1.0, lo=0, hi=10)

    tariff = _tariff(_sub(r, "tariff", _TARIFF_KEYS), partition, upstream)

    # ---- demand response (elasticities, split, aggregates)
    dr_raw = r.table.get("demand_response")
    if nd is not None and isinstance(dr_raw, dict) and "aggregates" in dr_raw:
        raise _fail(file, "demand_response.aggregates", "are for IEEE-33: on a real network every load bus's "
                                                        "transformer area responds with demand_response.split")
    dr = _sub(r, "demand_response", ("self_elasticity", "cut_elasticity", "intraday_elasticity_scale", "split")
              + (() if nd is not None else ("aggregates",)))
    e_self = _elasticities(dr, "self_elasticity", partition)
    e_cut = _elasticities(dr, "cut_elasticity", partition)
    intraday_scale = dr.num("intraday_elasticity_scale", lo=0, hi=1)
    split = _split(_sub(dr, "split", ("fixed", "shiftable", "curtailable")))

    # ---- clusters: partition of the feeder's buses (listed, or one per feeder of a real network)
    cl_tables, derived = _cluster_tables(r, nd)
    cl_buses: list[tuple[int, ...]] = []
    cl_names: list[str] = []
    owner: dict[int, str] = {}
    leads: dict[str, int] = {}
    for dc in derived:
        cl_names.append(dc.name)
        cl_buses.append(dc.buses)
        leads[dc.name] = dc.leading_bus
        owner.update({b: dc.name for b in dc.buses})
    for c in cl_tables:
        _only(c, ("name", "buses", "leading_bus", "ess"))
        cname = c.text("name")
        if cname in cl_names:
            raise c.err("name", f"= {cname!r}: cluster names must be unique")
        buses = _buses(c, "buses", feeder)
        for b in buses:
            if b in owner:
                raise _fail(file, "clusters", f"bus {b} belongs to {owner[b]} and {cname} "
                                              "(the clusters must partition the feeder's buses)")
            owner[b] = cname
        lead = _bus(c, "leading_bus", feeder)
        if lead not in buses:
            raise c.err("leading_bus", f"= {lead}: must be one of the cluster's buses {list(buses)}")
        cl_names.append(cname)
        cl_buses.append(buses)
        leads[cname] = lead
    missing = [b for b in feeder.buses if b not in owner]
    if missing:
        raise _fail(file, "clusters", f"bus {missing[0]} is in no cluster (missing: {missing}); the clusters "
                                      f"must partition buses {feeder.buses[0]}..{feeder.buses[-1]} of feeder "
                                      f"{feeder.name}")

    def inside(rd: _Reader, key: str) -> int:
        bus = _bus(rd, key, feeder)
        if bus not in owner:  # pragma: no cover - the partition check above makes this unreachable
            raise rd.err(key, f"= {bus}: lies in no cluster")
        return bus

    # ---- renewable sites (forecast = capacity x normalised shape)
    site_rows: list[tuple[RenewableKind, int, float, str]] = []
    seen: dict[int, str] = {}
    sites = generator_sites(nd) if nd is not None else []
    for ds in sites:
        site_rows.append((cast(RenewableKind, ds.kind), ds.bus, ds.capacity_kw, ds.kind))
    for s in _tables(r, "renewables", required=nd is None):
        _only(s, ("kind", "bus", "capacity_kw", "profile"))
        kind = cast(RenewableKind, s.text("kind", choices=("pv", "wind")))
        bus = inside(s, "bus")
        if bus in seen:
            raise s.err("bus", f"= {bus}: bus {bus} already has a {seen[bus]} site (one plant per bus)")
        seen[bus] = kind
        cap = s.num("capacity_kw", lo=0, unit="kW")
        site_rows.append((kind, bus, cap, s.text("profile", default=kind)))
    if has_year:
        assert nd is not None and nd.year is not None
        site_kw = (nd.year_sums("gen_kw", tuple(d.weather_columns for d in sites))
                   + nd.year_sums("gen_kw", tuple(d.fixed_columns for d in sites)))
        mean_days = site_kw.reshape(nd.year.n_days, 24, -1, site_kw.shape[1]).mean(axis=(0, 2))
        renewables = tuple(RenewableSite(kind, bus, cap, prof, np.clip(mean_days[:, k], 0, cap))
                           for k, (kind, bus, cap, prof) in enumerate(site_rows))
    else:
        fc_file = base / pr.text("forecast")
        fc = _profiles(fc_file, sorted({row[3] for row in site_rows}), file, "profiles.forecast", hi=1.0)
        renewables = tuple(RenewableSite(kind, bus, cap, prof, cap * fc[prof].to_numpy(dtype=float))
                           for kind, bus, cap, prof in site_rows)

    # ---- DR aggregates
    aggregates: list[DRAggregate] = []
    for a in _tables(dr, "aggregates", required=False):
        _only(a, ("bus", "peak_kw"))
        bus = inside(a, "bus")
        if any(x.bus == bus for x in aggregates):
            raise a.err("bus", f"= {bus}: bus {bus} already has a DR aggregate")
        peak = a.num("peak_kw", lo=0, unit="kW")
        aggregates.append(DRAggregate(bus, peak, split, peak * load_shape))

    # ---- EV stations and fleet
    ev_raw = r.table.get("ev")
    if nd is None and isinstance(ev_raw, dict) and "station_every" in ev_raw:
        raise _fail(file, "ev.station_every", "places stations on a real network's load buses; IEEE-33 lists them "
                                              "in [[ev.stations]]")
    ev = _sub(r, "ev", ("evs_per_station", "stations", "fleet") + (("station_every",) if nd is not None else ()))
    n_default = int(ev.num("evs_per_station", lo=0, integer=True, unit="vehicles"))
    stations: list[EVStation] = []
    if "station_every" in ev.table:
        assert nd is not None
        every = int(ev.num("station_every", lo=1, integer=True, unit="load buses"))
        stations += [EVStation(b, n_default) for b in station_buses([ld.bus for ld in nd.loads], every)]
    for st in _tables(ev, "stations", required="station_every" not in ev.table):
        _only(st, ("bus", "evs"))
        bus = inside(st, "bus")
        if any(x.bus == bus for x in stations):
            raise st.err("bus", f"= {bus}: bus {bus} already has an EV station")
        stations.append(EVStation(bus, int(st.num("evs", default=n_default, lo=0, integer=True, unit="vehicles"))))
    fleet_spec = _fleet_spec(_sub(ev, "fleet", required=False), tariff.c_ev)

    market = _market(_sub(r, "market", ("kappa", "exchange_efficiency", "bisection", "verify_standalone", "audit")))

    # ---- clusters' parameter objects
    st_r = _sub(r, "storage", _STORAGE_KEYS)
    intr = _sub(r, "intraday", _INTRADAY_KEYS)
    common: dict[str, Any] = dict(
        upstream_prices=dict(upstream), partition=partition, lambda_om=tariff.lambda_om,
        c_pvu=intr.num("c_pvu", lo=0, unit="USD/kWh"), eta_pv=intr.num("eta_pv", lo=0, unit="USD/kWh"),
        eta_wt=intr.num("eta_wt", lo=0, unit="USD/kWh"),
        p_exchange_max_kw=intr.num("p_exchange_max_kw", lo=0, unit="kW"),
        p_grid_max_kw=intr.num("p_grid_max_kw", lo=0, lo_open=True, unit="kW"),
        allow_sale=network.reverse_flow, feed_in_price=network.feed_in_price,
    )
    clusters: list[ClusterParams] = []
    empty = _Reader(file, {}, "clusters")
    readers = cl_tables if cl_tables else [empty] * len(cl_names)  # derived clusters take [storage] as it is
    for c, cname, buses in zip(readers, cl_names, cl_buses, strict=True):
        ess = _battery(st_r, _sub(c, "ess", _STORAGE_KEYS, required=False))
        pv = {s.bus: s.capacity_kw for s in renewables if s.kind == "pv" and s.bus in buses and s.capacity_kw > 0}
        wt = {s.bus: s.capacity_kw for s in renewables if s.kind == "wind" and s.bus in buses and s.capacity_kw > 0}
        try:
            clusters.append(ClusterParams(name=cname, buses=tuple(sorted(buses)), leading_bus=leads[cname],
                                          pv_sites=pv, wind_sites=wt, ess=ess, **common))
        except ValueError as exc:
            raise _fail(file, c.where, str(exc)) from exc

    # ---- one transformer area per load bus (own load, DR aggregate, EV station)
    dr_kw: dict[str, Any] = dict(partition=partition, tariff=tariff, e_self=e_self, e_cut=e_cut,
                                 intraday_scale=intraday_scale, split=split)
    if nd is None:
        tas = _transformer_areas(file, feeder, network, load_shape, aggregates, stations, **dr_kw)
        year = None
    else:
        tas, year = _network_areas(file, nd, network, load_shape, stations, sites, days, error_scale, **dr_kw)

    behaviours = read_behaviours(file, raw.get("behaviours"), behaviour_agents(clusters, tas, stations),
                                 BEHAVIOUR_TYPES)

    return IEEE33Scenario(
        name=name,
        description=r.text("description", default=""),
        seed=seed,
        network=network,
        feeder=feeder,
        clusters=tuple(clusters),
        transformer_areas=tas,
        dr_aggregates=tuple(aggregates),
        renewables=renewables,
        ev_stations=tuple(stations),
        fleet_spec=fleet_spec,
        market=market,
        tariff=tariff,
        load_shape=load_shape,
        intraday_horizon=intraday,
        currency=currency,
        source=file,
        behaviours=behaviours,
        year=year,
    )


def behaviour_agents(clusters: Sequence[ClusterParams], tas: Sequence[TransformerAreaParams],
                     stations: Sequence[EVStation]) -> dict[str, str]:
    """The agents a ``[behaviours]`` key may name and their kinds: clusters, transformer areas and EV stations
    (``EV<bus>``: every vehicle of the station; the vehicles themselves are drawn per run)."""
    out = {c.name: CLUSTER for c in clusters}
    out.update({ta.name: TRANSFORMER_AREA for ta in tas})
    out.update({f"EV{st.bus}": EV for st in stations})
    return out


# ------------------------------------------------------------------------------ sections


def _network(n: _Reader, folder: Path) -> tuple[NetworkSpec, Feeder, NetworkData | None]:
    """``[network]``: the source (``source``, or the older ``feeder``) and the limits; the feeder and, for a real
    network, what the scenario derives its agents from (:mod:`scenarios.network_source`)."""
    if "source" in n.table and "feeder" in n.table:
        raise n.err("feeder", "is the older name of network.source; give only source")
    key = "source" if "source" in n.table else "feeder"
    feeder_name = n.text(key, default="ieee33")
    nd: NetworkData | None = None
    if feeder_name in FEEDERS:
        if "generator_classes" in n.table:
            raise n.err("generator_classes", "applies to a SimBench or pandapower network only")
    elif feeder_name.startswith((SIMBENCH_PREFIX, PANDAPOWER_PREFIX)):
        classes = _generator_classes(n) if "generator_classes" in n.table else DEFAULT_GENERATOR_CLASSES
        try:
            nd = load_network(feeder_name, folder, classes)
        except ScenarioError as exc:
            raise _fail(n.file, n._field(key), str(exc)) from exc
    else:
        raise n.err(key, f"= {feeder_name!r}: must be 'ieee33', 'simbench:<grid code>' (e.g. "
                         "'simbench:1-MV-rural--0-sw') or 'pandapower:<file>.json' (relative to the scenario folder)")
    v_min = n.num("v_min_pu", default=0.93, lo=0.5, hi=1.0, unit="p.u.")
    v_max = n.num("v_max_pu", default=1.07, lo=1.0, hi=1.5, unit="p.u.")
    if not v_min < v_max:
        raise n.err("v_max_pu", f"= {v_max}: must be above v_min_pu = {v_min}")
    v0 = n.num("v0_pu", default=1.0, lo=v_min, hi=v_max, unit="p.u. (within [v_min_pu, v_max_pu])")
    ldc = n.num("oltc_ldc_pu_per_mw", default=0.0, lo=0, hi=0.05,
                unit="p.u. per MW of substation net demand (0 = fixed set-point; 0.05 = +50 % at 10 MW)")
    mode = cast(VoltageLimitMode, n.text("voltage_limits", default="soft", choices=VOLTAGE_LIMIT_MODES))
    penalty = n.num("voltage_penalty_per_pu_h", default=1000.0, lo=0, lo_open=mode == "soft",
                    unit="USD per p.u. per hour" + (" (soft limits need a positive price)" if mode == "soft" else ""))
    reverse = _flag(n, "reverse_flow", False)
    spec = NetworkSpec(
        feeder=feeder_name, v_min_pu=v_min, v_max_pu=v_max, v0_pu=v0, oltc_ldc_pu_per_mw=ldc, voltage_limits=mode,
        voltage_penalty_per_pu_h=penalty,
        load_scale=n.num("load_scale", default=1.0, lo=0, lo_open=True, hi=10),
        s_max_trunk_mva=n.num("s_max_trunk_mva", default=6.0, lo=0, lo_open=True, unit="MVA"),
        s_max_other_mva=n.num("s_max_other_mva", default=4.0, lo=0, lo_open=True, unit="MVA"),
        reverse_flow=reverse,
        feed_in_price=n.num("feed_in_price", default=0.0, lo=0, unit="USD/kWh"),
    )
    return spec, (FEEDERS[feeder_name]() if nd is None else nd.feeder), nd


def _generator_classes(n: _Reader) -> tuple[tuple[str, Any], ...]:
    """``network.generator_classes``: static-generator type prefix -> ``pv`` or ``wind`` (ahead of the defaults)."""
    raw = n.table["generator_classes"]
    if not isinstance(raw, dict) or not raw:
        raise n.err("generator_classes", "must be a table of type prefix = 'pv' or 'wind', e.g. { CHP = 'wind' }")
    out = []
    for prefix, cls in raw.items():
        if cls not in ("pv", "wind"):
            raise _fail(n.file, f"{n._field('generator_classes')}.{prefix}", f"= {cls!r}: must be 'pv' or 'wind'")
        out.append((str(prefix), cls))
    return tuple(out) + DEFAULT_GENERATOR_CLASSES


def _tou(file: Path, df: pd.DataFrame) -> tuple[tuple[str, ...], dict[str, float]]:
    if "period" not in df.columns:
        raise ScenarioError(f"{file}: column 'period' missing; columns are {list(df.columns)}")
    partition = tuple(str(p) for p in df["period"])
    prices: dict[str, float] = {}
    first: dict[str, int] = {}
    for h, (label, price) in enumerate(zip(partition, df["upstream_price"], strict=True), start=1):
        if label not in PERIOD_TYPES:
            raise ScenarioError(f"{file}: column 'period' hour {h} = {label!r}: must be one of "
                                f"{', '.join(PERIOD_TYPES)}")
        if not price > 0:
            raise ScenarioError(f"{file}: column 'upstream_price' hour {h} = {price}: must be > 0 USD/kWh")
        if label in prices and abs(prices[label] - price) > 1e-12:
            raise ScenarioError(f"{file}: column 'upstream_price' hour {h} = {price} differs from {prices[label]} "
                                f"at hour {first[label]} of the same period type {label!r}: the upstream price "
                                "is one value per period type")
        prices.setdefault(label, float(price))
        first.setdefault(label, h)
    return partition, prices


def _tariff(t: _Reader, partition: tuple[str, ...], upstream: dict[str, float]) -> DayAheadTariffSpec:
    lo_f = t.num("price_min_factor", lo=0, lo_open=True, hi=1)
    hi_f = t.num("price_max_factor", lo=1)
    usd = "USD/kWh"
    return DayAheadTariffSpec(
        partition=partition,
        upstream_prices=MappingProxyType(dict(upstream)),
        reference_price=t.num("reference_price", lo=0, lo_open=True, unit=usd),
        price_min_factor=lo_f,
        price_max_factor=hi_f,
        revenue_neutral=_flag(t, "revenue_neutral", True),
        lambda_pv=t.num("lambda_pv", lo=0, unit=usd),
        lambda_wt=t.num("lambda_wt", lo=0, unit=usd),
        lambda_om=t.num("lambda_om", lo=0, unit=usd),
        lambda_tran=t.num("lambda_tran", lo=0, unit=usd),
        lambda_cut=t.num("lambda_cut", lo=0, unit=usd),
        lambda_tp=t.num("lambda_tp", default=0.0, lo=0, unit="USD/kW"),
        c_ev=t.num("c_ev", lo=0, unit=usd),
    )


def _elasticities(dr: _Reader, key: str, partition: tuple[str, ...]) -> dict[str, float]:
    e = _sub(dr, key, PERIOD_TYPES)
    return {label: e.num(label, hi=0, lo=-5) for label in PERIOD_TYPES if label in partition or label in e.table}


def _split(s: _Reader) -> tuple[float, float, float]:
    parts = (s.num("fixed", lo=0, hi=1), s.num("shiftable", lo=0, hi=1), s.num("curtailable", lo=0, hi=1))
    if abs(sum(parts) - 1) > 1e-9:
        raise _fail(s.file, s.where, f"fixed + shiftable + curtailable = {sum(parts):g}, must be 1")
    return parts


def _battery(common: _Reader, override: _Reader) -> BatteryParams:
    def num(key: str, **kw: Any) -> float:
        rd = override if key in override.table else common
        return rd.num(key, **kw)

    frac: dict[str, Any] = dict(lo=0, hi=1)
    e = BatteryParams(
        capacity_kwh=num("capacity_kwh", lo=0, unit="kWh"),
        p_charge_max_kw=num("p_charge_max_kw", lo=0, unit="kW"),
        p_discharge_max_kw=num("p_discharge_max_kw", lo=0, unit="kW"),
        soc_min_frac=num("soc_min_frac", **frac),
        soc_max_frac=num("soc_max_frac", **frac),
        soc_initial_frac=num("soc_initial_frac", **frac),
        eta_charge=num("eta_charge", lo=0, lo_open=True, hi=1),
        eta_discharge=num("eta_discharge", lo=0, lo_open=True, hi=1),
        self_discharge_per_h=num("self_discharge_per_h", default=0.0, lo=0, hi=1, unit="per h"),
        cost_per_kwh=0.0,  # the cluster charges tariff.lambda_om per kWh of throughput
    )
    if not e.soc_min_frac <= e.soc_initial_frac <= e.soc_max_frac:
        rd = override if "soc_initial_frac" in override.table else common
        raise rd.err("soc_initial_frac", f"= {e.soc_initial_frac}: must lie in [soc_min_frac, soc_max_frac] = "
                                         f"[{e.soc_min_frac}, {e.soc_max_frac}]")
    return e


def _fleet_spec(f: _Reader, c_ev: float) -> FleetSpec:
    allowed = [fl.name for fl in fields(FleetSpec) if fl.name != "c_ev"]
    if "c_ev" in f.table:
        raise f.err("c_ev", "is set once, as tariff.c_ev (EV-6 degradation cost and the DA C_ev)")
    _only(f, allowed)
    defaults = FleetSpec()
    kw: dict[str, Any] = {"c_ev": c_ev}
    for name in allowed:
        if name == "v2g":
            kw[name] = _flag(f, name, defaults.v2g)
            continue
        lo, hi, lo_open, unit = _FLEET_RANGES[name]
        kw[name] = f.num(name, default=getattr(defaults, name), lo=lo, hi=hi, lo_open=lo_open, unit=unit)
    checks = (
        ("soc_max", kw["soc_min"] < kw["soc_max"], f"must be above soc_min = {kw['soc_min']}"),
        ("soc_required", kw["soc_min"] <= kw["soc_required"] <= kw["soc_max"], "must lie in [soc_min, soc_max]"),
        ("soc_arrival_low", kw["soc_min"] <= kw["soc_arrival_low"] <= kw["soc_arrival_high"] <= kw["soc_max"],
         "need soc_min <= soc_arrival_low <= soc_arrival_high <= soc_max"),
        ("trip_kwh_high", kw["trip_kwh_low"] <= kw["trip_kwh_high"], f"must be >= trip_kwh_low = {kw['trip_kwh_low']}"),
        ("p_min_kw", kw["p_min_kw"] <= kw["p_max_kw"], f"must be <= p_max_kw = {kw['p_max_kw']}"),
    )
    for key, ok, msg in checks:
        if not ok:
            raise f.err(key, f"= {kw[key]}: {msg}")
    try:
        return FleetSpec(**kw)
    except ValueError as exc:  # pragma: no cover - the checks above cover FleetSpec's own
        raise ScenarioError(f"{f.file}: field '{f.where}': {exc}") from exc


def _market(m: _Reader) -> MarketSpec:
    b = _sub(m, "bisection", ("p0", "p_min", "p_max", "xi", "max_iter", "tol_z_kw", "upstream_supply",
                                      "curtail_surplus"))
    usd = "USD/kWh"
    p_min = b.num("p_min", lo=0, lo_open=True, unit=usd)
    p_max = b.num("p_max", lo=p_min, lo_open=True, unit=f"{usd} (above p_min)")
    bis = BisectionSpec(
        p0=b.num("p0", lo=p_min, hi=p_max, unit=f"{usd} (within [p_min, p_max])"),
        p_min=p_min,
        p_max=p_max,
        xi=b.num("xi", lo=0, lo_open=True, hi=1),
        max_iter=int(b.num("max_iter", lo=1, hi=10_000, integer=True)),
        tol_z_kw=b.num("tol_z_kw", lo=0, unit="kW"),
        upstream_supply=_flag(b, "upstream_supply", True),
        curtail_surplus=_flag(b, "curtail_surplus", True),
    )
    return MarketSpec(kappa=m.num("kappa", lo=0, hi=1, hi_open=True),
                      exchange_efficiency=m.num("exchange_efficiency", default=1.0, lo=0, lo_open=True, hi=1),
                      bisection=bis, verify_standalone=_flag(m, "verify_standalone", False),
                      audit=_flag(m, "audit", False))


def _transformer_areas(
    file: Path, feeder: Feeder, network: NetworkSpec, load_shape: np.ndarray, aggregates: list[DRAggregate],
    stations: list[EVStation], *, partition: tuple[str, ...], tariff: DayAheadTariffSpec, e_self: dict[str, float],
    e_cut: dict[str, float], intraday_scale: float, split: tuple[float, float, float],
) -> tuple[TransformerAreaParams, ...]:
    """One TA per bus with base load, a DR aggregate or an EV station (SPEC §5.1), in bus order.

    Own load = feeder base load × ``load_scale`` × ``l_h``; reactive load at the bus's base Q/P
    ratio.  A bus without base load (bus 1, the substation) takes the feeder's overall Q/P ratio
    for its DR aggregate `[proposed]` (2300/3715 for IEEE-33).
    """
    dr_at = {a.bus: a for a in aggregates}
    ev_buses = {s.bus for s in stations}
    ratio = feeder.q_to_p_ratio
    overall = float(feeder.q_load_kvar.sum() / feeder.p_load_kw.sum()) if feeder.p_load_kw.sum() > 0 else 0.0
    out = []
    for bus in feeder.buses:
        k = feeder.bus_position[bus]
        p0 = network.load_scale * float(feeder.p_load_kw[k])
        if p0 <= 0 and bus not in dr_at and bus not in ev_buses:
            continue
        kw: dict[str, Any] = dict(
            partition=partition, dt_h=24.0 / len(partition), self_elasticity=e_self, cut_elasticity=e_cut,
            intraday_elasticity_scale=intraday_scale, cost_shift_per_kwh=tariff.lambda_tran,
            cost_cut_per_kwh=tariff.lambda_cut, q_per_p=float(ratio[k]) if p0 > 0 else overall,
            reference_price=tariff.reference_price, ev_station=bus in ev_buses,
        )
        own = p0 * load_shape
        try:
            if bus in dr_at:
                out.append(TransformerAreaParams.with_dr_aggregate(f"TA{bus}", bus, own, dr_at[bus].load_kw,
                                                                   split=split, **kw))
            else:
                zero = np.zeros_like(own)
                out.append(TransformerAreaParams(name=f"TA{bus}", bus=bus, fixed_kw=own, shiftable_kw=zero,
                                                 curtailable_kw=zero, **kw))
        except ValueError as exc:  # pragma: no cover - the fields were validated above
            raise _fail(file, f"transformer area at bus {bus}", str(exc)) from exc
    return tuple(out)


def _cluster_tables(r: _Reader, nd: NetworkData | None) -> tuple[list[_Reader], list[Any]]:
    """``[[clusters]]`` (bus lists), or on a real network ``clusters = { from = "feeders", min_buses = k }``: one
    cluster per feeder leaving the substation busbar (:func:`scenarios.derived_feeder.feeder_clusters`)."""
    raw = r.table.get("clusters")
    if nd is not None and (raw is None or isinstance(raw, dict)):
        c = _sub(r, "clusters", ("from", "min_buses"), required=False)
        c.text("from", default="feeders", choices=("feeders",))
        min_buses = int(c.num("min_buses", default=3, lo=1, integer=True, unit="buses"))
        return [], feeder_clusters(nd, min_buses)
    if isinstance(raw, dict):
        raise r.err("clusters", "= { from = 'feeders' } derives clusters from a real network; IEEE-33 lists them "
                                "as [[clusters]] tables")
    return _tables(r, "clusters"), []


def _network_areas(
    file: Path, nd: NetworkData, network: NetworkSpec, load_shape: np.ndarray, stations: list[EVStation],
    sites: Sequence[Any], days: Any, error_scale: float, *, partition: tuple[str, ...], tariff: DayAheadTariffSpec,
    e_self: dict[str, float], e_cut: dict[str, float], intraday_scale: float, split: tuple[float, float, float],
) -> tuple[tuple[TransformerAreaParams, ...], FeederYear | None]:
    """One transformer area per load bus of a real network (and per EV station bus without load), named after its
    load (``MV1_101_Load_2``; ``TA<bus>`` where the bus has several loads or none), every load split fixed /
    shiftable / curtailable by ``demand_response.split`` and responding with the scenario's elasticities; and the
    year of profiles per area and site (SPEC §9).

    The areas' nominal day (what the persistent models are built on) is the year's mean day of each bus, or the
    base load × the load shape on a network without profiles; the reactive load follows the bus's Q/P ratio (over
    the year, or of the base case)."""
    ev_buses = {st.bus for st in stations}
    loads = {ld.bus: ld for ld in nd.loads}
    buses = sorted(set(loads) | ev_buses)
    yr = nd.year
    columns = tuple(loads[b].columns if b in loads else () for b in buses)
    n_h = len(partition)
    if yr is not None:
        p_year = nd.year_sums("load_p_kw", columns)
        q_year = nd.year_sums("load_q_kvar", columns)
        if network.load_scale != 1.0:
            p_year, q_year = p_year * network.load_scale, q_year * network.load_scale
        nominal = p_year.reshape(yr.n_days, n_h, -1, len(buses)).mean(axis=(0, 2))
        p_sum, q_sum = p_year.sum(axis=0), q_year.sum(axis=0)
    else:
        base = np.array([loads[b].p_kw if b in loads else 0.0 for b in buses]) * network.load_scale
        nominal = load_shape[:, None] * base[None, :]
        p_sum = base
        q_sum = np.array([loads[b].q_kvar if b in loads else 0.0 for b in buses]) * network.load_scale
    overall = float(q_sum.sum() / p_sum.sum()) if p_sum.sum() > 0 else 0.0
    out = []
    for k, bus in enumerate(buses):
        ld = loads.get(bus)
        name = safe_name(ld.name) if ld is not None and len(ld.columns) == 1 else f"TA{bus}"
        ratio = float(q_sum[k] / p_sum[k]) if p_sum[k] > 0 else overall
        kw: dict[str, Any] = dict(
            partition=partition, dt_h=24.0 / n_h, self_elasticity=e_self, cut_elasticity=e_cut,
            intraday_elasticity_scale=intraday_scale, cost_shift_per_kwh=tariff.lambda_tran,
            cost_cut_per_kwh=tariff.lambda_cut, q_per_p=ratio, reference_price=tariff.reference_price,
            ev_station=bus in ev_buses)
        try:
            own = np.clip(nominal[:, k], 0, None)
            out.append(TransformerAreaParams.with_dr_aggregate(name, bus, np.zeros(n_h), own, split=split, **kw))
        except ValueError as exc:  # pragma: no cover - the fields were validated above
            raise _fail(file, f"transformer area at bus {bus}", str(exc)) from exc
    names = [ta.name for ta in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise _fail(file, "network.source", f"loads named {dup} sit on several buses: transformer areas need "
                                            "unique names")
    year = None
    if yr is not None:
        year = FeederYear(load_p_kw=p_year, load_q_kvar=q_year,
                          site_weather_kw=nd.year_sums("gen_kw", tuple(d.weather_columns for d in sites)),
                          site_fixed_kw=nd.year_sums("gen_kw", tuple(d.fixed_columns for d in sites)),
                          split=split, day_selection=days, error_scale=error_scale, calendar_year=yr.year)
    return tuple(out), year


# ------------------------------------------------------------------------------ fleets


def fleet(
    scenario: IEEE33Scenario,
    rng_or_seed: int | np.random.SeedSequence | np.random.Generator | None = None,
    horizon: Horizon | None = None,
) -> dict[int, list[EVParams]]:
    """Sample every station's fleet (SPEC §3.7), ``{station bus: [EVParams, ...]}`` in station order.

    Randomness (DESIGN principle 5): one child ``SeedSequence`` per station, spawned in station
    order from ``SeedSequence(seed)``; ``seed`` is ``rng_or_seed`` when it is an int, else the
    scenario's seed.  A station's fleet therefore depends only on the seed and its position, not on
    the other stations' sizes.  A ``SeedSequence`` or ``Generator`` argument is spawned from (which
    advances its spawn counter, as numpy does): pass e.g. ``SeedSequence(seed).spawn(n_days)[d]``
    to draw day ``d``'s fleets alone.  ``horizon`` defaults to the scenario's intraday grid.
    """
    n = len(scenario.ev_stations)
    if rng_or_seed is None or isinstance(rng_or_seed, int | np.integer):
        seed = scenario.seed if rng_or_seed is None else int(rng_or_seed)
        if isinstance(rng_or_seed, bool) or seed < 0:
            raise ValueError(f"fleet: seed must be an integer >= 0, got {rng_or_seed!r}")
        gens = [np.random.default_rng(c) for c in np.random.SeedSequence(seed).spawn(n)]
    elif isinstance(rng_or_seed, np.random.SeedSequence):
        gens = [np.random.default_rng(c) for c in rng_or_seed.spawn(n)]
    elif isinstance(rng_or_seed, np.random.Generator):
        gens = rng_or_seed.spawn(n)
    else:
        raise TypeError(f"fleet: rng_or_seed must be an int, a SeedSequence, a Generator or None, "
                        f"got {type(rng_or_seed).__name__}")
    hz = horizon or scenario.intraday_horizon
    return {st.bus: sample_fleet(st.n_evs, g, hz, station=st.bus, spec=scenario.fleet_spec)
            for st, g in zip(scenario.ev_stations, gens, strict=True)}

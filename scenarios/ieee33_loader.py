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
from scenarios.edits import Edit, load_edited
from scenarios.feeder import Feeder, load_ieee33
from scenarios.loader import _read_profiles, _Reader, read_toml, scenario_path
from scenarios.schema import (
    VOLTAGE_LIMIT_MODES,
    BisectionSpec,
    DayAheadTariffSpec,
    DRAggregate,
    EVStation,
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

_TOP_KEYS = ("kind", "name", "description", "seed", "currency", "intraday_step_min", "network", "profiles",
             "tariff", "demand_response", "storage", "intraday", "clusters", "renewables", "ev", "market",
             "behaviours")
#: Agent types a ``[behaviours]`` key may name (the records' ``agent_type``) and the kind of their agents.
BEHAVIOUR_TYPES = {"ClusterAgent": CLUSTER, "TransformerArea": TRANSFORMER_AREA, "EVAgent": EV}
_NETWORK_KEYS = ("feeder", "v_min_pu", "v_max_pu", "v0_pu", "oltc_ldc_pu_per_mw", "voltage_limits",
                 "voltage_penalty_per_pu_h", "load_scale", "s_max_trunk_mva", "s_max_other_mva", "reverse_flow",
                 "feed_in_price")
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
    _only(r, _TOP_KEYS)
    name = r.text("name")
    seed = int(r.num("seed", lo=0, integer=True))
    currency = r.text("currency", default="USD", choices=("USD",))
    step_min = int(r.num("intraday_step_min", default=15, integer=True, lo=1, hi=60, unit="min"))
    if step_min not in INTRADAY_STEPS_MIN:
        raise r.err("intraday_step_min", f"= {step_min}: must divide an hour: one of "
                                         f"{', '.join(map(str, INTRADAY_STEPS_MIN))}")
    intraday = Horizon(24 * 60 // step_min, step_min / 60.0)

    network, feeder = _network(_sub(r, "network", _NETWORK_KEYS))

    # ---- profiles: TOU partition and upstream prices, load shape (renewable shapes after the sites)
    pr = _sub(r, "profiles", ("load_shape", "forecast", "tou"))
    tou_file = base / pr.text("tou")
    tou = _profiles(tou_file, ["upstream_price"], file, "profiles.tou", unit="USD/kWh")
    partition, upstream = _tou(tou_file, tou)
    shape_file = base / pr.text("load_shape")
    load_shape = _profiles(shape_file, ["load"], file, "profiles.load_shape", hi=1.0)["load"].to_numpy(dtype=float)
    if load_shape.max() <= 0:
        raise ScenarioError(f"{shape_file}: column 'load' is all zero")

    tariff = _tariff(_sub(r, "tariff", _TARIFF_KEYS), partition, upstream)

    # ---- demand response (elasticities, split, aggregates)
    dr = _sub(r, "demand_response", ("self_elasticity", "cut_elasticity", "intraday_elasticity_scale", "split",
                                     "aggregates"))
    e_self = _elasticities(dr, "self_elasticity", partition)
    e_cut = _elasticities(dr, "cut_elasticity", partition)
    intraday_scale = dr.num("intraday_elasticity_scale", lo=0, hi=1)
    split = _split(_sub(dr, "split", ("fixed", "shiftable", "curtailable")))

    # ---- clusters: partition of the feeder's buses
    cl_tables = _tables(r, "clusters")
    cl_buses: list[tuple[int, ...]] = []
    cl_names: list[str] = []
    owner: dict[int, str] = {}
    leads: dict[str, int] = {}
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
    for s in _tables(r, "renewables"):
        _only(s, ("kind", "bus", "capacity_kw", "profile"))
        kind = cast(RenewableKind, s.text("kind", choices=("pv", "wind")))
        bus = inside(s, "bus")
        if bus in seen:
            raise s.err("bus", f"= {bus}: bus {bus} already has a {seen[bus]} site (one plant per bus)")
        seen[bus] = kind
        cap = s.num("capacity_kw", lo=0, unit="kW")
        site_rows.append((kind, bus, cap, s.text("profile", default=kind)))
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
    ev = _sub(r, "ev", ("evs_per_station", "stations", "fleet"))
    n_default = int(ev.num("evs_per_station", lo=0, integer=True, unit="vehicles"))
    stations: list[EVStation] = []
    for st in _tables(ev, "stations"):
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
    for c, cname, buses in zip(cl_tables, cl_names, cl_buses, strict=True):
        ess = _battery(st_r, _sub(c, "ess", _STORAGE_KEYS, required=False))
        pv = {s.bus: s.capacity_kw for s in renewables if s.kind == "pv" and s.bus in buses and s.capacity_kw > 0}
        wt = {s.bus: s.capacity_kw for s in renewables if s.kind == "wind" and s.bus in buses and s.capacity_kw > 0}
        try:
            clusters.append(ClusterParams(name=cname, buses=tuple(sorted(buses)), leading_bus=leads[cname],
                                          pv_sites=pv, wind_sites=wt, ess=ess, **common))
        except ValueError as exc:
            raise _fail(file, c.where, str(exc)) from exc

    # ---- one transformer area per load bus (own load, DR aggregate, EV station)
    tas = _transformer_areas(file, feeder, network, load_shape, aggregates, stations, partition, tariff,
                             e_self, e_cut, intraday_scale, split)

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


def _network(n: _Reader) -> tuple[NetworkSpec, Feeder]:
    feeder_name = n.text("feeder", default="ieee33", choices=tuple(FEEDERS))
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
    return spec, FEEDERS[feeder_name]()


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
    stations: list[EVStation], partition: tuple[str, ...], tariff: DayAheadTariffSpec, e_self: dict[str, float],
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

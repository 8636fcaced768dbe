"""Results of one IEEE-33 day: the network check of every scheme's dispatch, its KPI row and long-format time series.

Every scheme's dispatch is checked on the network after the fact: the per-bus injections (TA
loads, EV net charging, storage net charging at the leading bus, dispatched PV and wind) go through
LinDistFlow (:func:`sim.network.lindistflow.lindistflow`) and pandapower's AC power flow, period by period,
with the substation at the tap changer's voltage ``V_0,t = clip(V_0 + k P^sub_t, v_min, v_max)``
(:meth:`scenarios.schema.NetworkSpec.substation_voltage`, ``P^sub_t`` the feeder's net demand).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from scenarios.schema import IEEE33Scenario
from sim.network.lindistflow import ac_power_flow_series, compare_with_ac, lindistflow
from sim.systems.ieee33.modes import MODES
from sim.systems.ieee33.schemes import SchemeResult

SCHEME_COLUMNS: tuple[str, ...] = (
    "scheme", "total_cost", "grid_cost", "curtailment_penalty", "storage_cost", "ev_cost", "interaction_cost",
    "curtailment_kwh", "curtailment_rate", "peak_valley_kw", "vmin_pu", "vmax_pu", "vmin_ac_pu",
    "bisection_iterations", "max_excess_demand_kw", "solve_seconds",
    "pv_use_cost", "dr_cost", "ev_bill", "grid_kwh", "exchange_kwh", "renewable_available_kwh",
    "voltage_violation_pu_h", "max_ldf_ac_error_pu", "ac_losses_kwh", "gap_to_oracle_pct", "spill_penalty",
    "spill_kwh", "prices_uncleared", "v0_max_pu",
)
PRICE_COLUMNS: tuple[str, ...] = ("kind", "iteration", "period", "hour", "price", "excess_demand_kw", "lo", "hi")
TIMESERIES_COLUMNS: tuple[str, ...] = ("scheme", "period", "bus", "entity", "variable", "value", "unit")
CLUSTER_VARIABLES: tuple[tuple[str, str], ...] = (
    ("pv_kw", "kW"), ("pv_available_kw", "kW"), ("wind_kw", "kW"), ("wind_available_kw", "kW"),
    ("curtailment_kw", "kW"), ("ess_charge_kw", "kW"), ("ess_discharge_kw", "kW"), ("soc_kwh", "kWh"),
    ("grid_buy_kw", "kW"), ("p_in_kw", "kW"), ("p_out_kw", "kW"), ("ta_load_kw", "kW"), ("ev_net_kw", "kW"),
    ("load_kw", "kW"), ("spill_kw", "kW"),
)


# ------------------------------------------------------------------------------ network check


@dataclass
class NetworkCheck:
    """Per-bus injections of one scheme's dispatch and their LinDistFlow / AC voltages.

    Arrays ``(n_periods, n_buses)`` in feeder bus order; ``ac_losses_kw`` and ``v0_pu`` (the substation's
    voltage, set by its tap changer) per period.
    """

    p_load_kw: np.ndarray
    p_gen_kw: np.ndarray
    q_load_kvar: np.ndarray
    v_pu: np.ndarray
    v_ac_pu: np.ndarray
    p_sub_kw: np.ndarray
    ac_losses_kw: np.ndarray
    max_error_pu: float
    max_error_bus: int
    max_error_period: int | None
    v0_pu: np.ndarray | None = None
    #: seconds of the AC power flow of the day's periods (a timing, not a result)
    ac_seconds: float = 0.0


def bus_injections(scenario: IEEE33Scenario, res: SchemeResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(p_load, p_gen, q_load)`` per period and bus of a scheme's dispatch (kW, kvar).

    ``p_load`` = TA load after the response + EV net charging (station bus) + storage net charging
    (the cluster's leading bus); ``p_gen`` = dispatched PV and wind; ``q_load`` = the TAs' reactive
    load (EVs, storage and DERs at unity power factor, SPEC §5.1).
    """
    f = scenario.feeder
    pos = f.bus_position
    n = res.prices.size
    pl = np.zeros((n, f.n_buses))
    pg = np.zeros((n, f.n_buses))
    ql = np.zeros((n, f.n_buses))
    for bus, load in res.ta_load_kw.items():
        pl[:, pos[bus]] += load
        ql[:, pos[bus]] += res.ta_q_kvar[bus]
    net = res.ev_charge_kw - res.ev_discharge_kw
    for j, bus in enumerate(res.ev_stations):
        pl[:, pos[bus]] += net[j]
    for c in scenario.clusters:
        prof = res.clusters[c.name].profiles
        pl[:, pos[c.leading_bus]] += prof["ess_charge_kw"] - prof["ess_discharge_kw"]
        for b in c.pv_sites:
            pg[:, pos[b]] += prof[f"pv{b}_kw"]
        for b in c.wind_sites:
            pg[:, pos[b]] += prof[f"wind{b}_kw"]
    return pl, pg, ql


def network_check(scenario: IEEE33Scenario, res: SchemeResult) -> NetworkCheck:
    """LinDistFlow and AC voltages of a scheme's dispatch (SPEC §5.2 validation).

    The substation voltage of period ``t`` is the tap changer's ``clip(V_0 + k P^sub_t / 1000, v_min, v_max)``
    with ``P^sub_t = Σ_b (p_load − p_gen)`` (kW, losses not counted), the same rule the DA model uses.
    """
    f = scenario.feeder
    pl, pg, ql = bus_injections(scenario, res)
    v0 = scenario.network.substation_voltage((pl - pg).sum(axis=1))
    ldf = lindistflow(f, pl, ql, pg, v0_pu=v0)
    t0 = time.perf_counter()
    ac = ac_power_flow_series(f, pl, ql, pg, v0_pu=v0)
    ac_s = time.perf_counter() - t0
    cmp = compare_with_ac(ldf.v_pu, ac.v_pu, f)
    return NetworkCheck(pl, pg, ql, ldf.v_pu, ac.v_pu, ldf.p_sub_kw, ac.losses_kw, cmp.max_abs_error_pu, cmp.bus,
                        cmp.period, v0, ac_s)


def check_balance(res: SchemeResult, net: NetworkCheck, tol_kw: float = 1e-5) -> float:
    """Largest |Σ_b (p_load − p_gen) − Σ_n (P^gb − P^gs)| over periods (kW); raises above ``tol_kw``.

    The inter-cluster exchange nets out (CL-2 with η^x = 1), so the feeder's net demand must equal
    what the clusters buy upstream; a mismatch means a plan does not serve its load.
    """
    grid = sum((s.profiles["grid_buy_kw"] - s.profiles["grid_sell_kw"] for s in res.clusters.values()),
               np.zeros(net.p_sub_kw.size))
    worst = float(np.max(np.abs(net.p_sub_kw - grid)))
    scale = max(1.0, float(np.max(np.abs(grid))))
    if worst > tol_kw * scale:
        k = int(np.argmax(np.abs(net.p_sub_kw - grid)))
        raise RuntimeError(f"scheme {res.name}: feeder net demand differs from the clusters' grid purchase by "
                           f"{worst:.6g} kW in period {k + 1}")
    return worst


# ------------------------------------------------------------------------------ tables


def scheme_row(scenario: IEEE33Scenario, res: SchemeResult, net: NetworkCheck) -> dict[str, Any]:
    dt = scenario.intraday_horizon.dt_h
    cc = res.cluster_costs
    prof = [s.profiles for s in res.clusters.values()]
    avail = float(sum((p["pv_available_kw"] + p["wind_available_kw"]).sum() for p in prof) * dt)
    curtail = float(sum(s.curtailment_kwh for s in res.clusters.values()))
    total_load = net.p_load_kw.sum(axis=1)
    vmin, vmax = scenario.network.v_min_pu, scenario.network.v_max_pu
    # AC voltages outside [v_min, v_max] (p.u.·h), every bus but the root (its voltage is the tap changer's)
    root = scenario.feeder.bus_position[scenario.feeder.root]
    v_ac = np.delete(net.v_ac_pu, root, axis=1)
    viol = float(np.nansum(np.clip(vmin - v_ac, 0, None) + np.clip(v_ac - vmax, 0, None)) * dt)
    tr = res.trace
    return {
        "scheme": res.name,
        "total_cost": res.total_cost,
        "grid_cost": cc["grid"],
        "curtailment_penalty": cc["curtailment"],
        "storage_cost": cc["storage"],
        "ev_cost": res.ev_cost,
        "interaction_cost": res.interaction_cost,
        "curtailment_kwh": curtail,
        "curtailment_rate": curtail / avail if avail > 0 else math.nan,
        "peak_valley_kw": float(total_load.max() - total_load.min()),
        "vmin_pu": float(net.v_pu.min()),
        "vmax_pu": float(net.v_pu.max()),
        "vmin_ac_pu": float(np.nanmin(net.v_ac_pu)),
        "bisection_iterations": tr.iterations if tr is not None else math.nan,
        "max_excess_demand_kw": float(np.abs(res.excess_demand_kw).max()) if res.excess_demand_kw is not None
        else math.nan,
        "solve_seconds": res.solve_seconds,
        "pv_use_cost": cc["pv_use"],
        "dr_cost": res.dr_cost,
        "ev_bill": res.ev_bill,
        "grid_kwh": float(sum(p["grid_buy_kw"].sum() for p in prof) * dt),
        "exchange_kwh": float(sum(p["p_out_kw"].sum() for p in prof) * dt),
        "renewable_available_kwh": avail,
        "voltage_violation_pu_h": float(viol),
        "max_ldf_ac_error_pu": net.max_error_pu,
        "ac_losses_kwh": float(np.nansum(net.ac_losses_kw) * dt),
        "gap_to_oracle_pct": math.nan,
        "spill_penalty": cc["spill"],
        "spill_kwh": float(sum(p["spill_kw"].sum() for p in prof) * dt),
        # rolling-price periods that neither cleared nor were absorbed by the upstream supply (SPEC §6.7)
        "prices_uncleared": float(len(tr.uncleared_periods)) if tr is not None and tr.status else math.nan,
        "v0_max_pu": float(np.max(net.v0_pu)) if net.v0_pu is not None else scenario.network.v0_pu,
    }


def schemes_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One row per scheme; ``gap_to_oracle_pct`` against the full-information mode's total when it ran."""
    df = pd.DataFrame(list(rows), columns=list(SCHEME_COLUMNS))
    reference = next((name for name, mode in MODES.items() if mode.full_information), None)
    if reference is not None and reference in set(df["scheme"]):
        best = float(df.loc[df["scheme"] == reference, "total_cost"].iloc[0])
        df["gap_to_oracle_pct"] = 100.0 * (df["total_cost"] - best) / max(abs(best), 1e-9)
    return df


def prices_frame(da_prices: np.ndarray, res: SchemeResult | None, dt_h: float) -> pd.DataFrame:
    parts = [pd.DataFrame({"kind": "day_ahead", "iteration": 0, "period": np.arange(1, da_prices.size + 1),
                           "hour": np.arange(da_prices.size, dtype=float) * (24.0 / da_prices.size),
                           "price": da_prices, "excess_demand_kw": np.nan, "lo": np.nan, "hi": np.nan})]
    if res is not None and res.trace is not None:
        n = res.prices.size
        z = res.excess_demand_kw if res.excess_demand_kw is not None else np.full(n, np.nan)
        parts.append(pd.DataFrame({"kind": "rolling", "iteration": 0, "period": np.arange(1, n + 1),
                                   "hour": np.arange(n) * dt_h, "price": res.prices, "excess_demand_kw": z,
                                   "lo": np.nan, "hi": np.nan}))
        it = res.trace.to_frame()
        it.insert(0, "kind", "bisection")
        it["hour"] = (it["period"] - 1) * dt_h
        parts.append(it[list(PRICE_COLUMNS)])
    return pd.concat(parts, ignore_index=True)[list(PRICE_COLUMNS)]


def voltage_violation_pu(scenario: IEEE33Scenario, v_ac_pu: np.ndarray) -> np.ndarray:
    """``(periods, buses)``: how far each bus's AC voltage lies outside ``[v_min_pu, v_max_pu]`` (0 inside; p.u.);
    the root is 0 (its voltage is the tap changer's set-point)."""
    net = scenario.network
    viol = np.clip(net.v_min_pu - v_ac_pu, 0, None) + np.clip(v_ac_pu - net.v_max_pu, 0, None)
    viol[:, scenario.feeder.bus_position[scenario.feeder.root]] = 0.0
    return np.nan_to_num(viol)


def timeseries_frame(scenario: IEEE33Scenario, results: dict[str, SchemeResult],
                     nets: dict[str, NetworkCheck], tou_prices: np.ndarray | None = None) -> pd.DataFrame:
    """The schemes' day in long format (:data:`TIMESERIES_COLUMNS`): per bus the injections and the LinDistFlow
    and AC voltages (and ``v_violation_pu`` where the AC voltage leaves the band), per cluster its balance, per
    EV its net power and SOC, for the system the rolling price, the substation power, the load, the AC losses,
    the substation voltage and, given ``tou_prices`` (USD/kWh per period), the day-ahead TOU price ``tou_price``."""
    f = scenario.feeder
    buses = np.array(f.buses)
    frames: list[pd.DataFrame] = []
    for name, res in results.items():
        net = nets[name]
        n = res.prices.size
        periods = np.arange(1, n + 1)
        for var, arr, unit in (("p_load_kw", net.p_load_kw, "kW"), ("p_gen_kw", net.p_gen_kw, "kW"),
                               ("q_load_kvar", net.q_load_kvar, "kvar"), ("v_pu", net.v_pu, "pu"),
                               ("v_ac_pu", net.v_ac_pu, "pu")):
            frames.append(pd.DataFrame({"scheme": name, "period": np.repeat(periods, buses.size),
                                        "bus": np.tile(buses, n), "entity": "bus", "variable": var,
                                        "value": arr.ravel(), "unit": unit}))
        viol = voltage_violation_pu(scenario, net.v_ac_pu)
        k, j = np.nonzero(viol > 0)  # only where the AC voltage leaves the band: per bus and quarter-hour
        if k.size:
            frames.append(pd.DataFrame({"scheme": name, "period": periods[k], "bus": buses[j], "entity": "bus",
                                        "variable": "v_violation_pu", "value": viol[k, j], "unit": "pu"}))
        ev_net = res.ev_charge_kw - res.ev_discharge_kw
        for c in scenario.clusters:
            sol = res.clusters[c.name]
            p = dict(sol.profiles)
            p["curtailment_kw"] = p["pv_available_kw"] - p["pv_kw"] + p["wind_available_kw"] - p["wind_kw"]
            p["ta_load_kw"] = sum((res.ta_load_kw[b] for b in c.buses if b in res.ta_load_kw), np.zeros(n))
            mask = np.array([b in c.buses for b in res.ev_stations], dtype=bool)
            p["ev_net_kw"] = ev_net[mask].sum(axis=0) if mask.any() else np.zeros(n)
            for var, unit in CLUSTER_VARIABLES:
                frames.append(pd.DataFrame({"scheme": name, "period": periods, "bus": c.leading_bus,
                                            "entity": c.name, "variable": var, "value": p[var], "unit": unit}))
        if res.ev_names:
            m = len(res.ev_names)
            for var, arr, unit in (("ev_net_kw", ev_net, "kW"), ("ev_soc_frac", res.ev_soc_frac, "1")):
                frames.append(pd.DataFrame({"scheme": name, "period": np.tile(periods, m),
                                            "bus": np.repeat(np.array(res.ev_stations), n),
                                            "entity": np.repeat(np.array(res.ev_names, dtype=object), n),
                                            "variable": var, "value": arr.ravel(), "unit": unit}))
        for var, arr, unit in (("price", res.prices, "USD/kWh"), ("p_sub_kw", net.p_sub_kw, "kW"),
                               ("total_load_kw", net.p_load_kw.sum(axis=1), "kW"),
                               ("ac_losses_kw", net.ac_losses_kw, "kW"),
                               ("v0_pu", net.v0_pu if net.v0_pu is not None
                                else np.full(n, scenario.network.v0_pu), "pu")):
            frames.append(pd.DataFrame({"scheme": name, "period": periods, "bus": int(f.root), "entity": "system",
                                        "variable": var, "value": arr, "unit": unit}))
        if tou_prices is not None:
            frames.append(pd.DataFrame({"scheme": name, "period": periods, "bus": int(f.root), "entity": "system",
                                        "variable": "tou_price", "value": tou_prices, "unit": "USD/kWh"}))
    df = pd.concat(frames, ignore_index=True)[list(TIMESERIES_COLUMNS)]
    for col in ("scheme", "entity", "variable", "unit"):
        df[col] = df[col].astype("category")
    df["period"] = df["period"].astype("int16")
    df["bus"] = df["bus"].astype("int16")
    return df


# ------------------------------------------------------------------------------ the study

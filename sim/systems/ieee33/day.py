"""The IEEE-33 day of the multi-day simulator (paper 004's feeder; SPEC §6.1, §6.2, §6.6).

A *run* is one (mode, replication seed, sweep point) over ``days`` consecutive days.  Each day:

1. **Information** (:func:`sim.weather.model.forecast_and_realisation`): Monte Carlo wind and PV days
   fitted to real TMY3 data, reduced to a few scenarios; the day-ahead forecast is the most probable
   one, the realised day an independent draw refined to 15 minutes; the load shape gets seeded noise
   (its hourly realisation is known day-ahead, only renewables are uncertain here).  The EV fleet is
   drawn once per run from the run's seed (the same commuters every day).
2. **State** carried from the previous day: each cluster's storage starts at the energy the previous
   day left (ESS-4 becomes a window: the day must end at or above the scenario's nominal start), and
   every home EV, plugged in overnight, starts the day with the SOC it had at midnight and must end the
   day at or above it and where tomorrow's departure stays reachable (:func:`agents.ev.carried_end_min`).  The first day
   has no history: home EVs use the cyclic EV-4' there.  Demand response conserves energy within a
   day (the transformer areas' shift; DR0-3 on the campuses), so no DR balance carries over midnight.
3. **Day-ahead and intraday** (:class:`sim.systems.ieee33.schemes.DistributionModel`): the DA TOU design,
   then the mode's scheme over the 96 quarter-hours, stepped by :class:`sim.engine.model.SimulationModel`:
   ``oracle`` replay (as in the papers): one intraday optimisation with the realised day; ``mpc``
   replay (:meth:`~sim.systems.ieee33.schemes.DistributionModel.scheme_steps`, :mod:`sim.engine.mpc`): the rolling
   prices are cleared on the forecast before the day, then every quarter-hour the clusters re-solve
   the rest of the day with the renewables realised so far and the forecast after, and execute one
   quarter-hour.  The ``oracle`` mode is full-information in both replays (the lower bound).
4. **Network check and KPIs**: LinDistFlow and AC voltages, costs, curtailment, peak–valley, the
   per-cluster gains of the bargaining.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from agents.ev import carried_end_min
from agents.milp import SolverOptions
from scenarios.ieee33_loader import fleet as sample_fleets
from scenarios.schema import IEEE33Scenario
from sim.engine.spec import RunSpec, SimSettings
from sim.engine.state import CarryState
from sim.engine.system import DayOutcome, DaySteps, drain
from sim.systems.ieee33.modes import IEEE33Mode, modes_of
from sim.systems.ieee33.results import network_check, scheme_row, timeseries_frame
from sim.systems.ieee33.schemes import DayData, DistributionModel, SchemeResult
from sim.weather.model import WeatherModel, forecast_and_realisation, loads_of_ieee33, sites_of_ieee33, weather_for

#: KPI columns (besides the identifiers) taken from the study's scheme row; timings excluded.
KPI_COLUMNS: tuple[str, ...] = (
    "total_cost", "grid_cost", "curtailment_penalty", "storage_cost", "ev_cost", "pv_use_cost", "dr_cost",
    "interaction_cost", "ev_bill", "curtailment_kwh", "curtailment_rate", "renewable_available_kwh", "grid_kwh",
    "exchange_kwh", "peak_valley_kw", "vmin_pu", "vmax_pu", "vmin_ac_pu", "voltage_violation_pu_h",
    "max_ldf_ac_error_pu", "ac_losses_kwh", "bisection_iterations", "max_excess_demand_kw", "spill_penalty",
    "spill_kwh",
)
#: Spawn key of the run's EV fleet under the run's seed (days use keys 0, 1, ...; the weather its own key).
FLEET_SPAWN_KEY = 1 << 20

def carry_fleets(fleets: Mapping[int, list[Any]], state: CarryState, horizon: Any) -> dict[int, list[Any]]:
    """The run's fleet for one day: every home EV with a SOC in ``state`` starts the day from it (still
    plugged in since last night) and must end the day at or above that SOC and where tomorrow's
    departure stays reachable."""
    out: dict[int, list[Any]] = {}
    for bus, evs in fleets.items():
        day = []
        for p in evs:
            if p.kind == "home" and p.name in state.ev_soc:
                start = min(max(state.ev_soc[p.name], p.soc_min), p.soc_max)
                # no borrowing from tomorrow: the day ends with at least the energy it started with (and
                # never below what tomorrow's departure needs); without it a day-by-day optimiser sells the
                # cars' energy at tonight's peak and leaves tomorrow to buy it back
                p = replace(p, soc_start=start, soc_end_min=max(start, carried_end_min(p, horizon)))
            day.append(p)
        out[bus] = day
    return out


def day_scenario(sc: IEEE33Scenario, load_factor: np.ndarray, state: CarryState) -> IEEE33Scenario:
    """The scenario of one day: TA profiles × the day's hourly load factor; storage starting from ``state``.

    The storage must end the day at or above the scenario's nominal start (and at most its maximum):
    ESS-4 as a window (:class:`agents.devices.storage.BatteryParams`), so energy can be carried over.
    """
    tas = tuple(replace(ta, fixed_kw=ta.fixed_kw * load_factor, shiftable_kw=ta.shiftable_kw * load_factor,
                        curtailable_kw=ta.curtailable_kw * load_factor) for ta in sc.transformer_areas)
    clusters = []
    for c in sc.clusters:
        e = c.ess
        cap = e.capacity_kwh
        start = e.soc_initial_frac
        if c.name in state.ess_kwh and cap > 0:
            start = min(max(state.ess_kwh[c.name] / cap, e.soc_min_frac), e.soc_max_frac)
        nominal = e.soc_initial_frac if e.soc_end_min_frac is None else e.soc_end_min_frac
        ess = replace(e, soc_initial_frac=start, soc_end_min_frac=nominal, soc_end_max_frac=e.soc_max_frac)
        clusters.append(replace(c, ess=ess))
    return replace(sc, transformer_areas=tas, clusters=tuple(clusters))


def weather_model(sc: IEEE33Scenario, settings: SimSettings) -> WeatherModel:
    return weather_for(sites_of_ieee33(sc), settings.station)


def simulate_day(sc: IEEE33Scenario, run: RunSpec, settings: SimSettings, d: int, state: CarryState,
                 weather: WeatherModel | None = None) -> DayOutcome:
    """Day ``d`` (0-based) of ``run`` starting from ``state`` (SPEC §6.6), run to its end."""
    return drain(simulate_day_steps(sc, run, settings, d, state, weather))


def simulate_day_steps(sc: IEEE33Scenario, run: RunSpec, settings: SimSettings, d: int, state: CarryState,
                       weather: WeatherModel | None = None, mode: IEEE33Mode | None = None) -> DaySteps:
    """Day ``d`` (0-based) of ``run`` from ``state``, stepped by quarter-hours (``settings.replay``).

    Yields ``k`` once quarter-hour ``k`` is executed (:meth:`DistributionModel.scheme_steps`), returns
    the :class:`DayOutcome`.
    """
    t0 = time.perf_counter()
    wm = weather or weather_model(sc, settings)
    doy = (settings.start_day_of_year - 1 + d) % 365 + 1
    dw = forecast_and_realisation(wm, run.seed, d, day_of_year=doy, n_mc=settings.n_mc,
                                  n_scenarios=settings.n_scenarios, loads=loads_of_ieee33(sc))
    shape = np.asarray(sc.load_shape, dtype=float)
    realised_load = np.asarray(dw.load_realised["load_shape"], dtype=float)
    steps = realised_load.size // shape.size
    hourly = realised_load.reshape(shape.size, steps).mean(axis=1)
    factor = np.where(shape > 0, hourly / np.where(shape > 0, shape, 1.0), 1.0)
    sc_d = day_scenario(sc, factor, state)
    day_seq = np.random.SeedSequence(run.seed).spawn(d + 1)[d]
    # one fleet per run (the same commuters every day), drawn from the run's seed; home EVs carry their SOC
    fleet_seq = np.random.SeedSequence(run.seed, spawn_key=(FLEET_SPAWN_KEY,))
    fleets = carry_fleets(sample_fleets(sc_d, fleet_seq), state, sc_d.intraday_horizon)
    day = DayData(seed=int(day_seq.generate_state(1)[0]), forecast_kw=dw.forecast_by_site(),
                  realized_kw=dw.realised_by_site(), fleets=fleets)
    t_data = time.perf_counter()
    model = DistributionModel(sc_d, day, options=SolverOptions(time_limit_s=settings.time_limit_s),
                              replay=settings.replay)
    res = yield from model.scheme_steps(mode if mode is not None else modes_of([run.mode])[0])
    t_solve = time.perf_counter()
    net = network_check(sc_d, res)
    row = scheme_row(sc_d, res, net)
    kpis: dict[str, Any] = {"run": run.name, "mode": run.mode, "seed": run.seed, "point": run.point, "day": d + 1,
                            "day_of_year": doy}
    kpis.update({k: row[k] for k in KPI_COLUMNS})
    kpis["da_curtailment_kwh"] = float(model.da.curtailment_kwh)
    kpis["mpc_solves"] = int(res.info.get("mpc_solves", 0))
    kpis.update(_cluster_kpis(res))
    for cp in sc_d.clusters:
        kpis[f"ess_start_kwh_{cp.name}"] = float(cp.ess.capacity_kwh * cp.ess.soc_initial_frac)
    home = [j for j, p in enumerate(model.ev_params) if p.kind == "home"]
    end = CarryState({name: float(sol.profiles["soc_kwh"][-1]) for name, sol in res.clusters.items()},
                     {res.ev_names[j]: float(res.ev_soc_frac[j, -1]) for j in home})
    if home:
        kpis["ev_home_soc_start_mean"] = float(np.mean([p.soc_start if p.carried else np.nan
                                                        for p in (model.ev_params[j] for j in home)]))
        kpis["ev_home_soc_end_mean"] = float(np.mean(res.ev_soc_frac[home, -1]))
    for name, v in end.ess_kwh.items():
        kpis[f"ess_end_kwh_{name}"] = v
    ts = timeseries_frame(sc_d, {run.mode: res}, {run.mode: net})
    ts = ts.astype({"scheme": str})
    ts.insert(0, "day", np.int16(d + 1))
    ts.insert(1, "run", run.name)
    ts = ts.rename(columns={"scheme": "mode"})
    t_end = time.perf_counter()
    return DayOutcome(kpis, ts, end, {"data_s": t_data - t0, "solve_s": t_solve - t_data,
                                      "mpc_s": float(res.info.get("mpc_seconds", 0.0)),
                                      "check_s": t_end - t_solve, "total_s": t_end - t0})


def _cluster_kpis(res: SchemeResult) -> dict[str, float]:
    """Per-cluster cost after settlement and gain against standing alone (when a bargaining took place)."""
    out: dict[str, float] = {}
    if res.allocation is not None:
        a = res.allocation
        for i, c in enumerate(a.participants):
            out[f"final_cost_{c}"] = float(a.final_cost[i])
            out[f"gain_{c}"] = float(a.gain[i])
            out[f"payment_{c}"] = float(a.payment[i])
            out[f"weight_{c}"] = float(a.weight[i])
    else:
        for c, s in res.clusters.items():
            out[f"final_cost_{c}"] = float(s.cost)
    return out

"""The IEEE-33 day of the multi-day simulator (paper 004's feeder; SPEC §6.1, §6.2, §6.6).

A *run* is one (mode, replication seed, sweep point) over ``days`` consecutive days.  Each day:

1. **Information** (:func:`sim.weather.model.forecast_and_realisation`): Monte Carlo wind and PV days
   fitted to real TMY3 data, reduced to a few scenarios; the day-ahead forecast is the most probable
   one, the realised day an independent draw refined to 15 minutes; the load shape gets seeded noise
   (its hourly realisation is known day-ahead, only renewables are uncertain here).  The EV fleet is
   drawn once per run from the run's seed (the same commuters every day).
2. **State** carried from the previous day, held by the agents themselves: each cluster agent's storage
   energy at midnight (:attr:`agents.cluster.ClusterAgent.ess_kwh`) is the day's start (ESS-4 becomes a
   window: the day must end at or above the scenario's nominal start), and every home EV agent, plugged
   in overnight, starts the day with the SOC it had at midnight (:attr:`agents.ev.EVAgent.soc_midnight`)
   and must end the day at or above it and where tomorrow's departure stays reachable
   (:func:`agents.ev.carried_end_min`).  The first day has no history: home EVs use the cyclic EV-4'
   there.  Demand response conserves energy within a day (the transformer areas' shift; DR0-3 on the
   campuses), so no DR balance carries over midnight.
3. **Day-ahead and intraday** (:class:`sim.systems.ieee33.schemes.DistributionModel`, built once per run
   with every persistent model, :func:`build_coordinator`; a day only writes its data into them,
   :meth:`~sim.systems.ieee33.schemes.DistributionModel.new_day`): the DA TOU design,
   then the mode's scheme over the 96 quarter-hours, stepped by :class:`sim.engine.model.SimulationModel`:
   ``oracle`` replay (as in the papers): one intraday optimisation with the realised day; ``mpc``
   replay (:meth:`~sim.systems.ieee33.schemes.DistributionModel.scheme_steps`, :mod:`sim.engine.mpc`): the rolling
   prices are cleared on the forecast before the day, then every quarter-hour the clusters re-solve
   the rest of the day with the renewables realised so far and the forecast after, and execute one
   quarter-hour.  The ``oracle`` mode is full-information in both replays (the lower bound).
4. **Network check, KPIs and per-agent records** (:func:`agent_rows`): LinDistFlow and AC voltages,
   costs, curtailment, peak–valley, the per-cluster gains of the bargaining; one record per cluster,
   transformer area and EV station (and vehicle, on request).

Timings (``seconds``, never in ``kpis.csv``): ``setup_s`` is everything before the day's first solve
(drawing the day's information, writing it into the agents and the persistent models), ``data_s`` the
drawing alone, ``solve_s`` the schemes (of which ``da_s`` the DA TOU design, ``market_s`` the rolling-price
bisection and ``mpc_s`` the receding-horizon loop), ``check_s`` the network check and records (of which ``ac_s``
the AC power flow), ``total_s`` the day.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import mesa
import numpy as np
import pandas as pd

from agents.ev import carried_end_min
from agents.milp import SolverOptions
from scenarios.ieee33_loader import fleet as sample_fleets
from scenarios.schema import IEEE33Scenario
from sim.engine.mpc import held
from sim.engine.records import agent_records
from sim.engine.spec import RunSpec, SimSettings
from sim.engine.system import DayOutcome, DaySteps, drain
from sim.systems.ieee33 import behaviours
from sim.systems.ieee33.modes import IEEE33Mode, modes_of
from sim.systems.ieee33.results import network_check, scheme_row, timeseries_frame, voltage_violation_pu
from sim.systems.ieee33.schemes import DayData, DistributionModel, SchemeResult
from sim.systems.ieee33.year_days import (
    day_index,
    weather_day_of_year,
    year_day_loads,
    year_day_renewables,
    year_day_scenario,
)
from sim.weather.model import WeatherModel, forecast_and_realisation, loads_of_ieee33, sites_of_ieee33, weather_for

log = logging.getLogger(__name__)

#: KPI columns (besides the identifiers) taken from the study's scheme row; timings excluded.
KPI_COLUMNS: tuple[str, ...] = (
    "total_cost", "grid_cost", "curtailment_penalty", "storage_cost", "ev_cost", "pv_use_cost", "dr_cost",
    "interaction_cost", "ev_bill", "curtailment_kwh", "curtailment_rate", "renewable_available_kwh", "grid_kwh",
    "exchange_kwh", "peak_valley_kw", "vmin_pu", "vmax_pu", "vmin_ac_pu", "voltage_violation_pu_h",
    "max_ldf_ac_error_pu", "ac_losses_kwh", "bisection_iterations", "max_excess_demand_kw", "spill_penalty",
    "spill_kwh", "prices_uncleared", "v0_max_pu",
)
#: Spawn key of the run's EV fleet under the run's seed (days use keys 0, 1, ...; the weather its own key).
FLEET_SPAWN_KEY = 1 << 20


def carry_fleets(fleets: Mapping[int, list[Any]], ev_soc: Mapping[str, float], horizon: Any) -> dict[int, list[Any]]:
    """The run's fleet for one day: every home EV with a SOC in ``ev_soc`` (its SOC at the previous midnight)
    starts the day from it (still plugged in since last night) and must end the day at or above that SOC and
    where tomorrow's departure stays reachable."""
    out: dict[int, list[Any]] = {}
    for bus, evs in fleets.items():
        day = []
        for p in evs:
            if p.kind == "home" and p.name in ev_soc:
                start = min(max(ev_soc[p.name], p.soc_min), p.soc_max)
                # no borrowing from tomorrow: the day ends with at least the energy it started with (and
                # never below what tomorrow's departure needs); without it a day-by-day optimiser sells the
                # cars' energy at tonight's peak and leaves tomorrow to buy it back
                p = replace(p, soc_start=start, soc_end_min=max(start, carried_end_min(p, horizon)))
            day.append(p)
        out[bus] = day
    return out


def day_scenario(sc: IEEE33Scenario, load_factor: np.ndarray, ess_kwh: Mapping[str, float]) -> IEEE33Scenario:
    """The scenario of one day: TA profiles × the day's hourly load factor; storage starting from ``ess_kwh``
    (each cluster's energy at the previous midnight; the scenario's start where absent).

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
        if c.name in ess_kwh and cap > 0:
            start = min(max(ess_kwh[c.name] / cap, e.soc_min_frac), e.soc_max_frac)
        nominal = e.soc_initial_frac if e.soc_end_min_frac is None else e.soc_end_min_frac
        ess = replace(e, soc_initial_frac=start, soc_end_min_frac=nominal, soc_end_max_frac=e.soc_max_frac)
        clusters.append(replace(c, ess=ess))
    return replace(sc, transformer_areas=tas, clusters=tuple(clusters))


def weather_model(sc: IEEE33Scenario, settings: SimSettings) -> WeatherModel:
    return weather_for(sites_of_ieee33(sc), settings.station)


def run_fleet(sc: IEEE33Scenario, seed: int) -> dict[int, list[Any]]:
    """The run's EV fleet: drawn once from the run's seed (the same commuters every day)."""
    return sample_fleets(sc, np.random.SeedSequence(seed, spawn_key=(FLEET_SPAWN_KEY,)))


def build_coordinator(sc: IEEE33Scenario, run: RunSpec, settings: SimSettings, model: mesa.Model,
                      mode: IEEE33Mode) -> DistributionModel:
    """The run's coordinator, its agents (registered with ``model``) and the persistent models ``mode`` needs.

    Built once per run on the scenario's nominal day (load factor 1, nominal storage start, the fleet of
    :func:`run_fleet` without history, the forecast held as the realisation); every day then writes its
    own data (:meth:`DistributionModel.new_day`).
    """
    specs = behaviours.check(sc, mode.name, settings.replay)  # a behaviour the run cannot honour fails first
    hz = sc.intraday_horizon
    forecast = {s.name: np.asarray(s.forecast_kw, dtype=float) for s in sc.renewables}
    nominal = DayData(seed=int(run.seed), forecast_kw=forecast,
                      realized_kw={k: held(v, hz.n) for k, v in forecast.items()}, fleets=run_fleet(sc, run.seed))
    shape = np.asarray(sc.load_shape, dtype=float)
    dm = DistributionModel(day_scenario(sc, np.ones(shape.size), {}), nominal,
                           options=SolverOptions(time_limit_s=settings.time_limit_s), replay=settings.replay,
                           model=model, persistent=True)
    dm.build_models(mode)
    behaviours.attach(dm, specs)
    return dm


def simulate_day(sc: IEEE33Scenario, run: RunSpec, settings: SimSettings, d: int,
                 ess_kwh: Mapping[str, float] | None = None, ev_soc: Mapping[str, float] | None = None,
                 weather: WeatherModel | None = None) -> DayOutcome:
    """Day ``d`` (0-based) of ``run`` on a coordinator of its own, its agents starting from ``ess_kwh`` (cluster
    -> storage energy, kWh) and ``ev_soc`` (home EV -> SOC at midnight), run to its end (SPEC §6.6)."""
    mode = modes_of([run.mode])[0]
    dm = build_coordinator(sc, run, settings, mesa.Model(rng=run.seed), mode)
    for c, e in (ess_kwh or {}).items():
        dm.clusters[c].ess_kwh = float(e)
    for a in dm.ev_agents:
        if ev_soc and a.name in ev_soc:
            a.soc_midnight = float(ev_soc[a.name])
    return drain(simulate_day_steps(sc, run, settings, d, dm, weather or weather_model(sc, settings), mode))


def day_information(sc: IEEE33Scenario, run: RunSpec, settings: SimSettings, d: int, wm: WeatherModel,
                    dm: DistributionModel) -> tuple[IEEE33Scenario, DayData, int]:
    """Draw day ``d``'s information and combine it with the state the agents hold: the day's scenario
    (:func:`day_scenario`), its :class:`DayData` (forecast, realisation, the run's fleet carried by
    :func:`carry_fleets`) and the calendar day."""
    ess = {c: a.ess_kwh for c, a in dm.clusters.items() if a.ess_kwh is not None}
    soc = {a.name: a.soc_midnight for a in dm.ev_agents if a.soc_midnight is not None}
    shape = np.asarray(sc.load_shape, dtype=float)
    if sc.year is not None:  # a real feeder's year of profiles (SPEC §9, sim.systems.ieee33.year_days)
        k = day_index(sc.year, run.seed, d, settings.start_day_of_year)
        doy = k + 1
        dw = forecast_and_realisation(wm, run.seed, d, day_of_year=weather_day_of_year(k), n_mc=settings.n_mc,
                                      n_scenarios=settings.n_scenarios)
        forecast, realised = year_day_renewables(sc, sc.year, k, dw)
        sc_d = day_scenario(year_day_scenario(sc, year_day_loads(sc, sc.year, k)), np.ones(shape.size), ess)
    else:
        doy = (settings.start_day_of_year - 1 + d) % 365 + 1
        dw = forecast_and_realisation(wm, run.seed, d, day_of_year=doy, n_mc=settings.n_mc,
                                      n_scenarios=settings.n_scenarios, loads=loads_of_ieee33(sc))
        realised_load = np.asarray(dw.load_realised["load_shape"], dtype=float)
        steps = realised_load.size // shape.size
        hourly = realised_load.reshape(shape.size, steps).mean(axis=1)
        factor = np.where(shape > 0, hourly / np.where(shape > 0, shape, 1.0), 1.0)
        sc_d = day_scenario(sc, factor, ess)
        forecast, realised = dw.forecast_by_site(), dw.realised_by_site()
    day_seq = np.random.SeedSequence(run.seed).spawn(d + 1)[d]
    fleets = carry_fleets(run_fleet(sc_d, run.seed), soc, sc_d.intraday_horizon)
    day = DayData(seed=int(day_seq.generate_state(1)[0]), forecast_kw=forecast, realized_kw=realised, fleets=fleets)
    return sc_d, day, doy


def simulate_day_steps(sc: IEEE33Scenario, run: RunSpec, settings: SimSettings, d: int, dm: DistributionModel,
                       weather: WeatherModel, mode: IEEE33Mode | None = None,
                       per_vehicle: bool = False) -> DaySteps:
    """Day ``d`` (0-based) of ``run`` on the run's coordinator ``dm``, stepped by quarter-hours (``settings.replay``).

    Draws the day's information, writes it into the agents and persistent models, runs the mode's
    scheme (yielding ``k`` once quarter-hour ``k`` is executed, :meth:`DistributionModel.scheme_steps`),
    leaves the day's end state in the agents (storage energy, home EVs' SOC) and returns the
    :class:`DayOutcome` with the KPIs, the time series, the state and the per-agent records
    (:func:`agent_rows`; ``per_vehicle`` adds one record set per vehicle).
    """
    t0 = time.perf_counter()
    mode = mode if mode is not None else modes_of([run.mode])[0]
    sc_d, day, doy = day_information(sc, run, settings, d, weather, dm)
    t_data = time.perf_counter()
    dm.new_day(sc_d, day)
    behaviours.begin_day(dm, d + 1, run.seed)
    t_setup = time.perf_counter()  # the day's first solve (the DA TOU design) starts here
    dm.preview = DayPreview(sc_d, run, d)
    res = yield from dm.scheme_steps(mode)
    t_solve = time.perf_counter()
    net = dm.preview.network(res)
    _report_violations(sc_d, net, run, d)
    row = scheme_row(sc_d, res, net)
    kpis: dict[str, Any] = {"run": run.name, "mode": run.mode, "seed": run.seed, "point": run.point, "day": d + 1,
                            "day_of_year": doy}
    kpis.update({k: row[k] for k in KPI_COLUMNS})
    kpis["da_curtailment_kwh"] = float(dm.da.curtailment_kwh)
    kpis["mpc_solves"] = int(res.info.get("mpc_solves", 0))
    kpis.update(_cluster_kpis(res))
    for cp in sc_d.clusters:
        kpis[f"ess_start_kwh_{cp.name}"] = float(cp.ess.capacity_kwh * cp.ess.soc_initial_frac)
    home = [j for j, p in enumerate(dm.ev_params) if p.kind == "home"]
    if home:
        kpis["ev_home_soc_start_mean"] = float(np.mean([p.soc_start if p.carried else np.nan
                                                        for p in (dm.ev_params[j] for j in home)]))
        kpis["ev_home_soc_end_mean"] = float(np.mean(res.ev_soc_frac[home, -1]))
    rows = agent_rows(dm, res, per_vehicle=per_vehicle)
    behaviours.end_day(dm, res, d + 1)
    # the day's end state, kept by the agents that own it
    for name, sol in res.clusters.items():
        dm.clusters[name].ess_kwh = float(sol.profiles["soc_kwh"][-1])
        kpis[f"ess_end_kwh_{name}"] = dm.clusters[name].ess_kwh
    for j in home:
        dm.ev_agents[j].soc_midnight = float(res.ev_soc_frac[j, -1])
    ts = dm.preview.frame(res, dm.da_prices_intraday)
    dm.preview = None
    t_end = time.perf_counter()
    return DayOutcome(kpis, ts, carried_state(dm), {
        "data_s": t_data - t0, "setup_s": t_setup - t0, "solve_s": t_solve - t_setup,
        "mpc_s": float(res.info.get("mpc_seconds", 0.0)), "da_s": dm.day_ahead_seconds, "market_s": dm.market_seconds,
        "check_s": t_end - t_solve, "ac_s": net.ac_seconds, "total_s": t_end - t0,
    }, agent_records(run.name, run.mode, d + 1, rows))


@dataclass
class DayPreview:
    """The day in progress, for a live view of it (the dashboard: :meth:`IEEE33System.preview`).

    Holds the day's scenario; once the mode's executed plan is known (before the first quarter-hour in the
    ``oracle`` replay: :attr:`DistributionModel.plan`), :meth:`frame` is the time series the day will write
    (network check included), computed once: the day's end reuses it, so a live view costs no second check.
    """

    scenario: IEEE33Scenario
    run: RunSpec
    d: int
    _net: tuple[SchemeResult, Any] | None = None
    _frame: tuple[SchemeResult, pd.DataFrame] | None = None

    def network(self, res: SchemeResult) -> Any:
        """The LinDistFlow and AC check of ``res`` (:func:`network_check`), once per plan."""
        if self._net is None or self._net[0] is not res:
            self._net = (res, network_check(self.scenario, res))
        return self._net[1]

    def frame(self, res: SchemeResult, tou_prices: np.ndarray | None) -> pd.DataFrame:
        """The day's time series of plan ``res`` (:func:`timeseries_frame`, with ``day`` and ``run`` in front and
        ``mode`` for the scheme), with the day-ahead TOU price per quarter-hour when the day has one."""
        if self._frame is not None and self._frame[0] is res:
            return self._frame[1]
        tou = tou_prices if tou_prices is not None and tou_prices.size == res.prices.size else None
        ts = timeseries_frame(self.scenario, {self.run.mode: res}, {self.run.mode: self.network(res)}, tou)
        ts = ts.astype({"scheme": str})
        ts.insert(0, "day", np.int16(self.d + 1))
        ts.insert(1, "run", self.run.name)
        ts = ts.rename(columns={"scheme": "mode"})
        self._frame = (res, ts)
        return ts


def _report_violations(sc: IEEE33Scenario, net: Any, run: RunSpec, d: int) -> None:
    """Log the day's AC voltage violations (how many bus-quarter-hours, the worst bus and time); the time series
    hold each one as ``v_violation_pu`` per bus and quarter-hour."""
    viol = voltage_violation_pu(sc, net.v_ac_pu)
    if not viol.any():
        return
    k, j = np.unravel_index(int(np.argmax(viol)), viol.shape)
    step_h = 24.0 / viol.shape[0]
    hh, mm = divmod(round(float(k) * step_h * 60), 60)
    bus = sc.feeder.buses[j]
    log.warning("run %s day %d: AC voltage outside [%g, %g] p.u. at %d bus-quarter-hours on %d buses; worst: bus %d "
                "(%s) at %02d:%02d, %.4f p.u. (v_violation_pu in the time series)", run.name, d + 1,
                sc.network.v_min_pu, sc.network.v_max_pu, int((viol > 0).sum()), int((viol > 0).any(axis=0).sum()),
                bus, sc.feeder.bus_name(bus), hh, mm, float(net.v_ac_pu[k, j]))


def carried_state(dm: DistributionModel) -> dict[str, Any]:
    """What the agents carry into the next day, as JSON: ``ess_kwh`` (cluster -> kWh), ``ev_soc`` (home EV -> SOC
    at midnight) and, when any behaviour keeps one, ``behaviours`` (agent -> its behaviour's memory); agents
    without history are left out."""
    out: dict[str, Any] = {
        "ess_kwh": {c: float(a.ess_kwh) for c, a in dm.clusters.items() if a.ess_kwh is not None},
        "ev_soc": {a.name: float(a.soc_midnight) for a in dm.ev_agents if a.soc_midnight is not None}}
    mem = behaviours.memories(dm)
    if mem:  # a learner's weights, a leaver's history (SPEC §8): agent state like the storage energy
        out["behaviours"] = mem
    return out


def restore_carried_state(dm: DistributionModel, state: Mapping[str, Any]) -> None:
    """Put :func:`carried_state`'s JSON back into the agents (``--resume``)."""
    ess = {str(k): float(v) for k, v in state.get("ess_kwh", {}).items()}
    soc = {str(k): float(v) for k, v in state.get("ev_soc", {}).items()}
    unknown = sorted(set(ess) - set(dm.clusters)) + sorted(set(soc) - {a.name for a in dm.ev_agents})
    if unknown:
        raise ValueError(f"ieee33 state: unknown clusters or vehicles {unknown[:5]}")
    for c, a in dm.clusters.items():
        a.ess_kwh = ess.get(c)
    for a in dm.ev_agents:
        a.soc_midnight = soc.get(a.name)
    behaviours.restore(dm, state.get("behaviours", {}))


def _cluster_kpis(res: SchemeResult) -> dict[str, float]:
    """Per-cluster cost after settlement and true gain against standing alone (when a bargaining took place)."""
    out: dict[str, float] = {}
    if res.allocation is not None:
        a = res.allocation
        true_c0 = {c: float(s.cost) for c, s in (res.standalone or {}).items()}
        for i, c in enumerate(a.participants):
            # true costs (SPEC §8): the executed plan's cost plus the payment (the coalition's plan, or the standalone
            # one when NB-2 rejected it) and the gain against the true C^0, never against a reported one
            final = float(res.clusters[c].cost + float(a.payment[i]))
            out[f"final_cost_{c}"] = final
            out[f"gain_{c}"] = true_c0[c] - final if c in true_c0 else float(a.gain[i])
            out[f"payment_{c}"] = float(a.payment[i])
            out[f"weight_{c}"] = float(a.weight[i])
        for c, s in res.clusters.items():  # clusters outside today's coalition (SPEC §8 leave): their own plan
            if c not in a.participants:
                out[f"final_cost_{c}"] = float(s.cost)
    else:
        for c, s in res.clusters.items():
            out[f"final_cost_{c}"] = float(s.cost)
    return out


# ------------------------------------------------------------------------------ per-agent records


def cluster_payments(dm: DistributionModel, res: SchemeResult) -> dict[str, float]:
    """What each cluster pays the others (USD; negative: receives), summing to 0 over the clusters.

    Bargaining (scheme 1): the NB-2 payment of the settlement.  Scheme 3: the greedy exchange's
    transfers at the DA price, ``Δt Σ_k π^DA_k (P^in_{n,k} − P^out_{n,k})`` (the standalone plans have
    no exchange, so the exchange is the greedy one; sent = received).  Otherwise 0.
    """
    if res.payments is not None:  # a bargaining day (0 for the clusters outside the coalition)
        return dict(res.payments)
    if res.allocation is not None:
        a = res.allocation
        return {c: float(a.payment[i]) for i, c in enumerate(a.participants)}
    if res.standalone is not None and dm.da_prices_intraday is not None:  # standalone plans + greedy exchange
        dt = dm.horizon.dt_h
        price = dm.da_prices_intraday
        return {c: float(dt * (price @ (s.profiles["p_in_kw"] - s.profiles["p_out_kw"])))
                for c, s in res.clusters.items()}
    return {c: 0.0 for c in res.clusters}


def agent_rows(dm: DistributionModel, res: SchemeResult, per_vehicle: bool = False
               ) -> list[tuple[str, str, str, str, float, str]]:
    """The day's per-agent records ``(agent_id, agent_type, behaviour, variable, value, unit)``.

    The ``behaviour`` column is the agent's behaviour id (SPEC §8; ``truthful`` unless the scenario's
    ``[behaviours]`` says otherwise).

    * ``ClusterAgent``: ``own_cost`` (CL-3 of the executed plan, after
      the scheme and before payments), ``standalone_cost`` (``C^0_n``; NaN when the scheme does not
      compute it), ``payment`` (:func:`cluster_payments`), ``final_cost`` = own cost + payment, ``gain`` =
      standalone − final cost (NaN without ``C^0``), ``energy_bought_kwh``, ``energy_sold_kwh``,
      ``exchange_in_kwh``, ``exchange_out_kwh``, ``curtailment_kwh``, ``storage_start_kwh``,
      ``storage_end_kwh``; the behaviour records of :func:`sim.systems.ieee33.behaviours.cluster_behaviour_rows`
      (``joined``, ``reported_standalone_cost``, offered vs available flexibility, ``param_<name>``) and, on an
      audited day, ``shapley_gain``.
    * ``Coordinator`` ``market`` (``market.audit``): the audit of :func:`sim.systems.ieee33.behaviours.audit_rows`.
    * ``TransformerArea``: ``load_served_kwh`` (EL-4 summed × Δt),
      ``dr_cost`` (004 eq. 17).
    * ``EVStation``: the station's vehicles *aggregated* (one record set per
      station bus, ``agent_id`` ``EV<bus>``; the EV agents themselves are one per vehicle):
      ``charge_kwh``, ``discharge_kwh``, ``own_cost`` (EV-6 at a zero energy price: degradation minus the
      value of stored energy), ``energy_bill`` (at the intraday prices), ``soc_end_mean`` (mean SOC at
      the end of the day, NaN for vehicles away), ``n_vehicles``.
    * ``EVAgent`` (only with ``per_vehicle``): the same per vehicle, ``soc_end`` instead of the mean.
    """
    dt = dm.horizon.dt_h
    rows: list[tuple[str, str, str, str, float, str]] = []
    pay = cluster_payments(dm, res)
    nan = float("nan")
    for c, sol in res.clusters.items():
        p = sol.profiles
        own = float(sol.cost)
        c0 = float(res.standalone[c].cost) if res.standalone is not None and c in res.standalone else nan
        final = own + pay[c]
        e = dm.clusters[c].params.ess
        for var, val, unit in (
            ("own_cost", own, "USD"), ("standalone_cost", c0, "USD"), ("payment", pay[c], "USD"),
            ("final_cost", final, "USD"), ("gain", c0 - final, "USD"),
            ("energy_bought_kwh", dt * float(p["grid_buy_kw"].sum()), "kWh"),
            ("energy_sold_kwh", dt * float(p["grid_sell_kw"].sum()), "kWh"),
            ("exchange_in_kwh", dt * float(p["p_in_kw"].sum()), "kWh"),
            ("exchange_out_kwh", dt * float(p["p_out_kw"].sum()), "kWh"),
            ("curtailment_kwh", float(sol.curtailment_kwh), "kWh"),
            ("storage_start_kwh", float(e.capacity_kwh * e.soc_initial_frac), "kWh"),
            ("storage_end_kwh", float(p["soc_kwh"][-1]), "kWh"),
        ):
            rows.append((c, "ClusterAgent", dm.clusters[c].behaviour.id, var, val, unit))
    rows += [(c, "ClusterAgent", dm.clusters[c].behaviour.id, var, val, unit)
             for c, var, val, unit in behaviours.cluster_behaviour_rows(dm, res)]
    for c, var, val, unit in behaviours.audit_rows(res):
        kind, bid = ("ClusterAgent", dm.clusters[c].behaviour.id) if c in dm.clusters else ("Coordinator", "-")
        rows.append((c, kind, bid, var, val, unit))
    for b, load in res.ta_load_kw.items():
        name = dm.tas[b].name
        bid = dm.tas[b].behaviour.id
        rows.append((name, "TransformerArea", bid, "load_served_kwh", dt * float(load.sum()), "kWh"))
        rows.append((name, "TransformerArea", bid, "dr_cost", float(res.ta_dr_cost.get(b, nan)), "USD"))
    n_ev = len(res.ev_names)
    if n_ev:
        ch, dis, prices = res.ev_charge_kw, res.ev_discharge_kw, res.prices
        params = dm.ev_params
        eta = np.array([p.eta for p in params])[:, None]
        lam = np.array([p.lambda_ev for p in params])[:, None]
        cev = np.array([p.c_ev for p in params])[:, None]
        own_ev = dt * (-lam * (eta * ch - dis / eta) + cev * (ch + dis)).sum(axis=1)
        bill_ev = dt * (prices[None, :] * (ch - dis)).sum(axis=1)
        soc_end = res.ev_soc_frac[:, -1]
        stations = np.asarray(res.ev_stations)
        station_behaviour = {int(a.params.station): a.behaviour.id for a in dm.ev_agents}
        for st in dict.fromkeys(res.ev_stations):
            mask = stations == st
            sid = f"EV{st}"
            valid = soc_end[mask][np.isfinite(soc_end[mask])]
            for var, val, unit in (
                ("charge_kwh", dt * float(ch[mask].sum()), "kWh"),
                ("discharge_kwh", dt * float(dis[mask].sum()), "kWh"),
                ("own_cost", float(own_ev[mask].sum()), "USD"), ("energy_bill", float(bill_ev[mask].sum()), "USD"),
                ("soc_end_mean", float(valid.mean()) if valid.size else nan, "1"),
                ("n_vehicles", float(mask.sum()), "1"),
            ):
                rows.append((sid, "EVStation", station_behaviour[st], var, val, unit))
        if per_vehicle:
            for j, name in enumerate(res.ev_names):
                for var, val, unit in (
                    ("charge_kwh", dt * float(ch[j].sum()), "kWh"), ("discharge_kwh", dt * float(dis[j].sum()), "kWh"),
                    ("own_cost", float(own_ev[j]), "USD"), ("energy_bill", float(bill_ev[j]), "USD"),
                    ("soc_end", float(soc_end[j]), "1"),
                ):
                    rows.append((name, "EVAgent", dm.ev_agents[j].behaviour.id, var, val, unit))
    return rows

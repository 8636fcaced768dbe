"""One simulated day of paper 003's low-carbon hydrogen/ammonia campus (SPEC §3.9–§3.15, §6.5, §6.6).

The low-carbon counterpart of :mod:`sim.systems.rural_ies.day` (same contract: KPIs, a long-format time
series with ``day, run, mode``, the end state and timings; a generator stepped by the Mesa model).  The
campus is one :class:`agents.lowcarbon_campus.LowCarbonCampusAgent`, built once per run with its
persistent models; the configuration is the scenario's ``[simulation] configuration`` (S5, the full
model, by default).

Information (SPEC §6.6 step 1)
------------------------------
From the day seed ``day_seed(seed, d)`` (two children: the realised day, the forecast ensemble), on
the wind model of 003's two farms (:func:`sim.weather.wind_days.wind_model`: the TMY3 wind fit of
Sand Point, one site per farm, correlated latent AR(1) chains), for the calendar day
``doy = (start_day_of_year - 1 + d) mod 365 + 1``:

- *Realised wind day*: one draw of both farms' output for ``doy``; ``u`` (003's uncertain availability)
  is their sum, hour by hour.
- *Forecast*: the hourly mean of ``n_mc`` Monte Carlo draws for ``doy`` (``--mc-days``): the
  climatological forecast on which 003 plans its deterministic scenario S1 ("the hourly sample mean").
- *Data-driven set* (``robust`` method only; SPEC §6.5): the run's wind history (``n_history`` days and
  their ``n_samples`` expansion, :func:`sim.weather.wind_days.wind_day_samples`) is drawn once per run
  from ``SeedSequence(seed, spawn_key=(HISTORY_SPAWN_KEY,))``, the Dirichlet-process mixture fitted in
  its principal components (003 eqs. 7–8), Γ calibrated to ``coverage`` of the samples, and the union
  of ellipsoids' vertex approximation built (003 eq. 9): :func:`fit_wind_set`, in ``build``.

Stages
------
- **DA stage** (first stage ``x``: the thermal units' commitment ``u``, start-ups ``su``, shut-downs
  ``sd`` (TP-1…TP-3) and the declared carbon sale tier (CT-3 reward form)), by ``[simulation] method``:
  ``deterministic`` — the MILP ``min c_x x + Q(x, forecast)`` (003 scenario 1);
  ``robust`` — ``min_x c_x x + max_{u∈U} Q(x, u)`` by C&CG on the persistent engine (RO-1).
  ``oracle`` (the mode) — the MILP on the realised day.
- **Intraday** with ``x`` fixed (the recourse ``Q``, an LP: 003 eq. 10's second stage): ``oracle``
  replay — one solve with the realised wind day (as in the paper's replay); ``mpc`` replay — every hour
  the rest of the day is re-solved with the realised wind of the hours so far and the forecast after,
  and the hour is executed (:mod:`sim.engine.mpc`; 003's model is hourly, so each hour covers four
  15-min Mesa steps, as on rural_ies).  The ``oracle`` mode is full-information in both replays.

Cost (003 eq. 10): ``total_cost`` = the realised day's objective = the sum of 003 Table 1's parts (carbon
trading, sequestration, coal incl. O&M, start-stop, curtailment, gas, DR/EV) and the penalty of the
recourse slacks (shedding, spill, heat shortfall and dump); checked against the solver's objective.
CO2 (SPEC §3.13): emitted (GT, GB, TP) = absorbed + released (CC-2); traded = released − free
allowance (CT-2); the indirect CO2 is the upstream proxy ``upstream_gas_t_per_mwh`` × gas bought.

State (carried over midnight; :class:`agents.lowcarbon_campus.CampusState`): the content of the
electric, heat, H2 and NH3 storages and of the CCUS rich-solvent tank, and each thermal unit's
commitment and output in the last hour.  A store's terminal row is a window
(:func:`agents.lowcarbon_campus.open_end_windows`): an energy store ends at or above its nominal start
and at most at its maximum, the rich-solvent tank at or below its nominal start.  The EV fleet is
cyclic within the day (EV-4').

Persistence: the agent's models are built once per run; each day writes its state into their mutable
Params (right-hand sides), which reach the engine and the dispatch model as deltas (only the row bounds those
Params feed; the plan and the wind as fixed columns), and starts their solvers cold, so a day depends only on
``(scenario, seed, day, state)`` and ``--resume`` gives the same KPIs.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyomo.core as pyo

from agents.behaviours import LOWCARBON_CAMPUS, Behaviour, BehaviourSetupError, assign, make
from agents.decision.robust import RobustResult, UnionSet
from agents.decision.wind_sets import calibrate_gamma, data_driven_set, fit_dpgmm
from agents.lowcarbon_campus import (
    COST_COLUMNS,
    CampusState,
    LowCarbonCampusAgent,
    LowCarbonModel,
    output_in_mw,
)
from agents.milp import SolveStats
from scenarios.lowcarbon_loader import LowCarbonScenario
from sim.engine.mpc import RecedingLoop, receding
from sim.engine.records import agent_records
from sim.engine.spec import RunSpec, SimSettings
from sim.engine.system import STEPS_PER_DAY, DayOutcome, DaySteps, day_seed
from sim.systems.lowcarbon_ies.modes import LowCarbonMode
from sim.weather.model import WeatherModel
from sim.weather.wind_days import WIND_STATION, wind_day_samples, wind_days_of_year, wind_model

#: Spawn key under the run's seed of the run's wind history (samples and mixture fit).
HISTORY_SPAWN_KEY = 1 << 23
STEPS_PER_HOUR = 4
#: Time-series columns, in order.
TIMESERIES_COLUMNS: tuple[str, ...] = ("day", "run", "mode", "period", "entity", "variable", "value", "unit")
#: KPI names of 003 Table 1's parts (and the penalty), from :data:`agents.lowcarbon_campus.COST_COLUMNS`.
COST_KPIS: dict[str, str] = {col: f"{col}_cost" for col in COST_COLUMNS}
#: KPI names of the stores' end content and their units (0 when the configuration has no such store).
STORE_KPIS: dict[str, tuple[str, str]] = {
    "ess": ("ess_end_mwh", "MWh"), "hs": ("hs_end_mwh", "MWh"), "h2s": ("h2s_end_mwh", "MWh"),
    "nh3s": ("nh3_end_t", "t"), "ccus": ("rich_solvent_end_m3", "m3"),
}


# ------------------------------------------------------------------------------ run-level: wind model and set


def lowcarbon_wind_model(sc: LowCarbonScenario, settings: SimSettings) -> WeatherModel:
    """The wind model of the campus's farms (``settings.station``, else 003's wind station)."""
    return wind_model(sc.farm_capacities_mw, station=settings.station or WIND_STATION)


@dataclass(frozen=True)
class WindSet:
    """The run's data-driven wind set (SPEC §6.5) and what it was fitted on."""

    uset: UnionSet
    gamma: float
    n_samples: int
    fit_s: float


def fit_wind_set(sc: LowCarbonScenario, seed: int, settings: SimSettings) -> WindSet:
    """Draw the run's wind history from the run seed, fit the DP mixture and build the vertex union (module
    docstring); called once per run (``System.build``)."""
    t0 = time.perf_counter()
    u, sim = sc.uncertainty, sc.simulation
    s_samples, s_fit = np.random.SeedSequence(seed, spawn_key=(HISTORY_SPAWN_KEY,)).spawn(2)
    samples = wind_day_samples(s_samples, n_history=u.n_history, n_samples=sim.n_samples,
                               capacities_mw=sc.farm_capacities_mw, station=settings.station or WIND_STATION)
    fit = fit_dpgmm(samples.total, s_fit, n_components=sim.n_components,
                    weight_concentration_prior=u.weight_concentration_prior, min_weight=u.min_weight,
                    pca_dim=u.pca_dim or None)
    gamma = calibrate_gamma(fit, samples.total, u.coverage)
    uset = data_driven_set(fit, gamma, u.gamma_b, cap_mw=samples.capacity_total_mw)
    return WindSet(uset, float(gamma), samples.n_samples, time.perf_counter() - t0)


# ------------------------------------------------------------------------------ the day's information


@dataclass(frozen=True)
class WindDay:
    """Day ``d``'s wind: the realised output of each farm and the forecast (``(n_farms, 24)`` MW each)."""

    day_of_year: int
    realised_per_farm: np.ndarray
    forecast_per_farm: np.ndarray
    capacity_mw: float

    @property
    def realised(self) -> np.ndarray:
        """``u``: the aggregate availability of the realised day (MW per hour)."""
        return np.clip(self.realised_per_farm.sum(axis=0), 0.0, self.capacity_mw)

    @property
    def forecast(self) -> np.ndarray:
        return np.clip(self.forecast_per_farm.sum(axis=0), 0.0, self.capacity_mw)


def own_forecast(campus: LowCarbonCampusAgent, info: WindDay) -> np.ndarray:
    """The wind forecast the campus plans on: its behaviour's (:meth:`agents.behaviours.Behaviour.forecast`) from the
    common forecast, the realised day and the farms' capacity; the common one itself for a truthful campus."""
    return campus.behaviour.forecast(info.forecast, info.realised, info.capacity_mw)


def day_information(sc: LowCarbonScenario, wm: WeatherModel, run: RunSpec, settings: SimSettings, d: int) -> WindDay:
    """The realised wind day and the forecast of day ``d`` (0-based) from the day seed (module docstring)."""
    doy = (settings.start_day_of_year - 1 + d) % 365 + 1
    s_real, s_forecast = day_seed(run.seed, d).spawn(2)
    realised = wind_days_of_year(wm, s_real, [doy])[0]
    forecast = wind_days_of_year(wm, s_forecast, [doy] * settings.n_mc).mean(axis=0)
    return WindDay(doy, realised, forecast, float(sc.wind.capacity_mw))


# ------------------------------------------------------------------------------ behaviour


def campus_behaviour(sc: LowCarbonScenario, mode: str, full_information: bool) -> Behaviour:
    """The campus's behaviour from the scenario's ``[behaviours]`` table (SPEC §8), refused where it has nothing to
    act on: one campus has no bargaining (misreport, withhold, leave, learn), its devices are optimised (rule does
    not apply), and its decision method has no risk parameter of SPEC §8 (the robust set's ε is not one).  Only
    ``forecast`` acts: the deterministic day-ahead plan and the mpc replay's hours not yet realised use the campus's
    own wind forecast; the robust method plans on the wind set, and a full-information mode on the realised day,
    so neither has a forecast to replace."""
    spec = assign(sc.behaviours, {"campus": LOWCARBON_CAMPUS}, {"LowCarbonCampusAgent": LOWCARBON_CAMPUS},
                  where="[behaviours]")["campus"]
    if spec.id not in ("truthful", "forecast"):
        raise BehaviourSetupError(f"[behaviours] campus: the lowcarbon_ies system has one campus and no bargaining; "
                                  f"of SPEC §8's behaviours only forecast acts on it, not {spec.id}")
    if spec.id == "forecast" and (full_information or sc.simulation.method != "deterministic"):
        what = f"mode {mode} plans on the realised day" if full_information else \
            f"simulation.method = {sc.simulation.method!r} plans on the wind set, not on a forecast"
        raise BehaviourSetupError(f"[behaviours] campus: forecast replaces the wind forecast a plan is made on; {what}")
    return make(spec, "[behaviours] campus")


# ------------------------------------------------------------------------------ one day


def simulate_lowcarbon_day_steps(
    sc: LowCarbonScenario,
    run: RunSpec,
    settings: SimSettings,
    d: int,
    campus: LowCarbonCampusAgent,
    wm: WeatherModel,
    mode: LowCarbonMode,
    wind_set: WindSet | None = None,
) -> DaySteps:
    """Day ``d`` (0-based) of ``run`` on the campus agent, as a generator (Mesa stepping; module docstring).

    Starts from ``campus.state`` and leaves the day's end state in it.  Yields ``k`` once quarter-hour ``k``
    (1..96) is executed; returns the :class:`DayOutcome`."""
    t0 = time.perf_counter()
    info = day_information(sc, wm, run, settings, d)
    refresh_s = campus.start_day()
    t_data = time.perf_counter()
    hz = sc.horizon
    sim = sc.simulation
    # ---- DA stage: the first stage x (commitment, start-up/shut-down, declared sale tier)
    plan: RobustResult
    if mode.full_information:  # the MILP knowing the realised day: a lower bound of the other modes
        plan = campus.plan_deterministic(info.realised)
    elif sim.method == "robust":
        if wind_set is None:
            raise ValueError("the robust day-ahead method needs the run's data-driven wind set (fit_wind_set)")
        plan = campus.plan_robust(wind_set.uset, sim.epsilon, sc.uncertainty.max_iter)
    else:  # the campus's own forecast (SPEC §8 forecast; the common one for a truthful campus)
        plan = campus.plan_deterministic(own_forecast(campus, info))
    campus.commit(plan.x_flat)
    t_da = time.perf_counter()
    # ---- intraday: the recourse with x fixed on the realised wind day
    mpc_solves, mpc_s = 0, 0.0
    if mode.full_information or settings.replay == "oracle":
        campus.set_wind(info.realised)
        stats = campus.solve_dispatch()
        yield from range(1, STEPS_PER_DAY + 1)
    else:
        def solve(h: int) -> SolveStats:
            campus.set_wind(receding(info.realised, own_forecast(campus, info), h))
            return campus.solve_dispatch()

        loop: RecedingLoop[SolveStats] = RecedingLoop(
            "lowcarbon intraday", hz, solve, lambda: ([campus.real.model], campus.dispatch))
        try:
            for h in hz.periods:
                loop.step(h)
                for j in range(STEPS_PER_HOUR):
                    yield (h - 1) * STEPS_PER_HOUR + j + 1
            stats = loop.result()
        finally:
            loop.close()
        mpc_solves, mpc_s = loop.n_solves, loop.seconds
    campus.load_dispatch()
    t_rt = time.perf_counter()
    lm = campus.real
    costs = lm.cost_breakdown()
    if abs(costs["total"] - stats.objective) > 1e-6 * max(1.0, abs(stats.objective)):
        raise RuntimeError(f"lowcarbon day {d + 1}: cost breakdown {costs['total']} != dispatch objective "
                           f"{stats.objective}")
    start = campus.start
    end = campus.end_day()
    kpis: dict[str, Any] = {"run": run.name, "mode": run.mode, "seed": run.seed, "point": run.point, "day": d + 1,
                            "day_of_year": info.day_of_year}
    kpis.update(day_kpis(sc, lm, costs, plan, info, end))
    kpis["mpc_solves"] = mpc_solves
    records = campus_records(campus, run, d, kpis, start, end)
    ts = dispatch_frame(lm, info)
    ts.insert(0, "day", np.int16(d + 1))
    ts.insert(1, "run", run.name)
    ts.insert(2, "mode", run.mode)
    ts = ts[list(TIMESERIES_COLUMNS)].reset_index(drop=True)
    t_end = time.perf_counter()
    return DayOutcome(kpis, ts, end.to_json(),
                      {"data_s": t_data - t0 - refresh_s, "refresh_s": refresh_s, "da_s": t_da - t_data,
                       "rt_s": t_rt - t_da, "mpc_s": mpc_s, "solve_s": t_rt - t_data, "check_s": t_end - t_rt,
                       "total_s": t_end - t0}, records)


# ------------------------------------------------------------------------------ KPIs, records, time series


def _energy(lm: LowCarbonModel, device: str, output: str) -> float:
    """Daily energy (or mass) of an output, 0 when the configuration lacks the device."""
    return lm.energy(device, output) if device in lm.handles else 0.0


def _units(lm: LowCarbonModel) -> list[str]:
    return [k for k in lm.handles if k.startswith("tp_")]


def day_kpis(sc: LowCarbonScenario, lm: LowCarbonModel, costs: dict[str, float], plan: RobustResult,
             info: WindDay, end: CampusState) -> dict[str, float]:
    """The campus KPIs (:attr:`LowCarbonSystem.kpis`) of the dispatched (loaded) realised day."""
    dt = sc.horizon.dt_h
    avail = _energy(lm, "wind", "wind_available_mw")
    used = _energy(lm, "wind", "wind_mw")
    co2 = lm.co2_breakdown()
    indirect = sc.uncertainty.upstream_gas_t_per_mwh * co2["gas_purchased_mwh"]
    on = np.sum([lm.series(k, "tp_on") for k in _units(lm)], axis=0)
    starts = sum(float(sum(pyo.value(v) for v in lm.handles[k].binaries["tp_startup"].values())) for k in _units(lm))
    tier = lm.handles["carbon"].binaries.get("ct_tier")
    sale_tier = float(max(tier, key=lambda k: pyo.value(tier[k]))) if tier is not None else -1.0
    out: dict[str, float] = {"total_cost": costs["total"]}
    out.update({COST_KPIS[col]: costs[col] for col in COST_COLUMNS})
    out.update({
        "plan_objective": plan.objective,
        "plan_iterations": float(plan.iterations),
        "curtailment_kwh": 1000.0 * (avail - used),
        "curtailment_rate": (avail - used) / avail if avail > 0 else math.nan,
        "wind_available_mwh": avail,
        "wind_forecast_mwh": float(info.forecast.sum() * dt),
        "wind_used_mwh": used,
        "shed_mwh": _energy(lm, "slack", "shed_mw"),
        "heat_shed_mwh": _energy(lm, "slack", "heat_shed_mw"),
        "spill_mwh": _energy(lm, "slack", "spill_mw"),
        "heat_dump_mwh": _energy(lm, "slack", "heat_dump_mw"),
        "gas_mwh": co2["gas_purchased_mwh"],
        "coal_t": sum(_energy(lm, k, "tp_coal_t") for k in _units(lm)) / dt,
        "nh3_burnt_t": sum(_energy(lm, k, "tp_nh3_t") for k in _units(lm)) / dt,
        "tp_mwh": sum(_energy(lm, k, "tp_power_mw") for k in _units(lm)),
        "gt_mwh": _energy(lm, "gt", "gt_power_mw"),
        "p2g_mwh": _energy(lm, "p2g", "p2g_power_mw"),
        "p2a_mwh": _energy(lm, "p2a", "p2a_power_mw"),
        "electric_load_mwh": float(sc.electric_load_mw.sum() * dt),
        "heat_load_mwh": float(sc.heat_load_mw.sum() * dt),
        "co2_emitted_t": co2["emitted"],
        "co2_absorbed_t": co2["absorbed"],
        "co2_released_t": co2["released"],
        "co2_methanated_t": co2["methanated"],
        "co2_sequestered_t": co2["sequestered"],
        "co2_allowance_t": co2["allowance"],
        "co2_traded_t": co2["traded"],
        "co2_indirect_t": indirect,
        "co2_total_t": co2["released"] + indirect,
        "tp_on_hours": float(on.sum() * dt),
        "tp_startups": starts,
        "carbon_sale_tier": sale_tier,
    })
    out.update({name: float(end.stores.get(key, 0.0)) for key, (name, _) in STORE_KPIS.items()})
    return {k: float(v) + 0.0 for k, v in out.items()}


def campus_records(campus: LowCarbonCampusAgent, run: RunSpec, d: int, kpis: dict[str, Any], start: CampusState,
                   end: CampusState) -> pd.DataFrame:
    """Per-agent records of the campus (:mod:`sim.engine.records`): one campus, so its own cost is its
    standalone cost and its final cost after payments; no payments, no gain.  It buys gas and coal (003 has
    no grid connection); each store's content at the start and at the end of the day, and each thermal unit's
    state at midnight.  The ``behaviour`` column is the campus's behaviour id, with its parameters of the day as
    ``param_<name>`` records."""
    cur = campus.params.currency
    cost = float(kpis["total_cost"])
    rows: list[tuple[str, str, str, str, float, str]] = []

    def add(variable: str, value: float, unit: str) -> None:
        rows.append((campus.name, type(campus).__name__, campus.behaviour.id, variable, float(value), unit))

    for variable in ("own_cost", "standalone_cost", "final_cost"):
        add(variable, cost, cur)
    add("payment", 0.0, cur)
    add("gain", 0.0, cur)
    for name, value in campus.behaviour.parameters_of_day().items():
        add(f"param_{name}", value, "1")
    add("gas_bought_mwh", kpis["gas_mwh"], "MWh")
    add("coal_bought_t", kpis["coal_t"], "t")
    add("curtailment_kwh", kpis["curtailment_kwh"], "kWh")
    add("shed_mwh", kpis["shed_mwh"], "MWh")
    add("co2_released_t", kpis["co2_released_t"], "t")
    for st in campus.stores:
        add(f"storage_start_{st.key}", start.stores[st.key], st.unit)
        add(f"storage_end_{st.key}", end.stores[st.key], st.unit)
    for name, (on, p) in end.units.items():
        add(f"on_at_midnight_{name}", on, "1")
        add(f"output_at_midnight_{name}", p, "MW")
    return agent_records(run.name, run.mode, d + 1, rows)


def dispatch_frame(lm: LowCarbonModel, info: WindDay) -> pd.DataFrame:
    """The realised dispatch (loaded values) as rows ``period, entity, variable, value, unit`` (hourly periods
    1..24): every device output, the loads, and the wind forecast and each farm's realised availability."""
    T = list(lm.scenario.horizon.periods)
    parts: list[pd.DataFrame] = []

    def add(entity: str, variable: str, values: np.ndarray, unit: str) -> None:
        parts.append(pd.DataFrame({"period": T, "entity": entity, "variable": variable,
                                   "value": np.asarray(values, dtype=float), "unit": unit}))

    for dev, h in lm.handles.items():
        for name, (comp, unit) in h.outputs.items():
            var, u = output_in_mw(name, unit)
            add(dev, var, np.array([pyo.value(comp[t]) for t in T]), u)
    add("load", "electric_load_mw", lm.scenario.electric_load_mw, "MW")
    add("load", "heat_load_mw", lm.scenario.heat_load_mw, "MW")
    blk = lm.model.component("ev_uncontrolled")
    if blk is not None:
        add("ev", "ev_uncontrolled_mw", np.array([pyo.value(blk.load_kw[t]) for t in T]), "MW")
    add("wind", "wind_forecast_mw", info.forecast, "MW")
    for i, farm in enumerate(info.realised_per_farm):
        add(f"wind_farm_{i + 1}", "available_mw", farm, "MW")
    return pd.concat(parts, ignore_index=True)

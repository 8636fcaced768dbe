"""One simulated day of the rural biogas–power–heat campus of paper 002 (issue 5; SPEC §3.8, §6.4, §6.6).

The rural counterpart of :func:`sim.systems.ieee33.day.simulate_day` (same contract: KPIs, a long-format time
series with ``day, run, mode``, the end state and timings; a generator stepped by the Mesa model).

Information (SPEC §6.6 step 1)
------------------------------
- *Forecast of the day*: the PV forecast is the most probable reduced scenario of the weather model
  fitted to real data (:func:`sim.weather.model.forecast_and_realisation`, one PV site of the campus's
  capacity); the power- and heat-load forecasts are the scenario's profiles with the day's seeded
  load noise (hourly means).
- *Reference samples* (SPEC §6.4): the campus's history of ``M`` relative forecast-error days (AR(1),
  truncated to ±``error_bound``) is drawn once per run from the run's seed and reduced by k-means to
  ``K`` samples with weights ``p_{k,0}``; sample ``k`` of day ``d`` is ``forecast_d × (1 + u_k)``.
- *Realised day*: ``forecast_d × (1 + u)`` with ``u`` one more day drawn from the same error process
  (the day's own seed), PV clipped to the plant's capacity.

Stages
------
- **DA stage**: the first-stage trading power ``P^tr`` of the scenario's ``uncertainty.method``
  (``cdro`` by default; ``so``, ``ro``, ``dro``, ``cvar``) over the reference samples, on the persistent
  master of :class:`agents.decision.uncertainty.TwoStageDRO` (C&CG for dro/cdro).
- **Intraday** with ``P^tr`` fixed: ``oracle`` replay — the recourse LP on the realised day (one
  optimisation, as in the paper); ``mpc`` replay — every hour the recourse is re-solved with the
  realised values of the hours so far and the forecast after, and the hour is executed
  (:mod:`sim.engine.mpc`; 002's model is hourly, so each hour covers four 15-min Mesa steps).

Modes
-----
The rural scenario is one campus: ``cooperative``, ``centralized`` and ``noncooperative`` coincide
(there is no one to coordinate with: the campus makes its own DA decision with its method and
dispatches itself); ``oracle`` chooses ``P^tr`` knowing the realised day (SO with the realised day as
the only sample): the lower bound of the others.  Compare DA methods with
``sweep --set uncertainty.method=so,dro,cdro`` or ``--set uncertainty.lam=0,0.2,1``.

State: 002's storages (power, heat, biogas holder) end every day where they started (ESS-4, HS-1,
BGS-1 terminal conditions), so nothing carries over midnight.

Persistence: :class:`RuralModels` holds the DA master (``K`` recourse copies) and the realised-day
model (one copy), built once per run; each day writes its profiles into their mutable Params and
resets them (:meth:`~agents.decision.uncertainty.TwoStageDRO.reset`: no cut, no cache, cold solver), so a day
depends only on ``(scenario, seed, day)`` and ``--resume`` gives the same KPIs.

How the data reach HiGHS: both models are compiled once, when the run builds them.  A day's profiles are
Param values, pushed as deltas (only the row bounds that depend on a changed Param:
:meth:`agents.milp.HighsModel.update_params`); the C&CG cuts of the DA master go into reusable row slots
(``addRows`` once, then bound changes), the plan ``P^tr`` is fixed and released as column bounds, and the
mpc replay's executed hours are fixed as column bounds (:class:`sim.engine.mpc.PastFixer`).  Nothing is
recompiled after the build (:mod:`agents.decision.uncertainty`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from agents.behaviours import Behaviour, make
from agents.decision.uncertainty import DROResult, Evaluation, historical_errors
from agents.devices.core import set_profile
from agents.milp import SolverOptions
from agents.rural_campus import ErrorSamples, RuralDay, build_rural_day, dispatch_frame, sample_errors
from scenarios.schema import RuralIESScenario
from sim.engine.mpc import RecedingLoop, receding
from sim.engine.records import agent_records
from sim.engine.spec import RunSpec, SimSettings
from sim.engine.state import CarryState
from sim.engine.system import DayOutcome, DaySteps, Mode
from sim.systems.rural_ies.behaviours import solve_keywords
from sim.systems.rural_ies.modes import MODES
from sim.weather.model import Site, WeatherModel, forecast_and_realisation, weather_for

RURAL_MODES: tuple[str, ...] = tuple(MODES)
#: Spawn keys under the run's seed: the campus's error history, and the realised error of day d.
HISTORY_SPAWN_KEY = 1 << 21
REALISED_SPAWN_KEY = 1 << 22
STEPS_PER_HOUR = 4
SERIES = ("pv_kw", "power_load_kw", "heat_load_kw")
#: Time-series columns, in order.
TIMESERIES_COLUMNS: tuple[str, ...] = ("day", "run", "mode", "period", "entity", "variable", "value", "unit")


def sites_of_rural(sc: RuralIESScenario) -> tuple[Site, ...]:
    return (Site("pv", "pv", float(sc.pv.capacity_kw)),)


def loads_of_rural(sc: RuralIESScenario) -> dict[str, np.ndarray]:
    return {"power_load_kw": np.asarray(sc.power_load_kw, dtype=float),
            "heat_load_kw": np.asarray(sc.heat_load_kw, dtype=float)}


def rural_weather_model(sc: RuralIESScenario, settings: SimSettings) -> WeatherModel:
    return weather_for(sites_of_rural(sc), settings.station)


# ------------------------------------------------------------------------------ persistent models


@dataclass
class RuralModels:
    """The run's persistent models: the DA master over the reference samples and the realised-day model."""

    scenario: RuralIESScenario
    samples: ErrorSamples
    plan: RuralDay
    real: RuralDay
    build_s: float

    def _write(self, day: RuralDay, profiles: Sequence[Mapping[str, np.ndarray]]) -> None:
        m = day.dro.model
        for k, prof in enumerate(profiles):
            rec = m.rec[k]
            set_profile(rec.pv.available_kw, prof["pv_kw"])
            set_profile(rec.power_load.load_kw, prof["power_load_kw"])
            set_profile(rec.heat_load.load_kw, prof["heat_load_kw"])

    def set_forecast(self, forecast: Mapping[str, np.ndarray]) -> None:
        """Write the day's reference samples ``forecast × (1 + u_k)`` into the DA master and reset it."""
        s = self.samples
        u = {"pv_kw": s.u_pv, "power_load_kw": s.u_power, "heat_load_kw": s.u_heat}
        cap = float(self.scenario.pv.capacity_kw)
        profiles = []
        for k in range(s.K):
            prof = {q: np.asarray(forecast[q], dtype=float) * (1.0 + u[q][k]) for q in SERIES}
            prof["pv_kw"] = np.clip(prof["pv_kw"], 0.0, cap)
            profiles.append(prof)
        self._write(self.plan, profiles)
        self.plan.dro.reset()

    def set_realised(self, profiles: Mapping[str, np.ndarray]) -> None:
        """Write one realised (or partly realised) day into the realised-day model."""
        self._write(self.real, [profiles])

    def reset_real(self) -> None:
        self.real.dro.reset()


def rural_models(sc: RuralIESScenario, seed: int, settings: SimSettings) -> RuralModels:
    """Draw the run's error history (from ``seed``), reduce it and build both persistent models."""
    t0 = time.perf_counter()
    opts = SolverOptions(time_limit_s=settings.time_limit_s)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(HISTORY_SPAWN_KEY,)))
    samples = sample_errors(sc, rng)
    plan = build_rural_day(sc, samples=samples, options=opts)
    zero = np.zeros((1, sc.horizon.n))
    # the realised day's dispatch is read from the realised-day model's own solves: they keep the options'
    # method (dual simplex), so a degenerate dispatch is the one a freshly built model would return
    real = build_rural_day(sc, samples=ErrorSamples(zero, zero, zero, np.ones(1), 1), options=opts,
                           primal_evaluation=False)
    return RuralModels(sc, samples, plan, real, time.perf_counter() - t0)


# ------------------------------------------------------------------------------ the day's information


def day_information(sc: RuralIESScenario, wm: WeatherModel, run: RunSpec, settings: SimSettings, d: int
                    ) -> tuple[int, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``(day_of_year, forecast, realised)`` of day ``d`` (hourly kW; see the module docstring)."""
    doy = (settings.start_day_of_year - 1 + d) % 365 + 1
    dw = forecast_and_realisation(wm, run.seed, d, day_of_year=doy, n_mc=settings.n_mc,
                                  n_scenarios=settings.n_scenarios, loads=loads_of_rural(sc))
    n = sc.horizon.n
    forecast = {"pv_kw": np.asarray(dw.forecast_kw[0], dtype=float)}
    for q in ("power_load_kw", "heat_load_kw"):
        held = np.asarray(dw.load_realised[q], dtype=float)
        forecast[q] = held.reshape(n, -1).mean(axis=1)
    u = sc.uncertainty
    rng = np.random.default_rng(np.random.SeedSequence(run.seed, spawn_key=(REALISED_SPAWN_KEY, d)))
    err = historical_errors(rng, 1, len(SERIES), n, phi=u.ar1_phi, sigma=u.sigma, bound=u.error_bound)[0]
    realised = {q: forecast[q] * (1.0 + err[i]) for i, q in enumerate(SERIES)}
    realised["pv_kw"] = np.clip(realised["pv_kw"], 0.0, float(sc.pv.capacity_kw))
    return doy, forecast, realised


# ------------------------------------------------------------------------------ one day


def _x_of(res: DROResult) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, dtype=float) for k, v in res.x.items()}


def simulate_rural_day_steps(
    sc: RuralIESScenario,
    run: RunSpec,
    settings: SimSettings,
    d: int,
    state: CarryState,
    weather: WeatherModel | None = None,
    models: RuralModels | None = None,
    mode: Mode | None = None,
    behaviour: Behaviour | None = None,
) -> DaySteps:
    """Day ``d`` (0-based) of ``run`` on the rural campus as a generator (Mesa stepping; module docstring).

    ``behaviour``: the campus's (SPEC §8; default truthful); its ``risk`` parameters replace the scenario's λ or
    CVaR level in the DA decision (:mod:`sim.systems.rural_ies.behaviours`, which checks them when the run starts).

    Yields ``k`` once quarter-hour ``k`` (1..96) is executed; returns the :class:`DayOutcome`.
    """
    if mode is None:
        if run.mode not in MODES:
            raise ValueError(f"unknown mode {run.mode!r}; choose from {', '.join(MODES)}")
        mode = MODES[run.mode]()
    beh = behaviour if behaviour is not None else make()
    t0 = time.perf_counter()
    wm = weather or rural_weather_model(sc, settings)
    mods = models or rural_models(sc, run.seed, settings)
    doy, common, realised = day_information(sc, wm, run, settings, d)
    # the PV forecast the campus plans on: its behaviour's (SPEC §8 forecast; the common one when truthful)
    forecast = dict(common)
    forecast["pv_kw"] = beh.forecast(common["pv_kw"], realised["pv_kw"], float(sc.pv.capacity_kw))
    t_data = time.perf_counter()
    hz = sc.horizon
    u = sc.uncertainty
    # ---- DA stage
    plan: DROResult | None = None
    oracle: Evaluation | None = None
    if mode.full_information:  # P^tr chosen knowing the realised day; the solve ends with its realised dispatch
        mods.set_realised(realised)
        mods.reset_real()
        res = mods.real.solve("so")
        x = _x_of(res)
        oracle = Evaluation(res.first_stage_cost, res.recourse_costs, res.historical_cost, res.worst_cost,
                            res.worst_sample_cost, res.worst_p)
        method = "oracle"
    else:
        mods.set_forecast(forecast)
        plan = mods.plan.solve(u.method, **solve_keywords(beh))
        x = _x_of(plan)
        method = u.method
    t_da = time.perf_counter()
    # ---- intraday
    mpc_solves = 0
    mpc_s = 0.0
    if oracle is not None:
        ev = oracle
        yield from range(1, STEPS_PER_HOUR * hz.n + 1)
    elif settings.replay == "oracle":
        mods.set_realised(realised)
        mods.reset_real()
        ev = mods.real.evaluate(x)
        yield from range(1, STEPS_PER_HOUR * hz.n + 1)
    else:
        mods.reset_real()
        fc = {q: np.clip(forecast[q], 0.0, float(sc.pv.capacity_kw)) if q == "pv_kw" else forecast[q]
              for q in SERIES}

        def solve(h: int) -> Evaluation:
            mods.set_realised({q: receding(realised[q], fc[q], h) for q in SERIES})
            return mods.real.evaluate(x)

        loop: RecedingLoop[Evaluation] = RecedingLoop(
            "rural intraday", hz, solve, lambda: ([mods.real.dro.model.rec[0]], mods.real.dro.hm))
        try:
            for h in hz.periods:
                loop.step(h)
                for j in range(STEPS_PER_HOUR):
                    yield (h - 1) * STEPS_PER_HOUR + j + 1
            ev = loop.result()
        finally:
            loop.close()
        mpc_solves, mpc_s = loop.n_solves, loop.seconds
    t_rt = time.perf_counter()
    disp = dispatch_frame(mods.real, method)
    kpis: dict[str, Any] = {"run": run.name, "mode": run.mode, "seed": run.seed, "point": run.point, "day": d + 1,
                            "day_of_year": doy}
    kpis.update(_kpis(sc, disp, ev, plan))
    kpis["mpc_solves"] = mpc_solves
    ts = disp[disp["sample"] == 0].drop(columns=["method", "sample"]).copy()
    ts.insert(0, "day", np.int16(d + 1))
    ts.insert(1, "run", run.name)
    ts.insert(2, "mode", run.mode)
    ts = ts[list(TIMESERIES_COLUMNS)].reset_index(drop=True)
    agents = _agent_records(sc, kpis, ts, d, run, beh)
    t_end = time.perf_counter()
    return DayOutcome(kpis, ts, CarryState(), {"data_s": t_data - t0, "da_s": t_da - t_data, "rt_s": t_rt - t_da,
                                               "mpc_s": mpc_s, "solve_s": t_rt - t_data,
                                               "check_s": t_end - t_rt, "total_s": t_end - t0}, agents)


def _agent_records(sc: RuralIESScenario, kpis: Mapping[str, Any], ts: pd.DataFrame, d: int,
                   run: RunSpec, behaviour: Behaviour) -> pd.DataFrame:
    """The campus's per-agent records (agent type ``RuralCampusAgent``) of the realised day.

    One campus: standalone = own = final cost, no payment, no gain; bought = day-ahead trade plus
    intraday purchases; sold = intraday sales; curtailment = unused PV; each storage's level at the end
    of the day (power kWh, heat kWh_th, biogas m3); the behaviour's parameters (``param_<name>``, e.g. the
    ``risk`` λ it decided with).
    """
    def last(entity: str, variable: str) -> float:
        g = ts[(ts["entity"] == entity) & (ts["variable"] == variable)].sort_values("period")
        return float(g["value"].iloc[-1]) if len(g) else math.nan

    cost = float(kpis["total_cost"])
    rows = [(sc.name, "RuralCampusAgent", behaviour.id, var, val, unit) for var, val, unit in (
        ("own_cost", cost, "CNY"), ("standalone_cost", cost, "CNY"), ("final_cost", cost, "CNY"),
        ("payment", 0.0, "CNY"), ("gain", 0.0, "CNY"),
        ("energy_bought_kwh", float(kpis["da_trade_kwh"]) + float(kpis["intraday_buy_kwh"]), "kWh"),
        ("energy_sold_kwh", float(kpis["intraday_sell_kwh"]), "kWh"),
        ("curtailment_kwh", float(kpis["curtailment_kwh"]), "kWh"),
        ("storage_end_kwh", last("power_storage", "soc_kwh"), "kWh"),
        ("heat_storage_end_kwh", last("heat_storage", "hs_soc_kwh"), "kWh_th"),
        ("biogas_storage_end_m3", last("biogas_storage", "biogas_stored_m3"), "m3"),
    )]
    rows += [(sc.name, "RuralCampusAgent", behaviour.id, f"param_{k}", float(v), "1")
             for k, v in behaviour.parameters_of_day().items()]
    return agent_records(run.name, run.mode, d + 1, rows)


def _kpis(sc: RuralIESScenario, disp: pd.DataFrame, ev: Evaluation, plan: DROResult | None) -> dict[str, float]:
    """The rural KPIs (:attr:`RuralSystem.kpis`), from the realised day's dispatch."""
    d0 = disp[disp["sample"] == 0]
    dt = sc.horizon.dt_h

    def get(entity: str, variable: str) -> np.ndarray:
        g = d0[(d0["entity"] == entity) & (d0["variable"] == variable)].sort_values("period")
        return g["value"].to_numpy(dtype=float) if len(g) else np.zeros(sc.horizon.n)

    buy, sell = get("grid", "grid_buy_kw"), get("grid", "grid_sell_kw")
    p_tr = get("da_trading", "da_trade_kw")
    avail, used = get("pv", "pv_available_kw"), get("pv", "pv_kw")
    net_grid = p_tr + buy - sell
    out: dict[str, float] = {}
    curtailed = float((avail - used).sum() * dt)
    out.update({
        "total_cost": ev.first_stage_cost + float(ev.recourse_costs[0]),
        "grid_cost": float(dt * (sc.buy_price @ buy - sc.sell_price @ sell)),
        "curtailment_kwh": curtailed,
        "curtailment_rate": curtailed / float(avail.sum() * dt) if avail.sum() > 0 else math.nan,
        "renewable_available_kwh": float(avail.sum() * dt),
        "grid_kwh": float((p_tr + buy).sum() * dt),
        "peak_valley_kw": float(net_grid.max() - net_grid.min()),
    })
    out.update({
        "da_cost": ev.first_stage_cost,
        "intraday_cost": float(ev.recourse_costs[0]),
        "da_trade_kwh": float(p_tr.sum() * dt),
        "intraday_buy_kwh": float(buy.sum() * dt),
        "intraday_sell_kwh": float(sell.sum() * dt),
        "biogas_m3": float(get("biogas_generator", "biogas_m3_per_h").sum() * dt),
        "biogas_power_kwh": float(get("biogas_generator", "bg_power_kw").sum() * dt),
        "heat_pump_heat_kwh": float(get("heat_pump", "hp_heat_kw").sum() * dt),
        "boiler_heat_kwh": float(get("electric_boiler", "eb_heat_kw").sum() * dt),
        "dr_shifted_kwh": float(get("transferable_load", "dr_up_kw").sum() * dt),
        "shed_kwh": float(get("slack", "shed_kw").sum() * dt),
        "heat_shortfall_kwh": float(get("slack", "heat_shortfall_kw").sum() * dt),
        "renewable_utilisation": float(used.sum() / avail.sum()) if avail.sum() > 0 else math.nan,
        "power_load_kwh": float(get("power_load", "power_load_kw").sum() * dt),
        "heat_load_kwh": float(get("heat_load", "heat_load_kw").sum() * dt),
    })
    if plan is not None:  # the DA plan's own metrics over the reference samples
        out.update({
            "plan_objective": plan.objective,
            "plan_historical_cost": plan.historical_cost,
            "plan_worst_cost": plan.worst_cost,
            "plan_worst_sample_cost": plan.worst_sample_cost,
            "plan_iterations": float(plan.iterations),
        })
    return {k: float(v) + 0.0 for k, v in out.items()}

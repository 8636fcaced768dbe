"""One simulated day of the three-campus system of paper 000 in each coordination mode (issue 4; SPEC §4, §6.6).

The three-campus counterpart of :func:`sim.systems.ieee33.day.simulate_day` (same contract: KPIs, a long-format
time series with ``day, run, mode``, the end state and timings).

Information (SPEC §6.6 step 1)
------------------------------
:func:`sim.weather.model.forecast_and_realisation` with the PV and wind plants of the scenario
(:func:`sim.weather.model.sites_of_three_campus`) and its park loads.  The DA forecast of PV and wind is
the most probable reduced scenario; the RT scenarios of the CVaR model are the reduced scenarios
(hourly values held on the 15-min grid) **with their probabilities** (CVaR around the nominal
probabilities, :class:`sim.systems.three_campus.cloud.CloudModel` with ``scenario_weights=True``); the realised day is
the independent draw refined to 15 min.  Loads: the noisy hourly realisation is known day-ahead, in
every mode (the convention of :mod:`sim.engine.run` for IEEE-33), so only the renewables are uncertain
and the scenarios describe everything the plan does not know.

Stages
------
- **plan** (DA stage), by the scenario's ``uncertainty.method`` (a campus parameter, ``cvar`` by default):

  - ``cvar``: the cloud model of 000 (§4) with the forecast in the DA block and the reduced scenarios
    in the RT blocks, CVaR-DRO objective (:class:`sim.systems.three_campus.cloud.CloudModel`, certified LP / MILP);
  - ``so``, ``ro``, ``dro``, ``cdro`` (SPEC §6.4): :class:`~sim.systems.three_campus.cloud.CloudDRO`,
    the two-stage LP built
    from the same blocks (first stage = the DA block's continuous variables, recourse ``k`` = RT
    scenario block ``k`` with its deviation penalties against the DA block, recourse cost ``C_k`` of
    C-9 plus the line-flow tie-break) solved by :class:`agents.decision.uncertainty.TwoStageDRO`, with ``p0`` =
    the reduced scenarios' probabilities and Ψ of CD-3/CD-4 for ``M = uncertainty.history_days``,
    ``K = S``, ``alpha_1``, ``alpha_inf`` (``lam``: λ of CD-2).  It is the **LP relaxation** of the cloud
    model (no complementarity binaries, nothing certified): a plan may charge and discharge a storage
    (or buy and sell) in the same hour, and its scenario costs, H and W are relaxed-recourse values
    (lower bounds).  The KPI ``plan_da_pairs_both_ways`` counts such pairs in the plan; the replay
    below is the certified cloud model, so the realised cost is exact whatever the plan.

  Its DA plan (the DA block's continuous variables) is frozen.
- **replay** (``SimSettings.replay``, §6.6 step 3): the RT block with ``S = 1``, the DA plan fixed and
  the same penalties, in one of two ways:

  - ``oracle`` (3a, as in the paper): one solve over the 96 quarter-hours with the realised day.
  - ``mpc`` (3b, :mod:`sim.engine.mpc`): at each quarter-hour ``k = 1..96`` the same model is re-solved with
    the realised data for ``1..k`` and the forecast for ``k+1..96`` (PV and wind: the DA forecast held
    per hour; load: the realised load, known day-ahead as above), and the decisions of period ``k``
    are fixed (:class:`sim.engine.mpc.PastFixer` on ``rt[1]``: every continuous per-period variable; the
    hourly deviations and the costs stay free).  After step 96 the whole day is fixed and the last
    solve is the executed day.  The first solve of a day starts cold, the next 95 warm (one
    deterministic sequence per day), and the fixed past is released when the day ends or fails.

  The realised-day cost is the replay's scenario cost ``C = C^RT + C^dev`` (C-9): RT operating cost on
  the realised day plus the DA-RT deviation penalties against the frozen plan (000 has no separate DA
  settlement, ``omega^DA = 0``).

Modes (:mod:`sim.systems.three_campus.modes`)
----------------------------
- ``centralized``: the cloud model with P2P (case ``proposed``), then the replay with P2P.
- ``noncooperative``: the same without P2P in plan and replay (case ``no_p2p``): no line carries
  power.  The three parks are planned in one model, whose only coupling left is the CVaR of the
  summed cost; the replay separates into the three parks' own problems.
- ``cooperative``: the P2P plan executed as in ``centralized`` and settled by weighted Nash bargaining
  (:func:`market.allocate`, NB-2, ``kappa`` = the scenario's ``market.kappa``, 0.5 by default): ``C0_n`` =
  park ``n``'s realised cost in the ``noncooperative`` day, ``C*_n`` = its realised cost in the P2P day,
  exchange = its net P2P export per quarter-hour.  Park costs are their operating cost plus the deviation
  penalties of their own components, each line's P2P deviation penalty split half-half between its two
  ends (they sum to ``C``).  If the surplus on the reported ``C0`` is negative the coalition is rejected
  (:mod:`market.nash`): the day is accounted with the standalone plans (the ``noncooperative`` outcome),
  no payments.  With behaviours (SPEC §8, :mod:`sim.systems.three_campus.behaviours`) the P2P day is the
  day's coalition's (:func:`~sim.systems.three_campus.cloud.coalition_case`: P2P only among the parks that
  joined, each offering its share of its flexibility), NB-2 runs over its members on their reported ``C0``
  (:func:`settle_day`), and ``market.audit`` adds ``v(T)`` of every coalition of two or more parks
  (:func:`coalition_values`).  Every truthful park joining with everything is the day described above,
  number for number.
- ``oracle``: full information: the realised day is known day-ahead — the cloud model with ``S = 1``
  (the realised day as its only scenario; the DA block gets the realised hourly means) and P2P,
  DA and RT optimised together.  Its cost bounds the others' realised costs from below (up to the
  objective's tie-break terms, see the tests).  It is the same under both replays (``mpc_solves = 0``).

Mesa stepping: :func:`simulate_campus_day_steps` is the day as a generator (:data:`sim.engine.run.DaySteps`)
that yields ``k`` once quarter-hour ``k`` is executed and returns the :class:`~sim.engine.run.DayOutcome`.
Under the ``oracle`` replay (and in ``oracle`` mode) the whole day is solved before the first yield;
under ``mpc`` each yield follows step ``k``'s re-solve(s).

State: each park's stored energy carries to the next day; ESS-4 is a window: the day ends at or above
the scenario's nominal start and at most at its maximum (as :func:`sim.systems.ieee33.day.day_scenario`).

Persistence (DESIGN principle 6): :class:`CampusModels` holds the persistent
:class:`~sim.systems.three_campus.cloud.CloudModel` instances (``plan``, ``replay``, ``oracle`` and, for the cooperative
``mpc`` day, ``replay_alone``) and, for a method other than ``cvar``, the
:class:`~sim.systems.three_campus.cloud.CloudDRO`
``dro``, built once per run (lazily, only those the mode and method need) and updated per day with
``set_data`` (``dro`` is also reset before each solve: no cut, no cached reference, cold solver).
How the data reach HiGHS: right after a model is built its mutable Params are indexed once
(``hm.track_params()``: which row bounds, column bounds and costs each Param feeds); a day's profiles,
probabilities, storage window and case are Param values, pushed by ``update_params`` as the bounds and
costs that changed; the replay's DA plan is fixed by ``fix`` (``lb = ub`` on those columns; the replay is
built with its DA rows inactive, so they never reach HiGHS); an ``mpc`` step's executed period is fixed
the same way.  No day compiles a Pyomo model again, and the live LP is entry for entry the one a fresh
compile would give, so a cold solve returns what a freshly built model would.
Every solve starts cold (``cold_start=True``) except the ``mpc`` steps after a day's first, which
warm-start from the step before in the same day, so a
day's results depend only on ``(scenario, seed, day, state)``, not on what the models solved before
(degenerate LPs have several optimal vertices).
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import pyomo.core as pyo
from pyomo.core.base.var import VarData

from agents.behaviours import DayFeedback
from agents.devices.core import RT_HORIZON
from agents.milp import SolverOptions
from market import Allocation, Offer, allocate, settle
from scenarios.schema import ThreeCampusScenario
from sim.engine.mpc import RecedingLoop, check_replay, held, receding
from sim.engine.records import agent_records
from sim.engine.spec import RunSpec, SimSettings
from sim.engine.state import CarryState
from sim.engine.system import DayOutcome, DaySteps, LiveDay, drain
from sim.systems.three_campus.behaviours import Conduct, audit_rows, believed_forecast, park_behaviour_rows
from sim.systems.three_campus.cloud import CaseResult, CloudCase, CloudDRO, CloudModel, DROPlan, coalition_case
from sim.systems.three_campus.modes import MODES, CampusMode
from sim.weather.model import (
    DayWeather,
    WeatherModel,
    forecast_and_realisation,
    loads_of_three_campus,
    sites_of_three_campus,
    weather_for,
)

log = logging.getLogger(__name__)

CAMPUS_MODES: tuple[str, ...] = tuple(MODES)
#: W-4 compensation coefficient of the bargaining: the default of the scenario's ``market.kappa``.
KAPPA = 0.5
STEPS_PER_HOUR = 4
DT_H = RT_HORIZON.dt_h
PROPOSED = CloudCase("proposed")
NO_P2P = CloudCase("no_p2p", p2p=False)
#: Time-series columns, in order.
TIMESERIES_COLUMNS: tuple[str, ...] = ("day", "run", "mode", "stage", "scenario", "period", "park", "variable",
                                       "value", "unit")


# ------------------------------------------------------------------------------ data of a day


@dataclass(frozen=True, eq=False)
class CampusDayData:
    """What the day's stages are given (arrays in kW).

    ``da_forecast``: ``(park, quantity) -> 24`` for the plan's DA block (PV/wind forecast, realised
    hourly load); ``rt_scenarios``: ``(park, quantity) -> (S, 96)`` with ``probabilities``;
    ``realised``: ``(park, quantity) -> 96``; ``realised_hourly``: its hourly means (the oracle's DA data).
    """

    da_forecast: dict[tuple[str, str], np.ndarray]
    rt_scenarios: dict[tuple[str, str], np.ndarray]
    probabilities: np.ndarray
    realised: dict[tuple[str, str], np.ndarray]
    realised_hourly: dict[tuple[str, str], np.ndarray]

    @property
    def n_scenarios(self) -> int:
        return int(self.probabilities.size)


def day_data(sc: ThreeCampusScenario, dw: DayWeather) -> CampusDayData:
    """Map a :class:`~sim.weather.model.DayWeather` (sites ``"PV.pv_kw"``, loads ``"PV.load_kw"``) onto the parks."""
    da: dict[tuple[str, str], np.ndarray] = {}
    rt: dict[tuple[str, str], np.ndarray] = {}
    real: dict[tuple[str, str], np.ndarray] = {}
    for i, site in enumerate(dw.sites):
        park, q = site.name.split(".")
        da[(park, q)] = np.asarray(dw.forecast_kw[i], dtype=float)
        rt[(park, q)] = np.repeat(dw.scenarios_kw[:, i, :], STEPS_PER_HOUR, axis=1)
        real[(park, q)] = np.asarray(dw.realised_kw[i], dtype=float)
    n = dw.scenario_probs.size
    for name, arr in dw.load_realised.items():
        park, q = name.split(".")
        held = np.asarray(arr, dtype=float)
        da[(park, q)] = held.reshape(-1, STEPS_PER_HOUR).mean(axis=1)
        rt[(park, q)] = np.tile(held, (n, 1))
        real[(park, q)] = held
    expected = {(p.name, "load_kw") for p in sc.parks} | {(p.name, "pv_kw") for p in sc.parks if p.pv is not None} \
        | {(p.name, "wind_kw") for p in sc.parks if p.wind is not None}
    if set(da) != expected:
        raise ValueError(f"scenario {sc.name}: the day's weather covers {sorted(da)}, "
                         f"the parks need {sorted(expected)}")
    hourly = {k: v.reshape(-1, STEPS_PER_HOUR).mean(axis=1) for k, v in real.items()}
    return CampusDayData(da, rt, np.asarray(dw.scenario_probs, dtype=float), real, hourly)


def believed_data(sc: ThreeCampusScenario, data: CampusDayData, conduct: Conduct) -> CampusDayData:
    """``data`` as the parks plan on it (SPEC §8 ``forecast``): a park with its own forecast of its PV or wind gets
    it in the DA block and its RT scenarios shifted by the same difference
    (:func:`sim.systems.three_campus.behaviours.believed_forecast`); the realised day is everyone's.  ``data``
    itself when every park plans on the common forecast."""
    da, rt = dict(data.da_forecast), dict(data.rt_scenarios)
    changed = False
    for p in sc.parks:
        for q, dev in (("pv_kw", p.pv), ("wind_kw", p.wind)):
            if dev is None:
                continue
            key = (p.name, q)
            own = believed_forecast(conduct.behaviours[p.name], data.da_forecast[key], data.realised_hourly[key],
                                    float(dev.capacity_kw), data.rt_scenarios[key])
            if own is not None:
                da[key], rt[key] = own
                changed = True
    return replace(data, da_forecast=da, rt_scenarios=rt) if changed else data


def campus_weather_model(sc: ThreeCampusScenario, settings: SimSettings) -> WeatherModel:
    return weather_for(sites_of_three_campus(sc), settings.station)


def multi_day_scenario(sc: ThreeCampusScenario) -> ThreeCampusScenario:
    """``sc`` with ESS-4 as a window ``[nominal start, maximum]`` (so the start can move from day to day)."""
    parks = []
    for p in sc.parks:
        e = p.ess
        nominal = e.soc_initial_frac if e.soc_end_min_frac is None else e.soc_end_min_frac
        hi = e.soc_max_frac if e.soc_end_max_frac is None else e.soc_end_max_frac
        parks.append(replace(p, ess=replace(e, soc_end_min_frac=nominal, soc_end_max_frac=hi)))
    return replace(sc, parks=tuple(parks))


def storage_start(sc: ThreeCampusScenario, state: CarryState) -> dict[str, float]:
    """Each park's stored energy at the start of the day: the carried value (clipped to the limits) or the nominal."""
    out = {}
    for p in sc.parks:
        e = p.ess
        cap = e.capacity_kwh
        v = e.soc_initial_frac * cap
        if p.name in state.ess_kwh:
            v = min(max(float(state.ess_kwh[p.name]), e.soc_min_frac * cap), e.soc_max_frac * cap)
        out[p.name] = float(v)
    return out


# ------------------------------------------------------------------------------ persistent models


def _da_continuous_vars(cm: CloudModel) -> list[VarData]:
    return [v for v in cm.model.da.component_data_objects(pyo.Var, descend_into=True) if v.is_continuous()]


@dataclass
class CampusModels:
    """The persistent models of one run (built lazily, once): ``plan``, ``replay``, ``replay_alone``, ``oracle``.

    - ``plan``: DA + ``S`` RT scenarios, CVaR with the scenario probabilities.
    - ``replay``: ``S = 1``; built with the DA block's rows inactive, its continuous variables fixed to
      the plan (Pyomo ``fix`` and ``lb = ub`` on their columns), so only the deviation rows see them.
    - ``replay_alone``: a second model built as ``replay``, for the no-P2P day of the cooperative
      ``mpc`` replay (its receding loop advances in lock-step with the P2P one on ``replay``).
    - ``oracle``: ``S = 1`` with the DA block free.
    - ``dro``: for ``scenario.uncertainty.method != "cvar"``, the plan by
      :class:`~sim.systems.three_campus.cloud.CloudDRO`
      (DA + ``S`` recourse copies, any method of SPEC §6.4); its DA variables are the replay's, in order.
    """

    scenario: ThreeCampusScenario  # the multi-day version (ESS-4 windows)
    n_scenarios: int
    options: SolverOptions
    build_s: float = 0.0  # seconds spent building so far (reset by whoever reports it)
    _plan: CloudModel | None = field(default=None, repr=False)
    _replay: CloudModel | None = field(default=None, repr=False)
    _replay_alone: CloudModel | None = field(default=None, repr=False)
    _oracle: CloudModel | None = field(default=None, repr=False)
    _dro: CloudDRO | None = field(default=None, repr=False)
    _plan_da: list[VarData] = field(default_factory=list, repr=False)
    _replay_da: list[VarData] = field(default_factory=list, repr=False)
    _replay_alone_da: list[VarData] = field(default_factory=list, repr=False)

    def _new(self, n: int, *, da_rows: bool = True) -> CloudModel:
        t0 = time.perf_counter()
        cm = CloudModel(self.scenario, n_scenarios=n, scenario_weights=n > 1, options=self.options, da_rows=da_rows)
        cm.hm.track_params()  # index which rows, bounds and costs each Param feeds: every day is a delta
        self.build_s += time.perf_counter() - t0  # Pyomo build + first hand-over + the Params' index
        cm.hm.handover_s = 0.0  # counted in build_s, not again in the first solve's hand-over
        return cm

    @property
    def plan(self) -> CloudModel:
        if self._plan is None:
            self._plan = self._new(self.n_scenarios)
            self._plan_da = _da_continuous_vars(self._plan)
        return self._plan

    def _new_replay(self) -> tuple[CloudModel, list[VarData]]:
        cm = self._new(1, da_rows=False)  # the DA rows never reach HiGHS: the DA block is a fixed plan
        return cm, _da_continuous_vars(cm)

    @property
    def replay(self) -> CloudModel:
        if self._replay is None:
            self._replay, self._replay_da = self._new_replay()
        return self._replay

    @property
    def replay_alone(self) -> CloudModel:
        if self._replay_alone is None:
            self._replay_alone, self._replay_alone_da = self._new_replay()
        return self._replay_alone

    @property
    def oracle(self) -> CloudModel:
        if self._oracle is None:
            self._oracle = self._new(1)
        return self._oracle

    @property
    def method(self) -> str:
        """The DA method (``scenario.uncertainty.method``): ``cvar`` plans with ``plan``, the others with ``dro``."""
        return self.scenario.uncertainty.method

    @property
    def dro(self) -> CloudDRO:
        """The DA stage of a method other than ``cvar``: :class:`~sim.systems.three_campus.cloud.CloudDRO` over the
        ``S`` scenarios.

        Its LPs are solved by interior point with crossover (faster than dual simplex on this master;
        the solution is still a vertex, and every solve starts cold).
        """
        if self._dro is None:
            t0 = time.perf_counter()
            self._dro = CloudDRO(self.scenario, n_scenarios=self.n_scenarios,
                                 options=replace(self.options, lp_method="ipm"))
            self.build_s += time.perf_counter() - t0
            self._dro.hm.handover_s = 0.0
        return self._dro

    def check_da_order(self, dro: CloudDRO, replay: CloudModel) -> None:
        """The plan's DA variables and the replay's DA variables are the same, in the same order (by name)."""
        a = [v.getname(fully_qualified=True, relative_to=dro.model.fs) for v in dro.da_vars]
        b = [v.getname(fully_qualified=True, relative_to=replay.model.da) for v in _da_continuous_vars(replay)]
        if a != b:
            raise RuntimeError("the DRO plan and the replay model have different DA blocks")

    def plan_da_values(self) -> np.ndarray:
        """The DA plan just solved by ``plan`` (its continuous DA variables, in declaration order)."""
        hm = self.plan.hm
        return np.fromiter((hm.value(v) for v in self._plan_da), dtype=float, count=len(self._plan_da))

    def fix_replay_da(self, values: np.ndarray, case: CloudCase, *, alone: bool = False) -> None:
        """Fix the replay's DA variables to the plan ``values`` (solved for ``case``).

        ``alone``: fix those of ``replay_alone`` instead.  The replay takes ``case``'s Params first (line
        capacities, ...), then the values are clipped to the variables' bounds (the solver's 1e-14
        excursions), so Pyomo never holds a fixed value outside its bounds, and fixed as deltas: Pyomo's
        ``fix`` and ``lb = ub`` on these columns of the live model (:meth:`agents.milp.HighsModel.fix`).
        """
        replay = self.replay_alone if alone else self.replay
        da_vars = self._replay_alone_da if alone else self._replay_da
        if len(da_vars) != values.size:
            raise RuntimeError("the plan and the replay model have different DA blocks")
        replay.fix_plan(da_vars, values, case)


def campus_models(sc: ThreeCampusScenario, settings: SimSettings) -> CampusModels:
    """The persistent models of one run for ``sc`` and ``settings`` (built here; the run keeps them)."""
    return CampusModels(multi_day_scenario(sc), settings.n_scenarios, SolverOptions(time_limit_s=settings.time_limit_s))


# ------------------------------------------------------------------------------ evaluation


@dataclass
class Executed:
    """One realised day (the S = 1 block of the replay or oracle model) and what it cost."""

    result: CaseResult
    park_cost: dict[str, float]  # operating cost + own deviation penalties (lines split half-half)
    park_deviation: dict[str, float]
    profiles: dict[tuple[str, str], np.ndarray]  # (park or line, variable) -> 96, RT stage
    plan: CaseResult | DROPlan | None = None  # the DA stage's solve: CVaR or another method (None: oracle)
    rt_solves: int = 1  # solves of the RT stage (96 for an mpc replay)
    rt_solve_s: float | None = None  # their solver seconds (None: ``result.solve_s``, the one solve)
    rt_handover_s: float | None = None  # their hand-over seconds (None: ``result.handover_s``)

    @property
    def solve_s(self) -> float:
        """Solver seconds of the RT stage and the plan."""
        rt = self.result.solve_s if self.rt_solve_s is None else self.rt_solve_s
        return rt + (self.plan.solve_s if self.plan is not None else 0.0)

    @property
    def handover_s(self) -> float:
        """Hand-over seconds of the RT stage and the plan."""
        rt = self.result.handover_s if self.rt_handover_s is None else self.rt_handover_s
        return rt + (self.plan.handover_s if self.plan is not None else 0.0)

    @property
    def cost(self) -> float:
        return float(self.result.scenario_cost[0])

    def export_kw(self, park: str) -> np.ndarray:
        """Net P2P export of ``park`` per quarter-hour (> 0: exports)."""
        return -self.profiles[(park, "p2p_net_in_kw")]


def _executed(cm: CloudModel, result: CaseResult, plan: CaseResult | DROPlan | None = None) -> Executed:
    sc = cm.scenario
    lam = sc.penalties.as_dict()
    dev = {p: 0.0 for p in sc.park_names}
    ends = {ln.name: (ln.a, ln.b) for ln in sc.lines}
    pos_cols, neg_cols = cm.deviation_columns(1)  # binding key by key, hour by hour
    pos, neg = cm.hm.x[pos_cols].tolist(), cm.hm.x[neg_cols].tolist()
    n_h = len(cm.model.H)
    for i, (x, r) in enumerate(cm.binding_keys):
        hours = range(i * n_h, (i + 1) * n_h)
        e = lam[x] * float(sum(pos[h] + neg[h] for h in hours))
        if x == "p2p":
            a, z = ends[r]
            dev[a] += 0.5 * e
            dev[z] += 0.5 * e
        else:
            dev[r] += e
    cost = {p: cm.park_cost(1, p) + dev[p] for p in sc.park_names}
    return Executed(result, cost, dev, rt_profiles(result.timeseries), plan)


def rt_profiles(ts: pd.DataFrame) -> dict[tuple[str, str], np.ndarray]:
    """``(park or line, variable) -> values by period`` of RT scenario 1 of a long time-series table.

    The table (:func:`sim.systems.three_campus.cloud._long_frame`) holds each ``(stage, scenario, park,
    variable)`` as one contiguous run of rows; each run is read in period order.
    """
    rt = ts[(ts["stage"] == "rt") & (ts["scenario"] == 1)]
    park_names = [str(x) for x in rt["park"].cat.categories]
    var_names = [str(x) for x in rt["variable"].cat.categories]
    park = rt["park"].cat.codes.to_numpy().astype(np.int64)
    var = rt["variable"].cat.codes.to_numpy().astype(np.int64)
    key = park * (len(var_names) + 1) + var
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], key.size]
    period = rt["period"].to_numpy()
    value = rt["value"].to_numpy(dtype=float)
    out: dict[tuple[str, str], np.ndarray] = {}
    for i, j in zip(starts.tolist(), ends.tolist(), strict=True):
        name = (park_names[park[i]], var_names[var[i]])
        if name in out:  # pragma: no cover - the table writer makes one run per quantity
            raise RuntimeError(f"time series: {name} is not one contiguous run of rows")
        out[name] = value[i:j][np.argsort(period[i:j], kind="stable")]
    return out


def _solve(cm: CloudModel, case: CloudCase, *, tables: bool = True) -> CaseResult:
    r = cm.solve(case, cold_start=True, tables=tables)
    log.info("%s case %s: %s, objective %.2f, solve %.2f s", cm.hm.ctx.name, case.name, r.path, r.objective, r.solve_s)
    return r


def _plan_stage(models: CampusModels, data: CampusDayData, start: dict[str, float], case: CloudCase, *,
                alone: bool = False) -> tuple[CloudModel, CaseResult | DROPlan]:
    """DA stage (the plan of the scenario's method on the forecast and the scenarios: the cloud model's
    CVaR for ``cvar``, :class:`~sim.systems.three_campus.cloud.CloudDRO` otherwise), frozen in the replay model
    (``replay``,
    or ``replay_alone`` with ``alone``), whose data become the realised day; returns the replay model
    (ready to solve) and the plan's result."""
    planned: CaseResult | DROPlan
    if models.method == "cvar":
        plan = models.plan
        plan.set_data(da=data.da_forecast, rt=data.rt_scenarios, probabilities=data.probabilities,
                      ess_initial_kwh=start)
        planned = _solve(plan, case, tables=False)  # only its numbers are reported: no time-series tables
        da_values = models.plan_da_values()
    else:
        dro = models.dro
        dro.set_data(da=data.da_forecast, rt=data.rt_scenarios, probabilities=data.probabilities,
                     ess_initial_kwh=start)
        planned = dro.solve(models.method, case)
        da_values = planned.da_values
    replay = models.replay_alone if alone else models.replay
    if models.method != "cvar":
        models.check_da_order(models.dro, replay)
    replay.set_data(da=data.da_forecast, rt={k: v[None, :] for k, v in data.realised.items()},
                    ess_initial_kwh=start)
    models.fix_replay_da(da_values, case, alone=alone)
    return replay, planned


def _plan_and_replay(models: CampusModels, data: CampusDayData, start: dict[str, float], case: CloudCase) -> Executed:
    """DA stage, then the ``oracle`` replay of the realised day (one solve over the 96 quarter-hours)."""
    replay, planned = _plan_stage(models, data, start, case)
    return _executed(replay, _solve(replay, case), planned)


def mpc_forecast(data: CampusDayData) -> dict[tuple[str, str], np.ndarray]:
    """What the ``mpc`` replay expects of the periods not yet realised, ``(park, quantity) -> 96``.

    PV and wind: the DA forecast (the most probable reduced scenario) held per hour; load: the
    realised load (known day-ahead in this simulator, see the module docstring).
    """
    out = {}
    for key, real in data.realised.items():
        out[key] = real.copy() if key[1] == "load_kw" else held(data.da_forecast[key], real.size)
    return out


class _MpcReplay:
    """One receding-horizon replay of the day (SPEC §6.6 3b) on a replay model whose DA plan is fixed.

    :meth:`step` ``(k)`` writes the data seen at step ``k`` (:func:`sim.engine.mpc.receding`) into the model's
    single RT block, re-solves (cold at ``k = 1``, warm after) and fixes period ``k``'s decisions;
    :meth:`executed` builds the day after step 96.  :meth:`close` releases the fixed past (idempotent).
    """

    def __init__(self, name: str, cm: CloudModel, case: CloudCase, data: CampusDayData,
                 forecast: Mapping[tuple[str, str], np.ndarray], planned: CaseResult | DROPlan) -> None:
        self.cm = cm
        self.case = case
        self.planned = planned
        self._realised = data.realised
        self._forecast = forecast
        self.solve_s = 0.0
        self.handover_s = 0.0
        self.loop: RecedingLoop[CaseResult] = RecedingLoop(name, RT_HORIZON, self._solve,
                                                           lambda: ([cm.model.rt[1]], cm.hm),
                                                           path_of=lambda r: r.path)

    def _solve(self, k: int) -> CaseResult:
        cm = self.cm
        cm.set_data(rt={key: receding(real, self._forecast[key], k)[None, :] for key, real in self._realised.items()})
        before = cm.hm.handover_s  # CloudModel.solve reports it plus this solve's hand-over
        r = cm.solve(self.case, cold_start=k == 1, tables=k == RT_HORIZON.n)  # the last step is the executed day
        if r.reused_from is not None:  # set_data empties the solve cache: every step must really solve
            raise RuntimeError(f"{self.loop.name}: step {k} reused the solve of case {r.reused_from}")
        self.solve_s += r.solve_s
        self.handover_s += max(r.handover_s - before, 0.0)
        return r

    def step(self, k: int) -> None:
        self.loop.step(k)

    def close(self) -> None:
        self.loop.close()

    def executed(self) -> Executed:
        last = self.loop.result()  # releases the fixed past; the solution (hm.x) is the executed day
        log.info("%s case %s: %s, realised cost %.2f, %.2f s", self.cm.hm.ctx.name, self.case.name,
                 self.loop.path_summary(), float(last.scenario_cost[0]), self.loop.seconds)
        ex = _executed(self.cm, last, self.planned)
        ex.rt_solves = self.loop.n_solves
        ex.rt_solve_s = self.solve_s
        ex.rt_handover_s = self.handover_s
        return ex


def _oracle(models: CampusModels, data: CampusDayData, start: dict[str, float]) -> Executed:
    cm = models.oracle
    cm.set_data(da=data.realised_hourly, rt={k: v[None, :] for k, v in data.realised.items()}, ess_initial_kwh=start)
    return _executed(cm, _solve(cm, PROPOSED))


def bargaining(sc: ThreeCampusScenario, coalition: Executed, standalone: Executed, kappa: float = KAPPA,
               members: Sequence[str] | None = None, reported: Mapping[str, float] | None = None) -> Allocation:
    """NB-P1 → NB-2 on the realised day: ``C0`` from ``standalone`` (or as ``reported``), ``C*`` and the exchange
    from ``coalition``, over ``members`` (default: every park)."""
    parks = list(members) if members is not None else sc.park_names
    rep = reported or {}
    alone = [Offer(p, rep.get(p, standalone.park_cost[p]), dt_h=DT_H) for p in parks]
    joint = [Offer(p, coalition.park_cost[p], exchange_kw=coalition.export_kw(p), dt_h=DT_H) for p in parks]
    alloc = allocate(alone, joint, kappa=kappa)
    settle(alloc)  # raises if payments are not balanced or a park would lose
    return alloc


# ------------------------------------------------------------------------------ KPIs and time series


def _kpis(sc: ThreeCampusScenario, ex: Executed) -> dict[str, float]:
    """KPI_COLUMNS of :mod:`sim.engine.run` (NaN where they do not apply) plus the campus ones."""
    pr = ex.profiles
    parks = sc.park_names
    buy_price = np.repeat(np.asarray(sc.buy_price, dtype=float), STEPS_PER_HOUR)
    sell_price = np.repeat(np.asarray(sc.sell_price, dtype=float), STEPS_PER_HOUR)
    zero = np.zeros(RT_HORIZON.n)

    def get(park: str, var: str) -> np.ndarray:
        return pr.get((park, var), zero)

    grid_cost = storage_cost = dr_cost = chp_cost = curt_pen = 0.0
    avail = used = 0.0
    for p in sc.parks:
        n = p.name
        grid_cost += DT_H * float(buy_price @ get(n, "grid_buy_kw") - sell_price @ get(n, "grid_sell_kw"))
        storage_cost += p.ess.cost_per_kwh * DT_H * float((get(n, "ess_charge_kw") + get(n, "ess_discharge_kw")).sum())
        dr_cost += p.dr.cost_per_kwh * DT_H * float((get(n, "dr_in_kw") + get(n, "dr_out_kw")).sum())
        if p.chp is not None:
            chp_cost += p.chp.cost_per_kwh * DT_H * float(get(n, "chp_kw").sum())
        for dev, kind in ((p.pv, "pv"), (p.wind, "wind")):
            if dev is not None:
                a = float(get(n, f"{kind}_available_kw").sum()) * DT_H
                u = float(get(n, f"{kind}_kw").sum()) * DT_H
                avail += a
                used += u
                curt_pen += dev.curtailment_cost_per_kwh * (a - u)
    net_grid = sum((get(n, "grid_buy_kw") - get(n, "grid_sell_kw") for n in parks), zero)
    export = {n: DT_H * float(np.clip(-get(n, "p2p_net_in_kw"), 0.0, None).sum()) for n in parks}
    line_kwh = DT_H * sum(float((pr[(ln.name, "p2p_forward_kw")] + pr[(ln.name, "p2p_reverse_kw")]).sum())
                          for ln in sc.lines)
    r = ex.result
    out: dict[str, float] = {}
    out.update({
        "total_cost": ex.cost,
        "grid_cost": grid_cost,
        "curtailment_penalty": curt_pen,
        "storage_cost": storage_cost,
        "dr_cost": dr_cost,
        "curtailment_kwh": avail - used,
        "curtailment_rate": (avail - used) / avail if avail > 0 else math.nan,
        "renewable_available_kwh": avail,
        "grid_kwh": DT_H * float(sum(get(n, "grid_buy_kw").sum() for n in parks)),
        "exchange_kwh": float(sum(export.values())),
        "peak_valley_kw": float(net_grid.max() - net_grid.min()),
    })
    out.update({
        "chp_cost": chp_cost,
        "deviation_cost": float(r.scenario_deviation_cost[0]),
        "operation_cost": float(r.scenario_operation_cost[0]),
        "grid_sale_kwh": DT_H * float(sum(get(n, "grid_sell_kw").sum() for n in parks)),
        "p2p_line_kwh": line_kwh,
        "ess_throughput_kwh": float(r.kpis["ess_throughput_kwh"]),
        "dr_shifted_kwh": float(r.kpis["dr_shifted_kwh"]),
        "renewable_utilisation": used / avail if avail > 0 else math.nan,
    })
    plan = ex.plan if ex.plan is not None else r  # the oracle plans on the realised day itself
    out.update({
        "plan_objective": float(plan.objective),
        "plan_solver_objective": float(plan.solver_objective),
        "plan_expected_cost": float(plan.kpis["expected_cost"]),
        "plan_max_scenario_cost": float(plan.kpis["max_scenario_cost"]),
    })
    if isinstance(plan, DROPlan):  # a method other than cvar: its metrics over the reduced scenarios (SPEC §6.4)
        res = plan.result
        out.update({
            "plan_historical_cost": float(res.historical_cost),
            "plan_worst_cost": float(res.worst_cost),
            "plan_worst_sample_cost": float(res.worst_sample_cost),
            "plan_iterations": float(res.iterations),
            "plan_da_pairs_both_ways": float(sum(v for k, v in plan.violations.items() if k.startswith("da_"))),
        })
    for n in parks:
        out[f"cost_{n}"] = ex.park_cost[n]
        out[f"deviation_cost_{n}"] = ex.park_deviation[n]
    return {k: float(v) + 0.0 for k, v in out.items()}  # + 0.0 turns -0.0 into 0.0


def _timeseries(ex: Executed, d: int, run: RunSpec) -> pd.DataFrame:
    ts = ex.result.timeseries.drop(columns="case")
    ts.insert(0, "day", np.int16(d + 1))
    ts.insert(1, "run", run.name)
    ts.insert(2, "mode", run.mode)
    return ts[list(TIMESERIES_COLUMNS)]


def _end_state(sc: ThreeCampusScenario, ex: Executed) -> CarryState:
    return CarryState({p: float(ex.profiles[(p, "soc_kwh")][-1]) for p in sc.park_names})


# ------------------------------------------------------------------------------ one day


def simulate_campus_day_steps(
    sc: ThreeCampusScenario,
    run: RunSpec,
    settings: SimSettings,
    d: int,
    state: CarryState,
    weather: WeatherModel | None = None,
    models: CampusModels | None = None,
    mode: CampusMode | None = None,
    conduct: Conduct | None = None,
    live: LiveDay | None = None,
) -> DaySteps:
    """Day ``d`` (0-based) of ``run`` on the three-campus scenario ``sc`` as a generator (Mesa stepping).

    ``live``: where the day's time series is put as soon as the executed day is known before its quarter-hours
    (the ``oracle`` replay), for a live view; the day's outcome carries the same frame.

    Yields ``k`` once quarter-hour ``k`` (1..96) is executed and returns the
    :class:`~sim.engine.run.DayOutcome` (see :func:`simulate_campus_day`).  Under the ``oracle`` replay,
    and in ``oracle`` mode, the whole day is solved before the first yield; under ``mpc`` each yield
    follows step ``k``'s re-solve (two of them, P2P and no-P2P, in ``cooperative`` mode).  The mode and
    the replay are checked here, before the generator starts.  Closing the generator early releases
    the fixed past of the ``mpc`` replay models.
    """
    if mode is None:
        if run.mode not in MODES:
            raise ValueError(f"unknown mode {run.mode!r}; choose from {', '.join(MODES)}")
        mode = MODES[run.mode]()
    check_replay(settings.replay)
    return _day_steps(sc, run, settings, d, state, weather, models, mode,
                      conduct if conduct is not None else Conduct.truthful(sc.park_names), live)


def _day_steps(sc: ThreeCampusScenario, run: RunSpec, settings: SimSettings, d: int, state: CarryState,
               weather: WeatherModel | None, models: CampusModels | None, mode: CampusMode,
               conduct: Conduct, live: LiveDay | None = None) -> DaySteps:
    t0 = time.perf_counter()
    paused = 0.0  # seconds spent outside the generator (between a yield and the next step)
    wm = weather or campus_weather_model(sc, settings)
    doy = (settings.start_day_of_year - 1 + d) % 365 + 1
    dw = forecast_and_realisation(wm, run.seed, d, day_of_year=doy, n_mc=settings.n_mc,
                                  n_scenarios=settings.n_scenarios, loads=loads_of_three_campus(sc))
    data = believed_data(sc, day_data(sc, dw), conduct)
    start = storage_start(sc, state)
    t_data = time.perf_counter()
    mods = models if models is not None else campus_models(sc, settings)
    if mods.n_scenarios != data.n_scenarios:
        raise ValueError(f"the models have {mods.n_scenarios} RT scenarios, the day {data.n_scenarios}")
    built0 = mods.build_s
    mpc = settings.replay == "mpc" and not mode.full_information  # full information: no replay
    n = RT_HORIZON.n

    mpc_s = 0.0
    if mode.bargaining:  # the coalition's day (SPEC §8: its members, their offered shares) against the no-P2P day
        cases = [coalition_case(sc, conduct.members, conduct.shares), NO_P2P]
    else:
        cases = [PROPOSED if p2p else NO_P2P for p2p in mode.plans_p2p]
    unique = list(dict.fromkeys(cases))  # a coalition without an open line is the no-P2P day: solved once
    if mode.full_information:
        days = [_oracle(mods, data, start)]
        unique = [PROPOSED]
    elif not mpc:
        solved = {case: _plan_and_replay(mods, data, start, case) for case in unique}
        days = [solved[case] for case in cases]
    else:
        forecast = mpc_forecast(data)
        loops: list[_MpcReplay] = []
        try:
            for i, case in enumerate(unique):  # cooperative: the no-P2P day on its own model (lock-step)
                cm, planned = _plan_stage(mods, data, start, case, alone=i > 0)
                loops.append(_MpcReplay(f"{run.name} day {d + 1} mpc {case.name}", cm, case, data, forecast, planned))
            t_mpc = time.perf_counter()
            paused_mpc = paused
            for k in range(1, n + 1):
                for lp in loops:
                    lp.step(k)
                t_y = time.perf_counter()
                yield k
                paused += time.perf_counter() - t_y
            solved = {lp.case: lp.executed() for lp in loops}
            days = [solved[case] for case in cases]
            mpc_s = time.perf_counter() - t_mpc - (paused - paused_mpc)
        finally:  # the persistent models serve the next day: never leave a fixed past behind
            for lp in loops:
                lp.close()
    executed = days[0]
    deal: Deal | None = None
    if mode.bargaining:  # the coalition's day against the no-P2P day
        deal = settle_day(sc, days[0], days[1], conduct)
        executed = deal.executed
    values: dict[frozenset[str], float] = {}
    if deal is not None and sc.market.audit and not mpc:  # SPEC §8's audit: v(T) of every coalition of 2+ parks
        values = coalition_values(sc, mods, data, start, dict(zip(cases, days, strict=True)))
    t_solve = time.perf_counter()
    paused_solve = paused
    ts: pd.DataFrame | None = None
    if not mpc:  # the day was solved in one go: execute its quarter-hours
        ts = _timeseries(executed, d, run)
        if live is not None:
            live.show(ts)
        for k in range(1, n + 1):
            t_y = time.perf_counter()
            yield k
            paused += time.perf_counter() - t_y

    kpis: dict[str, Any] = {"run": run.name, "mode": run.mode, "seed": run.seed, "point": run.point, "day": d + 1,
                            "day_of_year": doy, "n_scenarios": data.n_scenarios,
                            "mpc_solves": sum(e.rt_solves for e in (solved[c] for c in unique)) if mpc else 0}
    kpis.update(_kpis(sc, executed))
    parks = sc.park_names
    if deal is not None:
        kpis["total_cost"] = deal.total_cost
        kpis["coalition_formed"] = float(deal.formed)
        kpis["surplus"] = deal.surplus
        for p in parks:
            kpis[f"standalone_cost_{p}"] = deal.standalone[p]
            kpis[f"coalition_cost_{p}"] = deal.own[p]
            kpis[f"final_cost_{p}"] = deal.final[p]
            kpis[f"gain_{p}"] = deal.gain[p]
            kpis[f"payment_{p}"] = deal.payment[p]
            kpis[f"weight_{p}"] = deal.weight[p]
        conduct.feedback = deal.feedback(d + 1)
    else:
        for p in parks:
            kpis[f"final_cost_{p}"] = executed.park_cost[p]
    end = _end_state(sc, executed)
    for p in parks:
        kpis[f"ess_start_kwh_{p}"] = start[p]
        kpis[f"ess_end_kwh_{p}"] = end.ess_kwh[p]
    ts = ts if ts is not None else _timeseries(executed, d, run)
    agents = _agent_records(sc, executed, deal, conduct, values, start, end.ess_kwh, d, run)
    t_end = time.perf_counter()
    distinct = list({id(e): e for e in days}.values())  # a day solved once counts once
    solve_s = sum(e.solve_s for e in distinct)
    handover_s = sum(e.handover_s for e in distinct)
    build_s = mods.build_s - built0
    return DayOutcome(kpis, ts, end, {"data_s": t_data - t0, "build_s": build_s, "handover_s": handover_s,
                                      "solve_s": solve_s, "mpc_s": mpc_s,
                                      "model_s": t_solve - t_data - paused_solve,
                                      "check_s": t_end - t_solve - (paused - paused_solve),
                                      "total_s": t_end - t0 - paused}, agents)


@dataclass
class Deal:
    """The settlement of a bargaining day (SPEC §5.5 NB-2, §8), every number a park's true one (the scenario's
    currency).

    ``members`` bargained over the coalition's day against the no-P2P day; ``allocation`` is NB-2 on their
    *reported* standalone costs (``reported``; ``None`` with fewer than two members: nothing to share);
    ``executed``: the coalition's day when it formed, else the no-P2P day.  Per park: ``standalone`` = its true
    ``C^0`` (its cost in the no-P2P day), ``own`` = its cost in the executed day, ``payment`` (NB-2; 0 outside the
    coalition), ``final`` = own + payment, ``gain`` = standalone − final, ``weight`` = its W-4 weight (0 outside).
    ``surplus``: the surplus NB-2 shared on the reports (``Σ (Ĉ^0_n − C^*_n)`` before the guard; 0 without a
    bargaining); ``true_surplus``: ``Σ_{n∈T} (C^0_n − C^*_n)`` with the true ``C^0`` (0 when it did not form)."""

    members: tuple[str, ...]
    allocation: Allocation | None
    executed: Executed
    reported: dict[str, float]
    standalone: dict[str, float]
    own: dict[str, float]
    payment: dict[str, float]
    final: dict[str, float]
    gain: dict[str, float]
    weight: dict[str, float]
    total_cost: float
    surplus: float
    true_surplus: float

    @property
    def formed(self) -> bool:
        return self.allocation is not None and self.allocation.coalition_formed

    def feedback(self, day: int) -> dict[str, DayFeedback]:
        """Each park's true outcome of day ``day`` (1-based) for its behaviour."""
        return {p: DayFeedback(day, p in self.members, self.standalone[p], self.final[p],
                               self.true_surplus if p in self.members else 0.0) for p in self.standalone}


def settle_day(sc: ThreeCampusScenario, coalition: Executed, standalone: Executed, conduct: Conduct) -> Deal:
    """NB-2 over the day's members (SPEC §5.5, §8): ``C^0`` as reported (the true no-P2P cost with
    ``market.verify_standalone``), ``C^*`` and the exchange from the coalition's day, ``kappa`` = ``market.kappa``.

    With fewer than two members nothing is shared (the coalition's day is then the no-P2P day).  A coalition NB-2
    rejects (surplus on the reports < 0) is not formed: every park executes the no-P2P day, no payments.  Outsiders
    pay and receive nothing; their own cost is the one they have in the executed day."""
    parks = sc.park_names
    members = tuple(p for p in parks if p in conduct.members)
    true_c0 = {p: float(standalone.park_cost[p]) for p in parks}
    reported = {p: conduct.reported(p, true_c0[p], sc.market.verify_standalone) for p in parks}
    alloc = bargaining(sc, coalition, standalone, sc.market.kappa, members, reported) if len(members) >= 2 else None
    formed = alloc is not None and alloc.coalition_formed
    executed = coalition if formed else standalone
    idx = {p: i for i, p in enumerate(alloc.participants)} if alloc is not None else {}
    own = {p: float(executed.park_cost[p]) for p in parks}
    payment, final, gain, weight = {}, {}, {}, {}
    for p in parks:
        if formed and alloc is not None and p in idx:  # rejected: no payments, every cost the true no-P2P one
            i = idx[p]
            payment[p], final[p] = float(alloc.payment[i]), float(alloc.final_cost[i])
            own[p] = float(alloc.coalition_cost[i])
            gain[p] = float(alloc.gain[i]) if reported[p] == true_c0[p] else true_c0[p] - final[p]
            weight[p] = float(alloc.weight[i])
        else:
            payment[p], final[p], gain[p] = 0.0, own[p], true_c0[p] - own[p]
            weight[p] = float(alloc.weight[idx[p]]) if alloc is not None and p in idx else 0.0
    fin = np.array([final[p] for p in parks])  # alloc.final_cost itself when every park is a member
    total = float((alloc.final_cost if formed and alloc is not None and len(members) == len(parks) else fin).sum())
    surplus = 0.0 if alloc is None else float(alloc.surplus_raw if alloc.surplus_raw is not None else alloc.surplus)
    true_surplus = math.fsum(true_c0[p] - float(coalition.park_cost[p]) for p in members) if formed else 0.0
    return Deal(members, alloc, executed, reported, true_c0, own, payment, final, gain, weight, total, surplus,
                true_surplus)


def coalition_values(sc: ThreeCampusScenario, mods: CampusModels, data: CampusDayData, start: dict[str, float],
                     solved: Mapping[CloudCase, Executed]) -> dict[frozenset[str], float]:
    """``v(T)`` of every coalition ``T`` of two or more parks (SPEC §8): the members' realised cost in the cloud
    day with P2P only inside ``T`` and every member offering all its flexibility
    (:func:`~sim.systems.three_campus.cloud.coalition_case`), planned and replayed on the day's persistent models;
    a day already solved (``solved``: case -> day, e.g. the executed grand coalition) is not solved again."""
    parks = sc.park_names
    days = dict(solved)
    out: dict[frozenset[str], float] = {}
    for k in range(2, len(parks) + 1):
        for t in itertools.combinations(parks, k):
            case = coalition_case(sc, t)
            if case not in days:
                days[case] = _plan_and_replay(mods, data, start, case)
            out[frozenset(t)] = math.fsum(days[case].park_cost[p] for p in t)
    return out


def _agent_records(sc: ThreeCampusScenario, ex: Executed, deal: Deal | None, conduct: Conduct,
                   values: Mapping[frozenset[str], float], start: Mapping[str, float], end: Mapping[str, float],
                   d: int, run: RunSpec) -> pd.DataFrame:
    """Per park (agent type ``CampusAgent``, its behaviour's id) on the executed day, in the scenario's currency
    and kWh.

    ``own_cost``: the park's realised operating cost plus its own deviation penalties (lines split half
    and half); ``standalone_cost`` ``C0_n`` and ``gain`` = ``C0_n`` − final cost exist only where the parks
    bargained (NaN otherwise); ``final_cost`` = own cost + ``payment`` (NB-2) after the settlement;
    energies are summed over the 96 quarter-hours (``exchanged_in/out``: net P2P import / export);
    ``curtailment_kwh``: available minus used PV and wind; storage energy at the day's start and end; the
    behaviour's parameters of the day (``param_<name>``).  On a bargaining day also the behaviour records of
    :func:`sim.systems.three_campus.behaviours.park_behaviour_rows` and, on an audited day (``market.audit``),
    ``shapley_gain`` per park and the coordinator's (``agent_id`` ``market``, type ``Coordinator``) audit records
    (:func:`sim.systems.three_campus.behaviours.audit_rows`).
    """
    cur = sc.currency
    rows: list[tuple[str, str, str, str, float, str]] = []
    zero = np.zeros(RT_HORIZON.n)
    for park in sc.parks:
        n = park.name
        bid = conduct.label(n)
        prof = {var: ex.profiles.get((n, var), zero) for var in ("grid_buy_kw", "grid_sell_kw", "p2p_net_in_kw",
                                                                  "pv_kw", "pv_available_kw", "wind_kw",
                                                                  "wind_available_kw")}
        own = float(ex.park_cost[n])
        if deal is not None:
            standalone, final, payment, gain = deal.standalone[n], deal.final[n], deal.payment[n], deal.gain[n]
        else:
            standalone, final, payment, gain = math.nan, own, 0.0, math.nan
        curtailed = DT_H * float((prof["pv_available_kw"] - prof["pv_kw"]).sum()
                                 + (prof["wind_available_kw"] - prof["wind_kw"]).sum())
        net_in = prof["p2p_net_in_kw"]
        for var, val, unit in (
            ("own_cost", own, cur), ("standalone_cost", standalone, cur), ("final_cost", final, cur),
            ("payment", payment, cur), ("gain", gain, cur),
            ("energy_bought_kwh", DT_H * float(prof["grid_buy_kw"].sum()), "kWh"),
            ("energy_sold_kwh", DT_H * float(prof["grid_sell_kw"].sum()), "kWh"),
            ("exchanged_in_kwh", DT_H * float(np.clip(net_in, 0.0, None).sum()), "kWh"),
            ("exchanged_out_kwh", DT_H * float(np.clip(-net_in, 0.0, None).sum()), "kWh"),
            ("curtailment_kwh", curtailed, "kWh"),
            ("storage_start_kwh", float(start[n]), "kWh"), ("storage_end_kwh", float(end[n]), "kWh"),
        ):
            rows.append((n, "CampusAgent", bid, var, val, unit))
    if deal is None:  # no bargaining: only the behaviour's parameters of the day (e.g. a forecaster's b and sigma)
        rows += [(n, "CampusAgent", conduct.label(n), f"param_{k}", float(v), "1")
                 for n in sc.park_names for k, v in conduct.behaviours[n].parameters_of_day().items()]
        return agent_records(run.name, run.mode, d + 1, rows)
    rows += [(n, "CampusAgent", conduct.label(n), var, val, unit)
             for n, var, val, unit in park_behaviour_rows(sc, conduct, deal.reported)]
    if values:
        for n, var, val, unit in audit_rows(sc.park_names, deal.standalone, deal.final, values, cur):
            kind, bid = ("CampusAgent", conduct.label(n)) if n in deal.standalone else ("Coordinator", "-")
            rows.append((n, kind, bid, var, val, unit))
    return agent_records(run.name, run.mode, d + 1, rows)


def simulate_campus_day(
    sc: ThreeCampusScenario,
    run: RunSpec,
    settings: SimSettings,
    d: int,
    state: CarryState,
    weather: WeatherModel | None = None,
    models: CampusModels | None = None,
    mode: CampusMode | None = None,
    conduct: Conduct | None = None,
) -> DayOutcome:
    """Day ``d`` (0-based) of ``run`` on the three-campus scenario ``sc``, starting from ``state``.

    ``conduct``: what the parks' behaviours decided for the day (SPEC §8, :mod:`sim.systems.three_campus.behaviours`;
    default: every park truthful).

    ``run.mode`` is one of :data:`CAMPUS_MODES`, ``settings.replay`` ``oracle`` or ``mpc``;
    ``run.overrides`` are not applied here (pass the scenario with them applied).  ``weather`` and
    ``models`` are built when not given (``models``: :func:`campus_models`; a run passes its own, built
    once).  The whole day at once: :func:`simulate_campus_day_steps` drained.
    Returns KPIs (``run, mode, seed, point, day, day_of_year, n_scenarios, mpc_solves`` (the RT
    re-solves of the ``mpc`` replay, both days of ``cooperative`` counted; 0 under ``oracle``), the
    plan's ``plan_*`` (for a method other than ``cvar`` also ``plan_historical_cost`` H,
    ``plan_worst_cost`` W, ``plan_worst_sample_cost``, ``plan_iterations`` and
    ``plan_da_pairs_both_ways``, SPEC §6.4, over the day's reduced scenarios), the
    :data:`sim.engine.run.KPI_COLUMNS` with NaN where they do not apply, the campus KPIs and per-park
    ``cost_/final_cost_/ess_start_kwh_/ess_end_kwh_<park>``; for ``cooperative`` also
    ``gain_/payment_/weight_/standalone_cost_/coalition_cost_<park>``), the long time series of the
    executed day (DA plan and realised RT block), the end state and timings (``mpc_s``: wall seconds
    of the receding loop, 0 under ``oracle``).
    """
    return drain(simulate_campus_day_steps(sc, run, settings, d, state, weather, models, mode, conduct))


def simulate_campus_days(sc: ThreeCampusScenario, run: RunSpec, settings: SimSettings,
                         state: CarryState | None = None, first_day: int = 0) -> list[DayOutcome]:
    """Days ``first_day .. run.days - 1`` of ``run`` with one set of persistent models, the state carried."""
    wm = campus_weather_model(sc, settings)
    models = campus_models(sc, settings)
    st = state or CarryState()
    out = []
    for d in range(first_day, run.days):
        o = simulate_campus_day(sc, run, settings, d, st, wm, models)
        out.append(o)
        st = o.state
    return out


def kpi_frame(outcomes: Sequence[DayOutcome] | Mapping[str, DayOutcome]) -> pd.DataFrame:
    """The KPI rows of several days or modes as one frame."""
    rows = outcomes.values() if isinstance(outcomes, Mapping) else outcomes
    return pd.DataFrame([o.kpis for o in rows])

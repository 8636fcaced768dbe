r"""The rural biogas-power-heat campus of paper 002 as a two-stage LP (SPEC §3.8, §3.6b, §6.4).

First stage ``x``: the day-ahead trading power ``P^tr_t`` (24 × 1 h, bounds of the scenario), cost
``C^DA = Σ_t p_t P^tr_t Δt``.  Recourse of reference sample ``k`` (the realised day
``P^v = P^{v,f}(1+u^v_k)``, ``P^d = P^{d,f}(1+u^p_k)``, ``H^d = H^{d,f}(1+u^h_k)``): intraday buy/sell,
biogas generator fed by the digester and gas holder, waste-heat recovery, electric boiler, heat
pump, power storage (no binary), heat storage, transferable load, PV curtailment with a penalty and
the slacks below, with BAL2-E and BAL2-H every hour; its cost is 002's intraday cost ``Q`` (SPEC
§3.8) plus the curtailment penalty and the slack cost.  The model is a pure LP: no binary or integer
column anywhere (checked by the tests).

Relatively complete recourse (SPEC §6.4, §6.6 step 4)
----------------------------------------------------
:class:`sim.uncertainty.TwoStageDRO` needs ``Q(x, u_k) < ∞`` for every ``x ∈ X`` and every sample.
Two things could break it:

* *too much power* (``P^tr`` at its upper bound, PV +30 %, loads −30 %): PV curtailment
  (``pv.curtailment_cost_per_kwh``, SPEC §3.8 `[proposed]`) and the intraday sale absorb it at the
  default data, but not for every scenario a user may write (``P^tr`` bound above the sale limit);
* *too little* (``P^tr`` at its lower bound, loads +30 %, PV −30 %): covered by the intraday
  purchase at the default data, but not if the purchase limit is cut.

So every recourse copy carries three non-negative slacks per hour, priced at
``VOLL = voll_factor × the highest price of the day`` (SPEC §6.6 step 4; 12 CNY/kWh by default):
``shed_kw`` (power load not served), ``spill_kw`` (power that cannot be absorbed) and
``heat_shortfall_kw`` (heat load not served; heat never needs a spill, since every heat source can
be turned down to 0 and the generator's heat is vented).  With them ``Y(x, u)`` is non-empty for every
``x`` and ``u``.  At the default data the slacks stay at 0 even in the ±30 % worst case with ``P^tr`` at
either bound (test ``test_worst_case_recourse_needs_no_slack``).  The gas chain (generator + holder)
depends on neither ``x`` nor ``u``; its feasibility is checked once by the loader.

Public API
----------
* :func:`sample_errors` — ``M`` historical error days → ``K`` reference samples with weights ``p0``.
* :class:`RuralCampus` — builds the :class:`~sim.uncertainty.TwoStageLP` from a scenario and samples.
* :func:`build_rural_day` → :class:`RuralDay` (samples, Ψ and one persistent :class:`TwoStageDRO`;
  solve many methods on it, extract the tidy dispatch of any plan);
* :func:`solve_rural_day` — the one-call version: sample, build, solve one method, extract.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from agents.devices import Bus, DeviceHandle, Horizon, build_renewable, param_values
from agents.milp import SolverOptions
from agents.rural_devices import (
    HeatBus,
    build_biogas_generator,
    build_biogas_storage,
    build_da_trading,
    build_electric_boiler,
    build_fixed_load,
    build_heat_pump,
    build_heat_storage,
    build_intraday_trading,
    build_power_storage,
    build_transferable_load,
    build_waste_heat_recovery,
    close_rural_buses,
)
from scenarios.schema import RuralIESScenario
from sim.uncertainty import (
    AmbiguitySet,
    DROResult,
    Evaluation,
    TwoStageDRO,
    TwoStageLP,
    ambiguity_radii,
    check_method,
    historical_errors,
    reference_samples,
)

log = logging.getLogger(__name__)

#: Order of the error series in :func:`sim.uncertainty.historical_errors`: u^v (PV), u^p (power load), u^h (heat).
ERROR_SERIES = ("pv", "power_load", "heat_load")

#: Tidy dispatch columns (DESIGN principle 9).
DISPATCH_COLUMNS = ("method", "sample", "period", "entity", "variable", "value", "unit")


# ====================================================================== reference samples


@dataclass(frozen=True, eq=False)
class ErrorSamples:
    """``K`` reference samples of relative forecast errors and their historical weights ``p_{k,0}``.

    ``u_pv``, ``u_power``, ``u_heat`` have shape ``(K, T)``; the realised day of sample ``k`` is
    ``forecast × (1 + u[k])``.  ``M`` is the number of historical days they were reduced from.
    """

    u_pv: np.ndarray
    u_power: np.ndarray
    u_heat: np.ndarray
    p0: np.ndarray
    M: int

    def __post_init__(self) -> None:
        shapes = {a.shape for a in (self.u_pv, self.u_power, self.u_heat)}
        if len(shapes) != 1 or len(next(iter(shapes))) != 2:
            raise ValueError(f"ErrorSamples: u_pv, u_power, u_heat must share one (K, T) shape, got {shapes}")
        K = self.u_pv.shape[0]
        p0 = np.asarray(self.p0, dtype=float)
        if p0.shape != (K,) or np.any(p0 < 0) or abs(p0.sum() - 1.0) > 1e-9:
            raise ValueError(f"ErrorSamples.p0 must hold K = {K} weights >= 0 summing to 1, got {p0}")
        if np.any(np.concatenate([self.u_pv, self.u_power, self.u_heat]) <= -1):
            raise ValueError("ErrorSamples: relative errors must be > -1 (a realised value cannot be negative)")
        for name in ("u_pv", "u_power", "u_heat", "p0"):
            arr = np.array(getattr(self, name), dtype=float)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    @property
    def K(self) -> int:
        return int(self.p0.size)

    def realised(self, scenario: RuralIESScenario, k: int) -> dict[str, np.ndarray]:
        """Realised PV, power load and heat load of sample ``k`` (``forecast × (1 + u_k)``)."""
        return {
            "pv_kw": scenario.pv_forecast_kw * (1.0 + self.u_pv[k]),
            "power_load_kw": scenario.power_load_kw * (1.0 + self.u_power[k]),
            "heat_load_kw": scenario.heat_load_kw * (1.0 + self.u_heat[k]),
        }


def sample_errors(scenario: RuralIESScenario, rng: np.random.Generator) -> ErrorSamples:
    """Draw ``M`` historical error days and reduce them to ``K`` reference samples (SPEC §6.4).

    :func:`sim.uncertainty.historical_errors` draws ``(M, 3, T)`` relative errors (series in the
    order of :data:`ERROR_SERIES`; AR(1) ``ar1_phi``, marginal ``N(0, sigma²)``, clipped to
    ``±error_bound``) and :func:`sim.uncertainty.reference_samples` reduces them by k-means to the
    cluster means with ``p_{k,0} = |cluster k| / M``.  Both draw from ``rng``, in that order.
    """
    u = scenario.uncertainty
    hist = historical_errors(rng, u.M, len(ERROR_SERIES), scenario.horizon.n, phi=u.ar1_phi, sigma=u.sigma,
                             bound=u.error_bound)
    centroids, p0, _ = reference_samples(hist, u.K, rng)
    return ErrorSamples(u_pv=centroids[:, 0, :], u_power=centroids[:, 1, :], u_heat=centroids[:, 2, :],
                        p0=p0, M=u.M)


# ====================================================================== the campus


def build_recourse_slacks(
    block: pyo.Block, horizon: Horizon, bus: Bus, heat: HeatBus, voll_per_kwh: float
) -> DeviceHandle:
    r"""Slacks that make the recourse relatively complete (SPEC §6.6 step 4, `[proposed]`).

    .. math::

        s^{shed}_t, s^{spill}_t, s^{heat}_t \ge 0,\qquad
        \text{cost } c^{VOLL}\textstyle\sum_t (s^{shed}_t + s^{spill}_t + s^{heat}_t)\Delta t

    Injections ``s^shed - s^spill`` on the electric bus and ``s^heat`` on the heat bus.  ``voll_per_kwh``
    is the mutable Param ``voll_per_kwh``.
    """
    T = horizon.periods
    dt = horizon.dt_h
    b = block
    b.T = pyo.Set(initialize=T, ordered=True, doc="periods")
    b.voll_per_kwh = pyo.Param(initialize=voll_per_kwh, mutable=True, doc="value of lost load [currency/kWh]")
    b.shed_kw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="power load not served [kW] (slack)")
    b.spill_kw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="power that cannot be absorbed [kW] (slack)")
    b.heat_shortfall_kw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="heat load not served [kW_th] (slack)")
    for t in T:
        bus.inject(t, b.shed_kw[t] - b.spill_kw[t])
        heat.inject(t, b.heat_shortfall_kw[t])
    bus.cost.append(b.voll_per_kwh * dt * pyo.quicksum(b.shed_kw[t] + b.spill_kw[t] for t in T))
    heat.cost.append(b.voll_per_kwh * dt * pyo.quicksum(b.heat_shortfall_kw[t] for t in T))
    return DeviceHandle(block=b, outputs={"shed_kw": (b.shed_kw, "kW"), "spill_kw": (b.spill_kw, "kW"),
                                          "heat_shortfall_kw": (b.heat_shortfall_kw, "kW_th")})


@dataclass(frozen=True)
class OutputSpec:
    """One extracted series of a recourse block: ``entity`` (sub-block), component, variable name, unit."""

    entity: str
    component: str
    variable: str
    unit: str
    is_var: bool


class RuralCampus:
    """Builder of paper 002's rural campus as a :class:`~sim.uncertainty.TwoStageLP` (Mesa-free).

    ``two_stage_lp(samples)`` returns the problem; :class:`~sim.uncertainty.TwoStageDRO` builds it
    once (first stage into ``m.fs``, recourse ``k`` into ``m.rec[k]``).  The sub-blocks of a recourse
    copy are the entities of the tidy dispatch: ``power_load``, ``heat_load``, ``pv``, ``grid``
    (intraday), ``transferable_load``, ``biogas_generator``, ``waste_heat``, ``biogas_storage``,
    ``electric_boiler``, ``heat_pump``, ``power_storage``, ``heat_storage``, ``slack``.
    """

    #: name of the first-stage variable in :attr:`DROResult.x` (relative to the first-stage block)
    X_NAME = "p_tr_kw"

    def __init__(self, scenario: RuralIESScenario, name: str | None = None) -> None:
        self.scenario = scenario
        self.name = name or scenario.name
        self._outputs: list[OutputSpec] | None = None

    # ------------------------------------------------------------------ builders
    def build_first_stage(self, block: pyo.Block) -> tuple[Any, list[Any]]:
        """``P^tr_t`` in ``[p_min_kw, p_max_kw]`` with cost ``C^DA`` (``block.cost``).

        Built with :func:`~agents.rural_devices.build_da_trading` and no buses: the recourse copies
        inject ``P^tr_t`` into their own buses (:meth:`build_recourse`).
        """
        s = self.scenario
        build_da_trading(block, s.da_trading, s.horizon, s.da_price, [])
        return block.cost, [block.p_tr_kw]

    def build_recourse(
        self, block: pyo.Block, realised: Mapping[str, np.ndarray], first_stage: pyo.Block
    ) -> Any:
        """Intraday dispatch of one realised day (``pv_kw``, ``power_load_kw``, ``heat_load_kw``) into
        ``block``, given the first stage ``first_stage.p_tr_kw``; returns the recourse cost expression."""
        s = self.scenario
        h = s.horizon
        bus, heat = Bus(h), HeatBus(h)
        b = block
        for t in h.periods:
            bus.inject(t, first_stage.p_tr_kw[t])  # BAL2-E: + P^tr_t
        handles: dict[str, DeviceHandle] = {}

        def sub(name: str) -> pyo.Block:
            blk = pyo.Block()
            b.add_component(name, blk)
            return blk

        handles["power_load"] = build_fixed_load(sub("power_load"), h, bus, realised["power_load_kw"])
        handles["heat_load"] = build_fixed_load(sub("heat_load"), h, heat, realised["heat_load_kw"])
        handles["pv"] = build_renewable(sub("pv"), s.pv, h, bus, realised["pv_kw"])
        handles["grid"] = build_intraday_trading(sub("grid"), s.intraday_trading, h, bus, s.buy_price, s.sell_price)
        handles["transferable_load"] = build_transferable_load(sub("transferable_load"), s.transferable_load, h, bus)
        gen = build_biogas_generator(sub("biogas_generator"), s.biogas_generator, h, bus)
        handles["biogas_generator"] = gen
        handles["waste_heat"] = build_waste_heat_recovery(sub("waste_heat"), h, heat, gen.block.heat_kw)
        handles["biogas_storage"] = build_biogas_storage(sub("biogas_storage"), s.biogas_storage, h,
                                                         s.biogas_production_m3_per_h, [gen.block.gas_m3_per_h])
        handles["electric_boiler"] = build_electric_boiler(sub("electric_boiler"), s.electric_boiler, h, bus, heat)
        handles["heat_pump"] = build_heat_pump(sub("heat_pump"), s.heat_pump, h, bus, heat)
        handles["power_storage"] = build_power_storage(sub("power_storage"), s.power_storage, h, bus)
        handles["heat_storage"] = build_heat_storage(sub("heat_storage"), s.heat_storage, h, heat)
        handles["slack"] = build_recourse_slacks(sub("slack"), h, bus, heat, s.voll_per_kwh)
        close_rural_buses(b, bus, heat)
        if self._outputs is None:
            self._outputs = [
                OutputSpec(entity, comp.local_name, var_name, unit, isinstance(comp, pyo.Var))
                for entity, handle in handles.items() for var_name, (comp, unit) in handle.outputs.items()
            ]
        return b.cost

    def two_stage_lp(self, samples: ErrorSamples) -> TwoStageLP:
        """The two-stage LP over the reference samples (``n_samples = samples.K``)."""
        s = self.scenario

        def recourse(block: Any, k: int, first_stage: Any) -> Any:
            return self.build_recourse(block, samples.realised(s, k), first_stage)

        return TwoStageLP(samples.K, self.build_first_stage, recourse, name=self.name)

    @property
    def outputs(self) -> list[OutputSpec]:
        """What :func:`dispatch_frame` extracts per sample (known once a recourse has been built)."""
        if self._outputs is None:
            raise RuntimeError("RuralCampus.outputs: no recourse block has been built yet")
        return list(self._outputs)


# ====================================================================== one day: samples, Ψ, persistent DRO


@dataclass
class RuralDayResult:
    """A solved day: the method's :class:`DROResult`, the tidy ``dispatch`` of its plan on every sample
    (:data:`DISPATCH_COLUMNS`), per-sample costs and the :class:`RuralDay` it came from."""

    result: DROResult
    evaluation: Evaluation
    dispatch: pd.DataFrame
    sample_costs: pd.DataFrame
    day: RuralDay


@dataclass
class RuralDay:
    """Reference samples, Ψ and one persistent :class:`TwoStageDRO` of the rural campus.

    Build with :func:`build_rural_day`.  :meth:`solve` runs any method on the same master model
    (nothing is rebuilt); :meth:`dispatch` evaluates a plan and extracts the dispatch of every sample.
    """

    scenario: RuralIESScenario
    samples: ErrorSamples
    campus: RuralCampus
    problem: TwoStageLP
    ambiguity: AmbiguitySet
    dro: TwoStageDRO
    build_s: float = 0.0
    results: dict[str, DROResult] = field(default_factory=dict)

    def solve(self, method: str | None = None, **kwargs: Any) -> DROResult:
        """:meth:`TwoStageDRO.solve` with the scenario's method, ``lam``, ``cvar_beta`` and ``epsilon``
        unless given (keywords as ``TwoStageDRO.solve``: ``lam``, ``beta``, ``solver``, ``eps``, ...)."""
        u = self.scenario.uncertainty
        method = check_method(method or u.method)
        kwargs.setdefault("lam", u.lam)
        kwargs.setdefault("beta", u.cvar_beta)
        kwargs.setdefault("eps", u.epsilon)
        res = self.dro.solve(method, **kwargs)
        self.results[method] = res
        log.info("%s %s: H %.6g W %.6g (%d iterations, %.3g s HiGHS)", self.campus.name, method,
                 res.historical_cost, res.worst_cost, res.iterations, res.solve_s)
        return res

    def evaluate(self, x: Mapping[str, Any] | DROResult) -> Evaluation:
        """``c'x``, ``Q_k(x)``, ``H``, ``W`` of a plan (fixes ``x`` in the live master and solves)."""
        plan = x.x if isinstance(x, DROResult) else x
        return self.dro.evaluate(plan)

    def dispatch(self, x: Mapping[str, Any] | DROResult, method: str | None = None
                 ) -> tuple[Evaluation, pd.DataFrame, pd.DataFrame]:
        """Evaluate a plan and return ``(evaluation, dispatch, sample_costs)`` (see :func:`dispatch_frame`)."""
        label = method or (x.method if isinstance(x, DROResult) else "plan")
        ev = self.evaluate(x)
        return ev, dispatch_frame(self, label), sample_cost_frame(self, ev, label)


def build_rural_day(
    scenario: RuralIESScenario,
    rng: np.random.Generator | None = None,
    *,
    seed: int | None = None,
    samples: ErrorSamples | None = None,
    options: SolverOptions | None = None,
) -> RuralDay:
    """Draw the reference samples (from ``rng``, else ``default_rng(seed)``, else the scenario seed),
    build Ψ from :func:`~sim.uncertainty.ambiguity_radii` ``(M, K, alpha_1, alpha_inf)`` and the
    persistent :class:`TwoStageDRO`.  ``samples`` skips the draw."""
    t0 = time.perf_counter()
    if samples is None:
        if rng is not None and seed is not None:
            raise ValueError("build_rural_day: give rng or seed, not both")
        gen = rng if rng is not None else np.random.default_rng(scenario.seed if seed is None else seed)
        samples = sample_errors(scenario, gen)
    u = scenario.uncertainty
    theta_1, theta_inf = ambiguity_radii(samples.M, samples.K, u.alpha_1, u.alpha_inf)
    psi = AmbiguitySet(samples.p0, theta_1, theta_inf)
    campus = RuralCampus(scenario)
    problem = campus.two_stage_lp(samples)
    dro = TwoStageDRO(problem, psi, options)
    return RuralDay(scenario, samples, campus, problem, psi, dro, build_s=time.perf_counter() - t0)


def solve_rural_day(
    scenario: RuralIESScenario,
    method: str | None = None,
    *,
    rng: np.random.Generator | None = None,
    seed: int | None = None,
    day: RuralDay | None = None,
    options: SolverOptions | None = None,
    **solve_kwargs: Any,
) -> RuralDayResult:
    """Solve one day with ``method`` (default: the scenario's ``uncertainty.method``) and extract the
    dispatch of the chosen plan on every reference sample.

    Pass ``day`` (from :func:`build_rural_day` or an earlier result's ``.day``) to reuse the persistent
    model for another method; otherwise a day is built from ``rng``/``seed``/the scenario seed.
    """
    if day is None:
        day = build_rural_day(scenario, rng, seed=seed, options=options)
    elif day.scenario is not scenario:
        raise ValueError("solve_rural_day: the given day was built for another scenario")
    res = day.solve(method, **solve_kwargs)
    ev, disp, costs = day.dispatch(res)
    return RuralDayResult(result=res, evaluation=ev, dispatch=disp, sample_costs=costs, day=day)


# ====================================================================== extraction


def dispatch_frame(day: RuralDay, method: str) -> pd.DataFrame:
    """Tidy dispatch of the last solve of ``day.dro`` (normally an evaluation of a fixed plan).

    Columns :data:`DISPATCH_COLUMNS`; one row per sample, period and series: the first stage
    ``da_trading.da_trade_kw`` (repeated per sample), every device output of the recourse (variables
    and the realised profiles, e.g. ``pv.pv_available_kw``, ``power_load.power_load_kw``) and the
    derived ``pv.pv_curtailed_kw``.
    """
    m = day.dro.model
    hm = day.dro.hm
    T = day.scenario.horizon.periods
    n = len(T)
    periods = np.asarray(T, dtype=np.int64)
    x = hm.values(m.fs.p_tr_kw, T)
    entities: list[str] = []
    variables: list[str] = []
    units: list[str] = []
    samples: list[int] = []
    values: list[np.ndarray] = []

    def add(k: int, entity: str, variable: str, unit: str, v: np.ndarray) -> None:
        entities.append(entity)
        variables.append(variable)
        units.append(unit)
        samples.append(k)
        values.append(np.asarray(v, dtype=float))

    outputs = day.campus.outputs
    for k in range(day.problem.n_samples):
        rec = m.rec[k]
        add(k, "da_trading", "da_trade_kw", "kW", x)
        pv: dict[str, np.ndarray] = {}
        for o in outputs:
            comp = rec.component(o.entity).component(o.component)
            v = hm.values(comp, T) if o.is_var else param_values(comp)
            add(k, o.entity, o.variable, o.unit, v)
            if o.entity == "pv":
                pv[o.variable] = v
        add(k, "pv", "pv_curtailed_kw", "kW", pv["pv_available_kw"] - pv["pv_kw"])
    n_series = len(values)
    return pd.DataFrame({
        "method": method,
        "sample": np.repeat(np.asarray(samples, dtype=np.int64), n),
        "period": np.tile(periods, n_series),
        "entity": np.repeat(np.asarray(entities, dtype=object), n),
        "variable": np.repeat(np.asarray(variables, dtype=object), n),
        "value": np.concatenate(values) if values else np.zeros(0),
        "unit": np.repeat(np.asarray(units, dtype=object), n),
    }, columns=list(DISPATCH_COLUMNS))


def sample_cost_frame(day: RuralDay, ev: Evaluation, method: str) -> pd.DataFrame:
    """Per-sample table: ``p0``, worst-case ``p`` of Ψ, recourse cost ``Q_k`` and total ``c'x + Q_k``."""
    K = day.problem.n_samples
    return pd.DataFrame({
        "method": method,
        "sample": np.arange(K),
        "p0": day.ambiguity.p0,
        "p_worst": ev.worst_p,
        "recourse_cost": ev.recourse_costs,
        "total_cost": ev.first_stage_cost + ev.recourse_costs,
    })


def method_table(results: Sequence[DROResult]) -> pd.DataFrame:
    """One row per result (:meth:`DROResult.summary`)."""
    return pd.DataFrame([r.summary() for r in results])

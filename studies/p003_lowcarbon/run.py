"""The low-carbon campus study of paper 003: six configurations, three uncertainty sets, report (issue 6).

``python run_sim.py study lowcarbon --out DIR [--quick --seed N --workers W]`` calls
:func:`run_lowcarbon_study`, which

1. draws the wind data of 003 from the real-data Monte Carlo model (:func:`sim.weather.wind_days.wind_day_samples`:
   a 365-day history and its 2000-sample expansion, two 300 MW farms), fits the Dirichlet-process GMM
   (:func:`~agents.decision.wind_sets.fit_dpgmm`, in the first ``pca_dim`` principal components), calibrates Γ so
   that ``coverage`` of the samples lie in the union of ellipsoids, and builds the data-driven vertex set
   (:func:`~agents.decision.wind_sets.data_driven_set`) and, from the same samples, the box and polyhedral sets;
2. solves every configuration of the scenario (003 §4.1, S1–S6, :class:`~scenarios.lowcarbon_loader.LowCarbonVariant`)
   with the two-stage robust engine (:class:`agents.decision.robust.TwoStageRobust`, C&CG; the first stage is the
   thermal units' commitment).  The deterministic configuration (S1) is planned on the forecast (the
   hourly sample mean) and scored ex post at its worst case over the same data-driven set (SPEC §6.5
   "Evaluating scenario 1"), so all six totals are worst-case costs of a first-stage plan;
3. solves the full configuration (S5) again over the box and the polyhedral set of SPEC §6.5 (003 Table 3;
   ``compare``, default both).  These sets live in all 24 hours (24 and 48 binaries) and their exact
   worst-case MILPs do not finish within 300 s, so they get :meth:`~agents.decision.robust.TwoStageRobust.bound`: C&CG
   with the heuristic worst case, whose master bound is a *proven lower bound* of the set's robust cost
   (``lower_bound``); ``total`` is that plan's cost at the worst member found.  The data-driven total is
   an exact C&CG upper bound, so "data-driven < box" is proven when it lies below the box's lower bound;
4. scores every plan out of sample on ``replay_days`` independent wind days (the recourse LP per day);
5. writes the tables below, ``figures/*.png`` and ``report.md`` (:mod:`studies.p003_lowcarbon.report`).

Files (tidy tables)
-------------------
- ``costs.csv``: one row per (``config``, ``uset``): the columns of 003 Table 1 (``total``,
  ``carbon_trading``, ``sequestration``, ``coal``, ``startstop``, ``curtailment``, ``gas``, ``dr_ev``) plus
  ``penalty`` (shedding/spill/heat dump), energy figures of the worst case and the solve statistics;
- ``co2.csv``: direct (released), indirect (upstream gas proxy) and total CO2, and the CO2 flows;
- ``uncertainty_sets.csv``: S5 over box / polyhedral / data-driven: curtailment cost and total (Table 3);
- ``convergence.csv``: LB, UB and gap per C&CG iteration;
- ``mixture.csv`` (components), ``ellipses.csv`` and ``samples_2d.csv`` (the samples and the fitted
  ellipsoids projected on the samples' first two principal components, for the figure);
- ``replay.csv``: per plan and replay day, the realised cost and its parts;
- ``timeseries.parquet``: ``config, uset, period, entity, variable, value, unit``: the worst-case dispatch;
- ``study.json``: settings, set summaries, model sizes, timings, environment.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyomo.core as pyo

from agents.decision.robust import RobustResult, TwoStageRobust, UnionSet, VertexSet
from agents.decision.wind_sets import (
    EllipsoidUnion,
    MixtureFit,
    box_set,
    calibrate_gamma,
    chi2_gamma,
    data_driven_set,
    ellipse_outline_2d,
    fit_dpgmm,
    polyhedral_set,
    principal_basis,
    project,
    set_summary,
)
from agents.lowcarbon_campus import (
    COST_COLUMNS,
    LowCarbonModel,
    build_lowcarbon_model,
    output_in_mw,
    wind_dual_bound,
)
from agents.milp import SolverOptions
from scenarios.lowcarbon_loader import LowCarbonScenario, LowCarbonVariant, load_lowcarbon_ies
from sim.engine.io import environment_info, jsonable, write_csv, write_json, write_parquet
from sim.weather.wind_days import WindSamples, wind_day_samples
from studies.common.io import progress_printer
from studies.common.pool import run_tasks
from studies.p003_lowcarbon.report import render

log = logging.getLogger(__name__)

#: Table-1 cost columns in 003's order, then the penalty column this model adds.
TABLE1 = ("total", "carbon_trading", "sequestration", "coal", "startstop", "curtailment", "gas", "dr_ev")
USETS = ("data-driven", "box", "polyhedral")
CONVERGENCE_COLUMNS = ("config", "uset", "iteration", "lb", "ub", "gap", "master_s", "subproblem_s")


@dataclass(frozen=True)
class StudySettings:
    """What differs between the full study and ``--quick`` (the CI version)."""

    n_samples: int
    n_history: int
    n_components: int
    replay_days: int
    epsilon: float
    max_iter: int
    set_variant: str = "S5"
    quick: bool = False
    #: time budget of the box / polyhedral lower bounds (:meth:`~agents.decision.robust.TwoStageRobust.bound`) [s]
    bound_time_s: float = 300.0

    @classmethod
    def for_scenario(cls, sc: LowCarbonScenario, quick: bool) -> StudySettings:
        u = sc.uncertainty
        if quick:
            # the CI version: a 3-component truncation of the DP mixture (the full fit keeps ~15 ellipsoids,
            # each a subproblem MILP per C&CG iteration; with 2 the S5 worst case took > 400 s)
            return cls(n_samples=min(u.n_samples, 400), n_history=min(u.n_history, 365),
                       n_components=min(u.n_components, 3), replay_days=min(u.replay_days, 10),
                       epsilon=max(u.epsilon, 5e-3), max_iter=u.max_iter, quick=True, bound_time_s=45.0)
        return cls(n_samples=u.n_samples, n_history=u.n_history, n_components=u.n_components,
                   replay_days=u.replay_days, epsilon=u.epsilon, max_iter=u.max_iter)


@dataclass(frozen=True)
class WindSets:
    """The wind data and the three uncertainty sets built from it (step 1)."""

    samples: WindSamples
    fit: MixtureFit
    gamma: float
    gamma_chi2: float
    coverage_samples: float
    coverage_history: float
    forecast: np.ndarray
    sets: dict[str, VertexSet | UnionSet]
    replay: np.ndarray  # (days, 24) MW
    fit_s: float


def build_wind_sets(sc: LowCarbonScenario, seed: int, st: StudySettings) -> WindSets:
    """Step 1: samples, DP-GMM, calibrated Γ, data-driven / box / polyhedral sets, replay days."""
    u = sc.uncertainty
    root = np.random.SeedSequence(seed)
    s_samples, s_replay = root.spawn(2)
    samples = wind_day_samples(s_samples, n_history=st.n_history, n_samples=st.n_samples,
                               capacities_mw=sc.farm_capacities_mw)
    t0 = time.perf_counter()
    fit = fit_dpgmm(samples.total, seed, n_components=st.n_components,
                    weight_concentration_prior=u.weight_concentration_prior, min_weight=u.min_weight,
                    pca_dim=u.pca_dim or None)
    fit_s = time.perf_counter() - t0
    gamma = calibrate_gamma(fit, samples.total, u.coverage)
    cap = samples.capacity_total_mw
    union = EllipsoidUnion(fit, gamma)
    sets: dict[str, VertexSet | UnionSet] = {
        "data-driven": data_driven_set(fit, gamma, u.gamma_b, cap_mw=cap),
        "box": box_set(samples.total, u.box_q_low, u.box_q_high),
        "polyhedral": polyhedral_set(samples.total, u.gamma_poly, cap_mw=cap, q_low=u.box_q_low,
                                     q_high=u.box_q_high),
    }
    replay = wind_day_samples(s_replay, n_history=1, n_samples=st.replay_days,
                              capacities_mw=sc.farm_capacities_mw).total
    return WindSets(samples, fit, gamma, chi2_gamma(fit.dim), float(union.coverage(samples.total)),
                    float(union.coverage(samples.history_total)), samples.forecast(), sets, replay, fit_s)


# ---------------------------------------------------------------------------------------------- one task


@dataclass(frozen=True)
class Task:
    config: str
    uset: str

    @property
    def name(self) -> str:
        return f"{self.config}/{self.uset}"


@dataclass
class TaskOutput:
    task: Task
    row: dict[str, Any]
    co2: dict[str, Any]
    convergence: list[dict[str, Any]]
    timeseries: pd.DataFrame
    replay: list[dict[str, Any]]
    commitment: dict[str, list[float]]
    worst_u: list[float]
    wall_s: float
    seconds: dict[str, float] = field(default_factory=dict)


def dispatch_frame(lm: LowCarbonModel, config: str, uset: str) -> pd.DataFrame:
    """The model's current values (a loaded solution) as tidy rows ``config, uset, period, entity, variable,
    value, unit``: every device output plus the loads."""
    T = lm.scenario.horizon.periods
    rows: list[tuple[Any, ...]] = []
    for dev, h in lm.handles.items():
        for name, (comp, unit) in h.outputs.items():
            var, u = output_in_mw(name, unit)
            for t in T:
                rows.append((config, uset, t, dev, var, float(pyo.value(comp[t])), u))
    for name, entity in (("electric_load", "electric_load_mw"), ("heat_load", "heat_load_mw")):
        blk = lm.model.component(name)
        for t in T:
            rows.append((config, uset, t, "load", entity, float(pyo.value(blk.load_kw[t])), "MW"))
    blk = lm.model.component("ev_uncontrolled")
    if blk is not None:
        for t in T:
            rows.append((config, uset, t, "ev", "ev_uncontrolled_mw", float(pyo.value(blk.load_kw[t])), "MW"))
    return pd.DataFrame(rows, columns=["config", "uset", "period", "entity", "variable", "value", "unit"])


def energy_figures(lm: LowCarbonModel) -> dict[str, float]:
    """Daily energies of a loaded solution (MWh): wind available/used/curtailed, shedding, spill, heat dump."""
    avail = lm.energy("wind", "wind_available_mw")
    used = lm.energy("wind", "wind_mw")
    return {
        "wind_available_mwh": avail, "wind_used_mwh": used, "curtailed_mwh": avail - used,
        "curtailment_rate": (avail - used) / avail if avail > 0 else 0.0,
        "shed_mwh": lm.energy("slack", "shed_mw"), "heat_shed_mwh": lm.energy("slack", "heat_shed_mw"),
        "spill_mwh": lm.energy("slack", "spill_mw"), "heat_dump_mwh": lm.energy("slack", "heat_dump_mw"),
        "gas_mwh": lm.energy("gas", "gas_purchase_mw"),
        "tp_mwh": sum(lm.energy(k, "tp_power_mw") for k in lm.handles if k.startswith("tp_")),
        "gt_mwh": lm.energy("gt", "gt_power_mw"),
    }


def co2_row(lm: LowCarbonModel, upstream: float) -> dict[str, float]:
    c = lm.co2_breakdown()
    direct = c["released"]
    indirect = upstream * c["gas_purchased_mwh"]
    return {"direct": direct, "indirect": indirect, "total": direct + indirect, **c}


def _solve(eng: TwoStageRobust, variant: LowCarbonVariant, set_name: str, ws: WindSets,
           st: StudySettings) -> RobustResult:
    uset = ws.sets[set_name]
    if variant.robust and set_name != USETS[0]:
        # box / polyhedral: a proven lower bound (see the module docstring)
        return eng.bound(uset, max_iter=st.max_iter, time_limit_s=st.bound_time_s)
    if variant.robust:
        return eng.solve(uset, eps=st.epsilon, max_iter=st.max_iter)
    det = eng.solve_deterministic(ws.forecast)
    res = eng.evaluate(det.x_flat, uset)
    res.wall_s += det.wall_s
    return res


def run_task(sc: LowCarbonScenario, task: Task, ws: WindSets, st: StudySettings,
             options: SolverOptions) -> TaskOutput:
    """Solve one configuration over one set, read its worst case, replay its plan."""
    t_all = time.perf_counter()
    variant = sc.variant(task.config)
    t0 = time.perf_counter()
    lm = build_lowcarbon_model(sc, variant, ws.forecast)
    eng = TwoStageRobust(lm.model, lm.first_stage, lm.wind_availability, task.name, options,
                         dual_bound=wind_dual_bound(sc), subproblem_gap=1e-4)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = _solve(eng, variant, task.uset, ws, st)
    solve_s = time.perf_counter() - t0
    res.load()
    costs = lm.cost_breakdown()
    if abs(costs["total"] - res.objective) > 1e-6 * max(1.0, abs(res.objective)):
        raise RuntimeError(f"{task.name}: cost breakdown {costs['total']} != robust objective {res.objective}")
    summ = res.summary()
    row: dict[str, Any] = {
        "config": task.config, "label": variant.label, "uset": task.uset, "robust": variant.robust,
        "p2g_ccus": variant.p2g_ccus, "blending": variant.blending, "ev_dr": variant.ev_dr,
        "carbon": variant.carbon, **{k: costs[k] for k in (*TABLE1, "penalty")},
        "first_stage_cost": res.first_stage_cost, "recourse_cost": res.recourse_cost,
        "method": res.method, "lower_bound": summ["lower_bound"], "gap": summ["gap"], "iterations": res.iterations,
        "converged": res.converged, "worst_part": res.part_name, **energy_figures(lm),
        "solve_s": solve_s, "build_s": build_s, "master_s": summ["master_s"], "subproblem_s": summ["subproblem_s"],
        "master_rows": summ["master_rows"], "master_cols": summ["master_cols"],
        "master_binaries": summ["master_binaries"], "subproblem_rows": summ["subproblem_rows"],
        "subproblem_cols": summ["subproblem_cols"], "subproblem_binaries": summ["subproblem_binaries"],
        "recourse_rows": eng.recourse_size.rows, "recourse_cols": eng.recourse_size.cols,
        "first_stage_binaries": int(eng.n_x), "bound_updates": res.bound_updates,
    }
    co2 = {"config": task.config, "uset": task.uset, **co2_row(lm, sc.uncertainty.upstream_gas_t_per_mwh)}
    conv = [{"config": task.config, "uset": task.uset, "iteration": i + 1, "lb": lb, "ub": ub, "gap": g,
             "master_s": ms, "subproblem_s": ss}
            for i, (lb, ub, g, ms, ss) in enumerate(zip(res.lb_history, res.ub_history, res.gap_history,
                                                         res.master_s, res.subproblem_s, strict=False))]
    ts = dispatch_frame(lm, task.config, task.uset)
    commitment = {k: lm.series(k, "tp_on").round(6).tolist() for k in lm.handles if k.startswith("tp_")}
    worst_u = [float(x) for x in res.u]
    # out-of-sample replay of the plan: the recourse LP on each independent day
    t0 = time.perf_counter()
    replay: list[dict[str, Any]] = []
    for d, day in enumerate(ws.replay, start=1):
        q, y = eng.recourse(res.x_flat, day)
        eng.load(res.x_flat, day, y)
        c = lm.cost_breakdown()
        e = energy_figures(lm)
        replay.append({"config": task.config, "uset": task.uset, "day": d, **{k: c[k] for k in (*TABLE1, "penalty")},
                       "curtailed_mwh": e["curtailed_mwh"], "shed_mwh": e["shed_mwh"],
                       "wind_available_mwh": e["wind_available_mwh"]})
        if abs(c["total"] - (res.first_stage_cost + q)) > 1e-6 * max(1.0, abs(c["total"])):
            raise RuntimeError(f"{task.name}: replay day {d}: cost breakdown {c['total']} != "
                               f"{res.first_stage_cost + q}")
    replay_s = time.perf_counter() - t0
    return TaskOutput(task, row, co2, conv, ts, replay, commitment, worst_u, time.perf_counter() - t_all,
                      {"build_s": build_s, "solve_s": solve_s, "replay_s": replay_s})


@dataclass(frozen=True)
class _Context:
    """What every task needs, shipped once per worker process (the state of :func:`studies.common.pool.run_tasks`)."""

    scenario: LowCarbonScenario
    wind_sets: WindSets
    settings: StudySettings
    options: SolverOptions


def _run_task(ctx: _Context, task: Task) -> TaskOutput:
    return run_task(ctx.scenario, task, ctx.wind_sets, ctx.settings, ctx.options)


def study_tasks(sc: LowCarbonScenario, st: StudySettings, compare: Sequence[str] = ()) -> list[Task]:
    """Every configuration over the data-driven set, then the set variant over the ``compare`` sets."""
    bad = [s for s in compare if s not in USETS[1:]]
    if bad:
        raise ValueError(f"compare: unknown set(s) {bad}; allowed: {', '.join(USETS[1:])}")
    tasks = [Task(v.name, "data-driven") for v in sc.variants]
    names = {v.name for v in sc.variants}
    if st.set_variant in names:
        tasks += [Task(st.set_variant, s) for s in compare]
    return tasks


# ---------------------------------------------------------------------------------------------- the study


@dataclass
class LowCarbonStudyResult:
    out: Path
    costs: pd.DataFrame
    co2: pd.DataFrame
    sets: pd.DataFrame
    convergence: pd.DataFrame
    replay: pd.DataFrame
    timeseries: pd.DataFrame
    meta: dict[str, Any]


def mixture_frames(ws: WindSets) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``mixture.csv`` (component, weight, hour, mean_mw), ``ellipses.csv`` (component, point, pc1, pc2) and
    ``samples_2d.csv`` (sample, component, pc1, pc2) on the samples' first two principal components."""
    fit = ws.fit
    means = fit.full_means()
    mix = pd.DataFrame([{"component": k + 1, "weight": float(fit.weights[k]), "hour": h + 1,
                         "mean_mw": float(means[k, h])} for k in range(fit.n_c) for h in range(means.shape[1])])
    basis = principal_basis(ws.samples.total, 2)
    ell_rows = []
    for k in range(fit.n_c):
        outline = ellipse_outline_2d(fit, ws.gamma, k, basis)
        ell_rows += [{"component": k + 1, "point": i, "pc1": float(p[0]), "pc2": float(p[1])}
                     for i, p in enumerate(outline)]
    pts = project(ws.samples.total, basis)
    labels = np.asarray(fit.labels)
    samp = pd.DataFrame({"sample": np.arange(1, len(pts) + 1), "component": labels + 1 if labels.size else 0,
                         "pc1": pts[:, 0], "pc2": pts[:, 1]})
    return mix, pd.DataFrame(ell_rows), samp


def run_lowcarbon_study(
    out: str | Path,
    *,
    scenario: str | Path | LowCarbonScenario = "lowcarbon_ies",
    seed: int | None = None,
    quick: bool = False,
    workers: int = 1,
    options: SolverOptions | None = None,
    figures: bool = True,
    quiet: bool = False,
    compare: Sequence[str] = ("box", "polyhedral"),
) -> LowCarbonStudyResult:
    """Run the study and write every output into ``out`` (see the module docstring)."""
    t_all = time.perf_counter()
    env = environment_info()
    say: Callable[[str], None] = progress_printer(quiet)
    sc = scenario if isinstance(scenario, LowCarbonScenario) else load_lowcarbon_ies(scenario)
    seed_v = int(sc.seed if seed is None else seed)
    st = StudySettings.for_scenario(sc, quick)
    options = options or SolverOptions()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    say(f"scenario {sc.name}, seed {seed_v}: {st.n_samples} wind samples, DP-GMM in {sc.uncertainty.pca_dim or 24} "
        f"dimensions{' (quick)' if quick else ''}")
    t0 = time.perf_counter()
    ws = build_wind_sets(sc, seed_v, st)
    sets_s = time.perf_counter() - t0
    dd = ws.sets["data-driven"]
    n_parts = len(dd.parts) if isinstance(dd, UnionSet) else 1
    say(f"sets built in {sets_s:.1f} s: {n_parts} ellipsoids, Γ = {ws.gamma:.3f} (χ² Γ {ws.gamma_chi2:.3f}), "
        f"coverage {ws.coverage_samples:.3f} of the samples, {ws.coverage_history:.3f} of the history")
    tasks = study_tasks(sc, st, compare)
    say(f"{len(tasks)} robust solves on {workers} worker(s)")
    t_solve = time.perf_counter()
    if workers > 1 and options.threads == 0:
        options = dataclasses.replace(options, threads=1)  # one HiGHS thread per process

    def done(task: Task, o: TaskOutput) -> None:
        say(f"{task.name} done in {o.wall_s:.1f} s: total {o.row['total']:.2f}, {o.row['iterations']} iterations")

    # the results in task order, whatever the number of workers
    outputs = run_tasks(_run_task, tasks, setup=functools.partial(_Context, sc, ws, st, options), workers=workers,
                        on_done=done)
    solve_wall = time.perf_counter() - t_solve

    costs = pd.DataFrame([o.row for o in outputs])
    co2 = pd.DataFrame([o.co2 for o in outputs])
    sets_tab = set_table(costs, ws, st)
    conv = pd.DataFrame([r for o in outputs for r in o.convergence], columns=list(CONVERGENCE_COLUMNS))
    replay = pd.DataFrame([r for o in outputs for r in o.replay])
    ts = pd.concat([o.timeseries for o in outputs], ignore_index=True)
    mix, ell, samp = mixture_frames(ws)

    write_csv(costs, out / "costs.csv")
    write_csv(co2, out / "co2.csv")
    write_csv(sets_tab, out / "uncertainty_sets.csv")
    write_csv(conv, out / "convergence.csv")
    write_csv(replay, out / "replay.csv")
    write_csv(mix, out / "mixture.csv")
    write_csv(ell, out / "ellipses.csv")
    write_csv(samp, out / "samples_2d.csv")
    write_parquet(ts, out / "timeseries.parquet")
    meta = _meta(sc, seed_v, st, options, workers, ws, outputs, sets_s, solve_wall, env)
    write_json(jsonable(meta), out / "study.json")
    say(f"tables written to {out} ({time.perf_counter() - t_all:.1f} s)")
    result = LowCarbonStudyResult(out, costs, co2, sets_tab, conv, replay, ts, meta)
    if figures:  # from the files just written, as --report-only does
        t0 = time.perf_counter()
        figs, report = render(out)
        meta["timings"]["report_s"] = time.perf_counter() - t0
        say(f"{len(figs)} figures and {report.name} written in {time.perf_counter() - t0:.1f} s")
    meta["timings"]["total_s"] = time.perf_counter() - t_all
    write_json(jsonable(meta), out / "study.json")
    say(f"study finished in {meta['timings']['total_s']:.1f} s")
    return result


def set_table(costs: pd.DataFrame, ws: WindSets, st: StudySettings) -> pd.DataFrame:
    """003 Table 3: the set variant's curtailment cost and total over each set, with the set's size."""
    rows = []
    for uset in USETS:
        sel = costs[(costs["config"] == st.set_variant) & (costs["uset"] == uset)]
        if sel.empty:
            continue
        r = sel.iloc[0]
        summ = set_summary(ws.sets[uset])
        exact = r["method"] == "ccg"
        rows.append({"uset": uset, "config": st.set_variant, "curtailment": r["curtailment"], "total": r["total"],
                     "method": r["method"], "lower_bound": r["lower_bound"],
                     "upper_bound": r["total"] if exact else float("nan"), "gap": r["gap"] if exact else float("nan"),
                     "curtailed_mwh": r["curtailed_mwh"], "iterations": r["iterations"], "solve_s": r["solve_s"],
                     "parts": summ.get("parts", 1), "binaries": summ.get("binaries", 0),
                     "mean_width_mw": summ.get("mean_width", float("nan"))})
    return pd.DataFrame(rows)


def _meta(sc: LowCarbonScenario, seed: int, st: StudySettings, options: SolverOptions, workers: int, ws: WindSets,
          outputs: Sequence[TaskOutput], sets_s: float, solve_wall: float, env: dict[str, Any]) -> dict[str, Any]:
    return {
        "scenario": sc.name, "source": str(sc.source.name) if sc.source else None, "seed": seed,
        "currency": sc.currency, "settings": dataclasses.asdict(st),
        "uncertainty": dataclasses.asdict(sc.uncertainty),
        "variants": [dataclasses.asdict(v) for v in sc.variants],
        "wind": {"station": ws.samples.station, "station_name": ws.samples.station_name,
                 "turbine": ws.samples.turbine, "capacities_mw": list(sc.farm_capacities_mw),
                 "capacity_factor": ws.samples.capacity_factor(),
                 "capacity_factor_history": ws.samples.capacity_factor(history=True),
                 "forecast_mw": ws.forecast.tolist()},
        "mixture": {"n_c": ws.fit.n_c, "dim": ws.fit.dim, "weights": ws.fit.weights.tolist(),
                    "converged": bool(ws.fit.converged), "n_iter": int(ws.fit.n_iter), "fit_s": ws.fit_s,
                    "gamma": ws.gamma, "gamma_chi2": ws.gamma_chi2, "coverage_samples": ws.coverage_samples,
                    "coverage_history": ws.coverage_history},
        "sets": {name: set_summary(s) for name, s in ws.sets.items()},
        "dual_bound": wind_dual_bound(sc),
        "tasks": {o.task.name: {"wall_s": o.wall_s, **o.seconds, "commitment": o.commitment,
                                "worst_u_mw": o.worst_u} for o in outputs},
        "solver": dataclasses.asdict(options),
        "timings": {"sets_s": sets_s, "solve_wall_s": solve_wall, "workers": workers},
        "environment": env,
        "columns": {"cost": list(COST_COLUMNS)},
    }

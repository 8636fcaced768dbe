"""The rural-IES study of paper 002: methods, sensitivity grids, figures and report (issue 5, deliverable 4).

``python run_sim.py study rural --out DIR [--quick --seed N --workers W]`` calls :func:`run_rural_study`,
which solves paper 002's constrained DRO (SPEC §6.4) on the bundled ``rural_ies`` scenario
(:mod:`agents.rural_campus`, :class:`agents.decision.uncertainty.TwoStageDRO`) and writes

- ``methods.csv``: one row per method (so, ro, dro, cdro, cvar; :data:`METHOD_COLUMNS`) at the scenario's
  defaults (M = 200, K = 50, α∞ = 0.99, α1 = 0.95, λ = 0.2, ε = 1e-4): first-stage cost, ``historical_cost``
  H(x) (expected cost under the historical weights p0), ``worst_cost`` W(x) (expected cost under the worst
  distribution of Ψ), ``worst_sample_cost`` (c'x + max_k Q_k), C&CG iterations, final relative gap, HiGHS and
  wall seconds, λ / β / Ē where they apply, and H, W relative to SO;
- ``sensitivity_M.csv``, ``sensitivity_K.csv``, ``sensitivity_alpha.csv``, ``sensitivity_lambda.csv``,
  ``sensitivity_degree.csv``, ``sensitivity_gap.csv``: one row per grid point (:data:`SENSITIVITY_COLUMNS`,
  the varied parameter(s) first).  ``objective`` is the **CDRO** objective (the C&CG upper bound = W of the
  CDRO plan), as 002 §4.3–4.5 report the proposed method; the SO and DRO values of the same point are kept
  beside it (``so_*``, ``dro_*``), since CDRO needs both for its limit Ē (CD-2);
- ``convergence.csv``: LB and UB per C&CG iteration of every DRO / CDRO solve (``part, point, method,
  iteration, lb, ub``);
- ``sample_costs.csv``: per method and reference sample: p0, the worst-case p, Q_k and c'x + Q_k;
- ``timeseries.parquet``: long format ``method, sample, period, entity, variable, value, unit``: the
  dispatch of every method's plan on every reference sample (:func:`agents.rural_campus.dispatch_frame`)
  plus the realised-sample costs as entity ``cost`` in period 0 (the whole day);
- ``study.json``: configuration, grids, model sizes, profiles, timings per part and task, environment;
- ``figures/*.png`` and ``report.md`` (:mod:`studies.p002_rural.report`; ``--report-only`` redraws both from the
  files without solving).

Common random numbers
---------------------
Every point uses the same seed (the scenario's, or ``seed``).  :func:`agents.rural_campus.sample_errors`
draws the ``M`` historical error days first, as one ``(M, 3, 24)`` block of standard normals from
``default_rng(seed)``, then runs k-means on the same generator; so the ``M`` days of any point are the
first ``M`` days of one long draw (checked by the tests), and:

- **M sweep**: the historical days are nested prefixes of one draw (M = 50 ⊂ 100 ⊂ … ⊂ 10000); the k-means
  restarts continue the same generator (after the M days), so they differ per M as the data do;
- **K sweep**: the same M = 200 days for every K; only the clustering changes;
- **degree sweep**: ``sigma`` and ``error_bound`` are scaled together, and ``clip(s σ z, ±s b) = s clip(σ z,
  ±b)``, so every error day is exactly s × the default day; k-means standardises the days, so the partition
  and p0 are those of the defaults and every reference sample is scaled by exactly s;
- **α, λ, ε sweeps**: the default day's samples and one persistent model (:func:`build_rural_day`):

  * λ: only CDRO is re-solved; Ē = E_SO + λ (E_DRO − E_SO) uses the default SO and DRO (checked);
  * ε: DRO and CDRO are re-solved with each gap; CDRO keeps the default Ē, so that only its stopping rule
    changes (otherwise the less converged DRO of a loose ε would also move Ē);
  * α: the ambiguity set Ψ is swapped on the live :class:`~agents.decision.uncertainty.TwoStageDRO`
    (:func:`set_ambiguity`: same p0, new radii).  Ψ enters only the C&CG subproblem and the evaluation
    (``metrics``), never the master's rows, so no rebuild is needed.
    :meth:`~agents.decision.uncertainty.TwoStageDRO.reset` then empties the cut pool and the cache and starts
    the solver cold, so a point does not depend on the points before it.
    SO's plan does not depend on Ψ and is re-scored under it; DRO is re-solved, and CDRO gets
    Ē = E_SO + λ (E_DRO − E_SO) from that DRO.

Parallel tasks
--------------
The study is split into tasks: the default chain (methods, then the λ, ε and α sweeps on one model) and
one task per M, K and degree point that needs new samples.  With ``workers = 2`` the tasks run in two
processes (spawn), largest first, HiGHS on one thread each; the results do not depend on the number of
workers (checked: the quick tables are identical with 1 and 2 workers).  Grid points equal to the defaults
(M = 200, K = 50, α = (0.99, 0.95), λ = 0.2, ε = 1e-4, degree 1) are not solved twice: they are the
methods-table solves.  On the 2-core development machine the full grids took 231 s with 2 workers while one
other job ran, and 468 s while two other test suites shared the cores (about 360–380 CPU seconds either
way); K = 200 (a 110k-column master, dual simplex from scratch after every new cut) is the longest task.

Dispatch
--------
The dispatch of each method's plan is read from the evaluation that ends its solve (:func:`plan_dispatch`).
The recourse LPs are degenerate (gas moved between hours of equal price, heat pump vs waste heat, ...), so
another evaluation of the same plan can return another dispatch with the same costs; the study measures
this once for CDRO (:func:`dispatch_degeneracy`, ``study.json`` ``dispatch_degeneracy``) and the report
says so next to the dispatch findings.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agents.decision.uncertainty import METHODS, AmbiguitySet, DROResult, Evaluation, ambiguity_radii
from agents.milp import SolverOptions
from agents.rural_campus import RuralDay, build_rural_day, dispatch_frame, sample_cost_frame
from scenarios.loader import load_rural_ies
from scenarios.schema import RuralIESScenario
from sim.engine.io import environment_info, jsonable, write_csv, write_json, write_parquet
from studies.common.io import progress_printer
from studies.common.pool import run_tasks
from studies.p002_rural.report import load_tables, write_figures, write_report
from studies.p002_rural.tables import (
    CONVERGENCE_COLUMNS,
    METHOD_COLUMNS,
    PARAMETERS,
    PARTS,
    SAMPLE_COST_COLUMNS,
    SENSITIVITY_COLUMNS,
    SENSITIVITY_FILES,
    TIMESERIES_COLUMNS,
)

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------- grids
#: Paper 002 §4.3–4.5 grids (SPEC §6.4 "Sensitivity grids").
M_GRID: tuple[int, ...] = (50, 100, 200, 500, 1000, 10000)
K_GRID: tuple[int, ...] = (10, 20, 50, 100, 200)
ALPHA_LEVELS: tuple[float, ...] = (0.9, 0.95, 0.99)
ALPHA_GRID: tuple[tuple[float, float], ...] = tuple((a, b) for a in ALPHA_LEVELS for b in ALPHA_LEVELS)
LAMBDA_GRID: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(11))
DEGREE_GRID: tuple[float, ...] = (0.75, 1.0, 1.25)
GAP_GRID: tuple[float, ...] = (1e-2, 1e-3, 1e-4)


@dataclass(frozen=True)
class StudyGrids:
    """The sensitivity grids of one study run (``alpha`` holds ``(α∞, α1)`` pairs)."""

    M: tuple[int, ...] = M_GRID
    K: tuple[int, ...] = K_GRID
    alpha: tuple[tuple[float, float], ...] = ALPHA_GRID
    lam: tuple[float, ...] = LAMBDA_GRID
    degree: tuple[float, ...] = DEGREE_GRID
    gap: tuple[float, ...] = GAP_GRID

    @classmethod
    def quick(cls) -> StudyGrids:
        """Small grids (``--quick``, the tests): two points each, three for λ."""
        return cls(M=(50, 200), K=(10, 20), alpha=((0.9, 0.9), (0.99, 0.95)), lam=(0.0, 0.5, 1.0),
                   degree=(1.0, 1.25), gap=(1e-2, 1e-4))

    def as_dict(self) -> dict[str, Any]:
        return {"M": list(self.M), "K": list(self.K), "alpha": [list(a) for a in self.alpha], "lam": list(self.lam),
                "degree": list(self.degree), "gap": list(self.gap)}


# ---------------------------------------------------------------------------------------------- schema
# the columns of every file: studies.p002_rural.tables (also read by the report)
REL = 1e-9


# ---------------------------------------------------------------------------------------------- helpers
def scenario_point(scenario: RuralIESScenario, **uncertainty: Any) -> RuralIESScenario:
    """The scenario with some ``uncertainty`` fields replaced (M, K, sigma, error_bound, ...)."""
    if not uncertainty:
        return scenario
    return dataclasses.replace(scenario, uncertainty=dataclasses.replace(scenario.uncertainty, **uncertainty))


def set_ambiguity(day: RuralDay, theta_1: float, theta_inf: float) -> AmbiguitySet:
    """Swap Ψ on the live model: same p0, new radii (see the module docstring on why this is sound).

    Afterwards SO must be re-scored (``metrics``) and DRO re-solved before CDRO, so that CDRO's Ē is built
    from the DRO of the new Ψ; :meth:`TwoStageDRO.reset` drops the cuts and cached results of the old Ψ.
    """
    psi = AmbiguitySet(day.ambiguity.p0, theta_1, theta_inf)
    day.ambiguity = psi
    day.dro.ambiguity = psi
    return psi


def final_gap(res: DROResult) -> float:
    """Relative C&CG gap of a result, ``(UB − LB)/max(1, |UB|)`` (0 for the direct methods)."""
    if res.solver != "ccg" or not res.lb_history or not res.ub_history:
        return 0.0
    ub, lb = min(res.ub_history), max(res.lb_history)
    return (ub - lb) / max(1.0, abs(ub))


def _rel(a: float, b: float) -> float:
    return (a - b) / abs(b) if abs(b) > 1e-12 else math.nan


def _point_label(part: str, value: Any) -> str:
    if part == "alpha":
        return f"alpha=({value[0]:g},{value[1]:g})"
    names = {"lambda": "lam", "gap": "eps"}
    return f"{names.get(part, part)}={value:g}"


@dataclass
class PointSolves:
    """SO, DRO and CDRO of one grid point, with the Ψ and settings they were solved for."""

    so: DROResult
    dro: DROResult
    cdro: DROResult
    so_worst_cost: float
    psi: AmbiguitySet
    M: int
    K: int
    alpha_inf: float
    alpha_1: float
    sigma: float
    error_bound: float
    eps: float
    seconds: float = 0.0

    def row(self) -> dict[str, Any]:
        c, s, d = self.cdro, self.so, self.dro
        dev = np.abs(np.asarray(c.worst_p, dtype=float) - self.psi.p0)
        return {
            "M": self.M, "K": self.K, "alpha_inf": self.alpha_inf, "alpha_1": self.alpha_1,
            "theta_1": self.psi.theta_1, "theta_inf": self.psi.theta_inf, "lam": c.lam, "eps": self.eps,
            "sigma": self.sigma, "error_bound": self.error_bound, "objective_method": "cdro",
            "objective": c.objective, "historical_cost": c.historical_cost, "worst_cost": c.worst_cost,
            "first_stage_cost": c.first_stage_cost, "worst_sample_cost": c.worst_sample_cost,
            "iterations": c.iterations, "gap": final_gap(c), "solve_seconds": c.solve_s, "wall_seconds": c.wall_s,
            "hist_bound": c.hist_bound, "so_historical_cost": s.historical_cost, "so_worst_cost": self.so_worst_cost,
            "dro_objective": d.objective, "dro_historical_cost": d.historical_cost, "dro_iterations": d.iterations,
            "dro_solve_seconds": d.solve_s,
            "h_loss_vs_so": _rel(c.historical_cost, s.historical_cost),
            "w_gain_vs_so": -_rel(c.worst_cost, self.so_worst_cost),
            "worst_l1": float(dev.sum()),
            "n_at_theta_inf": int(np.sum(dev >= self.psi.theta_inf * (1.0 - 1e-7) - 1e-12)),
            "point_seconds": self.seconds,
        }


def solve_point(day: RuralDay, *, lam: float, eps: float, so: DROResult | None = None,
                dro: DROResult | None = None, alpha: tuple[float, float] | None = None,
                hist_bound: float | None = None) -> PointSolves:
    """SO, DRO with ``eps`` and CDRO with ``lam``, ``eps`` at the current Ψ of ``day``.

    ``so`` is reused when given (it depends on neither Ψ, λ nor ε; its W is re-scored under the current Ψ);
    ``dro`` is reused when given (it must be the DRO of the current Ψ and ``eps``), else DRO is solved right
    here.  CDRO takes Ē = E_SO + λ (E_DRO − E_SO) from the SO and DRO cached by :meth:`TwoStageDRO.solve`
    (checked against ``so`` and ``dro``), unless ``hist_bound`` gives Ē directly (ε and α sweeps).
    """
    t0 = time.perf_counter()
    u = day.scenario.uncertainty
    if so is None:
        so = day.solve("so")
    if dro is None:
        dro = day.solve("dro", eps=eps)
    if hist_bound is None:
        cdro = day.solve("cdro", lam=lam, eps=eps)
        want = so.historical_cost + lam * (dro.historical_cost - so.historical_cost)
        if cdro.hist_bound is None or abs(cdro.hist_bound - want) > 1e-9 * max(1.0, abs(want)):
            raise RuntimeError(f"CDRO limit Ē = {cdro.hist_bound} is not E_SO + λ(E_DRO − E_SO) = {want}: "
                               "a stale DRO was used")
    else:
        cdro = day.solve("cdro", eps=eps, hist_bound=hist_bound)
        cdro.lam = float(lam)  # Ē is the one of λ at the reference DRO
    so_w = day.dro.metrics(so.first_stage_cost, so.recourse_costs).worst_cost  # SO scored under the current Ψ
    a_inf, a_1 = alpha if alpha is not None else (u.alpha_inf, u.alpha_1)
    return PointSolves(so=so, dro=dro, cdro=cdro, so_worst_cost=so_w, psi=day.ambiguity, M=day.samples.M,
                       K=day.samples.K, alpha_inf=a_inf, alpha_1=a_1, sigma=u.sigma, error_bound=u.error_bound,
                       eps=eps, seconds=time.perf_counter() - t0)


def convergence_rows(part: str, point: str, results: Iterable[DROResult]) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        if r.solver != "ccg":
            continue
        for i, (lb, ub) in enumerate(zip(r.lb_history, r.ub_history, strict=True), start=1):
            rows.append({"part": part, "point": point, "method": r.method, "iteration": i, "lb": lb, "ub": ub})
    return rows


def plan_dispatch(day: RuralDay, res: DROResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tidy dispatch and per-sample costs of the plan of ``res``, right after ``day.solve`` returned it.

    Every solve of :class:`TwoStageDRO` ends with the evaluation of a plan (x fixed, every recourse solved); when
    that plan is the returned one (checked: same x and the same Q_k) its dispatch is read from the live solution,
    which saves one Pyomo update and solve; otherwise the plan is evaluated again (:meth:`RuralDay.dispatch`).
    """
    m, hm = day.dro.model, day.dro.hm
    T = day.scenario.horizon.periods
    x_live = hm.values(m.fs.p_tr_kw, T)
    q_live = hm.values(m.q, range(day.problem.n_samples))
    x = np.asarray(res.x[day.campus.X_NAME], dtype=float)
    q = np.asarray(res.recourse_costs, dtype=float)
    if np.allclose(x_live, x, rtol=0.0, atol=1e-9) and np.allclose(q_live, q, rtol=1e-12, atol=1e-9):
        ev = Evaluation(first_stage_cost=res.first_stage_cost, recourse_costs=q, historical_cost=res.historical_cost,
                        worst_cost=res.worst_cost, worst_sample_cost=res.worst_sample_cost, worst_p=res.worst_p)
        return dispatch_frame(day, res.method), sample_cost_frame(day, ev, res.method)
    log.debug("%s: the live solution is not the returned plan; evaluating it again", res.method)
    _, disp, costs = day.dispatch(res, res.method)
    return disp, costs


def dispatch_degeneracy(day: RuralDay, res: DROResult, disp: pd.DataFrame, costs: pd.DataFrame) -> dict[str, Any]:
    """Evaluate the plan of ``res`` once more and compare with ``disp``/``costs``: the recourse LPs have many
    optimal dispatches (e.g. biogas moved between hours of equal price), so two evaluations can return
    different dispatches with the same cost.  Returns the largest differences (per series) and of the costs."""
    _, alt, alt_costs = day.dispatch(res, res.method)
    diff = disp.assign(diff=np.abs(disp["value"].to_numpy(float) - alt["value"].to_numpy(float)))
    by_var = diff.groupby(["entity", "variable", "unit"], observed=True)["diff"].max().sort_values(ascending=False)
    cost_diff = np.abs(costs["total_cost"].to_numpy(float) - alt_costs["total_cost"].to_numpy(float))
    largest = []
    top = by_var.head(6).reset_index()
    for e, v, u, d in zip(top["entity"], top["variable"], top["unit"], top["diff"].to_numpy(float), strict=True):
        largest.append({"entity": str(e), "variable": str(v), "unit": str(u), "max_abs_diff": float(d)})
    return {"method": res.method, "max_cost_diff": float(cost_diff.max()), "largest_series_diff": largest,
            "n_series_differing": int((by_var > 1e-6).sum())}


def method_row(res: DROResult, so: DROResult, psi: AmbiguitySet) -> dict[str, Any]:
    return {
        "method": res.method, "objective": res.objective, "first_stage_cost": res.first_stage_cost,
        "historical_cost": res.historical_cost, "worst_cost": res.worst_cost,
        "worst_sample_cost": res.worst_sample_cost, "iterations": res.iterations, "gap": final_gap(res),
        "solve_seconds": res.solve_s, "wall_seconds": res.wall_s, "lam": res.lam, "beta": res.beta,
        "hist_bound": res.hist_bound, "n_cuts": res.n_cuts, "solver": res.solver,
        "h_rel_to_so": _rel(res.historical_cost, so.historical_cost),
        "w_rel_to_so": _rel(res.worst_cost, so.worst_cost), "theta_1": psi.theta_1, "theta_inf": psi.theta_inf,
    }


# ---------------------------------------------------------------------------------------------- tasks
@dataclass(frozen=True)
class Task:
    """One unit of work: ``kind`` "default" (methods + λ, ε, α sweeps on one model) or "M" / "K" / "degree"
    (one grid point with new samples)."""

    kind: str
    value: float = 0.0

    @property
    def name(self) -> str:
        return "default chain" if self.kind == "default" else _point_label(self.kind, self.value)

    def cost(self) -> float:
        """Rough relative cost, to start the largest tasks first (measured: K = 200 dominates)."""
        if self.kind == "K":
            return 0.01 * self.value ** 2
        if self.kind == "M":
            return 6.0 + 0.002 * self.value
        if self.kind == "default":
            return 100.0
        return 7.0


@dataclass
class TaskOutput:
    task: Task
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # part -> sensitivity rows
    methods: list[dict[str, Any]] = field(default_factory=list)
    convergence: list[dict[str, Any]] = field(default_factory=list)
    sample_costs: pd.DataFrame | None = None
    timeseries: pd.DataFrame | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # part -> seconds spent in this task
    model: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0


def _model_size(day: RuralDay) -> dict[str, Any]:
    hm = day.dro.hm
    return {"M": day.samples.M, "K": day.samples.K, "rows": int(hm.n_rows), "cols": int(hm.n_cols),
            "nonzeros": int(hm.n_nonzeros), "samples_and_build_seconds": day.build_s}


def run_default_chain(scenario: RuralIESScenario, seed: int, grids: StudyGrids, options: SolverOptions | None,
                      say: Callable[[str], None] | None = None) -> TaskOutput:
    """Methods at the defaults (with every plan's dispatch), then the λ, ε and α sweeps on the same model."""
    t_task = time.perf_counter()
    say = say or (lambda msg: None)
    u = scenario.uncertainty
    out = TaskOutput(Task("default"))
    t0 = time.perf_counter()
    day = build_rural_day(scenario, seed=seed, options=options)
    out.model = _model_size(day)
    say(f"default model: M {u.M}, K {u.K}: {day.dro.hm.n_rows} rows x {day.dro.hm.n_cols} columns, "
        f"built in {day.build_s:.1f} s")
    # SO and DRO first, as in every other point, so the reference solves of CDRO are the same everywhere
    results: dict[str, DROResult] = {}
    frames: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}
    for m in ("so", "dro", "cdro", "ro", "cvar"):
        results[m] = day.solve(m)
        frames[m] = plan_dispatch(day, results[m])
    so, dro, cdro = results["so"], results["dro"], results["cdro"]
    psi0 = day.ambiguity
    out.methods = [method_row(results[m], so, psi0) for m in METHODS]
    out.convergence += convergence_rows("methods", "default", results.values())
    out.timeseries = pd.concat([frames[m][0] for m in METHODS], ignore_index=True)
    out.sample_costs = pd.concat([frames[m][1] for m in METHODS], ignore_index=True)[list(SAMPLE_COST_COLUMNS)]
    out.notes["dispatch_degeneracy"] = dispatch_degeneracy(day, cdro, *frames["cdro"])
    default = PointSolves(so=so, dro=dro, cdro=cdro, so_worst_cost=so.worst_cost, psi=psi0, M=u.M, K=u.K,
                          alpha_inf=u.alpha_inf, alpha_1=u.alpha_1, sigma=u.sigma, error_bound=u.error_bound,
                          eps=u.epsilon, seconds=time.perf_counter() - t0)
    default_row = default.row()
    out.seconds["methods"] = time.perf_counter() - t0
    say("methods: " + ", ".join(f"{m} H {results[m].historical_cost:.2f} W {results[m].worst_cost:.2f}"
                                for m in METHODS) + f" ({out.seconds['methods']:.1f} s)")

    # λ sweep: same model, SO and DRO cached (CD-2)
    t0 = time.perf_counter()
    lam_rows = []
    for lam in grids.lam:
        if math.isclose(lam, u.lam, abs_tol=1e-12):
            lam_rows.append({**default_row, "lam": lam})
            continue
        p = solve_point(day, lam=lam, eps=u.epsilon, so=so, dro=dro)
        lam_rows.append(p.row())
        out.convergence += convergence_rows("lambda", _point_label("lambda", lam), [p.cdro])
    out.rows["lambda"] = lam_rows
    out.seconds["lambda"] = time.perf_counter() - t0
    say(f"λ sweep: {len(grids.lam)} points in {out.seconds['lambda']:.1f} s")

    # ε sweep: DRO and CDRO re-solved with each gap; CDRO keeps the default Ē (from the DRO at the scenario's
    # ε), so that only the stopping rule changes between the points
    t0 = time.perf_counter()
    gap_rows = []
    for eps in grids.gap:
        if math.isclose(eps, u.epsilon, rel_tol=1e-12):
            gap_rows.append({**default_row, "eps": eps})
            out.convergence += convergence_rows("gap", _point_label("gap", eps), [dro, cdro])
            continue
        p = solve_point(day, lam=u.lam, eps=eps, so=so, hist_bound=cdro.hist_bound)
        gap_rows.append(p.row())
        out.convergence += convergence_rows("gap", _point_label("gap", eps), [p.dro, p.cdro])
    out.rows["gap"] = gap_rows
    out.seconds["gap"] = time.perf_counter() - t0
    say(f"ε sweep: {len(grids.gap)} points in {out.seconds['gap']:.1f} s")

    # α grid: swap Ψ on the live model (same p0), DRO and CDRO re-solved per Ψ
    t0 = time.perf_counter()
    alpha_rows = []
    for a_inf, a_1 in grids.alpha:
        if math.isclose(a_inf, u.alpha_inf) and math.isclose(a_1, u.alpha_1):
            alpha_rows.append({**default_row, "alpha_inf": a_inf, "alpha_1": a_1})
            continue
        set_ambiguity(day, *ambiguity_radii(u.M, u.K, a_1, a_inf))
        day.dro.reset()  # empty cut pool, no cached DRO, cold solver: the point does not depend on the ones before
        dro_a = day.solve("dro")
        bound = so.historical_cost + u.lam * (dro_a.historical_cost - so.historical_cost)  # CD-2 under this Ψ
        p = solve_point(day, lam=u.lam, eps=u.epsilon, so=so, dro=dro_a, alpha=(a_inf, a_1), hist_bound=bound)
        alpha_rows.append(p.row())
        out.convergence += convergence_rows("alpha", _point_label("alpha", (a_inf, a_1)), [p.dro, p.cdro])
    set_ambiguity(day, psi0.theta_1, psi0.theta_inf)
    out.rows["alpha"] = alpha_rows
    out.seconds["alpha"] = time.perf_counter() - t0
    say(f"α grid: {len(grids.alpha)} points in {out.seconds['alpha']:.1f} s")

    # the default point of the M, K and degree sweeps
    out.rows["M"] = [default_row] if u.M in grids.M else []
    out.rows["K"] = [default_row] if u.K in grids.K else []
    out.rows["degree"] = [{**default_row, "degree": 1.0}] if any(math.isclose(d, 1.0) for d in grids.degree) else []
    out.wall_s = time.perf_counter() - t_task
    return out


def run_point(scenario: RuralIESScenario, task: Task, seed: int, options: SolverOptions | None) -> TaskOutput:
    """One M, K or degree point: new samples (same seed), new model, SO + DRO + CDRO."""
    t_task = time.perf_counter()
    u = scenario.uncertainty
    if task.kind == "M":
        sc = scenario_point(scenario, M=int(task.value))
    elif task.kind == "K":
        sc = scenario_point(scenario, K=int(task.value))
    elif task.kind == "degree":
        sc = scenario_point(scenario, sigma=u.sigma * task.value, error_bound=u.error_bound * task.value)
    else:  # pragma: no cover - internal
        raise ValueError(f"unknown task kind {task.kind!r}")
    out = TaskOutput(task)
    day = build_rural_day(sc, seed=seed, options=options)
    out.model = _model_size(day)
    p = solve_point(day, lam=u.lam, eps=u.epsilon)
    row = p.row()
    row["point_seconds"] = time.perf_counter() - t_task  # samples, build and solves
    if task.kind == "degree":
        row["degree"] = task.value
    out.rows[task.kind] = [row]
    out.convergence = convergence_rows(task.kind, task.name, [p.dro, p.cdro])
    out.wall_s = time.perf_counter() - t_task
    out.seconds[task.kind] = out.wall_s
    return out


def run_task(scenario: RuralIESScenario, task: Task, seed: int, grids: StudyGrids,
             options: SolverOptions | None, say: Callable[[str], None] | None = None) -> TaskOutput:
    if task.kind == "default":
        return run_default_chain(scenario, seed, grids, options, say)
    return run_point(scenario, task, seed, options)


@dataclass(frozen=True)
class _Context:
    """What every task needs, shipped once per worker process (the state of :func:`studies.common.pool.run_tasks`);
    ``say`` (progress inside the default chain) only when the tasks run in this process."""

    scenario: RuralIESScenario
    seed: int
    grids: StudyGrids
    options: SolverOptions
    say: Callable[[str], None] | None = None


def _run_task(ctx: _Context, task: Task) -> TaskOutput:
    return run_task(ctx.scenario, task, ctx.seed, ctx.grids, ctx.options, ctx.say)


def study_tasks(scenario: RuralIESScenario, grids: StudyGrids) -> list[Task]:
    """The default chain plus every M, K and degree point that differs from the defaults, largest first."""
    u = scenario.uncertainty
    for name, values in (("M", grids.M), ("K", grids.K)):
        bad = [v for v in values if int(v) != v or v < 1]
        if bad:
            raise ValueError(f"{name} grid: values must be whole numbers >= 1, got {bad}")
    too_small = [m for m in grids.M if m < u.K]
    if too_small:
        raise ValueError(f"M grid {too_small}: every M must be >= K = {u.K} (k-means needs K days)")
    too_big = [k for k in grids.K if k > u.M]
    if too_big:
        raise ValueError(f"K grid {too_big}: every K must be <= M = {u.M}")
    tasks = [Task("default")]
    tasks += [Task("M", m) for m in grids.M if m != u.M]
    tasks += [Task("K", k) for k in grids.K if k != u.K]
    tasks += [Task("degree", d) for d in grids.degree if not math.isclose(d, 1.0)]
    return sorted(tasks, key=lambda t: -t.cost())


# ---------------------------------------------------------------------------------------------- the study
@dataclass
class RuralStudyResult:
    out: Path
    methods: pd.DataFrame
    sensitivity: dict[str, pd.DataFrame]
    convergence: pd.DataFrame
    sample_costs: pd.DataFrame
    timeseries: pd.DataFrame
    meta: dict[str, Any]


def _sensitivity_frame(part: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    cols = list(SENSITIVITY_COLUMNS[part])
    df = pd.DataFrame(rows, columns=cols)
    keys = list(PARAMETERS[part])
    return df.sort_values(keys, kind="stable").reset_index(drop=True)


def _timeseries(disp: pd.DataFrame, costs: pd.DataFrame, currency: str) -> pd.DataFrame:
    """Dispatch plus the realised-sample costs (entity ``cost``, period 0 = the whole day)."""
    parts = [disp]
    for var, unit in (("p0", "1"), ("p_worst", "1"), ("recourse_cost", currency), ("total_cost", currency)):
        parts.append(pd.DataFrame({"method": costs["method"], "sample": costs["sample"], "period": 0,
                                   "entity": "cost", "variable": var, "value": costs[var].astype(float),
                                   "unit": unit}))
    ts = pd.concat(parts, ignore_index=True)[list(TIMESERIES_COLUMNS)]
    for c in ("method", "entity", "variable", "unit"):
        ts[c] = ts[c].astype(str).astype("category")
    ts["sample"] = ts["sample"].astype("int32")
    ts["period"] = ts["period"].astype("int16")
    return ts


def _relative(path: Path | None) -> str | None:
    """``path`` relative to the working directory when it lies below it (reports without machine paths)."""
    if path is None:
        return None
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _profiles(sc: RuralIESScenario) -> dict[str, list[float]]:
    return {name: [float(v) for v in getattr(sc, name)] for name in (
        "da_price", "buy_price", "sell_price", "power_load_kw", "heat_load_kw", "pv_forecast_kw",
        "biogas_production_m3_per_h")}


def run_rural_study(
    out: str | Path,
    *,
    scenario: str | Path | RuralIESScenario = "rural_ies",
    seed: int | None = None,
    quick: bool = False,
    grids: StudyGrids | None = None,
    workers: int = 1,
    options: SolverOptions | None = None,
    figures: bool = True,
    quiet: bool = False,
) -> RuralStudyResult:
    """Run the study and write every output into ``out`` (see the module docstring)."""
    t_all = time.perf_counter()
    env = environment_info()  # at the start: the load average is the machine's before the study
    say = progress_printer(quiet)
    sc = scenario if isinstance(scenario, RuralIESScenario) else load_rural_ies(scenario)
    seed_v = int(sc.seed if seed is None else seed)
    g = grids if grids is not None else (StudyGrids.quick() if quick else StudyGrids())
    options = options or SolverOptions()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tasks = study_tasks(sc, g)
    u = sc.uncertainty
    say(f"scenario {sc.name}, seed {seed_v}, M {u.M}, K {u.K}, α∞ {u.alpha_inf}, α1 {u.alpha_1}, λ {u.lam}, "
        f"ε {u.epsilon}; {len(tasks)} tasks on {workers} worker(s){' (quick grids)' if quick else ''}")
    if workers > 1 and options.threads == 0:
        # one HiGHS thread per process: HiGHS's worker threads spin while they wait, and two processes that
        # each start a pool on 2 cores slow each other down (measured: CDRO solves 1.5 s -> 3 s)
        options = dataclasses.replace(options, threads=1)

    def done(task: Task, res: TaskOutput) -> None:
        say(f"{task.name} done in {res.wall_s:.1f} s"
            + (" (" + ", ".join(f"{k} {v:.1f} s" for k, v in res.seconds.items()) + ")"
               if task.kind == "default" else ""))

    # results in task order whatever the number of workers (and so are convergence.csv and the timings)
    ctx = functools.partial(_Context, sc, seed_v, g, options, say if workers <= 1 else None)
    outputs = run_tasks(_run_task, tasks, setup=ctx, workers=workers, on_done=done)
    solve_wall = time.perf_counter() - t_all

    default = next(o for o in outputs if o.task.kind == "default")
    methods = pd.DataFrame(default.methods, columns=list(METHOD_COLUMNS))
    rows: dict[str, list[dict[str, Any]]] = {part: [] for part in PARAMETERS}
    convergence: list[dict[str, Any]] = []
    seconds: dict[str, float] = dict.fromkeys(PARTS, 0.0)
    for o in outputs:
        for part, rs in o.rows.items():
            rows[part] += rs
        convergence += o.convergence
        for part, s in o.seconds.items():
            seconds[part] += s
    sens = {part: _sensitivity_frame(part, rs) for part, rs in rows.items()}
    conv = pd.DataFrame(convergence, columns=list(CONVERGENCE_COLUMNS))
    assert default.sample_costs is not None and default.timeseries is not None
    costs = default.sample_costs
    ts = _timeseries(default.timeseries, costs, sc.currency)

    write_csv(methods, out / "methods.csv")
    for part, df in sens.items():
        write_csv(df, out / SENSITIVITY_FILES[part])
    write_csv(conv, out / "convergence.csv")
    write_csv(costs, out / "sample_costs.csv")
    write_parquet(ts, out / "timeseries.parquet")
    meta = _meta(sc, seed_v, quick, g, options, workers, outputs, seconds, solve_wall, env)
    write_json(jsonable(meta), out / "study.json")
    say(f"tables written to {out} ({time.perf_counter() - t_all:.1f} s)")
    result = RuralStudyResult(out, methods, sens, conv, costs, ts, meta)
    if figures:  # from the files just written, as --report-only does
        t0 = time.perf_counter()
        tables = load_tables(out)
        figs = write_figures(tables, out / "figures")
        meta["timings"]["figures_s"] = time.perf_counter() - t0
        meta["timings"]["total_s"] = time.perf_counter() - t_all
        tables.meta = jsonable(meta)
        write_json(tables.meta, out / "study.json")
        report = write_report(tables, out, figs)
        say(f"{len(figs)} figures and {report.name} written in {time.perf_counter() - t0:.1f} s")
    else:
        meta["timings"]["total_s"] = time.perf_counter() - t_all
        write_json(jsonable(meta), out / "study.json")
    say(f"study finished in {meta['timings']['total_s']:.1f} s")
    return result


def _meta(sc: RuralIESScenario, seed: int, quick: bool, g: StudyGrids, options: SolverOptions, workers: int,
          outputs: Sequence[TaskOutput], seconds: dict[str, float], solve_wall: float,
          env: dict[str, Any]) -> dict[str, Any]:
    u = sc.uncertainty
    theta_1, theta_inf = ambiguity_radii(u.M, u.K, u.alpha_1, u.alpha_inf)
    default = next(o for o in outputs if o.task.kind == "default")
    sizes = sorted((o.model for o in outputs if o.model), key=lambda m: (m["K"], m["M"]))
    tl = sc.transferable_load
    return {
        "scenario": sc.name,
        "scenario_file": _relative(sc.source),
        "currency": sc.currency,
        "seed": seed,
        "quick": quick,
        "grids": g.as_dict(),
        "defaults": {"M": u.M, "K": u.K, "alpha_inf": u.alpha_inf, "alpha_1": u.alpha_1, "theta_1": theta_1,
                     "theta_inf": theta_inf, "lam": u.lam, "eps": u.epsilon, "sigma": u.sigma,
                     "error_bound": u.error_bound, "ar1_phi": u.ar1_phi, "cvar_beta": u.cvar_beta,
                     "method": u.method},
        "objective_method": "cdro",
        "objective_note": "sensitivity 'objective' = CDRO's C&CG upper bound = W of the CDRO plan (002 §4.3-4.5 "
                          "report the proposed method); SO and DRO of the same point are in so_* / dro_*",
        "common_random_numbers": (
            "one seed for every point; the M historical days are the first M of one draw from default_rng(seed) "
            "(nested prefixes), k-means continues the same generator; K points share the M = 200 days; degree "
            "points scale the same days exactly (same partition and p0); alpha, lambda and eps points reuse "
            "the default day's samples and model (alpha swaps the ambiguity set on the live model)"),
        "solver": {"lp_method": options.lp_method, "threads": options.threads, "time_limit_s": options.time_limit_s,
                   "max_iter": 50, "c&cg_stop": "UB - LB <= eps * max(1, |UB|)"},
        "model": default.model,
        "model_sizes": sizes,
        "devices": {
            "biogas_p_max_kw": sc.biogas_generator.p_max_kw, "biogas_p_min_kw": sc.biogas_generator.p_min_kw,
            "biogas_lhv_kwh_per_m3": sc.biogas_generator.lhv_kwh_per_m3,
            "biogas_eta_power": sc.biogas_generator.eta_power,
            "power_storage_kwh": sc.power_storage.capacity_kwh,
            "power_storage_kw": sc.power_storage.p_charge_max_kw,
            "heat_storage_kwh": sc.heat_storage.capacity_kwh,
            "transferable_load_kw": tl.load_kw, "transferable_window_h": [tl.window_start_h, tl.window_end_h],
            "transferable_periods": list(tl.window_periods(sc.horizon)),
            "da_trading_kw": [sc.da_trading.p_min_kw, sc.da_trading.p_max_kw],
            "voll_per_kwh": sc.voll_per_kwh,
        },
        "profiles": _profiles(sc),
        "dispatch_degeneracy": default.notes.get("dispatch_degeneracy"),
        "timings": {
            "parts_s": seconds,
            "tasks": [{"task": o.task.name, "wall_s": o.wall_s} for o in outputs],
            "solve_wall_s": solve_wall,
            "workers": workers,
        },
        "environment": env,
    }

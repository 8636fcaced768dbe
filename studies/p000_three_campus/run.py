"""The paper-000 study: four cases, the epsilon sensitivity and the stress tests (SPEC §4.9).

All solves share one persistent :class:`~sim.systems.three_campus.cloud.CloudModel` (one build, parameter updates in
between) and one RT scenario set (common random numbers).  With ``workers=2`` the cases are
split over two processes (:func:`studies.common.pool.run_tasks`), each with its own persistent model; results do
not depend on it.  The tables (:mod:`.tables`) are written first, then the figures and ``report.md``
(:mod:`.report`).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from agents.decision.uncertainty import cvar_weights
from agents.milp import SolverOptions
from scenarios.schema import ThreeCampusScenario
from sim.engine.io import write_csv, write_json, write_parquet
from sim.systems.three_campus.cloud import PAPER_CASES, CaseResult, CloudCase, CloudModel, Formulation
from studies.common.pool import run_tasks
from studies.p000_three_campus.report import render, write_figures, write_report
from studies.p000_three_campus.tables import CASE_COLUMNS, StudyResult
from studies.p000_three_campus.tables import load_study as load_study

log = logging.getLogger(__name__)

EPSILONS = (0.05, 0.10, 0.15, 0.20)
STRESS_FACTORS = (0.75, 0.50, 0.25)


@dataclass(frozen=True)
class StudyCase:
    """A case of the study with the table it belongs to."""

    table: str  # "cases" | "sensitivity" | "stress"
    case: CloudCase
    epsilon: float | None = None
    test: str | None = None
    factor: float | None = None


def study_cases(epsilons: Sequence[float] = EPSILONS, factors: Sequence[float] = STRESS_FACTORS) -> list[StudyCase]:
    out = [StudyCase("cases", c) for c in PAPER_CASES]
    out += [StudyCase("sensitivity", CloudCase(f"epsilon_{e:.2f}", epsilon=e), epsilon=e) for e in epsilons]
    out += [StudyCase("stress", CloudCase(f"p2p_capacity_{f:.2f}", p2p_capacity_factor=f), test="p2p_capacity",
                      factor=f) for f in factors]
    out += [StudyCase("stress", CloudCase(f"ess_capacity_{f:.2f}", ess_capacity_factor=f), test="ess_capacity",
                      factor=f) for f in factors]
    return out


def _row(sc: StudyCase, r: CaseResult) -> dict[str, Any]:
    row: dict[str, Any] = {"case": sc.case.name, **r.kpis}
    row["build_seconds"] = r.build_s + r.handover_s
    row["solve_seconds"] = r.solve_s
    row["formulation"] = r.path if r.reused_from is None else f"{r.path} (same problem as {r.reused_from})"
    return row


def _solve_case(model: CloudModel, sc: StudyCase) -> CaseResult:
    """One case on the persistent model of this process (a task of :func:`studies.common.pool.run_tasks`)."""
    return model.solve(sc.case)


def _log_case(sc: StudyCase, r: CaseResult) -> None:
    log.info("%-22s %-40s objective %.2f  solve %.1f s", sc.case.name, r.path, r.objective, r.solve_s)


def run_campus_study(
    scenario: ThreeCampusScenario,
    out: str | Path,
    *,
    n_scenarios: int | None = None,
    epsilon: float | None = None,
    beta: float | None = None,
    seed: int | None = None,
    formulation: Formulation = "auto",
    options: SolverOptions | None = None,
    workers: int = 1,
    progress: bool = True,
    figures: bool = True,
    cases: list[StudyCase] | None = None,
) -> StudyResult:
    """Run the study and write every output file into ``out`` (see README)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cases = cases if cases is not None else study_cases()
    kw: dict[str, Any] = dict(n_scenarios=n_scenarios, epsilon=epsilon, beta=beta, seed=seed,
                              formulation=formulation, options=options)
    t0 = time.perf_counter()
    bar = tqdm(total=len(cases), desc="campus study", unit="solve", disable=not progress)

    def done(sc: StudyCase, r: CaseResult) -> None:
        _log_case(sc, r)
        bar.set_postfix_str(sc.case.name)
        bar.update()

    # one persistent model per process, built once; the cases are handed out one by one
    solved = run_tasks(_solve_case, cases, setup=functools.partial(CloudModel, scenario, **kw), workers=workers,
                       on_done=done)
    results: list[tuple[StudyCase, CaseResult]] = list(zip(cases, solved, strict=True))
    if workers > 1:
        # a case equal to another (epsilon 0.10 = proposed) may have been solved in another process
        seen: dict[tuple[Any, ...], str] = {}
        eps0 = epsilon if epsilon is not None else scenario.uncertainty.epsilon
        for i, (sc, r) in enumerate(results):
            key = sc.case.key(eps0)
            if key in seen and r.reused_from is None:
                results[i] = (sc, replace(r, reused_from=seen[key], build_s=0.0, handover_s=0.0, solve_s=0.0,
                                          extract_s=0.0))
            seen.setdefault(key, sc.case.name)
    bar.close()
    wall = time.perf_counter() - t0

    unc = scenario.uncertainty
    beta_v = beta if beta is not None else unc.beta
    tables: dict[str, list[dict[str, Any]]] = {"cases": [], "sensitivity": [], "stress": []}
    scen_rows, solve_rows, ts_parts, dev_parts = [], [], [], []
    for sc, r in results:
        row = _row(sc, r)
        if sc.table == "sensitivity":
            row = {"epsilon": sc.epsilon, **row}
        elif sc.table == "stress":
            row = {"test": sc.test, "factor": sc.factor, **row}
        tables[sc.table].append(row)
        w = cvar_weights(r.scenario_cost, beta_v)
        for s in range(r.scenario_cost.size):
            scen_rows.append({"case": sc.case.name, "scenario": s + 1, "cost": r.scenario_cost[s],
                              "operation_cost": r.scenario_operation_cost[s],
                              "deviation_cost": r.scenario_deviation_cost[s], "worst_case_weight": w[s]})
        for st in r.stats if r.reused_from is None else []:
            solve_rows.append({"case": sc.case.name, **{k: v for k, v in st.as_dict().items() if k != "name"}})
        ts_parts.append(r.timeseries.astype({"case": str, "stage": str, "park": str, "variable": str, "unit": str}))
        dev_parts.append(r.deviations)

    cases_df = pd.DataFrame(tables["cases"], columns=CASE_COLUMNS)
    sens_df = pd.DataFrame(tables["sensitivity"], columns=["epsilon", *CASE_COLUMNS])
    stress_df = pd.DataFrame(tables["stress"], columns=["test", "factor", *CASE_COLUMNS])
    scen_df = pd.DataFrame(scen_rows)
    solves_df = pd.DataFrame(solve_rows)
    ts = pd.concat(ts_parts, ignore_index=True)
    for c in ("case", "stage", "park", "variable", "unit"):
        ts[c] = ts[c].astype("category")
    devs = pd.concat(dev_parts, ignore_index=True)

    write_csv(cases_df, out / "cases.csv")
    write_csv(sens_df, out / "sensitivity_epsilon.csv")
    write_csv(stress_df, out / "stress.csv")
    write_csv(scen_df, out / "scenario_costs.csv")
    write_csv(solves_df, out / "solves.csv")
    write_parquet(ts, out / "timeseries.parquet")
    write_parquet(devs, out / "deviations.parquet")
    first = results[0][1]
    meta = {
        "scenario": scenario.name,
        "scenario_file": str(scenario.source.name) if scenario.source else None,
        "n_scenarios": n_scenarios or unc.n_scenarios,
        "epsilon": epsilon if epsilon is not None else unc.epsilon,
        "beta": beta_v,
        "seed": seed if seed is not None else scenario.seed,
        "formulation": formulation,
        "lp_method": (options or SolverOptions()).lp_method,
        "wall_seconds": wall,
        "workers": workers,
        "model_rows": first.stats[0].n_rows,
        "model_cols": first.stats[0].n_cols,
        "model_nonzeros": first.stats[0].n_nonzeros,
        "model_binaries": first.stats[0].n_binaries_declared,
        "currency": scenario.currency,
        "expected_cost_weight": scenario.objective.expected_cost_weight,
        "p2p_flow_cost_per_kwh": scenario.objective.p2p_flow_cost_per_kwh,
        "line_capacity_kw": {ln.name: ln.cap_forward_kw for ln in scenario.lines},
        "penalties": scenario.penalties.as_dict(),
    }
    write_json(meta, out / "study.json")
    result = StudyResult(cases_df, sens_df, stress_df, scen_df, solves_df, ts, devs, meta)
    if figures:  # from the tables in memory
        figs = write_figures(result, out / "figures")
        write_report(result, out, figs)
    return result


def report_study(out_dir: str | Path) -> Path:
    """Redraw the figures and rewrite ``report.md`` of a finished study (:func:`.report.render`)."""
    return render(out_dir)[1]


def check_balance(ts: pd.DataFrame) -> float:
    """Largest |supply - demand| over every case, stage, scenario, period and park (kW)."""
    wide = ts[ts["variable"].isin([
        "pv_kw", "wind_kw", "chp_kw", "ess_discharge_kw", "grid_buy_kw", "p2p_net_in_kw",
        "ess_charge_kw", "grid_sell_kw", "load_kw",
    ])].pivot_table(index=["case", "stage", "scenario", "period", "park"], columns="variable", values="value",
                    observed=True, aggfunc="first").fillna(0.0)
    supply = sum(wide.get(c, 0.0) for c in ("pv_kw", "wind_kw", "chp_kw", "ess_discharge_kw", "grid_buy_kw",
                                            "p2p_net_in_kw"))
    demand = sum(wide.get(c, 0.0) for c in ("ess_charge_kw", "grid_sell_kw", "load_kw"))
    return float(np.abs(np.asarray(supply) - np.asarray(demand)).max())

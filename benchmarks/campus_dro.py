"""Benchmark of the three-campus CVaR-DRO cloud model (paper 000): solve paths, LP methods, overhead.

For every number of RT scenarios ``S`` and every LP method a fresh :class:`sim.systems.three_campus.cloud.CloudModel`
(``formulation="auto"``: LP with complementarity certificate, MILP fallback on the offending
devices only) is built and the proposed case is solved.  The timings of each stage (Pyomo build,
hand-over to HiGHS, solve, extraction), the modelling overhead share, the problem size, the path
taken and the iteration counts are recorded.  For the chosen ``S`` the paper's all-binary MILP
(``formulation="milp"``) is solved under a time limit, and its incumbent and dual bound are
checked against the auto path's certified objective.

Usage (from the repository root)::

    PYTHONPATH=. python benchmarks/campus_dro.py --out benchmarks/results
    PYTHONPATH=. python benchmarks/campus_dro.py --quick            # smoke test, S = 2

Outputs ``DIR/campus_dro.json`` (machine info, configuration, one record per run, medians over the
HiGHS seeds, consistency checks) and ``DIR/campus_dro.md`` (the same as markdown tables plus an
interpretation generated from the numbers).  Both are written atomically.
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, cast

import pandas as pd

from agents.milp import LpMethod, SolveError, SolverOptions, SolveStats
from scenarios.loader import load_three_campus
from scenarios.schema import ThreeCampusScenario
from sim.engine.io import finite_or_none, jsonable, machine_info, markdown_table, write_json, write_text
from sim.systems.three_campus.cloud import CloudCase, CloudModel

LP_METHODS: tuple[str, ...] = ("ipm", "simplex", "choose")
QUICK_SCENARIOS = [2]
QUICK_MILP_LIMIT_S = 30.0
JSON_NAME = "campus_dro.json"
MD_NAME = "campus_dro.md"
SCHEMA_VERSION = 1

Record = dict[str, Any]


# ---------------------------------------------------------------------------------------- CLI
def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of integers, got {text!r}") from exc
    if not values:
        raise argparse.ArgumentTypeError("the list is empty")
    return values


def _scenario_list(text: str) -> list[int]:
    values = _int_list(text)
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"numbers of scenarios must be >= 1, got {text!r}")
    return list(dict.fromkeys(values))


def _milp_list(text: str) -> list[int]:
    if text.strip().lower() in ("none", ""):
        return []
    return _scenario_list(text)


def _seed_list(text: str) -> list[int]:
    values = _int_list(text)
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"seeds must be >= 0, got {text!r}")
    return list(dict.fromkeys(values))


def _method_list(text: str) -> list[str]:
    values = list(dict.fromkeys(v.strip().lower() for v in text.split(",") if v.strip()))
    bad = [v for v in values if v not in LP_METHODS]
    if bad or not values:
        raise argparse.ArgumentTypeError(f"LP methods must be among {', '.join(LP_METHODS)}, got {text!r}")
    return values


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from exc
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="campus_dro.py",
        description="Benchmark the three-campus CVaR-DRO cloud model: auto path (LP certificate + MILP fallback) "
        "per LP method and number of scenarios, against the all-binary MILP under a time limit.",
    )
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"),
                   help="output folder for campus_dro.json and campus_dro.md (default: %(default)s)")
    p.add_argument("--scenario", default="three_campus", help="scenario name or path (default: %(default)s)")
    p.add_argument("--scenarios", type=_scenario_list, default=[4, 12, 24], metavar="S[,S...]",
                   help="numbers of RT scenarios for the auto path (default: 4,12,24)")
    p.add_argument("--milp-time-limit", type=_positive_float, default=300.0, metavar="SECONDS",
                   help="time limit of the all-binary MILP (default: %(default)g)")
    p.add_argument("--milp-scenarios", type=_milp_list, default=[12], metavar="S[,S...]|none",
                   help="numbers of RT scenarios that get the all-binary MILP comparison (default: 12; "
                   "'none' to skip)")
    p.add_argument("--lp-methods", type=_method_list, default=["ipm", "simplex"], metavar="M[,M...]",
                   help=f"HiGHS LP algorithms for the auto path, among {', '.join(LP_METHODS)} "
                   "(default: ipm,simplex)")
    p.add_argument("--seeds", type=_seed_list, default=[0], metavar="N[,N...]",
                   help="HiGHS random_seed values; every run is repeated per seed and the median is reported "
                   "(default: 0)")
    p.add_argument("--threads", type=int, default=0,
                   help="HiGHS threads (0 = HiGHS decides; default: %(default)s)")
    p.add_argument("--check-rel-tol", type=_positive_float, default=1e-4, metavar="TOL",
                   help="relative tolerance of the auto-vs-MILP consistency check (default: %(default)g, "
                   "the MIP gap of the auto path)")
    p.add_argument("--quick", action="store_true",
                   help=f"smoke test: S={','.join(map(str, QUICK_SCENARIOS))} only (auto and MILP unless "
                   f"--milp-scenarios none), MILP time limit {QUICK_MILP_LIMIT_S:g} s")
    return p


def _resolve(args: argparse.Namespace) -> argparse.Namespace:
    """Apply ``--quick`` to the parsed arguments."""
    if args.quick:
        args.scenarios = list(QUICK_SCENARIOS)
        args.milp_scenarios = list(QUICK_SCENARIOS) if args.milp_scenarios else []
        args.milp_time_limit = QUICK_MILP_LIMIT_S
    return args


# ------------------------------------------------------------------------------- machine info
# ---------------------------------------------------------------------------------- helpers
def _share(overhead: float, solve: float) -> float | None:
    return overhead / solve if solve > 0 else None


def _steps(stats: Sequence[SolveStats]) -> list[Record]:
    return [
        {
            "path": st.path,
            "status": st.status,
            "lp_method": st.lp_method,
            "is_mip": st.is_mip,
            "objective": finite_or_none(st.objective),
            "dual_bound": finite_or_none(st.dual_bound),
            "mip_gap": finite_or_none(st.mip_gap),
            "solve_s": st.solve_s,
            "simplex_iterations": st.simplex_iterations,
            "ipm_iterations": st.ipm_iterations,
            "mip_nodes": st.mip_nodes,
            "n_rows": st.n_rows,
            "n_integer_active": st.n_integer_active,
        }
        for st in stats
    ]


def _say(msg: str) -> None:
    print(msg, flush=True)


# ------------------------------------------------------------------------------------ runs
def run_auto(scenario: ThreeCampusScenario, n_scenarios: int, lp_method: str, seed: int, threads: int) -> Record:
    """Build a fresh auto-formulation model for ``n_scenarios`` and solve the proposed case."""
    rec: Record = {"kind": "auto", "formulation": "auto", "S": n_scenarios, "lp_method": lp_method, "seed": seed}
    t0 = time.perf_counter()
    options = SolverOptions(lp_method=cast(LpMethod, lp_method), random_seed=seed, threads=threads)
    try:
        model = CloudModel(scenario, n_scenarios=n_scenarios, formulation="auto", options=options)
        res = model.solve(CloudCase())
    except (SolveError, RuntimeError) as exc:
        rec.update(status=getattr(exc, "status", "error"), error=str(exc), wall_s=time.perf_counter() - t0)
        return rec
    wall = time.perf_counter() - t0
    first, last = res.stats[0], res.stats[-1]
    overhead = res.build_s + res.handover_s + res.extract_s
    rec.update(
        status=last.status,
        error=None,
        path=res.path,
        objective=finite_or_none(res.objective),
        solver_objective=finite_or_none(res.solver_objective),
        lp_lower_bound=finite_or_none(first.objective),
        build_s=res.build_s,
        handover_s=res.handover_s,
        solve_s=res.solve_s,
        extract_s=res.extract_s,
        overhead_s=overhead,
        overhead_share=_share(overhead, res.solve_s),
        wall_s=wall,
        n_rows=first.n_rows,
        n_cols=first.n_cols,
        n_nonzeros=first.n_nonzeros,
        n_rows_final=last.n_rows,
        n_binaries_declared=first.n_binaries_declared,
        n_integer_active=last.n_integer_active,
        n_solves=len(res.stats),
        simplex_iterations=sum(st.simplex_iterations for st in res.stats),
        ipm_iterations=sum(st.ipm_iterations for st in res.stats),
        mip_nodes=sum(st.mip_nodes for st in res.stats),
        steps=_steps(res.stats),
    )
    del model, res
    gc.collect()
    return rec


def run_milp(scenario: ThreeCampusScenario, n_scenarios: int, time_limit_s: float, seed: int,
             threads: int) -> Record:
    """The paper's all-binary MILP under a time limit; a time-limit stop is a result, not an error."""
    rec: Record = {"kind": "milp", "formulation": "milp", "S": n_scenarios, "lp_method": "simplex", "seed": seed,
                   "time_limit_s": time_limit_s}
    t0 = time.perf_counter()
    options = SolverOptions(time_limit_s=time_limit_s, lp_method="simplex", random_seed=seed, threads=threads)
    try:
        model = CloudModel(scenario, n_scenarios=n_scenarios, formulation="milp", options=options)
    except (SolveError, RuntimeError) as exc:
        rec.update(status=getattr(exc, "status", "error"), error=str(exc), wall_s=time.perf_counter() - t0)
        return rec
    build_s = model.build_s
    handover_s = model.hm.handover_s
    extract_s: float | None = None
    path: str | None = None
    error: str | None = None
    try:
        res = model.solve(CloudCase())
        stats = res.stats[-1]
        extract_s = res.extract_s
        path = res.path
    except SolveError as exc:
        error = str(exc)
        if model.hm.last is None:
            rec.update(status=exc.status, error=error, wall_s=time.perf_counter() - t0)
            return rec
        stats = model.hm.last
    wall = time.perf_counter() - t0
    overhead = build_s + handover_s + (extract_s or 0.0)
    rec.update(
        status=stats.status,
        error=error,
        path=path or f"milp({stats.n_integer_active} binaries)",
        incumbent=finite_or_none(stats.objective),
        dual_bound=finite_or_none(stats.dual_bound),
        mip_gap=finite_or_none(stats.mip_gap),
        reached_limit=stats.status == "time_limit",
        build_s=build_s,
        handover_s=handover_s,
        solve_s=stats.solve_s,
        extract_s=extract_s,
        overhead_s=overhead,
        overhead_share=_share(overhead, stats.solve_s),
        wall_s=wall,
        n_rows=stats.n_rows,
        n_cols=stats.n_cols,
        n_nonzeros=stats.n_nonzeros,
        n_binaries_declared=stats.n_binaries_declared,
        n_integer_active=stats.n_integer_active,
        simplex_iterations=stats.simplex_iterations,
        ipm_iterations=stats.ipm_iterations,
        mip_nodes=stats.mip_nodes,
    )
    del model
    gc.collect()
    return rec


# --------------------------------------------------------------------------- aggregation
MEDIAN_FIELDS = ("build_s", "handover_s", "solve_s", "extract_s", "overhead_s", "overhead_share", "wall_s",
                 "simplex_iterations", "ipm_iterations")


def _median(values: Iterable[Any]) -> float | None:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return statistics.median(vals) if vals else None


def summarise(records: list[Record]) -> list[Record]:
    """Median over the seeds of every (kind, S, LP method) group of successful runs."""
    groups: dict[tuple[str, int, str], list[Record]] = {}
    for r in records:
        if r.get("solve_s") is None:
            continue
        groups.setdefault((r["kind"], r["S"], r["lp_method"]), []).append(r)
    out: list[Record] = []
    for (kind, s, method), rs in groups.items():
        row: Record = {"kind": kind, "S": s, "lp_method": method, "n_seeds": len(rs),
                       "seeds": [r["seed"] for r in rs]}
        for f in MEDIAN_FIELDS:
            row[f"median_{f}"] = _median(r.get(f) for r in rs)
        row["min_solve_s"] = min(r["solve_s"] for r in rs)
        row["max_solve_s"] = max(r["solve_s"] for r in rs)
        row["paths"] = sorted({str(r.get("path")) for r in rs})
        key = "objective" if kind == "auto" else "incumbent"
        row[f"median_{key}"] = _median(r.get(key) for r in rs)
        if kind == "milp":
            row["median_dual_bound"] = _median(r.get("dual_bound") for r in rs)
            row["median_mip_gap"] = _median(r.get("mip_gap") for r in rs)
        out.append(row)
    return sorted(out, key=lambda r: (r["kind"], r["S"], r["lp_method"]))


def consistency_checks(records: list[Record], rel_tol: float) -> list[Record]:
    """Auto certified objective within [MILP dual bound - tol, MILP incumbent + tol] for the same S.

    The auto path is optimal within the MIP gap, so ``dual_bound <= OPT <= auto`` and
    ``auto <= OPT (1 + gap) <= incumbent + gap |auto|``.  The comparison uses the solver objective
    (the model's objective with the flow tie-break), which is what the MILP bounds refer to.
    Every MILP run is compared with the auto runs of the same S and seed (any seed if none).
    """
    autos = [r for r in records if r["kind"] == "auto" and r.get("solver_objective") is not None]
    out: list[Record] = []
    for m in (r for r in records if r["kind"] == "milp"):
        same = [a for a in autos if a["S"] == m["S"] and a["seed"] == m["seed"]] or [
            a for a in autos if a["S"] == m["S"]
        ]
        if not same:
            out.append({"S": m["S"], "milp_seed": m["seed"], "auto_lp_method": None, "auto_seed": None,
                        "ok": None, "note": "no auto run for this S"})
            continue
        for a in same:
            obj = float(a["solver_objective"])
            tol = rel_tol * max(1.0, abs(obj)) + 1e-6
            lb, inc = m.get("dual_bound"), m.get("incumbent")
            lower_ok = None if lb is None else obj >= lb - tol
            upper_ok = None if inc is None else obj <= inc + tol
            known = [x for x in (lower_ok, upper_ok) if x is not None]
            out.append({
                "S": m["S"], "milp_seed": m["seed"], "auto_lp_method": a["lp_method"], "auto_seed": a["seed"],
                "auto_path": a.get("path"), "auto_objective": obj, "milp_status": m.get("status"),
                "milp_dual_bound": lb, "milp_incumbent": inc, "tolerance": tol,
                "auto_minus_dual_bound": None if lb is None else obj - lb,
                "incumbent_minus_auto": None if inc is None else inc - obj,
                "lower_ok": lower_ok, "upper_ok": upper_ok,
                "ok": all(known) if known else None,
                "note": ("MILP gave neither bound" if not known else "no MILP incumbent: lower check only"
                         if upper_ok is None else "no MILP dual bound: upper check only" if lower_ok is None else ""),
            })
    return out


# ------------------------------------------------------------------------------- markdown
def _fmt(v: Any, spec: str = ".3f") -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "–"
        return format(v, spec)
    return str(v).replace("|", "\\|")


def _table(rows: list[Record], columns: list[tuple[str, str, str]]) -> str:
    """Markdown table of ``rows``; ``columns`` are ``(field, header, format)``."""
    if not rows:
        return "_(no runs)_"
    data = {header: [_fmt(r.get(f), spec) for r in rows] for f, header, spec in columns}
    return markdown_table(pd.DataFrame(data))


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def _gap(x: float | None) -> str:
    return "–" if x is None else f"{x:.2e} ({100 * x:.3g} %)"


def interpretation(records: list[Record], summary: list[Record], checks: list[Record]) -> str:
    """One paragraph drawn from the figures."""
    parts: list[str] = []
    auto = [r for r in summary if r["kind"] == "auto"]
    by_s: dict[int, dict[str, Record]] = {}
    for r in auto:
        by_s.setdefault(r["S"], {})[r["lp_method"]] = r
    faster: list[str] = []
    for s in sorted(by_s):
        rows = {m: r for m, r in by_s[s].items() if r["median_solve_s"] is not None}
        if len(rows) < 2:
            continue
        ranked = sorted(rows.items(), key=lambda kv: kv[1]["median_solve_s"])
        (m1, r1), (m2, r2) = ranked[0], ranked[-1]
        ratio = r2["median_solve_s"] / r1["median_solve_s"] if r1["median_solve_s"] > 0 else math.inf
        faster.append(f"S={s}: {m1} {r1['median_solve_s']:.2f} s vs {m2} {r2['median_solve_s']:.2f} s "
                      f"({ratio:.1f}x)")
    if faster:
        wins: dict[str, int] = {}
        for s in by_s:
            rows = {m: r for m, r in by_s[s].items() if r["median_solve_s"] is not None}
            if len(rows) >= 2:
                best = min(rows.items(), key=lambda kv: kv[1]["median_solve_s"])[0]
                wins[best] = wins.get(best, 0) + 1
        verdict = " and ".join(f"{m} is faster at {n} of {len(faster)} sizes" for m, n in sorted(wins.items()))
        parts.append(f"Comparing median solve times of the auto path, {verdict} ({'; '.join(faster)}).")
    elif auto:
        only = ", ".join(f"S={r['S']} {r['lp_method']} {r['median_solve_s']:.2f} s" for r in auto)
        parts.append(f"Only one LP method was run; median solve times of the auto path: {only}.")
    if auto:
        sizes = sorted({r["S"] for r in auto})
        s_ref = 12 if 12 in sizes else sizes[-1]
        ref = [r for r in auto if r["S"] == s_ref]
        shares = ", ".join(f"{r['lp_method']} {_pct(r['median_overhead_share'])} "
                           f"({r['median_overhead_s']:.2f} s of build+hand-over+extraction vs "
                           f"{r['median_solve_s']:.2f} s solve)" for r in ref)
        parts.append(f"At S={s_ref} the modelling overhead relative to solve time is {shares}.")
        paths = sorted({p for r in auto for p in r["paths"]})
        certified = sum(1 for r in records if r["kind"] == "auto" and r.get("path") == "lp-certified")
        n_auto = sum(1 for r in records if r["kind"] == "auto" and r.get("path") is not None)
        parts.append(f"{certified} of {n_auto} auto runs were certified by the LP alone; paths taken: "
                     f"{'; '.join(paths)}.")
    failed = [r for r in records if r["kind"] == "auto" and r.get("error")]
    if failed:
        parts.append(f"{len(failed)} auto run(s) failed: " + "; ".join(
            f"S={r['S']} {r['lp_method']} seed {r['seed']}: {r['status']}" for r in failed) + ".")
    for m in (r for r in summary if r["kind"] == "milp"):
        runs = [r for r in records if r["kind"] == "milp" and r["S"] == m["S"]]
        limit = runs[0].get("time_limit_s")
        hit = sum(1 for r in runs if r.get("reached_limit"))
        auto_s = [r for r in auto if r["S"] == m["S"] and r["median_solve_s"] is not None]
        best_auto = min((r["median_solve_s"] for r in auto_s), default=None)
        gap = m.get("median_mip_gap")
        if hit:
            txt = f"The all-binary MILP at S={m['S']} stopped at its {limit:g} s limit in {hit} of {len(runs)} run(s) "
            if gap is None:
                txt += "without an incumbent, so without a gap"
            else:
                txt += f"with a median relative gap of {_gap(gap)}"
            txt += (f" (incumbent {_fmt(m.get('median_incumbent'), '.2f')}, "
                    f"dual bound {_fmt(m.get('median_dual_bound'), '.2f')})")
        else:
            txt = (f"The all-binary MILP at S={m['S']} reached optimality (relative gap {_gap(gap)}) in a median "
                   f"{m['median_solve_s']:.2f} s")
        if best_auto is not None:
            txt += f", while the auto path solved the same S in {best_auto:.2f} s"
            if m["median_solve_s"] and best_auto > 0:
                bound = "at least " if hit else ""
                txt += f" ({bound}{m['median_solve_s'] / best_auto:.1f}x less solver time)"
        parts.append(txt + ".")
    milp_errors = [r for r in records if r["kind"] == "milp" and r.get("solve_s") is None]
    if milp_errors:
        parts.append(f"{len(milp_errors)} MILP run(s) gave no solver statistics: " + "; ".join(
            f"S={r['S']}: {r['status']}" for r in milp_errors) + ".")
    if checks:
        decided = [c for c in checks if c.get("ok") is not None]
        bad = [c for c in decided if not c["ok"]]
        if bad:
            parts.append(f"Consistency check FAILED in {len(bad)} of {len(decided)} comparisons: the auto objective "
                         "lies outside [MILP dual bound, MILP incumbent] beyond tolerance.")
        elif decided:
            parts.append(f"In all {len(decided)} comparison(s) the auto path's certified objective is consistent "
                         "with the MILP's bounds (not below its dual bound, not above its incumbent where one "
                         "exists, within tolerance), as it must be.")
    return " ".join(parts) if parts else "No runs completed."


def render_markdown(doc: dict[str, Any]) -> str:
    records: list[Record] = doc["records"]
    auto = [r for r in records if r["kind"] == "auto"]
    milp = [r for r in records if r["kind"] == "milp"]
    mach = doc["machine"]
    cfg = doc["config"]
    out = [
        "# Benchmark: three-campus CVaR-DRO cloud model",
        "",
        f"Generated {mach['date']} on {mach['platform']} ({mach['cpu_count']} CPUs, "
        f"{mach['cpu_affinity']} usable, load average at start {mach['load_average_at_start']}); "
        f"Python {mach['python']}, HiGHS {mach['highspy']}, Pyomo {mach['pyomo']}.",
        "",
        f"Configuration: scenario `{cfg['scenario']}`, S = {cfg['scenarios']}, LP methods {cfg['lp_methods']}, "
        f"HiGHS seeds {cfg['seeds']}, MILP comparison at S = {cfg['milp_scenarios'] or 'none'} "
        f"(time limit {cfg['milp_time_limit_s']:g} s){', quick mode' if cfg['quick'] else ''}. "
        "Times in seconds; overhead share = (build + hand-over + extraction) / solve.",
        "",
        "## Auto path (LP certificate, MILP fallback on offending devices) — every run",
        "",
        _table(auto, [
            ("S", "S", ""), ("lp_method", "LP", ""), ("seed", "seed", ""), ("status", "status", ""),
            ("build_s", "build", ".2f"), ("handover_s", "hand-over", ".2f"), ("solve_s", "solve", ".2f"),
            ("extract_s", "extract", ".2f"), ("overhead_share", "overhead/solve", ".2f"),
            ("n_rows", "rows", ""), ("n_cols", "cols", ""), ("n_nonzeros", "nnz", ""),
            ("n_binaries_declared", "binaries declared", ""), ("n_integer_active", "integer active", ""),
            ("n_solves", "solves", ""), ("simplex_iterations", "simplex it.", ""),
            ("ipm_iterations", "IPM it.", ""), ("mip_nodes", "B&B nodes", ""),
            ("objective", "objective", ".4f"), ("solver_objective", "solver objective", ".4f"), ("path", "path", ""),
        ]),
        "",
        "## Auto path — median over seeds",
        "",
        _table([r for r in doc["summary"] if r["kind"] == "auto"], [
            ("S", "S", ""), ("lp_method", "LP", ""), ("n_seeds", "seeds", ""),
            ("median_build_s", "build", ".2f"), ("median_handover_s", "hand-over", ".2f"),
            ("median_solve_s", "solve", ".2f"), ("min_solve_s", "solve min", ".2f"),
            ("max_solve_s", "solve max", ".2f"), ("median_extract_s", "extract", ".2f"),
            ("median_overhead_share", "overhead/solve", ".2f"), ("median_wall_s", "wall", ".2f"),
            ("median_objective", "objective", ".4f"),
        ]),
        "",
        "## All-binary MILP (paper formulation) under a time limit",
        "",
        _table(milp, [
            ("S", "S", ""), ("seed", "seed", ""), ("time_limit_s", "limit", ".0f"), ("status", "status", ""),
            ("incumbent", "incumbent", ".4f"), ("dual_bound", "dual bound", ".4f"), ("mip_gap", "gap", ".2e"),
            ("build_s", "build", ".2f"), ("handover_s", "hand-over", ".2f"), ("solve_s", "solve", ".2f"),
            ("n_rows", "rows", ""), ("n_cols", "cols", ""), ("n_nonzeros", "nnz", ""),
            ("n_integer_active", "integer", ""), ("simplex_iterations", "simplex it.", ""),
            ("mip_nodes", "B&B nodes", ""),
        ]) if milp else "_(skipped)_",
        "",
        "## Consistency: MILP dual bound − tol ≤ auto objective ≤ MILP incumbent + tol",
        "",
        "Compared on the solver objective (CVaR objective plus the P2P flow tie-break, the quantity the MILP "
        "bounds refer to); the *objective* column of the auto tables is the reported CVaR + DA-cost KPI. "
        f"tol = {cfg['check_rel_tol']:g} · max(1, |auto|) + 1e-6.",
        "",
        _table(doc["checks"], [
            ("S", "S", ""), ("milp_seed", "MILP seed", ""), ("auto_lp_method", "auto LP", ""),
            ("auto_seed", "auto seed", ""), ("milp_dual_bound", "MILP dual bound", ".4f"),
            ("auto_objective", "auto solver objective", ".4f"), ("milp_incumbent", "MILP incumbent", ".4f"),
            ("tolerance", "tol", ".2e"), ("lower_ok", "≥ bound", ""), ("upper_ok", "≤ incumbent", ""),
            ("ok", "consistent", ""), ("note", "note", ""),
        ]) if doc["checks"] else "_(no MILP comparison)_",
        "",
        "## Interpretation",
        "",
        doc["interpretation"],
        "",
    ]
    return "\n".join(out)


# ------------------------------------------------------------------------------------ main
def _progress_auto(r: Record) -> str:
    if r.get("error"):
        return f"FAILED ({r['status']}): {r['error'].splitlines()[0]}"
    return (f"{r['path']}  obj {r['objective']:.4f}  build {r['build_s']:.2f} s  hand-over {r['handover_s']:.2f} s  "
            f"solve {r['solve_s']:.2f} s  extract {r['extract_s']:.2f} s  "
            f"overhead/solve {_fmt(r['overhead_share'], '.2f')}")


def _progress_milp(r: Record) -> str:
    if r.get("solve_s") is None:
        return f"FAILED ({r['status']}): {str(r.get('error')).splitlines()[0]}"
    return (f"{r['status']}  incumbent {_fmt(r['incumbent'], '.4f')}  dual bound {_fmt(r['dual_bound'], '.4f')}  "
            f"gap {_fmt(r['mip_gap'], '.2e')}  solve {r['solve_s']:.1f} s  nodes {r['mip_nodes']}")


def main(argv: Sequence[str] | None = None) -> int:
    args = _resolve(build_parser().parse_args(None if argv is None else [str(a) for a in argv]))
    out_dir = Path(args.out)
    t_start = time.perf_counter()
    machine = machine_info()
    config: dict[str, Any] = {
        "scenario": args.scenario, "scenarios": args.scenarios, "lp_methods": args.lp_methods,
        "seeds": args.seeds, "milp_scenarios": args.milp_scenarios, "milp_time_limit_s": args.milp_time_limit,
        "threads": args.threads, "check_rel_tol": args.check_rel_tol, "quick": args.quick,
        "argv": list(sys.argv[1:] if argv is None else [str(a) for a in argv]),
    }
    _say(f"campus_dro: S={args.scenarios} LP={args.lp_methods} seeds={args.seeds} "
         f"MILP S={args.milp_scenarios or 'none'} limit {args.milp_time_limit:g} s -> {out_dir}")
    missing = [s for s in args.milp_scenarios if s not in args.scenarios]
    if missing:
        _say(f"warning: no auto run for MILP S={missing} (not in --scenarios): no consistency check there")
    scenario = load_three_campus(args.scenario)
    records: list[Record] = []

    jobs: list[tuple[str, Callable[[], Record], Callable[[Record], str]]] = []
    for s in args.scenarios:
        for method in args.lp_methods:
            for seed in args.seeds:
                jobs.append((f"auto S={s} {method} seed {seed}",
                             partial(run_auto, scenario, s, method, seed, args.threads), _progress_auto))
    for s in args.milp_scenarios:
        for seed in args.seeds:
            jobs.append((f"milp S={s} simplex seed {seed} (limit {args.milp_time_limit:g} s)",
                         partial(run_milp, scenario, s, args.milp_time_limit, seed, args.threads), _progress_milp))
    for k, (label, job, show) in enumerate(jobs, 1):
        _say(f"[{k}/{len(jobs)}] {label} ...")
        rec = job()
        records.append(rec)
        _say(f"[{k}/{len(jobs)}] {label}: {show(rec)}  (wall {rec.get('wall_s', 0.0):.1f} s)")

    summary = summarise(records)
    checks = consistency_checks(records, args.check_rel_tol)
    doc: dict[str, Any] = {
        "benchmark": "campus_dro",
        "schema_version": SCHEMA_VERSION,
        "machine": machine,
        "config": config,
        "records": records,
        "summary": summary,
        "checks": checks,
        "total_wall_s": time.perf_counter() - t_start,
    }
    doc = jsonable(doc)
    doc["interpretation"] = interpretation(doc["records"], doc["summary"], doc["checks"])
    json_path = write_json(doc, out_dir / JSON_NAME)
    md_path = write_text(render_markdown(doc), out_dir / MD_NAME)

    for c in checks:
        if c.get("auto_lp_method") is None:
            _say(f"consistency S={c['S']}: {c['note']}")
            continue
        verdict = {True: "OK", False: "FAILED", None: "n/a"}[c["ok"]]
        _say(f"consistency S={c['S']} (auto {c['auto_lp_method']} seed {c['auto_seed']}, MILP seed {c['milp_seed']}): "
             f"dual bound {_fmt(c['milp_dual_bound'], '.4f')} <= auto {c['auto_objective']:.4f} <= incumbent "
             f"{_fmt(c['milp_incumbent'], '.4f')} (tol {c['tolerance']:.2e}): {verdict}")
    _say(doc["interpretation"])
    _say(f"wrote {json_path} and {md_path} ({doc['total_wall_s']:.1f} s)")

    failed_runs = [r for r in records if r["kind"] == "auto" and r.get("error")]
    failed_runs += [r for r in records if r["kind"] == "milp" and r.get("solve_s") is None]
    inconsistent = [c for c in checks if c.get("ok") is False]
    if failed_runs or inconsistent:
        _say(f"campus_dro: {len(failed_runs)} failed run(s), {len(inconsistent)} inconsistent comparison(s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

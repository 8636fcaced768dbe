"""Benchmark of one IEEE-33 study day of paper 004 (sim/systems/ieee33/schemes.py) for 20, 100, 500 EVs per station.

For every fleet size ``K`` (EVs per station, ``IEEE33Scenario.with_evs_per_station``) the study day of
the scenario's seed (:func:`sim.systems.ieee33.schemes.make_day`) is run the way ``run_sim.py study ieee33``
runs it: one :class:`sim.systems.ieee33.schemes.DistributionModel`, the day-ahead TOU design, then the
schemes cooperative, centralized, noncooperative and oracle, in that order.  Recorded:

* set-up: drawing the day, constructing the agents (TAs, clusters, one Mesa agent per EV and the
  pooled :class:`agents.ev.EVFleet`: build time, LP size, chunks);
* the DA stage (:func:`sim.systems.ieee33.tou_design.design_tou`): build and solve time, model size, EV aggregates;
* the cooperative scheme's bisection (SPEC §5.6 variant A): the iteration count against
  :func:`market.bisection_iteration_bound`, and every iteration's wall time split into the TAs'
  response, the EV fleet's response (and the HiGHS part of it) and the rest (excess demand, the
  bisection update); then the final ``C^0`` / NB-P1 solves (HiGHS time, paths, first-call builds);
* the centralized, noncooperative and oracle times; the oracle (one Pyomo EV block per vehicle) is
  skipped above ``--oracle-max-evs`` EVs per station and recorded as skipped;
* evidence that nothing is rebuilt: the HiGHS objects of the fleet's LP chunks seen by every
  response, the coalition model and the clusters' standalone models across schemes (object ids
  and build counts), the per-EV exact MILPs the fleet creates lazily, and the fleet's simplex
  iterations cold (first response of the day) against warm (the later bisection responses);
* the day's wall time, its growth from the smallest to the largest fleet against the fleet ratio,
  the time per EV and which part of the day dominates.

Nothing in the model is patched: :class:`TimedModel` subclasses ``DistributionModel`` and times
its ``respond`` / ``standalone`` / ``coalition`` calls around the parent's methods; the bisection
iterations are timed from the cooperative scheme's ``progress`` callback and the follower calls.

``checks`` lists every failed sanity check as a sentence (a scheme that failed, the cooperative
total above the noncooperative one, an oracle that is not the lowest, a bisection that did not
converge or exceeded its bound, NB-2 payments that do not sum to 0, a persistent model that was
rebuilt); it is empty when all is well, and the exit status is 1 otherwise.

Usage (from the repository root)::

    PYTHONPATH=. python benchmarks/ieee33_day.py --out benchmarks/results
    PYTHONPATH=. python benchmarks/ieee33_day.py --quick          # 20 EVs per station only

Outputs ``DIR/ieee33_day.json`` and ``DIR/ieee33_day.md`` (written atomically).
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agents.cluster import ClusterSolution
from agents.milp import SolveStats
from market import bisection_iteration_bound
from scenarios.ieee33_loader import load_ieee33_scenario
from scenarios.schema import IEEE33Scenario
from sim.engine.io import int_list, jsonable, machine_info, markdown_table, write_json, write_text
from sim.systems.ieee33.modes import MODES, SCHEMES, modes_of
from sim.systems.ieee33.schemes import DayData, DistributionModel, Followers, SchemeResult, make_day

JSON_NAME = "ieee33_day.json"
MD_NAME = "ieee33_day.md"
SCHEMA_VERSION = 1
DEFAULT_FLEETS = [20, 100, 500]
QUICK_FLEETS = [20]
SCHEME_ORDER: tuple[str, ...] = SCHEMES
#: Relative tolerance of the cost comparisons in the checks.
COST_REL_TOL = 1e-6
#: Growth exponents ``log(time ratio) / log(fleet ratio)`` below / above which growth is called
#: sub-linear / super-linear (in between: close to linear).
LINEAR_BAND = (0.9, 1.1)

Record = dict[str, Any]


# ---------------------------------------------------------------------------------------- CLI
def _nonneg_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from exc
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return v


def _pos_int(text: str) -> int:
    v = _nonneg_int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ieee33_day.py",
        description="Benchmark one IEEE-33 study day (DA TOU design + four schemes) for growing EV fleets.",
    )
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"),
                   help=f"output folder for {JSON_NAME} and {MD_NAME} (default: %(default)s)")
    p.add_argument("--scenario", default="ieee33", help="scenario name or path (default: %(default)s)")
    p.add_argument("--fleet", type=int_list, default=None, metavar="K[,K...]",
                   help="EVs per station (default: 20,100,500; with --quick: 20)")
    p.add_argument("--seed", type=_nonneg_int, default=None, help="study-day seed (default: the scenario's)")
    p.add_argument("--oracle-max-evs", type=_nonneg_int, default=100, metavar="K",
                   help="run the oracle only up to K EVs per station (default: %(default)s; 0 = never)")
    p.add_argument("--fleet-workers", type=_pos_int, default=1, metavar="W",
                   help="threads of the EV fleet's chunk solves (default: %(default)s, as the study)")
    p.add_argument("--no-v2g", action="store_true",
                   help="variant: every vehicle without V2G (not the scenario's fleet; recorded in the config)")
    p.add_argument("--quick", action="store_true", help="20 EVs per station only (unless --fleet is given)")
    return p


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ instrumented model
def _highs_s(stats: Iterable[SolveStats]) -> float:
    return float(sum(st.solve_s for st in stats))


class TimedModel(DistributionModel):
    """:class:`DistributionModel` that records every follower response and cluster solve it makes.

    Each override times the parent's method around the call and changes nothing else.  ``calls``
    has one entry per follower response (``perf_counter`` start/end, the TA/EV split, the ids of
    the fleet's HiGHS chunk models, the number of per-EV exact MILPs the fleet holds);
    ``cluster_solves`` one entry per ``C^0`` (all clusters) or NB-P1 call, with what it built.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[Record] = []
        self.cluster_solves: list[Record] = []
        self.last_followers: Followers | None = None

    def respond(self, prices: np.ndarray) -> Followers:
        t0 = time.perf_counter()
        f = super().respond(prices)
        t1 = time.perf_counter()
        fleet = self.fleet
        self.calls.append({
            "start": t0, "end": t1, "respond_s": t1 - t0,
            # TA responses plus the per-cluster sums of respond(): everything but the fleet's call
            "ta_s": max(0.0, (t1 - t0) - f.ev.total_s),
            "ev_s": f.ev.total_s, "ev_highs_s": f.ev.solve_s,
            "simplex_iterations": int(f.ev.simplex_iterations), "ev_path": f.ev.path, "ev_milps": int(f.ev.n_milp),
            "fleet_model_ids": tuple(id(ch.h) for ch in fleet.chunks) if fleet is not None else (),
            "ev_milp_models": len(fleet._milps) if fleet is not None else 0,
        })
        self.last_followers = f
        return f

    def standalone(self, followers: Followers) -> dict[str, ClusterSolution]:
        built = [c for c, a in self.clusters.items() if a._standalone is None]
        rec: Record = {"kind": "C0", "start": time.perf_counter(), "built": built, "ok": False}
        self.cluster_solves.append(rec)
        out = super().standalone(followers)
        rec.update(ok=True, wall_s=time.perf_counter() - rec["start"],
                   highs_s=_highs_s(st for s in out.values() for st in s.stats),
                   handover_s=float(sum(s.stats[0].handover_s for s in out.values() if s.stats)),
                   paths={c: s.path for c, s in out.items()})
        return out

    def coalition(self, followers: Followers) -> tuple[dict[str, ClusterSolution], list[SolveStats], str]:
        built = self._coalition is None
        rec: Record = {"kind": "NB-P1", "start": time.perf_counter(), "built": ["coalition"] if built else [],
                       "ok": False}
        self.cluster_solves.append(rec)
        sols, stats, path = super().coalition(followers)
        rec.update(ok=True, wall_s=time.perf_counter() - rec["start"], highs_s=_highs_s(stats), path=path,
                   n_solves=len(stats))
        if built and stats:  # HighsModel reports its build and hand-over with the first solve only
            rec.update(build_s=stats[0].build_s, handover_s=stats[0].handover_s, rows=stats[0].n_rows,
                       cols=stats[0].n_cols)
        return sols, stats, path

    def persistent_ids(self) -> Record:
        """Ids of the persistent HiGHS models (``None`` where not built yet)."""
        return {
            "coalition": id(self._coalition.hm) if self._coalition is not None else None,
            "standalone": {c: id(a._standalone.hm) if a._standalone is not None else None
                           for c, a in self.clusters.items()},
            "fleet_chunks": [id(ch.h) for ch in self.fleet.chunks] if self.fleet is not None else [],
            "ev_milp_models": len(self.fleet._milps) if self.fleet is not None else 0,
        }


# ------------------------------------------------------------------------------------ helpers
def _median(values: Iterable[float]) -> float | None:
    vals = [float(v) for v in values]
    return statistics.median(vals) if vals else None


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - not available
        return None


def _brief(exc: BaseException, limit: int = 400) -> str:
    """The exception on one line (a SolveError's diagnosis lines included), at most ``limit`` characters."""
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    text = f"{type(exc).__name__}: {text}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _day(scenario: IEEE33Scenario, seed: int | None, no_v2g: bool) -> DayData:
    day = make_day(scenario, seed)
    if not no_v2g:
        return day
    fleets = {bus: [replace(p, v2g=False) for p in evs] for bus, evs in day.fleets.items()}
    return DayData(seed=day.seed, forecast_kw=day.forecast_kw, realized_kw=day.realized_kw, fleets=fleets)


def _call_summary(calls: Sequence[Record]) -> Record:
    return {"calls": len(calls), "respond_s": float(sum(c["respond_s"] for c in calls)),
            "ta_s": float(sum(c["ta_s"] for c in calls)), "ev_s": float(sum(c["ev_s"] for c in calls)),
            "ev_highs_s": float(sum(c["ev_highs_s"] for c in calls))}


def _scheme_row(name: str, res: SchemeResult) -> Record:
    row: Record = {"total_cost": res.total_cost, "solve_seconds": res.solve_seconds, "paths": dict(res.paths)}
    if MODES[name].full_information:  # one MILP: its size and search
        st = res.stats
        row.update(
            build_s=st[0].build_s if st else None, handover_s=st[0].handover_s if st else None,
            highs_s=_highs_s(st), n_solves=len(st), mip_nodes=int(sum(s.mip_nodes for s in st)),
            rows=res.info.get("rows"), cols=res.info.get("cols"), binaries=res.info.get("binaries"),
            objective=res.info.get("objective"), mip_gap=res.info.get("mip_gap"),
        )
    if res.allocation is not None:
        pay = np.asarray(res.allocation.payment, dtype=float)
        row.update(payments={c: float(v) for c, v in zip(res.allocation.participants, pay, strict=True)},
                   payment_sum=float(pay.sum()), coalition_formed=bool(res.allocation.coalition_formed))
    if res.settlement is not None:
        row.update(budget_residual=res.settlement.budget_residual,
                   budget_balanced=bool(res.settlement.budget_balanced),
                   individually_rational=bool(res.settlement.individually_rational))
    return row


# ---------------------------------------------------------------------------------- one day
def run_day(scenario: IEEE33Scenario, k: int, args: argparse.Namespace) -> Record:
    """One study day with ``k`` EVs per station; returns its record (see the module docstring)."""
    t_day = time.perf_counter()
    cpu_day = time.process_time()
    load = _load_average()
    sc = scenario.with_evs_per_station(k)
    t0 = time.perf_counter()
    day = _day(sc, args.seed, args.no_v2g)
    make_day_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = TimedModel(sc, day, fleet_workers=args.fleet_workers)
    construct_s = time.perf_counter() - t0
    fleet = model.fleet
    rec: Record = {
        "evs_per_station": k, "n_ev": day.n_evs, "n_stations": len(day.fleets), "seed": day.seed,
        "n_ta": len(model.tas), "n_clusters": len(model.clusters),
        "setup": {
            "make_day_s": make_day_s, "construct_s": construct_s, "n_ev_agents": len(model.ev_agents),
            "fleet": None if fleet is None else {
                "build_s": fleet.build_s, "n_cols": fleet.n_cols, "n_rows": fleet.n_rows,
                "n_chunks": len(fleet.chunks), "chunk_size": fleet.chunk_size, "workers": fleet.workers,
                "always_milp": int(fleet.always_milp.size),
            },
        },
    }
    ids0 = model.persistent_ids()
    _say(f"K={k}: {day.n_evs} EVs; constructed in {construct_s:.2f} s (fleet build "
         f"{fleet.build_s if fleet else 0.0:.2f} s, {fleet.n_cols if fleet else 0} LP columns)")

    # --- DA stage
    t0 = time.perf_counter()
    da = model.day_ahead()
    rec["day_ahead"] = {
        "wall_s": time.perf_counter() - t0, "build_s": float(da.build_seconds), "solve_s": float(da.solve_seconds),
        "model_size": dict(da.model_size), "path": da.path, "ev_aggregates": int(sum(da.ev_aggregates.values())),
        "ev_aggregates_by_station": {str(b): int(v) for b, v in da.ev_aggregates.items()},
        "ev_count": int(sum(da.ev_count.values())), "levels": dict(da.levels),
    }
    _say(f"K={k}: DA stage {rec['day_ahead']['wall_s']:.2f} s ({rec['day_ahead']['ev_aggregates']} EV aggregates, "
         f"{da.model_size.get('cols')} columns)")

    # --- the schemes
    schemes: dict[str, Record] = {}
    results: dict[str, SchemeResult] = {}
    ids_after: dict[str, Record] = {}
    iter_ends: list[float] = []
    coop_calls: tuple[int, int] = (0, 0)
    coop_solves: tuple[int, int] = (0, 0)
    for mode in modes_of(list(SCHEME_ORDER)):
        name = mode.name
        if mode.full_information and k > args.oracle_max_evs:
            reason = f"{k} EVs per station > --oracle-max-evs {args.oracle_max_evs}"
            schemes[name] = {"status": "skipped", "reason": reason, "wall_s": None}
            _say(f"K={k}: {name} skipped ({reason})")
            continue
        n_calls0, n_solves0 = len(model.calls), len(model.cluster_solves)
        t0 = time.perf_counter()
        error: str | None = None

        def progress(msg: str) -> None:
            if msg.startswith("bisection iteration"):
                iter_ends.append(time.perf_counter())

        try:
            res: SchemeResult | None = mode.solve(model, progress)
        except RuntimeError as exc:  # SolveError (infeasible, time limit) and failed internal checks
            res, error = None, _brief(exc)
        wall = time.perf_counter() - t0
        calls = model.calls[n_calls0:]
        row: Record = {"status": "ok" if res is not None else "failed", "wall_s": wall, "error": error,
                       "followers": _call_summary(calls),
                       "cluster_solves": [{kk: v for kk, v in s.items() if kk != "start"}
                                          for s in model.cluster_solves[n_solves0:]]}
        if res is not None:
            row.update(_scheme_row(name, res))
            results[name] = res
        elif model.last_followers is not None and len(model.calls) > n_calls0:
            # what the clusters were asked to serve at this scheme's last prices (explains an infeasibility)
            f = model.last_followers
            row["cluster_net_load_min_kw"] = {
                c: {"kw": float(f.cluster_load(c).min()), "period": int(np.argmin(f.cluster_load(c))) + 1,
                    "ev_kw": float(f.ev_net_by_cluster[c][int(np.argmin(f.cluster_load(c)))])}
                for c in model.clusters}
        schemes[name] = row
        ids_after[name] = model.persistent_ids()
        if mode.bargaining:
            coop_calls = (n_calls0, len(model.calls))
            coop_solves = (n_solves0, len(model.cluster_solves))
        _say(f"K={k}: {name} {row['status']} in {wall:.2f} s"
             + (f", total cost {row['total_cost']:.2f}" if res is not None else f": {error}"))
    rec["schemes"] = schemes

    # --- bisection and the cooperative final stage
    rec["bisection"] = _bisection(model, sc, results.get("cooperative"), iter_ends, coop_calls)
    rec["cooperative_final"] = _cooperative_final(model, schemes["cooperative"], rec["bisection"], coop_calls,
                                                  coop_solves)

    # --- persistence
    rec["persistence"] = _persistence(model, ids0, ids_after, rec["bisection"], coop_calls)

    # --- totals
    day_total = time.perf_counter() - t_day
    oracle_s = schemes["oracle"]["wall_s"] or 0.0
    rec["followers"] = _call_summary(model.calls) | {"n_follower_calls": model.n_follower_calls,
                                                     "follower_s": model.follower_seconds}
    rec["day_total_s"] = day_total
    rec["day_cpu_s"] = time.process_time() - cpu_day  # all threads of the process; wall >> CPU means waiting
    rec["load_average_at_start"] = load
    rec["day_total_excl_oracle_s"] = day_total - oracle_s
    rec["complete"] = all(s["status"] != "failed" for s in schemes.values())
    rec["ms_per_ev"] = 1e3 * rec["day_total_excl_oracle_s"] / max(1, day.n_evs)
    rec["breakdown"] = _breakdown(rec)
    rec["checks"] = _checks(rec, results)
    _say(f"K={k}: day {day_total:.2f} s ({rec['day_total_excl_oracle_s']:.2f} s without the oracle), "
         f"{len(rec['checks'])} failed check(s)")
    return rec


def _bisection(model: TimedModel, sc: IEEE33Scenario, coop: SchemeResult | None, iter_ends: list[float],
               coop_calls: tuple[int, int]) -> Record:
    bis = sc.market.bisection
    bound = bisection_iteration_bound(bis.p_min, bis.p_max, bis.xi, bis.upstream_supply)
    calls = model.calls[coop_calls[0]:coop_calls[1]]
    n_iter = len(iter_ends)
    loop = calls[:n_iter]
    after = calls[n_iter] if len(calls) > n_iter else None
    trace = coop.trace if coop is not None else None
    steps: list[Record] = []
    for i, c in enumerate(loop):
        end = loop[i + 1]["start"] if i + 1 < n_iter else (after["start"] if after is not None else iter_ends[i])
        wall = end - c["start"]
        steps.append({
            "iteration": i + 1, "wall_s": wall, "ta_s": c["ta_s"], "ev_s": c["ev_s"], "ev_highs_s": c["ev_highs_s"],
            "rest_s": max(0.0, wall - c["respond_s"]), "simplex_iterations": c["simplex_iterations"],
            "ev_path": c["ev_path"], "ev_milps": c["ev_milps"],
            "max_abs_excess_kw": float(np.abs(trace.excess_demand_kw[i]).max())
            if trace is not None and i < trace.iterations else None,
        })
    warm = steps[1:]
    return {
        "iterations": n_iter,
        "trace_iterations": trace.iterations if trace is not None else None,
        # the search's own stop (eq. 34); whether every period cleared is counted in uncleared_periods (SPEC §6.7)
        "converged": bool(trace.eq34_met) if trace is not None else None,
        "uncleared_periods": len(trace.uncleared_periods) if trace is not None else None,
        "iteration_bound": bound,
        "xi": bis.xi, "p_min": bis.p_min, "p_max": bis.p_max, "tol_z_kw": bis.tol_z_kw,
        "loop_s": float(sum(s["wall_s"] for s in steps)),
        "median_iteration_s": _median(s["wall_s"] for s in steps),
        "max_iteration_s": max((s["wall_s"] for s in steps), default=None),
        "median_ta_s": _median(s["ta_s"] for s in steps),
        "median_ev_s": _median(s["ev_s"] for s in steps),
        "median_ev_highs_s": _median(s["ev_highs_s"] for s in steps),
        "median_rest_s": _median(s["rest_s"] for s in steps),
        "first_ev_s": steps[0]["ev_s"] if steps else None,
        "median_warm_ev_s": _median(s["ev_s"] for s in warm),
        "cold_simplex_iterations": steps[0]["simplex_iterations"] if steps else None,
        "median_warm_simplex_iterations": _median(s["simplex_iterations"] for s in warm),
        "ev_paths": sorted({s["ev_path"] for s in steps}),
        "final_max_abs_excess_kw": float(np.abs(coop.excess_demand_kw).max())
        if coop is not None and coop.excess_demand_kw is not None else None,
        "steps": steps,
    }


def _cooperative_final(model: TimedModel, coop: Record, bis: Record, coop_calls: tuple[int, int],
                       coop_solves: tuple[int, int]) -> Record:
    calls = model.calls[coop_calls[0]:coop_calls[1]]
    final = calls[bis["iterations"]] if len(calls) > bis["iterations"] else None
    solves = model.cluster_solves[coop_solves[0]:coop_solves[1]]
    c0 = next((s for s in solves if s["kind"] == "C0"), None)
    nb = next((s for s in solves if s["kind"] == "NB-P1"), None)
    out: Record = {
        "final_respond_s": final["respond_s"] if final is not None else None,
        "c0_s": c0.get("wall_s") if c0 else None, "c0_highs_s": c0.get("highs_s") if c0 else None,
        "c0_built": c0["built"] if c0 else None, "c0_paths": c0.get("paths") if c0 else None,
        "c0_ok": c0["ok"] if c0 else None,
        "nb_p1_s": nb.get("wall_s") if nb else None, "nb_p1_highs_s": nb.get("highs_s") if nb else None,
        "nb_p1_built": bool(nb["built"]) if nb else None, "nb_p1_build_s": nb.get("build_s") if nb else None,
        "nb_p1_handover_s": nb.get("handover_s") if nb else None, "nb_p1_rows": nb.get("rows") if nb else None,
        "nb_p1_cols": nb.get("cols") if nb else None, "coalition_path": nb.get("path") if nb else None,
        "nb_p1_ok": nb["ok"] if nb else None,
    }
    if coop["status"] == "ok":
        used = bis["loop_s"] + sum(v or 0.0 for v in (out["final_respond_s"], out["c0_s"], out["nb_p1_s"]))
        out["allocation_and_rest_s"] = max(0.0, coop["wall_s"] - used)
    return out


def _persistence(model: TimedModel, ids0: Record, ids_after: dict[str, Record], bis: Record,
                 coop_calls: tuple[int, int]) -> Record:
    chunk_ids = set(ids0["fleet_chunks"])
    seen: set[int] = set()
    for c in model.calls:
        seen.update(c["fleet_model_ids"])
    loop = model.calls[coop_calls[0]:coop_calls[0] + bis["iterations"]]
    loop_ids = [c["fleet_model_ids"] for c in loop]
    coalition_ids = {s: v["coalition"] for s, v in ids_after.items() if v["coalition"] is not None}
    standalone_ids: dict[str, set[int]] = {}
    for v in ids_after.values():
        for c, i in v["standalone"].items():
            if i is not None:
                standalone_ids.setdefault(c, set()).add(i)
    builds = [b for s in model.cluster_solves for b in s["built"]]
    milp_models = [c["ev_milp_models"] for c in model.calls]
    return {
        "fleet_chunks": len(chunk_ids),
        "fleet_models_seen": len(seen),
        "fleet_models_same_every_response": bool(seen == chunk_ids and all(set(x) == chunk_ids for x in loop_ids)),
        "fleet_models_same_after_day": bool(set(model.persistent_ids()["fleet_chunks"]) == chunk_ids),
        "follower_responses": len(model.calls),
        "ev_milp_models_at_start": ids0["ev_milp_models"],
        "ev_milp_models_after_bisection": loop[-1]["ev_milp_models"] if loop else None,
        "ev_milp_models_at_end": milp_models[-1] if milp_models else ids0["ev_milp_models"],
        "coalition_builds": builds.count("coalition"),
        "coalition_ids_by_scheme": coalition_ids,
        "coalition_same_object": len(set(coalition_ids.values())) <= 1,
        "standalone_builds": {c: builds.count(c) for c in model.clusters},
        "standalone_same_object": all(len(v) == 1 for v in standalone_ids.values()),
        "cluster_model_builds_during_bisection": 0,  # the loop calls respond() only: no C0 / NB-P1 there
        "cold_simplex_iterations": bis["cold_simplex_iterations"],
        "median_warm_simplex_iterations": bis["median_warm_simplex_iterations"],
    }


def _breakdown(rec: Record) -> dict[str, float]:
    """Seconds of the day by part (without the oracle); the parts sum to the day total minus the oracle."""
    sch = rec["schemes"]
    bis = rec["bisection"]
    steps = bis["steps"]
    fin = rec["cooperative_final"]
    coop_wall = sch["cooperative"]["wall_s"] or 0.0
    parts = {
        "setup (day, agents, EV fleet)": rec["setup"]["make_day_s"] + rec["setup"]["construct_s"],
        "DA TOU design": rec["day_ahead"]["wall_s"],
        "bisection: EV fleet": float(sum(s["ev_s"] for s in steps)),
        "bisection: TAs": float(sum(s["ta_s"] for s in steps)),
        "bisection: rest": float(sum(s["rest_s"] for s in steps)),
        "cooperative: final C0 + NB-P1": (fin["c0_s"] or 0.0) + (fin["nb_p1_s"] or 0.0),
    }
    parts["cooperative: rest"] = max(0.0, coop_wall - bis["loop_s"] - parts["cooperative: final C0 + NB-P1"])
    parts["centralized"] = sch["centralized"]["wall_s"] or 0.0
    parts["noncooperative"] = sch["noncooperative"]["wall_s"] or 0.0
    parts["other (bookkeeping)"] = max(0.0, rec["day_total_excl_oracle_s"] - sum(parts.values()))
    return parts


def _checks(rec: Record, results: dict[str, SchemeResult]) -> list[str]:
    k = rec["evs_per_station"]
    tag = f"{k} EVs/station"
    out: list[str] = []
    for name, s in rec["schemes"].items():
        if s["status"] == "failed":
            neg = [f"{c} {v['kw']:.0f} kW in period {v['period']} (EVs {v['ev_kw']:+.0f} kW)"
                   for c, v in (s.get("cluster_net_load_min_kw") or {}).items() if v["kw"] < 0]
            note = f" [lowest cluster net load at its prices: {', '.join(neg)}]" if neg else ""
            out.append(f"{tag}: {name} failed: {s['error']}{note}")
    coop, nonc, orac = (results.get(n) for n in ("cooperative", "noncooperative", "oracle"))
    if coop is not None and nonc is not None:
        tol = COST_REL_TOL * max(1.0, abs(nonc.total_cost))
        if coop.total_cost > nonc.total_cost + tol:
            out.append(f"{tag}: cooperative total {coop.total_cost:.4f} is above the noncooperative "
                       f"{nonc.total_cost:.4f}")
    if orac is not None:
        others = {n: r.total_cost for n, r in results.items() if n != "oracle"}
        if others:
            best_name, best = min(others.items(), key=lambda kv: kv[1])
            if orac.total_cost > best + COST_REL_TOL * max(1.0, abs(best)):
                out.append(f"{tag}: oracle total {orac.total_cost:.4f} is not the lowest ({best_name} {best:.4f})")
    bis = rec["bisection"]
    if bis["converged"] is False:
        out.append(f"{tag}: the bisection did not converge in {bis['iterations']} iterations")
    if bis["iterations"] > bis["iteration_bound"]:
        out.append(f"{tag}: {bis['iterations']} bisection iterations exceed the bound {bis['iteration_bound']}")
    if bis["trace_iterations"] is not None and bis["trace_iterations"] != bis["iterations"]:
        out.append(f"{tag}: {bis['iterations']} timed iterations but the trace has {bis['trace_iterations']}")
    if coop is not None and coop.allocation is not None:
        pay = np.asarray(coop.allocation.payment, dtype=float)
        scale = max(1.0, float(np.abs(pay).sum()))
        if abs(float(pay.sum())) > COST_REL_TOL * scale or (coop.settlement is not None
                                                            and not coop.settlement.budget_balanced):
            out.append(f"{tag}: NB-2 payments sum to {float(pay.sum()):.3e}, not 0")
    per = rec["persistence"]
    if not per["fleet_models_same_every_response"] or not per["fleet_models_same_after_day"]:
        out.append(f"{tag}: the EV fleet's HiGHS models changed between responses (rebuilt)")
    if per["coalition_builds"] > 1 or not per["coalition_same_object"]:
        out.append(f"{tag}: the coalition model was built {per['coalition_builds']} times")
    if any(v > 1 for v in per["standalone_builds"].values()) or not per["standalone_same_object"]:
        out.append(f"{tag}: a standalone cluster model was rebuilt ({per['standalone_builds']})")
    return out


# ------------------------------------------------------------------------------------ summary
def _growth_verdict(exponent: float | None) -> str:
    if exponent is None:
        return "n/a"
    lo, hi = LINEAR_BAND
    return "sub-linear" if exponent < lo else "close to linear" if exponent <= hi else "super-linear"


def summarise(records: list[Record]) -> Record:
    rows = [{
        "evs_per_station": r["evs_per_station"], "n_ev": r["n_ev"], "complete": r["complete"],
        "day_total_s": r["day_total_s"], "day_total_excl_oracle_s": r["day_total_excl_oracle_s"],
        "ms_per_ev": r["ms_per_ev"], "bisection_iterations": r["bisection"]["iterations"],
        "bisection_loop_s": r["bisection"]["loop_s"], "median_iteration_s": r["bisection"]["median_iteration_s"],
        "oracle_s": r["schemes"]["oracle"]["wall_s"], "dominant_part": max(r["breakdown"].items(),
                                                                            key=lambda kv: kv[1])[0],
    } for r in sorted(records, key=lambda r: r["n_ev"])]
    out: Record = {"by_fleet": rows, "growth": None}
    if len(records) < 2:
        return out
    small, large = min(records, key=lambda r: r["n_ev"]), max(records, key=lambda r: r["n_ev"])
    fleet_ratio = large["n_ev"] / small["n_ev"]
    if fleet_ratio <= 1:
        return out

    def metric(get: Any) -> Record:
        a, b = get(small), get(large)
        if a is None or b is None or a <= 0 or b <= 0:
            return {"small": a, "large": b, "ratio": None, "exponent": None, "verdict": "n/a"}
        ratio = b / a
        exponent = math.log(ratio) / math.log(fleet_ratio)
        return {"small": a, "large": b, "ratio": ratio, "exponent": exponent, "verdict": _growth_verdict(exponent)}

    def per_iter(r: Record, key: str) -> Any:
        return r["bisection"][key]

    metrics = {
        "day_total_excl_oracle_s": metric(lambda r: r["day_total_excl_oracle_s"]),
        "bisection_loop_s": metric(lambda r: r["bisection"]["loop_s"]),
        "iteration_median_s": metric(lambda r: per_iter(r, "median_iteration_s")),
        "iteration_ev_median_s": metric(lambda r: per_iter(r, "median_ev_s")),
        "iteration_ev_highs_median_s": metric(lambda r: per_iter(r, "median_ev_highs_s")),
        "iteration_ta_median_s": metric(lambda r: per_iter(r, "median_ta_s")),
        "fleet_build_s": metric(lambda r: r["setup"]["fleet"]["build_s"] if r["setup"]["fleet"] else None),
        "construct_s": metric(lambda r: r["setup"]["construct_s"]),
        "day_ahead_s": metric(lambda r: r["day_ahead"]["wall_s"]),
    }
    bd = large["breakdown"]
    total = sum(bd.values())
    dominant, dom_s = max(bd.items(), key=lambda kv: kv[1])
    out["growth"] = {
        "small_evs_per_station": small["evs_per_station"], "large_evs_per_station": large["evs_per_station"],
        "fleet_ratio": fleet_ratio, "metrics": metrics,
        "comparable": bool(small["complete"] and large["complete"]),
        "dominant_part_at_largest": dominant, "dominant_share_at_largest": dom_s / total if total > 0 else None,
        "breakdown_at_largest": bd,
        "ms_per_ev_small": small["ms_per_ev"], "ms_per_ev_large": large["ms_per_ev"],
    }
    return out


def interpretation(records: list[Record], summary: Record, checks: list[str]) -> str:
    parts: list[str] = []
    for r in sorted(records, key=lambda r: r["n_ev"]):
        b = r["bisection"]
        parts.append(
            f"{r['evs_per_station']} EVs/station ({r['n_ev']} EVs): {b['iterations']} bisection iterations "
            f"(bound {b['iteration_bound']}), median {_fmt(b['median_iteration_s'])} s per iteration of which the "
            f"EV fleet {_fmt(b['median_ev_s'])} s (HiGHS {_fmt(b['median_ev_highs_s'])} s) and the TAs "
            f"{_fmt(b['median_ta_s'], '.4f')} s; fleet simplex iterations {b['cold_simplex_iterations']} cold vs "
            f"{_fmt(b['median_warm_simplex_iterations'], '.0f')} warm (median); day "
            f"{r['day_total_excl_oracle_s']:.2f} s without the oracle"
            + (f", oracle {r['schemes']['oracle']['wall_s']:.1f} s" if r["schemes"]["oracle"]["wall_s"] else
               f", oracle skipped ({r['schemes']['oracle'].get('reason')})")
            + ("" if r["complete"] else " — INCOMPLETE: "
               + ", ".join(n for n, s in r["schemes"].items() if s["status"] == "failed") + " failed")
            + ".")
    per = [r["persistence"] for r in records]
    if per and all(p["fleet_models_same_every_response"] and p["coalition_builds"] <= 1
                   and all(v <= 1 for v in p["standalone_builds"].values()) for p in per):
        parts.append("Nothing is rebuilt in the loop: every follower response of a day used the same HiGHS objects "
                     "of the fleet's LP chunks (only cost vectors change), the coalition and standalone models were "
                     "built once per day and re-used by the later schemes.")
    g = summary.get("growth")
    if g:
        m = g["metrics"]
        day, loop, it = m["day_total_excl_oracle_s"], m["bisection_loop_s"], m["iteration_ev_median_s"]
        txt = (f"From {g['small_evs_per_station']} to {g['large_evs_per_station']} EVs per station (x"
               f"{g['fleet_ratio']:.0f} vehicles) the day without the oracle took x{_fmt(day['ratio'], '.1f')} "
               f"(exponent {_fmt(day['exponent'], '.2f')}: {day['verdict']}), the bisection loop "
               f"x{_fmt(loop['ratio'], '.1f')} ({loop['verdict']}) and the EV fleet's response per iteration "
               f"x{_fmt(it['ratio'], '.1f')} ({it['verdict']}); {g['ms_per_ev_small']:.2f} ms per EV at the small "
               f"fleet, {g['ms_per_ev_large']:.2f} ms at the large one.")
        share = g["dominant_share_at_largest"]
        txt += (f" At {g['large_evs_per_station']} EVs/station the largest part of the day is "
                f"'{g['dominant_part_at_largest']}' ({_pct(share)}).")
        if not g["comparable"]:
            txt += (" The two days are not like for like: a scheme failed on one of them, so its day total misses "
                    "that scheme's remaining work; compare the bisection figures instead.")
        parts.append(txt)
    parts.append("All sanity checks passed." if not checks else f"{len(checks)} check(s) FAILED (see Checks).")
    return " ".join(parts)


# ------------------------------------------------------------------------------- markdown
def _fmt(v: Any, spec: str = ".3f") -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return format(v, spec) if math.isfinite(v) else "–"
    return str(v).replace("|", "\\|")


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f} %"


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "_(none)_"
    return markdown_table(pd.DataFrame(rows))


def render_markdown(doc: dict[str, Any]) -> str:
    recs: list[Record] = sorted(doc["records"], key=lambda r: r["n_ev"])
    mach, cfg = doc["machine"], doc["config"]
    out = [
        "# Benchmark: one IEEE-33 study day (paper 004)",
        "",
        f"Generated {mach['date']} on {mach['platform']} ({mach['cpu_count']} CPUs, {mach['cpu_affinity']} usable, "
        f"load average at start {mach['load_average_at_start']}); Python {mach['python']}, HiGHS {mach['highspy']}, "
        f"Pyomo {mach['pyomo']}, Mesa {mach['mesa']}.",
        "",
        f"Configuration: scenario `{cfg['scenario']}`, EVs per station {cfg['fleet']}, seed "
        f"{cfg['seed'] if cfg['seed'] is not None else 'of the scenario'}, oracle up to {cfg['oracle_max_evs']} EVs "
        f"per station, fleet workers {cfg['fleet_workers']}{', all vehicles without V2G' if cfg['no_v2g'] else ''}"
        f"{', quick mode' if cfg['quick'] else ''}. Times in seconds (wall clock) unless said otherwise.",
        "",
        "## Set-up and day-ahead stage",
        "",
        _table([{
            "EVs/station": r["evs_per_station"], "EVs": r["n_ev"],
            "construct": _fmt(r["setup"]["construct_s"]),
            "fleet build": _fmt((r["setup"]["fleet"] or {}).get("build_s")),
            "fleet LP cols": _fmt((r["setup"]["fleet"] or {}).get("n_cols")),
            "fleet LP rows": _fmt((r["setup"]["fleet"] or {}).get("n_rows")),
            "chunks": _fmt((r["setup"]["fleet"] or {}).get("n_chunks")),
            "DA wall": _fmt(r["day_ahead"]["wall_s"]), "DA build": _fmt(r["day_ahead"]["build_s"]),
            "DA solve": _fmt(r["day_ahead"]["solve_s"]),
            "DA rows": _fmt(r["day_ahead"]["model_size"].get("rows")),
            "DA cols": _fmt(r["day_ahead"]["model_size"].get("cols")),
            "DA binaries (integer)": f"{_fmt(r['day_ahead']['model_size'].get('binaries'))} "
                                     f"({_fmt(r['day_ahead']['model_size'].get('integer_binaries'))})",
            "EV aggregates": r["day_ahead"]["ev_aggregates"],
        } for r in recs]),
        "",
        "## Cooperative bisection (SPEC §5.6 variant A)",
        "",
        "Per iteration: wall = TA response + EV fleet response + rest (excess demand, bracket update). "
        "Medians over the iterations; the first EV response of the day is cold, the others warm.",
        "",
        _table([{
            "EVs/station": r["evs_per_station"], "iterations": r["bisection"]["iterations"],
            "bound": r["bisection"]["iteration_bound"], "converged": _fmt(r["bisection"]["converged"]),
            "loop": _fmt(r["bisection"]["loop_s"]), "iteration": _fmt(r["bisection"]["median_iteration_s"]),
            "TA": _fmt(r["bisection"]["median_ta_s"], ".4f"), "EV": _fmt(r["bisection"]["median_ev_s"]),
            "EV HiGHS": _fmt(r["bisection"]["median_ev_highs_s"]), "rest": _fmt(r["bisection"]["median_rest_s"], ".4f"),
            "EV cold": _fmt(r["bisection"]["first_ev_s"]), "EV warm": _fmt(r["bisection"]["median_warm_ev_s"]),
            "simplex it. cold": _fmt(r["bisection"]["cold_simplex_iterations"]),
            "simplex it. warm": _fmt(r["bisection"]["median_warm_simplex_iterations"], ".0f"),
            "EV paths": "; ".join(r["bisection"]["ev_paths"]),
        } for r in recs]),
        "",
    ]
    for r in recs:
        out += [f"### Iterations at {r['evs_per_station']} EVs/station", "",
                _table([{
                    "it.": s["iteration"], "wall": _fmt(s["wall_s"]), "TA": _fmt(s["ta_s"], ".4f"),
                    "EV": _fmt(s["ev_s"]), "EV HiGHS": _fmt(s["ev_highs_s"]), "rest": _fmt(s["rest_s"], ".4f"),
                    "simplex it.": _fmt(s["simplex_iterations"]), "EV MILPs": _fmt(s["ev_milps"]),
                    "max abs Z kW": _fmt(s["max_abs_excess_kw"], ".1f"), "EV path": _fmt(s["ev_path"]),
                } for s in r["bisection"]["steps"]]), ""]
    out += [
        "## Schemes",
        "",
        "Cooperative final stage: the followers' response at the final prices, `C^0` (every cluster alone) and "
        "NB-P1 (the first call builds the persistent model), then W-1…W-4, NB-2 and the settlement.",
        "",
        _table([{
            "EVs/station": r["evs_per_station"],
            "final respond": _fmt(r["cooperative_final"]["final_respond_s"]),
            "C0": _fmt(r["cooperative_final"]["c0_s"]), "C0 HiGHS": _fmt(r["cooperative_final"]["c0_highs_s"]),
            "NB-P1": _fmt(r["cooperative_final"]["nb_p1_s"]),
            "NB-P1 HiGHS": _fmt(r["cooperative_final"]["nb_p1_highs_s"]),
            "NB-P1 build+hand-over": _fmt(_sum_or_none(r["cooperative_final"]["nb_p1_build_s"],
                                                       r["cooperative_final"]["nb_p1_handover_s"])),
            "allocation + rest": _fmt(r["cooperative_final"].get("allocation_and_rest_s"), ".4f"),
            "coalition path": _fmt(r["cooperative_final"]["coalition_path"]),
        } for r in recs]),
        "",
        _table([{
            "EVs/station": r["evs_per_station"], "scheme": name, "status": s["status"], "wall": _fmt(s["wall_s"]),
            "total cost USD": _fmt(s.get("total_cost"), ".2f"),
            "follower calls": _fmt(s.get("followers", {}).get("calls")),
            "note": _fmt(s.get("error") or s.get("reason") or "; ".join(
                f"{kk}: {v}" for kk, v in (s.get("paths") or {}).items()))[:300],
        } for r in recs for name, s in r["schemes"].items()]),
        "",
        "### Oracle",
        "",
        _table([{
            "EVs/station": r["evs_per_station"], "status": r["schemes"]["oracle"]["status"],
            "wall": _fmt(r["schemes"]["oracle"]["wall_s"]), "Pyomo build": _fmt(r["schemes"]["oracle"].get("build_s")),
            "hand-over": _fmt(r["schemes"]["oracle"].get("handover_s")),
            "HiGHS": _fmt(r["schemes"]["oracle"].get("highs_s")),
            "solves": _fmt(r["schemes"]["oracle"].get("n_solves")),
            "B&B nodes": _fmt(r["schemes"]["oracle"].get("mip_nodes")),
            "rows": _fmt(r["schemes"]["oracle"].get("rows")), "cols": _fmt(r["schemes"]["oracle"].get("cols")),
            "binaries": _fmt(r["schemes"]["oracle"].get("binaries")),
            "note": _fmt(r["schemes"]["oracle"].get("reason") or r["schemes"]["oracle"].get("error")
                         or (r["schemes"]["oracle"].get("paths") or {}).get("oracle")),
        } for r in recs]),
        "",
        "## Persistence: nothing is rebuilt",
        "",
        "The fleet's HiGHS chunk models seen by every follower response of the day (ids compared with those "
        "after construction), the persistent cluster models built per day (first call) and re-used by the later "
        "schemes, and the per-EV exact MILPs the fleet creates lazily for vehicles whose LP optimum charges and "
        "discharges at once (cached, re-used).",
        "",
        _table([{
            "EVs/station": r["evs_per_station"], "follower responses": r["persistence"]["follower_responses"],
            "fleet chunks": r["persistence"]["fleet_chunks"],
            "distinct chunk models seen": r["persistence"]["fleet_models_seen"],
            "same every response": _fmt(r["persistence"]["fleet_models_same_every_response"]),
            "EV MILPs start / after bisection / end": f"{r['persistence']['ev_milp_models_at_start']} / "
            f"{_fmt(r['persistence']['ev_milp_models_after_bisection'])} / {r['persistence']['ev_milp_models_at_end']}",
            "coalition builds": r["persistence"]["coalition_builds"],
            "coalition same object": _fmt(r["persistence"]["coalition_same_object"]),
            "standalone builds": ", ".join(f"{c} {n}" for c, n in r["persistence"]["standalone_builds"].items()),
            "simplex it. cold / warm": f"{_fmt(r['persistence']['cold_simplex_iterations'])} / "
            f"{_fmt(r['persistence']['median_warm_simplex_iterations'], '.0f')}",
        } for r in recs]),
        "",
        "## The day and its growth",
        "",
        _table([{
            "EVs/station": r["evs_per_station"], "EVs": r["n_ev"], "complete": _fmt(r["complete"]),
            "load avg at start": _fmt(r["load_average_at_start"]),
            "day": _fmt(r["day_total_s"], ".2f"), "day CPU": _fmt(r["day_cpu_s"], ".2f"),
            "day w/o oracle": _fmt(r["day_total_excl_oracle_s"], ".2f"),
            "ms per EV (w/o oracle)": _fmt(r["ms_per_ev"], ".2f"),
            **{k: _fmt(v, ".2f") for k, v in r["breakdown"].items()},
        } for r in recs]),
        "",
    ]
    g = doc["summary"].get("growth")
    if g:
        out += [f"From {g['small_evs_per_station']} to {g['large_evs_per_station']} EVs per station "
                f"(fleet ratio {g['fleet_ratio']:.0f}); exponent = log(time ratio) / log(fleet ratio), "
                f"{LINEAR_BAND[0]}–{LINEAR_BAND[1]} counts as close to linear.", "",
                _table([{"quantity": name, "small": _fmt(m["small"]), "large": _fmt(m["large"]),
                         "ratio": _fmt(m["ratio"], ".2f"), "exponent": _fmt(m["exponent"], ".2f"),
                         "growth": m["verdict"]} for name, m in g["metrics"].items()]), "",
                "One run per fleet size: on a loaded machine the sub-second parts vary by tens of percent between "
                "runs (see the load average and CPU time above); the medians over the bisection iterations are the "
                "steadier figures.", ""]
    out += ["## Checks", ""]
    out += [f"- {c}" for c in doc["checks"]] if doc["checks"] else ["All sanity checks passed."]
    out += ["", "## Interpretation", "", doc["interpretation"], ""]
    return "\n".join(out)


def _sum_or_none(*xs: float | None) -> float | None:
    vals = [x for x in xs if x is not None]
    return float(sum(vals)) if vals else None


# ------------------------------------------------------------------------------------ main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(None if argv is None else [str(a) for a in argv])
    fleets = args.fleet or (list(QUICK_FLEETS) if args.quick else list(DEFAULT_FLEETS))
    out_dir = Path(args.out)
    t_start = time.perf_counter()
    machine = machine_info()
    config: Record = {
        "scenario": args.scenario, "fleet": fleets, "seed": args.seed, "oracle_max_evs": args.oracle_max_evs,
        "fleet_workers": args.fleet_workers, "no_v2g": bool(args.no_v2g), "quick": bool(args.quick),
        "schemes": list(SCHEME_ORDER), "argv": list(sys.argv[1:] if argv is None else [str(a) for a in argv]),
    }
    _say(f"ieee33_day: EVs per station {fleets}, oracle up to {args.oracle_max_evs} -> {out_dir}")
    scenario = load_ieee33_scenario(args.scenario)
    records = []
    for k in fleets:
        gc.collect()  # start every day from the same collector state (the previous day's models are gone)
        records.append(run_day(scenario, k, args))
    checks = [c for r in records for c in r["checks"]]
    summary = summarise(records)
    doc: Record = {
        "benchmark": "ieee33_day",
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
        _say(f"check FAILED: {c}")
    _say(doc["interpretation"])
    _say(f"wrote {json_path} and {md_path} ({doc['total_wall_s']:.1f} s)")
    return 1 if checks else 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark of the pooled EV fleet solver (agents/ev.py, SPEC §3.7 / §5.6) for 20, 100, 500 EVs per station.

For every fleet size (three stations, buses 13, 19, 31, the default fleet of SPEC §3.7 drawn from one
seed) and every number of worker threads, an :class:`agents.ev.EVFleet` is built once and then
answers

* one cold response at the TOU prices (the first solve, no basis yet), and
* every price vector of a real rolling-price search: :func:`market.pricing.bisection_prices`
  (SPEC §5.6 variant A, xi = 0.01, start 0.11) on the EV-only excess demand
  ``Z_k = P_EV,k(pi) - S_k`` with a flat supply ``S_k`` equal to the mean EV load at the TOU
  prices.  Each iteration changes only the cost vectors and re-solves warm.

Recorded: build time, cold response, per-iteration response time (total and HiGHS only), simplex
iterations, the certification path, the size of the LPs.  For the smallest fleet the same responses
are also computed the slow way, one persistent Pyomo model per EV (``build_ev`` + ``HighsModel``,
exact MILP), to show what the pooled path saves and that both give the same station loads.

Usage (from the repository root)::

    PYTHONPATH=. python benchmarks/ev_fleet.py --out benchmarks/results
    PYTHONPATH=. python benchmarks/ev_fleet.py --quick        # 20 EVs per station only

Outputs ``DIR/ev_fleet.json`` and ``DIR/ev_fleet.md`` (written atomically).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyomo.core as pyo

from agents.devices.core import RT_HORIZON, set_profile
from agents.ev import EVFleet, EVParams, build_ev, sample_fleet
from agents.milp import HighsModel, SolverOptions
from market.pricing import bisection_prices
from sim.engine.io import int_list, machine_info, markdown_table, write_json, write_text

STATIONS = ("13", "19", "31")
TOU = np.repeat([0.07] * 7 + [0.11] * 3 + [0.16] * 4 + [0.11] * 4 + [0.16] * 4 + [0.11] * 2, 4)
JSON_NAME = "ev_fleet.json"
MD_NAME = "ev_fleet.md"
SCHEMA_VERSION = 1

Record = dict[str, Any]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ev_fleet.py", description="Benchmark the pooled EV fleet solver.")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="output folder")
    p.add_argument("--sizes", type=int_list, default=[20, 100, 500], metavar="K[,K...]",
                   help="EVs per station (default: 20,100,500)")
    p.add_argument("--workers", type=int_list, default=[1, 2], metavar="W[,W...]",
                   help="worker threads of the fleet solver (default: 1,2)")
    p.add_argument("--seed", type=int, default=2024, help="fleet seed (default: %(default)s)")
    p.add_argument("--pyomo-baseline-max", type=int, default=20, metavar="K",
                   help="also solve per EV in Pyomo for fleets up to K EVs per station (default: 20; 0 = never)")
    p.add_argument("--quick", action="store_true", help="20 EVs per station, one worker setting")
    return p


def make_fleet(k: int, seed: int) -> list[EVParams]:
    fleet: list[EVParams] = []
    for child, st in zip(np.random.SeedSequence(seed).spawn(len(STATIONS)), STATIONS, strict=True):
        fleet += sample_fleet(k, np.random.default_rng(child), RT_HORIZON, st)
    return fleet


def run_fleet(fleet: list[EVParams], workers: int) -> tuple[Record, list[np.ndarray], np.ndarray]:
    """Build, cold response, then a bisection price search; return the record, the prices, the final loads."""
    F = EVFleet(fleet, RT_HORIZON, workers=workers)
    cold = F.respond(TOU)
    supply = np.full(RT_HORIZON.n, cold.total_net_kw.mean())
    steps: list[Record] = []
    prices: list[np.ndarray] = []

    def excess(pi: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        r = F.respond(pi)
        steps.append({"total_s": time.perf_counter() - t0, "solve_s": r.solve_s,
                      "simplex_iterations": r.simplex_iterations, "path": r.path})
        prices.append(pi.copy())
        return np.asarray(r.total_net_kw - supply)

    _, trace = bisection_prices(excess, RT_HORIZON.n, p0=0.11, xi=0.01)
    warm = [s["total_s"] for s in steps[1:]] or [steps[0]["total_s"]]
    rec: Record = {
        "evs_per_station": len(fleet) // len(STATIONS),
        "n_ev": len(fleet),
        "workers": workers,
        "n_chunks": len(F.chunks),
        "n_cols": F.n_cols,
        "n_rows": F.n_rows,
        "build_s": F.build_s,
        "cold_response_s": cold.total_s,
        "cold_solve_s": cold.solve_s,
        "cold_simplex_iterations": cold.simplex_iterations,
        "bisection_iterations": trace.iterations,
        "bisection_converged": bool(trace.eq34_met),  # the search stopped by eq. 34
        "first_bisection_response_s": steps[0]["total_s"],
        "warm_response_median_s": statistics.median(warm),
        "warm_response_max_s": max(warm),
        "warm_solve_median_s": statistics.median(s["solve_s"] for s in steps[1:]) if len(steps) > 1 else None,
        "warm_simplex_iterations_median": statistics.median(s["simplex_iterations"] for s in steps[1:])
        if len(steps) > 1 else None,
        "bisection_total_s": sum(s["total_s"] for s in steps),
        "paths": sorted({s["path"] for s in steps} | {cold.path}),
        "steps": steps,
    }
    rec["warm_ms_per_ev"] = 1e3 * rec["warm_response_median_s"] / len(fleet)
    return rec, prices, F.respond(prices[-1]).station_net_kw


def pyomo_baseline(fleet: list[EVParams], prices: list[np.ndarray]) -> tuple[Record, np.ndarray]:
    """One persistent Pyomo model per EV (exact MILP), re-solved for every price vector."""
    t0 = time.perf_counter()
    models = []
    for p in fleet:
        m = pyo.ConcreteModel()
        m.ev = pyo.Block()
        build_ev(m.ev, p, RT_HORIZON, prices[0], tie_break=1e-4)
        m.obj = pyo.Objective(expr=m.ev.cost)
        models.append((m, HighsModel(m, p.name, SolverOptions(mip_rel_gap=1e-9), relax_integrality=False)))
    build_s = time.perf_counter() - t0
    times = []
    net = np.zeros((len(STATIONS), RT_HORIZON.n))
    for i, pi in enumerate(prices):
        t1 = time.perf_counter()
        for j, (m, hm) in enumerate(models):
            if i:
                set_profile(m.ev.price_per_kwh, pi)
                hm.update()
            hm.solve()
            if i == len(prices) - 1:
                net[STATIONS.index(fleet[j].station)] += hm.values(m.ev.p_net_kw)
        times.append(time.perf_counter() - t1)
    return {"n_ev": len(fleet), "build_s": build_s, "first_response_s": times[0],
            "warm_response_median_s": statistics.median(times[1:]) if len(times) > 1 else times[0]}, net


def render_markdown(doc: dict[str, Any]) -> str:
    recs = doc["records"]
    df = pd.DataFrame([{
        "EVs/station": r["evs_per_station"], "EVs": r["n_ev"], "workers": r["workers"], "chunks": r["n_chunks"],
        "LP cols": r["n_cols"], "build s": r["build_s"], "cold response s": r["cold_response_s"],
        "warm response s (median)": r["warm_response_median_s"], "warm max s": r["warm_response_max_s"],
        "ms/EV warm": r["warm_ms_per_ev"], "bisection iters": r["bisection_iterations"],
        "bisection total s": r["bisection_total_s"], "paths": "; ".join(r["paths"]),
    } for r in recs])
    lines = [
        "# EV fleet solver benchmark",
        "",
        f"Generated {doc['machine']['date']} on {doc['machine']['platform']} "
        f"({doc['machine']['cpu_affinity']} cores usable, load {doc['machine']['load_average_at_start']}); "
        f"highspy {doc['machine']['highspy']}. Fleet seed {doc['config']['seed']}, three stations, "
        "SPEC §3.7 default fleet (60 % home / 40 % work, 60 kWh, 7 kW, V2G).",
        "",
        "Each row: one `EVFleet` built once, a cold response at TOU prices, then every price vector of a "
        "rolling-price bisection (SPEC §5.6 variant A, xi = 0.01) answered by changing the cost vectors and "
        "re-solving warm.",
        "",
        markdown_table(df, floatfmt=".3f"),
        "",
    ]
    by_w: dict[int, list[Record]] = {}
    for r in recs:
        by_w.setdefault(r["workers"], []).append(r)
    lines.append("## Growth with the fleet")
    lines.append("")
    for w, rs in sorted(by_w.items()):
        rs = sorted(rs, key=lambda r: r["n_ev"])
        if len(rs) < 2:
            continue
        a, b = rs[0], rs[-1]
        size = b["n_ev"] / a["n_ev"]
        warm = b["warm_response_median_s"] / a["warm_response_median_s"]
        lines.append(
            f"- workers = {w}: {size:.0f}x the vehicles cost {warm:.1f}x "
            f"the warm response time, {b['build_s'] / a['build_s']:.1f}x the build time and "
            f"{b['cold_response_s'] / a['cold_response_s']:.1f}x the cold response (linear would be {size:.0f}x).")
    base = doc.get("pyomo_baseline")
    if base:
        lines += ["", "## Against one Pyomo model per EV", "",
                  f"{base['n_ev']} EVs, one persistent Pyomo model each (exact MILP): build "
                  f"{base['build_s']:.2f} s, first response {base['first_response_s']:.2f} s, warm response "
                  f"{base['warm_response_median_s']:.2f} s (median) — against "
                  f"{base['pooled_warm_response_median_s']:.3f} s for the pooled fleet. Largest difference of "
                  f"the station loads at the final prices: {base['max_abs_station_diff_kw']:.2e} kW."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sizes = [20] if args.quick else args.sizes
    workers = [1] if args.quick else args.workers
    records: list[Record] = []
    baseline: Record | None = None
    for k in sizes:
        fleet = make_fleet(k, args.seed)
        for w in workers:
            rec, prices, station_net = run_fleet(fleet, w)
            records.append(rec)
            print(f"K={k:4d} workers={w}: build {rec['build_s']:.3f}s, cold {rec['cold_response_s']:.3f}s, "
                  f"warm median {rec['warm_response_median_s']:.3f}s over {rec['bisection_iterations']} "
                  f"bisection iterations", file=sys.stderr)
            if baseline is None and 0 < k <= args.pyomo_baseline_max and w == workers[0]:
                baseline, net = pyomo_baseline(fleet, prices)
                baseline["pooled_warm_response_median_s"] = rec["warm_response_median_s"]
                baseline["max_abs_station_diff_kw"] = float(np.abs(net - station_net).max())
                print(f"  Pyomo per EV: warm {baseline['warm_response_median_s']:.2f}s, station load diff "
                      f"{baseline['max_abs_station_diff_kw']:.2e} kW", file=sys.stderr)
    doc = {
        "schema_version": SCHEMA_VERSION,
        "machine": machine_info(),
        "config": {"sizes": sizes, "workers": workers, "seed": args.seed, "stations": list(STATIONS)},
        "records": records,
        "pyomo_baseline": baseline,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(doc, args.out / JSON_NAME)
    write_text(render_markdown(doc), args.out / MD_NAME)
    print(f"wrote {args.out / JSON_NAME} and {args.out / MD_NAME}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark of the multi-day simulator (sim/engine/run.py, issue 4): days per minute and Dask speed-up.

Two measurements:

1. **Days per minute per mode and replay**: for each scenario, replay (``oracle``, ``mpc``) and mode,
   one run of ``--days`` days (seed 0) in a plain loop; from ``timings.csv`` the wall time per day and
   its split into drawing the day's data (weather, reduction, fleet), solving (DA stage and the mode's
   intraday scheme; of which the MPC loop under ``mpc``) and checking (LinDistFlow, AC power flow, KPIs).
2. **Dask speed-up**: a batch of ``--replications`` runs (seeds 0..R-1, one mode) executed as a plain
   loop, on a local Dask cluster with 1 worker and with 2 workers; wall times, speed-up, and a check
   that the three ``kpis.csv`` files are byte-identical.

3. **Before / after** (``--baseline COMMIT``): the same measurements of an older commit, checked out in a
   temporary git worktree and run there by its own ``benchmarks/simulate.py`` in the same invocation, so
   the ratios compare like with like on the same machine state; the mean total cost of each run is
   compared too (same seed: the refactor must keep the numbers).

Usage (from the repository root)::

    PYTHONPATH=. python benchmarks/simulate.py --out benchmarks/results
    PYTHONPATH=. python benchmarks/simulate.py --quick            # 1 day, ieee33, 2 replications
    PYTHONPATH=. python benchmarks/simulate.py --baseline 7062ea7 --scenarios ieee33,three_campus,rural_ies

Outputs ``DIR/simulate.json`` and ``DIR/simulate.md`` (written atomically).
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from sim.engine.io import environment_info, markdown_table, write_json, write_text
from sim.engine.run import execute
from sim.engine.spec import RunSpec, SimSettings
from sim.systems import SYSTEMS, all_modes

JSON_NAME = "simulate.json"
MD_NAME = "simulate.md"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="simulate.py", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    p.add_argument("--scenarios", default=None, help="comma-separated (default: every supported scenario)")
    p.add_argument("--modes", default=None, help="comma-separated (default: every mode of each system)")
    p.add_argument("--replays", default="oracle,mpc", help="intraday replays to time (default oracle,mpc)")
    p.add_argument("--days", type=int, default=3, help="days per mode run (default 3)")
    p.add_argument("--replications", type=int, default=4, help="runs in the Dask batch (default 4)")
    p.add_argument("--batch-days", type=int, default=2, help="days per run of the Dask batch (default 2)")
    p.add_argument("--batch-mode", default="cooperative", choices=all_modes())
    p.add_argument("--mc-days", type=int, default=200, help="Monte Carlo days per simulated day (default 200)")
    p.add_argument("--quick", action="store_true", help="1 day, ieee33 only, cooperative only, oracle replay "
                   "only, a batch of 2 one-day runs")
    p.add_argument("--baseline", default=None, metavar="COMMIT",
                   help="also run this commit's own benchmarks/simulate.py (in a temporary git worktree) with the "
                        "same settings, and report after/before ratios")
    return p


def baseline_records(commit: str, argv: Sequence[str]) -> list[dict[str, Any]]:
    """The speed records of ``commit``'s own ``benchmarks/simulate.py``, run in a temporary git worktree."""
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "baseline"
        subprocess.run(["git", "-C", str(root), "worktree", "add", "--detach", str(tree), commit], check=True,
                       capture_output=True)
        try:
            out = Path(tmp) / "out"
            env = dict(os.environ, PYTHONPATH=str(tree))
            _say(f"baseline {commit}: running its benchmarks/simulate.py")
            subprocess.run([sys.executable, str(tree / "benchmarks" / "simulate.py"), "--out", str(out), *argv],
                           cwd=tree, env=env, check=True)
            doc = json.loads((out / JSON_NAME).read_text(encoding="utf-8"))
        finally:
            subprocess.run(["git", "-C", str(root), "worktree", "remove", "--force", str(tree)], check=False,
                           capture_output=True)
    return list(doc["records"])


def before_after(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (scenario, replay, mode) measured in both: days per minute before/after, ratio, cost check."""
    key = ["scenario", "replay", "mode"]
    b = pd.DataFrame(before).set_index(key)
    a = pd.DataFrame(after).set_index(key)
    common = a.index.intersection(b.index)
    rows = []
    for k in common:
        rb, ra = b.loc[k], a.loc[k]
        rows.append({**dict(zip(key, k, strict=True)), "days": int(ra["days"]),
                     "before_days_per_minute": float(rb["days_per_minute"]),
                     "after_days_per_minute": float(ra["days_per_minute"]),
                     "speedup": float(ra["days_per_minute"]) / float(rb["days_per_minute"]),
                     "before_mean_total_cost": float(rb["mean_total_cost"]),
                     "after_mean_total_cost": float(ra["mean_total_cost"]),
                     "cost_rel_diff": abs(float(ra["mean_total_cost"]) - float(rb["mean_total_cost"]))
                     / max(1.0, abs(float(rb["mean_total_cost"])))})
    return pd.DataFrame(rows)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def mode_speed(scenario: str, mode: str, days: int, settings: SimSettings) -> dict[str, Any]:
    """One run of ``days`` days of ``mode`` (seed 0) under ``settings`` (its scenario and replay)."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        kpis = execute(tmp, SYSTEMS[scenario], [RunSpec(mode, 0, days)], settings)
        wall = time.perf_counter() - t0
        tim = pd.read_csv(Path(tmp) / "timings.csv")
    rec: dict[str, Any] = {
        "scenario": scenario, "replay": settings.replay, "mode": mode, "days": days, "wall_s": wall,
        "days_per_minute": 60.0 * days / wall if wall > 0 else float("nan"),
        "mean_total_cost": float(kpis["total_cost"].mean()),
    }
    if "mpc_solves" in kpis:
        rec["mpc_solves_per_day"] = float(kpis["mpc_solves"].mean())
    for col in ("data_s", "solve_s", "mpc_s", "check_s", "total_s"):
        if col in tim:
            rec[f"day_{col}"] = float(tim[col].mean())
    _say(f"{scenario} {settings.replay} {mode}: {days} days in {wall:.1f} s ({rec['days_per_minute']:.1f} days/min)")
    return rec


def dask_batch(scenario: str, mode: str, reps: int, days: int, settings: SimSettings) -> dict[str, Any]:
    runs = [RunSpec(mode, s, days) for s in range(reps)]
    out: dict[str, Any] = {"scenario": scenario, "mode": mode, "replications": reps, "days": days}
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for label, workers in (("loop", None), ("dask_1", 1), ("dask_2", 2)):
            d = Path(tmp) / label
            t0 = time.perf_counter()
            execute(d, SYSTEMS[scenario], runs, settings, workers=workers)
            out[f"{label}_s"] = time.perf_counter() - t0
            files[label] = d / "kpis.csv"
            _say(f"batch {label}: {out[f'{label}_s']:.1f} s")
        out["identical_kpis"] = all(filecmp.cmp(files["loop"], f, shallow=False) for f in files.values())
    out["speedup_1_to_2"] = out["dask_1_s"] / out["dask_2_s"]
    out["speedup_loop_to_2"] = out["loop_s"] / out["dask_2_s"]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else [str(a) for a in argv])
    args = build_parser().parse_args(raw)
    scenarios = (["ieee33"] if args.quick else
                 [s.strip() for s in (args.scenarios or ",".join(SYSTEMS)).split(",") if s.strip()])
    modes_arg = ["cooperative"] if args.quick else None if args.modes is None else \
        [m.strip() for m in args.modes.split(",") if m.strip()]
    replays = ["oracle"] if args.quick else [r.strip() for r in args.replays.split(",") if r.strip()]
    days = 1 if args.quick else args.days
    reps, batch_days = (2, 1) if args.quick else (args.replications, args.batch_days)
    t_start = time.perf_counter()
    speed = []
    for sc in scenarios:
        for replay in replays:
            settings = SimSettings(scenario=sc, n_mc=args.mc_days, replay=replay)
            for m in modes_arg or list(SYSTEMS[sc].modes):
                speed.append(mode_speed(sc, m, days, settings))
    batch = dask_batch(scenarios[0], args.batch_mode, reps, batch_days, SimSettings(scenario=scenarios[0],
                                                                                      n_mc=args.mc_days))
    checks = [] if batch["identical_kpis"] else ["kpis.csv differs between the loop and the Dask runs"]
    compared = pd.DataFrame()
    if args.baseline:
        passthrough = [a for i, a in enumerate(raw) if a != "--baseline" and (i == 0 or raw[i - 1] != "--baseline")
                       and not a.startswith("--baseline=") and a != "--out" and (i == 0 or raw[i - 1] != "--out")]
        compared = before_after(baseline_records(args.baseline, passthrough), speed)
        moved = compared[compared["cost_rel_diff"] > 1e-6]
        checks += [f"mean total cost moved by {r.cost_rel_diff:.2e} (relative) on {r.scenario} {r.replay} {r.mode}"
                   for r in moved.itertuples()]
    machine = environment_info()
    doc: dict[str, Any] = {"benchmark": "simulate", "machine": machine,
           "config": {"scenarios": scenarios, "replays": replays, "modes": modes_arg or "all", "days": days,
                      "replications": reps,
                      "batch_days": batch_days, "batch_mode": args.batch_mode, "mc_days": args.mc_days,
                      "quick": bool(args.quick)},
           "records": speed, "batch": batch, "checks": checks, "total_wall_s": time.perf_counter() - t_start,
           "baseline": args.baseline, "before_after": compared.to_dict("records")}
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(doc, args.out / JSON_NAME)
    sp = pd.DataFrame(speed)
    cols = [c for c in ("scenario", "replay", "mode", "days", "wall_s", "days_per_minute", "day_data_s",
                        "day_solve_s", "day_mpc_s", "mpc_solves_per_day", "day_check_s", "mean_total_cost") if c in sp]
    md = ["# Benchmark: multi-day simulation\n",
          f"Generated {machine.get('date', '')} on {machine.get('platform', '')} "
          f"({machine.get('cpu_count', '?')} CPUs). Monte Carlo days per simulated day: {args.mc_days}.\n",
          "## Simulated days per minute (plain loop, seed 0)\n",
          "Per day: data = weather draw, scenario reduction, fleet; solve = DA stage and the mode's intraday "
          "scheme (mpc = of which the receding-horizon loop: one re-solve per quarter-hour and problem; the "
          "oracle mode is full-information under either replay); check = LinDistFlow, AC power flow and KPIs.\n",
          markdown_table(sp[cols], floatfmt=".2f"), "",
          f"## Dask batch: {reps} runs x {batch_days} days ({args.batch_mode}, {scenarios[0]})\n",
          markdown_table(pd.DataFrame([{k: batch[k] for k in ("loop_s", "dask_1_s", "dask_2_s", "speedup_1_to_2",
                                                               "speedup_loop_to_2", "identical_kpis")}]),
                         floatfmt=".2f"), "",
          *([f"## Before / after: commit {args.baseline} vs this one (same invocation, same seed)\n",
             markdown_table(compared, floatfmt=".4g"), ""] if args.baseline else []),
          "## Checks\n", "\n".join(f"- {c}" for c in checks) if checks else "- all passed (kpis.csv identical "
          "for the loop, 1 and 2 Dask workers)", ""]
    write_text("\n".join(md), args.out / MD_NAME)
    _say(f"wrote {args.out / JSON_NAME} and {args.out / MD_NAME} ({doc['total_wall_s']:.1f} s)")
    return 0 if not checks else 1


if __name__ == "__main__":
    sys.exit(main())

"""What a step of the dashboard costs against the engine's step (issue 18), on one ieee33 day per mode.

Three measurements of the same day (seed 0, oracle replay), in this process:

1. **engine**: :class:`sim.engine.model.SimulationModel` stepped 96 times exactly as ``run_sim.py simulate`` steps
   it (its ``on_day`` hands the day over; nothing is written): the seconds of each ``step()``.
2. **page model**: :class:`app.model.DashboardModel` (the page's model: the same engine plus the page's bookkeeping)
   stepped 96 times: the seconds of each ``step()``; its day's KPI row must equal the engine's (checked).
3. **page render**: after each page-model step, what the page adds before the browser gets it: the panels' tables
   (:func:`app.components.tables_of_model`: the live preview and the closed days) and rendering every panel
   (``solara.render`` of the page's panels, the charts drawn to SVG by vl-convert).  The browser's own drawing is
   not included (the browser test measures click-to-update).  The day's network check moves from the engine's last
   step into the page's first render (the preview computes it once and the day's end reuses it).

Reported per mode: the day's first step (the day's solves run in it) and the mean of the other 95, engine vs page
model, and the page's render per step (median, max).  "A step in the page costs no more than the engine's step"
is judged on the model: page-model step / engine step (first step and the day) <= 1.05.

Usage (from the repository root)::

    PYTHONPATH=. python benchmarks/dashboard_step.py --out benchmarks/results [--modes cooperative,oracle]

Outputs ``DIR/dashboard_step.json`` and ``DIR/dashboard_step.md`` (atomically).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import solara

from app.components import tables_of_model
from app.model import DashboardModel
from app.page import DayPanels
from sim.engine.io import write_json, write_text
from sim.engine.model import SimulationModel
from sim.engine.run import load_scenario
from sim.engine.spec import RunSpec, SimSettings
from sim.engine.system import STEPS_PER_DAY
from sim.systems import system_for

SCENARIO = "ieee33"


def engine_day(mode: str) -> tuple[list[float], dict[str, Any]]:
    """The engine's 96 step times and the day's KPI row."""
    system = system_for(SCENARIO)
    settings = SimSettings(scenario=SCENARIO)
    sc = system.prepare(load_scenario(system, SCENARIO), settings)
    kept: list[dict[str, Any]] = []
    model = SimulationModel(system, sc, RunSpec(mode, 0, 1), settings, on_day=lambda d, o: kept.append(o.kpis))
    times = []
    for _ in range(STEPS_PER_DAY):
        t0 = time.perf_counter()
        model.step()
        times.append(time.perf_counter() - t0)
    return times, kept[0]


def page_day(mode: str) -> tuple[list[float], list[float], dict[str, Any]]:
    """The page model's 96 step times, the render time after each, and the day's KPI row."""
    model = DashboardModel(SCENARIO, mode, "oracle", 0, "", days=1)
    steps, renders = [], []
    for _ in range(STEPS_PER_DAY):
        t0 = time.perf_counter()
        model.step()
        t1 = time.perf_counter()
        solara.render(DayPanels(tables_of_model(model)), handle_error=False)
        steps.append(t1 - t0)
        renders.append(time.perf_counter() - t1)
    return steps, renders, model.closed.kpis[0]


def summary(times: list[float]) -> dict[str, float]:
    rest = times[1:]
    return {"first_s": times[0], "rest_mean_s": statistics.fmean(rest), "rest_max_s": max(rest), "day_s": sum(times)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="dashboard_step.py", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    p.add_argument("--modes", default="cooperative,oracle", help="comma-separated ieee33 modes")
    args = p.parse_args(argv)
    DashboardModel(SCENARIO, days=1)  # warm: scenario, weather fit, vl-convert start-up are not a step's cost
    rows, checks = [], []
    for mode in args.modes.split(","):
        e_times, e_kpis = engine_day(mode)
        p_steps, p_renders, p_kpis = page_day(mode)
        same = abs(e_kpis["total_cost"] - p_kpis["total_cost"]) <= 1e-9 * abs(e_kpis["total_cost"])
        e, m = summary(e_times), summary(p_steps)
        row = {"mode": mode, "engine": e, "page_model": m,
               "render_median_s": statistics.median(p_renders), "render_max_s": max(p_renders),
               "ratio_first": m["first_s"] / e["first_s"], "ratio_day": m["day_s"] / e["day_s"],
               "same_total_cost": same, "total_cost": e_kpis["total_cost"]}
        rows.append(row)
        print(f"{mode}: engine first {e['first_s']:.3f} s, rest {1e3 * e['rest_mean_s']:.3f} ms; page model first "
              f"{m['first_s']:.3f} s, rest {1e3 * m['rest_mean_s']:.3f} ms; render median "
              f"{row['render_median_s']:.3f} s", file=sys.stderr)
        if not same:
            checks.append(f"{mode}: the page's day costs {p_kpis['total_cost']} where the engine's costs "
                          f"{e_kpis['total_cost']}")
        if row["ratio_day"] > 1.05:
            checks.append(f"{mode}: the page model's day takes {row['ratio_day']:.2f}x the engine's")
    md = ["# Dashboard step vs engine step (ieee33, seed 0, oracle replay, one day)", "",
          "| mode | engine first step (s) | engine other steps (ms, mean) | page model first step (s) | page model "
          "other steps (ms, mean) | page/engine (day) | render per step (s, median / max) | same total cost |",
          "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['mode']} | {r['engine']['first_s']:.3f} | {1e3 * r['engine']['rest_mean_s']:.3f} | "
                  f"{r['page_model']['first_s']:.3f} | {1e3 * r['page_model']['rest_mean_s']:.3f} | "
                  f"{r['ratio_day']:.3f} | {r['render_median_s']:.3f} / {r['render_max_s']:.3f} | "
                  f"{r['same_total_cost']} |")
    md += ["", "The render is the page's own work after a step (the panels' tables and their SVG charts), done once "
           "per rendered step; Play steps the model in a thread of its own and draws the latest step whenever the "
           "previous drawing is done, so drawing does not slow the simulation.  The day's network check (AC power "
           "flow) and time series, which the engine does in the day's last step, are done by the page's first "
           "render (the live preview) and reused at the day's end: they appear in the render column, not in the "
           "page model's steps.", "",
           "Checks: " + ("none failed" if not checks else "; ".join(checks))]
    args.out.mkdir(parents=True, exist_ok=True)
    write_json({"scenario": SCENARIO, "rows": rows, "checks": checks}, args.out / "dashboard_step.json")
    write_text("\n".join(md) + "\n", args.out / "dashboard_step.md")
    print("\n".join(md))
    return 1 if checks else 0


if __name__ == "__main__":
    sys.exit(main())

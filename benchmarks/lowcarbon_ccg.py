"""Benchmark of paper 003's low-carbon study: C&CG per configuration, the set bounds and the whole run.

Runs :func:`studies.p003_lowcarbon.run.run_lowcarbon_study` (full by default, ``--quick`` for the CI version) and
records, per configuration and set: wall time of the solve, master and subproblem seconds, iterations,
LB/UB and gap, model sizes (recourse, master at the end, largest subproblem) and the method (exact C&CG,
ex-post evaluation of S1, or the lower bound of the box / polyhedral sets); plus the set-building and total
times and the machine.  ``--from DIR`` summarises a study already in ``DIR`` instead of running one.

Usage (from the repository root)::

    PYTHONPATH=. python benchmarks/lowcarbon_ccg.py --out benchmarks/results            # full study
    PYTHONPATH=. python benchmarks/lowcarbon_ccg.py --quick --out benchmarks/results    # CI version

Outputs ``DIR/lowcarbon_ccg[_quick].json`` and ``.md`` (written atomically).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from sim.engine.io import jsonable, machine_info, markdown_table, write_json, write_text

COLUMNS = ("config", "uset", "method", "total", "lower_bound", "gap", "iterations", "solve_s", "master_s",
           "subproblem_s", "recourse_rows", "recourse_cols", "first_stage_binaries", "master_rows", "master_cols",
           "subproblem_rows", "subproblem_cols", "subproblem_binaries")


def summarise(study_dir: Path) -> dict[str, Any]:
    """The benchmark record of a finished study folder (costs.csv + study.json)."""
    costs = pd.read_csv(study_dir / "costs.csv")
    meta = json.loads((study_dir / "study.json").read_text())
    missing = [c for c in COLUMNS if c not in costs.columns]
    if missing:
        raise ValueError(f"{study_dir / 'costs.csv'}: columns {missing} missing (a study from an older version?)")
    runs = costs[list(COLUMNS)].to_dict(orient="records")
    dd = costs[costs["uset"] == "data-driven"].set_index("config")
    total = {str(k): float(v) for k, v in dd["total"].items()}
    low = {str(k): float(v) for k, v in dd["lower_bound"].items()}
    s5 = costs[costs["config"] == "S5"]
    by_set = {str(r["uset"]): (float(r["total"]), float(r["lower_bound"])) for _, r in s5.iterrows()}
    checks = {
        "s5_strictly_lowest": all(total["S5"] < low[c] for c in total if c != "S5"),
        "data_driven_below_box_bound": "box" in by_set and by_set["data-driven"][0] < by_set["box"][1],
    }
    return {"settings": meta.get("settings", {}), "mixture_components": (meta.get("mixture") or {}).get("n_c"),
            "timings": meta.get("timings", {}), "runs": runs, "checks": checks}


def render(rec: dict[str, Any]) -> str:
    t = rec.get("timings", {})
    runs = pd.DataFrame(rec["runs"])
    lines = [
        "# Low-carbon study (paper 003): C&CG benchmark",
        "",
        f"Machine: {rec['machine'].get('cpu_count', '?')} cores, {rec['machine'].get('platform', '')}. "
        f"Settings: {'quick' if rec['settings'].get('quick') else 'full'} "
        f"({rec['settings'].get('n_samples')} samples, {rec.get('mixture_components')} ellipsoids, "
        f"eps {rec['settings'].get('epsilon')}).",
        "",
        f"Total {t.get('total_s', float('nan')):.1f} s (sets {t.get('sets_s', float('nan')):.1f} s, robust solves "
        f"{t.get('solve_wall_s', float('nan')):.1f} s wall).",
        "",
        markdown_table(runs.round(4)),
        "",
        "Checks: " + ", ".join(f"{k} = {v}" for k, v in rec["checks"].items()) + ".",
        "",
        "`method`: ccg = exact C&CG (total = UB, lower_bound = LB); evaluate = S1's deterministic plan scored at its "
        "worst case; bound = TwoStageRobust.bound (lower_bound proven, total = the plan at the worst member found).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    p.add_argument("--quick", action="store_true")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--from", dest="src", type=Path, default=None, help="summarise this finished study folder")
    a = p.parse_args(argv)
    if a.src is not None:
        rec = summarise(a.src)
    else:
        from studies.p003_lowcarbon.run import run_lowcarbon_study

        with tempfile.TemporaryDirectory() as tmp:
            run_lowcarbon_study(Path(tmp), quick=a.quick, workers=a.workers, figures=False)
            rec = summarise(Path(tmp))
    rec["machine"] = machine_info()
    name = "lowcarbon_ccg_quick" if rec["settings"].get("quick") else "lowcarbon_ccg"
    a.out.mkdir(parents=True, exist_ok=True)
    write_json(jsonable(rec), a.out / f"{name}.json")
    write_text(render(rec), a.out / f"{name}.md")
    print(f"wrote {a.out / name}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

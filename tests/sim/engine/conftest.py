"""A cheap real system for the engine's failure and resume tests: one household on a 96 quarter-hour LP.

``toy``: a load of ``load.base_kw`` plus ``load.peak_kw + day_growth_kw * (day - 1)`` in the quarter-hours
59..61 (14:30-15:15), scaled by a day factor drawn from the day seed in [0.95, 1.05]; a grid connection of
at most ``grid.max_kw``; a battery of ``storage.capacity_kwh`` with ``storage.p_max_kw`` (its energy at
midnight is the state ``--resume`` restores).  Minimise the grid energy cost.  The LP is a Pyomo model in a
persistent :class:`agents.milp.HighsModel` built once per run; a day changes the load Params.  The day is
infeasible exactly when the peak load exceeds ``grid.max_kw + storage.p_max_kw`` (the battery can cover at
most its power for the 45 minutes if it holds 0.75 p_max kWh), so a test makes a day infeasible by a field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyomo.environ as pyo
import pytest

import sim.systems as registry
from agents.milp import HighsModel, SolverOptions
from scenarios.edits import load_edited
from scenarios.loader import read_toml, scenario_path
from scenarios.schema import ScenarioError
from sim.engine.system import KPI, STEPS_PER_DAY, DayOutcome, DaySteps, Mode, System, day_seed

PEAK_PERIODS = (59, 60, 61)  # 14:30-15:15
PRICE = 0.2
DT_H = 0.25

TOY_TOML = """kind = "toy"
[grid]
max_kw = 5.0
[load]
base_kw = 2.0
peak_kw = 3.0
day_growth_kw = 0.0
[storage]
capacity_kwh = 4.0
p_max_kw = 1.0
"""


class Alone(Mode):
    name = "alone"
    label = "Alone"
    description = "the household on its own"


class Frugal(Mode):
    name = "frugal"
    label = "Frugal"
    description = "the same household (a second mode for compare)"


def _validate(raw: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for table, keys in (("grid", ("max_kw",)), ("load", ("base_kw", "peak_kw", "day_growth_kw")),
                        ("storage", ("capacity_kwh", "p_max_kw"))):
        for k in keys:
            v = raw.get(table, {}).get(k)
            if not isinstance(v, int | float) or isinstance(v, bool) or not np.isfinite(v) or v < 0:
                raise ScenarioError(f"toy scenario: field '{table}.{k}' must be a finite number >= 0, got {v!r}")
            out[f"{table}.{k}"] = float(v)
    return out


class ToySystem(System):
    kind = "toy"
    description = "one household with a battery (a test system)"
    modes: ClassVar[Mapping[str, type[Mode]]] = {"alone": Alone, "frugal": Frugal}
    default_mode = "alone"
    kpis = (KPI("total_cost", "USD", True, "grid energy cost"),
            KPI("stored_kwh", "kWh", None, "energy stored at midnight"))
    scenario_fields: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "def_balance": ("grid.max_kw", "load.peak_kw", "storage.p_max_kw"),
        "def_soc": ("storage.capacity_kwh",),
    }

    def load(self, name_or_path: str | Path, edits: Sequence[tuple[str, Any]] = ()) -> dict[str, float]:
        file = scenario_path(str(name_or_path))
        return load_edited(file, read_toml(file), edits, _validate)

    def build(self, model: Any) -> None:
        sc = model.spec
        m = pyo.ConcreteModel(name="toy household")
        m.T = pyo.Set(initialize=range(1, STEPS_PER_DAY + 1), ordered=True, doc="quarter-hours")
        m.load_kw = pyo.Param(m.T, initialize=0.0, mutable=True, doc="load [kW]")
        m.start_kwh = pyo.Param(initialize=0.5 * sc["storage.capacity_kwh"], mutable=True, doc="energy at 00:00")
        m.grid_kw = pyo.Var(m.T, bounds=(0, sc["grid.max_kw"]), doc="grid import [kW]")
        m.dis_kw = pyo.Var(m.T, bounds=(-sc["storage.p_max_kw"], sc["storage.p_max_kw"]), doc="discharge [kW]")
        m.e_kwh = pyo.Var(m.T, bounds=(0, sc["storage.capacity_kwh"]), doc="stored energy [kWh]")
        m.def_balance = pyo.Constraint(m.T, rule=lambda b, t: b.grid_kw[t] + b.dis_kw[t] == b.load_kw[t])
        m.def_soc = pyo.Constraint(m.T, rule=lambda b, t: b.e_kwh[t] == (b.e_kwh[t - 1] if t > 1 else b.start_kwh)
                                   - DT_H * b.dis_kw[t])
        m.obj = pyo.Objective(expr=PRICE * DT_H * pyo.quicksum(m.grid_kw[t] for t in m.T))
        model.toy = m
        model.toy_hm = HighsModel(m, "household H1", SolverOptions(time_limit_s=model.settings.time_limit_s))
        model.stored_kwh = 0.5 * sc["storage.capacity_kwh"]

    def day(self, model: Any, d: int) -> DaySteps:
        sc, m, hm = model.spec, model.toy, model.toy_hm
        factor = np.random.default_rng(day_seed(model.run_spec.seed, d)).uniform(0.95, 1.05)
        peak = sc["load.peak_kw"] + sc["load.day_growth_kw"] * d
        for t in m.T:
            m.load_kw[t] = factor * (sc["load.base_kw"] + (peak if t in PEAK_PERIODS else 0.0))
        m.start_kwh = model.stored_kwh
        hm.update()
        start = model.stored_kwh
        stats = hm.solve()
        yield from range(1, STEPS_PER_DAY + 1)
        model.stored_kwh = float(hm.values(m.e_kwh)[-1])
        run = model.run_spec
        kpis = {"run": run.name, "mode": run.mode, "seed": run.seed, "point": run.point, "day": d + 1,
                "day_of_year": d + 1, "total_cost": stats.objective, "stored_kwh": model.stored_kwh}
        ts = pd.DataFrame({"day": d + 1, "period": np.arange(1, STEPS_PER_DAY + 1),
                           "grid_kw": hm.values(m.grid_kw), "start_kwh": start})
        return DayOutcome(kpis, ts, self.save_state(model), {"total_s": stats.solve_s + 1e-9})

    def save_state(self, model: Any) -> dict[str, Any]:
        return {"stored_kwh": model.stored_kwh}

    def restore_state(self, model: Any, state: Mapping[str, Any]) -> None:
        model.stored_kwh = float(state["stored_kwh"])


def write_toy(folder: Path, text: str = TOY_TOML) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scenario.toml").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture()
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The toy system registered (for this test only) and its scenario folder."""
    monkeypatch.setitem(registry.SYSTEMS, "toy", ToySystem())
    return write_toy(tmp_path / "toy_scenario")

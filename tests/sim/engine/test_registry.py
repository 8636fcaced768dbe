"""Adding a system = a package + one registry line: a tiny system defined here runs through the real CLI.

The tiny system: two households, each with a PV panel, a battery and a fixed load, over four six-hour
periods.  ``alone``: each household buys what it lacks at the grid price and sells its surplus at the
feed-in price.  ``pooled``: the two pool their surplus first (one joint LP with an exchange), a
full-information mode in the registry's sense is absent on purpose (``compare`` must cope).  The
battery's energy carries over midnight and is the state ``--resume`` restores.  Costs are checked
against a closed form: pooling can only help (the pooled optimum is at most the sum of the alone optima).
"""

from __future__ import annotations

import filecmp
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import mesa
import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

import run_sim
import sim.systems as registry
from sim.engine.records import agent_records
from sim.engine.system import KPI, STEPS_PER_DAY, DayOutcome, DaySteps, Mode, System, day_seed

PERIODS = 4
DT_H = 6.0
BUY, SELL = 0.30, 0.05
CAP_KWH = 10.0


class Household(mesa.Agent):  # type: ignore[misc]
    """A household: PV, a battery of CAP_KWH (its stored energy is the agent's state), a load."""

    def __init__(self, model: Any, name: str, load_kw: float, pv_peak_kw: float) -> None:
        super().__init__(model)
        self.name = name
        self.load_kw = load_kw
        self.pv_peak_kw = pv_peak_kw
        self.stored_kwh = 0.5 * CAP_KWH


def _lp(houses: list[Household], pv: np.ndarray, pooled: bool) -> tuple[float, np.ndarray, np.ndarray]:
    """Min Σ (BUY·buy − SELL·sell)·Δt; per house and period: pv + buy − sell + dis − ch (+ import) = load.

    Variables per house and period: buy, sell, charge, discharge, stored energy at the end.  With
    ``pooled`` one exchange variable per house and period enters its balance and Σ exchange = 0.
    Returns the cost, each house's cost and each house's stored energy at the end of the day."""
    n, t = len(houses), PERIODS
    nv = 5 + (1 if pooled else 0)
    idx = lambda h, k, v: (h * t + k) * nv + v
    size = n * t * nv
    c = np.zeros(size)
    bounds = []
    for h in range(n):
        for k in range(t):
            c[idx(h, k, 0)] = BUY * DT_H
            c[idx(h, k, 1)] = -SELL * DT_H
            bounds += [(0, None), (0, None), (0, 5.0), (0, 5.0), (0, CAP_KWH)] + ([(None, None)] if pooled else [])
    a_eq, b_eq = [], []
    for h, house in enumerate(houses):
        for k in range(t):
            row = np.zeros(size)  # energy balance
            row[idx(h, k, 0)], row[idx(h, k, 1)], row[idx(h, k, 2)], row[idx(h, k, 3)] = 1, -1, -1, 1
            if pooled:
                row[idx(h, k, 5)] = 1
            a_eq.append(row)
            b_eq.append(house.load_kw - pv[h, k])
            row = np.zeros(size)  # storage: e_k = e_{k-1} + (charge − discharge)·Δt
            row[idx(h, k, 4)] = 1
            row[idx(h, k, 2)], row[idx(h, k, 3)] = -DT_H, DT_H
            if k:
                row[idx(h, k - 1, 4)] = -1
            a_eq.append(row)
            b_eq.append(house.stored_kwh if k == 0 else 0.0)
    if pooled:
        for k in range(t):
            row = np.zeros(size)
            for h in range(n):
                row[idx(h, k, 5)] = 1
            a_eq.append(row)
            b_eq.append(0.0)
    res = linprog(c, A_eq=np.array(a_eq), b_eq=np.array(b_eq), bounds=bounds, method="highs")
    assert res.status == 0, res.message
    x = res.x
    own = np.array([sum(c[idx(h, k, v)] * x[idx(h, k, v)] for k in range(t) for v in (0, 1)) for h in range(n)])
    end = np.array([x[idx(h, t - 1, 4)] for h in range(n)])
    return float(res.fun), own, end


class TinyMode(Mode):
    pooled: ClassVar[bool] = False


class Alone(TinyMode):
    name = "alone"
    label = "Alone"
    description = "each household on its own"


class Pooled(TinyMode):
    name = "pooled"
    label = "Pooled"
    description = "the households pool their surplus"
    pooled = True


class TinySystem(System):
    kind = "tiny"
    description = "two households (a test system)"
    modes: ClassVar[Mapping[str, type[Mode]]] = {"alone": Alone, "pooled": Pooled}
    default_mode = "alone"
    kpis = (KPI("total_cost", "USD", True, "cost of the two households"),
            KPI("stored_kwh", "kWh", None, "energy stored at the end of the day"))

    def load(self, name_or_path: str | Path) -> dict[str, float]:
        return {"load_kw": 1.0}

    def build(self, model: Any) -> None:
        model.builds = getattr(model, "builds", 0) + 1
        for name, load, pv in (("H1", 1.0, 3.0), ("H2", 1.5, 0.5)):
            Household(model, name, load * model.spec["load_kw"], pv)

    def day(self, model: Any, d: int) -> DaySteps:
        houses = sorted(model.agents_by_type[Household], key=lambda a: a.name)
        rng = np.random.default_rng(day_seed(model.run_spec.seed, d))
        shape = np.array([0.0, 0.8, 1.0, 0.1])
        pv = np.array([h.pv_peak_kw * shape * rng.uniform(0.5, 1.0) for h in houses])
        start = [h.stored_kwh for h in houses]
        cost, own, end = _lp(houses, pv, model.mode.pooled)
        yield from range(1, STEPS_PER_DAY + 1)
        for h, e in zip(houses, end, strict=True):
            h.stored_kwh = float(e)
        run = model.run_spec
        kpis = {"run": run.name, "mode": run.mode, "seed": run.seed, "point": run.point, "day": d + 1,
                "day_of_year": d + 1, "total_cost": cost, "stored_kwh": float(end.sum())}
        rows = [(h.name, "Household", "truthful", var, val, unit) for h, o, s, e in zip(houses, own, start, end,
                                                                                          strict=True)
                for var, val, unit in (("own_cost", o, "USD"), ("storage_start", s, "kWh"), ("storage_end", e, "kWh"))]
        ts = pd.DataFrame({"day": d + 1, "period": np.arange(1, PERIODS + 1), "pv_kw": pv.sum(axis=0)})
        return DayOutcome(kpis, ts, self.save_state(model), {"total_s": 0.0},
                          agent_records(run.name, run.mode, d + 1, rows))

    def save_state(self, model: Any) -> dict[str, Any]:
        return {h.name: h.stored_kwh for h in model.agents_by_type[Household]}

    def restore_state(self, model: Any, state: Mapping[str, Any]) -> None:
        for h in model.agents_by_type[Household]:
            h.stored_kwh = float(state[h.name])


@pytest.fixture()
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setitem(registry.SYSTEMS, "tiny", TinySystem())  # the one registry line
    folder = tmp_path / "tiny_scenario"
    folder.mkdir()
    (folder / "scenario.toml").write_text('kind = "tiny"\n', encoding="utf-8")
    return folder


def test_a_registered_system_runs_simulate_compare_and_resume(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "sim"
    assert run_sim.main(["simulate", "--scenario", str(tiny), "--days", "3", "--seed", "2", "--out", str(out),
                         "--quiet"]) == 0
    k = pd.read_csv(out / "kpis.csv")
    assert list(k.columns) == ["run", "mode", "seed", "point", "day", "day_of_year", "total_cost", "stored_kwh"]
    assert list(k["mode"]) == ["alone"] * 3
    agents = pd.read_parquet(out / "agents" / "day=002" / "alone-s2.parquet")
    assert set(agents["agent_id"]) == {"H1", "H2"}
    # the battery carries over midnight: day 2 starts where day 1 ended
    a1 = pd.read_parquet(out / "agents" / "day=001" / "alone-s2.parquet")
    end1 = a1[a1["variable"] == "storage_end"].set_index("agent_id")["value"]
    start2 = agents[agents["variable"] == "storage_start"].set_index("agent_id")["value"]
    pd.testing.assert_series_equal(end1, start2)

    # --resume after two days gives the same kpis.csv as the straight run
    cut = tmp_path / "cut"
    assert run_sim.main(["simulate", "--scenario", str(tiny), "--days", "2", "--seed", "2", "--out", str(cut),
                         "--quiet"]) == 0
    (cut / "kpis.csv").unlink()
    assert run_sim.main(["simulate", "--scenario", str(tiny), "--days", "3", "--seed", "2", "--out", str(cut),
                         "--quiet", "--resume"]) == 0
    assert filecmp.cmp(out / "kpis.csv", cut / "kpis.csv", shallow=False)

    # compare runs both modes on identical days; pooling never costs more (closed form: the joint LP's
    # feasible set contains the separate optima)
    cmp_out = tmp_path / "cmp"
    assert run_sim.main(["compare", "--scenario", str(tiny), "--days", "2", "--seed", "2", "--out", str(cmp_out),
                         "--quiet"]) == 0
    kc = pd.read_csv(cmp_out / "kpis.csv")
    pivot = kc.pivot_table(index="day", columns="mode", values="total_cost")
    assert (pivot["pooled"] <= pivot["alone"] + 1e-9).all()
    assert (cmp_out / "comparison.csv").exists()


def test_unknown_mode_names_the_systems_modes(tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_sim.main(["simulate", "--scenario", str(tiny), "--mode", "oracle", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "alone" in err and "pooled" in err


def test_the_bundled_registry_declares_modes_once_with_kpi_units() -> None:
    for kind, system in registry.SYSTEMS.items():
        assert system.kind == kind and system.default_mode in system.modes
        for name, mode in system.modes.items():
            assert mode.name == name and mode.label and mode.description
        names = [k.name for k in system.kpis]
        assert len(names) == len(set(names)) and "total_cost" in names
        assert all(k.unit and k.description for k in system.kpis)

"""Paper 003's low-carbon campus in the multi-day simulator (sim/systems/lowcarbon_ies): costs, CO2, carry-over, resume.

Fast settings: the scenario's default day-ahead method (``deterministic``: one MILP per day, no wind-set fit)
and a reduced Monte Carlo forecast (``n_mc`` = 20 draws) for the in-process days; the acceptance command
(``run_sim.py simulate --scenario lowcarbon_ies --days 3 --seed 1``) runs as written.
"""

from __future__ import annotations

import filecmp
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyomo.environ as pyo
import pytest

import run_sim
from agents.decision.robust import TwoStageRobust
from agents.lowcarbon_campus import (
    CampusState,
    LowCarbonCampusAgent,
    build_lowcarbon_model,
    open_end_windows,
    wind_dual_bound,
    write_state,
)
from scenarios.lowcarbon_loader import load_lowcarbon_ies
from scenarios.schema import ScenarioError
from sim.engine.model import SimulationModel
from sim.engine.run import completed_days, load_scenario
from sim.engine.spec import RunSpec, SimSettings
from sim.engine.system import DayOutcome
from sim.systems import SYSTEMS
from sim.systems.lowcarbon_ies.day import COST_KPIS, STORE_KPIS

ROOT = Path(__file__).resolve().parents[4]
SCENARIO_DIR = ROOT / "scenarios" / "lowcarbon_ies"
SYSTEM = SYSTEMS["lowcarbon_ies"]
MC = 20
#: The acceptance command (``--out`` appended).
ACCEPTANCE = ["simulate", "--scenario", "lowcarbon_ies", "--days", "3", "--seed", "1"]


def run_days(mode: str, replay: str = "oracle", days: int = 1, seed: int = 1
             ) -> tuple[list[DayOutcome], LowCarbonCampusAgent]:
    """Days of one run in process (the engine's Mesa model), with the campus agent that ran them."""
    settings = SimSettings(scenario="lowcarbon_ies", replay=replay, n_mc=MC)
    sc = SYSTEM.prepare(load_scenario(SYSTEM, "lowcarbon_ies"), settings)
    outs: list[DayOutcome] = []
    model = SimulationModel(SYSTEM, sc, RunSpec(mode, seed, days), settings, on_day=lambda d, o: outs.append(o))
    model.run_to_end()
    return outs, SYSTEM.campus(model)


def _check_day(out: DayOutcome, campus: LowCarbonCampusAgent) -> None:
    """Finite KPIs; total = Table 1's parts + penalty; the carriers balance; the CO2 ledger closes."""
    k = out.kpis
    for kpi in SYSTEM.kpis:
        assert kpi.name in k and (math.isfinite(k[kpi.name]) or kpi.name == "curtailment_rate"), kpi.name
    parts = sum(k[name] for name in COST_KPIS.values())
    assert k["total_cost"] == pytest.approx(parts, rel=1e-9, abs=1e-9)
    m = campus.real.model  # the dispatched realised day, loaded
    for con in (m.def_balance, m.def_heat_balance, m.def_gas_balance, m.def_h2_balance):
        for c in con.values():
            assert abs(pyo.value(c.body) - pyo.value(c.upper)) < 1e-6, c.name
    # CO2 (SPEC §3.13): emitted = absorbed + released (CC-2); traded = released - allowance (CT-2); the rich
    # solvent holds what was absorbed but not regenerated: (V_end - V_start) / k_sol = absorbed - regenerated
    assert k["co2_emitted_t"] == pytest.approx(k["co2_absorbed_t"] + k["co2_released_t"], rel=1e-9)
    assert k["co2_traded_t"] == pytest.approx(k["co2_released_t"] - k["co2_allowance_t"], rel=1e-9, abs=1e-9)
    a = out.agents.set_index("variable")["value"]
    k_sol = campus.params.ccus.k_sol_m3_per_t
    assert (a["storage_end_ccus"] - a["storage_start_ccus"]) / k_sol == pytest.approx(
        k["co2_absorbed_t"] - k["co2_methanated_t"] - k["co2_sequestered_t"], abs=1e-6)
    assert k["co2_total_t"] == pytest.approx(k["co2_released_t"] + k["co2_indirect_t"], rel=1e-12)
    # one campus: its own cost is its standalone and final cost; no payment, no gain
    assert a["own_cost"] == a["standalone_cost"] == a["final_cost"] == k["total_cost"]
    assert a["payment"] == 0.0 and a["gain"] == 0.0
    ts = out.timeseries
    assert list(ts.columns) == ["day", "run", "mode", "period", "entity", "variable", "value", "unit"]
    assert set(ts["period"]) == set(range(1, 25))


@pytest.fixture(scope="module")
def day_one() -> dict[str, tuple[DayOutcome, LowCarbonCampusAgent]]:
    """Day 1 of seed 1 in each mode and replay that the bounds below compare."""
    out = {}
    for mode, replay in (("cooperative", "oracle"), ("cooperative", "mpc"), ("oracle", "oracle")):
        days, campus = run_days(mode, replay)
        _check_day(days[0], campus)
        out[f"{mode}/{replay}"] = (days[0], campus)
    return out


def test_a_day_runs_with_finite_kpis_closed_costs_and_co2(day_one: dict[str, tuple[DayOutcome, LowCarbonCampusAgent]]
                                                          ) -> None:
    coop, _ = day_one["cooperative/oracle"]
    k = coop.kpis
    assert k["day"] == 1 and k["day_of_year"] == 172 and k["plan_iterations"] == 1.0  # the deterministic MILP
    assert k["wind_available_mwh"] > 0 and k["gas_mwh"] > 0 and k["mpc_solves"] == 0
    assert day_one["cooperative/mpc"][0].kpis["mpc_solves"] == 24
    agents = coop.agents
    assert set(agents["agent_id"]) == {"campus"} and set(agents["agent_type"]) == {"LowCarbonCampusAgent"}
    assert set(agents["behaviour"]) == {"truthful"}
    assert {"own_cost", "gas_bought_mwh", "coal_bought_t", "curtailment_kwh", "storage_end_ess", "storage_end_hs",
            "storage_end_h2s", "storage_end_nh3s", "storage_end_ccus"} <= set(agents["variable"])


def test_the_oracle_bounds_the_other_modes(day_one: dict[str, tuple[DayOutcome, LowCarbonCampusAgent]]) -> None:
    """Knowing the realised wind day is a lower bound (the oracle's MILP has a relative gap of 1e-4); learning
    it hour by hour (mpc) costs at least as much as dispatching the same commitment knowing it at once."""
    oracle = day_one["oracle/oracle"][0].kpis["total_cost"]
    coop = day_one["cooperative/oracle"][0].kpis["total_cost"]
    mpc = day_one["cooperative/mpc"][0].kpis["total_cost"]
    assert oracle <= coop + 1e-4 * abs(coop) + 1e-6
    assert oracle <= mpc + 1e-4 * abs(mpc) + 1e-6
    assert coop <= mpc + 1e-6 * abs(mpc)
    assert day_one["oracle/oracle"][0].kpis["plan_objective"] == pytest.approx(oracle, rel=1e-4)


def test_the_modes_of_one_campus_coincide_and_a_seed_repeats(
        day_one: dict[str, tuple[DayOutcome, LowCarbonCampusAgent]]) -> None:
    """A fresh run of the same seed gives the same KPIs, and centralized is cooperative (one campus)."""
    again, _ = run_days("centralized")
    coop = day_one["cooperative/oracle"][0].kpis
    assert {k: v for k, v in again[0].kpis.items() if k not in ("mode", "run")} == \
        {k: v for k, v in coop.items() if k not in ("mode", "run")}


def test_storage_and_units_carry_over_midnight() -> None:
    """Day 2 starts where day 1 ended (the agent holds the state; save/restore round-trips it), and every store
    ends the day inside its window: energy stores at or above the nominal start, the rich solvent at or below."""
    days, campus = run_days("cooperative", days=2)
    for out in days:
        _check_day(out, campus)
    a1 = days[0].agents.set_index("variable")["value"]
    a2 = days[1].agents.set_index("variable")["value"]
    nominal = CampusState.nominal(campus.real)
    for st in campus.stores:
        assert a2[f"storage_start_{st.key}"] == a1[f"storage_end_{st.key}"], st.key
        assert a1[f"storage_start_{st.key}"] == nominal.stores[st.key]
        for a in (a1, a2):
            end, start = a[f"storage_end_{st.key}"], nominal.stores[st.key]
            assert (end >= start - 1e-6) if st.keep_above else (end <= start + 1e-6), st.key
    for out, a in zip(days, (a1, a2), strict=True):
        assert CampusState.from_json(out.state) == CampusState.from_json(json.loads(json.dumps(out.state)))
        for key, (name, _) in STORE_KPIS.items():
            assert out.kpis[name] == a[f"storage_end_{key}"]
    assert CampusState.from_json(days[1].state) == campus.state
    units = CampusState.from_json(days[0].state).units
    assert all(on in (0, 1) for on, _ in units.values())
    # the refreshed day-ahead engine sees the carried start: the plan's rows hold day 2's start content
    assert pyo.value(campus.plan.handles["hs"].block.e_initial_kwh) == a2["storage_start_hs"]


def test_a_refreshed_engine_plans_like_a_fresh_one() -> None:
    """TwoStageRobust.refresh: new store contents and unit states (right-hand sides only) reach the persistent
    engine; its plan equals that of an engine compiled from scratch on the same data."""
    sc = load_lowcarbon_ies()
    lm = build_lowcarbon_model(sc, sc.variant("S5"), np.zeros(24))
    open_end_windows(lm)
    eng = TwoStageRobust(lm.model, lm.first_stage, lm.wind_availability, "refresh", dual_bound=wind_dual_bound(sc))
    wind = np.full(24, 250.0)
    first = eng.solve_deterministic(wind)
    state = CampusState.nominal(lm)
    state.stores["hs"] = 140.0
    state.stores["h2s"] = 90.0
    state.units["TP1"] = (1, 200.0)
    write_state(lm, state)
    eng.refresh()
    again = eng.solve_deterministic(wind)
    fresh = TwoStageRobust(lm.model, lm.first_stage, lm.wind_availability, "fresh",
                           dual_bound=wind_dual_bound(sc)).solve_deterministic(wind)
    assert again.objective == pytest.approx(fresh.objective, rel=1e-4)
    assert again.objective < first.objective  # more stored heat and H2, and a unit already on: cheaper
    lm.handles["tp_TP1"].block.ramp_up_mw_per_h.set_value(50.0)  # a coefficient: not a data refresh
    with pytest.raises(ValueError, match="coefficients"):
        eng.refresh()


def test_a_new_day_reaches_highs_as_deltas_equal_to_a_recompile(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new day's state, plan and wind reach the engine and the dispatch model without a recompile, and the
    HiGHS models then hold exactly (bit for bit) what a full compile of the changed Pyomo model gives."""
    import mesa

    import agents.decision.robust as robust_module
    import agents.milp as milp_module

    sc = load_lowcarbon_ies()
    campus = LowCarbonCampusAgent(mesa.Model(), "campus", sc, sc.variant("S5"), milp_module.SolverOptions())
    eng = campus.engine
    before = eng._cm.row_lb.copy(), eng._cm.row_ub.copy()

    def recompile(*_: object) -> None:
        raise AssertionError("recompiled")

    monkeypatch.setattr(robust_module, "compile_model", recompile)
    monkeypatch.setattr(milp_module.HighsModel, "update", recompile)
    rng = np.random.default_rng(5)
    state = CampusState.nominal(campus.plan)
    state.stores = {k: v * rng.uniform(0.4, 1.2) for k, v in state.stores.items()}
    state.units = {"TP1": (1, 211.5), "TP2": (0, 0.0)}
    campus.state = state
    campus.start_day()
    plan = {nm: np.zeros(k) for nm, k in zip(eng.x_names, eng._x_sizes, strict=True)}
    plan["carbon.tier"][0] = 1.0  # all units off, sale tier 0
    campus.commit(eng.x_flat(plan))
    campus.set_wind(rng.uniform(0.0, 400.0, 24))
    monkeypatch.undo()
    fresh = milp_module.compile_model(campus.plan.model)
    assert np.array_equal(eng._cm.row_lb, fresh.row_lb) and np.array_equal(eng._cm.row_ub, fresh.row_ub)
    assert (eng._cm.row_lb != before[0]).sum() + (eng._cm.row_ub != before[1]).sum() > 0  # the state moved rows
    lp = campus.dispatch._highs.getLp()
    real = milp_module.compile_model(campus.real.model)
    for got, want in ((lp.row_lower_, real.row_lb), (lp.row_upper_, real.row_ub), (lp.col_lower_, real.col_lb),
                      (lp.col_upper_, real.col_ub), (lp.col_cost_, real.c), (lp.a_matrix_.value_, real.A.data)):
        assert np.array_equal(np.asarray(got), want)


@pytest.mark.parametrize(("old", "new", "message"), [
    ('configuration = "S5"', 'configuration = "S9"', r"simulation\.configuration' = 'S9': must be one of S1, S2"),
    ('method = "deterministic"', 'method = "stochastic"', r"simulation\.method' = 'stochastic': must be one of "
                                                          r"deterministic, robust"),
    ("n_components = 3", "n_componentz = 3", r"simulation\.n_componentz' is not a field"),
])
def test_the_simulation_table_is_checked(tmp_path: Path, old: str, new: str, message: str) -> None:
    text = (SCENARIO_DIR / "scenario.toml").read_text(encoding="utf-8")
    assert old in text
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "loads.csv").write_text((SCENARIO_DIR / "profiles" / "loads.csv").read_text())
    (tmp_path / "scenario.toml").write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ScenarioError, match=message):
        load_lowcarbon_ies(tmp_path)
    sc = load_scenario(SYSTEM, "lowcarbon_ies", [("simulation.method", "robust")])
    assert sc.simulation.method == "robust" and sc.simulation.configuration == "S5"
    with pytest.raises(ScenarioError, match=r"simulation\.configuration"):
        load_scenario(SYSTEM, "lowcarbon_ies", [("simulation.configuration", "S7")])


@pytest.fixture(scope="module")
def acceptance(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lowcarbon") / "full"
    assert run_sim.main([*ACCEPTANCE, "--out", str(out), "--quiet"]) == 0
    return out


def test_the_acceptance_command_writes_kpis_and_agents(acceptance: Path) -> None:
    k = pd.read_csv(acceptance / "kpis.csv")
    assert list(k["day"]) == [1, 2, 3] and set(k["mode"]) == {"cooperative"}
    assert list(k.columns) == ["run", "mode", "seed", "point", "day", "day_of_year", *(x.name for x in SYSTEM.kpis)]
    assert np.allclose(k["total_cost"], k[list(COST_KPIS.values())].sum(axis=1), rtol=1e-9)
    for d in (1, 2, 3):
        a = pd.read_parquet(acceptance / "agents" / f"day={d:03d}" / "cooperative-s1.parquet")
        assert set(a["agent_id"]) == {"campus"} and set(a["unit"]) >= {"1e4 CNY", "kWh", "MWh", "t", "m3"}
        assert (acceptance / "timeseries" / f"day={d:03d}" / "cooperative-s1.parquet").exists()
    # day 2 and 3 start where the day before ended (the state files hold it)
    for d in (1, 2):
        state = CampusState.from_json(json.loads(
            (acceptance / "state" / f"day={d:03d}" / "cooperative-s1.json").read_text("utf-8")))
        nxt = pd.read_parquet(acceptance / "agents" / f"day={d + 1:03d}" / "cooperative-s1.parquet")
        start = nxt[nxt["variable"].str.startswith("storage_start_")].set_index("variable")["value"]
        assert {f"storage_start_{key}": v for key, v in state.stores.items()} == start.to_dict()


def test_a_killed_run_resumes_to_the_same_kpis(acceptance: Path, tmp_path: Path) -> None:
    """The acceptance command killed (SIGKILL) during day 2, then ``--resume``: kpis.csv is byte-identical to
    the uninterrupted run's (day 1 from the killed process, days 2 and 3 from a fresh one)."""
    cut = tmp_path / "cut"
    cmd = [sys.executable, str(ROOT / "run_sim.py"), *ACCEPTANCE, "--out", str(cut), "--quiet"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker = cut / "kpis" / "day=001" / "cooperative-s1.csv"
    t0 = time.time()
    while not marker.exists() and proc.poll() is None and time.time() - t0 < 300:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run = RunSpec("cooperative", 1, 3)
    assert 1 <= completed_days(cut, run) < 3, "the kill came too late to test a resume"
    assert not (cut / "kpis.csv").exists()
    assert run_sim.main([*cmd[2:], "--resume"]) == 0
    assert completed_days(cut, run) == 3
    assert filecmp.cmp(acceptance / "kpis.csv", cut / "kpis.csv", shallow=False)

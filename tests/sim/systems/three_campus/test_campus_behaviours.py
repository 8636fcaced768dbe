"""Behaviours on the three campuses (SPEC §8; sim/systems/three_campus/behaviours.py): truthful changes nothing,
B-1 for misreport, verify_standalone, withhold f = 1, coalitions of any subset and the audit, leave with g = −∞,
a learner's memory across --resume, forecast σ = 1, b = 0, and what is refused."""

from __future__ import annotations

import filecmp
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from market.audit import shapley_values
from sim.engine.model import SimulationModel
from sim.engine.run import execute, load_scenario
from sim.engine.spec import RunSpec, SimSettings
from sim.engine.system import DayOutcome
from sim.systems import SYSTEMS

ROOT = Path(__file__).resolve().parents[4]
FAST = SimSettings(scenario="three_campus", n_mc=60, n_scenarios=2)
TC = SYSTEMS["three_campus"]
PARKS = ("PV", "WT", "CHP")
#: How far the system-wide CVaR lets a park's realised cost move when another park's flexibility changes (the plan
#: weighs the tail of the *summed* cost; measured 3.4e-4 on these days): relative to the parks' cost.
COUPLING = 1e-3


def day(edits: tuple[tuple[str, Any], ...] = (), seed: int = 0, mode: str = "cooperative",
        settings: SimSettings = FAST) -> tuple[dict[str, Any], pd.DataFrame]:
    """One simulated day through the engine (kpis, per-agent records as agent x variable)."""
    sc = load_scenario(TC, "three_campus", edits)
    out: list[DayOutcome] = []
    SimulationModel(TC, sc, RunSpec(mode, seed, 1), settings, on_day=lambda d, o: out.append(o)).run_to_end()
    o = out[0]
    return o.kpis, o.agents.pivot_table(index="agent_id", columns="variable", values="value", aggfunc="first")


@pytest.fixture(scope="module")
def truthful() -> tuple[dict[str, Any], pd.DataFrame]:
    return day((("market.audit", True),))


def numeric(k: dict[str, Any]) -> dict[str, float | None]:
    """The numeric KPIs (NaN as None, so that equal rows compare equal)."""
    return {c: None if math.isnan(float(v)) else float(v) for c, v in k.items()
            if isinstance(v, int | float) and c not in ("seed",)}


def test_a_table_of_truthful_behaviours_reproduces_kpis_csv_byte_for_byte(tmp_path: Path) -> None:
    folder = tmp_path / "three_campus"
    shutil.copytree(ROOT / "scenarios" / "three_campus", folder, ignore=shutil.ignore_patterns("__pycache__"))
    toml = folder / "scenario.toml"
    text = toml.read_text("utf-8")
    assert "\nkappa = 0.5" in text  # the bundled [market] table: the default kappa, written out
    toml.write_text(text + '\n[behaviours]\nCampusAgent = "truthful"\nWT = {id = "truthful"}\n', "utf-8")
    execute(tmp_path / "plain", TC, [RunSpec("cooperative", 5, 1)], FAST)
    table = SimSettings(scenario=str(folder), n_mc=FAST.n_mc, n_scenarios=FAST.n_scenarios)
    execute(tmp_path / "table", TC, [RunSpec("cooperative", 5, 1)], table)
    assert filecmp.cmp(tmp_path / "plain" / "kpis.csv", tmp_path / "table" / "kpis.csv", shallow=False)
    rec = pd.read_parquet(next((tmp_path / "table" / "agents").rglob("*.parquet")))
    assert set(rec["behaviour"]) == {"truthful"}
    assert TC.bargaining_agents(load_scenario(TC, "three_campus")) == PARKS


def test_misreport_moves_the_liars_true_cost_by_b1(truthful: tuple[dict[str, Any], pd.DataFrame]) -> None:
    """B-1: C^fin_n = C^0_n − w_n S + (1 − w_n) m |C^0_n| for the liar; the others get C^0_j − w_j (S + m |C^0_n|)."""
    k0, r0 = truthful
    m = -0.02
    k1, r1 = day((("behaviours.WT", f"misreport:{m}"),))
    s = math.fsum(r0.loc[p, "gain"] for p in PARKS)
    c0 = {p: r0.loc[p, "standalone_cost"] for p in PARKS}
    w = {p: k0[f"weight_{p}"] for p in PARKS}
    lie = m * abs(c0["WT"])
    assert s + lie > 0  # the lie stays within the acceptance condition
    assert r1.loc["WT", "standalone_cost"] == pytest.approx(c0["WT"], rel=1e-12)  # the truth is unchanged
    assert r1.loc["WT", "reported_standalone_cost"] == pytest.approx(c0["WT"] + lie, rel=1e-12)
    assert r1.loc["WT", "final_cost"] == pytest.approx(c0["WT"] - w["WT"] * s + (1 - w["WT"]) * lie, abs=1e-6)
    for p in ("PV", "CHP"):
        assert r1.loc[p, "final_cost"] == pytest.approx(c0[p] - w[p] * (s + lie), abs=1e-6)
    assert k1["total_cost"] == pytest.approx(k0["total_cost"], rel=1e-12)  # a transfer: the system cost is the same
    assert r1.loc["WT", "gain"] > r0.loc["WT", "gain"]  # the lie pays
    assert k1["gain_WT"] == pytest.approx(r1.loc["WT", "gain"], abs=1e-9)  # kpis report true gains


def test_verify_standalone_makes_misreport_change_nothing(truthful: tuple[dict[str, Any], pd.DataFrame]) -> None:
    k0, _ = truthful
    k1, r1 = day((("behaviours.WT", "misreport:-0.3"), ("market.verify_standalone", True)))
    assert numeric(k1) == numeric(k0)
    assert r1.loc["WT", "reported_standalone_cost"] == r1.loc["WT", "standalone_cost"]


def test_an_overstated_outside_option_beyond_s_rejects_the_coalition(truthful: tuple[dict[str, Any], pd.DataFrame]
                                                                     ) -> None:
    """B-1's bound: a lie with Ŝ = S + m |C^0_n| < 0 makes NB-2 reject the coalition; everyone gets C^0."""
    _, r0 = truthful
    s = math.fsum(r0.loc[p, "gain"] for p in PARKS)
    m = -min(0.5, 2 * s / abs(r0.loc["PV", "standalone_cost"]))
    assert s + m * abs(r0.loc["PV", "standalone_cost"]) < 0
    k1, r1 = day((("behaviours.PV", f"misreport:{m}"),))
    assert k1["coalition_formed"] == 0.0 and k1["exchange_kwh"] == 0.0
    for p in PARKS:
        assert r1.loc[p, "gain"] == pytest.approx(0.0, abs=1e-9) and r1.loc[p, "payment"] == 0.0


def test_withhold_everything_equals_the_others_coalition_plus_the_park_with_idle_storage(
        truthful: tuple[dict[str, Any], pd.DataFrame]) -> None:
    """withhold f = 1: the park's lines carry nothing, its storage is idle in the coalition's plan, and the others'
    costs are v({PV, CHP}) of the audited truthful day (same day, same data) up to the system-wide CVaR's coupling;
    f = 0.5 offers half."""
    _, r0 = truthful
    k1, r1 = day((("behaviours.WT", "withhold:1"),))
    assert k1["coalition_formed"] == 1.0 and r1.loc["WT", "joined"] == 1.0
    assert r1.loc["WT", "exchanged_in_kwh"] == 0 and r1.loc["WT", "exchanged_out_kwh"] == 0
    assert r1.loc["WT", "offered_storage_kw"] == 0 and r1.loc["WT", "offered_exchange_kw"] == 0
    assert r1.loc["WT", "storage_end_kwh"] == pytest.approx(r1.loc["WT", "storage_start_kwh"], abs=1e-6)  # idle
    assert r1.loc["WT", "standalone_cost"] == pytest.approx(r0.loc["WT", "standalone_cost"], rel=1e-12)  # C0 keeps all
    v13 = r0.loc["market", "coalition_value[PV+CHP]"]
    others = r1.loc["PV", "own_cost"] + r1.loc["CHP", "own_cost"]
    assert others == pytest.approx(v13, rel=COUPLING)
    assert r1.loc["WT", "own_cost"] > r0.loc["WT", "standalone_cost"]  # its idle storage costs it money
    _, r_half = day((("behaviours.WT", "withhold:0.5"),))
    assert r_half.loc["WT", "offered_storage_kw"] == pytest.approx(0.5 * r_half.loc["WT", "available_storage_kw"])
    assert r_half.loc["WT", "offered_exchange_kw"] == pytest.approx(0.5 * r_half.loc["WT", "available_exchange_kw"])
    assert r_half.loc["WT", "exchanged_in_kwh"] + r_half.loc["WT", "exchanged_out_kwh"] > 0


def test_the_audit_values_every_coalition_on_the_persistent_models(truthful: tuple[dict[str, Any], pd.DataFrame]
                                                                   ) -> None:
    """v(N) is the executed coalition's cost; every pair T has P2P on its one line only (v(T) ≤ Σ_{i∈T} C^0_i); the
    Shapley value is efficient; the core excess is the largest coalition excess; the singles' values are C^0."""
    _, r = truthful
    c0 = {p: r.loc[p, "standalone_cost"] for p in PARKS}
    v = {frozenset(key[len("coalition_value["):-1].split("+")): val
         for key, val in r.loc["market"].items() if key.startswith("coalition_value[") and not math.isnan(val)}
    assert len(v) == 4  # three pairs and the grand coalition
    n = frozenset(PARKS)
    assert v[n] == pytest.approx(math.fsum(r.loc[p, "own_cost"] for p in PARKS), rel=1e-12)
    for t, val in v.items():
        assert val < math.fsum(c0[i] for i in t)  # P2P inside T saves on this day
    phi = shapley_values(list(PARKS), c0, v)
    assert math.fsum(phi.values()) == pytest.approx(math.fsum(r.loc[p, "gain"] for p in PARKS), rel=1e-9)
    assert all(r.loc[p, "shapley_gain"] == pytest.approx(phi[p], rel=1e-9) for p in PARKS)
    excess = [r.loc["market", f"coalition_excess[{'+'.join(p for p in PARKS if p in t)}]"] for t in v if t != n]
    excess += [-r.loc[p, "gain"] for p in PARKS]  # a single park's excess: C^fin − C^0
    assert r.loc["market", "core_max_excess"] == pytest.approx(max(excess), abs=1e-9)
    assert r.loc["market", "in_core"] == float(max(excess) <= 1e-4 * math.fsum(map(abs, c0.values())))


def test_leave_with_minus_infinity_is_truthful_and_a_leaver_stands_alone(tmp_path: Path) -> None:
    base = execute(tmp_path / "a", TC, [RunSpec("cooperative", 2, 2)], FAST)
    never = execute(tmp_path / "b", TC, [RunSpec("cooperative", 2, 2, point="never",
                                                 overrides=(("behaviours.CHP", "leave:w=2,g=-inf,c=1"),))], FAST)
    cols = [c for c in base.columns if c not in ("run", "point")]
    pd.testing.assert_frame_equal(base[cols].reset_index(drop=True), never[cols].reset_index(drop=True))
    gone = execute(tmp_path / "c", TC, [RunSpec("cooperative", 2, 2, point="gone",
                                                overrides=(("behaviours.CHP", "leave:w=1,g=1e9,c=1"),))], FAST)
    rec = pd.concat(pd.read_parquet(p) for p in sorted((tmp_path / "c" / "agents").rglob("*.parquet")))
    joined = rec[(rec.agent_id == "CHP") & (rec.variable == "joined")].set_index("day")["value"]
    assert list(joined) == [1.0, 0.0]  # leaves after day 1 (its gain is below 1e9)
    day2 = rec[rec.day == 2].pivot_table(index="agent_id", columns="variable", values="value")
    assert day2.loc["CHP", "payment"] == 0 and day2.loc["CHP", "exchanged_in_kwh"] == 0
    assert day2.loc["CHP", "exchanged_out_kwh"] == 0
    assert day2.loc["CHP", "own_cost"] == pytest.approx(day2.loc["CHP", "standalone_cost"], rel=COUPLING)
    assert day2.loc["PV", "payment"] + day2.loc["WT", "payment"] == pytest.approx(0.0, abs=1e-6)  # NB-2 of the two
    assert gone["coalition_formed"].iloc[1] == 1.0


def test_a_learners_memory_survives_resume(tmp_path: Path) -> None:
    run = RunSpec("cooperative", 4, 2, point="learn", overrides=(("behaviours.PV", "learn:eta=0.5,gamma=0.2"),))
    whole = execute(tmp_path / "whole", TC, [run], FAST)
    part = RunSpec(run.mode, run.seed, 1, point=run.point, overrides=run.overrides)
    execute(tmp_path / "cut", TC, [part], FAST)
    resumed = execute(tmp_path / "cut", TC, [run], FAST, resume=True)
    pd.testing.assert_frame_equal(whole.reset_index(drop=True), resumed.reset_index(drop=True))
    state = (tmp_path / "whole" / "state" / "day=001" / f"{run.name}.json").read_text("utf-8")
    assert '"behaviours"' in state and "log_weights" in state
    recs = [pd.concat(pd.read_parquet(p) for p in sorted((tmp_path / d / "agents").rglob("*.parquet")))
            for d in ("whole", "cut")]
    arms = [r[(r.agent_id == "PV") & (r.variable == "param_m")].sort_values("day")["value"].to_numpy() for r in recs]
    assert np.array_equal(arms[0], arms[1]) and len(arms[0]) == 2 and set(arms[0]) <= {-0.3, -0.1, 0.0, 0.1}


def test_forecast_sigma_one_bias_zero_equals_truthful() -> None:
    k0, _ = day(mode="noncooperative")
    k1, r1 = day((("behaviours.PV", "forecast:b=0,sigma=1"),), mode="noncooperative")
    assert numeric(k1) == numeric(k0) and r1.loc["PV", "param_sigma"] == 1.0
    k2, _ = day((("behaviours.PV", "forecast:b=0.3,sigma=1"),), mode="noncooperative")
    assert k2["plan_objective"] != k0["plan_objective"]  # planning on an optimistic forecast changes the plan
    assert k2["renewable_available_kwh"] == k0["renewable_available_kwh"]  # the realised day is everyone's


@pytest.mark.parametrize(("edits", "mode", "replay", "message"), [
    ((("behaviours.PV", "risk:beta=0.5"),), "cooperative", "oracle", "one system-wide risk term"),
    ((("behaviours.PV", "misreport:-0.1"),), "centralized", "oracle", "has no bargaining"),
    ((("behaviours.CHP", "forecast:0.1"),), "cooperative", "oracle", "has neither"),
    ((("behaviours.PV", "forecast:0.1"),), "oracle", "oracle", "plans on the realised day"),
    ((("market.audit", True),), "cooperative", "mpc", "oracle replay"),
])
def test_a_behaviour_with_nothing_to_act_on_is_refused(edits: tuple[tuple[str, Any], ...], mode: str, replay: str,
                                                         message: str) -> None:
    settings = SimSettings(scenario="three_campus", n_mc=60, n_scenarios=2, replay=replay)
    with pytest.raises(ValueError, match=message):
        day(edits, mode=mode, settings=settings)


def test_a_command_with_a_refused_run_stops_before_anything_runs(tmp_path: Path) -> None:
    runs = [RunSpec("cooperative", 0, 1), RunSpec("centralized", 0, 1, point="lie",
                                                  overrides=(("behaviours.PV", "misreport:-0.1"),))]
    with pytest.raises(ValueError, match="has no bargaining"):
        execute(tmp_path / "out", TC, runs, FAST)
    assert not (tmp_path / "out" / "kpis.csv").exists()

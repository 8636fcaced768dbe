"""Behaviours on the IEEE-33 system (SPEC §8): truthful changes nothing, B-1 for misreport, verify_standalone, the
withhold f = 1 closed form, leave with g = −∞, coalitions of any subset, the audit, memories across --resume."""

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
from sim.engine.run import execute, load_scenario
from sim.engine.spec import RunSpec, SimSettings
from sim.systems import SYSTEMS
from sim.systems.ieee33.day import simulate_day

ROOT = Path(__file__).resolve().parents[4]
FAST = SimSettings(n_mc=50)
IEEE33 = SYSTEMS["ieee33"]
CLUSTERS = ("C1", "C2", "C3")


def day(edits: tuple[tuple[str, Any], ...] = (), seed: int = 3, mode: str = "cooperative",
        settings: SimSettings = FAST) -> tuple[dict[str, Any], pd.DataFrame]:
    """One simulated day (kpis, per-agent records as agent x variable)."""
    sc = load_scenario(IEEE33, "ieee33", edits)
    o = simulate_day(sc, RunSpec(mode, seed, 1), settings, 0)
    return o.kpis, o.agents.pivot_table(index="agent_id", columns="variable", values="value", aggfunc="first")


@pytest.fixture(scope="module")
def truthful() -> tuple[dict[str, Any], pd.DataFrame]:
    return day((("market.audit", True),))


def numeric(k: dict[str, Any]) -> dict[str, float | None]:
    """The numeric KPIs (NaN as None, so that equal rows compare equal)."""
    return {c: None if math.isnan(float(v)) else float(v) for c, v in k.items()
            if isinstance(v, int | float) and c not in ("seed",)}


def test_a_table_of_truthful_behaviours_reproduces_kpis_csv_byte_for_byte(tmp_path: Path) -> None:
    folder = tmp_path / "ieee33"
    shutil.copytree(ROOT / "scenarios" / "ieee33", folder, ignore=shutil.ignore_patterns("__pycache__"))
    toml = folder / "scenario.toml"
    toml.write_text(toml.read_text("utf-8") + '\n[behaviours]\nClusterAgent = "truthful"\nC2 = "truthful"\n'
                    'TransformerArea = "truthful"\nEVAgent = {id = "truthful"}\n', "utf-8")
    execute(tmp_path / "plain", IEEE33, [RunSpec("cooperative", 5, 2)], SimSettings(n_mc=50))
    execute(tmp_path / "table", IEEE33, [RunSpec("cooperative", 5, 2)], SimSettings(scenario=str(folder), n_mc=50))
    assert filecmp.cmp(tmp_path / "plain" / "kpis.csv", tmp_path / "table" / "kpis.csv", shallow=False)
    rec = pd.read_parquet(next((tmp_path / "table" / "agents").rglob("*.parquet")))
    assert set(rec["behaviour"]) == {"truthful"}


def test_misreport_moves_the_liars_true_cost_by_b1(truthful: tuple[dict[str, Any], pd.DataFrame]) -> None:
    """B-1: C^fin_n = C^0_n − w_n S + (1 − w_n) m |C^0_n| for the liar; the others get C^0_j − w_j (S + m |C^0_n|)."""
    k0, r0 = truthful
    m = -0.05
    k1, r1 = day((("behaviours.C2", f"misreport:{m}"),))
    s = math.fsum(r0.loc[c, "gain"] for c in CLUSTERS)
    c0 = {c: r0.loc[c, "standalone_cost"] for c in CLUSTERS}
    w = {c: k0[f"weight_{c}"] for c in CLUSTERS}
    assert r1.loc["C2", "standalone_cost"] == pytest.approx(c0["C2"], rel=1e-12)  # the truth is unchanged
    assert r1.loc["C2", "reported_standalone_cost"] == pytest.approx(c0["C2"] + m * abs(c0["C2"]), rel=1e-12)
    lie = m * abs(c0["C2"])
    assert r1.loc["C2", "final_cost"] == pytest.approx(c0["C2"] - w["C2"] * s + (1 - w["C2"]) * lie, abs=1e-6)
    for c in ("C1", "C3"):
        assert r1.loc[c, "final_cost"] == pytest.approx(c0[c] - w[c] * (s + lie), abs=1e-6)
    assert k1["total_cost"] == pytest.approx(k0["total_cost"], rel=1e-12)  # a transfer: the system cost is the same
    assert r1.loc["C2", "gain"] > r0.loc["C2", "gain"]  # the lie pays
    assert k1["gain_C2"] == pytest.approx(r1.loc["C2", "gain"], abs=1e-9)  # kpis report true gains


def test_verify_standalone_makes_misreport_change_nothing(truthful: tuple[dict[str, Any], pd.DataFrame]) -> None:
    k0, _ = day()
    k1, r1 = day((("behaviours.C2", "misreport:-0.3"), ("market.verify_standalone", True)))
    assert numeric(k1) == numeric(k0)
    assert r1.loc["C2", "reported_standalone_cost"] == r1.loc["C2", "standalone_cost"]


def test_an_overstated_surplus_claim_beyond_s_rejects_the_coalition(truthful: tuple[dict[str, Any], pd.DataFrame]
                                                                    ) -> None:
    """B-1's bound: a lie with Ŝ = S + m |C^0_n| < 0 makes NB-2 reject the coalition; everyone gets C^0."""
    _, r0 = truthful
    s = math.fsum(r0.loc[c, "gain"] for c in CLUSTERS)
    m = -min(0.5, 2 * s / abs(r0.loc["C1", "standalone_cost"]))
    assert s + m * abs(r0.loc["C1", "standalone_cost"]) < 0
    k1, r1 = day((("behaviours.C1", f"misreport:{m}"),))
    for c in CLUSTERS:
        assert r1.loc[c, "gain"] == pytest.approx(0.0, abs=1e-9) and r1.loc[c, "payment"] == 0.0
        # kpis.csv reports the true outcome too: the standalone plan's cost, no gain (not the reported C^0)
        assert k1[f"final_cost_{c}"] == pytest.approx(r1.loc[c, "standalone_cost"], rel=1e-12)
        assert k1[f"gain_{c}"] == pytest.approx(0.0, abs=1e-9)


def test_withhold_everything_equals_the_others_coalition_plus_the_agent_alone_with_idle_storage(
        truthful: tuple[dict[str, Any], pd.DataFrame]) -> None:
    """withhold f = 1: v = v({C2, C3}) + C1 alone with an idle storage: its exchange is 0, its storage idle, and the
    others' costs are their coalition's optimum (from the audited truthful day, same prices and loads)."""
    _, r0 = truthful
    k1, r1 = day((("behaviours.C1", "withhold:1"),))
    assert r1.loc["C1", "exchange_in_kwh"] == 0 and r1.loc["C1", "exchange_out_kwh"] == 0
    assert r1.loc["C1", "offered_storage_kw"] == 0 and r1.loc["C1", "offered_exchange_kw"] == 0
    keep = (1 - 0.001 * 0.25) ** 96
    assert r1.loc["C1", "storage_end_kwh"] == pytest.approx(r1.loc["C1", "storage_start_kwh"] * keep, rel=1e-9)
    v23 = r0.loc["market", "coalition_value[C2+C3]"]
    assert r1.loc["C2", "own_cost"] + r1.loc["C3", "own_cost"] == pytest.approx(v23, rel=1e-6)
    k_half, r_half = day((("behaviours.C1", "withhold:0.5"),))
    assert r_half.loc["C1", "offered_storage_kw"] == pytest.approx(0.5 * r_half.loc["C1", "available_storage_kw"])
    # less flexibility offered cannot make the coalition cheaper
    assert k0_total(truthful) <= k_half["total_cost"] + 1e-6 <= k1["total_cost"] + 1e-6


def k0_total(t: tuple[dict[str, Any], pd.DataFrame]) -> float:
    return float(t[0]["total_cost"])


def test_the_audit_values_every_coalition_on_the_persistent_model(truthful: tuple[dict[str, Any], pd.DataFrame]
                                                                  ) -> None:
    """v(N) is the executed coalition's cost; v(T) ≤ Σ_{i∈T} C^0_i (superadditive against standing alone);
    v(N) ≤ v(T) + Σ_{i∉T} C^0_i; the Shapley value is efficient; NB-2 gains sum to the same surplus."""
    _, r = truthful
    c0 = {c: r.loc[c, "standalone_cost"] for c in CLUSTERS}
    v = {frozenset(key[len("coalition_value["):-1].split("+")): val
         for key, val in r.loc["market"].items() if key.startswith("coalition_value[") and not math.isnan(val)}
    assert len(v) == 4  # three pairs and the grand coalition
    n = frozenset(CLUSTERS)
    assert v[n] == pytest.approx(math.fsum(r.loc[c, "own_cost"] for c in CLUSTERS), rel=1e-9)
    for t, val in v.items():
        assert val <= math.fsum(c0[i] for i in t) + 1e-6
        assert v[n] <= val + math.fsum(c0[i] for i in n - t) + 1e-6
    phi = shapley_values(list(CLUSTERS), c0, v)
    assert math.fsum(phi.values()) == pytest.approx(math.fsum(r.loc[c, "gain"] for c in CLUSTERS), rel=1e-9)
    assert all(r.loc[c, "shapley_gain"] == pytest.approx(phi[c], rel=1e-9) for c in CLUSTERS)
    assert r.loc["market", "core_max_excess"] == pytest.approx(
        max(r.loc["market", f"coalition_excess[{'+'.join(sorted(t))}]"] for t in v if t != n), abs=1e-9)


def test_leave_with_minus_infinity_is_truthful_and_a_leaver_stands_alone(tmp_path: Path) -> None:
    base = execute(tmp_path / "a", IEEE33, [RunSpec("cooperative", 2, 3)], FAST)
    never = execute(tmp_path / "b", IEEE33, [RunSpec("cooperative", 2, 3, point="never",
                                              overrides=(("behaviours.C3", "leave:w=2,g=-inf,c=1"),))], FAST)
    cols = [c for c in base.columns if c not in ("run", "point")]
    pd.testing.assert_frame_equal(base[cols].reset_index(drop=True), never[cols].reset_index(drop=True))
    gone = execute(tmp_path / "c", IEEE33, [RunSpec("cooperative", 2, 3, point="gone",
                                             overrides=(("behaviours.C3", "leave:w=1,g=1e9,c=1"),))], FAST)
    rec = pd.concat(pd.read_parquet(p) for p in sorted((tmp_path / "c" / "agents").rglob("*.parquet")))
    joined = rec[(rec.agent_id == "C3") & (rec.variable == "joined")].set_index("day")["value"]
    assert list(joined) == [1.0, 0.0, 1.0]  # leaves after day 1, out for c = 1 day
    day2 = rec[rec.day == 2].pivot_table(index="agent_id", columns="variable", values="value")
    assert day2.loc["C3", "payment"] == 0 and day2.loc["C3", "exchange_in_kwh"] == 0
    assert day2.loc["C3", "own_cost"] == pytest.approx(day2.loc["C3", "standalone_cost"], rel=1e-9)
    assert gone["total_cost"].iloc[1] >= base["total_cost"].iloc[1] - 1e-6


def test_a_learners_memory_survives_resume(tmp_path: Path) -> None:
    run = RunSpec("cooperative", 4, 3, point="learn", overrides=(("behaviours.C1", "learn:eta=0.5,gamma=0.2"),))
    whole = execute(tmp_path / "whole", IEEE33, [run], FAST)
    part = RunSpec(run.mode, run.seed, 2, point=run.point, overrides=run.overrides)
    execute(tmp_path / "cut", IEEE33, [part], FAST)
    resumed = execute(tmp_path / "cut", IEEE33, [run], FAST, resume=True)
    pd.testing.assert_frame_equal(whole.reset_index(drop=True), resumed.reset_index(drop=True))
    state = (tmp_path / "whole" / "state" / "day=002" / f"{run.name}.json").read_text("utf-8")
    assert '"behaviours"' in state and "log_weights" in state
    recs = [pd.concat(pd.read_parquet(p) for p in sorted((tmp_path / d / "agents").rglob("*.parquet")))
            for d in ("whole", "cut")]
    arms = [r[(r.agent_id == "C1") & (r.variable == "param_m")].sort_values("day")["value"].to_numpy() for r in recs]
    assert np.array_equal(arms[0], arms[1]) and set(arms[0]) <= {-0.3, -0.1, 0.0, 0.1}


def test_forecast_sigma_one_bias_zero_equals_truthful_under_mpc() -> None:
    mpc = SimSettings(n_mc=50, replay="mpc")
    k0, _ = day(seed=1, settings=mpc)
    k1, r1 = day((("behaviours.C2", "forecast:b=0,sigma=1"),), seed=1, settings=mpc)
    assert numeric(k1) == numeric(k0) and r1.loc["C2", "param_sigma"] == 1.0
    k2, _ = day((("behaviours.C2", "forecast:b=0.3,sigma=1"),), seed=1, settings=mpc)
    assert k2["total_cost"] != k0["total_cost"]  # planning on an optimistic forecast changes the executed day


def test_rule_agents_ignore_prices() -> None:
    """Rule-based TAs draw their DA base load and rule-based EVs charge from arrival at full power without V2G,
    whatever the intraday price: in the cooperative mode (rolling prices) exactly as in the centralized one (DA
    prices); a rule-based cluster's storage plan costs its coalition at least the optimised one."""
    edits = (("behaviours.TransformerArea", "rule"), ("behaviours.EV19", "rule"))
    _, coop = day(edits)
    _, cent = day(edits, mode="centralized")
    tas = [a for a in coop.index if a.startswith("TA")]
    np.testing.assert_allclose(coop.loc[tas, "load_served_kwh"], cent.loc[tas, "load_served_kwh"], rtol=1e-12)
    assert coop.loc["EV19", "charge_kwh"] == pytest.approx(cent.loc["EV19", "charge_kwh"], rel=1e-12)
    assert coop.loc["EV19", "discharge_kwh"] == 0.0 and coop.loc["EV19", "charge_kwh"] > 0
    k0, _ = day()
    k1, r1 = day((("behaviours.C2", "rule"),))
    assert k1["total_cost"] >= k0["total_cost"] - 1e-6
    assert r1.loc["C2", "gain"] >= -1e-6  # it still bargains, on its rule-bound plans


@pytest.mark.parametrize(("edits", "mode", "replay", "message"), [
    ((("behaviours.C1", "misreport:-0.1"),), "centralized", "oracle", "has no bargaining"),
    ((("behaviours.C1", "forecast:0.1"),), "cooperative", "oracle", "only the mpc replay has"),
    ((("behaviours.TA5", "rule"),), "oracle", "oracle", "optimises every agent jointly"),
    ((("behaviours.C1", "rule"),), "cooperative", "mpc", "is not implemented for it"),
    ((("market.audit", True),), "cooperative", "mpc", "oracle replay"),
])
def test_a_behaviour_with_nothing_to_act_on_is_refused(edits: tuple[tuple[str, Any], ...], mode: str, replay: str,
                                                         message: str) -> None:
    with pytest.raises(ValueError, match=message):
        day(edits, mode=mode, settings=SimSettings(n_mc=50, replay=replay))


def test_a_command_with_a_run_that_cannot_honour_its_behaviours_stops_before_anything_runs(tmp_path: Path) -> None:
    runs = [RunSpec(m, 1, 1, point="lie", overrides=(("behaviours.C1", "misreport:-0.1"),))
            for m in ("cooperative", "centralized")]
    with pytest.raises(ValueError, match="mode centralized has no bargaining"):
        execute(tmp_path / "out", IEEE33, runs, FAST)
    assert not (tmp_path / "out").exists()

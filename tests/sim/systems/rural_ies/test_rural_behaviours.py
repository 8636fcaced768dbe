"""Behaviours on the rural campus (SPEC §8; sim/systems/rural_ies/behaviours.py): ``risk`` sets the CDRO λ (or the
CVaR β) of the campus's DA decision (λ = the scenario's is the truthful day; λ orders H and W as SPEC §6.4 says;
β = 0 is the SO plan), ``forecast`` the PV forecast it plans on (σ = 1, b = 0 is truthful), and every behaviour with
nothing to act on is refused."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from sim.engine.model import SimulationModel
from sim.engine.run import execute, load_scenario
from sim.engine.spec import RunSpec, SimSettings
from sim.engine.system import DayOutcome
from sim.systems import SYSTEMS

RURAL = SYSTEMS["rural_ies"]
FAST = SimSettings(scenario="rural_ies", n_mc=30, n_scenarios=2)
#: ten reference samples keep the C&CG cheap (the scenario's 50 take ~4 s a day)
SMALL = (("uncertainty.K", 10),)


def day(edits: tuple[tuple[str, Any], ...] = (), mode: str = "cooperative") -> DayOutcome:
    sc = load_scenario(RURAL, "rural_ies", SMALL + edits)
    out: list[DayOutcome] = []
    SimulationModel(RURAL, sc, RunSpec(mode, 0, 1), FAST, on_day=lambda d, o: out.append(o)).run_to_end()
    return out[0]


def numeric(k: dict[str, Any]) -> dict[str, float | None]:
    return {c: None if math.isnan(float(v)) else float(v) for c, v in k.items() if isinstance(v, int | float)}


def test_risk_lambda_sets_the_cdro_lambda_and_the_scenarios_lambda_is_truthful() -> None:
    base = day()
    same = day((("behaviours.rural_ies", "risk:lam=0.2"),))  # the scenario's lambda
    assert numeric(same.kpis) == numeric(base.kpis)
    rec = same.agents.set_index("variable")
    assert rec.loc["param_lam", "value"] == 0.2 and set(same.agents["behaviour"]) == {"risk"}
    dro = day((("behaviours.RuralCampusAgent", "risk:lam=1"),)).kpis  # by type: lambda = 1 is DRO
    so = day((("behaviours.RuralCampusAgent", "risk:lam=0"),)).kpis  # lambda = 0: the most robust SO plan
    # SPEC §6.4: H(SO) <= H(CDRO) <= H(DRO) and W(DRO) <= W(CDRO) <= W(SO), and lambda = 1 moves the plan
    h = [k["plan_historical_cost"] for k in (so, base.kpis, dro)]
    w = [k["plan_worst_cost"] for k in (so, base.kpis, dro)]
    assert h[0] <= h[1] + 1e-6 <= h[2] + 2e-6 and w[2] <= w[1] + 1e-6 <= w[0] + 2e-6
    assert dro["total_cost"] != base.kpis["total_cost"]


def test_risk_beta_zero_is_the_risk_neutral_plan() -> None:
    """SPEC §8's check for risk: CVaR at level β → 0 is the expectation, so a CVaR campus whose behaviour sets β = 0
    makes the SO (risk-neutral) plan: the same expected and worst reference cost (the two plans may be different
    optimal vertices, so the realised day may differ in the last digits); a high β moves the plan."""
    so = day((("uncertainty.method", "so"),)).kpis
    neutral = day((("uncertainty.method", "cvar"), ("behaviours.rural_ies", "risk:beta=0"))).kpis
    averse = day((("uncertainty.method", "cvar"), ("behaviours.rural_ies", "risk:beta=0.9"))).kpis
    for k in ("plan_historical_cost", "plan_worst_cost"):
        assert neutral[k] == pytest.approx(so[k], rel=1e-9)
    assert averse["plan_historical_cost"] > so["plan_historical_cost"] + 1e-3  # it pays for a better tail


def test_forecast_sigma_one_bias_zero_is_truthful_and_a_bias_moves_the_plan() -> None:
    base = day().kpis
    assert numeric(day((("behaviours.rural_ies", "forecast:b=0,sigma=1"),)).kpis) == numeric(base)
    sunny = day((("behaviours.rural_ies", "forecast:b=0.2,sigma=1"),)).kpis  # plans on 20 % of capacity more PV
    assert sunny["plan_historical_cost"] != base["plan_historical_cost"]


@pytest.mark.parametrize(("edits", "mode", "message"), [
    ((("behaviours.rural_ies", "misreport:-0.1"),), "cooperative", "does not apply to rural_ies"),
    ((("behaviours.rural_ies", "forecast:0.1"),), "oracle", "decides knowing the realised day"),
    ((("behaviours.rural_ies", "risk:beta=0.5"),), "cooperative", "not a parameter of the campus's DA method"),
    ((("behaviours.rural_ies", "risk:weight=2"),), "cooperative", "not a parameter of the campus's DA method"),
    ((("behaviours.rural_ies", "risk:lam=0.5"),), "oracle", "decides knowing the realised day"),
    ((("behaviours.nobody", "risk:lam=0.5"),), "cooperative", "names no agent or agent type"),
])
def test_a_behaviour_with_nothing_to_act_on_is_refused(edits: tuple[tuple[str, Any], ...], mode: str,
                                                         message: str) -> None:
    with pytest.raises(ValueError, match=message):
        day(edits, mode=mode)


def test_a_command_with_a_refused_run_stops_before_anything_runs(tmp_path: Path) -> None:
    runs = [RunSpec("cooperative", 0, 1, overrides=SMALL),
            RunSpec("oracle", 0, 1, point="risky", overrides=(*SMALL, ("behaviours.rural_ies", "risk:lam=0.5")))]
    with pytest.raises(ValueError, match="decides knowing the realised day"):
        execute(tmp_path / "out", RURAL, runs, FAST)
    assert not (tmp_path / "out" / "kpis.csv").exists()

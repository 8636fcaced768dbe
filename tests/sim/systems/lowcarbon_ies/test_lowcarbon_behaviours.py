"""SPEC §8 on the low-carbon campus: only ``forecast`` acts (one campus, no bargaining); σ = 1, b = 0 is truthful."""

from __future__ import annotations

import math
from typing import Any

import pytest

from sim.engine.model import SimulationModel
from sim.engine.run import load_scenario
from sim.engine.spec import RunSpec, SimSettings
from sim.engine.system import DayOutcome
from sim.systems import SYSTEMS

SYSTEM = SYSTEMS["lowcarbon_ies"]


def one_day(edits: tuple[tuple[str, Any], ...] = (), mode: str = "cooperative", replay: str = "oracle") -> DayOutcome:
    settings = SimSettings(scenario="lowcarbon_ies", replay=replay, n_mc=20)
    sc = SYSTEM.prepare(load_scenario(SYSTEM, "lowcarbon_ies", edits), settings)
    outs: list[DayOutcome] = []
    SimulationModel(SYSTEM, sc, RunSpec(mode, 1, 1), settings, on_day=lambda d, o: outs.append(o)).run_to_end()
    return outs[0]


def numeric(k: dict[str, Any]) -> dict[str, float | None]:
    return {c: None if math.isnan(float(v)) else float(v) for c, v in k.items() if isinstance(v, int | float)}


def test_forecast_sigma_one_bias_zero_is_truthful_and_a_bias_moves_the_plan() -> None:
    base = one_day()
    same = one_day((("behaviours.campus", "forecast:b=0,sigma=1"),))
    assert numeric(same.kpis) == numeric(base.kpis)
    rec = same.agents.set_index("variable")
    assert set(same.agents["behaviour"]) == {"forecast"} and rec.loc["param_sigma", "value"] == 1.0
    low = one_day((("behaviours.LowCarbonCampusAgent", "forecast:b=-0.3,sigma=1"),))
    assert low.kpis["total_cost"] != base.kpis["total_cost"]  # a pessimistic wind forecast commits more units


@pytest.mark.parametrize(("edits", "mode", "message"), [
    ((("behaviours.campus", "misreport:-0.1"),), "cooperative", r"does not apply to campus \(a lowcarbon_campus\)"),
    ((("behaviours.campus", "forecast:0.1"),), "oracle", "plans on the realised day"),
    ((("behaviours.campus", "forecast:0.1"), ("simulation.method", "robust")), "cooperative", "plans on the wind set"),
])
def test_behaviours_with_nothing_to_act_on_are_refused(edits: tuple[tuple[str, Any], ...], mode: str,
                                                       message: str) -> None:
    with pytest.raises(ValueError, match=message):
        one_day(edits, mode=mode)

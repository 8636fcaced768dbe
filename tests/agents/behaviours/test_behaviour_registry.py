"""Agent behaviours (SPEC §8): registry and scenario syntax, each behaviour's closed-form check, memories."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agents.behaviours import BEHAVIOURS, BehaviourError, DayFeedback, agent_rng, assign, make, parse_spec
from agents.behaviours.learn import Learn, exp3_probabilities
from agents.behaviours.leave import Leave
from agents.devices.core import RT_HORIZON
from agents.devices.storage import BatteryParams, offered_battery

AGENTS = {"C1": "cluster", "C2": "cluster", "TA16": "transformer_area", "EV13": "ev"}
TYPES = {"ClusterAgent": "cluster", "TransformerArea": "transformer_area", "EVAgent": "ev"}


def test_the_registry_holds_the_eight_behaviours_of_spec_8() -> None:
    assert list(BEHAVIOURS) == ["truthful", "misreport", "withhold", "rule", "forecast", "risk", "leave", "learn"]
    assert make().id == "truthful" and make().label() == "truthful"


@pytest.mark.parametrize(("text", "values"), [
    ("misreport:-0.1", {"m": -0.1}),
    ("misreport:m=0.25", {"m": 0.25}),
    ("leave:7,-inf,2", {"w": 7, "g": -math.inf, "c": 2}),
    ("learn:over=withhold,grid=[0, 0.5, 1],eta=0.2", {"over": "withhold", "grid": [0, 0.5, 1], "eta": 0.2}),
    ({"id": "forecast", "b": 0.1, "sigma": 1.5}, {"b": 0.1, "sigma": 1.5}),
])
def test_scenario_syntax(text: object, values: dict[str, object]) -> None:
    spec = parse_spec(text)
    assert dict(spec.values) == values
    assert parse_spec(spec.text()).values == spec.values  # the text form reads back to the same spec


@pytest.mark.parametrize(("text", "message"), [
    ("misreport:0.7", "parameter m must be a number in [-0.5, 0.5], got 0.7"),
    ("bluff:0.1", "unknown behaviour 'bluff'"),
    ("misreport:0.1,0.2", "takes 1 parameters (m)"),
    ("withhold", "parameter f is required"),
    ("learn:grid=[0.9]", "parameter m must be a number in [-0.5, 0.5], got 0.9"),
    ("learn:grid=[0.1, 0.1]", "repeats values"),
    ("leave:c=0", "parameter c must be a whole number in [1, 365] days"),
    ("risk", "set at least one of beta, weight, lam"),
    ({"m": 0.1}, "needs id ="),
])
def test_bad_behaviours_are_refused_naming_parameter_and_range(text: object, message: str) -> None:
    with pytest.raises(BehaviourError, match=None) as e:
        parse_spec(text, "scenario.toml [behaviours] C1")
    assert "scenario.toml [behaviours] C1" in str(e.value) and message in str(e.value)


def test_assign_by_name_beats_type_and_checks_the_kind() -> None:
    table = {"ClusterAgent": parse_spec("misreport:-0.1"), "C2": parse_spec("withhold:0.5")}
    got = assign(table, AGENTS, TYPES)
    assert got["C1"].id == "misreport" and got["C2"].id == "withhold"
    assert got["TA16"].id == "truthful" and got["EV13"].id == "truthful"
    with pytest.raises(BehaviourError, match="names no agent or agent type"):
        assign({"C9": parse_spec("truthful")}, AGENTS, TYPES)
    with pytest.raises(BehaviourError, match="does not apply to TA16"):
        assign({"TA16": parse_spec("misreport:0.1")}, AGENTS, TYPES)


def test_misreport_reports_c0_plus_m_abs_c0() -> None:
    b = make("misreport:-0.2")
    assert b.report_standalone_cost(1000.0) == pytest.approx(800.0, abs=1e-12)
    assert b.report_standalone_cost(-500.0) == pytest.approx(-600.0, abs=1e-12)  # |C0|: a negative cost moves down too
    assert make().report_standalone_cost(1234.5) == 1234.5


def test_forecast_sigma_one_bias_zero_is_the_common_forecast_exactly() -> None:
    rng = np.random.default_rng(1)
    common, real = rng.uniform(0, 500, 96), rng.uniform(0, 500, 96)
    assert make("forecast:b=0,sigma=1").forecast(common, real, 500.0) is common
    f = make("forecast:b=0.1,sigma=0").forecast(common, real, 500.0)  # σ = 0: the realised day plus the bias
    assert np.allclose(f, np.clip(real + 50.0, 0, 500))
    f2 = make("forecast:sigma=2").forecast(common, real, 500.0)
    assert np.allclose(f2, np.clip(real + 2 * (common - real), 0, 500))


def test_withhold_offers_one_minus_f_and_the_idle_storage_is_feasible() -> None:
    assert make("withhold:0.25").offered_share() == pytest.approx(0.75)
    e = BatteryParams(1000, 250, 250, 0.1, 0.9, 0.3, 0.95, 0.95, 0.001, soc_end_min_frac=0.5, soc_end_max_frac=0.9)
    assert offered_battery(e, 1.0, RT_HORIZON) is e
    idle = offered_battery(e, 0.0, RT_HORIZON)
    end = 0.3 * (1 - 0.001 * 0.25) ** 96  # the idle battery only self-discharges
    assert idle.p_charge_max_kw == 0 and idle.p_discharge_max_kw == 0
    assert idle.soc_end_min_frac == pytest.approx(end) and idle.soc_end_max_frac == pytest.approx(end)
    assert idle.soc_min_frac <= end <= 0.3 <= idle.soc_max_frac
    half = offered_battery(e, 0.5, RT_HORIZON)
    # half the full battery's plan on top of the idle half is a plan of the offered one: its windows are the average
    assert half.p_charge_max_kw == 125 and half.soc_end_min_frac == pytest.approx(0.5 * 0.5 + 0.5 * end)
    assert half.soc_max_frac == pytest.approx(0.5 * 0.9 + 0.5 * 0.3)


def _day(day: int, gain: float, joined: bool = True, surplus: float = 100.0) -> DayFeedback:
    return DayFeedback(day, joined, 1000.0, 1000.0 - gain, surplus if joined else 0.0)


def test_leave_with_minus_infinity_never_leaves() -> None:
    b = make("leave:w=3,g=-inf,c=2")
    for d in range(1, 30):
        assert b.joins(d)
        b.end_day(_day(d, -1e9))


def test_leave_stays_out_c_days_then_rejoins_with_a_fresh_history() -> None:
    b = make("leave:w=2,g=10,c=3")
    assert isinstance(b, Leave)
    assert b.joins(1)
    b.end_day(_day(1, 50.0))
    assert b.joins(2)
    b.end_day(_day(2, -40.0))  # mean of days 1-2 = 5 < 10
    assert not b.joins(3) and b.left_today
    for d in (4, 5):
        assert not b.joins(d)
        b.end_day(_day(d, 0.0, joined=False))
    assert b.joins(6)  # rejoins after c = 3 days; the poor days before leaving are forgotten
    m = b.memory()
    c = make("leave:w=2,g=10,c=3")
    c.restore(m)
    assert c.memory() == m


def test_learn_concentrates_on_the_best_arm_of_stationary_days() -> None:
    """EXP3 on stationary synthetic days: arm rewards 0.2, 0.5, 0.9, 0.4 (± noise); the weights end on arm 2."""
    b = make("learn:grid=[-0.3, -0.1, 0, 0.1],eta=0.05,gamma=0.05")
    assert isinstance(b, Learn)
    mean = [0.2, 0.5, 0.9, 0.4]
    noise = np.random.default_rng(5)
    picks = []
    for d in range(1, 801):
        b.begin_day(d, agent_rng(3, "C1", d))
        picks.append(b.arm)
        r = float(np.clip(mean[b.arm] + 0.1 * noise.standard_normal(), 0, 1))
        b.end_day(_day(d, 100.0 * r))
    p = exp3_probabilities(b.log_weights, 0.05)
    assert int(np.argmax(p)) == 2 and p[2] > 0.85
    assert picks[-200:].count(2) > 150
    assert b.chosen == 0.0 and b.report_standalone_cost(500.0) == 500.0  # arm 2 is m = 0: it reports the truth


def test_learn_memory_round_trip_and_draws_depend_only_on_seed_stream_and_weights() -> None:
    a, b = make("learn"), make("learn")
    for d in range(1, 6):
        a.begin_day(d, agent_rng(0, "C1", d))
        a.end_day(_day(d, 30.0 * d))
    b.restore(a.memory())
    a.begin_day(6, agent_rng(0, "C1", 6))
    b.begin_day(6, agent_rng(0, "C1", 6))
    assert a.arm == b.arm and np.array_equal(a.probabilities, b.probabilities)
    with pytest.raises(BehaviourError, match="arms"):
        make("learn:grid=[0, 0.1]").restore(a.memory())


def test_agent_streams_are_independent_of_order_and_reproducible() -> None:
    x = agent_rng(7, "C1", 3).random(4)
    assert np.array_equal(x, agent_rng(7, "C1", 3).random(4))
    assert not np.array_equal(x, agent_rng(7, "C2", 3).random(4))
    assert not np.array_equal(x, agent_rng(7, "C1", 4).random(4))


def test_truthful_keeps_no_memory_and_refuses_one() -> None:
    with pytest.raises(BehaviourError, match="keeps no memory"):
        make().restore({"gains": []})


def test_sweep_and_simulate_read_behaviour_values_with_their_own_commas() -> None:
    """``--set behaviours.C1=truthful,misreport:-0.1,leave:w=1,g=400,c=1`` is three sweep points; simulate's
    ``--set`` takes the whole text as one value."""
    import run_sim

    sets = run_sim._parse_sets(["behaviours.C1=truthful,misreport:-0.1,leave:w=1,g=400,c=1",
                                "market.kappa=0,0.5"])
    assert sets == [("behaviours.C1", ["truthful", "misreport:-0.1", "leave:w=1,g=400,c=1"]),
                    ("market.kappa", ["0", "0.5"])]
    assert run_sim._parse_sets(['behaviours.C1={id = "learn", grid = [-0.1, 0.0]},withhold:1']) == [
        ("behaviours.C1", ['{id = "learn", grid = [-0.1, 0.0]}', "withhold:1"])]
    assert run_sim._fixed_edits(["behaviours.C1=leave:w=1,g=400"]) == (("behaviours.C1", "leave:w=1,g=400"),)
    with pytest.raises(ValueError, match="expected PATH=VALUE"):
        run_sim._fixed_edits(["behaviours.C1"])


def test_a_groups_choices_and_memories() -> None:
    """:func:`agents.behaviours.choose` asks each behaviour from its own stream (a leaver in cool-off stays out, a
    withholder offers 1 - f); memories round-trip and a memory of an unknown agent is refused."""
    from agents.behaviours import choose, memories, restore

    leaver = make("leave:w=1,g=10,c=2")
    leaver.end_day(_day(1, 0.0))
    group = {"C1": make(), "C2": make("withhold:0.25"), "C3": leaver}
    members, shares = choose(group, 2, seed=0)
    assert members == {"C1", "C2"} and shares == {"C1": 1.0, "C2": 0.75, "C3": 1.0}
    saved = memories(group)
    assert set(saved) == {"C3"}
    fresh = {"C1": make(), "C2": make("withhold:0.25"), "C3": make("leave:w=1,g=10,c=2")}
    restore(fresh, saved, "test state")
    assert memories(fresh) == saved and not choose(fresh, 3, seed=0)[0] >= {"C3"}  # still cooling off on day 3
    with pytest.raises(ValueError, match=r"test state: behaviour memories of unknown agents \['C9'\]"):
        restore(fresh, {"C9": {}}, "test state")

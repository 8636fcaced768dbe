"""MPC replay (sim/engine/mpc.py; SPEC §6.6 b): receding data, fixing the executed past, IEEE-33 days."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyomo.environ as pyo
import pytest

import run_sim
from agents.devices.core import Horizon
from agents.milp import HighsModel, SolveError
from scenarios.ieee33_loader import load_ieee33_scenario
from scenarios.schema import IEEE33Scenario
from sim.engine.mpc import PastFixer, RecedingLoop, held, period_vars, receding, repair_fixed_rows
from sim.engine.spec import SimSettings
from sim.systems.ieee33.modes import modes_of
from sim.systems.ieee33.schemes import DayData, DistributionModel, SchemeResult, make_day
from studies.p004_ieee33.run import check_balance, network_check


def test_receding_data_and_held_forecast() -> None:
    r, f = np.arange(6.0), np.full(6, -1.0)
    np.testing.assert_array_equal(receding(r, f, 1), [0, -1, -1, -1, -1, -1])
    np.testing.assert_array_equal(receding(r, f, 4), [0, 1, 2, 3, -1, -1])
    np.testing.assert_array_equal(receding(r, f, 6), r)
    np.testing.assert_array_equal(held(np.array([1.0, 2.0]), 4), [1, 1, 2, 2])
    with pytest.raises(ValueError, match=r"step k must be in 1\.\.6"):
        receding(r, f, 0)
    with pytest.raises(ValueError, match="differ in shape"):
        receding(r, f[:5], 2)
    with pytest.raises(ValueError, match="cannot hold 24 hourly values on 90 periods"):
        held(np.ones(24), 90)
    with pytest.raises(ValueError, match="replay must be one of oracle, mpc"):
        SimSettings(replay="rolling")


# ------------------------------------------------------------------------------ a storage toy

H4 = Horizon(4, 1.0)
PRICE = [1.0, 3.0, 2.0, 3.0]


def _storage_model() -> pyo.ConcreteModel:
    """Buy to serve a demand; a 10 kWh store (5 kW) starting and ending at 5 kWh; hourly prices 1, 3, 2, 3."""
    m = pyo.ConcreteModel()
    m.T = pyo.Set(initialize=H4.periods, ordered=True)
    m.H = pyo.Set(initialize=[1, 2], ordered=True)  # another index set: never a period
    m.demand = pyo.Param(m.T, initialize=0.0, mutable=True)
    m.buy = pyo.Var(m.T, bounds=(0, 100))
    m.charge = pyo.Var(m.T, bounds=(-5, 5))
    m.soc = pyo.Var(m.T, bounds=(0, 10))
    m.mode = pyo.Var(m.T, within=pyo.Binary)  # not a decision the fixer executes
    m.pair = pyo.Var(m.H, bounds=(0, None))
    m.total = pyo.Var()
    m.bal = pyo.Constraint(m.T, rule=lambda mm, t: mm.buy[t] == mm.demand[t] + mm.charge[t])
    m.dyn = pyo.Constraint(m.T, rule=lambda mm, t: mm.soc[t] == (5 if t == 1 else mm.soc[t - 1]) + mm.charge[t])
    m.end = pyo.Constraint(expr=m.soc[4] == 5)
    m.pairs = pyo.Constraint(m.H, rule=lambda mm, h: mm.pair[h] >= mm.buy[2 * h] - mm.buy[2 * h - 1])
    m.tot = pyo.Constraint(expr=m.total == sum(PRICE[t - 1] * m.buy[t] for t in m.T))
    m.obj = pyo.Objective(expr=m.total + 1e-3 * sum(m.pair[h] for h in m.H))
    return m


def _mpc(realised: np.ndarray, forecast: np.ndarray) -> tuple[float, np.ndarray, list[np.ndarray], pyo.ConcreteModel]:
    m = _storage_model()
    hm = HighsModel(m, "toy")
    plans: list[np.ndarray] = []

    def solve(k: int) -> float:
        for t, v in zip(H4.periods, receding(realised, forecast, k), strict=True):
            m.demand[t] = float(v)
        hm.update()
        st = hm.solve()
        plans.append(hm.values(m.buy, H4.periods))
        return float(st.objective)

    loop: RecedingLoop[float] = RecedingLoop("toy", H4, solve, lambda: ([m], hm))
    for k in H4.periods:
        loop.step(k)
    assert loop.n_solves == 4 and loop.done
    n_fixed = sum(v.fixed for v in m.component_data_objects(pyo.Var))
    assert n_fixed == 12  # buy, charge, soc of 4 periods: not the binaries, the hourly pairs or the total
    obj = loop.result()
    assert not any(v.fixed for v in m.component_data_objects(pyo.Var))  # released for the next day
    return obj, hm.values(m.buy, H4.periods), plans, m


def test_period_vars_finds_the_per_period_decisions_only() -> None:
    m = _storage_model()
    m.buy[2].fix(0.0)  # already fixed by the model: left alone
    by = period_vars([m], H4)
    assert sorted(by) == [1, 2, 3, 4]
    assert {v.name for v in by[2]} == {"charge[2]", "soc[2]"}
    assert {v.name for v in by[1]} == {"buy[1]", "charge[1]", "soc[1]"}
    fixer = PastFixer([m], H4)
    assert fixer.n_vars == 11


def test_mpc_executes_the_past_and_replans_the_rest() -> None:
    realised = np.array([2.0, 4.0, 2.0, 4.0])
    forecast = np.array([2.0, 0.0, 2.0, 0.0])
    obj, buy, plans, _ = _mpc(realised, forecast)
    # the executed past never changes: period k of every later plan is period k of the plan made at step k
    for k in range(4):
        for later in plans[k:]:
            assert later[k] == pytest.approx(plans[k][k], abs=1e-9)
    # step 1 sees demand only at hours 1 and 3: it buys hour 3's 2 kWh at hour 1 (price 1 < 2) and stores them;
    # step 2 learns of 4 kWh at hour 2 (price 3): it discharges all 4 and refills 2 at hour 3 (price 2);
    # step 3 refills the store at hour 3 (the end must be 5 kWh; hour 4 costs 3); step 4 buys hour 4's surprise
    np.testing.assert_allclose(buy, [4.0, 0.0, 4.0, 4.0], atol=1e-9)
    assert obj == pytest.approx(4 * 1 + 0 * 3 + 4 * 2 + 4 * 3, abs=1e-6)
    # full information (forecast = realised) is the one-shot optimum: fill the store at hour 1 (5 kW) for
    # hour 2, then at hour 3 for hour 4
    perfect, buy_p, _, _ = _mpc(realised, realised)
    np.testing.assert_allclose(buy_p, [7.0, 0.0, 5.0, 0.0], atol=1e-9)
    assert perfect == pytest.approx(17.0, abs=1e-6) and perfect < obj


def test_a_loop_refuses_steps_out_of_order() -> None:
    m = _storage_model()
    hm = HighsModel(m, "toy")
    loop: RecedingLoop[None] = RecedingLoop("toy", H4, lambda k: None, lambda: ([m], hm))
    with pytest.raises(RuntimeError, match="step 2 after step 0"):
        loop.step(2)
    with pytest.raises(RuntimeError, match="0 of 4 steps executed"):
        loop.result()


# ------------------------------------------------------------------------------ IEEE-33


def _run(sc: IEEE33Scenario, day: DayData, scheme: str, replay: str) -> tuple[DistributionModel, SchemeResult, int]:
    model = DistributionModel(sc, day, replay=replay)
    gen = model.scheme_steps(modes_of([scheme])[0])
    n = 0
    while True:
        try:
            k = next(gen)
        except StopIteration as stop:
            return model, stop.value, n
        n += 1
        assert k == n


@pytest.fixture(scope="module")
def ieee33() -> tuple[IEEE33Scenario, DayData]:
    sc = load_ieee33_scenario()
    return sc, make_day(sc, 11)


def test_mpc_with_a_perfect_forecast_is_the_oracle_replay(ieee33: tuple[IEEE33Scenario, DayData]) -> None:
    """Principle of optimality: re-planning with nothing new to learn executes an optimal plan."""
    sc, day = ieee33
    perfect = DayData(day.seed, day.forecast_kw, {k: held(v, 96) for k, v in day.forecast_kw.items()}, day.fleets)
    _, once, n1 = _run(sc, perfect, "centralized", "oracle")
    _, mpc, n2 = _run(sc, perfect, "centralized", "mpc")
    assert n1 == n2 == 96
    assert mpc.info["mpc_solves"] == 96 and "mpc 96 steps" in mpc.paths["coalition"]
    assert mpc.total_cost == pytest.approx(once.total_cost, rel=1e-7)


def test_mpc_day_on_ieee33_balances_and_is_bounded_by_the_oracle(ieee33: tuple[IEEE33Scenario, DayData]) -> None:
    sc, day = ieee33
    model, mpc, _ = _run(sc, day, "centralized", "mpc")
    _, replay, _ = _run(sc, day, "centralized", "oracle")
    _, oracle, _ = _run(sc, day, "oracle", "mpc")  # the oracle mode is full-information in both replays
    assert mpc.info["mpc_solves"] == 96 and oracle.info.get("mpc_solves") is None
    assert check_balance(mpc, network_check(sc, mpc)) < 1e-3  # the feeder serves exactly what the clusters buy
    cp = model._coalition
    assert cp is not None
    for c, sol in mpc.clusters.items():
        e = model.clusters[c].params.ess
        soc = sol.profiles["soc_kwh"]
        lo, hi = e.end_window_frac
        assert soc.min() >= e.soc_min_frac * e.capacity_kwh - 1e-6
        assert soc.max() <= e.soc_max_frac * e.capacity_kwh + 1e-6
        assert lo * e.capacity_kwh - 1e-6 <= soc[-1] <= hi * e.capacity_kwh + 1e-6
        assert np.abs(sol.balance_residual_kw()).max() < 1e-5
        # the persistent model is whole again: only what the model itself fixes (no sale) stays fixed
        fixed = {v.parent_component().local_name for v in cp.model.cl[c].component_data_objects(pyo.Var) if v.fixed}
        assert fixed <= {"p_sell_kw", "mode"}
    # learning the day as it comes costs something against knowing it in advance, and nothing beats the oracle
    assert oracle.total_cost <= min(mpc.total_cost, replay.total_cost) + 1e-6
    assert mpc.total_cost > replay.total_cost + 1.0


def test_simulate_with_mpc_replay_resumes_identically(tmp_path: Path) -> None:
    """Two MPC days; then day 2 is recomputed from the state day 1 wrote (as ``--resume`` after a kill
    during day 2): the KPI file is byte-identical, so an MPC day depends only on its inputs."""
    out = tmp_path / "a"
    args = ["simulate", "--scenario", "ieee33", "--days", "2", "--mode", "centralized", "--seed", "5",
            "--mc-days", "40", "--replay", "mpc", "--quiet", "--out", str(out)]
    assert run_sim.main(args) == 0
    first = (out / "kpis.csv").read_bytes()
    k = pd.read_csv(out / "kpis.csv")
    assert list(k["mpc_solves"]) == [96, 96] and (k["total_cost"] > 0).all()
    for c in ("C1", "C2", "C3"):  # storage carries from the first MPC day into the second
        assert k[f"ess_start_kwh_{c}"].iloc[1] == pytest.approx(k[f"ess_end_kwh_{c}"].iloc[0])
    assert '"replay": "mpc"' in (out / "manifest.json").read_text(encoding="utf-8")
    marker = out / "kpis" / "day=002" / "centralized-s5.csv"
    marker.unlink()
    assert run_sim.main([*args, "--resume"]) == 0
    assert marker.exists() and (out / "kpis.csv").read_bytes() == first


# ------------------------------------------------------------------------------ round-off in the fixed past


def _solved_perfect_toy() -> tuple[pyo.ConcreteModel, HighsModel]:
    """The toy with demand 2, 4, 2, 4 kWh known in advance: buy 7 at hour 1, charging 5 kW to a full 10 kWh store."""
    m = _storage_model()
    for t, v in zip(H4.periods, [2.0, 4.0, 2.0, 4.0], strict=True):
        m.demand[t] = v
    hm = HighsModel(m, "toy")
    hm.solve()
    assert hm.value(m.buy[1]) == pytest.approx(7.0) and hm.value(m.soc[1]) == pytest.approx(10.0)
    return m, hm


def _add_round_off(m: pyo.ConcreteModel, hm: HighsModel) -> None:
    """What HiGHS hands back within its tolerances: the balance 5e-7 kW off, the store 1e-9 kWh over its maximum."""
    hm.x[hm.column(m.buy[1])] += 5e-7
    hm.x[hm.column(m.soc[1])] = 10.0 + 1e-9


def test_round_off_in_a_fixed_period_makes_the_next_solve_infeasible_unless_repaired() -> None:
    # the failure (ieee33 seed 7, day 3, 20:00): values fixed as read back, so bal[1] is a constant row 5e-7 off
    m, hm = _solved_perfect_toy()
    _add_round_off(m, hm)
    for v in (m.buy[1], m.charge[1], m.soc[1]):
        v.fix(min(hm.value(v), v.ub))
    hm.update()
    hm.clear_solver()  # cold: HiGHS's presolve sees the constant row
    with pytest.raises(SolveError, match=r"bal"):
        hm.solve()
    # the fixer snaps the store onto its bound and moves the one value off its bounds (buy) so bal[1] holds
    m, hm = _solved_perfect_toy()
    _add_round_off(m, hm)
    fixer = PastFixer([m], H4)
    assert fixer.fix_period(1, hm) <= 1e-15
    assert m.soc[1].value == 10.0 and m.charge[1].value == 5.0
    assert m.buy[1].value == pytest.approx(7.0, abs=1e-12)
    assert m.buy[1].value - m.demand[1].value - m.charge[1].value == pytest.approx(0.0, abs=1e-13)
    hm.update()
    hm.clear_solver()
    assert hm.solve().objective == pytest.approx(17.0, abs=1e-6)  # the perfect plan, executed
    fixer.release()


def test_the_fixer_refuses_a_value_it_cannot_trust() -> None:
    m, hm = _solved_perfect_toy()
    hm.x[hm.column(m.soc[1])] = float("nan")
    with pytest.raises(ValueError, match=r"toy: soc\[1\] executed at step 1: the value nan"):
        PastFixer([m], H4).fix_period(1, hm)
    m, hm = _solved_perfect_toy()
    hm.x[hm.column(m.soc[1])] = 10.5  # far beyond the 10 kWh maximum: not round-off
    with pytest.raises(ValueError, match=r"soc\[1\].*lies 0\.5 beyond its bound 10.*allowed range \[0, 10\]"):
        PastFixer([m], H4).fix_period(1, hm)
    assert not any(v.fixed for v in m.component_data_objects(pyo.Var))


def test_rows_that_hold_are_left_alone() -> None:
    m, hm = _solved_perfect_toy()
    vs = [m.buy[2], m.charge[2], m.soc[2]]
    cols = np.array([hm.column(v) for v in vs])
    for v, x in ((m.buy[1], 7.0), (m.charge[1], 5.0), (m.soc[1], 10.0)):
        v.fix(x)
    vals = np.array([0.0, -4.0, 6.0])  # hour 2: the store serves the 4 kWh; bal[2] and dyn[2] hold exactly
    new, miss = repair_fixed_rows(hm, cols, vals, np.array([0.0, -5.0, 0.0]), np.array([100.0, 5.0, 10.0]))
    assert new is vals and miss == 0.0

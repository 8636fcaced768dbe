"""agents.decision.uncertainty: the persistent DRO master takes new data, cuts and plans as deltas (issue 15).

Toy (T = 6 hours, K = 8 samples): buy ``x_t ∈ [0, 10]`` day-ahead at price ``c_t``; once demand ``d_{k,t}`` (a
mutable Param, so a new day is new data in the same model) is known, buy intraday at ``1.2 c_t``, sell back at
``0.5 c_t``, or use a small battery.

Checked: no full recompile (``agents.milp._compile``) after the build, whatever is solved, reset and re-solved;
the number of rows stays put from one day to the next (cut slots are reused); a master that solved another day
first returns what a freshly built master returns for the same data; and the two opt-in shortcuts
(``reuse_so``, ``primal_evaluation``) return the plans and costs of the plain path.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyomo.environ as pyo
import pytest

from agents.decision.uncertainty import AmbiguitySet, DROResult, TwoStageDRO, TwoStageLP

T = 6
PRICE = np.array([1.0, 1.4, 2.0, 1.6, 1.2, 0.9])
BASE = np.array([3.0, 4.0, 5.0, 4.5, 3.5, 3.0])
K = 8
P0 = np.array([0.2, 0.15, 0.15, 0.1, 0.1, 0.1, 0.1, 0.1])


def demands(seed: int) -> np.ndarray:
    """``(K, T)`` demands ``BASE (1 + e)`` with ``e`` uniform in ±40 %."""
    return BASE * (1.0 + np.random.default_rng(seed).uniform(-0.4, 0.4, (K, T)))


def toy_problem() -> TwoStageLP:
    def first_stage(b: Any) -> tuple[Any, list[Any]]:
        b.T = pyo.RangeSet(0, T - 1)
        b.x = pyo.Var(b.T, bounds=(0, 10))
        return sum(PRICE[t] * b.x[t] for t in b.T), [b.x]

    def recourse(b: Any, k: int, fs: Any) -> Any:
        b.T = pyo.RangeSet(0, T - 1)
        b.d = pyo.Param(b.T, mutable=True, initialize=0.0)
        b.buy = pyo.Var(b.T, within=pyo.NonNegativeReals)
        b.sell = pyo.Var(b.T, within=pyo.NonNegativeReals)
        b.ch = pyo.Var(b.T, bounds=(0, 1))
        b.dis = pyo.Var(b.T, bounds=(0, 1))
        b.soc = pyo.Var(b.T, bounds=(0, 2))
        b.bal = pyo.Constraint(b.T, rule=lambda b, t: fs.x[t] + b.buy[t] - b.sell[t] + b.dis[t] - b.ch[t] == b.d[t])
        b.dyn = pyo.Constraint(b.T, rule=lambda b, t: b.soc[t] == (b.soc[t - 1] if t > 0 else 0.5)
                               + 0.95 * b.ch[t] - b.dis[t] / 0.95)
        return sum(1.2 * PRICE[t] * b.buy[t] - 0.5 * PRICE[t] * b.sell[t] + 0.01 * (b.ch[t] + b.dis[t])
                   for t in b.T)

    return TwoStageLP(K, first_stage, recourse, "delta toy")


def new_master(day: int, fast: bool = False) -> TwoStageDRO:
    dro = TwoStageDRO(toy_problem(), AmbiguitySet(P0, 0.6, 0.15), deltas=True, reuse_so=fast,
                      primal_evaluation=fast)
    write_day(dro, day)
    return dro


def write_day(dro: TwoStageDRO, day: int) -> None:
    d = demands(day)
    for k in range(K):
        for t in range(T):
            dro.model.rec[k].d[t] = float(d[k, t])
    dro.reset()


def solve_all(dro: TwoStageDRO) -> dict[str, DROResult]:
    out = {m: dro.solve(m, eps=1e-9) for m in ("so", "dro")}
    out["cdro"] = dro.solve("cdro", lam=0.3, eps=1e-9)
    out["ro"] = dro.solve("ro")
    return out


def assert_same(a: dict[str, DROResult], b: dict[str, DROResult], rel: float) -> None:
    for m, ra in a.items():
        rb = b[m]
        for name in ("objective", "historical_cost", "worst_cost", "first_stage_cost"):
            assert getattr(ra, name) == pytest.approx(getattr(rb, name), rel=rel, abs=rel), (m, name)
        np.testing.assert_allclose(ra.x["x"], rb.x["x"], rtol=rel, atol=1e-7, err_msg=m)
        np.testing.assert_allclose(ra.recourse_costs, rb.recourse_costs, rtol=rel, atol=1e-7, err_msg=m)
        assert ra.iterations == rb.iterations, m


def test_days_reach_the_master_as_deltas(compiles: list[str]) -> None:
    """After the build: no full compile over two days of so/dro/cdro/ro, rows stay put, and day 2 on the
    continued master equals day 2 on a fresh master."""
    continued = new_master(1, fast=True)
    base_rows = continued.hm.n_rows
    compiles.clear()
    day1 = solve_all(continued)
    cuts1 = continued.n_cuts
    assert cuts1 >= K + 2  # RO's K unit cuts and the C&CG cuts share one pool
    assert continued.hm.n_rows == base_rows + cuts1  # one row (slot) per cut
    write_day(continued, 2)
    assert continued.n_cuts == 0 and continued.n_active_cuts == 0
    day2 = solve_all(continued)
    assert compiles == []  # data, weights, cuts and plans reached HiGHS as deltas only
    # the second day's cuts went into the first day's slots (a slot is added only beyond their number)
    assert continued.hm.n_rows == base_rows + max(cuts1, continued.n_cuts)
    assert day1["cdro"].objective != pytest.approx(day2["cdro"].objective, rel=1e-6)  # another day, other data
    fresh = solve_all(new_master(2, fast=True))
    assert_same(day2, fresh, 1e-9)


def test_shortcuts_keep_plans_and_costs() -> None:
    """``reuse_so`` (DRO's first master is SO's) and ``primal_evaluation`` return the plain path's results."""
    plain = solve_all(new_master(3))
    fast_master = new_master(3, fast=True)
    fast = solve_all(fast_master)
    assert_same(plain, fast, 1e-9)
    assert fast["dro"].paths[0] == "dro:ccg master #1 = so:master"
    assert plain["dro"].paths[0] == "dro:ccg master #1"
    assert len(fast["dro"].paths) == len(plain["dro"].paths) - 1  # the same iterations, one solve pair fewer
    # cdro's first master is SO's problem plus the historical-cost limit, which the SO plan meets (λ = 0.3)
    assert fast["cdro"].paths[0] == "cdro:ccg master #1 = so:master"
    assert len(fast["cdro"].paths) == len(plain["cdro"].paths) - 1
    # the recourse evaluation of a plan is the same, whichever simplex re-optimised it
    ev = fast_master.evaluate(plain["cdro"].x)
    np.testing.assert_allclose(ev.recourse_costs, plain["cdro"].recourse_costs, rtol=1e-9, atol=1e-9)


def test_cdro_solves_its_first_master_when_the_so_plan_breaks_the_limit() -> None:
    """A historical-cost limit below E_SO: the SO plan is no optimum of cdro's first master (it is infeasible), so the
    shortcut must not take it; plain and fast paths both report the infeasible limit."""
    from agents.milp import SolveError

    for fast in (False, True):
        dro = new_master(4, fast=fast)
        e_so = dro.solve("so").historical_cost
        with pytest.raises(SolveError, match="cdro:ccg master #1: the historical-cost limit"):
            dro.solve("cdro", hist_bound=e_so * (1 - 1e-3), eps=1e-9)

"""agents.decision.robust.TwoStageRobust: two-stage RO by C&CG with a LP-duality + McCormick subproblem (SPEC §6.5).

Every check is against brute force on a toy unit-commitment day (4 periods): a thermal unit whose
commitment ``on`` and start-ups ``su`` are the first stage, an uncertain wind availability ``wind``
(fixed Vars), wind dispatch ``w <= wind``, a storage with a charge/discharge mode binary (relaxed in the
recourse), load shedding at a penalty and a curtailment cost on ``wind − w``.  The brute force enumerates
all members ``z`` of small vertex sets (written out here from the set's fields, not with the module's
own membership test) and all commitment vectors, and solves the recourse LP for each.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pyomo.environ as pyo
import pytest

from agents.decision.robust import TwoStageRobust, UnionSet, VertexSet
from agents.milp import HighsModel, SolveError, SolverOptions

LOAD = (40.0, 70.0, 90.0, 45.0)
WIND = (35.0, 40.0, 20.0, 40.0)
CAP = 60.0
T = len(LOAD)
CONST = 100.0  # objective constant: counted in the first-stage cost
OPTS = SolverOptions(mip_rel_gap=1e-7)


def toy(*, shed: bool = True, continuous_on: bool = False, wind_row: str = "le") -> pyo.ConcreteModel:
    """``wind_row``: how ``u`` enters: ``w <= wind`` ("le"), ``w + cur == wind`` with a curtailment variable
    ("eq", a free multiplier; no cost on ``u`` itself) or ``-1000 <= w - wind <= 0`` ("ranged", two
    multipliers).  All three are the same problem."""
    m = pyo.ConcreteModel(name="toy")
    m.T = pyo.RangeSet(0, T - 1)
    m.on = pyo.Var(m.T, within=pyo.UnitInterval if continuous_on else pyo.Binary)
    m.su = pyo.Var(m.T, bounds=(0, 1))
    m.wind = pyo.Var(m.T, initialize=lambda b, t: WIND[t])
    m.wind.fix()
    m.p = pyo.Var(m.T, within=pyo.NonNegativeReals)
    m.w = pyo.Var(m.T, within=pyo.NonNegativeReals)
    m.ch = pyo.Var(m.T, bounds=(0, 20))
    m.dis = pyo.Var(m.T, bounds=(0, 20))
    m.soc = pyo.Var(m.T, bounds=(0, 40))
    m.mode = pyo.Var(m.T, within=pyo.Binary)
    m.shed = pyo.Var(m.T, within=pyo.NonNegativeReals, bounds=(0, None if shed else 0))
    m.c_su = pyo.Constraint(m.T, rule=lambda b, t: b.su[t] >= b.on[t] - (b.on[t - 1] if t > 0 else 0))
    m.c_pmax = pyo.Constraint(m.T, rule=lambda b, t: b.p[t] <= 80 * b.on[t])
    m.c_pmin = pyo.Constraint(m.T, rule=lambda b, t: b.p[t] >= 25 * b.on[t])
    if wind_row == "le":
        m.c_wind = pyo.Constraint(m.T, rule=lambda b, t: b.w[t] <= b.wind[t])
    elif wind_row == "ranged":
        m.c_wind = pyo.Constraint(m.T, rule=lambda b, t: pyo.inequality(-1000, b.w[t] - b.wind[t], 0))
    else:
        m.cur = pyo.Var(m.T, within=pyo.NonNegativeReals)
        m.c_wind = pyo.Constraint(m.T, rule=lambda b, t: b.w[t] + b.cur[t] == b.wind[t])
    m.c_bal = pyo.Constraint(m.T, rule=lambda b, t: b.p[t] + b.w[t] + b.dis[t] - b.ch[t] + b.shed[t] == LOAD[t])
    m.c_soc = pyo.Constraint(m.T, rule=lambda b, t: b.soc[t] == (b.soc[t - 1] if t > 0 else 20)
                             + 0.9 * b.ch[t] - b.dis[t] / 0.9)
    m.c_ch = pyo.Constraint(m.T, rule=lambda b, t: b.ch[t] <= 20 * b.mode[t])
    m.c_dis = pyo.Constraint(m.T, rule=lambda b, t: b.dis[t] <= 20 * (1 - b.mode[t]))
    m.cost_fuel = pyo.Expression(expr=sum(20 * m.p[t] + 30 * m.on[t] + 60 * m.su[t] for t in m.T))
    m.cost_shed = pyo.Expression(expr=sum(200 * m.shed[t] for t in m.T))
    m.cost_curt = pyo.Expression(expr=sum(5 * (m.cur[t] if wind_row == "eq" else m.wind[t] - m.w[t]) for t in m.T))
    m.obj = pyo.Objective(expr=m.cost_fuel + m.cost_shed + m.cost_curt + CONST)
    return m


def engine(m: pyo.ConcreteModel | None = None, **kw: object) -> TwoStageRobust:
    m = toy() if m is None else m
    return TwoStageRobust(m, [m.on, m.su], m.wind, "toy", OPTS, **kw)  # type: ignore[arg-type]


def poly(budget: float | None, delta: float = 25.0, name: str = "poly", center: tuple[float, ...] = WIND,
         clip: bool = True) -> VertexSet:
    """``u = c + δ(b⁺ − b⁻)`` with pair exclusivity, a budget and (optionally) the clip ``0 <= u <= CAP``."""
    D = np.hstack([np.eye(T) * delta, -np.eye(T) * delta])
    pairs = np.array([[i, i + T] for i in range(T)])
    return VertexSet(name, np.array(center), D, pairs, budget=budget,
                     lower=np.zeros(T) if clip else None, upper=np.full(T, CAP) if clip else None)


def box() -> VertexSet:
    """The corners of ``[lo, hi]``: ``u = lo + diag(hi − lo) z``."""
    lo = np.array([20.0, 15.0, 5.0, 20.0])
    hi = np.array([50.0, 55.0, 35.0, 60.0])
    return VertexSet("box", lo, np.diag(hi - lo))


def members(S: VertexSet) -> list[np.ndarray]:
    """All members z of a vertex set, from its fields (independent of VertexSet.feasible)."""
    out = []
    for bits in itertools.product([0.0, 1.0], repeat=S.directions.shape[1]):
        z = np.array(bits)
        if any(z[i] + z[j] > 1 for i, j in S.pairs):
            continue
        if S.budget is not None and z.sum() > S.budget + 1e-9:
            continue
        u = S.center + S.directions @ z
        if S.lower is not None and np.any(u < S.lower - 1e-9):
            continue
        if S.upper is not None and np.any(u > S.upper + 1e-9):
            continue
        out.append(z)
    return out


def plan(on: tuple[float, ...] | np.ndarray) -> np.ndarray:
    """Flat first stage ``[on, su]`` with the least start-ups."""
    o = np.asarray(on, dtype=float)
    su = np.maximum(0.0, o - np.concatenate([[0.0], o[:-1]]))
    return np.concatenate([o, su])


def brute_worst(eng: TwoStageRobust, x: np.ndarray, parts: tuple[VertexSet, ...]) -> float:
    return max(eng.recourse(x, S.center + S.directions @ z)[0] for S in parts for z in members(S))


def brute_robust(eng: TwoStageRobust, parts: tuple[VertexSet, ...]) -> float:
    return min(eng.first_stage_cost(plan(on)) + brute_worst(eng, plan(on), parts)
               for on in itertools.product([0.0, 1.0], repeat=T))


def close(a: float, b: float, rel: float = 1e-6) -> bool:
    return abs(a - b) <= rel * max(1.0, abs(b))


PLANS = [(1, 1, 1, 1), (0, 1, 1, 0), (1, 0, 1, 1), (0, 0, 1, 0)]


# ------------------------------------------------------------------------------ structure and recourse


def test_partition_and_relaxed_recourse_integers() -> None:
    eng = engine()
    assert (eng.n_x, eng.dim, eng.n_y) == (2 * T, T, 7 * T)
    assert eng.n_relaxed_integers == T  # the storage mode binaries
    assert eng.first_stage_rows == T  # c_su
    assert eng.recourse_size.rows == 7 * T
    assert eng.x_names == ["on", "su"]
    assert eng.first_stage_cost(plan((1, 1, 0, 0))) == pytest.approx(2 * 30 + 60 + CONST)


@pytest.mark.parametrize("on", PLANS)
def test_recourse_matches_an_independent_pyomo_solve(on: tuple[float, ...]) -> None:
    """Q(x, u) + first-stage cost == the Pyomo model solved with x and u fixed (integers relaxed)."""
    m = toy()
    eng = engine(m)
    x = plan(on)
    u = np.array([10.0, 55.0, 0.0, 30.0])
    q, y = eng.recourse(x, u)
    for t in range(T):
        m.on[t].fix(x[t])
        m.su[t].fix(x[T + t])
        m.wind[t].fix(u[t])
    ref = HighsModel(m, "reference", OPTS, relax_integrality=True).solve().objective
    assert close(eng.first_stage_cost(x) + q, ref)
    assert y.shape == (eng.n_y,)


# ------------------------------------------------------------------------------ 1. worst case = enumeration


SETS = {
    "box": box,
    "poly_pairs_budget": lambda: poly(2, delta=20.0, clip=False),
    "poly_clip_excludes": lambda: poly(2),  # 0 <= u <= 60 cuts 3 of the 8 moves
    "poly_no_budget": lambda: poly(None, delta=12.0),
}


@pytest.mark.parametrize("mccormick", ["aggregated", "disaggregated"])
@pytest.mark.parametrize("set_name", list(SETS))
def test_worst_case_equals_enumeration(set_name: str, mccormick: str) -> None:
    S = SETS[set_name]()
    if set_name == "poly_clip_excludes":
        assert len(members(S)) < len(members(poly(2, clip=False)))  # the clip bounds exclude members
    eng = engine(mccormick=mccormick)
    for on in PLANS:
        x = plan(on)
        values = {tuple(z): eng.recourse(x, S.center + S.directions @ z)[0] for z in members(S)}
        best = max(values.values())
        wc = eng.worst_case(x, S)
        assert close(wc.value, best), (on, wc.value, best)
        assert close(values[tuple(wc.z)], best)  # the returned z is an argmax
        np.testing.assert_allclose(wc.u, S.center + S.directions @ wc.z)
        assert close(wc.subproblem_objective, wc.value)
        assert close(eng.recourse(x, wc.u)[0], wc.value)
        assert wc.part == 0 and wc.sizes[0].binaries == S.n_binaries


@pytest.mark.parametrize("wind_row", ["eq", "ranged"])
def test_equality_and_ranged_rows_with_u_give_the_same_answers(wind_row: str) -> None:
    """u in an equality row (free multiplier, no u cost) or a ranged row (two multipliers): same problem."""
    ref = engine()
    eng = engine(toy(wind_row=wind_row))
    S = poly(2)
    for on in PLANS[:2]:
        x = plan(on)
        wc = eng.worst_case(x, S)
        assert close(wc.value, brute_worst(ref, x, (S,)))
        assert close(wc.value, brute_worst(eng, x, (S,)))
    assert close(eng.solve(S, eps=1e-6).objective, ref.solve(S, eps=1e-6).objective)


def test_worst_case_over_a_union_is_the_worst_part() -> None:
    A = poly(1, name="A")
    B = poly(2, delta=10.0, name="B", center=(30.0, 30.0, 30.0, 30.0))
    U = UnionSet("A∪B", (A, B))
    eng = engine(prune=False)  # one exact MILP per part: every part's worst value
    for on in PLANS[:2]:
        x = plan(on)
        wc = eng.worst_case(x, U)
        assert close(wc.value, brute_worst(eng, x, (A, B)))
        assert close(wc.part_values[0], brute_worst(eng, x, (A,)))
        assert close(wc.part_values[1], brute_worst(eng, x, (B,)))
        assert wc.part == int(np.argmax(wc.part_values)) and wc.part_name == (A, B)[wc.part].name
        assert wc.stats["milp"] == 2 and wc.stats["pruned"] == 0


# ------------------------------------------------------------------------------ 2. C&CG = brute force


@pytest.mark.parametrize("sets", ["poly", "box", "union"])
def test_ccg_equals_brute_force_min_max(sets: str) -> None:
    eng = engine()
    parts: tuple[VertexSet, ...]
    if sets == "poly":
        parts = (poly(2),)
    elif sets == "box":
        parts = (box(),)
    else:
        parts = (poly(1, name="A"), poly(2, delta=10.0, name="B", center=(30.0, 30.0, 30.0, 30.0)))
    uset: VertexSet | UnionSet = parts[0] if len(parts) == 1 else UnionSet("A∪B", parts)
    eps = 1e-6
    r = eng.solve(uset, eps=eps)
    assert r.converged and r.method == "ccg"
    assert r.iterations == len(r.lb_history) == len(r.ub_history) == len(r.gap_history) == len(r.master_s)
    for lb, ub in zip(r.lb_history, r.ub_history, strict=True):
        assert lb <= ub + 1e-6 * abs(ub)
    assert all(b <= a for a, b in itertools.pairwise(r.ub_history))
    assert r.gap_history[-1] <= eps
    assert close(r.objective, brute_robust(eng, parts))
    # the returned plan's worst-case cost is the objective, and the reported worst case is consistent
    assert close(eng.evaluate(r.x, uset).objective, r.objective)
    assert close(r.first_stage_cost + r.recourse_cost, r.objective)
    assert close(eng.recourse(r.x_flat, r.u)[0], r.recourse_cost)


@pytest.mark.parametrize("sets", ["poly", "box", "union"])
def test_bound_is_a_valid_lower_bound_and_its_point_a_member(sets: str) -> None:
    eng = engine()
    parts: tuple[VertexSet, ...]
    if sets == "poly":
        parts = (poly(2),)
    elif sets == "box":
        parts = (box(),)
    else:
        parts = (poly(1, name="A"), poly(2, delta=10.0, name="B", center=(30.0, 30.0, 30.0, 30.0)))
    uset: VertexSet | UnionSet = parts[0] if len(parts) == 1 else UnionSet("A∪B", parts)
    r = eng.bound(uset)
    opt = brute_robust(eng, parts)
    assert r.method == "bound" and not r.converged
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(r.lb_history))
    assert r.lower_bound <= opt + 1e-6 * abs(opt)
    assert r.lower_bound > -math.inf and all(math.isinf(u) for u in r.ub_history)
    # the reported point is a member of its part, and objective is that plan's cost there (<= its worst case)
    part = parts[r.part]
    assert part.feasible(r.z) and np.allclose(part.point(r.z), r.u)
    assert close(r.first_stage_cost + eng.recourse(r.x_flat, r.u)[0], r.objective)
    assert r.objective <= eng.evaluate(r.x, uset).objective + 1e-6
    assert r.objective >= r.lower_bound - 1e-6  # the heuristic stopped: no member above θ was found
    with pytest.raises(ValueError, match="time_limit_s"):
        eng.bound(uset, time_limit_s=0.0)


def test_robust_plan_differs_from_deterministic_and_beats_it_ex_post() -> None:
    """SPEC §6.5 'Evaluating scenario 1': the deterministic plan scored on the worst case costs more."""
    eng = engine()
    S = poly(2)
    det = eng.solve_deterministic(S.center)
    rob = eng.solve(S, eps=1e-6)
    ex_post = eng.evaluate(det.x, S)
    assert not np.array_equal(det.x["on"], rob.x["on"])
    assert ex_post.objective > rob.objective + 1.0
    assert det.objective < rob.objective  # the nominal cost is lower


def test_master_is_grown_not_rebuilt() -> None:
    eng = engine()
    r = eng.solve(poly(2), eps=1e-6)
    L = len(r.scenarios)
    assert r.iterations == L  # one initial scenario, one added per non-final iteration
    assert r.master_size is not None
    assert r.master_size.cols == eng.n_x + 1 + L * eng.n_y
    assert r.master_size.rows == eng.first_stage_rows + L * (eng.recourse_size.rows + 1)
    assert r.master_size.binaries == T
    np.testing.assert_allclose(r.scenarios[0], WIND)  # default start: the center of the first part


def test_lp_master_converges() -> None:
    """Continuous first stage (LP master): converges, and the relaxation costs no more than the MILP."""
    S = poly(2)
    lp = engine(toy(continuous_on=True)).solve(S, eps=1e-6)
    mip = engine().solve(S, eps=1e-6)
    assert lp.converged and lp.master_size is not None and lp.master_size.binaries == 0
    assert lp.objective <= mip.objective + 1e-6


def test_max_iter_without_convergence_raises_unless_allowed() -> None:
    eng = engine()
    with pytest.raises(SolveError, match="did not converge"):
        eng.solve(poly(2), eps=1e-6, max_iter=1)
    r = eng.solve(poly(2), eps=1e-6, max_iter=1, allow_unconverged=True)
    assert not r.converged and r.iterations == 1 and r.gap_history[-1] > 1e-6


def test_initial_u_seeds_the_master() -> None:
    eng = engine()
    S = poly(2)
    ref = eng.solve(S, eps=1e-6)
    r = eng.solve(S, eps=1e-6, initial_u=np.vstack([S.center, ref.u]))
    assert close(r.objective, ref.objective)
    assert r.iterations <= ref.iterations


# ------------------------------------------------------------------------------ 3. nested sets


def test_larger_sets_never_cost_less() -> None:
    eng = engine()
    costs = [eng.solve(S, eps=1e-6).objective
             for S in (poly(0), poly(1), poly(2), poly(None))]  # nested: budget 0 ⊆ 1 ⊆ 2 ⊆ none
    assert all(b >= a - 1e-6 for a, b in itertools.pairwise(costs)), costs
    assert costs[-1] > costs[0] + 1.0
    A = poly(1, name="A")
    B = poly(2, delta=10.0, name="B", center=(30.0, 30.0, 30.0, 30.0))
    union = eng.solve(UnionSet("A∪B", (A, B)), eps=1e-6).objective
    assert union >= eng.solve(A, eps=1e-6).objective - 1e-6
    assert union >= eng.solve(B, eps=1e-6).objective - 1e-6


# ------------------------------------------------------------------------------ 4. single point


@pytest.mark.parametrize("kind", ["no_directions", "budget_0"])
def test_single_point_set_reproduces_deterministic(kind: str) -> None:
    eng = engine()
    center = np.array([25.0, 45.0, 15.0, 30.0])
    S = VertexSet("point", center, np.zeros((T, 0))) if kind == "no_directions" else poly(0, center=tuple(center))
    det = eng.solve_deterministic(center)
    r = eng.solve(S, eps=1e-7)
    assert r.iterations == 1
    assert close(r.objective, det.objective, 1e-7)
    np.testing.assert_allclose(r.u, center)
    # the deterministic MILP's value is its plan's cost at that u
    assert close(det.objective, eng.first_stage_cost(det.x) + eng.recourse(det.x, center)[0])


# ------------------------------------------------------------------------------ 5. bad input


def test_bad_input_names_what_is_wrong() -> None:
    eng = engine()
    wrong_dim = VertexSet("d3", np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match=r"dimension 3.*wind.*4 entries"):
        eng.worst_case(plan(PLANS[0]), wrong_dim)
    with pytest.raises(ValueError, match="dimension 3"):
        eng.solve(wrong_dim)
    with pytest.raises(TypeError, match="VertexSet or UnionSet"):
        eng.worst_case(plan(PLANS[0]), [wrong_dim])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"missing \['su'\]"):
        eng.evaluate({"on": np.ones(T)}, poly(1))
    with pytest.raises(ValueError, match="8 values"):
        eng.recourse(np.ones(3), np.array(WIND))
    with pytest.raises(ValueError, match="u must hold 4"):
        eng.recourse(plan(PLANS[0]), np.ones(5))
    with pytest.raises(ValueError, match=r"violates .*c_su\[1\]"):  # on = (0, 1, ...) with su[1] = 0
        eng.evaluate(np.concatenate([[0, 1, 1, 1], np.zeros(T)]), poly(1))

    m = toy()
    m.bad = pyo.Constraint(expr=m.on[0] + m.wind[0] <= 100)
    with pytest.raises(ValueError, match=r"no recourse variable.*bad"):
        engine(m)
    m = toy()
    m.wind[2].unfix()
    with pytest.raises(ValueError, match=r"must be fixed.*wind\[2\]"):
        engine(m)
    m = toy()
    with pytest.raises(ValueError, match="first_stage is empty"):
        TwoStageRobust(m, [], m.wind, "toy")
    with pytest.raises(ValueError, match="both first-stage and uncertain"):
        TwoStageRobust(m, [m.on, m.wind], m.wind, "toy")
    with pytest.raises(TypeError, match="Var component"):
        TwoStageRobust(m, [m.c_su], m.wind, "toy")
    m = toy()
    m.sell = pyo.Var()
    m.obj.deactivate()
    m.obj2 = pyo.Objective(expr=m.cost_fuel - m.sell)
    with pytest.raises(ValueError, match=r"unbounded recourse.*sell"):
        engine(m)
    m.obj.activate()
    with pytest.raises(ValueError, match="exactly one active objective"):
        engine(m)


def test_recourse_without_relatively_complete_recourse_fails_loudly() -> None:
    """Without load shedding a plan that is off at the peak cannot serve it: the failure names c_bal."""
    eng = engine(toy(shed=False))
    with pytest.raises(SolveError, match=r"infeasible[\s\S]*c_bal"):
        eng.worst_case(plan((0, 0, 0, 0)), poly(2))
    with pytest.raises(SolveError, match=r"infeasible[\s\S]*c_bal"):
        eng.recourse(plan((0, 0, 0, 0)), np.array(WIND))


# ------------------------------------------------------------------------------ 6. dual-bound check


@pytest.mark.parametrize("confirm", [False, True])
def test_tiny_dual_bound_is_enlarged_until_the_worst_case_is_exact(confirm: bool) -> None:
    S = poly(2)
    ref = engine()
    tiny = engine(dual_bound=1e-2, max_bound_updates=8, confirm_dual_bound=confirm, monotone_bb=False)
    for on in PLANS[:2]:
        x = plan(on)
        wc = tiny.worst_case(x, S)
        assert close(wc.value, brute_worst(ref, x, (S,)))
        if on == PLANS[0]:
            assert wc.bounds_enlarged and wc.bound_updates >= 3  # 1e-2 -> at least 10 (the costs are 5..200)
            assert wc.dual_bound_scale >= 1e3
    assert close(tiny.solve(S, eps=1e-6).objective, ref.solve(S, eps=1e-6).objective)


def test_dual_bound_that_cannot_be_verified_raises() -> None:
    eng = engine(dual_bound=1e-2, max_bound_updates=1, monotone_bb=False)
    with pytest.raises(SolveError, match="McCormick dual bounds") as exc:
        eng.worst_case(plan(PLANS[0]), poly(2))
    assert exc.value.status == "dual_bound"


def test_default_dual_bound_needs_no_enlargement_on_the_toy() -> None:
    eng = engine(monotone_bb=False)
    wc = eng.worst_case(plan(PLANS[0]), poly(2))
    assert wc.bound_updates == 0 and wc.dual_bound_scale == 1.0
    # with the confirmation the first solve of a part is repeated once with 10x bounds, then kept
    eng = engine(confirm_dual_bound=True, monotone_bb=False)
    S = poly(2)
    wc = eng.worst_case(plan(PLANS[0]), S)
    assert wc.bound_updates == 1 and wc.dual_bound_scale == 10.0
    wc = eng.worst_case(plan(PLANS[1]), S)  # the part's bound is confirmed and kept
    assert wc.bound_updates == 0 and wc.dual_bound_scale == 10.0


# ------------------------------------------------------------------------------ 7. fast worst-case paths

#: the worst-case paths: (label, engine keywords).  "bb" is the default (monotone branch and bound: the
#: toy's wind row ``w <= wind`` only relaxes as the wind rises), "milp" the heuristic + cutoff MILPs
#: (also what the equality/ranged toys use), "milp_tiny_bb" a branch and bound that gives up at once.
PATHS = {
    "bb": {},
    "milp": {"monotone_bb": False},
    "milp_disaggregated": {"monotone_bb": False, "mccormick": "disaggregated"},
    "milp_tiny_bb": {"bb_node_limit": 1},
    "enumerate": {"enumerate_limit": 10_000},
    "no_heuristic": {"monotone_bb": False, "heuristic_steps": 0},
    "independent": {"prune": False},
}


def three_parts() -> tuple[VertexSet, ...]:
    """A union whose worst part is the last one (least wind) for the plans tested."""
    return (poly(1, name="A"), poly(1, delta=15.0, name="B", center=(30.0, 30.0, 30.0, 30.0)),
            poly(2, delta=10.0, name="C", center=(12.0, 14.0, 12.0, 14.0)))


@pytest.mark.parametrize("path", list(PATHS))
def test_every_path_equals_enumeration_on_unions_whose_worst_part_is_last(path: str) -> None:
    parts = three_parts()
    U = UnionSet("A∪B∪C", parts)
    ref = engine()
    eng = engine(**PATHS[path])  # type: ignore[arg-type]
    for on in PLANS:
        x = plan(on)
        per_part = [brute_worst(ref, x, (P,)) for P in parts]
        assert int(np.argmax(per_part)) == 2  # the worst part is not the first
        wc = eng.worst_case(x, U)
        assert close(wc.value, max(per_part)), (path, on, wc.value, per_part)
        assert wc.part == 2 and close(eng.recourse(x, wc.u)[0], wc.value)
        assert parts[2].feasible(wc.z) and np.allclose(wc.u, parts[2].point(wc.z))
        assert close(wc.subproblem_objective, wc.value)
        # part values are exact or lower bounds, part bounds upper bounds
        for k in range(3):
            assert wc.part_values[k] <= per_part[k] * (1 + 1e-6) + 1e-6
            assert wc.part_bounds[k] >= per_part[k] * (1 - 1e-6) - 1e-6
        if path == "independent":
            assert all(close(v, t) for v, t in zip(wc.part_values, per_part, strict=True))


@pytest.mark.parametrize("path", ["bb", "milp", "enumerate", "milp_tiny_bb"])
@pytest.mark.parametrize("set_name", list(SETS))
def test_every_path_equals_enumeration_on_single_sets(set_name: str, path: str) -> None:
    S = SETS[set_name]()
    eng = engine(**PATHS[path])  # type: ignore[arg-type]
    for on in PLANS:
        x = plan(on)
        best = brute_worst(eng, x, (S,))
        wc = eng.worst_case(x, S)
        assert close(wc.value, best), (set_name, path, on, wc.value, best)
        assert S.feasible(wc.z) and close(eng.recourse(x, wc.u)[0], wc.value)


def test_the_paths_do_what_they_say() -> None:
    U = UnionSet("A∪B∪C", three_parts())
    x = plan(PLANS[0])
    wc = engine().worst_case(x, U)
    assert wc.stats["bb_parts"] == 3 and wc.stats["milp"] == 0  # the monotone branch and bound settles all
    wc = engine(monotone_bb=False).worst_case(x, U)
    assert wc.stats["milp"] >= 3 and wc.stats["pruned"] >= 2  # the best part found first cuts the others off
    wc = engine(enumerate_limit=10_000).worst_case(x, U)
    assert wc.stats["enumerated"] == 3 and wc.stats["milp"] == 0
    wc = engine(bb_node_limit=1).worst_case(x, U)
    assert wc.stats["milp"] >= 1  # the branch and bound gave up: MILPs settle it
    # u in an equality row: not monotone, so the MILPs
    wc = engine(toy(wind_row="eq")).worst_case(x, U)
    assert wc.stats.get("bb_parts", 0) == 0 and wc.stats["milp"] >= 1


def test_monotone_directions_follow_the_row_type() -> None:
    assert np.all(engine()._sigma == 1.0)  # w <= wind: more wind relaxes
    assert np.all(engine(toy(wind_row="eq"))._sigma == 0.0)  # w + cur == wind: neither
    assert np.all(engine(toy(wind_row="ranged"))._sigma == 0.0)  # -1000 <= w - wind <= 0: two-sided


def test_enumeration_drops_only_midpoints() -> None:
    """The members kept for enumeration: every member that is not the midpoint of two others, and the
    worst case over them is the worst case over all members."""
    from agents.decision.robust import _members

    S = poly(None, delta=12.0)  # no budget: zero moves are midpoints of +/- moves
    kept = _members(S, 10_000)
    assert kept is not None
    Z, Uk = kept
    allz = members(S)
    assert len(Z) < len(allz)
    pts = [tuple(np.round(S.center + S.directions @ z, 9)) for z in allz]
    for z, u in zip(Z, Uk, strict=True):
        assert S.feasible(z) and np.allclose(u, S.point(z))
    for z in allz:  # a dropped member is the midpoint of two members
        u = S.center + S.directions @ z
        if not any(np.array_equal(z, k) for k in Z):
            assert any(tuple(np.round(2 * u - np.array(p), 9)) in pts and not np.allclose(p, u) for p in pts)
    eng = engine()
    x = plan(PLANS[1])
    assert close(max(eng.recourse(x, u)[0] for u in Uk), brute_worst(eng, x, (S,)))
    assert _members(S, 5) is None  # too many members
    assert _members(box(), 10_000) is not None and len(_members(box(), 10_000)[0]) == 16  # corners: all kept


@pytest.mark.parametrize("heuristic_iterations", [True, False])
def test_ccg_equals_brute_force_with_and_without_heuristic_iterations(heuristic_iterations: bool) -> None:
    parts = three_parts()
    U = UnionSet("A∪B∪C", parts)
    eng = engine()
    r = eng.solve(U, eps=1e-6, heuristic_iterations=heuristic_iterations)
    assert r.converged and close(r.objective, brute_robust(eng, parts))
    assert close(eng.evaluate(r.x, U).objective, r.objective)
    assert close(eng.recourse(r.x_flat, r.u)[0], r.recourse_cost)
    assert all(b <= a for a, b in itertools.pairwise(r.ub_history))


def test_cutoff_above_the_worst_case_cuts_the_milp_off() -> None:
    eng = engine(monotone_bb=False)
    S = poly(2)
    x = plan(PLANS[0])
    best = brute_worst(eng, x, (S,))
    pt = eng._heuristic(x, eng._state(S), "test", {"lp": 0})
    out = eng._worst_part(x, S, "test", cutoff=best + 1.0, incumbent=pt)
    assert out.point is None and out.bound == best + 1.0
    out = eng._worst_part(x, S, "test", cutoff=best - 1.0, incumbent=pt)
    assert out.point is not None and close(out.point.q, best)


def test_subproblem_options_reach_highs() -> None:
    eng = engine(subproblem_options={"mip_heuristic_effort": 0.0})
    S = poly(2)
    assert eng._state(S).sub.h.getOptionValue("mip_heuristic_effort")[1] == 0.0
    with pytest.raises(ValueError, match="rejected subproblem option"):
        engine(subproblem_options={"no_such_option": 1})._state(S)


# ------------------------------------------------------------------------------ load into Pyomo


def test_load_writes_the_solution_into_the_pyomo_model() -> None:
    m = toy()
    eng = engine(m)
    r = eng.solve(poly(2), eps=1e-6)
    r.load()
    assert close(pyo.value(m.obj), r.objective)
    np.testing.assert_allclose([pyo.value(m.wind[t]) for t in m.T], r.u)
    assert all(m.wind[t].fixed for t in m.T)
    np.testing.assert_allclose([pyo.value(m.on[t]) for t in m.T], r.x["on"])
    curt = sum(5 * (r.u[t] - pyo.value(m.w[t])) for t in range(T))
    assert close(pyo.value(m.cost_curt), curt)
    assert r.summary()["iterations"] == r.iterations


def tier_toy() -> pyo.ConcreteModel:
    """The toy with a declared fuel tier (first stage, ``sum tier = 1``): tier ``k`` prices the day's fuel at
    ``RATE[k]`` with a fee ``FEE[k]``, through big-M lines ``q_k <= 400 tier_k`` -- a weak LP relaxation."""
    m = toy()
    rate, fee = (3.0, 1.0, 0.0), (0.0, 60.0, 150.0)
    m.K = pyo.RangeSet(0, 2)
    m.tier = pyo.Var(m.K, within=pyo.Binary)
    m.q = pyo.Var(m.K, within=pyo.NonNegativeReals)
    m.one_tier = pyo.Constraint(expr=sum(m.tier[k] for k in m.K) == 1)
    m.c_q = pyo.Constraint(m.K, rule=lambda b, k: b.q[k] <= 400 * b.tier[k])
    m.c_fuel = pyo.Constraint(expr=sum(m.q[k] for k in m.K) == sum(m.p[t] for t in m.T))
    m.obj.deactivate()
    m.obj2 = pyo.Objective(expr=m.cost_fuel + m.cost_shed + m.cost_curt + CONST
                           + sum(rate[k] * m.q[k] + fee[k] * m.tier[k] for k in m.K))
    return m


def test_deterministic_milp_branched_on_the_choice_row_equals_brute_force() -> None:
    """solve_deterministic branches on the declared tier first (LP bounds, one restricted MILP per tier not
    pruned): its cost equals the brute-force minimum over every tier and commitment, and equals one HiGHS MILP."""
    m = tier_toy()
    eng = TwoStageRobust(m, [m.on, m.su, m.tier], m.wind, "tiers", OPTS)
    assert eng._choice_set().tolist() == list(range(2 * T, 2 * T + 3))  # the tier columns, after on and su
    res = eng.solve_deterministic(np.array(WIND))
    whole = TwoStageRobust(m, [m.on, m.su, m.tier], m.wind, "one MILP", OPTS,
                           choice_branching=False).solve_deterministic(np.array(WIND))
    brute = math.inf
    for on in itertools.product((0.0, 1.0), repeat=T):
        su = [max(on[t] - (on[t - 1] if t else 0.0), 0.0) for t in range(T)]
        for k in range(3):
            tier = [1.0 if j == k else 0.0 for j in range(3)]
            brute = min(brute, eng.first_stage_cost([*on, *su, *tier]) + eng.recourse([*on, *su, *tier], WIND)[0])
    assert close(res.objective, brute, 1e-6) and close(whole.objective, brute, 1e-6)
    assert res.lb_history[0] <= res.objective + 1e-9 and res.lb_history[0] >= brute * (1 - 1e-6)
    assert res.x["tier"].sum() == 1.0

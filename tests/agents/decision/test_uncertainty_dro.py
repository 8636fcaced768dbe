"""agents.decision.uncertainty: constrained DRO of paper 002 (SPEC §6.4) on a toy two-stage LP.

Toy (T = 6 hours): buy ``x_t ∈ [0, 10]`` day-ahead at price ``c_t``; once demand ``d_{k,t}`` of sample k
is known, buy intraday at ``1.2 c_t`` or sell back at ``0.5 c_t``, with a small battery (1 kW,
2 kWh, 95 % each way, 0.01 wear cost).  Demands are ``base·(1 + e_k)`` with ``e_k`` the k-means
reference samples of AR(1) relative errors (the SPEC §6.4 pipeline), so ``p0`` comes from the
cluster sizes.

Oracles: the monolithic dual LP (SPEC §6.4), scipy's HiGHS ``linprog`` on an independently written
form of Ψ, a greedy closed form, a fresh single-sample model for ``Q_k(x)``, the ``cvar`` helper,
and the theoretical orderings (SO minimises H, DRO minimises W, RO minimises the worst sample,
the SO plan is feasible for CDRO).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyomo.environ as pyo
import pytest
from scipy.optimize import linprog

from agents.decision.uncertainty import (
    METHODS,
    AmbiguitySet,
    DROResult,
    TwoStageDRO,
    TwoStageLP,
    ambiguity_radii,
    cvar,
    historical_errors,
    reference_samples,
)
from agents.milp import HighsModel, SolveError

T = 6
PRICE = np.array([1.0, 1.4, 2.0, 1.6, 1.2, 0.9])
BASE = np.array([3.0, 4.0, 5.0, 4.5, 3.5, 3.0])
M_HIST, K = 24, 12
REL = 1e-6


def toy_problem(errors: np.ndarray, name: str = "toy") -> TwoStageLP:
    """Day-ahead purchase, then intraday buy/sell and a battery per demand sample."""

    def first_stage(b: Any) -> tuple[Any, list[Any]]:
        b.T = pyo.RangeSet(0, T - 1)
        b.x = pyo.Var(b.T, bounds=(0, 10), doc="day-ahead purchase")
        return sum(PRICE[t] * b.x[t] for t in b.T), [b.x]

    def recourse(b: Any, k: int, fs: Any) -> Any:
        d = BASE * (1 + errors[k])
        b.T = pyo.RangeSet(0, T - 1)
        b.buy = pyo.Var(b.T, within=pyo.NonNegativeReals)
        b.sell = pyo.Var(b.T, within=pyo.NonNegativeReals)
        b.ch = pyo.Var(b.T, bounds=(0, 1))
        b.dis = pyo.Var(b.T, bounds=(0, 1))
        b.soc = pyo.Var(b.T, bounds=(0, 2))
        b.bal = pyo.Constraint(b.T, rule=lambda b, t: fs.x[t] + b.buy[t] - b.sell[t] + b.dis[t] - b.ch[t] == d[t])
        b.dyn = pyo.Constraint(b.T, rule=lambda b, t: b.soc[t] == (b.soc[t - 1] if t > 0 else 0.5)
                               + 0.95 * b.ch[t] - b.dis[t] / 0.95)
        return sum(1.2 * PRICE[t] * b.buy[t] - 0.5 * PRICE[t] * b.sell[t] + 0.01 * (b.ch[t] + b.dis[t])
                   for t in b.T)

    return TwoStageLP(len(errors), first_stage, recourse, name)


@pytest.fixture(scope="module")
def samples() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    errors = historical_errors(rng, M_HIST, 1, T, sigma=0.25, bound=0.45)
    centroids, p0, _ = reference_samples(errors, K, rng)
    return centroids[:, 0, :], p0


@pytest.fixture(scope="module")
def dro(samples: tuple[np.ndarray, np.ndarray]) -> TwoStageDRO:
    e, p0 = samples
    return TwoStageDRO(toy_problem(e), AmbiguitySet.from_confidence(p0, M_HIST, alpha_1=0.8, alpha_inf=0.99))


@pytest.fixture(scope="module")
def results(dro: TwoStageDRO) -> dict[str, DROResult]:
    out = {m: dro.solve(m, eps=1e-9) for m in ("so", "ro", "dro")}
    out["cdro"] = dro.solve("cdro", lam=0.3, eps=1e-9)
    out["cvar"] = dro.solve("cvar", beta=0.5)
    return out


def close(a: float, b: float, rel: float = REL) -> bool:
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


# ------------------------------------------------------------------ radii and Ψ (CD-3, CD-4)

def test_radii_match_the_spec_numbers() -> None:
    theta_1, theta_inf = ambiguity_radii(200, 50, alpha_1=0.95, alpha_inf=0.99)
    assert theta_inf == pytest.approx(0.02303, abs=5e-6)
    assert theta_1 == pytest.approx(0.9501, abs=5e-5)
    # equal confidence levels: θ_1 = K θ_∞, so the ∞-norm implies the 1-norm
    t1, tinf = ambiguity_radii(200, 50, 0.9, 0.9)
    assert t1 == pytest.approx(50 * tinf, rel=1e-12)


def test_alpha_inf_0p9_makes_the_1norm_inactive(samples: tuple[np.ndarray, np.ndarray]) -> None:
    e, p0 = samples
    problem = toy_problem(e)
    res = {}
    for a1, ainf in [(0.9, 0.9), (0.99, 0.9), (0.99, 0.99), (0.5, 0.99)]:
        psi = AmbiguitySet.from_confidence(p0, M_HIST, a1, ainf)
        res[a1, ainf] = TwoStageDRO(problem, psi).solve("dro", eps=1e-9)
    a, b = res[0.9, 0.9], res[0.99, 0.9]
    assert close(a.objective, b.objective, 1e-9)
    np.testing.assert_allclose(a.worst_p, b.worst_p, atol=1e-9)
    np.testing.assert_allclose(a.x["x"], b.x["x"], atol=1e-7)
    # with α_∞ = 0.99 a small α_1 does bind: the set shrinks and so does the objective
    assert res[0.5, 0.99].objective < res[0.99, 0.99].objective - 1e-4


def brute_worst(q: np.ndarray, psi: AmbiguitySet) -> float:
    """max q.p over Ψ written with d = p − p0 = d⁺ − d⁻ (an independent LP form)."""
    k = q.size
    eye = np.eye(k)
    c = -np.concatenate([q, -q])  # maximise q.(d⁺ − d⁻)
    a_eq = np.concatenate([np.ones(k), -np.ones(k)])[None, :]
    a_ub = np.vstack([np.concatenate([np.ones(k), np.ones(k)])[None, :],  # Σ|d| ≤ θ_1
                      np.hstack([-eye, eye]),  # p = p0 + d ≥ 0
                      np.hstack([eye, eye])])  # |d_k| ≤ θ_∞
    b_ub = np.concatenate([[psi.theta_1], psi.p0, np.full(k, psi.theta_inf)])
    res = linprog(c, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=[0.0], bounds=(0, None), method="highs")
    assert res.status == 0
    return float(q @ psi.p0 - res.fun)


def test_worst_distribution_hand_case() -> None:
    q = np.array([4.0, 3.0, 2.0, 1.0])
    tight = AmbiguitySet(np.full(4, 0.25), theta_1=0.15, theta_inf=0.1)
    np.testing.assert_allclose(tight.worst(q), [0.325, 0.25, 0.25, 0.175], atol=1e-9)
    loose = AmbiguitySet(np.full(4, 0.25), theta_1=1.0, theta_inf=0.1)
    np.testing.assert_allclose(loose.worst(q), [0.35, 0.35, 0.15, 0.15], atol=1e-9)
    simplex = AmbiguitySet(np.full(4, 0.25), theta_1=2.0, theta_inf=1.0)
    np.testing.assert_allclose(simplex.worst(q), [1, 0, 0, 0], atol=1e-9)
    # a sample cannot lose more than it has
    small = AmbiguitySet(np.array([0.4, 0.3, 0.25, 0.05]), theta_1=1.0, theta_inf=0.2)
    np.testing.assert_allclose(small.worst(q), [0.6, 0.35, 0.05, 0.0], atol=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_worst_distribution_against_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = 6
    p0 = rng.dirichlet(np.ones(k))
    psi = AmbiguitySet(p0, theta_1=rng.uniform(0.05, 1.5), theta_inf=rng.uniform(0.02, 0.4))
    q = rng.normal(size=k)
    p_lp, p_greedy = psi.worst(q), psi.worst(q, method="greedy")
    assert psi.contains(p_lp) and psi.contains(p_greedy)
    best = brute_worst(q, psi)
    assert p_lp @ q == pytest.approx(best, abs=1e-9)
    assert p_greedy @ q == pytest.approx(best, abs=1e-9)
    # no random member of Ψ does better
    d = rng.normal(size=(2000, k))
    d -= d.mean(axis=1, keepdims=True)
    for scale in (0.01, 0.05, 0.2):
        cand = p0 + scale * d
        inside = [p for p in cand if psi.contains(p)]
        assert all(p @ q <= best + 1e-12 for p in inside)
    assert not psi.contains(p0 + np.r_[psi.theta_inf + 0.01, -(psi.theta_inf + 0.01), np.zeros(k - 2)])


# ------------------------------------------------------------------ C&CG against the monolithic dual LP

def test_ccg_equals_monolithic_dual_lp(dro: TwoStageDRO, results: dict[str, DROResult]) -> None:
    ccg = results["dro"]
    mono = dro.solve("dro", solver="monolithic")
    assert ccg.solver == "ccg" and mono.solver == "monolithic"
    assert close(ccg.objective, mono.objective)
    # strong duality: the monolithic value is W of its own plan
    assert close(mono.worst_cost, mono.objective)
    assert close(ccg.objective, ccg.worst_cost)
    # the same comparison with the historical constraint (same Ē)
    cd = results["cdro"]
    assert cd.hist_bound is not None
    cd_mono = dro.solve("cdro", solver="monolithic", hist_bound=cd.hist_bound)
    assert close(cd.objective, cd_mono.objective)


@pytest.mark.parametrize("method", ["dro", "cdro"])
def test_ccg_bounds_are_monotone_and_finite(method: str, results: dict[str, DROResult]) -> None:
    r = results[method]
    assert 2 <= r.iterations < 50
    assert len(r.lb_history) == len(r.ub_history) == r.iterations
    lb, ub = np.array(r.lb_history), np.array(r.ub_history)
    assert np.all(np.diff(lb) >= -1e-9 * np.abs(lb[1:]))  # master values only grow (cuts are added)
    assert np.all(np.diff(ub) <= 0)
    assert np.all(lb <= ub + 1e-9 * np.abs(ub))  # every master value is a valid lower bound
    assert ub[-1] - lb[-1] <= 1e-9 * max(1.0, abs(ub[-1]))
    assert r.n_cuts == r.iterations  # p0 plus one cut per non-final iteration
    assert r.paths[0] == f"{method}:ccg master #1" and len(r.paths) == 2 * r.iterations


def test_default_gap_and_max_iter(dro: TwoStageDRO, results: dict[str, DROResult]) -> None:
    r = dro.solve("dro")  # eps = 1e-4
    assert r.ub_history[-1] - r.lb_history[-1] <= 1e-4 * max(1.0, abs(r.objective))
    assert r.objective >= results["dro"].objective - 1e-9
    with pytest.raises(RuntimeError, match=r"did not converge in max_iter = 1 .*raise max_iter or eps"):
        dro.solve("dro", eps=0.0, max_iter=1)


# ------------------------------------------------------------------ method comparison (002 §4.2)

def test_method_orderings(results: dict[str, DROResult]) -> None:
    so, ro, dr, cd = results["so"], results["ro"], results["dro"], results["cdro"]
    tol = 1e-7
    # SO minimises H, DRO minimises W, RO minimises the worst single sample
    assert all(so.historical_cost <= r.historical_cost + tol for r in results.values())
    assert all(dr.worst_cost <= r.worst_cost + tol for r in results.values())
    assert all(ro.worst_sample_cost <= r.worst_sample_cost + tol for r in results.values())
    # RO protects against the whole simplex: the highest objective, and the highest H on the toy
    assert ro.objective == pytest.approx(ro.worst_sample_cost, rel=1e-9)
    assert ro.objective >= dr.objective >= so.objective
    assert ro.historical_cost > dr.historical_cost > so.historical_cost
    # CDRO (λ = 0.3) sits between SO and DRO, strictly on this toy
    assert so.historical_cost < cd.historical_cost < dr.historical_cost
    assert dr.worst_cost < cd.worst_cost < so.worst_cost
    assert cd.hist_bound == pytest.approx(so.historical_cost + 0.3 * (dr.historical_cost - so.historical_cost))
    assert cd.historical_cost <= cd.hist_bound * (1 + 1e-8) + 1e-9  # Ē loosened by hist_tol = 1e-8
    assert so.objective == pytest.approx(so.historical_cost, rel=1e-9)


def test_cdro_limits_in_lambda(dro: TwoStageDRO, results: dict[str, DROResult]) -> None:
    so, dr = results["so"], results["dro"]
    lam0 = dro.solve("cdro", lam=0.0, eps=1e-9)
    lam1 = dro.solve("cdro", lam=1.0, eps=1e-9)
    assert close(lam0.historical_cost, so.historical_cost, 1e-7)
    assert lam0.worst_cost <= so.worst_cost + 1e-7  # the most robust of the SO-optimal plans
    assert close(lam1.objective, dr.objective, 1e-9)
    ws = [dro.solve("cdro", lam=lam, eps=1e-9).worst_cost for lam in (0.0, 0.1, 0.3, 0.6, 1.0)]
    assert np.all(np.diff(ws) <= 1e-7)  # a looser Ē never hurts W


def test_cvar(dro: TwoStageDRO, results: dict[str, DROResult]) -> None:
    p0 = dro.ambiguity.p0
    zero = dro.solve("cvar", beta=0.0)
    assert close(zero.objective, results["so"].objective, 1e-9)
    r = results["cvar"]
    assert r.beta == 0.5
    assert close(r.objective, r.first_stage_cost + cvar(r.recourse_costs, 0.5, weights=p0), 1e-9)
    # optimal: no other method's plan has a lower c'x + CVaR
    for other in results.values():
        assert r.objective <= other.first_stage_cost + cvar(other.recourse_costs, 0.5, weights=p0) + 1e-7
    assert results["so"].objective <= r.objective <= results["ro"].objective


def test_cvar_matches_the_equal_weight_helper(samples: tuple[np.ndarray, np.ndarray]) -> None:
    e, _ = samples
    uniform = AmbiguitySet(np.full(K, 1.0 / K), theta_1=0.5, theta_inf=0.05)
    r = TwoStageDRO(toy_problem(e), uniform).solve("cvar", beta=0.8)
    assert close(r.objective, r.first_stage_cost + cvar(r.recourse_costs, 0.8), 1e-9)


# ------------------------------------------------------------------ evaluation and persistence

def independent_q(problem: TwoStageLP, x: np.ndarray, k: int) -> float:
    m = pyo.ConcreteModel()
    m.fs = pyo.Block()
    m.fs.T = pyo.RangeSet(0, T - 1)
    m.fs.x = pyo.Var(m.fs.T)
    for t in range(T):
        m.fs.x[t].fix(float(x[t]))
    m.rec = pyo.Block()
    m.obj = pyo.Objective(expr=problem.build_recourse(m.rec, k, m.fs))
    return HighsModel(m, f"sample {k}").solve().objective


def test_evaluate_and_persistence(dro: TwoStageDRO, results: dict[str, DROResult]) -> None:
    hm, model = dro.hm, dro.model
    ro = results["ro"]
    ev = dro.evaluate(ro.x)
    np.testing.assert_allclose(ev.recourse_costs, ro.recourse_costs, rtol=1e-9, atol=1e-9)
    for k in (0, 5, K - 1):
        assert ev.recourse_costs[k] == pytest.approx(independent_q(dro.problem, ro.x["x"], k), rel=1e-9)
    assert ev.first_stage_cost == pytest.approx(float(PRICE @ ro.x["x"]), rel=1e-12)
    assert ev.historical_cost == pytest.approx(ev.first_stage_cost + dro.ambiguity.p0 @ ev.recourse_costs)
    assert dro.ambiguity.contains(ev.worst_p)
    # the plan is released: SO again gives the same optimum, on the same master
    assert close(dro.solve("so").objective, results["so"].objective, 1e-9)
    assert dro.hm is hm and dro.model is model  # one master, never rebuilt
    assert dro.n_cuts >= K + 2  # RO's K cuts and the C&CG cuts share one pool
    with pytest.raises(ValueError, match=r"missing \['x'\]"):
        dro.evaluate({"y": np.zeros(T)})
    with pytest.raises(ValueError, match=r"x\['x'\] must hold 6 finite values"):
        dro.evaluate({"x": np.zeros(T + 1)})


def test_cdro_infeasible_limit_is_explained(dro: TwoStageDRO, results: dict[str, DROResult]) -> None:
    too_low = results["so"].historical_cost - 1.0
    with pytest.raises(SolveError, match=r"historical-cost limit .* cannot be met .*E_SO"):
        dro.solve("cdro", hist_bound=too_low, hist_tol=0.0)


# ------------------------------------------------------------------ reference samples

def test_historical_errors_bounds_and_autocorrelation() -> None:
    e = historical_errors(np.random.default_rng(3), 400, 3, 24, phi=0.7, sigma=0.1, bound=0.3)
    assert e.shape == (400, 3, 24)
    assert np.abs(e).max() <= 0.3
    assert e.std() == pytest.approx(0.1, rel=0.05)
    lag1 = np.corrcoef(e[..., :-1].ravel(), e[..., 1:].ravel())[0, 1]
    assert lag1 == pytest.approx(0.7, abs=0.03)
    clipped = historical_errors(np.random.default_rng(3), 400, 3, 24, sigma=0.2, bound=0.1)
    assert np.abs(clipped).max() == pytest.approx(0.1) and (np.abs(clipped) == 0.1).mean() > 0.3


def inertia(errors: np.ndarray, labels: np.ndarray) -> float:
    flat = errors.reshape(errors.shape[0], -1)
    sd = flat.std(axis=0)
    z = (flat - flat.mean(axis=0)) / np.where(sd > 1e-12, sd, 1.0)
    return sum(float(((z[labels == k] - z[labels == k].mean(axis=0)) ** 2).sum()) for k in np.unique(labels))


def test_reference_samples() -> None:
    errors = historical_errors(np.random.default_rng(11), 200, 3, 24)
    cen, p0, labels = reference_samples(errors, 50, np.random.default_rng(5))
    assert cen.shape == (50, 3, 24) and p0.shape == (50,) and labels.shape == (200,)
    assert p0.sum() == pytest.approx(1.0, abs=1e-12)
    counts = np.bincount(labels, minlength=50)
    assert counts.min() >= 1 and np.array_equal(counts / 200, p0)
    assert np.all(np.diff(p0) <= 0)  # ordered by size
    np.testing.assert_allclose(cen[7], errors[labels == 7].mean(axis=0), atol=1e-12)
    again = reference_samples(errors, 50, np.random.default_rng(5))
    assert all(np.array_equal(a, b) for a, b in zip((cen, p0, labels), again, strict=True))
    other = reference_samples(errors, 50, np.random.default_rng(6), restarts=2)
    assert not np.array_equal(other[2], labels)
    # the best of 20 restarts is at least as good as the first restart alone (same first child stream)
    one = reference_samples(errors, 50, np.random.default_rng(5), restarts=1)
    assert inertia(errors, labels) <= inertia(errors, one[2]) + 1e-9


def test_reference_samples_never_leave_a_cluster_empty() -> None:
    # 3 distinct days repeated: k-means can only find 3 centres, yet 5 clusters are asked for
    base = np.random.default_rng(0).normal(size=(3, 4))
    errors = np.repeat(base, [4, 3, 2], axis=0)
    _, p0, labels = reference_samples(errors, 5, np.random.default_rng(1), restarts=3)
    assert np.bincount(labels, minlength=5).min() >= 1 and p0.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"K must be <= M .*K = 10, M = 9"):
        reference_samples(errors, 10, np.random.default_rng(1))


# ------------------------------------------------------------------ validation

def test_bad_inputs_name_the_field(dro: TwoStageDRO) -> None:
    with pytest.raises(ValueError, match=r"method must be one of 'so', 'ro', 'dro', 'cdro', 'cvar', got 'sro'"):
        dro.solve("sro")
    assert METHODS == ("so", "ro", "dro", "cdro", "cvar")
    with pytest.raises(ValueError, match=r"lam .* must be in \[0, 1\], got 1.5"):
        dro.solve("cdro", lam=1.5)
    with pytest.raises(ValueError, match=r"lam .* must be in \[0, 1\], got -0.1"):
        dro.solve("cdro", lam=-0.1)
    with pytest.raises(ValueError, match=r"beta .* must be in \[0, 1\), got 1.0"):
        dro.solve("cvar", beta=1.0)
    with pytest.raises(ValueError, match=r"solver must be one of 'ccg', 'monolithic'"):
        dro.solve("dro", solver="benders")
    with pytest.raises(ValueError, match=r"solver='monolithic' applies to method 'dro' or 'cdro'"):
        dro.solve("so", solver="monolithic")
    for a1, ainf, field in [(0.0, 0.9, "alpha_1"), (1.0, 0.9, "alpha_1"), (0.9, 1.0, "alpha_inf"),
                            (0.9, -0.2, "alpha_inf")]:
        with pytest.raises(ValueError, match=rf"{field} must be in \(0, 1\)"):
            ambiguity_radii(200, 50, a1, ainf)
    with pytest.raises(ValueError, match=r"M must be a whole number >= 1, got 0"):
        ambiguity_radii(0, 50, 0.9, 0.9)
    with pytest.raises(ValueError, match=r"K must be a whole number >= 1"):
        ambiguity_radii(10, 2.5, 0.9, 0.9)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"p0 must be >= 0 and sum to 1"):
        AmbiguitySet(np.array([0.5, 0.6]), 0.1, 0.1)
    with pytest.raises(ValueError, match=r"theta_inf must be finite and >= 0"):
        AmbiguitySet(np.array([0.5, 0.5]), 0.1, math.nan)
    with pytest.raises(ValueError, match=r"3 samples but the ambiguity set has 12"):
        TwoStageDRO(toy_problem(np.zeros((3, T))), dro.ambiguity)

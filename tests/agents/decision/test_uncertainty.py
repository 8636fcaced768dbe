"""agents.decision.uncertainty: the CVaR envelope (SPEC §4.7, C-12 ... C-15) and bounded-error scenarios (SPEC §6.3).

CVaR is checked against the Rockafellar–Uryasev LP (C-14/C-15) and its dual, the worst case over the
ambiguity set C-12 (C-13), both solved independently with scipy's HiGHS ``linprog``, and against the
closed-form sorting formula.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog
from scipy.stats import norm

from agents.decision.uncertainty import bounded_errors, cvar, cvar_weights, unit_ar1_disturbances

costs_st = st.lists(st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False), min_size=1, max_size=16)
beta_st = st.floats(0.0, 0.95)


def ru_lp(costs: np.ndarray, beta: float) -> float:
    """min eta + 1/((1-beta) S) sum z_s  s.t.  z_s >= C_s - eta, z_s >= 0  (C-14, C-15)."""
    n = costs.size
    c = np.concatenate([[1.0], np.full(n, 1.0 / ((1.0 - beta) * n))])
    a_ub = np.hstack([-np.ones((n, 1)), -np.eye(n)])  # -eta - z_s <= -C_s
    res = linprog(c, A_ub=a_ub, b_ub=-costs, bounds=[(None, None)] + [(0, None)] * n, method="highs")
    assert res.status == 0, res.message
    return float(res.fun)


def envelope_lp(costs: np.ndarray, beta: float) -> float:
    """max_pi pi.C  s.t.  pi >= 0, sum pi = 1, pi_s <= 1/((1-beta) S)  (C-12, C-13)."""
    n = costs.size
    cap = 1.0 / ((1.0 - beta) * n)
    res = linprog(-costs, A_eq=np.ones((1, n)), b_eq=[1.0], bounds=[(0, min(cap, 1.0))] * n, method="highs")
    assert res.status == 0, res.message
    return float(-res.fun)


def cvar_by_sorting(costs: np.ndarray, beta: float) -> float:
    """Mean of the worst (1-beta) S scenarios, the fractional one counted by its fraction."""
    c = np.sort(costs)[::-1]
    m = (1.0 - beta) * c.size  # number of scenarios in the tail (may be fractional)
    k = min(math.floor(m + 1e-12), c.size)
    tail = c[:k].sum() + ((m - k) * c[k] if k < c.size else 0.0)
    return float(tail / m) if m <= c.size else float(c.mean())


def scale(costs: np.ndarray) -> float:
    return 1.0 + float(np.abs(costs).max())


# ------------------------------------------------------------------------------ CVaR


@settings(max_examples=60, deadline=None)
@given(costs=costs_st, beta=beta_st)
def test_cvar_equals_rockafellar_uryasev_lp_and_envelope(costs: list[float], beta: float) -> None:
    c = np.asarray(costs)
    value = cvar(c, beta)
    tol = 1e-7 * scale(c)
    assert value == pytest.approx(ru_lp(c, beta), abs=tol)
    assert value == pytest.approx(envelope_lp(c, beta), abs=tol)
    assert value == pytest.approx(cvar_by_sorting(c, beta), abs=tol)
    assert c.mean() - tol <= value <= c.max() + tol


@settings(max_examples=60, deadline=None)
@given(costs=costs_st, beta=beta_st)
def test_cvar_weights_lie_in_the_envelope_and_fill_the_costliest_first(costs: list[float], beta: float) -> None:
    c = np.asarray(costs)
    pi = cvar_weights(c, beta)
    cap = 1.0 / ((1.0 - beta) * c.size)
    assert pi.shape == c.shape
    assert pi.sum() == pytest.approx(1.0, abs=1e-12)
    assert (pi >= 0).all()
    assert (pi <= cap + 1e-12).all()
    # a costlier scenario never gets less weight than a cheaper one
    order = np.argsort(-c, kind="stable")
    assert (np.diff(pi[order]) <= 1e-12).all()
    assert float(pi @ c) == pytest.approx(cvar(c, beta), abs=1e-9 * scale(c))


def test_cvar_weights_paper_example_beta_08_s_12() -> None:
    """SPEC §4.7: cap 1/(0.2*12) = 0.41667 on each of the two costliest, 0.16667 on the third."""
    rng = np.random.default_rng(7)
    c = rng.permutation(np.arange(100.0, 1300.0, 100.0))  # 12 distinct costs
    pi = cvar_weights(c, 0.8)
    order = np.argsort(-c)
    np.testing.assert_allclose(pi[order[:3]], [5 / 12, 5 / 12, 1 / 6], atol=1e-12)
    np.testing.assert_array_equal(pi[order[3:]], 0.0)
    assert pi.sum() == pytest.approx(1.0, abs=1e-12)
    assert cvar(c, 0.8) == pytest.approx((1200 + 1100) * 5 / 12 + 1000 / 6, abs=1e-9)


@settings(max_examples=30, deadline=None)
@given(costs=costs_st)
def test_beta_zero_gives_the_mean_and_a_tail_of_one_scenario_gives_the_max(costs: list[float]) -> None:
    c = np.asarray(costs)
    assert cvar(c, 0.0) == pytest.approx(c.mean(), abs=1e-9 * scale(c))
    np.testing.assert_allclose(cvar_weights(c, 0.0), 1.0 / c.size, atol=1e-12)
    beta_max = 1.0 - 1.0 / c.size  # (1 - beta) S = 1: all weight on the costliest scenario
    if beta_max < 1.0:
        assert cvar(c, beta_max) == pytest.approx(c.max(), abs=1e-9 * scale(c))


@pytest.mark.parametrize("beta", [-0.1, 1.0, 1.5])
def test_cvar_rejects_beta_outside_0_1(beta: float) -> None:
    with pytest.raises(ValueError, match="beta"):
        cvar([1.0, 2.0], beta)
    with pytest.raises(ValueError, match="beta"):
        cvar_weights([1.0, 2.0], beta)


# ------------------------------------------------------------------- bounded errors


def test_bounded_errors_respect_the_bound_and_the_adverse_scenario() -> None:
    rng = np.random.default_rng(11)
    unit = 3.0 * rng.standard_normal((6, 4, 96))  # wide draws so that clipping happens often
    signs = np.array([-1.0, 1.0, -1.0, 1.0])
    for eps in (0.0, 0.05, 0.10, 0.20, 0.9):
        e = bounded_errors(unit, eps, 0.5, signs)
        assert e.shape == unit.shape
        assert (np.abs(e) <= eps + 1e-15).all()  # C-2
        np.testing.assert_array_equal(e[0], eps * np.repeat(signs[:, None], 96, axis=1))  # scenario 1 adverse
        np.testing.assert_allclose(e[1:], np.clip(0.5 * eps * unit[1:], -eps, eps), rtol=0, atol=1e-15)
        if eps > 0:
            assert (np.abs(e[1:]) == eps).any() and (np.abs(e[1:]) < eps).any()  # both clipped and free entries
    # the input draws are not modified (scenario 0 is overwritten only in the output)
    before = unit.copy()
    bounded_errors(unit, 0.1, 0.5, signs)
    np.testing.assert_array_equal(unit, before)
    # without adverse signs scenario 1 is an ordinary draw
    e = bounded_errors(unit, 0.1, 0.5)
    np.testing.assert_allclose(e[0], np.clip(0.05 * unit[0], -0.1, 0.1))


def test_bounded_errors_marginal_std_is_sigma_fraction_times_epsilon_clipped() -> None:
    rng = np.random.default_rng(20240601)
    unit = unit_ar1_disturbances(rng, n_series=8, n_scenarios=201, n_periods=96, phi=0.7)
    eps, frac = 0.10, 0.5
    e = bounded_errors(unit, eps, frac, np.ones(8))[1:]
    sigma = frac * eps
    # std of N(0, sigma^2) clipped at +-eps (= +-2 sigma): E[min(|Z|, a)^2] for a = eps / sigma
    a = eps / sigma
    inner = (norm.cdf(a) - norm.cdf(-a)) - 2 * a * norm.pdf(a)
    clipped_std = sigma * math.sqrt(inner + 2 * a * a * norm.sf(a))
    assert e.std() == pytest.approx(clipped_std, rel=0.02)
    assert e.std() == pytest.approx(sigma, rel=0.06)  # ~0.96 sigma: close to sigma_fraction * epsilon
    assert abs(e.mean()) < 0.05 * sigma
    assert np.mean(np.abs(e) == eps) == pytest.approx(2 * norm.sf(a), abs=0.01)


@pytest.mark.parametrize("phi", [0.0, 0.7, 0.9])
def test_ar1_paths_are_stationary_with_lag1_autocorrelation_phi(phi: float) -> None:
    rng = np.random.default_rng(3)
    x = unit_ar1_disturbances(rng, n_series=25, n_scenarios=8, n_periods=2000, phi=phi)
    assert x.shape == (8, 25, 2000)
    flat = x.reshape(-1, 2000)
    lag1 = np.mean(flat[:, 1:] * flat[:, :-1]) / np.mean(flat * flat)
    lag2 = np.mean(flat[:, 2:] * flat[:, :-2]) / np.mean(flat * flat)
    assert lag1 == pytest.approx(phi, abs=0.01)
    assert lag2 == pytest.approx(phi * phi, abs=0.015)
    assert flat.var() == pytest.approx(1.0, abs=0.02)
    # stationary from the start: every period, the first included, has unit variance
    short = unit_ar1_disturbances(rng, n_series=1, n_scenarios=20000, n_periods=3, phi=phi)
    np.testing.assert_allclose(short.var(axis=(0, 1)), 1.0, atol=0.04)
    # independent across series and scenarios
    assert abs(np.corrcoef(flat[0], flat[1])[0, 1]) < 0.15


def test_ar1_draws_are_reproducible_by_seed() -> None:
    a = unit_ar1_disturbances(np.random.default_rng(5), 3, 4, 96)
    b = unit_ar1_disturbances(np.random.default_rng(5), 3, 4, 96)
    c = unit_ar1_disturbances(np.random.default_rng(6), 3, 4, 96)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    np.testing.assert_array_equal(bounded_errors(a, 0.1, 0.5, [1, -1, 1]), bounded_errors(b, 0.1, 0.5, [1, -1, 1]))


def test_common_random_numbers_scale_linearly_with_epsilon() -> None:
    """The clip threshold |unit| > 1/sigma_fraction does not depend on epsilon: e(eps) is linear in eps."""
    unit = unit_ar1_disturbances(np.random.default_rng(9), 6, 12, 96)
    signs = np.array([-1.0, 1.0, -1.0, 1.0, -1.0, 1.0])
    e10 = bounded_errors(unit, 0.10, 0.5, signs)
    for eps in (0.05, 0.15, 0.20):
        np.testing.assert_allclose(bounded_errors(unit, eps, 0.5, signs), eps / 0.10 * e10, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("eps", [-0.01, 1.0, 1.5, float("nan")])
def test_bounded_errors_reject_invalid_epsilon(eps: float) -> None:
    with pytest.raises(ValueError, match="epsilon"):
        bounded_errors(np.zeros((2, 1, 4)), eps)


@pytest.mark.parametrize("phi", [-0.1, 1.0, 1.2, float("nan")])
def test_ar1_rejects_invalid_phi(phi: float) -> None:
    with pytest.raises(ValueError, match="phi"):
        unit_ar1_disturbances(np.random.default_rng(0), 1, 1, 4, phi)


def test_bounded_errors_reject_wrong_number_of_adverse_signs() -> None:
    with pytest.raises(ValueError, match="adverse_signs"):
        bounded_errors(np.zeros((2, 3, 4)), 0.1, 0.5, [1.0, -1.0])

"""agents.decision.wind_sets: data-driven wind uncertainty sets of paper 003 (SPEC §6.5), fitted to the
Monte Carlo wind days of §6.1 (:func:`sim.weather.wind_days.wind_day_samples`, tested in
tests/sim/weather/test_wind_days.py).

Checks are independent of the implementation where possible: Mahalanobis distances against
``np.linalg.solve``, the exact per-hour ranges of a small vertex set against brute-force enumeration,
the χ² radius against the closed form for 2 degrees of freedom.
"""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pytest

from agents.decision.robust import UnionSet, VertexSet
from agents.decision.wind_sets import (
    EllipsoidUnion,
    MixtureFit,
    box_set,
    calibrate_gamma,
    chi2_gamma,
    data_driven_set,
    ellipse_outline_2d,
    fit_dpgmm,
    polyhedral_set,
    principal_basis,
    project,
    projected_ellipse,
    set_summary,
)
from sim.weather.wind_days import WindSamples, wind_day_samples

CAP = 600.0
N_SMALL = 500


@pytest.fixture(scope="module")
def ws() -> WindSamples:
    return wind_day_samples(0, n_samples=N_SMALL)


@pytest.fixture(scope="module")
def fit(ws: WindSamples) -> MixtureFit:
    return fit_dpgmm(ws.total, 0)


@pytest.fixture(scope="module")
def fit_pca(ws: WindSamples) -> MixtureFit:
    return fit_dpgmm(ws.total, 0, pca_dim=3)


def direct_m2(u: np.ndarray, mu: np.ndarray, cov: np.ndarray) -> float:
    diff = u - mu
    return float(diff @ np.linalg.solve(cov, diff))


def random_members(part: VertexSet, rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """Random binary z respecting the pairs and the budget (the clip is checked by ``feasible``)."""
    p = part.n_binaries // 2
    budget = min(p, math.floor(part.budget)) if part.budget is not None else p
    out = []
    for _ in range(n):
        k = int(rng.integers(1, budget + 1))
        axes = rng.choice(p, size=k, replace=False)
        z = np.zeros(part.n_binaries)
        z[axes + p * rng.integers(0, 2, size=k)] = 1.0
        out.append(z)
    return out


# ------------------------------------------------------------------------------ determinism


def test_same_seed_same_fit_different_seed_differs() -> None:
    a = wind_day_samples(3, n_history=30, n_samples=240)
    fa, fb, fc = fit_dpgmm(a.total, 5), fit_dpgmm(a.total, 5), fit_dpgmm(a.total, 6)
    for name in ("weights", "means", "covariances", "labels", "raw_weights"):
        np.testing.assert_array_equal(getattr(fa, name), getattr(fb, name))
    assert fa.raw_weights.shape != fc.raw_weights.shape or not np.allclose(fa.raw_weights, fc.raw_weights)


# ------------------------------------------------------------------------------ mixture


def test_mixture_weights_and_components(ws: WindSamples, fit: MixtureFit) -> None:
    assert fit.n_c >= 1 and fit.n_c == int((fit.raw_weights >= 0.02).sum())
    assert fit.weights.sum() == pytest.approx(1.0)
    assert fit.weights.min() >= 0.02
    assert np.all(np.diff(fit.weights) <= 0)  # heaviest first
    assert fit.means.shape == (fit.n_c, 24) and fit.covariances.shape == (fit.n_c, 24, 24)
    for cov in fit.covariances:
        np.testing.assert_allclose(cov, cov.T, atol=1e-8)
        assert np.linalg.eigvalsh(cov).min() > 0
    assert fit.responsibilities.shape == (N_SMALL, fit.n_c)
    np.testing.assert_allclose(fit.responsibilities.sum(axis=1), 1.0)
    np.testing.assert_array_equal(fit.labels, fit.responsibilities.argmax(axis=1))
    assert fit.converged and fit.n_iter >= 1 and fit.random_state == 0
    # a higher threshold keeps fewer components
    strict = fit_dpgmm(ws.total, 0, min_weight=0.15)
    assert 1 <= strict.n_c < fit.n_c and strict.weights.min() >= 0.15


def test_mahalanobis_matches_direct_solve(ws: WindSamples, fit: MixtureFit) -> None:
    eu = EllipsoidUnion(fit, 5.0)
    m2 = eu.mahalanobis2(ws.total[:7])
    for i in range(7):
        for k in range(fit.n_c):
            assert m2[i, k] == pytest.approx(direct_m2(ws.total[i], fit.means[k], fit.covariances[k]), rel=1e-6)
    np.testing.assert_array_equal(eu.contains(ws.total[:7], rtol=0.0), m2.min(axis=1) <= 25.0)
    np.testing.assert_allclose(eu.mahalanobis2(ws.total[0]), m2[0])


def test_calibrated_gamma_gives_the_chosen_coverage(ws: WindSamples, fit: MixtureFit) -> None:
    n = ws.total.shape[0]
    for cov in (0.5, 0.9, 0.95, 0.99):
        g = calibrate_gamma(fit, ws.total, cov)
        frac = EllipsoidUnion(fit, g).coverage(ws.total)
        assert abs(frac - cov) <= 1.0 / n
        assert frac >= cov
        assert EllipsoidUnion(fit, g * (1 - 1e-9)).coverage(ws.total) < cov  # the smallest such Γ
    g_hist = calibrate_gamma(fit, ws.history_total, 0.9)
    assert EllipsoidUnion(fit, g_hist).coverage(ws.history_total) == pytest.approx(0.9, abs=1 / 365)


def test_chi2_gamma() -> None:
    assert chi2_gamma(2, 0.95) == pytest.approx(math.sqrt(-2 * math.log(0.05)))  # chi2_2 is Exp(1/2)
    assert chi2_gamma(24) == pytest.approx(6.0345, abs=1e-3)
    assert chi2_gamma(24, 0.99) > chi2_gamma(24, 0.95) > chi2_gamma(6, 0.95)


# ------------------------------------------------------------------------------ vertex sets


def _check_data_driven(fit: MixtureFit, gamma: float, gamma_b: float, rng: np.random.Generator) -> None:
    uset = data_driven_set(fit, gamma, gamma_b, cap_mw=CAP)
    assert isinstance(uset, UnionSet) and len(uset.parts) == fit.n_c
    eu = EllipsoidUnion(fit, gamma)
    sigma = gamma / math.sqrt(gamma_b)
    p = fit.dim
    n_full_budget = 0
    for k, part in enumerate(uset.parts):
        assert part.dim == 24 and part.n_binaries == 2 * p and part.budget == gamma_b
        np.testing.assert_array_equal(part.pairs, np.stack([np.arange(p), np.arange(p) + p], axis=1))
        np.testing.assert_array_equal(part.lower, np.zeros(24))
        np.testing.assert_array_equal(part.upper, np.full(24, CAP))
        # principal axes: decreasing length, orthogonal (in the fit space) columns
        lk = part.directions[:, :p]
        norms = np.linalg.norm(lk, axis=0)
        assert np.all(np.diff(norms) <= 1e-9 * norms[0])
        gram = lk.T @ lk
        np.testing.assert_allclose(gram - np.diag(np.diag(gram)), 0.0, atol=1e-8 * gram.max())
        # extreme vertices: full budget along the longest axes, each sign, and every single move
        extremes = []
        for sign in (0, 1):
            z = np.zeros(2 * p)
            z[np.arange(int(gamma_b)) + sign * p] = 1.0
            extremes.append(z)
        extremes += list(np.eye(2 * p))
        for z in extremes + random_members(part, rng, 200):
            b = z[:p] - z[p:]
            assert sigma * np.linalg.norm(b) <= gamma * (1 + 1e-12)
            if not part.feasible(z):
                continue
            u = part.point(z)
            assert u.min() >= -1e-9 and u.max() <= CAP + 1e-9
            m2 = eu.mahalanobis2(u)[k]
            # exactly ς²||b||² (this fails for Φ^{-1/2}), hence <= Γ²
            assert m2 == pytest.approx(sigma**2 * float(b @ b), rel=1e-6, abs=1e-9)
            assert m2 <= gamma**2 * (1 + 1e-9)
            assert eu.contains(u)
            if z.sum() == gamma_b:
                n_full_budget += 1
            if fit.pca_basis is not None:  # members stay in the PCA affine subspace
                assert fit.lift(fit.reduce(u)) == pytest.approx(u, abs=1e-6)
    assert n_full_budget > 0  # some vertices reach the ellipsoid surface


def test_data_driven_vertices_lie_in_their_ellipsoid_and_the_clip(ws: WindSamples, fit: MixtureFit) -> None:
    rng = np.random.default_rng(1)
    _check_data_driven(fit, calibrate_gamma(fit, ws.total, 0.95), 6.0, rng)
    _check_data_driven(fit, chi2_gamma(24), 3.0, rng)


def test_data_driven_set_with_pca_stays_in_24h_space(ws: WindSamples, fit_pca: MixtureFit) -> None:
    assert fit_pca.dim == 3 and fit_pca.full_dim == 24 and fit_pca.pca_basis is not None
    np.testing.assert_allclose(fit_pca.pca_basis.T @ fit_pca.pca_basis, np.eye(3), atol=1e-10)
    np.testing.assert_allclose(fit_pca.reduce(fit_pca.full_means()), fit_pca.means, atol=1e-8)
    g = calibrate_gamma(fit_pca, ws.total, 0.9)
    assert EllipsoidUnion(fit_pca, g).coverage(ws.total) == pytest.approx(0.9, abs=1 / N_SMALL)
    _check_data_driven(fit_pca, g, 2.0, np.random.default_rng(2))


def test_box_set_contains_the_quantile_range(ws: WindSamples) -> None:
    rng = np.random.default_rng(3)
    skewed = CAP * rng.beta(0.7, 2.5, size=(800, 24))
    for x in (ws.total, skewed):
        box = box_set(x)
        lo, hi = box.center, box.center + np.diag(box.directions)
        inside = (x >= lo - 1e-9) & (x <= hi + 1e-9)
        assert inside.mean(axis=0).min() >= 0.99
        assert box.n_binaries == 24 and box.budget is None and box.pairs.size == 0
        assert box.feasible(np.ones(24)) and box.feasible(np.zeros(24))
        s = set_summary(box)
        assert s["exact"]
        np.testing.assert_allclose(s["width_per_hour"], hi - lo)
    # the real wind days hit 0 and the capacity often enough (> 0.5 %) that the box is [0, cap]
    real = box_set(ws.total)
    assert real.center.max() < 1.0 and (real.center + np.diag(real.directions)).min() > CAP - 1.0


def test_polyhedral_set_containment() -> None:
    rng = np.random.default_rng(4)
    skewed = CAP * rng.beta(0.7, 2.5, size=(800, 24))  # mean below the box midpoint in every hour
    box = box_set(skewed)
    lo, hi = box.center, box.center + np.diag(box.directions)
    poly = polyhedral_set(skewed, cap_mw=CAP)
    mean, delta = skewed.mean(axis=0), 0.5 * (hi - lo)
    assert np.all(mean < 0.5 * (lo + hi))
    np.testing.assert_allclose(poly.center, mean)
    assert poly.budget == 12 and poly.n_binaries == 48
    points = [poly.point(z) for z in random_members(poly, rng, 300) if poly.feasible(z)]
    assert len(points) == 300  # truncated moves: every pair/budget-feasible z respects the clip
    for u in points:
        assert np.all(u >= np.maximum(0.0, mean - delta) - 1e-9)
        assert np.all(u <= np.minimum(CAP, mean + delta) + 1e-9)
        assert np.count_nonzero(np.abs(u - mean) > 1e-9) <= 12
        assert np.all(u <= hi + 1e-9)  # mean below the midpoint: never above the box ...
    assert any(np.any(u < lo - 1e-9) for u in points)  # ... but below it
    # a symmetric sample (mean = box midpoint): the polyhedral set lies inside the box and [0, cap]
    sym = np.vstack([skewed, CAP - skewed])
    sbox, spoly = box_set(sym), polyhedral_set(sym, cap_mw=CAP)
    slo, shi = sbox.center, sbox.center + np.diag(sbox.directions)
    for z in random_members(spoly, rng, 200):
        u = spoly.point(z)
        assert spoly.feasible(z) and np.all(u >= slo - 1e-6) and np.all(u <= shi + 1e-6)
    # the literal set [diag Δ, -diag Δ] loses the moves that leave [0, cap]; truncation keeps them all
    literal = polyhedral_set(skewed, cap_mw=CAP, truncate_moves=False)
    n_lost = int((mean - delta < 0).sum() + (mean + delta > CAP).sum())
    assert n_lost > 0
    assert set_summary(literal)["single_moves_feasible"] == [48 - n_lost]
    assert set_summary(poly)["single_moves_feasible"] == [48]
    s = set_summary(poly, "milp")
    assert s["exact"] and set_summary(poly)["exact"]
    np.testing.assert_allclose(s["width_per_hour"], np.minimum(CAP, mean + delta) - np.maximum(0.0, mean - delta))


def test_set_summary_ranges_against_enumeration() -> None:
    rng = np.random.default_rng(5)
    d, p = 4, 4
    a = rng.normal(size=(d, d))
    lk = np.linalg.cholesky(a @ a.T + 0.1 * np.eye(d)) * 10.0
    pairs = np.stack([np.arange(p), np.arange(p) + p], axis=1)
    part = VertexSet("tiny", np.full(d, 15.0), np.hstack([lk, -lk]), pairs, 2.0, np.zeros(d), np.full(d, 40.0))
    members = [part.point(np.array(z, float)) for z in itertools.product((0, 1), repeat=2 * p)
               if part.feasible(np.array(z, float))]
    lo_true, hi_true = np.min(members, axis=0), np.max(members, axis=0)
    exact = set_summary(part, "milp")
    assert exact["exact"]
    np.testing.assert_allclose(exact["lower_per_hour"], lo_true, atol=1e-6)
    np.testing.assert_allclose(exact["upper_per_hour"], hi_true, atol=1e-6)
    for method in ("lp", "bound"):  # outer bounds
        s = set_summary(part, method)
        assert np.all(np.array(s["lower_per_hour"]) <= lo_true + 1e-6)
        assert np.all(np.array(s["upper_per_hour"]) >= hi_true - 1e-6)
    lp, bd = set_summary(part, "lp"), set_summary(part, "bound")
    assert np.all(np.array(lp["width_per_hour"]) <= np.array(bd["width_per_hour"]) + 1e-6)
    union = UnionSet("u", (part, part))
    su = set_summary(union)
    assert su["parts"] == 2 and su["binaries"] == 16 and su["dimension"] == d and su["budgets"] == [2.0, 2.0]


# ------------------------------------------------------------------------------ plots


@pytest.mark.parametrize("which", ["fit", "fit_pca"])
def test_projected_ellipse_contains_projected_members(ws: WindSamples, which: str,
                                                      request: pytest.FixtureRequest) -> None:
    f: MixtureFit = request.getfixturevalue(which)
    basis = principal_basis(ws.total, 2)
    np.testing.assert_allclose(basis.T @ basis, np.eye(2), atol=1e-10)
    assert project(ws.total, basis).shape == (N_SMALL, 2)
    gamma = calibrate_gamma(f, ws.total, 0.9)
    eu = EllipsoidUnion(f, gamma)
    m2 = eu.mahalanobis2(ws.total)
    uset = data_driven_set(f, gamma, cap_mw=CAP)
    rng = np.random.default_rng(6)
    for k in range(f.n_c):
        c, s = projected_ellipse(f, gamma, k, basis)
        s_inv = np.linalg.inv(s)
        outline = ellipse_outline_2d(f, gamma, k, basis, n_points=90)
        assert outline.shape == (90, 2)
        q_out = np.einsum("ni,ij,nj->n", outline - c, s_inv, outline - c)
        np.testing.assert_allclose(q_out, 1.0, rtol=1e-6)
        # points of the ellipsoid project inside the projected ellipse ...
        pts = [uset.parts[k].point(z) for z in random_members(uset.parts[k], rng, 50) if uset.parts[k].feasible(z)]
        if f.pca_basis is None:  # samples inside the (full-dimensional) ellipsoid
            pts += list(ws.total[m2[:, k] <= gamma**2])
        if pts:
            x = project(np.array(pts), basis) - c
            assert np.all(np.einsum("ni,ij,nj->n", x, s_inv, x) <= 1 + 1e-7)
        # ... and the projection is tight: the ellipsoid point maximising w.u lands on the outline
        w = basis @ np.array([math.cos(0.3 * k), math.sin(0.3 * k)])
        cov = f.full_covariances()[k]
        u_star = f.full_means()[k] + gamma * cov @ w / math.sqrt(float(w @ cov @ w))
        assert float(eu.mahalanobis2(u_star)[k]) == pytest.approx(gamma**2, rel=1e-6)
        y = project(u_star, basis) - c
        assert float(y @ s_inv @ y) == pytest.approx(1.0, rel=1e-6)


# ------------------------------------------------------------------------------ bad inputs


def test_bad_inputs_raise_value_errors_naming_the_argument(ws: WindSamples, fit: MixtureFit) -> None:
    with pytest.raises(ValueError, match=r"samples must be a 2-D array"):
        fit_dpgmm(np.zeros(24), 0)
    with pytest.raises(ValueError, match=r"samples must be finite"):
        fit_dpgmm(np.full((30, 24), np.nan), 0)
    with pytest.raises(ValueError, match=r"n_components must be an integer in 1\.\.n_samples"):
        fit_dpgmm(ws.total[:10], 0)
    with pytest.raises(ValueError, match=r"pca_dim must be None or an integer in 1\.\.24"):
        fit_dpgmm(ws.total, 0, pca_dim=25)
    with pytest.raises(ValueError, match=r"min_weight must be in \[0, 1\)"):
        fit_dpgmm(ws.total, 0, min_weight=1.0)
    with pytest.raises(ValueError, match=r"seed must be an integer >= 0"):
        fit_dpgmm(ws.total, -1)
    for cov in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match=r"coverage must be in the open interval \(0, 1\)"):
            calibrate_gamma(fit, ws.total, cov)
    with pytest.raises(ValueError, match=r"level must be in the open interval \(0, 1\)"):
        chi2_gamma(24, 1.0)
    with pytest.raises(ValueError, match=r"gamma_b must be finite and >= 1"):
        data_driven_set(fit, 5.0, 0.5, cap_mw=CAP)
    with pytest.raises(ValueError, match=r"gamma must be finite and > 0"):
        data_driven_set(fit, 0.0, cap_mw=CAP)
    with pytest.raises(ValueError, match=r"cap_mw must be a finite value > 0 or a \(24,\) vector"):
        data_driven_set(fit, 5.0, cap_mw=np.ones(3))
    with pytest.raises(ValueError, match=r"centre .* outside \[0, cap_mw"):
        data_driven_set(fit, 5.0, cap_mw=1.0)
    with pytest.raises(ValueError, match=r"u must have shape \(24,\) or \(n, 24\)"):
        EllipsoidUnion(fit, 5.0).mahalanobis2(np.zeros((3, 23)))
    with pytest.raises(ValueError, match=r"q_low and q_high must satisfy 0 <= q_low < q_high <= 1"):
        box_set(ws.total, 0.9, 0.1)
    with pytest.raises(ValueError, match=r"gamma_poly must be finite and >= 0"):
        polyhedral_set(ws.total, -1.0, cap_mw=CAP)
    with pytest.raises(ValueError, match=r"basis must have orthonormal columns"):
        project(ws.total, np.ones((24, 2)))
    with pytest.raises(ValueError, match=r"k must be a component index"):
        ellipse_outline_2d(fit, 5.0, fit.n_c, principal_basis(ws.total))
    with pytest.raises(ValueError, match=r"method must be 'bound', 'lp' or 'milp'"):
        set_summary(box_set(ws.total), "exact")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ paper size


@pytest.mark.slow
def test_paper_size_2000_samples() -> None:
    """003's 2000 samples with the SPEC settings (10-20 s for the fit on an idle machine)."""
    ws = wind_day_samples(0)
    assert ws.total.shape == (2000, 24) and ws.history_total.shape == (365, 24)
    t0 = time.perf_counter()
    f = fit_dpgmm(ws.total, 0)
    elapsed = time.perf_counter() - t0
    assert f.converged and 1 <= f.n_c <= 20 and f.weights.min() >= 0.02
    g = calibrate_gamma(f, ws.total, 0.95)
    assert abs(EllipsoidUnion(f, g).coverage(ws.total) - 0.95) <= 1 / 2000
    _check_data_driven(f, g, 6.0, np.random.default_rng(7))
    print(f"n_c = {f.n_c}, fit {elapsed:.1f} s, calibrated Γ = {g:.3f}, χ² Γ = {chi2_gamma(24):.3f}")

r"""Data-driven wind uncertainty sets of paper 003 (SPEC §6.5), built on the Monte Carlo wind of SPEC §6.1.

Pipeline
--------
1. **Data** (SPEC §6.5 "Data" `[proposed]`): ``(n, 24)`` daily wind profiles (MW).  Paper 003's are
   drawn from the TMY3-fitted weather model by :func:`sim.weather.wind_days.wind_day_samples` (365
   history days and 2000 expansion samples of two correlated wind farms); this module takes any such
   array and never samples weather itself.
2. **Infinite GMM** (:func:`fit_dpgmm`, 003 eqs. 7–8, SPEC §6.5 `[proposed]`): truncated variational
   Dirichlet-process mixture, ``sklearn.mixture.BayesianGaussianMixture`` with the SPEC settings;
   components with weight ``>= 0.02`` are kept (``n_c`` of them), weights renormalised.  Optional PCA to
   ``pca_dim`` dimensions (``u = ē + V ζ``).
3. **Union of ellipsoids** (:class:`EllipsoidUnion`, 003 eq. 9 corrected, ``Φ^{1/2}``):
   ``U = ∪_k {u : (u − μ_k)^T Φ_k^{-1} (u − μ_k) <= Γ²}``; ``Γ`` from :func:`chi2_gamma` (SPEC default
   ``Γ² = χ²_{d,0.95}``) or calibrated to a sample coverage (:func:`calibrate_gamma`).
4. **HiGHS-compatible vertex set** (:func:`data_driven_set`, SPEC §6.5 ``U^B_k`` `[proposed]`): per
   component a :class:`~agents.decision.robust.VertexSet` ``μ_k + ς L_k (b^+ − b^-)`` with ``ς = Γ/√Γ_B``, pair
   exclusivity, budget ``Γ_B`` and the clip ``0 <= u <= P^{WT,cap}``; the union is a
   :class:`~agents.decision.robust.UnionSet`.
5. **Comparison sets** (003 Table 3, SPEC §6.5 `[proposed definitions]`): :func:`box_set`,
   :func:`polyhedral_set`.
6. Plot support (:func:`principal_basis`, :func:`project`, :func:`ellipse_outline_2d`) and report
   summaries (:func:`set_summary`).

Randomness (DESIGN principle 5): every draw derives from the caller's seed through
``SeedSequence`` spawning; the same seed gives an identical fit.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from agents.decision.robust import UnionSet, VertexSet

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
SeedArg = int | np.random.SeedSequence

#: SPEC §6.5 settings of the truncated DP-GMM.
N_COMPONENTS = 20
WEIGHT_CONCENTRATION_PRIOR = 1.0
MIN_WEIGHT = 0.02
MAX_ITER = 2000
REG_COVAR = 1e-6
#: SPEC §6.5 budgets: Γ_B of the data-driven vertex set, Γ^poly of the polyhedral set; Γ level.
GAMMA_B = 6.0
GAMMA_POLY = 12.0
CHI2_LEVEL = 0.95
#: Box quantiles of 003 Table 3 (SPEC §6.5).
BOX_Q_LOW = 0.005
BOX_Q_HIGH = 0.995
#: A centre this far (relative to capacity) outside [0, cap] is rounding and is clipped; farther raises.
_CENTER_TOL = 1e-6


# ------------------------------------------------------------------------------ validation helpers


def _seed_sequence(seed: SeedArg, arg: str = "seed") -> np.random.SeedSequence:
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or int(seed) < 0:
        raise ValueError(f"{arg} must be an integer >= 0 or a numpy SeedSequence, got {seed!r}")
    return np.random.SeedSequence(int(seed))


def _as_samples(samples: npt.ArrayLike, arg: str = "samples", min_rows: int = 2) -> FloatArray:
    x = np.asarray(samples, dtype=float)
    if x.ndim != 2 or x.shape[0] < min_rows or x.shape[1] < 1:
        raise ValueError(f"{arg} must be a 2-D array (n_samples, n_hours) with n_samples >= {min_rows}, "
                         f"got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{arg} must be finite")
    return x


def _as_points(u: npt.ArrayLike, dim: int, arg: str = "u") -> tuple[FloatArray, bool]:
    """``u`` as ``(n, dim)`` and whether it was a single point."""
    x = np.asarray(u, dtype=float)
    single = x.ndim == 1
    if single:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"{arg} must have shape ({dim},) or (n, {dim}), got {np.shape(u)}")
    return x, single


def _cap_vector(cap_mw: float | npt.ArrayLike, dim: int, arg: str = "cap_mw") -> FloatArray:
    cap = np.asarray(cap_mw, dtype=float)
    if cap.ndim == 0:
        cap = np.full(dim, float(cap))
    if cap.shape != (dim,) or not np.all(np.isfinite(cap)) or np.any(cap <= 0):
        raise ValueError(f"{arg} must be a finite value > 0 or a ({dim},) vector of them, got {cap_mw!r}")
    return np.asarray(cap, dtype=float)


def _check_gamma(gamma: float, arg: str = "gamma") -> float:
    g = float(gamma)
    if not (math.isfinite(g) and g > 0):
        raise ValueError(f"{arg} must be finite and > 0, got {gamma!r}")
    return g


def _check_open_unit(value: float, arg: str) -> float:
    v = float(value)
    if not 0.0 < v < 1.0:
        raise ValueError(f"{arg} must be in the open interval (0, 1), got {value!r}")
    return v


# ------------------------------------------------------------------------------ mixture


def _principal_axes(cov: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Eigenvalues (decreasing, clamped > 0) and eigenvectors (columns; each with its largest-magnitude
    entry positive, so the result is deterministic) of a covariance matrix."""
    lam, q = np.linalg.eigh(0.5 * (cov + cov.T))
    lam, q = lam[::-1], q[:, ::-1]
    lam = np.maximum(lam, max(float(lam[0]), 1e-300) * 1e-15)
    sign = np.sign(q[np.argmax(np.abs(q), axis=0), np.arange(q.shape[1])])
    return np.asarray(lam, dtype=float), np.asarray(q * np.where(sign == 0, 1.0, sign), dtype=float)


@dataclass(frozen=True, eq=False)
class MixtureFit:
    """The kept components of a DP-GMM fit (SPEC §6.5, 003 eqs. 7–8).

    ``weights`` ``(n_c,)`` (renormalised, sum 1), ``means`` ``(n_c, p)``, ``covariances``
    ``(n_c, p, p)``: in the fit space, which is the 24-h space (``p = 24``) or, with PCA, the reduced
    coordinates ``ζ = V^T (u − ē)`` (``pca_mean`` ē ``(D,)``, ``pca_basis`` V ``(D, p)`` orthonormal
    columns).  ``labels`` / ``responsibilities`` ``(n, n_c)``: of the fitted samples over the kept
    components (rows renormalised).  ``raw_weights``: all ``n_components`` weights before pruning.
    ``converged``/``n_iter``/``lower_bound``: sklearn's diagnostics; the remaining fields are the settings.
    """

    weights: FloatArray
    means: FloatArray
    covariances: FloatArray
    labels: IntArray
    responsibilities: FloatArray
    raw_weights: FloatArray
    converged: bool
    n_iter: int
    lower_bound: float
    n_components: int
    weight_concentration_prior: float
    min_weight: float
    max_iter: int
    reg_covar: float
    random_state: int
    pca_mean: FloatArray | None = None
    pca_basis: FloatArray | None = None
    fit_seconds: float = math.nan

    @property
    def n_c(self) -> int:
        """Number of kept components (SPEC §6.5 ``n_c``)."""
        return int(self.weights.shape[0])

    @property
    def dim(self) -> int:
        """Dimension ``p`` of the fit (ellipsoid) space."""
        return int(self.means.shape[1])

    @property
    def full_dim(self) -> int:
        """Dimension ``D`` of the profiles (24)."""
        return self.dim if self.pca_basis is None else int(self.pca_basis.shape[0])

    def reduce(self, u: npt.ArrayLike) -> FloatArray:
        """Profiles ``(n, D)`` (or ``(D,)``) to fit coordinates: ``V^T (u − ē)`` with PCA, else ``u``."""
        x, single = _as_points(u, self.full_dim)
        if self.pca_basis is not None and self.pca_mean is not None:
            x = (x - self.pca_mean) @ self.pca_basis
        return np.asarray(x[0] if single else x, dtype=float)

    def lift(self, zeta: npt.ArrayLike) -> FloatArray:
        """Fit coordinates ``(n, p)`` (or ``(p,)``) to profiles: ``ē + V ζ`` with PCA, else ``ζ``."""
        x, single = _as_points(zeta, self.dim, "zeta")
        if self.pca_basis is not None and self.pca_mean is not None:
            x = self.pca_mean + x @ self.pca_basis.T
        return np.asarray(x[0] if single else x, dtype=float)

    def full_means(self) -> FloatArray:
        """Component centres in the 24-h space ``(n_c, D)``."""
        return np.asarray(self.lift(self.means).reshape(self.n_c, self.full_dim), dtype=float)

    def full_covariances(self) -> FloatArray:
        """Component covariances in the 24-h space ``(n_c, D, D)`` (``V Φ_k V^T``, rank ``p``, with PCA)."""
        if self.pca_basis is None:
            return self.covariances.copy()
        v = self.pca_basis
        return np.asarray(np.einsum("ia,kab,jb->kij", v, self.covariances, v), dtype=float)


def fit_dpgmm(
    samples: npt.ArrayLike,
    seed: SeedArg,
    n_components: int = N_COMPONENTS,
    weight_concentration_prior: float = WEIGHT_CONCENTRATION_PRIOR,
    min_weight: float = MIN_WEIGHT,
    pca_dim: int | None = None,
    max_iter: int = MAX_ITER,
    reg_covar: float = REG_COVAR,
) -> MixtureFit:
    """Infinite GMM of the daily profiles (003 eqs. 7–8; SPEC §6.5 implementation `[proposed]`).

    ``sklearn.mixture.BayesianGaussianMixture(weight_concentration_prior_type="dirichlet_process",
    covariance_type="full", ...)`` with the given settings (SPEC defaults) and ``random_state`` = ``seed``
    (a SeedSequence is turned into an int by ``generate_state``).  Components with weight
    ``>= min_weight`` are kept and their weights renormalised (``n_c``); if none reaches it the heaviest
    is kept.  ``pca_dim``: fit in the first ``pca_dim`` principal coordinates of the samples instead
    (SPEC option ``d <= 6``; the union then lives in ``ē + V ζ``).
    """
    from sklearn.mixture import BayesianGaussianMixture

    x = _as_samples(samples)
    n, d = x.shape
    if isinstance(n_components, bool) or not isinstance(n_components, int | np.integer) \
            or not 1 <= n_components <= n:
        raise ValueError(f"n_components must be an integer in 1..n_samples ({n}), got {n_components!r}")
    if not (math.isfinite(weight_concentration_prior) and weight_concentration_prior > 0):
        raise ValueError(f"weight_concentration_prior must be finite and > 0, got {weight_concentration_prior!r}")
    if not 0.0 <= float(min_weight) < 1.0:
        raise ValueError(f"min_weight must be in [0, 1), got {min_weight!r}")
    if pca_dim is not None and (isinstance(pca_dim, bool) or not isinstance(pca_dim, int | np.integer)
                                or not 1 <= pca_dim <= d):
        raise ValueError(f"pca_dim must be None or an integer in 1..{d}, got {pca_dim!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int | np.integer) or max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    if not (math.isfinite(reg_covar) and reg_covar >= 0):
        raise ValueError(f"reg_covar must be finite and >= 0, got {reg_covar!r}")
    ss = _seed_sequence(seed)
    random_state = int(seed) if not isinstance(seed, np.random.SeedSequence) \
        else int(ss.generate_state(1, dtype=np.uint32)[0])

    pca_mean: FloatArray | None = None
    pca_basis: FloatArray | None = None
    data = x
    if pca_dim is not None:
        pca_mean = x.mean(axis=0)
        pca_basis = _top_directions(x - pca_mean, int(pca_dim))
        data = (x - pca_mean) @ pca_basis

    t0 = time.perf_counter()
    gm = BayesianGaussianMixture(
        n_components=int(n_components), covariance_type="full", reg_covar=float(reg_covar),
        max_iter=int(max_iter), weight_concentration_prior_type="dirichlet_process",
        weight_concentration_prior=float(weight_concentration_prior), random_state=random_state,
    ).fit(data)
    elapsed = time.perf_counter() - t0
    raw = np.asarray(gm.weights_, dtype=float)
    keep = np.flatnonzero(raw >= min_weight)
    if keep.size == 0:
        keep = np.array([int(np.argmax(raw))])
    keep = keep[np.argsort(-raw[keep], kind="stable")]  # heaviest first
    resp = np.asarray(gm.predict_proba(data), dtype=float)[:, keep]
    row = resp.sum(axis=1, keepdims=True)
    resp = np.where(row > 0, resp / np.where(row > 0, row, 1.0), 1.0 / keep.size)
    return MixtureFit(
        weights=raw[keep] / raw[keep].sum(), means=np.asarray(gm.means_, dtype=float)[keep],
        covariances=np.asarray(gm.covariances_, dtype=float)[keep],
        labels=np.asarray(np.argmax(resp, axis=1), dtype=np.int64), responsibilities=resp, raw_weights=raw,
        converged=bool(gm.converged_), n_iter=int(gm.n_iter_), lower_bound=float(gm.lower_bound_),
        n_components=int(n_components), weight_concentration_prior=float(weight_concentration_prior),
        min_weight=float(min_weight), max_iter=int(max_iter), reg_covar=float(reg_covar), random_state=random_state,
        pca_mean=pca_mean, pca_basis=pca_basis, fit_seconds=elapsed,
    )


# ------------------------------------------------------------------------------ ellipsoids


def chi2_gamma(d: int, level: float = CHI2_LEVEL) -> float:
    """SPEC §6.5 default ``Γ = sqrt(χ²_{d, level})`` (a Gaussian component's ``level`` ellipsoid)."""
    if isinstance(d, bool) or not isinstance(d, int | np.integer) or d < 1:
        raise ValueError(f"d must be an integer >= 1, got {d!r}")
    from scipy import stats  # imported here: scipy.stats costs 0.3 s of start-up and only this needs it

    lv = _check_open_unit(level, "level")
    return float(math.sqrt(stats.chi2.ppf(lv, int(d))))


@dataclass(frozen=True, eq=False)
class EllipsoidUnion:
    r"""003 eq. 9 (corrected, SPEC §6.5): ``∪_k {u : (u − μ_k)^T Φ_k^{-1} (u − μ_k) <= Γ²}``.

    Points are profiles in the 24-h space; with a PCA fit they are first reduced to ``ζ = V^T(u − ē)``,
    so membership is that of the cylinder over the reduced ellipsoids (the residual outside the PCA
    subspace is ignored; the vertex sets of :func:`data_driven_set` lie in the subspace).  Quadratic
    forms use the eigen-decomposition of ``Φ_k`` (the same principal axes as the vertex set).
    """

    fit: MixtureFit
    gamma: float
    _lam: FloatArray = field(init=False, repr=False)
    _q: FloatArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "gamma", _check_gamma(self.gamma))
        axes = [_principal_axes(c) for c in self.fit.covariances]
        object.__setattr__(self, "_lam", np.stack([a[0] for a in axes]))
        object.__setattr__(self, "_q", np.stack([a[1] for a in axes]))

    def mahalanobis2(self, u: npt.ArrayLike) -> FloatArray:
        """``(u − μ_k)^T Φ_k^{-1} (u − μ_k)`` per point and component: ``(n, n_c)`` (``(n_c,)`` for one point)."""
        x, single = _as_points(u, self.fit.full_dim)
        zeta = self.fit.reduce(x)
        diff = zeta[:, None, :] - self.fit.means[None, :, :]  # (n, n_c, p)
        y = np.einsum("nkp,kpa->nka", diff, self._q) / np.sqrt(self._lam)[None, :, :]
        m2 = np.asarray(np.sum(y * y, axis=2), dtype=float)
        return m2[0] if single else m2

    def min_distance(self, u: npt.ArrayLike) -> FloatArray:
        """``min_k sqrt(mahalanobis2)``: the smallest ``Γ`` whose union contains each point."""
        m2 = np.atleast_2d(self.mahalanobis2(u))
        return np.asarray(np.sqrt(m2.min(axis=1)), dtype=float)

    def contains(self, u: npt.ArrayLike, rtol: float = 1e-9) -> npt.NDArray[np.bool_]:
        """Whether each point lies in some ellipsoid, ``min_k m2 <= Γ² (1 + rtol)`` (``(n,)`` bool; a 0-d
        bool array for one point).  ``rtol`` absorbs the rounding of points on the surface (the vertices
        of :func:`data_driven_set` with a full budget)."""
        m2 = self.mahalanobis2(u)
        return np.asarray(np.min(m2, axis=-1) <= self.gamma**2 * (1.0 + rtol))

    def coverage(self, samples: npt.ArrayLike, rtol: float = 0.0) -> float:
        """Fraction of ``samples`` ``(n, D)`` inside the union (exact test ``m2 <= Γ²`` by default)."""
        x = _as_samples(samples, min_rows=1)
        return float(np.mean(self.contains(x, rtol)))


def calibrate_gamma(fit: MixtureFit, samples: npt.ArrayLike, coverage: float = 0.95) -> float:
    """Smallest ``Γ`` whose union contains ``coverage`` of ``samples`` (SPEC §6.5 "Γ", data-driven option).

    ``Γ² = `` the ``ceil(coverage · n)``-th smallest ``min_k`` squared Mahalanobis distance (the empirical
    quantile), nudged up by rounding so that ``Γ² >=`` it in floating point; the union then contains
    ``ceil(coverage · n)`` samples (more only on ties): the fraction is ``coverage`` within ``1/n``.
    """
    cov = _check_open_unit(coverage, "coverage")
    x = _as_samples(samples, min_rows=1)
    m2 = np.sort(EllipsoidUnion(fit, 1.0).mahalanobis2(x).min(axis=1))
    k = max(1, math.ceil(cov * m2.size - 1e-9))
    target = float(m2[k - 1])
    g = math.sqrt(max(target, 0.0))
    while g * g < target:
        g = math.nextafter(g, math.inf)
    return max(g, np.finfo(float).tiny)


# ------------------------------------------------------------------------------ vertex sets


def _box_bounds(cap: FloatArray) -> tuple[FloatArray, FloatArray]:
    return np.zeros_like(cap), cap.copy()


def _clip_center(c: FloatArray, cap: FloatArray, what: str) -> FloatArray:
    tol = _CENTER_TOL * cap
    bad = (c < -tol) | (c > cap + tol)
    if np.any(bad):
        t = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{what}: centre {c[t]:.6g} MW at hour index {t} lies outside [0, cap_mw = {cap[t]:.6g}] "
                         "(with PCA, use a larger pca_dim or none)")
    return np.asarray(np.clip(c, 0.0, cap), dtype=float)


def data_driven_set(
    fit: MixtureFit,
    gamma: float,
    gamma_b: float = GAMMA_B,
    *,
    cap_mw: float | npt.ArrayLike,
    name: str = "data-driven",
) -> UnionSet:
    r"""SPEC §6.5 ``U^B = ∪_k U^B_k`` `[proposed]`: the HiGHS-compatible inner approximation of eq. 9.

    Part ``k`` is a :class:`~agents.decision.robust.VertexSet` with center ``μ_k`` (mapped to ``ē + V μ_k`` with PCA),
    directions ``ς [L_k, −L_k]`` (``V [L_k, −L_k]`` with PCA, so the set stays in the 24-h space),
    pairs ``(i, i + p)`` (``b^+_i + b^-_i <= 1``), budget ``Γ_B`` and the clip ``0 <= u <= cap_mw``,
    ``ς = Γ/√Γ_B``.  Every member ``u = μ_k + ς L_k b`` has ``||b||² <= Γ_B``, hence
    ``(u − μ_k)^T Φ_k^{-1} (u − μ_k) = ς² ||b||² <= Γ²``: it lies in ellipsoid ``k``.

    ``L_k`` holds the **principal axes** of ``Φ_k`` (eigenvectors times square-root eigenvalues,
    decreasing eigenvalue), not a Cholesky factor.  Any ``L L^T = Φ`` keeps the inclusion, but with a
    budget ``Γ_B < p`` the set moves along at most ``Γ_B`` columns at once: with principal axes those are
    orthogonal modes of the component and the budget can be spent on the largest-variance ones (daily
    level, ramps), whereas Cholesky columns depend on the arbitrary order of the hours (column 1 moves
    every hour, the last only hour 24) and make the set's shape order-dependent.  Eigenvector signs are
    fixed (largest entry positive) for reproducibility.

    The centre must lie in ``[0, cap_mw]`` (``z = 0`` is a member of a ``VertexSet``); a rounding-size
    violation (``<= 1e-6 cap``) is clipped, a larger one raises.
    """
    g = _check_gamma(gamma)
    gb = float(gamma_b)
    if not (math.isfinite(gb) and gb >= 1.0):
        raise ValueError(f"gamma_b must be finite and >= 1, got {gamma_b!r}")
    cap = _cap_vector(cap_mw, fit.full_dim)
    lower, upper = _box_bounds(cap)
    sigma = g / math.sqrt(gb)
    p = fit.dim
    pairs = np.stack([np.arange(p), np.arange(p) + p], axis=1).astype(np.int64)
    centers = fit.full_means()
    parts: list[VertexSet] = []
    for k in range(fit.n_c):
        lam, q = _principal_axes(fit.covariances[k])
        lk = q * np.sqrt(lam)[None, :]
        if fit.pca_basis is not None:
            lk = fit.pca_basis @ lk
        c = _clip_center(centers[k], cap, f"data_driven_set component {k}")
        parts.append(VertexSet(f"{name}[{k}]", c, sigma * np.hstack([lk, -lk]), pairs, gb, lower, upper))
    return UnionSet(name, tuple(parts))


def box_set(samples: npt.ArrayLike, q_low: float = BOX_Q_LOW, q_high: float = BOX_Q_HIGH,
            name: str = "box") -> VertexSet:
    """003 Table 3 box set (SPEC §6.5): ``u_low <= u <= u_high`` with the per-hour empirical quantiles.

    Vertex form: center = the ``q_low`` quantile, directions = ``diag(u_high − u_low)``, no pairs, no
    budget (its members are the box corners); bounds ``[u_low, u_high]``.
    """
    x = _as_samples(samples)
    lo_q = float(q_low)
    hi_q = float(q_high)
    if not 0.0 <= lo_q < hi_q <= 1.0:
        raise ValueError(f"q_low and q_high must satisfy 0 <= q_low < q_high <= 1, got {q_low!r}, {q_high!r}")
    lo = np.quantile(x, lo_q, axis=0)
    hi = np.quantile(x, hi_q, axis=0)
    return VertexSet(name, lo, np.diag(hi - lo), budget=None, lower=lo.copy(), upper=hi.copy())


def polyhedral_set(
    samples: npt.ArrayLike,
    gamma_poly: float = GAMMA_POLY,
    *,
    cap_mw: float | npt.ArrayLike,
    q_low: float = BOX_Q_LOW,
    q_high: float = BOX_Q_HIGH,
    truncate_moves: bool = True,
    name: str = "polyhedral",
) -> VertexSet:
    """003 Table 3 polyhedral set (SPEC §6.5): ``u = ū + Δ (ζ^+ − ζ^-)``, ``ζ^+_t + ζ^-_t <= 1``,
    ``Σ (ζ^+ + ζ^-) <= Γ^poly``, clip ``0 <= u <= cap_mw``; ``ū`` the sample mean, ``Δ`` the half-width
    of the box (the :func:`box_set` quantiles ``q_low``, ``q_high``).

    The clip of a :class:`~agents.decision.robust.VertexSet` is a constraint on ``ζ`` (the set is intersected with
    ``[0, cap]``, not projected on it).  Wind days are skewed (mean well below the box midpoint), so
    ``ū_t − Δ_t < 0`` in most hours and the literal set would lose every downward move.  Because each
    move acts on one hour only, the projection is exact and linear: with ``truncate_moves`` (default)
    the moves are ``Δ^+_t = min(Δ_t, cap_t − ū_t)`` and ``Δ^-_t = min(Δ_t, ū_t)``, i.e. the members are
    ``clip(ū ± Δ)`` in up to ``Γ^poly`` hours.  ``truncate_moves=False`` keeps ``[diag Δ, −diag Δ]`` literally.

    Containment: every member has ``max(0, ū_t − Δ_t) <= u_t <= min(cap_t, ū_t + Δ_t)``.  The per-hour range
    has the box's width but is centred on the mean, so it lies inside the box only where ``ū_t`` is the
    box midpoint or the clip cuts the overshoot (e.g. when the box is ``[0, cap]``); above the box where
    ``ū_t`` exceeds the midpoint, below it where it is less.
    """
    x = _as_samples(samples)
    gp = float(gamma_poly)
    if not (math.isfinite(gp) and gp >= 0):
        raise ValueError(f"gamma_poly must be finite and >= 0, got {gamma_poly!r}")
    d = x.shape[1]
    cap = _cap_vector(cap_mw, d)
    box = box_set(x, q_low, q_high)
    delta = 0.5 * np.diag(box.directions)
    mean = _clip_center(x.mean(axis=0), cap, "polyhedral_set")
    up, down = (np.minimum(delta, cap - mean), np.minimum(delta, mean)) if truncate_moves else (delta, delta)
    lower, upper = _box_bounds(cap)
    pairs = np.stack([np.arange(d), np.arange(d) + d], axis=1).astype(np.int64)
    return VertexSet(name, mean, np.hstack([np.diag(up), -np.diag(down)]), pairs, gp, lower, upper)


# ------------------------------------------------------------------------------ plots


def _top_directions(centered: FloatArray, n_dims: int) -> FloatArray:
    """First ``n_dims`` right singular vectors (``(D, n_dims)``), largest entry of each positive."""
    _, _, vt = np.linalg.svd(centered, full_matrices=False)
    v = vt[:n_dims].T
    sign = np.sign(v[np.argmax(np.abs(v), axis=0), np.arange(v.shape[1])])
    return np.asarray(v * np.where(sign == 0, 1.0, sign), dtype=float)


def principal_basis(samples: npt.ArrayLike, n_dims: int = 2) -> FloatArray:
    """Orthonormal ``(D, n_dims)`` basis of the first principal components of ``samples`` (for plots)."""
    x = _as_samples(samples)
    if isinstance(n_dims, bool) or not isinstance(n_dims, int | np.integer) or not 1 <= n_dims <= min(x.shape):
        raise ValueError(f"n_dims must be an integer in 1..{min(x.shape)}, got {n_dims!r}")
    return _top_directions(x - x.mean(axis=0), int(n_dims))


def _check_basis(basis: npt.ArrayLike, dim: int) -> FloatArray:
    b = np.asarray(basis, dtype=float)
    if b.ndim != 2 or b.shape[0] != dim or b.shape[1] < 1:
        raise ValueError(f"basis must have shape ({dim}, k), got {b.shape}")
    if not np.allclose(b.T @ b, np.eye(b.shape[1]), atol=1e-8):
        raise ValueError("basis must have orthonormal columns")
    return b


def project(samples: npt.ArrayLike, basis: npt.ArrayLike) -> FloatArray:
    """Coordinates ``u @ B`` of profiles ``(n, D)`` (or ``(D,)``) on an orthonormal basis ``B`` ``(D, k)``
    (not centred, so they match :func:`ellipse_outline_2d`)."""
    b = np.asarray(basis, dtype=float)
    x, single = _as_points(samples, b.shape[0] if b.ndim == 2 else -1, "samples")
    b = _check_basis(b, x.shape[1])
    out = x @ b
    return np.asarray(out[0] if single else out, dtype=float)


def projected_ellipse(fit: MixtureFit, gamma: float, k: int, basis: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Exact projection of ellipsoid ``k`` on the plane of ``basis``: centre ``B^T μ_k`` and shape
    ``S = Γ² B^T Φ_k B`` (the ellipse ``{x : (x − c)^T S^{-1} (x − c) <= 1}``), in the 24-h space."""
    g = _check_gamma(gamma)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 0 <= k < fit.n_c:
        raise ValueError(f"k must be a component index in 0..{fit.n_c - 1}, got {k!r}")
    b = _check_basis(basis, fit.full_dim)
    mu = fit.full_means()[k]
    cov = fit.full_covariances()[k]
    return np.asarray(b.T @ mu, dtype=float), np.asarray(g * g * (b.T @ cov @ b), dtype=float)


def ellipse_outline_2d(fit: MixtureFit, gamma: float, k: int, basis: npt.ArrayLike,
                       n_points: int = 181) -> FloatArray:
    """``(n_points, 2)`` closed outline of component ``k``'s ellipsoid projected on a 2-D ``basis``
    (e.g. :func:`principal_basis`); plot it with the :func:`project`-ed samples."""
    b = np.asarray(basis, dtype=float)
    if b.ndim != 2 or b.shape[1] != 2:
        raise ValueError(f"basis must have shape ({fit.full_dim}, 2), got {b.shape}")
    if isinstance(n_points, bool) or not isinstance(n_points, int | np.integer) or n_points < 3:
        raise ValueError(f"n_points must be an integer >= 3, got {n_points!r}")
    c, s = projected_ellipse(fit, gamma, k, b)
    lam, q = np.linalg.eigh(0.5 * (s + s.T))
    root = q * np.sqrt(np.maximum(lam, 0.0))[None, :]
    theta = np.linspace(0.0, 2.0 * math.pi, int(n_points))
    return np.asarray(c[None, :] + np.stack([np.cos(theta), np.sin(theta)], axis=1) @ root.T, dtype=float)


# ------------------------------------------------------------------------------ summaries


def _part_range_bound(part: VertexSet) -> tuple[FloatArray, FloatArray]:
    """Per-hour outer bound of ``[min u_t, max u_t]`` over a part: the best ``floor(budget)`` moves per
    hour (one per pair), ignoring how the clip couples the hours, then clipped."""
    d_mat = part.directions
    m = d_mat.shape[1]
    paired = np.zeros(m, dtype=bool)
    groups: list[list[int]] = []
    for a, b in part.pairs:
        groups.append([int(a), int(b)])
        paired[[a, b]] = True
    groups += [[int(i)] for i in np.flatnonzero(~paired)]
    up = np.stack([np.max(np.maximum(d_mat[:, g], 0.0), axis=1) for g in groups], axis=1)
    dn = np.stack([np.max(np.maximum(-d_mat[:, g], 0.0), axis=1) for g in groups], axis=1)
    n_move = len(groups) if part.budget is None else min(len(groups), math.floor(part.budget + 1e-9))
    top_up = np.sort(up, axis=1)[:, ::-1][:, :n_move].sum(axis=1)
    top_dn = np.sort(dn, axis=1)[:, ::-1][:, :n_move].sum(axis=1)
    hi = part.center + top_up
    lo = part.center - top_dn
    if part.upper is not None:
        hi = np.minimum(hi, part.upper)
    if part.lower is not None:
        lo = np.maximum(lo, part.lower)
    return np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)


def _part_rows(part: VertexSet) -> tuple[FloatArray, FloatArray]:
    """``A z <= b`` of a part: pair exclusivity, budget and the clip ``lower <= c + D z <= upper``."""
    d_mat = part.directions
    m = d_mat.shape[1]
    rows: list[FloatArray] = []
    rhs: list[float] = []
    for a, b in part.pairs:
        r = np.zeros(m)
        r[[a, b]] = 1.0
        rows.append(r)
        rhs.append(1.0)
    if part.budget is not None:
        rows.append(np.ones(m))
        rhs.append(float(part.budget))
    a_ub = np.array(rows).reshape(-1, m)
    b_ub = np.array(rhs)
    if part.upper is not None:
        a_ub, b_ub = np.vstack([a_ub, d_mat]), np.concatenate([b_ub, part.upper - part.center + 1e-9])
    if part.lower is not None:
        a_ub, b_ub = np.vstack([a_ub, -d_mat]), np.concatenate([b_ub, part.center - part.lower + 1e-9])
    return np.asarray(a_ub, dtype=float), np.asarray(b_ub, dtype=float)


def _part_range_opt(part: VertexSet, method: str, time_limit_s: float) -> tuple[FloatArray, FloatArray, bool]:
    """Per-hour ``[min u_t, max u_t]`` over a part by ``2 · D`` LPs (``"lp"``: relaxation ``0 <= z <= 1``,
    an outer bound) or MILPs (``"milp"``: exact; a MILP stopped by ``time_limit_s`` contributes its dual
    bound, still an outer bound, and the third return value is then False), all with scipy's HiGHS."""
    from scipy.optimize import Bounds, LinearConstraint, linprog, milp

    d_mat = part.directions
    dim, m = d_mat.shape
    a_ub, b_ub = _part_rows(part)
    lo = np.empty(dim)
    hi = np.empty(dim)
    exact = True
    cons = [LinearConstraint(a_ub, -np.inf, b_ub)] if a_ub.size else []
    for t in range(dim):
        for sign, out in ((1.0, lo), (-1.0, hi)):
            c = sign * d_mat[t]
            if method == "lp":
                res = linprog(c, A_ub=a_ub if a_ub.size else None, b_ub=b_ub if a_ub.size else None,
                              bounds=(0.0, 1.0), method="highs")
                if res.status != 0:  # cannot happen: z = 0 is feasible and the box is bounded
                    raise RuntimeError(f"set_summary: LP for {part.name!r} hour {t} failed: {res.message}")
                val = float(res.fun)
                exact = False
            else:
                res = milp(c, constraints=cons, integrality=np.ones(m), bounds=Bounds(np.zeros(m), np.ones(m)),
                           options={"time_limit": float(time_limit_s)})
                if res.status == 0:
                    val = float(res.fun)
                else:
                    bound = getattr(res, "mip_dual_bound", None)
                    if bound is None or not np.isfinite(bound):
                        raise RuntimeError(f"set_summary: MILP for {part.name!r} hour {t} gave no bound: "
                                           f"{res.message}")
                    val = float(bound)
                    exact = False
            out[t] = part.center[t] + sign * val
    return lo, hi, exact


def set_summary(uset: VertexSet | UnionSet, method: Literal["bound", "lp", "milp"] = "bound",
                time_limit_s: float = 10.0) -> dict[str, Any]:
    """Report summary of a vertex or union set (SPEC §6.5 comparison of the sets of 003 Table 3).

    Keys: ``name``, ``dimension``, ``parts``, ``binaries`` (total) and ``binaries_per_part``,
    ``budgets``, ``lower_per_hour`` / ``upper_per_hour`` (the per-hour envelope over all parts, MW),
    ``width_per_hour`` (their difference), ``mean_width``, ``max_width``, ``part_mean_widths`` (each
    part's own mean width), ``single_moves_feasible`` (per part, how many binaries can be set alone
    without leaving the clip bounds: moves that cross 0 or the capacity are lost, since the clip
    intersects), ``method`` and ``exact`` (whether the ranges are exact).

    Ranges per hour ``t`` of ``u_t`` over the members:

    * ``"bound"`` (default, instant): outer estimate — the best ``floor(budget)`` moves for that hour
      (one per pair), ignoring how the clip couples the hours, then clipped to the bounds;
    * ``"lp"``: the LP relaxation (``0 <= z <= 1`` with pairs, budget and clip), a tighter outer bound;
    * ``"milp"``: exact, ``2 · dimension`` MILPs per part.  With the dense ellipsoid directions and the
      clip these are hard (seconds each at 24 h); each stops after ``time_limit_s`` and then contributes
      its dual bound (``exact`` False).  The box set's ranges are exact with every method.
    """
    if method not in ("bound", "lp", "milp"):
        raise ValueError(f"method must be 'bound', 'lp' or 'milp', got {method!r}")
    if not (math.isfinite(time_limit_s) and time_limit_s > 0):
        raise ValueError(f"time_limit_s must be finite and > 0, got {time_limit_s!r}")
    parts = uset.parts if isinstance(uset, UnionSet) else (uset,)
    ranges: list[tuple[FloatArray, FloatArray]] = []
    exact = True
    for p in parts:
        if method == "bound":
            lo_p, hi_p = _part_range_bound(p)
            exact = exact and _is_box_like(p)
        else:
            lo_p, hi_p, ex = _part_range_opt(p, method, time_limit_s)
            exact = exact and (ex or _is_box_like(p))
        ranges.append((lo_p, hi_p))
    lo = np.min(np.stack([r[0] for r in ranges]), axis=0)
    hi = np.max(np.stack([r[1] for r in ranges]), axis=0)
    width = hi - lo
    return {
        "name": uset.name,
        "dimension": int(parts[0].dim),
        "parts": len(parts),
        "binaries": int(sum(p.n_binaries for p in parts)),
        "binaries_per_part": [p.n_binaries for p in parts],
        "budgets": [None if p.budget is None else float(p.budget) for p in parts],
        "lower_per_hour": [float(v) for v in lo],
        "upper_per_hour": [float(v) for v in hi],
        "width_per_hour": [float(v) for v in width],
        "mean_width": float(width.mean()),
        "max_width": float(width.max()),
        "part_mean_widths": [float(np.mean(r[1] - r[0])) for r in ranges],
        "single_moves_feasible": [_single_moves_feasible(p) for p in parts],
        "method": method,
        "exact": bool(exact),
    }


def _single_moves_feasible(part: VertexSet) -> int:
    """Number of binaries ``j`` with ``z = e_j`` a member."""
    eye = np.eye(part.n_binaries)
    return int(sum(part.feasible(eye[j]) for j in range(part.n_binaries)))


def _is_box_like(part: VertexSet) -> bool:
    """Whether the per-hour ranges decouple, so that :func:`_part_range_bound` is exact: every column
    moves one hour, the columns of one hour are a single column or one exclusive pair, every single move
    respects the bounds and the budget (if any) allows one move (e.g. :func:`box_set`, the truncated
    :func:`polyhedral_set`)."""
    d_mat = part.directions
    nz = np.count_nonzero(d_mat, axis=0)
    if np.any(nz > 1) or (part.budget is not None and part.budget < 1):
        return False
    hour = np.where(nz == 1, np.argmax(d_mat != 0, axis=0), -1)
    paired = {frozenset((int(a), int(b))) for a, b in part.pairs}
    for t in range(part.dim):
        cols = np.flatnonzero(hour == t)
        if cols.size > 2 or (cols.size == 2 and frozenset(int(c) for c in cols) not in paired):
            return False
    eye = np.eye(part.n_binaries)
    return all(part.feasible(eye[j]) for j in range(part.n_binaries))

"""Uncertainty: bounded-error scenarios (SPEC §6.3), the CVaR risk envelope (SPEC §4.7) and the
constrained distributionally robust optimisation of paper 002 (SPEC §6.4).

Constrained DRO (SPEC §6.4)
---------------------------
A *two-stage LP* (:class:`TwoStageLP`) is supplied by the caller as two Pyomo block builders: the
first stage (decisions ``x``, cost ``c'x``) and the recourse of reference sample ``k`` (decisions
``y_k``, cost ``q_k = f'y_k``, linked to ``x``).  :class:`TwoStageDRO` builds **one** persistent master
model from them and solves every comparison method of 002 §4.2 on it:

* ``so``   — ``min c'x + Σ_k p_{k,0} Q(x, u_k)``;
* ``ro``   — ``min c'x + max_k Q(x, u_k)`` (Ψ = the simplex; epigraph cuts ``η ≥ q_k`` for every k);
* ``dro``  — ``min c'x + max_{p∈Ψ} Σ_k p_k Q(x, u_k)`` by column-and-constraint generation (C&CG);
* ``cdro`` — the same with the historical limit ``c'x + Σ_k p_{k,0} Q(x, u_k) ≤ Ē`` (CD-1, CD-2);
* ``cvar`` — ``min c'x + CVaR_β`` of the recourse costs under ``p_0`` (Rockafellar–Uryasev, SPEC §4.7
  with the nominal weights ``p_0`` in place of ``1/S``).

The ambiguity set Ψ (CD-3) is :class:`AmbiguitySet`; its radii come from :func:`ambiguity_radii`
(CD-4).  The reference samples ``u_k`` and weights ``p_{k,0}`` come from
:func:`historical_errors` and :func:`reference_samples` (k-means).

Master model (built once)::

    min  w_x c'x + w_η η + Σ_k w_q,k q_k + w_t t + Σ_k w_z,k z_k          (all w mutable Params)
    s.t. def_cost_first: C^x = c'x ;  def_cost_rec[k]: q_k = f'y_k ;  x ∈ X, y_k ∈ Y(x, u_k)
         res_cut[l]:   η ≥ Σ_k p_k^(l) q_k        (a pool of cuts; one is added per new p^(l))
         res_hist:     C^x + Σ_k p_{k,0} q_k ≤ Ē  (mutable Ē; active only for cdro)
         res_cvar[k]:  z_k ≥ q_k − t, z_k ≥ 0

Switching method only changes the weights (costs in the live HiGHS model, basis kept) and which
cuts are active.  Evaluating ``Q_k(x)`` for a given ``x`` (:meth:`TwoStageDRO.evaluate`, and step 1
of every C&CG iteration) sets the weights to ``w_q = 1`` (all others 0), fixes the first-stage
columns in the live model, solves and releases them: the recourse copies are independent given
``x``, so minimising ``Σ_k q_k`` minimises every ``q_k``.  The auxiliary rows (cuts, CVaR) are always
satisfiable through the free ``η`` and ``t``, so they never distort an evaluation.

How data reaches HiGHS (deltas, never a recompile)
--------------------------------------------------
With ``TwoStageDRO(..., deltas=True)`` (the rural campus; off by default, see the class) the master is
compiled to HiGHS once, when it is built (:class:`agents.milp.HighsModel`), and its
mutable Params are indexed right then (``track_params``).  After that nothing is recompiled:

* new data (a new day's profiles written into the recourse Params) and every change of the weights
  ``w`` reach HiGHS through ``update_params``: only the costs, bounds and coefficients that depend on a
  Param whose value changed are re-evaluated and pushed (``changeColsCost`` / ``changeRowsBounds`` /
  ``changeCoeff``);
* a cut ``η ≥ Σ_k p_k q_k`` is a *slot* of ``res_cut``: a new slot is compiled alone and appended with
  ``addRows`` (``add_constraints``); switching cuts on and off (and ``res_hist``, a row from the start)
  only changes row bounds (``set_active``: an inactive row is free, ``(−∞, ∞)``), so row numbers never
  shift and the basis survives — after a new cut the master is re-solved warm by the dual simplex;
* :meth:`TwoStageDRO.reset` frees every slot (bounds only) and forgets the pool: the next day's cuts are
  written into the same slots in the same order (the slot's coefficients are recompiled from Pyomo when
  it is switched on), so the live model never grows, and the solver starts cold;
* fixing a first-stage plan changes the bounds of its columns only (``fix_columns`` / ``unfix_columns``).
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyomo.core as pyo

from agents.milp import HighsModel, SolveError, SolverOptions

log = logging.getLogger(__name__)


def unit_ar1_disturbances(
    rng: np.random.Generator, n_series: int, n_scenarios: int, n_periods: int, phi: float = 0.7
) -> np.ndarray:
    """Stationary AR(1) paths with marginal N(0, 1), shape ``(n_scenarios, n_series, n_periods)``.

    ``x_1 ~ N(0,1)``, ``x_k = phi x_{k-1} + sqrt(1-phi^2) w_k``.  Every series and scenario is
    independent (SPEC §6.3: independently per quantity and park).
    """
    if not 0 <= phi < 1:
        raise ValueError(f"AR(1) coefficient phi must be in [0, 1), got {phi}")
    w = rng.standard_normal((n_scenarios, n_series, n_periods))
    x = np.empty_like(w)
    x[..., 0] = w[..., 0]
    s = np.sqrt(1.0 - phi * phi)
    for k in range(1, n_periods):
        x[..., k] = phi * x[..., k - 1] + s * w[..., k]
    return x


def bounded_errors(
    unit: np.ndarray,
    epsilon: float,
    sigma_fraction: float = 0.5,
    adverse_signs: Sequence[float] | np.ndarray | None = None,
) -> np.ndarray:
    """Relative errors ``e`` with ``|e| <= epsilon`` (SPEC C-2, §6.3).

    ``unit`` are N(0,1) paths of shape ``(S, n_series, K)`` (scenario 0 is overwritten).  Scenarios
    2..S get ``e = clip(sigma_fraction * epsilon * unit, -epsilon, epsilon)`` — marginal
    N(0, (epsilon/2)^2) truncated by clipping.  Scenario 1 (index 0) is adverse:
    ``e = adverse_signs[series] * epsilon`` for every period.  Using the same ``unit`` draws for
    every epsilon gives common random numbers across the epsilon sensitivity.
    """
    if not 0 <= epsilon < 1:
        raise ValueError(f"epsilon must be in [0, 1), got {epsilon}")
    e = np.clip(sigma_fraction * epsilon * unit, -epsilon, epsilon)
    if adverse_signs is not None:
        signs = np.asarray(adverse_signs, dtype=float)
        if signs.shape != (unit.shape[1],):
            raise ValueError(f"adverse_signs: expected {unit.shape[1]} values, got {signs.shape}")
        e[0] = epsilon * signs[:, None]
    return e


def cvar_weights(
    costs: Sequence[float] | np.ndarray, beta: float, weights: Sequence[float] | np.ndarray | None = None
) -> np.ndarray:
    """Worst-case distribution of the CVaR envelope C-12 for the given scenario costs.

    Each scenario can get at most ``1/((1-beta) S)`` (with nominal ``weights`` p: at most
    ``p_s/(1-beta)``); the costliest scenarios fill up first.
    """
    c = np.asarray(costs, dtype=float)
    n = c.size
    if not 0 <= beta < 1:
        raise ValueError(f"beta must be in [0, 1), got {beta}")
    if weights is None:
        caps = np.full(n, 1.0 / ((1.0 - beta) * n))
    else:
        w = np.asarray(weights, dtype=float)
        if w.shape != c.shape or np.any(w < 0) or abs(w.sum() - 1.0) > 1e-9:
            raise ValueError(f"weights: expected {n} non-negative values summing to 1, got {w}")
        caps = w / (1.0 - beta)
    pi = np.zeros(n)
    left = 1.0
    for i in np.argsort(-c, kind="stable"):
        take = min(caps[i], left)
        pi[i] = take
        left -= take
        if left <= 1e-15:
            break
    return pi


def cvar(
    costs: Sequence[float] | np.ndarray, beta: float, weights: Sequence[float] | np.ndarray | None = None
) -> float:
    """CVaR_beta of equally likely scenario costs (or of costs with probabilities ``weights``)
    = max over C-12 of the expected cost (C-13)."""
    c = np.asarray(costs, dtype=float)
    return float(cvar_weights(c, beta, weights) @ c)


# ====================================================================== ambiguity set (CD-3, CD-4)

def _check_open_unit(name: str, value: float) -> float:
    v = float(value)
    if not 0.0 < v < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {value}")
    return v


def _check_count(name: str, value: int) -> int:
    if isinstance(value, bool) or int(value) != value or int(value) < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
    return int(value)


def ambiguity_radii(M: int, K: int, alpha_1: float, alpha_inf: float) -> tuple[float, float]:
    """Radii ``(θ_1, θ_∞)`` of Ψ for confidence levels ``α_1, α_∞`` (CD-4, Ding et al. 2017).

    ``θ_1 = K/(2M) ln(2K/(1−α_1))`` and ``θ_∞ = 1/(2M) ln(2K/(1−α_∞))`` for ``M`` historical
    observations grouped into ``K`` reference samples.
    """
    m = _check_count("M", M)
    k = _check_count("K", K)
    a1 = _check_open_unit("alpha_1", alpha_1)
    ainf = _check_open_unit("alpha_inf", alpha_inf)
    theta_1 = k / (2.0 * m) * math.log(2.0 * k / (1.0 - a1))
    theta_inf = 1.0 / (2.0 * m) * math.log(2.0 * k / (1.0 - ainf))
    return theta_1, theta_inf


@dataclass(frozen=True, eq=False)
class AmbiguitySet:
    """``Ψ = {p ≥ 0, Σp = 1, Σ|p − p0| ≤ θ_1, max|p − p0| ≤ θ_∞}`` (CD-3)."""

    p0: np.ndarray
    theta_1: float
    theta_inf: float

    def __post_init__(self) -> None:
        p0 = np.array(self.p0, dtype=float).ravel()
        if p0.size < 1 or not np.all(np.isfinite(p0)) or np.any(p0 < 0) or abs(p0.sum() - 1.0) > 1e-9:
            raise ValueError(f"AmbiguitySet.p0 must be >= 0 and sum to 1, got {p0} (sum {p0.sum():.12g})")
        for name in ("theta_1", "theta_inf"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"AmbiguitySet.{name} must be finite and >= 0, got {v}")
        p0.setflags(write=False)
        object.__setattr__(self, "p0", p0)
        object.__setattr__(self, "theta_1", float(self.theta_1))
        object.__setattr__(self, "theta_inf", float(self.theta_inf))

    @classmethod
    def from_confidence(cls, p0: Sequence[float] | np.ndarray, M: int, alpha_1: float,
                        alpha_inf: float) -> AmbiguitySet:
        """Ψ around ``p0`` with the radii of :func:`ambiguity_radii` (``K = len(p0)``)."""
        p = np.asarray(p0, dtype=float).ravel()
        theta_1, theta_inf = ambiguity_radii(M, p.size, alpha_1, alpha_inf)
        return cls(p, theta_1, theta_inf)

    @property
    def K(self) -> int:
        return int(self.p0.size)

    def contains(self, p: Sequence[float] | np.ndarray, tol: float = 1e-9) -> bool:
        """Whether ``p`` lies in Ψ (every condition within ``tol``)."""
        q = np.asarray(p, dtype=float).ravel()
        if q.shape != self.p0.shape:
            return False
        d = np.abs(q - self.p0)
        return bool(
            np.all(q >= -tol) and abs(q.sum() - 1.0) <= tol
            and d.sum() <= self.theta_1 + tol and d.max() <= self.theta_inf + tol
        )

    def worst(self, q: Sequence[float] | np.ndarray, method: str = "lp") -> np.ndarray:
        """``argmax_{p∈Ψ} Σ_k p_k q_k``: a vertex of Ψ.

        ``method="lp"`` (the reference) solves the linearised LP of 002 §3.1 (``Δ_k ≥ ±(p_k − p_{k,0})``,
        ``ΣΔ ≤ θ_1``, ``Δ ≤ θ_∞``) with HiGHS dual simplex; ``method="greedy"`` moves probability mass
        from the cheapest samples to the costliest ones, at most ``θ_∞`` per sample and ``θ_1/2`` in all.
        """
        c = np.asarray(q, dtype=float).ravel()
        if c.shape != self.p0.shape or not np.all(np.isfinite(c)):
            raise ValueError(f"worst: expected {self.K} finite costs, got {c}")
        if method == "greedy":
            return self._worst_greedy(c)
        if method != "lp":
            raise ValueError(f"worst: method must be 'lp' or 'greedy', got {method!r}")
        K = self.K
        eye = np.eye(K)
        # variables [p, Δ];  p − Δ ≤ p0,  −p − Δ ≤ −p0,  ΣΔ ≤ θ_1
        a_ub = np.vstack([np.hstack([eye, -eye]), np.hstack([-eye, -eye]),
                          np.concatenate([np.zeros(K), np.ones(K)])[None, :]])
        b_ub = np.concatenate([self.p0, -self.p0, [self.theta_1]])
        a_eq = np.concatenate([np.ones(K), np.zeros(K)])[None, :]
        bounds = [(0.0, None)] * K + [(0.0, self.theta_inf)] * K
        from scipy.optimize import linprog  # here, not at the top: scipy.optimize is 0.06 s of every start-up

        res = linprog(np.concatenate([-c, np.zeros(K)]), A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=[1.0],
                      bounds=bounds, method="highs-ds")
        if res.status != 0:
            raise RuntimeError(f"worst-case distribution LP failed: {res.message}")
        p = np.clip(np.asarray(res.x[:K], dtype=float), 0.0, None)
        return p / p.sum()

    def _worst_greedy(self, c: np.ndarray) -> np.ndarray:
        p0 = self.p0
        up = np.full(p0.size, self.theta_inf)  # room to increase p_k
        down = np.minimum(p0, self.theta_inf)  # room to decrease p_k
        budget = self.theta_1 / 2.0  # Σ increases = Σ decreases = half the 1-norm
        order = np.argsort(-c, kind="stable")
        hi, lo = 0, len(order) - 1
        d = np.zeros(p0.size)
        while budget > 1e-15 and hi < len(order) and lo >= 0:
            i, j = order[hi], order[lo]
            if c[i] <= c[j]:
                break
            step = min(up[i], down[j], budget)
            d[i] += step
            d[j] -= step
            up[i] -= step
            down[j] -= step
            budget -= step
            if up[i] <= 1e-15:
                hi += 1
            if down[j] <= 1e-15:
                lo -= 1
        return np.clip(p0 + d, 0.0, None)

    def worst_value(self, q: Sequence[float] | np.ndarray) -> float:
        """``max_{p∈Ψ} Σ_k p_k q_k``."""
        return float(self.worst(q) @ np.asarray(q, dtype=float))


# ====================================================================== reference samples (SPEC §6.4)

def historical_errors(
    rng: np.random.Generator, M: int, n_series: int, n_periods: int, phi: float = 0.7, sigma: float = 0.1,
    bound: float = 0.3,
) -> np.ndarray:
    """``M`` historical days of relative forecast errors, shape ``(M, n_series, n_periods)``.

    AR(1) with coefficient ``phi`` and marginal ``N(0, sigma²)`` (:func:`unit_ar1_disturbances`),
    clipped to ``±bound`` (002 §4: σ = 10 %, ±30 %).
    """
    M = _check_count("M", M)
    n_series = _check_count("n_series", n_series)
    n_periods = _check_count("n_periods", n_periods)
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    if not bound > 0:
        raise ValueError(f"bound must be > 0, got {bound}")
    unit = unit_ar1_disturbances(rng, n_series, M, n_periods, phi)
    return np.clip(sigma * unit, -bound, bound)


def _assign(z: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid of every row and the squared distance to it."""
    d2 = ((z[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
    labels = d2.argmin(axis=1)
    return labels, d2[np.arange(z.shape[0]), labels]


def reference_samples(
    errors: np.ndarray, K: int, rng: np.random.Generator, restarts: int = 20, iterations: int = 100,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reduce ``M`` historical days to ``K`` reference samples by k-means (SPEC §6.4).

    ``errors`` has shape ``(M, ...)``; each day is flattened and standardised (per coordinate, zero
    mean and unit variance; constant coordinates are left unscaled).  k-means++ is run ``restarts``
    times (``scipy.cluster.vq.kmeans2``, each restart with its own generator spawned from ``rng``;
    Lloyd steps until the assignment is stable, at most ``iterations``), and the partition with the
    least inertia is kept.  A cluster left empty is given the point
    farthest from its centroid among the clusters with more than one point.  Clusters are ordered
    by decreasing size.

    Returns ``(centroids, p0, labels)``: the cluster means in the units of ``errors`` (shape
    ``(K, ...)``), the weights ``p_{k,0} = |cluster k| / M`` and each day's cluster.
    """
    x = np.asarray(errors, dtype=float)
    if x.ndim < 1 or x.shape[0] < 1:
        raise ValueError(f"errors must have shape (M, ...), got {x.shape}")
    M = x.shape[0]
    K = _check_count("K", K)
    if K > M:
        raise ValueError(f"K must be <= M (the number of historical days): K = {K}, M = {M}")
    restarts = _check_count("restarts", restarts)
    iterations = _check_count("iterations", iterations)
    flat = x.reshape(M, -1)
    mu = flat.mean(axis=0)
    sd = flat.std(axis=0)
    sd[sd <= 1e-12] = 1.0
    z = (flat - mu) / sd
    from scipy.cluster.vq import kmeans2  # here, not at the top: only scenario reduction needs it

    best: tuple[float, np.ndarray] | None = None
    for child in rng.spawn(restarts):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "One of the clusters is empty": repaired below
            try:
                centroids, prev = kmeans2(z, K, iter=1, minit="++", missing="warn", rng=child)
            except TypeError:  # scipy < 1.15 has no ``rng`` keyword
                centroids, prev = kmeans2(z, K, iter=1, minit="++", missing="warn", seed=child)
            for _ in range(iterations - 1):  # Lloyd steps until the assignment no longer changes
                centroids, lab = kmeans2(z, centroids, iter=1, minit="matrix", missing="warn")
                if np.array_equal(lab, prev):
                    break
                prev = lab
        labels, d2 = _assign(z, np.asarray(centroids, dtype=float))
        counts = np.bincount(labels, minlength=K)
        for empty in np.flatnonzero(counts == 0):
            movable = counts[labels] > 1
            i = int(np.argmax(np.where(movable, d2, -1.0)))
            counts[labels[i]] -= 1
            labels[i] = empty
            counts[empty] = 1
            d2[i] = 0.0
        means = np.stack([z[labels == k].mean(axis=0) for k in range(K)])
        inertia = float(((z - means[labels]) ** 2).sum())
        if best is None or inertia < best[0] - 1e-12:
            best = (inertia, labels.copy())
    assert best is not None
    labels = best[1]
    counts = np.bincount(labels, minlength=K)
    order = np.argsort(-counts, kind="stable")
    relabel = np.empty(K, dtype=np.int64)
    relabel[order] = np.arange(K)
    labels = relabel[labels]
    counts = counts[order]
    centroids = np.stack([flat[labels == k].mean(axis=0) for k in range(K)]).reshape((K, *x.shape[1:]))
    p0 = counts / float(M)
    return centroids, p0, labels


# ====================================================================== two-stage LP and its DRO solution

#: Methods of 002 §4.2 (plus the CVaR objective of SPEC §4.7), the allowed values of ``method``.
METHODS = ("so", "ro", "dro", "cdro", "cvar")
#: Solution paths of ``dro`` and ``cdro``: column-and-constraint generation or the monolithic dual LP.
SOLVERS = ("ccg", "monolithic")


@dataclass(frozen=True)
class TwoStageLP:
    """A two-stage LP given by its block builders (the caller's model; nothing is solved here).

    ``build_first_stage(block)`` builds ``x ∈ X`` into ``block`` and returns ``(cost, variables)``:
    the first-stage cost expression ``c'x`` and the first-stage variable components (the plan that
    is fixed when a recourse is evaluated).  ``build_recourse(block, k, first_stage)`` builds the
    recourse ``y_k ∈ Y(x, u_k)`` of reference sample ``k`` into ``block``, referring to ``x`` through
    ``first_stage`` (the block the first stage was built into), and returns the recourse cost
    expression ``f'y_k``.  The recourse must be feasible for every ``x ∈ X`` (relatively complete
    recourse) and bounded below.
    """

    n_samples: int
    build_first_stage: Callable[[Any], tuple[Any, Sequence[Any]]]
    build_recourse: Callable[[Any, int, Any], Any]
    name: str = "two-stage LP"

    def __post_init__(self) -> None:
        _check_count("TwoStageLP.n_samples", self.n_samples)


@dataclass(frozen=True)
class Evaluation:
    """A first-stage plan scored on every reference sample (SPEC §6.4 "Evaluation metrics")."""

    first_stage_cost: float  # c'x
    recourse_costs: np.ndarray  # Q_k(x)
    historical_cost: float  # H(x) = c'x + Σ p_{k,0} Q_k(x)
    worst_cost: float  # W(x) = c'x + max_{p∈Ψ} Σ p_k Q_k(x)
    worst_sample_cost: float  # c'x + max_k Q_k(x)
    worst_p: np.ndarray  # argmax_{p∈Ψ} Σ p_k Q_k(x)


@dataclass
class DROResult:
    """One solve of :meth:`TwoStageDRO.solve`.

    ``objective`` is the method's own optimal value: ``H`` for so, ``c'x + max_k Q_k`` for ro, the
    C&CG upper bound (= ``W`` of the returned plan) for dro/cdro, ``c'x + CVaR_β`` for cvar.
    ``lb_history`` holds the master's optimal value and ``ub_history`` the running upper bound per
    C&CG iteration (one entry each for the direct methods).  ``solve_s`` is the HiGHS time of all
    solves, ``wall_s`` the wall-clock time of the call (model updates and evaluations included).
    """

    method: str
    solver: str  # "direct", "ccg" or "monolithic"
    x: dict[str, np.ndarray]
    first_stage_cost: float
    objective: float
    historical_cost: float
    worst_cost: float
    worst_sample_cost: float
    recourse_costs: np.ndarray
    worst_p: np.ndarray
    iterations: int = 1
    lb_history: list[float] = field(default_factory=list)
    ub_history: list[float] = field(default_factory=list)
    hist_bound: float | None = None
    lam: float | None = None
    beta: float | None = None
    n_cuts: int = 0
    solve_s: float = 0.0
    wall_s: float = 0.0
    paths: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Scalars of the result (for tidy tables)."""
        return {
            "method": self.method, "solver": self.solver, "objective": self.objective,
            "first_stage_cost": self.first_stage_cost, "historical_cost": self.historical_cost,
            "worst_cost": self.worst_cost, "worst_sample_cost": self.worst_sample_cost,
            "iterations": self.iterations, "hist_bound": self.hist_bound, "lam": self.lam, "beta": self.beta,
            "n_cuts": self.n_cuts, "solve_s": self.solve_s, "wall_s": self.wall_s,
        }


def check_method(method: str) -> str:
    """``method`` if it is one of :data:`METHODS`, else a ``ValueError`` naming the allowed values."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(repr(m) for m in METHODS)}, got {method!r}")
    return method


@dataclass
class _Run:
    """Book-keeping of one public solve: HiGHS time and the solve paths taken."""

    t0: float = field(default_factory=time.perf_counter)
    solve_s: float = 0.0
    paths: list[str] = field(default_factory=list)


def _with_context(exc: SolveError, context: str) -> SolveError:
    return SolveError(f"{context}: {exc}", exc.status, exc.diagnosis)


def _build_two_stage(problem: TwoStageLP, m: Any) -> tuple[list[Any], list[str]]:
    """First stage into ``m.fs``, recourse copies into ``m.rec[k]``, ``m.cost_first`` and ``m.q``."""
    K = problem.n_samples
    m.fs = pyo.Block(doc="first stage: x in X")
    cost, xvars = problem.build_first_stage(m.fs)
    xs = list(xvars)
    if not xs:
        raise ValueError(f"{problem.name}: build_first_stage returned no first-stage variables")
    names = [v.getname(fully_qualified=True, relative_to=m.fs) for v in xs]
    if len(set(names)) != len(names):
        raise ValueError(f"{problem.name}: first-stage variables are listed twice: {names}")
    m.K = pyo.RangeSet(0, K - 1, doc="reference samples")
    m.rec = pyo.Block(m.K, doc="recourse y_k in Y(x, u_k) of sample k")
    q_exprs = [problem.build_recourse(m.rec[k], k, m.fs) for k in range(K)]
    m.cost_first = pyo.Var(doc="first-stage cost c'x")
    m.def_cost_first = pyo.Constraint(expr=m.cost_first == cost, doc="C^x = c'x")
    m.q = pyo.Var(m.K, doc="recourse cost q_k of sample k")
    m.def_cost_rec = pyo.Constraint(m.K, rule=lambda b, k: b.q[k] == q_exprs[k], doc="q_k = f'y_k")
    m.p0 = pyo.Param(m.K, mutable=True, initialize=0.0, doc="historical weights p_{k,0}")
    m.hist_bound = pyo.Param(mutable=True, initialize=0.0, doc="limit Ē on the historical cost (CD-1, CD-2)")
    m.res_hist = pyo.Constraint(expr=m.cost_first + sum(m.p0[k] * m.q[k] for k in m.K) <= m.hist_bound,
                                doc="c'x + Σ p_{k,0} q_k ≤ Ē (CD-1)")
    m.res_hist.deactivate()
    return xs, names


class TwoStageDRO:
    """SO / RO / DRO / CDRO / CVaR for a :class:`TwoStageLP` on one persistent master (SPEC §6.4).

    Parameters
    ----------
    problem:
        The two-stage LP (its ``n_samples`` must equal ``ambiguity.K``).
    ambiguity:
        Ψ, carrying the historical weights ``p_{k,0}``.
    options:
        HiGHS options of every solve.
    relax_integrality:
        Passed to :class:`agents.milp.HighsModel` (integer variables of the builders are relaxed).
    reuse_so:
        C&CG of ``dro`` takes the SO plan solved since the last :meth:`reset` (same ``p0``) as its first
        iteration instead of solving the first master again: that master (``min c'x + η``, ``η ≥ Σ p_{k,0}
        q_k``) *is* the SO problem.  So does ``cdro``, whose first master is the SO problem plus the
        historical-cost limit ``Σ p_{k,0} q_k ≤ Ē``: the SO plan meets it (``Ē ≥ E_SO`` for λ ≥ 0; checked, else
        the master is solved), so it is an optimum of that master too.  Off by default: in a degenerate master
        the two solves may return different optimal plans (with the same value).
    deltas:
        Data, weights, cuts and plans reach the live HiGHS model as deltas (module docstring: no recompile after
        the build).  Off by default, for callers whose results were checked against the full recompile
        (:meth:`agents.milp.HighsModel.update` before every solve; the cuts at their place among the rows): in a
        degenerate master the position of a row can change which optimal plan HiGHS returns.
    primal_evaluation:
        The recourse evaluation that follows a master solve (C&CG step 1, the evaluation ending a direct
        method) re-optimises from the master's basis with HiGHS's primal simplex: fixing ``x`` at the
        master's values and switching the weights keeps that basis primal feasible, so a few dozen
        iterations suffice where the dual simplex needs thousands.  ``Q_k(x)`` is the same (an LP optimum);
        the recourse dispatch of a degenerate LP may be another optimal one.  Off by default
        (:meth:`evaluate` always uses the options' method).
    """

    def __init__(self, problem: TwoStageLP, ambiguity: AmbiguitySet, options: SolverOptions | None = None,
                 relax_integrality: bool = True, *, deltas: bool = False, reuse_so: bool = False,
                 primal_evaluation: bool = False) -> None:
        if problem.n_samples != ambiguity.K:
            raise ValueError(f"{problem.name}: {problem.n_samples} samples but the ambiguity set has "
                             f"{ambiguity.K} weights p0")
        self.problem = problem
        self.ambiguity = ambiguity
        self.options = options or SolverOptions()
        self.relax_integrality = relax_integrality
        self.deltas = bool(deltas)
        self.reuse_so = bool(reuse_so)
        self.primal_evaluation = bool(primal_evaluation)
        K = problem.n_samples
        t0 = time.perf_counter()
        m = pyo.ConcreteModel(name=f"{problem.name} master")
        self._xvars, self.x_names = _build_two_stage(problem, m)
        for k in range(K):
            m.p0[k] = float(ambiguity.p0[k])
        m.eta = pyo.Var(doc="η: worst expected recourse cost over the cut distributions")
        m.res_cut = pyo.ConstraintList(doc="η ≥ Σ_k p_k^(l) q_k for every distribution p^(l) in the pool")
        m.t = pyo.Var(doc="CVaR threshold (value at risk)")
        m.z = pyo.Var(m.K, within=pyo.NonNegativeReals, doc="CVaR excess of sample k")
        m.res_cvar = pyo.Constraint(m.K, rule=lambda b, k: b.z[k] >= b.q[k] - b.t, doc="z_k ≥ q_k − t (C-15)")
        m.w_first = pyo.Param(mutable=True, initialize=1.0, doc="objective weight of c'x")
        m.w_eta = pyo.Param(mutable=True, initialize=0.0, doc="objective weight of η")
        m.w_t = pyo.Param(mutable=True, initialize=0.0, doc="objective weight of t")
        m.w_q = pyo.Param(m.K, mutable=True, initialize=0.0, doc="objective weight of q_k")
        m.w_z = pyo.Param(m.K, mutable=True, initialize=0.0, doc="objective weight of z_k")
        m.obj = pyo.Objective(
            expr=m.w_first * m.cost_first + m.w_eta * m.eta + m.w_t * m.t
            + sum(m.w_q[k] * m.q[k] + m.w_z[k] * m.z[k] for k in m.K),
            sense=pyo.minimize,
        )
        self.model = m
        self._cuts: dict[bytes, int] = {}  # distribution -> slot (index in res_cut) since the last reset
        self._set_weights("so")
        self.build_s = time.perf_counter() - t0
        if self.deltas:  # compiled as a row (at its place) and then freed: activating it later is a bound change
            m.res_hist.activate()
        self.hm = HighsModel(m, f"{problem.name} master", self.options, relax_integrality=relax_integrality,
                             build_s=self.build_s)
        if self.deltas:
            self.hm.set_active([m.res_hist], False)
            self.hm.track_params()
        self._x_cols = np.concatenate([self.hm.columns_of(v) for v in self._xvars])
        # the set of active rows changed since the last solve: that solve starts cold (see _solve)
        self._rows_changed = False
        self._so_p0 = np.zeros(0)  # the p0 of the cached SO result (reuse_so)
        self._mono: tuple[Any, HighsModel, list[Any]] | None = None
        self._cache: dict[tuple[Any, ...], DROResult] = {}

    # ------------------------------------------------------------------ master state
    def reset(self) -> None:
        """Forget everything solved, for new data written into the master's mutable Params (a new day).

        The cut pool is emptied (every slot of ``res_cut`` is switched off: its row becomes free, and the
        next cuts are written into the slots from the first on), the cached SO/DRO results behind cdro's
        ``Ē`` are dropped, the new Param values are pushed (``update_params``) and the solver starts cold,
        so what follows depends only on the data, not on what the master solved before.  The monolithic
        verification model is built from the problem's builders and does not see data written into the
        master.
        """
        self._cuts = {}
        self._cache = {}
        if self.deltas:
            self.hm.set_active([c for c in self.model.res_cut.values() if c.active], False)
            self.hm.update_params()
        else:  # the full recompile: an empty pool (res_cut replaced), the new data
            m = self.model
            m.del_component(m.res_cut)
            m.res_cut = pyo.ConstraintList(doc="η ≥ Σ_k p_k^(l) q_k for every distribution p^(l) in the pool")
            self.hm.update()
        self.hm.clear_solver()
        self._rows_changed = False

    @property
    def n_cuts(self) -> int:
        """Cuts in the pool since the last :meth:`reset` (active or not)."""
        return len(self._cuts)

    @property
    def n_active_cuts(self) -> int:
        return sum(1 for c in self.model.res_cut.values() if c.active)

    def _set_weights(self, mode: str, beta: float = 0.0) -> None:
        m = self.model
        p0 = self.ambiguity.p0
        K = p0.size
        wq = np.zeros(K)
        wz = np.zeros(K)
        w_first, w_eta, w_t = 1.0, 0.0, 0.0
        if mode == "so":
            wq = p0.copy()
        elif mode == "epigraph":
            w_eta = 1.0
        elif mode == "cvar":
            w_t = 1.0
            wz = p0 / (1.0 - beta)
        elif mode == "eval":
            w_first = 0.0
            wq = np.ones(K)
        else:  # pragma: no cover - internal
            raise AssertionError(mode)
        m.w_first.set_value(w_first)
        m.w_eta.set_value(w_eta)
        m.w_t.set_value(w_t)
        for k in range(K):
            m.w_q[k].set_value(float(wq[k]))
            m.w_z[k].set_value(float(wz[k]))

    def _cut(self, p: np.ndarray) -> int:
        """Slot (index in ``res_cut``) of the cut for ``p``: the pool's if known, else the next slot.

        The ``n``-th distinct cut since :meth:`reset` goes into slot ``n`` (1-based, as ``res_cut``): an
        existing slot gets the new expression (it is free until :meth:`_set_cuts` switches it on, which
        recompiles its coefficients), a new slot is appended to HiGHS with ``addRows``.
        """
        key = np.round(np.asarray(p, dtype=float), 12).tobytes()
        idx = self._cuts.get(key)
        if idx is None:
            m = self.model
            expr = sum(float(p[k]) * m.q[k] for k in range(p.size) if p[k] != 0.0)
            idx = len(self._cuts) + 1
            if not self.deltas:
                con = m.res_cut.add(m.eta >= expr)
                idx = int(con.index())
            elif idx <= len(m.res_cut):
                con = m.res_cut[idx]
                con.set_value(m.eta >= expr)  # the slot is off (reset): switched on, it is recompiled
            else:
                con = m.res_cut.add(m.eta >= expr)
                if int(con.index()) != idx:  # pragma: no cover - slots are only ever appended
                    raise AssertionError(f"cut slot {con.index()} != {idx}")
                self.hm.add_constraints([con])
                self._rows_changed = True
            self._cuts[key] = idx
        return idx

    def _set_cuts(self, active: Sequence[int]) -> None:
        want = set(active)
        on = [con for i, con in self.model.res_cut.items() if i in want and not con.active]
        off = [con for i, con in self.model.res_cut.items() if i not in want and con.active]
        self._switch(off, False)
        self._switch(on, True)
        if on or off:
            self._rows_changed = True

    def _set_hist(self, bound: float | None) -> None:
        m = self.model
        if bound is None:
            if m.res_hist.active:
                self._switch([m.res_hist], False)
                self._rows_changed = True
        else:
            m.hist_bound.set_value(float(bound))
            if not m.res_hist.active:
                self._switch([m.res_hist], True)
                self._rows_changed = True

    def _switch(self, cons: Sequence[Any], active: bool) -> None:
        """(De)activate rows: as deltas (:meth:`HighsModel.set_active`), or in Pyomo for the next recompile."""
        if self.deltas:
            self.hm.set_active(cons, active)
        else:
            for con in cons:
                con.activate() if active else con.deactivate()

    def _push(self) -> None:
        """Hand the Param changes (weights, Ē, data) and the row set over: deltas, or the full recompile."""
        if self.deltas:
            self.hm.update_params()
        else:  # the full recompile; a new set of rows means a new hand-over (a cold solve)
            self.hm.update()

    def _solve(self, run: _Run, path: str, primal: bool = False, pushed: bool = False) -> float:
        """Push the Params changed since the last solve (weights, Ē, data) as deltas and solve.

        A solve after the set of active rows changed (a cut added or switched, ``res_hist`` switched)
        starts cold, as a freshly handed-over model would: the optimal plan a degenerate master returns
        then depends only on the rows, not on the solves before.  ``primal``: re-optimise from the
        current basis with the primal simplex (:attr:`primal_evaluation`).
        """
        hm = self.hm
        if not pushed:
            self._push()
        if self._rows_changed:
            hm.clear_solver()
            self._rows_changed = False
        hm.set_case(path)
        if primal:  # the primal simplex from the basis of the master solve just done (this solve only)
            stats = hm.solve(path=path, lp_method="simplex", simplex="primal")
        else:
            stats = hm.solve(path=path)
        run.solve_s += stats.solve_s
        run.paths.append(path)
        return float(stats.objective)

    def _x_columns(self) -> np.ndarray:
        return self._x_cols

    def _x_dict(self, flat: np.ndarray) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        i = 0
        for v, name in zip(self._xvars, self.x_names, strict=True):
            n = len(v)
            out[name] = np.array(flat[i:i + n])
            i += n
        return out

    def _x_flat(self, x: Mapping[str, Any]) -> np.ndarray:
        missing = [n for n in self.x_names if n not in x]
        extra = [n for n in x if n not in self.x_names]
        if missing or extra:
            raise ValueError(f"{self.problem.name}: first-stage plan must have exactly the variables "
                             f"{self.x_names}; missing {missing}, unknown {extra}")
        parts = []
        for v, name in zip(self._xvars, self.x_names, strict=True):
            a = np.asarray(x[name], dtype=float).ravel()
            if a.size != len(v) or not np.all(np.isfinite(a)):
                raise ValueError(f"{self.problem.name}: x[{name!r}] must hold {len(v)} finite values, got {a}")
            parts.append(a)
        return np.concatenate(parts)

    def metrics(self, first_stage_cost: float, recourse_costs: np.ndarray) -> Evaluation:
        """:class:`Evaluation` from ``c'x`` and ``Q_k(x)``."""
        q = np.asarray(recourse_costs, dtype=float)
        p = self.ambiguity.worst(q)
        return Evaluation(
            first_stage_cost=float(first_stage_cost),
            recourse_costs=q,
            historical_cost=float(first_stage_cost + self.ambiguity.p0 @ q),
            worst_cost=float(first_stage_cost + p @ q),
            worst_sample_cost=float(first_stage_cost + q.max()),
            worst_p=p,
        )

    def _evaluate_live(self, flat: np.ndarray, run: _Run, path: str, after_master: bool = False) -> Evaluation:
        """Q_k(x) with the first-stage columns fixed in the live master (weights ``eval``).

        ``after_master``: ``flat`` is the plan of the master just solved (its basis is live), so with
        :attr:`primal_evaluation` the primal simplex re-optimises from it.
        """
        self._set_weights("eval")
        self._push()  # before fixing: a recompile that hands a new model over would drop the fixing
        cols = self._x_columns()
        self.hm.fix_columns(cols, flat)
        try:
            self._solve(run, path, primal=after_master and self.primal_evaluation, pushed=True)
        except SolveError as exc:
            raise _with_context(exc, f"{path}: evaluating the recourse of a fixed first stage "
                                     "(is the recourse feasible for every x?)") from exc
        finally:
            self.hm.unfix_columns(cols)
        m = self.model
        q = self.hm.values(m.q, range(self.problem.n_samples))
        return self.metrics(self.hm.value(m.cost_first), q)

    # ------------------------------------------------------------------ public
    def evaluate(self, x: Mapping[str, Any]) -> Evaluation:
        """``c'x``, ``Q_k(x)``, ``H(x)``, ``W(x)`` of any first-stage plan (keys: :attr:`x_names`).

        The plan is fixed in the persistent master, solved and released; the historical limit is
        switched off for the evaluation.
        """
        flat = self._x_flat(x)
        self._set_hist(None)
        return self._evaluate_live(flat, _Run(), "evaluate")

    def solve(
        self,
        method: str,
        *,
        lam: float = 0.2,
        beta: float = 0.8,
        solver: str = "ccg",
        eps: float = 1e-4,
        max_iter: int = 50,
        hist_bound: float | None = None,
        hist_tol: float = 1e-8,
    ) -> DROResult:
        """Solve with ``method`` ∈ :data:`METHODS`.

        ``lam`` is λ of CD-2 (cdro), ``beta`` the CVaR level (cvar).  ``solver`` ∈ :data:`SOLVERS`
        chooses C&CG or the monolithic dual LP for dro/cdro.  C&CG stops when
        ``UB − LB ≤ eps·max(1, |UB|)`` and raises ``RuntimeError`` after ``max_iter`` iterations.
        For cdro, ``Ē = E_SO + λ(E_DRO − E_SO)`` from the SO and DRO plans (solved once and cached),
        unless ``hist_bound`` gives Ē directly; Ē is loosened by ``hist_tol·max(1, |Ē|)`` so that λ = 0
        stays feasible despite round-off.
        """
        check_method(method)
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {', '.join(repr(s) for s in SOLVERS)}, got {solver!r}")
        if not 0.0 <= float(lam) <= 1.0:
            raise ValueError(f"lam (λ of CD-2) must be in [0, 1], got {lam}")
        if not 0.0 <= float(beta) < 1.0:
            raise ValueError(f"beta (CVaR level) must be in [0, 1), got {beta}")
        if not eps >= 0:
            raise ValueError(f"eps (C&CG gap) must be >= 0, got {eps}")
        _check_count("max_iter", max_iter)
        if not hist_tol >= 0:
            raise ValueError(f"hist_tol must be >= 0, got {hist_tol}")
        if solver == "monolithic" and method not in ("dro", "cdro"):
            raise ValueError(f"solver='monolithic' applies to method 'dro' or 'cdro', got {method!r}")
        run = _Run()
        if method in ("so", "ro", "cvar"):
            result = self._solve_direct(method, run, beta)
            if method == "so":
                self._cache[("so",)] = result
                self._so_p0 = self.ambiguity.p0.copy()
            return result
        bound: float | None = None
        if method == "cdro":
            bound = hist_bound
            if bound is None:
                e_so = self._reference(("so",), lambda: self.solve("so")).historical_cost
                e_dro = self._reference(("dro", solver, eps, max_iter),
                                        lambda: self.solve("dro", solver=solver, eps=eps,
                                                           max_iter=max_iter)).historical_cost
                bound = e_so + float(lam) * (e_dro - e_so)
            bound_eff = bound + hist_tol * max(1.0, abs(bound))
        else:
            bound_eff = None
        run = _Run()  # the reference solves are not part of this call's time
        if solver == "monolithic":
            result = self._solve_monolithic(method, run, bound_eff)
        else:
            result = self._ccg(method, run, bound_eff, eps, max_iter)
        if method == "cdro":
            result.hist_bound = bound
            result.lam = None if hist_bound is not None else float(lam)
        elif method == "dro":
            self._cache[("dro", solver, eps, max_iter)] = result
        return result

    def _reference(self, key: tuple[Any, ...], compute: Callable[[], DROResult]) -> DROResult:
        res = self._cache.get(key)
        if res is None:
            res = compute()
            self._cache[key] = res
        return res

    def _result(self, method: str, solver: str, flat: np.ndarray, ev: Evaluation, objective: float,
                run: _Run, **kw: Any) -> DROResult:
        return DROResult(
            method=method, solver=solver, x=self._x_dict(flat), first_stage_cost=ev.first_stage_cost,
            objective=float(objective), historical_cost=ev.historical_cost, worst_cost=ev.worst_cost,
            worst_sample_cost=ev.worst_sample_cost, recourse_costs=ev.recourse_costs, worst_p=ev.worst_p,
            solve_s=run.solve_s, wall_s=time.perf_counter() - run.t0,
            paths=list(run.paths), **kw,
        )

    def _solve_direct(self, method: str, run: _Run, beta: float) -> DROResult:
        K = self.problem.n_samples
        self._set_hist(None)
        if method == "ro":
            self._set_cuts([self._cut(np.eye(K)[k]) for k in range(K)])
            self._set_weights("epigraph")
        elif method == "cvar":
            self._set_weights("cvar", beta)
        else:
            self._set_weights("so")
        try:
            obj = self._solve(run, f"{method}:master")
        except SolveError as exc:
            raise _with_context(exc, f"method {method!r}") from exc
        flat = self.hm.x[self._x_columns()].copy()
        ev = self._evaluate_live(flat, run, f"{method}:evaluate", after_master=True)
        return self._result(method, "direct", flat, ev, obj, run, lb_history=[obj], ub_history=[obj],
                            beta=float(beta) if method == "cvar" else None, n_cuts=K if method == "ro" else 0)

    def _ccg(self, method: str, run: _Run, bound: float | None, eps: float, max_iter: int) -> DROResult:
        """C&CG of SPEC §6.4 on the persistent master (one η-cut per iteration)."""
        psi = self.ambiguity
        self._set_hist(bound)
        active = [self._cut(psi.p0)]
        self._set_cuts(active)
        lb, ub = -math.inf, math.inf
        lbs: list[float] = []
        ubs: list[float] = []
        best: tuple[np.ndarray, Evaluation] | None = None
        so = self._cache.get(("so",)) if self.reuse_so and method in ("dro", "cdro") else None
        if so is not None and not np.array_equal(self._so_p0, psi.p0):
            so = None
        if so is not None and bound is not None and not so.historical_cost <= bound:
            so = None  # the SO plan breaks cdro's historical-cost limit: it is not the first master's optimum
        for it in range(1, max_iter + 1):
            if it == 1 and so is not None:  # the first master is SO's problem: its plan, not a second solve
                master = so.objective
                lbs.append(master)
                lb = master
                flat = np.concatenate([np.asarray(so.x[n], dtype=float).ravel() for n in self.x_names])
                ev = self.metrics(so.first_stage_cost, so.recourse_costs)
                run.paths.append(f"{method}:ccg master #1 = so:master")
            else:
                master, flat, ev = self._ccg_step(method, run, bound, it)
                lbs.append(master)
                lb = max(lb, master)
            if ev.worst_cost < ub:
                ub, best = ev.worst_cost, (flat, ev)
            ubs.append(ub)
            gap = ub - lb
            log.debug("%s C&CG %d: LB %.10g UB %.10g gap %.3g", method, it, lb, ub, gap)
            if gap <= eps * max(1.0, abs(ub)):
                break
            idx = self._cut(ev.worst_p)
            if idx in active:  # no new distribution: LB already >= the value of x*, up to round-off
                log.info("%s C&CG %d: the worst distribution is already a cut (gap %.3g): stop", method, it, gap)
                break
            active.append(idx)
            self._set_cuts(active)
        else:
            raise RuntimeError(
                f"method {method!r}: C&CG did not converge in max_iter = {max_iter} iterations "
                f"(LB {lb:.10g}, UB {ub:.10g}, gap {ub - lb:.3g} > eps·max(1,|UB|) = {eps * max(1.0, abs(ub)):.3g}); "
                "raise max_iter or eps"
            )
        assert best is not None
        flat, ev = best
        return self._result(method, "ccg", flat, ev, ub, run, iterations=len(lbs), lb_history=lbs,
                            ub_history=ubs, n_cuts=len(active))

    def _ccg_step(self, method: str, run: _Run, bound: float | None, it: int) -> tuple[float, np.ndarray, Evaluation]:
        """C&CG iteration ``it``: the master's value and plan, and the plan's evaluation (step 1)."""
        self._set_weights("epigraph")
        path = f"{method}:ccg master #{it}"
        try:
            master = self._solve(run, path)
        except SolveError as exc:
            if method == "cdro" and exc.status in ("infeasible", "unbounded_or_infeasible"):
                e_so = self._cache.get(("so",))
                raise SolveError(
                    f"{path}: the historical-cost limit Ē = {bound:.10g} cannot be met"
                    + (f" (the least historical cost is E_SO = {e_so.historical_cost:.10g})" if e_so else "")
                    + "; λ is too small for the numerical tolerance: raise lam or hist_tol.\n" + str(exc),
                    exc.status, exc.diagnosis) from exc
            raise _with_context(exc, f"method {method!r}, C&CG iteration {it}") from exc
        flat = self.hm.x[self._x_columns()].copy()
        ev = self._evaluate_live(flat, run, f"{method}:ccg subproblem #{it}", after_master=True)
        return master, flat, ev

    # ------------------------------------------------------------------ monolithic dual LP (verification)
    def _monolithic_model(self) -> tuple[Any, HighsModel, list[Any]]:
        if self._mono is None:
            psi = self.ambiguity
            t0 = time.perf_counter()
            m = pyo.ConcreteModel(name=f"{self.problem.name} monolithic")
            xvars, names = _build_two_stage(self.problem, m)
            if names != self.x_names:  # pragma: no cover - builders must be deterministic
                raise RuntimeError(f"first-stage variables differ between builds: {names} vs {self.x_names}")
            for k in m.K:
                m.p0[k] = float(psi.p0[k])
            m.alpha = pyo.Var(doc="dual of Σ p = 1")
            m.a = pyo.Var(m.K, within=pyo.NonNegativeReals, doc="dual of p_k − Δ_k ≤ p_{k,0}")
            m.b = pyo.Var(m.K, within=pyo.NonNegativeReals, doc="dual of −p_k − Δ_k ≤ −p_{k,0}")
            m.g = pyo.Var(m.K, within=pyo.NonNegativeReals, doc="dual of Δ_k ≤ θ_∞")
            m.beta = pyo.Var(within=pyo.NonNegativeReals, doc="dual of Σ Δ ≤ θ_1")
            m.res_dual_p = pyo.Constraint(m.K, rule=lambda b, k: b.alpha + b.a[k] - b.b[k] >= b.q[k],
                                          doc="α + a_k − b_k ≥ q_k")
            m.res_dual_d = pyo.Constraint(m.K, rule=lambda b, k: b.beta + b.g[k] >= b.a[k] + b.b[k],
                                          doc="β + g_k ≥ a_k + b_k")
            m.obj = pyo.Objective(
                expr=m.cost_first + m.alpha + sum(m.p0[k] * (m.a[k] - m.b[k]) for k in m.K)
                + psi.theta_1 * m.beta + psi.theta_inf * sum(m.g[k] for k in m.K),
                sense=pyo.minimize,
            )
            if self.deltas:  # a row from the start, freed below: (de)activating it is a bound change
                m.res_hist.activate()
            hm = HighsModel(m, f"{self.problem.name} monolithic", self.options,
                            relax_integrality=self.relax_integrality, build_s=time.perf_counter() - t0)
            if self.deltas:
                hm.set_active([m.res_hist], False)
                hm.track_params()
            self._mono = (m, hm, xvars)
        return self._mono

    def _solve_monolithic(self, method: str, run: _Run, bound: float | None) -> DROResult:
        m, hm, xvars = self._monolithic_model()
        if bound is not None:
            m.hist_bound.set_value(float(bound))
        switch = m.res_hist.active != (bound is not None)
        if not self.deltas:
            if switch:
                m.res_hist.activate() if bound is not None else m.res_hist.deactivate()
            hm.update()
        else:
            if switch:
                hm.set_active([m.res_hist], bound is not None)
            hm.update_params()
            if switch:  # another set of rows: solved cold, as a freshly handed-over model
                hm.clear_solver()
        path = f"{method}:monolithic"
        hm.set_case(path)
        try:
            stats = hm.solve(path=path)
        except SolveError as exc:
            raise _with_context(exc, f"method {method!r}, monolithic dual LP") from exc
        run.solve_s += stats.solve_s
        run.paths.append(path)
        flat = np.concatenate([hm.values(v) for v in xvars])
        self._set_hist(None)
        ev = self._evaluate_live(flat, run, f"{method}:evaluate")
        obj = float(stats.objective)
        return self._result(method, "monolithic", flat, ev, obj, run, lb_history=[obj], ub_history=[obj])

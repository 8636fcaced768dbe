"""Uncertainty: bounded-error scenarios (SPEC §6.3) and the CVaR risk envelope (SPEC §4.7)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


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


def cvar_weights(costs: Sequence[float] | np.ndarray, beta: float) -> np.ndarray:
    """Worst-case distribution of the CVaR envelope C-12 for the given scenario costs.

    Each scenario can get at most ``1/((1-beta) S)``; the costliest scenarios fill up first.
    """
    c = np.asarray(costs, dtype=float)
    n = c.size
    if not 0 <= beta < 1:
        raise ValueError(f"beta must be in [0, 1), got {beta}")
    cap = 1.0 / ((1.0 - beta) * n)
    pi = np.zeros(n)
    left = 1.0
    for i in np.argsort(-c, kind="stable"):
        take = min(cap, left)
        pi[i] = take
        left -= take
        if left <= 1e-15:
            break
    return pi


def cvar(costs: Sequence[float] | np.ndarray, beta: float) -> float:
    """CVaR_beta of equally likely scenario costs = max over C-12 of the expected cost (C-13)."""
    c = np.asarray(costs, dtype=float)
    return float(cvar_weights(c, beta) @ c)

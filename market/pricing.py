"""Prices: day-ahead TOU helpers, the price-elasticity response, and bisection rolling prices.

- TOU price vector from period levels and a partition (SPEC §5.3, 004 eq. 7).
- Price-elasticity response EL-1…EL-4 (SPEC §3.6c) with the energy-conserving shiftable matrix
  and the diagonal curtailable matrix.
- Bisection rolling prices, variant A (SPEC §5.6, 004 eqs. 32–34 repaired), with its trace.

The day-ahead *optimisation* over the TOU levels is a MILP built by the coordinator; only the numpy
pieces it needs live here.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from market.interfaces import Participant, PriceTrace, as_vector

logger = logging.getLogger(__name__)

#: Default hourly TOU partition of SPEC §5.3 (A40): valley 00–08, peak 08–12 and 17–21, flat 12–17 and 21–24.
DEFAULT_TOU_PARTITION: tuple[str, ...] = ("valley",) * 8 + ("peak",) * 4 + ("flat",) * 5 + ("peak",) * 4 + ("flat",) * 3

#: Default own-price elasticities of shiftable load per period type (SPEC §3.6c) `[default]`.
DEFAULT_SELF_ELASTICITY: dict[str, float] = {"peak": -0.10, "flat": -0.08, "valley": -0.05}

#: Default elasticities of curtailable load per period type (SPEC §3.6c) `[default]`.
DEFAULT_CUT_ELASTICITY: dict[str, float] = {"peak": -0.08, "flat": -0.05, "valley": 0.0}

#: Reference (and initial rolling) price π^0, USD/kWh (SPEC §5.3, §5.6).
REFERENCE_PRICE = 0.11


# ------------------------------------------------------------------------------ TOU


def period_values(values: Mapping[str, float], partition: Sequence[str], *, field: str = "values") -> np.ndarray:
    """``x_t = values[τ(t)]`` for each period label ``τ(t)`` of ``partition`` (e.g. elasticities per period)."""
    if isinstance(partition, str):
        raise ValueError(f"partition must be a sequence of period labels, not the string {partition!r}")
    labels = list(partition)
    if not labels:
        raise ValueError("partition must contain at least one period")
    for key, v in values.items():
        if not math.isfinite(float(v)):
            raise ValueError(f"{field}[{key!r}] must be finite, got {v}")
    out = np.empty(len(labels))
    for t, label in enumerate(labels):
        if label not in values:
            raise ValueError(f"partition period {t + 1} has label {label!r}; {field} define only {sorted(values)}")
        out[t] = float(values[label])
    return out


def tou_prices(levels: Mapping[str, float], partition: Sequence[str]) -> np.ndarray:
    """TOU price vector ``π_t = π^{τ(t)}`` (004 eq. 7), USD/kWh.

    ``levels`` maps period types (e.g. ``peak``, ``flat``, ``valley``) to prices > 0; ``partition``
    gives the type of each period (see :data:`DEFAULT_TOU_PARTITION`).  The ordering TOU-1
    (valley ≤ flat ≤ peak) is a constraint of the DA design problem and is not enforced here.
    """
    for key, v in levels.items():
        if not (math.isfinite(float(v)) and float(v) > 0):
            raise ValueError(f"TOU level {key!r} must be a finite price > 0 USD/kWh, got {v}")
    return period_values(levels, partition, field="TOU levels")


def repeat_to_grid(values: Sequence[float] | np.ndarray, steps_per_period: int) -> np.ndarray:
    """Repeat each value ``steps_per_period`` times, e.g. hourly DA prices onto the 15-min grid (``h(k)``)."""
    if int(steps_per_period) != steps_per_period or steps_per_period < 1:
        raise ValueError(f"steps_per_period must be a positive integer, got {steps_per_period}")
    return np.repeat(as_vector(values, "values"), int(steps_per_period))


def relative_price_change(
    prices: Sequence[float] | np.ndarray, ref_prices: Sequence[float] | np.ndarray | float
) -> np.ndarray:
    """``ρ_j = (π_j − π^0_j) / π^0_j`` (SPEC §3.6c); ``ref_prices`` may be a scalar."""
    pi = as_vector(prices, "prices", nonnegative=True)
    ref_arr = np.asarray(ref_prices, dtype=float)
    if ref_arr.ndim > 1 or ref_arr.size not in (1, pi.size):
        raise ValueError(
            f"ref_prices must be one price or {pi.size} prices (one per period), got shape {ref_arr.shape}"
        )
    ref = as_vector(np.broadcast_to(ref_arr.reshape(-1), pi.shape), "ref_prices", positive=True)
    return (pi - ref) / ref


# ------------------------------------------------------------------------------ elasticity matrices


def shiftable_elasticity_matrix(
    base_load: Sequence[float] | np.ndarray, self_elasticity: Sequence[float] | np.ndarray
) -> np.ndarray:
    """Energy-conserving elasticity matrix of a shiftable load (SPEC §3.6c, `[proposed]`).

    ``E_jj = e^self_j ≤ 0`` and, for ``t ≠ j``, ``E_tj = −E_jj · P^0_j / Σ_{l≠j} P^0_l ≥ 0``, so that
    ``Σ_t P^0_t E_tj = 0`` for every ``j``: EL-2's ``Σ_t ΔP^tran_t = 0`` (A14) holds for any price
    vector.  ``base_load`` is ``P^{tran,0}_t ≥ 0`` (kW); ``self_elasticity`` the own-price
    elasticity of each period (e.g. :func:`period_values` of :data:`DEFAULT_SELF_ELASTICITY`).

    A column ``j`` with ``e_j ≠ 0`` needs load in some other period to shift to; otherwise ValueError.
    """
    p0 = as_vector(base_load, "base_load (shiftable P0)", nonnegative=True)
    n = p0.size
    if n == 0:
        raise ValueError("base_load must cover at least one period")
    e = as_vector(self_elasticity, "self_elasticity", length=n)
    if np.any(e > 0):
        j = int(np.flatnonzero(e > 0)[0])
        raise ValueError(f"self_elasticity of period {j + 1} must be <= 0 (own-price elasticity), got {e[j]}")
    others = p0.sum() - p0  # Σ_{l≠j} P0_l
    bad = np.flatnonzero((e != 0) & (others <= 0))
    if bad.size:
        j = int(bad[0])
        raise ValueError(
            f"period {j + 1} has elasticity {e[j]} but no shiftable base load in any other period; "
            "energy cannot be conserved (SPEC §3.6c)"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        cross = np.where(e != 0, -e * p0 / np.where(others > 0, others, 1.0), 0.0)  # column j's off-diagonal
    mat = np.tile(cross, (n, 1))
    np.fill_diagonal(mat, e)
    return mat


def curtailable_elasticity_matrix(cut_elasticity: Sequence[float] | np.ndarray) -> np.ndarray:
    """Diagonal elasticity matrix of a curtailable load, ``E^cut_tt = e^cut_{τ(t)} ≤ 0`` (SPEC §3.6c `[default]`)."""
    e = as_vector(cut_elasticity, "cut_elasticity")
    if e.size == 0:
        raise ValueError("cut_elasticity must cover at least one period")
    if np.any(e > 0):
        t = int(np.flatnonzero(e > 0)[0])
        raise ValueError(f"cut_elasticity of period {t + 1} must be <= 0, got {e[t]}")
    return np.diag(e)


# ------------------------------------------------------------------------------ response


def price_response(
    base_shiftable: Sequence[float] | np.ndarray,
    base_curtailable: Sequence[float] | np.ndarray,
    e_tran: np.ndarray,
    e_cut: np.ndarray,
    prices: Sequence[float] | np.ndarray,
    ref_prices: Sequence[float] | np.ndarray | float,
) -> tuple[np.ndarray, np.ndarray]:
    """Load response to a price vector: ``(ΔP^tran, P^cut)`` in kW (EL-2, EL-3, EL-4).

    - EL-2: ``ΔP^tran_t = P^{tran,0}_t Σ_j E^tran_tj ρ_j``,
    - EL-3: ``ΔP^cut_t = P^{cut,0}_t Σ_j E^cut_tj ρ_j``,
    - EL-4: ``P^cut_t = [−ΔP^cut_t]^+``, capped at ``P^{cut,0}_t`` (one cannot curtail more than the
      curtailable load: EL-5's ``P̄^cut = P^{cut,0}`` `[default]`),

    with ``ρ_j = (π_j − π^0_j)/π^0_j``.  The load after the response is
    ``P^fix + P^{tran,0} + ΔP^tran + P^{cut,0} − P^cut`` (:func:`load_after_response`).  EL-5's
    shift bound ``|ΔP^tran| ≤ P̄^tran`` is a constraint of the DA design problem, not applied here
    (clipping would break energy conservation).

    Shapes: bases ``(T,)`` or ``(B, T)`` for ``B`` buses; matrices ``(T, T)`` or ``(B, T, T)``.
    """
    p_tran0 = np.asarray(base_shiftable, dtype=float)
    p_cut0 = np.asarray(base_curtailable, dtype=float)
    rho = relative_price_change(prices, ref_prices)
    n = rho.size
    for name, base, mat in (
        ("shiftable", p_tran0, np.asarray(e_tran, float)),
        ("curtailable", p_cut0, np.asarray(e_cut, float)),
    ):
        if base.ndim not in (1, 2) or base.shape[-1] != n:
            raise ValueError(f"base_{name} must have shape ({n},) or (B, {n}) to match the prices, got {base.shape}")
        if not np.all(np.isfinite(base)) or np.any(base < 0):
            raise ValueError(f"base_{name} must be finite and >= 0 kW")
        if mat.shape[-2:] != (n, n) or mat.ndim > base.ndim + 1:
            raise ValueError(
                f"elasticity matrix of the {name} load must have shape ({n}, {n}) or (B, {n}, {n}), got {mat.shape}"
            )
        if not np.all(np.isfinite(mat)):
            raise ValueError(f"elasticity matrix of the {name} load must be finite")
    d_tran = p_tran0 * np.matmul(np.asarray(e_tran, float), rho)
    d_cut = p_cut0 * np.matmul(np.asarray(e_cut, float), rho)
    p_cut = np.minimum(np.clip(-d_cut, 0.0, None), p_cut0)
    if np.any(p_tran0 + d_tran < -1e-9):
        logger.warning(
            "price response shifts more shiftable load than there is (min P_tran0 + ΔP_tran = %.6g kW); "
            "prices far from the reference or elasticities too large",
            float(np.min(p_tran0 + d_tran)),
        )
    return d_tran, p_cut


def load_after_response(
    fixed: Sequence[float] | np.ndarray,
    base_shiftable: Sequence[float] | np.ndarray,
    base_curtailable: Sequence[float] | np.ndarray,
    delta_tran: np.ndarray,
    p_cut: np.ndarray,
) -> np.ndarray:
    """EL-4: ``P^L_t = P^fix_t + P^{tran,0}_t + ΔP^tran_t + P^{cut,0}_t − P^cut_t`` (kW)."""
    return (
        np.asarray(fixed, float)
        + np.asarray(base_shiftable, float)
        + np.asarray(delta_tran, float)
        + np.asarray(base_curtailable, float)
        - np.asarray(p_cut, float)
    )


# ------------------------------------------------------------------------------ bisection (variant A)


def bisection_iteration_bound(p_min: float, p_max: float, xi: float) -> int:
    """Most excess-demand evaluations variant A needs to meet eq. 34: ``⌈log2((π^max − π^min)/(ξ π^min))⌉``.

    Reasoning (no off-by-one): with ``W = π^max − π^min``, the first update (at the start price
    ``π^0 ∈ [π^min, π^max]``) leaves a bracket of width ``w_1 ≤ W``; every later update halves it
    (the evaluated price is the midpoint), so ``w_d ≤ W / 2^{d−1}``.  The proposed price is the new
    midpoint, whose distance to the evaluated price is ``w_d / 2 ≤ W / 2^d``; the evaluated price is
    ``≥ π^min``, so eq. 34 holds once ``W / 2^d ≤ ξ π^min``, i.e. at iteration ``d =
    ⌈log2(W / (ξ π^min))⌉`` at the latest (at least 1: one evaluation is always made).  Periods whose
    bracket collapses (``|Z_k| ≤ tol_Z``) change by 0 and do not delay the stop.
    """
    _check_bounds(p_min, p_max, xi)
    ratio = (p_max - p_min) / (xi * p_min)
    return max(1, math.ceil(math.log2(ratio))) if ratio > 1 else 1


def _check_bounds(p_min: float, p_max: float, xi: float) -> None:
    if not (math.isfinite(p_min) and p_min > 0):
        raise ValueError(f"p_min must be a finite price > 0 USD/kWh, got {p_min}")
    if not (math.isfinite(p_max) and p_max > p_min):
        raise ValueError(f"p_max must be a finite price > p_min = {p_min} USD/kWh, got {p_max}")
    if not (math.isfinite(xi) and xi > 0):
        raise ValueError(f"xi (eq. 34 convergence coefficient) must be > 0, got {xi}")


def bisection_prices(
    excess_demand: Callable[[np.ndarray], np.ndarray],
    n_periods: int,
    p0: float | Sequence[float] | np.ndarray = REFERENCE_PRICE,
    p_min: float = 0.03,
    p_max: float = 0.25,
    xi: float = 0.01,
    max_iter: int = 50,
    tol_z: float = 1.0,
) -> tuple[np.ndarray, PriceTrace]:
    """Rolling prices by per-period excess-demand bisection (SPEC §5.6 variant A, 004 eqs. 32–34).

    ``excess_demand(π)`` returns ``Z_k(π)`` in kW for the price vector ``π`` (USD/kWh, one per
    period): ``Z > 0`` means the price is too low.  Starting from ``π = p0`` and the bracket
    ``[p_min, p_max]`` in every period, each iteration evaluates ``Z`` and updates per period:

    - ``Z_k > tol_z``: ``lo_k ← π_k``;  ``Z_k < −tol_z``: ``hi_k ← π_k``;  else ``lo_k = hi_k ← π_k``
      (the period is settled and frozen for the rest of the search);
    - proposes ``π^new = (lo + hi)/2`` and stops when ``max_k |π^new_k − π_k| / π_k ≤ ξ`` (eq. 34),
      returning ``π^new``.

    ``π`` always lies in its bracket, so brackets only shrink (``lo`` non-decreasing, ``hi``
    non-increasing) and the search stops within :func:`bisection_iteration_bound` iterations (it
    reports non-convergence after ``max_iter``, logging a warning).  If ``Z_k(π) > 0`` for every
    price the price climbs towards ``p_max`` and ends within ``ξ p_max`` of it; symmetrically towards
    ``p_min`` if ``Z_k < 0`` throughout.

    The returned prices are the last midpoint, which was not evaluated: the trace's
    ``max_abs_excess_kw`` is ``max_k |Z_k|`` at the last *evaluated* prices.  Callers that need
    ``Z`` at the returned prices evaluate it once more (the followers must respond to them anyway).
    """
    if int(n_periods) != n_periods or n_periods < 1:
        raise ValueError(f"n_periods must be a positive integer, got {n_periods}")
    n_periods = int(n_periods)
    p_min, p_max, xi = float(p_min), float(p_max), float(xi)
    _check_bounds(p_min, p_max, xi)
    if int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"max_iter (D_max) must be a positive integer, got {max_iter}")
    if not (math.isfinite(tol_z) and tol_z >= 0):
        raise ValueError(f"tol_z must be a finite excess demand >= 0 kW, got {tol_z}")
    p0_arr = np.asarray(p0, dtype=float)
    if p0_arr.ndim > 1 or p0_arr.size not in (1, n_periods):
        raise ValueError(f"p0 must be one price or {n_periods} prices (one per period), got shape {p0_arr.shape}")
    pi = as_vector(np.broadcast_to(p0_arr.reshape(-1), (n_periods,)), "p0")
    if np.any((pi < p_min) | (pi > p_max)):
        k = int(np.flatnonzero((pi < p_min) | (pi > p_max))[0])
        raise ValueError(f"p0 of period {k + 1} must lie in [p_min, p_max] = [{p_min}, {p_max}], got {pi[k]}")
    lo = np.full(n_periods, p_min)
    hi = np.full(n_periods, p_max)
    rows: dict[str, list[np.ndarray]] = {"prices": [], "z": [], "lo": [], "hi": []}
    changes: list[float] = []
    converged = False
    for d in range(int(max_iter)):
        z = np.asarray(excess_demand(pi.copy()), dtype=float)
        if z.shape != (n_periods,):
            raise ValueError(f"excess_demand returned shape {z.shape} at iteration {d + 1}, expected ({n_periods},)")
        if not np.all(np.isfinite(z)):
            k = int(np.flatnonzero(~np.isfinite(z))[0])
            raise ValueError(f"excess_demand returned {z[k]} for period {k + 1} at iteration {d + 1}")
        up = z > tol_z
        down = z < -tol_z
        settled = ~(up | down)
        lo = np.where(up | settled, pi, lo)
        hi = np.where(down | settled, pi, hi)
        pi_new = 0.5 * (lo + hi)
        change = float(np.max(np.abs(pi_new - pi) / pi))
        rows["prices"].append(pi)
        rows["z"].append(z)
        rows["lo"].append(lo)
        rows["hi"].append(hi)
        changes.append(change)
        logger.debug("bisection iteration %d: max rel change %.4g, max |Z| %.4g kW", d + 1, change, np.abs(z).max())
        pi = pi_new
        if change <= xi:  # eq. 34
            converged = True
            break
    trace = PriceTrace(
        prices=np.vstack(rows["prices"]),
        excess_demand_kw=np.vstack(rows["z"]),
        lo=np.vstack(rows["lo"]),
        hi=np.vstack(rows["hi"]),
        max_rel_change=np.array(changes),
        final_prices=pi,
        converged=converged,
        xi=xi,
        tol_z=tol_z,
    )
    if converged:
        logger.info(
            "bisection converged in %d iterations (xi = %g); max |Z| = %.4g kW at the last evaluated prices",
            trace.iterations,
            xi,
            trace.max_abs_excess_kw,
        )
    else:
        logger.warning(
            "bisection did not converge in %d iterations (last max rel change %.4g > xi = %g)",
            trace.iterations,
            changes[-1],
            xi,
        )
    return pi, trace


def excess_demand_of(participants: Sequence[Participant]) -> Callable[[np.ndarray], np.ndarray]:
    """``Z(π) = Σ_n respond(π).net_demand_kw`` over the participants (SPEC §5.6), for :func:`bisection_prices`."""
    group = list(participants)
    if not group:
        raise ValueError("excess_demand_of needs at least one participant")

    def z(prices: np.ndarray) -> np.ndarray:
        total = np.zeros(prices.shape[0])
        for p in group:
            offer = p.respond(prices)
            if offer.net_demand_kw is None:
                raise ValueError(f"participant {p.name!r} answered respond() without net_demand_kw (needed for Z_k)")
            if offer.net_demand_kw.shape != total.shape:
                raise ValueError(
                    f"participant {p.name!r} answered respond() with {offer.net_demand_kw.size} periods, "
                    f"expected {total.size}"
                )
            total += offer.net_demand_kw
        return total

    return z

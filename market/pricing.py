"""Prices: day-ahead TOU helpers, the price-elasticity response, and bisection rolling prices.

- TOU price vector from period levels and a partition (SPEC §5.3, 004 eq. 7).
- Price-elasticity response EL-1…EL-4 (SPEC §3.6c) with the energy-conserving shiftable matrix
  and the diagonal curtailable matrix.
- Bisection rolling prices, variant A (SPEC §5.6, 004 eqs. 32–34 repaired) with the upstream grid as a
  supplier at its price (SPEC §6.7), with its trace and each period's outcome.

The day-ahead *optimisation* over the TOU levels is a MILP built by the coordinator; only the numpy
pieces it needs live here.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from market.interfaces import (
    ABSORBED,
    BRACKETED,
    CLEARED,
    CLEARING_STATUSES,
    CURTAILED,
    SHORT_AT_P_MAX,
    SURPLUS_AT_P_MIN,
    UNFINISHED,
    Participant,
    PriceTrace,
    as_vector,
)

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


def bisection_iteration_bound(p_min: float, p_max: float, xi: float, upstream_supply: bool = False) -> int:
    """Most excess-demand evaluations variant A needs to meet eq. 34: ``⌈log2((π^max − π^min)/(ξ π^min))⌉``.

    Reasoning (no off-by-one): with ``W = π^max − π^min``, the first update (at the start price
    ``π^0 ∈ [π^min, π^max]``) leaves a bracket of width ``w_1 ≤ W``; every later update halves it
    (the evaluated price is the midpoint), so ``w_d ≤ W / 2^{d−1}``.  The proposed price is the new
    midpoint, whose distance to the evaluated price is ``w_d / 2 ≤ W / 2^d``; the evaluated price is
    ``≥ π^min``, so eq. 34 holds once ``W / 2^d ≤ ξ π^min``, i.e. at iteration ``d =
    ⌈log2(W / (ξ π^min))⌉`` at the latest (at least 1: one evaluation is always made).  Periods whose
    bracket collapses (``|Z_k| ≤ tol_Z``) change by 0 and do not delay the stop.

    With the upstream supply step (SPEC §6.7, ``upstream_supply=True``) each period is evaluated once
    at its upstream price instead of a midpoint; that step shrinks the bracket without halving it, so
    the bound is one more.
    """
    _check_bounds(p_min, p_max, xi)
    ratio = (p_max - p_min) / (xi * p_min)
    base = max(1, math.ceil(math.log2(ratio))) if ratio > 1 else 1
    return base + (1 if upstream_supply else 0)


def _check_bounds(p_min: float, p_max: float, xi: float) -> None:
    if not (math.isfinite(p_min) and p_min > 0):
        raise ValueError(f"p_min must be a finite price > 0 USD/kWh, got {p_min}")
    if not (math.isfinite(p_max) and p_max > p_min):
        raise ValueError(f"p_max must be a finite price > p_min = {p_min} USD/kWh, got {p_max}")
    if not (math.isfinite(xi) and xi > 0):
        raise ValueError(f"xi (eq. 34 convergence coefficient) must be > 0, got {xi}")


def upstream_supply_kw(
    local_excess_kw: np.ndarray, prices: np.ndarray, upstream_price: np.ndarray, upstream_max_kw: np.ndarray,
    rel: float = 1e-12,
) -> np.ndarray:
    """The upstream grid's supply step of SPEC §6.7, kW per period.

    The grid offers up to ``P^{up,max}_k`` at its price ``c^buy_k``: nothing below that price, all of it
    above, and at exactly ``c^buy_k`` whatever the local excess demand needs within ``[0, P^{up,max}_k]``
    (so ``Z_k − P^up_k = 0`` there when ``0 ≤ Z_k ≤ P^{up,max}_k``).  "Exactly" is up to a relative
    ``rel``.
    """
    z = np.asarray(local_excess_kw, dtype=float)
    pi = np.asarray(prices, dtype=float)
    c = np.asarray(upstream_price, dtype=float)
    cap = np.broadcast_to(np.asarray(upstream_max_kw, dtype=float), z.shape)
    above = pi > c * (1 + rel)
    at = ~above & (pi >= c * (1 - rel))
    return np.where(above, cap, np.where(at, np.clip(z, 0.0, cap), 0.0))


def _supply_args(upstream_price: float | Sequence[float] | np.ndarray | None,
                 upstream_max_kw: float | Sequence[float] | np.ndarray | None,
                 n: int, p_min: float, p_max: float) -> tuple[np.ndarray | None, np.ndarray]:
    if upstream_price is None:
        if upstream_max_kw is not None:
            raise ValueError("upstream_max_kw was given without upstream_price (the supply step needs both)")
        return None, np.zeros(n)
    c_arr = np.asarray(upstream_price, dtype=float)
    if c_arr.ndim > 1 or c_arr.size not in (1, n):
        raise ValueError(f"upstream_price must be one price or {n} prices (one per period), got shape {c_arr.shape}")
    c = np.broadcast_to(c_arr.reshape(-1), (n,)).astype(float)
    bad = np.flatnonzero(~np.isfinite(c) | (c < p_min) | (c > p_max))
    if bad.size:
        k = int(bad[0])
        raise ValueError(f"upstream_price of period {k + 1} must lie in the price bracket [p_min, p_max] = "
                         f"[{p_min}, {p_max}] USD/kWh, got {c[k]}")
    if upstream_max_kw is None:
        raise ValueError("upstream_price needs upstream_max_kw, the grid's capacity in kW (one value or one per "
                         "period)")
    cap_arr = np.asarray(upstream_max_kw, dtype=float)
    if cap_arr.ndim > 1 or cap_arr.size not in (1, n):
        raise ValueError(f"upstream_max_kw must be one power or {n} (one per period), got shape {cap_arr.shape}")
    cap = np.broadcast_to(cap_arr.reshape(-1), (n,)).astype(float)
    bad = np.flatnonzero(~np.isfinite(cap) | (cap < 0))
    if bad.size:
        k = int(bad[0])
        raise ValueError(f"upstream_max_kw of period {k + 1} must be a finite power >= 0 kW, got {cap[k]}")
    return c, cap


def bisection_prices(
    excess_demand: Callable[[np.ndarray], np.ndarray],
    n_periods: int,
    p0: float | Sequence[float] | np.ndarray = REFERENCE_PRICE,
    p_min: float = 0.03,
    p_max: float = 0.25,
    xi: float = 0.01,
    max_iter: int = 50,
    tol_z: float = 1.0,
    upstream_price: float | Sequence[float] | np.ndarray | None = None,
    upstream_max_kw: float | Sequence[float] | np.ndarray | None = None,
    curtailable_kw: float | Sequence[float] | np.ndarray | None = None,
) -> tuple[np.ndarray, PriceTrace]:
    """Rolling prices by per-period excess-demand bisection (SPEC §5.6 variant A, §6.7, 004 eqs. 32–34).

    ``excess_demand(π)`` returns the participants' ``Z_k(π)`` in kW for the price vector ``π``
    (USD/kWh, one per period): ``Z > 0`` means the price is too low.

    *Upstream supply* (SPEC §6.7, when ``upstream_price`` is given): the grid supplies up to
    ``upstream_max_kw`` (required with it) at ``c^buy_k = upstream_price[k]``, so the search works on
    ``Z_k − P^up_k(π_k)`` (:func:`upstream_supply_kw`): a deficit period clears at ``c^buy_k`` (the
    coalition's marginal cost), a surplus period below it.  Without it, this is variant A as written.

    *Free disposal* (when ``curtailable_kw`` is given: the local generation per period that can be curtailed,
    kW): a surplus that remains at ``p_min`` and is no larger than ``curtailable_kw[k]`` is taken off by
    curtailment, so ``π_k = p_min`` with ``Z_k ≤ 0`` is an equilibrium (the price floor binds and the excess
    supply is disposed of — the complementarity ``π_k ≥ p_min, Z_k ≤ 0, (π_k − p_min) Z_k = 0``); the period's
    outcome is ``curtailed``.  Without it such a period is ``surplus_at_p_min`` (not cleared).

    Starting from ``π = p0`` and the bracket ``[p_min, p_max]`` in every period, each iteration
    evaluates ``Z`` and updates per period:

    - ``Z_k > tol_z``: ``lo_k ← π_k``;  ``Z_k < −tol_z``: ``hi_k ← π_k``;  else ``lo_k = hi_k ← π_k``
      (the period is settled and frozen for the rest of the search);
    - proposes ``π^new = (lo + hi)/2`` — or ``c^buy_k`` when the supply step lies strictly inside the
      bracket, so the step is evaluated exactly once — and stops when ``max_k |π^new_k − π_k| / π_k ≤ ξ``
      (eq. 34) and no supply step is waiting to be evaluated, returning ``π^new``.

    ``π`` always lies in its bracket, so brackets only shrink and the search stops within
    :func:`bisection_iteration_bound` iterations (it logs a warning after ``max_iter``).

    Each period's outcome (:attr:`PriceTrace.status`) is ``cleared`` (settled with ``|Z_k| ≤ tol_z`` and
    no upstream supply), ``absorbed`` (settled at ``c^buy_k`` with the grid covering ``0 < Z_k ≤ P^{up,max}_k``),
    ``bracketed`` (``Z_k`` goes from ``> tol_z`` at ``lo_k`` to ``< −tol_z`` at ``hi_k`` and eq. 34 closed the
    bracket: the price where ``Z_k`` crosses 0 — a root, or a step of a lumpy response — is found to ``ξ``),
    or it did not clear: ``short_at_p_max`` (``Z_k > tol_z`` at every price evaluated, up to ``p_max``),
    ``surplus_at_p_min`` (``Z_k < −tol_z`` down to ``p_min``: more local supply than load at any allowed
    price, and no curtailment to take it off) or ``unfinished`` (``max_iter`` reached with the bracket still open);
    ``curtailed`` (the surplus at ``p_min`` curtailed, see free disposal) counts as cleared.
    ``PriceTrace.converged`` is true only when eq. 34 was met and every period cleared, was bracketed or was
    absorbed; :attr:`PriceTrace.reasons` says why each other period did not clear.

    The returned prices are the last proposal: equal to the evaluated price in settled periods, the
    midpoint of a bracket narrower than ``2ξπ`` elsewhere.  The trace's ``max_abs_excess_kw`` is
    ``max_k |Z_k − P^up_k|`` at the last *evaluated* prices.
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
    c_up, cap_up = _supply_args(upstream_price, upstream_max_kw, n_periods, p_min, p_max)
    curtailable = None
    if curtailable_kw is not None:
        curtailable = np.broadcast_to(np.asarray(curtailable_kw, dtype=float).reshape(-1), (n_periods,)).copy()
        if not np.all(np.isfinite(curtailable) & (curtailable >= 0)):
            raise ValueError(f"curtailable_kw must be finite powers >= 0 kW (one or {n_periods}), got {curtailable_kw}")
    lo = np.full(n_periods, p_min)
    hi = np.full(n_periods, p_max)
    z_lo = np.full(n_periods, math.nan)  # Z at the current lo / hi (the last evaluation that moved it)
    z_hi = np.full(n_periods, math.nan)
    settled = np.zeros(n_periods, dtype=bool)
    rows: dict[str, list[np.ndarray]] = {"prices": [], "z": [], "lo": [], "hi": [], "up": []}
    changes: list[float] = []
    eq34 = False
    for d in range(int(max_iter)):
        z_local = np.asarray(excess_demand(pi.copy()), dtype=float)
        if z_local.shape != (n_periods,):
            raise ValueError(
                f"excess_demand returned shape {z_local.shape} at iteration {d + 1}, expected ({n_periods},)")
        if not np.all(np.isfinite(z_local)):
            k = int(np.flatnonzero(~np.isfinite(z_local))[0])
            raise ValueError(f"excess_demand returned {z_local[k]} for period {k + 1} at iteration {d + 1}")
        up_kw = np.zeros(n_periods) if c_up is None else upstream_supply_kw(z_local, pi, c_up, cap_up)
        z = z_local - up_kw
        up = z > tol_z
        down = z < -tol_z
        now = ~(up | down)
        settled |= now
        lo = np.where(up | now, pi, lo)
        hi = np.where(down | now, pi, hi)
        z_lo = np.where(up | now, z, z_lo)
        z_hi = np.where(down | now, z, z_hi)
        pi_new = 0.5 * (lo + hi)
        pending = np.zeros(n_periods, dtype=bool) if c_up is None else (lo < c_up) & (c_up < hi)
        if c_up is not None:
            pi_new = np.where(pending, c_up, pi_new)
        change = float(np.max(np.abs(pi_new - pi) / pi))
        rows["prices"].append(pi)
        rows["z"].append(z)
        rows["lo"].append(lo)
        rows["hi"].append(hi)
        rows["up"].append(up_kw)
        changes.append(change)
        logger.debug("bisection iteration %d: max rel change %.4g, max |Z| %.4g kW", d + 1, change, np.abs(z).max())
        pi = pi_new
        if change <= xi and not pending.any():  # eq. 34
            eq34 = True
            break
    status, reasons = _period_outcomes(rows, settled, lo, hi, z_lo, z_hi, p_min, p_max, xi, tol_z, eq34, c_up,
                                       curtailable)
    converged = eq34 and all(s in CLEARING_STATUSES for s in status)
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
        eq34_met=eq34,
        status=status,
        reasons=reasons,
        upstream_kw=np.vstack(rows["up"]),
        upstream_price=c_up,
    )
    n_bad = len(trace.uncleared_periods)
    if converged:
        logger.info(
            "bisection converged in %d iterations (xi = %g): %d periods cleared, %d absorbed by the upstream supply, "
            "%d surplus periods curtailed at p_min",
            trace.iterations, xi, len(trace.periods_with(CLEARED)), len(trace.periods_with(ABSORBED)),
            len(trace.periods_with(CURTAILED)),
        )
    elif eq34:
        logger.info("bisection met eq. 34 in %d iterations, but %d of %d periods did not clear (first: period %d, %s)",
                    trace.iterations, n_bad, n_periods, trace.uncleared_periods[0],
                    trace.reasons[trace.uncleared_periods[0] - 1])
    else:
        logger.warning(
            "bisection did not converge in %d iterations (last max rel change %.4g > xi = %g); %d periods not cleared",
            trace.iterations, changes[-1], xi, n_bad,
        )
    return pi, trace


def _period_outcomes(rows: dict[str, list[np.ndarray]], settled: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                     z_lo: np.ndarray, z_hi: np.ndarray, p_min: float, p_max: float, xi: float, tol_z: float,
                     eq34: bool, c_up: np.ndarray | None,
                     curtailable: np.ndarray | None = None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Each period's outcome and, where it did not clear, why (see :func:`bisection_prices`)."""
    up_last = rows["up"][-1]
    status: list[str] = []
    reasons: list[str] = []
    for k in range(lo.size):
        if settled[k]:
            at_step = c_up is not None and up_last[k] > tol_z and lo[k] == c_up[k]
            status.append(ABSORBED if at_step else CLEARED)
            reasons.append("")
            continue
        width = hi[k] - lo[k]
        if not eq34 and width > 2 * xi * lo[k]:
            status.append(UNFINISHED)
            reasons.append(f"the iteration limit was reached with the bracket [{lo[k]:.4f}, {hi[k]:.4f}] still open")
        elif hi[k] >= p_max and not math.isfinite(z_hi[k]):
            status.append(SHORT_AT_P_MAX)
            supply = "" if c_up is None else " even with the upstream supply (capped at upstream_max_kw)"
            reasons.append(f"excess demand {z_lo[k]:+.1f} kW remains at {lo[k]:.4f}, the top of the bracket "
                           f"(p_max = {p_max:g}){supply}: load exceeds supply at every allowed price")
        elif (lo[k] <= p_min and not math.isfinite(z_lo[k]) and curtailable is not None
              and -z_hi[k] <= curtailable[k] + tol_z):
            status.append(CURTAILED)
            reasons.append("")
        elif lo[k] <= p_min and not math.isfinite(z_lo[k]):
            status.append(SURPLUS_AT_P_MIN)
            reasons.append(f"surplus {z_hi[k]:+.1f} kW remains at {hi[k]:.4f}, the bottom of the bracket "
                           f"(p_min = {p_min:g}): local supply exceeds the load at every allowed price; the "
                           "rest is stored, exchanged or curtailed")
        else:
            status.append(BRACKETED)
            reasons.append("")
    return tuple(status), tuple(reasons)


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

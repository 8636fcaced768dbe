"""Weighted Nash bargaining with contribution weights (SPEC §5.5, 004 eqs. 23–31 repaired).

Two steps with transferable utility:

1. NB-P1 (efficiency) is solved by the coordinator; the market receives, per participant, the
   standalone cost ``C^0_n`` (disagreement point) and the coalition cost ``C^*_n`` with the signed
   exchange ``P^ex_{n,k}`` as :class:`~market.interfaces.Offer` objects.
2. The surplus ``S = Σ_n (C^0_n − C^*_n)`` is shared by NB-P2 in closed form NB-2 with the
   contribution weights W-1…W-4.

Functions on plain arrays (:func:`exchange_energy`, :func:`contribution_weights`,
:func:`nash_allocation`, :func:`implied_exchange_price`) and one entry point on offers
(:func:`allocate`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from market.interfaces import Allocation, Offer, as_vector, check_kappa

logger = logging.getLogger(__name__)

NegativeSurplusPolicy = Literal["disagree", "raise"]


class NegativeSurplusError(ValueError):
    """NB-P1 returned a coalition that costs more than standing alone (``S < 0``)."""

    def __init__(self, surplus: float, message: str) -> None:
        super().__init__(message)
        self.surplus = surplus


def _names(names: Sequence[str] | None, n: int) -> list[str]:
    if names is None:
        return [f"participant {i}" for i in range(n)]
    out = [str(x) for x in names]
    if len(out) != n:
        raise ValueError(f"names: expected {n} entries, got {len(out)}")
    return out


# ------------------------------------------------------------------------------ W-1 … W-4


def exchange_energy(p_ex_kw: Sequence[float] | np.ndarray, dt_h: float) -> tuple[np.ndarray, np.ndarray]:
    """Exported and imported energy of each participant (W-1), kWh.

    ``E^out_n = Σ_k Δt [P^ex_{n,k}]^+`` and ``E^in_n = Σ_k Δt [−P^ex_{n,k}]^+`` with the signed
    ``P^ex = P^out − P^in`` (> 0: export).  ``p_ex_kw`` has shape ``(K,)`` (one participant; scalars
    are returned as 0-d arrays) or ``(N, K)``; the sum runs over the last axis.
    """
    if not (math.isfinite(float(dt_h)) and float(dt_h) > 0):
        raise ValueError(f"dt_h must be a finite period length > 0 h, got {dt_h}")
    p = np.asarray(p_ex_kw, dtype=float)
    if p.ndim not in (1, 2):
        raise ValueError(f"p_ex_kw must have shape (K,) or (N, K), got {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError("p_ex_kw must be finite")
    e_out = float(dt_h) * np.clip(p, 0.0, None).sum(axis=-1)
    e_in = float(dt_h) * np.clip(-p, 0.0, None).sum(axis=-1)
    return e_out, e_in


def contribution_weights(
    e_out_kwh: Sequence[float] | np.ndarray,
    e_in_kwh: Sequence[float] | np.ndarray,
    kappa: float = 0.5,
    *,
    names: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Contribution ``d``, share ``D`` and bargaining weight ``μ`` per participant (W-2, W-3, W-4).

    - W-2: ``d_n = exp(E^out_n / E^out_max − E^in_n / E^in_max)``; a ratio whose ``E_max`` is 0 is 0,
      so ``d_n ∈ [e^{-1}, e]``.
    - W-3: ``D_n = d_n / Σ_m d_m``.
    - W-4: ``μ_n = D_n − κ (D_n − mean_m D_m) = (1 − κ) D_n + κ / N`` with ``κ ∈ [0, 1)``; ``κ = 0``
      gives ``μ = D``, larger ``κ`` shrinks the weights towards the equal share ``1/N``.

    All three are positive; ``D`` and ``μ`` sum to 1.
    """
    kappa = check_kappa(kappa)
    e_out = as_vector(e_out_kwh, "e_out_kwh")
    n = e_out.size
    if n == 0:
        raise ValueError("contribution_weights needs at least one participant")
    e_in = as_vector(e_in_kwh, "e_in_kwh", length=n)
    who = _names(names, n)
    for label, arr in (("E_out", e_out), ("E_in", e_in)):
        for i in np.flatnonzero(arr < 0):
            raise ValueError(f"{label} of {who[i]} must be >= 0 kWh (W-1 sums positive parts), got {arr[i]}")
    out_max = float(e_out.max())
    in_max = float(e_in.max())
    r_out = e_out / out_max if out_max > 0 else np.zeros(n)
    r_in = e_in / in_max if in_max > 0 else np.zeros(n)
    d = np.exp(r_out - r_in)
    big_d = d / d.sum()
    mu = big_d - kappa * (big_d - big_d.mean())
    return d, big_d, mu


# ------------------------------------------------------------------------------ NB-2


@dataclass(frozen=True, eq=False)
class NashSplit:
    """Result of :func:`nash_allocation`.

    - ``payments``: ``Π^*_n`` (> 0: pays), summing to 0.
    - ``final_costs``: ``C^fin_n`` — ``C^*_n + Π^*_n`` if the coalition is formed, else ``C^0_n``.
    - ``surplus``: the shared ``S`` (≥ 0); ``surplus_raw``: ``Σ (C^0_n − C^*_n)`` before the guard.
    - ``coalition_formed``: false when the guard rejected the coalition (``S_raw < 0``).
    """

    payments: np.ndarray
    final_costs: np.ndarray
    surplus: float
    surplus_raw: float
    coalition_formed: bool


def nash_allocation(
    standalone_costs: Sequence[float] | np.ndarray,
    coalition_costs: Sequence[float] | np.ndarray,
    weights: Sequence[float] | np.ndarray,
    *,
    names: Sequence[str] | None = None,
    on_negative_surplus: NegativeSurplusPolicy = "disagree",
) -> NashSplit:
    """Weighted Nash bargaining over transfer payments, closed form NB-2 of NB-P2.

    ``max_Π Σ_n w_n ln(C^0_n − C^*_n − Π_n)  s.t.  Σ_n Π_n = 0,  C^0_n − C^*_n − Π_n ≥ 0``
    is solved by ``Π^*_n = (C^0_n − C^*_n) − w_n / Σ_m w_m · S`` with ``S = Σ_n (C^0_n − C^*_n)``,
    so ``C^fin_n = C^*_n + Π^*_n = C^0_n − w_n / Σ_m w_m · S``: budget balanced, individually
    rational, Pareto efficient (inherited from NB-P1), equal split of ``S`` for equal weights.
    Weights need not be normalised but must be positive.

    Guard ``S < 0`` (SPEC §5.5: "set S ← max(S, 0), log it, and allocate nothing").  Read literally,
    keeping the P1 plan with ``S = 0`` gives ``Π_n = C^0_n − C^*_n`` whose sum is ``S_raw < 0``: the
    participants would be paid ``|S_raw|`` that nobody funds — not budget balanced.  Keeping NB-2
    with the negative ``S`` instead balances the budget but leaves every participant worse than
    alone.  Both are unsound, because a coalition whose plan costs more than the standalone plans is
    not worth forming.  This function therefore resolves the guard as the *disagreement outcome*:

    - ``on_negative_surplus="disagree"`` (default): log a warning and return the disagreement point —
      no payments (``Π = 0``, exactly budget balanced), ``C^fin_n = C^0_n`` (IR with equality),
      ``surplus = 0``, ``coalition_formed = False``.  The caller must then execute the standalone
      plans instead of the P1 plan (:func:`allocate` records ``coalition_cost = C^0`` and zero
      exchange energies so that the :class:`~market.interfaces.Allocation` stays consistent).
    - ``on_negative_surplus="raise"``: raise :class:`NegativeSurplusError`.

    ``S = 0`` exactly is not a rejection: NB-2 then gives ``C^fin = C^0`` with balanced payments.
    """
    if on_negative_surplus not in ("disagree", "raise"):
        raise ValueError(f"on_negative_surplus must be 'disagree' or 'raise', got {on_negative_surplus!r}")
    c0 = as_vector(standalone_costs, "standalone_costs")
    n = c0.size
    if n == 0:
        raise ValueError("nash_allocation needs at least one participant")
    c_star = as_vector(coalition_costs, "coalition_costs", length=n)
    w = as_vector(weights, "weights", length=n)
    who = _names(names, n)
    for i in range(n):
        if not w[i] > 0:
            raise ValueError(f"weight of {who[i]} must be > 0 (W-4 weights are positive), got {w[i]}")
    share = w / w.sum()
    gains_p1 = c0 - c_star
    s_raw = math.fsum(gains_p1.tolist())
    if s_raw < 0:
        worse = [f"{who[i]} ({gains_p1[i]:+.6g})" for i in range(n) if gains_p1[i] < 0]
        msg = (
            f"NB-P1 coalition costs more than standing alone: S = Σ(C0 − C*) = {s_raw:.6g} < 0 "
            f"(C0 − C* per participant below 0: {', '.join(worse) or 'none'}); "
            "e.g. a MIP gap in P1, or standalone costs reported below the true ones (a misreport, SPEC §8); "
            "the standalone plans are at least as good"
        )
        if on_negative_surplus == "raise":
            raise NegativeSurplusError(s_raw, msg)
        logger.warning("%s; allocating nothing: disagreement outcome (no payments, C_fin = C0)", msg)
        return NashSplit(
            payments=np.zeros(n),
            final_costs=c0.copy(),
            surplus=0.0,
            surplus_raw=s_raw,
            coalition_formed=False,
        )
    payments = gains_p1 - share * s_raw
    return NashSplit(
        payments=payments,
        final_costs=c_star + payments,
        surplus=s_raw,
        surplus_raw=s_raw,
        coalition_formed=True,
    )


def nbp2_objective(
    standalone_costs: Sequence[float] | np.ndarray,
    coalition_costs: Sequence[float] | np.ndarray,
    weights: Sequence[float] | np.ndarray,
    payments: Sequence[float] | np.ndarray,
) -> float:
    """NB-P2's objective ``Σ_n w_n ln(C^0_n − C^*_n − Π_n)`` (−inf if a gain is ≤ 0)."""
    gain = np.asarray(standalone_costs, float) - np.asarray(coalition_costs, float) - np.asarray(payments, float)
    if np.any(gain <= 0):
        return -math.inf
    return float(np.asarray(weights, float) @ np.log(gain))


def implied_exchange_price(
    payments: Sequence[float] | np.ndarray,
    e_out_kwh: Sequence[float] | np.ndarray,
    e_in_kwh: Sequence[float] | np.ndarray,
    *,
    min_net_kwh: float = 1e-9,
) -> np.ndarray:
    """Implied average exchange price ``Π^*_n / (E^in_n − E^out_n)``, USD/kWh (SPEC §5.5, report only).

    A net importer that pays gets a positive price.  NaN where ``|E^in_n − E^out_n| <= min_net_kwh``.
    """
    pay = as_vector(payments, "payments")
    e_out = as_vector(e_out_kwh, "e_out_kwh", length=pay.size, nonnegative=True)
    e_in = as_vector(e_in_kwh, "e_in_kwh", length=pay.size, nonnegative=True)
    net = e_in - e_out
    out = np.full(pay.size, np.nan)
    ok = np.abs(net) > min_net_kwh
    out[ok] = pay[ok] / net[ok]
    return out


# ------------------------------------------------------------------------------ from offers


def allocate(
    standalone: Sequence[Offer],
    coalition: Sequence[Offer],
    *,
    kappa: float = 0.5,
    on_negative_surplus: NegativeSurplusPolicy = "disagree",
    balance_tol_kw: float = 1e-3,
) -> Allocation:
    """Bargaining outcome from the standalone and the coalition offers (SPEC §5.5, NB-P1 → NB-2).

    ``standalone[n].cost`` is ``C^0_n``; its exchange must be absent or zero.  ``coalition`` holds the
    NB-P1 plan of the same participants (any order, matched by name) with ``cost = C^*_n`` and
    ``exchange_kw = P^ex_{n,k}``.  The weights come from W-1…W-4 on the coalition exchange, the
    payments from NB-2.  The result is ordered like ``standalone``.

    CL-2 with ``η^x = 1`` makes ``Σ_n P^ex_{n,k} = 0``; a larger imbalance than ``balance_tol_kw`` in
    any period is logged as a warning (losses or an inconsistent P1 result), not rejected.

    If NB-P1's surplus is negative the coalition is rejected (see :func:`nash_allocation`): the
    allocation then describes the standalone plans — ``coalition_cost = C^0``, zero exchange energy,
    equal weights, zero payments — with ``coalition_formed = False``.
    """
    if not standalone:
        raise ValueError("allocate needs at least one standalone offer")
    names = [o.participant for o in standalone]
    dup = sorted({x for x in names if names.count(x) > 1})
    if dup:
        raise ValueError(f"standalone offers repeat participants {dup}")
    for o in standalone:
        if o.exchange_kw is not None and np.any(np.abs(o.exchange_kw) > 1e-9):
            raise ValueError(
                f"standalone offer of {o.participant!r} has non-zero exchange "
                f"(max |P_ex| = {np.abs(o.exchange_kw).max():.6g} kW); the disagreement point is solved with "
                "P_in = P_out = 0 (SPEC §5.5)"
            )
    by_name: dict[str, Offer] = {}
    for o in coalition:
        if o.participant in by_name:
            raise ValueError(f"coalition offers repeat participant {o.participant!r}")
        by_name[o.participant] = o
    if set(by_name) != set(names):
        missing = sorted(set(names) - set(by_name))
        extra = sorted(set(by_name) - set(names))
        raise ValueError(
            f"standalone and coalition offers must name the same participants; "
            f"missing coalition offers: {missing}, coalition offers without standalone: {extra}"
        )
    ordered = [by_name[x] for x in names]
    dt = ordered[0].dt_h
    n_periods = None
    for o in ordered:
        if o.exchange_kw is None:
            raise ValueError(f"coalition offer of {o.participant!r} has no exchange_kw (P_ex of NB-P1 is needed, W-1)")
        if not math.isclose(o.dt_h, dt, rel_tol=1e-12):
            raise ValueError(f"coalition offer of {o.participant!r} has dt_h = {o.dt_h} h, the others {dt} h")
        if n_periods is None:
            n_periods = o.exchange_kw.size
        elif o.exchange_kw.size != n_periods:
            raise ValueError(
                f"coalition offer of {o.participant!r} covers {o.exchange_kw.size} periods, the others {n_periods}"
            )
    p_ex = np.vstack([o.exchange_kw for o in ordered if o.exchange_kw is not None])
    imbalance = np.abs(p_ex.sum(axis=0))
    if imbalance.size and imbalance.max() > balance_tol_kw:
        k = int(np.argmax(imbalance))
        logger.warning(
            "coalition exchange is not balanced (CL-2): |Σ_n P_ex| = %.6g kW in period %d (tolerance %g kW)",
            imbalance[k],
            k + 1,
            balance_tol_kw,
        )
    c0 = np.array([o.cost for o in standalone])
    c_star = np.array([o.cost for o in ordered])
    e_out, e_in = exchange_energy(p_ex, dt)
    _, _, mu = contribution_weights(e_out, e_in, kappa, names=names)
    split = nash_allocation(c0, c_star, mu, names=names, on_negative_surplus=on_negative_surplus)
    if not split.coalition_formed:
        zeros = np.zeros(len(names))
        _, _, mu = contribution_weights(zeros, zeros, kappa)
        return Allocation(
            participants=tuple(names),
            standalone_cost=c0,
            coalition_cost=c0,
            weight=mu,
            payment=split.payments,
            energy_out_kwh=zeros,
            energy_in_kwh=zeros,
            surplus=0.0,
            kappa=kappa,
            surplus_raw=split.surplus_raw,
            coalition_formed=False,
        )
    return Allocation(
        participants=tuple(names),
        standalone_cost=c0,
        coalition_cost=c_star,
        weight=mu,
        payment=split.payments,
        energy_out_kwh=e_out,
        energy_in_kwh=e_in,
        surplus=split.surplus,
        kappa=kappa,
        surplus_raw=split.surplus_raw,
        coalition_formed=True,
    )

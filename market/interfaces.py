"""What the market exchanges with its participants (DESIGN principle 2; SPEC §5.5, §5.6).

The market knows neither Pyomo nor Mesa.  A participant (a cluster of 004, or any agent that can
bargain) is anything that fulfils :class:`Participant`; it answers with :class:`Offer` objects.
The market answers with an :class:`Allocation` (NB-P1 → W-1…W-4 → NB-2) and records the rolling
price search in a :class:`PriceTrace` (§5.6 variant A).

Sign conventions (SPEC §0): ``exchange_kw`` is the signed inter-cluster exchange
``P^ex = P^out − P^in`` (> 0: the participant exports); ``net_demand_kw`` is the participant's
contribution to the coalition excess demand ``Z_k`` (> 0: it needs energy); a payment ``Π_n > 0``
means participant ``n`` pays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

#: The columns of ``bargaining.csv`` (issue 3, deliverable 7), in order.
BARGAINING_COLUMNS: tuple[str, ...] = (
    "cluster",
    "standalone_cost",
    "coalition_cost",
    "weight",
    "payment",
    "final_cost",
    "gain",
    "energy_out_kwh",
    "energy_in_kwh",
)


# ------------------------------------------------------------------------------ validation helpers


def as_vector(
    values: Sequence[float] | np.ndarray,
    field: str,
    *,
    owner: str = "",
    length: int | None = None,
    nonnegative: bool = False,
    positive: bool = False,
) -> np.ndarray:
    """``values`` as a finite 1-D float array (a copy), or a ValueError naming ``owner`` and ``field``."""
    where = f"{owner}: " if owner else ""
    try:
        arr = np.array(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}{field} must be a 1-D array of numbers ({exc})") from exc
    if arr.ndim != 1:
        raise ValueError(f"{where}{field} must be 1-D, got shape {arr.shape}")
    if length is not None and arr.size != length:
        raise ValueError(f"{where}{field} must have {length} entries, got {arr.size}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{where}{field} must be finite; entry {int(bad[0])} is {arr[bad[0]]}")
    if positive and np.any(arr <= 0):
        i = int(np.flatnonzero(arr <= 0)[0])
        raise ValueError(f"{where}{field} must be > 0; entry {i} is {arr[i]}")
    if nonnegative and np.any(arr < 0):
        i = int(np.flatnonzero(arr < 0)[0])
        raise ValueError(f"{where}{field} must be >= 0; entry {i} is {arr[i]}")
    return arr


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


def check_kappa(kappa: float) -> float:
    """W-4's compensation coefficient must lie in [0, 1)."""
    k = float(kappa)
    if not 0.0 <= k < 1.0:  # also rejects NaN
        raise ValueError(f"kappa (W-4 compensation coefficient) must be in [0, 1), got {kappa}")
    return k


# ------------------------------------------------------------------------------ offers and participants


@dataclass(frozen=True, eq=False, init=False)
class Offer:
    """One plan of one participant: its cost and, where relevant, its exchange and net demand.

    - ``cost``: the physical cost of the plan (CL-3 for a cluster), USD; may be negative.
    - ``exchange_kw``: signed ``P^ex_{n,k} = P^out_{n,k} − P^in_{n,k}`` per period (W-1), kW;
      ``None`` means no exchange (a standalone plan, SPEC §5.5 disagreement point).
    - ``net_demand_kw``: ``L^TA + P^EV − P^pv − P^wt`` per period (SPEC §5.6), kW; what the
      bisection sums into the excess demand ``Z_k``.  ``None`` when the plan does not report it.
    - ``dt_h``: period length, h (0.25 on the intraday grid).

    Profiles may be given as any 1-D sequence of numbers; they are stored as read-only float arrays
    (copies).  Equality is identity (arrays do not compare as bools).
    """

    participant: str
    cost: float
    exchange_kw: np.ndarray | None
    net_demand_kw: np.ndarray | None
    dt_h: float

    def __init__(
        self,
        participant: str,
        cost: float,
        exchange_kw: Sequence[float] | np.ndarray | None = None,
        net_demand_kw: Sequence[float] | np.ndarray | None = None,
        dt_h: float = 0.25,
    ) -> None:
        object.__setattr__(self, "participant", participant)
        object.__setattr__(self, "cost", cost)
        object.__setattr__(self, "exchange_kw", exchange_kw)
        object.__setattr__(self, "net_demand_kw", net_demand_kw)
        object.__setattr__(self, "dt_h", dt_h)
        self._validate()

    def _validate(self) -> None:
        if not isinstance(self.participant, str) or not self.participant:
            raise ValueError(f"Offer.participant must be a non-empty string, got {self.participant!r}")
        who = f"offer of {self.participant!r}"
        if not math.isfinite(float(self.cost)):
            raise ValueError(f"{who}: cost must be finite, got {self.cost}")
        object.__setattr__(self, "cost", float(self.cost))
        if not (math.isfinite(float(self.dt_h)) and float(self.dt_h) > 0):
            raise ValueError(f"{who}: dt_h must be a finite period length > 0 h, got {self.dt_h}")
        object.__setattr__(self, "dt_h", float(self.dt_h))
        for name in ("exchange_kw", "net_demand_kw"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _frozen(as_vector(value, name, owner=who)))
        if (
            self.exchange_kw is not None
            and self.net_demand_kw is not None
            and self.exchange_kw.size != self.net_demand_kw.size
        ):
            raise ValueError(
                f"{who}: exchange_kw and net_demand_kw must cover the same periods, "
                f"got {self.exchange_kw.size} and {self.net_demand_kw.size}"
            )

    @property
    def n_periods(self) -> int | None:
        """Number of periods the offer covers (``None`` if it carries no profile)."""
        for arr in (self.exchange_kw, self.net_demand_kw):
            if arr is not None:
                return int(arr.size)
        return None


@runtime_checkable
class Participant(Protocol):
    """A bargaining participant (SPEC §5.5, §5.6): typically a cluster with its TA and EV agents.

    - ``standalone()``: the disagreement plan — the participant's problem solved alone with
      ``P^in = P^out = 0`` at the current TA/EV loads; its ``cost`` is ``C^0_n``.
    - ``respond(prices)``: the followers' response to a rolling price vector (one price per period,
      USD/kWh); its ``net_demand_kw`` enters the bisection's excess demand ``Z_k``.

    The coalition problem NB-P1 is not a participant method: the coordinator composes it from the
    participants' blocks plus the inter-cluster balance CL-2 (DESIGN principle 1) and hands the
    market one coalition :class:`Offer` per participant.
    """

    @property
    def name(self) -> str: ...

    def standalone(self) -> Offer: ...

    def respond(self, prices: np.ndarray) -> Offer: ...


# ------------------------------------------------------------------------------ allocation


@dataclass(frozen=True, eq=False)
class Allocation:
    """Outcome of the bargaining (SPEC §5.5): per participant, in the order of ``participants``.

    - ``standalone_cost``: ``C^0_n`` (disagreement point).
    - ``coalition_cost``: ``C^*_n`` — physical cost of ``n`` in the executed plan (NB-P1).  When the
      coalition was rejected (``coalition_formed`` false, see :func:`market.nash.nash_allocation`)
      the standalone plans are executed and this equals ``standalone_cost``.
    - ``weight``: ``μ_n`` (W-4), positive and summing to 1.
    - ``payment``: ``Π^*_n`` (NB-2), > 0 means ``n`` pays; sums to 0.
    - ``energy_out_kwh`` / ``energy_in_kwh``: ``E^out_n`` / ``E^in_n`` of W-1.
    - ``surplus``: the ``S`` that was shared (≥ 0); ``surplus_raw``: ``Σ_n (C^0_n − C^*_n)`` of P1
      before the guard; ``kappa``: W-4's coefficient.

    Derived: ``final_cost = coalition_cost + payment`` (``C^fin_n``) and
    ``gain = standalone_cost − final_cost`` — consistent by construction.
    """

    participants: tuple[str, ...]
    standalone_cost: np.ndarray
    coalition_cost: np.ndarray
    weight: np.ndarray
    payment: np.ndarray
    energy_out_kwh: np.ndarray
    energy_in_kwh: np.ndarray
    surplus: float
    kappa: float
    surplus_raw: float | None = None
    coalition_formed: bool = True

    def __post_init__(self) -> None:
        names = tuple(self.participants)
        if not names:
            raise ValueError("Allocation needs at least one participant")
        for name in names:
            if not isinstance(name, str) or not name:
                raise ValueError(f"Allocation.participants must be non-empty strings, got {name!r}")
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"Allocation.participants must be unique; repeated: {dup}")
        object.__setattr__(self, "participants", names)
        n = len(names)
        for field_name in ("standalone_cost", "coalition_cost", "payment"):
            arr = as_vector(getattr(self, field_name), field_name, owner="Allocation", length=n)
            object.__setattr__(self, field_name, _frozen(arr))
        for field_name in ("energy_out_kwh", "energy_in_kwh"):
            arr = as_vector(getattr(self, field_name), field_name, owner="Allocation", length=n)
            if np.any(arr < 0):
                i = int(np.flatnonzero(arr < 0)[0])
                raise ValueError(f"Allocation: {field_name} of {names[i]!r} must be >= 0 kWh, got {arr[i]}")
            object.__setattr__(self, field_name, _frozen(arr))
        w = as_vector(self.weight, "weight", owner="Allocation", length=n)
        if np.any(w <= 0):
            i = int(np.flatnonzero(w <= 0)[0])
            raise ValueError(f"Allocation: weight of {names[i]!r} must be > 0, got {w[i]}")
        if abs(w.sum() - 1.0) > 1e-9:
            raise ValueError(f"Allocation: weights must sum to 1, got {w.sum():.12g}")
        object.__setattr__(self, "weight", _frozen(w))
        s = float(self.surplus)
        if not (math.isfinite(s) and s >= 0):
            raise ValueError(f"Allocation: surplus (the shared S) must be finite and >= 0, got {self.surplus}")
        object.__setattr__(self, "surplus", s)
        object.__setattr__(self, "kappa", check_kappa(self.kappa))
        if self.surplus_raw is not None:
            if not math.isfinite(float(self.surplus_raw)):
                raise ValueError(f"Allocation: surplus_raw must be finite, got {self.surplus_raw}")
            object.__setattr__(self, "surplus_raw", float(self.surplus_raw))

    @property
    def n(self) -> int:
        """Number of participants."""
        return len(self.participants)

    @property
    def final_cost(self) -> np.ndarray:
        """``C^fin_n = C^*_n + Π^*_n`` (NB-2)."""
        return self.coalition_cost + self.payment

    @property
    def gain(self) -> np.ndarray:
        """``C^0_n − C^fin_n``: what participant ``n`` saves by cooperating (≥ 0 under IR)."""
        return self.standalone_cost - self.final_cost

    def index(self, participant: str) -> int:
        """Position of ``participant``; ValueError listing the known names otherwise."""
        try:
            return self.participants.index(participant)
        except ValueError:
            raise ValueError(f"unknown participant {participant!r}; known: {list(self.participants)}") from None

    def to_frame(self) -> pd.DataFrame:
        """One row per participant with exactly the ``bargaining.csv`` columns (:data:`BARGAINING_COLUMNS`)."""
        return pd.DataFrame(
            {
                "cluster": list(self.participants),
                "standalone_cost": self.standalone_cost,
                "coalition_cost": self.coalition_cost,
                "weight": self.weight,
                "payment": self.payment,
                "final_cost": self.final_cost,
                "gain": self.gain,
                "energy_out_kwh": self.energy_out_kwh,
                "energy_in_kwh": self.energy_in_kwh,
            },
            columns=list(BARGAINING_COLUMNS),
        )


# ------------------------------------------------------------------------------ price trace


#: Per-period outcomes of the rolling-price search (:attr:`PriceTrace.status`, SPEC §6.7).
CLEARED = "cleared"            # |Z_k| <= tol_z at the final price
ABSORBED = "absorbed"          # the price sits at the upstream price and the grid covers the deficit
BRACKETED = "bracketed"        # Z_k changes sign inside a final bracket narrower than 2 xi pi: price found to xi
SHORT_AT_P_MAX = "short_at_p_max"        # excess demand left even at the top of the bracket
SURPLUS_AT_P_MIN = "surplus_at_p_min"    # surplus left even at the bottom of the bracket, nothing can absorb it
CURTAILED = "curtailed"        # surplus at p_min taken off by curtailing local renewables (free disposal)
UNFINISHED = "unfinished"                # max_iter reached with the bracket still wider than xi
PERIOD_STATUSES: tuple[str, ...] = (CLEARED, ABSORBED, BRACKETED, CURTAILED, SHORT_AT_P_MAX, SURPLUS_AT_P_MIN,
                                    UNFINISHED)
#: Outcomes that count as clearing: the price where Z_k = 0 (or crosses 0) is found to eq. 34's precision, or
#: the price sits at a bound where a supply step takes up the difference (the upstream grid at c^buy_k; the
#: curtailable local renewables at p_min: with free disposal, pi_k = p_min and Z_k <= 0 is an equilibrium).
CLEARING_STATUSES: tuple[str, ...] = (CLEARED, ABSORBED, BRACKETED, CURTAILED)


@dataclass(frozen=True, eq=False)
class PriceTrace:
    """Per-iteration record of the bisection rolling-price search (SPEC §5.6 variant A, §6.7).

    Row ``d`` (iteration ``d + 1``) holds the prices at which the excess demand was evaluated,
    that excess demand ``Z`` (kW, net of the upstream supply when it is counted), and the bracket
    ``[lo, hi]`` *after* the update; ``max_rel_change`` is eq. 34's ``max_k |π_new − π| / π`` for the
    price proposed from that bracket.  ``final_prices`` are the prices the search returns (see
    :func:`market.pricing.bisection_prices`).

    ``eq34_met`` says the search stopped by eq. 34; ``converged`` is stricter: eq. 34 met *and* every
    period cleared — ``|Z_k| ≤ tol_z`` at its price, or ``Z_k`` changing sign inside a final bracket narrower
    than ``2ξπ`` (the clearing price found to eq. 34's precision) — or was absorbed by the upstream supply
    step (SPEC §6.7).
    ``status`` gives each period's outcome (one of :data:`PERIOD_STATUSES`) and ``reasons`` a
    sentence for every period that did not clear (empty string otherwise); ``upstream_kw`` is the
    upstream supply taken at each evaluation (zeros when it is not counted) and ``upstream_price``
    the supply step's price per period (``None``: SPEC §5.6 variant A as written).
    """

    prices: np.ndarray
    excess_demand_kw: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    max_rel_change: np.ndarray
    final_prices: np.ndarray
    converged: bool
    xi: float
    tol_z: float
    eq34_met: bool | None = None
    status: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    upstream_kw: np.ndarray | None = None
    upstream_price: np.ndarray | None = None

    def __post_init__(self) -> None:
        arrays = {
            name: np.array(getattr(self, name), dtype=float)
            for name in ("prices", "excess_demand_kw", "lo", "hi", "max_rel_change", "final_prices")
        }
        d, k = arrays["prices"].shape if arrays["prices"].ndim == 2 else (-1, -1)
        if d < 0:
            raise ValueError(
                f"PriceTrace.prices must be 2-D (iterations × periods), got shape {arrays['prices'].shape}"
            )
        for name in ("excess_demand_kw", "lo", "hi"):
            if arrays[name].shape != (d, k):
                raise ValueError(f"PriceTrace.{name} must have shape {(d, k)}, got {arrays[name].shape}")
        if arrays["max_rel_change"].shape != (d,):
            raise ValueError(f"PriceTrace.max_rel_change must have shape {(d,)}, got {arrays['max_rel_change'].shape}")
        if arrays["final_prices"].shape != (k,):
            raise ValueError(f"PriceTrace.final_prices must have shape {(k,)}, got {arrays['final_prices'].shape}")
        up = np.zeros((d, k)) if self.upstream_kw is None else np.array(self.upstream_kw, dtype=float)
        if up.shape != (d, k):
            raise ValueError(f"PriceTrace.upstream_kw must have shape {(d, k)}, got {up.shape}")
        arrays["upstream_kw"] = up
        if self.upstream_price is not None:
            arrays["upstream_price"] = np.array(self.upstream_price, dtype=float)
            if arrays["upstream_price"].shape != (k,):
                raise ValueError(f"PriceTrace.upstream_price must have shape {(k,)}, "
                                 f"got {arrays['upstream_price'].shape}")
        status = tuple(str(s) for s in self.status)
        if status and len(status) != k:
            raise ValueError(f"PriceTrace.status must name {k} period outcomes, got {len(status)}")
        bad = sorted(set(status) - set(PERIOD_STATUSES))
        if bad:
            raise ValueError(f"PriceTrace.status has unknown outcomes {bad}; allowed: {', '.join(PERIOD_STATUSES)}")
        reasons = tuple(str(r) for r in self.reasons) or ("",) * len(status)
        if len(reasons) != len(status):
            raise ValueError(f"PriceTrace.reasons must have one entry per period status ({len(status)}), "
                             f"got {len(reasons)}")
        for name, arr in arrays.items():
            object.__setattr__(self, name, _frozen(arr))
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "reasons", reasons)
        object.__setattr__(self, "converged", bool(self.converged))
        object.__setattr__(self, "eq34_met", bool(self.converged if self.eq34_met is None else self.eq34_met))
        object.__setattr__(self, "xi", float(self.xi))
        object.__setattr__(self, "tol_z", float(self.tol_z))

    def periods_with(self, *statuses: str) -> list[int]:
        """1-based periods whose outcome is one of ``statuses``."""
        return [k + 1 for k, s in enumerate(self.status) if s in statuses]

    @property
    def uncleared_periods(self) -> list[int]:
        """1-based periods that neither cleared nor were absorbed by the upstream supply (SPEC §6.7)."""
        return [k + 1 for k, s in enumerate(self.status) if s not in CLEARING_STATUSES]

    def clearing_summary(self) -> dict[str, object]:
        """JSON-ready outcome: counts per status, the uncleared periods with price, ``Z`` and the reason."""
        counts = {s: sum(1 for x in self.status if x == s) for s in PERIOD_STATUSES}
        last_z = self.excess_demand_kw[-1] if self.iterations else np.full(self.n_periods, math.nan)
        return {
            "converged": self.converged,
            "eq34_met": self.eq34_met,
            "upstream_supply": self.upstream_price is not None,
            "counts": counts,
            "uncleared": [
                {"period": k, "status": self.status[k - 1], "price": float(self.final_prices[k - 1]),
                 "excess_demand_kw": float(last_z[k - 1]), "reason": self.reasons[k - 1]}
                for k in self.uncleared_periods
            ],
        }

    @property
    def iterations(self) -> int:
        """Number of excess-demand evaluations (iterations of the loop)."""
        return int(self.prices.shape[0])

    @property
    def n_periods(self) -> int:
        """Number of priced periods."""
        return int(self.prices.shape[1])

    @property
    def max_abs_excess_kw(self) -> float:
        """``max_k |Z_k|`` at the last evaluated prices, kW (NaN if there was no iteration)."""
        return float(np.max(np.abs(self.excess_demand_kw[-1]))) if self.iterations else math.nan

    def to_frame(self) -> pd.DataFrame:
        """Tidy per (iteration, period) table: ``iteration, period, price, excess_demand_kw, lo, hi``.

        ``iteration`` and ``period`` are 1-based; prices and brackets are in USD/kWh.
        """
        d, k = self.prices.shape
        return pd.DataFrame(
            {
                "iteration": np.repeat(np.arange(1, d + 1), k),
                "period": np.tile(np.arange(1, k + 1), d),
                "price": self.prices.ravel(),
                "excess_demand_kw": self.excess_demand_kw.ravel(),
                "lo": self.lo.ravel(),
                "hi": self.hi.ravel(),
            }
        )

    def to_iteration_frame(self) -> pd.DataFrame:
        """One row per iteration: ``iteration, max_rel_change, max_abs_excess_kw, max_bracket_width``."""
        d = self.iterations
        return pd.DataFrame(
            {
                "iteration": np.arange(1, d + 1),
                "max_rel_change": self.max_rel_change,
                "max_abs_excess_kw": np.max(np.abs(self.excess_demand_kw), axis=1) if d else np.zeros(0),
                "max_bracket_width": np.max(self.hi - self.lo, axis=1) if d else np.zeros(0),
            }
        )

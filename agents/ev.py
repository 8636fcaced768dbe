"""EV (energy-storage vehicle) agent of paper 004 (SPEC §3.7) and the pooled fleet solver (SPEC §5.6).

Three layers, one model:

* :class:`EVParams` — one vehicle (frozen, validated); :func:`sample_fleet` draws a station's fleet
  from a ``numpy.random.Generator`` exactly as SPEC §3.7's default fleet (60 % home / 40 % work);
  :func:`make_feasible` is SPEC's pre-processing (an unreachable departure SOC is lowered, with a
  logged warning).
* :func:`build_ev` — the Pyomo builder of one vehicle (EV-1…EV-6, overnight variant EV-4'), used
  wherever an EV is part of a joint Pyomo model (centralized / oracle coordination, tests).
  :class:`EVAgent` is the Mesa agent per vehicle and delegates to it.
* :class:`EVFleetParams`, :func:`build_ev_fleet`, :func:`default_ev_fleet` — paper 003's EV fleet
  device (aggregated groups of :func:`build_ev`, relaxed to an LP, with V2G compensation; SPEC §3.7,
  F^EV of §3.15).
* :class:`EVFleet` — the efficient path the coordinators use to get the EV response
  ``P_EV[n,k] = sum_m argmin EV-6`` to a price vector (SPEC §5.6).  EVs are independent, so the
  fleet is one block-diagonal LP assembled directly in numpy and handed to ``highspy`` once
  (DESIGN principle 6, "highspy directly where Pyomo's overhead dominates").  A response changes
  only the cost vector (``changeColsCost``) and re-solves warm from the previous basis.  The LP
  drops the binaries; if a vehicle's LP optimum charges and discharges in the same period, only
  that vehicle is re-solved as its exact MILP (DESIGN principle 7).  Vehicles with a minimum
  charge/discharge power (semi-continuous EV-2) are always solved as their own small MILPs.

Periods: the vehicle arrives at the *start* of period ``arrival_period`` and leaves at the start of
``departure_period``; the SOC ``soc_t`` is the value at the end of period ``t`` (``soc_0`` before
period 1).  A ``work`` vehicle is plugged in for ``a <= t < d`` (EV-4, EV-5); a ``home`` vehicle for
``t < d`` and ``t >= a`` with ``d < a`` (EV-4', cyclic SOC, the trip energy taken at ``t = a``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal

import highspy
import mesa
import numpy as np
import pyomo.core as pyo
import scipy.sparse as sp

from agents.base import BlockHandle, EnergyAgent
from agents.behaviours import EV
from agents.devices.core import (
    _MINE,
    DA_HORIZON,
    RT_HORIZON,
    Bus,
    Horizon,
    LowCarbonHandle,
    _bad,
    _check_nonneg,
    _p,
    _periods,
    complementarity_pair,
    profile_param,
)
from agents.milp import SolveError

log = logging.getLogger(__name__)

EVKind = Literal["work", "home"]
EV_KINDS: tuple[str, ...] = ("work", "home")
COMPLEMENTARITY_TOL = 1e-6  # kW: min(charge, discharge) above this is simultaneous use
INF = highspy.kHighsInf


# ============================================================================ parameters


@dataclass(frozen=True)
class EVParams:
    """One vehicle (SPEC §3.7).  Energies in kWh, powers in kW, SOC as a fraction of capacity.

    ``soc_arrival`` is used by ``work`` vehicles only (a ``home`` vehicle's SOC is cyclic);
    ``trip_kwh`` by ``home`` vehicles only (the energy the day's trip takes, EV-4').
    """

    name: str
    arrival_period: int = field(metadata={"unit": "period", "doc": "first plugged-in period a_m (1-based)"})
    departure_period: int = field(metadata={"unit": "period", "doc": "period d_m at whose start it leaves"})
    kind: EVKind = field(default="work", metadata={"unit": "", "doc": "'work' (EV-4) or 'home' (EV-4')"})
    capacity_kwh: float = field(default=60.0, metadata={"unit": "kWh"})
    p_charge_max_kw: float = field(default=7.0, metadata={"unit": "kW"})
    p_discharge_max_kw: float = field(default=7.0, metadata={"unit": "kW"})
    p_charge_min_kw: float = field(default=0.0, metadata={"unit": "kW"})
    p_discharge_min_kw: float = field(default=0.0, metadata={"unit": "kW"})
    eta: float = field(default=0.95, metadata={"unit": "1", "doc": "charge and discharge efficiency (A5)"})
    soc_min: float = field(default=0.2, metadata={"unit": "1"})
    soc_max: float = field(default=0.95, metadata={"unit": "1"})
    soc_arrival: float = field(default=0.5, metadata={"unit": "1"})
    soc_required: float = field(default=0.8, metadata={"unit": "1"})
    trip_kwh: float = field(default=0.0, metadata={"unit": "kWh"})
    v2g: bool = field(default=True, metadata={"unit": ""})
    c_ev: float = field(default=0.01, metadata={"unit": "currency/kWh", "doc": "degradation cost (EV-6)"})
    lambda_ev: float = field(default=0.0, metadata={"unit": "currency/kWh", "doc": "value of stored energy"})
    station: str = field(default="", metadata={"unit": "", "doc": "station label (e.g. the bus)"})
    soc_start: float | None = field(default=None, metadata={
        "unit": "1", "doc": "home EV carried over from the previous day: SOC at midnight (None: cyclic EV-4')"})
    soc_end_min: float | None = field(default=None, metadata={
        "unit": "1", "doc": "carried-over home EV: lowest SOC at the end of the day (None: soc_min)"})

    def __post_init__(self) -> None:
        def bad(name: str, rng: str) -> ValueError:
            return ValueError(f"EVParams.{name} of EV {self.name!r} must be {rng}, got {getattr(self, name)!r}")

        if self.kind not in EV_KINDS:
            raise bad("kind", "'work' or 'home'")
        for name in ("arrival_period", "departure_period"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
                raise bad(name, "an integer >= 1")
        for name in ("capacity_kwh", "eta"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise bad(name, "> 0" if name == "capacity_kwh" else "in (0, 1]")
        if self.eta > 1:
            raise bad("eta", "in (0, 1]")
        for name in ("p_charge_max_kw", "p_discharge_max_kw", "trip_kwh", "c_ev", "lambda_ev"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise bad(name, "finite and >= 0")
        if not (math.isfinite(self.p_charge_min_kw) and 0 <= self.p_charge_min_kw <= self.p_charge_max_kw):
            raise bad("p_charge_min_kw", f"in [0, p_charge_max_kw = {self.p_charge_max_kw}]")
        if not (math.isfinite(self.p_discharge_min_kw) and 0 <= self.p_discharge_min_kw <= self.p_discharge_max_kw):
            raise bad("p_discharge_min_kw", f"in [0, p_discharge_max_kw = {self.p_discharge_max_kw}]")
        if not (0 <= self.soc_min < 1):
            raise bad("soc_min", "in [0, 1)")
        if not (self.soc_min < self.soc_max <= 1):
            raise bad("soc_max", f"in (soc_min = {self.soc_min}, 1]")
        for name in ("soc_arrival", "soc_required"):
            v = getattr(self, name)
            if not (self.soc_min <= v <= self.soc_max):
                raise bad(name, f"in [soc_min, soc_max] = [{self.soc_min}, {self.soc_max}]")
        for name in ("soc_start", "soc_end_min"):
            v = getattr(self, name)
            if v is not None:
                if self.kind != "home":
                    raise bad(name, "None for a 'work' EV (only overnight vehicles are carried across days)")
                if not (self.soc_min <= v <= self.soc_max):
                    raise bad(name, f"in [soc_min, soc_max] = [{self.soc_min}, {self.soc_max}] or None")
        if self.soc_end_min is not None and self.soc_start is None:
            raise bad("soc_end_min", "None unless soc_start is set")
        a, d = self.arrival_period, self.departure_period
        if self.kind == "work" and not a < d:
            raise bad("departure_period", f"> arrival_period = {a} for a 'work' EV")
        if self.kind == "home" and not d < a:
            raise bad("departure_period", f"< arrival_period = {a} for a 'home' EV (it leaves in the morning)")

    # ---------------------------------------------------------------- derived on a horizon
    def check_horizon(self, horizon: Horizon) -> None:
        """Raise if the plug-in window does not fit the horizon (work: d <= n+1; home: a <= n)."""
        n = horizon.n
        if self.kind == "work" and self.departure_period > n + 1:
            raise ValueError(f"EVParams.departure_period of EV {self.name!r} must be <= {n + 1} on a horizon of "
                             f"{n} periods, got {self.departure_period}")
        if self.kind == "home" and self.arrival_period > n:
            raise ValueError(f"EVParams.arrival_period of EV {self.name!r} must be <= {n} on a horizon of {n} "
                             f"periods, got {self.arrival_period}")

    @property
    def carried(self) -> bool:
        """A home EV whose SOC comes from the previous day (non-cyclic EV-4', see :func:`build_ev`)."""
        return self.kind == "home" and self.soc_start is not None

    def plugged_periods(self, horizon: Horizon) -> list[int]:
        """Periods with ``A_t = 1`` in chain order: work ``a..d-1``; home ``a..n, 1..d-1`` (cyclic), or
        ``1..d-1, a..n`` for a carried-over home EV (the chain starts at midnight)."""
        self.check_horizon(horizon)
        a, d = self.arrival_period, self.departure_period
        if self.kind == "work":
            return list(range(a, d))
        if self.carried:  # time order: the day starts at midnight with the carried SOC
            return list(range(1, d)) + list(range(a, horizon.n + 1))
        return list(range(a, horizon.n + 1)) + list(range(1, d))

    def departure_soc_period(self, horizon: Horizon) -> int:
        """The period whose end SOC must reach ``soc_required`` (``d-1``; ``n`` for a home EV with d = 1)."""
        d = self.departure_period
        return d - 1 if d > 1 else horizon.n


def rule_charging(p: EVParams, horizon: Horizon) -> tuple[np.ndarray, np.ndarray]:
    """A vehicle that charges by a fixed rule (SPEC §8 ``rule``): ``(charge_kw, soc_frac)`` on ``horizon``.

    It charges at full power whenever it is plugged in until it is full (``soc_max``), never discharges (no V2G),
    whatever the prices.  Its SOC follows EV-4 / EV-4' of :func:`build_ev` in the order of
    :meth:`EVParams.plugged_periods`: a work vehicle starts from ``soc_arrival``; a home vehicle carried over from
    the previous day from ``soc_start``, pays its trip energy at its return ``a``; a home vehicle on its first day
    (cyclic EV-4') starts where its day ends (the fixed point of the rule, found by iterating from full).  The
    SOC array is the SOC at each period's end, NaN while a work vehicle is away and the departure SOC while a home
    vehicle is away (as :meth:`EVFleet.respond` reports it)."""
    n, dt = horizon.n, horizon.dt_h
    chain = p.plugged_periods(horizon)
    cap, eta = p.capacity_kwh, p.eta

    def run(start: float) -> tuple[np.ndarray, np.ndarray, float]:
        charge = np.zeros(n)
        soc = np.full(n, np.nan)
        x = start
        for t in chain:
            if p.kind == "home" and t == p.arrival_period:
                x -= p.trip_kwh / cap
            c = min(p.p_charge_max_kw, max(0.0, (p.soc_max - x) * cap / (eta * dt)))
            x += eta * c * dt / cap
            charge[t - 1], soc[t - 1] = c, x
        return charge, soc, x

    if p.kind == "work":
        charge, soc, _ = run(p.soc_arrival)
    elif p.carried:
        assert p.soc_start is not None
        charge, soc, _ = run(p.soc_start)
    else:
        start = p.soc_max
        for _ in range(50):  # the end SOC is a contraction of the start SOC: a few passes reach the fixed point
            charge, soc, end = run(start)
            if abs(end - start) <= 1e-12:
                break
            start = end
    if p.kind == "home":
        d = p.departure_period
        away = slice(d - 1, p.arrival_period - 1)
        soc[away] = soc[p.departure_soc_period(horizon) - 1] if not (p.carried and d == 1) else p.soc_start
    return charge, soc


def make_feasible(params: EVParams, horizon: Horizon) -> EVParams:
    """SPEC §3.7 pre-processing: lower what cannot be reached, with a logged warning.

    * work: if ``soc_req > soc_arr + eta * P^c,max * (d - a) * dt / E``, set ``soc_req`` to that value.
    * home `[proposed]`: the cyclic SOC must recharge the trip within the plugged periods and the
      battery must hold it: if ``trip > min(eta P^c,max L dt, (soc_max - soc_min) E + eta P^c,max dt)``,
      lower ``trip_kwh`` to that bound.
    Returns ``params`` itself when nothing changes.
    """
    L = len(params.plugged_periods(horizon))
    dt = horizon.dt_h
    E = params.capacity_kwh
    gain = params.eta * params.p_charge_max_kw * dt
    if params.kind == "work":
        reach = min(params.soc_max, params.soc_arrival + gain * L / E)
        if params.soc_required > reach + 1e-12:
            log.warning("EV %s: soc_required %.4f cannot be reached (arrival %.4f, %d periods at %.3g kW); "
                        "lowered to %.4f", params.name, params.soc_required, params.soc_arrival, L,
                        params.p_charge_max_kw, reach)
            return replace(params, soc_required=reach)
        return params
    if params.carried:
        return _feasible_carried(params, horizon)
    cap = min(gain * L, (params.soc_max - params.soc_min) * E + gain)
    if params.trip_kwh > cap + 1e-12:
        log.warning("EV %s: trip_kwh %.4g cannot be recharged in %d plugged periods at %.3g kW; lowered to %.4g",
                    params.name, params.trip_kwh, L, params.p_charge_max_kw, cap)
        return replace(params, trip_kwh=cap)
    return params


def _feasible_carried(p: EVParams, horizon: Horizon) -> EVParams:
    """:func:`make_feasible` for a carried-over home EV (chain ``1..d-1`` from ``soc_start``, trip at ``a``,
    ``a..n`` to ``soc_end >= soc_end_min``): lower the departure SOC, the trip and the end SOC to what the
    charging power can reach, each with a logged warning."""
    dt, E = horizon.dt_h, p.capacity_kwh
    gain = p.eta * p.p_charge_max_kw * dt / E  # SOC per plugged period
    d, a, n = p.departure_period, p.arrival_period, horizon.n
    assert p.soc_start is not None
    changes: dict[str, Any] = {}
    soc_dep = p.soc_start
    if d > 1:
        reach = min(p.soc_max, p.soc_start + gain * (d - 1))
        if p.soc_required > reach + 1e-12:
            changes["soc_required"] = reach
        soc_dep = reach  # the most the vehicle can leave with
    trip_cap = max(0.0, (soc_dep - p.soc_min + gain) * E)  # period a must stay above soc_min
    if p.trip_kwh > trip_cap + 1e-12:
        changes["trip_kwh"] = trip_cap
    trip = changes.get("trip_kwh", p.trip_kwh)
    end_reach = min(p.soc_max, soc_dep - trip / E + gain * (n - a + 1))
    end_min = p.soc_min if p.soc_end_min is None else p.soc_end_min
    if end_min > end_reach + 1e-12:
        changes["soc_end_min"] = max(p.soc_min, end_reach)
    if not changes:
        return p
    log.warning("EV %s (carried over): lowered %s to what %.3g kW can reach", p.name,
                ", ".join(f"{k} to {v:.4g}" for k, v in changes.items()), p.p_charge_max_kw)
    return replace(p, **changes)


def carried_end_min(p: EVParams, horizon: Horizon) -> float:
    """The lowest end-of-day SOC from which a home EV can still reach ``soc_required`` by tomorrow's
    departure (same schedule): ``soc_required − η P^{c,max} (d − 1) Δt / E``, at least ``soc_min``."""
    gain = p.eta * p.p_charge_max_kw * horizon.dt_h / p.capacity_kwh
    return float(min(p.soc_max, max(p.soc_min, p.soc_required - gain * (p.departure_period - 1))))


# ============================================================================ fleet sampling


@dataclass(frozen=True)
class FleetSpec:
    """Distributions of SPEC §3.7's default fleet `[default]`.  Times in hours of the day."""

    home_share: float = 0.6
    home_departure_mean_h: float = 7.5
    home_departure_sd_h: float = 0.5
    home_return_mean_h: float = 18.5
    home_return_sd_h: float = 1.0
    trip_kwh_low: float = 6.0
    trip_kwh_high: float = 15.0
    work_arrival_mean_h: float = 8.5
    work_arrival_sd_h: float = 0.5
    work_departure_mean_h: float = 17.5
    work_departure_sd_h: float = 0.5
    soc_arrival_low: float = 0.25
    soc_arrival_high: float = 0.5
    soc_required: float = 0.8
    capacity_kwh: float = 60.0
    p_max_kw: float = 7.0
    p_min_kw: float = 0.0
    eta: float = 0.95
    soc_min: float = 0.2
    soc_max: float = 0.95
    v2g: bool = True
    c_ev: float = 0.01
    lambda_ev: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.home_share <= 1:
            raise ValueError(f"FleetSpec.home_share must be in [0, 1], got {self.home_share}")
        for name in ("home_departure_sd_h", "home_return_sd_h", "work_arrival_sd_h", "work_departure_sd_h"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"FleetSpec.{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.trip_kwh_low <= self.trip_kwh_high:
            raise ValueError(f"FleetSpec.trip_kwh_low/high must satisfy 0 <= low <= high, got "
                             f"{self.trip_kwh_low}, {self.trip_kwh_high}")
        if not self.soc_arrival_low <= self.soc_arrival_high:
            raise ValueError(f"FleetSpec.soc_arrival_low must be <= soc_arrival_high, got "
                             f"{self.soc_arrival_low}, {self.soc_arrival_high}")


def _period_of(hours: np.ndarray, horizon: Horizon) -> np.ndarray:
    """Time of day (h) -> the period starting at that time, rounded to the grid (1-based)."""
    return np.rint(hours / horizon.dt_h).astype(np.int64) + 1


def sample_fleet(
    n: int,
    rng: np.random.Generator,
    horizon: Horizon = RT_HORIZON,
    station: str | int = "",
    spec: FleetSpec | None = None,
) -> list[EVParams]:
    """Draw ``n`` vehicles of one station as SPEC §3.7's default fleet.

    ``round(home_share * n)`` vehicles are ``home`` (EV-4'), the rest ``work``; which ones is a random
    permutation.  Times are drawn from normal distributions, rounded to the grid and clipped to the
    day; a window that would close before it opens is widened to one period.  Then
    :func:`make_feasible` lowers unreachable targets with a logged warning.  The draws use only
    ``rng`` (one Generator per station, from ``SeedSequence.spawn``), in a fixed order, so a seed
    gives the same fleet everywhere.
    """
    if n < 0:
        raise ValueError(f"sample_fleet: n must be >= 0, got {n}")
    s = spec or FleetSpec()
    N = horizon.n
    n_home = round(s.home_share * n)
    is_home = rng.permutation(np.arange(n) < n_home)
    # one draw per vehicle and quantity, in a fixed order (vectorised, so the stream does not depend on kinds)
    t_home_dep = rng.normal(s.home_departure_mean_h, s.home_departure_sd_h, n)
    t_home_ret = rng.normal(s.home_return_mean_h, s.home_return_sd_h, n)
    trip = rng.uniform(s.trip_kwh_low, s.trip_kwh_high, n)
    t_work_arr = rng.normal(s.work_arrival_mean_h, s.work_arrival_sd_h, n)
    t_work_dep = rng.normal(s.work_departure_mean_h, s.work_departure_sd_h, n)
    soc_arr = rng.uniform(s.soc_arrival_low, s.soc_arrival_high, n)

    home_d = np.clip(_period_of(t_home_dep, horizon), 1, N - 1)
    home_a = np.clip(_period_of(t_home_ret, horizon), 2, N)
    home_a = np.maximum(home_a, home_d + 1)
    work_a = np.clip(_period_of(t_work_arr, horizon), 1, N)
    work_d = np.clip(_period_of(t_work_dep, horizon), 2, N + 1)
    work_d = np.maximum(work_d, work_a + 1)

    label = str(station)
    fleet = []
    for i in range(n):
        common: dict[str, Any] = dict(
            name=f"ev{label}_{i:03d}" if label else f"ev_{i:03d}",
            capacity_kwh=s.capacity_kwh, p_charge_max_kw=s.p_max_kw, p_discharge_max_kw=s.p_max_kw,
            p_charge_min_kw=s.p_min_kw, p_discharge_min_kw=s.p_min_kw, eta=s.eta, soc_min=s.soc_min,
            soc_max=s.soc_max, soc_required=s.soc_required, v2g=s.v2g, c_ev=s.c_ev, lambda_ev=s.lambda_ev,
            station=label,
        )
        if is_home[i]:
            p = EVParams(kind="home", arrival_period=int(home_a[i]), departure_period=int(home_d[i]),
                         trip_kwh=float(trip[i]), soc_arrival=s.soc_required, **common)
        else:
            p = EVParams(kind="work", arrival_period=int(work_a[i]), departure_period=int(work_d[i]),
                         soc_arrival=float(soc_arr[i]), **common)
        fleet.append(make_feasible(p, horizon))
    return fleet


# ============================================================================ Pyomo builder


@dataclass
class EVHandle(BlockHandle):
    """:class:`BlockHandle` of one EV plus what a solver must know about it.

    ``integer_binaries`` are the binaries that must be integer for the block to be exact whatever
    the prices: ``x_charge`` and ``x_discharge`` when a minimum power makes EV-2 semi-continuous,
    else none (the LP relaxation with a complementarity check suffices).
    """

    params: EVParams | None = None
    integer_binaries: list[Any] = field(default_factory=list)


def tie_break_costs(params: EVParams, horizon: Horizon, tie_break: float) -> dict[int, float]:
    """Per-period tie-break cost (currency/kWh): ``tie_break * i / n`` for the ``i``-th plugged period.

    Among equally priced periods the vehicle then charges as soon as it is plugged in (the
    uncontrolled behaviour), so the response is a function of the prices alone, not of the solver's
    path.  ``tie_break = 0`` gives EV-6 exactly.
    """
    return {t: tie_break * i / horizon.n for i, t in enumerate(params.plugged_periods(horizon))}


def build_ev(
    block: pyo.Block,
    params: EVParams,
    horizon: Horizon,
    prices: Sequence[float] | np.ndarray,
    exclusive: bool = True,
    tie_break: float = 0.0,
    multi_day: bool = False,
) -> EVHandle:
    r"""One vehicle (SPEC §3.7): EV-1…EV-6, overnight variant EV-4' for ``kind == 'home'``.

    With plugged-in periods :math:`\mathcal W` (:math:`A_t = 1`):

    .. math::

        X^c_t + X^{dis}_t \le 1,\ t\in\mathcal W                                           \text{(EV-1)}
        P^{c,\min}X^c_t \le P^c_t \le P^{c,\max}X^c_t,\
        P^{dis,\min}X^{dis}_t \le P^{dis}_t \le P^{dis,\max}X^{dis}_t                      \text{(EV-2)}
        P^c_t = P^{dis}_t = 0,\ t\notin\mathcal W \text{ (column bounds)}
        soc^{\min} \le soc_t \le soc^{\max}                                                \text{(EV-3)}
        soc_t = soc_{t-1} + \tfrac{\Delta t}{E}(\eta P^c_t - P^{dis}_t/\eta),\ t=a..d-1,\
            soc_{a-1} = soc^{arr}                                                          \text{(EV-4, work)}
        soc_t = soc_{t-1} + \tfrac{\Delta t}{E}(\eta P^c_t - P^{dis}_t/\eta)
            - \tfrac{E^{trip}}{E}\mathbb 1[t=a],\ t=1..T,\ soc_0 = soc_T                   \text{(EV-4', home)}
        soc_{d-1} \ge soc^{req}                                                            \text{(EV-5)}
        C^{EV} = \sum_t\Delta t\big[\pi_t(P^c_t-P^{dis}_t) - \lambda(\eta P^c_t - P^{dis}_t/\eta)
                 + c^{EV}(P^c_t+P^{dis}_t)\big]                                            \text{(EV-6)}

    ``v2g = False`` gives :math:`P^{dis} = X^{dis} = 0` (bounds).  The upper rows of EV-2 are the
    complementarity rows of :class:`agents.devices.core.Complementarity` (binary ``x_charge``): built for
    every plugged period when ``exclusive`` is True, for none when False (the power limits stay as
    column bounds, so the LP relaxation is valid); with ``x_charge`` integer, EV-1 then makes the
    pair exclusive.  A minimum power (``p_*_min_kw > 0``) needs all EV-2 rows and both binaries
    integer, whatever ``exclusive`` says (:attr:`EVHandle.integer_binaries`).

    ``prices`` (currency/kWh per period) are the mutable Param ``price_per_kwh`` (update with
    :func:`agents.devices.core.set_profile`).  ``block.cost`` is EV-6 (plus the optional
    :func:`tie_break_costs`); ``p_net_kw = P^c - P^{dis}`` is the vehicle's net load (output
    ``ev_net_kw``).  ``params`` are passed through :func:`make_feasible` first.

    ``multi_day=True`` (a persistent model whose home vehicles start carrying their SOC after the
    first day) writes the first SOC row of a home vehicle as ``soc_1 = w soc_T + s^0 + flow_1``
    with the mutable Params ``soc_wrap`` ``w`` and ``soc_start`` ``s^0``: ``w = 1, s^0 = 0`` is the
    cyclic EV-4', ``w = 0, s^0 = soc^{start}`` the carried day; the end row ``soc_T ≥ soc_end_min``
    and EV-5 are always built (``soc_end_min = −∞``, a free row, on a cyclic day; ``soc_required = soc^min``
    for a carried vehicle gone at 00:00), so :func:`set_ev_data` switches between them without a rebuild.
    """
    p = make_feasible(params, horizon)
    T = horizon.periods
    dt = horizon.dt_h
    W = sorted(p.plugged_periods(horizon))
    Wset = set(W)
    E = p.capacity_kwh
    eta = p.eta
    pc_max = p.p_charge_max_kw
    pd_max = p.p_discharge_max_kw if p.v2g else 0.0
    semicontinuous = p.p_charge_min_kw > 0 or (p.v2g and p.p_discharge_min_kw > 0)
    b = block
    b.T = pyo.Set(initialize=T, ordered=True, doc="periods")
    b.W = pyo.Set(initialize=W, within=b.T, ordered=True, doc="plugged-in periods (A_t = 1)")
    b.price_per_kwh = pyo.Param(b.T, initialize=profile_param(prices, horizon, f"EV {p.name} prices"), mutable=True,
                                doc="energy price [currency/kWh] (EV-6)")
    b.soc_required = pyo.Param(initialize=p.soc_required, mutable=True, doc="required departure SOC [1] (EV-5)")
    b.p_charge_kw = pyo.Var(b.T, bounds=lambda m, t: (0.0, pc_max if t in Wset else 0.0),
                            doc="charging power [kW] (EV-2; 0 when away)")
    b.p_discharge_kw = pyo.Var(b.T, bounds=lambda m, t: (0.0, pd_max if t in Wset else 0.0),
                               doc="discharging power [kW] (EV-2; 0 when away or without V2G)")
    b.x_charge = pyo.Var(b.W, within=pyo.Binary, doc="1 = charging (X^c, EV-1)")
    b.x_discharge = pyo.Var(b.W, within=pyo.Binary, bounds=(0, 1 if p.v2g else 0),
                            doc="1 = discharging (X^dis, EV-1)")
    b.res_mode = pyo.Constraint(b.W, rule=lambda m, t: m.x_charge[t] + m.x_discharge[t] <= 1,
                                doc="charge or discharge, only when plugged in (EV-1)")
    comp = complementarity_pair(
        b, "ev", b.p_charge_kw, b.p_discharge_kw, b.x_charge, b.W, exclusive or semicontinuous,
        "res_charge_max", "res_discharge_max",
        lambda m, t: m.p_charge_kw[t] <= pc_max * m.x_charge[t],
        lambda m, t: m.p_discharge_kw[t] <= pd_max * m.x_discharge[t],
        "power limit (EV-2)",
    )
    integer: list[Any] = []
    if semicontinuous:
        b.res_charge_min = pyo.Constraint(
            b.W, rule=lambda m, t: m.p_charge_kw[t] >= p.p_charge_min_kw * m.x_charge[t],
            doc="minimum charging power (EV-2)")
        b.res_discharge_min = pyo.Constraint(
            b.W, rule=lambda m, t: m.p_discharge_kw[t] >= (p.p_discharge_min_kw if p.v2g else 0.0)
            * m.x_discharge[t], doc="minimum discharging power (EV-2)")
        integer = [b.x_charge, b.x_discharge]

    def flow(m: pyo.Block, t: int) -> Any:
        return dt / E * (eta * m.p_charge_kw[t] - m.p_discharge_kw[t] / eta)

    if p.kind == "work":
        b.soc_arrival = pyo.Param(initialize=p.soc_arrival, mutable=True, doc="arrival SOC [1] (EV-4)")
        b.SOC = pyo.Set(initialize=W, ordered=True, doc="periods with a state of charge (a..d-1)")
        b.soc_frac = pyo.Var(b.SOC, bounds=(p.soc_min, p.soc_max), doc="SOC at period end [1] (EV-3)")
        a = p.arrival_period
        b.def_soc = pyo.Constraint(
            b.SOC, rule=lambda m, t: m.soc_frac[t] == (m.soc_arrival if t == a else m.soc_frac[t - 1]) + flow(m, t),
            doc="SOC balance (EV-4)")
    else:
        b.trip_kwh = pyo.Param(initialize=p.trip_kwh, mutable=True, doc="trip energy [kWh] (EV-4')")
        b.SOC = pyo.Set(initialize=T, ordered=True, doc="periods with a state of charge (all, cyclic)")
        b.soc_frac = pyo.Var(b.SOC, bounds=(p.soc_min, p.soc_max), doc="SOC at period end [1] (EV-3)")
        a, n = p.arrival_period, horizon.n

        if multi_day:
            b.soc_start = pyo.Param(initialize=p.soc_start if p.carried else 0.0, mutable=True,
                                    doc="SOC at midnight [1] (carried; 0 on a cyclic day)")
            b.soc_wrap = pyo.Param(initialize=0.0 if p.carried else 1.0, mutable=True,
                                   doc="1: soc_0 = soc_T (cyclic EV-4'); 0: carried from the previous day")
        elif p.carried:  # the day starts at midnight with the SOC the previous day left
            b.soc_start = pyo.Param(initialize=p.soc_start, mutable=True, doc="SOC at midnight [1] (carried)")

        def soc_rule(m: pyo.Block, t: int) -> Any:
            if t == 1 and multi_day:
                prev = m.soc_wrap * m.soc_frac[n] + m.soc_start
            elif t == 1:
                prev = m.soc_start if p.carried else m.soc_frac[n]  # carried, or soc_0 = soc_T (cyclic)
            else:
                prev = m.soc_frac[t - 1]
            trip = m.trip_kwh / E if t == a else 0.0
            return m.soc_frac[t] == prev + flow(m, t) - trip

        b.def_soc = pyo.Constraint(b.SOC, rule=soc_rule, doc="SOC balance with the trip (EV-4', cyclic or carried)")
        if p.carried or multi_day:
            # a cyclic day of a multi-day block has no end floor: the row is free (-inf), not even a redundant one
            end_min = (-math.inf if not p.carried else p.soc_min if p.soc_end_min is None else p.soc_end_min)
            b.soc_end_min = pyo.Param(initialize=end_min, mutable=True, doc="lowest SOC at midnight [1]")
            b.res_end = pyo.Constraint(expr=b.soc_frac[n] >= b.soc_end_min,
                                       doc="end-of-day SOC (carried over to the next day)")
    if multi_day and p.carried and p.departure_period == 1:
        b.soc_required.set_value(p.soc_min)  # the row is kept, slack (see set_ev_data)
    if multi_day or not (p.carried and p.departure_period == 1):  # carried and gone at 00:00: start SOC checked
        b.res_departure = pyo.Constraint(expr=b.soc_frac[p.departure_soc_period(horizon)] >= b.soc_required,
                                         doc="required SOC at departure (EV-5)")
    b.p_net_kw = pyo.Var(b.T, bounds=(-pd_max, pc_max), doc="net load: charge - discharge [kW]")
    b.def_net = pyo.Constraint(b.T, rule=lambda m, t: m.p_net_kw[t] == m.p_charge_kw[t] - m.p_discharge_kw[t],
                               doc="net load of the vehicle")
    tb = tie_break_costs(p, horizon, tie_break) if tie_break else {}
    lam = p.lambda_ev
    b.cost = pyo.Expression(
        expr=dt * pyo.quicksum(
            (b.price_per_kwh[t] - lam * eta + p.c_ev + tb.get(t, 0.0)) * b.p_charge_kw[t]
            + (-b.price_per_kwh[t] + lam / eta + p.c_ev + tb.get(t, 0.0)) * b.p_discharge_kw[t]
            for t in W),
        doc="EV cost (EV-6)")
    return EVHandle(
        block=b,
        outputs={
            "ev_net_kw": (b.p_net_kw, "kW"),
            "ev_charge_kw": (b.p_charge_kw, "kW"),
            "ev_discharge_kw": (b.p_discharge_kw, "kW"),
            "ev_soc_frac": (b.soc_frac, "1"),
        },
        complementarity=[comp],
        params=p,
        integer_binaries=integer,
    )


def set_ev_data(block: pyo.Block, params: EVParams, horizon: Horizon) -> EVParams:
    """Write a new day's data of the same vehicle (same window and limits) into a ``multi_day`` block of
    :func:`build_ev` (then ``HighsModel.update_params``): the departure SOC, the trip and, for a home
    vehicle, the carried start SOC and end floor or the cyclic EV-4'.  Returns the feasible params."""
    p = make_feasible(params, horizon)
    b = block
    if p.kind == "work":
        b.soc_arrival.set_value(p.soc_arrival)
        b.soc_required.set_value(p.soc_required)
        return p
    if not hasattr(b, "soc_wrap"):
        raise ValueError(f"EV {p.name}: set_ev_data needs a block built with multi_day=True")
    b.trip_kwh.set_value(p.trip_kwh)
    b.soc_start.set_value(p.soc_start if p.carried else 0.0)
    b.soc_wrap.set_value(0.0 if p.carried else 1.0)
    b.soc_end_min.set_value(-math.inf if not p.carried else p.soc_min if p.soc_end_min is None else p.soc_end_min)
    b.soc_required.set_value(p.soc_min if p.carried and p.departure_period == 1 else p.soc_required)
    return p


# ============================================================================ Mesa agent


@dataclass(frozen=True)
class EVData:
    """Data of one EV on one horizon: the price it faces (currency/kWh per period)."""

    prices: np.ndarray


class EVAgent(EnergyAgent):
    """One vehicle as a Mesa agent (SPEC §3.7).  Coordinators solve fleets with :class:`EVFleet`."""

    behaviour_kind: ClassVar[str] = EV

    def __init__(self, model: mesa.Model, params: EVParams) -> None:
        super().__init__(model, params.name)
        self.params = params
        #: a home vehicle's state of charge at midnight (plugged in overnight), carried to the next day;
        #: None before the first day (the cyclic EV-4' then applies)
        self.soc_midnight: float | None = None

    def build_block(self, block: pyo.Block, horizon: Horizon, data: Any, exclusive: bool = True) -> EVHandle:
        """``data``: :class:`EVData` or a price vector."""
        prices = data.prices if isinstance(data, EVData) else data
        return build_ev(block, self.params, horizon, prices, exclusive)

    @staticmethod
    def fleet(agents: Iterable[EVAgent], horizon: Horizon = RT_HORIZON, **kwargs: Any) -> EVFleet:
        """The pooled solver for these agents (see :class:`EVFleet`)."""
        return EVFleet([a.params for a in agents], horizon, **kwargs)


# ============================================================================ pooled fleet solver


@dataclass
class FleetResponse:
    """The fleet's answer to one price vector.  Arrays are ``(n_ev, n_periods)`` unless said otherwise.

    ``soc_frac`` is the SOC at period end (NaN while a work vehicle is away; a home vehicle's SOC
    while away is its departure SOC).  ``cost`` is EV-6 per vehicle (without the tie-break).
    ``station_net_kw[s]`` sums ``net_kw`` over the vehicles of ``stations[s]``.  ``path`` says how
    the response was certified: ``lp-certified`` (no simultaneous charge/discharge in the LP
    optimum) or ``lp+milp(...)`` (that many vehicles re-solved exactly as MILPs).
    """

    names: tuple[str, ...]
    stations: tuple[str, ...]
    charge_kw: np.ndarray
    discharge_kw: np.ndarray
    soc_frac: np.ndarray
    cost: np.ndarray
    station_net_kw: np.ndarray
    path: str
    n_milp: int
    solve_s: float
    total_s: float
    simplex_iterations: int

    @property
    def net_kw(self) -> np.ndarray:
        return self.charge_kw - self.discharge_kw

    @property
    def total_net_kw(self) -> np.ndarray:
        return self.station_net_kw.sum(axis=0)

    def station(self, label: str | int) -> np.ndarray:
        return self.station_net_kw[self.stations.index(str(label))]


@dataclass
class _EVLp:
    """One vehicle's LP in compressed form: columns ``[c (L), d (L), s (L)]`` over its plugged periods."""

    params: EVParams
    periods: np.ndarray  # plugged periods in chain order (1-based)
    A: sp.coo_matrix  # L x 3L: the SOC chain rows
    rhs: np.ndarray  # equality right-hand sides (L)
    col_lb: np.ndarray
    col_ub: np.ndarray
    c_static: np.ndarray  # dt * (-lambda*eta + c_ev) on c; dt * (lambda/eta + c_ev) on d; 0 on s
    tie: np.ndarray  # tie-break cost per column (dt * tie_break * i / n on c and d)
    sign: np.ndarray  # +1 on c, -1 on d, 0 on s: cost = dt * sign * price + c_static + tie

    @property
    def L(self) -> int:
        return int(self.periods.size)


def _ev_lp(p: EVParams, horizon: Horizon, tie_break: float, time_order: bool = False) -> _EVLp:
    """One vehicle's LP (EV-2…EV-6 without binaries); ``time_order`` lays out a home vehicle's columns in
    time order whether it is cyclic or carried (:func:`_ev_lp_time_order`), so a persistent fleet keeps
    its columns when its vehicles start carrying their SOC."""
    if time_order and p.kind == "home" and not p.carried:
        return _ev_lp_time_order(p, horizon, tie_break)
    periods = np.asarray(p.plugged_periods(horizon), dtype=np.int64)
    L = periods.size
    dt = horizon.dt_h
    E = p.capacity_kwh
    i = np.arange(L)
    # row i:  s_i - s_{i-1} - (eta dt / E) c_i + (dt / (eta E)) d_i = rhs_i
    rows = [i, i, i]
    cols = [2 * L + i, i, L + i]
    vals = [np.ones(L), np.full(L, -p.eta * dt / E), np.full(L, dt / (p.eta * E))]
    rhs = np.zeros(L)
    if p.kind == "work":
        if L > 1:
            rows.append(i[1:])
            cols.append(2 * L + i[:-1])
            vals.append(-np.ones(L - 1))
        rhs[0] = p.soc_arrival
    elif p.carried:  # time order 1..d-1, a..n: s_{-1} = soc_start, the trip taken at period a
        assert p.soc_start is not None
        if L > 1:
            rows.append(i[1:])
            cols.append(2 * L + i[:-1])
            vals.append(-np.ones(L - 1))
        rhs[0] = p.soc_start
        first_evening = int(np.flatnonzero(periods == p.arrival_period)[0])
        rhs[first_evening] += -p.trip_kwh / E
    else:
        prev = np.roll(2 * L + i, 1)  # cyclic: s_{-1} = s_{L-1}, the SOC at departure
        if L > 1:
            rows.append(i)
            cols.append(prev)
            vals.append(-np.ones(L))
        else:  # one plugged period: s_0 - s_0 cancels
            vals[0] = np.zeros(1)
        rhs[0] = -p.trip_kwh / E
    A = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(L, 3 * L))
    A.sum_duplicates()
    pd_max = p.p_discharge_max_kw if p.v2g else 0.0
    col_lb = np.concatenate([np.zeros(2 * L), np.full(L, p.soc_min)])
    col_ub = np.concatenate([np.full(L, p.p_charge_max_kw), np.full(L, pd_max), np.full(L, p.soc_max)])
    if p.carried:
        d = p.departure_period
        if d > 1:  # EV-5 at the last morning period
            j = 2 * L + int(np.flatnonzero(periods == d - 1)[0])
            col_lb[j] = max(col_lb[j], p.soc_required)
        end_min = p.soc_min if p.soc_end_min is None else p.soc_end_min
        col_lb[3 * L - 1] = max(col_lb[3 * L - 1], end_min)  # the chain ends at midnight
    else:
        col_lb[3 * L - 1] = max(p.soc_min, p.soc_required)  # EV-5 (the chain ends at departure)
    c_static = np.concatenate([np.full(L, dt * (p.c_ev - p.lambda_ev * p.eta)),
                               np.full(L, dt * (p.c_ev + p.lambda_ev / p.eta)), np.zeros(L)])
    tb = dt * tie_break * i / horizon.n
    tie = np.concatenate([tb, tb, np.zeros(L)])
    sign = np.concatenate([np.ones(L), -np.ones(L), np.zeros(L)])
    return _EVLp(p, periods, A, rhs, col_lb, col_ub, c_static, tie, sign)


def _ev_lp_time_order(p: EVParams, horizon: Horizon, tie_break: float) -> _EVLp:
    """A cyclic home vehicle's LP (EV-4') with its columns in time order ``1..d-1, a..n``, as a carried one's.

    Row ``i`` is the SOC balance of the ``i``-th plugged period in time order, ``s_i − s_{i−1} − (η Δt/E) c_i
    + (Δt/(η E)) d_i = −(E^trip/E) 1[period a]``, and row 0 closes the cycle, ``s_{−1} = s_{L−1}`` (the SOC at
    the end of the day; a carried vehicle has the constant ``soc_start`` there instead, see :func:`_ev_lp`).
    EV-5 bounds the SOC of the departure period.  The same LP as the chain-ordered one, columns permuted;
    the tie-break follows the chain order of :meth:`EVParams.plugged_periods` (charge first on arrival).
    """
    periods = np.asarray(sorted(p.plugged_periods(horizon)), dtype=np.int64)
    L = periods.size
    dt = horizon.dt_h
    E = p.capacity_kwh
    i = np.arange(L)
    rows = [i, i, i]
    cols = [2 * L + i, i, L + i]
    vals = [np.ones(L), np.full(L, -p.eta * dt / E), np.full(L, dt / (p.eta * E))]
    if L > 1:
        rows += [i[1:], np.zeros(1, dtype=np.int64)]
        cols += [2 * L + i[:-1], np.array([3 * L - 1])]
        vals += [-np.ones(L - 1), -np.ones(1)]
    else:  # one plugged period: s_0 - s_0 cancels
        vals[0] = np.zeros(1)
    rhs = np.zeros(L)
    rhs[int(np.flatnonzero(periods == p.arrival_period)[0])] = -p.trip_kwh / E
    A = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(L, 3 * L))
    A.sum_duplicates()
    pd_max = p.p_discharge_max_kw if p.v2g else 0.0
    col_lb = np.concatenate([np.zeros(2 * L), np.full(L, p.soc_min)])
    col_ub = np.concatenate([np.full(L, p.p_charge_max_kw), np.full(L, pd_max), np.full(L, p.soc_max)])
    j = 2 * L + int(np.flatnonzero(periods == p.departure_soc_period(horizon))[0])
    col_lb[j] = max(p.soc_min, p.soc_required)  # EV-5
    c_static = np.concatenate([np.full(L, dt * (p.c_ev - p.lambda_ev * p.eta)),
                               np.full(L, dt * (p.c_ev + p.lambda_ev / p.eta)), np.zeros(L)])
    rank = {t: k for k, t in enumerate(p.plugged_periods(horizon))}
    tb = dt * tie_break * np.array([rank[int(t)] for t in periods], dtype=float) / horizon.n
    tie = np.concatenate([tb, tb, np.zeros(L)])
    sign = np.concatenate([np.ones(L), -np.ones(L), np.zeros(L)])
    return _EVLp(p, periods, A, rhs, col_lb, col_ub, c_static, tie, sign)


def _new_highs(time_limit_s: float, mip_rel_gap: float = 1e-6) -> highspy.Highs:
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    h.setOptionValue("dual_feasibility_tolerance", 1e-9)
    h.setOptionValue("primal_feasibility_tolerance", 1e-9)
    h.setOptionValue("random_seed", 0)
    return h


def _pass(h: highspy.Highs, c: np.ndarray, col_lb: np.ndarray, col_ub: np.ndarray, row_lb: np.ndarray,
          row_ub: np.ndarray, A: sp.spmatrix, integrality: np.ndarray | None = None) -> None:
    A = sp.csc_matrix(A)
    A.sort_indices()
    integ = np.zeros(c.size, dtype=np.int32) if integrality is None else integrality.astype(np.int32)
    status = h.passModel(
        int(c.size), int(row_lb.size), int(A.nnz), int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMinimize), 0.0, c, col_lb, col_ub, row_lb, row_ub,
        A.indptr.astype(np.int32), A.indices.astype(np.int32), A.data.astype(float), integ,
    )
    if status == highspy.HighsStatus.kError:
        raise SolveError("EV fleet: HiGHS rejected the model", "model_error", [])


class _EVMilp:
    """One vehicle's exact MILP (EV-1…EV-6 with X^c, X^dis integer), persistent in its own HiGHS."""

    def __init__(self, lp: _EVLp, time_limit_s: float) -> None:
        self.lp = lp
        self.A, self.row_lb, self.row_ub, self.col_lb, self.col_ub, integ = self._arrays(lp)
        self.h = _new_highs(time_limit_s)
        _pass(self.h, np.zeros(self.col_lb.size), self.col_lb, self.col_ub, self.row_lb, self.row_ub, self.A, integ)

    @staticmethod
    def _arrays(lp: _EVLp) -> tuple[sp.csc_matrix, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        p = lp.params
        L = lp.L
        pd_max = p.p_discharge_max_kw if p.v2g else 0.0
        i = np.arange(L)
        c_col, d_col, xc, xd = i, L + i, 3 * L + i, 4 * L + i
        blocks = [sp.hstack([lp.A, sp.coo_matrix((L, 2 * L))])]
        lo = [lp.rhs]
        hi = [lp.rhs]

        def rows(pairs: list[tuple[np.ndarray, float]]) -> sp.coo_matrix:
            r = np.concatenate([i] * len(pairs))
            cc = np.concatenate([col for col, _ in pairs])
            v = np.concatenate([np.full(L, val) for _, val in pairs])
            return sp.coo_matrix((v, (r, cc)), shape=(L, 5 * L))

        blocks.append(rows([(c_col, 1.0), (xc, -p.p_charge_max_kw)]))  # c <= Pmax xc
        blocks.append(rows([(d_col, 1.0), (xd, -pd_max)]))  # d <= Pmax xd
        blocks.append(rows([(xc, 1.0), (xd, 1.0)]))  # EV-1
        lo += [np.full(L, -INF)] * 3
        hi += [np.zeros(L), np.zeros(L), np.ones(L)]
        if p.p_charge_min_kw > 0 or (p.v2g and p.p_discharge_min_kw > 0):
            blocks.append(rows([(c_col, 1.0), (xc, -p.p_charge_min_kw)]))  # c >= Pmin xc
            blocks.append(rows([(d_col, 1.0), (xd, -(p.p_discharge_min_kw if p.v2g else 0.0))]))
            lo += [np.zeros(L), np.zeros(L)]
            hi += [np.full(L, INF)] * 2
        A = sp.csc_matrix(sp.vstack(blocks))
        A.sort_indices()
        col_lb = np.concatenate([lp.col_lb, np.zeros(2 * L)])
        col_ub = np.concatenate([lp.col_ub, np.ones(L), np.ones(L) if p.v2g else np.zeros(L)])
        integ = np.concatenate([np.zeros(3 * L), np.ones(2 * L)])
        return A, np.concatenate(lo), np.concatenate(hi), col_lb, col_ub, integ

    def set_lp(self, lp: _EVLp) -> None:
        """The same vehicle on a new day (same columns): push the changed rows, bounds and coefficients."""
        A, row_lb, row_ub, col_lb, col_ub, _ = self._arrays(lp)
        _push_changes(self.h, (self.A, self.row_lb, self.row_ub, self.col_lb, self.col_ub),
                      (A, row_lb, row_ub, col_lb, col_ub))
        self.lp, self.A, self.row_lb, self.row_ub, self.col_lb, self.col_ub = lp, A, row_lb, row_ub, col_lb, col_ub
        self.h.clearSolver()  # a MILP solved from scratch, as a new one would be

    def solve(self, cost: np.ndarray) -> tuple[np.ndarray, float]:
        """Solve with the LP part's cost vector (3L); return the LP-part solution and the seconds taken."""
        h = self.h
        n = cost.size
        h.changeColsCost(n, np.arange(n, dtype=np.int32), cost.astype(float))
        t0 = time.perf_counter()
        h.run()
        dt = time.perf_counter() - t0
        status = h.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            raise SolveError(f"EV {self.lp.params.name}: its MILP finished with status "
                             f"{h.modelStatusToString(status)}", "failed", [])
        x = np.asarray(h.getSolution().col_value, dtype=float)
        return x[:n], dt


def _push_changes(h: highspy.Highs, old: tuple[sp.csc_matrix, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
                  new: tuple[sp.csc_matrix, np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> None:
    """Push ``new = (A, row_lb, row_ub, col_lb, col_ub)`` into a live HiGHS model holding ``old`` (same shape)."""
    A0, rl0, ru0, cl0, cu0 = old
    A1, rl1, ru1, cl1, cu1 = new
    i = np.flatnonzero((rl0 != rl1) | (ru0 != ru1)).astype(np.int32)
    if i.size:
        h.changeRowsBounds(i.size, i, rl1[i], ru1[i])
    j = np.flatnonzero((cl0 != cl1) | (cu0 != cu1)).astype(np.int32)
    if j.size:
        h.changeColsBounds(j.size, j, cl1[j], cu1[j])
    diff = (sp.csc_matrix(A1) != sp.csc_matrix(A0)).tocoo()
    if diff.nnz:
        vals = np.asarray(sp.csr_matrix(A1)[diff.row, diff.col]).ravel()
        for r, c, v in zip(diff.row.tolist(), diff.col.tolist(), vals.tolist(), strict=True):
            h.changeCoeff(int(r), int(c), float(v))


@dataclass
class _Chunk:
    """A group of pooled vehicles in one HiGHS LP (block-diagonal), with its column layout."""

    h: highspy.Highs
    col_ev: np.ndarray  # vehicle index of each column
    col_period: np.ndarray  # 0-based period of each column
    col_kind: np.ndarray  # 0 charge, 1 discharge, 2 SOC
    c_static: np.ndarray
    tie: np.ndarray
    sign: np.ndarray
    all_cols: np.ndarray
    n_rows: int

    @property
    def n_cols(self) -> int:
        return int(self.col_ev.size)


class EVFleet:
    """All vehicles of one or more stations, solved together for a price vector (SPEC §5.6).

    Built once (``build_s``); :meth:`respond` only changes the cost vectors of the live HiGHS models
    and re-solves them warm from their previous bases.  The response is exact for EV-1…EV-6 of
    every vehicle:

    1. the pooled LPs (block-diagonal, binaries dropped, power limits as bounds) are solved; the
       vehicles are split into chunks of ``chunk_size``, one HiGHS model each, because the simplex
       work grows faster than linearly with the size of one model (measured: 1,500 vehicles in one
       model 2.2 s cold / 0.22 s warm, in chunks of 50 0.55 s / 0.15 s);
    2. a vehicle whose LP optimum charges and discharges in one period (above
       ``COMPLEMENTARITY_TOL``) is re-solved alone as its MILP; since vehicles are independent the
       union is the exact optimum of the fleet's MILP;
    3. vehicles with a minimum power (semi-continuous EV-2) are never in the LP pool: they are
       always solved as their own MILPs (persistent, warm).

    ``workers > 1`` runs the chunks' HiGHS solves in that many threads (separate HiGHS instances;
    measured 1.5x faster on 2 cores).  Leave it at 1 when the caller already runs one process per core.

    ``tie_break`` (currency/kWh, default 1e-4) adds ``tie_break * i / n`` to the cost of power in
    the ``i``-th plugged period, so among equally priced periods a vehicle charges as soon as it is
    plugged in; this makes the response a function of the prices (the flat initial price of the
    bisection has many optima otherwise).  It is left out of the reported EV-6 costs.
    """

    def __init__(
        self,
        fleet: Sequence[EVParams],
        horizon: Horizon = RT_HORIZON,
        *,
        tie_break: float = 1e-4,
        chunk_size: int = 50,
        workers: int = 1,
        time_limit_s: float = 60.0,
        name: str = "EV fleet",
        multi_day: bool = False,
    ) -> None:
        t0 = time.perf_counter()
        self.multi_day = multi_day
        if not fleet:
            raise ValueError(f"{name}: the fleet is empty")
        if not (math.isfinite(tie_break) and tie_break >= 0):
            raise ValueError(f"{name}: tie_break must be finite and >= 0, got {tie_break}")
        if chunk_size < 1:
            raise ValueError(f"{name}: chunk_size must be >= 1, got {chunk_size}")
        if workers < 1:
            raise ValueError(f"{name}: workers must be >= 1, got {workers}")
        names = [p.name for p in fleet]
        if len(set(names)) != len(names):
            dup = sorted({x for x in names if names.count(x) > 1})
            raise ValueError(f"{name}: vehicle names must be unique, duplicated: {dup[:5]}")
        self.name = name
        self.horizon = horizon
        self.n = horizon.n
        self.dt = horizon.dt_h
        self.tie_break = tie_break
        self.chunk_size = chunk_size
        self.workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self.time_limit_s = time_limit_s
        self.lps = [_ev_lp(make_feasible(p, horizon), horizon, tie_break, multi_day) for p in fleet]
        self.params = [lp.params for lp in self.lps]
        self.names = tuple(names)
        self.stations = tuple(dict.fromkeys(p.station for p in self.params))
        st_of = {s: k for k, s in enumerate(self.stations)}
        self.station_index = np.array([st_of[p.station] for p in self.params], dtype=np.int64)
        self.n_ev = len(self.lps)
        semi = np.array([p.p_charge_min_kw > 0 or (p.v2g and p.p_discharge_min_kw > 0) for p in self.params])
        self.always_milp = np.flatnonzero(semi)
        self.pooled = np.flatnonzero(~semi)
        self._eta = np.array([p.eta for p in self.params])[:, None]
        self._lam = np.array([p.lambda_ev for p in self.params])[:, None]
        self._cev = np.array([p.c_ev for p in self.params])[:, None]
        self._set_home()
        self.chunks = [self._build_chunk(self.pooled[i : i + chunk_size])
                       for i in range(0, self.pooled.size, chunk_size)]
        self.n_cols = sum(c.n_cols for c in self.chunks)
        self.n_rows = sum(c.n_rows for c in self.chunks)
        self._milps: dict[int, _EVMilp] = {}
        self._cold = False
        self.build_s = time.perf_counter() - t0
        self.last: FleetResponse | None = None
        log.debug("%s: %d EVs in %d LP chunks (%d columns, %d rows), %d always MILP; built in %.3fs", name,
                  self.n_ev, len(self.chunks), self.n_cols, self.n_rows, self.always_milp.size, self.build_s)

    def _set_home(self) -> None:
        self._home = [(j, p.departure_period, p.arrival_period, p.departure_soc_period(self.horizon),
                       p.soc_start if p.carried and p.departure_period == 1 else None)
                      for j, p in enumerate(self.params) if p.kind == "home"]

    def set_params(self, fleet: Sequence[EVParams]) -> None:
        """The same vehicles on a new day (a fleet built with ``multi_day=True``): write their new data.

        Every vehicle keeps its name, kind, plug-in window and limits; what may change is its day's
        data — a home vehicle's carried start SOC and end floor (or the cyclic EV-4'), the departure
        SOC and the trip (after :func:`make_feasible`).  Only the changed bounds, right-hand sides and
        coefficients are pushed into the live HiGHS models (the pooled chunks and the vehicles' MILPs);
        their bases are cleared, so the day's first response starts cold as in a new fleet.
        """
        if not self.multi_day:
            raise ValueError(f"{self.name}: set_params needs a fleet built with multi_day=True")
        names = tuple(p.name for p in fleet)
        if names != self.names:
            raise ValueError(f"{self.name}: set_params needs the same vehicles in the same order")
        # a vehicle whose day's data did not change (e.g. a work commuter) keeps its LP
        lps = [old if p == old.params or make_feasible(p, self.horizon) == old.params
               else _ev_lp(make_feasible(p, self.horizon), self.horizon, self.tie_break, True)
               for p, old in zip(fleet, self.lps, strict=True)]
        for old, new in zip(self.lps, lps, strict=True):
            if not np.array_equal(old.periods, new.periods):
                raise ValueError(f"{self.name}: EV {new.params.name} changed its plug-in window")
        for ch in self.chunks:
            evs = list(dict.fromkeys(ch.col_ev.tolist()))
            if all(lps[j] is self.lps[j] for j in evs):
                continue
            old_arr = self._chunk_arrays([self.lps[j] for j in evs])
            new_arr = self._chunk_arrays([lps[j] for j in evs])
            _push_changes(ch.h, old_arr[:5], new_arr[:5])
            ch.c_static = np.concatenate([lps[j].c_static for j in evs])
            ch.tie = np.concatenate([lps[j].tie for j in evs])
        self._cold = True  # the bases are cleared before the next response
        for j, m in self._milps.items():
            if m.lp is not lps[j]:
                m.set_lp(lps[j])
        self.lps = lps
        self.params = [lp.params for lp in lps]
        self._set_home()
        self.last = None

    @staticmethod
    def _chunk_arrays(lps: Sequence[_EVLp]) -> tuple[sp.csc_matrix, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        A = sp.csc_matrix(sp.block_diag([lp.A for lp in lps], format="csc"))
        A.sort_indices()
        r = np.concatenate([lp.rhs for lp in lps])
        return A, r, r.copy(), np.concatenate([lp.col_lb for lp in lps]), np.concatenate([lp.col_ub for lp in lps])

    def _build_chunk(self, evs: np.ndarray) -> _Chunk:
        lps = [self.lps[j] for j in evs]
        h = _new_highs(self.time_limit_s)
        h.setOptionValue("solver", "simplex")
        h.setOptionValue("presolve", "off")  # measured: the cold solve is faster without it
        c_static = np.concatenate([lp.c_static for lp in lps])
        tie = np.concatenate([lp.tie for lp in lps])
        r = np.concatenate([lp.rhs for lp in lps])
        A = sp.block_diag([lp.A for lp in lps], format="csc")
        _pass(h, c_static + tie, np.concatenate([lp.col_lb for lp in lps]),
              np.concatenate([lp.col_ub for lp in lps]), r, r, A)
        col_ev = np.concatenate([np.full(3 * lp.L, j) for j, lp in zip(evs, lps, strict=True)])
        return _Chunk(
            h=h, col_ev=col_ev, col_period=np.concatenate([np.tile(lp.periods - 1, 3) for lp in lps]),
            col_kind=np.concatenate([np.repeat(np.arange(3), lp.L) for lp in lps]), c_static=c_static, tie=tie,
            sign=np.concatenate([lp.sign for lp in lps]), all_cols=np.arange(col_ev.size, dtype=np.int32),
            n_rows=int(r.size),
        )

    # ---------------------------------------------------------------------------------- respond
    def _price_matrix(self, prices: np.ndarray | Sequence[float]) -> np.ndarray:
        P = np.asarray(prices, dtype=float)
        if P.shape not in ((self.n,), (self.n_ev, self.n)):
            raise ValueError(f"{self.name}: prices must have shape ({self.n},) or ({self.n_ev}, {self.n}), "
                             f"got {P.shape}")
        if not np.all(np.isfinite(P)):
            raise ValueError(f"{self.name}: prices contain non-finite values")
        return P

    def _ev_cost(self, j: int, P: np.ndarray) -> np.ndarray:
        """Cost vector of vehicle ``j``'s LP columns (with the tie-break)."""
        lp = self.lps[j]
        price = P[lp.periods - 1] if P.ndim == 1 else P[j, lp.periods - 1]
        return self.dt * lp.sign * np.tile(price, 3) + lp.c_static + lp.tie

    def _milp(self, j: int) -> _EVMilp:
        m = self._milps.get(j)
        if m is None:
            m = self._milps[j] = _EVMilp(self.lps[j], self.time_limit_s)
        return m

    def respond(self, prices: np.ndarray | Sequence[float]) -> FleetResponse:
        """Optimal charging of every vehicle at ``prices`` (currency/kWh; one vector, or one row per EV)."""
        t_all = time.perf_counter()
        P = self._price_matrix(prices)
        n_ev, n = self.n_ev, self.n
        charge = np.zeros((n_ev, n))
        discharge = np.zeros((n_ev, n))
        soc = np.full((n_ev, n), np.nan)
        solve_s = 0.0
        iters = 0
        if self._cold:  # a new day (set_params): every response of the day starts from a cold first one
            for ch in self.chunks:
                ch.h.clearSolver()
            self._cold = False
        for ch in self.chunks:
            price_col = P[ch.col_period] if P.ndim == 1 else P[ch.col_ev, ch.col_period]
            ch.h.changeColsCost(ch.n_cols, ch.all_cols, self.dt * ch.sign * price_col + ch.c_static + ch.tie)
        t0 = time.perf_counter()
        if self.workers > 1 and len(self.chunks) > 1:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="evfleet")
            list(self._pool.map(lambda c: c.h.run(), self.chunks))
        else:
            for ch in self.chunks:
                ch.h.run()
        solve_s += time.perf_counter() - t0
        for ch in self.chunks:
            h = ch.h
            status = h.getModelStatus()
            if status != highspy.HighsModelStatus.kOptimal:
                raise self._failure(ch, h.modelStatusToString(status))
            iters += max(0, int(h.getInfo().simplex_iteration_count))
            x = np.asarray(h.getSolution().col_value, dtype=float)
            k, e, t = ch.col_kind, ch.col_ev, ch.col_period
            for kind, out in ((0, charge), (1, discharge), (2, soc)):
                m = k == kind
                out[e[m], t[m]] = x[m]
        viol = np.flatnonzero((np.minimum(charge, discharge) > COMPLEMENTARITY_TOL).any(axis=1))
        milp_evs = [int(j) for j in self.always_milp] + [int(j) for j in viol]
        for j in milp_evs:
            lp = self.lps[j]
            xj, dt_s = self._milp(j).solve(self._ev_cost(j, P))
            solve_s += dt_s
            L = lp.L
            tt = lp.periods - 1
            charge[j] = 0.0
            discharge[j] = 0.0
            soc[j] = np.nan
            charge[j, tt] = xj[:L]
            discharge[j, tt] = xj[L : 2 * L]
            soc[j, tt] = xj[2 * L :]
        np.maximum(charge, 0.0, out=charge)  # clean -1e-15 noise of the solver
        np.maximum(discharge, 0.0, out=discharge)
        for j, d, a, dep, start in self._home:
            # while a home vehicle is away its SOC stays at the departure value (EV-4', no flow until a);
            # a carried-over vehicle gone at 00:00 left with the SOC it started the day with
            soc[j, d - 1 : a - 1] = soc[j, dep - 1] if start is None else start
        station_net = np.zeros((len(self.stations), n))
        np.add.at(station_net, self.station_index, charge - discharge)
        parts = []
        if viol.size:
            parts.append(f"{viol.size} EVs with simultaneous charge/discharge")
            log.info("%s: %d EVs used charge and discharge at once in the LP; re-solved as MILPs", self.name,
                     viol.size)
        if self.always_milp.size:
            parts.append(f"{self.always_milp.size} semi-continuous")
        path = f"lp+milp({', '.join(parts)})" if parts else "lp-certified"
        resp = FleetResponse(
            names=self.names, stations=tuple(str(s) for s in self.stations), charge_kw=charge,
            discharge_kw=discharge, soc_frac=soc, cost=self._costs(P, charge, discharge),
            station_net_kw=station_net, path=path, n_milp=len(milp_evs), solve_s=solve_s,
            total_s=time.perf_counter() - t_all, simplex_iterations=iters,
        )
        self.last = resp
        return resp

    def with_schedules(self, resp: FleetResponse, schedules: Mapping[int, tuple[np.ndarray, np.ndarray]],
                       prices: np.ndarray | Sequence[float]) -> FleetResponse:
        """``resp`` with the vehicles of ``schedules`` (index -> ``(charge_kw, soc_frac)``, e.g. :func:`rule_charging`)
        following those schedules instead of their optimum (no discharge); their EV-6 costs at ``prices`` and the
        stations' net load recomputed.  Vehicles are independent in the fleet, so the others' answer is unchanged."""
        if not schedules:
            return resp
        charge, discharge, soc = resp.charge_kw.copy(), resp.discharge_kw.copy(), resp.soc_frac.copy()
        for j, (c, x) in schedules.items():
            charge[j], discharge[j], soc[j] = c, 0.0, x
        station_net = np.zeros((len(self.stations), self.n))
        np.add.at(station_net, self.station_index, charge - discharge)
        return replace(resp, charge_kw=charge, discharge_kw=discharge, soc_frac=soc,
                       cost=self._costs(self._price_matrix(prices), charge, discharge), station_net_kw=station_net,
                       path=resp.path + f"; {len(schedules)} by rule")

    def _costs(self, P: np.ndarray, charge: np.ndarray, discharge: np.ndarray) -> np.ndarray:
        """EV-6 per vehicle (without the tie-break)."""
        eta, lam, cev = self._eta, self._lam, self._cev
        per = P * (charge - discharge) - lam * (eta * charge - discharge / eta) + cev * (charge + discharge)
        return np.asarray(self.dt * per.sum(axis=1))

    def _failure(self, chunk: _Chunk, status: str) -> SolveError:
        """Name the vehicles whose own LP fails (it should not happen after :func:`make_feasible`)."""
        bad = []
        for j in np.unique(chunk.col_ev):
            lp = self.lps[int(j)]
            h = _new_highs(self.time_limit_s)
            _pass(h, lp.c_static, lp.col_lb, lp.col_ub, lp.rhs, lp.rhs, lp.A)
            h.run()
            if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
                bad.append(lp.params.name)
        what = (f"vehicles that cannot meet their SOC limits and departure SOC (EV-3..EV-5): {', '.join(bad[:10])}"
                if bad else "no single vehicle is infeasible alone")
        return SolveError(f"{self.name}: a pooled EV LP finished with status '{status}'; {what}", status, [])

    # ---------------------------------------------------------------------------------- helpers
    def close(self) -> None:
        """Stop the worker threads (if any); the fleet can still respond, serially."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        self.workers = 1

    def __len__(self) -> int:
        return self.n_ev

    def params_of(self, name: str) -> EVParams:
        return self.params[self.names.index(name)]


__all__ = [
    "COMPLEMENTARITY_TOL",
    "EVAgent",
    "EVData",
    "EVFleet",
    "EVHandle",
    "EVParams",
    "FleetResponse",
    "FleetSpec",
    "build_ev",
    "carried_end_min",
    "make_feasible",
    "sample_fleet",
    "tie_break_costs",
]


# ============================================================================ aggregated fleet (DA stage)


def _coarse_window(p: EVParams, fine: Horizon, steps: int, coarse: Horizon) -> tuple[int, int]:
    """``(arrival, departure)`` of ``p`` on the coarse grid: an hour is plugged if any sub-period of it is.

    work: ``a_c = h(a)``, ``d_c = h(d - 1) + 1``.  home: ``a_c = h(a)``, ``d_c = h(d - 1) + 1``
    (``1`` when ``d = 1``).  When that leaves no whole coarse period away (``d_c >= a_c``: the
    absence is shorter than, or straddles, coarse periods), the one coarse period holding the most
    absent sub-periods (the earliest on ties) becomes the away period, kept within ``1..n-1`` so
    that ``d_c < a_c <= n`` stays valid; there, and only there, the mapping is not a relaxation.
    """
    def hour(k: int) -> int:
        return (k - 1) // steps + 1

    a, d = p.arrival_period, p.departure_period
    if p.kind == "work":
        return hour(a), hour(d - 1) + 1
    a_c = hour(a)
    d_c = hour(d - 1) + 1 if d > 1 else 1
    if d_c < a_c:
        return a_c, d_c
    away = np.bincount([hour(k) for k in range(d, a)], minlength=coarse.n + 1)
    h = int(np.argmax(away))
    d_c = min(max(h, 1), coarse.n - 1)
    log.debug("EV %s: absence %d..%d (fine) lies within coarse periods %d..%d; coarse period %d is its away "
              "period", p.name, d, a - 1, hour(d), hour(a - 1), d_c)
    return d_c + 1, d_c


def _weighted_mean(weights: np.ndarray, values: Sequence[float], lo: float, hi: float) -> float:
    """``Σ w v / Σ w``, clipped back into ``[lo, hi]`` (the rounding of a mean of values in ``[lo, hi]``)."""
    return float(min(max(float(np.dot(weights, np.asarray(values, dtype=float))) / float(weights.sum()), lo), hi))


def aggregate_fleet(evs: Sequence[EVParams], fine: Horizon, coarse: Horizon) -> list[EVParams]:
    r"""SPEC §3.7's aggregated variant for the DA stage: one virtual vehicle per group of alike vehicles.

    1. Every vehicle is passed through :func:`make_feasible` on ``fine`` and its plug-in window is
       mapped to ``coarse`` (``fine.n`` must be a multiple of ``coarse.n`` over the same day): a
       coarse period counts as plugged if any of its fine sub-periods is — a relaxation (the
       arrival moves to the start of its coarse period, the departure to the end of its last
       plugged one).  A ``home`` vehicle whose absence covers no whole coarse period keeps one
       away period (the one with most absent sub-periods), so ``d < a`` stays valid; only there
       the mapping is not a relaxation.
    2. Vehicles with the same ``(station, kind, a_c, d_c, v2g, eta, soc_min, soc_max)`` form a
       group; each group becomes one :class:`EVParams` with capacity, power limits and ``trip_kwh``
       summed and ``soc_arrival``/``soc_required`` capacity-weighted means:

       .. math::

           E^{agg} = \sum_m E_m,\ \ \bar P^{agg} = \sum_m \bar P_m,\ \
           soc^{agg} = \sum_m E_m soc_m / E^{agg},\ \ E^{trip,agg} = \sum_m E^{trip}_m

       Summing EV-3…EV-5 of the members (same window, same η and SOC limits) gives exactly these
       rows for the aggregate energy ``Σ E_m soc_m``, so the sum of any feasible member schedules
       is feasible for the aggregate (the converse does not hold: a relaxation).  Minimum powers
       are dropped (``p_*_min_kw = 0``: the aggregate has no binaries, SPEC §3.7).  ``c_ev`` and
       ``lambda_ev`` are copied; a group that mixes them raises ``ValueError`` naming the vehicles.

    The number of aggregates is bounded by the distinct coarse windows per station and kind, not by
    the fleet size.  Names are ``agg<station>_<k>`` (``k`` = group number in order of first member),
    unique within the result.  Returns ``[]`` for an empty fleet.
    """
    if fine.n % coarse.n or abs(fine.n * fine.dt_h - coarse.n * coarse.dt_h) > 1e-9:
        raise ValueError(f"aggregate_fleet: the fine grid ({fine.n} x {fine.dt_h} h) must split the coarse grid "
                         f"({coarse.n} x {coarse.dt_h} h) into whole sub-periods over the same day")
    steps = fine.n // coarse.n
    groups: dict[tuple[Any, ...], list[EVParams]] = {}
    for raw in evs:
        p = make_feasible(raw, fine)
        a_c, d_c = _coarse_window(p, fine, steps, coarse)
        key = (p.station, p.kind, a_c, d_c, p.v2g, p.eta, p.soc_min, p.soc_max, p.carried)
        groups.setdefault(key, []).append(p)
    out: list[EVParams] = []
    for k, ((station, kind, a_c, d_c, v2g, eta, soc_min, soc_max, carried), members) in enumerate(groups.items()):
        costs = {(m.c_ev, m.lambda_ev) for m in members}
        if len(costs) > 1:
            detail = ", ".join(f"{m.name} (c_ev {m.c_ev}, lambda_ev {m.lambda_ev})" for m in members)
            raise ValueError(f"aggregate_fleet: vehicles of one group (station {station!r}, {kind}, coarse window "
                             f"{a_c}-{d_c}) have different c_ev/lambda_ev and cannot be aggregated: {detail}")
        cap = np.array([m.capacity_kwh for m in members])
        total = float(cap.sum())
        soc_arr = _weighted_mean(cap, [m.soc_arrival for m in members], soc_min, soc_max)
        soc_req = _weighted_mean(cap, [m.soc_required for m in members], soc_min, soc_max)
        c_ev, lambda_ev = next(iter(costs))
        carry: dict[str, float] = {}
        if carried:  # carried-over home vehicles: the group starts from their pooled energy
            carry["soc_start"] = _weighted_mean(cap, [float(m.soc_start or 0.0) for m in members], soc_min, soc_max)
            carry["soc_end_min"] = _weighted_mean(
                cap, [soc_min if m.soc_end_min is None else m.soc_end_min for m in members], soc_min, soc_max)
        label = str(station)
        out.append(EVParams(
            name=f"agg{label}_{k:03d}" if label else f"agg_{k:03d}",
            arrival_period=a_c, departure_period=d_c, kind=kind, capacity_kwh=total,
            p_charge_max_kw=float(sum(m.p_charge_max_kw for m in members)),
            p_discharge_max_kw=float(sum(m.p_discharge_max_kw for m in members)),
            eta=eta, soc_min=soc_min, soc_max=soc_max,
            soc_arrival=soc_arr, soc_required=soc_req,
            trip_kwh=float(sum(m.trip_kwh for m in members)), v2g=v2g, c_ev=c_ev, lambda_ev=lambda_ev,
            station=label, **carry,
        ))
    log.debug("aggregate_fleet: %d vehicles -> %d aggregates on the %d-period grid", len(evs), len(out), coarse.n)
    return out


__all__ += ["aggregate_fleet"]

# ============================================================================ 003's EV fleet device
#
# Paper 003's EV fleet (SPEC §3.7, F^EV of §3.15) as a device of the low-carbon campus: aggregated
# vehicle groups, each an EV-1…EV-6 block of :func:`build_ev` with its mode binaries relaxed (an LP),
# summed into fleet charging / discharging with the V2G compensation.  It lives here, not in
# :mod:`agents.devices`, because it is built from :func:`build_ev` and this module imports
# :mod:`agents.devices.core` (the other way round would be an import cycle).


@dataclass(frozen=True)
class EVFleetParams:
    """003's EV fleet: aggregated vehicle groups (:class:`agents.ev.EVParams`, whose kW/kWh fields hold
    **MW/MWh** here and whose ``c_ev`` is c^EV in 万元/MWh) and the V2G compensation c^{EV,dis}."""

    groups: tuple[EVParams, ...]
    discharge_compensation_per_mwh: float = _p(0.02, "万元/MWh", "V2G compensation c^EV,dis", _MINE)

    def __post_init__(self) -> None:
        if not self.groups:
            raise _bad("EVFleetParams", "groups", "a non-empty tuple of EVParams", self.groups)
        names = [g.name for g in self.groups]
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise _bad("EVFleetParams", "groups", "EVParams with distinct names", dup)
        for g in self.groups:
            if g.p_charge_min_kw or g.p_discharge_min_kw:
                raise _bad("EVFleetParams", "groups", "groups with p_charge_min_kw = p_discharge_min_kw = 0 "
                           f"(003's EV model is an LP); group {g.name!r} has minimum powers",
                           (g.p_charge_min_kw, g.p_discharge_min_kw))
        _check_nonneg(self, "discharge_compensation_per_mwh")


def build_ev_fleet(block: pyo.Block, params: EVFleetParams, horizon: Horizon, bus: Bus) -> LowCarbonHandle:
    r"""003's EV fleet, one :func:`agents.ev.build_ev` block per group (SPEC §3.7, F^EV of §3.15).

    Each group ``m`` is ``build_ev(group[m], p_m, horizon, prices=0, exclusive=False)``: EV-1…EV-5
    (work window or overnight cyclic EV-4'), with ``block.group[m].cost`` =
    :math:`c^{EV}\sum_t(P^c_{m,t}+P^{dis}_{m,t})\Delta t` (EV-6 with π = 0, λ = 0; 003 has no
    electricity price).  Its mode binaries ``x_charge``/``x_discharge`` are then relaxed to [0, 1]:
    without EV-2's complementarity rows (``exclusive=False``, zero minimum power) they appear only in
    EV-1, so the relaxation loses nothing and the fleet is an LP (003's recourse, SPEC §6.5).

    .. math::

        P^{EV,ch}_t = \textstyle\sum_m P^c_{m,t},\qquad P^{EV,dis}_t = \sum_m P^{dis}_{m,t}
        F^{EV} = \textstyle\sum_{m,t}\big(c^{EV,dis}P^{dis}_{m,t} + c^{EV}(P^c_{m,t}+P^{dis}_{m,t})\big)\Delta t

    Injection ``P^{EV,dis}_t - P^{EV,ch}_t``; ``cost_ev``.  The groups' fields in kW/kWh are MW/MWh.
    """
    T = _periods(block, horizon)
    dt = horizon.dt_h
    b = block
    names = [g.name for g in params.groups]
    b.GROUPS = pyo.Set(initialize=names, ordered=True, doc="EV groups")
    b.group = pyo.Block(b.GROUPS, doc="one EV block per group (agents.ev.build_ev)")
    zero = np.zeros(horizon.n)
    for g in params.groups:
        gb = b.group[g.name]
        build_ev(gb, g, horizon, zero, exclusive=False)
        for var in (gb.x_charge, gb.x_discharge):
            for v in var.values():
                v.domain = pyo.UnitInterval
    b.discharge_compensation_per_mwh = pyo.Param(initialize=params.discharge_compensation_per_mwh, mutable=True,
                                                 doc="V2G compensation c^EV,dis [万元/MWh]")
    b.p_charge_mw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="fleet charging P^EV,ch_t [MW]")
    b.p_discharge_mw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="fleet discharging P^EV,dis_t [MW]")
    b.def_charge = pyo.Constraint(
        b.T, rule=lambda m, t: m.p_charge_mw[t] == pyo.quicksum(m.group[g].p_charge_kw[t] for g in names),
        doc="fleet charging = sum of groups")
    b.def_discharge = pyo.Constraint(
        b.T, rule=lambda m, t: m.p_discharge_mw[t] == pyo.quicksum(m.group[g].p_discharge_kw[t] for g in names),
        doc="fleet discharging = sum of groups")
    b.cost_ev = pyo.Expression(
        expr=pyo.quicksum(b.group[g].cost for g in names)
        + b.discharge_compensation_per_mwh * dt * pyo.quicksum(b.p_discharge_mw[t] for t in T),
        doc="EV cost F^EV: scheduling c^EV (P^c + P^dis) dt + V2G compensation [万元]")
    for t in T:
        bus.inject(t, b.p_discharge_mw[t] - b.p_charge_mw[t])
    bus.cost.append(b.cost_ev)
    return LowCarbonHandle(block=b, outputs={"ev_charge_mw": (b.p_charge_mw, "MW"),
                                             "ev_discharge_mw": (b.p_discharge_mw, "MW")},
                           costs={"cost_ev": b.cost_ev})


def default_ev_fleet(horizon: Horizon = DA_HORIZON) -> EVFleetParams:
    """30 aggregated EV groups (003: "30 elements") `[default] not in SPEC`, deterministic.

    Every group: 10 MWh, ±2.5 MW, η 0.95, SOC 0.2–0.95, departure SOC 0.8, c^EV = 0.005 万元/MWh
    (fleet: 300 MWh, 75 MW).  12 ``work`` groups plugged in during the day: arrive 07/08/09 h
    (``i mod 3``), leave 17/18/19/20 h (``i mod 4``), arrival SOC 0.30–0.45.  18 ``home`` groups
    plugged in overnight (cyclic EV-4'): leave 06/07/08 h, return 17–21 h (``i mod 5``), trip
    2.0–4.0 MWh.  Clock hours map to the period starting then on ``horizon``.
    """
    def period(hour: float) -> int:
        return round(hour / horizon.dt_h) + 1

    common: dict[str, Any] = dict(capacity_kwh=10.0, p_charge_max_kw=2.5, p_discharge_max_kw=2.5, eta=0.95,
                                  soc_min=0.2, soc_max=0.95, soc_required=0.8, v2g=True, c_ev=0.005,
                                  station="003")
    groups: list[EVParams] = []
    for i in range(12):
        groups.append(EVParams(name=f"ev_work_{i:02d}", kind="work", arrival_period=period(7 + i % 3),
                               departure_period=period(17 + i % 4), soc_arrival=0.30 + 0.05 * (i % 4), **common))
    for i in range(18):
        groups.append(EVParams(name=f"ev_home_{i:02d}", kind="home", arrival_period=period(17 + i % 5),
                               departure_period=period(6 + i % 3), trip_kwh=2.0 + 0.5 * (i % 5), **common))
    return EVFleetParams(groups=tuple(groups))


__all__ += ["EVFleetParams", "build_ev_fleet", "default_ev_fleet"]

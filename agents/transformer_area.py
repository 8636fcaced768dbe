"""Transformer-area (TA) agent of paper 004 (SPEC §3.6c, §5.1, §5.6).

A TA is the follower at one load bus: it owns the bus's fixed load and, at the DR buses, a DR
aggregate split into fixed / shiftable / curtailable parts (50/30/20 %, SPEC §5.1), and it may host
an EV station (the EV agents are separate; the coordinator adds their net load at the bus).  Its
load does not come from an optimisation but from the price-elasticity model EL-1…EL-5: a price
vector maps to load changes.  All numpy work is done by :mod:`market.pricing`
(:func:`~market.pricing.shiftable_elasticity_matrix`, :func:`~market.pricing.price_response`, ...);
this module holds the TA's data, caches its elasticity matrices and adds the DR cost (004 eq. 17)
and the reactive load.

Two stages
----------
* **Day-ahead** (the TA's base grid, normally 24 × 1 h): :meth:`TransformerAreaAgent.day_ahead_response`
  answers a TOU price vector relative to the reference price ``π^0`` with the full elasticities.
  For the DSO's TOU design, where the prices are decision variables, :func:`build_elastic_load`
  writes EL-2…EL-5 into a Pyomo block (linear in ``π``; ``[·]^+`` with binaries).
* **Intraday** (``horizon``, normally 96 × 0.25 h): :meth:`TransformerAreaAgent.set_day_ahead`
  fixes the DA prices and the DA-adjusted load (SPEC §5.6: the intraday base is ``P^{L,DA}_{b,h(k)}``,
  the reference price ``π^{DA}_{h(k)}``); :meth:`TransformerAreaAgent.respond` then answers a rolling
  price vector with ``intraday_elasticity_scale`` (0.5) × the DA elasticities.  The 96 × 96
  energy-conserving matrix is built once per DA plan and cached, so the bisection loop only does
  two matrix-vector products per call.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import mesa
import numpy as np
import pyomo.core as pyo

from agents.base import BlockHandle, EnergyAgent
from agents.behaviours import TRANSFORMER_AREA
from agents.devices.core import RT_HORIZON, Horizon
from market.interfaces import as_vector
from market.pricing import (
    DEFAULT_CUT_ELASTICITY,
    DEFAULT_SELF_ELASTICITY,
    DEFAULT_TOU_PARTITION,
    REFERENCE_PRICE,
    curtailable_elasticity_matrix,
    load_after_response,
    period_values,
    price_response,
    repeat_to_grid,
    shiftable_elasticity_matrix,
)

log = logging.getLogger(__name__)

#: Split of a DR aggregate into fixed / shiftable / curtailable load (004 §5.1) `[paper]`.
DR_SPLIT: tuple[float, float, float] = (0.5, 0.3, 0.2)

PriceFn = Callable[[int], Any]
"""``f(t)`` -> the price ``π_t`` (USD/kWh) as a Pyomo expression (a Var, a Param or a number)."""


# ------------------------------------------------------------------------------ parameters


@dataclass(frozen=True, eq=False)
class TransformerAreaParams:
    """One transformer area (SPEC §5.1): its bus, base load profiles and DR data.

    Profiles are on the TA's *base grid* (``len(partition)`` periods of ``dt_h`` hours, by default
    the 24-hour DA grid):

    - ``fixed_kw``: non-responsive load ``P^fix`` (the bus's own load plus 50 % of a DR aggregate);
    - ``shiftable_kw``: shiftable base ``P^{tran,0}`` (30 % of a DR aggregate, else zeros);
    - ``curtailable_kw``: curtailable base ``P^{cut,0}`` (20 % of a DR aggregate, else zeros).

    ``partition`` labels each period (``peak``/``flat``/``valley``); ``self_elasticity`` and
    ``cut_elasticity`` give the DA elasticities per label (SPEC §3.6c defaults), all ≤ 0.
    ``intraday_elasticity_scale`` multiplies them on the intraday grid (0.5, SPEC §3.6c).
    ``cost_shift_per_kwh`` (λ_tran) and ``cost_cut_per_kwh`` (λ_cut) price the DR (004 eq. 17,
    SPEC §5.3 defaults).  ``q_per_p`` is the bus's base Q/P ratio: ``Q = q_per_p · P`` (SPEC §5.1).
    ``reference_price`` is π^0 of the DA response (USD/kWh).  ``ev_station`` records that the bus
    hosts an EV station.
    """

    name: str
    bus: int
    fixed_kw: np.ndarray
    shiftable_kw: np.ndarray
    curtailable_kw: np.ndarray
    partition: tuple[str, ...] = DEFAULT_TOU_PARTITION
    dt_h: float = 1.0
    self_elasticity: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_SELF_ELASTICITY))
    cut_elasticity: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_CUT_ELASTICITY))
    intraday_elasticity_scale: float = 0.5
    cost_shift_per_kwh: float = 0.02
    cost_cut_per_kwh: float = 0.05
    q_per_p: float = 0.0
    reference_price: float = REFERENCE_PRICE
    ev_station: bool = False

    def __post_init__(self) -> None:
        who = f"TransformerAreaParams({self.name!r})"
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"TransformerAreaParams.name must be a non-empty string, got {self.name!r}")
        if isinstance(self.bus, bool) or not isinstance(self.bus, int | np.integer) or self.bus < 1:
            raise ValueError(f"{who}.bus must be a bus number >= 1, got {self.bus!r}")
        if isinstance(self.partition, str) or len(self.partition) == 0:
            raise ValueError(f"{who}.partition must be a non-empty sequence of period labels")
        object.__setattr__(self, "partition", tuple(self.partition))
        n = len(self.partition)
        for name in ("fixed_kw", "shiftable_kw", "curtailable_kw"):
            arr = as_vector(getattr(self, name), name, owner=who, length=n, nonnegative=True)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        for name in ("self_elasticity", "cut_elasticity"):
            values = dict(getattr(self, name))
            for label, v in values.items():
                if not (math.isfinite(float(v)) and float(v) <= 0):
                    raise ValueError(f"{who}.{name}[{label!r}] must be a finite elasticity <= 0, got {v}")
            missing = sorted(set(self.partition) - set(values))
            if missing:
                raise ValueError(f"{who}.{name} has no value for the period labels {missing} of partition")
            object.__setattr__(self, name, values)
        _check_number(who, "dt_h", self.dt_h, positive=True)
        _check_number(who, "intraday_elasticity_scale", self.intraday_elasticity_scale)
        _check_number(who, "cost_shift_per_kwh", self.cost_shift_per_kwh)
        _check_number(who, "cost_cut_per_kwh", self.cost_cut_per_kwh)
        _check_number(who, "q_per_p", self.q_per_p)
        _check_number(who, "reference_price", self.reference_price, positive=True)

    @property
    def n_periods(self) -> int:
        """Periods of the base grid."""
        return len(self.partition)

    @property
    def base_load_kw(self) -> np.ndarray:
        """Load before any response: ``P^fix + P^{tran,0} + P^{cut,0}`` (kW)."""
        return self.fixed_kw + self.shiftable_kw + self.curtailable_kw

    @classmethod
    def with_dr_aggregate(
        cls, name: str, bus: int, bus_load_kw: Sequence[float] | np.ndarray,
        dr_load_kw: Sequence[float] | np.ndarray, split: tuple[float, float, float] = DR_SPLIT, **kw: Any,
    ) -> TransformerAreaParams:
        """A TA whose bus load is fixed and whose DR aggregate is split fixed/shiftable/curtailable (004 §5.1)."""
        if len(split) != 3 or any(not (math.isfinite(s) and s >= 0) for s in split) or abs(sum(split) - 1) > 1e-9:
            raise ValueError(f"TransformerAreaParams({name!r}): split must be three shares >= 0 summing to 1, "
                             f"got {split}")
        dr = as_vector(dr_load_kw, "dr_load_kw", owner=f"TransformerAreaParams({name!r})", nonnegative=True)
        fixed = as_vector(bus_load_kw, "bus_load_kw", owner=f"TransformerAreaParams({name!r})", nonnegative=True)
        if fixed.shape != dr.shape:
            raise ValueError(f"TransformerAreaParams({name!r}): bus_load_kw and dr_load_kw must have the same "
                             f"length, got {fixed.size} and {dr.size}")
        return cls(name=name, bus=bus, fixed_kw=fixed + split[0] * dr, shiftable_kw=split[1] * dr,
                   curtailable_kw=split[2] * dr, **kw)


def _check_number(who: str, name: str, value: float, positive: bool = False) -> None:
    v = float(value)
    if not math.isfinite(v) or v < 0 or (positive and v == 0):
        raise ValueError(f"{who}.{name} must be a finite number {'> 0' if positive else '>= 0'}, got {value}")


# ------------------------------------------------------------------------------ response


@dataclass(frozen=True, eq=False)
class DemandResponse:
    """A TA's answer to a price vector (SPEC §3.6c), per period of the grid it was asked on.

    ``load_kw`` = EL-4; ``delta_shift_kw`` = ΔP^tran (sums to 0); ``cut_kw`` = P^cut ≥ 0;
    ``q_kvar`` = ``q_per_p · load_kw``; ``dr_cost`` = ``Σ_t (λ_tran |ΔP^tran_t| + λ_cut P^cut_t) Δt``
    (004 eq. 17), USD, split into ``shift_cost`` and ``cut_cost``.  The base profiles it responded
    from are kept for reporting.
    """

    load_kw: np.ndarray
    q_kvar: np.ndarray
    delta_shift_kw: np.ndarray
    cut_kw: np.ndarray
    fixed_kw: np.ndarray
    shiftable_base_kw: np.ndarray
    curtailable_base_kw: np.ndarray
    shift_cost: float
    cut_cost: float
    dt_h: float

    @property
    def dr_cost(self) -> float:
        """004 eq. 17: ``shift_cost + cut_cost`` (USD)."""
        return self.shift_cost + self.cut_cost

    @property
    def energy_kwh(self) -> float:
        """Energy drawn over the grid (kWh)."""
        return float(self.load_kw.sum() * self.dt_h)


@dataclass
class _Grid:
    """The response state of one grid: bases, reference prices, elasticity matrices (cached)."""

    fixed: np.ndarray
    shiftable: np.ndarray
    curtailable: np.ndarray
    ref_prices: np.ndarray
    e_tran: np.ndarray
    e_cut: np.ndarray
    dt_h: float


def _shiftable_matrix(base: np.ndarray, e_self: np.ndarray) -> np.ndarray:
    """:func:`market.pricing.shiftable_elasticity_matrix`, with no elasticity where no load can move.

    A period whose shiftable load has nowhere to go (no shiftable base in any *other* period, e.g. a
    TA without DR) gets a zero column: it cannot conserve energy, so it does not respond.
    """
    others = base.sum() - base
    e = np.where(others > 0, e_self, 0.0)
    return shiftable_elasticity_matrix(base, e)


class TransformerAreaAgent(EnergyAgent):
    """A transformer area as a Mesa agent: price in, load (and DR cost) out (SPEC §3.6c, §5.6).

    ``horizon`` is the intraday grid (default 96 × 0.25 h); its length must be a multiple of the
    base grid's.  On construction the intraday state assumes DA prices equal to π^0 (no DA change);
    :meth:`set_day_ahead` replaces it with a DA plan.
    """

    behaviour_kind: ClassVar[str] = TRANSFORMER_AREA

    def __init__(self, model: mesa.Model, params: TransformerAreaParams, horizon: Horizon = RT_HORIZON) -> None:
        super().__init__(model, params.name)
        self.horizon = horizon
        self.set_params(params)

    def set_params(self, params: TransformerAreaParams) -> None:
        """New base profiles (e.g. a new day's load): the DA matrices are recomputed, the intraday state
        is reset to DA prices equal to π^0 (as on construction) until :meth:`set_day_ahead`."""
        old: TransformerAreaParams | None = self.__dict__.get("params")
        if old is not None and (params.bus != old.bus or params.partition != old.partition):
            raise ValueError(f"TA {self.name}: set_params must keep the bus and the partition")
        self.params: TransformerAreaParams = params
        horizon = self.horizon
        n = params.n_periods
        if horizon.n % n != 0:
            raise ValueError(
                f"TA {params.name}: the intraday horizon's {horizon.n} periods are not a multiple of the "
                f"{n} periods of the base grid (partition)"
            )
        if abs(horizon.n * horizon.dt_h - n * params.dt_h) > 1e-9:
            raise ValueError(
                f"TA {params.name}: the intraday horizon covers {horizon.n * horizon.dt_h} h but the base grid "
                f"{n * params.dt_h} h"
            )
        self.steps_per_period = horizon.n // n
        self._e_self = period_values(params.self_elasticity, params.partition, field="self_elasticity")
        self._e_cut = period_values(params.cut_elasticity, params.partition, field="cut_elasticity")
        ref = np.full(n, params.reference_price)
        self._da = _Grid(params.fixed_kw, params.shiftable_kw, params.curtailable_kw, ref,
                         _shiftable_matrix(params.shiftable_kw, self._e_self),
                         curtailable_elasticity_matrix(self._e_cut), params.dt_h)
        self.da_prices: np.ndarray = ref.copy()
        self.da_response: DemandResponse | None = None
        # the intraday state at DA prices = π^0, computed when first needed (a new day's set_day_ahead replaces it)
        self._intraday_cache: _Grid | None = None
        self._intraday_args = (params.shiftable_kw, params.curtailable_kw, ref)

    @property
    def _intraday(self) -> _Grid:
        if self._intraday_cache is None:
            self._intraday_cache = self._intraday_grid(*self._intraday_args)
        return self._intraday_cache

    # --------------------------------------------------------------------------- state
    def _hold(self, values: np.ndarray) -> np.ndarray:
        return repeat_to_grid(values, self.steps_per_period)

    def _intraday_grid(self, shiftable: np.ndarray, curtailable: np.ndarray, da_prices: np.ndarray) -> _Grid:
        s = self.params.intraday_elasticity_scale
        base = self._hold(shiftable)
        return _Grid(
            fixed=self._hold(self.params.fixed_kw),
            shiftable=base,
            curtailable=self._hold(curtailable),
            ref_prices=self._hold(da_prices),
            e_tran=_shiftable_matrix(base, s * self._hold(self._e_self)),
            e_cut=curtailable_elasticity_matrix(s * self._hold(self._e_cut)),
            dt_h=self.horizon.dt_h,
        )

    def set_day_ahead(self, da_prices: Sequence[float] | np.ndarray) -> DemandResponse:
        """Fix the DA TOU prices: the intraday base becomes the DA-adjusted load (SPEC §5.6).

        The shiftable base becomes ``P^{tran,0} + ΔP^{tran,DA}`` and the curtailable base
        ``P^{cut,0} − P^{cut,DA}``, both held onto the intraday grid; the reference price becomes
        ``π^{DA}_{h(k)}``.  The intraday elasticity matrices are rebuilt here, once.  Returns the
        DA response.
        """
        prices = as_vector(da_prices, "da_prices", owner=f"TA {self.name}", length=self.params.n_periods,
                           positive=True)
        resp = self.day_ahead_response(prices)
        shiftable = resp.shiftable_base_kw + resp.delta_shift_kw
        if np.any(shiftable < -1e-9):
            log.warning("TA %s: the DA response shifts more load than there is (min %.6g kW); clipped at 0",
                        self.name, float(shiftable.min()))
        shiftable = np.clip(shiftable, 0.0, None)
        curtailable = np.clip(resp.curtailable_base_kw - resp.cut_kw, 0.0, None)
        self._intraday_cache = self._intraday_grid(shiftable, curtailable, prices)
        self.da_prices = prices
        self.da_response = resp
        return resp

    # --------------------------------------------------------------------------- responses
    def _respond(self, g: _Grid, prices: np.ndarray, ref: np.ndarray) -> DemandResponse:
        d_tran, p_cut = price_response(g.shiftable, g.curtailable, g.e_tran, g.e_cut, prices, ref)
        load = load_after_response(g.fixed, g.shiftable, g.curtailable, d_tran, p_cut)
        p = self.params
        return DemandResponse(
            load_kw=load, q_kvar=p.q_per_p * load, delta_shift_kw=d_tran, cut_kw=p_cut, fixed_kw=g.fixed,
            shiftable_base_kw=g.shiftable, curtailable_base_kw=g.curtailable,
            shift_cost=float(g.dt_h * p.cost_shift_per_kwh * np.abs(d_tran).sum()),
            cut_cost=float(g.dt_h * p.cost_cut_per_kwh * p_cut.sum()), dt_h=g.dt_h,
        )

    def _ref(self, ref_prices: Sequence[float] | np.ndarray | float | None, g: _Grid, grid: str) -> np.ndarray:
        if ref_prices is None:
            return g.ref_prices
        arr = np.asarray(ref_prices, dtype=float).reshape(-1)
        n = g.fixed.size
        if arr.size == 1:
            arr = np.full(n, float(arr[0]))
        elif arr.size == self.params.n_periods and n != arr.size:
            arr = self._hold(arr)
        return as_vector(arr, "ref_prices", owner=f"TA {self.name} ({grid})", length=n, positive=True)

    def day_ahead_response(
        self, prices: Sequence[float] | np.ndarray, ref_prices: Sequence[float] | np.ndarray | float | None = None
    ) -> DemandResponse:
        """Response on the base grid with the full elasticities, relative to π^0 (or ``ref_prices``)."""
        pi = as_vector(prices, "prices", owner=f"TA {self.name} (day-ahead)", length=self.params.n_periods,
                       nonnegative=True)
        return self._respond(self._da, pi, self._ref(ref_prices, self._da, "day-ahead"))

    def respond(
        self, prices: Sequence[float] | np.ndarray, ref_prices: Sequence[float] | np.ndarray | float | None = None
    ) -> DemandResponse:
        """Intraday response to rolling prices (SPEC §5.6): one price per period of ``horizon``.

        ``ref_prices`` defaults to the DA prices of :meth:`set_day_ahead` (π^0 before it); it may be
        given per intraday period, per base period (held) or as one number.  The elasticities are
        ``intraday_elasticity_scale`` × the DA ones and the matrices are the cached ones.
        """
        g = self._intraday
        pi = as_vector(prices, "prices", owner=f"TA {self.name} (intraday)", nonnegative=True)
        if pi.size != g.fixed.size:
            raise ValueError(
                f"TA {self.name}: respond() expects {g.fixed.size} intraday prices, got {pi.size} "
                "(use day_ahead_response for the base grid)"
            )
        return self._respond(g, pi, self._ref(ref_prices, g, "intraday"))

    # --------------------------------------------------------------------------- DA MILP
    def build_block(self, block: pyo.Block, horizon: Horizon, data: Any, exclusive: bool = True) -> BlockHandle:
        """EL-2…EL-5 on the base grid for the DA TOU design; ``data`` is the price function ``f(t) -> π_t``."""
        if not callable(data):
            raise TypeError(f"TA {self.name}: data must be a price function f(t) -> π_t, got {type(data).__name__}")
        return build_elastic_load(block, self.params, horizon, data)


# ------------------------------------------------------------------------------ DA builder


def build_elastic_load(
    block: pyo.Block,
    params: TransformerAreaParams,
    horizon: Horizon,
    price_var_fn: PriceFn,
    rho_max: float = 1.0,
    parametric: bool = False,
) -> BlockHandle:
    r"""The price-elastic load of one TA with the prices as decision variables (SPEC §3.6c, §5.3).

    With :math:`\rho_j = (\pi_j - \pi^0)/\pi^0` (linear in the price expressions ``price_var_fn(j)``):

    .. math::

        \Delta P^{tran}_t = P^{tran,0}_t \textstyle\sum_j E^{tran}_{tj}\rho_j            \text{(EL-2)}
        \Delta P^{cut}_t = P^{cut,0}_t E^{cut}_{tt}\rho_t                                 \text{(EL-3)}
        P^L_t = P^{fix}_t + P^{tran,0}_t + \Delta P^{tran}_t + P^{cut,0}_t - P^{cut}_t    \text{(EL-4)}
        P^{cut}_t = [-\Delta P^{cut}_t]^+:\ P^{cut}\ge-\Delta P^{cut},\ P^{cut}\le-\Delta P^{cut}+M(1-z),\
            P^{cut}\le Mz,\ z\in\{0,1\}
        -P^{tran,0}_t \le \Delta P^{tran}_t \le P^{tran,0}_t,\quad 0 \le P^{cut}_t \le P^{cut,0}_t  \text{(EL-5)}

    ``E^tran`` is the energy-conserving matrix, so A14 (``Σ_t ΔP^tran_t = 0``) is an identity and not
    a row; EL-5's shift limit ``P̄^tran`` is taken as ``P^{tran,0}`` `[default]` (the shiftable load
    cannot go negative).  ``M_t = P^{cut,0}_t |e^cut_t| ρ^max`` with ``rho_max`` ≥ max |ρ| over the
    admissible prices (1 for TOU-1's π ≤ 2π^0); binaries exist only where ``M_t > 0``.

    ``parametric=True`` (a persistent model that takes a new day's bases): the bases, reference
    prices, matrix entries and big-Ms are mutable Params (:func:`set_elastic_load_data`), on the
    support of today's bases (a later base may be positive only where today's is).

    Components: expressions ``rho[t]``, ``d_shift_kw[t]``, ``d_cut_kw[t]``, ``load_kw[t]``,
    ``q_kvar[t]``, ``cost`` (004 eq. 17, ``Σ (λ_tran |ΔP^tran| + λ_cut P^cut) Δt``, with
    ``|ΔP^tran| ≤ abs_shift_kw``, exact when the cost is minimised); variables ``cut_kw``,
    ``cut_on``, ``abs_shift_kw``.  The bases are held as plain numbers (the matrix depends on them):
    a new base means a new block.
    """
    p = params
    who = f"build_elastic_load({p.name})"
    if horizon.n != p.n_periods:
        raise ValueError(f"{who}: horizon has {horizon.n} periods, the TA's base grid {p.n_periods}")
    if not (math.isfinite(rho_max) and rho_max > 0):
        raise ValueError(f"{who}: rho_max must be a finite number > 0, got {rho_max}")
    g = _da_grid(p, horizon)
    support = (p.shiftable_kw > 0, p.curtailable_kw > 0) if parametric else None
    return _elastic_block(block, p, g, price_var_fn, np.full(p.n_periods, float(rho_max)), shift_limit=True,
                          support=support)


def _da_grid(p: TransformerAreaParams, horizon: Horizon) -> _Grid:
    e_self = period_values(p.self_elasticity, p.partition, field="self_elasticity")
    e_cut = period_values(p.cut_elasticity, p.partition, field="cut_elasticity")
    return _Grid(p.fixed_kw, p.shiftable_kw, p.curtailable_kw, np.full(p.n_periods, p.reference_price),
                 _shiftable_matrix(p.shiftable_kw, e_self), curtailable_elasticity_matrix(e_cut), horizon.dt_h)


def set_elastic_load_data(block: pyo.Block, params: TransformerAreaParams, horizon: Horizon,
                          rho_max: float = 1.0) -> None:
    """Write a new day's bases of ``params`` into a block of :func:`build_elastic_load` (``parametric=True``)."""
    _set_elastic_data(block, params, _da_grid(params, horizon), np.full(params.n_periods, float(rho_max)))


def _elastic_block(
    block: pyo.Block, p: TransformerAreaParams, g: _Grid, price_var_fn: PriceFn, rho_max: np.ndarray,
    shift_limit: bool, support: tuple[np.ndarray, np.ndarray] | None = None,
) -> BlockHandle:
    """EL-2…EL-5 on the grid ``g`` (bases, reference prices, matrices) with prices ``price_var_fn(t)``.

    ``rho_max[t]`` bounds ``|ρ_t|`` (big-M of the ``[·]^+``); ``shift_limit`` adds EL-5's
    ``|ΔP^tran_t| ≤ P^{tran,0}_t`` rows.  See :func:`build_elastic_load` for the components.
    ``support = (shiftable, curtailable)`` (boolean per period) builds the parametric block of
    :func:`_parametric_elastic_block` instead, whose data :func:`_set_elastic_data` rewrites.
    """
    if support is not None:
        return _parametric_elastic_block(block, p, g, price_var_fn, rho_max, shift_limit, support)
    n = g.fixed.size
    T = list(range(1, n + 1))
    dt = g.dt_h
    ref = g.ref_prices
    E = g.e_tran
    e_cut = np.diag(g.e_cut)
    p_tran0 = g.shiftable
    p_cut0 = g.curtailable
    big_m = p_cut0 * np.abs(e_cut) * rho_max

    b = block
    b.T = pyo.Set(initialize=T, ordered=True, doc="periods")
    b.CUT_T = pyo.Set(initialize=[t for t in T if big_m[t - 1] > 0], within=b.T, ordered=True,
                      doc="periods whose curtailable load can respond")
    b.rho = pyo.Expression(b.T, rule=lambda m, t: (price_var_fn(t) - float(ref[t - 1])) / float(ref[t - 1]),
                           doc="relative price change [-] (EL-1)")
    b.d_shift_kw = pyo.Expression(
        b.T,
        rule=lambda m, t: float(p_tran0[t - 1]) * pyo.quicksum(
            float(E[t - 1, j - 1]) * m.rho[j] for j in T if E[t - 1, j - 1] != 0
        ),
        doc="shiftable load change [kW] (EL-2)",
    )
    b.d_cut_kw = pyo.Expression(b.T, rule=lambda m, t: float(p_cut0[t - 1] * e_cut[t - 1]) * m.rho[t],
                                doc="curtailable load change [kW] (EL-3)")
    b.cut_kw = pyo.Var(b.T, bounds=lambda m, t: (0.0, float(p_cut0[t - 1]) if t in m.CUT_T else 0.0),
                       doc="curtailed load [kW] (EL-4, EL-5)")
    b.cut_on = pyo.Var(b.CUT_T, within=pyo.Binary, doc="1 = the curtailable load is cut ([.]^+ of EL-4)")
    b.res_cut_lo = pyo.Constraint(b.CUT_T, rule=lambda m, t: m.cut_kw[t] >= -m.d_cut_kw[t],
                                  doc="cut >= -dP_cut ([.]^+ of EL-4)")
    b.res_cut_hi = pyo.Constraint(
        b.CUT_T, rule=lambda m, t: m.cut_kw[t] <= -m.d_cut_kw[t] + float(big_m[t - 1]) * (1 - m.cut_on[t]),
        doc="cut <= -dP_cut + M (1 - z) ([.]^+ of EL-4)",
    )
    b.res_cut_on = pyo.Constraint(b.CUT_T, rule=lambda m, t: m.cut_kw[t] <= float(big_m[t - 1]) * m.cut_on[t],
                                  doc="cut <= M z ([.]^+ of EL-4)")
    if shift_limit:
        b.res_shift = pyo.Constraint(
            b.T, rule=lambda m, t: pyo.inequality(-float(p_tran0[t - 1]), m.d_shift_kw[t], float(p_tran0[t - 1]))
            if p_tran0[t - 1] > 0 else pyo.Constraint.Skip,
            doc="shift limit (EL-5)",
        )
    b.abs_shift_kw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="|dP_shift| [kW] (eq. 17)")
    b.res_abs_pos = pyo.Constraint(b.T, rule=lambda m, t: m.abs_shift_kw[t] >= m.d_shift_kw[t],
                                   doc="|dP_shift| >= dP_shift")
    b.res_abs_neg = pyo.Constraint(b.T, rule=lambda m, t: m.abs_shift_kw[t] >= -m.d_shift_kw[t],
                                   doc="|dP_shift| >= -dP_shift")
    b.load_kw = pyo.Expression(
        b.T,
        rule=lambda m, t: float(g.fixed[t - 1] + p_tran0[t - 1] + p_cut0[t - 1]) + m.d_shift_kw[t] - m.cut_kw[t],
        doc="load after the response [kW] (EL-4)",
    )
    b.q_kvar = pyo.Expression(b.T, rule=lambda m, t: p.q_per_p * m.load_kw[t], doc="reactive load [kvar]")
    b.cost = pyo.Expression(
        expr=dt * pyo.quicksum(p.cost_shift_per_kwh * b.abs_shift_kw[t] + p.cost_cut_per_kwh * b.cut_kw[t] for t in T),
        doc="DR cost [USD] (004 eq. 17)",
    )
    return BlockHandle(
        block=b,
        outputs={"p_load_kw": (b.load_kw, "kW"), "q_load_kvar": (b.q_kvar, "kvar"),
                 "dr_shift_kw": (b.d_shift_kw, "kW"), "dr_cut_kw": (b.cut_kw, "kW")},
    )

def build_intraday_elastic_load(
    block: pyo.Block,
    agent: TransformerAreaAgent,
    price_var_fn: PriceFn,
    price_min: float,
    price_max: float,
    parametric: bool = False,
) -> BlockHandle:
    r"""The intraday response of one TA with the rolling prices as decision variables (SPEC §5.6).

    Exactly the map of :meth:`TransformerAreaAgent.respond` written as constraints, for a
    coordinator that chooses the prices itself (the full-information oracle of SPEC §5.7): the
    base is the DA-adjusted load held on the intraday grid, ``ρ_k = (π_k − π^DA_{h(k)})/π^DA_{h(k)}``,
    the matrices are the agent's cached intraday ones (``intraday_elasticity_scale`` × the DA
    elasticities), and

    .. math::

        \Delta P^{tran}_k = P^{tran,0}_k \textstyle\sum_j E^{tran}_{kj}\rho_j            \text{(EL-2)}
        \Delta P^{cut}_k = P^{cut,0}_k E^{cut}_{kk}\rho_k                                 \text{(EL-3)}
        P^{cut}_k = [-\Delta P^{cut}_k]^+ \text{ with a binary } z_k \text{ and }
            M_k = P^{cut,0}_k |E^{cut}_{kk}| \rho^{\max}_k                                \text{(EL-4)}

    where ``ρ^max_k`` is the largest ``|ρ_k|`` over ``price_min ≤ π_k ≤ price_max``.  Unlike the DA
    builder there is no shift-limit row: :func:`market.pricing.price_response` applies none either,
    so any price vector in the box gives the same load here and in ``respond``.  Components as in
    :func:`build_elastic_load` (``load_kw``, ``q_kvar``, ``cut_kw``, ``cut_on``, ``cost``, ...).

    ``parametric=True``: the data are mutable Params on the support of the TA's own base profiles
    (the DA-adjusted bases are positive only there), rewritten by :func:`set_intraday_elastic_load_data`
    after the agent's next :meth:`~TransformerAreaAgent.set_day_ahead`.
    """
    g = agent._intraday
    p = agent.params
    rho_max = _intraday_rho_max(g, p, price_min, price_max)
    support = ((agent._hold(p.shiftable_kw) > 0), (agent._hold(p.curtailable_kw) > 0)) if parametric else None
    return _elastic_block(block, p, g, price_var_fn, rho_max, shift_limit=False, support=support)


def _intraday_rho_max(g: _Grid, p: TransformerAreaParams, price_min: float, price_max: float) -> np.ndarray:
    who = f"build_intraday_elastic_load({p.name})"
    if not (math.isfinite(price_min) and math.isfinite(price_max) and 0 < price_min <= price_max):
        raise ValueError(f"{who}: need 0 < price_min <= price_max, got {price_min}, {price_max}")
    ref = g.ref_prices
    return np.asarray(np.maximum((price_max - ref) / ref, (ref - price_min) / ref))


def set_intraday_elastic_load_data(block: pyo.Block, agent: TransformerAreaAgent, price_min: float,
                                   price_max: float) -> None:
    """Write the agent's current intraday state (after ``set_day_ahead``) into a parametric intraday block."""
    g = agent._intraday
    _set_elastic_data(block, agent.params, g, _intraday_rho_max(g, agent.params, price_min, price_max))


def _parametric_elastic_block(
    block: pyo.Block, p: TransformerAreaParams, g: _Grid, price_var_fn: PriceFn, rho_max: np.ndarray,
    shift_limit: bool, support: tuple[np.ndarray, np.ndarray],
) -> BlockHandle:
    r"""EL-2…EL-5 as :func:`_elastic_block` with the day's data as mutable Params (a persistent model).

    The same rows on the periods where a base may be positive (``support``): EL-1
    ``ρ_t = (π_t − π^{ref}_t)/π^{ref}_t`` (Param ``ref_price``), EL-2 ``ΔP^tran_t = P^{tran,0}_t Σ_j
    E^tran_tj ρ_j`` (Params ``p_tran0``, ``e_tran`` on the entries that can be non-zero: the diagonal
    and the columns of periods with shiftable load), EL-3 ``ΔP^cut_t = P^{cut,0}_t E^cut_tt ρ_t``, EL-4's
    ``[·]^+`` with the big-M Param ``big_m`` (``P^{cut,0}_t |E^cut_tt| ρ^max_t``), EL-5 and the DR cost
    (004 eq. 17); the load EL-4 is ``base_kw_t + ΔP^tran_t − P^cut_t`` with the Param ``base_kw``
    ``= P^fix + P^{tran,0} + P^{cut,0}``.
    """
    n = g.fixed.size
    T = list(range(1, n + 1))
    dt = g.dt_h
    shift_on = np.asarray(support[0], dtype=bool)
    cut_on = np.asarray(support[1], dtype=bool) & (np.diag(g.e_cut) != 0)  # where the big-M can be > 0
    e_diag = np.diag(g.e_tran)
    cross = np.asarray([np.any(g.e_tran[:, j] != 0) for j in range(n)])  # columns with elasticity
    pattern = [(t, j) for t in T if shift_on[t - 1] for j in T
               if (t == j and e_diag[j - 1] != 0) or (t != j and shift_on[j - 1] and cross[j - 1])]
    b = block
    b.T = pyo.Set(initialize=T, ordered=True, doc="periods")
    b.CUT_T = pyo.Set(initialize=[t for t in T if cut_on[t - 1]], within=b.T, ordered=True,
                      doc="periods whose curtailable load can respond")
    b.SHIFT_T = pyo.Set(initialize=[t for t in T if shift_on[t - 1]], within=b.T, ordered=True,
                        doc="periods with shiftable load")
    b.E_PAIRS = pyo.Set(initialize=pattern, dimen=2, ordered=True, doc="entries of E^tran that can be non-zero")
    b.ref_price = pyo.Param(b.T, initialize=1.0, mutable=True, within=pyo.Reals, doc="reference price [USD/kWh]")
    b.p_tran0 = pyo.Param(b.T, initialize=0.0, mutable=True, within=pyo.Reals, doc="shiftable base [kW]")
    b.p_cut0 = pyo.Param(b.T, initialize=0.0, mutable=True, within=pyo.Reals, doc="curtailable base [kW]")
    b.base_kw = pyo.Param(b.T, initialize=0.0, mutable=True, within=pyo.Reals,
                          doc="load before the response P^fix + P^tran,0 + P^cut,0 [kW]")
    b.e_tran = pyo.Param(b.E_PAIRS, initialize=0.0, mutable=True, within=pyo.Reals, doc="E^tran entries [-]")
    b.e_cut = pyo.Param(b.T, initialize=0.0, mutable=True, within=pyo.Reals, doc="E^cut diagonal [-]")
    b.big_m = pyo.Param(b.T, initialize=0.0, mutable=True, within=pyo.Reals, doc="big-M of [.]^+ [kW]")
    rows: dict[int, list[int]] = {t: [] for t in T}
    for t, j in pattern:
        rows[t].append(j)
    b.rho = pyo.Expression(b.T, rule=lambda m, t: (price_var_fn(t) - m.ref_price[t]) / m.ref_price[t],
                           doc="relative price change [-] (EL-1)")
    b.d_shift_kw = pyo.Expression(
        b.T, rule=lambda m, t: m.p_tran0[t] * pyo.quicksum(m.e_tran[t, j] * m.rho[j] for j in rows[t])
        if rows[t] else 0.0, doc="shiftable load change [kW] (EL-2)")
    b.d_cut_kw = pyo.Expression(b.T, rule=lambda m, t: m.p_cut0[t] * m.e_cut[t] * m.rho[t] if cut_on[t - 1] else 0.0,
                                doc="curtailable load change [kW] (EL-3)")
    b.cut_kw = pyo.Var(b.T, bounds=lambda m, t: (0.0, m.p_cut0[t] if t in m.CUT_T else 0.0),
                       doc="curtailed load [kW] (EL-4, EL-5)")
    b.cut_on = pyo.Var(b.CUT_T, within=pyo.Binary, doc="1 = the curtailable load is cut ([.]^+ of EL-4)")
    b.res_cut_lo = pyo.Constraint(b.CUT_T, rule=lambda m, t: m.cut_kw[t] >= -m.d_cut_kw[t],
                                  doc="cut >= -dP_cut ([.]^+ of EL-4)")
    b.res_cut_hi = pyo.Constraint(
        b.CUT_T, rule=lambda m, t: m.cut_kw[t] <= -m.d_cut_kw[t] + m.big_m[t] * (1 - m.cut_on[t]),
        doc="cut <= -dP_cut + M (1 - z) ([.]^+ of EL-4)")
    b.res_cut_on = pyo.Constraint(b.CUT_T, rule=lambda m, t: m.cut_kw[t] <= m.big_m[t] * m.cut_on[t],
                                  doc="cut <= M z ([.]^+ of EL-4)")
    if shift_limit:
        b.res_shift = pyo.Constraint(
            b.SHIFT_T, rule=lambda m, t: pyo.inequality(-m.p_tran0[t], m.d_shift_kw[t], m.p_tran0[t]),
            doc="shift limit (EL-5)")
    b.abs_shift_kw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="|dP_shift| [kW] (eq. 17)")
    b.res_abs_pos = pyo.Constraint(b.T, rule=lambda m, t: m.abs_shift_kw[t] >= m.d_shift_kw[t],
                                   doc="|dP_shift| >= dP_shift")
    b.res_abs_neg = pyo.Constraint(b.T, rule=lambda m, t: m.abs_shift_kw[t] >= -m.d_shift_kw[t],
                                   doc="|dP_shift| >= -dP_shift")
    b.load_kw = pyo.Expression(b.T, rule=lambda m, t: m.base_kw[t] + m.d_shift_kw[t] - m.cut_kw[t],
                               doc="load after the response [kW] (EL-4)")
    b.q_kvar = pyo.Expression(b.T, rule=lambda m, t: p.q_per_p * m.load_kw[t], doc="reactive load [kvar]")
    b.cost = pyo.Expression(
        expr=dt * pyo.quicksum(p.cost_shift_per_kwh * b.abs_shift_kw[t] + p.cost_cut_per_kwh * b.cut_kw[t] for t in T),
        doc="DR cost [USD] (004 eq. 17)")
    _set_elastic_data(b, p, g, rho_max)
    return BlockHandle(
        block=b,
        outputs={"p_load_kw": (b.load_kw, "kW"), "q_load_kvar": (b.q_kvar, "kvar"),
                 "dr_shift_kw": (b.d_shift_kw, "kW"), "dr_cut_kw": (b.cut_kw, "kW")},
    )


def _set_elastic_data(b: pyo.Block, p: TransformerAreaParams, g: _Grid, rho_max: np.ndarray) -> None:
    """Write the grid ``g`` (bases, reference prices, matrices) into a parametric elastic block."""
    who = f"TA {p.name}"
    n = g.fixed.size
    shift_on = np.zeros(n, dtype=bool)
    shift_on[np.asarray(list(b.SHIFT_T), dtype=np.int64) - 1] = True
    cut_on = np.zeros(n, dtype=bool)
    cut_on[np.asarray(list(b.CUT_T), dtype=np.int64) - 1] = True
    if np.any((g.shiftable > 0) & ~shift_on) or np.any((g.curtailable > 0) & (np.diag(g.e_cut) != 0) & ~cut_on):
        raise ValueError(f"{who}: the new bases are positive in periods the persistent block was not built for")
    mask = np.zeros((n, n), dtype=bool)
    keys = list(b.E_PAIRS)
    if keys:
        ij = np.asarray(keys, dtype=np.int64) - 1
        mask[ij[:, 0], ij[:, 1]] = True
    outside = (g.e_tran != 0) & ~mask & (g.shiftable[:, None] > 0)
    if np.any(outside):
        raise ValueError(f"{who}: the new elasticity matrix has entries the persistent block was not built for")
    big_m = g.curtailable * np.abs(np.diag(g.e_cut)) * rho_max
    base = g.fixed + g.shiftable + g.curtailable
    T = range(1, n + 1)
    b.ref_price.store_values({t: float(g.ref_prices[t - 1]) for t in T})
    b.p_tran0.store_values({t: float(g.shiftable[t - 1]) for t in T})
    b.p_cut0.store_values({t: float(g.curtailable[t - 1]) for t in T})
    b.base_kw.store_values({t: float(base[t - 1]) for t in T})
    b.e_cut.store_values({t: float(g.e_cut[t - 1, t - 1]) for t in T})
    b.big_m.store_values({t: float(big_m[t - 1]) for t in T})
    if keys:
        b.e_tran.store_values({k: float(g.e_tran[k[0] - 1, k[1] - 1]) for k in keys})

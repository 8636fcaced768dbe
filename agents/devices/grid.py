r"""Grid connections and trading (SPEC §3.4, §3.5, §3.8): the grid exchange with buy/sell binary, P2P
lines between parks, and paper 002's day-ahead and intraday trading.  Builders only build.

* **Grid** (:func:`build_grid`, GRID-1): purchase and sale ``0 <= P^buy <= Pbar w``,
  ``0 <= P^sell <= Pbar (1-w)`` with a mode binary ``w``; injection buy − sell; cost
  ``sum (c^buy P^buy − c^sell P^sell) dt`` with the prices in mutable Params.
* **P2P lines** (:func:`build_p2p_lines`, P2P-1; built by the coordinator, not by a park): forward
  and reverse flow with a direction binary; :func:`p2p_net_inflow` is a park's net inflow (P2P-2,
  line efficiency on the receiving end); :func:`cancel_circulation` replaces simultaneous two-way
  flows on a lossless line by the net flow.
* **Day-ahead trading of 002** (:func:`build_da_trading`, SPEC §3.8, §6.4): the first-stage trading
  power ``P^tr_t`` between mutable bounds, injected into every recourse copy's bus, with the
  day-ahead cost ``C^DA = sum p_t P^tr_t dt`` as the block's own expression (counted once).
* **Intraday trading of 002** (:func:`build_intraday_trading`, SPEC §3.8): purchase and sale within
  their limits and *without* binary (prices must satisfy buy >= sell in every period, checked here
  and by :func:`set_intraday_prices`, otherwise the LP would buy to sell); cost
  ``sum (c^buy P^buy − c^sell P^sell) dt`` (002's Q).

Paper 003's gas purchase (the gas "grid") is in :mod:`agents.devices.gas`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyomo.core as pyo

from agents.devices.core import (
    Bus,
    DeviceHandle,
    Horizon,
    _bad,
    _check_nonneg,
    _finite,
    complementarity_pair,
    profile_param,
    set_profile,
)

# ---------------------------------------------------------------------------- 3.4 grid


@dataclass(frozen=True)
class GridParams:
    """Grid connection with buy/sell exclusivity (SPEC §3.4)."""

    p_max_kw: float


def build_grid(
    block: pyo.Block,
    params: GridParams,
    horizon: Horizon,
    bus: Bus,
    buy_price: Sequence[float] | np.ndarray,
    sell_price: Sequence[float] | np.ndarray,
    exclusive: bool = True,
) -> DeviceHandle:
    r"""Grid exchange (SPEC §3.4).

    .. math::

        0 \le P^{buy}_t \le \bar P w_t,\quad 0 \le P^{sell}_t \le \bar P (1-w_t)   \text{(GRID-1)}

    Injection ``P^buy - P^sell``; cost ``sum (c^buy_t P^buy_t - c^sell_t P^sell_t) dt``.
    Prices are mutable params (``buy_price``, ``sell_price``) per period.
    """
    T = horizon.periods
    dt = horizon.dt_h
    b = block
    b.T = pyo.Set(initialize=T, ordered=True, doc="periods")
    b.p_max_kw = pyo.Param(initialize=params.p_max_kw, mutable=True, doc="connection limit [kW]")
    b.buy_price = pyo.Param(b.T, initialize=profile_param(buy_price, horizon, "grid buy_price"), mutable=True,
                            doc="purchase price [currency/kWh]")
    b.sell_price = pyo.Param(b.T, initialize=profile_param(sell_price, horizon, "grid sell_price"), mutable=True,
                             doc="sale price [currency/kWh]")
    b.p_buy_kw = pyo.Var(b.T, bounds=(0, b.p_max_kw), doc="import [kW]")
    b.p_sell_kw = pyo.Var(b.T, bounds=(0, b.p_max_kw), doc="export [kW]")
    b.mode = pyo.Var(b.T, within=pyo.Binary, doc="1 = buying (GRID-1)")
    comp = complementarity_pair(
        b, "grid", b.p_buy_kw, b.p_sell_kw, b.mode, b.T, exclusive, "res_buy", "res_sell",
        lambda m, t: m.p_buy_kw[t] <= m.p_max_kw * m.mode[t],
        lambda m, t: m.p_sell_kw[t] <= m.p_max_kw * (1 - m.mode[t]),
        "import/export limit (GRID-1)",
    )
    for t in T:
        bus.inject(t, b.p_buy_kw[t] - b.p_sell_kw[t])
    bus.cost.append(pyo.quicksum(dt * (b.buy_price[t] * b.p_buy_kw[t] - b.sell_price[t] * b.p_sell_kw[t]) for t in T))
    return DeviceHandle(
        block=b,
        outputs={"grid_buy_kw": (b.p_buy_kw, "kW"), "grid_sell_kw": (b.p_sell_kw, "kW")},
        binaries={"grid_mode": b.mode},
        complementarity=[comp],
    )


# ---------------------------------------------------------------------------- 3.5 P2P lines


@dataclass(frozen=True)
class LineParams:
    """A P2P line from ``a`` (sending end of the forward direction) to ``b`` (SPEC §3.5)."""

    name: str
    a: str
    b: str
    cap_forward_kw: float
    cap_reverse_kw: float
    efficiency: float = 1.0


def build_p2p_lines(
    block: pyo.Block, lines: Sequence[LineParams], horizon: Horizon, exclusive: bool = True
) -> DeviceHandle:
    r"""P2P lines with a direction binary (SPEC §3.5).  Built by the coordinator, not by a park.

    .. math::

        0 \le P^{fw}_{p,t} \le \bar P^{fw}_p v_{p,t},\quad
        0 \le P^{rv}_{p,t} \le \bar P^{rv}_p (1-v_{p,t})                       \text{(P2P-1)}

    The net inflow to a park (P2P-2) is returned by :func:`p2p_net_inflow`.
    """
    T = horizon.periods
    b = block
    names = [ln.name for ln in lines]
    b.T = pyo.Set(initialize=T, ordered=True, doc="periods")
    b.LINES = pyo.Set(initialize=names, ordered=True, doc="P2P lines")
    b.cap_forward_kw = pyo.Param(b.LINES, initialize={ln.name: ln.cap_forward_kw for ln in lines}, mutable=True,
                                 doc="forward capacity [kW]")
    b.cap_reverse_kw = pyo.Param(b.LINES, initialize={ln.name: ln.cap_reverse_kw for ln in lines}, mutable=True,
                                 doc="reverse capacity [kW]")
    b.p_forward_kw = pyo.Var(b.LINES, b.T, bounds=lambda m, p, t: (0, m.cap_forward_kw[p]), doc="flow a->b [kW]")
    b.p_reverse_kw = pyo.Var(b.LINES, b.T, bounds=lambda m, p, t: (0, m.cap_reverse_kw[p]), doc="flow b->a [kW]")
    b.direction = pyo.Var(b.LINES, b.T, within=pyo.Binary, doc="1 = forward (P2P-1)")
    comp = complementarity_pair(
        b, "p2p", b.p_forward_kw, b.p_reverse_kw, b.direction, b.LINES * b.T, exclusive,
        "res_forward", "res_reverse",
        lambda m, p, t: m.p_forward_kw[p, t] <= m.cap_forward_kw[p] * m.direction[p, t],
        lambda m, p, t: m.p_reverse_kw[p, t] <= m.cap_reverse_kw[p] * (1 - m.direction[p, t]),
        "forward/reverse limit (P2P-1)",
    )
    return DeviceHandle(
        block=b,
        outputs={"p2p_forward_kw": (b.p_forward_kw, "kW"), "p2p_reverse_kw": (b.p_reverse_kw, "kW")},
        binaries={"p2p_direction": b.direction},
        complementarity=[comp],
    )


def p2p_net_inflow(block: pyo.Block, lines: Sequence[LineParams], park: str, t: int) -> Any:
    r"""Net P2P inflow to ``park`` in period ``t`` (P2P-2)::

        sum_{p: b(p)=i} (eta_p P^fw - P^rv) + sum_{p: a(p)=i} (eta_p P^rv - P^fw)
    """
    terms: list[Any] = []
    for ln in lines:
        if ln.b == park:
            terms.append(ln.efficiency * block.p_forward_kw[ln.name, t] - block.p_reverse_kw[ln.name, t])
        elif ln.a == park:
            terms.append(ln.efficiency * block.p_reverse_kw[ln.name, t] - block.p_forward_kw[ln.name, t])
    return pyo.quicksum(terms) if terms else 0.0


def cancel_circulation(forward: np.ndarray, reverse: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Replace simultaneous two-way flows on a *lossless* line by the net flow.

    With ``eta_p = 1`` a flow ``x`` both ways changes no net inflow (P2P-2), no signed flow
    ``F = P^fw - P^rv`` and no cost, and lowering both flows keeps P2P-1 feasible.  So
    ``(max(F, 0), max(-F, 0))`` is an equally good solution that satisfies the direction binary.
    An LP relaxation is free to return either; this picks the physical one.
    """
    net = forward - reverse
    return np.maximum(net, 0.0), np.maximum(-net, 0.0)


# ---------------------------------------------------------------------------- day-ahead trading (002)


@dataclass(frozen=True)
class DayAheadTradeParams:
    """Day-ahead trading power bounds (SPEC §3.8, first stage of 002)."""

    p_min_kw: float
    p_max_kw: float

    def __post_init__(self) -> None:
        if not _finite(self.p_min_kw):
            raise _bad("DayAheadTradeParams", "p_min_kw", "finite", self.p_min_kw)
        if not (_finite(self.p_max_kw) and self.p_max_kw >= self.p_min_kw):
            raise _bad("DayAheadTradeParams", "p_max_kw", f"finite and >= p_min_kw = {self.p_min_kw}", self.p_max_kw)


def build_da_trading(
    block: pyo.Block,
    params: DayAheadTradeParams,
    horizon: Horizon,
    price: Sequence[float] | np.ndarray,
    buses: Sequence[Bus],
) -> DeviceHandle:
    r"""Day-ahead trading power, the first-stage decision ``x`` of 002 (SPEC §3.8, §6.4).

    .. math::

        \underline P^{tr} \le P^{tr}_t \le \overline P^{tr},\qquad C^{DA} = \sum_t p_t P^{tr}_t \Delta t

    ``P^tr_t`` (``p_tr_kw``) is injected into *every* bus of ``buses`` (one per reference sample
    ``k``: all recourse copies share the first-stage decision).  ``C^{DA}`` is the block's own
    expression ``block.cost`` and is *not* appended to any bus, so K recourse copies do not count it
    K times: add ``block.cost`` to the objective once (a single-scenario model may simply
    ``bus.cost.append(block.cost)``).  ``price`` is the mutable Param ``price``; the bounds are
    mutable scalars.  The DA plan lives on ``horizon`` (24 × 1 h in 002); recourse buses must be on
    the same grid.
    """
    for i, bus in enumerate(buses):
        if bus.horizon != horizon:
            raise ValueError(f"DA trading on {horizon} but bus {i} is on {bus.horizon}")
    T = horizon.periods
    dt = horizon.dt_h
    b = block
    b.T = pyo.Set(initialize=T, ordered=True, doc="periods")
    b.price = pyo.Param(b.T, initialize=profile_param(price, horizon, "DA price"), mutable=True,
                        doc="day-ahead price p_t [currency/kWh]")
    b.p_min_kw = pyo.Param(initialize=params.p_min_kw, mutable=True, doc="lower trading bound [kW]")
    b.p_max_kw = pyo.Param(initialize=params.p_max_kw, mutable=True, doc="upper trading bound [kW]")
    b.p_tr_kw = pyo.Var(b.T, bounds=(b.p_min_kw, b.p_max_kw), doc="day-ahead trading power P^tr_t [kW]")
    b.cost = pyo.Expression(expr=pyo.quicksum(dt * b.price[t] * b.p_tr_kw[t] for t in T),
                            doc="day-ahead cost C^DA (first stage)")
    for bus in buses:
        for t in T:
            bus.inject(t, b.p_tr_kw[t])
    return DeviceHandle(block=b, outputs={"da_trade_kw": (b.p_tr_kw, "kW")})


# ---------------------------------------------------------------------------- intraday trading (002)


@dataclass(frozen=True)
class IntradayTradeParams:
    """Intraday purchase/sale limits (SPEC §3.8 "intraday grid trading")."""

    p_buy_max_kw: float
    p_sell_max_kw: float

    def __post_init__(self) -> None:
        _check_nonneg(self, "p_buy_max_kw", "p_sell_max_kw")


def _check_price_order(buy: np.ndarray, sell: np.ndarray) -> None:
    bad = np.flatnonzero(buy < sell)
    if bad.size:
        t = int(bad[0])
        raise ValueError(
            f"intraday prices: buy_price must be >= sell_price in every period (no binary keeps the LP from "
            f"buying to sell), got buy {buy[t]:g} < sell {sell[t]:g} in period {t + 1}")


def build_intraday_trading(
    block: pyo.Block,
    params: IntradayTradeParams,
    horizon: Horizon,
    bus: Bus,
    buy_price: Sequence[float] | np.ndarray,
    sell_price: Sequence[float] | np.ndarray,
) -> DeviceHandle:
    r"""Intraday purchase and sale without binary (SPEC §3.8; SPEC §3.4 for why none is needed).

    .. math::

        0 \le P^{buy}_t \le \bar P^{buy},\qquad 0 \le P^{sell}_t \le \bar P^{sell}

    Injection ``P^buy_t - P^sell_t``; cost ``sum (c^buy_t P^buy_t - c^sell_t P^sell_t) dt`` (002's Q).
    Prices are mutable Params ``buy_price``/``sell_price``; they must satisfy ``c^buy_t >= c^sell_t``
    (checked here and by :func:`set_intraday_prices`), otherwise the LP would buy to sell.
    """
    T = horizon.periods
    dt = horizon.dt_h
    buy = profile_param(buy_price, horizon, "intraday buy_price")
    sell = profile_param(sell_price, horizon, "intraday sell_price")
    _check_price_order(np.array(list(buy.values())), np.array(list(sell.values())))
    b = block
    b.T = pyo.Set(initialize=T, ordered=True, doc="periods")
    b.p_buy_max_kw = pyo.Param(initialize=params.p_buy_max_kw, mutable=True, doc="purchase limit [kW]")
    b.p_sell_max_kw = pyo.Param(initialize=params.p_sell_max_kw, mutable=True, doc="sale limit [kW]")
    b.buy_price = pyo.Param(b.T, initialize=buy, mutable=True, doc="intraday purchase price [currency/kWh]")
    b.sell_price = pyo.Param(b.T, initialize=sell, mutable=True, doc="intraday sale price [currency/kWh]")
    b.p_buy_kw = pyo.Var(b.T, bounds=(0, b.p_buy_max_kw), doc="intraday purchase [kW]")
    b.p_sell_kw = pyo.Var(b.T, bounds=(0, b.p_sell_max_kw), doc="intraday sale [kW]")
    for t in T:
        bus.inject(t, b.p_buy_kw[t] - b.p_sell_kw[t])
    bus.cost.append(pyo.quicksum(dt * (b.buy_price[t] * b.p_buy_kw[t] - b.sell_price[t] * b.p_sell_kw[t]) for t in T))
    return DeviceHandle(block=b, outputs={"grid_buy_kw": (b.p_buy_kw, "kW"), "grid_sell_kw": (b.p_sell_kw, "kW")})


def set_intraday_prices(
    block: pyo.Block, buy_price: Sequence[float] | np.ndarray, sell_price: Sequence[float] | np.ndarray
) -> None:
    """Write new intraday prices into a block built by :func:`build_intraday_trading`.

    Both profiles are checked (length, finite, buy >= sell) before either is written.
    """
    n = len(block.buy_price)
    arrays = []
    for values, what in ((buy_price, "buy_price"), (sell_price, "sell_price")):
        arr = np.asarray(values, dtype=float)
        if arr.shape != (n,):
            raise ValueError(f"intraday {what}: expected {n} values, got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"intraday {what}: contains non-finite values")
        arrays.append(arr)
    _check_price_order(arrays[0], arrays[1])
    set_profile(block.buy_price, buy_price)
    set_profile(block.sell_price, sell_price)

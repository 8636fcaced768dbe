"""Pyomo builders for devices (SPEC §3).  Builders only build: no solving, no I/O.

Every builder has the signature ``build_x(block, params, horizon, bus, ...)`` and

* creates its components on ``block`` (normally a sub-block of the agent's block, so names read
  ``rt[3].PV.ess.soc_kwh``),
* appends its electric injection (generation positive, consumption negative) to
  ``bus.injection[t]`` and its operating cost to ``bus.cost`` — it never edits the balance or the
  objective (devices join by appending, DESIGN principle 3),
* keeps data that studies vary (profiles, capacities, prices) in mutable ``Param`` objects so
  :meth:`agents.milp.HighsModel.update` can re-solve after a change without rebuilding,
* returns a :class:`DeviceHandle` naming its output variables with their units, used by the
  extraction code.

Complementarity binaries (storage mode, grid buy/sell, line direction) are declared ``Binary``;
the solver wrapper may pass them relaxed and make them integer only where needed (DESIGN
principle 7).

Names: sets UPPER, variables/params ``lower_snake`` with a unit suffix, constraints ``def_*``
(definitions) or ``res_*`` (restrictions), every component with ``doc=``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyomo.environ as pyo
from pyomo.core.expr.numeric_expr import LinearExpression

# ---------------------------------------------------------------------------- infrastructure


@dataclass(frozen=True)
class Horizon:
    """A time grid: periods ``1..n`` of ``dt_h`` hours each (SPEC §2.1)."""

    n: int
    dt_h: float

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"Horizon.n must be >= 1, got {self.n}")
        if not self.dt_h > 0:
            raise ValueError(f"Horizon.dt_h must be > 0, got {self.dt_h}")

    @property
    def periods(self) -> list[int]:
        return list(range(1, self.n + 1))


DA_HORIZON = Horizon(24, 1.0)
RT_HORIZON = Horizon(96, 0.25)


@dataclass
class InjectionBus:
    """Injections per period and cost terms that devices append; see :class:`Bus` (electric) and
    :class:`agents.rural_devices.HeatBus` (heat), separate types so the two cannot be confused."""

    horizon: Horizon
    injection: dict[int, list[Any]] = field(default_factory=dict)
    cost: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        for t in self.horizon.periods:
            self.injection.setdefault(t, [])

    def inject(self, t: int, expr: Any) -> None:
        self.injection[t].append(expr)


@dataclass
class Bus(InjectionBus):
    """Electric bus of one agent block: devices append injections and costs here."""


@dataclass(frozen=True)
class Complementarity:
    """A pair of non-negative variables that must not both be positive at the same index.

    The binary ``binary[k]`` enforces it through the rows ``pos_con[k]`` (pos <= cap * b) and
    ``neg_con[k]`` (neg <= cap * (1 - b)).  The power limits are also column bounds of ``pos`` and
    ``neg``, so the pair is a valid LP relaxation without the rows.  The rows exist only for the
    indices in ``index_set``: all of them when the device was built with ``exclusive=True``, none
    with ``exclusive=False``; :meth:`enforce` adds them for chosen indices later (DESIGN
    principle 7: binaries only where the relaxation uses both sides).
    """

    name: str
    block: Any
    pos: Any
    neg: Any
    binary: Any
    pos_con: Any
    neg_con: Any
    index_set: Any
    pos_rule: Any
    neg_rule: Any

    def enforce(self, keys: Iterable[Any]) -> int:
        """Create (or re-activate) the exclusivity rows for ``keys``; return how many were new."""
        new = 0
        for k in keys:
            if k not in self.index_set:
                self.index_set.add(k)
            args = k if isinstance(k, tuple) else (k,)
            for con, rule in ((self.pos_con, self.pos_rule), (self.neg_con, self.neg_rule)):
                if k in con:
                    con[k].activate()
                else:
                    con[k] = rule(self.block, *args)
                    new += 1
        return new

    def release(self, keys: Iterable[Any]) -> None:
        """Deactivate the exclusivity rows for ``keys`` (the relaxation again)."""
        for k in keys:
            for con in (self.pos_con, self.neg_con):
                if k in con:
                    con[k].deactivate()


def complementarity_pair(
    b: pyo.Block, name: str, pos: Any, neg: Any, binary: Any, index: Any, exclusive: bool,
    pos_name: str, neg_name: str, pos_rule: Any, neg_rule: Any, doc: str,
) -> Complementarity:
    """Declare an exclusivity pair on ``b``: the index set ``EXCLUSIVE_<NAME>`` and the two row
    families ``pos_name``/``neg_name`` (built for every index if ``exclusive``, else for none)."""
    keys = list(index) if exclusive else []
    dimen = 2 if keys and isinstance(keys[0], tuple) else (index.dimen if hasattr(index, "dimen") else 1)
    setname = f"EXCLUSIVE_{name.upper()}"
    b.add_component(setname, pyo.Set(initialize=keys, within=index, ordered=True, dimen=dimen,
                                      doc=f"indices where the {name} binary is enforced"))
    idx = b.component(setname)
    b.add_component(pos_name, pyo.Constraint(idx, rule=pos_rule, doc=f"{doc} (with binary)"))
    b.add_component(neg_name, pyo.Constraint(idx, rule=neg_rule, doc=f"{doc} (with binary)"))
    return Complementarity(name, b, pos, neg, binary, b.component(pos_name), b.component(neg_name), idx,
                           pos_rule, neg_rule)


@dataclass
class DeviceHandle:
    """Output variables of a built device: ``name -> (component, unit)``.

    ``component`` is an indexed Var or Param over the horizon.
    """

    block: pyo.Block
    outputs: dict[str, tuple[Any, str]] = field(default_factory=dict)
    binaries: dict[str, Any] = field(default_factory=dict)
    complementarity: list[Complementarity] = field(default_factory=list)


def linear_expr(pairs: Sequence[tuple[float, Any]], constant: float = 0.0) -> Any:
    """``constant + sum c * v`` as one Pyomo ``LinearExpression`` (no operator-overloading chain)."""
    return LinearExpression(constant=constant, linear_coefs=[c for c, _ in pairs], linear_vars=[v for _, v in pairs])


def profile_param(values: Sequence[float] | np.ndarray, horizon: Horizon, what: str) -> dict[int, float]:
    """Validate a profile of ``horizon.n`` finite values and return it as a Param initialiser."""
    arr = np.asarray(values, dtype=float)
    if arr.shape != (horizon.n,):
        raise ValueError(f"{what}: expected {horizon.n} values, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what}: contains non-finite values")
    return {t: float(arr[t - 1]) for t in horizon.periods}


def close_bus(block: pyo.Block, bus: Bus, exchange: Any | None = None) -> None:
    """Create the block's power balance and cost expression from what devices appended.

    ``def_balance[t]``:  sum of device injections (+ ``exchange[t]``) = 0       (C-3 / C-4)
    ``cost``:            sum of device costs
    """
    T = bus.horizon.periods

    def balance_rule(b: pyo.Block, t: int) -> Any:
        terms = list(bus.injection[t])
        if exchange is not None:
            terms.append(exchange[t])
        return pyo.quicksum(terms) == 0

    block.def_balance = pyo.Constraint(T, rule=balance_rule, doc="electric power balance (C-3/C-4)")
    block.cost = pyo.Expression(expr=pyo.quicksum(bus.cost), doc="operating cost")


# ---------------------------------------------------------------------------- 3.1 battery


@dataclass(frozen=True)
class BatteryParams:
    """Battery energy storage (SPEC §3.1).  Energies in kWh, powers in kW."""

    capacity_kwh: float
    p_charge_max_kw: float
    p_discharge_max_kw: float
    soc_min_frac: float = 0.1
    soc_max_frac: float = 0.9
    soc_initial_frac: float = 0.5
    eta_charge: float = 0.95
    eta_discharge: float = 0.95
    self_discharge_per_h: float = 0.0
    cost_per_kwh: float = 0.0
    soc_end_min_frac: float | None = None
    soc_end_max_frac: float | None = None

    @property
    def end_window_frac(self) -> tuple[float, float]:
        """ESS-4's window for the final SOC: ``soc_end_min/max_frac``, each defaulting to ``soc_initial_frac``."""
        lo = self.soc_initial_frac if self.soc_end_min_frac is None else self.soc_end_min_frac
        hi = self.soc_initial_frac if self.soc_end_max_frac is None else self.soc_end_max_frac
        return lo, hi


def build_battery(
    block: pyo.Block, params: BatteryParams, horizon: Horizon, bus: Bus, exclusive: bool = True,
    binary: bool = True,
) -> DeviceHandle:
    r"""Battery with charge/discharge exclusivity (SPEC §3.1).

    .. math::

        E_t = (1-\sigma\Delta t) E_{t-1} + (\eta^{ch} P^{ch}_t - P^{dis}_t/\eta^{dis})\Delta t,
              \quad E_0 = E^{init}                                             \text{(ESS-1)}
        E^{min} \le E_t \le E^{max}                                            \text{(ESS-2)}
        0 \le P^{ch}_t \le \bar P^{ch} u_t,\quad 0 \le P^{dis}_t \le \bar P^{dis}(1-u_t)   \text{(ESS-3)}
        E_T = E_0                                                              \text{(ESS-4)}

    With ``soc_end_min_frac``/``soc_end_max_frac`` set (multi-day simulation: the day starts at the SOC
    the previous day left), ESS-4 becomes ``E^{end,min} \le E_T \le E^{end,max}``, written as a window
    on ``E_T - E_0`` (mutable Params ``e_end_lo_kwh``/``e_end_hi_kwh``).

    Injection ``P^dis - P^ch``; cost ``c^ESS * sum (P^ch + P^dis) dt`` (000 eq. 4).
    Setting both power limits to 0 removes the storage without changing the model structure.
    ``binary=False`` builds no mode binary at all (ESS-3 reduces to the column bounds; a pure LP, as
    002's power storage): the handle then has no binaries and no complementarity pair.
    """
    T = horizon.periods
    dt = horizon.dt_h
    b = block
    b.T = pyo.Set(initialize=T, ordered=True, doc="periods")
    cap = params.capacity_kwh
    b.e_min_kwh = pyo.Param(initialize=params.soc_min_frac * cap, mutable=True, doc="minimum energy [kWh]")
    b.e_max_kwh = pyo.Param(initialize=params.soc_max_frac * cap, mutable=True, doc="maximum energy [kWh]")
    b.e_initial_kwh = pyo.Param(initialize=params.soc_initial_frac * cap, mutable=True, doc="initial energy [kWh]")
    b.p_charge_max_kw = pyo.Param(initialize=params.p_charge_max_kw, mutable=True, doc="charge limit [kW]")
    b.p_discharge_max_kw = pyo.Param(initialize=params.p_discharge_max_kw, mutable=True, doc="discharge limit [kW]")
    b.p_charge_kw = pyo.Var(b.T, bounds=(0, b.p_charge_max_kw), doc="charging power [kW]")
    b.p_discharge_kw = pyo.Var(b.T, bounds=(0, b.p_discharge_max_kw), doc="discharging power [kW]")
    b.soc_kwh = pyo.Var(b.T, bounds=(b.e_min_kwh, b.e_max_kwh), doc="stored energy at period end [kWh] (ESS-2)")
    if binary:
        b.mode = pyo.Var(b.T, within=pyo.Binary, doc="1 = charging mode (ESS-3)")
    keep = 1.0 - params.self_discharge_per_h * dt
    eta_c, eta_d = params.eta_charge, params.eta_discharge

    def soc_rule(m: pyo.Block, t: int) -> Any:
        prev = m.e_initial_kwh if t == T[0] else m.soc_kwh[t - 1]
        return m.soc_kwh[t] == keep * prev + (eta_c * m.p_charge_kw[t] - m.p_discharge_kw[t] / eta_d) * dt

    b.def_soc = pyo.Constraint(b.T, rule=soc_rule, doc="energy balance (ESS-1)")
    comps = [complementarity_pair(
        b, "ess", b.p_charge_kw, b.p_discharge_kw, b.mode, b.T, exclusive,
        "res_charge_mode", "res_discharge_mode",
        lambda m, t: m.p_charge_kw[t] <= m.p_charge_max_kw * m.mode[t],
        lambda m, t: m.p_discharge_kw[t] <= m.p_discharge_max_kw * (1 - m.mode[t]),
        "charge/discharge limit (ESS-3)",
    )] if binary else []
    lo, hi = params.end_window_frac
    if lo > hi:
        raise ValueError(f"battery: soc_end_min_frac {lo} > soc_end_max_frac {hi}")
    b.e_end_lo_kwh = pyo.Param(initialize=(lo - params.soc_initial_frac) * cap, mutable=True,
                               doc="final energy minus initial energy, lower limit [kWh] (ESS-4)")
    b.e_end_hi_kwh = pyo.Param(initialize=(hi - params.soc_initial_frac) * cap, mutable=True,
                               doc="final energy minus initial energy, upper limit [kWh] (ESS-4)")
    if lo == hi == params.soc_initial_frac:
        b.res_end_soc = pyo.Constraint(expr=b.soc_kwh[T[-1]] == b.e_initial_kwh, doc="end energy = start (ESS-4)")
    else:
        b.res_end_soc = pyo.Constraint(
            expr=pyo.inequality(b.e_end_lo_kwh, b.soc_kwh[T[-1]] - b.e_initial_kwh, b.e_end_hi_kwh),
            doc="end energy within a window around the start (ESS-4, multi-day)")
    for t in T:
        bus.inject(t, b.p_discharge_kw[t] - b.p_charge_kw[t])
    if params.cost_per_kwh:
        bus.cost.append(params.cost_per_kwh * dt * pyo.quicksum(b.p_charge_kw[t] + b.p_discharge_kw[t] for t in T))
    return DeviceHandle(
        block=b,
        outputs={
            "ess_charge_kw": (b.p_charge_kw, "kW"),
            "ess_discharge_kw": (b.p_discharge_kw, "kW"),
            "soc_kwh": (b.soc_kwh, "kWh"),
        },
        binaries={"ess_mode": b.mode} if binary else {},
        complementarity=comps,
    )


# ---------------------------------------------------------------------------- 3.2 CHP


@dataclass(frozen=True)
class CHPParams:
    """CHP unit, electric output only (SPEC §3.2)."""

    p_min_kw: float
    p_max_kw: float
    ramp_up_kw_per_h: float
    ramp_down_kw_per_h: float
    p_initial_kw: float
    cost_per_kwh: float


def build_chp(block: pyo.Block, params: CHPParams, horizon: Horizon, bus: Bus) -> DeviceHandle:
    r"""Dispatchable CHP, always on (SPEC §3.2).

    .. math::

        P^{min} \le P_t \le P^{max}                                      \text{(CHP-1)}
        -R^{dn}\Delta t \le P_t - P_{t-1} \le R^{up}\Delta t,\ P_0 = P^{init}   \text{(CHP-2)}

    Injection ``P_t``; cost ``c^CHP * sum P_t dt``.
    """
    T = horizon.periods
    dt = horizon.dt_h
    b = block
    b.T = pyo.Set(initialize=T, ordered=True, doc="periods")
    b.p_min_kw = pyo.Param(initialize=params.p_min_kw, mutable=True, doc="minimum output [kW]")
    b.p_max_kw = pyo.Param(initialize=params.p_max_kw, mutable=True, doc="maximum output [kW]")
    b.p_initial_kw = pyo.Param(initialize=params.p_initial_kw, mutable=True, doc="output before t=1 [kW]")
    b.p_kw = pyo.Var(b.T, bounds=(b.p_min_kw, b.p_max_kw), doc="electric output [kW] (CHP-1)")
    up = params.ramp_up_kw_per_h * dt
    dn = params.ramp_down_kw_per_h * dt

    def prev(m: pyo.Block, t: int) -> Any:
        return m.p_initial_kw if t == T[0] else m.p_kw[t - 1]

    b.res_ramp_up = pyo.Constraint(b.T, rule=lambda m, t: m.p_kw[t] - prev(m, t) <= up, doc="ramp up (CHP-2)")
    b.res_ramp_down = pyo.Constraint(b.T, rule=lambda m, t: prev(m, t) - m.p_kw[t] <= dn, doc="ramp down (CHP-2)")
    for t in T:
        bus.inject(t, b.p_kw[t])
    bus.cost.append(params.cost_per_kwh * dt * pyo.quicksum(b.p_kw[t] for t in T))
    return DeviceHandle(block=b, outputs={"chp_kw": (b.p_kw, "kW")})


# ---------------------------------------------------------------------------- 3.3 PV / wind


@dataclass(frozen=True)
class RenewableParams:
    """PV or wind plant with curtailment (SPEC §3.3)."""

    kind: str  # "pv" or "wind"
    capacity_kw: float
    curtailment_cost_per_kwh: float = 0.0


def build_renewable(
    block: pyo.Block, params: RenewableParams, horizon: Horizon, bus: Bus, available_kw: Sequence[float] | np.ndarray
) -> DeviceHandle:
    r"""PV or wind with curtailment (SPEC §3.3).

    .. math::

        0 \le P_t \le P^{av}_t                                                \text{(RES-1)}

    Injection ``P_t``; cost ``lambda^cur * sum (P^av_t - P_t) dt`` (0 in paper 000).
    ``available_kw`` is stored in the mutable param ``available_kw`` so scenarios can change it.
    """
    if params.kind not in ("pv", "wind"):
        raise ValueError(f"RenewableParams.kind must be 'pv' or 'wind', got {params.kind!r}")
    T = horizon.periods
    dt = horizon.dt_h
    b = block
    b.T = pyo.Set(initialize=T, ordered=True, doc="periods")
    b.available_kw = pyo.Param(
        b.T, initialize=profile_param(available_kw, horizon, f"{params.kind} available_kw"), mutable=True,
        doc="available output [kW]",
    )
    b.p_kw = pyo.Var(b.T, bounds=lambda m, t: (0, m.available_kw[t]), doc="dispatched output [kW] (RES-1)")
    for t in T:
        bus.inject(t, b.p_kw[t])
    if params.curtailment_cost_per_kwh:
        lam = params.curtailment_cost_per_kwh * dt
        bus.cost.append(pyo.quicksum(lam * (b.available_kw[t] - b.p_kw[t]) for t in T))
    name = "pv" if params.kind == "pv" else "wind"
    return DeviceHandle(
        block=b,
        outputs={f"{name}_kw": (b.p_kw, "kW"), f"{name}_available_kw": (b.available_kw, "kW")},
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


# ---------------------------------------------------------------------------- 3.6a DR


@dataclass(frozen=True)
class ShiftableLoadParams:
    """Load with shift-in / shift-out demand response (SPEC §3.6a)."""

    gamma: float  # maximum transfer ratio
    cost_per_kwh: float = 0.0


def build_shiftable_load(
    block: pyo.Block, params: ShiftableLoadParams, horizon: Horizon, bus: Bus, baseline_kw: Sequence[float] | np.ndarray
) -> DeviceHandle:
    r"""Baseline load with shift-in/shift-out DR (SPEC §3.6a).

    .. math::

        L^{DR}_t = L^b_t + L^{in}_t - L^{out}_t                               \text{(DR0-1)}
        0 \le L^{in}_t \le \gamma L^b_t,\quad 0 \le L^{out}_t \le \gamma L^b_t  \text{(DR0-2)}
        \textstyle\sum_t L^{in}_t \Delta t = \sum_t L^{out}_t \Delta t          \text{(DR0-3)}
        (1-\gamma) L^b_t \le L^{DR}_t \le (1+\gamma) L^b_t                      \text{(DR0-4, implied)}

    Injection ``-L^DR_t``; cost ``c^DR * sum (L^in + L^out) dt``.  ``gamma = 0`` removes DR
    without changing the structure.
    """
    T = horizon.periods
    dt = horizon.dt_h
    b = block
    b.T = pyo.Set(initialize=T, ordered=True, doc="periods")
    b.gamma = pyo.Param(initialize=params.gamma, mutable=True, doc="maximum transfer ratio [-]")
    b.load_base_kw = pyo.Param(b.T, initialize=profile_param(baseline_kw, horizon, "load baseline_kw"), mutable=True,
                               doc="baseline load [kW]")
    b.p_in_kw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="load shifted in [kW]")
    b.p_out_kw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="load shifted out [kW]")
    b.res_shift_in = pyo.Constraint(b.T, rule=lambda m, t: m.p_in_kw[t] <= m.gamma * m.load_base_kw[t],
                                    doc="shift-in limit (DR0-2)")
    b.res_shift_out = pyo.Constraint(b.T, rule=lambda m, t: m.p_out_kw[t] <= m.gamma * m.load_base_kw[t],
                                     doc="shift-out limit (DR0-2)")
    b.def_shift_balance = pyo.Constraint(
        expr=pyo.quicksum(b.p_in_kw[t] - b.p_out_kw[t] for t in T) * dt == 0, doc="daily shift balance (DR0-3)"
    )
    b.res_envelope = pyo.Constraint(
        b.T,
        rule=lambda m, t: pyo.inequality(-m.gamma * m.load_base_kw[t], m.p_in_kw[t] - m.p_out_kw[t],
                                         m.gamma * m.load_base_kw[t]),
        doc="load envelope (DR0-4, implied by DR0-2)",
    )
    for t in T:
        bus.inject(t, b.p_out_kw[t] - b.p_in_kw[t] - b.load_base_kw[t])
    if params.cost_per_kwh:
        bus.cost.append(params.cost_per_kwh * dt * pyo.quicksum(b.p_in_kw[t] + b.p_out_kw[t] for t in T))
    return DeviceHandle(
        block=b,
        outputs={
            "load_base_kw": (b.load_base_kw, "kW"),
            "dr_in_kw": (b.p_in_kw, "kW"),
            "dr_out_kw": (b.p_out_kw, "kW"),
        },
    )


# ---------------------------------------------------------------------------- helpers


def set_profile(param: Any, values: Sequence[float] | np.ndarray) -> None:
    """Write a profile into an indexed mutable Param over periods 1..n."""
    arr = np.asarray(values, dtype=float)
    keys = list(param.keys())
    if arr.shape != (len(keys),):
        raise ValueError(f"{param.name}: expected {len(keys)} values, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{param.name}: contains non-finite values")
    param.store_values(dict(zip(keys, arr.tolist(), strict=True)))


def param_values(param: Any) -> np.ndarray:
    """Values of an indexed mutable Param as an array (in index order)."""
    return np.fromiter((pyo.value(param[k]) for k in param), dtype=float)

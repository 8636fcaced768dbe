"""Core of the device builders (SPEC §2.1, §3): the time grid, the carrier buses and their balances,
device handles, complementarity pairs and the helpers every device family uses.  Builders only build:
no solving, no I/O.

Builder conventions
-------------------
Every builder of :mod:`agents.devices` has the signature ``build_x(block, params, horizon, bus, ...)`` and

* creates its components on ``block`` (normally a sub-block of the agent's block, so names read
  ``rt[3].PV.ess.soc_kwh``),
* appends its injection on every carrier it touches (generation positive, consumption negative) to
  ``bus.injection[t]`` and its operating cost to a bus's ``cost`` list — it never edits a balance or
  the objective (devices join by appending, DESIGN principle 3),
* keeps data that studies vary (profiles, capacities, prices) in mutable ``Param`` objects so
  :meth:`agents.milp.HighsModel.update` can re-solve after a change without rebuilding,
* returns a :class:`DeviceHandle` naming its output variables with their units, used by the
  extraction code; paper 003's builders return a :class:`LowCarbonHandle`, which adds the device's
  *named* cost Expressions (``cost_gas``, ``cost_coal``, ``cost_startstop``, ``cost_om``,
  ``cost_curtailment``, ``cost_dr``, ``cost_ev``, ``cost_sequestration``, ``cost_trade``,
  ``cost_slack``, so 003's Table 1 can be read off by name) and its CO2 quantities.

Complementarity binaries (storage mode, grid buy/sell, line direction) are declared ``Binary``;
the solver wrapper may pass them relaxed and make them integer only where needed (DESIGN
principle 7).  A :class:`Complementarity` pair ``pos``/``neg`` with binary ``b`` has the rows
``pos <= cap b`` and ``neg <= cap (1 - b)`` only at the indices where it is enforced; the power
limits are also column bounds, so the pair without its rows is a valid LP relaxation.

Names: sets UPPER, variables/params ``lower_snake`` with a unit suffix, constraints ``def_*``
(definitions) or ``res_*`` (restrictions), every component with ``doc=``.

Carriers and their balances
---------------------------
One bus class per carrier, all :class:`InjectionBus` (injections per period and cost terms) but
distinct types, so handing a heat bus to an electric argument is a type error that mypy reports:

* electricity: :class:`Bus` (kW; MW in paper 003), closed by :func:`close_bus`:
  ``def_balance[t]``: sum of injections (+ ``exchange[t]``) = 0 (C-3 / C-4, BAL2-E, BAL3-E), and the
  block's ``cost`` expression;
* heat: :class:`HeatBus` (kW_th; MW in 003), :func:`close_heat_bus` writes ``def_heat_balance[t]``
  (BAL2-H, BAL3-H);
* CH4: :class:`GasBus` (MW LHV), ``def_gas_balance`` (BAL3-G);
* H2: :class:`HydrogenBus` (MW LHV), ``def_h2_balance`` (BAL3-H2);
* NH3: :class:`AmmoniaBus` (t per period), ``def_nh3_balance``.  The NH3 storage is an ordinary
  device on this bus (it injects its net withdrawal), so the balance row *plus* the storage's
  recursion give exactly SPEC §3.12's ``S_t = S_{t-1} + M^{NH3}_t - sum_g m^{NH3}_{g,t}``, and the
  order in which P2A, TP and the storage are built does not matter.  Without a storage the row
  forces production = consumption in every period.

:func:`close_rural_buses` closes paper 002's electric and heat buses with one ``cost`` holding the
cost terms of both (the intraday cost Q of 002); :func:`close_lowcarbon_buses` closes paper 003's
five buses with one ``cost`` (objective eq. 10 of 003).  Every balance other than the electric one
skips a period with nothing injected.  Biogas (002) has no bus: the generator owns its gas flow and
the digester storage reads it (:mod:`agents.devices.biogas`).  CO2 is booked on a
:class:`~agents.devices.carbon.CarbonLedger`, not a bus.

Units (SPEC §2.3)
-----------------
Papers 000, 002 and 004: kW / kWh (kW_th for heat), currency per kWh.  Paper 003: MW / MWh for
electricity, heat and the LHV power of CH4 and H2; tonnes for CO2, coal, NH3 and H2 mass (per
*period* when a mass is a flow: ``m_coal_t[t]`` is the coal burnt in period ``t``); m³ for solvent;
cost in 万元 (10⁴ CNY).  Every builder takes any :class:`Horizon` and uses its ``dt_h`` (ramp rates
are per hour and multiplied by ``dt``).  Reused builders keep their names in 003:
``build_fixed_load``'s ``load_kw``, ``build_battery``'s ``p_charge_kw`` / ``soc_kwh``,
``build_heat_storage``'s ``h_charge_kw`` and ``build_ev``'s fields hold **MW / MWh** there.

Binaries of paper 003
---------------------
The only binary columns of the 003 model are the thermal units' commitment ``u``, start-up ``su``
and shut-down ``sd`` and, with reward-and-punishment trading, the declared sale tier (first-stage
decisions of the two-stage RO, SPEC §6.5), listed in :attr:`DeviceHandle.binaries`.  Everything
else — storages, EV groups, the buying tiers of CT-3, the piecewise coal curve, |x| linearisations —
is continuous, so with ``u`` fixed the recourse is an LP.  Builders do not write equality rows that
other rows already imply, which keeps the LP duals the KKT subproblem of §6.5 needs from drifting
along a dependent direction.  Paper 002's whole model is a pure LP (no binary column at all).

Helpers
-------
:func:`linear_expr`, :func:`profile_param` (a validated profile as a Param initialiser),
:func:`set_profile` / :func:`param_values` (write / read an indexed mutable Param),
:func:`hold_hourly` (an hourly profile held on a finer grid), ``_periods`` and ``_ramp_rows``
(``x_t - x_{t-1} <= up dt``, ``x_{t-1} - x_t <= down dt`` with mutable rates), the parameter checks
``_check_*`` (errors name the dataclass field and the allowed range) and ``_p``, a dataclass field
whose metadata names its ``unit``, ``doc`` and ``source``: the SPEC §3.15 table value
(``[default] SPEC §3.15``), a paper value (``[paper]``) or a value chosen here
(``[default] not in SPEC``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyomo.core as pyo
from pyomo.core.expr.numeric_expr import LinearExpression

# ---------------------------------------------------------------------------- time grid


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


# ---------------------------------------------------------------------------- buses and balances


@dataclass
class InjectionBus:
    """Injections per period and cost terms that devices append; see :class:`Bus` (electric) and
    :class:`HeatBus` (heat), separate types so the two cannot be confused."""

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


@dataclass
class HeatBus(InjectionBus):
    """Heat bus of one block (002, 003): devices append heat injections (kW_th; MW in 003) and cost terms here.

    Same shape as :class:`Bus` (both are :class:`InjectionBus`), but
    a separate type so electric and heat injections cannot be confused.
    """


@dataclass
class GasBus(InjectionBus):
    """CH4 bus (MW LHV): gas purchase and methanation inject, GT and GB draw (BAL3-G)."""


@dataclass
class HydrogenBus(InjectionBus):
    """H2 bus (MW LHV): electrolysis and H2 storage inject; methanation, GT, GB, P2A draw (BAL3-H2)."""


@dataclass
class AmmoniaBus(InjectionBus):
    """NH3 bus in **t per period** (a mass, not a rate): P2A injects, thermal units draw, the NH3
    storage injects its net withdrawal (SPEC §3.12)."""


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


def close_heat_bus(block: pyo.Block, heat: HeatBus, exchange: Any | None = None) -> None:
    """Create ``def_heat_balance[t]``: sum of heat injections (+ ``exchange[t]``) = 0 (BAL2-H).

    Periods with nothing on the heat bus get no row.  Only the balance: the heat bus's cost terms are
    collected by :func:`close_rural_buses`.
    """
    T = heat.horizon.periods

    def balance_rule(b: pyo.Block, t: int) -> Any:
        terms = list(heat.injection[t])
        if exchange is not None:
            terms.append(exchange[t])
        if not terms:  # nothing on the heat bus in this period (e.g. an electric-only block)
            return pyo.Constraint.Skip
        return pyo.quicksum(terms) == 0

    block.def_heat_balance = pyo.Constraint(T, rule=balance_rule, doc="heat balance (BAL2-H)")


def close_rural_buses(
    block: pyo.Block, bus: Bus, heat: HeatBus, exchange: Any | None = None, heat_exchange: Any | None = None
) -> None:
    """Close both buses of a rural block.

    ``def_balance[t]``       electric balance (BAL2-E), via :func:`close_bus`
    ``def_heat_balance[t]``  heat balance (BAL2-H)
    ``cost``                 sum of the cost terms of both buses (the intraday cost Q of 002)
    """
    if bus.horizon != heat.horizon:
        raise ValueError(f"close_rural_buses: electric bus on {bus.horizon} but heat bus on {heat.horizon}")
    close_bus(block, Bus(bus.horizon, injection=bus.injection, cost=[*bus.cost, *heat.cost]), exchange)
    close_heat_bus(block, heat, heat_exchange)


def _write_balance(block: pyo.Block, name: str, bus: InjectionBus, doc: str) -> None:
    def rule(b: pyo.Block, t: int) -> Any:
        terms = bus.injection[t]
        if not terms:
            return pyo.Constraint.Skip
        return pyo.quicksum(terms) == 0

    block.add_component(name, pyo.Constraint(bus.horizon.periods, rule=rule, doc=doc))


def close_lowcarbon_buses(
    block: pyo.Block, bus: Bus, heat: HeatBus, gas: GasBus, h2: HydrogenBus, nh3: AmmoniaBus | None = None
) -> None:
    """Close the buses of a 003 block.

    ``def_balance[t]``       electric balance (BAL3-E)
    ``def_heat_balance[t]``  heat balance (BAL3-H)
    ``def_gas_balance[t]``   CH4 balance (BAL3-G)
    ``def_h2_balance[t]``    H2 balance (BAL3-H2)
    ``def_nh3_balance[t]``   NH3 balance (SPEC §3.12 with the storage as a device), only if ``nh3`` is given
    ``cost``                 sum of the cost terms of all buses (objective eq. 10 of 003)

    Each row is ``sum of injections = 0``; a period with nothing injected gets no row.  Pass ``nh3``
    whenever a device was built on an :class:`AmmoniaBus` (P2A, TP with co-firing, NH3 storage):
    without it NH3 would be free.
    """
    buses: list[tuple[str, InjectionBus, str]] = [
        ("def_balance", bus, "electric balance (BAL3-E)"),
        ("def_heat_balance", heat, "heat balance (BAL3-H)"),
        ("def_gas_balance", gas, "CH4 balance [MW LHV] (BAL3-G)"),
        ("def_h2_balance", h2, "H2 balance [MW LHV] (BAL3-H2)"),
    ]
    if nh3 is not None:
        buses.append(("def_nh3_balance", nh3, "NH3 balance [t per period] (SPEC §3.12)"))
    for name, b, _ in buses:
        if b.horizon != bus.horizon:
            raise ValueError(f"close_lowcarbon_buses: electric bus on {bus.horizon} but {name} bus on {b.horizon}")
    for name, b, doc in buses:
        _write_balance(block, name, b, doc)
    costs = [c for _, b, _ in buses for c in b.cost]
    block.cost = pyo.Expression(expr=pyo.quicksum(costs) if costs else 0.0, doc="operating cost [万元] (003 eq. 10)")


# ---------------------------------------------------------------------------- complementarity, handles


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

    def rows(self, keys: Iterable[Any]) -> list[Any]:
        """The exclusivity rows (both sides) that exist for ``keys`` (for :meth:`agents.milp.HighsModel.set_active`)."""
        return [con[k] for k in keys for con in (self.pos_con, self.neg_con) if k in con]

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


@dataclass
class LowCarbonHandle(DeviceHandle):
    """:class:`DeviceHandle` plus the device's named cost Expressions (``name -> Expression``,
    万元) and its CO2 quantities (``name -> indexed Expression/Var or scalar Expression``, t)."""

    costs: dict[str, Any] = field(default_factory=dict)
    co2: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------- helpers


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


def set_profile(param: Any, values: Sequence[float] | np.ndarray) -> None:
    """Write a profile into an indexed mutable Param over periods 1..n."""
    arr = np.asarray(values, dtype=float)
    keys = list(param.keys())
    if arr.shape != (len(keys),):
        raise ValueError(f"{param.name}: expected {len(keys)} values, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{param.name}: contains non-finite values")
    # only the entries that change are written (Pyomo's per-entry write is what costs; a receding-horizon step
    # changes one period of a profile)
    old = _values_of(param, keys)
    changed = np.flatnonzero(old != arr)
    if changed.size == len(keys):
        param.store_values(dict(zip(keys, arr.tolist(), strict=True)))
    elif changed.size:
        param.store_values({keys[i]: float(arr[i]) for i in changed.tolist()})


def _or_nan(x: Any) -> float:
    return math.nan if x is None else float(x)


def param_values(param: Any) -> np.ndarray:
    """Values of an indexed mutable Param as an array (in index order)."""
    return _values_of(param, list(param.keys()))


def _values_of(param: Any, keys: list[Any]) -> np.ndarray:
    """``param[k]``'s values for ``keys`` (NaN where there is none), read from the entries' slots: this runs for
    every profile at every receding-horizon step, where Pyomo's checked ``param[k]`` access is what costs."""
    data = getattr(param, "_data", None)
    if param.mutable and isinstance(data, dict):
        try:
            return np.array([data[k]._value for k in keys], dtype=float)
        except (KeyError, TypeError, ValueError, AttributeError):  # a default entry, Param.NoValue, ...: checked path
            pass
    return np.fromiter((_or_nan(pyo.value(param[k], exception=False)) for k in keys), dtype=float, count=len(keys))


def hold_hourly(values: Sequence[float] | np.ndarray, horizon: Horizon) -> np.ndarray:
    """Map an hourly profile (period 1 = 00:00-01:00) onto ``horizon`` by piecewise-constant hold
    (SPEC §2.1): ``x_k = x_{h(k)}``.  Needs ``1/dt_h`` integral; the hours wrap after the profile ends."""
    arr = np.asarray(values, dtype=float)
    per_h = 1.0 / horizon.dt_h
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"hold_hourly: expected a 1-D hourly profile, got shape {arr.shape}")
    if abs(per_h - round(per_h)) > 1e-9:
        raise ValueError(f"hold_hourly: Horizon.dt_h must divide one hour, got {horizon.dt_h}")
    hours = (np.arange(horizon.n) // round(per_h)) % arr.size
    return arr[hours]


def _periods(b: pyo.Block, horizon: Horizon) -> list[int]:
    T = horizon.periods
    b.T = pyo.Set(initialize=T, ordered=True, doc="periods")
    return T


def _ramp_rows(
    b: pyo.Block, var: Any, horizon: Horizon, up: float | None, down: float | None, initial: float | None,
    initial_name: str, prefix: str, label: str,
) -> None:
    """``res_{prefix}ramp_up[t]: x_t - x_{t-1} <= up dt`` and ``res_{prefix}ramp_down[t]: x_{t-1} - x_t <= down dt``.

    The rates are the mutable Params ``{prefix}ramp_up_mw_per_h`` / ``{prefix}ramp_down_mw_per_h`` (per
    hour); ``x_0`` is the mutable Param ``initial_name`` if ``initial`` is given, else period 1 has no
    row.  A ``None`` rate builds no rows.
    """
    T = horizon.periods
    dt = horizon.dt_h
    x0 = None
    if initial is not None:
        b.add_component(initial_name, pyo.Param(initialize=initial, mutable=True,
                                                doc=f"value before period 1 [MW] ({label})"))
        x0 = b.component(initial_name)

    def prev(t: int) -> Any:
        return x0 if t == T[0] else var[t - 1]

    for direction, rate in (("up", up), ("down", down)):
        if rate is None:
            continue
        pname = f"{prefix}ramp_{direction}_mw_per_h"
        b.add_component(pname, pyo.Param(initialize=rate, mutable=True,
                                         doc=f"ramp-{direction} rate [MW/h] ({label})"))
        r = b.component(pname)

        def rule(m: pyo.Block, t: int, r: Any = r, direction: str = direction) -> Any:
            p = prev(t)
            if p is None:
                return pyo.Constraint.Skip
            return (var[t] - p if direction == "up" else p - var[t]) <= r * dt

        b.add_component(f"res_{prefix}ramp_{direction}", pyo.Constraint(
            b.T, rule=rule, doc=f"ramp-{direction} limit ({label})"))


# ---------------------------------------------------------------------------- parameter fields and validation


_SPEC = "[default] SPEC §3.15"
_MINE = "[default] not in SPEC"


def _p(default: Any, unit: str, doc: str, source: str = _SPEC) -> Any:
    """A dataclass field with ``unit``, ``doc`` and ``source`` (``[default] ...`` / ``[paper]``) metadata."""
    return field(default=default, metadata={"unit": unit, "doc": doc, "source": source})


def _bad(owner: str, name: str, allowed: str, value: Any) -> ValueError:
    return ValueError(f"{owner}.{name} must be {allowed}, got {value!r}")


def _finite(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool) and math.isfinite(v)


def _check_nonneg(obj: Any, *names: str) -> None:
    owner = type(obj).__name__
    for name in names:
        v = getattr(obj, name)
        if not (_finite(v) and v >= 0):
            raise _bad(owner, name, "finite and >= 0", v)


def _check_positive(obj: Any, *names: str) -> None:
    owner = type(obj).__name__
    for name in names:
        v = getattr(obj, name)
        if not (_finite(v) and v > 0):
            raise _bad(owner, name, "finite and > 0", v)


def _check_efficiency(obj: Any, *names: str) -> None:
    owner = type(obj).__name__
    for name in names:
        v = getattr(obj, name)
        if not (_finite(v) and 0 < v <= 1):
            raise _bad(owner, name, "in (0, 1]", v)


def _check_fraction_window(obj: Any) -> None:
    """``soc_min_frac <= soc_initial_frac <= soc_max_frac`` inside [0, 1]."""
    owner = type(obj).__name__
    lo, hi, s0 = obj.soc_min_frac, obj.soc_max_frac, obj.soc_initial_frac
    if not (_finite(lo) and 0 <= lo < 1):
        raise _bad(owner, "soc_min_frac", "in [0, 1)", lo)
    if not (_finite(hi) and lo < hi <= 1):
        raise _bad(owner, "soc_max_frac", f"in (soc_min_frac = {lo}, 1]", hi)
    if not (_finite(s0) and lo <= s0 <= hi):
        raise _bad(owner, "soc_initial_frac", f"in [soc_min_frac, soc_max_frac] = [{lo}, {hi}]", s0)


def _check_optional_nonneg(obj: Any, *names: str) -> None:
    owner = type(obj).__name__
    for name in names:
        v = getattr(obj, name)
        if v is not None and not (_finite(v) and v >= 0):
            raise _bad(owner, name, "finite and >= 0, or None", v)


def _check_range(obj: Any, lo_name: str, hi_name: str) -> None:
    """``0 <= lo <= hi`` with ``hi > 0`` (``lo_name``, ``hi_name`` are field names)."""
    owner = type(obj).__name__
    hi = getattr(obj, hi_name)
    if not (_finite(hi) and hi > 0):
        raise _bad(owner, hi_name, "finite and > 0", hi)
    lo = getattr(obj, lo_name)
    if not (_finite(lo) and 0 <= lo <= hi):
        raise _bad(owner, lo_name, f"in [0, {hi_name} = {hi}]", lo)


def _check_initial(obj: Any, name: str, lo_name: str, hi_name: str) -> None:
    v = getattr(obj, name)
    lo, hi = getattr(obj, lo_name), getattr(obj, hi_name)
    if v is not None and not (_finite(v) and lo <= v <= hi):
        raise _bad(type(obj).__name__, name, f"in [{lo_name}, {hi_name}] = [{lo}, {hi}], or None", v)


def _check_unit_interval(obj: Any, *names: str) -> None:
    owner = type(obj).__name__
    for name in names:
        v = getattr(obj, name)
        if not (_finite(v) and 0 <= v <= 1):
            raise _bad(owner, name, "in [0, 1]", v)

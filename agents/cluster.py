"""Cluster agent of paper 004: the leader's intraday MILP (SPEC §5.4) and its standalone cost (§5.5).

A cluster owns the PV and wind sites at its buses, one storage unit at its leading bus and its
connection to the upstream grid; its transformer areas and EVs are followers whose load (at the
current rolling price) is *given* to the cluster as the mutable profile ``load_kw``.  The block
exposes the exchange with the other clusters through two port variables, ``p_in_kw`` and
``p_out_kw`` (≥ 0, at most ``P̄^x``, with an exchange binary ``y``); the inter-cluster balance CL-2
belongs to the coordinator (NB-P1), never to the cluster.  Standing alone (the disagreement point
``C^0_n`` of NB-P1) means the ports fixed to 0.

Equations (SPEC §5.4), on the intraday grid ``k`` with step ``Δt``:

* RES-1 per site, ESS-1…4 (storage at the leading bus), GRID-1 (default: no sale, ``P^gs ≡ 0``);
* exchange: ``0 ≤ P^in ≤ P̄^x y``, ``0 ≤ P^out ≤ P̄^x (1 − y)`` — the limits are column bounds, the
  rows with ``y`` exist only where enforced (the Complementarity pattern, DESIGN principle 7);
* CL-1: ``Σ P^pv + Σ P^wt + P^dis − P^ch + P^in − P^out + P^gb − P^gs = L^TA + P^EV + P^spill``
  (``P^spill ≥ 0`` a penalised slack, 0 unless the followers push more power into the cluster
  than it can absorb);
* CL-3: ``C^phys = Σ_k Δt [p^up P^gb − p^fit P^gs + c^pvu ΣP^pv + η^pv Σ(P^pv,av − P^pv)
  + η^wt Σ(P^wt,av − P^wt) + λ_om (P^ch + P^dis)] + c^spill Σ_k Δt P^spill`` — the block's ``cost``.

The standalone problem is solved persistently (:meth:`ClusterAgent.standalone_cost`): it is built
once, with the exclusivity rows left out (the LP relaxation); later calls only write the new
profiles into the mutable Params and push the differences to HiGHS.  Complementarity of the
storage (and of the grid, when sale is allowed) is checked on the LP optimum: if it holds, the LP
optimum is MILP-feasible and hence optimal ("lp-certified"); otherwise the rows and binaries of just
the offending periods are added and the MILP is solved ("lp+milp").
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal

import mesa
import numpy as np
import pyomo.core as pyo

from agents.base import BlockHandle, EnergyAgent
from agents.behaviours import CLUSTER
from agents.devices.core import (
    RT_HORIZON,
    Bus,
    Complementarity,
    Horizon,
    close_bus,
    complementarity_pair,
    param_values,
    profile_param,
    set_profile,
)
from agents.devices.grid import GridParams, build_grid, cancel_circulation
from agents.devices.renewables import RenewableParams, build_renewable
from agents.devices.storage import BatteryParams, build_battery, offered_battery, rule_dispatch
from agents.milp import HighsModel, SolverOptions, SolveStats
from market.interfaces import Offer, as_vector
from market.pricing import DEFAULT_TOU_PARTITION, period_values, repeat_to_grid

log = logging.getLogger(__name__)

#: Storage unit of every cluster (SPEC §5.1) `[default]`: 1000 kWh, 250 kW, η 0.95, σ 0.001/h,
#: SOC 10–90 %, start at 50 %.  Its throughput cost is the cluster's ``lambda_om``.
DEFAULT_CLUSTER_ESS = BatteryParams(
    capacity_kwh=1000.0, p_charge_max_kw=250.0, p_discharge_max_kw=250.0, soc_min_frac=0.1, soc_max_frac=0.9,
    soc_initial_frac=0.5, eta_charge=0.95, eta_discharge=0.95, self_discharge_per_h=0.001, cost_per_kwh=0.0,
)

#: Upstream purchase price per TOU period type, USD/kWh (SPEC §5.3) `[default]`.
DEFAULT_UPSTREAM_PRICES: dict[str, float] = {"valley": 0.07, "flat": 0.11, "peak": 0.16}

#: Tolerance of the complementarity check on an LP optimum (kW).
COMPLEMENTARITY_TOL = 1e-6


# ------------------------------------------------------------------------------ parameters


@dataclass(frozen=True, eq=False)
class ClusterParams:
    """One cluster of paper 004 (SPEC §5.1, §5.4).  Powers in kW, prices and costs in USD/kWh.

    - ``buses``: the cluster's buses (paper numbering); ``leading_bus`` hosts the storage.
    - ``pv_sites`` / ``wind_sites``: ``{bus: capacity_kw}`` of the PV and wind plants.
    - ``ess``: the storage (default :data:`DEFAULT_CLUSTER_ESS`); its ``cost_per_kwh`` must be 0 or
      equal to ``lambda_om``, which is what is charged per kWh of throughput (004 eq. 14).
    - ``upstream_prices``: ``p^up`` per period type of ``partition`` (the hourly TOU partition,
      held onto finer grids, ``p^up_k = p_{h(k)}``).
    - ``c_pvu`` (0.03), ``eta_pv`` and ``eta_wt`` (curtailment penalties, 0.10), ``lambda_om`` (0.01).
    - ``p_exchange_max_kw``: ``P̄^x`` (2000 kW) of each exchange direction.
    - ``p_grid_max_kw``: upstream connection limit `[default 6000 kW, the trunk branch rating]`.
    - ``allow_sale``: sale to the upstream grid (SPEC §5.2 default: none) at ``feed_in_price``.
    - ``spill_penalty``: USD/kWh of the spill slack ``P^spill`` that absorbs a surplus the cluster
      cannot use, curtail or sell (e.g. the followers' V2G discharge at a high price beyond the
      cluster's load when sale is not allowed); SPEC §6.6 step 4 `[proposed]`: 10 × the highest
      upstream price (0.16 → 1.6).  Without it such a period is infeasible.
    """

    name: str
    buses: tuple[int, ...]
    leading_bus: int
    pv_sites: Mapping[int, float] = field(default_factory=dict)
    wind_sites: Mapping[int, float] = field(default_factory=dict)
    ess: BatteryParams = DEFAULT_CLUSTER_ESS
    upstream_prices: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_UPSTREAM_PRICES))
    partition: tuple[str, ...] = DEFAULT_TOU_PARTITION
    c_pvu: float = 0.03
    eta_pv: float = 0.10
    eta_wt: float = 0.10
    lambda_om: float = 0.01
    p_exchange_max_kw: float = 2000.0
    p_grid_max_kw: float = 6000.0
    allow_sale: bool = False
    feed_in_price: float = 0.0
    spill_penalty: float = 1.6

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"ClusterParams.name must be a non-empty string, got {self.name!r}")
        who = f"ClusterParams({self.name!r})"
        buses = tuple(self.buses)
        if not buses or any(not _is_bus(b) for b in buses) or len(set(buses)) != len(buses):
            raise ValueError(f"{who}.buses must be distinct bus numbers >= 1, got {self.buses!r}")
        object.__setattr__(self, "buses", buses)
        if self.leading_bus not in buses:
            raise ValueError(f"{who}.leading_bus {self.leading_bus!r} is not one of its buses {buses}")
        for name in ("pv_sites", "wind_sites"):
            sites = dict(getattr(self, name))
            for bus, cap in sites.items():
                if bus not in buses:
                    raise ValueError(f"{who}.{name}: bus {bus!r} is not one of the cluster's buses {buses}")
                if not (math.isfinite(float(cap)) and float(cap) > 0):
                    raise ValueError(f"{who}.{name}[{bus}] must be a capacity > 0 kW, got {cap}")
            object.__setattr__(self, name, dict(sorted(sites.items())))
        _check_battery(who, self.ess)
        if self.ess.cost_per_kwh not in (0.0, self.lambda_om):
            raise ValueError(f"{who}.ess.cost_per_kwh ({self.ess.cost_per_kwh}) must be 0 or equal lambda_om "
                             f"({self.lambda_om}): the cluster charges lambda_om per kWh of throughput")
        if isinstance(self.partition, str) or not self.partition:
            raise ValueError(f"{who}.partition must be a non-empty sequence of period labels")
        object.__setattr__(self, "partition", tuple(self.partition))
        prices = dict(self.upstream_prices)
        for label, v in prices.items():
            if not (math.isfinite(float(v)) and float(v) > 0):
                raise ValueError(f"{who}.upstream_prices[{label!r}] must be a price > 0 USD/kWh, got {v}")
        missing = sorted(set(self.partition) - set(prices))
        if missing:
            raise ValueError(f"{who}.upstream_prices has no price for the period labels {missing} of partition")
        object.__setattr__(self, "upstream_prices", prices)
        for name in ("c_pvu", "eta_pv", "eta_wt", "lambda_om", "p_exchange_max_kw", "feed_in_price", "spill_penalty"):
            _check_nonneg(who, name, getattr(self, name))
        _check_nonneg(who, "p_grid_max_kw", self.p_grid_max_kw, positive=True)
        if self.allow_sale and self.feed_in_price >= min(prices.values()):
            raise ValueError(f"{who}.feed_in_price ({self.feed_in_price}) must be below every upstream price "
                             f"(min {min(prices.values())}) so that buying and selling at once never pays")

    def buy_prices(self, horizon: Horizon) -> np.ndarray:
        """``p^up`` on ``horizon``: the TOU levels of ``partition``, held onto the finer grid (USD/kWh)."""
        hourly = period_values(self.upstream_prices, self.partition, field="upstream_prices")
        if horizon.n % hourly.size:
            raise ValueError(f"cluster {self.name}: horizon of {horizon.n} periods is not a multiple of the "
                             f"{hourly.size} periods of partition")
        return repeat_to_grid(hourly, horizon.n // hourly.size)


def _is_bus(b: Any) -> bool:
    return bool(isinstance(b, int | np.integer) and not isinstance(b, bool) and b >= 1)


def _check_nonneg(who: str, name: str, value: float, positive: bool = False) -> None:
    v = float(value)
    if not math.isfinite(v) or v < 0 or (positive and v == 0):
        raise ValueError(f"{who}.{name} must be a finite number {'> 0' if positive else '>= 0'}, got {value}")


def _check_battery(who: str, e: BatteryParams) -> None:
    for name in ("capacity_kwh", "p_charge_max_kw", "p_discharge_max_kw", "self_discharge_per_h", "cost_per_kwh"):
        _check_nonneg(who, f"ess.{name}", getattr(e, name))
    for name in ("eta_charge", "eta_discharge"):
        v = float(getattr(e, name))
        if not 0 < v <= 1:
            raise ValueError(f"{who}.ess.{name} must be in (0, 1], got {v}")
    if not 0 <= e.soc_min_frac <= e.soc_initial_frac <= e.soc_max_frac <= 1:
        raise ValueError(
            f"{who}.ess: need 0 <= soc_min_frac <= soc_initial_frac <= soc_max_frac <= 1, got "
            f"{e.soc_min_frac}, {e.soc_initial_frac}, {e.soc_max_frac}"
        )
    lo, hi = e.end_window_frac
    if not e.soc_min_frac <= lo <= hi <= e.soc_max_frac:
        raise ValueError(f"{who}.ess: need soc_min_frac <= soc_end_min_frac <= soc_end_max_frac <= soc_max_frac, "
                         f"got {e.soc_min_frac}, {lo}, {hi}, {e.soc_max_frac}")


@dataclass(frozen=True, eq=False)
class ClusterData:
    """One cluster's data on one horizon (SPEC §5.4): the given load and the available renewables.

    - ``load_kw``: ``L^TA + P^EV`` (TA load after the response plus EV net charging), kW.
    - ``pv_available_kw`` / ``wind_available_kw``: ``{bus: profile}`` for every site of the params.
    - ``buy_price`` / ``sell_price``: optional per-period overrides of the upstream prices.
    """

    load_kw: np.ndarray
    pv_available_kw: Mapping[int, np.ndarray] = field(default_factory=dict)
    wind_available_kw: Mapping[int, np.ndarray] = field(default_factory=dict)
    buy_price: np.ndarray | None = None
    sell_price: np.ndarray | None = None


def _check_data(params: ClusterParams, horizon: Horizon, data: ClusterData) -> None:
    who = f"cluster {params.name}"
    for name, sites, avail in (("pv_available_kw", params.pv_sites, data.pv_available_kw),
                               ("wind_available_kw", params.wind_sites, data.wind_available_kw)):
        if set(avail) != set(sites):
            raise ValueError(f"{who}: ClusterData.{name} must have a profile for exactly the sites "
                             f"{sorted(sites)}, got {sorted(avail)}")
        for bus, prof in avail.items():
            arr = as_vector(prof, f"{name}[{bus}]", owner=who, length=horizon.n, nonnegative=True)
            if np.any(arr > sites[bus] + 1e-9):
                raise ValueError(f"{who}: ClusterData.{name}[{bus}] exceeds the site capacity {sites[bus]} kW "
                                 f"(max {arr.max():g})")
    as_vector(data.load_kw, "load_kw", owner=f"{who}: ClusterData", length=horizon.n)
    for name in ("buy_price", "sell_price"):
        v = getattr(data, name)
        if v is not None:
            as_vector(v, name, owner=f"{who}: ClusterData", length=horizon.n, nonnegative=True)


# ------------------------------------------------------------------------------ builder


def build_cluster(
    block: pyo.Block, params: ClusterParams, horizon: Horizon, data: ClusterData, exclusive: bool = True,
    extra_load: Callable[[int], Any] | None = None,
) -> BlockHandle:
    r"""Build one cluster's intraday block (SPEC §5.4): devices, exchange ports, CL-1, CL-3.

    Sub-blocks ``pv7``, ``wt21``, ... (one per site, RES-1 with the curtailment penalty η),
    ``ess`` (ESS-1…4, throughput cost λ_om), ``grid`` (GRID-1; without sale its ``p_sell_kw`` and
    ``mode`` are fixed to 0 and 1).  On the block itself:

    - ``load_kw[t]`` — mutable Param, the given TA + EV load (update it, then ``HighsModel.update``);
    - ``p_in_kw[t]``, ``p_out_kw[t]`` — the exchange port (column bounds ``[0, p_exchange_max_kw]``),
      ``exchange_mode[t]`` the binary ``y`` (1 = importing) with rows ``res_import``/``res_export``
      only in ``EXCLUSIVE_EXCHANGE`` (all periods if ``exclusive``, none otherwise);
    - ``p_net_in_kw[t]`` — ``P^in − P^out`` (= −P^ex of W-1);
    - ``def_balance[t]`` — CL-1; ``cost`` — CL-3 (USD).

    ``extra_load`` is a load port for coordinators that make the followers' load a decision (the
    oracle): ``f(t)`` returns a Pyomo expression (kW) consumed in period ``t`` on top of ``load_kw``
    (then ``load_kw`` holds only the part that does not respond).

    ``exclusive=False`` leaves every exclusivity row out (storage, grid, exchange): the LP
    relaxation, to be tightened where needed with :meth:`Complementarity.enforce`.  The handle
    lists the storage and exchange pairs (and the grid pair when sale is allowed).
    """
    _check_data(params, horizon, data)
    T = horizon.periods
    dt = horizon.dt_h
    b = block
    bus = Bus(horizon)
    outputs: dict[str, tuple[Any, str]] = {}
    comp: list[Complementarity] = []
    b.T = pyo.Set(initialize=T, ordered=True, doc="periods")
    pv_use: list[Any] = []
    for kind, sites, avail, eta in (("pv", params.pv_sites, data.pv_available_kw, params.eta_pv),
                                    ("wind", params.wind_sites, data.wind_available_kw, params.eta_wt)):
        for site, cap in sites.items():
            name = f"{'pv' if kind == 'pv' else 'wt'}{site}"
            sub = pyo.Block()
            b.add_component(name, sub)
            h = build_renewable(sub, RenewableParams(kind, cap, curtailment_cost_per_kwh=eta), horizon, bus,
                                avail[site])
            prefix = "pv" if kind == "pv" else "wind"
            outputs[f"{prefix}{site}_kw"] = h.outputs[f"{prefix}_kw"]
            outputs[f"{prefix}{site}_available_kw"] = h.outputs[f"{prefix}_available_kw"]
            if kind == "pv":
                pv_use.extend(sub.p_kw[t] for t in T)
    if pv_use and params.c_pvu:
        bus.cost.append(params.c_pvu * dt * pyo.quicksum(pv_use))  # c^pvu of CL-3 (004 eq. 21)
    b.ess = pyo.Block()
    h = build_battery(b.ess, replace(params.ess, cost_per_kwh=params.lambda_om), horizon, bus, exclusive)
    outputs.update(h.outputs)
    comp += h.complementarity
    b.grid = pyo.Block()
    buy = params.buy_prices(horizon) if data.buy_price is None else data.buy_price
    sell = np.full(horizon.n, params.feed_in_price) if data.sell_price is None else data.sell_price
    h = build_grid(b.grid, GridParams(params.p_grid_max_kw), horizon, bus, buy, sell,
                   exclusive and params.allow_sale)
    outputs.update(h.outputs)
    if params.allow_sale:
        comp += h.complementarity
    else:  # SPEC §5.2 default: no reverse power to the upstream grid
        for t in T:
            b.grid.p_sell_kw[t].fix(0.0)
            b.grid.mode[t].fix(1)

    b.load_kw = pyo.Param(b.T, initialize=profile_param(data.load_kw, horizon, f"cluster {params.name} load_kw"),
                          mutable=True, doc="given TA + EV load [kW] (right-hand side of CL-1)")
    for t in T:
        bus.inject(t, -b.load_kw[t])
        if extra_load is not None:
            bus.inject(t, -extra_load(t))
    b.spill_penalty = pyo.Param(initialize=params.spill_penalty, mutable=True,
                                doc="penalty of the spill slack [USD/kWh] (SPEC §6.6 step 4)")
    b.p_spill_kw = pyo.Var(b.T, within=pyo.NonNegativeReals,
                           doc="surplus the cluster can neither use, curtail nor sell [kW] (spill slack)")
    for t in T:
        bus.inject(t, -b.p_spill_kw[t])
    bus.cost.append(b.spill_penalty * dt * pyo.quicksum(b.p_spill_kw[t] for t in T))
    b.p_exchange_max_kw = pyo.Param(initialize=params.p_exchange_max_kw, mutable=True,
                                    doc="inter-cluster exchange limit per direction [kW]")
    b.p_in_kw = pyo.Var(b.T, bounds=(0, b.p_exchange_max_kw), doc="import from the other clusters [kW] (port)")
    b.p_out_kw = pyo.Var(b.T, bounds=(0, b.p_exchange_max_kw), doc="export to the other clusters [kW] (port)")
    b.exchange_mode = pyo.Var(b.T, within=pyo.Binary, doc="1 = importing (y of SPEC §5.4)")
    comp.append(complementarity_pair(
        b, "exchange", b.p_in_kw, b.p_out_kw, b.exchange_mode, b.T, exclusive, "res_import", "res_export",
        lambda m, t: m.p_in_kw[t] <= m.p_exchange_max_kw * m.exchange_mode[t],
        lambda m, t: m.p_out_kw[t] <= m.p_exchange_max_kw * (1 - m.exchange_mode[t]),
        "import/export limit (SPEC §5.4)",
    ))
    b.p_net_in_kw = pyo.Expression(b.T, rule=lambda m, t: m.p_in_kw[t] - m.p_out_kw[t],
                                   doc="net import from the other clusters [kW]")
    outputs.update({"p_in_kw": (b.p_in_kw, "kW"), "p_out_kw": (b.p_out_kw, "kW"), "load_kw": (b.load_kw, "kW"),
                    "spill_kw": (b.p_spill_kw, "kW")})
    close_bus(b, bus, exchange=b.p_net_in_kw)
    b.def_balance.doc = "cluster balance (CL-1)"
    b.cost.doc = "physical cluster cost [USD] (CL-3)"
    return BlockHandle(block=b, outputs=outputs, complementarity=comp)


def set_cluster_data(block: pyo.Block, params: ClusterParams, horizon: Horizon, data: ClusterData) -> None:
    """Write ``data`` into a built cluster block's mutable Params (no rebuild; then ``HighsModel.update``).

    The storage's start energy and ESS-4 window are written from ``params.ess`` as well (a new day
    starts from the energy the previous one left): ``E^init = soc^init E^cap`` and the window
    ``(soc^end,min − soc^init) E^cap ≤ E_T − E^init ≤ (soc^end,max − soc^init) E^cap``.
    """
    _check_data(params, horizon, data)
    set_battery_start(block.ess, params.ess)
    set_profile(block.load_kw, data.load_kw)
    for prefix, avail in (("pv", data.pv_available_kw), ("wt", data.wind_available_kw)):
        for site, prof in avail.items():
            set_profile(block.component(f"{prefix}{site}").available_kw, prof)
    set_profile(block.grid.buy_price, params.buy_prices(horizon) if data.buy_price is None else data.buy_price)
    set_profile(block.grid.sell_price,
                np.full(horizon.n, params.feed_in_price) if data.sell_price is None else data.sell_price)


def offered_params(params: ClusterParams, share: float, horizon: Horizon) -> ClusterParams:
    """What a cluster offering ``share`` of its flexibility puts into a coalition problem (SPEC §8 ``withhold``):
    ``share`` of its exchange capacity and of its storage (:func:`agents.devices.storage.offered_battery`, the rest
    idle); ``share = 1`` is ``params`` itself."""
    if share == 1.0:
        return params
    return replace(params, ess=offered_battery(params.ess, share, horizon),
                   p_exchange_max_kw=share * params.p_exchange_max_kw)


def set_cluster_flexibility(block: pyo.Block, params: ClusterParams, exchange: bool = True) -> None:
    """Write a built cluster block's flexibility from ``params`` (mutable Params, no rebuild): the exchange limit
    ``P̄^x`` (0 when ``exchange`` is false: the cluster stands alone inside a coalition model), the storage's power
    limits and energy window, its start energy and ESS-4 window (:func:`set_battery_start`)."""
    e = params.ess
    block.p_exchange_max_kw.set_value(params.p_exchange_max_kw if exchange else 0.0)
    block.ess.p_charge_max_kw.set_value(e.p_charge_max_kw)
    block.ess.p_discharge_max_kw.set_value(e.p_discharge_max_kw)
    block.ess.e_min_kwh.set_value(e.soc_min_frac * e.capacity_kwh)
    block.ess.e_max_kwh.set_value(e.soc_max_frac * e.capacity_kwh)
    set_battery_start(block.ess, e)


def fix_storage(hm: HighsModel, block: pyo.Block, charge_kw: np.ndarray, discharge_kw: np.ndarray) -> None:
    """Fix a built cluster block's storage powers to a plan (e.g. :meth:`ClusterAgent.storage_rule`) in ``hm``;
    its energy then follows ESS-1.  Fixed again with the next plan, as deltas (:meth:`HighsModel.fix`)."""
    T = list(block.T)
    hm.fix([block.ess.p_charge_kw[t] for t in T] + [block.ess.p_discharge_kw[t] for t in T],
           np.concatenate([np.asarray(charge_kw, dtype=float), np.asarray(discharge_kw, dtype=float)]))


def set_battery_start(block: pyo.Block, e: BatteryParams) -> None:
    """Write a battery's start energy and ESS-4 window (:func:`agents.devices.storage.build_battery`'s mutable
    Params ``e_initial_kwh``, ``e_end_lo_kwh``, ``e_end_hi_kwh``) from ``e``.  A block built with ESS-4 as an
    equality (end = start) accepts only that."""
    cap = e.capacity_kwh
    lo, hi = e.end_window_frac
    if block.res_end_soc.equality and not lo == hi == e.soc_initial_frac:
        raise ValueError("set_battery_start: the block was built with end energy = start energy (ESS-4); "
                         f"it cannot take the window {lo}..{hi} (start {e.soc_initial_frac})")
    block.e_initial_kwh.set_value(e.soc_initial_frac * cap)
    block.e_end_lo_kwh.set_value((lo - e.soc_initial_frac) * cap)
    block.e_end_hi_kwh.set_value((hi - e.soc_initial_frac) * cap)


# ------------------------------------------------------------------------------ results


@dataclass
class ClusterSolution:
    """A solved cluster plan: profiles (kW, kWh), CL-3 by component (USD), how it was solved.

    ``profiles`` has every output of the block (``pv7_kw``, ``pv7_available_kw``, ``wind21_kw``,
    ``ess_charge_kw``, ``soc_kwh``, ``grid_buy_kw``, ``p_in_kw``, ``load_kw``, ...) plus the totals
    ``pv_kw``, ``pv_available_kw``, ``wind_kw``, ``wind_available_kw``.  ``costs`` has ``grid``,
    ``pv_use``, ``curtailment``, ``storage`` and ``total`` (= CL-3).
    """

    name: str
    dt_h: float
    profiles: dict[str, np.ndarray]
    costs: dict[str, float]
    path: str = ""
    stats: list[SolveStats] = field(default_factory=list)

    @property
    def cost(self) -> float:
        """CL-3, USD."""
        return self.costs["total"]

    @property
    def exchange_kw(self) -> np.ndarray:
        """Signed ``P^ex = P^out − P^in`` (W-1), kW."""
        return self.profiles["p_out_kw"] - self.profiles["p_in_kw"]

    @property
    def net_demand_kw(self) -> np.ndarray:
        """``L − P^pv,av − P^wt,av`` (SPEC §5.6's contribution to Z_k), kW."""
        p = self.profiles
        return p["load_kw"] - p["pv_available_kw"] - p["wind_available_kw"]

    @property
    def curtailment_kwh(self) -> float:
        p = self.profiles
        return float((p["pv_available_kw"] - p["pv_kw"] + p["wind_available_kw"] - p["wind_kw"]).sum() * self.dt_h)

    def balance_residual_kw(self) -> np.ndarray:
        """CL-1 residual per period (kW): supply − demand, 0 at a feasible plan."""
        p = self.profiles
        spill = p.get("spill_kw", 0.0)
        return (p["pv_kw"] + p["wind_kw"] + p["ess_discharge_kw"] - p["ess_charge_kw"] + p["p_in_kw"]
                - p["p_out_kw"] + p["grid_buy_kw"] - p["grid_sell_kw"] - p["load_kw"] - spill)


def cluster_costs(prof: dict[str, np.ndarray], params: ClusterParams, buy: np.ndarray, sell: np.ndarray,
                  dt: float) -> dict[str, float]:
    """CL-3 of a cluster plan by component (USD): ``grid``, ``pv_use``, ``curtailment``, ``storage``, ``total``.

    Also (re)writes the site totals ``pv_kw``, ``pv_available_kw``, ``wind_kw``, ``wind_available_kw``
    of ``prof`` from the per-site profiles, so a plan whose site dispatch was changed stays consistent.
    """
    zero = np.zeros_like(prof["grid_buy_kw"])
    for prefix, sites in (("pv", params.pv_sites), ("wind", params.wind_sites)):
        prof[f"{prefix}_kw"] = sum((prof[f"{prefix}{s}_kw"] for s in sites), zero.copy())
        prof[f"{prefix}_available_kw"] = sum((prof[f"{prefix}{s}_available_kw"] for s in sites), zero.copy())
    costs = {
        "grid": float(dt * (buy @ prof["grid_buy_kw"] - sell @ prof["grid_sell_kw"])),
        "pv_use": float(dt * params.c_pvu * prof["pv_kw"].sum()),
        "curtailment": float(dt * (params.eta_pv * (prof["pv_available_kw"] - prof["pv_kw"]).sum()
                                   + params.eta_wt * (prof["wind_available_kw"] - prof["wind_kw"]).sum())),
        "storage": float(dt * params.lambda_om * (prof["ess_charge_kw"] + prof["ess_discharge_kw"]).sum()),
        "spill": float(dt * params.spill_penalty * prof["spill_kw"].sum()) if "spill_kw" in prof else 0.0,
    }
    costs["total"] = sum(costs.values())
    return costs


def extract_cluster(hm: HighsModel, handle: BlockHandle, params: ClusterParams, horizon: Horizon,
                    path: str = "", stats: Sequence[SolveStats] = ()) -> ClusterSolution:
    """Read a solved cluster block out of ``hm`` (its own model, or a coalition model holding it)."""
    prof: dict[str, np.ndarray] = {}
    for name, (comp, _unit) in handle.outputs.items():
        prof[name] = param_values(comp) if isinstance(comp, pyo.Param) else hm.values(comp)
    blk = handle.block
    buy, sell = param_values(blk.grid.buy_price), param_values(blk.grid.sell_price)
    costs = cluster_costs(prof, params, buy, sell, horizon.dt_h)
    dt = horizon.dt_h
    return ClusterSolution(params.name, dt, prof, costs, path, list(stats))


# ------------------------------------------------------------------------------ certified solve


def solve_certified(
    hm: HighsModel,
    pairs: Sequence[Complementarity],
    lossless: Sequence[Complementarity] = (),
    tol: float = COMPLEMENTARITY_TOL,
    max_rounds: int = 20,
    integer_columns: np.ndarray | Sequence[int] = (),
    simplex: Literal["dual", "primal"] | None = None,
) -> tuple[list[SolveStats], str]:
    """Solve with the tight-formulation-first strategy (DESIGN principle 7); return solves and path.

    Meant for models built with ``exclusive=False`` (no exclusivity rows); rows that already exist
    are left as they are, but their binaries are relaxed like all others for the first solve.

    1. LP relaxation (every binary continuous).  Pairs in ``lossless`` (a subset of ``pairs`` whose
       simultaneous use changes nothing, e.g. the exchange ports of a coalition with ``η^x = 1``)
       are first netted in the solution vector (:func:`agents.devices.grid.cancel_circulation`).  If no
       pair is then used both ways at once (``min(pos, neg) ≤ tol``) the LP optimum is
       MILP-feasible and hence optimal: ``"lp-certified"``.
    2. Else add the rows of the offending indices, make their binaries integer and solve the MILP;
       repeat while new indices are violated: ``"lp+milp(n binaries; gap g)"``.  Afterwards the rows
       this function added are released and every binary is relaxed again, so a persistent model
       is back to the LP for its next solve.

    ``integer_columns`` (column numbers of ``hm``) are binaries that must be integer whatever the
    relaxation does, e.g. the ``[.]^+`` binaries of a curtailable load whose upper rows bind: they
    are integer in every solve, the first one included (which is then a MILP, path
    ``"milp-certified(k integer columns)"`` instead of ``"lp-certified"``), and stay integer
    afterwards.  Empty (the default): the behaviour described above.

    ``simplex`` (``"primal"`` or ``"dual"``) sets the simplex variant of the first solve only, e.g. the
    primal simplex when only the objective changed since the last solve, so its basis is still
    primal feasible; ``None``: the model's options decide.
    """
    net = {id(c) for c in lossless}
    keep = np.asarray(integer_columns, dtype=np.int64).ravel()
    first = "lp" if keep.size == 0 else f"milp({keep.size} integer columns)"
    hm.relax_all()
    hm.set_integer(keep)
    stats = [hm.solve(path=first, simplex=simplex)]
    integer: dict[int, set[Any]] = {id(c): set() for c in pairs}

    def violated() -> list[tuple[Complementarity, list[Any]]]:
        out = []
        x = hm.x
        for c in pairs:
            keys = list(c.pos.keys())
            pos, neg = hm.columns_of(c.pos), hm.columns_of(c.neg)  # cached, in the order of the keys
            if id(c) in net:
                x[pos], x[neg] = cancel_circulation(x[pos], x[neg])
            mask = np.minimum(x[pos], x[neg]) > tol
            bad = [k for k, v in zip(keys, mask, strict=True) if v and k not in integer[id(c)]]
            if bad:
                out.append((c, bad))
        return out

    viol = violated()
    if not viol:
        return stats, "lp-certified" if keep.size == 0 else f"milp-certified({keep.size} integer columns)"
    added: list[tuple[Complementarity, list[Any]]] = []
    try:
        for _ in range(max_rounds):
            for c, keys in viol:
                new = [k for k in keys if not (k in c.pos_con and c.pos_con[k].active)]
                c.enforce(keys)
                hm.set_active(c.rows(new), True)  # the rows enter the live model with addRows
                added.append((c, new))
                integer[id(c)].update(keys)
            log.info("%s: complementarity violated (%s); solving the MILP on those periods", hm.ctx.label(),
                     ", ".join(f"{c.name}: {len(k)}" for c, k in viol))
            hm.set_integer(np.concatenate([keep] + [hm.columns_of(c.binary, sorted(integer[id(c)])) for c in pairs]))
            stats.append(hm.solve(path="milp-fallback"))
            viol = violated()
            if not viol:
                break
        else:
            raise RuntimeError(f"{hm.ctx.label()}: the MILP fallback did not settle after {max_rounds} rounds")
        path = f"lp+milp({hm.n_integer_active} binaries; gap {stats[-1].mip_gap:.1e})"
    finally:
        for c, keys in added:
            c.release(keys)
            hm.remove_constraints(c.rows(keys))  # the relaxation again, exactly as a fresh compile would have it
        hm.relax_all()
        hm.set_integer(keep)
    return stats, path


# ------------------------------------------------------------------------------ agent


@dataclass
class _Standalone:
    model: pyo.ConcreteModel
    handle: BlockHandle
    hm: HighsModel
    pairs: list[Complementarity]


class ClusterAgent(EnergyAgent):
    """A cluster of paper 004 as a Mesa agent (SPEC §5.4, §5.5).

    ``horizon`` is the intraday grid (default 96 × 0.25 h).  ``data`` (set with :meth:`set_data` or
    passed to :meth:`standalone_cost`) is the current TA + EV load and renewable availability.
    """

    behaviour_kind: ClassVar[str] = CLUSTER

    def __init__(self, model: mesa.Model, params: ClusterParams, horizon: Horizon = RT_HORIZON,
                 options: SolverOptions | None = None) -> None:
        super().__init__(model, params.name)
        self.params = params
        self.horizon = horizon
        self.options = options or SolverOptions()
        self.data: ClusterData | None = None
        self._standalone: _Standalone | None = None
        #: the storage energy at midnight the agent carries into its next day (kWh); None before the first day
        self.ess_kwh: float | None = None
        self._cold = False

    def set_params(self, params: ClusterParams) -> None:
        """The same cluster on a new day (e.g. its storage starting from the energy it carried over): the
        persistent models take the new storage data with the next data they are given."""
        if params.name != self.params.name or params.buses != self.params.buses \
                or dict(params.pv_sites) != dict(self.params.pv_sites) \
                or dict(params.wind_sites) != dict(self.params.wind_sites):
            raise ValueError(f"cluster {self.name}: set_params must keep the name, buses and sites")
        self.params = params

    def reset_solver(self) -> None:
        """Forget the standalone model's basis before its next solve, which then starts cold (a new day)."""
        self._cold = True

    def build_block(self, block: pyo.Block, horizon: Horizon, data: Any, exclusive: bool = True) -> BlockHandle:
        if not isinstance(data, ClusterData):
            raise TypeError(f"cluster {self.name}: data must be ClusterData, got {type(data).__name__}")
        return build_cluster(block, self.params, horizon, data, exclusive)

    def set_data(self, data: ClusterData) -> None:
        """The cluster's current data (TA + EV load at the current price, renewables)."""
        _check_data(self.params, self.horizon, data)
        self.data = data

    def standalone_cost(self, data: ClusterData | None = None) -> ClusterSolution:
        """``C^0_n``: the cluster MILP with ``P^in = P^out = 0`` (SPEC §5.5), solved persistently.

        The first call builds the model (LP relaxation, ports fixed to 0) and hands it to HiGHS;
        later calls write the new data into the mutable Params and push only the differences.
        The solution is certified by :func:`solve_certified` (its ``path`` says how).
        """
        if data is not None:
            self.set_data(data)
        if self.data is None:
            raise ValueError(f"cluster {self.name}: no data; pass ClusterData or call set_data first")
        sa = self._standalone
        if sa is None:
            sa = self.build_standalone(self.data)
        else:
            set_cluster_data(sa.model.cluster, self.params, self.horizon, self.data)
            sa.hm.update_params()
        if self.behaviour.rule_based:  # SPEC §8 rule: the storage follows its rule, the rest is optimised
            fix_storage(sa.hm, sa.model.cluster, *self.storage_rule(self.data))
        if self._cold:
            sa.hm.clear_solver()
            self._cold = False
        stats, path = solve_certified(sa.hm, sa.pairs)
        sol = extract_cluster(sa.hm, sa.handle, self.params, self.horizon, path, stats)
        if abs(sol.cost - stats[-1].objective) > 1e-6 * max(1.0, abs(sol.cost)):
            raise RuntimeError(f"cluster {self.name}: CL-3 breakdown {sol.cost} differs from the solver's "
                               f"objective {stats[-1].objective}")
        return sol

    def build_standalone(self, data: ClusterData) -> _Standalone:
        """Build the persistent standalone model (LP relaxation, ports fixed to 0) on ``data``, once."""
        if self._standalone is not None:
            return self._standalone
        _check_data(self.params, self.horizon, data)
        m = pyo.ConcreteModel(name=f"{self.name}-standalone")
        m.cluster = pyo.Block()
        handle = build_cluster(m.cluster, self.params, self.horizon, data, exclusive=False)
        for t in self.horizon.periods:
            m.cluster.p_in_kw[t].fix(0.0)
            m.cluster.p_out_kw[t].fix(0.0)
        m.obj = pyo.Objective(expr=m.cluster.cost, sense=pyo.minimize, doc="C^0_n (CL-3, no exchange)")
        hm = HighsModel(m, f"cluster {self.name} standalone", self.options, relax_integrality=True)
        hm.track_params()  # a new day's or step's data reaches HiGHS as deltas (HighsModel.update_params)
        pairs = [c for c in handle.complementarity if c.name != "exchange"]
        sa = self._standalone = _Standalone(m, handle, hm, pairs)
        return sa

    def storage_rule(self, data: ClusterData) -> tuple[np.ndarray, np.ndarray]:
        """The storage plan of a rule-based cluster (SPEC §8 ``rule``) on ``data``: charge on local surplus (its
        renewables above its load), discharge on deficit (:func:`agents.devices.storage.rule_dispatch`)."""
        avail = sum((np.asarray(v, dtype=float) for v in data.pv_available_kw.values()), np.zeros(self.horizon.n))
        avail = avail + sum((np.asarray(v, dtype=float) for v in data.wind_available_kw.values()),
                            np.zeros(self.horizon.n))
        return rule_dispatch(self.params.ess, avail - np.asarray(data.load_kw, dtype=float), self.horizon)

    def standalone_model(self) -> tuple[pyo.Block, HighsModel]:
        """The persistent standalone model's cluster block and solver (built by the first :meth:`standalone_cost`)."""
        if self._standalone is None:
            raise RuntimeError(f"cluster {self.name}: the standalone model is built by the first standalone_cost call")
        return self._standalone.model.cluster, self._standalone.hm

    def standalone(self) -> Offer:
        """The disagreement plan as a market :class:`~market.interfaces.Offer` (cost ``C^0_n``)."""
        sol = self.standalone_cost()
        return Offer(self.name, sol.cost, exchange_kw=None, net_demand_kw=sol.net_demand_kw, dt_h=self.horizon.dt_h)

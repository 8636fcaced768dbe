r"""Day-ahead TOU price design of paper 004 (SPEC §5.3): the DSO's centralised MILP over the 24 hours.

The DSO chooses the three TOU levels ``π^p, π^f, π^v`` together with the dispatch of the day, on the
DA forecast, subject to LinDistFlow over the whole feeder.  Everything is built from the existing
builders (DESIGN principle 1):

* prices — TOU-1 ``π^min ≤ π^v ≤ π^f ≤ π^p ≤ π^max`` and, when ``tariff.revenue_neutral``, TOU-2
  ``Σ_t π_t P̄^{L,0}_t = π^0 Σ_t P̄^{L,0}_t`` on the baseline load (all TAs' base load, no EVs);
* transformer areas — EL-2…EL-5 (:func:`agents.transformer_area.build_elastic_load`) at every TA
  with a shiftable or curtailable base, the others as fixed loads; the ``[·]^+`` binaries of the
  curtailable load are **always integer** (more curtailment lowers the grid bill, so the LP
  relaxation would cut more than the behavioural model allows);
* storage — ESS-1…4 (:func:`agents.devices.storage.build_battery`), one per cluster at its leading bus;
* PV and wind — RES-1 (:func:`agents.devices.renewables.build_renewable`) with the curtailment penalties
  ``λ_pv``/``λ_wt`` (004 eq. 16);
* EVs — EV-1…EV-5 of SPEC §3.7's aggregated variant (:func:`agents.ev.aggregate_fleet`): one
  virtual vehicle per group of alike vehicles of a station, so the model size does not grow with
  the fleet;
* network — LDF-1…LDF-5 with the scenario's voltage limits (soft: first-order slacks priced at
  ``voltage_penalty_per_pu_h``; hard: A8 rows), the substation tap changer's root voltage
  ``V_0 + k P^sub_t`` (line-drop compensation, ``oltc_ldc_pu_per_mw``), octagon branch limits ``S^max``
  and, without ``reverse_flow``, ``P^buy = P^sub ≥ 0``.

Objective (004 eq. 11, cleaned in SPEC §5.3):

.. math::

    \min\ C_{buy} + C_{tp} + C_{pv} + C_{om} + C_{dr} + C_{ev} + C_{volt}

with ``C_buy = Σ_t p_t P^buy_t Δt`` (eq. 12), ``C_tp = λ_tp l̂``, ``l̂ ≥ ±P^sub_t`` (eq. 13),
``C_pv = Σ λ_pv (P^{pv,av} − P^pv) Δt + Σ λ_wt (P^{wt,av} − P^wt) Δt`` (eq. 16), ``C_om = λ_om
Σ (P^ch + P^dis) Δt`` (eq. 14), ``C_dr = Σ (λ_tran |ΔP^tran| + λ_cut P^cut) Δt`` (eq. 17),
``C_ev`` = EV-6 at zero price (``c^EV`` × throughput; minus ``λ^EV`` × stored energy when that is
non-zero) and ``C_volt`` the network's soft-limit cost (0 with hard limits).

Solving follows DESIGN principle 7 through :func:`agents.cluster.solve_certified`: the storage and
EV exclusivity rows are left out, the cut binaries are integer from the start, and the storage/EV
pairs are checked on the optimum; only periods where both sides are used get their rows and
binaries (the LP will try: burning a surplus through round-trip losses is cheaper than the 0.10
USD/kWh curtailment penalty).  :attr:`TouDesign.path` says which way it went.  An infeasible day
(e.g. ``voltage_limits = "hard"`` with a fixed set-point, ``oltc_ldc_pu_per_mw = 0``, on the default
scenario) raises :class:`agents.milp.SolveError` naming the constraint families (``res_v_min``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import pyomo.core as pyo

from agents.cluster import set_battery_start, solve_certified
from agents.devices.core import Bus, Complementarity, Horizon, set_profile
from agents.devices.renewables import RenewableParams, build_renewable
from agents.devices.storage import build_battery
from agents.ev import EVParams, aggregate_fleet, build_ev, set_ev_data
from agents.milp import HighsModel, SolverOptions, SolveStats
from agents.transformer_area import build_elastic_load, set_elastic_load_data
from scenarios.schema import IEEE33Scenario
from sim.network.lindistflow import build_lindistflow, network_solution

log = logging.getLogger(__name__)

#: TOU period types in the order TOU-1 ranks their prices (lowest first).
PERIOD_ORDER: tuple[str, ...] = ("valley", "flat", "peak")
#: Cost keys of :attr:`TouDesign.costs` (``total`` is their sum).
COST_KEYS: tuple[str, ...] = ("buy", "tp", "pv", "om", "dr", "ev", "voltage")
#: Tolerance (kW) of the internal extraction checks; a failure there is a bug, not solver noise.
_CHECK_TOL_KW = 1e-4


# ------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class VoltageReport:
    """Voltages of a DA design against the scenario's limits (from the LinDistFlow voltages).

    ``v_min_pu``/``v_max_pu`` are the extreme voltages over all buses and hours (bus number, hour
    1..24).  ``worst_pu`` is the largest violation of ``[v_min, v_max]`` in p.u. of voltage
    magnitude (0 when there is none; ``worst_side`` ``"under"``, ``"over"`` or ``"none"``), and
    ``total_pu_h`` the sum of all violations × Δt.  ``slack_pu_h`` is the sum of the priced
    first-order slacks of the soft limits × Δt (slightly below ``total_pu_h`` for an undervoltage,
    see :func:`sim.network.lindistflow.build_lindistflow`; 0 with hard limits).
    """

    v_min_pu: float
    v_min_bus: int
    v_min_hour: int
    v_max_pu: float
    v_max_bus: int
    v_max_hour: int
    worst_pu: float
    worst_bus: int | None
    worst_hour: int | None
    worst_side: str
    total_pu_h: float
    slack_pu_h: float


@dataclass(frozen=True, eq=False)
class TouDesign:
    """The solved DA TOU design (SPEC §5.3).  Powers in kW, prices in USD/kWh, costs in USD.

    Hourly arrays have 24 entries (``partition``); per-bus arrays are ``(24, n_buses)`` in the
    feeder's bus order (``buses``).  ``p_load_kw`` per bus = TA load after DR + EV net charging +
    storage net charging; ``p_gen_kw`` = dispatched PV + wind; ``v_pu`` the LinDistFlow voltages.
    ``site_*`` are keyed by site name (``pv7``, ``wt12``), ``ess_*`` by cluster name, ``ev_net_kw``
    and the EV counts by station bus, ``ta_load_kw`` by TA bus.  ``costs`` has :data:`COST_KEYS`
    and ``total`` (= the solver's objective).  ``path`` says how the optimum was certified,
    ``model_size`` has ``rows``, ``cols``, ``nonzeros``, ``binaries`` (declared) and
    ``integer_binaries`` (integer in the last solve).
    """

    levels: dict[str, float]
    prices: np.ndarray
    upstream_prices: np.ndarray
    partition: tuple[str, ...]
    dt_h: float
    buses: tuple[int, ...]
    baseline_load_kw: np.ndarray
    load_after_dr_kw: np.ndarray
    p_load_kw: np.ndarray
    q_load_kvar: np.ndarray
    p_gen_kw: np.ndarray
    v_pu: np.ndarray
    p_sub_kw: np.ndarray
    site_kind: dict[str, str]
    site_kw: dict[str, np.ndarray]
    site_available_kw: dict[str, np.ndarray]
    ess_charge_kw: dict[str, np.ndarray]
    ess_discharge_kw: dict[str, np.ndarray]
    ess_soc_kwh: dict[str, np.ndarray]
    ev_net_kw: dict[int, np.ndarray]
    ev_count: dict[int, int]
    ev_aggregates: dict[int, int]
    ta_load_kw: dict[int, np.ndarray]
    costs: dict[str, float]
    curtailment_kwh: float
    voltage_violation: VoltageReport
    stats: list[SolveStats] = field(default_factory=list)
    path: str = ""
    model_size: dict[str, int] = field(default_factory=dict)
    build_seconds: float = 0.0
    solve_seconds: float = 0.0

    # ---------------------------------------------------------------- totals
    def _kind_total(self, kind: str, table: Mapping[str, np.ndarray]) -> np.ndarray:
        out = np.zeros(len(self.partition))
        for name, arr in table.items():
            if self.site_kind[name] == kind:
                out += arr
        return out

    @property
    def pv_kw(self) -> np.ndarray:
        return self._kind_total("pv", self.site_kw)

    @property
    def pv_available_kw(self) -> np.ndarray:
        return self._kind_total("pv", self.site_available_kw)

    @property
    def wind_kw(self) -> np.ndarray:
        return self._kind_total("wind", self.site_kw)

    @property
    def wind_available_kw(self) -> np.ndarray:
        return self._kind_total("wind", self.site_available_kw)

    def _sum(self, table: Mapping[Any, np.ndarray]) -> np.ndarray:
        return np.sum(list(table.values()), axis=0) if table else np.zeros(len(self.partition))

    @property
    def total_ess_charge_kw(self) -> np.ndarray:
        return self._sum(self.ess_charge_kw)

    @property
    def total_ess_discharge_kw(self) -> np.ndarray:
        return self._sum(self.ess_discharge_kw)

    @property
    def total_ev_net_kw(self) -> np.ndarray:
        return self._sum(self.ev_net_kw)

    @property
    def objective(self) -> float:
        """The solver's objective of the last (certifying) solve, USD."""
        return self.stats[-1].objective

    def to_frame(self) -> pd.DataFrame:
        """One row per hour: prices, loads, renewables, storage, EVs, substation power and voltages."""
        return pd.DataFrame({
            "hour": np.arange(1, len(self.partition) + 1),
            "period": list(self.partition),
            "price": self.prices,
            "upstream_price": self.upstream_prices,
            "baseline_load_kw": self.baseline_load_kw,
            "load_after_dr_kw": self.load_after_dr_kw,
            "pv_available_kw": self.pv_available_kw,
            "pv_kw": self.pv_kw,
            "wind_available_kw": self.wind_available_kw,
            "wind_kw": self.wind_kw,
            "ess_charge_kw": self.total_ess_charge_kw,
            "ess_discharge_kw": self.total_ess_discharge_kw,
            "ev_net_kw": self.total_ev_net_kw,
            "p_sub_kw": self.p_sub_kw,
            "vmin_pu": self.v_pu.min(axis=1),
            "vmax_pu": self.v_pu.max(axis=1),
        })


# ------------------------------------------------------------------------------ input checks


def _available(scenario: IEEE33Scenario, forecast_kw: Mapping[str, np.ndarray] | None,
               horizon: Horizon) -> dict[str, np.ndarray]:
    """Available kW per site: ``forecast_kw[name]`` where given, else the site's forecast."""
    names = [s.name for s in scenario.renewables]
    given = dict(forecast_kw or {})
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ValueError(f"design_tou: forecast_kw has unknown sites {unknown}; the sites are {names}")
    out: dict[str, np.ndarray] = {}
    for s in scenario.renewables:
        arr = np.asarray(given.get(s.name, s.forecast_kw), dtype=float)
        if arr.shape != (horizon.n,) or not np.all(np.isfinite(arr)):
            raise ValueError(f"design_tou: forecast_kw[{s.name!r}] must be {horizon.n} finite values, "
                             f"got shape {arr.shape}")
        if np.any(arr < 0) or np.any(arr > s.capacity_kw + 1e-9):
            raise ValueError(f"design_tou: forecast_kw[{s.name!r}] must lie in [0, {s.capacity_kw:g}] kW (the "
                             f"site's capacity), got {arr.min():g}..{arr.max():g}")
        out[s.name] = arr
    return out


def _aggregated(scenario: IEEE33Scenario, fleets: Mapping[int, Sequence[EVParams]] | None
                ) -> tuple[dict[int, list[EVParams]], dict[int, int]]:
    """Each station's fleet (intraday grid) aggregated onto the DA grid; and the vehicle counts."""
    if not fleets:
        return {}, {}
    out: dict[int, list[EVParams]] = {}
    counts: dict[int, int] = {}
    for bus, evs in fleets.items():
        if bus not in scenario.feeder.bus_position:
            raise ValueError(f"design_tou: fleets has station bus {bus!r}, which is not a bus of feeder "
                             f"{scenario.feeder.name}")
        if evs:
            out[int(bus)] = aggregate_fleet(list(evs), scenario.intraday_horizon, scenario.da_horizon)
            counts[int(bus)] = len(evs)
    return out, counts


def _merge(device: Bus, into: Bus, costs: list[Any]) -> None:
    """Move a device's injections onto a network bus and its costs onto a cost category."""
    for t, terms in device.injection.items():
        into.injection[t].extend(terms)
    costs.extend(device.cost)


def _set_values(hm: HighsModel, var: Any) -> None:
    """Write the solved values of an indexed Var into Pyomo (to evaluate expressions of it)."""
    keys = list(var.keys())
    for k, val in zip(keys, hm.values(var, keys), strict=True):
        if not var[k].fixed:  # a fixed Var is not a column of the model
            var[k].set_value(float(val), skip_validation=True)


# ------------------------------------------------------------------------------ the design


def design_tou(
    scenario: IEEE33Scenario,
    fleets: Mapping[int, Sequence[EVParams]] | None,
    forecast_kw: Mapping[str, np.ndarray] | None = None,
    options: SolverOptions | None = None,
    fixed_prices: float | None = None,
) -> TouDesign:
    r"""Design the DA TOU prices of ``scenario`` (SPEC §5.3) and return the solved plan.

    ``fixed_prices`` (USD/kWh, within TOU-1's bounds) fixes every level to that price and drops
    TOU-2: the DA plan without a TOU design (e.g. at π^0, the baseline of "TOU reduces curtailment").

    ``fleets`` maps a station bus to its vehicles on the intraday grid (e.g.
    :func:`scenarios.ieee33_loader.fleet`), aggregated here onto the DA grid with
    :func:`agents.ev.aggregate_fleet`; ``None`` or ``{}`` = no EVs.  ``forecast_kw`` maps a site
    name (``pv7``, ``wt12``) to its 24 hourly available kW (default: the site's ``forecast_kw``).

    The model is :class:`TouDesignModel`'s (built here for this one day and solved once); a
    multi-day run keeps one :class:`TouDesignModel` and gives it each day's data instead.

    Raises :class:`agents.milp.SolveError` when the day cannot be planned (with the constraint
    families), ``ValueError`` on bad inputs, and ``RuntimeError`` if the extracted cost breakdown
    does not add up to the solver's objective (1e-6 relative).
    """
    return TouDesignModel(scenario, fleets, forecast_kw, options, fixed_prices).solve()


class TouDesignModel:
    r"""The DA TOU design's MILP (SPEC §5.3), built once and solved for one or (``persistent``) many days.

    Model (hours ``t``, Δt = 1 h): variables ``π^v, π^f, π^p`` (``price_level``), ``π_t =
    π^{τ(t)}``; TOU-1 (bounds and ``res_tou_order``); TOU-2 (``res_revenue_neutral``, written as
    ``Σ_t w_t π_t = π^0`` with ``w_t = P̄^{L,0}_t / Σ P̄^{L,0}``); EL-2…EL-5 per DR TA with
    ``ρ^max = max(π^max/π^0 − 1, 1 − π^min/π^0)`` (block ``ta<bus>``); ESS-1…4 per cluster (block
    ``ess_<cluster>``, throughput cost λ_om); RES-1 per site (block ``<site>``, penalty λ_pv/λ_wt);
    EV-1…EV-5 per aggregate (block ``ev<bus>_<k>``); LDF-1…LDF-5, LDF-4/A8 and the octagon (block
    ``net``), with per-bus net demand ``p^net_j = P^{fix}_j − (P^{pv}_j + P^{wt}_j) + P^L_j(π)
    + Σ(P^c − P^{dis})_j + (P^{ch} − P^{dis})_j``; ``P^buy = P^sub`` (LDF-5; with
    ``reverse_flow`` ``P^sub = P^buy − P^sell`` at ``feed_in_price``); ``l̂ ≥ ±P^sub_t`` (eq. 13).
    Objective: eq. 11 as in the module docstring.

    ``persistent=True`` builds the day's data as mutable Params — the TAs' bases (EL-2…EL-5 with
    :func:`agents.transformer_area.build_elastic_load` ``parametric``; the fixed loads are the network's
    ``p_load_kw``/``q_load_kvar``), TOU-2's weights ``w_t``, the storages' start energy and ESS-4 window,
    the renewables' forecast, the EV aggregates' start SOC, end floor, departure SOC and trip (EV-4' in
    its multi-day form, :func:`agents.ev.build_ev`) — so :meth:`set_day` only writes a new day's data and
    pushes what changed (:meth:`agents.milp.HighsModel.update_params`); the day then solves cold.
    """

    def __init__(
        self,
        scenario: IEEE33Scenario,
        fleets: Mapping[int, Sequence[EVParams]] | None,
        forecast_kw: Mapping[str, np.ndarray] | None = None,
        options: SolverOptions | None = None,
        fixed_prices: float | None = None,
        persistent: bool = False,
    ) -> None:
        t_build = time.perf_counter()
        self.persistent = persistent
        hz = scenario.da_horizon
        T = hz.periods
        tariff = scenario.tariff
        netspec = scenario.network
        feeder = scenario.feeder
        pos = feeder.bus_position
        partition = tariff.partition
        nb = feeder.n_buses
        pi0, pi_min, pi_max = tariff.reference_price, tariff.price_min, tariff.price_max
        up = tariff.upstream_price_hourly
        if netspec.reverse_flow and netspec.feed_in_price >= float(up.min()):
            raise ValueError(f"design_tou: feed_in_price {netspec.feed_in_price} must be below every upstream "
                             f"price (min {up.min():g}) when reverse_flow is on, or buying to sell would pay "
                             "without bound")
        avail = _available(scenario, forecast_kw, hz)
        evs, ev_count = _aggregated(scenario, fleets)

        m = pyo.ConcreteModel(name=f"{scenario.name} DA TOU design")
        m.T = pyo.Set(initialize=T, ordered=True, doc="hours")

        # ---- prices: TOU-1, TOU-2
        labels = [label for label in PERIOD_ORDER if label in partition]
        m.LEVELS = pyo.Set(initialize=labels, ordered=True, doc="TOU period types present in the partition")
        m.price_level = pyo.Var(m.LEVELS, bounds=(pi_min, pi_max), initialize=pi0,
                                doc="TOU price level [USD/kWh] (TOU-1 bounds)")
        m.price = pyo.Expression(m.T, rule=lambda b, t: b.price_level[partition[t - 1]],
                                 doc="price of hour t [USD/kWh] (004 eq. 7)")
        if fixed_prices is not None:
            if not (math.isfinite(fixed_prices) and pi_min <= fixed_prices <= pi_max):
                raise ValueError(f"design_tou: fixed_prices must lie in [pi_min, pi_max] = [{pi_min}, {pi_max}], "
                                 f"got {fixed_prices}")
            for label in labels:
                m.price_level[label].fix(float(fixed_prices))
        m.res_tou_order = pyo.Constraint(
            range(len(labels) - 1), rule=lambda b, k: b.price_level[labels[k]] <= b.price_level[labels[k + 1]],
            doc="valley <= flat <= peak (TOU-1)")
        tas = scenario.transformer_areas
        baseline = np.sum([ta.base_load_kw for ta in tas], axis=0) if tas else np.zeros(hz.n)
        if tariff.revenue_neutral and baseline.sum() > 0 and fixed_prices is None:
            w = baseline / baseline.sum()
            if persistent:
                m.tou2_weight = pyo.Param(m.T, initialize={t: float(w[t - 1]) for t in T}, mutable=True,
                                          doc="TOU-2 weight: baseline load of hour t / its energy [-]")
                m.res_revenue_neutral = pyo.Constraint(
                    expr=pyo.quicksum(m.tou2_weight[t] * m.price[t] for t in T) == pi0,
                    doc="revenue neutrality on the baseline load, divided by its energy (TOU-2)")
            else:
                m.res_revenue_neutral = pyo.Constraint(
                    expr=pyo.quicksum(float(w[t - 1]) * m.price[t] for t in T) == pi0,
                    doc="revenue neutrality on the baseline load, divided by its energy (TOU-2)")

        # ---- transformer areas: EL-2..EL-5 where the load responds, fixed loads elsewhere
        fixed_p = np.zeros((hz.n, nb))
        fixed_q = np.zeros((hz.n, nb))
        elastic: dict[int, list[pyo.Block]] = {}
        dr_blocks: list[tuple[Any, pyo.Block]] = []
        for ta in tas:
            if np.any(ta.shiftable_kw > 0) or np.any(ta.curtailable_kw > 0):
                rho_max = max(pi_max / ta.reference_price - 1.0, 1.0 - pi_min / ta.reference_price)
                blk = pyo.Block()
                m.add_component(f"ta{ta.bus}", blk)
                build_elastic_load(blk, ta, hz, lambda t: m.price[t], rho_max=rho_max, parametric=persistent)
                elastic.setdefault(ta.bus, []).append(blk)
                dr_blocks.append((ta, blk))
            else:
                fixed_p[:, pos[ta.bus]] += ta.base_load_kw
                fixed_q[:, pos[ta.bus]] += ta.q_per_p * ta.base_load_kw

        # ---- devices: storage, renewables, EVs (devices join by appending to a Bus)
        inj: dict[int, Bus] = {}

        def bus_of(j: int) -> Bus:
            return inj.setdefault(j, Bus(hz))

        pairs: list[Complementarity] = []
        pv_terms: list[Any] = []
        om_terms: list[Any] = []
        ev_terms: list[Any] = []
        ess: dict[str, pyo.Block] = {}
        for cl in scenario.clusters:
            blk = pyo.Block()
            m.add_component(f"ess_{cl.name}", blk)
            dev = Bus(hz)
            h = build_battery(blk, replace(cl.ess, cost_per_kwh=tariff.lambda_om), hz, dev, exclusive=False)
            _merge(dev, bus_of(cl.leading_bus), om_terms)
            pairs += h.complementarity
            ess[cl.name] = blk
        sites: dict[str, pyo.Block] = {}
        for s in scenario.renewables:
            blk = pyo.Block()
            m.add_component(s.name, blk)
            dev = Bus(hz)
            lam = tariff.lambda_pv if s.kind == "pv" else tariff.lambda_wt
            build_renewable(blk, RenewableParams(s.kind, s.capacity_kw, curtailment_cost_per_kwh=lam), hz, dev,
                            avail[s.name])
            _merge(dev, bus_of(s.bus), pv_terms)
            sites[s.name] = blk
        ev_blocks: dict[int, list[tuple[EVParams, pyo.Block]]] = {}
        integer_evs: list[Any] = []
        for st, aggs in evs.items():
            for k, p in enumerate(aggs):
                blk = pyo.Block()
                m.add_component(f"ev{st}_{k}", blk)
                h_ev = build_ev(blk, p, hz, np.zeros(hz.n), exclusive=False, multi_day=persistent)
                ev_terms.append(blk.cost)
                pairs += h_ev.complementarity
                integer_evs += h_ev.integer_binaries
                for t in T:
                    bus_of(st).inject(t, -blk.p_net_kw[t])
                ev_blocks.setdefault(st, []).append((h_ev.params or p, blk))

        # ---- network: LDF-1..LDF-5, limits, octagon
        def p_extra(j: int, t: int) -> Any:
            terms: list[Any] = [b.load_kw[t] for b in elastic.get(j, [])]
            if j in inj:
                terms += [-e for e in inj[j].injection[t]]
            return pyo.quicksum(terms) if terms else None

        def q_extra(j: int, t: int) -> Any:
            return pyo.quicksum(b.q_kvar[t] for b in elastic[j]) if j in elastic else None

        m.net = pyo.Block()
        handle = build_lindistflow(
            m.net, feeder, hz, fixed_p, fixed_q, np.zeros((hz.n, nb)), v_min_pu=netspec.v_min_pu,
            v_max_pu=netspec.v_max_pu, v0_pu=netspec.v0_pu, s_max_mva=netspec.s_max_mva(feeder),
            p_extra_kw=p_extra, q_extra_kvar=q_extra, reverse_flow=netspec.reverse_flow,
            soft_limits=not netspec.hard_voltage_limits, violation_cost_per_pu_h=netspec.voltage_penalty_per_pu_h,
            ldc_pu_per_mw=netspec.oltc_ldc_pu_per_mw,
        )
        dt = hz.dt_h
        if netspec.reverse_flow:
            m.p_buy_kw = pyo.Var(m.T, within=pyo.NonNegativeReals, doc="purchase from upstream [kW]")
            m.p_sell_kw = pyo.Var(m.T, within=pyo.NonNegativeReals, doc="sale to upstream [kW]")
            m.def_p_sub = pyo.Constraint(m.T, rule=lambda b, t: b.net.p_sub_kw[t] == b.p_buy_kw[t] - b.p_sell_kw[t],
                                         doc="P^sub = P^buy - P^sell (LDF-5)")
            buy_expr = dt * pyo.quicksum(float(up[t - 1]) * m.p_buy_kw[t] - netspec.feed_in_price * m.p_sell_kw[t]
                                         for t in T)
        else:  # SPEC §5.2 default: P^sell = 0, so P^buy = P^sub (>= 0 by the network block's bound)
            buy_expr = dt * pyo.quicksum(float(up[t - 1]) * m.net.p_sub_kw[t] for t in T)
        m.peak_kw = pyo.Var(within=pyo.NonNegativeReals, doc="auxiliary peak l^ >= |P^sub_t| [kW] (eq. 13)")
        m.res_peak_pos = pyo.Constraint(m.T, rule=lambda b, t: b.peak_kw >= b.net.p_sub_kw[t],
                                        doc="l^ >= P^sub (eq. 13)")
        m.res_peak_neg = pyo.Constraint(m.T, rule=lambda b, t: b.peak_kw >= -b.net.p_sub_kw[t],
                                        doc="l^ >= -P^sub (eq. 13)")

        # ---- objective (eq. 11)
        m.cost_buy = pyo.Expression(expr=buy_expr, doc="C_buy [USD] (eq. 12)")
        m.cost_tp = pyo.Expression(expr=tariff.lambda_tp * m.peak_kw, doc="C_tp [USD] (eq. 13)")
        m.cost_pv = pyo.Expression(expr=pyo.quicksum(pv_terms), doc="C_pv: PV and wind curtailment [USD] (eq. 16)")
        m.cost_om = pyo.Expression(expr=pyo.quicksum(om_terms), doc="C_om: storage throughput [USD] (eq. 14)")
        m.cost_dr = pyo.Expression(expr=pyo.quicksum(b.cost for _, b in dr_blocks), doc="C_dr [USD] (eq. 17)")
        m.cost_ev = pyo.Expression(expr=pyo.quicksum(ev_terms), doc="C_ev: EV-6 at zero price [USD]")
        m.cost_voltage = pyo.Expression(expr=handle.violation_cost, doc="soft voltage-limit violations [USD]")
        m.obj = pyo.Objective(
            expr=m.cost_buy + m.cost_tp + m.cost_pv + m.cost_om + m.cost_dr + m.cost_ev + m.cost_voltage,
            sense=pyo.minimize, doc="DSO cost C (004 eq. 11)")
        build_s = time.perf_counter() - t_build

        hm = HighsModel(m, f"{scenario.name} DA TOU design", options or SolverOptions(), relax_integrality=True,
                        build_s=build_s)
        if persistent:
            hm.track_params()
        self.build_seconds = build_s + hm.handover_s
        integer_cols = [hm.columns_of(b.cut_on) for _, b in dr_blocks] + [hm.columns_of(v) for v in integer_evs]
        self.integer_columns = np.concatenate(integer_cols) if integer_cols else np.zeros(0, dtype=np.int64)
        self.model, self.hm, self.handle, self.pairs = m, hm, handle, pairs
        self.scenario, self.labels, self.up = scenario, labels, up
        self.elastic, self.dr_blocks, self.ess, self.sites, self.ev_blocks = elastic, dr_blocks, ess, sites, ev_blocks
        self.evs, self.ev_count = evs, ev_count
        self.avail, self.baseline, self.fixed_p, self.fixed_q = avail, baseline, fixed_p, fixed_q

    # ------------------------------------------------------------------ a new day
    def set_day(self, scenario: IEEE33Scenario, fleets: Mapping[int, Sequence[EVParams]] | None,
                forecast_kw: Mapping[str, np.ndarray] | None = None) -> float:
        """Write a new day's data (same feeder, TAs, clusters, sites and vehicles) and push what changed.

        The day's TA bases, storages' start and window, forecast and EV aggregates (from the day's
        fleets, e.g. home vehicles carrying their SOC) go into the model's Params; only the changed
        rows, bounds and costs reach HiGHS (:meth:`agents.milp.HighsModel.update_params`); the basis is
        cleared, so the day solves as a freshly built model would.  Returns the seconds taken.
        """
        if not self.persistent:
            raise ValueError("TouDesignModel.set_day needs a model built with persistent=True")
        t0 = time.perf_counter()
        m = self.model
        hz = scenario.da_horizon
        T = hz.periods
        tariff = scenario.tariff
        pos = scenario.feeder.bus_position
        nb = scenario.feeder.n_buses
        tas = scenario.transformer_areas
        old_tas = [ta.bus for ta, _ in self.dr_blocks]
        new_dr = [ta.bus for ta in tas if np.any(ta.shiftable_kw > 0) or np.any(ta.curtailable_kw > 0)]
        if new_dr != old_tas or [c.name for c in scenario.clusters] != list(self.ess) \
                or [s.name for s in scenario.renewables] != list(self.sites):
            raise ValueError("TouDesignModel.set_day: the day's TAs, clusters or sites differ from the model's")
        avail = _available(scenario, forecast_kw, hz)
        evs, ev_count = _aggregated(scenario, fleets)
        shape = {st: [(p.name, p.kind, p.arrival_period, p.departure_period) for p in a] for st, a in evs.items()}
        built = {st: [(p.name, p.kind, p.arrival_period, p.departure_period) for p, _ in items]
                 for st, items in self.ev_blocks.items()}
        if shape != built:
            raise ValueError("TouDesignModel.set_day: the day's EV aggregates differ from the model's")
        baseline = np.sum([ta.base_load_kw for ta in tas], axis=0) if tas else np.zeros(hz.n)
        if hasattr(m, "tou2_weight"):
            w = baseline / baseline.sum()
            m.tou2_weight.store_values({t: float(w[t - 1]) for t in T})
        fixed_p = np.zeros((hz.n, nb))
        fixed_q = np.zeros((hz.n, nb))
        dr = dict(zip(old_tas, (blk for _, blk in self.dr_blocks), strict=True))
        dr_blocks = []
        pi_min, pi_max = tariff.price_min, tariff.price_max
        for ta in tas:
            if ta.bus in dr:
                rho_max = max(pi_max / ta.reference_price - 1.0, 1.0 - pi_min / ta.reference_price)
                set_elastic_load_data(dr[ta.bus], ta, hz, rho_max=rho_max)
                dr_blocks.append((ta, dr[ta.bus]))
            else:
                fixed_p[:, pos[ta.bus]] += ta.base_load_kw
                fixed_q[:, pos[ta.bus]] += ta.q_per_p * ta.base_load_kw
        self._write_loads(fixed_p, fixed_q)
        for cl in scenario.clusters:
            set_battery_start(self.ess[cl.name], cl.ess)
        for s in scenario.renewables:
            set_profile(self.sites[s.name].available_kw, avail[s.name])
        ev_blocks: dict[int, list[tuple[EVParams, pyo.Block]]] = {}
        for st, aggs in evs.items():
            for p, (_, blk) in zip(aggs, self.ev_blocks[st], strict=True):
                ev_blocks.setdefault(st, []).append((set_ev_data(blk, p, hz), blk))
        self.hm.update_params()
        self._cold = True  # the basis is cleared before the day's solve
        self.scenario, self.dr_blocks, self.ev_blocks, self.evs, self.ev_count = scenario, dr_blocks, ev_blocks, evs, \
            ev_count
        self.avail, self.baseline, self.fixed_p, self.fixed_q = avail, baseline, fixed_p, fixed_q
        self.up = tariff.upstream_price_hourly
        return time.perf_counter() - t0

    def _write_loads(self, p_kw: np.ndarray, q_kvar: np.ndarray) -> None:
        """The fixed loads into the network's ``p_load_kw``/``q_load_kvar`` (as :func:`set_network_data` does).

        The Params' data objects are listed once; the values, finite floats checked here, are stored
        directly (the daily write of every bus and hour would otherwise validate each value again).
        """
        net = self.handle.block
        buses, T = list(self.handle.feeder.buses), list(self.handle.horizon.periods)
        if not hasattr(self, "_load_params"):
            self._load_params = ([net.p_load_kw[j, t] for j in buses for t in T],
                                 [net.q_load_kvar[j, t] for j in buses for t in T])
        pos = self.handle.feeder.bus_position
        cols = [pos[j] for j in buses]
        for params, arr in zip(self._load_params, (p_kw, q_kvar), strict=True):
            vals = np.asarray(arr, dtype=float)[:, cols].T.ravel()  # bus-major, as the list
            if not np.all(np.isfinite(vals)):
                raise ValueError("TouDesignModel.set_day: the fixed loads must be finite")
            for pd_, v in zip(params, vals.tolist(), strict=True):
                pd_._value = v

    # ------------------------------------------------------------------ solve and read
    def solve(self) -> TouDesign:
        """Solve the day held by the model (DESIGN principle 7, module docstring) and read the plan back."""
        scenario, m, hm, handle = self.scenario, self.model, self.hm, self.handle
        hz = scenario.da_horizon
        T = hz.periods
        dt = hz.dt_h
        tariff = scenario.tariff
        netspec = scenario.network
        feeder = scenario.feeder
        pos = feeder.bus_position
        partition = tariff.partition
        nb = feeder.n_buses
        up, labels, tas = self.up, self.labels, scenario.transformer_areas
        elastic, dr_blocks, ess, sites, ev_blocks = self.elastic, self.dr_blocks, self.ess, self.sites, self.ev_blocks
        avail, baseline, fixed_p, fixed_q = self.avail, self.baseline, self.fixed_p, self.fixed_q
        build_seconds = self.build_seconds
        self.build_seconds = 0.0
        t_solve = time.perf_counter()
        if getattr(self, "_cold", False):
            hm.clear_solver()
            self._cold = False
        stats, path = solve_certified(hm, self.pairs, integer_columns=self.integer_columns)
        solve_seconds = time.perf_counter() - t_solve
        # ---- extraction
        level_vals = np.array([pyo.value(m.price_level[lb]) if m.price_level[lb].fixed
                               else hm.value(m.price_level[lb]) for lb in labels])
        levels = {label: float(v) for label, v in zip(labels, level_vals, strict=True)}
        prices = np.array([levels[label] for label in partition])
        _set_values(hm, m.price_level)
        ta_load: dict[int, np.ndarray] = {}
        p_load = fixed_p.copy()
        q_load = fixed_q.copy()
        for ta in tas:
            if ta.bus not in elastic:
                ta_load[ta.bus] = ta_load.get(ta.bus, np.zeros(hz.n)) + ta.base_load_kw
        dr_cost = 0.0
        for ta, blk in dr_blocks:
            _set_values(hm, blk.cut_kw)
            load = np.array([pyo.value(blk.load_kw[t]) for t in T])
            ta_load[ta.bus] = ta_load.get(ta.bus, np.zeros(hz.n)) + load
            p_load[:, pos[ta.bus]] += load
            q_load[:, pos[ta.bus]] += ta.q_per_p * load
            dr_cost += dt * float(ta.cost_shift_per_kwh * hm.values(blk.abs_shift_kw, T).sum()
                                  + ta.cost_cut_per_kwh * hm.values(blk.cut_kw, T).sum())
        load_after_dr = np.sum(list(ta_load.values()), axis=0) if ta_load else np.zeros(hz.n)

        ch = {n: hm.values(b.p_charge_kw, T) for n, b in ess.items()}
        dis = {n: hm.values(b.p_discharge_kw, T) for n, b in ess.items()}
        soc = {n: hm.values(b.soc_kwh, T) for n, b in ess.items()}
        for cl in scenario.clusters:
            p_load[:, pos[cl.leading_bus]] += ch[cl.name] - dis[cl.name]
        site_kw = {n: hm.values(b.p_kw, T) for n, b in sites.items()}
        p_gen = np.zeros((hz.n, nb))
        for s in scenario.renewables:
            p_gen[:, pos[s.bus]] += site_kw[s.name]
        ev_net: dict[int, np.ndarray] = {}
        ev_cost = 0.0
        for st, items in ev_blocks.items():
            net_st = np.zeros(hz.n)
            for p, blk in items:
                c, d = hm.values(blk.p_charge_kw, T), hm.values(blk.p_discharge_kw, T)
                net_st += c - d
                ev_cost += dt * float(((p.c_ev - p.lambda_ev * p.eta) * c + (p.c_ev + p.lambda_ev / p.eta) * d).sum())
            ev_net[st] = net_st
            p_load[:, pos[st]] += net_st

        ns = network_solution(hm, handle)
        # extraction checks: what the network saw equals what was extracted (a bug otherwise)
        worst = float(np.max(np.abs(ns.p_net_kw - (p_load - p_gen))))
        if worst > _CHECK_TOL_KW:
            raise RuntimeError(f"design_tou: extracted per-bus net demand differs from the network's by {worst:.3g} kW")
        p_sub = ns.p_sub_kw
        curtail = {n: avail[n] - site_kw[n] for n in sites}
        lam_of = {s.name: tariff.lambda_pv if s.kind == "pv" else tariff.lambda_wt for s in scenario.renewables}
        costs = {
            "buy": float(dt * (up @ (hm.values(m.p_buy_kw, T) if netspec.reverse_flow else p_sub)
                               - (netspec.feed_in_price * hm.values(m.p_sell_kw, T).sum() if netspec.reverse_flow
                                  else 0.0))),
            "tp": float(tariff.lambda_tp * hm.value(m.peak_kw)),
            "pv": float(dt * sum(lam_of[n] * c.sum() for n, c in curtail.items())),
            "om": float(dt * tariff.lambda_om * sum((ch[n] + dis[n]).sum() for n in ess)),
            "dr": dr_cost,
            "ev": ev_cost,
            "voltage": float(ns.voltage_violation.cost) if ns.voltage_violation is not None else 0.0,
        }
        costs["total"] = float(sum(costs[k] for k in COST_KEYS))
        obj = stats[-1].objective
        if abs(costs["total"] - obj) > 1e-6 * max(1.0, abs(obj)):
            raise RuntimeError(f"design_tou: the cost breakdown {costs} adds up to {costs['total']:.9g}, the solver's "
                               f"objective is {obj:.9g}")

        report = _voltage_report(scenario, ns.v_pu, dt,
                                 0.0 if ns.voltage_violation is None else
                                 dt * float(ns.voltage_violation.under_pu.sum() + ns.voltage_violation.over_pu.sum()))
        last = stats[-1]
        design = TouDesign(
            levels=levels, prices=prices, upstream_prices=up.copy(), partition=tuple(partition), dt_h=dt,
            buses=tuple(feeder.buses), baseline_load_kw=baseline, load_after_dr_kw=load_after_dr, p_load_kw=p_load,
            q_load_kvar=q_load, p_gen_kw=p_gen, v_pu=ns.v_pu, p_sub_kw=p_sub,
            site_kind={s.name: s.kind for s in scenario.renewables}, site_kw=site_kw,
            site_available_kw={n: a.copy() for n, a in avail.items()}, ess_charge_kw=ch, ess_discharge_kw=dis,
            ess_soc_kwh=soc, ev_net_kw=ev_net, ev_count=dict(self.ev_count),
            ev_aggregates={st: len(a) for st, a in self.evs.items()},
            ta_load_kw=dict(sorted(ta_load.items())), costs=costs,
            curtailment_kwh=float(dt * sum(c.sum() for c in curtail.values())), voltage_violation=report,
            stats=list(stats), path=path,
            model_size={"rows": last.n_rows, "cols": last.n_cols, "nonzeros": last.n_nonzeros,
                        "binaries": last.n_binaries_declared, "integer_binaries": last.n_integer_active},
            build_seconds=build_seconds, solve_seconds=solve_seconds,
        )
        log.info("%s: TOU levels %s USD/kWh, cost %.2f USD (%s), V %.4f..%.4f p.u.; %d rows x %d cols, %s; "
                 "build %.2fs, solve %.2fs", m.name, {k: round(v, 5) for k, v in levels.items()}, costs["total"],
                 ", ".join(f"{k} {costs[k]:.2f}" for k in COST_KEYS), report.v_min_pu, report.v_max_pu, last.n_rows,
                 last.n_cols, path, build_seconds, solve_seconds)
        return design




def _voltage_report(scenario: IEEE33Scenario, v_pu: np.ndarray, dt: float, slack_pu_h: float) -> VoltageReport:
    """Extremes and violations of the LinDistFlow voltages against ``[v_min, v_max]`` (root excluded)."""
    feeder = scenario.feeder
    buses = np.array(feeder.buses)
    mask = buses != feeder.root
    v = v_pu[:, mask]
    b = buses[mask]
    lo_t, lo_j = np.unravel_index(int(np.argmin(v)), v.shape)
    hi_t, hi_j = np.unravel_index(int(np.argmax(v)), v.shape)
    under = np.maximum(scenario.network.v_min_pu - v, 0.0)
    over = np.maximum(v - scenario.network.v_max_pu, 0.0)
    worst = np.maximum(under, over)
    w_t, w_j = np.unravel_index(int(np.argmax(worst)), worst.shape)
    has = bool(worst[w_t, w_j] > 0)
    side = "none" if not has else ("under" if under[w_t, w_j] > 0 else "over")
    return VoltageReport(
        v_min_pu=float(v[lo_t, lo_j]), v_min_bus=int(b[lo_j]), v_min_hour=int(lo_t) + 1,
        v_max_pu=float(v[hi_t, hi_j]), v_max_bus=int(b[hi_j]), v_max_hour=int(hi_t) + 1,
        worst_pu=float(worst[w_t, w_j]), worst_bus=int(b[w_j]) if has else None,
        worst_hour=int(w_t) + 1 if has else None, worst_side=side,
        total_pu_h=float(dt * (under.sum() + over.sum())), slack_pu_h=float(slack_pu_h),
    )


__all__ = ["COST_KEYS", "PERIOD_ORDER", "TouDesign", "TouDesignModel", "VoltageReport", "design_tou"]

"""Typed, frozen scenario dataclasses.  Nothing past the loader sees raw dicts (DESIGN principle 4).

Device parameter dataclasses live beside their builders in :mod:`agents.devices`, and an agent's
parameter dataclass beside the agent; this module adds what a whole scenario needs on top of them.
A scenario that is exactly one agent's parameters is an alias of that class (``RuralIESScenario``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from agents.campus import CampusParams
from agents.cluster import ClusterParams
from agents.decision.uncertainty import METHODS
from agents.devices.core import Horizon
from agents.devices.grid import LineParams
from agents.ev import FleetSpec
from agents.rural_campus import RuralCampusParams, RuralUncertaintyParams
from agents.transformer_area import TransformerAreaParams
from scenarios.feeder import IEEE33_TRUNK, Feeder


class ScenarioError(ValueError):
    """A scenario file is malformed.  The message names the file, the field and what is allowed."""


@dataclass(frozen=True)
class UncertaintySpec:
    """Bounded-error scenarios and the CVaR envelope (SPEC §4.2, §4.7, §6.3), and the simulator's DA method.

    ``method`` (one of :data:`agents.decision.uncertainty.METHODS`) is how the simulator
    (:mod:`sim.systems.three_campus.day`) makes the DA decision: ``cvar`` is the cloud model of paper 000
    (the CVaR objective, SPEC §4.7); ``so``, ``ro``, ``dro``, ``cdro`` are the methods of SPEC §6.4 over the
    day's reduced scenarios (:class:`sim.systems.three_campus.cloud.CloudDRO`), with Ψ of CD-3 around their
    probabilities and the radii of CD-4 for ``M = history_days`` (the Monte Carlo days the scenarios are
    reduced from: the simulator's ``n_mc``), ``K`` = the number of reduced scenarios and the confidence
    levels ``alpha_1``, ``alpha_inf``; ``lam`` is λ of CD-2 (cdro).  The cloud study
    (:mod:`sim.systems.three_campus.cloud`) ignores them.
    """

    epsilon: float = 0.10
    beta: float = 0.80
    n_scenarios: int = 12
    ar1_phi: float = 0.7
    sigma_fraction: float = 0.5
    method: str = field(default="cvar", metadata={"unit": "", "doc": "so, ro, dro, cdro or cvar"})
    lam: float = field(default=0.2, metadata={"unit": "1", "doc": "lambda of CD-2, in [0, 1]"})
    alpha_1: float = field(default=0.95, metadata={"unit": "1", "doc": "confidence of the 1-norm bound"})
    alpha_inf: float = field(default=0.99, metadata={"unit": "1", "doc": "confidence of the inf-norm bound"})
    history_days: int = field(default=200, metadata={"unit": "days", "doc": "M of CD-4 (Monte Carlo days)"})

    def __post_init__(self) -> None:
        def bad(name: str, allowed: str) -> ValueError:
            return ValueError(f"uncertainty.{name} = {getattr(self, name)!r}: must be {allowed}")

        if self.method not in METHODS:
            raise bad("method", f"one of {', '.join(METHODS)}")
        if not 0 <= self.lam <= 1:
            raise bad("lam", "in [0, 1]")
        for name in ("alpha_1", "alpha_inf"):
            if not 0 < getattr(self, name) < 1:
                raise bad(name, "in (0, 1)")
        v = self.history_days
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise bad("history_days", "a whole number >= 1")


@dataclass(frozen=True)
class PenaltySpec:
    """DA-RT deviation penalties lambda^x in currency/kWh (SPEC C-11)."""

    net: float = 0.30
    buy: float = 0.10
    sell: float = 0.10
    ch: float = 0.05
    dis: float = 0.05
    dr: float = 0.05
    chp: float = 0.05
    p2p: float = 0.05

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ObjectiveSpec:
    """Objective options.

    ``da_cost_weight`` (omega^DA, SPEC §4.6) adds the DA plan's own cost; the paper uses 0.
    ``expected_cost_weight`` adds ``w * mean_s C_s`` to the CVaR objective.  The pure CVaR objective
    gives the scenarios outside the tail zero weight, so their dispatch is arbitrary (and the LP is
    highly degenerate); a small weight makes every scenario's dispatch cost-minimising while moving
    the CVaR by at most ``w * (max_s C_s - min_s C_s)``.  Set it to 0 for the paper's pure objective.
    ``p2p_flow_cost_per_kwh`` is a tie-break on line flows (objective only, not in C_s): in a lossless
    mesh a flow around the triangle changes nothing, so without it the P2P energy is arbitrary.
    """

    da_cost_weight: float = 0.0
    expected_cost_weight: float = 1e-3
    p2p_flow_cost_per_kwh: float = 1e-4


@dataclass(frozen=True)
class BargainingSpec:
    """The settlement of a system whose agents bargain (SPEC §5.5 NB-2, §8): the W-4 coefficient, the coordinator's
    check of the reported standalone costs, and the daily coalition audit."""

    kappa: float = field(default=0.5, metadata={"unit": "1", "doc": "W-4 compensation coefficient, [0, 1)"})
    verify_standalone: bool = field(default=False, metadata={
        "doc": "the coordinator computes every C^0 itself from the agent's declared model (reports cannot move it)"})
    audit: bool = field(default=False, metadata={
        "doc": "every day: v(T) of every coalition of two or more agents, the core excess and the Shapley value"})

    def __post_init__(self) -> None:
        if not 0 <= self.kappa < 1:
            raise ValueError(f"market.kappa must be in [0, 1), got {self.kappa}")


@dataclass(frozen=True)
class ThreeCampusScenario:
    """The scenario of paper 000: three parks, P2P lines, DA forecasts, RT scenarios, CVaR; the bargaining's
    ``market`` settings and the ``[behaviours]`` table (park name or ``CampusAgent`` -> behaviour, SPEC §8)."""

    name: str
    description: str
    seed: int
    parks: tuple[CampusParams, ...]
    lines: tuple[LineParams, ...]
    uncertainty: UncertaintySpec
    penalties: PenaltySpec
    objective: ObjectiveSpec
    buy_price: np.ndarray  # 24 hourly values [currency/kWh]
    sell_price: np.ndarray  # 24 hourly values
    forecast: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # park -> quantity -> 24
    currency: str = "CNY"
    source: Path | None = None
    market: BargainingSpec = field(default_factory=BargainingSpec)
    #: the ``[behaviours]`` table: park name or ``CampusAgent`` -> behaviour (SPEC §8; empty: everyone truthful)
    behaviours: Mapping[str, Any] = field(default_factory=dict)

    @property
    def park_names(self) -> list[str]:
        return [p.name for p in self.parks]

    def park(self, name: str) -> CampusParams:
        for p in self.parks:
            if p.name == name:
                return p
        raise KeyError(f"scenario {self.name}: no park named {name!r}; parks are {self.park_names}")


# ============================================================================ IEEE-33 scenario (paper 004, SPEC §5)

VoltageLimitMode = Literal["soft", "hard"]
VOLTAGE_LIMIT_MODES: tuple[str, ...] = ("soft", "hard")
RenewableKind = Literal["pv", "wind"]


def _frozen_array(values: np.ndarray) -> np.ndarray:
    arr = np.array(values, dtype=float)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True)
class NetworkSpec:
    """Distribution-network settings of the IEEE-33 scenario (SPEC §5.1, §5.2).

    ``voltage_limits`` says how ``[v_min_pu, v_max_pu]`` enters the MILPs: ``"hard"`` as LDF-4 rows
    (004 A8), ``"soft"`` with a non-negative violation ``s_{j,t}`` (p.u. of voltage magnitude, per
    bus and period) priced at ``voltage_penalty_per_pu_h`` × ``s_{j,t}`` × Δt in the DSO objective
    `[proposed]`.  ``load_scale`` multiplies every bus's base load of the feeder (not the DR
    aggregates, which have their own ``peak_kw``).  ``reverse_flow = False`` is SPEC §5.2's
    ``P^sell ≡ 0``; with it, sale is paid ``feed_in_price``.

    The substation's on-load tap changer holds the root voltage at ``V_0,t = V_0 + k P^sub_t``
    (``k = oltc_ldc_pu_per_mw``, ``P^sub_t`` the feeder's net demand in MW: loads minus DER output,
    line losses not counted), clipped to ``[v_min_pu, v_max_pu]`` — line-drop compensation, which
    raises the sending-end voltage with the load so that the far end of the feeder stays in band
    (:meth:`substation_voltage`).  ``k = 0`` is a fixed set-point ``V_0``.
    """

    feeder: str = field(default="ieee33", metadata={"unit": "", "doc": "network source: 'ieee33', "
                                                                       "'simbench:<code>' or 'pandapower:<file>.json'"})
    v_min_pu: float = field(default=0.93, metadata={"unit": "p.u.", "doc": "lower voltage limit (A8)"})
    v_max_pu: float = field(default=1.07, metadata={"unit": "p.u.", "doc": "upper voltage limit (A8)"})
    v0_pu: float = field(default=1.0, metadata={"unit": "p.u.", "doc": "substation voltage set-point V_0"})
    oltc_ldc_pu_per_mw: float = field(default=0.0, metadata={
        "unit": "p.u./MW", "doc": "line-drop compensation of the substation tap changer: V_0,t = V_0 + k P^sub_t"})
    voltage_limits: VoltageLimitMode = field(default="soft", metadata={"unit": "", "doc": "'soft' or 'hard'"})
    voltage_penalty_per_pu_h: float = field(default=1000.0, metadata={"unit": "USD/(p.u.*h)"})
    load_scale: float = field(default=1.0, metadata={"unit": "1", "doc": "factor on all base bus loads"})
    s_max_trunk_mva: float = field(default=6.0, metadata={"unit": "MVA", "doc": "octagon limit, branches 1-2..5-6"})
    s_max_other_mva: float = field(default=4.0, metadata={"unit": "MVA", "doc": "octagon limit, other branches"})
    reverse_flow: bool = field(default=False, metadata={"unit": "", "doc": "allow export to the upstream grid"})
    feed_in_price: float = field(default=0.0, metadata={"unit": "USD/kWh"})

    @property
    def hard_voltage_limits(self) -> bool:
        return self.voltage_limits == "hard"

    def substation_voltage(self, p_sub_kw: np.ndarray) -> np.ndarray:
        """The tap changer's voltage per period, p.u.: ``clip(V_0 + k P^sub_t / 1000, v_min, v_max)`` (kW in)."""
        p = np.asarray(p_sub_kw, dtype=float)
        return np.clip(self.v0_pu + self.oltc_ldc_pu_per_mw * p / 1000.0, self.v_min_pu, self.v_max_pu)

    def s_max_mva(self, feeder: Feeder) -> np.ndarray:
        """Apparent-power limit per branch of ``feeder`` (branch order), MVA (SPEC §5.2 octagon).

        IEEE-33: ``s_max_trunk_mva`` on 1–2…5–6, ``s_max_other_mva`` elsewhere.  A network with thermal ratings
        (SimBench, pandapower): each branch's rating, ``s_max_other_mva`` where it has none."""
        if feeder.branch_rating_mva is not None:
            rating = feeder.branch_rating_mva
            return np.where(np.isfinite(rating), rating, self.s_max_other_mva)
        return np.array([self.s_max_trunk_mva if br.key in IEEE33_TRUNK else self.s_max_other_mva
                         for br in feeder.branches])


@dataclass(frozen=True, eq=False)
class RenewableSite:
    """A PV or wind plant (SPEC §5.1): bus, capacity and its hourly forecast (``capacity × shape``, kW)."""

    kind: RenewableKind = field(metadata={"unit": "", "doc": "'pv' or 'wind'"})
    bus: int = field(metadata={"unit": "bus", "doc": "paper numbering 1..33"})
    capacity_kw: float = field(metadata={"unit": "kW"})
    profile: str = field(metadata={"unit": "", "doc": "column of the forecast CSV (normalised shape)"})
    forecast_kw: np.ndarray = field(metadata={"unit": "kW", "doc": "24 hourly available outputs"})

    def __post_init__(self) -> None:
        object.__setattr__(self, "forecast_kw", _frozen_array(self.forecast_kw))

    @property
    def name(self) -> str:
        return f"{'pv' if self.kind == 'pv' else 'wt'}{self.bus}"


DaySelection = Literal["random", "consecutive"]
DAY_SELECTIONS: tuple[str, ...] = ("random", "consecutive")


@dataclass(frozen=True, eq=False)
class FeederYear:
    """The year of 15-minute profiles that drives a real feeder's days (SPEC §9), aggregated per agent.

    ``load_p_kw`` / ``load_q_kvar``: ``(steps, n_TA)``, one column per transformer area in the scenario's order (every
    load of its bus summed); ``site_weather_kw`` / ``site_fixed_kw``: ``(steps, n_sites)`` per renewable site in the
    scenario's order, split into the generators whose day-ahead forecast carries a weather error (PV, wind) and those
    dispatched to their profile (biomass, hydro).  ``split`` is the fixed / shiftable / curtailable share of every
    load; ``day_selection`` how a run's day ``d`` picks its day of the year (``random``: drawn from the day seed;
    ``consecutive``: from the run's start day); ``error_scale`` scales the weather model's forecast errors.
    """

    load_p_kw: np.ndarray = field(metadata={"unit": "kW"})
    load_q_kvar: np.ndarray = field(metadata={"unit": "kvar"})
    site_weather_kw: np.ndarray = field(metadata={"unit": "kW"})
    site_fixed_kw: np.ndarray = field(metadata={"unit": "kW"})
    split: tuple[float, float, float] = field(metadata={"unit": "1", "doc": "fixed, shiftable, curtailable"})
    day_selection: DaySelection = field(default="random", metadata={"unit": ""})
    error_scale: float = field(default=1.0, metadata={"unit": "1"})
    calendar_year: int = field(default=2016, metadata={"unit": ""})
    steps_per_day: int = field(default=96, metadata={"unit": "1"})

    def __post_init__(self) -> None:
        for name in ("load_p_kw", "load_q_kvar", "site_weather_kw", "site_fixed_kw"):
            arr = getattr(self, name)
            if not (isinstance(arr, np.ndarray) and arr.dtype == np.float64 and not arr.flags.writeable):
                arr = _frozen_array(arr)  # a read-only float array (the network's own sums) is shared, not copied
            object.__setattr__(self, name, arr)

    @property
    def n_days(self) -> int:
        """Whole days in the profiles (366 for SimBench's 2016)."""
        return int(self.load_p_kw.shape[0] // self.steps_per_day)

    def rows(self, day_index: int) -> slice:
        """The profile rows of day ``day_index`` (0-based day of the year)."""
        if not 0 <= day_index < self.n_days:
            raise ValueError(f"profiles of {self.calendar_year}: day {day_index + 1} outside 1..{self.n_days}")
        return slice(day_index * self.steps_per_day, (day_index + 1) * self.steps_per_day)


@dataclass(frozen=True, eq=False)
class DRAggregate:
    """A DR aggregate (SPEC §5.1): ``peak_kw`` × the load shape, split fixed / shiftable / curtailable."""

    bus: int = field(metadata={"unit": "bus"})
    peak_kw: float = field(metadata={"unit": "kW"})
    split: tuple[float, float, float] = field(metadata={"unit": "1", "doc": "fixed, shiftable, curtailable"})
    load_kw: np.ndarray = field(metadata={"unit": "kW", "doc": "24 hourly values before any response"})

    def __post_init__(self) -> None:
        object.__setattr__(self, "load_kw", _frozen_array(self.load_kw))


@dataclass(frozen=True)
class EVStation:
    """An EV station (SPEC §5.1) and the size of its fleet (SPEC §3.7)."""

    bus: int = field(metadata={"unit": "bus"})
    n_evs: int = field(metadata={"unit": "vehicles"})

    @property
    def name(self) -> str:
        return f"EV{self.bus}"


@dataclass(frozen=True)
class BisectionSpec:
    """Rolling-price bisection, SPEC §5.6 variant A with the upstream supply step of §6.7 `[default]`
    (the arguments of ``bisection_prices``)."""

    p0: float = field(default=0.11, metadata={"unit": "USD/kWh", "doc": "initial price (004)"})
    p_min: float = field(default=0.03, metadata={"unit": "USD/kWh"})
    p_max: float = field(default=0.25, metadata={"unit": "USD/kWh"})
    xi: float = field(default=0.01, metadata={"unit": "1", "doc": "eq. 34 convergence coefficient"})
    max_iter: int = field(default=50, metadata={"unit": "iterations", "doc": "D_max"})
    tol_z_kw: float = field(default=1.0, metadata={"unit": "kW", "doc": "excess demand counted as zero"})
    upstream_supply: bool = field(default=True, metadata={
        "unit": "", "doc": "count the upstream grid as supply at its price (SPEC §6.7; off: variant A as written)"})
    curtail_surplus: bool = field(default=True, metadata={
        "unit": "", "doc": "a surplus left at p_min clears by curtailing local renewables (free disposal); "
                           "off: it is reported as not cleared"})

    def __post_init__(self) -> None:
        if not (math.isfinite(self.p_min) and self.p_min > 0):
            raise ValueError(f"market.bisection.p_min must be a price > 0 USD/kWh, got {self.p_min}")
        if not (math.isfinite(self.p_max) and self.p_max > self.p_min):
            raise ValueError(f"market.bisection.p_max must be a price above p_min = {self.p_min}, got {self.p_max}")
        if not self.p_min <= self.p0 <= self.p_max:
            raise ValueError(f"market.bisection.p0 must lie in [p_min, p_max] = [{self.p_min}, {self.p_max}], "
                             f"got {self.p0}")
        if not 0 < self.xi <= 1:
            raise ValueError(f"market.bisection.xi must be in (0, 1], got {self.xi}")
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, int) or not 1 <= self.max_iter <= 10_000:
            raise ValueError(f"market.bisection.max_iter must be a whole number in 1..10000, got {self.max_iter}")
        if not (math.isfinite(self.tol_z_kw) and self.tol_z_kw >= 0):
            raise ValueError(f"market.bisection.tol_z_kw must be >= 0 kW, got {self.tol_z_kw}")

    def kwargs(self) -> dict[str, float | int]:
        """Keyword arguments for :func:`market.pricing.bisection_prices`."""
        return {"p0": self.p0, "p_min": self.p_min, "p_max": self.p_max, "xi": self.xi,
                "max_iter": self.max_iter, "tol_z": self.tol_z_kw}


@dataclass(frozen=True)
class MarketSpec(BargainingSpec):
    """Market settings of IEEE-33: the bargaining's (:class:`BargainingSpec`), CL-2 efficiency and the bisection
    (§5.6)."""

    exchange_efficiency: float = field(default=1.0, metadata={"unit": "1", "doc": "eta^x of CL-2"})
    bisection: BisectionSpec = field(default_factory=BisectionSpec)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.exchange_efficiency <= 1:
            raise ValueError(f"market.exchange_efficiency must be in (0, 1], got {self.exchange_efficiency}")


@dataclass(frozen=True)
class DayAheadTariffSpec:
    """The DSO's day-ahead TOU design (SPEC §5.3): partition, prices, bounds and cost coefficients.

    ``partition`` labels each hour ``valley``/``flat``/``peak``; ``upstream_prices`` is ``p_t`` per
    label.  TOU-1 bounds are ``price_min_factor``/``price_max_factor`` × ``reference_price`` (π^0);
    ``revenue_neutral`` switches TOU-2 on.  The λ's are USD/kWh; ``lambda_om``, ``lambda_tran``,
    ``lambda_cut`` and ``c_ev`` are also what the clusters, transformer areas and EVs of the scenario
    were built with (one value per symbol).
    """

    partition: tuple[str, ...] = field(metadata={"unit": "", "doc": "period type of each hour"})
    upstream_prices: Mapping[str, float] = field(metadata={"unit": "USD/kWh"})
    reference_price: float = field(default=0.11, metadata={"unit": "USD/kWh", "doc": "pi^0"})
    price_min_factor: float = field(default=0.5, metadata={"unit": "1", "doc": "pi^min / pi^0"})
    price_max_factor: float = field(default=2.0, metadata={"unit": "1", "doc": "pi^max / pi^0"})
    revenue_neutral: bool = field(default=True, metadata={"unit": "", "doc": "TOU-2 on"})
    lambda_pv: float = field(default=0.10, metadata={"unit": "USD/kWh"})
    lambda_wt: float = field(default=0.10, metadata={"unit": "USD/kWh"})
    lambda_om: float = field(default=0.01, metadata={"unit": "USD/kWh"})
    lambda_tran: float = field(default=0.02, metadata={"unit": "USD/kWh"})
    lambda_cut: float = field(default=0.05, metadata={"unit": "USD/kWh"})
    lambda_tp: float = field(default=0.0, metadata={"unit": "USD/kW", "doc": "peak charge on max |P^sub|"})
    c_ev: float = field(default=0.01, metadata={"unit": "USD/kWh"})

    @property
    def price_min(self) -> float:
        return self.price_min_factor * self.reference_price

    @property
    def price_max(self) -> float:
        return self.price_max_factor * self.reference_price

    @property
    def upstream_price_hourly(self) -> np.ndarray:
        """``p_t`` for every hour of ``partition`` (USD/kWh)."""
        return np.array([self.upstream_prices[label] for label in self.partition], dtype=float)


@dataclass(frozen=True, eq=False)
class IEEE33Scenario:
    """The IEEE-33 scenario of paper 004 (SPEC §5): feeder, clusters, TAs, EV stations, market, tariff.

    Hourly arrays have ``len(tariff.partition)`` (24) entries; per-bus arrays follow ``feeder.buses``.
    ``transformer_areas`` has one TA per load bus (bus order), including the DR buses and the EV
    station buses; ``clusters`` partition the feeder's buses.  Fleets are sampled by
    :func:`scenarios.ieee33_loader.fleet`.
    """

    name: str
    description: str
    seed: int
    network: NetworkSpec
    feeder: Feeder
    clusters: tuple[ClusterParams, ...]
    transformer_areas: tuple[TransformerAreaParams, ...]
    dr_aggregates: tuple[DRAggregate, ...]
    renewables: tuple[RenewableSite, ...]
    ev_stations: tuple[EVStation, ...]
    fleet_spec: FleetSpec
    market: MarketSpec
    tariff: DayAheadTariffSpec
    load_shape: np.ndarray  # 24 hourly values, normalised (peak 1)
    intraday_horizon: Horizon
    currency: str = "USD"
    source: Path | None = None
    #: the ``[behaviours]`` table: agent name or type -> behaviour (SPEC §8; empty: everyone truthful)
    behaviours: Mapping[str, Any] = field(default_factory=dict)
    #: a real feeder's year of profiles (SPEC §9); ``None``: the weather model and the load shape make the days
    year: FeederYear | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "load_shape", _frozen_array(self.load_shape))

    # ---------------------------------------------------------------- look-ups
    @property
    def cluster_names(self) -> list[str]:
        return [c.name for c in self.clusters]

    def cluster(self, name: str) -> ClusterParams:
        for c in self.clusters:
            if c.name == name:
                return c
        raise KeyError(f"scenario {self.name}: no cluster named {name!r}; clusters are {self.cluster_names}")

    def cluster_of(self, bus: int) -> ClusterParams:
        for c in self.clusters:
            if bus in c.buses:
                return c
        raise KeyError(f"scenario {self.name}: bus {bus} is in no cluster")

    def transformer_area(self, bus: int) -> TransformerAreaParams:
        for ta in self.transformer_areas:
            if ta.bus == bus:
                return ta
        raise KeyError(f"scenario {self.name}: no transformer area at bus {bus}")

    def sites(self, kind: RenewableKind) -> tuple[RenewableSite, ...]:
        return tuple(s for s in self.renewables if s.kind == kind)

    def capacity_kw(self, kind: RenewableKind) -> float:
        """Installed PV or wind capacity (kW)."""
        return float(sum(s.capacity_kw for s in self.sites(kind)))

    # ---------------------------------------------------------------- derived profiles
    @property
    def da_horizon(self) -> Horizon:
        return Horizon(len(self.tariff.partition), 24.0 / len(self.tariff.partition))

    @property
    def base_load_kw(self) -> np.ndarray:
        """Per-bus base load of the feeder times ``network.load_scale`` (kW; the peak snapshot, no DR)."""
        return self.network.load_scale * self.feeder.p_load_kw

    def cluster_base_load_kw(self, name: str) -> float:
        """Sum of :attr:`base_load_kw` over a cluster's buses (kW; SPEC §5.1 table: 2120 / 675 / 920)."""
        pos = self.feeder.bus_position
        return float(sum(self.base_load_kw[pos[b]] for b in self.cluster(name).buses))

    def _per_bus(self, values: dict[int, np.ndarray]) -> np.ndarray:
        out = np.zeros((len(self.load_shape), self.feeder.n_buses))
        pos = self.feeder.bus_position
        for bus, v in values.items():
            out[:, pos[bus]] += v
        return out

    @property
    def bus_load_kw(self) -> np.ndarray:
        """Active load per hour and bus before any response (TA base loads; no EVs, no storage), kW."""
        return self._per_bus({ta.bus: ta.base_load_kw for ta in self.transformer_areas})

    @property
    def bus_q_kvar(self) -> np.ndarray:
        """Reactive load per hour and bus at the TAs' Q/P ratios (kvar)."""
        return self._per_bus({ta.bus: ta.q_per_p * ta.base_load_kw for ta in self.transformer_areas})

    @property
    def bus_available_gen_kw(self) -> np.ndarray:
        """Forecast PV + wind per hour and bus (kW, unity power factor)."""
        out: dict[int, np.ndarray] = {}
        for s in self.renewables:
            out[s.bus] = out.get(s.bus, np.zeros(len(self.load_shape))) + s.forecast_kw
        return self._per_bus(out)

    # ---------------------------------------------------------------- variants
    def with_evs_per_station(self, n_evs: int) -> IEEE33Scenario:
        """The same scenario with ``n_evs`` vehicles at every station (``--evs-per-station``)."""
        if isinstance(n_evs, bool) or not isinstance(n_evs, int) or n_evs < 0:
            raise ValueError(f"scenario {self.name}: evs per station must be an integer >= 0, got {n_evs!r}")
        return replace(self, ev_stations=tuple(EVStation(st.bus, n_evs) for st in self.ev_stations))


# ============================================================================ rural IES (paper 002, SPEC §3.8, §6.4)

#: The rural_ies scenario is exactly one campus's parameters: the dataclass lives beside the agent that
#: uses it (:class:`agents.rural_campus.RuralCampusParams`); the scenario-level name is an alias.
RuralIESScenario = RuralCampusParams
#: Paper 002's uncertainty settings, an alias of :class:`agents.rural_campus.RuralUncertaintyParams`.
RuralUncertaintySpec = RuralUncertaintyParams

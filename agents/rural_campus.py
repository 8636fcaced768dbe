r"""The rural biogas-power-heat campus of paper 002 as a two-stage LP (SPEC §3.8, §3.6b, §6.4).

First stage ``x``: the day-ahead trading power ``P^tr_t`` (24 × 1 h, bounds of the scenario), cost
``C^DA = Σ_t p_t P^tr_t Δt``.  Recourse of reference sample ``k`` (the realised day
``P^v = P^{v,f}(1+u^v_k)``, ``P^d = P^{d,f}(1+u^p_k)``, ``H^d = H^{d,f}(1+u^h_k)``): intraday buy/sell,
biogas generator fed by the digester and gas holder, waste-heat recovery, electric boiler, heat
pump, power storage (no binary), heat storage, transferable load, PV curtailment with a penalty and
the slacks below, with BAL2-E and BAL2-H every hour; its cost is 002's intraday cost ``Q`` (SPEC
§3.8) plus the curtailment penalty and the slack cost.  The model is a pure LP: no binary or integer
column anywhere (checked by the tests).

Relatively complete recourse (SPEC §6.4, §6.6 step 4)
----------------------------------------------------
:class:`agents.decision.uncertainty.TwoStageDRO` needs ``Q(x, u_k) < ∞`` for every ``x ∈ X`` and every sample.
Two things could break it:

* *too much power* (``P^tr`` at its upper bound, PV +30 %, loads −30 %): PV curtailment
  (``pv.curtailment_cost_per_kwh``, SPEC §3.8 `[proposed]`) and the intraday sale absorb it at the
  default data, but not for every scenario a user may write (``P^tr`` bound above the sale limit);
* *too little* (``P^tr`` at its lower bound, loads +30 %, PV −30 %): covered by the intraday
  purchase at the default data, but not if the purchase limit is cut.

So every recourse copy carries three non-negative slacks per hour, priced at
``VOLL = voll_factor × the highest price of the day`` (SPEC §6.6 step 4; 12 CNY/kWh by default):
``shed_kw`` (power load not served), ``spill_kw`` (power that cannot be absorbed) and
``heat_shortfall_kw`` (heat load not served; heat never needs a spill, since every heat source can
be turned down to 0 and the generator's heat is vented).  With them ``Y(x, u)`` is non-empty for every
``x`` and ``u``.  At the default data the slacks stay at 0 even in the ±30 % worst case with ``P^tr`` at
either bound (test ``test_worst_case_recourse_needs_no_slack``).  The gas chain (generator + holder)
depends on neither ``x`` nor ``u``; its feasibility is checked once by the loader.

Public API
----------
* :class:`RuralCampusParams` (with :class:`RuralUncertaintyParams`) — one campus's devices, profiles and
  decision settings; the ``rural_ies`` scenario is exactly this (``scenarios.schema.RuralIESScenario``).
* :data:`RURAL_DEFAULTS` (:class:`RuralDefaults`) — the SPEC §3.8 defaults table of the devices and prices.
* :func:`sample_errors` — ``M`` historical error days → ``K`` reference samples with weights ``p0``.
* :class:`RuralCampus` — builds the :class:`~agents.decision.uncertainty.TwoStageLP` from a scenario and samples.
* :func:`build_rural_day` → :class:`RuralDay` (samples, Ψ and one persistent :class:`TwoStageDRO`;
  solve many methods on it, extract the tidy dispatch of any plan);
* :func:`solve_rural_day` — the one-call version: sample, build, solve one method, extract.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mesa
import numpy as np
import pandas as pd
import pyomo.core as pyo

from agents.decision.uncertainty import (
    METHODS,
    AmbiguitySet,
    DROResult,
    Evaluation,
    TwoStageDRO,
    TwoStageLP,
    ambiguity_radii,
    check_method,
    historical_errors,
    reference_samples,
)
from agents.devices.biogas import (
    BiogasGeneratorParams,
    BiogasStorageParams,
    build_biogas_generator,
    build_biogas_storage,
)
from agents.devices.core import (
    DA_HORIZON,
    Bus,
    DeviceHandle,
    HeatBus,
    Horizon,
    close_rural_buses,
    hold_hourly,
    param_values,
)
from agents.devices.demand import TransferableLoadParams, build_fixed_load, build_transferable_load
from agents.devices.grid import DayAheadTradeParams, IntradayTradeParams, build_da_trading, build_intraday_trading
from agents.devices.heat import (
    ElectricBoilerParams,
    HeatPumpParams,
    build_electric_boiler,
    build_heat_pump,
    build_waste_heat_recovery,
)
from agents.devices.renewables import RenewableParams, build_renewable
from agents.devices.storage import BatteryParams, HeatStorageParams, build_heat_storage, build_power_storage
from agents.milp import SolverOptions

log = logging.getLogger(__name__)

#: Order of the error series in :func:`agents.decision.uncertainty.historical_errors`:
#: u^v (PV), u^p (power load), u^h (heat).
ERROR_SERIES = ("pv", "power_load", "heat_load")

#: Tidy dispatch columns (DESIGN principle 9).
DISPATCH_COLUMNS = ("method", "sample", "period", "entity", "variable", "value", "unit")


# ====================================================================== parameters


@dataclass(frozen=True)
class RuralUncertaintyParams:
    """How the rural campus handles uncertainty: reference samples, ambiguity set and solution method of
    paper 002's constrained DRO (SPEC §6.4).

    ``M`` historical error days (AR(1) with coefficient ``ar1_phi``, marginal ``N(0, sigma²)``, clipped
    to ``±error_bound``) are reduced to ``K`` reference samples by k-means; Ψ has the radii of CD-4 for
    the confidence levels ``alpha_1``, ``alpha_inf``.  ``method`` (one of
    :data:`agents.decision.uncertainty.METHODS`) is how the campus makes its day-ahead decision; ``lam`` is λ of
    CD-2, ``epsilon`` the C&CG relative gap and ``cvar_beta`` the level of method ``"cvar"``.
    (:data:`scenarios.schema.RuralUncertaintySpec` is an alias of this class.)
    """

    method: str = field(default="cdro", metadata={"unit": "", "doc": "so, ro, dro, cdro or cvar"})
    M: int = field(default=200, metadata={"unit": "days", "doc": "historical observations"})
    K: int = field(default=50, metadata={"unit": "samples", "doc": "reference samples (k-means clusters)"})
    alpha_inf: float = field(default=0.99, metadata={"unit": "1", "doc": "confidence of the inf-norm bound"})
    alpha_1: float = field(default=0.95, metadata={"unit": "1", "doc": "confidence of the 1-norm bound"})
    lam: float = field(default=0.2, metadata={"unit": "1", "doc": "lambda of CD-2, in [0, 1]"})
    error_bound: float = field(default=0.30, metadata={"unit": "1", "doc": "relative error bound"})
    ar1_phi: float = field(default=0.7, metadata={"unit": "1", "doc": "AR(1) coefficient of the errors"})
    sigma: float = field(default=0.1, metadata={"unit": "1", "doc": "marginal std of the relative errors"})
    epsilon: float = field(default=1e-4, metadata={"unit": "1", "doc": "C&CG relative gap"})
    cvar_beta: float = field(default=0.8, metadata={"unit": "1", "doc": "CVaR level of method 'cvar'"})

    def __post_init__(self) -> None:
        def bad(name: str, allowed: str) -> ValueError:
            return ValueError(f"uncertainty.{name} = {getattr(self, name)!r}: must be {allowed}")

        if self.method not in METHODS:
            raise bad("method", f"one of {', '.join(METHODS)}")
        for name in ("M", "K"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise bad(name, "a whole number >= 1")
        if self.K > self.M:
            raise bad("K", f"<= M = {self.M} (k-means needs at least K historical days)")
        for name in ("alpha_inf", "alpha_1"):
            if not 0 < getattr(self, name) < 1:
                raise bad(name, "in (0, 1)")
        if not 0 <= self.lam <= 1:
            raise bad("lam", "in [0, 1]")
        if not 0 < self.error_bound < 1:
            raise bad("error_bound", "in (0, 1)")
        if not 0 <= self.ar1_phi < 1:
            raise bad("ar1_phi", "in [0, 1)")
        if not (math.isfinite(self.sigma) and self.sigma > 0):
            raise bad("sigma", "> 0")
        if not (math.isfinite(self.epsilon) and self.epsilon >= 0):
            raise bad("epsilon", ">= 0")
        if not 0 <= self.cvar_beta < 1:
            raise bad("cvar_beta", "in [0, 1)")


@dataclass(frozen=True, eq=False)
class RuralCampusParams:
    """The parameters of one rural biogas-power-heat campus of paper 002 (SPEC §3.8, §3.6b, §6.4).

    This is all a :class:`RuralCampus` needs, and all the ``rural_ies`` scenario holds
    (:data:`scenarios.schema.RuralIESScenario` is an alias of this class).

    Device parameters are the dataclasses of :mod:`agents.devices` (biogas, heat, storage, demand, grid;
    :class:`~agents.devices.storage.BatteryParams` / :class:`~agents.devices.renewables.RenewableParams` for
    the power storage and the PV plant).  Profiles have ``horizon.n`` (24) hourly values: the forecasts
    ``power_load_kw``, ``heat_load_kw`` (kW_th), ``pv_forecast_kw`` and the digester output
    ``biogas_production_m3_per_h``; the day-ahead price ``da_price`` (``p_t``) and the intraday
    ``buy_price``/``sell_price`` (currency/kWh).  ``voll_factor`` prices the recourse slacks at
    :attr:`voll_per_kwh` (SPEC §6.6 step 4).
    """

    name: str
    description: str
    seed: int
    pv: RenewableParams
    biogas_generator: BiogasGeneratorParams
    biogas_storage: BiogasStorageParams
    electric_boiler: ElectricBoilerParams
    heat_pump: HeatPumpParams
    power_storage: BatteryParams
    heat_storage: HeatStorageParams
    transferable_load: TransferableLoadParams
    da_trading: DayAheadTradeParams
    intraday_trading: IntradayTradeParams
    uncertainty: RuralUncertaintyParams
    voll_factor: float = field(metadata={"unit": "1", "doc": "VOLL / highest price of the day"})
    power_load_kw: np.ndarray = field(metadata={"unit": "kW", "doc": "power-load forecast P^{d,f}_t"})
    heat_load_kw: np.ndarray = field(metadata={"unit": "kW_th", "doc": "heat-load forecast H^{d,f}_t"})
    pv_forecast_kw: np.ndarray = field(metadata={"unit": "kW", "doc": "PV forecast P^{v,f}_t"})
    biogas_production_m3_per_h: np.ndarray = field(metadata={"unit": "m3/h", "doc": "digester output G^prod_t"})
    da_price: np.ndarray = field(metadata={"unit": "currency/kWh", "doc": "day-ahead price p_t"})
    buy_price: np.ndarray = field(metadata={"unit": "currency/kWh", "doc": "intraday purchase price c^buy_t"})
    sell_price: np.ndarray = field(metadata={"unit": "currency/kWh", "doc": "intraday sale price c^sell_t"})
    horizon: Horizon = DA_HORIZON
    currency: str = "CNY"
    source: Path | None = None
    #: the scenario's ``[behaviours]`` table: the campus's name or ``RuralCampusAgent`` -> behaviour (SPEC §8;
    #: empty: truthful); read by :mod:`sim.systems.rural_ies.day` (only ``risk`` has something to act on)
    behaviours: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("power_load_kw", "heat_load_kw", "pv_forecast_kw", "biogas_production_m3_per_h",
                     "da_price", "buy_price", "sell_price"):
            arr = np.array(getattr(self, name), dtype=float)
            arr.setflags(write=False)
            if arr.shape != (self.horizon.n,):
                raise ValueError(f"scenario {self.name}: {name} must have {self.horizon.n} values, got {arr.shape}")
            object.__setattr__(self, name, arr)

    @property
    def voll_per_kwh(self) -> float:
        """Value of lost load: ``voll_factor`` × the highest day-ahead or intraday purchase price."""
        return float(self.voll_factor * max(self.da_price.max(), self.buy_price.max()))

    @property
    def power_load_peak_kw(self) -> float:
        return float(self.power_load_kw.max())

    @property
    def heat_load_peak_kw(self) -> float:
        return float(self.heat_load_kw.max())


# ====================================================================== defaults (SPEC §3.8 table)


# valley t=1..7 and 24; peak t=8..10 and 19..22; flat otherwise, 0.55 at t=14  [default] SPEC §3.8 (Fig. 3 missing)
_DA_PRICE_HOURLY = np.array(
    [0.35] * 7 + [1.00] * 3 + [0.65] * 3 + [0.55] + [0.65] * 4 + [1.00] * 4 + [0.65, 0.35]
)


@dataclass(frozen=True)
class RuralDefaults:
    """The defaults table of SPEC §3.8 (002's Table 1 is missing).  Every value is ``[default]``."""

    pv_capacity_kw: float = 300.0  # [default] SPEC §3.8: PV capacity
    power_load_peak_kw: float = 400.0  # [default] SPEC §3.8: power-load peak
    heat_load_peak_kw: float = 300.0  # [default] SPEC §3.8: heat-load peak (kW_th)
    forecast_error_frac: float = 0.30  # [paper] 002 §4: prediction error within ±30 % of the forecast
    biogas_generator: BiogasGeneratorParams = field(default_factory=lambda: BiogasGeneratorParams(
        p_min_kw=30.0, p_max_kw=150.0,  # [default] SPEC §3.8: P^g,min, P^g,max
        lhv_kwh_per_m3=6.0,  # [default] SPEC §3.8: H (biogas LHV)
        eta_power=0.35, eta_heat=0.45,  # [default] SPEC §3.8: eta_p, eta_h
        gas_cost_per_m3=0.20,  # [default] SPEC §3.8: c^G
    ))
    biogas_production_m3_per_h: float = 60.0  # [default] SPEC §3.8: G^prod (constant)
    biogas_storage: BiogasStorageParams = field(default_factory=lambda: BiogasStorageParams(
        capacity_m3=600.0, s_initial_m3=300.0,  # [default] SPEC §3.8: S^G,max, S^G_0
        s_min_m3=0.0,  # [default] not in SPEC: empty holder allowed
    ))
    electric_boiler: ElectricBoilerParams = field(default_factory=lambda: ElectricBoilerParams(
        p_max_kw=150.0, efficiency=0.95))  # [default] SPEC §3.8: EB Pbar^b, eta_b
    heat_pump: HeatPumpParams = field(default_factory=lambda: HeatPumpParams(
        p_max_kw=100.0, cop=3.5))  # [default] SPEC §3.8: HP Pbar^hp, COP
    power_storage: BatteryParams = field(default_factory=lambda: BatteryParams(
        capacity_kwh=400.0, p_charge_max_kw=100.0, p_discharge_max_kw=100.0,  # [default] SPEC §3.8
        soc_min_frac=0.1, soc_max_frac=0.9, soc_initial_frac=0.5,  # [default] SPEC §3.8: SOC 10-90 %, E_0 50 %
        eta_charge=0.95, eta_discharge=0.95,  # [default] SPEC §3.8: eta = 0.95
    ))
    heat_storage: HeatStorageParams = field(default_factory=lambda: HeatStorageParams(
        capacity_kwh=300.0, h_charge_max_kw=100.0, h_discharge_max_kw=100.0,  # [default] SPEC §3.8
        loss_per_h=0.01,  # [default] SPEC §3.8: rho = 0.01/h
        soc_min_frac=0.0, soc_max_frac=1.0, soc_initial_frac=0.5,  # [default] not in SPEC
    ))
    da_trading: DayAheadTradeParams = field(default_factory=lambda: DayAheadTradeParams(
        p_min_kw=0.0, p_max_kw=500.0))  # [default] SPEC §3.8: P^tr bounds 0...500 kW
    intraday_trading: IntradayTradeParams = field(default_factory=lambda: IntradayTradeParams(
        p_buy_max_kw=500.0, p_sell_max_kw=500.0))  # [default] not in SPEC: taken equal to the P^tr bound
    intraday_buy_factor: float = 1.2  # [default] SPEC §3.8: c^buy_t = 1.2 p_t
    intraday_sell_factor: float = 0.5  # [default] SPEC §3.8: c^sell_t = 0.5 p_t
    transferable_load: TransferableLoadParams = field(default_factory=lambda: TransferableLoadParams(
        window_start_h=13.0, window_end_h=17.0,  # [default] SPEC §3.6b/§3.8: periods 14..17 (13:00-17:00)
        load_kw=60.0,  # [default] SPEC §3.8: transferable load 60 kW
        cost_up_per_kwh=0.05, cost_down_per_kwh=0.05,  # [default] SPEC §3.8: c^up = c^dn
    ))

    def da_price(self, horizon: Horizon = DA_HORIZON) -> np.ndarray:
        """Day-ahead price p_t on ``horizon`` (hourly TOU of SPEC §3.8 `[default]`, held on finer grids)."""
        return hold_hourly(_DA_PRICE_HOURLY, horizon)

    def intraday_prices(self, horizon: Horizon = DA_HORIZON) -> tuple[np.ndarray, np.ndarray]:
        """``(c^buy_t, c^sell_t) = (1.2 p_t, 0.5 p_t)`` on ``horizon`` `[default]`."""
        p = self.da_price(horizon)
        return self.intraday_buy_factor * p, self.intraday_sell_factor * p

    def biogas_production(self, horizon: Horizon = DA_HORIZON) -> np.ndarray:
        """Constant digester output ``G^prod_t`` on ``horizon`` `[default]`."""
        return np.full(horizon.n, self.biogas_production_m3_per_h)


#: The SPEC §3.8 defaults (all ``[default]``); derive variants with :func:`dataclasses.replace`.
RURAL_DEFAULTS = RuralDefaults()


# ====================================================================== reference samples


@dataclass(frozen=True, eq=False)
class ErrorSamples:
    """``K`` reference samples of relative forecast errors and their historical weights ``p_{k,0}``.

    ``u_pv``, ``u_power``, ``u_heat`` have shape ``(K, T)``; the realised day of sample ``k`` is
    ``forecast × (1 + u[k])``.  ``M`` is the number of historical days they were reduced from.
    """

    u_pv: np.ndarray
    u_power: np.ndarray
    u_heat: np.ndarray
    p0: np.ndarray
    M: int

    def __post_init__(self) -> None:
        shapes = {a.shape for a in (self.u_pv, self.u_power, self.u_heat)}
        if len(shapes) != 1 or len(next(iter(shapes))) != 2:
            raise ValueError(f"ErrorSamples: u_pv, u_power, u_heat must share one (K, T) shape, got {shapes}")
        K = self.u_pv.shape[0]
        p0 = np.asarray(self.p0, dtype=float)
        if p0.shape != (K,) or np.any(p0 < 0) or abs(p0.sum() - 1.0) > 1e-9:
            raise ValueError(f"ErrorSamples.p0 must hold K = {K} weights >= 0 summing to 1, got {p0}")
        if np.any(np.concatenate([self.u_pv, self.u_power, self.u_heat]) <= -1):
            raise ValueError("ErrorSamples: relative errors must be > -1 (a realised value cannot be negative)")
        for name in ("u_pv", "u_power", "u_heat", "p0"):
            arr = np.array(getattr(self, name), dtype=float)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    @property
    def K(self) -> int:
        return int(self.p0.size)

    def realised(self, scenario: RuralCampusParams, k: int) -> dict[str, np.ndarray]:
        """Realised PV, power load and heat load of sample ``k`` (``forecast × (1 + u_k)``)."""
        return {
            "pv_kw": scenario.pv_forecast_kw * (1.0 + self.u_pv[k]),
            "power_load_kw": scenario.power_load_kw * (1.0 + self.u_power[k]),
            "heat_load_kw": scenario.heat_load_kw * (1.0 + self.u_heat[k]),
        }


def sample_errors(scenario: RuralCampusParams, rng: np.random.Generator) -> ErrorSamples:
    """Draw ``M`` historical error days and reduce them to ``K`` reference samples (SPEC §6.4).

    :func:`agents.decision.uncertainty.historical_errors` draws ``(M, 3, T)`` relative errors (series in the
    order of :data:`ERROR_SERIES`; AR(1) ``ar1_phi``, marginal ``N(0, sigma²)``, clipped to
    ``±error_bound``) and :func:`agents.decision.uncertainty.reference_samples` reduces them by k-means to the
    cluster means with ``p_{k,0} = |cluster k| / M``.  Both draw from ``rng``, in that order.
    """
    u = scenario.uncertainty
    hist = historical_errors(rng, u.M, len(ERROR_SERIES), scenario.horizon.n, phi=u.ar1_phi, sigma=u.sigma,
                             bound=u.error_bound)
    centroids, p0, _ = reference_samples(hist, u.K, rng)
    return ErrorSamples(u_pv=centroids[:, 0, :], u_power=centroids[:, 1, :], u_heat=centroids[:, 2, :],
                        p0=p0, M=u.M)


# ====================================================================== the campus


def build_recourse_slacks(
    block: pyo.Block, horizon: Horizon, bus: Bus, heat: HeatBus, voll_per_kwh: float
) -> DeviceHandle:
    r"""Slacks that make the recourse relatively complete (SPEC §6.6 step 4, `[proposed]`).

    .. math::

        s^{shed}_t, s^{spill}_t, s^{heat}_t \ge 0,\qquad
        \text{cost } c^{VOLL}\textstyle\sum_t (s^{shed}_t + s^{spill}_t + s^{heat}_t)\Delta t

    Injections ``s^shed - s^spill`` on the electric bus and ``s^heat`` on the heat bus.  ``voll_per_kwh``
    is the mutable Param ``voll_per_kwh``.
    """
    T = horizon.periods
    dt = horizon.dt_h
    b = block
    b.T = pyo.Set(initialize=T, ordered=True, doc="periods")
    b.voll_per_kwh = pyo.Param(initialize=voll_per_kwh, mutable=True, doc="value of lost load [currency/kWh]")
    b.shed_kw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="power load not served [kW] (slack)")
    b.spill_kw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="power that cannot be absorbed [kW] (slack)")
    b.heat_shortfall_kw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="heat load not served [kW_th] (slack)")
    for t in T:
        bus.inject(t, b.shed_kw[t] - b.spill_kw[t])
        heat.inject(t, b.heat_shortfall_kw[t])
    bus.cost.append(b.voll_per_kwh * dt * pyo.quicksum(b.shed_kw[t] + b.spill_kw[t] for t in T))
    heat.cost.append(b.voll_per_kwh * dt * pyo.quicksum(b.heat_shortfall_kw[t] for t in T))
    return DeviceHandle(block=b, outputs={"shed_kw": (b.shed_kw, "kW"), "spill_kw": (b.spill_kw, "kW"),
                                          "heat_shortfall_kw": (b.heat_shortfall_kw, "kW_th")})


@dataclass(frozen=True)
class OutputSpec:
    """One extracted series of a recourse block: ``entity`` (sub-block), component, variable name, unit."""

    entity: str
    component: str
    variable: str
    unit: str
    is_var: bool


class RuralCampus:
    """Builder of paper 002's rural campus as a :class:`~agents.decision.uncertainty.TwoStageLP` (Mesa-free).

    ``two_stage_lp(samples)`` returns the problem; :class:`~agents.decision.uncertainty.TwoStageDRO` builds it
    once (first stage into ``m.fs``, recourse ``k`` into ``m.rec[k]``).  The sub-blocks of a recourse
    copy are the entities of the tidy dispatch: ``power_load``, ``heat_load``, ``pv``, ``grid``
    (intraday), ``transferable_load``, ``biogas_generator``, ``waste_heat``, ``biogas_storage``,
    ``electric_boiler``, ``heat_pump``, ``power_storage``, ``heat_storage``, ``slack``.
    """

    #: name of the first-stage variable in :attr:`DROResult.x` (relative to the first-stage block)
    X_NAME = "p_tr_kw"

    def __init__(self, scenario: RuralCampusParams, name: str | None = None) -> None:
        self.scenario = scenario
        self.name = name or scenario.name
        self._outputs: list[OutputSpec] | None = None

    # ------------------------------------------------------------------ builders
    def build_first_stage(self, block: pyo.Block) -> tuple[Any, list[Any]]:
        """``P^tr_t`` in ``[p_min_kw, p_max_kw]`` with cost ``C^DA`` (``block.cost``).

        Built with :func:`~agents.devices.grid.build_da_trading` and no buses: the recourse copies
        inject ``P^tr_t`` into their own buses (:meth:`build_recourse`).
        """
        s = self.scenario
        build_da_trading(block, s.da_trading, s.horizon, s.da_price, [])
        return block.cost, [block.p_tr_kw]

    def build_recourse(
        self, block: pyo.Block, realised: Mapping[str, np.ndarray], first_stage: pyo.Block
    ) -> Any:
        """Intraday dispatch of one realised day (``pv_kw``, ``power_load_kw``, ``heat_load_kw``) into
        ``block``, given the first stage ``first_stage.p_tr_kw``; returns the recourse cost expression."""
        s = self.scenario
        h = s.horizon
        bus, heat = Bus(h), HeatBus(h)
        b = block
        for t in h.periods:
            bus.inject(t, first_stage.p_tr_kw[t])  # BAL2-E: + P^tr_t
        handles: dict[str, DeviceHandle] = {}

        def sub(name: str) -> pyo.Block:
            blk = pyo.Block()
            b.add_component(name, blk)
            return blk

        handles["power_load"] = build_fixed_load(sub("power_load"), h, bus, realised["power_load_kw"])
        handles["heat_load"] = build_fixed_load(sub("heat_load"), h, heat, realised["heat_load_kw"])
        handles["pv"] = build_renewable(sub("pv"), s.pv, h, bus, realised["pv_kw"])
        handles["grid"] = build_intraday_trading(sub("grid"), s.intraday_trading, h, bus, s.buy_price, s.sell_price)
        handles["transferable_load"] = build_transferable_load(sub("transferable_load"), s.transferable_load, h, bus)
        gen = build_biogas_generator(sub("biogas_generator"), s.biogas_generator, h, bus)
        handles["biogas_generator"] = gen
        handles["waste_heat"] = build_waste_heat_recovery(sub("waste_heat"), h, heat, gen.block.heat_kw)
        handles["biogas_storage"] = build_biogas_storage(sub("biogas_storage"), s.biogas_storage, h,
                                                         s.biogas_production_m3_per_h, [gen.block.gas_m3_per_h])
        handles["electric_boiler"] = build_electric_boiler(sub("electric_boiler"), s.electric_boiler, h, bus, heat)
        handles["heat_pump"] = build_heat_pump(sub("heat_pump"), s.heat_pump, h, bus, heat)
        handles["power_storage"] = build_power_storage(sub("power_storage"), s.power_storage, h, bus)
        handles["heat_storage"] = build_heat_storage(sub("heat_storage"), s.heat_storage, h, heat)
        handles["slack"] = build_recourse_slacks(sub("slack"), h, bus, heat, s.voll_per_kwh)
        close_rural_buses(b, bus, heat)
        if self._outputs is None:
            self._outputs = [
                OutputSpec(entity, comp.local_name, var_name, unit, isinstance(comp, pyo.Var))
                for entity, handle in handles.items() for var_name, (comp, unit) in handle.outputs.items()
            ]
        return b.cost

    def two_stage_lp(self, samples: ErrorSamples) -> TwoStageLP:
        """The two-stage LP over the reference samples (``n_samples = samples.K``)."""
        s = self.scenario

        def recourse(block: Any, k: int, first_stage: Any) -> Any:
            return self.build_recourse(block, samples.realised(s, k), first_stage)

        return TwoStageLP(samples.K, self.build_first_stage, recourse, name=self.name)

    @property
    def outputs(self) -> list[OutputSpec]:
        """What :func:`dispatch_frame` extracts per sample (known once a recourse has been built)."""
        if self._outputs is None:
            raise RuntimeError("RuralCampus.outputs: no recourse block has been built yet")
        return list(self._outputs)


# ====================================================================== one day: samples, Ψ, persistent DRO


class RuralCampusAgent(mesa.Agent):  # type: ignore[misc]
    """The rural campus as a Mesa agent of a simulation run: its builder and its persistent models.

    ``models`` holds what the run keeps for the whole run (the DA master over the reference samples
    and the realised-day model, set by the system that builds the agent); a new day writes data into
    them and re-solves.  002's storages close their day (E_T = E_0), so the agent carries no energy
    over midnight.
    """

    def __init__(self, model: mesa.Model, params: RuralCampusParams, name: str | None = None) -> None:
        super().__init__(model)
        self.params = params
        self.name = name or params.name
        self.campus = RuralCampus(params, self.name)
        self.models: Any = None


@dataclass
class RuralDayResult:
    """A solved day: the method's :class:`DROResult`, the tidy ``dispatch`` of its plan on every sample
    (:data:`DISPATCH_COLUMNS`), per-sample costs and the :class:`RuralDay` it came from."""

    result: DROResult
    evaluation: Evaluation
    dispatch: pd.DataFrame
    sample_costs: pd.DataFrame
    day: RuralDay


@dataclass
class RuralDay:
    """Reference samples, Ψ and one persistent :class:`TwoStageDRO` of the rural campus.

    Build with :func:`build_rural_day`.  :meth:`solve` runs any method on the same master model
    (nothing is rebuilt); :meth:`dispatch` evaluates a plan and extracts the dispatch of every sample.
    """

    scenario: RuralCampusParams
    samples: ErrorSamples
    campus: RuralCampus
    problem: TwoStageLP
    ambiguity: AmbiguitySet
    dro: TwoStageDRO
    build_s: float = 0.0
    results: dict[str, DROResult] = field(default_factory=dict)

    def solve(self, method: str | None = None, **kwargs: Any) -> DROResult:
        """:meth:`TwoStageDRO.solve` with the scenario's method, ``lam``, ``cvar_beta`` and ``epsilon``
        unless given (keywords as ``TwoStageDRO.solve``: ``lam``, ``beta``, ``solver``, ``eps``, ...)."""
        u = self.scenario.uncertainty
        method = check_method(method or u.method)
        kwargs.setdefault("lam", u.lam)
        kwargs.setdefault("beta", u.cvar_beta)
        kwargs.setdefault("eps", u.epsilon)
        res = self.dro.solve(method, **kwargs)
        self.results[method] = res
        log.info("%s %s: H %.6g W %.6g (%d iterations, %.3g s HiGHS)", self.campus.name, method,
                 res.historical_cost, res.worst_cost, res.iterations, res.solve_s)
        return res

    def evaluate(self, x: Mapping[str, Any] | DROResult) -> Evaluation:
        """``c'x``, ``Q_k(x)``, ``H``, ``W`` of a plan (fixes ``x`` in the live master and solves)."""
        plan = x.x if isinstance(x, DROResult) else x
        return self.dro.evaluate(plan)

    def dispatch(self, x: Mapping[str, Any] | DROResult, method: str | None = None
                 ) -> tuple[Evaluation, pd.DataFrame, pd.DataFrame]:
        """Evaluate a plan and return ``(evaluation, dispatch, sample_costs)`` (see :func:`dispatch_frame`)."""
        label = method or (x.method if isinstance(x, DROResult) else "plan")
        ev = self.evaluate(x)
        return ev, dispatch_frame(self, label), sample_cost_frame(self, ev, label)


def build_rural_day(
    scenario: RuralCampusParams,
    rng: np.random.Generator | None = None,
    *,
    seed: int | None = None,
    samples: ErrorSamples | None = None,
    options: SolverOptions | None = None,
    reuse_so: bool = True,
    primal_evaluation: bool = True,
) -> RuralDay:
    """Draw the reference samples (from ``rng``, else ``default_rng(seed)``, else the scenario seed),
    build Ψ from :func:`~agents.decision.uncertainty.ambiguity_radii` ``(M, K, alpha_1, alpha_inf)`` and the
    persistent :class:`TwoStageDRO`.  ``samples`` skips the draw.

    ``reuse_so`` and ``primal_evaluation`` are passed to :class:`TwoStageDRO` (on by default: DRO's first
    C&CG master is the SO plan already solved, and a plan's recourse evaluation after a master solve
    re-optimises by the primal simplex; neither changes a plan or a cost ``Q_k``; CDRO's first master is that
    SO plan too when it meets the historical-cost limit)."""
    t0 = time.perf_counter()
    if samples is None:
        if rng is not None and seed is not None:
            raise ValueError("build_rural_day: give rng or seed, not both")
        gen = rng if rng is not None else np.random.default_rng(scenario.seed if seed is None else seed)
        samples = sample_errors(scenario, gen)
    u = scenario.uncertainty
    theta_1, theta_inf = ambiguity_radii(samples.M, samples.K, u.alpha_1, u.alpha_inf)
    psi = AmbiguitySet(samples.p0, theta_1, theta_inf)
    campus = RuralCampus(scenario)
    problem = campus.two_stage_lp(samples)
    dro = TwoStageDRO(problem, psi, options, deltas=True, reuse_so=reuse_so, primal_evaluation=primal_evaluation)
    return RuralDay(scenario, samples, campus, problem, psi, dro, build_s=time.perf_counter() - t0)


def solve_rural_day(
    scenario: RuralCampusParams,
    method: str | None = None,
    *,
    rng: np.random.Generator | None = None,
    seed: int | None = None,
    day: RuralDay | None = None,
    options: SolverOptions | None = None,
    **solve_kwargs: Any,
) -> RuralDayResult:
    """Solve one day with ``method`` (default: the scenario's ``uncertainty.method``) and extract the
    dispatch of the chosen plan on every reference sample.

    Pass ``day`` (from :func:`build_rural_day` or an earlier result's ``.day``) to reuse the persistent
    model for another method; otherwise a day is built from ``rng``/``seed``/the scenario seed.
    """
    if day is None:
        day = build_rural_day(scenario, rng, seed=seed, options=options)
    elif day.scenario is not scenario:
        raise ValueError("solve_rural_day: the given day was built for another scenario")
    res = day.solve(method, **solve_kwargs)
    ev, disp, costs = day.dispatch(res)
    return RuralDayResult(result=res, evaluation=ev, dispatch=disp, sample_costs=costs, day=day)


# ====================================================================== extraction


def dispatch_frame(day: RuralDay, method: str) -> pd.DataFrame:
    """Tidy dispatch of the last solve of ``day.dro`` (normally an evaluation of a fixed plan).

    Columns :data:`DISPATCH_COLUMNS`; one row per sample, period and series: the first stage
    ``da_trading.da_trade_kw`` (repeated per sample), every device output of the recourse (variables
    and the realised profiles, e.g. ``pv.pv_available_kw``, ``power_load.power_load_kw``) and the
    derived ``pv.pv_curtailed_kw``.
    """
    m = day.dro.model
    hm = day.dro.hm
    T = day.scenario.horizon.periods
    n = len(T)
    periods = np.asarray(T, dtype=np.int64)
    x = hm.values(m.fs.p_tr_kw, T)
    entities: list[str] = []
    variables: list[str] = []
    units: list[str] = []
    samples: list[int] = []
    values: list[np.ndarray] = []

    def add(k: int, entity: str, variable: str, unit: str, v: np.ndarray) -> None:
        entities.append(entity)
        variables.append(variable)
        units.append(unit)
        samples.append(k)
        values.append(np.asarray(v, dtype=float))

    outputs = day.campus.outputs
    for k in range(day.problem.n_samples):
        rec = m.rec[k]
        add(k, "da_trading", "da_trade_kw", "kW", x)
        pv: dict[str, np.ndarray] = {}
        for o in outputs:
            comp = rec.component(o.entity).component(o.component)
            v = hm.values(comp, T) if o.is_var else param_values(comp)
            add(k, o.entity, o.variable, o.unit, v)
            if o.entity == "pv":
                pv[o.variable] = v
        add(k, "pv", "pv_curtailed_kw", "kW", pv["pv_available_kw"] - pv["pv_kw"])
    n_series = len(values)
    return pd.DataFrame({
        "method": method,
        "sample": np.repeat(np.asarray(samples, dtype=np.int64), n),
        "period": np.tile(periods, n_series),
        "entity": np.repeat(np.asarray(entities, dtype=object), n),
        "variable": np.repeat(np.asarray(variables, dtype=object), n),
        "value": np.concatenate(values) if values else np.zeros(0),
        "unit": np.repeat(np.asarray(units, dtype=object), n),
    }, columns=list(DISPATCH_COLUMNS))


def sample_cost_frame(day: RuralDay, ev: Evaluation, method: str) -> pd.DataFrame:
    """Per-sample table: ``p0``, worst-case ``p`` of Ψ, recourse cost ``Q_k`` and total ``c'x + Q_k``."""
    K = day.problem.n_samples
    return pd.DataFrame({
        "method": method,
        "sample": np.arange(K),
        "p0": day.ambiguity.p0,
        "p_worst": ev.worst_p,
        "recourse_cost": ev.recourse_costs,
        "total_cost": ev.first_stage_cost + ev.recourse_costs,
    })


def method_table(results: Sequence[DROResult]) -> pd.DataFrame:
    """One row per result (:meth:`DROResult.summary`)."""
    return pd.DataFrame([r.summary() for r in results])

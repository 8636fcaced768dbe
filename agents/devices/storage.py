r"""Storage devices (SPEC §3.1, §3.8, §3.12, §3.15): battery, heat storage, H2 and NH3 tanks.  Builders only build.

* **Battery** (:func:`build_battery`, SPEC §3.1): energy balance with self-discharge and charge /
  discharge efficiencies (ESS-1), energy window (ESS-2), charge and discharge limits with a mode
  binary that forbids both at once (ESS-3), end energy = start energy or, for multi-day runs, within
  a window around it (ESS-4).  Injection discharge − charge; cost per kWh throughput (000 eq. 4).
* **Power storage of 002** (:func:`build_power_storage`, 002 §2.1.6): the battery built *without*
  its mode binary (ESS-3 reduces to column bounds), so the block is a pure LP;
  :func:`check_battery_params` validates its :class:`BatteryParams` and :func:`simultaneous_periods`
  finds periods in which a storage without binary charged and discharged at once (SPEC §3.1 note (ii)).
* **Heat storage** (:func:`build_heat_storage`, HS-1): heat content kept with a loss rate ``rho`` per
  hour compounded over the step, ``S_t = (1-rho)^dt S_{t-1} + (eta+ H+ − H−/eta−) dt``, charge and
  discharge limits, content window, end content = start; injection on the heat bus.
* **H2 storage** (:func:`build_hydrogen_storage`, SPEC §3.15 storages): the ESS-1…ESS-4 form in MWh
  LHV on the H2 bus, an LP without mode binary.
* **NH3 tank** (:func:`build_ammonia_storage`, SPEC §3.12): content in tonnes, ``S_t = S_{t-1} − y_t``
  with the net withdrawal ``y_t`` injected on the NH3 bus, content window, end content = start.

:func:`default_electric_storage` and :func:`default_heat_storage` are paper 003's storages
(SPEC §3.15, fields in kWh/kW holding MWh/MW).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyomo.core as pyo

from agents.devices.core import (
    _MINE,
    AmmoniaBus,
    Bus,
    DeviceHandle,
    HeatBus,
    Horizon,
    HydrogenBus,
    LowCarbonHandle,
    _bad,
    _check_efficiency,
    _check_fraction_window,
    _check_nonneg,
    _check_optional_nonneg,
    _check_positive,
    _finite,
    _p,
    _periods,
    complementarity_pair,
)

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


def offered_battery(params: BatteryParams, share: float, horizon: Horizon) -> BatteryParams:
    r"""The part ``o = share`` of a battery that is offered to another's plan; the rest stays idle (SPEC §8 withhold).

    The withheld part ``1 − o`` holds its share of the start energy and only self-discharges, ending the day at
    ``E^idle_T = keep^n E_0`` (``keep = 1 − σΔt``, ``n`` periods; ``d = E_0 − E^idle_T``).  The offered battery is the
    full one scaled by ``o`` around that idle trajectory:

    .. math::
        \bar P' = o \bar P,\quad E'^{min} = o E^{min} + (1-o)(E_0 - d),\quad E'^{max} = o E^{max} + (1-o) E_0,
        \quad E'^{end} \in o\,[E^{end,min}, E^{end,max}] + (1-o)(E_0 - d)

    so any plan of the full battery, scaled by ``o`` on top of the idle part, is a plan of the offered one (the
    offered problem is feasible whenever the full one is); ``o = 1`` returns ``params`` itself and ``o = 0`` leaves
    only the idle trajectory.  The start energy is unchanged (it is the whole battery's)."""
    o = float(share)
    if not 0.0 <= o <= 1.0:
        raise ValueError(f"offered_battery: share must be in [0, 1], got {share}")
    if o == 1.0:
        return params
    keep = 1.0 - params.self_discharge_per_h * horizon.dt_h
    s0 = params.soc_initial_frac
    idle_end = s0 * keep**horizon.n
    lo, hi = params.end_window_frac
    return replace(
        params,
        p_charge_max_kw=o * params.p_charge_max_kw,
        p_discharge_max_kw=o * params.p_discharge_max_kw,
        soc_min_frac=o * params.soc_min_frac + (1.0 - o) * idle_end,
        soc_max_frac=o * params.soc_max_frac + (1.0 - o) * s0,
        soc_end_min_frac=o * lo + (1.0 - o) * idle_end,
        soc_end_max_frac=o * hi + (1.0 - o) * idle_end,
    )


def rule_dispatch(params: BatteryParams, surplus_kw: np.ndarray, horizon: Horizon) -> tuple[np.ndarray, np.ndarray]:
    r"""A battery run by a fixed rule instead of an optimiser (SPEC §8 ``rule``): ``(charge_kw, discharge_kw)``.

    In each period ``t`` with local surplus ``s_t > 0`` (renewables above the load) it charges
    ``min(s_t, P̄^{ch}, (E^{max} − keep E_{t−1}) / (η^{ch} Δt))``; with a deficit it discharges
    ``min(−s_t, P̄^{dis}, (keep E_{t−1} − F_t) η^{dis} / Δt)``, where the floor ``F_t`` is the energy from which the
    end window's lower limit ``E^{end,min}`` can still be reached by charging at full power in the periods left
    (``F_n = E^{end,min}``, ``F_{t−1} = (F_t − P̄^{ch} η^{ch} Δt) / keep``, never below ``E^{min}``).  A battery that
    starts below the floor charges (from the grid) up to it.  So the plan meets ESS-1…ESS-4 of
    :func:`build_battery` (``keep = 1 − σΔt``): it never charges and discharges at once, stays within its energy
    window and ends the day at or above ``E^{end,min}``."""
    s = np.asarray(surplus_kw, dtype=float)
    n, dt = horizon.n, horizon.dt_h
    if s.shape != (n,):
        raise ValueError(f"rule_dispatch: surplus_kw must have {n} periods, got shape {s.shape}")
    cap = params.capacity_kwh
    keep = 1.0 - params.self_discharge_per_h * dt
    e_min, e_max = params.soc_min_frac * cap, params.soc_max_frac * cap
    lo_end = params.end_window_frac[0] * cap
    p_ch, p_dis = params.p_charge_max_kw, params.p_discharge_max_kw
    eta_c, eta_d = params.eta_charge, params.eta_discharge
    floor = np.empty(n + 1)
    floor[n] = lo_end
    for t in range(n, 0, -1):
        floor[t - 1] = max(e_min, (floor[t] - p_ch * eta_c * dt) / keep)
    floor[n] = max(e_min, lo_end)
    charge = np.zeros(n)
    discharge = np.zeros(n)
    e = params.soc_initial_frac * cap
    for t in range(n):
        kept = keep * e
        if kept < floor[t + 1]:  # below what the end of the day needs: charge up to the floor
            charge[t] = min(p_ch, (floor[t + 1] - kept) / (eta_c * dt))
        elif s[t] > 0:
            charge[t] = min(s[t], p_ch, max(0.0, (e_max - kept) / (eta_c * dt)))
        elif s[t] < 0:
            discharge[t] = min(-s[t], p_dis, max(0.0, (kept - floor[t + 1]) * eta_d / dt))
        e = kept + (eta_c * charge[t] - discharge[t] / eta_d) * dt
    return charge, discharge


# ---------------------------------------------------------------------------- power storage of 002 (ESS, no binary)


def check_battery_params(params: BatteryParams) -> None:
    """Validate a :class:`BatteryParams` used as 002's power storage (it has no checks
    of its own); errors name the field and the allowed range."""
    _check_positive(params, "capacity_kwh")
    _check_nonneg(params, "p_charge_max_kw", "p_discharge_max_kw", "cost_per_kwh")
    _check_efficiency(params, "eta_charge", "eta_discharge")
    _check_fraction_window(params)
    sd = params.self_discharge_per_h
    if not (_finite(sd) and 0 <= sd < 1):
        raise _bad("BatteryParams", "self_discharge_per_h", "in [0, 1)", sd)


def build_power_storage(block: pyo.Block, params: BatteryParams, horizon: Horizon, bus: Bus) -> DeviceHandle:
    r"""002's power storage: the ESS block of SPEC §3.1 *without* binary (002 §2.1.6, eq. 19).

    ESS-1, ESS-2, ESS-4 and the power limits of ESS-3 as column bounds
    ``0 <= P^ch_t <= Pbar^ch``, ``0 <= P^dis_t <= Pbar^dis``; see :func:`build_battery`.

    Built by :func:`build_battery` with ``binary=False``: no mode binary, so the block
    has no integer column at all.  The handle has no ``binaries`` and no ``complementarity``; check
    the solution with :func:`simultaneous_periods` and rebuild with the binary where it matters
    (SPEC §3.1 note (ii)).
    """
    check_battery_params(params)
    return build_battery(block, params, horizon, bus, exclusive=False, binary=False)


def simultaneous_periods(charge: np.ndarray, discharge: np.ndarray, tol: float = 1e-6) -> list[int]:
    """Periods (1-based) in which a storage without binary both charged and discharged above ``tol``."""
    both = np.minimum(np.asarray(charge, dtype=float), np.asarray(discharge, dtype=float)) > tol
    return [int(i) + 1 for i in np.flatnonzero(both)]


# ---------------------------------------------------------------------------- HS-1 heat storage


@dataclass(frozen=True)
class HeatStorageParams:
    """Heat storage with a loss rate per hour (SPEC §3.8, HS-1).  kWh_th and kW_th.

    The SOC window and efficiencies are not given by 002: ``[default]`` full range, start half full,
    lossless charge/discharge (SPEC: "add eta^{h,±} if desired").
    """

    capacity_kwh: float
    h_charge_max_kw: float
    h_discharge_max_kw: float
    loss_per_h: float
    soc_min_frac: float = 0.0
    soc_max_frac: float = 1.0
    soc_initial_frac: float = 0.5
    eta_charge: float = 1.0
    eta_discharge: float = 1.0

    def __post_init__(self) -> None:
        _check_positive(self, "capacity_kwh")
        _check_nonneg(self, "h_charge_max_kw", "h_discharge_max_kw")
        if not (_finite(self.loss_per_h) and 0 <= self.loss_per_h < 1):
            raise _bad("HeatStorageParams", "loss_per_h", "in [0, 1)", self.loss_per_h)
        _check_fraction_window(self)
        _check_efficiency(self, "eta_charge", "eta_discharge")


def build_heat_storage(block: pyo.Block, params: HeatStorageParams, horizon: Horizon, heat: HeatBus) -> DeviceHandle:
    r"""Heat storage (SPEC §3.8, 002 §2.1.7, eq. 24 for the terminal condition).

    .. math::

        S^h_t = (1-\rho)^{\Delta t} S^h_{t-1} + (\eta^{h,+} H^{h,+}_t - H^{h,-}_t/\eta^{h,-})\Delta t,
              \quad S^h_0 = S^{h,init}
        0 \le H^{h,\pm}_t \le \bar H^{h,\pm},\quad S^{h,min} \le S^h_t \le S^{h,max},\quad S^h_T = S^h_0
                                                                               \text{(HS-1)}

    **Loss on a grid of step Δt.**  ``rho`` is a rate per hour (002's grid is hourly, where HS-1
    reads ``(1-rho) S_{t-1}``).  The retained share per period is ``(1-rho)^dt`` (compounding), not
    ``1 - rho dt`` (the battery's ESS-1 convention): both equal ``1-rho`` on the hourly grid, and with
    compounding four idle quarter-hours lose exactly what one idle hour loses, so the DA (24 × 1 h)
    and intraday (96 × 0.25 h) models of the same day agree.  (For rho = 0.01/h the two rules differ
    by 4e-6 of the content per quarter-hour.)

    Injection ``H^{h,-}_t - H^{h,+}_t`` on the heat bus; no binary (simultaneous charge and discharge
    is pointless with ``eta = 1``; check with :func:`simultaneous_periods` otherwise).
    """
    T = horizon.periods
    dt = horizon.dt_h
    b = block
    cap = params.capacity_kwh
    b.T = pyo.Set(initialize=T, ordered=True, doc="periods")
    b.e_min_kwh = pyo.Param(initialize=params.soc_min_frac * cap, mutable=True, doc="minimum heat content [kWh_th]")
    b.e_max_kwh = pyo.Param(initialize=params.soc_max_frac * cap, mutable=True, doc="maximum heat content [kWh_th]")
    b.e_initial_kwh = pyo.Param(initialize=params.soc_initial_frac * cap, mutable=True,
                                doc="heat content at t=0 [kWh_th]")
    b.h_charge_max_kw = pyo.Param(initialize=params.h_charge_max_kw, mutable=True, doc="charge limit [kW_th]")
    b.h_discharge_max_kw = pyo.Param(initialize=params.h_discharge_max_kw, mutable=True,
                                     doc="discharge limit [kW_th]")
    b.h_charge_kw = pyo.Var(b.T, bounds=(0, b.h_charge_max_kw), doc="heat charged H^{h,+}_t [kW_th] (HS-1)")
    b.h_discharge_kw = pyo.Var(b.T, bounds=(0, b.h_discharge_max_kw), doc="heat discharged H^{h,-}_t [kW_th] (HS-1)")
    b.soc_kwh = pyo.Var(b.T, bounds=(b.e_min_kwh, b.e_max_kwh), doc="heat content at period end [kWh_th] (HS-1)")
    keep = (1.0 - params.loss_per_h) ** dt
    eta_c, eta_d = params.eta_charge, params.eta_discharge

    def soc_rule(m: pyo.Block, t: int) -> Any:
        prev = m.e_initial_kwh if t == T[0] else m.soc_kwh[t - 1]
        return m.soc_kwh[t] == keep * prev + (eta_c * m.h_charge_kw[t] - m.h_discharge_kw[t] / eta_d) * dt

    b.def_soc = pyo.Constraint(b.T, rule=soc_rule, doc="heat content balance with loss (1-rho)^dt (HS-1)")
    b.res_end_soc = pyo.Constraint(expr=b.soc_kwh[T[-1]] == b.e_initial_kwh, doc="end content = start (HS-1)")
    for t in T:
        heat.inject(t, b.h_discharge_kw[t] - b.h_charge_kw[t])
    return DeviceHandle(
        block=b,
        outputs={"hs_charge_kw": (b.h_charge_kw, "kW_th"), "hs_discharge_kw": (b.h_discharge_kw, "kW_th"),
                 "hs_soc_kwh": (b.soc_kwh, "kWh_th")},
    )


# ---------------------------------------------------------------------------- H2 storage (003)


@dataclass(frozen=True)
class HydrogenStorageParams:
    """H2 tank (SPEC §3.15 storages), MWh (LHV) and MW."""

    capacity_mwh: float = _p(100.0, "MWh", "capacity")
    h_charge_max_mw: float = _p(30.0, "MW", "charge limit")
    h_discharge_max_mw: float = _p(30.0, "MW", "discharge limit")
    soc_min_frac: float = _p(0.05, "1", "minimum content / capacity", _MINE)
    soc_max_frac: float = _p(0.95, "1", "maximum content / capacity", _MINE)
    soc_initial_frac: float = _p(0.5, "1", "content at t=0 / capacity (= content at the end)", _MINE)
    eta_charge: float = _p(0.95, "1", "charge efficiency", _MINE)
    eta_discharge: float = _p(0.95, "1", "discharge efficiency", _MINE)

    def __post_init__(self) -> None:
        _check_positive(self, "capacity_mwh")
        _check_nonneg(self, "h_charge_max_mw", "h_discharge_max_mw")
        _check_fraction_window(self)
        _check_efficiency(self, "eta_charge", "eta_discharge")


def build_hydrogen_storage(
    block: pyo.Block, params: HydrogenStorageParams, horizon: Horizon, h2: HydrogenBus
) -> LowCarbonHandle:
    r"""H2 storage, an LP without mode binary (SPEC §3.15 storages; ESS-1…ESS-4 form).

    .. math::

        E_t = E_{t-1} + (\eta^{ch} H^{ch}_t - H^{dis}_t/\eta^{dis})\Delta t,\quad E^{min} \le E_t \le E^{max},\quad
        0 \le H^{ch}_t \le \bar H^{ch},\ 0 \le H^{dis}_t \le \bar H^{dis},\quad E_T = E_0

    Injection ``H^dis - H^ch`` on the H2 bus.  Simultaneous charge and discharge only burns H2 (eta < 1);
    check with :func:`simultaneous_periods`.
    """
    T = _periods(block, horizon)
    dt = horizon.dt_h
    b = block
    cap = params.capacity_mwh
    b.e_min_mwh = pyo.Param(initialize=params.soc_min_frac * cap, mutable=True, doc="minimum content [MWh]")
    b.e_max_mwh = pyo.Param(initialize=params.soc_max_frac * cap, mutable=True, doc="maximum content [MWh]")
    b.e_initial_mwh = pyo.Param(initialize=params.soc_initial_frac * cap, mutable=True, doc="content at t=0 [MWh]")
    b.h_charge_max_mw = pyo.Param(initialize=params.h_charge_max_mw, mutable=True, doc="charge limit [MW]")
    b.h_discharge_max_mw = pyo.Param(initialize=params.h_discharge_max_mw, mutable=True, doc="discharge limit [MW]")
    b.h_charge_mw = pyo.Var(b.T, bounds=(0, b.h_charge_max_mw), doc="H2 charged H^H,ch_t [MW LHV]")
    b.h_discharge_mw = pyo.Var(b.T, bounds=(0, b.h_discharge_max_mw), doc="H2 discharged H^H,dis_t [MW LHV]")
    b.soc_mwh = pyo.Var(b.T, bounds=(b.e_min_mwh, b.e_max_mwh), doc="H2 stored at period end [MWh LHV]")
    eta_c, eta_d = params.eta_charge, params.eta_discharge
    b.def_soc = pyo.Constraint(
        b.T, rule=lambda m, t: m.soc_mwh[t] == (m.e_initial_mwh if t == T[0] else m.soc_mwh[t - 1])
        + (eta_c * m.h_charge_mw[t] - m.h_discharge_mw[t] / eta_d) * dt,
        doc="H2 content balance (ESS-1 form)")
    b.res_end_soc = pyo.Constraint(expr=b.soc_mwh[T[-1]] == b.e_initial_mwh, doc="end content = start (ESS-4 form)")
    for t in T:
        h2.inject(t, b.h_discharge_mw[t] - b.h_charge_mw[t])
    return LowCarbonHandle(block=b, outputs={"h2s_charge_mw": (b.h_charge_mw, "MW"),
                                             "h2s_discharge_mw": (b.h_discharge_mw, "MW"),
                                             "h2s_soc_mwh": (b.soc_mwh, "MWh")})


# ---------------------------------------------------------------------------- NH3 storage (003, §3.12)


@dataclass(frozen=True)
class AmmoniaStorageParams:
    """NH3 tank (SPEC §3.12 `[reconstructed]`), in tonnes."""

    capacity_t: float = _p(200.0, "t", "tank capacity")
    soc_min_frac: float = _p(0.0, "1", "minimum content / capacity", _MINE)
    soc_max_frac: float = _p(1.0, "1", "maximum content / capacity", _MINE)
    soc_initial_frac: float = _p(0.5, "1", "content at t=0 / capacity (= content at the end)", _MINE)
    flow_max_t_per_h: float | None = _p(None, "t/h", "limit on |net withdrawal| (None: unlimited)", _MINE)

    def __post_init__(self) -> None:
        _check_positive(self, "capacity_t")
        _check_fraction_window(self)
        _check_optional_nonneg(self, "flow_max_t_per_h")


def build_ammonia_storage(
    block: pyo.Block, params: AmmoniaStorageParams, horizon: Horizon, nh3: AmmoniaBus
) -> LowCarbonHandle:
    r"""NH3 storage tank (SPEC §3.12).

    .. math::

        S^{NH_3}_t = S^{NH_3}_{t-1} - y_t,\quad S^{min} \le S^{NH_3}_t \le S^{max},\quad S^{NH_3}_T = S^{NH_3}_0

    ``y_t`` (``m_withdraw_t``, t per period, free sign, ``|y_t| <= flow_max dt``) is injected on the NH3
    bus; with the NH3 balance ``M^NH3_t - sum_g m^NH3_g,t + y_t = 0`` this is SPEC's
    ``S_t = S_{t-1} + M^{NH3}_t - sum_g m^{NH3}_{g,t}``.
    """
    T = _periods(block, horizon)
    dt = horizon.dt_h
    b = block
    cap = params.capacity_t
    b.s_min_t = pyo.Param(initialize=params.soc_min_frac * cap, mutable=True, doc="minimum content [t]")
    b.s_max_t = pyo.Param(initialize=params.soc_max_frac * cap, mutable=True, doc="maximum content [t]")
    b.s_initial_t = pyo.Param(initialize=params.soc_initial_frac * cap, mutable=True, doc="content at t=0 [t]")
    if params.flow_max_t_per_h is None:
        b.m_withdraw_t = pyo.Var(b.T, within=pyo.Reals, doc="net withdrawal y_t [t per period]")
    else:
        lim = params.flow_max_t_per_h * dt
        b.m_withdraw_t = pyo.Var(b.T, bounds=(-lim, lim), doc="net withdrawal y_t [t per period]")
    b.s_t = pyo.Var(b.T, bounds=(b.s_min_t, b.s_max_t), doc="NH3 stored at period end S^NH3_t [t]")
    b.def_storage = pyo.Constraint(
        b.T, rule=lambda m, t: m.s_t[t] == (m.s_initial_t if t == T[0] else m.s_t[t - 1]) - m.m_withdraw_t[t],
        doc="tank balance (SPEC §3.12)")
    b.res_end_storage = pyo.Constraint(expr=b.s_t[T[-1]] == b.s_initial_t, doc="end content = start (SPEC §3.12)")
    for t in T:
        nh3.inject(t, b.m_withdraw_t[t])
    return LowCarbonHandle(block=b, outputs={"nh3_stored_t": (b.s_t, "t"), "nh3_withdraw_t": (b.m_withdraw_t, "t")})


# ---------------------------------------------------------------------------- 003 defaults


def default_electric_storage() -> BatteryParams:
    """003's electric storage: 200 MWh / 50 MW (SPEC §3.15) `[default]`; SOC 10–90 %, start 50 %, η 0.95
    `[default] not in SPEC`.  The ``*_kwh``/``*_kw`` fields hold **MWh/MW**.  Build it with
    :func:`build_power_storage` (``build_battery(..., exclusive=False, binary=False)``:
    an LP, no mode binary)."""
    return BatteryParams(capacity_kwh=200.0, p_charge_max_kw=50.0, p_discharge_max_kw=50.0, soc_min_frac=0.1,
                         soc_max_frac=0.9, soc_initial_frac=0.5, eta_charge=0.95, eta_discharge=0.95)


def default_heat_storage() -> HeatStorageParams:
    """003's heat storage: 150 MWh / 50 MW (SPEC §3.15) `[default]`; loss 1 %/h, full SOC range, start 50 %
    `[default] not in SPEC`.  Fields in ``kWh``/``kW`` hold **MWh/MW**; build with
    :func:`build_heat_storage`."""
    return HeatStorageParams(capacity_kwh=150.0, h_charge_max_kw=50.0, h_discharge_max_kw=50.0, loss_per_h=0.01)

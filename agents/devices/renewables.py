r"""Renewable generation with curtailment (SPEC §3.3, §3.15): PV and wind plants.  Builders only build.

* **PV / wind plant** (:func:`build_renewable`, RES-1): dispatched output ``0 <= P_t <= P^av_t`` with
  the availability in a mutable Param; injection ``P_t``; optional curtailment cost
  ``lambda^cur sum (P^av_t − P_t) dt`` (0 in paper 000, a penalty in 002).
* **Wind farms of 003** (:func:`build_wind_farm`, RES-1 and F^cur): the availability is a *variable*
  ``p_avail_mw`` fixed at the profile (bounds ``[0, capacity]``), so the robust layer can treat it as
  the uncertain column ``u`` of SPEC §6.5; RES-1 ``P^WT_t <= P^WT,av_t`` is a row;
  ``cost_curtailment = c^cur sum (P^WT,av − P^WT) dt``.  :func:`set_wind_availability` re-fixes the
  availability (checked against the capacity).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyomo.core as pyo

from agents.devices.core import (
    Bus,
    DeviceHandle,
    Horizon,
    LowCarbonHandle,
    _check_nonneg,
    _check_positive,
    _p,
    _periods,
    profile_param,
)

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


# ---------------------------------------------------------------------------- wind farms of 003 (§3.3, F^cur)


@dataclass(frozen=True)
class WindFarmParams:
    """Wind farms of 003 (SPEC §3.3, §3.15), one aggregate profile (the uncertain ``u`` of §6.5)."""

    capacity_mw: float = _p(600.0, "MW", "installed capacity (2 farms x 300 MW, aggregated)")
    curtailment_cost_per_mwh: float = _p(0.05, "万元/MWh", "curtailment penalty c^cur")

    def __post_init__(self) -> None:
        _check_positive(self, "capacity_mw")
        _check_nonneg(self, "curtailment_cost_per_mwh")


def _availability(values: Sequence[float] | np.ndarray, horizon: Horizon, capacity: float) -> dict[int, float]:
    prof = profile_param(values, horizon, "wind available_mw")
    bad = [t for t, v in prof.items() if not (0 <= v <= capacity)]
    if bad:
        t = bad[0]
        raise ValueError(f"wind available_mw must be in [0, capacity_mw = {capacity:g}], got {prof[t]:g} in period {t}")
    return prof


def build_wind_farm(
    block: pyo.Block, params: WindFarmParams, horizon: Horizon, bus: Bus, available_mw: Sequence[float] | np.ndarray
) -> LowCarbonHandle:
    r"""Wind with curtailment (SPEC §3.3 RES-1, 003 F^cur).

    .. math::

        0 \le P^{WT}_t,\qquad P^{WT}_t \le P^{WT,av}_t\ \ (\texttt{res\_wind\_avail})           \text{(RES-1)}
        F^{cur} = c^{cur}\textstyle\sum_t (P^{WT,av}_t - P^{WT}_t)\Delta t

    The availability is a **variable** ``p_avail_mw[t]`` (bounds ``[0, capacity]``) *fixed* at
    ``available_mw``, so the robust layer can treat it as the uncertain column ``u`` (unfix it, or
    change it with :func:`set_wind_availability` and :meth:`agents.milp.HighsModel.update`), and
    RES-1 is a row, not a bound.  Injection ``P^WT_t``; ``cost_curtailment``.
    """
    T = _periods(block, horizon)
    dt = horizon.dt_h
    b = block
    prof = _availability(available_mw, horizon, params.capacity_mw)
    b.capacity_mw = pyo.Param(initialize=params.capacity_mw, doc="installed capacity [MW]")
    b.curtailment_cost_per_mwh = pyo.Param(initialize=params.curtailment_cost_per_mwh, mutable=True,
                                           doc="curtailment penalty c^cur [万元/MWh]")
    b.p_avail_mw = pyo.Var(b.T, bounds=(0, params.capacity_mw), initialize=prof,
                           doc="available wind P^WT,av_t [MW] (fixed; the uncertain u)")
    for t in T:
        b.p_avail_mw[t].fix(prof[t])
    b.p_wind_mw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="dispatched wind P^WT_t [MW] (RES-1)")
    b.res_wind_avail = pyo.Constraint(b.T, rule=lambda m, t: m.p_wind_mw[t] <= m.p_avail_mw[t],
                                      doc="dispatch <= availability (RES-1)")
    b.cost_curtailment = pyo.Expression(
        expr=b.curtailment_cost_per_mwh * dt * pyo.quicksum(b.p_avail_mw[t] - b.p_wind_mw[t] for t in T),
        doc="curtailment cost F^cur [万元]")
    for t in T:
        bus.inject(t, b.p_wind_mw[t])
    bus.cost.append(b.cost_curtailment)
    return LowCarbonHandle(block=b, outputs={"wind_mw": (b.p_wind_mw, "MW"), "wind_available_mw": (b.p_avail_mw, "MW")},
                           costs={"cost_curtailment": b.cost_curtailment})


def set_wind_availability(block: pyo.Block, values: Sequence[float] | np.ndarray) -> None:
    """Re-fix ``p_avail_mw`` of a block built by :func:`build_wind_farm` (checked: length, finite,
    ``0 <= v <= capacity``); call :meth:`agents.milp.HighsModel.update` before re-solving."""
    keys = list(block.p_avail_mw.keys())
    prof = _availability(values, Horizon(len(keys), 1.0), float(pyo.value(block.capacity_mw)))
    for i, t in enumerate(keys):
        block.p_avail_mw[t].fix(prof[i + 1])

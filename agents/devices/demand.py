r"""Demand and its flexibility (SPEC §3.6a, §3.6b, §3.6d, §6.5): fixed loads, shiftable and
transferable loads, paper 003's demand response and the recourse slacks.  Builders only build.

* **Fixed load** (:func:`build_fixed_load`): a power load (kW) or heat load (kW_th) on either bus,
  injected as ``−load`` from a mutable Param (the uncertain loads of 002 change per sample).
* **Shiftable load** (:func:`build_shiftable_load`, DR0-1…DR0-4, paper 000): baseline load plus
  shift-in minus shift-out (DR0-1), each at most ``gamma`` × the baseline (DR0-2), shifted energy
  balanced over the day (DR0-3), so the load stays in ``(1 ± gamma)`` × the baseline (DR0-4);
  cost per shifted kWh.
* **Transferable load** (:func:`build_transferable_load`, DR2-1…DR2-2, 002 eq. 14): up and down
  shifts within their limits inside the clock-time window and 0 outside (DR2-1), shifted energy
  conserved over the window (DR2-2); cost per shifted kWh.
* **Demand response of 003** (:func:`build_demand_response`, SPEC §3.6d `[reconstructed]`):
  transferable electric and heat load summing to zero over the day, electricity substituting heat
  at ratio ``phi``, curtailable electric and heat load, each within per-period limits;
  ``cost_dr`` = compensation per |shifted|, |substituted| and curtailed MWh (``|x|`` split into
  ``x+ − x−``).
* **Recourse slacks** (:func:`build_recourse_slacks`, SPEC §6.5, §3.14 fix (e)): penalised electric
  load shedding, electric spill and heat shedding that give relatively complete recourse, and the
  heat dump (free by default); ``cost_slack``.

Paper 003's EV fleet is an EV device and lives with the EV model in :mod:`agents.ev`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyomo.core as pyo

from agents.devices.core import (
    _MINE,
    Bus,
    DeviceHandle,
    HeatBus,
    Horizon,
    LowCarbonHandle,
    _bad,
    _check_nonneg,
    _check_positive,
    _finite,
    _p,
    _periods,
    profile_param,
)

# ---------------------------------------------------------------------------- fixed load


def build_fixed_load(
    block: pyo.Block, horizon: Horizon, bus: Bus | HeatBus, load_kw: Sequence[float] | np.ndarray
) -> DeviceHandle:
    r"""A fixed demand on either bus: power load $P^d_t$ (kW) or heat load $H^d_t$ (kW_th) of BAL2-E/H.

    Injection ``-load_kw[t]``, a mutable Param (the uncertain inputs $P^{d,f}_t+u^p_t$,
    $H^{d,f}_t+u^h_t$ of 002 §2.1.1 change per sample).  Output ``power_load_kw`` or ``heat_load_kw``.
    """
    heat = isinstance(bus, HeatBus)
    what = "heat load_kw" if heat else "power load_kw"
    b = block
    b.T = pyo.Set(initialize=horizon.periods, ordered=True, doc="periods")
    b.load_kw = pyo.Param(b.T, initialize=profile_param(load_kw, horizon, what), mutable=True,
                          doc="heat demand [kW_th]" if heat else "power demand [kW]")
    for t in horizon.periods:
        bus.inject(t, -b.load_kw[t])
    name, unit = ("heat_load_kw", "kW_th") if heat else ("power_load_kw", "kW")
    return DeviceHandle(block=b, outputs={name: (b.load_kw, unit)})


# ---------------------------------------------------------------------------- 3.6a shiftable load (DR0)


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


# ---------------------------------------------------------------------------- DR2 transferable load (002)


@dataclass(frozen=True)
class TransferableLoadParams:
    """Transferable power load with a transfer window (SPEC §3.6b, 002 §2.1.5).

    The window is clock time ``[window_start_h, window_end_h)`` from the start of the horizon, so the
    same parameters serve every grid (13-17 h is periods 14..17 hourly, 53..68 on quarter-hours).
    ``load_kw`` is the transferable load itself, the default bound of both shifts
    (``Dbar^dn = load``, ``Dbar^up = Dbar^dn`` `[default]`); ``up_max_kw`` overrides the up bound.
    """

    window_start_h: float
    window_end_h: float
    load_kw: float
    up_max_kw: float | None = None
    cost_up_per_kwh: float = 0.0
    cost_down_per_kwh: float = 0.0

    def __post_init__(self) -> None:
        _check_nonneg(self, "window_start_h", "load_kw", "cost_up_per_kwh", "cost_down_per_kwh")
        if not (_finite(self.window_end_h) and self.window_end_h > self.window_start_h):
            raise _bad("TransferableLoadParams", "window_end_h", f"> window_start_h = {self.window_start_h}",
                       self.window_end_h)
        if self.up_max_kw is not None and not (_finite(self.up_max_kw) and self.up_max_kw >= 0):
            raise _bad("TransferableLoadParams", "up_max_kw", "finite and >= 0, or None (= load_kw)", self.up_max_kw)

    def window_periods(self, horizon: Horizon) -> list[int]:
        """Periods ``t`` of ``horizon`` whose interval ``[(t-1)dt, t dt)`` lies in the window (T_{i,A})."""
        dt, n = horizon.dt_h, horizon.n
        lo, hi = self.window_start_h / dt, self.window_end_h / dt
        if abs(lo - round(lo)) > 1e-9 or abs(hi - round(hi)) > 1e-9 or round(hi) > n:
            raise ValueError(
                f"TransferableLoadParams window [{self.window_start_h}, {self.window_end_h}) h does not fit "
                f"Horizon(n={n}, dt_h={dt}): its edges must be multiples of dt_h within [0, {n * dt:g}] h")
        return list(range(round(lo) + 1, round(hi) + 1))


def build_transferable_load(
    block: pyo.Block, params: TransferableLoadParams, horizon: Horizon, bus: Bus
) -> DeviceHandle:
    r"""Transferable power load with a window (SPEC §3.6b, 002 §2.1.5 / eq. 14).

    .. math::

        0 \le D^{up}_t \le \bar D^{up}_t,\ 0 \le D^{dn}_t \le \bar D^{dn}_t\ (t\in T_A);\qquad
        D^{up}_t = D^{dn}_t = 0\ (t\in T_B)                                   \text{(DR2-1)}
        \textstyle\sum_{t\in T_A} D^{up}_t = \sum_{t\in T_A} D^{dn}_t          \text{(DR2-2)}

    The base of the transferable load is part of the power demand ``P^d_t``; this device adds only
    the shift: injection ``D^dn_t - D^up_t`` (BAL2-E has ``+D^up - D^dn`` on the demand side).
    Cost ``sum (c^up D^up_t + c^dn D^dn_t) dt``.  Outside the window the variables have bounds
    ``(0, 0)`` whatever the data; inside, the bounds are the mutable Params ``up_max_kw[t]``,
    ``dn_max_kw[t]`` indexed by ``WINDOW``.  DR2-2 is written in energy (``× dt`` on both sides).
    """
    window = params.window_periods(horizon)
    T = horizon.periods
    dt = horizon.dt_h
    b = block
    up = params.load_kw if params.up_max_kw is None else params.up_max_kw
    b.T = pyo.Set(initialize=T, ordered=True, doc="periods")
    b.WINDOW = pyo.Set(initialize=window, within=b.T, ordered=True, doc="transferable periods T_A (DR2-1)")
    b.up_max_kw = pyo.Param(b.WINDOW, initialize=up, mutable=True, doc="upward shift limit [kW] (DR2-1)")
    b.dn_max_kw = pyo.Param(b.WINDOW, initialize=params.load_kw, mutable=True,
                            doc="downward shift limit = transferable load [kW] (DR2-1)")
    b.up_kw = pyo.Var(b.T, bounds=lambda m, t: (0, m.up_max_kw[t] if t in m.WINDOW else 0),
                      doc="load shifted into period t [kW] (DR2-1)")
    b.dn_kw = pyo.Var(b.T, bounds=lambda m, t: (0, m.dn_max_kw[t] if t in m.WINDOW else 0),
                      doc="load shifted out of period t [kW] (DR2-1)")
    b.def_transfer_balance = pyo.Constraint(
        expr=pyo.quicksum(b.up_kw[t] - b.dn_kw[t] for t in window) * dt == 0,
        doc="shifted energy conserved over the window (DR2-2)")
    for t in T:
        bus.inject(t, b.dn_kw[t] - b.up_kw[t])
    if params.cost_up_per_kwh or params.cost_down_per_kwh:
        bus.cost.append(dt * pyo.quicksum(params.cost_up_per_kwh * b.up_kw[t] + params.cost_down_per_kwh * b.dn_kw[t]
                                          for t in window))
    return DeviceHandle(block=b, outputs={"dr_up_kw": (b.up_kw, "kW"), "dr_down_kw": (b.dn_kw, "kW")})


# ---------------------------------------------------------------------------- DR of 003 (§3.6d)


@dataclass(frozen=True)
class DemandResponseParams:
    """Electric and heat DR of 003 (SPEC §3.6d `[reconstructed]`).  Limits are per period (MW) and
    become mutable Params indexed by period (set hourly profiles with :func:`agents.devices.core.set_profile`)."""

    p_tran_max_mw: float = _p(20.0, "MW", "transferable electric load limit |P^tran|", _MINE)
    r_tran_max_mw: float = _p(10.0, "MW", "transferable heat load limit |R^tran|", _MINE)
    p_sub_max_mw: float = _p(10.0, "MW", "substitution limit |P^sub|", _MINE)
    p_cut_max_mw: float = _p(10.0, "MW", "curtailable electric load limit", _MINE)
    r_cut_max_mw: float = _p(5.0, "MW", "curtailable heat load limit", _MINE)
    phi: float = _p(0.9, "1", "heat replaced per MW of electricity (R^sub = -phi P^sub)", "[default] SPEC §3.6d")
    cost_tran_per_mwh: float = _p(0.01, "万元/MWh", "compensation c^tr per |shifted| MWh", _MINE)
    cost_sub_per_mwh: float = _p(0.01, "万元/MWh", "compensation c^sub per |substituted| MWh", _MINE)
    cost_cut_per_mwh: float = _p(0.05, "万元/MWh", "compensation c^cut per curtailed MWh", _MINE)

    def __post_init__(self) -> None:
        _check_nonneg(self, "p_tran_max_mw", "r_tran_max_mw", "p_sub_max_mw", "p_cut_max_mw", "r_cut_max_mw",
                      "cost_tran_per_mwh", "cost_sub_per_mwh", "cost_cut_per_mwh")
        _check_positive(self, "phi")


def build_demand_response(
    block: pyo.Block, params: DemandResponseParams, horizon: Horizon, bus: Bus, heat: HeatBus
) -> LowCarbonHandle:
    r"""Transferable, substitutable and curtailable electric and heat load (SPEC §3.6d).

    .. math::

        -\bar P^{tran}_t \le P^{tran}_t \le \bar P^{tran}_t,\ \textstyle\sum_t P^{tran}_t\Delta t = 0
            \quad(\text{same for } R^{tran})
        P^{sub}_t = -R^{sub}_t/\phi,\qquad |P^{sub}_t| \le \bar P^{sub}_t
        0 \le P^{cut}_t \le \bar P^{cut}_t,\qquad 0 \le R^{cut}_t \le \bar R^{cut}_t
        F_{DR} = \textstyle\sum_t\big(c^{tr}(|P^{tran}_t|+|R^{tran}_t|) + c^{sub}|P^{sub}_t|
                 + c^{cut}(P^{cut}_t+R^{cut}_t)\big)\Delta t

    ``|x| = x^+ + x^-`` with ``x = x^+ - x^-`` (rows ``def_*_split``; exact because F_DR is minimised).
    Signs as BAL3-E / BAL3-H (demand side ``+P^tran + P^sub - P^cut``): injections
    ``-P^tran - P^sub + P^cut`` (electric) and ``-R^tran - R^sub + R^cut`` (heat).  ``cost_dr``.
    """
    T = _periods(block, horizon)
    dt = horizon.dt_h
    b = block
    for name, value, doc in (
        ("p_tran_max_mw", params.p_tran_max_mw, "transferable electric limit [MW]"),
        ("r_tran_max_mw", params.r_tran_max_mw, "transferable heat limit [MW]"),
        ("p_sub_max_mw", params.p_sub_max_mw, "substitution limit [MW]"),
        ("p_cut_max_mw", params.p_cut_max_mw, "curtailable electric limit [MW]"),
        ("r_cut_max_mw", params.r_cut_max_mw, "curtailable heat limit [MW]"),
    ):
        b.add_component(name, pyo.Param(b.T, initialize=value, mutable=True, doc=doc))
    b.phi = pyo.Param(initialize=params.phi, mutable=True, doc="substitution ratio phi [MW heat per MW el]")
    for name, value, doc in (("cost_tran_per_mwh", params.cost_tran_per_mwh, "c^tr"),
                             ("cost_sub_per_mwh", params.cost_sub_per_mwh, "c^sub"),
                             ("cost_cut_per_mwh", params.cost_cut_per_mwh, "c^cut")):
        b.add_component(name, pyo.Param(initialize=value, mutable=True, doc=f"compensation {doc} [万元/MWh]"))
    b.p_tran_mw = pyo.Var(b.T, bounds=lambda m, t: (-m.p_tran_max_mw[t], m.p_tran_max_mw[t]),
                          doc="transferred electric load P^tran_t [MW]")
    b.r_tran_mw = pyo.Var(b.T, bounds=lambda m, t: (-m.r_tran_max_mw[t], m.r_tran_max_mw[t]),
                          doc="transferred heat load R^tran_t [MW]")
    b.p_sub_mw = pyo.Var(b.T, bounds=lambda m, t: (-m.p_sub_max_mw[t], m.p_sub_max_mw[t]),
                         doc="electric load replacing heat P^sub_t [MW]")
    b.r_sub_mw = pyo.Var(b.T, within=pyo.Reals, doc="heat load change by substitution R^sub_t [MW]")
    b.p_cut_mw = pyo.Var(b.T, bounds=lambda m, t: (0, m.p_cut_max_mw[t]), doc="curtailed electric load P^cut_t [MW]")
    b.r_cut_mw = pyo.Var(b.T, bounds=lambda m, t: (0, m.r_cut_max_mw[t]), doc="curtailed heat load R^cut_t [MW]")
    for name, what in (("p_tran", "P^tran"), ("r_tran", "R^tran"), ("p_sub", "P^sub")):
        b.add_component(f"{name}_pos_mw", pyo.Var(b.T, within=pyo.NonNegativeReals, doc=f"{what}+ [MW] (|x| split)"))
        b.add_component(f"{name}_neg_mw", pyo.Var(b.T, within=pyo.NonNegativeReals, doc=f"{what}- [MW] (|x| split)"))
        x, pos, neg = b.component(f"{name}_mw"), b.component(f"{name}_pos_mw"), b.component(f"{name}_neg_mw")
        b.add_component(f"def_{name}_split", pyo.Constraint(
            b.T, rule=lambda m, t, x=x, pos=pos, neg=neg: x[t] == pos[t] - neg[t], doc=f"{what} = x+ - x- (|x|)"))
    b.def_tran_sum = pyo.Constraint(expr=dt * pyo.quicksum(b.p_tran_mw[t] for t in T) == 0,
                                    doc="transferred electric energy sums to zero (SPEC §3.6d)")
    b.def_heat_tran_sum = pyo.Constraint(expr=dt * pyo.quicksum(b.r_tran_mw[t] for t in T) == 0,
                                         doc="transferred heat energy sums to zero (SPEC §3.6d)")
    b.def_substitution = pyo.Constraint(b.T, rule=lambda m, t: m.phi * m.p_sub_mw[t] + m.r_sub_mw[t] == 0,
                                        doc="P^sub = -R^sub / phi (SPEC §3.6d)")
    b.cost_dr = pyo.Expression(
        expr=dt * pyo.quicksum(
            b.cost_tran_per_mwh * (b.p_tran_pos_mw[t] + b.p_tran_neg_mw[t] + b.r_tran_pos_mw[t] + b.r_tran_neg_mw[t])
            + b.cost_sub_per_mwh * (b.p_sub_pos_mw[t] + b.p_sub_neg_mw[t])
            + b.cost_cut_per_mwh * (b.p_cut_mw[t] + b.r_cut_mw[t]) for t in T),
        doc="DR compensation F_DR [万元]")
    for t in T:
        bus.inject(t, b.p_cut_mw[t] - b.p_tran_mw[t] - b.p_sub_mw[t])
        heat.inject(t, b.r_cut_mw[t] - b.r_tran_mw[t] - b.r_sub_mw[t])
    bus.cost.append(b.cost_dr)
    return LowCarbonHandle(
        block=b,
        outputs={"dr_tran_mw": (b.p_tran_mw, "MW"), "dr_heat_tran_mw": (b.r_tran_mw, "MW"),
                 "dr_sub_mw": (b.p_sub_mw, "MW"), "dr_heat_sub_mw": (b.r_sub_mw, "MW"),
                 "dr_cut_mw": (b.p_cut_mw, "MW"), "dr_heat_cut_mw": (b.r_cut_mw, "MW")},
        costs={"cost_dr": b.cost_dr},
    )


# ---------------------------------------------------------------------------- recourse slacks (§6.5)


@dataclass(frozen=True)
class RecourseSlackParams:
    """Slacks that give relatively complete recourse (SPEC §6.5) and the heat dump of BAL3-H fix (e)."""

    shed_cost_per_mwh: float = _p(50.0, "万元/MWh", "electric load shedding penalty M", "[default] SPEC §6.5 M "
                                  "(~10^3 x the largest energy price, c^cur = 0.05)")
    heat_shed_cost_per_mwh: float = _p(50.0, "万元/MWh", "heat load shedding penalty M", "[default] SPEC §6.5 M")
    spill_cost_per_mwh: float = _p(50.0, "万元/MWh", "electric spill (over-generation beyond curtailment) penalty M",
                                   "[default] SPEC §6.5 M")
    heat_dump_cost_per_mwh: float = _p(0.0, "万元/MWh", "heat dump R^dump cost", "[proposed] SPEC §3.14 (e): free")

    def __post_init__(self) -> None:
        _check_nonneg(self, "shed_cost_per_mwh", "heat_shed_cost_per_mwh", "spill_cost_per_mwh",
                      "heat_dump_cost_per_mwh")


def build_recourse_slacks(
    block: pyo.Block, params: RecourseSlackParams, horizon: Horizon, bus: Bus, heat: HeatBus
) -> LowCarbonHandle:
    r"""Penalised slacks of the recourse and the heat dump (SPEC §6.5, §3.14 fix (e)).

    .. math::

        s^{shed}_t, s^{spill}_t, s^{heat}_t, R^{dump}_t \ge 0,\qquad
        \texttt{cost\_slack} = \textstyle\sum_t\big(M^{e}s^{shed}_t + M^{sp}s^{spill}_t + M^{h}s^{heat}_t
            + c^{dump}R^{dump}_t\big)\Delta t

    Injections ``+s^shed - s^spill`` (electric: unserved load, spilled power) and
    ``+s^heat - R^dump`` (heat).  ``R^dump`` is free by default (BAL3-H); note that a free dump also
    lets EH turn surplus wind into dumped heat instead of paying c^cur.
    """
    T = _periods(block, horizon)
    dt = horizon.dt_h
    b = block
    for name, value, doc in (("shed_cost_per_mwh", params.shed_cost_per_mwh, "electric shedding penalty"),
                             ("heat_shed_cost_per_mwh", params.heat_shed_cost_per_mwh, "heat shedding penalty"),
                             ("spill_cost_per_mwh", params.spill_cost_per_mwh, "electric spill penalty"),
                             ("heat_dump_cost_per_mwh", params.heat_dump_cost_per_mwh, "heat dump cost")):
        b.add_component(name, pyo.Param(initialize=value, mutable=True, doc=f"{doc} [万元/MWh]"))
    b.p_shed_mw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="electric load shed [MW] (slack)")
    b.p_spill_mw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="electric power spilled [MW] (slack)")
    b.r_shed_mw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="heat load shed [MW] (slack)")
    b.r_dump_mw = pyo.Var(b.T, within=pyo.NonNegativeReals, doc="heat dumped R^dump_t [MW] (BAL3-H fix e)")
    b.cost_slack = pyo.Expression(
        expr=dt * pyo.quicksum(b.shed_cost_per_mwh * b.p_shed_mw[t] + b.spill_cost_per_mwh * b.p_spill_mw[t]
                               + b.heat_shed_cost_per_mwh * b.r_shed_mw[t]
                               + b.heat_dump_cost_per_mwh * b.r_dump_mw[t] for t in T),
        doc="slack penalties and heat-dump cost [万元]")
    for t in T:
        bus.inject(t, b.p_shed_mw[t] - b.p_spill_mw[t])
        heat.inject(t, b.r_shed_mw[t] - b.r_dump_mw[t])
    bus.cost.append(b.cost_slack)
    return LowCarbonHandle(block=b, outputs={"shed_mw": (b.p_shed_mw, "MW"), "spill_mw": (b.p_spill_mw, "MW"),
                                             "heat_shed_mw": (b.r_shed_mw, "MW"), "heat_dump_mw": (b.r_dump_mw, "MW")},
                           costs={"cost_slack": b.cost_slack})

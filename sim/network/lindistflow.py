"""LinDistFlow constraints and AC validation of a radial feeder (SPEC §5.1, §5.2).

Data
----
The feeder itself (:class:`~scenarios.feeder.Feeder`, the IEEE-33 data of
:func:`~scenarios.feeder.load_ieee33` and the SPEC §5.2 default branch limits
:func:`~scenarios.feeder.default_s_max_mva`) is scenario data and lives in :mod:`scenarios.feeder`;
this module holds the network models that use it.

Units
-----
Everything a coordinator touches is in kW / kvar; voltages are per unit.  Inside the Pyomo block the
squared voltage ``v_sq_pu2`` is in p.u.², so with ``P`` in kW, ``r`` in Ω and ``V_base`` in kV the
LinDistFlow voltage drop (LDF-3) reads

    v_i - v_j = 2 (r P + x Q) / (1000 V_base²)        [p.u.²]

(a kW·Ω is 10⁻³ kV²).  The base power ``S_base`` cancels out of the drop; it is kept for reference.

Transformers and shunts (real feeders, SPEC §9)
-----------------------------------------------
A branch with an off-nominal turns ratio ``n`` (:attr:`~scenarios.feeder.Branch.ratio`: an ideal transformer
``v_to = v_from / n`` ahead of the series impedance) divides the squared voltage it receives by ``n²`` before
the drop:

    v_j = v_i / n² - 2 (r P + x Q) / (1000 V_base²)          [p.u.²]

with ``r``, ``x`` referred to ``V_base``.  The per-bus shunts ``g + j b`` of the feeder
(:attr:`~scenarios.feeder.Feeder.shunt_g_pu`: half of each line's charging, transformers' magnetising) are
constant injections evaluated at ``|V| = 1``: the *shunt demand* ``p_shunt = 1000 S_base g`` kW and
``q_shunt = -1000 S_base b`` kvar (charging, ``b > 0``, is reactive generation), added to the bus's net
demand in the flow balances, so they flow through the upstream branches like any load.  They are
the network's own: :class:`NetworkSolution` and the AC check's inputs hold the net demand of loads and
generators without them (the AC model has the shunts itself).  A feeder with ratio 1 everywhere and no
shunts (IEEE-33) gets exactly the rows and coefficients it had without them.

Sign convention: *net demand* at a bus is load minus generation (kW, kvar), positive when the bus
draws from the feeder.  Generation runs at unity power factor (SPEC §5.1).

Coupling
--------
:func:`build_lindistflow` is a builder (DESIGN principle 1): it creates the network block and never
solves.  Net demand at bus ``j`` in period ``t`` is

    p_net_kw[j, t] = p_load_kw[j, t] - p_gen_kw[j, t] + p_extra_kw(j, t)

where ``p_load_kw``/``p_gen_kw`` are mutable Params (base loads by default, so a plain load flow can
be solved) and ``p_extra_kw`` is an optional callable that a coordinator supplies to add Pyomo
expressions of *other blocks'* variables (EV charging, storage, DR, dispatched PV/wind, or a port
variable of its own).  Same for ``q``.

pandapower
----------
pandapower is imported lazily (only :func:`~scenarios.feeder.load_ieee33` and the reference AC flow need it;
importing it takes ~2 s).  ``runpp`` is always called with ``numba=False``: numba is not a dependency, and
asking for it when it is absent makes pandapower print a warning on every run; for 33 buses the
pure-Python power flow takes ~10-25 ms per period.  It is the *reference* only
(:func:`ac_power_flow_series_pandapower`, used in tests): the AC check itself,
:func:`ac_power_flow_series`, solves all periods at once with the vectorised Newton–Raphson of
:mod:`sim.network.acflow` (~20 ms for the 96 quarter-hours of a day on IEEE-33).  pandapower's
import-time INFO message about the optional plotly package is silenced (its logger is set to WARNING
unless the user configured it).
"""

from __future__ import annotations

import copy
import functools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyomo.core as pyo

from agents.devices.core import Horizon
from scenarios.feeder import Feeder, _pandapower, default_s_max_mva
from sim.network.acflow import AcSeriesResult, PowerFlowError, newton_raphson_series

log = logging.getLogger(__name__)

# SPEC §5.2 defaults
V_MIN_PU = 0.93
V_MAX_PU = 1.07
V0_PU = 1.0

ExtraFn = Callable[[int, int], Any]
"""``f(bus, period)`` -> Pyomo expression, number or ``None`` (nothing extra at that bus/period)."""

ArrayLike = Sequence[float] | Sequence[Sequence[float]] | np.ndarray


# ---------------------------------------------------------------------------- input checks


def _bus_array(values: ArrayLike | None, feeder: Feeder, what: str, n_periods: int | None = None,
               default: np.ndarray | None = None) -> np.ndarray:
    """Per-bus data as a float array.

    ``n_periods=None``: any shape ``(..., n_buses)``.  Otherwise ``(n_buses,)`` (the same in every
    period) or ``(n_periods, n_buses)``, returned as ``(n_periods, n_buses)``.
    """
    nb = feeder.n_buses
    if values is None:
        if default is None:
            default = np.zeros(nb)
        values = default
    arr = np.asarray(values, dtype=float)
    if n_periods is None:
        if arr.ndim == 0 or arr.shape[-1] != nb:
            raise ValueError(f"{what}: expected one value per bus, shape (..., {nb}), got shape {arr.shape}")
    else:
        if arr.shape == (nb,):
            arr = np.broadcast_to(arr, (n_periods, nb))
        elif arr.shape != (n_periods, nb):
            raise ValueError(f"{what}: expected shape ({nb},) or ({n_periods}, {nb}) (periods x buses), "
                             f"got shape {arr.shape}")
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        idx = tuple(int(i) for i in bad[0])
        where = f"bus {feeder.buses[idx[-1]]}" + (f", period {idx[0] + 1}" if arr.ndim == 2 else "")
        raise ValueError(f"{what}: non-finite value at {where}")
    return arr


def _branch_array(values: float | ArrayLike | Mapping[tuple[int, int], float] | None, feeder: Feeder,
                  what: str) -> np.ndarray:
    """Per-branch limits: ``None`` (SPEC default), a scalar, one value per branch, or a mapping
    ``(from, to) -> value`` overriding the default for some branches."""
    if values is None:
        return default_s_max_mva(feeder)
    if isinstance(values, Mapping):
        out = default_s_max_mva(feeder)
        for key, val in values.items():
            if key not in feeder.branch_position:
                raise ValueError(f"{what}: {key} is not a branch of feeder {feeder.name}")
            out[feeder.branch_position[key]] = float(val)
    else:
        arr = np.asarray(values, dtype=float)
        if arr.ndim == 0:
            out = np.full(feeder.n_branches, float(arr))
        elif arr.shape == (feeder.n_branches,):
            out = arr.copy()
        else:
            raise ValueError(f"{what}: expected a scalar or {feeder.n_branches} values, got shape {arr.shape}")
    if not np.all(out > 0):
        k = int(np.argmin(out > 0))
        raise ValueError(f"{what}: must be > 0, branch {feeder.branches[k].key} has {out[k]}")
    return out


# ---------------------------------------------------------------------------- LinDistFlow in numpy


@dataclass(frozen=True)
class LinDistFlowResult:
    """LinDistFlow solution for given net demands.  Leading dimensions follow the input
    (e.g. ``(n_periods, n_buses)``); per-branch arrays are in ``feeder.branches`` order.  Flows and the
    substation power include the feeder's shunt demands (:func:`shunt_demand`)."""

    v_pu: np.ndarray
    v_sq_pu2: np.ndarray
    p_flow_kw: np.ndarray
    q_flow_kvar: np.ndarray
    p_sub_kw: np.ndarray
    q_sub_kvar: np.ndarray


def shunt_demand(feeder: Feeder) -> tuple[np.ndarray, np.ndarray]:
    """The shunts as constant demands at ``|V| = 1`` (module docstring), per bus: ``(1000 S_base g, -1000 S_base b)``
    in kW / kvar (iron losses draw active power, line charging injects reactive power)."""
    scale = 1000.0 * feeder.s_base_mva
    return scale * np.asarray(feeder.shunt_g_pu, dtype=float), -scale * np.asarray(feeder.shunt_b_pu, dtype=float)


def _path_gain(feeder: Feeder) -> np.ndarray:
    """Per branch (feeder order), the product of ``1/n²`` over the branches from the root to its to-bus, itself
    included: what a squared voltage at the root is multiplied by on its way there."""
    gain = {feeder.root: 1.0}
    by_to = {br.to_bus: br for br in feeder.branches}
    for j in feeder.order[1:]:
        gain[j] = gain[feeder.parent[j]] / by_to[j].ratio**2
    return np.array([gain[br.to_bus] for br in feeder.branches])


def lindistflow(
    feeder: Feeder,
    p_load_kw: ArrayLike,
    q_load_kvar: ArrayLike,
    p_gen_kw: ArrayLike | None = None,
    v0_pu: float | ArrayLike = V0_PU,
) -> LinDistFlowResult:
    r"""Solve LinDistFlow (LDF-1…LDF-5, no limits) for given demands by a forward/backward sweep.

    Arrays have shape ``(..., n_buses)``; any leading dimensions (e.g. periods) are vectorised.
    ``v0_pu`` is the substation voltage: one value, or one per leading index (e.g. per period, the
    tap changer's :meth:`scenarios.schema.NetworkSpec.substation_voltage`).

    .. math::

        P = D\,(p^d - p^g + p^{sh}),\quad Q = D\,(q^d + q^{sh})       \text{(LDF-1, LDF-2)}
        v = c \odot \big(V_0^2 - D^\top\,(2(rP + xQ)/(1000 V_{base}^2) / c_{to})\big)   \text{(LDF-3, LDF-4)}
        P^{sub} = \textstyle\sum_j (p^d_j - p^g_j + p^{sh}_j)          \text{(LDF-5)}

    with ``D`` = :attr:`Feeder.subtree`, the shunt demands ``p^{sh}``, ``q^{sh}`` of :func:`shunt_demand` and
    ``c_j`` the product of ``1/n²`` over the branches from the root to bus ``j`` (``c_{to}`` per branch, at its
    to-bus): the closed form of ``v_j = v_i / n² - drop`` along every path (all ones without transformers).
    Raises ``ValueError`` if a squared voltage is not positive (the linearisation has collapsed), naming the bus.
    """
    p_net = _bus_array(p_load_kw, feeder, "p_load_kw") - _bus_array(p_gen_kw, feeder, "p_gen_kw")
    q_net = _bus_array(q_load_kvar, feeder, "q_load_kvar")
    if p_net.shape != q_net.shape:
        raise ValueError(f"q_load_kvar: shape {q_net.shape} differs from p_load_kw/p_gen_kw shape {p_net.shape}")
    d = feeder.subtree
    r, x = feeder.r_x_ohm()
    if feeder.has_shunts:
        p_sh, q_sh = shunt_demand(feeder)
        p_net, q_net = p_net + p_sh, q_net + q_sh
    p_flow = p_net @ d.T
    q_flow = q_net @ d.T
    drop = 2.0 * (r * p_flow + x * q_flow) / (1000.0 * feeder.v_base_kv**2)
    v0 = np.asarray(v0_pu, dtype=float)
    if v0.ndim and v0.shape != p_net.shape[:-1]:
        raise ValueError(f"v0_pu: expected one value or shape {p_net.shape[:-1]} (one per leading index), "
                         f"got shape {v0.shape}")
    if not np.all(np.isfinite(v0) & (v0 > 0)):
        raise ValueError(f"v0_pu: must be finite values > 0, got {v0_pu}")
    ratio = feeder.ratios()
    if np.any(ratio != 1.0):
        # c_j = product of 1/n² on the path to j; v_j = c_j (V0² - sum over the path of drop_k / c_to(k))
        c_to = _path_gain(feeder)
        c = np.ones(feeder.n_buses)
        c[[feeder.bus_position[br.to_bus] for br in feeder.branches]] = c_to
        v_sq = c * ((v0**2)[..., None] - (drop / c_to) @ d)
    else:
        v_sq = (v0**2)[..., None] - drop @ d
    if np.any(v_sq <= 0):
        idx = np.unravel_index(int(np.argmin(v_sq)), v_sq.shape)
        raise ValueError(f"LinDistFlow: squared voltage {v_sq[idx]:.4g} <= 0 at bus {feeder.buses[idx[-1]]}"
                         f"{'' if v_sq.ndim == 1 else f' (index {idx[:-1]})'}: demand far beyond the feeder's capacity")
    return LinDistFlowResult(
        v_pu=np.sqrt(v_sq), v_sq_pu2=v_sq, p_flow_kw=p_flow, q_flow_kvar=q_flow,
        p_sub_kw=p_net.sum(axis=-1), q_sub_kvar=q_net.sum(axis=-1),
    )


def lindistflow_voltages(
    feeder: Feeder,
    p_load_kw: ArrayLike,
    q_load_kvar: ArrayLike,
    p_gen_kw: ArrayLike | None = None,
    v0_pu: float | ArrayLike = V0_PU,
) -> np.ndarray:
    """LinDistFlow voltage magnitudes [p.u.], shape of the input; see :func:`lindistflow`."""
    return lindistflow(feeder, p_load_kw, q_load_kvar, p_gen_kw, v0_pu).v_pu


# ---------------------------------------------------------------------------- LinDistFlow in Pyomo


@dataclass
class NetworkHandle:
    """What :func:`build_lindistflow` returns: the block, its feeder and horizon, and its outputs."""

    block: pyo.Block
    feeder: Feeder
    horizon: Horizon
    outputs: dict[str, tuple[Any, str]] = field(default_factory=dict)
    violation_cost: Any = 0.0
    """Soft voltage limits: the block's ``violation_cost`` Expression [USD], for the coordinator to add to
    its objective; hard limits: the number 0 (so it can be added unconditionally)."""

    @property
    def soft_limits(self) -> bool:
        return hasattr(self.block, "v_under_pu")


def build_lindistflow(
    block: pyo.Block,
    feeder: Feeder,
    horizon: Horizon,
    p_load_kw: ArrayLike | None = None,
    q_load_kvar: ArrayLike | None = None,
    p_gen_kw: ArrayLike | None = None,
    *,
    v_min_pu: float = V_MIN_PU,
    v_max_pu: float = V_MAX_PU,
    v0_pu: float = V0_PU,
    s_max_mva: float | ArrayLike | Mapping[tuple[int, int], float] | None = None,
    p_extra_kw: ExtraFn | None = None,
    q_extra_kvar: ExtraFn | None = None,
    reverse_flow: bool = True,
    branch_limits: bool = True,
    soft_limits: bool = False,
    violation_cost_per_pu_h: float = 0.0,
    ldc_pu_per_mw: float = 0.0,
) -> NetworkHandle:
    r"""LinDistFlow network constraints over all buses and periods (SPEC §5.2).  Builds only.

    Net demand (kW, kvar) at bus ``j`` in period ``t`` — an ``Expression``, not a variable:

    .. math::

        p^{net}_{j,t} = p^{load}_{j,t} - p^{gen}_{j,t} + f_p(j,t),\qquad q^{net}_{j,t} = q^{load}_{j,t} + f_q(j,t)

    ``p_load_kw``, ``q_load_kvar``, ``p_gen_kw`` become mutable Params (shape ``(n_buses,)`` for every
    period or ``(horizon.n, n_buses)``; defaults: the feeder's base loads and no generation), changed
    later with :func:`set_network_data`.  ``p_extra_kw``/``q_extra_kvar`` are the coupling hook: a
    coordinator passes ``f(bus, t)`` returning a Pyomo expression of its agents' variables (or a
    number, or ``None``).  For a port-style link, create a variable on the coordinator's block and
    return it from ``f``.

    For every branch ``(i→j)`` and period ``t`` (P in kW, Q in kvar, v in p.u.²):

    .. math::

        P_{ij,t} = p^{net}_{j,t} + p^{sh}_j + \textstyle\sum_{k:(j\to k)} P_{jk,t}     \text{(LDF-1, def\_p\_flow)}
        Q_{ij,t} = q^{net}_{j,t} + q^{sh}_j + \textstyle\sum_{k:(j\to k)} Q_{jk,t}     \text{(LDF-2, def\_q\_flow)}
        \tfrac{1000 V_{base}^2}{2}(v_{i,t} / n_{ij}^2 - v_{j,t}) = r_{ij}P_{ij,t} + x_{ij}Q_{ij,t}
                                                            \text{(LDF-3, def\_voltage\_drop)}
        v_{root,t} = V_0^2 + 2 V_0 k P^{sub}_t / 1000       \text{(LDF-4 with the tap changer, def\_v\_root)}
        V_{min}^2 \le v_{j,t} \le V_{max}^2,\ j \ne root    \text{(LDF-4/A8, res\_v\_min, res\_v\_max)}
        P^{sub}_t = p^{net}_{root,t} + p^{sh}_{root} + \textstyle\sum_{k:(root\to k)} P_{root\,k,t}
                                                            \text{(LDF-5, def\_p\_sub; same for Q)}
        \cos(\tfrac{2\pi m}{8})P_{ij,t} + \sin(\tfrac{2\pi m}{8})Q_{ij,t} \le S^{max}_{ij},\ m=0..7
                                                            \text{(octagon, res\_s\_max)}

    With ``soft_limits=True`` the voltage limits get non-negative slacks ``s^-_{j,t}``, ``s^+_{j,t}``
    (``v_under_pu``, ``v_over_pu``, in p.u. of voltage *magnitude*) and a price (scenario
    ``[network] voltage_limits = "soft"``, ``schema.NetworkSpec``):

    .. math::

        v_{j,t} + 2 V_{min} s^-_{j,t} \ge V_{min}^2,\qquad v_{j,t} - 2 V_{max} s^+_{j,t} \le V_{max}^2
                                                            \text{(res\_v\_min, res\_v\_max)}
        C^{volt} = c^{volt}\,\Delta t \textstyle\sum_{j \ne root,\,t} (s^-_{j,t} + s^+_{j,t})
                                                            \text{(violation\_cost, USD)}

    The root voltage follows the substation's on-load tap changer with line-drop compensation
    ``V_0,t = V_0 + k P^sub_t`` (``k = ldc_pu_per_mw`` in p.u. per MW, P in kW above), squared to first
    order: ``(V_0 + kP)^2 ≈ V_0^2 + 2 V_0 k P`` understates it by ``(kP)^2`` (6e-3 p.u.² at kP = 0.08,
    about 3e-3 p.u. of voltage: conservative for the lower limit).  ``k = 0`` (default) fixes it to
    ``V_0^2`` as a bound of ``v_sq_pu2[root, t]``.  The model has no tap range: the AC check
    (``NetworkSpec.substation_voltage``) clips ``V_0,t`` to ``[v_min, v_max]``, which the DA plans of the
    bundled scenario never reach (the bus limits next to the root bind first).

    The rows are the first-order expansion of ``v >= (V_min - s)^2 = V_min^2 - 2 V_min s + s^2`` (and
    ``v <= (V_max + s)^2``), linear because the block works with ``v = V^2``.  For a voltage
    ``V = V_min - d`` the slack is ``d - d^2/(2 V_min)``: it understates an undervoltage by
    ``d^2/(2 V_min)`` (1e-4 p.u. at d = 0.014, 9e-4 at d = 0.04); an overvoltage ``V = V_max + d``
    is overstated by ``d^2/(2 V_max)``.  ``c^{volt}`` = ``violation_cost_per_pu_h`` [USD/(p.u.·h)]
    is the mutable Param ``violation_cost_per_pu_h``.  The builder owns no objective: the coordinator
    adds ``violation_cost`` (also :attr:`NetworkHandle.violation_cost`) to its own.  With
    ``soft_limits=False`` (hard limits, 004 A8) there are no slack columns, no cost Param and no
    Expression, and ``violation_cost_per_pu_h`` is ignored.

    Modelling choices:

    * LDF-3 is written in kW·Ω (both sides times ``1000 V_base²/2``) and the voltage limits are rows,
      not bounds.  Both make a voltage problem show up as ``res_v_min``/``res_v_max`` in
      :class:`agents.milp.SolveError` (the elastic diagnosis penalises every row's slack by 1, and a
      kW·Ω of LDF-3 slack moves a voltage by only ~1e-5 p.u.²).  HiGHS's presolve turns the
      single-variable limit rows into bounds, so they cost nothing.
    * The octagon circumscribes the circle ``|S| = S_max``: it admits up to ``S_max / cos(π/8)``
      (+8 %) between its faces.  ``branch_limits=False`` leaves it out.
    * ``reverse_flow=False`` bounds ``p_sub_kw >= 0`` (no export upstream, SPEC §5.2 default
      ``P^sell = 0``); otherwise the coordinator adds its own ``P^buy - P^sell`` link.

    Transformers and shunts (module docstring): ``n_{ij}`` is the branch's turns ratio and ``p^{sh}_j``,
    ``q^{sh}_j`` the bus's shunt demand at ``|V| = 1`` (:func:`shunt_demand`).  Only the branches whose ratio
    is not exactly 1 (set ``TAPPED``, mutable param ``ratio``) and the buses with a shunt (set ``SHUNTS``,
    mutable params ``p_shunt_kw``, ``q_shunt_kvar``) get these terms; on IEEE-33 both sets are empty and
    every row is what it is without them.

    Components: sets ``T``, ``BUSES``, ``LINES`` (``(i, j)`` pairs), ``OCTAGON``, ``TAPPED``, ``SHUNTS``; mutable
    params ``p_load_kw``, ``q_load_kvar``, ``p_gen_kw`` (bus, t), ``r_ohm``, ``x_ohm``, ``s_max_kva`` (line),
    ``ratio`` (tapped line), ``p_shunt_kw``, ``q_shunt_kvar`` (shunt bus),
    ``v_min_pu``, ``v_max_pu``, ``v0_pu`` (and ``ldc_pu_per_mw`` with the constraint ``def_v_root`` when
    ``ldc_pu_per_mw > 0``); expressions ``p_net_kw``, ``q_net_kvar``; variables
    ``p_flow_kw``, ``q_flow_kvar`` (line, t), ``v_sq_pu2`` (bus, t), ``p_sub_kw``, ``q_sub_kvar`` (t).
    Soft limits add set ``NONROOT``'s slacks ``v_under_pu``, ``v_over_pu`` (bus, t), the mutable
    param ``violation_cost_per_pu_h`` and the expression ``violation_cost``.  No objective.
    Results: :func:`network_solution`.
    """
    T = horizon.periods
    n = horizon.n
    b = block
    pl = _bus_array(p_load_kw, feeder, "p_load_kw", n, default=feeder.p_load_kw)
    ql = _bus_array(q_load_kvar, feeder, "q_load_kvar", n, default=feeder.q_load_kvar)
    pg = _bus_array(p_gen_kw, feeder, "p_gen_kw", n)
    s_max = _branch_array(s_max_mva, feeder, "s_max_mva")
    for what, val in (("v_min_pu", v_min_pu), ("v_max_pu", v_max_pu), ("v0_pu", v0_pu)):
        if not (math.isfinite(val) and val > 0):
            raise ValueError(f"{what}: must be a finite value > 0, got {val}")
    if not v_min_pu < v_max_pu:
        raise ValueError(f"v_min_pu ({v_min_pu}) must be below v_max_pu ({v_max_pu})")
    if not (math.isfinite(violation_cost_per_pu_h) and violation_cost_per_pu_h >= 0):
        raise ValueError(f"violation_cost_per_pu_h: must be a finite value >= 0, got {violation_cost_per_pu_h}")
    if not (math.isfinite(ldc_pu_per_mw) and ldc_pu_per_mw >= 0):
        raise ValueError(f"ldc_pu_per_mw: must be a finite value >= 0 p.u./MW, got {ldc_pu_per_mw}")
    root = feeder.root
    pos = feeder.bus_position
    lines = [br.key for br in feeder.branches]

    b.T = pyo.Set(initialize=T, ordered=True, doc="periods")
    b.BUSES = pyo.Set(initialize=feeder.buses, ordered=True, doc=f"buses of feeder {feeder.name}")
    b.LINES = pyo.Set(initialize=lines, dimen=2, ordered=True, doc="radial branches (from, to), away from the root")
    b.OCTAGON = pyo.Set(initialize=range(8), ordered=True, doc="faces of the apparent-power octagon")

    def per_bus(arr: np.ndarray) -> dict[tuple[int, int], float]:
        return {(j, t): float(arr[t - 1, pos[j]]) for j in feeder.buses for t in T}

    b.p_load_kw = pyo.Param(b.BUSES, b.T, initialize=per_bus(pl), mutable=True, doc="active load [kW]")
    b.q_load_kvar = pyo.Param(b.BUSES, b.T, initialize=per_bus(ql), mutable=True, doc="reactive load [kvar]")
    b.p_gen_kw = pyo.Param(b.BUSES, b.T, initialize=per_bus(pg), mutable=True,
                           doc="fixed generation, unity power factor [kW]")
    b.r_ohm = pyo.Param(b.LINES, initialize={br.key: br.r_ohm for br in feeder.branches}, mutable=True,
                        doc="branch resistance [ohm]")
    b.x_ohm = pyo.Param(b.LINES, initialize={br.key: br.x_ohm for br in feeder.branches}, mutable=True,
                        doc="branch reactance [ohm]")
    b.s_max_kva = pyo.Param(b.LINES, initialize={k: 1000.0 * float(s) for k, s in zip(lines, s_max, strict=True)},
                            mutable=True, doc="apparent-power limit [kVA]")
    b.v_min_pu = pyo.Param(initialize=v_min_pu, mutable=True, doc="lower voltage limit [p.u.] (A8)")
    b.v_max_pu = pyo.Param(initialize=v_max_pu, mutable=True, doc="upper voltage limit [p.u.] (A8)")
    b.v0_pu = pyo.Param(initialize=v0_pu, mutable=True, doc="substation voltage [p.u.]")
    tapped = [br.key for br in feeder.branches if br.ratio != 1.0]
    b.TAPPED = pyo.Set(initialize=tapped, dimen=2, ordered=True,
                       doc="branches with an off-nominal turns ratio (transformers not at 1)")
    b.ratio = pyo.Param(b.TAPPED, initialize={br.key: br.ratio for br in feeder.branches if br.ratio != 1.0},
                        mutable=True, doc="off-nominal turns ratio n seen from the from-bus [-]")
    p_sh, q_sh = shunt_demand(feeder)
    shunts = [j for j in feeder.buses if p_sh[pos[j]] != 0.0 or q_sh[pos[j]] != 0.0]
    b.SHUNTS = pyo.Set(initialize=shunts, ordered=True, doc="buses with a shunt admittance")
    b.p_shunt_kw = pyo.Param(b.SHUNTS, initialize={j: float(p_sh[pos[j]]) for j in shunts}, mutable=True,
                             doc="shunt active demand at |V| = 1 (iron losses) [kW]")
    b.q_shunt_kvar = pyo.Param(b.SHUNTS, initialize={j: float(q_sh[pos[j]]) for j in shunts}, mutable=True,
                               doc="shunt reactive demand at |V| = 1 (negative: line charging) [kvar]")
    shunt_set = set(shunts)
    tapped_set = set(tapped)

    def extra(fn: ExtraFn | None, j: int, t: int) -> Any:
        if fn is None:
            return 0.0
        val = fn(j, t)
        return 0.0 if val is None else val

    b.p_net_kw = pyo.Expression(
        b.BUSES, b.T, rule=lambda m, j, t: m.p_load_kw[j, t] - m.p_gen_kw[j, t] + extra(p_extra_kw, j, t),
        doc="net active demand (load - generation) [kW]",
    )
    b.q_net_kvar = pyo.Expression(
        b.BUSES, b.T, rule=lambda m, j, t: m.q_load_kvar[j, t] + extra(q_extra_kvar, j, t),
        doc="net reactive demand [kvar]",
    )
    b.p_flow_kw = pyo.Var(b.LINES, b.T, doc="active power flow i->j at the sending end [kW]")
    b.q_flow_kvar = pyo.Var(b.LINES, b.T, doc="reactive power flow i->j at the sending end [kvar]")
    b.v_sq_pu2 = pyo.Var(
        b.BUSES, b.T,
        bounds=lambda m, j, t: (m.v0_pu**2, m.v0_pu**2) if j == root and not ldc_pu_per_mw else (None, None),
        doc="squared voltage magnitude [p.u.^2]; v0^2 at the root, or the tap changer's (LDF-4)",
    )
    b.p_sub_kw = pyo.Var(b.T, bounds=(None if reverse_flow else 0.0, None),
                         doc="substation active injection from upstream [kW] (LDF-5)")
    b.q_sub_kvar = pyo.Var(b.T, doc="substation reactive injection from upstream [kvar]")

    def demand(m: pyo.Block, j: int, t: int, reactive: bool) -> Any:
        """Net demand at ``j`` plus its shunt demand (the shunt term only where ``j`` has a shunt)."""
        own = m.q_net_kvar[j, t] if reactive else m.p_net_kw[j, t]
        if j not in shunt_set:
            return own
        return own + (m.q_shunt_kvar[j] if reactive else m.p_shunt_kw[j])

    def p_flow_rule(m: pyo.Block, i: int, j: int, t: int) -> Any:
        return m.p_flow_kw[i, j, t] == demand(m, j, t, False) + pyo.quicksum(
            m.p_flow_kw[j, k, t] for k in feeder.children[j])

    def q_flow_rule(m: pyo.Block, i: int, j: int, t: int) -> Any:
        return m.q_flow_kvar[i, j, t] == demand(m, j, t, True) + pyo.quicksum(
            m.q_flow_kvar[j, k, t] for k in feeder.children[j])

    z_scale = 1000.0 * feeder.v_base_kv**2 / 2.0  # kW*ohm per p.u.^2

    def drop_rule(m: pyo.Block, i: int, j: int, t: int) -> Any:
        v_from = m.v_sq_pu2[i, t] / m.ratio[i, j] ** 2 if (i, j) in tapped_set else m.v_sq_pu2[i, t]
        return z_scale * (v_from - m.v_sq_pu2[j, t]) == (
            m.r_ohm[i, j] * m.p_flow_kw[i, j, t] + m.x_ohm[i, j] * m.q_flow_kvar[i, j, t])

    b.def_p_flow = pyo.Constraint(b.LINES, b.T, rule=p_flow_rule, doc="active power balance at j (LDF-1)")
    b.def_q_flow = pyo.Constraint(b.LINES, b.T, rule=q_flow_rule, doc="reactive power balance at j (LDF-2)")
    b.def_voltage_drop = pyo.Constraint(b.LINES, b.T, rule=drop_rule,
                                        doc="voltage drop along i->j, in kW*ohm (LDF-3)")
    b.NONROOT = pyo.Set(initialize=[j for j in feeder.buses if j != root], ordered=True,
                        doc="buses with voltage limits")
    if soft_limits:
        b.v_under_pu = pyo.Var(b.NONROOT, b.T, bounds=(0.0, None),
                               doc="undervoltage below v_min [p.u. of |V|], first order in v_sq_pu2")
        b.v_over_pu = pyo.Var(b.NONROOT, b.T, bounds=(0.0, None),
                              doc="overvoltage above v_max [p.u. of |V|], first order in v_sq_pu2")
        b.violation_cost_per_pu_h = pyo.Param(initialize=violation_cost_per_pu_h, mutable=True,
                                              doc="price of a voltage violation [USD/(p.u.*h)]")
        b.res_v_min = pyo.Constraint(
            b.NONROOT, b.T,
            rule=lambda m, j, t: m.v_sq_pu2[j, t] + 2 * m.v_min_pu * m.v_under_pu[j, t] >= m.v_min_pu**2,
            doc="soft lower voltage limit (LDF-4, A8): (v_min - s)^2 to first order")
        b.res_v_max = pyo.Constraint(
            b.NONROOT, b.T,
            rule=lambda m, j, t: m.v_sq_pu2[j, t] - 2 * m.v_max_pu * m.v_over_pu[j, t] <= m.v_max_pu**2,
            doc="soft upper voltage limit (LDF-4, A8): (v_max + s)^2 to first order")
        b.violation_cost = pyo.Expression(
            expr=b.violation_cost_per_pu_h * horizon.dt_h * pyo.quicksum(
                b.v_under_pu[j, t] + b.v_over_pu[j, t] for j in b.NONROOT for t in b.T),
            doc="cost of the voltage violations [USD]; the coordinator adds it to its objective")
    else:
        b.res_v_min = pyo.Constraint(b.NONROOT, b.T, rule=lambda m, j, t: m.v_sq_pu2[j, t] >= m.v_min_pu**2,
                                     doc="lower voltage limit (LDF-4, A8)")
        b.res_v_max = pyo.Constraint(b.NONROOT, b.T, rule=lambda m, j, t: m.v_sq_pu2[j, t] <= m.v_max_pu**2,
                                     doc="upper voltage limit (LDF-4, A8)")
    if ldc_pu_per_mw:
        b.ldc_pu_per_mw = pyo.Param(initialize=ldc_pu_per_mw, mutable=True,
                                    doc="tap changer's line-drop compensation [p.u./MW]")
        b.def_v_root = pyo.Constraint(
            b.T, rule=lambda m, t: m.v_sq_pu2[root, t] == m.v0_pu**2 + 2 * m.v0_pu * m.ldc_pu_per_mw * m.p_sub_kw[t]
            / 1000.0, doc="root voltage of the tap changer, V0 + k P_sub squared to first order (LDF-4)")
    b.def_p_sub = pyo.Constraint(
        b.T, rule=lambda m, t: m.p_sub_kw[t] == demand(m, root, t, False) + pyo.quicksum(
            m.p_flow_kw[root, k, t] for k in feeder.children[root]),
        doc="substation active injection (LDF-5)")
    b.def_q_sub = pyo.Constraint(
        b.T, rule=lambda m, t: m.q_sub_kvar[t] == demand(m, root, t, True) + pyo.quicksum(
            m.q_flow_kvar[root, k, t] for k in feeder.children[root]),
        doc="substation reactive injection (LDF-5)")
    if branch_limits:
        face = {m: (_clean(math.cos(2 * math.pi * m / 8)), _clean(math.sin(2 * math.pi * m / 8))) for m in range(8)}

        def octagon_rule(m: pyo.Block, i: int, j: int, k: int, t: int) -> Any:
            c, s = face[k]
            terms = []
            if c:
                terms.append(c * m.p_flow_kw[i, j, t])
            if s:
                terms.append(s * m.q_flow_kvar[i, j, t])
            return pyo.quicksum(terms) <= m.s_max_kva[i, j]

        b.res_s_max = pyo.Constraint(b.LINES, b.OCTAGON, b.T, rule=octagon_rule,
                                     doc="apparent-power limit, octagon (SPEC §5.2, replaces A9)")
    outputs: dict[str, tuple[Any, str]] = {
        "v_sq_pu2": (b.v_sq_pu2, "p.u.^2"),
        "p_flow_kw": (b.p_flow_kw, "kW"),
        "q_flow_kvar": (b.q_flow_kvar, "kvar"),
        "p_sub_kw": (b.p_sub_kw, "kW"),
        "q_sub_kvar": (b.q_sub_kvar, "kvar"),
    }
    if soft_limits:
        outputs["v_under_pu"] = (b.v_under_pu, "p.u.")
        outputs["v_over_pu"] = (b.v_over_pu, "p.u.")
    return NetworkHandle(block=b, feeder=feeder, horizon=horizon, outputs=outputs,
                         violation_cost=b.violation_cost if soft_limits else 0.0)


def _clean(c: float) -> float:
    """Round the octagon's direction cosines: cos(pi/2) is 6e-17, which should be 0."""
    return 0.0 if abs(c) < 1e-12 else c


def set_network_data(
    handle: NetworkHandle,
    p_load_kw: ArrayLike | None = None,
    q_load_kvar: ArrayLike | None = None,
    p_gen_kw: ArrayLike | None = None,
) -> None:
    """Write new demand/generation data into the block's mutable Params (``None`` = unchanged).

    Shapes as in :func:`build_lindistflow`.  Follow with :meth:`agents.milp.HighsModel.update`.
    """
    feeder, horizon, b = handle.feeder, handle.horizon, handle.block
    pos = feeder.bus_position
    for what, values, param in (("p_load_kw", p_load_kw, b.p_load_kw), ("q_load_kvar", q_load_kvar, b.q_load_kvar),
                                ("p_gen_kw", p_gen_kw, b.p_gen_kw)):
        if values is None:
            continue
        arr = _bus_array(values, feeder, what, horizon.n)
        param.store_values({(j, t): float(arr[t - 1, pos[j]]) for j in feeder.buses for t in horizon.periods})


@dataclass(frozen=True)
class VoltageViolation:
    """Solved soft-limit slacks of a network block (see :func:`build_lindistflow`).

    ``under_pu``/``over_pu`` are ``(n_periods, n_buses)`` in p.u. of voltage magnitude (first order;
    0 at the root, which has no limit).  ``max_*_pu`` are the largest per period and ``max_*_bus`` the
    bus where it occurs (-1 in a period without a violation above 1e-9 p.u.).  ``cost`` is
    ``violation_cost_per_pu_h * dt_h * (sum of all slacks)`` [USD], the block's ``violation_cost``.
    """

    under_pu: np.ndarray
    over_pu: np.ndarray
    max_under_pu: np.ndarray
    max_under_bus: np.ndarray
    max_over_pu: np.ndarray
    max_over_bus: np.ndarray
    cost: float


_VIOLATION_TOL_PU = 1e-9


def _voltage_violation(model: Any, handle: NetworkHandle) -> VoltageViolation:
    feeder, horizon, b = handle.feeder, handle.horizon, handle.block
    n, nb = horizon.n, feeder.n_buses
    buses = np.array(feeder.buses)

    def read(var: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        arr = np.zeros((n, nb))
        for k, j in enumerate(feeder.buses):
            if j != feeder.root:
                arr[:, k] = model.values(var, [(j, t) for t in horizon.periods])
        arr = np.maximum(arr, 0.0)  # solver noise below the bound
        idx = np.argmax(arr, axis=1)
        peak = arr[np.arange(n), idx]
        return arr, peak, np.where(peak > _VIOLATION_TOL_PU, buses[idx], -1)

    under, max_under, under_bus = read(b.v_under_pu)
    over, max_over, over_bus = read(b.v_over_pu)
    cost = float(pyo.value(b.violation_cost_per_pu_h)) * horizon.dt_h * float(under.sum() + over.sum())
    return VoltageViolation(under_pu=under, over_pu=over, max_under_pu=max_under, max_under_bus=under_bus,
                            max_over_pu=max_over, max_over_bus=over_bus, cost=cost)


@dataclass(frozen=True)
class NetworkSolution:
    """Solved network quantities, ``(n_periods, n_buses)`` / ``(n_periods, n_branches)`` / ``(n_periods,)``.

    ``p_net_kw``/``q_net_kvar`` are recovered from the flows (LDF-1/LDF-5 solved for the net demand),
    so they include whatever a coordinator coupled in through ``p_extra_kw``; the feeder's shunt demands
    (the block's ``p_shunt_kw``, ``q_shunt_kvar``) are taken out, so they are the loads' and generators'
    net demand, what :func:`ac_check` hands to the AC model (which has the shunts itself).  Flows and
    substation power include the shunts.
    """

    v_pu: np.ndarray
    p_flow_kw: np.ndarray
    q_flow_kvar: np.ndarray
    p_sub_kw: np.ndarray
    q_sub_kvar: np.ndarray
    p_net_kw: np.ndarray
    q_net_kvar: np.ndarray
    voltage_violation: VoltageViolation | None = None
    """Soft limits: the solved slacks; hard limits: ``None`` (no slack is modelled)."""


def network_solution(model: Any, handle: NetworkHandle) -> NetworkSolution:
    """Read a solved network block out of ``model`` (an :class:`agents.milp.HighsModel`)."""
    feeder, T, b = handle.feeder, handle.horizon.periods, handle.block
    n = len(T)
    lines = [br.key for br in feeder.branches]
    v_sq = model.values(b.v_sq_pu2, [(j, t) for t in T for j in feeder.buses]).reshape(n, feeder.n_buses)
    pf = model.values(b.p_flow_kw, [(*k, t) for t in T for k in lines]).reshape(n, feeder.n_branches)
    qf = model.values(b.q_flow_kvar, [(*k, t) for t in T for k in lines]).reshape(n, feeder.n_branches)
    p_sub = model.values(b.p_sub_kw, T)
    q_sub = model.values(b.q_sub_kvar, T)
    # net demand = inflow - outflows (+ substation injection at the root)
    inc = np.zeros((feeder.n_branches, feeder.n_buses))  # +1 at the to-bus, -1 at the from-bus
    for k, br in enumerate(feeder.branches):
        inc[k, feeder.bus_position[br.to_bus]] += 1.0
        inc[k, feeder.bus_position[br.from_bus]] -= 1.0
    root = feeder.bus_position[feeder.root]
    p_net = pf @ inc
    q_net = qf @ inc
    p_net[:, root] += p_sub
    q_net[:, root] += q_sub
    for j in b.SHUNTS:  # the network's own shunt demand is not a load's
        p_net[:, feeder.bus_position[j]] -= float(pyo.value(b.p_shunt_kw[j]))
        q_net[:, feeder.bus_position[j]] -= float(pyo.value(b.q_shunt_kvar[j]))
    return NetworkSolution(
        v_pu=np.sqrt(np.maximum(v_sq, 0.0)), p_flow_kw=pf, q_flow_kvar=qf, p_sub_kw=p_sub, q_sub_kvar=q_sub,
        p_net_kw=p_net, q_net_kvar=q_net,
        voltage_violation=_voltage_violation(model, handle) if handle.soft_limits else None,
    )


# ---------------------------------------------------------------------------- AC power flow


@dataclass(frozen=True)
class AcResult:
    """AC power flow of one period: ``v_pu`` per bus (feeder order), losses and substation power."""

    v_pu: np.ndarray
    losses_kw: float
    p_sub_kw: float
    q_sub_kvar: float
    converged: bool


@functools.cache
def _template_net(feeder: Feeder, v0_pu: float) -> Any:
    """A pandapower net of ``feeder`` with one load and one static generator per bus (all 0).

    Every bus is at ``V_base``.  A branch of ratio 1 is a line (``r``, ``x`` in Ω, no charging).  A branch
    of ratio ``n ≠ 1`` is a two-winding transformer from its from-bus (``hv_bus``) with ``vn_hv_kv = n V_base``,
    ``vn_lv_kv = V_base``, ``sn_mva = S_base``, ``vk_percent = 100 |z|``, ``vkr_percent = 100 r`` (``z`` in p.u.)
    and no magnetising branch: pandapower's ratio ``(vn_hv_kv / V_base) / (vn_lv_kv / V_base) = n`` at the hv
    side and the impedance on the lv side, the model of :mod:`sim.network.acflow`.  Each bus's shunt
    ``g + j b`` is a pandapower shunt with ``p_mw = g S_base`` and ``q_mvar = -b S_base`` (constant impedance).
    """
    pp = _pandapower()
    net = pp.create_empty_network(name=feeder.name, sn_mva=feeder.s_base_mva)
    idx = pp.create_buses(net, feeder.n_buses, vn_kv=feeder.v_base_kv, name=[str(b) for b in feeder.buses])
    pos = feeder.bus_position
    pp.create_ext_grid(net, int(idx[pos[feeder.root]]), vm_pu=v0_pu, va_degree=0.0)
    r, x = feeder.r_x_ohm()
    ratio = feeder.ratios()
    line = ratio == 1.0
    pp.create_lines_from_parameters(
        net,
        [int(idx[pos[br.from_bus]]) for br, ln in zip(feeder.branches, line, strict=True) if ln],
        [int(idx[pos[br.to_bus]]) for br, ln in zip(feeder.branches, line, strict=True) if ln],
        length_km=1.0, r_ohm_per_km=r[line], x_ohm_per_km=x[line], c_nf_per_km=0.0, max_i_ka=99999.0,
    )
    for k in np.flatnonzero(~line):
        br = feeder.branches[k]
        z_pu = complex(r[k], x[k]) / feeder.z_base_ohm
        pp.create_transformer_from_parameters(
            net, int(idx[pos[br.from_bus]]), int(idx[pos[br.to_bus]]), sn_mva=feeder.s_base_mva,
            vn_hv_kv=float(ratio[k]) * feeder.v_base_kv, vn_lv_kv=feeder.v_base_kv,
            vkr_percent=100.0 * z_pu.real, vk_percent=100.0 * abs(z_pu), pfe_kw=0.0, i0_percent=0.0,
        )
    g_sh, b_sh = np.asarray(feeder.shunt_g_pu, dtype=float), np.asarray(feeder.shunt_b_pu, dtype=float)
    for k in np.flatnonzero((g_sh != 0) | (b_sh != 0)):
        pp.create_shunt(net, int(idx[k]), p_mw=float(g_sh[k]) * feeder.s_base_mva,
                        q_mvar=-float(b_sh[k]) * feeder.s_base_mva, vn_kv=feeder.v_base_kv)
    pp.create_loads(net, [int(i) for i in idx], p_mw=0.0, q_mvar=0.0)
    pp.create_sgens(net, [int(i) for i in idx], p_mw=0.0, q_mvar=0.0)
    return net


def _ac_inputs(feeder: Feeder, p_load_kw: ArrayLike, q_load_kvar: ArrayLike, p_gen_kw: ArrayLike | None,
               v0_pu: float | ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Checked ``(n_periods, n_buses)`` load/generation arrays and one slack voltage per period."""
    pl = np.asarray(p_load_kw, dtype=float)
    if pl.ndim != 2:
        raise ValueError(f"p_load_kw: expected shape (n_periods, {feeder.n_buses}), got shape {pl.shape}")
    n = pl.shape[0]
    pl = _bus_array(pl, feeder, "p_load_kw", n)
    ql = _bus_array(q_load_kvar, feeder, "q_load_kvar", n)
    pg = _bus_array(p_gen_kw, feeder, "p_gen_kw", n)
    v0 = np.asarray(v0_pu, dtype=float)
    if v0.ndim > 1 or v0.size not in (1, n) or not np.all(np.isfinite(v0) & (v0 > 0)):
        raise ValueError(f"v0_pu: expected one value > 0 or {n} (one per period), got {v0_pu!r}")
    return pl, ql, pg, np.broadcast_to(v0.reshape(-1), (n,))


def _not_converged(feeder: Feeder, k: int, pl: np.ndarray, ql: np.ndarray, pg: np.ndarray, why: str) -> str:
    return (f"AC power flow of feeder {feeder.name} did not converge in period {k + 1} "
            f"(net demand {pl[k].sum() - pg[k].sum():.1f} kW, {ql[k].sum():.1f} kvar): {why}")


def ac_power_flow_series(
    feeder: Feeder,
    p_load_kw: ArrayLike,
    q_load_kvar: ArrayLike,
    p_gen_kw: ArrayLike | None = None,
    v0_pu: float | ArrayLike = V0_PU,
    raise_on_failure: bool = True,
) -> AcSeriesResult:
    """AC power flow of every row of ``(n_periods, n_buses)`` data in one batched Newton–Raphson.

    Loads are constant-PQ; generation is at unity power factor (a negative net demand is fine).  The
    substation bus is the slack at ``v0_pu`` (one value, or one per period: the tap changer's
    voltage).  Losses are the sum of the branch losses.  The equations and the solver are in
    :mod:`sim.network.acflow` (all periods at once, pandapower's tolerance of 1e-8 MVA and limit of 10
    iterations); :func:`ac_power_flow_series_pandapower` is the reference it is tested against.
    Periods are numbered from 1 in messages.  On non-convergence this raises :class:`PowerFlowError`
    naming the first such period, or (``raise_on_failure=False``) reports NaN values and
    ``converged = False`` for it.
    """
    pl, ql, pg, v0 = _ac_inputs(feeder, p_load_kw, q_load_kvar, p_gen_kw, v0_pu)
    res, iterations = newton_raphson_series(feeder, pl - pg, ql, v0)
    for k in np.flatnonzero(~res.converged):
        msg = _not_converged(feeder, int(k), pl, ql, pg,
                             f"Newton-Raphson mismatch above 1e-8 MVA after {int(iterations[k])} iterations "
                             "(load too heavy for the feeder?)")
        if raise_on_failure:
            raise PowerFlowError(msg)
        log.warning("%s", msg)
    log.debug("AC power flow of %s: %d periods, %d converged", feeder.name, len(pl), int(res.converged.sum()))
    return res


def ac_power_flow_series_pandapower(
    feeder: Feeder,
    p_load_kw: ArrayLike,
    q_load_kvar: ArrayLike,
    p_gen_kw: ArrayLike | None = None,
    v0_pu: float | ArrayLike = V0_PU,
    raise_on_failure: bool = True,
) -> AcSeriesResult:
    """The reference of :func:`ac_power_flow_series`: pandapower's ``runpp`` once per period (slow: ~15 ms each).

    Same model, arguments and results: each period's net (:func:`_template_net`: lines, transformers for the
    branches with a ratio, shunts) has a constant-PQ load and a static generator (unity power factor) at every
    bus and the external grid at ``v0_pu``; losses are ``res_line.pl_mw + res_trafo.pl_mw + res_shunt.p_mw``.
    """
    pl, ql, pg, v0 = _ac_inputs(feeder, p_load_kw, q_load_kvar, p_gen_kw, v0_pu)
    n = len(pl)
    pp = _pandapower()
    net = copy.deepcopy(_template_net(feeder, V0_PU))  # the slack voltage is set per period below
    nb = feeder.n_buses
    v = np.full((n, nb), np.nan)
    losses = np.full(n, np.nan)
    p_sub = np.full(n, np.nan)
    q_sub = np.full(n, np.nan)
    ok = np.zeros(n, dtype=bool)
    init = "auto"
    for k in range(n):
        net.load["p_mw"] = pl[k] / 1000.0
        net.load["q_mvar"] = ql[k] / 1000.0
        net.sgen["p_mw"] = pg[k] / 1000.0
        net.ext_grid["vm_pu"] = float(v0[k])
        try:
            pp.runpp(net, algorithm="nr", init=init, numba=False)
        except pp.LoadflowNotConverged as exc:
            msg = _not_converged(feeder, k, pl, ql, pg, str(exc))
            if raise_on_failure:
                raise PowerFlowError(msg) from exc
            log.warning("%s", msg)
            init = "auto"
            continue
        ok[k] = True
        init = "results"
        v[k] = net.res_bus.vm_pu.to_numpy()
        losses[k] = 1000.0 * float(net.res_line.pl_mw.sum() + net.res_trafo.pl_mw.sum() + net.res_shunt.p_mw.sum())
        p_sub[k] = 1000.0 * float(net.res_ext_grid.p_mw.iloc[0])
        q_sub[k] = 1000.0 * float(net.res_ext_grid.q_mvar.iloc[0])
    log.debug("AC power flow of %s: %d periods, %d converged", feeder.name, n, int(ok.sum()))
    return AcSeriesResult(v_pu=v, losses_kw=losses, p_sub_kw=p_sub, q_sub_kvar=q_sub, converged=ok)


def ac_power_flow(
    feeder: Feeder,
    p_load_kw: ArrayLike,
    q_load_kvar: ArrayLike,
    p_gen_kw: ArrayLike | None = None,
    v0_pu: float = V0_PU,
    raise_on_failure: bool = True,
) -> AcResult:
    """AC power flow of one period; arrays of shape ``(n_buses,)``.  See :func:`ac_power_flow_series`."""
    nb = feeder.n_buses
    rows: dict[str, np.ndarray] = {}
    for what, values in (("p_load_kw", p_load_kw), ("q_load_kvar", q_load_kvar), ("p_gen_kw", p_gen_kw)):
        arr = np.zeros(nb) if values is None else np.asarray(values, dtype=float)
        if arr.shape != (nb,):
            raise ValueError(f"{what}: expected one value per bus, shape ({nb},), got shape {arr.shape}")
        rows[what] = arr[None, :]
    res = ac_power_flow_series(feeder, rows["p_load_kw"], rows["q_load_kvar"], rows["p_gen_kw"], v0_pu=v0_pu,
                               raise_on_failure=raise_on_failure)
    return AcResult(
        v_pu=res.v_pu[0], losses_kw=float(res.losses_kw[0]), p_sub_kw=float(res.p_sub_kw[0]),
        q_sub_kvar=float(res.q_sub_kvar[0]), converged=bool(res.converged[0]),
    )


@dataclass(frozen=True)
class VoltageComparison:
    """Largest |V_LinDistFlow - V_AC| [p.u.], where it occurs (bus number, period from 1 or None)."""

    max_abs_error_pu: float
    bus: int
    period: int | None


def compare_with_ac(v_ldf_pu: ArrayLike, v_ac_pu: ArrayLike, feeder: Feeder | None = None) -> VoltageComparison:
    """Compare LinDistFlow and AC voltage magnitudes, shape ``(n_buses,)`` or ``(n_periods, n_buses)``.

    Bus numbers are ``feeder.buses`` (or 1..n without a feeder: the paper's numbering).
    """
    a = np.asarray(v_ldf_pu, dtype=float)
    b = np.asarray(v_ac_pu, dtype=float)
    if a.shape != b.shape or a.ndim not in (1, 2):
        raise ValueError(f"v_ldf_pu shape {a.shape} and v_ac_pu shape {b.shape} must be equal, "
                         "(n_buses,) or (n_periods, n_buses)")
    buses = feeder.buses if feeder is not None else tuple(range(1, a.shape[-1] + 1))
    if len(buses) != a.shape[-1]:
        raise ValueError(f"v_ldf_pu: {a.shape[-1]} buses, feeder {feeder.name if feeder else ''} has {len(buses)}")
    for what, arr in (("v_ldf_pu", a), ("v_ac_pu", b)):
        bad = np.argwhere(~np.isfinite(arr))
        if bad.size:
            idx = bad[0]
            where = f"bus {buses[int(idx[-1])]}" + (f", period {int(idx[0]) + 1}" if arr.ndim == 2 else "")
            raise ValueError(f"{what}: non-finite voltage at {where} (did the AC power flow converge?)")
    err = np.abs(a - b)
    flat = int(np.argmax(err))
    idx = np.unravel_index(flat, err.shape)
    return VoltageComparison(
        max_abs_error_pu=float(err[idx]), bus=int(buses[int(idx[-1])]),
        period=int(idx[0]) + 1 if err.ndim == 2 else None,
    )


@dataclass(frozen=True)
class AcCheck:
    """AC validation of a solved dispatch (SPEC §5.2): the voltage error and the true losses."""

    comparison: VoltageComparison
    ac: AcSeriesResult

    @property
    def max_abs_error_pu(self) -> float:
        return self.comparison.max_abs_error_pu

    @property
    def losses_kw(self) -> np.ndarray:
        return self.ac.losses_kw


def ac_check(feeder: Feeder, solution: NetworkSolution, v0_pu: float = V0_PU) -> AcCheck:
    """Run the AC power flow on the net demands of a solved LinDistFlow block and compare voltages."""
    ac = ac_power_flow_series(feeder, solution.p_net_kw, solution.q_net_kvar, v0_pu=v0_pu)
    cmp = compare_with_ac(solution.v_pu, ac.v_pu, feeder)
    log.info("AC check of %s: max |V_LDF - V_AC| = %.4g p.u. at bus %d, period %s; losses %.1f kW (mean)",
             feeder.name, cmp.max_abs_error_pu, cmp.bus, cmp.period, float(np.mean(ac.losses_kw)))
    return AcCheck(comparison=cmp, ac=ac)

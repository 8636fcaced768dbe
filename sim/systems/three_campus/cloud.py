"""Cloud coordinator of paper 000 (SPEC §4): DA plan + RT scenarios + soft binding + CVaR-DRO.

The coordinator composes the campus agents' blocks (one per park for the DA stage and one per
park and scenario for the RT stage), adds the P2P lines and their link to each park's port, the
DA-RT deviation variables (C-5 ... C-8), the scenario costs (C-9 ... C-11) and the CVaR objective
(C-14, C-15).  It never edits a park's balance or cost.

The model is built once and kept in a persistent HiGHS instance, and data reach HiGHS as deltas,
never as a recompiled model (DESIGN principle 6):

- every study case (no P2P, no DR, no storage, another epsilon, reduced capacities) and every new
  day's data (profiles, scenario probabilities, storage start and end window) is a change of
  mutable Params; :meth:`CloudModel.apply` pushes it with :meth:`agents.milp.HighsModel.update_params`,
  which re-evaluates only the row bounds, column bounds and costs that depend on a Param whose value
  changed (the Params' rows, columns and cost terms are indexed once, on the first push or by
  ``hm.track_params()`` right after the build) and hands them to HiGHS with ``changeRowsBounds``,
  ``changeColsBounds`` and ``changeColsCost``;
- a fixed plan (the replay's DA variables) is pushed as ``lb = ub`` on its columns only
  (:meth:`agents.milp.HighsModel.fix`), closing the weaker side of a pair in the certification
  below as column bounds of the live model;
- the exclusivity rows of the MILP fallback are appended with ``addRows`` and switched by their
  bounds (:meth:`agents.milp.HighsModel.set_active`) while it runs; when it ends they are deleted
  (:meth:`agents.milp.HighsModel.remove_constraints`: a released row left as a free row would change a
  later cold solve's path), so nothing is recompiled, on this rare path either.

The pushed data are those a fresh compile of the Pyomo model would give, entry for entry, so a
cold solve (``solve(..., cold_start=True)``) returns what a freshly built model would.

Tight formulation first (DESIGN principle 7): with ``formulation="auto"`` the complementarity
binaries are relaxed, the LP is solved, and complementarity (no simultaneous charge/discharge,
buy/sell or two-way line flow, tolerance 1e-6) is verified on the solution.  An LP optimum that
passes is feasible for the MILP and its value is a lower bound of the MILP, so it is a proof of
optimality ("LP certificate").  Where it fails, the binaries of just those devices and periods
are made integer and the model is re-solved as a MILP (gap 1e-4); this repeats until the check
passes.  ``formulation="milp"`` makes every binary integer (the paper's exact model).

Block builders (:class:`CloudBlocks`): the DA stage, an RT scenario stage and its DA-RT binding with
the scenario cost C-9 ... C-11 are built by functions that take the block to fill (and, for the
binding, the DA block), so the same blocks make :class:`CloudModel` and :class:`CloudDRO` — the DA
decision by any method of SPEC §6.4 (so, ro, dro, cdro, cvar) through
:class:`agents.decision.uncertainty.TwoStageDRO`, first stage = the DA block, recourse = the RT scenario blocks
(an LP relaxation: see its docstring).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import mesa
import numpy as np
import pandas as pd
import pyomo.core as pyo
from pyomo.core.base.var import VarData
from pyomo.repn import generate_standard_repn

from agents.campus import CampusAgent, CampusData
from agents.decision.uncertainty import (
    AmbiguitySet,
    DROResult,
    TwoStageDRO,
    TwoStageLP,
    ambiguity_radii,
    bounded_errors,
    check_method,
    cvar,
    unit_ar1_disturbances,
)
from agents.devices.core import DA_HORIZON, RT_HORIZON, Complementarity, Horizon, linear_expr, set_profile
from agents.devices.grid import build_p2p_lines, cancel_circulation, p2p_net_inflow
from agents.milp import HighsModel, SolverOptions, SolveStats
from scenarios.schema import ThreeCampusScenario

log = logging.getLogger(__name__)

Formulation = Literal["auto", "milp"]
COMPLEMENTARITY_TOL = 1e-6
STEPS_PER_HOUR = 4


def weighted_cvar(costs: np.ndarray, probs: np.ndarray, beta: float) -> float:
    """CVaR_beta of scenario costs with nominal probabilities ``probs``.

    The maximum of ``sum_s pi_s C_s`` over ``0 <= pi_s <= p_s / (1 - beta)``, ``sum_s pi_s = 1`` (the
    risk envelope C-12 around ``p``): the costliest scenarios fill up first.  Equals
    :func:`agents.decision.uncertainty.cvar` for ``p_s = 1/S``.
    """
    c = np.asarray(costs, dtype=float)
    p = np.asarray(probs, dtype=float)
    if not 0 <= beta < 1:
        raise ValueError(f"beta must be in [0, 1), got {beta}")
    if p.shape != c.shape:
        raise ValueError(f"probs: expected shape {c.shape}, got {p.shape}")
    pi = np.zeros_like(c)
    left = 1.0
    for i in np.argsort(-c, kind="stable"):
        take = min(p[i] / (1.0 - beta), left)
        pi[i] = take
        left -= take
        if left <= 1e-15:
            break
    return float(pi @ c)


@dataclass(frozen=True)
class CloudCase:
    """One configuration of the study (SPEC §4.9).  Factors scale the scenario's values.

    Coalitions and offered flexibility (SPEC §8; :func:`coalition_case` makes them): ``open_lines`` names the P2P
    lines that may carry power (``None``: every line; a line outside it has capacity 0, so P2P runs only inside a
    coalition ``T``: the lines with both ends in ``T``); ``offered`` gives ``(park, o)`` for a park that offers only
    the share ``o < 1`` of its storage power and usable energy (the rest idle, :func:`write_case`) and of its lines'
    capacities (a line carries at most ``min(o_a, o_b)`` of its capacity: it needs both ends)."""

    name: str = "proposed"
    p2p: bool = True
    dr: bool = True
    ess: bool = True
    epsilon: float | None = None  # None: the scenario's epsilon
    p2p_capacity_factor: float = 1.0
    ess_capacity_factor: float = 1.0
    open_lines: tuple[str, ...] | None = None
    offered: tuple[tuple[str, float], ...] = ()

    def key(self, default_epsilon: float) -> tuple[Any, ...]:
        """Identity of the optimisation problem (two cases with equal keys are the same solve)."""
        eps = self.epsilon if self.epsilon is not None else default_epsilon
        return (self.p2p, self.dr, self.ess, round(eps, 12), self.p2p_capacity_factor, self.ess_capacity_factor,
                self.open_lines, self.offered)


PAPER_CASES = (
    CloudCase("proposed"),
    CloudCase("no_p2p", p2p=False),
    CloudCase("no_dr", dr=False),
    CloudCase("no_ess", ess=False),
)


class ScenarioSet:
    """RT scenario data (SPEC §6.3) for one seed: PV, wind and load of every park and scenario.

    The N(0,1) AR(1) draws are made once from the seed; :meth:`errors` scales them for any epsilon,
    so all cases and the epsilon sensitivity use common random numbers.  Scenario 1 is adverse:
    PV and wind at ``-epsilon``, load at ``+epsilon``.
    """

    def __init__(self, scenario: ThreeCampusScenario, n_scenarios: int, seed: int) -> None:
        self.scenario = scenario
        self.n_scenarios = n_scenarios
        self.seed = seed
        self.series: list[tuple[str, str]] = []  # (park, quantity)
        for p in scenario.parks:
            for q in scenario.forecast[p.name]:
                self.series.append((p.name, q))
        rng = np.random.default_rng(np.random.SeedSequence(seed))
        self.unit = unit_ar1_disturbances(
            rng, len(self.series), n_scenarios, RT_HORIZON.n, scenario.uncertainty.ar1_phi
        )
        self.adverse = np.array([1.0 if q == "load_kw" else -1.0 for _, q in self.series])

    def errors(self, epsilon: float) -> np.ndarray:
        """Relative errors, shape ``(S, n_series, 96)``."""
        return bounded_errors(self.unit, epsilon, self.scenario.uncertainty.sigma_fraction, self.adverse)

    def values(self, epsilon: float) -> dict[tuple[str, str], np.ndarray]:
        """Scenario values ``(park, quantity) -> (S, 96)`` = forecast held to 15 min x (1 + e)."""
        e = self.errors(epsilon)
        out = {}
        for j, (park, q) in enumerate(self.series):
            base = np.repeat(self.scenario.forecast[park][q], STEPS_PER_HOUR)
            out[(park, q)] = base[None, :] * (1.0 + e[:, j, :])
        return out


@dataclass
class CaseResult:
    """Everything one solved case produced."""

    case: CloudCase
    epsilon: float
    stats: list[SolveStats]
    path: str
    objective: float
    solver_objective: float
    scenario_cost: np.ndarray
    scenario_operation_cost: np.ndarray
    scenario_deviation_cost: np.ndarray
    kpis: dict[str, float]
    timeseries: pd.DataFrame
    deviations: pd.DataFrame
    build_s: float
    solve_s: float
    extract_s: float
    handover_s: float
    reused_from: str | None = None

    @property
    def overhead_s(self) -> float:
        return self.build_s + self.handover_s + self.extract_s


@dataclass
class _Group:
    """One complementarity pair of one block: its index keys and column numbers."""

    comp: Complementarity
    keys: list[Any]
    pos: np.ndarray
    neg: np.ndarray
    binary: np.ndarray
    lossless: np.ndarray | None = None  # entries whose circulation is cost-free (lines, eta = 1)
    enforced: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # rows active

    def __post_init__(self) -> None:
        if self.enforced.size != len(self.keys):
            self.enforced = np.array([k in self.comp.pos_con and self.comp.pos_con[k].active for k in self.keys],
                                     dtype=bool)

    @property
    def name(self) -> str:
        return str(self.comp.name)

    def set_rows_active(self, mask: np.ndarray, active: bool, hm: HighsModel) -> None:
        """Switch the exclusivity rows of the entries in ``mask`` on or off, in Pyomo and in ``hm`` as deltas.

        On: rows that do not exist yet are created (:meth:`Complementarity.enforce`) and appended with
        ``addRows``, existing ones get their bounds back; off: their bounds become free (-inf, inf), so
        row numbers never shift (:meth:`agents.milp.HighsModel.set_active`).
        """
        keys = [self.keys[k] for k in np.flatnonzero(mask)]
        if active:
            self.comp.enforce(keys)
        hm.set_active(self.comp.rows(keys), active)
        self.enforced[mask] = active

    def remove_rows(self, mask: np.ndarray, hm: HighsModel) -> None:
        """Switch the exclusivity rows of the entries in ``mask`` off in Pyomo and delete them from ``hm``
        (:meth:`agents.milp.HighsModel.remove_constraints`): the live model is again what a fresh compile gives."""
        keys = [self.keys[k] for k in np.flatnonzero(mask)]
        self.comp.release(keys)
        hm.remove_constraints(self.comp.rows(keys))
        self.enforced[mask] = False


@dataclass
class _Extract:
    """Column indices of an output, with its labels (precomputed once)."""

    stage: str
    scenario: int
    park: str
    variable: str
    unit: str
    cols: np.ndarray | None = None  # for Vars
    param: Any = None  # for Params (read from the model)
    combine: Callable[[dict[str, np.ndarray]], np.ndarray] | None = field(default=None)


def _categorical(labels: list[str], sizes: np.ndarray) -> pd.Categorical:
    cats = list(dict.fromkeys(labels))
    pos = {c: i for i, c in enumerate(cats)}
    codes = np.repeat(np.fromiter((pos[x] for x in labels), dtype=np.int32, count=len(labels)), sizes)
    return pd.Categorical.from_codes(codes, categories=pd.Index(cats))  # type: ignore[arg-type]


def _long_frame(case: str, arrays: dict[tuple[str, int, str, str], np.ndarray], units: dict[str, str]) -> pd.DataFrame:
    """The tidy time-series table ``case, stage, scenario, period, park, variable, value, unit``."""
    keys = list(arrays)
    sizes = np.fromiter((arrays[k].size for k in keys), dtype=np.int64, count=len(keys))
    n = int(sizes.sum())
    return pd.DataFrame({
        "case": _categorical([case], np.array([n])),
        "stage": _categorical([k[0] for k in keys], sizes),
        "scenario": np.repeat(np.fromiter((k[1] for k in keys), dtype=np.int64, count=len(keys)), sizes),
        "period": np.concatenate([np.arange(1, sz + 1) for sz in sizes]),
        "park": _categorical([k[2] for k in keys], sizes),
        "variable": _categorical([k[3] for k in keys], sizes),
        "value": np.concatenate([arrays[k] for k in keys]),
        "unit": _categorical([units[k[3]] for k in keys], sizes),
    })


def park_data(sc: ThreeCampusScenario, park: str, values: Mapping[tuple[str, str], np.ndarray] | None,
              s: int | None) -> CampusData:
    """Data of ``park``: the hourly forecast (``values=None``, DA) or RT scenario ``s`` (0-based) of ``values``."""
    fc = sc.forecast[park]
    if values is None:  # DA: hourly forecast
        return CampusData(
            load_kw=fc["load_kw"], buy_price=sc.buy_price, sell_price=sc.sell_price,
            pv_available_kw=fc.get("pv_kw"), wind_available_kw=fc.get("wind_kw"),
        )
    assert s is not None
    hold = lambda a: np.repeat(a, STEPS_PER_HOUR)
    return CampusData(
        load_kw=values[(park, "load_kw")][s],
        buy_price=hold(sc.buy_price),
        sell_price=hold(sc.sell_price),
        pv_available_kw=values[(park, "pv_kw")][s] if (park, "pv_kw") in values else None,
        wind_available_kw=values[(park, "wind_kw")][s] if (park, "wind_kw") in values else None,
    )


def binding_keys(sc: ThreeCampusScenario) -> list[tuple[str, str]]:
    """The DA-RT binding components ``(x, object)`` of C-5 ... C-8, in model order."""
    keys: list[tuple[str, str]] = []
    for i in sc.park_names:
        keys += [("net", i), ("ch", i), ("dis", i), ("dr", i), ("buy", i), ("sell", i)]
        if sc.park(i).chp is not None:
            keys.append(("chp", i))
    keys += [("p2p", ln.name) for ln in sc.lines]
    return keys


def binding_terms(b: pyo.Block, x: str, r: str, t: int) -> list[tuple[float, Any]]:
    """The quantity x of object r in period t of stage block ``b`` as (coefficient, variable) pairs (table in C-8)."""
    if x == "p2p":
        return [(1.0, b.lines.p_forward_kw[r, t]), (-1.0, b.lines.p_reverse_kw[r, t])]
    p = b.park[r]
    if x == "net":
        return [(1.0, p.grid.p_buy_kw[t]), (-1.0, p.grid.p_sell_kw[t]), (1.0, p.p2p_net_in_kw[t])]
    if x == "ch":
        return [(1.0, p.ess.p_charge_kw[t])]
    if x == "dis":
        return [(1.0, p.ess.p_discharge_kw[t])]
    if x == "dr":
        return [(1.0, p.load.p_in_kw[t]), (-1.0, p.load.p_out_kw[t])]
    if x == "buy":
        return [(1.0, p.grid.p_buy_kw[t])]
    if x == "sell":
        return [(1.0, p.grid.p_sell_kw[t])]
    if x == "chp":
        return [(1.0, p.chp.p_kw[t])]
    raise KeyError(x)


def flow_energy(b: pyo.Block, dt: float) -> Any:
    """Energy carried by the P2P lines of stage block ``b`` (both directions) [kWh]: the tie-break's base."""
    ln = b.lines
    return dt * pyo.quicksum(ln.p_forward_kw[k] + ln.p_reverse_kw[k] for k in ln.p_forward_kw)


def profile_param(pb: pyo.Block, park: str, q: str) -> Any:
    """The mutable profile Param of quantity ``q`` (``load_kw``, ``pv_kw``, ``wind_kw``) in park block ``pb``."""
    dev = {"load_kw": "load", "pv_kw": "pv", "wind_kw": "wind"}.get(q)
    if dev is None or not hasattr(pb, dev):
        raise KeyError(f"set_data: park {park!r} has no quantity {q!r} (load_kw, pv_kw or wind_kw of a "
                       "device it has)")
    return pb.load.load_base_kw if dev == "load" else getattr(pb, dev).available_kw


def write_profiles(blocks: Sequence[pyo.Block], data: Mapping[tuple[str, str], np.ndarray], n: int, *,
                   hourly: bool = False) -> None:
    """Write ``(park, quantity) -> values`` into the stage ``blocks``.

    ``hourly``: one block (the DA stage), values of length 24.  Else ``n`` RT blocks and values of
    shape ``(n, 96)``, row ``s`` into ``blocks[s]``.
    """
    for (park, q), arr in data.items():
        if hourly:
            set_profile(profile_param(blocks[0].park[park], park, q), arr)
            continue
        a = np.asarray(arr, dtype=float)
        if a.shape != (n, RT_HORIZON.n):
            raise ValueError(f"set_data: rt[{park!r}, {q!r}] must have shape {(n, RT_HORIZON.n)}, got {a.shape}")
        for s, b in enumerate(blocks):
            set_profile(profile_param(b.park[park], park, q), a[s])


def with_storage_start(sc: ThreeCampusScenario, ess_initial_kwh: Mapping[str, float]) -> ThreeCampusScenario:
    """``sc`` with each listed park's stored energy at the start (kWh) as its ``soc_initial_frac`` (checked)."""
    parks = []
    for p_ in sc.parks:
        e = p_.ess
        if p_.name in ess_initial_kwh and e.capacity_kwh > 0:
            v = float(ess_initial_kwh[p_.name])
            lo, hi = e.soc_min_frac * e.capacity_kwh, e.soc_max_frac * e.capacity_kwh
            if not lo - 1e-6 <= v <= hi + 1e-6:
                raise ValueError(f"set_data: initial energy of {p_.name} is {v} kWh, outside [{lo}, {hi}]")
            e = replace(e, soc_initial_frac=min(max(v, lo), hi) / e.capacity_kwh)
        parks.append(replace(p_, ess=e))
    return replace(sc, parks=tuple(parks))


def storage_end_windows(ess_end_kwh: Mapping[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """The absolute ESS-4 windows ``park -> (lo, hi)`` (checked: ``lo <= hi``)."""
    out = {}
    for park, (lo_e, hi_e) in ess_end_kwh.items():
        if not lo_e <= hi_e:
            raise ValueError(f"set_data: end window of {park} must have lo <= hi, got ({lo_e}, {hi_e})")
        out[park] = (float(lo_e), float(hi_e))
    return out


def write_storage_window(blocks: Sequence[pyo.Block], sc: ThreeCampusScenario,
                         ess_end_abs: Mapping[str, tuple[float, float]]) -> None:
    """Start (``sc``'s ``soc_initial_frac``) and absolute end window of the storages in every stage block."""
    for b in blocks:
        for p_ in sc.parks:
            if p_.name not in ess_end_abs:
                continue
            eb = b.park[p_.name].ess
            if eb.res_end_soc.equality:
                raise ValueError(f"set_data: the storage of {p_.name} was built with E_T = E_0 (ESS-4); "
                                 "build the model with soc_end_min_frac/soc_end_max_frac to use a window")
            start = p_.ess.soc_initial_frac * p_.ess.capacity_kwh
            eb.e_initial_kwh.set_value(start)
            lo_e, hi_e = ess_end_abs[p_.name]
            eb.e_end_lo_kwh.set_value(lo_e - start)
            eb.e_end_hi_kwh.set_value(hi_e - start)


def write_case(b: pyo.Block, sc: ThreeCampusScenario, case: CloudCase, horizon: Horizon = DA_HORIZON,
               ess_end_abs: Mapping[str, tuple[float, float]] | None = None) -> None:
    """The mutable parameters of ``case`` (DR, storage, line capacities; SPEC §4.9) in stage block ``b`` (on
    ``horizon``).

    A park offering ``o < 1`` (``case.offered``, SPEC §8 ``withhold``) brings ``o`` of its storage to the plan and
    the withheld ``1 − o`` stays idle: it keeps its share of the start energy ``E_0`` and only self-discharges, to
    ``E^idle = keep^n E_0`` at the end (``keep = 1 − σ Δt``, ``n`` periods of ``horizon``), so
    ``P̄' = o P̄``, ``E'^min = o E^min + (1 − o) E^idle``, ``E'^max = o E^max + (1 − o) E_0`` and the ESS-4 window
    ``o [E^end,min, E^end,max] + (1 − o) E^idle`` (written for the parks of ``ess_end_abs``, the absolute windows
    :func:`write_storage_window` writes, unchanged for ``o = 1``).  A line's capacity is scaled by
    ``min(o_a, o_b)`` of its two ends and is 0 outside ``case.open_lines``."""
    shares = dict(case.offered)
    for p in sc.parks:
        pb = b.park[p.name]
        pb.load.gamma.set_value(p.dr.gamma if case.dr else 0.0)
        e = p.ess
        o = shares.get(p.name, 1.0)
        pb.ess.p_charge_max_kw.set_value((o * e.p_charge_max_kw if o < 1.0 else e.p_charge_max_kw) if case.ess else 0.0)
        pb.ess.p_discharge_max_kw.set_value((o * e.p_discharge_max_kw if o < 1.0 else e.p_discharge_max_kw)
                                            if case.ess else 0.0)
        f = case.ess_capacity_factor
        e_min, e_max = e.soc_min_frac * e.capacity_kwh * f, e.soc_max_frac * e.capacity_kwh * f
        e0 = e.soc_initial_frac * e.capacity_kwh * f
        idle_end = e0 * (1.0 - e.self_discharge_per_h * horizon.dt_h) ** horizon.n
        if o < 1.0:
            e_min, e_max = o * e_min + (1.0 - o) * idle_end, o * e_max + (1.0 - o) * e0
        pb.ess.e_min_kwh.set_value(e_min)
        pb.ess.e_max_kwh.set_value(e_max)
        pb.ess.e_initial_kwh.set_value(e0)
        if ess_end_abs is not None and p.name in ess_end_abs:
            start = e.soc_initial_frac * e.capacity_kwh  # as write_storage_window writes the window
            lo_e, hi_e = ess_end_abs[p.name]
            if o < 1.0:
                lo_e, hi_e = o * lo_e + (1.0 - o) * idle_end, o * hi_e + (1.0 - o) * idle_end
            pb.ess.e_end_lo_kwh.set_value(lo_e - start)
            pb.ess.e_end_hi_kwh.set_value(hi_e - start)
    for ln in sc.lines:
        g = case.p2p_capacity_factor if case.p2p and (case.open_lines is None or ln.name in case.open_lines) else 0.0
        share = min(shares.get(ln.a, 1.0), shares.get(ln.b, 1.0))
        if share < 1.0:
            g *= share
        b.lines.cap_forward_kw[ln.name].set_value(ln.cap_forward_kw * g)
        b.lines.cap_reverse_kw[ln.name].set_value(ln.cap_reverse_kw * g)


def offered_windows(case: CloudCase, ess_end_abs: Mapping[str, tuple[float, float]], written: set[str]
                    ) -> dict[str, tuple[float, float]]:
    """The absolute ESS-4 windows :func:`write_case` must write for ``case``: those of the parks offering a share
    below 1 now, or whose window still holds the offered one of an earlier case (``written``); the others keep the
    window :func:`write_storage_window` wrote, untouched."""
    now = {p for p, o in case.offered if o < 1.0}
    return {p: w for p, w in ess_end_abs.items() if p in now | written}


def coalition_case(sc: ThreeCampusScenario, members: Iterable[str],
                   offered: Mapping[str, float] | None = None) -> CloudCase:
    """The cloud model's case of coalition ``members`` (SPEC §8 "coalitions of any subset"): P2P only on the lines
    with both ends in ``members`` (the other parks stand alone: no line to them), each member offering its share
    ``offered[park]`` of its flexibility (1 when not given; a non-member keeps all of it).

    Without an open line this is the no-P2P case (:data:`NO_P2P` of :mod:`sim.systems.three_campus.day`, every
    park alone); every park with all lines and full shares is the ``proposed`` case itself."""
    t = frozenset(members)
    unknown = sorted(t - set(sc.park_names))
    if unknown:
        raise ValueError(f"coalition_case: unknown parks {unknown}; the parks are {sc.park_names}")
    shares = {}
    for p, o in (offered or {}).items():
        if not 0.0 <= float(o) <= 1.0:
            raise ValueError(f"coalition_case: the offered share of {p} must be in [0, 1], got {o}")
        if p in t and float(o) < 1.0:
            shares[p] = float(o)
    lines = tuple(ln.name for ln in sc.lines if ln.a in t and ln.b in t)
    if not lines:
        return CloudCase("no_p2p", p2p=False)
    if len(lines) == len(sc.lines) and not shares:
        return CloudCase("proposed")
    name = "coalition[" + "+".join(p for p in sc.park_names if p in t) + "]"
    return CloudCase(name, open_lines=None if len(lines) == len(sc.lines) else lines,
                     offered=tuple((p, shares[p]) for p in sc.park_names if p in shares))


class CloudBlocks:
    """Builders of the cloud model's blocks (SPEC §4.3 ... §4.6), shared by :class:`CloudModel` and
    :class:`CloudDRO`.

    - :meth:`build_da`: the DA stage (one block per park on the 24 hours, the P2P lines, P2P-2);
    - :meth:`build_stage`: a stage on any horizon (the DA block, or RT scenario ``s``);
    - :meth:`build_binding`: on an RT scenario block, the DA-RT deviations against a DA block
      (C-5 ... C-8) and the scenario cost ``cost = cost_operation + cost_deviation`` (C-9 ... C-11);
    - :meth:`build_rt`: both, i.e. a complete RT scenario block taking the DA block.

    The park index set is the caller's (so the blocks can live in any model).  ``handles`` and
    ``line_handles`` collect the device handles by ``(stage, scenario, park)`` and ``(stage, scenario)``.
    """

    def __init__(self, scenario: ThreeCampusScenario, agents: Mapping[str, CampusAgent], exclusive: bool) -> None:
        self.scenario = scenario
        self.agents = agents
        self.exclusive = bool(exclusive)
        self.binding_keys = binding_keys(scenario)
        self.handles: dict[tuple[str, int, str], Any] = {}
        self.line_handles: dict[tuple[str, int], Any] = {}

    def build_stage(self, block: pyo.Block, parks: Any, horizon: Any,
                    values: Mapping[tuple[str, str], np.ndarray] | None, s: int | None, label: tuple[str, int]) -> None:
        """Parks ``block.park[i]``, lines ``block.lines`` and the port link ``def_p2p_link`` on ``horizon``;
        data: the forecast (``values=None``) or scenario ``s`` (0-based) of ``values``."""
        sc = self.scenario
        lines = list(sc.lines)
        block.park = pyo.Block(parks)
        for i in sc.park_names:
            self.handles[(label[0], label[1], i)] = self.agents[i].build_block(
                block.park[i], horizon, park_data(sc, i, values, s), self.exclusive
            )
        block.lines = pyo.Block()
        self.line_handles[label] = build_p2p_lines(block.lines, lines, horizon, self.exclusive)
        block.def_p2p_link = pyo.Constraint(
            parks, horizon.periods,
            rule=lambda b, i, t: b.park[i].p2p_net_in_kw[t] == p2p_net_inflow(b.lines, lines, i, t),
            doc="park port = net P2P inflow (P2P-2)",
        )

    def build_da(self, block: pyo.Block, parks: Any) -> None:
        """The DA stage (SPEC §4.3) on the forecast."""
        self.build_stage(block, parks, DA_HORIZON, None, None, ("da", 0))

    def build_binding(self, block: pyo.Block, bind: Any, hours: Any, da: pyo.Block) -> None:
        """DA-RT deviations of RT block ``block`` against DA block ``da`` and its scenario cost.

        ``bind`` is a 2-D set of :attr:`binding_keys`, ``hours`` the DA hours.  Adds ``dev_pos_kwh``,
        ``dev_neg_kwh`` (C-7, C-8), ``cost_operation`` (C-10), ``cost_deviation`` (C-11) and ``cost`` (C-9).
        """
        sc = self.scenario
        parks = sc.park_names
        keys = self.binding_keys
        lam = sc.penalties.as_dict()
        dt_h, dt_k = DA_HORIZON.dt_h, RT_HORIZON.dt_h
        H = DA_HORIZON.periods
        b = block
        b.dev_pos_kwh = pyo.Var(bind, hours, within=pyo.NonNegativeReals, doc="RT above DA [kWh] (C-7/C-8)")
        b.dev_neg_kwh = pyo.Var(bind, hours, within=pyo.NonNegativeReals, doc="RT below DA [kWh] (C-7/C-8)")

        def dev_rule(bb: pyo.Block, x: str, r: str, h: int) -> Any:
            # sum_k dt_k x_rt[k] - dt_h x_da[h] - dev+ + dev- = 0, written as one linear expression
            pairs = [(dt_k * c, v) for k in range((h - 1) * 4 + 1, h * 4 + 1) for c, v in binding_terms(bb, x, r, k)]
            pairs += [(-dt_h * c, v) for c, v in binding_terms(da, x, r, h)]
            pairs += [(-1.0, bb.dev_pos_kwh[x, r, h]), (1.0, bb.dev_neg_kwh[x, r, h])]
            return linear_expr(pairs) == 0

        b.def_deviation = pyo.Constraint(bind, hours, rule=dev_rule, doc="DA-RT deviation (C-7, C-8)")
        b.cost_operation = pyo.Var(doc="RT operating cost C^RT_s (C-10)")
        b.cost_deviation = pyo.Var(doc="deviation cost C^dev_s (C-11)")
        b.cost = pyo.Var(doc="scenario cost C_s (C-9)")
        b.def_cost_operation = pyo.Constraint(
            expr=b.cost_operation == pyo.quicksum(b.park[i].cost for i in parks), doc="C-10")
        b.def_cost_deviation = pyo.Constraint(
            expr=b.cost_deviation == pyo.quicksum(
                lam[x] * (b.dev_pos_kwh[x, r, h] + b.dev_neg_kwh[x, r, h]) for (x, r) in keys for h in H),
            doc="C-11")
        b.def_cost = pyo.Constraint(expr=b.cost == b.cost_operation + b.cost_deviation, doc="C-9")

    def build_rt(self, block: pyo.Block, parks: Any, values: Mapping[tuple[str, str], np.ndarray], s: int,
                 label: int, bind: Any, hours: Any, da: pyo.Block) -> None:
        """RT scenario block ``label`` (data: scenario ``s``, 0-based, of ``values``) bound to ``da``."""
        self.build_stage(block, parks, RT_HORIZON, values, s, ("rt", label))
        self.build_binding(block, bind, hours, da)


class CloudModel:
    """The cloud DA-RT model of paper 000 for one scenario and one RT scenario set.

    Parameters
    ----------
    scenario: the loaded :class:`ThreeCampusScenario`.
    n_scenarios, epsilon, beta, seed: override the scenario file's values.
    formulation: ``"auto"`` (LP with certificate, MILP fallback) or ``"milp"``.
    options: :class:`SolverOptions` (MIP gap default 1e-4).
    scenario_weights: give the RT scenarios nominal probabilities ``p_s`` (mutable Params
        ``prob[s]``, default ``1/S``, set by :meth:`set_data`): the objective becomes
        ``eta + sum_s p_s z_s / (1 - beta) + w sum_s p_s C_s + ...`` (CVaR of C-12 with the
        cap ``p_s / (1 - beta)``; equal to C-14 for ``p_s = 1/S``), and the KPIs weight the
        scenarios by ``p_s``.  Off by default (the paper's equally likely scenarios).
    da_rows: ``False`` deactivates every constraint of the DA block before the model is handed
        to HiGHS (a replay model: its DA variables are fixed to a plan with
        :meth:`agents.milp.HighsModel.fix`, so only the DA-RT deviation rows see them).

    Multi-day use (:mod:`sim.systems.three_campus.day`): :meth:`set_data` replaces the DA and RT data, the scenario
    probabilities and the storage start / end window of the persistent model; ``solve(...,
    cold_start=True)`` makes a solve independent of the ones before it.
    """

    def __init__(
        self,
        scenario: ThreeCampusScenario,
        *,
        n_scenarios: int | None = None,
        epsilon: float | None = None,
        beta: float | None = None,
        seed: int | None = None,
        formulation: Formulation = "auto",
        options: SolverOptions | None = None,
        scenario_weights: bool = False,
        da_rows: bool = True,
    ) -> None:
        if formulation not in ("auto", "milp"):
            raise ValueError(f"formulation must be 'auto' or 'milp', got {formulation!r}")
        unc = scenario.uncertainty
        self.scenario = scenario
        self.n_scenarios = int(n_scenarios if n_scenarios is not None else unc.n_scenarios)
        self.epsilon = float(epsilon if epsilon is not None else unc.epsilon)
        self.beta = float(beta if beta is not None else unc.beta)
        self.seed = int(seed if seed is not None else scenario.seed)
        if self.n_scenarios < 1:
            raise ValueError(f"n_scenarios must be >= 1, got {self.n_scenarios}")
        if not 0 <= self.beta < 1:
            raise ValueError(f"beta must be in [0, 1), got {self.beta}")
        if not 0 <= self.epsilon < 1:
            raise ValueError(f"epsilon must be in [0, 1), got {self.epsilon}")
        self.formulation: Formulation = formulation
        self.options = options or SolverOptions()
        self.scenario_weights = bool(scenario_weights)
        self._probs: np.ndarray | None = None  # nominal scenario probabilities (scenario_weights only)
        self._external_rt = False  # set_data replaced the RT scenario data
        self._ess_end_abs: dict[str, tuple[float, float]] = {}  # absolute ESS-4 windows (window-form parks)
        self._offered_windows: set[str] = set()  # parks whose ESS-4 window holds an offered share's (withhold)
        for p in scenario.parks:
            lo, hi = p.ess.end_window_frac
            if not lo == hi == p.ess.soc_initial_frac:
                self._ess_end_abs[p.name] = (lo * p.ess.capacity_kwh, hi * p.ess.capacity_kwh)
        self.scenarios = ScenarioSet(scenario, self.n_scenarios, self.seed)
        self.mesa_model = mesa.Model(rng=self.seed)
        self.agents = {p.name: CampusAgent(self.mesa_model, p) for p in scenario.parks}
        t0 = time.perf_counter()
        self.model = self._build()
        if not da_rows:  # a replay model: its DA block is a fixed plan, only the deviation rows see it
            for con in self.model.da.component_data_objects(pyo.Constraint, active=True, descend_into=True):
                con.deactivate()
        self._comps = self._complementarity_list()
        self.build_s = time.perf_counter() - t0
        self.hm = HighsModel(self.model, name=f"cloud[{scenario.name}]", options=self.options,
                             relax_integrality=True, build_s=self.build_s)
        if formulation == "milp":
            self.hm.set_all_declared_integer()
        self._groups = self._complementarity_groups()
        self._extracts = self._extraction_plan()
        self._applied: CloudCase | None = CloudCase()
        self._applied_eps = self.epsilon
        self._solved: dict[tuple[Any, ...], CaseResult] = {}
        self._dev_cols: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._cost_forms: dict[tuple[int, str], tuple[Any, list[Any], list[int]]] = {}

    # ------------------------------------------------------------------------------- build
    def _park_data(self, park: str, values: dict[tuple[str, str], np.ndarray] | None, s: int | None) -> CampusData:
        return park_data(self.scenario, park, values, s)

    def _build(self) -> pyo.ConcreteModel:
        sc = self.scenario
        parks = sc.park_names
        S = list(range(1, self.n_scenarios + 1))
        H = DA_HORIZON.periods
        m = pyo.ConcreteModel(name=f"cloud_{sc.name}")
        m.PARKS = pyo.Set(initialize=parks, ordered=True, doc="parks")
        m.S = pyo.Set(initialize=S, ordered=True, doc="RT scenarios")
        m.H = pyo.Set(initialize=H, ordered=True, doc="DA hours")
        self.blocks = CloudBlocks(sc, self.agents, exclusive=self.formulation == "milp")
        self.handles = self.blocks.handles
        self.line_handles = self.blocks.line_handles

        m.da = pyo.Block()
        self.blocks.build_da(m.da, m.PARKS)
        values = self.scenarios.values(self.epsilon)
        m.rt = pyo.Block(m.S)
        for s in S:
            self.blocks.build_stage(m.rt[s], m.PARKS, RT_HORIZON, values, s - 1, ("rt", s))

        # --- DA-RT binding (C-5 ... C-8) and scenario cost (C-9 ... C-11) ------------------
        keys = self.blocks.binding_keys
        self.binding_keys = keys
        m.BIND = pyo.Set(initialize=keys, dimen=2, ordered=True, doc="binding components (x, object)")
        dt_h, dt_k = DA_HORIZON.dt_h, RT_HORIZON.dt_h
        for s in S:
            self.blocks.build_binding(m.rt[s], m.BIND, m.H, m.da)

        # --- CVaR (C-14, C-15) and objective ----------------------------------------------
        m.beta = pyo.Param(initialize=self.beta, mutable=True, doc="CVaR level beta")
        m.expected_cost_weight = pyo.Param(initialize=sc.objective.expected_cost_weight, mutable=True,
                                           doc="weight of the mean scenario cost")
        m.da_cost_weight = pyo.Param(initialize=sc.objective.da_cost_weight, mutable=True, doc="omega^DA")
        m.eta = pyo.Var(doc="VaR threshold eta (C-14)")
        m.z = pyo.Var(m.S, within=pyo.NonNegativeReals, doc="excess cost z_s (C-15)")
        m.res_cvar = pyo.Constraint(m.S, rule=lambda mm, s: mm.z[s] >= mm.rt[s].cost - mm.eta, doc="C-15")
        m.da_cost = pyo.Var(doc="DA plan cost C^DA (SPEC §4.6 option)")
        m.def_da_cost = pyo.Constraint(expr=m.da_cost == pyo.quicksum(m.da.park[i].cost for i in parks))
        m.p2p_flow_cost = pyo.Param(initialize=sc.objective.p2p_flow_cost_per_kwh, mutable=True,
                                    doc="tie-break cost on line flows [currency/kWh] (objective only)")

        n = len(S)
        if self.scenario_weights:
            m.prob = pyo.Param(m.S, initialize=1.0 / n, mutable=True, doc="nominal scenario probability p_s")
            m.objective = pyo.Objective(
                expr=m.eta + pyo.quicksum(m.prob[s] * m.z[s] for s in S) / (1 - m.beta)
                + m.expected_cost_weight * pyo.quicksum(m.prob[s] * m.rt[s].cost for s in S)
                + m.da_cost_weight * m.da_cost
                + m.p2p_flow_cost * (flow_energy(m.da, dt_h)
                                     + pyo.quicksum(m.prob[s] * flow_energy(m.rt[s], dt_k) for s in S)),
                sense=pyo.minimize,
                doc="CVaR objective with nominal probabilities (C-14 generalised) + tie-break and DA cost",
            )
            return m
        m.objective = pyo.Objective(
            expr=m.eta + pyo.quicksum(m.z[s] for s in S) / ((1 - m.beta) * n)
            + m.expected_cost_weight / n * pyo.quicksum(m.rt[s].cost for s in S)
            + m.da_cost_weight * m.da_cost
            + m.p2p_flow_cost * (flow_energy(m.da, dt_h) + pyo.quicksum(flow_energy(m.rt[s], dt_k) for s in S) / n),
            sense=pyo.minimize,
            doc="CVaR objective (C-14) + optional tie-break and DA cost",
        )
        return m

    # --------------------------------------------------------------------- bookkeeping
    def _blocks(self) -> list[tuple[str, int, pyo.Block]]:
        m = self.model
        return [("da", 0, m.da)] + [("rt", s, m.rt[s]) for s in m.S]

    def _complementarity_list(self) -> list[tuple[pyo.Block, Complementarity]]:
        out: list[tuple[pyo.Block, Complementarity]] = []
        for h in list(self.handles.values()) + list(self.line_handles.values()):
            out += [(h.block, c) for c in h.complementarity]
        return out

    def _complementarity_groups(self) -> list[_Group]:
        hm = self.hm
        eff = {ln.name: ln.efficiency for ln in self.scenario.lines}
        groups = []
        for _, comp in self._comps:
            keys = list(comp.pos.keys())
            lossless = np.array([eff[k[0]] == 1.0 for k in keys]) if comp.name == "p2p" else None
            groups.append(_Group(comp, keys, hm.columns_of(comp.pos, keys), hm.columns_of(comp.neg, keys),
                                 hm.columns_of(comp.binary, keys), lossless))
        return groups

    def _extraction_plan(self) -> list[_Extract]:
        hm = self.hm
        plan: list[_Extract] = []
        for (stage, s, park), h in self.handles.items():
            for name, (comp, unit) in h.outputs.items():
                if isinstance(comp, pyo.Var):
                    plan.append(_Extract(stage, s, park, name, unit, cols=hm.columns_of(comp)))
                else:
                    plan.append(_Extract(stage, s, park, name, unit, param=comp))
        for stage, s, b in self._blocks():
            ln = b.lines
            for name in ln.LINES:
                T = list(ln.T)
                plan.append(_Extract(stage, s, name, "p2p_forward_kw", "kW",
                                     cols=hm.columns_of(ln.p_forward_kw, [(name, t) for t in T])))
                plan.append(_Extract(stage, s, name, "p2p_reverse_kw", "kW",
                                     cols=hm.columns_of(ln.p_reverse_kw, [(name, t) for t in T])))
        return plan

    # ------------------------------------------------------------------------ day data
    @property
    def probabilities(self) -> np.ndarray:
        """Nominal probabilities of the RT scenarios (``1/S`` unless :meth:`set_data` gave others)."""
        if self._probs is not None:
            return self._probs.copy()
        return np.full(self.n_scenarios, 1.0 / self.n_scenarios)

    def set_data(
        self,
        *,
        da: Mapping[tuple[str, str], np.ndarray] | None = None,
        rt: Mapping[tuple[str, str], np.ndarray] | None = None,
        probabilities: np.ndarray | None = None,
        ess_initial_kwh: Mapping[str, float] | None = None,
        ess_end_kwh: Mapping[str, tuple[float, float]] | None = None,
    ) -> None:
        """Replace data of the persistent model (e.g. a new simulated day) without rebuilding it.

        - ``da``: ``(park, quantity) -> 24`` hourly values of the DA block; ``quantity`` is
          ``load_kw``, ``pv_kw`` or ``wind_kw`` (the park must have the device).
        - ``rt``: ``(park, quantity) -> (S, 96)`` RT scenario values (as :meth:`ScenarioSet.values`).
          Afterwards a case with another epsilon is refused (it would regenerate the file's scenarios).
        - ``probabilities``: ``(S,)`` nominal scenario probabilities (sum 1); other than uniform only
          with ``scenario_weights=True``.
        - ``ess_initial_kwh``: park -> stored energy at the start of the horizon (DA and RT blocks).
          It becomes the park's ``soc_initial_frac``, so every later case starts from it too (scaled
          by the case's ``ess_capacity_factor`` like the file's value).
        - ``ess_end_kwh``: park -> ``(lo, hi)`` window of the final stored energy (ESS-4 as a window,
          multi-day use).  The model must have been built with an end window
          (``BatteryParams.soc_end_min_frac``/``soc_end_max_frac``, see
          :func:`agents.devices.storage.build_battery`); the window is absolute and kept when the start changes.

        Only what is given changes.  The solve cache is emptied and the next :meth:`solve` applies
        its case again; the hand-over happens there (one :meth:`HighsModel.update_params`: deltas).
        """
        S = self.n_scenarios
        if da is not None:
            write_profiles([self.model.da], da, 1, hourly=True)
        if rt is not None:
            write_profiles([self.model.rt[s] for s in self.model.S], rt, S)
            self._external_rt = True
        if probabilities is not None:
            p = np.asarray(probabilities, dtype=float)
            if p.shape != (S,) or not np.all(np.isfinite(p)) or p.min() < 0 or abs(p.sum() - 1.0) > 1e-9:
                raise ValueError(f"set_data: probabilities must be {S} values >= 0 summing to 1, got {p}")
            if not self.scenario_weights:
                if not np.allclose(p, 1.0 / S, rtol=0, atol=1e-12):
                    raise ValueError("set_data: scenario probabilities other than 1/S need scenario_weights=True")
            else:
                for s in self.model.S:
                    self.model.prob[s].set_value(float(p[s - 1]))
                self._probs = p.copy()
        if ess_initial_kwh is not None:
            self.scenario = with_storage_start(self.scenario, ess_initial_kwh)
        if ess_end_kwh is not None:
            self._ess_end_abs.update(storage_end_windows(ess_end_kwh))
        if ess_initial_kwh is not None or ess_end_kwh is not None:
            write_storage_window([b for _, _, b in self._blocks()], self.scenario, self._ess_end_abs)
            self._offered_windows = set()
        self._solved.clear()
        self._applied = None

    # ------------------------------------------------------------------------ cases
    def apply(self, case: CloudCase) -> float:
        """Set the model's mutable parameters for ``case`` and push them, with the data :meth:`set_data` wrote,
        to HiGHS as deltas (:meth:`agents.milp.HighsModel.update_params`: only the bounds and costs that
        depend on a changed Param); return hand-over seconds."""
        sc = self.scenario
        m = self.model
        eps = case.epsilon if case.epsilon is not None else self.epsilon
        values = self.scenarios.values(eps) if eps != self._applied_eps else None
        if values is not None and self._external_rt:
            raise ValueError(f"case {case.name}: epsilon {eps} would replace the RT data given to set_data "
                             "with the scenario file's bounded-error scenarios")
        ends = offered_windows(case, self._ess_end_abs, self._offered_windows)
        for stage, s, b in self._blocks():
            write_case(b, sc, case, DA_HORIZON if stage == "da" else RT_HORIZON, ends)
            if values is not None and s > 0:
                for p in sc.parks:
                    pb = b.park[p.name]
                    set_profile(pb.load.load_base_kw, values[(p.name, "load_kw")][s - 1])
                    if p.pv is not None:
                        set_profile(pb.pv.available_kw, values[(p.name, "pv_kw")][s - 1])
                    if p.wind is not None:
                        set_profile(pb.wind.available_kw, values[(p.name, "wind_kw")][s - 1])
        del m
        self._offered_windows = {p for p, o in case.offered if o < 1.0}
        self._applied = case
        self._applied_eps = eps
        return self.hm.update_params()

    def fix_plan(self, variables: Sequence[VarData], values: np.ndarray, case: CloudCase) -> None:
        """Fix ``variables`` (a plan, e.g. a replay model's DA block) at ``values`` for ``case``, as deltas.

        The Params of ``case`` are applied first (:meth:`apply`), so the variables' bounds are those of
        ``case`` (line capacities, storage limits); each value is clipped into its bounds (the solver's
        1e-14 excursions: Pyomo never holds a fixed value outside them) and fixed in Pyomo and as
        ``lb = ub`` on its column of the live model (:meth:`agents.milp.HighsModel.fix`).  The solve cache
        is emptied, so the next :meth:`solve` of ``case`` solves (without a further hand-over).
        """
        vs = list(variables)
        vals = np.asarray(values, dtype=float)
        if vals.shape != (len(vs),):
            raise ValueError(f"fix_plan: {len(vs)} variables but values of shape {vals.shape}")
        if self._applied != case:
            self.apply(case)
        fixed = np.empty(len(vs))
        for i, (v, x) in enumerate(zip(vs, vals.tolist(), strict=True)):
            lo, hi = v.bounds
            fixed[i] = min(max(x, -math.inf if lo is None else float(lo)), math.inf if hi is None else float(hi))
        self.hm.fix(vs, fixed)
        self._solved.clear()

    def solve(self, case: CloudCase | None = None, *, cold_start: bool = False, tables: bool = True) -> CaseResult:
        """Solve ``case`` (default: proposed) on the persistent model and extract the results.

        ``cold_start``: drop HiGHS's basis first, so the solve (and, in a degenerate LP, the optimal
        vertex it returns) does not depend on what the model solved before; the model itself is
        kept (no rebuild, no new hand-over).  ``tables=False`` leaves the result's ``timeseries`` and
        ``deviations`` empty (every number and KPI is still computed; for a caller that reads only
        those, e.g. a day-ahead plan or a receding-horizon step before the last); such a result is
        not kept for reuse.
        """
        case = case or CloudCase()
        key = case.key(self.epsilon)
        if key in self._solved:
            prev = self._solved[key]
            log.info("case %s is the same problem as %s: reusing its solve", case.name, prev.case.name)
            ts = prev.timeseries.copy()
            ts["case"] = pd.Categorical([case.name] * len(ts))
            return replace(prev, case=case, reused_from=prev.case.name, timeseries=ts,
                           deviations=prev.deviations.assign(case=case.name),
                           build_s=0.0, handover_s=0.0, solve_s=0.0, extract_s=0.0)
        build_s = self.hm.build_s
        handover_s = self.hm.handover_s
        if self._applied != case:
            handover_s += self.apply(case)
        self.hm.set_case(case.name)
        if cold_start:
            self.hm.clear_solver()
        stats, path = self._solve_certified()
        t0 = time.perf_counter()
        result = self._extract(case, stats, path, tables)
        result.extract_s = time.perf_counter() - t0 + sum(st.extract_s for st in stats)
        result.build_s = build_s
        result.handover_s = handover_s
        if tables:
            self._solved[key] = result
        return result

    def _violations(self) -> list[tuple[_Group, np.ndarray]]:
        """Pairs used both ways at once in the current solution, as ``(group, mask)``.

        Cost-free circulation on lossless lines is first cancelled in the solution vector
        (:func:`agents.devices.grid.cancel_circulation`), which leaves the objective unchanged.
        Indices whose exclusivity rows are active (with an integer binary) are enforced by the
        solver and skipped.
        """
        x = self.hm.x
        out = []
        for g in self._groups:
            if g.lossless is not None and g.lossless.any():
                sel = g.lossless
                x[g.pos[sel]], x[g.neg[sel]] = cancel_circulation(x[g.pos[sel]], x[g.neg[sel]])
            v = (np.minimum(x[g.pos], x[g.neg]) > COMPLEMENTARITY_TOL) & ~g.enforced
            if v.any():
                out.append((g, v))
        return out

    @staticmethod
    def _count(viol: list[tuple[_Group, np.ndarray]]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for g, v in viol:
            counts[g.name] = counts.get(g.name, 0) + int(v.sum())
        return counts

    def _solve_certified(self) -> tuple[list[SolveStats], str]:
        """Solve with the tight-formulation-first strategy; return the solves and the path taken.

        1. LP relaxation: binaries and their mode rows dropped, power limits kept as bounds.  Its
           value LB bounds the MILP from below.
        2. If complementarity holds on the LP optimum it is MILP-feasible, hence optimal
           ("lp-certified").
        3. Else close the weaker side of each offending pair (its power bound set to 0, the same
           as fixing the binary) and re-solve the LP warm with dual simplex, until complementarity
           holds.  That solution is MILP-feasible (value UB); if (UB - LB) / |UB| <= mip_rel_gap
           it is optimal within the MILP gap ("lp+fix").
        4. Else re-open those sides, activate the mode rows of just those devices and periods,
           make their binaries integer and solve the MILP; repeat while new pairs are violated
           ("lp+milp").  The rows are appended to the live model (deltas) and, afterwards, released in
           Pyomo and deleted from HiGHS, so the next case starts from the model a fresh build gives.
        """
        hm = self.hm
        if self.formulation == "milp":
            st = hm.solve(path="milp")
            self._violations()  # cancels cost-free circulation in the reported solution
            return [st], f"milp({hm.n_integer_active} binaries)"
        hm.relax_all()  # every case starts from the pure LP relaxation
        stats = [hm.solve(path="lp")]
        lower = stats[0].objective
        viol = self._violations()
        if not viol:
            return stats, "lp-certified"
        closed: list[np.ndarray] = []
        total: dict[str, int] = {}
        touched: list[tuple[_Group, np.ndarray]] = []
        fix_ok = False
        for _ in range(50):
            for k, n in self._count(viol).items():
                total[k] = total.get(k, 0) + n
            log.info("%s: complementarity violated (%s); closing the weaker side and re-solving",
                     hm.ctx.label(), ", ".join(f"{k}: {n}" for k, n in self._count(viol).items()))
            x = hm.x
            for g, v in viol:
                closed.append(np.where(x[g.pos] >= x[g.neg], g.neg, g.pos)[v])
                touched.append((g, v))
            cols = np.concatenate(closed)
            hm.fix_columns(cols, np.zeros(cols.size))
            stats.append(hm.solve(path="lp-fix", lp_method="simplex", raise_on_failure=False))
            if stats[-1].status != "optimal":  # closing these sides is infeasible: go to the exact MILP
                break
            viol = self._violations()
            if not viol:
                fix_ok = True
                break
        hm.unfix_columns(np.unique(np.concatenate(closed)))
        what = ", ".join(f"{k} {n}" for k, n in total.items())
        if fix_ok:
            gap = (stats[-1].objective - lower) / max(1.0, abs(stats[-1].objective))
            if gap <= self.options.mip_rel_gap:
                return stats, f"lp+fix({what}; gap {gap:.1e})"
        # exact fallback on the offending devices and periods
        active: list[tuple[_Group, np.ndarray]] = []
        for g, v in touched:
            g.set_rows_active(v, True, hm)
            active.append((g, v))
        try:
            for _ in range(50):
                cols = np.concatenate([g.binary[v] for g, v in active])
                hm.set_integer(cols)
                stats.append(hm.solve(path="milp-fallback"))
                viol = self._violations()
                if not viol:
                    break
                for g, v in viol:
                    g.set_rows_active(v, True, hm)
                    active.append((g, v))
            else:
                raise RuntimeError(f"{hm.ctx.label()}: the MILP fallback did not settle after 50 rounds")
            n_int = hm.n_integer_active
            path = f"lp+milp({n_int} binaries: {what}; gap {stats[-1].mip_gap:.1e})"
        finally:
            # Released rows left in HiGHS as free rows would change the path of a later cold solve (presolve), so
            # they are deleted: the live model is a fresh compile's again, and (as a freshly passed model) has no
            # basis
            enforced: dict[int, tuple[_Group, np.ndarray]] = {}  # per group, every entry enforced in this call
            for g, v in active:
                enforced[id(g)] = (g, enforced[id(g)][1] | v if id(g) in enforced else v)
            for g, mask in enforced.values():
                g.remove_rows(mask, hm)
            hm.relax_all()  # rows released: their binaries must not stay integer (else _violations skips them)
            if active:
                hm.clear_solver()
        return stats, path

    # ---------------------------------------------------------------------- extraction
    def deviation_columns(self, s: int) -> tuple[np.ndarray, np.ndarray]:
        """Columns of ``dev_pos_kwh`` and ``dev_neg_kwh`` of RT scenario ``s`` (1-based), binding key by binding
        key (:attr:`binding_keys`), hour by hour within a key (computed once)."""
        hit = self._dev_cols.get(s)
        if hit is None:
            b = self.model.rt[s]
            idx = [(x_, r, h) for (x_, r) in self.binding_keys for h in self.model.H]
            hit = (self.hm.columns_of(b.dev_pos_kwh, idx), self.hm.columns_of(b.dev_neg_kwh, idx))
            if (hit[0] < 0).any() or (hit[1] < 0).any():  # pragma: no cover - every deviation is a column
                raise RuntimeError(f"{self.hm.ctx.label()}: a deviation of RT scenario {s} is not a column")
            self._dev_cols[s] = hit
        return hit

    def park_cost(self, s: int, park: str) -> float:
        """Operating cost of ``park`` in RT scenario ``s`` (1-based) in the live solution: its cost expression
        ``c0 + sum_j a_j x_j`` evaluated with the Params' current values.

        The linear form (constant and coefficients as expressions of the Params, their columns) is found
        once per park and scenario; each call evaluates the coefficients and adds ``a_j x_j`` in the order
        of the form.
        """
        form = self._cost_forms.get((s, park))
        if form is None:
            repn = generate_standard_repn(self.model.rt[s].park[park].cost, compute_values=False, quadratic=False)
            cols = np.fromiter((self.hm.column(v) for v in repn.linear_vars), dtype=np.int64,
                               count=len(repn.linear_vars))
            if (cols < 0).any():
                v = repn.linear_vars[int(np.flatnonzero(cols < 0)[0])]
                raise RuntimeError(f"{self.hm.ctx.label()}: variable {v.name} is not a column of the model")
            form = self._cost_forms[(s, park)] = (repn.constant, list(repn.linear_coefs), cols.tolist())
        const, coefs, cols_ = form
        x = self.hm.x
        val = float(pyo.value(const)) if const is not None else 0.0
        for a, j in zip(coefs, cols_, strict=True):
            val += float(pyo.value(a)) * float(x[j])
        return val

    def _extract(self, case: CloudCase, stats: list[SolveStats], path: str, tables: bool = True) -> CaseResult:
        hm = self.hm
        x = hm.x
        m = self.model
        sc = self.scenario
        S = self.n_scenarios
        eps = self._applied_eps
        arrays: dict[tuple[str, int, str, str], np.ndarray] = {}
        for ex in self._extracts:
            if ex.cols is not None:
                vals = x[ex.cols]
            else:  # a profile Param (in index order)
                vals = np.fromiter((d.value for d in ex.param.values()), dtype=float, count=len(ex.param))
            arrays[(ex.stage, ex.scenario, ex.park, ex.variable)] = vals
        # derived: load after DR, and certified binaries
        # The binaries: in the LP path their columns carry no meaning, so report the integer
        # assignment that certifies the solution (1 = the charging / buying / forward side is used);
        # where a binary was solved as an integer this is its value.
        binary_of = {"ess_charge_kw": "ess_charging", "grid_buy_kw": "grid_buying", "p2p_forward_kw": "p2p_forward"}
        for (stage, s, park, var), vals in list(arrays.items()):
            if var == "load_base_kw":
                arrays[(stage, s, park, "load_kw")] = (
                    vals + arrays[(stage, s, park, "dr_in_kw")] - arrays[(stage, s, park, "dr_out_kw")]
                )
            elif var in binary_of:
                arrays[(stage, s, park, binary_of[var])] = (vals > COMPLEMENTARITY_TOL).astype(float)
        units = {ex.variable: ex.unit for ex in self._extracts}
        units.update({"load_kw": "kW", "ess_charging": "-", "grid_buying": "-", "p2p_forward": "-"})
        ts = _long_frame(case.name, arrays, units) if tables else pd.DataFrame()

        cost = np.array([hm.value(m.rt[s].cost) for s in m.S])
        op = np.array([hm.value(m.rt[s].cost_operation) for s in m.S])
        dev = np.array([hm.value(m.rt[s].cost_deviation) for s in m.S])
        beta = pyo.value(m.beta)
        probs = self._probs if self.scenario_weights and self._probs is not None else None
        cv = cvar(cost, beta) if probs is None else weighted_cvar(cost, probs, beta)
        objective = cv + pyo.value(m.da_cost_weight) * hm.value(m.da_cost)

        # deviations table
        keys = self.binding_keys
        drows = []
        for s in m.S if tables else ():
            pos, neg = (x[c] for c in self.deviation_columns(s))
            comp = np.repeat([k[0] for k in keys], 24)
            obj = np.repeat([k[1] for k in keys], 24)
            drows.append(pd.DataFrame({"case": case.name, "scenario": s, "hour": np.tile(np.arange(1, 25), len(keys)),
                                       "component": comp, "object": obj, "deviation_kwh": pos - neg,
                                       "abs_deviation_kwh": pos + neg}))
        devs = pd.concat(drows, ignore_index=True) if drows else pd.DataFrame()

        # KPIs (SPEC §4.10): uniform weights over RT scenarios (or the nominal probabilities)
        dt = RT_HORIZON.dt_h
        scale = np.ones(S) if probs is None else probs * S  # x * 1.0 is exact: the uniform path is unchanged

        def rt_sum(var: str, parks: list[str] | None = None) -> float:
            tot = 0.0
            for s in range(1, S + 1):
                for p in parks or sc.park_names:
                    a = arrays.get(("rt", s, p, var))
                    if a is not None:
                        tot += float(a.sum()) * dt * float(scale[s - 1])
            return tot / S

        def rt_line_sum() -> float:
            tot = 0.0
            for s in range(1, S + 1):
                for ln in sc.lines:
                    tot += float(arrays[("rt", s, ln.name, "p2p_forward_kw")].sum()
                                 + arrays[("rt", s, ln.name, "p2p_reverse_kw")].sum()) * dt * float(scale[s - 1])
            return tot / S

        used = rt_sum("pv_kw") + rt_sum("wind_kw")
        avail = rt_sum("pv_available_kw") + rt_sum("wind_available_kw")
        solve_s = sum(st.solve_s for st in stats)
        kpis = {
            "objective": objective,
            "expected_cost": float(cost.mean()) if probs is None else float(probs @ cost),
            "cvar": cv,
            "max_scenario_cost": float(cost.max()),
            "scenario_cost_std": float(cost.std()) if probs is None
            else float(np.sqrt(probs @ (cost - probs @ cost) ** 2)),
            "mean_deviation_cost": float(dev.mean()) if probs is None else float(probs @ dev),
            "grid_purchase_kwh": rt_sum("grid_buy_kw"),
            "grid_sale_kwh": rt_sum("grid_sell_kw"),
            "p2p_kwh": rt_line_sum(),
            "ess_throughput_kwh": rt_sum("ess_charge_kw") + rt_sum("ess_discharge_kw"),
            "dr_shifted_kwh": rt_sum("dr_out_kw"),
            "renewable_utilisation": used / avail if avail > 0 else float("nan"),
        }
        return CaseResult(
            case=case, epsilon=eps, stats=stats, path=path, objective=objective,
            solver_objective=stats[-1].objective, scenario_cost=cost, scenario_operation_cost=op,
            scenario_deviation_cost=dev, kpis=kpis, timeseries=ts, deviations=devs,
            build_s=0.0, solve_s=solve_s, extract_s=0.0, handover_s=0.0,
        )


# ====================================================================== the DA stage by any method of SPEC §6.4


@dataclass
class DROPlan:
    """The DA plan of one :meth:`CloudDRO.solve` (the counterpart of :class:`CaseResult` for the plan stage).

    ``result`` is the method's :class:`~agents.decision.uncertainty.DROResult` (``historical_cost`` H,
    ``worst_cost`` W, ``iterations``, ...); ``da_values`` the DA plan (the continuous DA variables, in
    the order of :attr:`CloudDRO.da_vars`, i.e. of the DA block of a :class:`CloudModel`);
    ``scenario_cost`` the scenario costs ``C_s`` (C-9) of the plan's recourse, with
    ``scenario_probability`` the ``p0`` they were planned with.  ``objective`` is the method's own
    value, ``solver_objective`` the last master LP's, ``kpis`` has ``expected_cost`` (``Σ p0 C_s``) and
    ``max_scenario_cost``.  ``violations`` counts the complementarity pairs (storage charge /
    discharge, grid buy / sell, two-way line flow) used both ways at once by the LP-relaxed plan
    (``"da"``) and by its recourse (``"rt"``), see :class:`CloudDRO`.
    """

    method: str
    case: CloudCase
    result: DROResult
    da_values: np.ndarray
    scenario_cost: np.ndarray
    scenario_probability: np.ndarray
    objective: float
    solver_objective: float
    kpis: dict[str, float]
    violations: dict[str, int]
    path: str
    solve_s: float
    handover_s: float
    wall_s: float


class CloudDRO:
    """The cloud model's DA decision by any method of :class:`agents.decision.uncertainty.TwoStageDRO`
    (SPEC §4 with §6.4).

    The two-stage LP is built from the cloud model's own block builders (:class:`CloudBlocks`):

    - first stage ``x`` (``m.fs``): the DA block (forecast data) — every continuous DA variable (the
      ones a replay fixes) — with cost ``c'x = omega^DA C^DA + phi F^DA``;
    - recourse ``k`` (``m.rec[k]``): RT scenario block ``k`` with the DA-RT deviations against ``m.fs``
      (C-5 ... C-8) and its scenario cost ``C_k`` (C-9 ... C-11), recourse cost ``q_k = C_k + phi F_k``;
    - ``p0``: the scenarios' probabilities; Ψ with the radii of CD-4 for ``M = history_days``,
      ``K = n_scenarios``, ``alpha_1``, ``alpha_inf`` (``scenario.uncertainty``).

    ``F`` is the line-flow energy and ``phi`` the scenario's ``p2p_flow_cost_per_kwh`` (the cloud
    model's tie-break against loop flows in the lossless mesh, kept so the plan has none).  With
    ``phi = 0`` and ``omega^DA = 0``, method ``cvar`` is the cloud model's objective C-14 with
    ``scenario_weights`` and ``expected_cost_weight = 0`` (test ``test_cvar_by_two_stage_dro_is_the_cloud_objective``).

    LP relaxation: the model is built without exclusivity rows and solved with
    ``relax_integrality=True``, i.e. it is the LP relaxation of the cloud MILP.  Nothing certifies
    the plan as the cloud model's LP certificate does: a DA plan may charge and discharge a storage
    (or buy and sell, or use a line both ways) in the same hour, and the recourse costs ``Q_k`` (hence
    H and W) are those of the relaxed recourse, lower bounds of the MILP recourse.  :meth:`solve`
    counts these pairs (:attr:`DROPlan.violations`); the simulator's replay of the realised day is
    the certified :class:`CloudModel` (MILP fallback), so the realised cost is exact whatever the plan.

    Persistence: built once; :meth:`set_data` writes a day's data into the mutable Params (and the
    ``p0`` of Ψ) and :meth:`solve` resets the master first (:meth:`TwoStageDRO.reset`: no cut, no cache,
    cold solver), so a solve depends only on the data, not on what was solved before.  The LPs are
    solved by interior point with crossover unless ``options`` say otherwise (about twice as fast as
    dual simplex on this master; the solution is still a vertex).
    """

    def __init__(
        self,
        scenario: ThreeCampusScenario,
        *,
        n_scenarios: int | None = None,
        seed: int | None = None,
        options: SolverOptions | None = None,
    ) -> None:
        unc = scenario.uncertainty
        self.scenario = scenario
        self.n_scenarios = K = int(n_scenarios if n_scenarios is not None else unc.n_scenarios)
        self.seed = int(seed if seed is not None else scenario.seed)
        if K < 1:
            raise ValueError(f"n_scenarios must be >= 1, got {K}")
        if unc.history_days < K:
            raise ValueError(f"uncertainty.history_days M = {unc.history_days} must be >= the number of reduced "
                             f"scenarios K = {K} (they are reduced from M days)")
        self.options = options or SolverOptions(lp_method="ipm")
        self._ess_end_abs: dict[str, tuple[float, float]] = {}
        self._offered_windows: set[str] = set()  # parks whose ESS-4 window holds an offered share's (withhold)
        for p in scenario.parks:
            lo, hi = p.ess.end_window_frac
            if not lo == hi == p.ess.soc_initial_frac:
                self._ess_end_abs[p.name] = (lo * p.ess.capacity_kwh, hi * p.ess.capacity_kwh)
        self.mesa_model = mesa.Model(rng=self.seed)
        self.agents = {p.name: CampusAgent(self.mesa_model, p) for p in scenario.parks}
        self.blocks = CloudBlocks(scenario, self.agents, exclusive=False)
        self._initial_rt = ScenarioSet(scenario, K, self.seed).values(unc.epsilon)  # replaced by set_data
        self.theta_1, self.theta_inf = ambiguity_radii(unc.history_days, K, unc.alpha_1, unc.alpha_inf)
        self.problem = TwoStageLP(K, self._build_first_stage, self._build_recourse, name=f"cloud-dro[{scenario.name}]")
        t0 = time.perf_counter()
        self.dro = TwoStageDRO(self.problem, AmbiguitySet(np.full(K, 1.0 / K), self.theta_1, self.theta_inf),
                               self.options, relax_integrality=True)
        self.build_s = time.perf_counter() - t0
        self.model = self.dro.model
        self.hm = self.dro.hm
        m = self.model
        self.da_vars = [v for v in m.fs.component_data_objects(pyo.Var, descend_into=True) if v.is_continuous()]
        self._da_cols = np.array([self.hm.columns_of(v.parent_component(), [v.index()])[0] for v in self.da_vars],
                                 dtype=np.int64)
        self._groups = {stage: self._groups_of(stage) for stage in ("da", "rt")}

    # ------------------------------------------------------------------ builders
    def _build_first_stage(self, fs: pyo.Block) -> tuple[Any, list[Any]]:
        sc = self.scenario
        fs.PARKS = pyo.Set(initialize=sc.park_names, ordered=True, doc="parks")
        fs.H = pyo.Set(initialize=DA_HORIZON.periods, ordered=True, doc="DA hours")
        fs.BIND = pyo.Set(initialize=self.blocks.binding_keys, dimen=2, ordered=True,
                          doc="binding components (x, object)")
        self.blocks.build_da(fs, fs.PARKS)
        fs.da_cost_weight = pyo.Param(initialize=sc.objective.da_cost_weight, mutable=True, doc="omega^DA")
        fs.p2p_flow_cost = pyo.Param(initialize=sc.objective.p2p_flow_cost_per_kwh, mutable=True,
                                     doc="tie-break cost on line flows [currency/kWh]")
        cost = (fs.da_cost_weight * pyo.quicksum(fs.park[i].cost for i in sc.park_names)
                + fs.p2p_flow_cost * flow_energy(fs, DA_HORIZON.dt_h))
        xvars = []
        for comp in fs.component_objects(pyo.Var, descend_into=True):
            kinds = {v.is_continuous() for v in comp.values()}
            if kinds == {True}:
                xvars.append(comp)
            elif kinds != {False}:  # pragma: no cover - the builders declare binaries as separate components
                raise RuntimeError(f"{comp.name}: mixes continuous and integer entries")
        return cost, xvars

    def _build_recourse(self, block: pyo.Block, k: int, fs: pyo.Block) -> Any:
        self.blocks.build_rt(block, fs.PARKS, self._initial_rt, k, k + 1, fs.BIND, fs.H, fs)
        return block.cost + fs.p2p_flow_cost * flow_energy(block, RT_HORIZON.dt_h)

    def _stage_blocks(self) -> list[pyo.Block]:
        m = self.model
        return [m.fs] + [m.rec[k] for k in m.K]

    def _groups_of(self, stage: str) -> list[_Group]:
        hm = self.hm
        eff = {ln.name: ln.efficiency for ln in self.scenario.lines}
        handles = [h for key, h in self.blocks.handles.items() if key[0] == stage]
        handles += [h for key, h in self.blocks.line_handles.items() if key[0] == stage]
        groups = []
        for h in handles:
            for comp in h.complementarity:
                keys = list(comp.pos.keys())
                lossless = np.array([eff[k[0]] == 1.0 for k in keys]) if comp.name == "p2p" else None
                groups.append(_Group(comp, keys, hm.columns_of(comp.pos, keys), hm.columns_of(comp.neg, keys),
                                     hm.columns_of(comp.binary, keys), lossless))
        return groups

    # ------------------------------------------------------------------ data
    @property
    def probabilities(self) -> np.ndarray:
        """The ``p0`` of Ψ (the RT scenarios' nominal probabilities)."""
        return np.array(self.dro.ambiguity.p0)

    def set_data(
        self,
        *,
        da: Mapping[tuple[str, str], np.ndarray] | None = None,
        rt: Mapping[tuple[str, str], np.ndarray] | None = None,
        probabilities: np.ndarray | None = None,
        ess_initial_kwh: Mapping[str, float] | None = None,
        ess_end_kwh: Mapping[str, tuple[float, float]] | None = None,
    ) -> None:
        """A day's data, as :meth:`CloudModel.set_data` (``probabilities`` become ``p0`` of Ψ; the radii stay)."""
        K = self.n_scenarios
        if da is not None:
            write_profiles([self.model.fs], da, 1, hourly=True)
        if rt is not None:
            write_profiles([self.model.rec[k] for k in self.model.K], rt, K)
        if probabilities is not None:
            p = np.asarray(probabilities, dtype=float)
            if p.shape != (K,) or not np.all(np.isfinite(p)) or p.min() < 0 or abs(p.sum() - 1.0) > 1e-9:
                raise ValueError(f"set_data: probabilities must be {K} values >= 0 summing to 1, got {p}")
            self.dro.ambiguity = AmbiguitySet(p, self.theta_1, self.theta_inf)
            for k in self.model.K:
                self.model.p0[k].set_value(float(p[k]))
        if ess_initial_kwh is not None:
            self.scenario = with_storage_start(self.scenario, ess_initial_kwh)
        if ess_end_kwh is not None:
            self._ess_end_abs.update(storage_end_windows(ess_end_kwh))
        if ess_initial_kwh is not None or ess_end_kwh is not None:
            write_storage_window(self._stage_blocks(), self.scenario, self._ess_end_abs)
            self._offered_windows = set()

    # ------------------------------------------------------------------ solve
    def violations(self, stage: str) -> dict[str, int]:
        """Complementarity pairs used both ways in the live solution, by pair name (``stage``: da or rt).

        Cost-free circulation on lossless lines is cancelled first (on a copy), as in :class:`CloudModel`.
        """
        x = self.hm.x.copy()
        out: dict[str, int] = {}
        for g in self._groups[stage]:
            pos, neg = x[g.pos], x[g.neg]
            if g.lossless is not None and g.lossless.any():
                sel = g.lossless
                pos[sel], neg[sel] = cancel_circulation(pos[sel], neg[sel])
            n = int((np.minimum(pos, neg) > COMPLEMENTARITY_TOL).sum())
            if n:
                out[g.name] = out.get(g.name, 0) + n
        return out

    def solve(self, method: str, case: CloudCase | None = None, *, lam: float | None = None,
              beta: float | None = None, eps: float = 1e-4, max_iter: int = 50) -> DROPlan:
        """The DA plan of ``method`` (:data:`agents.decision.uncertainty.METHODS`) for ``case``
        (line capacities, DR, storage).

        ``lam`` (CD-2) and ``beta`` (CVaR level of ``cvar``) default to the scenario's.  The master is
        reset first; after the method the plan is evaluated once more (:meth:`TwoStageDRO.evaluate`), so
        the live solution holds the plan and its recourse on every scenario.
        """
        check_method(method)
        case = case or CloudCase()
        unc = self.scenario.uncertainty
        lam_ = float(unc.lam if lam is None else lam)
        beta_ = float(unc.beta if beta is None else beta)
        t0 = time.perf_counter()
        ends = offered_windows(case, self._ess_end_abs, self._offered_windows)
        for i, b in enumerate(self._stage_blocks()):
            write_case(b, self.scenario, case, DA_HORIZON if i == 0 else RT_HORIZON, ends)
        self._offered_windows = {p for p, o in case.offered if o < 1.0}
        self.dro.reset()  # pushes the day's data and case (one update), no cut, no cache, cold solver
        handover_s = time.perf_counter() - t0
        self.hm.set_case(f"{case.name}/{method}")
        kw: dict[str, Any] = {"eps": eps, "max_iter": max_iter}
        solves: list[DROResult] = []
        if method == "cdro":  # its references E_SO and E_DRO, solved here so that their time is counted
            solves += [self.dro.solve("so"), self.dro.solve("dro", **kw)]
        res = self.dro.solve(method, lam=lam_, beta=beta_, **kw)
        solves.append(res)
        ev = self.dro.evaluate(res.x)
        eval_s = self.hm.last.solve_s if self.hm.last is not None else 0.0
        m = self.model
        cost = np.array([self.hm.value(m.rec[k].cost) for k in m.K])
        da_values = self.hm.x[self._da_cols].copy()
        viol = {f"da_{k}": v for k, v in self.violations("da").items()}
        viol.update({f"rt_{k}": v for k, v in self.violations("rt").items()})
        p0 = self.probabilities
        n_da = sum(v for k, v in viol.items() if k.startswith("da_"))
        path = (f"{method}: {res.solver}, {res.iterations} iteration(s), LP relaxation"
                + (f", {n_da} DA pair(s) used both ways" if n_da else ""))
        if abs(ev.worst_cost - res.worst_cost) > 1e-6 * max(1.0, abs(res.worst_cost)):  # pragma: no cover
            raise RuntimeError(f"{method}: re-evaluating the plan gives W = {ev.worst_cost}, "
                               f"the solve {res.worst_cost}")
        log.info("%s case %s: %s; H %.2f W %.2f", self.hm.ctx.name, case.name, path, res.historical_cost,
                 res.worst_cost)
        return DROPlan(
            method=method, case=case, result=res, da_values=da_values, scenario_cost=cost, scenario_probability=p0,
            objective=float(res.objective),
            solver_objective=float(res.lb_history[-1]) if res.lb_history else float(res.objective),
            kpis={"expected_cost": float(p0 @ cost), "max_scenario_cost": float(cost.max())},
            violations=viol, path=path, solve_s=sum(r.solve_s for r in solves) + eval_s, handover_s=handover_s,
            wall_s=time.perf_counter() - t0,
        )

r"""Two-stage robust optimisation over finite-vertex uncertainty sets (SPEC §6.5, paper 003).

Uncertainty sets are represented by their *vertex parametrisation* (SPEC §6.5 "HiGHS-compatible
polyhedral version"): a point of the set is

.. math::

    u = c + D z,\qquad z\in\{0,1\}^m,\qquad z_i + z_j \le 1\ ((i,j)\in\mathcal P),\qquad
    \textstyle\sum_i z_i \le \Gamma_B,\qquad \underline u \le c + Dz \le \overline u

(:class:`VertexSet`).  With a recourse LP whose uncertain data sit in the right-hand side, the
recourse cost ``Q(x, u)`` is convex in ``u``, so its maximum over the convex hull of such a set is
attained at one of these points; a union of sets (the union of ellipsoids of 003 eq. 9) is a
tuple of :class:`VertexSet` (:class:`UnionSet`).

How data reaches HiGHS (DESIGN principle 6, build once, update often): :class:`TwoStageRobust` compiles its
Pyomo model once and keeps persistent HiGHS models -- the recourse LP, the deterministic MILP, the C&CG master
and one subproblem MILP per part.  A new ``u`` or plan ``x`` reaches them as ``changeRowsBounds`` (recourse
LP, deterministic MILP) or ``changeColsCost`` (the subproblem's multiplier costs); each C&CG scenario reaches
the master as ``addCols`` + ``addRows``; a new day's data (mutable Params that feed row bounds: stored energy,
commitment before period 1) is recompiled row by row for the rows those Params feed only
(:meth:`TwoStageRobust.refresh`, :class:`_ParamRows`) and pushed as ``changeRowsBounds``.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import highspy
import numpy as np
import numpy.typing as npt
import pyomo.core as pyo
import scipy.sparse as sp
from pyomo.core.base.var import Var, VarData

from agents.milp import (
    ACCEPT_PRIMAL_INFEASIBILITY,
    SolveError,
    SolverOptions,
    _status_name,
    compile_model,
    constraint_family,
)

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class VertexSet:
    """``u = center + directions @ z`` over binary ``z`` with pair exclusivity, a budget and clip bounds.

    ``center``: ``(d,)``; ``directions``: ``(d, m)``; ``pairs``: ``(p, 2)`` integer indices into ``z``
    with ``z_i + z_j <= 1`` (the ``b^+``/``b^-`` of one axis); ``budget``: ``sum z <= budget`` (None: no
    budget); ``lower``/``upper``: ``(d,)`` bounds the point must respect (None: unbounded) -- for the
    data-driven set the clip ``0 <= u_t <= P^{WT,cap}`` of SPEC §6.5, written as linear constraints on
    ``z`` (the set is intersected with the box, never projected onto it).
    """

    name: str
    center: FloatArray
    directions: FloatArray
    pairs: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    budget: float | None = None
    lower: FloatArray | None = None
    upper: FloatArray | None = None

    def __post_init__(self) -> None:
        c = np.asarray(self.center, dtype=float)
        D = np.asarray(self.directions, dtype=float)
        if c.ndim != 1 or not np.all(np.isfinite(c)):
            raise ValueError(f"VertexSet {self.name!r}: center must be a finite vector, got shape {c.shape}")
        if D.ndim != 2 or D.shape[0] != c.shape[0] or not np.all(np.isfinite(D)):
            raise ValueError(f"VertexSet {self.name!r}: directions must be finite with shape ({c.shape[0]}, m), "
                             f"got {D.shape}")
        pairs = np.asarray(self.pairs, dtype=np.int64).reshape(-1, 2)
        if pairs.size and (pairs.min() < 0 or pairs.max() >= D.shape[1]):
            raise ValueError(f"VertexSet {self.name!r}: pair indices must be in 0..{D.shape[1] - 1}")
        if self.budget is not None and not (np.isfinite(self.budget) and self.budget >= 0):
            raise ValueError(f"VertexSet {self.name!r}: budget must be finite and >= 0, got {self.budget}")
        for nm in ("lower", "upper"):
            v = getattr(self, nm)
            if v is not None:
                arr = np.asarray(v, dtype=float)
                if arr.shape != c.shape:
                    raise ValueError(f"VertexSet {self.name!r}: {nm} must have shape {c.shape}, got {arr.shape}")
                object.__setattr__(self, nm, arr)
        if self.lower is not None and self.upper is not None and np.any(self.lower > self.upper):
            raise ValueError(f"VertexSet {self.name!r}: lower > upper somewhere")
        object.__setattr__(self, "center", c)
        object.__setattr__(self, "directions", D)
        object.__setattr__(self, "pairs", pairs)
        if not self.feasible(np.zeros(D.shape[1])):
            raise ValueError(f"VertexSet {self.name!r}: the center violates the clip bounds "
                             "(z = 0 must be a member)")

    @property
    def dim(self) -> int:
        """Dimension ``d`` of ``u``."""
        return int(self.center.shape[0])

    @property
    def n_binaries(self) -> int:
        """Number ``m`` of binaries ``z``."""
        return int(self.directions.shape[1])

    def point(self, z: Sequence[float] | FloatArray) -> FloatArray:
        """``center + directions @ z``."""
        zz = np.asarray(z, dtype=float)
        if zz.shape != (self.n_binaries,):
            raise ValueError(f"VertexSet {self.name!r}: z must have shape ({self.n_binaries},), got {zz.shape}")
        return np.asarray(self.center + self.directions @ zz, dtype=float)

    def feasible(self, z: Sequence[float] | FloatArray, tol: float = 1e-9) -> bool:
        """Is binary ``z`` a member (pairs, budget, clip bounds)?"""
        zz = np.asarray(z, dtype=float)
        if zz.shape != (self.n_binaries,) or np.any(np.abs(zz - np.round(zz)) > tol) or np.any(zz < -tol) \
                or np.any(zz > 1 + tol):
            return False
        if self.pairs.size and np.any(zz[self.pairs[:, 0]] + zz[self.pairs[:, 1]] > 1 + tol):
            return False
        if self.budget is not None and zz.sum() > self.budget + tol:
            return False
        u = self.center + self.directions @ zz
        if self.lower is not None and np.any(u < self.lower - tol):
            return False
        return not (self.upper is not None and np.any(u > self.upper + tol))


@dataclass(frozen=True)
class UnionSet:
    """A union of vertex sets (003 eq. 9: the union of the mixture components' ellipsoids)."""

    name: str
    parts: tuple[VertexSet, ...]

    def __post_init__(self) -> None:
        if not self.parts:
            raise ValueError(f"UnionSet {self.name!r}: no parts")
        dims = {p.dim for p in self.parts}
        if len(dims) != 1:
            raise ValueError(f"UnionSet {self.name!r}: parts have different dimensions {sorted(dims)}")

    @property
    def dim(self) -> int:
        return self.parts[0].dim


# ====================================================================== two-stage robust optimisation (C&CG)

INF = float(highspy.kHighsInf)

#: Default dual-bound factor κ: the duals of the rows that contain ``u`` are bounded by
#: ``κ · C / a_i`` with ``C`` the largest cost coefficient of the recourse (``|c_y|``, ``|c_u|``) and ``a_i``
#: the smallest nonzero ``|A_y|`` of row ``i`` (see :class:`TwoStageRobust`).
DUAL_BOUND_FACTOR = 10.0

#: relative MIP gap of the master in :meth:`TwoStageRobust.bound` (its dual bound is the result; the plan only
#: steers the search)
BOUND_MASTER_GAP = 1e-3

#: HiGHS options of the subproblem MILPs (over :class:`SolverOptions`; ``subproblem_options`` adds to them).
SUBPROBLEM_OPTIONS: dict[str, Any] = {}

#: HiGHS options of the deterministic MILP (over :class:`SolverOptions`): the sub-MIP heuristics RINS and RENS
#: and the root reduced-cost heuristic off.  On the campus MILP (149 binaries, 5.3k columns) they took two
#: thirds of the solve (14 sub-MIPs for a plan the branching finds anyway); the plan is optimal to the same
#: ``mip_rel_gap`` without them.
DETERMINISTIC_OPTIONS: dict[str, Any] = {
    "mip_heuristic_run_rins": False, "mip_heuristic_run_rens": False, "mip_heuristic_run_root_reduced_cost": False}

#: Largest choice row (``sum x = 1`` over first-stage binaries) the deterministic MILP branches on by hand.
CHOICE_LIMIT = 16


def _new_highs(options: SolverOptions, mip_rel_gap: float | None = None) -> highspy.Highs:
    h = highspy.Highs()
    h.setOptionValue("output_flag", bool(options.verbose))
    h.setOptionValue("time_limit", float(options.time_limit_s))
    h.setOptionValue("mip_rel_gap", float(options.mip_rel_gap if mip_rel_gap is None else mip_rel_gap))
    h.setOptionValue("random_seed", int(options.random_seed))
    h.setOptionValue("presolve", "on" if options.presolve else "off")
    h.setOptionValue("solver", options.lp_method)
    h.setOptionValue("run_crossover", "on")
    if options.threads:
        h.setOptionValue("threads", int(options.threads))
    return h


def _pass(h: highspy.Highs, sense: Any, c: FloatArray, offset: float, col_lb: FloatArray, col_ub: FloatArray,
          row_lb: FloatArray, row_ub: FloatArray, A: sp.spmatrix, integer: npt.NDArray[np.bool_], label: str) -> None:
    Ac = sp.csc_matrix(A)
    Ac.sort_indices()
    status = h.passModel(
        int(Ac.shape[1]), int(Ac.shape[0]), int(Ac.nnz), int(highspy.MatrixFormat.kColwise), int(sense),
        float(offset), np.asarray(c, dtype=float), np.asarray(col_lb, dtype=float), np.asarray(col_ub, dtype=float),
        np.asarray(row_lb, dtype=float), np.asarray(row_ub, dtype=float), Ac.indptr.astype(np.int32),
        Ac.indices.astype(np.int32), Ac.data.astype(float), np.where(integer, 1, 0).astype(np.int32),
    )
    if status == highspy.HighsStatus.kError:
        raise SolveError(f"{label}: HiGHS rejected the model", "model_error", [])


class _ParamRows:
    """Which compiled rows each mutable Param of a model feeds, and each such row recompiled alone.

    Built with the engine (the model's mutable Params and the values the compiled problem holds); indexed at
    the first :meth:`TwoStageRobust.refresh`: per Param the rows whose expression contains it
    (``identify_mutable_parameters``) and whether it also feeds the objective or a column bound.
    :meth:`changed` lists the Params whose value differs from the one compiled; :meth:`row` recompiles one row
    exactly as :func:`agents.milp.compile_model` does (``to_bounded_expression``, Pyomo's ``LinearRepnVisitor``
    on the body with fixed variables taken as columns, bounds ``lb - constant`` and ``ub - constant``), so a
    refreshed bound is bit for bit the bound a full compile would give.
    """

    def __init__(self, model: pyo.Block) -> None:
        self.model = model
        self.params = [p for p in model.component_data_objects(pyo.Param, descend_into=True)
                       if p.parent_component().mutable]
        self.values = self.read()  # the values the compiled problem holds
        self.rows_of: list[list[int]] = []
        #: Params that feed the objective or a column bound: a full compile checks what they changed
        self.other = np.zeros(len(self.params), dtype=bool)
        self.fixed_in: dict[int, list[VarData]] = {}  # row -> its fixed variables (columns of the compile)
        self.indexed = False

    def index(self, cm: Any) -> None:
        """Which rows of the compiled problem ``cm`` each Param feeds (once: the structure does not change)."""
        from pyomo.core.expr.visitor import identify_mutable_parameters, identify_variables

        pos = {id(p): k for k, p in enumerate(self.params)}
        self.rows_of = [[] for _ in self.params]
        for i, con in enumerate(cm.rows):
            found = False
            for p in identify_mutable_parameters(con.expr):
                k = pos.get(id(p))
                if k is None:
                    raise ValueError(f"{self.model.name}: row {con.name} holds a Param outside the model ({p.name})")
                self.rows_of[k].append(i)
                found = True
            if found:
                self.fixed_in[i] = [v for v in identify_variables(con.body, include_fixed=True) if v.fixed]
        for obj in self.model.component_data_objects(pyo.Objective, active=True, descend_into=True):
            for p in identify_mutable_parameters(obj.expr):
                self.other[pos[id(p)]] = True
        for v in cm.columns:
            for b in (v.lower, v.upper):
                if b is not None and not isinstance(b, int | float):
                    for p in identify_mutable_parameters(b):
                        self.other[pos[id(p)]] = True
        self.indexed = True

    def read(self) -> list[Any]:
        return [p.value for p in self.params]

    def changed(self) -> tuple[list[int], list[Any]]:
        """Indices of the Params whose value differs from the compiled one, and all current values."""
        now = self.read()
        return [k for k, (a, b) in enumerate(zip(now, self.values, strict=True)) if a != b], now

    def row(self, con: Any, fixed: Sequence[VarData], col_of: Mapping[int, int]
            ) -> tuple[float, float, dict[int, float]]:
        """``(row_lb, row_ub, {column: coefficient})`` of one row, as :func:`agents.milp.compile_model` has it."""
        from pyomo.core.expr.numvalue import native_types, value
        from pyomo.repn.linear import LinearRepnVisitor

        vals = [v.value for v in fixed]
        for v in fixed:
            v.unfix()
        try:
            lb, body, ub = con.to_bounded_expression()
            if lb.__class__ not in native_types:
                lb = value(lb)
            if ub.__class__ not in native_types:
                ub = value(ub)
            repn = LinearRepnVisitor({}).walk_expression(body)
        finally:
            for v, x in zip(fixed, vals, strict=True):
                v.fix(x)
        if repn.nonlinear is not None or not repn.linear:
            raise ValueError(f"row {con.name} is no longer a linear row with variables")
        offset = repn.constant
        coefs = {col_of[vid]: float(a) for vid, a in repn.linear.items() if a != 0}
        if lb is not None and ub is not None and lb == ub:
            return float(ub - offset), float(ub - offset), coefs
        return (-INF if lb is None else float(lb - offset)), (INF if ub is None else float(ub - offset)), coefs


@dataclass
class _Run:
    """Outcome of one HiGHS run."""

    status: str
    objective: float
    dual_bound: float
    x: FloatArray
    solve_s: float


def _run(h: highspy.Highs, is_mip: bool) -> _Run:
    t0 = time.perf_counter()
    h.run()
    dt = time.perf_counter() - t0
    status = _status_name(h.getModelStatus())
    info = h.getInfo()
    has_primal = info.primal_solution_status == 2 or (
        status == "optimal" and info.primal_solution_status == 1
        and 0 <= info.max_primal_infeasibility <= ACCEPT_PRIMAL_INFEASIBILITY)
    if has_primal:
        x = np.asarray(h.getSolution().col_value, dtype=float)
        obj = float(info.objective_function_value)
    else:
        x = np.zeros(0)
        obj = math.nan
        if status == "optimal":
            status = "no_solution"
    bound = float(info.mip_dual_bound) if is_mip else obj
    return _Run(status, obj, bound, x, dt)


def _elastic_diagnosis(A: sp.spmatrix, row_lb: FloatArray, row_ub: FloatArray, col_lb: FloatArray,
                       col_ub: FloatArray, integer: npt.NDArray[np.bool_], labels: Sequence[tuple[str, str]],
                       options: SolverOptions, top: int = 8) -> list[tuple[str, float, list[str]]]:
    """Constraint families an elastic copy (penalised slacks on every row) must violate, as in
    :meth:`agents.milp.HighsModel.diagnose`.  ``labels[i] = (family, row name)``."""
    m, n = A.shape
    eye = sp.identity(m, format="csc")
    A2 = sp.hstack([sp.csc_matrix(A), eye, -eye], format="csc")
    c2 = np.concatenate([np.zeros(n), np.ones(2 * m)])
    lb2 = np.concatenate([np.minimum(col_lb, col_ub), np.zeros(2 * m)])
    ub2 = np.concatenate([np.maximum(col_lb, col_ub), np.full(2 * m, INF)])
    h = _new_highs(options)
    h.setOptionValue("output_flag", False)
    _pass(h, highspy.ObjSense.kMinimize, c2, 0.0, lb2, ub2, row_lb, row_ub, A2,
          np.concatenate([integer, np.zeros(2 * m, dtype=bool)]), "elastic diagnosis")
    r = _run(h, bool(integer.any()))
    out: dict[str, float] = defaultdict(float)
    examples: dict[str, list[str]] = defaultdict(list)
    if r.x.size:
        viol = r.x[n:n + m] + r.x[n + m:]
        for i in np.flatnonzero(viol > 1e-7):
            fam, nm = labels[int(i)]
            out[fam] += float(viol[i])
            if len(examples[fam]) < 3:
                examples[fam].append(f"{nm} short by {viol[i]:.4g}")
    ranked = sorted(out.items(), key=lambda kv: -kv[1])[:top]
    return [(fam, v, examples[fam]) for fam, v in ranked]


def _diagnosis_text(diag: list[tuple[str, float, list[str]]]) -> str:
    if not diag:
        return "  (the elastic re-solve found no violated family)"
    return "\n".join(f"  - {fam}: total violation {viol:.6g} (e.g. {', '.join(ex)})" for fam, viol, ex in diag)


@dataclass(frozen=True)
class ModelSize:
    """Rows, columns and integer columns of a HiGHS model."""

    rows: int
    cols: int
    binaries: int


@dataclass
class WorstCase:
    """The worst case of a first-stage plan over an uncertainty set (:meth:`TwoStageRobust.worst_case`).

    ``value`` is ``Q(x, u*)`` from the primal recourse LP at ``u*`` (it equals the subproblem objective up
    to ``verify_tol``); ``part_values[k]`` is the worst ``Q`` over part ``k`` -- with ``prune`` (the
    default, see :class:`TwoStageRobust`) only for the worst part and for parts solved by enumeration;
    for a part whose MILP was cut off it is the best ``Q`` found there (a lower bound), and
    ``part_bounds[k]`` an upper bound of its worst ``Q`` (``part_values[k]`` itself when exact).
    ``bound_updates`` counts the enlargements of the McCormick dual bounds made during this call (all
    parts); ``dual_bound_scale`` is the scale of the default bounds finally used for the worst part.
    ``stats``: counts of the work done (``lp`` recourse LPs, ``milp`` subproblem MILPs, ``pruned`` MILPs cut
    off, ``enumerated`` parts solved by enumeration) and ``heuristic_s``/``milp_s``/``enumeration_s``.
    """

    u: FloatArray
    z: FloatArray
    part: int
    part_name: str
    value: float
    y: FloatArray
    part_values: list[float]
    subproblem_objective: float
    subproblem_dual_bound: float
    solve_s: float
    bound_updates: int
    dual_bound_scale: float
    sizes: list[ModelSize]
    part_bounds: list[float] = field(default_factory=list)
    stats: dict[str, float] = field(default_factory=dict)

    @property
    def bounds_enlarged(self) -> bool:
        """Were McCormick dual bounds enlarged during the call?"""
        return self.bound_updates > 0


@dataclass
class RobustResult:
    """A plan with its worst case (C&CG of :meth:`TwoStageRobust.solve`, :meth:`~TwoStageRobust.evaluate`
    or :meth:`~TwoStageRobust.solve_deterministic`).

    ``objective = first_stage_cost + recourse_cost`` (for C&CG: the final upper bound, the worst-case
    cost of the returned plan); ``first_stage_cost`` includes the objective's constant.  ``u``/``y`` are
    the worst case (for ``deterministic``: the given ``u``) and the recourse there.  Histories are per
    C&CG iteration: ``lb_history`` the master's bound, ``ub_history`` the running upper bound,
    ``gap_history`` ``(UB − LB)/|UB|``, ``master_s``/``subproblem_s`` the times.  Sizes: the master at the
    end, the subproblem of each part.
    """

    name: str
    method: str  # "ccg", "evaluate" or "deterministic"
    x: dict[str, FloatArray]
    x_flat: FloatArray
    u: FloatArray
    z: FloatArray
    part: int
    part_name: str
    y: FloatArray
    objective: float
    first_stage_cost: float
    recourse_cost: float
    converged: bool = True
    iterations: int = 0
    lb_history: list[float] = field(default_factory=list)
    ub_history: list[float] = field(default_factory=list)
    gap_history: list[float] = field(default_factory=list)
    master_s: list[float] = field(default_factory=list)
    subproblem_s: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    master_size: ModelSize | None = None
    subproblem_sizes: list[ModelSize] = field(default_factory=list)
    scenarios: list[FloatArray] = field(default_factory=list)
    bound_updates: int = 0
    engine: TwoStageRobust | None = field(default=None, repr=False, compare=False)

    @property
    def lower_bound(self) -> float:
        return self.lb_history[-1] if self.lb_history else self.objective

    @property
    def gap(self) -> float:
        return self.gap_history[-1] if self.gap_history else 0.0

    def load(self) -> None:
        """Write ``x``, ``u`` and ``y`` into the Pyomo model's variables (:meth:`TwoStageRobust.load`)."""
        if self.engine is None:
            raise RuntimeError(f"{self.name}: this result is not attached to an engine")
        self.engine.load(self.x_flat, self.u, self.y)

    def summary(self) -> dict[str, Any]:
        """Scalars of the result (for tidy tables)."""
        return {
            "name": self.name, "method": self.method, "objective": self.objective,
            "first_stage_cost": self.first_stage_cost, "recourse_cost": self.recourse_cost,
            "lower_bound": self.lower_bound, "gap": self.gap, "iterations": self.iterations,
            "converged": self.converged, "part": self.part, "part_name": self.part_name,
            "master_s": float(sum(self.master_s)), "subproblem_s": float(sum(self.subproblem_s)),
            "wall_s": self.wall_s, "bound_updates": self.bound_updates,
            "master_rows": self.master_size.rows if self.master_size else 0,
            "master_cols": self.master_size.cols if self.master_size else 0,
            "master_binaries": self.master_size.binaries if self.master_size else 0,
            "subproblem_rows": max((s.rows for s in self.subproblem_sizes), default=0),
            "subproblem_cols": max((s.cols for s in self.subproblem_sizes), default=0),
            "subproblem_binaries": max((s.binaries for s in self.subproblem_sizes), default=0),
        }


def _entries(comp: Any) -> list[Any]:
    """The VarData of a Var component (scalar or indexed) in index order."""
    if not isinstance(comp, Var | VarData):
        raise TypeError(f"expected a Pyomo Var component, got {type(comp).__name__} ({comp!r})")
    if comp.is_indexed():
        return list(comp.values())
    return [comp]


def _set_rows(part: VertexSet) -> tuple[sp.csr_matrix, FloatArray, FloatArray]:
    """The rows ``slb <= S z <= sub`` of a vertex set: pairs, budget and the clip bounds on ``c + D z``."""
    D = part.directions
    m = part.n_binaries
    srows: list[sp.spmatrix] = []
    s_lb: list[FloatArray] = []
    s_ub: list[FloatArray] = []
    if part.pairs.size:
        pr = part.pairs
        k = pr.shape[0]
        srows.append(sp.csr_matrix((np.ones(2 * k), (np.repeat(np.arange(k), 2), pr.ravel())), shape=(k, m)))
        s_lb.append(np.full(k, -INF))
        s_ub.append(np.ones(k))
    if part.budget is not None and m:
        srows.append(sp.csr_matrix(np.ones((1, m))))
        s_lb.append(np.full(1, -INF))
        s_ub.append(np.array([float(part.budget)]))
    if (part.lower is not None or part.upper is not None) and m:
        nz = np.flatnonzero(np.any(D != 0.0, axis=1))
        lo = (part.lower - part.center)[nz] if part.lower is not None else np.full(nz.size, -INF)
        hi = (part.upper - part.center)[nz] if part.upper is not None else np.full(nz.size, INF)
        srows.append(sp.csr_matrix(D[nz]))
        s_lb.append(lo)
        s_ub.append(hi)
    S = sp.vstack(srows, format="csr") if srows else sp.csr_matrix((0, m))
    slb = np.concatenate(s_lb) if s_lb else np.zeros(0)
    sub = np.concatenate(s_ub) if s_ub else np.zeros(0)
    return S, slb, sub


class _Subproblem:
    """The max–min subproblem of one :class:`VertexSet` as a MILP (LP duality + McCormick), persistent.

    Columns: the recourse-row multipliers ``π`` (one per finite row bound: ``≥ 0`` for a lower, ``≤ 0`` for
    an upper bound, one free multiplier for an equality row), the column-bound multipliers ``d`` (same
    rule), ``g = (A_u D)^T π``, ``z`` (binary) and ``w = g ∘ z`` (``mccormick="aggregated"``), or instead of
    ``g, w`` one product ``v = π_s z_k`` per nonzero of ``(A_u D)^T`` (``"disaggregated"``).  Rows: dual
    feasibility ``A_y^T π + d = c_y``, the definition of ``g``, four McCormick rows per product and the
    set's rows on ``z``.  The objective is the dual objective at ``u = c + D z``:
    ``Σ π (bound − A_x x − A_u c) + Σ d · column bound − Σ w + c_u (c + D z)``.  Between C&CG iterations
    only the objective coefficients of ``π`` change (they hold ``−A_x x``).
    """

    def __init__(self, eng: TwoStageRobust, part: VertexSet, scale: float) -> None:
        self.part = part
        self.scale = scale
        e = eng
        D = part.directions
        m = part.n_binaries
        nr = e._rlb.size
        AuD = sp.csr_matrix(e._Au @ sp.csr_matrix(D)) if m else sp.csr_matrix((nr, 0))
        AuD.eliminate_zeros()
        touched = np.zeros(nr, dtype=bool)
        touched[np.unique(AuD.nonzero()[0])] = True
        # --- row multipliers: eq (free), lo (>= 0), hi (<= 0)
        lo_f = np.isfinite(e._rlb)
        hi_f = np.isfinite(e._rub)
        eq = lo_f & hi_f & (e._rlb == e._rub)
        rows_lo = np.flatnonzero(lo_f & ~eq)
        rows_hi = np.flatnonzero(hi_f & ~eq)
        rows_eq = np.flatnonzero(eq)
        side_row = np.concatenate([rows_eq, rows_lo, rows_hi])
        side_val = np.concatenate([e._rlb[rows_eq], e._rlb[rows_lo], e._rub[rows_hi]])
        p_lo = np.concatenate([np.full(rows_eq.size, -INF), np.zeros(rows_lo.size), np.full(rows_hi.size, -INF)])
        p_hi = np.concatenate([np.full(rows_eq.size, INF), np.full(rows_lo.size, INF), np.zeros(rows_hi.size)])
        Mrow = e._dual_base[side_row] * scale
        bounded = touched[side_row]
        p_lo = np.where(bounded & (p_lo < 0), -Mrow, p_lo)
        p_hi = np.where(bounded & (p_hi > 0), Mrow, p_hi)
        self.side_row = side_row
        self.side_val = side_val
        # sign of each multiplier: 0 free (equality row), +1 lower bound (>= 0), -1 upper bound (<= 0)
        self.side_sign = np.concatenate([np.zeros(rows_eq.size), np.ones(rows_lo.size), -np.ones(rows_hi.size)])
        self.bounded = bounded
        self.p_lo, self.p_hi = p_lo, p_hi
        npi = side_row.size
        S_row = sp.csr_matrix((np.ones(npi), (side_row, np.arange(npi))), shape=(nr, npi))
        # --- column-bound multipliers
        ny = e._ylb.size
        clo = np.isfinite(e._ylb)
        chi = np.isfinite(e._yub)
        ceq = clo & chi & (e._ylb == e._yub)
        cols_eq = np.flatnonzero(ceq)
        cols_lo = np.flatnonzero(clo & ~ceq)
        cols_hi = np.flatnonzero(chi & ~ceq)
        cside_col = np.concatenate([cols_eq, cols_lo, cols_hi])
        cside_val = np.concatenate([e._ylb[cols_eq], e._ylb[cols_lo], e._yub[cols_hi]])
        d_lo = np.concatenate([np.full(cols_eq.size, -INF), np.zeros(cols_lo.size), np.full(cols_hi.size, -INF)])
        d_hi = np.concatenate([np.full(cols_eq.size, INF), np.full(cols_lo.size, INF), np.zeros(cols_hi.size)])
        nd = cside_col.size
        S_col = sp.csr_matrix((np.ones(nd), (cside_col, np.arange(nd))), shape=(ny, nd))
        self.cside_col = cside_col
        self.cside_sign = np.concatenate([np.zeros(cols_eq.size), np.ones(cols_lo.size), -np.ones(cols_hi.size)])
        self.d_lo, self.d_hi = d_lo, d_hi
        # --- g and McCormick bounds
        G = sp.csr_matrix(AuD.T @ S_row)  # m x npi
        self.G = G
        Gp = G.maximum(0)
        Gn = G.minimum(0)
        lo0 = np.where(np.isfinite(p_lo), p_lo, 0.0)
        hi0 = np.where(np.isfinite(p_hi), p_hi, 0.0)
        L = np.asarray(Gp @ lo0 + Gn @ hi0, dtype=float).ravel()
        U = np.asarray(Gp @ hi0 + Gn @ lo0, dtype=float).ravel()
        self.L, self.U = L, U
        # --- set rows on z
        S, slb, sub = _set_rows(part)
        self.npi, self.nd, self.m = npi, nd, m
        Ady = sp.csr_matrix(e._Ay.T @ S_row)
        if e.mccormick == "aggregated":
            # columns [π | d | g | z | w]: w_k = g_k z_k with g_k ∈ [L_k, U_k]
            I_m = sp.identity(m, format="csr")
            dU = sp.diags(U, format="csr") if m else sp.csr_matrix((0, 0))
            dL = sp.diags(L, format="csr") if m else sp.csr_matrix((0, 0))
            blocks: list[list[sp.spmatrix | None]] = [
                [Ady, S_col, None, None, None],  # A_y^T π + d = c_y
                [-G, None, I_m, None, None],  # g − (A_u D)^T π = 0
                [None, None, None, -dU, I_m],  # w − U z ≤ 0
                [None, None, None, -dL, I_m],  # w − L z ≥ 0
                [None, None, -I_m, -dL, I_m],  # w − g − L z ≤ −L
                [None, None, -I_m, -dU, I_m],  # w − g − U z ≥ −U
                [None, None, None, S, None],  # the set's rows on z
            ]
            widths = [npi, nd, m, m, m]
            row_lb = np.concatenate([e._cy, np.zeros(m), np.full(m, -INF), np.zeros(m), np.full(m, -INF), -U, slb])
            row_ub = np.concatenate([e._cy, np.zeros(m), np.zeros(m), np.full(m, INF), -L, np.full(m, INF), sub])
            col_lb = np.concatenate([p_lo, d_lo, L, np.zeros(m), np.minimum(L, 0.0)])
            col_ub = np.concatenate([p_hi, d_hi, U, np.ones(m), np.maximum(U, 0.0)])
            c_tail = [np.zeros(m), D.T @ e._cu if m else np.zeros(0), -np.ones(m)]
            z0 = npi + nd + m
            self._kk = self._ss = np.zeros(0, dtype=np.int64)
        else:
            # columns [π | d | z | v]: v_p = π_s z_k for every nonzero G[k, s], with π_s ∈ [lo_s, hi_s]
            Gc = sp.coo_matrix(G)
            kk, ss, gg = Gc.row, Gc.col, Gc.data
            P = gg.size
            lo_s, hi_s = lo0[ss], hi0[ss]
            I_p = sp.identity(P, format="csr")
            Psel = sp.csr_matrix((np.ones(P), (np.arange(P), ss)), shape=(P, npi))
            Zhi = sp.csr_matrix((hi_s, (np.arange(P), kk)), shape=(P, m))
            Zlo = sp.csr_matrix((lo_s, (np.arange(P), kk)), shape=(P, m))
            blocks = [
                [Ady, S_col, None, None],  # A_y^T π + d = c_y
                [None, None, -Zhi, I_p],  # v − hi z ≤ 0
                [None, None, -Zlo, I_p],  # v − lo z ≥ 0
                [-Psel, None, -Zlo, I_p],  # v − π − lo z ≤ −lo
                [-Psel, None, -Zhi, I_p],  # v − π − hi z ≥ −hi
                [None, None, S, None],  # the set's rows on z
            ]
            widths = [npi, nd, m, P]
            row_lb = np.concatenate([e._cy, np.full(P, -INF), np.zeros(P), np.full(P, -INF), -hi_s, slb])
            row_ub = np.concatenate([e._cy, np.zeros(P), np.full(P, INF), -lo_s, np.full(P, INF), sub])
            col_lb = np.concatenate([p_lo, d_lo, np.zeros(m), np.minimum(lo_s, 0.0)])
            col_ub = np.concatenate([p_hi, d_hi, np.ones(m), np.maximum(hi_s, 0.0)])
            c_tail = [D.T @ e._cu if m else np.zeros(0), -gg]
            z0 = npi + nd
            self._kk, self._ss = kk.astype(np.int64), ss.astype(np.int64)
        heights = [next(int(b.shape[0]) for b in row if b is not None) for row in blocks]
        full = [[blk if blk is not None else sp.csr_matrix((heights[i], widths[j]))
                 for j, blk in enumerate(row)] for i, row in enumerate(blocks)]
        A = sp.bmat(full, format="csc")
        # infinite bound values never get a multiplier, so side_val and cside_val are finite
        c = np.concatenate([side_val, cside_val, *c_tail])
        integer = np.zeros(A.shape[1], dtype=bool)
        integer[z0:z0 + m] = True
        self.z_cols = np.arange(z0, z0 + m)
        self.n_cols = int(A.shape[1])
        self.col_lb, self.col_ub = col_lb, col_ub
        self.aggregated = e.mccormick == "aggregated"
        # HiGHS solves min −V: the sense of objective_bound (the cutoff) is then unambiguous
        self.h = _new_highs(e.options, mip_rel_gap=e.subproblem_gap)
        for opt, val in e.subproblem_options.items():
            if self.h.setOptionValue(opt, val) == highspy.HighsStatus.kError:
                raise ValueError(f"{e.name}: HiGHS rejected subproblem option {opt} = {val!r}")
        _pass(self.h, highspy.ObjSense.kMinimize, -c, -float(e._cu @ part.center), col_lb, col_ub, row_lb, row_ub,
              A, integer, f"{e.name}: subproblem of {part.name!r}")
        self.size = ModelSize(int(A.shape[0]), int(A.shape[1]), m)
        self._pi_idx = np.arange(npi, dtype=np.int32)
        self._z_idx = self.z_cols.astype(np.int32)
        self._shift_c = np.asarray(e._Au @ part.center, dtype=float)

    def set_x(self, eng: TwoStageRobust, x: FloatArray) -> None:
        shift = np.asarray(eng._Ax @ x, dtype=float) + self._shift_c
        cost = self.side_val - shift[self.side_row]
        self.h.changeColsCost(self.npi, self._pi_idx, -cost)

    def set_cutoff(self, cutoff: float | None) -> None:
        """Only solutions with ``V >= cutoff`` are of interest (HiGHS ``objective_bound`` on ``−V``); None: off."""
        self.h.setOptionValue("objective_bound", INF if cutoff is None else -float(cutoff))

    def run(self) -> _Run:
        """Solve; objective and bound of the returned run are in terms of ``V`` (the maximisation)."""
        r = _run(self.h, True)
        return _Run(r.status, -r.objective, -r.dual_bound, r.x, r.solve_s)

    def multipliers(self, row_dual: FloatArray, col_dual: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``(π, d)`` of this dual from the row duals and reduced costs of the recourse LP (HiGHS, min sense)."""
        lam = row_dual[self.side_row]
        pi = np.where(self.side_sign > 0, np.maximum(lam, 0.0), np.where(self.side_sign < 0, np.minimum(lam, 0.0), lam))
        rc = col_dual[self.cside_col]
        d = np.where(self.cside_sign > 0, np.maximum(rc, 0.0), np.where(self.cside_sign < 0, np.minimum(rc, 0.0), rc))
        return pi, d

    def inside(self, pi: FloatArray, rel: float = 1e-6) -> bool:
        """Are the bounded multipliers strictly inside their McCormick bounds (``rel`` margin)?"""
        b = self.bounded
        lo_ok = ~np.isfinite(self.p_lo) | (pi >= self.p_lo * (1 - rel))
        hi_ok = ~np.isfinite(self.p_hi) | (pi <= self.p_hi * (1 - rel))
        return bool(np.all(~b | (lo_ok & hi_ok)))

    def start_vector(self, pi: FloatArray, d: FloatArray, z: FloatArray) -> FloatArray:
        """A full solution ``[π | d | g | z | w]`` (or ``[π | d | z | v]``) from multipliers and a member ``z``."""
        g = np.asarray(self.G @ pi, dtype=float)
        if self.aggregated:
            vec = np.concatenate([pi, d, g, z, g * z])
        else:
            vec = np.concatenate([pi, d, z, pi[self._ss] * z[self._kk]])
        return np.asarray(np.clip(vec, self.col_lb, self.col_ub), dtype=float)

    def set_start(self, z: FloatArray, full: FloatArray | None = None) -> None:
        """Offer HiGHS a MIP start: a full vector, or only ``z`` (HiGHS completes it with an LP)."""
        if full is not None:
            self.h.setSolution(self.n_cols, np.arange(self.n_cols, dtype=np.int32), full)
        else:
            self.h.setSolution(int(self._z_idx.size), self._z_idx, np.asarray(z, dtype=float))

    def active_bounds(self, pi: FloatArray, rel: float = 1e-6) -> int:
        """Number of bounded multipliers at their McCormick bound."""
        b = self.bounded
        at_lo = np.isfinite(self.p_lo) & (self.p_lo < 0) & (pi <= self.p_lo * (1 - rel))
        at_hi = np.isfinite(self.p_hi) & (self.p_hi > 0) & (pi >= self.p_hi * (1 - rel))
        return int(np.count_nonzero(b & (at_lo | at_hi)))


@dataclass
class _PartState:
    """Cached subproblem of one part, with the scale of its dual bounds; the last worst ``z`` found there
    (start of the next heuristic), the linear oracle over its members and, for a small part, the members
    kept for enumeration (``None``: not enumerable; not yet computed while ``members_done`` is False)."""

    part: VertexSet
    scale: float
    sub: _Subproblem
    confirmed: bool = False
    last_z: FloatArray | None = None
    oracle: _ZOracle | None = None
    members: tuple[FloatArray, FloatArray] | None = None
    members_done: bool = False


@dataclass
class _Point:
    """A member ``z`` of a part with ``u``, ``Q(x, u)``, the recourse ``y`` and the recourse LP's duals."""

    q: float
    z: FloatArray
    u: FloatArray
    y: FloatArray
    row_dual: FloatArray
    col_dual: FloatArray


@dataclass
class _PartOutcome:
    """Result of the subproblem MILP of one part: ``point`` is None when the MILP was cut off (its worst
    value is then at most the cutoff), else the verified worst case with the MILP's objective ``V`` and
    bound."""

    point: _Point | None
    V: float
    bound: float
    seconds: float
    enlargements: int
    scale: float


class _ZOracle:
    """``max a^T z`` over the members of a vertex set: greedy when the pairs are disjoint (one item per pair,
    the ``budget`` best positive items; exact without clip rows, and kept when it satisfies them), else a
    small persistent MILP."""

    def __init__(self, part: VertexSet, options: SolverOptions) -> None:
        self.part = part
        self.options = options
        used = part.pairs.ravel()
        self.disjoint = used.size == np.unique(used).size
        in_pair = np.zeros(part.n_binaries, dtype=bool)
        in_pair[used] = True
        self.singles = np.flatnonzero(~in_pair)
        self.cap = part.n_binaries if part.budget is None else math.floor(part.budget + 1e-9)
        self.h: highspy.Highs | None = None

    def greedy(self, a: FloatArray) -> FloatArray | None:
        if not self.disjoint:
            return None
        pr = self.part.pairs
        pick = np.where(a[pr[:, 0]] >= a[pr[:, 1]], pr[:, 0], pr[:, 1]) if pr.size else np.zeros(0, dtype=np.int64)
        cand = np.concatenate([pick, self.singles])
        cand = cand[a[cand] > 0]
        cand = cand[np.argsort(-a[cand], kind="stable")][:self.cap]
        z = np.zeros(self.part.n_binaries)
        z[cand] = 1.0
        return z

    def best(self, a: FloatArray) -> FloatArray | None:
        """An ``argmax a^T z`` over the members (None if the MILP fails)."""
        z = self.greedy(a)
        if z is not None and self.part.feasible(z):
            return z
        m = self.part.n_binaries
        if self.h is None:
            S, slb, sub = _set_rows(self.part)
            self.h = _new_highs(self.options, mip_rel_gap=1e-9)
            self.h.setOptionValue("output_flag", False)
            self.h.setOptionValue("presolve", "on")
            _pass(self.h, highspy.ObjSense.kMaximize, np.zeros(m), 0.0, np.zeros(m), np.ones(m), slb, sub, S,
                  np.ones(m, dtype=bool), f"{self.part.name}: linear oracle")
        self.h.changeColsCost(m, np.arange(m, dtype=np.int32), np.asarray(a, dtype=float))
        r = _run(self.h, True)
        if r.status != "optimal" or r.x.size != m:
            return None
        zz = np.round(r.x)
        return zz if self.part.feasible(zz, tol=1e-6) else None


def _members(part: VertexSet, limit: int) -> tuple[FloatArray, FloatArray] | None:
    """All members ``z`` of a part and their points ``u`` if there are at most ``limit`` of them, without those
    that are the midpoint of two other members (``Q`` is convex in ``u``, so they never exceed the larger of
    the two); None if the part has more members (counted before the clip bounds).

    Midpoints are found in integer coordinates: ``ζ = z_i − z_j`` for a pair whose directions are opposite
    (``D_j = −D_i``, so ``D_i z_i + D_j z_j = D_i ζ``), ``z`` otherwise; ``ζ_a = (ζ_b + ζ_c)/2`` implies
    ``u_a = (u_b + u_c)/2``.
    """
    m = part.n_binaries
    used = part.pairs.ravel()
    cap = m if part.budget is None else math.floor(part.budget + 1e-9)
    if used.size != np.unique(used).size:
        return None
    in_pair = np.zeros(m, dtype=bool)
    in_pair[used] = True
    singles = np.flatnonzero(~in_pair)
    # number of selections (at most one item per pair, at most `cap` items): coefficients of
    # (1 + 2t)^pairs (1 + t)^singles, summed up to t^cap
    poly = np.array([1.0])
    for f in [np.array([1.0, 2.0])] * part.pairs.shape[0] + [np.array([1.0, 1.0])] * singles.size:
        poly = np.convolve(poly, f)[:cap + 1]
        if poly.sum() > limit:
            return None
    Z = np.zeros((1, m))
    groups: list[list[int]] = [[int(i), int(j)] for i, j in part.pairs] + [[int(i)] for i in singles]
    for g in groups:
        room = Z.sum(axis=1) < cap - 0.5
        new = [Z]
        for i in g:
            Zi = Z[room].copy()
            Zi[:, i] = 1.0
            new.append(Zi)
        Z = np.vstack(new)
    U = part.center[None, :] + Z @ part.directions.T
    ok = np.ones(Z.shape[0], dtype=bool)
    if part.lower is not None:
        ok &= np.all(part.lower - 1e-9 <= U, axis=1)
    if part.upper is not None:
        ok &= np.all(part.upper + 1e-9 >= U, axis=1)
    Z, U = Z[ok], U[ok]
    # integer coordinates
    D = part.directions
    cols: list[FloatArray] = []
    for i, j in part.pairs:
        if np.allclose(D[:, j], -D[:, i], rtol=0.0, atol=1e-12 * max(1.0, float(np.abs(D[:, i]).max()))):
            cols.append(Z[:, i] - Z[:, j])
        else:
            cols.extend([Z[:, i], Z[:, j]])
    cols.extend(Z[:, i] for i in singles)
    C = np.rint(np.stack(cols, axis=1)).astype(np.int64) + 1 if cols else np.zeros((Z.shape[0], 0), dtype=np.int64)
    n = Z.shape[0]
    if n > 2 and C.shape[1]:
        base = 3 ** np.arange(C.shape[1], dtype=np.int64) if C.shape[1] <= 39 else None
        if base is not None:
            codes = C @ base
            order = np.argsort(codes)
            sorted_codes = codes[order]
            keep = np.ones(n, dtype=bool)
            for a in range(n):
                other = 2 * C[a][None, :] - C  # the partner of each b, shifted coordinates in {0, 1, 2}
                valid = np.all((other >= 0) & (other <= 2), axis=1)
                valid[a] = False
                if not valid.any():
                    continue
                oc = other[valid] @ base
                pos = np.searchsorted(sorted_codes, oc)
                pos = np.minimum(pos, n - 1)
                hit = (sorted_codes[pos] == oc) & (order[pos] != a)
                if hit.any():
                    keep[a] = False
            Z, U = Z[keep], U[keep]
    # a nearest-neighbour tour, so that consecutive recourse LPs are close (warm start)
    n = Z.shape[0]
    if n > 2:
        tour = [0]
        left = np.ones(n, dtype=bool)
        left[0] = False
        for _ in range(n - 1):
            dist = np.abs(U - U[tour[-1]]).sum(axis=1)
            dist[~left] = np.inf
            nxt = int(np.argmin(dist))
            tour.append(nxt)
            left[nxt] = False
        Z, U = Z[tour], U[tour]
    return Z, U


class _Master:
    """The C&CG master as one persistent HiGHS model: columns ``[x, θ, y^1, y^2, ...]``."""

    def __init__(self, eng: TwoStageRobust, mip_rel_gap: float) -> None:
        self.e = e = eng
        nx = e.n_x
        self.h = _new_highs(e.options, mip_rel_gap=mip_rel_gap)
        A = sp.hstack([e._Afs, sp.csr_matrix((e._Afs.shape[0], 1))], format="csc")
        self.integer = np.concatenate([e._xint, [False]])
        _pass(self.h, highspy.ObjSense.kMinimize, np.concatenate([e._cx, [1.0]]), e._c0,
              np.concatenate([e._xlb, [-INF]]), np.concatenate([e._xub, [INF]]), e._fs_lb, e._fs_ub, A,
              self.integer, f"{e.name}: C&CG master")
        self.n_cols = nx + 1
        self.scenarios: list[FloatArray] = []
        coo = sp.coo_matrix(e._Afs)
        self._blocks: list[tuple[sp.coo_matrix, FloatArray, FloatArray, list[tuple[str, str]]]] = [
            (coo, e._fs_lb, e._fs_ub, [(f"first stage: {f}", n) for f, n in e._fs_labels])]
        self.last: FloatArray | None = None  # the last solution (columns [x, θ, y^1, ...])

    def add(self, u: FloatArray, y: FloatArray | None = None) -> None:
        """Append the recourse copy ``y^ℓ`` and rows of scenario ``u``, and ``θ ≥ c_y y^ℓ + c_u u``.  With ``y``
        (an optimal recourse of the last plan at ``u``) the last solution extended by ``y`` is offered to HiGHS as
        a MIP start (it is feasible: the last plan with θ raised to cover the new scenario)."""
        e = self.e
        nx, ny, nr = e.n_x, e.n_y, e._rlb.size
        base = self.n_cols
        if ny:
            st = self.h.addCols(ny, np.zeros(ny), e._ylb, e._yub, 0, np.zeros(ny, dtype=np.int32),
                                np.zeros(0, dtype=np.int32), np.zeros(0))
            if st == highspy.HighsStatus.kError:
                raise SolveError(f"{e.name}: HiGHS rejected the master's new columns", "model_error", [])
        width = base + ny
        ax = sp.coo_matrix(e._Ax)
        ay = sp.coo_matrix(e._Ay)
        cyn = np.flatnonzero(e._cy)
        rows = np.concatenate([ax.row, ay.row, [nr], np.full(cyn.size, nr)])
        cols = np.concatenate([ax.col, base + ay.col, [nx], base + cyn])
        vals = np.concatenate([ax.data, ay.data, [1.0], -e._cy[cyn]])
        M = sp.csr_matrix((vals, (rows, cols)), shape=(nr + 1, width))
        M.sort_indices()
        shift = np.asarray(e._Au @ u, dtype=float)
        lb = np.concatenate([e._rlb - shift, [float(e._cu @ u)]])
        ub = np.concatenate([e._rub - shift, [INF]])
        st = self.h.addRows(nr + 1, lb, ub, int(M.nnz), M.indptr[:-1].astype(np.int32),
                            M.indices.astype(np.int32), M.data.astype(float))
        if st == highspy.HighsStatus.kError:
            raise SolveError(f"{e.name}: HiGHS rejected the master's new rows", "model_error", [])
        self.n_cols = width
        ell = len(self.scenarios) + 1
        self.scenarios.append(np.array(u, dtype=float))
        labels = [(f"scenario {ell}: {f}", f"{n} (scenario {ell})") for f, n in e._rec_labels]
        labels.append((f"scenario {ell}: θ ≥ recourse cost", f"theta[{ell}]"))
        self._blocks.append((sp.coo_matrix(M), lb, ub, labels))
        if y is not None and self.last is not None and self.last.size == base and y.size == ny:
            start = np.concatenate([self.last, y])
            start[nx] = max(float(start[nx]), float(e._cy @ y + e._cu @ u))
            self.h.setSolution(int(start.size), np.arange(start.size, dtype=np.int32), start)

    def contains(self, u: FloatArray, tol: float = 1e-9) -> bool:
        return any(np.allclose(u, s, rtol=0.0, atol=tol * max(1.0, float(np.abs(s).max(initial=0.0))))
                   for s in self.scenarios)

    def solve(self, label: str, time_limit_s: float | None = None) -> tuple[float, FloatArray, float, float]:
        """``(LB, x, seconds, θ)``: LB is the MIP dual bound (the objective for an LP master), θ the master's
        estimate of the worst recourse cost of ``x``.  ``time_limit_s``: stop HiGHS then and accept its
        incumbent with the (still valid) dual bound; only for a MIP master that has found a plan."""
        e = self.e
        is_mip = bool(self.integer.any())
        if time_limit_s is not None:
            self.h.setOptionValue("time_limit", float(max(time_limit_s, 1.0)))
        r = _run(self.h, is_mip)
        if time_limit_s is not None:
            self.h.setOptionValue("time_limit", float(e.options.time_limit_s))
            if r.status == "time_limit" and is_mip and r.x.size and math.isfinite(r.dual_bound):
                r.status = "optimal"  # a plan with a valid bound: enough for a lower bound
        if r.status != "optimal":
            raise self._failure(label, r.status)
        lb = r.dual_bound if is_mip and math.isfinite(r.dual_bound) else r.objective
        x = e._clean_x(r.x[:e.n_x])
        self.last = np.array(r.x, dtype=float)
        self.last[:e.n_x] = x
        return min(lb, r.objective), x, r.solve_s, float(r.x[e.n_x])

    def _failure(self, label: str, status: str) -> SolveError:
        e = self.e
        if status not in ("infeasible", "unbounded_or_infeasible"):
            return SolveError(f"{label}: HiGHS finished the C&CG master with status '{status}'", status, [])
        n = self.n_cols
        mats, lbs, ubs, labels = [], [], [], []
        for coo, lb, ub, lab in self._blocks:
            mats.append(sp.csr_matrix((coo.data, (coo.row, coo.col)), shape=(coo.shape[0], n)))
            lbs.append(lb)
            ubs.append(ub)
            labels.extend(lab)
        k = len(self.scenarios)
        col_lb = np.concatenate([e._xlb, np.array([-INF]), *([e._ylb] * k)])
        col_ub = np.concatenate([e._xub, np.array([INF]), *([e._yub] * k)])
        integer = np.concatenate([self.integer, np.zeros(n - self.integer.size, dtype=bool)])
        diag = _elastic_diagnosis(sp.vstack(mats, format="csr"), np.concatenate(lbs), np.concatenate(ubs),
                                  col_lb, col_ub, integer, labels, e.options)
        return SolveError(f"{label}: the C&CG master is infeasible (no first-stage plan admits a recourse for "
                          f"every scenario so far). Constraint families that cannot be met:\n"
                          + _diagnosis_text(diag), status, diag)

    @property
    def size(self) -> ModelSize:
        return ModelSize(int(self.h.getNumRow()), int(self.h.getNumCol()), int(self.integer.sum()))


class TwoStageRobust:
    r"""Two-stage robust optimisation ``min_x c_x x + max_{u∈U} Q(x, u)`` over a Pyomo model (SPEC §6.5, RO-1).

    The model (one active minimisation objective) is compiled once with :func:`agents.milp.compile_model`
    into ``min c x + c0, row_lb ≤ A x ≤ row_ub, col_lb ≤ x ≤ col_ub`` and its columns are split into

    * ``x``: the entries of ``first_stage`` (integer columns allowed, e.g. unit commitment);
    * ``u``: the entries of ``uncertain`` in index order (fixed Vars in the model; their fixed values are
      the data of :meth:`solve_deterministic` only when passed explicitly);
    * ``y``: every other column, the recourse.  **Integer recourse columns are relaxed** (LP recourse,
      SPEC §6.5); :attr:`n_relaxed_integers` counts them.

    Rows without ``y`` and ``u`` columns are first-stage rows (``x ∈ X``), all others recourse rows
    ``Ω(x, u)``: ``row_lb − A_x x − A_u u ≤ A_y y ≤ row_ub − A_x x − A_u u``.  ``Q(x, u) = min c_y y + c_u u``
    over ``Ω(x, u)``; the objective's constant ``c0`` is counted in the first-stage cost.  The recourse must
    be feasible for every ``x ∈ X`` and ``u`` in the set (relatively complete recourse, e.g. through
    penalised slacks) and bounded below.

    The worst case over a :class:`VertexSet` is a MILP: the recourse LP is replaced by its dual (strong
    duality), whose objective holds ``−π^T A_u (c + D z)``; ``g = (A_u D)^T π`` and ``w_k = g_k z_k`` are
    linearised by McCormick rows, exact because ``z`` is binary as long as the multipliers ``π`` of the rows
    that contain ``u`` stay within their bounds.

    **Dual bounds.**  Default: ``|π_i| ≤ κ · C / a_i`` for every recourse row ``i`` touched by ``A_u D``, with
    ``κ = dual_bound_factor`` (10), ``C = max(|c_y|_∞, |c_u|_∞)`` (the largest recourse cost coefficient,
    normally the shedding/spill penalty) and ``a_i`` the smallest nonzero ``|A_y|`` of row ``i`` (a multiplier
    is a marginal cost of the row's right-hand side, i.e. of order "cost per unit of y" divided by the
    row's coefficient).  ``dual_bound`` replaces the rule by one absolute bound.  The bounds are then
    **verified** at every subproblem solve: ``Q(x, u*)`` from the primal LP must equal the subproblem
    objective (``verify_tol``, relative) and no bounded multiplier may sit at its bound.  Otherwise the
    bounds are multiplied by ``dual_bound_growth`` and the part's subproblem rebuilt; after
    ``max_bound_updates`` such enlargements :class:`SolveError` is raised.  A solve whose value did not
    change when the bounds were enlarged is accepted (degenerate multipliers at the bound).  Enlarged
    bounds are kept for later calls.  The check is exact at the ``z*`` found; a bound that is too small
    for some other, worse ``z`` cannot show there, which is why the default is generous.  With
    ``confirm_dual_bound`` the first accepted solve of each part is repeated once with enlarged bounds and
    accepted only if the value does not change (off by default: the repeat solves the weakest model).
    The bound's size drives the subproblem time (weaker McCormick relaxation): a ``dual_bound`` known from
    the model (e.g. shedding penalty + curtailment cost for the wind rows) is faster than the default.

    Parameters
    ----------
    model:
        The Pyomo model (first stage, recourse and objective).
    first_stage:
        Var components (scalar or indexed) of ``x``.
    uncertain:
        The Var component holding ``u`` (all entries fixed).
    name:
        Used in messages.
    options:
        HiGHS options (the time limit applies to each solve; ``mip_rel_gap`` to the deterministic MILP;
        the master uses ``min(mip_rel_gap, eps/10)``).
    dual_bound, dual_bound_factor, dual_bound_growth, max_bound_updates, confirm_dual_bound, verify_tol:
        The dual bounds and their verification (above).
    subproblem_gap:
        ``mip_rel_gap`` of the subproblem MILPs.
    mccormick:
        ``"aggregated"`` (``w_k = g_k z_k``, default) or ``"disaggregated"`` (one product per multiplier and
        direction; a larger model, slower on the tests made so far).
    prune:
        Worst case over a union (:meth:`worst_case`): heuristic points for every part first, then the exact
        search of the remaining parts in decreasing order of their heuristic value, each cut off at the best
        value so far (a part that cannot exceed it is skipped).  False: one subproblem MILP per part.
    enumerate_limit:
        Parts with at most this many members are enumerated (one recourse LP per member; 0: never).
    monotone_bb, bb_node_limit:
        Exact search of a part by branch and bound on ``z`` with the monotone bound of :meth:`_monotone_bb`
        (one recourse LP per node) before the subproblem MILP; the MILP takes over after ``bb_node_limit``
        nodes.
    heuristic_steps, heuristic_flips:
        The heuristic worst case (:meth:`_climb`): at most ``heuristic_steps`` moves to the member the
        recourse duals' subgradient points to, then (``heuristic_flips``) passes over the members one move
        away.  In :meth:`solve` the heuristic also drives the intermediate C&CG iterations.
    subproblem_options:
        Extra HiGHS options of the subproblem MILPs.
    choice_branching:
        :meth:`solve_deterministic` branches by hand on a choice row of ``X`` first (``sum x_j = 1`` over
        binaries, e.g. a declared tier; :meth:`_run_by_choice`), default; False: one HiGHS MILP.
    """

    def __init__(
        self,
        model: pyo.Block,
        first_stage: Sequence[Any],
        uncertain: Any,
        name: str,
        options: SolverOptions | None = None,
        *,
        dual_bound: float | None = None,
        dual_bound_factor: float = DUAL_BOUND_FACTOR,
        dual_bound_growth: float = 10.0,
        max_bound_updates: int = 6,
        confirm_dual_bound: bool = False,
        verify_tol: float = 1e-6,
        subproblem_gap: float = 1e-6,
        mccormick: str = "aggregated",
        prune: bool = True,
        enumerate_limit: int = 0,
        monotone_bb: bool = True,
        bb_node_limit: int = 2000,
        heuristic_steps: int = 20,
        heuristic_flips: bool = True,
        subproblem_options: Mapping[str, Any] | None = None,
        choice_branching: bool = True,
    ) -> None:
        self.name = name
        self.model = model
        self.options = options or SolverOptions()
        if dual_bound is not None and not (math.isfinite(dual_bound) and dual_bound > 0):
            raise ValueError(f"{name}: dual_bound must be finite and > 0, got {dual_bound}")
        if not (math.isfinite(dual_bound_factor) and dual_bound_factor > 0):
            raise ValueError(f"{name}: dual_bound_factor must be finite and > 0, got {dual_bound_factor}")
        if not (math.isfinite(dual_bound_growth) and dual_bound_growth > 1):
            raise ValueError(f"{name}: dual_bound_growth must be > 1, got {dual_bound_growth}")
        if int(max_bound_updates) != max_bound_updates or max_bound_updates < 0:
            raise ValueError(f"{name}: max_bound_updates must be an integer >= 0, got {max_bound_updates}")
        if not 0 < verify_tol < 1:
            raise ValueError(f"{name}: verify_tol must be in (0, 1), got {verify_tol}")
        if not 0 <= subproblem_gap < 1:
            raise ValueError(f"{name}: subproblem_gap must be in [0, 1), got {subproblem_gap}")
        if mccormick not in ("aggregated", "disaggregated"):
            raise ValueError(f"{name}: mccormick must be 'aggregated' or 'disaggregated', got {mccormick!r}")
        if int(enumerate_limit) != enumerate_limit or enumerate_limit < 0:
            raise ValueError(f"{name}: enumerate_limit must be an integer >= 0, got {enumerate_limit}")
        if int(heuristic_steps) != heuristic_steps or heuristic_steps < 0:
            raise ValueError(f"{name}: heuristic_steps must be an integer >= 0, got {heuristic_steps}")
        self.mccormick = mccormick
        self.prune = bool(prune)
        self.monotone_bb = bool(monotone_bb)
        if int(bb_node_limit) != bb_node_limit or bb_node_limit < 1:
            raise ValueError(f"{name}: bb_node_limit must be an integer >= 1, got {bb_node_limit}")
        self.bb_node_limit = int(bb_node_limit)
        self.enumerate_limit = int(enumerate_limit)
        self.heuristic_steps = int(heuristic_steps)
        self.heuristic_flips = bool(heuristic_flips)
        self.subproblem_options: dict[str, Any] = dict(SUBPROBLEM_OPTIONS)
        self.subproblem_options.update(subproblem_options or {})
        self.dual_bound_growth = float(dual_bound_growth)
        self.max_bound_updates = int(max_bound_updates)
        self.confirm_dual_bound = bool(confirm_dual_bound)
        self.verify_tol = float(verify_tol)
        self.subproblem_gap = float(subproblem_gap)

        objs = list(model.component_data_objects(pyo.Objective, active=True, descend_into=True))
        if len(objs) != 1:
            raise ValueError(f"{name}: the model must have exactly one active objective, found {len(objs)}")
        if objs[0].sense != pyo.minimize:
            raise ValueError(f"{name}: the objective {objs[0].name!r} must be a minimisation")
        t0 = time.perf_counter()
        self._prows = _ParamRows(model)  # before the compile: the Param values it holds
        cm = compile_model(model)
        self._cm = cm
        self._A_rows: sp.csr_matrix | None = None  # cm.A by rows (refresh reads rows)
        col_of = {id(v): j for j, v in enumerate(cm.columns)}
        self._col_of = col_of

        # ---- first stage
        comps = list(first_stage)
        if not comps:
            raise ValueError(f"{name}: no first-stage variables given (first_stage is empty)")
        self.x_names: list[str] = []
        self._x_sizes: list[int] = []
        xcols: list[int] = []
        for comp in comps:
            ents = _entries(comp)
            missing = [v.name for v in ents if id(v) not in col_of]
            if missing:
                raise ValueError(f"{name}: first-stage variables are not active variables of the model: "
                                 f"{missing[:5]}")
            if comp.name in self.x_names:
                raise ValueError(f"{name}: first-stage component {comp.name!r} is listed twice")
            self.x_names.append(str(comp.name))
            self._x_sizes.append(len(ents))
            xcols.extend(col_of[id(v)] for v in ents)
        x_idx = np.asarray(xcols, dtype=np.int64)
        if np.unique(x_idx).size != x_idx.size:
            raise ValueError(f"{name}: a first-stage variable is listed twice")
        if x_idx.size == 0:
            raise ValueError(f"{name}: the first-stage components have no entries")
        # ---- uncertain
        uents = _entries(uncertain)
        self.u_name = str(uncertain.name)
        missing = [v.name for v in uents if id(v) not in col_of]
        if missing:
            raise ValueError(f"{name}: uncertain variables are not active variables of the model: {missing[:5]}")
        unfixed = [v.name for v in uents if not v.fixed]
        if unfixed:
            raise ValueError(f"{name}: the uncertain variables must be fixed Vars (parameters of the recourse); "
                             f"not fixed: {unfixed[:5]}")
        u_idx = np.asarray([col_of[id(v)] for v in uents], dtype=np.int64)
        both = np.intersect1d(x_idx, u_idx)
        if both.size:
            raise ValueError(f"{name}: variables are both first-stage and uncertain: "
                             f"{[cm.columns[j].name for j in both[:5]]}")
        n = len(cm.columns)
        is_y = np.ones(n, dtype=bool)
        is_y[x_idx] = False
        is_y[u_idx] = False
        y_idx = np.flatnonzero(is_y)
        self._x_idx, self._u_idx, self._y_idx = x_idx, u_idx, y_idx

        # ---- rows
        A = sp.csr_matrix(cm.A, copy=True)
        A.eliminate_zeros()
        Acsc = A.tocsc()
        Ay_all = sp.csr_matrix(Acsc[:, y_idx])
        Au_all = sp.csr_matrix(Acsc[:, u_idx])
        has_y = np.diff(Ay_all.indptr) > 0
        has_u = np.diff(Au_all.indptr) > 0
        bad = np.flatnonzero(has_u & ~has_y)
        if bad.size:
            raise ValueError(
                f"{name}: constraints contain uncertain variables ({self.u_name}) but no recourse variable, so "
                f"u would restrict the first stage: {[cm.rows[i].name for i in bad[:5]]}. The uncertainty must "
                "enter recourse rows only")
        fs = ~has_y
        rec = has_y
        self._Afs = sp.csr_matrix(Acsc[:, x_idx][fs])
        self._fs_lb, self._fs_ub = cm.row_lb[fs], cm.row_ub[fs]
        self._Ax = sp.csr_matrix(Acsc[:, x_idx][rec])
        self._Ay = sp.csr_matrix(Ay_all[rec])
        self._Au = sp.csr_matrix(Au_all[rec])
        self._rlb, self._rub = cm.row_lb[rec], cm.row_ub[rec]
        fs_rows = np.flatnonzero(fs)
        rec_rows = np.flatnonzero(rec)
        self._fs_rows, self._rec_rows = fs_rows, rec_rows  # model rows of X and of Ω (for refresh)
        self._fs_pos = np.full(len(cm.rows), -1, dtype=np.int64)  # model row -> its row in X (-1: a row of Ω)
        self._fs_pos[fs_rows] = np.arange(fs_rows.size)
        self._fs_labels = [(constraint_family(cm.rows[i]), str(cm.rows[i].name)) for i in fs_rows]
        self._rec_labels = [(constraint_family(cm.rows[i]), str(cm.rows[i].name)) for i in rec_rows]
        # ---- costs and bounds
        self._cx, self._cy, self._cu = cm.c[x_idx], cm.c[y_idx], cm.c[u_idx]
        self._c0 = float(cm.c_offset)
        self._xlb, self._xub, self._xint = cm.col_lb[x_idx], cm.col_ub[x_idx], cm.is_int[x_idx]
        self._ylb, self._yub = cm.col_lb[y_idx], cm.col_ub[y_idx]
        self.n_relaxed_integers = int(cm.is_int[y_idx].sum())
        for lbl, lb, ub, idx in (("first-stage", self._xlb, self._xub, x_idx), ("recourse", self._ylb, self._yub,
                                                                                y_idx)):
            crossed = np.flatnonzero(lb > ub)
            if crossed.size:
                raise ValueError(f"{name}: {lbl} variables with lower bound > upper bound: "
                                 f"{[cm.columns[idx[j]].name for j in crossed[:5]]}")
        in_rows = np.diff(sp.csc_matrix(self._Ay).indptr) > 0
        unb = np.flatnonzero(~in_rows & (((self._cy < 0) & ~np.isfinite(self._yub))
                                         | ((self._cy > 0) & ~np.isfinite(self._ylb))))
        if unb.size:
            raise ValueError(f"{name}: unbounded recourse: recourse variables with a cost, no constraint and no "
                             f"bound in the improving direction: {[cm.columns[y_idx[j]].name for j in unb[:5]]}")
        # ---- default dual bounds per recourse row (see the class docstring)
        C = float(max(np.abs(self._cy).max(initial=0.0), np.abs(self._cu).max(initial=0.0)))
        C = C if C > 0 else 1.0
        absAy = abs(self._Ay).tocsr()
        a_min = np.array([absAy.data[absAy.indptr[i]:absAy.indptr[i + 1]].min()
                          for i in range(absAy.shape[0])]) if absAy.shape[0] else np.zeros(0)
        self._dual_base = (np.full(a_min.size, float(dual_bound)) if dual_bound is not None
                           else dual_bound_factor * C / a_min)
        # ---- persistent recourse LP
        self._rec = _new_highs(self.options)
        _pass(self._rec, highspy.ObjSense.kMinimize, self._cy, 0.0, self._ylb, self._yub, self._rlb, self._rub,
              self._Ay, np.zeros(self.n_y, dtype=bool), f"{name}: recourse LP")
        self._rec_rows_i32 = np.arange(self._rlb.size, dtype=np.int32)
        self._rec_x: FloatArray | None = None  # the plan whose rows the recourse LP holds (None: unknown)
        self._rec_base = (self._rlb, self._rub)
        self._u_rows = np.unique(self._Au.nonzero()[0]).astype(np.int32)
        self._Au_rows = self._Au[self._u_rows].toarray() if self._u_rows.size else np.zeros((0, self.dim))
        self._sigma = self._monotone_directions()
        self._det: highspy.Highs | None = None
        self._choice: npt.NDArray[np.int64] | None = None
        self.choice_branching = bool(choice_branching)
        self._parts_cache: dict[int, _PartState] = {}
        self.build_s = time.perf_counter() - t0
        log.debug("%s: %d first-stage, %d uncertain, %d recourse columns; %d first-stage and %d recourse rows "
                  "(%d recourse integers relaxed), compiled in %.2fs", name, self.n_x, self.dim, self.n_y,
                  fs_rows.size, rec_rows.size, self.n_relaxed_integers, self.build_s)

    def _monotone_directions(self) -> FloatArray:
        """``σ_j = +1`` if raising ``u_j`` only relaxes the recourse rows that hold it (an upper row bound
        that rises, a lower one that falls), ``−1`` if lowering it does, ``0`` otherwise (a ranged or equality
        row, or mixed effects).  With every ``σ_j ≠ 0`` the recourse feasible set grows along ``σ``, so for
        ``σ∘ω <= σ∘u``: ``Q(x, u) <= Q(x, ω) − c_u ω + c_u u`` (the bound of the monotone branch and bound)."""
        Au = sp.csc_matrix(self._Au)
        lo_f = np.isfinite(self._rlb)
        hi_f = np.isfinite(self._rub)
        sigma = np.zeros(self.dim)
        for j in range(self.dim):
            rows = Au.indices[Au.indptr[j]:Au.indptr[j + 1]]
            vals = Au.data[Au.indptr[j]:Au.indptr[j + 1]]
            if rows.size == 0:
                sigma[j] = 1.0
                continue
            only_hi = hi_f[rows] & ~lo_f[rows]
            only_lo = lo_f[rows] & ~hi_f[rows]
            up = (only_hi & (vals < 0)) | (only_lo & (vals > 0))
            down = (only_hi & (vals > 0)) | (only_lo & (vals < 0))
            sigma[j] = 1.0 if up.all() else (-1.0 if down.all() else 0.0)
        return sigma

    # ------------------------------------------------------------------ sizes and conversions
    @property
    def n_x(self) -> int:
        return int(self._x_idx.size)

    @property
    def n_y(self) -> int:
        return int(self._y_idx.size)

    @property
    def dim(self) -> int:
        """Dimension ``d`` of ``u``."""
        return int(self._u_idx.size)

    @property
    def recourse_size(self) -> ModelSize:
        return ModelSize(int(self._rlb.size), self.n_y, 0)

    @property
    def first_stage_rows(self) -> int:
        return int(self._fs_lb.size)

    def x_dict(self, x: FloatArray) -> dict[str, FloatArray]:
        """Split a flat first-stage vector by component name."""
        out: dict[str, FloatArray] = {}
        i = 0
        for nm, k in zip(self.x_names, self._x_sizes, strict=True):
            out[nm] = np.array(x[i:i + k], dtype=float)
            i += k
        return out

    def x_flat(self, x: Mapping[str, Any] | Sequence[float] | FloatArray) -> FloatArray:
        """A first-stage plan (dict by component name, or flat in component order) as a flat vector."""
        if isinstance(x, Mapping):
            missing = [nm for nm in self.x_names if nm not in x]
            extra = [nm for nm in x if nm not in self.x_names]
            if missing or extra:
                raise ValueError(f"{self.name}: the first-stage plan must have exactly the components "
                                 f"{self.x_names}; missing {missing}, unknown {extra}")
            parts = []
            for nm, k in zip(self.x_names, self._x_sizes, strict=True):
                a = np.asarray(x[nm], dtype=float).ravel()
                if a.size != k:
                    raise ValueError(f"{self.name}: x[{nm!r}] must hold {k} values, got {a.size}")
                parts.append(a)
            flat = np.concatenate(parts)
        else:
            flat = np.asarray(x, dtype=float).ravel()
            if flat.size != self.n_x:
                raise ValueError(f"{self.name}: a flat first-stage plan must hold {self.n_x} values, got {flat.size}")
        if not np.all(np.isfinite(flat)):
            raise ValueError(f"{self.name}: the first-stage plan has non-finite values")
        return flat

    def _u_vec(self, u: Sequence[float] | FloatArray) -> FloatArray:
        uu = np.asarray(u, dtype=float).ravel()
        if uu.size != self.dim or not np.all(np.isfinite(uu)):
            raise ValueError(f"{self.name}: u must hold {self.dim} finite values ({self.u_name}), got shape "
                             f"{np.shape(u)}")
        return uu

    def _clean_x(self, x: FloatArray) -> FloatArray:
        """Round integer columns and clip to the bounds (solver round-off)."""
        xx = np.where(self._xint, np.round(x), x)
        return np.asarray(np.clip(xx, self._xlb, self._xub), dtype=float)

    def _parts(self, uset: VertexSet | UnionSet) -> tuple[VertexSet, ...]:
        if isinstance(uset, VertexSet):
            parts: tuple[VertexSet, ...] = (uset,)
        elif isinstance(uset, UnionSet):
            parts = uset.parts
        else:
            raise TypeError(f"{self.name}: the uncertainty set must be a VertexSet or UnionSet, "
                            f"got {type(uset).__name__}")
        if parts[0].dim != self.dim:
            raise ValueError(f"{self.name}: the uncertainty set {uset.name!r} has dimension {parts[0].dim} but "
                             f"the uncertain variable {self.u_name} has {self.dim} entries")
        return parts

    def first_stage_cost(self, x: Mapping[str, Any] | Sequence[float] | FloatArray) -> float:
        """``c_x x + c0`` (the objective's constant counts as first-stage cost)."""
        return float(self._cx @ self.x_flat(x) + self._c0)

    def check_first_stage(self, x: Mapping[str, Any] | Sequence[float] | FloatArray, tol: float = 1e-6) -> None:
        """Raise ``ValueError`` naming what a plan violates (bounds, integrality, first-stage rows)."""
        xf = self.x_flat(x)
        cols = self._cm.columns
        bad = [cols[self._x_idx[j]].name for j in np.flatnonzero((xf < self._xlb - tol) | (xf > self._xub + tol))]
        bad += [f"{cols[self._x_idx[j]].name} (integer)"
                for j in np.flatnonzero(self._xint & (np.abs(xf - np.round(xf)) > tol))]
        act = np.asarray(self._Afs @ xf, dtype=float)
        rows = np.flatnonzero((act < self._fs_lb - tol * np.maximum(1, np.abs(self._fs_lb)))
                              | (act > self._fs_ub + tol * np.maximum(1, np.abs(self._fs_ub))))
        bad += [self._fs_labels[i][1] for i in rows]
        if bad:
            raise ValueError(f"{self.name}: the first-stage plan violates {len(bad)} bounds/rows of X: {bad[:8]}")

    # ------------------------------------------------------------------ recourse
    def recourse(self, x: Mapping[str, Any] | Sequence[float] | FloatArray,
                 u: Sequence[float] | FloatArray) -> tuple[float, FloatArray]:
        """``(Q(x, u), y)``: the recourse LP ``min c_y y + c_u u`` over ``Ω(x, u)`` (persistent model)."""
        xf = self.x_flat(x)
        uf = self._u_vec(u)
        ax = np.asarray(self._Ax @ xf, dtype=float)
        shift = ax + np.asarray(self._Au @ uf, dtype=float)
        lb = self._rlb - shift
        ub = self._rub - shift
        self._rec_x = None
        if lb.size:
            self._rec.changeRowsBounds(lb.size, self._rec_rows_i32, lb, ub)
        self._rec_base = (self._rlb - ax, self._rub - ax)
        r = _run(self._rec, False)
        if r.status != "optimal":
            raise self._recourse_failure(r.status, lb, ub)
        y = r.x
        self._rec_x = xf.copy()
        return float(self._cy @ y + self._cu @ uf), y

    def _lp_value(self, x: FloatArray, u: FloatArray) -> float | None:
        """``Q(x, u)`` from the persistent recourse LP, changing only the rows that hold ``u`` when the LP
        already holds ``x``; None when the LP is not solved to optimality (infeasible ``u``)."""
        h = self._rec
        t = self._u_rows
        if self._rec_x is None or not np.array_equal(self._rec_x, x):
            self._rec_base = (self._rlb - np.asarray(self._Ax @ x, dtype=float),
                              self._rub - np.asarray(self._Ax @ x, dtype=float))
            shift = np.asarray(self._Au @ u, dtype=float)
            self._rec_x = None
            if shift.size:
                h.changeRowsBounds(shift.size, self._rec_rows_i32, self._rec_base[0] - shift,
                                   self._rec_base[1] - shift)
            self._rec_x = x.copy()
        elif t.size:
            shift = self._Au_rows @ u
            h.changeRowsBounds(t.size, t, self._rec_base[0][t] - shift, self._rec_base[1][t] - shift)
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        return float(h.getInfo().objective_function_value + self._cu @ u)

    def _recourse_failure(self, status: str, lb: FloatArray, ub: FloatArray) -> SolveError:
        if status == "unbounded":
            return SolveError(f"{self.name}: the recourse LP is unbounded below (a recourse cost can decrease "
                              "without limit; are bounds missing?)", status, [])
        if status in ("infeasible", "unbounded_or_infeasible"):
            diag = _elastic_diagnosis(self._Ay, lb, ub, self._ylb, self._yub, np.zeros(self.n_y, dtype=bool),
                                      self._rec_labels, self.options)
            if not diag and status == "unbounded_or_infeasible":
                return SolveError(f"{self.name}: the recourse LP is unbounded below (are bounds missing?)",
                                  "unbounded", [])
            return SolveError(f"{self.name}: the recourse LP is infeasible (the recourse must be feasible for "
                              "every plan and every u: relatively complete recourse). Constraint families that "
                              "cannot be met:\n" + _diagnosis_text(diag), status, diag)
        return SolveError(f"{self.name}: HiGHS finished the recourse LP with status '{status}'", status, [])

    # ------------------------------------------------------------------ deterministic
    def solve_deterministic(self, u: Sequence[float] | FloatArray) -> RobustResult:
        """The MILP ``min c_x x + c_y y + c_u u`` over ``x ∈ X``, ``y ∈ Ω(x, u)`` for one ``u`` (recourse
        integrality relaxed, as in the robust problem).  Persistent: only the right-hand side changes."""
        uf = self._u_vec(u)
        t0 = time.perf_counter()
        nfs, nr = self._fs_lb.size, self._rlb.size
        if self._det is None:
            A = sp.bmat([[self._Afs, sp.csr_matrix((nfs, self.n_y))], [self._Ax, self._Ay]], format="csc")
            self._det = _new_highs(self.options)
            for opt, val in DETERMINISTIC_OPTIONS.items():
                self._det.setOptionValue(opt, val)
            _pass(self._det, highspy.ObjSense.kMinimize, np.concatenate([self._cx, self._cy]), 0.0,
                  np.concatenate([self._xlb, self._ylb]), np.concatenate([self._xub, self._yub]),
                  np.concatenate([self._fs_lb, self._rlb]), np.concatenate([self._fs_ub, self._rub]), A,
                  np.concatenate([self._xint, np.zeros(self.n_y, dtype=bool)]), f"{self.name}: deterministic")
        h = self._det
        shift = np.asarray(self._Au @ uf, dtype=float)
        if nr:
            h.changeRowsBounds(nr, np.arange(nfs, nfs + nr, dtype=np.int32), self._rlb - shift, self._rub - shift)
        h.changeObjectiveOffset(float(self._c0 + self._cu @ uf))
        is_mip = bool(self._xint.any())
        choice = self._choice_set() if is_mip and self.choice_branching else np.zeros(0, dtype=np.int64)
        r = self._run_by_choice(h, choice) if choice.size else _run(h, is_mip)
        if r.status != "optimal":
            if r.status in ("infeasible", "unbounded_or_infeasible"):
                A = sp.bmat([[self._Afs, sp.csr_matrix((nfs, self.n_y))], [self._Ax, self._Ay]], format="csr")
                diag = _elastic_diagnosis(
                    A, np.concatenate([self._fs_lb, self._rlb - shift]),
                    np.concatenate([self._fs_ub, self._rub - shift]),
                    np.concatenate([self._xlb, self._ylb]), np.concatenate([self._xub, self._yub]),
                    np.concatenate([self._xint, np.zeros(self.n_y, dtype=bool)]),
                    self._fs_labels + self._rec_labels, self.options)
                raise SolveError(f"{self.name}: the deterministic problem is infeasible. Constraint families "
                                 "that cannot be met:\n" + _diagnosis_text(diag), r.status, diag)
            raise SolveError(f"{self.name}: HiGHS finished the deterministic problem with status '{r.status}'",
                             r.status, [])
        x = self._clean_x(r.x[:self.n_x])
        y = r.x[self.n_x:]
        fsc = self.first_stage_cost(x)
        q = float(self._cy @ y + self._cu @ uf)
        size = ModelSize(int(h.getNumRow()), int(h.getNumCol()), int(self._xint.sum()))
        return RobustResult(
            name=self.name, method="deterministic", x=self.x_dict(x), x_flat=x, u=uf, z=np.zeros(0), part=-1,
            part_name="", y=y, objective=fsc + q, first_stage_cost=fsc, recourse_cost=q, converged=True,
            iterations=1, lb_history=[r.dual_bound if is_mip else r.objective], ub_history=[r.objective],
            gap_history=[0.0], master_s=[r.solve_s], wall_s=time.perf_counter() - t0, master_size=size,
            scenarios=[uf], engine=self)

    def _choice_set(self) -> npt.NDArray[np.int64]:
        """The first-stage columns of a *choice* row of ``X``: ``sum_j x_j = 1`` over at least two binaries with
        coefficient 1 (e.g. the declared carbon sale tier); the smallest such row (the first on a tie), at most
        :data:`CHOICE_LIMIT` columns.  Empty when ``X`` has none.  Found once (``X``'s matrix never changes)."""
        if self._choice is None:
            A = sp.csr_matrix(self._Afs)
            best = np.zeros(0, dtype=np.int64)
            binary = self._xint & (self._xlb == 0.0) & (self._xub == 1.0)
            for i in range(A.shape[0]):
                cols = A.indices[A.indptr[i]:A.indptr[i + 1]]
                vals = A.data[A.indptr[i]:A.indptr[i + 1]]
                if (self._fs_lb[i] == 1.0 and self._fs_ub[i] == 1.0 and 2 <= cols.size <= CHOICE_LIMIT
                        and np.all(vals == 1.0) and np.all(binary[cols]) and (best.size == 0 or cols.size < best.size)):
                    best = np.sort(cols).astype(np.int64)
            self._choice = best
        return self._choice

    def _run_by_choice(self, h: highspy.Highs, choice: npt.NDArray[np.int64]) -> _Run:
        """The deterministic MILP branched on a choice row first (:meth:`_choice_set`), by hand.

        Rule: for each member ``j`` of the choice, the LP relaxation with ``x_j = 1`` (the other members 0)
        bounds the MILP restricted to that choice; the restricted MILPs are solved in increasing order of
        their bound, each from a cold start, and a choice whose bound is within the relative gap
        ``mip_rel_gap`` of the best plan found is not solved (it cannot improve it by more than the gap).  The
        best plan is that of ``min_j MILP_j`` = the MILP, to the same relative gap; its dual bound is the least
        bound over the choices (solved: the MILP's dual bound, skipped: the LP bound).  Why: the choice row's
        big-M lines make the LP relaxation of the whole MILP weak (the campus: 41 against an optimum of 203),
        so HiGHS spent its time at the root; with the choice fixed the relaxation is within a few percent and
        the first restricted MILP has always closed the others (the campus: 5 LPs of 0.04 s, one MILP).
        """
        t0 = time.perf_counter()
        k = int(choice.size)
        c32 = choice.astype(np.int32)
        ints = np.flatnonzero(self._xint).astype(np.int32)
        gap = float(self.options.mip_rel_gap)
        h.changeColsIntegrality(ints.size, ints, np.zeros(ints.size, dtype=np.uint8))
        bounds = np.full(k, math.inf)
        try:
            for m in range(k):
                fix = np.zeros(k)
                fix[m] = 1.0
                h.changeColsBounds(k, c32, fix, fix)
                h.clearSolver()
                r = _run(h, False)
                if r.status == "optimal":
                    bounds[m] = r.objective
                elif r.status not in ("infeasible", "unbounded_or_infeasible"):
                    bounds[m] = -math.inf  # no bound: solve that choice's MILP
        finally:
            h.changeColsIntegrality(ints.size, ints, np.ones(ints.size, dtype=np.uint8))
        best: _Run | None = None
        dual = math.inf
        failed: _Run | None = None
        try:
            for m in np.argsort(bounds, kind="stable").tolist():
                if bounds[m] == math.inf:
                    continue  # that choice is infeasible
                if best is not None and bounds[m] >= best.objective - gap * abs(best.objective):
                    dual = min(dual, float(bounds[m]))
                    continue
                fix = np.zeros(k)
                fix[m] = 1.0
                h.changeColsBounds(k, c32, fix, fix)
                h.clearSolver()
                r = _run(h, True)
                log.debug("%s: deterministic MILP with choice %d: %s %.10g (LP bound %.10g, %d nodes, %.2fs)",
                          self.name, m, r.status, r.objective, bounds[m], int(h.getInfo().mip_node_count), r.solve_s)
                if r.status == "optimal":
                    dual = min(dual, r.dual_bound)
                    if best is None or r.objective < best.objective:
                        best = r
                elif r.status not in ("infeasible", "unbounded_or_infeasible"):
                    failed = r
                    break
        finally:
            h.changeColsBounds(k, c32, self._xlb[choice], self._xub[choice])
            h.clearSolver()
        out = failed or best or _Run("infeasible", math.nan, math.nan, np.zeros(0), 0.0)
        out.solve_s = time.perf_counter() - t0
        if out is best:
            out.dual_bound = min(dual, best.objective)
        return out

    # ------------------------------------------------------------------ worst case
    def _state(self, part: VertexSet) -> _PartState:
        st = self._parts_cache.get(id(part))
        if st is None or st.part is not part:
            st = _PartState(part, 1.0, _Subproblem(self, part, 1.0))
            self._parts_cache[id(part)] = st
        return st

    def clear_cache(self) -> None:
        """Drop the cached subproblems (and their enlarged dual bounds)."""
        self._parts_cache.clear()

    def refresh(self) -> float:
        """Take the model's current mutable-Param data into the compiled problem (a new day); returns seconds.

        For one engine that serves many days (the multi-day simulator): after the caller changed mutable
        Params that enter only constraint bounds -- a storage's start content, a unit's commitment before
        period 1 -- the new bounds of the first-stage rows ``X`` and of the recourse rows ``Ω(x, u)`` replace
        the old ones.  The matrix, the costs, the objective constant and the bounds of the ``x`` and ``y``
        columns must be unchanged (``ValueError`` naming what changed: build a new engine then); the values of
        the uncertain (fixed) ``u`` columns may differ.

        **Deltas, not a recompile.**  The first call indexes, once, which rows each mutable Param feeds
        (:class:`_ParamRows`).  Each call then reads the Params' values, and only the rows fed by a Param whose
        value changed are compiled again, alone and exactly as the full compile does (so the bounds are bit for
        bit those of a recompile); their coefficients must equal the compiled ones.  The new bounds reach the
        persistent HiGHS models as ``changeRowsBounds`` of those rows (the deterministic MILP; the recourse LP
        takes its row bounds at its next solve anyway).  A changed Param that feeds the objective or a column
        bound falls back to the full compile, which names what changed.

        Everything derived from the old bounds is dropped -- the cached subproblems with their enlarged dual
        bounds -- and the persistent recourse LP and deterministic MILP start cold, so what follows depends
        only on the data, not on what the engine solved before.
        """
        t0 = time.perf_counter()
        pr = self._prows
        if not pr.indexed:
            pr.index(self._cm)
        changed, now = pr.changed()
        if any(pr.other[k] for k in changed):
            self._refresh_compile()
        elif changed:
            cm = self._cm
            rows = sorted({i for k in changed for i in pr.rows_of[k]})
            if self._A_rows is None:
                self._A_rows = sp.csr_matrix(cm.A)
            Ar = self._A_rows
            new: list[tuple[int, float, float]] = []
            for i in rows:
                lb, ub, coefs = pr.row(cm.rows[i], pr.fixed_in.get(i, []), self._col_of)
                a, b = Ar.indptr[i], Ar.indptr[i + 1]
                old = {int(j): float(x) for j, x in zip(Ar.indices[a:b], Ar.data[a:b], strict=True) if x != 0}
                if coefs != old:
                    raise ValueError(f"{self.name}: refresh: the constraint coefficients changed (row "
                                     f"{cm.rows[i].name}); only constraint bounds may change (build a new engine)")
                new.append((i, lb, ub))
            row_lb, row_ub = cm.row_lb.copy(), cm.row_ub.copy()
            for i, lb, ub in new:
                row_lb[i], row_ub[i] = lb, ub
            cm.row_lb, cm.row_ub = row_lb, row_ub
            self._take_row_bounds(np.asarray(rows, dtype=np.int64))
        pr.values = now
        self._after_refresh()
        return time.perf_counter() - t0

    def _refresh_compile(self) -> None:
        """The full form of :meth:`refresh`: compile the model again and compare everything."""
        cm = compile_model(self.model)
        old = self._cm
        if (len(cm.columns) != len(old.columns) or len(cm.rows) != len(old.rows)
                or any(a is not b for a, b in zip(cm.columns, old.columns, strict=True))
                or any(a is not b for a, b in zip(cm.rows, old.rows, strict=True))):
            raise ValueError(f"{self.name}: refresh: the model gained or lost variables or constraints")
        changed = []
        if (cm.A != old.A).nnz:
            changed.append("constraint coefficients")
        if not (np.array_equal(cm.c, old.c) and cm.c_offset == old.c_offset):
            changed.append("objective")
        xy = np.concatenate([self._x_idx, self._y_idx])
        if not (np.array_equal(cm.col_lb[xy], old.col_lb[xy]) and np.array_equal(cm.col_ub[xy], old.col_ub[xy])):
            changed.append("bounds of first-stage or recourse variables")
        if changed:
            raise ValueError(f"{self.name}: refresh: the {', '.join(changed)} changed; only constraint bounds "
                             "may change (build a new engine)")
        self._cm = cm
        self._A_rows = None
        self._take_row_bounds(np.arange(len(cm.rows), dtype=np.int64))

    def _take_row_bounds(self, rows: npt.NDArray[np.int64]) -> None:
        """Copy the compiled bounds of model rows ``rows`` into ``X``, ``Ω`` and the deterministic MILP."""
        cm = self._cm
        self._fs_lb, self._fs_ub = cm.row_lb[self._fs_rows], cm.row_ub[self._fs_rows]
        self._rlb, self._rub = cm.row_lb[self._rec_rows], cm.row_ub[self._rec_rows]
        if self._det is not None:
            # the MILP's rows are [X | Ω]; its Ω rows take their bounds (shifted by u) at every solve
            pos = self._fs_pos[rows]
            keep = pos >= 0
            if keep.any():
                p32 = pos[keep].astype(np.int32)
                self._det.changeRowsBounds(p32.size, p32, cm.row_lb[rows[keep]], cm.row_ub[rows[keep]])

    def _after_refresh(self) -> None:
        """Drop what the old bounds determined; the persistent LP and MILP start cold."""
        self._sigma = self._monotone_directions()
        self.clear_cache()
        self._rec_x = None
        self._rec_base = (self._rlb, self._rub)
        self._rec.clearSolver()
        if self._det is not None:
            self._det.clearSolver()

    def subproblem_size(self, part: VertexSet) -> ModelSize:
        """Size of a part's subproblem MILP (built if needed)."""
        if part.n_binaries == 0:
            return ModelSize(int(self._rlb.size), self.n_y, 0)
        return self._state(part).sub.size

    def _point(self, x: FloatArray, part: VertexSet, z: FloatArray, context: str) -> _Point:
        """``Q(x, c + D z)`` with the recourse and the LP's duals."""
        u = part.point(z)
        q, y = self._recourse_ctx(x, u, context)
        sol = self._rec.getSolution()
        return _Point(q, np.asarray(z, dtype=float), u, y, np.asarray(sol.row_dual, dtype=float),
                      np.asarray(sol.col_dual, dtype=float))

    def _climb(self, x: FloatArray, st: _PartState, z0: FloatArray, label: str, stats: dict[str, float]
               ) -> _Point:
        """Alternating ("mountain-climbing") heuristic: at ``u`` the recourse duals give a subgradient ``s`` of
        ``Q(x, ·)``; the member maximising ``s^T D z`` is at least as bad (``Q`` is convex), so move there while
        the primal LP confirms an increase.  When that stops, a pass over the members one move away (a move
        added, removed or switched within its pair), each scored by the recourse LP, moves to the best
        improving one and the climb resumes (``heuristic_flips``)."""
        part = st.part
        if st.oracle is None:
            st.oracle = _ZOracle(part, self.options)
        ctx = f"{label}: heuristic on {part.name!r}"
        pt = self._point(x, part, z0, ctx)
        stats["lp"] += 1
        steps = 0
        while steps < self.heuristic_steps:
            s = self._cu - np.asarray(self._Au.T @ pt.row_dual, dtype=float)
            a = part.directions.T @ s
            zn = st.oracle.best(a)
            nxt: _Point | None = None
            if zn is not None and float(a @ (zn - pt.z)) > 1e-9 * max(1.0, abs(pt.q)):
                nxt = self._point(x, part, zn, ctx)
                stats["lp"] += 1
                steps += 1
            if nxt is None or nxt.q <= pt.q + 1e-9 * max(1.0, abs(pt.q)):
                if not self.heuristic_flips:
                    break
                nxt = self._flip_pass(x, part, pt, stats)
                steps += 1
                if nxt is None:
                    break
            pt = nxt
        return pt

    def _flip_pass(self, x: FloatArray, part: VertexSet, pt: _Point, stats: dict[str, float]) -> _Point | None:
        """The best member one move away from ``pt.z`` if it beats ``pt`` (recourse LP values), else None."""
        z = pt.z
        partner = np.full(part.n_binaries, -1, dtype=np.int64)
        if part.pairs.size:
            partner[part.pairs[:, 0]] = part.pairs[:, 1]
            partner[part.pairs[:, 1]] = part.pairs[:, 0]
        best_q, best_z = pt.q + 1e-9 * max(1.0, abs(pt.q)), None
        for i in range(part.n_binaries):
            zn = z.copy()
            zn[i] = 1.0 - zn[i]
            if zn[i] > 0.5 and partner[i] >= 0:
                zn[partner[i]] = 0.0
            if not part.feasible(zn):
                continue
            q = self._lp_value(x, part.point(zn))
            stats["lp"] += 1
            if q is not None and q > best_q:
                best_q, best_z = q, zn
        if best_z is None:
            return None
        stats["lp"] += 1
        return self._point(x, part, best_z, f"heuristic on {part.name!r}")

    def _heuristic(self, x: FloatArray, st: _PartState, label: str, stats: dict[str, float]) -> _Point:
        """Best of the climbs from the part's last worst ``z`` and from its center."""
        starts = [np.zeros(st.part.n_binaries)]
        if st.last_z is not None and st.last_z.any():
            starts.insert(0, st.last_z)
        best: _Point | None = None
        for z0 in starts:
            pt = self._climb(x, st, z0, label, stats)
            if best is None or pt.q > best.q:
                best = pt
        assert best is not None
        return best

    def _enumerate(self, x: FloatArray, st: _PartState, label: str, stats: dict[str, float]) -> _Point | None:
        """The exact worst case of a small part by the recourse LP at each of its members (midpoints of two
        other members skipped); None if the part has more than ``enumerate_limit`` members."""
        if not st.members_done:
            st.members = _members(st.part, self.enumerate_limit) if self.enumerate_limit > 0 else None
            st.members_done = True
        if st.members is None:
            return None
        Z, U = st.members
        ctx = f"{label}: enumeration of {st.part.name!r}"
        vals = np.empty(Z.shape[0])
        for i in range(Z.shape[0]):
            v = self._lp_value(x, U[i])
            vals[i] = v if v is not None else self._recourse_ctx(x, U[i], ctx)[0]  # raises with a diagnosis
        stats["lp"] += Z.shape[0]
        k = int(np.argmax(vals))
        pt = self._point(x, st.part, Z[k], ctx)
        stats["lp"] += 1
        return pt

    def _bb_applies(self, part: VertexSet) -> bool:
        """Monotone branch and bound: on, every ``σ_j ≠ 0`` and disjoint pairs."""
        used = part.pairs.ravel()
        return (self.monotone_bb and part.n_binaries > 0 and bool(np.all(self._sigma != 0))
                and used.size == np.unique(used).size)

    def _monotone_bb(self, x: FloatArray, st: _PartState, cutoff: float, label: str, stats: dict[str, float]
                     ) -> tuple[_Point | None, bool]:
        """Exact worst case of a part by branch and bound on ``z`` with the monotone bound (recourse rows
        relaxed along ``σ``, :meth:`_monotone_directions`): over the members of a node, the corner ``ω``
        (per coordinate the ``σ``-smallest value reachable with the node's free binaries, pairs and remaining
        budget, clipped to the set's bounds) gives ``Q(x, u) <= Q(x, ω) − c_u ω + max c_u u``.  Every node
        costs one recourse LP.  Returns ``(point, complete)``: the best member above ``cutoff`` (None if the
        part cannot exceed it, within ``subproblem_gap``); ``complete`` False when ``bb_node_limit`` nodes
        did not settle it (the point is then only the best found)."""
        part = st.part
        D = part.directions
        m = part.n_binaries
        sigma = self._sigma
        cuD = D.T @ self._cu
        pr = part.pairs
        used = pr.ravel()
        in_pair = np.zeros(m, dtype=bool)
        in_pair[used] = True
        singles = np.flatnonzero(~in_pair)
        G2 = np.vstack([pr.reshape(-1, 2), np.stack([singles, np.full(singles.size, -1)], axis=1)]).astype(np.int64)
        ng = G2.shape[0]
        group_of = np.empty(m, dtype=np.int64)
        group_of[G2[:, 0]] = np.arange(ng)
        has2 = G2[:, 1] >= 0
        group_of[G2[has2, 1]] = np.flatnonzero(has2)
        cap = m if part.budget is None else math.floor(part.budget + 1e-9)
        gap = self.subproblem_gap
        cu0 = float(self._cu @ part.center)
        best: _Point | None = None
        cut = cutoff
        ctx = f"{label}: branch and bound on {part.name!r}"
        stack: list[npt.NDArray[np.int8]] = [np.full(m, -1, dtype=np.int8)]
        nodes = 0
        while stack:
            fx = stack.pop()
            if nodes >= self.bb_node_limit:
                stats["bb_nodes"] = stats.get("bb_nodes", 0) + nodes
                return best, False
            nodes += 1
            ones = fx == 1
            closed = np.zeros(ng, dtype=bool)
            closed[group_of[ones]] = True
            free = (fx == -1) & ~closed[group_of]
            rem = cap - int(ones.sum())
            zf = ones.astype(float)
            base = part.center + D @ zf
            if rem <= 0 or not free.any():
                # a single candidate: the fixed ones
                if part.feasible(zf):
                    q = self._lp_value(x, base)
                    stats["lp"] += 1
                    if q is None:
                        q = self._recourse_ctx(x, base, ctx)[0]
                    if q > cut:
                        best = self._point(x, part, zf, ctx)
                        stats["lp"] += 1
                        cut = max(cut, best.q + gap * max(1.0, abs(best.q)))
                continue
            # per open group and coordinate: the σ-most extreme move among its free items (or none)
            a = np.where(free[G2[:, 0]], G2[:, 0], -1)
            b = np.where(has2 & free[np.maximum(G2[:, 1], 0)], G2[:, 1], -1)
            ok = (a >= 0) | (b >= 0)
            a, b = a[ok], b[ok]
            Da = np.where(a[None, :] >= 0, D[:, np.maximum(a, 0)], 0.0)
            Db = np.where(b[None, :] >= 0, D[:, np.maximum(b, 0)], 0.0)
            E = np.minimum(0.0, np.minimum(sigma[:, None] * Da, sigma[:, None] * Db))  # σ-signed, <= 0
            k = min(rem, E.shape[1])
            ext = np.sum(np.partition(E, k - 1, axis=1)[:, :k], axis=1) if k < E.shape[1] else E.sum(axis=1)
            omega = base + sigma * ext
            if part.lower is not None:
                omega = np.where(sigma > 0, np.maximum(omega, part.lower), omega)
            if part.upper is not None:
                omega = np.where(sigma < 0, np.minimum(omega, part.upper), omega)
            gains = np.maximum(0.0, np.maximum(np.where(a >= 0, cuD[np.maximum(a, 0)], 0.0),
                                               np.where(b >= 0, cuD[np.maximum(b, 0)], 0.0)))
            cmax = cu0 + float(cuD @ zf) + float(np.sort(gains)[::-1][:rem].sum())
            val = self._lp_value(x, omega)
            stats["lp"] += 1
            if val is None:
                bound = INF  # the recourse is infeasible at the corner: no bound, branch
                s = None
            else:
                bound = val - float(self._cu @ omega) + cmax
                if bound <= cut:
                    continue
                s = self._cu - np.asarray(self._Au.T @ np.asarray(self._rec.getSolution().row_dual), dtype=float)
                # the corner is itself a member when no free move is σ-favourable: an exact value
                if np.array_equal(omega, base) and part.feasible(zf) and val > cut:
                    best = self._point(x, part, zf, ctx)
                    stats["lp"] += 1
                    cut = max(cut, best.q + gap * max(1.0, abs(best.q)))
                    if bound <= cut:
                        continue
            # branch on the free binary whose direction moves Q the most at the corner
            idx = np.flatnonzero(free)
            score = np.abs(D[:, idx].T @ s) if s is not None else -sigma @ D[:, idx]
            j = int(idx[int(np.argmax(score))])
            up = s is not None and float(s @ D[:, j]) > 0
            c0 = fx.copy()
            c0[j] = 0
            c1 = fx.copy()
            c1[j] = 1
            # depth first, the child the subgradient prefers last on the stack (explored first)
            stack.extend([c0, c1] if up else [c1, c0])
        stats["bb_nodes"] = stats.get("bb_nodes", 0) + nodes
        return best, True

    def _worst_part(self, x: FloatArray, part: VertexSet, label: str, cutoff: float | None = None,
                    incumbent: _Point | None = None, start: _Point | None = None) -> _PartOutcome:
        """The subproblem MILP of one part with its verification (and dual-bound enlargement) loop.

        ``cutoff``: only a worst case above it is wanted; the MILP is then cut off (``point`` None) when the
        part cannot exceed it.  ``incumbent``: the point the cutoff comes from; its recourse duals certify
        that the MILP is feasible, so that "infeasible" under the cutoff means "cut off" (without a
        certificate the MILP is solved again without cutoff).  ``start``: a MIP start."""
        t0 = time.perf_counter()
        if part.n_binaries == 0:
            pt = self._point(x, part, np.zeros(0), f"{label}: at the center of {part.name!r}")
            return _PartOutcome(pt, pt.q, pt.q, time.perf_counter() - t0, 0, 1.0)
        st = self._state(part)
        fails = 0
        enlargements = 0
        prev: float | None = None
        tol = self.verify_tol
        while True:
            sub = st.sub
            sub.set_x(self, x)
            sub.set_cutoff(cutoff)
            if start is not None:
                pi, d = sub.multipliers(start.row_dual, start.col_dual)
                sub.set_start(start.z, sub.start_vector(pi, d, start.z) if sub.inside(pi, 0.0) else None)
            r = sub.run()
            if cutoff is not None:
                if r.status == "optimal" and r.objective <= cutoff:
                    return _PartOutcome(None, r.objective, cutoff, time.perf_counter() - t0, enlargements, st.scale)
                if r.status in ("infeasible", "no_solution"):
                    if incumbent is not None and sub.inside(sub.multipliers(incumbent.row_dual,
                                                                             incumbent.col_dual)[0], 0.0):
                        return _PartOutcome(None, -INF, cutoff, time.perf_counter() - t0, enlargements, st.scale)
                    cutoff = None  # no certificate: solve it again without cutoff
                    continue
                if r.status != "optimal":
                    cutoff = None
                    continue
            if r.status in ("infeasible", "unbounded_or_infeasible", "unbounded"):
                # a recourse that is infeasible somewhere makes the dual unbounded; bounds that are too small
                # can make the bounded dual infeasible
                self._recourse_ctx(x, part.center, f"{label}: at the center of {part.name!r}")
                if r.status == "unbounded":
                    raise SolveError(
                        f"{label}: the subproblem of {part.name!r} is unbounded: the recourse LP is infeasible for "
                        "some u of the set (relatively complete recourse is required: add penalised slacks)",
                        r.status, [])
                if fails >= self.max_bound_updates:
                    raise SolveError(
                        f"{label}: the subproblem of {part.name!r} is {r.status} with dual bounds at "
                        f"{st.scale:g}× their default after {fails} enlargements: the recourse LP may be "
                        "unbounded below (dual infeasible) or the dual bounds are far too small (raise dual_bound)",
                        r.status, [])
                fails += 1
            elif r.status != "optimal":
                raise SolveError(f"{label}: HiGHS finished the subproblem of {part.name!r} with status "
                                 f"'{r.status}' (time limit {self.options.time_limit_s:g} s)", r.status, [])
            else:
                z = np.round(r.x[sub.z_cols])
                if not part.feasible(z, tol=1e-6):
                    raise SolveError(f"{label}: the subproblem of {part.name!r} returned z = {z}, which is not a "
                                     "member of the set", "numerical_error", [])
                pt = self._point(x, part, z, f"{label}: at the worst case of {part.name!r}")
                q = pt.q
                V = r.objective
                agree = abs(V - q) <= tol * max(1.0, abs(q))
                active = sub.active_bounds(r.x[:sub.npi])
                if (agree and prev is not None and abs(V - prev) <= tol * max(1.0, abs(V))) or (
                        agree and active == 0 and (st.confirmed or not self.confirm_dual_bound)):
                    st.confirmed = True
                    return _PartOutcome(pt, V, r.dual_bound, time.perf_counter() - t0, enlargements, st.scale)
                if prev is not None or not (agree and active == 0):  # a failed check, not the first confirmation
                    if fails >= self.max_bound_updates:
                        raise SolveError(
                            f"{label}: the worst case over {part.name!r} could not be verified after {fails} "
                            f"enlargements of the McCormick dual bounds (now {st.scale:g}× the default): subproblem "
                            f"value {V:.10g}, recourse LP at u* {q:.10g}, {active} multipliers at their bound. "
                            "Raise dual_bound or max_bound_updates, or check that the recourse has bounded duals "
                            "(penalised slacks)", "dual_bound", [])
                    fails += 1
                prev = V
            st.scale *= self.dual_bound_growth
            st.sub = _Subproblem(self, part, st.scale)
            enlargements += 1
            log.debug("%s: dual bounds of %r enlarged to %g× the default", label, part.name, st.scale)

    def _recourse_ctx(self, x: FloatArray, u: FloatArray, context: str) -> tuple[float, FloatArray]:
        try:
            return self.recourse(x, u)
        except SolveError as exc:
            raise SolveError(f"{context}: {exc}", exc.status, exc.diagnosis) from exc

    def worst_case(self, x: Mapping[str, Any] | Sequence[float] | FloatArray,
                   uset: VertexSet | UnionSet) -> WorstCase:
        """The worst ``u`` of a plan: ``max`` over the parts of ``max_{z} Q(x, c + D z)``.

        Without ``prune``: one subproblem MILP per part.  With ``prune`` (default): small parts are
        enumerated, the others get a heuristic worst case; then the MILPs of the remaining parts are solved
        in decreasing order of their heuristic value with the best value found so far as a cutoff (see
        :class:`TwoStageRobust`)."""
        xf = self.x_flat(x)
        parts = self._parts(uset)
        t0 = time.perf_counter()
        label = f"{self.name}: worst case"
        stats: dict[str, float] = {"lp": 0, "milp": 0, "pruned": 0, "enumerated": 0, "heuristic_s": 0.0,
                                   "milp_s": 0.0, "enumeration_s": 0.0}
        n = len(parts)
        if not self.prune:
            outs = [self._worst_part(xf, p, label) for p in parts]
            stats["milp"] = sum(p.n_binaries > 0 for p in parts)
            pts: list[_Point] = []
            for o in outs:
                assert o.point is not None
                pts.append(o.point)
            k = int(np.argmax([pt.q for pt in pts]))
            best_o = outs[k]
            V, bound, scale = best_o.V, best_o.bound, best_o.scale
            updates = sum(o.enlargements for o in outs)
            bounds = [o.bound for o in outs]
            stats["milp_s"] = float(sum(o.seconds for o in outs))
        else:
            pts, bounds, _exact, k, V, bound, scale, updates = self._worst_pruned(xf, parts, label, stats)
        for pt, part in zip(pts, parts, strict=True):
            if part.n_binaries:
                self._state(part).last_z = pt.z
        best = pts[k]
        stats["lp"] = float(stats["lp"])
        return WorstCase(
            u=best.u, z=best.z, part=k, part_name=parts[k].name, value=best.q, y=best.y,
            part_values=[pt.q for pt in pts], subproblem_objective=V, subproblem_dual_bound=bound,
            solve_s=time.perf_counter() - t0, bound_updates=updates, dual_bound_scale=scale,
            sizes=[self.subproblem_size(p) for p in parts], part_bounds=bounds[:n], stats=stats)

    def _heuristic_worst(self, x: FloatArray, parts: tuple[VertexSet, ...], label: str) -> tuple[int, _Point]:
        """``(part, point)``: the best member found by the heuristic over all parts (centers of single-point
        parts included)."""
        stats: dict[str, float] = {"lp": 0}
        best: tuple[int, _Point] | None = None
        for k, part in enumerate(parts):
            if part.n_binaries == 0:
                pt = self._point(x, part, np.zeros(0), f"{label}: at the center of {part.name!r}")
            else:
                st = self._state(part)
                pt = self._heuristic(x, st, label, stats)
                st.last_z = pt.z
            if best is None or pt.q > best[1].q:
                best = (k, pt)
        assert best is not None
        return best

    def _worst_pruned(self, x: FloatArray, parts: tuple[VertexSet, ...], label: str, stats: dict[str, float]
                      ) -> tuple[list[_Point], list[float], list[bool], int, float, float, float, int]:
        """``(points, upper bounds, exact, worst part, V, bound, scale, enlargements)`` of :meth:`worst_case`
        with ``prune``."""
        n = len(parts)
        pts: list[_Point] = []
        exact = [False] * n
        scales = [1.0] * n
        Vs = [math.nan] * n
        for k, part in enumerate(parts):
            if part.n_binaries == 0:
                pts.append(self._point(x, part, np.zeros(0), f"{label}: at the center of {part.name!r}"))
                stats["lp"] += 1
                exact[k] = True
                continue
            st = self._state(part)
            scales[k] = st.scale
            t1 = time.perf_counter()
            pt = self._enumerate(x, st, label, stats)
            if pt is not None:
                stats["enumerated"] += 1
                stats["enumeration_s"] += time.perf_counter() - t1
                exact[k] = True
            else:
                pt = self._heuristic(x, st, label, stats)
                stats["heuristic_s"] += time.perf_counter() - t1
            pts.append(pt)
        for k in range(n):
            if exact[k]:
                Vs[k] = pts[k].q
        bounds = [pts[k].q if exact[k] else INF for k in range(n)]
        updates = 0
        gap = self.subproblem_gap
        # MILPs of the other parts, most promising first, cut off at the best value so far
        cut = [False] * n
        for k in sorted((k for k in range(n) if not exact[k]), key=lambda j: -pts[j].q):
            kb = int(np.argmax([p.q for p in pts]))
            inc = pts[kb]
            cutoff = inc.q + gap * max(1.0, abs(inc.q))
            st = self._state(parts[k])
            if self._bb_applies(parts[k]):
                t1 = time.perf_counter()
                found, complete = self._monotone_bb(x, st, cutoff, label, stats)
                stats["bb_s"] = stats.get("bb_s", 0.0) + time.perf_counter() - t1
                if found is not None and found.q > pts[k].q:
                    pts[k] = found
                if complete:
                    stats["bb_parts"] = stats.get("bb_parts", 0) + 1
                    exact[k] = True
                    Vs[k] = pts[k].q
                    bounds[k] = max(cutoff, pts[k].q + gap * max(1.0, abs(pts[k].q)))
                    continue
                kb = int(np.argmax([p.q for p in pts]))
                inc = pts[kb]
                cutoff = inc.q + gap * max(1.0, abs(inc.q))
            out = self._worst_part(x, parts[k], label, cutoff=cutoff, incumbent=inc)
            stats["milp"] += 1
            stats["milp_s"] += out.seconds
            updates += out.enlargements
            scales[k] = out.scale
            if out.point is None:
                stats["pruned"] += 1
                cut[k] = True
                bounds[k] = cutoff
            else:
                if out.point.q > pts[k].q:
                    pts[k] = out.point
                Vs[k] = out.V
                bounds[k] = max(out.bound, pts[k].q)
        kb = int(np.argmax([p.q for p in pts]))
        if cut[kb]:
            # the worst case is the heuristic's point: the recourse duals there, inside the part's McCormick
            # bounds, prove V(z*) = Q(z*); otherwise (or for the confirmation) solve the part's MILP in full
            st = self._state(parts[kb])
            pi = st.sub.multipliers(pts[kb].row_dual, pts[kb].col_dual)[0]
            if st.sub.inside(pi) and (st.confirmed or not self.confirm_dual_bound):
                Vs[kb] = pts[kb].q
            else:
                out = self._worst_part(x, parts[kb], label, start=pts[kb])
                stats["milp"] += 1
                stats["milp_s"] += out.seconds
                updates += out.enlargements
                scales[kb] = out.scale
                assert out.point is not None
                if out.point.q >= pts[kb].q:
                    pts[kb] = out.point
                    Vs[kb] = out.V
                else:
                    Vs[kb] = pts[kb].q
                bounds[kb] = max(out.bound, pts[kb].q)
                kb = int(np.argmax([p.q for p in pts]))
        return pts, bounds, exact, kb, Vs[kb], max(bounds), scales[kb], updates

    # ------------------------------------------------------------------ evaluation and C&CG
    def evaluate(self, x: Mapping[str, Any] | Sequence[float] | FloatArray,
                 uset: VertexSet | UnionSet) -> RobustResult:
        """Worst-case cost ``c_x x + c0 + max_{u∈U} Q(x, u)`` of a given plan (e.g. the deterministic plan
        scored ex post, SPEC §6.5 "Evaluating scenario 1").  The plan must satisfy ``x ∈ X``."""
        t0 = time.perf_counter()
        xf = self.x_flat(x)
        self.check_first_stage(xf)
        wc = self.worst_case(xf, uset)
        fsc = self.first_stage_cost(xf)
        return RobustResult(
            name=self.name, method="evaluate", x=self.x_dict(xf), x_flat=xf, u=wc.u, z=wc.z, part=wc.part,
            part_name=wc.part_name, y=wc.y, objective=fsc + wc.value, first_stage_cost=fsc, recourse_cost=wc.value,
            subproblem_s=[wc.solve_s], wall_s=time.perf_counter() - t0, subproblem_sizes=wc.sizes,
            bound_updates=wc.bound_updates, engine=self)

    def _seed_master(self, master: _Master, parts: tuple[VertexSet, ...],
                     initial_u: Sequence[float] | FloatArray | None) -> None:
        """Add the initial scenarios: ``initial_u`` (one point ``(d,)`` or points ``(L, d)``), default the
        center of the first part."""
        if initial_u is None:
            inits = [parts[0].center]
        else:
            arr = np.asarray(initial_u, dtype=float)
            rows = arr.reshape(1, -1) if arr.ndim == 1 else arr
            if rows.ndim != 2 or rows.shape[0] == 0:
                raise ValueError(f"{self.name}: initial_u must be one point (d,) or points (L, d)")
            inits = [self._u_vec(r) for r in rows]
        for u0 in inits:
            if not master.contains(u0):
                master.add(u0)

    def solve(self, uset: VertexSet | UnionSet, eps: float = 1e-3, max_iter: int = 30,
              initial_u: Sequence[float] | FloatArray | None = None, allow_unconverged: bool = False,
              *, heuristic_iterations: bool = True) -> RobustResult:
        """Two-stage RO by column-and-constraint generation (Zeng & Zhao 2013).

        The master ``min c_x x + θ`` s.t. ``x ∈ X``, ``θ ≥ c_y y^ℓ + c_u u^ℓ``, ``y^ℓ ∈ Ω(x, u^ℓ)`` is one
        persistent HiGHS model that gains the columns and rows of each new scenario.  It starts from
        ``initial_u`` (a ``(d,)`` point or ``(L, d)`` points; default: the center of the first part, the
        nominal forecast).  Each iteration: LB = the master's bound, ``x*`` its plan, ``u*`` the worst case
        of ``x*`` (:meth:`worst_case`), UB = ``min(UB, c_x x* + c0 + Q(x*, u*))``.  Stops when
        ``(UB − LB)/|UB| ≤ eps``; after ``max_iter`` iterations, or when ``u*`` is already a scenario while
        the gap is open (solver tolerances), :class:`SolveError` is raised unless ``allow_unconverged``.
        The returned plan is the one with the best UB.

        ``heuristic_iterations`` (default): an iteration first runs only the heuristic of the worst case
        (the climbs of :meth:`worst_case`); when it finds a member ``u`` whose recourse cost exceeds the
        master's ``θ`` by more than ``eps/2`` (relative), ``u`` is added without the exact worst case (the
        iteration's UB is not updated: no bound is proven; its ``subproblem_s`` is the heuristic's time).
        Only iterations where the heuristic finds no such ``u`` solve the worst case exactly, so the
        returned plan, UB and convergence are exact as without it.
        """
        if not (math.isfinite(eps) and eps >= 0):
            raise ValueError(f"{self.name}: eps must be finite and >= 0, got {eps}")
        if int(max_iter) != max_iter or max_iter < 1:
            raise ValueError(f"{self.name}: max_iter must be an integer >= 1, got {max_iter}")
        parts = self._parts(uset)
        t0 = time.perf_counter()
        master = _Master(self, mip_rel_gap=min(self.options.mip_rel_gap, eps / 10.0) if eps > 0 else 0.0)
        self._seed_master(master, parts, initial_u)
        lb, ub = -math.inf, math.inf
        lbs: list[float] = []
        ubs: list[float] = []
        gaps: list[float] = []
        mts: list[float] = []
        sts: list[float] = []
        best: tuple[FloatArray, WorstCase] | None = None
        converged = False
        updates = 0
        reason = ""
        pending: list[tuple[float, FloatArray]] = []  # plans scored by the heuristic only: (lower bound, x)

        def exact(xx: FloatArray) -> WorstCase:
            nonlocal ub, best, updates
            w = self.worst_case(xx, uset)
            updates += w.bound_updates
            total = self.first_stage_cost(xx) + w.value
            if total < ub:
                ub, best = total, (xx, w)
            return w

        for it in range(1, max_iter + 1):
            label = f"{self.name}: C&CG iteration {it}"
            m_lb, x, m_s, theta = master.solve(label)
            lb = max(lb, m_lb)
            t1 = time.perf_counter()
            new: tuple[FloatArray, FloatArray] | None = None
            wc: WorstCase | None = None
            if heuristic_iterations and it < max_iter:
                _, hp = self._heuristic_worst(x, parts, label)
                est = self.first_stage_cost(x) + hp.q  # a lower bound of the plan's worst-case cost
                if (hp.q > theta + 0.5 * eps * max(1.0, abs(est)) and est - lb > eps * max(abs(est), 1e-9)
                        and not master.contains(hp.u)):
                    new = (hp.u, hp.y)  # a violated scenario, and the plan cannot close the gap: no exact solve
                    pending.append((est, x))
            if new is None:
                wc = exact(x)
                new = (wc.u, wc.y)
            # plans scored by the heuristic only that could now close the gap are scored exactly
            for est_j, x_j in sorted(pending, key=lambda p: p[0]):
                if est_j - lb <= eps * max(abs(est_j), 1e-9) and (ub - lb) > eps * max(abs(ub), 1e-9):
                    exact(x_j)
                    pending.remove((est_j, x_j))
            gap = (ub - lb) / max(abs(ub), 1e-9) if math.isfinite(ub) else math.inf
            lbs.append(lb)
            ubs.append(ub)
            gaps.append(gap)
            mts.append(m_s)
            sts.append(time.perf_counter() - t1)
            log.debug("%s: LB %.10g UB %.10g gap %.3g, θ %.10g, scenario cost %.10g (master %.2fs, subproblem %.2fs%s)",
                      label, lb, ub, gap, theta, float(self._cu @ new[0] + self._cy @ new[1]), m_s, sts[-1],
                      "" if wc is not None else ", heuristic")
            if gap <= eps:
                converged = True
                break
            if master.contains(new[0]):
                reason = (f"the worst case u* of iteration {it} is already a master scenario although the gap "
                          f"{gap:.3g} > eps: the remaining gap comes from solver tolerances (tighten mip_rel_gap)")
                break
            master.add(new[0], new[1])
        else:
            reason = f"max_iter = {max_iter} iterations reached"
        assert best is not None
        if not converged and not allow_unconverged:
            raise SolveError(f"{self.name}: C&CG did not converge: {reason} (LB {lb:.10g}, UB {ub:.10g}, gap "
                             f"{gaps[-1]:.3g} > eps = {eps:g}); raise max_iter or eps, or pass "
                             "allow_unconverged=True", "not_converged", [])
        if reason and not converged:
            log.warning("%s: C&CG stopped unconverged: %s", self.name, reason)
        x, wc = best
        fsc = self.first_stage_cost(x)
        return RobustResult(
            name=self.name, method="ccg", x=self.x_dict(x), x_flat=x, u=wc.u, z=wc.z, part=wc.part,
            part_name=wc.part_name, y=wc.y, objective=ub, first_stage_cost=fsc, recourse_cost=wc.value,
            converged=converged, iterations=len(lbs), lb_history=lbs, ub_history=ubs, gap_history=gaps,
            master_s=mts, subproblem_s=sts, wall_s=time.perf_counter() - t0, master_size=master.size,
            subproblem_sizes=[self.subproblem_size(p) for p in parts], scenarios=list(master.scenarios),
            bound_updates=updates, engine=self)

    def bound(self, uset: VertexSet | UnionSet, max_iter: int = 30,
              initial_u: Sequence[float] | FloatArray | None = None, time_limit_s: float | None = None
              ) -> RobustResult:
        """A proven lower bound of the robust optimum over ``uset`` when the exact worst case is out of reach.

        C&CG with the heuristic worst case only (the climbs of :meth:`worst_case`, no subproblem MILP): each
        iteration solves the master (its bound is a valid lower bound of ``min_x max_{u∈U} cost``: the master
        is a relaxation over the scenarios found so far) and adds the member the heuristic finds for the
        master's plan while its recourse cost exceeds θ.  It stops when the heuristic finds no violated
        member, after ``max_iter`` iterations or once ``time_limit_s`` has passed (a master solve is then
        stopped at the limit and its MIP dual bound used).  The master runs with a relative gap of
        ``BOUND_MASTER_GAP`` (its dual bound, not its plan, is the result).

        The result has ``method = "bound"``, ``converged = False`` and ``lower_bound`` = the last master bound.
        ``objective`` is the last plan's cost at the worst member found (by the last heuristic or among the
        scenarios added; a lower bound of that plan's
        worst-case cost: no upper bound is proven, ``ub_history`` is ``inf``).  Used for sets whose
        worst-case MILP is too hard (the 24-hour box and polyhedral sets of 003 Table 3): a robust cost of
        another set below this bound proves that set cheaper."""
        if int(max_iter) != max_iter or max_iter < 1:
            raise ValueError(f"{self.name}: max_iter must be an integer >= 1, got {max_iter}")
        if time_limit_s is not None and not (math.isfinite(time_limit_s) and time_limit_s > 0):
            raise ValueError(f"{self.name}: time_limit_s must be finite and > 0, got {time_limit_s}")
        parts = self._parts(uset)
        t0 = time.perf_counter()
        master = _Master(self, mip_rel_gap=max(self.options.mip_rel_gap, BOUND_MASTER_GAP))
        self._seed_master(master, parts, initial_u)
        found: list[tuple[int, FloatArray]] = []  # (part, z) of the scenarios added by the heuristic
        lbs: list[float] = []
        mts: list[float] = []
        sts: list[float] = []
        lb = -math.inf
        last: tuple[FloatArray, int, _Point] | None = None
        for it in range(1, max_iter + 1):
            label = f"{self.name}: bounding iteration {it}"
            left = None if time_limit_s is None else time_limit_s - (time.perf_counter() - t0)
            m_lb, x, m_s, theta = master.solve(label, left)
            lb = max(lb, m_lb)
            t1 = time.perf_counter()
            kp, hp = self._heuristic_worst(x, parts, label)
            last = (x, kp, hp)
            lbs.append(lb)
            mts.append(m_s)
            sts.append(time.perf_counter() - t1)
            log.debug("%s: LB %.10g, θ %.10g, heuristic worst case %.10g", label, lb, theta, hp.q)
            violated = hp.q > theta + 1e-6 * max(1.0, abs(theta)) and not master.contains(hp.u)
            if not violated or (time_limit_s is not None and time.perf_counter() - t0 > time_limit_s):
                break
            master.add(hp.u, hp.y)
            found.append((kp, hp.z))
        assert last is not None
        x, kp, hp = last
        for k, z in found:  # the plan's worst member among the scenarios found (θ covers them)
            pt = self._point(x, parts[k], z, f"{self.name}: bounding, scenario of {parts[k].name!r}")
            if pt.q > hp.q:
                kp, hp = k, pt
        fsc = self.first_stage_cost(x)
        n = len(lbs)
        return RobustResult(
            name=self.name, method="bound", x=self.x_dict(x), x_flat=x, u=hp.u, z=hp.z, part=kp,
            part_name=parts[kp].name, y=hp.y, objective=fsc + hp.q, first_stage_cost=fsc, recourse_cost=hp.q,
            converged=False, iterations=n, lb_history=lbs, ub_history=[math.inf] * n,
            gap_history=[math.inf] * n, master_s=mts, subproblem_s=sts, wall_s=time.perf_counter() - t0,
            master_size=master.size,
            subproblem_sizes=[self.subproblem_size(p) for p in parts], scenarios=list(master.scenarios),
            engine=self)

    # ------------------------------------------------------------------ Pyomo hand-back
    def load(self, x: Mapping[str, Any] | Sequence[float] | FloatArray, u: Sequence[float] | FloatArray,
             y: Sequence[float] | FloatArray) -> None:
        """Write a solution into the Pyomo model's Var values, so named Expressions can be read with
        ``pyo.value``.  The uncertain Vars stay fixed, at ``u`` (their fixed values are overwritten)."""
        xf = self.x_flat(x)
        uf = self._u_vec(u)
        yf = np.asarray(y, dtype=float).ravel()
        if yf.size != self.n_y:
            raise ValueError(f"{self.name}: y must hold {self.n_y} values, got {yf.size}")
        cols = self._cm.columns
        xf = np.where(self._xint, np.round(xf), xf)
        for idx, vals in ((self._x_idx, xf), (self._u_idx, uf), (self._y_idx, yf)):
            for j, val in zip(idx.tolist(), vals.tolist(), strict=True):
                cols[j].set_value(float(val), skip_validation=True)

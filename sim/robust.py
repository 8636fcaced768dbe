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
import pyomo.environ as pyo
import scipy.sparse as sp
from pyomo.core.base.var import Var, VarData

from agents.milp import ACCEPT_PRIMAL_INFEASIBILITY, SolveError, SolverOptions, compile_model, constraint_family

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


def _status_name(ms: Any) -> str:
    M = highspy.HighsModelStatus
    table = {
        M.kOptimal: "optimal",
        M.kInfeasible: "infeasible",
        M.kUnboundedOrInfeasible: "unbounded_or_infeasible",
        M.kUnbounded: "unbounded",
        M.kTimeLimit: "time_limit",
        M.kIterationLimit: "iteration_limit",
        M.kSolutionLimit: "solution_limit",
        M.kInterrupt: "interrupted",
        M.kModelEmpty: "optimal",
    }
    return table.get(ms, str(ms).split(".")[-1])


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
    to ``verify_tol``); ``part_values[k]`` is the worst ``Q`` over part ``k``.  ``bound_updates`` counts the
    enlargements of the McCormick dual bounds made during this call (all parts); ``dual_bound_scale`` is
    the scale of the default bounds finally used for the worst part.
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
        # --- g and McCormick bounds
        G = sp.csr_matrix(AuD.T @ S_row)  # m x npi
        Gp = G.maximum(0)
        Gn = G.minimum(0)
        lo0 = np.where(np.isfinite(p_lo), p_lo, 0.0)
        hi0 = np.where(np.isfinite(p_hi), p_hi, 0.0)
        L = np.asarray(Gp @ lo0 + Gn @ hi0, dtype=float).ravel()
        U = np.asarray(Gp @ hi0 + Gn @ lo0, dtype=float).ravel()
        self.L, self.U = L, U
        # --- set rows on z
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
        heights = [next(int(b.shape[0]) for b in row if b is not None) for row in blocks]
        full = [[blk if blk is not None else sp.csr_matrix((heights[i], widths[j]))
                 for j, blk in enumerate(row)] for i, row in enumerate(blocks)]
        A = sp.bmat(full, format="csc")
        # infinite bound values never get a multiplier, so side_val and cside_val are finite
        c = np.concatenate([side_val, cside_val, *c_tail])
        integer = np.zeros(A.shape[1], dtype=bool)
        integer[z0:z0 + m] = True
        self.z_cols = np.arange(z0, z0 + m)
        self.h = _new_highs(e.options, mip_rel_gap=e.subproblem_gap)
        _pass(self.h, highspy.ObjSense.kMaximize, c, float(e._cu @ part.center), col_lb, col_ub, row_lb, row_ub,
              A, integer, f"{e.name}: subproblem of {part.name!r}")
        self.size = ModelSize(int(A.shape[0]), int(A.shape[1]), m)
        self._pi_idx = np.arange(npi, dtype=np.int32)
        self._shift_c = np.asarray(e._Au @ part.center, dtype=float)

    def set_x(self, eng: TwoStageRobust, x: FloatArray) -> None:
        shift = np.asarray(eng._Ax @ x, dtype=float) + self._shift_c
        cost = self.side_val - shift[self.side_row]
        self.h.changeColsCost(self.npi, self._pi_idx, cost)

    def active_bounds(self, pi: FloatArray, rel: float = 1e-6) -> int:
        """Number of bounded multipliers at their McCormick bound."""
        b = self.bounded
        at_lo = np.isfinite(self.p_lo) & (self.p_lo < 0) & (pi <= self.p_lo * (1 - rel))
        at_hi = np.isfinite(self.p_hi) & (self.p_hi > 0) & (pi >= self.p_hi * (1 - rel))
        return int(np.count_nonzero(b & (at_lo | at_hi)))


@dataclass
class _PartState:
    """Cached subproblem of one part, with the scale of its dual bounds."""

    part: VertexSet
    scale: float
    sub: _Subproblem
    confirmed: bool = False


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

    def add(self, u: FloatArray) -> None:
        """Append the recourse copy ``y^ℓ`` and rows of scenario ``u``, and ``θ ≥ c_y y^ℓ + c_u u``."""
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

    def contains(self, u: FloatArray, tol: float = 1e-9) -> bool:
        return any(np.allclose(u, s, rtol=0.0, atol=tol * max(1.0, float(np.abs(s).max(initial=0.0))))
                   for s in self.scenarios)

    def solve(self, label: str) -> tuple[float, FloatArray, float]:
        """``(LB, x, seconds)``: LB is the MIP dual bound (the objective for an LP master)."""
        e = self.e
        is_mip = bool(self.integer.any())
        r = _run(self.h, is_mip)
        if r.status != "optimal":
            raise self._failure(label, r.status)
        lb = r.dual_bound if is_mip and math.isfinite(r.dual_bound) else r.objective
        return min(lb, r.objective), e._clean_x(r.x[:e.n_x]), r.solve_s

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
        self.mccormick = mccormick
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
        cm = compile_model(model)
        self._cm = cm
        col_of = {id(v): j for j, v in enumerate(cm.columns)}

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
        self._det: highspy.Highs | None = None
        self._parts_cache: dict[int, _PartState] = {}
        self.build_s = time.perf_counter() - t0
        log.debug("%s: %d first-stage, %d uncertain, %d recourse columns; %d first-stage and %d recourse rows "
                  "(%d recourse integers relaxed), compiled in %.2fs", name, self.n_x, self.dim, self.n_y,
                  fs_rows.size, rec_rows.size, self.n_relaxed_integers, self.build_s)

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
        shift = np.asarray(self._Ax @ xf + self._Au @ uf, dtype=float)
        lb = self._rlb - shift
        ub = self._rub - shift
        if lb.size:
            self._rec.changeRowsBounds(lb.size, self._rec_rows_i32, lb, ub)
        r = _run(self._rec, False)
        if r.status != "optimal":
            raise self._recourse_failure(r.status, lb, ub)
        y = r.x
        return float(self._cy @ y + self._cu @ uf), y

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
        r = _run(h, is_mip)
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

    def subproblem_size(self, part: VertexSet) -> ModelSize:
        """Size of a part's subproblem MILP (built if needed)."""
        if part.n_binaries == 0:
            return ModelSize(int(self._rlb.size), self.n_y, 0)
        return self._state(part).sub.size

    def _worst_part(self, x: FloatArray, part: VertexSet, label: str
                    ) -> tuple[float, FloatArray, FloatArray, FloatArray, float, float, float, int, float]:
        """``(Q, u, z, y, V, bound, seconds, enlargements, scale)`` of one part."""
        t0 = time.perf_counter()
        if part.n_binaries == 0:
            q, y = self._recourse_ctx(x, part.center, f"{label}: at the center of {part.name!r}")
            return q, part.center.copy(), np.zeros(0), y, q, q, time.perf_counter() - t0, 0, 1.0
        st = self._state(part)
        fails = 0
        enlargements = 0
        prev: float | None = None
        tol = self.verify_tol
        while True:
            sub = st.sub
            sub.set_x(self, x)
            r = _run(sub.h, True)
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
                u = part.point(z)
                q, y = self._recourse_ctx(x, u, f"{label}: at the worst case of {part.name!r}")
                V = r.objective
                agree = abs(V - q) <= tol * max(1.0, abs(q))
                active = sub.active_bounds(r.x[:sub.npi])
                if (agree and prev is not None and abs(V - prev) <= tol * max(1.0, abs(V))) or (
                        agree and active == 0 and (st.confirmed or not self.confirm_dual_bound)):
                    st.confirmed = True
                    return (q, u, z, y, V, r.dual_bound, time.perf_counter() - t0, enlargements, st.scale)
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
        """The worst ``u`` of a plan: ``max`` over the parts of ``max_{z} Q(x, c + D z)`` (one MILP per part)."""
        xf = self.x_flat(x)
        parts = self._parts(uset)
        t0 = time.perf_counter()
        res = [self._worst_part(xf, p, f"{self.name}: worst case") for p in parts]
        k = int(np.argmax([r[0] for r in res]))
        q, u, z, y, V, bound, _, _, scale = res[k]
        return WorstCase(
            u=u, z=z, part=k, part_name=parts[k].name, value=q, y=y, part_values=[r[0] for r in res],
            subproblem_objective=V, subproblem_dual_bound=bound, solve_s=time.perf_counter() - t0,
            bound_updates=sum(r[7] for r in res), dual_bound_scale=scale,
            sizes=[self.subproblem_size(p) for p in parts])

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

    def solve(self, uset: VertexSet | UnionSet, eps: float = 1e-3, max_iter: int = 30,
              initial_u: Sequence[float] | FloatArray | None = None, allow_unconverged: bool = False
              ) -> RobustResult:
        """Two-stage RO by column-and-constraint generation (Zeng & Zhao 2013).

        The master ``min c_x x + θ`` s.t. ``x ∈ X``, ``θ ≥ c_y y^ℓ + c_u u^ℓ``, ``y^ℓ ∈ Ω(x, u^ℓ)`` is one
        persistent HiGHS model that gains the columns and rows of each new scenario.  It starts from
        ``initial_u`` (a ``(d,)`` point or ``(L, d)`` points; default: the center of the first part, the
        nominal forecast).  Each iteration: LB = the master's bound, ``x*`` its plan, ``u*`` the worst case
        of ``x*`` (:meth:`worst_case`), UB = ``min(UB, c_x x* + c0 + Q(x*, u*))``.  Stops when
        ``(UB − LB)/|UB| ≤ eps``; after ``max_iter`` iterations, or when ``u*`` is already a scenario while
        the gap is open (solver tolerances), :class:`SolveError` is raised unless ``allow_unconverged``.
        The returned plan is the one with the best UB.
        """
        if not (math.isfinite(eps) and eps >= 0):
            raise ValueError(f"{self.name}: eps must be finite and >= 0, got {eps}")
        if int(max_iter) != max_iter or max_iter < 1:
            raise ValueError(f"{self.name}: max_iter must be an integer >= 1, got {max_iter}")
        parts = self._parts(uset)
        t0 = time.perf_counter()
        if initial_u is None:
            inits = [parts[0].center]
        else:
            arr = np.asarray(initial_u, dtype=float)
            rows = arr.reshape(1, -1) if arr.ndim == 1 else arr
            if rows.ndim != 2 or rows.shape[0] == 0:
                raise ValueError(f"{self.name}: initial_u must be one point (d,) or points (L, d)")
            inits = [self._u_vec(r) for r in rows]
        master = _Master(self, mip_rel_gap=min(self.options.mip_rel_gap, eps / 10.0) if eps > 0 else 0.0)
        for u0 in inits:
            if not master.contains(u0):
                master.add(u0)
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
        for it in range(1, max_iter + 1):
            label = f"{self.name}: C&CG iteration {it}"
            m_lb, x, m_s = master.solve(label)
            lb = max(lb, m_lb)
            wc = self.worst_case(x, uset)
            updates += wc.bound_updates
            total = self.first_stage_cost(x) + wc.value
            if total < ub:
                ub, best = total, (x, wc)
            gap = (ub - lb) / max(abs(ub), 1e-9)
            lbs.append(lb)
            ubs.append(ub)
            gaps.append(gap)
            mts.append(m_s)
            sts.append(wc.solve_s)
            log.debug("%s: LB %.10g UB %.10g gap %.3g (master %.2fs, subproblem %.2fs)", label, lb, ub, gap, m_s,
                      wc.solve_s)
            if gap <= eps:
                converged = True
                break
            if master.contains(wc.u):
                reason = (f"the worst case u* of iteration {it} is already a master scenario although the gap "
                          f"{gap:.3g} > eps: the remaining gap comes from solver tolerances (tighten mip_rel_gap)")
                break
            master.add(wc.u)
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

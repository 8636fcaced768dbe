"""Solver wrapper: a Pyomo model compiled once into HiGHS and re-solved persistently.

Why not ``pyomo.contrib.solver``'s HiGHS interface?  Its hand-over walks every constraint with
``generate_standard_repn`` (4-5 s for the S = 12 campus model) and it does not pass warm starts.
Pyomo's ``LinearStandardFormCompiler`` produces the sparse matrices in about half that time and
``highspy.Highs.passModel`` takes them in ~0.1 s, so this module uses the two directly.

Contract
--------
* :class:`HighsModel` compiles a Pyomo model (any ``Block``) once.  Columns are the model's
  variables, rows its active constraints (a ranged constraint is one row with two bounds).
* Binary and integer variables are passed to HiGHS as continuous ``[lb, ub]`` columns when
  ``relax_integrality=True``; :meth:`HighsModel.set_integer` switches chosen columns back to
  integer.  This is how the tight-formulation-first strategy (DESIGN principle 7) is realised:
  solve the LP, check complementarity, and make only the offending binaries integer.
* After changing mutable ``Param`` values (or variable bounds) call :meth:`HighsModel.update`:
  the model is recompiled and only what changed (costs, bounds, coefficients) is pushed into the
  live HiGHS instance, which keeps its basis as a warm start.  A structural change (a new
  variable or constraint) falls back to a fresh ``passModel``.  :meth:`HighsModel.update_params` is
  the fast path for a model whose structure and fixed variables did not change: only the rows,
  bounds and costs that depend on a Param whose value changed are re-evaluated (no recompile), so a
  persistent model takes a new day's data in milliseconds.
* Deltas, not recompiles (DESIGN principle 6).  After the first compile, every change reaches the live HiGHS
  instance in time proportional to the change, and the basis survives as a warm start:

  - **Params** (:meth:`HighsModel.track_params` once, then :meth:`HighsModel.update_params`): the index keeps,
    per row that depends on a mutable Param, its linear form with the Params left symbolic, split into the
    bounds (constant, lower, upper) and the symbolic coefficients, each translated once into a Python function
    of the Params' values (made from a *template* shared by the rows of a family, compiled once per process; wide
    coefficient rows and the objective are evaluated per template as numpy arrays, long sums term by term); per
    Param, the rows (bounds or coefficients), column bounds and objective it feeds.
    A push reads every tracked Param's value from its slot, and re-evaluates only what a changed Param feeds:
    ``changeRowsBounds``, ``changeCoeff``, ``changeColsBounds``, ``changeColsCost``.
  - **Fixing** (:meth:`HighsModel.fix` / :meth:`HighsModel.unfix`): Pyomo's fix plus ``lb = ub`` on those columns
    (fixed variables are columns of the compiled model, never eliminated, so nothing moves).
  - **Rows** (:meth:`HighsModel.add_constraints`, :meth:`HighsModel.set_active`): a new cut or a row created on
    demand is compiled alone and handed over with ``addRows`` (and indexed if a Param feeds it); a deactivated
    row stays in HiGHS with free bounds, so row numbers never shift, and is restored from Pyomo when activated;
    :meth:`HighsModel.remove_constraints` deletes rows (``deleteRows``) so nothing is left behind.

  :meth:`HighsModel.update` (a whole recompile with ``LinearStandardFormCompiler``, then the differences) is
  the fallback for changes made behind the model's back; loops over days or steps do not call it.
* Every :meth:`HighsModel.solve` returns :class:`SolveStats` with status, objective, dual bound,
  gap and the timings build / hand-over / solve / extract.  An infeasible or failed solve raises
  :class:`SolveError` whose message names the model, the case and the constraint families that
  cannot be met, found by re-solving an elastic copy (every row gets penalised slacks).
"""

from __future__ import annotations

import logging
import math
import operator
import os
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import highspy
import numpy as np
import pyomo.core as pyo
import scipy.sparse as sp
from pyomo.common.errors import InfeasibleConstraintException
from pyomo.core.base.var import VarData
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

log = logging.getLogger(__name__)

INF = highspy.kHighsInf

LpMethod = Literal["simplex", "ipm", "choose"]

#: HiGHS's ``simplex_strategy`` values of :meth:`HighsModel.solve`'s ``simplex`` argument.
SIMPLEX_STRATEGY = {"dual": 1, "primal": 4}


#: Largest unscaled primal infeasibility accepted from a solve HiGHS reports "optimal" (its own tolerance is 1e-7).
ACCEPT_PRIMAL_INFEASIBILITY = 1e-6

#: HiGHS's primal feasibility tolerance (its default): how far a value read back from a solve may lie beyond
#: a bound, or a binary from 0 or 1, by round-off alone.
FEASIBILITY_TOL = 1e-7


def snap_to_bounds(x: float, lo: float | None, hi: float | None, *, integer: bool = False,
                   tol: float = FEASIBILITY_TOL, name: str = "value") -> float:
    """A solution value made exact before it is fixed or carried: snapped onto its bounds and integrality.

    Rule: a value within ``tol · max(1, |b|)`` of a bound ``b`` (inside or beyond it) becomes ``b``; an
    integer variable's value within ``tol`` of an integer becomes that integer; a value beyond a bound by
    more than :data:`ACCEPT_PRIMAL_INFEASIBILITY` ``· max(1, |b|)`` (more than a solver's accepted
    round-off) or a NaN/inf raises ``ValueError`` naming ``name``, the value and the allowed range.
    Otherwise the value is returned clipped into ``[lo, hi]`` (``None``: no bound).
    """
    lo_ = -math.inf if lo is None else float(lo)
    hi_ = math.inf if hi is None else float(hi)
    if not math.isfinite(x):
        raise ValueError(f"{name}: the value {x} cannot be fixed or carried; it must be a finite number in "
                         f"[{lo_:g}, {hi_:g}] (a failed or skipped solve has no values)")
    for b, beyond in ((lo_, lo_ - x), (hi_, x - hi_)):
        if math.isfinite(b) and beyond > ACCEPT_PRIMAL_INFEASIBILITY * max(1.0, abs(b)):
            raise ValueError(f"{name}: the value {x!r} lies {beyond:.3g} beyond its bound {b:g}; allowed range "
                             f"[{lo_:g}, {hi_:g}] up to round-off {ACCEPT_PRIMAL_INFEASIBILITY:g} relative")
    if integer and abs(x - round(x)) <= tol:
        x = float(round(x))
    for b in (lo_, hi_):
        if math.isfinite(b) and abs(x - b) <= tol * max(1.0, abs(b)):
            return b
    return min(max(x, lo_), hi_)


#: Environment variable naming the HiGHS thread count used when :attr:`SolverOptions.threads` is not
#: given (the test suite sets it to 1 under pytest-xdist, so two workers do not oversubscribe two cores).
THREADS_ENV = "COOPGRID_HIGHS_THREADS"


def default_threads() -> int:
    """HiGHS threads from :data:`THREADS_ENV` (0, i.e. HiGHS decides, when unset); a clear error if malformed."""
    text = os.environ.get(THREADS_ENV, "").strip()
    if not text:
        return 0
    try:
        n = int(text)
    except ValueError:
        raise ValueError(f"environment variable {THREADS_ENV}={text!r}: expected a whole number >= 0") from None
    if n < 0:
        raise ValueError(f"environment variable {THREADS_ENV}={text!r}: expected a whole number >= 0")
    return n


@dataclass(frozen=True)
class SolverOptions:
    """Options handed to HiGHS for every solve.

    ``lp_method`` selects the LP algorithm (HiGHS option ``solver``): dual ``simplex``, interior
    point ``ipm`` (with crossover, so the solution is a vertex), or ``choose``.
    """

    time_limit_s: float = 300.0
    mip_rel_gap: float = 1e-4
    threads: int = field(default_factory=default_threads)  # 0 = HiGHS decides
    lp_method: LpMethod = "simplex"
    presolve: bool = True
    random_seed: int = 0
    verbose: bool = False

    def __post_init__(self) -> None:
        if not self.time_limit_s > 0:
            raise ValueError(f"SolverOptions.time_limit_s must be > 0, got {self.time_limit_s}")
        if not 0 <= self.mip_rel_gap < 1:
            raise ValueError(f"SolverOptions.mip_rel_gap must be in [0, 1), got {self.mip_rel_gap}")
        if self.lp_method not in ("simplex", "ipm", "choose"):
            raise ValueError(
                f"SolverOptions.lp_method must be 'simplex', 'ipm' or 'choose', got {self.lp_method!r}"
            )


@dataclass
class SolveStats:
    """What one solve did.  Times are wall-clock seconds."""

    name: str
    status: str
    objective: float
    dual_bound: float
    mip_gap: float
    is_mip: bool
    n_rows: int
    n_cols: int
    n_nonzeros: int
    n_binaries_declared: int
    n_integer_active: int
    build_s: float = 0.0
    handover_s: float = 0.0
    solve_s: float = 0.0
    extract_s: float = 0.0
    simplex_iterations: int = 0
    ipm_iterations: int = 0
    mip_nodes: int = 0
    lp_method: str = "simplex"
    path: str = ""

    @property
    def overhead_s(self) -> float:
        """Modelling overhead: build + hand-over + extraction."""
        return self.build_s + self.handover_s + self.extract_s

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["overhead_s"] = self.overhead_s
        return d


#: Names of the time sets of the models (``T`` periods, ``K`` intraday periods, ``H`` day-ahead hours).
TIME_SET_NAMES = ("T", "K", "H")


@dataclass(frozen=True)
class FamilyFailure:
    """One constraint family an elastic re-solve had to violate (see :meth:`HighsModel.diagnose`).

    ``violation`` is the family's total slack, ``examples`` up to three of its rows, ``periods`` the
    1-based indices into the family's time set of the rows that are violated (empty when the family has no
    time index), ``step_h`` the length of one of those periods in hours: the 24 hours of the day divided
    by the number of periods of the time set (1 h for the 24 day-ahead hours, 0.25 h for the 96
    quarter-hours); period ``t`` starts at ``(t - 1) * step_h`` hours after midnight.
    """

    family: str
    violation: float
    examples: tuple[str, ...] = ()
    periods: tuple[int, ...] = ()
    step_h: float | None = None

    def legacy(self) -> tuple[str, float, list[str]]:
        """``(family, violation, examples)``: the entries of :attr:`SolveError.diagnosis`."""
        return (self.family, self.violation, list(self.examples))


class SolveError(RuntimeError):
    """A solve that did not reach a usable optimum.

    ``diagnosis`` lists the violated families as ``(family, violation, examples)``; ``families`` the same
    as :class:`FamilyFailure` with the periods they fail in; ``model`` names the agent or coordinator
    whose model failed; ``notes`` what else is known when no family can be named (the status, crossing
    bounds, the model's coefficient range when it is badly scaled) and ``suspects`` the families those
    notes implicate.
    """

    def __init__(self, message: str, status: str, diagnosis: list[tuple[str, float, list[str]]],
                 *, families: Sequence[FamilyFailure] = (), model: str = "", notes: Sequence[str] = (),
                 suspects: Sequence[str] = ()):
        super().__init__(message)
        self.status = status
        self.diagnosis = diagnosis
        self.families = list(families)
        self.model = model
        self.notes = list(notes)
        self.suspects = list(suspects)

    def __reduce__(self) -> Any:  # picklable (Dask workers send it back) with the keyword fields
        return (_rebuild_solve_error, (type(self), str(self), self.status, self.diagnosis, self.families,
                                       self.model, self.notes, self.suspects))


def _rebuild_solve_error(cls: type[SolveError], message: str, status: str, diagnosis: Any, families: Any,
                         model: str, notes: Any, suspects: Any) -> SolveError:
    err = cls.__new__(cls)
    SolveError.__init__(err, message, status, diagnosis, families=families, model=model, notes=notes,
                        suspects=suspects)
    return err


def _time_position(con: Any) -> tuple[int, float] | None:
    """Where the time index sits in ``con``'s index (position in the flattened index tuple) and the
    length of one period in hours, or None when the constraint has no time index.

    A time set is one named in :data:`TIME_SET_NAMES` (or declared ``within`` one) whose members are
    ``1..n`` with ``n`` dividing the 1440 minutes of a day; one period is ``24 / n`` hours."""
    comp = con.parent_component()
    if not comp.is_indexed():
        return None
    pos = 0
    for sub in comp.index_set().subsets():
        base = sub
        for _ in range(4):
            if getattr(base, "local_name", None) in TIME_SET_NAMES:
                break
            base = getattr(base, "domain", None)
            if base is None:
                break
        if base is not None and getattr(base, "local_name", None) in TIME_SET_NAMES:
            try:
                n = len(base)
                members = list(base)
            except TypeError:  # an infinite set
                members, n = [], 0
            if n and members == list(range(1, n + 1)) and 1440 % n == 0:
                return pos, 24.0 / n
        pos += max(1, int(getattr(sub, "dimen", 1) or 1))
    return None


def _period_of(con: Any, where: tuple[int, float] | None) -> int | None:
    if where is None:
        return None
    idx = con.index()
    value = idx[where[0]] if isinstance(idx, tuple) else (idx if where[0] == 0 else None)
    return int(value) if isinstance(value, int | np.integer) else None


def constraint_family(con: Any) -> str:
    """Name of a constraint with its own index removed, e.g. ``rt[3].PV.ess.def_soc``."""
    comp = con.parent_component()
    return str(comp.name)


@dataclass
class _Compiled:
    columns: list[VarData]
    rows: list[Any]  # ConstraintData, one per row
    c: np.ndarray
    c_offset: float
    A: sp.csc_matrix
    col_lb: np.ndarray
    col_ub: np.ndarray
    row_lb: np.ndarray
    row_ub: np.ndarray
    is_int: np.ndarray  # declared integer/binary domain
    #: bumped whenever ``A`` changes in place (a coefficient, an added row): caches of ``A`` compare it
    version: int = 0
    _csr: tuple[int, sp.csr_matrix] | None = None

    def rows_matrix(self) -> sp.csr_matrix:
        """``A`` in row-major form (cached until ``A`` changes), for reading rows."""
        if self._csr is None or self._csr[0] != self.version:
            self._csr = (self.version, self.A.tocsr())
        return self._csr[1]


def _compile(model: pyo.Block) -> _Compiled:
    """Compile ``model`` to ``min c x + c0, row_lb <= A x <= row_ub, col_lb <= x <= col_ub``.

    Columns are *all* active variables of the model and rows *all* active constraints, in
    declaration order, whatever their coefficients: a coefficient that becomes 0 after a
    parameter change must not remove a column or row, or the persistent model's indices shift.
    """
    all_vars: list[VarData] = list(model.component_data_objects(pyo.Var, active=True, descend_into=True))
    all_cons: list[Any] = list(model.component_data_objects(pyo.Constraint, active=True, descend_into=True))
    # The compiler eliminates fixed variables; keep them as columns with lb = ub instead so
    # that fixing and unfixing never changes the structure of the persistent model.
    fixed = [v for v in all_vars if v.fixed]
    fixed_vals = [v.value for v in fixed]
    for v in fixed:
        v.unfix()
    try:
        info = LinearStandardFormCompiler().write(model, mixed_form=True, set_sense=pyo.minimize)
    except InfeasibleConstraintException as exc:
        raise SolveError(f"{model.name}: {exc}", "infeasible", []) from exc
    finally:
        for v, val in zip(fixed, fixed_vals, strict=True):
            v.fix(val)
    fixed_ids = {id(v): val for v, val in zip(fixed, fixed_vals, strict=True)}

    n = len(all_vars)
    col_pos = {id(v): j for j, v in enumerate(all_vars)}
    try:
        perm = np.fromiter((col_pos[id(v)] for v in info.columns), dtype=np.int64, count=len(info.columns))
    except KeyError as exc:  # a variable outside the model (e.g. on another block) is referenced
        raise SolveError(f"{model.name}: a constraint references a variable outside the model", "model_error",
                         []) from exc
    col_lb = np.empty(n)
    col_ub = np.empty(n)
    is_int = np.zeros(n, dtype=bool)
    for j, v in enumerate(all_vars):
        if id(v) in fixed_ids:
            col_lb[j] = col_ub[j] = fixed_ids[id(v)]
        else:
            lb, ub = v.bounds
            col_lb[j] = -INF if lb is None else lb
            col_ub[j] = INF if ub is None else ub
        is_int[j] = not v.is_continuous()

    c = np.zeros(n)
    c_offset = 0.0
    if info.c.shape[0] > 0:
        c[perm] = np.asarray(info.c.toarray()).ravel()
        c_offset = float(np.asarray(info.c_offset).ravel()[0]) if np.size(info.c_offset) else 0.0

    # Row bounds; mixed form emits two rows for a ranged constraint: merge them.
    row_pos = {id(con): i for i, con in enumerate(all_cons)}
    m = len(all_cons)
    row_lb = np.full(m, -INF)
    row_ub = np.full(m, INF)
    rhs = np.asarray(info.rhs, dtype=float)
    src_rows = np.empty(len(info.rows), dtype=np.int64)
    for k, (con, sense) in enumerate(info.rows):
        i = row_pos[id(con)]
        src_rows[k] = i
        if sense == 0:
            row_lb[i] = row_ub[i] = rhs[k]
        elif sense == 1:
            row_ub[i] = rhs[k]
        else:
            row_lb[i] = rhs[k]
    coo = info.A.tocoo()
    keep = np.ones(coo.nnz, dtype=bool)
    # drop the duplicate entries of the second half of ranged rows
    if len(np.unique(src_rows)) != len(src_rows):
        first = np.zeros(len(src_rows), dtype=bool)
        _, idx = np.unique(src_rows, return_index=True)
        first[idx] = True
        keep = first[coo.row]
    A = sp.csc_matrix(
        (coo.data[keep], (src_rows[coo.row[keep]], perm[coo.col[keep]])), shape=(m, n)
    )
    A.sum_duplicates()
    A.sort_indices()
    return _Compiled(
        columns=all_vars,
        rows=all_cons,
        c=c,
        c_offset=c_offset,
        A=A,
        col_lb=col_lb,
        col_ub=col_ub,
        row_lb=row_lb,
        row_ub=row_ub,
        is_int=is_int,
    )


#: Public names of the compiled form ``min c x + c0, row_lb <= A x <= row_ub, col_lb <= x <= col_ub`` for
#: engines that work on the matrices themselves (e.g. :class:`agents.decision.robust.TwoStageRobust`).
CompiledModel = _Compiled
compile_model = _compile


@dataclass
class _SolveContext:
    """Who is solving: used in log lines and error messages."""

    name: str
    case: str = ""

    def label(self) -> str:
        return f"{self.name}" + (f" (case {self.case})" if self.case else "")


class HighsModel:
    """A Pyomo model living in a persistent ``highspy.Highs`` instance.

    Parameters
    ----------
    model:
        The Pyomo model or block to solve (minimisation of its single active objective).
    name:
        Agent or coordinator name, used in messages.
    options:
        :class:`SolverOptions`.
    relax_integrality:
        Pass binaries as continuous columns (the LP relaxation); see :meth:`set_integer`.
    build_s:
        Seconds the caller spent building the Pyomo model (reported in :class:`SolveStats`).
    """

    def __init__(
        self,
        model: pyo.Block,
        name: str,
        options: SolverOptions | None = None,
        relax_integrality: bool = True,
        build_s: float = 0.0,
    ) -> None:
        self.model = model
        self.ctx = _SolveContext(name)
        self.options = options or SolverOptions()
        self.build_s = build_s
        self._highs = highspy.Highs()
        self._highs.setOptionValue("output_flag", bool(self.options.verbose))
        self._apply_options()
        t0 = time.perf_counter()
        self._cm = _compile(model)
        _check_finite(self._cm, model, name)
        self._col_of: dict[int, int] = {id(v): j for j, v in enumerate(self._cm.columns)}
        self.relax_integrality = relax_integrality
        self._integer = self._cm.is_int.copy() if not relax_integrality else np.zeros_like(self._cm.is_int)
        self._pass_model()
        self.handover_s = time.perf_counter() - t0
        self.x: np.ndarray = np.full(len(self._cm.columns), np.nan)
        self.row_activity: np.ndarray = np.full(len(self._cm.rows), np.nan)
        self.last: SolveStats | None = None
        self._pindex: _ParamIndex | None = None
        self._rows_by_id: dict[int, int] | None = None
        self._var_cols: dict[int, tuple[Any, np.ndarray]] = {}

    # ------------------------------------------------------------------ set-up
    def _apply_options(self) -> None:
        o = self.options
        h = self._highs
        h.setOptionValue("time_limit", float(o.time_limit_s))
        h.setOptionValue("mip_rel_gap", float(o.mip_rel_gap))
        h.setOptionValue("random_seed", int(o.random_seed))
        h.setOptionValue("presolve", "on" if o.presolve else "off")
        h.setOptionValue("solver", o.lp_method)
        h.setOptionValue("run_crossover", "on")
        if o.threads:
            h.setOptionValue("threads", int(o.threads))

    def _pass_model(self) -> None:
        cm = self._cm
        A = cm.A
        status = self._highs.passModel(
            len(cm.columns),
            len(cm.rows),
            int(A.nnz),
            int(highspy.MatrixFormat.kColwise),
            int(highspy.ObjSense.kMinimize),
            float(cm.c_offset),
            cm.c,
            cm.col_lb,
            cm.col_ub,
            cm.row_lb,
            cm.row_ub,
            A.indptr.astype(np.int32),
            A.indices.astype(np.int32),
            A.data.astype(float),
            np.where(self._integer, 1, 0).astype(np.int32),
        )
        if status == highspy.HighsStatus.kError:
            raise SolveError(f"{self.ctx.label()}: HiGHS rejected the model", "model_error", [])

    # ----------------------------------------------------------------- queries
    @property
    def n_rows(self) -> int:
        return len(self._cm.rows)

    @property
    def n_cols(self) -> int:
        return len(self._cm.columns)

    @property
    def n_nonzeros(self) -> int:
        return int(self._cm.A.nnz)

    @property
    def n_binaries_declared(self) -> int:
        return int(self._cm.is_int.sum())

    @property
    def n_integer_active(self) -> int:
        return int(self._integer.sum())

    def columns_of(self, var: Any, index: Iterable[Any] | None = None) -> np.ndarray:
        """Column numbers of an indexed variable (in the order of ``index`` or of the var)."""
        if index is None:  # the whole variable: cached (columns never move without a structure change)
            hit = self._var_cols.get(id(var))
            if hit is not None and hit[0] is var:
                return hit[1]
        keys = list(var.keys()) if index is None else list(index)
        col_of = self._col_of
        cols = np.fromiter((col_of.get(id(var[k]), -1) for k in keys), dtype=np.int64, count=len(keys))
        if index is None:
            cols.setflags(write=False)
            self._var_cols[id(var)] = (var, cols)
        return cols

    def values(self, var: Any, index: Iterable[Any] | None = None) -> np.ndarray:
        """Solution values of an indexed variable as a numpy array (NaN for absent columns)."""
        cols = self.columns_of(var, index)
        out = np.where(cols >= 0, self.x[np.maximum(cols, 0)], np.nan)
        return out

    @property
    def compiled(self) -> _Compiled:
        """The compiled form the live HiGHS instance holds (columns, rows, matrix, bounds; read only)."""
        return self._cm

    def column(self, var: VarData) -> int:
        """Column number of ``var`` (-1 when it is not a column of the model)."""
        return self._col_of.get(id(var), -1)

    def value(self, var: VarData) -> float:
        j = self._col_of.get(id(var))
        return float("nan") if j is None else float(self.x[j])

    def set_case(self, case: str) -> None:
        """Label used in messages (e.g. the study case being solved)."""
        self.ctx.case = case

    # ----------------------------------------------------------------- updates
    def update(self) -> float:
        """Recompile after Param/bound changes and push the differences.  Returns seconds.

        Costs, bounds and coefficients (including entries that appear or vanish) are changed in
        place, so HiGHS keeps its basis for a warm start.  Columns and rows are stable by
        construction (see :func:`_compile`); if the model itself gained or lost components the
        whole model is passed again.
        """
        t0 = time.perf_counter()
        new = _compile(self.model)
        _check_finite(new, self.model, self.ctx.label())
        old = self._cm
        same_structure = (
            len(new.columns) == len(old.columns)
            and len(new.rows) == len(old.rows)
            and all(a is b for a, b in zip(new.columns, old.columns, strict=True))
            and all(a is b for a, b in zip(new.rows, old.rows, strict=True))
        )
        if not same_structure:
            log.debug("%s: structure changed, passing a new model", self.ctx.label())
            # integrality follows the variables: kept where a column survives, declared otherwise
            was_int = {id(v) for v, i in zip(old.columns, self._integer, strict=True) if i}
            old_ids = {id(v) for v in old.columns}
            self._cm = new
            self._rows_by_id = None
            self._var_cols = {}
            self._col_of = {id(v): j for j, v in enumerate(new.columns)}
            self._integer = np.array(
                [id(v) in was_int or (id(v) not in old_ids and not self.relax_integrality and new.is_int[j])
                 for j, v in enumerate(new.columns)],
                dtype=bool,
            )
            self._pass_model()
        else:
            h = self._highs
            j = np.flatnonzero(new.c != old.c).astype(np.int32)
            if j.size:
                h.changeColsCost(j.size, j, new.c[j])
            if new.c_offset != old.c_offset:
                h.changeObjectiveOffset(new.c_offset)
            j = np.flatnonzero((new.col_lb != old.col_lb) | (new.col_ub != old.col_ub)).astype(np.int32)
            if j.size:
                h.changeColsBounds(j.size, j, new.col_lb[j], new.col_ub[j])
            i = np.flatnonzero((new.row_lb != old.row_lb) | (new.row_ub != old.row_ub)).astype(np.int32)
            if i.size:
                h.changeRowsBounds(i.size, i, new.row_lb[i], new.row_ub[i])
            if (
                new.A.nnz == old.A.nnz
                and np.array_equal(new.A.indptr, old.A.indptr)
                and np.array_equal(new.A.indices, old.A.indices)
            ):
                k = np.flatnonzero(new.A.data != old.A.data)
                cols = np.searchsorted(new.A.indptr, k, side="right") - 1
                rows = new.A.indices[k]
                vals = new.A.data[k]
            else:
                diff = (new.A != old.A).tocoo()
                rows, cols = diff.row, diff.col
                vals = np.asarray(new.A[rows, cols]).ravel() if rows.size else np.zeros(0)
            for r, cidx, val in zip(rows.tolist(), cols.tolist(), vals.tolist(), strict=True):
                h.changeCoeff(r, cidx, val)
            self._cm = new
            self._rows_by_id = None
            self._var_cols = {}
        if self._pindex is not None:  # the compiled model holds the current Param values
            self._pindex.snapshot()
        dt = time.perf_counter() - t0
        self.handover_s = dt
        return dt

    def update_params(self) -> float:
        """Push the values of mutable Params that changed since the last compile or update.  Returns seconds.

        The fast path of :meth:`update` for a persistent model that takes new data (a new day): the
        first call indexes which rows, column bounds and objective terms depend on which mutable
        Params (once, about as long as a compile); later calls read every indexed Param, and for
        those whose value changed re-evaluate only the dependent row bounds, coefficients, column
        bounds and costs and push them into HiGHS (the basis is kept, as with :meth:`update`).

        Contract: the model's structure (variables, active constraints, objective) and its fixed
        variables are those of the last compile; after adding, activating or (un)fixing anything call
        :meth:`update` instead.  A new coefficient (an entry that was 0 at compile time) is supported.
        Without :meth:`track_params` first, the first call indexes and then does a full :meth:`update`.
        """
        t0 = time.perf_counter()
        if self._pindex is None:  # the Params may differ from the compiled values already: a full update
            self.track_params()
            self.update()
        else:
            self._pindex.push()
        dt = time.perf_counter() - t0
        self.handover_s += dt
        return dt

    def track_params(self) -> None:
        """Index the model's mutable Params now (call right after construction, before changing any data),
        so the first :meth:`update_params` is already fast."""
        if self._pindex is None:
            self._pindex = _ParamIndex(self)

    # ------------------------------------------------------------- structural deltas (no recompile)
    def fix(self, variables: Sequence[VarData], values: Sequence[float] | np.ndarray | None = None) -> None:
        """Fix ``variables`` in Pyomo (at ``values``, or their current values) and push ``lb = ub`` to HiGHS.

        The delta form of ``v.fix(x)`` followed by :meth:`update`: only the columns of ``variables`` change
        (``changeColsBounds``), the basis is kept.  Pyomo stays the source of the model: a later full
        :meth:`update` compiles the same fixed columns.  A variable that is not a column of the model raises.
        """
        vs = list(variables)
        if not vs:
            return
        vals = [v.value for v in vs] if values is None else [float(x) for x in values]
        if len(vals) != len(vs):
            raise ValueError(f"{self.ctx.label()}: fix got {len(vs)} variables and {len(vals)} values")
        cols = self._columns_of_vars(vs, "fix")
        for v, x in zip(vs, vals, strict=True):
            if x is None or not math.isfinite(x):
                raise ValueError(f"{self.ctx.label()}: cannot fix {v.name} at {x} (a finite value is needed)")
            v.fix(x)
        arr = np.asarray(vals, dtype=float)
        self._set_col_bounds(cols, arr, arr)

    def unfix(self, variables: Sequence[VarData]) -> None:
        """Unfix ``variables`` in Pyomo and push their own bounds (evaluated now, Params included) to HiGHS."""
        vs = list(variables)
        if not vs:
            return
        cols = self._columns_of_vars(vs, "unfix")
        lo = np.empty(len(vs))
        hi = np.empty(len(vs))
        for i, v in enumerate(vs):
            v.unfix()
            lb, ub = v.bounds
            lo[i] = -INF if lb is None else float(lb)
            hi[i] = INF if ub is None else float(ub)
        self._set_col_bounds(cols, lo, hi)

    def add_constraints(self, constraints: Sequence[Any]) -> np.ndarray:
        """Append active Pyomo constraints that are not rows yet (new cuts, rows created on demand) as HiGHS rows.

        Each constraint is compiled alone (its linear form, fixed variables kept as columns as :func:`_compile`
        does) and handed over with one ``addRows``: the basis is kept (the new rows enter basic), nothing else is
        recompiled.  A row that depends on mutable Params is indexed for :meth:`update_params`.  Returns the new
        rows' numbers.  A constraint already in the model, inactive, nonlinear or using a variable that is not a
        column of the model raises.
        """
        cons = list(constraints)
        if not cons:
            return np.zeros(0, dtype=np.int64)
        cm = self._cm
        row_of = self._row_index()
        for con in cons:
            if id(con) in row_of:
                raise ValueError(f"{self.ctx.label()}: {con.name} is a row of the model already (use set_active)")
            if not con.active:
                raise ValueError(f"{self.ctx.label()}: {con.name} is inactive; activate it before adding it")
        lb, ub, entries = self._compile_rows(cons)
        m0 = len(cm.rows)
        rows = np.arange(m0, m0 + len(cons), dtype=np.int64)
        r_idx = np.fromiter((m0 + i for i, _, _ in entries), dtype=np.int64, count=len(entries))
        c_idx = np.fromiter((j for _, j, _ in entries), dtype=np.int64, count=len(entries))
        vals = np.fromiter((a for _, _, a in entries), dtype=float, count=len(entries))
        new = sp.csr_matrix((vals, (r_idx - m0, c_idx)), shape=(len(cons), len(cm.columns)))
        new.sum_duplicates()
        new.sort_indices()
        status = self._highs.addRows(len(cons), lb, ub, int(new.nnz), new.indptr.astype(np.int32),
                                     new.indices.astype(np.int32), new.data.astype(float))
        if status == highspy.HighsStatus.kError:
            raise SolveError(f"{self.ctx.label()}: HiGHS rejected {len(cons)} new rows "
                             f"(first {cons[0].name})", "model_error", [])
        cm.rows.extend(cons)
        cm.row_lb = np.concatenate([cm.row_lb, lb])
        cm.row_ub = np.concatenate([cm.row_ub, ub])
        cm.A = sp.vstack([cm.A, new.tocsc()], format="csc")
        cm.version += 1
        cm.A.sort_indices()
        for i, con in enumerate(cons):
            row_of[id(con)] = m0 + i
        self.row_activity = np.concatenate([self.row_activity, np.full(len(cons), np.nan)])
        if self._pindex is not None:
            self._pindex.index_new_rows(cons)
        return rows

    def remove_constraints(self, constraints: Sequence[Any]) -> None:
        """Delete rows from the live model (``deleteRows``), e.g. cuts of a finished C&CG or the rows a MILP fallback
        added, so the HiGHS model is again exactly what a fresh compile of the Pyomo model gives (a free row left
        behind would change the path of a later cold solve).  Rows after them move up; every index this instance
        keeps is remapped.  The Pyomo constraints are left as they are (deactivate or delete them there)."""
        cons = list(constraints)
        if not cons:
            return
        row_of = self._row_index()
        missing = [c for c in cons if id(c) not in row_of]
        if missing:
            raise ValueError(f"{self.ctx.label()}: {missing[0].name} is not a row of the model")
        idx = np.unique(np.fromiter((row_of[id(c)] for c in cons), dtype=np.int64, count=len(cons)))
        status = self._highs.deleteRows(idx.size, idx.astype(np.int32))
        if status == highspy.HighsStatus.kError:
            raise SolveError(f"{self.ctx.label()}: HiGHS could not delete {idx.size} rows", "model_error", [])
        cm = self._cm
        keep = np.ones(len(cm.rows), dtype=bool)
        keep[idx] = False
        cm.rows = [c for c, k in zip(cm.rows, keep.tolist(), strict=True) if k]
        cm.row_lb, cm.row_ub = cm.row_lb[keep], cm.row_ub[keep]
        cm.A = cm.A[np.flatnonzero(keep), :].tocsc()
        cm.A.sort_indices()
        cm.version += 1
        self.row_activity = self.row_activity[keep] if self.row_activity.size == keep.size else self.row_activity
        self._rows_by_id = None
        if self._pindex is not None:
            self._pindex.remap()

    def set_active(self, constraints: Sequence[Any], active: bool) -> None:
        """(De)activate constraints in Pyomo and in HiGHS without a recompile.

        Deactivating a row keeps it in HiGHS with free bounds ``(-inf, inf)`` (row numbers never shift; to leave
        nothing behind, e.g. before a cold solve that must match a fresh model, use :meth:`remove_constraints`);
        activating restores its bounds and coefficients from Pyomo, or appends it with :meth:`add_constraints`
        when it is not a row (created on demand, or removed).
        """
        cons = list(constraints)
        if not cons:
            return
        row_of = self._row_index()
        known = [c for c in cons if id(c) in row_of]
        fresh = [c for c in cons if id(c) not in row_of]
        for con in cons:
            con.activate() if active else con.deactivate()
        if known:
            idx = np.fromiter((row_of[id(c)] for c in known), dtype=np.int64, count=len(known))
            if active:  # bounds and coefficients as Pyomo has them now (Params may have changed meanwhile)
                lb, ub, entries = self._compile_rows(known)
                writes = [(int(idx[i]), j, a) for i, j, a in entries]
                now = {(r, j) for r, j, _ in writes}
                old = self._cm.A[idx, :].tocoo()
                writes += [(int(idx[r]), int(j), 0.0) for r, j in zip(old.row.tolist(), old.col.tolist(), strict=True)
                           if (int(idx[r]), int(j)) not in now]
                self._set_coefficients(writes)
            else:
                lb, ub = np.full(len(known), -INF), np.full(len(known), INF)
            cm = self._cm
            cm.row_lb[idx] = lb
            cm.row_ub[idx] = ub
            self._highs.changeRowsBounds(idx.size, idx.astype(np.int32), lb, ub)
        if fresh and active:
            self.add_constraints(fresh)

    def _row_index(self) -> dict[int, int]:
        if self._rows_by_id is None or len(self._rows_by_id) != len(self._cm.rows):
            self._rows_by_id = {id(con): i for i, con in enumerate(self._cm.rows)}
        return self._rows_by_id

    def _columns_of_vars(self, variables: Sequence[VarData], what: str) -> np.ndarray:
        cols = np.fromiter((self._col_of.get(id(v), -1) for v in variables), dtype=np.int64, count=len(variables))
        if (cols < 0).any():
            v = variables[int(np.flatnonzero(cols < 0)[0])]
            raise ValueError(f"{self.ctx.label()}: cannot {what} {v.name}: it is not a column of the model")
        return cols

    def _set_col_bounds(self, cols: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        cm = self._cm
        cm.col_lb[cols] = lo
        cm.col_ub[cols] = hi
        self._highs.changeColsBounds(cols.size, cols.astype(np.int32), np.asarray(lo, dtype=float),
                                     np.asarray(hi, dtype=float))

    def _compile_rows(self, cons: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, float]]]:
        """Row bounds and ``(row position in cons, column, coefficient)`` of linear constraints, fixed variables
        taken as columns (as :func:`_compile`)."""
        from pyomo.core.expr.visitor import identify_variables
        from pyomo.repn import generate_standard_repn

        lb = np.empty(len(cons))
        ub = np.empty(len(cons))
        entries: list[tuple[int, int, float]] = []
        col_of = self._col_of
        for i, con in enumerate(cons):
            fixed = [v for v in identify_variables(con.body, include_fixed=True) if v.fixed]
            vals = [v.value for v in fixed]
            for v in fixed:
                v.unfix()
            try:
                repn = generate_standard_repn(con.body, compute_values=True, quadratic=False)
            finally:
                for v, x in zip(fixed, vals, strict=True):
                    v.fix(x)
            if not repn.is_linear():
                raise ValueError(f"{self.ctx.label()}: {con.name} is not linear; it cannot be a row")
            c0 = float(pyo.value(repn.constant)) if repn.constant is not None else 0.0
            lo, hi = con.lb, con.ub
            lb[i] = -INF if lo is None else float(lo) - c0
            ub[i] = INF if hi is None else float(hi) - c0
            for a, v in zip(repn.linear_coefs, repn.linear_vars, strict=True):
                j = col_of.get(id(v))
                if j is None:
                    raise ValueError(f"{self.ctx.label()}: {con.name} uses {v.name}, not a column of the model")
                if a != 0:
                    entries.append((i, j, float(a)))
        if not (np.isfinite(np.where(np.abs(lb) >= INF, 0.0, lb)).all()
                and np.isfinite(np.where(np.abs(ub) >= INF, 0.0, ub)).all()
                and all(math.isfinite(a) for _, _, a in entries)):
            raise _bad_params(self.ctx.label(), [f"(a row of {cons[0].parent_component().name} is not finite)"])
        return lb, ub, entries

    def _set_coefficients(self, entries: list[tuple[int, int, float]]) -> None:
        """Write ``(row, col, value)`` entries into HiGHS and the compiled matrix (see :class:`_ParamIndex`)."""
        _write_coefficients(self, entries)

    def clear_solver(self) -> None:
        """Forget the basis and solution but keep the model: the next solve starts cold, so its result
        does not depend on what this instance solved before."""
        self._highs.clearSolver()

    def set_integer(self, columns: np.ndarray | Sequence[int], integer: bool = True) -> None:
        """Make the given columns integer (or continuous again) in the live model."""
        cols = np.asarray(columns, dtype=np.int32)
        if cols.size == 0:
            return
        self._integer[cols] = integer
        self._highs.changeColsIntegrality(
            cols.size, cols, np.full(cols.size, 1 if integer else 0, dtype=np.uint8)
        )

    def relax_all(self) -> None:
        self.set_integer(np.flatnonzero(self._integer), integer=False)

    def set_all_declared_integer(self) -> None:
        self.set_integer(np.flatnonzero(self._cm.is_int & ~self._integer), integer=True)

    # ------------------------------------------------------------------- solve
    def fix_columns(self, columns: np.ndarray, values: np.ndarray) -> None:
        """Fix columns in the live model (bounds ``lb = ub = value``); undo with :meth:`unfix_columns`."""
        cols = np.asarray(columns, dtype=np.int32)
        if cols.size:
            vals = np.asarray(values, dtype=float)
            self._highs.changeColsBounds(cols.size, cols, vals, vals)

    def unfix_columns(self, columns: np.ndarray) -> None:
        """Restore the compiled bounds of columns fixed with :meth:`fix_columns`."""
        cols = np.asarray(columns, dtype=np.int32)
        if cols.size:
            self._highs.changeColsBounds(cols.size, cols, self._cm.col_lb[cols], self._cm.col_ub[cols])

    def solve(
        self, *, raise_on_failure: bool = True, path: str = "", lp_method: LpMethod | None = None,
        simplex: Literal["dual", "primal"] | None = None, _cold_retry: bool = True,
    ) -> SolveStats:
        """Solve; return :class:`SolveStats`.  Raises :class:`SolveError` unless optimal.

        A MIP that hits the time limit with a feasible incumbent is returned (status
        ``time_limit``) only when ``raise_on_failure`` is False, so callers that accept an
        incumbent must say so explicitly.

        An "optimal" whose unscaled solution misses rows or bounds by more than
        :data:`ACCEPT_PRIMAL_INFEASIBILITY` (seen on warm starts after columns were fixed: a fixed column
        left basic came back 1.5e-6 off its value) is solved once more from a cold start (presolve
        removes fixed columns); if that is imprecise too the status is ``"imprecise"``, never an
        optimum with a NaN objective.
        """
        h = self._highs
        method = lp_method or self.options.lp_method
        h.setOptionValue("solver", method)
        strategy = h.getOptionValue("simplex_strategy")
        strategy = strategy[1] if isinstance(strategy, tuple) else strategy  # (status, value) in highspy 1.x
        if simplex is not None:  # this solve only: e.g. the primal simplex from a basis that stays primal feasible
            h.setOptionValue("simplex_strategy", SIMPLEX_STRATEGY[simplex])
        t0 = time.perf_counter()
        try:
            h.run()
        finally:
            if simplex is not None:
                h.setOptionValue("simplex_strategy", strategy)
        solve_s = time.perf_counter() - t0
        ms = h.getModelStatus()
        info = h.getInfo()
        is_mip = bool(self._integer.any())
        status = _status_name(ms)
        t1 = time.perf_counter()
        has_primal = info.primal_solution_status == 2  # kSolutionStatusFeasible
        if not has_primal and status == "optimal" and info.primal_solution_status == 1 \
                and 0 <= info.max_primal_infeasibility <= ACCEPT_PRIMAL_INFEASIBILITY:
            # "optimal" whose unscaled residuals exceed the 1e-7 feasibility tolerance a little (e.g. rows
            # whose columns are all fixed at the values of an earlier solve, as the MPC replay fixes its past)
            log.debug("%s: optimal with max primal infeasibility %.1e: accepted", self.ctx.label(),
                      info.max_primal_infeasibility)
            has_primal = True
        if status == "optimal" and not has_primal:
            # "optimal" but the unscaled solution is off by more than is accepted: no usable solution (its
            # objective would be NaN and reach the caller's next Param, e.g. a lexicographic cost cap)
            status = "imprecise"
            if _cold_retry:
                log.info("%s: optimal with max primal infeasibility %.1e: solving again from a cold start",
                         self.ctx.label(), info.max_primal_infeasibility)
                h.clearSolver()
                return self.solve(raise_on_failure=raise_on_failure, path=path, lp_method=lp_method,
                                  simplex=simplex, _cold_retry=False)
        if has_primal:
            sol = h.getSolution()
            self.x = np.asarray(sol.col_value, dtype=float)
            self.row_activity = np.asarray(sol.row_value, dtype=float)
        extract_s = time.perf_counter() - t1
        if is_mip:
            obj = float(info.objective_function_value) if has_primal else math.nan
            bound = float(info.mip_dual_bound)
            gap = float(info.mip_gap) if has_primal else math.inf
        else:
            obj = float(info.objective_function_value) if has_primal else math.nan
            bound = obj
            gap = 0.0 if status == "optimal" else math.inf
        stats = SolveStats(
            name=self.ctx.label(),
            status=status,
            objective=obj,
            dual_bound=bound,
            mip_gap=gap,
            is_mip=is_mip,
            n_rows=self.n_rows,
            n_cols=self.n_cols,
            n_nonzeros=self.n_nonzeros,
            n_binaries_declared=self.n_binaries_declared,
            n_integer_active=self.n_integer_active,
            build_s=self.build_s,
            handover_s=self.handover_s,
            solve_s=solve_s,
            extract_s=extract_s,
            simplex_iterations=max(0, int(info.simplex_iteration_count)),
            ipm_iterations=max(0, int(info.ipm_iteration_count)),
            mip_nodes=int(info.mip_node_count) if is_mip else 0,
            lp_method=method,
            path=path,
        )
        self.last = stats
        # the next solve of the same model costs no build, and no hand-over until update()
        self.build_s = 0.0
        self.handover_s = 0.0
        log.debug(
            "%s: %s obj=%.6g gap=%.2e solve=%.2fs", stats.name, status, obj, gap, solve_s
        )
        if status == "imprecise" and raise_on_failure:
            raise SolveError(
                f"{self.ctx.label()}: HiGHS reports an optimum whose solution violates rows or bounds by "
                f"{info.max_primal_infeasibility:.3g} (more than the {ACCEPT_PRIMAL_INFEASIBILITY:g} accepted), so "
                "there is no usable solution; rows whose columns are all fixed (an executed past, a carried "
                "state) that do not hold to round-off cause this", status, [])
        if status != "optimal" and raise_on_failure:
            raise self._failure(status)
        return stats

    def _failure(self, status: str) -> SolveError:
        """The :class:`SolveError` of a solve that ended in ``status``: for an infeasible model the
        constraint families an elastic re-solve must violate (with their periods); when none can be named,
        or for any other status, what is known instead (:meth:`conditioning_notes`)."""
        label = self.ctx.label()
        name = self.ctx.name
        if status in ("infeasible", "unbounded_or_infeasible"):
            fams = self.diagnose()
            notes, suspects = ([], []) if fams else self.conditioning_notes()
            lines = [f"  - {f.family}: total violation {f.violation:.6g} (e.g. {', '.join(f.examples)})"
                     for f in fams]
            if fams:
                msg = (f"{label}: the model is infeasible. Constraint families that cannot be met "
                       f"(from an elastic re-solve with penalised slacks):\n" + "\n".join(lines))
            else:
                msg = (f"{label}: the model is infeasible and the elastic re-solve names no constraint family; "
                       + "; ".join(notes))
            return SolveError(msg, status, [f.legacy() for f in fams], families=fams, model=name, notes=notes,
                              suspects=suspects)
        if status == "time_limit":
            gap = self.last.mip_gap if self.last else math.nan
            notes = [f"time limit of {self.options.time_limit_s:g} s reached before optimality (gap {gap:.3g}); "
                     "raise the time limit (--time-limit) or relax mip_rel_gap"]
            return SolveError(f"{label}: {notes[0]}", status, [], model=name, notes=notes)
        more, suspects = self.conditioning_notes()
        notes = [f"HiGHS finished with status '{status}'", *more]
        return SolveError(f"{label}: " + "; ".join(notes), status, [], model=name, notes=notes, suspects=suspects)

    def conditioning_notes(self, badly_scaled: float = 1e9) -> tuple[list[str], list[str]]:
        """What the compiled model shows when no violated family can be named: columns and rows whose
        bounds cross (lower above upper), and the range of the nonzero coefficient magnitudes and of the
        finite bounds, with the row or column of the largest; "badly scaled" when a magnitude exceeds
        ``badly_scaled`` or the coefficients span more than that ratio (HiGHS then cannot trust its
        tolerances).  Returns the notes (never empty) and the families (component names) they implicate:
        those of crossing bounds and of a badly scaled largest bound."""
        cm = self._cm
        notes: list[str] = []
        suspects: list[str] = []
        cols = np.flatnonzero(cm.col_lb > cm.col_ub + 1e-9)
        suspects += [f"bounds of {cm.columns[j].parent_component().name}" for j in cols[:3]]
        if cols.size:
            notes.append("bounds that cross: " + ", ".join(
                f"{cm.columns[j].name} lb {cm.col_lb[j]:g} > ub {cm.col_ub[j]:g}" for j in cols[:3]))
        rows = np.flatnonzero(cm.row_lb > cm.row_ub + 1e-9)
        suspects += [constraint_family(cm.rows[i]) for i in rows[:3]]
        if rows.size:
            notes.append("rows whose bounds cross: " + ", ".join(
                f"{cm.rows[i].name} lb {cm.row_lb[i]:g} > ub {cm.row_ub[i]:g}" for i in rows[:3]))
        mags = np.abs(cm.A.data[cm.A.data != 0])
        if mags.size:
            lo, hi = float(mags.min()), float(mags.max())
            ratio = hi / lo if lo > 0 else math.inf
            text = f"matrix coefficients |a| in [{lo:.3g}, {hi:.3g}]"
            if hi > badly_scaled or ratio > badly_scaled:
                text += " (badly scaled)"
            notes.append(text)
        bound_kinds = ((cm.row_lb, "row", cm.rows), (cm.row_ub, "row", cm.rows),
                       (cm.col_lb, "column", cm.columns), (cm.col_ub, "column", cm.columns))
        best: tuple[float, str, Any] | None = None
        for values, kind, items in bound_kinds:
            finite = np.isfinite(values) & (np.abs(values) < INF)
            if finite.any():
                i = int(np.argmax(np.where(finite, np.abs(values), -1.0)))
                if best is None or abs(values[i]) > best[0]:
                    best = (abs(float(values[i])), kind, items[i])
        if best is not None:
            text = f"largest finite bound {best[0]:.3g} (on {best[1]} {best[2].name})"
            if best[0] > badly_scaled:
                text += " (badly scaled: check the input that sets it)"
                fam = constraint_family(best[2]) if best[1] == "row" else f"bounds of {best[2].parent_component().name}"
                suspects.append(fam)
            notes.append(text)
        notes = notes or [f"{len(cm.rows)} rows, {len(cm.columns)} columns, nothing else known"]
        return notes, list(dict.fromkeys(suspects))

    def diagnose(self, top: int = 8) -> list[FamilyFailure]:
        """Find the constraint families an elastic copy must violate to become feasible, with the periods
        (:class:`FamilyFailure`) in which they are violated.

        Every row ``lb <= a x <= ub`` becomes ``lb <= a x + s+ - s- <= ub`` with ``s+, s- >= 0``
        at cost 1 each and the original objective dropped; integrality is kept.  Columns whose
        own bounds cross (``lb > ub``) are reported directly.  A row counts as violated when its slack
        exceeds 1e-7; its period is its index in the constraint's time set (see :class:`FamilyFailure`).
        The ``top`` families with the largest total violation are returned, largest first.
        """
        cm = self._cm
        out: dict[str, float] = defaultdict(float)
        examples: dict[str, list[str]] = defaultdict(list)
        periods: dict[str, set[int]] = defaultdict(set)
        steps: dict[str, float] = {}
        bad_cols = np.flatnonzero(cm.col_lb > cm.col_ub + 1e-9)
        for j in bad_cols:
            v = cm.columns[j]
            fam = f"bounds of {v.parent_component().name}"
            out[fam] += float(cm.col_lb[j] - cm.col_ub[j])
            if len(examples[fam]) < 3:
                examples[fam].append(f"{v.name}: lb {cm.col_lb[j]:g} > ub {cm.col_ub[j]:g}")
            where = _time_position(v)
            t = _period_of(v, where)
            if where is not None and t is not None:
                periods[fam].add(t)
                steps[fam] = where[1]
        m = len(cm.rows)
        n = len(cm.columns)
        eye = sp.identity(m, format="csc")
        A2 = sp.hstack([cm.A, eye, -eye], format="csc")
        c2 = np.concatenate([np.zeros(n), np.ones(2 * m)])
        lb2 = np.concatenate([np.minimum(cm.col_lb, cm.col_ub), np.zeros(2 * m)])
        ub2 = np.concatenate([np.maximum(cm.col_lb, cm.col_ub), np.full(2 * m, INF)])
        integ = np.concatenate([self._integer, np.zeros(2 * m, dtype=bool)]).astype(np.int32)
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("time_limit", float(self.options.time_limit_s))
        h.passModel(
            n + 2 * m, m, int(A2.nnz), int(highspy.MatrixFormat.kColwise), int(highspy.ObjSense.kMinimize),
            0.0, c2, lb2, ub2, cm.row_lb, cm.row_ub,
            A2.indptr.astype(np.int32), A2.indices.astype(np.int32), A2.data.astype(float), integ,
        )
        h.run()
        if h.getInfo().primal_solution_status == 2:
            x = np.asarray(h.getSolution().col_value)
            viol = x[n : n + m] + x[n + m :]
            where_of: dict[str, tuple[int, float] | None] = {}
            for i in np.flatnonzero(viol > 1e-7):
                con = cm.rows[i]
                fam = constraint_family(con)
                out[fam] += float(viol[i])
                if len(examples[fam]) < 3:
                    examples[fam].append(f"{con.name} short by {viol[i]:.4g}")
                if fam not in where_of:
                    where_of[fam] = _time_position(con)
                where = where_of[fam]
                t = _period_of(con, where)
                if where is not None and t is not None:
                    periods[fam].add(t)
                    steps[fam] = where[1]
        ranked = sorted(out.items(), key=lambda kv: -kv[1])[:top]
        return [FamilyFailure(fam, viol, tuple(examples[fam]), tuple(sorted(periods[fam])), steps.get(fam))
                for fam, viol in ranked]


_SUMS = ("NPV_SumExpression", "SumExpression", "LinearExpression")

#: The place of one argument in a template (:class:`_ParamIndex`): a literal float, a Param's position in ``P`` or a
#: Pyomo expression evaluated by Pyomo.
_ARG = "\x00"

#: A symbolic expression as a template and its arguments, in the order their places appear in the template.
Piece = tuple[str, list[Any]]

#: A sum of more terms than this is a :class:`_LongSum` in its template.
LONG_SUM = 16

#: A row with more symbolic coefficients than this evaluates them as arrays (:class:`_VectorTerms`), not as one
#: function whose template would be unique to the row and long to compile.
VECTOR_COEFFICIENTS = 16

#: Compiled templates, shared by every model in the process: template -> ``lambda a0, a1, ...: lambda P: <expr>``.
_FACTORIES: dict[str, Any] = {}


#: What a node of a Param expression is, by its type (see :func:`_node_kind`).
_NODE_KIND: dict[type, str] = {}

_OPERATOR_KIND = {"NPV_ProductExpression": "prod", "ProductExpression": "prod", "NPV_DivisionExpression": "div",
                  "DivisionExpression": "div", "NPV_NegationExpression": "neg", "NegationExpression": "neg",
                  "NPV_PowExpression": "pow", "PowExpression": "pow"}


def _node_kind(e: Any) -> str:
    """``num`` (a number), ``leaf`` (a Param, a constant), ``named`` (a named expression), ``sum``, ``prod``,
    ``div``, ``neg``, ``pow`` or ``other`` (left to Pyomo): a property of the node's type, cached per type."""
    if isinstance(e, int | float):
        kind = "num"
    elif not e.is_expression_type():
        kind = "leaf"
    elif e.is_named_expression_type():
        kind = "named"
    else:
        name = type(e).__name__
        kind = "sum" if name in _SUMS else _OPERATOR_KIND.get(name, "other")
    _NODE_KIND[type(e)] = kind
    return kind


def _fallback_value(e: Any) -> float:
    """An expression the templates do not translate, evaluated by Pyomo."""
    return float(pyo.value(e))


def _compile_templates(templates: Iterable[str]) -> None:
    """Compile the templates not compiled yet (all in one ``compile`` call) into :data:`_FACTORIES`.

    A template is Python source in ``P`` with :data:`_ARG` where an argument goes; its factory takes the
    arguments ``a0, a1, ...`` in order and returns the function ``P -> value``.  The same factory works on numbers
    (one expression) and on numpy arrays (a group of expressions of that template, elementwise): ``+ - * /`` on
    float64 arrays round exactly as on Python floats.
    """
    new = [t for t in dict.fromkeys(templates) if t not in _FACTORIES]
    if not new:
        return
    sources = []
    for t in new:
        parts = t.split(_ARG)
        body = parts[0] + "".join(f"a{i}{part}" for i, part in enumerate(parts[1:]))
        sources.append(f"lambda {', '.join(f'a{i}' for i in range(len(parts) - 1))}: lambda P: {body}")
    space: dict[str, Any] = {"V": _fallback_value}
    made = eval(compile("(" + ",\n".join(sources) + ",)", "<update_params>", "eval"), space)  # built above
    _FACTORIES.update(zip(new, made, strict=True))


class _LongSum:
    """A sum of many Param expressions (a row's constant that adds up a day of prices), evaluated term by term from
    left to right, as Python adds the written-out sum: each term is a function of a small template shared across
    rows, so the sum costs no compile of its own."""

    def __init__(self, pieces: Sequence[Piece]) -> None:
        _compile_templates(t for t, _ in pieces)
        self.terms = [_FACTORIES[t](*args) for t, args in pieces]

    def __call__(self, P: list[float]) -> float:
        first, *rest = self.terms
        total = first(P)
        for term in rest:
            total = total + term(P)
        return total


def _tuple_piece(parts: Sequence[float | Piece]) -> Piece:
    """The pieces (or literal floats) ``parts`` as one piece that evaluates to their tuple."""
    srcs: list[str] = []
    args: list[Any] = []
    for part in parts:
        if isinstance(part, float):
            srcs.append(_ARG)
            args.append(part)
        else:
            srcs.append(part[0])
            args.extend(part[1])
    return "(" + ", ".join(srcs) + ",)", args


class _VectorTerms:
    """Many expressions of Params evaluated at once (the objective's symbolic costs): grouped by template, each group
    is one numpy evaluation over its members' arguments; a template with Pyomo fallbacks, a power or a long sum is
    evaluated one expression at a time (``**`` on arrays need not round as on floats)."""

    def __init__(self, pieces: Sequence[Piece]) -> None:
        self.n = len(pieces)
        members: dict[str, list[int]] = defaultdict(list)
        for i, (template, _) in enumerate(pieces):
            members[template].append(i)
        _compile_templates(members)
        self.groups: list[tuple[np.ndarray, Any, bool]] = []
        for template, idx in members.items():
            make = _FACTORIES[template]
            if "V(" in template or "**" in template or "(P)" in template:
                self.groups.append((np.asarray(idx), [make(*pieces[i][1]) for i in idx], False))
            else:
                columns = [np.asarray(col) for col in zip(*(pieces[i][1] for i in idx), strict=True)]
                self.groups.append((np.asarray(idx), make(*columns), True))

    def __call__(self, values: np.ndarray, P: list[float]) -> np.ndarray:
        out = np.empty(self.n)
        with np.errstate(all="ignore"):  # a division by zero gives inf, which the caller reports
            for idx, fn, vectorised in self.groups:
                out[idx] = fn(values) if vectorised else [f(P) for f in fn]
        return out


class _ParamIndex:
    """Which rows, column bounds and objective terms of a :class:`HighsModel` depend on which mutable Params.

    Built by :meth:`HighsModel.track_params`.  Per dependent row it keeps the row's linear form with the
    Params left symbolic (``generate_standard_repn(..., compute_values=False)``, fixed variables taken as
    columns as :func:`_compile` does): its constant, bounds and the coefficients that are expressions.
    Each symbolic expression is translated once into a Python function of the Params' values (the same
    arithmetic, in the same order, as Pyomo's evaluation), so :meth:`push` evaluates only what depends
    on a changed Param, at Python speed.

    The translation is a *template* and its arguments: the expression's source with a place for every literal
    float and every Param position (``(P[3] * 0.25)`` is the template ``(P[·] * ·)`` with arguments ``3, 0.25``).
    Rows of one family share a template, so a model of tens of thousands of rows compiles a few dozen templates
    (cached per process, :data:`_FACTORIES`) and makes each row's function by calling the template's factory with
    its arguments; the objective's symbolic costs are evaluated per template as numpy arrays (:class:`_VectorTerms`).
    """

    def __init__(self, hm: HighsModel) -> None:
        self.hm = hm
        self.params: list[Any] = []
        self._pos: dict[int, int] = {}
        self.deps: list[list[tuple[str, Any]]] = []
        # row id -> (con, function of its bounds P -> (constant, lower, upper), of its symbolic coefficients
        # (an index into _fns or a _VectorTerms; -1: none), their columns)
        self.rows: dict[int, tuple[Any, int, Any, list[Any]]] = {}
        self.cols: dict[int, tuple[VarData, Any, Any]] = {}
        self.obj: tuple[Any, _VectorTerms | None, list[VarData]] | None = None
        self._static_terms: list[tuple[VarData, float]] = []
        self._obj_cols: tuple[Any, int, np.ndarray, np.ndarray, np.ndarray] | None = None
        self._cm: _Compiled | None = None
        self._row_of: dict[int, int] = {}
        self.values = np.zeros(0)
        self._src: list[Piece] = []
        self._fns: list[Any] = []
        self.sync()

    # ------------------------------------------------------------------ expressions
    def _param_position(self, p: Any) -> int:
        k = self._pos.get(id(p))
        if k is None:
            k = self._pos[id(p)] = len(self.params)
            self.params.append(p)
            self.deps.append([])
        return k

    def _source(self, e: Any, ks: list[int], args: list[Any]) -> str:
        """Template of the Param-only expression ``e`` (see the class): ``ks`` gets the positions of the Params it
        reads, ``args`` the template's arguments in order."""
        kind = _NODE_KIND.get(type(e)) or _node_kind(e)
        if kind == "num":
            args.append(float(e))
            return _ARG
        if kind == "leaf":
            if e.is_parameter_type() and not e.is_constant():  # a mutable Param
                k = self._param_position(e)
                ks.append(k)
                args.append(k)
                return "P[" + _ARG + "]"
            args.append(float(pyo.value(e)))
            return _ARG
        if kind == "named":
            return self._source(e.expr, ks, args)
        if kind == "sum":
            # a left-nested sum ((a + b) + c) + d is written flat: Python adds left to right, the same way
            terms: list[Any] = []
            node = e
            while (_NODE_KIND.get(type(node)) or _node_kind(node)) == "sum" and node.args:
                terms = list(node.args[1:]) + terms
                node = node.args[0]
            terms = [node, *terms]
            if len(terms) > LONG_SUM:  # its own function of small shared templates, not one long unique template
                pieces: list[Piece] = []
                for x in terms:
                    term_args: list[Any] = []
                    pieces.append((self._source(x, ks, term_args), term_args))
                args.append(_LongSum(pieces))
                return "(" + _ARG + "(P))"
            return "(" + " + ".join([self._source(x, ks, args) for x in terms]) + ")"
        n_args, n_ks = len(args), len(ks)
        srcs = [self._source(x, ks, args) for x in e.args]
        if kind == "prod" and len(srcs) == 2:
            return f"({srcs[0]} * {srcs[1]})"
        if kind == "div" and len(srcs) == 2:
            return f"({srcs[0]} / {srcs[1]})"
        if kind == "neg" and len(srcs) == 1:
            return f"(-{srcs[0]})"
        if kind == "pow" and len(srcs) == 2:
            return f"({srcs[0]} ** {srcs[1]})"
        # anything else: Pyomo evaluates it (the arguments' pieces above are dropped); it still depends on its Params
        from pyomo.core.expr.visitor import identify_mutable_parameters

        del args[n_args:], ks[n_ks:]
        ks.extend(self._param_position(p) for p in identify_mutable_parameters(e))
        args.append(e)
        return "V(" + _ARG + ")"

    def _part(self, e: Any, ks: list[int]) -> float | Piece:
        """One part of a row, bound or cost: a float if no mutable Param feeds it (NaN: no bound), else its piece;
        ``ks`` gets the positions of the Params it reads."""
        if e is None:
            return math.nan
        if isinstance(e, int | float):
            return float(e)
        found: list[int] = []
        args: list[Any] = []
        src = self._source(e, found, args)
        if not found:
            return float(pyo.value(e))
        ks.extend(found)
        return src, args

    def _expr(self, e: Any, ks: list[int]) -> Any:
        """``e`` as a float (no Param in it), ``None`` (no bound) or ``("f", i)``: function ``i`` of the Params."""
        if e is None:
            return None
        part = self._part(e, ks)
        if isinstance(part, float):
            return part
        self._src.append(part)
        return ("f", len(self._fns) + len(self._src) - 1)

    def _flush(self) -> None:
        """Make the functions of the pieces indexed since the last flush (compiling only new templates)."""
        if not self._src:
            return
        _compile_templates(t for t, _ in self._src)
        self._fns.extend(_FACTORIES[t](*args) for t, args in self._src)
        self._src = []

    @staticmethod
    def _eval(x: Any, P: list[float], fns: list[Any]) -> float:
        if x is None or isinstance(x, float):
            return math.nan if x is None else x
        return float(fns[x[1]](P))

    # ------------------------------------------------------------------ indexing
    def _index_row(self, con: Any) -> None:
        """Index one row that depends on a Param: a function ``P -> (constant, lower, upper)`` (NaN for a bound that
        is absent) for its bounds and one ``P -> (coefficients...)`` for its symbolic coefficients with their
        columns, each with its own Params (a cost cap changes the bound of a row whose many coefficients are
        prices: only the bound is evaluated again)."""
        from pyomo.repn import generate_standard_repn

        try:  # one standardisation, not one per body / lower / upper property
            lower, body, upper = con.to_bounded_expression()
        except ValueError:  # not standard now (a ranged row with a bound on a variable): as the properties give it
            lower, body, upper = con.lower, con.body, con.upper
        kb: list[int] = []
        kc: list[int] = []
        cols = []
        coefs: list[Piece] = []
        repn = generate_standard_repn(body, compute_values=False, quadratic=False)
        bounds = [self._part(repn.constant, kb), self._part(lower, kb), self._part(upper, kb)]
        for c, v in zip(repn.linear_coefs, repn.linear_vars, strict=True):
            if not isinstance(c, int | float):
                part = self._part(c, kc)
                if not isinstance(part, float):
                    cols.append(v)
                    coefs.append(part)
        if not (kb or kc):
            return
        fb = -1
        fc: int | _VectorTerms = -1
        if kb:
            self._src.append(_tuple_piece(bounds))
            fb = len(self._fns) + len(self._src) - 1
        if kc and len(coefs) > VECTOR_COEFFICIENTS:  # e.g. a cost cap's row of prices: evaluated as arrays
            fc = _VectorTerms(coefs)
        elif kc:
            self._src.append(_tuple_piece(coefs))
            fc = len(self._fns) + len(self._src) - 1
        self.rows[id(con)] = (con, fb, fc, cols)
        for k in set(kb):
            self.deps[k].append(("rowb", id(con)))
        for k in set(kc):
            self.deps[k].append(("rowc", id(con)))

    def sync(self) -> None:
        """(Re)map rows and columns to the compiled model; index rows and columns not seen before."""
        cm = self.hm._cm
        if cm is self._cm:
            return
        first = self._cm is None
        seen_rows = {id(con) for con, *_ in self.rows.values()} if not first else set()
        indexed: set[int] = getattr(self, "_indexed_rows", set())
        fixed = [v for v in cm.columns if v.fixed]
        vals = [v.value for v in fixed]
        for v in fixed:  # as in _compile: fixed variables are columns, not constants
            v.unfix()
        try:
            for con in cm.rows:
                if first or (id(con) not in seen_rows and id(con) not in indexed):
                    self._index_row(con)
                    indexed.add(id(con))
            self._indexed_rows: set[int] = indexed
            if first:
                for v in cm.columns:
                    ks: list[int] = []
                    lo = self._expr(v.lower, ks)
                    hi = self._expr(v.upper, ks)
                    if ks:
                        self.cols[id(v)] = (v, lo, hi)
                        for k in set(ks):
                            self.deps[k].append(("col", id(v)))
                from pyomo.repn import generate_standard_repn

                objs = list(self.hm.model.component_data_objects(pyo.Objective, active=True, descend_into=True))
                if len(objs) == 1:
                    repn = generate_standard_repn(objs[0].expr, compute_values=False, quadratic=False)
                    ks = []
                    const = self._expr(repn.constant, ks)
                    static: list[tuple[VarData, float]] = []
                    pieces: list[Piece] = []
                    obj_vars: list[VarData] = []
                    for c, v in zip(repn.linear_coefs, repn.linear_vars, strict=True):
                        part = self._part(c, ks)
                        if isinstance(part, float):
                            static.append((v, part))
                        else:  # the symbolic costs are evaluated together, per template (_VectorTerms)
                            pieces.append(part)
                            obj_vars.append(v)
                    self._static_terms = static
                    if ks:
                        self.obj = (const, _VectorTerms(pieces) if pieces else None, obj_vars)
                        for k in set(ks):
                            self.deps[k].append(("obj", None))
        finally:
            for v, val in zip(fixed, vals, strict=True):
                v.fix(val)
        self._flush()
        self._cm = cm
        self._row_of = {id(con): i for i, con in enumerate(cm.rows)}
        if first:  # a re-sync after HighsModel.update must not take later Param changes as pushed already
            self.snapshot()

    def remap(self) -> None:
        """The compiled model's rows moved (rows deleted): map each indexed row to its new position."""
        self._row_of = {id(con): i for i, con in enumerate(self.hm._cm.rows)}

    def snapshot(self) -> None:
        """Take the Params' current values as the ones the live model holds."""
        self.values = _param_values(self.params)

    # ------------------------------------------------------------------ pushing
    def push(self) -> None:
        self.sync()
        hm, cm, h = self.hm, self.hm._cm, self.hm._highs
        now = _param_values(self.params)
        if np.isnan(now).any():
            bad = [f"{self.params[k].name} = {self.params[k].value}" for k in np.flatnonzero(np.isnan(now))[:5]]
            raise _bad_params(self.hm.ctx.label(), bad)
        changed = np.flatnonzero(~((now == self.values) | (np.isnan(now) & np.isnan(self.values))))
        if changed.size == 0:
            return
        P = now.tolist()
        fns = self._fns
        ev = self._eval
        rows_b: set[int] = set()
        rows_c: set[int] = set()
        cols: set[int] = set()
        obj = False
        for k in changed.tolist():
            for kind, key in self.deps[k]:
                if kind == "rowb":
                    rows_b.add(key)
                elif kind == "rowc":
                    rows_c.add(key)
                elif kind == "col":
                    cols.add(key)
                else:
                    obj = True
        col_of = hm._col_of
        entries: list[tuple[int, int, float]] = []
        r_idx: list[int] = []
        r_lb: list[float] = []
        r_ub: list[float] = []
        row_lb, row_ub = cm.row_lb, cm.row_ub
        for key in rows_b:
            i = self._row_of.get(key)
            if i is None:  # a row no longer in the model
                continue
            con, fb, _, _ = self.rows[key]
            if not con.active:  # a deactivated row stays free (HighsModel.set_active)
                continue
            c0, lo, hi = fns[fb](P)
            lb = -INF if lo != lo else lo - c0  # NaN: no bound
            ub = INF if hi != hi else hi - c0
            if lb != row_lb[i] or ub != row_ub[i]:
                r_idx.append(i)
                r_lb.append(lb)
                r_ub.append(ub)
        for key in rows_c:
            i = self._row_of.get(key)
            if i is None:
                continue
            con, _, fc, cols_ = self.rows[key]
            if not con.active:
                continue
            for v, x in zip(cols_, fc(now, P) if isinstance(fc, _VectorTerms) else fns[fc](P), strict=True):
                j = col_of.get(id(v))
                if j is not None:
                    entries.append((i, j, x))
        if r_idx:
            idx = np.asarray(r_idx, dtype=np.int32)
            cm.row_lb[idx] = r_lb
            cm.row_ub[idx] = r_ub
            h.changeRowsBounds(idx.size, idx, np.asarray(r_lb), np.asarray(r_ub))
        if any(not math.isfinite(x) for _, _, x in entries):
            raise _bad_params(hm.ctx.label(), self._infinite(changed, now))
        self._set_coefficients(entries)
        c_idx: list[int] = []
        c_lb: list[float] = []
        c_ub: list[float] = []
        for key in cols:
            v, lower, upper = self.cols[key]
            j = col_of.get(key)
            if j is None or v.fixed:
                continue
            lb = -INF if lower is None else ev(lower, P, fns)
            ub = INF if upper is None else ev(upper, P, fns)
            if lb != cm.col_lb[j] or ub != cm.col_ub[j]:
                c_idx.append(j)
                c_lb.append(lb)
                c_ub.append(ub)
        if c_idx:
            idx = np.asarray(c_idx, dtype=np.int32)
            cm.col_lb[idx] = c_lb
            cm.col_ub[idx] = c_ub
            h.changeColsBounds(idx.size, idx, np.asarray(c_lb), np.asarray(c_ub))
        if obj and self.obj is not None:
            const, terms, obj_vars = self.obj
            if const is not None:
                off = ev(const, P, fns)
                if off != cm.c_offset:
                    cm.c_offset = off
                    h.changeObjectiveOffset(off)
            if terms is not None:
                ocols, uniq, static = self._objective_columns(obj_vars)
                vals = terms(now, P)
                ok = ocols >= 0
                total = np.bincount(ocols[ok], weights=vals[ok], minlength=cm.c.size)  # terms of a column add up
                new = total[uniq] + static
                if not np.isfinite(new).all():
                    raise _bad_params(hm.ctx.label(), self._infinite(changed, now))
                diff = new != cm.c[uniq]
                if diff.any():
                    j32 = uniq[diff].astype(np.int32)
                    cm.c[j32] = new[diff]
                    h.changeColsCost(j32.size, j32, new[diff])
        self.values = now

    def _objective_columns(self, obj_vars: list[VarData]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Columns of the objective's symbolic terms, the distinct ones, and the literal cost on those (cached per
        compiled model: columns move only when the model is passed anew)."""
        cm = self.hm._cm
        hit = self._obj_cols
        if hit is not None and hit[0] is cm and hit[1] == len(cm.columns):
            return hit[2], hit[3], hit[4]
        col_of = self.hm._col_of
        cols = np.fromiter((col_of.get(id(v), -1) for v in obj_vars), dtype=np.int64, count=len(obj_vars))
        uniq = np.unique(cols[cols >= 0])
        lit = np.zeros(cm.c.size)
        for v, x in self._static_terms:
            j = col_of.get(id(v))
            if j is not None:
                lit[j] += x
        static = lit[uniq]
        self._obj_cols = (cm, len(cm.columns), cols, uniq, static)
        return cols, uniq, static

    def _infinite(self, changed: np.ndarray, now: np.ndarray) -> list[str]:
        """``"name = value"`` of the changed Params that are infinite (a coefficient or cost they feed is)."""
        return [f"{self.params[k].name} = {now[k]}" for k in changed.tolist() if math.isinf(now[k])][:5] \
            or ["(no Param is infinite: an expression of Params is)"]

    def _set_coefficients(self, entries: list[tuple[int, int, float]]) -> None:
        _write_coefficients(self.hm, entries)

    def index_new_rows(self, cons: Sequence[Any]) -> None:
        """Index rows appended to the live model (:meth:`HighsModel.add_constraints`) that depend on Params."""
        where = self.hm._row_index()
        for con in cons:
            self._row_of[id(con)] = where[id(con)]
        fixed = [v for con in cons for v in _vars_of(con) if v.fixed]
        vals = [v.value for v in fixed]
        for v in fixed:
            v.unfix()
        try:
            for con in cons:
                if id(con) not in self._indexed_rows:
                    self._index_row(con)
                    self._indexed_rows.add(id(con))
        finally:
            for v, x in zip(fixed, vals, strict=True):
                v.fix(x)
        self._flush()
        self.values = _param_values(self.params)


def _write_coefficients(hm: HighsModel, entries: list[tuple[int, int, float]]) -> None:
    """Write ``(row, col, value)`` into ``hm``'s HiGHS instance and compiled matrix (CSC, sorted indices); several
    entries of one ``(row, col)`` add up; an entry that was 0 is inserted."""
    if not entries:
        return
    cm, h = hm._cm, hm._highs
    A = cm.A
    cm.version += 1
    acc: dict[tuple[int, int], float] = {}  # several symbolic terms of one (row, col) add up
    for i, j, val in entries:
        acc[(i, j)] = acc.get((i, j), 0.0) + val
    missing: list[tuple[int, int, float]] = []
    for (i, j), val in acc.items():
        lo, hi = A.indptr[j], A.indptr[j + 1]
        k = lo + int(np.searchsorted(A.indices[lo:hi], i))
        if k < hi and A.indices[k] == i:
            if A.data[k] != val:
                A.data[k] = val
                h.changeCoeff(i, j, val)
        elif val != 0.0:
            missing.append((i, j, val))
            h.changeCoeff(i, j, val)
    if missing:
        r, c, v = (np.array(x) for x in zip(*missing, strict=True))
        add = sp.csc_matrix((v.astype(float), (r.astype(np.int64), c.astype(np.int64))), shape=A.shape)
        new = (A + add).tocsc()
        new.sort_indices()
        cm.A = new


def _vars_of(con: Any) -> list[VarData]:
    from pyomo.core.expr.visitor import identify_variables

    return list(identify_variables(con.body, include_fixed=True))


def _bad_params(label: str, bad: Sequence[str]) -> SolveError:
    """The error for mutable Params whose values cannot reach HiGHS (``bad``: ``"name = value"`` strings)."""
    return SolveError(
        f"{label}: Param {', '.join(bad)} is not a number the solver can take: a Param must be finite "
        "(±inf only as a bound, meaning no bound); the value comes from the data written into the model "
        "(a failed or skipped solve upstream gives NaN)", "bad_data", [])


def _check_finite(cm: _Compiled, model: pyo.Block, label: str) -> None:
    """Raise (:func:`_bad_params`) before a compiled model with a NaN anywhere, or an infinite cost or matrix
    coefficient, reaches HiGHS; the message names the mutable Params of ``model`` that are NaN or infinite."""
    if (np.isfinite(cm.c).all() and np.isfinite(cm.A.data).all() and math.isfinite(cm.c_offset)
            and not any(np.isnan(a).any() for a in (cm.row_lb, cm.row_ub, cm.col_lb, cm.col_ub))):
        return
    bad = [f"{p.name} = {p.value}" for p in model.component_data_objects(pyo.Param, active=True, descend_into=True)
           if p.is_parameter_type() and not p.is_constant() and not math.isfinite(_pvalue(p))]
    if not bad:
        bad = ["(none is NaN or infinite: a variable bound or a constant of a row is)"]
    raise _bad_params(label, bad[:5])


_RAW_VALUE = operator.attrgetter("_value")


def _param_values(params: Sequence[Any]) -> np.ndarray:
    """The values of mutable ParamData objects as floats (NaN for no value), read from their slot directly: this
    read runs before every :meth:`HighsModel.update_params` over all tracked Params, so it must be cheap."""
    try:
        return np.array(list(map(_RAW_VALUE, params)), dtype=float)
    except (TypeError, ValueError, AttributeError):  # Param.NoValue or a non-numeric value: the slow path
        return np.fromiter((_pvalue(p) for p in params), dtype=float, count=len(params))


def _pvalue(p: Any) -> float:
    v = p.value
    return math.nan if v is None else float(v)


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

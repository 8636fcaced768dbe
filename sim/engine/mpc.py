"""Receding-horizon (``mpc``) replay of one day on persistent models (SPEC §6.6 step 3b).

At every quarter-hour ``k`` of the day the agent re-solves its problem over the rest of the day with
the *realised* data for periods ``1..k`` and the forecast (hourly values held on the 15-min grid)
for ``k+1..96``, applies the decisions of period ``k`` and carries its state (stored energy, ramps,
shift balances) forward.  Nothing is rebuilt: the persistent model of the whole day is re-solved
with the decisions of the executed periods *fixed*, so

- the state at the start of period ``k`` is exactly what periods ``1..k-1`` left (the device rows
  that chain the periods see the fixed values), and
- the objective still prices the whole day: the executed past is a constant, the rest is re-planned.

:class:`PastFixer` finds a block's per-period decisions (every continuous variable indexed by the
horizon's period set, alone or as the last index: ``p_kw[t]``, ``p_forward_kw[line, t]``) and fixes
them period by period with :meth:`agents.milp.HighsModel.fix` (Pyomo's ``Var.fix`` and ``lb = ub`` on those
columns of the live HiGHS instance only: no recompile, the basis is kept as a warm start), so no later bound
reset of the solver wrapper can release them.  Binaries are left free
(they follow the fixed powers; fixing an LP relaxation's fractional value would make a later MILP
escalation infeasible) and so are aggregates without a period index (costs, hourly deviations).
:meth:`PastFixer.release` unfixes exactly what it fixed, so the model can serve the next day.

Round-off (why a fixed past could make a later re-solve infeasible): the values read back from HiGHS hold
every row only to its feasibility tolerance (1e-7, on the scaled model: a balance of 1,200 kW came back
5e-7 kW off), and may lie a few 1e-9 beyond a bound.  Once all columns of a row are fixed the row is a
constant, and HiGHS's presolve declares the next re-solve infeasible (or, warm-started without presolve,
reports an optimum it cannot reach, whose objective is NaN).  So each executed value is first snapped
onto its bounds (:func:`agents.milp.snap_to_bounds`: within 1e-7 relative of a bound it *is* the bound;
beyond a bound by more than the accepted round-off it is an error), then the rows that period ``k``
completes (every column fixed once ``k`` is) are made to hold exactly by the least change of period
``k``'s values within their bounds (:func:`repair_fixed_rows`).

:class:`RecedingLoop` drives one model through the 96 steps; a coordinator runs several loops side
by side (one per cluster alone and one for the coalition, for example) and advances them together.

Physical settlement (SPEC §6.6 step 4): the executed period ``k`` was solved with the realised data
of ``k``, so the realised net power equals the executed plan and no residual reaches the grid.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np
import pyomo.core as pyo
from pyomo.core.base.var import VarData

from agents.devices.core import Horizon
from agents.milp import INF, HighsModel, snap_to_bounds
from market.pricing import repeat_to_grid

REPLAYS: tuple[str, ...] = ("oracle", "mpc")


def check_replay(replay: str) -> str:
    if replay not in REPLAYS:
        raise ValueError(f"replay must be one of {', '.join(REPLAYS)}; got {replay!r}")
    return replay


def held(hourly: np.ndarray, n: int) -> np.ndarray:
    """Hourly values held on an ``n``-period grid (the forecast of SPEC §6.6 b)."""
    h = np.asarray(hourly, dtype=float).ravel()
    if h.size == 0 or n % h.size:
        raise ValueError(f"cannot hold {h.size} hourly values on {n} periods")
    return repeat_to_grid(h, n // h.size)


def receding(realised: np.ndarray, forecast: np.ndarray, k: int) -> np.ndarray:
    """The data seen at step ``k`` (1-based): realised for periods ``1..k``, forecast after."""
    r = np.asarray(realised, dtype=float)
    f = np.asarray(forecast, dtype=float)
    if r.shape != f.shape:
        raise ValueError(f"realised {r.shape} and forecast {f.shape} differ in shape")
    if not 1 <= k <= r.shape[-1]:
        raise ValueError(f"step k must be in 1..{r.shape[-1]}, got {k}")
    return np.concatenate((r[..., :k], f[..., k:]), axis=-1)


def period_vars(blocks: Sequence[pyo.Block], horizon: Horizon) -> dict[int, list[VarData]]:
    """Continuous, not fixed variables of ``blocks`` by period (see the module docstring)."""
    periods = horizon.periods
    want = set(periods)
    out: dict[int, list[VarData]] = {k: [] for k in periods}
    for block in blocks:
        for comp in block.component_objects(pyo.Var, active=True, descend_into=True):
            if not comp.is_indexed():
                continue
            subsets = list(comp.index_set().subsets(expand_all_set_operators=True))
            last = subsets[-1]
            if len(last) != horizon.n or set(last) != want:
                continue
            for v in comp.values():
                if v.fixed or not v.is_continuous():
                    continue
                idx = v.index()
                k = idx[-1] if isinstance(idx, tuple) else idx
                out[int(k)].append(v)
    return out


#: A row whose columns are all fixed is repaired when its activity misses its bounds by more than this
#: (relative to ``max(1, |bound|)``); HiGHS's presolve rejects misses above its 1e-7 tolerance.
REPAIR_TOL = 1e-10


def repair_fixed_rows(hm: HighsModel, cols: np.ndarray, values: np.ndarray, lower: np.ndarray,
                      upper: np.ndarray) -> tuple[np.ndarray, float]:
    """Values for columns ``cols`` (about to be fixed) that make every row they complete hold exactly.

    A row is *completed* when it has a nonzero in ``cols`` and every other column of it is fixed already
    (``lb = ub`` in the live model: an earlier executed period, a fixed plan).  Its activity ``a·x`` must lie in
    ``[lb, ub]``; a miss ``r = clip(a·x, lb, ub) − a·x`` of round-off size is removed by the bounded
    least-squares change ``dx = argmin ||A_RC dx − r||`` with ``lower ≤ x + dx ≤ upper`` (columns at a bound
    only move inwards, so the change respects every bound).  Rows already within ``REPAIR_TOL`` are
    left alone and so is every value when all of them are.  Returns the new values and the largest
    remaining miss (relative to ``max(1, |bound|)``).
    """
    cm = hm.compiled
    A = cm.A
    cols = np.asarray(cols, dtype=np.int64)
    n = A.shape[1]
    starts, ends = A.indptr[cols], A.indptr[cols + 1]
    lengths = ends - starts
    if lengths.sum() == 0:
        return values, 0.0
    # the rows of the columns' nonzeros, gathered straight from the CSC arrays
    offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    rows = np.unique(A.indices[offsets + np.arange(lengths.sum())])
    sub = cm.rows_matrix()[rows]
    nz = sub.data != 0
    is_own = np.zeros(n, dtype=bool)
    is_own[cols] = True
    # a column is free unless it is one of ``cols`` or fixed: lb = ub in the live model (HighsModel.fix)
    is_free = (cm.col_lb < cm.col_ub) & ~is_own
    entry_row = np.repeat(np.arange(rows.size), np.diff(sub.indptr))
    n_free = np.bincount(entry_row[nz], weights=is_free[sub.indices[nz]], minlength=rows.size)
    done = np.flatnonzero(n_free == 0)  # rows completed by fixing ``cols``
    if done.size == 0:
        return values, 0.0
    x = np.where(is_free | is_own, 0.0, cm.col_lb)
    x[cols] = values
    R = sub[done]
    lb, ub = cm.row_lb[rows[done]], cm.row_ub[rows[done]]

    def miss(xx: np.ndarray) -> tuple[np.ndarray, float]:
        act = R @ xx
        r = np.clip(act, lb, ub) - act
        scale = np.maximum(1.0, np.abs(np.clip(act, lb, ub)))
        return r, float(np.max(np.abs(r) / scale))

    r, worst = miss(x)
    if worst <= REPAIR_TOL:
        return values, worst
    from scipy.optimize import lsq_linear  # here, not at the top: scipy.optimize is 0.06 s of every start-up

    M = R[:, cols].toarray()
    dlo, dhi = lower - values, upper - values
    margin = 1e-6 * np.maximum(1.0, np.abs(values))
    best, best_miss = values, worst
    # first only values away from their bounds move (a storage at empty stays empty), then any value
    for movable in ((dlo < -margin) & (dhi > margin), upper > lower):
        if not movable.any():
            continue
        dx = np.zeros(cols.size)
        sol = lsq_linear(M[:, movable], r, bounds=(np.minimum(dlo[movable], 0.0), np.maximum(dhi[movable], 0.0)),
                         method="bvls", tol=1e-14)
        dx[movable] = sol.x
        new = np.clip(values + dx, lower, upper)
        x[cols] = new
        _, after = miss(x)
        if after < best_miss:
            best, best_miss = new, after
        if best_miss <= REPAIR_TOL:
            break
    return best, best_miss


class PastFixer:
    """Fixes a persistent model's decisions one executed period at a time (see the module docstring)."""

    def __init__(self, blocks: Sequence[pyo.Block], horizon: Horizon) -> None:
        self.horizon = horizon
        self.by_period = period_vars(blocks, horizon)
        self.n_vars = sum(len(v) for v in self.by_period.values())
        if self.n_vars == 0:
            raise ValueError("PastFixer: the blocks have no continuous per-period decisions")
        self._fixed: list[VarData] = []
        self._hm: HighsModel | None = None
        #: the largest relative miss of a completed row left after repair (0: the fixed past holds exactly)
        self.worst_miss = 0.0

    def fix_period(self, k: int, hm: HighsModel) -> float:
        """Fix period ``k``'s decisions at the values of ``hm``'s last solution, made exact (module docstring).

        Each value is snapped onto its bounds (:func:`agents.milp.snap_to_bounds`; NaN or a value beyond a
        bound by more than round-off raises ``ValueError`` naming the variable and step), then the rows
        the period completes are made to hold (:func:`repair_fixed_rows`).  Returns the largest relative
        miss of those rows that remains (0 when they hold exactly).
        """
        vs = self.by_period[k]
        if not vs:
            return 0.0
        cols = np.fromiter((hm.column(v) for v in vs), dtype=np.int64, count=len(vs))
        if (cols < 0).any():
            v = vs[int(np.flatnonzero(cols < 0)[0])]
            raise RuntimeError(f"{hm.ctx.label()}: {v.name} has no value to fix (not a column of the model)")
        # the live model's column bounds are the variables' own bounds (Params evaluated; none is fixed yet)
        cm = hm.compiled
        lower = np.where(cm.col_lb[cols] <= -INF, -math.inf, cm.col_lb[cols])
        upper = np.where(cm.col_ub[cols] >= INF, math.inf, cm.col_ub[cols])
        x = hm.x[cols].tolist()
        values = np.empty(len(vs))
        for i, (lo, hi) in enumerate(zip(lower.tolist(), upper.tolist(), strict=True)):
            try:
                values[i] = snap_to_bounds(x[i], lo, hi)
            except ValueError:  # again, with the variable's name (built only now: Pyomo names cost)
                snap_to_bounds(x[i], lo, hi, name=f"{hm.ctx.label()}: {vs[i].name} executed at step {k}")
                raise
        values, worst = repair_fixed_rows(hm, cols, values, lower, upper)
        hm.fix(vs, values)  # Pyomo's fix and HiGHS's lb = ub on these columns only (no recompile)
        self._fixed.extend(vs)
        self._hm = hm
        self.worst_miss = max(self.worst_miss, worst)
        return worst

    def release(self) -> None:
        """Unfix everything this fixer fixed (the model is whole again for the next day)."""
        if self._hm is not None:  # set by the first fix_period: nothing is fixed before it
            self._hm.unfix(self._fixed)
        self._fixed = []

    @property
    def n_fixed(self) -> int:
        return len(self._fixed)


class RecedingLoop[T]:
    """One persistent model driven through a day by receding-horizon steps.

    ``solve(k)`` writes the data seen at step ``k`` into the model, re-solves it and returns the
    solution (of the whole day, past included).  ``model()`` returns the blocks whose per-period
    decisions are executed and the :class:`HighsModel` that holds the solution; it is called after
    the first solve (so lazily built models are built by then).  ``path_of(solution)`` names how a
    step was solved (the distinct paths are kept for the report).
    """

    def __init__(self, name: str, horizon: Horizon, solve: Callable[[int], T],
                 model: Callable[[], tuple[Sequence[pyo.Block], HighsModel]],
                 path_of: Callable[[T], str] | None = None) -> None:
        self.name = name
        self._path_of = path_of
        self.horizon = horizon
        self._solve = solve
        self._model = model
        self._fixer: PastFixer | None = None
        self.k = 0
        self.last: T | None = None
        self.n_solves = 0
        self.seconds = 0.0
        self.paths: list[str] = []

    def step(self, k: int) -> T:
        """Re-solve with the information of step ``k`` and execute period ``k``."""
        if k != self.k + 1:
            raise RuntimeError(f"{self.name}: step {k} after step {self.k} (steps run 1..{self.horizon.n} in order)")
        t0 = time.perf_counter()
        sol = self._solve(k)
        blocks, hm = self._model()
        if self._fixer is None:
            self._fixer = PastFixer(blocks, self.horizon)
        self._fixer.fix_period(k, hm)
        self.k = k
        self.last = sol
        self.n_solves += 1
        path = self._path_of(sol) if self._path_of is not None else ""
        if path and path not in self.paths:
            self.paths.append(path)
        self.seconds += time.perf_counter() - t0
        return sol

    @property
    def done(self) -> bool:
        return self.k == self.horizon.n

    def close(self) -> None:
        """Release the fixed past (always call, also after a failure: the model may be re-used)."""
        if self._fixer is not None:
            self._fixer.release()

    def result(self) -> T:
        """The executed day (the last step's solution); releases the model."""
        if not self.done or self.last is None:
            raise RuntimeError(f"{self.name}: {self.k} of {self.horizon.n} steps executed")
        self.close()
        return self.last

    def path_summary(self) -> str:
        return f"mpc {self.n_solves} steps: " + " | ".join(self.paths)

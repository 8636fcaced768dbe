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
them period by period through Pyomo (``Var.fix``), so the next ``HighsModel.update`` pushes them as
``lb = ub`` and no later bound reset of the solver wrapper can release them.  Binaries are left free
(they follow the fixed powers; fixing an LP relaxation's fractional value would make a later MILP
escalation infeasible) and so are aggregates without a period index (costs, hourly deviations).
:meth:`PastFixer.release` unfixes exactly what it fixed, so the model can serve the next day.

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
import pyomo.environ as pyo
from pyomo.core.base.var import VarData

from agents.devices.core import Horizon
from agents.milp import HighsModel
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


class PastFixer:
    """Fixes a persistent model's decisions one executed period at a time (see the module docstring)."""

    def __init__(self, blocks: Sequence[pyo.Block], horizon: Horizon) -> None:
        self.horizon = horizon
        self.by_period = period_vars(blocks, horizon)
        self.n_vars = sum(len(v) for v in self.by_period.values())
        if self.n_vars == 0:
            raise ValueError("PastFixer: the blocks have no continuous per-period decisions")
        self._fixed: list[VarData] = []

    def fix_period(self, k: int, hm: HighsModel) -> None:
        """Fix period ``k``'s decisions at the values of ``hm``'s last solution (clipped to their bounds)."""
        for v in self.by_period[k]:
            x = hm.value(v)
            if math.isnan(x):
                raise RuntimeError(f"{hm.ctx.label()}: {v.name} has no value to fix (not a column of the model)")
            lo, hi = v.bounds
            if lo is not None:
                x = max(x, float(lo))
            if hi is not None:
                x = min(x, float(hi))
            v.fix(x)
            self._fixed.append(v)

    def release(self) -> None:
        """Unfix everything this fixer fixed (the model is whole again for the next day)."""
        for v in self._fixed:
            v.unfix()
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

"""The coordination modes of the IEEE-33 system (paper 004's schemes, SPEC §5.7), one class each.

Each mode says who decides and what they know, through the hooks
:class:`sim.systems.ieee33.schemes.DistributionModel` calls (:class:`~sim.systems.ieee33.schemes.SchemeMode`):

* :class:`Cooperative` (scheme 1): rolling prices by bisection on the followers' excess demand, the
  standalone costs ``C^0_n``, the coalition problem NB-P1, the contribution weights W-1…W-4, the
  weighted Nash split NB-2 and its settlement checks.
* :class:`Centralized` (scheme 2): followers at the DA TOU prices; one DSO problem over all clusters.
* :class:`Noncooperative` (scheme 3): followers at the DA TOU prices; every cluster alone, then the
  greedy exchange of would-be curtailment.
* :class:`Oracle`: one full-information MILP over prices, every EV and all dispatch — a lower bound on
  every other mode's system cost; full information whatever the replay.

:data:`MODES` is the one place the names are written.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping

import numpy as np

from agents.cluster import ClusterSolution
from agents.milp import SolveStats
from market import PriceTrace
from sim.engine.modes import CentralizedMode, CooperativeMode, NoncooperativeMode, OracleMode
from sim.engine.system import Mode
from sim.systems.ieee33.schemes import DistributionModel, Followers, SchemeResult

Progress = Callable[[str], None] | None
Coalition = tuple[dict[str, ClusterSolution], list[SolveStats], str] | None


class IEEE33Mode(Mode, ABC):
    """A coordination scheme of paper 004; the default hooks are those of the schemes at the DA prices."""

    @abstractmethod
    def solve(self, dm: DistributionModel, progress: Progress) -> SchemeResult:
        """The mode's day in one intraday optimisation (the oracle replay, or a full-information mode)."""

    def intraday_prices(self, dm: DistributionModel, progress: Progress) -> tuple[np.ndarray, PriceTrace | None]:
        """The DA TOU prices on the intraday grid (the followers see no rolling price)."""
        dm.day_ahead()
        assert dm.da_prices_intraday is not None
        return dm.da_prices_intraday, None

    def needs_standalone(self) -> bool:
        return False

    def needs_coalition(self) -> bool:
        return False

    def settle(self, dm: DistributionModel, f: Followers, c0: dict[str, ClusterSolution], coalition: Coalition,
               trace: PriceTrace | None, seconds: float) -> SchemeResult:
        """The result of an mpc day.  Only a full-information mode keeps the default: it decides the whole day at
        once in every replay (:meth:`DistributionModel.scheme_steps` never replays it), so reaching this is a bug."""
        raise RuntimeError(f"{self.name}: a full-information mode has no mpc replay to settle")


class Cooperative(IEEE33Mode, CooperativeMode):
    description = ("scheme 1: rolling prices by bisection, standalone costs, the coalition problem, contribution "
                   "weights and the weighted Nash split")
    bargaining = True

    def solve(self, dm: DistributionModel, progress: Progress) -> SchemeResult:
        return dm.bargained(self.name, progress)

    def intraday_prices(self, dm: DistributionModel, progress: Progress) -> tuple[np.ndarray, PriceTrace | None]:
        """Rolling prices by bisection, cleared on the forecast renewables before an mpc day."""
        return dm._clear_prices(progress)

    def needs_standalone(self) -> bool:
        return True

    def needs_coalition(self) -> bool:
        return True

    def settle(self, dm: DistributionModel, f: Followers, c0: dict[str, ClusterSolution], coalition: Coalition,
               trace: PriceTrace | None, seconds: float) -> SchemeResult:
        assert coalition is not None and trace is not None
        sols, stats, path = coalition
        return dm._settle_bargaining(self.name, f, c0, sols, stats, path, trace, seconds)


class Centralized(IEEE33Mode, CentralizedMode):
    description = "scheme 2: followers at the DA TOU prices; one DSO problem over all clusters"

    def solve(self, dm: DistributionModel, progress: Progress) -> SchemeResult:
        return dm.dso_dispatch(self.name)

    def needs_coalition(self) -> bool:
        return True

    def settle(self, dm: DistributionModel, f: Followers, c0: dict[str, ClusterSolution], coalition: Coalition,
               trace: PriceTrace | None, seconds: float) -> SchemeResult:
        assert coalition is not None
        sols, stats, path = coalition
        return dm._result(self.name, f, sols, seconds, interaction_cost=0.0, paths={"dso": path}, stats=stats)


class Noncooperative(IEEE33Mode, NoncooperativeMode):
    description = "scheme 3: followers at the DA TOU prices; clusters alone plus a greedy exchange of curtailment"

    def solve(self, dm: DistributionModel, progress: Progress) -> SchemeResult:
        return dm.standalone_with_greedy_exchange(self.name)

    def needs_standalone(self) -> bool:
        return True

    def settle(self, dm: DistributionModel, f: Followers, c0: dict[str, ClusterSolution], coalition: Coalition,
               trace: PriceTrace | None, seconds: float) -> SchemeResult:
        return dm._greedy_result(self.name, f, c0, seconds)


class Oracle(IEEE33Mode, OracleMode):
    description = "one full-information MILP over prices, every EV and all dispatch: a lower bound"

    def solve(self, dm: DistributionModel, progress: Progress) -> SchemeResult:
        return dm.full_information(self.name)


#: name -> mode class, in the paper's order (the one place the names are written).
MODES: Mapping[str, type[IEEE33Mode]] = {m.name: m for m in (Cooperative, Centralized, Noncooperative, Oracle)}
#: The mode names in the paper's order.
SCHEMES: tuple[str, ...] = tuple(MODES)


def modes_of(names: list[str] | tuple[str, ...]) -> list[IEEE33Mode]:
    """The mode objects of ``names``; a clear error naming the modes otherwise."""
    bad = [s for s in names if s not in MODES]
    if bad:
        raise ValueError(f"unknown schemes {bad}; choose from {list(MODES)}")
    return [MODES[s]() for s in names]

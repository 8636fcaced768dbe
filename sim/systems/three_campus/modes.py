"""The coordination modes of the three campuses (paper 000 in the simulator), one class each.

A mode says which day-ahead plans are made and executed (:attr:`CampusMode.plans_p2p`: one cloud-model
day per entry, with or without the P2P lines; the first is executed) and whether the parks settle by
bargaining (``cooperative``: the P2P day against the no-P2P day, NB-2) or plan knowing the realised day
(``oracle``).  :data:`MODES` is the one place the names are written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from sim.engine.modes import CentralizedMode, CooperativeMode, NoncooperativeMode, OracleMode
from sim.engine.system import Mode


class CampusMode(Mode):
    """A coordination mode of the three campuses."""

    #: one planned-and-replayed day per entry: with (True) or without (False) the P2P lines
    plans_p2p: ClassVar[tuple[bool, ...]] = ()


class Cooperative(CampusMode, CooperativeMode):
    description = "the P2P plan settled by weighted Nash bargaining against the no-P2P costs"
    bargaining = True
    plans_p2p = (True, False)


class Centralized(CampusMode, CentralizedMode):
    description = "paper 000's cloud model with P2P lines, replayed on the realised day with the plan fixed"
    plans_p2p = (True,)


class Noncooperative(CampusMode, NoncooperativeMode):
    description = "the cloud model without P2P lines"
    plans_p2p = (False,)


class Oracle(CampusMode, OracleMode):
    description = "the plan made knowing the realised day: a lower bound"


#: name -> mode class (the one place the names are written).
MODES: Mapping[str, type[CampusMode]] = {m.name: m for m in (Cooperative, Centralized, Noncooperative, Oracle)}

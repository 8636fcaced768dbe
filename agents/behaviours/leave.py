"""``leave`` (SPEC §8): the agent stays out of the coalition after a run of poor days.

On day ``d`` it stays out if the mean of its true gains on the days it was in the coalition among days
``d − w .. d − 1`` is below ``g`` (USD per day); once out it stays out for ``c`` days (days ``d .. d + c − 1``) and
rejoins on day ``d + c`` with a fresh history.  Without a day in the window it joins.  ``g = −∞`` never leaves (the
truthful agent).  Outside the coalition it executes its standalone plan, gains nothing and pays nothing.
Memory: the gains of the last ``w`` days in the coalition and the day it rejoins.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

from agents.behaviours.base import CAMPUS, CLUSTER, Behaviour, BehaviourError, DayFeedback, Parameter


class Leave(Behaviour):
    id: ClassVar[str] = "leave"
    summary: ClassVar[str] = "stays out for c days when its mean true gain over the last w days is below g"
    kinds: ClassVar[frozenset[str]] = frozenset({CLUSTER, CAMPUS})
    parameters: ClassVar[tuple[Parameter, ...]] = (
        Parameter("w", kind="int", lo=1, hi=365, default=7, unit="days", doc="window of past days"),
        Parameter("g", lo=-math.inf, hi=math.inf, default=0.0, unit="USD/day", doc="threshold on the mean gain"),
        Parameter("c", kind="int", lo=1, hi=365, default=3, unit="days", doc="cool-off: days out once it leaves"),
    )

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        self.gains: list[tuple[int, float]] = []
        self.out_until: int | None = None
        self.left_today = False

    def joins(self, day: int) -> bool:
        """Out while cooling off; else leave when the window's mean gain is below ``g``."""
        self.left_today = False
        if self.out_until is not None:
            if day < self.out_until:
                return False
            self.out_until = None
        w, g = int(self.values["w"]), float(self.values["g"])
        recent = [x for d, x in self.gains if day - w <= d <= day - 1]
        if recent and math.fsum(recent) / len(recent) < g:
            self.out_until = day + int(self.values["c"])
            self.gains = []
            self.left_today = True
            return False
        return True

    def end_day(self, feedback: DayFeedback) -> None:
        if feedback.joined:
            self.gains.append((feedback.day, float(feedback.gain)))
            w = int(self.values["w"])
            self.gains = [(d, x) for d, x in self.gains if d > feedback.day - w]

    def memory(self) -> dict[str, Any]:
        return {"gains": [[d, x] for d, x in self.gains], "out_until": self.out_until}

    def restore(self, memory: Mapping[str, Any]) -> None:
        try:
            self.gains = [(int(d), float(x)) for d, x in memory.get("gains", [])]
            out = memory.get("out_until")
            self.out_until = None if out is None else int(out)
        except (TypeError, ValueError) as e:
            raise BehaviourError(f"behaviour leave: unreadable memory {dict(memory)!r} ({e})") from None

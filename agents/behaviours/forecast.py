"""``forecast`` (SPEC §8): the agent plans on its own forecast of its renewables.

Its forecast is the realised availability plus ``σ`` times the common forecast's error plus a bias of ``b`` times
the plant's capacity, clipped to ``[0, capacity]``:
``P^own = clip(P^real + σ (P^common − P^real) + b P^cap, 0, P^cap)``, written as
``P^common + (σ − 1)(P^common − P^real) + b P^cap`` so that ``σ = 1, b = 0`` returns the common forecast exactly.
It applies where a plan is made on a forecast (the day-ahead stage, and the mpc replay beyond the current
quarter-hour); what is realised is the same for everyone.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from agents.behaviours.base import CAMPUS, CLUSTER, LOWCARBON_CAMPUS, RURAL_CAMPUS, Behaviour, Parameter


class Forecast(Behaviour):
    id: ClassVar[str] = "forecast"
    summary: ClassVar[str] = "plans on realised + sigma x (common forecast error) + b x capacity"
    kinds: ClassVar[frozenset[str]] = frozenset({CLUSTER, CAMPUS, RURAL_CAMPUS, LOWCARBON_CAMPUS})
    parameters: ClassVar[tuple[Parameter, ...]] = (
        Parameter("b", lo=-1.0, hi=1.0, default=0.0, doc="bias as a share of the plant's capacity"),
        Parameter("sigma", lo=0.0, hi=10.0, default=1.0, doc="scale of the common forecast's error"),
    )

    def forecast(self, common_kw: np.ndarray, realised_kw: np.ndarray, capacity_kw: float) -> np.ndarray:
        common = np.asarray(common_kw, dtype=float)
        sigma, b = float(self.values["sigma"]), float(self.values["b"])
        if sigma == 1.0 and b == 0.0:
            return common
        own = common + (sigma - 1.0) * (common - np.asarray(realised_kw, dtype=float)) + b * float(capacity_kw)
        return np.clip(own, 0.0, float(capacity_kw))

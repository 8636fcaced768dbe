"""``learn`` (SPEC §8): the agent learns a behaviour parameter by EXP3 over the days.

It picks one value (arm) of a grid for one parameter of another behaviour (``over``, e.g. ``misreport``'s ``m``
or ``withhold``'s ``f``) each day and acts as that behaviour with it.  EXP3 (Auer et al. 2002) with exploration
``γ`` and rate ``η``, log-weights ``ℓ_i``:

* before the day: ``p_i = (1 − γ) e^{ℓ_i} / Σ_j e^{ℓ_j} + γ / K``; draw arm ``a ~ p`` from the agent's own random
  stream of the day;
* after the day: reward ``r = clip(gain / S, 0, 1)`` (its true gain normalised by the day's true surplus ``S``;
  0 when ``S ≤ 0`` or it did not join), importance-weighted ``r̂ = r / p_a``, and ``ℓ_a ← ℓ_a + η r̂``.

On stationary days the weights concentrate on the best arm.  Memory: the log-weights, the day's arm and its
probabilities (restored by ``--resume``; the day's draw depends only on the agent's seed stream and the weights).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from agents.behaviours.base import CAMPUS, CLUSTER, Behaviour, BehaviourError, DayFeedback, Parameter
from agents.behaviours.misreport import Misreport
from agents.behaviours.withhold import Withhold

#: The behaviours a learner can learn over and the parameter it varies (their one numeric parameter).
LEARNABLE: dict[str, tuple[type[Behaviour], str]] = {Misreport.id: (Misreport, "m"), Withhold.id: (Withhold, "f")}


def exp3_probabilities(log_weights: np.ndarray, gamma: float) -> np.ndarray:
    """``p_i = (1 − γ) softmax(ℓ)_i + γ / K``."""
    lw = np.asarray(log_weights, dtype=float)
    e = np.exp(lw - lw.max())
    return (1.0 - gamma) * e / e.sum() + gamma / lw.size


def exp3_update(log_weights: np.ndarray, arm: int, reward: float, probability: float, eta: float) -> np.ndarray:
    """``ℓ_a ← ℓ_a + η r / p_a`` (the other arms unchanged); the weights are shifted so that max ℓ = 0."""
    lw = np.array(log_weights, dtype=float)
    lw[arm] += eta * float(reward) / float(probability)
    return lw - lw.max()


class Learn(Behaviour):
    id: ClassVar[str] = "learn"
    summary: ClassVar[str] = "chooses a behaviour parameter each day by EXP3 on its true gain"
    kinds: ClassVar[frozenset[str]] = frozenset({CLUSTER, CAMPUS})
    parameters: ClassVar[tuple[Parameter, ...]] = (
        Parameter("over", kind="str", default="misreport", choices=tuple(LEARNABLE),
                  doc="the behaviour whose parameter is learned"),
        Parameter("grid", kind="floats", lo=-1.0, hi=1.0, default=(-0.3, -0.1, 0.0, 0.1),
                  doc="the arms: values of that parameter"),
        Parameter("eta", lo=1e-6, hi=10.0, default=0.1, doc="EXP3 learning rate"),
        Parameter("gamma", lo=1e-6, hi=1.0, default=0.1, doc="EXP3 exploration share"),
    )

    def _validate(self) -> None:
        inner, name = LEARNABLE[self.values["over"]]
        spec = next(p for p in inner.parameters if p.name == name)
        for x in self.values["grid"]:
            spec.check(f"learn (over {inner.id})", x)  # every arm must be a valid value of the inner parameter
        if len(set(self.values["grid"])) != len(self.values["grid"]):
            raise BehaviourError(f"behaviour learn: the grid repeats values {list(self.values['grid'])}")
        self._inner_type = inner
        self._param = name
        self.log_weights = np.zeros(len(self.values["grid"]))
        self.arm = 0
        self.probabilities = exp3_probabilities(self.log_weights, float(self.values["gamma"]))
        self.inner: Behaviour = inner(**{name: self.values["grid"][0]})

    @property
    def chosen(self) -> float:
        """Today's value of the learned parameter."""
        return float(self.values["grid"][self.arm])

    def begin_day(self, day: int, rng: np.random.Generator) -> None:
        self.probabilities = exp3_probabilities(self.log_weights, float(self.values["gamma"]))
        self.arm = int(rng.choice(self.probabilities.size, p=self.probabilities))
        self.inner = self._inner_type(**{self._param: self.chosen})

    def reward(self, feedback: DayFeedback) -> float:
        """``clip(gain / S, 0, 1)``; 0 without a positive surplus or outside the coalition."""
        if not feedback.joined or not feedback.surplus > 0 or not math.isfinite(feedback.gain):
            return 0.0
        return float(min(max(feedback.gain / feedback.surplus, 0.0), 1.0))

    def end_day(self, feedback: DayFeedback) -> None:
        self.log_weights = exp3_update(self.log_weights, self.arm, self.reward(feedback),
                                       float(self.probabilities[self.arm]), float(self.values["eta"]))

    # the inner behaviour's hooks, with today's value
    def report_standalone_cost(self, true_cost: float) -> float:
        return self.inner.report_standalone_cost(true_cost)

    def offered_share(self) -> float:
        return self.inner.offered_share()

    def memory(self) -> dict[str, Any]:
        return {"log_weights": [float(x) for x in self.log_weights], "arm": self.arm,
                "probabilities": [float(x) for x in self.probabilities]}

    def restore(self, memory: Mapping[str, Any]) -> None:
        try:
            lw = np.asarray(memory["log_weights"], dtype=float)
            arm = int(memory.get("arm", 0))
        except (KeyError, TypeError, ValueError) as e:
            raise BehaviourError(f"behaviour learn: unreadable memory ({e})") from None
        if lw.shape != self.log_weights.shape or not np.all(np.isfinite(lw)) or not 0 <= arm < lw.size:
            raise BehaviourError(f"behaviour learn: the saved memory has {lw.size} arms, the scenario's grid "
                                 f"{len(self.values['grid'])}")
        self.log_weights = lw
        self.arm = arm
        self.probabilities = exp3_probabilities(lw, float(self.values["gamma"]))
        self.inner = self._inner_type(**{self._param: self.chosen})

    def parameters_of_day(self) -> dict[str, float]:
        out = {self._param: self.chosen, "arm": float(self.arm)}
        out.update({f"p_arm{i}": float(p) for i, p in enumerate(self.probabilities)})
        return out

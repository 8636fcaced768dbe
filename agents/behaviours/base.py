"""What a behaviour is: the hooks an agent's behaviour may use, its declared parameters and its memory (SPEC §8).

Every agent carries one :class:`Behaviour` (DESIGN v2, "Behaviours are objects attached to agents"; the ASSUME
pattern of strategies chosen per unit).  The base class *is* the truthful agent: every hook returns what an
agent that optimises honestly would do, so a behaviour overrides only the hooks it changes:

* :meth:`Behaviour.report_standalone_cost` — the disagreement point ``Ĉ^0_n`` it reports to the market
  (NB-2 runs on reports; payoffs are evaluated on true costs);
* :meth:`Behaviour.offered_share` — the share of its flexibility (storage power and energy, exchange capacity)
  it offers to the coalition problem (it keeps all of it when it stands alone);
* :meth:`Behaviour.forecast` — the renewable forecast it plans on;
* :meth:`Behaviour.risk_parameters` — its own risk parameters (where its decision method has any);
* :meth:`Behaviour.joins` — whether it joins the coalition today;
* :attr:`Behaviour.rule_based` — whether it follows a fixed rule instead of optimising;
* :meth:`Behaviour.begin_day` / :meth:`Behaviour.end_day` — choose today's parameter before the day (from the
  agent's own random stream) and update its memory from the day's true outcome (:class:`DayFeedback`).

The memory (:meth:`Behaviour.memory`, JSON) is agent state: the engine saves it with each day and ``--resume``
restores it (:meth:`Behaviour.restore`).  Parameters are declared as :class:`Parameter` rows, checked when the
behaviour is made, with messages naming the behaviour, the parameter and its allowed range.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

#: Agent kinds a behaviour can name in :attr:`Behaviour.kinds` (the ``behaviour_kind`` of the agent classes).
CLUSTER = "cluster"
CAMPUS = "campus"
TRANSFORMER_AREA = "transformer_area"
EV = "ev"
RURAL_CAMPUS = "rural_campus"
LOWCARBON_CAMPUS = "lowcarbon_campus"
AGENT_KINDS: tuple[str, ...] = (CLUSTER, CAMPUS, TRANSFORMER_AREA, EV, RURAL_CAMPUS, LOWCARBON_CAMPUS)


class BehaviourError(ValueError):
    """A behaviour named or parameterised wrongly (unknown id, parameter out of range, wrong agent kind)."""


class BehaviourSetupError(ValueError):
    """A behaviour a run cannot honour: nothing to act on in this mode or replay, or not implemented for the agent's
    type on this system.  Refused before the run starts, never accepted and ignored."""


@dataclass(frozen=True)
class Parameter:
    """One declared parameter of a behaviour: its name, unit, allowed range and default.

    ``kind`` is ``"float"`` (``lo``/``hi`` inclusive, infinities allowed only where the range is open to them),
    ``"int"``, ``"str"`` (one of ``choices``) or ``"floats"`` (a non-empty list of floats, each in range).
    ``default`` ``None`` makes the parameter required, unless ``optional`` (then it is simply absent)."""

    name: str
    kind: str = "float"
    lo: float = -math.inf
    hi: float = math.inf
    default: Any = None
    unit: str = "1"
    doc: str = ""
    choices: tuple[str, ...] = ()
    optional: bool = False

    def allowed(self) -> str:
        if self.kind == "str":
            return "one of " + ", ".join(self.choices)
        span = f"[{self.lo:g}, {self.hi:g}]"
        what = {"int": "a whole number in", "floats": "a list of numbers, each in"}.get(self.kind, "a number in")
        return f"{what} {span}" + (f" {self.unit}" if self.unit != "1" else "")

    def check(self, owner: str, value: Any) -> Any:
        """``value`` as this parameter's type; :class:`BehaviourError` naming ``owner``, the parameter and its range."""
        bad = BehaviourError(f"behaviour {owner}: parameter {self.name} must be {self.allowed()}, got {value!r}")
        if self.kind == "str":
            if not isinstance(value, str) or value not in self.choices:
                raise bad
            return value
        if self.kind == "floats":
            if isinstance(value, str | bytes) or not isinstance(value, Sequence) or not value:
                raise bad
            return tuple(self._number(v, bad) for v in value)
        x = self._number(value, bad)
        if self.kind == "int":
            if not float(x).is_integer():
                raise bad
            return int(x)
        return x

    def _number(self, v: Any, bad: BehaviourError) -> float:
        if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
            raise bad
        x = float(v)
        if math.isnan(x) or not self.lo <= x <= self.hi:
            raise bad
        return x


@dataclass(frozen=True)
class DayFeedback:
    """The true outcome of one day for one agent, what :meth:`Behaviour.end_day` learns from (USD).

    ``joined``: whether the agent was in the coalition; ``true_standalone_cost``: its true ``C^0_n``;
    ``true_final_cost``: its physical cost in the executed plan plus its payment; ``gain`` = standalone − final;
    ``surplus``: the day's true surplus ``S`` of the coalition it was in (0 when it stood alone), which
    normalises a learner's reward."""

    day: int
    joined: bool
    true_standalone_cost: float
    true_final_cost: float
    surplus: float

    @property
    def gain(self) -> float:
        return self.true_standalone_cost - self.true_final_cost


class Behaviour:
    """An agent's behaviour; this base class is the truthful agent (the module docstring lists the hooks).

    Subclasses set :attr:`id`, :attr:`summary`, :attr:`kinds` (the agent kinds SPEC §8 lets it apply to) and
    :attr:`parameters`, and override the hooks they change.  ``values`` are the checked parameter values.
    """

    id: ClassVar[str] = "truthful"
    summary: ClassVar[str] = ("reports its true standalone cost, offers all its flexibility, plans on the common "
                              "forecast, is risk-neutral and always joins")
    kinds: ClassVar[frozenset[str]] = frozenset(AGENT_KINDS)
    parameters: ClassVar[tuple[Parameter, ...]] = ()

    def __init__(self, **values: Any) -> None:
        known = {p.name: p for p in self.parameters}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise BehaviourError(f"behaviour {self.id}: unknown parameters {unknown}; it takes "
                                 f"{', '.join(known) or 'none'}")
        checked: dict[str, Any] = {}
        for p in self.parameters:
            if p.name in values:
                checked[p.name] = p.check(self.id, values[p.name])
            elif p.default is None and p.optional:
                continue
            elif p.default is None:
                raise BehaviourError(f"behaviour {self.id}: parameter {p.name} is required ({p.allowed()})")
            else:
                checked[p.name] = p.check(self.id, p.default)
        self.values: dict[str, Any] = checked
        self._validate()

    def _validate(self) -> None:
        """Checks across parameters (a subclass's; raise :class:`BehaviourError`)."""

    # ---------------------------------------------------------------- the hooks (truthful defaults)
    def begin_day(self, day: int, rng: np.random.Generator) -> None:
        """Before day ``day`` (1-based): choose today's parameter; ``rng`` is the agent's stream for the day."""

    def report_standalone_cost(self, true_cost: float) -> float:
        """The standalone cost ``Ĉ^0_n`` the agent reports to the market (USD)."""
        return float(true_cost)

    def offered_share(self) -> float:
        """The share in [0, 1] of its storage power/energy and exchange capacity offered to the coalition problem."""
        return 1.0

    def joins(self, day: int) -> bool:
        """Whether the agent joins the coalition on day ``day`` (1-based)."""
        return True

    def forecast(self, common_kw: np.ndarray, realised_kw: np.ndarray, capacity_kw: float) -> np.ndarray:
        """The renewable availability it plans on where the plan uses a forecast (kW): the common one."""
        return common_kw

    @property
    def rule_based(self) -> bool:
        """True: the agent follows its type's fixed rule instead of optimising."""
        return False

    def risk_parameters(self) -> dict[str, float]:
        """The agent's own risk parameters, overriding its decision method's (empty: the scenario's)."""
        return {}

    def end_day(self, feedback: DayFeedback) -> None:
        """After the day: update the memory from the day's true outcome."""

    # ---------------------------------------------------------------- memory and records
    def memory(self) -> dict[str, Any]:
        """The behaviour's memory as JSON (saved per day, restored by ``--resume``); empty: none."""
        return {}

    def restore(self, memory: Mapping[str, Any]) -> None:
        """Put :meth:`memory`'s JSON back."""
        if memory:
            raise BehaviourError(f"behaviour {self.id} keeps no memory, but the state holds {sorted(memory)}")

    def parameters_of_day(self) -> dict[str, float]:
        """Today's numeric parameters, for the per-agent records (``param_<name>``)."""
        return {k: float(v) for k, v in self.values.items() if isinstance(v, int | float)}

    def label(self) -> str:
        """``id(name=value, ...)`` as the records and reports write it."""
        if not self.values:
            return self.id
        inner = ", ".join(f"{k}={_show(v)}" for k, v in self.values.items())
        return f"{self.id}({inner})"

    def __repr__(self) -> str:
        return self.label()


def _show(v: Any) -> str:
    if isinstance(v, tuple):
        return "[" + " ".join(_show(x) for x in v) + "]"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)

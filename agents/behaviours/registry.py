"""The behaviour registry (the one place the ids are written), the scenario syntax and each agent's seed stream.

Scenario syntax (a ``[behaviours]`` table, SPEC §8): a key names an agent (``C1``) or an agent type
(``ClusterAgent``: every agent of that type without a behaviour of its own); its value is the behaviour, either
as text ``"id"``, ``"id:v1,v2"`` (the parameters in declared order) or ``"id:name=v,..."``, or as an inline
table ``{id = "learn", over = "misreport", grid = [-0.3, -0.1, 0.0], eta = 0.2}``.  Values in text are read
as TOML values (``-0.1``, ``-inf``, ``"misreport"``).  ``--set behaviours.C1=misreport:-0.1`` edits the same
table.  Agents not named are ``truthful``.
"""

from __future__ import annotations

import tomllib
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents.behaviours.base import Behaviour, BehaviourError
from agents.behaviours.forecast import Forecast
from agents.behaviours.learn import Learn
from agents.behaviours.leave import Leave
from agents.behaviours.misreport import Misreport
from agents.behaviours.risk import Risk
from agents.behaviours.rule import Rule
from agents.behaviours.truthful import Truthful
from agents.behaviours.withhold import Withhold

#: id -> behaviour class, in SPEC §8's order.
BEHAVIOURS: dict[str, type[Behaviour]] = {
    b.id: b for b in (Truthful, Misreport, Withhold, Rule, Forecast, Risk, Leave, Learn)
}
DEFAULT = Truthful.id
#: Spawn key of the behaviours' random streams under the run's seed (then the agent's name hash, then the day).
BEHAVIOUR_SPAWN_KEY = 1 << 24


@dataclass(frozen=True)
class BehaviourSpec:
    """A behaviour as the scenario names it: its id and parameter values (checked by :func:`make`)."""

    id: str = DEFAULT
    values: Mapping[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        """The spec as ``--set`` text would write it (``misreport:m=-0.1``)."""
        if not self.values:
            return self.id
        return self.id + ":" + ",".join(f"{k}={_toml(v)}" for k, v in self.values.items())


def _toml(v: Any) -> str:
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    return repr(v) if isinstance(v, float) else str(v)


def _value(text: str, where: str) -> Any:
    try:
        return tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        t = text.strip()
        if t.replace("_", "").isalnum():
            return t  # a bare word: the string itself (e.g. over=withhold)
        raise BehaviourError(f"{where}: {text.strip()!r} is not a value (a number, -inf, a word or [a, b])") from None


def _split_top(text: str) -> list[str]:
    """Split at commas outside brackets (``grid=[-0.3, 0]`` stays whole)."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p for p in (x.strip() for x in parts) if p]


def parse_spec(value: Any, where: str = "behaviour") -> BehaviourSpec:
    """A :class:`BehaviourSpec` from the scenario's text or inline table (the module docstring's syntax).

    ``where`` names the place (``scenario.toml [behaviours] C1``) in the error message."""
    if isinstance(value, BehaviourSpec):
        return value
    if isinstance(value, Mapping):
        rest = dict(value)
        bid = rest.pop("id", None)
        if not isinstance(bid, str):
            raise BehaviourError(f"{where}: an inline table needs id = one of {', '.join(BEHAVIOURS)}")
        spec = BehaviourSpec(bid, rest)
    elif isinstance(value, str):
        bid, _, args = value.partition(":")
        bid = bid.strip()
        cls = BEHAVIOURS.get(bid)
        values: dict[str, Any] = {}
        if args.strip():
            if cls is None:
                raise BehaviourError(f"{where}: unknown behaviour {bid!r}; known: {', '.join(BEHAVIOURS)}")
            order = [p.name for p in cls.parameters]
            for i, part in enumerate(_split_top(args)):
                if "=" in part:
                    k, _, v = part.partition("=")
                    values[k.strip()] = _value(v, where)
                elif i < len(order):
                    values[order[i]] = _value(part, where)
                else:
                    raise BehaviourError(f"{where}: behaviour {bid} takes {len(order)} parameters "
                                         f"({', '.join(order) or 'none'}), got {value!r}")
        spec = BehaviourSpec(bid, values)
    else:
        raise BehaviourError(f"{where}: a behaviour is text like \"misreport:-0.1\" or an inline table with id, "
                             f"got {value!r}")
    make(spec, where)  # check id and parameters now, with the place in the message
    return spec


def make(spec: BehaviourSpec | str | None = None, where: str = "behaviour") -> Behaviour:
    """A new behaviour object for ``spec`` (``None``: truthful); errors name ``where``."""
    if spec is None:
        return Truthful()
    if isinstance(spec, str):
        spec = parse_spec(spec, where)
    cls = BEHAVIOURS.get(spec.id)
    if cls is None:
        raise BehaviourError(f"{where}: unknown behaviour {spec.id!r}; known: {', '.join(BEHAVIOURS)}")
    try:
        return cls(**dict(spec.values))
    except BehaviourError as e:
        raise BehaviourError(f"{where}: {e}") from None


def assign(table: Mapping[str, BehaviourSpec], agents: Mapping[str, str], types: Mapping[str, str],
           where: str = "[behaviours]") -> dict[str, BehaviourSpec]:
    """Each agent's behaviour from the scenario's table: by its name first, else by its type, else truthful.

    ``agents``: agent name -> its kind (:data:`agents.behaviours.base.AGENT_KINDS`); ``types``: type key (e.g.
    ``ClusterAgent``) -> the kind its agents have.  A key that is neither, or a behaviour whose SPEC §8 kinds do
    not include the agent's, is refused naming the key, the agent and what is allowed."""
    unknown = sorted(set(table) - set(agents) - set(types))
    if unknown:
        raise BehaviourError(
            f"{where}: {', '.join(map(repr, unknown))} names no agent or agent type; agents: "
            f"{', '.join(agents)}; types: {', '.join(types)}")
    out: dict[str, BehaviourSpec] = {}
    for name, kind in agents.items():
        key = name if name in table else next((t for t, k in types.items() if k == kind and t in table), None)
        spec = table[key] if key is not None else BehaviourSpec()
        cls = BEHAVIOURS[spec.id]
        if kind not in cls.kinds:
            raise BehaviourError(f"{where} (key {key}): behaviour {spec.id} does not apply to {name} (a {kind}); "
                                 f"it applies to {', '.join(sorted(cls.kinds))} (SPEC §8)")
        out[name] = spec
    return out


def agent_rng(seed: int, agent: str, day: int) -> np.random.Generator:
    """The random stream of ``agent``'s behaviour on ``day`` (1-based): ``SeedSequence(seed, spawn_key=(KEY,
    crc32(name), day))`` — independent of the other agents, of the order agents are built in and of the days
    before (so ``--resume`` draws what the uninterrupted run drew)."""
    key = zlib.crc32(agent.encode("utf-8"))
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(BEHAVIOUR_SPAWN_KEY, key, int(day))))

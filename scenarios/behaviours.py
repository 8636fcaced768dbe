"""The scenario's ``[behaviours]`` table (SPEC §8): which agent, by name or by type, has which behaviour.

Every system's loader reads it with :func:`read_behaviours`, naming its agents and agent types; the syntax is
:mod:`agents.behaviours.registry`'s (``C1 = "misreport:-0.1"``, ``ClusterAgent = {id = "learn", eta = 0.2}``).
Errors are :class:`scenarios.schema.ScenarioError` naming the file, the key and what is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agents.behaviours import BehaviourError, BehaviourSpec, assign, parse_spec
from scenarios.schema import ScenarioError


def read_behaviours(file: Path, raw: Any, agents: Mapping[str, str], types: Mapping[str, str]
                    ) -> dict[str, BehaviourSpec]:
    """The ``[behaviours]`` table ``raw`` (``None``: absent) as key -> :class:`BehaviourSpec`, checked against
    ``agents`` (name -> kind) and ``types`` (type key -> kind); keys are kept as written (resolved per agent by
    :func:`agents.behaviours.assign` when the run builds its agents)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ScenarioError(f"{file}: field 'behaviours' must be a table (agent or agent type = behaviour), "
                            f"got {raw!r}")
    out: dict[str, BehaviourSpec] = {}
    try:
        for key, value in raw.items():
            out[str(key)] = parse_spec(value, f"{file}: field 'behaviours.{key}'")
        assign(out, agents, types, where=f"{file}: field 'behaviours'")
    except BehaviourError as e:
        raise ScenarioError(str(e)) from None
    return out

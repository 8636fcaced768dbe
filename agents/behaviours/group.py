"""The behaviours of a group of agents at a day's boundaries: their choices before the day, their memories after it.

A system holds its agents' behaviours by agent name.  :func:`choose` lets each one choose from its own random stream
(:func:`agents.behaviours.agent_rng`) and returns the day's coalition and offered shares; :func:`memories` and
:func:`restore` carry the behaviours' memories through the day's state file (``--resume``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents.behaviours.base import Behaviour
from agents.behaviours.registry import agent_rng


def choose(behaviours: Mapping[str, Behaviour], day: int, seed: int) -> tuple[frozenset[str], dict[str, float]]:
    """Before day ``day`` (1-based): every behaviour chooses from its agent's stream; returns the agents that join
    the coalition today and the share of its flexibility each one offers."""
    members: set[str] = set()
    shares: dict[str, float] = {}
    for name, b in behaviours.items():
        b.begin_day(day, agent_rng(seed, name, day))
        if b.joins(day):
            members.add(name)
        shares[name] = float(b.offered_share())
    return frozenset(members), shares


def memories(behaviours: Mapping[str, Behaviour]) -> dict[str, dict[str, Any]]:
    """The non-empty memories (agent name -> JSON), saved with the day's state."""
    return {name: m for name, b in behaviours.items() if (m := b.memory())}


def restore(behaviours: Mapping[str, Behaviour], saved: Mapping[str, Any], owner: str) -> None:
    """Put :func:`memories`' JSON back (``--resume``); memories of agents ``owner`` (e.g. ``ieee33 state``) does not
    have are refused, naming them."""
    unknown = sorted(set(saved) - set(behaviours))
    if unknown:
        raise ValueError(f"{owner}: behaviour memories of unknown agents {unknown}")
    for name, b in behaviours.items():
        b.restore(saved.get(name, {}))

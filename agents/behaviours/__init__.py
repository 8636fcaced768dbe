"""Agent behaviours (SPEC §8; DESIGN v2 "Behaviours are objects attached to agents").

:mod:`agents.behaviours.base` defines the hooks (the truthful agent), one module per behaviour implements one
of SPEC §8's eight, :mod:`agents.behaviours.registry` maps ids to classes, reads the scenario's
``[behaviours]`` syntax and gives each agent its random stream, and :mod:`agents.behaviours.group` runs a group of
agents' behaviours at a day's boundaries (choices, memories).
"""

from agents.behaviours.base import (
    AGENT_KINDS,
    CAMPUS,
    CLUSTER,
    EV,
    LOWCARBON_CAMPUS,
    RURAL_CAMPUS,
    TRANSFORMER_AREA,
    Behaviour,
    BehaviourError,
    BehaviourSetupError,
    DayFeedback,
    Parameter,
)
from agents.behaviours.group import choose, memories, restore
from agents.behaviours.registry import BEHAVIOURS, DEFAULT, BehaviourSpec, agent_rng, assign, make, parse_spec

__all__ = [
    "AGENT_KINDS", "BEHAVIOURS", "CAMPUS", "CLUSTER", "DEFAULT", "EV", "LOWCARBON_CAMPUS", "RURAL_CAMPUS",
    "TRANSFORMER_AREA", "Behaviour", "BehaviourError", "BehaviourSetupError", "BehaviourSpec", "DayFeedback",
    "Parameter", "agent_rng", "assign", "choose", "make", "memories", "parse_spec", "restore",
]

"""Agent behaviours (SPEC §8; DESIGN v2 "Behaviours are objects attached to agents").

:mod:`agents.behaviours.base` defines the hooks (the truthful agent), one module per behaviour implements one
of SPEC §8's eight, and :mod:`agents.behaviours.registry` maps ids to classes, reads the scenario's
``[behaviours]`` syntax and gives each agent its random stream.
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
    DayFeedback,
    Parameter,
)
from agents.behaviours.registry import BEHAVIOURS, DEFAULT, BehaviourSpec, agent_rng, assign, make, parse_spec

__all__ = [
    "AGENT_KINDS", "BEHAVIOURS", "CAMPUS", "CLUSTER", "DEFAULT", "EV", "LOWCARBON_CAMPUS", "RURAL_CAMPUS",
    "TRANSFORMER_AREA", "Behaviour", "BehaviourError", "BehaviourSpec", "DayFeedback", "Parameter", "agent_rng",
    "assign", "make", "parse_spec",
]

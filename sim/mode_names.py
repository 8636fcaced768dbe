"""The mode names of the bundled systems, importable in milliseconds (for ``run_sim.py --help``).

The registry :data:`sim.systems.SYSTEMS` is where the modes live (each system's ``modes.py``); importing it
loads every system, Pyomo and pandas (~1.5 s).  The command line's help text and the studies' option lists
only need the names, so they read them here.  ``tests/sim/test_mode_names.py`` checks that these names equal
the registry's, kind by kind and in order, so the two cannot drift apart.
"""

from __future__ import annotations

from types import MappingProxyType

_FOUR = ("cooperative", "centralized", "noncooperative", "oracle")

MODE_NAMES = MappingProxyType({
    "ieee33": _FOUR,
    "three_campus": _FOUR,
    "rural_ies": _FOUR,
    "lowcarbon_ies": _FOUR,
})
"""Kind -> its modes' names, in the order of :data:`sim.systems.SYSTEMS` and of each system's ``MODES``."""


def modes_help() -> str:
    """``kind: mode, mode; kind: ...`` of every bundled system, as ``run_sim.py --help`` prints it."""
    return "; ".join(f"{kind}: {', '.join(modes)}" for kind, modes in MODE_NAMES.items())

"""The registry of simulated systems: ``SYSTEMS = {kind: System}``.

Each bundled system is a package ``sim/systems/<kind>/`` whose ``system.py`` defines a
:class:`sim.engine.system.System` and a module-level ``SYSTEM``.  Adding a system is such a package
plus one line below (or :func:`register` at run time, e.g. from a test); the command line, ``compare``
and ``sweep`` read kinds, modes, KPIs and units from here.
"""

from __future__ import annotations

from scenarios.schema import ScenarioError
from sim.engine.scenario import scenario_kind
from sim.engine.system import System
from sim.systems.ieee33.system import SYSTEM as IEEE33
from sim.systems.lowcarbon_ies.system import SYSTEM as LOWCARBON_IES
from sim.systems.rural_ies.system import SYSTEM as RURAL_IES
from sim.systems.three_campus.system import SYSTEM as THREE_CAMPUS

SYSTEMS: dict[str, System] = {
    IEEE33.kind: IEEE33,
    THREE_CAMPUS.kind: THREE_CAMPUS,
    RURAL_IES.kind: RURAL_IES,
    LOWCARBON_IES.kind: LOWCARBON_IES,
}


def register(system: System) -> System:
    """Add ``system`` to :data:`SYSTEMS` under its ``kind`` (replacing one of the same kind); returns it."""
    if not system.kind:
        raise ValueError(f"{type(system).__name__}: a system needs a kind")
    if not system.modes:
        raise ValueError(f"system {system.kind}: a system needs at least one mode")
    for name, mode in system.modes.items():
        if mode.name != name:
            raise ValueError(f"system {system.kind}: mode registered as {name!r} is named {mode.name!r}")
    SYSTEMS[system.kind] = system
    return system


def system_for(name_or_path: str) -> System:
    """The registered system of the scenario at ``name_or_path`` (its ``kind`` field), with a clear error."""
    kind = scenario_kind(name_or_path)
    if kind not in SYSTEMS:
        raise ScenarioError(f"{name_or_path}: kind = {kind!r}; the simulator supports {', '.join(sorted(SYSTEMS))}")
    return SYSTEMS[kind]


def all_modes() -> list[str]:
    """Every mode name of every registered system, in registry order, without repeats."""
    out: list[str] = []
    for s in SYSTEMS.values():
        out += [m for m in s.modes if m not in out]
    return out

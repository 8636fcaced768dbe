"""The four standard coordination modes every bundled system offers, named and coloured once.

A system's mode classes subclass these (and the system's own mode base, which declares the hooks its
day calls): ``class Cooperative(IEEE33Mode, CooperativeMode)``.  A system with one deciding agent,
where the three non-oracle modes coincide, gets its four classes from :func:`single_agent_modes`.
"""

from __future__ import annotations

from sim.engine.system import Mode


class CooperativeMode(Mode):
    """Agents coordinate and share the gain of cooperation (e.g. by Nash bargaining)."""

    name = "cooperative"
    label = "Cooperative"
    colour = "#1f77b4"


class CentralizedMode(Mode):
    """One operator decides for every agent."""

    name = "centralized"
    label = "Centralized"
    colour = "#ff7f0e"


class NoncooperativeMode(Mode):
    """Every agent decides for itself."""

    name = "noncooperative"
    label = "Non-cooperative"
    colour = "#2ca02c"


class OracleMode(Mode):
    """Decisions made knowing the realised day: a lower bound on every other mode's cost."""

    name = "oracle"
    label = "Oracle"
    colour = "#7f7f7f"
    full_information = True


STANDARD_MODES: tuple[type[Mode], ...] = (CooperativeMode, CentralizedMode, NoncooperativeMode, OracleMode)


def single_agent_modes(base: type[Mode], decision: str, oracle: str) -> dict[str, type[Mode]]:
    """The standard modes of a system with one deciding agent, as subclasses of ``base`` (its hooks).

    With one agent there is nobody to cooperate with or to centralise: the three non-oracle modes all
    make ``decision``; the oracle makes ``oracle`` (knowing the realised day).  Returns name -> class,
    in the standard order.
    """
    out: dict[str, type[Mode]] = {}
    for std in STANDARD_MODES:
        desc = oracle if std.full_information else (
            f"one agent: {decision}" + ("" if std is CentralizedMode else " (the same as centralized)"))
        cls_name = std.__name__.removesuffix("Mode")
        cls: type[Mode] = type(cls_name, (base, std), {"description": desc, "bargaining": False,
                                                       "__module__": base.__module__, "__qualname__": cls_name,
                                                       "__doc__": f"{std.__doc__} {desc}."})
        out[std.name] = cls
    return out

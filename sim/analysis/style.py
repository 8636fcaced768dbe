"""Mode labels, colours, order and roles for the comparison tables and figures — read from the registry.

Nothing here names a mode: a mode's label and colour are its class attributes, the order is the
registry's (:data:`sim.systems.SYSTEMS`, each system's modes in their declared order), the reference of
the "price of decentralisation" is the full-information mode present, and the key contrast is the pair a
system declares (:attr:`sim.engine.system.System.key_contrast`).  Systems that share a mode name share
its meaning; the first registered system's class gives the label and colour.
"""

from __future__ import annotations

from collections.abc import Iterable

from sim.engine.system import Mode
from sim.systems import SYSTEMS

#: Colours of clusters (or parks) in the order they appear.
CLUSTER_COLOUR: tuple[str, ...] = ("#9467bd", "#8c564b", "#17becf", "#bcbd22", "#e377c2")


def registered_modes() -> dict[str, type[Mode]]:
    """Every registered mode name -> its class (the first registered system's), in registry order."""
    out: dict[str, type[Mode]] = {}
    for system in SYSTEMS.values():
        for name, mode in system.modes.items():
            out.setdefault(name, mode)
    return out


def mode_order(names: Iterable[str]) -> list[str]:
    """The modes present, in registry order, unknown ones after them (sorted)."""
    present = {str(n) for n in names}
    known = [m for m in registered_modes() if m in present]
    return known + sorted(present - set(known))


def mode_label(name: str) -> str:
    """The mode's label (its class's ``label``), the name itself for an unknown mode."""
    mode = registered_modes().get(name)
    return mode.label if mode is not None and mode.label else name


def mode_colour(name: str, i: int = 0) -> str:
    """The mode's colour (its class's ``colour``); a matplotlib cycle colour for an unknown mode."""
    mode = registered_modes().get(name)
    return mode.colour if mode is not None else f"C{(i + 4) % 10}"


def reference_mode(names: Iterable[str]) -> str | None:
    """The full-information mode among ``names`` (the lower bound the others are measured against), if any."""
    modes = registered_modes()
    return next((n for n in mode_order(names) if n in modes and modes[n].full_information), None)


def key_contrast(names: Iterable[str]) -> tuple[str, str] | None:
    """The first declared key contrast (mode, reference) whose two modes are among ``names``."""
    present = {str(n) for n in names}
    for system in SYSTEMS.values():
        pair = system.key_contrast
        if pair is not None and set(pair) <= present:
            return pair
    return None


def declared_key_contrast() -> tuple[str, str] | None:
    """The first key contrast any registered system declares (for labels when the modes are absent)."""
    return next((s.key_contrast for s in SYSTEMS.values() if s.key_contrast is not None), None)

"""Mode labels, colours, order and roles for the comparison tables and figures — read from the registry.

Nothing here names a mode: a mode's label and colour are its class attributes, the order is the
registry's (:data:`sim.systems.SYSTEMS`, each system's modes in their declared order), the reference of
the "price of decentralisation" is the full-information mode present, and the key contrast is the pair a
system declares (:attr:`sim.engine.system.System.key_contrast`).  Systems that share a mode name share
its meaning; the first registered system's class gives the label and colour.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sim.engine.system import Mode
from sim.systems import SYSTEMS

#: Colours of clusters (or parks) in the order they appear.
CLUSTER_COLOUR: tuple[str, ...] = ("#9467bd", "#8c564b", "#17becf", "#bcbd22", "#e377c2")
#: Matplotlib settings of every comparison and sweep figure, made to be read at print size: 8.5–10 pt text,
#: no top and right spines, white background.
PAPER_RC: dict[str, Any] = {
    "font.size": 9.5, "axes.titlesize": 10, "axes.labelsize": 9.5, "xtick.labelsize": 8.5, "ytick.labelsize": 8.5,
    "legend.fontsize": 8.5, "axes.spines.top": False, "axes.spines.right": False, "axes.grid": False,
    "grid.alpha": 0.3, "lines.linewidth": 1.6, "savefig.facecolor": "white", "figure.facecolor": "white",
}


def tick_labels(ax: Any, positions: Sequence[float], labels: Sequence[str], axis: str = "x",
                width_chars: float = 60.0) -> None:
    """Put ``labels`` at ``positions`` so that they never overlap.

    Rule: the labels' total length (characters) is compared with ``width_chars`` (what fits along the axis at
    the figure's size); when it does not fit, x labels are rotated by 30° (by 90° when even that would not
    fit, i.e. more than three times too long), and when there are more than 24 labels only every k-th is
    shown (k = ceil(n / 24)); a label over 28 characters is cut with an ellipsis.  y labels are never rotated,
    only thinned and cut."""
    n = len(labels)
    step = max(1, -(-n // 24))
    short = [lab if len(lab) <= 28 else lab[:27] + "…" for lab in labels]
    shown = [lab if i % step == 0 else "" for i, lab in enumerate(short)]
    total = sum(len(s) + 2 for s in shown if s)
    if axis == "y":
        ax.set_yticks(list(positions), shown)
        return
    if total <= width_chars:
        ax.set_xticks(list(positions), shown)
    elif total <= 3 * width_chars:
        ax.set_xticks(list(positions), shown, rotation=30, ha="right", rotation_mode="anchor")
    else:
        ax.set_xticks(list(positions), shown, rotation=90)


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

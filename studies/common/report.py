"""Figures and ``report.md`` of a study: the figure loop, the report writer and :func:`render_study`.

Each study says what to draw (name -> a function returning a :class:`~matplotlib.figure.Figure`) and what to
write (the report's lines); the loops, the file names and the atomic writes are here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from matplotlib.figure import Figure

from sim.engine.io import save_figure, write_text

log = logging.getLogger(__name__)

#: The errors of a figure whose data are missing or malformed: the figure is skipped with a warning.
FIGURE_ERRORS: tuple[type[Exception], ...] = (ValueError, KeyError, IndexError)


def draw_figures(makers: Mapping[str, Callable[[], Figure]], folder: str | Path, *,
                 skip: tuple[type[Exception], ...] = FIGURE_ERRORS) -> dict[str, Path]:
    """Draw every figure of ``makers`` and save it as ``folder/<name>.png``; return name -> path, in the order of
    ``makers``.  A maker that raises one of ``skip`` is skipped with a warning (the report then omits the
    figure); ``skip=()`` lets every error through."""
    out: dict[str, Path] = {}
    for name, make in makers.items():
        try:
            fig = make()
        except skip as exc:
            log.warning("figure %s skipped: %s", name, exc)
            continue
        out[name] = save_figure(fig, Path(folder) / f"{name}.png")
    return out


def other_figures(lines: Sequence[str], figs: Mapping[str, Path]) -> list[str]:
    """A "## Other figures" section embedding every figure that ``lines`` do not show yet (none: no section)."""
    listed = "\n".join(lines)
    rest = [n for n in figs if f"figures/{figs[n].name}" not in listed]
    if not rest:
        return []
    return ["## Other figures\n", *(f"![{n}](figures/{figs[n].name})\n" for n in rest)]


def write_report_md(lines: Sequence[str], out: str | Path) -> Path:
    """Write the report's lines as ``out/report.md`` (atomically); return its path."""
    return write_text("\n".join(lines) + "\n", Path(out) / "report.md")


def render_study[T](out: str | Path, load: Callable[[Path], T], figures: Callable[[T, Path], dict[str, Path]],
                    report: Callable[[T, Path, dict[str, Path]], Path]) -> tuple[dict[str, Path], Path]:
    """Load the finished study in ``out``, draw ``out/figures/*.png`` and write ``out/report.md``."""
    d = Path(out)
    tables = load(d)
    figs = figures(tables, d / "figures")
    return figs, report(tables, d, figs)

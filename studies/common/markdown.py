"""Markdown tables of the study reports: numbers formatted per column, ``|`` escaped in text cells.

:func:`markdown_table` itself lives in :mod:`sim.engine.io` (the comparison reports and the benchmarks use it too).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from sim.engine.io import markdown_table

__all__ = ["escape", "escaped_table", "markdown_table", "number_cell", "number_table"]


def escape(text: Any) -> str:
    """``text`` as a string with ``|`` escaped, so that it stays inside its table cell."""
    return str(text).replace("|", "\\|")


def number_cell(v: float, digits: int) -> str:
    """A number cell: ``n/a`` for NaN or infinity, scientific (3 decimals) for ``digits < 0``, else ``digits``
    decimals with thousands separators."""
    if not math.isfinite(v):
        return "n/a"
    return f"{v:.3e}" if digits < 0 else f"{v:,.{digits}f}"


def number_table(df: pd.DataFrame, digits: Mapping[str, int] | None = None, default: int = 2) -> str:
    """:func:`markdown_table` with every float column shown by :func:`number_cell` (``digits`` per column,
    ``default`` for the others)."""
    show = df.copy()
    for c in show.columns:
        if pd.api.types.is_float_dtype(show[c]):
            nd = (digits or {}).get(c, default)
            show[c] = [number_cell(float(v), nd) for v in show[c]]
    return markdown_table(show)


def escaped_table(df: pd.DataFrame) -> str:
    """:func:`markdown_table` with ``|`` escaped in the headers and the text cells (e.g. 'max |Z_k|')."""
    return markdown_table(df.rename(columns=escape).map(lambda v: escape(v) if isinstance(v, str) else v))

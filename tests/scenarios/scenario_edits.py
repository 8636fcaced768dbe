"""Helpers for tests that edit a private copy of a bundled scenario folder."""

from __future__ import annotations

import re
from pathlib import Path


def edit(file: Path, old: str, new: str, count: int = 1) -> None:
    text = file.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {file}"
    file.write_text(text.replace(old, new, count), encoding="utf-8")


def edit_nth(file: Path, old: str, new: str, n: int) -> None:
    """Replace the ``n``-th (1-based) occurrence of ``old``."""
    text = file.read_text(encoding="utf-8")
    parts = text.split(old)
    assert len(parts) > n, f"{old!r} occurs fewer than {n} times in {file}"
    file.write_text(old.join(parts[:n]) + new + old.join(parts[n:]), encoding="utf-8")


def edit_re(file: Path, pattern: str, new: str) -> None:
    text = file.read_text(encoding="utf-8")
    out, n = re.subn(pattern, new, text, count=1, flags=re.MULTILINE)
    assert n == 1, f"{pattern!r} not in {file}"
    file.write_text(out, encoding="utf-8")


def edit_csv_cell(file: Path, row: int, col: str, value: str) -> None:
    """Set the cell of data row ``row`` (1-based) in column ``col``."""
    lines = file.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    cells = lines[row].split(",")
    cells[header.index(col)] = value
    lines[row] = ",".join(cells)
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")

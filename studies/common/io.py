"""A study's folder: reading a finished study's files back (``--report-only``) and progress messages."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd


def read_study_files(out: str | Path, files: Mapping[str, Sequence[str]], what: str
                     ) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """The tables and ``study.json`` of a finished study in ``out`` (for ``--report-only``).

    ``files`` maps each file name to the columns it must have (``study.json`` to ``()``).  Raises
    FileNotFoundError naming every missing file ("not a finished <what> study") and ValueError naming
    the file and its missing columns, or a ``study.json`` that is not a JSON object.
    """
    d = Path(out)
    missing = [f for f in files if not (d / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{d}: not a finished {what} study (missing {', '.join(missing)})")
    frames: dict[str, pd.DataFrame] = {}
    for name, cols in files.items():
        if name == "study.json":
            continue
        path = d / name
        df = pd.read_parquet(path) if name.endswith(".parquet") else pd.read_csv(path)
        absent = [c for c in cols if c not in df.columns]
        if absent:
            raise ValueError(f"{path}: missing column(s) {', '.join(absent)}; it has {', '.join(map(str, df.columns))}")
        frames[name] = df
    try:
        meta = json.loads((d / "study.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{d / 'study.json'}: not valid JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise ValueError(f"{d / 'study.json'}: expected a JSON object, got {type(meta).__name__}")
    return frames, meta


def progress_printer(quiet: bool) -> Callable[[str], None]:
    """``say(msg)``: ``[elapsed s] msg`` on stderr (nothing when ``quiet``), for a study's progress."""
    t0 = time.perf_counter()

    def say(msg: str) -> None:
        if not quiet:
            print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)

    return say

"""Tidy result writers.  Every file is written atomically (temp file + rename), so a killed run
never leaves a half-written output behind."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_csv(df: pd.DataFrame, path: str | Path, float_format: str = "%.10g") -> Path:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format=float_format)
    return Path(path)


def write_parquet(df: pd.DataFrame, path: str | Path) -> Path:
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False, engine="pyarrow", compression="zstd")
    return Path(path)


def write_text(text: str, path: str | Path) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(obj: Any, path: str | Path) -> Path:
    return write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n", path)


def markdown_table(df: pd.DataFrame, floatfmt: str = ".2f") -> str:
    """A GitHub-markdown table without optional dependencies."""
    cols = list(df.columns)
    lines = ["| " + " | ".join(str(c) for c in cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, row in df.iterrows():
        cells = []
        for c in cols:
            v = row[c]
            if isinstance(v, float):
                cells.append(format(v, floatfmt))
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


PACKAGES = ("coopgrid", "highspy", "pyomo", "mesa", "numpy", "pandas", "scipy", "pandapower", "matplotlib", "pyarrow",
            "pvlib", "windpowerlib", "dask", "distributed")


def package_version(dist: str) -> str | None:
    """Installed version of a distribution, or None."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment_info(packages: tuple[str, ...] = PACKAGES) -> dict[str, Any]:
    """Where a result was computed: platform, Python, CPU, load and package versions (provenance)."""
    try:
        import highspy

        highs: str | None = str(highspy.Highs().version())
    except Exception:  # pragma: no cover - fall back to the installed distribution's version
        highs = package_version("highspy")
    try:
        affinity: int | None = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        affinity = None
    try:
        load: list[float] | None = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        load = None
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "highs": highs,
        "packages": {name: package_version(name) for name in packages},
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "load_average_at_start": load,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


# ---------------------------------------------------------------------------- benchmark documents


def machine_info(flat: tuple[str, ...] = ("pyomo", "mesa", "numpy", "pandas")) -> dict[str, Any]:
    """:func:`environment_info` shaped for the benchmark JSON files: the HiGHS version as ``highspy``,
    the ``highspy`` distribution as ``highspy_package``, the versions of ``flat`` at the top level."""
    env = environment_info()
    pk = env.pop("packages")
    env["highspy"] = env.pop("highs")
    return {**env, "highspy_package": pk.get("highspy"), **{name: pk.get(name) for name in flat}}


def finite_or_none(x: Any) -> float | None:
    """JSON-safe float: NaN and infinities become ``None``."""
    if x is None:
        return None
    v = float(x)
    return v if math.isfinite(v) else None


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars as Python numbers, non-finite floats as ``None``, paths as strings,
    tuples and sets as lists and every mapping key as a string (for :func:`write_json`)."""
    import numpy as np

    if isinstance(obj, bool | int | str) or obj is None:
        return obj
    if isinstance(obj, float | np.floating):
        return finite_or_none(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set):
        return [jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def int_list(text: str) -> list[int]:
    """``argparse`` type: a comma-separated list of whole numbers >= 1, duplicates dropped."""
    import argparse

    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of integers, got {text!r}") from exc
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return list(dict.fromkeys(values))


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

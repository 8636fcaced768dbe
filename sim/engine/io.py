"""Tidy result writers.  Every file is written atomically (temp file + rename), so a killed run
never leaves a half-written output behind."""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata
import json
import logging
import math
import os
import platform
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)


#: Mode of every result file (readable by colleagues on a shared machine; DESIGN principle 9) and folder.
FILE_MODE = 0o644
DIR_MODE = 0o755


def make_dirs(path: str | Path) -> Path:
    """Create ``path`` and its missing parents, each new folder with mode 0755 (whatever the umask)."""
    target = Path(path)
    missing = []
    p = target
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    target.mkdir(parents=True, exist_ok=True)
    for d in missing:
        with contextlib.suppress(OSError):  # created by someone else meanwhile
            os.chmod(d, DIR_MODE)
    return target


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    ``tempfile.mkstemp`` creates the temporary file with mode 0600; it is set to 0644 before the rename,
    so the result is readable by others (DESIGN principle 9)."""
    target = Path(path)
    make_dirs(target.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, FILE_MODE)
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


#: Resolution of every saved figure (PNG).
FIGURE_DPI = 120


def save_figure(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``fig`` as PNG (dpi 120, tight bounding box) atomically: temp file in the target
    folder, then :func:`os.replace`.  Parent folders are created.  Returns the path."""
    target = Path(path)
    make_dirs(target.parent)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        fig.savefig(tmp, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.debug("wrote %s", target)
    return target

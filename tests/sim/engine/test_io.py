"""Atomic writers and provenance helpers of sim/engine/io.py."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pandas as pd
import pytest

from sim.engine.io import atomic_path, environment_info, markdown_table, package_version, write_csv


def test_environment_info_reports_installed_versions() -> None:
    env = environment_info(("numpy", "no-such-distribution-xyz"))
    assert env["packages"]["numpy"] == importlib.metadata.version("numpy")
    assert env["packages"]["no-such-distribution-xyz"] is None
    assert package_version("no-such-distribution-xyz") is None
    assert env["python"].startswith("3.")
    assert env["highs"] == str(__import__("highspy").Highs().version())


def test_atomic_write_leaves_old_file_when_interrupted(tmp_path: Path) -> None:
    target = tmp_path / "t.csv"
    write_csv(pd.DataFrame({"a": [1]}), target)
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert pd.read_csv(target)["a"].tolist() == [1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


def test_markdown_table_formats_floats() -> None:
    text = markdown_table(pd.DataFrame({"x": [1.23456], "y": ["b"]}), floatfmt=".2f")
    assert text.splitlines() == ["| x | y |", "|---|---|", "| 1.23 | b |"]


def test_benchmark_document_helpers() -> None:
    import argparse
    import math
    from pathlib import Path

    import numpy as np

    from sim.engine.io import int_list, jsonable, machine_info

    doc = jsonable({1: np.float64(2.5), "nan": math.nan, "inf": np.inf, "n": np.int64(3), "p": Path("a/b"),
                    "t": (1, {2}), "ok": True})
    assert doc == {"1": 2.5, "nan": None, "inf": None, "n": 3, "p": "a/b", "t": [1, [2]], "ok": True}
    assert type(doc["n"]) is int
    assert int_list("3,1,3") == [3, 1]
    for bad in ("", "1,x", "0,2"):
        try:
            int_list(bad)
        except argparse.ArgumentTypeError:
            continue
        raise AssertionError(f"{bad!r} was accepted")
    m = machine_info()
    assert {"platform", "python", "highspy", "highspy_package", "pyomo", "numpy", "cpu_count", "date"} <= set(m)

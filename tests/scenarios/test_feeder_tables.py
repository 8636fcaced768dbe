"""The shipped IEEE-33 feeder tables (scenarios/feeders/) equal what pandapower gives; the feeder is loaded once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scenarios.feeder import FEEDER_DIR, FEEDER_TABLES, ieee33_from_pandapower, load_ieee33, read_feeder_tables

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_tables_equal_pandapower_case33bw() -> None:
    built, version = ieee33_from_pandapower()
    shipped = load_ieee33()
    assert shipped.source == built.source, f"tables from another pandapower than {version}: rerun make_feeder.py"
    for what in ("name", "buses", "branches", "tie_lines", "v_base_kv", "s_base_mva", "root", "order"):
        assert getattr(shipped, what) == getattr(built, what), what
    np.testing.assert_array_equal(shipped.p_load_kw, built.p_load_kw)
    np.testing.assert_array_equal(shipped.q_load_kvar, built.q_load_kvar)
    assert shipped.n_branches == 32 and len(shipped.tie_lines) == 5
    assert float(shipped.p_load_kw.sum()) == pytest.approx(3715.0) and float(shipped.q_load_kvar.sum()) == 2300.0


def test_load_ieee33_is_cached_and_needs_no_pandapower() -> None:
    assert load_ieee33() is load_ieee33()
    code = ("import sys\nfrom scenarios.feeder import load_ieee33\nf = load_ieee33()\n"
            "assert f is load_ieee33() and f.n_buses == 33\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pandapower', 'pandas')))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_malformed_table_names_file_row_and_field(tmp_path: Path) -> None:
    for v in FEEDER_TABLES.values():
        (tmp_path / v.format(name="ieee33")).write_text((FEEDER_DIR / v.format(name="ieee33")).read_text("utf-8"),
                                                       "utf-8")
    assert read_feeder_tables("ieee33", tmp_path).branches == load_ieee33().branches
    branches = tmp_path / "ieee33_branches.csv"
    lines = branches.read_text("utf-8").splitlines()
    lines[3] = lines[3].replace(lines[3].split(",")[2], "abc", 1)
    branches.write_text("\n".join(lines) + "\n", "utf-8")
    with pytest.raises(ValueError, match=r"ieee33_branches.csv, data row 3: field 'r_ohm' must be a number"):
        read_feeder_tables("ieee33", tmp_path)

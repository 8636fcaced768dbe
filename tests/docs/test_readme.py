"""The README's worked examples run as written, and its KPI column tables match the registry.

The three examples (an agent type, a system, a mode) are the fenced ``python`` blocks of README.md whose
first line is ``# example: ...``; they run in order in one namespace, then the registered example system
goes through the real command line: ``simulate`` with ``--resume`` and ``compare`` of its two modes.
"""

from __future__ import annotations

import filecmp
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import run_sim
import sim.systems as registry
from sim.analysis.columns import kpi_tables_markdown

README = Path(__file__).resolve().parents[2] / "README.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(# example: [^\n]*\n.*?)```", README.read_text(encoding="utf-8"), re.S)


@pytest.fixture()
def examples() -> Iterator[dict[str, Any]]:
    before = set(registry.SYSTEMS)
    ns: dict[str, Any] = {"__name__": "readme_examples"}
    try:
        for block in _blocks():
            exec(compile(block, str(README), "exec", dont_inherit=True), ns)  # the README examples, as written
        yield ns
    finally:
        for kind in set(registry.SYSTEMS) - before:
            del registry.SYSTEMS[kind]


def test_the_readme_has_the_three_worked_examples() -> None:
    heads = [b.splitlines()[0] for b in _blocks()]
    assert heads == ["# example: an agent type", "# example: a system", "# example: a mode"]


def test_the_examples_run_through_simulate_resume_and_compare(examples: dict[str, Any], tmp_path: Path) -> None:
    assert "houses" in registry.SYSTEMS
    folder = tmp_path / "houses"
    folder.mkdir()
    (folder / "scenario.toml").write_text('kind = "houses"\n', encoding="utf-8")
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert run_sim.main(["simulate", "--scenario", str(folder), "--days", "3", "--out", str(full), "--quiet"]) == 0
    assert run_sim.main(["simulate", "--scenario", str(folder), "--days", "2", "--out", str(cut), "--quiet"]) == 0
    assert run_sim.main(["simulate", "--scenario", str(folder), "--days", "3", "--out", str(cut), "--quiet",
                         "--resume"]) == 0
    assert filecmp.cmp(full / "kpis.csv", cut / "kpis.csv", shallow=False)
    agents = pd.read_parquet(full / "agents" / "day=001" / "tou-s0.parquet")
    assert set(agents["agent_id"]) == {"H1", "H2"} and set(agents["unit"]) == {"USD"}
    out = tmp_path / "cmp"
    assert run_sim.main(["compare", "--scenario", str(folder), "--days", "3", "--out", str(out), "--quiet"]) == 0
    k = pd.read_csv(out / "kpis.csv").pivot_table(index="day", columns="mode", values="total_cost")
    # the time-of-use plan is optimal at the true prices and the flat plan is feasible: flat costs at least as much
    assert (k["flat"] >= k["tou"] - 1e-9).all() and (k["flat"] > k["tou"] + 1e-6).any()


def test_the_readme_lists_every_kpi_column_with_its_unit() -> None:
    text = README.read_text(encoding="utf-8")
    assert kpi_tables_markdown() in text, "README's KPI tables differ from the registry: paste kpi_tables_markdown()"

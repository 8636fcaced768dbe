"""The catalogue of ``kpis.csv`` columns of every registered system, as the README lists them.

Print it with ``python -m sim.analysis.columns``; a test checks that README.md contains exactly this text.
"""

from __future__ import annotations

from sim.systems import SYSTEMS


def kpi_tables_markdown() -> str:
    """One markdown table per registered system: its ``kpis.csv`` columns with unit, direction and meaning."""
    parts = []
    for kind, system in SYSTEMS.items():
        rows = [f"**`{kind}`** — {system.description}", "", "| column | unit | better | meaning |",
                "|---|---|---|---|"]
        for k in system.kpis:
            better = {True: "lower", False: "higher", None: "–"}[k.lower_is_better]
            rows.append(f"| `{k.name}` | {k.unit} | {better} | {k.description} |")
        parts.append("\n".join(rows))
    return "\n\n".join(parts)


if __name__ == "__main__":
    print(kpi_tables_markdown())

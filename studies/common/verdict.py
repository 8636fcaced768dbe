"""A trend (finding) of a paper checked against a study, and how a report renders a list of them.

Every study computes its verdicts from its own tables; this module only holds the record and its markdown:
:func:`verdict_section` (a table, the counts, the reasons: papers 002, 003 and 004) and :func:`verdict_bullets`
(one bullet per trend: paper 000).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from studies.common.markdown import escaped_table

HOLDS, FAILS, NOT_COMPARABLE = "holds", "does not hold", "not comparable"
STATUSES: tuple[str, ...] = (HOLDS, FAILS, NOT_COMPARABLE)


def status(ok: bool) -> str:
    """:data:`HOLDS` or :data:`FAILS`."""
    return HOLDS if ok else FAILS


@dataclass(frozen=True)
class Finding:
    """A finding of a paper that a report checks: ``key`` (e.g. F16), where it comes from, the trend, the paper's
    value."""

    key: str
    source: str
    trend: str
    paper: str


@dataclass
class Verdict:
    """One trend of a paper checked against the study: ``status`` is :data:`HOLDS`, :data:`FAILS` or
    :data:`NOT_COMPARABLE`; ``ours`` is the study's evidence, ``why`` the explanation (needed unless it holds)."""

    key: str
    trend: str
    paper: str
    ours: str
    status: str
    why: str = ""
    source: str = ""

    @property
    def holds(self) -> bool:
        return self.status == HOLDS

    @classmethod
    def of(cls, finding: Finding, ours: str, status: str, why: str = "") -> Verdict:
        """The verdict on ``finding``."""
        return cls(finding.key, finding.trend, finding.paper, ours, status, why, finding.source)


def verdict_table(vs: Iterable[Verdict], columns: Sequence[tuple[str, str]]) -> str:
    """A markdown table with one row per verdict: ``columns`` are (header, attribute of :class:`Verdict`), then the
    verdict in bold; ``|`` is escaped everywhere."""
    rows = [{**{head: getattr(v, attr) for head, attr in columns}, "verdict": f"**{v.status}**"} for v in vs]
    return escaped_table(pd.DataFrame(rows))


def count_line(vs: Sequence[Verdict]) -> str:
    """'N hold, M do not hold, K not comparable.'"""
    n = {s: sum(v.status == s for v in vs) for s in STATUSES}
    return f"{n[HOLDS]} hold, {n[FAILS]} do not hold, {n[NOT_COMPARABLE]} not comparable."


def why_lines(vs: Iterable[Verdict]) -> list[str]:
    """'- **key — status** (trend): why' per verdict."""
    return [f"- **{v.key} — {v.status}** ({v.trend}): {v.why}" for v in vs]


def verdict_section(vs: Sequence[Verdict], columns: Sequence[tuple[str, str]], note: str = "",
                    explain: str = "all") -> list[str]:
    """Report lines: the :func:`verdict_table`, the :func:`count_line` (then ``note``), and a "### Why" list of
    the reasons of every verdict (``explain="all"``) or of those that do not hold (``explain="not holding"``;
    no list when every trend holds)."""
    if explain not in ("all", "not holding"):
        raise ValueError(f"explain must be 'all' or 'not holding', got {explain!r}")
    lines = [verdict_table(vs, columns) + "\n", count_line(vs) + (f" {note}" if note else "") + "\n"]
    shown = list(vs) if explain == "all" else [v for v in vs if not v.holds]
    if shown or explain == "all":
        lines += ["### Why\n", *why_lines(shown), ""]
    return lines


def verdict_bullets(vs: Iterable[Verdict]) -> list[str]:
    """'- **status** — trend: evidence.' per verdict, with '*Why:*' on the next line when there is a reason."""
    return [f"- **{v.status}** — {v.trend}: {v.ours}." + (f"\n  *Why:* {v.why}" if v.why else "") for v in vs]

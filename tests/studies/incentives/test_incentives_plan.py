"""The incentives study's run plan (studies/incentives/plan.py): the grid of issue 16, one folder per run, scenario
edits the behaviour registry accepts, the leave setting."""

from __future__ import annotations

import pytest

from agents.behaviours import make, parse_spec
from studies.incentives import plan as pl

PLAYERS = ("C1", "C2", "C3")


def test_full_grid_is_the_issues() -> None:
    grid = pl.deviation_grid()
    by = {f: sorted(d.value for d in grid if d.family == f) for f in ("misreport", "withhold", "misreport+verify")}
    assert by == {"misreport": [-0.3, -0.1, 0.1], "withhold": [0.25, 0.5, 1.0], "misreport+verify": [-0.3, -0.1, 0.1]}
    assert [d.family for d in grid].count("rule") == 1
    assert len(pl.deviation_grid(quick=True)) == 4


def test_first_runs_points_and_overrides() -> None:
    runs = pl.first_runs(PLAYERS, ["C2"], seed=3, days=5)
    assert runs[0].point == pl.BASELINE and runs[0].spec.overrides == (("market.audit", True),)
    assert len(runs) == 1 + 2 + 3 * 10
    assert len({r.point for r in runs}) == len(runs)  # one folder per run
    assert {r.spec.seed for r in runs} == {3} and {r.spec.days for r in runs} == {5}  # common random days
    for r in runs[1:]:
        edits = dict(r.spec.overrides)
        spec = parse_spec(edits[f"behaviours.{r.player}"])  # the registry accepts the text
        make(spec)
        assert edits.get("market.verify_standalone", False) is r.verify
        if r.deviation is not None and r.deviation.family == "misreport":
            assert spec.id == "misreport" and spec.values["m"] == r.deviation.value
    learner = make(parse_spec(dict(runs[1].spec.overrides)["behaviours.C2"]))
    assert learner.values["grid"] == pl.LEARN_GRID and learner.values["over"] == "misreport"
    assert [r.player for r in pl.first_runs(PLAYERS, [], 0, 1, deviators=["C3"])[1:]] == ["C3"] * 10
    with pytest.raises(ValueError, match="--deviators: C7 is not a bargaining player here; the players are C1, C2"):
        pl.first_runs(PLAYERS, [], 0, 1, deviators=["C7"])


def test_leave_runs_with_and_without_a_liar() -> None:
    gains = {"C1": 100.0, "C2": 40.0, "C3": -6.0}
    runs = pl.leave_runs(PLAYERS, "C1", -0.1, gains, seed=0, days=4)
    assert [r.variant for r in runs] == ["lie+leave", "leave"]
    lie = dict(runs[0].spec.overrides)
    assert lie["behaviours.C1"] == "misreport:m=-0.1"
    c2 = make(parse_spec(lie["behaviours.C2"]))
    assert c2.values == {"w": pl.LEAVE_WINDOW, "g": 20.0, "c": pl.LEAVE_COOLOFF}
    assert make(parse_spec(lie["behaviours.C3"])).values["g"] == -3.0
    assert "behaviours.C1" not in dict(runs[1].spec.overrides)  # the control: the liar is truthful
    alone = pl.leave_runs(PLAYERS, None, float("nan"), gains, seed=0, days=4)
    assert [r.variant for r in alone] == ["leave"] and len(alone[0].spec.overrides) == 3

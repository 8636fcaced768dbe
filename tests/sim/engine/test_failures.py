"""One readable failure (DESIGN principle 8): a failed solve is one paragraph naming system, run, mode, day,
clock time, agent, families with their periods and the scenario fields; a sweep finishes the other points;
Ctrl-C keeps the finished days; bad command-line values are one-line errors; files are 0644.

The system is the cheap toy of ``conftest.py`` (one household LP over 96 quarter-hours, solved by HiGHS):
its peak load in 14:30-15:15 is infeasible exactly when it exceeds the grid limit plus the battery power.
"""

from __future__ import annotations

import filecmp
import os
import stat
from pathlib import Path

import pandas as pd
import pyomo.environ as pyo
import pytest
from conftest import TOY_TOML, ToySystem, write_toy

import run_sim
from agents.milp import HighsModel, SolveError
from sim.engine.failure import clock, periods_text, quarter_hour_clock

#: day 1 peak 2 + 2.5 (x 0.95..1.05) <= 5 + 1 kW; day 2 peak 2 + 5.5 > 6 kW: day 2 is infeasible
GROWING = TOY_TOML.replace("peak_kw = 3.0", "peak_kw = 2.5").replace("day_growth_kw = 0.0", "day_growth_kw = 3.0")


def _main(*args: str) -> int:
    return run_sim.main([*args, "--quiet"])


def test_clock_times_of_periods() -> None:
    assert clock(0) == "00:00" and clock(855) == "14:15" and clock(1440) == "24:00"
    assert quarter_hour_clock(1) == "00:00" and quarter_hour_clock(58) == "14:15"
    # DA hours 10-12 and 18 (period t covers [(t-1) h, t h)): merged into intervals
    assert periods_text([12, 10, 11, 18], 1.0) == "09:00-12:00, 17:00-18:00"
    assert periods_text([58, 59], 0.25) == "14:15-14:45"
    assert periods_text([1, 3, 5], 0.25, limit=2) == "00:00-00:15, 00:30-00:45, and 1 more intervals"
    assert periods_text([], 1.0) == "" and periods_text([3], None) == ""


def test_infeasible_day_is_one_paragraph_and_keeps_the_days_before(toy: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    write_toy(toy, GROWING)
    out = tmp_path / "o"
    assert _main("simulate", "--scenario", str(toy), "--days", "3", "--out", str(out)) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    paragraph = err.split("error: ", 1)[1].split("\n1 of 1 runs failed")[0]
    assert "\n\n" not in paragraph
    for part in ("toy run alone-s0", "mode alone", "seed 0", "day 2 at 00:00", "household H1",
                 "infeasible", "def_balance in 14:30-15:15", "grid.max_kw, load.peak_kw, storage.p_max_kw"):
        assert part in paragraph, part
    k = pd.read_csv(out / "kpis.csv")
    assert list(k["day"]) == [1]  # the day before the failure is kept; the run stops at the failed day
    f = pd.read_csv(out / "failures.csv")
    assert list(f[["run", "mode", "seed", "point", "day", "time"]].iloc[0]) == ["alone-s0", "alone", 0, "base", 2,
                                                                                "00:00"]
    assert "14:30-15:15" in f["message"].iloc[0]
    # -v adds the traceback
    assert run_sim.main(["-v", "simulate", "--scenario", str(toy), "--days", "3", "--out", str(tmp_path / "v"),
                         "--quiet"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_sweep_with_an_infeasible_point_writes_the_others(toy: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sw"
    assert _main("sweep", "--scenario", str(toy), "--set", "load.peak_kw=1,9,2", "--days", "2", "--out", str(out)) == 1
    err = capsys.readouterr().err
    assert "sweep point load.peak_kw=9" in err and "day 1" in err and "1 of 3 runs failed" in err
    k = pd.read_csv(out / "kpis.csv")
    assert sorted(set(k["point"])) == ["load.peak_kw=1", "load.peak_kw=2"] and len(k) == 4
    f = pd.read_csv(out / "failures.csv")
    assert list(f["point"]) == ["load.peak_kw=9"] and list(f["day"]) == [1]
    assert (out / "report.md").exists() and (out / "sweep.csv").exists()
    assert '"status": "failed"' in (out / "manifest.json").read_text(encoding="utf-8")


def test_ctrl_c_keeps_finished_days_and_resumes(toy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert _main("simulate", "--scenario", str(toy), "--days", "3", "--out", str(full)) == 0
    original = ToySystem.day

    def interrupted_day(self: ToySystem, model: object, d: int):  # type: ignore[no-untyped-def]
        steps = original(self, model, d)
        while True:
            try:
                k = next(steps)
            except StopIteration as stop:
                return stop.value
            if d == 1 and k == 40:  # Ctrl-C in the middle of day 2
                raise KeyboardInterrupt
            yield k

    monkeypatch.setattr(ToySystem, "day", interrupted_day)
    assert _main("simulate", "--scenario", str(toy), "--days", "3", "--out", str(cut)) == 130
    err = capsys.readouterr().err
    assert "interrupted during day 2; continue with --resume" in err and "Traceback" not in err
    assert list(pd.read_csv(cut / "kpis.csv")["day"]) == [1]
    assert list(pd.read_csv(cut / "timings.csv")["day"]) == [1]
    assert '"status": "interrupted"' in (cut / "manifest.json").read_text(encoding="utf-8")
    monkeypatch.setattr(ToySystem, "day", original)
    assert _main("simulate", "--scenario", str(toy), "--days", "3", "--out", str(cut), "--resume") == 0
    assert filecmp.cmp(full / "kpis.csv", cut / "kpis.csv", shallow=False)
    assert list(pd.read_csv(cut / "timings.csv")["day"]) == [1, 2, 3]  # the first invocation's day 1 included


def test_result_files_are_readable_by_others(toy: Path, tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        out = tmp_path / "perm"
        assert _main("compare", "--scenario", str(toy), "--days", "1", "--out", str(out)) == 0
    finally:
        os.umask(old)
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) >= 8 and any(p.suffix == ".png" for p in files) and any(p.suffix == ".parquet" for p in files)
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {"0o644"}
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in [out, *out.rglob("*")] if p.is_dir()} == {"0o755"}


@pytest.mark.parametrize(("args", "message"), [
    (["--time-limit", "-1"], "must be > 0"),
    (["--time-limit", "nan"], "must be finite"),
    (["--time-limit", "inf"], "must be finite"),
    (["--days", "0"], "expected a whole number >= 1"),
    (["--seeds", "3-1"], "ranges low-high"),
    (["--seeds", "a,b"], "expected seeds like 0-9"),
    (["--seed", "1", "--seeds", "0-2"], "not allowed with argument"),
    (["--start-day", "400"], "1..365"),
])
def test_bad_command_line_values_are_one_line(args: list[str], message: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        run_sim.main(["simulate", *args, "--out", str(tmp_path / "x")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and err.startswith("run_sim.py simulate: error:")
    assert not (tmp_path / "x").exists()


def test_out_on_an_existing_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "a_file"
    f.write_text("keep me", encoding="utf-8")
    with pytest.raises(SystemExit) as exit_:
        run_sim.main(["simulate", "--out", str(f)])
    assert exit_.value.code == 2 and "is an existing file" in capsys.readouterr().err
    assert f.read_text(encoding="utf-8") == "keep me"


def test_no_diagnosis_falls_back_to_what_is_known(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the elastic re-solve names no family, the error still says something: the scale of the matrix
    and the largest bound with the row it is on (a 1e12 load), and implicates that row's family."""
    m = pyo.ConcreteModel(name="huge")
    m.T = pyo.Set(initialize=[1, 2], ordered=True)
    m.x = pyo.Var(m.T, bounds=(0, 5))
    m.def_balance = pyo.Constraint(m.T, rule=lambda b, t: b.x[t] == (1e12 if t == 2 else 1.0))
    m.obj = pyo.Objective(expr=m.x[1] + m.x[2])
    hm = HighsModel(m, "big agent")
    monkeypatch.setattr(HighsModel, "diagnose", lambda self, top=8: [])
    with pytest.raises(SolveError) as info:
        hm.solve()
    err = info.value
    assert err.status == "infeasible" and err.model == "big agent" and not err.families
    assert any("largest finite bound 1e+12" in n and "def_balance[2]" in n and "badly scaled" in n
               for n in err.notes)
    assert err.suspects == ["def_balance"]


def test_diagnosis_gives_the_periods_of_each_family() -> None:
    m = pyo.ConcreteModel(name="da")
    m.H = pyo.Set(initialize=range(1, 25), ordered=True)
    m.B = pyo.Set(initialize=["a", "b"], ordered=True)
    m.x = pyo.Var(m.B, m.H, bounds=(0, 1))
    m.res_need = pyo.Constraint(m.B, m.H, rule=lambda b, j, h: b.x[j, h] >= (2 if (j == "b" and h in (18, 19))
                                                                              else 0))
    m.obj = pyo.Objective(expr=pyo.quicksum(m.x[j, h] for j in m.B for h in m.H))
    with pytest.raises(SolveError) as info:
        HighsModel(m, "planner").solve()
    (fam,) = info.value.families
    assert (fam.family, fam.periods, fam.step_h) == ("res_need", (18, 19), 1.0)
    assert fam.violation == pytest.approx(2.0)
    assert info.value.diagnosis == [fam.legacy()]

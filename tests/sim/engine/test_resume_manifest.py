"""``--resume`` refuses to mix runs: the manifest (written when a command starts) records the scenario hash
after the overrides, seed, mode, sweep point, settings and code version, and a resume with any of them
different stops (exit 2) saying what differs and how to start fresh; the same inputs continue.
``--seeds`` runs several seeds into one kpis.csv.  The system is the cheap toy of ``conftest.py``."""

from __future__ import annotations

import filecmp
import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import TOY_TOML, write_toy

import run_sim


def _main(*args: str) -> int:
    return run_sim.main([*args, "--quiet"])


@pytest.fixture()
def two_days(toy: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    assert _main("simulate", "--scenario", str(toy), "--days", "2", "--seed", "0", "--out", str(out)) == 0
    return out


def _refused(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert _main(*args, "--resume") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --resume into") and "start fresh with a new --out, or delete" in err
    return err


def test_manifest_records_the_inputs(two_days: Path, toy: Path) -> None:
    m = json.loads((two_days / "manifest.json").read_text(encoding="utf-8"))
    assert m["status"] == "complete" and m["system"] == "toy" and m["code_version"]
    (run,) = m["runs"]
    assert (run["name"], run["mode"], run["seed"], run["point"]) == ("alone-s0", "alone", 0, "base")
    assert run["scenario_sha256"] == m["scenario_sha256"]  # no overrides: the file's hash
    assert m["settings"]["replay"] == "oracle" and m["settings"]["time_limit_s"] == 600.0


def test_resume_with_other_inputs_is_refused(two_days: Path, toy: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    common = ("--days", "3", "--out", str(two_days))
    other = write_toy(tmp_path / "other", TOY_TOML.replace("max_kw = 5.0", "max_kw = 7.0"))
    err = _refused(capsys, "simulate", "--scenario", str(other), "--seed", "0", *common)
    assert "scenario hash after overrides" in err
    err = _refused(capsys, "simulate", "--scenario", str(toy), "--seed", "1", *common)
    assert "seed: was 0, now 1" in err
    err = _refused(capsys, "simulate", "--scenario", str(toy), "--seed", "0", "--mode", "frugal", *common)
    assert "mode: was alone, now frugal" in err
    err = _refused(capsys, "simulate", "--scenario", str(toy), "--seed", "0", "--mc-days", "100", *common)
    assert "settings.n_mc: was 200, now 100" in err
    err = _refused(capsys, "simulate", "--scenario", str(toy), "--seed", "0", "--replay", "mpc", *common)
    assert "settings.replay: was oracle, now mpc" in err
    write_toy(toy, TOY_TOML.replace("base_kw = 2.0", "base_kw = 2.5"))  # the scenario file edited in place
    err = _refused(capsys, "simulate", "--scenario", str(toy), "--seed", "0", *common)
    assert "scenario hash after overrides" in err
    assert list(pd.read_csv(two_days / "kpis.csv")["day"]) == [1, 2]  # nothing was touched
    assert json.loads((two_days / "manifest.json").read_text(encoding="utf-8"))["status"] == "complete"


def test_resume_with_an_edited_override_is_refused(toy: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sw"
    assert _main("sweep", "--scenario", str(toy), "--set", "load.base_kw=1", "--days", "1", "--out", str(out)) == 0
    err = _refused(capsys, "sweep", "--scenario", str(toy), "--set", "load.base_kw=1.5", "--days", "2", "--out",
                   str(out))
    assert "point: was load.base_kw=1, now load.base_kw=1.5" in err
    # the same override continues
    assert _main("sweep", "--scenario", str(toy), "--set", "load.base_kw=1", "--days", "2", "--out", str(out),
                 "--resume") == 0
    assert list(pd.read_csv(out / "kpis.csv")["day"]) == [1, 2]


def test_resume_with_the_same_inputs_continues(two_days: Path, toy: Path, tmp_path: Path) -> None:
    straight = tmp_path / "straight"
    assert _main("simulate", "--scenario", str(toy), "--days", "3", "--seed", "0", "--out", str(straight)) == 0
    assert _main("simulate", "--scenario", str(toy), "--days", "3", "--seed", "0", "--out", str(two_days),
                 "--resume") == 0
    assert filecmp.cmp(straight / "kpis.csv", two_days / "kpis.csv", shallow=False)
    m = json.loads((two_days / "manifest.json").read_text(encoding="utf-8"))
    assert m["status"] == "complete" and m["resume"] is True and m["runs"][0]["days"] == 3


def test_day_files_without_a_manifest_are_not_resumed(two_days: Path, toy: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    (two_days / "manifest.json").unlink()
    err = _refused(capsys, "simulate", "--scenario", str(toy), "--days", "3", "--out", str(two_days))
    assert "no manifest.json" in err


def test_several_seeds_into_one_kpis_file(toy: Path, tmp_path: Path) -> None:
    out = tmp_path / "seeds"
    assert _main("compare", "--scenario", str(toy), "--seeds", "0-2", "--days", "1", "--out", str(out)) == 0
    k = pd.read_csv(out / "kpis.csv")
    assert list(k["run"]) == ["alone-s0", "alone-s1", "alone-s2", "frugal-s0", "frugal-s1", "frugal-s2"]
    assert len(set(k["total_cost"].round(9))) == 3  # a seed draws its own day; modes share it (same costs)
    one = tmp_path / "one"
    assert _main("simulate", "--scenario", str(toy), "--seeds", "2,0", "--days", "1", "--out", str(one)) == 0
    k1 = pd.read_csv(one / "kpis.csv")
    assert list(k1["seed"]) == [2, 0]
    assert k1.set_index("seed")["total_cost"].to_dict() == pytest.approx(
        k[k["mode"] == "alone"].set_index("seed")["total_cost"].loc[[2, 0]].to_dict())

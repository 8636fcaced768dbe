"""app/runs.py: listing result folders below a root, reading them back, and refusing every path outside the root.

One real folder (``execute``: IEEE-33, cooperative, 1 day, C1 learning by EXP3) and small synthetic ones written with
the engine's own writers (:mod:`sim.engine.io`) in the engine's layout, all built once per module."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from app.runs import (
    PARAM_COLUMNS,
    MissingFileError,
    OutsideRootError,
    RunFolder,
    RunsRoot,
)
from sim.engine.io import write_csv, write_json, write_parquet
from sim.engine.records import AGENT_COLUMNS
from sim.engine.run import execute
from sim.engine.spec import RunSpec, SimSettings
from sim.systems import SYSTEMS

LEARN = "learn:eta=0.5,gamma=0.2"
LEARN_RUN = RunSpec("cooperative", 0, 1, overrides=(("behaviours.C1", LEARN),))
MODES = ("cooperative", "noncooperative")
DATE = "2026-01-02T03:04:05+00:00"


def synthetic_ts(run: str, mode: str, day: int) -> pd.DataFrame:
    """A small long-format time series in the engine's layout; its values depend on run and day."""
    n = 96 * 2
    offset = 1000.0 * day + (500.0 if mode == "noncooperative" else 0.0)
    ts = pd.DataFrame({
        "day": np.full(n, day, dtype="int16"), "run": run, "mode": mode,
        "period": np.tile(np.arange(1, 97, dtype="int16"), 2), "bus": np.repeat(np.array([3, 7], dtype="int16"), 96),
        "entity": "bus", "variable": np.repeat(["p_load_kw", "v_pu"], 96), "value": offset + np.arange(n) * 0.25,
        "unit": np.repeat(["kW", "p.u."], 96)})
    text = [c for c in ts.columns if ts[c].dtype == object]
    return ts.astype(dict.fromkeys(text, "category"))


def write_compare_folder(folder: Path) -> dict[tuple[str, int], pd.DataFrame]:
    """A compare folder of two modes (three_campus): the cooperative run over days 1-2, the non-cooperative one over
    days 1-3; the non-cooperative day 2 has no time series and only the cooperative day 1 has
    agent records.  Returns the time series written, by (run, day)."""
    written: dict[tuple[str, int], pd.DataFrame] = {}
    rows = []
    for mode in MODES:
        run = f"{mode}-s7"
        for day in (1, 2, 3) if mode == "noncooperative" else (1, 2):
            rows.append({"run": run, "mode": mode, "seed": 7, "point": "base", "day": day, "day_of_year": 100 + day,
                         "total_cost": 100.0 * day + (10.0 if mode == "noncooperative" else 0.0), "grid_kwh": 5.0})
            if (mode, day) != ("noncooperative", 2):
                written[(run, day)] = synthetic_ts(run, mode, day)
                write_parquet(written[(run, day)], folder / "timeseries" / f"day={day:03d}" / f"{run}.parquet")
    rec = pd.DataFrame([("cooperative-s7", "cooperative", 1, "P1", "CampusAgent", "truthful", "gain", 3.5, "CNY")],
                       columns=list(AGENT_COLUMNS))
    write_parquet(rec, folder / "agents" / "day=001" / "cooperative-s7.parquet")
    # in file order: the non-cooperative run first, so that cost_per_day's ordering is tested
    write_csv(pd.DataFrame(rows[2:] + rows[:2]), folder / "kpis.csv")
    write_csv(pd.DataFrame([{"run": r["run"], "mode": r["mode"], "seed": 7, "point": "base", "day": r["day"],
                             "total_s": 0.5} for r in rows]), folder / "timings.csv")
    write_csv(pd.DataFrame({"mode": list(MODES), "metric": "total_cost"}), folder / "comparison.csv")
    write_json({"command": "run_sim.py compare --scenario three_campus --days 2 --seed 7", "system": "three_campus",
                "scenario": "three_campus", "status": "complete", "environment": {"date": DATE},
                "runs": [{"name": f"{m}-s7", "mode": m, "seed": 7, "point": "base", "days": 2} for m in MODES]},
               folder / "manifest.json")
    return written


def set_manifest(folder: Path, **changes: Any) -> None:
    m = json.loads((folder / "manifest.json").read_text("utf-8"))
    m.update(changes)
    for k in [k for k, v in changes.items() if v is None]:
        del m[k]
    write_json(m, folder / "manifest.json")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("runs")
    outside = tmp_path_factory.mktemp("outside")
    sim = root / "sim"
    execute(sim, SYSTEMS["ieee33"], [LEARN_RUN], SimSettings(n_mc=50),
            command=f"run_sim.py simulate --scenario ieee33 --days 1 --mode cooperative --set behaviours.C1={LEARN} "
                    "--out sim")
    written = write_compare_folder(root / "cmp")
    study_run = root / "study" / "runs" / "learn"
    shutil.copytree(sim, study_run)
    set_manifest(study_run, command="run_sim.py study incentives --scenario ieee33 --days 1 --out study")
    write_json({"kind": "ieee33"}, root / "study" / "study.json")
    shutil.copytree(sim, root / "nosystem")
    set_manifest(root / "nosystem", system=None, command="")
    shutil.copytree(root / "cmp", root / "broken")
    (root / "broken" / "manifest.json").write_text('{"command": "run_sim.py compare", ', "utf-8")
    (root / "running").mkdir()
    write_json({"command": "run_sim.py simulate", "system": "ieee33", "status": "running"},
               root / "running" / "manifest.json")
    shutil.copytree(root / "cmp", root / "a" / "b" / "c" / "d" / "e" / "deep")  # below the depth limit
    shutil.copytree(root / "cmp", outside / "elsewhere")
    (root / "link").symlink_to(outside / "elsewhere", target_is_directory=True)
    shutil.copytree(root / "cmp", root / "leaky")  # a result folder whose day file is a symlink to a file outside
    day_file = root / "leaky" / "timeseries" / "day=001" / "cooperative-s7.parquet"
    day_file.unlink()
    day_file.symlink_to(outside / "elsewhere" / "timeseries" / "day=001" / "cooperative-s7.parquet")
    return {"root": root, "outside": outside, "written": written, "run": LEARN_RUN.name}


@pytest.fixture(scope="module")
def runs_root(tree: dict[str, Any]) -> RunsRoot:
    return RunsRoot(tree["root"])


def test_listing_finds_every_result_folder_with_its_modes_and_days(tree: dict[str, Any], runs_root: RunsRoot) -> None:
    infos = {i.path: i for i in runs_root.folders()}
    assert list(infos) == ["broken", "cmp", "leaky", "nosystem", "running", "sim", "study/runs/learn"]  # sorted
    sim, cmp, study = infos["sim"], infos["cmp"], infos["study/runs/learn"]
    assert (sim.command, sim.system, sim.scenario, sim.runs, sim.modes, sim.days, sim.status, sim.error) == (
        "simulate", "ieee33", "ieee33", (tree["run"],), ("cooperative",), (1,), "complete", "")
    manifest = json.loads((tree["root"] / "sim" / "manifest.json").read_text("utf-8"))
    assert sim.date == manifest["environment"]["date"] != ""
    assert (cmp.command, cmp.system, cmp.modes, cmp.days, cmp.date) == (
        "compare", "three_campus", ("noncooperative", "cooperative"), (1, 2, 3), DATE)
    assert set(cmp.runs) == {"cooperative-s7", "noncooperative-s7"}
    assert (study.command, study.system, study.error) == ("study", "ieee33", "")
    assert (infos["nosystem"].command, infos["nosystem"].system) == ("unknown", "ieee33")  # from kpis.csv's columns


def test_a_corrupt_or_unfinished_folder_is_listed_with_an_error(tree: dict[str, Any], runs_root: RunsRoot) -> None:
    infos = {i.path: i for i in runs_root.folders()}
    broken = infos["broken"]
    assert "manifest.json" in broken.error and "invalid JSON" in broken.error
    assert broken.modes == ("noncooperative", "cooperative") and broken.days == (1, 2, 3)  # what could be read
    assert broken.command == "compare"  # told by its comparison.csv
    assert "no kpis.csv" in infos["running"].error and infos["running"].status == "running"
    with pytest.raises(ValueError, match=r"invalid JSON"):
        runs_root.open("broken").manifest()
    with pytest.raises(ValueError, match=r"not a finished result folder \(no kpis.csv\)"):
        runs_root.open("running")


def test_the_depth_limit_and_the_root_argument(tree: dict[str, Any]) -> None:
    assert "a/b/c/d/e/deep" in {i.path for i in RunsRoot(tree["root"], max_depth=6).folders()}
    assert [i.path for i in RunsRoot(tree["root"] / "cmp", max_depth=0).folders()] == ["."]
    with pytest.raises(ValueError, match="not an existing folder"):
        RunsRoot(tree["root"] / "no-such-folder")


def test_a_real_simulate_folder_reads_back_consistently(tree: dict[str, Any], runs_root: RunsRoot) -> None:
    f = runs_root.open("sim")
    run = tree["run"]
    assert f.system_kind() == "ieee33" and f.days() == [1] and f.days(run) == [1]
    assert f.runs().to_dict("records") == [{"run": run, "mode": "cooperative", "seed": 0, "point": "base", "days": 1}]
    ts = f.timeseries(run, 1)
    assert list(ts.columns[:4]) == ["day", "run", "mode", "period"] and len(ts) > 1000
    assert set(ts["day"]) == {1} and set(ts["run"].astype(str)) == {run}
    rec = f.agents(run, 1)
    assert list(rec.columns) == list(AGENT_COLUMNS)
    final = rec[(rec.agent_id == "C1") & (rec.variable == "final_cost")]["value"].item()
    kp = f.kpis()
    assert final == pytest.approx(kp["final_cost_C1"].item(), rel=1e-9)  # agents/ and kpis.csv tell the same day
    cost = f.cost_per_day()
    assert list(cost.columns) == ["mode", "run", "day", "total_cost"]
    assert cost["total_cost"].item() == kp["total_cost"].item() > 0
    assert f.timings()["run"].tolist() == [run]


def test_behaviour_params_finds_the_learners_choice(tree: dict[str, Any], runs_root: RunsRoot) -> None:
    params = runs_root.open("sim").behaviour_params()
    assert list(params.columns) == list(PARAM_COLUMNS)
    assert set(params["agent_id"]) == {"C1"} and set(params["behaviour"]) == {"learn"}
    chosen = params.loc[params.variable == "param_m", "value"].item()
    assert chosen in {-0.3, -0.1, 0.0, 0.1}  # an arm of the default grid
    probs = params.loc[params.variable.str.startswith("param_p_arm"), "value"]
    assert len(probs) == 4 and probs.sum() == pytest.approx(1.0)
    none = runs_root.open("cmp").behaviour_params()
    assert none.empty and list(none.columns) == list(PARAM_COLUMNS)


def test_timeseries_round_trip_and_missing_files(tree: dict[str, Any], runs_root: RunsRoot) -> None:
    f = runs_root.open("cmp")
    for (run, day), frame in tree["written"].items():
        pd.testing.assert_frame_equal(f.timeseries(run, day), frame)
    pd.testing.assert_frame_equal(f.timeseries("cooperative-s7", np.int64(2)), tree["written"][("cooperative-s7", 2)])
    with pytest.raises(MissingFileError, match=r"day=002/noncooperative-s7\.parquet: no time series") as err:
        f.timeseries("noncooperative-s7", 2)
    assert isinstance(err.value, ValueError)
    rec = f.agents("noncooperative-s7", 1)
    assert rec.empty and list(rec.columns) == list(AGENT_COLUMNS)
    assert f.agents("cooperative-s7", 1)["value"].tolist() == [3.5]


def test_cost_per_day_and_runs_of_a_compare_folder(runs_root: RunsRoot) -> None:
    f = runs_root.open("cmp")
    cost = f.cost_per_day()
    assert cost[["mode", "day"]].values.tolist() == [["cooperative", 1], ["cooperative", 2], ["noncooperative", 1],
                                                      ["noncooperative", 2], ["noncooperative", 3]]
    assert cost["total_cost"].tolist() == [100.0, 200.0, 110.0, 210.0, 310.0]
    assert f.runs()[["run", "days"]].values.tolist() == [["noncooperative-s7", 3], ["cooperative-s7", 2]]
    assert f.system_kind() == "three_campus" and f.days() == [1, 2, 3] and f.days("cooperative-s7") == [1, 2]


def test_bad_run_or_day_names_the_folder_and_what_exists(runs_root: RunsRoot) -> None:
    f = runs_root.open("cmp")
    with pytest.raises(ValueError, match=r"cmp: no run 'oracle-s7' in kpis.csv; the runs are noncooperative-s7, "
                                         r"cooperative-s7"):
        f.timeseries("oracle-s7", 1)
    with pytest.raises(ValueError, match=r"cmp: run 'cooperative-s7' has no day 3 .*its days are 1, 2"):
        f.agents("cooperative-s7", 3)
    with pytest.raises(ValueError, match=r"has no day 0"):
        f.timeseries("cooperative-s7", 0)  # days are 1-based
    with pytest.raises(ValueError, match=r"no run 'x'"):
        f.days("x")


def test_paths_outside_the_root_are_refused(tree: dict[str, Any], runs_root: RunsRoot) -> None:
    root, outside = tree["root"], tree["outside"]
    for bad in ("..", "../outside", "cmp/../../x", "cmp/..", str(outside / "elsewhere"), "/etc", "link",
                "link/timeseries"):
        with pytest.raises(OutsideRootError, match=re.escape(str(runs_root.root))):
            runs_root.open(bad)
    assert isinstance(runs_root.open(str(root.resolve() / "cmp")), RunFolder)  # absolute, but inside
    with pytest.raises(OutsideRootError, match=r"resolves to .*elsewhere.*outside the runs root"):
        runs_root.open("leaky").timeseries("cooperative-s7", 1)  # the day file's symlink points outside
    assert "link" not in {i.path for i in runs_root.folders()}


def test_reading_writes_nothing(tree: dict[str, Any]) -> None:
    def snapshot() -> dict[str, tuple[int, int]]:
        out = {}
        for dirpath, _, files in os.walk(tree["root"]):
            for name in files:
                st = os.lstat(Path(dirpath) / name)
                out[str(Path(dirpath) / name)] = (st.st_size, st.st_mtime_ns)
        return out

    before = snapshot()
    rr = RunsRoot(tree["root"])
    rr.folders()
    for rel in ("sim", "cmp"):
        f = rr.open(rel)
        for read in (f.kpis, f.runs, f.timings, f.manifest, f.cost_per_day, f.behaviour_params):
            read()
        for run in f.runs()["run"]:
            for d in f.days(run):
                f.agents(run, d)
    assert snapshot() == before

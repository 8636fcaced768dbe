"""``load_scenario`` reads a scenario once per process and again when its files change (issue 15)."""

from __future__ import annotations

import shutil
from pathlib import Path

from scenarios.loader import scenario_path
from sim.engine.run import load_scenario
from sim.systems.three_campus.system import SYSTEM as CAMPUS


def test_scenario_loaded_once_until_its_file_changes(tmp_path: Path) -> None:
    folder = tmp_path / "campus"
    shutil.copytree(scenario_path("three_campus").parent, folder)
    first = load_scenario(CAMPUS, str(folder))
    assert load_scenario(CAMPUS, str(folder)) is first  # same files, same edits: the same object
    edited = load_scenario(CAMPUS, str(folder), [("uncertainty.epsilon", "0.2")])
    assert edited is not first and edited.uncertainty.epsilon == 0.2 and first.uncertainty.epsilon == 0.1
    assert load_scenario(CAMPUS, str(folder), [("uncertainty.epsilon", "0.2")]) is edited
    toml = folder / "scenario.toml"
    toml.write_text(toml.read_text("utf-8") + "\n# changed\n", "utf-8")  # another hash: read again
    again = load_scenario(CAMPUS, str(folder))
    assert again is not first and again.uncertainty == first.uncertainty and again.source == first.source
    assert load_scenario(type(CAMPUS)(), str(folder)) is not again  # another system object: its own load

"""System.preview (sim/engine/system.py): the frame a day put in the model's LiveDay, cut at the executed
quarter-hour; nothing before a day knows its plan."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from sim.engine.system import LiveDay
from sim.systems import SYSTEMS


def test_default_preview_cuts_the_live_frame_at_the_executed_quarter_hour() -> None:
    system = SYSTEMS["three_campus"]
    frame = pd.DataFrame({"period": list(range(1, 97)) * 2, "value": range(192)})
    model = SimpleNamespace(live_day=LiveDay(), step_in_day=4)
    assert system.preview(model).empty  # the day has not put its plan there
    model.live_day.source = lambda: None  # a day whose plan is not known yet
    assert system.preview(model).empty
    model.live_day.show(frame)
    got = system.preview(model)
    assert sorted(set(got["period"])) == [1, 2, 3, 4] and len(got) == 8
    model.step_in_day = 96
    assert len(system.preview(model)) == 192
    assert system.preview(SimpleNamespace(step_in_day=4)).empty  # a model without a LiveDay

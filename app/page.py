"""The dashboard's pages (served by ``run_sim.py app``, :mod:`app.serve`).

- ``/``: Mesa's SolaraViz over the engine (:class:`app.model.DashboardModel`): choose scenario, mode, replay,
  seed and behaviours; Reset builds the run, Step executes one quarter-hour (the day's solves run in its first),
  Play repeats.  The panels (:mod:`app.components`) show the day in progress.
- ``/runs``: a finished ``simulate`` / ``compare`` / ``sweep`` / study folder below the folder the app was started
  with (``COOPGRID_RUNS``), browsed from its files alone (:mod:`app.runs`): folder, run, day, quarter-hour.

Each browser session gets its own model (built when its page first renders), so two sessions never step the same
run.  Play runs the model in a thread of its own (SolaraViz's "Use Threads", on by default here): the engine steps
at its own pace and the panels are drawn for the latest step whenever the previous drawing is done, so drawing
(~0.3 s for the charts) never slows the simulation; Step draws after every quarter-hour.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import solara
from mesa.visualization import SolaraViz

from app.components import PANELS, DayTables, tables_of_model
from app.model import DashboardModel, scenario_choices
from sim.engine.mpc import REPLAYS
from sim.systems import all_modes

#: Environment variable naming the folder the run browser may read below (set by ``run_sim.py app --runs``).
RUNS_ENV = "COOPGRID_RUNS"


def model_params() -> dict[str, Any]:
    """The page's choices, as SolaraViz's user inputs (the defaults are the CLI's)."""
    return {
        "scenario_name": {"type": "Select", "value": "ieee33", "values": scenario_choices(), "label": "scenario"},
        "mode": {"type": "Select", "value": "cooperative", "values": all_modes(), "label": "mode"},
        "replay": {"type": "Select", "value": "oracle", "values": list(REPLAYS), "label": "replay"},
        "seed": {"type": "InputText", "value": "0", "label": "seed"},
        "behaviours": {"type": "InputText", "value": "", "label": "behaviours (e.g. C1=misreport:-0.1)"},
        "days": {"type": "SliderInt", "value": 7, "min": 1, "max": 60, "step": 1, "label": "days"},
    }


def _panel(component: Any) -> Any:
    def render(model: DashboardModel) -> Any:
        return component(tables_of_model(model))

    render.__name__ = getattr(component, "__name__", "panel")
    return render


@solara.component
def Live() -> None:
    """The SolaraViz page over a fresh :class:`DashboardModel` per session."""
    model = solara.use_memo(lambda: DashboardModel(), [])
    SolaraViz(model, components=[(_panel(p), 0) for p in PANELS], model_params=model_params(), name="coopgrid",
              play_interval=1, use_threads=True)


@solara.component
def Runs() -> None:
    """Browse a finished run folder (``/runs``)."""
    from app.run_page import RunBrowser

    root = os.environ.get(RUNS_ENV, "")
    RunBrowser(Path(root) if root else Path.cwd())


@solara.component
def DayPanels(t: DayTables) -> None:
    """All panels of one day, in page order."""
    with solara.Column():
        for p in PANELS:
            p(t)


routes = [
    solara.Route(path="/", component=Live, label="live run"),
    solara.Route(path="runs", component=Runs, label="finished runs"),
]

"""The ``/runs`` page: a finished output folder browsed from its files alone (no solve).

Choose a folder below the runs root (:class:`app.runs.RunsRoot`: nothing outside it is read), one of its runs, a
day and a quarter-hour; the same panels as the live page draw that day (:mod:`app.components`).  The feeder is
drawn from the folder's scenario when it is a bundled one, or a scenario folder inside the runs root (a scenario
elsewhere is not read: the network panel then says so).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import solara

from app import views
from app.components import PANELS, DayTables
from app.model import scenario_choices
from app.runs import OutsideRootError, RunFolder, RunsRoot
from sim.systems import SYSTEMS


@functools.lru_cache(maxsize=8)
def _scenario(name: str) -> Any:
    """The bundled scenario ``name`` loaded by its system (cached: the feeder and its limits only are used)."""
    from sim.engine.run import load_scenario
    from sim.systems import system_for

    system = system_for(name)
    return load_scenario(system, name)


def network_of(root: RunsRoot, folder: RunFolder) -> tuple[Any, np.ndarray | None, tuple[float, float] | None, str]:
    """``(feeder, s_max_mva, (v_min, v_max), note)`` of the folder's scenario, or Nones and why not."""
    name = str(folder.manifest().get("scenario") or "")
    if not name:
        return None, None, None, "the folder's manifest names no scenario"
    if name not in scenario_choices():
        try:
            root.resolve(name)
        except (OutsideRootError, ValueError):
            return None, None, None, f"scenario {name!r} is not bundled and not below the runs root: not read"
    try:
        sc = _scenario(name)
    except Exception as exc:  # a scenario that no longer loads: draw the rest
        return None, None, None, f"scenario {name!r} could not be loaded ({exc})"
    feeder, network = getattr(sc, "feeder", None), getattr(sc, "network", None)
    if feeder is None or network is None:
        return None, None, None, ""
    return feeder, network.s_max_mva(feeder), (float(network.v_min_pu), float(network.v_max_pu)), ""


def day_tables(root: RunsRoot, folder: RunFolder, run: str, day: int, period: int) -> DayTables:
    """One day of one run of a finished folder as the panels' :class:`DayTables`."""
    ts = views.normalise(folder.timeseries(run, day))
    kp = folder.kpis()
    row = kp[(kp["run"] == run) & (kp["day"] == day)]
    kpis = {str(k): v for k, v in row.iloc[0].items()} if not row.empty else None
    feeder, s_max, band, _ = network_of(root, folder)
    system = SYSTEMS.get(folder.system_kind())
    currency = "USD"
    if system is not None and feeder is not None:
        currency = system.currency(_scenario(str(folder.manifest().get("scenario"))))
    params = folder.behaviour_params()
    params = views.behaviour_params(params[params["run"] == run])
    dt_h = views.hours_per_period(ts)
    n = round(24 / dt_h)
    period = min(period, n)
    minutes = round(60 * dt_h * period)
    days = folder.cost_per_day()
    return DayTables(day=day, period=period, ts=ts, kpis=kpis, agents=folder.agents(run, day), days=days, kpi_day=day,
                     params=params, feeder=feeder, s_max_mva=s_max, v_band=band, currency=currency,
                     clock=f"{run} · day {day} · period {period}/{n} · {minutes // 60:02d}:{minutes % 60:02d}",
                     dt_h=dt_h)


def _open(root: RunsRoot, path: str) -> RunFolder | str:
    """The result folder ``path`` below the root, or why it cannot be opened."""
    try:
        return root.open(path)
    except (OSError, ValueError) as exc:
        return str(exc)


@solara.component
def RunBrowser(root_path: Path) -> None:
    """Folder, run, day and quarter-hour selectors over the panels."""
    root = solara.use_memo(lambda: RunsRoot(root_path), [str(root_path)])
    infos = solara.use_memo(root.folders, [])
    usable = [i for i in infos if not i.error and i.days]
    chosen, set_chosen = solara.use_state("")
    run, set_run = solara.use_state("")
    day, set_day = solara.use_state(0)
    period, set_period = solara.use_state(48)
    paths = [i.path for i in usable]
    path = chosen if chosen in paths else (paths[0] if paths else "")
    # the folder is opened (and its tables read) once per choice, not at every render
    opened = solara.use_memo(lambda: _open(root, path) if path else "", [path])
    solara.Text(f"finished runs below {root.root}", style={"color": "#555"})
    for bad in (i for i in infos if i.error):
        solara.Warning(f"{bad.path}: {bad.error}")
    if not usable:
        solara.Info("no finished run folder here yet: run_sim.py simulate|compare|sweep --out DIR writes one")
        return
    with solara.Div(classes=["coopgrid-run-select"]):
        solara.Select("run folder", values=paths, value=path, on_value=set_chosen)
    if isinstance(opened, str):
        solara.Error(f"{path}: {opened}")
        return
    folder = opened
    try:
        runs = folder.runs()["run"].astype(str).tolist()
    except (OSError, ValueError) as exc:
        solara.Error(f"{path}: {exc}")
        return
    r = run if run in runs else runs[0]
    days = folder.days(r)
    d = day if day in days else days[0]
    with solara.Row():
        solara.Select("run", values=runs, value=r, on_value=set_run)
        solara.Select("day", values=[str(x) for x in days], value=str(d), on_value=lambda v: set_day(int(v)))
    solara.SliderInt("quarter-hour", value=period, min=1, max=96, on_value=set_period)
    try:
        t = day_tables(root, folder, r, d, period)
    except (OSError, ValueError) as exc:
        solara.Error(f"{path}, run {r}, day {d}: {exc}")
        return
    note = network_of(root, folder)[3]
    if note:
        solara.Warning(note)
    with solara.ColumnsResponsive(6, large=6):
        for p in PANELS:
            with solara.Card(margin=0):
                p(t)

"""The dashboard's model and views (app/model.py, app/views.py): the page runs the engine's real model, its live
preview is the day the engine writes, and what the panels show follows from the written tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app import views
from app.model import DashboardModel, behaviour_edits
from sim.engine.run import execute
from sim.engine.spec import RunSpec, SimSettings
from sim.systems import system_for


@pytest.fixture(scope="module")
def stepped() -> tuple[DashboardModel, list[pd.DataFrame]]:
    """One ieee33 cooperative day stepped as the page does, the preview kept at quarter-hours 1, 4 and 96."""
    m = DashboardModel("ieee33", "cooperative", "oracle", 0, "", days=2)
    kept = []
    for k in range(1, 97):
        m.step()
        if k in (1, 4, 95):
            kept.append(m.preview())
    return m, kept


def test_preview_is_the_day_the_engine_writes(stepped: tuple[DashboardModel, list[pd.DataFrame]],
                                              tmp_path: Path) -> None:
    """Before the day closes the preview holds exactly the quarter-hours executed; when it closes, the day's time
    series and KPIs equal those of `simulate` on the same seed (the page changes nothing)."""
    m, (at1, at4, at95) = stepped
    assert at1["period"].max() == 1 and at4["period"].max() == 4 and at95["period"].max() == 95
    assert set(at4["period"]) == {1, 2, 3, 4} and m.clock == "day 2 · quarter-hour 0/96 · 00:00"
    day1 = m.closed.timeseries[1]
    pd.testing.assert_frame_equal(at95.reset_index(drop=True),
                                  day1[day1["period"] <= 95].reset_index(drop=True), check_categorical=False)
    execute(tmp_path, system_for("ieee33"), [RunSpec("cooperative", 0, 1)], SimSettings(scenario="ieee33"))
    written = pd.read_csv(tmp_path / "kpis.csv").iloc[0]
    assert m.closed.kpis[0]["total_cost"] == pytest.approx(written["total_cost"], rel=1e-9)
    ts = pd.read_parquet(next((tmp_path / "timeseries" / "day=001").glob("*.parquet")))
    assert len(ts) == len(day1)
    assert np.array_equal(ts["value"].to_numpy(), day1["value"].to_numpy(), equal_nan=True)
    assert "tou_price" in set(ts["variable"].astype(str))
    assert m.engine_seconds > 0 and m.steps_done == 96


def test_network_state_follows_the_injections(stepped: tuple[DashboardModel, list[pd.DataFrame]]) -> None:
    """Bus colours are the day's AC voltages; the branches leaving the substation carry the net demand of the buses
    below it (LinDistFlow is lossless); loading is flow over the branch limit."""
    m, _ = stepped
    ts, sc = m.closed.timeseries[1], m.spec
    buses, branches = views.network_state(ts, sc.feeder, sc.network.s_max_mva(sc.feeder), 40)
    v = ts[(ts["variable"] == "v_ac_pu") & (ts["period"] == 40)].set_index("bus")["value"]
    assert np.allclose(buses.set_index("bus")["v_pu"], v.reindex(buses["bus"]).to_numpy())
    inj = ts[(ts["period"] == 40) & ts["variable"].isin(["p_load_kw", "p_gen_kw"]) & (ts["bus"] != sc.feeder.root)]
    net = inj.loc[inj["variable"] == "p_load_kw", "value"].sum() - inj.loc[inj["variable"] == "p_gen_kw", "value"].sum()
    root_branches = branches[branches["from_bus"] == sc.feeder.root]
    assert root_branches["p_kw"].sum() == pytest.approx(net, rel=1e-9)
    s = np.hypot(branches["p_kw"], branches["q_kvar"]) / (1000 * sc.network.s_max_mva(sc.feeder))
    assert np.allclose(branches["loading_pct"], 100 * s) and branches["loading_pct"].max() > 0
    lay = views.feeder_layout(sc.feeder).set_index("bus")
    assert lay.loc[sc.feeder.root, "x"] == 0 and len(lay) == len(sc.feeder.buses)
    for b, kids in sc.feeder.children.items():  # a parent sits at the mean height of its children
        if kids:
            assert lay.loc[b, "y"] == pytest.approx(lay.loc[list(kids), "y"].mean())


def test_bargaining_table_is_budget_balanced(stepped: tuple[DashboardModel, list[pd.DataFrame]]) -> None:
    m, _ = stepped
    t = views.bargaining_table(m.closed.agents[1], m.closed.kpis[0])
    assert list(t["agent"]) == ["C1", "C2", "C3"]
    assert t["payment"].sum() == pytest.approx(0.0, abs=1e-6)
    assert np.allclose(t["gain"], t["standalone"] - t["final"]) and (t["gain"] >= -1e-6).all()
    assert t["weight"].sum() == pytest.approx(1.0)
    strip = dict(views.kpi_strip(m.closed.kpis[0]))
    assert strip["total cost (USD)"] == f"{m.closed.kpis[0]['total_cost']:,.2f}"
    bal = views.agent_balance(m.closed.timeseries[1], "C1")
    assert set(bal["variable"]) >= {"grid_buy_kw", "load_kw"}
    assert (bal.loc[bal["variable"] == "load_kw", "value"] <= 0).all()


def test_choices_are_checked() -> None:
    assert behaviour_edits("C1=misreport:-0.1; C2=leave:w=3,g=1") == (
        ("behaviours.C1", "misreport:-0.1"), ("behaviours.C2", "leave:w=3,g=1"))
    assert behaviour_edits(" ") == ()
    with pytest.raises(ValueError, match="AGENT=BEHAVIOUR"):
        behaviour_edits("C1")
    with pytest.raises(ValueError, match="choose from cooperative"):
        DashboardModel("ieee33", mode="p2p")
    with pytest.raises(ValueError, match="seed 'x'"):
        DashboardModel("ieee33", seed="x")  # type: ignore[arg-type]


def test_campus_days_are_drawn_from_their_own_tables() -> None:
    """three_campus writes park-level rows with a DA and an RT stage: the panels read the executed RT rows, the
    campuses sit on a circle and each P2P line's flow is forward − reverse."""
    rows = []
    for stage, periods in (("da", 24), ("rt", 96)):
        for k in range(1, periods + 1):
            for park, buy in (("PV", 10.0), ("WT", 0.0), ("CHP", 5.0)):
                rows.append((stage, 0 if stage == "da" else 1, k, park, "grid_buy_kw", buy * (stage == "rt"), "kW"))
                rows.append((stage, 0 if stage == "da" else 1, k, park, "soc_kwh", float(k), "kWh"))
            rows.append((stage, 1, k, "PV-WT", "p2p_forward_kw", 7.0, "kW"))
            rows.append((stage, 1, k, "PV-WT", "p2p_reverse_kw", 2.0, "kW"))
    raw = pd.DataFrame(rows, columns=["stage", "scenario", "period", "park", "variable", "value", "unit"])
    ts = views.normalise(raw)
    assert list(ts.columns) == ["period", "bus", "entity", "variable", "value", "unit"]
    assert ts["period"].max() == 96 and views.hours_per_period(ts) == 0.25
    parks, lines = views.p2p_lines(ts, 10)
    assert sorted(parks["entity"]) == ["PV", "WT"] and np.allclose(np.hypot(parks["x"], parks["y"]), 1.0)
    assert parks.set_index("entity").loc["PV", "net_kw"] == 10.0
    assert lines.iloc[0]["flow_kw"] == pytest.approx(5.0)
    st = views.storage_state(ts, 0.25)
    assert set(st["entity"]) == {"PV", "WT", "CHP"} and st["hour"].max() == pytest.approx(23.75)
    assert views.power_entities(ts) == ["CHP", "PV", "PV-WT", "WT"]

"""The dashboard's panels: Solara components drawing one day (:class:`DayTables`) with Vega-Lite charts (Altair),
rendered to SVG on the server (vl-convert) so the page needs no script from outside.

Every panel takes the same :class:`DayTables`, built from a live :class:`app.model.DashboardModel`
(:func:`tables_of_model`) or from a finished run folder (the run-folder page); the figures are computed by
:mod:`app.views`.  Each panel's outer element carries a CSS class ``coopgrid-<panel>`` (the browser test's handle).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import altair as alt
import numpy as np
import pandas as pd
import solara
import vl_convert

from app import views
from scenarios.feeder import Feeder

#: Chart size in the grid of panels (px).
WIDTH, HEIGHT = 380, 220


@dataclass
class DayTables:
    """One day as the panels see it.

    ``ts``: the day's long time series so far; ``period``: the quarter-hour shown (0: none yet); ``kpis``: the
    day's KPI row once it has closed (None before); ``agents``: its per-agent records; ``days``: KPI rows of every
    closed day (all modes of a folder); ``params``: the behaviours' chosen parameters over the closed days
    (:func:`app.views.behaviour_params`); ``feeder``, ``s_max_mva`` and
    ``v_band`` for network systems; ``clock``: the text of the day and quarter-hour."""

    day: int
    period: int
    ts: pd.DataFrame
    kpis: dict[str, Any] | None = None
    agents: pd.DataFrame = field(default_factory=pd.DataFrame)
    days: pd.DataFrame = field(default_factory=pd.DataFrame)
    params: pd.DataFrame = field(default_factory=pd.DataFrame)
    feeder: Feeder | None = None
    s_max_mva: np.ndarray | None = None
    v_band: tuple[float, float] | None = None
    currency: str = "USD"
    clock: str = ""
    #: hours per period of ``ts`` (0.25 for quarter-hours, 1 for the campus systems' hourly days)
    dt_h: float = 0.25
    #: the day ``kpis`` and ``agents`` belong to (the last closed day while ``day`` is still running)
    kpi_day: int = 0


def tables_of_model(model: Any) -> DayTables:
    """The :class:`DayTables` of a live :class:`app.model.DashboardModel` (computed once per step)."""
    key = model.steps_done
    cached = getattr(model, "_tables", None)
    if cached is not None and cached[0] == key:
        return cached[1]  # type: ignore[no-any-return]
    day, raw = model.day_frame()
    closed = model.closed
    live = model.preview()
    ts = views.normalise(raw)
    dt_h = 0.25 if not live.empty else views.hours_per_period(ts)
    period = model.step_in_day if not live.empty else (round(24 / dt_h) if day else 0)
    # the day shown once it has closed, else the last closed day (its KPIs and settlement stay in view)
    kpis = next((k for k in closed.kpis if int(k["day"]) == day), closed.kpis[-1] if closed.kpis else None)
    kpi_day = int(kpis["day"]) if kpis is not None else 0
    spec = model.spec
    feeder = getattr(spec, "feeder", None)
    network = getattr(spec, "network", None)
    t = DayTables(
        day=day, period=period, ts=ts, kpis=kpis, agents=closed.agents.get(kpi_day, pd.DataFrame()), kpi_day=kpi_day,
        days=closed.kpi_frame(), params=closed.params, feeder=feeder,
        s_max_mva=network.s_max_mva(feeder) if feeder is not None and network is not None else None,
        v_band=(float(network.v_min_pu), float(network.v_max_pu)) if network is not None else None,
        currency=model.system.currency(spec), clock=model.clock, dt_h=dt_h)
    model._tables = (key, t)
    return t


@functools.lru_cache(maxsize=64)
def _svg(spec: str) -> str:
    return str(vl_convert.vegalite_to_svg(spec))


def _show(chart: alt.TopLevelMixin) -> None:
    """Draw a Vega-Lite chart as SVG rendered here (vl-convert: Vega in the Python process), so the browser loads
    no Vega scripts: the page works with no network (solara's asset bundle has no Vega).  A chart whose data did not
    change since the last step is not rendered again."""
    solara.HTML(tag="div", unsafe_innerHTML=_svg(chart.to_json()))


def _empty(text: str) -> None:
    solara.Text(text, style={"color": "#666"})


@solara.component
def Clock(t: DayTables) -> None:
    with solara.Div(classes=["coopgrid-clock"]):
        solara.Text(t.clock or f"day {t.day} · quarter-hour {t.period}/96",
                    style={"font-size": "1.3em", "font-weight": "600"})


@solara.component
def NetworkPanel(t: DayTables) -> None:
    """The feeder as a tree: bus colour = voltage (p.u., fixed scale over the scenario's band ± 0.02), branch width
    = loading (% of its limit) at the quarter-hour shown."""
    with solara.Div(classes=["coopgrid-network"]):
        if t.feeder is None:
            P2PNetwork(t)
            return
        if t.ts.empty or t.period == 0:
            _empty("the network is drawn once the day's plan is known (Step)")
            return
        buses, branches = views.network_state(t.ts, t.feeder, t.s_max_mva if t.s_max_mva is not None
                                              else np.full(len(t.feeder.branches), np.inf), t.period)
        lo, hi = t.v_band if t.v_band else (0.95, 1.05)
        lines = alt.Chart(branches).mark_rule(color="#888").encode(
            x=alt.X("x:Q", axis=None), y=alt.Y("y:Q", axis=None), x2="x2:Q", y2="y2:Q",
            strokeWidth=alt.StrokeWidth("loading_pct:Q", scale=alt.Scale(domain=[0, 100], range=[0.5, 8], clamp=True),
                                        title="loading %"),
            tooltip=["from_bus", "to_bus", alt.Tooltip("loading_pct:Q", format=".1f"),
                     alt.Tooltip("p_kw:Q", format=",.0f")])
        dots = alt.Chart(buses).mark_circle(size=70, stroke="#333", strokeWidth=0.4).encode(
            x="x:Q", y="y:Q",
            color=alt.Color("v_pu:Q", title="V (p.u.)",
                            scale=alt.Scale(scheme="redyellowblue", domain=[lo - 0.02, hi + 0.02], clamp=True)),
            tooltip=["bus", "name", alt.Tooltip("v_pu:Q", format=".4f"), "v_source"])
        chart = (lines + dots).properties(
            width=WIDTH, height=HEIGHT, title=f"day {t.day}, quarter-hour {t.period}: voltages and loading")
        _show(chart)


def P2PNetwork(t: DayTables) -> None:
    """Campuses and their peer-to-peer lines (three_campus): park colour = net grid purchase (kW), line width =
    the line's flow at the period shown; other systems without a network say so."""
    parks, lines = views.p2p_lines(t.ts, t.period) if not t.ts.empty else (pd.DataFrame(), pd.DataFrame())
    if parks.empty:
        _empty("this system has no network to draw" if not t.ts.empty else "the day is drawn when it closes")
        return
    lines = lines.assign(abs_kw=lines["flow_kw"].abs())
    rules = alt.Chart(lines).mark_rule(color="#888").encode(
        x=alt.X("x:Q", axis=None, scale=alt.Scale(domain=[-1.4, 1.4])),
        y=alt.Y("y:Q", axis=None, scale=alt.Scale(domain=[-1.4, 1.4])), x2="x2:Q", y2="y2:Q",
        strokeWidth=alt.StrokeWidth("abs_kw:Q", title="P2P |flow| kW", scale=alt.Scale(range=[0.5, 10])))
    dots = alt.Chart(parks).mark_circle(size=900, stroke="#333").encode(
        x="x:Q", y="y:Q",
        color=alt.Color("net_kw:Q", title="grid purchase kW", scale=alt.Scale(scheme="redblue", reverse=True)))
    names = alt.Chart(parks).mark_text(dy=-26, fontWeight="bold").encode(x="x:Q", y="y:Q", text="entity:N")
    _show((rules + dots + names).properties(width=WIDTH, height=HEIGHT,
                                            title=f"day {t.day}, period {t.period}: campuses and P2P lines"))


@solara.component
def PricesPanel(t: DayTables) -> None:
    """The intraday (rolling) price and the day-ahead TOU price over the day so far, or any price series the
    system writes (per kWh or MWh)."""
    with solara.Div(classes=["coopgrid-prices"]):
        names = views.price_variables(t.ts) if not t.ts.empty else []
        df = views.series(t.ts, names, None, t.dt_h) if names else None
        if df is None or df.empty:
            _empty("prices appear once the day's plan is known" if t.ts.empty else "this day has no price series")
            return
        it = t.kpis.get("bisection_iterations") if t.kpis else None
        title = "prices" + (f" (bisection: {it:.0f} iterations)" if it is not None and np.isfinite(it) else "")
        unit = str(df["unit"].iloc[0]).split("/")[-1]
        chart = alt.Chart(df).mark_line(interpolate="step-after").encode(
            x=alt.X("hour:Q", scale=alt.Scale(domain=[0, 24]), title="hour"),
            y=alt.Y("value:Q", title=f"{t.currency}/{unit}"),
            color=alt.Color("variable:N", title=None, legend=alt.Legend(orient="bottom")),
        ).properties(width=WIDTH, height=HEIGHT, title=title)
        _show(chart)

@solara.component
def BalancePanel(t: DayTables) -> None:
    """One agent's power balance (supplies up, uses down, kW) where the system writes one (the clusters), else the
    chosen agent's power series."""
    balanced = views.agents_with(t.ts, "grid_buy_kw") if not t.ts.empty else []
    agents = balanced or (views.power_entities(t.ts) if not t.ts.empty else [])
    chosen, set_chosen = solara.use_state("")
    with solara.Div(classes=["coopgrid-balance"]):
        if not agents:
            _empty("agent balances appear once the day's plan is known")
            return
        agent = chosen if chosen in agents else agents[0]
        solara.Select("agent", values=agents, value=agent, on_value=set_chosen)
        if agent in balanced:
            df = views.agent_balance(t.ts, agent, t.dt_h)
            chart = alt.Chart(df).mark_area(interpolate="step-after", opacity=0.85).encode(
                x=alt.X("hour:Q", scale=alt.Scale(domain=[0, 24])), y=alt.Y("value:Q", stack=True, title="kW"),
                color=alt.Color("variable:N", title=None, legend=alt.Legend(orient="bottom", columns=4)))
            title = f"{agent}: supplies (+) and uses (−)"
        else:
            df = views.entity_power(t.ts, agent, t.dt_h)
            chart = alt.Chart(df).mark_line(interpolate="step-after").encode(
                x=alt.X("hour:Q", scale=alt.Scale(domain=[0, 24])), y=alt.Y("value:Q", title=df["unit"].iloc[0]),
                color=alt.Color("variable:N", title=None, legend=alt.Legend(orient="bottom", columns=3)))
            title = f"{agent}: power"
        _show(chart.properties(width=WIDTH, height=HEIGHT - 60, title=title))

@solara.component
def StoragePanel(t: DayTables) -> None:
    """Stored quantities per agent (storage energy, kWh or MWh) and the EVs' mean state of charge."""
    with solara.Div(classes=["coopgrid-storage"]):
        df = views.storage_state(t.ts, t.dt_h) if not t.ts.empty else pd.DataFrame()
        if df.empty:
            _empty("storage and EV states appear once the day's plan is known")
            return
        df = df.assign(series=df["entity"] + " " + df["variable"])
        base = alt.Chart(df).mark_line().encode(
            x=alt.X("hour:Q", scale=alt.Scale(domain=[0, 24])), y=alt.Y("value:Q", title=None),
            color=alt.Color("series:N", title=None, legend=alt.Legend(orient="bottom", columns=3)),
        ).properties(width=WIDTH, height=(HEIGHT - 80) // max(1, df["unit"].nunique()))
        chart = base.facet(row=alt.Row("unit:N", title=None)).resolve_scale(y="independent").properties(
            title="stored energy and EV state of charge")
        _show(chart)

@solara.component
def BargainingPanel(t: DayTables) -> None:
    """The bargaining settlement of the day (standalone, coalition, weight, payment, final cost, gain) and each
    agent's standalone vs final cost."""
    with solara.Div(classes=["coopgrid-bargaining"]):
        table = views.bargaining_table(t.agents, t.kpis)
        if table.empty:
            _empty("the settlement appears when a day with bargaining closes")
            return
        solara.DataFrame(table.round(4), items_per_page=12)
        bars = table.melt(id_vars="agent", value_vars=["standalone", "final"], var_name="cost", value_name="value")
        chart = alt.Chart(bars).mark_bar().encode(
            x=alt.X("agent:N", title=None), xOffset="cost:N", y=alt.Y("value:Q", title=t.currency),
            color=alt.Color("cost:N", title=None)).properties(width=WIDTH, height=HEIGHT - 60)
        _show(chart)


@solara.component
def KpiStrip(t: DayTables) -> None:
    """The day's headline numbers (once it has closed)."""
    with solara.Div(classes=["coopgrid-kpis"]):
        items = views.kpi_strip(t.kpis, t.currency)
        if not items:
            _empty(f"day {t.day}: KPIs appear when the day closes" if t.day else "no day has closed yet")
            return
        if t.kpi_day and t.kpi_day != t.day:
            solara.Text(f"day {t.kpi_day} (closed):", style={"font-size": "0.8em", "color": "#555"})
        with solara.Row(style={"flex-wrap": "wrap", "gap": "18px"}):
            for label, text in items:
                with solara.Column(gap="0px"):
                    solara.Text(label, style={"font-size": "0.8em", "color": "#555"})
                    solara.Text(text, style={"font-size": "1.2em", "font-weight": "600"})


@solara.component
def DaysPanel(t: DayTables) -> None:
    """Across closed days: the total cost per day and mode, and what a learning agent chose each day."""
    with solara.Div(classes=["coopgrid-days"]):
        if t.days.empty or "total_cost" not in t.days:
            _empty("the cost per day appears when the first day closes")
            return
        cost = t.days[["mode", "day", "total_cost"]].astype({"mode": str})
        chart = alt.Chart(cost).mark_line(point=True).encode(
            x=alt.X("day:O"), y=alt.Y("total_cost:Q", title=f"total cost ({t.currency})"),
            color=alt.Color("mode:N")).properties(width=WIDTH, height=HEIGHT - 60, title="cost per day and mode")
        _show(chart)
        params = t.params
        if not params.empty:
            pchart = alt.Chart(params).mark_line(point=True).encode(
                x="day:O", y=alt.Y("value:Q", title="chosen parameter"),
                color=alt.Color("agent:N"), strokeDash="parameter:N").properties(
                width=WIDTH, height=HEIGHT - 80, title="behaviours: chosen parameter over days")
            _show(pchart)


@solara.component
def DayHeader(t: DayTables) -> None:
    """The clock and the day's KPI strip."""
    with solara.Column(gap="6px"):
        Clock(t)
        KpiStrip(t)


#: The panels in page order.
PANELS: tuple[Callable[[DayTables], Any], ...] = (
    DayHeader, NetworkPanel, PricesPanel, BalancePanel, StoragePanel, BargainingPanel, DaysPanel)

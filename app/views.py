"""What the dashboard shows, computed from the tables coopgrid writes: a day's long time series (``period, bus,
entity, variable, value, unit``), the KPI rows and the per-agent records.  Pure pandas/numpy, no widgets: the live
page (:mod:`app.model`) and the run-folder page (:mod:`app.runs`) hand the same tables to the same functions.

- :func:`feeder_layout`: bus coordinates of a radial feeder drawn as a tree (x: branches from the substation, y:
  the order of the leaves below, each bus centred over its children).
- :func:`network_state`: at quarter-hour ``k``, each bus's voltage (the AC power flow's where the day has it, else
  LinDistFlow's) and each branch's loading: the LinDistFlow branch flow ``S = √(P² + Q²)`` of the period's bus
  injections over the branch's limit (SPEC §5.2), in %.
- :func:`series`, :func:`agent_balance`, :func:`storage_state`: tidy frames for the price, balance and storage
  charts; :func:`bargaining_table` the NB settlement per agent; :func:`kpi_strip` the day's headline numbers;
  :func:`behaviour_params` a learner's chosen parameters over days.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from scenarios.feeder import Feeder
from sim.network.lindistflow import lindistflow

#: Variables of a cluster's (or campus's) power balance: supplies (positive) and uses (drawn negative).
SUPPLIES = ("grid_buy_kw", "p_in_kw", "pv_kw", "wind_kw", "ess_discharge_kw")
USES = ("load_kw", "ess_charge_kw", "p_out_kw", "grid_sell_kw")


def normalise(ts: pd.DataFrame) -> pd.DataFrame:
    """A system's day time series in the shape the panels read: ``period, bus, entity, variable, value, unit``.

    IEEE-33 and the real feeders already have it; three_campus names the agent ``park`` and holds a day-ahead and
    a real-time stage: the executed real-time rows are kept (the day-ahead plan where a day has no RT rows); a
    frame without ``bus`` gets ``bus = -1``.  Labels become plain strings."""
    if ts.empty:
        return ts
    out = ts
    if "entity" not in out and "park" in out:
        out = out.rename(columns={"park": "entity"})
    if "stage" in out:
        stages = set(out["stage"].astype(str))
        out = out[out["stage"].astype(str) == ("rt" if "rt" in stages else "da")]
        if "scenario" in out:
            out = out[out["scenario"] == out["scenario"].min()]
    if "bus" not in out:
        out = out.assign(bus=-1)
    cols = ["period", "bus", "entity", "variable", "value", "unit"]
    out = out[cols].astype({"entity": str, "variable": str, "unit": str})
    return out.reset_index(drop=True)


def hours_per_period(ts: pd.DataFrame, periods_per_day: int | None = None) -> float:
    """Hours per period of a day's series: ``24 / periods_per_day`` when known (a day in progress: 96), else
    hourly when no period exceeds 24 (the campus systems' hourly days) and quarter-hourly otherwise."""
    if periods_per_day:
        return 24.0 / periods_per_day
    return 1.0 if not ts.empty and int(ts["period"].max()) <= 24 else 0.25


@functools.cache
def feeder_layout(feeder: Feeder) -> pd.DataFrame:
    """``bus, x, y, name`` of every bus: x the depth below the root, y the tidy-tree position (leaves 0, 1, 2, ...
    in depth-first order, a parent at the mean of its children's y)."""
    y: dict[int, float] = {}
    depth: dict[int, int] = {feeder.root: 0}
    leaf = [0.0]

    def place(b: int) -> float:
        kids = feeder.children.get(b, ())
        for c in kids:
            depth[c] = depth[b] + 1
        if not kids:
            y[b] = leaf[0]
            leaf[0] += 1.0
        else:
            y[b] = float(np.mean([place(c) for c in kids]))
        return y[b]

    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(feeder.buses) + 100))
    try:
        place(feeder.root)
    finally:
        sys.setrecursionlimit(limit)
    return pd.DataFrame({"bus": list(feeder.buses), "x": [float(depth[b]) for b in feeder.buses],
                         "y": [-y[b] for b in feeder.buses],
                         "name": [feeder.bus_name(b) for b in feeder.buses]})


def _bus_matrix(ts: pd.DataFrame, variable: str, period: int, buses: Sequence[int]) -> np.ndarray | None:
    rows = ts[(ts["variable"] == variable) & (ts["period"] == period) & (ts["entity"] == "bus")]
    if rows.empty:
        return None
    s = pd.Series(rows["value"].to_numpy(), index=rows["bus"].to_numpy())
    return s.reindex(list(buses)).fillna(0.0).to_numpy(dtype=float)


def network_state(ts: pd.DataFrame, feeder: Feeder, s_max_mva: np.ndarray, period: int
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(buses, branches)`` at quarter-hour ``period`` (module docstring).

    ``buses``: ``bus, x, y, name, v_pu, v_source`` (``AC`` or ``LinDistFlow``; NaN where the day has no voltage);
    ``branches``: ``from_bus, to_bus, x, y, x2, y2, p_kw, q_kvar, loading_pct``.
    """
    lay = feeder_layout(feeder)
    buses = list(feeder.buses)
    v = _bus_matrix(ts, "v_ac_pu", period, buses)
    source = "AC"
    if v is None or not np.isfinite(v).any():
        v, source = _bus_matrix(ts, "v_pu", period, buses), "LinDistFlow"
    bus_df = lay.copy()
    bus_df["v_pu"] = v if v is not None else np.nan
    bus_df["v_source"] = source
    pos = lay.set_index("bus")
    pl = _bus_matrix(ts, "p_load_kw", period, buses)
    pg = _bus_matrix(ts, "p_gen_kw", period, buses)
    ql = _bus_matrix(ts, "q_load_kvar", period, buses)
    rows: dict[str, Any] = {"from_bus": [br.from_bus for br in feeder.branches],
                            "to_bus": [br.to_bus for br in feeder.branches]}
    rows["x"] = pos.loc[rows["from_bus"], "x"].to_numpy()
    rows["y"] = pos.loc[rows["from_bus"], "y"].to_numpy()
    rows["x2"] = pos.loc[rows["to_bus"], "x"].to_numpy()
    rows["y2"] = pos.loc[rows["to_bus"], "y"].to_numpy()
    if pl is not None and ql is not None:
        flow = lindistflow(feeder, pl[None, :], ql[None, :], (pg if pg is not None else np.zeros_like(pl))[None, :])
        p, q = flow.p_flow_kw[0], flow.q_flow_kvar[0]
        rows["p_kw"], rows["q_kvar"] = p, q
        rows["loading_pct"] = 100.0 * np.hypot(p, q) / (1000.0 * np.asarray(s_max_mva, dtype=float))
    else:
        nan = np.full(len(feeder.branches), np.nan)
        rows["p_kw"], rows["q_kvar"], rows["loading_pct"] = nan, nan, nan
    return bus_df, pd.DataFrame(rows)


def series(ts: pd.DataFrame, variables: Sequence[str], entity: str | None = None, dt_h: float = 0.25
           ) -> pd.DataFrame:
    """``period, hour, entity, variable, value, unit`` of ``variables`` (of ``entity`` when given); ``hour`` is the
    period's start, ``(period − 1) · dt_h``."""
    sel = ts["variable"].isin(list(variables))
    if entity is not None:
        sel &= ts["entity"] == entity
    out = ts.loc[sel, ["period", "entity", "variable", "value", "unit"]].copy()
    for c in ("entity", "variable", "unit"):
        out[c] = out[c].astype(str)
    out["hour"] = (out["period"].astype(float) - 1.0) * dt_h
    return out.reset_index(drop=True)


def price_variables(ts: pd.DataFrame) -> list[str]:
    """The day's price series: variables whose unit is a price per energy (``…/kWh``, ``…/MWh``)."""
    units = ts[["variable", "unit"]].drop_duplicates()
    return sorted(str(v) for v, u in zip(units["variable"], units["unit"], strict=True)
                  if str(u).endswith(("/kWh", "/MWh")))


def power_entities(ts: pd.DataFrame) -> list[str]:
    """Entities with power series (unit kW or MW), the grid-wide ``bus`` and ``system`` rows excluded."""
    p = ts[ts["unit"].astype(str).isin(["kW", "MW"]) & ~ts["entity"].astype(str).isin(["bus", "system"])]
    return sorted(str(e) for e in p["entity"].unique())


def entity_power(ts: pd.DataFrame, entity: str, dt_h: float = 0.25) -> pd.DataFrame:
    """``hour, variable, value, unit`` of every power series (kW or MW) of ``entity``."""
    sel = (ts["entity"] == entity) & ts["unit"].astype(str).isin(["kW", "MW"])
    return series(ts[sel], sorted(str(v) for v in ts.loc[sel, "variable"].unique()), entity, dt_h)


def agents_with(ts: pd.DataFrame, variable: str) -> list[str]:
    """The entities that have ``variable`` in the day's time series (e.g. the clusters: ``load_kw``)."""
    return sorted(str(e) for e in ts.loc[ts["variable"] == variable, "entity"].unique())


def agent_balance(ts: pd.DataFrame, agent: str, dt_h: float = 0.25) -> pd.DataFrame:
    """``hour, variable, value`` of ``agent``'s supplies (kW, positive) and uses (kW, negative): its power balance
    (a balanced plan sums to zero at every quarter-hour, curtailment and spill aside)."""
    df = series(ts, (*SUPPLIES, *USES), agent, dt_h)
    df.loc[df["variable"].isin(USES), "value"] *= -1.0
    return df


def storage_state(ts: pd.DataFrame, dt_h: float = 0.25) -> pd.DataFrame:
    """``hour, entity, variable, value, unit``: every stored quantity (a variable whose name has ``soc`` or
    ``stored``, e.g. each cluster's storage energy in kWh) and the EVs' mean state of charge (1)."""
    names = ts["variable"].astype(str)
    stored = ts[(names.str.contains("soc") | names.str.contains("stored")) & (names != "ev_soc_frac")]
    out = [series(stored, sorted(set(stored["variable"].astype(str))), None, dt_h)] if not stored.empty else []
    ev = ts[ts["variable"] == "ev_soc_frac"]
    if not ev.empty:
        mean = ev.groupby("period", observed=True)["value"].mean()
        out.append(pd.DataFrame({"period": mean.index, "entity": "EVs (mean SOC)", "variable": "ev_soc_frac",
                                 "value": mean.to_numpy(), "unit": "1",
                                 "hour": (mean.index.to_numpy(dtype=float) - 1.0) * dt_h}))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def p2p_lines(ts: pd.DataFrame, period: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Campuses joined by peer-to-peer lines (three_campus: entities ``A-B`` with ``p2p_forward_kw`` /
    ``p2p_reverse_kw``) at ``period``: ``(parks: entity, x, y, net_kw)`` on a circle, net = grid purchase − sale;
    ``(lines: line, x, y, x2, y2, flow_kw)`` with flow = forward − reverse (from ``A`` to ``B``)."""
    at = ts[ts["period"] == period]
    lines = sorted(str(e) for e in at.loc[at["variable"] == "p2p_forward_kw", "entity"].unique())
    parks = sorted({p for ln in lines for p in ln.split("-")}) if lines else []
    if not parks:
        return pd.DataFrame(), pd.DataFrame()
    ang = np.pi / 2 + 2 * np.pi * np.arange(len(parks)) / len(parks)
    pos = {p: (float(np.cos(a)), float(np.sin(a))) for p, a in zip(parks, ang, strict=True)}

    def val(entity: str, var: str) -> float:
        v = at.loc[(at["entity"] == entity) & (at["variable"] == var), "value"]
        return float(v.iloc[0]) if not v.empty else 0.0

    park_df = pd.DataFrame({"entity": parks, "x": [pos[p][0] for p in parks], "y": [pos[p][1] for p in parks],
                            "net_kw": [val(p, "grid_buy_kw") - val(p, "grid_sell_kw") for p in parks]})
    rows = []
    for ln in lines:
        a, _, b = ln.partition("-")
        rows.append({"line": ln, "x": pos[a][0], "y": pos[a][1], "x2": pos[b][0], "y2": pos[b][1],
                     "flow_kw": val(ln, "p2p_forward_kw") - val(ln, "p2p_reverse_kw")})
    return park_df, pd.DataFrame(rows)


def bargaining_table(agents: pd.DataFrame, kpis: dict[str, Any] | pd.Series | None = None) -> pd.DataFrame:
    """Per bargaining agent: ``standalone`` cost, ``coalition`` cost (its own cost in the coalition's plan), the
    contribution ``weight`` (from the KPI row's ``weight_<agent>``), the ``payment`` it makes (receives when
    negative), its ``final`` cost and its ``gain`` = standalone − final; empty when the day had no bargaining."""
    if agents is None or agents.empty:
        return pd.DataFrame()
    need = {"standalone_cost": "standalone", "own_cost": "coalition", "payment": "payment", "final_cost": "final",
            "gain": "gain"}
    rec = agents[agents["variable"].isin(list(need))]
    if rec.empty:
        return pd.DataFrame()
    t = rec.pivot_table(index="agent_id", columns="variable", values="value", aggfunc="first", observed=True)
    t = t.rename(columns=need)
    if not {"payment", "standalone", "final"} <= set(t.columns):
        return pd.DataFrame()  # no settlement that day (e.g. the oracle: one plan, no bargaining)
    # the bargaining agents (EV stations and TAs report costs, not payments)
    t = t[t["payment"].notna() & t["standalone"].notna() & t["final"].notna()]
    if t.empty:
        return pd.DataFrame()
    t.index = t.index.astype(str)
    t.insert(2, "weight", [float(kpis.get(f"weight_{a}", math.nan)) if kpis is not None else math.nan
                           for a in t.index])
    cols = [c for c in ("standalone", "coalition", "weight", "payment", "final", "gain") if c in t]
    return t[cols].reset_index().rename(columns={"agent_id": "agent"})


#: The KPI strip: (column, label, format); shown when the row has the column.
KPI_STRIP: tuple[tuple[str, str, str], ...] = (
    ("total_cost", "total cost", "{:,.2f}"),
    ("grid_cost", "grid cost", "{:,.2f}"),
    ("interaction_cost", "payments", "{:,.2f}"),
    ("curtailment_kwh", "curtailed kWh", "{:,.1f}"),
    ("grid_kwh", "grid kWh", "{:,.0f}"),
    ("peak_valley_kw", "peak−valley kW", "{:,.0f}"),
    ("vmin_ac_pu", "V min AC p.u.", "{:.4f}"),
    ("voltage_violation_pu_h", "V violation p.u.·h", "{:.4f}"),
    ("bisection_iterations", "bisection iterations", "{:.0f}"),
)


def kpi_strip(kpis: dict[str, Any] | pd.Series | None, currency: str = "USD") -> list[tuple[str, str]]:
    """``(label, text)`` pairs of the day's headline KPIs (costs in ``currency``); empty before a day closes."""
    if kpis is None:
        return []
    out = []
    for col, label, fmt in KPI_STRIP:
        if col in kpis and kpis[col] is not None and not (isinstance(kpis[col], float) and math.isnan(kpis[col])):
            text = fmt.format(float(kpis[col]))
            out.append((f"{label} ({currency})" if "cost" in col else label, text))
    return out


def behaviour_params(records: pd.DataFrame) -> pd.DataFrame:
    """``day, agent, behaviour, parameter, value`` of the per-agent records ``param_<name>`` (columns ``day,
    agent_id, behaviour, variable, value``): what a learning agent chose each day (empty when none reports one)."""
    cols = ["day", "agent", "behaviour", "parameter", "value"]
    if records is None or records.empty:
        return pd.DataFrame(columns=cols)
    p = records[records["variable"].astype(str).str.startswith("param_")]
    return pd.DataFrame({"day": p["day"].astype(int), "agent": p["agent_id"].astype(str),
                         "behaviour": p["behaviour"].astype(str),
                         "parameter": p["variable"].astype(str).str.removeprefix("param_"),
                         "value": p["value"].astype(float)}, columns=cols).sort_values("day", kind="stable")

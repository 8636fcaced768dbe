"""Figures of the low-carbon campus study (paper 003, SPEC §6.5, §7 rows 23–35).

Every figure function takes the study's tables (pandas DataFrames, as written by ``studies/p003_lowcarbon/run.py``)
and returns a :class:`matplotlib.figure.Figure` (built directly, so it renders with the non-interactive Agg
canvas); nothing here does I/O or touches a model (:func:`sim.engine.io.save_figure` writes them).  The data
helpers (:func:`series`, :func:`has_series`, :func:`configs_in`, :data:`HEAT_SOURCES`, ...) are shared with
``studies/p003_lowcarbon/report.py`` so the report's numbers and the figures come from the same code.

Tables:

``ts``        long: ``config, uset, period (1..24), entity, variable, value, unit`` — the worst-case dispatch
              of every (configuration, uncertainty set); MW for powers, ``1`` for the commitment ``tp_on``.
``costs``     one row per (``config``, ``uset``): the 003 Table-1 columns (``total``, ``carbon_trading``,
              ``sequestration``, ``coal``, ``startstop``, ``curtailment``, ``gas``, ``dr_ev``) and ``penalty``.
``co2``       one row per (``config``, ``uset``): ``direct``, ``indirect``, ``total`` (t) and the CO2 flows.
``sets``      003 Table 3: ``uset, curtailment, total``.
``conv``      ``config, uset, iteration, lb, ub, gap``.
``samples``   ``sample, component, pc1, pc2``; ``ellipses``: ``component, point, pc1, pc2``;
``mixture``   ``component, weight, hour, mean_mw``.
``replay``    per plan (``config``, ``uset``) and replay day: ``total`` and its parts.

Time axes: period ``t`` covers the hour ``[t − 1, t)``; step lines are drawn over their hour, bars at the
hour's centre.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from studies.common.plots import hour_axis, step

logger = logging.getLogger(__name__)

__all__ = [
    "CONFIGS",
    "CONFIG_COLOUR",
    "COST_PARTS",
    "DATA_DRIVEN",
    "HEAT_SINKS",
    "HEAT_SOURCES",
    "USET_COLOUR",
    "co2_and_worst_wind",
    "configs_in",
    "convergence",
    "cost_tables",
    "demand_response",
    "ellipsoids",
    "ev_fleet",
    "has_series",
    "heat_supply",
    "power_units",
    "replay_costs",
    "series",
    "thermal_units",
]

CONFIGS: tuple[str, ...] = ("S1", "S2", "S3", "S4", "S5", "S6")
DATA_DRIVEN = "data-driven"
CONFIG_COLOUR: dict[str, str] = {"S1": "#7f7f7f", "S2": "#1f77b4", "S3": "#ff7f0e", "S4": "#9467bd",
                                 "S5": "#2ca02c", "S6": "#d62728"}
USET_COLOUR: dict[str, str] = {"box": "#8c564b", "polyhedral": "#e377c2", DATA_DRIVEN: "#2ca02c"}
#: Table-1 cost columns (without the total) and the penalty column, with labels and colours.
COST_PARTS: tuple[tuple[str, str, str], ...] = (
    ("carbon_trading", "carbon trading", "#8c564b"),
    ("sequestration", "sequestration", "#17becf"),
    ("coal", "coal (+ O&M)", "#404040"),
    ("startstop", "start-stop", "#bcbd22"),
    ("curtailment", "wind curtailment", "#4a90d9"),
    ("gas", "gas purchase", "#ff7f0e"),
    ("dr_ev", "DR + EV", "#2ca02c"),
    ("penalty", "penalty (shedding, spill, heat dump)", "#d62728"),
)
#: Heat supplied to the heat bus: (entity, variable, label, colour).
HEAT_SOURCES: tuple[tuple[str, str, str, str], ...] = (
    ("gt", "gt_heat_mw", "GT heat", "#d62728"),
    ("gb", "gb_heat_mw", "GB heat", "#ff7f0e"),
    ("eh", "eh_heat_mw", "EH heat", "#9467bd"),
    ("hs", "hs_discharge_mw", "heat-storage discharge", "#2ca02c"),
    ("p2a", "p2a_heat_mw", "P2A reaction heat", "#17becf"),
    ("slack", "heat_shed_mw", "heat not served (slack)", "#000000"),
)
#: Heat taken from the heat bus besides the load: drawn below zero.
HEAT_SINKS: tuple[tuple[str, str, str, str], ...] = (
    ("hs", "hs_charge_mw", "heat-storage charge", "#98df8a"),
    ("slack", "heat_dump_mw", "heat dump", "#c7c7c7"),
)
_N = 24


# --------------------------------------------------------------------------------------- data helpers
def _need(df: pd.DataFrame, name: str, cols: Sequence[str]) -> pd.DataFrame:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {missing}")
    if df.empty:
        raise ValueError(f"{name} is empty")
    return df


def configs_in(df: pd.DataFrame, uset: str | None = DATA_DRIVEN) -> list[str]:
    """The configurations of ``df`` (over ``uset``; every set if None), S1–S6 first, the rest sorted."""
    sub = df if uset is None or "uset" not in df.columns else df[df["uset"].astype(str) == uset]
    present = set(sub["config"].astype(str).unique())
    return [c for c in CONFIGS if c in present] + sorted(present - set(CONFIGS))


def _rows(ts: pd.DataFrame, config: str, entity: str, variable: str, uset: str) -> pd.DataFrame:
    return ts[(ts["config"] == config) & (ts["uset"] == uset) & (ts["entity"] == entity)
              & (ts["variable"] == variable)]


def has_series(ts: pd.DataFrame, config: str, entity: str, variable: str, uset: str = DATA_DRIVEN) -> bool:
    return not _rows(ts, config, entity, variable, uset).empty


def series(ts: pd.DataFrame, config: str, entity: str, variable: str, uset: str = DATA_DRIVEN,
           default: float | None = None) -> np.ndarray:
    """Hourly values (periods 1..24) of one output of one plan's worst case.  A missing series raises
    ValueError, or gives ``default`` in every hour when ``default`` is not None (a device the
    configuration does not have produces nothing)."""
    rows = _rows(ts, config, entity, variable, uset)
    if rows.empty:
        if default is None:
            raise ValueError(f"no series {entity}.{variable} for {config}/{uset} in the time series")
        return np.full(_N, float(default))
    s = rows.groupby("period", observed=True)["value"].sum()
    out = np.zeros(_N)
    for p, v in s.items():
        if 1 <= int(p) <= _N:  # type: ignore[call-overload]
            out[int(p) - 1] = float(v)  # type: ignore[call-overload]
    return out


def thermal_units(ts: pd.DataFrame, config: str, uset: str = DATA_DRIVEN) -> list[str]:
    """The thermal-unit entities (``tp_*``) of a plan, sorted."""
    sub = ts[(ts["config"] == config) & (ts["uset"] == uset)]
    return sorted(str(e) for e in sub["entity"].astype(str).unique() if str(e).startswith("tp_"))


def _cell(df: pd.DataFrame, row: str, col: str) -> float:
    """``df.loc[row, col]`` as a float (the first one if the index repeats)."""
    v = df.loc[row, col]
    return float(v.iloc[0]) if isinstance(v, pd.Series) else float(v)  # type: ignore[arg-type]


def _outlier_cap(values: np.ndarray, others: Sequence[float] = ()) -> float | None:
    """An upper axis limit that leaves out values more than 4× the next largest (None: no outlier)."""
    v = np.sort(np.asarray([*values, *others], dtype=float)[np.isfinite([*values, *others])])
    if v.size < 2 or v[-2] <= 0:
        return None
    rest = v[v <= 4 * v[-2]] if v[-1] > 4 * v[-2] else v
    if rest.size == v.size:
        return None
    return float(rest.max()) * 1.25


def _centres() -> np.ndarray:
    return np.arange(_N, dtype=float) + 0.5


def _t0() -> np.ndarray:
    return np.arange(_N, dtype=float)


def _legend_below(ax: Axes, ncol: int = 4) -> None:
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles, labels, ncol=ncol, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14),
              frameon=False)


# --------------------------------------------------------------------------------------- dispatch
def _heat_panel(ax: Axes, ts: pd.DataFrame, config: str, uset: str) -> None:
    c = _centres()
    bottom = np.zeros(_N)
    for ent, var, label, colour in HEAT_SOURCES:
        y = series(ts, config, ent, var, uset, default=0.0)
        if np.abs(y).max() <= 1e-9 and ent in ("slack", "p2a"):
            continue  # an absent device or an unused slack: keep the legend short
        ax.bar(c, y, width=0.85, bottom=bottom, color=colour, label=label, linewidth=0)
        bottom = bottom + y
    down = np.zeros(_N)
    for ent, var, label, colour in HEAT_SINKS:
        y = series(ts, config, ent, var, uset, default=0.0)
        if np.abs(y).max() <= 1e-9 and ent == "slack":
            continue
        ax.bar(c, -y, width=0.85, bottom=down, color=colour, label=label, linewidth=0, hatch="//")
        down = down - y
    load = series(ts, config, "load", "heat_load_mw", uset)
    t0 = _t0()
    step(ax, t0, load, 1.0, color="black", linewidth=1.8, label="heat load")
    if has_series(ts, config, "dr", "dr_heat_tran_mw", uset):
        after = (load + series(ts, config, "dr", "dr_heat_tran_mw", uset, 0.0)
                 + series(ts, config, "dr", "dr_heat_sub_mw", uset, 0.0)
                 - series(ts, config, "dr", "dr_heat_cut_mw", uset, 0.0))
        step(ax, t0, after, 1.0, color="black", linestyle="--", linewidth=1.2, label="heat load after DR")
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.set_ylabel("heat power (MW)")
    ax.set_xlabel("hour of day (h)")
    ax.set_title(f"{config} ({uset} set, worst case)")
    hour_axis(ax)


def heat_supply(ts: pd.DataFrame, configs: Sequence[str] = ("S5", "S2"), uset: str = DATA_DRIVEN) -> Figure:
    """Heat supply by source (stacked bars: GT, GB, EH, heat-storage discharge, P2A reaction heat), the heat
    load (line; dashed: after DR) and the heat-storage charge and heat dump (below zero), per configuration."""
    _need(ts, "timeseries", ("config", "uset", "period", "entity", "variable", "value"))
    show = [c for c in configs if has_series(ts, c, "load", "heat_load_mw", uset)]
    if not show:
        raise ValueError(f"heat_supply: none of {list(configs)} has a heat load over the {uset} set")
    fig = Figure(figsize=(7.5 * len(show), 5.5), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(show), sharey=True))
    for ax, cfg in zip(axes, show, strict=True):
        _heat_panel(ax, ts, cfg, uset)
    _legend_below(axes[0], ncol=4)
    fig.suptitle("Heat supply by source (cf. 003 §4.3 heat dispatch)")
    return fig


def power_units(ts: pd.DataFrame, config: str = "S5", uset: str = DATA_DRIVEN) -> Figure:
    """(a) Electric output of the GT and every thermal unit (stacked), the wind used and available; (b) the
    thermal units' commitment (first stage) for one plan's worst case."""
    _need(ts, "timeseries", ("config", "uset", "period", "entity", "variable", "value"))
    units = thermal_units(ts, config, uset)
    if not units and not has_series(ts, config, "gt", "gt_power_mw", uset):
        raise ValueError(f"power_units: no GT or TP output for {config}/{uset}")
    fig = Figure(figsize=(11, 7.5), layout="constrained")
    ax1, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    c = _centres()
    t0 = _t0()
    bottom = np.zeros(_N)
    tp_colours = ("#404040", "#8c8c8c", "#b0b0b0", "#595959")
    if has_series(ts, config, "wind", "wind_mw", uset):
        wind = series(ts, config, "wind", "wind_mw", uset)
        ax1.bar(c, wind, width=0.85, color="#9ecae1", label="wind used", linewidth=0)
        bottom = bottom + wind
        step(ax1, t0, series(ts, config, "wind", "wind_available_mw", uset, default=np.nan), 1.0,
              color="#1f77b4", linestyle=":", linewidth=1.8, label="wind available (worst case u*)")
    gt = series(ts, config, "gt", "gt_power_mw", uset, default=0.0)
    ax1.bar(c, gt, width=0.85, bottom=bottom, color="#d62728", label="GT", linewidth=0)
    bottom = bottom + gt
    for i, u in enumerate(units):
        y = series(ts, config, u, "tp_power_mw", uset, default=0.0)
        ax1.bar(c, y, width=0.85, bottom=bottom, color=tp_colours[i % len(tp_colours)],
                label=u.removeprefix('tp_'), linewidth=0)
        bottom = bottom + y
    step(ax1, t0, series(ts, config, "load", "electric_load_mw", uset, default=np.nan), 1.0, color="black",
          linewidth=1.2, linestyle="--", label="electric load (before DR, EV)")
    ax1.set_ylabel("electric power (MW)")
    ax1.set_title(f"(a) Wind used (stacked at the bottom) / available, GT and TP electric output — {config} "
                  f"({uset} set, worst case)")
    ax1.legend(ncol=3, fontsize=8, loc="upper left")
    ax1.set_ylim(0, ax1.get_ylim()[1] * 1.2)
    hour_axis(ax1)
    for i, u in enumerate(units):
        on = series(ts, config, u, "tp_on", uset, default=np.nan)
        off = 0.08 * (i - (len(units) - 1) / 2)
        step(ax2, t0, on + off, 1.0, color=tp_colours[i % len(tp_colours)], linewidth=2.0,
              label=u.removeprefix('tp_'))
    ax2.set_yticks([0, 1], ["off", "on"])
    ax2.set_ylim(-0.3, 1.3)
    ax2.set_ylabel("commitment")
    ax2.set_xlabel("hour of day (h)")
    ax2.set_title("(b) Thermal units' commitment (first stage)")
    if units:
        ax2.legend(ncol=len(units), fontsize=8, loc="center right")
    hour_axis(ax2)
    fig.suptitle(f"Electric generation of {config} (cf. 003 §4.3)")
    return fig


def ev_fleet(ts: pd.DataFrame, config: str = "S5", compare: str | None = "S4", uset: str = DATA_DRIVEN) -> Figure:
    """EV fleet charging (above zero) and V2G discharge (below zero) of ``config``; the uncontrolled charging of
    ``compare`` (a configuration without EV scheduling) as a line, when present."""
    _need(ts, "timeseries", ("config", "uset", "period", "entity", "variable", "value"))
    if not has_series(ts, config, "ev", "ev_charge_mw", uset):
        raise ValueError(f"ev_fleet: {config}/{uset} has no EV fleet")
    ch = series(ts, config, "ev", "ev_charge_mw", uset)
    dis = series(ts, config, "ev", "ev_discharge_mw", uset, default=0.0)
    fig = Figure(figsize=(10, 5), layout="constrained")
    ax = fig.subplots()
    c = _centres()
    ax.bar(c, ch, width=0.85, color="#2ca02c", label=f"{config} charging")
    ax.bar(c, -dis, width=0.85, color="#d62728", label=f"{config} V2G discharge")
    t0 = _t0()
    step(ax, t0, ch - dis, 1.0, color="black", linewidth=1.4, label=f"{config} net (charge − discharge)")
    if compare and has_series(ts, compare, "ev", "ev_uncontrolled_mw", uset):
        step(ax, t0, series(ts, compare, "ev", "ev_uncontrolled_mw", uset), 1.0, color="#9467bd", linewidth=1.8,
              linestyle="--", label=f"{compare} uncontrolled charging")
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.set_ylabel("EV fleet power at the grid (MW)")
    ax.set_xlabel("hour of day (h)")
    ax.set_title(f"EV fleet charging and discharging — {config} ({uset} set, worst case; cf. 003 §4.3)")
    ax.legend(ncol=2, fontsize=8, loc="best")
    hour_axis(ax)
    return fig


def demand_response(ts: pd.DataFrame, config: str = "S5", uset: str = DATA_DRIVEN) -> Figure:
    """Demand response of ``config``: (a) electric, (b) heat — transferred (+ moved in, − moved out), substituted
    (+ electric load taking over heat load) and curtailed (−) load, with the load before and after DR."""
    _need(ts, "timeseries", ("config", "uset", "period", "entity", "variable", "value"))
    if not has_series(ts, config, "dr", "dr_tran_mw", uset):
        raise ValueError(f"demand_response: {config}/{uset} has no demand response")
    fig = Figure(figsize=(11, 8), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True)
    c = _centres()
    t0 = _t0()
    panels = (("(a) electric", ("dr_tran_mw", "dr_sub_mw", "dr_cut_mw"), "electric_load_mw"),
              ("(b) heat", ("dr_heat_tran_mw", "dr_heat_sub_mw", "dr_heat_cut_mw"), "heat_load_mw"))
    w = 0.28
    for ax, (title, (tr, sub, cut), load_var) in zip(axes, panels, strict=True):
        y_tr = series(ts, config, "dr", tr, uset, 0.0)
        y_sub = series(ts, config, "dr", sub, uset, 0.0)
        y_cut = series(ts, config, "dr", cut, uset, 0.0)
        ax.bar(c - w, y_tr, width=w, color="#1f77b4", label="transferred (+ in / − out)")
        ax.bar(c, y_sub, width=w, color="#ff7f0e", label="substituted (+ / −)")
        ax.bar(c + w, -y_cut, width=w, color="#d62728", label="curtailed (−)")
        ax.axhline(0.0, color="black", linewidth=0.6)
        ax.set_ylabel("load change (MW)")
        twin = ax.twinx()
        load = series(ts, config, "load", load_var, uset, default=np.nan)
        step(twin, t0, load, 1.0, color="black", linewidth=1.2, linestyle=":", label="load before DR")
        step(twin, t0, load + y_tr + y_sub - y_cut, 1.0, color="black", linewidth=1.6, label="load after DR")
        twin.set_ylabel("load (MW)")
        lo = float(np.nanmin(np.concatenate([load, load + y_tr + y_sub - y_cut])))
        twin.set_ylim(bottom=min(0.0, lo))
        if title.startswith("(a)"):
            h1, l1 = ax.get_legend_handles_labels()
            h2, l2 = twin.get_legend_handles_labels()
            fig.legend(h1 + h2, l1 + l2, ncol=5, fontsize=8, loc="outside lower center", frameon=False)
        ax.set_title(f"{title} load (bars: change, left axis; lines: load, right axis)")
        hour_axis(ax)
    axes[-1].set_xlabel("hour of day (h)")
    fig.suptitle(f"Demand response — {config} ({uset} set, worst case; cf. 003 §4.3)")
    return fig


# --------------------------------------------------------------------------------------- uncertainty set
def ellipsoids(samples: pd.DataFrame, ellipses: pd.DataFrame, mixture: pd.DataFrame | None = None,
               gamma: float | None = None) -> Figure:
    """The wind-day samples on their first two principal components, coloured by mixture component, and the
    fitted ellipsoids (Γ-scaled) projected on the same plane (cf. 003 Fig. C1)."""
    _need(samples, "samples_2d", ("sample", "component", "pc1", "pc2"))
    _need(ellipses, "ellipses", ("component", "point", "pc1", "pc2"))
    weights: dict[int, float] = {}
    if mixture is not None and not mixture.empty and {"component", "weight"} <= set(mixture.columns):
        w = mixture.groupby("component")["weight"].first()
        weights = {int(k): float(v) for k, v in zip(w.index, w.to_numpy(float), strict=True)}  # type: ignore[call-overload]
    fig = Figure(figsize=(8.5, 7), layout="constrained")
    ax = fig.subplots()
    palette = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
    comps = sorted(set(samples["component"].astype(int)) | set(ellipses["component"].astype(int)))
    colour = {k: palette[i % len(palette)] for i, k in enumerate(comps)}
    for k in comps:
        s = samples[samples["component"].astype(int) == k]
        if not s.empty:
            ax.scatter(s["pc1"], s["pc2"], s=8, alpha=0.35, color=colour[k], linewidths=0,
                       label=f"samples of component {k} ({len(s)})")
    for k in comps:
        e = ellipses[ellipses["component"].astype(int) == k].sort_values("point")
        if e.empty:
            continue
        x = np.append(e["pc1"].to_numpy(float), e["pc1"].iloc[0])
        y = np.append(e["pc2"].to_numpy(float), e["pc2"].iloc[0])
        wtxt = f", π = {weights[k]:.2f}" if k in weights else ""
        ax.plot(x, y, color=colour[k], linewidth=2.2, label=f"ellipsoid {k}{wtxt}")
    ax.set_xlabel("first principal component of the daily wind profile (MW)")
    ax.set_ylabel("second principal component (MW)")
    n_e = ellipses["component"].nunique()
    gtxt = f", Γ = {gamma:.3g}" if gamma is not None and np.isfinite(gamma) else ""
    ax.set_title(f"Data-driven uncertainty set: union of {n_e} ellipsoid(s){gtxt} over {len(samples)} samples")
    ax.legend(fontsize=8, loc="best", markerscale=2)
    ax.grid(True, alpha=0.3)
    return fig


def convergence(conv: pd.DataFrame, currency: str = "1e4 CNY") -> Figure:
    """(a) Lower (dashed) and upper (solid) C&CG bound per iteration of every configuration / set; (b) the
    relative gap (UB − LB)/|UB| on a log scale."""
    _need(conv, "convergence", ("config", "uset", "iteration", "lb", "ub"))
    fig = Figure(figsize=(13, 5.5), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    tasks = conv[["config", "uset"]].drop_duplicates().astype(str)
    order = {c: i for i, c in enumerate(CONFIGS)}
    tasks = tasks.assign(_o=tasks["config"].map(lambda c: order.get(c, 99))).sort_values(["_o", "uset"])
    styles = ("-", "-.", ":")
    for n, (cfg, us) in enumerate(zip(tasks["config"], tasks["uset"], strict=True)):
        d = conv[(conv["config"].astype(str) == cfg) & (conv["uset"].astype(str) == us)].sort_values("iteration")
        it = d["iteration"].to_numpy(int)
        colour = CONFIG_COLOUR.get(cfg, f"C{n % 10}") if us == DATA_DRIVEN else USET_COLOUR.get(us, f"C{n % 10}")
        ls = styles[0] if us == DATA_DRIVEN else styles[1 + n % 2]
        label = f"{cfg} / {us}"
        ax1.plot(it, d["ub"], color=colour, linestyle=ls, marker="o", markersize=3, label=f"{label} UB")
        ax1.plot(it, d["lb"], color=colour, linestyle="--", marker="x", markersize=3, alpha=0.7)
        ub = d["ub"].to_numpy(float)
        lb = d["lb"].to_numpy(float)
        ok = np.isfinite(ub) & (np.abs(ub) > 0)  # no UB yet (heuristic iterations, bounds): no gap point
        gap = np.full(ub.shape, np.nan)
        gap[ok] = (ub[ok] - lb[ok]) / np.abs(ub[ok])
        gap = np.clip(gap, 1e-8, None)
        ax2.semilogy(it, gap, color=colour, linestyle=ls, marker="o", markersize=3, label=label)
    vals = conv[["lb", "ub"]].to_numpy(float)
    vals = vals[np.isfinite(vals)]
    log_scale = vals.size > 0 and float(vals.min()) > 0 and float(vals.max()) / float(vals.min()) > 20
    if log_scale:
        ax1.set_yscale("log")
    ax1.set_xlabel("C&CG iteration (1)")
    ax1.set_ylabel(f"objective bound ({currency}{', log scale' if log_scale else ''})")
    ax1.set_title("(a) bounds: UB solid, LB dashed")
    ax1.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax1.grid(True, alpha=0.3)
    ax1.legend(fontsize=7, ncol=2)
    ax2.set_xlabel("C&CG iteration (1)")
    ax2.set_ylabel("relative gap (UB − LB)/|UB| (log scale)")
    ax2.set_title("(b) relative gap (a zero gap is drawn at 1e-8)")
    ax2.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax2.grid(True, which="both", alpha=0.3)
    ax2.legend(fontsize=7, ncol=2)
    fig.suptitle("C&CG convergence of every configuration and uncertainty set")
    return fig


# --------------------------------------------------------------------------------------- tables
def cost_tables(costs: pd.DataFrame, sets: pd.DataFrame | None = None,
                paper_totals: Mapping[str, float] | None = None,
                paper_sets: Mapping[str, tuple[float, float]] | None = None, currency: str = "1e4 CNY") -> Figure:
    """(a) The 003 Table-1 columns of every configuration over the data-driven set as stacked bars (negative
    parts, e.g. carbon-trading revenue, below zero), our total (diamond) and the paper's total (cross);
    (b) 003 Table 3: curtailment cost and total of the set variant over each uncertainty set."""
    _need(costs, "costs", ("config", "uset", "total", *(k for k, _, _ in COST_PARTS if k != "penalty")))
    cfgs = configs_in(costs)
    if not cfgs:
        raise ValueError("costs: no configuration over the data-driven set")
    sel = costs[costs["uset"].astype(str) == DATA_DRIVEN]
    dd = sel.set_index(sel["config"].astype(str))
    with_sets = sets is not None and not sets.empty
    fig = Figure(figsize=(15 if with_sets else 10, 6), layout="constrained")
    if with_sets:
        ax1, ax2 = fig.subplots(1, 2, width_ratios=(2, 1))
    else:
        ax1 = fig.subplots()
    x = np.arange(len(cfgs), dtype=float)
    up = np.zeros(len(cfgs))
    down = np.zeros(len(cfgs))
    for key, label, colour in COST_PARTS:
        if key not in dd.columns:
            continue
        v = np.array([_cell(dd, c, key) for c in cfgs])
        if np.abs(v).max() <= 1e-9:
            continue
        pos, neg = np.clip(v, 0, None), np.clip(v, None, 0)
        ax1.bar(x, pos, bottom=up, width=0.6, color=colour, label=label)
        ax1.bar(x, neg, bottom=down, width=0.6, color=colour)
        up += pos
        down += neg
    tot = np.array([_cell(dd, c, "total") for c in cfgs])
    ax1.scatter(x, tot, marker="D", color="black", zorder=5, label="total (ours)")
    if paper_totals:
        px = [xi for xi, c in zip(x, cfgs, strict=True) if c in paper_totals]
        py = [paper_totals[c] for c in cfgs if c in paper_totals]
        ax1.scatter(px, py, marker="o", s=55, facecolors="white", edgecolors="#d62728", linewidths=2, zorder=6,
                    label="total (003 Table 1)")
    # one plan far above the others (e.g. S1 shedding load at its worst case) would flatten every other bar:
    # cut the axis above the rest and print the off-scale values
    top = np.maximum(up, tot)
    cap = _outlier_cap(top, list(paper_totals.values()) if paper_totals else [])
    for xi, v, hi, c in zip(x, tot, top, cfgs, strict=True):
        if cap is not None and hi > cap:
            pen = _cell(dd, c, "penalty") if "penalty" in dd.columns else float("nan")
            ax1.annotate(f"total {v:,.1f} ↑ off scale\n(penalty {pen:,.1f})", (xi, cap), textcoords="offset points",
                         xytext=(0, -28), ha="center", fontsize=8, color="#d62728",
                         bbox={"boxstyle": "round", "fc": "white", "ec": "#d62728"})
        else:
            ax1.annotate(f"{v:.1f}", (xi, v), textcoords="offset points", xytext=(8, 4), fontsize=8)
    if cap is not None:
        ax1.set_ylim(min(down.min() * 1.1, 0.0), cap)
    ax1.axhline(0.0, color="black", linewidth=0.6)
    ax1.set_xticks(x, cfgs)
    ax1.set_xlabel("configuration (data-driven set; S1: deterministic plan at its worst case)")
    ax1.set_ylabel(f"daily cost ({currency})")
    ax1.set_title("(a) Cost breakdown per configuration (cf. 003 Table 1)")
    ax1.legend(fontsize=8, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False)
    ax1.grid(True, axis="y", alpha=0.3)
    if with_sets:
        assert sets is not None
        _need(sets, "uncertainty_sets", ("uset", "curtailment", "total"))
        rank = {"box": 0, "polyhedral": 1, DATA_DRIVEN: 2}
        sets = sets.assign(_r=sets["uset"].astype(str).map(lambda u: rank.get(u, 3))).sort_values("_r")
        names = [str(u) for u in sets["uset"]]
        xs = np.arange(len(names), dtype=float)
        w = 0.38
        ax2.bar(xs - w / 2, sets["curtailment"].astype(float), width=w, color="#4a90d9", label="wind curtailment")
        ax2.bar(xs + w / 2, sets["total"].astype(float), width=w, color="#7f7f7f", label="total")
        if paper_sets:
            for i, u in enumerate(names):
                if u in paper_sets:
                    pc, pt = paper_sets[u]
                    ax2.scatter([xs[i] - w / 2, xs[i] + w / 2], [pc, pt], marker="o", s=55, facecolors="white",
                                edgecolors="#d62728", linewidths=2,
                                zorder=5, label="003 Table 3" if i == 0 else None)
        ax2.set_xticks(xs, names)
        cfg = str(sets["config"].iloc[0]) if "config" in sets.columns else ""
        ax2.set_xlabel(f"uncertainty set ({cfg})")
        ax2.set_ylabel(f"cost ({currency})")
        ax2.set_title("(b) Uncertainty sets (cf. 003 Table 3)")
        ax2.legend(fontsize=8)
        ax2.grid(True, axis="y", alpha=0.3)
    fig.suptitle("Costs of the six configurations and of the three uncertainty sets")
    return fig


def co2_and_worst_wind(co2: pd.DataFrame, forecast_mw: Sequence[float], worst_u: Mapping[str, Sequence[float]],
                       uset: str = DATA_DRIVEN, paper_co2: Mapping[str, Mapping[str, float]] | None = None) -> Figure:
    """(a) Direct, indirect (upstream-gas proxy) and total CO2 per configuration (with 003 Table 2's values
    where given); (b) the worst-case wind profile u* of every plan against the forecast (the hourly sample
    mean); plans with the same u* share one line."""
    _need(co2, "co2", ("config", "uset", "direct", "indirect", "total"))
    cfgs = configs_in(co2, uset)
    if not cfgs:
        raise ValueError(f"co2: no configuration over the {uset} set")
    sel = co2[co2["uset"].astype(str) == uset]
    sub = sel.set_index(sel["config"].astype(str))
    fig = Figure(figsize=(15, 5.5), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    x = np.arange(len(cfgs), dtype=float)
    w = 0.27
    bars = (("direct", "direct (released)", "#404040"), ("indirect", "indirect (upstream gas, proxy)", "#ff7f0e"),
            ("total", "total", "#1f77b4"))
    for i, (col, label, colour) in enumerate(bars):
        ax1.bar(x + (i - 1) * w, [_cell(sub, c, col) for c in cfgs], width=w, color=colour, label=label)
    ax1.set_xticks(x, cfgs)
    ax1.set_xlabel(f"configuration ({uset} set, worst case)")
    ax1.set_ylabel("CO2 (t/day)")
    ax1.set_title("(a) CO2 emission (cf. 003 Table 2)")
    ax1.legend(fontsize=8)
    ax1.grid(True, axis="y", alpha=0.3)
    t0 = _t0()
    fc = np.asarray(forecast_mw, dtype=float)
    if fc.size == _N:
        step(ax2, t0, fc, 1.0, color="black", linewidth=2.4, label="forecast (sample mean)")
    groups: list[tuple[np.ndarray, list[str]]] = []  # plans with the same u* share one line
    for name, u in worst_u.items():
        arr = np.asarray(u, dtype=float)
        if arr.size != _N:
            continue
        for g_arr, names in groups:
            if np.allclose(g_arr, arr, atol=1e-6):
                names.append(name)
                break
        else:
            groups.append((arr, [name]))
    for arr, names in groups:
        cfg, _, us = names[0].partition("/")
        us = us or uset
        colour = CONFIG_COLOUR.get(cfg, "#7f7f7f") if us == uset else USET_COLOUR.get(us, "#7f7f7f")
        label = ", ".join(names) if len(names) <= 3 else f"{len(names)} plans: " + ", ".join(
            n.replace(f"/{uset}", "") for n in names)
        step(ax2, t0, arr, 1.0, color=colour, linewidth=1.6, linestyle="-" if us == uset else "--", label=label)
    if paper_co2:
        for i, (col, _, _) in enumerate(bars):
            px = [xi + (i - 1) * w for xi, c in zip(x, cfgs, strict=True) if c in paper_co2]
            py = [paper_co2[c][col] for c in cfgs if c in paper_co2]
            ax1.scatter(px, py, marker="o", s=45, facecolors="white", edgecolors="#d62728", linewidths=2, zorder=5,
                        label="003 Table 2 (rows '3', '4' = S4, S5)" if i == 0 else None)
        ax1.legend(fontsize=8)
    ax2.set_ylabel("wind availability (MW)")
    ax2.set_xlabel("hour of day (h)")
    ax2.set_title("(b) Worst-case wind u* of each plan vs the forecast")
    ax2.legend(fontsize=8, ncol=2)
    ax2.set_ylim(bottom=0)
    hour_axis(ax2)
    fig.suptitle("CO2 emission and worst-case wind")
    return fig


def replay_costs(replay: pd.DataFrame, currency: str = "1e4 CNY") -> Figure:
    """Out-of-sample (replay) daily cost of every plan: box plot over the replay days, mean as a diamond."""
    _need(replay, "replay", ("config", "uset", "day", "total"))
    tasks = replay[["config", "uset"]].drop_duplicates().astype(str)
    order = {c: i for i, c in enumerate(CONFIGS)}
    tasks = tasks.assign(_o=tasks["config"].map(lambda c: order.get(c, 99)),
                         _u=tasks["uset"].map(lambda u: 0 if u == DATA_DRIVEN else 1)).sort_values(["_u", "_o"])
    data, labels, colours = [], [], []
    for cfg, us in zip(tasks["config"], tasks["uset"], strict=True):
        d = replay[(replay["config"].astype(str) == cfg) & (replay["uset"].astype(str) == us)]["total"]
        data.append(d.astype(float).to_numpy())
        labels.append(f"{cfg}\n{us}")
        colours.append(CONFIG_COLOUR.get(cfg, "#7f7f7f") if us == DATA_DRIVEN else USET_COLOUR.get(us, "#7f7f7f"))
    fig = Figure(figsize=(max(8.0, 1.3 * len(data) + 2), 5.5), layout="constrained")
    ax = fig.subplots()
    bp = ax.boxplot(data, patch_artist=True, widths=0.6)
    ax.set_xticks(np.arange(1, len(labels) + 1), labels)
    for patch, colour in zip(bp["boxes"], colours, strict=True):
        patch.set_facecolor(colour)
        patch.set_alpha(0.55)
    ax.scatter(np.arange(1, len(data) + 1), [float(np.mean(d)) if len(d) else np.nan for d in data], marker="D",
               color="black", zorder=5, label="mean")
    n_days = int(replay["day"].nunique())
    lo = min((float(np.min(d)) for d in data if len(d)), default=1.0)
    hi = max((float(np.max(d)) for d in data if len(d)), default=1.0)
    log_scale = lo > 0 and hi / lo > 20
    if log_scale:
        ax.set_yscale("log")
    ax.set_ylabel(f"realised daily cost ({currency}{', log scale' if log_scale else ''})")
    ax.set_xlabel("plan (configuration / uncertainty set)")
    ax.set_title(f"Out-of-sample cost of each plan over {n_days} independent wind days")
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    return fig

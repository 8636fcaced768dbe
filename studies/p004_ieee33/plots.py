"""Figures of the IEEE-33 study (paper 004, SPEC §5): TOU design, rolling prices, bargaining flows,
storage, load curves, curtailment, bisection convergence and voltages.

Every figure function takes the study's tables (pandas DataFrames, as written by
``studies/p004_ieee33/run.py``) and returns a :class:`matplotlib.figure.Figure`; nothing here does I/O
(:func:`sim.engine.io.save_figure` writes them).  The small data helpers (:func:`system_frame`,
:func:`cluster_frame`, :func:`bisection_trace`, :func:`worst_voltage_period`) are shared with
``studies/p004_ieee33/report.py`` so that the report's numbers and the figures come from the same code.

Tables (see the study module for the full schema):

``day_ahead``  24 rows: ``hour`` (1..24, hour h covers [h−1, h)), ``period_type``, ``price``,
    ``upstream_price``, ``baseline_load_kw``, ``load_after_dr_kw``, ... , ``vmin_pu``, ``vmax_pu``.
``prices``     long: ``kind`` (day_ahead | rolling | bisection), ``iteration``, ``period``, ``hour``
    (start hour), ``price``, ``excess_demand_kw``, ``lo``, ``hi``.
``ts``         long: ``scheme, period (1..96), bus, entity, variable, value, unit``.

Time axes: the start hour of each period, ``(period − 1) · dt`` with dt = 1 h (DA) or 0.25 h
(intraday); each value is drawn over its period [t, t + dt).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sim.analysis.style import CLUSTER_COLOUR
from sim.systems.ieee33.modes import MODES
from studies.common.plots import hour_axis, step

logger = logging.getLogger(__name__)

__all__ = [
    "SCHEMES",
    "SCHEME_COLOUR",
    "SCHEME_LABEL",
    "bisection_convergence",
    "bisection_trace",
    "cluster_exchange",
    "cluster_frame",
    "curtailment",
    "load_curves",
    "rolling_prices",
    "storage_power",
    "system_frame",
    "tou_prices_load",
    "voltage_profile",
    "worst_voltage_period",
]

SCHEMES: tuple[str, ...] = tuple(MODES)
"""Scheme 1, 2, 3 of 004 §5.2.3 (SPEC §5.7) and the full-information benchmark, in this order."""
#: 004's scheme numbers before the modes' labels (S1 cooperative, ...); the oracle has no number
SCHEME_LABEL: dict[str, str] = {name: (m.label if m.full_information else f"S{i + 1} {m.label.lower()}")
                                for i, (name, m) in enumerate(MODES.items())}
SCHEME_COLOUR: dict[str, str] = {name: m.colour for name, m in MODES.items()}
PERIOD_COLOUR: dict[str, str] = {"peak": "#d62728", "flat": "#f2c200", "valley": "#1f77b4"}
DT_INTRADAY = 0.25
# the IEEE-33 feeder drawn by bus number: the main feeder and its three laterals (SPEC §5.1)
FEEDER_SEGMENTS: tuple[tuple[str, tuple[int, int]], ...] = (
    ("main feeder", (1, 18)), ("19–22", (19, 22)), ("23–25", (23, 25)), ("26–33", (26, 33)),
)


# --------------------------------------------------------------------------- data helpers
def scheme_order(names: Iterable[str]) -> list[str]:
    """The schemes present, in the paper's order, unknown ones after them (sorted)."""
    present = {str(n) for n in names}
    return [s for s in SCHEMES if s in present] + sorted(present - set(SCHEMES))


def _label(scheme: str) -> str:
    return SCHEME_LABEL.get(scheme, scheme)


def _colour(scheme: str, i: int) -> str:
    return SCHEME_COLOUR.get(scheme, f"C{(i + 4) % 10}")


def system_frame(ts: pd.DataFrame, variable: str) -> pd.DataFrame:
    """A ``system`` variable as a period × scheme table (schemes in the paper's order)."""
    rows = ts[(ts["entity"] == "system") & (ts["variable"] == variable)]
    if rows.empty:
        raise ValueError(f"timeseries has no system variable {variable!r}")
    wide = rows.pivot_table(index="period", columns="scheme", values="value", aggfunc="sum", observed=True)
    wide.columns = [str(c) for c in wide.columns]
    return wide[scheme_order(wide.columns)].sort_index()


def clusters_of(ts: pd.DataFrame) -> list[str]:
    """Cluster entities: those that carry a ``pv_available_kw`` or ``curtailment_kw`` series."""
    rows = ts[ts["variable"].isin(["pv_available_kw", "curtailment_kw", "p_in_kw"])]
    return sorted({str(e) for e in rows["entity"].unique()} - {"system", "bus"})


def cluster_frame(ts: pd.DataFrame, variables: Sequence[str], schemes: Iterable[str] | None = None,
                  clusters: Iterable[str] | None = None) -> pd.DataFrame:
    """Cluster-level variables as a (scheme, period, entity) × variable table; absent ones are 0."""
    names = list(clusters) if clusters is not None else clusters_of(ts)
    mask = ts["entity"].isin(names) & ts["variable"].isin(list(variables))
    if schemes is not None:
        mask &= ts["scheme"].isin(list(schemes))
    rows = ts[mask]
    if rows.empty:
        raise ValueError(f"timeseries has no cluster rows for {list(variables)}")
    wide = rows.pivot_table(index=["scheme", "period", "entity"], columns="variable", values="value",
                            aggfunc="sum", observed=True)
    return wide.reindex(columns=list(variables), fill_value=0.0).fillna(0.0).sort_index()


def _t0(periods: np.ndarray, dt: float = DT_INTRADAY) -> np.ndarray:
    return (np.asarray(periods, dtype=float) - 1.0) * dt


def bisection_trace(prices: pd.DataFrame) -> pd.DataFrame:
    """Per bisection iteration d: the eq. 34 criterion and the excess demand.

    ``max_rel_change`` is max_k |π_{d+1,k} − π_{d,k}| / π_{d,k}, with π_{d+1} = (lo + hi) / 2 the
    midpoint of the bracket after iteration d's update (the price evaluated next); where the
    bracket is missing, the change to the next evaluated price is used.  ``max_abs_excess_kw``
    is max_k |Z_k| at the prices evaluated in iteration d.
    """
    b = prices[prices["kind"] == "bisection"]
    if b.empty:
        return pd.DataFrame(columns=["iteration", "max_rel_change", "max_abs_excess_kw", "n_periods"])
    b = b.sort_values(["iteration", "period"])
    piv = b.pivot_table(index="iteration", columns="period", values="price", aggfunc="first")
    lo = b.pivot_table(index="iteration", columns="period", values="lo", aggfunc="first", dropna=False)
    hi = b.pivot_table(index="iteration", columns="period", values="hi", aggfunc="first", dropna=False)
    lo = lo.reindex(index=piv.index, columns=piv.columns)
    hi = hi.reindex(index=piv.index, columns=piv.columns)
    nxt = ((lo + hi) / 2.0).to_numpy(float)
    shifted = piv.shift(-1).to_numpy(float)
    nxt = np.where(np.isfinite(nxt), nxt, shifted)
    x = piv.to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(nxt - x) / np.abs(x)
    rel_max = np.where(np.isfinite(rel).any(axis=1), np.nanmax(np.where(np.isfinite(rel), rel, -np.inf), axis=1),
                       np.nan)
    z = b.assign(absz=b["excess_demand_kw"].abs()).groupby("iteration")["absz"].max()
    return pd.DataFrame({
        "iteration": piv.index.to_numpy(int),
        "max_rel_change": rel_max,
        "max_abs_excess_kw": z.reindex(piv.index).to_numpy(float),
        "n_periods": piv.notna().sum(axis=1).to_numpy(int),
    })


def converged_iteration(trace: pd.DataFrame, xi: float) -> int | None:
    """First iteration whose eq. 34 criterion is ≤ xi, or None."""
    ok = trace[trace["max_rel_change"] <= xi * (1 + 1e-9)]
    return int(ok["iteration"].iloc[0]) if len(ok) else None


def bus_frame(ts: pd.DataFrame, scheme: str, variable: str) -> pd.DataFrame:
    """A bus variable of one scheme as a period × bus table."""
    rows = ts[(ts["entity"] == "bus") & (ts["scheme"] == scheme) & (ts["variable"] == variable)]
    if rows.empty:
        raise ValueError(f"timeseries has no bus variable {variable!r} for scheme {scheme!r}")
    wide = rows.pivot_table(index="period", columns="bus", values="value", aggfunc="first", observed=True)
    wide.columns = [int(c) for c in wide.columns]
    return wide.sort_index().sort_index(axis=1)


def worst_voltage_period(ts: pd.DataFrame, scheme: str = "cooperative") -> tuple[int, float]:
    """(period, deviation): the period with the largest max_bus |V − 1| (LinDistFlow or AC)."""
    dev = (bus_frame(ts, scheme, "v_pu") - 1.0).abs().max(axis=1)
    if ((ts["entity"] == "bus") & (ts["scheme"] == scheme) & (ts["variable"] == "v_ac_pu")).any():
        ac = (bus_frame(ts, scheme, "v_ac_pu") - 1.0).abs().max(axis=1).reindex(dev.index)
        dev = pd.concat([dev, ac], axis=1).max(axis=1)
    k = int(dev.idxmax())
    return k, float(dev.loc[k])


def _period_spans(ax: Axes, da: pd.DataFrame) -> list[Patch]:
    """Shade the TOU period types of the DA table; return legend handles."""
    seen: dict[str, Patch] = {}
    for _, r in da.iterrows():
        kind = str(r["period_type"])
        h = float(r["hour"]) - 1.0
        colour = PERIOD_COLOUR.get(kind, "#cccccc")
        ax.axvspan(h, h + 1.0, color=colour, alpha=0.08, linewidth=0)
        seen.setdefault(kind, Patch(facecolor=colour, alpha=0.25, label=f"{kind} period"))
    return [seen[k] for k in ("peak", "flat", "valley") if k in seen] + [
        v for k, v in seen.items() if k not in PERIOD_COLOUR]


def _hourly_step(ax: Axes, da: pd.DataFrame, col: str, **kw: object) -> None:
    d = da.sort_values("hour")
    step(ax, d["hour"].to_numpy(float) - 1.0, d[col].to_numpy(float), 1.0, **kw)


# --------------------------------------------------------------------------- 1. TOU design
def tou_prices_load(day_ahead: pd.DataFrame, currency: str = "USD") -> Figure:
    """DA TOU retail price and upstream price (steps, right axis) over the system load before and
    after demand response (left axis); the TOU period types are shaded."""
    da = day_ahead.sort_values("hour")
    fig = Figure(figsize=(10, 4.6), layout="constrained")
    ax = fig.add_subplot()
    spans = _period_spans(ax, da)
    _hourly_step(ax, da, "baseline_load_kw", color="#555555", linestyle="--", linewidth=1.4,
                 label="Load before DR (baseline)")
    _hourly_step(ax, da, "load_after_dr_kw", color="black", linewidth=1.8, label="Load after DR")
    ax.set_ylabel("System load (kW)")
    ax.set_xlabel("Hour of day (h)")
    hour_axis(ax)
    ax2 = ax.twinx()
    _hourly_step(ax2, da, "price", color="#d62728", linewidth=2.0, label="DA TOU price")
    _hourly_step(ax2, da, "upstream_price", color="#d62728", linestyle=":", linewidth=1.4, label="Upstream price")
    ax2.set_ylabel(f"Price ({currency}/kWh)")
    lo = float(np.nanmin(da[["price", "upstream_price"]].to_numpy(float)))
    hi = float(np.nanmax(da[["price", "upstream_price"]].to_numpy(float)))
    ax2.set_ylim(max(0.0, lo - 0.25 * (hi - lo + 1e-3)), hi + 0.25 * (hi - lo + 1e-3))
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    handles: list[Artist] = [*h1, *h2, *spans]
    labels: list[str] = [*l1, *l2, *(str(p.get_label()) for p in spans)]
    fig.legend(handles, labels, loc="outside lower center", ncols=4, frameon=False)
    ax.set_title("Day-ahead TOU design: prices and system load before / after demand response")
    return fig


# --------------------------------------------------------------------------- 2. rolling prices
def rolling_prices(prices: pd.DataFrame, day_ahead: pd.DataFrame, currency: str = "USD") -> Figure:
    """Final intraday rolling prices (15 min) against the DA TOU prices held on the 15-min grid and
    the upstream price; lower panel: the coalition's excess demand Z_k at the final prices."""
    roll = prices[prices["kind"] == "rolling"].sort_values("period")
    if roll.empty:
        raise ValueError("prices table has no 'rolling' rows")
    dap = prices[prices["kind"] == "day_ahead"].sort_values("period")
    fig = Figure(figsize=(10, 6.2), layout="constrained")
    ax, axz = fig.subplots(2, 1, sharex=True, height_ratios=[2.2, 1.0])
    t0 = _t0(roll["period"].to_numpy(int))
    step(ax, t0, roll["price"].to_numpy(float), DT_INTRADAY, color=SCHEME_COLOUR[SCHEMES[0]], linewidth=1.8,
          label="Rolling price (final, 15 min)")
    if len(dap):
        step(ax, dap["hour"].to_numpy(float), dap["price"].to_numpy(float), 1.0, color="black", linewidth=1.3,
              linestyle="--", label="DA TOU price")
    else:
        _hourly_step(ax, day_ahead, "price", color="black", linewidth=1.3, linestyle="--", label="DA TOU price")
    _hourly_step(ax, day_ahead, "upstream_price", color="#d62728", linestyle=":", linewidth=1.4,
                 label="Upstream price")
    ax.set_ylabel(f"Price ({currency}/kWh)")
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi + 0.22 * (hi - lo))  # head room for the legend above the curves
    ax.legend(loc="upper left", fontsize="small", frameon=False, ncols=3)
    ax.set_title("Intraday rolling prices (bisection, eqs. 32–34) vs day-ahead TOU prices")
    hour_axis(ax)
    z = roll["excess_demand_kw"].to_numpy(float)
    axz.bar(t0, np.nan_to_num(z), width=DT_INTRADAY, align="edge", color="#8c8c8c", linewidth=0,
            label="Excess demand Z_k at the final prices")
    axz.axhline(0.0, color="black", linewidth=0.8)
    axz.set_ylabel("Z_k (kW)")
    axz.set_xlabel("Hour of day (h)")
    axz.legend(loc="upper left", fontsize="small", frameon=False)
    hour_axis(axz)
    return fig


# --------------------------------------------------------------------------- 3. exchange
def cluster_exchange(ts: pd.DataFrame, scheme: str = "cooperative") -> Figure:
    """Per cluster: inter-cluster exchange of one scheme, net export p_out − p_in (> 0 = exports),
    with the gross p_out and −p_in."""
    w = cluster_frame(ts, ("p_in_kw", "p_out_kw"), schemes=[scheme])
    names = sorted({str(e) for e in w.index.get_level_values("entity")})
    fig = Figure(figsize=(10, 2.3 * len(names) + 1.2), layout="constrained")
    axes = fig.subplots(len(names), 1, sharex=True, sharey=True, squeeze=False)[:, 0]
    for ax, name in zip(axes, names, strict=True):
        c = w.xs((scheme, name), level=("scheme", "entity")).sort_index()
        t0 = _t0(c.index.to_numpy(int))
        net = (c["p_out_kw"] - c["p_in_kw"]).to_numpy(float)
        ax.bar(t0, net, width=DT_INTRADAY, align="edge", color="#9467bd", alpha=0.4, linewidth=0,
               label="Net export p_out − p_in")
        step(ax, t0, c["p_out_kw"].to_numpy(float), DT_INTRADAY, color="#2ca02c", linewidth=1.0, label="p_out")
        step(ax, t0, -c["p_in_kw"].to_numpy(float), DT_INTRADAY, color="#d62728", linewidth=1.0, label="−p_in")
        ax.axhline(0.0, color="black", linewidth=0.8)
        e_out = float(c["p_out_kw"].sum()) * DT_INTRADAY
        e_in = float(c["p_in_kw"].sum()) * DT_INTRADAY
        ax.set_ylabel(f"{name}\nPower (kW)")
        ax.set_title(f"{name}: exports {e_out:.0f} kWh, imports {e_in:.0f} kWh", loc="left", fontsize="medium")
        hour_axis(ax)
    axes[-1].set_xlabel("Hour of day (h)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=3, frameon=False)
    fig.suptitle(f"Inter-cluster exchange — {_label(scheme)} (positive = export)")
    return fig


# --------------------------------------------------------------------------- 4. storage
def storage_power(ts: pd.DataFrame, windows: Sequence[tuple[float, float]] = ((8.0, 10.0), (22.0, 24.0))) -> Figure:
    """Per scheme: total storage net power Σ_clusters (discharge − charge) over the day; upper
    panel the net power, lower panel the gross power (charge + discharge); the windows in which
    004 reports scheme 1's highest storage power are shaded."""
    w = cluster_frame(ts, ("ess_charge_kw", "ess_discharge_kw"))
    tot = w.groupby(level=["scheme", "period"]).sum()
    fig = Figure(figsize=(10, 6.2), layout="constrained")
    ax, axg = fig.subplots(2, 1, sharex=True)
    schemes = scheme_order(tot.index.get_level_values("scheme").unique())
    for i, s in enumerate(schemes):
        g = tot.xs(s, level="scheme").sort_index()
        t0 = _t0(g.index.to_numpy(int))
        style = {"color": _colour(s, i), "linewidth": 1.5 if s != "oracle" else 1.0,
                 "linestyle": "-" if s != "oracle" else "--"}
        step(ax, t0, (g["ess_discharge_kw"] - g["ess_charge_kw"]).to_numpy(float), DT_INTRADAY, label=_label(s),
              **style)
        step(axg, t0, (g["ess_discharge_kw"] + g["ess_charge_kw"]).to_numpy(float), DT_INTRADAY, **style)
    for a in (ax, axg):
        for lo, hi in windows:
            a.axvspan(lo, hi, color="#999999", alpha=0.15, linewidth=0)
        hour_axis(a)
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_ylabel("Net power (kW)\n← charge | discharge →")
    axg.set_ylabel("Gross power (kW)\ncharge + discharge")
    axg.set_xlabel("Hour of day (h)")
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Patch(facecolor="#999999", alpha=0.3))
    labels.append("004: S1 highest ESS power (08–10, 22–24 h)")
    fig.legend(handles, labels, loc="outside lower center", ncols=3, frameon=False)
    fig.suptitle("Storage power, all clusters")
    return fig


# --------------------------------------------------------------------------- 5. load curves
def load_curves(ts: pd.DataFrame) -> Figure:
    """System load (total_load_kw) and substation power (p_sub_kw) per scheme; the legend gives each
    curve's peak − valley, the markers its peak and valley."""
    fig = Figure(figsize=(10, 6.6), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True)
    for ax, var, title in ((axes[0], "total_load_kw", "System load"), (axes[1], "p_sub_kw", "Substation power")):
        wide = system_frame(ts, var)
        for i, s in enumerate(wide.columns):
            y = wide[s].to_numpy(float)
            t0 = _t0(wide.index.to_numpy(int))
            colour = _colour(s, i)
            pv = float(np.nanmax(y) - np.nanmin(y))
            step(ax, t0, y, DT_INTRADAY, color=colour, linewidth=1.5 if s != "oracle" else 1.0,
                  linestyle="-" if s != "oracle" else "--", label=f"{_label(s)} (peak−valley {pv:.0f} kW)")
            kmax, kmin = int(np.nanargmax(y)), int(np.nanargmin(y))
            ax.plot([t0[kmax] + DT_INTRADAY / 2], [y[kmax]], marker="^", color=colour, markersize=6)
            ax.plot([t0[kmin] + DT_INTRADAY / 2], [y[kmin]], marker="v", color=colour, markersize=6)
        ax.set_ylabel(f"{title} (kW)")
        ax.set_title(f"{title} ({var}); ▲ peak, ▼ valley", loc="left", fontsize="medium")
        ax.legend(loc="upper left", fontsize="small", frameon=False)
        hour_axis(ax)
    axes[-1].set_xlabel("Hour of day (h)")
    fig.suptitle("Load curves per scheme")
    return fig


# --------------------------------------------------------------------------- 6. curtailment
def curtailment(ts: pd.DataFrame) -> Figure:
    """Renewable curtailment per scheme: energy by cluster (stacked bars, kWh, with the curtailment
    rate) and the total curtailed power over the day (kW)."""
    w = cluster_frame(ts, ("curtailment_kw", "pv_available_kw", "wind_available_kw"))
    energy = w.groupby(level=["scheme", "entity"]).sum() * DT_INTRADAY
    schemes = scheme_order(energy.index.get_level_values("scheme").unique())
    names = sorted({str(e) for e in energy.index.get_level_values("entity")})
    fig = Figure(figsize=(12, 4.8), layout="constrained")
    axb, axt = fig.subplots(1, 2, width_ratios=[1.0, 1.7])
    x = np.arange(len(schemes))
    bottom = np.zeros(len(schemes))
    for j, name in enumerate(names):
        col = energy["curtailment_kw"]
        keys = zip(col.index.get_level_values("scheme"), col.index.get_level_values("entity"), strict=True)
        curt = {(str(a), str(b)): float(v) for (a, b), v in zip(keys, col.to_numpy(float), strict=True)}
        vals = np.array([curt.get((s, name), 0.0) for s in schemes])
        axb.bar(x, vals, bottom=bottom, color=CLUSTER_COLOUR[j % len(CLUSTER_COLOUR)], width=0.65, label=name)
        bottom += vals
    avail = np.array([float(np.sum(energy.xs(s, level="scheme")[["pv_available_kw", "wind_available_kw"]]
                                   .to_numpy(float))) for s in schemes])
    for xi_, tot, av in zip(x, bottom, avail, strict=True):
        rate = 100 * tot / av if av > 0 else float("nan")
        axb.annotate(f"{tot:.0f} kWh\n{rate:.1f} %", (xi_, tot), ha="center", va="bottom", fontsize="x-small",
                     xytext=(0, 2), textcoords="offset points")
    axb.set_xticks(x, [_label(s) for s in schemes], rotation=25, ha="right")
    axb.set_ylabel("Curtailed energy (kWh)")
    axb.set_title("Curtailment by cluster (rate = curtailed / available)", fontsize="medium")
    axb.margins(y=0.18)
    axb.grid(True, axis="y", alpha=0.3)
    axb.legend(title="Cluster", fontsize="small", frameon=False)
    per_t = w["curtailment_kw"].groupby(level=["scheme", "period"]).sum()
    for i, s in enumerate(schemes):
        g = per_t.xs(s, level="scheme").sort_index()
        step(axt, _t0(g.index.to_numpy(int)), g.to_numpy(float), DT_INTRADAY, color=_colour(s, i),
              linewidth=1.5 if s != "oracle" else 1.0, linestyle="-" if s != "oracle" else "--", label=_label(s))
    axt.set_xlabel("Hour of day (h)")
    axt.set_ylabel("Curtailed power, all clusters (kW)")
    axt.set_title("Curtailment over the day", fontsize="medium")
    axt.legend(loc="upper left", fontsize="small", frameon=False)
    hour_axis(axt)
    fig.suptitle("Renewable (PV + wind) curtailment per scheme")
    return fig


# --------------------------------------------------------------------------- 7. bisection
def bisection_convergence(prices: pd.DataFrame, xi: float = 0.01, paper_iteration: int | None = 16) -> Figure:
    """Per bisection iteration: the eq. 34 criterion max_k |Δπ_k| / π_k (log scale) with the ξ line,
    and max_k |Z_k| (kW); the first iteration meeting eq. 34 is marked."""
    tr = bisection_trace(prices)
    if tr.empty:
        raise ValueError("prices table has no 'bisection' rows")
    conv = converged_iteration(tr, xi)
    fig = Figure(figsize=(10, 6.0), layout="constrained")
    ax, axz = fig.subplots(2, 1, sharex=True)
    it = tr["iteration"].to_numpy(int)
    rel = tr["max_rel_change"].to_numpy(float)
    ax.semilogy(it, np.where(rel > 0, rel, np.nan), marker="o", color=SCHEME_COLOUR[SCHEMES[0]],
                label=r"$\max_k |\pi_{d+1,k} - \pi_{d,k}| / \pi_{d,k}$")
    ax.axhline(xi, color="#d62728", linestyle="--", linewidth=1.2, label=f"ξ = {xi:g}")
    ax.set_ylabel("Relative price change (–)")
    axz.plot(it, tr["max_abs_excess_kw"].to_numpy(float), marker="s", color="#555555", label=r"$\max_k |Z_k|$")
    axz.set_ylabel("max |Z_k| (kW)")
    axz.set_xlabel("Bisection iteration d")
    for a in (ax, axz):
        if conv is not None:
            a.axvline(conv, color="#2ca02c", linewidth=1.4, label=f"converged at d = {conv}")
        if paper_iteration is not None:
            a.axvline(paper_iteration, color="#999999", linestyle=":", linewidth=1.2,
                      label=f"004: converged at {paper_iteration}")
        a.grid(True, alpha=0.3)
        a.legend(loc="upper right", fontsize="small", frameon=False)
    last = max(int(it.max()), paper_iteration or 0)
    axz.set_xticks(range(1, last + 1) if last <= 30 else range(1, last + 1, max(1, last // 15)))
    fig.suptitle("Convergence of the rolling-price bisection (eq. 34)")
    return fig


# --------------------------------------------------------------------------- 8. voltages
def voltage_profile(ts: pd.DataFrame, scheme: str = "cooperative", v_min: float = 0.93,
                    v_max: float = 1.07) -> Figure:
    """Left: LinDistFlow and AC voltages along the feeder (bus 1..33) in the worst period of
    ``scheme``; right: V_min over the day per scheme (LinDistFlow solid, AC dotted); limits dashed."""
    k, _ = worst_voltage_period(ts, scheme)
    fig = Figure(figsize=(13, 4.8), layout="constrained")
    axp, axt = fig.subplots(1, 2, width_ratios=[1.0, 1.3])
    ldf = pd.Series(bus_frame(ts, scheme, "v_pu").loc[k])
    ac: pd.Series | None = None
    if ((ts["entity"] == "bus") & (ts["scheme"] == scheme) & (ts["variable"] == "v_ac_pu")).any():
        ac = pd.Series(bus_frame(ts, scheme, "v_ac_pu").loc[k])
    for j, (name, (a, b)) in enumerate(FEEDER_SEGMENTS):
        seg = ldf[(ldf.index >= a) & (ldf.index <= b)]
        axp.plot(seg.index, seg.to_numpy(float), marker="o", markersize=3.5, color="#1f77b4",
                 label="LinDistFlow" if j == 0 else None)
        if ac is not None:
            seg_ac = ac[(ac.index >= a) & (ac.index <= b)]
            axp.plot(seg_ac.index, seg_ac.to_numpy(float), marker="x", markersize=4, color="#d62728",
                     linestyle="--", label="AC power flow" if j == 0 else None)
        if j:
            axp.axvline(a - 0.5, color="#bbbbbb", linewidth=0.8)
        axp.text((a + b) / 2, 1.0, name, ha="center", va="bottom", fontsize="x-small", color="#555555",
                 transform=axp.get_xaxis_transform())
    hh, mm = divmod(round((k - 1) * DT_INTRADAY * 60), 60)
    axp.set_title(f"Voltage along the feeder — {_label(scheme)}, worst period {k} ({hh:02d}:{mm:02d})",
                  fontsize="medium", pad=14)
    axp.set_xlabel("Bus (paper numbering)")
    axp.set_ylabel("Voltage (p.u.)")
    axp.set_xticks([1, 5, 10, 15, 18, 22, 25, 29, 33])
    axp.set_xlim(0.3, 33.7)
    vmin_rows = ts[(ts["entity"] == "bus") & ts["variable"].isin(["v_pu", "v_ac_pu"])]
    vmin = vmin_rows.groupby(["scheme", "variable", "period"], observed=True)["value"].min()
    schemes = scheme_order({str(s) for s in vmin.index.get_level_values("scheme")})
    for i, s in enumerate(schemes):
        for var, style in (("v_pu", "-"), ("v_ac_pu", ":")):
            if (s, var) not in vmin.index.droplevel("period"):
                continue
            g = vmin.xs((s, var), level=("scheme", "variable")).sort_index()
            step(axt, _t0(g.index.to_numpy(int)), g.to_numpy(float), DT_INTRADAY, color=_colour(s, i),
                  linestyle=style, linewidth=1.4 if var == "v_pu" else 1.1)
    for a in (axp, axt):
        a.axhline(v_min, color="black", linestyle="--", linewidth=1.0)
        a.axhline(v_max, color="black", linestyle="--", linewidth=1.0)
        a.grid(True, alpha=0.3)
    axt.set_xlabel("Hour of day (h)")
    axt.set_ylabel("V_min over all buses (p.u.)")
    axt.set_title("Lowest voltage over the day", fontsize="medium")
    hour_axis(axt)
    handles = [Line2D([], [], color=_colour(s, i), linewidth=1.5) for i, s in enumerate(schemes)]
    labels = [_label(s) for s in schemes]
    handles += [Line2D([], [], color="black", linestyle="-"), Line2D([], [], color="black", linestyle=":"),
                Line2D([], [], color="black", linestyle="--")]
    labels += ["LinDistFlow", "AC power flow", f"limits {v_min:g} / {v_max:g} p.u."]
    axt.legend(handles, labels, loc="lower left", fontsize="x-small", frameon=False, ncols=2)
    axp.legend(loc="lower left", fontsize="small", frameon=False, title="laterals: 19–22, 23–25, 26–33",
               title_fontsize="x-small")
    fig.suptitle("Voltages: LinDistFlow vs AC power flow")
    return fig

"""Figures of the incentives study: deviation gain vs parameter with 95 % intervals, learning trajectories, NB-2
vs Shapley, core excess per day, leave dynamics.

Every function takes the study's tables (as written by :mod:`studies.incentives.run`) and returns a
:class:`matplotlib.figure.Figure`; nothing here does I/O.  Costs are in the scenario's currency per day; a
deviation's "change of own true cost" is negative when the deviation pays off for the player.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sim.analysis.stats import mean_ci
from sim.analysis.style import CLUSTER_COLOUR, PAPER_RC


def _colour(players: Sequence[str], p: str) -> str:
    return CLUSTER_COLOUR[list(players).index(p) % len(CLUSTER_COLOUR)]


def _errorbar(ax: object, x: np.ndarray, y: np.ndarray, lo: np.ndarray, hi: np.ndarray, **kw: object) -> None:
    """Points with their interval ``[lo, hi]`` (no bar where the interval is undefined)."""
    err = np.vstack([np.where(np.isfinite(lo), y - lo, 0.0), np.where(np.isfinite(hi), hi - y, 0.0)])
    style: dict[str, object] = {"capsize": 3, "marker": "o", "markersize": 4, **kw}
    ax.errorbar(x, y, yerr=err, **style)  # type: ignore[attr-defined]


def deviation_gain(dev: pd.DataFrame, players: Sequence[str], currency: str) -> Figure:
    """Change of the deviating player's true cost vs the deviation's parameter, mean and 95 % interval over the
    paired days: misreport m (solid; under ``verify_standalone`` dashed; m = 0 is the truthful baseline, change
    0 by definition), withhold f, and rule (bars)."""
    ok = dev[dev["available"].astype(bool)]
    if ok.empty:
        raise ValueError("no available deviation to draw")
    with mpl.rc_context(PAPER_RC):  # type: ignore[arg-type]
        fig = Figure(figsize=(10.5, 3.4))
        axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.2, 1.0, 0.7]})
        for ax, fam, xlabel in ((axes[0], "misreport", "misreport m (reported Ĉ⁰ = C⁰ + m|C⁰|)"),
                                (axes[1], "withhold", "withheld share f of storage and exchange")):
            for p in players:
                for verify in ((False, True) if fam == "misreport" else (False,)):
                    name = "misreport+verify" if verify else fam
                    d = ok[(ok["player"] == p) & (ok["family"] == name)].sort_values("value")
                    if d.empty:
                        continue
                    x = np.append(d["value"].to_numpy(float), 0.0)
                    y = np.append(d["own_cost_change"].to_numpy(float), 0.0)
                    lo = np.append(d["own_cost_change_ci_low"].to_numpy(float), np.nan)
                    hi = np.append(d["own_cost_change_ci_high"].to_numpy(float), np.nan)
                    o = np.argsort(x)
                    _errorbar(ax, x[o], y[o], lo[o], hi[o], color=_colour(players, p),
                              linestyle="--" if verify else "-", alpha=0.6 if verify else 1.0,
                              label=f"{p}" + (" (verify_standalone)" if verify else ""))
            ax.axhline(0.0, color="0.4", linewidth=0.8)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(f"change of own true cost ({currency}/day)")
            ax.grid(True, axis="y", alpha=0.3)
        axes[0].set_title("(a) misreporting the disagreement point")
        axes[1].set_title("(b) withholding flexibility")
        axes[0].legend(frameon=False, fontsize=7, loc="lower right")
        rule = ok[ok["family"] == "rule"]
        ax = axes[2]
        xs = np.arange(len(rule))
        if len(rule):
            y = rule["own_cost_change"].to_numpy(float)
            lo, hi = rule["own_cost_change_ci_low"].to_numpy(float), rule["own_cost_change_ci_high"].to_numpy(float)
            ax.bar(xs, y, color=[_colour(players, p) for p in rule["player"]], width=0.6)
            _errorbar(ax, xs, y, lo, hi, color="k", linestyle="none")
            ax.set_xticks(xs, list(rule["player"]))
        else:
            ax.text(0.5, 0.5, "rule: not available\non this system", ha="center", va="center",
                    transform=ax.transAxes, fontsize=8.5)
            ax.set_xticks([])
        ax.axhline(0.0, color="0.4", linewidth=0.8)
        ax.set_title("(c) rule-based operation")
        ax.set_ylabel(f"change of own true cost ({currency}/day)")
        fig.tight_layout()
    return fig


def learning(learn: pd.DataFrame, grid: Sequence[float], currency: str) -> Figure:
    """Per learner (rows): its EXP3 probability of each arm m by day, without and with ``verify_standalone``, and
    its cumulative true gain against the truthful run on the same days."""
    if learn.empty:
        raise ValueError("no learning run to draw")
    learners = list(dict.fromkeys(learn["learner"]))
    pcols = [f"p_m{g:+g}" for g in grid]
    cmap = mpl.colormaps["coolwarm"]
    with mpl.rc_context(PAPER_RC):  # type: ignore[arg-type]
        fig = Figure(figsize=(10.5, 2.6 * len(learners) + 0.4))
        axes = np.atleast_2d(fig.subplots(len(learners), 3, squeeze=False))
        for i, who in enumerate(learners):
            for j, verify in enumerate((False, True)):
                ax = axes[i, j]
                d = learn[(learn["learner"] == who) & (learn["verify_standalone"].astype(bool) == verify)]
                d = d.sort_values("day")
                for k, (g, c) in enumerate(zip(grid, pcols, strict=True)):
                    ax.plot(d["day"], d[c], color=cmap(k / max(1, len(grid) - 1)), marker=".", label=f"m = {g:g}")
                chosen = d["chosen_m"].to_numpy(float)
                ax.scatter(d["day"], np.full(len(d), 1.04), c=[cmap(list(grid).index(m) / max(1, len(grid) - 1))
                                                               if m in grid else "k" for m in chosen],
                           marker="v", s=14, clip_on=False)
                ax.set_ylim(0, 1.08)
                ax.set_xlabel("day")
                ax.set_ylabel("probability of arm")
                ax.set_title(f"{who} learns m" + (" — verify_standalone" if verify else "") + " (▼ chosen)",
                             fontsize=9)
                ax.grid(True, axis="y", alpha=0.3)
                if i == 0 and j == 0:
                    ax.legend(frameon=False, fontsize=7, ncol=2)
            ax = axes[i, 2]
            for verify, style, colour in ((False, "-", "k"), (True, "--", "#1f77b4")):
                d = learn[(learn["learner"] == who) & (learn["verify_standalone"].astype(bool) == verify)]
                d = d.sort_values("day")
                ax.plot(d["day"], d["gain_vs_truthful"].cumsum(), linestyle=style, marker=".", color=colour,
                        label="verify_standalone" if verify else "reports trusted")
            ax.axhline(0.0, color="0.5", linewidth=0.8)
            ax.set_xlabel("day")
            ax.set_ylabel(f"cumulative gain vs truthful ({currency})")
            ax.set_title(f"{who}: what learning earned", fontsize=9)
            ax.legend(frameon=False, fontsize=7)
        for ax in axes.ravel():
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        fig.tight_layout()
    return fig


def nb2_vs_shapley(audit: pd.DataFrame, players: Sequence[str], currency: str) -> Figure:
    """Mean true gain per player under NB-2 (contribution weights) and its Shapley value of the true savings game,
    with 95 % intervals over the baseline's days."""
    if audit.empty:
        raise ValueError("no audited day to draw")
    with mpl.rc_context(PAPER_RC):  # type: ignore[arg-type]
        fig = Figure(figsize=(5.6, 3.4))
        ax = fig.subplots()
        xs = np.arange(len(players))
        for k, (col, label, hatch) in enumerate((("nb2_gain", "NB-2 (contribution weights)", ""),
                                                 ("shapley_gain", "Shapley value", "//"))):
            stats = [mean_ci(audit.loc[audit["player"] == p, col].to_numpy(float)) for p in players]
            y = np.array([s[0] for s in stats])
            lo, hi = np.array([s[1] for s in stats]), np.array([s[2] for s in stats])
            x = xs + (k - 0.5) * 0.38
            ax.bar(x, y, width=0.36, color=[_colour(players, p) for p in players], hatch=hatch, edgecolor="k",
                   linewidth=0.6, label=label, alpha=1.0 if k == 0 else 0.55)
            _errorbar(ax, x, y, lo, hi, color="k", linestyle="none", markersize=0)
        ax.set_xticks(xs, list(players))
        ax.axhline(0.0, color="0.4", linewidth=0.8)
        ax.set_ylabel(f"mean true gain ({currency}/day)")
        ax.set_title("NB-2 vs Shapley value (truthful baseline)")
        ax.legend(frameon=False)
        fig.tight_layout()
    return fig


def core_excess(audit: pd.DataFrame, currency: str) -> Figure:
    """The largest core excess ``max_T [Σ_{i∈T} C^fin_i − v(T)]`` per day of the baseline (> 0: the coalition
    ``T`` named above the bar blocks the allocation; ≤ 0: in the core)."""
    if audit.empty:
        raise ValueError("no audited day to draw")
    d = audit.drop_duplicates("day").sort_values("day")
    with mpl.rc_context(PAPER_RC):  # type: ignore[arg-type]
        fig = Figure(figsize=(7.0, 3.2))
        ax = fig.subplots()
        y = d["core_max_excess"].to_numpy(float)
        inside = d["in_core"].to_numpy(float) > 0.5
        ax.bar(d["day"], y, color=np.where(inside, "#2ca02c", "#d62728"), width=0.7)
        for x, v, t, ins in zip(d["day"], y, d["blocking_coalition"].fillna(""), inside, strict=True):
            if not ins and t:
                ax.annotate(str(t), (x, v), textcoords="offset points", xytext=(0, 2), ha="center", fontsize=7,
                            rotation=90 if len(d) > 10 else 0)
        ax.axhline(0.0, color="0.3", linewidth=0.8)
        ax.margins(y=0.18)  # room for the coalition labels above the bars
        ax.set_xlabel("day")
        ax.set_ylabel(f"largest core excess ({currency})")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"Core test per day: in the core on {int(inside.sum())} of {len(d)} days (green)")
        ax.grid(True, axis="y", alpha=0.3)
        fig.tight_layout()
    return fig


def leave_dynamics(leave: pd.DataFrame, players: Sequence[str], currency: str) -> Figure:
    """Per leave variant: which player is in the coalition on which day (filled: in, empty: out), and the day's
    system cost change against the truthful run."""
    if leave.empty:
        raise ValueError("no leave run to draw")
    variants = list(dict.fromkeys(leave["variant"]))
    with mpl.rc_context(PAPER_RC):  # type: ignore[arg-type]
        fig = Figure(figsize=(10.0, 2.8))
        axes = fig.subplots(1, 2)
        ax = axes[0]
        rows = [(v, p) for v in variants for p in players]
        for r, (v, p) in enumerate(rows):
            d = leave[(leave["variant"] == v) & (leave["player"] == p)].sort_values("day")
            inside = d["joined"].to_numpy(float) > 0.5
            ax.scatter(d["day"][inside], np.full(int(inside.sum()), r), marker="s", color=_colour(players, p), s=30)
            ax.scatter(d["day"][~inside], np.full(int((~inside).sum()), r), marker="s", facecolors="none",
                       edgecolors=_colour(players, p), s=30)
        ax.set_yticks(range(len(rows)), [f"{v}: {p}" for v, p in rows])
        ax.set_xlabel("day")
        ax.set_title("in the coalition (■) or out (□)")
        ax = axes[1]
        for v, style in zip(variants, ("-", "--", ":"), strict=False):
            d = leave[leave["variant"] == v].drop_duplicates("day").sort_values("day")
            ax.plot(d["day"], d["system_cost_change"], linestyle=style, marker=".", color="k", label=v)
        ax.axhline(0.0, color="0.5", linewidth=0.8)
        ax.set_xlabel("day")
        ax.set_ylabel(f"system cost − truthful ({currency}/day)")
        ax.set_title("cost of the instability")
        for a in axes:
            a.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(frameon=False)
        fig.tight_layout()
    return fig

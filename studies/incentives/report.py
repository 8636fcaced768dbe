"""Figures and ``report.md`` of the incentives study, from the files it writes (``--report-only`` redraws them).

The report answers the questions of issue 16 in words with numbers, each computed here from the tables:

1. Is NB-2 with contribution weights manipulable by misreporting the disagreement point?  Yes for a player when
   some misreport lowers its true final cost with a 95 % interval entirely below 0 (conclusive); "not shown" when
   no misreport has a negative mean change, "not conclusive" otherwise.  How much: the best lie's mean change per
   day, in currency and as a percentage of the liar's truthful gain, and on how many days it paid; the measured
   changes are set against SPEC §8's closed form B-1.
2. Does a learner find the lie?  The EXP3 probability on the lies (m < 0) on the last day, the share of the
   second half of the days on which it chose one, and its gain against the truthful run.
3. Does ``market.verify_standalone`` remove it?  The largest change of a misreporting player's true cost under
   verification (0 within the profit tolerance: removed), and what the learner earns under it.
4. How often is the allocation in the core?  The share of audited days with no blocking coalition, the largest
   excess, the blocking coalitions, and NB-2 against the Shapley value per player.
5. What does leaving cost?  Who stays out on which days, and the paired change of the system cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.stats import mean_ci
from studies.common.io import read_study_files
from studies.common.markdown import escaped_table, number_table
from studies.common.report import draw_figures, other_figures, render_study, write_report_md
from studies.incentives import plots
from studies.incentives.tables import AUDIT_COLUMNS, DEVIATION_COLUMNS, LEARNING_COLUMNS_HEAD, LEAVE_COLUMNS

FILES: dict[str, tuple[str, ...]] = {
    "deviations.csv": DEVIATION_COLUMNS,
    "audit.csv": AUDIT_COLUMNS,
    "learning.csv": LEARNING_COLUMNS_HEAD,
    "leave.csv": LEAVE_COLUMNS,
    "runs.csv": ("point", "role", "player", "status", "message", "days", "wall_s", "solves"),
    "study.json": (),
}


@dataclass
class IncentivesTables:
    """The study's files, read back."""

    deviations: pd.DataFrame
    audit: pd.DataFrame
    learning: pd.DataFrame
    leave: pd.DataFrame
    runs: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def currency(self) -> str:
        return str(self.meta.get("currency", "USD"))

    @property
    def players(self) -> list[str]:
        return [str(p) for p in self.meta.get("players", [])]

    @property
    def grid(self) -> list[float]:
        return [float(g) for g in self.meta.get("learning", {}).get("grid", [])]


def load_tables(out: str | Path) -> IncentivesTables:
    """The tables of a finished study in ``out`` (errors name the missing file or column)."""
    frames, meta = read_study_files(out, FILES, "incentives")
    for k in ("players", "currency", "days", "learning"):
        if k not in meta:
            raise ValueError(f"{Path(out) / 'study.json'}: missing key {k!r}")
    dev = frames["deviations.csv"]
    dev["available"] = dev["available"].astype(str).str.lower().isin(("true", "1"))
    dev["note"] = dev["note"].fillna("")
    audit = frames["audit.csv"]
    audit["blocking_coalition"] = audit["blocking_coalition"].fillna("")
    return IncentivesTables(dev, audit, frames["learning.csv"], frames["leave.csv"], frames["runs.csv"], meta)


def write_figures(t: IncentivesTables, folder: str | Path) -> dict[str, Path]:
    """``folder/*.png`` of every figure whose data exist."""
    makers = {
        "deviation_gain": lambda: plots.deviation_gain(t.deviations, t.players, t.currency),
        "learning": lambda: plots.learning(t.learning, t.grid, t.currency),
        "nb2_vs_shapley": lambda: plots.nb2_vs_shapley(t.audit, t.players, t.currency),
        "core_excess": lambda: plots.core_excess(t.audit, t.currency),
        "leave": lambda: plots.leave_dynamics(t.leave, t.players, t.currency),
    }
    return draw_figures(makers, folder)


# ---------------------------------------------------------------------------------------------- findings
def _f(v: float, digits: int = 2, signed: bool = False) -> str:
    if not math.isfinite(v):
        return "n/a"
    return f"{v:+,.{digits}f}" if signed else f"{v:,.{digits}f}"


def _ci(lo: float, hi: float, digits: int = 2) -> str:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "no interval (fewer than 2 days)"
    return f"95 % CI [{_f(lo, digits, True)}, {_f(hi, digits, True)}]"


def manipulability(t: IncentivesTables) -> list[str]:
    """Finding 1: per player its most profitable misreport (reports trusted) with numbers, and B-1."""
    cur = t.currency
    mis = t.deviations[(t.deviations["family"] == "misreport") & t.deviations["available"]]
    if mis.empty:
        notes = t.deviations.loc[t.deviations["family"] == "misreport", "note"]
        why = notes.iloc[0] if len(notes) else "no misreport run in the grid"
        return [f"**Not measured**: {why}."]
    lines: list[str] = []
    conclusive = []
    for p in t.players:
        d = mis[mis["player"] == p]
        if d.empty:
            continue
        best = d.loc[d["own_cost_change"].astype(float).idxmin()]
        m, lo, hi = float(best["own_cost_change"]), float(best["own_cost_change_ci_low"]), \
            float(best["own_cost_change_ci_high"])
        n, k = int(best["n_days"]), int(best["profitable_days"])
        if m < 0 and math.isfinite(hi) and hi < 0:
            conclusive.append(p)
            verdict = "**manipulable**"
        elif m < 0:
            verdict = "**lie pays on average, not conclusive**"
        else:
            verdict = "**no profitable lie on the grid**"
        pct = float(best["gain_change_pct_of_truthful_gain"])
        rejected = int(best["days_all_standalone"])
        lines.append(
            f"- {p}: {verdict} — best report m = {float(best['value']):g} changes its true cost by "
            f"{_f(m, 2, True)} {cur}/day ({_ci(lo, hi)}), i.e. its gain by {_f(pct, 1, True)} % of its truthful gain "
            f"of {_f(float(best['truthful_gain']))} {cur}/day; profitable on {k} of {n} days; the other players' "
            f"costs change by {_f(float(best['others_cost_change']), 2, True)} {cur}/day and the system cost by "
            f"{_f(float(best['system_cost_change']), 2, True)} {cur}/day"
            + (f"; on {rejected} day(s) no player gained (the reported surplus was negative: NB-2 rejected the "
               "coalition)" if rejected else "") + ".")
        worst = d[d["days_all_standalone"] > 0]
        if len(worst):
            lies = ", ".join(f"m = {float(v):g} ({int(x)} of {int(nn)} days)" for v, x, nn in
                             zip(worst["value"], worst["days_all_standalone"], worst["n_days"], strict=True))
            lines.append(f"  Lies that broke the coalition: {lies}.")
    gap = mis["b1_max_abs_error"].astype(float)
    b1 = (f"The closed form B-1 of SPEC §8 (change = (1 − w) m |C⁰| while the reported surplus stays ≥ 0, else the "
          f"liar loses its gain) matches every measured day within {_f(float(np.nanmax(gap)), 4)} {cur}."
          if np.isfinite(gap).any() else "B-1 could not be evaluated (no day with a positive baseline surplus).")
    head = (f"**Yes: NB-2 with contribution weights is manipulable by misreporting the disagreement point** "
            f"({', '.join(conclusive)}: the 95 % interval of the best lie's change of the liar's true cost lies "
            "below 0)."
            if conclusive else "**Manipulation by misreporting is not shown conclusively on these days.**")
    return [head, "", *lines, "", b1]


def _verify_lines(t: IncentivesTables) -> list[str]:
    cur = t.currency
    ver = t.deviations[(t.deviations["family"] == "misreport+verify") & t.deviations["available"]]
    tol = float(t.meta.get("tolerance", {}).get("profit_abs", 0.01))
    if ver.empty:
        return ["Not measured (no misreport under verify_standalone ran)."]
    worst = ver[["own_cost_change", "own_cost_change_ci_low", "own_cost_change_ci_high"]].abs().max().max()
    k = int(ver["profitable_days"].sum())
    n = int(ver["n_days"].sum())
    removed = worst <= tol and k == 0
    learn = t.learning[t.learning["verify_standalone"].astype(str).str.lower().isin(("true", "1"))]
    extra = ""
    if len(learn):
        m, lo, hi, _ = mean_ci(learn["gain_vs_truthful"].to_numpy(float))
        extra = (f" A learner under verification earns {_f(m, 2, True)} {cur}/day against the truthful run "
                 f"({_ci(lo, hi)}).")
    head = "**Yes: verify_standalone removes the lever.**" if removed else \
        "**No: misreporting still moves the liar's cost under verify_standalone.**"
    return [f"{head} Over {len(ver)} misreport runs under verification the largest |mean or interval bound| of the "
            f"liar's cost change is {_f(float(worst), 4)} {cur}/day, and the lie paid on {k} of {n} run-days "
            f"(tolerance {tol:g} {cur}).{extra}"]


def learning_lines(t: IncentivesTables) -> list[str]:
    """Finding 2: what each learner learned, without and with verification."""
    cur = t.currency
    if t.learning.empty:
        return ["No learning run finished."]
    grid = t.grid
    pcols = [f"p_m{g:+g}" for g in grid]
    lies = [c for g, c in zip(grid, pcols, strict=True) if g < 0]
    out = []
    for (who, verify), d in t.learning.groupby(["learner", "verify_standalone"], sort=False):
        d = d.sort_values("day")
        last = d.iloc[-1]
        p_lie = float(sum(float(last[c]) for c in lies))
        top = grid[int(np.argmax([float(last[c]) for c in pcols]))]
        half = d[d["day"] > d["day"].max() / 2]
        share = float((half["chosen_m"].astype(float) < 0).mean()) if len(half) else math.nan
        m, lo, hi, n = mean_ci(d["gain_vs_truthful"].to_numpy(float))
        best = t.deviations[(t.deviations["player"] == who) & (t.deviations["family"] == "misreport")
                            & t.deviations["available"]]
        ranked = best.sort_values("own_cost_change")
        best_m = (float(ranked["value"].astype(float).iloc[0])
                  if len(ranked) and float(ranked["own_cost_change"].astype(float).iloc[0]) < 0 else 0.0)
        tag = "verify_standalone" if str(verify).lower() in ("true", "1") else "reports trusted"
        out.append(f"- {who} ({tag}): on the last day P(lie, m < 0) = {p_lie:.2f}, most likely arm m = {top:g} "
                   f"(the best fixed report on the grid was m = {best_m:g}); it lied on {_f(100 * share, 0)} % of "
                   f"the second half's days; its true gain against the truthful run: {_f(m, 2, True)} {cur}/day "
                   f"({_ci(lo, hi)}, {n} days).")
    return out


def core_lines(t: IncentivesTables) -> list[str]:
    """Finding 4: core membership, excess, blocking coalitions; NB-2 vs Shapley."""
    cur = t.currency
    a = t.audit
    if a.empty:
        return ["No audited day."]
    d = a.drop_duplicates("day")
    n = len(d)
    k = int((d["in_core"].astype(float) > 0.5).sum())
    blocking = d.loc[d["in_core"].astype(float) < 0.5, "blocking_coalition"].value_counts()
    blk = ", ".join(f"{c} on {int(x)} day(s)" for c, x in blocking.items()) or "none"
    ex = d["core_max_excess"].astype(float)
    lines = [f"**The NB-2 allocation is in the core on {k} of {n} days ({100 * k / n:.0f} %).** Largest excess per "
             f"day: mean {_f(float(ex.mean()), 2, True)} {cur}, maximum {_f(float(ex.max()), 2, True)} {cur}; "
             f"blocking coalitions: {blk}. A positive excess of T means the members of T pay more together under "
             "NB-2 than they would cost as a coalition of their own."]
    for p in t.players:
        x = a[a["player"] == p]
        m, lo, hi, _ = mean_ci(x["nb2_minus_shapley"].to_numpy(float))
        nb2, sh = _f(float(x["nb2_gain"].mean())), _f(float(x["shapley_gain"].mean()))
        lines.append(f"- {p}: NB-2 gain {nb2} vs Shapley {sh} {cur}/day; NB-2 − Shapley {_f(m, 2, True)} {cur}/day "
                     f"({_ci(lo, hi)}).")
    return lines


def leave_lines(t: IncentivesTables) -> list[str]:
    """Finding 5: who left when, and the system cost of it."""
    cur = t.currency
    lv = t.leave
    setting = t.meta.get("leave", {})
    if lv.empty:
        return ["No leave run finished."]
    liar = setting.get("liar")
    out = [("Setting: " + (f"{liar} misreports m = {setting.get('liar_m'):g} (the most profitable lie of the "
                           "deviation table); " if liar else "no lie paid, so nobody lies; ")
            + f"the others use leave with window w = {setting.get('window_days')} days, threshold g = "
            f"{setting.get('threshold_fraction')} × their truthful mean gain ("
            + ", ".join(f"{p}: {_f(float(g))} {cur}/day" for p, g in setting.get("thresholds", {}).items())
            + f") and cool-off c = {setting.get('cooloff_days')} days. Variant `leave` is the same rule with "
            "the liar truthful (the control).")]
    for v, d in lv.groupby("variant", sort=False):
        outs = []
        for p in t.players:
            days = d.loc[(d["player"] == p) & (d["joined"].astype(float) < 0.5), "day"].astype(int).tolist()
            if days:
                outs.append(f"{p} out on day(s) {', '.join(map(str, days))}")
        s = d.drop_duplicates("day")["system_cost_change"].to_numpy(float)
        m, lo, hi, n = mean_ci(s)
        out.append(f"- `{v}`: " + ("; ".join(outs) if outs else "nobody left") + f". System cost vs truthful: "
                   f"{_f(m, 2, True)} {cur}/day ({_ci(lo, hi)}, {n} days; {_f(float(np.nansum(s)), 0, True)} {cur} "
                   "in total).")
    return out


def _deviation_table(t: IncentivesTables) -> str:
    d = t.deviations.copy()
    show = pd.DataFrame({
        "player": d["player"], "deviation": d["deviation"],
        "days": d["n_days"].astype(int),
        f"own cost Δ ({t.currency}/day)": d["own_cost_change"].astype(float),
        "95 % CI": [_ci(lo, hi).replace("95 % CI ", "") if ok else "—" for lo, hi, ok in
                    zip(d["own_cost_change_ci_low"].astype(float), d["own_cost_change_ci_high"].astype(float),
                        d["available"], strict=True)],
        "gain Δ (% of truthful)": d["gain_change_pct_of_truthful_gain"].astype(float),
        f"system cost Δ ({t.currency}/day)": d["system_cost_change"].astype(float),
        "profitable days": [f"{int(k)} of {int(n)}" if ok else "—" for k, n, ok in
                            zip(d["profitable_days"].fillna(0), d["n_days"], d["available"], strict=True)],
        f"B-1 Δ ({t.currency}/day)": d["b1_predicted_change"].astype(float),
        "note": [str(x)[:140] for x in d["note"]],
    })
    return number_table(show, {"gain Δ (% of truthful)": 1})


def _timing_lines(t: IncentivesTables) -> list[str]:
    tm = t.meta.get("timings", {})
    if not tm:
        return []
    spd = tm.get("solves_per_day")
    bspd = tm.get("baseline_solves_per_day")
    return [f"Wall time {tm.get('total_s', math.nan):.0f} s on {t.meta.get('workers')} worker(s) "
            f"({tm.get('runs')} runs, {tm.get('simulated_days')} simulated days, "
            f"{tm.get('run_wall_s', math.nan) / max(1, tm.get('simulated_days') or 1):.2f} s of run time per day); "
            f"{tm.get('solves')} HiGHS solves, {spd:.1f} per simulated day "
            f"({bspd:.1f} per audited baseline day)." if spd is not None and bspd is not None else ""]


def write_report(t: IncentivesTables, out: str | Path, figs: dict[str, Path]) -> Path:
    """Write ``out/report.md``."""
    meta = t.meta
    cur = t.currency

    def fig(name: str, caption: str) -> list[str]:
        return [f"![{caption}](figures/{figs[name].name})\n"] if name in figs else []

    unavailable = t.runs[t.runs["status"] != "ok"]
    lines = [
        f"# Incentives study — {meta.get('system')} ({meta.get('scenario')})\n",
        f"{meta.get('days')} days from seed {meta.get('seed')}, the {meta.get('mode')} mode with the "
        f"{meta.get('replay')} replay; players: {', '.join(t.players)}. Every run sees the same days (common random "
        "numbers) and differs from the truthful baseline only in one player's behaviour, so every change below is "
        "a paired per-day difference (deviation − truthful) with its two-sided 95 % Student-t interval over the "
        f"days. Costs are true costs in {cur} (a player's final cost is its own cost in the executed plan plus its "
        "NB-2 payment; NB-2 itself runs on what players report)."
        + (" *Quick run (CI size): few days and a reduced grid; the intervals are wide.*" if meta.get("quick") else "")
        + "\n",
        "## 1. Is NB-2 manipulable by misreporting the disagreement point?\n",
        *manipulability(t), "",
        *fig("deviation_gain", "Change of the deviating player's true cost vs the deviation"),
        "## 2. Does a learner find the lie?\n",
        f"Each learner picks m ∈ {{{', '.join(f'{g:g}' for g in t.grid)}}} every day by EXP3 (η = "
        f"{meta['learning'].get('eta')}, γ = {meta['learning'].get('gamma')}, reward = its true gain / the day's "
        "surplus), one learner at a time, the others truthful.\n",
        *learning_lines(t), "",
        *fig("learning", "Learning trajectories"),
        "## 3. Does verify_standalone remove it?\n",
        *_verify_lines(t), "",
        "## 4. How often is the allocation in the core?\n",
        *core_lines(t), "",
        *fig("nb2_vs_shapley", "NB-2 vs Shapley"),
        *fig("core_excess", "Largest core excess per day"),
        "## 5. Leaving the coalition\n",
        *leave_lines(t), "",
        *fig("leave", "Leave dynamics"),
        "## The unilateral-deviation table\n",
        f"Own cost Δ < 0: the deviation pays for the player. A day counts as profitable when its cost is lower by "
        f"more than {meta.get('tolerance', {}).get('profit_abs', 0.01):g} {cur} + "
        f"{meta.get('tolerance', {}).get('profit_rel', 1e-6):g} × its truthful cost. B-1: the closed-form "
        "prediction of SPEC §8 for a misreport (0 under verify_standalone).\n",
        _deviation_table(t) + "\n",
    ]
    if len(unavailable):
        lines += ["### Deviations the system refused\n",
                  escaped_table(unavailable[["point", "status", "message"]].fillna("")) + "\n"]
    lines += ["## Runs and timings\n", *_timing_lines(t), "",
              "Every run's own files (manifest.json, kpis.csv, per-agent records) are under `runs/<point>/`; "
              "`runs.csv` lists them with their status, days, wall seconds and solver calls.\n"]
    lines += other_figures(lines, figs)
    return write_report_md(lines, out)


def render(out: str | Path) -> tuple[dict[str, Path], Path]:
    """Read the finished study in ``out``, draw ``out/figures/*.png`` and write ``out/report.md``."""
    return render_study(out, load_tables, write_figures, write_report)


__all__ = ["IncentivesTables", "load_tables", "render", "write_figures", "write_report"]

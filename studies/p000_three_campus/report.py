"""Figures and ``report.md`` of the campus study, side by side with paper 000 (SPEC §4.11).

Every verdict is computed from the study's own tables; where a trend of the paper does not hold,
the report shows the diagnostics that explain why (binding capacities, where the spread of the
scenario costs comes from, where curtailment happens).  Nothing is tuned to match the paper.

API: :func:`write_figures`, :func:`verdicts`, :func:`write_report` of a :class:`~.tables.StudyResult` (the study
passes the one in memory); :func:`render` reads a finished study back (:func:`~.tables.load_study`) and does all of
them (``--report-only``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from studies.common.markdown import markdown_table
from studies.common.report import draw_figures, render_study, write_report_md
from studies.common.verdict import Verdict, status, verdict_bullets
from studies.p000_three_campus import plots
from studies.p000_three_campus.tables import StudyResult, load_study

log = logging.getLogger(__name__)

# SPEC §4.11 / §7 rows 4-13: paper 000's reported numbers (its Table 1 parameters are missing)
PAPER = {
    "objective": {"proposed": 4478.88, "no_p2p": 4725.57, "no_dr": 5030.29, "no_ess": 4717.1},
    "grid_purchase_kwh": {"proposed": 2411.80, "no_p2p": 4289.26},
    "scenario_cost_std": {"proposed": 81.98, "no_dr": 189.19},
    "mean_deviation_cost": {"proposed": 28.99, "no_ess": 78.10},
    "renewable_utilisation": {"proposed": 0.8276},
}
PAPER_REDUCTION = {"no_p2p": 5.22, "no_dr": 10.96, "no_ess": 5.05}
PAPER_EPS = {0.05: (3852.13, 1736.42, 0.9071), 0.10: (4478.88, 2411.80, 0.8276), 0.20: (5893.91, 4053.47, 0.6333)}
PAPER_STRESS = {"p2p": "P2P exchange 2126.46 -> 1062.45 kWh, grid purchase 2502.03 -> 3369.24 kWh (75 % -> 25 %)",
                "ess": "ESS throughput 163.86 -> 48.88 kWh, objective 4518.81 -> 4609.42 (mildest -> strongest)"}
REL = 1e-6


def write_figures(res: StudyResult, folder: Path) -> dict[str, Path]:
    """Render the study's figures into ``folder``; return name -> path (a figure that fails raises)."""
    cur = str(res.meta.get("currency", "CNY"))
    ts = res.timeseries
    worst = _worst_scenario(res.scenario_costs, "proposed")
    makers: dict[str, Callable[[], Figure]] = {}
    for case in ("proposed", "no_p2p", "no_dr", "no_ess"):
        if case in set(res.cases["case"]):
            makers[f"power_balance_{case}"] = functools.partial(plots.power_balance_grid, ts, case, scenario=worst)
    makers["net_external_energy_proposed"] = lambda: plots.net_external_energy_bars(ts, "proposed")
    makers["dr_shift_proposed"] = lambda: plots.dr_shift(ts, "proposed")
    makers["p2p_flows_proposed"] = lambda: plots.p2p_flows(ts, "proposed")
    paper_cases = res.scenario_costs[res.scenario_costs["case"].isin(res.cases["case"])]
    makers["scenario_costs"] = lambda: plots.scenario_cost_distribution(paper_cases, currency=cur)
    makers["cases"] = lambda: plots.case_comparison_bars(res.cases, currency=cur)
    if len(res.sensitivity):
        makers["sensitivity_epsilon"] = lambda: plots.sensitivity_trends(res.sensitivity, currency=cur)
    if len(res.stress):
        base = res.cases[res.cases["case"] == "proposed"].assign(test="base", factor=1.0)
        stress = pd.concat([base, res.stress], ignore_index=True)
        makers["stress"] = lambda: plots.stress_trends(stress, currency=cur)
    return draw_figures(makers, folder, skip=())


def _worst_scenario(scen: pd.DataFrame, case: str) -> int:
    sub = scen[scen["case"] == case]
    return int(sub["scenario"].to_numpy()[np.argmax(sub["cost"].to_numpy())]) if len(sub) else 1


def _val(df: pd.DataFrame, case: str, col: str) -> float:
    return float(df.loc[df["case"] == case, col].iloc[0])


def _monotone(values: list[float], increasing: bool) -> bool:
    d = np.diff(values)
    tol = REL * max(1.0, float(np.max(np.abs(values))))
    return bool(np.all(d > -tol)) if increasing else bool(np.all(d < tol))


def _line_loading(ts: pd.DataFrame, case: str, capacity: dict[str, float]) -> tuple[float, int, int]:
    """Largest RT line flow as a share of its capacity, line-periods at capacity, line-periods."""
    sub = ts[(ts["case"] == case) & (ts["stage"] == "rt") & ts["variable"].isin(["p2p_forward_kw", "p2p_reverse_kw"])]
    if sub.empty:
        return 0.0, 0, 0
    flow = sub.pivot_table(index=["scenario", "period", "park"], columns="variable", values="value", observed=True)
    net = (flow["p2p_forward_kw"] - flow["p2p_reverse_kw"]).abs()
    cap = np.array([capacity.get(str(p), np.inf) for p in net.index.get_level_values("park")])
    share = net.to_numpy() / cap
    return float(share.max()), int((share > 1 - 1e-6).sum()), int(share.size)


def _verdict(trend: str, holds: bool, evidence: str, why: str = "") -> Verdict:
    """A trend of paper 000 (000 has no numbered findings and no paper column: the evidence is ours)."""
    return Verdict(key="", trend=trend, paper="", ours=evidence, status=status(holds), why=why)


def verdicts(res: StudyResult, capacities: dict[str, float]) -> list[Verdict]:
    c, sens, stress, ts = res.cases, res.sensitivity, res.stress, res.timeseries
    cur = res.meta.get("currency", "CNY")
    out: list[Verdict] = []
    prop = _val(c, "proposed", "objective")
    others = {k: _val(c, k, "objective") for k in ("no_p2p", "no_dr", "no_ess") if k in set(c["case"])}
    ok = all(prop <= v * (1 + REL) for v in others.values())
    out.append(_verdict(
        "The proposed case has the lowest objective", ok,
        "; ".join(f"proposed {prop:.2f} vs {k} {v:.2f} (-{100 * (v - prop) / v:.2f} %)" for k, v in others.items()),
        "" if ok else "The proposed case has a superset of the others' flexibility, so a higher objective means a "
        "solve did not reach its optimum: check solves.csv.",
    ))
    if "no_p2p" in others:
        a, b = _val(c, "proposed", "grid_purchase_kwh"), _val(c, "no_p2p", "grid_purchase_kwh")
        sale = _val(c, "no_p2p", "grid_sale_kwh")
        out.append(_verdict("Removing P2P raises grid purchase", b > a,
                           f"{a:.1f} kWh -> {b:.1f} kWh; without lines the parks also sell {sale:.1f} kWh of surplus "
                           "they could otherwise pass to a neighbour"))
    if "no_dr" in others:
        sc = res.scenario_costs
        a, b = _val(c, "proposed", "scenario_cost_std"), _val(c, "no_dr", "scenario_cost_std")
        holds = b > a
        why = ""
        if not holds:
            pa = sc[sc["case"] == "proposed"].set_index("scenario")["cost"]
            pb = sc[sc["case"] == "no_dr"].set_index("scenario")["cost"]
            d = pb - pa
            worst = int(pa.index.to_numpy()[np.argmax(pa.to_numpy())])
            spread_wo_worst = float(pa.drop(worst).std(ddof=0))
            why = (f"Removing DR raises every scenario's cost by a similar amount (by {d.min():.1f} to {d.max():.1f}; "
                   f"mean {d.mean():.1f}), so the spread barely moves. The spread is set by the adverse scenario "
                   f"{worst} (every error at its bound: cost {pa.max():.1f} against a mean of {pa.mean():.1f}); "
                   f"without it the std of the proposed case is {spread_wo_worst:.1f}. DR (gamma = 0.2, balanced "
                   "over each scenario's day) is available to every scenario alike, so it lowers the level of the "
                   "costs rather than their dispersion. The paper's much "
                   "smaller std (81.98) points to milder scenarios and a DR that reacts to each one; its "
                   "Table 1 is missing, so this is the defaults' behaviour, not a contradiction of the paper.")
        out.append(_verdict("Removing DR raises the scenario-cost spread (std)", holds, f"{a:.2f} -> {b:.2f}", why))
    if "no_ess" in others:
        a, b = _val(c, "proposed", "mean_deviation_cost"), _val(c, "no_ess", "mean_deviation_cost")
        why = ""
        if not b > a:
            da_ = _deviation_breakdown(res, "proposed")
            db_ = _deviation_breakdown(res, "no_ess")
            parts = ", ".join(f"{k} {da_.get(k, 0.0):.1f} -> {db_.get(k, 0.0):.1f}"
                              for k in sorted(set(da_) | set(db_)) if max(da_.get(k, 0.0), db_.get(k, 0.0)) > 0.05)
            why = (f"Mean deviation cost by component ({cur}/scenario), proposed -> no_ess: {parts}. The storage's "
                   "own charge and discharge are bound to their DA plan too (C-8), so a battery that reacts to a "
                   "scenario pays the ch/dis penalties; without it those terms vanish while the net and grid "
                   "deviations take the whole error. The objective is the CVaR of the total cost, not the "
                   f"deviation cost, and with S = {res.meta['n_scenarios']} and beta = {res.meta['beta']} it "
                   "weighs only the costliest scenarios, so the storage is used where it cuts the tail cost even "
                   "when that adds deviation penalties.")
        out.append(_verdict("Removing storage raises the mean deviation cost", b > a, f"{a:.2f} -> {b:.2f}", why))
    if len(sens) >= 2:
        s = sens.sort_values("epsilon")
        eps = ", ".join(f"{e:.2f}" for e in s["epsilon"])
        for col, inc, label in (("objective", True, "objective"), ("max_scenario_cost", True, "max scenario cost"),
                                ("scenario_cost_std", True, "scenario-cost std"),
                                ("mean_deviation_cost", True, "mean deviation cost"),
                                ("grid_purchase_kwh", True, "grid purchase"),
                                ("renewable_utilisation", False, "renewable utilisation")):
            vals = s[col].tolist()
            holds = _monotone(vals, inc)
            shown = ", ".join(f"{100 * v:.2f} %" if col == "renewable_utilisation" else f"{v:.1f}" for v in vals)
            why = ""
            if not holds and col == "renewable_utilisation":
                curt = _curtailment(ts, list(s["case"]))
                why = ("Utilisation stays above 97 % at every epsilon: with these default profiles the parks' own "
                       "load and the P2P lines absorb nearly all renewable output, so only a few periods curtail "
                       f"(mean curtailment per scenario: {curt}). Changes of a few tenths of a percent then follow "
                       "which scenarios happen to carry surplus wind at night, not the width of the error band. "
                       "The paper's utilisation (90.71 % -> 63.33 %) implies far more renewable capacity relative "
                       "to load than the defaults (PV 500 kW, wind 400 kW against 940 kW of peak load).")
            elif not holds:
                why = (f"{label.capitalize()} is not part of the objective: it follows from the dispatch that "
                       f"minimises the CVaR (with S = {res.meta['n_scenarios']} and beta = {res.meta['beta']} only "
                       "the costliest scenarios carry weight) plus the small mean-cost tie-break, so it need not "
                       "move monotonically with epsilon; see the table above.")
            out.append(_verdict(f"A wider epsilon raises the {label}" if inc else f"A wider epsilon lowers the {label}",
                                holds, f"epsilon {eps}: {shown}", why))
    if len(stress):
        base = c[c["case"] == "proposed"].assign(test="base", factor=1.0)
        for test, cols in (("p2p_capacity", (("p2p_kwh", False, "P2P exchange energy"),
                                             ("grid_purchase_kwh", True, "grid purchase"))),
                           ("ess_capacity", (("ess_throughput_kwh", False, "storage throughput"),
                                             ("objective", True, "objective")))):
            st = pd.concat([base, stress[stress["test"] == test]]).sort_values("factor", ascending=False)
            if len(st) < 2:
                continue
            for col, inc, label in cols:
                vals = st[col].tolist()
                holds = _monotone(vals, inc)
                shown = ", ".join(f"{f:.2f}: {v:.1f}" for f, v in zip(st["factor"], vals, strict=True))
                why = ""
                if not holds and test == "p2p_capacity":
                    rows = []
                    for _, r in st.iterrows():
                        caps = {k: v * float(r["factor"]) for k, v in capacities.items()}
                        _, at, n = _line_loading(ts, str(r["case"]), caps)
                        rows.append(f"{r['factor']:.2f}: objective {r['objective']:.2f}, {at} of {n} line-periods "
                                    f"at the limit, storage throughput {r['ess_throughput_kwh']:.0f} kWh, DR "
                                    f"{r['dr_shifted_kwh']:.0f} kWh")
                    why = ("Per capacity factor: " + "; ".join(rows) + ". Where a cut leaves the objective "
                           "unchanged, the flow that no longer fits on one line goes through the third park or "
                           "moves in time at no extra cost, and a kWh routed through the third park counts twice as "
                           "line energy, so the P2P energy can even rise. Where the cut does cost something, the "
                           "parks answer with more storage cycling and load shifting before they buy more from the "
                           "grid. In paper 000 the P2P exchange fell from 2126 to 1062 kWh between 75 % and 25 %, "
                           "so its lines were binding already at 75 %; with these defaults the lines have slack "
                           "and the parks have cheaper substitutes.")
                elif not holds:
                    why = (f"{label.capitalize()} is not part of the objective; with these defaults the capacity cut "
                           "changes the dispatch only where it binds (see the stress table).")
                verb = "raises" if inc else "lowers"
                what = "P2P capacity" if test == "p2p_capacity" else "storage capacity"
                out.append(_verdict(f"Less {what} {verb} the {label}", holds, shown, why))
    out.append(_da_rt_verdict(ts))
    for v in out:
        if not v.holds and not v.why:
            v.why = (f"The quantity is not part of the objective: it follows from the dispatch that minimises the "
                     f"CVaR (with S = {res.meta['n_scenarios']} and beta = {res.meta['beta']} only the costliest "
                     "scenarios carry weight) plus the small mean-cost tie-break; see the tables above.")
    return out


def _deviation_breakdown(res: StudyResult, case: str) -> dict[str, float]:
    """Mean over scenarios of the deviation cost per binding component (C-11)."""
    pen = res.meta.get("penalties", {})
    d = res.deviations[res.deviations["case"] == case]
    if d.empty or not pen:
        return {}
    n = max(1, d["scenario"].nunique())
    cost = d["abs_deviation_kwh"] * d["component"].map(pen).astype(float)
    return {str(k): float(v) / n for k, v in cost.groupby(d["component"]).sum().items()}


def _curtailment(ts: pd.DataFrame, cases: list[str]) -> str:
    parts = []
    for case in cases:
        sub = ts[(ts["case"] == case) & (ts["stage"] == "rt")]
        used = sub[sub["variable"].isin(["pv_kw", "wind_kw"])]["value"].sum()
        avail = sub[sub["variable"].isin(["pv_available_kw", "wind_available_kw"])]["value"].sum()
        n = max(1, sub["scenario"].nunique())
        parts.append(f"{case.replace('epsilon_', 'eps ')} {(avail - used) * 0.25 / n:.1f} kWh")
    return ", ".join(parts)


def _da_rt_verdict(ts: pd.DataFrame) -> Verdict:
    sub = ts[(ts["case"] == "proposed") & ts["variable"].isin(["grid_buy_kw", "grid_sell_kw", "p2p_net_in_kw"])]
    w = sub.pivot_table(index=["stage", "scenario", "period", "park"], columns="variable", values="value",
                        observed=True).fillna(0.0)
    net = (w["grid_buy_kw"] - w["grid_sell_kw"] + w["p2p_net_in_kw"]).rename("net").reset_index()
    da = net[net["stage"] == "da"].set_index(["park", "period"])["net"]
    rt = net[net["stage"] == "rt"].copy()
    rt["hour"] = (rt["period"] - 1) // 4 + 1
    rt_h = rt.groupby(["park", "scenario", "hour"], observed=True)["net"].sum() * 0.25
    rt_mean = rt_h.groupby(["park", "hour"], observed=True).median()
    da = da.rename_axis(["park", "hour"])
    rt_mean, da = rt_mean.align(da, join="inner")
    diff = (rt_mean - da).abs()
    scale = da.abs().clip(lower=10.0)
    close = float((diff <= 0.1 * scale).mean())
    return _verdict(
        "Hourly RT net external energy stays close to the DA plan in all parks", close >= 0.6,
        f"the median over scenarios is within 10 % of the DA value in {100 * close:.0f} % of park-hours "
        "(figure net_external_energy_proposed.png)",
        "" if close >= 0.6 else "The DA plan is costless in the paper's objective (omega^DA = 0), so it is set only "
        "by the deviation penalties and follows the median scenario; with wide errors the RT sums spread around it.",
    )


def write_report(res: StudyResult, out: Path, figs: dict[str, Path]) -> Path:
    m = res.meta
    cur = m.get("currency", "CNY")
    c = res.cases.set_index("case")
    lines: list[str] = []
    add = lines.append
    add("# Campus study — paper 000 reproduced on the bundled scenario\n")
    add(f"Scenario `{m['scenario']}`; S = {m['n_scenarios']} RT scenarios (scenario 1 adverse), epsilon = "
        f"{m['epsilon']}, beta = {m['beta']}, seed {m['seed']}; formulation `{m['formulation']}`, HiGHS "
        f"`{m['lp_method']}`. Model: {m['model_rows']:,} rows x {m['model_cols']:,} columns, "
        f"{m['model_nonzeros']:,} nonzeros, {m['model_binaries']:,} complementarity binaries declared "
        f"(paper: 10,584 = 9 x (24 + 12 x 96)). {len(res.cases) + len(res.sensitivity) + len(res.stress)} cases in "
        f"{m['wall_seconds']:.0f} s.\n")
    add("The device parameters, profiles and prices are SPEC §4.8 defaults that stand in for the paper's missing "
        "Table 1 and Figs. 2-4, so the numbers below are not expected to match the paper; the trends are. "
        f"The objective adds {m['expected_cost_weight']:g} x the mean scenario cost to the CVaR (a tie-break "
        "that makes every scenario's dispatch cost-minimising; `objective` and `cvar` report the CVaR itself) and "
        f"{m['p2p_flow_cost_per_kwh']:g} {cur}/kWh on line flows (against loop flows in the lossless mesh).\n")

    add("## Cases (SPEC §4.9)\n")
    tab = pd.DataFrame({
        "case": c.index,
        f"objective ({cur})": c["objective"].round(2),
        "paper objective": [PAPER["objective"].get(k, np.nan) for k in c.index],
        "reduction by proposed (%)": [100 * (c.loc[k, "objective"] - c.loc["proposed", "objective"])
                                      / c.loc[k, "objective"] for k in c.index],
        "paper reduction (%)": [PAPER_REDUCTION.get(k, np.nan) for k in c.index],
        "grid purchase (kWh)": c["grid_purchase_kwh"].round(1),
        "paper grid purchase": [PAPER["grid_purchase_kwh"].get(k, np.nan) for k in c.index],
        "cost std": c["scenario_cost_std"].round(2),
        "paper std": [PAPER["scenario_cost_std"].get(k, np.nan) for k in c.index],
        "mean deviation cost": c["mean_deviation_cost"].round(2),
        "paper dev. cost": [PAPER["mean_deviation_cost"].get(k, np.nan) for k in c.index],
        "renewable utilisation (%)": (100 * c["renewable_utilisation"]).round(2),
    })
    add(markdown_table(tab).replace("nan", "n/r") + "\n")
    add("n/r: not reported in the paper. Full columns in `cases.csv`; every solve's path, status, gap, iterations "
        "and timings in `solves.csv`.\n")
    if "cases" in figs:
        add("![cases](figures/cases.png)\n")
    if "scenario_costs" in figs:
        add("![scenario costs](figures/scenario_costs.png)\n")

    add("## Epsilon sensitivity (000 Table 4)\n")
    s = res.sensitivity.copy()
    if len(s):
        tab = s[["epsilon", "objective", "max_scenario_cost", "scenario_cost_std", "mean_deviation_cost",
                 "grid_purchase_kwh", "renewable_utilisation"]].copy()
        tab["renewable_utilisation"] = (100 * tab["renewable_utilisation"]).round(2)
        tab["paper objective"] = [PAPER_EPS.get(round(e, 2), (np.nan,) * 3)[0] for e in tab["epsilon"]]
        tab["paper grid purchase"] = [PAPER_EPS.get(round(e, 2), (np.nan,) * 3)[1] for e in tab["epsilon"]]
        tab["paper RU (%)"] = [100 * PAPER_EPS.get(round(e, 2), (np.nan,) * 3)[2] for e in tab["epsilon"]]
        add(markdown_table(tab).replace("nan", "n/r") + "\n")
        if "sensitivity_epsilon" in figs:
            add("![epsilon sensitivity](figures/sensitivity_epsilon.png)\n")

    add("## Stress tests (000 Table 5)\n")
    if len(res.stress):
        tab = res.stress[["test", "factor", "objective", "p2p_kwh", "grid_purchase_kwh", "ess_throughput_kwh"]]
        add(markdown_table(tab) + "\n")
        add(f"Paper: {PAPER_STRESS['p2p']}; {PAPER_STRESS['ess']}.\n")
        if "stress" in figs:
            add("![stress tests](figures/stress.png)\n")

    add("## Trends of the paper, checked\n")
    caps = {ln: cap for ln, cap in m.get("line_capacity_kw", {}).items()}
    lines.extend(verdict_bullets(verdicts(res, caps)))
    add("")
    add("## Dispatch\n")
    for name, title in (("power_balance_proposed", "Power balance per park, DA and the costliest RT scenario"),
                        ("net_external_energy_proposed", "DA plan vs RT hourly net external energy"),
                        ("dr_shift_proposed", "Demand response: baseline vs shifted load"),
                        ("p2p_flows_proposed", "P2P line flows")):
        if name in figs:
            add(f"### {title}\n\n![{name}](figures/{name}.png)\n")
    for case in ("no_p2p", "no_dr", "no_ess"):
        if f"power_balance_{case}" in figs:
            add(f"- Power balance, case `{case}`: [figures/power_balance_{case}.png](figures/power_balance_{case}.png)")
    add("")
    add("## Solver path\n")
    if len(res.solves):
        sv = res.solves.groupby("case", sort=False).agg(
            solves=("path", "size"), path=("path", lambda p: "+".join(dict.fromkeys(p))),
            solve_s=("solve_s", "sum"), handover_s=("handover_s", "sum"), build_s=("build_s", "sum"),
            ipm_iter=("ipm_iterations", "sum"), simplex_iter=("simplex_iterations", "sum")).reset_index()
        add(markdown_table(sv) + "\n")
    add("`lp-certified`: the LP relaxation's optimum used no storage, grid or line both ways at once, so it is "
        "feasible for the MILP and optimal. `lp+fix`: the weaker side of the few offending pairs was closed and the "
        "LP re-solved warm; the gap to the LP bound is below the MIP gap 1e-4. `lp+milp`: those binaries were made "
        "integer and solved exactly (see README).\n")
    return write_report_md(lines, out)


def render(out: str | Path) -> tuple[dict[str, Path], Path]:
    """Load the study in ``out`` (:func:`~.tables.load_study`), draw ``out/figures/*.png`` and write
    ``out/report.md``."""
    return render_study(out, load_study, write_figures, write_report)

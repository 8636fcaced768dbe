"""The IEEE-33 study of paper 004: one day, four schemes, tables, figures and report (issue 3).

``python run_sim.py study ieee33 --out DIR [--seed N --evs-per-station K]`` calls
:func:`run_ieee33_study`, which runs :class:`sim.systems.ieee33.schemes.DistributionModel` and writes

- ``schemes.csv`` (one row per scheme, :data:`SCHEME_COLUMNS`), ``bargaining.csv`` (one row per
  cluster), ``prices.csv`` (DA TOU prices, final rolling prices, every bisection iteration),
  ``day_ahead.csv`` (the DA plan per hour), ``timeseries.parquet`` (long format
  ``scheme, period, bus, entity, variable, value, unit``), ``study.json`` (settings, solver
  figures, provenance), ``figures/*.png`` and ``report.md``.

Every scheme's dispatch is checked on the network after the fact: the per-bus injections (TA
loads, EV net charging, storage net charging at the leading bus, dispatched PV and wind) go through
LinDistFlow (:func:`sim.network.lindistflow.lindistflow`) and pandapower's AC power flow, period by period.
All files are written atomically; the tables come first, so a failure in the figures loses no data.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agents.milp import SolverOptions
from market import BARGAINING_COLUMNS
from scenarios.ieee33_loader import load_ieee33_scenario
from scenarios.schema import IEEE33Scenario
from sim.engine.io import environment_info, write_csv, write_json, write_parquet
from sim.systems.ieee33.modes import SCHEMES, modes_of
from sim.systems.ieee33.results import (
    NetworkCheck,
    check_balance,
    network_check,
    prices_frame,
    scheme_row,
    schemes_frame,
    timeseries_frame,
)
from sim.systems.ieee33.schemes import DistributionModel, SchemeResult, make_day
from studies.common.io import progress_printer
from studies.p004_ieee33.report import render

log = logging.getLogger(__name__)

@dataclass
class IEEE33StudyResult:
    out: Path
    results: dict[str, SchemeResult]
    networks: dict[str, NetworkCheck]
    schemes: pd.DataFrame
    bargaining: pd.DataFrame
    prices: pd.DataFrame
    day_ahead: pd.DataFrame
    meta: dict[str, Any]


def run_ieee33_study(
    out: str | Path,
    *,
    scenario: str | Path | IEEE33Scenario = "ieee33",
    seed: int | None = None,
    evs_per_station: int | None = None,
    schemes: Sequence[str] = SCHEMES,
    options: SolverOptions | None = None,
    figures: bool = True,
    quiet: bool = False,
    fleet_workers: int = 1,
) -> IEEE33StudyResult:
    """Run the study and write every output into ``out`` (see the module docstring)."""
    t_all = time.perf_counter()
    say = progress_printer(quiet)
    sc = scenario if isinstance(scenario, IEEE33Scenario) else load_ieee33_scenario(scenario)
    if evs_per_station is not None:
        sc = sc.with_evs_per_station(evs_per_station)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    day = make_day(sc, seed)
    say(f"scenario {sc.name}, seed {day.seed}, {day.n_evs} EVs at {len(day.fleets)} stations")
    model = DistributionModel(sc, day, options=options, fleet_workers=fleet_workers)
    t_da = time.perf_counter()
    da = model.day_ahead()
    da_s = time.perf_counter() - t_da
    say(f"day-ahead TOU design: levels {', '.join(f'{k} {v:.4f}' for k, v in da.levels.items())} in {da_s:.1f} s")
    flat = _flat_price_day_ahead(sc, day, model.options)
    results = model.run(modes_of(list(schemes)), progress=say)
    nets: dict[str, NetworkCheck] = {}
    rows = []
    for name, res in results.items():
        nets[name] = network_check(sc, res)
        check_balance(res, nets[name])
        rows.append(scheme_row(sc, res, nets[name]))
    say("network checked (LinDistFlow and AC power flow of every scheme)")
    sch = schemes_frame(rows)
    coop = results.get("cooperative")
    bargaining = (coop.allocation.to_frame() if coop is not None and coop.allocation is not None
                  else pd.DataFrame(columns=list(BARGAINING_COLUMNS)))
    prices = prices_frame(np.asarray(da.prices), coop, sc.intraday_horizon.dt_h)
    da_frame = da.to_frame().rename(columns={"period": "period_type"})
    ts = timeseries_frame(sc, results, nets)
    write_csv(sch, out / "schemes.csv")
    write_csv(bargaining, out / "bargaining.csv")
    write_csv(prices, out / "prices.csv")
    write_csv(da_frame, out / "day_ahead.csv")
    write_parquet(ts, out / "timeseries.parquet")
    meta = _meta(sc, day, model, da, flat, results, nets, da_s, time.perf_counter() - t_all)
    write_json(meta, out / "study.json")
    say(f"tables written to {out}")
    result = IEEE33StudyResult(out, results, nets, sch, bargaining, prices, da_frame, meta)
    if figures:  # from the files just written, as --report-only does
        figs, report = render(out)
        say(f"{len(figs)} figures and {report.name} written")
    say(f"study finished in {time.perf_counter() - t_all:.1f} s")
    return result


def _flat_price_day_ahead(sc: IEEE33Scenario, day: Any, options: SolverOptions) -> Any:
    """The DA stage with every price fixed at π^0 (no TOU): the baseline of the DA curtailment trend."""
    from sim.systems.ieee33.tou_design import design_tou

    return design_tou(sc, day.fleets, day.forecast_kw, options, fixed_prices=sc.tariff.reference_price)


def _meta(sc: IEEE33Scenario, day: Any, model: DistributionModel, da: Any, flat: Any,
          results: dict[str, SchemeResult], nets: dict[str, NetworkCheck], da_s: float,
          total_s: float) -> dict[str, Any]:
    coop = results.get("cooperative")
    bis = sc.market.bisection
    meta: dict[str, Any] = {
        "scenario": sc.name,
        "currency": sc.currency,
        "seed": day.seed,
        "evs_per_station": {str(st.bus): st.n_evs for st in sc.ev_stations},
        "n_evs": day.n_evs,
        "clusters": [c.name for c in sc.clusters],
        "schemes": list(results),
        "bisection": {
            "iterations": coop.trace.iterations if coop is not None and coop.trace is not None else None,
            "converged": bool(coop.trace.converged) if coop is not None and coop.trace is not None else None,
            "xi": bis.xi, "p0": bis.p0, "p_min": bis.p_min, "p_max": bis.p_max, "tol_z_kw": bis.tol_z_kw,
            "iteration_bound": coop.info.get("iteration_bound") if coop is not None else None,
            "max_abs_excess_kw": float(np.abs(coop.excess_demand_kw).max())
            if coop is not None and coop.excess_demand_kw is not None else None,
            "upstream_supply": bis.upstream_supply,
            # SPEC §6.7: which periods cleared, were absorbed by the upstream supply, or did not clear and why
            "clearing": coop.trace.clearing_summary() if coop is not None and coop.trace is not None else None,
        },
        "da": {
            "levels": dict(da.levels),
            "costs": dict(da.costs),
            "curtailment_kwh": float(da.curtailment_kwh),
            "flat_price_curtailment_kwh": float(flat.curtailment_kwh) if flat is not None else None,
            "flat_price_costs": dict(flat.costs) if flat is not None else None,
            "vmin_pu": float(np.min(da.v_pu)),
            "vmax_pu": float(np.max(da.v_pu)),
            "worst_voltage_hour": int(np.argmin(np.min(da.v_pu, axis=1))) + 1,
            "path": da.path,
            "model_size": dict(da.model_size),
            "solve_seconds": float(da.solve_seconds),
            "build_seconds": float(da.build_seconds),
        },
        "timings": {"day_ahead_s": da_s, "total_s": total_s,
                    "follower_calls": model.n_follower_calls, "follower_s": model.follower_seconds}
        | {f"{k}_s": v.solve_seconds for k, v in results.items()},
        "paths": {k: v.paths for k, v in results.items()},
        "ac_check": {k: {"max_abs_error_pu": n.max_error_pu, "bus": n.max_error_bus, "period": n.max_error_period,
                         "vmin_ac_pu": float(np.nanmin(n.v_ac_pu)), "vmax_ac_pu": float(np.nanmax(n.v_ac_pu)),
                         "v0_min_pu": float(np.min(n.v0_pu)) if n.v0_pu is not None else sc.network.v0_pu,
                         "v0_max_pu": float(np.max(n.v0_pu)) if n.v0_pu is not None else sc.network.v0_pu}
                     for k, n in nets.items()},
        "network": {"v_min_pu": sc.network.v_min_pu, "v_max_pu": sc.network.v_max_pu, "v0_pu": sc.network.v0_pu,
                    "oltc_ldc_pu_per_mw": sc.network.oltc_ldc_pu_per_mw,
                    "voltage_limits": sc.network.voltage_limits},
        "environment": environment_info(),
    }
    if coop is not None and coop.settlement is not None:
        s = coop.settlement
        meta["settlement"] = {"budget_residual": s.budget_residual, "individually_rational": s.individually_rational,
                              "coalition_formed": s.coalition_formed}
    if "oracle" in results:
        meta["oracle"] = {k: v for k, v in results["oracle"].info.items()}
    return meta


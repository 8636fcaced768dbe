"""The rural campus of paper 002 in the multi-day simulator (sim/systems/rural_ies/day.py): balances, bounds, resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import run_sim
from scenarios.loader import load_rural_ies
from sim.engine.run import execute as _execute
from sim.engine.spec import RunSpec, SimSettings
from sim.engine.state import CarryState
from sim.engine.system import DayOutcome, drain
from sim.systems import SYSTEMS
from sim.systems.rural_ies.day import rural_models, rural_weather_model, simulate_rural_day_steps

FAST = SimSettings(scenario="rural_ies", n_mc=40)


def _series(ts: pd.DataFrame, entity: str, variable: str) -> np.ndarray:
    g = ts[(ts["entity"] == entity) & (ts["variable"] == variable)].sort_values("period")
    assert len(g) == 24, f"{entity}.{variable}: {len(g)} hours"
    return g["value"].to_numpy(dtype=float)


def _check_balances(ts: pd.DataFrame) -> None:
    """BAL2-E and BAL2-H (SPEC §3.8) of the executed day, hour by hour, from the written time series."""
    def s(entity: str, variable: str) -> np.ndarray:
        return _series(ts, entity, variable)

    supply = (s("da_trading", "da_trade_kw") + s("grid", "grid_buy_kw") + s("pv", "pv_kw")
              + s("biogas_generator", "bg_power_kw") + s("power_storage", "ess_discharge_kw")
              + s("transferable_load", "dr_down_kw") + s("slack", "shed_kw"))
    demand = (s("power_load", "power_load_kw") + s("grid", "grid_sell_kw") + s("electric_boiler", "eb_power_kw")
              + s("heat_pump", "hp_power_kw") + s("power_storage", "ess_charge_kw")
              + s("transferable_load", "dr_up_kw") + s("slack", "spill_kw"))
    np.testing.assert_allclose(supply, demand, atol=1e-6)
    heat_in = (s("waste_heat", "recovered_heat_kw") + s("electric_boiler", "eb_heat_kw") + s("heat_pump", "hp_heat_kw")
               + s("heat_storage", "hs_discharge_kw") + s("slack", "heat_shortfall_kw"))
    heat_out = s("heat_load", "heat_load_kw") + s("heat_storage", "hs_charge_kw")
    np.testing.assert_allclose(heat_in, heat_out, atol=1e-6)
    assert np.all(s("biogas_generator", "bg_heat_kw") >= s("waste_heat", "recovered_heat_kw") - 1e-9)  # BG-2


def test_a_day_balances_and_the_oracle_bounds_the_campus() -> None:
    sc = load_rural_ies("rural_ies")
    base = SimSettings(scenario="rural_ies", n_mc=40)
    models = rural_models(sc, 3, base)  # one set of persistent models for every day below (reset per day)
    weather = rural_weather_model(sc, base)

    def day(mode: str, replay: str) -> DayOutcome:
        settings = SimSettings(scenario="rural_ies", n_mc=40, replay=replay)
        return drain(simulate_rural_day_steps(sc, RunSpec(mode, 3, 1), settings, 0, CarryState(), weather, models))

    coop = day("cooperative", "oracle")
    mpc = day("cooperative", "mpc")
    oracle = day("oracle", "oracle")
    for o in (coop, mpc, oracle):
        _check_balances(o.timeseries)
        k = o.kpis
        assert k["total_cost"] == pytest.approx(k["da_cost"] + k["intraday_cost"], rel=1e-12)
        assert k["shed_kwh"] == pytest.approx(0.0, abs=1e-6) and k["heat_shortfall_kwh"] == pytest.approx(0, abs=1e-6)
    # the DA plan is the scenario's cdro over the reference samples, converged by C&CG
    assert coop.kpis["plan_iterations"] >= 1
    assert coop.kpis["plan_historical_cost"] <= coop.kpis["plan_worst_cost"] + 1e-6
    # knowing the realised day is worth something; learning it hour by hour costs against knowing it at once
    assert oracle.kpis["total_cost"] <= coop.kpis["total_cost"] + 1e-6
    assert coop.kpis["total_cost"] <= mpc.kpis["total_cost"] + 1e-6
    assert mpc.kpis["mpc_solves"] == 24 and coop.kpis["mpc_solves"] == 0
    # the coordination modes of a single campus coincide, and the models carry nothing from one solve to the next
    again = day("noncooperative", "oracle")
    np.testing.assert_equal({k: v for k, v in again.kpis.items() if k not in ("mode", "run")},
                            {k: v for k, v in coop.kpis.items() if k not in ("mode", "run")})  # NaN == NaN here


def test_rural_run_resumes_to_identical_kpis(tmp_path: Path) -> None:
    """Two days through the simulator; recomputing day 2 on freshly built models (``--resume`` after a
    kill) gives a byte-identical kpis.csv: the persistent models carry nothing from day to day."""
    out = tmp_path / "r"
    _execute(out, SYSTEMS["rural_ies"], [RunSpec("cooperative", 1, 2)], FAST)
    first = (out / "kpis.csv").read_bytes()
    k = pd.read_csv(out / "kpis.csv")
    assert list(k["day"]) == [1, 2] and (k["total_cost"] > 0).all()
    assert k["total_cost"].iloc[0] != k["total_cost"].iloc[1]  # different days, different weather
    ts = pd.read_parquet(out / "timeseries" / "day=002" / "cooperative-s1.parquet")
    _check_balances(ts)
    (out / "kpis" / "day=002" / "cooperative-s1.csv").unlink()
    _execute(out, SYSTEMS["rural_ies"], [RunSpec("cooperative", 1, 2)], FAST, resume=True)
    assert (out / "kpis.csv").read_bytes() == first


def test_sweep_over_the_da_method(tmp_path: Path) -> None:
    """``--set uncertainty.method=so,dro`` runs the campus with each DA method on the same day: SO has the
    lower historical expected cost of its plan, DRO the lower worst-distribution cost."""
    rc = run_sim.main(["sweep", "--scenario", "rural_ies", "--set", "uncertainty.method=so,dro", "--days", "1",
                       "--seed", "2", "--mc-days", "40", "--quiet", "--out", str(tmp_path)])
    assert rc == 0
    k = pd.read_csv(tmp_path / "kpis.csv")
    so = k[k["point"].str.contains("so")].iloc[0]
    dro = k[k["point"].str.contains("dro")].iloc[0]
    assert so["plan_historical_cost"] <= dro["plan_historical_cost"] + 1e-6
    assert dro["plan_worst_cost"] <= so["plan_worst_cost"] + 1e-6
    with pytest.raises(ValueError, match="method"):
        _execute(tmp_path / "bad", SYSTEMS["rural_ies"],
                 [RunSpec("cooperative", 1, 1, "x", (("uncertainty.method", "minimax"),))], FAST)

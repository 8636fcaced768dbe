"""Rural biogas-power-heat campus of paper 002 as a two-stage LP (agents/rural_campus.py; SPEC §3.8, §6.4).

Small instances (M = 60 historical days, K = 8 reference samples) of the bundled scenario.  Checks:
structure (pure LP, per-sample size), conservation (BAL2-E, BAL2-H from the extracted dispatch),
storage terminal conditions and recursions, the recourse cost rebuilt from the dispatch, the method
orderings of SPEC §6.4, C&CG against the monolithic dual LP, reproducibility from the seed, and the
relatively complete recourse (worst case ±30 %, P^tr at either bound; slacks when trading is cut).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pyomo.environ as pyo
import pytest

from agents.decision.uncertainty import DROResult, ambiguity_radii
from agents.rural_campus import (
    DISPATCH_COLUMNS,
    ErrorSamples,
    RuralDay,
    RuralDayResult,
    build_rural_day,
    sample_errors,
    solve_rural_day,
)
from scenarios.loader import load_rural_ies
from scenarios.schema import RuralIESScenario

TOL = 1e-6
M_SMALL, K_SMALL = 60, 8
T = 24


@pytest.fixture(scope="module")
def scenario() -> RuralIESScenario:
    s = load_rural_ies("rural_ies")
    return replace(s, uncertainty=replace(s.uncertainty, M=M_SMALL, K=K_SMALL))


@pytest.fixture(scope="module")
def day(scenario: RuralIESScenario) -> RuralDay:
    return build_rural_day(scenario, seed=7)


@pytest.fixture(scope="module")
def results(day: RuralDay) -> dict[str, DROResult]:
    # a tight C&CG gap so the orderings below are not blurred by the stopping rule
    return {m: day.solve(m, eps=1e-9) for m in ("so", "dro", "cdro", "ro")}


@pytest.fixture(scope="module")
def chosen(scenario: RuralIESScenario, day: RuralDay, results: dict[str, DROResult]) -> RuralDayResult:
    """The scenario's own method (cdro, λ = 0.2) on the persistent day, with its dispatch."""
    return solve_rural_day(scenario, day=day)


def wide(dispatch: pd.DataFrame) -> dict[str, np.ndarray]:
    """``entity.variable`` -> array (K, T) from the tidy dispatch."""
    out: dict[str, np.ndarray] = {}
    for (entity, variable), g in dispatch.groupby(["entity", "variable"], sort=False):
        g = g.sort_values(["sample", "period"])
        out[f"{entity}.{variable}"] = g["value"].to_numpy().reshape(-1, T)
    return out


# ------------------------------------------------------------------------------------ samples


def test_sample_errors_are_k_means_of_bounded_errors(scenario: RuralIESScenario) -> None:
    smp = sample_errors(scenario, np.random.default_rng(3))
    assert smp.K == K_SMALL and smp.M == M_SMALL
    for u in (smp.u_pv, smp.u_power, smp.u_heat):
        assert u.shape == (K_SMALL, T)
        assert np.all(np.abs(u) <= scenario.uncertainty.error_bound + 1e-12)
    # p0 = cluster sizes / M: multiples of 1/M summing to 1, sorted by decreasing size
    counts = smp.p0 * M_SMALL
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-9)
    assert smp.p0.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.diff(smp.p0) <= 1e-12) and np.all(smp.p0 > 0)
    # the three series are different draws
    assert not np.allclose(smp.u_pv, smp.u_power)
    # the same generator state gives the same samples; another seed does not
    again = sample_errors(scenario, np.random.default_rng(3))
    np.testing.assert_array_equal(again.u_heat, smp.u_heat)
    np.testing.assert_array_equal(again.p0, smp.p0)
    other = sample_errors(scenario, np.random.default_rng(4))
    assert not np.array_equal(other.u_heat, smp.u_heat)
    # realised = forecast x (1 + u)
    real = smp.realised(scenario, 2)
    np.testing.assert_allclose(real["heat_load_kw"], scenario.heat_load_kw * (1 + smp.u_heat[2]))
    np.testing.assert_allclose(real["pv_kw"], scenario.pv_forecast_kw * (1 + smp.u_pv[2]))


def test_error_samples_validate_their_shape() -> None:
    z = np.zeros((2, T))
    with pytest.raises(ValueError, match=r"p0 must hold K = 2 weights"):
        ErrorSamples(z, z, z, np.array([0.5, 0.6]), 10)
    with pytest.raises(ValueError, match=r"share one \(K, T\) shape"):
        ErrorSamples(z, np.zeros((3, T)), z, np.array([0.5, 0.5]), 10)


# ------------------------------------------------------------------------------------ structure


def test_model_is_a_pure_lp_of_the_expected_size(day: RuralDay) -> None:
    m = day.dro.model
    assert all(v.is_continuous() for v in m.component_data_objects(pyo.Var, descend_into=True))
    assert day.dro.hm.n_binaries_declared == 0 and day.dro.hm.n_integer_active == 0
    rec = m.rec[0]
    n_vars = sum(1 for _ in rec.component_data_objects(pyo.Var, descend_into=True))
    n_rows = sum(1 for _ in rec.component_data_objects(pyo.Constraint, active=True, descend_into=True))
    # columns: grid 2x24, pv 24, transferable 2x24, generator 3x24, waste heat 24, holder 24, boiler 2x24,
    # heat pump 2x24, power storage 3x24, heat storage 3x24, slacks 3x24 = 23 x 24
    assert n_vars == 23 * T
    # rows: BAL2-E, BAL2-H, BG-1 (2), BG-2, BGS-1, EB-1, HP-1, ESS-1, HS-1 per hour; 3 terminal rows; DR2-2
    assert n_rows == 10 * T + 3 + 1
    assert len(m.fs.p_tr_kw) == T
    assert m.fs.p_tr_kw[1].bounds == (0, 500)
    # Ψ from CD-4 for (M, K) = (60, 8)
    assert (day.ambiguity.theta_1, day.ambiguity.theta_inf) == pytest.approx(ambiguity_radii(60, 8, 0.95, 0.99))


# ------------------------------------------------------------------------------------ chosen plan


def test_solve_rural_day_uses_the_scenario_method(chosen: RuralDayResult, day: RuralDay) -> None:
    res = chosen.result
    assert res.method == "cdro" and res.lam == pytest.approx(0.2)
    assert res.solver == "ccg" and res.iterations >= 1
    assert chosen.day is day
    assert tuple(chosen.dispatch.columns) == DISPATCH_COLUMNS
    assert set(chosen.dispatch["method"]) == {"cdro"}
    assert set(chosen.dispatch["sample"]) == set(range(K_SMALL))
    assert set(chosen.dispatch["period"]) == set(range(1, T + 1))
    assert not chosen.dispatch["value"].isna().any()
    # the dispatch belongs to the plan of the result
    x = wide(chosen.dispatch)["da_trading.da_trade_kw"]
    np.testing.assert_allclose(x, np.tile(res.x["p_tr_kw"], (K_SMALL, 1)), atol=1e-9)
    # per-sample costs reproduce H and W of the result
    c = chosen.sample_costs
    assert float(c["p0"] @ c["total_cost"]) == pytest.approx(res.historical_cost, rel=1e-9)
    assert float(c["p_worst"] @ c["total_cost"]) == pytest.approx(res.worst_cost, rel=1e-9)
    assert float(c["total_cost"].max()) == pytest.approx(res.worst_sample_cost, rel=1e-9)


def test_electric_and_heat_balances_hold_in_every_sample_and_hour(chosen: RuralDayResult) -> None:
    v = wide(chosen.dispatch)
    # BAL2-E: P^tr + P^buy - P^sell + P^v + P^g + P^dis + shed - spill = P^d + D^up - D^dn + P^ch + P^b + P^hp
    supply = (v["da_trading.da_trade_kw"] + v["grid.grid_buy_kw"] - v["grid.grid_sell_kw"] + v["pv.pv_kw"]
              + v["biogas_generator.bg_power_kw"] + v["power_storage.ess_discharge_kw"] + v["slack.shed_kw"]
              - v["slack.spill_kw"])
    use = (v["power_load.power_load_kw"] + v["transferable_load.dr_up_kw"] - v["transferable_load.dr_down_kw"]
           + v["power_storage.ess_charge_kw"] + v["electric_boiler.eb_power_kw"] + v["heat_pump.hp_power_kw"])
    assert supply.shape == (K_SMALL, T)
    assert np.max(np.abs(supply - use)) <= TOL
    # BAL2-H: H^w + H^b + H^hp + H^{h,-} + shortfall = H^d + H^{h,+}
    heat = (v["waste_heat.recovered_heat_kw"] + v["electric_boiler.eb_heat_kw"] + v["heat_pump.hp_heat_kw"]
            + v["heat_storage.hs_discharge_kw"] + v["slack.heat_shortfall_kw"])
    assert np.max(np.abs(heat - v["heat_load.heat_load_kw"] - v["heat_storage.hs_charge_kw"])) <= TOL
    # the realised profiles are forecast x (1 + u_k)
    smp = chosen.day.samples
    s = chosen.day.scenario
    np.testing.assert_allclose(v["power_load.power_load_kw"], s.power_load_kw * (1 + smp.u_power), atol=1e-9)
    np.testing.assert_allclose(v["pv.pv_available_kw"], s.pv_forecast_kw * (1 + smp.u_pv), atol=1e-9)
    # at the default data nothing is shed, spilled or curtailed
    for name in ("slack.shed_kw", "slack.spill_kw", "slack.heat_shortfall_kw", "pv.pv_curtailed_kw"):
        assert np.max(np.abs(v[name])) <= TOL, name


def test_device_equations_and_bounds_hold(chosen: RuralDayResult) -> None:
    v = wide(chosen.dispatch)
    gas = v["biogas_generator.biogas_m3_per_h"]
    np.testing.assert_allclose(v["biogas_generator.bg_power_kw"], 0.35 * 6.0 * gas, atol=TOL)  # BG-1
    np.testing.assert_allclose(v["biogas_generator.bg_heat_kw"], 0.45 * 6.0 * gas, atol=TOL)
    assert np.all(v["waste_heat.recovered_heat_kw"] <= v["biogas_generator.bg_heat_kw"] + TOL)  # BG-2
    np.testing.assert_allclose(v["electric_boiler.eb_heat_kw"], 0.95 * v["electric_boiler.eb_power_kw"], atol=TOL)
    np.testing.assert_allclose(v["heat_pump.hp_heat_kw"], 3.5 * v["heat_pump.hp_power_kw"], atol=TOL)
    p_g = v["biogas_generator.bg_power_kw"]
    assert np.all((p_g >= 30 - TOL) & (p_g <= 150 + TOL))
    x = v["da_trading.da_trade_kw"]
    assert np.all((x >= -TOL) & (x <= 500 + TOL))
    up, dn = v["transferable_load.dr_up_kw"], v["transferable_load.dr_down_kw"]
    outside = np.ones(T, dtype=bool)
    outside[13:17] = False  # window periods 14..17
    assert np.all(np.abs(up[:, outside]) <= TOL) and np.all(np.abs(dn[:, outside]) <= TOL)
    np.testing.assert_allclose(up.sum(axis=1), dn.sum(axis=1), atol=TOL)  # DR2-2
    assert np.all(up <= 60 + TOL) and np.all(dn <= 60 + TOL)


def test_storage_terminal_conditions_and_recursions(chosen: RuralDayResult) -> None:
    v = wide(chosen.dispatch)

    def prev(x: np.ndarray, x0: float) -> np.ndarray:
        return np.hstack([np.full((x.shape[0], 1), x0), x[:, :-1]])

    # biogas holder (BGS-1): S_T = S_0 = 300 m3, 0 <= S <= 600, S_t = S_{t-1} + G^prod - G
    sg, gas = v["biogas_storage.biogas_stored_m3"], v["biogas_generator.biogas_m3_per_h"]
    np.testing.assert_allclose(sg[:, -1], 300, atol=TOL)
    assert np.all((sg >= -TOL) & (sg <= 600 + TOL))
    np.testing.assert_allclose(sg, prev(sg, 300) + 60 - gas, atol=TOL)
    np.testing.assert_allclose(gas.sum(axis=1), 60 * T, atol=1e-5)  # the day burns exactly the production
    # power storage (ESS-1, -2, -4): E_T = E_0 = 200 kWh, 40..360 kWh, eta 0.95 both ways
    soc, ch, dis = (v[f"power_storage.{n}"] for n in ("soc_kwh", "ess_charge_kw", "ess_discharge_kw"))
    np.testing.assert_allclose(soc[:, -1], 200, atol=TOL)
    assert np.all((soc >= 40 - TOL) & (soc <= 360 + TOL))
    np.testing.assert_allclose(soc, prev(soc, 200) + 0.95 * ch - dis / 0.95, atol=TOL)
    # heat storage (HS-1): S_T = S_0 = 150 kWh_th, loss 1 %/h
    hsoc, hch, hdis = (v[f"heat_storage.{n}"] for n in ("hs_soc_kwh", "hs_charge_kw", "hs_discharge_kw"))
    np.testing.assert_allclose(hsoc[:, -1], 150, atol=TOL)
    assert np.all((hsoc >= -TOL) & (hsoc <= 300 + TOL))
    np.testing.assert_allclose(hsoc, 0.99 * prev(hsoc, 150) + hch - hdis, atol=TOL)


def test_recourse_cost_is_the_intraday_cost_q(chosen: RuralDayResult) -> None:
    """Q_k rebuilt from the dispatch and the prices (SPEC §3.8) equals the model's q_k."""
    v = wide(chosen.dispatch)
    s = chosen.day.scenario
    q = (v["grid.grid_buy_kw"] @ s.buy_price - v["grid.grid_sell_kw"] @ s.sell_price
         + 0.20 * v["biogas_generator.biogas_m3_per_h"].sum(axis=1)
         + 0.05 * (v["transferable_load.dr_up_kw"] + v["transferable_load.dr_down_kw"]).sum(axis=1)
         + 0.5 * v["pv.pv_curtailed_kw"].sum(axis=1)
         + s.voll_per_kwh * (v["slack.shed_kw"] + v["slack.spill_kw"] + v["slack.heat_shortfall_kw"]).sum(axis=1))
    np.testing.assert_allclose(q, chosen.evaluation.recourse_costs, atol=1e-6)
    c_da = float(s.da_price @ chosen.result.x["p_tr_kw"])
    assert chosen.result.first_stage_cost == pytest.approx(c_da, abs=1e-6)
    assert s.voll_per_kwh == pytest.approx(12.0)  # 10 x the highest price (intraday peak 1.2)


# ------------------------------------------------------------------------------------ methods


def test_method_orderings(results: dict[str, DROResult]) -> None:
    r = results
    h = {m: res.historical_cost for m, res in r.items()}
    w = {m: res.worst_cost for m, res in r.items()}
    ws = {m: res.worst_sample_cost for m, res in r.items()}
    tol = 1e-6 * max(abs(v) for v in h.values())
    # SO minimises the historical expected cost
    assert all(h["so"] <= h[m] + tol for m in h), h
    # RO protects the worst sample and pays for it on the historical distribution
    assert all(ws["ro"] <= ws[m] + tol for m in ws), ws
    assert all(h["ro"] >= h[m] - tol for m in h), h
    # CDRO with lambda in (0, 1) lies between SO and DRO on both metrics
    lam = r["cdro"].lam
    assert lam is not None and 0 < lam < 1
    assert h["so"] - tol <= h["cdro"] <= h["dro"] + tol
    assert r["cdro"].hist_bound == pytest.approx(h["so"] + lam * (h["dro"] - h["so"]), rel=1e-9)
    assert h["cdro"] <= r["cdro"].hist_bound * (1 + 1e-8) + 1e-8  # CD-1 holds
    assert w["dro"] - tol <= w["cdro"] <= w["so"] + tol
    # DRO minimises W; the spread must be real, or the test would be vacuous
    assert all(w["dro"] <= w[m] + tol for m in w), w
    assert h["dro"] > h["so"] + 1e-3 and w["so"] > w["dro"] + 1e-3


def test_ccg_equals_the_monolithic_dual_lp(day: RuralDay, results: dict[str, DROResult]) -> None:
    for method in ("dro", "cdro"):
        kw: dict[str, Any] = {"eps": 1e-9}
        if method == "cdro":  # the same Ē as the C&CG solve
            kw["hist_bound"] = results["cdro"].hist_bound
        ccg = day.solve(method, **kw)
        mono = day.solve(method, solver="monolithic", **({"hist_bound": kw["hist_bound"]} if "hist_bound" in kw
                                                         else {}))
        assert mono.solver == "monolithic" and ccg.solver == "ccg"
        assert mono.objective == pytest.approx(ccg.objective, rel=1e-6)
        # the monolithic plan is worth the same in W (alternative optima may differ in x)
        assert mono.worst_cost == pytest.approx(ccg.worst_cost, rel=1e-6)


def test_same_seed_gives_identical_results(scenario: RuralIESScenario) -> None:
    a = solve_rural_day(scenario, "dro", seed=11)
    b = solve_rural_day(scenario, "dro", seed=11)
    np.testing.assert_array_equal(a.day.samples.u_power, b.day.samples.u_power)
    np.testing.assert_array_equal(a.result.x["p_tr_kw"], b.result.x["p_tr_kw"])
    assert a.result.historical_cost == b.result.historical_cost
    assert a.result.worst_cost == b.result.worst_cost
    assert a.result.iterations == b.result.iterations
    pd.testing.assert_frame_equal(a.dispatch, b.dispatch)
    # a Generator gives the same as the seed it was made from; another seed gives other samples
    c = build_rural_day(scenario, np.random.default_rng(11))
    np.testing.assert_array_equal(c.samples.u_pv, a.day.samples.u_pv)
    d = build_rural_day(scenario, seed=12)
    assert not np.array_equal(d.samples.u_pv, a.day.samples.u_pv)
    with pytest.raises(ValueError, match="rng or seed, not both"):
        build_rural_day(scenario, np.random.default_rng(1), seed=1)


def test_bad_method_is_rejected(day: RuralDay) -> None:
    with pytest.raises(ValueError, match=r"method must be one of 'so', 'ro', 'dro', 'cdro', 'cvar', got 'saa'"):
        day.solve("saa")


# ------------------------------------------------------------------------------------ complete recourse


def extreme_samples() -> ErrorSamples:
    """Sample 0: loads +30 %, PV -30 %; sample 1: loads -30 %, PV +30 % (every hour)."""
    hi, lo = np.full((1, T), 0.3), np.full((1, T), -0.3)
    return ErrorSamples(u_pv=np.vstack([lo, hi]), u_power=np.vstack([hi, lo]), u_heat=np.vstack([hi, lo]),
                        p0=np.array([0.5, 0.5]), M=200)


def test_worst_case_recourse_needs_no_slack(scenario: RuralIESScenario) -> None:
    xd = build_rural_day(scenario, samples=extreme_samples())
    for bound in (scenario.da_trading.p_min_kw, scenario.da_trading.p_max_kw):
        ev, disp, _ = xd.dispatch({"p_tr_kw": np.full(T, bound)}, f"x={bound}")
        v = wide(disp)
        assert np.all(np.isfinite(ev.recourse_costs))
        for name in ("slack.shed_kw", "slack.spill_kw", "slack.heat_shortfall_kw"):
            assert np.max(v[name]) <= TOL, (bound, name)
    # P^tr = 0 with loads +30 % costs far more than with loads -30 %
    ev0 = xd.evaluate({"p_tr_kw": np.zeros(T)})
    assert ev0.recourse_costs[0] > ev0.recourse_costs[1] + 1000


def test_slacks_keep_the_recourse_complete_when_trading_is_cut(scenario: RuralIESScenario) -> None:
    cut = replace(scenario, intraday_trading=replace(scenario.intraday_trading, p_buy_max_kw=0.0, p_sell_max_kw=0.0))
    xd = build_rural_day(cut, samples=extreme_samples())
    ev, disp, _ = xd.dispatch({"p_tr_kw": np.zeros(T)}, "x=0")
    v = wide(disp)
    assert np.max(v["slack.shed_kw"][0]) > 100  # loads +30 % and no supply from the grid: load is shed
    ev_hi, disp_hi, _ = xd.dispatch({"p_tr_kw": np.full(T, 500.0)}, "x=500")
    v_hi = wide(disp_hi)
    # 500 kW bought day-ahead and no sale: PV is curtailed first (0.5/kWh), the rest is spilled (VOLL)
    assert np.max(v_hi["pv.pv_curtailed_kw"][1]) > 0 and np.max(v_hi["slack.spill_kw"][1]) > 0
    assert np.all(np.isfinite(ev.recourse_costs)) and np.all(np.isfinite(ev_hi.recourse_costs))
    # and the DRO still solves
    assert xd.solve("dro").worst_cost >= xd.solve("so").historical_cost - 1e-6

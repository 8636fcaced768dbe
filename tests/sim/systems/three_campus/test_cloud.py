"""Cloud DA–RT CVaR model of paper 000 (sim/systems/three_campus/cloud.py, SPEC §4, §6.3) on the bundled
three-campus scenario.

Every check recomputes its quantity from the long time-series table (or the scenario data) and compares
with what the model reports; hard-coded numbers are the SPEC §4.8 defaults, pinned by the first test.
Models use S = 2 or 3 RT scenarios (S = 12 is only built, never solved).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyomo.environ as pyo
import pytest

from agents.decision.uncertainty import cvar
from agents.milp import HighsModel, SolveError, SolverOptions
from scenarios.loader import load_three_campus
from scenarios.schema import ThreeCampusScenario
from sim.systems.three_campus.cloud import (
    PAPER_CASES,
    CaseResult,
    CloudCase,
    CloudDRO,
    CloudModel,
    ScenarioSet,
    weighted_cvar,
)

S = 2
TOL = 1e-6
N = {"da": 24, "rt": 96}
DT = {"da": 1.0, "rt": 0.25}
# SPEC §4.8 defaults
EPSILON, BETA = 0.10, 0.80
C_CHP, C_ESS, C_DR = 0.55, 0.05, 0.15
PENALTY = {"net": 0.30, "buy": 0.10, "sell": 0.10, "ch": 0.05, "dis": 0.05, "dr": 0.05, "chp": 0.05, "p2p": 0.05}
VALLEY, FLAT, PEAK = 0.38, 0.68, 1.05
SELL = 0.30
ESS_CAP, SOC_MIN, SOC_MAX, SOC_0, ETA = 300.0, 0.1, 0.9, 0.5, 0.95
GAMMA = 0.2
BINARIES_PER_PERIOD = 9  # 3 ESS modes + 3 grid modes + 3 line directions


def tou_buy_price() -> np.ndarray:
    """SPEC §4.8 TOU table; hour h covers [h-1, h)."""
    price = np.full(24, VALLEY)  # 00-07, 23-24
    for lo, hi in ((7, 10), (15, 18), (21, 23)):
        price[lo:hi] = FLAT
    for lo, hi in ((10, 15), (18, 21)):
        price[lo:hi] = PEAK
    return price


# ---------------------------------------------------------------------- result views


class View:
    """Wide access to a result's long time series: ``(stage, scenario, object, variable) -> array``."""

    def __init__(self, result: CaseResult, scenario: ThreeCampusScenario, n_scenarios: int) -> None:
        self.result = result
        self.sc = scenario
        self.n_scenarios = n_scenarios
        ts = result.timeseries
        assert list(ts.columns) == ["case", "stage", "scenario", "period", "park", "variable", "value", "unit"]
        assert set(ts["case"].astype(str)) == {result.case.name}
        df = ts.sort_values(["stage", "scenario", "park", "variable", "period"], kind="stable")
        self.data: dict[tuple[str, int, str, str], np.ndarray] = {}
        for (stage, s, obj, var), g in df.groupby(["stage", "scenario", "park", "variable"], observed=True,
                                                  sort=False):
            per = g["period"].to_numpy()
            assert np.array_equal(per, np.arange(1, N[str(stage)] + 1)), (stage, s, obj, var)
            self.data[(str(stage), int(s), str(obj), str(var))] = g["value"].to_numpy(dtype=float)
        assert {(k[0], k[1]) for k in self.data} == set(self.blocks())

    def blocks(self) -> list[tuple[str, int]]:
        return [("da", 0)] + [("rt", s) for s in range(1, self.n_scenarios + 1)]

    def has(self, stage: str, s: int, obj: str, var: str) -> bool:
        return (stage, s, obj, var) in self.data

    def __call__(self, stage: str, s: int, obj: str, var: str, required: bool = True) -> np.ndarray:
        key = (stage, s, obj, var)
        if key not in self.data:
            assert not required, f"missing {key}"
            return np.zeros(N[stage])
        return self.data[key]

    def net_shift(self, stage: str, s: int, park: str) -> np.ndarray:
        return self(stage, s, park, "dr_in_kw") - self(stage, s, park, "dr_out_kw")

    def line_inflow(self, stage: str, s: int, park: str) -> np.ndarray:
        """P2P-2 recomputed from the line flows."""
        out = np.zeros(N[stage])
        for ln in self.sc.lines:
            fw, rv = self(stage, s, ln.name, "p2p_forward_kw"), self(stage, s, ln.name, "p2p_reverse_kw")
            if ln.b == park:
                out += ln.efficiency * fw - rv
            elif ln.a == park:
                out += ln.efficiency * rv - fw
        return out

    def flow_energy(self, stage: str, s: int) -> float:
        return DT[stage] * sum(
            float(self(stage, s, ln.name, "p2p_forward_kw").sum() + self(stage, s, ln.name, "p2p_reverse_kw").sum())
            for ln in self.sc.lines
        )


def certified_slack(result: CaseResult) -> float:
    """Solver objective minus the best valid lower bound: the LP relaxation, or the last MILP's dual bound."""
    lower = result.stats[0].objective
    if result.stats[-1].is_mip:
        lower = max(lower, result.stats[-1].dual_bound)
    slack = result.solver_objective - lower
    assert slack >= -1e-6 * abs(result.solver_objective)
    return max(slack, 0.0)


def objective_terms(result: CaseResult, v: View) -> tuple[float, float]:
    """(mean scenario cost, flow tie-break energy) as they enter the solver objective."""
    n = v.n_scenarios
    flows = v.flow_energy("da", 0) + sum(v.flow_energy("rt", s) for s in range(1, n + 1)) / n
    return float(result.scenario_cost.mean()), flows


# --------------------------------------------------------------------- shared checks


def check_balance(v: View) -> None:
    """C-3 / C-4 for every park, stage, scenario and period."""
    for stage, s in v.blocks():
        for p in v.sc.parks:
            i = p.name
            gen_vars = [g for g in ("pv_kw", "wind_kw", "chp_kw") if v.has(stage, s, i, g)]
            assert gen_vars == [{"pv": "pv_kw", "wind": "wind_kw", "chp": "chp_kw"}[p.kind]], (stage, s, i)
            load = v(stage, s, i, "load_base_kw") + v.net_shift(stage, s, i)
            np.testing.assert_allclose(v(stage, s, i, "load_kw"), load, atol=1e-9)
            residual = (
                v(stage, s, i, "pv_kw", False) + v(stage, s, i, "wind_kw", False) + v(stage, s, i, "chp_kw", False)
                + v(stage, s, i, "ess_discharge_kw") - v(stage, s, i, "ess_charge_kw")
                + v(stage, s, i, "grid_buy_kw") - v(stage, s, i, "grid_sell_kw")
                + v(stage, s, i, "p2p_net_in_kw") - load
            )
            assert np.abs(residual).max() <= TOL, (stage, s, i, np.abs(residual).max())


def check_network_and_complementarity(v: View) -> None:
    """P2P-2 with lossless lines, and no pair used both ways (the solution is MILP-feasible)."""
    for stage, s in v.blocks():
        total = np.zeros(N[stage])
        for i in v.sc.park_names:
            port = v(stage, s, i, "p2p_net_in_kw")
            np.testing.assert_allclose(port, v.line_inflow(stage, s, i), atol=TOL)
            total += port
            for a, b in (("ess_charge_kw", "ess_discharge_kw"), ("grid_buy_kw", "grid_sell_kw")):
                both = np.minimum(v(stage, s, i, a), v(stage, s, i, b))
                assert both.max() <= TOL, (stage, s, i, a, np.flatnonzero(both > TOL) + 1)
        assert np.abs(total).max() <= TOL, (stage, s)
        for ln in v.sc.lines:
            both = np.minimum(v(stage, s, ln.name, "p2p_forward_kw"), v(stage, s, ln.name, "p2p_reverse_kw"))
            assert both.max() <= TOL, (stage, s, ln.name, np.flatnonzero(both > TOL) + 1)


def check_device_limits(v: View, ess_factor: float = 1.0) -> None:
    """RES-1, CHP-1/2, GRID-1, ESS-1...4, P2P-1 bounds on the reported solution."""
    for stage, s in v.blocks():
        dt = DT[stage]
        for p in v.sc.parks:
            i = p.name
            for q in ("pv", "wind"):
                if v.has(stage, s, i, f"{q}_kw"):
                    used, avail = v(stage, s, i, f"{q}_kw"), v(stage, s, i, f"{q}_available_kw")
                    assert (used >= -TOL).all() and (used <= avail + TOL).all(), (stage, s, i, q)
            if p.chp is not None:
                chp = v(stage, s, i, "chp_kw")
                assert (chp >= p.chp.p_min_kw - TOL).all() and (chp <= p.chp.p_max_kw + TOL).all()
                ramp = np.diff(np.concatenate([[p.chp.p_initial_kw], chp]))
                assert ramp.max() <= p.chp.ramp_up_kw_per_h * dt + TOL
                assert -ramp.min() <= p.chp.ramp_down_kw_per_h * dt + TOL
            for var in ("grid_buy_kw", "grid_sell_kw"):
                x = v(stage, s, i, var)
                assert (x >= -TOL).all() and (x <= p.grid.p_max_kw + TOL).all(), (stage, s, i, var)
            ch, dis = v(stage, s, i, "ess_charge_kw"), v(stage, s, i, "ess_discharge_kw")
            soc = v(stage, s, i, "soc_kwh")
            assert (ch >= -TOL).all() and (ch <= p.ess.p_charge_max_kw + TOL).all()
            assert (dis >= -TOL).all() and (dis <= p.ess.p_discharge_max_kw + TOL).all()
            cap = ESS_CAP * ess_factor
            assert soc.min() >= SOC_MIN * cap - TOL, (stage, s, i, soc.min())
            assert soc.max() <= SOC_MAX * cap + TOL, (stage, s, i, soc.max())
            assert soc[-1] == pytest.approx(SOC_0 * cap, abs=TOL)  # ESS-4
            prev = np.concatenate([[SOC_0 * cap], soc[:-1]])
            np.testing.assert_allclose(soc, prev + (ETA * ch - dis / ETA) * dt, atol=TOL)  # ESS-1
        for ln in v.sc.lines:
            assert v(stage, s, ln.name, "p2p_forward_kw").max() <= ln.cap_forward_kw + TOL
            assert v(stage, s, ln.name, "p2p_reverse_kw").max() <= ln.cap_reverse_kw + TOL


def check_all(v: View, ess_factor: float = 1.0) -> None:
    check_balance(v)
    check_network_and_complementarity(v)
    check_device_limits(v, ess_factor)


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def scenario() -> ThreeCampusScenario:
    return load_three_campus("three_campus")


@pytest.fixture(scope="module")
def model(scenario: ThreeCampusScenario) -> CloudModel:
    return CloudModel(scenario, n_scenarios=S)


@pytest.fixture(scope="module")
def proposed(model: CloudModel) -> CaseResult:
    return model.solve(CloudCase())


@pytest.fixture(scope="module")
def no_p2p(model: CloudModel, proposed: CaseResult) -> CaseResult:
    """Solved on the persistent model right after ``proposed`` (an update, not a rebuild)."""
    return model.solve(PAPER_CASES[1])


@pytest.fixture(scope="module")
def ess_half(model: CloudModel, proposed: CaseResult) -> CaseResult:
    return model.solve(CloudCase("ess_half", ess_capacity_factor=0.5))


@pytest.fixture(scope="module")
def milp_model(scenario: ThreeCampusScenario) -> CloudModel:
    return CloudModel(scenario, n_scenarios=S, formulation="milp", options=SolverOptions(time_limit_s=120))


@pytest.fixture(scope="module")
def milp_results(milp_model: CloudModel) -> dict[str, CaseResult]:
    return {c.name: milp_model.solve(c) for c in PAPER_CASES[:2]}


@pytest.fixture(scope="module")
def s3_results(scenario: ThreeCampusScenario) -> dict[str, CaseResult]:
    m = CloudModel(scenario, n_scenarios=3)
    return {c.name: m.solve(c) for c in PAPER_CASES}


# ------------------------------------------------------------------------------- tests


def test_bundled_scenario_has_the_spec_defaults_used_here(scenario: ThreeCampusScenario) -> None:
    assert scenario.uncertainty.epsilon == EPSILON and scenario.uncertainty.beta == BETA
    np.testing.assert_array_equal(scenario.buy_price, tou_buy_price())
    np.testing.assert_array_equal(scenario.sell_price, np.full(24, SELL))
    assert scenario.penalties.as_dict() == PENALTY
    assert scenario.objective.da_cost_weight == 0.0
    assert [p.kind for p in scenario.parks] == ["pv", "wind", "chp"]
    for p in scenario.parks:
        assert (p.ess.capacity_kwh, p.ess.soc_min_frac, p.ess.soc_max_frac, p.ess.soc_initial_frac) == (
            ESS_CAP, SOC_MIN, SOC_MAX, SOC_0)
        assert p.ess.eta_charge == p.ess.eta_discharge == ETA and p.ess.self_discharge_per_h == 0.0
        assert (p.ess.cost_per_kwh, p.dr.cost_per_kwh, p.dr.gamma) == (C_ESS, C_DR, GAMMA)
        assert p.chp is None or p.chp.cost_per_kwh == C_CHP
    assert len(scenario.lines) == 3 and all(ln.efficiency == 1.0 for ln in scenario.lines)


def test_paper_model_size_s12_milp_has_10584_binaries(scenario: ThreeCampusScenario) -> None:
    """SPEC §4.12: 10,584 = 9 x (24 + 12 x 96), all integer in the exact MILP (build only, no solve)."""
    m = CloudModel(scenario, formulation="milp")
    assert m.n_scenarios == 12
    assert m.hm.n_binaries_declared == 10584 == BINARIES_PER_PERIOD * (24 + 12 * 96)
    assert m.hm.n_integer_active == 10584
    pyomo_binaries = sum(1 for x in m.model.component_data_objects(pyo.Var, descend_into=True) if x.is_binary())
    assert pyomo_binaries == 10584


def test_model_size_s2_lp_has_no_exclusivity_rows(model: CloudModel, milp_model: CloudModel,
                                                  proposed: CaseResult) -> None:
    n_bin = BINARIES_PER_PERIOD * (24 + S * 96)
    assert model.hm.n_binaries_declared == milp_model.hm.n_binaries_declared == n_bin
    lp = proposed.stats[0]
    assert not lp.is_mip and lp.n_integer_active == 0 and lp.path == "lp"
    assert milp_model.hm.n_integer_active == n_bin
    # the relaxation keeps the binary columns but drops both exclusivity rows of every pair
    assert lp.n_cols == milp_model.hm.n_cols
    assert milp_model.hm.n_rows - lp.n_rows == 2 * n_bin
    assert milp_model.hm.n_nonzeros > lp.n_nonzeros


def test_rt_data_follow_the_bounded_error_scenarios(model: CloudModel, proposed: CaseResult,
                                                    scenario: ThreeCampusScenario) -> None:
    """C-1, C-2 and §6.3: forecast held to 15 min x (1 + e), |e| <= eps, scenario 1 adverse."""
    v = View(proposed, scenario, S)
    assert proposed.epsilon == EPSILON
    e = model.scenarios.errors(EPSILON)
    checked = 0
    for j, (park, q) in enumerate(model.scenarios.series):
        var = {"load_kw": "load_base_kw", "pv_kw": "pv_available_kw", "wind_kw": "wind_available_kw"}[q]
        fc = scenario.forecast[park][q]
        np.testing.assert_allclose(v("da", 0, park, var), fc, rtol=1e-12)
        held = np.repeat(fc, 4)
        for s in range(1, S + 1):
            rt = v("rt", s, park, var)
            np.testing.assert_allclose(rt, held * (1 + e[s - 1, j]), rtol=1e-12, atol=1e-12)
            ratio = rt[held > 0] / held[held > 0] - 1
            assert np.abs(ratio).max() <= EPSILON + 1e-12
        adverse = held * (1 + EPSILON if q == "load_kw" else 1 - EPSILON)
        np.testing.assert_allclose(v("rt", 1, park, var), adverse, rtol=1e-12)
        assert not np.allclose(v("rt", 2, park, var), adverse)
        checked += 1
    assert checked == 5  # load of the 3 parks, PV and wind


@pytest.mark.parametrize("name", ["proposed", "no_p2p", "ess_half", "milp_proposed"])
def test_solution_satisfies_balance_limits_and_complementarity(
    name: str, request: pytest.FixtureRequest, scenario: ThreeCampusScenario
) -> None:
    if name == "milp_proposed":
        result = request.getfixturevalue("milp_results")["proposed"]
    else:
        result = request.getfixturevalue(name)
    check_all(View(result, scenario, S), ess_factor=0.5 if name == "ess_half" else 1.0)


def test_soc_bounds_scale_with_the_ess_capacity_factor(ess_half: CaseResult, proposed: CaseResult,
                                                       scenario: ThreeCampusScenario) -> None:
    half = View(ess_half, scenario, S)
    full = View(proposed, scenario, S)
    for stage, s in half.blocks():
        for i in scenario.park_names:
            soc = half(stage, s, i, "soc_kwh")
            assert soc.min() >= SOC_MIN * ESS_CAP * 0.5 - TOL and soc.max() <= SOC_MAX * ESS_CAP * 0.5 + TOL
            assert soc[-1] == pytest.approx(SOC_0 * ESS_CAP * 0.5, abs=TOL)
    # the full-size store uses energy the half-size one does not have
    assert max(full(st, s, i, "soc_kwh").max() for st, s in full.blocks() for i in scenario.park_names) > (
        SOC_MAX * ESS_CAP * 0.5 + 1.0)
    assert ess_half.solver_objective >= proposed.solver_objective - certified_slack(proposed)


def test_dr_daily_shift_balance_and_limits(proposed: CaseResult, scenario: ThreeCampusScenario) -> None:
    v = View(proposed, scenario, S)
    shifted = 0.0
    for stage, s in v.blocks():
        for i in scenario.park_names:
            lin, lout, base = v(stage, s, i, "dr_in_kw"), v(stage, s, i, "dr_out_kw"), v(stage, s, i, "load_base_kw")
            assert lin.sum() * DT[stage] == pytest.approx(lout.sum() * DT[stage], abs=TOL)  # DR0-3
            assert (lin >= -TOL).all() and (lin <= GAMMA * base + TOL).all()  # DR0-2
            assert (lout >= -TOL).all() and (lout <= GAMMA * base + TOL).all()
            shifted += float(lout.sum())
    assert shifted > 1.0  # DR is used, so the checks above are not vacuous


def test_deviations_table_matches_the_timeseries(proposed: CaseResult, scenario: ThreeCampusScenario) -> None:
    """C-5 ... C-8: RT energy per hour minus DA energy, for every component and object."""
    v = View(proposed, scenario, S)
    dev = proposed.deviations

    def quantity(x: str, r: str, stage: str, s: int) -> np.ndarray:
        if x == "net":
            return v(stage, s, r, "grid_buy_kw") - v(stage, s, r, "grid_sell_kw") + v(stage, s, r, "p2p_net_in_kw")
        if x == "p2p":
            return v(stage, s, r, "p2p_forward_kw") - v(stage, s, r, "p2p_reverse_kw")
        if x == "dr":
            return v.net_shift(stage, s, r)
        name = {"ch": "ess_charge_kw", "dis": "ess_discharge_kw", "buy": "grid_buy_kw", "sell": "grid_sell_kw",
                "chp": "chp_kw"}[x]
        return v(stage, s, r, name)

    keys = [(x, p.name) for p in scenario.parks for x in ("net", "ch", "dis", "dr", "buy", "sell")]
    keys += [("chp", p.name) for p in scenario.parks if p.chp is not None]
    keys += [("p2p", ln.name) for ln in scenario.lines]
    assert set(zip(dev["component"], dev["object"], strict=True)) == set(keys)
    assert len(dev) == len(keys) * 24 * S
    nonzero = 0
    for s in range(1, S + 1):
        for x, r in keys:
            rows = dev[(dev["scenario"] == s) & (dev["component"] == x) & (dev["object"] == r)].sort_values("hour")
            assert list(rows["hour"]) == list(range(1, 25))
            expected = (quantity(x, r, "rt", s) * DT["rt"]).reshape(24, 4).sum(axis=1) - quantity(x, r, "da", 0)
            np.testing.assert_allclose(rows["deviation_kwh"].to_numpy(), expected, atol=TOL, err_msg=f"{x} {r} {s}")
            np.testing.assert_allclose(rows["abs_deviation_kwh"].to_numpy(), np.abs(expected), atol=TOL)
            nonzero += int((np.abs(expected) > 1e-3).sum())
    assert nonzero > 0


def test_scenario_costs_and_cvar_objective(proposed: CaseResult, scenario: ThreeCampusScenario) -> None:
    """C-9 ... C-11 recomputed from the timeseries and the SPEC prices; objective = CVaR (C-14)."""
    v = View(proposed, scenario, S)
    buy, dt = np.repeat(tou_buy_price(), 4), DT["rt"]
    op = np.zeros(S)
    for s in range(1, S + 1):
        for i in scenario.park_names:
            op[s - 1] += dt * float(
                buy @ v("rt", s, i, "grid_buy_kw") - SELL * v("rt", s, i, "grid_sell_kw").sum()
                + C_CHP * v("rt", s, i, "chp_kw", False).sum()
                + C_ESS * (v("rt", s, i, "ess_charge_kw") + v("rt", s, i, "ess_discharge_kw")).sum()
                + C_DR * (v("rt", s, i, "dr_in_kw") + v("rt", s, i, "dr_out_kw")).sum()
            )
    np.testing.assert_allclose(proposed.scenario_operation_cost, op, rtol=1e-9, atol=TOL)
    dev = proposed.deviations
    penalty = dev["component"].map(PENALTY).to_numpy() * dev["abs_deviation_kwh"].to_numpy()
    dev_cost = pd.Series(penalty).groupby(dev["scenario"].to_numpy()).sum().reindex(range(1, S + 1)).to_numpy()
    np.testing.assert_allclose(proposed.scenario_deviation_cost, dev_cost, rtol=1e-9, atol=TOL)
    np.testing.assert_allclose(proposed.scenario_cost, op + dev_cost, rtol=1e-9, atol=TOL)

    cost = proposed.scenario_cost
    assert proposed.objective == pytest.approx(cvar(cost, BETA), rel=1e-12)
    # with beta = 0.8 and S = 2 the tail holds 0.4 scenarios: CVaR is the costlier one
    assert proposed.objective == pytest.approx(cost.max(), rel=1e-12)
    # the solver's own objective: C-14 value + tie-breaks (mean cost weight, line-flow cost)
    mean, flows = objective_terms(proposed, v)
    w, f = scenario.objective.expected_cost_weight, scenario.objective.p2p_flow_cost_per_kwh
    assert w > 0 and f > 0
    assert proposed.solver_objective == pytest.approx(proposed.objective + w * mean + f * flows, rel=1e-7)
    assert proposed.kpis["cvar"] == pytest.approx(proposed.objective, rel=1e-12)


def test_kpis_follow_their_definitions(proposed: CaseResult, scenario: ThreeCampusScenario) -> None:
    """SPEC §4.10 with uniform weights over the RT scenarios."""
    v = View(proposed, scenario, S)
    k = proposed.kpis
    dt, rts = DT["rt"], range(1, S + 1)
    parks, lines = scenario.park_names, [ln.name for ln in scenario.lines]

    def mean_energy(objs: list[str], *names: str) -> float:
        return sum(float(v("rt", s, o, n, False).sum()) for s in rts for o in objs for n in names) * dt / S

    cost = proposed.scenario_cost
    assert k["objective"] == pytest.approx(proposed.objective, rel=1e-12)
    assert k["expected_cost"] == pytest.approx(cost.mean(), rel=1e-12)
    assert k["max_scenario_cost"] == pytest.approx(cost.max(), rel=1e-12)
    assert k["scenario_cost_std"] == pytest.approx(np.std(cost), rel=1e-9)
    assert k["mean_deviation_cost"] == pytest.approx(proposed.scenario_deviation_cost.mean(), rel=1e-12)
    assert k["grid_purchase_kwh"] == pytest.approx(mean_energy(parks, "grid_buy_kw"), rel=1e-9)
    assert k["grid_sale_kwh"] == pytest.approx(mean_energy(parks, "grid_sell_kw"), rel=1e-9, abs=1e-9)
    assert k["p2p_kwh"] == pytest.approx(mean_energy(lines, "p2p_forward_kw", "p2p_reverse_kw"), rel=1e-9)
    assert k["ess_throughput_kwh"] == pytest.approx(mean_energy(parks, "ess_charge_kw", "ess_discharge_kw"), rel=1e-9)
    assert k["dr_shifted_kwh"] == pytest.approx(mean_energy(parks, "dr_out_kw"), rel=1e-9)
    used = mean_energy(parks, "pv_kw", "wind_kw")
    avail = mean_energy(parks, "pv_available_kw", "wind_available_kw")
    assert 0 < k["renewable_utilisation"] <= 1
    assert k["renewable_utilisation"] == pytest.approx(used / avail, rel=1e-9)


@pytest.mark.parametrize("case", ["proposed", "no_p2p"])
def test_lp_with_certificate_equals_the_full_milp(
    case: str, request: pytest.FixtureRequest, milp_results: dict[str, CaseResult], scenario: ThreeCampusScenario
) -> None:
    auto: CaseResult = request.getfixturevalue(case)
    milp = milp_results[case]
    last = milp.stats[-1]
    assert milp.path == f"milp({BINARIES_PER_PERIOD * (24 + S * 96)} binaries)"
    assert last.is_mip and last.status == "optimal" and last.mip_gap <= 1e-4
    assert auto.path.startswith(("lp-certified", "lp+fix(", "lp+milp("))
    a, m = auto.solver_objective, milp.solver_objective
    # the LP relaxation bounds the MILP from below; the certified solution is MILP-feasible
    assert auto.stats[0].objective <= m + 1e-6 * abs(m)
    assert a >= last.dual_bound - 1e-6 * abs(m)
    assert abs(a - m) <= (1e-4 + last.mip_gap) * abs(m) + 1e-6
    assert auto.objective == pytest.approx(milp.objective, rel=1e-4 + last.mip_gap)
    check_network_and_complementarity(View(milp, scenario, S))


def test_case_ordering_and_disabled_devices(s3_results: dict[str, CaseResult], scenario: ThreeCampusScenario) -> None:
    """S = 3: removing P2P, DR or storage cannot lower the optimum; the removed device is idle."""
    prop = s3_results["proposed"]
    slack = certified_slack(prop)
    for name in ("no_p2p", "no_dr", "no_ess"):
        r = s3_results[name]
        assert prop.solver_objective <= r.solver_objective + slack + 1e-6 * abs(r.solver_objective), name
        assert prop.objective <= r.objective * (1 + 1e-6) + slack, name
    assert s3_results["no_p2p"].kpis["p2p_kwh"] == 0.0
    assert s3_results["no_ess"].kpis["ess_throughput_kwh"] == 0.0
    assert s3_results["no_dr"].kpis["dr_shifted_kwh"] == 0.0
    assert min(prop.kpis[k] for k in ("p2p_kwh", "ess_throughput_kwh", "dr_shifted_kwh")) > 1.0
    for name, r in s3_results.items():
        v = View(r, scenario, 3)
        check_all(v)
        for stage, s in v.blocks():
            for i in scenario.park_names:
                if name == "no_ess":
                    assert np.abs(v(stage, s, i, "ess_charge_kw")).max() == 0.0
                    assert np.abs(v(stage, s, i, "ess_discharge_kw")).max() == 0.0
                    np.testing.assert_allclose(v(stage, s, i, "soc_kwh"), SOC_0 * ESS_CAP, atol=TOL)
                if name == "no_dr":
                    assert np.abs(v.net_shift(stage, s, i)).max() == 0.0
                    assert v(stage, s, i, "dr_in_kw").max() == 0.0
            if name == "no_p2p":
                assert v.flow_energy(stage, s) == 0.0


def test_persistent_updates_restore_the_model(model: CloudModel, proposed: CaseResult, no_p2p: CaseResult,
                                              scenario: ThreeCampusScenario) -> None:
    """proposed -> no_p2p -> proposed on one persistent HiGHS instance gives the first answer again."""
    assert no_p2p.solver_objective > proposed.solver_objective
    reused = model.solve(CloudCase("proposed_again"))  # same problem: no solve, relabelled result
    assert reused.reused_from == "proposed" and reused.objective == proposed.objective
    assert set(reused.timeseries["case"].astype(str)) == {"proposed_again"}
    model._solved.clear()  # force a real re-solve after the no_p2p update
    again = model.solve(CloudCase())
    assert again.reused_from is None
    assert again.stats[0].objective == pytest.approx(proposed.stats[0].objective, rel=1e-7)  # LP relaxation
    assert again.solver_objective == pytest.approx(proposed.solver_objective, rel=1e-7)
    assert again.objective == pytest.approx(proposed.objective, rel=1e-7)
    check_all(View(again, scenario, S))
    # the solver state between cases is pure LP again (no stale integer columns)
    assert again.stats[0].n_integer_active == 0 and not again.stats[0].is_mip


def test_fresh_model_without_line_capacity_matches_the_updated_no_p2p(no_p2p: CaseResult,
                                                                       scenario: ThreeCampusScenario) -> None:
    lines = tuple(dataclasses.replace(ln, cap_forward_kw=0.0, cap_reverse_kw=0.0) for ln in scenario.lines)
    fresh = CloudModel(dataclasses.replace(scenario, lines=lines), n_scenarios=S).solve(CloudCase("fresh_no_p2p"))
    assert fresh.stats[0].objective == pytest.approx(no_p2p.stats[0].objective, rel=1e-7)
    assert fresh.solver_objective == pytest.approx(no_p2p.solver_objective, rel=1e-7)
    assert fresh.objective == pytest.approx(no_p2p.objective, rel=1e-7)
    assert no_p2p.kpis["p2p_kwh"] == 0.0
    assert (no_p2p.deviations.loc[no_p2p.deviations["component"] == "p2p", "abs_deviation_kwh"] == 0.0).all()


def test_epsilon_sensitivity_uses_common_random_numbers(model: CloudModel, proposed: CaseResult,
                                                        scenario: ThreeCampusScenario) -> None:
    sset = ScenarioSet(scenario, S, scenario.seed)
    e10, e05 = sset.errors(0.10), sset.errors(0.05)
    np.testing.assert_allclose(e05, 0.5 * e10, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(sset.unit, model.scenarios.unit)
    # the persistent model picks up the new data (C-1) and satisfies its balance with it
    r = model.solve(CloudCase("eps05", epsilon=0.05))
    assert r.epsilon == 0.05
    v = View(r, scenario, S)
    vals = sset.values(0.05)
    for (park, q), arr in vals.items():
        var = {"load_kw": "load_base_kw", "pv_kw": "pv_available_kw", "wind_kw": "wind_available_kw"}[q]
        for s in range(1, S + 1):
            np.testing.assert_allclose(v("rt", s, park, var), arr[s - 1], rtol=1e-12)
    check_all(v)
    assert r.objective < proposed.objective  # a smaller error bound makes the adverse scenario cheaper


def test_same_seed_reproduces_and_another_seed_differs(proposed: CaseResult, scenario: ThreeCampusScenario) -> None:
    same = CloudModel(scenario, n_scenarios=S).solve()
    cols = ["stage", "scenario", "period", "park", "variable", "unit"]
    for c in cols:
        np.testing.assert_array_equal(same.timeseries[c].astype(str), proposed.timeseries[c].astype(str))
    np.testing.assert_array_equal(same.timeseries["value"].to_numpy(), proposed.timeseries["value"].to_numpy())
    np.testing.assert_array_equal(same.scenario_cost, proposed.scenario_cost)

    other = CloudModel(scenario, n_scenarios=S, seed=scenario.seed + 1).solve()
    a, b = View(proposed, scenario, S), View(other, scenario, S)
    for i in scenario.park_names:
        np.testing.assert_array_equal(a("da", 0, i, "load_base_kw"), b("da", 0, i, "load_base_kw"))  # forecast
        np.testing.assert_array_equal(a("rt", 1, i, "load_base_kw"), b("rt", 1, i, "load_base_kw"))  # adverse
        assert not np.allclose(a("rt", 2, i, "load_base_kw"), b("rt", 2, i, "load_base_kw"))
    assert not np.allclose(proposed.timeseries["value"].to_numpy(), other.timeseries["value"].to_numpy())
    assert not np.allclose(proposed.scenario_cost, other.scenario_cost)


def test_expected_cost_weight_moves_the_cvar_by_at_most_its_bound(proposed: CaseResult,
                                                                  scenario: ThreeCampusScenario) -> None:
    """Weight w on the mean cost moves the CVaR by <= w (max C - min C) (+ solver slack and flow tie-break)."""
    pure = dataclasses.replace(scenario, objective=dataclasses.replace(scenario.objective, expected_cost_weight=0.0))
    r0 = CloudModel(pure, n_scenarios=S).solve()
    v0, vw = View(r0, scenario, S), View(proposed, scenario, S)
    w, f = scenario.objective.expected_cost_weight, scenario.objective.p2p_flow_cost_per_kwh
    _, flows0 = objective_terms(r0, v0)
    _, flows_w = objective_terms(proposed, vw)
    # the weight really is 0 in the pure model: its solver objective is CVaR + flow cost only
    assert r0.solver_objective == pytest.approx(r0.objective + f * flows0, rel=1e-7)
    cost = proposed.scenario_cost
    bound = (w * (cost.max() - cost.min()) + 2 * (f * abs(flows0 - flows_w) + certified_slack(r0)
                                                 + certified_slack(proposed)) + 1e-6 * abs(proposed.objective))
    assert abs(r0.objective - proposed.objective) <= bound
    assert r0.objective <= proposed.objective + f * abs(flows0 - flows_w) + certified_slack(r0) + 1e-6


def test_beta_zero_override_minimises_the_mean_scenario_cost(proposed: CaseResult,
                                                            scenario: ThreeCampusScenario) -> None:
    """beta = 0: the envelope C-12 is the uniform distribution, so C-14 is the mean cost (not the max)."""
    r = CloudModel(scenario, n_scenarios=S, beta=0.0).solve()
    cost = r.scenario_cost
    assert cost.max() - cost.min() > 1.0  # mean and max differ, so the check below can fail
    assert r.objective == pytest.approx(cost.mean(), rel=1e-12)
    mean, flows = objective_terms(r, View(r, scenario, S))
    w, f = scenario.objective.expected_cost_weight, scenario.objective.p2p_flow_cost_per_kwh
    assert r.solver_objective == pytest.approx((1 + w) * mean + f * flows, rel=1e-7)
    # min mean <= min CVaR (the mean never exceeds the CVaR of the same costs)
    assert r.objective <= proposed.objective + certified_slack(proposed) + certified_slack(r)


def test_infeasible_case_raises_solve_error_naming_case_and_family(scenario: ThreeCampusScenario) -> None:
    """No grid, storage, DR or P2P: the PV park cannot meet its load at night."""
    parks = tuple(dataclasses.replace(p, grid=dataclasses.replace(p.grid, p_max_kw=0.0)) for p in scenario.parks)
    m = CloudModel(dataclasses.replace(scenario, parks=parks), n_scenarios=S)
    with pytest.raises(SolveError) as info:
        m.solve(CloudCase("islanded", p2p=False, dr=False, ess=False))
    msg = str(info.value)
    assert "islanded" in msg and "infeasible" in msg
    assert "def_balance" in msg
    assert info.value.status in ("infeasible", "unbounded_or_infeasible")
    families = [fam for fam, _, _ in info.value.diagnosis]
    assert families and any(fam.endswith("park[PV].def_balance") for fam in families)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"formulation": "lp"}, "formulation"), ({"n_scenarios": 0}, "n_scenarios"), ({"beta": 1.0}, "beta"),
     ({"epsilon": -0.1}, "epsilon")],
)
def test_invalid_model_arguments_raise(kwargs: dict[str, Any], match: str, scenario: ThreeCampusScenario) -> None:
    with pytest.raises(ValueError, match=match):
        CloudModel(scenario, **kwargs)


def test_case_keys_identify_the_optimisation_problem() -> None:
    assert CloudCase("a").key(0.1) == CloudCase("b", epsilon=0.1).key(0.1)
    assert CloudCase("a").key(0.1) != CloudCase("a", p2p=False).key(0.1)
    assert CloudCase("a").key(0.1) != CloudCase("a", epsilon=0.05).key(0.1)
    assert [c.name for c in PAPER_CASES] == ["proposed", "no_p2p", "no_dr", "no_ess"]
    assert math.isclose(CloudCase().ess_capacity_factor, 1.0)


# --------------------------------------------------------------------- the DA stage by TwoStageDRO (CloudDRO)


def _no_tie_breaks(scenario: ThreeCampusScenario) -> ThreeCampusScenario:
    """The paper's pure objective: no DA cost, no expected-cost or line-flow tie-break."""
    obj = dataclasses.replace(scenario.objective, da_cost_weight=0.0, expected_cost_weight=0.0,
                              p2p_flow_cost_per_kwh=0.0)
    return dataclasses.replace(scenario, objective=obj)


@pytest.mark.parametrize("weights", [None, (0.2, 0.3, 0.5)], ids=["uniform", "probabilities"])
def test_cvar_by_two_stage_dro_is_the_cloud_objective(scenario: ThreeCampusScenario,
                                                      weights: tuple[float, ...] | None) -> None:
    """CloudDRO's ``cvar`` (TwoStageDRO, first stage = DA block, recourse = RT scenario block with C-9) has the
    optimal value of the cloud model's CVaR objective C-14 on the same data (its LP relaxation, which is what
    CloudDRO solves; equal to the certified optimum when the cloud model's LP certificate holds)."""
    sc = _no_tie_breaks(scenario)
    n, beta = 3, 0.5  # beta 0.5: the CVaR is not just the costliest scenario
    cm = CloudModel(sc, n_scenarios=n, beta=beta, scenario_weights=weights is not None)
    dro = CloudDRO(sc, n_scenarios=n)
    if weights is not None:
        cm.set_data(probabilities=np.array(weights))
        dro.set_data(probabilities=np.array(weights))
    p = np.full(n, 1.0 / n) if weights is None else np.array(weights)
    np.testing.assert_array_equal(dro.probabilities, p)
    r = cm.solve(cold_start=True)
    plan = dro.solve("cvar", beta=beta)
    lp_value = r.stats[0].objective  # the cloud model's LP relaxation (its first solve)
    assert plan.objective == pytest.approx(lp_value, rel=1e-7, abs=1e-6)
    assert plan.objective <= r.objective + 1e-6 * abs(r.objective)  # the relaxation bounds the certified optimum
    if r.path == "lp-certified":
        assert plan.objective == pytest.approx(r.objective, rel=1e-7)
    # the objective is c'x + CVaR_beta of the plan's scenario costs C_s under p (c'x = 0 here)
    assert plan.result.first_stage_cost == pytest.approx(0.0, abs=1e-9)
    assert plan.objective == pytest.approx(weighted_cvar(plan.scenario_cost, p, beta), rel=1e-9, abs=1e-6)
    np.testing.assert_allclose(plan.result.recourse_costs, plan.scenario_cost, rtol=1e-9, atol=1e-6)
    assert plan.objective < plan.scenario_cost.max() - 1.0  # a tail of more than one scenario


def test_cloud_dro_first_stage_is_the_da_block_and_cases_apply(scenario: ThreeCampusScenario,
                                                               model: CloudModel) -> None:
    """The first stage is every continuous DA variable of the cloud model, in its order; the P2P case applies."""
    dro = CloudDRO(scenario, n_scenarios=S)
    da = [v.getname(fully_qualified=True, relative_to=model.model.da)
          for v in model.model.da.component_data_objects(pyo.Var, descend_into=True) if v.is_continuous()]
    assert [v.getname(fully_qualified=True, relative_to=dro.model.fs) for v in dro.da_vars] == da
    with_p2p = dro.solve("so")
    lines = dro.model.fs.lines
    assert with_p2p.da_values.size == len(da) == sum(a.size for a in with_p2p.result.x.values())
    flows = [dro.hm.values(lines.p_forward_kw), dro.hm.values(lines.p_reverse_kw)]
    assert max(float(f.max()) for f in flows) > 1.0  # the lines are used
    alone = dro.solve("so", CloudCase("no_p2p", p2p=False))
    for b in [dro.model.fs] + [dro.model.rec[k] for k in dro.model.K]:
        assert float(np.abs(dro.hm.values(b.lines.p_forward_kw)).max()) <= 1e-9
        assert float(np.abs(dro.hm.values(b.lines.p_reverse_kw)).max()) <= 1e-9
    assert alone.result.historical_cost >= with_p2p.result.historical_cost - 1e-6
    again = dro.solve("so")  # the case is re-applied and the master reset: the same plan
    np.testing.assert_array_equal(again.da_values, with_p2p.da_values)
    assert again.objective == with_p2p.objective


def test_cloud_dro_refuses_bad_input(scenario: ThreeCampusScenario) -> None:
    unc = dataclasses.replace(scenario.uncertainty, history_days=3)
    with pytest.raises(ValueError, match="history_days"):
        CloudDRO(dataclasses.replace(scenario, uncertainty=unc), n_scenarios=4)
    dro = CloudDRO(scenario, n_scenarios=S)
    with pytest.raises(ValueError, match="probabilities"):
        dro.set_data(probabilities=np.array([0.7, 0.7]))
    with pytest.raises(ValueError, match="method must be one of"):
        dro.solve("minimax")


def test_exclusivity_rows_switched_as_deltas_match_a_fresh_compile(
        scenario: ThreeCampusScenario, lp_differences: Callable[..., list[str]]) -> None:
    """The MILP fallback's rows reach HiGHS as deltas (addRows, then free bounds).

    The file's day with S = 1 needs the fallback; after it the live LP is the fresh compile again (no free
    row left behind to change a later cold solve).  Enforcing the storage and grid exclusivity of every DA
    hour on the live model gives the MILP optimum of a model compiled afresh with the same rows; releasing
    them gives the LP optimum back, and the binaries obey their rows (one side of each pair at zero) while
    enforced.
    """
    cm = CloudModel(scenario, n_scenarios=1)
    hm = cm.hm
    lp = cm.solve(CloudCase())
    assert lp.path.startswith("lp+milp(") and [st.path for st in lp.stats][-1] == "milp-fallback"
    assert lp_differences(hm) == []
    rows0 = list(hm.compiled.rows)
    groups = [g for g in cm._groups if g.name in ("ess", "grid") and len(g.keys) == 24]  # the DA stage's pairs
    assert len(groups) == 6
    every = np.ones(24, dtype=bool)
    for g in groups:
        g.set_rows_active(every, True, hm)
    known = {id(c) for c in rows0}
    added = sum(id(c) not in known for g in groups for c in g.comp.rows(g.keys))
    assert added >= 24 * 6
    assert hm.n_rows == len(rows0) + added
    assert all(a is b for a, b in zip(rows0, hm.compiled.rows, strict=False))  # appended: rows keep their numbers
    binaries = np.concatenate([g.binary for g in groups])
    hm.set_integer(binaries)
    milp = hm.solve()
    x = hm.x
    for g in groups:
        assert g.enforced.all()
        assert (np.minimum(x[g.pos], x[g.neg]) <= 1e-6).all(), g.name
    ref = CloudModel(scenario, n_scenarios=1)  # the same rows compiled from scratch
    for g in (g for g in ref._groups if g.name in ("ess", "grid") and len(g.keys) == 24):
        g.comp.enforce(g.keys)
    fresh = HighsModel(ref.model, "fresh", relax_integrality=True)
    fresh.set_integer(np.concatenate([fresh.columns_of(g.comp.binary, g.keys) for g in ref._groups
                                      if g.name in ("ess", "grid") and len(g.keys) == 24]))
    assert fresh.n_rows == hm.n_rows
    assert milp.objective == pytest.approx(fresh.solve().objective, rel=2e-4)  # both within the 1e-4 MIP gap
    assert milp.objective >= lp.stats[0].objective - 1e-6
    for g in groups:
        g.set_rows_active(every, False, hm)
        assert not g.enforced.any() and not any(c.active for c in g.comp.rows(g.keys))
    hm.relax_all()
    hm.clear_solver()
    again = hm.solve()
    assert hm.n_rows == len(rows0) + added  # released rows stay as free rows (-inf, inf)
    assert again.objective == pytest.approx(lp.stats[0].objective, rel=1e-9)

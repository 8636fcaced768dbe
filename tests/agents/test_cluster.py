"""Cluster agent of agents/cluster.py (SPEC §5.4, §5.5): build counts, hand-computed optima on 3-period
horizons, CL-1 conservation, the standalone cost C0 (ports fixed to 0), the persistent standalone model,
the LP certificate and its MILP fallback, and a two-cluster coalition P1 (composed here, as a coordinator
would, with CL-2) checked against an independent scipy formulation.

Every expected optimum is worked out by hand in the comment beside it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import mesa
import numpy as np
import pyomo.environ as pyo
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import lil_matrix

from agents.cluster import (
    DEFAULT_CLUSTER_ESS,
    ClusterAgent,
    ClusterData,
    ClusterParams,
    ClusterSolution,
    build_cluster,
    extract_cluster,
    set_cluster_data,
    solve_certified,
)
from agents.devices.core import RT_HORIZON, Horizon
from agents.devices.storage import BatteryParams
from agents.milp import HighsModel
from market.interfaces import Offer

TOL = 1e-6


def n_data(block: pyo.Block, ctype: type) -> int:
    return sum(1 for _ in block.component_data_objects(ctype, active=True, descend_into=True))


def n_binaries(block: pyo.Block) -> int:
    return sum(1 for v in block.component_data_objects(pyo.Var, descend_into=True) if v.is_binary())


# ------------------------------------------------------------------------------------ tiny cases

H3 = Horizon(3, 1.0)
PART3 = ("valley", "valley", "peak")
PRICES = {"valley": 0.07, "peak": 0.16}
# lossless store: 200 kWh, empty at start and end, 300 kW each way
ESS_A = BatteryParams(capacity_kwh=200, p_charge_max_kw=300, p_discharge_max_kw=300, soc_min_frac=0.0,
                      soc_max_frac=1.0, soc_initial_frac=0.0, eta_charge=1.0, eta_discharge=1.0)
NO_ESS = BatteryParams(capacity_kwh=0, p_charge_max_kw=0, p_discharge_max_kw=0, soc_min_frac=0.0,
                       soc_max_frac=1.0, soc_initial_frac=0.0)


def params_a(**kw: object) -> ClusterParams:
    """Cluster A: PV 400 kW at bus 2, the lossless store at bus 1."""
    base: dict[str, object] = dict(name="A", buses=(1, 2), leading_bus=1, pv_sites={2: 400.0}, ess=ESS_A,
                                   upstream_prices=PRICES, partition=PART3)
    base.update(kw)
    return ClusterParams(**base)  # type: ignore[arg-type]


DATA_A = ClusterData(load_kw=np.array([100.0, 100.0, 200.0]), pv_available_kw={2: np.array([400.0, 0.0, 0.0])})


def params_b() -> ClusterParams:
    """Cluster B: wind 100 kW at bus 5, no storage."""
    return ClusterParams(name="B", buses=(5, 6), leading_bus=5, wind_sites={5: 100.0}, ess=NO_ESS,
                         upstream_prices=PRICES, partition=PART3)


DATA_B = ClusterData(load_kw=np.array([150.0, 50.0, 100.0]), wind_available_kw={5: np.array([0.0, 100.0, 0.0])})


def agent(params: ClusterParams, horizon: Horizon = H3) -> ClusterAgent:
    return ClusterAgent(mesa.Model(rng=0), params, horizon)


def full_milp_cost(params: ClusterParams, horizon: Horizon, data: ClusterData) -> tuple[float, HighsModel,
                                                                                        ClusterSolution]:
    """A fresh build with every exclusivity row and integer binaries, ports fixed to 0 (the exact C0 MILP)."""
    m = pyo.ConcreteModel()
    m.c = pyo.Block()
    h = build_cluster(m.c, params, horizon, data, exclusive=True)
    for t in horizon.periods:
        m.c.p_in_kw[t].fix(0)
        m.c.p_out_kw[t].fix(0)
    m.obj = pyo.Objective(expr=m.c.cost)
    hm = HighsModel(m, "fresh", relax_integrality=False)
    st = hm.solve()
    assert st.is_mip
    return st.objective, hm, extract_cluster(hm, h, params, horizon)


# ------------------------------------------------------------------------------------ build


def c2_like() -> tuple[ClusterParams, ClusterData]:
    """SPEC §5.1 cluster C2 (PV 9: 1100, 15: 600; wind 12: 600), default ESS and prices, 96 periods."""
    p = ClusterParams(name="C2", buses=tuple(range(9, 19)), leading_bus=9, pv_sites={9: 1100.0, 15: 600.0},
                      wind_sites={12: 600.0})
    k = np.arange(96)
    shape = np.clip(np.sin((k - 24) / 48 * np.pi), 0.0, None)
    d = ClusterData(load_kw=700 + 250 * np.sin(k / 96 * 2 * np.pi - 1.0),
                    pv_available_kw={9: 1000 * shape, 15: 550 * shape},
                    wind_available_kw={12: 300 + 200 * np.cos(k / 15)})
    return p, d


@pytest.mark.parametrize(("exclusive", "rows"), [(True, 577), (False, 193)])
def test_build_counts(exclusive: bool, rows: int) -> None:
    # vars: 3 sites x 96 + ess (ch, dis, soc, mode) 4 x 96 + grid (buy, sell, mode) 3 x 96 + ports (in, out, y) 3 x 96
    #       + spill slack 96
    # rows: ESS-1 96 + ESS-4 1 + CL-1 96 (+ ESS-3 2 x 96 + exchange 2 x 96 when exclusive); no GRID-1 rows without sale
    p, d = c2_like()
    m = pyo.ConcreteModel()
    m.c = pyo.Block()
    h = build_cluster(m.c, p, RT_HORIZON, d, exclusive=exclusive)
    assert n_data(m, pyo.Var) == 96 * (3 + 4 + 3 + 3 + 1) == 1344
    assert n_binaries(m) == 3 * 96
    assert n_data(m, pyo.Constraint) == rows
    assert len(m.c.def_balance) == 96
    assert [c.name for c in h.complementarity] == ["ess", "exchange"]
    assert {"pv9_kw", "pv15_kw", "wind12_kw", "pv9_available_kw", "ess_charge_kw", "soc_kwh", "grid_buy_kw",
            "p_in_kw", "p_out_kw", "load_kw"} <= set(h.outputs)
    # no sale: the sale column and the grid mode are fixed
    assert all(m.c.grid.p_sell_kw[t].fixed and m.c.grid.p_sell_kw[t].value == 0 for t in RT_HORIZON.periods)
    assert m.c.p_in_kw[1].bounds == (0, 2000.0)
    assert isinstance(m.c.load_kw, pyo.Param) and m.c.load_kw.mutable


def test_allow_sale_lists_grid_pair_and_frees_sale() -> None:
    m = pyo.ConcreteModel()
    m.c = pyo.Block()
    h = build_cluster(m.c, params_a(allow_sale=True, feed_in_price=0.02), H3, DATA_A)
    assert [c.name for c in h.complementarity] == ["ess", "grid", "exchange"]
    assert not m.c.grid.p_sell_kw[1].fixed
    assert len(m.c.grid.res_buy) == 3


def test_default_ess_and_costs_follow_spec() -> None:
    e = DEFAULT_CLUSTER_ESS
    assert (e.capacity_kwh, e.p_charge_max_kw, e.p_discharge_max_kw) == (1000, 250, 250)
    assert (e.eta_charge, e.eta_discharge, e.self_discharge_per_h) == (0.95, 0.95, 0.001)
    assert (e.soc_min_frac, e.soc_max_frac, e.soc_initial_frac) == (0.1, 0.9, 0.5)
    p = ClusterParams(name="C", buses=(1,), leading_bus=1)
    assert (p.c_pvu, p.eta_pv, p.eta_wt, p.lambda_om, p.p_exchange_max_kw, p.allow_sale) == (
        0.03, 0.10, 0.10, 0.01, 2000.0, False)
    prices = p.buy_prices(RT_HORIZON)  # hourly TOU held onto the 15-min grid
    assert prices.shape == (96,)
    assert prices[0] == 0.07 and prices[4 * 9] == 0.16 and prices[4 * 13] == 0.11


# ------------------------------------------------------------------------------------ solution


def test_standalone_hand_computed_store_curtail_buy() -> None:
    # t1: PV 400, load 100 -> surplus 300; the store takes 200 (full), 100 is curtailed (no sale).
    # t2: no PV, buy 100 at 0.07.  t3: load 200 at 0.16 -> the store discharges 200 (cheaper than
    # t2: 0.16 > 0.07), ending empty (ESS-4).
    # CL-3: PV used 300 * 0.03 = 9; curtailed 100 * 0.10 = 10; O&M 0.01 * (200 + 200) = 4; grid 7 -> 30.
    sol = agent(params_a()).standalone_cost(DATA_A)
    assert sol.path == "lp-certified"
    assert sol.cost == pytest.approx(30.0, abs=TOL)
    assert sol.costs == pytest.approx({"grid": 7.0, "pv_use": 9.0, "curtailment": 10.0, "storage": 4.0,
                                       "spill": 0.0, "total": 30.0}, abs=TOL)
    pr = sol.profiles
    np.testing.assert_allclose(pr["pv2_kw"], [300, 0, 0], atol=TOL)
    np.testing.assert_allclose(pr["ess_charge_kw"], [200, 0, 0], atol=TOL)
    np.testing.assert_allclose(pr["ess_discharge_kw"], [0, 0, 200], atol=TOL)
    np.testing.assert_allclose(pr["soc_kwh"], [200, 200, 0], atol=TOL)
    np.testing.assert_allclose(pr["grid_buy_kw"], [0, 100, 0], atol=TOL)
    np.testing.assert_allclose(pr["grid_sell_kw"], 0, atol=TOL)
    np.testing.assert_allclose(sol.exchange_kw, 0, atol=TOL)
    assert sol.curtailment_kwh == pytest.approx(100.0)
    np.testing.assert_allclose(sol.balance_residual_kw(), 0, atol=TOL)


def test_sale_when_allowed_replaces_curtailment() -> None:
    # as above, but the 100 kW surplus at t1 is sold at 0.02 (using it costs 0.03, curtailing 0.10):
    # PV 400 * 0.03 = 12; grid 7 - 0.02 * 100 = 5; O&M 4; no curtailment -> 21.
    sol = agent(params_a(allow_sale=True, feed_in_price=0.02)).standalone_cost(DATA_A)
    assert sol.cost == pytest.approx(21.0, abs=TOL)
    np.testing.assert_allclose(sol.profiles["grid_sell_kw"], [100, 0, 0], atol=TOL)
    assert sol.curtailment_kwh == pytest.approx(0.0, abs=TOL)
    assert sol.path == "lp-certified"


def test_standalone_equals_fresh_exact_milp_with_ports_fixed() -> None:
    # C0 from the persistent LP-certified model = the exact MILP with all rows and ports fixed at 0
    a = agent(params_a())
    sol = a.standalone_cost(DATA_A)
    obj, _, fresh = full_milp_cost(params_a(), H3, DATA_A)
    assert sol.cost == pytest.approx(obj, abs=TOL)
    assert fresh.cost == pytest.approx(obj, abs=TOL)
    offer = a.standalone()
    assert isinstance(offer, Offer)
    assert offer.cost == pytest.approx(30.0, abs=TOL) and offer.exchange_kw is None
    np.testing.assert_allclose(offer.net_demand_kw, [-300, 100, 200])  # load - PV available
    assert offer.dt_h == 1.0


def test_ports_fixed_to_zero_in_standalone_model() -> None:
    a = agent(params_a())
    a.standalone_cost(DATA_A)
    sa = a._standalone
    assert sa is not None
    assert all(sa.model.cluster.p_in_kw[t].fixed and sa.model.cluster.p_out_kw[t].fixed for t in H3.periods)
    assert [c.name for c in sa.pairs] == ["ess"]


def test_cl1_balance_residual_every_period_96() -> None:
    p, d = c2_like()
    sol = agent(p, RT_HORIZON).standalone_cost(d)
    assert np.max(np.abs(sol.balance_residual_kw())) <= 1e-6
    assert sol.costs["total"] == pytest.approx(sum(v for k, v in sol.costs.items() if k != "total"))
    assert sol.stats[-1].objective == pytest.approx(sol.cost, abs=1e-6)
    # with the default data no dissipation pays: the LP relaxation is certified
    assert sol.path == "lp-certified"
    ch, dis = sol.profiles["ess_charge_kw"], sol.profiles["ess_discharge_kw"]
    assert np.max(np.minimum(ch, dis)) <= 1e-6


def test_persistent_update_equals_fresh_build(caplog: pytest.LogCaptureFixture) -> None:
    p, d = c2_like()
    a = agent(p, RT_HORIZON)
    a.standalone_cost(d)
    sa = a._standalone
    assert sa is not None
    hm, model = sa.hm, sa.model
    d2 = replace(d, load_kw=d.load_kw * 1.4, wind_available_kw={12: d.wind_available_kw[12] * 0.5},
                 buy_price=p.buy_prices(RT_HORIZON) * 1.1)
    with caplog.at_level(logging.DEBUG, logger="agents.milp"):
        sol2 = a.standalone_cost(d2)
    assert a._standalone is sa and sa.hm is hm and sa.model is model  # no rebuild
    msgs = [r.getMessage() for r in caplog.records if r.name == "agents.milp"]
    assert any("optimal obj=" in s for s in msgs)
    assert not any("structure changed" in s for s in msgs)  # only Params pushed to the live HiGHS model
    fresh = agent(p, RT_HORIZON).standalone_cost(d2)
    assert sol2.cost == pytest.approx(fresh.cost, rel=1e-9, abs=1e-6)
    np.testing.assert_allclose(sol2.profiles["load_kw"], d2.load_kw)
    assert np.max(np.abs(sol2.balance_residual_kw())) <= 1e-6


def test_set_cluster_data_then_update_equals_fresh() -> None:
    # a coordinator's path: write the new load into a built block's Param, update, re-solve
    m = pyo.ConcreteModel()
    m.c = pyo.Block()
    build_cluster(m.c, params_a(), H3, DATA_A)
    for t in H3.periods:
        m.c.p_in_kw[t].fix(0)
        m.c.p_out_kw[t].fix(0)
    m.obj = pyo.Objective(expr=m.c.cost)
    hm = HighsModel(m, "coordinator", relax_integrality=False)
    hm.solve()
    d2 = replace(DATA_A, load_kw=np.array([50.0, 120.0, 150.0]))
    set_cluster_data(m.c, params_a(), H3, d2)
    hm.update()
    assert hm.solve().objective == pytest.approx(full_milp_cost(params_a(), H3, d2)[0], abs=TOL)


def test_lp_certificate_falls_back_to_milp_where_dissipation_pays() -> None:
    # Lossy store (eta 0.5 each way), free O&M, curtailment penalty 1.0: on the LP relaxation charging and
    # discharging at once burns surplus PV (75 % loss) instead of curtailing it.  The binaries must be used.
    # t1: PV 300, load 0 -> surplus 300; store 100 kWh, 300 kW.  The exact MILP curtails what it cannot store.
    ess = BatteryParams(capacity_kwh=100, p_charge_max_kw=300, p_discharge_max_kw=300, soc_min_frac=0.0,
                        soc_max_frac=1.0, soc_initial_frac=0.0, eta_charge=0.5, eta_discharge=0.5)
    p = ClusterParams(name="L", buses=(1,), leading_bus=1, pv_sites={1: 300.0}, ess=ess, upstream_prices=PRICES,
                      partition=PART3, c_pvu=0.0, eta_pv=1.0, lambda_om=0.0)
    d = ClusterData(load_kw=np.array([0.0, 10.0, 10.0]), pv_available_kw={1: np.array([300.0, 0.0, 0.0])})
    a = agent(p)
    sol = a.standalone_cost(d)
    assert sol.path.startswith("lp+milp(")
    exact, _, _ = full_milp_cost(p, H3, d)
    assert sol.cost == pytest.approx(exact, abs=TOL)
    assert np.max(np.minimum(sol.profiles["ess_charge_kw"], sol.profiles["ess_discharge_kw"])) <= 1e-6
    # the persistent model is back to the pure LP (rows released, binaries continuous) and still gives C0
    assert a._standalone is not None and a._standalone.hm.n_integer_active == 0
    assert a.standalone_cost(d).cost == pytest.approx(exact, abs=TOL)


# ------------------------------------------------------------------------------------ coalition P1


def build_p1(specs: list[tuple[ClusterParams, ClusterData]], horizon: Horizon, eta_x: float = 1.0,
             exclusive: bool = True) -> tuple[pyo.ConcreteModel, HighsModel, list]:
    """What a coordinator does (SPEC §5.5 NB-P1): the cluster blocks plus CL-2, min sum of CL-3."""
    m = pyo.ConcreteModel()
    m.CL = pyo.Block([p.name for p, _ in specs])
    handles = [build_cluster(m.CL[p.name], p, horizon, d, exclusive) for p, d in specs]
    m.cl2 = pyo.Constraint(horizon.periods, rule=lambda mm, t: pyo.quicksum(
        eta_x * mm.CL[p.name].p_out_kw[t] - mm.CL[p.name].p_in_kw[t] for p, _ in specs) == 0,
        doc="inter-cluster balance (CL-2)")
    m.obj = pyo.Objective(expr=pyo.quicksum(m.CL[p.name].cost for p, _ in specs))
    hm = HighsModel(m, "P1", relax_integrality=not exclusive)
    return m, hm, handles


@dataclass
class Flat:
    """One cluster's data for the independent formulation (renewables summed per kind)."""

    load: np.ndarray
    pv: np.ndarray
    wt: np.ndarray
    buy: np.ndarray
    p: ClusterParams


def flat(p: ClusterParams, d: ClusterData, h: Horizon) -> Flat:
    n = h.n
    pv = sum((np.asarray(v, float) for v in d.pv_available_kw.values()), np.zeros(n))
    wt = sum((np.asarray(v, float) for v in d.wind_available_kw.values()), np.zeros(n))
    buy = p.buy_prices(h) if d.buy_price is None else np.asarray(d.buy_price, float)
    return Flat(np.asarray(d.load_kw, float), pv, wt, buy, p)


def scipy_joint_optimum(clusters: list[Flat], h: Horizon) -> float:
    """Independent MILP of NB-P1 written straight from SPEC §5.4 with scipy.optimize.milp (no sale).

    Per cluster and period: u (PV used), w (wind used), c, d (charge/discharge), s (SOC), g (buy),
    i, o (import/export), x (ESS mode), y (exchange mode).
    """
    T, dt = h.n, h.dt_h
    V = 10
    nv = len(clusters) * V * T

    def col(n: int, v: int, t: int) -> int:
        return (n * V + v) * T + t

    U, W, C, D, S, G, IN, OUT, X, Y = range(V)
    cost = np.zeros(nv)
    lb = np.zeros(nv)
    ub = np.zeros(nv)
    integ = np.zeros(nv)
    rows: list[tuple[dict[int, float], float, float]] = []
    const = 0.0
    for n, f in enumerate(clusters):
        p, e = f.p, f.p.ess
        keep = 1 - e.self_discharge_per_h * dt
        s0 = e.soc_initial_frac * e.capacity_kwh
        for t in range(T):
            cost[col(n, U, t)] = dt * (p.c_pvu - p.eta_pv)
            cost[col(n, W, t)] = -dt * p.eta_wt
            cost[col(n, C, t)] = cost[col(n, D, t)] = dt * p.lambda_om
            cost[col(n, G, t)] = dt * f.buy[t]
            const += dt * (p.eta_pv * f.pv[t] + p.eta_wt * f.wt[t])
            ub[col(n, U, t)], ub[col(n, W, t)] = f.pv[t], f.wt[t]
            ub[col(n, C, t)], ub[col(n, D, t)] = e.p_charge_max_kw, e.p_discharge_max_kw
            lb[col(n, S, t)], ub[col(n, S, t)] = e.soc_min_frac * e.capacity_kwh, e.soc_max_frac * e.capacity_kwh
            ub[col(n, G, t)] = p.p_grid_max_kw
            ub[col(n, IN, t)] = ub[col(n, OUT, t)] = p.p_exchange_max_kw
            ub[col(n, X, t)] = ub[col(n, Y, t)] = 1
            integ[col(n, X, t)] = integ[col(n, Y, t)] = 1
            # CL-1
            rows.append(({col(n, U, t): 1, col(n, W, t): 1, col(n, D, t): 1, col(n, C, t): -1, col(n, IN, t): 1,
                          col(n, OUT, t): -1, col(n, G, t): 1}, f.load[t], f.load[t]))
            # ESS-1
            r = {col(n, S, t): 1.0, col(n, C, t): -e.eta_charge * dt, col(n, D, t): dt / e.eta_discharge}
            if t > 0:
                r[col(n, S, t - 1)] = -keep
            rhs = keep * s0 if t == 0 else 0.0
            rows.append((r, rhs, rhs))
            # ESS-3 and exchange exclusivity
            rows.append(({col(n, C, t): 1, col(n, X, t): -e.p_charge_max_kw}, -np.inf, 0))
            rows.append(({col(n, D, t): 1, col(n, X, t): e.p_discharge_max_kw}, -np.inf, e.p_discharge_max_kw))
            rows.append(({col(n, IN, t): 1, col(n, Y, t): -p.p_exchange_max_kw}, -np.inf, 0))
            rows.append(({col(n, OUT, t): 1, col(n, Y, t): p.p_exchange_max_kw}, -np.inf, p.p_exchange_max_kw))
        rows.append(({col(n, S, T - 1): 1}, s0, s0))  # ESS-4
    for t in range(T):  # CL-2
        r: dict[int, float] = {}
        for n in range(len(clusters)):
            r[col(n, OUT, t)] = 1
            r[col(n, IN, t)] = -1
        rows.append((r, 0, 0))
    A = lil_matrix((len(rows), nv))
    rl, ru = np.zeros(len(rows)), np.zeros(len(rows))
    for k, (r, lo, hi) in enumerate(rows):
        for j, v in r.items():
            A[k, j] = v
        rl[k], ru[k] = lo, hi
    res = milp(cost, constraints=LinearConstraint(A.tocsr(), rl, ru), bounds=Bounds(lb, ub), integrality=integ,
               options={"mip_rel_gap": 1e-9})
    assert res.success, res.message
    return float(res.fun) + const


def test_p1_hand_computed_two_clusters() -> None:
    # Standalone: C0_A = 30 (above).  B: buys 150 at t1 (10.5), uses 50 of its 100 kW wind at t2 and curtails
    # 50 (5.0), buys 100 at t3 (16.0) -> C0_B = 31.5.
    # Coalition: A's 100 kW surplus at t1 goes to B instead of being curtailed (A: +3 PV use, -10 curtailment;
    # B: -7 grid) and B's 50 kW wind surplus at t2 goes to A (B: -5 curtailment; A: -3.5 grid):
    # C*_A = 12 + 0 + 4 + 3.5 = 19.5, C*_B = 3.5 + 0 + 16 = 19.5, total 39 = 61.5 - 22.5.
    c0 = [agent(params_a()).standalone_cost(DATA_A).cost, agent(params_b()).standalone_cost(DATA_B).cost]
    assert c0 == pytest.approx([30.0, 31.5], abs=TOL)
    specs = [(params_a(), DATA_A), (params_b(), DATA_B)]
    _, hm, handles = build_p1(specs, H3)
    st = hm.solve()
    assert st.objective == pytest.approx(39.0, abs=TOL)
    sols = [extract_cluster(hm, hd, p, H3) for hd, (p, _) in zip(handles, specs, strict=True)]
    assert [s.cost for s in sols] == pytest.approx([19.5, 19.5], abs=TOL)
    np.testing.assert_allclose(sols[0].exchange_kw, [100, -50, 0], atol=TOL)  # A exports at t1, imports at t2
    np.testing.assert_allclose(sols[0].exchange_kw + sols[1].exchange_kw, 0, atol=TOL)  # CL-2
    for s in sols:
        np.testing.assert_allclose(s.balance_residual_kw(), 0, atol=TOL)
    assert st.objective <= sum(c0) + TOL
    assert scipy_joint_optimum([flat(p, d, H3) for p, d in specs], H3) == pytest.approx(39.0, abs=TOL)


def lossy_pair() -> tuple[Horizon, list[tuple[ClusterParams, ClusterData]]]:
    """Two clusters on 6 half-hour periods with the default (lossy, self-discharging) store and SPEC costs."""
    h = Horizon(6, 0.5)
    part = ("valley", "valley", "peak", "peak", "flat", "flat")
    ess = replace(DEFAULT_CLUSTER_ESS, capacity_kwh=300.0, p_charge_max_kw=150.0, p_discharge_max_kw=150.0,
                  self_discharge_per_h=0.01)
    pa = ClusterParams(name="X", buses=(1, 2, 3), leading_bus=2, pv_sites={1: 900.0}, wind_sites={3: 300.0},
                       ess=ess, partition=part, p_exchange_max_kw=250.0)
    pb = ClusterParams(name="Y", buses=(4, 5), leading_bus=4, pv_sites={5: 400.0}, ess=ess, partition=part,
                       p_exchange_max_kw=250.0)
    da = ClusterData(load_kw=np.array([300, 250, 400, 500, 350, 300.0]),
                     pv_available_kw={1: np.array([0, 600, 850, 200, 0, 0.0])},
                     wind_available_kw={3: np.array([250, 100, 50, 0, 200, 280.0])})
    db = ClusterData(load_kw=np.array([400, 450, 600, 700, 500, 420.0]),
                     pv_available_kw={5: np.array([0, 150, 380, 100, 0, 0.0])})
    return h, [(pa, da), (pb, db)]


def test_p1_equals_independent_joint_milp_and_beats_standalone() -> None:
    h, specs = lossy_pair()
    c0 = [agent(p, h).standalone_cost(d).cost for p, d in specs]
    _, hm, handles = build_p1(specs, h)
    st = hm.solve()
    assert st.status == "optimal"
    assert st.objective <= sum(c0) + TOL
    assert st.objective < sum(c0) - 1.0  # the pair has something to trade
    assert st.objective == pytest.approx(scipy_joint_optimum([flat(p, d, h) for p, d in specs], h), abs=1e-5)
    sols = [extract_cluster(hm, hd, p, h) for hd, (p, _) in zip(handles, specs, strict=True)]
    assert sum(s.cost for s in sols) == pytest.approx(st.objective, abs=1e-6)
    for s in sols:
        assert np.max(np.abs(s.balance_residual_kw())) <= 1e-6
        assert np.max(np.minimum(s.profiles["p_in_kw"], s.profiles["p_out_kw"])) <= 1e-6
    np.testing.assert_allclose(sols[0].exchange_kw + sols[1].exchange_kw, 0, atol=1e-6)


@pytest.mark.parametrize("case", ["hand", "lossy"])
def test_p1_lp_certificate_with_netted_exchange_equals_milp(case: str) -> None:
    # the coordinator's fast path: P1 built without exclusivity rows, the exchange ports netted (eta_x = 1:
    # importing and exporting at once changes nothing), then certified -- same optimum as the full MILP
    h, specs = (H3, [(params_a(), DATA_A), (params_b(), DATA_B)]) if case == "hand" else lossy_pair()
    exact = build_p1(specs, h)[1].solve().objective
    _, hm, handles = build_p1(specs, h, exclusive=False)
    pairs = [c for hd in handles for c in hd.complementarity]
    ports = [c for c in pairs if c.name == "exchange"]
    stats, path = solve_certified(hm, pairs, lossless=ports)
    assert stats[-1].objective == pytest.approx(exact, abs=1e-6)
    assert path == "lp-certified" or path.startswith("lp+milp(")
    sols = [extract_cluster(hm, hd, p, h) for hd, (p, _) in zip(handles, specs, strict=True)]
    for s in sols:
        assert np.max(np.minimum(s.profiles["p_in_kw"], s.profiles["p_out_kw"])) <= 1e-6
        assert np.max(np.abs(s.balance_residual_kw())) <= 1e-6
    assert hm.n_integer_active == 0  # back to the LP for the next price iteration


def test_solve_certified_keeps_rows_that_existed() -> None:
    # a model built with every exclusivity row: the rows stay active after the certified solve
    m = pyo.ConcreteModel()
    m.c = pyo.Block()
    h = build_cluster(m.c, params_a(), H3, DATA_A, exclusive=True)
    for t in H3.periods:
        m.c.p_in_kw[t].fix(0)
        m.c.p_out_kw[t].fix(0)
    m.obj = pyo.Objective(expr=m.c.cost)
    hm = HighsModel(m, "rows", relax_integrality=True)
    stats, _ = solve_certified(hm, h.complementarity)
    assert stats[-1].objective == pytest.approx(30.0, abs=TOL)
    assert all(m.c.ess.res_charge_mode[t].active and m.c.res_import[t].active for t in H3.periods)


def test_standalone_matches_independent_formulation() -> None:
    # one cluster alone through the scipy formulation = C0 (the exchange columns get nothing to trade with:
    # CL-2 with a single cluster forces out = in and the exclusivity binary makes both 0)
    h, specs = lossy_pair()
    for p, d in specs:
        assert agent(p, h).standalone_cost(d).cost == pytest.approx(scipy_joint_optimum([flat(p, d, h)], h),
                                                                     abs=1e-5)


# ------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(name=""), r"ClusterParams\.name"),
        (dict(buses=()), r"ClusterParams\('A'\)\.buses"),
        (dict(buses=(1, 1, 2)), r"\.buses must be distinct"),
        (dict(leading_bus=7), r"\.leading_bus 7 is not one of its buses"),
        (dict(pv_sites={9: 100.0}), r"\.pv_sites: bus 9 is not one of the cluster's buses"),
        (dict(pv_sites={2: -5.0}), r"\.pv_sites\[2\] must be a capacity > 0"),
        (dict(ess=replace(ESS_A, soc_min_frac=0.5, soc_initial_frac=0.2)), r"\.ess: need 0 <= soc_min_frac"),
        (dict(ess=replace(ESS_A, eta_charge=1.5)), r"\.ess\.eta_charge must be in \(0, 1\]"),
        (dict(ess=replace(ESS_A, capacity_kwh=-1.0)), r"\.ess\.capacity_kwh must be a finite number >= 0"),
        (dict(ess=replace(ESS_A, cost_per_kwh=0.5)), r"\.ess\.cost_per_kwh .* must be 0 or equal lambda_om"),
        (dict(upstream_prices={"valley": 0.07}), r"\.upstream_prices has no price for the period labels \['peak'\]"),
        (dict(upstream_prices={"valley": 0.07, "peak": -1.0}), r"\.upstream_prices\['peak'\] must be a price > 0"),
        (dict(eta_pv=-0.1), r"\.eta_pv must be a finite number >= 0"),
        (dict(p_exchange_max_kw=float("nan")), r"\.p_exchange_max_kw"),
        (dict(p_grid_max_kw=0.0), r"\.p_grid_max_kw must be a finite number > 0"),
        (dict(allow_sale=True, feed_in_price=0.2), r"\.feed_in_price .* must be below every upstream price"),
    ],
)
def test_bad_params_name_the_field(kw: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        params_a(**kw)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (ClusterData(load_kw=np.array([1.0, 2.0]), pv_available_kw={2: np.zeros(3)}), r"load_kw must have 3"),
        (ClusterData(load_kw=np.ones(3)), r"pv_available_kw must have a profile for exactly the sites \[2\]"),
        (ClusterData(load_kw=np.ones(3), pv_available_kw={2: np.array([500.0, 0, 0])}),
         r"pv_available_kw\[2\] exceeds the site capacity 400"),
        (ClusterData(load_kw=np.ones(3), pv_available_kw={2: np.array([-1.0, 0, 0])}), r"pv_available_kw\[2\]"),
        (ClusterData(load_kw=np.ones(3), pv_available_kw={2: np.zeros(3)}, buy_price=np.ones(2)),
         r"buy_price must have 3"),
    ],
)
def test_bad_data_names_the_field(data: ClusterData, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        agent(params_a()).standalone_cost(data)


def test_agent_without_data_or_with_wrong_type() -> None:
    a = agent(params_a())
    with pytest.raises(ValueError, match="no data"):
        a.standalone_cost()
    with pytest.raises(TypeError, match="data must be ClusterData"):
        a.build_block(pyo.Block(concrete=True), H3, {"load_kw": [1, 2, 3]})


def test_horizon_not_a_multiple_of_the_partition() -> None:
    p = ClusterParams(name="C", buses=(1,), leading_bus=1)  # 24-hour partition
    with pytest.raises(ValueError, match="not a multiple of the 24 periods of partition"):
        p.buy_prices(Horizon(10, 1.0))


def test_surplus_the_cluster_cannot_absorb_goes_to_the_penalised_spill() -> None:
    """Followers discharging (V2G) beyond the cluster's load with no sale allowed: the spill slack takes it."""
    p, d = c2_like()
    p = replace(p, ess=replace(p.ess, p_charge_max_kw=0.0, p_discharge_max_kw=0.0, self_discharge_per_h=0.0))
    load = d.load_kw.copy()
    load[:4] = -300.0  # night (no PV): 300 kW pushed into the cluster
    agent = ClusterAgent(mesa.Model(rng=0), p)
    sol = agent.standalone_cost(ClusterData(load, d.pv_available_kw, d.wind_available_kw))
    spill = sol.profiles["spill_kw"]
    # the wind is curtailed first (penalty 0.10 < 1.6), the rest is spilled
    np.testing.assert_allclose(spill[:4], 300.0, atol=1e-6)
    np.testing.assert_allclose(sol.profiles["wind_kw"][:4], 0.0, atol=1e-6)
    assert spill[4:].max() < 1e-9
    assert sol.costs["spill"] == pytest.approx(p.spill_penalty * 0.25 * 1200.0)
    assert np.abs(sol.balance_residual_kw()).max() < 1e-6

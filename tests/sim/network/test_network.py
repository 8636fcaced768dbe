"""IEEE-33 feeder, LinDistFlow and AC validation (scenarios/feeder.py, sim/network/lindistflow.py, SPEC §5.1-5.2).

Golden numbers: pandapower's AC power flow of the base case (V_min 0.91309 p.u. at bus 18, losses
202.68 kW; the known Baran & Wu results).  Every LinDistFlow expectation is either recomputed with the
numpy sweep (an independent formulation: subtree matrix instead of constraints) or worked out by hand
in the comment beside it.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyomo.environ as pyo
import pytest

from agents.devices.core import Horizon
from agents.milp import HighsModel, SolveError
from scenarios.feeder import Branch, Feeder, default_s_max_mva, load_ieee33
from sim.network.lindistflow import (
    NetworkHandle,
    PowerFlowError,
    ac_check,
    ac_power_flow,
    ac_power_flow_series,
    build_lindistflow,
    compare_with_ac,
    lindistflow,
    lindistflow_voltages,
    network_solution,
    set_network_data,
)

TOL = 1e-6
REPO = Path(__file__).resolve().parents[3]

# SPEC §5.1 table, transcribed: (from, to, r_ohm, x_ohm, p_kw at `to`, q_kvar at `to`)
SPEC_TABLE = [
    (1, 2, 0.0922, 0.0470, 100, 60), (2, 3, 0.4930, 0.2511, 90, 40), (3, 4, 0.3660, 0.1864, 120, 80),
    (4, 5, 0.3811, 0.1941, 60, 30), (5, 6, 0.8190, 0.7070, 60, 20), (6, 7, 0.1872, 0.6188, 200, 100),
    (7, 8, 0.7114, 0.2351, 200, 100), (8, 9, 1.0300, 0.7400, 60, 20), (9, 10, 1.0440, 0.7400, 60, 20),
    (10, 11, 0.1966, 0.0650, 45, 30), (11, 12, 0.3744, 0.1238, 60, 35), (12, 13, 1.4680, 1.1550, 60, 35),
    (13, 14, 0.5416, 0.7129, 120, 80), (14, 15, 0.5910, 0.5260, 60, 10), (15, 16, 0.7463, 0.5450, 60, 20),
    (16, 17, 1.2890, 1.7210, 60, 20), (17, 18, 0.7320, 0.5740, 90, 40), (2, 19, 0.1640, 0.1565, 90, 40),
    (19, 20, 1.5042, 1.3554, 90, 40), (20, 21, 0.4095, 0.4784, 90, 40), (21, 22, 0.7089, 0.9373, 90, 40),
    (3, 23, 0.4512, 0.3083, 90, 50), (23, 24, 0.8980, 0.7091, 420, 200), (24, 25, 0.8960, 0.7011, 420, 200),
    (6, 26, 0.2030, 0.1034, 60, 25), (26, 27, 0.2842, 0.1447, 60, 25), (27, 28, 1.0590, 0.9337, 60, 20),
    (28, 29, 0.8042, 0.7006, 120, 70), (29, 30, 0.5075, 0.2585, 200, 600), (30, 31, 0.9744, 0.9630, 150, 70),
    (31, 32, 0.3105, 0.3619, 210, 100), (32, 33, 0.3410, 0.5302, 60, 40),
]
PV_KW = {7: 1100.0, 9: 1100.0, 15: 600.0, 27: 1000.0, 29: 900.0, 32: 600.0}  # SPEC §5.1


@pytest.fixture(scope="module")
def feeder() -> Feeder:
    return load_ieee33()


def _network_model(feeder: Feeder, horizon: Horizon, **kw: Any) -> tuple[pyo.ConcreteModel, NetworkHandle]:
    m = pyo.ConcreteModel()
    m.net = pyo.Block()
    return m, build_lindistflow(m.net, feeder, horizon, **kw)


def _tiny_feeder() -> Feeder:
    """1 -> 2 -> 3 and 2 -> 4, V_base 10 kV (so 1000 V_base^2 / 2 = 50,000 kW*ohm per p.u.^2)."""
    return Feeder(
        name="tiny", buses=(1, 2, 3, 4),
        branches=(Branch(1, 2, 1.0, 2.0), Branch(2, 3, 2.0, 1.0), Branch(2, 4, 0.5, 0.5)),
        p_load_kw=np.array([0.0, 100.0, 200.0, 300.0]), q_load_kvar=np.array([0.0, 50.0, 100.0, 0.0]),
        v_base_kv=10.0, s_base_mva=1.0,
    )


# ---------------------------------------------------------------------------- data and provenance


def test_ieee33_matches_spec_table(feeder: Feeder) -> None:
    assert feeder.buses == tuple(range(1, 34))
    assert feeder.root == 1
    assert feeder.v_base_kv == 12.66 and feeder.s_base_mva == 10.0
    assert feeder.z_base_ohm == pytest.approx(16.0276, abs=1e-4)
    assert len(feeder.branches) == 32
    for (i, j, r, x, p, q), br in zip(SPEC_TABLE, feeder.branches, strict=True):
        assert br.key == (i, j)
        assert br.r_ohm == pytest.approx(r, abs=1e-9) and br.x_ohm == pytest.approx(x, abs=1e-9), (i, j)
        assert feeder.p_load_kw[j - 1] == pytest.approx(p) and feeder.q_load_kvar[j - 1] == pytest.approx(q), j
    assert feeder.p_load_kw[0] == 0 and feeder.q_load_kvar[0] == 0  # substation
    assert feeder.p_load_kw.sum() == pytest.approx(3715.0) and feeder.q_load_kvar.sum() == pytest.approx(2300.0)
    # the rows the issue names explicitly
    assert (feeder.branches[0].r_ohm, feeder.branches[0].x_ohm) == (0.0922, 0.0470)
    assert (feeder.p_load_kw[17], feeder.q_load_kvar[17]) == (90.0, 40.0)  # bus 18
    assert (feeder.p_load_kw[29], feeder.q_load_kvar[29]) == (200.0, 600.0)  # bus 30
    # open tie lines 21-8, 9-15, 12-22, 18-33, 25-29 are not part of the radial feeder
    assert {frozenset(t.key) for t in feeder.tie_lines} == {
        frozenset(p) for p in [(21, 8), (9, 15), (12, 22), (18, 33), (25, 29)]
    }
    assert "case33bw" in feeder.source and "Baran" in feeder.source
    # SPEC §5.2 default limits: 6 MVA on 1-2 ... 5-6, 4 MVA elsewhere
    s = default_s_max_mva(feeder)
    assert s[:5].tolist() == [6.0] * 5 and set(s[5:].tolist()) == {4.0}


def test_topology_and_immutability(feeder: Feeder) -> None:
    assert feeder.parent[18] == 17 and feeder.parent[19] == 2 and feeder.parent[26] == 6
    assert set(feeder.children[2]) == {3, 19} and set(feeder.children[6]) == {7, 26}
    assert feeder.children[18] == () and feeder.children[33] == ()
    seen = {feeder.order[0]}
    assert feeder.order[0] == 1 and sorted(feeder.order) == list(range(1, 34))
    for b in feeder.order[1:]:
        assert feeder.parent[b] in seen
        seen.add(b)
    # subtree matrix: branch 1->2 carries every bus but the root; 17->18 only bus 18
    d = feeder.subtree
    assert d[0].sum() == 32 and d[16].tolist() == [1.0 if b == 18 else 0.0 for b in feeder.buses]
    with pytest.raises(ValueError):
        feeder.p_load_kw[3] = 1.0  # read-only data
    assert load_ieee33() is feeder  # cached


@pytest.mark.parametrize(
    "branches, match",
    [
        ((Branch(1, 2, 1, 1), Branch(2, 3, 1, 1), Branch(3, 2, 1, 1)), "fed twice"),
        ((Branch(1, 2, 1, 1), Branch(3, 4, 1, 1), Branch(4, 3, 1, 1)), "not connected"),
        ((Branch(1, 2, 1, 1), Branch(2, 3, 1, 1)), "3 branches"),
        ((Branch(1, 2, 1, 1), Branch(2, 3, 1, 1), Branch(2, 9, 1, 1)), "unknown bus 9"),
        ((Branch(1, 2, -1, 1), Branch(2, 3, 1, 1), Branch(2, 4, 1, 1)), "r/x"),
    ],
)
def test_feeder_rejects_non_radial_data(branches: tuple[Branch, ...], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Feeder("bad", (1, 2, 3, 4), branches, np.zeros(4), np.zeros(4), 10.0, 1.0)


# ---------------------------------------------------------------------------- AC golden case


def test_golden_base_case_ac(feeder: Feeder) -> None:
    ac = ac_power_flow(feeder, feeder.p_load_kw, feeder.q_load_kvar)
    assert ac.converged
    assert ac.v_pu[0] == pytest.approx(1.0, abs=1e-12)
    assert int(np.argmin(ac.v_pu)) + 1 == 18
    assert ac.v_pu.min() == pytest.approx(0.91309, abs=1e-4)
    assert ac.losses_kw == pytest.approx(202.68, abs=0.05)
    # conservation: the substation supplies the load plus the losses
    assert ac.p_sub_kw == pytest.approx(3715.0 + ac.losses_kw, abs=1e-3)


def test_ac_series_matches_single_periods(feeder: Feeder) -> None:
    scale = np.array([0.5, 1.0, 0.8])
    pl = scale[:, None] * feeder.p_load_kw
    ql = scale[:, None] * feeder.q_load_kvar
    series = ac_power_flow_series(feeder, pl, ql)
    assert series.converged.all()
    for k in range(3):
        one = ac_power_flow(feeder, pl[k], ql[k])
        np.testing.assert_allclose(series.v_pu[k], one.v_pu, atol=1e-8)
        assert series.losses_kw[k] == pytest.approx(one.losses_kw, abs=1e-3)  # NR tolerance; warm vs cold start
    assert series.losses_kw[0] < series.losses_kw[2] < series.losses_kw[1]  # losses grow with load


def test_ac_non_convergence_names_the_period(feeder: Feeder) -> None:
    pl = np.vstack([feeder.p_load_kw, 20 * feeder.p_load_kw])
    ql = np.vstack([feeder.q_load_kvar, 20 * feeder.q_load_kvar])
    with pytest.raises(PowerFlowError, match="period 2"):
        ac_power_flow_series(feeder, pl, ql)
    res = ac_power_flow_series(feeder, pl, ql, raise_on_failure=False)
    assert res.converged.tolist() == [True, False]
    assert np.isnan(res.v_pu[1]).all() and np.isfinite(res.v_pu[0]).all()
    with pytest.raises(ValueError, match="period 2"):  # NaN voltages are refused by the comparison
        compare_with_ac(res.v_pu, res.v_pu)


# ---------------------------------------------------------------------------- LinDistFlow in numpy


def test_numpy_lindistflow_by_hand() -> None:
    # tiny feeder: P_12 = 600, Q_12 = 150; P_23 = 200, Q_23 = 100; P_24 = 300, Q_24 = 0.
    # v2 = 1 - 2 (1*600 + 2*150) / 100,000 = 0.982;  v3 = v2 - 2 (2*200 + 1*100) / 100,000 = 0.972
    # v4 = v2 - 2 (0.5*300) / 100,000 = 0.979
    f = _tiny_feeder()
    res = lindistflow(f, f.p_load_kw, f.q_load_kvar)
    np.testing.assert_allclose(res.p_flow_kw, [600.0, 200.0, 300.0])
    np.testing.assert_allclose(res.q_flow_kvar, [150.0, 100.0, 0.0])
    np.testing.assert_allclose(res.v_sq_pu2, [1.0, 0.982, 0.972, 0.979], atol=1e-12)
    assert res.p_sub_kw == pytest.approx(600.0)
    # generation is negative demand; shapes (periods, buses) are vectorised
    two = lindistflow(f, np.vstack([f.p_load_kw] * 2), np.vstack([f.q_load_kvar] * 2),
                      p_gen_kw=np.array([[0, 0, 0, 0], [0, 0, 200, 0]]))
    np.testing.assert_allclose(two.p_flow_kw[1], [400.0, 0.0, 300.0])
    assert two.v_sq_pu2[1, 2] == pytest.approx(1 - 2 * (400 + 300) / 1e5 - 2 * 100 / 1e5)


def test_lindistflow_vs_ac_base_case(feeder: Feeder) -> None:
    v_ldf = lindistflow_voltages(feeder, feeder.p_load_kw, feeder.q_load_kvar)
    v_ac = ac_power_flow(feeder, feeder.p_load_kw, feeder.q_load_kvar).v_pu
    cmp = compare_with_ac(v_ldf, v_ac, feeder)
    assert cmp.max_abs_error_pu <= 0.01
    assert cmp.bus == 18 and cmp.period is None  # the farthest bus accumulates the neglected losses
    assert np.all(v_ldf >= v_ac - 1e-12)  # dropping losses can only raise voltages under pure load
    # LinDistFlow's V_min of the base case is below the paper's 0.93 limit too (see SPEC §5.2 note)
    assert v_ldf.min() == pytest.approx(0.91593, abs=1e-4)


def test_pv_dispatch_ac_vs_lindistflow(feeder: Feeder) -> None:
    p_gen = np.zeros(33)
    for bus, cap in PV_KW.items():
        p_gen[bus - 1] = 0.7 * cap  # 3.71 MW of PV against 3.715 MW of load
    v_ldf = lindistflow_voltages(feeder, feeder.p_load_kw, feeder.q_load_kvar, p_gen)
    ac = ac_power_flow(feeder, feeder.p_load_kw, feeder.q_load_kvar, p_gen)
    cmp = compare_with_ac(v_ldf, ac.v_pu, feeder)
    assert cmp.max_abs_error_pu <= 0.01
    assert ac.v_pu.min() > 0.95  # PV lifts the feeder well above the base case
    assert ac.losses_kw < 202.68 / 2


# ---------------------------------------------------------------------------- LinDistFlow in Pyomo


def test_pyomo_block_reproduces_numpy_lindistflow(feeder: Feeder) -> None:
    h = Horizon(3, 1.0)
    scale = np.array([1.0, 0.5, 0.8])
    pl = scale[:, None] * feeder.p_load_kw
    ql = scale[:, None] * feeder.q_load_kvar
    m, nh = _network_model(feeder, h, p_load_kw=pl, q_load_kvar=ql, v_min_pu=0.90)
    m.obj = pyo.Objective(expr=pyo.quicksum(m.net.p_sub_kw[t] for t in h.periods))
    b = m.net
    # build: 33 bus voltages, 32 P and Q flows, P and Q at the substation per period
    assert len(b.v_sq_pu2) == 33 * 3 and len(b.p_flow_kw) == 32 * 3 and len(b.p_sub_kw) == 3
    assert len(b.def_p_flow) == len(b.def_q_flow) == len(b.def_voltage_drop) == 32 * 3
    assert len(b.res_v_min) == len(b.res_v_max) == 32 * 3 and len(b.res_s_max) == 32 * 8 * 3
    for comp in b.component_objects((pyo.Var, pyo.Param, pyo.Constraint, pyo.Expression, pyo.Set)):
        assert comp.doc, comp.name
    hm = HighsModel(m, "ldf")
    assert hm.solve().status == "optimal"
    sol = network_solution(hm, nh)
    ref = lindistflow(feeder, pl, ql)
    np.testing.assert_allclose(sol.v_pu, ref.v_pu, atol=TOL)
    np.testing.assert_allclose(sol.p_flow_kw, ref.p_flow_kw, atol=TOL)
    np.testing.assert_allclose(sol.q_flow_kvar, ref.q_flow_kvar, atol=TOL)
    # lossless: the substation supplies exactly the load; net demands are recovered from the flows
    np.testing.assert_allclose(sol.p_sub_kw, 3715.0 * scale, atol=TOL)
    np.testing.assert_allclose(sol.q_sub_kvar, 2300.0 * scale, atol=TOL)
    np.testing.assert_allclose(sol.p_net_kw, pl, atol=TOL)
    np.testing.assert_allclose(sol.q_net_kvar, ql, atol=TOL)

    # build once, update often: new data through the mutable Params, no rebuild
    set_network_data(nh, p_load_kw=0.6 * feeder.p_load_kw, q_load_kvar=0.6 * feeder.q_load_kvar)
    hm.update()
    hm.solve()
    sol = network_solution(hm, nh)
    np.testing.assert_allclose(sol.v_pu[2], lindistflow_voltages(feeder, 0.6 * feeder.p_load_kw,
                                                                 0.6 * feeder.q_load_kvar), atol=TOL)
    np.testing.assert_allclose(sol.p_sub_kw, [0.6 * 3715.0] * 3, atol=TOL)
    b.v0_pu = 1.02  # the substation voltage is a mutable bound of v_sq_pu2[1, t] (LDF-4)
    hm.update()
    hm.solve()
    np.testing.assert_allclose(network_solution(hm, nh).v_pu[0], lindistflow_voltages(
        feeder, 0.6 * feeder.p_load_kw, 0.6 * feeder.q_load_kvar, v0_pu=1.02), atol=TOL)
    _, plain = _network_model(feeder, h, branch_limits=False)
    assert not hasattr(plain.block, "res_s_max")


@pytest.mark.parametrize("scale, families", [(1.0, {"net.res_v_min"}), (1.5, {"net.res_v_min", "net.res_s_max"})])
def test_voltage_limit_infeasible_names_the_family(feeder: Feeder, scale: float, families: set[str]) -> None:
    """The base load itself violates v_min = 0.93 (LinDistFlow V_min 0.9159 at bus 18).  At 1.5x the
    trunk 1-2 also carries 6.55 MVA > 6 MVA, so the octagon is reported as well."""
    h = Horizon(1, 1.0)
    m, _ = _network_model(feeder, h, p_load_kw=scale * feeder.p_load_kw, q_load_kvar=scale * feeder.q_load_kvar)
    m.obj = pyo.Objective(expr=m.net.p_sub_kw[1])
    with pytest.raises(SolveError, match="infeasible") as err:
        HighsModel(m, f"ieee33 {scale}x").solve()
    # the limits are blamed, not the physics rows (LDF-1..3): see build_lindistflow
    assert {fam for fam, _, _ in err.value.diagnosis} == families
    if scale > 1:
        assert "net.res_s_max[1,2," in str(err.value)


def test_voltage_limits_bind_with_curtailable_load(feeder: Feeder) -> None:
    """Load shedding at a cost: the LP sheds just enough for the weakest bus to sit at 0.93 p.u."""
    h = Horizon(1, 1.0)
    m = pyo.ConcreteModel()
    m.BUSES = pyo.Set(initialize=feeder.buses)
    m.shed_kw = pyo.Var(m.BUSES, bounds=lambda _, j: (0, feeder.p_load_kw[j - 1]), doc="shed load [kW]")
    m.net = pyo.Block()
    ratio = feeder.q_to_p_ratio
    nh = build_lindistflow(m.net, feeder, h, p_extra_kw=lambda j, t: -m.shed_kw[j],
                           q_extra_kvar=lambda j, t: -ratio[j - 1] * m.shed_kw[j])
    m.obj = pyo.Objective(expr=pyo.quicksum(m.shed_kw[j] for j in feeder.buses))
    hm = HighsModel(m, "shed")
    hm.solve()
    shed = hm.values(m.shed_kw)
    sol = network_solution(hm, nh)
    assert shed.sum() > 1.0
    assert sol.v_pu.min() == pytest.approx(0.93, abs=TOL)  # LDF-4 binds
    # the solved voltages are LinDistFlow's for the demand that is left
    left_p = feeder.p_load_kw - shed
    np.testing.assert_allclose(sol.v_pu[0], lindistflow_voltages(feeder, left_p, left_p * ratio), atol=TOL)
    np.testing.assert_allclose(sol.p_net_kw[0], left_p, atol=TOL)


def test_soft_limits_price_the_violation_without_changing_the_physics(feeder: Feeder) -> None:
    """Soft limits and no flexibility: the voltages are LinDistFlow's unconstrained ones, and each slack
    is the first-order violation (v_min^2 - v) / (2 v_min) resp. (v - v_max^2) / (2 v_max).

    Periods (dt = 0.5 h): base load (V_min 0.91593 at bus 18, 0.0141 p.u. under 0.93), 0.6x load (V_min
    about 0.95, no violation), no load and 1500 kW fixed generation at bus 18 (v_18 = 1 + 2 * 1500 *
    10.57 ohm / (1000 * 12.66^2) ~ 1.198 p.u.^2, V ~ 1.095 > 1.07)."""
    h = Horizon(3, 0.5)
    scale = np.array([1.0, 0.6, 0.0])
    pl = scale[:, None] * feeder.p_load_kw
    ql = scale[:, None] * feeder.q_load_kvar
    pg = np.zeros((3, 33))
    pg[2, 17] = 1500.0
    penalty = 1000.0
    m, nh = _network_model(feeder, h, p_load_kw=pl, q_load_kvar=ql, p_gen_kw=pg, soft_limits=True,
                           violation_cost_per_pu_h=penalty)
    b = m.net
    assert nh.soft_limits and nh.violation_cost is b.violation_cost
    assert len(b.v_under_pu) == len(b.v_over_pu) == len(b.res_v_min) == len(b.res_v_max) == 32 * 3
    for comp in b.component_objects((pyo.Var, pyo.Param, pyo.Constraint, pyo.Expression, pyo.Set)):
        assert comp.doc, comp.name
    m.obj = pyo.Objective(expr=nh.violation_cost)
    hm = HighsModel(m, "soft")
    stats = hm.solve()  # the same load is infeasible with hard limits (test above)
    sol = network_solution(hm, nh)
    ref = lindistflow(feeder, pl, ql, pg)
    np.testing.assert_allclose(sol.v_pu, ref.v_pu, atol=TOL)  # the penalty cannot move the voltages
    viol = sol.voltage_violation
    assert viol is not None
    under = np.maximum(0.93**2 - ref.v_sq_pu2, 0.0) / (2 * 0.93)
    over = np.maximum(ref.v_sq_pu2 - 1.07**2, 0.0) / (2 * 1.07)
    under[:, 0] = over[:, 0] = 0.0  # no limit at the substation
    np.testing.assert_allclose(viol.under_pu, under, atol=TOL)
    np.testing.assert_allclose(viol.over_pu, over, atol=TOL)
    # per period: the worst bus and its violation, equal to v_min - V_min (resp. V_max - v_max) to first order
    assert viol.max_under_bus.tolist() == [18, -1, -1] and viol.max_over_bus.tolist() == [-1, -1, 18]
    assert viol.max_under_pu[0] == pytest.approx(0.93 - ref.v_pu[0].min(), abs=2e-3)
    assert viol.max_under_pu[0] == pytest.approx(0.93 - 0.91593, abs=2e-3)
    assert viol.max_over_pu[2] == pytest.approx(ref.v_pu[2, 17] - 1.07, abs=2e-3)
    assert viol.max_over_pu[2] > 0.02
    np.testing.assert_allclose(viol.max_under_pu[1:], 0.0, atol=TOL)
    np.testing.assert_allclose(viol.max_over_pu[:2], 0.0, atol=TOL)
    # the cost: penalty x dt x total violation, the objective HiGHS reports
    expected = penalty * 0.5 * (under.sum() + over.sum())
    assert stats.objective == pytest.approx(expected, rel=1e-6)
    assert viol.cost == pytest.approx(expected, rel=1e-6)
    # the penalty is a mutable Param: a study changes it without rebuilding
    b.violation_cost_per_pu_h = 10.0
    hm.update()
    stats = hm.solve()
    assert stats.objective == pytest.approx(expected / 100, rel=1e-6)
    viol = network_solution(hm, nh).voltage_violation
    assert viol is not None and viol.cost == pytest.approx(expected / 100, rel=1e-6)


@pytest.mark.parametrize("penalty, sheds", [(1e5, True), (1e-3, False)])
def test_soft_limits_use_flexibility_only_when_the_penalty_is_high(feeder: Feeder, penalty: float,
                                                                   sheds: bool) -> None:
    """Curtailable load at 0.01 USD/kWh.  Shedding 1 kW at bus 18 lifts V_18 by ~7e-5 p.u. (path resistance
    10.57 ohm): worth 7 USD/h at 1e5 USD/(p.u.*h), so the large penalty reproduces the hard-limit optimum
    (V_min = 0.93, no slack); at 1e-3 USD/(p.u.*h) shedding never pays and the violation stays."""
    h = Horizon(1, 1.0)
    ratio = feeder.q_to_p_ratio

    def solve(soft: bool) -> tuple[np.ndarray, Any]:
        m = pyo.ConcreteModel()
        m.BUSES = pyo.Set(initialize=feeder.buses)
        m.shed_kw = pyo.Var(m.BUSES, bounds=lambda _, j: (0, feeder.p_load_kw[j - 1]), doc="shed load [kW]")
        m.net = pyo.Block()
        nh = build_lindistflow(m.net, feeder, h, p_extra_kw=lambda j, t: -m.shed_kw[j],
                               q_extra_kvar=lambda j, t: -ratio[j - 1] * m.shed_kw[j],
                               soft_limits=soft, violation_cost_per_pu_h=penalty)
        m.obj = pyo.Objective(expr=0.01 * pyo.quicksum(m.shed_kw[j] for j in feeder.buses) + nh.violation_cost)
        hm = HighsModel(m, "soft shed")
        hm.solve()
        return hm.values(m.shed_kw), network_solution(hm, nh)

    shed, sol = solve(soft=True)
    viol = sol.voltage_violation
    assert viol is not None
    if sheds:
        hard_shed, hard_sol = solve(soft=False)
        assert hard_sol.voltage_violation is None
        assert shed.sum() > 1.0 and shed.sum() == pytest.approx(hard_shed.sum(), rel=1e-6)
        assert sol.v_pu.min() == pytest.approx(0.93, abs=TOL)
        assert viol.under_pu.max() <= TOL and viol.cost == pytest.approx(0.0, abs=1e-4)
        assert viol.max_under_bus.tolist() == [-1]
    else:
        np.testing.assert_allclose(shed, 0.0, atol=TOL)
        np.testing.assert_allclose(sol.v_pu[0], lindistflow_voltages(feeder, feeder.p_load_kw, feeder.q_load_kvar),
                                   atol=TOL)
        assert viol.max_under_bus.tolist() == [18]
        assert viol.max_under_pu[0] == pytest.approx(0.93 - 0.91593, abs=2e-3)


def test_soft_limits_within_limits_have_no_slack(feeder: Feeder) -> None:
    """At 0.6x load every voltage is within 0.93-1.07: soft mode gives hard mode's solution and zero slack."""
    h = Horizon(2, 1.0)
    pl, ql = 0.6 * feeder.p_load_kw, 0.6 * feeder.q_load_kvar
    sols = {}
    for soft in (False, True):
        m, nh = _network_model(feeder, h, p_load_kw=pl, q_load_kvar=ql, soft_limits=soft,
                               violation_cost_per_pu_h=1000.0)
        m.obj = pyo.Objective(expr=pyo.quicksum(m.net.p_sub_kw[t] for t in h.periods) + nh.violation_cost)
        hm = HighsModel(m, f"soft={soft}")
        hm.solve()
        sols[soft] = network_solution(hm, nh)
        if not soft:  # hard mode is unchanged: no slack columns, no cost
            assert not hasattr(m.net, "v_under_pu") and not hasattr(m.net, "violation_cost")
            assert not nh.soft_limits and nh.violation_cost == 0.0
            assert hm.n_cols == 33 * 2 + 32 * 2 * 2 + 2 * 2
        else:
            assert hm.n_cols == 33 * 2 + 32 * 2 * 2 + 2 * 2 + 2 * 32 * 2
    assert sols[False].voltage_violation is None
    viol = sols[True].voltage_violation
    assert viol is not None
    np.testing.assert_allclose(sols[True].v_pu, sols[False].v_pu, atol=TOL)
    assert viol.under_pu.max() <= 1e-12 and viol.over_pu.max() <= 1e-12 and viol.cost <= 1e-9
    assert viol.max_under_bus.tolist() == viol.max_over_bus.tolist() == [-1, -1]


def test_upper_voltage_limit_binds_with_generation(feeder: Feeder) -> None:
    """As much generation at bus 18 as the feeder takes: v_18 rises to 1.07 p.u., not the 4 MVA limit."""
    h = Horizon(1, 1.0)
    m = pyo.ConcreteModel()
    m.gen_kw = pyo.Var(bounds=(0, 10_000.0), doc="generator at bus 18 [kW]")
    m.net = pyo.Block()
    nh = build_lindistflow(m.net, feeder, h, p_extra_kw=lambda j, t: -m.gen_kw if j == 18 else None,
                           v_min_pu=0.5)
    m.obj = pyo.Objective(expr=-m.gen_kw, sense=pyo.minimize)
    hm = HighsModel(m, "gen")
    hm.solve()
    sol = network_solution(hm, nh)
    assert sol.v_pu[0, 17] == pytest.approx(1.07, abs=TOL) and sol.v_pu.max() == pytest.approx(1.07, abs=TOL)
    assert np.abs(sol.p_flow_kw).max() < 4000.0
    gen = hm.value(m.gen_kw)
    p = feeder.p_load_kw.copy()
    p[17] -= gen
    np.testing.assert_allclose(sol.v_pu[0], lindistflow_voltages(feeder, p, feeder.q_load_kvar), atol=TOL)


def test_octagon_cuts_branch_flow(feeder: Feeder) -> None:
    """S_max(1-2) = 3 MVA with expensive local generation at bus 7.

    Q_12 = 2300 kvar is fixed by the loads.  The octagon faces are cos(m pi/4) P + sin(m pi/4) Q <= 3000;
    face m = 1 binds first: (P + 2300)/sqrt(2) <= 3000, so P_12 = 3000 sqrt(2) - 2300 = 1942.64 kW and
    the generator covers 3715 - 1942.64 = 1772.36 kW.  Without the limit it stays off.
    """
    h = Horizon(1, 1.0)

    def solve(s_max: dict[tuple[int, int], float] | None) -> tuple[float, Any]:
        m = pyo.ConcreteModel()
        m.gen_kw = pyo.Var(bounds=(0, 5000.0), doc="generator at bus 7 [kW]")
        m.net = pyo.Block()
        nh = build_lindistflow(m.net, feeder, h, p_extra_kw=lambda j, t: -m.gen_kw if j == 7 else None,
                               v_min_pu=0.90, s_max_mva=s_max)
        m.obj = pyo.Objective(expr=m.gen_kw)
        hm = HighsModel(m, "octagon")
        hm.solve()
        return hm.value(m.gen_kw), network_solution(hm, nh)

    gen, _ = solve(None)
    assert gen == pytest.approx(0.0, abs=TOL)
    gen, sol = solve({(1, 2): 3.0})
    p12 = 3000.0 * math.sqrt(2) - 2300.0
    assert sol.p_flow_kw[0, 0] == pytest.approx(p12, abs=1e-5)
    assert sol.q_flow_kvar[0, 0] == pytest.approx(2300.0, abs=1e-5)
    assert gen == pytest.approx(3715.0 - p12, abs=1e-5)
    # the octagon circumscribes the circle: |S| may exceed S_max by up to 1/cos(pi/8) - 1 = 8.2 %
    s = math.hypot(sol.p_flow_kw[0, 0], sol.q_flow_kvar[0, 0])
    assert 3000.0 < s <= 3000.0 / math.cos(math.pi / 8) + 1e-6


def test_solved_dispatch_ac_check(feeder: Feeder) -> None:
    """A 4-period dispatch with PV as coordinator variables (p_extra_kw) and the default 0.93-1.07 limits:
    the AC power flow of the solved net demands stays within 0.01 p.u. of the LinDistFlow voltages."""
    h = Horizon(4, 1.0)
    load_scale = np.array([0.6, 0.8, 1.0, 0.9])
    pv_frac = np.array([0.0, 0.4, 0.8, 1.0])
    m = pyo.ConcreteModel()
    m.PV = pyo.Set(initialize=sorted(PV_KW))
    m.T = pyo.Set(initialize=h.periods)
    m.pv_kw = pyo.Var(m.PV, m.T, bounds=lambda _, b, t: (0, pv_frac[t - 1] * PV_KW[b]), doc="PV dispatch [kW]")
    m.net = pyo.Block()
    nh = build_lindistflow(
        m.net, feeder, h,
        p_load_kw=load_scale[:, None] * feeder.p_load_kw, q_load_kvar=load_scale[:, None] * feeder.q_load_kvar,
        p_extra_kw=lambda j, t: -m.pv_kw[j, t] if j in PV_KW else None,
    )
    # import at 0.1 per kWh; curtailing PV is penalised (so surplus PV is exported, within the limits)
    m.obj = pyo.Objective(expr=pyo.quicksum(0.1 * m.net.p_sub_kw[t] - 0.05 * m.pv_kw[b, t] for b in m.PV for t in m.T))
    hm = HighsModel(m, "dispatch")
    hm.solve()
    sol = network_solution(hm, nh)
    assert sol.v_pu[:, 1:].min() >= 0.93 - TOL and sol.v_pu.max() <= 1.07 + TOL
    assert sol.p_sub_kw[3] < 0  # midday: the feeder exports
    check = ac_check(feeder, sol)
    assert check.max_abs_error_pu <= 0.01
    assert check.ac.converged.all() and np.all(check.losses_kw > 0)
    assert check.comparison.period in (1, 2, 3, 4) and 1 <= check.comparison.bus <= 33


# ---------------------------------------------------------------------------- bad input


def test_bad_input_names_the_argument(feeder: Feeder) -> None:
    h = Horizon(2, 1.0)
    with pytest.raises(ValueError, match="p_load_kw"):
        _network_model(feeder, h, p_load_kw=np.zeros(32))
    with pytest.raises(ValueError, match="q_load_kvar"):
        _network_model(feeder, h, q_load_kvar=np.zeros((3, 33)))
    bad = np.zeros((2, 33))
    bad[1, 4] = np.nan
    with pytest.raises(ValueError, match=r"p_gen_kw: non-finite value at bus 5, period 2"):
        _network_model(feeder, h, p_gen_kw=bad)
    with pytest.raises(ValueError, match="s_max_mva"):
        _network_model(feeder, h, s_max_mva={(1, 3): 2.0})
    with pytest.raises(ValueError, match="s_max_mva"):
        _network_model(feeder, h, s_max_mva=np.ones(5))
    with pytest.raises(ValueError, match="v_min_pu"):
        _network_model(feeder, h, v_min_pu=1.1)
    with pytest.raises(ValueError, match="violation_cost_per_pu_h"):
        _network_model(feeder, h, soft_limits=True, violation_cost_per_pu_h=-1.0)
    with pytest.raises(ValueError, match="p_load_kw"):
        lindistflow_voltages(feeder, np.zeros(32), np.zeros(32))
    with pytest.raises(ValueError, match="q_load_kvar"):
        ac_power_flow(feeder, feeder.p_load_kw, np.zeros(3))
    with pytest.raises(ValueError, match="p_gen_kw"):
        ac_power_flow_series(feeder, np.zeros((2, 33)), np.zeros((2, 33)), np.zeros((3, 33)))
    with pytest.raises(ValueError, match="v_ac_pu"):
        compare_with_ac(np.ones(33), np.ones(32))
    _, nh = _network_model(feeder, h)
    with pytest.raises(ValueError, match="p_gen_kw"):
        set_network_data(nh, p_gen_kw=np.zeros(7))


def test_pandapower_runs_offline_and_quietly() -> None:
    """A fresh interpreter with sockets disabled and warnings as errors: nothing is downloaded and
    nothing (numba warning, plotly notice) is printed."""
    code = (
        "import socket, logging\n"
        "def _no_net(*a, **k): raise OSError('network access attempted')\n"
        "socket.socket.connect = _no_net\n"
        "socket.create_connection = _no_net\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "from scenarios.feeder import load_ieee33\n"
        "from sim.network.lindistflow import ac_power_flow\n"
        "f = load_ieee33()\n"
        "r = ac_power_flow(f, f.p_load_kw, f.q_load_kvar)\n"
        "assert r.converged\n"
    )
    proc = subprocess.run([sys.executable, "-W", "error", "-c", code], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    noisy = [ln for ln in proc.stderr.splitlines() if "pandapower" in ln or "numba" in ln]
    assert noisy == [], proc.stderr


def test_substation_voltage_per_period(feeder: Feeder) -> None:
    """A per-period substation voltage (the tap changer's) gives, period by period, the scalar results."""
    scale = np.array([0.5, 1.0, 1.2])[:, None]
    pl, ql = feeder.p_load_kw * scale, feeder.q_load_kvar * scale
    v0 = np.array([1.0, 1.03, 1.06])
    ldf = lindistflow(feeder, pl, ql, v0_pu=v0)
    ac = ac_power_flow_series(feeder, pl, ql, v0_pu=v0)
    for t in range(3):
        np.testing.assert_allclose(ldf.v_pu[t], lindistflow_voltages(feeder, pl[t], ql[t], v0_pu=v0[t]), atol=1e-12)
        one = ac_power_flow(feeder, pl[t], ql[t], v0_pu=v0[t])
        np.testing.assert_allclose(ac.v_pu[t], one.v_pu, atol=1e-9)
        assert ac.v_pu[t, feeder.bus_position[feeder.root]] == pytest.approx(v0[t])
    # a higher substation voltage lifts the far end and cuts the losses of the same load
    assert ac.v_pu[2].min() > lindistflow(feeder, pl[2], ql[2]).v_pu.min() - 0.02
    assert ac_power_flow(feeder, pl[2], ql[2], v0_pu=1.06).losses_kw < ac_power_flow(feeder, pl[2], ql[2]).losses_kw
    with pytest.raises(ValueError, match=r"v0_pu: expected one value or shape \(3,\)"):
        lindistflow(feeder, pl, ql, v0_pu=[1.0, 1.0])
    with pytest.raises(ValueError, match="v0_pu: expected one value > 0 or 3"):
        ac_power_flow_series(feeder, pl, ql, v0_pu=[1.0, 0.0, 1.0])


def test_line_drop_compensation_sets_the_root_voltage(feeder: Feeder) -> None:
    """build_lindistflow(ldc_pu_per_mw=k): v_root = V0^2 + 2 V0 k P_sub / 1000 in every period (LDF-4)."""
    hz = Horizon(2, 1.0)
    m = pyo.ConcreteModel()
    m.net = pyo.Block()
    loads = np.vstack([feeder.p_load_kw * 0.5, feeder.p_load_kw])
    handle = build_lindistflow(m.net, feeder, hz, loads, np.vstack([feeder.q_load_kvar] * 2), v_min_pu=0.5,
                               ldc_pu_per_mw=0.0125, branch_limits=False)
    m.obj = pyo.Objective(expr=0.0)
    hm = HighsModel(m, "ldc")
    hm.solve()
    sol = network_solution(hm, handle)
    p_sub = loads.sum(axis=1)
    np.testing.assert_allclose(sol.p_sub_kw, p_sub, atol=1e-6)
    np.testing.assert_allclose(sol.v_pu[:, feeder.bus_position[feeder.root]] ** 2, 1.0 + 2 * 0.0125 * p_sub / 1000,
                               atol=1e-9)
    # the rest of the feeder is LinDistFlow from that root voltage (its squared value)
    v_sq_root = 1.0 + 2 * 0.0125 * p_sub / 1000
    np.testing.assert_allclose(sol.v_pu, lindistflow(feeder, loads, np.vstack([feeder.q_load_kvar] * 2),
                                                     v0_pu=np.sqrt(v_sq_root)).v_pu, atol=1e-6)
    with pytest.raises(ValueError, match="ldc_pu_per_mw: must be a finite value >= 0"):
        build_lindistflow(pyo.Block(concrete=True), feeder, hz, ldc_pu_per_mw=-1.0)

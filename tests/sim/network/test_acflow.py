"""The batched AC power flow (sim/network/acflow.py) against pandapower's ``runpp`` (the reference).

Every expectation is pandapower's answer for the same data (``ac_power_flow_series_pandapower``):
voltages to 1e-6 p.u., losses to 1e-6 relative, substation power to 1e-3 kW / kvar (both solvers stop
at a power mismatch of 1e-8 MVA = 0.01 W, so they agree far better than that).
"""

from __future__ import annotations

import numpy as np
import pytest

from scenarios.feeder import Branch, Feeder, load_ieee33
from sim.network.acflow import AcSeriesResult, newton_raphson_series
from sim.network.lindistflow import (
    PowerFlowError,
    ac_power_flow_series,
    ac_power_flow_series_pandapower,
)

V_TOL_PU = 1e-6
LOSS_RTOL = 1e-6
SUB_TOL_KW = 1e-3


@pytest.fixture(scope="module")
def feeder() -> Feeder:
    return load_ieee33()


def _assert_agree(new: AcSeriesResult, ref: AcSeriesResult) -> None:
    assert new.converged.tolist() == ref.converged.tolist()
    ok = ref.converged
    np.testing.assert_allclose(new.v_pu[ok], ref.v_pu[ok], rtol=0, atol=V_TOL_PU)
    np.testing.assert_allclose(new.losses_kw[ok], ref.losses_kw[ok], rtol=LOSS_RTOL, atol=0)
    np.testing.assert_allclose(new.p_sub_kw[ok], ref.p_sub_kw[ok], rtol=0, atol=SUB_TOL_KW)
    np.testing.assert_allclose(new.q_sub_kvar[ok], ref.q_sub_kvar[ok], rtol=0, atol=SUB_TOL_KW)


def test_base_case_matches_pandapower(feeder: Feeder) -> None:
    pl, ql = feeder.p_load_kw[None, :], feeder.q_load_kvar[None, :]
    new = ac_power_flow_series(feeder, pl, ql)
    _assert_agree(new, ac_power_flow_series_pandapower(feeder, pl, ql))
    assert new.v_pu[0].min() == pytest.approx(0.91309, abs=1e-5)  # Baran & Wu, bus 18
    assert new.losses_kw[0] == pytest.approx(202.68, abs=0.01)


def test_random_days_match_pandapower(feeder: Feeder) -> None:
    """20 random days (3 periods each, all solved in one batched call): loads 0..1.5x the base per
    bus, PV at random buses up to twice the feeder's load (reverse flow), v0 in [0.95, 1.06]."""
    rng = np.random.default_rng(20261207)
    n_days, per_day = 20, 3
    n, nb = n_days * per_day, feeder.n_buses
    pl = rng.uniform(0.0, 1.5, (n, nb)) * feeder.p_load_kw
    ql = pl * feeder.q_to_p_ratio
    pv_share = rng.uniform(0.0, 2.0, (n, 1)) * feeder.p_load_kw.sum()
    weights = rng.uniform(0.0, 1.0, (n, nb)) * (rng.uniform(size=(n, nb)) < 0.3)
    pg = pv_share * weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
    v0 = rng.uniform(0.95, 1.06, n)
    new = ac_power_flow_series(feeder, pl, ql, pg, v0_pu=v0)
    ref = ac_power_flow_series_pandapower(feeder, pl, ql, pg, v0_pu=v0)
    assert ref.converged.all()
    _assert_agree(new, ref)
    assert (new.p_sub_kw < 0).any() and (new.p_sub_kw > 0).any()  # the draws did reach reverse flow
    assert np.nanmax(new.v_pu) > 1.06  # ... and a voltage rise above the slack


def test_non_converging_period_is_named(feeder: Feeder) -> None:
    scale = np.array([1.0, 0.3, 20.0, 1.2])[:, None]
    pl, ql = scale * feeder.p_load_kw, scale * feeder.q_load_kvar
    with pytest.raises(PowerFlowError, match=r"did not converge in period 3 \(net demand 74300\.0 kW"):
        ac_power_flow_series(feeder, pl, ql)
    new = ac_power_flow_series(feeder, pl, ql, raise_on_failure=False)
    assert new.converged.tolist() == [True, True, False, True]
    assert np.isnan(new.v_pu[2]).all() and np.isnan(new.losses_kw[2]) and np.isnan(new.p_sub_kw[2])
    _assert_agree(new, ac_power_flow_series_pandapower(feeder, pl, ql, raise_on_failure=False))
    _, iterations = newton_raphson_series(feeder, pl, ql, np.ones(4))
    assert iterations[2] == 10 and iterations[[0, 1, 3]].max() <= 5  # quadratic convergence elsewhere


def test_small_feeder_with_root_not_first() -> None:
    """Bus order, root position and branch orientation are taken from the feeder, not assumed."""
    f = Feeder(name="three", buses=(7, 3, 5), root=3,
               branches=(Branch(3, 5, 0.5, 0.8), Branch(5, 7, 1.0, 0.4)),
               p_load_kw=np.array([300.0, 0.0, 200.0]), q_load_kvar=np.array([100.0, 0.0, 50.0]),
               v_base_kv=12.66, s_base_mva=10.0)
    pl = np.array([[300.0, 0.0, 200.0], [0.0, 50.0, 0.0]])
    ql = np.array([[100.0, 0.0, 50.0], [0.0, 20.0, 0.0]])
    pg = np.array([[0.0, 0.0, 0.0], [900.0, 0.0, 0.0]])
    new = ac_power_flow_series(f, pl, ql, pg, v0_pu=[1.02, 1.0])
    _assert_agree(new, ac_power_flow_series_pandapower(f, pl, ql, pg, v0_pu=[1.02, 1.0]))
    assert new.v_pu[0, 1] == pytest.approx(1.02) and new.v_pu[1, 0] > 1.0  # slack at bus 3; PV lifts bus 7
    # the substation supplies the loads (its own included) plus the losses
    assert new.p_sub_kw[1] == pytest.approx(50.0 - 900.0 + new.losses_kw[1], abs=1e-6)


def test_zero_impedance_branch_is_refused() -> None:
    f = Feeder(name="short", buses=(1, 2), branches=(Branch(1, 2, 0.0, 0.0),), p_load_kw=np.zeros(2),
               q_load_kvar=np.zeros(2), v_base_kv=12.66, s_base_mva=10.0)
    with pytest.raises(ValueError, match=r"Feeder short: branches \['1->2'\] have zero impedance"):
        ac_power_flow_series(f, np.zeros((1, 2)), np.zeros((1, 2)))

"""Coordinators of paper 004 (sim/systems/ieee33/schemes.py): day data, NB-P1, greedy post-step, four schemes."""

from __future__ import annotations

import numpy as np
import pytest

from agents.cluster import ClusterData, ClusterParams, ClusterSolution
from agents.devices.core import Horizon
from agents.devices.storage import BatteryParams
from market import bisection_iteration_bound
from scenarios.ieee33_loader import fleet, load_ieee33_scenario
from sim.systems.ieee33.modes import SCHEMES, modes_of
from sim.systems.ieee33.results import check_balance, network_check
from sim.systems.ieee33.schemes import (
    CoalitionProblem,
    DistributionModel,
    SchemeResult,
    greedy_exchange,
    make_day,
)

NO_ESS = BatteryParams(capacity_kwh=0.0, p_charge_max_kw=0.0, p_discharge_max_kw=0.0, soc_min_frac=0.0,
                       soc_max_frac=1.0, soc_initial_frac=0.5, eta_charge=0.95, eta_discharge=0.95,
                       self_discharge_per_h=0.0, cost_per_kwh=0.0)


# ------------------------------------------------------------------------------ day data


def test_day_is_reproducible_and_seeded() -> None:
    sc = load_ieee33_scenario()
    a, b, c = make_day(sc, 7), make_day(sc, 7), make_day(sc, 8)
    for site in sc.renewables:
        np.testing.assert_array_equal(a.realized_kw[site.name], b.realized_kw[site.name])
        r = a.realized_kw[site.name]
        assert r.shape == (96,) and r.min() >= 0 and r.max() <= site.capacity_kw + 1e-9
        if site.kind == "pv":  # no sun at night: zero wherever the hourly forecast is zero
            assert np.all(r[np.repeat(site.forecast_kw, 4) <= 0] == 0)
        # the realisation follows the forecast (3 % of capacity noise), it is not a copy of it
        assert 0 < np.abs(r - np.repeat(site.forecast_kw, 4)).mean() < 0.1 * site.capacity_kw
    assert any(not np.array_equal(a.realized_kw[s.name], c.realized_kw[s.name]) for s in sc.renewables)
    ref = fleet(sc, 7)
    assert {k: [p.name for p in v] for k, v in a.fleets.items()} == {k: [p.name for p in v] for k, v in ref.items()}
    assert a.fleets[13][0] == ref[13][0]


# ------------------------------------------------------------------------------ NB-P1 on a tiny case


def _tiny_clusters(rng: np.random.Generator) -> tuple[list[ClusterParams], dict[str, ClusterData], Horizon]:
    hz = Horizon(24, 1.0)
    a = ClusterParams("A", (1, 2), 1, pv_sites={2: 800.0}, wind_sites={1: 300.0}, ess=NO_ESS)
    b = ClusterParams("B", (3, 4), 3, pv_sites={4: 600.0}, wind_sites={3: 500.0}, ess=NO_ESS)
    data = {}
    for p in (a, b):
        pv = {s: cap * rng.uniform(0, 1, hz.n) for s, cap in p.pv_sites.items()}
        wt = {s: cap * rng.uniform(0, 1, hz.n) for s, cap in p.wind_sites.items()}
        data[p.name] = ClusterData(load_kw=rng.uniform(100, 1200, hz.n), pv_available_kw=pv, wind_available_kw=wt)
    return [a, b], data, hz


def test_nbp1_equals_the_independent_joint_optimum_and_exchanges_only_surplus() -> None:
    """Without storage the joint optimum has a closed form: per period, pool the renewables, use wind
    (no use cost) then PV (c_pvu < every grid price), buy the rest.  The least-exchange optimum moves
    exactly ``min(Σ surplus, Σ deficit)`` between the clusters."""
    rng = np.random.default_rng(3)
    params, data, hz = _tiny_clusters(rng)
    prob = CoalitionProblem(params, hz, data)
    sols, _, _ = prob.solve()
    p = params[0]
    price = p.buy_prices(hz)
    load = sum(d.load_kw for d in data.values())
    wind = sum(sum(d.wind_available_kw.values()) for d in data.values())
    pv = sum(sum(d.pv_available_kw.values()) for d in data.values())
    use_w = np.minimum(wind, load)
    use_pv = np.minimum(pv, load - use_w)
    buy = load - use_w - use_pv
    joint = float((price * buy + p.c_pvu * use_pv + p.eta_pv * (pv - use_pv) + p.eta_wt * (wind - use_w)).sum())
    assert sum(s.cost for s in sols.values()) == pytest.approx(joint, rel=1e-8)
    own = {n: sum(d.pv_available_kw.values()) + sum(d.wind_available_kw.values()) for n, d in data.items()}
    surplus = sum(np.clip(own[n] - data[n].load_kw, 0, None) for n in data)
    deficit = sum(np.clip(data[n].load_kw - own[n], 0, None) for n in data)
    exchanged = sum(s.profiles["p_out_kw"] for s in sols.values())
    np.testing.assert_allclose(exchanged, np.minimum(surplus, deficit), atol=1e-6)
    for s in sols.values():
        assert np.abs(s.balance_residual_kw()).max() < 1e-6
        assert np.minimum(s.profiles["p_in_kw"], s.profiles["p_out_kw"]).max() < 1e-6
    # re-solve with new data: same persistent model, still the closed form
    data2 = {n: ClusterData(d.load_kw * 0.5, d.pv_available_kw, d.wind_available_kw) for n, d in data.items()}
    sols2, _, _ = prob.solve(data2)
    load2 = load * 0.5
    use_w2 = np.minimum(wind, load2)
    use_pv2 = np.minimum(pv, load2 - use_w2)
    joint2 = float((price * (load2 - use_w2 - use_pv2) + p.c_pvu * use_pv2 + p.eta_pv * (pv - use_pv2)
                    + p.eta_wt * (wind - use_w2)).sum())
    assert sum(s.cost for s in sols2.values()) == pytest.approx(joint2, rel=1e-8)


def test_coalition_problem_rejects_bad_input() -> None:
    params, data, hz = _tiny_clusters(np.random.default_rng(0))
    with pytest.raises(ValueError, match="exchange_efficiency"):
        CoalitionProblem(params, hz, data, exchange_efficiency=0.0)
    with pytest.raises(ValueError, match=r"no data for clusters \['B'\]"):
        CoalitionProblem(params, hz, {"A": data["A"]})


# ------------------------------------------------------------------------------ greedy post-step


def _plan(name: str, params: ClusterParams, n: int, **prof: np.ndarray) -> ClusterSolution:
    z = np.zeros(n)
    p = {k: z.copy() for k in ("load_kw", "ess_charge_kw", "ess_discharge_kw", "soc_kwh", "grid_buy_kw",
                                "grid_sell_kw", "p_in_kw", "p_out_kw")}
    for kind, sites in (("pv", params.pv_sites), ("wind", params.wind_sites)):
        for s in sites:
            p[f"{kind}{s}_kw"] = z.copy()
            p[f"{kind}{s}_available_kw"] = z.copy()
    p.update({k: np.asarray(v, dtype=float) for k, v in prof.items()})
    for kind, sites in (("pv", params.pv_sites), ("wind", params.wind_sites)):
        p[f"{kind}_kw"] = sum((p[f"{kind}{s}_kw"] for s in sites), z.copy())
        p[f"{kind}_available_kw"] = sum((p[f"{kind}{s}_available_kw"] for s in sites), z.copy())
    return ClusterSolution(name, 1.0, p, {"total": 0.0})


def test_greedy_exchange_by_hand() -> None:
    a = ClusterParams("A", (1,), 1, pv_sites={1: 100.0}, ess=NO_ESS)
    b = ClusterParams("B", (2,), 2, wind_sites={2: 100.0}, ess=NO_ESS)
    n = 2
    # A curtails 10 then 0 kW of PV; B buys 6 then 5 kW
    pa = _plan("A", a, n, load_kw=[40, 50], pv1_kw=[40, 50], pv1_available_kw=[50, 50])
    pb = _plan("B", b, n, load_kw=[26, 25], wind2_kw=[20, 20], wind2_available_kw=[20, 20], grid_buy_kw=[6, 5])
    price = np.array([0.1, 0.2])
    buy = {"A": np.array([0.07, 0.16]), "B": np.array([0.07, 0.16])}
    out, transfers = greedy_exchange({"A": pa, "B": pb}, {"A": a, "B": b}, buy, price)
    np.testing.assert_allclose(out["A"].profiles["p_out_kw"], [6, 0])
    np.testing.assert_allclose(out["B"].profiles["p_in_kw"], [6, 0])
    np.testing.assert_allclose(out["A"].profiles["pv1_kw"], [46, 50])
    np.testing.assert_allclose(out["B"].profiles["grid_buy_kw"], [0, 5])
    assert transfers == pytest.approx(6 * 0.1)
    assert out["B"].costs["grid"] == pytest.approx(5 * 0.16)
    assert out["A"].costs["curtailment"] == pytest.approx(4 * a.eta_pv)
    assert out["A"].costs["pv_use"] == pytest.approx(96 * a.c_pvu)
    for s in out.values():
        assert np.abs(s.balance_residual_kw()).max() < 1e-9
    assert pa.profiles["p_out_kw"].sum() == 0  # inputs untouched


# ------------------------------------------------------------------------------ the four schemes on the default day


@pytest.fixture(scope="module")
def day() -> tuple[DistributionModel, dict[str, SchemeResult]]:
    sc = load_ieee33_scenario()
    model = DistributionModel(sc, make_day(sc))
    return model, model.run(modes_of(list(SCHEMES)))


def test_oracle_is_the_lowest_and_cooperation_beats_standing_alone(
        day: tuple[DistributionModel, dict[str, SchemeResult]]) -> None:
    _, res = day
    total = {k: r.total_cost for k, r in res.items()}
    for k in ("cooperative", "centralized", "noncooperative"):
        assert total["oracle"] <= total[k] + 1e-6 * abs(total[k]), total
    assert total["cooperative"] < total["noncooperative"], total
    # the oracle's optimum is certified by the solver: its dual bound is below its cost
    o = res["oracle"]
    assert o.info["dual_bound"] <= o.total_cost + 1e-6 * abs(o.total_cost)


def test_bargaining_is_budget_balanced_and_individually_rational(
        day: tuple[DistributionModel, dict[str, SchemeResult]]) -> None:
    _, res = day
    a = res["cooperative"].allocation
    assert a is not None and a.coalition_formed
    assert abs(a.payment.sum()) <= 1e-6
    assert np.all(a.final_cost <= a.standalone_cost + 1e-6)
    assert np.all(a.weight > 0) and a.weight.sum() == pytest.approx(1.0)
    # NB-P1 is cost-optimal, so it is no worse than the sum of the standalone costs
    assert a.coalition_cost.sum() <= a.standalone_cost.sum() + 1e-6
    assert a.surplus == pytest.approx(a.standalone_cost.sum() - a.coalition_cost.sum(), abs=1e-6)
    s = res["cooperative"].settlement
    assert s is not None and s.ok


def test_bisection_converges_within_its_bound(day: tuple[DistributionModel, dict[str, SchemeResult]]) -> None:
    model, res = day
    tr = res["cooperative"].trace
    bis = model.spec.market.bisection
    assert tr is not None and tr.eq34_met and bis.upstream_supply
    assert tr.iterations <= bisection_iteration_bound(bis.p_min, bis.p_max, bis.xi, upstream_supply=True)
    assert tr.max_rel_change[-1] <= bis.xi
    # SPEC §6.7: the upstream grid supplies every deficit at its price, so no period is left short at p_max;
    # a period that does not clear is a midday surplus that stays at p_min (local renewables exceed the load)
    assert "short_at_p_max" not in tr.status and tr.periods_with("absorbed")
    up_price, _ = model.upstream_offer()
    assert up_price is not None
    for k in tr.periods_with("absorbed"):
        assert tr.final_prices[k - 1] == up_price[k - 1] and tr.upstream_kw[-1, k - 1] > 0
    assert set(tr.status[k - 1] for k in tr.uncleared_periods) <= {"surplus_at_p_min"}
    for k in tr.uncleared_periods:
        assert tr.excess_demand_kw[-1, k - 1] < -bis.tol_z_kw and tr.final_prices[k - 1] <= bis.p_min * (1 + bis.xi)
    assert tr.converged == (not tr.uncleared_periods)
    assert np.all(np.diff(tr.lo, axis=0) >= -1e-15) and np.all(np.diff(tr.hi, axis=0) <= 1e-15)
    p = res["cooperative"].prices
    assert p.min() >= bis.p_min and p.max() <= bis.p_max


def test_followers_answer_the_prices_they_face(day: tuple[DistributionModel, dict[str, SchemeResult]]) -> None:
    model, res = day
    for name in ("cooperative", "oracle", "centralized"):
        r = res[name]
        for bus in (16, 23, 5):  # two DR buses and a plain one
            np.testing.assert_allclose(r.ta_load_kw[bus], model.tas[bus].respond(r.prices).load_kw, atol=1e-6)
    # centralized and noncooperative face the DA TOU prices held on the 15-min grid
    np.testing.assert_allclose(res["centralized"].prices, np.repeat(model.da.prices, 4))


def test_every_ev_leaves_with_its_required_energy(day: tuple[DistributionModel, dict[str, SchemeResult]]) -> None:
    model, res = day
    hz = model.horizon
    for name in ("cooperative", "oracle"):
        r = res[name]
        for j, p in enumerate(model.ev_params):
            k = p.departure_soc_period(hz) - 1
            assert r.ev_soc_frac[j, k] >= p.soc_required - 1e-6, (name, p.name)
            assert np.all(r.ev_soc_frac[j][~np.isnan(r.ev_soc_frac[j])] <= p.soc_max + 1e-6)
            assert np.minimum(r.ev_charge_kw[j], r.ev_discharge_kw[j]).max() <= 1e-6


def test_dispatch_balances_and_ac_matches_lindistflow(day: tuple[DistributionModel, dict[str, SchemeResult]]) -> None:
    model, res = day
    for name, r in res.items():
        net = network_check(model.spec, r)
        check_balance(r, net)
        for s in r.clusters.values():
            assert np.abs(s.balance_residual_kw()).max() < 1e-5, (name, s.name)
        if name == "cooperative":
            err = np.abs(net.v_pu - net.v_ac_pu).max(axis=1)
            assert err.shape == (96,) and err.max() <= 0.01


def test_upstream_supply_settles_deficit_periods_at_the_upstream_price() -> None:
    """The scheme's supply step is the upstream grid at the clusters' buy price (SPEC §6.7): a local deficit
    that no price in the bracket clears settles at c^buy exactly (absorbed), where variant A runs to p_max."""
    from market.pricing import bisection_prices

    up = np.array([0.07, 0.11, 0.16, 0.11])
    local = lambda pi: 1000.0 - 100.0 * pi  # always > 0 in [0.03, 0.25]
    prices, trace = bisection_prices(local, 4, p0=0.11, xi=0.01, upstream_price=up, upstream_max_kw=18_000.0)
    assert trace.converged and trace.status == ("absorbed",) * 4
    np.testing.assert_array_equal(prices, up)
    plain, plain_trace = bisection_prices(local, 4, p0=0.11, xi=0.01)
    assert np.all(plain > 0.24) and plain_trace.uncleared_periods == [1, 2, 3, 4]  # variant A runs to p_max


def test_upstream_supply_is_a_scenario_switch() -> None:
    sc = load_ieee33_scenario()
    assert sc.market.bisection.upstream_supply is True  # the v2 default (SPEC §6.7)
    edited = load_ieee33_scenario(edits=[("market.bisection.upstream_supply", "false")])
    assert edited.market.bisection.upstream_supply is False

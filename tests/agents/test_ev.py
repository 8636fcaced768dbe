"""EV agent (SPEC §3.7) and the pooled fleet solver (SPEC §5.6): build / solution / fleet / sampling / bad input.

Every expected optimum on a tiny horizon is worked out by hand in the comment beside it.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import mesa
import numpy as np
import pyomo.environ as pyo
import pytest

from agents.devices.core import RT_HORIZON, Horizon, set_profile
from agents.ev import (
    COMPLEMENTARITY_TOL,
    EVAgent,
    EVData,
    EVFleet,
    EVParams,
    FleetSpec,
    build_ev,
    carried_end_min,
    make_feasible,
    sample_fleet,
)
from agents.milp import HighsModel, SolverOptions

TOL = 1e-6
H2 = Horizon(2, 1.0)
H4 = Horizon(4, 1.0)
# a TOU-like day on the 96-grid: valley 0.07, flat 0.11, peak 0.16
TOU = np.repeat([0.07] * 7 + [0.11] * 3 + [0.16] * 4 + [0.11] * 4 + [0.16] * 4 + [0.11] * 2, 4)


# ------------------------------------------------------------------------------------ helpers


def n_data(block: pyo.Block, ctype: type) -> int:
    return sum(1 for _ in block.component_data_objects(ctype, descend_into=True))


def solve_ev(
    params: EVParams, horizon: Horizon, prices: Any, exclusive: bool = True, tie_break: float = 0.0
) -> tuple[pyo.ConcreteModel, HighsModel, float]:
    """One EV alone in Pyomo, solved as its exact MILP (all binaries integer, tight gap)."""
    m = pyo.ConcreteModel()
    m.ev = pyo.Block()
    m.handle = build_ev(m.ev, params, horizon, prices, exclusive=exclusive, tie_break=tie_break)
    m.obj = pyo.Objective(expr=m.ev.cost)
    hm = HighsModel(m, params.name, SolverOptions(mip_rel_gap=1e-9), relax_integrality=False)
    stats = hm.solve()
    assert stats.status == "optimal"
    return m, hm, stats.objective


def work(name: str = "w", **kw: Any) -> EVParams:
    base: dict[str, Any] = dict(arrival_period=1, departure_period=3, capacity_kwh=10.0, p_charge_max_kw=5.0,
                                p_discharge_max_kw=5.0, soc_arrival=0.5, soc_required=0.8, c_ev=0.0)
    base.update(kw)
    return EVParams(name, **base)


def station_fleets(k: int, seed: int = 7, horizon: Horizon = RT_HORIZON) -> list[EVParams]:
    """``k`` vehicles at each of the stations 13, 19, 31, one Generator per station (SeedSequence.spawn)."""
    fleet: list[EVParams] = []
    for child, st in zip(np.random.SeedSequence(seed).spawn(3), ("13", "19", "31"), strict=True):
        fleet += sample_fleet(k, np.random.default_rng(child), horizon, st)
    return fleet


@pytest.fixture(scope="module")
def sampled() -> list[EVParams]:
    return station_fleets(20)


@pytest.fixture(scope="module")
def fleet20(sampled: list[EVParams]) -> EVFleet:
    return EVFleet(sampled)


# ------------------------------------------------------------------------------------ build


def test_build_counts_work_ev() -> None:
    # work EV plugged in periods 2, 3 of a 4-period day: W = {2, 3}
    p = work(arrival_period=2, departure_period=4)
    m = pyo.ConcreteModel()
    m.ev = pyo.Block()
    h = build_ev(m.ev, p, H4, [0.1] * 4)
    b = m.ev
    assert (len(b.p_charge_kw), len(b.p_discharge_kw), len(b.x_charge), len(b.x_discharge), len(b.soc_frac),
            len(b.p_net_kw)) == (4, 4, 2, 2, 2, 4)
    assert n_data(b, pyo.Var) == 18
    assert (len(b.res_mode), len(b.res_charge_max), len(b.res_discharge_max), len(b.def_soc), len(b.def_net)) == (
        2, 2, 2, 2, 4)
    assert n_data(b, pyo.Constraint) == 2 + 2 + 2 + 2 + 1 + 4  # + res_departure
    # power is 0 outside the window by column bounds (EV-1 window)
    assert b.p_charge_kw[1].bounds == (0.0, 0.0) and b.p_charge_kw[4].bounds == (0.0, 0.0)
    assert b.p_charge_kw[2].bounds == (0.0, 5.0) and b.p_discharge_kw[3].bounds == (0.0, 5.0)
    assert b.soc_frac[2].bounds == (0.2, 0.95)
    assert all(b.x_charge[t].is_binary() for t in (2, 3))
    assert set(h.outputs) == {"ev_net_kw", "ev_charge_kw", "ev_discharge_kw", "ev_soc_frac"}
    assert h.outputs["ev_net_kw"][1] == "kW"
    assert h.integer_binaries == []
    assert len(h.complementarity) == 1 and h.complementarity[0].pos is b.p_charge_kw


def test_build_relaxed_then_enforce_rows() -> None:
    m = pyo.ConcreteModel()
    m.ev = pyo.Block()
    h = build_ev(m.ev, work(arrival_period=2, departure_period=4), H4, [0.1] * 4, exclusive=False)
    assert len(m.ev.res_charge_max) == 0 and len(m.ev.res_discharge_max) == 0
    assert h.complementarity[0].enforce([3]) == 2
    assert len(m.ev.res_charge_max) == 1 and len(m.ev.res_discharge_max) == 1


def test_build_home_ev_cyclic_counts_and_semicontinuous_rows() -> None:
    # home EV leaves at the start of period 2 and returns at period 4: plugged in W = {1, 4}
    p = EVParams("h", arrival_period=4, departure_period=2, kind="home", trip_kwh=2.0, p_charge_min_kw=1.0)
    m = pyo.ConcreteModel()
    m.ev = pyo.Block()
    h = build_ev(m.ev, p, H4, [0.1] * 4, exclusive=False)
    b = m.ev
    assert list(b.W) == [1, 4]
    assert len(b.soc_frac) == 4 and len(b.def_soc) == 4  # SOC over the whole (cyclic) day
    # a minimum power needs all EV-2 rows and both binaries integer, whatever `exclusive` says
    assert len(b.res_charge_max) == 2 and len(b.res_charge_min) == 2 and len(b.res_discharge_min) == 2
    assert h.integer_binaries == [b.x_charge, b.x_discharge]


# ------------------------------------------------------------------------------------ solution (hand-computed)


def test_charges_all_in_the_cheap_period_without_v2g() -> None:
    # E = 10 kWh, soc 0.5 -> 0.8 needs 3 kWh stored = 3 / 0.95 kWh bought, all in period 2 (price 0.1 < 0.3).
    p = work(v2g=False)
    m, hm, obj = solve_ev(p, H2, [0.3, 0.1])
    np.testing.assert_allclose(hm.values(m.ev.p_charge_kw), [0.0, 3 / 0.95], atol=TOL)
    np.testing.assert_allclose(hm.values(m.ev.p_discharge_kw), [0.0, 0.0], atol=TOL)
    np.testing.assert_allclose(hm.values(m.ev.soc_frac), [0.5, 0.8], atol=TOL)
    assert obj == pytest.approx(0.1 * 3 / 0.95, abs=TOL)


def test_v2g_discharges_down_to_what_departure_allows() -> None:
    # Prices [0.3, 0.1], c_ev = 0.01.  Selling in period 1 and buying back in period 2 pays
    # (0.29 > (0.1 + 0.01) / 0.95^2).  Period 2 charges at most 5 kW -> soc gain 0.475, so
    # soc_1 >= 0.8 - 0.475 = 0.325 and period 1 discharges (0.5 - 0.325) * 10 * 0.95 = 1.6625 kW.
    # cost = 0.3 * (-1.6625) + 0.1 * 5 + 0.01 * (1.6625 + 5) = 0.067875
    p = work(c_ev=0.01)
    m, hm, obj = solve_ev(p, H2, [0.3, 0.1])
    np.testing.assert_allclose(hm.values(m.ev.p_discharge_kw), [1.6625, 0.0], atol=TOL)
    np.testing.assert_allclose(hm.values(m.ev.p_charge_kw), [0.0, 5.0], atol=TOL)
    np.testing.assert_allclose(hm.values(m.ev.soc_frac), [0.325, 0.8], atol=TOL)
    np.testing.assert_allclose(hm.values(m.ev.p_net_kw), [-1.6625, 5.0], atol=TOL)
    assert obj == pytest.approx(0.067875, abs=TOL)
    # the fleet solver gives the same
    r = EVFleet([p], H2, tie_break=0.0).respond([0.3, 0.1])
    np.testing.assert_allclose(r.net_kw[0], [-1.6625, 5.0], atol=TOL)
    assert r.cost[0] == pytest.approx(0.067875, abs=TOL)
    assert r.path == "lp-certified"


def test_v2g_off_means_no_discharge_even_when_it_would_pay() -> None:
    # same prices as above: without V2G it only buys the 3 / 0.95 kWh it needs, in period 2
    m, hm, obj = solve_ev(work(c_ev=0.01, v2g=False), H2, [0.3, 0.1])
    np.testing.assert_allclose(hm.values(m.ev.p_net_kw), [0.0, 3 / 0.95], atol=TOL)
    assert obj == pytest.approx(0.11 * 3 / 0.95, abs=TOL)


def test_home_variant_cyclic_soc_and_trip_energy() -> None:
    # Home EV, E = 10, trip 2 kWh at the return period 3; plugged in W = {1, 3, 4}.  Cyclic SOC: it
    # must buy back the trip, 2 / 0.95 kWh, in the cheapest plugged period (3, price 0.1).
    p = EVParams("h", arrival_period=3, departure_period=2, kind="home", trip_kwh=2.0, capacity_kwh=10.0,
                 p_charge_max_kw=5.0, p_discharge_max_kw=5.0, soc_required=0.6, v2g=False, c_ev=0.0)
    prices = [0.2, 0.25, 0.1, 0.3]
    m, hm, obj = solve_ev(p, H4, prices)
    np.testing.assert_allclose(hm.values(m.ev.p_charge_kw), [0.0, 0.0, 2 / 0.95, 0.0], atol=TOL)
    assert obj == pytest.approx(0.1 * 2 / 0.95, abs=TOL)
    soc = hm.values(m.ev.soc_frac)
    # soc_0 = soc_4 (cyclic); the trip takes 0.2 at period 3 and the charge there puts it back
    assert soc[1] == pytest.approx(soc[0], abs=TOL)  # away in period 2: no flow
    assert soc[2] == pytest.approx(soc[1] - 0.2 + 0.95 * 2 / 0.95 / 10, abs=TOL)
    assert soc[0] == pytest.approx(soc[3], abs=TOL)
    assert soc[0] >= 0.6 - TOL  # EV-5 at d - 1 = 1
    assert np.all(soc >= 0.2 - TOL) and np.all(soc <= 0.95 + TOL)
    # fleet: same charging and cost; its SOC is defined while away (= departure SOC)
    r = EVFleet([p], H4, tie_break=0.0).respond(prices)
    np.testing.assert_allclose(r.charge_kw[0], [0.0, 0.0, 2 / 0.95, 0.0], atol=TOL)
    assert r.cost[0] == pytest.approx(obj, abs=TOL)
    assert r.soc_frac[0, 1] == pytest.approx(r.soc_frac[0, 0], abs=TOL)
    assert r.soc_frac[0, 3] == pytest.approx(r.soc_frac[0, 0], abs=TOL)


def test_minimum_power_is_semicontinuous() -> None:
    # soc 0.5 -> 0.6 needs 1 kWh stored = 1/0.95 = 1.05 kWh, less than P_min = 3 kW for 1 h.  The
    # cheapest way is 3 kW in the cheap period 2 (soc 0.5 + 0.285 = 0.785 >= 0.6), cost 0.1 * 3 = 0.3;
    # the LP relaxation (x fractional) would buy only 1.05 kWh.
    p = work(soc_required=0.6, p_charge_min_kw=3.0, v2g=False)
    m, hm, obj = solve_ev(p, H2, [0.2, 0.1], exclusive=False)
    np.testing.assert_allclose(hm.values(m.ev.p_charge_kw), [0.0, 3.0], atol=TOL)
    assert obj == pytest.approx(0.3, abs=TOL)
    r = EVFleet([p], H2).respond([0.2, 0.1])
    np.testing.assert_allclose(r.charge_kw[0], [0.0, 3.0], atol=TOL)
    assert r.path.startswith("lp+milp") and r.n_milp == 1


def test_price_param_update_equals_fresh_build() -> None:
    # the rolling-price loop: change the mutable prices, update the persistent model, re-solve
    p = work(c_ev=0.01, arrival_period=1, departure_period=5)
    m = pyo.ConcreteModel()
    m.ev = pyo.Block()
    build_ev(m.ev, p, H4, [0.3, 0.1, 0.2, 0.25])
    m.obj = pyo.Objective(expr=m.ev.cost)
    hm = HighsModel(m, "ev", SolverOptions(mip_rel_gap=1e-9), relax_integrality=False)
    hm.solve()
    new = [0.1, 0.3, 0.05, 0.2]
    set_profile(m.ev.price_per_kwh, new)
    hm.update()
    obj = hm.solve().objective
    m2, hm2, obj2 = solve_ev(p, H4, new)
    assert obj == pytest.approx(obj2, abs=TOL)
    np.testing.assert_allclose(hm.values(m.ev.p_net_kw), hm2.values(m2.ev.p_net_kw), atol=TOL)


# ------------------------------------------------------------------------------------ sampled fleet


def test_sampled_fleet_shares_windows_and_defaults(sampled: list[EVParams]) -> None:
    assert len(sampled) == 60
    for st in ("13", "19", "31"):
        evs = [p for p in sampled if p.station == st]
        assert len(evs) == 20
        assert sum(p.kind == "home" for p in evs) == 12  # 60 % home
        assert [p.kind for p in evs] != ["home"] * 12 + ["work"] * 8  # which ones is random
    for p in sampled:
        assert (p.capacity_kwh, p.p_charge_max_kw, p.p_discharge_max_kw, p.eta, p.soc_min, p.soc_max, p.v2g) == (
            60.0, 7.0, 7.0, 0.95, 0.2, 0.95, True)
        if p.kind == "home":
            # departure ~ N(07:30, 0.5 h), return ~ N(18:30, 1 h): periods 31 and 75 on average
            assert 1 <= p.departure_period < p.arrival_period <= 96
            assert 20 <= p.departure_period <= 42 and 55 <= p.arrival_period <= 96
            assert 6 <= p.trip_kwh <= 15
        else:
            assert 1 <= p.arrival_period < p.departure_period <= 97
            assert 25 <= p.arrival_period <= 45 and 60 <= p.departure_period <= 82
            assert 0.25 <= p.soc_arrival <= 0.5
            assert p.soc_required == pytest.approx(0.8)  # reachable: 7 kW for ~9 h


def test_same_seed_same_fleet_different_seed_different() -> None:
    a = station_fleets(10, seed=11)
    b = station_fleets(10, seed=11)
    c = station_fleets(10, seed=12)
    assert a == b
    assert a != c
    # one station's fleet depends only on its own Generator
    g1 = sample_fleet(10, np.random.default_rng(5), RT_HORIZON, "13")
    g2 = sample_fleet(10, np.random.default_rng(5), RT_HORIZON, "13")
    assert g1 == g2 and g1 != sample_fleet(10, np.random.default_rng(6), RT_HORIZON, "13")


@pytest.mark.parametrize("prices", ["tou", "random", "flat"])
def test_fleet_response_is_physical(fleet20: EVFleet, prices: str) -> None:
    pr = {"tou": TOU, "random": 0.05 + 0.15 * np.random.default_rng(3).random(96), "flat": np.full(96, 0.11)}[prices]
    r = fleet20.respond(pr)
    H = RT_HORIZON
    for j, p in enumerate(fleet20.params):
        # every EV leaves with its required energy (EV-5)
        assert r.soc_frac[j, p.departure_soc_period(H) - 1] >= p.soc_required - TOL, p.name
        # power is 0 outside the plug-in window
        away = np.ones(96, dtype=bool)
        away[np.asarray(p.plugged_periods(H)) - 1] = False
        assert np.all(r.charge_kw[j, away] == 0) and np.all(r.discharge_kw[j, away] == 0), p.name
        assert np.all(r.charge_kw[j] <= p.p_charge_max_kw + TOL)
        # SOC within [0.2, 0.95] wherever it is defined (EV-3); a work EV has no SOC while away
        s = r.soc_frac[j]
        assert np.all(s[~np.isnan(s)] >= 0.2 - TOL) and np.all(s[~np.isnan(s)] <= 0.95 + TOL)
        assert np.isnan(s).sum() == (away.sum() if p.kind == "work" else 0)
    # no simultaneous charge and discharge in the reported solution
    assert np.minimum(r.charge_kw, r.discharge_kw).max() <= COMPLEMENTARITY_TOL
    # station sums
    for k, st in enumerate(r.stations):
        np.testing.assert_allclose(r.station_net_kw[k], r.net_kw[fleet20.station_index == k].sum(axis=0), atol=TOL)
        np.testing.assert_allclose(r.station(st), r.station_net_kw[k])
    np.testing.assert_allclose(r.total_net_kw, r.net_kw.sum(axis=0), atol=1e-9)
    if prices == "flat":
        # tie-break: with equal prices a vehicle charges as soon as it is plugged in
        for j, p in enumerate(fleet20.params):
            first = p.plugged_periods(H)[0]
            assert r.charge_kw[j, first - 1] == pytest.approx(7.0), p.name


def test_fleet_equals_per_ev_pyomo_solves() -> None:
    # a small mixed fleet: sampled home/work EVs, one without V2G, one semi-continuous, one with a stored-energy value
    fleet = sample_fleet(5, np.random.default_rng(21), RT_HORIZON, "13")
    fleet += sample_fleet(3, np.random.default_rng(22), RT_HORIZON, "19")
    fleet[1] = replace(fleet[1], v2g=False)
    fleet[2] = replace(fleet[2], p_charge_min_kw=2.0, p_discharge_min_kw=3.0)
    fleet[6] = replace(fleet[6], lambda_ev=0.02)
    F = EVFleet(fleet, tie_break=0.0)
    rng = np.random.default_rng(8)
    for _ in range(2):
        pr = 0.04 + 0.14 * rng.random(96)  # generic prices: every EV's optimum is unique
        r = F.respond(pr)
        net = np.zeros((2, 96))
        for j, p in enumerate(fleet):
            m, hm, obj = solve_ev(p, RT_HORIZON, pr)
            assert r.cost[j] == pytest.approx(obj, abs=1e-7), p.name
            np.testing.assert_allclose(r.net_kw[j], hm.values(m.ev.p_net_kw), atol=1e-5, err_msg=p.name)
            soc = hm.values(m.ev.soc_frac, index=p.plugged_periods(RT_HORIZON))
            np.testing.assert_allclose(r.soc_frac[j, np.asarray(p.plugged_periods(RT_HORIZON)) - 1], soc, atol=1e-6)
            net[0 if p.station == "13" else 1] += hm.values(m.ev.p_net_kw)
        np.testing.assert_allclose(r.station_net_kw, net, atol=1e-5)
        assert r.path == "lp+milp(1 semi-continuous)"


def test_fleet_milp_fallback_when_lp_burns_energy() -> None:
    # Negative prices, no degradation cost: once full, the LP gains by charging and discharging at
    # once (it burns energy at a profit).  Those EVs are re-solved as MILPs: exclusive, and as good as
    # the per-EV Pyomo MILP.
    fleet = [work("a", arrival_period=1, departure_period=5, soc_required=0.6, capacity_kwh=20.0),
             EVParams("b", arrival_period=3, departure_period=2, kind="home", trip_kwh=3.0, capacity_kwh=20.0,
                      p_charge_max_kw=5.0, p_discharge_max_kw=5.0, soc_required=0.5, c_ev=0.0)]
    prices = [-1.0, -1.0, -0.5, -1.0]
    r = EVFleet(fleet, H4, tie_break=0.0).respond(prices)
    assert r.path == "lp+milp(2 EVs with simultaneous charge/discharge)"
    assert np.minimum(r.charge_kw, r.discharge_kw).max() <= COMPLEMENTARITY_TOL
    for j, p in enumerate(fleet):
        _, _, obj = solve_ev(p, H4, prices)
        assert r.cost[j] == pytest.approx(obj, abs=1e-7)


def test_price_update_resolve_equals_fresh_solve(sampled: list[EVParams]) -> None:
    fleet = sampled[:30]
    warm = EVFleet(fleet, chunk_size=7)
    rng = np.random.default_rng(4)
    seq = [TOU, np.full(96, 0.11), TOU * (1 + 0.1 * rng.uniform(-1, 1, 96)), np.full(96, 0.11)]
    for pr in seq:
        a = warm.respond(pr)
        b = EVFleet(fleet).respond(pr)  # fresh model, other chunking
        np.testing.assert_allclose(a.net_kw, b.net_kw, atol=1e-6)
        np.testing.assert_allclose(a.cost, b.cost, atol=1e-8)
    assert warm.last is a
    assert a.simplex_iterations >= 0 and a.solve_s > 0


def test_fleet_threads_and_per_ev_price_rows() -> None:
    fleet = station_fleets(4, seed=3)
    rng = np.random.default_rng(9)
    P = 0.05 + 0.1 * rng.random((len(fleet), 96))
    r1 = EVFleet(fleet, chunk_size=3).respond(P)
    F2 = EVFleet(fleet, chunk_size=3, workers=2)
    r2 = F2.respond(P)
    F2.close()
    np.testing.assert_allclose(F2.respond(P).net_kw, r2.net_kw, atol=1e-9)
    np.testing.assert_allclose(r1.net_kw, r2.net_kw, atol=1e-9)
    # one row per EV = each EV alone at its own prices
    for j in (0, 5, 11):
        alone = EVFleet([fleet[j]], tie_break=1e-4).respond(P[j])
        np.testing.assert_allclose(r1.net_kw[j], alone.net_kw[0], atol=1e-6)


# ------------------------------------------------------------------------------------ pre-processing


def test_unreachable_soc_required_is_lowered_with_warning(caplog: pytest.LogCaptureFixture) -> None:
    # 2 periods at 1 kW: soc can rise by 2 * 0.95 * 1 / 10 = 0.19 -> 0.5 + 0.19 = 0.69 < 0.8
    p = work(p_charge_max_kw=1.0)
    with caplog.at_level(logging.WARNING, logger="agents.ev"):
        q = make_feasible(p, H2)
    assert q.soc_required == pytest.approx(0.69)
    assert any("soc_required" in r.getMessage() and "lowered" in r.getMessage() for r in caplog.records)
    assert make_feasible(q, H2) is q  # idempotent, no change
    # the builder pre-processes too, so the model is feasible and charges flat out
    m, hm, _ = solve_ev(p, H2, [0.1, 0.2])
    np.testing.assert_allclose(hm.values(m.ev.p_charge_kw), [1.0, 1.0], atol=TOL)
    assert hm.values(m.ev.soc_frac)[-1] == pytest.approx(0.69, abs=TOL)


def test_sample_fleet_preprocesses_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    # 1 kW chargers: a work day of ~9 h adds at most ~0.14 SOC, so soc_req 0.8 is unreachable
    spec = FleetSpec(home_share=0.0, p_max_kw=1.0)
    with caplog.at_level(logging.WARNING, logger="agents.ev"):
        fleet = sample_fleet(5, np.random.default_rng(1), RT_HORIZON, "13", spec)
    assert sum("lowered" in r.getMessage() for r in caplog.records) == 5
    for p in fleet:
        L = p.departure_period - p.arrival_period
        assert p.soc_required == pytest.approx(p.soc_arrival + 0.95 * 1.0 * L * 0.25 / 60)
    r = EVFleet(fleet).respond(TOU)  # feasible: charges flat out all day
    np.testing.assert_allclose(r.charge_kw.sum(axis=1), [p.departure_period - p.arrival_period for p in fleet])


def test_home_trip_that_cannot_be_recharged_is_lowered(caplog: pytest.LogCaptureFixture) -> None:
    # plugged in 2 periods of 1 h at 1 kW: at most 2 * 0.95 = 1.9 kWh can be put back
    p = EVParams("h", arrival_period=4, departure_period=2, kind="home", trip_kwh=5.0, p_charge_max_kw=1.0)
    with caplog.at_level(logging.WARNING, logger="agents.ev"):
        q = make_feasible(p, H4)
    assert q.trip_kwh == pytest.approx(1.9)
    assert any("trip_kwh" in r.getMessage() for r in caplog.records)


# ------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("capacity_kwh", 0.0, r"EVParams\.capacity_kwh .* must be > 0"),
        ("eta", 1.2, r"EVParams\.eta .* in \(0, 1\]"),
        ("eta", 0.0, r"EVParams\.eta"),
        ("p_charge_max_kw", -1.0, r"EVParams\.p_charge_max_kw"),
        ("p_charge_min_kw", 8.0, r"EVParams\.p_charge_min_kw .* in \[0, p_charge_max_kw"),
        ("p_discharge_min_kw", -0.1, r"EVParams\.p_discharge_min_kw"),
        ("soc_min", 1.0, r"EVParams\.soc_min .* in \[0, 1\)"),
        ("soc_max", 0.1, r"EVParams\.soc_max .* in \(soc_min"),
        ("soc_arrival", 0.1, r"EVParams\.soc_arrival .* in \[soc_min, soc_max\]"),
        ("soc_required", 0.99, r"EVParams\.soc_required"),
        ("trip_kwh", -2.0, r"EVParams\.trip_kwh"),
        ("c_ev", float("nan"), r"EVParams\.c_ev"),
        ("kind", "taxi", r"EVParams\.kind .* 'work' or 'home'"),
        ("arrival_period", 0, r"EVParams\.arrival_period .* integer >= 1"),
        ("arrival_period", 2.5, r"EVParams\.arrival_period"),
        ("departure_period", 1, r"EVParams\.departure_period .* > arrival_period"),
    ],
)
def test_bad_params_name_the_field(field: str, value: Any, match: str) -> None:
    kw: dict[str, Any] = dict(arrival_period=1, departure_period=3)
    kw[field] = value
    with pytest.raises(ValueError, match=match):
        EVParams("x", **kw)


def test_bad_windows_and_inputs() -> None:
    with pytest.raises(ValueError, match=r"EVParams\.departure_period .* < arrival_period .* 'home'"):
        EVParams("h", arrival_period=3, departure_period=5, kind="home")
    with pytest.raises(ValueError, match=r"EVParams\.departure_period .* <= 5 on a horizon of 4"):
        work(departure_period=6).plugged_periods(H4)
    with pytest.raises(ValueError, match=r"EVParams\.arrival_period .* <= 4"):
        EVParams("h", arrival_period=5, departure_period=2, kind="home").plugged_periods(H4)
    with pytest.raises(ValueError, match="expected 2 values"):
        build_ev(pyo.Block(concrete=True), work(), H2, [0.1, 0.2, 0.3])
    F = EVFleet([work()], H2)
    with pytest.raises(ValueError, match=r"prices must have shape \(2,\) or \(1, 2\)"):
        F.respond([0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="non-finite"):
        F.respond([0.1, float("nan")])
    with pytest.raises(ValueError, match="names must be unique"):
        EVFleet([work(), work()], H2)
    with pytest.raises(ValueError, match="empty"):
        EVFleet([], H2)
    with pytest.raises(ValueError, match=r"FleetSpec\.home_share"):
        FleetSpec(home_share=1.5)


# ------------------------------------------------------------------------------------ Mesa agent


def test_ev_agent_builds_its_block_and_its_fleet() -> None:
    model = mesa.Model(rng=1)
    agents = [EVAgent(model, p) for p in sample_fleet(3, np.random.default_rng(2), RT_HORIZON, "31")]
    assert agents[0].name == agents[0].params.name == "ev31_000"
    m = pyo.ConcreteModel()
    m.ev = pyo.Block()
    h = agents[0].build_block(m.ev, RT_HORIZON, EVData(TOU))
    assert h.params == agents[0].params
    assert len(m.ev.p_net_kw) == 96
    m.obj = pyo.Objective(expr=m.ev.cost)
    hm = HighsModel(m, "ev", SolverOptions(mip_rel_gap=1e-9), relax_integrality=False)
    obj = hm.solve().objective
    r = EVAgent.fleet(agents, RT_HORIZON, tie_break=0.0).respond(TOU)
    assert r.names == tuple(a.name for a in agents)
    assert r.cost[0] == pytest.approx(obj, abs=1e-7)


# ------------------------------------------------------------------------------------ aggregated fleet (DA)

from agents.ev import aggregate_fleet  # noqa: E402

H24 = Horizon(24, 1.0)
TOU24 = TOU[::4]  # the same day on the hourly grid


def _hour(k: int) -> int:
    return (k - 1) // 4 + 1


def _coarse_key(p: EVParams) -> tuple[Any, ...]:
    """The coarse window computed independently: work [h(a), h(d-1)+1); home plugged before h(d-1)+1, from h(a)."""
    d_c = _hour(p.departure_period - 1) + 1 if p.departure_period > 1 else 1
    return (p.station, p.kind, _hour(p.arrival_period), d_c)


def test_aggregate_windows_by_hand() -> None:
    # work 08:30-17:30 on the 15-min grid: a = 35, d = 71 -> hours 9..18 plugged: a_c = 9, d_c = 19
    w = work("w", arrival_period=35, departure_period=71, capacity_kwh=60.0, p_charge_max_kw=7.0,
             p_discharge_max_kw=7.0, soc_arrival=0.3)
    # home leaves 07:30 (d = 31, last plugged quarter 30 in hour 8), back 18:30 (a = 75, hour 19)
    h = EVParams("h", arrival_period=75, departure_period=31, kind="home", trip_kwh=10.0, capacity_kwh=60.0)
    (aw,) = aggregate_fleet([w], RT_HORIZON, H24)
    (ah,) = aggregate_fleet([h], RT_HORIZON, H24)
    assert (aw.kind, aw.arrival_period, aw.departure_period) == ("work", 9, 19)
    assert (ah.kind, ah.arrival_period, ah.departure_period) == ("home", 19, 9)


@pytest.mark.parametrize(
    ("d", "a", "away_hour"),
    [
        (30, 32, 8),  # away in quarters 30, 31: both in hour 8
        (32, 34, 8),  # quarter 32 (hour 8) and 33 (hour 9): a tie, the earlier hour
        (32, 35, 9),  # quarter 32 (hour 8), 33-34 (hour 9): hour 9 holds more of the absence
        (2, 4, 1),  # away in hour 1: no morning plug-in on the hourly grid (d_c = 1)
        (93, 96, 23),  # away in hour 24: kept within 1..n-1, so hour 23 becomes the away hour
    ],
)
def test_aggregate_sub_hour_absence_keeps_a_valid_home_window(d: int, a: int, away_hour: int) -> None:
    h = EVParams("h", arrival_period=a, departure_period=d, kind="home", trip_kwh=2.0, capacity_kwh=60.0)
    (agg,) = aggregate_fleet([h], RT_HORIZON, H24)
    assert (agg.departure_period, agg.arrival_period) == (away_hour, away_hour + 1)
    assert sorted(agg.plugged_periods(H24)) == [t for t in H24.periods if t != away_hour]


def test_aggregate_group_count_bounded_and_sums_preserved() -> None:
    small = sample_fleet(20, np.random.default_rng(3), RT_HORIZON, "13")
    big = sample_fleet(400, np.random.default_rng(4), RT_HORIZON, "13") + station_fleets(30)
    for fleet in (small, big):
        agg = aggregate_fleet(fleet, RT_HORIZON, H24)
        # one aggregate per distinct (station, kind, coarse window) (all other key fields are shared here)
        assert len(agg) == len({_coarse_key(p) for p in fleet})
        for st in {p.station for p in fleet}:
            mem = [p for p in fleet if p.station == st]
            got = [a for a in agg if a.station == st]
            for attr in ("capacity_kwh", "p_charge_max_kw", "p_discharge_max_kw", "trip_kwh"):
                assert sum(getattr(a, attr) for a in got) == pytest.approx(sum(getattr(p, attr) for p in mem))
            for attr in ("soc_arrival", "soc_required"):  # stored energy is what is preserved
                assert sum(a.capacity_kwh * getattr(a, attr) for a in got) == pytest.approx(
                    sum(p.capacity_kwh * getattr(p, attr) for p in mem))
        for a in agg:
            a.check_horizon(H24)
            assert make_feasible(a, H24) is a  # reachable targets stay reachable on the relaxed window
            assert a.p_charge_min_kw == a.p_discharge_min_kw == 0.0
        assert len({a.name for a in agg}) == len(agg)
    # the size of the DA model no longer grows with the fleet: 430 vehicles, a few dozen aggregates
    assert len(aggregate_fleet(big, RT_HORIZON, H24)) <= 80
    assert aggregate_fleet([], RT_HORIZON, H24) == []


def test_aggregate_rejects_mixed_costs_and_bad_grids() -> None:
    a = work("a", arrival_period=5, departure_period=9)
    b = replace(a, name="b", c_ev=0.02)
    with pytest.raises(ValueError, match=r"different c_ev/lambda_ev.*a \(c_ev 0.0.*b \(c_ev 0.02"):
        aggregate_fleet([a, b], RT_HORIZON, H24)
    assert len(aggregate_fleet([a, replace(b, c_ev=0.0)], RT_HORIZON, H24)) == 1
    with pytest.raises(ValueError, match="whole sub-periods"):
        aggregate_fleet([a], Horizon(90, 24 / 90), H24)


def _fixed_schedule_feasible(agg: EVParams, charge: np.ndarray, discharge: np.ndarray) -> bool:
    """Is the hourly schedule (charge, discharge) feasible for the aggregate's EV-1..EV-5 (LP, no binaries)?"""
    m = pyo.ConcreteModel()
    m.ev = pyo.Block()
    build_ev(m.ev, agg, H24, np.zeros(24), exclusive=False)
    for t in H24.periods:
        m.ev.p_charge_kw[t].fix(float(charge[t - 1]))
        m.ev.p_discharge_kw[t].fix(float(discharge[t - 1]))
    m.obj = pyo.Objective(expr=0.0)
    return HighsModel(m, agg.name, relax_integrality=True).solve(raise_on_failure=False).status == "optimal"


def test_aggregate_contains_the_sum_of_individual_schedules() -> None:
    # sampled vehicles plus odd windows: a work EV inside one hour, one arriving and leaving mid-hour
    fleet = sample_fleet(12, np.random.default_rng(11), RT_HORIZON, "13")
    fleet += [replace(work("short", arrival_period=42, departure_period=44, capacity_kwh=60.0, soc_required=0.55,
                           soc_arrival=0.5, c_ev=0.01), station="13"),
              replace(work("mid", arrival_period=38, departure_period=66, capacity_kwh=40.0, soc_arrival=0.3,
                           c_ev=0.01), station="13")]
    agg = aggregate_fleet(fleet, RT_HORIZON, H24)
    key_of = {a.name: (a.kind, a.arrival_period, a.departure_period) for a in agg}
    group = [next(a.name for a in agg if key_of[a.name] == _coarse_key(p)[1:]) for p in fleet]
    # (1) each vehicle's exact min-cost schedule on the 15-min grid, averaged to hours, summed per group
    fine = EVFleet(fleet, RT_HORIZON, tie_break=0.0).respond(TOU)
    hourly_c = fine.charge_kw.reshape(len(fleet), 24, 4).mean(axis=2)
    hourly_d = fine.discharge_kw.reshape(len(fleet), 24, 4).mean(axis=2)
    # (2) each vehicle's own min-cost schedule on the hourly grid (its single-vehicle aggregate)
    singles = [replace(aggregate_fleet([p], RT_HORIZON, H24)[0], name=p.name) for p in fleet]
    coarse = EVFleet(singles, H24, tie_break=0.0).respond(TOU24)
    for a in agg:
        idx = [j for j, g in enumerate(group) if g == a.name]
        assert _fixed_schedule_feasible(a, hourly_c[idx].sum(axis=0), hourly_d[idx].sum(axis=0)), a.name
        assert _fixed_schedule_feasible(a, coarse.charge_kw[idx].sum(axis=0), coarse.discharge_kw[idx].sum(axis=0))
    # the test can fail: a schedule beyond the aggregate's power (or outside its window) is infeasible
    a = agg[0]
    w = np.zeros(24)
    w[a.plugged_periods(H24)[0] - 1] = a.p_charge_max_kw + 1.0
    assert not _fixed_schedule_feasible(a, w, np.zeros(24))
    # and the aggregate is cheaper than (or as cheap as) the members: a relaxation of their sum
    agg_cost = EVFleet(agg, H24, tie_break=0.0).respond(TOU24).cost.sum()
    assert agg_cost <= coarse.cost.sum() + 1e-7


# ---------------------------------------------------------------------------- carried over across midnight


def _carried(p: EVParams, start: float, end_min: float | None = None) -> EVParams:
    return replace(p, soc_start=start, soc_end_min=end_min)


def test_carried_home_ev_fleet_equals_pyomo_and_keeps_its_limits() -> None:
    """A home EV whose day starts with yesterday's SOC: the pooled LP and the exact Pyomo MILP agree; the
    chain starts at soc_start, meets soc_required at departure and ends at or above soc_end_min."""
    homes = [p for p in sample_fleet(12, np.random.default_rng(5), RT_HORIZON, "31") if p.kind == "home"][:4]
    assert len(homes) >= 3
    fleet = [_carried(homes[0], 0.55, carried_end_min(homes[0], RT_HORIZON)), _carried(homes[1], 0.9),
             _carried(homes[2], 0.3, 0.6), *homes[3:]]
    F = EVFleet(fleet, tie_break=0.0)
    rng = np.random.default_rng(3)
    for _ in range(2):
        pr = 0.04 + 0.14 * rng.random(96)
        r = F.respond(pr)
        for j, p in enumerate(fleet):
            m, hm, obj = solve_ev(p, RT_HORIZON, pr)
            assert r.cost[j] == pytest.approx(obj, abs=1e-7), p.name
            np.testing.assert_allclose(r.net_kw[j], hm.values(m.ev.p_net_kw), atol=1e-5, err_msg=p.name)
            if not p.carried:
                continue
            q = make_feasible(p, RT_HORIZON)
            soc = r.soc_frac[j]
            flow1 = 0.25 / p.capacity_kwh * (p.eta * r.charge_kw[j, 0] - r.discharge_kw[j, 0] / p.eta)
            assert soc[0] == pytest.approx(p.soc_start + flow1, abs=1e-9)
            if p.departure_period > 1:
                assert soc[p.departure_period - 2] >= q.soc_required - 1e-7
            assert soc[95] >= (q.soc_end_min or p.soc_min) - 1e-7
            # away in the day: no power, SOC held at the departure value
            away = np.arange(p.departure_period - 1, p.arrival_period - 1)
            assert np.all(r.charge_kw[j, away] == 0) and np.all(r.discharge_kw[j, away] == 0)


def test_carried_fields_are_validated_and_unreachable_targets_lowered(caplog: pytest.LogCaptureFixture) -> None:
    home = next(p for p in sample_fleet(10, np.random.default_rng(1), RT_HORIZON, "13") if p.kind == "home")
    with pytest.raises(ValueError, match="soc_start"):
        work("w", soc_start=0.5)
    with pytest.raises(ValueError, match=r"soc_end_min .*None unless soc_start"):
        replace(home, soc_end_min=0.5)
    with pytest.raises(ValueError, match=r"soc_start .*in \[soc_min, soc_max\]"):
        replace(home, soc_start=0.99)
    # starting nearly empty, the morning cannot reach 0.8 before an early departure: lowered, with a warning
    early = replace(home, departure_period=5, arrival_period=80, soc_start=0.2)
    with caplog.at_level(logging.WARNING, logger="agents.ev"):
        q = make_feasible(early, RT_HORIZON)
    assert q.soc_required < early.soc_required and "carried over" in caplog.text
    gain = early.eta * early.p_charge_max_kw * 0.25 / early.capacity_kwh
    assert q.soc_required == pytest.approx(0.2 + 4 * gain)
    assert carried_end_min(early, RT_HORIZON) == pytest.approx(max(early.soc_min, early.soc_required - 4 * gain))

"""SPEC §8 ``rule``: the storage rule, the EV rule and a rule-based cluster's standalone plan (hand-computed days)."""

from __future__ import annotations

from dataclasses import replace

import mesa
import numpy as np
import pytest

from agents.behaviours import make
from agents.cluster import ClusterAgent, ClusterData, ClusterParams
from agents.devices.core import RT_HORIZON, Horizon
from agents.devices.storage import BatteryParams, rule_dispatch
from agents.ev import EVParams, rule_charging

H4 = Horizon(4, 1.0)


def test_storage_rule_by_hand() -> None:
    """400 kWh, 150 kW, lossless; start 200, window 40..360, end >= 200; surplus +100, +300, -200, -50 kW:
    charge 100 (to 300), charge 60 (full at 360), discharge 150 (to 210), discharge only 10 (the end floor 200)."""
    e = BatteryParams(400, 150, 150, 0.1, 0.9, 0.5, 1.0, 1.0, 0.0, soc_end_min_frac=0.5, soc_end_max_frac=0.9)
    ch, dis = rule_dispatch(e, np.array([100.0, 300.0, -200.0, -50.0]), H4)
    np.testing.assert_allclose(ch, [100, 60, 0, 0])
    np.testing.assert_allclose(dis, [0, 0, 150, 10])


def test_storage_rule_charges_up_to_the_end_floor_when_the_day_has_no_surplus() -> None:
    """Start at 10 %, end at >= 50 % of 400 kWh, 150 kW, η 0.95, deficit all day: it must buy 160 kWh (stored)
    in the last periods and never discharge below what it can still refill."""
    e = BatteryParams(400, 150, 150, 0.1, 0.9, 0.1, 0.95, 0.95, 0.0, soc_end_min_frac=0.5, soc_end_max_frac=0.9)
    ch, dis = rule_dispatch(e, np.full(4, -500.0), H4)
    assert dis.sum() == 0 and np.all(ch >= 0)
    assert 40 + 0.95 * ch.sum() == pytest.approx(200.0)
    np.testing.assert_allclose(ch[-2:], [150 - (150 * 0.95 * 2 - 160) / 0.95, 150])  # as late as possible


def test_ev_rule_charges_at_full_power_from_arrival_until_full() -> None:
    h = Horizon(8, 1.0)
    p = EVParams("w", arrival_period=3, departure_period=7, capacity_kwh=60, p_charge_max_kw=7, eta=1.0,
                 soc_arrival=0.5, soc_required=0.8, soc_max=0.95)
    ch, soc = rule_charging(p, h)
    np.testing.assert_allclose(ch, [0, 0, 7, 7, 7, 6, 0, 0])  # the last hour only tops up to 95 %
    np.testing.assert_allclose(soc[2:6], [0.5 + 7 / 60, 0.5 + 14 / 60, 0.5 + 21 / 60, 0.95])
    assert np.isnan(soc[:2]).all() and np.isnan(soc[6:]).all()
    home = EVParams("h", arrival_period=6, departure_period=3, kind="home", capacity_kwh=60, p_charge_max_kw=7,
                    eta=1.0, trip_kwh=12.0, soc_max=0.95, soc_start=0.6, soc_end_min=0.6)
    ch, soc = rule_charging(home, h)
    # midnight at 60 %: charges 7 + 7 (to 83.3 %) before leaving at 03:00, returns at 05:00 with 12 kWh less
    np.testing.assert_allclose(ch, [7, 7, 0, 0, 0, 7, 7, min(7, (0.95 - (0.6 + 14 / 60 - 0.2 + 14 / 60)) * 60)])
    assert soc[2:5] == pytest.approx([soc[1]] * 3)  # away: its departure SOC
    cyc = rule_charging(replace(home, soc_start=None, soc_end_min=None), h)[1]
    # cyclic (first day): the day ends where it starts, so period 1 charges on from the SOC of period 8
    assert cyc[0] == pytest.approx(min(0.95, cyc[-1] + 7 / 60))
    assert cyc[1] == pytest.approx(0.95) and cyc[-1] == pytest.approx(0.95)  # 12 kWh trip refilled by midnight


def test_a_rule_based_cluster_executes_its_rule_and_cannot_beat_the_optimum() -> None:
    p = ClusterParams(name="C2", buses=tuple(range(9, 19)), leading_bus=9, pv_sites={9: 1100.0, 15: 600.0},
                      wind_sites={12: 600.0})
    p = replace(p, ess=replace(p.ess, soc_end_min_frac=0.5, soc_end_max_frac=0.9))
    k = np.arange(96)
    shape = np.clip(np.sin((k - 24) / 48 * np.pi), 0.0, None)
    d = ClusterData(load_kw=700 + 250 * np.sin(k / 96 * 2 * np.pi - 1.0),
                    pv_available_kw={9: 1000 * shape, 15: 550 * shape},
                    wind_available_kw={12: 300 + 200 * np.cos(k / 15)})
    opt = ClusterAgent(mesa.Model(rng=0), p, RT_HORIZON).standalone_cost(d)
    rule = ClusterAgent(mesa.Model(rng=0), p, RT_HORIZON)
    rule.behaviour = make("rule")
    sol = rule.standalone_cost(d)
    ch, dis = rule.storage_rule(d)
    np.testing.assert_allclose(sol.profiles["ess_charge_kw"], ch, atol=1e-7)
    np.testing.assert_allclose(sol.profiles["ess_discharge_kw"], dis, atol=1e-7)
    assert ch.sum() > 0 and dis.sum() > 0  # the day has surplus at noon and deficit at night
    assert sol.cost >= opt.cost - 1e-6
    assert sol.profiles["soc_kwh"][-1] >= 0.5 * p.ess.capacity_kwh - 1e-6

"""IEEE-33 scenario of paper 004 (scenarios/ieee33/, scenarios/ieee33_loader.py): the bundled files give
SPEC §5's numbers, fleets come reproducibly from the seed, and malformed copies raise a ScenarioError
that names the file and the field."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scenario_edits import edit, edit_csv_cell, edit_re

from agents.cluster import DEFAULT_CLUSTER_ESS
from agents.devices.core import Horizon
from agents.ev import EVParams
from market.pricing import DEFAULT_CUT_ELASTICITY, DEFAULT_SELF_ELASTICITY, DEFAULT_TOU_PARTITION
from scenarios.feeder import default_s_max_mva, load_ieee33
from scenarios.ieee33_loader import fleet, load_ieee33_scenario
from scenarios.loader import SCENARIO_DIR, load_three_campus
from scenarios.schema import EVStation, IEEE33Scenario, ScenarioError

BUNDLED = SCENARIO_DIR / "ieee33"
TOML = "scenario.toml"
SHAPE = np.array([0.55, 0.50, 0.48, 0.47, 0.48, 0.52, 0.62, 0.75, 0.88, 0.95, 0.97, 0.96,
                  0.92, 0.90, 0.91, 0.93, 0.96, 1.00, 1.00, 0.98, 0.92, 0.82, 0.70, 0.60])  # SPEC §4.8


@pytest.fixture(scope="module")
def s() -> IEEE33Scenario:
    return load_ieee33_scenario("ieee33")


@pytest.fixture
def scen(tmp_path: Path) -> Path:
    """A private copy of the bundled scenario folder."""
    d = tmp_path / "case"
    shutil.copytree(BUNDLED, d, ignore=shutil.ignore_patterns("__pycache__"))
    return d


# ------------------------------------------------------------------------------------ bundled


def test_bundled_placements_and_clusters(s: IEEE33Scenario) -> None:
    assert (s.name, s.currency, s.seed) == ("ieee33", "USD", 20240604)
    assert s.source == BUNDLED / TOML
    # SPEC §5.1 placements [paper]
    assert {x.bus: x.capacity_kw for x in s.sites("pv")} == {7: 1100, 9: 1100, 15: 600, 27: 1000, 29: 900, 32: 600}
    assert {x.bus: x.capacity_kw for x in s.sites("wind")} == {12: 600, 21: 1100, 30: 900}
    assert s.capacity_kw("pv") == 5300 and s.capacity_kw("wind") == 2600
    # the cluster table
    assert s.cluster_names == ["C1", "C2", "C3"]
    c1, c2, c3 = s.clusters
    assert c1.buses == (*range(1, 9), *range(19, 26)) and c1.leading_bus == 2
    assert c2.buses == tuple(range(9, 19)) and c2.leading_bus == 9
    assert c3.buses == tuple(range(26, 34)) and c3.leading_bus == 26
    assert (dict(c1.pv_sites), dict(c1.wind_sites)) == ({7: 1100}, {21: 1100})
    assert (dict(c2.pv_sites), dict(c2.wind_sites)) == ({9: 1100, 15: 600}, {12: 600})
    assert (dict(c3.pv_sites), dict(c3.wind_sites)) == ({27: 1000, 29: 900, 32: 600}, {30: 900})
    # base loads computed from the feeder itself (not from the scenario): 2120 / 675 / 920 kW
    feeder = load_ieee33()
    assert s.feeder is feeder
    for c, expected in zip(s.clusters, (2120, 675, 920), strict=True):
        from_feeder = sum(feeder.p_load_kw[feeder.bus_position[b]] for b in c.buses)
        assert from_feeder == pytest.approx(expected)
        assert s.cluster_base_load_kw(c.name) == pytest.approx(expected)
    assert sorted(b for c in s.clusters for b in c.buses) == list(range(1, 34))
    assert s.cluster_of(16).name == "C2" and s.cluster_of(31).name == "C3"
    # storage, intraday costs, TOU upstream prices [default]
    for c in s.clusters:
        assert c.ess == DEFAULT_CLUSTER_ESS
        assert (c.c_pvu, c.eta_pv, c.eta_wt, c.lambda_om) == pytest.approx((0.03, 0.10, 0.10, 0.01))
        assert c.p_exchange_max_kw == 2000 and not c.allow_sale
        assert c.partition == DEFAULT_TOU_PARTITION
        assert dict(c.upstream_prices) == {"valley": 0.07, "flat": 0.11, "peak": 0.16}


def test_bundled_transformer_areas_and_dr(s: IEEE33Scenario) -> None:
    feeder = s.feeder
    assert [ta.bus for ta in s.transformer_areas] == list(range(1, 34))  # 32 load buses + bus 1's DR
    np.testing.assert_allclose(s.load_shape, SHAPE)
    assert [(a.bus, a.peak_kw, a.split) for a in s.dr_aggregates] == [(b, 500, (0.5, 0.3, 0.2)) for b in (1, 16, 23)]
    for ta in s.transformer_areas:
        k = feeder.bus_position[ta.bus]
        own = feeder.p_load_kw[k] * SHAPE
        dr = 500 * SHAPE if ta.bus in (1, 16, 23) else np.zeros(24)
        np.testing.assert_allclose(ta.fixed_kw, own + 0.5 * dr)
        np.testing.assert_allclose(ta.shiftable_kw, 0.3 * dr)
        np.testing.assert_allclose(ta.curtailable_kw, 0.2 * dr)
        assert ta.ev_station == (ta.bus in (13, 19, 31))
        assert ta.partition == DEFAULT_TOU_PARTITION and ta.dt_h == 1.0
        assert dict(ta.self_elasticity) == DEFAULT_SELF_ELASTICITY
        assert dict(ta.cut_elasticity) == DEFAULT_CUT_ELASTICITY
        assert ta.intraday_elasticity_scale == 0.5 and ta.reference_price == 0.11
        assert (ta.cost_shift_per_kwh, ta.cost_cut_per_kwh) == (0.02, 0.05)
        if ta.bus != 1:
            assert ta.q_per_p == pytest.approx(feeder.q_load_kvar[k] / feeder.p_load_kw[k])
    # bus 1 has no base load: its DR aggregate takes the feeder's overall Q/P ratio
    assert s.transformer_area(1).q_per_p == pytest.approx(2300 / 3715)
    # peak-hour totals: 3715 kW of base load plus 1.5 MW of DR
    assert s.bus_load_kw.shape == (24, 33)
    assert s.bus_load_kw[17].sum() == pytest.approx(3715 + 1500)
    assert s.bus_q_kvar[17].sum() == pytest.approx(2300 + 500 * (2300 / 3715 + 20 / 60 + 50 / 90))


def test_bundled_profiles_network_market_tariff(s: IEEE33Scenario) -> None:
    pv7 = next(x for x in s.renewables if x.bus == 7)
    wt21 = next(x for x in s.renewables if x.bus == 21)
    tau = np.arange(1, 25) - 0.5
    np.testing.assert_allclose(pv7.forecast_kw, 1100 * np.maximum(0, np.sin(np.pi * (tau - 6) / 13)), atol=1e-3)
    np.testing.assert_allclose(wt21.forecast_kw, 1100 * (0.45 + 0.25 * np.cos(2 * np.pi * (tau - 3) / 24)), atol=1e-3)
    assert (pv7.profile, wt21.profile, pv7.name, wt21.name) == ("pv", "wind", "pv7", "wt21")
    assert s.bus_available_gen_kw[12].sum() == pytest.approx(sum(x.forecast_kw[12] for x in s.renewables))
    n = s.network
    assert (n.v_min_pu, n.v_max_pu, n.v0_pu, n.voltage_limits, n.load_scale) == (0.93, 1.07, 1.0, "hard", 1.0)
    assert n.voltage_penalty_per_pu_h == 1000 and n.hard_voltage_limits and not n.reverse_flow
    # the tap changer's line-drop compensation: V0 + k P_sub (MW), clipped to the voltage band
    assert n.oltc_ldc_pu_per_mw == 0.0125
    np.testing.assert_allclose(n.substation_voltage(np.array([0.0, 4000.0, 9000.0])), [1.0, 1.05, 1.07])
    assert s.market.bisection.upstream_supply is True  # SPEC §6.7 default
    np.testing.assert_array_equal(n.s_max_mva(s.feeder), default_s_max_mva(s.feeder))
    m = s.market
    assert (m.kappa, m.exchange_efficiency) == (0.5, 1.0)
    assert m.bisection.kwargs() == {"p0": 0.11, "p_min": 0.03, "p_max": 0.25, "xi": 0.01, "max_iter": 50,
                                    "tol_z": 1.0}
    t = s.tariff
    assert t.partition == DEFAULT_TOU_PARTITION
    assert (t.reference_price, t.price_min, t.price_max, t.revenue_neutral) == (0.11, 0.055, 0.22, True)
    assert (t.lambda_pv, t.lambda_wt, t.lambda_om, t.lambda_tran, t.lambda_cut, t.lambda_tp, t.c_ev) == (
        0.10, 0.10, 0.01, 0.02, 0.05, 0.0, 0.01)
    np.testing.assert_allclose(t.upstream_price_hourly[[0, 8, 12, 17, 21]], [0.07, 0.16, 0.11, 0.16, 0.11])
    assert s.intraday_horizon == Horizon(96, 0.25) and s.da_horizon == Horizon(24, 1.0)
    assert [(st.bus, st.n_evs, st.name) for st in s.ev_stations] == [(13, 20, "EV13"), (19, 20, "EV19"),
                                                                     (31, 20, "EV31")]
    assert s.fleet_spec.c_ev == 0.01 and s.fleet_spec.home_share == 0.6 and s.fleet_spec.capacity_kwh == 60


def test_load_by_folder_and_toml_path_and_kind_check(scen: Path) -> None:
    for where in (scen, scen / TOML, str(scen)):
        assert load_ieee33_scenario(where).source == scen / TOML
    with pytest.raises(ScenarioError, match=r"field 'kind'.*'ieee33'.*three_campus"):
        load_three_campus("ieee33")
    with pytest.raises(ScenarioError, match=r"field 'kind'.*'three_campus'.*ieee33"):
        load_ieee33_scenario("three_campus")


def test_edited_copy_is_read(scen: Path) -> None:
    edit(scen / TOML, "load_scale = 1.0", "load_scale = 0.8")
    edit(scen / TOML, 'voltage_limits = "hard"', 'voltage_limits = "soft"')
    edit(scen / TOML, "oltc_ldc_pu_per_mw = 0.0125", "oltc_ldc_pu_per_mw = 0.0")
    edit(scen / TOML, "v0_pu = 1.0 ", "v0_pu = 1.03 ")
    edit(scen / TOML, "evs_per_station = 20", "evs_per_station = 5")
    edit_re(scen / TOML, r"^bus = 19 .*$", "bus = 19\nevs = 7")
    edit_csv_cell(scen / "profiles" / "forecast.csv", 13, "pv", "0.5")
    edit(scen / TOML, "leading_bus = 26", "leading_bus = 26\ness = { capacity_kwh = 2000 }")
    s = load_ieee33_scenario(scen)
    assert [c.ess.capacity_kwh for c in s.clusters] == [1000, 1000, 2000]  # per-cluster override
    assert s.cluster("C3").ess.p_charge_max_kw == 250
    assert not s.network.hard_voltage_limits and s.network.v0_pu == 1.03 and s.network.oltc_ldc_pu_per_mw == 0.0
    assert s.cluster_base_load_kw("C1") == pytest.approx(0.8 * 2120)
    assert s.transformer_area(16).fixed_kw[17] == pytest.approx(0.8 * 60 + 250)  # DR peak is not scaled
    assert [st.n_evs for st in s.ev_stations] == [5, 7, 5]
    assert next(x for x in s.renewables if x.bus == 9).forecast_kw[12] == pytest.approx(550)


# ------------------------------------------------------------------------------------ fleets


def _key(fl: dict[int, list[EVParams]]) -> list[tuple[object, ...]]:
    return [(b, p.name, p.kind, p.arrival_period, p.departure_period, p.soc_arrival, p.trip_kwh)
            for b, evs in fl.items() for p in evs]


def test_fleet_reproducible_and_different_per_station(s: IEEE33Scenario) -> None:
    a, b = fleet(s), fleet(s)
    assert list(a) == [13, 19, 31] and all(len(v) == 20 for v in a.values())
    assert _key(a) == _key(b)  # same seed -> same fleet
    assert _key(fleet(s, s.seed)) == _key(a)
    assert _key(fleet(s, s.seed + 1)) != _key(a)
    assert all(p.station == str(bus) and p.name.startswith(f"ev{bus}_") for bus, v in a.items() for p in v)
    draws = {bus: [(p.kind, p.arrival_period, p.departure_period) for p in v] for bus, v in a.items()}
    assert draws[13] != draws[19] != draws[31] != draws[13]
    # one stream per station: resizing one station leaves the others' vehicles alone
    small = fleet(s.with_evs_per_station(5))
    assert all(len(v) == 5 for v in small.values())
    resized = fleet(replace(s, ev_stations=(s.ev_stations[0], EVStation(19, 3), s.ev_stations[2])))
    assert _key({13: resized[13], 31: resized[31]}) == _key({13: a[13], 31: a[31]})
    # SeedSequence / Generator arguments are spawned from
    ss_fleet = fleet(s, np.random.SeedSequence(s.seed))
    assert _key(ss_fleet) == _key(a)
    g1 = fleet(s, np.random.default_rng(3))
    g2 = fleet(s, np.random.default_rng(3))
    assert _key(g1) == _key(g2)
    with pytest.raises(TypeError, match="rng_or_seed"):
        fleet(s, "seed")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="evs per station"):
        s.with_evs_per_station(-1)


# ------------------------------------------------------------------------------------ malformed


def _drop_last_row(name: str) -> Callable[[Path], None]:
    def mutate(d: Path) -> None:
        f = d / "profiles" / name
        lines = f.read_text(encoding="utf-8").splitlines()
        f.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")

    return mutate


def _empty_voltage_band(d: Path) -> None:
    edit(d / TOML, "v_min_pu = 0.93", "v_min_pu = 1.0")
    edit(d / TOML, "v_max_pu = 1.07", "v_max_pu = 1.0")


Edit = Callable[[Path], None]
C2_BUSES = "buses = [9, 10, 11, 12, 13, 14, 15, 16, 17, 18]"

MALFORMED: list[tuple[str, Edit, str, list[str]]] = [
    ("overlapping clusters", lambda d: edit(d / TOML, C2_BUSES, "buses = [9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]"),
     TOML, ["field 'clusters'", "bus 19 belongs to C1 and C2"]),
    ("missing bus", lambda d: edit(d / TOML, C2_BUSES, "buses = [9, 10, 11, 12, 13, 14, 15, 16, 18]"),
     TOML, ["field 'clusters'", "bus 17 is in no cluster", "1..33"]),
    ("bus out of range", lambda d: edit(d / TOML, C2_BUSES, "buses = [9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 40]"),
     TOML, ["clusters[1].buses", "bus 40 is not in 1..33"]),
    ("bus listed twice", lambda d: edit(d / TOML, C2_BUSES, "buses = [9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 9]"),
     TOML, ["clusters[1].buses", "[9] listed more than once"]),
    ("bus not an integer", lambda d: edit(d / TOML, C2_BUSES, 'buses = [9, 10, 11, 12, 13, 14, 15, 16, 17, "18"]'),
     TOML, ["clusters[1].buses", "integers", "'18'"]),
    ("leading bus outside its cluster", lambda d: edit(d / TOML, "leading_bus = 9", "leading_bus = 26"),
     TOML, ["clusters[1].leading_bus", "= 26", "one of the cluster's buses"]),
    ("duplicate cluster name", lambda d: edit(d / TOML, 'name = "C2"', 'name = "C1"'),
     TOML, ["clusters[1].name", "'C1'", "unique"]),
    ("negative capacity", lambda d: edit(d / TOML, "capacity_kw = 600", "capacity_kw = -600"),
     TOML, ["renewables[2].capacity_kw", "= -600", ">= 0 kW"]),
    ("negative storage", lambda d: edit(d / TOML, "capacity_kwh = 1000", "capacity_kwh = -1"),
     TOML, ["storage.capacity_kwh", "= -1", ">= 0 kWh"]),
    ("site bus out of range", lambda d: edit(d / TOML, "bus = 15\n", "bus = 34\n"),
     TOML, ["renewables[2].bus", "bus 34 is not in 1..33"]),
    ("PV and wind at one bus", lambda d: edit(d / TOML, "bus = 12\n", "bus = 9\n"),
     TOML, ["renewables[6].bus", "= 9", "already has a pv site"]),
    ("unknown site kind", lambda d: edit(d / TOML, 'kind = "wind"', 'kind = "hydro"'),
     TOML, ["renewables[6].kind", "'hydro'", "pv, wind"]),
    ("DR bus out of range", lambda d: edit(d / TOML, "bus = 23\n", "bus = 0\n"),
     TOML, ["demand_response.aggregates[2].bus", "bus 0 is not in 1..33"]),
    ("negative DR peak", lambda d: edit(d / TOML, "peak_kw = 500", "peak_kw = -1"),
     TOML, ["demand_response.aggregates[0].peak_kw", ">= 0 kW"]),
    ("DR split not summing to 1", lambda d: edit(d / TOML, "fixed = 0.5,", "fixed = 0.6,"),
     TOML, ["demand_response.split", "= 1.1", "must be 1"]),
    ("positive elasticity", lambda d: edit(d / TOML, "peak = -0.10", "peak = 0.10"),
     TOML, ["demand_response.self_elasticity.peak", "= 0.1", "[-5, 0]"]),
    ("EV station twice", lambda d: edit(d / TOML, "bus = 31 ", "bus = 13 "),
     TOML, ["ev.stations[2].bus", "already has an EV station"]),
    ("EV station out of range", lambda d: edit(d / TOML, "bus = 31 ", "bus = 99 "),
     TOML, ["ev.stations[2].bus", "bus 99 is not in 1..33"]),
    ("negative fleet size", lambda d: edit(d / TOML, "evs_per_station = 20", "evs_per_station = -2"),
     TOML, ["ev.evs_per_station", ">= 0"]),
    ("c_ev set twice", lambda d: edit(d / TOML, "lambda_ev = 0.0", "lambda_ev = 0.0\nc_ev = 0.02"),
     TOML, ["ev.fleet.c_ev", "tariff.c_ev"]),
    ("fleet soc out of order", lambda d: edit(d / TOML, "soc_required = 0.8", "soc_required = 0.99"),
     TOML, ["ev.fleet.soc_required", "[soc_min, soc_max]"]),
    ("unknown voltage_limits mode", lambda d: edit(d / TOML, 'voltage_limits = "hard"', 'voltage_limits = "medium"'),
     TOML, ["network.voltage_limits", "'medium'", "soft, hard"]),
    ("soft limits without a price", lambda d: (edit(d / TOML, 'voltage_limits = "hard"', 'voltage_limits = "soft"'),
                                               edit(d / TOML, "voltage_penalty_per_pu_h = 1000.0",
                                                    "voltage_penalty_per_pu_h = 0")),
     TOML, ["network.voltage_penalty_per_pu_h", "> 0", "soft limits"]),
    ("negative line-drop compensation", lambda d: edit(d / TOML, "oltc_ldc_pu_per_mw = 0.0125",
                                                       "oltc_ldc_pu_per_mw = -0.01"),
     TOML, ["network.oltc_ldc_pu_per_mw", "-0.01", "p.u. per MW"]),
    ("v0 outside the limits", lambda d: edit(d / TOML, "v0_pu = 1.0 ", "v0_pu = 1.1 "),
     TOML, ["network.v0_pu", "= 1.1", "[0.93, 1.07]"]),
    ("empty voltage band", _empty_voltage_band,
     TOML, ["network.v_max_pu", "above v_min_pu"]),
    ("zero load scale", lambda d: edit(d / TOML, "load_scale = 1.0", "load_scale = 0"),
     TOML, ["network.load_scale", "(0, 10]"]),
    ("misspelt key", lambda d: edit(d / TOML, "load_scale = 1.0", "load_scal = 1.0"),
     TOML, ["network.load_scal", "not a known field", "load_scale"]),
    ("kappa out of range", lambda d: edit(d / TOML, "kappa = 0.5", "kappa = 1.0"),
     TOML, ["market.kappa", "[0, 1)"]),
    ("p0 outside the bracket", lambda d: edit(d / TOML, "p0 = 0.11", "p0 = 0.3"),
     TOML, ["market.bisection.p0", "[0.03, 0.25]"]),
    ("wrong-length forecast", _drop_last_row("forecast.csv"), "forecast.csv",
     ["has 23 rows", "expected 24", "profiles.forecast"]),
    ("wrong-length load shape", _drop_last_row("load_shape.csv"), "load_shape.csv",
     ["has 23 rows", "expected 24", "profiles.load_shape"]),
    ("shape above 1", lambda d: edit_csv_cell(d / "profiles" / "forecast.csv", 13, "pv", "1.5"), "forecast.csv",
     ["column 'pv' row 13", "in [0, 1]"]),
    ("negative shape", lambda d: edit_csv_cell(d / "profiles" / "load_shape.csv", 3, "load", "-0.1"),
     "load_shape.csv", ["column 'load' row 3", ">= 0"]),
    ("site profile column missing",
     lambda d: edit(d / TOML, "capacity_kw = 900\n", 'capacity_kw = 900\nprofile = "pv_west"\n'),
     "forecast.csv", ["pv_west", "missing"]),
    ("unknown TOU period type", lambda d: edit_csv_cell(d / "profiles" / "tou.csv", 2, "period", "shoulder"),
     "tou.csv", ["column 'period' hour 2", "'shoulder'", "valley, flat, peak"]),
    ("two upstream prices for one period type", lambda d: edit_csv_cell(d / "profiles" / "tou.csv", 5, "upstream_price",
                                                                        "0.08"),
     "tou.csv", ["column 'upstream_price' hour 5", "0.07 at hour 1", "'valley'"]),
    ("missing profile file", lambda d: (d / "profiles" / "tou.csv").unlink(), "tou.csv", ["not found"]),
    ("invalid TOML", lambda d: edit(d / TOML, "seed = 20240604", "seed = = 1"), TOML, ["not valid TOML"]),
]


@pytest.mark.parametrize(("case", "mutate", "file_name", "fragments"), MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_copy_names_file_and_field(
    scen: Path, case: str, mutate: Edit, file_name: str, fragments: list[str]
) -> None:
    mutate(scen)
    with pytest.raises(ScenarioError) as ei:
        load_ieee33_scenario(scen)
    msg = str(ei.value)
    assert str(scen / "profiles" / file_name if file_name != TOML else scen / TOML) in msg, msg
    for frag in fragments:
        assert frag in msg, f"{case}: {frag!r} not in {msg!r}"

"""The assembled low-carbon campus of paper 003 (agents.lowcarbon_campus) and its scenario loader."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pyomo.environ as pyo
import pytest

from agents.devices.carbon import stepped_carbon_cost
from agents.lowcarbon_campus import COST_COLUMNS, build_lowcarbon_model, uncontrolled_ev_load
from agents.milp import HighsModel
from scenarios.lowcarbon_loader import LowCarbonScenario, load_lowcarbon_ies
from scenarios.schema import ScenarioError

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios" / "lowcarbon_ies"
#: A windy night and a calm afternoon (MW of the 600 MW aggregate).
WIND = 600 * np.array([0.80, 0.85, 0.88, 0.90, 0.85, 0.75, 0.60, 0.45, 0.35, 0.25, 0.15, 0.10,
                       0.08, 0.08, 0.10, 0.12, 0.15, 0.20, 0.30, 0.40, 0.50, 0.60, 0.70, 0.75])


@pytest.fixture(scope="module")
def scenario() -> LowCarbonScenario:
    return load_lowcarbon_ies()


def _solve(sc: LowCarbonScenario, name: str, wind: np.ndarray = WIND):
    lm = build_lowcarbon_model(sc, sc.variant(name), wind)
    hm = HighsModel(lm.model, name, relax_integrality=False)
    hm.solve()
    for j, var in enumerate(hm._cm.columns):
        if not var.fixed:
            var.set_value(float(hm.x[j]), skip_validation=True)
    return lm, hm


@pytest.fixture(scope="module")
def solved(scenario: LowCarbonScenario) -> dict[str, tuple]:
    return {name: _solve(scenario, name) for name in ("S2", "S3", "S4", "S5", "S6")}


def test_scenario_loads_six_configurations(scenario: LowCarbonScenario) -> None:
    assert [v.name for v in scenario.variants] == ["S1", "S2", "S3", "S4", "S5", "S6"]
    assert not scenario.variant("S1").robust and all(v.robust for v in scenario.variants[1:])
    assert scenario.variant("S6").carbon == "conventional"
    assert scenario.wind.capacity_mw == pytest.approx(600.0)
    assert scenario.electric_load_mw.max() == pytest.approx(600.0)
    assert scenario.heat_load_mw.max() == pytest.approx(280.0, rel=0.01)
    assert len(scenario.thermal_units) == 2 and len(scenario.ev_fleet.groups) == 30


def _write(tmp_path: Path, old: str, new: str) -> Path:
    text = (SCENARIO_DIR / "scenario.toml").read_text(encoding="utf-8")
    assert old in text
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "loads.csv").write_text((SCENARIO_DIR / "profiles" / "loads.csv").read_text())
    (tmp_path / "scenario.toml").write_text(text.replace(old, new, 1), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(("old", "new", "message"), [
    ("p_max_mw = 150.0                     # [default]\neta_power", "p_maxx_mw = 150.0\neta_power",
     r"gas_turbine\.p_maxx_mw' is not a field of GasTurbineParams"),
    ("eta_heat = 0.90", "eta_heat = 1.5", r"gas_boiler\.eta_heat"),
    ('carbon = "conventional"', 'carbon = "flat"', r"variants\[5\].*carbon"),
    ("coverage = 0.95", "coverage = 1.5", r"uncertainty.*coverage"),
    ("farm_capacities_mw = [300.0, 300.0]", "farm_capacities_mw = [300.0, -1]", r"wind\.farm_capacities_mw"),
    ("robust = false", 'robust = "no"', r"variants\[0\]\.robust' must be true or false"),
])
def test_loader_errors_name_the_field(tmp_path: Path, old: str, new: str, message: str) -> None:
    folder = _write(tmp_path, old, new)
    with pytest.raises(ScenarioError, match=message):
        load_lowcarbon_ies(folder)


def test_balances_and_cost_breakdown(solved: dict[str, tuple]) -> None:
    for name, (lm, hm) in solved.items():
        m = lm.model
        for con in (m.def_balance, m.def_heat_balance, m.def_gas_balance, m.def_h2_balance):
            for c in con.values():
                assert abs(pyo.value(c.body) - pyo.value(c.upper)) < 1e-6, (name, c.name)
        costs = lm.cost_breakdown()
        assert set(costs) == {*COST_COLUMNS, "total"}
        assert costs["total"] == pytest.approx(hm.last.objective, rel=1e-9, abs=1e-7), name
        assert costs["penalty"] == pytest.approx(0.0, abs=1e-6), name  # no shedding on this day


def test_co2_mass_balance(solved: dict[str, tuple]) -> None:
    """Emitted = released + absorbed; over the day absorbed = methanated + sequestered (tanks cyclic)."""
    for name, (lm, _) in solved.items():
        c = lm.co2_breakdown()
        assert c["emitted"] == pytest.approx(c["released"] + c["absorbed"], rel=1e-9), name
        assert c["absorbed"] == pytest.approx(c["methanated"] + c["sequestered"], rel=1e-6, abs=1e-6), name
        assert c["traded"] == pytest.approx(c["released"] - c["allowance"], rel=1e-9), name
    assert solved["S2"][0].co2_breakdown()["absorbed"] == 0.0
    assert solved["S3"][0].co2_breakdown()["absorbed"] > 0.0


def test_configurations_switch_devices(solved: dict[str, tuple], scenario: LowCarbonScenario) -> None:
    h = {name: set(lm.handles) for name, (lm, _) in solved.items()}
    assert not {"p2g", "ccus", "h2s", "p2a", "nh3s", "ev", "dr"} & h["S2"]
    assert {"p2g", "ccus", "h2s"} <= h["S3"] and not {"p2a", "nh3s"} & h["S3"]
    assert {"p2a", "nh3s"} <= h["S4"] and not {"ev", "dr"} & h["S4"]
    assert {"ev", "dr"} <= h["S5"]
    # blending off: no H2 in GT/GB and no NH3 in TP
    lm3 = solved["S3"][0]
    assert np.allclose(lm3.series("gt", "gt_h2_mw"), 0.0) and np.allclose(lm3.series("gb", "gb_h2_mw"), 0.0)
    assert all(np.allclose(lm3.series(k, "tp_nh3_t"), 0.0) for k in lm3.handles if k.startswith("tp_"))
    # S6 is S5 with conventional trading
    assert solved["S6"][0].handles["carbon"].block.name == "carbon"
    assert dataclasses.replace(scenario.variant("S5"), name="S6", label=scenario.variant("S6").label,
                               carbon="conventional") == scenario.variant("S6")


def test_more_flexibility_never_costs_more(solved: dict[str, tuple]) -> None:
    """Each configuration adds options to the previous one (same wind, commitment free): S3 <= S2, S4 <= S3,
    S5 <= S4 (the EV fleet scheduled instead of charging uncontrolled, plus DR)."""
    tot = {n: lm.cost_breakdown()["total"] for n, (lm, _) in solved.items()}
    assert tot["S3"] <= tot["S2"] + 1e-6
    assert tot["S4"] <= tot["S3"] + 1e-6
    assert tot["S5"] <= tot["S4"] + 1e-6
    # the campus sells allowances: the reward tiers of S5 pay more for a surplus than S6's single price, and each
    # configuration's trading cost is its formula at the traded volume (the declared tier is the best one)
    ct = solved["S5"][0].scenario.carbon_trading
    assert ct.reward
    e5 = solved["S5"][0].co2_breakdown()["traded"]
    e6 = solved["S6"][0].co2_breakdown()["traded"]
    assert e5 < -ct.interval_t and e6 < 0
    c5 = solved["S5"][0].cost_breakdown()["carbon_trading"]
    c6 = solved["S6"][0].cost_breakdown()["carbon_trading"]
    assert c5 == pytest.approx(stepped_carbon_cost(e5, ct.price_per_t, ct.interval_t, ct.growth,
                                                   reward=True), abs=1e-6)
    assert c6 == pytest.approx(ct.price_per_t * e6, abs=1e-6)
    assert tot["S5"] < tot["S6"] - 1.0


def test_uncontrolled_ev_load_serves_the_same_energy(scenario: LowCarbonScenario) -> None:
    hz = scenario.horizon
    load = uncontrolled_ev_load(scenario.ev_fleet, hz)
    need = sum(((g.soc_required - g.soc_arrival) * g.capacity_kwh if g.kind == "work" else g.trip_kwh) / g.eta
               for g in scenario.ev_fleet.groups)
    assert load.sum() * hz.dt_h == pytest.approx(need, rel=1e-12)
    assert load.max() <= sum(g.p_charge_max_kw for g in scenario.ev_fleet.groups) + 1e-9
    # charging starts at plug-in: the work groups arrive 07-09 h, the home groups 17-21 h
    assert load[:6].sum() == pytest.approx(0.0) and load[7:10].sum() > 0 and load[17:21].sum() > 0
    # the scheduled fleet meets the same departure energies: S4 (uncontrolled) and S5 share the EV demand
    bad = dataclasses.replace(scenario.ev_fleet.groups[0], p_charge_max_kw=0.01)
    with pytest.raises(ValueError, match="cannot charge"):
        uncontrolled_ev_load(dataclasses.replace(scenario.ev_fleet, groups=(bad,)), hz)

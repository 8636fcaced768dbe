"""Scenario loader (scenarios/loader.py): the bundled three-campus scenario, and malformed copies
whose ScenarioError must name the file, the field and what is allowed."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scenario_edits import edit, edit_csv_cell, edit_nth, edit_re

from scenarios.loader import SCENARIO_DIR, load_three_campus, scenario_path
from scenarios.schema import ScenarioError, ThreeCampusScenario

BUNDLED = SCENARIO_DIR / "three_campus"


@pytest.fixture(scope="module")
def bundled() -> ThreeCampusScenario:
    return load_three_campus("three_campus")


@pytest.fixture
def scen(tmp_path: Path) -> Path:
    """A private copy of the bundled scenario folder."""
    d = tmp_path / "case"
    shutil.copytree(BUNDLED, d, ignore=shutil.ignore_patterns("__pycache__"))
    return d


# ------------------------------------------------------------------------------------ bundled


def test_bundled_scenario_loads(bundled: ThreeCampusScenario) -> None:
    s = bundled
    assert s.name == "three_campus"
    assert s.park_names == ["PV", "WT", "CHP"]
    assert [p.kind for p in s.parks] == ["pv", "wind", "chp"]
    pv, wt, chp = s.parks
    assert pv.pv is not None and pv.pv.capacity_kw == 500 and pv.wind is None and pv.chp is None
    assert wt.wind is not None and wt.wind.capacity_kw == 400 and wt.pv is None
    assert chp.chp is not None and chp.pv is None and chp.wind is None
    assert (chp.chp.p_min_kw, chp.chp.p_max_kw, chp.chp.p_initial_kw) == (80, 400, 200)
    assert chp.chp.cost_per_kwh == pytest.approx(0.55)
    for p in s.parks:
        assert p.ess.capacity_kwh == 300 and p.ess.p_charge_max_kw == 75
        assert p.ess.cost_per_kwh == pytest.approx(0.05)
        assert p.dr.gamma == pytest.approx(0.2) and p.dr.cost_per_kwh == pytest.approx(0.15)
        assert p.grid.p_max_kw == 600
    assert len(s.lines) == 3
    assert {(ln.name, ln.a, ln.b) for ln in s.lines} == {("PV-WT", "PV", "WT"), ("WT-CHP", "WT", "CHP"),
                                                         ("PV-CHP", "PV", "CHP")}
    assert all(ln.efficiency == 1.0 and ln.cap_forward_kw == 200 for ln in s.lines)
    assert s.buy_price.shape == (24,) and s.sell_price.shape == (24,)
    assert np.all(s.sell_price <= s.buy_price)
    assert s.uncertainty.epsilon == pytest.approx(0.10)
    assert s.uncertainty.beta == pytest.approx(0.8)
    assert s.uncertainty.n_scenarios == 12
    assert s.penalties.net == pytest.approx(0.30)
    assert s.objective.expected_cost_weight == pytest.approx(1e-3)
    assert s.currency == "CNY"
    assert s.source == BUNDLED / "scenario.toml"


def test_bundled_forecasts(bundled: ThreeCampusScenario) -> None:
    s = bundled
    assert set(s.forecast) == {"PV", "WT", "CHP"}
    assert set(s.forecast["PV"]) == {"load_kw", "pv_kw"}
    assert set(s.forecast["WT"]) == {"load_kw", "wind_kw"}
    assert set(s.forecast["CHP"]) == {"load_kw"}
    for park in s.parks:
        for arr in s.forecast[park.name].values():
            assert arr.shape == (24,) and np.all(arr >= 0)
        assert park.load_peak_kw == pytest.approx(float(s.forecast[park.name]["load_kw"].max()))
    assert s.forecast["PV"]["load_kw"][0] == pytest.approx(165.0)  # first row of forecast.csv
    assert s.park("WT") is s.parks[1]
    with pytest.raises(KeyError, match="no park named 'XX'"):
        s.park("XX")


def test_load_by_folder_and_by_toml_path(scen: Path, bundled: ThreeCampusScenario) -> None:
    for where in (scen, scen / "scenario.toml", str(scen)):
        s = load_three_campus(where)
        assert s.park_names == bundled.park_names
        np.testing.assert_array_equal(s.buy_price, bundled.buy_price)
        np.testing.assert_array_equal(s.forecast["WT"]["wind_kw"], bundled.forecast["WT"]["wind_kw"])
        assert s.source == scen / "scenario.toml"


def test_edited_copy_is_read(scen: Path) -> None:
    # the loader reads the copy, not the bundled files
    edit(scen / "scenario.toml", "epsilon = 0.10", "epsilon = 0.05")
    edit_csv_cell(scen / "profiles" / "tariff.csv", 3, "buy_price", "0.9")
    s = load_three_campus(scen)
    assert s.uncertainty.epsilon == pytest.approx(0.05)
    assert s.buy_price[2] == pytest.approx(0.9)


# ------------------------------------------------------------------------------------ malformed

TOML = "scenario.toml"


def _drop_forecast_row(d: Path) -> None:
    f = d / "profiles" / "forecast.csv"
    lines = f.read_text(encoding="utf-8").splitlines()
    f.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")


def _chp_pmax_below_pmin(d: Path) -> None:
    edit(d / TOML, "p_min_kw = 80, p_max_kw = 400", "p_min_kw = 80, p_max_kw = 50")


Edit = Callable[[Path], None]

MALFORMED: list[tuple[str, Edit, str, list[str]]] = [
    ("missing beta", lambda d: edit_re(d / TOML, r"^beta = .*\n", ""), TOML,
     ["field 'uncertainty.beta'", "is missing"]),
    ("missing table", lambda d: edit_re(d / TOML, r"^\[costs\].*\n", "[costs_typo]\n"), TOML,
     ["field 'costs'", "is missing"]),
    ("negative capacity", lambda d: edit(d / TOML, "capacity_kwh = 300", "capacity_kwh = -5"), TOML,
     ["parks[0].ess.capacity_kwh", "= -5", ">= 0", "kWh"]),
    ("capacity in third park", lambda d: edit_nth(d / TOML, "capacity_kwh = 300", "capacity_kwh = -1", 3), TOML,
     ["parks[2].ess.capacity_kwh", "= -1", ">= 0"]),
    ("string for number", lambda d: edit(d / TOML, "gamma = 0.2", 'gamma = "0.2"'), TOML,
     ["parks[0].dr.gamma", "must be a number"]),
    ("epsilon out of range", lambda d: edit(d / TOML, "epsilon = 0.10", "epsilon = 1.5"), TOML,
     ["uncertainty.epsilon", "= 1.5", "in [0, 1)"]),
    ("eta zero", lambda d: edit(d / TOML, "eta_charge = 0.95", "eta_charge = 0"), TOML,
     ["parks[0].ess.eta_charge", "in (0, 1]"]),
    ("soc initial outside", lambda d: edit(d / TOML, "soc_initial_frac = 0.5", "soc_initial_frac = 0.95"), TOML,
     ["parks[0].ess.soc_initial_frac", "[soc_min_frac, soc_max_frac]"]),
    ("chp pmax < pmin", _chp_pmax_below_pmin, TOML, ["parks[2].chp.p_max_kw", "p_min_kw = 80"]),
    ("unknown park kind", lambda d: edit(d / TOML, 'kind = "wind"', 'kind = "hydro"'), TOML,
     ["parks[1].kind", "'hydro'", "pv, wind, chp"]),
    ("n_scenarios not whole", lambda d: edit(d / TOML, "n_scenarios = 12", "n_scenarios = 2.5"), TOML,
     ["uncertainty.n_scenarios", "whole number"]),
    ("unknown park in line", lambda d: edit(d / TOML, 'a = "WT"\nb = "CHP"', 'a = "WX"\nb = "CHP"'), TOML,
     ["lines[1].a", "'WX'", "PV, WT, CHP"]),
    ("line joins a park to itself", lambda d: edit(d / TOML, 'a = "PV"\nb = "WT"', 'a = "PV"\nb = "PV"'), TOML,
     ["lines[0].b", "two different parks"]),
    ("duplicate park name", lambda d: edit(d / TOML, 'name = "WT"', 'name = "PV"'), TOML,
     ["parks[].name", "unique"]),
    ("wrong-length profile", _drop_forecast_row, "forecast.csv", ["has 23 rows", "expected 24"]),
    ("non-numeric profile cell", lambda d: edit_csv_cell(d / "profiles" / "forecast.csv", 5, "WT.wind_kw", "n/a"),
     "forecast.csv", ["column 'WT.wind_kw'", "row 5", "not a number"]),
    ("negative profile cell", lambda d: edit_csv_cell(d / "profiles" / "forecast.csv", 7, "PV.load_kw", "-3"),
     "forecast.csv", ["column 'PV.load_kw'", "row 7", ">= 0"]),
    ("missing profile column", lambda d: edit(d / "profiles" / "forecast.csv", "WT.wind_kw", "WT.wnd_kw"),
     "forecast.csv", ["WT.wind_kw", "missing"]),
    ("hours out of order", lambda d: edit_csv_cell(d / "profiles" / "tariff.csv", 2, "hour", "3"),
     "tariff.csv", ["column 'hour'", "1..24"]),
    ("sell above buy", lambda d: edit_csv_cell(d / "profiles" / "tariff.csv", 5, "sell_price", "0.9"),
     "tariff.csv", ["'sell_price'", "hour 5", "exceeds 'buy_price'"]),
    ("missing profile file", lambda d: (d / "profiles" / "tariff.csv").unlink(), "tariff.csv", ["not found"]),
    ("invalid TOML", lambda d: edit(d / TOML, "seed = 20240601", "seed = = 1"), TOML, ["not valid TOML"]),
    ("unknown DA method", lambda d: edit(d / TOML, 'method = "cvar"', 'method = "minimax"'), TOML,
     ["uncertainty.method", "'minimax'", "so, ro, dro, cdro, cvar"]),
    ("DA method not a string", lambda d: edit(d / TOML, 'method = "cvar"', "method = 2"), TOML,
     ["uncertainty.method", "must be a string"]),
    ("lam above 1", lambda d: edit(d / TOML, "lam = 0.2 ", "lam = 1.5 "), TOML,
     ["uncertainty.lam", "= 1.5", "in [0, 1]"]),
    ("lam negative", lambda d: edit(d / TOML, "lam = 0.2 ", "lam = -0.1 "), TOML,
     ["uncertainty.lam", "= -0.1", "in [0, 1]"]),
    ("alpha_1 of 1", lambda d: edit(d / TOML, "alpha_1 = 0.95", "alpha_1 = 1.0"), TOML,
     ["uncertainty.alpha_1", "in (0, 1)"]),
    ("alpha_inf of 0", lambda d: edit(d / TOML, "alpha_inf = 0.99", "alpha_inf = 0"), TOML,
     ["uncertainty.alpha_inf", "in (0, 1)"]),
    ("history_days not whole", lambda d: edit(d / TOML, "history_days = 200", "history_days = 20.5"), TOML,
     ["uncertainty.history_days", "whole number"]),
    ("history_days zero", lambda d: edit(d / TOML, "history_days = 200", "history_days = 0"), TOML,
     ["uncertainty.history_days", "= 0", "in [1, 1e+06] days"]),
]


@pytest.mark.parametrize(("case", "mutate", "file_name", "fragments"), MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_copy_names_file_and_field(
    scen: Path, case: str, mutate: Edit, file_name: str, fragments: list[str]
) -> None:
    mutate(scen)
    with pytest.raises(ScenarioError) as ei:
        load_three_campus(scen)
    msg = str(ei.value)
    assert str(scen / file_name if file_name == TOML else scen / "profiles" / file_name) in msg, msg
    for frag in fragments:
        assert frag in msg, f"{case}: {frag!r} not in {msg!r}"


def test_scenario_error_is_a_value_error() -> None:
    assert issubclass(ScenarioError, ValueError)


def test_unknown_scenario_name() -> None:
    with pytest.raises(ScenarioError, match=r"scenario 'no_such_scenario' not found.*three_campus"):
        load_three_campus("no_such_scenario")
    with pytest.raises(ScenarioError, match="not found"):
        scenario_path("no_such_scenario")


def test_missing_toml_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "scenario.toml"
    with pytest.raises(ScenarioError, match=r"scenario file not found") as ei:
        load_three_campus(missing)
    assert str(missing) in str(ei.value)


def test_scenario_path_resolution(scen: Path) -> None:
    assert scenario_path("three_campus") == BUNDLED / "scenario.toml"
    assert scenario_path(scen) == scen / "scenario.toml"
    assert scenario_path(scen / "scenario.toml") == scen / "scenario.toml"


# ------------------------------------------------------------------------------------ DA method (issue 5)

DA_METHOD_FIELDS = ("method", "lam", "alpha_1", "alpha_inf", "history_days")


def test_da_method_fields_default_to_the_cvar_model(scen: Path, bundled: ThreeCampusScenario) -> None:
    u = bundled.uncertainty
    assert (u.method, u.lam, u.alpha_1, u.alpha_inf, u.history_days) == ("cvar", 0.2, 0.95, 0.99, 200)
    for key in DA_METHOD_FIELDS:  # a file without them (the file before issue 5) loads the same
        edit_re(scen / TOML, rf"^{key} = .*\n", "")
    assert load_three_campus(scen).uncertainty == u
    edit(scen / TOML, "[uncertainty]\n", '[uncertainty]\nmethod = "cdro"\nlam = 0.3\nhistory_days = 50\n')
    v = load_three_campus(scen).uncertainty
    assert (v.method, v.lam, v.history_days, v.alpha_1) == ("cdro", 0.3, 50, 0.95)


@pytest.mark.parametrize(("field", "value", "allowed"),
                         [("method", "mean", "one of so, ro, dro, cdro, cvar"), ("lam", 2.0, "in [0, 1]"),
                          ("alpha_inf", 1.0, "in (0, 1)"), ("history_days", 0, "a whole number >= 1")])
def test_da_method_fields_are_checked_on_replace(bundled: ThreeCampusScenario, field: str, value: object,
                                                 allowed: str) -> None:
    """The schema checks them too (``--set uncertainty.method=...`` rebuilds the dataclass)."""
    with pytest.raises(ValueError, match=rf"uncertainty\.{field} = .*must be {re.escape(allowed)}"):
        replace(bundled.uncertainty, **{field: value})

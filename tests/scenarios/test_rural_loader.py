"""Rural IES scenario of paper 002 (scenarios/rural_ies, scenarios.loader.load_rural_ies): the bundled
scenario against SPEC §3.8's defaults table, the profile generator, and malformed copies whose
ScenarioError must name the file, the field and what is allowed."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scenario_edits import edit, edit_csv_cell, edit_re

from agents.rural_campus import RURAL_DEFAULTS
from scenarios.loader import SCENARIO_DIR, load_rural_ies, load_three_campus, scenario_path
from scenarios.schema import RuralIESScenario, RuralUncertaintySpec, ScenarioError

BUNDLED = SCENARIO_DIR / "rural_ies"


@pytest.fixture(scope="module")
def bundled() -> RuralIESScenario:
    return load_rural_ies("rural_ies")


@pytest.fixture
def scen(tmp_path: Path) -> Path:
    """A private copy of the bundled scenario folder."""
    d = tmp_path / "case"
    shutil.copytree(BUNDLED, d, ignore=shutil.ignore_patterns("__pycache__"))
    return d


# ------------------------------------------------------------------------------------ bundled


def test_bundled_scenario_matches_the_spec_defaults(bundled: RuralIESScenario) -> None:
    s, d = bundled, RURAL_DEFAULTS
    assert s.name == "rural_ies" and s.currency == "CNY" and s.seed == 20240602
    assert s.source == scenario_path("rural_ies")
    # device parameters: exactly the SPEC §3.8 defaults of agents.rural_campus.RURAL_DEFAULTS
    assert s.biogas_generator == d.biogas_generator
    assert s.biogas_storage == d.biogas_storage
    assert s.electric_boiler == d.electric_boiler
    assert s.heat_pump == d.heat_pump
    assert s.power_storage == d.power_storage
    assert s.heat_storage == d.heat_storage
    assert s.transferable_load == d.transferable_load
    assert s.da_trading == d.da_trading
    assert s.intraday_trading == d.intraday_trading
    assert (s.pv.kind, s.pv.capacity_kw, s.pv.curtailment_cost_per_kwh) == ("pv", d.pv_capacity_kw, 0.5)
    # profiles: 24 hourly values, peaks of the defaults table, prices of SPEC §3.8
    for arr in (s.power_load_kw, s.heat_load_kw, s.pv_forecast_kw, s.biogas_production_m3_per_h,
                s.da_price, s.buy_price, s.sell_price):
        assert arr.shape == (24,) and not arr.flags.writeable
    assert s.power_load_peak_kw == d.power_load_peak_kw == 400
    assert s.heat_load_peak_kw == d.heat_load_peak_kw == 300
    assert s.pv_forecast_kw.max() == pytest.approx(d.pv_capacity_kw)
    assert np.all(s.pv_forecast_kw[:6] == 0) and np.all(s.pv_forecast_kw[19:] == 0)
    np.testing.assert_allclose(s.biogas_production_m3_per_h, d.biogas_production())
    np.testing.assert_allclose(s.da_price, d.da_price())
    buy, sell = d.intraday_prices()
    np.testing.assert_allclose(s.buy_price, buy, atol=1e-12)
    np.testing.assert_allclose(s.sell_price, sell, atol=1e-12)
    assert s.voll_factor == 10 and s.voll_per_kwh == pytest.approx(12.0)
    u = s.uncertainty
    assert (u.method, u.M, u.K, u.alpha_inf, u.alpha_1, u.lam) == ("cdro", 200, 50, 0.99, 0.95, 0.2)
    assert (u.error_bound, u.ar1_phi, u.sigma, u.epsilon, u.cvar_beta) == (0.30, 0.7, 0.1, 1e-4, 0.8)


def test_make_profiles_reproduces_the_bundled_csvs(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("rural_make_profiles", BUNDLED / "make_profiles.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main(tmp_path)
    for name in ("forecast.csv", "prices.csv"):
        assert (tmp_path / name).read_text() == (BUNDLED / "profiles" / name).read_text(), name


def test_the_three_campus_loader_rejects_the_rural_kind() -> None:
    with pytest.raises(ScenarioError, match=r"field 'kind' = 'rural_ies': must be one of three_campus"):
        load_three_campus("rural_ies")


# ------------------------------------------------------------------------------------ malformed copies

TOML = "scenario.toml"
Edit = Callable[[Path], None]


def toml_edit(old: str, new: str) -> Edit:
    return lambda d: edit(d / TOML, old, new)


def toml_re(pattern: str, new: str) -> Edit:
    return lambda d: edit_re(d / TOML, pattern, new)


def drop_last_row(csv: str) -> Edit:
    def run(d: Path) -> None:
        f = d / "profiles" / csv
        f.write_text("\n".join(f.read_text().splitlines()[:-1]) + "\n")
    return run


@pytest.mark.parametrize(("change", "file", "match"), [
    (toml_re(r"^lam = 0\.2", "lam = 1.5"), TOML, r"field 'uncertainty\.lam' = 1\.5: must be in \[0, 1\]"),
    (toml_edit('method = "cdro"', 'method = "saa"'), TOML,
     r"field 'uncertainty\.method' = 'saa': must be one of so, ro, dro, cdro, cvar"),
    (toml_re(r"^K = 50", "K = 300"), TOML, r"field 'uncertainty\.K' = 300: must be in \[1, 200\]"),
    (toml_re(r"^alpha_1 = 0\.95", "alpha_1 = 1.0"), TOML, r"field 'uncertainty\.alpha_1' = 1\.0: must be in \(0, 1\)"),
    (toml_re(r"^M = 200", "M = 20.5"), TOML, r"field 'uncertainty\.M' = 20\.5: must be a whole number"),
    (toml_re(r"^error_bound = 0\.30", "error_bound = 1.2"), TOML, r"field 'uncertainty\.error_bound' = 1\.2"),
    (toml_re(r"^capacity_kwh = 400", "capacity_kwh = -400"), TOML,
     r"field 'power_storage\.capacity_kwh' = -400: must be > 0 kWh"),
    (toml_re(r"^p_max_kw = 150 ", "p_max_kw = -5 "), TOML, r"field 'biogas_generator\.p_max_kw' = -5: must be >= 30"),
    (toml_re(r"^cop = 3\.5", "cop = 0"), TOML, r"field 'heat_pump\.cop' = 0: must be in \(0, 10\]"),
    (toml_re(r"^eta_heat = 0\.45", "eta_heat = 0.7"), TOML,
     r"field 'biogas_generator\.eta_heat' = 0\.7: must be in \[0, 1 - eta_power = 0\.65\]"),
    (toml_re(r"^s_initial_m3 = 300", "s_initial_m3 = 700"), TOML,
     r"field 'biogas_storage\.s_initial_m3' = 700\.0: must be in \[s_min_m3, capacity_m3\] = \[0\.0, 600\.0\]"),
    (toml_re(r"^soc_initial_frac = 0\.5 ", "soc_initial_frac = 0.95 "), TOML,
     r"field 'power_storage\.soc_initial_frac' = 0\.95: must be in \[soc_min_frac, soc_max_frac\]"),
    (toml_re(r"^window_end_h = 17", "window_end_h = 16.5"), TOML, r"field 'transferable_load\.window_end_h' = 16\.5"),
    (toml_re(r"^p_max_kw = 500", "p_max_kw = -10"), TOML, r"field 'da_trading\.p_max_kw' = -10: must be >= 0"),
    (toml_re(r"^voll_factor = 10", "voll_factor = 0.5"), TOML, r"field 'recourse\.voll_factor' = 0\.5: must be >= 1"),
    (toml_edit('kind = "rural_ies"', 'kind = "three_campus"'), TOML,
     r"field 'kind' = 'three_campus': must be one of rural_ies"),
    (toml_re(r"^\[heat_pump\]", "[heat_pumps]"), TOML, r"field 'heat_pump' is missing \(a table is required\)"),
    (drop_last_row("forecast.csv"), TOML,
     r"field 'profiles\.forecast' = 'profiles/forecast\.csv': .*forecast\.csv: has 23 rows, expected 24"),
    (lambda d: edit_csv_cell(d / "profiles" / "prices.csv", 5, "da_price", "abc"), "prices.csv",
     r"column 'da_price' row 5 is not a number"),
    (lambda d: edit_csv_cell(d / "profiles" / "forecast.csv", 3, "heat_load_kw", "-1"), "forecast.csv",
     r"column 'heat_load_kw' row 3 = -1\.0: must be >= 0"),
    (lambda d: edit_csv_cell(d / "profiles" / "prices.csv", 9, "sell_price", "2.0"), "prices.csv",
     r"column 'sell_price' hour 9 exceeds 'buy_price'"),
    (lambda d: edit_csv_cell(d / "profiles" / "forecast.csv", 13, "pv_kw", "350"), "forecast.csv",
     r"column 'pv_kw' hour 13 = 350: must be <= pv\.capacity_kw = 300 kW"),
    # 90 m3/h of gas cannot be burnt by a generator of at most 150 / (0.35 x 6) = 71.4 m3/h with a 600 m3 holder
    (lambda d: [edit_csv_cell(d / "profiles" / "forecast.csv", h, "biogas_production_m3_per_h", "90")
                for h in range(1, 25)], TOML,
     r"fields 'biogas_generator' and 'biogas_storage' cannot follow the biogas production .* in hour 17"),
    # a harmless edit (a bigger holder) must still load
    (toml_re(r"^capacity_m3 = 600", "capacity_m3 = 5000"), TOML, None),
])
def test_bad_values_name_file_and_field(scen: Path, change: Edit, file: str, match: str | None) -> None:
    change(scen)
    if match is None:
        assert load_rural_ies(scen).biogas_storage.capacity_m3 == 5000
        return
    with pytest.raises(ScenarioError, match=match) as info:
        load_rural_ies(scen)
    assert file in str(info.value)
    assert str(scen) in str(info.value)


def test_the_holder_must_end_the_day_at_its_start_volume(scen: Path) -> None:
    # production 10 m3/h < the generator's minimum draw 30 / 2.1 = 14.29 m3/h: the holder (300 m3) can feed the
    # difference for 70 h but not refill by the end of the day
    for h in range(1, 25):
        edit_csv_cell(scen / "profiles" / "forecast.csv", h, "biogas_production_m3_per_h", "10")
    with pytest.raises(ScenarioError, match=r"field 'biogas_storage\.s_initial_m3' = 300: the holder must end the day "
                                            r"at its start volume, but only 0\.\.197\.1\d* m3 is reachable"):
        load_rural_ies(scen)


def test_uncertainty_spec_checks_itself() -> None:
    u = RuralUncertaintySpec()
    assert u.method == "cdro" and u.K == 50
    with pytest.raises(ValueError, match=r"uncertainty\.lam = 1\.5: must be in \[0, 1\]"):
        replace(u, lam=1.5)
    with pytest.raises(ValueError, match=r"uncertainty\.method = 'x': must be one of so, ro, dro, cdro, cvar"):
        replace(u, method="x")
    with pytest.raises(ValueError, match=r"uncertainty\.K = 60: must be <= M = 50"):
        replace(u, M=50, K=60)
    with pytest.raises(ValueError, match=r"uncertainty\.M = True: must be a whole number >= 1"):
        replace(u, M=True)

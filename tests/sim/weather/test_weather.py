"""sim.weather.model: fits (SPEC §6.1), the Gaussian-copula sampler, 15-min refinement, loads, backward
scenario reduction (SPEC §6.2) and the per-day forecast / realisation (SPEC §6.6)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist
from scipy.stats import spearmanr, weibull_min

from scenarios.ieee33_loader import load_ieee33_scenario
from scenarios.loader import load_three_campus
from scenarios.schema import ScenarioError
from sim.weather import model as w
from sim.weather.model import (
    PVModel,
    Site,
    TurbineCurve,
    WeatherModel,
    day_seed_sequence,
    fit_clearness_beta,
    fit_tmy,
    fit_wind_weibull,
    forecast_and_realisation,
    load_days,
    load_weather_params,
    reduce_scenarios,
    refine_to_15min,
    sites_of_ieee33,
    sites_of_three_campus,
)

JULY = 7


@pytest.fixture(scope="module")
def params() -> pd.DataFrame:
    return load_weather_params()


@pytest.fixture(scope="module")
def ieee33_model(params: pd.DataFrame) -> WeatherModel:
    return WeatherModel(params, sites_of_ieee33(load_ieee33_scenario()))


# ------------------------------------------------------------------------------ fits on synthetic samples


@pytest.mark.parametrize("method", ["moments", "mle"])
@pytest.mark.parametrize(("a", "b"), [(2.5, 4.0), (0.8, 1.6), (6.0, 3.0)])
def test_beta_fit_recovers_known_parameters(method: Literal["moments", "mle"], a: float, b: float) -> None:
    x = np.random.default_rng(11).beta(a, b, 20_000)
    alpha, beta = fit_clearness_beta(x, method)
    assert alpha == pytest.approx(a, rel=0.05)
    assert beta == pytest.approx(b, rel=0.05)


def test_beta_moments_keep_the_mean_and_reject_degenerate_samples() -> None:
    x = np.random.default_rng(1).beta(3, 2, 500)
    alpha, beta = fit_clearness_beta(x)
    assert alpha / (alpha + beta) == pytest.approx(x.mean(), rel=1e-12)
    with pytest.raises(ValueError, match="degenerate"):
        fit_clearness_beta(np.zeros(10))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fit_clearness_beta([0.2, 1.3])


@pytest.mark.parametrize(("p_calm", "k", "c"), [(0.12, 2.2, 6.0), (0.30, 1.6, 4.0), (0.0, 3.0, 8.0), (0.1, 1.2, 2.0)])
def test_weibull_fit_with_calm_mass_recovers_known_parameters(p_calm: float, k: float, c: float) -> None:
    rng = np.random.default_rng(5)
    n = 20_000
    v = np.where(rng.random(n) < p_calm, 0.0, c * rng.weibull(k, n))
    p_hat, k_hat, c_hat = fit_wind_weibull(v, calm_threshold=0.5)
    # Weibull draws below the threshold count as calm: the calm share is p + (1 - p) F(0.5) ...
    assert p_hat == pytest.approx(p_calm + (1 - p_calm) * weibull_min.cdf(0.5, k, scale=c), abs=0.01)
    # ... and the rest is the Weibull truncated at 0.5, whose fit recovers the parent's k and c
    # (over 10 seeds the estimates are unbiased with sd ~ 1 % of k and c).
    assert k_hat == pytest.approx(k, rel=0.03)
    assert c_hat == pytest.approx(c, rel=0.03)
    mean_model = float(w.weibull_mixture_mean(p_hat, k_hat, c_hat, 0.5))
    assert mean_model == pytest.approx(np.where(v < 0.5, 0.0, v).mean(), rel=0.02)  # calm counts as 0 m/s


def test_weibull_fit_without_threshold_is_scipys_mle() -> None:
    v = 6.0 * np.random.default_rng(3).weibull(2.2, 5000)
    p_hat, k_hat, c_hat = fit_wind_weibull(v, calm_threshold=0.0)
    k_ref, _, c_ref = weibull_min.fit(v, floc=0.0)
    assert p_hat == 0.0
    assert k_hat == pytest.approx(k_ref, rel=1e-4) and c_hat == pytest.approx(c_ref, rel=1e-4)


def test_weibull_fit_needs_non_calm_samples() -> None:
    with pytest.raises(ValueError, match="too few"):
        fit_wind_weibull([0.0, 0.0, 0.1, 2.0])


# ------------------------------------------------------------------------------ fits on the real data


@pytest.fixture(scope="module")
def fresh_fits() -> dict[int, pd.DataFrame]:
    return {st: fit_tmy(w.bundled_tmy3_path(st)) for st in w.BUNDLED_TMY3}


@pytest.mark.parametrize("station", sorted(w.BUNDLED_TMY3))
def test_real_fit_matches_the_data_monthly_means(station: int, fresh_fits: dict[int, pd.DataFrame]) -> None:
    """Monthly means implied by the fitted parameters vs the raw TMY3 records (read independently)."""
    raw, _ = w.read_tmy3(w.bundled_tmy3_path(station))
    p = fresh_fits[station]
    assert len(p) == 288 and (p["n"].groupby(p["month"]).sum().sum() == len(raw) == 8760)
    day_rec = raw["ghi_extra"] >= w.GHI_EXTRA_MIN_W_M2
    kt_data = (raw["ghi"] / raw["ghi_extra"]).where(day_rec).clip(0, 1).groupby(raw["month"]).mean()
    ghi_data = raw["ghi"].groupby(raw["month"]).mean()
    wind_data = raw["wind_speed"].groupby(raw["month"]).mean()

    day = p["night"] == 0
    mean_kt = p["kt_alpha"] / (p["kt_alpha"] + p["kt_beta"])
    kt_fit = (mean_kt * p["n_day"]).where(day, 0).groupby(p["month"]).sum() / p["n_day"].where(day, 0).groupby(
        p["month"]).sum()
    ghi_fit = (mean_kt * p["ghi_extra_mean_w_m2"]).where(day, 0.0).groupby(p["month"]).mean()
    wind_fit = pd.Series(w.weibull_mixture_mean(p["wind_p_calm"], p["wind_k"], p["wind_c_m_s"],
                                                p["wind_calm_m_s"])).groupby(p["month"]).mean()
    # k_t: the cells fitted as night (too few day records / no light) drop a few dawn records.
    np.testing.assert_allclose(kt_fit.to_numpy(), kt_data.to_numpy(), rtol=0.03)
    # GHI: also tests E[k_t * GHI_extra] ~ E[k_t] * mean(GHI_extra) within a cell.
    np.testing.assert_allclose(ghi_fit.to_numpy(), ghi_data.to_numpy(), rtol=0.04)
    np.testing.assert_allclose(wind_fit.to_numpy(), wind_data.to_numpy(), rtol=0.02)
    assert p.loc[day, "kt_mean"].between(0.05, 0.8).all()


def test_cached_table_is_the_fit_of_the_bundled_data(fresh_fits: dict[int, pd.DataFrame]) -> None:
    """The CSV in scenarios/weather is what fit_weather.py writes from pvlib's TMY3 files (6 digits)."""
    for station, fresh in fresh_fits.items():
        cached = load_weather_params(station=station)
        pd.testing.assert_frame_equal(cached, fresh, check_dtype=False, rtol=1e-5, atol=1e-9)
    assert w.PARAMS_FILE.stat().st_size < 100_000
    assert (w.WEATHER_DIR / "PROVENANCE.md").exists()


def test_load_weather_params_errors_name_the_file(tmp_path: Path, params: pd.DataFrame) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(ScenarioError, match=r"nope\.csv.*not found"):
        load_weather_params(missing)
    bad = params.drop(columns=["wind_k"])
    f = tmp_path / "bad.csv"
    bad.to_csv(f, index=False)
    with pytest.raises(ScenarioError, match=r"bad\.csv.*wind_k"):
        load_weather_params(f)
    neg = params.copy()
    neg.loc[(neg["month"] == 7) & (neg["hour"] == 12), "kt_alpha"] = -1.0
    f2 = tmp_path / "neg.csv"
    neg.to_csv(f2, index=False)
    with pytest.raises(ScenarioError, match=r"neg\.csv.*month 7, hour 12.*kt_alpha"):
        load_weather_params(f2)
    with pytest.raises(ScenarioError, match="station 1 not in"):
        load_weather_params(station=1)


# ------------------------------------------------------------------------------ power models


def test_pv_model_is_pvwatts_with_ross_temperature() -> None:
    pvlib = pytest.importorskip("pvlib")
    g = np.array([0.0, 100.0, 400.0, 800.0])
    t_air = np.array([5.0, 15.0, 25.0, 35.0])
    pm = PVModel()
    t_cell = pvlib.temperature.ross(g, t_air, pm.noct_c)
    ref = pvlib.pvsystem.pvwatts_dc(g, t_cell, pdc0=1.0, gamma_pdc=pm.gamma_per_k) * pm.derate
    np.testing.assert_allclose(pm.power_frac(g, t_air), ref, rtol=1e-12)
    assert pm.power_frac(5000.0, 0.0) == 1.0  # clipped at capacity


def test_turbine_curve_from_windpowerlib() -> None:
    tc = TurbineCurve.from_windpowerlib("E-82/2300", 98.0)
    assert tc.nominal_power_kw == 2300.0
    assert tc.shear_factor == pytest.approx((98 / 10) ** (1 / 7))
    v10 = np.linspace(0, 30, 301)
    frac = tc.power_frac(v10)
    assert frac.min() == 0.0 and frac.max() == 1.0
    v_hub = v10 * tc.shear_factor
    assert np.all(frac[v_hub < 2.0] <= 0.002) and np.all(frac[v_hub > 25.0] == 0.0)
    inside = v_hub <= 25.0
    assert np.all(np.diff(frac[inside]) >= 0)  # non-decreasing up to cut-out
    with pytest.raises(ValueError, match="power curve"):
        TurbineCurve.from_windpowerlib("no-such-turbine", 100.0)


# ------------------------------------------------------------------------------ sampling


def test_sites_of_both_scenarios() -> None:
    s33 = sites_of_ieee33(load_ieee33_scenario())
    assert [s.name for s in s33] == ["pv7", "pv9", "pv15", "pv27", "pv29", "pv32", "wt12", "wt21", "wt30"]
    assert sum(s.capacity_kw for s in s33 if s.kind == "pv") == 5300
    assert sum(s.capacity_kw for s in s33 if s.kind == "wind") == 2600
    tc = load_three_campus("three_campus")
    s3 = sites_of_three_campus(tc)
    assert [(s.name, s.kind, s.capacity_kw) for s in s3] == [("PV.pv_kw", "pv", 500.0), ("WT.wind_kw", "wind", 400.0)]
    for s in s3:  # each name points at the forecast series it replaces
        park, qty = s.name.split(".")
        assert tc.forecast[park][qty].shape == (24,)
    assert list(w.loads_of_three_campus(tc)) == ["PV.load_kw", "WT.load_kw", "CHP.load_kw"]


def test_sampling_is_reproducible_and_bounded(ieee33_model: WeatherModel) -> None:
    a = ieee33_model.sample_days(123, 200, month=JULY)
    b = ieee33_model.sample_days(np.random.default_rng(123), 200, month=JULY)
    c = ieee33_model.sample_days(124, 200, month=JULY)
    assert a.shape == (200, 9, 24)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    cap = ieee33_model.capacity_kw[None, :, None]
    assert a.min() >= 0.0 and np.all(a <= cap)
    pv = ieee33_model.is_pv
    night = ieee33_model.night[JULY - 1]
    assert night[:5].all() and night[20:].all() and not night[6:19].any()
    assert np.all(a[:, pv][..., night] == 0.0)
    assert np.all(a[:, pv][..., ~night].mean(axis=0) > 0)
    assert a[:, ~pv].max() > 0  # some wind
    dec = ieee33_model.sample_days(123, 10, day_of_year=350)
    np.testing.assert_array_equal(dec, ieee33_model.sample_days(123, 10, month=12))
    with pytest.raises(ValueError, match="exactly one"):
        ieee33_model.sample_days(1, 1)


def test_copula_marginals_match_the_fitted_expectation(params: pd.DataFrame) -> None:
    """Correlation must not move the marginals: sample means ~ the model's expectation."""
    windy = load_weather_params(station=703165)
    sites = [Site("pv_a", "pv", 1000.0), Site("pv_b", "pv", 500.0), Site("wt_a", "wind", 800.0)]
    model = WeatherModel(params, sites, correlation=0.8, pv_model=PVModel(gamma_per_k=0.0), wind_params=windy)
    x = model.sample_days(7, 4000, month=3)
    expected = model.expected_power(3)
    np.testing.assert_allclose(x.sum(axis=2).mean(axis=0), expected.sum(axis=1), rtol=0.04)
    assert expected[2].mean() / 800 > 0.2  # Sand Point's wind is much stronger than Greensboro's


def test_copula_correlation_is_visible(params: pd.DataFrame) -> None:
    rho = 0.6
    sites = [Site("pv_a", "pv", 1000.0), Site("pv_b", "pv", 1000.0), Site("wt", "wind", 1000.0)]
    model = WeatherModel(params, sites, correlation=rho, cross_kind_correlation=0.0, phi=0.8)
    n = 4000
    z = model.sample_latent(3, n)
    assert np.corrcoef(z[:, 0, 12], z[:, 1, 12])[0, 1] == pytest.approx(rho, abs=0.04)
    assert np.corrcoef(z[:, 0, 12], z[:, 2, 12])[0, 1] == pytest.approx(0.0, abs=0.04)
    assert np.corrcoef(z[:, 0, 11], z[:, 0, 12])[0, 1] == pytest.approx(0.8, abs=0.03)
    assert z.std() == pytest.approx(1.0, abs=0.02)
    # the power samples (same generator): Spearman's rho of a Gaussian copula is (6/pi) asin(rho/2)
    x = model.sample_days(3, n, month=JULY)
    r_s = spearmanr(x[:, 0, 12], x[:, 1, 12]).statistic
    assert r_s == pytest.approx(6 / math.pi * math.asin(rho / 2), abs=0.04)
    assert abs(spearmanr(x[:, 0, 12], x[:, 2, 12]).statistic) < 0.05
    with pytest.raises(ValueError, match="positive definite"):
        WeatherModel(params, sites, correlation=np.array([[1, 0.99, -0.9], [0.99, 1, 0.9], [-0.9, 0.9, 1]]))


# ------------------------------------------------------------------------------ refinement and loads


def test_refine_to_15min_holds_bounds_and_pv_zeros() -> None:
    hourly = np.array([[0, 0, 50, 100, 100, 0], [10, 0, 90, 100, 0, 40]], dtype=float)
    cap = np.array([100.0, 100.0])
    r1 = refine_to_15min(hourly, np.random.default_rng(2), cap, zero_hold=[True, False])
    r2 = refine_to_15min(hourly, np.random.default_rng(2), cap, zero_hold=[True, False])
    np.testing.assert_array_equal(r1, r2)
    assert r1.shape == (2, 24)
    assert r1.min() >= 0 and r1.max() <= 100
    held = np.repeat(hourly, 4, axis=1)
    assert np.all(r1[0][held[0] == 0] == 0)  # PV stays 0
    assert np.abs(r1 - held).max() < 0.03 * 100 * 5  # noise of 3 % of capacity
    many = refine_to_15min(np.full((2000, 1, 24), 50.0), np.random.default_rng(0), 100.0)
    assert many.std() == pytest.approx(3.0, rel=0.05) and many.mean() == pytest.approx(50.0, abs=0.1)


def test_load_days_seeded_multiplicative_noise() -> None:
    shape = load_ieee33_scenario().load_shape
    a = load_days(shape, np.random.default_rng(4), 3000)
    np.testing.assert_array_equal(a, load_days(shape, np.random.default_rng(4), 3000))
    assert a.shape == (3000, 24) and a.min() >= 0
    ratio = a / shape
    assert ratio.mean() == pytest.approx(1.0, abs=0.005)
    assert ratio.std() == pytest.approx(w.LOAD_SIGMA, rel=0.05)
    assert np.corrcoef(ratio[:, 5], ratio[:, 6])[0, 1] == pytest.approx(w.LOAD_PHI, abs=0.04)


# ------------------------------------------------------------------------------ scenario reduction


def _naive_backward(x: np.ndarray, p: np.ndarray, n_keep: int) -> tuple[np.ndarray, np.ndarray]:
    """SPEC §6.2's pseudo-code, literally (O(N^4))."""
    n = len(x)
    c = cdist(x, x)
    deleted: list[int] = []
    while len(deleted) < n - n_keep:
        best: tuple[float, int] | None = None
        for cand in range(n):
            if cand in deleted:
                continue
            gone = [*deleted, cand]
            rest = [j for j in range(n) if j not in gone]
            z = sum(p[k] * c[k, rest].min() for k in gone)
            if best is None or z < best[0] - 1e-15:
                best = (z, cand)
        assert best is not None
        deleted.append(best[1])
    kept = [j for j in range(n) if j not in deleted]
    q = p.copy()
    for i in deleted:
        q[kept[int(np.argmin(c[i, kept]))]] += p[i]
    return np.array(kept), q[kept]


def _clusters(sizes: tuple[int, ...], spread: float = 0.1) -> np.ndarray:
    """Points around (0,0), (10,0), (0,10), ...: a centre first, then satellites at growing radii."""
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    pts = []
    for ci, size in enumerate(sizes):
        pts.append(centres[ci])
        for s in range(1, size):
            ang = s * 2 * np.pi / (size - 1 if size > 1 else 1)
            r = spread * (1 + 0.2 * (s - 1))
            pts.append(centres[ci] + r * np.array([np.cos(ang), np.sin(ang)]))
    return np.array(pts)


def test_reduction_picks_the_cluster_centres_with_cluster_masses() -> None:
    x = _clusters((5, 4, 5))
    # centres are heavier than their satellites (0.05 each), so the centres survive
    p = np.array([0.20, 0.05, 0.05, 0.05, 0.05, 0.15, 0.05, 0.05, 0.05, 0.10, 0.05, 0.05, 0.05, 0.05])
    assert p.sum() == pytest.approx(1.0)
    kept, q = reduce_scenarios(x, p, 3)
    assert kept.tolist() == [0, 5, 9]
    np.testing.assert_allclose(q, [0.40, 0.30, 0.30])
    assert q.sum() == pytest.approx(1.0, abs=1e-12)


def test_reduction_equal_weights_keeps_one_per_cluster() -> None:
    x = _clusters((5, 3, 2))
    perm = np.random.default_rng(0).permutation(len(x))
    cluster = np.repeat([0, 1, 2], [5, 3, 2])[perm]
    kept, q = reduce_scenarios(x[perm], None, 3)
    assert sorted(cluster[kept].tolist()) == [0, 1, 2]
    np.testing.assert_allclose(q, [[0.5, 0.3, 0.2][c] for c in cluster[kept]])


@pytest.mark.parametrize("trial", range(12))
def test_fast_reduction_equals_the_literal_algorithm(trial: int) -> None:
    rng = np.random.default_rng(100 + trial)
    n = int(rng.integers(4, 30))
    x = rng.normal(size=(n, int(rng.integers(1, 6))))
    p = rng.dirichlet(np.ones(n)) if trial % 2 else np.full(n, 1 / n)
    n_keep = int(rng.integers(1, n))
    kept, q = reduce_scenarios(x, p, n_keep)
    kept_ref, q_ref = _naive_backward(x, p, n_keep)
    np.testing.assert_array_equal(kept, kept_ref)
    np.testing.assert_allclose(q, q_ref, rtol=1e-12)


def test_reduction_properties_on_a_large_set() -> None:
    x = np.random.default_rng(9).random((1000, 216))
    kept, q = reduce_scenarios(x, None, 6)
    assert len(kept) == 6 == len(set(kept.tolist())) and np.all(np.diff(kept) > 0)
    assert q.sum() == pytest.approx(1.0, abs=1e-12) and q.min() > 0
    all_kept, all_q = reduce_scenarios(x[:5], None, 10)
    assert all_kept.tolist() == [0, 1, 2, 3, 4] and np.allclose(all_q, 0.2)
    with pytest.raises(ValueError, match="summing to 1"):
        reduce_scenarios(x[:3], [0.5, 0.5, 0.5], 2)


# ------------------------------------------------------------------------------ one simulator day


def test_day_seed_is_independent_of_the_number_of_days() -> None:
    for n_days in (4, 20):
        child = np.random.SeedSequence(77).spawn(n_days)[3]
        np.testing.assert_array_equal(day_seed_sequence(77, 3).generate_state(4), child.generate_state(4))
    root = np.random.SeedSequence(77, spawn_key=(5,))
    expect = np.random.SeedSequence(77, spawn_key=(5,)).spawn(10)[3]
    np.testing.assert_array_equal(day_seed_sequence(root, 3).generate_state(4), expect.generate_state(4))
    assert root.n_children_spawned == 0


def test_forecast_and_realisation(ieee33_model: WeatherModel) -> None:
    shape = load_ieee33_scenario().load_shape
    run = [forecast_and_realisation(ieee33_model, 2024, d, month=JULY, n_mc=200, loads={"load": shape})
           for d in range(5)]
    alone = forecast_and_realisation(ieee33_model, 2024, 3, month=JULY, n_mc=200, loads={"load": shape})
    dw = run[3]
    for a, b in ((dw.forecast_kw, alone.forecast_kw), (dw.realised_kw, alone.realised_kw),
                 (dw.scenario_probs, alone.scenario_probs), (dw.load_realised["load"], alone.load_realised["load"])):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(run[2].realised_kw, dw.realised_kw)
    # shapes, probabilities, the forecast is the most probable reduced scenario
    assert dw.forecast_kw.shape == (9, 24) and dw.realised_kw.shape == (9, 96) and dw.scenarios_kw.shape == (6, 9, 24)
    assert dw.scenario_probs.sum() == pytest.approx(1.0, abs=1e-12)
    assert dw.scenario_probs[dw.forecast_scenario] == dw.scenario_probs.max()
    np.testing.assert_array_equal(dw.forecast_kw, dw.scenarios_kw[dw.forecast_scenario])
    cap = ieee33_model.capacity_kw[:, None]
    assert dw.realised_kw.min() >= 0 and np.all(dw.realised_kw <= cap)
    held = np.repeat(dw.realised_hourly_kw, 4, axis=1)
    pv = ieee33_model.is_pv
    assert np.all(dw.realised_kw[pv][held[pv] == 0] == 0)
    assert set(dw.forecast_by_site()) == set(ieee33_model.site_names)
    # the realisation does not depend on how many Monte Carlo days the forecast used
    other = forecast_and_realisation(ieee33_model, 2024, 3, month=JULY, n_mc=50, n_scenarios=3)
    np.testing.assert_array_equal(other.realised_kw, dw.realised_kw)
    assert other.scenarios_kw.shape == (3, 9, 24)
    # loads: forecast = the profile, realisation = noisy, held on the 15-min grid
    np.testing.assert_array_equal(dw.load_forecast["load"], shape)
    lr = dw.load_realised["load"].reshape(24, 4)
    assert np.all(lr == lr[:, :1]) and np.abs(lr[:, 0] / shape - 1).max() < 0.3
    frame = dw.to_frame()
    assert set(frame["series"]) == {"forecast", "scenario", "realised_hourly", "realised"}
    assert len(frame) == 9 * (24 + 6 * 24 + 24 + 96)


def test_three_campus_day(params: pd.DataFrame) -> None:
    tc = load_three_campus("three_campus")
    model = WeatherModel(params, sites_of_three_campus(tc))
    dw = forecast_and_realisation(model, tc.seed, 0, day_of_year=180, n_mc=100,
                                  loads=w.loads_of_three_campus(tc))
    assert dw.month == 6 and dw.forecast_kw.shape == (2, 24) and dw.realised_kw.shape == (2, 96)
    assert set(dw.load_realised) == {"PV.load_kw", "WT.load_kw", "CHP.load_kw"}

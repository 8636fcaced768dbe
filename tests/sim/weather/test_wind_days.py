"""sim.weather.wind_days: the wind days of paper 003 (SPEC §6.5 "Data") drawn from the fitted weather
model of §6.1 — seeding, shapes, bounds, a realistic capacity factor and input checks.  The sets fitted
to these samples are tested in tests/agents/decision/test_wind_sets.py."""

from __future__ import annotations

import numpy as np
import pytest

from sim.weather.wind_days import WIND_STATION, WindSamples, wind_day_samples

CAP = 600.0
N_SMALL = 500


@pytest.fixture(scope="module")
def ws() -> WindSamples:
    return wind_day_samples(0, n_samples=N_SMALL)


def test_same_seed_same_samples_different_seed_differs() -> None:
    a = wind_day_samples(3, n_history=30, n_samples=240)
    b = wind_day_samples(3, n_history=30, n_samples=240)
    c = wind_day_samples(4, n_history=30, n_samples=240)
    for name in ("per_farm", "total", "day_of_year", "history_per_farm", "history_total"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.allclose(a.total, c.total)
    assert not np.allclose(a.history_total, c.history_total)
    # streams are independent: the history does not depend on n_samples, the expansion is prefix-stable
    d = wind_day_samples(3, n_history=30, n_samples=100)
    np.testing.assert_array_equal(d.history_total, a.history_total)
    np.testing.assert_array_equal(d.total, a.total[:100])


def test_samples_bounded_with_a_realistic_capacity_factor(ws: WindSamples) -> None:
    assert ws.per_farm.shape == (N_SMALL, 2, 24) and ws.total.shape == (N_SMALL, 24)
    assert ws.history_total.shape == (365, 24)
    np.testing.assert_array_equal(ws.history_day_of_year, np.arange(1, 366))
    assert ws.day_of_year.min() >= 1 and ws.day_of_year.max() <= 365
    assert ws.per_farm.min() >= 0.0 and ws.per_farm.max() <= 300.0 + 1e-9
    np.testing.assert_allclose(ws.total, ws.per_farm.sum(axis=1))
    assert ws.capacity_total_mw == CAP and ws.station == WIND_STATION
    assert "Sand Point" in ws.station_name and "E-82/2300" in ws.turbine
    assert 0.25 <= ws.capacity_factor() <= 0.42
    assert 0.25 <= ws.capacity_factor(history=True) <= 0.42
    assert ws.total.max() > 0.9 * CAP and (ws.total == 0).any()  # full range reached both ways
    np.testing.assert_allclose(ws.forecast(), ws.total.mean(axis=0))
    assert ws.forecast(per_farm=True).shape == (2, 24)
    # the two farms are correlated (latent correlation 0.6), but not identical
    e1, e2 = ws.per_farm.sum(axis=2).T
    assert 0.3 < np.corrcoef(e1, e2)[0, 1] < 0.95
    # the default weather station would not be a wind-farm site
    weak = wind_day_samples(0, n_history=12, n_samples=200, station=723170)
    assert weak.capacity_factor() < 0.2


def test_bad_inputs_raise_value_errors_naming_the_argument() -> None:
    with pytest.raises(ValueError, match=r"n_samples must be an integer >= 1"):
        wind_day_samples(0, n_samples=0)
    with pytest.raises(ValueError, match=r"correlation must be in the open interval \(-1, 1\)"):
        wind_day_samples(0, correlation=1.0)

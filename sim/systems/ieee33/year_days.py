"""A real feeder's days from its year of profiles (SPEC §9): which day of the year, its loads, forecast and outturn.

A scenario on a SimBench grid carries a :class:`scenarios.schema.FeederYear`.  Day ``d`` of a run:

1. **Which day.** ``days = "random"``: the day of the year is drawn from the run's seed and ``d`` alone (a
   ``SeedSequence(seed, spawn_key=(YEAR_DAY_KEY, d))``), so every mode, behaviour and sweep point of a run sees the
   same calendar days (common random numbers); ``days = "consecutive"``: ``start_day + d`` (``--start-day``),
   wrapping at the year's end.
2. **Loads.** Each transformer area's load is the hourly mean of its bus's profile on that day, split fixed /
   shiftable / curtailable by ``demand_response.split``; the hourly load is known day-ahead (as on IEEE-33: only
   the renewables are uncertain).
3. **Renewables.** The *realised* 15-minute output of each site is its profile (clipped to its capacity).  The
   *day-ahead forecast* is the profile's hourly mean plus a forecast error: for the weather-driven generators
   (PV, wind) the error the weather model of SPEC §6.1 makes on the same day and site — its forecast (the most
   probable reduced scenario) minus the hourly mean of its own realisation, in kW of the same capacity — scaled by
   ``forecast.error_scale`` and added to the weather-driven part of the site's output; PV's error is 0 in hours
   where the profile is 0 (night is known).  Biomass and hydro are forecast exactly.  The forecast is clipped to
   ``[0, capacity]``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from scenarios.schema import FeederYear, IEEE33Scenario
from sim.weather.model import DayWeather

#: spawn key of the day-of-year draw under the run's seed (the weather uses ``SeedSequence(seed).spawn``)
YEAR_DAY_KEY = 1 << 21


def day_index(year: FeederYear, seed: int, d: int, start_day: int) -> int:
    """The 0-based day of the year that run day ``d`` (0-based) replays (module docstring, step 1)."""
    if year.day_selection == "consecutive":
        return (start_day - 1 + d) % year.n_days
    rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(YEAR_DAY_KEY, int(d))))
    return int(rng.integers(year.n_days))


def hourly(values: np.ndarray, hours: int = 24) -> np.ndarray:
    """Hourly means of a day's ``(steps, columns)`` values, ``(hours, columns)``."""
    return values.reshape(hours, values.shape[0] // hours, -1).mean(axis=1)


def year_day_loads(sc: IEEE33Scenario, year: FeederYear, k: int) -> np.ndarray:
    """``(24, n_TA)``: every transformer area's hourly load (kW) on day ``k`` of the year."""
    return np.clip(hourly(year.load_p_kw[year.rows(k)], len(sc.tariff.partition)), 0.0, None)


def year_day_renewables(sc: IEEE33Scenario, year: FeederYear, k: int, weather: DayWeather
                        ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The sites' day-ahead forecast (24 hourly kW) and realised output (96 quarter-hours) on day ``k`` (module
    docstring, step 3); ``weather`` is the weather model's day with the same sites (its forecast error is used)."""
    rows = year.rows(k)
    w_day = year.site_weather_kw[rows]
    f_day = year.site_fixed_kw[rows]
    wm_forecast = weather.forecast_by_site()
    wm_real = weather.realised_by_site()
    forecast: dict[str, np.ndarray] = {}
    realised: dict[str, np.ndarray] = {}
    n_h = len(sc.tariff.partition)
    w_hourly, f_hourly = hourly(w_day, n_h), hourly(f_day, n_h)
    for j, site in enumerate(sc.renewables):
        cap = float(site.capacity_kw)
        real = np.clip(w_day[:, j] + f_day[:, j], 0.0, cap)
        w_h, f_h = w_hourly[:, j], f_hourly[:, j]
        err = np.zeros(n_h)
        if site.name in wm_forecast and w_day[:, j].any():
            wm_f = np.asarray(wm_forecast[site.name], dtype=float)
            wm_r = hourly(np.asarray(wm_real[site.name], dtype=float)[:, None], n_h)[:, 0]
            err = year.error_scale * (wm_f - wm_r)
            if site.kind == "pv":
                err = np.where(w_h > 0, err, 0.0)
        forecast[site.name] = np.clip(np.clip(w_h + err, 0.0, None) + f_h, 0.0, cap)
        realised[site.name] = real
    return forecast, realised


def year_day_scenario(sc: IEEE33Scenario, loads_h: np.ndarray) -> IEEE33Scenario:
    """The scenario with every transformer area's profiles set to the day's hourly loads ``(24, n_TA)``, split by
    the year's fixed / shiftable / curtailable shares."""
    year = sc.year
    assert year is not None
    fixed, shift, cut = year.split
    tas = tuple(replace(ta, fixed_kw=fixed * loads_h[:, j], shiftable_kw=shift * loads_h[:, j],
                        curtailable_kw=cut * loads_h[:, j]) for j, ta in enumerate(sc.transformer_areas))
    return replace(sc, transformer_areas=tas)


def weather_day_of_year(k: int) -> int:
    """The weather model's calendar day (1..365) for day index ``k`` of a (leap) profile year."""
    return min(k + 1, 365)


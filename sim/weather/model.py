r"""Monte Carlo weather days (SPEC §6.1), backward scenario reduction (SPEC §6.2) and the per-day
forecast / realisation pair the simulator replays (SPEC §6.6).

Data and fits
-------------
The distributions are fitted to real measured data that ships with pvlib: NREL TMY3 files (hourly
global horizontal irradiance ``ghi``, extraterrestrial horizontal irradiance ``ghi_extra``, 10 m wind
speed, air temperature).  :func:`fit_tmy` fits, for every month (1..12) and hour (0..23):

* **PV** — clearness index :math:`k_t = GHI / GHI_{extra}` ~ Beta(:math:`\alpha, \beta`) by the method
  of moments of SPEC §6.1 (:func:`fit_clearness_beta`).  Records with ``ghi_extra`` below
  :data:`GHI_EXTRA_MIN_W_M2` are night (their ratio is numerically meaningless); a (month, hour) cell
  with fewer than :data:`MIN_DAY_SAMPLES` day records is a night cell (PV = 0).
* **Wind** — hours with 10 m speed below the calm threshold ``v_0`` (:data:`CALM_THRESHOLD_M_S`)
  are calm (a point mass ``p_calm`` at 0); the rest ~ Weibull(k, c) left-truncated at ``v_0``, by
  maximum likelihood (:func:`fit_wind_weibull`).

``scenarios/weather/fit_weather.py`` runs the fits on both bundled TMY3 files and caches the table in
``scenarios/weather/weather_params.csv`` (provenance in ``PROVENANCE.md`` beside it);
:func:`load_weather_params` reads it.  TMY3 time stamps are hour-ending local standard time: the
record stamped ``HH:00`` covers ``HH-1..HH`` and belongs to hour index ``HH-1`` (the scenarios' hour
``h`` = 1..24 covers ``h-1..h``, so index 0 is the scenarios' hour 1).

Sampling (:class:`WeatherModel`)
--------------------------------
Gaussian copula with AR(1) latent variables (SPEC §6.1): per site ``i`` and hour ``t``

.. math::

    z_{\cdot,0} = L\epsilon_0,\qquad z_{\cdot,t} = \phi z_{\cdot,t-1} + \sqrt{1-\phi^2}\,L\epsilon_t,
    \qquad \epsilon_t \sim N(0, I),\qquad LL^\top = R

so every ``z_{i,t}`` is N(0, 1), ``corr(z_{i,t}, z_{j,t}) = R_{ij}`` and
``corr(z_{i,t}, z_{j,t+s}) = \phi^s R_{ij}``.  ``R`` has ``correlation`` between sites of the same
kind and ``cross_kind_correlation`` between a PV and a wind site (default 0: SPEC's independent PV
and wind chains); a full matrix may be given instead.  With :math:`U = \Phi(z)`:

* PV: :math:`k_t = F^{-1}_{Beta(\alpha,\beta)}(U)`, :math:`GHI = k_t\,\overline{GHI}_{extra}(m,h)`
  and the power of :class:`PVModel` (PVWatts-like: horizontal array, Ross cell temperature at the
  cell's mean air temperature, temperature coefficient, 14 % system losses, clipped at capacity).
* Wind: :math:`v = 0` if :math:`U < p_{calm}`, else the quantile of the truncated Weibull at
  :math:`W = (U - p_{calm})/(1 - p_{calm})`, :math:`v = (v_0^k - c^k \ln(1 - W))^{1/k}`; the 10 m
  speed is lifted to hub height by the power law
  :math:`v_{hub} = v (H/10)^{1/7}` and converted by a real turbine power curve from windpowerlib
  (:class:`TurbineCurve`, default Enercon E-82/2300 at 98 m), normalised by its nominal power and
  scaled to the site's capacity.

Randomness (DESIGN principle 5)
-------------------------------
Every draw comes from a ``numpy.random.Generator`` the caller passes or that is derived from a seed.
:func:`day_seed_sequence` gives day ``d`` the sequence ``SeedSequence(seed).spawn(n_days)[d]``
(independent of ``n_days``); :func:`forecast_and_realisation` takes that day's streams under the
reserved key :data:`WEATHER_SPAWN_KEY`, so the weather of day ``d`` depends only on the seed and
``d`` and never collides with other children spawned from the same day sequence (e.g. EV fleets).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special  # scipy.stats / scipy.optimize (0.3 s to import) only where a fit needs them
from scipy.spatial.distance import cdist

from scenarios.schema import IEEE33Scenario, ScenarioError, ThreeCampusScenario

log = logging.getLogger(__name__)

SiteKind = Literal["pv", "wind"]
SITE_KINDS: tuple[str, ...] = ("pv", "wind")

#: Folder of the cached parameter table and its provenance.
WEATHER_DIR = Path(__file__).resolve().parents[2] / "scenarios" / "weather"
#: The cached parameter table written by ``scenarios/weather/fit_weather.py``.
PARAMS_FILE = WEATHER_DIR / "weather_params.csv"
#: pvlib's bundled TMY3 files: station (USAF id) -> file name.
BUNDLED_TMY3: Mapping[int, str] = {723170: "723170TYA.CSV", 703165: "703165TY.csv"}
#: Default station: Greensboro Piedmont Triad Int'l, NC (36.1 N) — mid-latitude, like paper 004's grid.
DEFAULT_STATION = 723170

#: Records with extraterrestrial horizontal irradiance below this are night (their k_t is unreliable:
#: up to 5 in the data for ghi_extra < 10 W/m², above 1 up to 20 W/m²).
GHI_EXTRA_MIN_W_M2 = 20.0
#: A (month, hour) cell needs this many day records to be a PV cell; otherwise it is night (PV = 0).
MIN_DAY_SAMPLES = 10
#: Wind speeds (10 m) below this are calm (TMY3 reports calm as 0; resolution 0.1 m/s).
CALM_THRESHOLD_M_S = 0.5
#: Height of the TMY3 wind measurement and the power-law shear exponent (the 1/7 law).
WIND_MEASUREMENT_HEIGHT_M = 10.0
SHEAR_EXPONENT = 1.0 / 7.0
#: Default turbine from windpowerlib's oedb data and its hub height (one of the listed options).
DEFAULT_TURBINE = "E-82/2300"
DEFAULT_HUB_HEIGHT_M = 98.0

#: Copula defaults (SPEC §6.1): AR(1) over hours; cross-site correlation `[proposed]`.
DEFAULT_PHI = 0.8
DEFAULT_CORRELATION = 0.6
DEFAULT_CROSS_KIND_CORRELATION = 0.0
#: 15-min refinement (SPEC §6.1) `[proposed]`.
REFINE_PHI = 0.9
REFINE_SIGMA_FRAC = 0.03
#: Load noise `[proposed]`: multiplicative AR(1) over hours, marginal N(0, sigma^2).
LOAD_SIGMA = 0.05
LOAD_PHI = 0.8
#: SPEC §6.1 / §6.2: Monte Carlo days per forecast and reduced scenarios.
N_MC_DAYS = 1000
N_SCENARIOS = 6
#: Spawn-key entry that reserves the weather streams under a day's SeedSequence.
WEATHER_SPAWN_KEY = 0x57454154  # "WEAT"

PARAM_COLUMNS: tuple[str, ...] = (
    "station", "month", "hour", "n", "n_day", "night", "ghi_extra_mean_w_m2", "ghi_mean_w_m2",
    "temp_air_mean_c", "kt_mean", "kt_alpha", "kt_beta", "wind_mean_m_s", "wind_calm_m_s", "wind_p_calm", "wind_k",
    "wind_c_m_s",
)

FloatArray = npt.NDArray[np.float64]
SeedLike = int | np.random.SeedSequence | np.random.Generator


# ------------------------------------------------------------------------------ sites


@dataclass(frozen=True)
class Site:
    """One renewable plant the weather model draws for."""

    name: str
    kind: SiteKind
    capacity_kw: float

    def __post_init__(self) -> None:
        if self.kind not in SITE_KINDS:
            raise ValueError(f"site {self.name!r}: kind must be 'pv' or 'wind', got {self.kind!r}")
        if not (math.isfinite(self.capacity_kw) and self.capacity_kw > 0):
            raise ValueError(f"site {self.name!r}: capacity_kw must be > 0, got {self.capacity_kw}")


def sites_of_ieee33(scenario: IEEE33Scenario) -> tuple[Site, ...]:
    """The IEEE-33 scenario's renewables, named as in the scenario (``pv7``, ``wt12``, ...)."""
    return tuple(Site(r.name, r.kind, float(r.capacity_kw)) for r in scenario.renewables)


def sites_of_three_campus(scenario: ThreeCampusScenario) -> tuple[Site, ...]:
    """The three-campus scenario's PV and wind plants, named like its forecast columns.

    Site ``"PV.pv_kw"`` replaces ``scenario.forecast["PV"]["pv_kw"]``, ``"WT.wind_kw"`` replaces
    ``scenario.forecast["WT"]["wind_kw"]`` (``park, quantity = name.split(".")``).
    """
    out: list[Site] = []
    for park in scenario.parks:
        if park.pv is not None:
            out.append(Site(f"{park.name}.pv_kw", "pv", float(park.pv.capacity_kw)))
        if park.wind is not None:
            out.append(Site(f"{park.name}.wind_kw", "wind", float(park.wind.capacity_kw)))
    return tuple(out)


def loads_of_ieee33(scenario: IEEE33Scenario) -> dict[str, FloatArray]:
    """The IEEE-33 load profile for :func:`load_days`: the normalised shape every bus load follows."""
    return {"load_shape": np.asarray(scenario.load_shape, dtype=float)}


def loads_of_three_campus(scenario: ThreeCampusScenario) -> dict[str, FloatArray]:
    """The three-campus park loads (kW), named like the forecast columns (``"PV.load_kw"``, ...)."""
    return {f"{p.name}.load_kw": np.asarray(scenario.forecast[p.name]["load_kw"], dtype=float) for p in scenario.parks}


# ------------------------------------------------------------------------------ fits


def fit_clearness_beta(kt_samples: npt.ArrayLike, method: Literal["moments", "mle"] = "moments") -> tuple[float, float]:
    r"""Beta(alpha, beta) for clearness-index samples in [0, 1].

    ``"moments"`` (default, SPEC §6.1): with the sample mean :math:`\mu` and the (population)
    variance :math:`\sigma^2`, :math:`\beta = (1-\mu)(\mu(1-\mu)/\sigma^2 - 1)`,
    :math:`\alpha = \mu\beta/(1-\mu)`; it keeps the mean exactly.  ``"mle"``: scipy's
    ``beta.fit`` with location 0 and scale 1 (samples clipped into (1e-6, 1 - 1e-6), since exact
    0 or 1 have zero likelihood).
    """
    x = np.asarray(kt_samples, dtype=float).ravel()
    if x.size < 2:
        raise ValueError(f"fit_clearness_beta: need at least 2 samples, got {x.size}")
    if not np.all(np.isfinite(x)) or x.min() < 0 or x.max() > 1:
        raise ValueError("fit_clearness_beta: samples must be finite and in [0, 1]")
    if method == "mle":
        from scipy import stats

        xc = np.clip(x, 1e-6, 1 - 1e-6)
        a, b, _, _ = stats.beta.fit(xc, floc=0.0, fscale=1.0)
        return float(a), float(b)
    if method != "moments":
        raise ValueError(f"fit_clearness_beta: method must be 'moments' or 'mle', got {method!r}")
    mu = float(x.mean())
    var = float(x.var())
    if not 0 < mu < 1 or var <= 0:
        raise ValueError(f"fit_clearness_beta: degenerate samples (mean {mu:.4g}, variance {var:.4g})")
    common = mu * (1 - mu) / var - 1  # > 0 for any non-degenerate sample in [0, 1]
    beta = (1 - mu) * common
    alpha = mu * common
    return float(alpha), float(beta)


def fit_wind_weibull(speeds: npt.ArrayLike, calm_threshold: float = CALM_THRESHOLD_M_S) -> tuple[float, float, float]:
    r"""``(p_calm, k, c)``: calm share, and Weibull shape / scale (m/s) of the non-calm speeds.

    Speeds below ``calm_threshold`` :math:`v_0` are calm (a point mass at 0 with probability
    ``p_calm``).  The others are, by construction, at least :math:`v_0`, so they are fitted as a
    Weibull left-truncated at :math:`v_0` by maximum likelihood,

    .. math::

        \ell(k, c) = \sum_i \big[\ln k + (k-1)\ln v_i - k\ln c - (v_i^k - v_0^k)/c^k\big],

    profiled over :math:`c` (:math:`\hat c^k = \tfrac1n\sum_i (v_i^k - v_0^k)`) and maximised over
    :math:`k` in one dimension.  With :math:`v_0 = 0` this is the plain Weibull MLE,
    ``scipy.stats.weibull_min.fit(v, floc=0)``; using that plain fit on the truncated sample instead
    would bias ``k`` upwards (by about 9 %, and ``c`` by 4 %, for k = 1.6, c = 4 m/s, v_0 = 0.5 m/s).
    """
    v = np.asarray(speeds, dtype=float).ravel()
    if v.size == 0 or not np.all(np.isfinite(v)) or v.min() < 0:
        raise ValueError("fit_wind_weibull: speeds must be a non-empty array of finite values >= 0")
    if calm_threshold < 0:
        raise ValueError(f"fit_wind_weibull: calm_threshold must be >= 0, got {calm_threshold}")
    calm = (v < calm_threshold) | (v <= 0)
    p_calm = float(calm.mean())
    rest = v[~calm]
    if rest.size < 3 or np.ptp(rest) <= 0:
        raise ValueError(f"fit_wind_weibull: {rest.size} non-calm speeds (>= {calm_threshold} m/s) "
                         "are too few or all equal to fit a Weibull")
    n = rest.size
    scale = float(rest.max())  # work in v / max(v) to keep v**k finite for large k
    x, x0, sum_log_x = rest / scale, calm_threshold / scale, float(np.log(rest / scale).sum())

    def neg_profile(log_k: float) -> float:
        k = math.exp(log_k)
        lam = float(np.mean(x**k) - x0**k)  # (c / scale)^k at the optimum for this k
        return -(n * math.log(k) + (k - 1) * sum_log_x - n * math.log(lam) - n)

    from scipy import optimize

    res = optimize.minimize_scalar(neg_profile, bounds=(math.log(0.05), math.log(50.0)), method="bounded",
                                   options={"xatol": 1e-10})
    k = math.exp(float(res.x))
    c = scale * float(np.mean(x**k) - x0**k) ** (1.0 / k)
    return p_calm, k, c


def weibull_mixture_mean(p_calm: npt.ArrayLike, k: npt.ArrayLike, c: npt.ArrayLike,
                         calm_threshold: npt.ArrayLike = CALM_THRESHOLD_M_S) -> FloatArray:
    r"""Mean wind speed of the calm-plus-truncated-Weibull law:
    :math:`(1 - p)\,c\,\Gamma(1 + 1/k, (v_0/c)^k)\,e^{(v_0/c)^k}` (upper incomplete gamma)."""
    p, kk, cc, v0 = (np.asarray(a, dtype=float) for a in (p_calm, k, c, calm_threshold))
    a = 1 + 1 / kk
    t = (v0 / cc) ** kk
    return np.asarray((1 - p) * cc * special.gamma(a) * special.gammaincc(a, t) * np.exp(t), dtype=float)


def truncated_weibull_quantile(w: npt.ArrayLike, k: npt.ArrayLike, c: npt.ArrayLike,
                               calm_threshold: npt.ArrayLike, *, survival: bool = False) -> FloatArray:
    """Quantile of Weibull(k, c) truncated below at ``calm_threshold``: ``(v0^k - c^k ln(1 - w))^(1/k)``.

    ``survival=True`` takes ``1 - w`` instead of ``w`` (exact in the upper tail).
    """
    q = np.asarray(w, dtype=float) if survival else 1.0 - np.asarray(w, dtype=float)
    kk, cc, v0 = (np.asarray(a, dtype=float) for a in (k, c, calm_threshold))
    with np.errstate(divide="ignore"):
        return np.asarray((v0**kk - cc**kk * np.log(np.clip(q, 0.0, 1.0))) ** (1.0 / kk), dtype=float)


def bundled_tmy3_path(station: int = DEFAULT_STATION) -> Path:
    """Path of one of pvlib's bundled TMY3 files (``723170`` Greensboro NC, ``703165`` Sand Point AK)."""
    import pvlib

    if station not in BUNDLED_TMY3:
        raise ValueError(f"no bundled TMY3 file for station {station}; known: {sorted(BUNDLED_TMY3)}")
    return Path(pvlib.__file__).resolve().parent / "data" / BUNDLED_TMY3[station]


def read_tmy3(path: str | Path) -> tuple[pd.DataFrame, dict[str, object]]:
    """A TMY3 file as ``(frame, metadata)``; the frame has ``month``, ``hour`` (0..23, hour-ending
    stamp minus one), ``ghi``, ``ghi_extra``, ``wind_speed``, ``temp_air``."""
    import pvlib

    raw, meta = pvlib.iotools.read_tmy3(str(path), map_variables=True)
    month = pd.to_datetime(raw["Date (MM/DD/YYYY)"], format="%m/%d/%Y").dt.month.to_numpy()
    hour = raw["Time (HH:MM)"].str.slice(0, 2).astype(int).to_numpy() - 1
    df = pd.DataFrame({
        "month": month, "hour": hour,
        "ghi": raw["ghi"].to_numpy(dtype=float), "ghi_extra": raw["ghi_extra"].to_numpy(dtype=float),
        "wind_speed": raw["wind_speed"].to_numpy(dtype=float), "temp_air": raw["temp_air"].to_numpy(dtype=float),
    })
    return df, dict(meta)


def fit_tmy(
    path: str | Path,
    *,
    ghi_extra_min: float = GHI_EXTRA_MIN_W_M2,
    min_day_samples: int = MIN_DAY_SAMPLES,
    calm_threshold: float = CALM_THRESHOLD_M_S,
    beta_method: Literal["moments", "mle"] = "moments",
) -> pd.DataFrame:
    """Fit PV and wind parameters per month (1..12) and hour (0..23) to one TMY3 file.

    Columns (:data:`PARAM_COLUMNS`): ``station`` (USAF id), ``month``, ``hour``, ``n`` records,
    ``n_day`` records with ``ghi_extra >= ghi_extra_min``, ``night`` (1 if ``n_day <
    min_day_samples`` or every day record has GHI = 0), the data's own cell means
    ``ghi_extra_mean_w_m2`` (all records: the PV scaling), ``ghi_mean_w_m2``, ``temp_air_mean_c``,
    ``kt_mean`` (day records), ``wind_mean_m_s``,
    and the fits ``kt_alpha``, ``kt_beta`` (NaN in night cells), ``wind_calm_m_s`` (the calm
    threshold), ``wind_p_calm``, ``wind_k``, ``wind_c_m_s``.
    """
    df, meta = read_tmy3(path)
    station = int(str(meta.get("USAF", 0)))
    rows: list[dict[str, float | int]] = []
    for month, hour in ((m, h) for m in range(1, 13) for h in range(24)):
        cell = df[(df["month"] == month) & (df["hour"] == hour)]
        day = cell["ghi_extra"].to_numpy() >= ghi_extra_min
        kt = np.clip(cell["ghi"].to_numpy()[day] / cell["ghi_extra"].to_numpy()[day], 0.0, 1.0)
        # night: too few day records, or no light at all (the data has dawn cells with GHI = 0 throughout)
        night = int(day.sum() < min_day_samples or kt.max(initial=0.0) <= 0.0)
        alpha, beta = (math.nan, math.nan) if night else fit_clearness_beta(kt, beta_method)
        p_calm, k, c = fit_wind_weibull(cell["wind_speed"].to_numpy(), calm_threshold)
        rows.append({
            "station": station, "month": month, "hour": hour,
            "n": len(cell), "n_day": int(day.sum()), "night": night,
            "ghi_extra_mean_w_m2": float(cell["ghi_extra"].mean()), "ghi_mean_w_m2": float(cell["ghi"].mean()),
            "temp_air_mean_c": float(cell["temp_air"].mean()),
            "kt_mean": float(kt.mean()) if kt.size else math.nan, "kt_alpha": alpha, "kt_beta": beta,
            "wind_mean_m_s": float(cell["wind_speed"].mean()), "wind_calm_m_s": calm_threshold,
            "wind_p_calm": p_calm, "wind_k": k, "wind_c_m_s": c,
        })
    out = pd.DataFrame(rows, columns=list(PARAM_COLUMNS))
    return validate_params(out, f"fit of {path}")


def validate_params(df: pd.DataFrame, source: str, station: int | None = None) -> pd.DataFrame:
    """Check a parameter table (one station, or pick ``station``) and return it sorted by (month, hour).

    Errors are :class:`~scenarios.schema.ScenarioError` naming ``source``, the cell and the column.
    """
    missing = [c for c in PARAM_COLUMNS if c not in df.columns]
    if missing:
        raise ScenarioError(f"{source}: missing column(s) {', '.join(missing)}; expected {', '.join(PARAM_COLUMNS)}")
    stations = sorted({int(s) for s in df["station"]})
    if station is None:
        if len(stations) != 1:
            raise ScenarioError(f"{source}: holds stations {stations}; pick one with station=...")
        station = stations[0]
    if station not in stations:
        raise ScenarioError(f"{source}: station {station} not in the table (it holds {stations})")
    t = df[df["station"] == station].sort_values(["month", "hour"]).reset_index(drop=True)
    keys = list(zip(t["month"].astype(int), t["hour"].astype(int), strict=True))
    expected = [(m, h) for m in range(1, 13) for h in range(24)]
    if keys != expected:
        raise ScenarioError(f"{source}: station {station}: rows must cover month 1..12 x hour 0..23 exactly once "
                            f"(got {len(keys)} rows)")

    def bad(col: str, mask: npt.NDArray[np.bool_], allowed: str) -> None:
        if mask.any():
            i = int(np.flatnonzero(mask)[0])
            raise ScenarioError(f"{source}: station {station}, month {keys[i][0]}, hour {keys[i][1]}: column '{col}' "
                                f"= {t[col].iloc[i]!r}, must be {allowed}")

    night = t["night"].to_numpy()
    bad("night", ~np.isin(night, (0, 1)), "0 or 1")
    day = night == 0
    for col in ("kt_alpha", "kt_beta", "ghi_extra_mean_w_m2"):
        v = t[col].to_numpy(dtype=float)
        bad(col, day & ~(np.isfinite(v) & (v > 0)), "finite and > 0 in a day cell")
    bad("temp_air_mean_c", day & ~np.isfinite(t["temp_air_mean_c"].to_numpy(dtype=float)), "finite in a day cell")
    p = t["wind_p_calm"].to_numpy(dtype=float)
    bad("wind_p_calm", ~((p >= 0) & (p <= 1)), "in [0, 1]")
    v0 = t["wind_calm_m_s"].to_numpy(dtype=float)
    bad("wind_calm_m_s", ~(np.isfinite(v0) & (v0 >= 0)), "finite and >= 0")
    for col in ("wind_k", "wind_c_m_s"):
        v = t[col].to_numpy(dtype=float)
        bad(col, (p < 1) & ~(np.isfinite(v) & (v > 0)), "finite and > 0")
    return t


def load_weather_params(path: str | Path | None = None, station: int | None = DEFAULT_STATION) -> pd.DataFrame:
    """Read the cached parameter table (default :data:`PARAMS_FILE`) for one station, validated.

    ``station=None`` accepts a table that holds a single station.  A missing or invalid file raises
    :class:`~scenarios.schema.ScenarioError` naming the file.
    """
    file = Path(path) if path is not None else PARAMS_FILE
    if not file.exists():
        raise ScenarioError(f"{file}: weather parameter table not found "
                            "(run `python scenarios/weather/fit_weather.py` to create it)")
    try:
        df = pd.read_csv(file)
    except (ValueError, OSError) as exc:
        raise ScenarioError(f"{file}: not a readable CSV ({exc})") from exc
    return validate_params(df, str(file), station)


# ------------------------------------------------------------------------------ power models


@dataclass(frozen=True)
class PVModel:
    r"""PVWatts-like PV power per kW of capacity (horizontal array, GHI as plane-of-array irradiance).

    .. math::

        T_{cell} = T_{air} + G\,(NOCT - 20)/800,\qquad
        P/P_{cap} = \min\big(1,\ \max(0,\ G/G_{ref}\,(1 + \gamma(T_{cell} - 25))\,\eta_{sys})\big)

    Ross cell temperature (``pvlib.temperature.ross``) and PVWatts DC power
    (``pvlib.pvsystem.pvwatts_dc``) times the PVWatts default 14 % system losses
    (``derate`` 0.86); ``gamma_per_k`` is PVWatts v5's "standard" module coefficient
    (-0.47 %/K); ``gamma_per_k=0`` drops the temperature effect.
    """

    derate: float = 0.86
    g_ref_w_m2: float = 1000.0
    gamma_per_k: float = -0.0047
    noct_c: float = 45.0

    def power_frac(self, ghi_w_m2: npt.ArrayLike, temp_air_c: npt.ArrayLike) -> FloatArray:
        g = np.asarray(ghi_w_m2, dtype=float)
        t_cell = np.asarray(temp_air_c, dtype=float) + g * (self.noct_c - 20.0) / 800.0
        frac = g / self.g_ref_w_m2 * (1.0 + self.gamma_per_k * (t_cell - 25.0)) * self.derate
        return np.asarray(np.clip(frac, 0.0, 1.0), dtype=float)


@dataclass(frozen=True, eq=False)
class TurbineCurve:
    """A turbine power curve normalised by nominal power, with a power-law hub-height correction.

    ``power_frac(v10)``: ``v_hub = v10 (hub_height_m / measurement_height_m) ** shear_exponent``, then
    linear interpolation in the curve, 0 below its first and above its last speed (the cut-out, as
    ``windpowerlib.power_output.power_curve`` does), clipped to [0, 1] (some curves peak slightly above
    their nominal power, e.g. E-82/2300 at 2350 kW).
    """

    turbine_type: str
    hub_height_m: float
    nominal_power_kw: float
    speeds_m_s: FloatArray
    power_frac_curve: FloatArray
    measurement_height_m: float = WIND_MEASUREMENT_HEIGHT_M
    shear_exponent: float = SHEAR_EXPONENT
    source: str = ""

    @property
    def shear_factor(self) -> float:
        return float((self.hub_height_m / self.measurement_height_m) ** self.shear_exponent)

    def power_frac(self, v10_m_s: npt.ArrayLike) -> FloatArray:
        v = np.asarray(v10_m_s, dtype=float) * self.shear_factor
        p = np.interp(v, self.speeds_m_s, self.power_frac_curve, left=0.0, right=0.0)
        return np.asarray(np.clip(p, 0.0, 1.0), dtype=float)

    @classmethod
    def from_windpowerlib(cls, turbine_type: str = DEFAULT_TURBINE,
                          hub_height_m: float = DEFAULT_HUB_HEIGHT_M) -> TurbineCurve:
        """The power curve of ``turbine_type`` from windpowerlib's bundled oedb data (cached)."""
        return _turbine_from_windpowerlib(turbine_type, float(hub_height_m))


@lru_cache(maxsize=16)
def _turbine_from_windpowerlib(turbine_type: str, hub_height_m: float) -> TurbineCurve:
    import windpowerlib
    from windpowerlib import WindTurbine

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # pandas downcasting notice inside windpowerlib
        warnings.filterwarnings("ignore", module="windpowerlib")  # an unknown type is reported below
        try:
            wt = WindTurbine(turbine_type=turbine_type, hub_height=hub_height_m)
        except (KeyError, ValueError) as exc:
            raise ValueError(f"turbine type {turbine_type!r} has no power curve in windpowerlib "
                             f"{windpowerlib.__version__} (see windpowerlib.data.get_turbine_types())") from exc
    curve = wt.power_curve
    if curve is None or wt.nominal_power is None:
        raise ValueError(f"turbine type {turbine_type!r}: windpowerlib has no power curve / nominal power")
    nominal_w = float(wt.nominal_power)
    speeds = curve["wind_speed"].to_numpy(dtype=float)
    frac = curve["value"].to_numpy(dtype=float) / nominal_w
    return TurbineCurve(turbine_type, hub_height_m, nominal_w / 1000.0, speeds, frac,
                        source=f"windpowerlib {windpowerlib.__version__} oedb power_curves.csv")


# ------------------------------------------------------------------------------ seeds


def day_seed_sequence(seed: int | np.random.SeedSequence, day: int) -> np.random.SeedSequence:
    """Day ``day``'s sequence: ``SeedSequence(seed).spawn(n_days)[day]`` for any ``n_days > day``.

    ``seed`` may be a ``SeedSequence`` (its child ``day`` is returned, as a fresh ``spawn`` would,
    without advancing its counter).
    """
    if day < 0:
        raise ValueError(f"day must be >= 0, got {day}")
    root = np.random.SeedSequence(_check_seed(seed)) if not isinstance(seed, np.random.SeedSequence) else seed
    return np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, int(day)), pool_size=root.pool_size)


def weather_streams(day_seq: np.random.SeedSequence, n: int) -> list[np.random.Generator]:
    """``n`` generators reserved for the weather under a day's sequence (spawn key
    ``(..., WEATHER_SPAWN_KEY, j)``), so sequential ``spawn`` calls on ``day_seq`` never collide."""
    return [np.random.default_rng(np.random.SeedSequence(day_seq.entropy, pool_size=day_seq.pool_size,
                                                         spawn_key=(*day_seq.spawn_key, WEATHER_SPAWN_KEY, j)))
            for j in range(n)]


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or int(seed) < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return int(seed)


def as_generator(rng_or_seed: SeedLike) -> np.random.Generator:
    """A Generator from a Generator (returned as is), a SeedSequence or an int seed."""
    if isinstance(rng_or_seed, np.random.Generator):
        return rng_or_seed
    if isinstance(rng_or_seed, np.random.SeedSequence):
        return np.random.default_rng(rng_or_seed)
    return np.random.default_rng(_check_seed(rng_or_seed))


def month_of(day_of_year: int) -> int:
    """Month (1..12) of a day of a non-leap year (1..365; 366 counts as December)."""
    if not 1 <= day_of_year <= 366:
        raise ValueError(f"day_of_year must be in 1..366, got {day_of_year}")
    return (dt.date(2001, 1, 1) + dt.timedelta(days=min(day_of_year, 365) - 1)).month


# ------------------------------------------------------------------------------ sampling


def _ar1(rng: np.random.Generator, shape: tuple[int, ...], phi: float, chol: FloatArray | None = None) -> FloatArray:
    """Stationary AR(1) paths over the last axis with N(0, 1) marginals.

    With ``chol`` (``(S, S)``, ``L L^T = R``) the second-to-last axis (size ``S``) gets innovations
    correlated by ``R``, hence contemporaneous correlation ``R`` at every step.
    """
    if not 0 <= phi < 1:
        raise ValueError(f"AR(1) coefficient phi must be in [0, 1), got {phi}")
    eps = rng.standard_normal(shape)
    if chol is not None:
        eps = np.einsum("ij,...jt->...it", chol, eps)
    z = np.empty_like(eps)
    z[..., 0] = eps[..., 0]
    s = math.sqrt(1.0 - phi * phi)
    for t in range(1, shape[-1]):
        z[..., t] = phi * z[..., t - 1] + s * eps[..., t]
    return z


class WeatherModel:
    """Correlated hourly PV and wind availability (kW) for a list of sites (SPEC §6.1).

    ``params``: a validated one-station table (:func:`load_weather_params`); ``wind_params``
    optionally takes the wind columns from another station's table (e.g. the windier Sand Point AK).
    ``correlation``: the latent correlation between two sites of the same kind (a float), or the full
    ``(n_sites, n_sites)`` matrix; ``cross_kind_correlation`` between a PV and a wind site.
    ``phi``: AR(1) coefficient of the latent chains over hours.
    """

    def __init__(
        self,
        params: pd.DataFrame,
        sites: Sequence[Site],
        *,
        correlation: float | npt.ArrayLike = DEFAULT_CORRELATION,
        cross_kind_correlation: float = DEFAULT_CROSS_KIND_CORRELATION,
        phi: float = DEFAULT_PHI,
        turbine: TurbineCurve | None = None,
        pv_model: PVModel | None = None,
        wind_params: pd.DataFrame | None = None,
    ) -> None:
        if not sites:
            raise ValueError("WeatherModel: no sites")
        names = [s.name for s in sites]
        if len(set(names)) != len(names):
            raise ValueError(f"WeatherModel: site names must be unique, got {names}")
        if not 0 <= phi < 1:
            raise ValueError(f"WeatherModel: phi must be in [0, 1), got {phi}")
        self.sites: tuple[Site, ...] = tuple(sites)
        self.phi = float(phi)
        self.pv_model = pv_model or PVModel()
        self.turbine = turbine
        if turbine is None and any(s.kind == "wind" for s in sites):
            self.turbine = TurbineCurve.from_windpowerlib()
        p = validate_params(params, "WeatherModel params")
        w = p if wind_params is None else validate_params(wind_params, "WeatherModel wind_params")

        def grid(t: pd.DataFrame, col: str) -> FloatArray:
            return t[col].to_numpy(dtype=float).reshape(12, 24)

        self.night = grid(p, "night") > 0
        self.kt_alpha = np.where(self.night, 1.0, grid(p, "kt_alpha"))
        self.kt_beta = np.where(self.night, 1.0, grid(p, "kt_beta"))
        self.ghi_extra = np.where(self.night, 0.0, grid(p, "ghi_extra_mean_w_m2"))
        self.temp_air = np.where(self.night, 25.0, grid(p, "temp_air_mean_c"))
        self.p_calm = grid(w, "wind_p_calm")
        self.wind_k = np.where(self.p_calm < 1, grid(w, "wind_k"), 1.0)
        self.wind_c = np.where(self.p_calm < 1, grid(w, "wind_c_m_s"), 1.0)
        self.wind_calm = grid(w, "wind_calm_m_s")
        self.correlation = self._correlation_matrix(correlation, cross_kind_correlation)
        try:
            self._chol: FloatArray = np.asarray(np.linalg.cholesky(self.correlation), dtype=float)
        except np.linalg.LinAlgError as exc:
            raise ValueError("WeatherModel: the site correlation matrix is not positive definite") from exc

    # -- properties
    @property
    def site_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sites)

    @property
    def capacity_kw(self) -> FloatArray:
        return np.array([s.capacity_kw for s in self.sites], dtype=float)

    @property
    def is_pv(self) -> npt.NDArray[np.bool_]:
        return np.array([s.kind == "pv" for s in self.sites], dtype=bool)

    def _correlation_matrix(self, corr: float | npt.ArrayLike, cross: float) -> FloatArray:
        n = len(self.sites)
        arr = np.asarray(corr, dtype=float)
        if arr.ndim == 0:
            rho = float(arr)
            if not -1 < rho < 1 or not -1 < cross < 1:
                raise ValueError(f"WeatherModel: correlations must be in (-1, 1), got {rho}, {cross}")
            pv = self.is_pv
            r = np.where(pv[:, None] == pv[None, :], rho, cross)
        else:
            if arr.shape != (n, n):
                raise ValueError(f"WeatherModel: correlation matrix must be {n} x {n}, got {arr.shape}")
            if not np.allclose(arr, arr.T):
                raise ValueError("WeatherModel: correlation matrix must be symmetric")
            r = arr.copy()
        np.fill_diagonal(r, 1.0)
        return np.asarray(r, dtype=float)

    # -- sampling
    def month_for(self, month: int | None, day_of_year: int | None) -> int:
        if (month is None) == (day_of_year is None):
            raise ValueError("give exactly one of month (1..12) and day_of_year (1..366)")
        if month is not None:
            if not 1 <= month <= 12:
                raise ValueError(f"month must be in 1..12, got {month}")
            return int(month)
        assert day_of_year is not None
        return month_of(day_of_year)

    def sample_latent(self, rng_or_seed: SeedLike, n_days: int) -> FloatArray:
        """Latent N(0, 1) chains, ``(n_days, n_sites, 24)``: AR(1) over hours, correlation R across sites."""
        if n_days < 1:
            raise ValueError(f"n_days must be >= 1, got {n_days}")
        return _ar1(as_generator(rng_or_seed), (n_days, len(self.sites), 24), self.phi, self._chol)

    def power_from_latent(self, z: FloatArray, month: int) -> FloatArray:
        """Available power (kW) ``(..., n_sites, 24)`` from latent chains (the copula's marginals)."""
        m = month - 1
        cap = self.capacity_kw
        out = np.zeros_like(z)
        pv = self.is_pv
        if pv.any():
            zp = z[..., pv, :]
            day = ~self.night[m]
            kt = np.zeros_like(zp)
            u = special.ndtr(zp[..., day])
            kt[..., day] = special.betaincinv(self.kt_alpha[m, day], self.kt_beta[m, day], u)
            ghi = kt * self.ghi_extra[m]
            out[..., pv, :] = self.pv_model.power_frac(ghi, self.temp_air[m]) * cap[pv, None]
        if (~pv).any():
            assert self.turbine is not None
            zw = z[..., ~pv, :]
            p = self.p_calm[m]
            q = special.ndtr(-zw)  # 1 - U, exact in the upper tail
            rel = np.maximum(q / np.maximum(1.0 - p, 1e-300), 1e-300)  # 1 - W
            v = np.where(q > 1.0 - p, 0.0, truncated_weibull_quantile(rel, self.wind_k[m], self.wind_c[m],
                                                                      self.wind_calm[m], survival=True))
            out[..., ~pv, :] = self.turbine.power_frac(v) * cap[~pv, None]
        return out

    def sample_days(self, rng_or_seed: SeedLike, n_days: int, *, month: int | None = None,
                    day_of_year: int | None = None) -> FloatArray:
        """``n_days`` independent days of hourly available power (kW), ``(n_days, n_sites, 24)``.

        All days use the parameters of one month (``month``, or the month of ``day_of_year``).
        Bounded: ``0 <= P <= capacity``; PV is 0 in night cells.
        """
        m = self.month_for(month, day_of_year)
        return self.power_from_latent(self.sample_latent(rng_or_seed, n_days), m)

    def expected_power(self, month: int) -> FloatArray:
        """Plug-in expectation ``(n_sites, 24)`` used for diagnostics: PV at the mean clearness
        (exact for ``gamma_per_k = 0``), wind by quadrature over the calm-plus-Weibull law."""
        m = month - 1
        cap = self.capacity_kw
        out = np.zeros((len(self.sites), 24))
        kt_mean = np.where(self.night[m], 0.0, self.kt_alpha[m] / (self.kt_alpha[m] + self.kt_beta[m]))
        pv_frac = self.pv_model.power_frac(kt_mean * self.ghi_extra[m], self.temp_air[m])
        if self.turbine is not None:
            u = (np.arange(4000) + 0.5) / 4000  # midpoint quadrature over U
            rel = np.clip((1 - u[:, None]) / np.maximum(1 - self.p_calm[m], 1e-300), 1e-300, 1.0)
            w = np.where(u[:, None] < self.p_calm[m], 0.0,
                         truncated_weibull_quantile(rel, self.wind_k[m], self.wind_c[m], self.wind_calm[m],
                                                    survival=True))
            wind_frac = self.turbine.power_frac(w).mean(axis=0)
        else:
            wind_frac = np.zeros(24)
        for i, s in enumerate(self.sites):
            out[i] = cap[i] * (pv_frac if s.kind == "pv" else wind_frac)
        return out


# ------------------------------------------------------------------------------ 15 min, loads


def refine_to_15min(
    hourly: npt.ArrayLike,
    rng: np.random.Generator,
    capacity_kw: npt.ArrayLike,
    *,
    phi: float = REFINE_PHI,
    sigma_frac: float = REFINE_SIGMA_FRAC,
    zero_hold: bool | npt.ArrayLike = True,
    steps_per_hour: int = 4,
) -> FloatArray:
    """SPEC §6.1's refinement: hold each hourly value, add AR(1) noise, clip to ``[0, capacity]``.

    ``hourly``: ``(..., n_sites, H)`` kW; ``capacity_kw`` broadcasts against ``(..., n_sites)``.
    The noise is a stationary AR(1) chain over the ``H * steps_per_hour`` steps (``phi``), scaled by
    ``sigma_frac * capacity``, one independent chain per site (and leading index).  Where
    ``zero_hold`` is true for a site (PV), steps whose hourly value is 0 stay 0.
    """
    h = np.asarray(hourly, dtype=float)
    if h.ndim == 0:
        raise ValueError("refine_to_15min: hourly must be an array with hours on the last axis")
    if steps_per_hour < 1:
        raise ValueError(f"steps_per_hour must be >= 1, got {steps_per_hour}")
    cap = np.broadcast_to(np.asarray(capacity_kw, dtype=float), h.shape[:-1])[..., None]
    held = np.repeat(h, steps_per_hour, axis=-1)
    z = _ar1(rng, held.shape, phi)
    vals = np.clip(held + sigma_frac * cap * z, 0.0, cap)
    zero = np.broadcast_to(np.asarray(zero_hold, dtype=bool), h.shape[:-1])[..., None]
    return np.asarray(np.where(zero & (held <= 0), 0.0, vals), dtype=float)


def load_days(shape: npt.ArrayLike, rng: np.random.Generator, n_days: int, *, sigma: float = LOAD_SIGMA,
              phi: float = LOAD_PHI) -> FloatArray:
    """``(n_days, H)`` noisy copies of a load profile: ``shape_t * max(0, 1 + sigma * z_t)``.

    ``z`` is a stationary AR(1) chain over the hours (coefficient ``phi``, marginal N(0, 1)), one per
    day; multiplicative, so units and the profile's zeros are kept.  `[proposed]`: 004 gives no load
    error model; the default 5 % sits inside 000's ±10 % error bound (SPEC §6.3).
    """
    s = np.asarray(shape, dtype=float)
    if s.ndim != 1:
        raise ValueError(f"load_days: shape must be 1-D, got {s.shape}")
    if n_days < 1 or sigma < 0:
        raise ValueError(f"load_days: need n_days >= 1 and sigma >= 0, got {n_days}, {sigma}")
    z = _ar1(rng, (n_days, s.size), phi)
    return np.asarray(s * np.maximum(0.0, 1.0 + sigma * z), dtype=float)


# ------------------------------------------------------------------------------ reduction


def _two_nearest(d_rows: FloatArray, cols: npt.NDArray[np.intp]) -> tuple[npt.NDArray[np.intp], FloatArray,
                                                                           npt.NDArray[np.intp], FloatArray]:
    """For each row: the nearest and second-nearest column among ``cols`` (indices, distances)."""
    sub = d_rows[:, cols]
    m = sub.shape[0]
    rows = np.arange(m)
    if cols.size == 1:
        return (np.full(m, cols[0]), sub[:, 0].copy(), np.full(m, -1), np.full(m, np.inf))
    part = np.argpartition(sub, 1, axis=1)[:, :2]
    a, b = part[:, 0], part[:, 1]
    da, db = sub[rows, a], sub[rows, b]
    swap = (db < da) | ((db == da) & (b < a))
    first = np.where(swap, b, a)
    second = np.where(swap, a, b)
    return cols[first], sub[rows, first], cols[second], sub[rows, second]


def reduce_scenarios(
    samples: npt.ArrayLike, probs: npt.ArrayLike | None = None, n_keep: int = N_SCENARIOS
) -> tuple[npt.NDArray[np.intp], FloatArray]:
    r"""Fast backward reduction (SPEC §6.2; Dupačová, Gröwe-Kuska & Römisch 2003, Heitsch & Römisch 2003).

    ``samples``: ``(N, d)`` scenario vectors; ``probs``: their probabilities (default ``1/N``).
    Greedily deletes, one at a time, the scenario ``l`` whose deletion adds least to the Kantorovich
    distance :math:`z_l = \sum_{k\in J\cup\{l\}} p_k \min_{j\notin J\cup\{l\}} c_{kj}` with Euclidean
    ``c``, until ``n_keep`` remain; each deleted scenario's probability goes to its nearest survivor.

    Fast variant: every scenario caches its nearest and second-nearest remaining neighbour, so the
    increase of deleting ``l`` is ``p_l c_{l,n1(l)} + \sum_{k\in J: n1(k)=l} p_k (c_{k,n2(k)} - c_{k,n1(k)})``
    (one ``bincount``), and only the rows that pointed at the deleted scenario are updated.  Ties go to
    the lowest index.  Returns the kept indices (ascending) and their probabilities (sum 1).
    """
    x = np.asarray(samples, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"reduce_scenarios: samples must be (N, d) with N >= 1, got {x.shape}")
    n = x.shape[0]
    if probs is None:
        p = np.full(n, 1.0 / n)
    else:
        p = np.asarray(probs, dtype=float).ravel()
        if p.shape != (n,) or not np.all(np.isfinite(p)) or p.min() < 0 or not math.isclose(p.sum(), 1.0, abs_tol=1e-8):
            raise ValueError(f"reduce_scenarios: probs must be {n} values >= 0 summing to 1")
        p = p / p.sum()
    if n_keep < 1:
        raise ValueError(f"reduce_scenarios: n_keep must be >= 1, got {n_keep}")
    if n_keep >= n:
        return np.arange(n), p.copy()
    d = cdist(x, x)
    np.fill_diagonal(d, np.inf)
    remaining = np.ones(n, dtype=bool)
    n1, d1, n2, d2 = _two_nearest(d, np.arange(n))
    for _ in range(n - n_keep):
        deleted = ~remaining
        gain = np.zeros(n)
        if deleted.any():
            gain = np.asarray(np.bincount(n1[deleted], weights=p[deleted] * (d2[deleted] - d1[deleted]), minlength=n),
                              dtype=np.float64)
        cost = np.where(remaining, p * d1 + gain, np.inf)
        l_star = int(np.argmin(cost))
        remaining[l_star] = False
        hit = np.flatnonzero((n1 == l_star) | (n2 == l_star))
        if hit.size:
            a, da, b, db = _two_nearest(d[hit], np.flatnonzero(remaining))
            n1[hit], d1[hit], n2[hit], d2[hit] = a, da, b, db
    kept = np.flatnonzero(remaining)
    q = p.copy()
    gone = np.flatnonzero(~remaining)
    np.add.at(q, n1[gone], p[gone])
    q = q[kept]
    return kept, q / q.sum()


# ------------------------------------------------------------------------------ one simulator day


@dataclass(frozen=True, eq=False)
class DayWeather:
    """The weather information of one simulator day (SPEC §6.6 step 1).

    Arrays are indexed by site in ``sites`` order:

    - ``forecast_kw`` ``(n_sites, 24)``: the DA forecast, the most probable reduced scenario;
    - ``scenarios_kw`` ``(n, n_sites, 24)`` with ``scenario_probs`` ``(n,)`` (sum 1): the reduced set,
      ``scenario_ids`` are the kept Monte Carlo draws and ``forecast_scenario`` the forecast's position;
    - ``realised_hourly_kw`` ``(n_sites, 24)``: the realised day, an independent draw from the same model;
    - ``realised_kw`` ``(n_sites, 24 * steps_per_hour)``: it refined to the intraday grid;
    - ``load_forecast`` / ``load_realised``: per load, the given profile (24) and its noisy realisation
      held on the intraday grid.
    """

    day: int
    month: int
    sites: tuple[Site, ...]
    forecast_kw: FloatArray
    scenarios_kw: FloatArray
    scenario_probs: FloatArray
    scenario_ids: npt.NDArray[np.intp]
    forecast_scenario: int
    realised_hourly_kw: FloatArray
    realised_kw: FloatArray
    load_forecast: Mapping[str, FloatArray] = field(default_factory=dict)
    load_realised: Mapping[str, FloatArray] = field(default_factory=dict)

    def forecast_by_site(self) -> dict[str, FloatArray]:
        return {s.name: self.forecast_kw[i] for i, s in enumerate(self.sites)}

    def realised_by_site(self) -> dict[str, FloatArray]:
        return {s.name: self.realised_kw[i] for i, s in enumerate(self.sites)}

    def to_frame(self) -> pd.DataFrame:
        """Long format: ``day, series, scenario, probability, site, kind, period, step_h, variable, value, unit``.

        ``series`` is ``forecast`` / ``scenario`` / ``realised_hourly`` (hourly) or ``realised``
        (intraday grid); ``period`` is 1-based on the series' grid.
        """
        parts: list[pd.DataFrame] = []

        def add(series: str, scenario: int, prob: float, arr: FloatArray) -> None:
            n_s, n_t = arr.shape
            parts.append(pd.DataFrame({
                "day": self.day, "series": series, "scenario": scenario, "probability": prob,
                "site": np.repeat([s.name for s in self.sites], n_t),
                "kind": np.repeat([s.kind for s in self.sites], n_t),
                "period": np.tile(np.arange(1, n_t + 1), n_s), "step_h": 24.0 / n_t,
                "variable": "p_available_kw", "value": arr.ravel(), "unit": "kW",
            }))

        add("forecast", self.forecast_scenario, float(self.scenario_probs[self.forecast_scenario]), self.forecast_kw)
        for j, (arr, pr) in enumerate(zip(self.scenarios_kw, self.scenario_probs, strict=True)):
            add("scenario", j, float(pr), arr)
        add("realised_hourly", -1, 1.0, self.realised_hourly_kw)
        add("realised", -1, 1.0, self.realised_kw)
        return pd.concat(parts, ignore_index=True)


def forecast_and_realisation(
    model: WeatherModel,
    seed: int | np.random.SeedSequence,
    day: int,
    *,
    month: int | None = None,
    day_of_year: int | None = None,
    n_mc: int = N_MC_DAYS,
    n_scenarios: int = N_SCENARIOS,
    loads: Mapping[str, npt.ArrayLike] | None = None,
    load_sigma: float = LOAD_SIGMA,
    load_phi: float = LOAD_PHI,
    refine_phi: float = REFINE_PHI,
    refine_sigma_frac: float = REFINE_SIGMA_FRAC,
    steps_per_hour: int = 4,
) -> DayWeather:
    """Simulator day ``day``: DA forecast, reduced scenarios and the realised day (SPEC §6.1, §6.2, §6.6).

    1. ``n_mc`` Monte Carlo days of ``month`` (or the month of ``day_of_year``), standardised by
       capacity, reduced to ``n_scenarios`` by :func:`reduce_scenarios`; the forecast is the most
       probable survivor (004).
    2. The realised day: one independent draw from the same model, refined to ``steps_per_hour``
       steps by :func:`refine_to_15min` (PV held at 0 where its hourly value is 0).
    3. Loads (optional): each profile's realisation by :func:`load_days`, held on the intraday grid.

    Randomness: ``day_seq = day_seed_sequence(seed, day)`` (= ``SeedSequence(seed).spawn(n)[day]``),
    and four weather streams under it (:func:`weather_streams`): Monte Carlo, realised hourly draw,
    refinement, loads (one child per load, in mapping order).  The day therefore depends only on
    ``seed`` and ``day``, and the realisation does not depend on ``n_mc`` or ``n_scenarios``.
    """
    m = model.month_for(month, day_of_year)
    if n_mc < 1 or n_scenarios < 1:
        raise ValueError(f"need n_mc >= 1 and n_scenarios >= 1, got {n_mc}, {n_scenarios}")
    g_mc, g_real, g_refine, g_load = weather_streams(day_seed_sequence(seed, day), 4)
    mc = model.sample_days(g_mc, n_mc, month=m)
    cap = model.capacity_kw
    std = (mc / cap[None, :, None]).reshape(n_mc, -1)
    kept, probs = reduce_scenarios(std, None, min(n_scenarios, n_mc))
    scen = mc[kept]
    best = int(np.argmax(probs))
    real_h = model.sample_days(g_real, 1, month=m)[0]
    real = refine_to_15min(real_h, g_refine, cap, phi=refine_phi, sigma_frac=refine_sigma_frac,
                           zero_hold=model.is_pv, steps_per_hour=steps_per_hour)
    load_fc: dict[str, FloatArray] = {}
    load_real: dict[str, FloatArray] = {}
    if loads:
        for name, g in zip(loads, g_load.spawn(len(loads)), strict=True):
            shape = np.asarray(loads[name], dtype=float)
            load_fc[name] = shape
            load_real[name] = np.repeat(load_days(shape, g, 1, sigma=load_sigma, phi=load_phi)[0], steps_per_hour)
    return DayWeather(day=int(day), month=m, sites=model.sites, forecast_kw=scen[best].copy(), scenarios_kw=scen,
                      scenario_probs=probs, scenario_ids=kept, forecast_scenario=best, realised_hourly_kw=real_h,
                      realised_kw=real, load_forecast=load_fc, load_realised=load_real)


def weather_for(sites: Sequence[Site], station: int | None = None) -> WeatherModel:
    """The weather model of ``sites``, fitted to TMY3 ``station`` (the default station if None)."""
    params = load_weather_params(station=station) if station else load_weather_params()
    return WeatherModel(params, tuple(sites))

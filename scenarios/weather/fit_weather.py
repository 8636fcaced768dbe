"""Fit the weather model of ``sim/weather/model.py`` (SPEC §6.1) to the TMY3 files bundled with pvlib.

Run from the repository root::

    python scenarios/weather/fit_weather.py            # (PYTHONPATH=. unless coopgrid is installed)

It reads both TMY3 files that ship inside the pvlib wheel (``pvlib/data/723170TYA.CSV``, Greensboro
NC; ``pvlib/data/703165TY.csv``, Sand Point AK), fits per station, month and hour

* the clearness index ``k_t = GHI / GHI_extra`` ~ Beta by the method of moments (SPEC §6.1), and
* the 10 m wind speed ~ calm point mass + Weibull truncated at the calm threshold (maximum likelihood),

and writes ``weather_params.csv`` (read by :func:`sim.weather.model.load_weather_params`) and
``PROVENANCE.md`` (data source, versions, fields, methods, the turbine, a summary) beside this
script.  Nothing else writes those two files; the tests check the CSV against a fresh fit.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
#: Floats in the CSV: 6 significant digits keep the table small (well inside the fits' own error).
FLOAT_FORMAT = "%.6g"


def _summary(table: pd.DataFrame, station: int) -> pd.DataFrame:
    """Per month: the data's mean k_t, mean GHI, mean wind speed; the fitted ranges of the wind law."""
    from sim.weather.model import weibull_mixture_mean

    t = table[table["station"] == station]
    rows = []
    for m in range(1, 13):
        g = t[t["month"] == m]
        day = g[g["night"] == 0]
        rows.append({
            "month": m,
            "kt mean": float(np.average(day["kt_mean"], weights=day["n_day"])),
            "GHI mean W/m2": float(g["ghi_mean_w_m2"].mean()),
            "wind mean m/s (data)": float(np.average(g["wind_mean_m_s"], weights=g["n"])),
            "wind mean m/s (fit)": float(weibull_mixture_mean(
                g["wind_p_calm"], g["wind_k"], g["wind_c_m_s"], g["wind_calm_m_s"]).mean()),
            "p_calm": f"{g['wind_p_calm'].min():.2f}-{g['wind_p_calm'].max():.2f}",
            "k": f"{g['wind_k'].min():.2f}-{g['wind_k'].max():.2f}",
            "c m/s": f"{g['wind_c_m_s'].min():.2f}-{g['wind_c_m_s'].max():.2f}",
        })
    return pd.DataFrame(rows)


def _capacity_factors(table: pd.DataFrame, station: int) -> tuple[float, float]:
    """Annual capacity factors of a PV and a wind site under the fitted model (plug-in expectation)."""
    from sim.weather.model import Site, WeatherModel, validate_params

    params = validate_params(table, "fit", station)
    model = WeatherModel(params, [Site("pv", "pv", 1.0), Site("wind", "wind", 1.0)])
    days = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=float)
    cf = np.array([model.expected_power(m).mean(axis=1) for m in range(1, 13)])  # (12, 2)
    pv, wind = (days @ cf) / days.sum()
    return float(pv), float(wind)


def _turbine_rows(turbine_type: str) -> dict[str, str]:
    """Data-sheet fields of ``turbine_type`` from windpowerlib's bundled ``oedb/turbine_data.csv``."""
    import windpowerlib

    data = pd.read_csv(Path(windpowerlib.__file__).resolve().parent / "oedb" / "turbine_data.csv")
    row = data[data["turbine_type"] == turbine_type]
    if row.empty:
        return {}
    r = row.iloc[0]
    return {k: str(r[k]) for k in ("manufacturer", "name", "nominal_power", "rotor_diameter", "hub_height", "source")}


def provenance(table: pd.DataFrame, metas: dict[int, dict[str, object]], files: dict[int, Path]) -> str:
    """The text of PROVENANCE.md."""
    import pvlib
    import windpowerlib

    from sim.engine.io import markdown_table
    from sim.weather import model as w

    turbine = w.TurbineCurve.from_windpowerlib()
    info = _turbine_rows(w.DEFAULT_TURBINE)
    lines = [
        "# Weather parameters: data and provenance",
        "",
        f"`weather_params.csv` is written by `fit_weather.py` on {dt.date.today().isoformat()} "
        f"({len(table)} rows: station x month 1..12 x hour 0..23). Do not edit it by hand; rerun the script.",
        "",
        "## Source data",
        "",
        f"NREL Typical Meteorological Year 3 (TMY3, National Solar Radiation Data Base 1991-2005 update), "
        f"as bundled in the pvlib wheel (pvlib {pvlib.__version__}, `pvlib/data/`), read with "
        "`pvlib.iotools.read_tmy3(path, map_variables=True)`.",
        "",
        "| station (USAF) | file | name | state | lat | lon | altitude m | time zone |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for st, meta in metas.items():
        name = str(meta.get("Name", "")).strip('"')
        lines.append(f"| {st} | `{files[st].name}` | {name} | {meta.get('State', '')} "
                     f"| {meta.get('latitude', '')} | {meta.get('longitude', '')} | {meta.get('altitude', '')} "
                     f"| UTC{float(str(meta.get('TZ', 0))):+g} |")
    lines += [
        "",
        f"Default station in `sim.weather.model`: {w.DEFAULT_STATION}.",
        "",
        "Fields used: `ghi` (global horizontal irradiance, W/m2), `ghi_extra` (extraterrestrial horizontal "
        "irradiance, W/m2), `wind_speed` (10 m, m/s, 0.1 m/s resolution), `temp_air` (dry bulb, deg C). "
        "Time stamps are hour-ending local standard time: the record stamped HH:00 covers HH-1..HH and is "
        "fitted as hour index HH-1 (hour 0..23; the scenarios' hour h = index + 1).",
        "",
        "## Fit methods (`sim/weather/model.py`)",
        "",
        f"- Night: records with `ghi_extra` < {w.GHI_EXTRA_MIN_W_M2:g} W/m2 (their ratio GHI/GHI_extra is "
        f"meaningless: up to 5 in the data). A (month, hour) cell with fewer than {w.MIN_DAY_SAMPLES} day records, "
        "or whose day records all have GHI = 0 (the Greensboro file has such dawn cells), is a night cell: PV = 0.",
        "- Clearness index k_t = GHI / GHI_extra of the day records, clipped to [0, 1], ~ Beta(alpha, beta) by the "
        "method of moments (SPEC 6.1; population variance). `kt_mean` is the data's own mean.",
        f"- Wind: speeds below {w.CALM_THRESHOLD_M_S:g} m/s (`wind_calm_m_s`) are calm (point mass `wind_p_calm`); "
        "the rest ~ Weibull(k, c) left-truncated at that threshold, by maximum likelihood (profiled over c, "
        "maximised over k; with threshold 0 it equals `scipy.stats.weibull_min.fit(v, floc=0)`, which on the "
        "truncated sample would bias k upwards).",
        "- Cell means of all records: `ghi_extra_mean_w_m2` (the PV scaling), `ghi_mean_w_m2`, `temp_air_mean_c`, "
        "`wind_mean_m_s`; counts `n` (records) and `n_day` (day records).",
        "",
        "## Turbine",
        "",
        f"{w.DEFAULT_TURBINE} ({info.get('manufacturer', '')} {info.get('name', '')}) from windpowerlib "
        f"{windpowerlib.__version__} (`oedb/power_curves.csv`, `oedb/turbine_data.csv`): nominal power "
        f"{turbine.nominal_power_kw:g} kW, rotor {info.get('rotor_diameter', '?')} m, listed hub heights "
        f"{info.get('hub_height', '?')} m; default hub height {w.DEFAULT_HUB_HEIGHT_M:g} m. Data-sheet source: "
        f"{info.get('source', '?')}. The curve (1..25 m/s, cut-out after 25 m/s; its maximum is "
        f"{turbine.power_frac_curve.max() * turbine.nominal_power_kw:g} kW) is divided by the nominal power, "
        "clipped to 1 and scaled to each site's capacity. The 10 m speed is lifted to hub height with the power "
        f"law v_hub = v_10 (H/10)^(1/7) (factor {turbine.shear_factor:.3f}).",
        "",
        "## Summary",
        "",
    ]
    for st in metas:
        pv_cf, wind_cf = _capacity_factors(table, st)
        lines += [
            f"### Station {st}",
            "",
            f"Annual capacity factors under the fitted model (expected power at the monthly parameters, default "
            f"PV model, the turbine above): PV {pv_cf:.3f}, wind {wind_cf:.3f}.",
            "",
            markdown_table(_summary(table, st), floatfmt=".3f"),
            "",
        ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Fit sim/weather/model.py's PV and wind parameters to pvlib's TMY3 files.")
    ap.add_argument("--out-dir", type=Path, default=HERE, help="where to write the CSV and PROVENANCE.md")
    args = ap.parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from sim.engine.io import write_csv, write_text
    from sim.weather import model as w

    files = {st: w.bundled_tmy3_path(st) for st in w.BUNDLED_TMY3}
    metas = {st: w.read_tmy3(f)[1] for st, f in files.items()}
    table = pd.concat([w.fit_tmy(f) for f in files.values()], ignore_index=True)
    out: Path = args.out_dir
    csv = write_csv(table, out / "weather_params.csv", float_format=FLOAT_FORMAT)
    md = write_text(provenance(table, metas, files) + "\n", out / "PROVENANCE.md")
    print(f"wrote {csv} ({csv.stat().st_size} bytes) and {md}")
    print(f"pvlib {importlib.metadata.version('pvlib')}, windpowerlib {importlib.metadata.version('windpowerlib')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

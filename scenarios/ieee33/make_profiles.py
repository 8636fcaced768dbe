"""Derive the hourly profiles of the IEEE-33 scenario of paper 004 (SPEC §5.1, §5.3, §4.8).

Paper 004's forecast figures and its TOU table (Table 1) are missing from its text, so the
profiles are SPEC's `[default]` shapes.  Run ``python scenarios/ieee33/make_profiles.py`` to
regenerate the three CSVs; the loader reads them, nothing else writes them.

* ``profiles/load_shape.csv`` — column ``load``: the normalised load shape ``l_h`` of SPEC §4.8
  (peak 1.00 at hours 18-19).  The loader multiplies it into every bus's base load (the IEEE-33
  snapshot, times ``network.load_scale``) and into the DR aggregates (``peak_kw``), SPEC §5.1.
* ``profiles/forecast.csv`` — normalised available output per kW of capacity (capacity factor,
  0..1), one column per technology; a site picks its column with ``profile`` in scenario.toml, so a
  per-site shape is one more column here.  With the hour midpoint ``tau_h = h - 0.5`` (SPEC §4.8):

  - ``pv``:   ``max(0, sin(pi (tau_h - 6) / 13))``  (sunrise 06:00, sunset 19:00, peak 1.0 at 12:30);
  - ``wind``: ``0.45 + 0.25 cos(2 pi (tau_h - 3) / 24)``  (night maximum 0.70 at 03:00, minimum 0.20).

* ``profiles/tou.csv`` — the hourly TOU partition of SPEC §5.3 (three 8-hour period types: valley
  hours 1-8, peak 9-12 and 18-21, flat 13-17 and 22-24, as ``market.pricing.DEFAULT_TOU_PARTITION``)
  and the upstream purchase price ``p_t`` per period type: 0.07 / 0.16 / 0.11 USD/kWh
  (valley / peak / flat), SPEC §5.3 `[default]`.  Hours are 1-based: hour ``h`` covers ``h-1..h``.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent

#: SPEC §4.8 normalised load shape l_h, h = 1..24.
LOAD_SHAPE = (0.55, 0.50, 0.48, 0.47, 0.48, 0.52, 0.62, 0.75, 0.88, 0.95, 0.97, 0.96,
              0.92, 0.90, 0.91, 0.93, 0.96, 1.00, 1.00, 0.98, 0.92, 0.82, 0.70, 0.60)

#: SPEC §5.3 upstream price per period type, USD/kWh.
UPSTREAM_PRICE = {"valley": 0.07, "flat": 0.11, "peak": 0.16}


def period_type(hour: int) -> str:
    """SPEC §5.3 partition of the 1-based hour: valley 1-8, peak 9-12 and 18-21, flat 13-17 and 22-24."""
    if hour <= 8:
        return "valley"
    if 9 <= hour <= 12 or 18 <= hour <= 21:
        return "peak"
    return "flat"


def pv_shape(hour: int) -> float:
    tau = hour - 0.5
    return max(0.0, math.sin(math.pi * (tau - 6) / 13))


def wind_shape(hour: int) -> float:
    tau = hour - 0.5
    return 0.45 + 0.25 * math.cos(2 * math.pi * (tau - 3) / 24)


def main() -> None:
    hours = range(1, 25)
    out = HERE / "profiles"
    out.mkdir(exist_ok=True)
    pd.DataFrame({"hour": hours, "load": LOAD_SHAPE}).to_csv(out / "load_shape.csv", index=False)
    pd.DataFrame({
        "hour": hours,
        "pv": [round(pv_shape(h), 6) for h in hours],
        "wind": [round(wind_shape(h), 6) for h in hours],
    }).to_csv(out / "forecast.csv", index=False)
    pd.DataFrame({
        "hour": hours,
        "period": [period_type(h) for h in hours],
        "upstream_price": [UPSTREAM_PRICE[period_type(h)] for h in hours],
    }).to_csv(out / "tou.csv", index=False)


if __name__ == "__main__":
    main()

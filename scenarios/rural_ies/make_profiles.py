"""Derive the hourly profiles of the rural biogas-power-heat IES of paper 002 (SPEC §3.8, §6.4).

Provenance: paper 002's Table 1 (device data) and Fig. 3 (forecasts and prices) are missing from
its text, so every profile here is a SPEC `[default]` (or `[proposed]`) shape, not calibrated data.
Run ``python scenarios/rural_ies/make_profiles.py`` to regenerate the two CSVs; the loader
(:func:`scenarios.loader.load_rural_ies`) reads them, nothing else writes them.  Hours are 1-based:
hour ``h`` covers ``h-1..h``; ``tau_h = h - 0.5`` is its midpoint.

``profiles/forecast.csv``
  * ``power_load_kw``: ``400 * l_h`` with the normalised load shape ``l`` of SPEC §4.8 (peak 1.00 at
    hours 18-19), power-load peak 400 kW from SPEC §3.8 `[default]`.
  * ``heat_load_kw``: ``300 * (0.65 + 0.35 cos(2 pi (tau_h - 3.5) / 24))``: a heating-season shape
    with its peak 300 kW_th (SPEC §3.8) at hour 4 (03:00-04:00) and its minimum 90 kW_th at hour 16
    `[proposed]` (SPEC gives only the peak).
  * ``pv_kw``: ``300 * max(0, sin(pi (tau_h - 6) / 13))``, the PV shape of SPEC §4.8 (sunrise 06:00,
    sunset 19:00, peak 1.0 at hour 13), PV capacity 300 kW of SPEC §3.8 `[default]`.
  * ``biogas_production_m3_per_h``: constant digester output ``G^prod = 60`` m³/h (SPEC §3.8).

``profiles/prices.csv`` (CNY/kWh)
  * ``da_price``: the day-ahead TOU price ``p_t`` of SPEC §3.8 `[default]`: valley 0.35 (hours 1-7 and
    24), peak 1.00 (hours 8-10 and 19-22), flat 0.65 otherwise, except 0.55 at hour 14 (002 describes
    13-14 h as cheaper).  Equal to ``agents.rural_campus.RURAL_DEFAULTS.da_price()``.
  * ``buy_price``, ``sell_price``: intraday ``c^buy_t = 1.2 p_t`` and ``c^sell_t = 0.5 p_t`` (SPEC §3.8).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent

#: SPEC §4.8 normalised load shape l_h, h = 1..24 (reused for the rural power load).
LOAD_SHAPE = (0.55, 0.50, 0.48, 0.47, 0.48, 0.52, 0.62, 0.75, 0.88, 0.95, 0.97, 0.96,
              0.92, 0.90, 0.91, 0.93, 0.96, 1.00, 1.00, 0.98, 0.92, 0.82, 0.70, 0.60)
POWER_PEAK_KW = 400.0  # [default] SPEC §3.8
HEAT_PEAK_KW = 300.0  # [default] SPEC §3.8 (kW_th)
PV_CAP_KW = 300.0  # [default] SPEC §3.8
BIOGAS_M3_PER_H = 60.0  # [default] SPEC §3.8
BUY_FACTOR, SELL_FACTOR = 1.2, 0.5  # [default] SPEC §3.8: c^buy = 1.2 p, c^sell = 0.5 p


def da_price(hour: int) -> float:
    """SPEC §3.8 TOU price of the 1-based hour (CNY/kWh)."""
    if hour <= 7 or hour == 24:
        return 0.35
    if 8 <= hour <= 10 or 19 <= hour <= 22:
        return 1.00
    if hour == 14:
        return 0.55
    return 0.65


def heat_shape(hour: int) -> float:
    tau = hour - 0.5
    return 0.65 + 0.35 * math.cos(2 * math.pi * (tau - 3.5) / 24)


def pv_shape(hour: int) -> float:
    tau = hour - 0.5
    return max(0.0, math.sin(math.pi * (tau - 6) / 13))


def main(out: Path = HERE / "profiles") -> None:
    """Write ``forecast.csv`` and ``prices.csv`` into ``out``."""
    hours = range(1, 25)
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({
        "hour": list(hours),
        "power_load_kw": [round(POWER_PEAK_KW * LOAD_SHAPE[h - 1], 4) for h in hours],
        "heat_load_kw": [round(HEAT_PEAK_KW * heat_shape(h), 4) for h in hours],
        "pv_kw": [round(PV_CAP_KW * pv_shape(h), 4) for h in hours],
        "biogas_production_m3_per_h": [BIOGAS_M3_PER_H] * 24,
    }).to_csv(out / "forecast.csv", index=False)
    pd.DataFrame({
        "hour": list(hours),
        "da_price": [da_price(h) for h in hours],
        "buy_price": [round(BUY_FACTOR * da_price(h), 4) for h in hours],
        "sell_price": [round(SELL_FACTOR * da_price(h), 4) for h in hours],
    }).to_csv(out / "prices.csv", index=False)


if __name__ == "__main__":
    main()

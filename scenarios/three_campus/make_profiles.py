"""Derive the default profiles of the three-campus scenario (SPEC §4.8, all `[default]`).

Paper 000's Figs. 2-4 (forecasts, TOU prices) are missing from its text, so SPEC §4.8 defines
plausible shapes.  Run ``python scenarios/three_campus/make_profiles.py`` to regenerate the CSVs.

* PV:   P_h = cap * max(0, sin(pi (tau_h - 6) / 13)),   tau_h = h - 0.5
* wind: P_h = cap * (0.45 + 0.25 cos(2 pi (tau_h - 3) / 24))
* load: L_h = peak * l_h with the normalised shape l below
* TOU:  valley 0.38 (00-07, 23-24), flat 0.68 (07-10, 15-18, 21-23), peak 1.05 (10-15, 18-21);
        sale price flat 0.30 (CNY/kWh)
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
SHAPE = (0.55, 0.50, 0.48, 0.47, 0.48, 0.52, 0.62, 0.75, 0.88, 0.95, 0.97, 0.96,
         0.92, 0.90, 0.91, 0.93, 0.96, 1.00, 1.00, 0.98, 0.92, 0.82, 0.70, 0.60)
PV_CAP, WIND_CAP = 500.0, 400.0
PEAKS = {"PV": 300.0, "WT": 260.0, "CHP": 380.0}


def tou(hour_start: int) -> float:
    if hour_start < 7 or hour_start >= 23:
        return 0.38
    if 10 <= hour_start < 15 or 18 <= hour_start < 21:
        return 1.05
    return 0.68


def main() -> None:
    rows = []
    for h in range(1, 25):
        tau = h - 0.5
        rows.append({
            "hour": h,
            "PV.load_kw": round(PEAKS["PV"] * SHAPE[h - 1], 4),
            "PV.pv_kw": round(PV_CAP * max(0.0, math.sin(math.pi * (tau - 6) / 13)), 4),
            "WT.load_kw": round(PEAKS["WT"] * SHAPE[h - 1], 4),
            "WT.wind_kw": round(WIND_CAP * (0.45 + 0.25 * math.cos(2 * math.pi * (tau - 3) / 24)), 4),
            "CHP.load_kw": round(PEAKS["CHP"] * SHAPE[h - 1], 4),
        })
    (HERE / "profiles").mkdir(exist_ok=True)
    pd.DataFrame(rows).to_csv(HERE / "profiles" / "forecast.csv", index=False)
    pd.DataFrame({"hour": range(1, 25), "buy_price": [tou(h - 1) for h in range(1, 25)],
                  "sell_price": [0.30] * 24}).to_csv(HERE / "profiles" / "tariff.csv", index=False)


if __name__ == "__main__":
    main()

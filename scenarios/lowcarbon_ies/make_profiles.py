"""Derive the hourly load profiles of paper 003's low-carbon campus (SPEC §3.14–§3.15, §6.5).

Provenance: 003's parameter tables C1–C2 and its load figure are missing from the text, so both
profiles are SPEC-scale `[default]` shapes, not calibrated data.  Run
``python scenarios/lowcarbon_ies/make_profiles.py`` to regenerate ``profiles/loads.csv``; the loader
(:func:`scenarios.lowcarbon_loader.load_lowcarbon_ies`) reads it, nothing else writes it.  Hours are
1-based: hour ``h`` covers ``h-1..h``; ``tau_h = h - 0.5`` is its midpoint.

* ``electric_load_mw``: ``ELECTRIC_PEAK_MW * l_h`` with the normalised load shape ``l`` of SPEC §4.8
  (valley 0.47 at hour 4, peak 1.00 at hours 18-19).  The peak (600 MW) is chosen so that the two
  thermal units (2 × 60–300 MW), the gas turbine (20–150 MW) and 2 × 300 MW of wind (SPEC §3.15
  defaults) meet it with the wind low, while at night the must-run thermal minimum plus the heat-led
  gas turbine leave little room for wind: the curtailment situation 003 §4.1 describes.
* ``heat_load_mw``: ``HEAT_PEAK_MW * (0.7 + 0.3 cos(2 pi (tau_h - 6) / 24))`` (MW_th): peak 280 MW_th
  at hour 6 and 112 MW_th at hour 18, the "heat peak 00–12 h" of 003 §4.3 (SPEC §7 row 35).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent

#: SPEC §4.8 normalised load shape l_h, h = 1..24.
LOAD_SHAPE = (0.55, 0.50, 0.48, 0.47, 0.48, 0.52, 0.62, 0.75, 0.88, 0.95, 0.97, 0.96,
              0.92, 0.90, 0.91, 0.93, 0.96, 1.00, 1.00, 0.98, 0.92, 0.82, 0.70, 0.60)
ELECTRIC_PEAK_MW = 600.0  # [default]
HEAT_PEAK_MW = 280.0  # [default] MW_th


def heat_shape(hour: int) -> float:
    tau = hour - 0.5
    return 0.7 + 0.3 * math.cos(2 * math.pi * (tau - 6.0) / 24)


def profiles() -> pd.DataFrame:
    hours = range(1, 25)
    return pd.DataFrame({
        "hour": list(hours),
        "electric_load_mw": [round(ELECTRIC_PEAK_MW * LOAD_SHAPE[h - 1], 6) for h in hours],
        "heat_load_mw": [round(HEAT_PEAK_MW * heat_shape(h), 6) for h in hours],
    })


def main() -> None:
    out = HERE / "profiles" / "loads.csv"
    profiles().to_csv(out, index=False)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

"""The synthetic NB-2 world of the incentives study's tests (see test_incentives_tables.py's docstring)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from studies.incentives import plan as pl
from studies.incentives import tables as tb

PLAYERS = ("A", "B", "C")
W = np.array([0.5, 0.3, 0.2])
C0 = np.array([[100.0, 50.0, 30.0], [120.0, 40.0, 35.0], [90.0, 60.0, 20.0], [110.0, 45.0, 25.0]])
S = np.array([20.0, 30.0, 5.0, 25.0])  # day 3: S = 5 < 0.1 * 90, so m = -0.1 breaks the coalition
BASE_TOTAL = np.array([1000.0, 1100.0, 900.0, 1050.0])


def records(point: str, finals: np.ndarray, reported: np.ndarray, behaviour: dict[str, str],
             extra: dict[str, np.ndarray] | None = None) -> list[dict[str, object]]:
    rows = []
    for d in range(C0.shape[0]):
        for i, p in enumerate(PLAYERS):
            vals = {"standalone_cost": C0[d, i], "reported_standalone_cost": reported[d, i],
                    "final_cost": finals[d, i], "gain": C0[d, i] - finals[d, i], "joined": 1.0,
                    "payment": finals[d, i] - C0[d, i] + 1.0}
            for k, v in (extra or {}).items():
                vals[k] = v[d, i]
            rows += [{"point": point, "day": d + 1, "agent_id": p, "behaviour": behaviour.get(p, "truthful"),
                      "variable": k, "value": float(v)} for k, v in vals.items()]
    return rows


def misreport(m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(final costs, reports, formed per day) when A alone reports C0 + m |C0|."""
    rep = C0.copy()
    rep[:, 0] = C0[:, 0] + m * np.abs(C0[:, 0])
    s_hat = S + m * np.abs(C0[:, 0])
    formed = s_hat >= 0
    fin = np.where(formed[:, None], rep - W[None, :] * s_hat[:, None], C0)
    return fin, rep, formed


def world() -> tuple[pd.DataFrame, pd.DataFrame]:
    base_fin = C0 - W[None, :] * S[:, None]
    shapley = np.tile(np.array([8.0, 6.0, 4.0]), (4, 1))
    rec = records(pl.BASELINE, base_fin, C0, {}, {"shapley_gain": shapley})
    kp = [{"point": pl.BASELINE, "day": d + 1, "total_cost": BASE_TOTAL[d]} for d in range(4)]
    fin, rep, formed = misreport(-0.1)
    rec += records("A-misreport-m-0.1", fin, rep, {"A": "misreport(m=-0.1)"})
    # the rejected day costs the system what the coalition saved; the formed days cost the same
    kp += [{"point": "A-misreport-m-0.1", "day": d + 1, "total_cost": BASE_TOTAL[d] + (0.0 if formed[d] else S[d])}
           for d in range(4)]
    rec += records("A-misreport_verify-m-0.1", base_fin, C0, {"A": "misreport(m=-0.1)"})
    kp += [{"point": "A-misreport_verify-m-0.1", "day": d + 1, "total_cost": BASE_TOTAL[d]} for d in range(4)]
    return tb.day_frame(pd.DataFrame(rec), pd.DataFrame(kp), PLAYERS), pd.DataFrame(kp)


def runs_frame(points: list[tuple[str, str, float, bool, str, str]]) -> pd.DataFrame:
    return pd.DataFrame([{"point": pt, "player": "A", "family": fam, "parameter": "m", "value": v,
                          "verify_standalone": ver, "status": st, "message": msg}
                         for pt, fam, v, ver, st, msg in points])

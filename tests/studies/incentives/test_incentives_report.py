"""report.md and figures of the incentives study (studies/incentives/report.py), from a synthetic study folder whose
tables come from the hand-played NB-2 world of ``incentives_world.py`` (player A misreports m = −0.1)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from incentives_world import PLAYERS, S, W, misreport, records, runs_frame, world

from studies.incentives import plan as pl
from studies.incentives import tables as tb
from studies.incentives.report import load_tables, render


def _write_study(out: Path) -> pd.DataFrame:
    days, kp = world()
    runs = runs_frame([("A-misreport-m-0.1", "misreport", -0.1, False, "ok", ""),
                       ("A-misreport_verify-m-0.1", "misreport+verify", -0.1, True, "ok", ""),
                       ("A-rule", "rule", float("nan"), False, "unavailable", "not available on x: no rule here")])
    runs.loc[2, "parameter"] = ""
    dev = tb.deviation_table(days, runs, PLAYERS, pl.BASELINE)
    market = pd.DataFrame([{"point": pl.BASELINE, "day": d, "variable": v, "value": x}
                           for d, e in ((1, 3.5), (2, -1.0), (3, -0.5), (4, 2.0))
                           for v, x in (("core_max_excess", e), ("in_core", float(e <= 0)),
                                        (f"core_blocking[{'A+C' if e > 0 else 'B+C'}]", e))])
    shap = days.copy()
    shap.loc[shap["point"] == pl.BASELINE, "shapley_gain"] = np.tile([8.0, 6.0, 4.0], 4)
    audit = tb.audit_table(shap, market, pl.BASELINE, PLAYERS)
    fin, rep, _ = misreport(-0.1)
    extra = {"param_m": np.full((4, 3), -0.1), "param_arm": np.zeros((4, 3)),
             "param_p_arm0": np.array([[0.25] * 3, [0.5] * 3, [0.7] * 3, [0.9] * 3]),
             "param_p_arm1": np.array([[0.75] * 3, [0.5] * 3, [0.3] * 3, [0.1] * 3])}
    learn_rec = pd.DataFrame(records("A-learn", fin, rep, {"A": "learn"}, extra))
    base_rec = pd.DataFrame(records(pl.BASELINE, days[days["point"] == pl.BASELINE]["final_cost"].to_numpy()
                                    .reshape(4, 3), days[days["point"] == pl.BASELINE]["standalone_cost"].to_numpy()
                                    .reshape(4, 3), {}))
    kp2 = pd.concat([kp, kp[kp["point"] == "A-misreport-m-0.1"].assign(point="A-learn")])
    ldays = tb.day_frame(pd.concat([base_rec, learn_rec]), kp2, PLAYERS)
    learning = tb.learning_table(ldays, pd.DataFrame([{"point": "A-learn", "player": "A", "verify_standalone": False,
                                                       "status": "ok"}]), pl.BASELINE, (-0.1, 0.0))
    leave = tb.leave_table(days, pd.DataFrame([{"point": "A-misreport-m-0.1", "variant": "lie+leave",
                                                "status": "ok"}]), pl.BASELINE)
    runs_csv = pd.DataFrame([{"point": p, "role": "deviation", "player": "A", "status": st, "message": msg,
                              "days": 4 if st == "ok" else 0, "wall_s": 1.0, "solves": 24}
                             for p, st, msg in zip(runs["point"], runs["status"], runs["message"], strict=True)])
    for name, df in (("deviations.csv", dev), ("audit.csv", audit), ("learning.csv", learning),
                     ("leave.csv", leave), ("runs.csv", runs_csv)):
        df.to_csv(out / name, index=False)
    meta = {"system": "toy", "scenario": "toy", "currency": "USD", "players": list(PLAYERS), "days": 4, "seed": 0,
            "mode": "cooperative", "replay": "oracle", "quick": False, "workers": 1,
            "learning": {"grid": [-0.1, 0.0], "eta": 0.2, "gamma": 0.1},
            "leave": {"liar": "A", "liar_m": -0.1, "window_days": 3, "threshold_fraction": 0.5, "cooloff_days": 2,
                      "thresholds": {"B": 1.0, "C": 2.0}},
            "tolerance": {"profit_abs": 0.01, "profit_rel": 1e-6},
            "timings": {"total_s": 10.0, "runs": 2, "simulated_days": 8, "solves": 48, "solves_per_day": 6.0,
                        "baseline_solves_per_day": 14.0, "run_wall_s": 8.0}}
    (out / "study.json").write_text(json.dumps(meta), encoding="utf-8")
    return dev


def test_report_states_the_findings_with_the_tables_numbers(tmp_path: Path) -> None:
    dev = _write_study(tmp_path)
    figs, path = render(tmp_path)
    assert set(figs) == {"deviation_gain", "learning", "nb2_vs_shapley", "core_excess", "leave"}
    assert all(p.stat().st_size > 10_000 for p in figs.values())
    text = path.read_text(encoding="utf-8")
    lie = dev.iloc[0]
    # A's lie: mean -3.5 USD/day, profitable on 3 of 4 days; the t-interval includes 0 on these four days
    assert f"{lie['own_cost_change']:+,.2f} USD/day" in text
    assert "profitable on 3 of 4 days" in text
    assert "lie pays on average, not conclusive" in text
    assert "m = -0.1 (1 of 4 days)" in text  # the day the reported surplus went negative
    assert "matches every measured day within 0.0000 USD" in text
    assert "**Yes: verify_standalone removes the lever.**" in text
    assert "in the core on 2 of 4 days (50 %)" in text and "A+C on 2 day(s)" in text
    gain_a = float((W[0] * S).mean())
    assert f"A: NB-2 gain {gain_a:,.2f} vs Shapley 8.00 USD/day" in text
    assert "P(lie, m < 0) = 0.90" in text  # the last day's probability of the lying arm
    assert "not available on x: no rule here" in text
    assert "6.0 per simulated day (14.0 per audited baseline day)" in text
    for name in figs:
        assert f"figures/{name}.png" in text


def test_load_tables_names_what_is_missing(tmp_path: Path) -> None:
    _write_study(tmp_path)
    (tmp_path / "audit.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"not a finished incentives study.*audit\.csv"):
        load_tables(tmp_path)
    _write_study(tmp_path)
    pd.read_csv(tmp_path / "deviations.csv").drop(columns="own_cost_change").to_csv(tmp_path / "deviations.csv")
    with pytest.raises(ValueError, match=r"deviations\.csv: missing column.*own_cost_change"):
        load_tables(tmp_path)

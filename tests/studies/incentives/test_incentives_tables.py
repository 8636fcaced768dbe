"""The incentives study's tables (studies/incentives/tables.py) on synthetic NB-2 days with known answers.

``_world`` plays the market by hand: three players with standalone costs ``C0``, NB-2 weights ``w`` and a surplus
``S`` per day; truthful final costs ``C0 − w S``; a misreport of player A by ``m`` gives ``Ŝ = S + m |C0_A|`` and
final costs ``Ĉ0 − w Ŝ`` (the coalition forms) or ``C0`` for everyone (``Ŝ < 0``: rejected).  Every number the
tables report is then checked against hand arithmetic or scipy's t quantile.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from incentives_world import BASE_TOTAL, C0, PLAYERS, S, W, misreport, records, runs_frame, world
from scipy import stats

from studies.incentives import plan as pl
from studies.incentives import tables as tb


def test_day_frame_has_one_row_per_point_day_player_in_player_order() -> None:
    days, _ = world()
    assert len(days) == 3 * 4 * 3
    first = days[(days["point"] == pl.BASELINE) & (days["day"] == 1)]
    assert list(first["player"]) == list(PLAYERS)
    assert first["final_cost"].tolist() == pytest.approx((C0[0] - W * S[0]).tolist())
    assert first["total_cost"].tolist() == [1000.0] * 3
    liar = days[(days["point"] == "A-misreport-m-0.1") & (days["player"] == "A")]
    assert set(liar["behaviour"]) == {"misreport(m=-0.1)"}


def test_misreport_row_matches_hand_arithmetic_and_b1() -> None:
    days, _ = world()
    runs = runs_frame([("A-misreport-m-0.1", "misreport", -0.1, False, "ok", "")])
    row = tb.deviation_table(days, runs, PLAYERS, pl.BASELINE).iloc[0]
    fin, _, _ = misreport(-0.1)
    base_fin = C0 - W[None, :] * S[:, None]
    diff = fin[:, 0] - base_fin[:, 0]
    # formed days: (1 − w) m |C0|; day 3 (rejected): A loses its truthful gain w S
    assert diff.tolist() == pytest.approx([0.5 * -10.0, 0.5 * -12.0, 0.5 * 5.0, 0.5 * -11.0])
    half = stats.t.ppf(0.975, 3) * np.std(diff, ddof=1) / 2.0
    assert row["own_cost_change"] == pytest.approx(diff.mean())
    assert row["own_cost_change_ci_low"] == pytest.approx(diff.mean() - half)
    assert row["own_cost_change_ci_high"] == pytest.approx(diff.mean() + half)
    assert row["n_days"] == 4
    assert row["profitable_days"] == 3
    assert row["days_all_standalone"] == 1
    # budget balance: what A saves on the formed days the others pay; on day 3 everyone is back at C0
    others = (fin[:, 1:] - base_fin[:, 1:]).sum(axis=1).mean()
    assert row["others_cost_change"] == pytest.approx(others)
    assert row["system_cost_change"] == pytest.approx(S[2] / 4)
    assert row["truthful_gain"] == pytest.approx((W[0] * S).mean())
    assert row["gain_change_pct_of_truthful_gain"] == pytest.approx(-100 * diff.mean() / (W[0] * S).mean())
    assert row["b1_predicted_change"] == pytest.approx(diff.mean())
    assert row["b1_max_abs_error"] == pytest.approx(0.0, abs=1e-9)
    assert bool(row["available"]) and row["unit"] == "USD/day"


def test_b1_error_shows_a_day_that_departs_from_the_closed_form() -> None:
    days, _ = world()
    sel = (days["point"] == "A-misreport-m-0.1") & (days["player"] == "A") & (days["day"] == 2)
    days.loc[sel, "final_cost"] += 5.0
    runs = runs_frame([("A-misreport-m-0.1", "misreport", -0.1, False, "ok", "")])
    row = tb.deviation_table(days, runs, PLAYERS, pl.BASELINE).iloc[0]
    assert row["b1_max_abs_error"] == pytest.approx(5.0)


def test_verify_row_is_zero_and_refused_row_carries_the_message() -> None:
    days, _ = world()
    msg = "not available on ieee33: behaviour rule is not implemented for a cluster"
    runs = runs_frame([("A-misreport_verify-m-0.1", "misreport+verify", -0.1, True, "ok", ""),
                  ("A-rule", "rule", math.nan, False, "unavailable", msg)])
    runs.loc[1, "parameter"] = ""
    dev = tb.deviation_table(days, runs, PLAYERS, pl.BASELINE)
    ver, refused = dev.iloc[0], dev.iloc[1]
    assert ver["own_cost_change"] == 0.0 and ver["profitable_days"] == 0
    assert ver["b1_predicted_change"] == 0.0
    assert not bool(refused["available"]) and refused["note"] == msg and refused["n_days"] == 0
    assert math.isnan(refused["own_cost_change"]) and refused["deviation"] == "rule"


def test_most_profitable_lie_and_truthful_gains() -> None:
    days, _ = world()
    runs = runs_frame([("A-misreport-m-0.1", "misreport", -0.1, False, "ok", ""),
                  ("A-misreport_verify-m-0.1", "misreport+verify", -0.1, True, "ok", "")])
    dev = tb.deviation_table(days, runs, PLAYERS, pl.BASELINE)
    assert tb.most_profitable_lie(dev) == ("A", -0.1, pytest.approx(dev.iloc[0]["own_cost_change"]))
    assert tb.most_profitable_lie(dev[dev["family"] != "misreport"]) is None
    gains = tb.truthful_mean_gains(days, pl.BASELINE, PLAYERS)
    assert gains == pytest.approx({p: float((W[i] * S).mean()) for i, p in enumerate(PLAYERS)})


def test_audit_table_reads_the_coordinator_records() -> None:
    days, _ = world()
    market = pd.DataFrame([
        {"point": pl.BASELINE, "day": d, "variable": v, "value": x}
        for d, excess in ((1, 3.5), (2, -1.0), (3, 0.0), (4, 2.0))
        for v, x in (("core_max_excess", excess), ("in_core", float(excess <= 0)),
                     (f"core_blocking[{'A+C' if excess > 0 else 'A+B'}]", excess), ("coalition_value[A+B]", 7.0))])
    a = tb.audit_table(days, market, pl.BASELINE, PLAYERS)
    assert len(a) == 12
    d1 = a[a["day"] == 1]
    assert d1["surplus"].tolist() == pytest.approx([S[0]] * 3)
    assert d1["nb2_gain"].tolist() == pytest.approx((W * S[0]).tolist())
    assert d1["nb2_minus_shapley"].tolist() == pytest.approx((W * S[0] - np.array([8.0, 6.0, 4.0])).tolist())
    per_day = a.drop_duplicates("day")
    assert per_day["in_core"].tolist() == [0.0, 1.0, 1.0, 0.0]
    assert per_day["blocking_coalition"].tolist() == ["A+C", "A+B", "A+B", "A+C"]


def test_learning_and_leave_tables() -> None:
    days, kp = world()
    # a learner run: A's chosen m and probabilities recorded per day
    grid = (-0.1, 0.0)
    fin, rep, _ = misreport(-0.1)
    extra = {"param_m": np.tile([-0.1, 0.0, 0.0], (4, 1)), "param_arm": np.zeros((4, 3)),
             "param_p_arm0": np.full((4, 3), 0.7), "param_p_arm1": np.full((4, 3), 0.3)}
    rec = pd.DataFrame(records("A-learn", fin, rep, {"A": "learn"}, extra))
    kp2 = pd.concat([kp, kp[kp["point"] == "A-misreport-m-0.1"].assign(point="A-learn")], ignore_index=True)
    base_rec = pd.DataFrame(records(pl.BASELINE, C0 - W[None, :] * S[:, None], C0, {}))
    days = tb.day_frame(pd.concat([base_rec, rec]), kp2, PLAYERS)
    runs = pd.DataFrame([{"point": "A-learn", "player": "A", "verify_standalone": False, "status": "ok"}])
    lt = tb.learning_table(days, runs, pl.BASELINE, grid)
    assert list(lt.columns[-2:]) == ["p_m-0.1", "p_m+0"]
    assert lt["chosen_m"].tolist() == [-0.1] * 4 and lt["p_m-0.1"].tolist() == [0.7] * 4
    base_gain = W[0] * S
    assert lt["gain_vs_truthful"].tolist() == pytest.approx((C0[:, 0] - fin[:, 0] - base_gain).tolist())
    assert lt["system_cost_change"].tolist() == pytest.approx([0.0, 0.0, S[2], 0.0])
    # leave: B stays out on day 2
    joined = np.ones((4, 3))
    joined[1, 1] = 0.0
    lrec = pd.DataFrame(records("leave", C0 - W[None, :] * S[:, None], C0, {"B": "leave"}))
    mask = (lrec["variable"] == "joined") & (lrec["agent_id"] == "B") & (lrec["day"] == 2)
    lrec.loc[mask, "value"] = 0.0
    kp3 = pd.concat([kp, kp[kp["point"] == pl.BASELINE].assign(point="leave", total_cost=BASE_TOTAL + 4.0)])
    days = tb.day_frame(pd.concat([base_rec, lrec]), kp3, PLAYERS)
    lv = tb.leave_table(days, pd.DataFrame([{"point": "leave", "variant": "leave", "status": "ok"}]), pl.BASELINE)
    assert lv.loc[lv["left"], ["day", "player"]].values.tolist() == [[2, "B"]]
    assert lv["system_cost_change"].tolist() == pytest.approx([4.0] * 12)
    assert lv.loc[lv["player"] == "B", "behaviour"].unique().tolist() == ["leave"]

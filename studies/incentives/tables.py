"""The incentives study's tables, computed from the runs' per-agent records and KPI rows (no solver here).

Inputs (built by :mod:`studies.incentives.run` from each run's ``kpis.csv`` and ``agents/day=NNN/*.parquet``):

* ``days`` — one row per (point, day, player): the player's true ``final_cost`` (own cost in the executed plan
  plus its payment), true ``gain`` (standalone − final), ``standalone_cost``, ``reported_standalone_cost``,
  ``payment``, ``joined``, ``shapley_gain`` (audited days), ``behaviour`` and the behaviour's parameters of the
  day (``param_m``, ``param_arm``, ``param_p_arm<i>``), and the day's system cost ``total_cost``;
* ``market`` — the coordinator's audit records of the baseline (``agent_id == "market"``): ``core_max_excess``,
  ``in_core``, ``core_blocking[T]``, ``coalition_value[T]``.

Every comparison is paired on the day (all runs share their random days): a deviation's change of a cost on day
``d`` is its value on ``d`` minus the baseline's on ``d``, over the days both runs finished.  Means come with the
two-sided 95 % Student-t interval of :func:`sim.analysis.stats.mean_ci` (none with fewer than two days).  A day is
*profitable* for the deviating player when its true final cost is lower than in the baseline by more than
``PROFIT_ABS + PROFIT_REL · |baseline final cost|`` (solver noise is not a gain).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.stats import mean_ci

#: Tolerance of "profitable": a cent plus a relative 1e-6 of the baseline cost.
PROFIT_ABS = 0.01
PROFIT_REL = 1e-6
LEVEL = 0.95

DAY_COLUMNS: tuple[str, ...] = ("point", "day", "player", "behaviour", "standalone_cost", "reported_standalone_cost",
                                "payment", "final_cost", "gain", "joined", "shapley_gain", "total_cost")
DEVIATION_COLUMNS: tuple[str, ...] = (
    "player", "family", "parameter", "value", "deviation", "verify_standalone", "available", "note", "n_days",
    "own_cost_change", "own_cost_change_ci_low", "own_cost_change_ci_high", "gain_change_pct_of_truthful_gain",
    "truthful_gain", "others_cost_change", "system_cost_change", "system_cost_change_ci_low",
    "system_cost_change_ci_high", "profitable_days", "days_all_standalone", "b1_predicted_change",
    "b1_max_abs_error", "unit",
)
AUDIT_COLUMNS: tuple[str, ...] = ("day", "player", "nb2_gain", "shapley_gain", "nb2_minus_shapley", "surplus",
                                  "core_max_excess", "in_core", "blocking_coalition", "unit")
LEARNING_COLUMNS_HEAD: tuple[str, ...] = ("learner", "verify_standalone", "day", "chosen_m", "arm", "gain",
                                          "truthful_gain", "gain_vs_truthful", "system_cost_change", "unit")
LEAVE_COLUMNS: tuple[str, ...] = ("variant", "day", "player", "behaviour", "joined", "left", "final_cost",
                                  "truthful_final_cost", "gain", "total_cost", "truthful_total_cost",
                                  "system_cost_change", "unit")


def profit_tolerance(baseline_cost: np.ndarray | float) -> np.ndarray:
    """The per-day tolerance below which a cost change is not counted as a profit (currency)."""
    return PROFIT_ABS + PROFIT_REL * np.abs(np.asarray(baseline_cost, dtype=float))


def day_frame(records: pd.DataFrame, kpis: pd.DataFrame, players: Sequence[str]) -> pd.DataFrame:
    """``days`` (module docstring) from long per-agent ``records`` (``point, day, agent_id, behaviour, variable,
    value``) and ``kpis`` (``point, day, total_cost``): one row per (point, day, player), the variables as columns
    (NaN where a run did not record one)."""
    rec = records[records["agent_id"].isin(list(players))]
    if rec.empty:
        raise ValueError(f"no per-agent records of the players {', '.join(players)}")
    wide = rec.pivot_table(index=["point", "day", "agent_id"], columns="variable", values="value", aggfunc="first")
    wide = wide.reset_index().rename(columns={"agent_id": "player"})
    beh = rec.drop_duplicates(["point", "day", "agent_id"]).set_index(["point", "day", "agent_id"])["behaviour"]
    wide["behaviour"] = [beh.get((p, d, a), "") for p, d, a in zip(wide["point"], wide["day"], wide["player"],
                                                                    strict=True)]
    wide = wide.merge(kpis[["point", "day", "total_cost"]], on=["point", "day"], how="left")
    for c in DAY_COLUMNS:
        if c not in wide.columns:
            wide[c] = np.nan
    rest = sorted(c for c in wide.columns if c not in DAY_COLUMNS)
    order = {p: i for i, p in enumerate(players)}
    wide = wide.assign(_o=wide["player"].map(order)).sort_values(["point", "day", "_o"]).drop(columns="_o")
    return wide[list(DAY_COLUMNS) + rest].reset_index(drop=True)


def _paired(days: pd.DataFrame, point: str, base: str, column: str, player: str | None) -> pd.DataFrame:
    """``column`` of ``point`` and ``base`` on the days both have (of ``player``, or the day's one value)."""
    sel = days if player is None else days[days["player"] == player]
    a = sel[sel["point"] == point].drop_duplicates("day").set_index("day")[column].astype(float)
    b = sel[sel["point"] == base].drop_duplicates("day").set_index("day")[column].astype(float)
    out = pd.concat({"dev": a, "base": b}, axis=1, join="inner").dropna().sort_index()
    out["diff"] = out["dev"] - out["base"]
    return out


def _rows(df: pd.DataFrame) -> list[Any]:
    """The rows of ``df`` as named tuples (attributes by column name)."""
    return list(df.itertuples(index=False))


def _ci(x: np.ndarray | pd.Series) -> tuple[float, float, float, int]:
    return mean_ci(np.asarray(x, dtype=float), LEVEL)


def deviation_table(days: pd.DataFrame, runs: pd.DataFrame, players: Sequence[str], base: str,
                    currency: str = "USD") -> pd.DataFrame:
    """The unilateral-deviation table (:data:`DEVIATION_COLUMNS`), one row per deviation run of ``runs``.

    ``runs``: one row per planned deviation run with ``point, player, family, parameter, value, verify_standalone,
    status, message``; a run the system refused (``status`` ``unavailable``) gives a row with ``available`` False
    and its message as ``note`` (and no numbers); a run that ``failed`` on some day is used on the days it
    finished, its message as ``note``.  Per available run, paired on the day with ``base``: the change of the deviating
    player's true final cost (mean, 95 % t-interval), the same as a percentage of its truthful mean gain with the
    sign of a gain (``−mean change / mean truthful gain · 100``), the summed change of the other players' final
    costs, the change of the system cost ``total_cost`` (mean, interval), the days on which the deviation was
    profitable (:func:`profit_tolerance`), and the days on which every player ended at its standalone cost (the
    coalition did not form, or formed without a gain).  For a misreport, the closed form B-1 of SPEC §8 on each
    day (:func:`b1_change`): its mean (``b1_predicted_change``) and the largest daily gap to the measured change
    (``b1_max_abs_error``)."""
    rows: list[dict[str, Any]] = []
    for r in _rows(runs):
        row: dict[str, Any] = {"player": r.player, "family": r.family, "parameter": r.parameter,
                               "value": float(r.value) if r.parameter else math.nan,
                               "deviation": _label(r.family, r.parameter, r.value),
                               "verify_standalone": bool(r.verify_standalone), "unit": f"{currency}/day"}
        if r.status == "unavailable":
            rows.append(row | {"available": False, "note": str(r.message), "n_days": 0})
            continue
        own = _paired(days, r.point, base, "final_cost", r.player)
        sys_ = _paired(days, r.point, base, "total_cost", None)
        gain0 = _paired(days, r.point, base, "gain", r.player)["base"]
        m, lo, hi, n = _ci(own["diff"])
        sm, slo, shi, _ = _ci(sys_["diff"])
        g0 = float(gain0.mean()) if len(gain0) else math.nan
        others = [_paired(days, r.point, base, "final_cost", p)["diff"] for p in players if p != r.player]
        other_change = float(sum(o.mean() for o in others)) if others else 0.0
        dev_days = days[(days["point"] == r.point)]
        flat = dev_days.groupby("day")["gain"].apply(
            lambda g: bool(np.all(np.abs(g.to_numpy(float)) <= PROFIT_ABS)))
        b1 = (b1_change(days, base, r.player, float(r.value), bool(r.verify_standalone))
              if r.family in ("misreport", "misreport+verify") else None)
        b1_gap = (b1 - own["diff"]).dropna() if b1 is not None else pd.Series(dtype=float)
        rows.append(row | {
            "b1_predicted_change": float(b1.reindex(own.index).mean()) if b1 is not None else math.nan,
            "b1_max_abs_error": float(b1_gap.abs().max()) if len(b1_gap) else math.nan,
            "available": True, "note": str(r.message) if r.message else "", "n_days": n,
            "own_cost_change": m, "own_cost_change_ci_low": lo, "own_cost_change_ci_high": hi,
            "gain_change_pct_of_truthful_gain": (-100.0 * m / g0) if g0 and math.isfinite(g0) and g0 > 0 else math.nan,
            "truthful_gain": g0, "others_cost_change": other_change,
            "system_cost_change": sm, "system_cost_change_ci_low": slo, "system_cost_change_ci_high": shi,
            "profitable_days": int(np.sum(own["diff"].to_numpy() < -profit_tolerance(own["base"].to_numpy()))),
            "days_all_standalone": int(flat.sum()),
        })
    out = pd.DataFrame(rows, columns=list(DEVIATION_COLUMNS))
    return out.astype({c: "Int64" for c in ("n_days", "profitable_days", "days_all_standalone")})


def b1_change(days: pd.DataFrame, base: str, player: str, m: float, verify: bool) -> pd.Series:
    """The change of ``player``'s true final cost per day that SPEC §8's B-1 predicts when it alone reports
    ``Ĉ^0 = C^0 + m |C^0|`` (currency, indexed by day).

    From the baseline day: the surplus ``S = Σ gains`` (NB-2 is budget balanced) and the player's weight
    ``w = gain / S``.  The reported surplus is ``Ŝ = S + m |C^0|``; if ``Ŝ ≥ 0`` the change is ``(1 − w) m |C^0|``,
    else NB-2 rejects the coalition and the player loses its truthful gain (change ``+gain``).  Under
    ``verify_standalone`` the coordinator computes ``C^0`` itself: change 0.  NaN on a day whose baseline surplus is
    not positive (no weight is defined)."""
    b = days[days["point"] == base]
    s = b.groupby("day")["gain"].sum().astype(float)
    me = b[b["player"] == player].set_index("day").sort_index()
    if verify:
        return pd.Series(0.0, index=me.index)
    c0 = me["standalone_cost"].astype(float)
    gain = me["gain"].astype(float)
    s = s.reindex(me.index)
    w = gain / s.where(s > 0)
    s_hat = s + m * c0.abs()
    return pd.Series(np.where(s_hat >= 0, (1.0 - w) * m * c0.abs(), gain), index=me.index).where(s > 0)


def _label(family: str, parameter: str, value: Any) -> str:
    return family if not parameter else f"{family} {parameter}={float(value):g}"


def audit_table(days: pd.DataFrame, market: pd.DataFrame, base: str, players: Sequence[str],
                currency: str = "USD") -> pd.DataFrame:
    """The core and Shapley audit of the baseline (:data:`AUDIT_COLUMNS`), one row per (day, player).

    Per player its NB-2 true gain and its Shapley value of the true savings game ``s(T) = Σ_{i∈T} C^0_i − v(T)``
    (SPEC §8), and their difference; per day (repeated on its players' rows) the surplus ``S`` (the sum of the
    true gains; NB-2 is budget balanced), the largest core excess ``max_T [Σ_{i∈T} C^fin_i − v(T)]``, whether the
    allocation is in the core (1/0, as the system judged it) and the coalition with the largest excess."""
    d = days[(days["point"] == base) & days["player"].isin(list(players))]
    mk = market[market["point"] == base] if "point" in market.columns else market
    rows: list[dict[str, Any]] = []
    for day in sorted(int(x) for x in d["day"].unique()):
        g = d[d["day"] == day]
        m = mk[mk["day"] == day]
        val = dict(zip(m["variable"], m["value"].astype(float), strict=True))
        blocking = next((v[len("core_blocking["):-1] for v in val if v.startswith("core_blocking[")), "")
        surplus = float(g["gain"].astype(float).sum())
        for r in _rows(g):
            nb2, sh = float(r.gain), float(r.shapley_gain)
            rows.append({"day": day, "player": r.player, "nb2_gain": nb2, "shapley_gain": sh,
                         "nb2_minus_shapley": nb2 - sh, "surplus": surplus,
                         "core_max_excess": val.get("core_max_excess", math.nan),
                         "in_core": val.get("in_core", math.nan), "blocking_coalition": blocking,
                         "unit": currency})
    return pd.DataFrame(rows, columns=list(AUDIT_COLUMNS))


def learning_table(days: pd.DataFrame, runs: pd.DataFrame, base: str, grid: Sequence[float],
                   currency: str = "USD") -> pd.DataFrame:
    """The learning dynamics, one row per (learner, verify_standalone, day): the ``m`` it chose, the arm, its EXP3
    probability of each arm (``p_m<value>``, as drawn that day), its true gain, its gain in the truthful run on the
    same day and the difference, and the system cost change vs the truthful run.  ``runs``: the learning runs
    (``point, player, verify_standalone, status``); runs the system refused are left out."""
    pcols = [f"p_m{g:+g}" for g in grid]
    rows: list[dict[str, Any]] = []
    for r in _rows(runs):
        if r.status == "unavailable":
            continue
        own = days[(days["point"] == r.point) & (days["player"] == r.player)].set_index("day").sort_index()
        gain = _paired(days, r.point, base, "gain", r.player)
        sys_ = _paired(days, r.point, base, "total_cost", None)
        for day, x in own.iterrows():
            row: dict[str, Any] = {
                "learner": r.player, "verify_standalone": bool(r.verify_standalone), "day": int(day),
                "chosen_m": float(x.get("param_m", math.nan)), "arm": float(x.get("param_arm", math.nan)),
                "gain": float(x["gain"]),
                "truthful_gain": float(gain["base"].get(day, math.nan)),
                "gain_vs_truthful": float(gain["diff"].get(day, math.nan)),
                "system_cost_change": float(sys_["diff"].get(day, math.nan)), "unit": currency}
            row |= {c: float(x.get(f"param_p_arm{i}", math.nan)) for i, c in enumerate(pcols)}
            rows.append(row)
    return pd.DataFrame(rows, columns=[*LEARNING_COLUMNS_HEAD, *pcols])


def leave_table(days: pd.DataFrame, runs: pd.DataFrame, base: str, currency: str = "USD") -> pd.DataFrame:
    """The leave dynamics, one row per (variant, day, player): its behaviour, whether it was in the coalition
    (``joined``), whether it stayed out that day (``left``), its true final cost and gain, its truthful final cost,
    and the day's system cost vs the truthful run (paired)."""
    rows: list[dict[str, Any]] = []
    for r in _rows(runs):
        if r.status == "unavailable":
            continue
        d = days[days["point"] == r.point]
        b = days[days["point"] == base].set_index(["day", "player"])
        for x in _rows(d):
            key = (x.day, x.player)
            base_final = float(b["final_cost"].get(key, math.nan))
            base_total = float(b["total_cost"].get(key, math.nan))
            joined = float(x.joined)
            rows.append({"variant": r.variant, "day": int(x.day), "player": x.player, "behaviour": x.behaviour,
                         "joined": joined, "left": bool(joined == 0.0), "final_cost": float(x.final_cost),
                         "truthful_final_cost": base_final, "gain": float(x.gain), "total_cost": float(x.total_cost),
                         "truthful_total_cost": base_total, "system_cost_change": float(x.total_cost) - base_total,
                         "unit": currency})
    return pd.DataFrame(rows, columns=list(LEAVE_COLUMNS))


def most_profitable_lie(deviations: pd.DataFrame) -> tuple[str, float, float] | None:
    """``(player, m, mean own cost change)`` of the available plain misreport (no ``verify_standalone``) with the
    most negative mean change of the liar's true cost, if that change is below 0 and profitable on some day; else
    None (no lie pays)."""
    mis = deviations[(deviations["family"] == "misreport") & deviations["available"].astype(bool)]
    mis = mis[np.isfinite(mis["own_cost_change"].astype(float)) & (mis["profitable_days"] > 0)]
    if mis.empty:
        return None
    best = mis.loc[mis["own_cost_change"].astype(float).idxmin()]
    if not float(best["own_cost_change"]) < 0:
        return None
    return str(best["player"]), float(best["value"]), float(best["own_cost_change"])


def truthful_mean_gains(days: pd.DataFrame, base: str, players: Sequence[str]) -> dict[str, float]:
    """Each player's mean true gain over the baseline's days (currency/day)."""
    b = days[days["point"] == base]
    return {p: float(b.loc[b["player"] == p, "gain"].astype(float).mean()) for p in players}


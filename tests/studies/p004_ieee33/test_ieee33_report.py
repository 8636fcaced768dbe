"""Figures and report.md of the IEEE-33 study (studies/p004_ieee33/report.py), on synthetic study folders.

``write_study`` writes a small but internally consistent output folder in the exact schema of
``studies/p004_ieee33/run.py``: a rule-based dispatch of three clusters (PV, wind, storage, exchange, grid)
per scheme, with costs, KPIs, bargaining, bisection prices, DA table and bus voltages all derived
from that dispatch.  Knobs flip the paper's trends: ``coop_load_factor`` > 1 makes the rolling prices
draw more energy so that scheme 1 becomes dearer than schemes 2 and 3, ``tou_helps`` sets the DA
curtailment against the flat-price DA, ``voltage_ok`` moves the worst DA voltage into 13-16 h.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from studies.p004_ieee33.report import (
    FAILS,
    HOLDS,
    NOT_COMPARABLE,
    IEEE33Tables,
    Verdict,
    load_tables,
    render,
    verdicts,
)

K = 96
DT = 0.25
HOURS = (np.arange(K) * DT)  # start hour of each period
CLUSTERS = {  # leading bus, EV station bus, PV kW, wind kW, base load kW
    "C1": (2, 19, 1100.0, 1100.0, 3120.0),
    "C2": (9, 13, 1700.0, 600.0, 1175.0),
    "C3": (26, 31, 2500.0, 900.0, 920.0),
}
BUS_CLUSTER = {b: "C1" for b in [*range(1, 9), *range(19, 26)]} | {b: "C2" for b in range(9, 19)} | {
    b: "C3" for b in range(26, 34)}
TOU = np.array(["valley"] * 8 + ["peak"] * 4 + ["flat"] * 5 + ["peak"] * 4 + ["flat"] * 3)
UPSTREAM = np.array([{"valley": 0.07, "flat": 0.11, "peak": 0.16}[p] for p in TOU])
LEVELS = {"valley": 0.08, "flat": 0.105, "peak": 0.14}
DA_PRICE = np.array([LEVELS[p] for p in TOU])
ESS_P, ESS_E = 250.0, 1000.0
SCHEMES = {  # load factor, load flattening, storage power factor, exchange share
    "cooperative": (0.97, 0.30, 1.0, 1.0),
    "centralized": (1.00, 0.00, 0.8, 1.0),
    "noncooperative": (1.00, 0.00, 0.6, 0.25),
    "oracle": (0.96, 0.30, 1.2, 1.0),
}


def _depth(bus: int) -> int:
    if bus <= 18:
        return bus - 1
    if bus <= 22:
        return bus - 18
    if bus <= 25:
        return bus - 21
    return bus - 20


def _shapes() -> dict[str, np.ndarray]:
    h = HOURS + 0.125
    pv = np.clip(np.sin(np.pi * (h - 6.0) / 12.0), 0.0, None)
    wind = 0.35 + 0.15 * np.cos(2 * np.pi * h / 24.0)
    load = 0.55 + 0.4 * np.exp(-(((h - 19.0) / 3.0) ** 2)) + 0.2 * np.exp(-(((h - 10.0) / 2.0) ** 2))
    return {"pv": pv, "wind": wind, "load": load}


def _bisection(z0: np.ndarray, slope: float = 15000.0) -> tuple[list[dict[str, float | str]], np.ndarray, np.ndarray,
                                                                 int]:
    """SPEC §5.6 variant A on Z_k(pi) = z0_k - slope (pi - 0.11); returns rows, final prices, Z, iterations."""
    pi = np.full(K, 0.11)
    lo, hi = np.full(K, 0.03), np.full(K, 0.25)
    rows: list[dict[str, float | str]] = []
    d = 0
    for d in range(1, 51):
        z = z0 - slope * (pi - 0.11)
        lo = np.where(z > 1.0, pi, lo)
        hi = np.where(z < -1.0, pi, hi)
        flat = np.abs(z) <= 1.0
        lo, hi = np.where(flat, pi, lo), np.where(flat, pi, hi)
        rows += [{"kind": "bisection", "iteration": d, "period": k + 1, "hour": HOURS[k], "price": pi[k],
                  "excess_demand_kw": z[k], "lo": lo[k], "hi": hi[k]} for k in range(K)]
        new = (lo + hi) / 2.0
        done = np.max(np.abs(new - pi) / pi) <= 0.01
        pi = new
        if done:
            break
    return rows, pi, z0 - slope * (pi - 0.11), d


def _dispatch(load: dict[str, np.ndarray], pv: dict[str, np.ndarray], wind: dict[str, np.ndarray],
              ess_factor: float, xshare: float) -> dict[str, dict[str, np.ndarray]]:
    """Rule-based cluster dispatch: storage, then exchange (share of min(surplus, deficit)), then grid / curtailment."""
    out: dict[str, dict[str, np.ndarray]] = {}
    surplus, deficit = {}, {}
    for c in CLUSTERS:
        net = load[c] - pv[c] - wind[c]
        ch, dis, soc = np.zeros(K), np.zeros(K), np.zeros(K)
        s = 0.5 * ESS_E
        for k in range(K):
            pmax = ESS_P * ess_factor
            peak = 8.0 <= HOURS[k] < 10.0 or 17.0 <= HOURS[k] < 22.0 or HOURS[k] >= 22.5
            if net[k] < 0:
                ch[k] = min(pmax, -net[k], (0.9 * ESS_E - s) / (0.95 * DT))
            elif peak:
                dis[k] = min(pmax, net[k], (s - 0.1 * ESS_E) * 0.95 / DT)
            s += (0.95 * ch[k] - dis[k] / 0.95) * DT
            soc[k] = s
        resid = net + ch - dis
        surplus[c], deficit[c] = np.clip(-resid, 0, None), np.clip(resid, 0, None)
        out[c] = {"ess_charge_kw": ch, "ess_discharge_kw": dis, "soc_kwh": soc}
    s_tot = sum(surplus.values())
    d_tot = sum(deficit.values())
    x = np.minimum(s_tot, d_tot) * xshare
    for c in CLUSTERS:
        with np.errstate(divide="ignore", invalid="ignore"):
            p_out = np.where(s_tot > 0, surplus[c] / s_tot * x, 0.0)
            p_in = np.where(d_tot > 0, deficit[c] / d_tot * x, 0.0)
        curt = surplus[c] - p_out
        pv_cut = np.minimum(curt, pv[c])
        out[c] |= {"p_out_kw": p_out, "p_in_kw": p_in, "curtailment_kw": curt, "grid_buy_kw": deficit[c] - p_in,
                   "pv_kw": pv[c] - pv_cut, "wind_kw": wind[c] - (curt - pv_cut), "pv_available_kw": pv[c],
                   "wind_available_kw": wind[c], "load_kw": load[c]}
    return out


def _cluster_cost(d: dict[str, np.ndarray], up: np.ndarray) -> float:
    return float(np.sum(up * d["grid_buy_kw"] + 0.10 * d["curtailment_kw"] + 0.01 * (d["ess_charge_kw"]
                 + d["ess_discharge_kw"]) + 0.03 * d["pv_kw"]) * DT)


def write_study(out: Path, *, coop_load_factor: float = 0.97, tou_helps: bool = True, voltage_ok: bool = False,
                extra: bool = False) -> Path:
    """Write a synthetic IEEE-33 study folder (schemes, bargaining, prices, DA, timeseries, study.json)."""
    out.mkdir(parents=True, exist_ok=True)
    sh = _shapes()
    up = np.repeat(UPSTREAM, 4)
    da_held = np.repeat(DA_PRICE, 4)
    base_load = {c: v[4] * sh["load"] for c, v in CLUSTERS.items()}
    pv = {c: v[2] * sh["pv"] for c, v in CLUSTERS.items()}
    wind = {c: v[3] * sh["wind"] for c, v in CLUSTERS.items()}
    ev = {c: np.where(HOURS < 6.0, 22.0, 0.0) - np.where((HOURS >= 18.0) & (HOURS < 19.0), 11.0, 0.0)
          for c in CLUSTERS}
    z0 = sum(base_load[c] + ev[c] - pv[c] - wind[c] for c in CLUSTERS)
    bis_rows, rolling, z_final, iters = _bisection(np.asarray(z0))

    ts_parts: list[pd.DataFrame] = []
    kpis: list[dict[str, float | str]] = []
    coop_dispatch: dict[str, dict[str, np.ndarray]] = {}
    coop_load: dict[str, np.ndarray] = {}
    schemes = dict(SCHEMES)
    schemes["cooperative"] = (coop_load_factor, *SCHEMES["cooperative"][1:])

    def rows(scheme: str, entity: str, bus: int, var: str, values: np.ndarray, unit: str) -> None:
        ts_parts.append(pd.DataFrame({"scheme": scheme, "period": np.arange(1, K + 1), "bus": bus, "entity": entity,
                                      "variable": var, "value": np.asarray(values, float), "unit": unit}))

    for scheme, (lf, flat, ess_f, xshare) in schemes.items():
        price = rolling if scheme in ("cooperative", "oracle") else da_held
        load = {}
        for c in CLUSTERS:
            ta = base_load[c] * lf
            ta = ta.mean() + (ta - ta.mean()) * (1.0 - flat)
            load[c] = ta + ev[c]
        disp = _dispatch(load, pv, wind, ess_f, xshare)
        if scheme == "cooperative":
            coop_dispatch, coop_load = disp, load
        for c, (lead, ev_bus, *_r) in CLUSTERS.items():
            d = disp[c]
            for var, vals in d.items():
                rows(scheme, c, lead, var, vals, "kWh" if var == "soc_kwh" else "kW")
            rows(scheme, c, lead, "ta_load_kw", load[c] - ev[c], "kW")
            rows(scheme, c, lead, "ev_net_kw", ev[c], "kW")
            for j in (1, 2):
                rows(scheme, f"EV{ev_bus}_{j}", ev_bus, "ev_net_kw", ev[c] / 2, "kW")
                rows(scheme, f"EV{ev_bus}_{j}", ev_bus, "ev_soc_frac", 0.3 + 0.5 * np.cumsum(ev[c]) / ev[c].sum(), "-")
        tot_load = sum(load.values())
        grid = sum(disp[c]["grid_buy_kw"] for c in CLUSTERS)
        gen = sum(disp[c]["pv_kw"] + disp[c]["wind_kw"] for c in CLUSTERS)
        losses = np.asarray(0.02 * grid + 5.0, dtype=float)
        p_sub = np.asarray(grid + losses, dtype=float)
        rows(scheme, "system", 1, "price", price, "USD/kWh")
        rows(scheme, "system", 1, "p_sub_kw", p_sub, "kW")
        rows(scheme, "system", 1, "total_load_kw", tot_load, "kW")
        rows(scheme, "system", 1, "ac_losses_kw", losses, "kW")
        vmin, vmax, vmin_ac, viol, err = 9.0, 0.0, 9.0, 0.0, 0.0
        for b in range(1, 34):
            drop = _depth(b) * (0.0042 * np.asarray(tot_load) - 0.0030 * np.asarray(gen)) / 3000.0
            v = 1.0 - drop
            v_ac = v - 0.003 * _depth(b) / 17.0
            rows(scheme, "bus", b, "v_pu", v, "p.u.")
            rows(scheme, "bus", b, "v_ac_pu", v_ac, "p.u.")
            rows(scheme, "bus", b, "p_load_kw", np.full(K, 100.0), "kW")
            rows(scheme, "bus", b, "p_gen_kw", np.zeros(K), "kW")
            rows(scheme, "bus", b, "q_load_kvar", np.full(K, 50.0), "kvar")
            vmin, vmax, vmin_ac = min(vmin, v.min()), max(vmax, v.max()), min(vmin_ac, v_ac.min())
            viol += float(np.clip(0.93 - v, 0, None).sum() * DT)
            err = max(err, float(np.abs(v - v_ac).max()))
        def e(key: str, disp: dict[str, dict[str, np.ndarray]] = disp) -> float:
            return float(sum(disp[c][key].sum() for c in CLUSTERS) * DT)

        ev_energy = float(sum(np.abs(ev[c]).sum() for c in CLUSTERS) * DT)
        costs = {
            "grid_cost": float(sum((up * disp[c]["grid_buy_kw"]).sum() for c in CLUSTERS) * DT),
            "curtailment_penalty": 0.10 * e("curtailment_kw"),
            "storage_cost": 0.01 * (e("ess_charge_kw") + e("ess_discharge_kw")),
            "ev_cost": 0.01 * ev_energy,
            "pv_use_cost": 0.03 * e("pv_kw"),
            "dr_cost": 0.02 * float(sum(np.abs(load[c] - ev[c] - base_load[c]).sum() for c in CLUSTERS) * DT),
        }
        avail = e("pv_available_kw") + e("wind_available_kw")
        kpis.append({
            "scheme": scheme, "total_cost": sum(costs.values()), **costs,
            "interaction_cost": float(sum((price * disp[c]["p_in_kw"]).sum() for c in CLUSTERS) * DT),
            "curtailment_kwh": e("curtailment_kw"), "curtailment_rate": e("curtailment_kw") / avail,
            "peak_valley_kw": float(p_sub.max() - p_sub.min()), "vmin_pu": vmin, "vmax_pu": vmax, "vmin_ac_pu": vmin_ac,
            "bisection_iterations": float(iters) if scheme == "cooperative" else math.nan,
            "max_excess_demand_kw": float(np.abs(z_final).max()) if scheme == "cooperative" else math.nan,
            "solve_seconds": 1.5,
            "ev_bill": float(sum((price * ev[c]).sum() for c in CLUSTERS) * DT), "grid_kwh": e("grid_buy_kw"),
            "exchange_kwh": e("p_out_kw"), "renewable_available_kwh": avail, "voltage_violation_pu_h": viol,
            "max_ldf_ac_error_pu": err, "ac_losses_kwh": float(losses.sum() * DT),
        })
    schemes_df = pd.DataFrame(kpis)
    oracle = float(schemes_df.loc[schemes_df["scheme"] == "oracle", "total_cost"].iloc[0])
    schemes_df["gap_to_oracle_pct"] = 100.0 * (schemes_df["total_cost"] - oracle) / abs(oracle)
    if extra:
        schemes_df["unexpected_column"] = 1.0
    schemes_df.to_csv(out / "schemes.csv", index=False)

    # bargaining: C0 = the cluster alone at the cooperative loads, C* = its share of the coalition dispatch
    alone = _dispatch(coop_load, pv, wind, SCHEMES["cooperative"][2], 0.0)
    c0 = np.array([_cluster_cost(alone[c], up) for c in CLUSTERS])
    cstar = np.array([_cluster_cost(coop_dispatch[c], up) for c in CLUSTERS])
    e_out = np.array([coop_dispatch[c]["p_out_kw"].sum() * DT for c in CLUSTERS])
    e_in = np.array([coop_dispatch[c]["p_in_kw"].sum() * DT for c in CLUSTERS])
    dn = np.exp(e_out / max(e_out.max(), 1e-9) - e_in / max(e_in.max(), 1e-9))
    big_d = dn / dn.sum()
    w = big_d - 0.5 * (big_d - big_d.mean())
    surplus = max(float((c0 - cstar).sum()), 0.0)
    final = c0 - w / w.sum() * surplus
    pd.DataFrame({"cluster": list(CLUSTERS), "standalone_cost": c0, "coalition_cost": cstar, "weight": w,
                  "payment": final - cstar, "final_cost": final, "gain": c0 - final, "energy_out_kwh": e_out,
                  "energy_in_kwh": e_in}).to_csv(out / "bargaining.csv", index=False)

    price_rows = [{"kind": "day_ahead", "iteration": 0, "period": h + 1, "hour": float(h), "price": DA_PRICE[h],
                   "excess_demand_kw": math.nan, "lo": math.nan, "hi": math.nan} for h in range(24)]
    price_rows += [{"kind": "rolling", "iteration": 0, "period": k + 1, "hour": HOURS[k], "price": rolling[k],
                    "excess_demand_kw": z_final[k], "lo": math.nan, "hi": math.nan} for k in range(K)]
    pd.DataFrame(price_rows + bis_rows).to_csv(out / "prices.csv", index=False)

    def hourly(x: object) -> np.ndarray:
        return np.asarray(x, dtype=float).reshape(24, 4).mean(axis=1)

    base_h = hourly(sum(base_load.values()))
    after_h = base_h.mean() + (base_h - base_h.mean()) * 0.9
    pv_h, wind_h = hourly(sum(pv.values())), hourly(sum(wind.values()))
    surplus_h = np.clip(pv_h + wind_h - after_h - 750.0, 0, None)
    pv_kw_h = pv_h - surplus_h
    dev = 0.02 + 0.03 * np.exp(-(((np.arange(24) - 19.5) / 2.0) ** 2))
    vmax_h = np.full(24, 1.01)
    if voltage_ok:
        vmax_h[14] = 1.06
    else:
        dev = dev + 0.06 * np.exp(-(((np.arange(24) - 19.5) / 1.5) ** 2))
    da = pd.DataFrame({
        "hour": np.arange(1, 25), "period_type": TOU, "price": DA_PRICE, "upstream_price": UPSTREAM,
        "baseline_load_kw": base_h, "load_after_dr_kw": after_h, "pv_available_kw": pv_h, "pv_kw": pv_kw_h,
        "wind_available_kw": wind_h, "wind_kw": wind_h, "ess_charge_kw": np.where(surplus_h > 0, 250.0, 0.0),
        "ess_discharge_kw": np.where(TOU == "peak", 200.0, 0.0), "ev_net_kw": hourly(sum(ev.values())),
        "p_sub_kw": np.clip(after_h - pv_kw_h - wind_h, 0, None), "vmin_pu": 1.0 - dev, "vmax_pu": vmax_h,
    })
    da.to_csv(out / "day_ahead.csv", index=False)
    da_curt = float(surplus_h.sum())
    i_worst = int(np.argmax(np.maximum(dev, vmax_h - 1.0)))
    pd.concat(ts_parts, ignore_index=True).to_parquet(out / "timeseries.parquet", index=False)
    meta: dict[str, Any] = {
        "currency": "USD", "seed": 20240604, "evs_per_station": 2, "scenario": "ieee33-synthetic",
        "bisection": {"iterations": iters, "converged": True, "xi": 0.01, "iteration_bound": 10,
                      "max_abs_excess_kw": float(np.abs(z_final).max())},
        "da": {"levels": LEVELS, "costs": {"buy": 4321.0, "pv": 12.3, "om": 4.5, "dr": 7.8, "ev": 1.2},
               "curtailment_kwh": da_curt, "flat_price_curtailment_kwh": da_curt * (1.6 if tou_helps else 0.9),
               "vmin_pu": float(da["vmin_pu"].min()), "vmax_pu": float(da["vmax_pu"].max()),
               "worst_voltage_hour": i_worst + 1},
        "timings": {"da_s": 3.2, "intraday_s": {"cooperative": 20.1, "centralized": 8.0}},
        "clusters": list(CLUSTERS),
    }
    if extra:  # the shape studies/p004_ieee33/run.py writes: fleet per station bus, None where a value is undefined
        meta["evs_per_station"] = {str(v[1]): 2 for v in CLUSTERS.values()}
        meta["n_evs"] = 6
        meta["bisection"] = meta["bisection"] | {"max_abs_excess_kw": None, "p0": 0.11, "p_min": 0.03,
                                                 "p_max": 0.25}
        meta["settlement"] = {"budget_residual": 0.0, "individually_rational": True, "coalition_formed": True}
        meta["environment"] = {"python": "3.12", "highs": "1.15.1", "packages": {"pandapower": "3.5"}}
        meta["unknown_future_key"] = {"nested": [1, 2, 3]}
        meta["note"] = "synthetic"
    (out / "study.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return out


FIGURES = ("tou_prices_load", "rolling_prices", "cluster_exchange", "storage_power", "load_curves", "curtailment",
           "bisection_convergence", "voltage_profile")
TREND_KEYS = ("T1", "T2", "T3a", "T3b", "T3c", "T3d", "T4a", "T4b", "T4c", "T4d", "T5a", "T5b", "T6", "T7", "T8",
              "T9a", "T9b", "T10a", "T10b", "T11")


@pytest.fixture(scope="module")
def paper_like(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path], str]:
    out = write_study(tmp_path_factory.mktemp("ieee33_good"), voltage_ok=True, extra=True)
    figs, report = render(out)
    return out, figs, report.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def flipped(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path], str]:
    out = write_study(tmp_path_factory.mktemp("ieee33_bad"), coop_load_factor=1.3, tou_helps=False)
    figs, report = render(out)
    return out, figs, report.read_text(encoding="utf-8")


def _by_key(vs: list[Verdict]) -> dict[str, Verdict]:
    return {v.key: v for v in vs}


def test_fixture_is_internally_consistent(paper_like: tuple[Path, dict[str, Path], str]) -> None:
    out, _, _ = paper_like
    t = load_tables(out)
    s = t.schemes.set_index("scheme")
    tot = s["total_cost"].astype(float).to_dict()
    comp = s[["grid_cost", "curtailment_penalty", "storage_cost", "ev_cost", "pv_use_cost", "dr_cost"]].sum(axis=1)
    assert np.allclose(comp, s["total_cost"])
    bg = t.bargaining
    assert abs(bg["payment"].sum()) < 1e-9 and (bg["gain"] >= -1e-9).all()
    assert tot["cooperative"] < tot["centralized"] < tot["noncooperative"]
    assert tot["oracle"] == min(tot.values())
    assert set(t.prices["kind"]) == {"day_ahead", "rolling", "bisection"}
    assert len(t.prices[t.prices["kind"] == "rolling"]) == 96 and len(t.day_ahead) == 24


@pytest.mark.parametrize("case", ["paper_like", "flipped"])
def test_every_figure_is_a_nontrivial_png(case: str, request: pytest.FixtureRequest) -> None:
    out, figs, _ = request.getfixturevalue(case)
    assert set(figs) == set(FIGURES)
    for name in FIGURES:
        path = out / "figures" / f"{name}.png"
        assert path.exists() and figs[name] == path
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert width > 600 and height > 300, (name, width, height)
        assert len(data) > 20_000, (name, len(data))


def test_report_names_every_scheme_bargaining_and_trend(paper_like: tuple[Path, dict[str, Path], str]) -> None:
    out, _, text = paper_like
    for scheme in ("cooperative", "centralized", "noncooperative", "oracle"):
        assert f"| {scheme} |" in text, scheme
    assert "## Nash bargaining" in text
    for col in ("standalone_cost", "coalition_cost", "weight", "payment", "final_cost", "gain"):
        assert col in text
    for c in ("C1", "C2", "C3"):
        assert re.search(rf"- {c}: individually rational (yes|\*\*no\*\*)", text), c
    assert "budget balance: Σ payments" in text
    for key in TREND_KEYS:
        row = re.search(rf"^\| {key} \| .*\| \*\*(holds|does not hold|not comparable)\*\* \|$", text, re.M)
        assert row, f"trend {key} has no verdict row"
    for paper_value in ("17.6", "1,621.37", "1,084.38", "435.62", "-1,267.91", "-39.78", "-47.16", "≥ 73",
                        "iteration 16", "13:00–16:00"):
        assert paper_value.replace("-", "−") in text or paper_value in text, paper_value
    for img in re.findall(r"\(figures/([^)]+\.png)\)", text):
        assert (out / "figures" / img).exists(), img
    assert len(set(re.findall(r"\(figures/([^)]+\.png)\)", text))) == len(FIGURES)
    assert "unknown_future_key" not in text and "note: synthetic" in text  # extra keys tolerated
    assert "2 at bus 19, 2 at bus 13, 2 at bus 31 (6 EVs)" in text
    assert "settlement check: budget residual 0.0" in text


def test_paper_like_fixture_keeps_the_cost_trends(paper_like: tuple[Path, dict[str, Path], str]) -> None:
    out, _, _ = paper_like
    v = _by_key(verdicts(load_tables(out)))
    assert v["T1"].status == HOLDS and v["T2"].status == HOLDS
    assert v["T6"].status == HOLDS  # TOU curtails less than the flat-price DA
    assert v["T8"].status == HOLDS  # bisection converged within the bound
    assert v["T9a"].status == HOLDS and v["T9b"].status == HOLDS
    assert v["T10a"].status == HOLDS  # flattened cooperative load
    for verdict in v.values():
        assert verdict.status in (HOLDS, FAILS, NOT_COMPARABLE)
        if verdict.status != HOLDS:
            assert len(verdict.why) > 40, verdict


def test_verdicts_flip_when_the_data_flip(flipped: tuple[Path, dict[str, Path], str]) -> None:
    out, _, text = flipped
    t = load_tables(out)
    s = t.schemes.set_index("scheme")["total_cost"]
    assert s["cooperative"] > s["centralized"] and s["cooperative"] > s["noncooperative"]
    v = _by_key(verdicts(t))
    assert v["T1"].status == FAILS and v["T2"].status == FAILS
    # the reason names the driving component with its numbers and the SPEC §5.7 caveat
    assert "SPEC §5.7" in v["T1"].why and "generation (grid purchase)" in v["T1"].why
    assert "system load" in v["T1"].why and "oracle" in v["T1"].why
    assert "NB-P1" in v["T2"].why and "bargaining.csv" in v["T2"].why
    assert v["T6"].status == FAILS and "curtails in the hours starting" in v["T6"].why
    assert "above π⁰" in v["T6"].why  # the synthetic surplus hours 09-12 lie in the peak period
    assert v["T9a"].status == FAILS and "under-voltage" in v["T9a"].why
    assert v["T9b"].status == FAILS and "13:00–16:00" in v["T9b"].why
    # every 'does not hold' in the report carries a reason in the Why section
    for key, verdict in v.items():
        if verdict.status == FAILS:
            assert re.search(rf"^- \*\*{key} — does not hold\*\* \(.+\): \S", text, re.M), key
    assert re.search(r"^\| T1 \| .*\| \*\*does not hold\*\* \|$", text, re.M)


def test_component_and_curtailment_verdicts_follow_signs(paper_like: tuple[Path, dict[str, Path], str]) -> None:
    out, _, _ = paper_like
    t = load_tables(out)
    v = _by_key(verdicts(t))
    d = t.value("cooperative", "grid_cost") - t.value("centralized", "grid_cost")
    assert v["T3b"].status == (HOLDS if d < 0 else FAILS)
    d = t.value("cooperative", "curtailment_penalty") - t.value("noncooperative", "curtailment_penalty")
    assert v["T5b"].status == (HOLDS if d < 0 else FAILS)
    # the same tables with scheme 1's curtailment doubled: the penalty trend must not hold any more
    t2 = IEEE33Tables(**{**t.__dict__, "schemes": t.schemes.copy()})
    m = t2.schemes["scheme"] == "cooperative"
    t2.schemes.loc[m, "curtailment_penalty"] = 10 * t2.schemes.loc[~m, "curtailment_penalty"].max() + 1
    v2 = _by_key(verdicts(t2))
    assert v2["T5a"].status == FAILS and v2["T5b"].status == FAILS
    assert "Curtailment happens in" in v2["T5a"].why


def test_missing_schemes_are_not_comparable(paper_like: tuple[Path, dict[str, Path], str]) -> None:
    out, _, _ = paper_like
    t = load_tables(out)
    only = IEEE33Tables(**{**t.__dict__, "schemes": t.schemes[t.schemes["scheme"] == "cooperative"]})
    v = _by_key(verdicts(only))
    for key in ("T1", "T2", "T3a", "T4d", "T5a", "T5b", "T7", "T10a", "T10b"):
        assert v[key].status == NOT_COMPARABLE, key


def test_load_tables_names_missing_files_and_columns(tmp_path: Path) -> None:
    out = write_study(tmp_path / "s")
    (out / "bargaining.csv").rename(tmp_path / "b.csv")
    with pytest.raises(FileNotFoundError, match=r"bargaining\.csv"):
        load_tables(out)
    (tmp_path / "b.csv").rename(out / "bargaining.csv")

    sch = pd.read_csv(out / "schemes.csv")
    sch.drop(columns=["gap_to_oracle_pct"]).to_csv(out / "schemes.csv", index=False)
    with pytest.raises(ValueError, match=r"schemes\.csv: missing column\(s\) gap_to_oracle_pct"):
        load_tables(out)
    sch[sch["scheme"] != "cooperative"].to_csv(out / "schemes.csv", index=False)
    with pytest.raises(ValueError, match=r"schemes\.csv: no row for scheme 'cooperative'"):
        load_tables(out)
    sch.to_csv(out / "schemes.csv", index=False)

    ts = pd.read_parquet(out / "timeseries.parquet")
    ts.drop(columns=["unit"]).to_parquet(out / "timeseries.parquet", index=False)
    with pytest.raises(ValueError, match=r"timeseries\.parquet: missing column\(s\) unit"):
        load_tables(out)
    ts.to_parquet(out / "timeseries.parquet", index=False)

    pr = pd.read_csv(out / "prices.csv")
    pr.drop(columns=["lo", "hi"]).to_csv(out / "prices.csv", index=False)
    with pytest.raises(ValueError, match=r"prices\.csv: missing column\(s\) lo, hi"):
        load_tables(out)
    pr.to_csv(out / "prices.csv", index=False)
    (out / "study.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ValueError, match=r"study\.json: expected a JSON object"):
        load_tables(out)


def test_partial_time_series_degrades_gracefully(tmp_path: Path) -> None:
    out = write_study(tmp_path / "s")
    ts = pd.read_parquet(out / "timeseries.parquet")
    keep = (ts["entity"] != "bus") & (ts["scheme"] != "oracle") & (ts["variable"] != "soc_kwh")
    ts[keep].to_parquet(out / "timeseries.parquet", index=False)
    figs, report = render(out)
    assert "voltage_profile" not in figs and set(figs) == set(FIGURES) - {"voltage_profile"}
    text = report.read_text(encoding="utf-8")
    assert "voltage_profile.png" not in text
    v = _by_key(verdicts(load_tables(out)))
    assert set(v) == set(TREND_KEYS)
    # T7 needs the state of charge only to explain a failure; without it the trend is still judged
    assert v["T7"].status == HOLDS or v["T7"].why


def test_t8_holds_only_when_every_period_clears_or_is_absorbed() -> None:
    """SPEC §6.7: with the per-period outcome in study.json, T8 holds only when eq. 34 was met within the bound
    and no period is left uncleared; otherwise it fails and names the periods (as clock times) and why."""
    from studies.p004_ieee33.report import _clearing_verdict

    counts = {"cleared": 30, "absorbed": 66, "bracketed": 0, "short_at_p_max": 0, "surplus_at_p_min": 0,
              "unfinished": 0}
    ok = {"converged": True, "eq34_met": True, "upstream_supply": True, "counts": counts, "uncleared": []}
    v = _clearing_verdict("T8", "trend", "paper", ok, 3, 11, 0.01, 0.0)
    assert v.status == HOLDS and "66 absorbed by the upstream supply" in v.ours and "0 not cleared" in v.ours
    bad_counts = counts | {"cleared": 28, "surplus_at_p_min": 2}
    uncleared = [{"period": k, "status": "surplus_at_p_min", "price": 0.0302, "excess_demand_kw": -800.0,
                  "reason": "surplus -800.0 kW remains at 0.0302"} for k in (49, 50)]
    bad = ok | {"converged": False, "counts": bad_counts, "uncleared": uncleared}
    v = _clearing_verdict("T8", "trend", "paper", bad, 9, 11, 0.01, 800.0)
    assert v.status == FAILS and "2 not cleared" in v.ours and "NOT converged" in v.ours
    assert "2 periods surplus at p min (12:00–12:30)" in v.why and "surplus -800.0 kW" in v.why
    v = _clearing_verdict("T8", "trend", "paper", ok, 12, 11, 0.01, 0.0)  # converged, but beyond the bound
    assert v.status == FAILS and "more than the bound 11" in v.why

"""The IEEE-33 study end to end (studies/p004_ieee33/run.py, run_sim.py study ieee33): files, columns, acceptance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import run_sim
from market import BARGAINING_COLUMNS
from market.interfaces import CLEARING_STATUSES
from sim.systems.ieee33.results import PRICE_COLUMNS, SCHEME_COLUMNS, TIMESERIES_COLUMNS


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ieee33")
    rc = run_sim.main(["study", "ieee33", "--out", str(out), "--quiet"])
    assert rc == 0
    return out


def test_every_output_is_written(study: Path) -> None:
    for name in ("schemes.csv", "bargaining.csv", "prices.csv", "day_ahead.csv", "timeseries.parquet", "study.json",
                 "report.md"):
        assert (study / name).stat().st_size > 0, name
    figs = sorted(p.name for p in (study / "figures").glob("*.png"))
    assert len(figs) >= 8, figs
    assert not list(study.rglob("*.tmp*")), "a temporary file was left behind"


def test_schemes_table_meets_the_acceptance_points(study: Path) -> None:
    s = pd.read_csv(study / "schemes.csv")
    assert list(s.columns) == list(SCHEME_COLUMNS)
    assert list(s["scheme"]) == ["cooperative", "centralized", "noncooperative", "oracle"]
    total = s.set_index("scheme")["total_cost"]
    assert total.idxmin() == "oracle"
    assert total["cooperative"] < total["noncooperative"]
    parts = s[["grid_cost", "curtailment_penalty", "storage_cost", "ev_cost", "pv_use_cost", "dr_cost"]].sum(axis=1)
    np.testing.assert_allclose(s["total_cost"], parts, rtol=1e-9)  # CSV keeps 10 digits
    coop = s.set_index("scheme").loc["cooperative"]
    assert coop["bisection_iterations"] >= 1 and coop["max_ldf_ac_error_pu"] <= 0.01
    assert (s["curtailment_rate"].between(0, 1)).all()
    assert s.loc[s["scheme"] == "oracle", "gap_to_oracle_pct"].iloc[0] == 0.0


def test_bargaining_table_balances(study: Path) -> None:
    b = pd.read_csv(study / "bargaining.csv")
    assert list(b.columns) == list(BARGAINING_COLUMNS)
    assert list(b["cluster"]) == ["C1", "C2", "C3"]
    assert abs(b["payment"].sum()) <= 1e-6
    assert (b["gain"] >= -1e-6).all()
    np.testing.assert_allclose(b["final_cost"], b["coalition_cost"] + b["payment"], atol=1e-9)
    assert b["weight"].sum() == pytest.approx(1.0)


def test_prices_and_convergence_are_reported(study: Path) -> None:
    p = pd.read_csv(study / "prices.csv")
    assert list(p.columns) == list(PRICE_COLUMNS)
    assert (p["kind"] == "day_ahead").sum() == 24 and (p["kind"] == "rolling").sum() == 96
    bis = p[p["kind"] == "bisection"]
    meta = json.loads((study / "study.json").read_text(encoding="utf-8"))
    assert bis["iteration"].max() == meta["bisection"]["iterations"]
    clearing = meta["bisection"]["clearing"]
    assert meta["bisection"]["upstream_supply"] is True and clearing["eq34_met"] is True
    # "converged" only when every period clears or is absorbed by the upstream supply (SPEC §6.7)
    assert meta["bisection"]["converged"] is (not clearing["uncleared"])
    assert sum(clearing["counts"].values()) == 96 and clearing["counts"]["short_at_p_max"] == 0
    assert clearing["counts"]["absorbed"] > 0
    assert len(clearing["uncleared"]) == 96 - sum(clearing["counts"][s] for s in CLEARING_STATUSES)
    # the midday surplus that remains at p_min is curtailed (free disposal), so the study day clears
    assert clearing["counts"]["curtailed"] > 0 and clearing["uncleared"] == [] and meta["bisection"]["converged"]
    rolling = p[p["kind"] == "rolling"].set_index("period")
    curtailed = [k for k in rolling.index if rolling.loc[k, "price"] <= meta["bisection"]["p_min"] * 1.02]
    assert len(curtailed) == clearing["counts"]["curtailed"]
    assert (rolling.loc[curtailed, "excess_demand_kw"] < 0).all()  # a surplus at the price floor
    assert meta["bisection"]["iterations"] <= meta["bisection"]["iteration_bound"]
    # the last iteration's proposal is the final rolling price vector (eq. 34 met)
    last = bis[bis["iteration"] == bis["iteration"].max()].sort_values("period")
    final = p[p["kind"] == "rolling"].sort_values("period")
    np.testing.assert_allclose(final["price"].to_numpy(), 0.5 * (last["lo"].to_numpy() + last["hi"].to_numpy()))
    assert meta["settlement"]["individually_rational"] is True


def test_timeseries_long_format(study: Path) -> None:
    ts = pd.read_parquet(study / "timeseries.parquet")
    assert list(ts.columns) == list(TIMESERIES_COLUMNS)
    bus = ts[ts["entity"] == "bus"]
    assert set(bus["variable"]) == {"p_load_kw", "p_gen_kw", "q_load_kvar", "v_pu", "v_ac_pu"}
    assert bus["bus"].min() == 1 and bus["bus"].max() == 33
    assert bus["period"].min() == 1 and bus["period"].max() == 96
    one = bus[(bus["scheme"] == "cooperative") & (bus["variable"] == "v_pu")]
    assert len(one) == 96 * 33
    assert {"C1", "C2", "C3", "system"} <= set(ts["entity"].astype(str))
    ev = ts[ts["variable"] == "ev_soc_frac"]
    assert ev["entity"].nunique() == 60  # 20 per station
    # per period: feeder net demand = what the clusters buy upstream (exchange nets out)
    coop = ts[ts["scheme"] == "cooperative"]
    net = (coop[coop["variable"] == "p_load_kw"].groupby("period")["value"].sum()
           - coop[coop["variable"] == "p_gen_kw"].groupby("period")["value"].sum())
    buy = coop[coop["variable"] == "grid_buy_kw"].groupby("period")["value"].sum()
    np.testing.assert_allclose(net.to_numpy(), buy.to_numpy(), atol=1e-4)


def test_report_only_redraws_from_the_files(study: Path) -> None:
    report = study / "report.md"
    report.unlink()
    assert run_sim.main(["study", "ieee33", "--out", str(study), "--report-only"]) == 0
    assert "cooperative" in report.read_text(encoding="utf-8")


def test_cli_rejects_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_sim.main(["study", "ieee33", "--out", str(tmp_path), "--schemes", "cooperative,bogus"]) == 2
    assert "bogus" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_sim.main(["study", "ieee33", "--out", str(tmp_path), "--evs-per-station", "-3"])
    assert run_sim.main(["study", "ieee33", "--out", str(tmp_path / "nothing"), "--report-only"]) == 2

"""``study incentives`` end to end on IEEE-33 (real solves): two days, player C3's reduced grid, C3 learning, in this
process.  Checks what must hold on any day: SPEC §8's closed form B-1 for the misreport, nothing moves under
``verify_standalone``, the Shapley values share out the surplus, the learner's probabilities sum to 1, every file is
written; and that bad options are refused with a message naming them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from studies.incentives import IncentivesError
from studies.incentives.run import IncentivesResult, load_target, run_incentives_study


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> IncentivesResult:
    out = tmp_path_factory.mktemp("incentives")
    return run_incentives_study(out, scenario="ieee33", days=2, seed=0, quick=True, learners=["C3"],
                                deviators=["C3"], workers=1, quiet=True)


def test_every_file_is_written(study: IncentivesResult) -> None:
    for name in ("deviations.csv", "audit.csv", "learning.csv", "leave.csv", "days.csv", "runs.csv", "study.json",
                 "report.md", "figures/deviation_gain.png", "figures/core_excess.png"):
        assert (study.out / name).is_file(), name
    runs = pd.read_csv(study.out / "runs.csv")
    assert runs.loc[0, "point"] == "truthful" and runs.loc[0, "status"] == "ok"
    assert (study.out / "runs" / "truthful" / "manifest.json").is_file()
    for r in runs.itertuples():
        assert r.status == "ok" or str(r.message).startswith("not available on ieee33: "), (r.point, r.message)
    assert study.meta["timings"]["baseline_solves_per_day"] > study.meta["timings"]["solves_per_day"] > 0


def test_misreport_follows_b1_and_verify_removes_it(study: IncentivesResult) -> None:
    dev = study.deviations.set_index("deviation")
    lie = dev.loc["misreport m=-0.1"]
    assert lie["n_days"] == 2
    # the simulated liar's cost change is SPEC §8's B-1 on each day (up to the LP tolerance)
    assert lie["b1_max_abs_error"] < 1e-3
    assert lie["own_cost_change"] == pytest.approx(lie["b1_predicted_change"], abs=1e-3)
    assert lie["own_cost_change"] < 0 and lie["profitable_days"] == 2
    # budget balance: the others pay what the liar gains, the system cost does not move (P1 ignores reports)
    assert lie["others_cost_change"] == pytest.approx(-lie["own_cost_change"], abs=1e-3)
    assert lie["system_cost_change"] == pytest.approx(0.0, abs=1e-3)
    ver = dev.loc["misreport+verify m=-0.1"]
    assert abs(ver["own_cost_change"]) < 1e-6 and ver["profitable_days"] == 0


def test_audit_shapley_shares_out_the_surplus(study: IncentivesResult) -> None:
    a = study.audit
    assert sorted(a["day"].unique()) == [1, 2] and set(a["player"]) == {"C1", "C2", "C3"}
    for _, g in a.groupby("day"):
        s = float(g["surplus"].iloc[0])
        assert g["nb2_gain"].sum() == pytest.approx(s, rel=1e-9)
        assert g["shapley_gain"].sum() == pytest.approx(s, rel=1e-6, abs=1e-3)  # efficiency of the Shapley value
        excess, inside = float(g["core_max_excess"].iloc[0]), bool(g["in_core"].iloc[0])
        assert (excess <= 0.01) if inside else (excess > 0)  # the core tolerance is 1e-6 of Σ C0 (~0.01 USD)


def test_learner_rows(study: IncentivesResult) -> None:
    lt = study.learning
    assert len(lt) == 4 and set(lt["verify_standalone"]) == {False, True}
    p = lt[[c for c in lt.columns if c.startswith("p_m")]].to_numpy(float)
    assert np.allclose(p.sum(axis=1), 1.0)
    assert set(lt["chosen_m"]) <= {-0.3, -0.1, 0.0, 0.1}
    ver = lt[lt["verify_standalone"]]
    assert np.allclose(ver["gain_vs_truthful"], 0.0, atol=1e-6)


def test_bad_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(IncentivesError, match=r"--learners: C9 is not a bargaining player here; the players are "
                                              r"C1, C2, C3"):
        run_incentives_study(tmp_path, scenario=load_target("ieee33"), days=1, learners=["C9"], quiet=True)
    with pytest.raises(IncentivesError, match="days must be a whole number >= 1"):
        run_incentives_study(tmp_path, scenario="ieee33", days=0, quiet=True)

"""market.nash: contribution weights W-1…W-4 and the weighted Nash allocation NB-2 (SPEC §5.5).

NB-2 is checked against an independent numerical maximisation of NB-P2 (scipy SLSQP over the
payments with the budget and individual-rationality constraints) on hypothesis-generated instances.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from market.interfaces import Offer
from market.nash import (
    NegativeSurplusError,
    allocate,
    contribution_weights,
    exchange_energy,
    implied_exchange_price,
    nash_allocation,
    nbp2_objective,
)
from market.settlement import settle

finite = {"allow_nan": False, "allow_infinity": False}
energy_st = st.floats(0.0, 1e4, **finite)
kappa_st = st.floats(0.0, 0.999)


@st.composite
def energies(draw: st.DrawFn, min_n: int = 1, max_n: int = 8) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(min_n, max_n))
    e_out = np.array(draw(st.lists(energy_st, min_size=n, max_size=n)))
    e_in = np.array(draw(st.lists(energy_st, min_size=n, max_size=n)))
    return e_out, e_in


@st.composite
def bargaining_instances(draw: st.DrawFn, max_n: int = 6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(C0, C*, w) with a strictly positive surplus; some participants may lose in P1 (C* > C0)."""
    n = draw(st.integers(2, max_n))
    c0 = np.array(draw(st.lists(st.floats(-1e4, 1e4, **finite), min_size=n, max_size=n)))
    gains = draw(st.lists(st.floats(-1e3, 1e3, **finite), min_size=n - 1, max_size=n - 1))
    surplus = draw(st.floats(1.0, 1e3, **finite))
    g = np.array([*gains, surplus - math.fsum(gains)])
    w = np.array(draw(st.lists(st.floats(0.05, 1.0, **finite), min_size=n, max_size=n)))
    return c0, c0 - g, w


# ------------------------------------------------------------------------------ W-1


def test_exchange_energy_by_hand() -> None:
    p_ex = np.array([[100.0, -40.0, 0.0, 20.0], [-100.0, 40.0, 0.0, -20.0]])
    e_out, e_in = exchange_energy(p_ex, 0.25)
    np.testing.assert_allclose(e_out, [30.0, 10.0])
    np.testing.assert_allclose(e_in, [10.0, 30.0])
    single_out, single_in = exchange_energy([10.0, -10.0, -10.0], 1.0)
    assert float(single_out) == 10.0 and float(single_in) == 20.0


@pytest.mark.parametrize("dt", [0.0, -0.25, math.nan, math.inf])
def test_exchange_energy_rejects_bad_dt(dt: float) -> None:
    with pytest.raises(ValueError, match="dt_h"):
        exchange_energy([1.0, 2.0], dt)


def test_exchange_energy_rejects_bad_profiles() -> None:
    with pytest.raises(ValueError, match="finite"):
        exchange_energy([1.0, math.nan], 0.25)
    with pytest.raises(ValueError, match="shape"):
        exchange_energy(np.zeros((2, 2, 2)), 0.25)


# ------------------------------------------------------------------------------ W-2 … W-4


@settings(max_examples=80, deadline=None)
@given(energies(), kappa_st)
def test_weights_positive_sum_to_one_and_bounded(e: tuple[np.ndarray, np.ndarray], kappa: float) -> None:
    d, big_d, mu = contribution_weights(*e, kappa=kappa)
    assert np.all(d >= math.exp(-1) * (1 - 1e-12)) and np.all(d <= math.e * (1 + 1e-12))
    assert np.all(big_d > 0) and np.all(mu > 0)
    assert math.isclose(big_d.sum(), 1.0, abs_tol=1e-12)
    assert math.isclose(mu.sum(), 1.0, abs_tol=1e-12)


@settings(max_examples=40, deadline=None)
@given(energies())
def test_kappa_zero_gives_mu_equal_d(e: tuple[np.ndarray, np.ndarray]) -> None:
    _, big_d, mu = contribution_weights(*e, kappa=0.0)
    np.testing.assert_array_equal(mu, big_d)


@settings(max_examples=40, deadline=None)
@given(energies(min_n=2), kappa_st, kappa_st)
def test_kappa_shrinks_towards_equal_share(e: tuple[np.ndarray, np.ndarray], k1: float, k2: float) -> None:
    lo, hi = sorted((k1, k2))
    n = e[0].size
    _, big_d, mu_lo = contribution_weights(*e, kappa=lo)
    _, _, mu_hi = contribution_weights(*e, kappa=hi)
    np.testing.assert_allclose(mu_lo - 1 / n, (1 - lo) * (big_d - 1 / n), atol=1e-14)
    assert np.all(np.abs(mu_hi - 1 / n) <= np.abs(mu_lo - 1 / n) + 1e-15)


def test_weights_reward_export_and_penalise_import() -> None:
    d, _, mu = contribution_weights([30.0, 10.0, 0.0], [0.0, 0.0, 20.0], kappa=0.5)
    np.testing.assert_allclose(d, [math.e, math.exp(1 / 3), math.exp(-1)])
    assert mu[0] > mu[1] > mu[2]


def test_zero_e_max_gives_zero_ratio() -> None:
    d, _, _ = contribution_weights([10.0, 0.0], [0.0, 0.0])  # nobody imports: E_in_max = 0
    np.testing.assert_allclose(d, [math.e, 1.0])
    _, big_d, mu = contribution_weights([0.0, 0.0, 0.0], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(big_d, 1 / 3)
    np.testing.assert_allclose(mu, 1 / 3)


@pytest.mark.parametrize("kappa", [-0.1, 1.0, 1.5, math.nan])
def test_kappa_out_of_range(kappa: float) -> None:
    with pytest.raises(ValueError, match=r"kappa .* \[0, 1\)"):
        contribution_weights([1.0], [0.0], kappa=kappa)


def test_weights_reject_negative_energy_naming_participant() -> None:
    with pytest.raises(ValueError, match="E_in of C2 must be >= 0"):
        contribution_weights([1.0, 2.0], [0.0, -1.0], names=["C1", "C2"])
    with pytest.raises(ValueError, match="2 entries"):
        contribution_weights([1.0, 2.0], [0.0])
    with pytest.raises(ValueError, match="at least one"):
        contribution_weights([], [])


# ------------------------------------------------------------------------------ NB-2


def numeric_nbp2(c0: np.ndarray, c_star: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Maximise NB-P2 numerically with SLSQP; returns the payments Π.

    The optimiser works on the gains ``u_n = (C0_n − C*_n − Π_n) / S`` (an exact linear change of
    variables, scaled by S for conditioning): ``max Σ w_n ln u_n  s.t.  Σ u_n = 1, u_n ≥ 0``, which is
    NB-P2's ``Σ Π_n = 0`` and ``C0_n − C*_n − Π_n ≥ 0``.  It starts from the equal split.
    """
    g = c0 - c_star
    s = float(g.sum())
    n = g.size

    def neg_obj(u: np.ndarray) -> float:
        return float(-(w @ np.log(np.maximum(u, 1e-300))))

    def neg_jac(u: np.ndarray) -> np.ndarray:
        return -w / np.maximum(u, 1e-300)

    cons = [{"type": "eq", "fun": lambda u: np.array([u.sum() - 1.0]), "jac": lambda u: np.ones((1, n))}]
    res = minimize(
        neg_obj,
        np.full(n, 1.0 / n),
        jac=neg_jac,
        bounds=[(1e-12, None)] * n,
        constraints=cons,
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 1000},
    )
    # status 8 ("positive directional derivative") is SLSQP reaching its precision limit at the optimum;
    # whether it found the optimum is what the caller checks
    assert res.status in (0, 8), res.message
    payments = g - np.asarray(res.x) * s
    assert abs(payments.sum()) <= 1e-8 * (1.0 + np.abs(g).sum())  # the numerical solution is feasible
    return payments


@settings(max_examples=40, deadline=None)
@given(bargaining_instances())
def test_nb2_equals_numeric_optimum_of_nbp2(inst: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    c0, c_star, w = inst
    split = nash_allocation(c0, c_star, w)
    numeric = numeric_nbp2(c0, c_star, w)
    s = split.surplus
    np.testing.assert_allclose(split.payments, numeric, atol=1e-5 * s)
    # the closed form is at least as good as what the numerical optimiser found
    assert nbp2_objective(c0, c_star, w, split.payments) >= nbp2_objective(c0, c_star, w, numeric) - 1e-9


@settings(max_examples=80, deadline=None)
@given(bargaining_instances(max_n=8))
def test_nb2_budget_balance_ir_and_shares(inst: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    c0, c_star, w = inst
    split = nash_allocation(c0, c_star, w)
    assert split.coalition_formed
    assert abs(math.fsum(split.payments.tolist())) <= 1e-6
    assert np.all(split.final_costs <= c0 + 1e-9)
    np.testing.assert_allclose(c0 - split.final_costs, w / w.sum() * split.surplus, atol=1e-8)
    np.testing.assert_allclose(split.final_costs, c_star + split.payments, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(bargaining_instances(), st.floats(0.1, 10.0, **finite))
def test_equal_weights_split_surplus_equally(inst: tuple[np.ndarray, np.ndarray, np.ndarray], w0: float) -> None:
    c0, c_star, _ = inst
    split = nash_allocation(c0, c_star, np.full(c0.size, w0))
    np.testing.assert_allclose(c0 - split.final_costs, split.surplus / c0.size, atol=1e-8)


@settings(max_examples=40, deadline=None)
@given(bargaining_instances(), st.randoms(use_true_random=False))
def test_nb2_is_permutation_equivariant(inst: tuple[np.ndarray, np.ndarray, np.ndarray], rnd: object) -> None:
    c0, c_star, w = inst
    perm = np.arange(c0.size)
    rnd.shuffle(perm)  # type: ignore[attr-defined]
    a = nash_allocation(c0, c_star, w)
    b = nash_allocation(c0[perm], c_star[perm], w[perm])
    np.testing.assert_allclose(b.payments, a.payments[perm], atol=1e-8)


def test_nb2_by_hand() -> None:
    # C0 = (100, 80, 60), C* = (70, 85, 45): S = 30 + (-5) + 15 = 40; weights 0.5/0.25/0.25
    split = nash_allocation([100.0, 80.0, 60.0], [70.0, 85.0, 45.0], [2.0, 1.0, 1.0])
    np.testing.assert_allclose(split.final_costs, [80.0, 70.0, 50.0])
    np.testing.assert_allclose(split.payments, [10.0, -15.0, 5.0])
    assert split.surplus == 40.0


def test_zero_surplus_keeps_p1_plan_and_balances() -> None:
    split = nash_allocation([10.0, 10.0], [5.0, 15.0], [0.5, 0.5])
    assert split.coalition_formed and split.surplus == 0.0
    np.testing.assert_allclose(split.final_costs, [10.0, 10.0])
    np.testing.assert_allclose(split.payments, [5.0, -5.0])


def test_negative_surplus_is_the_disagreement_outcome(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="market.nash"):
        split = nash_allocation([10.0, 20.0], [12.0, 18.5], [0.3, 0.7], names=["C1", "C2"])
    assert not split.coalition_formed
    assert split.surplus == 0.0 and split.surplus_raw == pytest.approx(-0.5)
    np.testing.assert_array_equal(split.payments, [0.0, 0.0])
    np.testing.assert_array_equal(split.final_costs, [10.0, 20.0])
    assert "S = Σ(C0 − C*) = -0.5 < 0" in caplog.text and "C1" in caplog.text


def test_negative_surplus_can_raise() -> None:
    with pytest.raises(NegativeSurplusError, match="costs more than standing alone") as info:
        nash_allocation([10.0, 20.0], [12.0, 18.5], [0.3, 0.7], on_negative_surplus="raise")
    assert info.value.surplus == pytest.approx(-0.5)


def test_nash_allocation_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match="weight of C2 must be > 0"):
        nash_allocation([1.0, 2.0], [0.5, 1.0], [1.0, 0.0], names=["C1", "C2"])
    with pytest.raises(ValueError, match="coalition_costs must have 2 entries"):
        nash_allocation([1.0, 2.0], [0.5], [1.0, 1.0])
    with pytest.raises(ValueError, match="standalone_costs must be finite"):
        nash_allocation([math.inf, 2.0], [0.5, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="on_negative_surplus"):
        nash_allocation([1.0], [0.5], [1.0], on_negative_surplus="ignore")  # type: ignore[arg-type]


def test_implied_exchange_price() -> None:
    price = implied_exchange_price([3.0, -3.0, 0.0], [0.0, 30.0, 5.0], [30.0, 0.0, 5.0])
    np.testing.assert_allclose(price[:2], [0.1, 0.1])
    assert math.isnan(price[2])


# ------------------------------------------------------------------------------ allocate() on offers


def _offers(c0: np.ndarray, c_star: np.ndarray, p_ex: np.ndarray, names: list[str]) -> tuple[list[Offer], list[Offer]]:
    stand = [Offer(n, c) for n, c in zip(names, c0, strict=True)]
    coal = [Offer(n, c, exchange_kw=x) for n, c, x in zip(names, c_star, p_ex, strict=True)]
    return stand, coal


@st.composite
def offer_instances(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Random costs and CL-2-balanced exchange profiles; participants 0 and 1 are identical twins."""
    n = draw(st.integers(3, 6))
    k = draw(st.integers(1, 8))
    cost = st.floats(-1e4, 1e4, **finite)
    c0 = np.array(draw(st.lists(cost, min_size=n, max_size=n)))
    c_star = c0 - np.array(draw(st.lists(st.floats(-300.0, 1e3, **finite), min_size=n, max_size=n)))
    prof = st.lists(st.floats(-2e3, 2e3, **finite), min_size=k, max_size=k)
    p_ex = np.array([draw(prof) for _ in range(n)])
    c0[1], c_star[1], p_ex[1] = c0[0], c_star[0], p_ex[0]
    p_ex[-1] = -p_ex[:-1].sum(axis=0)
    return c0, c_star, p_ex, draw(kappa_st)


@settings(max_examples=80, deadline=None)
@given(offer_instances())
def test_allocate_properties(inst: tuple[np.ndarray, np.ndarray, np.ndarray, float]) -> None:
    c0, c_star, p_ex, kappa = inst
    names = [f"C{i + 1}" for i in range(c0.size)]
    alloc = allocate(*_offers(c0, c_star, p_ex, names), kappa=kappa)
    report = settle(alloc)  # strict: raises on budget imbalance or an IR violation
    assert report.ok and abs(report.budget_residual) <= 1e-6
    assert np.all(alloc.weight > 0) and math.isclose(alloc.weight.sum(), 1.0, abs_tol=1e-12)
    # symmetric participants get symmetric outcomes
    for field in ("weight", "payment", "final_cost", "gain", "energy_out_kwh", "energy_in_kwh"):
        v = getattr(alloc, field)
        assert math.isclose(v[0], v[1], rel_tol=1e-12, abs_tol=1e-9), field
    if alloc.coalition_formed:
        # Pareto efficiency: the final costs add up to the coalition (P1) total
        assert math.isclose(alloc.final_cost.sum(), c_star.sum(), rel_tol=1e-12, abs_tol=1e-6)
    else:
        np.testing.assert_array_equal(alloc.final_cost, c0)


def test_allocate_matches_by_name_and_orders_like_standalone() -> None:
    stand = [Offer("A", 100.0), Offer("B", 50.0)]
    coal = [Offer("B", 60.0, exchange_kw=[-40.0, -40.0]), Offer("A", 70.0, exchange_kw=[40.0, 40.0])]
    alloc = allocate(stand, coal, kappa=0.0)
    assert alloc.participants == ("A", "B")
    np.testing.assert_allclose(alloc.energy_out_kwh, [20.0, 0.0])
    np.testing.assert_allclose(alloc.energy_in_kwh, [0.0, 20.0])
    d = np.array([math.e, math.exp(-1)])
    np.testing.assert_allclose(alloc.weight, d / d.sum())
    np.testing.assert_allclose(alloc.gain, alloc.weight * 20.0)


def test_allocate_rejected_coalition_describes_standalone_plans() -> None:
    stand = [Offer("A", 10.0), Offer("B", 20.0)]
    coal = [Offer("A", 12.0, exchange_kw=[5.0]), Offer("B", 18.5, exchange_kw=[-5.0])]
    alloc = allocate(stand, coal)
    assert not alloc.coalition_formed and alloc.surplus_raw == pytest.approx(-0.5)
    np.testing.assert_array_equal(alloc.coalition_cost, [10.0, 20.0])
    np.testing.assert_array_equal(alloc.payment, [0.0, 0.0])
    np.testing.assert_array_equal(alloc.energy_out_kwh, [0.0, 0.0])
    np.testing.assert_allclose(alloc.weight, [0.5, 0.5])
    assert settle(alloc).ok
    with pytest.raises(NegativeSurplusError):
        allocate(stand, coal, on_negative_surplus="raise")


def test_allocate_warns_on_unbalanced_exchange(caplog: pytest.LogCaptureFixture) -> None:
    stand = [Offer("A", 10.0), Offer("B", 20.0)]
    coal = [Offer("A", 8.0, exchange_kw=[5.0, 0.0]), Offer("B", 19.0, exchange_kw=[-4.0, 0.0])]
    with caplog.at_level(logging.WARNING, logger="market.nash"):
        allocate(stand, coal)
    assert "not balanced (CL-2)" in caplog.text and "period 1" in caplog.text


def test_allocate_rejects_inconsistent_offers() -> None:
    stand = [Offer("A", 10.0), Offer("B", 20.0)]
    with pytest.raises(ValueError, match=r"missing coalition offers: \['B'\]"):
        allocate(stand, [Offer("A", 9.0, exchange_kw=[0.0])])
    with pytest.raises(ValueError, match="coalition offer of 'B' has no exchange_kw"):
        allocate(stand, [Offer("A", 9.0, exchange_kw=[0.0]), Offer("B", 9.0)])
    with pytest.raises(ValueError, match="coalition offer of 'B' covers 2 periods"):
        allocate(stand, [Offer("A", 9.0, exchange_kw=[0.0]), Offer("B", 9.0, exchange_kw=[0.0, 0.0])])
    with pytest.raises(ValueError, match=r"coalition offer of 'B' has dt_h = 1\.0"):
        allocate(stand, [Offer("A", 9.0, exchange_kw=[0.0]), Offer("B", 9.0, exchange_kw=[0.0], dt_h=1.0)])
    with pytest.raises(ValueError, match="standalone offer of 'A' has non-zero exchange"):
        allocate([Offer("A", 10.0, exchange_kw=[1.0]), Offer("B", 20.0)], [])
    with pytest.raises(ValueError, match="standalone offers repeat participants"):
        allocate([Offer("A", 10.0), Offer("A", 20.0)], [])
    with pytest.raises(ValueError, match="coalition offers repeat participant 'A'"):
        allocate(stand, [Offer("A", 9.0, exchange_kw=[0.0]), Offer("A", 9.0, exchange_kw=[0.0])])
    with pytest.raises(ValueError, match="kappa"):
        allocate(stand, [Offer("A", 9.0, exchange_kw=[0.0]), Offer("B", 9.0, exchange_kw=[0.0])], kappa=1.0)

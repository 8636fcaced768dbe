"""market.pricing: TOU helpers, the price-elasticity response (SPEC §3.6c) and bisection prices (SPEC §5.6)."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market.interfaces import CLEARING_STATUSES
from market.pricing import (
    DEFAULT_CUT_ELASTICITY,
    DEFAULT_SELF_ELASTICITY,
    DEFAULT_TOU_PARTITION,
    bisection_iteration_bound,
    bisection_prices,
    curtailable_elasticity_matrix,
    load_after_response,
    period_values,
    price_response,
    relative_price_change,
    repeat_to_grid,
    shiftable_elasticity_matrix,
    tou_prices,
    upstream_supply_kw,
)

finite = {"allow_nan": False, "allow_infinity": False}

# ------------------------------------------------------------------------------ TOU


def test_default_partition_is_three_blocks_of_eight_hours() -> None:
    assert len(DEFAULT_TOU_PARTITION) == 24
    assert {label: DEFAULT_TOU_PARTITION.count(label) for label in set(DEFAULT_TOU_PARTITION)} == {
        "valley": 8,
        "peak": 8,
        "flat": 8,
    }
    prices = tou_prices({"peak": 0.16, "flat": 0.11, "valley": 0.07}, DEFAULT_TOU_PARTITION)
    assert prices[0] == 0.07 and prices[8] == 0.16 and prices[12] == 0.11 and prices[17] == 0.16
    assert prices[21] == 0.11 and prices[23] == 0.11


def test_tou_prices_reject_bad_input() -> None:
    with pytest.raises(ValueError, match=r"period 2 has label 'mid'; TOU levels define only \['peak', 'valley'\]"):
        tou_prices({"peak": 0.2, "valley": 0.05}, ["valley", "mid"])
    with pytest.raises(ValueError, match="TOU level 'valley' must be a finite price > 0"):
        tou_prices({"peak": 0.2, "valley": 0.0}, ["valley"])
    with pytest.raises(ValueError, match="not the string"):
        tou_prices({"p": 0.2}, "ppp")
    with pytest.raises(ValueError, match="at least one period"):
        tou_prices({"p": 0.2}, [])


def test_period_values_and_grid_helpers() -> None:
    e = period_values(DEFAULT_SELF_ELASTICITY, DEFAULT_TOU_PARTITION)
    assert e[0] == -0.05 and e[8] == -0.10 and e[12] == -0.08
    np.testing.assert_array_equal(repeat_to_grid([1.0, 2.0], 4), [1.0] * 4 + [2.0] * 4)
    with pytest.raises(ValueError, match="steps_per_period"):
        repeat_to_grid([1.0], 0)
    np.testing.assert_allclose(relative_price_change([0.22, 0.055], 0.11), [1.0, -0.5])
    with pytest.raises(ValueError, match="ref_prices must be > 0"):
        relative_price_change([0.1, 0.1], [0.1, 0.0])


# ------------------------------------------------------------------------------ elasticity matrices


@st.composite
def shiftable_cases(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = draw(st.integers(2, 24))
    base = np.array(draw(st.lists(st.floats(0.1, 1e3, **finite), min_size=t, max_size=t)))
    e = np.array(draw(st.lists(st.floats(-0.5, 0.0, **finite), min_size=t, max_size=t)))
    prices = np.array(draw(st.lists(st.floats(0.03, 0.25, **finite), min_size=t, max_size=t)))
    return base, e, prices


@settings(max_examples=80, deadline=None)
@given(shiftable_cases())
def test_energy_conserving_matrix(case: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    base, e, prices = case
    mat = shiftable_elasticity_matrix(base, e)
    np.testing.assert_array_equal(np.diag(mat), e)
    off = mat[~np.eye(base.size, dtype=bool)]
    assert np.all(off >= 0)  # cross elasticities are non-negative (004 eq. 5)
    np.testing.assert_allclose(base @ mat, 0.0, atol=1e-12 * base.sum())  # Σ_t P0_t E_tj = 0 for all j
    d_tran, _ = price_response(base, np.zeros_like(base), mat, np.zeros_like(mat), prices, 0.11)
    assert abs(d_tran.sum()) <= 1e-9 * base.sum()  # A14 holds for any price vector


@settings(max_examples=60, deadline=None)
@given(shiftable_cases(), st.data())
def test_own_price_response_is_negative(case: tuple[np.ndarray, np.ndarray, np.ndarray], data: st.DataObject) -> None:
    base, e, _ = case
    j = data.draw(st.integers(0, base.size - 1))
    e[j] = data.draw(st.floats(-0.5, -0.01))
    mat = shiftable_elasticity_matrix(base, e)
    ref = np.full(base.size, 0.11)
    prices = ref.copy()
    prices[j] = 0.2  # only period j gets dearer
    d_tran, _ = price_response(base, np.zeros_like(base), mat, np.zeros_like(mat), prices, ref)
    assert d_tran[j] < 0
    assert np.all(np.delete(d_tran, j) >= 0)  # the load moves to the other periods
    prices[j] = 0.05  # cheaper: load moves into period j
    d_tran, _ = price_response(base, np.zeros_like(base), mat, np.zeros_like(mat), prices, ref)
    assert d_tran[j] > 0


def test_shiftable_matrix_by_hand() -> None:
    mat = shiftable_elasticity_matrix([1.0, 2.0, 1.0], [-0.1, -0.2, 0.0])
    expected = np.array(
        [
            [-0.1, 0.2 * 2 / 2, 0.0],
            [0.1 * 1 / 3, -0.2, 0.0],
            [0.1 * 1 / 3, 0.2 * 2 / 2, 0.0],
        ]
    )
    np.testing.assert_allclose(mat, expected)


def test_shiftable_matrix_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="self_elasticity of period 2 must be <= 0"):
        shiftable_elasticity_matrix([1.0, 1.0], [-0.1, 0.1])
    with pytest.raises(ValueError, match=r"period 1 has elasticity -0\.1 but no shiftable base load in any other"):
        shiftable_elasticity_matrix([1.0, 0.0], [-0.1, -0.1])
    with pytest.raises(ValueError, match=r"base_load .* must be >= 0"):
        shiftable_elasticity_matrix([1.0, -1.0], [-0.1, -0.1])
    with pytest.raises(ValueError, match="self_elasticity must have 2 entries"):
        shiftable_elasticity_matrix([1.0, 1.0], [-0.1])
    # a single period with zero elasticity is fine (nothing to shift)
    np.testing.assert_array_equal(shiftable_elasticity_matrix([5.0], [0.0]), [[0.0]])


def test_curtailable_response() -> None:
    e_cut = period_values(DEFAULT_CUT_ELASTICITY, ["peak", "flat", "valley", "peak"])
    mat = curtailable_elasticity_matrix(e_cut)
    np.testing.assert_array_equal(mat, np.diag([-0.08, -0.05, 0.0, -0.08]))
    base = np.array([100.0, 100.0, 100.0, 100.0])
    prices = np.array([0.22, 0.22, 0.22, 0.055])  # ρ = (1, 1, 1, -0.5)
    _, p_cut = price_response(np.zeros(4), base, np.zeros((4, 4)), mat, prices, 0.11)
    np.testing.assert_allclose(p_cut, [8.0, 5.0, 0.0, 0.0])  # cheaper power never adds curtailable load
    # EL-5 default cap: never more than the curtailable load itself
    _, p_cut = price_response(np.zeros(4), base, np.zeros((4, 4)), mat * 100, prices, 0.11)
    np.testing.assert_allclose(p_cut, [100.0, 100.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="cut_elasticity of period 1 must be <= 0"):
        curtailable_elasticity_matrix([0.1])


def test_price_response_per_bus_and_load_after_response() -> None:
    base_t = np.array([[10.0, 20.0, 30.0], [5.0, 5.0, 0.0]])
    base_c = np.array([[4.0, 4.0, 4.0], [2.0, 2.0, 2.0]])
    e = np.array([-0.1, -0.08, -0.05])
    e_tran = np.stack([shiftable_elasticity_matrix(b, e) for b in base_t])
    e_cut = np.stack([curtailable_elasticity_matrix([-0.08, -0.05, 0.0])] * 2)
    prices = np.array([0.2, 0.11, 0.07])
    d_tran, p_cut = price_response(base_t, base_c, e_tran, e_cut, prices, 0.11)
    assert d_tran.shape == (2, 3) and p_cut.shape == (2, 3)
    np.testing.assert_allclose(d_tran.sum(axis=1), 0.0, atol=1e-12)
    for b in range(2):
        single, cut = price_response(base_t[b], base_c[b], e_tran[b], e_cut[b], prices, 0.11)
        np.testing.assert_allclose(d_tran[b], single)
        np.testing.assert_allclose(p_cut[b], cut)
    fixed = np.ones((2, 3))
    load = load_after_response(fixed, base_t, base_c, d_tran, p_cut)
    np.testing.assert_allclose(load.sum(axis=1), (fixed + base_t + base_c).sum(axis=1) - p_cut.sum(axis=1))


def test_price_response_rejects_shape_mismatch() -> None:
    with pytest.raises(ValueError, match=r"base_shiftable must have shape \(3,\)"):
        price_response(np.ones(2), np.ones(3), np.zeros((3, 3)), np.zeros((3, 3)), np.full(3, 0.1), 0.11)
    with pytest.raises(ValueError, match="elasticity matrix of the curtailable load must have shape"):
        price_response(np.ones(3), np.ones(3), np.zeros((3, 3)), np.zeros((2, 2)), np.full(3, 0.1), 0.11)
    with pytest.raises(ValueError, match="base_curtailable must be finite and >= 0"):
        price_response(np.ones(3), -np.ones(3), np.zeros((3, 3)), np.zeros((3, 3)), np.full(3, 0.1), 0.11)


# ------------------------------------------------------------------------------ bisection


def test_iteration_bound_defaults() -> None:
    # (0.25 − 0.03) / (0.01 · 0.03) = 733.3 → log2 = 9.52 → 10
    assert bisection_iteration_bound(0.03, 0.25, 0.01) == 10
    assert bisection_iteration_bound(0.1, 0.1001, 0.5) == 1
    assert bisection_iteration_bound(0.03, 0.25, 0.01, upstream_supply=True) == 11  # one evaluation at c^buy
    with pytest.raises(ValueError, match="p_min must be a finite price > 0"):
        bisection_iteration_bound(0.0, 0.25, 0.01)
    with pytest.raises(ValueError, match="p_max must be a finite price > p_min"):
        bisection_iteration_bound(0.03, 0.03, 0.01)
    with pytest.raises(ValueError, match="xi"):
        bisection_iteration_bound(0.03, 0.25, 0.0)


@st.composite
def bracket_params(draw: st.DrawFn) -> tuple[float, float, float, float]:
    p_min = draw(st.floats(0.01, 0.1))
    p_max = p_min + draw(st.floats(0.01, 0.5))
    xi = draw(st.floats(0.001, 0.1))
    p0 = draw(st.floats(p_min, p_max))
    return p_min, p_max, xi, p0


def assert_brackets_shrink(
    trace_lo: np.ndarray, trace_hi: np.ndarray, prices: np.ndarray, p_min: float, p_max: float
) -> None:
    lo = np.vstack([np.full(trace_lo.shape[1], p_min), trace_lo])
    hi = np.vstack([np.full(trace_hi.shape[1], p_max), trace_hi])
    assert np.all(np.diff(lo, axis=0) >= 0), "lo must be non-decreasing"
    assert np.all(np.diff(hi, axis=0) <= 0), "hi must be non-increasing"
    assert np.all(trace_lo <= prices) and np.all(prices <= trace_hi)
    assert np.all(lo[:-1] <= prices) and np.all(prices <= hi[:-1])  # evaluated inside the previous bracket


@settings(max_examples=60, deadline=None)
@given(bracket_params(), st.integers(1, 8), st.data())
def test_bisection_finds_root_of_linear_excess_demand(
    params: tuple[float, float, float, float], k: int, data: st.DataObject
) -> None:
    p_min, p_max, xi, p0 = params
    b = np.array(data.draw(st.lists(st.floats(10.0, 1e4), min_size=k, max_size=k)))
    root = np.array(data.draw(st.lists(st.floats(p_min, p_max), min_size=k, max_size=k)))
    a = b * root  # Z_k(p) = a_k − b_k p, decreasing, root inside the bracket

    prices, trace = bisection_prices(lambda p: a - b * p, k, p0=p0, p_min=p_min, p_max=p_max, xi=xi, tol_z=0.0)
    assert trace.eq34_met
    # not pinned to an end of the bracket: eq. 34 stops once the last half-step moved the price by <= xi, which
    # leaves a bracket [p_min, hi] with hi up to p_min / (1 - 2 xi) (and [lo, p_max] with lo >= p_max / (1 + 2 xi))
    # whose far end was never evaluated, so a root closer to an end than that cannot be told from none
    inside = (root > p_min / (1 - 2 * xi)) & (root < p_max * (1 - 2 * xi))
    assert all(trace.status[j] in CLEARING_STATUSES for j in np.flatnonzero(inside))  # an inner root clears
    assert trace.iterations <= bisection_iteration_bound(p_min, p_max, xi)
    assert np.all(np.abs(prices - root) <= xi / (1 - 2 * xi) * root + 1e-15)
    np.testing.assert_array_equal(prices, trace.final_prices)
    assert_brackets_shrink(trace.lo, trace.hi, trace.prices, p_min, p_max)
    assert np.all(trace.lo <= root + 1e-15) and np.all(root <= trace.hi + 1e-15)  # the root stays bracketed


@settings(max_examples=60, deadline=None)
@given(bracket_params(), st.integers(1, 8), st.integers(0, 2**32 - 1), st.floats(0.0, 5.0))
def test_bisection_brackets_shrink_and_bound_holds_for_any_excess_demand(
    params: tuple[float, float, float, float], k: int, seed: int, tol_z: float
) -> None:
    """Even for an erratic (non-monotone, cross-coupled) Z the brackets only shrink and the bound holds."""
    p_min, p_max, xi, p0 = params
    rng = np.random.default_rng(seed)

    def z(p: np.ndarray) -> np.ndarray:
        return rng.normal(0.0, 10.0, size=k) + 50.0 * (p[::-1] - p.mean())

    _, trace = bisection_prices(z, k, p0=p0, p_min=p_min, p_max=p_max, xi=xi, tol_z=tol_z)
    assert trace.eq34_met and len(trace.status) == k
    assert trace.converged == (not trace.uncleared_periods)
    assert trace.iterations <= bisection_iteration_bound(p_min, p_max, xi)
    assert trace.max_rel_change[-1] <= xi and np.all(trace.max_rel_change[:-1] > xi)
    assert_brackets_shrink(trace.lo, trace.hi, trace.prices, p_min, p_max)


def test_bisection_stays_at_the_bounds_when_no_root() -> None:
    xi, p_min, p_max = 0.01, 0.03, 0.25
    prices, trace = bisection_prices(lambda p: np.array([100.0, -100.0]), 2)
    assert trace.eq34_met and not trace.converged  # eq. 34 met, but neither period clears (SPEC §6.7)
    assert trace.status == ("short_at_p_max", "surplus_at_p_min") and trace.uncleared_periods == [1, 2]
    assert "+100.0 kW remains" in trace.reasons[0] and "-100.0 kW remains" in trace.reasons[1]
    assert p_max - prices[0] <= xi * p_max  # Z(p_max) > 0: the price climbs to p_max
    assert prices[1] - p_min <= xi / (1 - 2 * xi) * p_min  # Z(p_min) < 0: it falls to p_min
    np.testing.assert_array_equal(trace.hi[:, 0], p_max)
    np.testing.assert_array_equal(trace.lo[:, 1], p_min)


def test_bisection_settles_within_tolerance_at_once() -> None:
    prices, trace = bisection_prices(lambda p: np.array([0.5, -0.9, 0.0]), 3, tol_z=1.0)
    assert trace.converged and trace.iterations == 1
    assert trace.status == ("cleared",) * 3 and trace.reasons == ("",) * 3
    np.testing.assert_array_equal(prices, 0.11)
    np.testing.assert_array_equal(trace.lo, trace.hi)
    assert trace.max_abs_excess_kw == 0.9


def test_bisection_defaults_and_trace_frames() -> None:
    a, b = np.array([150.0, 300.0]), np.array([1000.0, 2000.0])  # roots 0.15 and 0.15
    prices, trace = bisection_prices(lambda p: a - b * p, 2)
    assert trace.converged and trace.iterations <= 10 and trace.xi == 0.01 and trace.tol_z == 1.0
    np.testing.assert_allclose(prices, 0.15, rtol=0.011)
    frame = trace.to_frame()
    assert list(frame.columns) == ["iteration", "period", "price", "excess_demand_kw", "lo", "hi"]
    assert len(frame) == 2 * trace.iterations and frame["iteration"].max() == trace.iterations
    assert frame["period"].tolist()[:2] == [1, 2]
    it = trace.to_iteration_frame()
    assert list(it.columns) == ["iteration", "max_rel_change", "max_abs_excess_kw", "max_bracket_width"]
    assert it["max_bracket_width"].is_monotonic_decreasing


def test_bisection_reports_non_convergence(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="market.pricing"):
        _, trace = bisection_prices(lambda p: 100.0 - 1000.0 * p, 4, max_iter=2)
    assert not trace.converged and not trace.eq34_met and trace.iterations == 2
    assert set(trace.status) == {"unfinished"} and "iteration limit" in trace.reasons[0]
    assert "did not converge in 2 iterations" in caplog.text


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_periods": 0}, "n_periods must be a positive integer"),
        ({"p_min": -0.01}, "p_min must be a finite price > 0"),
        ({"p_max": 0.02}, "p_max must be a finite price > p_min"),
        ({"xi": 0.0}, r"xi \(eq. 34"),
        ({"max_iter": 0}, r"max_iter \(D_max\)"),
        ({"tol_z": -1.0}, "tol_z must be"),
        ({"p0": 0.3}, r"p0 of period 1 must lie in \[p_min, p_max\]"),
        ({"p0": [0.1, 0.1]}, r"p0 must be one price or 3 prices"),
    ],
)
def test_bisection_rejects_bad_parameters(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"excess_demand": lambda p: np.zeros(3), "n_periods": 3} | kwargs
    with pytest.raises(ValueError, match=match):
        bisection_prices(**args)  # type: ignore[arg-type]


def test_bisection_rejects_bad_excess_demand() -> None:
    with pytest.raises(ValueError, match=r"excess_demand returned shape \(2,\) at iteration 1, expected \(3,\)"):
        bisection_prices(lambda p: np.zeros(2), 3)
    with pytest.raises(ValueError, match="excess_demand returned nan for period 2 at iteration 1"):
        bisection_prices(lambda p: np.array([1.0, math.nan]), 2)


# ------------------------------------------------------------------------------ upstream supply (SPEC §6.7)


def test_supply_step_deficit_clears_at_the_upstream_price_surplus_below_it() -> None:
    """Closed form: Z_k(p) = a_k − b p (kW) with the grid offering up to P_max at c_k.

    Period 1: a deficit at c (a − b c = 1010 − 1000 = 10 kW > 0, within P_max) → clears at c exactly, absorbed,
    the grid takes 10 kW.  Period 2: a surplus at c (a − b c < 0), root a/b = 0.05 < c → clears below c at
    the root, the grid supplies nothing.  Period 3: the deficit exceeds P_max = 300 kW at every price
    (3000 − 2500 − 300 > 0 at p_max) → short at p_max.  Period 4: deficit 400 kW > P_max at c, so the price
    rises until the load falls to local supply + P_max: (1400 − 300)/b = 0.11, a cleared period above c.
    Without the supply step (variant A as written) period 1 clears at its local root 0.101 > c.
    """
    c = np.array([0.10, 0.10, 0.10, 0.10])
    a = np.array([1010.0, 500.0, 3000.0, 1400.0])
    b = 10_000.0

    def z(p: np.ndarray) -> np.ndarray:
        return a - b * p

    prices, trace = bisection_prices(z, 4, p0=0.11, upstream_price=c, upstream_max_kw=300.0, tol_z=0.5)
    assert prices[0] == 0.10 and trace.status[0] == "absorbed"
    assert trace.upstream_kw[-1, 0] == pytest.approx(1010.0 - 1000.0)  # the grid covers the local deficit at c
    assert abs(prices[1] - 0.05) <= 0.011 * 0.05 and trace.status[1] in ("cleared", "bracketed")
    assert trace.upstream_kw[-1, 1] == 0.0 and prices[1] < c[1]
    assert trace.status[2] == "short_at_p_max" and trace.uncleared_periods == [3]
    assert "+" in trace.reasons[2] and "upstream supply" in trace.reasons[2]
    assert abs(prices[3] - 0.11) <= 0.011 * 0.11 and trace.status[3] in ("cleared", "bracketed")
    assert trace.upstream_kw[-1, 3] == 300.0
    assert trace.eq34_met and not trace.converged
    assert trace.iterations <= bisection_iteration_bound(0.03, 0.25, 0.01, upstream_supply=True)
    summary = trace.clearing_summary()
    assert summary["counts"]["absorbed"] == 1 and [u["period"] for u in summary["uncleared"]] == [3]  # type: ignore[index]
    plain, plain_trace = bisection_prices(z, 4, p0=0.11, tol_z=0.5)
    assert 0.25 - plain[2] <= 0.01 * 0.25 and plain_trace.status[2] == "short_at_p_max"
    assert abs(plain[0] - 0.101) <= 0.011 * 0.101  # period 1 clears above c^buy, at the local root


def test_free_disposal_clears_a_surplus_at_p_min_only_up_to_what_can_be_curtailed() -> None:
    """Closed form: Z_k(p) = a_k − b p with a surplus at every allowed price (a − b p_min < 0).

    Period 1: surplus 200 − 300 = −100 kW at p_min = 0.03 with 500 kW of curtailable generation → curtailed at
    p_min (free disposal: p_min with Z ≤ 0 is an equilibrium), counted as cleared.  Period 2: surplus 100 kW but
    only 40 kW can be curtailed → still surplus_at_p_min, not cleared.  Period 3 clears at its root 0.1.  Without
    ``curtailable_kw`` period 1 is surplus_at_p_min as well.
    """
    a = np.array([200.0, 200.0, 1000.0])
    b = 10_000.0

    def z(p: np.ndarray) -> np.ndarray:
        return a - b * p

    prices, trace = bisection_prices(z, 3, p0=0.11, tol_z=0.5, curtailable_kw=np.array([500.0, 40.0, 0.0]))
    assert trace.status[0] == "curtailed" and prices[0] <= 0.03 * 1.011
    assert trace.excess_demand_kw[-1, 0] == pytest.approx(200.0 - b * trace.prices[-1, 0])
    assert trace.status[1] == "surplus_at_p_min" and trace.uncleared_periods == [2]
    assert abs(prices[2] - 0.1) <= 0.011 * 0.1 and trace.status[2] in ("cleared", "bracketed")
    assert trace.eq34_met and not trace.converged
    _, ok = bisection_prices(z, 3, p0=0.11, tol_z=0.5, curtailable_kw=np.array([500.0, 500.0, 0.0]))
    assert ok.converged and ok.periods_with("curtailed") == [1, 2]
    _, plain = bisection_prices(z, 3, p0=0.11, tol_z=0.5)
    assert plain.status[:2] == ("surplus_at_p_min", "surplus_at_p_min") and not plain.converged
    with pytest.raises(ValueError, match="curtailable_kw must be finite"):
        bisection_prices(z, 3, curtailable_kw=np.array([1.0, math.nan, 0.0]))


def test_supply_step_values() -> None:
    z = np.array([50.0, 50.0, 50.0, -20.0, 500.0])
    p = np.array([0.09, 0.10, 0.11, 0.10, 0.10])
    got = upstream_supply_kw(z, p, np.full(5, 0.10), 100.0)
    np.testing.assert_array_equal(got, [0.0, 50.0, 100.0, 0.0, 100.0])  # below, at, above; no sale; capped


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"upstream_max_kw": 10.0}, "upstream_max_kw was given without upstream_price"),
        ({"upstream_price": 0.3, "upstream_max_kw": 1.0}, r"upstream_price of period 1 must lie in the price bracket"),
        ({"upstream_price": [0.1, 0.1], "upstream_max_kw": 1.0}, "upstream_price must be one price or 3 prices"),
        ({"upstream_price": 0.1, "upstream_max_kw": -1.0}, "upstream_max_kw of period 1 must be a finite power"),
        ({"upstream_price": 0.1}, "upstream_price needs upstream_max_kw"),
    ],
)
def test_supply_step_rejects_bad_parameters(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        bisection_prices(lambda p: np.zeros(3), 3, **kwargs)  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.data())
def test_supply_step_linear_market_clears_at_min_of_root_and_upstream_price(k: int, data: st.DataObject) -> None:
    """Z_k = b_k (r_k − p): with ample upstream supply at c_k the clearing price is min(r_k, c_k)."""
    b = np.array(data.draw(st.lists(st.floats(10.0, 1e4), min_size=k, max_size=k)))
    r = np.array(data.draw(st.lists(st.floats(0.035, 0.245), min_size=k, max_size=k)))
    c = np.array(data.draw(st.lists(st.sampled_from([0.07, 0.11, 0.16]), min_size=k, max_size=k)))
    prices, trace = bisection_prices(lambda p: b * (r - p), k, upstream_price=c, upstream_max_kw=1e7, tol_z=0.0)
    assert trace.converged and trace.iterations <= bisection_iteration_bound(0.03, 0.25, 0.01, upstream_supply=True)
    target = np.minimum(r, c)
    assert np.all(np.abs(prices - target) <= 0.01 / (1 - 0.02) * target + 1e-15)
    absorbed = np.array([s == "absorbed" for s in trace.status])
    np.testing.assert_array_equal(prices[absorbed], c[absorbed])
    assert np.all(r[absorbed] >= c[absorbed])

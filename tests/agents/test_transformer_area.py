"""Transformer-area agent of agents/transformer_area.py (SPEC §3.6c, §5.1, §5.6): the price-elasticity
response on the DA and intraday grids, its DR cost and reactive load, the cached intraday matrices, the
DA builder EL-2…EL-5 against the closed-form response, and bad input.

Hand-computed values are worked out in the comment beside them.
"""

from __future__ import annotations

import mesa
import numpy as np
import pyomo.environ as pyo
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import agents.transformer_area as ta_mod
from agents.devices.core import RT_HORIZON, Horizon
from agents.milp import HighsModel
from agents.transformer_area import (
    DemandResponse,
    TransformerAreaAgent,
    TransformerAreaParams,
    build_elastic_load,
)
from market.pricing import (
    DEFAULT_CUT_ELASTICITY,
    DEFAULT_SELF_ELASTICITY,
    DEFAULT_TOU_PARTITION,
    curtailable_elasticity_matrix,
    period_values,
    price_response,
    shiftable_elasticity_matrix,
)

TOL = 1e-9

# ------------------------------------------------------------------------------------ tiny case (3 hours)

PART3 = ("peak", "flat", "valley")
H3 = Horizon(3, 1.0)


def params3(**kw: object) -> TransformerAreaParams:
    base: dict[str, object] = dict(
        name="TA16", bus=16, fixed_kw=[50.0, 50.0, 50.0], shiftable_kw=[10.0, 20.0, 30.0],
        curtailable_kw=[10.0, 10.0, 10.0], partition=PART3, reference_price=0.10, q_per_p=0.5,
    )
    base.update(kw)
    return TransformerAreaParams(**base)  # type: ignore[arg-type]


def agent(params: TransformerAreaParams, horizon: Horizon = H3) -> TransformerAreaAgent:
    return TransformerAreaAgent(mesa.Model(rng=0), params, horizon)


def daily_params(name: str = "TA23", bus: int = 23) -> TransformerAreaParams:
    """A DR bus on the 24-hour grid: 90 kW bus load + a 500 kW-peak DR aggregate split 50/30/20."""
    h = np.arange(24)
    dr = 500 * (0.55 + 0.45 * np.sin((h - 6) / 24 * 2 * np.pi).clip(0, None))
    return TransformerAreaParams.with_dr_aggregate(name, bus, np.full(24, 90.0), dr, q_per_p=50 / 90)


def test_hand_computed_day_ahead_response() -> None:
    # ρ = (π - 0.10)/0.10 = (0.5, -0.5, 1.0) for π = (0.15, 0.05, 0.20).
    # Shiftable matrix (P0 = 10, 20, 30; e = -0.10, -0.08, -0.05): off-diagonal of column j is -e_j P0_j / Σ_{l≠j} P0_l
    #   = 0.1*10/50 = 0.02, 0.08*20/40 = 0.04, 0.05*30/30 = 0.05.
    #   ΔP1 = 10 (-0.1*0.5 + 0.04*(-0.5) + 0.05*1) = -0.2;  ΔP2 = 20 (0.02*0.5 + 0.04 + 0.05) = 2.0;
    #   ΔP3 = 30 (0.02*0.5 - 0.04*0.5 - 0.05) = -1.8;  sum 0.
    # Curtailable (diag -0.08, -0.05, 0): ΔPcut = 10*(-0.04) = -0.4 -> cut 0.4; 10*(+0.025) -> cut 0; 0.
    # Load = 50 + P0 + ΔP + 10 - cut = (69.4, 82.0, 88.2); Q = 0.5 P.
    # DR cost (Δt = 1): 0.02 * (0.2 + 2.0 + 1.8) + 0.05 * 0.4 = 0.08 + 0.02 = 0.10.
    r = agent(params3()).day_ahead_response([0.15, 0.05, 0.20])
    np.testing.assert_allclose(r.delta_shift_kw, [-0.2, 2.0, -1.8], atol=TOL)
    np.testing.assert_allclose(r.cut_kw, [0.4, 0.0, 0.0], atol=TOL)
    np.testing.assert_allclose(r.load_kw, [69.4, 82.0, 88.2], atol=TOL)
    np.testing.assert_allclose(r.q_kvar, 0.5 * r.load_kw, atol=TOL)
    assert r.shift_cost == pytest.approx(0.08) and r.cut_cost == pytest.approx(0.02)
    assert r.dr_cost == pytest.approx(0.10)
    assert r.energy_kwh == pytest.approx(69.4 + 82.0 + 88.2)


def test_reference_prices_give_no_response() -> None:
    a = agent(daily_params(), RT_HORIZON)
    p = a.params
    r = a.day_ahead_response(np.full(24, p.reference_price))
    np.testing.assert_allclose(r.load_kw, p.base_load_kw, atol=TOL)
    assert r.dr_cost == 0.0
    ri = a.respond(np.full(96, p.reference_price))  # no DA plan yet: intraday reference = π^0
    np.testing.assert_allclose(ri.load_kw, np.repeat(p.base_load_kw, 4), atol=TOL)


def test_dr_split_50_30_20() -> None:
    p = TransformerAreaParams.with_dr_aggregate("TA1", 1, np.zeros(24), np.full(24, 100.0))
    np.testing.assert_allclose([p.fixed_kw[0], p.shiftable_kw[0], p.curtailable_kw[0]], [50, 30, 20])
    with pytest.raises(ValueError, match="split must be three shares"):
        TransformerAreaParams.with_dr_aggregate("TA1", 1, np.zeros(24), np.ones(24), split=(0.5, 0.5, 0.5))


prices24 = st.lists(st.floats(0.03, 0.25), min_size=24, max_size=24)
prices96 = st.lists(st.floats(0.03, 0.25), min_size=96, max_size=96)


@settings(max_examples=40, deadline=None)
@given(prices=prices24)
def test_shiftable_energy_is_conserved_for_any_da_prices(prices: list[float]) -> None:
    r = DA_AGENT.day_ahead_response(prices)
    assert abs(r.delta_shift_kw.sum()) <= 1e-9 * max(1.0, np.abs(r.delta_shift_kw).sum())
    assert np.all(r.cut_kw >= 0) and np.all(r.cut_kw <= r.curtailable_base_kw + TOL)
    assert r.dr_cost >= 0


@settings(max_examples=40, deadline=None)
@given(prices=prices96)
def test_shiftable_energy_is_conserved_for_any_intraday_prices(prices: list[float]) -> None:
    r = ID_AGENT.respond(prices)
    assert abs(r.delta_shift_kw.sum()) <= 1e-9 * max(1.0, np.abs(r.delta_shift_kw).sum())
    # energy conservation of the shiftable part: the day's energy changes only by the curtailment
    assert r.load_kw.sum() == pytest.approx((r.fixed_kw + r.shiftable_base_kw + r.curtailable_base_kw
                                             - r.cut_kw).sum(), rel=1e-12)


DA_AGENT = agent(daily_params(), RT_HORIZON)
ID_AGENT = agent(daily_params(), RT_HORIZON)
ID_AGENT.set_day_ahead(period_values({"valley": 0.08, "flat": 0.11, "peak": 0.15}, DEFAULT_TOU_PARTITION))


@pytest.mark.parametrize("k", [0, 10, 40, 70, 95])
def test_own_price_effect_is_negative_intraday(k: int) -> None:
    ref = ID_AGENT.da_prices.repeat(4)
    prices = ref.copy()
    prices[k] *= 1.3
    r = ID_AGENT.respond(prices)
    base = ID_AGENT.respond(ref)
    assert r.delta_shift_kw[k] < 0  # own-price elasticity < 0
    assert r.load_kw[k] < base.load_kw[k]
    others = np.delete(r.load_kw - base.load_kw, k)
    assert np.all(others >= -TOL) and others.sum() > 0  # the shifted load goes elsewhere (cross ≥ 0)


@pytest.mark.parametrize("hour", [0, 9, 14])
def test_own_price_effect_is_negative_day_ahead(hour: int) -> None:
    prices = np.full(24, 0.11)
    prices[hour] = 0.15
    r = DA_AGENT.day_ahead_response(prices)
    assert r.delta_shift_kw[hour] < 0
    assert r.load_kw[hour] < DA_AGENT.params.base_load_kw[hour]


def test_intraday_uses_half_elasticities_relative_to_da_prices() -> None:
    a = agent(daily_params(), RT_HORIZON)
    p = a.params
    da = period_values({"valley": 0.08, "flat": 0.11, "peak": 0.16}, DEFAULT_TOU_PARTITION)
    da_resp = a.set_day_ahead(da)
    assert a.da_response is da_resp
    # DA response: full elasticities relative to π^0
    e_self = period_values(DEFAULT_SELF_ELASTICITY, DEFAULT_TOU_PARTITION)
    e_cut = period_values(DEFAULT_CUT_ELASTICITY, DEFAULT_TOU_PARTITION)
    d_tran, cut = price_response(p.shiftable_kw, p.curtailable_kw, shiftable_elasticity_matrix(p.shiftable_kw, e_self),
                                 curtailable_elasticity_matrix(e_cut), da, p.reference_price)
    np.testing.assert_allclose(da_resp.delta_shift_kw, d_tran, atol=TOL)
    np.testing.assert_allclose(da_resp.cut_kw, cut, atol=TOL)
    # intraday at the DA prices: no further change, the load is the DA-adjusted load held onto the 96 grid
    r0 = a.respond(da.repeat(4))
    np.testing.assert_allclose(r0.load_kw, da_resp.load_kw.repeat(4), atol=1e-9)
    assert r0.dr_cost == 0.0
    # intraday at other prices: 0.5 x elasticities, base = DA-adjusted parts, ρ relative to π^DA_{h(k)}
    rng = np.random.default_rng(3)
    pi = rng.uniform(0.05, 0.2, 96)
    base_tran = (p.shiftable_kw + d_tran).repeat(4)
    base_cut = (p.curtailable_kw - cut).repeat(4)
    d2, c2 = price_response(base_tran, base_cut, shiftable_elasticity_matrix(base_tran, 0.5 * e_self.repeat(4)),
                            curtailable_elasticity_matrix(0.5 * e_cut.repeat(4)), pi, da.repeat(4))
    r = a.respond(pi)
    np.testing.assert_allclose(r.delta_shift_kw, d2, atol=1e-9)
    np.testing.assert_allclose(r.cut_kw, c2, atol=1e-9)
    np.testing.assert_allclose(r.load_kw, p.fixed_kw.repeat(4) + base_tran + d2 + base_cut - c2, atol=1e-9)
    # DR cost on the 15-min grid: Δt = 0.25 h
    assert r.dr_cost == pytest.approx(0.25 * (0.02 * np.abs(d2).sum() + 0.05 * c2.sum()))
    # an explicit reference per hour is held onto the grid; a scalar is broadcast
    np.testing.assert_allclose(a.respond(pi, da).load_kw, r.load_kw)
    r_flat = a.respond(pi, 0.11)
    assert not np.allclose(r_flat.load_kw, r.load_kw)


def test_intraday_matrix_built_once_and_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = ta_mod.shiftable_elasticity_matrix

    def counting(base: np.ndarray, e: np.ndarray) -> np.ndarray:
        calls.append(np.asarray(base).size)
        return real(base, e)

    monkeypatch.setattr(ta_mod, "shiftable_elasticity_matrix", counting)
    a = agent(daily_params(), RT_HORIZON)
    assert calls == [24]  # the DA matrix at construction; the intraday one when first needed
    rng = np.random.default_rng(0)
    for _ in range(5):
        a.respond(rng.uniform(0.05, 0.2, 96))
        a.day_ahead_response(rng.uniform(0.05, 0.2, 24))
    assert calls == [24, 96]
    a.set_day_ahead(np.full(24, 0.12))  # a new DA plan changes the base: one new 96 x 96 matrix
    assert calls == [24, 96, 96]


def test_ta_without_dr_has_fixed_load_only() -> None:
    p = TransformerAreaParams(name="TA2", bus=2, fixed_kw=np.full(24, 100.0), shiftable_kw=np.zeros(24),
                              curtailable_kw=np.zeros(24), q_per_p=0.6)
    a = agent(p, RT_HORIZON)
    r = a.respond(np.random.default_rng(1).uniform(0.03, 0.25, 96))
    np.testing.assert_allclose(r.load_kw, 100.0)
    np.testing.assert_allclose(r.q_kvar, 60.0)
    assert r.dr_cost == 0.0


def test_respond_rejects_wrong_grid() -> None:
    a = agent(daily_params(), RT_HORIZON)
    with pytest.raises(ValueError, match="respond\\(\\) expects 96 intraday prices, got 24"):
        a.respond(np.full(24, 0.11))
    with pytest.raises(ValueError, match="prices must have 24 entries"):
        a.day_ahead_response(np.full(96, 0.11))
    with pytest.raises(ValueError, match="ref_prices must be > 0"):
        a.respond(np.full(96, 0.11), np.zeros(96))
    with pytest.raises(ValueError, match="ref_prices must have 96 entries"):
        a.respond(np.full(96, 0.11), np.ones(7))
    with pytest.raises(ValueError, match="not a multiple"):
        agent(daily_params(), Horizon(50, 24 / 50))
    with pytest.raises(ValueError, match=r"covers 12\.0 h but the base grid 24\.0 h"):
        agent(daily_params(), Horizon(48, 0.25))


# ------------------------------------------------------------------------------------ DA builder


def da_model(params: TransformerAreaParams, prices: np.ndarray, sense: int = pyo.minimize) -> tuple[
        pyo.ConcreteModel, HighsModel]:
    """EL-2…EL-5 with the prices as (fixed) decision variables; the objective pushes the cut both ways."""
    h = Horizon(params.n_periods, params.dt_h)
    m = pyo.ConcreteModel()
    m.pi = pyo.Var(h.periods, bounds=(0.5 * params.reference_price, 2 * params.reference_price))
    for t in h.periods:
        m.pi[t].fix(float(prices[t - 1]))
    m.ta = pyo.Block()
    a = agent(params, Horizon(params.n_periods * 4, params.dt_h / 4))
    a.build_block(m.ta, h, lambda t: m.pi[t])
    # minimising: the cost alone; maximising the cut: the binaries must still force the behavioural value
    m.obj = pyo.Objective(expr=m.ta.cost if sense == pyo.minimize else
                          -pyo.quicksum(m.ta.cut_kw[t] for t in h.periods) + m.ta.cost)
    hm = HighsModel(m, "da", relax_integrality=False)
    hm.solve()
    return m, hm


@pytest.mark.parametrize("sense", [pyo.minimize, pyo.maximize])
def test_elastic_load_block_equals_closed_form_response(sense: int) -> None:
    p = daily_params()
    rng = np.random.default_rng(7)
    prices = rng.uniform(0.06, 0.2, 24)
    m, hm = da_model(p, prices, sense)
    r = agent(p, RT_HORIZON).day_ahead_response(prices)
    T = list(range(1, 25))
    cut = hm.values(m.ta.cut_kw)
    np.testing.assert_allclose(cut, r.cut_kw, atol=1e-6)
    x = {id(v): hm.value(v) for v in m.component_data_objects(pyo.Var)}
    for v in m.component_data_objects(pyo.Var):  # load the solution to evaluate the expressions
        v.set_value(x[id(v)], skip_validation=True)
    np.testing.assert_allclose([pyo.value(m.ta.d_shift_kw[t]) for t in T], r.delta_shift_kw, atol=1e-6)
    np.testing.assert_allclose([pyo.value(m.ta.load_kw[t]) for t in T], r.load_kw, atol=1e-6)
    np.testing.assert_allclose([pyo.value(m.ta.q_kvar[t]) for t in T], r.q_kvar, atol=1e-6)
    assert pyo.value(m.ta.cost) == pytest.approx(r.dr_cost, abs=1e-6)
    assert abs(sum(pyo.value(m.ta.d_shift_kw[t]) for t in T)) <= 1e-9  # A14 as an identity


def test_elastic_load_build_counts() -> None:
    # 24 periods: cut and |shift| vars 2 x 24; binaries only where M > 0 (curtailable load with e_cut < 0:
    # the 16 peak and flat hours); rows: 3 x 16 ([.]^+) + 24 (shift limit) + 2 x 24 (|shift|)
    p = daily_params()
    m = pyo.ConcreteModel()
    m.pi = pyo.Var(range(1, 25), initialize=0.11)
    m.ta = pyo.Block()
    h = build_elastic_load(m.ta, p, Horizon(24, 1.0), lambda t: m.pi[t])
    assert len(m.ta.cut_kw) == 24 and len(m.ta.abs_shift_kw) == 24
    assert len(m.ta.cut_on) == 16
    assert sum(1 for _ in m.ta.component_data_objects(pyo.Constraint)) == 3 * 16 + 24 + 2 * 24
    assert set(h.outputs) == {"p_load_kw", "q_load_kvar", "dr_shift_kw", "dr_cut_kw"}
    with pytest.raises(ValueError, match="horizon has 96 periods, the TA's base grid 24"):
        build_elastic_load(pyo.Block(concrete=True), p, RT_HORIZON, lambda t: 0.11)
    with pytest.raises(TypeError, match="price function"):
        agent(p, RT_HORIZON).build_block(pyo.Block(concrete=True), Horizon(24, 1.0), [0.11] * 24)


# ------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(name=""), r"TransformerAreaParams\.name"),
        (dict(bus=0), r"TransformerAreaParams\('TA16'\)\.bus must be a bus number >= 1"),
        (dict(fixed_kw=[1.0, 2.0]), r"fixed_kw must have 3 entries"),
        (dict(shiftable_kw=[1.0, -2.0, 3.0]), r"TransformerAreaParams\('TA16'\): shiftable_kw must be >= 0"),
        (dict(curtailable_kw=[1.0, float("nan"), 3.0]), r"curtailable_kw must be finite"),
        (dict(self_elasticity={"peak": 0.1, "flat": -0.1, "valley": -0.1}),
         r"\.self_elasticity\['peak'\] must be a finite elasticity <= 0"),
        (dict(cut_elasticity={"peak": -0.1}),
         r"\.cut_elasticity has no value for the period labels \['flat', 'valley'\]"),
        (dict(partition=()), r"\.partition must be a non-empty sequence"),
        (dict(dt_h=0.0), r"\.dt_h must be a finite number > 0"),
        (dict(q_per_p=-0.5), r"\.q_per_p must be a finite number >= 0"),
        (dict(cost_cut_per_kwh=float("inf")), r"\.cost_cut_per_kwh"),
        (dict(reference_price=0.0), r"\.reference_price must be a finite number > 0"),
    ],
)
def test_bad_params_name_the_field(kw: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        params3(**kw)


def test_response_is_a_frozen_record() -> None:
    r = agent(params3()).day_ahead_response([0.1, 0.1, 0.1])
    assert isinstance(r, DemandResponse)
    with pytest.raises(AttributeError):
        r.shift_cost = 1.0  # type: ignore[misc]

"""The Param index of agents/milp.py (templates, long sums, coefficient rows evaluated as arrays, Pyomo fallbacks):
after random Param changes pushed by ``update_params``, the live HiGHS LP equals a fresh compile's entry for entry;
rows of one family share their compiled templates; importing the agents layer stays light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyomo.core as pyo
import pytest

from agents import milp
from agents.milp import LONG_SUM, VECTOR_COEFFICIENTS, HighsModel

ROOT = Path(__file__).resolve().parents[2]
N = 40  # periods: sums of N terms are long sums, a row of N symbolic coefficients is evaluated as arrays
assert N > LONG_SUM and N > VECTOR_COEFFICIENTS


def rich_model() -> pyo.ConcreteModel:
    """An LP whose data are all mutable Params, in every form the index translates:

    - ``bal[t]``: ``x[t] + y[t] == demand[t] * scale - pv[t] / eff`` (products, a division, a negation);
    - ``budget``: ``Σ_t price[t] * dt * x[t] <= cap + Σ_t price[t] * demand[t]`` (N symbolic coefficients, evaluated
      as arrays, and a bound that is a long sum of Param products);
    - ``energy``: ``Σ_t y[t] + Σ_t demand[t] * dt >= need`` (a body constant that is a long sum);
    - ``curve[t]``: ``y[t] <= exp(-scale) * 50 + cap ** 0.5`` (a function Pyomo evaluates, a power);
    - bounds ``x[t] <= xmax[t]`` and the objective ``Σ (price[t] * dt) x[t] + Σ (-price[t] / eff) y[t] * (-1)``.
    """
    m = pyo.ConcreteModel()
    m.T = pyo.RangeSet(N)
    rng = np.random.default_rng(3)
    m.demand = pyo.Param(m.T, initialize=dict(enumerate(rng.uniform(5, 10, N), start=1)), mutable=True)
    m.pv = pyo.Param(m.T, initialize=dict(enumerate(rng.uniform(0, 4, N), start=1)), mutable=True)
    m.price = pyo.Param(m.T, initialize=dict(enumerate(rng.uniform(0.1, 0.9, N), start=1)), mutable=True)
    m.xmax = pyo.Param(m.T, initialize=30.0, mutable=True)
    m.scale = pyo.Param(initialize=1.1, mutable=True)
    m.eff = pyo.Param(initialize=0.9, mutable=True)
    m.cap = pyo.Param(initialize=400.0, mutable=True)
    m.need = pyo.Param(initialize=100.0, mutable=True)
    dt = 0.25
    m.x = pyo.Var(m.T, bounds=lambda mm, t: (0, mm.xmax[t]))
    m.y = pyo.Var(m.T, bounds=(0, 40))
    m.bal = pyo.Constraint(m.T, rule=lambda mm, t: mm.x[t] + mm.y[t] == mm.demand[t] * mm.scale - mm.pv[t] / mm.eff)
    m.budget = pyo.Constraint(expr=sum(m.price[t] * dt * m.x[t] for t in m.T)
                              <= m.cap + sum(m.price[t] * m.demand[t] for t in m.T))
    m.energy = pyo.Constraint(expr=sum(m.y[t] for t in m.T) + sum(m.demand[t] * dt for t in m.T) >= m.need)
    m.curve = pyo.Constraint(m.T, rule=lambda mm, t: mm.y[t] <= pyo.exp(-mm.scale) * 50 + mm.cap ** 0.5)
    m.obj = pyo.Objective(expr=sum(m.price[t] * dt * m.x[t] for t in m.T)
                          + sum(-(-m.price[t] / m.eff) * m.y[t] for t in m.T))
    return m


def live_lp(hm: HighsModel) -> dict[str, np.ndarray]:
    """The LP HiGHS holds, column-wise, as arrays."""
    lp = hm._highs.getLp()
    a = lp.a_matrix_
    n = lp.num_col_
    dense = np.zeros((lp.num_row_, n))
    for j in range(n):
        for k in range(a.start_[j], a.start_[j + 1]):
            dense[a.index_[k], j] += a.value_[k]
    return {"c": np.asarray(lp.col_cost_), "col_lb": np.asarray(lp.col_lower_),
            "col_ub": np.asarray(lp.col_upper_), "row_lb": np.asarray(lp.row_lower_),
            "row_ub": np.asarray(lp.row_upper_), "A": dense, "offset": np.asarray([lp.offset_])}


def perturb(m: pyo.ConcreteModel, rng: np.random.Generator) -> None:
    for t in m.T:
        m.demand[t] = float(rng.uniform(5, 10))
        m.pv[t] = float(rng.uniform(0, 4))
        m.price[t] = float(rng.uniform(0.1, 0.9))
        m.xmax[t] = float(rng.uniform(20, 40))
    m.scale = float(rng.uniform(1.0, 1.2))
    m.eff = float(rng.uniform(0.85, 0.95))
    m.cap = float(rng.uniform(300, 500))
    m.need = float(rng.uniform(50, 150))


def test_pushed_params_give_the_lp_a_fresh_compile_gives() -> None:
    m = rich_model()
    milp._FACTORIES.clear()
    hm = HighsModel(m, "rich")
    hm.track_params()
    index = hm._pindex
    assert index is not None
    assert any(isinstance(fc, milp._VectorTerms) for _, _, fc, _ in index.rows.values())  # budget's prices
    assert any("(P)" in t for t in milp._FACTORIES)  # a long sum (budget's bound, energy's constant)
    assert any("V(" in t for t in milp._FACTORIES)  # exp(-scale), left to Pyomo
    assert hm.solve().status == "optimal"
    rng = np.random.default_rng(11)
    for _ in range(3):
        perturb(m, rng)
        hm.update_params()
        fresh = HighsModel(m, "fresh")
        live, ref = live_lp(hm), live_lp(fresh)
        for key in ref:
            np.testing.assert_allclose(live[key], ref[key], rtol=0, atol=0, err_msg=key)
        assert hm.solve().objective == pytest.approx(fresh.solve().objective, rel=1e-12)


def test_rows_of_a_family_share_their_compiled_templates() -> None:
    def family(n: int) -> pyo.ConcreteModel:
        m = pyo.ConcreteModel()
        m.T = pyo.RangeSet(n)
        m.p = pyo.Param(m.T, initialize=lambda mm, t: 1.0 + t, mutable=True)
        m.q = pyo.Param(m.T, initialize=lambda mm, t: 2.0 * t, mutable=True)
        m.x = pyo.Var(m.T, bounds=(0, None))
        m.row = pyo.Constraint(m.T, rule=lambda mm, t: 0.5 * t * mm.x[t] >= mm.p[t] * 1.25 - mm.q[t] / 3.0)
        m.obj = pyo.Objective(expr=sum(m.x[t] for t in m.T))
        return m

    milp._FACTORIES.clear()
    HighsModel(family(10), "ten").track_params()
    few = len(milp._FACTORIES)
    HighsModel(family(500), "five hundred").track_params()
    assert 1 <= few <= 3
    assert len(milp._FACTORIES) == few  # 500 rows: no template more than 10 rows needed


def test_importing_the_agents_layer_skips_pyomo_side_imports() -> None:
    code = ("import sys, agents, agents.milp, scipy.sparse, matplotlib; "
            "print(sorted(m for m in ('scipy.stats', 'matplotlib.pyplot', 'pyomo.environ') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr

"""The mechanism audit (market/audit.py, SPEC §8): Shapley value and core of the savings game."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from market import Offer, allocate
from market.audit import coalitions, core_excess, shapley_values

P = ["a", "b", "c"]
C0 = {"a": 10.0, "b": 10.0, "c": 10.0}
#: s(ab) = 5, s(ac) = 5, s(bc) = 0, s(abc) = 9
V = {frozenset("ab"): 15.0, frozenset("ac"): 15.0, frozenset("bc"): 20.0, frozenset("abc"): 21.0}


def test_shapley_of_a_three_player_savings_game_by_hand() -> None:
    phi = shapley_values(P, C0, V)
    # φ_a = 1/6·5 + 1/6·5 + 1/3·(9 − 0) ; φ_b = 1/6·5 + 1/6·0 + 1/3·(9 − 5) = φ_c
    assert phi["a"] == pytest.approx(5 / 6 + 5 / 6 + 3)
    assert phi["b"] == pytest.approx(5 / 6 + 4 / 3) and phi["c"] == pytest.approx(phi["b"])
    assert math.fsum(phi.values()) == pytest.approx(9.0)  # efficient


def test_a_dummy_player_gets_nothing_and_symmetric_players_share_equally() -> None:
    """A player who adds nothing to any coalition (v(T ∪ {d}) = v(T) + C0_d) has Shapley value 0; the rest is the
    Shapley value of the game without it; symmetric players get equal shares."""
    c0 = dict(C0, d=7.0)
    v = dict(V)
    for t in list(V) + [frozenset(x) for x in P]:
        v[t | {"d"}] = (V[t] if t in V else C0[next(iter(t))]) + 7.0
    phi = shapley_values([*P, "d"], c0, v)
    base = shapley_values(P, C0, V)
    assert phi["d"] == pytest.approx(0.0, abs=1e-12)
    assert all(phi[p] == pytest.approx(base[p]) for p in P)
    sym = {t: 30.0 * len(t) - (len(t) - 1) ** 2 for t in coalitions(P, proper=False) if len(t) > 1}
    phi = shapley_values(P, C0, sym)
    assert phi["a"] == pytest.approx(phi["b"]) == pytest.approx(phi["c"])


def test_core_excess_finds_the_blocking_coalition() -> None:
    inside = {"a": 6.0, "b": 7.5, "c": 7.5}  # 21 in all; a+b = 13.5 <= 15, a+c <= 15, b+c = 15 <= 20
    e, t = core_excess(inside, V, C0)
    assert e <= 0
    outside = {"a": 1.0, "b": 10.0, "c": 10.0}  # b and c alone do better together (20 < 20 + ...)? 20 = 20: edge
    e, t = core_excess(outside, V, C0)
    assert e == pytest.approx(0.0) and t in (frozenset("bc"), frozenset("b"), frozenset("c"))
    bad = {"a": 0.0, "b": 12.0, "c": 9.0}  # b pays more than alone: {b} blocks with excess 2
    e, t = core_excess(bad, V, C0)
    assert e == pytest.approx(2.0) and t == frozenset("b")


def test_nb2_of_two_players_is_in_the_core_and_equals_shapley_with_equal_weights() -> None:
    """Two players: NB-2 is individually rational, hence in the core; with equal weights it is the equal split,
    which is the Shapley value of a two-player game."""
    p_ex = np.zeros((2, 4))
    alloc = allocate([Offer("a", 10.0), Offer("b", 30.0)],
                     [Offer("a", 8.0, p_ex[0]), Offer("b", 26.0, p_ex[1])], kappa=0.0)
    final = dict(zip(alloc.participants, alloc.final_cost.tolist(), strict=True))
    v = {frozenset("ab"): 34.0}
    assert core_excess(final, v, {"a": 10.0, "b": 30.0})[0] <= 1e-12
    phi = shapley_values(["a", "b"], {"a": 10.0, "b": 30.0}, v)
    assert [10.0 - final["a"], 30.0 - final["b"]] == pytest.approx([phi["a"], phi["b"]])


def test_the_audit_refuses_more_than_eight_players() -> None:
    with pytest.raises(ValueError, match="exceeds 8"):
        coalitions([str(i) for i in range(9)])
    assert len(coalitions(P)) == 6 and len(coalitions(P, proper=False)) == 7
    assert all(len(t) < 3 for t in coalitions(P)) and set(itertools.chain(*coalitions(P))) == set(P)

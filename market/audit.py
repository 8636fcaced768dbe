"""The mechanism audit of a settlement (SPEC §8): the savings game, its core and its Shapley value — numpy only.

For players ``N`` with true standalone costs ``C^0_i`` and coalition optima ``v(T)`` (the least total cost of the
players in ``T`` when they cooperate and everyone else stands alone), the savings game is
``s(T) = Σ_{i∈T} C^0_i − v(T)`` (``s`` of a single player is 0).

* **Core**: an allocation of final costs ``C^fin`` (with ``Σ_N C^fin = v(N)``) is in the core iff no coalition could
  do better on its own, ``Σ_{i∈T} C^fin_i ≤ v(T)`` for every ``T``.  :func:`core_excess` returns the largest excess
  ``max_T [Σ_{i∈T} C^fin_i − v(T)]`` over the proper coalitions and the coalition that attains it (blocking
  when the excess is positive).
* **Shapley value** of the savings game: ``φ_i = Σ_{T ⊆ N∖{i}} |T|! (|N| − |T| − 1)! / |N|! · (s(T ∪ {i}) − s(T))``,
  the reference allocation of the surplus ``s(N)`` (:func:`shapley_values`; efficient: ``Σ φ = s(N)``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence

#: The largest number of players whose 2^N coalitions the audit enumerates (SPEC §8: |N| ≤ 8).
MAX_PLAYERS = 8


def coalitions(players: Sequence[str], proper: bool = True) -> list[frozenset[str]]:
    """Every non-empty coalition of ``players`` (without the grand coalition when ``proper``), by size."""
    n = len(players)
    if n > MAX_PLAYERS:
        raise ValueError(f"the audit enumerates 2^N coalitions; N = {n} exceeds {MAX_PLAYERS}")
    out = [frozenset(c) for k in range(1, n + 1) for c in itertools.combinations(players, k)]
    return [c for c in out if len(c) < n] if proper else out


def savings_game(standalone: Mapping[str, float], value: Mapping[frozenset[str], float]
                 ) -> Callable[[frozenset[str]], float]:
    """``s(T) = Σ_{i∈T} C^0_i − v(T)``, with ``s(∅) = 0`` and ``v({i}) = C^0_i`` when ``value`` lacks a single."""
    def s(t: frozenset[str]) -> float:
        if not t:
            return 0.0
        if len(t) == 1 and t not in value:
            return 0.0
        return math.fsum(standalone[i] for i in t) - float(value[t])
    return s


def shapley_values(players: Sequence[str], standalone: Mapping[str, float],
                   value: Mapping[frozenset[str], float]) -> dict[str, float]:
    """The Shapley value ``φ_i`` of the savings game (USD of savings per player; the module docstring)."""
    n = len(players)
    if n > MAX_PLAYERS:
        raise ValueError(f"shapley_values: N = {n} exceeds {MAX_PLAYERS}")
    s = savings_game(standalone, value)
    fact = [math.factorial(k) for k in range(n + 1)]
    out: dict[str, float] = {}
    for i in players:
        others = [j for j in players if j != i]
        terms = []
        for k in range(len(others) + 1):
            w = fact[k] * fact[n - k - 1] / fact[n]
            for t in itertools.combinations(others, k):
                ft = frozenset(t)
                terms.append(w * (s(ft | {i}) - s(ft)))
        out[i] = math.fsum(terms)
    return out


def core_excess(final_cost: Mapping[str, float], value: Mapping[frozenset[str], float],
                standalone: Mapping[str, float] | None = None) -> tuple[float, frozenset[str]]:
    """``(max_T [Σ_{i∈T} C^fin_i − v(T)], argmax T)`` over the proper coalitions of ``final_cost``'s players.

    ``v`` of a single player defaults to its ``standalone`` cost.  A positive excess means ``T`` blocks the
    allocation (it is not in the core)."""
    players = list(final_cost)
    best, arg = -math.inf, frozenset[str]()
    for t in coalitions(players, proper=True):
        if t in value:
            v = float(value[t])
        elif len(t) == 1 and standalone is not None:
            v = float(standalone[next(iter(t))])
        else:
            raise ValueError(f"core_excess: no value for coalition {sorted(t)}")
        e = math.fsum(final_cost[i] for i in t) - v
        if e > best:
            best, arg = e, t
    return best, arg

r"""Two-stage robust optimisation over finite-vertex uncertainty sets (SPEC §6.5, paper 003).

Uncertainty sets are represented by their *vertex parametrisation* (SPEC §6.5 "HiGHS-compatible
polyhedral version"): a point of the set is

.. math::

    u = c + D z,\qquad z\in\{0,1\}^m,\qquad z_i + z_j \le 1\ ((i,j)\in\mathcal P),\qquad
    \textstyle\sum_i z_i \le \Gamma_B,\qquad \underline u \le c + Dz \le \overline u

(:class:`VertexSet`).  With a recourse LP whose uncertain data sit in the right-hand side, the
recourse cost ``Q(x, u)`` is convex in ``u``, so its maximum over the convex hull of such a set is
attained at one of these points; a union of sets (the union of ellipsoids of 003 eq. 9) is a
tuple of :class:`VertexSet` (:class:`UnionSet`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class VertexSet:
    """``u = center + directions @ z`` over binary ``z`` with pair exclusivity, a budget and clip bounds.

    ``center``: ``(d,)``; ``directions``: ``(d, m)``; ``pairs``: ``(p, 2)`` integer indices into ``z``
    with ``z_i + z_j <= 1`` (the ``b^+``/``b^-`` of one axis); ``budget``: ``sum z <= budget`` (None: no
    budget); ``lower``/``upper``: ``(d,)`` bounds the point must respect (None: unbounded) -- for the
    data-driven set the clip ``0 <= u_t <= P^{WT,cap}`` of SPEC §6.5, written as linear constraints on
    ``z`` (the set is intersected with the box, never projected onto it).
    """

    name: str
    center: FloatArray
    directions: FloatArray
    pairs: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    budget: float | None = None
    lower: FloatArray | None = None
    upper: FloatArray | None = None

    def __post_init__(self) -> None:
        c = np.asarray(self.center, dtype=float)
        D = np.asarray(self.directions, dtype=float)
        if c.ndim != 1 or not np.all(np.isfinite(c)):
            raise ValueError(f"VertexSet {self.name!r}: center must be a finite vector, got shape {c.shape}")
        if D.ndim != 2 or D.shape[0] != c.shape[0] or not np.all(np.isfinite(D)):
            raise ValueError(f"VertexSet {self.name!r}: directions must be finite with shape ({c.shape[0]}, m), "
                             f"got {D.shape}")
        pairs = np.asarray(self.pairs, dtype=np.int64).reshape(-1, 2)
        if pairs.size and (pairs.min() < 0 or pairs.max() >= D.shape[1]):
            raise ValueError(f"VertexSet {self.name!r}: pair indices must be in 0..{D.shape[1] - 1}")
        if self.budget is not None and not (np.isfinite(self.budget) and self.budget >= 0):
            raise ValueError(f"VertexSet {self.name!r}: budget must be finite and >= 0, got {self.budget}")
        for nm in ("lower", "upper"):
            v = getattr(self, nm)
            if v is not None:
                arr = np.asarray(v, dtype=float)
                if arr.shape != c.shape:
                    raise ValueError(f"VertexSet {self.name!r}: {nm} must have shape {c.shape}, got {arr.shape}")
                object.__setattr__(self, nm, arr)
        if self.lower is not None and self.upper is not None and np.any(self.lower > self.upper):
            raise ValueError(f"VertexSet {self.name!r}: lower > upper somewhere")
        object.__setattr__(self, "center", c)
        object.__setattr__(self, "directions", D)
        object.__setattr__(self, "pairs", pairs)
        if not self.feasible(np.zeros(D.shape[1])):
            raise ValueError(f"VertexSet {self.name!r}: the center violates the clip bounds "
                             "(z = 0 must be a member)")

    @property
    def dim(self) -> int:
        """Dimension ``d`` of ``u``."""
        return int(self.center.shape[0])

    @property
    def n_binaries(self) -> int:
        """Number ``m`` of binaries ``z``."""
        return int(self.directions.shape[1])

    def point(self, z: Sequence[float] | FloatArray) -> FloatArray:
        """``center + directions @ z``."""
        zz = np.asarray(z, dtype=float)
        if zz.shape != (self.n_binaries,):
            raise ValueError(f"VertexSet {self.name!r}: z must have shape ({self.n_binaries},), got {zz.shape}")
        return np.asarray(self.center + self.directions @ zz, dtype=float)

    def feasible(self, z: Sequence[float] | FloatArray, tol: float = 1e-9) -> bool:
        """Is binary ``z`` a member (pairs, budget, clip bounds)?"""
        zz = np.asarray(z, dtype=float)
        if zz.shape != (self.n_binaries,) or np.any(np.abs(zz - np.round(zz)) > tol) or np.any(zz < -tol) \
                or np.any(zz > 1 + tol):
            return False
        if self.pairs.size and np.any(zz[self.pairs[:, 0]] + zz[self.pairs[:, 1]] > 1 + tol):
            return False
        if self.budget is not None and zz.sum() > self.budget + tol:
            return False
        u = self.center + self.directions @ zz
        if self.lower is not None and np.any(u < self.lower - tol):
            return False
        return not (self.upper is not None and np.any(u > self.upper + tol))


@dataclass(frozen=True)
class UnionSet:
    """A union of vertex sets (003 eq. 9: the union of the mixture components' ellipsoids)."""

    name: str
    parts: tuple[VertexSet, ...]

    def __post_init__(self) -> None:
        if not self.parts:
            raise ValueError(f"UnionSet {self.name!r}: no parts")
        dims = {p.dim for p in self.parts}
        if len(dims) != 1:
            raise ValueError(f"UnionSet {self.name!r}: parts have different dimensions {sorted(dims)}")

    @property
    def dim(self) -> int:
        return self.parts[0].dim

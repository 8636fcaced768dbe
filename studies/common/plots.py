"""Plot helpers shared by the studies' figures.

Time axes: a value of period ``i`` starting at hour ``t0[i]`` is drawn over ``[t0[i], t0[i] + dt)``.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes

__all__ = ["hour_axis", "step", "step_band"]


def step(ax: Axes, t0: np.ndarray, y: np.ndarray, dt: float, **kw: object) -> None:
    """Piecewise-constant line: value ``y[i]`` over ``[t0[i], t0[i] + dt)``."""
    if t0.size == 0:
        return
    ax.step(np.append(t0, t0[-1] + dt), np.append(y, y[-1]), where="post", **kw)  # type: ignore[arg-type]


def step_band(ax: Axes, t0: np.ndarray, lo: np.ndarray, hi: np.ndarray, dt: float, **kw: object) -> None:
    """Piecewise-constant band between ``lo[i]`` and ``hi[i]`` over ``[t0[i], t0[i] + dt)``."""
    if t0.size == 0:
        return
    ax.fill_between(np.append(t0, t0[-1] + dt), np.append(lo, lo[-1]), np.append(hi, hi[-1]),
                    step="post", linewidth=0, **kw)  # type: ignore[arg-type]


def hour_axis(ax: Axes) -> None:
    """The hour-of-day axis: 0–24 h, a tick every 4 h, a light horizontal grid."""
    ax.set_xlim(0, 24)
    ax.set_xticks(range(0, 25, 4))
    ax.grid(True, axis="y", alpha=0.3)

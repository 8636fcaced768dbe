"""What a command asks the simulator to do: :class:`RunSpec` (one run) and :class:`SimSettings` (shared by all runs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sim.engine.mpc import REPLAYS


@dataclass(frozen=True)
class RunSpec:
    """One run: a mode over ``days`` days from ``seed`` (and a sweep ``point`` with its overrides)."""

    mode: str
    seed: int
    days: int
    point: str = "base"
    overrides: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.mode, str) or not self.mode:
            raise ValueError(f"mode must be a mode name, got {self.mode!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        if isinstance(self.days, bool) or not isinstance(self.days, int) or self.days < 1:
            raise ValueError(f"days must be an integer >= 1, got {self.days!r}")

    @property
    def name(self) -> str:
        """File-safe run name, e.g. ``cooperative-s7`` or ``cooperative-s7-kappa0.9``."""
        base = f"{self.mode}-s{self.seed}"
        return base if self.point == "base" else f"{base}-{_safe(self.point)}"


@dataclass(frozen=True)
class SimSettings:
    """What all runs of one command share."""

    scenario: str = "ieee33"
    replay: str = "oracle"
    start_day_of_year: int = 172
    n_mc: int = 200
    n_scenarios: int = 6
    evs_per_station: int | None = None  # ieee33 only: vehicles per EV station (None: the scenario's)
    time_limit_s: float = 600.0
    station: int | None = None  # TMY3 station of the weather fit (None: the default)

    def __post_init__(self) -> None:
        if self.replay not in REPLAYS:
            raise ValueError(f"replay must be one of {', '.join(REPLAYS)}; got {self.replay!r}")
        if not 1 <= self.start_day_of_year <= 365:
            raise ValueError(f"start_day_of_year must be in 1..365, got {self.start_day_of_year}")
        if self.n_mc < self.n_scenarios or self.n_scenarios < 1:
            raise ValueError(f"need 1 <= n_scenarios <= n_mc, got n_scenarios={self.n_scenarios}, n_mc={self.n_mc}")


def _safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in ".-_" else "_" for ch in text)


# ------------------------------------------------------------------------------ scenario and state

"""What one day leaves to the next, as the systems hand it to the engine's state files."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class CarryState:
    """What one day leaves to the next: each cluster's (or park's) stored energy (kWh) and, on ieee33,
    the state of charge at midnight of every overnight (home) EV, which is still plugged in."""

    ess_kwh: dict[str, float] = field(default_factory=dict)
    ev_soc: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"ess_kwh": dict(self.ess_kwh), "ev_soc": dict(self.ev_soc)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> CarryState:
        return cls(ess_kwh={str(k): float(v) for k, v in d.get("ess_kwh", {}).items()},
                   ev_soc={str(k): float(v) for k, v in d.get("ev_soc", {}).items()})

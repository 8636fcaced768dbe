"""Campus (integrated-energy park) agent of paper 000 (SPEC §4).

A campus owns its PV, wind or CHP plant, a battery, a shiftable load (DR) and a grid connection.
Its block exposes one port variable, ``p2p_net_in_kw[t]`` (net P2P inflow, SPEC P2P-2), that the
coordinator links to the P2P lines; a campus standing alone has the port fixed to 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import mesa
import numpy as np
import pyomo.core as pyo

from agents.base import BlockHandle, EnergyAgent
from agents.behaviours import CAMPUS
from agents.devices.core import Bus, Complementarity, Horizon, close_bus
from agents.devices.demand import ShiftableLoadParams, build_shiftable_load
from agents.devices.grid import GridParams, build_grid
from agents.devices.renewables import RenewableParams, build_renewable
from agents.devices.storage import BatteryParams, build_battery
from agents.devices.thermal import CHPParams, build_chp

ParkKind = Literal["pv", "wind", "chp"]


@dataclass(frozen=True)
class CampusParams:
    """Everything that defines one park (SPEC §4.8)."""

    name: str
    kind: ParkKind
    load_peak_kw: float
    ess: BatteryParams
    dr: ShiftableLoadParams
    grid: GridParams
    pv: RenewableParams | None = None
    wind: RenewableParams | None = None
    chp: CHPParams | None = None


@dataclass(frozen=True)
class CampusData:
    """Data of one park on one horizon (forecast for DA, one scenario for RT)."""

    load_kw: np.ndarray
    buy_price: np.ndarray
    sell_price: np.ndarray
    pv_available_kw: np.ndarray | None = None
    wind_available_kw: np.ndarray | None = None


def build_campus(
    block: pyo.Block, params: CampusParams, horizon: Horizon, data: CampusData, exclusive: bool = True
) -> BlockHandle:
    """Build one park: its devices, the port ``p2p_net_in_kw`` and the balance C-3/C-4.

    ``exclusive=False`` builds the storage and grid without their exclusivity rows (the LP
    relaxation); :meth:`agents.devices.core.Complementarity.enforce` adds them where needed.

    Sub-blocks: ``pv``/``wind``/``chp`` (whichever the park has), ``ess``, ``load``, ``grid``.
    ``block.cost`` is the park's operating cost (the park's share of C-10).
    """
    bus = Bus(horizon)
    outputs: dict[str, tuple[Any, str]] = {}
    comp: list[Complementarity] = []
    if params.pv is not None:
        if data.pv_available_kw is None:
            raise ValueError(f"park {params.name}: has PV but no pv_available_kw data")
        block.pv = pyo.Block()
        outputs.update(build_renewable(block.pv, params.pv, horizon, bus, data.pv_available_kw).outputs)
    if params.wind is not None:
        if data.wind_available_kw is None:
            raise ValueError(f"park {params.name}: has wind but no wind_available_kw data")
        block.wind = pyo.Block()
        outputs.update(build_renewable(block.wind, params.wind, horizon, bus, data.wind_available_kw).outputs)
    if params.chp is not None:
        block.chp = pyo.Block()
        outputs.update(build_chp(block.chp, params.chp, horizon, bus).outputs)
    block.ess = pyo.Block()
    h = build_battery(block.ess, params.ess, horizon, bus, exclusive)
    outputs.update(h.outputs)
    comp += h.complementarity
    block.load = pyo.Block()
    outputs.update(build_shiftable_load(block.load, params.dr, horizon, bus, data.load_kw).outputs)
    block.grid = pyo.Block()
    h = build_grid(block.grid, params.grid, horizon, bus, data.buy_price, data.sell_price, exclusive)
    outputs.update(h.outputs)
    comp += h.complementarity
    block.p2p_net_in_kw = pyo.Var(
        pyo.RangeSet(horizon.n), bounds=(None, None), doc="net P2P inflow [kW] (port, P2P-2)"
    )
    outputs["p2p_net_in_kw"] = (block.p2p_net_in_kw, "kW")
    close_bus(block, bus, exchange=block.p2p_net_in_kw)
    return BlockHandle(block=block, outputs=outputs, complementarity=comp)


class CampusAgent(EnergyAgent):
    """One park of the three-campus system, as a Mesa agent."""

    behaviour_kind: ClassVar[str] = CAMPUS

    def __init__(self, model: mesa.Model, params: CampusParams) -> None:
        super().__init__(model, params.name)
        self.params = params
        #: storage energy at the end of the last simulated day [kWh] (None: not simulated yet)
        self.stored_kwh: float | None = None

    def build_block(self, block: pyo.Block, horizon: Horizon, data: Any, exclusive: bool = True) -> BlockHandle:
        if not isinstance(data, CampusData):
            raise TypeError(f"campus {self.name}: data must be CampusData, got {type(data).__name__}")
        return build_campus(block, self.params, horizon, data, exclusive)

"""The rural biogas-power-heat campus of paper 002 as a simulated system (its registry entry).

One campus agent decides its day-ahead trading power by the scenario's uncertainty method over the
reference samples of its error history; the intraday dispatch follows on the realised day
(:mod:`sim.systems.rural_ies.day`).  With one campus, ``cooperative``, ``centralized`` and
``noncooperative`` coincide; ``oracle`` chooses the trading power knowing the realised day.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from agents.rural_campus import RuralCampusAgent
from scenarios.loader import load_rural_ies
from scenarios.schema import RuralIESScenario
from sim.engine.modes import CooperativeMode
from sim.engine.state import CarryState
from sim.engine.system import KPI, DaySteps, Mode, System
from sim.systems.rural_ies import behaviours
from sim.systems.rural_ies.day import rural_models, rural_weather_model, simulate_rural_day_steps
from sim.systems.rural_ies.modes import MODES


def _cost(name: str, description: str) -> KPI:
    return KPI(name, "CNY", True, description)


class RuralSystem(System):
    kind = "rural_ies"
    description = "rural biogas-power-heat campus with distributionally robust day-ahead trading (paper 002)"
    modes: ClassVar[Mapping[str, type[Mode]]] = MODES
    default_mode = CooperativeMode.name
    headline = ("total_cost", "grid_cost", "curtailment_kwh", "curtailment_rate", "grid_kwh", "peak_valley_kw",
                "shed_kwh", "heat_shortfall_kwh")
    #: constraint family -> the scenario fields that feed it (named in a failed solve's message)
    scenario_fields: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "biogas_generator.*": ("biogas_generator.*",),
        "biogas_storage.*": ("biogas_storage.*",),
        "electric_boiler.*": ("electric_boiler.*",),
        "heat_pump.*": ("heat_pump.*",),
        "power_storage.*": ("power_storage.*",),
        "heat_storage.*": ("heat_storage.*",),
        "transferable_load.*": ("transferable_load.*",),
        "grid.*": ("intraday_trading.*",),
        "pv.*": ("pv.*",),
        "*p_tr*": ("da_trading.*",),
        "def_balance": ("intraday_trading.*", "power_storage.*", "recourse.*"),
        "def_heat_balance": ("heat_storage.*", "heat_pump.*", "electric_boiler.*"),
    }
    kpis = (
        KPI("total_cost", "CNY", True, "day-ahead trading cost plus the realised intraday cost",
            nonnegative=False),
        KPI("grid_cost", "CNY", True, "intraday purchases minus sales", nonnegative=False),
        KPI("curtailment_kwh", "kWh", True, "PV energy curtailed"),
        KPI("curtailment_rate", "1", True, "curtailed / available PV energy"),
        KPI("renewable_available_kwh", "kWh", None, "PV energy available on the realised day"),
        KPI("grid_kwh", "kWh", None, "energy bought day-ahead and intraday"),
        KPI("peak_valley_kw", "kW", True, "peak minus valley of the net grid exchange"),
        _cost("da_cost", "day-ahead trading cost (first stage)"),
        KPI("intraday_cost", "CNY", True, "realised intraday cost (recourse)", nonnegative=False),
        KPI("da_trade_kwh", "kWh", None, "energy traded day-ahead"),
        KPI("intraday_buy_kwh", "kWh", None, "energy bought intraday"),
        KPI("intraday_sell_kwh", "kWh", None, "energy sold intraday"),
        KPI("biogas_m3", "m3", None, "biogas burnt"),
        KPI("biogas_power_kwh", "kWh", None, "biogas generator output"),
        KPI("heat_pump_heat_kwh", "kWh_th", None, "heat-pump heat"),
        KPI("boiler_heat_kwh", "kWh_th", None, "electric-boiler heat"),
        KPI("dr_shifted_kwh", "kWh", None, "load shifted by demand response"),
        KPI("shed_kwh", "kWh", True, "power load shed (VOLL slack)"),
        KPI("heat_shortfall_kwh", "kWh_th", True, "heat load not served (VOLL slack)"),
        KPI("renewable_utilisation", "1", False, "used / available PV energy"),
        KPI("power_load_kwh", "kWh", None, "power load served"),
        KPI("heat_load_kwh", "kWh_th", None, "heat load served"),
        KPI("mpc_solves", "1", None, "re-solves of the mpc replay (0 under oracle)"),
    )

    def load(self, name_or_path: str | Path, edits: Sequence[tuple[str, Any]] = ()) -> RuralIESScenario:
        return load_rural_ies(name_or_path, edits)

    def currency(self, scenario: Any) -> str:
        return str(getattr(scenario, "currency", "CNY"))

    def check_run(self, scenario: Any, mode: str, settings: Any) -> None:
        """The campus's behaviour must have something to act on in this mode (SPEC §8; only ``risk`` with its
        DA method's parameter does: :func:`sim.systems.rural_ies.behaviours.check`)."""
        behaviours.check(scenario, self.mode(mode))

    def build(self, model: Any) -> None:
        """The campus as a Mesa agent owning the run's persistent models (its error history is the run's)."""
        behaviours.check(model.spec, model.mode)  # a refused run fails before any model is built
        model.weather = rural_weather_model(model.spec, model.settings)
        agent = RuralCampusAgent(model, model.spec)
        behaviours.attach(agent, model.spec, model.mode)  # refuses a behaviour with nothing to act on
        agent.models = rural_models(model.spec, model.run_spec.seed, model.settings)

    def day(self, model: Any, d: int) -> DaySteps:
        (agent,) = model.agents_by_type[RuralCampusAgent]
        out = yield from simulate_rural_day_steps(model.spec, model.run_spec, model.settings, d, CarryState(),
                                                  model.weather, agent.models, model.mode, agent.behaviour)
        out.state = self.save_state(model)
        return out

    def save_state(self, model: Any) -> dict[str, Any]:
        """Nothing carries over midnight: 002's storages end the day where they started (E_T = E_0)."""
        return {}


SYSTEM = RuralSystem()

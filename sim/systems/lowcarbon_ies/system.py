"""Paper 003's low-carbon hydrogen/ammonia campus as a simulated system (its registry entry).

One campus agent (:class:`agents.lowcarbon_campus.LowCarbonCampusAgent`, registered with Mesa and built
once per run with its persistent models) commits its thermal units and declares its carbon sale tier
day-ahead by the scenario's ``[simulation] method`` (``deterministic`` on the day's forecast, or
``robust`` over the data-driven set fitted once per run), then dispatches the realised wind day
(:mod:`sim.systems.lowcarbon_ies.day`).  Its storages and thermal units carry their state over midnight.
With one campus, ``cooperative``, ``centralized`` and ``noncooperative`` coincide; ``oracle`` commits
knowing the realised wind day.  Costs in the scenario's currency (1e4 CNY, 万元).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from agents.lowcarbon_campus import CampusState, LowCarbonCampusAgent
from agents.milp import SolverOptions
from scenarios.lowcarbon_loader import CAMPUS_AGENT, LowCarbonScenario, load_lowcarbon_ies
from sim.engine.modes import CooperativeMode
from sim.engine.system import KPI, DaySteps, Mode, System
from sim.systems.lowcarbon_ies.day import (
    COST_KPIS,
    STORE_KPIS,
    campus_behaviour,
    fit_wind_set,
    lowcarbon_wind_model,
    simulate_lowcarbon_day_steps,
)
from sim.systems.lowcarbon_ies.modes import MODES

#: The scenario's currency (``currency = "1e4 CNY"``: 003's tables are in 万元).
CURRENCY = "1e4 CNY"
_TABLE1 = {
    "carbon_trading": "carbon trading cost (negative: allowances sold; CT-3, reward tiers)",
    "sequestration": "CO2 sequestration cost (CC-7)",
    "coal": "coal of the thermal units, with their O&M (TP-4, F^th)",
    "startstop": "start-up and shut-down cost of the thermal units (TP-3)",
    "curtailment": "wind curtailment cost (F^cur)",
    "gas": "gas purchase cost",
    "dr_ev": "demand-response compensation and EV discharge compensation",
    "penalty": "recourse slacks: load shed, spill, heat shortfall and heat dump (VOLL-priced)",
}
_STORES = {"ess": "electric storage", "hs": "heat storage", "h2s": "H2 storage", "nh3s": "NH3 tank",
           "ccus": "CCUS rich-solvent tank"}


def _cost(name: str, description: str, nonnegative: bool | None = None) -> KPI:
    return KPI(name, CURRENCY, True, description, nonnegative)


class LowCarbonSystem(System):
    kind = "lowcarbon_ies"
    description = ("low-carbon hydrogen/ammonia campus with day-ahead thermal commitment, deterministic or "
                   "data-driven robust (paper 003)")
    modes: ClassVar[Mapping[str, type[Mode]]] = MODES
    default_mode = CooperativeMode.name
    #: constraint family -> the scenario fields that feed it (named in a failed solve's message)
    scenario_fields: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "wind.*": ("wind.*",),
        "gas.*": ("gas_purchase.*",),
        "gt.*": ("gas_turbine.*",),
        "gb.*": ("gas_boiler.*",),
        "p2g.*": ("p2g.*",),
        "p2a.*": ("p2a.*",),
        "nh3s.*": ("ammonia_storage.*",),
        "h2s.*": ("hydrogen_storage.*",),
        "ess.*": ("electric_storage.*",),
        "hs.*": ("heat_storage.*",),
        "ccus.*": ("ccus.*",),
        "eh.*": ("electric_heater.*",),
        "dr.*": ("demand_response.*",),
        "ev*.*": ("ev_fleet.*",),
        "slack.*": ("recourse_slacks.*",),
        "carbon.*": ("carbon_trading.*",),
        "tp*.*": ("thermal_units",),
    }
    kpis = (
        _cost("total_cost", "realised cost of the day (003 eq. 10): Table 1's parts plus the penalty",
              nonnegative=False),  # carbon allowances sold count negative
        *(_cost(COST_KPIS[col], text, False if col == "carbon_trading" else None) for col, text in _TABLE1.items()),
        _cost("plan_objective", "objective of the day-ahead plan (forecast MILP, robust worst case, or oracle MILP)",
              nonnegative=False),
        KPI("plan_iterations", "1", None, "C&CG iterations of the day-ahead plan (1 for a MILP)"),
        KPI("curtailment_kwh", "kWh", True, "wind energy curtailed (kWh, as the other systems and compare report it)"),
        KPI("curtailment_rate", "1", True, "curtailed / available wind energy"),
        KPI("wind_available_mwh", "MWh", None, "wind energy available on the realised day (both farms)"),
        KPI("wind_forecast_mwh", "MWh", None, "wind energy of the day's forecast"),
        KPI("wind_used_mwh", "MWh", None, "wind energy dispatched"),
        KPI("shed_mwh", "MWh", True, "electric load shed (VOLL slack)"),
        KPI("heat_shed_mwh", "MWh", True, "heat load not served (VOLL slack)"),
        KPI("spill_mwh", "MWh", True, "electric surplus spilled"),
        KPI("heat_dump_mwh", "MWh", True, "heat dumped"),
        KPI("gas_mwh", "MWh", None, "gas bought (LHV)"),
        KPI("coal_t", "t", None, "coal burnt by the thermal units"),
        KPI("nh3_burnt_t", "t", None, "NH3 co-fired in the thermal units"),
        KPI("tp_mwh", "MWh", None, "thermal units' output"),
        KPI("gt_mwh", "MWh", None, "gas turbine's electric output"),
        KPI("p2g_mwh", "MWh", None, "electrolyser input (P2G)"),
        KPI("p2a_mwh", "MWh", None, "power-to-ammonia input (P2A)"),
        KPI("electric_load_mwh", "MWh", None, "conventional electric load"),
        KPI("heat_load_mwh", "MWh", None, "conventional heat load"),
        KPI("co2_emitted_t", "t", None, "CO2 emitted by GT, GB and TP"),
        KPI("co2_absorbed_t", "t", None, "CO2 absorbed by CCUS (CC-2)"),
        KPI("co2_released_t", "t", True, "CO2 released to the air: the direct emission (CC-2)"),
        KPI("co2_methanated_t", "t", None, "CO2 methanated by P2G (P2G-4)"),
        KPI("co2_sequestered_t", "t", None, "CO2 sequestered (CC-7)"),
        KPI("co2_allowance_t", "t", None, "free CO2 allowance (CT-1)"),
        KPI("co2_traded_t", "t", None, "CO2 traded: released minus allowance (CT-2; negative: sold)"),
        KPI("co2_indirect_t", "t", True, "upstream CO2 of the gas bought (proxy for 003's indirect CO2)"),
        KPI("co2_total_t", "t", True, "direct plus indirect CO2"),
        KPI("tp_on_hours", "h", None, "committed hours of the thermal units (summed)"),
        KPI("tp_startups", "1", None, "start-ups of the thermal units"),
        KPI("carbon_sale_tier", "1", None, "declared carbon sale tier (0..4; -1 without reward trading)"),
        *(KPI(name, unit, None, f"{_STORES[key]} content at the end of the day (carried over midnight)")
          for key, (name, unit) in STORE_KPIS.items()),
        KPI("mpc_solves", "1", None, "re-solves of the mpc replay (0 under oracle)"),
    )

    def load(self, name_or_path: str | Path, edits: Sequence[tuple[str, Any]] = ()) -> LowCarbonScenario:
        return load_lowcarbon_ies(name_or_path, edits)

    def currency(self, scenario: Any) -> str:
        return str(getattr(scenario, "currency", CURRENCY))

    def check_run(self, scenario: Any, mode: str, settings: Any) -> None:
        """The campus's behaviour must have something to act on (SPEC §8; :func:`campus_behaviour`)."""
        campus_behaviour(scenario, mode, self.mode(mode).full_information)

    def build(self, model: Any) -> None:
        """The campus agent and its persistent models, the wind model and (robust method) the run's wind set."""
        sc: LowCarbonScenario = model.spec
        settings = model.settings
        model.wind_model = lowcarbon_wind_model(sc, settings)
        robust = sc.simulation.method == "robust" and not model.mode.full_information
        model.wind_set = fit_wind_set(sc, model.run_spec.seed, settings) if robust else None
        campus = LowCarbonCampusAgent(model, CAMPUS_AGENT, sc, sc.variant(sc.simulation.configuration),
                                      SolverOptions(time_limit_s=settings.time_limit_s))
        campus.behaviour = campus_behaviour(sc, model.mode.name, model.mode.full_information)

    @staticmethod
    def campus(model: Any) -> LowCarbonCampusAgent:
        """The run's campus agent (registered with Mesa in :meth:`build`)."""
        agents = list(model.agents_by_type[LowCarbonCampusAgent])
        if len(agents) != 1:
            raise RuntimeError(f"lowcarbon_ies: expected one campus agent, found {len(agents)}")
        return agents[0]

    def day(self, model: Any, d: int) -> DaySteps:
        return simulate_lowcarbon_day_steps(model.spec, model.run_spec, model.settings, d, self.campus(model),
                                            model.wind_model, model.mode, model.wind_set)

    def save_state(self, model: Any) -> dict[str, Any]:
        return self.campus(model).state.to_json()

    def restore_state(self, model: Any, state: Mapping[str, Any]) -> None:
        self.campus(model).state = CampusState.from_json(state)


SYSTEM = LowCarbonSystem()

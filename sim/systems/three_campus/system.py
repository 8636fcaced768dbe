"""The three campuses of paper 000 as a simulated system (its registry entry).

Agents: three parks (PV, wind, CHP), each with storage, demand response and a grid connection, joined
by P2P lines.  A day: the cloud model's day-ahead plan over the reduced weather scenarios, replayed on
the realised day with the plan fixed (:mod:`sim.systems.three_campus.day`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from agents.campus import CampusAgent
from scenarios.loader import load_three_campus
from scenarios.schema import ThreeCampusScenario
from sim.engine.state import CarryState
from sim.engine.system import KPI, DaySteps, Mode, System
from sim.systems.three_campus.day import campus_models, campus_weather_model, simulate_campus_day_steps
from sim.systems.three_campus.modes import MODES, Cooperative, Noncooperative


def _cny(name: str, description: str) -> KPI:
    return KPI(name, "CNY", True, description)


class ThreeCampusSystem(System):
    kind = "three_campus"
    description = "three integrated-energy campuses with P2P lines and a CVaR day-ahead plan (paper 000)"
    modes: ClassVar[Mapping[str, type[Mode]]] = MODES
    default_mode = Cooperative.name
    key_contrast = (Cooperative.name, Noncooperative.name)
    headline = ("total_cost", "grid_cost", "curtailment_kwh", "curtailment_rate", "grid_kwh", "peak_valley_kw",
                "renewable_utilisation")
    #: constraint family -> the scenario fields that feed it (named in a failed solve's message)
    scenario_fields: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "ess.*": ("parks.*.ess",),
        "chp.*": ("parks.*.chp",),
        "grid.*": ("parks.*.grid",),
        "load.*": ("parks.*.dr", "profiles.forecast"),
        "pv.*": ("parks.*.pv",),
        "wind.*": ("parks.*.wind",),
        "*line*": ("lines",),
        "*p2p*": ("lines",),
        "*bind*": ("penalties.*",),
        "def_balance": ("parks.*.grid", "parks.*.ess", "lines"),
    }
    kpis = (
        KPI("n_scenarios", "1", None, "real-time scenarios of the day-ahead plan"),
        KPI("mpc_solves", "1", None, "re-solves of the mpc replay (0 under oracle)"),
        KPI("total_cost", "CNY", True, "realised cost of the day (after settlement in cooperative mode)",
            nonnegative=False),
        KPI("grid_cost", "CNY", True, "grid purchases minus sales", nonnegative=False),
        _cny("curtailment_penalty", "penalty on curtailed renewable energy"),
        _cny("storage_cost", "storage throughput cost"),
        _cny("dr_cost", "demand-response cost"),
        KPI("curtailment_kwh", "kWh", True, "renewable energy curtailed"),
        KPI("curtailment_rate", "1", True, "curtailed / available renewable energy"),
        KPI("renewable_available_kwh", "kWh", None, "renewable energy available on the realised day"),
        KPI("grid_kwh", "kWh", None, "energy bought from the grid"),
        KPI("exchange_kwh", "kWh", None, "energy exported to other parks over P2P lines"),
        KPI("peak_valley_kw", "kW", True, "peak minus valley of the net grid exchange"),
        _cny("chp_cost", "CHP generation cost"),
        _cny("deviation_cost", "day-ahead/real-time deviation penalties"),
        _cny("operation_cost", "real-time operating cost"),
        KPI("grid_sale_kwh", "kWh", None, "energy sold to the grid"),
        KPI("p2p_line_kwh", "kWh", None, "energy carried by the P2P lines (both directions)"),
        KPI("ess_throughput_kwh", "kWh", None, "storage charge plus discharge"),
        KPI("dr_shifted_kwh", "kWh", None, "load shifted by demand response"),
        KPI("renewable_utilisation", "1", False, "used / available renewable energy"),
        _cny("plan_objective", "objective of the day-ahead plan (CVaR of the scenario costs)"),
    )

    def load(self, name_or_path: str | Path, edits: Sequence[tuple[str, Any]] = ()) -> ThreeCampusScenario:
        return load_three_campus(name_or_path, edits)

    def currency(self, scenario: Any) -> str:
        return str(getattr(scenario, "currency", "CNY"))

    def build(self, model: Any) -> None:
        """The parks as Mesa agents (each holds its storage energy at midnight) and the coordinator's
        persistent models (the cloud model's plan and replay blocks): built once, every day changes data."""
        model.weather = campus_weather_model(model.spec, model.settings)
        model.campus_models = campus_models(model.spec, model.settings)
        for park in model.spec.parks:
            agent = CampusAgent(model, park)
            agent.stored_kwh = None  # the first day starts at the scenario's initial state of charge

    def _parks(self, model: Any) -> list[CampusAgent]:
        return list(model.agents_by_type[CampusAgent])

    def day(self, model: Any, d: int) -> DaySteps:
        start = CarryState({a.name: a.stored_kwh for a in self._parks(model) if a.stored_kwh is not None})
        out = yield from simulate_campus_day_steps(model.spec, model.run_spec, model.settings, d, start,
                                                   model.weather, model.campus_models, model.mode)
        for agent in self._parks(model):
            agent.stored_kwh = float(out.state.ess_kwh[agent.name])
        out.state = self.save_state(model)
        return out

    def save_state(self, model: Any) -> dict[str, Any]:
        return {"ess_kwh": {a.name: a.stored_kwh for a in self._parks(model) if a.stored_kwh is not None}}

    def restore_state(self, model: Any, state: Mapping[str, Any]) -> None:
        stored = state.get("ess_kwh", {})
        for agent in self._parks(model):
            agent.stored_kwh = float(stored[agent.name]) if agent.name in stored else None


SYSTEM = ThreeCampusSystem()

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
from sim.systems.three_campus import behaviours
from sim.systems.three_campus.day import campus_models, campus_weather_model, simulate_campus_day_steps
from sim.systems.three_campus.modes import MODES, CampusMode, Cooperative, Noncooperative


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

    def bargaining_agents(self, scenario: Any) -> tuple[str, ...]:
        """The parks (NB-2's players in the cooperative mode)."""
        return tuple(scenario.park_names)

    def check_run(self, scenario: Any, mode: str, settings: Any) -> None:
        """The scenario's behaviours and ``market.audit`` must have something to act on in this mode and replay
        (SPEC §8; :func:`sim.systems.three_campus.behaviours.check`)."""
        m = self.mode(mode)
        assert isinstance(m, CampusMode)
        behaviours.check(scenario, m, settings.replay)

    def build(self, model: Any) -> None:
        """The parks as Mesa agents (each holds its storage energy at midnight and its behaviour, SPEC §8) and the
        coordinator's persistent models (the cloud model's plan and replay blocks): built once, every day changes
        data.  Behaviours the run cannot honour are refused here (:func:`sim.systems.three_campus.behaviours.attach`).
        """
        behaviours.check(model.spec, model.mode, model.settings.replay)  # a refused run fails before any model
        model.weather = campus_weather_model(model.spec, model.settings)
        model.campus_models = campus_models(model.spec, model.settings)
        agents = {}
        for park in model.spec.parks:
            agent = agents[park.name] = CampusAgent(model, park)
            agent.stored_kwh = None  # the first day starts at the scenario's initial state of charge
        behaviours.attach(agents, model.spec, model.mode, model.settings.replay)

    def _parks(self, model: Any) -> list[CampusAgent]:
        return list(model.agents_by_type[CampusAgent])

    def day(self, model: Any, d: int) -> DaySteps:
        """Day ``d``: the parks' behaviours choose (from their own streams), the day runs with that conduct, the
        behaviours learn from their true outcomes, and the parks keep their storage energy."""
        parks = self._parks(model)
        start = CarryState({a.name: a.stored_kwh for a in parks if a.stored_kwh is not None})
        conduct = behaviours.begin_day({a.name: a.behaviour for a in parks}, d + 1, model.run_spec.seed)
        out = yield from simulate_campus_day_steps(model.spec, model.run_spec, model.settings, d, start,
                                                   model.weather, model.campus_models, model.mode, conduct,
                                                   live=getattr(model, "live_day", None))
        behaviours.end_day(conduct)
        for agent in parks:
            agent.stored_kwh = float(out.state.ess_kwh[agent.name])
        out.state = self.save_state(model)
        return out

    def save_state(self, model: Any) -> dict[str, Any]:
        """Each park's storage energy at midnight (``ess_kwh``, kWh) and, when a behaviour keeps one, the
        behaviours' memories (``behaviours``: park -> JSON; a learner's weights, a leaver's history)."""
        out: dict[str, Any] = {"ess_kwh": {a.name: a.stored_kwh for a in self._parks(model)
                                           if a.stored_kwh is not None}}
        mem = behaviours.memories(self._parks(model))
        if mem:
            out["behaviours"] = mem
        return out

    def restore_state(self, model: Any, state: Mapping[str, Any]) -> None:
        stored = state.get("ess_kwh", {})
        for agent in self._parks(model):
            agent.stored_kwh = float(stored[agent.name]) if agent.name in stored else None
        behaviours.restore(self._parks(model), state.get("behaviours", {}))


SYSTEM = ThreeCampusSystem()

"""The IEEE-33 distribution system of paper 004 as a simulated system (its registry entry).

The same system runs on any radial network (SPEC §9): the scenario's ``network.source`` names IEEE-33, a SimBench
grid or a pandapower JSON (:mod:`scenarios.network_source`), the agents follow from the network
(:mod:`scenarios.derived_feeder`) and a SimBench year of profiles drives the days
(:mod:`sim.systems.ieee33.year_days`).  The kind stays ``ieee33``: it names paper 004's system, not the feeder.

Agents (Mesa agents of the run's :class:`sim.engine.model.SimulationModel`, built once per run with
their persistent solver models by :func:`sim.systems.ieee33.day.build_coordinator`): one
transformer-area agent per load bus, one cluster agent per cluster, one EV agent per vehicle (solved
together by the pooled EV fleet LP), coordinated by :class:`sim.systems.ieee33.schemes.DistributionModel`
(``model.coordinator``).  A day: the DSO's day-ahead TOU design, then the mode's scheme over the 96
quarter-hours, then the network check (:mod:`sim.systems.ieee33.day`); only data change from day to
day.  The state between days is the agents' own: each cluster agent's storage energy at midnight,
each home EV agent's SOC at midnight (:meth:`IEEE33System.save_state`, JSON).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from scenarios.ieee33_loader import load_ieee33_scenario
from scenarios.schema import IEEE33Scenario
from sim.engine.spec import SimSettings
from sim.engine.system import KPI, DaySteps, Mode, System
from sim.systems.ieee33 import behaviours
from sim.systems.ieee33.day import (
    build_coordinator,
    carried_state,
    restore_carried_state,
    simulate_day_steps,
    weather_model,
)
from sim.systems.ieee33.modes import MODES, Centralized, Cooperative, IEEE33Mode


def _usd(name: str, description: str) -> KPI:
    return KPI(name, "USD", True, description)


class IEEE33System(System):
    kind = "ieee33"
    description = "IEEE-33 feeder with clusters, transformer areas and EVs (paper 004)"  # or any network.source
    modes: ClassVar[Mapping[str, type[Mode]]] = MODES
    default_mode = Cooperative.name
    key_contrast = (Cooperative.name, Centralized.name)  # 004's headline: scheme 1 vs 2 (centralized), -17.6 %
    headline = ("total_cost", "grid_cost", "curtailment_kwh", "curtailment_rate", "grid_kwh", "peak_valley_kw",
                "vmin_pu", "vmax_pu", "vmin_ac_pu")
    #: constraint family -> the scenario fields that feed it (named in a failed solve's message)
    scenario_fields: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "net.res_v_min": ("network.v_min_pu", "network.voltage_limits", "network.v0_pu", "network.oltc_ldc_pu_per_mw",
                         "network.load_scale"),
        "net.res_v_max": ("network.v_max_pu", "network.voltage_limits", "network.v0_pu",
                         "network.oltc_ldc_pu_per_mw"),
        "net.res_s_max": ("network.s_max_trunk_mva", "network.s_max_other_mva"),
        "net.def_*": ("network.load_scale", "demand_response.aggregates.*.peak_kw", "renewables", "ev.stations"),
        "ess*.*": ("storage.*", "clusters.*.ess"),
        "ev*.*": ("ev.fleet.*", "ev.evs_per_station"),
        "group.*": ("ev.fleet.*", "ev.evs_per_station"),
        "ta*.*": ("demand_response.*",),
        "res_revenue_neutral": ("tariff.revenue_neutral", "tariff.price_min_factor", "tariff.price_max_factor"),
        "res_tou_order": ("tariff.price_min_factor", "tariff.price_max_factor"),
        "res_peak_*": ("tariff.lambda_tp",),
        "def_p_sub": ("network.reverse_flow", "intraday.p_grid_max_kw"),
        "grid.*": ("intraday.p_grid_max_kw", "network.reverse_flow"),
        "cl2": ("intraday.p_exchange_max_kw", "market.exchange_efficiency"),
        "res_import": ("intraday.p_exchange_max_kw",),
        "res_export": ("intraday.p_exchange_max_kw",),
        "def_balance": ("intraday.p_grid_max_kw", "intraday.p_exchange_max_kw", "storage.*"),
        "pv*.*": ("renewables",),
        "wt*.*": ("renewables",),
    }
    kpis = (
        _usd("total_cost", "system cost: upstream purchases + PV use + curtailment penalties + storage throughput "
             "+ DR discomfort + EV degradation (less export revenue with reverse_flow: then it can be negative)"),
        _usd("grid_cost", "upstream purchases (less export revenue with reverse_flow: then it can be negative)"),
        _usd("curtailment_penalty", "penalty on curtailed renewable energy"),
        _usd("storage_cost", "storage throughput cost (CL-3)"),
        _usd("ev_cost", "EVs' own cost at a zero energy price (degradation)"),
        _usd("pv_use_cost", "cost of the PV energy used"),
        _usd("dr_cost", "transformer areas' demand-response discomfort cost"),
        _usd("interaction_cost", "bargaining payments or greedy transfers between clusters (a transfer)"),
        _usd("ev_bill", "EVs' energy bill at the intraday prices (a transfer)"),
        KPI("curtailment_kwh", "kWh", True, "renewable energy curtailed"),
        KPI("curtailment_rate", "1", True, "curtailed / available renewable energy"),
        KPI("renewable_available_kwh", "kWh", None, "renewable energy available on the realised day"),
        KPI("grid_kwh", "kWh", None, "energy bought upstream"),
        KPI("exchange_kwh", "kWh", None, "energy exchanged between clusters"),
        KPI("peak_valley_kw", "kW", True, "peak minus valley of the upstream exchange"),
        KPI("vmin_pu", "p.u.", False, "lowest LinDistFlow bus voltage"),
        KPI("vmax_pu", "p.u.", True, "highest LinDistFlow bus voltage"),
        KPI("vmin_ac_pu", "p.u.", False, "lowest AC bus voltage (pandapower)"),
        KPI("voltage_violation_pu_h", "p.u.·h", True, "AC voltage outside the scenario's limits, summed over buses"),
        KPI("max_ldf_ac_error_pu", "p.u.", True, "largest LinDistFlow vs AC voltage difference"),
        KPI("ac_losses_kwh", "kWh", True, "AC line losses"),
        KPI("bisection_iterations", "1", None, "rolling-price bisection iterations (cooperative)"),
        KPI("max_excess_demand_kw", "kW", True, "largest excess demand left at the final rolling prices "
            "(net of the upstream supply when it is counted)"),
        KPI("prices_uncleared", "1", True, "rolling-price periods that neither cleared nor were absorbed by the "
            "upstream supply or by curtailment at p_min (cooperative; SPEC 6.7)"),
        KPI("v0_max_pu", "p.u.", None, "highest substation voltage set by the tap changer's line-drop compensation"),
        _usd("spill_penalty", "penalty on spilled surplus"),
        KPI("spill_kwh", "kWh", True, "spilled surplus energy"),
        KPI("da_curtailment_kwh", "kWh", True, "curtailment planned by the day-ahead TOU design"),
        KPI("mpc_solves", "1", None, "re-solves of the mpc replay (0 under oracle)"),
    )

    #: per-vehicle records (``agent_type`` ``EVAgent``) besides the per-station ones: off by default
    per_vehicle_records: bool = False

    def __init__(self, per_vehicle_records: bool = False) -> None:
        self.per_vehicle_records = per_vehicle_records

    def load(self, name_or_path: str | Path, edits: Sequence[tuple[str, Any]] = ()) -> IEEE33Scenario:
        return load_ieee33_scenario(name_or_path, edits)

    def prepare(self, scenario: Any, settings: SimSettings) -> Any:
        if settings.evs_per_station is not None:
            return scenario.with_evs_per_station(settings.evs_per_station)
        return scenario

    def bargaining_agents(self, scenario: Any) -> tuple[str, ...]:
        """The clusters (NB-P1's players)."""
        return tuple(c.name for c in scenario.clusters)

    def reference_lines(self, scenario: Any) -> dict[str, tuple[float, float]]:
        """The scenario's voltage band, drawn in the comparison's voltage figure."""
        net = scenario.network
        return {"voltage": (float(net.v_min_pu), float(net.v_max_pu))}

    def check_run(self, scenario: Any, mode: str, settings: SimSettings) -> None:
        """The scenario's behaviours must have something to act on in this mode and replay (SPEC §8)."""
        behaviours.check(scenario, mode, settings.replay)

    def build(self, model: Any) -> None:
        """The run's coordinator with its agents (registered with ``model``) and persistent models, once."""
        model.weather = weather_model(model.spec, model.settings)
        mode = model.mode
        assert isinstance(mode, IEEE33Mode)
        model.coordinator = build_coordinator(model.spec, model.run_spec, model.settings, model, mode)

    def day(self, model: Any, d: int) -> DaySteps:
        """Day ``d``; a live view sees its time series once the mode's plan is known before the day closes (the
        ``oracle`` replay: from its first quarter-hour; the ``mpc`` replay's plan is known only at the day's end),
        computed on request and reused by the day's end (:class:`sim.systems.ieee33.day.DayPreview`)."""
        dm = model.coordinator
        live = getattr(model, "live_day", None)
        if live is not None:
            live.source = lambda: (dm.preview.frame(dm.plan, dm.da_prices_intraday)
                                   if dm.plan is not None and dm.preview is not None else None)
        return (yield from simulate_day_steps(model.spec, model.run_spec, model.settings, d, dm,
                                              model.weather, mode=model.mode, per_vehicle=self.per_vehicle_records))

    def save_state(self, model: Any) -> dict[str, Any]:
        """Each cluster agent's storage energy at midnight (``ess_kwh``, kWh) and each home EV agent's SOC
        (``ev_soc``), as JSON."""
        return carried_state(model.coordinator)

    def restore_state(self, model: Any, state: Mapping[str, Any]) -> None:
        restore_carried_state(model.coordinator, state)


SYSTEM = IEEE33System()

"""Behaviours on the IEEE-33 system (SPEC §8): attaching them to the agents, the day's choices, the feedback and
the records of the mechanism audit.

What each behaviour changes here:

* clusters (``ClusterAgent``), in the ``cooperative`` mode, where they bargain: ``misreport`` moves the ``C^0_n``
  they report to NB-2 (unless ``market.verify_standalone``); ``withhold`` offers part of their storage and exchange
  capacity to the coalition problem (:meth:`sim.systems.ieee33.schemes.CoalitionProblem.configure`); ``leave``
  keeps them out of the coalition (they execute their standalone plan); ``learn`` chooses ``misreport``'s ``m``
  or ``withhold``'s ``f`` by EXP3; ``forecast`` (``--replay mpc``, the only replay in which a cluster plans on a
  forecast) replaces the forecast beyond the current quarter-hour.
* ``rule`` (every mode but the oracle, which optimises every agent jointly): a cluster's storage charges on its
  local surplus and discharges on deficit (:func:`agents.devices.storage.rule_dispatch`, the rest of its dispatch
  is optimised; oracle replay); a transformer area draws its DA base load whatever the intraday price; an EV
  (``EV<bus>``: every vehicle of the station) charges at full power from arrival until full, without V2G
  (:func:`agents.ev.rule_charging`).

A behaviour that has nothing to act on in the run (a cluster behaviour in a mode without bargaining, ``forecast``
under the oracle replay) is refused when the run starts, never accepted and ignored.

Each day: :func:`begin_day` lets every behaviour choose (from its agent's own random stream,
:func:`agents.behaviours.agent_rng`) and fixes the day's coalition and offered shares; the mode runs;
:func:`end_day` hands every behaviour its true outcome (:class:`agents.behaviours.DayFeedback`).  Behaviours'
memories are saved with the day's state (:func:`memories`) and restored by ``--resume`` (:func:`restore`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from agents.behaviours import (
    CLUSTER,
    EV,
    TRANSFORMER_AREA,
    Behaviour,
    BehaviourSetupError,
    BehaviourSpec,
    DayFeedback,
    assign,
    choose,
    make,
)
from agents.behaviours import memories as group_memories
from agents.behaviours import restore as group_restore
from scenarios.ieee33_loader import BEHAVIOUR_TYPES, behaviour_agents
from scenarios.schema import IEEE33Scenario
from sim.engine.records import audit_records, behaviour_records
from sim.systems.ieee33.schemes import DistributionModel, SchemeResult

#: The behaviours this system implements per agent kind (the others are refused, naming what is possible).
IMPLEMENTED: dict[str, frozenset[str]] = {
    CLUSTER: frozenset({"truthful", "misreport", "withhold", "leave", "learn", "forecast", "rule"}),
    TRANSFORMER_AREA: frozenset({"truthful", "rule"}),
    EV: frozenset({"truthful", "rule"}),
}
#: Relative tolerance of the core test (of the clusters' total standalone cost): the coalition values are LP optima
#: within the lexicographic stage's tolerance, so an excess of a few 1e-7 is solver noise, not a blocking coalition.
CORE_TOL = 1e-6
#: Cluster behaviours that act on the bargaining (cooperative mode only).
BARGAINING = frozenset({"misreport", "withhold", "leave", "learn"})


def check(sc: IEEE33Scenario, mode: str, replay: str) -> dict[str, BehaviourSpec]:
    """Each agent's behaviour spec (name -> spec: clusters, TAs and EV stations) from the scenario's
    ``[behaviours]`` table, refusing what this system or this run cannot honour (the module docstring) — called
    before any model is built, so a refused run fails at once."""
    kinds = behaviour_agents(sc.clusters, sc.transformer_areas, sc.ev_stations)
    specs = assign(sc.behaviours, kinds, BEHAVIOUR_TYPES, where="[behaviours]")
    for name, spec in specs.items():
        kind = kinds[name]
        if spec.id not in IMPLEMENTED[kind]:
            raise BehaviourSetupError(
                f"[behaviours] {name}: the ieee33 system does not implement behaviour {spec.id} for a {kind}; "
                f"it implements {', '.join(sorted(IMPLEMENTED[kind]))}")
        if kind == CLUSTER and spec.id in BARGAINING and mode != "cooperative":
            raise BehaviourSetupError(
                f"[behaviours] {name}: {spec.id} acts on the bargaining of the cooperative mode; mode {mode} has "
                "no bargaining (run it with --mode cooperative)")
        if spec.id == "rule" and mode == "oracle":
            raise BehaviourSetupError(
                f"[behaviours] {name}: rule replaces an agent's optimisation, but the oracle mode optimises every "
                "agent jointly with full information; run rule-based agents in the other modes")
        if spec.id == "rule" and kind == CLUSTER and replay == "mpc":
            raise BehaviourSetupError(
                f"[behaviours] {name}: a rule-based cluster's storage plan is made for the whole day; the mpc "
                "replay (which fixes each executed quarter-hour) is not implemented for it; use --replay oracle")
        if spec.id == "forecast" and replay != "mpc":
            raise BehaviourSetupError(
                f"[behaviours] {name}: forecast changes the forecast a cluster plans on beyond the current "
                "quarter-hour, which only the mpc replay has; run it with --replay mpc")
    if sc.market.audit and (mode != "cooperative" or replay != "oracle"):
        raise BehaviourSetupError(f"market.audit: the coalition audit runs on the cooperative mode's oracle replay "
                                  f"(v(T) on the realised day); this run is {mode} with the {replay} replay")
    return specs


def attach(dm: DistributionModel, specs: Mapping[str, BehaviourSpec]) -> dict[str, Behaviour]:
    """Make each agent's behaviour from :func:`check`'s specs and attach it (``agent.behaviour``); returns agent name
    -> behaviour for the clusters and TAs (a station's vehicles share its spec, each with its own object)."""
    out: dict[str, Behaviour] = {}
    for c, agent in dm.clusters.items():
        agent.behaviour = out[c] = make(specs[c], f"[behaviours] {c}")
    for ta in dm.tas.values():
        ta.behaviour = out[ta.name] = make(specs[ta.name], f"[behaviours] {ta.name}")
    for ev in dm.ev_agents:
        ev.behaviour = make(specs[f"EV{ev.params.station}"], f"[behaviours] EV{ev.params.station}")
    return out


def begin_day(dm: DistributionModel, day: int, seed: int) -> None:
    """Before day ``day`` (1-based): every cluster's behaviour chooses from its own stream
    (:func:`agents.behaviours.choose`); the day's coalition (those that join) and offered shares are set on the
    coordinator (and its coalition model, when built)."""
    dm.members, dm.shares = choose({c: a.behaviour for c, a in dm.clusters.items()}, day, seed)


def end_day(dm: DistributionModel, res: SchemeResult, day: int) -> None:
    """Hand every cluster's behaviour its true outcome of the day (:func:`true_outcomes`)."""
    out = true_outcomes(res)
    for c, agent in dm.clusters.items():
        if c in out:
            joined, c0, final, surplus = out[c]
            agent.behaviour.end_day(DayFeedback(day, joined, c0, final, surplus))


def true_outcomes(res: SchemeResult) -> dict[str, tuple[bool, float, float, float]]:
    """Per cluster: ``(joined, true C^0_n, true final cost, true surplus S of the coalition)`` of a bargaining day.

    ``joined``: it was a member of the day's coalition (whether or not the bargaining then formed it: on reports
    whose surplus is negative NB-2 rejects it and every member executes its standalone plan).  The true final cost
    is the cluster's CL-3 in the executed plan plus its payment; the true surplus is ``Σ_{n∈T} (C^0_n − C^*_n)``
    with the true ``C^0`` over the members of a formed coalition (0 otherwise).  Empty without bargaining."""
    if res.standalone is None or res.members is None or res.payments is None:
        return {}
    formed = res.allocation is not None and res.allocation.coalition_formed
    members = set(res.members)
    surplus = math.fsum(res.standalone[c].cost - res.clusters[c].cost for c in members) if formed else 0.0
    return {c: (c in members, float(res.standalone[c].cost), float(res.clusters[c].cost + res.payments[c]),
                surplus if c in members else 0.0) for c in res.clusters}


def _behaviours(dm: DistributionModel) -> dict[str, Behaviour]:
    return {a.name: a.behaviour for a in list(dm.clusters.values()) + list(dm.tas.values())}


def memories(dm: DistributionModel) -> dict[str, dict[str, Any]]:
    """The non-empty behaviour memories of the clusters and TAs (agent name -> JSON), saved with the day's state."""
    return group_memories(_behaviours(dm))


def restore(dm: DistributionModel, saved: Mapping[str, Any]) -> None:
    """Put :func:`memories`' JSON back into the agents' behaviours (``--resume``)."""
    group_restore(_behaviours(dm), saved, "ieee33 state")


def cluster_behaviour_rows(dm: DistributionModel, res: SchemeResult) -> list[tuple[str, str, float, str]]:
    """The behaviour records of each cluster ``(agent_id, variable, value, unit)`` (SPEC §8, issue deliverable 5):
    ``joined``, ``reported_standalone_cost`` (what NB-2 saw; the true one is ``standalone_cost`` and ``final_cost``,
    ``gain`` are true), offered vs available storage power, storage energy and exchange capacity, and the
    behaviour's parameters of the day (``param_<name>``)."""
    rows: list[tuple[str, str, float, str]] = []
    out = true_outcomes(res)
    for c, agent in dm.clusters.items():
        p = agent.params
        e = p.ess
        rows += behaviour_records(
            c, share=float(dm.shares.get(c, 1.0)) if res.members is not None else 1.0,
            storage_kw=e.p_charge_max_kw, storage_kwh=(e.soc_max_frac - e.soc_min_frac) * e.capacity_kwh,
            exchange_kw=p.p_exchange_max_kw, parameters=agent.behaviour.parameters_of_day(), currency="USD",
            joined=out[c][0] if c in out else None, reported=(res.reported_standalone or {}).get(c))
    return rows


def audit_rows(res: SchemeResult) -> list[tuple[str, str, float, str]]:
    """The mechanism audit of the day (``market.audit``, SPEC §8) as records ``(agent_id, variable, value, unit)``:
    per cluster its Shapley value of the true savings game (``shapley_gain``) next to its NB-2 true gain; for the
    coordinator (``agent_id`` ``market``) every coalition's ``coalition_value[T]`` and ``coalition_excess[T]``
    (``Σ_{i∈T} C^fin_i − v(T)``, > 0: ``T`` blocks), the largest excess (``core_max_excess``) and whether the
    allocation is in the core (``in_core``).  Empty when the day was not audited."""
    values: Mapping[frozenset[str], float] | None = res.info.get("coalition_values")
    if not values or res.standalone is None:
        return []
    out = true_outcomes(res)
    players = list(res.clusters)
    c0 = {c: float(res.standalone[c].cost) for c in players}
    return audit_records(players, c0, {c: out[c][2] for c in players}, values, "USD", CORE_TOL)

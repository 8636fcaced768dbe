"""Behaviours on the three campuses (SPEC §8): attaching them to the parks, the day's choices, the feedback, the
records and the mechanism audit.

The players are the three parks (``CampusAgent``); they bargain in the ``cooperative`` mode, where the cloud
coordinator plans and replays the P2P day and settles it by NB-2 (SPEC §5.5) against the no-P2P day, whose park
costs are the disagreement points ``C^0_n``.  What each behaviour changes here:

* ``misreport`` (cooperative): the park reports ``Ĉ^0_n`` to NB-2 instead of its no-P2P cost; with
  ``market.verify_standalone`` the coordinator uses the no-P2P day's cost it computed itself, so the report moves
  nothing.
* ``withhold`` (cooperative): the park offers ``1 − f`` of its storage power and usable energy (the rest stays
  idle) and of its P2P lines' capacities to the coalition's plan (a line carries at most the smaller share of its
  two ends); the no-P2P day, where it stands alone, keeps all of it
  (:func:`sim.systems.three_campus.cloud.write_case`).
* ``leave`` (cooperative): a park outside the coalition has no P2P (its lines carry nothing), pays and receives
  nothing; NB-2 runs over the members.  Its standalone cost is its no-P2P day's; its own cost is the one it has in
  the executed day (the cloud still plans every park in one model, see below).
* ``learn`` (cooperative): chooses ``misreport``'s ``m`` or ``withhold``'s ``f`` each day by EXP3 on its true gain.
* ``forecast`` (every mode but ``oracle``, which plans on the realised day): the park plans on its own forecast
  of its PV or wind (:mod:`agents.behaviours.forecast`): the DA block's hourly forecast, the plan's RT scenarios
  shifted by the same difference (clipped to ``[0, capacity]``) and, under ``mpc``, the forecast beyond the
  current quarter-hour.  The CHP park has no renewable forecast: refused there.
* ``risk`` is refused: the plan's risk term is one system-wide CVaR (C-14) of the *summed* scenario cost
  ``C_s = Σ_i C_{i,s}`` (or one CDRO λ over it for ``uncertainty.method = cdro``), so a park has no ``β``, CVaR
  weight or ``λ`` of its own to set; ``uncertainty.beta`` / ``uncertainty.lam`` set them for all.
* ``rule`` does not apply to campuses (SPEC §8).

The one CVaR couples the parks' day-ahead plans (the tail scenarios are those of the total cost), so "standing
alone" means: in the same cloud plan, without P2P.  The coalition of any subset ``T`` (SPEC §8) is the cloud day
with P2P only on the lines with both ends in ``T`` (:func:`sim.systems.three_campus.cloud.coalition_case`);
``v(T)`` is the members' realised cost in it, ``v({i}) = C^0_i`` exactly (a single park opens no line: it is the
no-P2P day), and the outsiders' costs in a coalition day may differ from their ``C^0`` by that coupling only.

Each day: :func:`begin_day` lets every behaviour choose (from its park's own random stream,
:func:`agents.behaviours.agent_rng`) and fixes the day's :class:`Conduct` (members, offered shares); the day runs
(:mod:`sim.systems.three_campus.day`) and leaves each park's :class:`agents.behaviours.DayFeedback` in the
conduct; :func:`end_day` hands them to the behaviours.  Memories are saved with the day's state (:func:`memories`)
and restored by ``--resume`` (:func:`restore`).  A behaviour with nothing to act on in the run is refused when the
run starts (:func:`attach`), never accepted and ignored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents.behaviours import CAMPUS, Behaviour, BehaviourSetupError, BehaviourSpec, DayFeedback, assign, choose, make
from agents.behaviours import memories as group_memories
from agents.behaviours import restore as group_restore
from agents.campus import CampusAgent
from scenarios.loader import THREE_CAMPUS_BEHAVIOUR_TYPES
from scenarios.schema import ThreeCampusScenario
from sim.engine.records import audit_records, behaviour_records
from sim.systems.three_campus.modes import CampusMode

#: The behaviours this system implements for a park (``risk`` and ``rule`` are refused, with the reason).
IMPLEMENTED = frozenset({"truthful", "misreport", "withhold", "leave", "learn", "forecast"})
#: Behaviours that act on the bargaining (the cooperative mode only).
BARGAINING = frozenset({"misreport", "withhold", "leave", "learn"})
#: Relative tolerance of the core test (of the parks' total standalone cost): v(T) are certified LP/MILP optima
#: within the MIP gap of 1e-4 and the replay's tie-break terms, so an excess that small is not a blocking coalition.
CORE_TOL = 1e-4
RISK_REFUSED = ("the three_campus plan has one system-wide risk term, the CVaR (C-14) of the parks' summed "
                "scenario cost (or one CDRO lambda over it), so a park has no beta, CVaR weight or lambda of its own; "
                "set uncertainty.beta or uncertainty.lam for all parks instead")


@dataclass
class Conduct:
    """What the parks' behaviours decided for one day, and (filled by the day) what they learn from it.

    ``members``: the parks in the day's coalition; ``shares``: the share of its flexibility each park offers to
    the coalition's plan; ``feedback``: each park's true outcome (:class:`agents.behaviours.DayFeedback`), set by
    the day when the parks bargained."""

    behaviours: Mapping[str, Behaviour]
    members: frozenset[str]
    shares: dict[str, float]
    feedback: dict[str, DayFeedback] = field(default_factory=dict)

    @classmethod
    def truthful(cls, parks: Sequence[str]) -> Conduct:
        """Every park truthful: all join, all offer everything."""
        return cls({p: make() for p in parks}, frozenset(parks), dict.fromkeys(parks, 1.0))

    def reported(self, park: str, true_cost: float, verify: bool) -> float:
        """The ``C^0`` NB-2 uses for ``park``: the true one when the coordinator verifies it, else its report."""
        return float(true_cost) if verify else float(self.behaviours[park].report_standalone_cost(true_cost))

    def label(self, park: str) -> str:
        return self.behaviours[park].id


def check(sc: ThreeCampusScenario, mode: CampusMode, replay: str) -> dict[str, BehaviourSpec]:
    """Each park's behaviour spec from the scenario's ``[behaviours]`` table, refusing
    (:class:`BehaviourSetupError`) what this system or run cannot honour: ``risk`` (the module docstring), a
    bargaining behaviour in a mode without bargaining, ``forecast`` in the ``oracle`` mode or on a park without PV
    or wind, and ``market.audit`` outside the cooperative mode's oracle replay.  Called before any model is built
    (:meth:`sim.systems.three_campus.system.ThreeCampusSystem.check_run`) and again by :func:`attach`."""
    specs = assign(sc.behaviours, dict.fromkeys(sc.park_names, CAMPUS), THREE_CAMPUS_BEHAVIOUR_TYPES,
                   where="[behaviours]")
    for name, spec in specs.items():
        if spec.id == "risk":
            raise BehaviourSetupError(f"[behaviours] {name}: risk is not available on three_campus: {RISK_REFUSED}")
        if spec.id not in IMPLEMENTED:
            raise BehaviourSetupError(f"[behaviours] {name}: the three_campus system does not implement behaviour "
                                      f"{spec.id} for a campus; it implements {', '.join(sorted(IMPLEMENTED))}")
        if spec.id in BARGAINING and not mode.bargaining:
            raise BehaviourSetupError(f"[behaviours] {name}: {spec.id} acts on the bargaining of the cooperative "
                                      f"mode; mode {mode.name} has no bargaining (run it with --mode cooperative)")
        if spec.id == "forecast":
            if mode.full_information:
                raise BehaviourSetupError(f"[behaviours] {name}: forecast changes the forecast a park plans on; mode "
                                          f"{mode.name} plans on the realised day (no forecast to change)")
            park = sc.park(name)
            if park.pv is None and park.wind is None:
                raise BehaviourSetupError(f"[behaviours] {name}: forecast changes a park's PV or wind forecast; park "
                                          f"{name} ({park.kind}) has neither")
    if sc.market.audit and (not mode.bargaining or replay != "oracle"):
        raise BehaviourSetupError(f"market.audit: the coalition audit runs on the cooperative mode's oracle replay "
                                  f"(v(T) on the realised day); this run is {mode.name} with the {replay} replay")
    return specs


def attach(agents: Mapping[str, CampusAgent], sc: ThreeCampusScenario, mode: CampusMode, replay: str
           ) -> dict[str, Behaviour]:
    """Make each park's behaviour from the scenario's ``[behaviours]`` table (checked by :func:`check`) and attach
    it (``agent.behaviour``)."""
    specs = check(sc, mode, replay)
    out: dict[str, Behaviour] = {}
    for name in sc.park_names:
        out[name] = agents[name].behaviour = make(specs[name], f"[behaviours] {name}")
    return out


def begin_day(behaviours: Mapping[str, Behaviour], day: int, seed: int) -> Conduct:
    """Before day ``day`` (1-based): every park's behaviour chooses from its own stream
    (:func:`agents.behaviours.choose`); returns the day's coalition (the parks that join) and offered shares."""
    members, shares = choose(behaviours, day, seed)
    return Conduct(behaviours, members, shares)


def end_day(conduct: Conduct) -> None:
    """Hand every park's behaviour its true outcome of the day (when the parks bargained)."""
    for name, fb in conduct.feedback.items():
        conduct.behaviours[name].end_day(fb)


def memories(agents: Sequence[CampusAgent]) -> dict[str, dict[str, Any]]:
    """The non-empty behaviour memories (park -> JSON), saved with the day's state."""
    return group_memories({a.name: a.behaviour for a in agents})


def restore(agents: Sequence[CampusAgent], saved: Mapping[str, Any]) -> None:
    """Put :func:`memories`' JSON back into the parks' behaviours (``--resume``)."""
    group_restore({a.name: a.behaviour for a in agents}, saved, "three_campus state")


def believed_forecast(behaviour: Behaviour, common_h: np.ndarray, realised_h: np.ndarray, capacity_kw: float,
                      scenarios: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The hourly forecast and the RT scenarios a park plans on (``forecast``), or ``None`` when they are the
    common ones: its own forecast ``P^own`` (:meth:`agents.behaviours.Behaviour.forecast` of the common hourly
    forecast and the realised hourly means) and every scenario shifted by ``P^own − P^common`` (held per hour),
    clipped to ``[0, capacity]``."""
    own = behaviour.forecast(common_h, realised_h, capacity_kw)
    if own is common_h:
        return None
    delta = np.repeat(np.asarray(own, dtype=float) - np.asarray(common_h, dtype=float),
                      scenarios.shape[-1] // np.asarray(common_h).size)
    return np.asarray(own, dtype=float), np.clip(scenarios + delta, 0.0, float(capacity_kw))


def park_behaviour_rows(sc: ThreeCampusScenario, conduct: Conduct, reported: Mapping[str, float]
                        ) -> list[tuple[str, str, float, str]]:
    """The behaviour records of each park on a bargaining day ``(park, variable, value, unit)`` (SPEC §8;
    :mod:`sim.engine.records`): ``joined``, ``reported_standalone_cost`` (what NB-2 saw), ``offered_share``, its
    storage's power limit and usable energy and its P2P lines' capacity (the sum over its lines of the larger
    direction) as available and as offered to the coalition's plan, and the behaviour's parameters of the day
    (``param_<name>``)."""
    rows: list[tuple[str, str, float, str]] = []
    for p in sc.parks:
        n = p.name
        e = p.ess
        lines = math.fsum(max(ln.cap_forward_kw, ln.cap_reverse_kw) for ln in sc.lines if n in (ln.a, ln.b))
        rows += behaviour_records(
            n, share=float(conduct.shares.get(n, 1.0)) if n in conduct.members else 1.0,
            storage_kw=e.p_charge_max_kw, storage_kwh=(e.soc_max_frac - e.soc_min_frac) * e.capacity_kwh,
            exchange_kw=lines, parameters=conduct.behaviours[n].parameters_of_day(), currency=sc.currency,
            joined=n in conduct.members, reported=reported.get(n))
    return rows


def audit_rows(players: Sequence[str], standalone: Mapping[str, float], final: Mapping[str, float],
               values: Mapping[frozenset[str], float], currency: str) -> list[tuple[str, str, float, str]]:
    """The mechanism audit of the day (``market.audit``, SPEC §8) as records (:func:`sim.engine.records.audit_records`,
    the core within :data:`CORE_TOL`)."""
    return audit_records(players, standalone, final, values, currency, CORE_TOL)

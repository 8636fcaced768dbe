"""Behaviours on the rural campus (SPEC §8): ``risk`` and ``forecast`` have something to act on.

The rural campus of paper 002 decides its day-ahead trading power alone (there is no one to bargain with, so
``misreport``, ``withhold``, ``leave`` and ``learn`` have nothing to act on), and its decision method is the
scenario's ``uncertainty.method`` over the reference samples (SPEC §6.4).  ``risk`` sets the parameters that
method has: ``lam`` — λ of CD-2 — for ``cdro``, ``beta`` — the CVaR level — for ``cvar``; the method has no CVaR
weight.  With ``lam`` equal to the scenario's λ the day is the truthful one, number for number; ``beta = 0`` is the
risk-neutral (SO) plan.  ``forecast`` replaces the PV forecast the campus plans on (the reference samples scale
it, and the mpc replay uses it beyond the current hour); ``sigma = 1, b = 0`` is the truthful day.  Every other
behaviour, a risk parameter the run's method does not have, and ``risk`` or ``forecast`` in the ``oracle`` mode
(which chooses the trading power knowing the realised day: nothing uncertain to weigh, no forecast) are refused
when the run starts (:func:`attach`), never accepted and ignored.
"""

from __future__ import annotations

from agents.behaviours import RURAL_CAMPUS, Behaviour, BehaviourSetupError, assign, make
from agents.rural_campus import RuralCampusAgent
from scenarios.loader import RURAL_BEHAVIOUR_TYPES
from scenarios.schema import RuralIESScenario
from sim.engine.system import Mode

#: risk parameter -> the DA method that has it (the keyword of :meth:`agents.rural_campus.RuralDay.solve`).
RISK_PARAMETERS: dict[str, tuple[str, str]] = {"lam": ("cdro", "lam"), "beta": ("cvar", "beta")}


def check(sc: RuralIESScenario, mode: Mode, name: str | None = None) -> Behaviour:
    """The campus's behaviour (a new object) from the scenario's ``[behaviours]`` table (by the campus's ``name``,
    default the scenario's, or ``RuralCampusAgent``), refusing what it cannot act on (the module docstring).
    Called before any model is built (:meth:`sim.systems.rural_ies.system.RuralSystem.check_run`) and by
    :func:`attach`."""
    name = name or sc.name
    spec = assign(sc.behaviours, {name: RURAL_CAMPUS}, RURAL_BEHAVIOUR_TYPES, where="[behaviours]")[name]
    where = f"[behaviours] {name}"
    if spec.id not in ("truthful", "risk", "forecast"):
        raise BehaviourSetupError(f"{where}: the rural campus decides alone (no bargaining, no coalition), so only "
                                  f"risk (its DA method's lam or beta) and forecast act on it, not {spec.id}")
    if spec.id == "forecast" and mode.full_information:
        raise BehaviourSetupError(f"{where}: forecast replaces the PV forecast the DA decision is made on; mode "
                                  f"{mode.name} decides knowing the realised day")
    b = make(spec, where)
    if spec.id == "risk":
        if mode.full_information:
            raise BehaviourSetupError(f"{where}: risk weighs the uncertainty of the DA decision; mode {mode.name} "
                                      "decides knowing the realised day")
        method = sc.uncertainty.method
        for name in b.risk_parameters():
            if name not in RISK_PARAMETERS or RISK_PARAMETERS[name][0] != method:
                has = [f"{k} ({m})" for k, (m, _) in RISK_PARAMETERS.items()]
                raise BehaviourSetupError(
                    f"{where}: risk parameter {name} is not a parameter of the campus's DA method "
                    f"uncertainty.method = {method}; the rural risk parameters are {', '.join(has)}")
    return b


def attach(agent: RuralCampusAgent, sc: RuralIESScenario, mode: Mode) -> Behaviour:
    """Make the campus's behaviour (:func:`check`) and attach it (``agent.behaviour``)."""
    agent.behaviour = check(sc, mode, agent.name)
    return agent.behaviour


def solve_keywords(behaviour: Behaviour) -> dict[str, float]:
    """The behaviour's risk parameters as keywords of :meth:`agents.rural_campus.RuralDay.solve` (empty: the
    scenario's)."""
    return {RISK_PARAMETERS[k][1]: float(v) for k, v in behaviour.risk_parameters().items()}

"""The records a run writes, their columns and units, in one place.

``kpis.csv`` (and ``kpis/day=NNN/<run>.csv``): one row per run and day —

===================  =====  ==========================================================
column               unit   what it is
===================  =====  ==========================================================
``run``              –      run name: ``<mode>-s<seed>`` (``-<point>`` for a sweep point)
``mode``             –      coordination mode (one of the system's modes)
``seed``             –      the run's seed; every random draw of the day comes from it
``point``            –      sweep point (``base`` outside a sweep)
``day``              –      1-based day of the run
``day_of_year``      –      calendar day of the weather draw (1..365)
===================  =====  ==========================================================

then the system's own KPI columns in the order :attr:`sim.engine.system.System.kpis` declares them
(name, unit, lower-is-better and description; the README lists them per system), then any per-agent
columns the system adds (e.g. ``final_cost_<cluster>``; the per-agent records below hold the same).

``agents/day=NNN/<run>.parquet``: per-agent records in long format, columns :data:`AGENT_COLUMNS`:
``run, mode, day, agent_id, agent_type, behaviour, variable, value, unit``.  ``behaviour`` is the agent's
behaviour id (SPEC §8: ``truthful`` unless the scenario's ``[behaviours]`` table says otherwise).  Costs and gains
are true ones; where agents bargain the records add what the market saw and what the behaviour did:

============================  =====  =====================================================================
variable                      unit   what it is
============================  =====  =====================================================================
``joined``                    1      1 if the agent was in the day's coalition (``leave`` may keep it out)
``reported_standalone_cost``  USD    the ``C^0`` it reported to NB-2 (``standalone_cost`` is the true one)
``offered_share``             1      share of its flexibility offered to the coalition problem (``withhold``)
``available_storage_kw``      kW     its storage's power limit; ``offered_storage_kw`` what it offered
``available_storage_kwh``     kWh    its storage's usable energy; ``offered_storage_kwh`` what it offered
``available_exchange_kw``     kW     its exchange limit; ``offered_exchange_kw`` what it offered
``param_<name>``              1      the behaviour's parameter of the day (e.g. ``param_m`` a learner chose,
                                     ``param_p_arm<i>`` its EXP3 probabilities)
``shapley_gain``              USD    its Shapley value of the true savings game (``market.audit``)
============================  =====  =====================================================================

With ``market.audit`` the coordinator (``agent_id`` ``market``, ``agent_type`` ``Coordinator``) adds, per
coalition ``T`` of two or more (names joined by ``+``), ``coalition_value[T]`` (``v(T)``, USD) and
``coalition_excess[T]`` (``Σ_{i∈T} C^fin_i − v(T)``, USD; > 0: ``T`` blocks), and ``core_max_excess`` (USD),
``in_core`` (1/0) and ``core_blocking[T]`` (the coalition with the largest excess).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from market.audit import core_excess, shapley_values
from sim.engine.system import System

#: Identifier columns of every KPI row, in order.
ID_COLUMNS: tuple[str, ...] = ("run", "mode", "seed", "point", "day", "day_of_year")
#: Columns of the per-agent records.
AGENT_COLUMNS: tuple[str, ...] = ("run", "mode", "day", "agent_id", "agent_type", "behaviour", "variable", "value",
                                  "unit")


def kpi_row(system: System, kpis: Mapping[str, Any]) -> dict[str, Any]:
    """The day's KPI row in file order: identifiers, the system's declared KPIs, then per-agent extras.

    A declared KPI the day did not report is an error (a silently missing column would read as
    NaN in ``compare``); keys that are neither identifiers nor declared KPIs are kept after them.
    """
    missing = [c for c in ID_COLUMNS if c not in kpis] + [k.name for k in system.kpis if k.name not in kpis]
    if missing:
        raise RuntimeError(f"{system.kind}: the day's KPI row lacks {', '.join(missing)}")
    declared = {k.name for k in system.kpis}
    row = {c: kpis[c] for c in ID_COLUMNS}
    row.update({k.name: kpis[k.name] for k in system.kpis})
    row.update({k: v for k, v in kpis.items() if k not in row and k not in declared})
    return row


def agent_records(run: str, mode: str, day: int, rows: list[tuple[str, str, str, str, float, str]]) -> pd.DataFrame:
    """Per-agent records of one day from ``(agent_id, agent_type, behaviour, variable, value, unit)`` tuples."""
    df = pd.DataFrame(rows, columns=list(AGENT_COLUMNS[3:]))
    df.insert(0, "run", run)
    df.insert(1, "mode", mode)
    df.insert(2, "day", int(day))
    df["value"] = df["value"].astype(float)
    return df




def behaviour_records(agent: str, *, share: float, storage_kw: float, storage_kwh: float, exchange_kw: float,
                      parameters: Mapping[str, float], currency: str, joined: bool | None = None,
                      reported: float | None = None) -> list[tuple[str, str, float, str]]:
    """A bargaining agent's behaviour records of a day ``(agent_id, variable, value, unit)`` (SPEC §8; the table in
    the module docstring): ``offered_share``, its storage power, usable storage energy and exchange capacity as
    available and as offered (``share`` times them), ``joined`` and ``reported_standalone_cost`` when it bargained
    (``joined`` not ``None``), and the behaviour's parameters of the day as ``param_<name>``."""
    rows: list[tuple[str, str, float, str]] = [(agent, "offered_share", float(share), "1")]
    for what, value, unit in (("storage", storage_kw, "kW"), ("storage", storage_kwh, "kWh"),
                              ("exchange", exchange_kw, "kW")):
        suffix = "kwh" if unit == "kWh" else "kw"
        rows.append((agent, f"available_{what}_{suffix}", float(value), unit))
        rows.append((agent, f"offered_{what}_{suffix}", float(share) * float(value), unit))
    if joined is not None:
        rows.append((agent, "joined", float(joined), "1"))
        rows.append((agent, "reported_standalone_cost", math.nan if reported is None else float(reported), currency))
    rows += [(agent, f"param_{k}", float(v), "1") for k, v in parameters.items()]
    return rows


def audit_records(players: Sequence[str], standalone: Mapping[str, float], final: Mapping[str, float],
                  values: Mapping[frozenset[str], float], currency: str, core_tol: float
                  ) -> list[tuple[str, str, float, str]]:
    """The mechanism audit of a day (``market.audit``, SPEC §8) as records ``(agent_id, variable, value, unit)``.

    ``standalone`` are the players' true ``C^0``, ``final`` their true final costs, ``values`` ``v(T)`` of every
    coalition of two or more.  Per player its Shapley value of the true savings game (``shapley_gain``); for the
    coordinator (``agent_id`` ``market``) every coalition's ``coalition_value[T]`` and ``coalition_excess[T]``
    (``Σ_{i∈T} C^fin_i − v(T)``; > 0: ``T`` blocks; members joined by ``+`` in the players' order), the largest
    excess over the proper coalitions (``core_max_excess``, ``core_blocking[T]``) and whether the allocation is in
    the core (``in_core``: the excess is at most ``core_tol`` times the players' total ``|C^0|``, at least 1)."""
    def key(t: frozenset[str]) -> str:
        return "+".join(p for p in players if p in t)

    phi = shapley_values(list(players), standalone, values)
    rows: list[tuple[str, str, float, str]] = [(p, "shapley_gain", phi[p], currency) for p in players]
    for t, v in values.items():
        rows.append(("market", f"coalition_value[{key(t)}]", float(v), currency))
        rows.append(("market", f"coalition_excess[{key(t)}]", math.fsum(final[i] for i in t) - float(v), currency))
    excess, blocking = core_excess(final, values, standalone)
    tol = core_tol * max(1.0, math.fsum(abs(x) for x in standalone.values()))
    rows += [("market", "core_max_excess", excess, currency), ("market", "in_core", float(excess <= tol), "1"),
             ("market", f"core_blocking[{key(blocking)}]", excess, currency)]
    return rows

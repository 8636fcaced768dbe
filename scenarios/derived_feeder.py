"""What a distribution scenario derives from a real network (SPEC §9): clusters, sites, stations, the year.

A scenario on a SimBench grid or a pandapower JSON (:mod:`scenarios.network_source`) does not list its agents bus by
bus; they follow from the network:

- **clusters** (:func:`feeder_clusters`): one per feeder leaving the substation busbar, in the busbar's order, named
  ``F1``, ``F2``, …; a feeder with fewer than ``min_buses`` buses joins its neighbour on the busbar (the previous
  one, or the next for the first) until every cluster has enough buses for a bargaining position of its own; the
  buses above the busbar (the external grid's bus, the transformer's high-voltage side, the busbar itself) join
  the largest cluster.  Each cluster's leading bus (where its storage sits) is the head of its largest feeder;
* **renewable sites** (:func:`generator_sites`): every in-service static generator belongs to its bus's cluster;
  the generators of one bus and class (PV, or wind with biomass and hydro) form one site whose capacity is their
  sum; a site keeps apart the generators with a weather-driven forecast (PV, wind) and the others;
* **EV stations** (:func:`station_buses`): every ``k``-th load bus in bus order (the ``k``-th, ``2k``-th, …);
* **the year** (:func:`scenarios.network_source.summed_columns`): the profile columns of each transformer area
  (every load of its bus) and each site, summed into one column per agent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scenarios.network_source import NetworkData


@dataclass(frozen=True)
class DerivedCluster:
    """A cluster derived from the feeders: its name, buses (sorted), leading bus and the feeder heads it joins."""

    name: str
    buses: tuple[int, ...]
    leading_bus: int
    heads: tuple[int, ...]


@dataclass(frozen=True)
class DerivedSite:
    """A renewable site: class, bus, installed kW, and the generators (profile columns) with and without a weather
    error in their forecast."""

    kind: str
    bus: int
    capacity_kw: float
    weather_columns: tuple[int, ...]
    fixed_columns: tuple[int, ...]
    names: tuple[str, ...]


def feeder_clusters(nd: NetworkData, min_buses: int) -> list[DerivedCluster]:
    """One cluster per feeder of ``nd`` (module docstring), small feeders merged into a neighbour."""
    groups: list[list[tuple[int, ...]]] = [[f] for f in nd.feeders]
    if not groups:
        return [DerivedCluster("F1", tuple(sorted(nd.feeder.buses)), nd.busbar[-1], (nd.busbar[-1],))]

    def size(g: list[tuple[int, ...]]) -> int:
        return sum(len(f) for f in g)

    while len(groups) > 1:
        small = [i for i, g in enumerate(groups) if size(g) < min_buses]
        if not small:
            break
        i = min(small, key=lambda k: (size(groups[k]), k))
        j = i - 1 if i > 0 else 1
        lo, hi = min(i, j), max(i, j)
        groups[lo] = groups[lo] + groups[hi]
        del groups[hi]
    largest = max(range(len(groups)), key=lambda k: (size(groups[k]), -k))
    out = []
    for k, g in enumerate(groups):
        buses = [b for f in g for b in f]
        if k == largest:
            buses += list(nd.busbar)
        lead_feeder = max(g, key=len)
        out.append(DerivedCluster(f"F{k + 1}", tuple(sorted(buses)), lead_feeder[0], tuple(f[0] for f in g)))
    return out


def generator_sites(nd: NetworkData) -> list[DerivedSite]:
    """One site per bus and class, in bus order then PV before wind (module docstring)."""
    acc: dict[tuple[int, str], dict[str, list]] = {}
    for g in nd.generators:
        entry = acc.setdefault((g.bus, g.kind), {"cap": [], "w": [], "f": [], "names": []})
        entry["cap"].append(g.capacity_kw)
        (entry["w"] if g.weather else entry["f"]).append(g.column)
        entry["names"].append(g.name)
    order = sorted(acc, key=lambda k: (k[0], k[1] != "pv"))
    return [DerivedSite(kind, bus, float(sum(acc[(bus, kind)]["cap"])), tuple(acc[(bus, kind)]["w"]),
                        tuple(acc[(bus, kind)]["f"]), tuple(acc[(bus, kind)]["names"]))
            for bus, kind in order if sum(acc[(bus, kind)]["cap"]) > 0]


def station_buses(load_buses: Sequence[int], every: int) -> list[int]:
    """Every ``every``-th of ``load_buses`` (sorted): the ``every``-th, ``2·every``-th, … (none when ``every`` is 0)."""
    if every <= 0:
        return []
    ordered = sorted(load_buses)
    return ordered[every - 1::every]

"""The operating topology of any pandapower network as a radial tree on one per-unit base (issue 17, SPEC §9).

A real feeder (a SimBench grid, a pandapower JSON) is not a clean list of radial lines: buses are joined by
bus-bar couplers, lines and transformers are switched out at their ends, transformers run in parallel, the voltage
levels differ.  :func:`radial_network` turns a pandapower ``net`` into what LinDistFlow and the AC check need:

1. in-service buses only; buses joined by a *closed* bus-bus switch (``et = 'b'``, no impedance) are fused into
   one node (union-find; the node is named after its lowest bus index);
2. in-service lines and two-winding transformers, less those with an *open* switch at an end (``et = 'l'`` /
   ``'t'``); a line dropped that way is a tie line (:attr:`RadialNetwork.tie_lines`);
3. every branch on the common base ``S_base = net.sn_mva``, ``V_base`` = each bus's ``vn_kv``
   (``Z_base = V_base² / S_base``):

   - line: ``z = (r + j x)_{Ω/km} · length / parallel / Z_base(from bus)``; its charging ``b = 2π f c_{nF/km} 1e-9
     · length · parallel · Z_base``, half at each end (``b_half_pu``);
   - transformer (pandapower's own model): ``t = (vn_lv_kv / V_base,lv)² S_base``, ``|z| = vk% / 100 · t / sn_mva``,
     ``r = vkr% / 100 · t / sn_mva``, ``x = √(|z|² − r²)``, both ``/ parallel``; the off-nominal ratio
     ``n = (vn_hv' / V_base,hv) / (vn_lv' / V_base,lv)`` with the tap applied to the tap side's rated voltage
     ``vn' = vn (1 + (tap_pos − tap_neutral) tap_step% / 100)`` **only when ``tap_changer_type`` is set**, as
     pandapower 3 does (SimBench grids leave it empty: their ``tap_pos`` changes nothing in ``runpp``); its
     magnetising admittance ``g = pfe_kW / 1000 / S_base``, ``|y| = i0% / 100 · sn_mva / S_base``,
     ``b = −√(|y|² − g²)`` (times ``parallel``) sits at its end nearer the external grid (pandapower's T model puts it
     mid-impedance; the difference is second order);

4. parallel branches between the same two nodes are merged (``z₁ z₂ / (z₁ + z₂)``, charging added; refused if their
   ratios differ);
5. the result must be a tree spanning every node from the one in-service external grid: a loop is refused naming
   its buses (:class:`MeshedNetworkError`), a node the grid does not reach is refused naming it;
6. the tree is oriented from the root (breadth first): one :class:`RadialBranch` per non-root node.

Elements the radial model cannot represent (three-winding transformers, impedances, DC lines, wards, shunts, PV
generators, a second external grid, a bus-bus switch with impedance) are refused with a message naming them, never
dropped silently.  pandapower's ``measurement`` table is ignored (measurements are not elements).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from scenarios.schema import ScenarioError

#: pandapower tables of elements a radial LinDistFlow model cannot represent (refused when in service).
UNSUPPORTED = ("trafo3w", "impedance", "dcline", "ward", "xward", "shunt", "gen")


class MeshedNetworkError(ScenarioError):
    """The operating topology has a loop (its buses are named in the message)."""


@dataclass(frozen=True)
class RadialBranch:
    """The branch feeding node ``to_node`` from ``from_node`` on the common per-unit base.

    ``ratio`` is the off-nominal ratio ``n`` seen from ``from_node`` (``v_to = v_from / n²`` before the drop; 1 for a
    line); ``b_half_pu`` the charging susceptance at each end; ``g_mag_pu`` / ``b_mag_pu`` a transformer's
    magnetising admittance (iron losses, magnetising current; ``b`` negative), placed at ``from_node`` (the end
    nearer the external grid, its high-voltage side in a normal feeder); ``elements`` the pandapower elements merged
    into it (``("line", 4)``, ``("trafo", 0)``); ``rating_mva`` its thermal rating (a line's ``√3 · vn_kv ·
    max_i_ka · parallel``, a transformer's ``sn_mva · parallel``; summed over merged parallels; infinite when the
    net gives none)."""

    from_node: int
    to_node: int
    r_pu: float
    x_pu: float
    ratio: float
    b_half_pu: float
    elements: tuple[tuple[str, int], ...]
    g_mag_pu: float = 0.0
    b_mag_pu: float = 0.0
    rating_mva: float = math.inf


@dataclass(frozen=True)
class RadialNetwork:
    """A pandapower network's operating topology as a radial tree (module docstring).

    ``nodes`` are the representative pandapower bus indices of the fused nodes in breadth-first order from
    ``root``; ``members`` the buses fused into each; ``node_of`` each in-service bus's node; ``vn_kv`` and ``names``
    per node; ``branches`` one per non-root node, in the order of ``nodes[1:]``; ``tie_lines`` the lines dropped
    for an open switch; ``v0_pu`` the external grid's set-point; ``node_b_pu`` the charging of the tie lines open at
    one end only (energised from the other end, whose node carries their whole susceptance)."""

    source: str
    nodes: tuple[int, ...]
    names: Mapping[int, str]
    members: Mapping[int, tuple[int, ...]]
    node_of: Mapping[int, int]
    vn_kv: Mapping[int, float]
    branches: tuple[RadialBranch, ...]
    root: int
    s_base_mva: float
    v0_pu: float
    tie_lines: tuple[int, ...]
    node_b_pu: Mapping[int, float] = MappingProxyType({})

    @property
    def parent(self) -> dict[int, int]:
        """Node -> the node that feeds it."""
        return {b.to_node: b.from_node for b in self.branches}


def _in_service(net: Any, table: str) -> Any:
    df = net.get(table, None)
    if df is None or len(df) == 0:
        return None
    return df[df["in_service"]] if "in_service" in df.columns else df


def _bus_label(net: Any, b: int) -> str:
    name = net.bus.at[b, "name"] if "name" in net.bus.columns else None
    return f"{name} ({b})" if isinstance(name, str) and name else f"bus {b}"


def _tap_factor(tr: Any) -> float:
    """``1 + (tap_pos − tap_neutral) tap_step% / 100`` when the transformer has a tap changer type, else 1."""
    kind = tr.get("tap_changer_type")
    if kind is None or (isinstance(kind, float) and math.isnan(kind)) or kind == "":
        return 1.0
    pos, neutral, step = tr.get("tap_pos"), tr.get("tap_neutral"), tr.get("tap_step_percent")
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in (pos, neutral, step)):
        return 1.0
    return 1.0 + (float(pos) - float(neutral)) * float(step) / 100.0


def radial_network(net: Any, source: str = "network") -> RadialNetwork:
    """The radial operating topology of pandapower ``net`` on one per-unit base (the module docstring's steps).

    ``source`` names the network in every error (``simbench:1-MV-rural--0-sw``, a JSON file's path).  Raises
    :class:`MeshedNetworkError` for a loop and :class:`scenarios.schema.ScenarioError` for anything else the radial
    model cannot represent."""
    import networkx as nx  # imported with a network, not with the scenario layer

    def fail(msg: str) -> ScenarioError:
        return ScenarioError(f"{source}: {msg}")

    for table in UNSUPPORTED:
        df = _in_service(net, table)
        if df is not None and len(df):
            raise fail(f"{len(df)} in-service {table} element(s) (indices {list(map(int, df.index[:5]))}); the "
                       "radial network model has lines and two-winding transformers only")
    eg = _in_service(net, "ext_grid")
    if eg is None or len(eg) != 1:
        raise fail(f"needs exactly one in-service external grid (the substation), found "
                   f"{0 if eg is None else len(eg)}")
    s_base = float(net.sn_mva)
    f_hz = float(net.f_hz)
    buses = [int(b) for b in net.bus.index[net.bus["in_service"]]]
    vn = {b: float(net.bus.at[b, "vn_kv"]) for b in buses}
    up = {b: b for b in buses}

    def find(a: int) -> int:
        while up[a] != a:
            up[a] = up[up[a]]
            a = up[a]
        return a

    sw = net.switch if "switch" in net and len(net.switch) else None
    open_line: set[int] = set()
    open_end: dict[int, set[int]] = {}
    open_trafo: set[int] = set()
    if sw is not None:
        for i, s in sw.iterrows():
            et, closed = str(s["et"]), bool(s["closed"])
            if et == "b" and closed:
                a, b = int(s["bus"]), int(s["element"])
                if a not in up or b not in up:
                    continue  # a coupler to an out-of-service bus
                if float(s.get("z_ohm", 0.0) or 0.0) > 0:
                    raise fail(f"closed bus-bus switch {i} between {_bus_label(net, a)} and {_bus_label(net, b)} has "
                               f"an impedance of {s['z_ohm']} Ω; only ideal couplers can be fused")
                if vn[a] != vn[b]:
                    raise fail(f"bus-bus switch {i} joins {_bus_label(net, a)} ({vn[a]} kV) and "
                               f"{_bus_label(net, b)} ({vn[b]} kV)")
                ra, rb = find(a), find(b)
                if ra != rb:
                    up[max(ra, rb)] = min(ra, rb)
            elif et == "l" and not closed:
                open_line.add(int(s["element"]))
                open_end.setdefault(int(s["element"]), set()).add(int(s["bus"]))
            elif et == "t" and not closed:
                open_trafo.add(int(s["element"]))
    edges: list[tuple[int, int, complex, float, float, tuple[str, int]]] = []
    magnetising: dict[tuple[str, int], complex] = {}
    tie_charging: dict[int, float] = {}
    rating: dict[tuple[str, int], float] = {}
    lines = _in_service(net, "line")
    for i, ln in (lines.iterrows() if lines is not None else ()):
        if int(i) in open_line:
            # a tie line open at one end stays energised from the other, which carries its whole charging
            ends = {int(ln["from_bus"]), int(ln["to_bus"])} - open_end.get(int(i), set())
            if len(ends) == 1 and (end := ends.pop()) in vn:
                c = float(ln.get("c_nf_per_km", 0.0) or 0.0)
                par = float(ln.get("parallel", 1) or 1)
                tie_charging[end] = tie_charging.get(end, 0.0) + \
                    2 * math.pi * f_hz * c * 1e-9 * float(ln["length_km"]) * par * vn[end] ** 2 / s_base
            continue
        a, b = int(ln["from_bus"]), int(ln["to_bus"])
        if a not in up or b not in up:
            raise fail(f"line {i} connects an out-of-service bus ({_bus_label(net, a)} – {_bus_label(net, b)})")
        z_base = vn[a] ** 2 / s_base
        par = float(ln.get("parallel", 1) or 1)
        length = float(ln["length_km"])
        z = complex(float(ln["r_ohm_per_km"]), float(ln["x_ohm_per_km"])) * length / par / z_base
        c = float(ln.get("c_nf_per_km", 0.0) or 0.0)
        b_half = 2 * math.pi * f_hz * c * 1e-9 * length * par * z_base / 2
        edges.append((a, b, z, 1.0, b_half, ("line", int(i))))
        i_max = float(ln.get("max_i_ka", math.nan))
        rating[("line", int(i))] = math.sqrt(3) * vn[a] * i_max * par if math.isfinite(i_max) and i_max > 0 \
            else math.inf
    trafos = _in_service(net, "trafo")
    for i, tr in (trafos.iterrows() if trafos is not None else ()):
        if int(i) in open_trafo:
            continue
        hv, lv = int(tr["hv_bus"]), int(tr["lv_bus"])
        if hv not in up or lv not in up:
            raise fail(f"transformer {i} connects an out-of-service bus")
        tap = _tap_factor(tr)
        on_hv = str(tr.get("tap_side", "hv")) == "hv"
        v_hv = float(tr["vn_hv_kv"]) * (tap if on_hv else 1.0)
        v_lv = float(tr["vn_lv_kv"]) * (1.0 if on_hv else tap)
        ratio = (v_hv / vn[hv]) / (v_lv / vn[lv])
        t = (v_lv / vn[lv]) ** 2 * s_base
        z_abs = float(tr["vk_percent"]) / 100.0 * t / float(tr["sn_mva"])
        r = float(tr["vkr_percent"]) / 100.0 * t / float(tr["sn_mva"])
        if r > z_abs:
            raise fail(f"transformer {i}: vkr_percent {tr['vkr_percent']} exceeds vk_percent {tr['vk_percent']}")
        par = float(tr.get("parallel", 1) or 1)
        edges.append((hv, lv, complex(r, math.sqrt(z_abs**2 - r**2)) / par, ratio, 0.0, ("trafo", int(i))))
        g_m = float(tr.get("pfe_kw", 0.0) or 0.0) / 1000.0 / s_base
        y_m = float(tr.get("i0_percent", 0.0) or 0.0) / 100.0 * float(tr["sn_mva"]) / s_base
        magnetising[("trafo", int(i))] = complex(g_m, -math.sqrt(max(y_m**2 - g_m**2, 0.0))) * par
        rating[("trafo", int(i))] = float(tr["sn_mva"]) * par
    # fuse, then merge parallel branches between the same two nodes
    merged: dict[tuple[int, int], dict[str, Any]] = {}
    for a, b, z, ratio, b_half, element in edges:
        na, nb = find(a), find(b)
        if na == nb:
            raise fail(f"{element[0]} {element[1]} connects {_bus_label(net, a)} to {_bus_label(net, b)}, which a "
                       "closed bus-bus switch already joins: a loop of zero length")
        key = (min(na, nb), max(na, nb))
        if key in merged:
            m = merged[key]
            same_way = m["from"] == na
            r_m = m["ratio"] if same_way else 1.0 / m["ratio"]
            if abs(r_m - ratio) > 1e-9:
                raise MeshedNetworkError(
                    f"{source}: parallel {m['elements'][0][0]} {m['elements'][0][1]} and {element[0]} {element[1]} "
                    f"between {_bus_label(net, na)} and {_bus_label(net, nb)} have different ratios "
                    f"({r_m:.6g} vs {ratio:.6g}): a circulating loop")
            m["z"] = m["z"] * z / (m["z"] + z)
            m["b_half"] += b_half
            m["elements"].append(element)
        else:
            merged[key] = {"from": na, "z": z, "ratio": ratio, "b_half": b_half, "elements": [element]}
    nodes = sorted({find(b) for b in buses})
    g = nx.Graph()
    g.add_nodes_from(nodes)
    for (a, b), m in merged.items():
        g.add_edge(a, b, **m)
    root = find(int(eg["bus"].iloc[0]))
    try:
        cycle = nx.find_cycle(g, source=root)
    except nx.NetworkXNoCycle:
        cycle = None
    if cycle is None:  # a loop may also sit in a part the root does not reach
        try:
            cycle = nx.find_cycle(g)
        except nx.NetworkXNoCycle:
            cycle = None
    if cycle is not None:
        path = " -> ".join(_bus_label(net, u) for u, _ in cycle)
        raise MeshedNetworkError(f"{source}: meshed operating topology: loop through {path} -> "
                                 f"{_bus_label(net, cycle[0][0])}; open a switch on it (a radial model needs a tree)")
    reached = nx.node_connected_component(g, root)
    if len(reached) != len(nodes):
        lost = sorted(set(nodes) - reached)
        raise fail(f"{len(lost)} node(s) not connected to the external grid: "
                   f"{', '.join(_bus_label(net, b) for b in lost[:8])}{' …' if len(lost) > 8 else ''}")
    order = [root]
    branches: list[RadialBranch] = []
    for u, v in nx.bfs_edges(g, root):
        m = g.edges[u, v]
        ratio = m["ratio"] if m["from"] == u else 1.0 / m["ratio"]
        y_mag = sum((magnetising.get(e, 0j) for e in m["elements"]), 0j)
        if m["from"] == u:  # pandapower keeps it behind the ideal transformer: seen from the hv node, y / n²
            y_mag /= m["ratio"] ** 2
        branches.append(RadialBranch(u, v, float(m["z"].real), float(m["z"].imag), float(ratio), float(m["b_half"]),
                                     tuple(m["elements"]), float(y_mag.real), float(y_mag.imag),
                                     float(sum(rating.get(e, math.inf) for e in m["elements"]))))
        order.append(v)
    members: dict[int, list[int]] = {}
    for b in buses:
        members.setdefault(find(b), []).append(b)
    fused = {b: find(b) for b in buses}
    lines_all = net.line.index if "line" in net else []
    return RadialNetwork(
        source=source, nodes=tuple(order), names={n: _bus_label(net, n) for n in order},
        members={n: tuple(members[n]) for n in order}, node_of=fused, vn_kv={n: vn[n] for n in order},
        branches=tuple(branches), root=root, s_base_mva=s_base, v0_pu=float(eg["vm_pu"].iloc[0]),
        tie_lines=tuple(sorted(int(i) for i in open_line if i in lines_all)),
        node_b_pu=MappingProxyType({find(b): v for b, v in tie_charging.items()}),
    )

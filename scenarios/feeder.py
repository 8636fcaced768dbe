"""The description of a radial distribution feeder and the IEEE-33 test feeder (SPEC §5.1, §5.2).

A feeder is scenario data: its buses, its radial branches with their series impedances, the base
loads per bus and the base quantities.  The network *models* that use it — the LinDistFlow
constraints and pandapower's AC power flow — live in :mod:`sim.network.lindistflow`.

Data
----
:func:`load_ieee33` reads the feeder from three small CSVs shipped in ``scenarios/feeders/``
(``ieee33_branches.csv``, ``ieee33_buses.csv``, ``ieee33_base.csv``), derived by
``scenarios/feeders/make_feeder.py`` from ``pandapower.networks.case33bw()`` — the Baran & Wu (1989)
33-bus test system as distributed with MATPOWER (``case33bw.m``) and shipped with pandapower — with
the rule of :func:`_feeder_from_pandapower` (``scenarios/feeders/PROVENANCE.md`` names the pandapower
version; a test checks the tables still equal what pandapower gives).  Reading them takes milliseconds,
where importing pandapower and building ``case33bw()`` from its JSON took ~3 s.  Buses are renumbered
to the paper's 1-based numbering (pandapower bus ``k`` is bus ``k + 1``; bus 1 is the substation).  The
32 in-service lines form the radial feeder; the 5 out-of-service lines are the open tie lines 21–8,
9–15, 12–22, 18–33 and 25–29 and are kept in :attr:`Feeder.tie_lines` for reference only.

Branch limits
-------------
:func:`default_s_max_mva` gives the SPEC §5.2 default apparent-power limit of every branch: 6 MVA on
the trunk (:data:`IEEE33_TRUNK`, branches 1–2…5–6), 4 MVA elsewhere.

Units
-----
Loads are in kW / kvar, impedances in Ω, ``v_base_kv`` in kV and ``s_base_mva`` in MVA.

pandapower
----------
pandapower is imported lazily by :func:`_pandapower` (importing it takes ~2 s; loading the feeder
does not need it), with its import-time INFO message about the optional plotly package silenced
(its logger is set to WARNING unless the user configured it).  :mod:`sim.network.lindistflow` uses
the same helper for the AC power flow.
"""

from __future__ import annotations

import csv
import functools
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

# SPEC §5.2 defaults
S_MAX_TRUNK_MVA = 6.0
S_MAX_OTHER_MVA = 4.0
IEEE33_TRUNK = frozenset({(1, 2), (2, 3), (3, 4), (4, 5), (5, 6)})
"""Branches with the 6 MVA default limit (SPEC §5.2); all others get 4 MVA."""

IEEE33_SOURCE = (
    "pandapower.networks.case33bw() (pandapower {version}): Baran & Wu, 'Network reconfiguration in "
    "distribution systems for loss reduction and load balancing', IEEE Trans. Power Delivery 4(2), 1989, "
    "as in MATPOWER case33bw.m; buses renumbered 1..33 (pandapower index + 1)"
)

FEEDER_DIR = Path(__file__).resolve().parent / "feeders"
"""The shipped feeder tables (written by ``scenarios/feeders/make_feeder.py``)."""
FEEDER_TABLES = {"branches": "{name}_branches.csv", "buses": "{name}_buses.csv", "base": "{name}_base.csv"}
"""File names of a feeder's three tables in :data:`FEEDER_DIR`."""


# ---------------------------------------------------------------------------- feeder data


@dataclass(frozen=True)
class Branch:
    """A radial branch ``from_bus -> to_bus`` (paper numbering) with series impedance in Ω.

    A transformer between voltage levels is a branch too: its impedance is referred to the feeder's
    ``v_base_kv`` (so ``r_ohm / z_base_ohm`` is its per-unit value on the common base) and ``ratio`` is its
    off-nominal turns ratio ``n`` seen from ``from_bus``: an ideal transformer ``v_to = v_from / n`` ahead of the
    impedance (1 for a line and for a transformer at its rated ratio)."""

    from_bus: int
    to_bus: int
    r_ohm: float
    x_ohm: float
    ratio: float = 1.0

    @property
    def key(self) -> tuple[int, int]:
        return (self.from_bus, self.to_bus)


@dataclass(frozen=True, eq=False)
class Feeder:
    """A radial distribution feeder (SPEC §5.1, §9).

    ``buses`` are the bus numbers (the paper's 1-based numbering for IEEE-33); arrays indexed by bus
    (``p_load_kw``, ``q_load_kvar`` and every per-bus array this module returns) follow the order of
    ``buses``.  ``branches`` are oriented away from ``root`` (the substation).  ``parent``,
    ``children`` and ``order`` (root first, every bus after its parent) are derived and validated
    on construction: the branches must form a tree spanning all buses.

    ``shunt_g_pu`` / ``shunt_b_pu`` are per-bus shunt admittances on the common base (S_base, V_base), at
    1 p.u. voltage they draw ``g`` active and inject ``b`` reactive power: half of each adjacent line's charging
    susceptance (positive ``b``) and a transformer's magnetising branch (``g`` its iron losses, negative ``b``).
    Zero for IEEE-33.  ``bus_names`` are the network's own names of the buses (empty: the numbers);
    ``branch_rating_mva`` the network's thermal ratings per branch (``None``: the scenario sets the limits, as for
    IEEE-33).
    """

    name: str
    buses: tuple[int, ...]
    branches: tuple[Branch, ...]
    p_load_kw: np.ndarray
    q_load_kvar: np.ndarray
    v_base_kv: float
    s_base_mva: float
    root: int = 1
    tie_lines: tuple[Branch, ...] = ()
    source: str = ""
    shunt_g_pu: np.ndarray | None = None
    shunt_b_pu: np.ndarray | None = None
    bus_names: tuple[str, ...] = ()
    branch_rating_mva: np.ndarray | None = None
    parent: Mapping[int, int] = field(init=False, repr=False)
    children: Mapping[int, tuple[int, ...]] = field(init=False, repr=False)
    order: tuple[int, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n = len(self.buses)
        if len(set(self.buses)) != n:
            raise ValueError(f"Feeder {self.name}: duplicate bus numbers in buses")
        if self.root not in self.buses:
            raise ValueError(f"Feeder {self.name}: root bus {self.root} is not among the buses")
        if len(self.branches) != n - 1:
            raise ValueError(
                f"Feeder {self.name}: a radial feeder with {n} buses has {n - 1} branches, got {len(self.branches)}"
            )
        if not (self.v_base_kv > 0 and self.s_base_mva > 0):
            raise ValueError(f"Feeder {self.name}: v_base_kv and s_base_mva must be > 0")
        bus_set = set(self.buses)
        parent: dict[int, int] = {}
        children: dict[int, list[int]] = {b: [] for b in self.buses}
        for br in self.branches:
            for end in br.key:
                if end not in bus_set:
                    raise ValueError(f"Feeder {self.name}: branch {br.from_bus}->{br.to_bus} ends at unknown bus {end}")
            if br.to_bus == self.root or br.to_bus in parent:
                raise ValueError(
                    f"Feeder {self.name}: bus {br.to_bus} is fed twice (branch {br.from_bus}->{br.to_bus}); "
                    "branches must be oriented away from the root and form a tree"
                )
            if br.r_ohm < 0 or br.x_ohm < 0 or not (math.isfinite(br.r_ohm) and math.isfinite(br.x_ohm)):
                raise ValueError(f"Feeder {self.name}: branch {br.from_bus}->{br.to_bus} has r/x not finite >= 0")
            if not (math.isfinite(br.ratio) and 0.5 <= br.ratio <= 2.0):
                raise ValueError(f"Feeder {self.name}: branch {br.from_bus}->{br.to_bus} has ratio {br.ratio}, "
                                 "outside [0.5, 2]")
            parent[br.to_bus] = br.from_bus
            children[br.from_bus].append(br.to_bus)
        order = [self.root]
        k = 0
        while k < len(order):
            order.extend(children[order[k]])
            k += 1
        if len(order) != n:
            missing = sorted(bus_set - set(order))
            raise ValueError(f"Feeder {self.name}: buses {missing} are not connected to the root {self.root}")
        for what in ("p_load_kw", "q_load_kvar"):
            arr = np.array(getattr(self, what), dtype=float)
            if arr.shape != (n,) or not np.all(np.isfinite(arr)):
                raise ValueError(f"Feeder {self.name}: {what} must be {n} finite values, got shape {arr.shape}")
            arr.setflags(write=False)
            object.__setattr__(self, what, arr)
        for what in ("shunt_g_pu", "shunt_b_pu"):
            raw = getattr(self, what)
            arr = np.zeros(n) if raw is None else np.array(raw, dtype=float)
            if arr.shape != (n,) or not np.all(np.isfinite(arr)):
                raise ValueError(f"Feeder {self.name}: {what} must be {n} finite values, got shape {arr.shape}")
            arr.setflags(write=False)
            object.__setattr__(self, what, arr)
        if self.branch_rating_mva is not None:
            rating = np.array(self.branch_rating_mva, dtype=float)
            if rating.shape != (n - 1,) or np.any(~(rating > 0)):
                raise ValueError(f"Feeder {self.name}: branch_rating_mva must be {n - 1} values > 0")
            rating.setflags(write=False)
            object.__setattr__(self, "branch_rating_mva", rating)
        if self.bus_names and len(self.bus_names) != n:
            raise ValueError(f"Feeder {self.name}: bus_names must name all {n} buses, got {len(self.bus_names)}")
        object.__setattr__(self, "parent", MappingProxyType(parent))
        object.__setattr__(self, "children", MappingProxyType({b: tuple(c) for b, c in children.items()}))
        object.__setattr__(self, "order", tuple(order))

    # ---------------------------------------------------------------- derived data
    @property
    def n_buses(self) -> int:
        return len(self.buses)

    @property
    def n_branches(self) -> int:
        return len(self.branches)

    @property
    def z_base_ohm(self) -> float:
        """Base impedance V_base² / S_base [Ω] (16.0276 Ω for IEEE-33)."""
        return self.v_base_kv**2 / self.s_base_mva

    @functools.cached_property
    def bus_position(self) -> Mapping[int, int]:
        """Bus number -> column in per-bus arrays."""
        return MappingProxyType({b: k for k, b in enumerate(self.buses)})

    @functools.cached_property
    def branch_position(self) -> Mapping[tuple[int, int], int]:
        """``(from, to)`` -> column in per-branch arrays."""
        return MappingProxyType({br.key: k for k, br in enumerate(self.branches)})

    @functools.cached_property
    def subtree(self) -> np.ndarray:
        """``D[k, c] = 1`` when bus ``buses[c]`` lies downstream of branch ``k`` (its to-bus included).

        Lossless flows are ``P = D @ p_net`` (LDF-1); the branches on the path from the root to a
        bus are those with a 1 in its column, so voltages are ``v = v0² - D.T @ drop`` (LDF-3).
        """
        pos = self.bus_position
        d = np.zeros((self.n_branches, self.n_buses))
        for k, br in enumerate(self.branches):
            stack = [br.to_bus]
            while stack:
                b = stack.pop()
                d[k, pos[b]] = 1.0
                stack.extend(self.children[b])
        d.setflags(write=False)
        return d

    @property
    def q_to_p_ratio(self) -> np.ndarray:
        """Base Q/P ratio per bus (0 where the bus has no active load): SPEC §5.1 scales reactive
        load with active load at this ratio."""
        p = self.p_load_kw
        return np.divide(self.q_load_kvar, p, out=np.zeros_like(p), where=p != 0)

    def r_x_ohm(self) -> tuple[np.ndarray, np.ndarray]:
        """Branch resistances and reactances [Ω] in branch order."""
        return (np.array([br.r_ohm for br in self.branches]), np.array([br.x_ohm for br in self.branches]))

    def ratios(self) -> np.ndarray:
        """Branch turns ratios ``n`` in branch order (1 for lines)."""
        return np.array([br.ratio for br in self.branches])

    @property
    def has_shunts(self) -> bool:
        """Whether any bus has a shunt admittance (line charging, transformer magnetising)."""
        return bool(np.any(self.shunt_g_pu) or np.any(self.shunt_b_pu))

    def bus_name(self, bus: int) -> str:
        """The network's name of ``bus`` (its number when the feeder has no names)."""
        return self.bus_names[self.bus_position[bus]] if self.bus_names else str(bus)


def _pandapower() -> Any:
    """Import pandapower (lazily) with its import-time INFO chatter silenced."""
    plot_log = logging.getLogger("pandapower.plotting")
    if plot_log.level == logging.NOTSET:
        plot_log.setLevel(logging.WARNING)
    import pandapower

    return pandapower


@functools.cache
def load_ieee33() -> Feeder:
    """The IEEE-33 feeder of SPEC §5.1 from the shipped tables (cached: one object per process; immutable).

    Source: Baran & Wu (1989) via MATPOWER ``case33bw``, as bundled by pandapower (the tables are
    ``pandapower.networks.case33bw()`` converted by :func:`_feeder_from_pandapower`, see
    ``scenarios/feeders/PROVENANCE.md``).  V_base 12.66 kV, S_base 10 MVA, base load 3715 kW / 2300 kvar,
    32 radial branches, 5 open tie lines.
    """
    return read_feeder_tables("ieee33")


def _rows(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    except OSError as exc:
        raise ValueError(f"feeder table {path}: cannot be read ({exc}); regenerate it with "
                         "scenarios/feeders/make_feeder.py") from exc


def read_feeder_tables(name: str, folder: Path = FEEDER_DIR) -> Feeder:
    """The feeder ``name`` from its three CSVs in ``folder`` (:data:`FEEDER_TABLES`).

    Branches of ``kind`` ``radial`` become :attr:`Feeder.branches` and ``tie`` :attr:`Feeder.tie_lines`, in
    file order; the buses' loads are in kW / kvar; the base row gives V_base [kV], S_base [MVA], the
    root bus and the pandapower version the tables were derived with (in :attr:`Feeder.source`).  A
    malformed file raises ``ValueError`` naming the file, the row and the field.
    """
    paths = {k: folder / v.format(name=name) for k, v in FEEDER_TABLES.items()}

    def num(path: Path, k: int, row: dict[str, str], field_: str, kind: type = float) -> Any:
        try:
            return kind(row[field_])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"feeder table {path}, data row {k}: field {field_!r} must be "
                             f"{'a whole number' if kind is int else 'a number'}, got {row.get(field_)!r}") from exc

    branches: list[Branch] = []
    ties: list[Branch] = []
    for k, row in enumerate(_rows(paths["branches"]), 1):
        kind = row.get("kind")
        if kind not in ("radial", "tie"):
            raise ValueError(f"feeder table {paths['branches']}, data row {k}: field 'kind' must be radial or tie, "
                             f"got {kind!r}")
        br = Branch(num(paths["branches"], k, row, "from_bus", int), num(paths["branches"], k, row, "to_bus", int),
                    num(paths["branches"], k, row, "r_ohm"), num(paths["branches"], k, row, "x_ohm"))
        (branches if kind == "radial" else ties).append(br)
    buses = _rows(paths["buses"])
    base = _rows(paths["base"])
    if len(base) != 1:
        raise ValueError(f"feeder table {paths['base']}: expected one data row, got {len(base)}")
    b0 = base[0]
    return Feeder(
        name=name,
        buses=tuple(num(paths["buses"], k, r, "bus", int) for k, r in enumerate(buses, 1)),
        branches=tuple(branches),
        p_load_kw=np.array([num(paths["buses"], k, r, "p_load_kw") for k, r in enumerate(buses, 1)]),
        q_load_kvar=np.array([num(paths["buses"], k, r, "q_load_kvar") for k, r in enumerate(buses, 1)]),
        v_base_kv=num(paths["base"], 1, b0, "v_base_kv"),
        s_base_mva=num(paths["base"], 1, b0, "s_base_mva"),
        root=num(paths["base"], 1, b0, "root", int),
        tie_lines=tuple(ties),
        source=IEEE33_SOURCE.format(version=b0.get("pandapower_version", "?")) if name == "ieee33" else "",
    )


def ieee33_from_pandapower() -> tuple[Feeder, str]:
    """The IEEE-33 feeder built from ``pandapower.networks.case33bw()`` today (imports pandapower, ~3 s),
    and pandapower's version: what ``scenarios/feeders/make_feeder.py`` writes and a test compares the
    shipped tables with."""
    pp = _pandapower()
    import pandapower.networks as pn

    net = pn.case33bw()
    return _feeder_from_pandapower(net, "ieee33", IEEE33_SOURCE.format(version=pp.__version__)), str(pp.__version__)


def _feeder_from_pandapower(net: Any, name: str, source: str) -> Feeder:
    """Convert a radial pandapower net of lines and PQ loads into a :class:`Feeder`."""
    for table in ("trafo", "trafo3w", "shunt", "sgen", "gen", "impedance", "switch"):
        if table in net and len(net[table]):
            raise ValueError(f"{name}: net has {table} elements, which the LinDistFlow feeder does not model")
    if len(net.ext_grid) != 1:
        raise ValueError(f"{name}: expected exactly one ext_grid (the substation), got {len(net.ext_grid)}")
    pp_buses = sorted(int(i) for i in net.bus.index)
    number = {pp_idx: k + 1 for k, pp_idx in enumerate(pp_buses)}
    vn = net.bus.vn_kv.unique()
    if len(vn) != 1:
        raise ValueError(f"{name}: buses have different nominal voltages {sorted(vn)}")
    lines = net.line
    if (lines.c_nf_per_km != 0).any() or (lines.get("g_us_per_km", 0) != 0).any():
        raise ValueError(f"{name}: lines with shunt admittance are not modelled by LinDistFlow")
    branches: list[Branch] = []
    ties: list[Branch] = []
    for _, ln in lines.iterrows():
        br = Branch(
            number[int(ln.from_bus)],
            number[int(ln.to_bus)],
            float(ln.r_ohm_per_km * ln.length_km / ln.parallel),
            float(ln.x_ohm_per_km * ln.length_km / ln.parallel),
        )
        (branches if bool(ln.in_service) else ties).append(br)
    p = np.zeros(len(pp_buses))
    q = np.zeros(len(pp_buses))
    for _, ld in net.load[net.load.in_service].iterrows():
        k = number[int(ld.bus)] - 1
        p[k] += 1000.0 * float(ld.p_mw * ld.scaling)
        q[k] += 1000.0 * float(ld.q_mvar * ld.scaling)
    root = number[int(net.ext_grid.bus.iloc[0])]
    return Feeder(
        name=name,
        buses=tuple(range(1, len(pp_buses) + 1)),
        branches=tuple(_orient(branches, root)),
        p_load_kw=p,
        q_load_kvar=q,
        v_base_kv=float(vn[0]),
        s_base_mva=float(net.sn_mva),
        root=root,
        tie_lines=tuple(ties),
        source=source,
    )


def _orient(branches: list[Branch], root: int) -> list[Branch]:
    """Orient every branch away from ``root`` (keeps the order of ``branches``)."""
    adj: dict[int, list[int]] = {}
    for br in branches:
        adj.setdefault(br.from_bus, []).append(br.to_bus)
        adj.setdefault(br.to_bus, []).append(br.from_bus)
    depth = {root: 0}
    stack = [root]
    while stack:
        b = stack.pop()
        for c in adj.get(b, []):
            if c not in depth:
                depth[c] = depth[b] + 1
                stack.append(c)
    out = []
    for br in branches:
        if depth.get(br.from_bus, -1) > depth.get(br.to_bus, -1):
            br = Branch(br.to_bus, br.from_bus, br.r_ohm, br.x_ohm)
        out.append(br)
    return out


def default_s_max_mva(feeder: Feeder) -> np.ndarray:
    """SPEC §5.2 default apparent-power limits per branch: 6 MVA on 1–2…5–6, 4 MVA elsewhere."""
    return np.array([S_MAX_TRUNK_MVA if br.key in IEEE33_TRUNK else S_MAX_OTHER_MVA for br in feeder.branches])

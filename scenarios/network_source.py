"""A scenario's network from its source: IEEE-33, a SimBench grid or any pandapower JSON (issue 17, SPEC §9).

``network.source`` names where the distribution network comes from:

- ``"ieee33"`` — the Baran & Wu feeder shipped as tables (:func:`scenarios.feeder.load_ieee33`);
- ``"simbench:<code>"`` — a SimBench benchmark grid (PyPI ``simbench``, ODbL data), e.g. ``1-MV-rural--0-sw``, with
  its year (2016) of 15-minute load and generation profiles;
- ``"pandapower:<file>.json"`` — any network saved by ``pandapower.to_json`` (the path relative to the scenario
  folder); a SimBench net saved that way keeps its profiles, any other runs on the weather model.

:func:`load_network` turns the source into a :class:`NetworkData`: the radial :class:`~scenarios.feeder.Feeder` of
its operating topology (:func:`scenarios.radial_network.radial_network`, then :func:`feeder_from_radial`), its
loads and static generators placed on the feeder's buses, and, where the net has them, its year of profiles
(:class:`YearProfiles`).  The feeder's buses are numbered 1..n breadth first from the external grid (bus 1), every
pandapower bus fused into a node maps to that node's number (:attr:`NetworkData.bus_of`), and the buses keep the
network's own names.

Per-unit base: ``S_base = net.sn_mva``; impedances are referred to one voltage, ``v_base_kv`` (the level most buses
share, 20 kV for an MV grid), so ``Ω / Z_base`` is every branch's per-unit value on the common base whatever its
voltage level; the transformers' turns ratios and the shunts (half of each line's charging at each end, the
transformers' magnetising) are kept per branch and per bus.
"""

from __future__ import annotations

import functools
import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from scenarios.feeder import Branch, Feeder, _pandapower
from scenarios.radial_network import RadialNetwork, radial_network
from scenarios.schema import ScenarioError

log = logging.getLogger(__name__)

GeneratorClass = Literal["pv", "wind"]
#: SimBench / pandapower static-generator ``type`` prefixes -> coopgrid's two renewable classes (case-insensitive
#: prefix match, first hit wins).  ``lv_RES`` is SimBench's aggregate of the low-voltage renewables below an MV/LV
#: station (its profiles are PV's: capacity factor 0.074).  Biomass and hydro join the non-PV class: curtailable at
#: the wind penalty, no PV use cost, and their forecast is their own profile (no weather error).
DEFAULT_GENERATOR_CLASSES: tuple[tuple[str, GeneratorClass], ...] = (
    ("pv", "pv"), ("lv_res", "pv"), ("wind", "wind"), ("wp", "wind"), ("biomass", "wind"), ("hydro", "wind"),
)
#: type prefixes of the generators whose day-ahead forecast carries the weather model's error (PV, wind); the others
#: (biomass, hydro, anything mapped by ``network.generator_classes``) are forecast as their own profile
WEATHER_PREFIXES = ("pv", "lv_res", "wind", "wp")
STEPS_PER_DAY = 96
SIMBENCH_PREFIX = "simbench:"
PANDAPOWER_PREFIX = "pandapower:"


@dataclass(frozen=True)
class LoadPoint:
    """The loads of one feeder bus (every in-service pandapower load there, summed): base P and Q of the net
    (kW / kvar, ``p_mw · scaling``) and the loads' columns in :attr:`YearProfiles.load_p_kw`."""

    bus: int
    name: str
    p_kw: float
    q_kvar: float
    columns: tuple[int, ...]


@dataclass(frozen=True)
class GeneratorPoint:
    """One in-service static generator: its feeder bus, name, pandapower ``type``, class (``pv`` / ``wind``),
    whether its forecast has a weather error, installed power (kW) and its column in :attr:`YearProfiles.gen_kw`."""

    bus: int
    name: str
    type: str
    kind: GeneratorClass
    weather: bool
    capacity_kw: float
    column: int


@dataclass(frozen=True, eq=False)
class YearProfiles:
    """A year of 15-minute profiles (SimBench: 2016, 366 days × 96 = 35,136 steps), kW / kvar, one column per
    load / generator in the order of :attr:`NetworkData.load_elements` / :attr:`NetworkData.generators`."""

    load_p_kw: np.ndarray
    load_q_kvar: np.ndarray
    gen_kw: np.ndarray
    year: int

    @property
    def n_days(self) -> int:
        return self.load_p_kw.shape[0] // STEPS_PER_DAY


@dataclass(frozen=True, eq=False)
class NetworkData:
    """A network source resolved: the feeder, its loads per bus, its generators and (maybe) a year of profiles."""

    source: str
    feeder: Feeder
    loads: tuple[LoadPoint, ...]
    generators: tuple[GeneratorPoint, ...]
    year: YearProfiles | None
    bus_of: dict[int, int]
    v0_pu: float
    feeders: tuple[tuple[int, ...], ...]
    """The feeders leaving the substation busbar: each a tuple of feeder buses (its head first), busbar excluded."""
    busbar: tuple[int, ...]
    """The buses from the root down to the substation busbar (the first bus with more than one child)."""
    _sums: dict[tuple[str, tuple[tuple[int, ...], ...]], np.ndarray] = field(default_factory=dict, repr=False)

    def year_sums(self, which: Literal["load_p_kw", "load_q_kvar", "gen_kw"],
                  groups: tuple[tuple[int, ...], ...]) -> np.ndarray:
        """``(steps, len(groups))``: the year's ``which`` profile columns summed per group (read-only; computed
        once per network and grouping, since every load of a scenario, e.g. each ``--set`` point, asks again)."""
        if self.year is None:
            raise ValueError(f"{self.source} has no profiles")
        key = (which, groups)
        if key not in self._sums:
            arr = summed_columns(getattr(self.year, which), groups)
            arr.setflags(write=False)
            self._sums[key] = arr
        return self._sums[key]


def summed_columns(array: np.ndarray, groups: Sequence[Sequence[int]]) -> np.ndarray:
    """``(steps, len(groups))``: the sum of ``array``'s columns in each group (0 for an empty group)."""
    out = np.zeros((array.shape[0], len(groups)))
    filled = [k for k, cols in enumerate(groups) if cols]
    if filled:
        order = [c for k in filled for c in groups[k]]
        starts = np.cumsum([0] + [len(groups[k]) for k in filled[:-1]])
        out[:, filled] = np.add.reduceat(array[:, order], starts, axis=1)  # one pass over the year's columns
    return out


def safe_name(name: str) -> str:
    """An agent id from a network element's name: letters, digits, ``_`` and ``-`` (``MV1.101 Load 2`` ->
    ``MV1_101_Load_2``), so it works as a TOML key and in ``--set`` paths."""
    out = re.sub(r"[^A-Za-z0-9_-]+", "_", name.strip()).strip("_")
    return out or "x"


def feeder_from_radial(rn: RadialNetwork, name: str, p_load_kw: np.ndarray, q_load_kvar: np.ndarray,
                       v_base_kv: float | None = None) -> Feeder:
    """The :class:`Feeder` of a radial network: nodes numbered 1..n in ``rn.nodes`` order (root = 1), impedances in Ω
    referred to ``v_base_kv`` (default: the voltage most nodes share), the transformer ratios on the branches, and
    per-bus shunts: half of every line's charging susceptance at each of its ends (``+b``) and every transformer's
    magnetising admittance at its ``from`` end, and the branches' thermal ratings.  ``p_load_kw`` / ``q_load_kvar``
    are the base loads in node order."""
    number = {node: k + 1 for k, node in enumerate(rn.nodes)}
    if v_base_kv is None:
        v_base_kv = Counter(rn.vn_kv[n] for n in rn.nodes).most_common(1)[0][0]
    z_base = v_base_kv**2 / rn.s_base_mva
    g = np.zeros(len(rn.nodes))
    b = np.zeros(len(rn.nodes))
    branches = []
    for br in rn.branches:
        i, j = number[br.from_node] - 1, number[br.to_node] - 1
        b[i] += br.b_half_pu
        b[j] += br.b_half_pu
        g[i] += br.g_mag_pu
        b[i] += br.b_mag_pu
        branches.append(Branch(number[br.from_node], number[br.to_node], br.r_pu * z_base, br.x_pu * z_base, br.ratio))
    for node, b_tie in rn.node_b_pu.items():
        b[number[node] - 1] += b_tie
    return Feeder(name=name, buses=tuple(range(1, len(rn.nodes) + 1)), branches=tuple(branches),
                  p_load_kw=np.asarray(p_load_kw, dtype=float), q_load_kvar=np.asarray(q_load_kvar, dtype=float),
                  v_base_kv=float(v_base_kv), s_base_mva=rn.s_base_mva, root=1, source=rn.source,
                  shunt_g_pu=g, shunt_b_pu=b, bus_names=tuple(rn.names[n] for n in rn.nodes),
                  branch_rating_mva=np.array([br.rating_mva for br in rn.branches]))


# ------------------------------------------------------------------------------ sources


def _simbench() -> Any:
    try:
        import simbench
    except ImportError as exc:  # pragma: no cover - a dependency of coopgrid
        raise ScenarioError("network.source 'simbench:…' needs the simbench package (pip install simbench)") from exc
    return simbench


def _read_net(source: str, folder: Path | None) -> tuple[Any, str]:
    """The pandapower net of ``source`` and its label for messages (``simbench:<code>`` or the JSON's path)."""
    if source.startswith(SIMBENCH_PREFIX):
        code = source[len(SIMBENCH_PREFIX):]
        sb = _simbench()
        _pandapower()
        try:
            return sb.get_simbench_net(code), source
        except Exception as exc:  # simbench raises plain exceptions for unknown codes
            raise ScenarioError(f"network.source = {source!r}: simbench does not know the grid code {code!r} "
                                f"({type(exc).__name__}: {exc}); codes look like 1-MV-rural--0-sw, "
                                "1-LV-rural1--0-sw (simbench.collect_all_simbench_codes())") from exc
    if source.startswith(PANDAPOWER_PREFIX):
        raw = source[len(PANDAPOWER_PREFIX):]
        path = Path(raw)
        if not path.is_absolute() and folder is not None:
            path = folder / path
        if path.suffix.lower() != ".json":
            raise ScenarioError(f"network.source = {source!r}: a pandapower network is a .json file saved by "
                                "pandapower.to_json")
        if not path.is_file():
            raise ScenarioError(f"network.source = {source!r}: file {path} does not exist")
        pp = _pandapower()
        try:
            return pp.from_json(str(path)), str(path)
        except Exception as exc:
            raise ScenarioError(f"network.source = {source!r}: {path} is not a pandapower JSON network "
                                f"({type(exc).__name__}: {exc})") from exc
    raise ScenarioError(f"network.source = {source!r}: must be 'ieee33', 'simbench:<grid code>' or "
                        "'pandapower:<file>.json'")


def _year_profiles(net: Any, label: str) -> YearProfiles | None:
    """The net's year of absolute profiles when it carries SimBench profiles (``net.profiles``), else ``None``."""
    prof = net.get("profiles") if hasattr(net, "get") else None
    if not prof or not any(len(v) for v in prof.values()):
        return None
    sb = _simbench()
    try:
        absolute = sb.get_absolute_values(net, profiles_instead_of_study_cases=True)
    except Exception as exc:
        raise ScenarioError(f"{label}: its profiles cannot be read by simbench.get_absolute_values "
                            f"({type(exc).__name__}: {exc})") from exc
    lp, lq, gp = (absolute[("load", "p_mw")], absolute[("load", "q_mvar")], absolute[("sgen", "p_mw")])
    n = lp.shape[0]
    if n % STEPS_PER_DAY or n == 0:
        raise ScenarioError(f"{label}: its profiles have {n} steps, not whole days of 96 quarter-hours")
    return YearProfiles(load_p_kw=lp.to_numpy(dtype=float) * 1000.0, load_q_kvar=lq.to_numpy(dtype=float) * 1000.0,
                        gen_kw=gp.to_numpy(dtype=float) * 1000.0, year=2016)


def _classify(label: str, index: int, name: str, kind: str,
              classes: tuple[tuple[str, GeneratorClass], ...]) -> GeneratorClass:
    low = kind.lower()
    for prefix, cls in classes:
        if low.startswith(prefix.lower()):
            return cls
    known = ", ".join(f"{p}* -> {c}" for p, c in classes)
    raise ScenarioError(f"{label}: static generator {index} ({name!r}) has type {kind!r}, which is neither PV nor "
                        f"wind; known types: {known}; name it in network.generator_classes")


def _feeders(feeder: Feeder) -> tuple[tuple[tuple[int, ...], ...], tuple[int, ...]]:
    """The feeders leaving the substation busbar (the first bus below the root with more than one child) and the
    buses from the root down to it."""
    path = [feeder.root]
    while len(feeder.children[path[-1]]) == 1:
        path.append(feeder.children[path[-1]][0])
    out = []
    for head in feeder.children[path[-1]]:
        sub = [head]
        k = 0
        while k < len(sub):
            sub.extend(feeder.children[sub[k]])
            k += 1
        out.append(tuple(sub))
    return tuple(out), tuple(path)


def _scaling(row: Any) -> float:
    """An element's ``scaling`` (1 where the net has none or leaves it empty)."""
    value = row.get("scaling", 1.0)
    return 1.0 if value is None or value != value else float(value)


@functools.cache
def _load_network_cached(source: str, folder: str | None, mtime: float,
                         classes: tuple[tuple[str, GeneratorClass], ...]) -> NetworkData:
    net, label = _read_net(source, Path(folder) if folder else None)
    year = _year_profiles(net, label)  # before anything is read from p_mw: get_absolute_values scales by it
    rn = radial_network(net, label)
    number = {node: k + 1 for k, node in enumerate(rn.nodes)}
    bus_of = {pp_bus: number[node] for pp_bus, node in rn.node_of.items()}
    n = len(rn.nodes)
    p = np.zeros(n)
    q = np.zeros(n)
    per_bus: dict[int, list[tuple[int, str, float, float]]] = {}
    load_rows = list(enumerate(net.load.index)) if "load" in net and len(net.load) else []
    for col, idx in load_rows:
        row = net.load.loc[idx]
        if "in_service" in net.load.columns and not bool(row["in_service"]):
            continue
        pp_bus = int(row["bus"])
        if pp_bus not in bus_of:
            raise ScenarioError(f"{label}: load {idx} sits on out-of-service bus {pp_bus}")
        scale = _scaling(row)
        pk, qk = float(row["p_mw"]) * scale * 1000.0, float(row["q_mvar"]) * scale * 1000.0
        b = bus_of[pp_bus]
        p[b - 1] += pk
        q[b - 1] += qk
        per_bus.setdefault(b, []).append((col, str(row.get("name") or f"load {idx}"), pk, qk))
    loads = tuple(LoadPoint(b, rows[0][1] if len(rows) == 1 else rn.names[rn.nodes[b - 1]],
                            sum(r[2] for r in rows), sum(r[3] for r in rows), tuple(r[0] for r in rows))
                  for b, rows in sorted(per_bus.items()))
    gens = []
    sgen = net.get("sgen")
    for col, idx in enumerate(sgen.index if sgen is not None and len(sgen) else []):
        row = sgen.loc[idx]
        if "in_service" in sgen.columns and not bool(row["in_service"]):
            continue
        pp_bus = int(row["bus"])
        if pp_bus not in bus_of:
            raise ScenarioError(f"{label}: static generator {idx} sits on out-of-service bus {pp_bus}")
        name = str(row.get("name") or f"sgen {idx}")
        kind_raw = str(row.get("type") or "")
        cls = _classify(label, int(idx), name, kind_raw, classes)
        scale = _scaling(row)
        weather = kind_raw.lower().startswith(WEATHER_PREFIXES)
        gens.append(GeneratorPoint(bus_of[pp_bus], name, kind_raw, cls, weather, float(row["p_mw"]) * scale * 1000.0,
                                   col))
    feeder = feeder_from_radial(rn, label, p, q)
    heads, busbar = _feeders(feeder)
    n_sgen = len(sgen) if sgen is not None else 0
    # an element out of service keeps its profile column: the points index their columns
    if year is not None and (year.load_p_kw.shape[1] != len(load_rows) or year.gen_kw.shape[1] != n_sgen):
        raise ScenarioError(f"{label}: its profiles have {year.load_p_kw.shape[1]} load and "
                            f"{year.gen_kw.shape[1]} generator columns for {len(load_rows)} loads and "
                            f"{n_sgen} static generators")
    return NetworkData(source=label, feeder=feeder, loads=loads, generators=tuple(gens), year=year, bus_of=bus_of,
                       v0_pu=rn.v0_pu, feeders=heads, busbar=busbar)


def load_network(source: str, folder: Path | None = None,
                 classes: tuple[tuple[str, GeneratorClass], ...] = DEFAULT_GENERATOR_CLASSES) -> NetworkData:
    """The network of ``source`` (module docstring), read once per process (and per file version).

    ``"ieee33"`` is not a pandapower source here: the IEEE-33 scenarios keep their own tables
    (:func:`scenarios.feeder.load_ieee33`), so this raises for it."""
    if source == "ieee33":
        raise ScenarioError("network.source = 'ieee33' is the shipped feeder (scenarios.feeder.load_ieee33)")
    mtime = 0.0
    where: str | None = None
    if source.startswith(PANDAPOWER_PREFIX):
        path = Path(source[len(PANDAPOWER_PREFIX):])
        if not path.is_absolute() and folder is not None:
            path = folder / path
        mtime = path.stat().st_mtime if path.is_file() else 0.0
        where = str(folder) if folder else None
    return _load_network_cached(source, where, mtime, tuple(classes))


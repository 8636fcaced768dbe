"""``--set`` edits (scenarios/edits.py) over every leaf of every bundled scenario file.

DESIGN v2, "Overrides are scenario edits": an edit uses the file's own paths and is applied before
validation, so (a) every path of a bundled file changes the loaded scenario when given a valid different
value — no path is a silent no-op — and (b) an invalid value (NaN, inf, a string for a number, a number for
a string, a value outside the loader's range) fails with a ScenarioError that names the file, the field and
the edit.  The leaves are found by walking the parsed TOML: tables key by key, arrays of tables entry by
entry (by name, else bus, else position), arrays of values element by element and as a whole.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import pytest

import run_sim
from scenarios.edits import ENTRY_KEYS, edit_scenario, parse_value, split_values
from scenarios.ieee33_loader import load_ieee33_scenario
from scenarios.loader import SCENARIO_DIR, load_rural_ies, load_three_campus
from scenarios.lowcarbon_loader import load_lowcarbon_ies
from scenarios.schema import ScenarioError

LOADERS: dict[str, Callable[..., Any]] = {
    "ieee33": load_ieee33_scenario,
    "three_campus": load_three_campus,
    "rural_ies": load_rural_ies,
    "lowcarbon_ies": load_lowcarbon_ies,
}
BUNDLED = sorted(p.parent.name for p in SCENARIO_DIR.glob("*/scenario.toml"))

#: Leaves (edit paths, fnmatch patterns) for which no single valid different value exists, with the reason.
NO_VALID_CHANGE: dict[str, dict[str, str]] = {
    "*": {
        "kind": "the loader of a kind accepts exactly its own kind (the kind selects the system)",
    },
    "ieee33": {
        "currency": "the IEEE-33 costs are in USD: the loader accepts only USD",
        "network.feeder": "one feeder is registered (FEEDERS = {ieee33})",
        "clusters.*.buses": "the clusters partition the feeder's buses: a bus leaves one cluster only by joining "
                            "another (the two-edit move is tested below)",
        "clusters.*.buses.*": "as clusters.*.buses",
        "demand_response.split.*": "fixed + shiftable + curtailable must be 1: a share changes only with another "
                                   "(the whole-table edit is tested below)",
    },
    "simbench_lv_rural": {
        "currency": "the costs are in USD: the loader accepts only USD",
        "intraday_step_min": "the SimBench profiles are 15-minute values: the loader accepts only 15",
        "clusters.from": "'feeders' is the one derivation rule",
        "demand_response.split.*": "fixed + shiftable + curtailable must be 1 (as ieee33)",
    },
    "simbench_mv_rural": {
        "currency": "the costs are in USD: the loader accepts only USD",
        "intraday_step_min": "the SimBench profiles are 15-minute values: the loader accepts only 15",
        "clusters.from": "'feeders' is the one derivation rule",
        "demand_response.split.*": "fixed + shiftable + curtailable must be 1 (as ieee33)",
    },
    "three_campus": {
        "parks.*.name": "the forecast columns (<park>.load_kw, ...) and the lines' a/b name the park",
        "parks.*.kind": "the kind picks the park's device table (pv / wind / chp) and forecast column, which the "
                        "file has only for its own kind",
    },
    "lowcarbon_ies": {
        "variants.S5.name": "[simulation] configuration = \"S5\" names this variant",
    },
}


def _loader(name: str) -> Callable[..., Any]:
    kind = tomllib.loads((SCENARIO_DIR / name / "scenario.toml").read_text("utf-8"))["kind"]
    return LOADERS[kind]


# ------------------------------------------------------------------------------ walking the file


@dataclasses.dataclass(frozen=True)
class Leaf:
    path: str  # the edit path (file paths, entries by name)
    field: str  # the loader's name of the field (entries by 0-based index), as its messages say
    value: Any
    element: bool = False  # an element of an array of values (the loader names the array)


def leaves(node: Mapping[str, Any], path: str = "", field: str = "") -> Iterator[Leaf]:
    for key, val in node.items():
        p, f = f"{path}.{key}" if path else key, f"{field}.{key}" if field else key
        if isinstance(val, dict):
            yield from leaves(val, p, f)
        elif isinstance(val, list) and val and all(isinstance(e, dict) for e in val):
            id_key = next((k for k in ENTRY_KEYS if all(k in e for e in val)), None)
            for i, entry in enumerate(val):
                yield from leaves(entry, f"{p}.{entry[id_key] if id_key else i + 1}", f"{f}[{i}]")
        elif isinstance(val, list):
            yield Leaf(p, f, val)
            for i, e in enumerate(val):
                yield Leaf(f"{p}.{i + 1}", f, e, element=True)
        else:
            yield Leaf(p, f, val)


def same(a: Any, b: Any) -> bool:
    """Deep equality of loaded scenarios: frozen dataclasses, mappings, sequences, numpy arrays, floats."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and bool(np.array_equal(a, b))
    if dataclasses.is_dataclass(a):
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, dict | MappingProxyType):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return bool(a == b)


# ------------------------------------------------------------------------------ values to try


def nearby(x: float, integer: bool) -> list[Any]:
    """Valid-looking different numbers near ``x``: whole numbers first for an integer leaf."""
    ints = [x + 1, x - 1, 2 * x, x // 2, x + 10] if integer else []
    floats = [x * 1.1, x * 0.9, x * 1.01, x * 0.99, x + 0.01, x - 0.01, x * 2, x / 2, x + 1, x - 1, 0.5, 1.0]
    out: list[Any] = []
    for v in [*ints, *floats]:
        if v != x and v not in out:
            out.append(v)
    return out


def scaled_csv(csv: Path, tmp: Path, factor: float) -> Path:
    """A copy of ``csv`` with every numeric column but ``hour`` times ``factor``."""
    df = pd.read_csv(csv)
    for c in df.columns:
        if c != "hour" and pd.api.types.is_numeric_dtype(df[c]):
            df[c] = df[c] * factor
    out = tmp / f"{csv.stem}-x{factor:g}.csv"
    df.to_csv(out, index=False)
    return out


def choices_of(load: Callable[[str, Any], Any], path: str) -> list[str] | None:
    """The choices a string leaf allows, read from the loader's message for a value it cannot allow."""
    try:
        load(path, "__no_such_choice__")
    except ScenarioError as exc:
        m = re.search(r"must be one of ([\w ,.-]+?)(?: \(|$|;)", str(exc))
        return [c.strip() for c in m.group(1).split(",")] if m else None
    return None


def candidates(leaf: Leaf, load: Callable[[str, Any], Any], folder: Path, tmp: Path) -> Iterator[Any]:
    v = leaf.value
    if isinstance(v, bool):
        yield not v
    elif isinstance(v, int | float):
        yield from nearby(float(v) if isinstance(v, float) else v, integer=isinstance(v, int))
    elif isinstance(v, str) and v.endswith(".csv"):
        for factor in (0.9, 1.1, 0.5):
            yield str(scaled_csv(folder / v, tmp, factor))
    elif isinstance(v, str):
        for c in choices_of(load, leaf.path) or []:
            if c != v:
                yield c
        yield f'"{v}_x"'  # a new unique name / text (quoted: the value is read as TOML)
    elif isinstance(v, list):
        yield [x + 1 if isinstance(x, int) else x * 1.1 for x in v]


def invalid(leaf: Leaf) -> list[Any]:
    v = leaf.value
    if isinstance(v, bool):
        return ["1", '"yes"']
    if isinstance(v, int | float):
        return ["nan", "inf", '"abc"']
    if isinstance(v, str):
        return ["1", "[1]"]
    if isinstance(v, list):
        return ['"abc"', "[nan]" if all(isinstance(x, int | float) for x in v) else "[[1]]"]
    return []  # pragma: no cover - TOML dates are not used


RANGE = re.compile(r"must be (?:in ([\[(])([-\d.e+]+), ([-\d.e+]+)([\])])|(>=|>) ([-\d.e+]+)|(<=|<) ([-\d.e+]+))")


def out_of_range(message: str) -> list[float]:
    """Values just outside the range a loader message states (``must be in [0, 1]``, ``>= 0``, ``< 1``)."""
    m = RANGE.search(message)
    if not m:
        return []
    if m.group(1):
        lo, hi = float(m.group(2)), float(m.group(3))
        return [lo - max(1.0, abs(lo)), hi + max(1.0, abs(hi))]
    if m.group(5):
        lo = float(m.group(6))
        return [lo - max(1.0, abs(lo))] + ([lo] if m.group(5) == ">" else [])
    hi = float(m.group(8))
    return [hi + max(1.0, abs(hi))] + ([hi] if m.group(7) == "<" else [])


def allowed_unchanged(name: str, path: str) -> str | None:
    table = {**NO_VALID_CHANGE["*"], **NO_VALID_CHANGE.get(name, {})}
    return next((why for pat, why in table.items() if fnmatch.fnmatchcase(path, pat)), None)


# ------------------------------------------------------------------------------ the property


@pytest.mark.parametrize("name", BUNDLED)
def test_every_leaf_is_an_edit_that_reaches_the_scenario(name: str, tmp_path: Path) -> None:
    folder = SCENARIO_DIR / name
    file = folder / "scenario.toml"
    loader = _loader(name)
    base = loader(name)
    raw = tomllib.loads(file.read_text("utf-8"))

    def load(path: str, value: Any) -> Any:
        return loader(name, [(path, value)])

    all_leaves = list(leaves(raw))
    assert len(all_leaves) > 20
    no_op: list[str] = []
    bad_messages: list[str] = []
    unused_allowances = {p for p in {**NO_VALID_CHANGE["*"], **NO_VALID_CHANGE.get(name, {})}
                         if not any(fnmatch.fnmatchcase(leaf.path, p) for leaf in all_leaves)}
    for leaf in all_leaves:
        # (a) a valid different value changes the loaded scenario
        why = allowed_unchanged(name, leaf.path)
        changed = False
        for value in candidates(leaf, load, folder, tmp_path):
            try:
                edited = load(leaf.path, value)
            except ScenarioError:
                continue
            if why is None:
                changed = not same(base, edited)
                break
            raise AssertionError(f"{leaf.path} is allow-listed ({why}) but {value!r} loads: test it instead")
        if why is None and not changed:
            no_op.append(f"{leaf.path} = {leaf.value!r}")
        # (b) an invalid value fails with a ScenarioError naming the file, the field and the edit
        tried = invalid(leaf)
        for value in tried:
            try:
                load(leaf.path, value)
            except ScenarioError as exc:
                msg = str(exc)
            else:
                bad_messages.append(f"{leaf.path}={value}: loads")
                continue
            if str(file) not in msg or f"(set by --set {leaf.path}=" not in msg or f"'{leaf.field}" not in msg:
                bad_messages.append(f"{leaf.path}={value}: {msg}")
            if value == "nan":
                tried.extend(out_of_range(msg))
    assert not no_op, f"{name}: these paths change nothing in the loaded scenario: {no_op}"
    assert not bad_messages, f"{name}: these errors do not name file, field and edit:\n" + "\n".join(bad_messages)
    assert not unused_allowances, f"{name}: allow-list entries that match no leaf: {sorted(unused_allowances)}"


KNOWN = re.compile(r"(?:known fields are|allowed:|known:) ([\w, ]+)")
#: Values tried for a key the file leaves out (the file does not say its type), in order.
ABSENT_VALUES = ["0.5", "2", "0.01", "10", "1", "0", "100", "0.9", "1000", "true", "false"]
#: Keys the file leaves out whose valid values are none of those (path pattern -> values to try).
ABSENT_HINTS = {"renewables.*.profile": ['"wind"', '"pv"'],  # a column of profiles/forecast.csv
                # a real network: a generator type's class; one more EV station (at the busbar, a bus without load)
                "network.generator_classes": ['{PV = "wind"}', '{Biomass = "pv"}'],
                "ev.stations": ["[{bus = 2}]"],
                # agent or type = behaviour (SPEC §8), one per system's agent types
                "behaviours": ['{ClusterAgent = "misreport:-0.1"}', '{CampusAgent = "misreport:-0.1"}',
                               '{LowCarbonCampusAgent = "forecast:0.1"}', '{RuralCampusAgent = "risk:lam=0.3"}']}


def known_keys(load: Callable[[str, Any], Any], path: str) -> list[str] | None:
    """The keys the loader allows in the table at ``path``, read from its unknown-key message (None: not a table)."""
    try:
        load(f"{path}.zz_no_such_key" if path else "zz_no_such_key", "1")
    except ScenarioError as exc:
        m = KNOWN.search(str(exc))
        return [k.strip() for k in m.group(1).split(",")] if m else None
    raise AssertionError(f"an unknown key in table {path or 'top level'!r} loads: it would change nothing")


def tables(node: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    yield path, node
    for key, val in node.items():
        p = f"{path}.{key}" if path else key
        if isinstance(val, dict):
            yield from tables(val, p)
        elif isinstance(val, list) and val and all(isinstance(e, dict) for e in val):
            id_key = next((k for k in ENTRY_KEYS if all(k in e for e in val)), None)
            for i, entry in enumerate(val):
                yield from tables(entry, f"{p}.{entry[id_key] if id_key else i + 1}")


@pytest.mark.parametrize("name", BUNDLED)
def test_every_key_the_file_leaves_out_is_an_edit_that_reaches_the_scenario(name: str) -> None:
    """Keys the loader accepts but the file does not have (defaults) are paths too: none is a no-op, and every
    table (also one the file leaves out, e.g. a cluster's own ``ess``) refuses an unknown key."""
    loader = _loader(name)
    base = loader(name)
    raw = tomllib.loads((SCENARIO_DIR / name / "scenario.toml").read_text("utf-8"))

    def load(path: str, value: Any) -> Any:
        return loader(name, [(path, value)])

    problems: list[str] = []

    def check(path: str) -> None:
        hints = next((v for pat, v in ABSENT_HINTS.items() if fnmatch.fnmatchcase(path, pat)), ABSENT_VALUES)
        loaded = False
        for value in hints:
            try:
                edited = load(path, value)
            except ScenarioError:
                continue
            loaded = True
            if not same(base, edited):
                return
        sub = None if loaded else known_keys(load, path)
        if sub is None:
            problems.append(f"{path}: {'changes nothing' if loaded else 'no value of ' + str(hints) + ' loads'}")
            return
        for key in sub:  # a table the file leaves out: each of its keys
            check(f"{path}.{key}")

    n = 0
    for path, node in tables(raw):
        keys = known_keys(load, path)
        assert keys is not None, f"{name}: table {path!r} lists no known keys"
        for key in keys:
            if key not in node:
                n += 1
                check(f"{path}.{key}" if path else key)
    assert n > 0
    assert not problems, f"{name}: keys the loader allows but the file leaves out:\n" + "\n".join(problems)


def test_every_bundled_scenario_is_walked() -> None:
    assert set(BUNDLED) >= {"ieee33", "three_campus", "rural_ies", "lowcarbon_ies"}
    assert all(_loader(n) for n in BUNDLED)


# ------------------------------------------------------------------------------ coupled edits and paths


def test_coupled_edits_of_allow_listed_leaves_load() -> None:
    """The allow-listed leaves do change the scenario when their partners change with them."""
    base = load_ieee33_scenario()
    moved = load_ieee33_scenario(edits=[("clusters.C1.buses", "[1, 2, 3, 4, 5, 6, 7, 8, 19, 20, 21, 22, 23, 24]"),
                                        ("clusters.C3.buses", "[25, 26, 27, 28, 29, 30, 31, 32, 33]")])
    assert 25 in moved.clusters[2].buses and 25 not in moved.clusters[0].buses
    split = load_ieee33_scenario(edits=[("demand_response.split", "{fixed = 0.4, shiftable = 0.4, curtailable = 0.2}")])
    assert split.dr_aggregates[0].split == (0.4, 0.4, 0.2) != base.dr_aggregates[0].split
    renamed = load_lowcarbon_ies(edits=[("variants.S5.name", "S5b"), ("simulation.configuration", "S5b")])
    assert renamed.simulation.configuration == "S5b"


def test_the_three_observed_no_ops_reach_the_day() -> None:
    from sim.engine.run import load_scenario
    from sim.engine.spec import SimSettings
    from sim.systems import SYSTEMS

    system = SYSTEMS["ieee33"]
    base = system.prepare(load_scenario(system, "ieee33"), SimSettings())
    scaled = system.prepare(load_scenario(system, "ieee33", [("network.load_scale", "0.8")]), SimSettings())
    for a, b in zip(base.transformer_areas, scaled.transformer_areas, strict=True):  # the TAs' own base loads
        np.testing.assert_allclose(b.fixed_kw, 0.8 * a.fixed_kw if a.bus not in {d.bus for d in base.dr_aggregates}
                                   else b.fixed_kw)
    assert sum(t.fixed_kw.sum() for t in scaled.transformer_areas) < 0.9 * sum(t.fixed_kw.sum()
                                                                                for t in base.transformer_areas)
    om = load_scenario(system, "ieee33", [("tariff.lambda_om", "0.2")])
    assert om.tariff.lambda_om == 0.2 and {c.lambda_om for c in om.clusters} == {0.2}  # the clusters' CL-3 cost
    assert {c.lambda_om for c in base.clusters} == {0.01}
    with pytest.raises(ScenarioError, match=r"'network\.voltage_limits' = 'medium': must be one of soft, hard "
                                            r"\(set by --set network\.voltage_limits=medium\)"):
        load_scenario(system, "ieee33", [("network.voltage_limits", "medium")])
    assert load_scenario(system, "ieee33", [("network.voltage_limits", "hard")]).network.hard_voltage_limits


def test_paths_are_the_files_own(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # internal dataclass names are no paths; the file's are, with the file's range checks
    with pytest.raises(ScenarioError, match=r"'fleet_spec' is not a known field here; known fields are kind, .*ev"):
        load_ieee33_scenario(edits=[("fleet_spec.eta", "1.5")])
    with pytest.raises(ScenarioError, match=r"'ev\.fleet\.eta' = 1\.5: must be in \(0, 1\]"):
        load_ieee33_scenario(edits=[("ev.fleet.eta", "1.5")])
    # agents by name; an unknown name lists the entries
    assert load_ieee33_scenario(edits=[("clusters.C2.name", "X")]).clusters[1].name == "X"
    with pytest.raises(ScenarioError, match=r"no entry '0' in \[\[clusters\]\] \(its entries, by name: C1, C2, C3\)"):
        load_ieee33_scenario(edits=[("clusters.0.name", "X")])
    # one c_ev: the fleet's is the tariff's and cannot be set apart
    assert load_ieee33_scenario(edits=[("tariff.c_ev", "0.03")]).fleet_spec.c_ev == 0.03
    with pytest.raises(ScenarioError, match=r"'ev\.fleet\.c_ev' is set once, as tariff\.c_ev"):
        load_ieee33_scenario(edits=[("ev.fleet.c_ev", "0.03")])
    # keys the file leaves out but the loader accepts: a cluster's own storage, one station's fleet size
    sc = load_ieee33_scenario(edits=[("clusters.C3.ess.capacity_kwh", "400"), ("ev.stations.19.evs", "3")])
    assert [c.ess.capacity_kwh for c in sc.clusters] == [1000, 1000, 400]
    assert [s.n_evs for s in sc.ev_stations] == [20, 3, 20]
    with pytest.raises(ScenarioError, match=r"'ev\.stations\[0\]\.evz' is not a known field here; known fields "
                                            r"are bus, evs \(set by --set ev\.stations\.13\.evz=3\)"):
        load_ieee33_scenario(edits=[("ev.stations.13.evz", "3")])
    # a value never goes through a value, and positions stay inside arrays
    with pytest.raises(ScenarioError, match=r"'network\.load_scale' is a value \(1\.0\), not a table"):
        load_ieee33_scenario(edits=[("network.load_scale.x", "1")])
    with pytest.raises(ScenarioError, match=r"'wind\.farm_capacities_mw' is an array of 2 values: give a position "
                                            r"1\.\.2, not '3'"):
        load_lowcarbon_ies(edits=[("wind.farm_capacities_mw.3", "1")])
    # the command line refuses bad points before running any
    out = tmp_path / "out"
    assert run_sim.main(["sweep", "--set", "network.voltage_limits=soft,medium", "--out", str(out), "--quiet"]) == 2
    assert "must be one of soft, hard (set by --set network.voltage_limits=medium)" in capsys.readouterr().err
    assert not out.exists()


def test_values_are_read_as_toml() -> None:
    assert parse_value("0.8") == 0.8 and parse_value("true") is True and parse_value("[1, 2]") == [1, 2]
    assert parse_value('"medium"') == "medium" and parse_value("medium") == "medium"
    assert parse_value("{a = 1}") == {"a": 1} and math.isnan(parse_value("nan")) and parse_value((1, 2)) == [1, 2]
    assert parse_value("1 2") == "1 2" and parse_value(0.5) == 0.5
    assert split_values("0,0.5, 0.9") == ["0", "0.5", "0.9"]
    assert split_values('[1,2],{a=1,b="x,y"},"p,q"') == ["[1,2]", '{a=1,b="x,y"}', '"p,q"']
    raw: dict[str, Any] = {"a": {"b": 1}, "t": [{"name": "X", "v": [1, 2]}, {"bus": 4}]}
    out = edit_scenario(raw, "t.X.v.2", "5")
    assert out["t"][0]["v"] == [1, 5] and raw["t"][0]["v"] == [1, 2]  # a new copy
    assert edit_scenario(raw, "t.2.c", "x")["t"][1] == {"bus": 4, "c": "x"}  # unnamed entry by position
    assert edit_scenario(raw, "new.table.key", "1")["new"] == {"table": {"key": 1}}
    with pytest.raises(ScenarioError, match=r"the path must be dotted keys"):
        edit_scenario(raw, "a..b", "1")

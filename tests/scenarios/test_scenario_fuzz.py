"""Scenario fuzzing (issue 14): mutated copies of the four bundled scenarios either load or fail with a
:class:`~scenarios.schema.ScenarioError` that names the file and the field; a sample of the mutated
scenarios that load runs one simulated day that either finishes or ends in the solver's failure report.

A mutation is drawn by hypothesis and applied to a private copy of a bundled scenario folder: to
``scenario.toml`` (parsed with tomllib, changed as a dict, written back with tomli_w): a leaf gets another
type (text, integer, float, bool, array, table), a huge, negative, zero, NaN or infinite value, a value
scaled by up to 1e12, or another string of the same file; a key is deleted or an unknown key added; an
array of tables is emptied or one of its tables duplicated (duplicate names).  Or to a profile CSV
(edited as text): rows dropped, duplicated or swapped, a cell set to NaN/inf/negative/huge/text/empty,
a column dropped, added or renamed, the file left with its header only, emptied or deleted.  One to
three mutations are applied at once.

The drawn examples are derandomized (a fixed sequence from the test's name), so CI sees the same cases
on every run.  ``test_fuzz_load_quick`` (60 cases per system) runs in ``make test``; the full
``test_fuzz_load`` (500 cases per system) and the solve sample ``test_fuzz_solve_one_day`` are marked
``fuzz`` and run as a separate CI step (``pytest -m fuzz``).
"""

from __future__ import annotations

import copy
import math
import re
import shutil
import tempfile
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

from scenarios.ieee33_loader import load_ieee33_scenario
from scenarios.loader import SCENARIO_DIR, load_rural_ies, load_three_campus
from scenarios.lowcarbon_loader import load_lowcarbon_ies
from scenarios.schema import ScenarioError
from sim.engine.failure import SolveFailure
from sim.engine.run import run_days
from sim.engine.spec import RunSpec, SimSettings
from sim.systems import SYSTEMS

LOADERS: dict[str, Callable[[Path], Any]] = {
    "ieee33": load_ieee33_scenario,
    "three_campus": load_three_campus,
    "rural_ies": load_rural_ies,
    "lowcarbon_ies": load_lowcarbon_ies,
}
KINDS = tuple(LOADERS)

# ------------------------------------------------------------------------------------------ mutations

Path_ = tuple[str | int, ...]

#: Values a leaf may be set to: every TOML type, and the numbers that break naive range checks.
SPECIAL_VALUES: list[Any] = [
    0, -1, 1, 2, 24, 10**9, -(10**9), 2**63 - 1, 0.0, -0.0, 1e-12, -1e-12, 0.5, 1.5, 1e12, -1e12, 1e300, -1e300,
    math.nan, math.inf, -math.inf, True, False, "", "x", "nan", "1.0", "pv", "wind", "soft", "S1", [], [0], [1.0, 2.0],
    [-1.0], ["a"], [math.nan], [[1]], {}, {"x": 1}, [{}], [{"name": "x"}],
]
values = st.one_of(
    st.sampled_from(SPECIAL_VALUES),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.lists(st.one_of(st.integers(-5, 40), st.floats(-1e3, 1e3)), max_size=4),
)
#: Text a CSV cell may be set to.
CELL_VALUES = ["nan", "NaN", "inf", "-inf", "-1", "-0.001", "0", "1e12", "1e308", "1e999", "abc", "", " ", "1,2",
               "valley", "peak", "25", "0.5", "TRUE", '"3"']
TOML_OPS = ("set", "set", "set", "delete", "add", "scale", "swap_text", "empty_array", "dup_entry")
CSV_OPS = ("drop_row", "dup_row", "swap_rows", "cell", "cell", "cell", "drop_col", "add_col", "rename_col",
           "header_only", "empty_file", "delete_file", "reverse")


@dataclass(frozen=True)
class Mutation:
    """One edit: ``target`` is ``toml`` or a CSV's index among the folder's profiles; ``pick`` and ``aux``
    choose among the candidates present when it is applied (modulo their number), ``value`` is the new value."""

    target: str
    op: str
    pick: int
    aux: int
    value: Any


mutations = st.one_of(
    st.builds(Mutation, st.just("toml"), st.sampled_from(TOML_OPS), st.integers(0, 10**6), st.integers(0, 10**6),
              values),
    st.builds(Mutation, st.sampled_from(["csv0", "csv1", "csv2"]), st.sampled_from(CSV_OPS),
              st.integers(0, 10**6), st.integers(0, 10**6), st.sampled_from(CELL_VALUES)),
)
mutation_lists = st.lists(mutations, min_size=1, max_size=3)


def _walk(node: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, (*path, i))


def _parent(doc: dict[str, Any], path: Path_) -> Any:
    node: Any = doc
    for k in path[:-1]:
        node = node[k]
    return node


def _mutate_toml(doc: dict[str, Any], m: Mutation) -> str:
    """Apply ``m`` to the parsed TOML ``doc`` in place; returns what was done (for the failure report)."""
    nodes = [(p, v) for p, v in _walk(doc) if p]
    if m.op in ("set", "delete"):
        p, _ = nodes[m.pick % len(nodes)]
        parent = _parent(doc, p)
        if m.op == "delete":
            del parent[p[-1]]
            return f"delete {p}"
        parent[p[-1]] = m.value
        return f"set {p} = {m.value!r}"
    if m.op == "add":
        tables = [p for p, v in _walk(doc) if isinstance(v, dict)]
        p = tables[m.pick % len(tables)]
        node: Any = doc
        for k in p:
            node = node[k]
        key = ["fuzz_unknown_key", "name", "kind", "bus", "capacity_kw", "p_max_kw"][m.aux % 6]
        node[key] = m.value
        return f"add {(*p, key)} = {m.value!r}"
    if m.op == "scale":
        nums = [(p, v) for p, v in nodes if isinstance(v, int | float) and not isinstance(v, bool)]
        if not nums:
            return "scale: no numbers"
        p, v = nums[m.pick % len(nums)]
        factor = [1e12, -1.0, 0.0, 1e-12, 1e6, 2.0, 0.5, 1e3][m.aux % 8]
        new = v * factor
        if isinstance(v, int) and abs(new) < 2**63:
            new = int(new)
        _parent(doc, p)[p[-1]] = new
        return f"scale {p} by {factor:g} -> {new!r}"
    if m.op == "swap_text":
        texts = [(p, v) for p, v in nodes if isinstance(v, str)]
        if not texts:
            return "swap_text: no strings"
        p, _ = texts[m.pick % len(texts)]
        text = texts[m.aux % len(texts)][1]
        _parent(doc, p)[p[-1]] = text
        return f"set {p} = {text!r} (another string of the file)"
    arrays = [(p, v) for p, v in nodes if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
    if not arrays:
        return f"{m.op}: no arrays of tables"
    p, arr = arrays[m.pick % len(arrays)]
    if m.op == "empty_array":
        _parent(doc, p)[p[-1]] = []
        return f"empty {p}"
    arr.append(copy.deepcopy(arr[m.aux % len(arr)]))
    return f"duplicate {p}[{m.aux % len(arr[:-1])}]"


def _mutate_csv(file: Path, m: Mutation) -> str:
    """Apply ``m`` to the CSV ``file`` as text; returns what was done."""
    if not file.exists():
        return f"{file.name}: already gone"
    lines = file.read_text(encoding="utf-8").splitlines()
    if m.op == "delete_file":
        file.unlink()
        return f"delete {file.name}"
    if m.op == "empty_file":
        file.write_text("", encoding="utf-8")
        return f"empty {file.name}"
    if not lines:
        return f"{file.name}: empty"
    header, rows = lines[0], lines[1:]
    cols = header.split(",")
    what = f"{m.op} {file.name}"
    if m.op == "header_only":
        rows = []
    elif m.op == "reverse":
        rows = rows[::-1]
    elif rows and m.op == "drop_row":
        i = m.pick % len(rows)
        del rows[i]
        what += f" row {i + 1}"
    elif rows and m.op == "dup_row":
        i = m.pick % len(rows)
        rows.insert(i, rows[i])
        what += f" row {i + 1}"
    elif rows and m.op == "swap_rows":
        i, j = m.pick % len(rows), m.aux % len(rows)
        rows[i], rows[j] = rows[j], rows[i]
        what += f" rows {i + 1}, {j + 1}"
    elif rows and m.op == "cell":
        i, c = m.pick % len(rows), m.aux % len(cols)
        cells = rows[i].split(",")
        if c < len(cells):
            cells[c] = m.value
        rows[i] = ",".join(cells)
        what += f" row {i + 1} column {cols[c]!r} = {m.value!r}"
    elif m.op in ("drop_col", "rename_col"):
        c = m.pick % len(cols)
        if m.op == "rename_col":
            header = ",".join(["fuzz_col" if k == c else h for k, h in enumerate(cols)])
        else:
            header = ",".join(h for k, h in enumerate(cols) if k != c)
            rows = [",".join(x for k, x in enumerate(r.split(",")) if k != c) for r in rows]
        what += f" {cols[c]!r}"
    elif m.op == "add_col":
        header += ",fuzz_col"
        rows = [r + f",{m.value}" for r in rows]
    file.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return what


def _apply(folder: Path, muts: list[Mutation]) -> list[str]:
    toml_file = folder / "scenario.toml"
    csvs = sorted((folder / "profiles").glob("*.csv"))
    done: list[str] = []
    for m in muts:
        if m.target == "toml":
            doc = tomllib.loads(toml_file.read_text(encoding="utf-8"))
            done.append(_mutate_toml(doc, m))
            toml_file.write_text(tomli_w.dumps(doc), encoding="utf-8")
        else:
            done.append(_mutate_csv(csvs[int(m.target[3:]) % len(csvs)], m))
    return done


def _copy(kind: str, dest: Path) -> Path:
    folder = dest / kind
    shutil.copytree(SCENARIO_DIR / kind, folder, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    return folder


# ------------------------------------------------------------------------------------------ the check

_NAMED = re.compile(r"\b(?:field|column|table)s?(?:\(s\))? '([^']+)'")


def _names(folder: Path) -> set[str]:
    """Every key of the original and mutated TOML and every CSV column: what an error may name as its field."""
    out: set[str] = {"hour"}
    for toml_file in (SCENARIO_DIR / folder.name / "scenario.toml", folder / "scenario.toml"):
        try:
            doc = tomllib.loads(toml_file.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            continue
        out |= {str(p[-1]) for p, _ in _walk(doc) if p and isinstance(p[-1], str)}
    for d in (SCENARIO_DIR / folder.name / "profiles", folder / "profiles"):
        for f in d.glob("*.csv"):
            text = f.read_text(encoding="utf-8")
            out |= set(text.splitlines()[0].split(",")) if text else set()
    return out


def check_error(exc: ScenarioError, folder: Path) -> None:
    """A ScenarioError must name a file of the scenario folder and a field (a TOML key path or a CSV column)."""
    msg = str(exc)
    files = [folder / "scenario.toml", *(folder / "profiles").glob("*.csv")]
    assert any(str(f) in msg for f in files) or str(folder / "profiles") in msg, f"no file named in: {msg}"
    named = _NAMED.findall(msg)
    known = _names(folder)

    def is_field(name: str) -> bool:
        plain = re.sub(r"\[\d*\]", "", name)
        return plain in known or plain.split(".")[-1] in known or any(p in known for p in plain.split("."))

    assert any(is_field(n) for n in named), f"no field or column named in: {msg}"
    assert "\n" not in msg.strip(), f"not one paragraph: {msg}"


def load_mutated(kind: str, folder: Path, muts: list[Mutation]) -> Any:
    """Apply ``muts`` and load; the loaded scenario, or None after a well-formed ScenarioError."""
    note(f"mutations of {kind}: {_apply(folder, muts)}")
    try:
        return LOADERS[kind](folder)
    except ScenarioError as exc:
        note(f"ScenarioError: {exc}")
        check_error(exc, folder)
        return None


# ------------------------------------------------------------------------------------------ tests


def _fuzz_load(kind: str, muts: list[Mutation]) -> None:
    with tempfile.TemporaryDirectory() as d:
        load_mutated(kind, _copy(kind, Path(d)), muts)


_LOAD = settings(derandomize=True, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("kind", KINDS)
@settings(_LOAD, max_examples=60)
@given(muts=mutation_lists)
def test_fuzz_load_quick(kind: str, muts: list[Mutation]) -> None:
    """60 mutated copies per system load or raise a ScenarioError naming file and field (the CI subset)."""
    _fuzz_load(kind, muts)


@pytest.mark.fuzz
@pytest.mark.parametrize("kind", KINDS)
@settings(_LOAD, max_examples=500)
@given(muts=mutation_lists)
def test_fuzz_load(kind: str, muts: list[Mutation]) -> None:
    """500 mutated copies per system load or raise a ScenarioError naming file and field."""
    _fuzz_load(kind, muts)


_HUGE = r"= 1000000000000\.0: must be <="


@pytest.mark.parametrize(("kind", "path", "value", "expected"), [
    ("ieee33", ("demand_response", "aggregates", 0, "peak_kw"), 1e12,
     rf"field 'demand_response\.aggregates\[0\]\.peak_kw' {_HUGE} 1e\+07 kW in magnitude \(10 GW"),
    ("ieee33", ("renewables", 0, "capacity_kw"), math.inf,
     r"field 'renewables\[0\]\.capacity_kw' = inf: must be finite"),
    ("three_campus", ("parks", 0, "ess", "capacity_kwh"), 1e12,
     rf"field 'parks\[0\]\.ess\.capacity_kwh' {_HUGE} 1e\+08 kWh"),
    ("rural_ies", ("pv", "capacity_kw"), math.nan, r"field 'pv\.capacity_kw' = nan: must be finite"),
    ("lowcarbon_ies", ("wind", "farm_capacities_mw", 0), 1e12,
     r"field 'wind\.farm_capacities_mw' must be .*\(0, 10000\] MW"),
    ("lowcarbon_ies", ("gas_turbine", "p_max_mw"), 1e12, rf"field 'gas_turbine\.p_max_mw' {_HUGE} 10000 MW"),
])
def test_huge_and_non_finite_values_are_refused_with_their_limit(kind: str, path: Path_, value: Any,
                                                                 expected: str, tmp_path: Path) -> None:
    """The plausibility limits by unit (``scenarios.loader.MAGNITUDE_LIMITS``) and "must be finite", by field."""
    folder = _copy(kind, tmp_path)
    toml_file = folder / "scenario.toml"
    doc = tomllib.loads(toml_file.read_text(encoding="utf-8"))
    _parent(doc, path)[path[-1]] = value
    toml_file.write_text(tomli_w.dumps(doc), encoding="utf-8")
    with pytest.raises(ScenarioError, match=expected) as info:
        LOADERS[kind](folder)
    check_error(info.value, folder)


@pytest.mark.parametrize(("kind", "cell", "expected"), [
    ("three_campus", "inf", r"forecast\.csv: column 'PV\.load_kw' row 3 = inf: must be finite"),
    ("lowcarbon_ies", "1e308", r"loads\.csv: column 'electric_load_mw' row 3 = 1e\+308: must be <= 10000 MW"),
])
def test_profile_cells_must_be_finite_and_plausible(kind: str, cell: str, expected: str, tmp_path: Path) -> None:
    folder = _copy(kind, tmp_path)
    csv = sorted((folder / "profiles").glob("*.csv"))[0]
    lines = csv.read_text(encoding="utf-8").splitlines()
    cells = lines[3].split(",")
    cells[1] = cell
    lines[3] = ",".join(cells)
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=expected) as info:
        LOADERS[kind](folder)
    check_error(info.value, folder)


#: The cheapest mode of each system for the solve sample (measured: one day in 1-12 s on one core).
SOLVE_MODES = {"ieee33": "noncooperative", "three_campus": "oracle", "rural_ies": "oracle",
               "lowcarbon_ies": "centralized"}
#: Few Monte Carlo days and scenarios, and a short solver time limit: the sample checks outcomes, not quality.
SOLVE_SETTINGS = {"n_mc": 20, "n_scenarios": 3, "time_limit_s": 20.0}


@pytest.mark.fuzz
@pytest.mark.parametrize("kind", KINDS)
@settings(_LOAD, max_examples=10, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(muts=mutation_lists)
def test_fuzz_solve_one_day(kind: str, muts: list[Mutation]) -> None:
    """10 mutated copies per system that load run one day through the engine (``run_days``) and either
    finish, writing that day's KPI row, or end in the engine's one-paragraph :class:`SolveFailure` naming the
    system, the run, day 1 and the model that failed; any other exception fails the test."""
    with tempfile.TemporaryDirectory() as d:
        folder = _copy(kind, Path(d))
        scenario = load_mutated(kind, folder, muts)
        assume(scenario is not None)
        run = RunSpec(SOLVE_MODES[kind], 1, 1)
        out = Path(d) / "out"
        try:
            run_days(out, SYSTEMS[kind], run, SimSettings(scenario=str(folder), **SOLVE_SETTINGS))  # type: ignore[arg-type]
        except SolveFailure as exc:
            note(f"SolveFailure: {exc}")
            msg = str(exc)
            assert f"{kind} run {run.name}" in msg and "day 1" in msg and "\n\n" not in msg, msg
            assert exc.agent and exc.status, msg
            return
        kpi = out / "kpis" / "day=001" / f"{run.name}.csv"
        assert kpi.is_file() and len(kpi.read_text(encoding="utf-8").splitlines()) == 2, f"{kind}: no KPI row of day 1"

"""Scenario edits: ``--set path=value`` applied to the parsed scenario file *before* validation.

DESIGN v2, "Overrides are scenario edits": an edit uses the scenario file's own paths (its TOML keys) and
changes the parsed file, which the system's loader then validates like any file.  So an edited value gets
the loader's type and range checks and its messages (which then end in ``(set by --set path=value)``),
and a path the loader does not know is refused by the loader's own unknown-key check, which lists the
allowed keys of the table.

Paths, segment by segment (``.`` separates segments):

- in a table, a segment is a key: ``network.load_scale``, ``market.bisection.xi``.  A key the file does
  not have is added (an optional key with a default, e.g. ``clusters.C1.ess.capacity_kwh`` or
  ``ev.stations.13.evs``); a table on the way that the file does not have is added too.
- in an array of tables (``[[clusters]]``), a segment names one entry by its ``name`` (``clusters.C1``,
  ``parks.PV``, ``variants.S5``, ``thermal_units.TP1``, ``lines.PV-WT``); entries without a name are named
  by their ``bus`` (``renewables.7``, ``demand_response.aggregates.16``, ``ev.stations.13``); an entry
  with neither is named by its 1-based position (``lines.2``).
- in an array of values (``buses = [9, 10, ...]``, ``farm_capacities_mw``), a segment is a 1-based
  position: ``wind.farm_capacities_mw.2``.  The whole array (or an inline table) is set by its own path
  with a TOML array (table) as the value: ``wind.farm_capacities_mw=[250, 350]``.

Values given as text (the command line) are read as TOML values: ``0.8``, ``true``, ``"medium"``,
``[1, 2]``, ``{fixed = 0.4, shiftable = 0.4, curtailable = 0.2}``, ``nan``; text that is not a TOML value
(a bare word such as ``hard``) is the string itself.  A text value meant as a string that reads as a
TOML value (``"2024"``, ``"true"``) is quoted.  Other Python values are used as they are.

Profiles are CSV files named by a path key of the TOML (e.g. ``profiles.load_shape``); an edit of that key
points the scenario at another file (relative to the scenario folder, or absolute).
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from scenarios.schema import ScenarioError

#: One edit: a dotted path of the scenario file and its value (text to be read as TOML, or a Python value).
Edit = tuple[str, Any]

#: Keys that name an entry of an array of tables, in order of preference (then: its 1-based position).
ENTRY_KEYS: tuple[str, ...] = ("name", "bus")


def parse_value(value: Any) -> Any:
    """The TOML value written as ``value`` if it is text (a bare word that is not TOML stays a string).

    Tuples become lists (TOML arrays); other values are returned as they are."""
    if isinstance(value, tuple):
        return [parse_value(v) for v in value]
    if not isinstance(value, str):
        return value
    try:
        parsed = tomllib.loads(f"v = {value}")
    except tomllib.TOMLDecodeError:
        return value
    return parsed.get("v", value) if len(parsed) == 1 else value


def show(edit: Edit) -> str:
    """``--set path=value`` as a user would type it."""
    path, value = edit
    return f"--set {path}={value if isinstance(value, str) else _toml_text(value)}"


def _toml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_text(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {_toml_text(v)}" for k, v in value.items()) + "}"
    return repr(value) if isinstance(value, float) else str(value)


def _entry_key(entries: list[Any]) -> str | None:
    """The key that names the entries of an array of tables (:data:`ENTRY_KEYS`), None if none has one."""
    return next((k for k in ENTRY_KEYS if any(isinstance(e, dict) and k in e for e in entries)), None)


def _entry(entries: list[Any], seg: str, where: str, fail: Callable[[str], ScenarioError]) -> int:
    """The position of the entry of the array of tables ``where`` named ``seg`` (see the module docstring)."""
    key = _entry_key(entries)
    if key is not None:
        hits = [i for i, e in enumerate(entries) if isinstance(e, dict) and key in e and str(e[key]) == seg]
        if len(hits) > 1:
            raise fail(f"{len(hits)} entries of [[{where}]] have {key} = {seg!r}")
        if hits:
            return hits[0]
    if seg.isdigit() and 1 <= int(seg) <= len(entries):
        i = int(seg) - 1
        if key is None or not (isinstance(entries[i], dict) and key in entries[i]):
            return i
    names = [str(e[key]) for e in entries if isinstance(e, dict) and key is not None and key in e]
    unnamed = [str(i + 1) for i, e in enumerate(entries) if key is None or not (isinstance(e, dict) and key in e)]
    listing = "; ".join(s for s in (f"by {key}: {', '.join(names)}" if names else "",
                                     f"by position: {', '.join(unnamed)}" if unnamed else "") if s)
    raise fail(f"no entry {seg!r} in [[{where}]] (its entries, {listing})")


def _position(values: list[Any], seg: str, where: str, fail: Callable[[str], ScenarioError]) -> int:
    if not seg.isdigit() or not 1 <= int(seg) <= len(values):
        raise fail(f"'{where}' is an array of {len(values)} values: give a position 1..{len(values)}, not {seg!r}")
    return int(seg) - 1


def edit_scenario(raw: Mapping[str, Any], path: str, value: Any, file: str | Path | None = None) -> dict[str, Any]:
    """A new copy of the parsed scenario file ``raw`` with the value at ``path`` set to ``value``.

    ``path`` is the file's own dotted path (module docstring): keys of tables, entries of arrays of
    tables by name (or bus, or 1-based position), elements of arrays by 1-based position.  A key the
    table does not have is added (the loader then accepts it or names the allowed keys).  ``value``
    is read as a TOML value if it is text (:func:`parse_value`).  ``raw`` is not changed.

    Raises :class:`ScenarioError` naming ``file``, the edit, the table it stops at and its entries when the
    path names no entry of an array, an element outside an array, or goes through a value.
    """
    where_file = f"{file}: " if file is not None else ""

    def fail(msg: str) -> ScenarioError:
        return ScenarioError(f"{where_file}{show((path, value))}: {msg}")

    segs = path.split(".") if isinstance(path, str) else []
    if not segs or any(not s.strip() for s in segs):
        raise fail("the path must be dotted keys of the scenario file, e.g. network.load_scale")
    segs = [s.strip() for s in segs]
    out = copy.deepcopy(dict(raw))
    node: Any = out
    done: list[str] = []
    for i, seg in enumerate(segs):
        last = i == len(segs) - 1
        where = ".".join(done) or "top level"
        if isinstance(node, dict):
            if last:
                node[seg] = parse_value(value)
                break
            if seg not in node:
                node[seg] = {}
            child = node[seg]
        elif isinstance(node, list) and node and all(isinstance(e, dict) for e in node):
            k = _entry(node, seg, where, fail)
            if last:
                new = parse_value(value)
                if not isinstance(new, dict):
                    raise fail(f"an entry of [[{where}]] is a table: set one of its keys, e.g. {path}.<key>")
                node[k] = new
                break
            child = node[k]
        elif isinstance(node, list):
            k = _position(node, seg, where, fail)
            if last:
                node[k] = parse_value(value)
                break
            child = node[k]
        else:  # pragma: no cover - the loop only descends into tables and arrays
            raise fail(f"'{where}' is a value")
        done.append(seg)
        if not isinstance(child, dict | list):
            raise fail(f"'{'.'.join(done)}' is a value ({child!r}), not a table: the path ends there")
        node = child
    return out


def apply_edits(raw: Mapping[str, Any], edits: Sequence[Edit], file: str | Path | None = None) -> dict[str, Any]:
    """``raw`` with every edit applied in order (:func:`edit_scenario`); ``raw`` is not changed."""
    out = dict(raw)
    for edit in edits:
        if not (isinstance(edit, tuple | list) and len(edit) == 2):
            raise ScenarioError(f"{file}: an edit is a (path, value) pair, got {edit!r}")
        out = edit_scenario(out, edit[0], edit[1], file)
    return out


def load_edited[T](file: Path, raw: Mapping[str, Any], edits: Sequence[Edit],
                   validate: Callable[[dict[str, Any]], T]) -> T:
    """``validate`` (a loader's checks and construction) of the file ``raw`` with ``edits`` applied.

    A :class:`ScenarioError` that the unedited file does not raise is the edits' doing: its message then
    ends in ``(set by --set path=value)``, naming the edits that fail on their own (all of them if only
    their combination fails).  An error the unedited file raises too is the file's own and left as it is.
    """
    edits = tuple(edits)
    if not edits:
        return validate(dict(raw))
    edited = apply_edits(raw, edits, file)
    try:
        return validate(edited)
    except ScenarioError as exc:
        msg = str(exc)
        culprits = [e for e in edits if f"'{loader_field(raw, e[0])}'" in msg]  # the message names the edited field
        if not culprits:
            try:
                validate(dict(raw))
            except ScenarioError:
                raise exc from None
            culprits = [e for e in edits if not _loads(file, raw, e, validate)] if len(edits) > 1 else list(edits)
        by = ", ".join(show(e) for e in (culprits or edits))
        raise ScenarioError(f"{msg} (set by {by})") from exc


def loader_field(raw: Mapping[str, Any], path: str) -> str:
    """The field an edit ``path`` sets, as the loaders' messages name it: entries of arrays of tables by
    0-based index (``clusters.C1.ess.capacity_kwh`` is ``clusters[0].ess.capacity_kwh``), an element of an
    array of values by the array (``wind.farm_capacities_mw.2`` is ``wind.farm_capacities_mw``)."""
    node: Any = raw
    out = ""
    for seg in path.split("."):
        if isinstance(node, list) and node and all(isinstance(e, dict) for e in node):
            try:
                k = _entry(node, seg, out, lambda m: ScenarioError(m))
            except ScenarioError:
                return out
            out, node = f"{out}[{k}]", node[k]
        elif isinstance(node, list):
            return out
        else:
            out = f"{out}.{seg}" if out else seg
            node = node.get(seg) if isinstance(node, dict) else None
    return out


def _loads(file: Path, raw: Mapping[str, Any], edit: Edit, validate: Callable[[dict[str, Any]], Any]) -> bool:
    try:
        validate(edit_scenario(raw, edit[0], edit[1], file))
    except ScenarioError:
        return False
    return True


def split_values(text: str) -> list[str]:
    """``V1,V2,...`` split at the commas outside brackets, braces and quotes (``[1,2],[3,4]`` is two values)."""
    out: list[str] = []
    depth = 0
    quote = ""
    cur = ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        cur += ch
    out.append(cur)
    return [v.strip() for v in out if v.strip()]

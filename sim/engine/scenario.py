"""The engine's view of a scenario file: its ``kind``, its hash, and ``--set`` edits.

``--set path=value`` is a scenario *edit* (DESIGN v2, "Overrides are scenario edits"): the path is the
scenario file's own (TOML keys, entries of arrays of tables by name), the edit is applied to the parsed
file before the system's loader validates it (``System.load(name_or_path, edits)``), so an edited value
gets the file's checks and messages.  The edit functions live in :mod:`scenarios.edits` and are
re-exported here for the engine.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from scenarios.edits import Edit, apply_edits, edit_scenario, parse_value, show, split_values
from scenarios.loader import read_toml, scenario_path
from scenarios.schema import ScenarioError

__all__ = ["Edit", "apply_edits", "edit_scenario", "parse_value", "scenario_hash", "scenario_kind", "show",
           "split_values"]


def scenario_kind(name_or_path: str) -> str:
    """The ``kind`` field of a scenario file (``ieee33``, ``three_campus``, ...), with a clear error if absent."""
    file = scenario_path(name_or_path)
    if not file.exists():
        raise ScenarioError(f"{file}: scenario file not found (give a bundled name such as ieee33 or a folder)")
    kind = read_toml(file).get("kind")
    if not isinstance(kind, str) or not kind:
        raise ScenarioError(f"{file}: field 'kind' is missing (it names the system, e.g. kind = \"ieee33\")")
    return kind


def scenario_hash(name_or_path: str, edits: Sequence[Edit] = ()) -> str:
    """SHA-256 over the scenario folder's files (scenario.toml and profiles, each as its relative path and
    bytes, in path order), then over the edits in order (each as ``path`` and its value read as TOML, in JSON).

    Without edits it is the hash of the files alone; the same edits written as ``0.8`` or ``0.80`` hash the
    same (the value is hashed as read), a different order of edits hashes differently (later edits win)."""
    root = scenario_path(name_or_path).parent
    h = hashlib.sha256()
    if root.exists():
        for p in sorted(root.rglob("*")):
            if p.is_file() and p.suffix in (".toml", ".csv"):
                h.update(p.relative_to(root).as_posix().encode())
                h.update(p.read_bytes())
    for path, value in edits:
        h.update(b"\0--set\0" + str(path).encode() + b"\0")
        h.update(json.dumps(parse_value(value), sort_keys=True, default=str).encode())
    return h.hexdigest()

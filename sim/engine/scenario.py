"""Reading a scenario's kind and applying ``--set`` overrides (dotted paths into the loaded scenario)."""

from __future__ import annotations

import hashlib
import math
from dataclasses import replace
from typing import Any

from scenarios.loader import read_toml, scenario_path
from scenarios.schema import ScenarioError


def scenario_kind(name_or_path: str) -> str:
    """The ``kind`` field of a scenario file (``ieee33``, ``three_campus``, ...), with a clear error if absent."""
    file = scenario_path(name_or_path)
    if not file.exists():
        raise ScenarioError(f"{file}: scenario file not found (give a bundled name such as ieee33 or a folder)")
    kind = read_toml(file).get("kind")
    if not isinstance(kind, str) or not kind:
        raise ScenarioError(f"{file}: field 'kind' is missing (it names the system, e.g. kind = \"ieee33\")")
    return kind


def scenario_hash(name_or_path: str) -> str:
    """SHA-256 over the scenario folder's files (scenario.toml and profiles), in path order."""
    root = scenario_path(name_or_path).parent
    h = hashlib.sha256()
    if root.exists():
        for p in sorted(root.rglob("*")):
            if p.is_file() and p.suffix in (".toml", ".csv"):
                h.update(p.relative_to(root).as_posix().encode())
                h.update(p.read_bytes())
    return h.hexdigest()


def apply_override(obj: Any, path: str, value: Any, _full: str | None = None) -> Any:
    """``obj`` with the field at dotted ``path`` replaced by ``value`` (frozen dataclasses, rebuilt).

    Raises :class:`scenarios.schema.ScenarioError` naming the path and the fields allowed where it
    goes wrong.  Numbers are converted to the field's current type; the dataclass's own validation
    checks the range.
    """
    full = _full or path
    head, _, rest = path.partition(".")
    fields = getattr(obj, "__dataclass_fields__", None)
    if fields is None:
        raise ScenarioError(f"--set {full}: cannot descend into a {type(obj).__name__}")
    if head not in fields:
        raise ScenarioError(f"--set {full}: no field {head!r}; allowed: {', '.join(sorted(fields))}")
    cur = getattr(obj, head)
    new = apply_override(cur, rest, value, full) if rest else _coerce(full, cur, value)
    try:
        return replace(obj, **{head: new})
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ScenarioError):
            raise
        raise ScenarioError(f"--set {full}={value!r}: {exc}") from exc


def _coerce(path: str, cur: Any, value: Any) -> Any:
    if isinstance(cur, bool):
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        if isinstance(value, bool):
            return value
        raise ScenarioError(f"--set {path}={value!r}: expected true or false")
    if isinstance(cur, int | float) and not isinstance(cur, bool):
        try:
            v = float(value)
        except (TypeError, ValueError) as exc:
            raise ScenarioError(f"--set {path}={value!r}: expected a number (current value {cur!r})") from exc
        if not math.isfinite(v):
            raise ScenarioError(f"--set {path}={value!r}: expected a finite number")
        if isinstance(cur, int):
            if v != int(v):
                raise ScenarioError(f"--set {path}={value!r}: expected a whole number (current value {cur!r})")
            return int(v)
        return v
    if isinstance(cur, str):
        return str(value)
    raise ScenarioError(f"--set {path}: a {type(cur).__name__} field cannot be set from the command line")

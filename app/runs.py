"""Finished result folders, read-only and confined to one root: what the dashboard's "open a finished run" page reads.

A *result folder* is what ``run_sim.py simulate|compare|sweep --out DIR`` writes (:mod:`sim.engine.run`): a
``manifest.json`` (the command, the system, the runs, the environment and its date), ``kpis.csv`` (one row per run
and day; columns :data:`sim.engine.records.ID_COLUMNS` then the system's KPIs), ``timings.csv`` and per day
``timeseries/day=NNN/<run>.parquet`` (long format) and ``agents/day=NNN/<run>.parquet`` (per-agent records,
:data:`sim.engine.records.AGENT_COLUMNS`).  ``run_sim.py study incentives --out DIR`` writes one such folder per
run under ``DIR/runs/<point>/``.

Confinement rule: :class:`RunsRoot` is the folder the dashboard was started with.  Every path it hands out or
reads is resolved (symlinks followed, :meth:`pathlib.Path.resolve`) and must lie at or below the resolved root;
a name with a ``..`` part, an absolute path elsewhere, or a symlink whose target lies outside is refused with
:class:`OutsideRootError` (a ``ValueError``).  The check is repeated for every file a :class:`RunFolder` reads,
so a run name taken from a ``kpis.csv`` or a symlinked day file cannot lead outside either.  Nothing here
writes: the module only lists folders and reads CSV, JSON and Parquet files with pandas.

Day numbers are 1-based, as in the files (``day=001`` is day 1).
"""

from __future__ import annotations

import copy
import json
import logging
import operator
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, SupportsIndex

import pandas as pd

from sim.engine.records import AGENT_COLUMNS, ID_COLUMNS

log = logging.getLogger(__name__)

#: How many folder levels below the root :meth:`RunsRoot.folders` looks (the root is level 0; a study's run
#: folders ``study/runs/<point>`` are at level 3 when the root holds the study folder).
MAX_DEPTH = 4
#: The files that make a folder a result folder.
MANIFEST = "manifest.json"
KPIS = "kpis.csv"
#: The engine's own sub-folders of a result folder (per-day files, figures): never searched for result folders.
DATA_DIRS = frozenset({"agents", "kpis", "timeseries", "state", "timings", "figures", "__pycache__"})
#: The commands that write result folders, as the first of them in the manifest's ``command`` names it.
COMMANDS = ("simulate", "compare", "sweep", "study")
#: Columns of :meth:`RunFolder.runs`, :meth:`RunFolder.cost_per_day` and :meth:`RunFolder.behaviour_params`.
RUN_COLUMNS = ("run", "mode", "seed", "point", "days")
COST_COLUMNS = ("mode", "run", "day", "total_cost")
PARAM_COLUMNS = ("run", "day", "agent_id", "behaviour", "variable", "value")
#: The prefix of a behaviour's parameter of the day in the per-agent records (:mod:`sim.engine.records`).
PARAM_PREFIX = "param_"
#: A day as the reader accepts it: a whole number (Python's or numpy's) or its digits as text ("3").
Day = SupportsIndex | str


class OutsideRootError(ValueError):
    """A path that resolves outside the runs root (``..``, an absolute path elsewhere, a symlink pointing out)."""


class MissingFileError(FileNotFoundError, ValueError):
    """A result file the folder should have but does not (both a ``FileNotFoundError`` and a ``ValueError``)."""


@dataclass(frozen=True)
class RunFolderInfo:
    """One result folder as listed by :meth:`RunsRoot.folders`.

    ``path`` is relative to the root (POSIX separators, ``.`` for the root itself); ``command`` is
    ``simulate``, ``compare``, ``sweep``, ``study`` or ``unknown``; ``system`` the scenario kind (e.g.
    ``ieee33``); ``runs``, ``modes`` and ``days`` those found in ``kpis.csv`` (runs and modes in file order,
    days ascending); ``date`` the manifest's start date (ISO 8601); ``status`` the manifest's ``status``
    (``complete``, ``running``, ``failed``, ``interrupted``).  ``error`` is empty for a readable folder, else
    what could not be read (the other fields then hold what could)."""

    path: str
    command: str = "unknown"
    system: str = ""
    scenario: str = ""
    runs: tuple[str, ...] = ()
    modes: tuple[str, ...] = ()
    days: tuple[int, ...] = ()
    date: str = ""
    status: str = ""
    error: str = ""


def command_kind(manifest: dict[str, Any], folder: Path | None = None) -> str:
    """The command that wrote a folder: the first word of the manifest's ``command`` (``run_sim.py compare
    --scenario ...``) that is one of :data:`COMMANDS`; when the command does not say (a run started from Python),
    ``compare`` if the folder holds ``comparison.csv``, ``sweep`` if it holds ``sweep.csv``, else ``unknown``."""
    words = str(manifest.get("command") or "").split()
    for w in words:
        if w in COMMANDS:
            return w
    if folder is not None:
        if (folder / "comparison.csv").is_file():
            return "compare"
        if (folder / "sweep.csv").is_file():
            return "sweep"
    return "unknown"


def infer_system_kind(columns: Iterable[str]) -> str | None:
    """The registered system whose declared KPIs (:attr:`sim.engine.system.System.kpis`) all appear in
    ``columns`` (a ``kpis.csv`` header); when several do, the one declaring the most; None when none does.
    Only used when a manifest does not name its ``system``."""
    from sim.systems import SYSTEMS  # all systems and their solvers: imported only when needed

    cols = set(columns)
    fits = [(len(s.kpis), kind) for kind, s in SYSTEMS.items() if s.kpis and {k.name for k in s.kpis} <= cols]
    return max(fits)[1] if fits else None


class RunsRoot:
    """The folder the dashboard was started with: a confined, read-only view of the result folders below it.

    ``max_depth`` limits how deep :meth:`folders` looks (levels below the root)."""

    def __init__(self, root: str | os.PathLike[str], max_depth: int = MAX_DEPTH) -> None:
        given = Path(root)
        resolved = given.expanduser().resolve()
        if not resolved.is_dir():
            raise ValueError(f"runs root {given}: not an existing folder (resolved to {resolved}); start the dashboard "
                             "with --runs naming a folder that holds result folders (run_sim.py simulate --out DIR)")
        if isinstance(max_depth, bool) or not isinstance(max_depth, int) or not 0 <= max_depth <= 16:
            raise ValueError(f"runs root {given}: max_depth must be a whole number in 0..16, got {max_depth!r}")
        self.root = resolved
        self.max_depth = max_depth

    def __repr__(self) -> str:
        return f"RunsRoot({str(self.root)!r})"

    # ------------------------------------------------------------------------------------------- confinement
    def _refuse(self, name: object, resolved: Path | None, why: str) -> OutsideRootError:
        where = f" resolves to {resolved}, which" if resolved is not None else ""
        return OutsideRootError(
            f"path {name!r}{where} {why}; only folders and files at or below the runs root {self.root} can be read "
            "(the folder the dashboard was started with). Name a result folder relative to the root, without '..', "
            "and not through a symlink that points outside it.")

    def confine(self, path: Path) -> Path:
        """``path`` resolved (symlinks followed); :class:`OutsideRootError` unless it lies at or below the root."""
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root):
            raise self._refuse(str(path), resolved, "lies outside the runs root")
        return resolved

    def resolve(self, rel: str | os.PathLike[str]) -> Path:
        """The absolute, resolved path of ``rel`` (relative to the root, or absolute inside it).

        Refused with :class:`OutsideRootError`: a name with a ``..`` part (even one that would come back
        inside), a NUL character, an absolute path outside the root, and any path whose symlinks lead outside."""
        text = os.fspath(rel)
        if "\x00" in text:
            raise self._refuse(text, None, "holds a NUL character")
        p = Path(text)
        if ".." in p.parts:
            raise self._refuse(text, None, "has a '..' part")
        return self.confine(p if p.is_absolute() else self.root / p)

    def relative(self, path: Path) -> str:
        """``path`` (resolved, inside the root) relative to the root, POSIX style; ``.`` for the root."""
        rel = self.confine(path).relative_to(self.root).as_posix()
        return rel or "."

    # ------------------------------------------------------------------------------------------- listing
    def folders(self) -> list[RunFolderInfo]:
        """Every result folder at or below the root, at most :attr:`max_depth` levels down, sorted by path.

        A result folder holds ``manifest.json`` and ``kpis.csv``; a folder with only one of them (a run still in
        progress, or a damaged one), or with a file that cannot be read, is listed with an ``error``.  Hidden
        folders and the engine's data sub-folders (:data:`DATA_DIRS`) are not searched; symlinked folders are
        followed only where they resolve inside the root, each real folder once."""
        found: list[RunFolderInfo] = []
        seen: set[Path] = set()

        def walk(folder: Path, depth: int) -> None:
            if folder in seen:
                return
            seen.add(folder)
            if (folder / MANIFEST).is_file() or (folder / KPIS).is_file():
                found.append(self._info(folder))
            if depth >= self.max_depth:
                return
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError as exc:
                log.debug("runs root: cannot list %s (%s)", folder, exc)
                return
            for e in entries:
                if e.name.startswith(".") or e.name in DATA_DIRS:
                    continue
                try:
                    if not e.is_dir():
                        continue
                    sub = self.confine(Path(e.path))
                except (OSError, RuntimeError, OutsideRootError) as exc:  # RuntimeError: a symlink loop
                    log.debug("runs root: skipped %s (%s)", e.path, exc)
                    continue
                walk(sub, depth + 1)

        walk(self.root, 0)
        return sorted(found, key=lambda i: (i.path != ".", i.path))

    def _info(self, folder: Path) -> RunFolderInfo:
        """The listing entry of ``folder``: what its manifest and ``kpis.csv`` say, errors as text."""
        errors: list[str] = []
        fields: dict[str, Any] = {"path": self.relative(folder)}
        manifest: dict[str, Any] = {}
        try:
            manifest = read_manifest(self.confine(folder / MANIFEST))
        except (OSError, ValueError) as exc:
            errors.append(str(exc))
        fields["command"] = command_kind(manifest, folder)
        fields["scenario"] = str(manifest.get("scenario") or "")
        fields["status"] = str(manifest.get("status") or "")
        env = manifest.get("environment")
        fields["date"] = str(env.get("date") or "") if isinstance(env, dict) else ""
        system = manifest.get("system")
        try:
            kp = read_kpis(self.confine(folder / KPIS), usecols=("run", "mode", "day"))
            fields["runs"] = tuple(dict.fromkeys(kp["run"]))
            fields["modes"] = tuple(dict.fromkeys(kp["mode"]))
            fields["days"] = tuple(sorted({int(d) for d in kp["day"]}))
            if not system:
                system = infer_system_kind(pd.read_csv(folder / KPIS, nrows=0).columns)
        except (OSError, ValueError) as exc:
            errors.append(str(exc))
        fields["system"] = str(system or "")
        return RunFolderInfo(**fields, error="; ".join(errors))

    def open(self, rel: str | os.PathLike[str]) -> RunFolder:
        """The result folder ``rel`` (relative to the root, or absolute inside it): a :class:`RunFolder`.

        Raises :class:`OutsideRootError` for a path outside the root and ``ValueError`` naming the folder when
        it is not a result folder (no ``manifest.json`` or no ``kpis.csv``)."""
        folder = self.resolve(rel)
        if not folder.is_dir():
            raise ValueError(f"{rel!r} (resolved to {folder}): not a folder below the runs root {self.root}")
        missing = [f for f in (MANIFEST, KPIS) if not (folder / f).is_file()]
        if missing:
            raise ValueError(f"{folder}: not a finished result folder (no {' and no '.join(missing)}); a result "
                             "folder is what run_sim.py simulate|compare|sweep --out writes, and kpis.csv is written "
                             "when the command ends")
        return RunFolder(self, folder)


def read_manifest(path: Path) -> dict[str, Any]:
    """``manifest.json`` as a dict; ``MissingFileError`` when absent, ``ValueError`` naming the file when it is not
    JSON or not a JSON object."""
    if not path.is_file():
        raise MissingFileError(f"{path}: no manifest.json")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a readable manifest (not UTF-8 text: {exc})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a readable manifest (invalid JSON: {exc})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: not a readable manifest (expected a JSON object, got {type(obj).__name__})")
    return obj


def read_kpis(path: Path, usecols: tuple[str, ...] | None = None) -> pd.DataFrame:
    """``kpis.csv`` with ``run, mode, point`` as text and ``day`` as a whole number (``usecols``: only those
    columns); ``ValueError`` naming the file when it cannot be parsed or lacks an identifier column
    (:data:`sim.engine.records.ID_COLUMNS`)."""
    if not path.is_file():
        raise MissingFileError(f"{path}: no kpis.csv")
    need = tuple(usecols) if usecols else ID_COLUMNS
    try:
        head = pd.read_csv(path, nrows=0).columns
        missing = [c for c in need if c not in head]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; it has {', '.join(map(str, head))}")
        text = [c for c in ("run", "mode", "point") if c in head and (usecols is None or c in usecols)]
        df = pd.read_csv(path, usecols=list(usecols) if usecols else None, dtype=dict.fromkeys(text, str))
        df["day"] = pd.to_numeric(df["day"], errors="raise").astype("int64")
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: empty file (no header; kpis.csv starts with {', '.join(ID_COLUMNS)})") from None
    except (pd.errors.ParserError, UnicodeDecodeError, TypeError) as exc:
        raise ValueError(f"{path}: not a readable KPI table ({exc})") from None
    except ValueError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise ValueError(f"{path}: not a readable KPI table ({exc})") from None
    return df


class RunFolder:
    """One result folder below a :class:`RunsRoot`, read-only.  Small tables (``kpis.csv``, ``timings.csv``, the
    manifest, the behaviour parameters) are read once per instance; a day's time series is read on each call."""

    def __init__(self, root: RunsRoot, folder: Path) -> None:
        self.runs_root = root
        self.path = root.confine(folder)
        self.rel = root.relative(self.path)
        self._cache: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"RunFolder({self.rel!r} under {str(self.runs_root.root)!r})"

    def _file(self, *parts: str) -> Path:
        """A file of this folder, confined to the root (a name from the files cannot lead outside)."""
        for p in parts:
            if p in ("", ".", "..") or "/" in p or "\\" in p or "\x00" in p:
                raise self.runs_root._refuse(p, None, f"is not a plain file name inside {self.path}")
        return self.runs_root.confine(self.path.joinpath(*parts))

    # ------------------------------------------------------------------------------------------- tables
    def manifest(self) -> dict[str, Any]:
        """``manifest.json`` as a dict (a copy: changing it changes nothing here)."""
        if "manifest" not in self._cache:
            self._cache["manifest"] = read_manifest(self._file(MANIFEST))
        return copy.deepcopy(self._cache["manifest"])

    def kpis(self) -> pd.DataFrame:
        """``kpis.csv``: one row per run and day (identifiers, then the system's KPIs and per-agent extras)."""
        if "kpis" not in self._cache:
            self._cache["kpis"] = read_kpis(self._file(KPIS))
        return self._cache["kpis"].copy()

    def runs(self) -> pd.DataFrame:
        """The runs ``[run, mode, seed, point, days]`` in ``kpis.csv`` order, ``days`` the number of days in the
        file; runs the manifest lists with no day in ``kpis.csv`` (failed on their first day) follow with 0."""
        kp = self.kpis()
        done = kp.groupby("run", sort=False).agg(mode=("mode", "first"), seed=("seed", "first"),
                                                 point=("point", "first"), days=("day", "nunique")).reset_index()
        rows = done.to_dict("records")
        try:
            planned = self.manifest().get("runs") or []
        except ValueError:
            planned = []
        have = set(done["run"])
        for r in planned:
            if isinstance(r, dict) and r.get("name") and str(r["name"]) not in have:
                rows.append({"run": str(r["name"]), "mode": str(r.get("mode", "")), "seed": r.get("seed"),
                             "point": str(r.get("point", "")), "days": 0})
        return pd.DataFrame(rows, columns=list(RUN_COLUMNS))

    def _run_names(self) -> list[str]:
        return list(dict.fromkeys(self.kpis()["run"]))

    def _check_run(self, run: str) -> str:
        names = self._run_names()
        if not isinstance(run, str) or run not in names:
            raise ValueError(f"{self.path}: no run {run!r} in kpis.csv; the runs are {', '.join(names) or 'none'}")
        return run

    def days(self, run: str | None = None) -> list[int]:
        """The 1-based days in ``kpis.csv``, ascending: of ``run``, or of any run when ``run`` is None."""
        kp = self.kpis()
        if run is not None:
            kp = kp[kp["run"] == self._check_run(run)]
        return sorted({int(d) for d in kp["day"]})

    def _check_day(self, run: str, day: Day) -> int:
        """``day`` as an int when ``run`` has it: a whole number (numpy's too) or its digits as text."""
        available = self.days(run)
        number: int | None = None
        if isinstance(day, str):
            number = int(day) if day.strip().isdigit() else None
        elif not isinstance(day, bool | float):
            try:
                number = operator.index(day)
            except TypeError:
                number = None
        if number is None or number not in available:
            shown = ", ".join(map(str, available)) if len(available) <= 20 else f"{available[0]}..{available[-1]}"
            raise ValueError(f"{self.path}: run {run!r} has no day {day!r} (days are 1-based); its days are "
                             f"{shown or 'none'}")
        return number

    def _day_file(self, kind: str, run: str, day: Day) -> Path:
        run = self._check_run(run)
        d = self._check_day(run, day)
        return self._file(kind, f"day={d:03d}", f"{run}.parquet")

    def timeseries(self, run: str, day: Day) -> pd.DataFrame:
        """The long time series of ``run`` on ``day`` (``timeseries/day=NNN/<run>.parquet``: day, run, mode,
        period, bus, entity, variable, value, unit; text columns as categories).  ``MissingFileError`` (a
        ``ValueError``) naming the file when the day has none."""
        path = self._day_file("timeseries", run, day)
        if not path.is_file():
            raise MissingFileError(f"{path}: no time series of run {run!r} on day {day} in {self.path}")
        return _read_parquet(path)

    def agents(self, run: str, day: Day) -> pd.DataFrame:
        """The per-agent records of ``run`` on ``day`` (:data:`sim.engine.records.AGENT_COLUMNS`); an empty frame
        with those columns when the system writes none."""
        path = self._day_file("agents", run, day)
        if not path.is_file():
            return _empty_agents()
        return _read_parquet(path)

    def timings(self) -> pd.DataFrame:
        """``timings.csv`` (wall-clock seconds per run, day and stage); an empty frame with the identifier columns
        when the folder has none."""
        if "timings" not in self._cache:
            path = self._file("timings.csv")
            if not path.is_file():
                df = pd.DataFrame(columns=["run", "mode", "seed", "point", "day"])
            else:
                try:
                    df = pd.read_csv(path, dtype={"run": str, "mode": str, "point": str})
                except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
                    raise ValueError(f"{path}: not a readable timings table ({exc})") from None
            self._cache["timings"] = df
        return self._cache["timings"].copy()

    def system_kind(self) -> str:
        """The scenario kind the folder belongs to (``ieee33``, ``three_campus``, ``rural_ies``,
        ``lowcarbon_ies``, ...): the manifest's ``system``; when it names none (or cannot be read), the
        registered system whose declared KPI columns ``kpis.csv`` holds (:func:`infer_system_kind`)."""
        try:
            kind = self.manifest().get("system")
        except ValueError:
            kind = None
        if isinstance(kind, str) and kind:
            return kind
        inferred = infer_system_kind(self.kpis().columns)
        if inferred is None:
            raise ValueError(f"{self.path}: the system is unknown: manifest.json names no 'system' and the columns of "
                             "kpis.csv are not those of a registered system")
        return inferred

    def cost_per_day(self) -> pd.DataFrame:
        """``[mode, run, day, total_cost]`` per run and day, ordered by mode, run and day (every system declares
        ``total_cost``, the system's cost of the day in its currency)."""
        kp = self.kpis()
        if "total_cost" not in kp.columns:
            raise ValueError(f"{self._file(KPIS)}: no total_cost column; it has {', '.join(map(str, kp.columns))}")
        out = kp[list(COST_COLUMNS)].sort_values(["mode", "run", "day"], kind="stable")
        return out.reset_index(drop=True)

    def behaviour_params(self) -> pd.DataFrame:
        """The behaviours' parameters of each day ``[run, day, agent_id, behaviour, variable, value]``: the
        per-agent records whose variable starts with ``param_`` (e.g. a learner's chosen ``param_m`` and its EXP3
        probabilities ``param_p_arm<i>``), over every run and day of ``kpis.csv``; empty when there are none."""
        if "params" not in self._cache:
            parts = []
            kp = self.kpis()
            for run in self._run_names():
                for d in sorted({int(x) for x in kp.loc[kp["run"] == run, "day"]}):
                    path = self._file("agents", f"day={d:03d}", f"{run}.parquet")
                    if path.is_file():
                        rec = _read_parquet(path, columns=list(PARAM_COLUMNS))
                        rec = rec[rec["variable"].astype(str).str.startswith(PARAM_PREFIX)]
                        if not rec.empty:
                            parts.append(rec)
            df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(PARAM_COLUMNS))
            df = df.astype({"run": str, "agent_id": str, "behaviour": str, "variable": str, "value": float,
                            "day": "int64"})
            self._cache["params"] = df.reset_index(drop=True)
        return self._cache["params"].copy()


def _empty_agents() -> pd.DataFrame:
    df = pd.DataFrame({c: pd.Series(dtype=object) for c in AGENT_COLUMNS})
    return df.astype({"day": "int64", "value": float})


def _read_parquet(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """A Parquet file; ``ValueError`` naming it when it cannot be read or lacks ``columns``."""
    try:
        return pd.read_parquet(path, columns=columns)
    except (OSError, ValueError, KeyError) as exc:  # pyarrow's ArrowInvalid is a ValueError, ArrowIOError an OSError
        raise ValueError(f"{path}: not a readable Parquet file ({exc})") from None

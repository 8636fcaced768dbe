"""Multi-day Monte Carlo simulation (issue 4; SPEC §6.1, §6.2, §6.6).

The bundled systems run: ``ieee33`` (this module's :func:`simulate_day`), ``three_campus``
(:func:`sim.campus_day.simulate_campus_day`: the cloud model of paper 000 planned on the reduced
weather scenarios and replayed on the realised day) and ``rural_ies``
(:func:`sim.rural_day.simulate_rural_day_steps`: paper 002's campus with its DA trading decided by
the scenario's uncertainty method, ``cdro`` by default).  What follows describes the IEEE-33 day.

A *run* is one (mode, replication seed, sweep point) over ``days`` consecutive days.  Each day:

1. **Information** (:func:`sim.weather.forecast_and_realisation`): Monte Carlo wind and PV days
   fitted to real TMY3 data, reduced to a few scenarios; the day-ahead forecast is the most probable
   one, the realised day an independent draw refined to 15 minutes; the load shape gets seeded noise
   (its hourly realisation is known day-ahead, only renewables are uncertain here).  The EV fleet is
   drawn once per run from the run's seed (the same commuters every day).
2. **State** carried from the previous day: each cluster's storage starts at the energy the previous
   day left (ESS-4 becomes a window: the day must end at or above the scenario's nominal start), and
   every home EV, plugged in overnight, starts the day with the SOC it had at midnight and must end the
   day at or above it and where tomorrow's departure stays reachable (:func:`agents.ev.carried_end_min`).  The first day
   has no history: home EVs use the cyclic EV-4' there.  Demand response conserves energy within a
   day (the transformer areas' shift; DR0-3 on the campuses), so no DR balance carries over midnight.
3. **Day-ahead and intraday** (:class:`sim.ieee33_schemes.DistributionModel`): the DA TOU design,
   then the mode's scheme over the 96 quarter-hours, stepped by :class:`sim.model.SimulationModel`:
   ``oracle`` replay (as in the papers): one intraday optimisation with the realised day; ``mpc``
   replay (:meth:`~sim.ieee33_schemes.DistributionModel.scheme_steps`, :mod:`sim.mpc`): the rolling
   prices are cleared on the forecast before the day, then every quarter-hour the clusters re-solve
   the rest of the day with the renewables realised so far and the forecast after, and execute one
   quarter-hour.  The ``oracle`` mode is full-information in both replays (the lower bound).
4. **Network check and KPIs**: LinDistFlow and AC voltages, costs, curtailment, peak–valley, the
   per-cluster gains of the bargaining.

Randomness: day ``d`` of seed ``s`` uses ``SeedSequence(s).spawn(n)[d]`` (any ``n``), so every mode
sees the same weather, loads and fleets on the same day (common random numbers) and a day does not
depend on how many days run.

Files (all written atomically, a day at a time; a killed run loses at most the day in progress):

- ``timeseries/day=NNN/<run>.parquet`` — the long format of the IEEE-33 study plus ``day``, ``mode``, ``run``;
- ``state/day=NNN/<run>.json`` — the state the day leaves (storage energy) — read by ``--resume``;
- ``kpis/day=NNN/<run>.csv`` — the day's KPI row, written last: a day counts as done when it exists;
- ``kpis.csv`` — every KPI row (run, mode, day order); only values fixed by scenario and seed (no
  timings), so the same seed gives a byte-identical file whatever the number of workers;
- ``timings.csv`` — wall-clock seconds per run and day; ``manifest.json`` — scenario hash, seed,
  command, package versions, timings.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agents.ev import carried_end_min
from agents.milp import SolverOptions
from scenarios.ieee33_loader import fleet as sample_fleets
from scenarios.ieee33_loader import load_ieee33_scenario
from scenarios.schema import IEEE33Scenario, ScenarioError
from sim.ieee33_schemes import SCHEMES, DayData, DistributionModel, SchemeResult
from sim.ieee33_study import network_check, scheme_row, timeseries_frame
from sim.mpc import REPLAYS
from sim.reporting import environment_info, write_csv, write_json, write_parquet
from sim.weather import (
    Site,
    WeatherModel,
    forecast_and_realisation,
    load_weather_params,
    loads_of_ieee33,
    sites_of_ieee33,
)

log = logging.getLogger(__name__)

MODES: tuple[str, ...] = SCHEMES
#: Spawn key of the run's EV fleet under the run's seed (days use keys 0, 1, ...; the weather its own key).
FLEET_SPAWN_KEY = 1 << 20
#: KPI columns (besides the identifiers) taken from the study's scheme row; timings excluded.
KPI_COLUMNS: tuple[str, ...] = (
    "total_cost", "grid_cost", "curtailment_penalty", "storage_cost", "ev_cost", "pv_use_cost", "dr_cost",
    "interaction_cost", "ev_bill", "curtailment_kwh", "curtailment_rate", "renewable_available_kwh", "grid_kwh",
    "exchange_kwh", "peak_valley_kw", "vmin_pu", "vmax_pu", "vmin_ac_pu", "voltage_violation_pu_h",
    "max_ldf_ac_error_pu", "ac_losses_kwh", "bisection_iterations", "max_excess_demand_kw", "spill_penalty",
    "spill_kwh",
)
ID_COLUMNS: tuple[str, ...] = ("run", "mode", "seed", "point", "day", "day_of_year")


# ------------------------------------------------------------------------------ specification


@dataclass(frozen=True)
class RunSpec:
    """One run: a mode over ``days`` days from ``seed`` (and a sweep ``point`` with its overrides)."""

    mode: str
    seed: int
    days: int
    point: str = "base"
    overrides: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}; got {self.mode!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        if isinstance(self.days, bool) or not isinstance(self.days, int) or self.days < 1:
            raise ValueError(f"days must be an integer >= 1, got {self.days!r}")

    @property
    def name(self) -> str:
        """File-safe run name, e.g. ``cooperative-s7`` or ``cooperative-s7-kappa0.9``."""
        base = f"{self.mode}-s{self.seed}"
        return base if self.point == "base" else f"{base}-{_safe(self.point)}"


@dataclass(frozen=True)
class SimSettings:
    """What all runs of one command share."""

    scenario: str = "ieee33"
    replay: str = "oracle"
    start_day_of_year: int = 172
    n_mc: int = 200
    n_scenarios: int = 6
    evs_per_station: int | None = None
    time_limit_s: float = 600.0
    station: int | None = None  # TMY3 station of the weather fit (None: the default)

    def __post_init__(self) -> None:
        if self.replay not in REPLAYS:
            raise ValueError(f"replay must be one of {', '.join(REPLAYS)}; got {self.replay!r}")
        if not 1 <= self.start_day_of_year <= 365:
            raise ValueError(f"start_day_of_year must be in 1..365, got {self.start_day_of_year}")
        if self.n_mc < self.n_scenarios or self.n_scenarios < 1:
            raise ValueError(f"need 1 <= n_scenarios <= n_mc, got n_scenarios={self.n_scenarios}, n_mc={self.n_mc}")


def _safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in ".-_" else "_" for ch in text)


# ------------------------------------------------------------------------------ scenario and state


def scenario_kind(name_or_path: str) -> str:
    """The ``kind`` field of a scenario file (``ieee33``, ``three_campus``, ``rural_ies``), with a clear error."""
    from scenarios.loader import read_toml, scenario_path

    file = scenario_path(name_or_path)
    if not file.exists():
        raise ScenarioError(f"{file}: scenario file not found (give a bundled name such as ieee33 or a folder)")
    kind = read_toml(file).get("kind")
    if kind not in _DAY_FUNCTIONS:
        raise ScenarioError(f"{file}: kind = {kind!r}; the simulator supports {', '.join(sorted(_DAY_FUNCTIONS))}")
    return str(kind)


def supported_scenarios() -> tuple[str, ...]:
    """Scenario kinds the simulator can run (bundled scenarios of the same name)."""
    return tuple(_DAY_FUNCTIONS)


def load_scenario(name_or_path: str, overrides: Sequence[tuple[str, Any]] = ()) -> Any:
    """The scenario (of either kind) with ``overrides`` (dotted paths, see :func:`apply_override`) applied."""
    kind = scenario_kind(name_or_path)
    if kind == "ieee33":
        sc: Any = load_ieee33_scenario(name_or_path)
    elif kind == "rural_ies":
        from scenarios.loader import load_rural_ies

        sc = load_rural_ies(name_or_path)
    else:
        from scenarios.loader import load_three_campus

        sc = load_three_campus(name_or_path)
    for path, value in overrides:
        sc = apply_override(sc, path, value)
    return sc


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


@dataclass
class CarryState:
    """What one day leaves to the next: each cluster's (or park's) stored energy (kWh) and, on ieee33,
    the state of charge at midnight of every overnight (home) EV, which is still plugged in."""

    ess_kwh: dict[str, float] = field(default_factory=dict)
    ev_soc: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"ess_kwh": dict(self.ess_kwh), "ev_soc": dict(self.ev_soc)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> CarryState:
        return cls(ess_kwh={str(k): float(v) for k, v in d.get("ess_kwh", {}).items()},
                   ev_soc={str(k): float(v) for k, v in d.get("ev_soc", {}).items()})


def carry_fleets(fleets: Mapping[int, list[Any]], state: CarryState, horizon: Any) -> dict[int, list[Any]]:
    """The run's fleet for one day: every home EV with a SOC in ``state`` starts the day from it (still
    plugged in since last night) and must end the day at or above that SOC and where tomorrow's
    departure stays reachable."""
    out: dict[int, list[Any]] = {}
    for bus, evs in fleets.items():
        day = []
        for p in evs:
            if p.kind == "home" and p.name in state.ev_soc:
                start = min(max(state.ev_soc[p.name], p.soc_min), p.soc_max)
                # no borrowing from tomorrow: the day ends with at least the energy it started with (and
                # never below what tomorrow's departure needs); without it a day-by-day optimiser sells the
                # cars' energy at tonight's peak and leaves tomorrow to buy it back
                p = replace(p, soc_start=start, soc_end_min=max(start, carried_end_min(p, horizon)))
            day.append(p)
        out[bus] = day
    return out


def day_scenario(sc: IEEE33Scenario, load_factor: np.ndarray, state: CarryState) -> IEEE33Scenario:
    """The scenario of one day: TA profiles × the day's hourly load factor; storage starting from ``state``.

    The storage must end the day at or above the scenario's nominal start (and at most its maximum):
    ESS-4 as a window (:class:`agents.devices.BatteryParams`), so energy can be carried over.
    """
    tas = tuple(replace(ta, fixed_kw=ta.fixed_kw * load_factor, shiftable_kw=ta.shiftable_kw * load_factor,
                        curtailable_kw=ta.curtailable_kw * load_factor) for ta in sc.transformer_areas)
    clusters = []
    for c in sc.clusters:
        e = c.ess
        cap = e.capacity_kwh
        start = e.soc_initial_frac
        if c.name in state.ess_kwh and cap > 0:
            start = min(max(state.ess_kwh[c.name] / cap, e.soc_min_frac), e.soc_max_frac)
        nominal = e.soc_initial_frac if e.soc_end_min_frac is None else e.soc_end_min_frac
        ess = replace(e, soc_initial_frac=start, soc_end_min_frac=nominal, soc_end_max_frac=e.soc_max_frac)
        clusters.append(replace(c, ess=ess))
    return replace(sc, transformer_areas=tas, clusters=tuple(clusters))


# ------------------------------------------------------------------------------ one day


@dataclass
class DayOutcome:
    kpis: dict[str, Any]
    timeseries: pd.DataFrame
    state: CarryState
    seconds: dict[str, float]


#: A day as a generator: yields ``k`` after quarter-hour ``k`` (1..96) is executed, returns the outcome.
DaySteps = Generator[int, None, DayOutcome]


def drain(steps: DaySteps) -> DayOutcome:
    """Run a :data:`DaySteps` generator to its end; return the day's outcome."""
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            out = stop.value
            if not isinstance(out, DayOutcome):
                raise RuntimeError("a day generator ended without its outcome") from None
            return out


def weather_for(sites: Sequence[Site], settings: SimSettings) -> WeatherModel:
    """The weather model of ``sites``, fitted to ``settings.station`` (the default TMY3 station if None)."""
    params = load_weather_params(station=settings.station) if settings.station else load_weather_params()
    return WeatherModel(params, tuple(sites))


def weather_model(sc: IEEE33Scenario, settings: SimSettings) -> WeatherModel:
    return weather_for(sites_of_ieee33(sc), settings)


def simulate_day(sc: IEEE33Scenario, run: RunSpec, settings: SimSettings, d: int, state: CarryState,
                 weather: WeatherModel | None = None) -> DayOutcome:
    """Day ``d`` (0-based) of ``run`` starting from ``state`` (SPEC §6.6), run to its end."""
    return drain(simulate_day_steps(sc, run, settings, d, state, weather))


def simulate_day_steps(sc: IEEE33Scenario, run: RunSpec, settings: SimSettings, d: int, state: CarryState,
                       weather: WeatherModel | None = None) -> DaySteps:
    """Day ``d`` (0-based) of ``run`` from ``state``, stepped by quarter-hours (``settings.replay``).

    Yields ``k`` once quarter-hour ``k`` is executed (:meth:`DistributionModel.scheme_steps`), returns
    the :class:`DayOutcome`.
    """
    t0 = time.perf_counter()
    wm = weather or weather_model(sc, settings)
    doy = (settings.start_day_of_year - 1 + d) % 365 + 1
    dw = forecast_and_realisation(wm, run.seed, d, day_of_year=doy, n_mc=settings.n_mc,
                                  n_scenarios=settings.n_scenarios, loads=loads_of_ieee33(sc))
    shape = np.asarray(sc.load_shape, dtype=float)
    realised_load = np.asarray(dw.load_realised["load_shape"], dtype=float)
    steps = realised_load.size // shape.size
    hourly = realised_load.reshape(shape.size, steps).mean(axis=1)
    factor = np.where(shape > 0, hourly / np.where(shape > 0, shape, 1.0), 1.0)
    sc_d = day_scenario(sc, factor, state)
    day_seq = np.random.SeedSequence(run.seed).spawn(d + 1)[d]
    # one fleet per run (the same commuters every day), drawn from the run's seed; home EVs carry their SOC
    fleet_seq = np.random.SeedSequence(run.seed, spawn_key=(FLEET_SPAWN_KEY,))
    fleets = carry_fleets(sample_fleets(sc_d, fleet_seq), state, sc_d.intraday_horizon)
    day = DayData(seed=int(day_seq.generate_state(1)[0]), forecast_kw=dw.forecast_by_site(),
                  realized_kw=dw.realised_by_site(), fleets=fleets)
    t_data = time.perf_counter()
    model = DistributionModel(sc_d, day, options=SolverOptions(time_limit_s=settings.time_limit_s),
                              replay=settings.replay)
    res = yield from model.scheme_steps(run.mode)
    t_solve = time.perf_counter()
    net = network_check(sc_d, res)
    row = scheme_row(sc_d, res, net)
    kpis: dict[str, Any] = {"run": run.name, "mode": run.mode, "seed": run.seed, "point": run.point, "day": d + 1,
                            "day_of_year": doy}
    kpis.update({k: row[k] for k in KPI_COLUMNS})
    kpis["da_curtailment_kwh"] = float(model.da.curtailment_kwh)
    kpis["mpc_solves"] = int(res.info.get("mpc_solves", 0))
    kpis.update(_cluster_kpis(res))
    for cp in sc_d.clusters:
        kpis[f"ess_start_kwh_{cp.name}"] = float(cp.ess.capacity_kwh * cp.ess.soc_initial_frac)
    home = [j for j, p in enumerate(model.ev_params) if p.kind == "home"]
    end = CarryState({name: float(sol.profiles["soc_kwh"][-1]) for name, sol in res.clusters.items()},
                     {res.ev_names[j]: float(res.ev_soc_frac[j, -1]) for j in home})
    if home:
        kpis["ev_home_soc_start_mean"] = float(np.mean([p.soc_start if p.carried else np.nan
                                                        for p in (model.ev_params[j] for j in home)]))
        kpis["ev_home_soc_end_mean"] = float(np.mean(res.ev_soc_frac[home, -1]))
    for name, v in end.ess_kwh.items():
        kpis[f"ess_end_kwh_{name}"] = v
    ts = timeseries_frame(sc_d, {run.mode: res}, {run.mode: net})
    ts = ts.astype({"scheme": str})
    ts.insert(0, "day", np.int16(d + 1))
    ts.insert(1, "run", run.name)
    ts = ts.rename(columns={"scheme": "mode"})
    t_end = time.perf_counter()
    return DayOutcome(kpis, ts, end, {"data_s": t_data - t0, "solve_s": t_solve - t_data,
                                      "mpc_s": float(res.info.get("mpc_seconds", 0.0)),
                                      "check_s": t_end - t_solve, "total_s": t_end - t0})


def _cluster_kpis(res: SchemeResult) -> dict[str, float]:
    """Per-cluster cost after settlement and gain against standing alone (when a bargaining took place)."""
    out: dict[str, float] = {}
    if res.allocation is not None:
        a = res.allocation
        for i, c in enumerate(a.participants):
            out[f"final_cost_{c}"] = float(a.final_cost[i])
            out[f"gain_{c}"] = float(a.gain[i])
            out[f"payment_{c}"] = float(a.payment[i])
            out[f"weight_{c}"] = float(a.weight[i])
    else:
        for c, s in res.clusters.items():
            out[f"final_cost_{c}"] = float(s.cost)
    return out


# ------------------------------------------------------------------------------ a run, day by day


def _part(out: Path, kind: str, d: int, run: RunSpec, ext: str) -> Path:
    return out / kind / f"day={d + 1:03d}" / f"{run.name}.{ext}"


def completed_days(out: Path, run: RunSpec) -> int:
    """Number of leading days of ``run`` whose KPI part exists (the commit marker of a day)."""
    d = 0
    while d < run.days and _part(out, "kpis", d, run, "csv").exists():
        d += 1
    return d


def run_days(out: str | Path, run: RunSpec, settings: SimSettings, resume: bool = False,
             progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Simulate ``run`` day by day into ``out``; with ``resume`` continue after the last complete day.

    The days are stepped by :class:`sim.model.SimulationModel` (15-min Mesa steps).  Returns the
    timing rows.  Each day writes its time series, then its end state, then its KPI row (the commit
    marker), each atomically.
    """
    out = Path(out)
    sc = load_scenario(settings.scenario, run.overrides)
    kind = scenario_kind(settings.scenario)
    if settings.evs_per_station is not None and kind == "ieee33":
        sc = sc.with_evs_per_station(settings.evs_per_station)
    day_fn, wm = _DAY_FUNCTIONS[kind](sc, settings)
    start = completed_days(out, run) if resume else 0
    state = CarryState()
    if start:
        state = CarryState.from_json(json.loads(_part(out, "state", start - 1, run, "json").read_text("utf-8")))
    timings: list[dict[str, Any]] = []

    def write(d: int, o: DayOutcome) -> None:
        write_parquet(o.timeseries, _part(out, "timeseries", d, run, "parquet"))
        write_json(o.state.to_json(), _part(out, "state", d, run, "json"))
        write_csv(pd.DataFrame([o.kpis]), _part(out, "kpis", d, run, "csv"))
        timings.append({"run": run.name, "mode": run.mode, "seed": run.seed, "point": run.point, "day": d + 1}
                       | o.seconds)
        if progress:
            progress(f"{run.name} day {d + 1}/{run.days}: total cost {o.kpis['total_cost']:.2f} "
                     f"({o.seconds['total_s']:.1f} s)")

    from sim.model import SimulationModel

    SimulationModel(sc, run, settings, first_day=start, state=state, weather=wm, on_day=write,
                    day_fn=day_fn).run_to_end()
    return timings


# ------------------------------------------------------------------------------ many runs


def collect_kpis(out: Path, runs: Sequence[RunSpec]) -> pd.DataFrame:
    """Every committed KPI row of ``runs`` in (run order, day) order."""
    rows = []
    for run in runs:
        for d in range(run.days):
            p = _part(out, "kpis", d, run, "csv")
            if p.exists():
                rows.append(pd.read_csv(p))
    if not rows:
        return pd.DataFrame(columns=list(ID_COLUMNS) + list(KPI_COLUMNS))
    return pd.concat(rows, ignore_index=True)


def scenario_hash(name_or_path: str) -> str:
    """SHA-256 over the scenario folder's files (scenario.toml and profiles), in path order."""
    from scenarios.loader import scenario_path

    root = scenario_path(name_or_path).parent
    h = hashlib.sha256()
    if root.exists():
        for p in sorted(root.rglob("*")):
            if p.is_file() and p.suffix in (".toml", ".csv"):
                h.update(p.relative_to(root).as_posix().encode())
                h.update(p.read_bytes())
    return h.hexdigest()


def execute(
    out: str | Path,
    runs: Sequence[RunSpec],
    settings: SimSettings,
    *,
    resume: bool = False,
    workers: int | None = None,
    scheduler: str | None = None,
    command: str = "",
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Run every ``run`` (a plain loop, or Dask tasks with ``workers``/``scheduler``); write the summaries.

    Runs are independent (each carries its own state across its days), so they are the tasks.
    The results do not depend on how they are scheduled.  Returns ``kpis.csv`` as a frame.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise ValueError(f"run names must be unique, got {names}")
    t0 = time.perf_counter()
    timings: list[dict[str, Any]] = []
    if workers or scheduler:
        from dask.distributed import Client, LocalCluster

        cluster = None
        if scheduler:
            client = Client(scheduler)
        else:
            cluster = LocalCluster(n_workers=int(workers or 1), threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = Client(cluster)
        try:
            futures = [client.submit(run_days, str(out), r, settings, resume, None, key=f"run-{r.name}", pure=False)
                       for r in runs]
            for fut in futures:
                part = fut.result()
                timings.extend(part)
                if progress and part:
                    progress(f"{part[0]['run']}: {len(part)} day(s) done")
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    else:
        for r in runs:
            timings.extend(run_days(out, r, settings, resume, progress))
    kpis = collect_kpis(out, runs)
    write_csv(kpis, out / "kpis.csv")
    tim = pd.DataFrame(timings)
    old = out / "timings.csv"
    if resume and old.exists() and not tim.empty:
        tim = pd.concat([pd.read_csv(old), tim], ignore_index=True)
    if not tim.empty:
        write_csv(tim, old)
    manifest = {
        "command": command,
        "scenario": settings.scenario,
        "scenario_sha256": scenario_hash(settings.scenario),
        "settings": settings.__dict__,
        "runs": [{"name": r.name, "mode": r.mode, "seed": r.seed, "days": r.days, "point": r.point,
                  "overrides": [list(o) for o in r.overrides]} for r in runs],
        "workers": workers, "scheduler": scheduler, "resume": resume,
        "timings": {"wall_s": time.perf_counter() - t0, "days_simulated": len(timings)},
        "environment": environment_info(),
    }
    write_json(manifest, out / "manifest.json")
    return kpis


def _ieee33_day(sc: Any, settings: SimSettings) -> tuple[Callable[..., DaySteps], Any]:
    return simulate_day_steps, weather_model(sc, settings)


def _campus_day(sc: Any, settings: SimSettings) -> tuple[Callable[..., DaySteps], Any]:
    from functools import partial

    from sim.campus_day import campus_models, campus_weather_model, simulate_campus_day_steps

    # one set of persistent models per run: every day only changes their data
    return partial(simulate_campus_day_steps, models=campus_models(sc, settings, reuse=False)), \
        campus_weather_model(sc, settings)


def _rural_day(sc: Any, settings: SimSettings) -> tuple[Callable[..., DaySteps], Any]:
    from sim.rural_day import RuralModels, rural_models, rural_weather_model, simulate_rural_day_steps

    built: dict[int, RuralModels] = {}  # one set of persistent models per run (its error history is the run's)

    def day(sc_: Any, run: RunSpec, settings_: SimSettings, d: int, state: CarryState, weather: Any) -> DaySteps:
        if run.seed not in built:
            built.clear()
            built[run.seed] = rural_models(sc_, run.seed, settings_)
        return simulate_rural_day_steps(sc_, run, settings_, d, state, weather, built[run.seed])

    return day, rural_weather_model(sc, settings)


#: scenario kind -> f(scenario, settings) -> (stepped day function, weather model); see :func:`simulate_day_steps`.
_DAY_FUNCTIONS: dict[str, Callable[[Any, SimSettings], tuple[Callable[..., DaySteps], Any]]] = {
    "ieee33": _ieee33_day,
    "three_campus": _campus_day,
    "rural_ies": _rural_day,
}

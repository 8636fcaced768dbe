"""Load and validate scenario folders (``scenario.toml`` + ``profiles/*.csv``).

Every error is a :class:`~scenarios.schema.ScenarioError` naming the file, the field (dotted path,
e.g. ``parks[2].ess.capacity_kwh``) and the allowed range, so a user can fix it without reading
code.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agents.behaviours import CAMPUS, RURAL_CAMPUS
from agents.campus import CampusParams
from agents.decision.uncertainty import METHODS
from agents.devices.biogas import BiogasGeneratorParams, BiogasStorageParams
from agents.devices.core import DA_HORIZON
from agents.devices.demand import ShiftableLoadParams, TransferableLoadParams
from agents.devices.grid import DayAheadTradeParams, GridParams, IntradayTradeParams, LineParams
from agents.devices.heat import ElectricBoilerParams, HeatPumpParams
from agents.devices.renewables import RenewableParams
from agents.devices.storage import BatteryParams, HeatStorageParams, check_battery_params
from agents.devices.thermal import CHPParams
from scenarios.behaviours import read_behaviours
from scenarios.edits import Edit, load_edited
from scenarios.schema import (
    BargainingSpec,
    ObjectiveSpec,
    PenaltySpec,
    RuralIESScenario,
    RuralUncertaintySpec,
    ScenarioError,
    ThreeCampusScenario,
    UncertaintySpec,
)

SCENARIO_DIR = Path(__file__).resolve().parent
#: Agent types a three_campus ``[behaviours]`` key may name (the records' ``agent_type``) and their kind.
THREE_CAMPUS_BEHAVIOUR_TYPES = {"CampusAgent": CAMPUS}
#: The same for the rural campus.
RURAL_BEHAVIOUR_TYPES = {"RuralCampusAgent": RURAL_CAMPUS}
_MISSING = object()

_SIZE_WHY = "above any device, load or connection of a campus or a distribution feeder"
_COST_WHY = ("above any tariff, penalty or cost rate; larger coefficients leave the solver's 1e-7 tolerances "
             "meaningless beside the others")
#: Plausibility limits by unit (issue 14): the largest value a scenario may give a quantity of this unit when its
#: field has no tighter bound of its own, and why.  Sizes stop at 10 GW of power (1e7 kW, 1e4 MW, 1e4 MVA per
#: device, load or connection; a distribution feeder carries tens of MW, the low-carbon campus of paper 003 some
#: hundreds), the energy of 10 h at that power, 1e7 m3 of gas and 1e6 t; costs and prices at 1e6 currency per
#: unit; an EV station at 1000 vehicles (a depot beyond that, and the per-vehicle MILP grows with it); sample
#: counts at 1e5 days.
MAGNITUDE_LIMITS: dict[str, tuple[float, str]] = {
    **dict.fromkeys(("kW", "kW_th", "kW/h"), (1e7, "10 GW, " + _SIZE_WHY)),
    **dict.fromkeys(("kWh", "kWh_th"), (1e8, "100 GWh, " + _SIZE_WHY)),
    **dict.fromkeys(("MW", "MW/h", "MVA", "t/h"), (1e4, "10 GW, " + _SIZE_WHY)),
    "MWh": (1e5, "100 GWh, " + _SIZE_WHY),
    **dict.fromkeys(("m3", "m3/h"), (1e7, _SIZE_WHY)),
    "t": (1e6, _SIZE_WHY),
    **dict.fromkeys(("per kWh", "per m3", "USD/kWh", "USD/kW", "USD per p.u. per hour", "万元/MWh", "万元/t",
                     "万元/m3", "万元", "currency/kWh"), (1e6, _COST_WHY)),
    "vehicles": (1000.0, "a station of more vehicles is a depot, and the per-vehicle MILP grows with it"),
    "days": (1e5, "the sample and history sizes the methods are built for"),
}


def magnitude_limit(unit: str) -> tuple[float, str] | None:
    """The plausibility limit of ``unit`` (:data:`MAGNITUDE_LIMITS`; a unit text such as
    ``"kW (and >= p_min_kw)"`` is looked up by its leading unit), or None when the unit has none."""
    key = unit if unit in MAGNITUDE_LIMITS else unit.split(" (")[0].strip()
    return MAGNITUDE_LIMITS.get(key)


def scenario_path(name_or_path: str | Path) -> Path:
    """Resolve a bundled scenario name (``three_campus``) or a folder / ``.toml`` path."""
    p = Path(name_or_path)
    if p.suffix == ".toml":
        return p
    if p.is_dir():
        return p / "scenario.toml"
    bundled = SCENARIO_DIR / str(name_or_path) / "scenario.toml"
    if bundled.exists():
        return bundled
    known = sorted(d.name for d in SCENARIO_DIR.iterdir() if (d / "scenario.toml").exists())
    raise ScenarioError(f"scenario {str(name_or_path)!r} not found: not a folder or .toml file, "
                        f"and not a bundled scenario ({', '.join(known)})")


def read_toml(file: Path) -> dict[str, Any]:
    """The parsed ``scenario.toml``; ScenarioError naming the file if it is missing or not valid TOML."""
    if not file.exists():
        raise ScenarioError(f"{file}: scenario file not found")
    try:
        return tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{file}: not valid TOML ({exc})") from exc


class _Reader:
    """Typed access to one TOML table with error messages that name file and field."""

    def __init__(self, file: Path, table: dict[str, Any], where: str = "") -> None:
        self.file = file
        self.table = table
        self.where = where

    def _field(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def err(self, key: str, msg: str) -> ScenarioError:
        return ScenarioError(f"{self.file}: field '{self._field(key)}' {msg}")

    def sub(self, key: str, required: bool = True) -> _Reader | None:
        if key not in self.table:
            if required:
                raise self.err(key, "is missing (a table is required)")
            return None
        val = self.table[key]
        if not isinstance(val, dict):
            raise self.err(key, f"must be a table, got {type(val).__name__}")
        return _Reader(self.file, val, self._field(key))

    def text(self, key: str, default: Any = _MISSING, choices: tuple[str, ...] | None = None) -> str:
        if key not in self.table:
            if default is _MISSING:
                raise self.err(key, "is missing")
            return str(default)
        val = self.table[key]
        if not isinstance(val, str):
            raise self.err(key, f"must be a string, got {val!r}")
        if choices is not None and val not in choices:
            raise self.err(key, f"= {val!r}: must be one of {', '.join(choices)}")
        return val

    def num(
        self,
        key: str,
        default: Any = _MISSING,
        lo: float | None = None,
        hi: float | None = None,
        lo_open: bool = False,
        hi_open: bool = False,
        integer: bool = False,
        unit: str = "",
    ) -> float:
        if key not in self.table:
            if default is _MISSING:
                rng = _range_text(lo, hi, lo_open, hi_open)
                raise self.err(key, f"is missing (a number{' ' + rng if rng else ''}{' ' + unit if unit else ''})")
            return float(default) if not integer else int(default)
        val = self.table[key]
        if isinstance(val, bool) or not isinstance(val, (int, float)):
            raise self.err(key, f"must be a number, got {val!r}")
        if integer and not float(val).is_integer():
            raise self.err(key, f"= {val}: must be a whole number")
        x = float(val)
        rng = _range_text(lo, hi, lo_open, hi_open)
        if not math.isfinite(x):
            raise self.err(key, f"= {val}: must be finite{' (' + rng + ')' if rng else ''}{' ' + unit if unit else ''}")
        bad = ((lo is not None and (x <= lo if lo_open else x < lo))
               or (hi is not None and (x >= hi if hi_open else x > hi)))
        if bad:
            raise self.err(key, f"= {val}: must be {rng}{' ' + unit if unit else ''}")
        limit = magnitude_limit(unit) if hi is None else None
        if limit is not None and abs(x) > limit[0]:
            raise self.err(key, f"= {val}: must be <= {limit[0]:g} {unit.split(' (')[0]} in magnitude ({limit[1]})")
        return int(x) if integer else x


def _only(r: _Reader, allowed: Iterable[str]) -> None:
    """Reject keys the loader does not read (a misspelt or unused key would otherwise change nothing)."""
    known = tuple(allowed)
    for key in r.table:
        if key not in known:
            raise r.err(key, f"is not a known field here; known fields are {', '.join(known)}")


def _range_text(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {lo:g}"
    if hi is not None:
        return f"{'<' if hi_open else '<='} {hi:g}"
    return ""


def _read_profiles(file: Path, n: int, required: list[str], index_col: str = "hour", unit: str = "") -> pd.DataFrame:
    """The CSV ``file`` with column ``index_col`` = 1..n in order and the ``required`` columns finite numbers >= 0
    (and at most the :func:`magnitude_limit` of ``unit``, the unit of every required column, when it has one).

    Each problem is one ScenarioError naming the file, the column and the row (1-based data row); pandas'
    own parse errors are flattened to one line."""
    if not file.is_file():
        raise ScenarioError(f"{file}: profile file not found")
    try:
        df = pd.read_csv(file)
    except Exception as exc:  # pandas' own parse errors (empty file, ragged rows, ...)
        detail = " ".join(str(exc).split())
        raise ScenarioError(f"{file}: cannot be read as CSV with the columns '{index_col}', "
                            f"{', '.join(repr(c) for c in required)} ({detail})") from exc
    missing = [c for c in [index_col, *required] if c not in df.columns]
    if missing:
        raise ScenarioError(f"{file}: column(s) {', '.join(repr(c) for c in missing)} missing; "
                            f"columns are {list(df.columns)}")
    if len(df) != n:
        raise ScenarioError(f"{file}: has {len(df)} rows, expected {n} (column '{index_col}' = 1..{n})")
    if list(df[index_col]) != list(range(1, n + 1)):
        raise ScenarioError(f"{file}: column '{index_col}' must be 1..{n} in order")
    for c in required:
        col = pd.to_numeric(df[c], errors="coerce")
        if col.isna().any():
            row = int(np.flatnonzero(col.isna().to_numpy())[0]) + 1
            raise ScenarioError(f"{file}: column '{c}' row {row} is not a number (got {df[c].iloc[row - 1]!r}; "
                                "a finite number >= 0 is required)")
        if not np.isfinite(col.to_numpy(dtype=float)).all():
            row = int(np.flatnonzero(~np.isfinite(col.to_numpy(dtype=float)))[0]) + 1
            raise ScenarioError(f"{file}: column '{c}' row {row} = {col.iloc[row - 1]}: must be finite (and >= 0)")
        if (col < 0).any():
            row = int(np.flatnonzero((col < 0).to_numpy())[0]) + 1
            raise ScenarioError(f"{file}: column '{c}' row {row} = {col.iloc[row - 1]}: must be >= 0")
        limit = magnitude_limit(unit)
        if limit is not None and (col > limit[0]).any():
            row = int(np.flatnonzero((col > limit[0]).to_numpy())[0]) + 1
            raise ScenarioError(f"{file}: column '{c}' row {row} = {col.iloc[row - 1]}: must be <= {limit[0]:g} {unit} "
                                f"({limit[1]})")
        df[c] = col.astype(float)
    return df


def load_three_campus(path: str | Path, edits: Sequence[Edit] = ()) -> ThreeCampusScenario:
    """Load a three-campus scenario (SPEC §4) from a folder, a ``.toml`` file or a bundled name.

    ``edits`` (``(path, value)`` pairs, :mod:`scenarios.edits`) change the parsed file before it is validated."""
    file = scenario_path(path)
    return load_edited(file, read_toml(file), edits, lambda raw: _three_campus(file, raw))


def _three_campus(file: Path, raw: dict[str, Any]) -> ThreeCampusScenario:
    r = _Reader(file, raw)
    kind = r.text("kind", choices=("three_campus",))
    del kind
    name = r.text("name")
    seed = int(r.num("seed", lo=0, integer=True))

    u = r.sub("uncertainty")
    assert u is not None
    _only(u, ("epsilon", "beta", "n_scenarios", "ar1_phi", "sigma_fraction", "method", "lam", "alpha_1", "alpha_inf",
              "history_days"))
    unc = UncertaintySpec(
        epsilon=u.num("epsilon", lo=0, hi=1, hi_open=True),
        beta=u.num("beta", lo=0, hi=1, hi_open=True),
        n_scenarios=int(u.num("n_scenarios", lo=1, hi=1000, integer=True)),
        ar1_phi=u.num("ar1_phi", default=0.7, lo=0, hi=1, hi_open=True),
        sigma_fraction=u.num("sigma_fraction", default=0.5, lo=0, lo_open=True, hi=10),
        method=u.text("method", default="cvar", choices=METHODS),
        lam=u.num("lam", default=0.2, lo=0, hi=1),
        alpha_1=u.num("alpha_1", default=0.95, lo=0, hi=1, lo_open=True, hi_open=True),
        alpha_inf=u.num("alpha_inf", default=0.99, lo=0, hi=1, lo_open=True, hi_open=True),
        history_days=int(u.num("history_days", default=200, lo=1, hi=1_000_000, integer=True, unit="days")),
    )
    pen_r = r.sub("penalties")
    assert pen_r is not None
    _only(pen_r, PenaltySpec().as_dict())
    pen = PenaltySpec(**{k: pen_r.num(k, lo=0, unit="per kWh") for k in PenaltySpec().as_dict()})
    obj_r = r.sub("objective", required=False)
    if obj_r:
        _only(obj_r, ("da_cost_weight", "expected_cost_weight", "p2p_flow_cost_per_kwh"))
    obj = ObjectiveSpec(
        da_cost_weight=obj_r.num("da_cost_weight", default=0.0, lo=0) if obj_r else 0.0,
        expected_cost_weight=obj_r.num("expected_cost_weight", default=1e-3, lo=0) if obj_r else 1e-3,
        p2p_flow_cost_per_kwh=obj_r.num("p2p_flow_cost_per_kwh", default=1e-4, lo=0) if obj_r else 1e-4,
    )

    parks_raw = raw.get("parks")
    if not isinstance(parks_raw, list) or not parks_raw:
        raise ScenarioError(f"{file}: field 'parks' is missing (an array of [[parks]] tables is required)")
    costs = r.sub("costs")
    assert costs is not None
    _only(costs, ("chp", "ess", "dr"))
    c_chp = costs.num("chp", lo=0, unit="per kWh")
    c_ess = costs.num("ess", lo=0, unit="per kWh")
    c_dr = costs.num("dr", lo=0, unit="per kWh")

    prof = r.sub("profiles")
    assert prof is not None
    _only(prof, ("forecast", "tariff"))
    base = file.parent
    parks: list[CampusParams] = []
    forecast_cols: list[str] = []
    for i, pr in enumerate(parks_raw):
        if not isinstance(pr, dict):
            raise ScenarioError(f"{file}: field 'parks[{i}]' must be a table")
        p = _Reader(file, pr, f"parks[{i}]")
        pname = p.text("name")
        pkind = p.text("kind", choices=("pv", "wind", "chp"))
        _only(p, ("name", "kind", "ess", "dr", "grid", pkind))  # a pv park reads its `pv` table only
        e = p.sub("ess")
        assert e is not None
        _only(e, ("capacity_kwh", "p_charge_max_kw", "p_discharge_max_kw", "soc_min_frac", "soc_max_frac",
                  "soc_initial_frac", "eta_charge", "eta_discharge", "self_discharge_per_h"))
        ess = BatteryParams(
            capacity_kwh=e.num("capacity_kwh", lo=0, unit="kWh"),
            p_charge_max_kw=e.num("p_charge_max_kw", lo=0, unit="kW"),
            p_discharge_max_kw=e.num("p_discharge_max_kw", lo=0, unit="kW"),
            soc_min_frac=e.num("soc_min_frac", lo=0, hi=1),
            soc_max_frac=e.num("soc_max_frac", lo=0, hi=1),
            soc_initial_frac=e.num("soc_initial_frac", lo=0, hi=1),
            eta_charge=e.num("eta_charge", lo=0, lo_open=True, hi=1),
            eta_discharge=e.num("eta_discharge", lo=0, lo_open=True, hi=1),
            self_discharge_per_h=e.num("self_discharge_per_h", default=0.0, lo=0, hi=1),
            cost_per_kwh=c_ess,
        )
        if not ess.soc_min_frac <= ess.soc_initial_frac <= ess.soc_max_frac:
            raise e.err("soc_initial_frac", f"= {ess.soc_initial_frac}: must lie in [soc_min_frac, soc_max_frac] "
                        f"= [{ess.soc_min_frac}, {ess.soc_max_frac}]")
        d = p.sub("dr")
        assert d is not None
        _only(d, ("gamma",))
        dr = ShiftableLoadParams(gamma=d.num("gamma", lo=0, hi=1), cost_per_kwh=c_dr)
        g = p.sub("grid")
        assert g is not None
        _only(g, ("p_max_kw",))
        grid = GridParams(p_max_kw=g.num("p_max_kw", lo=0, unit="kW"))
        pv = wind = None
        chp = None
        forecast_cols.append(f"{pname}.load_kw")
        if pkind == "pv":
            s = p.sub("pv")
            assert s is not None
            _only(s, ("capacity_kw",))
            pv = RenewableParams("pv", s.num("capacity_kw", lo=0, unit="kW"))
            forecast_cols.append(f"{pname}.pv_kw")
        elif pkind == "wind":
            s = p.sub("wind")
            assert s is not None
            _only(s, ("capacity_kw",))
            wind = RenewableParams("wind", s.num("capacity_kw", lo=0, unit="kW"))
            forecast_cols.append(f"{pname}.wind_kw")
        else:
            s = p.sub("chp")
            assert s is not None
            _only(s, ("p_min_kw", "p_max_kw", "ramp_up_kw_per_h", "ramp_down_kw_per_h", "p_initial_kw"))
            pmin = s.num("p_min_kw", lo=0, unit="kW")
            pmax = s.num("p_max_kw", lo=0, unit="kW")
            if pmax < pmin:
                raise s.err("p_max_kw", f"= {pmax}: must be >= p_min_kw = {pmin} kW")
            p0 = s.num("p_initial_kw", lo=pmin, hi=pmax, unit="kW")
            chp = CHPParams(
                p_min_kw=pmin,
                p_max_kw=pmax,
                ramp_up_kw_per_h=s.num("ramp_up_kw_per_h", lo=0, unit="kW/h"),
                ramp_down_kw_per_h=s.num("ramp_down_kw_per_h", lo=0, unit="kW/h"),
                p_initial_kw=p0,
                cost_per_kwh=c_chp,
            )
        parks.append(CampusParams(name=pname, kind=pkind,  # type: ignore[arg-type]
                                  load_peak_kw=0.0, ess=ess, dr=dr, grid=grid, pv=pv, wind=wind, chp=chp))
    names = [p.name for p in parks]
    if len(set(names)) != len(names):
        raise ScenarioError(f"{file}: field 'parks[].name' must be unique, got {names}")

    lines: list[LineParams] = []
    lines_raw = raw.get("lines", [])
    if not isinstance(lines_raw, list):
        raise ScenarioError(f"{file}: field 'lines' must be an array of [[lines]] tables")
    for i, lr in enumerate(lines_raw):
        if not isinstance(lr, dict):
            raise ScenarioError(f"{file}: field 'lines[{i}]' must be a table")
        ln = _Reader(file, lr, f"lines[{i}]")
        _only(ln, ("name", "a", "b", "cap_forward_kw", "cap_reverse_kw", "efficiency"))
        a = ln.text("a", choices=tuple(names))
        b = ln.text("b", choices=tuple(names))
        if a == b:
            raise ln.err("b", f"= {b!r}: a line must join two different parks")
        lines.append(LineParams(
            name=ln.text("name", default=f"{a}-{b}"), a=a, b=b,
            cap_forward_kw=ln.num("cap_forward_kw", lo=0, unit="kW"),
            cap_reverse_kw=ln.num("cap_reverse_kw", lo=0, unit="kW"),
            efficiency=ln.num("efficiency", default=1.0, lo=0, lo_open=True, hi=1),
        ))

    tariff_file = base / prof.text("tariff")
    tariff = _rural_profiles(prof, "tariff", ["buy_price", "sell_price"], 24, unit="per kWh")
    if (tariff["sell_price"] > tariff["buy_price"]).any():
        h = int(np.flatnonzero((tariff["sell_price"] > tariff["buy_price"]).to_numpy())[0]) + 1
        raise ScenarioError(f"{tariff_file}: column 'sell_price' hour {h} exceeds 'buy_price': "
                            "a sale price above the purchase price makes arbitrage unbounded by the grid limit only")
    fc = _rural_profiles(prof, "forecast", forecast_cols, 24, unit="kW")
    forecast: dict[str, dict[str, np.ndarray]] = {n: {} for n in names}
    for col in forecast_cols:
        park, qty = col.split(".", 1)
        forecast[park][qty] = fc[col].to_numpy(dtype=float)
    parks = [
        CampusParams(**{**p.__dict__, "load_peak_kw": float(forecast[p.name]["load_kw"].max())}) for p in parks
    ]
    mk = r.sub("market", required=False)
    if mk is not None:
        _only(mk, ("kappa", "verify_standalone", "audit"))
    market = BargainingSpec(kappa=mk.num("kappa", default=0.5, lo=0, hi=1, hi_open=True) if mk else 0.5,
                              verify_standalone=_flag(mk, "verify_standalone"), audit=_flag(mk, "audit"))
    behaviours = read_behaviours(file, raw.get("behaviours"), dict.fromkeys(names, CAMPUS),
                                 THREE_CAMPUS_BEHAVIOUR_TYPES)
    _only(r, ("kind", "name", "description", "seed", "currency", "uncertainty", "objective", "costs", "penalties",
              "profiles", "parks", "lines", "market", "behaviours"))  # last: a misspelt required table is missing
    return ThreeCampusScenario(
        name=name,
        description=r.text("description", default=""),
        seed=seed,
        parks=tuple(parks),
        lines=tuple(lines),
        uncertainty=unc,
        penalties=pen,
        objective=obj,
        buy_price=tariff["buy_price"].to_numpy(dtype=float),
        sell_price=tariff["sell_price"].to_numpy(dtype=float),
        forecast=forecast,
        currency=r.text("currency", default="CNY"),
        source=file,
        market=market,
        behaviours=behaviours,
    )


def _flag(r: _Reader | None, key: str, default: bool = False) -> bool:
    """A true/false field of table ``r`` (``None``: the table is absent)."""
    if r is None or key not in r.table:
        return default
    val = r.table[key]
    if not isinstance(val, bool):
        raise r.err(key, f"must be true or false, got {val!r}")
    return val


# ============================================================================ rural IES (paper 002)

def _device[P](r: _Reader, cls: Callable[..., P], **kwargs: Any) -> P:
    """``cls(**kwargs)``; a ``ValueError`` of the device's own checks becomes a ScenarioError naming the field.

    The device messages read ``Cls.field must be ...`` (:mod:`agents.devices`), so the field is
    taken from there and prefixed with the table ``r`` stands for.
    """
    try:
        return cls(**kwargs)
    except ValueError as exc:
        msg = str(exc)
        m = re.match(r"\w+\.(\w+) (.*?)(, got [^,]*)?$", msg)
        if m and m.group(1) in kwargs:
            raise r.err(m.group(1), f"= {kwargs[m.group(1)]!r}: {m.group(2)}") from exc
        raise ScenarioError(f"{r.file}: table '{r.where}': {msg}") from exc


def _rural_profiles(r: _Reader, key: str, columns: list[str], n: int, unit: str = "") -> pd.DataFrame:
    """A profile CSV named by ``profiles.<key>`` (rural and three-campus); its errors also name the TOML field."""
    file = r.file.parent / r.text(key)
    try:
        return _read_profiles(file, n, columns, unit=unit)
    except ScenarioError as exc:
        raise ScenarioError(f"{r.file}: field '{r._field(key)}' = {r.text(key)!r}: {exc}") from exc


def _check_biogas_chain(
    file: Path, gen: BiogasGeneratorParams, store: BiogasStorageParams, production: np.ndarray, dt: float
) -> None:
    """The gas chain (BG-1 + BGS-1) has no slack and no flare and depends on no uncertain input, so it is
    checked here once: the holder's reachable volumes ``R_t`` (an interval, propagated exactly
    forward from ``S^G_0`` with ``G_t`` in ``[P^g,min, P^g,max] / (eta_p H)``) must never be empty and
    must contain ``S^G_0`` at the end."""
    k = gen.eta_power * gen.lhv_kwh_per_m3
    g_lo, g_hi = gen.p_min_kw / k, gen.p_max_kw / k
    lo = hi = store.s_initial_m3
    for t, prod in enumerate(production, start=1):
        lo = max(store.s_min_m3, lo + (prod - g_hi) * dt)
        hi = min(store.capacity_m3, hi + (prod - g_lo) * dt)
        if lo > hi + 1e-9:
            raise ScenarioError(
                f"{file}: fields 'biogas_generator' and 'biogas_storage' cannot follow the biogas production "
                f"(column 'biogas_production_m3_per_h' of profiles.forecast) in hour {t}: the generator burns "
                f"{g_lo:.4g}..{g_hi:.4g} m3/h and the holder holds {store.s_min_m3:g}..{store.capacity_m3:g} m3 "
                "(there is no flare and no gas purchase)")
    if not lo - 1e-9 <= store.s_initial_m3 <= hi + 1e-9:
        raise ScenarioError(
            f"{file}: field 'biogas_storage.s_initial_m3' = {store.s_initial_m3:g}: the holder must end the day at "
            f"its start volume, but only {lo:.6g}..{hi:.6g} m3 is reachable with a biogas production of "
            f"{production.sum() * dt:.6g} m3/day and a generator burning {g_lo:.4g}..{g_hi:.4g} m3/h")


#: The tables of a rural IES scenario and the keys each may hold (any other key is an error).
_RURAL_TABLES: dict[str, tuple[str, ...]] = {
    "profiles": ("forecast", "prices"),
    "pv": ("capacity_kw", "curtailment_cost_per_kwh"),
    "biogas_generator": ("p_min_kw", "p_max_kw", "lhv_kwh_per_m3", "eta_power", "eta_heat", "gas_cost_per_m3"),
    "biogas_storage": ("capacity_m3", "s_initial_m3", "s_min_m3"),
    "electric_boiler": ("p_max_kw", "efficiency"),
    "heat_pump": ("p_max_kw", "cop"),
    "power_storage": ("capacity_kwh", "p_charge_max_kw", "p_discharge_max_kw", "soc_min_frac", "soc_max_frac",
                      "soc_initial_frac", "eta_charge", "eta_discharge", "self_discharge_per_h", "cost_per_kwh"),
    "heat_storage": ("capacity_kwh", "h_charge_max_kw", "h_discharge_max_kw", "loss_per_h", "soc_min_frac",
                     "soc_max_frac", "soc_initial_frac", "eta_charge", "eta_discharge"),
    "transferable_load": ("window_start_h", "window_end_h", "load_kw", "cost_up_per_kwh", "cost_down_per_kwh"),
    "da_trading": ("p_min_kw", "p_max_kw"),
    "intraday_trading": ("p_buy_max_kw", "p_sell_max_kw"),
    "recourse": ("voll_factor",),
    "uncertainty": ("method", "M", "K", "alpha_inf", "alpha_1", "lam", "error_bound", "ar1_phi", "sigma", "epsilon",
                    "cvar_beta"),
}


def load_rural_ies(path: str | Path, edits: Sequence[Edit] = ()) -> RuralIESScenario:
    """Load the rural biogas-power-heat IES of paper 002 (SPEC §3.8, §6.4) from a folder, a ``.toml``
    file or a bundled name (``rural_ies``).

    ``edits`` (``(path, value)`` pairs, :mod:`scenarios.edits`) change the parsed file before it is validated."""
    file = scenario_path(path)
    return load_edited(file, read_toml(file), edits, lambda raw: _rural_ies(file, raw))


def _rural_ies(file: Path, raw: dict[str, Any]) -> RuralIESScenario:
    r = _Reader(file, raw)
    r.text("kind", choices=("rural_ies",))
    name = r.text("name")
    seed = int(r.num("seed", lo=0, integer=True))
    horizon = DA_HORIZON

    def table(key: str) -> _Reader:
        t = r.sub(key)
        assert t is not None
        _only(t, _RURAL_TABLES[key])
        return t

    t = table("pv")
    pv = RenewableParams("pv", t.num("capacity_kw", lo=0, unit="kW"),
                         t.num("curtailment_cost_per_kwh", default=0.0, lo=0, unit="per kWh"))
    t = table("biogas_generator")
    pmin = t.num("p_min_kw", lo=0, unit="kW")
    gen = _device(t, BiogasGeneratorParams,
                  p_min_kw=pmin, p_max_kw=t.num("p_max_kw", lo=pmin, unit="kW (and >= p_min_kw)"),
                  lhv_kwh_per_m3=t.num("lhv_kwh_per_m3", lo=0, lo_open=True, unit="kWh/m3"),
                  eta_power=t.num("eta_power", lo=0, lo_open=True, hi=1),
                  eta_heat=t.num("eta_heat", lo=0, hi=1, hi_open=True),
                  gas_cost_per_m3=t.num("gas_cost_per_m3", default=0.0, lo=0, unit="per m3"))
    t = table("biogas_storage")
    store = _device(t, BiogasStorageParams,
                    capacity_m3=t.num("capacity_m3", lo=0, lo_open=True, unit="m3"),
                    s_initial_m3=t.num("s_initial_m3", lo=0, unit="m3"),
                    s_min_m3=t.num("s_min_m3", default=0.0, lo=0, unit="m3"))
    t = table("electric_boiler")
    eb = _device(t, ElectricBoilerParams, p_max_kw=t.num("p_max_kw", lo=0, unit="kW"),
                 efficiency=t.num("efficiency", lo=0, lo_open=True, hi=1))
    t = table("heat_pump")
    hp = _device(t, HeatPumpParams, p_max_kw=t.num("p_max_kw", lo=0, unit="kW"),
                 cop=t.num("cop", lo=0, lo_open=True, hi=10))
    t = table("power_storage")
    ess = _device(t, BatteryParams,
                  capacity_kwh=t.num("capacity_kwh", lo=0, lo_open=True, unit="kWh"),
                  p_charge_max_kw=t.num("p_charge_max_kw", lo=0, unit="kW"),
                  p_discharge_max_kw=t.num("p_discharge_max_kw", lo=0, unit="kW"),
                  soc_min_frac=t.num("soc_min_frac", lo=0, hi=1, hi_open=True),
                  soc_max_frac=t.num("soc_max_frac", lo=0, lo_open=True, hi=1),
                  soc_initial_frac=t.num("soc_initial_frac", lo=0, hi=1),
                  eta_charge=t.num("eta_charge", lo=0, lo_open=True, hi=1),
                  eta_discharge=t.num("eta_discharge", lo=0, lo_open=True, hi=1),
                  self_discharge_per_h=t.num("self_discharge_per_h", default=0.0, lo=0, hi=1, hi_open=True),
                  cost_per_kwh=t.num("cost_per_kwh", default=0.0, lo=0, unit="per kWh"))
    try:  # BatteryParams has no checks of its own
        check_battery_params(ess)
    except ValueError as exc:
        m = re.match(r"\w+\.(\w+) (.*?)(, got [^,]*)?$", str(exc))
        raise (t.err(m.group(1), f"= {getattr(ess, m.group(1))!r}: {m.group(2)}") if m
               else ScenarioError(f"{file}: table 'power_storage': {exc}")) from exc
    t = table("heat_storage")
    hs = _device(t, HeatStorageParams,
                 capacity_kwh=t.num("capacity_kwh", lo=0, lo_open=True, unit="kWh_th"),
                 h_charge_max_kw=t.num("h_charge_max_kw", lo=0, unit="kW_th"),
                 h_discharge_max_kw=t.num("h_discharge_max_kw", lo=0, unit="kW_th"),
                 loss_per_h=t.num("loss_per_h", lo=0, hi=1, hi_open=True, unit="per h"),
                 soc_min_frac=t.num("soc_min_frac", default=0.0, lo=0, hi=1, hi_open=True),
                 soc_max_frac=t.num("soc_max_frac", default=1.0, lo=0, lo_open=True, hi=1),
                 soc_initial_frac=t.num("soc_initial_frac", default=0.5, lo=0, hi=1),
                 eta_charge=t.num("eta_charge", default=1.0, lo=0, lo_open=True, hi=1),
                 eta_discharge=t.num("eta_discharge", default=1.0, lo=0, lo_open=True, hi=1))
    t = table("transferable_load")
    start = t.num("window_start_h", lo=0, hi=horizon.n * horizon.dt_h, hi_open=True, unit="h")
    tl = _device(t, TransferableLoadParams,
                 window_start_h=start,
                 window_end_h=t.num("window_end_h", lo=start, lo_open=True, hi=horizon.n * horizon.dt_h,
                                    unit="h (and > window_start_h)"),
                 load_kw=t.num("load_kw", lo=0, unit="kW"),
                 cost_up_per_kwh=t.num("cost_up_per_kwh", default=0.0, lo=0, unit="per kWh"),
                 cost_down_per_kwh=t.num("cost_down_per_kwh", default=0.0, lo=0, unit="per kWh"))
    try:
        tl.window_periods(horizon)
    except ValueError as exc:
        raise t.err("window_end_h", f"= {tl.window_end_h}: {exc}") from exc
    t = table("da_trading")
    pmin_tr = t.num("p_min_kw", unit="kW")
    da = _device(t, DayAheadTradeParams, p_min_kw=pmin_tr,
                 p_max_kw=t.num("p_max_kw", lo=pmin_tr, unit="kW (and >= p_min_kw)"))
    t = table("intraday_trading")
    intraday = _device(t, IntradayTradeParams, p_buy_max_kw=t.num("p_buy_max_kw", lo=0, unit="kW"),
                       p_sell_max_kw=t.num("p_sell_max_kw", lo=0, unit="kW"))
    t = table("recourse")
    voll_factor = t.num("voll_factor", default=10.0, lo=1)

    u = table("uncertainty")
    M = int(u.num("M", lo=1, hi=1_000_000, integer=True))
    unc = RuralUncertaintySpec(
        method=u.text("method", choices=METHODS),
        M=M,
        K=int(u.num("K", lo=1, hi=M, integer=True, unit="(at most M)")),
        alpha_inf=u.num("alpha_inf", lo=0, hi=1, lo_open=True, hi_open=True),
        alpha_1=u.num("alpha_1", lo=0, hi=1, lo_open=True, hi_open=True),
        lam=u.num("lam", lo=0, hi=1),
        error_bound=u.num("error_bound", lo=0, hi=1, lo_open=True, hi_open=True),
        ar1_phi=u.num("ar1_phi", default=0.7, lo=0, hi=1, hi_open=True),
        sigma=u.num("sigma", default=0.1, lo=0, lo_open=True, hi=1),
        epsilon=u.num("epsilon", default=1e-4, lo=0, hi=1),
        cvar_beta=u.num("cvar_beta", default=0.8, lo=0, hi=1, hi_open=True),
    )

    prof = table("profiles")
    fc = _rural_profiles(prof, "forecast", ["power_load_kw", "heat_load_kw", "pv_kw", "biogas_production_m3_per_h"],
                         horizon.n, unit="kW")  # and m3/h for the biogas column: the kW limit (1e7) is the tighter
    pr = _rural_profiles(prof, "prices", ["da_price", "buy_price", "sell_price"], horizon.n, unit="per kWh")
    price_file = file.parent / prof.text("prices")
    bad = np.flatnonzero((pr["sell_price"] > pr["buy_price"]).to_numpy())
    if bad.size:
        h = int(bad[0]) + 1
        raise ScenarioError(f"{price_file}: column 'sell_price' hour {h} exceeds 'buy_price': the LP, which has no "
                            "buy/sell binary, would buy to sell")
    pv_fc = fc["pv_kw"].to_numpy(dtype=float)
    forecast_file = file.parent / prof.text("forecast")
    over = np.flatnonzero(pv_fc > pv.capacity_kw + 1e-9)
    if over.size:
        h = int(over[0]) + 1
        raise ScenarioError(f"{forecast_file}: column 'pv_kw' hour {h} = {pv_fc[h - 1]:g}: must be <= "
                            f"pv.capacity_kw = {pv.capacity_kw:g} kW")
    production = fc["biogas_production_m3_per_h"].to_numpy(dtype=float)
    _check_biogas_chain(file, gen, store, production, horizon.dt_h)
    behaviours = read_behaviours(file, raw.get("behaviours"), {name: RURAL_CAMPUS}, RURAL_BEHAVIOUR_TYPES)
    _only(r, ("kind", "name", "description", "seed", "currency", "behaviours", *_RURAL_TABLES))  # last: a
    # misspelt table is reported missing first
    return RuralIESScenario(
        name=name,
        description=r.text("description", default=""),
        seed=seed,
        pv=pv,
        biogas_generator=gen,
        biogas_storage=store,
        electric_boiler=eb,
        heat_pump=hp,
        power_storage=ess,
        heat_storage=hs,
        transferable_load=tl,
        da_trading=da,
        intraday_trading=intraday,
        uncertainty=unc,
        voll_factor=voll_factor,
        power_load_kw=fc["power_load_kw"].to_numpy(dtype=float),
        heat_load_kw=fc["heat_load_kw"].to_numpy(dtype=float),
        pv_forecast_kw=pv_fc,
        biogas_production_m3_per_h=production,
        da_price=pr["da_price"].to_numpy(dtype=float),
        buy_price=pr["buy_price"].to_numpy(dtype=float),
        sell_price=pr["sell_price"].to_numpy(dtype=float),
        horizon=horizon,
        currency=r.text("currency", default="CNY"),
        source=file,
        behaviours=behaviours,
    )

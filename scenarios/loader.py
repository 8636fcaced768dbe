"""Load and validate scenario folders (``scenario.toml`` + ``profiles/*.csv``).

Every error is a :class:`~scenarios.schema.ScenarioError` naming the file, the field (dotted path,
e.g. ``parks[2].ess.capacity_kwh``) and the allowed range, so a user can fix it without reading
code.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agents.campus import CampusParams
from agents.devices import (
    BatteryParams,
    CHPParams,
    GridParams,
    LineParams,
    RenewableParams,
    ShiftableLoadParams,
)
from scenarios.schema import (
    ObjectiveSpec,
    PenaltySpec,
    ScenarioError,
    ThreeCampusScenario,
    UncertaintySpec,
)

SCENARIO_DIR = Path(__file__).resolve().parent
_MISSING = object()


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
        bad = (
            not math.isfinite(x)
            or (lo is not None and (x <= lo if lo_open else x < lo))
            or (hi is not None and (x >= hi if hi_open else x > hi))
        )
        if bad:
            raise self.err(key, f"= {val}: must be {_range_text(lo, hi, lo_open, hi_open)}{' ' + unit if unit else ''}")
        return int(x) if integer else x


def _range_text(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {lo:g}"
    if hi is not None:
        return f"{'<' if hi_open else '<='} {hi:g}"
    return ""


def _read_profiles(file: Path, n: int, required: list[str], index_col: str = "hour") -> pd.DataFrame:
    if not file.exists():
        raise ScenarioError(f"{file}: profile file not found")
    try:
        df = pd.read_csv(file)
    except Exception as exc:  # pragma: no cover - pandas' own parse errors
        raise ScenarioError(f"{file}: cannot be read as CSV ({exc})") from exc
    missing = [c for c in [index_col, *required] if c not in df.columns]
    if missing:
        raise ScenarioError(f"{file}: column(s) {', '.join(missing)} missing; columns are {list(df.columns)}")
    if len(df) != n:
        raise ScenarioError(f"{file}: has {len(df)} rows, expected {n} ({index_col} 1..{n})")
    if list(df[index_col]) != list(range(1, n + 1)):
        raise ScenarioError(f"{file}: column '{index_col}' must be 1..{n} in order")
    for c in required:
        col = pd.to_numeric(df[c], errors="coerce")
        if col.isna().any():
            row = int(np.flatnonzero(col.isna().to_numpy())[0]) + 1
            raise ScenarioError(f"{file}: column '{c}' row {row} is not a number")
        if (col < 0).any():
            row = int(np.flatnonzero((col < 0).to_numpy())[0]) + 1
            raise ScenarioError(f"{file}: column '{c}' row {row} = {col.iloc[row - 1]}: must be >= 0")
        df[c] = col.astype(float)
    return df


def load_three_campus(path: str | Path) -> ThreeCampusScenario:
    """Load a three-campus scenario (SPEC §4) from a folder, a ``.toml`` file or a bundled name."""
    file = scenario_path(path)
    if not file.exists():
        raise ScenarioError(f"{file}: scenario file not found")
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{file}: not valid TOML ({exc})") from exc
    r = _Reader(file, raw)
    kind = r.text("kind", choices=("three_campus",))
    del kind
    name = r.text("name")
    seed = int(r.num("seed", lo=0, integer=True))

    u = r.sub("uncertainty")
    assert u is not None
    unc = UncertaintySpec(
        epsilon=u.num("epsilon", lo=0, hi=1, hi_open=True),
        beta=u.num("beta", lo=0, hi=1, hi_open=True),
        n_scenarios=int(u.num("n_scenarios", lo=1, hi=1000, integer=True)),
        ar1_phi=u.num("ar1_phi", default=0.7, lo=0, hi=1, hi_open=True),
        sigma_fraction=u.num("sigma_fraction", default=0.5, lo=0, lo_open=True, hi=10),
    )
    pen_r = r.sub("penalties")
    assert pen_r is not None
    pen = PenaltySpec(**{k: pen_r.num(k, lo=0, unit="per kWh") for k in PenaltySpec().as_dict()})
    obj_r = r.sub("objective", required=False)
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
    c_chp = costs.num("chp", lo=0, unit="per kWh")
    c_ess = costs.num("ess", lo=0, unit="per kWh")
    c_dr = costs.num("dr", lo=0, unit="per kWh")

    prof = r.sub("profiles")
    assert prof is not None
    base = file.parent
    parks: list[CampusParams] = []
    forecast_cols: list[str] = []
    for i, pr in enumerate(parks_raw):
        if not isinstance(pr, dict):
            raise ScenarioError(f"{file}: field 'parks[{i}]' must be a table")
        p = _Reader(file, pr, f"parks[{i}]")
        pname = p.text("name")
        pkind = p.text("kind", choices=("pv", "wind", "chp"))
        e = p.sub("ess")
        assert e is not None
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
        dr = ShiftableLoadParams(gamma=d.num("gamma", lo=0, hi=1), cost_per_kwh=c_dr)
        g = p.sub("grid")
        assert g is not None
        grid = GridParams(p_max_kw=g.num("p_max_kw", lo=0, unit="kW"))
        pv = wind = None
        chp = None
        forecast_cols.append(f"{pname}.load_kw")
        if pkind == "pv":
            s = p.sub("pv")
            assert s is not None
            pv = RenewableParams("pv", s.num("capacity_kw", lo=0, unit="kW"))
            forecast_cols.append(f"{pname}.pv_kw")
        elif pkind == "wind":
            s = p.sub("wind")
            assert s is not None
            wind = RenewableParams("wind", s.num("capacity_kw", lo=0, unit="kW"))
            forecast_cols.append(f"{pname}.wind_kw")
        else:
            s = p.sub("chp")
            assert s is not None
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
    tariff = _read_profiles(tariff_file, 24, ["buy_price", "sell_price"])
    if (tariff["sell_price"] > tariff["buy_price"]).any():
        h = int(np.flatnonzero((tariff["sell_price"] > tariff["buy_price"]).to_numpy())[0]) + 1
        raise ScenarioError(f"{tariff_file}: column 'sell_price' hour {h} exceeds 'buy_price': "
                            "a sale price above the purchase price makes arbitrage unbounded by the grid limit only")
    fc_file = base / prof.text("forecast")
    fc = _read_profiles(fc_file, 24, forecast_cols)
    forecast: dict[str, dict[str, np.ndarray]] = {n: {} for n in names}
    for col in forecast_cols:
        park, qty = col.split(".", 1)
        forecast[park][qty] = fc[col].to_numpy(dtype=float)
    parks = [
        CampusParams(**{**p.__dict__, "load_peak_kw": float(forecast[p.name]["load_kw"].max())}) for p in parks
    ]
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
    )

"""``sim.mode_names`` (the mode names for --help) equals the registry; --help imports no heavy module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sim.mode_names import MODE_NAMES, modes_help
from sim.systems import SYSTEMS
from studies.p004_ieee33 import SCHEMES as STUDY_SCHEMES

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("pandas", "pyomo", "pandapower", "matplotlib", "dask", "distributed", "mesa", "scipy", "sim.systems",
         "scenarios.schema", "agents")


def test_mode_names_equal_the_registry() -> None:
    from sim.systems.ieee33.modes import SCHEMES

    bundled = {kind: tuple(s.modes) for kind, s in SYSTEMS.items() if kind in MODE_NAMES}
    assert bundled == dict(MODE_NAMES)
    assert list(bundled) == list(MODE_NAMES)  # same order as the registry
    assert STUDY_SCHEMES == SCHEMES
    assert modes_help().startswith("ieee33: cooperative, centralized, noncooperative, oracle; three_campus: ")


def test_help_imports_no_heavy_module() -> None:
    code = ("import sys, contextlib, io\nimport run_sim\n"
            "for a in ([], ['simulate'], ['study', 'ieee33']):\n"
            "    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
            "        run_sim.build_parser().parse_args([*a, '--help'])\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} or m.startswith({HEAVY!r})))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout

"""``run_sim.py app``: serve the dashboard (:mod:`app.page`) with Solara's server.

It listens on 127.0.0.1 unless ``host`` says otherwise; any other address is allowed with a warning, since
whoever reaches the page can start solver runs on this machine.  The run browser reads only below ``runs``
(resolved; :mod:`app.runs` refuses anything outside).  The front-end assets come from the installed
``solara-assets`` package, so the page renders with no network.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def solara_command(host: str, port: int) -> list[str]:
    """The ``solara run`` command line of the dashboard (production mode: no auto-restart, no browser opened)."""
    return [sys.executable, "-m", "solara", "run", "app.page", "--host", host, "--port", str(port), "--production",
            "--no-open", "--no-check-version", "--log-level", "warning"]


def serve(host: str = "127.0.0.1", port: int = 8765, runs: Path | None = None) -> int:
    """Run the dashboard's server until interrupted; returns its exit status."""
    if not 0 <= port <= 65535:
        raise ValueError(f"--port {port}: a TCP port in 0..65535 (0: any free port)")
    root = (runs or Path.cwd()).resolve()
    if not root.is_dir():
        raise ValueError(f"--runs {runs}: not a folder (the run browser reads the finished runs below it)")
    if host not in LOOPBACK:
        log.warning("the dashboard listens on %s: anyone who can reach this address can start solver runs on this "
                    "machine and read the results below %s", host, root)
    env = dict(os.environ)
    env["COOPGRID_RUNS"] = str(root)
    # the page's front-end files through the server (/_solara/cdn), which serves them from the installed
    # solara-assets package: no request leaves this machine (False would send the browser to a CDN)
    env["SOLARA_ASSETS_PROXY"] = "True"
    env.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "False")
    env.setdefault("PYTHONPATH", str(Path(__file__).resolve().parents[1]))
    print(f"coopgrid dashboard on http://{host}:{port}/ (finished runs below {root} at /runs); Ctrl-C stops it",
          flush=True)
    try:
        return subprocess.call(solara_command(host, port), env=env)
    except KeyboardInterrupt:
        return 0

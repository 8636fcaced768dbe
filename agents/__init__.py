"""Agent types, device builders, decision methods and the solver wrapper (the ``agents`` layer of DESIGN v2).

Importing the package first trims an import-time cost of Pyomo (see :func:`trim_pyomo_import_callbacks`).
"""

from __future__ import annotations

import sys
from typing import Any


def trim_pyomo_import_callbacks() -> bool:
    """Stop Pyomo from importing scipy.stats/.integrate/.spatial and matplotlib.pyplot as side effects.

    ``pyomo.common.dependencies`` registers ``attempt_import('scipy', callback=_finalize_scipy)`` (and the same for
    matplotlib): the moment any module imports scipy (coopgrid needs ``scipy.sparse`` for every model), Pyomo's
    import hook also imports ``scipy.stats``, ``scipy.integrate`` and ``scipy.spatial`` (about 0.5 s of a 2 s
    start-up), and the first ``import matplotlib`` pulls in ``pyplot`` and ``pylab``.  Nothing coopgrid calls in
    Pyomo needs them pre-imported (scipy loads a submodule on first attribute access, and our modules import the
    submodules they use themselves), so the two callbacks are dropped — only while scipy / matplotlib are not
    imported yet (once they are, the callback has run) and only if Pyomo's table has the shape this was written
    for (Pyomo 6.x); otherwise nothing changes.  Returns whether anything was dropped.
    """
    try:
        import pyomo.common.dependencies as deps
    except ImportError:  # pragma: no cover - pyomo is a hard dependency
        return False
    indicator_type = getattr(deps, "DeferredImportIndicator", None)
    if not isinstance(indicator_type, type):
        return False
    dropped = False
    for module, indicator_name in (("scipy", "scipy_available"), ("matplotlib", "matplotlib_available")):
        indicator: Any = getattr(deps, indicator_name, None)
        if module not in sys.modules and isinstance(indicator, indicator_type) \
                and getattr(indicator, "_callback", None) is not None:
            setattr(indicator, "_callback", None)  # noqa: B010 - a private slot of Pyomo's indicator
            dropped = True
    return dropped


trim_pyomo_import_callbacks()

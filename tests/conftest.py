"""Shared test set-up: one HiGHS thread per pytest-xdist worker (``make test`` runs ``-n 2`` on two cores), and the
``compiles`` fixture that records every whole-model compile."""

from __future__ import annotations

import os
from typing import Any

import pytest

import agents.milp as milp
from agents.milp import THREADS_ENV

if os.environ.get("PYTEST_XDIST_WORKER") and not os.environ.get(THREADS_ENV):
    os.environ[THREADS_ENV] = "1"


def pytest_collection_modifyitems(items: list) -> None:  # type: ignore[type-arg]
    """Run the paper studies' files first: their module fixtures are the longest, and started last they
    would leave one xdist worker idle at the end (``make test`` runs ``-n 2 --dist loadfile``)."""
    items.sort(key=lambda item: 0 if item.nodeid.startswith("tests/studies/") else 1)


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the Pyomo models compiled whole (``agents.milp._compile``, the LinearStandardFormCompiler pass)
    from now on: a loop whose data reach HiGHS as deltas leaves it empty."""
    names: list[str] = []
    real = milp._compile

    def counting(model: Any) -> Any:
        names.append(str(model.name))
        return real(model)

    monkeypatch.setattr(milp, "_compile", counting)
    return names

"""Shared test set-up: one HiGHS thread per pytest-xdist worker (``make test`` runs ``-n 2`` on two cores)."""

from __future__ import annotations

import os

from agents.milp import THREADS_ENV

if os.environ.get("PYTEST_XDIST_WORKER") and not os.environ.get(THREADS_ENV):
    os.environ[THREADS_ENV] = "1"


def pytest_collection_modifyitems(items: list) -> None:  # type: ignore[type-arg]
    """Run the paper studies' files first: their module fixtures are the longest, and started last they
    would leave one xdist worker idle at the end (``make test`` runs ``-n 2 --dist loadfile``)."""
    items.sort(key=lambda item: 0 if item.nodeid.startswith("tests/studies/") else 1)

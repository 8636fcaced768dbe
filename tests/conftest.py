"""Shared test set-up: one HiGHS thread per pytest-xdist worker (``make test`` runs ``-n 2`` on two cores)."""

from __future__ import annotations

import os

from agents.milp import THREADS_ENV

if os.environ.get("PYTEST_XDIST_WORKER") and not os.environ.get(THREADS_ENV):
    os.environ[THREADS_ENV] = "1"

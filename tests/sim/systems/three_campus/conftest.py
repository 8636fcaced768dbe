"""Shared checks of the three-campus tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import scipy.sparse as sp

from agents.milp import CompiledModel, HighsModel, compile_model


def live_lp_differences(hm: HighsModel, compile_fn: Callable[..., CompiledModel] = compile_model) -> list[str]:
    """The parts in which the LP the live HiGHS instance of ``hm`` holds differs from a fresh compile of its Pyomo
    model (costs, offset, column and row bounds, the matrix entry for entry); empty when they are bit-identical."""
    new = compile_fn(hm.model)
    lp = hm._highs.getLp()
    out = []
    for name, mine, live in (("costs", new.c, lp.col_cost_), ("column lower bounds", new.col_lb, lp.col_lower_),
                             ("column upper bounds", new.col_ub, lp.col_upper_),
                             ("row lower bounds", new.row_lb, lp.row_lower_),
                             ("row upper bounds", new.row_ub, lp.row_upper_)):
        live = np.asarray(live, dtype=float)
        if mine.shape != live.shape or not np.array_equal(mine, live):
            out.append(name)
    if new.c_offset != lp.offset_:
        out.append("offset")
    a = lp.a_matrix_
    live_a = sp.csc_matrix((np.asarray(a.value_), np.asarray(a.index_), np.asarray(a.start_)),
                           shape=(lp.num_row_, lp.num_col_))
    if new.A.shape != live_a.shape or not (np.array_equal(new.A.indptr, live_a.indptr)
                                           and np.array_equal(new.A.indices, live_a.indices)
                                           and np.array_equal(new.A.data, live_a.data)):
        out.append("matrix")
    return out


@pytest.fixture
def lp_differences() -> Callable[..., list[str]]:
    return live_lp_differences

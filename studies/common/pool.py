"""The studies' task pool: tasks spread over worker processes, each process with a persistent state.

:func:`run_tasks` calls ``fn(state, task)`` for every task.  ``state`` is built once per process by ``setup()``
(a model to re-solve with new parameters, or just the study's settings) and kept for every task that process
runs, so it is built and shipped once per worker, not once per task.  The results come back in the order of
the tasks, whatever order the processes finish in, so a study's tables do not depend on the number of workers.

With ``workers <= 1`` everything runs in this process, in order.  Otherwise the processes are started with
``spawn``, not ``fork``: HiGHS keeps a thread pool, and forking a threaded process can deadlock.  ``fn`` and
``setup`` must therefore be picklable (module-level functions or classes, or :func:`functools.partial` of them).
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

_STATE: Any = None  # the state of this worker process (set by _init_worker)


def _init_worker(setup: Callable[[], Any]) -> None:
    """Process initialiser: warnings to stderr, Pyomo quiet (as in the main process), then the state."""
    global _STATE
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("pyomo").setLevel(logging.ERROR)
    _STATE = setup()


def _run_in_worker[A, R](fn: Callable[[Any, A], R], task: A) -> R:
    return fn(_STATE, task)


def run_tasks[S, A, R](fn: Callable[[S, A], R], tasks: Sequence[A], *, setup: Callable[[], S], workers: int = 1,
                       on_done: Callable[[A, R], None] | None = None) -> list[R]:
    """``[fn(state, task) for task in tasks]`` on ``workers`` processes, each with its own ``state = setup()``.

    ``on_done(task, result)`` runs in this process as each task finishes (in the order they finish; progress
    messages); the returned list is in the order of ``tasks``.  When a task raises, the tasks not started yet
    are cancelled and the error propagates.
    """
    if workers <= 1:
        state = setup()
        results: list[R] = []
        for task in tasks:
            r = fn(state, task)
            if on_done is not None:
                on_done(task, r)
            results.append(r)
        return results
    done: dict[int, R] = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_init_worker, initargs=(setup,)) as pool:
        futures = {pool.submit(_run_in_worker, fn, task): i for i, task in enumerate(tasks)}
        try:
            for fut in as_completed(futures):
                i = futures[fut]
                done[i] = fut.result()
                if on_done is not None:
                    on_done(tasks[i], done[i])
        except BaseException:
            for fut in futures:  # the tasks not started yet; the running ones finish before the pool closes
                fut.cancel()
            raise
    return [done[i] for i in range(len(tasks))]

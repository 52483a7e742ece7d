"""Run independent tasks serially or in worker processes, with results in task order.

Attack sweeps (the KKT attack's grid of decoys x epsilon splits, Koh et al. Algorithm 4)
are embarrassingly parallel.  :func:`map_tasks` runs ``fn`` on every task and returns the
results *in the order of the tasks*, whatever the number of workers, so a parallel run
gives exactly the serial run's answer as long as ``fn`` itself is deterministic (it
must not depend on which tasks ran before it in the same process).

Per-process state (a cvxpy program compiled once and re-solved, the data) is set up by
``initializer(*initargs)``, called once in every worker -- and once in this process
when running serially -- so it is not pickled with every task.

Workers are started with the ``spawn`` method by default: slower to start than ``fork``
(each imports the package afresh) but safe with the threads of BLAS and the solvers.
"""
from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor

from .errors import InputError

__all__ = ["map_tasks", "check_workers"]


def check_workers(workers) -> int:
    """A positive worker count; ``0`` or ``-1`` mean one per CPU core."""
    try:
        w = int(workers)
    except (TypeError, ValueError):
        raise InputError(f"workers: expected an integer, got {workers!r}") from None
    if w != workers:
        raise InputError(f"workers: expected an integer, got {workers!r}")
    if w in (0, -1):
        return max(1, os.cpu_count() or 1)
    if w < 1:
        raise InputError(f"workers: must be >= 1 (or 0 / -1 for one per core), got {workers!r}")
    return w


def map_tasks(fn, tasks, workers=1, initializer=None, initargs=(), context="spawn") -> list:
    """``[fn(t) for t in tasks]``, in worker processes when ``workers > 1``.

    Parameters
    ----------
    fn : a picklable (module-level) function of one task.
    tasks : iterable of picklable tasks.
    workers : number of processes; 1 runs everything here, serially.
    initializer, initargs : called as ``initializer(*initargs)`` once per process before
        its first task (in this process too when serial).
    context : multiprocessing start method for the workers ('spawn', 'forkserver', 'fork').

    Exceptions raised by ``fn`` propagate (the first one, in task order).
    """
    tasks = list(tasks)
    workers = check_workers(workers)
    if workers == 1 or len(tasks) <= 1:
        if initializer is not None:
            initializer(*initargs)
        return [fn(t) for t in tasks]
    import multiprocessing

    ctx = multiprocessing.get_context(context)
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=ctx,
                             initializer=initializer, initargs=tuple(initargs)) as pool:
        return list(pool.map(fn, tasks, chunksize=1))

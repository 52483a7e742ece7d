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

**A Dask cluster** (``scheduler=`` an address such as ``"tcp://10.0.0.5:8786"`` or a
``dask.distributed.Client``; the optional extra ``convexpoison[dask]``) runs the same
tasks on its workers.  The initializer's arguments are sent to the cluster once
(``Client.scatter``) and ``initializer`` runs lazily in each worker process, before the
first task of this call that lands there (:func:`_dask_call`); tasks within one worker
process are serialised by a lock, because the per-process state (a compiled cvxpy
program) is not thread-safe -- give the workers one thread each
(``dask worker ADDRESS --nthreads 1``) to use every core.

**Ctrl-C** during a sweep: the tasks not yet finished are cancelled and
:class:`Interrupted` (a ``KeyboardInterrupt``) is raised carrying the results of those
that did finish, so a caller can keep what was found.
"""
from __future__ import annotations

import os
import pickle
import threading
import uuid
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from .errors import InputError

__all__ = ["map_tasks", "Beside", "check_workers", "check_scheduler", "Interrupted"]

#: Seconds to wait for a Dask scheduler given by address before giving up.
CONNECT_TIMEOUT = 10


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`map_tasks`; ``results`` holds, in task order, the result of
    every task that finished and ``None`` for the others."""

    def __init__(self, results):
        super().__init__("interrupted")
        self.results = results

    @property
    def n_done(self) -> int:
        return sum(r is not None for r in self.results)


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


def map_tasks(fn, tasks, workers=1, initializer=None, initargs=(), context="spawn",
              scheduler=None, progress=None) -> list:
    """``[fn(t) for t in tasks]``, in worker processes or on a Dask cluster.

    Parameters
    ----------
    fn : a picklable (module-level) function of one task.
    tasks : iterable of picklable tasks.
    workers : number of local processes; 1 runs everything here, serially.  Ignored when
        ``scheduler`` is given (the cluster has its own workers).
    initializer, initargs : called as ``initializer(*initargs)`` once per process before
        its first task (in this process too when serial).
    context : multiprocessing start method for local workers ('spawn', 'forkserver', 'fork').
    scheduler : None (local), or a Dask scheduler address (``"tcp://host:8786"``) or a
        ``dask.distributed.Client`` to run the tasks on that cluster.
    progress : a bar of :func:`convexpoison.progress.bar` (anything with ``update(n)``),
        advanced by one as each task finishes.

    Exceptions raised by ``fn`` propagate (the first one, in task order).  Ctrl-C raises
    :class:`Interrupted` with the results of the tasks that finished.
    """
    tasks = list(tasks)
    if scheduler is not None:
        return _map_dask(fn, tasks, initializer, tuple(initargs), scheduler, progress)
    workers = check_workers(workers)
    if workers == 1 or len(tasks) <= 1:
        if initializer is not None:
            initializer(*initargs)
        out = []
        try:
            for t in tasks:
                out.append(fn(t))
                _advance(progress)
        except KeyboardInterrupt:
            raise Interrupted(out + [None] * (len(tasks) - len(out))) from None
        return out
    import multiprocessing

    ctx = multiprocessing.get_context(context)
    pool = ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=ctx,
                               initializer=_worker_init, initargs=(initializer, tuple(initargs)))
    futures = []
    try:
        for t in tasks:
            futures.append(pool.submit(fn, t))
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            _advance(progress, len(done))
        return [f.result() for f in futures]         # first exception in task order
    except KeyboardInterrupt:
        # a worker that got the Ctrl-C too reports a KeyboardInterrupt as its result
        raise Interrupted(_partial(futures, len(tasks))) from None
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


class Beside:
    """Jobs that run beside the caller's own work: in one second process (``workers >= 2``)
    or, with ``workers = 1``, here and only when their result is asked for.

    ``submit(fn, *args)`` returns a handle whose ``result()`` gives ``fn(*args)`` (or
    raises what it raised).  The caller submits a job, does its own independent work, then
    asks for the result: on two cores the two overlap.  The job's inputs are fixed when it
    is submitted, and arguments and results travel as pickles (numpy arrays bit for bit).

    **BLAS threads.**  The second process runs one BLAS thread, and so does this process
    while a job is out (between ``submit`` and ``result``): two processes of two threads
    each on two cores ran the reachable-target attack 40% slower than one of two
    (measured on mnist17).  Outside those stretches this process keeps its own setting,
    or with ``hold`` (and ``workers >= 2``) one thread for the whole context: the other
    core is the second process's (the reachable-target attack on adult: 376 s with
    numpy's two threads outside the stretches, 207 s held).
    With one BLAS thread everywhere (``OMP_NUM_THREADS=1``) the answer is the serial one
    bit for bit; with more, the stretches run with another rounding than a serial run.

    :meth:`start` launches the process ahead of the first job (it imports the package, a
    few seconds, while the caller works).  A context manager: its exit stops the process,
    cancels what has not started and restores the BLAS threads.

    **Ctrl-C** is this process's alone: the second process ignores SIGINT, so a job there
    is never cut short into a result that looks complete (a KKT attack returning its best
    candidate so far).  The caller decides -- :meth:`abandon` the second process and go on
    alone with what it found, or stop; leaving the context by an exception terminates the
    second process at once, whatever job it runs.  When this process ends without leaving
    the context (killed: SIGKILL, or a signal with no handler), the second process notices
    within a second and exits (:func:`_exit_with_parent`) instead of working on, orphaned.
    """

    def __init__(self, workers=1, context="spawn", hold=False):
        self.workers = check_workers(workers)
        self.context = context
        self.hold = bool(hold)
        self.pool = None
        self._out = 0               # jobs submitted and not yet collected
        self._limits = None         # this process's one-thread limit while jobs are out

    def __enter__(self):
        if self.hold and self.workers > 1:
            self._one_thread()
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is not None:
            self.abandon()              # (a Ctrl-C: do not wait for the job running there)
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None
        self._out = 0
        self._restore()

    def abandon(self):
        """Terminate the second process now, whatever it runs; from here on every job runs
        in this process (``workers`` 1), with this process's own BLAS threads.  Jobs
        submitted before are lost: do not ask for their results."""
        if self.pool is not None:
            # (ProcessPoolExecutor.terminate_workers from Python 3.14; its processes before)
            terminate = getattr(self.pool, "terminate_workers", None)
            if terminate is not None:
                terminate()
            else:
                for proc in list((self.pool._processes or {}).values()):
                    proc.terminate()
                self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None
        self.workers, self._out = 1, 0
        self._restore()

    def start(self):
        """Launch the second process now (``workers >= 2``); a no-op otherwise."""
        if self.workers > 1 and self.pool is None:
            import multiprocessing

            self.pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context(self.context),
                initializer=_one_blas_thread)
            self.pool.submit(_import_package)
        return self

    def submit(self, fn, *args):
        """``fn(*args)`` in the second process (``fn`` a module-level function, the
        arguments picklable), or deferred to ``result()`` with ``workers = 1``."""
        if self.workers == 1:
            return _Deferred(fn, args)
        self.start()
        self._one_thread()
        self._out += 1
        return _Job(self, self.pool.submit(fn, *args))

    def _one_thread(self):
        """This process held to one BLAS thread (until :meth:`_restore`)."""
        if self._limits is None:
            from threadpoolctl import threadpool_limits

            self._limits = threadpool_limits(limits=1)

    def _collected(self):
        self._out -= 1
        if self._out == 0 and not self.hold:
            self._restore()

    def _restore(self):
        """This process's own BLAS threads back (no job out)."""
        if self._limits is not None:
            self._limits.restore_original_limits()
            self._limits = None


class _Job:
    """A job of :class:`Beside` in the second process."""

    def __init__(self, beside, future):
        self.beside, self.future, self.done = beside, future, False

    def result(self):
        try:
            return self.future.result()
        finally:
            self._collect()

    def cancel(self) -> bool:
        """Withdraw the job if the second process has not started it: True when it never
        runs (then run it here), False when it runs or ran there (ask for its result)."""
        if self.future.cancel():
            self._collect()
            return True
        return False

    def _collect(self):
        if not self.done:
            self.done = True
            self.beside._collected()


class _Deferred:
    """A job of :class:`Beside` with one worker: run when its result is first asked for."""

    def __init__(self, fn, args):
        self.fn, self.args, self.done = fn, args, False

    def result(self):
        if not self.done:
            self.value, self.done = self.fn(*self.args), True
        return self.value

    def cancel(self) -> bool:
        """Withdrawn unless it ran (asked for before): then the caller runs it."""
        return not self.done


def _one_blas_thread():
    """The second process's initializer: one BLAS / OpenMP thread (see :class:`Beside`),
    for the libraries loaded so far and, through the environment, those loaded later; and
    SIGINT ignored (a Ctrl-C is the caller's to handle: :class:`Beside`)."""
    import importlib
    import signal

    from threadpoolctl import threadpool_limits

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_process()

    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    importlib.import_module("scipy.linalg")     # numpy's and scipy's BLAS, limited now
    threadpool_limits(limits=1)


def _worker_init(initializer, initargs):
    """A :func:`map_tasks` worker's initializer: what every worker process sets up
    (:func:`_worker_process`), then ``initializer(*initargs)``."""
    _worker_process()
    if initializer is not None:
        initializer(*initargs)


def _worker_process():
    """What a worker process (Beside's second, map_tasks') sets up first: it exits with its
    parent (:func:`_exit_with_parent`), and its progress bars (tqdm, drawn or not) share a
    lock among its own threads only.  tqdm's default lock is a multiprocessing one, a named
    semaphore; a worker terminated at a Ctrl-C leaves it to the resource tracker, which
    cleans it up with a warning on the command's standard error ("leaked semaphore
    objects") -- measured after every interrupted reachable-target run with two workers."""
    from tqdm import tqdm

    _exit_with_parent()
    tqdm.set_lock(threading.RLock())


def _exit_with_parent(poll=0.5):
    """In a worker process (Beside's second, map_tasks'): exit as soon as the process that
    started it is gone.  A job there runs on unless its caller stops it; a caller killed
    outright (SIGKILL, or SIGTERM outside the command line, which handles it) cannot, and
    the process, adopted by init, would work through the jobs queued for it and then wait
    for more -- measured: the second process of a reachable-target run stopped by SIGTERM
    (before the command line handled it) was still there, idle, 90 s later, until stopped
    by hand.  A daemon thread polls the parent's pid (no process-death signal is
    portable)."""
    import time

    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(poll)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _import_package():
    """The second process's first job: the imports, paid while the caller works (and
    the one-thread limit again, for what they loaded)."""
    import importlib

    from threadpoolctl import threadpool_limits

    importlib.import_module("convexpoison.attacks.reachable")
    threadpool_limits(limits=1)


def _partial(futures, n):
    """Results of the futures that completed normally, None for the rest (``n`` in all)."""
    return [_finished(f) for f in futures] + [None] * (n - len(futures))


def _advance(progress, n=1):
    if progress is not None and n:
        progress.update(n)


def _finished(future):
    """The result of a future that completed normally, else None."""
    if not future.done() or future.cancelled():
        return None
    try:
        return future.result()         # done: no wait (Dask's result(timeout=0) would time out)
    except BaseException:          # noqa: BLE001 - failed or interrupted task: nothing found
        return None


# ------------------------------------------------------------------------------- Dask
_DASK_LOCK = threading.Lock()
_DASK_TOKEN = [None]


def _dask_call(fn, initializer, initargs, token, task):
    """Run on a Dask worker: the initializer once per process and ``map_tasks`` call
    (``token``), then the task -- under a lock, as the per-process state is shared.

    ``initargs``, ``task`` and the result travel as plain pickles, as they do to and from
    local worker processes: Dask's own serialisation hands numpy arrays over as views of
    its message buffers, whose memory alignment differs, and BLAS/SIMD kernels round
    differently on differently aligned data (measured: solutions differing at 1e-13), so
    the cluster would not reproduce the serial run bit for bit.
    """
    with _DASK_LOCK:
        if initializer is not None and _DASK_TOKEN[0] != token:
            initializer(*pickle.loads(initargs))
            _DASK_TOKEN[0] = token
        return pickle.dumps(fn(pickle.loads(task)), protocol=pickle.HIGHEST_PROTOCOL)


def check_scheduler(scheduler):
    """Validate ``scheduler`` without connecting: None, a ``dask.distributed.Client``, or a
    well-formed scheduler address (returned stripped).  Raises InputError naming the
    problem (dask.distributed missing, malformed address)."""
    if scheduler is None:
        return None
    try:
        from dask.distributed import Client
    except ImportError:
        raise InputError('scheduler: running on a Dask cluster needs dask.distributed; '
                         'pip install "convexpoison[dask]"') from None
    if isinstance(scheduler, Client):
        return scheduler
    if not isinstance(scheduler, str) or not scheduler.strip():
        raise InputError(f"scheduler: expected a Dask scheduler address such as "
                         f"tcp://127.0.0.1:8786 or a dask.distributed.Client, got {scheduler!r}")
    address = scheduler.strip()
    try:
        # checked before any Client exists: a Client that fails on a malformed address
        # lingers and stalls the interpreter's exit
        from distributed.comm.addressing import parse_address, parse_host_port
        from distributed.comm.registry import get_backend

        scheme, loc = parse_address(address)
        get_backend(scheme)
        if scheme in ("tcp", "tls"):
            parse_host_port(loc)
    except (ValueError, TypeError) as exc:
        raise InputError(f"scheduler: {address!r} is not a Dask scheduler address such as "
                         f"tcp://127.0.0.1:8786 ({' '.join(str(exc).split())})") from None
    return address


def _client(scheduler):
    """(client, owned): a Client for an address (closed after use) or the one given."""
    scheduler = check_scheduler(scheduler)
    if not isinstance(scheduler, str):
        return scheduler, False
    from dask.distributed import Client

    try:
        return Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False), True
    except (OSError, ValueError, TypeError) as exc:       # TimeoutError is an OSError
        msg = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(f"scheduler: cannot connect to the Dask scheduler at {scheduler!r} "
                         f"({msg})") from None


def _map_dask(fn, tasks, initializer, initargs, scheduler, progress):
    client, owned = _client(scheduler)
    try:
        if not tasks:
            return []
        from dask.distributed import as_completed

        # the (large) initializer arguments travel once per worker, not once per task
        init = None
        if initializer is not None:
            init = client.scatter(pickle.dumps(initargs, protocol=pickle.HIGHEST_PROTOCOL),
                                  broadcast=True)
        token = uuid.uuid4().hex
        futures = []
        try:
            for t in tasks:
                futures.append(client.submit(_dask_call, fn, initializer, init, token,
                                             pickle.dumps(t, protocol=pickle.HIGHEST_PROTOCOL),
                                             pure=False))
            for _ in as_completed(futures, loop=client.loop):
                _advance(progress)
            return [pickle.loads(f.result()) for f in futures]   # first exception in task order
        except KeyboardInterrupt:
            results = [None if r is None else pickle.loads(r) for r in _partial(futures, len(tasks))]
            client.cancel(futures)
            raise Interrupted(results) from None
    finally:
        if owned:
            client.close()

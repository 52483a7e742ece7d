"""Sweeps on a Dask cluster (issue 9 part 4): a real KKT sweep (decoys x eps-splits on the
bundled breast-cancer data) run on a local two-process Dask cluster gives exactly the
serial run's candidates; results come back in task order whatever order the workers
finish in; the initializer runs in every worker; a bad scheduler address is one line of
InputError (from the library and from the command line)."""
import operator
import os
import time

import numpy as np
import pytest

from convexpoison.attacks.kkt import KKTAttack
from convexpoison.cli import main
from convexpoison.datasets import load_dataset
from convexpoison.errors import InputError
from convexpoison.parallel import Interrupted, check_scheduler, map_tasks

distributed = pytest.importorskip("dask.distributed")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as c:
        yield c


class Counter:
    """Stands in for a progress bar: counts the finished tasks it is told about."""

    def __init__(self):
        self.n = 0

    def update(self, k=1):
        self.n += k


def test_map_tasks_on_dask_keeps_task_order_and_runs_the_initializer(cluster):
    # defined here so that cloudpickle ships them by value to the workers
    def init(tag):
        os.environ["CONVEXPOISON_TEST_INIT"] = tag      # per-process state, as kkt._STATE

    def slow_square(t):
        time.sleep(0.05 * (7 - t))                      # later tasks finish first
        return t * t, os.environ.get("CONVEXPOISON_TEST_INIT"), os.getpid()

    bar = Counter()
    out = map_tasks(slow_square, range(8), initializer=init, initargs=("sweep-1",),
                    scheduler=cluster.scheduler_address, progress=bar)
    assert [o[0] for o in out] == [t * t for t in range(8)]
    assert all(o[1] == "sweep-1" for o in out)           # the initializer ran where they ran
    assert bar.n == 8
    # a second sweep with other initializer arguments re-initialises the workers
    with distributed.Client(cluster) as client:
        pids = set(client.run(os.getpid).values())
        assert {o[2] for o in out} <= pids and os.getpid() not in pids   # ran on the cluster
        out2 = map_tasks(slow_square, [3, 1], initializer=init, initargs=("sweep-2",),
                         scheduler=client)
        assert client.status == "running"                # a Client given is not closed
    assert out2[0][:2] == (9, "sweep-2") and out2[1][:2] == (1, "sweep-2")


def test_map_tasks_on_dask_raises_the_first_failure_in_task_order(cluster):
    def fail_on_odd(t):
        time.sleep(0.05 * (5 - t))                       # task 3 fails before task 1
        if t % 2:
            raise ValueError(f"task {t}")
        return t

    with pytest.raises(ValueError, match="task 1"):
        map_tasks(fail_on_odd, range(5), scheduler=cluster.scheduler_address)


def test_kkt_sweep_on_dask_equals_serial(cluster):
    data = load_dataset("breast-cancer")
    kw = dict(grid=2, repeats=(2,), quantiles=(0.1, 0.3), max_decoys=2,
              defenses="l2,slab,loss", progress_bar=False)
    a = KKTAttack(0.03, **kw).fit(data).result_
    b = KKTAttack(0.03, scheduler=cluster.scheduler_address, **kw).fit(data).result_
    assert len(a.candidates) == len(b.candidates) >= 6          # 2 decoys x (3 + 1) splits
    assert len({c.decoy for c in a.candidates}) == 2
    for ca, cb in zip(a.candidates, b.candidates):
        assert (ca.decoy, ca.n_pos, ca.n_neg, ca.status) == (cb.decoy, cb.n_pos, cb.n_neg, cb.status)
        for xa, xb in ((ca.x_plus, cb.x_plus), (ca.x_minus, cb.x_minus)):
            assert (xa is None) == (xb is None)
            if xa is not None:
                np.testing.assert_array_equal(xa, xb)
        assert ca.residual == cb.residual and ca.kkt_residual == cb.kkt_residual
        assert ca.per_defense == cb.per_defense and ca.eval_per_defense == cb.eval_per_defense
    da, db = a.to_dict(), b.to_dict()
    assert da["per_defense"] == db["per_defense"] and da["n_pos"] == db["n_pos"]
    assert not da["interrupted"] and not db["interrupted"]


def test_bad_scheduler_address_is_one_line_input_error(capsys):
    for bad in ("nonsense", "foo://host:8786", "tcp://127.0.0.1"):
        with pytest.raises(InputError) as exc:
            map_tasks(abs, [1, -2], scheduler=bad)
        msg = str(exc.value)
        assert msg.startswith("scheduler:") and bad in msg and "\n" not in msg
    with pytest.raises(InputError, match="scheduler: expected"):
        check_scheduler(8786)
    # the command line checks it before any work, and says so in one line (exit status 2)
    rc = main(["attack", "kkt", "--dataset", "breast-cancer", "--epsilon", "0.03",
               "--scheduler", "nonsense"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("convexpoison: error: --scheduler:")


def test_serial_sweep_interrupted_keeps_finished_results():
    """Ctrl-C (simulated by the task itself, as the user would press it mid-sweep) stops the
    sweep; the results of the tasks that finished come back with it."""
    def stop_at_three(t):
        if t == 3:
            raise KeyboardInterrupt
        return -t

    with pytest.raises(Interrupted) as exc:
        map_tasks(stop_at_three, range(6))
    assert exc.value.results == [0, -1, -2, None, None, None] and exc.value.n_done == 3
    assert isinstance(exc.value, KeyboardInterrupt)      # callers that do not catch it stop


class StopAfter(Counter):
    """A progress callback through which the user presses Ctrl-C after ``k`` tasks."""

    def __init__(self, k):
        super().__init__()
        self.k = k

    def update(self, k=1):
        super().update(k)
        if self.n >= self.k:
            raise KeyboardInterrupt


def _check_partial(exc, n_tasks, k):
    res = exc.results
    assert len(res) == n_tasks and exc.n_done >= k           # at least the k it was told of
    for t, r in enumerate(res):
        assert r is None or r == -t                          # each one in its own place


@pytest.mark.parametrize("where", ["dask", "processes"])
def test_interrupted_parallel_sweep_keeps_finished_results(cluster, where):
    if where == "dask":
        def neg(t):
            time.sleep(0.05)
            return -t
        kw = dict(scheduler=cluster.scheduler_address)
    else:
        neg, kw = operator.neg, dict(workers=2)
    with pytest.raises(Interrupted) as exc:
        map_tasks(neg, range(40), progress=StopAfter(3), **kw)
    _check_partial(exc.value, 40, 3)

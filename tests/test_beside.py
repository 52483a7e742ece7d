"""parallel.Beside: a job runs in a second process with one BLAS thread while this process
is held to one thread too, and gets its own back afterwards; with one worker the job runs
here when its result is asked for; errors reach the caller; a bad worker count is an
InputError before any process starts."""
import operator
import os
from pathlib import Path

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from convexpoison.errors import InputError
from convexpoison.parallel import Beside, check_workers


def _blas_threads():
    return max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")


def test_a_job_runs_in_a_second_process_with_one_blas_thread():
    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        with Beside(2) as beside:
            job = beside.submit(os.getpid)
            during = _blas_threads()
            pid = job.result()
            after = _blas_threads()
            theirs = beside.submit(threadpool_info).result()
        assert pid != os.getpid()
        assert during == 1 and after == before
        blas = [i for i in theirs if i["user_api"] == "blas"]
        assert blas and all(i["num_threads"] == 1 for i in blas)


def test_errors_reach_the_caller_and_the_threads_come_back():
    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        with Beside(2) as beside:
            with pytest.raises(InputError, match="workers"):
                beside.submit(check_workers, "x").result()
            assert _blas_threads() == before
            assert beside.submit(operator.add, 2, 3).result() == 5
            beside.submit(os.getpid)                # left out: the exit restores the threads
        assert _blas_threads() == before


def test_hold_keeps_one_thread_for_the_whole_context_with_a_second_process():
    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        with Beside(2, hold=True) as beside:
            held = _blas_threads()
            beside.submit(os.getpid).result()
            after_job = _blas_threads()
        assert held == after_job == 1 and _blas_threads() == before
        with Beside(1, hold=True):
            assert _blas_threads() == before       # no second process: nothing to hold


def test_one_worker_runs_the_job_here_when_its_result_is_asked_for():
    calls = []
    with Beside(1) as beside:
        job = beside.submit(calls.append, 5)
        assert calls == []
        job.result()
        job.result()
        assert calls == [5] and beside.pool is None


def test_bad_worker_count_is_an_input_error():
    with pytest.raises(InputError, match="workers"):
        Beside(-3)
    with pytest.raises(InputError, match="workers"):
        Beside(1.5)


def test_the_second_process_leaves_ctrl_c_to_this_one(ctrl_c):
    """A Ctrl-C reaches every process of the terminal's group; the second process ignores
    it, so a job there is never cut short into a result that looks complete (the caller
    decides: abandon it, or stop)."""
    import signal

    with Beside(2) as beside:
        assert beside.submit(signal.getsignal, signal.SIGINT).result() == signal.SIG_IGN
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler   # this one: untouched


def _second_process(beside):
    """The second process's pid, once it has started and run a job."""
    return beside.submit(os.getpid).result()


def _ended(pid, wait=30.0):
    """Whether process ``pid`` ended within ``wait`` seconds: gone, or a zombie not yet
    reaped (the executor's thread reaps it; Process.is_alive() cannot tell once another
    thread has)."""
    import time

    t0 = time.monotonic()
    while time.monotonic() - t0 < wait:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


def test_abandon_terminates_the_job_running_there_and_goes_on_here():
    import time

    with Beside(2, hold=True) as beside:
        pid = _second_process(beside)
        job = beside.submit(time.sleep, 120)
        beside.abandon()
        assert _ended(pid)                             # not left to finish its 120 s
        assert beside.workers == 1 and beside.pool is None
        assert beside.submit(os.getpid).result() == os.getpid()      # runs here now
        del job                                        # lost: never asked for


def test_leaving_by_an_exception_terminates_the_second_process():
    import time

    with pytest.raises(KeyboardInterrupt):
        with Beside(2) as beside:
            pid = _second_process(beside)
            beside.submit(time.sleep, 120)
            raise KeyboardInterrupt
    assert _ended(pid)


# a caller killed outright: what it runs in the second process, and in map_tasks' workers
_KILLED_CALLER = r"""
import os, signal, sys, time
from pathlib import Path
from convexpoison.parallel import Beside, map_tasks

out = Path(sys.argv[1])

def job(_):
    (out / f"worker-{os.getpid()}").touch()
    time.sleep(120)

if __name__ == "__main__":
    if sys.argv[2] == "beside":
        with Beside(2) as beside:
            beside.submit(job, 0)
            while not list(out.glob("worker-*")):
                time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGKILL)
    else:
        import threading
        threading.Thread(target=map_tasks, args=(job, [0, 1]), kwargs={"workers": 2},
                         daemon=True).start()
        while len(list(out.glob("worker-*"))) < 2:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("how", ["beside", "map_tasks"])
def test_a_caller_killed_outright_takes_its_workers_with_it(tmp_path, how):
    """SIGKILL to a caller whose second process (or map_tasks' workers) runs a long job:
    no worker is left running, orphaned, once its caller is gone (parallel._exit_with_parent;
    before it, the second process of a killed reachable-target run went on for minutes)."""
    import subprocess
    import sys

    script = tmp_path / "caller.py"
    script.write_text(_KILLED_CALLER)
    proc = subprocess.run([sys.executable, str(script), str(tmp_path), how], timeout=120,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert proc.returncode == -9
    pids = [int(p.name.split("-")[1]) for p in tmp_path.glob("worker-*")]
    assert len(pids) == (1 if how == "beside" else 2)
    assert all(_ended(pid, wait=10.0) for pid in pids)


def _tqdm_lock(_=None):
    """The lock a progress bar takes in this process (after one bar was made)."""
    from tqdm import tqdm

    tqdm(total=1, disable=True).close()
    return type(tqdm.get_lock()).__name__


def test_progress_bars_in_a_worker_take_no_multiprocessing_lock():
    """tqdm's default lock is a multiprocessing one (a named semaphore); a worker terminated
    at a Ctrl-C left it to the resource tracker, which warned "leaked semaphore objects"
    on the command's standard error.  In Beside's second process and map_tasks' workers
    a bar takes a lock of that process's threads only."""
    import threading

    from convexpoison.parallel import map_tasks

    mine = type(threading.RLock()).__name__
    with Beside(2) as beside:
        assert beside.submit(_tqdm_lock).result() == mine
    assert map_tasks(_tqdm_lock, [0, 1], workers=2) == [mine, mine]
    assert _tqdm_lock() != mine                 # this process: tqdm's own default

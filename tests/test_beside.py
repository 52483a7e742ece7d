"""parallel.Beside: a job runs in a second process with one BLAS thread while this process
is held to one thread too, and gets its own back afterwards; with one worker the job runs
here when its result is asked for; errors reach the caller; a bad worker count is an
InputError before any process starts."""
import operator
import os

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

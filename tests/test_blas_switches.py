"""BLAS thread counts set through OpenBLAS's own functions, as threadpoolctl would.

``thread_plan`` sets and restores BLAS's thread count around work it plans
(``blas_threads_held``); for OpenBLAS on its own threads it calls the C
functions threadpoolctl calls. These check that the counts seen by
threadpoolctl are the ones asked for, inside and outside a user's limit,
and that a library without those functions goes through threadpoolctl.
"""

from threadpoolctl import threadpool_info, threadpool_limits

from fastmlp._runtime import thread_plan


def _counts():
    return [
        info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"
    ]


def test_held_counts_are_what_threadpoolctl_sees():
    before = _counts()
    with thread_plan.blas_threads_held(1):
        assert _counts() == [1] * len(before)
        assert thread_plan.blas_parts() == 1
    assert _counts() == before
    with threadpool_limits(1, user_api="blas"):
        assert thread_plan.blas_parts() == 1
        with thread_plan.blas_threads_held(2):
            assert _counts() == [2] * len(before)
        assert _counts() == [1] * len(before)
    assert _counts() == before


def test_openblas_on_its_threads_is_switched_directly():
    for lib, get, _ in thread_plan._blas_switches():
        direct = lib.internal_api == "openblas" and lib.threading_layer == "pthreads"
        assert (get is not None) == direct
        if direct:
            assert get() == lib.num_threads


def test_libraries_without_switches_go_through_threadpoolctl(monkeypatch):
    switches = [(lib, None, None) for lib, _, _ in thread_plan._blas_switches()]
    monkeypatch.setattr(thread_plan, "_switches", switches)
    before = _counts()
    with thread_plan.blas_threads_held(1):
        assert _counts() == [1] * len(before)
    assert _counts() == before

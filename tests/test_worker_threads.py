"""Worker threads beside the caller's (``fastmlp._runtime.worker_threads``).

Split fits at once in several Python threads, in a forked child, under a BLAS
thread limit, and where the workers run: off the caller's CPU, within its mask.
"""

import multiprocessing
import os
import threading
import time

import numba
import numpy as np
import pytest
from numpy.testing import assert_allclose
from threadpoolctl import threadpool_info, threadpool_limits

import fastmlp
from fastmlp._engine import training
from fastmlp._kernels.sync import ARMED, MAILBOX_STRIDE, fire_armed
from fastmlp._runtime import worker_threads
from tests._split_helpers import assert_same_model, data, needs_threads


@needs_threads
def test_concurrent_threaded_fits_in_python_threads():
    """Two fits splitting their batches, at once in two Python threads."""
    X, y = data("classification")
    kwargs = {"hidden_layer_sizes": (64,), "batch_size": 64, "max_iter": 5}
    want = [
        fastmlp.MLPClassifier(**kwargs, random_state=seed, n_jobs=2).fit(X, y)
        for seed in (0, 1)
    ]
    got = [None, None]
    errors = []

    def fit(index):
        try:
            model = fastmlp.MLPClassifier(**kwargs, random_state=index, n_jobs=2)
            got[index] = model.fit(X, y)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=fit, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    for model, reference in zip(got, want, strict=True):
        assert_same_model(model, reference)


def _fit_in_child(queue):
    X, y = data("classification")
    model = fastmlp.MLPClassifier((64,), batch_size=64, max_iter=3, random_state=0)
    queue.put(model.fit(X, y).coefs_[0].sum())


@needs_threads
@pytest.mark.timeout(120)
def test_fit_in_a_forked_child_after_threaded_fit():
    """A forked child splits batches too: no thread pool is inherited.

    (numba's GNU OpenMP pool, which fastmlp's parallel loops once used, hangs
    in a forked child.)
    """
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork here")
    X, y = data("classification")
    parent = fastmlp.MLPClassifier((64,), batch_size=64, max_iter=3, random_state=0)
    parent.set_params(n_jobs=2).fit(X, y)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_fit_in_child, args=(queue,))
    child.start()
    child.join(timeout=90)
    assert child.exitcode == 0
    assert_allclose(queue.get(timeout=5), parent.coefs_[0].sum(), rtol=1e-10)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_blas_limit_holds_in_worker_threads(monkeypatch):
    """threadpoolctl 3.8 ignores limits set from a thread other than the first."""
    X, y = data("classification")
    seen = []
    original = training.Engine.__init__

    def record(self, *args, **kwargs):
        original(self, *args, **kwargs)
        info = threadpool_info()
        seen.append({lib["num_threads"] for lib in info if lib["user_api"] == "blas"})

    monkeypatch.setattr(training.Engine, "__init__", record)

    def fit():
        fastmlp.MLPClassifier((8,), batch_size=16, max_iter=2).fit(X, y)

    with threadpool_limits(2, user_api="blas"):
        fit()  # in this thread, which threadpoolctl then lets control BLAS
        worker = threading.Thread(target=fit)
        worker.start()
        worker.join()
        assert {lib["num_threads"] for lib in threadpool_info()} >= {2}
    assert seen == [{1}, {1}]


needs_affinity = pytest.mark.skipif(
    worker_threads._current_cpu is None, reason="no CPU affinity calls here"
)


@needs_threads
@needs_affinity
def test_workers_run_off_the_callers_cpu_within_its_mask(monkeypatch):
    # Linux may wake a worker on its waker's CPU, where the two parts would
    # take turns (fastmlp._runtime.worker_threads): each call keeps workers off it. The
    # caller's CPU is fixed here, since the scheduler may move the caller.
    seen = {}
    current_cpu = worker_threads._current_cpu

    def part(index):
        seen[index] = (current_cpu(), frozenset(os.sched_getaffinity(0)))
        return index

    caller_mask = frozenset(os.sched_getaffinity(0))
    for caller_cpu in sorted(caller_mask)[:2]:
        monkeypatch.setattr(worker_threads, "_current_cpu", lambda cpu=caller_cpu: cpu)
        assert worker_threads.in_threads(part, 2) == 0
        worker_cpu, worker_mask = seen[1]
        assert worker_mask == caller_mask - {caller_cpu}
        assert worker_cpu in worker_mask


@needs_threads
@needs_affinity
def test_a_caller_with_one_cpu_leaves_its_workers_alone():
    masks = []
    original = os.sched_getaffinity(0)
    worker = worker_threads._take_workers(1)[0]
    before = frozenset(os.sched_getaffinity(worker.thread_id))
    os.sched_setaffinity(0, {worker_threads._current_cpu()})
    try:
        worker_threads._keep_off_caller([worker])
        masks.append(frozenset(os.sched_getaffinity(worker.thread_id)))
    finally:
        os.sched_setaffinity(0, original)
        with worker_threads._idle_lock:
            worker_threads._idle.append(worker)
    assert masks == [before]


def _idle_mailboxes():
    with worker_threads._idle_lock:
        return [int(w.mailbox[0]) for w in worker_threads._idle]


def test_waking_new_workers_hands_them_a_second_empty_part(monkeypatch):
    """A new worker's next hand-over is slow while it settles into its first
    wait: waking it hands it two empty parts, and a known worker one."""
    calls = []
    in_threads = worker_threads.in_threads

    def counted(function, n_parts):
        calls.append(n_parts)
        return in_threads(function, n_parts)

    monkeypatch.setattr(worker_threads, "in_threads", counted)
    known, fresh = worker_threads._idle, []
    monkeypatch.setattr(worker_threads, "_idle", fresh)  # no worker yet
    try:
        worker_threads.wake_workers(2)
        assert calls == [2, 2]
        assert len(fresh) == 1
        worker_threads.wake_workers(2)
        assert calls == [2, 2, 2]
    finally:
        with worker_threads._idle_lock:
            known.extend(fresh)  # the new worker stays known, and idle


def test_workers_asked_to_sleep_sleep_and_take_the_next_job():
    worker_threads.in_threads(lambda part: None, 2)
    worker_threads.put_workers_to_sleep()
    # the worker stops waiting awake (at once, or it was already asleep)
    deadline = time.monotonic() + 10.0
    while any(m != worker_threads.BUSY for m in _idle_mailboxes()):
        assert time.monotonic() < deadline, _idle_mailboxes()
        time.sleep(1e-3)
    assert worker_threads.in_threads(lambda part: part + 7, 3) == 7


def test_sleep_requests_racing_hand_overs_lose_no_job():
    # every state a request can meet: running, waiting awake, handed, asleep
    stop = threading.Event()

    def ask():
        while not stop.is_set():
            worker_threads.put_workers_to_sleep()

    asker = threading.Thread(target=ask)
    asker.start()
    try:
        for k in range(300):
            seen = []
            worker_threads.in_threads(
                lambda part, k=k, seen=seen: seen.append((k, part)), 3
            )
            assert sorted(seen) == [(k, 0), (k, 1), (k, 2)]
    finally:
        stop.set()
        asker.join()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("fires", [True, False], ids=["fired_in_part", "fired_after"])
def test_armed_hand_overs_run_every_part(fires):
    """Part 0 fires its workers, or never does (``in_threads`` then does)."""
    gaps = [0.0, 0.0, 1e-4, 2e-3] * (2 if numba.config.DISABLE_JIT else 20)
    for call, gap in enumerate(gaps):
        time.sleep(gap)
        seen = []

        def part(p, fire, seen=seen):
            if fires:
                fire_armed(fire)
            seen.append(p)
            return p + 7

        assert worker_threads.in_threads(part, 3, armed=True) == 7
        assert sorted(seen) == [0, 1, 2], call
    assert set(_idle_mailboxes()) <= {worker_threads.BUSY, worker_threads.WAITING}


@pytest.mark.skipif(
    numba.config.DISABLE_JIT, reason="interpreted, workers never wait awake"
)
@pytest.mark.timeout(120)
def test_a_waiting_worker_is_armed_and_starts_only_once_fired():
    started = []
    armed_calls = []

    def part(p, fire):
        if p == 0:
            was_armed = fire.size > 0 and bool(np.all(fire[::MAILBOX_STRIDE] == ARMED))
            if was_armed:
                time.sleep(0.01)  # an armed worker does not start meanwhile
                armed_calls.append(not started)
            fire_armed(fire)
        else:
            started.append(p)

    for _ in range(50):  # back to back: the worker waits awake for the next
        started.clear()
        worker_threads.in_threads(part, 2, armed=True)
        assert started == [1]
    assert armed_calls and all(armed_calls)


@pytest.mark.timeout(120)
def test_a_part_0_that_fails_before_firing_leaves_no_worker_waiting():
    ran = []

    def part(p, fire):
        if p == 0:
            raise KeyError("part 0 failed before its kernel")
        ran.append(p)

    for _ in range(20):
        ran.clear()
        with pytest.raises(KeyError, match="part 0 failed"):
            worker_threads.in_threads(part, 3, armed=True)
        assert sorted(ran) == [1, 2]
    assert worker_threads.in_threads(lambda p, fire: p, 2, armed=True) == 0

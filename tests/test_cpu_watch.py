"""Other threads' load (``fastmlp._runtime.cpu_watch``) and what the chooser does.

A thread that keeps a CPU busy (as a BLAS library's threads do after its
calls) is seen, fastmlp's own threads are not, and a split call goes whole,
untimed, while one runs: the same model either way.
"""

import hashlib
import threading
import time
from contextlib import contextmanager

import pytest

import fastmlp
from fastmlp._runtime import cpu_watch, worker_threads
from fastmlp._runtime.cpu_watch import OthersWatch, thread_clock
from fastmlp._runtime.split_chooser import FasterPath
from tests._split_helpers import assert_same_model, data, needs_threads

needs_thread_clocks = pytest.mark.skipif(
    not cpu_watch.WATCHING, reason="threads' CPU clocks are read on Linux only"
)


def _burn(seconds=None, stop=None):
    """Keep a CPU busy without the GIL (hashlib lets it go for long inputs)."""
    data = b"x" * (1 << 20)
    end = time.perf_counter() + (seconds or 0.0)
    while (stop is None and time.perf_counter() < end) or (
        stop is not None and not stop.is_set()
    ):
        hashlib.sha256(data).digest()


@contextmanager
def busy_thread():
    """A thread of the process, not fastmlp's, that keeps a CPU busy meanwhile."""
    stop = threading.Event()
    thread = threading.Thread(target=_burn, kwargs={"stop": stop}, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@needs_thread_clocks
def test_the_clock_made_from_a_thread_id_is_that_threads():
    clock = thread_clock(threading.get_native_id())
    assert clock == time.pthread_getcpuclockid(threading.get_ident())


@needs_thread_clocks
def test_a_busy_thread_is_seen_and_its_end_too():
    with busy_thread():
        watch = OthersWatch()
        time.sleep(0.03)  # lets the GIL go: the busy thread runs meanwhile
        busy = watch.busy_cpus()
    assert busy > 0.5
    watch.busy_cpus()  # a window from the thread's end
    time.sleep(0.03)
    assert watch.busy_cpus() < 0.2  # an ended thread's clock is not read


@needs_thread_clocks
def test_this_thread_and_fastmlps_workers_are_not_counted():
    worker_threads.in_threads(lambda part: None, 2)  # a worker, listed below
    watch = OthersWatch()
    worker_threads.in_threads(lambda part: _burn(0.03), 2)
    assert watch.busy_cpus() < 0.2


@needs_thread_clocks
def test_readings_close_together_repeat_the_last():
    watch = OthersWatch(min_window=10.0)
    watch.busy = 0.75
    assert watch.busy_cpus() == 0.75  # within MIN_WINDOW_SECONDS of its start


@needs_thread_clocks
def test_a_long_window_tells_nothing(monkeypatch):
    # the load of long ago (another library at work during a pause) is not now
    monkeypatch.setattr(cpu_watch, "MAX_WINDOW_SECONDS", 0.02)
    with busy_thread():
        watch = OthersWatch()
        time.sleep(0.05)
        assert watch.busy_cpus() == 0.0
        time.sleep(0.01)
        # a window of its own since: the busy thread's share of 10 ms, which
        # other processes cut (0.44 in a CI run with two test suites on two
        # CPUs), never the 0 the stale window read
        assert watch.busy_cpus() > 0.1


def test_threads_may_share_a_watch():
    # as predictions of one net from several threads do
    watch = OthersWatch(min_window=0.0)
    errors = []

    def read():
        try:
            for _ in range(3000):
                assert watch.busy_cpus() >= 0.0
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=read) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors


def test_off_linux_every_reading_is_zero(monkeypatch):
    monkeypatch.setattr(cpu_watch, "WATCHING", False)
    with busy_thread():
        watch = OthersWatch()
        time.sleep(0.02)
        assert watch.busy_cpus() == 0.0


class _Load:
    """Stands in for a path's OthersWatch: CPUs busy as set."""

    busy = 0.0

    def busy_cpus(self):
        return self.busy


def _watched_path(**kwargs):
    path = FasterPath(True, choosing=True, parts=2, **kwargs)
    load = _Load()
    path._watch = load
    path._spare_cpus = 0.5  # two CPUs, two parts
    return path, load


def test_a_decided_split_goes_whole_untimed_while_others_load_a_cpu():
    path, load = _watched_path()
    for split, seconds in [(False, 2.0)] * 3 + [(True, 1.0)] * 2:
        assert path.split() is split
        path.record(split, seconds, 1)
    assert not path.deciding and path.split() is True
    load.busy = 1.0
    for _ in range(3):
        assert path.split() is False
        assert not path.timing
        path.record(False, 50.0, 1)  # not a slow split call: no tripwire
    load.busy = 0.1
    assert path.split() is True
    assert path.calls_by_way() == (2, 6)
    assert path._times == {True: [1.0, 1.0], False: [2.0, 2.0, 2.0]}


def test_split_trials_wait_while_others_load_a_cpu():
    path, load = _watched_path()
    for _ in range(3):
        assert path.split() is False
        path.record(False, 2.0, 1)
    load.busy = 0.9
    assert path.split() is False and path.deciding and not path.timing
    path.record(False, 9.0, 1)  # untimed
    assert path._times[False] == [2.0, 2.0, 2.0]
    load.busy = 0.0
    assert path.split() is True and path.timing


def test_a_path_without_parts_does_not_watch():
    path = FasterPath(True, choosing=True)
    assert path._watch is None
    assert FasterPath(True, choosing=False, parts=2)._watch is None
    watched = FasterPath(True, choosing=True, parts=2, watch_window=1e-3)
    assert watched._watch.min_window == 1e-3


@needs_thread_clocks
@needs_threads
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_fit_beside_a_busy_thread_runs_whole_and_gives_the_same_model():
    X, y = data("classification", n_samples=1000, n_features=64)
    kwargs = {"hidden_layer_sizes": (64,), "max_iter": 3, "random_state": 0}
    alone = fastmlp.MLPClassifier(n_jobs=1, **kwargs).fit(X, y)
    with busy_thread():
        crowded = fastmlp.MLPClassifier(**kwargs).fit(X, y)
    assert crowded._split_whole_calls[0] == 0
    assert_same_model(crowded, alone)

"""Whether threads other than fastmlp's keep this process's CPUs busy.

A BLAS library's threads spin on their CPUs for a while after each of its
calls: OpenBLAS's for ~0.1 s after a multithreaded NumPy product, a
scikit-learn fit or a PCA. A split call whose parts share a CPU with such a
thread ran 2-5x slower than the same call whole (``docs/design/threading.md``).
:class:`OthersWatch` reads, over the time since its last reading, how many
CPUs' worth of CPU time the process's other threads (not the reading one,
not fastmlp's workers) used. Linux only (each thread's CPU clock, read
precisely while it runs); elsewhere every reading is 0. Other processes are
not seen: the split chooser's timing covers them.
"""

import math
import os
import sys
import threading
import time

from .worker_threads import worker_ids

_TASKS = "/proc/self/task"
WATCHING = sys.platform.startswith("linux") and os.path.isdir(_TASKS)

# Readings closer together than this repeat the last one: a call asks more
# than once (fastmlp._engine.training), and a window of a few microseconds
# would be mostly the reading's own error.
MIN_WINDOW_SECONDS = 20e-6
# The same for predictions, whose split calls take ~50-500 us: a reading
# (~0.5 us a thread listed, ~3 us with NumPy's and SciPy's BLAS threads) at
# most once a millisecond.
PREDICTION_WINDOW_SECONDS = 1e-3
# A reading over a longer window says 0 and starts a new one: it would tell
# the load of long ago (another library's threads at work during the
# caller's pause, not spinning now); OpenBLAS's spin lasts ~0.1 s.
MAX_WINDOW_SECONDS = 0.05
# The process's threads are listed again after this long (a listing costs
# ~5 us, a reading ~0.4 us a thread): a thread started meanwhile is not seen.
LIST_SECONDS = 1.0


def thread_clock(thread_id):
    """Linux's CPU-time clock of the process's thread ``thread_id`` (native id).

    What ``pthread_getcpuclockid`` returns, made from the id as the kernel's
    ABI defines it (``~id << 3 | CPUCLOCK_PERTHREAD | CPUCLOCK_SCHED``), for
    threads that are not Python's.
    """
    return (~thread_id << 3) | 6


def _cpu_seconds(clock):
    try:
        return time.clock_gettime(clock)
    except OSError:  # the thread ended
        return math.nan


class OthersWatch:
    """CPUs that other threads of this process kept busy, window by window.

    Invariant: a reading covers the time since the previous reading in the
    same thread (the first, since the watch was made) and counts the
    threads listed at its start; a reading less than ``min_window`` seconds
    after it, or in another thread (which starts a new window there),
    repeats the last value; one more than ``MAX_WINDOW_SECONDS`` after it
    is 0 (unknown). Threads may share a watch: a window is one
    tuple, replaced whole.
    """

    def __init__(self, min_window=None):
        self.min_window = MIN_WINDOW_SECONDS if min_window is None else min_window
        self.busy = 0.0
        # (thread, listed at, clocks, window start, clocks' seconds then)
        self._window = (None, -math.inf, (), 0.0, ())
        if WATCHING:
            self._start(self._window)

    def _start(self, window):
        thread, listed_at, clocks = window[:3]
        now = time.perf_counter()
        if thread != threading.get_ident() or now - listed_at >= LIST_SECONDS:
            thread, listed_at, clocks = threading.get_ident(), now, _others()
        seconds = tuple(_cpu_seconds(clock) for clock in clocks)
        self._window = (thread, listed_at, clocks, now, seconds)

    def busy_cpus(self):
        """CPUs' worth of CPU time other threads used since the last reading."""
        if not WATCHING:
            return 0.0
        window = self._window
        thread, _, clocks, started, before = window
        wall = time.perf_counter() - started
        if thread != threading.get_ident():
            self._start(window)
        elif wall > MAX_WINDOW_SECONDS:
            self.busy = 0.0
            self._start(window)
        elif wall >= self.min_window:
            used = 0.0
            for clock, seconds in zip(clocks, before, strict=True):
                seconds = _cpu_seconds(clock) - seconds
                if seconds > 0.0:  # NaN for a thread that ended
                    used += seconds
            self.busy = used / wall
            self._start(window)
        return self.busy


def _others():
    """The CPU clocks of the process's threads but this one and the workers."""
    ours = worker_ids() | {threading.get_native_id()}
    try:
        ids = [int(name) for name in os.listdir(_TASKS)]
    except (OSError, ValueError):
        return ()
    return tuple(thread_clock(i) for i in ids if i not in ours)

"""Two fits in two Python threads against the same two fits one after the other.

Each fit gets one thread (BLAS limited to 1 through threadpoolctl, numba's
thread-local count set to 1 in every thread that fits, torch's intra-op pool
set to 1), so on a 2-core machine the concurrent run can at best halve the
wall time: speedup = sequential seconds / concurrent seconds, up to 2.0. It
shows how much of a fit runs without holding the GIL.
"""

from __future__ import annotations

import math
import sys
import threading
import time

from bench.timing import median, paired_speedups, timed


def _one_thread_each():
    """Limit numba's thread-local count to 1 in the calling thread."""
    numba = sys.modules.get("numba")
    if numba is not None:
        numba.set_num_threads(1)


def _fit_two_concurrently(fit_a, fit_b):
    barrier = threading.Barrier(2)
    errors = []

    def work(fit):
        try:
            _one_thread_each()
            barrier.wait()
            fit()
        except Exception as exc:  # reported below, after join
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f,)) for f in (fit_a, fit_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def measure_concurrency(contestant, task, params, X, y, reps, settle=0.0, target_s=0.0):
    """Time two fits sequentially and in two threads, alternating the two.

    Parameters
    ----------
    contestant : Contestant
    task : str
    params : dict
        sklearn hyperparameters (epochs forced).
    X, y : ndarray
        Training data, the same for both fits.
    reps : int
        Rounds of (sequential, concurrent).
    settle : float, default=0.0
        Idle seconds before each timed run.
    target_s : float, default=0.0
        Raise the epoch count (never lower it) so that one fit lasts about
        this long: a fit of a few milliseconds would mostly measure thread
        start-up. The speedup compares a contestant with itself, so each
        may get its own count; it is reported.

    Returns
    -------
    ConcurrencyTiming
        ``sequential_s`` and ``concurrent_s`` per round, their medians,
        ``speedup`` (median over rounds of sequential / concurrent) and
        ``epochs``.
    """
    from threadpoolctl import threadpool_limits

    from bench.results_model import ConcurrencyTiming

    torch = sys.modules.get("torch") if contestant.name == "torch" else None
    torch_threads = torch.get_num_threads() if torch is not None else None
    numba = sys.modules.get("numba")
    numba_threads = numba.get_num_threads() if numba is not None else None

    params = dict(params)

    def fit():
        return contestant.make(task, params).fit(X, y)

    def sequential():
        fit()
        fit()

    def concurrent():
        _fit_two_concurrently(fit, fit)

    with threadpool_limits(limits=1):
        if torch is not None:
            torch.set_num_threads(1)
        try:
            _one_thread_each()
            fit()  # warm-up, also compiles
            one_fit = timed(fit)[0]
            epochs = params["max_iter"]
            if target_s and one_fit > 0:
                wanted = math.ceil(epochs * target_s / one_fit)
                params["max_iter"] = int(min(max(epochs, wanted), 100 * epochs))
            concurrent()  # warm-up of the threaded path
            seq, conc = [], []
            for rep in range(reps):
                order = [("s", sequential), ("c", concurrent)]
                if rep % 2:
                    order.reverse()
                for kind, run in order:
                    if settle:
                        time.sleep(settle)
                    seconds = timed(run)[0]
                    (seq if kind == "s" else conc).append(seconds)
        finally:
            if torch is not None:
                torch.set_num_threads(torch_threads)
            if numba is not None:
                numba.set_num_threads(numba_threads)
    return ConcurrencyTiming(
        sequential_s=seq,
        concurrent_s=conc,
        median_sequential_s=median(seq),
        median_concurrent_s=median(conc),
        speedup=median(paired_speedups(seq, conc)),
        epochs=params["max_iter"],
    )

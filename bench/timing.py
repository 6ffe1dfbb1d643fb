"""Timing primitives: one timed call, alternated repetitions, paired ratios."""

from __future__ import annotations

import gc
import math
import statistics
import time
import warnings


def timed(fn):
    """Run ``fn()`` once and measure it with ``time.perf_counter``.

    Garbage from earlier calls is collected first, outside the timed region.
    Warnings (e.g. sklearn's ConvergenceWarning for forced epoch counts) are
    silenced.

    Parameters
    ----------
    fn : callable
        Called without arguments.

    Returns
    -------
    seconds : float
    result : object
        What ``fn`` returned.
    """
    gc.collect()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - start
    return seconds, result


def freeze_heap():
    """Collect garbage, then move every live object to the permanent generation.

    :func:`timed` collects before every call; after this its passes walk only
    what came later (everything imported, torch alone ~10^6 objects, would
    cost each pass a quarter of a second or more).
    """
    gc.collect()
    gc.freeze()


def alternate(calls, reps, settle=0.0, budget_s=None):
    """Time several callables in turn, ``reps`` rounds, rotating the order.

    Round ``r`` runs the callables starting from the ``r``-th one (A B C,
    B C A, ...), so no contestant always runs right after the same other one.
    Warm-up is the caller's job.

    Parameters
    ----------
    calls : dict of str to callable
        Name to zero-argument callable.
    reps : int
        Rounds.
    settle : float, default=0.0
        Seconds to sleep before each timed call (outside the timed region),
        so that the BLAS and OpenMP threads the previous call left
        spin-waiting (OpenBLAS spins ~0.1 s after a call) have gone to sleep
        and do not steal this call's cores.
    budget_s : float, optional
        A callable whose timed seconds add up to this stops after the round
        that crossed it (it always gets one round), so that one very slow
        contestant cannot eat the run's time budget. Its list is then
        shorter: rounds 0..k-1, still aligned with the others.

    Returns
    -------
    times : dict of str to list of float
        Seconds per round, in round order (index r of each list is round r).
    results : dict of str to object
        What each callable returned in the last round.
    """
    names = list(calls)
    times = {name: [] for name in names}
    results = {}
    for rep in range(reps):
        if budget_s is not None:
            names = [n for n in names if not times[n] or sum(times[n]) < budget_s]
            if not names:
                break
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            if settle:
                time.sleep(settle)
            seconds, results[name] = timed(calls[name])
            times[name].append(seconds)
    return times, results


def median(values):
    """Median of finite values, NaN when there is none.

    Parameters
    ----------
    values : iterable of float

    Returns
    -------
    float
    """
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.median(finite) if finite else float("nan")


def paired_speedups(baseline, other):
    """Per-round speedups ``baseline[r] / other[r]`` of two alternated series.

    Parameters
    ----------
    baseline, other : list of float
        Seconds from the same rounds of :func:`alternate`.

    Returns
    -------
    list of float
    """
    return [b / o for b, o in zip(baseline, other) if o > 0]

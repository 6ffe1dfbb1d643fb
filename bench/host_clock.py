"""How fast one CPU runs a fixed loop now: the host's clock, as the run sees it.

On the 2-vCPU VMs the host moves a vCPU's clock by half or more within a
minute (a loop of four dependent multiply-add chains took 0.73-1.14 ms, best
of five, over 25 samples two seconds apart on the Intel Xeon of 2026-12-02,
and a one-thread fit's epoch 1.9-4.9 ms with it). Ratios measured in the same
round stay comparable; figures from different cases or runs do not. The
report gives the probe before and after every case, so a reader can tell a
slower host from a slower fastmlp.
"""

from __future__ import annotations

import functools
import time

import numpy as np

STEPS = 2_000 * 512 // 4  # dependent steps per chain in one timing (~1 ms)


@functools.cache
def _kernel():
    from numba import njit

    @njit(cache=True, nogil=True)
    def chains(values, repeats):
        # four independent chains, each step waiting for the last: latency
        # bound, so the time per step follows the clock, not memory or BLAS
        s0 = s1 = s2 = s3 = 0.0
        for _ in range(repeats):
            for i in range(0, values.shape[0], 4):
                s0 = s0 * 0.999 + values[i]
                s1 = s1 * 0.999 + values[i + 1]
                s2 = s2 * 0.999 + values[i + 2]
                s3 = s3 * 0.999 + values[i + 3]
        return s0 + s1 + s2 + s3

    return chains


def step_ns(repeats=5):
    """Nanoseconds per step of the probe loop, best of ``repeats`` timings.

    Returns
    -------
    float or None
        None without numba's compiler (``NUMBA_DISABLE_JIT=1``).
    """
    import numba

    if numba.config.DISABLE_JIT:
        return None
    chains = _kernel()
    values = np.linspace(0.0, 1.0, 512)
    rounds = STEPS * 4 // values.shape[0]
    chains(values, 1)  # compile or load
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        chains(values, rounds)
        best = min(best, time.perf_counter() - started)
    return best / STEPS * 1e9


def spread(values):
    """``max / min - 1`` of the probes that were measured, or None."""
    measured = [v for v in values if v]
    if len(measured) < 2:
        return None
    return max(measured) / min(measured) - 1.0

"""How long a cache line takes to go from one CPU to another and back.

Batches split across two threads hand thousands of cache lines between the
cores every batch (``fastmlp._runtime.split_chooser`` explains why that decides whether
splitting pays). On the 2-core development VM it measured ~100 ns and ~400 ns
by turns within one session, and a 64-unit net trained 1.35x faster split at
the first and 1.6x slower at the second, so the report gives it next to the
cases.
"""

from __future__ import annotations

import functools
import os
import statistics
import threading
import time

ROUND_TRIPS = 20_000
# Idle before measuring: OpenBLAS's and OpenMP's worker threads spin for a
# while after their last product, and a spinning thread on either CPU would
# be measured with the handover (wide_f64 read 400-990 ns right after the
# contestants' two-thread products, ~100-130 ns around the small cases).
SETTLE_S = 0.3


@functools.cache
def _kernel():
    import numba

    from fastmlp._kernels.atomics import atomic_add, atomic_load

    @numba.njit(nogil=True, cache=False)
    def ping_pong(flag, me, n):
        # thread ``me`` waits for the counter to reach its turn, then passes it
        for i in range(n):
            turn = 2 * i + me
            while atomic_load(flag, 0) != turn:
                pass
            atomic_add(flag, 0, 1)
        return 0

    return ping_pong


def round_trip_ns(repeats=5, n=ROUND_TRIPS):
    """Median round trip of a cache line between two CPUs, in nanoseconds.

    The two threads are pinned to the first two CPUs this process may use.

    Returns
    -------
    float or None
        None with fewer than two usable CPUs, without affinity calls (not
        Linux), or without fastmlp.
    """
    if not hasattr(os, "sched_getaffinity"):
        return None
    original = os.sched_getaffinity(0)
    cpus = sorted(original)
    if len(cpus) < 2:
        return None
    try:
        import numba
        import numpy as np

        if numba.config.DISABLE_JIT:  # two interpreted spinners pass the GIL
            return None
        ping_pong = _kernel()
    except ImportError:
        return None
    flag = np.zeros(1, np.int64)
    ping_pong(flag, 0, 0)  # compile
    time.sleep(SETTLE_S)
    times = []
    try:
        for _ in range(repeats):
            flag[0] = 0

            def other():
                os.sched_setaffinity(0, {cpus[1]})
                ping_pong(flag, 1, n)

            os.sched_setaffinity(0, {cpus[0]})
            thread = threading.Thread(target=other)
            started = time.perf_counter()
            thread.start()
            ping_pong(flag, 0, n)
            thread.join()
            times.append((time.perf_counter() - started) / n * 1e9)
    finally:
        os.sched_setaffinity(0, original)
    return statistics.median(times)


def part_hand_over_us(gaps_s=(0.0, 5e-4, 2e-3), calls=300):
    """Median seconds of fastmlp's hand-over of an empty part, in microseconds.

    ``fastmlp._runtime.worker_threads.in_threads`` with two parts that do
    nothing, ``calls`` times after each idle gap (busy-waited) in ``gaps_s``:
    the cost a split fit pays per kernel call and a split prediction per
    call, above its arithmetic. Returns ``{gap_s: (median, p10, p90)}``.
    """
    from fastmlp._runtime.worker_threads import in_threads

    def nothing(part):
        return part

    in_threads(nothing, 2)
    result = {}
    for gap in gaps_s:
        times = []
        for _ in range(calls):
            idle_until = time.perf_counter() + gap
            while time.perf_counter() < idle_until:
                pass
            started = time.perf_counter()
            in_threads(nothing, 2)
            times.append((time.perf_counter() - started) * 1e6)
        times.sort()
        result[gap] = (
            statistics.median(times),
            times[len(times) // 10],
            times[len(times) * 9 // 10],
        )
    return result


if __name__ == "__main__":
    print(f"cache line round trip: {round_trip_ns()} ns")
    for gap, (median, low, high) in part_hand_over_us().items():
        print(
            f"hand-over of an empty part, {gap * 1e3:.1f} ms after the last: "
            f"median {median:.0f} us (p10 {low:.0f}, p90 {high:.0f})"
        )

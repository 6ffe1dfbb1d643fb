"""A barrier for kernels that several threads run at once.

``fastmlp._kernels.threaded`` runs the same serial kernel in several Python
threads; between a batch's two phases each waits at :func:`barrier`. ``sync`` is
an int64 array of three: threads arrived, generation (times the barrier opened)
and an abort flag, set by a thread that failed so the others never wait forever.
The barrier spins on an atomic counter (``fastmlp._kernels.atomics``), then yields.
The small kernels after it serve the hand-over of parts to worker threads
(``fastmlp._runtime.worker_threads``).

Why: a wait costs ~1 us, less than launching numba's parallel regions, which also
compile far longer. Measurements: ``docs/design/call_overhead.md``.
"""

from .atomics import atomic_add, atomic_compare_swap, atomic_load, yield_cpu
from .jit import kernel

ARRIVED = 0
GENERATION = 1
ABORTED = 2
SYNC_SIZE = 3

# Spins before a waiting thread starts yielding its CPU: ~4 us of waiting (two
# atomic loads a spin, ~1 ns each on the 2-core machine).
SPINS_BEFORE_YIELD = 2000


@kernel
def barrier(sync, n_parts, generation):
    """Wait until ``n_parts`` threads have called this; returns ``generation + 1``.

    ``generation`` is the number of barriers this thread has passed since
    ``sync`` was zeroed. Returns -1 at once if another thread aborted.
    """
    if atomic_load(sync, ABORTED) != 0:
        return -1
    if atomic_add(sync, ARRIVED, 1) == n_parts - 1:
        sync[ARRIVED] = 0  # before the release below: seq_cst orders it
        atomic_add(sync, GENERATION, 1)
        return generation + 1
    spins = 0
    while atomic_load(sync, GENERATION) == generation:
        if atomic_load(sync, ABORTED) != 0:
            return -1
        spins += 1
        if spins > SPINS_BEFORE_YIELD:
            yield_cpu()
    return generation + 1


@kernel
def compare_swap(cell, expected, new):
    """``cell[0] = new`` if it holds ``expected``, atomically; returns the old value."""
    return atomic_compare_swap(cell, 0, expected, new)


@kernel
def wait_for_at_least(cell, target, spins, yields):
    """Wait, without the GIL, until ``cell[0] >= target``; returns the value seen.

    Spins ``spins`` times, then yields the CPU up to ``yields`` times (letting
    any other thread ready on this CPU run), then gives up: the value
    returned may still be below ``target``, and the caller then waits its
    own (sleeping) way.
    """
    for _ in range(spins):
        value = atomic_load(cell, 0)
        if value >= target:
            return value
    for _ in range(yields):
        value = atomic_load(cell, 0)
        if value >= target:
            return value
        yield_cpu()
    return atomic_load(cell, 0)


@kernel
def report_then_wait(mailbox, expected, new, finished, target, spins, yields):
    """A worker's end of a job: ``mailbox`` ``expected`` -> ``new``, ``finished += 1``,
    then :func:`wait_for_at_least` ``(mailbox, target, spins, yields)``.

    One kernel, so that the worker reports and waits for its next job without
    the GIL in between: the caller, woken by ``finished``, takes the GIL back
    uncontended (a contended GIL sleeps on a condition variable: ~20-40 us).
    """
    atomic_compare_swap(mailbox, 0, expected, new)
    atomic_add(finished, 0, 1)
    return wait_for_at_least(mailbox, target, spins, yields)

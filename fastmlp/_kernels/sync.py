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

# A worker's mailbox (``fastmlp._runtime.worker_threads``): BUSY (running, or
# sleeping on its queue: jobs go to the queue), WAITING (finished, waiting for
# a job without the GIL), ARMED (a caller will hand a job over from its own
# part's kernel: keep waiting), HANDED (take the job) or TO_SLEEP (a caller
# asked a waiting worker to sleep now). A worker's wait ends at HANDED or
# above. Mailboxes are MAILBOX_STRIDE values apart (one 64-byte cache line),
# so that a kernel can fire a run of them given as one array.
BUSY, WAITING, ARMED, HANDED, TO_SLEEP = 0, 1, 2, 3, 4
MAILBOX_STRIDE = 8

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
    then :func:`wait_for_hand_over` ``(mailbox, target, spins, yields)``.

    One kernel, so that the worker reports and waits for its next job without
    the GIL in between: the caller, woken by ``finished``, takes the GIL back
    uncontended (a contended GIL sleeps on a condition variable: ~20-40 us).
    """
    atomic_compare_swap(mailbox, 0, expected, new)
    atomic_add(finished, 0, 1)
    return wait_for_hand_over(mailbox, target, spins, yields)


@kernel
def wait_for_hand_over(mailbox, target, spins, yields):
    """:func:`wait_for_at_least` ``(mailbox, target, spins, yields)``, but never
    giving up while ``mailbox`` holds ``ARMED``: a job is coming.

    A caller arms a waiting worker, then runs its own part, whose kernel
    fires it (:func:`fire_armed`) once the caller has let the GIL go; the
    worker then takes the GIL without sleeping on it.
    """
    value = wait_for_at_least(mailbox, target, spins, yields)
    while value == ARMED:
        yield_cpu()
        value = atomic_load(mailbox, 0)
    return value


@kernel
def fire_armed(mailboxes):
    """Every ``ARMED`` mailbox of ``mailboxes`` (one every ``MAILBOX_STRIDE``
    values) -> ``HANDED``; the others are left as they are.

    Called first by a kernel that a caller runs while workers wait for the
    parts it armed (``fastmlp._runtime.worker_threads``): the GIL is free by
    then, so a worker that sees its mailbox change takes it at once.
    """
    for start in range(0, mailboxes.shape[0], MAILBOX_STRIDE):
        atomic_compare_swap(mailboxes, start, ARMED, HANDED)

"""Parts of one call on worker threads, meeting at the barrier.

``fastmlp._kernels.sync.barrier`` lets no part run ahead and releases the
others when one aborts; ``run_parts`` (``fastmlp._engine.training``) reuses its
worker threads, gives concurrent callers workers of their own, and raises a
failing part's error without hanging. The atomic operations and the wait
behind the hand-over to workers (``worker_threads``) do what they say, and no
part is lost whether its worker was waiting or asleep.
"""

import threading
import time

import numba
import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastmlp._engine import training as engine_module
from fastmlp._kernels.sync import (
    ABORTED,
    ARMED,
    ARRIVED,
    BUSY,
    HANDED,
    MAILBOX_STRIDE,
    SYNC_SIZE,
    WAITING,
    barrier,
    compare_swap,
    fire_armed,
    report_then_wait,
    wait_for_at_least,
    wait_for_hand_over,
)
from fastmlp._runtime import worker_threads

pytestmark = [pytest.mark.kernel, pytest.mark.usefixtures("extra_activations_ready")]


@numba.njit(nogil=True)
def _count_rounds(part, n_parts, sync, counts, seen, n_rounds):
    """Each part adds to its own counter, then records every counter it sees."""
    generation = np.int64(0)
    for round_ in range(n_rounds):
        counts[part] += 1
        generation = barrier(sync, n_parts, generation)
        if generation < 0:
            return generation
        for other in range(n_parts):
            seen[part, round_, other] = counts[other]
        generation = barrier(sync, n_parts, generation)
        if generation < 0:
            return generation
    return generation


def _python_count_rounds(part, n_parts, sync, counts, seen, n_rounds):
    count_rounds = getattr(_count_rounds, "py_func", _count_rounds)
    return count_rounds(part, n_parts, sync, counts, seen, n_rounds)


def _rounds_buffers(n_parts, n_rounds):
    return np.zeros(n_parts, np.int64), np.zeros((n_parts, n_rounds, n_parts), np.int64)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n_parts", [1, 2, 3, 4])
def test_barrier_lets_no_part_run_ahead(n_parts):
    # more threads than CPUs too: waiting parts must yield theirs
    n_rounds = 20 if numba.config.DISABLE_JIT else 2000
    counts, seen = _rounds_buffers(n_parts, n_rounds)
    got = engine_module.run_parts(_count_rounds, n_parts, counts, seen, n_rounds)
    assert got == 2 * n_rounds
    # after round r's first barrier every part has counted r + 1 rounds
    want = np.arange(1, n_rounds + 1)[None, :, None]
    assert_array_equal(seen, np.broadcast_to(want, seen.shape))


def test_worker_threads_are_reused():
    engine_module.run_parts(_count_rounds, 3, *_rounds_buffers(3, 5), 5)
    before = threading.active_count()
    for _ in range(20):
        engine_module.run_parts(_count_rounds, 3, *_rounds_buffers(3, 5), 5)
    assert threading.active_count() == before


@pytest.mark.timeout(120)
def test_concurrent_calls_get_workers_of_their_own():
    """Calls at once in several threads: none waits for another's workers."""
    n_rounds = 20 if numba.config.DISABLE_JIT else 500
    errors = []

    def call():
        try:
            counts, seen = _rounds_buffers(3, n_rounds)
            for _ in range(5):
                counts[:] = 0
                got = engine_module.run_parts(_count_rounds, 3, counts, seen, n_rounds)
                assert got == 2 * n_rounds
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    callers = [threading.Thread(target=call) for _ in range(4)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=100)
    assert not any(caller.is_alive() for caller in callers)
    assert not errors


def test_barrier_releases_waiting_parts_when_one_aborts():
    sync = np.zeros(SYNC_SIZE, np.int64)
    sync[ABORTED] = 1
    assert barrier(sync, 2, np.int64(0)) == -1
    assert sync[ARRIVED] == 0


@pytest.mark.timeout(120)
def test_run_parts_raises_a_failing_part_and_does_not_hang():
    n_rounds = 5

    def failing(part, n_parts, sync, counts, seen):
        if part == 1:
            raise RuntimeError("part 1 failed")
        return _python_count_rounds(part, n_parts, sync, counts, seen, n_rounds)

    counts, seen = _rounds_buffers(3, n_rounds)
    with pytest.raises(RuntimeError, match="part 1 failed"):
        engine_module.run_parts(failing, 3, counts, seen)


def test_compare_swap_is_an_atomic_operation():
    cell = np.zeros(1, np.int64)
    assert compare_swap(cell, 1, 5) == 0 and cell[0] == 0  # not 1: unchanged
    assert compare_swap(cell, 0, 5) == 0 and cell[0] == 5


def test_a_report_marks_the_mailbox_counts_and_waits():
    mailbox = np.array([BUSY], np.int64)
    finished = np.array([4], np.int64)
    # BUSY -> WAITING, one more finished, then no hand-over came
    assert report_then_wait(mailbox, BUSY, WAITING, finished, HANDED, 10, 10) == WAITING
    assert mailbox[0] == WAITING and finished[0] == 5
    # a mailbox not in the expected state is left as it is; the count still rises
    mailbox[0] = HANDED
    assert report_then_wait(mailbox, BUSY, WAITING, finished, HANDED, 10, 10) == HANDED
    assert mailbox[0] == HANDED and finished[0] == 6


def test_waiting_for_a_count_returns_it_or_gives_up():
    cell = np.array([3], np.int64)
    assert wait_for_at_least(cell, 2, 10, 10) == 3
    assert wait_for_at_least(cell, 4, 10, 10) == 3  # given up: still below
    assert wait_for_at_least(cell, 4, 0, 0) == 3


@pytest.mark.timeout(120)
def test_hand_overs_to_waiting_and_sleeping_workers_lose_no_part():
    """Calls at every distance from the last: workers waiting or asleep."""
    gaps = [0.0, 0.0, 1e-5, 1e-4, 5e-4, 2e-3] * (3 if numba.config.DISABLE_JIT else 40)
    for call, gap in enumerate(gaps):
        time.sleep(gap)
        parts = []
        assert (
            worker_threads.in_threads(lambda p, got=parts: got.append(p) or p, 3) == 0
        )
        assert sorted(parts) == [0, 1, 2], call
    with worker_threads._idle_lock:
        states = {int(worker.mailbox[0]) for worker in worker_threads._idle}
    assert states <= {worker_threads.BUSY, worker_threads.WAITING}


def test_firing_hands_over_the_armed_mailboxes_only():
    mailboxes = np.zeros(3 * MAILBOX_STRIDE, np.int64)
    mailboxes[::MAILBOX_STRIDE] = [ARMED, WAITING, ARMED]
    mailboxes[1] = ARMED  # between two mailboxes: not one
    fire_armed(mailboxes)
    assert list(mailboxes[::MAILBOX_STRIDE]) == [HANDED, WAITING, HANDED]
    assert mailboxes[1] == ARMED
    fire_armed(mailboxes[:0])  # nothing to fire
    single = np.array([ARMED], np.int64)  # one mailbox alone
    fire_armed(single)
    assert single[0] == HANDED


@pytest.mark.timeout(60)
def test_an_armed_mailbox_is_waited_for_past_the_spins():
    waiting = np.array([WAITING], np.int64)
    assert wait_for_hand_over(waiting, HANDED, 10, 10) == WAITING  # given up
    armed = np.array([ARMED], np.int64)
    firing = threading.Timer(0.05, fire_armed, args=(armed,))
    firing.start()
    try:
        assert wait_for_hand_over(armed, HANDED, 10, 10) == HANDED
    finally:
        firing.join()

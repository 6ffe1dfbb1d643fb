"""Parts of one call on worker threads, meeting at the barrier.

``fastmlp._kernels.sync.barrier`` lets no part run ahead and releases the
others when one aborts; ``run_parts`` (``fastmlp._engine.training``) reuses its
worker threads, gives concurrent callers workers of their own, and raises a
failing part's error without hanging.
"""

import threading

import numba
import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastmlp._engine import training as engine_module
from fastmlp._kernels.sync import ABORTED, ARRIVED, SYNC_SIZE, barrier

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

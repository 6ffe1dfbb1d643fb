"""The threads that run the parts of a split batch or prediction.

:func:`in_threads` runs part 0 in the calling thread and every other part in a
worker thread, kept between calls (waking an idle worker costs a fraction of
starting one). A call takes idle workers and starts new ones only when none is
idle, so concurrent calls never wait for each other's workers; workers are
daemon threads, and a forked child forgets its parent's. On Linux each call
keeps its workers off the caller's current CPU (:func:`_keep_off_caller`),
within the caller's own CPU mask, so that the parts do not take turns on one
CPU. A worker that finished a job, and a caller whose part is done, wait a
moment without the GIL before they sleep (``HAND_OVER_SPINS`` and
``HAND_OVER_YIELDS``): waking a sleeping thread cost ~75-115 us a hand-over on
the 2-core VMs, more than a part of a mid-sized call takes. For the same
reason a caller can arm its waiting workers and fire them from its own
part's kernel (``armed=True``), once it has let the GIL go: a worker handed
its job while the caller still held the GIL slept on it (~18 us on Zen 5).
Measurements: ``docs/design/threading.md``.
"""

import ctypes
import os
import queue
import threading

import numpy as np
from numba import config

from .._kernels.sync import (
    ARMED,
    BUSY,
    HANDED,
    MAILBOX_STRIDE,
    TO_SLEEP,
    WAITING,
    compare_swap,
    fire_armed,
    report_then_wait,
    wait_for_at_least,
    wait_for_hand_over,
)
from .._kernels.tunables import HAND_OVER_SPINS, HAND_OVER_YIELDS

_idle = []
_idle_lock = threading.Lock()
# the native thread id of every worker started (fastmlp._runtime.cpu_watch)
_worker_ids = set()

# The mailboxes of the first MAILBOX_SLOTS workers, MAILBOX_STRIDE values
# apart from a 64-byte boundary, so that a run of them is one array that a
# kernel fires (later workers get mailboxes of their own and are not armed).
MAILBOX_SLOTS = 64
_pool_memory = np.zeros((MAILBOX_SLOTS + 1) * MAILBOX_STRIDE, dtype=np.int64)
_offset = (-_pool_memory.ctypes.data % 64) // _pool_memory.itemsize
_pool = _pool_memory[_offset : _offset + MAILBOX_SLOTS * MAILBOX_STRIDE]
_free_slots = list(range(MAILBOX_SLOTS - 1, -1, -1))  # pop() takes the lowest
NO_FIRE = _pool[:0]  # no mailbox to fire: the ``fire`` argument of other calls
# interpreted kernels would wait holding the GIL: no waiting then
_SPINS, _YIELDS = (0, 0) if config.DISABLE_JIT else (HAND_OVER_SPINS, HAND_OVER_YIELDS)


class _Worker:
    """A daemon thread that runs one job at a time, then waits for the next."""

    def __init__(self):
        self.jobs = queue.SimpleQueue()
        with _idle_lock:
            self.slot = _free_slots.pop() if _free_slots else -1
        if self.slot < 0:
            self.mailbox = np.zeros(1, dtype=np.int64)
        else:
            start = self.slot * MAILBOX_STRIDE
            self.mailbox = _pool[start : start + 1]
        self.handed = None
        self.cpus = None  # the CPU mask last given to this worker
        thread = threading.Thread(target=self._loop, name="fastmlp-part", daemon=True)
        thread.start()
        self.thread_id = thread.native_id
        with _idle_lock:
            _worker_ids.add(self.thread_id)

    def give(self, item, arm=False):
        """Hand ``(job, done, part, finished)`` over, to the waiting or the queue.

        With ``arm``, a waiting worker is armed instead, to be fired later
        (:func:`fastmlp._kernels.sync.fire_armed`).
        """
        self.handed = item
        if compare_swap(self.mailbox, WAITING, ARMED if arm else HANDED) != WAITING:
            self.jobs.put(item)

    def _next(self, seen):
        """The next job, once ``report_then_wait`` saw ``seen`` in the mailbox."""
        while seen != HANDED:
            if seen == ARMED:  # armed as its wait gave up: the job is coming
                seen = wait_for_hand_over(self.mailbox, HANDED, 0, 0)
                continue
            # no caller came (WAITING) or one asked to sleep (TO_SLEEP): sleep
            # on the queue, unless a caller changed the mailbox meanwhile
            now = compare_swap(self.mailbox, seen, BUSY)
            if now == seen:
                return self.jobs.get()
            seen = now
        compare_swap(self.mailbox, HANDED, BUSY)
        return self.handed

    def _loop(self):
        job, done, part, finished = self.jobs.get()
        while True:
            job()
            done.put(part)  # the caller makes it idle again (in_threads)
            # WAITING, finished, then wait for a hand-over: all without the GIL
            seen = report_then_wait(
                self.mailbox, BUSY, WAITING, finished, HANDED, _SPINS, _YIELDS
            )
            job, done, part, finished = self._next(seen)


def worker_ids():
    """The native thread ids of every worker started so far."""
    with _idle_lock:
        return frozenset(_worker_ids)


def _current_cpu_function():
    """glibc's ``sched_getcpu`` (a vDSO call, ~0.1 us), or None where absent."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).sched_getcpu
    except (AttributeError, OSError):
        return None
    function.restype = ctypes.c_int
    function.argtypes = []
    return function


_current_cpu = _current_cpu_function()


def _keep_off_caller(workers):
    """Let ``workers`` run on the caller's allowed CPUs but the caller's own.

    Sets a worker's mask only when it changes (the caller moved, or its own
    mask changed), so a fit's calls cost a ``sched_getaffinity`` each.
    """
    if _current_cpu is None or not workers:
        return
    cpu = _current_cpu()
    try:
        others = frozenset(os.sched_getaffinity(0)) - {cpu}
    except OSError:
        return
    if cpu < 0 or not others:
        return
    for worker in workers:
        if worker.cpus != others:
            try:
                os.sched_setaffinity(worker.thread_id, others)
            except OSError:  # not permitted here: leave it to the scheduler
                return
            worker.cpus = others


def _take_workers(count):
    with _idle_lock:
        taken = [_idle.pop() for _ in range(min(count, len(_idle)))]
    return taken + [_Worker() for _ in range(count - len(taken))]


def _forget_workers():
    # a forked child has none of its parent's threads
    global _idle_lock
    _idle_lock = threading.Lock()
    _idle.clear()
    _worker_ids.clear()
    _pool[:] = BUSY
    _free_slots[:] = range(MAILBOX_SLOTS - 1, -1, -1)


def _mailbox_run(workers):
    """The mailboxes of ``workers`` as one array, if their slots are a run."""
    slots = sorted(worker.slot for worker in workers)
    if not slots or slots[0] < 0 or slots[-1] - slots[0] != len(slots) - 1:
        return NO_FIRE
    return _pool[slots[0] * MAILBOX_STRIDE : (slots[-1] + 1) * MAILBOX_STRIDE]


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_workers)


def in_threads(function, n_parts, on_error=None, armed=False):
    """``function(part)`` for every part at once; returns part 0's result.

    With ``armed``, ``function(part, fire)``: part 0 must pass ``fire`` to a
    kernel that fires it (:func:`fastmlp._kernels.sync.fire_armed`) before
    its work, and the other parts get ``NO_FIRE``; workers that were waiting
    awake are armed, and start once that kernel has let the GIL go (fired
    here after part 0 if it did not).

    The first error of any part is raised here once every part has stopped;
    ``on_error()`` is called as soon as a part fails, to release parts that
    wait for it. An exception raised in the calling thread anywhere in the
    hand-over (a KeyboardInterrupt before part 0 starts, say) also calls
    ``on_error()`` and waits for every part handed out, so no worker is left
    waiting for a part that never runs; every worker taken is idle again
    when this returns or raises.
    """
    results = [None] * n_parts
    errors = []

    def run(part, fire=NO_FIRE):
        try:
            results[part] = function(part, fire) if armed else function(part)
        except BaseException as error:
            if on_error is not None:
                on_error()
            errors.append(error)

    done = queue.SimpleQueue()
    finished = np.zeros(1, dtype=np.int64)  # parts reported, as done's
    workers = []
    handed = 0  # parts 1..handed were, or were being, handed to workers
    ran = False
    fire = NO_FIRE
    try:
        workers = _take_workers(n_parts - 1)
        _keep_off_caller(workers)
        if armed:
            fire = _mailbox_run(workers)
        for part, worker in enumerate(workers, start=1):
            handed = part
            item = (lambda part=part: run(part), done, part, finished)
            worker.give(item, arm=fire is not NO_FIRE)
        run(0, fire)
        ran = True
    finally:
        if fire is not NO_FIRE:
            fire_armed(fire)  # if part 0 did not reach its kernel
        if not ran:
            if on_error is not None:
                on_error()
            if handed:
                # the last part may not have been put: a job that only
                # reports it (after the part, if that was put) ends the wait
                workers[handed - 1].jobs.put((_nothing, done, handed, finished))
        wait_for_at_least(finished, handed, _SPINS, _YIELDS)
        _wait_for(done, handed)
        with _idle_lock:
            _idle.extend(workers)
    if errors:
        raise errors[0]
    return results[0]


def _nothing(part=None):
    pass


def wake_workers(n_parts):
    """Hand an empty part to the ``n_parts - 1`` workers the next parts will take.

    They then wait awake for a while (``HAND_OVER_SPINS``): the next
    :func:`in_threads` finds them as it does when its calls run back to back.
    A worker started here gets a second empty part: the next hand-over to a
    new thread still took 0.9-1.8 ms (it was settling into its first wait),
    the one after it 20 us (Zen 5).
    """
    with _idle_lock:
        new_workers = len(_idle) < n_parts - 1
    in_threads(_nothing, n_parts)
    if new_workers:
        in_threads(_nothing, n_parts)


def put_workers_to_sleep():
    """Ask every idle worker still waiting awake for a hand-over to sleep now.

    A worker that finished a part spins on its CPU for a while
    (``HAND_OVER_SPINS``): a call timed meanwhile runs beside it, which slowed
    whole calls by 6-11% on the 2-vCPU Xeon against whole calls of a fit
    that has gone whole (``docs/design/threading.md``). The worker sees the
    request at its next look at its mailbox; a job handed to it later goes to
    its queue, as to any sleeping worker.
    """
    with _idle_lock:
        workers = list(_idle)
    for worker in workers:
        compare_swap(worker.mailbox, WAITING, TO_SLEEP)


def ready_for_trial(split, n_parts):
    """Before a split chooser's timed trial: workers as that way's calls find them.

    A split trial starts with the workers awake (:func:`wake_workers`), as
    between split calls running back to back: after a whole call they have
    gone to sleep, and waking one costs 0.1-3 ms on a VM (the first call also
    starts the threads), which made the chooser keep whole calls 1.5x slower
    (Zen 5, digits 64-64-64-10). A whole trial starts with them asleep
    (:func:`put_workers_to_sleep`), as between whole calls: right after a
    split trial they still spin beside it (whole trials 6-11% slower on the
    2-vCPU Xeon). For fits and predictions alike
    (``fastmlp._runtime.split_chooser``).
    """
    if split:
        wake_workers(n_parts)
    else:
        put_workers_to_sleep()


def _wait_for(done, handed):
    """Hear parts ``1..handed`` finish, even through exceptions raised meanwhile.

    A KeyboardInterrupt while waiting would leave parts running on buffers
    their caller is about to reuse or free: the wait goes on, and the first
    such exception is raised once every part has finished. A part may be
    heard twice (see :func:`in_threads`); the first time counts.
    """
    interrupted = None
    waiting = set(range(1, handed + 1))
    while waiting:
        try:
            waiting.discard(done.get())
        except BaseException as error:  # noqa: PERF203
            if interrupted is None:
                interrupted = error
    if interrupted is not None:
        raise interrupted

"""How a fit or prediction uses threads: BLAS's count, and parts per batch.

Products under ``SMALL_PRODUCT_MACS`` run with BLAS held to one thread (its
second thread costs more than it saves between small products); batches of at
least ``SPLIT_BATCH_MACS`` forward multiply-adds (``SPLIT_GRADIENT_MACS`` for
L-BFGS) may be split across threads instead, each with single-threaded BLAS
(``fastmlp._kernels.threaded``); with ``n_jobs=None`` the split chooser then
decides call by call. Limits are process-wide and reference-counted: the first
fit to enter sets one, the last to leave restores the user's. This module
plans threads; it never calls BLAS. Measurements: ``docs/design/threading.md``.
"""

import functools
import os
import threading
from contextlib import contextmanager

from .._kernels.tunables import (
    SMALL_PRODUCT_MACS,
    SPLIT_BATCH_MACS,
)

_lock = threading.Lock()
_depth = 0
_to_restore = None
_controller = None
_blas_libraries = None
_switches = None
_count_readers = None


def _get_controller():
    global _controller
    if _controller is None:
        # numba's np.dot calls scipy's BLAS: make sure it is loaded before the
        # controller lists the libraries it can limit.
        import scipy.linalg.cython_blas  # noqa: F401
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller


def _blas_controllers():
    """The BLAS libraries of :func:`_get_controller`, selected once.

    (``select`` costs ~10 us, most of a 10-row prediction's plan; the
    controller's libraries are fixed when it is made.)
    """
    global _blas_libraries
    if _blas_libraries is None:
        _blas_libraries = _get_controller().select(user_api="blas").lib_controllers
    return _blas_libraries


def _blas_switches():
    """``(library, get, set)`` per BLAS library, made once.

    For OpenBLAS on its own threads, ``get`` and ``set`` are its C functions
    ``openblas_get_num_threads``/``openblas_set_num_threads``, which is what
    threadpoolctl calls there, without its Python around each call (a limit
    set and restored cost 9.9 us through threadpoolctl, 3.5 us so, on the
    Zen 5 VM); None for any other library, which threadpoolctl then handles.
    """
    global _switches
    if _switches is None:
        switches = []
        for lib in _blas_controllers():
            get = set_ = None
            symbol = getattr(lib, "_get_symbol", None)
            if (
                symbol is not None
                and getattr(lib, "internal_api", None) == "openblas"
                and getattr(lib, "threading_layer", None) in ("pthreads", "disabled")
            ):
                get = symbol("openblas_get_num_threads")
                set_ = symbol("openblas_set_num_threads")
                if get is None or set_ is None:
                    get = set_ = None
            switches.append((lib, get, set_))
        _switches = switches
    return _switches


def _thread_count_readers():
    """A callable per BLAS library, returning its thread count now (made once)."""
    global _count_readers
    if _count_readers is None:
        _count_readers = tuple(
            get if get is not None else functools.partial(getattr, lib, "num_threads")
            for lib, get, _ in _blas_switches()
        )
    return _count_readers


def _blas_thread_counts():
    """``(library, get, set, count)`` of every BLAS library now."""
    return [
        (lib, get, set_, read())
        for (lib, get, set_), read in zip(
            _blas_switches(), _thread_count_readers(), strict=True
        )
    ]


def forward_macs(layer_units, n_rows):
    """Multiply-adds of a forward pass over ``n_rows`` rows."""
    return n_rows * _macs_per_row(tuple(int(u) for u in layer_units))


@functools.lru_cache(maxsize=256)
def _macs_per_row(units):
    return sum(a * b for a, b in zip(units[:-1], units[1:], strict=True))


def parts_follow_blas(
    layer_units, n_rows, n_jobs=None, splittable=True, min_macs=SPLIT_BATCH_MACS
):
    """Whether the parts depend on BLAS's thread count (threadpoolctl changes it).

    Splittable work of at least ``min_macs`` forward multiply-adds without an
    ``n_jobs``: :func:`split_parts` then splits across as many threads as
    BLAS may use now. Anything else is settled by its arguments alone.
    """
    return (
        splittable and n_jobs is None and forward_macs(layer_units, n_rows) >= min_macs
    )


def split_parts(layer_units, n_rows, n_jobs=None, min_macs=SPLIT_BATCH_MACS):
    """How many threads to split batches of ``n_rows`` across (1: serial).

    ``n_jobs`` threads if given, else as many as BLAS may use now (so
    ``threadpoolctl`` limits hold, joblib's in its workers among them, and so
    does the one-thread limit of another fastmlp fit running at the same time),
    for batches of at least ``min_macs`` forward multiply-adds. Never
    more than the CPUs this process may run on: the parts wait for each other
    at every batch, so two parts sharing one CPU would take turns.
    """
    if n_jobs is not None:
        return max(min(int(n_jobs), usable_cpus()), 1)
    if not parts_follow_blas(layer_units, n_rows, min_macs=min_macs):
        return 1
    return blas_parts()


def blas_parts():
    """:func:`split_parts` of work that follows BLAS: its thread count now.

    Read at every call (a prediction the split chooser times pays it), so
    that the user's ``threadpoolctl`` limits hold: only the counts, without
    the tuples of :func:`_blas_thread_counts`.
    """
    counts = [read() for read in _thread_count_readers()]
    parts = min(counts) if counts else 1
    return max(min(parts, usable_cpus()), 1)


def threads_asked(n_jobs):
    """``n_jobs`` as a number of threads, or None (the fit or call decides).

    Negative values count back from the CPUs this process may use, as
    joblib's do: -1 all of them, -2 all but one (at least one).
    """
    if n_jobs is None or n_jobs > 0:
        return n_jobs
    return max(usable_cpus() + 1 + int(n_jobs), 1)


def usable_cpus():
    """CPUs this process may run on (its affinity mask, where there is one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _can_split():
    return usable_cpus() > 1


def thread_limits(
    layer_units,
    n_rows,
    n_jobs=None,
    splittable=True,
    blas_rows=None,
    min_macs=SPLIT_BATCH_MACS,
    blas=True,
):
    """What :func:`thread_plan` does: ``(parts, blas_limit)``.

    ``blas_limit`` is the BLAS thread count to hold while the work runs, or
    None to leave BLAS's threads as they are. Depends on BLAS's thread count
    only where :func:`parts_follow_blas`.
    """
    parts = split_parts(layer_units, n_rows, n_jobs, min_macs) if splittable else 1
    if not blas:
        return parts, None
    follow = parts_follow_blas(layer_units, n_rows, n_jobs, splittable, min_macs)
    if parts > 1 or (follow and _can_split()):
        return parts, 1
    rows = n_rows if blas_rows is None else blas_rows
    if n_jobs is None and largest_product_macs(layer_units, rows) >= SMALL_PRODUCT_MACS:
        return 1, None
    return 1, 1 if n_jobs is None else int(n_jobs)


@contextmanager
def thread_plan(layer_units, n_rows, *args, **kwargs):
    """Choose how a fit or prediction uses threads; yields the number of parts.

    Arguments as :func:`thread_limits`. Batches of ``n_rows`` rows (all rows
    for L-BFGS and predictions) are split into :func:`split_parts` parts when
    ``splittable`` (dense data, no dropout) and at least ``min_macs`` forward
    multiply-adds, with BLAS held to one thread meanwhile. A batch large
    enough to split that stays whole (BLAS limited to one thread by the user
    or by a concurrent fit) also runs with one BLAS thread: the model is then
    the same as split, bit for bit, and concurrent fits give what fits one
    after the other give. Otherwise BLAS runs on ``n_jobs`` threads if given,
    else on one thread for products of ``blas_rows`` rows (default
    ``n_rows``) under ``SMALL_PRODUCT_MACS`` multiply-adds, else as the user
    left it. Work that makes no BLAS call (``blas`` false) leaves BLAS's
    threads as they are. While several fits run at once, the limit of the
    first to enter holds until the last one leaves.
    """
    parts, limit = thread_limits(layer_units, n_rows, *args, **kwargs)
    if limit is None:
        yield parts
        return
    with blas_threads_held(limit):
        yield parts


def largest_product_macs(layer_units, n_rows):
    """Multiply-adds of the largest matrix product for a batch of ``n_rows``."""
    units = [int(u) for u in layer_units]
    return n_rows * max(a * b for a, b in zip(units[:-1], units[1:], strict=True))


@contextmanager
def blas_threads_held(limit):
    """BLAS held to ``limit`` threads while the block runs (process-wide).

    Reference-counted: the first caller to enter sets the limit, the last to
    leave restores the counts it changed.
    """
    global _depth, _to_restore
    with _lock:
        if _depth == 0:
            _to_restore = _set_blas_threads(limit)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _restore_blas_threads(_to_restore)
                _to_restore = None


def _set_blas_threads(limit):
    """Every BLAS library to ``limit`` threads; returns what to restore.

    Only the libraries whose count differs are touched (threadpoolctl's
    ``limit`` reads and lists every library first: ~40 us, most of a
    ``partial_fit`` call's thread plan).
    """
    changed = [
        (lib, set_, count)
        for lib, _, set_, count in _blas_thread_counts()
        if count != limit
    ]
    _set_counts([(lib, set_, limit) for lib, set_, _ in changed])
    return changed


def _restore_blas_threads(changed):
    _set_counts(changed)


def _set_counts(counts):
    if any(set_ is None for _, set_, _ in counts):
        _take_blas_control()
    for lib, set_, count in counts:
        if set_ is not None:
            set_(count)
        else:
            lib.set_num_threads(count)


def _take_blas_control():
    """Let the calling thread change OpenBLAS's thread count.

    threadpoolctl 3.8 lets only one Python thread, the first to set a limit,
    change OpenBLAS's process-wide thread count, and silently ignores the
    others: a fit in a worker thread after one in the main thread ran with
    BLAS's full thread count. fastmlp's limit is process-wide and
    reference-counted under its own lock, so whichever thread sets or restores
    it takes that control.
    """
    for lib in _get_controller().lib_controllers:
        clear = getattr(type(lib), "clear_controlling_thread", None)
        if clear is not None:
            clear(force=True)

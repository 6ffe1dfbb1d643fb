"""The one place numba options live.

Every compiled function in fastmlp is made by :func:`kernel`, so the options below
hold for all of them (``tests/test_numba_options.py`` reads every dispatcher's
options to prove it):

- ``cache=True``: a second process loads machine code from disk instead of
  compiling again (compile time is user-visible latency).
- ``nogil=True``: kernels release the GIL, so fits in several Python threads
  really run at once.
- ``fastmath=False``: exact IEEE arithmetic is what makes parity with
  scikit-learn possible, and it keeps NaN and inf checks working (``nnan`` and
  ``ninf`` would let the compiler assume they never happen).
- ``error_model="numpy"``: a division by zero gives inf/nan as NumPy does, instead
  of raising inside compiled code (and without a branch per division).
- No eager signatures: kernels compile lazily for the dtypes and layouts they
  meet (float32 and float64, read-only arrays and memmaps).
- ``parallel=True`` only for :func:`threaded_kernel`'s few functions (the
  parallel loops of ``fastmlp._kernels.threaded``); every other kernel is
  serial. Parallel kernels run only on a thread-safe threading layer (OpenMP
  or TBB, see :func:`threads_available`): numba's default ``workqueue`` layer
  aborts the process when two Python threads enter parallel code at once.
"""

import functools
import hashlib
import os
from pathlib import Path

import numpy as np
from numba import njit, prange

JIT_OPTIONS = {
    "cache": True,
    "nogil": True,
    "fastmath": False,
    "error_model": "numpy",
}


_KERNEL_SOURCES = [
    Path(__file__),
    *sorted((Path(__file__).parent / "_kernels").glob("*.py")),
]


@functools.cache
def kernels_source_stamp():
    """A hash of every kernel source file (and of this one).

    numba stamps a cached function with its own file only, so a change in a
    kernel it calls from another file would load stale machine code (numba
    issue #1833). Stamping every kernel with all of them makes any change
    recompile everything.
    """
    digest = hashlib.sha256()
    for path in _KERNEL_SOURCES:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.digest()


def threaded_kernel(function):
    """:func:`kernel` with ``parallel=True``, for functions with ``prange`` loops.

    Call them only when :func:`threads_available` is true.
    """
    # a copy each time: numba pops the keys of the dict it is given
    return _stamped(njit(parallel=dict(PARALLEL_OPTIONS), **JIT_OPTIONS)(function))


# Only explicit prange loops become parallel: the other transformations find
# nothing to do in fastmlp's kernels and cost compile time.
PARALLEL_OPTIONS = {
    "prange": True,
    "comprehension": False,
    "setitem": False,
    "reduction": False,
    "numpy": False,
    "stencil": False,
    "fusion": False,
    "inplace_binop": False,
}
_THREAD_SAFE_LAYERS = ("omp", "tbb")
_threads_checked = None
_threads_pid = None


def threads_available():
    """Whether numba runs parallel kernels on a thread-safe layer.

    Before numba starts its threads, a thread-safe layer is asked for (unless
    the user chose one); if none can start, or the process already runs the
    ``workqueue`` layer, fastmlp stays serial. Checked once per process; a
    child forked after the threads started stays serial too (GNU OpenMP
    hangs in a forked child that uses the parent's pool).
    """
    global _threads_checked, _threads_pid
    if _threads_checked is None:
        _threads_checked = _check_threads()
        _threads_pid = os.getpid()
    return _threads_checked and os.getpid() == _threads_pid


def _check_threads():
    import numba

    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel code has run yet: the layer is still ours
        if numba.config.THREADING_LAYER == "default":
            numba.config.THREADING_LAYER = "threadsafe"
        try:
            _probe(np.zeros(2))
            layer = numba.threading_layer()
        except Exception:  # no thread-safe layer could start
            return False
    return layer in _THREAD_SAFE_LAYERS


def kernel(function):
    """Compile ``function`` with fastmlp's numba options.

    Parameters
    ----------
    function : callable
        A pure function of arrays and scalars.

    Returns
    -------
    dispatcher : numba.core.registry.CPUDispatcher
        The lazily compiled function (the function itself under
        ``NUMBA_DISABLE_JIT=1``).
    """
    return _stamped(njit(**JIT_OPTIONS)(function))


def _stamped(dispatcher):
    cache_file = getattr(getattr(dispatcher, "_cache", None), "_cache_file", None)
    if cache_file is not None and hasattr(cache_file, "_source_stamp"):
        cache_file._source_stamp = kernels_source_stamp()
    return dispatcher


@njit(parallel=True, nogil=True, cache=True)
def _probe(values):
    for i in prange(values.shape[0]):
        values[i] = i

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
- No ``parallel=True``: kernels stay serial so that two Python threads can run
  them at once whatever numba threading layer is active; parallelism comes from
  running fits in threads and from BLAS inside the products.
"""

import functools
import hashlib
from pathlib import Path

from numba import njit

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
    dispatcher = njit(**JIT_OPTIONS)(function)
    cache_file = getattr(getattr(dispatcher, "_cache", None), "_cache_file", None)
    if cache_file is not None and hasattr(cache_file, "_source_stamp"):
        cache_file._source_stamp = kernels_source_stamp()
    return dispatcher

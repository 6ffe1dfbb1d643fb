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

from numba import njit

JIT_OPTIONS = {
    "cache": True,
    "nogil": True,
    "fastmath": False,
    "error_model": "numpy",
}


def kernel(function):
    """Compile ``function`` with fastmlp's numba options.

    Parameters
    ----------
    function : callable
        A pure function of arrays and scalars.

    Returns
    -------
    dispatcher : numba.core.registry.CPUDispatcher
        The lazily compiled function.
    """
    return njit(**JIT_OPTIONS)(function)

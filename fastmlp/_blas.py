"""BLAS thread policy: one thread for products too small to share.

Measured on the 2-core development machine: the digits network (200x64 @ 64x100
per batch) trained 10x *slower* with OpenBLAS's two threads than with one,
because between two products the worker thread sleeps or spins against the
main thread's loops; a 200x784 @ 784x256 product still gains ~1.8x from two
threads. So a fit whose largest product is under ``SMALL_PRODUCT_MACS``
multiply-adds runs with BLAS limited to one thread, and larger ones keep the
process's setting (which the user controls with threadpoolctl).

Limits are process-wide, so concurrent fits share one reference-counted limit:
the first to enter sets it, the last to leave restores the original.
"""

import threading
from contextlib import contextmanager

SMALL_PRODUCT_MACS = 8_000_000

_lock = threading.Lock()
_depth = 0
_limiter = None
_controller = None


def _get_controller():
    global _controller
    if _controller is None:
        # numba's np.dot calls scipy's BLAS: make sure it is loaded before the
        # controller lists the libraries it can limit.
        import scipy.linalg.cython_blas  # noqa: F401
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller


def largest_product_macs(layer_units, n_rows):
    """Multiply-adds of the largest matrix product for a batch of ``n_rows``."""
    units = [int(u) for u in layer_units]
    return n_rows * max(a * b for a, b in zip(units[:-1], units[1:], strict=True))


@contextmanager
def blas_threads_for(macs, n_jobs=None):
    """Limit BLAS threads while the block runs.

    To ``n_jobs`` threads if given (an estimator's ``n_jobs``), else to one
    thread if ``macs`` is small, else not at all. While several fits run at
    once, the limit of the first to enter holds until the last one leaves.
    """
    global _depth, _limiter
    if n_jobs is None and macs >= SMALL_PRODUCT_MACS:
        yield
        return
    with _lock:
        if _depth == 0:
            limit = 1 if n_jobs is None else int(n_jobs)
            _limiter = _get_controller().limit(limits=limit, user_api="blas")
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _limiter.restore_original_limits()
                _limiter = None

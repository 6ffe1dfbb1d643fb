"""Fix the thread counts every contestant runs with, and say what they are.

BLAS (every OpenBLAS/MKL/OpenMP pool threadpoolctl finds: numpy's, scipy's,
the one fastmlp's kernels call through numba), numba's own pool and torch's
intra-op pool are set to the same number. Without ``--threads`` BLAS is left
as it is and torch is matched to numpy's BLAS thread count.

Import the contestants before calling :func:`configure_threads`: setting
numba's thread count starts its pool and so fixes its threading layer.
fastmlp's own threads are as many as BLAS may use
(``fastmlp._runtime.thread_plan``), so the
BLAS count set here holds for them too.
"""

from __future__ import annotations

import os
import warnings

_LIMITERS = []  # keep threadpool_limits objects alive for the whole run

THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def blas_threads():
    """Thread count of numpy's BLAS (the first BLAS threadpoolctl lists).

    Returns
    -------
    int or None
    """
    from threadpoolctl import threadpool_info

    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            return int(pool["num_threads"])
    return None


def configure_threads(n_threads=None, torch_too=True):
    """Set BLAS, numba and torch thread counts for this process.

    Parameters
    ----------
    n_threads : int or None
        Threads for every pool; None leaves BLAS and numba as they are and
        matches torch to numpy's BLAS.
    torch_too : bool, default=True
        Also set torch's intra-op threads when torch is importable.

    Returns
    -------
    dict
        ``{"requested", "blas", "numba", "torch"}`` thread counts in force.
    """
    from threadpoolctl import threadpool_limits

    if n_threads is not None:
        _LIMITERS.append(threadpool_limits(limits=n_threads))
        import numba

        if n_threads > numba.config.NUMBA_NUM_THREADS:
            warnings.warn(
                f"numba allows at most {numba.config.NUMBA_NUM_THREADS} threads",
                stacklevel=2,
            )
        numba.set_num_threads(min(n_threads, numba.config.NUMBA_NUM_THREADS))
    blas = blas_threads()
    torch_threads = None
    if torch_too:
        try:
            import torch
        except ImportError:
            torch = None
        if torch is not None:
            torch.set_num_threads(n_threads or blas or os.cpu_count() or 1)
            torch_threads = torch.get_num_threads()
    return {
        "requested": n_threads,
        "blas": blas,
        "numba": numba_threads(),
        "torch": torch_threads,
    }


def numba_threads():
    """numba's current thread count, read without starting its pool.

    Returns
    -------
    int
    """
    import numba
    from numba.np.ufunc import parallel

    if getattr(parallel, "_is_initialized", False):
        return int(numba.get_num_threads())
    return int(numba.config.NUMBA_NUM_THREADS)


def numba_threading_layer():
    """numba's threading layer, or a note that no parallel code started it.

    Returns
    -------
    str
    """
    import numba
    from numba.np.ufunc import parallel

    if not getattr(parallel, "_is_initialized", False):
        return f"not started (configured: {numba.config.THREADING_LAYER})"
    return str(numba.threading_layer())


def subprocess_thread_env(n_threads=None):
    """Environment variables that give a child process the same thread counts.

    Parameters
    ----------
    n_threads : int or None

    Returns
    -------
    dict
    """
    if n_threads is None:
        return {}
    env = {var: str(n_threads) for var in THREAD_ENV_VARS}
    env["NUMBA_NUM_THREADS"] = str(n_threads)
    return env

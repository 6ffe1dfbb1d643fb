"""The machine's GEMM throughput at a case's shapes: the floor for an epoch.

:func:`gemm_seconds` times exactly the matrix products one sklearn epoch
performs, over all mini-batches (the last one short), and nothing else:
forward ``A[l] @ W[l]`` for every layer, backward ``A[l].T @ delta[l]`` for
every layer and ``delta[l] @ W[l].T`` for every layer but the first. Each is
``np.dot(a, b, out)`` on preallocated arrays of the case's dtype, called from
one ``@njit`` loop so that Python's per-call overhead (about 1 us, as much as
the product itself at batch 32) is not counted; numba hands these calls to
BLAS (scipy's OpenBLAS), transposes as F-contiguous views without a copy.
An epoch's time divided by this is how far the whole epoch is from the
products alone (1.0 would mean every other step is free).
"""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
from numba import njit
from numba.typed import List
from threadpoolctl import threadpool_limits

from bench.timing import timed


@njit(nogil=True, cache=True)
def _train_products(X, weights, acts, deltas, grads, batch_size):
    n_samples = X.shape[0]
    n_layers = len(weights)
    for start in range(0, n_samples, batch_size):
        stop = min(start + batch_size, n_samples)
        rows = stop - start
        x = X[start:stop]
        np.dot(x, weights[0], acts[0][:rows])
        for i in range(1, n_layers):
            np.dot(acts[i - 1][:rows], weights[i], acts[i][:rows])
        for i in range(n_layers - 1, 0, -1):
            np.dot(acts[i - 1][:rows].T, deltas[i][:rows], grads[i])
            np.dot(deltas[i][:rows], weights[i].T, deltas[i - 1][:rows])
        np.dot(x.T, deltas[0][:rows], grads[0])


@njit(nogil=True, cache=True)
def _forward_products(X, weights, acts):
    np.dot(X, weights[0], acts[0])
    for i in range(1, len(weights)):
        np.dot(acts[i - 1], weights[i], acts[i])


def _arrays(layer_units, rows, dtype, rng):
    pairs = list(zip(layer_units[:-1], layer_units[1:]))
    weights = List([rng.uniform(-0.1, 0.1, pair).astype(dtype) for pair in pairs])
    acts = List([np.full((rows, out), 0.5, dtype=dtype) for _, out in pairs])
    deltas = List([np.full((rows, out), 0.5, dtype=dtype) for _, out in pairs])
    grads = List([np.zeros(pair, dtype=dtype) for pair in pairs])
    return weights, acts, deltas, grads


def gemm_seconds(
    n_samples, layer_units, batch_size, dtype, mode="train", reps=7, blas_threads=None
):
    """Fastest of ``reps`` timings of one epoch's matrix products alone.

    The minimum, not the median: this is the machine's capability, a floor,
    and disturbances only ever add time.

    Parameters
    ----------
    n_samples : int
        Rows in the epoch (all of them, for ``mode="forward"``).
    layer_units : sequence of int
        ``[n_features, *hidden_layer_sizes, n_outputs]``.
    batch_size : int
        Mini-batch rows (``n_samples`` for full-batch L-BFGS).
    dtype : numpy dtype
    mode : {"train", "forward"}, default="train"
        An epoch of forward and backward products, or one forward pass
        (``predict_proba``) over all rows in one batch.
    reps : int, default=7
        Timed repetitions after one warm-up.
    blas_threads : int, optional
        BLAS threads for the products (``threadpoolctl``); None: the run's
        setting. 1 gives the one-core floor, what a fastmlp fit that runs
        whole (on one thread, BLAS held to one thread) cannot beat.

    Returns
    -------
    float
    """
    dtype = np.dtype(dtype)
    rng = np.random.RandomState(0)
    X = np.ascontiguousarray(rng.standard_normal((n_samples, layer_units[0])), dtype)
    if mode == "forward":
        weights, acts, _, _ = _arrays(layer_units, n_samples, dtype, rng)

        def run():
            _forward_products(X, weights, acts)
    else:
        batch_size = int(min(batch_size, n_samples))
        weights, acts, deltas, grads = _arrays(layer_units, batch_size, dtype, rng)

        def run():
            _train_products(X, weights, acts, deltas, grads, batch_size)

    limit = (
        nullcontext()
        if blas_threads is None
        else threadpool_limits(limits=blas_threads, user_api="blas")
    )
    with limit:
        run()
        return min(timed(run)[0] for _ in range(reps))


def gemm_flops(n_samples, layer_units, mode="train"):
    """Floating-point operations of the products :func:`gemm_seconds` times.

    Parameters
    ----------
    n_samples : int
    layer_units : sequence of int
    mode : {"train", "forward"}, default="train"

    Returns
    -------
    float
    """
    pairs = list(zip(layer_units[:-1], layer_units[1:]))
    forward = sum(2.0 * n_samples * a * b for a, b in pairs)
    if mode == "forward":
        return forward
    backward = forward + sum(2.0 * n_samples * a * b for a, b in pairs[1:])
    return forward + backward

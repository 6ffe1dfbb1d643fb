"""A run of mini-batches of one epoch, entirely in compiled code.

``data = (X, Y, sample_weight)``, or ``(csr, Y, sample_weight)`` with ``csr =
(indptr, indices, values)``; ``batches = (order, first_batch, stop_batch,
batch_size, has_weight, dropout_seed)``: batch ``b`` holds rows ``order[b *
batch_size : (b + 1) * batch_size]``; ``buffers = (x_batch, y_batch,
weight_batch)`` receive the gathered rows, so no batch allocates. Both kernels
return ``(sum of batch_loss * batch_rows, adam_step)``. With dropout, the first
part seeds the calling thread's numba generator with ``dropout_seed``.

Why: the loop over epochs stays in Python as scikit-learn's (schedules, early
stopping, verbose), calling this on parts so KeyboardInterrupt is seen between.
"""

import numpy as np

from .jit import kernel
from .layers import NET_DROPOUT, borrow_net, borrow_work
from .optimizers import optimizer_step
from .passes import loss_grad_dense, loss_grad_sparse
from .views import borrowed, matrix_view


@kernel
def gather_rows(source, rows, target):
    """``target[:len(rows)] = source[rows]`` for 2-D ``source``; returns the view."""
    n_rows = rows.shape[0]
    n_cols = source.shape[1]
    out = matrix_view(target, np.int64(0), n_rows, n_cols)
    for r in range(n_rows):
        row = rows[r]
        for j in range(n_cols):
            out[r, j] = source[row, j]
    return out


@kernel
def gather_values(source, rows, target):
    """``target[:len(rows)] = source[rows]`` for 1-D ``source``; returns the view."""
    n_rows = rows.shape[0]
    for r in range(n_rows):
        target[r] = source[rows[r]]
    return target[:n_rows]


@kernel
def batch_weights(sample_weight, has_weight, rows, target):
    """The batch's sample weights; without weights, not read (nor gathered).

    Unweighted fits hand the kernels a single 1.0 for ``sample_weight``
    (``fastmlp._engine.buffers.kernel_weights``), and every kernel reads weights
    only when ``has_weight``: the batch's slots are left as they are.
    """
    if has_weight:
        return gather_values(sample_weight, rows, target)
    return target[: rows.shape[0]]


@kernel
def run_epoch_dense(
    data, batches, buffers, params, grads, net, work, settings, state, step
):
    """Mini-batches ``first_batch .. stop_batch - 1`` on dense ``X``.

    Rows are always gathered through ``order`` (an ``arange`` without
    shuffling): one call site of the batch kernel instead of two halves the
    code LLVM optimizes, and the copy is small next to the products.
    """
    x, y, sample_weight = borrowed(data[0]), borrowed(data[1]), borrowed(data[2])
    order, first_batch, stop_batch, batch_size, has_weight, seed = batches
    order = borrowed(order)
    buffers = (borrowed(buffers[0]), borrowed(buffers[1]), borrowed(buffers[2]))
    params, grads = borrowed(params), borrowed(grads)
    net, work = borrow_net(net), borrow_work(work)
    state = (borrowed(state[0]), borrowed(state[1]))
    if net[NET_DROPOUT] > 0.0 and first_batch == 0:
        np.random.seed(seed)  # noqa: NPY002 - numba's per-thread generator
    n_samples = x.shape[0]
    accumulated = 0.0
    for batch in range(first_batch, stop_batch):
        start = batch * batch_size
        stop = min(start + batch_size, n_samples)
        rows = order[start:stop]
        loss = loss_grad_dense(
            gather_rows(x, rows, buffers[0]),
            gather_rows(y, rows, buffers[1]),
            batch_weights(sample_weight, has_weight, rows, buffers[2]),
            has_weight,
            params,
            grads,
            net,
            work,
        )
        accumulated += loss * (stop - start)
        step = optimizer_step(params, grads, settings, state, step)
    return accumulated, step


@kernel
def run_epoch_sparse(
    data, batches, buffers, params, grads, net, work, settings, state, step
):
    """Mini-batches ``first_batch .. stop_batch - 1`` on CSR ``X``."""
    csr, y, sample_weight = data
    order, first_batch, stop_batch, batch_size, has_weight, seed = batches
    if net[NET_DROPOUT] > 0.0 and first_batch == 0:
        np.random.seed(seed)  # noqa: NPY002 - numba's per-thread generator
    n_samples = y.shape[0]
    accumulated = 0.0
    for batch in range(first_batch, stop_batch):
        start = batch * batch_size
        stop = min(start + batch_size, n_samples)
        rows = order[start:stop]
        loss = loss_grad_sparse(
            csr,
            rows,
            gather_rows(y, rows, buffers[1]),
            batch_weights(sample_weight, has_weight, rows, buffers[2]),
            has_weight,
            params,
            grads,
            net,
            work,
        )
        accumulated += loss * (stop - start)
        step = optimizer_step(params, grads, settings, state, step)
    return accumulated, step

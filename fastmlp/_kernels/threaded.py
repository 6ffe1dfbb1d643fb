"""Mini-batches and L-BFGS gradients split across threads.

The serial kernels run a batch on one core; products at the sizes of most
networks (tens to hundreds of units, batches of 32-256) are too small for BLAS's
own threads, which then cost more in synchronisation than they save. Here a
batch runs in two parallel regions, each thread with single-threaded BLAS:

1. rows: thread ``t`` gathers rows ``chunk(t)`` of the batch and runs, for
   those rows only, the forward pass, the row losses, the output delta and the
   back-propagation of deltas down to the first layer (all of it row-local);
2. columns: thread ``t`` computes, for every layer, the gradient of its block
   of output units (a block of columns of ``A.T @ delta`` over all the batch's
   rows), finishes it and applies the optimizer step to those parameters.

Every value is computed by the same operations in the same order as in the
serial kernels (row blocks and column blocks of a product are computed as in
the whole product, losses and weights are summed in row order by one thread),
so the two paths give the same numbers: the tests compare them.

numba cannot pass tuples into a parallel loop's body, so the parallel kernels
take the ``net``/``work`` arrays one by one and the per-thread helpers put the
tuples back together. Each parallel kernel is called from Python: every layer
of compiled callers would re-optimize the whole call tree at compile time
(measured: wrapping the phases in compiled loops added ~5 s to a cold fit).
Dense data only, and no dropout (whose random draws depend on the thread).
"""

import numpy as np
from numba import prange

from .._numba import kernel, threaded_kernel
from .blas import transpose_dot_rows
from .losses import finish_loss, output_delta, weighted_row_losses
from .optimizers import ADAM, step_range, step_rate
from .passes import (
    coef_view,
    finish_coef_grad,
    finish_forward_rows,
    intercept_grad,
    intercept_view,
    layer_view,
    propagate_delta,
    squared_coef_sum,
    transpose_dot_column,
)

GRADIENT_ONLY = -1  # solver code of L-BFGS's gradient: no optimizer step


# Parts of a product start at multiples of this many rows or units: BLAS then
# tiles each part as it tiles the whole product (its kernels work on blocks of
# 4-16 rows and columns), so every value is summed in the same order.
ALIGN = 16


@kernel
def chunk(total, part, n_parts):
    """Bounds of part ``part`` of ``range(total)`` cut into ``n_parts``.

    Bounds are multiples of ``ALIGN`` (but the last), as even as that allows.
    """
    return _bound(total, part, n_parts), _bound(total, part + 1, n_parts)


@kernel
def _bound(total, part, n_parts):
    if part >= n_parts:
        return total
    aligned = (total * part // n_parts + ALIGN // 2) // ALIGN * ALIGN
    return min(aligned, total)


@kernel
def _tuples(
    units, coef_starts, intercept_starts, hidden, output, loss, alpha,
    activations, deltas, layer_starts, pre_activations, row_losses, scalars, constants,
):  # fmt: skip
    """``(net, work, extra)`` rebuilt from their arrays (no dropout, no masks)."""
    net = (units, coef_starts, intercept_starts, hidden, output, loss, alpha, 0.0)
    work = (activations, deltas, layer_starts, pre_activations, pre_activations[:0])
    return net, work, (row_losses, scalars, constants)


@kernel
def gather_part(part, n_parts, x, y, sample_weight, rows, x_rows, y_rows, w_rows):
    """Rows ``chunk(part)`` of ``x[rows]``, ``y[rows]``, ``sample_weight[rows]``."""
    start, stop = chunk(rows.shape[0], part, n_parts)
    for r in range(start, stop):
        row = rows[r]
        for j in range(x.shape[1]):
            x_rows[r, j] = x[row, j]
        for j in range(y.shape[1]):
            y_rows[r, j] = y[row, j]
        w_rows[r] = sample_weight[row]


@kernel
def rows_part(part, n_parts, x, y, sample_weight, has_weight, params, net, work, extra):
    """Phase 1 for rows ``chunk(part)`` of batch ``x``: forward, losses, deltas.

    ``extra = (row_losses, scalars, constants)``: writes ``row_losses[r]`` (the
    weighted loss of row ``r``); part 0 also writes the squared norm of the
    coefficients into ``scalars[0]``.
    """
    activations, deltas, layer_starts = work[0], work[1], work[2]
    n_rows = x.shape[0]
    start, stop = chunk(n_rows, part, n_parts)
    last = net[0].shape[0] - 2
    first = layer_view(activations, net, layer_starts, np.int64(0), n_rows)
    np.dot(x[start:stop], coef_view(params, net, 0), first[start:stop])
    finish_forward_rows(params, net, work, n_rows, start, stop)
    output = layer_view(activations, net, layer_starts, last, n_rows)[start:stop]
    y_part = y[start:stop]
    w_part = sample_weight[start:stop]
    weighted_row_losses(y_part, output, w_part, has_weight, net[5], extra[0][start:])
    delta = layer_view(deltas, net, layer_starts, last, n_rows)
    output_delta(y_part, output, w_part, has_weight, delta[start:stop])
    for layer in range(last, 0, -1):
        propagate_delta(params, net, work, layer, n_rows, start, stop)
    if part == 0:
        extra[1][0] = squared_coef_sum(params, net)


@kernel
def columns_part(part, n_parts, x, params, grads, net, work, extra, weight_sum, step):
    """Phase 2: part ``part``'s share of every layer's gradient, and its step.

    A part takes a block of each layer's input units (rows of the coefficient
    gradient: contiguous, so no two threads write one cache line but at the
    block's ends) and a block of its output units' intercepts. ``step =
    (settings, state, rate)``; with solver ``GRADIENT_ONLY`` the gradient is
    left in ``grads``, otherwise the optimizer then updates the parameters
    whose gradient this part computed.
    """
    activations, deltas, layer_starts = work[0], work[1], work[2]
    units = net[0]
    n_rows = x.shape[0]
    for layer in range(units.shape[0] - 1):
        fan_in = units[layer]
        fan_out = units[layer + 1]
        a = x
        if layer > 0:
            a = layer_view(activations, net, layer_starts, layer - 1, n_rows)
        delta = layer_view(deltas, net, layer_starts, layer, n_rows)
        coef_grad = coef_view(grads, net, layer)
        start, stop = chunk(fan_in, part, n_parts)
        if fan_out == 1:  # the serial kernel's loop, for the same sums
            transpose_dot_column(a, delta, coef_grad, start, stop)
        else:
            transpose_dot_rows(a, delta, coef_grad, start, stop, extra[2])
        coef = coef_view(params, net, layer)
        finish_coef_grad(coef_grad[start:stop], coef[start:stop], net[6], weight_sum)
        first = net[1][layer]
        _step(params, grads, step, first + start * fan_out, first + stop * fan_out)
        start, stop = chunk(fan_out, part, n_parts)
        intercept = intercept_view(grads, net, layer)
        intercept_grad(delta[:, start:stop], intercept[start:stop], weight_sum)
        first = net[2][layer]
        _step(params, grads, step, first + start, first + stop)


@kernel
def _step(params, grads, step, start, stop):
    settings, state, rate = step
    if settings[0] != GRADIENT_ONLY:
        step_range(params, grads, settings, state, rate, start, stop)


@kernel
def batch_loss(y, sample_weight, has_weight, params, net, extra):
    """``(loss, weight_sum)`` of the batch phase 1 ran on, as the serial kernel's.

    Sums the row losses and the weights in row order in one thread, so the
    values equal :func:`fastmlp._kernels.passes.loss_and_deltas`'s.
    """
    n_rows = y.shape[0]
    total = np.float64(0.0)
    total_weight = np.float64(0.0)
    for i in range(n_rows):
        total += extra[0][i]
        total_weight += sample_weight[i] if has_weight else 1.0
    loss = finish_loss(total, total_weight, net[5], y.shape[1])
    if not has_weight:
        total_weight = float(n_rows)
    weight_sum = params.dtype.type(total_weight)
    loss += (0.5 * net[6]) * extra[1][0] / weight_sum
    return loss, weight_sum


@threaded_kernel
def _batches_parallel(
    x, y, sample_weight, order, first_batch, stop_batch, batch_size, has_weight,
    x_buffer, y_buffer, w_buffer, params, grads,
    units, coef_starts, intercept_starts, hidden, output, loss_code, alpha,
    activations, deltas, layer_starts, pre_activations, row_losses, scalars, constants,
    solver, learning_rate, momentum, nesterov, beta_1, beta_2, epsilon, first, second,
    step, n_parts,
):  # fmt: skip
    n_samples = x.shape[0]
    n_features = x.shape[1]
    n_outputs = y.shape[1]
    accumulated = 0.0
    for batch in range(first_batch, stop_batch):
        start = batch * batch_size
        stop = min(start + batch_size, n_samples)
        n_rows = stop - start
        rows = order[start:stop]
        x_rows = x_buffer[: n_rows * n_features].reshape((n_rows, n_features))
        y_rows = y_buffer[: n_rows * n_outputs].reshape((n_rows, n_outputs))
        w_rows = w_buffer[:n_rows]
        for index in prange(n_parts):
            part = np.int64(index)  # prange's index is unsigned in the body
            net, work, extra = _tuples(
                units, coef_starts, intercept_starts, hidden, output, loss_code, alpha,
                activations, deltas, layer_starts, pre_activations, row_losses,
                scalars, constants,
            )  # fmt: skip
            gather_part(
                part, n_parts, x, y, sample_weight, rows, x_rows, y_rows, w_rows
            )
            rows_part(
                part,
                n_parts,
                x_rows,
                y_rows,
                w_rows,
                has_weight,
                params,
                net,
                work,
                extra,
            )
        # the tuples of the last parallel loop's body are not visible here
        net, _, extra = _tuples(
            units, coef_starts, intercept_starts, hidden, output, loss_code, alpha,
            activations, deltas, layer_starts, pre_activations, row_losses, scalars,
            constants,
        )  # fmt: skip
        loss, weight_sum = batch_loss(y_rows, w_rows, has_weight, params, net, extra)
        if solver == ADAM:
            step += 1
        rate = step_rate(
            (solver, learning_rate, momentum, nesterov, beta_1, beta_2, epsilon), step
        )
        for index in prange(n_parts):
            part = np.int64(index)  # prange's index is unsigned in the body
            net, work, extra = _tuples(
                units, coef_starts, intercept_starts, hidden, output, loss_code, alpha,
                activations, deltas, layer_starts, pre_activations, row_losses,
                scalars, constants,
            )  # fmt: skip
            settings = (
                solver,
                learning_rate,
                momentum,
                nesterov,
                beta_1,
                beta_2,
                epsilon,
            )
            optimizer = (settings, (first, second), rate)
            columns_part(
                part,
                n_parts,
                x_rows,
                params,
                grads,
                net,
                work,
                extra,
                weight_sum,
                optimizer,
            )
        accumulated += loss * n_rows
    return accumulated, step


@threaded_kernel
def _loss_grad_parallel(
    x, y, sample_weight, has_weight, params, grads,
    units, coef_starts, intercept_starts, hidden, output, loss_code, alpha,
    activations, deltas, layer_starts, pre_activations, row_losses, scalars, constants,
    n_parts,
):  # fmt: skip
    for index in prange(n_parts):
        part = np.int64(index)  # prange's index is unsigned in the body
        net, work, extra = _tuples(
            units, coef_starts, intercept_starts, hidden, output, loss_code, alpha,
            activations, deltas, layer_starts, pre_activations, row_losses, scalars,
            constants,
        )  # fmt: skip
        rows_part(
            part, n_parts, x, y, sample_weight, has_weight, params, net, work, extra
        )
    net, _, extra = _tuples(
        units, coef_starts, intercept_starts, hidden, output, loss_code, alpha,
        activations, deltas, layer_starts, pre_activations, row_losses, scalars,
        constants,
    )  # fmt: skip
    loss, weight_sum = batch_loss(y, sample_weight, has_weight, params, net, extra)
    for index in prange(n_parts):
        part = np.int64(index)  # prange's index is unsigned in the body
        net, work, extra = _tuples(
            units, coef_starts, intercept_starts, hidden, output, loss_code, alpha,
            activations, deltas, layer_starts, pre_activations, row_losses, scalars,
            constants,
        )  # fmt: skip
        # typed as the epoch's settings (no literals): one columns_part
        no = np.bool_(False)
        settings = (np.int64(GRADIENT_ONLY), 0.0, 0.0, no, 0.0, 0.0, 0.0)
        optimizer = (settings, (grads, grads), 0.0)
        columns_part(
            part, n_parts, x, params, grads, net, work, extra, weight_sum, optimizer
        )
    return loss
